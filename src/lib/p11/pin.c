/*
 * PINs: from a file only its owner can read, or from the program through
 * its pin hook (the environment, a prompt: the program's business, not
 * the library's).  Never from the command line.  Every PIN returned is
 * the caller's, to be released with fs_secret_free(), which wipes it.
 */
#include "p11/p11_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedsign/util.h"

#define PIN_MAX 256

static int
pin_file(const char *path, const char *what, char **pin, fs_err *err)
{
	char buf[PIN_MAX + 2];
	struct stat st;
	int fd, rc = FS_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK);
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
	if (fs_secret_read_line(fd, buf, sizeof(buf)) != 0) {
		rc = fs_err_set(err, FS_EIO, "cannot read PIN file '%s': %s",
		    path, strerror(errno));
		goto out;
	}
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
		rc = fs_err_nomem(err, "reading a PIN");
out:
	fs_wipe(buf, sizeof(buf));
	close(fd);
	return rc;
}

static int
from_hook(const struct fs_p11_hooks *hooks, const char *what, int confirm,
    char **pin, fs_err *err)
{
	if (hooks == NULL || hooks->pin == NULL)
		return fs_err_set(err, FS_ETOKEN, "no way to ask for the %s: "
		    "give pin-source=file:PATH (a file only you can read)",
		    what);
	return hooks->pin(hooks->ctx, what, confirm, pin, err);
}

int
fs_pin_from_source(const char *source, const char *what, int confirm,
    const struct fs_p11_hooks *hooks, char **pin, fs_err *err)
{
	*pin = NULL;
	if (strcmp(source, "prompt") == 0)
		return from_hook(hooks, what, confirm, pin, err);
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
fs_pin_for_login(const char *pin_source, const char *label,
    const struct fs_p11_hooks *hooks, char **pin, fs_err *err)
{
	char what[96];

	*pin = NULL;
	snprintf(what, sizeof(what), "user PIN for token '%s'", label);
	if (pin_source != NULL)
		return fs_pin_from_source(pin_source, what, 0, hooks, pin, err);
	return from_hook(hooks, what, 0, pin, err);
}
