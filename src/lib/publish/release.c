/*
 * Releases: a publication is built in publish-dir/releases/.building-*,
 * renamed to releases/<id> when complete, and made live by replacing the
 * symbolic link publish-dir/current with rename(2): a web server serving
 * current/ sees the old set or the new one, never a mix.  Older releases
 * are kept (keep-releases) and then removed.  One run at a time: the lock
 * is state-dir/lock.
 */
#include "publish/release.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "fedsign/file.h"

#define BUILDING ".building-"

int
fs_mkdirs(const char *path, mode_t mode, fs_err *err)
{
	char buf[4096], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return fs_err_set(err, FS_EIO, "path too long: %s", path);
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return fs_err_set(err, FS_EIO, "cannot make folder '%s': "
			    "%s", buf, strerror(errno));
		*p = c;
		if (c == '\0')
			break;
	}
	return FS_OK;
}

int
fs_lock(const char *state_dir, int *fd, fs_err *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/lock", state_dir);
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return fs_err_set(err, FS_EIO, "cannot open the lock '%s': %s",
		    path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) == -1) {
		close(*fd);
		*fd = -1;
		return fs_err_set(err, FS_ENOTVALID, "another fedsign publish is "
		    "running with state-dir '%s' (it holds %s); nothing was "
		    "changed", state_dir, path);
	}
	return FS_OK;
}

/* Remove the tree at name in at, not following symbolic links. */
static int
rm_tree(int at, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (unlinkat(at, name, 0) == 0)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return errno == ENOENT ? 0 : -1;
	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_tree(fd, de->d_name) == -1)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) == -1)
		rc = -1;
	return rc;
}

/*
 * The releases folder, to read from its start: an open of its own, not a
 * dup(2) of r->dirfd, which would share the offset of every read before.
 */
