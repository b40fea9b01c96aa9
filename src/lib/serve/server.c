/*
 * The HTTP side of fedsign serve: libmicrohttpd daemons (one per listening
 * address, each a pool of epoll threads), the request handler, /status
 * and /metrics, and the thread that watches publish-dir/current.
 *
 * A request takes a reference to the live release when it starts and
 * drops it when its answer is queued (the body is an open file by then);
 * the watcher swaps in a newly loaded release under a mutex and drops the
 * old one, which is freed when its last request is done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>

#include "fedsign/util.h"
#include "serve_int.h"

#define CONN_MEMORY	(32 * 1024)	/* request line and headers fit in
					   this, or MHD answers 431/414 */
#define ENTITY_CACHE	3600	/* max-age without a cacheDuration */
#define NOTFOUND_CACHE	60	/* max-age of a 404 */
#define RETRY_FAILED	60	/* seconds before a broken release is
				   tried again */
#define DRAIN_MS	5000	/* requests in flight get this long */

/* Status codes counted by /metrics; the last slot is "any other". */
static const int codes[] = { 200, 304, 400, 404, 405, 406, 500, 503, 0 };
#define NCODES (sizeof(codes) / sizeof(codes[0]))
/* Latency histogram bounds, in microseconds. */
static const unsigned long bounds[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000
};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct metrics {
	atomic_uint_fast64_t by_code[NCODES];
	atomic_uint_fast64_t bytes;
	atomic_uint_fast64_t buckets[NBOUNDS + 1];
	atomic_uint_fast64_t usec;
	atomic_uint_fast64_t reloads, reload_failures;
};

struct listener {
	struct MHD_Daemon *d;
	int fd;
	char addr[96];
};

struct fs_serve {
	char *publish_dir;
	unsigned max_clients, per_ip, timeout, threads;
	int64_t margin;
	int access_log;
	void (*log)(void *, enum fs_serve_log, const char *);
	void *log_ctx;

	int pubfd, inofd, wakefd;
	pthread_t watcher;
	int watching;
	atomic_int stopping;

	pthread_mutex_t lock;		/* guards cur */
	struct fs_release *cur;
	char cur_target[1024];		/* readlink of current for cur */
	char failed[1024];		/* a target that did not load */
	time_t failed_at;
	int warned_missing;

	struct listener l[FS_SERVE_MAX_LISTEN];
	size_t nl;
	atomic_int inflight;
	struct metrics m;
};

/* One request, from the handler's first call to its completion. */
struct req {
	struct timespec t0;
	int started;			/* the handler has seen it */
	int nul;			/* a NUL byte in the request target */
	int code;
	uint64_t bytes;
	char *line;			/* access log: client, method, path */
};

static void
say(struct fs_serve *s, enum fs_serve_log level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(struct fs_serve *s, enum fs_serve_log level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (s->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, level, msg);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct fs_serve *s = cls;
	char msg[1024];
	size_t n;

	if (s->log == NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	s->log(s->log_ctx, FS_SERVE_LOG_DEBUG, msg);
}

/* The raw path: decoding is fs_mdq_parse_path's, once, and only there. */
static size_t
unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/*
 * Called with the request target as it came, before libmicrohttpd cuts
 * it at '?': the one place where a NUL byte in it shows (the C string
 * ends early, and what follows it is not the HTTP version).  The
 * request's record starts here, and is always seen by completed().
 */
static void *
uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct fs_serve *s = cls;
	struct req *q;
	size_t n = strlen(uri);

	(void)c;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &q->t0);
	q->nul = strncmp(uri + n + 1, "HTTP/", 5) != 0;
	atomic_fetch_add(&s->inflight, 1);
	return q;
}

/* --- releases ---------------------------------------------------------- */

