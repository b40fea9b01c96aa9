/*
 * The audit log: one JSON object a line, one line a signature request,
 * each line in one write(2) to a file opened O_APPEND (so lines from
 * several threads, and from a logrotate copy, never mix) and created
 * with mode 0640.  The log is only ever appended to; it may be made
 * append-only (chattr +a).  Reopened on SIGHUP for log rotation.
 */
#include "daemon/fedsignd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int audit_fd = -1;

int
fsd_audit_open(const char *path, fs_err *err)
{
	struct stat st;
	int fd, old;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY, 0640);
	if (fd == -1)
		return fs_err_set(err, FS_EIO, "cannot open audit log '%s': %s",
		    path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fs_err_set(err, FS_EIO, "audit log '%s' is not a regular "
		    "file", path);
	}
	pthread_mutex_lock(&lock);
	old = audit_fd;
	audit_fd = fd;
	pthread_mutex_unlock(&lock);
	if (old != -1)
		close(old);
	return FS_OK;
}

int
fsd_audit_write(json_t *line)
{
	char *s;
	size_t n;
	ssize_t w;
	int rc = 0;

	if ((s = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(6))) == NULL)
		return -1;
	n = strlen(s);
	s[n] = '\n';	/* json_dumps leaves room for its own NUL */
	pthread_mutex_lock(&lock);
	if (audit_fd == -1) {
		rc = -1;
		errno = EBADF;
	} else {
		do
			w = write(audit_fd, s, n + 1);
		while (w == -1 && errno == EINTR);
		if (w != (ssize_t)(n + 1)) {
			if (w >= 0)
				errno = ENOSPC;
			rc = -1;
		}
	}
	pthread_mutex_unlock(&lock);
	free(s);
	return rc;
}

void
fsd_audit_close(void)
{
	pthread_mutex_lock(&lock);
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = -1;
	pthread_mutex_unlock(&lock);
}
