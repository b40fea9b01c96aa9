#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fs_atomic {
	char *path;
	char *tmp;
	int fd;
};

int
fs_atomic_open(const char *path, int mode, fs_atomic **out, fs_err *err)
{
	fs_atomic *a;
	mode_t um;
	size_t n;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	a->fd = -1;
	n = strlen(path) + sizeof(".fedsign-XXXXXX");
	if ((a->path = strdup(path)) == NULL || (a->tmp = malloc(n)) == NULL) {
		fs_atomic_abort(a);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	/* Beside the target, so that rename() stays on one file system. */
	snprintf(a->tmp, n, "%s.fedsign-XXXXXX", path);
	if ((a->fd = mkstemp(a->tmp)) == -1) {
		int e = errno;
		free(a->tmp);
		a->tmp = NULL;
		fs_atomic_abort(a);
		return fs_err_set(err, FS_EIO,
		    "cannot create a temporary file beside '%s': %s", path,
		    strerror(e));
	}
	(void)fcntl(a->fd, F_SETFD, FD_CLOEXEC);
	if (mode == 0) {
		um = umask(022);
		umask(um);
		mode = 0644 & ~um;
	}
	if (fchmod(a->fd, (mode_t)mode) == -1) {
		int e = errno;
		fs_atomic_abort(a);
		return fs_err_set(err, FS_EIO, "cannot set the mode of '%s': %s",
		    path, strerror(e));
	}
	*out = a;
	return FS_OK;
}

int
fs_atomic_fd(const fs_atomic *a)
{
	return a->fd;
}

const char *
fs_atomic_path(const fs_atomic *a)
{
	return a->path;
}

/* Make a rename in path's folder durable. */
static int
fsync_dir(const char *path)
{
	char *copy;
	int fd, r = -1;

	if ((copy = strdup(path)) == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		r = fsync(fd);
		close(fd);
	}
	free(copy);
	return r;
}

int
fs_atomic_commit(fs_atomic *a, fs_err *err)
{
	int rc = FS_OK;

	if (fsync(a->fd) == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot write '%s': %s", a->path,
		    strerror(errno));
		goto out;
	}
	if (close(a->fd) == -1) {
		a->fd = -1;
		rc = fs_err_set(err, FS_EIO, "cannot write '%s': %s", a->path,
		    strerror(errno));
		goto out;
	}
	a->fd = -1;
	if (rename(a->tmp, a->path) == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot replace '%s': %s", a->path,
		    strerror(errno));
		goto out;
	}
	free(a->tmp);
	a->tmp = NULL;
	if (fsync_dir(a->path) == -1)
		rc = fs_err_set(err, FS_EIO, "'%s' was replaced, but its folder "
		    "could not be synced to disk: %s", a->path, strerror(errno));
out:
	fs_atomic_abort(a);
	return rc;
}

void
fs_atomic_abort(fs_atomic *a)
{
	if (a == NULL)
		return;
	if (a->fd != -1)
		close(a->fd);
	if (a->tmp != NULL) {
		(void)unlink(a->tmp);
		free(a->tmp);
	}
	free(a->path);
	free(a);
}

int
fs_write_all(int fd, const void *buf, size_t len, const char *what,
    fs_err *err)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return fs_err_set(err, FS_EIO, "cannot write '%s': %s",
			    what, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return FS_OK;
}

int
fs_write_file_atomic(const char *path, const void *buf, size_t len, int mode,
    fs_err *err)
{
	fs_atomic *a;
	int rc;

	if ((rc = fs_atomic_open(path, mode, &a, err)) != FS_OK)
		return rc;
	if ((rc = fs_write_all(fs_atomic_fd(a), buf, len, path, err)) != FS_OK) {
		fs_atomic_abort(a);
		return rc;
	}
	return fs_atomic_commit(a, err);
}