static struct fs_release *
take_release(struct fs_serve *s)
{
	struct fs_release *r;

	pthread_mutex_lock(&s->lock);
	r = s->cur;
	fs_release_ref(r);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/*
 * Load what current points to when that changed.  A release that does
 * not load is reported and tried again after a while; the one served
 * goes on being served.  initial: report a broken release in err.
 */
static int
check_current(struct fs_serve *s, int initial, fs_err *err)
{
	struct fs_release *r, *old;
	char target[sizeof(s->cur_target)], vu[32];
	time_t now = time(NULL);
	ssize_t n;
	fs_err e;
	int rc;

	n = readlinkat(s->pubfd, "current", target, sizeof(target) - 1);
	/*
	 * At the start, no current is a mistake to say at once (a wrong
	 * --dir, or publish never ran); later, a missing one only leaves
	 * the last release served.
	 */
	if (n < 0 && initial && err != NULL)
		return fs_err_set(err, FS_EIO,
		    "'%s' has no release to serve (%s/current: %s): run "
		    "fedsign publish with an mdq: section first, or give "
		    "--dir its publish-dir", s->publish_dir, s->publish_dir,
		    errno == EINVAL ? "not a symbolic link" : strerror(errno));
	if (n < 0) {
		if (!s->warned_missing)
			say(s, FS_SERVE_LOG_WARN, "%s/current: %s: %s",
			    s->publish_dir, strerror(errno), s->cur != NULL ?
			    "still serving the last release" : "answering "
			    "503 until fedsign publish makes a release");
		s->warned_missing = 1;
		return FS_OK;
	}
	target[n] = '\0';
	s->warned_missing = 0;
	if (s->cur != NULL && strcmp(target, s->cur_target) == 0)
		return FS_OK;
	if (strcmp(target, s->failed) == 0 && now - s->failed_at <
	    RETRY_FAILED)
		return FS_OK;
	if ((rc = fs_release_load(s->pubfd, target, &r, &e)) != FS_OK) {
		atomic_fetch_add(&s->m.reload_failures, 1);
		snprintf(s->failed, sizeof(s->failed), "%s", target);
		s->failed_at = now;
		malloc_trim(0);
		if (initial && err != NULL) {
			*err = e;
			return rc;
		}
		say(s, FS_SERVE_LOG_ERROR, "%s%s", e.msg, s->cur != NULL ?
		    ": still serving the last good release" : "");
		return FS_OK;
	}
	s->failed[0] = '\0';
	fs_time_format(r->valid_until, vu, sizeof(vu));
	pthread_mutex_lock(&s->lock);
	old = s->cur;
	s->cur = r;
	snprintf(s->cur_target, sizeof(s->cur_target), "%s", target);
	pthread_mutex_unlock(&s->lock);
	fs_release_unref(old);
	/* The parser's tree is gone: give its memory back (glibc). */
	malloc_trim(0);
	if (!initial)
		atomic_fetch_add(&s->m.reloads, 1);
	say(s, FS_SERVE_LOG_INFO, "serving release %s: %zu entities, valid "
	    "until %s", r->id, r->n, r->n > 0 ? vu : "(no entities)");
	return FS_OK;
}

static void *
watch(void *arg)
{
	struct fs_serve *s = arg;
	struct pollfd p[2];
	char buf[4096];
	uint64_t v;
	nfds_t np;

	while (!atomic_load(&s->stopping)) {
		np = 0;
		p[np++] = (struct pollfd){ .fd = s->wakefd, .events = POLLIN };
		if (s->inofd >= 0)
			p[np++] = (struct pollfd){ .fd = s->inofd,
			    .events = POLLIN };
		/* inotify says when current is renamed over; the poll once
		 * a second catches what it cannot see (NFS). */
		(void)poll(p, np, 1000);
		if (read(s->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		if (s->inofd >= 0)
			while (read(s->inofd, buf, sizeof(buf)) > 0)
				;
		if (atomic_load(&s->stopping))
			break;
		check_current(s, 0, NULL);
	}
	return NULL;
}

void
fs_serve_reload(fs_serve *s)
{
	uint64_t one = 1;

	if (s != NULL && write(s->wakefd, &one, sizeof(one)) < 0)
		return;
}

/* --- answers ----------------------------------------------------------- */

static enum MHD_Result
queue(struct MHD_Connection *c, struct req *q, unsigned code,
    struct MHD_Response *resp, uint64_t bytes)
{
	enum MHD_Result ok;

	if (resp == NULL)
		return MHD_NO;
	q->code = (int)code;
	q->bytes = bytes;
	ok = MHD_queue_response(c, code, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* A short text answer (an error, mostly); body is static. */
static enum MHD_Result
send_text(struct MHD_Connection *c, struct req *q, unsigned code,
    const char *body, const char *cache)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
	    "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", cache);
	if (code == 405)
		MHD_add_response_header(resp, "Allow", "GET, HEAD");
	if (code == 503)
		MHD_add_response_header(resp, "Retry-After", "60");
	return queue(c, q, code, resp, strlen(body));
}

/* An answer of len bytes at body (malloc'd, freed here) not to be cached. */
static enum MHD_Result
send_owned(struct MHD_Connection *c, struct req *q, unsigned code,
    char *body, size_t len, const char *type)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return queue(c, q, code, resp, len);
}

/* A 400 saying why: the reason is one of fs_mdq_parse_path's. */
static enum MHD_Result
send_bad(struct MHD_Connection *c, struct req *q, const char *why)
{
	char *body;
	size_t len;

	if ((len = (size_t)asprintf(&body, "bad request: %s\n", why)) ==
	    (size_t)-1)
		return MHD_NO;
	return send_owned(c, q, 400, body, len, "text/plain; charset=utf-8");
}

static void
etag_of(const uint8_t sha[32], const char *suffix, char *buf, size_t len)
{
	char hex[65];

	fs_hex(sha, 32, hex, sizeof(hex));
	snprintf(buf, len, "\"%s%s\"", hex, suffix);
}

/* What one answer sends: a file of the release and its headers. */
struct doc {
	int dirfd;
	char name[64];
	const char *ctype;
	const char *encoding;		/* "gzip" or NULL */
	char etag[80];
	int64_t mtime;
	int64_t max_age;
};

/* Bodies up to this are read into the response, larger ones sendfile'd. */
#define SMALL_BODY	(64 * 1024)

/* A response holding all size bytes of fd, or NULL (short read, no memory). */
static struct MHD_Response *
small_response(int fd, size_t size)
{
	struct MHD_Response *resp;
	size_t got = 0;
	ssize_t n;
	char *buf;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return NULL;
	while (got < size) {
		n = pread(fd, buf + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return NULL;
		}
		got += (size_t)n;
	}
	resp = MHD_create_response_from_buffer(size, buf,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		free(buf);
	return resp;
}

static enum MHD_Result
send_doc(struct MHD_Connection *c, struct req *q, const struct doc *d)
{
	struct MHD_Response *resp;
	const char *inm, *ims;
	char date[40], cc[40];
	struct stat st;
	time_t t;
	int fd, notmod = 0;

	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm != NULL)
		notmod = fs_mdq_etag_match(inm, d->etag);
	else if ((ims = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_MODIFIED_SINCE)) != NULL &&
	    fs_mdq_parse_http_date(ims, &t) == 0 && d->mtime <= (int64_t)t)
		notmod = 1;
	if (notmod) {
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
	} else {
		fd = openat(d->dirfd, d->name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			if (fd >= 0)
				close(fd);
			return send_text(c, q, 503, "the release is being "
			    "removed: try again\n", "no-store");
		}
		if (st.st_size <= SMALL_BODY) {
			/*
			 * A document (a few kB): read, then sent with its
			 * headers in one segment, which costs the client and
			 * the loopback less than headers and sendfile apart.
			 */
			resp = small_response(fd, (size_t)st.st_size);
			close(fd);
			if (resp == NULL)
				return send_text(c, q, 503, "the release is "
				    "being removed: try again\n", "no-store");
		} else if ((resp = MHD_create_response_from_fd(
		    (size_t)st.st_size, fd)) == NULL) {
			close(fd);
			return MHD_NO;
		}
		q->bytes = (uint64_t)st.st_size;
	}
	if (resp == NULL)
		return MHD_NO;
	fs_mdq_format_http_date((time_t)d->mtime, date, sizeof(date));
	snprintf(cc, sizeof(cc), "max-age=%lld", (long long)d->max_age);
	/* A 304 carries what a cache updates, not the representation's
	 * metadata (RFC 9110 15.4.5). */
	if (!notmod)
		MHD_add_response_header(resp, "Content-Type", d->ctype);
	MHD_add_response_header(resp, "ETag", d->etag);
	MHD_add_response_header(resp, "Last-Modified", date);
	MHD_add_response_header(resp, "Cache-Control", cc);
	MHD_add_response_header(resp, "Vary", "Accept, Accept-Encoding");
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	if (d->encoding != NULL && !notmod)
		MHD_add_response_header(resp, "Content-Encoding", d->encoding);
	if (notmod)
		return queue(c, q, 304, resp, 0);
	return queue(c, q, 200, resp, q->bytes);
}

static enum MHD_Result
answer_entities(struct fs_serve *s, struct MHD_Connection *c, struct req *q,
    const struct fs_mdq_req *p, int head)
{
	const struct fs_entity *e = NULL;
	struct fs_release *r;
	enum fs_mdq_rep rep;
	enum MHD_Result ok;
	struct doc d = { 0 };
	char hex[41];
	int gz;
	time_t now = time(NULL);

	if ((r = take_release(s)) == NULL)
		return send_text(c, q, 503, "no release has been published "
		    "yet\n", "no-store");
	if (p->kind != FS_MDQ_ALL) {
		e = fs_release_find(r, p->sha1);
		if (e != NULL && p->kind == FS_MDQ_ID && (e->id_len !=
		    p->idlen || memcmp(fs_entity_id(r, e), p->id, p->idlen)))
			e = NULL;
		if (e == NULL) {
			fs_release_unref(r);
			return send_text(c, q, 404, "no such entity\n",
			    "max-age=60");
		}
	} else if (r->all_xml.f.size < 0) {
		fs_release_unref(r);
		return send_text(c, q, 404, "no aggregate of all entities in "
		    "this release\n", "max-age=60");
	}
	rep = fs_mdq_negotiate(MHD_lookup_connection_value(c,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT), e != NULL ?
	    e->json.size >= 0 : r->all_json.f.size >= 0);
	if (rep == FS_REP_NONE) {
		fs_release_unref(r);
		return send_text(c, q, 406, "acceptable: "
		    "application/samlmetadata+xml, application/json\n",
		    "no-store");
	}
	gz = rep == FS_REP_XML && fs_mdq_accepts_gzip(
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT_ENCODING));
	if (e != NULL) {
		d.dirfd = r->entfd;
		fs_hex(e->sha1, 20, hex, sizeof(hex));
		d.max_age = fs_mdq_max_age(e->cache_duration, ENTITY_CACHE,
		    (time_t)e->valid_until, now);
		if (rep == FS_REP_JSON) {
			snprintf(d.name, sizeof(d.name), "{sha1}%s.json", hex);
			d.ctype = "application/json";
			etag_of(e->json_sha256, "", d.etag, sizeof(d.etag));
			d.mtime = e->json.mtime;
		} else if (gz && e->gz.size >= 0) {
			snprintf(d.name, sizeof(d.name), "{sha1}%s.gz", hex);
			d.ctype = "application/samlmetadata+xml";
			d.encoding = "gzip";
			etag_of(e->sha256, "-gzip", d.etag, sizeof(d.etag));
			d.mtime = e->gz.mtime;
		} else {
			snprintf(d.name, sizeof(d.name), "{sha1}%s", hex);
			d.ctype = "application/samlmetadata+xml";
			etag_of(e->sha256, "", d.etag, sizeof(d.etag));
			d.mtime = e->xml.mtime;
		}
	} else {
		d.dirfd = r->dirfd;
		d.max_age = fs_mdq_max_age(r->agg_cache, ENTITY_CACHE,
		    r->valid_until, now);
		if (rep == FS_REP_JSON) {
			snprintf(d.name, sizeof(d.name), "entities.json");
			d.ctype = "application/json";
			etag_of(r->all_json.sha256, "", d.etag,
			    sizeof(d.etag));
			d.mtime = r->all_json.f.mtime;
		} else if (gz && r->all_gz.f.size >= 0) {
			snprintf(d.name, sizeof(d.name), "entities.xml.gz");
			d.ctype = "application/samlmetadata+xml";
			d.encoding = "gzip";
			etag_of(r->all_xml.sha256, "-gzip", d.etag,
			    sizeof(d.etag));
			d.mtime = r->all_gz.f.mtime;
		} else {
			snprintf(d.name, sizeof(d.name), "entities.xml");
			d.ctype = "application/samlmetadata+xml";
			etag_of(r->all_xml.sha256, "", d.etag,
			    sizeof(d.etag));
			d.mtime = r->all_xml.f.mtime;
		}
	}
	(void)head;
	ok = send_doc(c, q, &d);
	fs_release_unref(r);
	return ok;
}

