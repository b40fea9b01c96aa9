/*
 * fedsignd, the signing daemon: the one process that holds the tokens.
 *
 * It links util + p11 + signer and never libxml2: the process that holds
 * the key parses no XML.  Its parts:
 *
 *   main.c     start-up (config, privileges, sockets, tokens), signals,
 *              reload (SIGHUP) and shutdown (SIGTERM)
 *   conf.c     the configuration (libyaml), every key checked
 *   log.c      messages: stderr with -d, else syslog
 *   pool.c     keys and their copies on tokens: sessions, workers,
 *              balancing, failover, health checks, re-opening, the
 *              watchdog over module calls, metrics
 *   http.c     the HTTP/JSON API (libmicrohttpd): fedsign's own, and the
 *              pyeleven and goeleven dialects
 *   tls.c      TLS for TCP listeners (OpenSSL), in front of libmicrohttpd
 *   audit.c    the audit log: one JSON line per signature
 *   clients.c  the clients file: names and bearer secrets
 */
#ifndef FEDSIGND_H
#define FEDSIGND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fedsign/alg.h"
#include "fedsign/err.h"
#include "fedsign/util.h"
#include "fedsign/p11.h"

/* --- log.c ---------------------------------------------------------------- */

/*
 * Where messages go: stderr (foreground) or syslog; verbose > 0 adds the
 * debug messages (each request).
 */
void fsd_log_init(int foreground, int verbose);

/* While the daemon starts in the background: warnings and errors also go
 * to fd (the parent prints them); -1 stops that. */
void fsd_log_startup_fd(int fd);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_errx, then exit(1). */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));


/* --- conf.c --------------------------------------------------------------- */

enum { FSD_UNIX = 1, FSD_TCP = 2 };
enum { FSD_AUTH_SECRET = 0, FSD_AUTH_NONE = 1 };

struct fsd_listen_conf {
	int kind;		/* FSD_UNIX, FSD_TCP */
	char *spec;		/* as written: "unix:/run/fedsignd/sock" */
	char *path;		/* unix: the socket */
	char *host, *port;	/* tcp */
	int loopback;		/* tcp: 127.0.0.0/8 or ::1 */
	int tls;		/* tcp: TLS in front */
	int auth;		/* FSD_AUTH_SECRET or FSD_AUTH_NONE */
	unsigned line;
};

struct fsd_key_conf {
	char *name;
	char **tokens;		/* PKCS#11 URIs, as written */
	unsigned *token_lines;
	size_t ntokens;
	unsigned sessions;	/* per token */
	unsigned queue;		/* requests waiting for a session */
	char *cert;		/* PEM file, or NULL */
	int allow_sha1;		/* legacy dialects may sign SHA-1 */
	unsigned line;
};

struct fsd_conf {
	char *path;
	struct fsd_listen_conf *listen;
	size_t nlisten;
	char *socket_group;
	unsigned socket_mode;
	char *user, *group;
	char *clients_file;
	char *tls_cert, *tls_key;
	char *audit_log;
	int64_t health_interval, retry_interval, token_timeout,
	    request_timeout;	/* seconds */
	uint64_t max_request;	/* bytes of a request body */
	unsigned max_connections;	/* per listener */
	int status_needs_secret;
	struct fsd_key_conf *keys;
	size_t nkeys;
};

#define FSD_MAX_COPIES	16	/* tokens per key */
#define FSD_MAX_KEYS	64

/* Read and check path; *out is the caller's (fsd_conf_free). */
int fsd_conf_load(const char *path, struct fsd_conf **out, fs_err *err);
void fsd_conf_free(struct fsd_conf *c);

/* Whether a key name may be used (it goes into URL paths). */
int fsd_name_ok(const char *s);

/* --- clients.c ------------------------------------------------------------ */

struct fsd_client {
	char *name;
	unsigned char hash[32];	/* SHA-256 of the secret */
	char **keys;		/* the keys it may use; NULL: all */
	size_t nkeys;
};

