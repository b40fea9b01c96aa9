/* Release folders and the atomic switch of publish-dir/current. */
#ifndef FS_PUBLISH_RELEASE_H
#define FS_PUBLISH_RELEASE_H

#include <sys/types.h>
#include <time.h>

#include "fedsign/err.h"

struct fs_release {
	char publish_dir[4096];
	char releases[4096];		/* publish-dir/releases */
	char building[4096];		/* the folder being built */
	char id[64];			/* the release's name */
	int dirfd;			/* releases/ */
	int started;			/* building exists */
	int committed;			/* current points to it */
	int switched;			/* current was renamed to it (synced
					   or not) */
};

/* mkdir -p with mode for the folders made. */
int fs_mkdirs(const char *path, mode_t mode, fs_err *err);

/* Take state-dir/lock (held until *fd is closed); FS_ENOTVALID when
 * another run holds it. */
int fs_lock(const char *state_dir, int *fd, fs_err *err);

/*
 * Start a release: publish-dir/releases made when missing, what killed
 * runs left there removed, and an empty folder r->building to write into.
 */
int fs_release_start(struct fs_release *r, const char *publish_dir,
    time_t now, fs_err *err);

/* Remove the folder being built; nothing published changes. */
void fs_release_abort(struct fs_release *r);

/*
 * Make the release live: its folder renamed into place, current switched
 * to it in one rename, the folders synced, releases beyond the newest keep
 * removed (never the live one).
 */
int fs_release_commit(struct fs_release *r, unsigned keep, fs_err *err);

/* Abort what was not committed, close what is open. */
void fs_release_end(struct fs_release *r);

/* The name of the live release (current's target) into id; -1: none. */
int fs_release_current(const char *publish_dir, char *id, size_t len);

#endif
