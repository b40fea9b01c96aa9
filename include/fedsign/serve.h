/*
 * The MDQ responder (draft-young-md-query, draft-young-md-query-saml):
 * HTTP over the tree `fedsign publish` makes.  It serves
 * publish-dir/current and follows its switches: each request takes the
 * release that is live when it starts and keeps it to its end, so that no
 * answer mixes two releases.  It holds no key and signs nothing; it never
 * parses XML.  Bodies are sent from the release's files; in memory it
 * keeps only an index of the entities.
 *
 * The library never prints: what it has to say goes to the log hook.
 */
#ifndef FEDSIGN_SERVE_H
#define FEDSIGN_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "fedsign/err.h"

/* Defaults of struct fs_serve_opts (and of the serve: configuration). */
#define FS_SERVE_DEF_LISTEN	"127.0.0.1:8080"
#define FS_SERVE_DEF_MAX_CLIENTS 1024	/* connections at once */
#define FS_SERVE_DEF_PER_IP	64	/* connections from one address */
#define FS_SERVE_DEF_TIMEOUT	30	/* seconds a connection may idle */
#define FS_SERVE_DEF_MARGIN	86400	/* /status: 503 within a day of
					   the release's validUntil */
#define FS_SERVE_MAX_LISTEN	16

enum fs_serve_log {
	FS_SERVE_LOG_ERROR,	/* a release that cannot be loaded, ... */
	FS_SERVE_LOG_WARN,
	FS_SERVE_LOG_INFO,	/* start, release switches */
	FS_SERVE_LOG_ACCESS,	/* one line per request */
	FS_SERVE_LOG_DEBUG,	/* libmicrohttpd's own messages */
};

struct fs_serve_opts {
	const char *publish_dir;	/* the folder holding current */
	const char *const *listen;	/* "ADDR:PORT" ("[::1]:8080");
					   none: FS_SERVE_DEF_LISTEN */
	size_t nlisten;
	unsigned max_clients;		/* 0: FS_SERVE_DEF_MAX_CLIENTS */
	unsigned per_ip;		/* 0: FS_SERVE_DEF_PER_IP */
	unsigned timeout;		/* seconds; 0: FS_SERVE_DEF_TIMEOUT */
	int64_t status_margin;		/* seconds; < 0: FS_SERVE_DEF_MARGIN */
	unsigned threads;		/* per listening address; 0: one per
					   CPU */
	int access_log;			/* FS_SERVE_LOG_ACCESS lines too */
	/* Called from any thread, never with a lock of the caller held. */
	void (*log)(void *ctx, enum fs_serve_log level, const char *msg);
	void *log_ctx;
};

typedef struct fs_serve fs_serve;

/*
 * Load the live release of opts->publish_dir, listen on every address
 * and start answering on threads of the library's own.  *out is the
 * caller's (fs_serve_stop).  FS_EUSAGE for a bad address, FS_EIO for a
 * folder that cannot be read, one without current, or an address that
 * cannot be bound, FS_ENOTVALID for a live release that is broken.
 */
int fs_serve_start(const struct fs_serve_opts *opts, fs_serve **out,
    fs_err *err);

/* How many addresses it listens on, and the i-th as "ADDR:PORT" with the
 * port actually bound (borrowed). */
size_t fs_serve_nlisten(const fs_serve *s);
const char *fs_serve_address(const fs_serve *s, size_t i);

/* Look at publish-dir/current now (it is also watched). */
void fs_serve_reload(fs_serve *s);

/*
 * Stop listening, let the requests in flight finish (a few seconds at
 * most), stop the threads and free s.  NULL is a no-op.
 */
void fs_serve_stop(fs_serve *s);

/*
 * Parse "ADDR:PORT", "[V6ADDR]:PORT" or "HOST:PORT" into a socket
 * address (*addr of *len bytes, at most sizeof(struct sockaddr_storage)).
 * FS_EUSAGE naming what is wrong.
 */
int fs_serve_parse_listen(const char *s, void *addr, size_t *len,
    fs_err *err);

#endif