struct fsd_clients {
	struct fsd_client *v;
	size_t n;
};

/*
 * Read a clients file: "NAME SECRET [KEY,KEY...]" lines, # comments.  The
 * file may not be readable by others.  *out is the caller's.
 */
int fsd_clients_load(const char *path, struct fsd_clients **out, fs_err *err);
void fsd_clients_free(struct fsd_clients *c);

/* The client whose secret this is, or NULL (constant time per client). */
const struct fsd_client *fsd_clients_find(const struct fsd_clients *c,
    const char *secret, size_t len);

/* Whether client cl may use key name. */
int fsd_client_may(const struct fsd_client *cl, const char *key);

/* --- audit.c -------------------------------------------------------------- */

/* Open (or, on SIGHUP, reopen) the audit log: O_APPEND|O_CREAT, 0640. */
int fsd_audit_open(const char *path, fs_err *err);
/* Append line (one JSON object) as one line in one write(2). */
int fsd_audit_write(json_t *line);
void fsd_audit_close(void);

/* --- pool.c --------------------------------------------------------------- */

struct fsd_key;
struct fsd_keyset;

struct fsd_pool_opts {
	int64_t health_interval;	/* seconds */
	int64_t retry_interval;
	int64_t token_timeout;
};

/* The times pool threads read (set at start and on reload). */
void fsd_pool_set_opts(const struct fsd_pool_opts *o);

/*
 * Check what can be checked without a token (fedsignd -n): the URIs, the
 * PIN files (owner and mode, not their content), certificates.
 */
int fsd_pool_check(const struct fsd_conf *conf, fs_err *err);

/* Finalise the modules kept initialised (at exit, after the keys). */
void fsd_pool_release_modules(void);
/* Requests whose signature is stuck in a module call on their own thread
 * (a key with one copy) that the watchdog gave up on. */
unsigned fsd_pool_stuck_requests(void);

/* Start the watchdog over module calls (once). */
int fsd_pool_start(fs_err *err);

/*
 * Open every key of conf: PIN files, tokens, logins, the public key of
 * each copy (all copies must hold the same one).  Keys of reuse (may be
 * NULL) with the same name, tokens, sessions and certificate are taken
 * over as they are, open.  Nothing runs yet: fsd_keyset_start.
 */
int fsd_keyset_open(const struct fsd_conf *conf, struct fsd_keyset *reuse,
    struct fsd_keyset **out, fs_err *err);

/* Start the workers, health checks and re-opening of the keys. */
void fsd_keyset_start(struct fsd_keyset *ks);

/*
 * Stop and free ks; keys that keep (may be NULL) holds stay open.
 * Queued requests get 503; calls stuck in a module are left behind.
 */
void fsd_keyset_close(struct fsd_keyset *ks, struct fsd_keyset *keep);

size_t fsd_keyset_count(const struct fsd_keyset *ks);
struct fsd_key *fsd_keyset_key(const struct fsd_keyset *ks, size_t i);
struct fsd_key *fsd_keyset_find(const struct fsd_keyset *ks,
    const char *name);
/* The key for pyeleven/goeleven paths: /TOKEN-LABEL/KEY-LABEL. */
struct fsd_key *fsd_keyset_find_label(const struct fsd_keyset *ks,
    const char *token, const char *label);
/* Whether every key has a healthy token. */
int fsd_keyset_healthy(const struct fsd_keyset *ks);

const char *fsd_key_name(const struct fsd_key *k);
enum fs_keytype fsd_key_type(const struct fsd_key *k);
int fsd_key_allow_sha1(const struct fsd_key *k);
const char *fsd_key_cert_pem(const struct fsd_key *k);	/* or NULL */

/* The key for GET /v1/keys/NAME and /status: a new reference. */
json_t *fsd_key_json(struct fsd_key *k, int full);

/* Token listings for pyeleven's GET / and GET /LABEL. */
json_t *fsd_keyset_labels(const struct fsd_keyset *ks);
json_t *fsd_keyset_slots(const struct fsd_keyset *ks, const char *label);