static enum MHD_Result
send_json(struct MHD_Connection *c, struct req *q, unsigned code, json_t *o)
{
	char *body;

	body = o != NULL ? json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER)
	    : NULL;
	json_decref(o);
	if (body == NULL)
		return MHD_NO;
	return send_owned(c, q, code, body, strlen(body), "application/json");
}

static enum MHD_Result
answer_status(struct fs_serve *s, struct MHD_Connection *c, struct req *q)
{
	struct fs_release *r = take_release(s);
	char pub[32], vu[32];
	const char *state;
	time_t now = time(NULL);
	int64_t left;
	json_t *o;

	if (r == NULL)
		return send_json(c, q, 503, json_pack("{s:s,s:s}", "status",
		    "no-release", "message", "no release has been published "
		    "yet"));
	left = (int64_t)r->valid_until - (int64_t)now;
	state = left > s->margin ? "ok" : left > 0 ? "expiring" : "expired";
	fs_time_format(r->published, pub, sizeof(pub));
	fs_time_format(r->valid_until, vu, sizeof(vu));
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "status", state,
	    "release", r->id, "published", pub, "validUntil", vu,
	    "secondsLeft", (json_int_t)left, "margin", (json_int_t)s->margin,
	    "entities", (json_int_t)r->n);
	fs_release_unref(r);
	return send_json(c, q, left > s->margin ? 200 : 503, o);
}

