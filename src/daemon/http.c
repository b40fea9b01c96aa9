/*
 * The HTTP/1.1 + JSON API, on libmicrohttpd (a thread per connection:
 * a request waits for its signature on its own thread), with jansson.
 *
 *   GET  /status                      200 when every key has a healthy token
 *   GET  /metrics                     Prometheus text
 *   GET  /v1/keys, /v1/keys/NAME      keys: public key, certificate, tokens
 *   POST /v1/keys/NAME/sign           {"alg":"sha256","digest":B64}
 *   POST /TOKEN/KEY/rawsign, /sign    pyeleven: {"mech":"RSAPKCS1","data":B64}
 *   GET  /, /TOKEN                    pyeleven token listings
 *   POST /TOKEN/KEY                   goeleven: {"data":B64,"mech":...,
 *                                     "function":"sign","sharedkey":...}
 *
 * Every error is an HTTP error status with {"error", "detail"}, never a
 * 200.  Requests over TCP carry a client's secret (Authorization: Bearer,
 * PHPH's X-AUTH header, or goeleven's sharedkey); over the unix socket
 * the socket's mode and group decide, and the peer's uid and pid go into
 * the audit log.
 */
#include "daemon/fedsignd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "fedsign/util.h"

#define HEADER_MEMORY	(32 * 1024)
#define DRAIN_MAX	(1024ULL * 1024)	/* too-large bodies read and dropped */

struct fsd_listener {
	char name[160];
	int kind, tls, auth;
	char *path;		/* unix socket, removed at the end */
	int fd;
	SSL_CTX *ctx;
	struct MHD_Daemon *mhd;
	struct fsd_tls *acceptor;
	int quiesced;
};

/* Who is on the other end of a connection. */
struct conn {
	int kind;
	int tls;
	int have_cred;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char addr[96];
};

struct req {
	struct fsd_gen *g;
	char *body;
	size_t len, cap;
	int too_big;
	struct timespec t0;
	int counted;
};

/* --- generations ---------------------------------------------------------- */

static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gen_cv = PTHREAD_COND_INITIALIZER;
static struct fsd_gen *current;
static int draining;
static unsigned active;
static unsigned long long by_status[600];

struct fsd_gen *
fsd_gen_get(void)
{
	struct fsd_gen *g;

	pthread_mutex_lock(&gen_lock);
	if ((g = current) != NULL)
		g->refs++;
	pthread_mutex_unlock(&gen_lock);
	return g;
}

void
fsd_gen_put(struct fsd_gen *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&gen_lock);
	if (--g->refs == 0)
		pthread_cond_broadcast(&gen_cv);
	pthread_mutex_unlock(&gen_lock);
}

struct fsd_gen *
fsd_gen_swap(struct fsd_gen *g)
{
	struct fsd_gen *old;

	pthread_mutex_lock(&gen_lock);
	old = current;
	current = g;
	pthread_mutex_unlock(&gen_lock);
	return old;
}

