#include "fedsign/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#ifndef O_TMPFILE
#define O_TMPFILE 0
#endif

/* Temporary files in a target's folder: ".fedsign-" and 8 characters. */
#define TMP_PREFIX	".fedsign-"
#define TMP_NAME_LEN	(sizeof(TMP_PREFIX) - 1 + 8)

struct fs_output {
	char *path;		/* the target, as given */
	char *scratch;		/* a copy of path, cut into dir and base */
	char *base;		/* its last component (in scratch) */
	char *dir;		/* its folder */
	int dirfd;
	int fd;
	int is_stdout;
	int unnamed;		/* O_TMPFILE: no name until commit */
	char tmp[TMP_NAME_LEN + 1];	/* the temporary name, once it has one */
	int have_old;
	uid_t old_uid;
	gid_t old_gid;
	mode_t mode;		/* the final mode */
};

static const char *
type_name(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

int
fs_input_open(const char *path, int *fd, fs_err *err)
{
	struct stat st;
	int f;

	*fd = -1;
	if (strcmp(path, "-") == 0) {
		*fd = STDIN_FILENO;
		return FS_OK;
	}
	/* Judge the type before opening: opening a device can act on it. */
	if (stat(path, &st) == -1)
		return fs_err_set(err, FS_EIO, "cannot read '%s': %s", path,
		    strerror(errno));
	if (S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))
		return fs_err_set(err, FS_EIO, "cannot read '%s': it is %s, "
		    "not a file", path, type_name(st.st_mode));
	if ((f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return fs_err_set(err, FS_EIO, "cannot read '%s': %s", path,
		    strerror(errno));
	if (fstat(f, &st) == -1 || S_ISDIR(st.st_mode) ||
	    S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode)) {
		close(f);
		return fs_err_set(err, FS_EIO, "cannot read '%s': it changed "
		    "while it was opened", path);
	}
	*fd = f;
	return FS_OK;
}

void
fs_input_close(int fd)
{
	if (fd != -1 && fd != STDIN_FILENO)
		close(fd);
}

int
fs_file_read(const char *path, size_t max, char **buf, size_t *len,
    fs_err *err)
{
	size_t cap = 4096, n = 0;
	char *b = NULL, *nb;
	ssize_t r;
	int fd, rc;

	*buf = NULL;
	*len = 0;
	if ((rc = fs_input_open(path, &fd, err)) != FS_OK)
		return rc;
	for (;;) {
		if (n + 1 >= cap || b == NULL) {
			if (b != NULL)
				cap *= 2;
			if ((nb = realloc(b, cap)) == NULL) {
				rc = fs_err_nomem(err, "reading a file");
				goto fail;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			rc = fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = fs_err_set(err, FS_EIO, "'%s' is larger than %zu "
			    "bytes", path, max);
			goto fail;
		}
	}
	fs_input_close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return FS_OK;
fail:
	fs_input_close(fd);
	free(b);
	return rc;
}

int
fs_file_sha256(const char *path, unsigned char out[32], fs_err *err)
{
	unsigned char buf[1 << 16];
	unsigned int len;
	EVP_MD_CTX *md;
	ssize_t n;
	int fd, rc = FS_OK;

	if ((rc = fs_input_open(path, &fd, err)) != FS_OK)
		return rc;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = fs_err_nomem(err, "hashing a file");
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    path, strerror(errno));
			goto out;
		}
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			rc = fs_err_set(err, FS_EINTERNAL, "digest failed");
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(md, out, &len) != 1)
		rc = fs_err_set(err, FS_EINTERNAL, "digest failed");
out:
	EVP_MD_CTX_free(md);
	fs_input_close(fd);
	return rc;
}

/* The process umask, read without changing it (umask(2) would). */
static mode_t
current_umask(void)
{
	char line[128];
	unsigned m;
	FILE *f;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return 022;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Umask: %o", &m) == 1) {
			fclose(f);
			return (mode_t)(m & 0777);
		}
	}
	fclose(f);
	return 022;
}

static int
random_name(char name[TMP_NAME_LEN + 1])
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[8];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	memcpy(name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1);
	for (size_t i = 0; i < sizeof(r); i++)
		name[sizeof(TMP_PREFIX) - 1 + i] = alnum[r[i] % 36];
	name[TMP_NAME_LEN] = '\0';
	return 0;
}

/*
 * Remove temporary files that earlier runs of this user left in the
 * folder (a crash, a kill -9 on a file system without O_TMPFILE).  A
 * temporary file in use is locked by its writer, so a file whose lock can
 * be taken is stale.
 */
static void
remove_stale(int dirfd)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd, fd;

	if ((dfd = dup(dirfd)) == -1)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) != 0 ||
		    strlen(de->d_name) != TMP_NAME_LEN)
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK);
		if (fd == -1)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_uid == geteuid() && flock(fd, LOCK_EX | LOCK_NB) == 0)
			(void)unlinkat(dirfd, de->d_name, 0);
		close(fd);
	}
	closedir(d);
}