static enum MHD_Result
answer_metrics(struct fs_serve *s, struct MHD_Connection *c, struct req *q)
{
	struct fs_release *r = take_release(s);
	const union MHD_DaemonInfo *di;
	unsigned long conns = 0;
	uint64_t cum = 0;
	time_t now = time(NULL);
	size_t len = 0;
	char *body = NULL;
	FILE *f;

	if ((f = open_memstream(&body, &len)) == NULL) {
		fs_release_unref(r);
		return MHD_NO;
	}
	fprintf(f, "# HELP fedsign_serve_requests_total Requests answered, "
	    "by status code.\n# TYPE fedsign_serve_requests_total counter\n");
	for (size_t i = 0; i < NCODES; i++) {
		if (codes[i] != 0)
			fprintf(f, "fedsign_serve_requests_total{code=\"%d\"} "
			    "%llu\n", codes[i], (unsigned long long)
			    atomic_load(&s->m.by_code[i]));
		else
			fprintf(f, "fedsign_serve_requests_total{code="
			    "\"other\"} %llu\n", (unsigned long long)
			    atomic_load(&s->m.by_code[i]));
	}
	fprintf(f, "# HELP fedsign_serve_sent_bytes_total Bytes of bodies "
	    "sent.\n# TYPE fedsign_serve_sent_bytes_total counter\n"
	    "fedsign_serve_sent_bytes_total %llu\n",
	    (unsigned long long)atomic_load(&s->m.bytes));
	fprintf(f, "# HELP fedsign_serve_request_duration_seconds Time from "
	    "the request's headers to the end of its answer.\n"
	    "# TYPE fedsign_serve_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= NBOUNDS; i++) {
		cum += atomic_load(&s->m.buckets[i]);
		if (i < NBOUNDS)
			fprintf(f, "fedsign_serve_request_duration_seconds_"
			    "bucket{le=\"%g\"} %llu\n", bounds[i] / 1e6,
			    (unsigned long long)cum);
		else
			fprintf(f, "fedsign_serve_request_duration_seconds_"
			    "bucket{le=\"+Inf\"} %llu\n",
			    (unsigned long long)cum);
	}
	fprintf(f, "fedsign_serve_request_duration_seconds_sum %.6f\n"
	    "fedsign_serve_request_duration_seconds_count %llu\n",
	    atomic_load(&s->m.usec) / 1e6, (unsigned long long)cum);
	fprintf(f, "# HELP fedsign_serve_reloads_total Releases switched to "
	    "after the start.\n# TYPE fedsign_serve_reloads_total counter\n"
	    "fedsign_serve_reloads_total %llu\n"
	    "# HELP fedsign_serve_reload_failures_total Releases that could "
	    "not be loaded.\n"
	    "# TYPE fedsign_serve_reload_failures_total counter\n"
	    "fedsign_serve_reload_failures_total %llu\n",
	    (unsigned long long)atomic_load(&s->m.reloads),
	    (unsigned long long)atomic_load(&s->m.reload_failures));
	for (size_t i = 0; i < s->nl; i++)
		if ((di = MHD_get_daemon_info(s->l[i].d,
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS)) != NULL)
			conns += di->num_connections;
	fprintf(f, "# HELP fedsign_serve_connections Open connections.\n"
	    "# TYPE fedsign_serve_connections gauge\n"
	    "fedsign_serve_connections %lu\n", conns);
	if (r != NULL) {
		fprintf(f, "# HELP fedsign_serve_release_age_seconds Seconds "
		    "since the served release was published.\n"
		    "# TYPE fedsign_serve_release_age_seconds gauge\n"
		    "fedsign_serve_release_age_seconds %lld\n"
		    "# HELP fedsign_serve_release_valid_seconds Seconds until "
		    "the earliest validUntil of the served release.\n"
		    "# TYPE fedsign_serve_release_valid_seconds gauge\n"
		    "fedsign_serve_release_valid_seconds %lld\n"
		    "# HELP fedsign_serve_entities Entities in the served "
		    "release.\n# TYPE fedsign_serve_entities gauge\n"
		    "fedsign_serve_entities %zu\n"
		    "# HELP fedsign_serve_index_bytes Memory held by the "
		    "served release's index.\n"
		    "# TYPE fedsign_serve_index_bytes gauge\n"
		    "fedsign_serve_index_bytes %zu\n",
		    (long long)(now - r->published),
		    (long long)(r->valid_until - now), r->n, r->mem);
		fs_release_unref(r);
	}
	if (fclose(f) != 0 || body == NULL) {
		free(body);
		return MHD_NO;
	}
	return send_owned(c, q, 200, body, len,
	    "text/plain; version=0.0.4; charset=utf-8");
}