int
fsd_gen_retire(struct fsd_gen *g)
{
	int done;

	pthread_mutex_lock(&gen_lock);
	g->refs--;
	while (g->refs > 0 && (unsigned)g->refs > fsd_pool_stuck_requests()) {
		struct timespec ts;

		/* The count of stuck requests changes without a signal. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&gen_cv, &gen_lock, &ts);
	}
	done = g->refs == 0;
	pthread_mutex_unlock(&gen_lock);
	return done;
}

void
fsd_http_draining(void)
{
	pthread_mutex_lock(&gen_lock);
	draining = 1;
	pthread_mutex_unlock(&gen_lock);
}

unsigned
fsd_http_active(void)
{
	unsigned n;

	pthread_mutex_lock(&gen_lock);
	n = active;
	pthread_mutex_unlock(&gen_lock);
	return n;
}

void
fsd_http_metrics(struct fsd_buf *b)
{
	fsd_buf_printf(b, "# HELP fedsignd_http_responses_total HTTP "
	    "responses by status.\n# TYPE fedsignd_http_responses_total "
	    "counter\n");
	pthread_mutex_lock(&gen_lock);
	for (int i = 100; i < 600; i++)
		if (by_status[i] > 0)
			fsd_buf_printf(b, "fedsignd_http_responses_total{code="
			    "\"%d\"} %llu\n", i, by_status[i]);
	fsd_buf_printf(b, "# HELP fedsignd_http_active Requests being "
	    "answered.\n# TYPE fedsignd_http_active gauge\n"
	    "fedsignd_http_active %u\n", active);
	pthread_mutex_unlock(&gen_lock);
}

/* --- answers -------------------------------------------------------------- */

static enum MHD_Result
send_body(struct MHD_Connection *c, unsigned status, char *body, size_t len,
    const char *type, int retry_after, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char ra[16];

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"fedsignd\"");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	pthread_mutex_lock(&gen_lock);
	if (status < 600)
		by_status[status]++;
	pthread_mutex_unlock(&gen_lock);
	return ret;
}

/* Send j (taken) as JSON, one line. */
static enum MHD_Result
send_json(struct MHD_Connection *c, unsigned status, json_t *j,
    int retry_after, const char *allow)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;
	char *line;

	json_decref(j);
	if (s == NULL)
		return MHD_NO;
	n = strlen(s);
	if ((line = realloc(s, n + 2)) == NULL) {
		free(s);
		return MHD_NO;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return send_body(c, status, line, n + 1, "application/json",
	    retry_after, allow);
}

static enum MHD_Result
fail(struct MHD_Connection *c, unsigned status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result
fail_ra(struct MHD_Connection *c, unsigned status, const char *code,
    int retry_after, const char *allow, const char *detail)
{
	return send_json(c, status, json_pack("{s:s, s:s}", "error", code,
	    "detail", detail), retry_after, allow);
}

static enum MHD_Result
fail(struct MHD_Connection *c, unsigned status, const char *code,
    const char *fmt, ...)
{
	char detail[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return fail_ra(c, status, code, 0, NULL, detail);
}

/* --- helpers -------------------------------------------------------------- */

/* Base64, white space allowed (Python 2's encode("base64") wraps). */
static int
b64_decode(const char *in, uint8_t **out, size_t *outlen)
{
	size_t n = 0, pad = 0, len = strlen(in);
	char *clean;
	uint8_t *buf;
	int r;

	*out = NULL;
	if (len > (1 << 20) || (clean = malloc(len + 1)) == NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (strchr(" \t\r\n", in[i]) == NULL)
			clean[n++] = in[i];
	clean[n] = '\0';
	if (n == 0 || n % 4 != 0) {
		free(clean);
		return -1;
	}
	pad = (clean[n - 1] == '=') + (clean[n - 2] == '=');
	for (size_t i = 0; i + pad < n; i++)
		if (clean[i] == '=') {
			free(clean);
			return -1;
		}
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL) {
		free(clean);
		return -1;
	}
	r = EVP_DecodeBlock(buf, (unsigned char *)clean, (int)n);
	free(clean);
	if (r < 0 || (size_t)r < pad) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = (size_t)r - pad;
	return 0;
}

static char *
b64_encode(const uint8_t *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

static const EVP_MD *
md_by_name(const char *s)
{
	if (s == NULL)
		return NULL;
	if (strcasecmp(s, "sha256") == 0)
		return EVP_sha256();
	if (strcasecmp(s, "sha384") == 0)
		return EVP_sha384();
	if (strcasecmp(s, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

static const char *
md_label(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha1: return "sha1";
	case NID_sha256: return "sha256";
	case NID_sha384: return "sha384";
	case NID_sha512: return "sha512";
	default: return "?";
	}
}

/*
 * What a legacy client wants signed with CKM_RSA_PKCS: a DigestInfo (as
 * pyXMLSecurity and goeleven's clients send), or a bare digest (as
 * PHPH's signHSM sends, expecting the DER to be added).
 */
static int
parse_tbs(const uint8_t *p, size_t n, int allow_sha1, const EVP_MD **md,
    const uint8_t **d, size_t *dlen, char *why, size_t whylen)
{
	static const int nids[] = { NID_sha256, NID_sha384, NID_sha512,
	    NID_sha1 };
	const uint8_t *prefix;
	size_t plen;

	for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
		const EVP_MD *m = EVP_get_digestbynid(nids[i]);
		size_t ms = (size_t)EVP_MD_get_size(m);

		prefix = fsd_digest_info(nids[i], &plen);
		if ((n == plen + ms && memcmp(p, prefix, plen) == 0) ||
		    n == ms) {
			if (nids[i] == NID_sha1 && !allow_sha1) {
				snprintf(why, whylen, "a SHA-1 digest: fedsignd "
				    "signs sha256, sha384 and sha512 (SHA-1 "
				    "only for a key with allow-sha1: true)");
				return -1;
			}
			*md = m;
			*d = n == ms ? p : p + plen;
			*dlen = ms;
			return 0;
		}
	}
	snprintf(why, whylen, "data of %zu bytes is neither a DigestInfo of "
	    "sha256, sha384 or sha512 nor such a digest alone", n);
	return -1;
}

/* The client's secret from the request, or NULL. */
static const char *
secret_of(struct MHD_Connection *c, json_t *body)
{
	const char *v;

	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (v != NULL && strncasecmp(v, "Bearer ", 7) == 0)
		return v + 7;
	if ((v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-AUTH")) !=
	    NULL && *v != '\0')
		return v;
	if (body != NULL && (v = json_string_value(json_object_get(body,
	    "sharedkey"))) != NULL && *v != '\0')
		return v;
	return NULL;
}

static json_t *
who_json(const struct conn *cn, const struct fsd_client *cl)
{
	if (cn->kind == FSD_UNIX)
		return cn->have_cred ? json_pack("{s:s, s:i, s:i, s:i}",
		    "transport", "unix", "uid", (int)cn->uid, "gid",
		    (int)cn->gid, "pid", (int)cn->pid) :
		    json_pack("{s:s}", "transport", "unix");
	return json_pack("{s:s, s:s, s:s?}", "transport", cn->tls ? "tls" :
	    "tcp", "address", cn->addr, "name", cl != NULL ? cl->name : NULL);
}

static void
who_text(const struct conn *cn, const struct fsd_client *cl, char *buf,
    size_t len)
{
	if (cn->kind == FSD_UNIX)
		snprintf(buf, len, "unix uid=%d pid=%d", cn->have_cred ?
		    (int)cn->uid : -1, cn->have_cred ? (int)cn->pid : -1);
	else
		snprintf(buf, len, "%s %s%s%s", cn->tls ? "tls" : "tcp",
		    cn->addr, cl ? " client=" : "", cl ? cl->name : "");
}

static void
now_iso(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%03dZ", s, (int)(ts.tv_nsec / 1000000));
}

/*
 * Sign for a request and write its audit line; the signature is handed
 * out only once the line is written.  0 when res holds a signature.
 */
static int
sign_audited(struct fsd_key *k, const char *api, const struct conn *cn,
    const struct fsd_client *cl, const EVP_MD *md, const uint8_t *d,
    size_t dlen, struct fsd_sign_res *res)
{
	char when[40], hex[2 * EVP_MAX_MD_SIZE + 1];
	json_t *line;
	int rc;

	fsd_sign(k, md, d, dlen, res);
	now_iso(when, sizeof(when));
	fs_hex(d, dlen, hex, sizeof(hex));
	line = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:i, s:f}",
	    "time", when, "key", fsd_key_name(k), "token", res->token,
	    "serial", res->serial, "client", who_json(cn, cl), "api", api,
	    "alg", md_label(md), "digest", hex, "status", res->status,
	    "seconds", res->seconds);
	if (line == NULL) {
		rc = -1;
	} else {
		json_object_set_new(line, "result", json_string(res->status ==
		    200 ? "ok" : res->code));
		if (res->status != 200)
			json_object_set_new(line, "detail",
			    json_string(res->detail));
		rc = fsd_audit_write(line);
		json_decref(line);
	}
	if (rc != 0) {
		log_errx("cannot write the audit log: %s: the signature of "
		    "key '%s' was not handed out", strerror(errno),
		    fsd_key_name(k));
		free(res->sig);
		res->sig = NULL;
		res->status = 500;
		res->code = "audit-failed";
		snprintf(res->detail, sizeof(res->detail), "the audit log cannot "
		    "be written: nothing is signed until it can");
	}
	return res->status == 200 ? 0 : -1;
}

static enum MHD_Result
send_res_error(struct MHD_Connection *c, const struct fsd_sign_res *res)
{
	return fail_ra(c, (unsigned)res->status, res->code ? res->code :
	    "internal", res->retry_after, NULL, res->detail);
}

/* --- routes --------------------------------------------------------------- */

struct route_ctx {
	struct MHD_Connection *c;
	struct fsd_listener *l;
	struct conn *cn;
	struct req *r;
	struct fsd_gen *g;
	const struct fsd_client *cl;
	json_t *body;		/* the parsed POST body, or NULL */
};

/* Authenticate over TCP: 0 to go on, else the answer is queued. */
static int
authorise(struct route_ctx *x, const char *key, enum MHD_Result *ret)
{
	const char *s;

	if (x->cn->kind == FSD_UNIX || x->l->auth == FSD_AUTH_NONE)
		return 0;
	s = secret_of(x->c, x->body);
	if (s == NULL || (x->cl = fsd_clients_find(x->g->clients, s,
	    strlen(s))) == NULL) {
		*ret = fail(x->c, MHD_HTTP_UNAUTHORIZED, "unauthorized", "%s",
		    s == NULL ? "give the client's secret: Authorization: "
		    "Bearer SECRET" : "unknown secret");
		return -1;
	}
	if (key != NULL && !fsd_client_may(x->cl, key)) {
		*ret = fail(x->c, MHD_HTTP_FORBIDDEN, "forbidden", "client "
		    "'%s' may not use key '%s'", x->cl->name, key);
		return -1;
	}
	return 0;
}

static enum MHD_Result
get_status(struct route_ctx *x)
{
	struct fsd_keyset *ks = x->g->ks;
	json_t *keys = json_object();
	int ok = fsd_keyset_healthy(ks);

	for (size_t i = 0; i < fsd_keyset_count(ks); i++) {
		struct fsd_key *k = fsd_keyset_key(ks, i);

		json_object_set_new(keys, fsd_key_name(k), fsd_key_json(k, 0));
	}
	return send_json(x->c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
	    json_pack("{s:s, s:s, s:i, s:o}", "status", ok ? "ok" :
	    "unavailable", "version", FEDSIGN_VERSION, "pid", (int)getpid(),
	    "keys", keys), ok ? 0 : 5, NULL);
}

static enum MHD_Result
get_metrics(struct route_ctx *x)
{
	struct fsd_buf b = { 0 };

	fsd_keyset_metrics(x->g->ks, &b);
	fsd_http_metrics(&b);
	if (b.failed || b.p == NULL) {
		free(b.p);
		return fail(x->c, 500, "internal", "out of memory");
	}
	return send_body(x->c, MHD_HTTP_OK, b.p, b.len,
	    "text/plain; version=0.0.4; charset=utf-8", 0, NULL);
}

static enum MHD_Result
get_keys(struct route_ctx *x)
{
	json_t *a = json_array();

	for (size_t i = 0; i < fsd_keyset_count(x->g->ks); i++) {
		struct fsd_key *k = fsd_keyset_key(x->g->ks, i);

		if (fsd_client_may(x->cl, fsd_key_name(k)))
			json_array_append_new(a, fsd_key_json(k, 0));
	}
	return send_json(x->c, MHD_HTTP_OK, json_pack("{s:o}", "keys", a), 0,
	    NULL);
}

static enum MHD_Result
v1_sign(struct route_ctx *x, struct fsd_key *k)
{
	const char *alg, *dig;
	struct fsd_sign_res res;
	const EVP_MD *md;
	uint8_t *d = NULL;
	size_t dlen = 0;
	char *b64;
	json_t *ans;

	alg = json_string_value(json_object_get(x->body, "alg"));
	dig = json_string_value(json_object_get(x->body, "digest"));
	if (alg == NULL || dig == NULL)
		return fail(x->c, 400, "bad-request", "give {\"alg\": \"sha256\", "
		    "\"digest\": BASE64}");
	if ((md = md_by_name(alg)) == NULL)
		return fail(x->c, 400, "bad-request", "alg '%.32s': fedsignd "
		    "signs sha256, sha384 and sha512 digests", alg);
	if (b64_decode(dig, &d, &dlen) != 0 ||
	    dlen != (size_t)EVP_MD_get_size(md)) {
		free(d);
		return fail(x->c, 400, "bad-request", "digest: a %s digest is %d "
		    "bytes in base64", alg, EVP_MD_get_size(md));
	}
	if (sign_audited(k, "v1", x->cn, x->cl, md, d, dlen, &res) != 0) {
		free(d);
		return send_res_error(x->c, &res);
	}
	free(d);
	b64 = b64_encode(res.sig, res.siglen);
	free(res.sig);
	ans = json_pack("{s:s, s:s, s:s?, s:s, s:s}", "key", fsd_key_name(k),
	    "alg", md_label(md), "signature", b64, "token", res.token,
	    "serial", res.serial);
	free(b64);
	return send_json(x->c, MHD_HTTP_OK, ans, 0, NULL);
}

/* pyeleven's rawsign and sign, goeleven's sign. */
static enum MHD_Result
legacy_sign(struct route_ctx *x, struct fsd_key *k, const char *api,
    const char *slot, int want_cert)
{
	const char *mech, *data, *fn;
	struct fsd_sign_res res;
	const EVP_MD *md = NULL;
	const uint8_t *d = NULL;
	uint8_t *raw = NULL, hash[EVP_MAX_MD_SIZE];
	unsigned int hlen;
	size_t n = 0, dlen = 0;
	char why[256], *b64;
	json_t *ans;
	int goe = strcmp(api, "goeleven") == 0;

	mech = json_string_value(json_object_get(x->body, "mech"));
	data = json_string_value(json_object_get(x->body, "data"));
	if (goe) {
		fn = json_string_value(json_object_get(x->body, "function"));
		if (fn != NULL && *fn != '\0' && strcmp(fn, "sign") != 0)
			return fail(x->c, 400, "bad-request", "function '%.32s': "
			    "fedsignd only signs", fn);
	}
	if (mech == NULL)
		mech = goe ? "CKM_RSA_PKCS" : "RSAPKCS1";
	if (data == NULL || b64_decode(data, &raw, &n) != 0 || n == 0)
		return fail(x->c, 400, "bad-request", "give \"data\": the bytes "
		    "to sign in base64");
	if (fsd_key_type(k) != FS_KEY_RSA) {
		free(raw);
		return fail(x->c, 400, "bad-request", "key '%s' is not an RSA "
		    "key: use POST /v1/keys/%s/sign", fsd_key_name(k),
		    fsd_key_name(k));
	}
	if (strcmp(mech, "RSAPKCS1") == 0 || strcmp(mech, "CKM_RSA_PKCS") == 0) {
		if (parse_tbs(raw, n, fsd_key_allow_sha1(k), &md, &d, &dlen, why,
		    sizeof(why)) != 0) {
			free(raw);
			return fail(x->c, 400, "bad-request", "%s", why);
		}
	} else if (goe && (strcmp(mech, "CKM_SHA256_RSA_PKCS") == 0 ||
	    strcmp(mech, "CKM_SHA384_RSA_PKCS") == 0 ||
	    strcmp(mech, "CKM_SHA512_RSA_PKCS") == 0 ||
	    strcmp(mech, "CKM_SHA1_RSA_PKCS") == 0)) {
		/* The data itself: hash it here, sign its DigestInfo. */
		md = strstr(mech, "SHA256") ? EVP_sha256() : strstr(mech,
		    "SHA384") ? EVP_sha384() : strstr(mech, "SHA512") ?
		    EVP_sha512() : EVP_sha1();
		if (EVP_MD_get_type(md) == NID_sha1 && !fsd_key_allow_sha1(k)) {
			free(raw);
			return fail(x->c, 400, "bad-request", "CKM_SHA1_RSA_PKCS: "
			    "fedsignd does not sign SHA-1 (only for a key with "
			    "allow-sha1: true)");
		}
		if (EVP_Digest(raw, n, hash, &hlen, md, NULL) != 1) {
			free(raw);
			return fail(x->c, 500, "internal", "digest failed");
		}
		d = hash;
		dlen = hlen;
	} else {
		free(raw);
		return fail(x->c, 400, "bad-request", "mech '%.40s' is not one "
		    "fedsignd signs with: use %s", mech, goe ? "CKM_RSA_PKCS "
		    "(with a DigestInfo) or CKM_SHA256_RSA_PKCS" : "RSAPKCS1 "
		    "(with a DigestInfo)");
	}
	if (want_cert && fsd_key_cert_pem(k) == NULL) {
		free(raw);
		return fail(x->c, 409, "no-certificate", "key '%s' has no "
		    "certificate: give cert: in its configuration, or put one "
		    "on its token", fsd_key_name(k));
	}
	if (sign_audited(k, api, x->cn, x->cl, md, d, dlen, &res) != 0) {
		free(raw);
		return send_res_error(x->c, &res);
	}
	free(raw);
	b64 = b64_encode(res.sig, res.siglen);
	free(res.sig);
	if (goe)
		ans = json_pack("{s:s?}", "signed", b64);
	else
		ans = json_pack("{s:s, s:s?, s:s}", "slot", slot, "signed", b64,
		    "token", res.token);
	if (ans != NULL && want_cert)
		json_object_set_new(ans, "cert", json_string(
		    fsd_key_cert_pem(k)));
	free(b64);
	return send_json(x->c, MHD_HTTP_OK, ans, 0, NULL);
}

/* Split path into at most 4 segments; -1 when there are more. */
static int
split(const char *path, char seg[4][128])
{
	int n = 0;

	if (*path != '/')
		return -1;
	path++;
	if (*path == '\0')
		return 0;
	while (n < 4) {
		size_t l = strcspn(path, "/");

		if (l == 0 || l >= sizeof(seg[0]))
			return -1;
		memcpy(seg[n], path, l);
		seg[n++][l] = '\0';
		path += l;
		if (*path == '\0')
			return n;
		path++;
		if (*path == '\0')
			return n;	/* a trailing '/' */
	}
	return -1;
}

static enum MHD_Result
route(struct route_ctx *x, const char *url, const char *method)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	char seg[4][128];
	struct fsd_key *k;
	enum MHD_Result ret;
	json_error_t je;
	int n = split(url, seg);

	if (n < 0)
		return fail(x->c, 404, "not-found", "no such resource");
	if (!get && !post)
		return fail_ra(x->c, 405, "method-not-allowed", 0, "GET, POST",
		    "use GET or POST");
	if (post) {
		if (x->r->too_big)
			return fail(x->c, 413, "too-large", "the request is "
			    "larger than %llu bytes",
			    (unsigned long long)x->g->conf->max_request);
		x->body = json_loadb(x->r->body != NULL ? x->r->body : "",
		    x->r->len, JSON_REJECT_DUPLICATES, &je);
		if (x->body == NULL || !json_is_object(x->body))
			return fail(x->c, 400, "bad-request", "the body must be "
			    "a JSON object%s%s", x->body ? "" : ": ",
			    x->body ? "" : je.text);
	}
	/* Monitoring, open unless configured otherwise. */
	if (n == 1 && (strcmp(seg[0], "status") == 0 ||
	    strcmp(seg[0], "metrics") == 0)) {
		if (!get)
			return fail_ra(x->c, 405, "method-not-allowed", 0, "GET",
			    "use GET");
		if (x->g->conf->status_needs_secret &&
		    authorise(x, NULL, &ret) != 0)
			return ret;
		return seg[0][0] == 's' ? get_status(x) : get_metrics(x);
	}
	if (n >= 2 && strcmp(seg[0], "v1") == 0 && strcmp(seg[1], "keys") == 0) {
		if (n == 2) {
			if (!get)
				return fail_ra(x->c, 405, "method-not-allowed",
				    0, "GET", "use GET");
			if (authorise(x, NULL, &ret) != 0)
				return ret;
			return get_keys(x);
		}
		if ((k = fsd_keyset_find(x->g->ks, seg[2])) == NULL) {
			if (authorise(x, NULL, &ret) != 0)
				return ret;
			return fail(x->c, 404, "not-found", "no key '%s'",
			    seg[2]);
		}
		if (authorise(x, seg[2], &ret) != 0)
			return ret;
		if (n == 3) {
			if (!get)
				return fail_ra(x->c, 405, "method-not-allowed",
				    0, "GET", "use GET");
			return send_json(x->c, MHD_HTTP_OK, fsd_key_json(k, 1),
			    0, NULL);
		}
		if (n == 4 && strcmp(seg[3], "sign") == 0) {
			if (!post)
				return fail_ra(x->c, 405, "method-not-allowed",
				    0, "POST", "use POST");
			return v1_sign(x, k);
		}
		return fail(x->c, 404, "not-found", "no such resource");
	}
	/* The pyeleven and goeleven dialects. */
	if (n == 0 || (n == 1 && get)) {
		json_t *j;

		if (!get)
			return fail_ra(x->c, 405, "method-not-allowed", 0, "GET",
			    "use GET");
		if (authorise(x, NULL, &ret) != 0)
			return ret;
		if (n == 0)
			return send_json(x->c, MHD_HTTP_OK,
			    fsd_keyset_labels(x->g->ks), 0, NULL);
		if ((j = fsd_keyset_slots(x->g->ks, seg[0])) == NULL)
			return fail(x->c, 404, "not-found", "no token labelled "
			    "'%s'", seg[0]);
		return send_json(x->c, MHD_HTTP_OK, j, 0, NULL);
	}
	if ((n == 2 || (n == 3 && (strcmp(seg[2], "rawsign") == 0 ||
	    strcmp(seg[2], "sign") == 0)))) {
		if (!post)
			return fail_ra(x->c, 405, "method-not-allowed", 0,
			    "POST", "use POST");
		k = fsd_keyset_find_label(x->g->ks, seg[0], seg[1]);
		if (authorise(x, k != NULL ? fsd_key_name(k) : NULL, &ret) !=
		    0)
			return ret;
		if (k == NULL)
			return fail(x->c, 404, "not-found", "no key '%s' on a "
			    "token labelled '%s'", seg[1], seg[0]);
		if (n == 2)
			return legacy_sign(x, k, "goeleven", seg[0], 0);
		return legacy_sign(x, k, "pyeleven", seg[0],
		    strcmp(seg[2], "sign") == 0);
	}
	return fail(x->c, 404, "not-found", "no such resource");
}

/* --- libmicrohttpd callbacks ---------------------------------------------- */

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct fsd_listener *l = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *cn;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		free(*socket_context);
		*socket_context = NULL;
		return;
	}
	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return;
	cn->kind = l->kind;
	cn->tls = l->tls;
	if (l->kind == FSD_UNIX) {
		struct ucred uc;
		socklen_t len = sizeof(uc);

		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL && getsockopt(ci->connect_fd, SOL_SOCKET,
		    SO_PEERCRED, &uc, &len) == 0) {
			cn->have_cred = 1;
			cn->pid = uc.pid;
			cn->uid = uc.uid;
			cn->gid = uc.gid;
		}
		snprintf(cn->addr, sizeof(cn->addr), "unix");
	} else {
		char host[64] = "?", port[16] = "?";

		ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL && ci->client_addr != NULL)
			(void)getnameinfo(ci->client_addr,
			    ci->client_addr->sa_family == AF_INET6 ?
			    sizeof(struct sockaddr_in6) :
			    sizeof(struct sockaddr_in), host, sizeof(host),
			    port, sizeof(port), NI_NUMERICHOST |
			    NI_NUMERICSERV);
		snprintf(cn->addr, sizeof(cn->addr), "%s%s%s:%s",
		    strchr(host, ':') ? "[" : "", host,
		    strchr(host, ':') ? "]" : "", port);
	}
	*socket_context = cn;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **ptr,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *ptr;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	fsd_gen_put(r->g);
	pthread_mutex_lock(&gen_lock);
	if (r->counted)
		active--;
	pthread_mutex_unlock(&gen_lock);
	free(r->body);
	free(r);
	*ptr = NULL;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **ptr)
{
	struct fsd_listener *l = cls;
	struct req *r = *ptr;
	struct route_ctx x;
	const union MHD_ConnectionInfo *ci;
	struct conn none = { 0 };
	enum MHD_Result ret;
	struct timespec t1;
	char who[160], safe[300];
	int stop;

	(void)version;
	if (r == NULL) {
		unsigned long long n;
		const char *cl;

		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*ptr = r;
		clock_gettime(CLOCK_MONOTONIC, &r->t0);
		pthread_mutex_lock(&gen_lock);
		stop = draining;
		if (!stop) {
			active++;
			r->counted = 1;
		}
		pthread_mutex_unlock(&gen_lock);
		if (stop || (r->g = fsd_gen_get()) == NULL)
			return fail_ra(c, 503, "shutting-down", 1, NULL,
			    "fedsignd is stopping");
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && (n = strtoull(cl, NULL, 10)) >
		    r->g->conf->max_request) {
			/*
			 * Answered before the body is read, the client may
			 * still be sending it when the connection closes, and
			 * see a reset instead of the 413.  A body up to
			 * DRAIN_MAX is read and thrown away first.
			 */
			if (n > DRAIN_MAX)
				return fail(c, 413, "too-large", "the request "
				    "is larger than %llu bytes",
				    (unsigned long long)
				    r->g->conf->max_request);
			r->too_big = 1;
		}
		return MHD_YES;
	}
	if (r->g == NULL)
		return MHD_NO;
	if (*upload_size > 0) {
		if (!r->too_big && r->len + *upload_size >
		    r->g->conf->max_request) {
			r->too_big = 1;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
		}
		if (!r->too_big) {
			if (r->len + *upload_size + 1 > r->cap) {
				size_t cap = (r->len + *upload_size + 1) * 2;
				char *b = realloc(r->body, cap);

				if (b == NULL)
					return MHD_NO;
				r->body = b;
				r->cap = cap;
			}
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.l = l;
	x.cn = ci != NULL && ci->socket_context != NULL ? ci->socket_context :
	    &none;
	if (x.cn == &none)
		none.kind = l->kind;
	x.r = r;
	x.g = r->g;
	ret = route(&x, url, method);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	who_text(x.cn, x.cl, who, sizeof(who));
	log_debug("%s %s %s %.4fs", who, method, fs_escape(url, safe,
	    sizeof(safe)), (double)(t1.tv_sec - r->t0.tv_sec) +
	    (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e9);
	json_decref(x.body);
	return ret;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/* --- listeners ------------------------------------------------------------ */

const char *
fsd_listen_name(const struct fsd_listener *l)
{
	return l->name;
}

static int
open_unix(struct fsd_listener *l, const struct fsd_conf *conf,
    const struct fsd_listen_conf *lc, fs_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	gid_t gid = (gid_t)-1;
	mode_t old;

	if (conf->socket_group != NULL) {
		struct group *gr = getgrnam(conf->socket_group);

		if (gr == NULL)
			return fs_err_set(err, FS_EUSAGE, "socket-group '%s': no "
			    "such group", conf->socket_group);
		gid = gr->gr_gid;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", lc->path);
	if (lstat(lc->path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode))
			return fs_err_set(err, FS_EIO, "'%s' exists and is not a "
			    "socket: remove it or choose another path",
			    lc->path);
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sa,
		    sizeof(sa)) == 0) {
			close(probe);
			return fs_err_set(err, FS_EIO, "'%s' is in use: is "
			    "another fedsignd running?", lc->path);
		}
		if (probe != -1)
			close(probe);
		(void)unlink(lc->path);
	}
	if ((l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return fs_err_set(err, FS_EIO, "socket: %s", strerror(errno));
	old = umask(0177);
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		umask(old);
		return fs_err_set(err, FS_EIO, "cannot bind '%s': %s", lc->path,
		    strerror(errno));
	}
	umask(old);
	if ((l->path = strdup(lc->path)) == NULL)
		return fs_err_nomem(err, "opening a socket");
	if (gid != (gid_t)-1 && chown(lc->path, (uid_t)-1, gid) == -1)
		return fs_err_set(err, FS_EIO, "cannot give '%s' to group '%s': "
		    "%s", lc->path, conf->socket_group, strerror(errno));
	if (chmod(lc->path, (mode_t)conf->socket_mode) == -1)
		return fs_err_set(err, FS_EIO, "cannot chmod '%s': %s", lc->path,
		    strerror(errno));
	if (listen(l->fd, 128) == -1)
		return fs_err_set(err, FS_EIO, "cannot listen on '%s': %s",
		    lc->path, strerror(errno));
	return FS_OK;
}

static int
open_tcp(struct fsd_listener *l, const struct fsd_listen_conf *lc,
    fs_err *err)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	int one = 1, r;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(lc->host, lc->port, &hints, &ai)) != 0)
		return fs_err_set(err, FS_EUSAGE, "listen '%s': %s", lc->spec,
		    gai_strerror(r));
	l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd == -1) {
		freeaddrinfo(ai);
		return fs_err_set(err, FS_EIO, "socket: %s", strerror(errno));
	}
	(void)setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(l->fd, 128) == -1) {
		int e = errno;

		freeaddrinfo(ai);
		return fs_err_set(err, FS_EIO, "cannot listen on '%s': %s",
		    lc->spec, strerror(e));
	}
	freeaddrinfo(ai);
	return FS_OK;
}