struct fsd_sign_res {
	int status;		/* 200, or the HTTP status of the failure */
	const char *code;	/* "queue-full", ... (static) */
	char detail[512];
	int retry_after;	/* seconds, or 0 */
	uint8_t *sig;		/* the caller's (free) */
	size_t siglen;
	char token[33], serial[17];
	double seconds;
};

/*
 * Sign the digest d (made with md) with key k, on the least busy healthy
 * token; a token that fails is marked down and the request goes to
 * another.  The signature is verified with the key's public key before
 * it is returned.  RSA: PKCS#1 v1.5; EC: r||s.  Blocks until done.
 */
void fsd_sign(struct fsd_key *k, const EVP_MD *md, const uint8_t *d,
    size_t dlen, struct fsd_sign_res *res);

/* Append the Prometheus text of ks to b. */
struct fsd_buf {
	char *p;
	size_t len, cap;
	int failed;
};
void fsd_buf_printf(struct fsd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fsd_keyset_metrics(const struct fsd_keyset *ks, struct fsd_buf *b);

/* The DER DigestInfo prefix for a hash NID (SHA-1 and SHA-2), or NULL. */
const uint8_t *fsd_digest_info(int nid, size_t *len);

/* --- http.c, tls.c -------------------------------------------------------- */

/* What a request sees: the configuration, keys and clients of its time. */
struct fsd_gen {
	int refs;
	struct fsd_conf *conf;
	struct fsd_keyset *ks;
	struct fsd_clients *clients;	/* or NULL */
};

/* The current generation, with a reference (fsd_gen_put). */
struct fsd_gen *fsd_gen_get(void);
void fsd_gen_put(struct fsd_gen *g);
/* Make g (refs 1: being current) current; returns the one before. */
struct fsd_gen *fsd_gen_swap(struct fsd_gen *g);
/*
 * Drop the reference fsd_gen_swap handed back and wait for the requests
 * that hold g: 1 when none is left (g may be freed), 0 when those left
 * are stuck in module calls the watchdog gave up on (g must be kept).
 */
int fsd_gen_retire(struct fsd_gen *g);

struct fsd_listener;

/* Make the socket of lc (before privileges are dropped). */
int fsd_listen_open(const struct fsd_conf *conf,
    const struct fsd_listen_conf *lc, SSL_CTX *tls,
    struct fsd_listener **out, fs_err *err);
/* Start serving on it. */
int fsd_listen_start(struct fsd_listener *l, const struct fsd_conf *conf,
    fs_err *err);
/* Stop accepting (the socket file is removed); requests under way go on. */
void fsd_listen_quiesce(struct fsd_listener *l);
/* Stop and free (in-flight requests are answered first). */
void fsd_listen_free(struct fsd_listener *l);
const char *fsd_listen_name(const struct fsd_listener *l);

/* New requests get 503 shutting-down from now on. */
void fsd_http_draining(void);
/* Requests being answered now. */
unsigned fsd_http_active(void);
/* Metrics of the HTTP side (requests by status). */
void fsd_http_metrics(struct fsd_buf *b);

/* The TLS context for TCP listeners from cert and key files (PEM). */
int fsd_tls_ctx(const char *cert, const char *key, SSL_CTX **out,
    fs_err *err);

/*
 * TLS in front of libmicrohttpd: accept on fd, do the handshake, and
 * hand each connection to mhd through a socket pair.  Returns the
 * acceptor, to be stopped with fsd_tls_stop.
 */
struct fsd_tls;
struct MHD_Daemon;
int fsd_tls_start(int fd, SSL_CTX *ctx, struct MHD_Daemon *mhd,
    unsigned max_conns, int64_t timeout, const char *name,
    struct fsd_tls **out, fs_err *err);
void fsd_tls_quiesce(struct fsd_tls *t);
void fsd_tls_stop(struct fsd_tls *t);

#endif