/* The access log's first half: who asked what. */
static char *
log_line(struct MHD_Connection *c, const char *method, const char *url)
{
	const union MHD_ConnectionInfo *ci;
	char ip[INET6_ADDRSTRLEN] = "-", *line;
	const struct sockaddr *sa;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && (sa = ci->client_addr) != NULL) {
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    (const void *)sa)->sin_addr, ip, sizeof(ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    (const void *)sa)->sin6_addr, ip, sizeof(ip));
	}
	if (asprintf(&line, "%s %.16s %.512s%s", ip, method, url,
	    strlen(url) > 512 ? "..." : "") < 0)
		return NULL;
	return line;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct fs_serve *s = cls;
	struct fs_mdq_req *p;
	struct req *q = *req_cls;
	enum MHD_Result ok;
	int head;

	(void)version;
	(void)upload;
	if (q == NULL)
		return MHD_NO;		/* out of memory in uri_seen */
	if (!q->started) {
		q->started = 1;
		if (s->access_log)
			q->line = log_line(c, method, url);
		head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
		/*
		 * Other methods are refused at once, which also closes the
		 * connection (their body is not read); GET and HEAD are
		 * answered on the next call, after the whole request, so
		 * that the connection is kept alive.
		 */
		if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return send_text(c, q, 405, "only GET and HEAD\n",
			    "no-store");
		return MHD_YES;
	}
	if (*upload_size != 0) {
		/* A body on a GET: read and dropped. */
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->code != 0)
		return MHD_YES;
	head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if ((p = malloc(sizeof(*p))) == NULL)
		return MHD_NO;
	fs_mdq_parse_path(url, p);
	if (q->nul) {
		p->kind = FS_MDQ_BAD;
		p->why = "a NUL byte in the path";
	}
	switch (p->kind) {
	case FS_MDQ_ALL:
	case FS_MDQ_ID:
	case FS_MDQ_SHA1:
		ok = answer_entities(s, c, q, p, head);
		break;
	case FS_MDQ_BAD:
		ok = send_bad(c, q, p->why);
		break;
	case FS_MDQ_STATUS:
		ok = answer_status(s, c, q);
		break;
	case FS_MDQ_METRICS:
		ok = answer_metrics(s, c, q);
		break;
	default:
		ok = send_text(c, q, 404, "not found: MDQ answers "
		    "/entities/{entityID}, /status and /metrics\n",
		    "max-age=60");
		break;
	}
	free(p);
	return ok;
}