static DIR *
open_releases(const struct fs_release *r)
{
	DIR *d;
	int fd;

	if ((fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

/* A release folder's name: 20261201T070000Z-3f2a1b. */
static int
is_release(const char *name)
{
	if (strlen(name) != 23 || name[8] != 'T' || name[15] != 'Z' ||
	    name[16] != '-')
		return 0;
	for (int i = 0; i < 23; i++) {
		if (i == 8 || i == 15 || i == 16)
			continue;
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (i > 16 && name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	}
	return 1;
}

int
fs_release_start(struct fs_release *r, const char *publish_dir, time_t now,
    fs_err *err)
{
	unsigned char rnd[3];
	struct tm tm;
	struct dirent *de;
	DIR *d;
	int rc;

	memset(r, 0, sizeof(*r));
	r->dirfd = -1;
	if ((rc = fs_path_fmt(r->publish_dir, sizeof(r->publish_dir), err,
	    "%s", publish_dir)) != FS_OK ||
	    (rc = fs_path_fmt(r->releases, sizeof(r->releases), err,
	    "%s/releases", publish_dir)) != FS_OK)
		return rc;
	if ((rc = fs_mkdirs(r->releases, 0755, err)) != FS_OK)
		return rc;
	if ((r->dirfd = open(r->releases, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return fs_err_set(err, FS_EIO, "cannot open '%s': %s",
		    r->releases, strerror(errno));
	/* What a killed run left behind (we hold the lock). */
	if ((d = open_releases(r)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strncmp(de->d_name, BUILDING, strlen(BUILDING)) == 0)
				(void)rm_tree(r->dirfd, de->d_name);
		closedir(d);
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return fs_err_set(err, FS_EINTERNAL, "no random bytes");
	gmtime_r(&now, &tm);
	strftime(r->id, sizeof(r->id), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(r->id + strlen(r->id), sizeof(r->id) - strlen(r->id),
	    "-%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
	if ((rc = fs_path_fmt(r->building, sizeof(r->building), err,
	    "%s/%s%s", r->releases, BUILDING, r->id)) != FS_OK)
		return rc;
	if (mkdir(r->building, 0755) == -1)
		return fs_err_set(err, FS_EIO, "cannot make '%s': %s",
		    r->building, strerror(errno));
	r->started = 1;
	return FS_OK;
}

void
fs_release_abort(struct fs_release *r)
{
	char name[128];

	if (r->started && r->dirfd != -1) {
		snprintf(name, sizeof(name), "%s%s", BUILDING, r->id);
		(void)rm_tree(r->dirfd, name);
	}
	if (r->dirfd != -1)
		close(r->dirfd);
	r->dirfd = -1;
	r->started = 0;
}

static int
fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = -1;

	if (fd != -1) {
		r = fsync(fd);
		close(fd);
	}
	return r;
}

int
fs_release_current(const char *publish_dir, char *id, size_t len)
{
	char path[4096], target[4096];
	ssize_t n;
	const char *base;

	if (fs_path_fmt(path, sizeof(path), NULL, "%s/current",
	    publish_dir) != FS_OK)
		return -1;
	if ((n = readlink(path, target, sizeof(target) - 1)) == -1)
		return -1;
	target[n] = '\0';
	base = strrchr(target, '/');
	snprintf(id, len, "%s", base ? base + 1 : target);
	return is_release(id) ? 0 : -1;
}

int
fs_release_commit(struct fs_release *r, unsigned keep, fs_err *err)
{
	char name[128], link[4096], tmp[4096], target[256], cur[64];
	struct dirent *de;
	struct stat st;
	char **names = NULL;
	size_t n = 0, cap = 0, left;
	DIR *d;

	if (fs_path_fmt(link, sizeof(link), err, "%s/current",
	    r->publish_dir) != FS_OK || fs_path_fmt(tmp, sizeof(tmp), err,
	    "%s/.current-%s", r->publish_dir, r->id) != FS_OK)
		return FS_EUSAGE;
	if (lstat(link, &st) == 0 && !S_ISLNK(st.st_mode))
		return fs_err_set(err, FS_EIO, "'%s' exists and is not a "
		    "symbolic link: move it away; fedsign publishes by "
		    "switching that link", link);
	if (fsync_path(r->building) == -1)
		return fs_err_set(err, FS_EIO, "cannot sync '%s': %s",
		    r->building, strerror(errno));
	snprintf(name, sizeof(name), "%s%s", BUILDING, r->id);
	if (renameat(r->dirfd, name, r->dirfd, r->id) == -1)
		return fs_err_set(err, FS_EIO, "cannot rename the release "
		    "into place in '%s': %s", r->releases, strerror(errno));
	r->started = 0;
	if (fsync(r->dirfd) == -1)
		return fs_err_set(err, FS_EIO, "cannot sync '%s': %s",
		    r->releases, strerror(errno));
	/* The switch: a new link beside the old one, renamed over it. */
	snprintf(target, sizeof(target), "releases/%s", r->id);
	(void)unlink(tmp);
	if (symlink(target, tmp) == -1 || rename(tmp, link) == -1) {
		int e = errno;

		(void)unlink(tmp);
		return fs_err_set(err, FS_EIO, "cannot switch '%s' to the new "
		    "release: %s", link, strerror(e));
	}
	r->switched = 1;
	if (fsync_path(r->publish_dir) == -1)
		return fs_err_set(err, FS_EIO, "'%s' was switched, but the "
		    "folder could not be synced to disk: %s", link,
		    strerror(errno));
	r->committed = 1;
	/* Keep the newest releases, the live one among them. */
	if (fs_release_current(r->publish_dir, cur, sizeof(cur)) == -1)
		cur[0] = '\0';
	if ((d = open_releases(r)) == NULL)
		return FS_OK;
	while ((de = readdir(d)) != NULL) {
		char **more;

		if (!is_release(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((more = realloc(names, cap * sizeof(*names))) ==
			    NULL)
				break;
			names = more;
		}
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[i], names[j]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	/*
	 * The live one stays and counts; the newest of the others fill the
	 * rest.  Counted, not by place: two releases made in one second sort
	 * by their random suffix, and the live one need not come first.
	 */
	left = cur[0] != '\0' && keep > 0 ? keep - 1 : keep;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], cur) != 0) {
			if (left > 0)
				left--;
			else
				(void)rm_tree(r->dirfd, names[i]);
		}
		free(names[i]);
	}
	free(names);
	return FS_OK;
}

void
fs_release_end(struct fs_release *r)
{
	if (r->started)
		fs_release_abort(r);
	if (r->dirfd != -1)
		close(r->dirfd);
	r->dirfd = -1;
}
