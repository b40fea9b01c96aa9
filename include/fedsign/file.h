/*
 * Files: the one way fedsign opens what it reads and replaces what it
 * writes.
 *
 * "-" names standard input or output.  Inputs may be regular files or
 * pipes (`<(command)`); directories, devices and sockets are refused.
 *
 * An output is written to an unnamed temporary file in the target's
 * folder (O_TMPFILE; a short-named file where the file system lacks it),
 * mode 0600 while it is written, flushed to disk, and only then given
 * its final mode, owner and group and renamed over the target.  A failed
 * or interrupted run leaves the previous file exactly as it was.  A
 * target that exists but is not a regular file (a symbolic link, device,
 * FIFO, directory) is refused rather than replaced.  Replacing an
 * existing file keeps its mode and group (and owner, when run as root);
 * a new file gets 0666 less the umask unless a mode is given.
 */
#ifndef FEDSIGN_FILE_H
#define FEDSIGN_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "fedsign/err.h"

/*
 * Open path for reading ("-": standard input).  *fd is the caller's, to
 * be closed with fs_input_close().
 */
int fs_input_open(const char *path, int *fd, fs_err *err);

/* Close an input from fs_input_open (standard input stays open). */
void fs_input_close(int fd);

/*
 * Read all of path ("-": standard input) into a fresh NUL-terminated
 * buffer *buf (caller frees) of *len bytes; more than max bytes is
 * refused.  For certificates, keys and configuration files.
 */
int fs_file_read(const char *path, size_t max, char **buf, size_t *len,
    fs_err *err);

/* The SHA-256 of the bytes of path (a regular file) into out. */
int fs_file_sha256(const char *path, unsigned char out[32], fs_err *err);

/*
 * Format a path into buf; FS_EUSAGE naming the start of it when it does
 * not fit in len bytes.
 */
int fs_path_fmt(char *buf, size_t len, fs_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct fs_output fs_output;

/*
 * Start replacing path ("-": standard output, written directly).  mode
 * is the mode of a new file (0: 0666 less the umask); an existing file
 * keeps its own.  *out is the caller's: finish it with fs_output_commit()
 * or fs_output_abort().
 */
int fs_output_open(const char *path, int mode, fs_output **out, fs_err *err);

/* The descriptor to write to (owned by the output). */
int fs_output_fd(const fs_output *o);

/* The target path given to fs_output_open (borrowed). */
const char *fs_output_path(const fs_output *o);

/* Write all of buf, retrying short writes; FS_EIO naming the target. */
int fs_output_write(fs_output *o, const void *buf, size_t len, fs_err *err);

/*
 * Flush to disk, set the final mode and group, and rename over the
 * target; then flush the folder.  Frees o whatever happens; on failure
 * nothing is left behind and the target is untouched.
 */
int fs_output_commit(fs_output *o, fs_err *err);

/* Drop the temporary file and free o; NULL is a no-op. */
void fs_output_abort(fs_output *o);

/* Write all of buf to fd, retrying short writes; FS_EIO naming what. */
int fs_write_all(int fd, const void *buf, size_t len, const char *what,
    fs_err *err);

/* Atomically replace to with a copy of the regular file from. */
int fs_file_copy(const char *from, const char *to, int mode, fs_err *err);

/*
 * The same from the open descriptor fd (of the file named from in
 * messages), and the SHA-256 of the bytes copied when sha256 is not NULL.
 */
int fs_fd_copy(int fd, const char *from, const char *to, int mode,
    unsigned char sha256[32], fs_err *err);

/* Atomically replace path with the len bytes at buf. */
int fs_write_file_atomic(const char *path, const void *buf, size_t len,
    int mode, fs_err *err);

#endif
