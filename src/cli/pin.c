/*
 * PINs for the library: FEDSIGN_PIN, read and removed from the
 * environment at start-up (before any module is loaded), or a prompt
 * without echo on the terminal.  Never from the command line.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include "fedsign/util.h"

#define PIN_MAX 256

void *fs_cli_call_begin(void *ctx, const char *call);
void fs_cli_call_end(void *ctx, void *cookie);

/* FEDSIGN_PIN, taken at start-up; wiped when given out. */
static char env_pin[PIN_MAX + 1];
static int have_env_pin;

/* The terminal while echo is off, for the signal handler. */
static volatile sig_atomic_t tty_quiet;
static int tty_fd = -1;
static struct termios tty_saved;

void
fs_cli_pin_capture(void)
{
	char *env = getenv("FEDSIGN_PIN");
	size_t n;

	if (env == NULL)
		return;
	n = strlen(env);
	(void)mlock(env_pin, sizeof(env_pin));
	if (n > 0 && n <= PIN_MAX) {
		memcpy(env_pin, env, n + 1);
		have_env_pin = 1;
	}
	/*
	 * Not in /proc/PID/environ (the process's original environment
	 * block, which unsetenv does not touch: wipe the whole NAME=value
	 * string there), and nothing started later inherits it.
	 */
	fs_wipe(env, n);
	if (memcmp(env - sizeof("FEDSIGN_PIN"), "FEDSIGN_PIN=",
	    sizeof("FEDSIGN_PIN")) == 0)
		fs_wipe(env - sizeof("FEDSIGN_PIN"), sizeof("FEDSIGN_PIN"));
	unsetenv("FEDSIGN_PIN");
}

void
fs_cli_tty_restore(void)
{
	if (tty_quiet) {
		(void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
		(void)write(tty_fd, "\n", 1);
		tty_quiet = 0;
	}
}

static int
read_tty(int fd, const char *prompt, char *buf, size_t size)
{
	struct termios quiet;
	size_t len = 0;
	char c;

	if (write(fd, prompt, strlen(prompt)) < 0)
		return -1;
	if (tcgetattr(fd, &tty_saved) == 0) {
		quiet = tty_saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		tty_fd = fd;
		tty_quiet = 1;
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
	if (tty_quiet) {
		(void)tcsetattr(fd, TCSAFLUSH, &tty_saved);
		tty_quiet = 0;
	}
	(void)write(fd, "\n", 1);
	return 0;
}

static int
prompt(const char *what, int confirm, char **pin, fs_err *err)
{
	char a[PIN_MAX + 1], b[PIN_MAX + 1], text[512];
	int fd, rc = FS_OK;

	a[0] = b[0] = '\0';
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return fs_err_set(err, FS_ETOKEN, "no terminal to ask for the "
		    "%s: give pin-source=file:PATH in the key URI or set "
		    "FEDSIGN_PIN", what);
	(void)mlock(a, sizeof(a));
	(void)mlock(b, sizeof(b));
	snprintf(text, sizeof(text), "Enter %s: ", what);
	if (read_tty(fd, text, a, sizeof(a)) == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot prompt for the %s", what);
		goto out;
	}
	if (confirm) {
		snprintf(text, sizeof(text), "Repeat %s: ", what);
		if (read_tty(fd, text, b, sizeof(b)) == -1 ||
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
		rc = fs_err_nomem(err, "reading a PIN");
out:
	fs_wipe(a, sizeof(a));
	fs_wipe(b, sizeof(b));
	close(fd);
	return rc;
}

static int
cli_pin(void *ctx, const char *what, int confirm, char **pin, fs_err *err)
{
	(void)ctx;
	*pin = NULL;
	if (confirm)
		return prompt(what, 1, pin, err);
	if (have_env_pin) {
		*pin = strdup(env_pin);
		/* Given out once: the login is the only use. */
		fs_wipe(env_pin, sizeof(env_pin));
		have_env_pin = 0;
		if (*pin == NULL)
			return fs_err_nomem(err, "reading a PIN");
		return FS_OK;
	}
	if (isatty(STDIN_FILENO))
		return prompt(what, 0, pin, err);
	return fs_err_set(err, FS_ETOKEN, "no %s given: add "
	    "pin-source=file:PATH to the key URI (a file only you can read), "
	    "set FEDSIGN_PIN, or run on a terminal to be asked", what);
}

const struct fs_p11_hooks fs_cli_hooks = {
	NULL, cli_pin, fs_cli_call_begin, fs_cli_call_end
};
