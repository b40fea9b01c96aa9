/*
 * Files: atomic replacement of outputs.
 *
 * An output is written to a temporary file in the target's folder, flushed
 * to disk, and renamed over the target only when everything succeeded; a
 * failed run leaves the previous file exactly as it was.
 */
#ifndef FS_UTIL_FILEIO_H
#define FS_UTIL_FILEIO_H

#include "util/err.h"

typedef struct fs_atomic fs_atomic;

/*
 * Create a temporary file beside path, mode 0644 less the umask (or mode
 * when mode != 0).  On success *out holds the caller's handle; finish it
 * with fs_atomic_commit() or fs_atomic_abort().
 */
int fs_atomic_open(const char *path, int mode, fs_atomic **out, fs_err *err);

/* The temporary file's descriptor (owned by the handle). */
int fs_atomic_fd(const fs_atomic *a);

/* The target path given to fs_atomic_open (borrowed). */
const char *fs_atomic_path(const fs_atomic *a);

/*
 * fsync the temporary file, rename it over the target and fsync the
 * folder.  Frees the handle whatever happens; on failure the temporary file
 * is removed and the target is untouched.
 */
int fs_atomic_commit(fs_atomic *a, fs_err *err);

/* Remove the temporary file and free the handle; NULL is a no-op. */
void fs_atomic_abort(fs_atomic *a);

/* Write all of buf to fd, retrying short writes; FS_EIO on failure. */
int fs_write_all(int fd, const void *buf, size_t len, const char *what,
    fs_err *err);

/* Atomically replace path with the len bytes at buf. */
int fs_write_file_atomic(const char *path, const void *buf, size_t len,
    int mode, fs_err *err);

#endif