static void
completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct fs_serve *s = cls;
	struct req *q = *req_cls;
	struct timespec t1;
	uint64_t us;
	size_t i;

	(void)c;
	if (q == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (uint64_t)(t1.tv_sec - q->t0.tv_sec) * 1000000u +
	    (uint64_t)((t1.tv_nsec - q->t0.tv_nsec) / 1000);
	for (i = 0; i + 1 < NCODES && codes[i] != q->code; i++)
		;
	atomic_fetch_add_explicit(&s->m.by_code[i], 1, memory_order_relaxed);
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		atomic_fetch_add_explicit(&s->m.bytes, q->bytes,
		    memory_order_relaxed);
	for (i = 0; i < NBOUNDS && us > bounds[i]; i++)
		;
	atomic_fetch_add_explicit(&s->m.buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->m.usec, us, memory_order_relaxed);
	if (q->line != NULL) {
		char now[32];

		fs_time_format(time(NULL), now, sizeof(now));
		say(s, FS_SERVE_LOG_ACCESS, "%s %s %d %llu %.3fms%s", now,
		    q->line,
		    q->code, (unsigned long long)(toe ==
		    MHD_REQUEST_TERMINATED_COMPLETED_OK ? q->bytes : 0),
		    us / 1000.0, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ?
		    "" : " (not completed)");
	}
	free(q->line);
	free(q);
	*req_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

/* --- listening ------------------------------------------------------- */

int
fs_serve_parse_listen(const char *str, void *addr, size_t *len, fs_err *err)
{
	struct sockaddr_storage *ss = addr;
	struct sockaddr_in *v4 = addr;
	struct sockaddr_in6 *v6 = addr;
	struct addrinfo hints = { 0 }, *res = NULL;
	char host[256];
	const char *colon, *port;
	unsigned long pn = 0;
	size_t hl;
	int grc;

	memset(ss, 0, sizeof(*ss));
	if (str[0] == '[') {
		if ((colon = strchr(str, ']')) == NULL || colon[1] != ':')
			return fs_err_set(err, FS_EUSAGE, "listen address "
			    "'%s': write an IPv6 address as [ADDR]:PORT", str);
		hl = (size_t)(colon - str - 1);
		port = colon + 2;
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, str + 1, hl);
	} else {
		if ((colon = strrchr(str, ':')) == NULL)
			return fs_err_set(err, FS_EUSAGE, "listen address "
			    "'%s' has no port: write ADDR:PORT "
			    "(127.0.0.1:8080)", str);
		if (memchr(str, ':', (size_t)(colon - str)) != NULL)
			return fs_err_set(err, FS_EUSAGE, "listen address "
			    "'%s': write an IPv6 address as [ADDR]:PORT", str);
		hl = (size_t)(colon - str);
		port = colon + 1;
		if (hl >= sizeof(host))
			return fs_err_set(err, FS_EUSAGE, "listen address "
			    "'%.64s...' is too long", str);
		memcpy(host, str, hl);
	}
	host[hl] = '\0';
	if (port[0] == '\0' || strlen(port) > 5 ||
	    strspn(port, "0123456789") != strlen(port) ||
	    (pn = strtoul(port, NULL, 10)) > 65535)
		return fs_err_set(err, FS_EUSAGE, "listen address '%s': the "
		    "port must be a number from 0 to 65535", str);
	if (str[0] == '[') {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)pn);
		if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1)
			return fs_err_set(err, FS_EUSAGE, "listen address "
			    "'%s': '%s' is not an IPv6 address", str, host);
		*len = sizeof(*v6);
		return FS_OK;
	}
	v4->sin_family = AF_INET;
	v4->sin_port = htons((uint16_t)pn);
	if (strcmp(host, "*") == 0 || host[0] == '\0') {
		v4->sin_addr.s_addr = htonl(INADDR_ANY);
		*len = sizeof(*v4);
		return FS_OK;
	}
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		*len = sizeof(*v4);
		return FS_OK;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((grc = getaddrinfo(host, NULL, &hints, &res)) != 0 ||
	    res == NULL)
		return fs_err_set(err, FS_EUSAGE, "listen address '%s': "
		    "cannot resolve '%s': %s", str, host, gai_strerror(grc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	if (ss->ss_family == AF_INET)
		v4->sin_port = htons((uint16_t)pn);
	else
		v6->sin6_port = htons((uint16_t)pn);
	freeaddrinfo(res);
	return FS_OK;
}

static int
open_listener(struct fs_serve *s, const char *spec, struct listener *l,
    fs_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t len;
	char ip[INET6_ADDRSTRLEN];
	int one = 1, rc;
	unsigned flags;

	if ((rc = fs_serve_parse_listen(spec, &ss, &len, err)) != FS_OK)
		return rc;
	if ((l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return fs_err_set(err, FS_EIO, "cannot listen on %s: %s", spec,
		    strerror(errno));
	(void)setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&ss, (socklen_t)len) != 0 ||
	    listen(l->fd, 1024) != 0)
		return fs_err_set(err, FS_EIO, "cannot listen on %s: %s%s", spec,
		    strerror(errno), errno == EADDRINUSE ? " (another server "
		    "listens there: stop it, or give another --listen)" :
		    errno == EACCES ? " (a port below 1024 needs root or "
		    "CAP_NET_BIND_SERVICE: use a higher one behind a proxy)" :
		    errno == EADDRNOTAVAIL ? " (no interface of this host has "
		    "that address)" : "");
	sl = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0)
		return fs_err_set(err, FS_EIO, "cannot listen on %s: %s", spec,
		    strerror(errno));
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    ip, sizeof(ip));
		snprintf(l->addr, sizeof(l->addr), "[%s]:%u", ip,
		    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip,
		    sizeof(ip));
		snprintf(l->addr, sizeof(l->addr), "%s:%u", ip,
		    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	l->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
	    MHD_OPTION_LISTEN_SOCKET, l->fd,
	    MHD_OPTION_THREAD_POOL_SIZE, s->threads > 1 ? s->threads : 0u,
	    MHD_OPTION_CONNECTION_LIMIT, s->max_clients,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, s->timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	    MHD_OPTION_URI_LOG_CALLBACK, uri_seen, s,
	    MHD_OPTION_END);
	if (l->d == NULL)
		return fs_err_set(err, FS_EINTERNAL, "cannot start the HTTP "
		    "server on %s (libmicrohttpd refused its options)", spec);
	l->fd = -1;	/* the daemon's now, until it is quiesced */
	return FS_OK;
}