static int
split_path(fs_output *o, const char *path, fs_err *err)
{
	char *slash;

	if ((o->path = strdup(path)) == NULL ||
	    (o->scratch = strdup(path)) == NULL)
		return fs_err_nomem(err, "opening an output");
	slash = strrchr(o->scratch, '/');
	if (slash == NULL) {
		o->dir = strdup(".");
		o->base = o->scratch;
	} else if (slash == o->scratch) {
		o->dir = strdup("/");
		o->base = slash + 1;
	} else {
		*slash = '\0';
		o->dir = strdup(o->scratch);
		o->base = slash + 1;
	}
	if (o->dir == NULL)
		return fs_err_nomem(err, "opening an output");
	if (o->base[0] == '\0' || strcmp(o->base, ".") == 0 ||
	    strcmp(o->base, "..") == 0)
		return fs_err_set(err, FS_EIO, "cannot write '%s': it names a "
		    "folder, not a file", o->path);
	return FS_OK;
}

static int
create_tmp(fs_output *o, fs_err *err)
{
	int tries;

	if (O_TMPFILE != 0) {
		o->fd = openat(o->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
		    0600);
		if (o->fd != -1) {
			o->unnamed = 1;
			return FS_OK;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL &&
		    errno != ENOENT)
			return fs_err_set(err, FS_EIO, "cannot create a "
			    "temporary file in '%s' for '%s': %s", o->dir,
			    o->path, strerror(errno));
	}
	for (tries = 0; tries < 100; tries++) {
		if (random_name(o->tmp) == -1)
			return fs_err_set(err, FS_EINTERNAL, "no random bytes");
		o->fd = openat(o->dirfd, o->tmp, O_CREAT | O_EXCL | O_WRONLY |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (o->fd != -1)
			return FS_OK;
		if (errno != EEXIST)
			break;
	}
	o->tmp[0] = '\0';
	return fs_err_set(err, FS_EIO, "cannot create a temporary file in "
	    "'%s' for '%s': %s", o->dir, o->path, strerror(errno));
}

int
fs_output_open(const char *path, int mode, fs_output **out, fs_err *err)
{
	struct stat st;
	fs_output *o;
	int rc;

	*out = NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return fs_err_nomem(err, "opening an output");
	o->fd = o->dirfd = -1;
	if (strcmp(path, "-") == 0) {
		if ((o->path = strdup("<stdout>")) == NULL) {
			free(o);
			return fs_err_nomem(err, "opening an output");
		}
		o->is_stdout = 1;
		o->fd = STDOUT_FILENO;
		*out = o;
		return FS_OK;
	}
	o->tmp[0] = '\0';
	if ((rc = split_path(o, path, err)) != FS_OK)
		goto fail;
	if (lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			rc = fs_err_set(err, FS_EIO, "will not replace '%s': it "
			    "is %s; fedsign only replaces regular files (name "
			    "the file itself, or write to standard output with "
			    "-o -)", path, type_name(st.st_mode));
			goto fail;
		}
		o->have_old = 1;
		o->old_uid = st.st_uid;
		o->old_gid = st.st_gid;
		o->mode = st.st_mode & 07777;
	} else if (errno != ENOENT) {
		rc = fs_err_set(err, FS_EIO, "cannot write '%s': %s", path,
		    strerror(errno));
		goto fail;
	} else {
		o->mode = mode != 0 ? (mode_t)mode : 0666 & ~current_umask();
	}
	o->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dirfd == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot write '%s': folder '%s': "
		    "%s", path, o->dir, strerror(errno));
		goto fail;
	}
	remove_stale(o->dirfd);
	if ((rc = create_tmp(o, err)) != FS_OK)
		goto fail;
	/* The lock tells later runs that this temporary file is in use. */
	(void)flock(o->fd, LOCK_EX | LOCK_NB);
	*out = o;
	return FS_OK;
fail:
	fs_output_abort(o);
	return rc;
}

int
fs_output_fd(const fs_output *o)
{
	return o->fd;
}

