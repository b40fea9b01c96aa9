/*
 * Error reporting for library code.
 *
 * Library functions never print and never exit: they return a status and
 * fill an fs_err.  Only src/cli/ prints, in one voice.  The status doubles
 * as the process exit code, documented once in fedsign(1).
 */
#ifndef FS_UTIL_ERR_H
#define FS_UTIL_ERR_H

#include <stddef.h>

enum fs_status {
	FS_OK = 0,		/* success */
	FS_ENOTVALID = 1,	/* a verdict of "no": bad signature, failed check */
	FS_EUSAGE = 2,		/* bad command line or option value */
	FS_ETOKEN = 3,		/* token, PIN, key or certificate problem */
	FS_EIO = 4,		/* a file could not be read or written */
	FS_EINTERNAL = 5,	/* out of memory, library failure */
};

typedef struct fs_err {
	int code;
	char msg[2048];
} fs_err;

/* Record code and a printf-style message in err (may be NULL); returns code. */
int fs_err_set(fs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append ": " and the formatted text to the message already in err. */
void fs_err_append(fs_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Like fs_err_set, then append the oldest queued OpenSSL error (if any) and
 * clear OpenSSL's error queue.
 */
int fs_err_openssl(fs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void fs_err_clear(fs_err *err);

#endif