int
fs_serve_start(const struct fs_serve_opts *o, fs_serve **out, fs_err *err)
{
	static const char *const def[] = { FS_SERVE_DEF_LISTEN };
	const char *const *listen = o->nlisten > 0 ? o->listen : def;
	size_t nlisten = o->nlisten > 0 ? o->nlisten : 1;
	struct fs_serve *s;
	long ncpu;
	int rc;

	*out = NULL;
	if (nlisten > FS_SERVE_MAX_LISTEN)
		return fs_err_set(err, FS_EUSAGE, "at most %d listening "
		    "addresses", FS_SERVE_MAX_LISTEN);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return fs_err_nomem(err, "starting the MDQ server");
	s->pubfd = s->inofd = s->wakefd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if ((s->publish_dir = strdup(o->publish_dir)) == NULL) {
		rc = fs_err_nomem(err, "starting the MDQ server");
		goto fail;
	}
	s->max_clients = o->max_clients ? o->max_clients :
	    FS_SERVE_DEF_MAX_CLIENTS;
	s->per_ip = o->per_ip ? o->per_ip : FS_SERVE_DEF_PER_IP;
	s->timeout = o->timeout ? o->timeout : FS_SERVE_DEF_TIMEOUT;
	s->margin = o->status_margin >= 0 ? o->status_margin :
	    FS_SERVE_DEF_MARGIN;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	s->threads = o->threads ? o->threads : ncpu > 0 ? (unsigned)ncpu : 1;
	s->access_log = o->access_log;
	s->log = o->log;
	s->log_ctx = o->log_ctx;
	if ((s->pubfd = open(o->publish_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0) {
		rc = fs_err_set(err, FS_EIO, "cannot open the publish folder "
		    "'%s': %s", o->publish_dir, strerror(errno));
		goto fail;
	}
	if ((s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = fs_err_set(err, FS_EINTERNAL, "eventfd: %s",
		    strerror(errno));
		goto fail;
	}
	if ((s->inofd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) >= 0 &&
	    inotify_add_watch(s->inofd, o->publish_dir, IN_MOVED_TO |
	    IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
		close(s->inofd);
		s->inofd = -1;
	}
	if ((rc = check_current(s, 1, err)) != FS_OK)
		goto fail;
	for (size_t i = 0; i < nlisten; i++) {
		s->l[i].fd = -1;
		if ((rc = open_listener(s, listen[i], &s->l[i], err)) !=
		    FS_OK) {
			if (s->l[i].fd >= 0)
				close(s->l[i].fd);
			goto fail;
		}
		s->nl++;
	}
	if (pthread_create(&s->watcher, NULL, watch, s) != 0) {
		rc = fs_err_set(err, FS_EINTERNAL, "cannot start the thread "
		    "that watches %s/current", o->publish_dir);
		goto fail;
	}
	s->watching = 1;
	*out = s;
	return FS_OK;
fail:
	fs_serve_stop(s);
	return rc;
}

size_t
fs_serve_nlisten(const fs_serve *s)
{
	return s->nl;
}

const char *
fs_serve_address(const fs_serve *s, size_t i)
{
	return i < s->nl ? s->l[i].addr : NULL;
}

void
fs_serve_stop(fs_serve *s)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	MHD_socket fd;

	if (s == NULL)
		return;
	/* No new connections; what is in flight finishes. */
	for (size_t i = 0; i < s->nl; i++)
		if ((fd = MHD_quiesce_daemon(s->l[i].d)) != MHD_INVALID_SOCKET)
			s->l[i].fd = fd;
	for (int i = 0; i < DRAIN_MS / 10 && atomic_load(&s->inflight) > 0;
	    i++)
		nanosleep(&ts, NULL);
	for (size_t i = 0; i < s->nl; i++) {
		MHD_stop_daemon(s->l[i].d);
		if (s->l[i].fd >= 0)
			close(s->l[i].fd);
	}
	atomic_store(&s->stopping, 1);
	if (s->watching) {
		fs_serve_reload(s);
		pthread_join(s->watcher, NULL);
	}
	fs_release_unref(s->cur);
	if (s->inofd >= 0)
		close(s->inofd);
	if (s->wakefd >= 0)
		close(s->wakefd);
	if (s->pubfd >= 0)
		close(s->pubfd);
	pthread_mutex_destroy(&s->lock);
	free(s->publish_dir);
	free(s);
}