int
fsd_listen_open(const struct fsd_conf *conf, const struct fsd_listen_conf *lc,
    SSL_CTX *tls, struct fsd_listener **out, fs_err *err)
{
	struct fsd_listener *l;
	int rc;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return fs_err_nomem(err, "opening a socket");
	l->fd = -1;
	l->kind = lc->kind;
	l->tls = lc->tls;
	l->auth = lc->auth;
	snprintf(l->name, sizeof(l->name), "%s%s%s", lc->spec, l->tls ?
	    " (TLS)" : "", l->kind == FSD_TCP && l->auth == FSD_AUTH_NONE ?
	    " (no secrets)" : "");
	if (l->tls) {
		l->ctx = tls;
		SSL_CTX_up_ref(tls);
	}
	rc = lc->kind == FSD_UNIX ? open_unix(l, conf, lc, err) :
	    open_tcp(l, lc, err);
	if (rc != FS_OK) {
		fsd_listen_free(l);
		return rc;
	}
	*out = l;
	return FS_OK;
}

int
fsd_listen_start(struct fsd_listener *l, const struct fsd_conf *conf,
    fs_err *err)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
	    MHD_USE_ERROR_LOG;
	unsigned limit = conf->max_connections;
	unsigned timeout = (unsigned)conf->request_timeout;
	unsigned per_ip = l->kind == FSD_TCP && !l->tls ? limit : 0;

	struct MHD_OptionItem o[12];
	int n = 0;

	if (l->tls)
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	else
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET,
		    l->fd, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, limit,
	    NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
	    timeout, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    HEADER_MEMORY, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_STACK_SIZE,
	    512 * 1024, NULL };
	if (per_ip)
		o[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
	    MHD_OPTION_ARRAY, o, MHD_OPTION_END);
	if (l->mhd == NULL)
		return fs_err_set(err, FS_EINTERNAL, "cannot start the HTTP "
		    "server on '%s'", l->name);
	if (l->tls)
		return fsd_tls_start(l->fd, l->ctx, l->mhd, limit,
		    conf->request_timeout, l->name, &l->acceptor, err);
	return FS_OK;
}

void
fsd_listen_quiesce(struct fsd_listener *l)
{
	if (l == NULL || l->quiesced)
		return;
	l->quiesced = 1;
	if (l->acceptor != NULL)
		fsd_tls_quiesce(l->acceptor);
	else if (l->mhd != NULL)
		(void)MHD_quiesce_daemon(l->mhd);
	if (l->path != NULL && unlink(l->path) == -1 && errno != ENOENT)
		log_debug("cannot remove '%s': %s", l->path, strerror(errno));
}

void
fsd_listen_free(struct fsd_listener *l)
{
	if (l == NULL)
		return;
	fsd_listen_quiesce(l);
	if (l->mhd != NULL)
		MHD_stop_daemon(l->mhd);
	if (l->acceptor != NULL)
		fsd_tls_stop(l->acceptor);
	if (l->fd != -1)
		close(l->fd);
	SSL_CTX_free(l->ctx);
	free(l->path);
	free(l);
}