const char *
fs_output_path(const fs_output *o)
{
	return o->path;
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
fs_output_write(fs_output *o, const void *buf, size_t len, fs_err *err)
{
	return fs_write_all(o->fd, buf, len, o->path, err);
}

/* Give the temporary file the final owner, group and mode. */
static int
set_final_attrs(fs_output *o, fs_err *err)
{
	struct stat st;

	if (fstat(o->fd, &st) == -1)
		return fs_err_set(err, FS_EIO, "cannot write '%s': %s",
		    o->path, strerror(errno));
	if (o->have_old && (st.st_gid != o->old_gid ||
	    (geteuid() == 0 && st.st_uid != o->old_uid))) {
		uid_t uid = geteuid() == 0 ? o->old_uid : (uid_t)-1;

		if (fchown(o->fd, uid, o->old_gid) == -1)
			return fs_err_set(err, FS_EIO, "cannot keep the group "
			    "(gid %u) of '%s': %s; run fedsign as a member of "
			    "that group, or change the file's group first",
			    (unsigned)o->old_gid, o->path, strerror(errno));
	}
	if (fchmod(o->fd, o->mode) == -1)
		return fs_err_set(err, FS_EIO, "cannot set the mode of '%s': "
		    "%s", o->path, strerror(errno));
	return FS_OK;
}

/* Give an O_TMPFILE file a temporary name in the target's folder. */
static int
name_tmp(fs_output *o, fs_err *err)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
	for (int tries = 0; tries < 100; tries++) {
		if (random_name(o->tmp) == -1)
			return fs_err_set(err, FS_EINTERNAL, "no random bytes");
		if (linkat(AT_FDCWD, proc, o->dirfd, o->tmp,
		    AT_SYMLINK_FOLLOW) == 0) {
			o->unnamed = 0;
			return FS_OK;
		}
		if (errno != EEXIST)
			break;
	}
	o->tmp[0] = '\0';
	return fs_err_set(err, FS_EIO, "cannot write '%s': %s", o->path,
	    strerror(errno));
}

int
fs_output_commit(fs_output *o, fs_err *err)
{
	int rc = FS_OK;

	if (o->is_stdout) {
		fs_output_abort(o);
		return FS_OK;
	}
	if (fsync(o->fd) == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot write '%s': %s", o->path,
		    strerror(errno));
		goto out;
	}
	if ((rc = set_final_attrs(o, err)) != FS_OK)
		goto out;
	if (o->unnamed && (rc = name_tmp(o, err)) != FS_OK)
		goto out;
	if (renameat(o->dirfd, o->tmp, o->dirfd, o->base) == -1) {
		rc = fs_err_set(err, FS_EIO, "cannot replace '%s': %s", o->path,
		    strerror(errno));
		goto out;
	}
	o->tmp[0] = '\0';
	if (fsync(o->dirfd) == -1)
		rc = fs_err_set(err, FS_EIO, "'%s' was replaced, but its folder "
		    "could not be synced to disk: %s", o->path, strerror(errno));
out:
	fs_output_abort(o);
	return rc;
}

void
fs_output_abort(fs_output *o)
{
	if (o == NULL)
		return;
	if (!o->is_stdout) {
		if (o->tmp[0] != '\0' && o->dirfd != -1)
			(void)unlinkat(o->dirfd, o->tmp, 0);
		if (o->fd != -1)
			close(o->fd);
		if (o->dirfd != -1)
			close(o->dirfd);
	}
	free(o->path);
	free(o->dir);
	free(o->scratch);
	free(o);
}

int
fs_write_file_atomic(const char *path, const void *buf, size_t len, int mode,
    fs_err *err)
{
	fs_output *o;
	int rc;

	if ((rc = fs_output_open(path, mode, &o, err)) != FS_OK)
		return rc;
	if ((rc = fs_output_write(o, buf, len, err)) != FS_OK) {
		fs_output_abort(o);
		return rc;
	}
	return fs_output_commit(o, err);
}

int
fs_path_fmt(char *buf, size_t len, fs_err *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return fs_err_set(err, FS_EUSAGE, "path too long (over %zu "
		    "bytes): %.64s...: use a shorter folder", len - 1, buf);
	return FS_OK;
}

int
fs_file_copy(const char *from, const char *to, int mode, fs_err *err)
{
	int fd, rc;

	if ((fd = open(from, O_RDONLY | O_CLOEXEC)) == -1)
		return fs_err_set(err, FS_EIO, "cannot open '%s': %s", from,
		    strerror(errno));
	rc = fs_fd_copy(fd, from, to, mode, NULL, err);
	close(fd);
	return rc;
}

int
fs_fd_copy(int fd, const char *from, const char *to, int mode,
    unsigned char sha256[32], fs_err *err)
{
	char buf[65536];
	EVP_MD_CTX *md = NULL;
	fs_output *o;
	ssize_t n;
	int rc;

	if (sha256 != NULL && ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)) {
		EVP_MD_CTX_free(md);
		return fs_err_nomem(err, "copying a file");
	}
	if ((rc = fs_output_open(to, mode, &o, err)) != FS_OK) {
		EVP_MD_CTX_free(md);
		return rc;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			rc = fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    from, strerror(errno));
			break;
		}
		if (md != NULL && EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			rc = fs_err_nomem(err, "copying a file");
			break;
		}
		if ((rc = fs_output_write(o, buf, (size_t)n, err)) != FS_OK)
			break;
	}
	if (rc == FS_OK && md != NULL &&
	    EVP_DigestFinal_ex(md, sha256, NULL) != 1)
		rc = fs_err_nomem(err, "copying a file");
	EVP_MD_CTX_free(md);
	if (rc != FS_OK) {
		fs_output_abort(o);
		return rc;
	}
	return fs_output_commit(o, err);
}
