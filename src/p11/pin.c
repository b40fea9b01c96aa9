#include "p11/pin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "util/secret.h"

#define PIN_MAX 256

static int
pin_file(const char *path, const char *what, char **pin, fs_err *err)
{
	char buf[PIN_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc = FS_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd == -1)
		return fs_err_set(err, errno == ELOOP ? FS_ETOKEN : FS_EIO,
		    "cannot open PIN file '%s' for the %s: %s%s", path, what,
		    strerror(errno), errno == ELOOP ?
		    " (symbolic links are not followed; name the file itself)" :
		    "");
	if (fstat(fd, &st) == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot stat PIN file '%s': %s",
		    path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fs_err_set(err, FS_ETOKEN,
		    "PIN file '%s' is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		rc = fs_err_set(err, FS_ETOKEN,
		    "PIN file '%s' can be read by others (mode %04o): run "
		    "'chmod 600 %s' and consider changing the PIN",
		    path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		rc = fs_err_set(err, FS_ETOKEN,
		    "PIN file '%s' belongs to uid %u, not to this user (%u)",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	while (len < sizeof(buf) - 1 &&
	    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			rc = fs_err_set(err, FS_EIO, "cannot read PIN file "
			    "'%s': %s", path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) > PIN_MAX) {
		rc = fs_err_set(err, FS_ETOKEN, "PIN file '%s': PIN longer "
		    "than %d characters", path, PIN_MAX);
		goto out;
	}
	if (buf[0] == '\0') {
		rc = fs_err_set(err, FS_ETOKEN, "PIN file '%s' is empty", path);
		goto out;
	}
	if ((*pin = strdup(buf)) == NULL)
		rc = fs_err_set(err, FS_EINTERNAL, "out of memory");
out:
	fs_wipe(buf, sizeof(buf));
	close(fd);
	return rc;
}

static int
read_tty(int fd, const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	size_t len = 0;
	int restore;
	char c;

	if (write(fd, prompt, strlen(prompt)) < 0)
		return -1;
	restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		(void)tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	for (;;) {
		ssize_t n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n' || c == '\r')
			break;
		if (len + 1 < size)
			buf[len++] = c;
	}
	buf[len] = '\0';
	c = 0;
	if (restore)
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	(void)write(fd, "\n", 1);
	return 0;
}

static int
pin_prompt(const char *what, int confirm, char **pin, fs_err *err)
{
	char a[PIN_MAX + 1], b[PIN_MAX + 1], prompt[512];
	int fd, rc = FS_OK;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return fs_err_set(err, FS_ETOKEN, "no terminal to ask for the "
		    "%s: give pin-source=file:PATH in the key URI or set "
		    "FEDSIGN_PIN", what);
	snprintf(prompt, sizeof(prompt), "Enter %s: ", what);
	if (read_tty(fd, prompt, a, sizeof(a)) == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot prompt for the %s", what);
		goto out;
	}
	if (confirm) {
		snprintf(prompt, sizeof(prompt), "Repeat %s: ", what);
		if (read_tty(fd, prompt, b, sizeof(b)) == -1 ||
		    strcmp(a, b) != 0) {
			rc = fs_err_set(err, FS_ETOKEN, "the two %ss differ; "
			    "nothing was changed", what);
			goto out;
		}
	}
	if (a[0] == '\0') {
		rc = fs_err_set(err, FS_ETOKEN, "empty %s", what);
		goto out;
	}
	if ((*pin = strdup(a)) == NULL)
		rc = fs_err_set(err, FS_EINTERNAL, "out of memory");
out:
	fs_wipe(a, sizeof(a));
	fs_wipe(b, sizeof(b));
	close(fd);
	return rc;
}

int
fs_pin_from_source(const char *source, const char *what, int confirm,
    char **pin, fs_err *err)
{
	*pin = NULL;
	if (strcmp(source, "prompt") == 0)
		return pin_prompt(what, confirm, pin, err);
	if (strncmp(source, "file:", 5) == 0)
		source += 5;
	if (strncmp(source, "//", 2) == 0)	/* file:///path */
		source += 2;
	if (source[0] != '/' && strchr(source, ':') != NULL)
		return fs_err_set(err, FS_EUSAGE, "unsupported PIN source '%s':"
		    " use file:PATH or prompt", source);
	return pin_file(source, what, pin, err);
}

int
fs_pin_get(const char *pin_source, const char *what, char **pin, fs_err *err)
{
	char *env;

	*pin = NULL;
	if (pin_source != NULL)
		return fs_pin_from_source(pin_source, what, 0, pin, err);
	if ((env = getenv("FEDSIGN_PIN")) != NULL && env[0] != '\0') {
		if ((*pin = strdup(env)) == NULL)
			return fs_err_set(err, FS_EINTERNAL, "out of memory");
		/*
		 * Read once: wipe the environment's copy too (it would stay
		 * in /proc/PID/environ), and nothing started later inherits it.
		 */
		fs_wipe(env, strlen(env));
		unsetenv("FEDSIGN_PIN");
		return FS_OK;
	}
	if (isatty(STDIN_FILENO))
		return pin_prompt(what, 0, pin, err);
	return fs_err_set(err, FS_ETOKEN, "no %s given: add "
	    "pin-source=file:PATH to the key URI (a file only you can read), "
	    "set FEDSIGN_PIN, or run on a terminal to be asked", what);
}
