/*
 * Fetching a source over HTTP(S) with libcurl: TLS verified, timeouts,
 * a size limit, and a conditional GET (If-None-Match with the ETag,
 * If-Modified-Since with the Last-Modified time of the last copy), so
 * that an unchanged upstream costs one 304.  Internal to the publish
 * layer.
 */
#ifndef FS_PUBLISH_FETCH_H
#define FS_PUBLISH_FETCH_H

#include <stdint.h>
#include <time.h>

#include "fedsign/err.h"

struct fs_fetch_req {
	const char *url;		/* https:// or http:// only */
	const char *etag;		/* of the copy we have, or NULL */
	time_t last_modified;		/* of the copy we have, or 0 */
	int64_t timeout;		/* seconds for the whole transfer; also
					   the longest it may stall */
	uint64_t max_size;		/* bytes; more is an error */
	const char *out;		/* where a 200's body goes: written to a
					   temporary file beside it and renamed
					   into place only when complete */
	const char *ca_file;		/* extra CA bundle, or NULL (tests) */
};

struct fs_fetch_res {
	long status;			/* 200 or 304 */
	char etag[256];			/* the response's ETag, or "" */
	time_t last_modified;		/* its Last-Modified, or 0 */
	uint64_t bytes;			/* body bytes written (200) */
	double seconds;			/* how long it took */
};

/*
 * Once per process, before threads: libcurl's global set-up.  Safe to
 * call again.
 */
int fs_fetch_init(fs_err *err);

/*
 * GET rq->url.  FS_OK with res->status 200 (the body is in rq->out) or
 * 304 (nothing written).  Any other status, a redirect to anything but
 * http(s), a TLS failure, a timeout, a body over max_size: FS_EIO naming
 * the URL and the cause, and rq->out untouched.  Thread-safe.
 */
int fs_fetch(const struct fs_fetch_req *rq, struct fs_fetch_res *res,
    fs_err *err);

#endif
