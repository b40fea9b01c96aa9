/*
 * Signer backend: a key held by fedsignd.  No token and no PIN in this
 * process: digests go to the daemon over HTTP (a unix socket, or TCP with
 * TLS and a bearer secret) and signatures come back, to be verified here
 * with the public key the daemon gave at open before they are used.
 *
 *   fedsignd:unix:/run/fedsignd/sock?key=NAME
 *   fedsignd:https://host:8443/?key=NAME[&ca-file=/etc/ssl/fedsignd-ca.pem]
 *   fedsignd:http://127.0.0.1:8080/?key=NAME     (loopback addresses only)
 *
 * Over TCP the secret is the first line of the file FEDSIGND_SECRET_FILE
 * names.  Several threads may sign at once: each call takes a libcurl
 * handle from a small pool, so connections are kept alive and reused.
 */
#include "signer/signer_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "fedsign/util.h"

#define POOL_MAX	FS_TOKEN_MAX_SESSIONS
#define BODY_MAX	((size_t)1 << 20)	/* a key's answer is a few KiB */
#define SECRET_MAX	1024
#define TIMEOUT		120L		/* a slow token with a queue */
#define CONNECT_TIMEOUT	10L
#define BUSY_RETRIES	30		/* 503 queue-full: try again */

struct remote {
	char *unix_path;	/* the socket, or NULL for TCP */
	char *base;		/* "http://localhost" or "https://host:8443/pfx" */
	char *key;
	char *ca_file;
	char *auth;		/* "Authorization: Bearer ..." (wiped) */
	char shown[512];	/* the URI for messages */
	char info_url[1024];
	char sign_url[1024];
	struct curl_slist *headers;	/* shared, read-only once made */
	pthread_mutex_t lock;
	CURL *pool[POOL_MAX];
	unsigned npool;
};

struct body {
	char *buf;
	size_t len, cap;
	int too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_rc = CURLE_FAILED_INIT;

static void
init_curl(void)
{
	curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
remote_free(void *impl)
{
	struct remote *r = impl;

	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->npool; i++)
		curl_easy_cleanup(r->pool[i]);
	/* The list holds a copy of the secret. */
	for (struct curl_slist *h = r->headers; h != NULL; h = h->next)
		fs_wipe(h->data, strlen(h->data));
	curl_slist_free_all(r->headers);
	fs_secret_free(r->auth);
	free(r->unix_path);
	free(r->base);
	free(r->key);
	free(r->ca_file);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* A key name as fedsignd allows it: it goes into URL paths unescaped. */
static int
good_name(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
			return 0;
	return 1;
}

static int
loopback(const char *host, size_t n)
{
	static const char *const names[] = { "127.0.0.1", "[::1]", "localhost",
	    NULL };

	for (size_t i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == n && strncasecmp(host, names[i], n) == 0)
			return 1;
	return n > 4 && strncmp(host, "127.", 4) == 0 &&
	    strspn(host, "0123456789.") == n;
}

/* Split uri into where the daemon is and the query attributes. */
static int
parse_uri(struct remote *r, const char *uri, fs_err *err)
{
	const char *rest = uri + strlen("fedsignd:"), *q, *p, *end;
	size_t n;

	q = strchr(rest, '?');
	snprintf(r->shown, sizeof(r->shown), "%.*s", (int)(q != NULL ?
	    (size_t)(q - uri) : strlen(uri)), uri);
	if (q == NULL)
		return fs_err_set(err, FS_EUSAGE, "the fedsignd key URI '%s' "
		    "names no key: add ?key=NAME", r->shown);
	if (strncmp(rest, "unix:", 5) == 0) {
		n = (size_t)(q - rest - 5);
		if (n == 0 || rest[5] != '/')
			return fs_err_set(err, FS_EUSAGE, "'%s': the socket must "
			    "be an absolute path (fedsignd:unix:/run/fedsignd/"
			    "sock?key=NAME)", r->shown);
		if ((r->unix_path = strndup(rest + 5, n)) == NULL ||
		    (r->base = strdup("http://localhost")) == NULL)
			return fs_err_nomem(err, "opening a fedsignd key");
	} else if (strncmp(rest, "https://", 8) == 0 ||
	    strncmp(rest, "http://", 7) == 0) {
		int tls = rest[4] == 's';
		const char *host = rest + (tls ? 8 : 7), *hend;

		hend = host + strcspn(host, "/?");
		if (hend > q)
			hend = q;
		/* The host, without the port. */
		n = (size_t)(hend - host);
		if (host[0] == '[') {
			const char *b = memchr(host, ']', n);
			n = b != NULL ? (size_t)(b - host + 1) : n;
		} else {
			const char *c = memchr(host, ':', n);
			n = c != NULL ? (size_t)(c - host) : n;
		}
		if (n == 0 || memchr(host, '@', (size_t)(hend - host)) != NULL)
			return fs_err_set(err, FS_EUSAGE, "'%s': give the daemon "
			    "as https://HOST:PORT/ (no user name in the URL)",
			    r->shown);
		if (!tls && !loopback(host, n))
			return fs_err_set(err, FS_EUSAGE, "'%s': plain http is "
			    "only for a daemon on this machine (127.0.0.1); use "
			    "https:// for another host", r->shown);
		/* Keep the path as a prefix, without a final '/'. */
		n = (size_t)(q - rest);
		while (n > 0 && rest[n - 1] == '/')
			n--;
		if ((r->base = strndup(rest, n)) == NULL)
			return fs_err_nomem(err, "opening a fedsignd key");
	} else {
		return fs_err_set(err, FS_EUSAGE, "'%s' is not a fedsignd key "
		    "URI: write fedsignd:unix:/run/fedsignd/sock?key=NAME or "
		    "fedsignd:https://HOST:PORT/?key=NAME", r->shown);
	}
	for (p = q + 1; *p != '\0'; p = *end ? end + 1 : end) {
		const char *eq;

		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL)
			return fs_err_set(err, FS_EUSAGE, "'%s': query attribute "
			    "'%.*s' has no value", r->shown, (int)(end - p > 40 ?
			    40 : end - p), p);
		n = (size_t)(eq - p);
		if (n == 3 && strncmp(p, "key", 3) == 0 && r->key == NULL) {
			if (!good_name(eq + 1, (size_t)(end - eq - 1)))
				return fs_err_set(err, FS_EUSAGE, "'%s': the key "
				    "name must be letters, digits, '.', '_' or "
				    "'-'", r->shown);
			r->key = strndup(eq + 1, (size_t)(end - eq - 1));
		} else if (n == 7 && strncmp(p, "ca-file", 7) == 0 &&
		    r->ca_file == NULL && r->unix_path == NULL) {
			r->ca_file = strndup(eq + 1, (size_t)(end - eq - 1));
			if (r->ca_file == NULL)
				return fs_err_nomem(err, "opening a fedsignd key");
		} else {
			return fs_err_set(err, FS_EUSAGE, "'%s': unknown or "
			    "repeated query attribute '%.*s'; fedsignd key URIs "
			    "take key= and, over https, ca-file=", r->shown,
			    (int)(n > 40 ? 40 : n), p);
		}
	}
	if (r->key == NULL)
		return fs_err_set(err, FS_EUSAGE, "the fedsignd key URI '%s' "
		    "names no key: add ?key=NAME", r->shown);
	snprintf(r->shown + strlen(r->shown), sizeof(r->shown) -
	    strlen(r->shown), "?key=%s", r->key);
	snprintf(r->info_url, sizeof(r->info_url), "%s/v1/keys/%s", r->base,
	    r->key);
	snprintf(r->sign_url, sizeof(r->sign_url), "%s/v1/keys/%s/sign",
	    r->base, r->key);
	return FS_OK;
}

/* The bearer secret: the first line of FEDSIGND_SECRET_FILE. */
static int
read_secret(struct remote *r, fs_err *err)
{
	const char *path = getenv("FEDSIGND_SECRET_FILE");
	char buf[SECRET_MAX + 2], *hdr;
	struct stat st;
	size_t len;
	int fd, rc = FS_OK;

	if (path == NULL || *path == '\0')
		return FS_OK;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK);
	if (fd == -1)
		return fs_err_set(err, FS_EIO, "cannot open FEDSIGND_SECRET_FILE "
		    "'%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		rc = fs_err_set(err, FS_EUSAGE, "FEDSIGND_SECRET_FILE '%s' is "
		    "not a regular file", path);
		goto out;
	}
	if (st.st_mode & 007) {
		rc = fs_err_set(err, FS_EUSAGE, "FEDSIGND_SECRET_FILE '%s' can "
		    "be read by others (mode %04o): run 'chmod o-rwx %s' and "
		    "consider a new secret", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (fs_secret_read_line(fd, buf, sizeof(buf)) != 0) {
		rc = fs_err_set(err, FS_EIO, "cannot read FEDSIGND_SECRET_FILE "
		    "'%s': %s", path, strerror(errno));
		goto out;
	}
	len = strlen(buf);
	if (len == 0 || len > SECRET_MAX || strpbrk(buf, " \t") != NULL) {
		rc = fs_err_set(err, FS_EUSAGE, "FEDSIGND_SECRET_FILE '%s': the "
		    "first line must be the secret alone (1 to %d characters, "
		    "no blanks)", path, SECRET_MAX);
		goto out;
	}
	if ((hdr = malloc(len + 32)) == NULL) {
		rc = fs_err_nomem(err, "reading the fedsignd secret");
		goto out;
	}
	snprintf(hdr, len + 32, "Authorization: Bearer %s", buf);
	r->auth = hdr;
out:
	fs_wipe(buf, sizeof(buf));
	close(fd);
	return rc;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	if (b->len + len > BODY_MAX) {
		b->too_big = 1;
		return 0;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *nb = realloc(b->buf, cap);

		if (nb == NULL)
			return 0;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return len;
}

static CURL *
get_handle(struct remote *r)
{
	CURL *c = NULL;

	pthread_mutex_lock(&r->lock);
	if (r->npool > 0)
		c = r->pool[--r->npool];
	pthread_mutex_unlock(&r->lock);
	if (c != NULL)
		return c;
	if ((c = curl_easy_init()) == NULL)
		return NULL;
	if (curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "fedsign/" FEDSIGN_VERSION)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, TIMEOUT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    (r->unix_path != NULL && curl_easy_setopt(c,
	    CURLOPT_UNIX_SOCKET_PATH, r->unix_path) != CURLE_OK) ||
	    (r->ca_file != NULL && curl_easy_setopt(c, CURLOPT_CAINFO,
	    r->ca_file) != CURLE_OK)) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

static void
put_handle(struct remote *r, CURL *c, int keep)
{
	/* Nothing may point at the caller's stack once it returns. */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
	pthread_mutex_lock(&r->lock);
	if (keep && r->npool < POOL_MAX) {
		r->pool[r->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	if (c != NULL)
		curl_easy_cleanup(c);
}

/* The daemon's {error, detail} as text for a message. */
static void
daemon_error(const struct body *b, char *buf, size_t len)
{
	json_t *j = b->buf != NULL ? json_loadb(b->buf, b->len, 0, NULL) :
	    NULL;
	const char *e = NULL, *d = NULL;

	if (j != NULL) {
		e = json_string_value(json_object_get(j, "error"));
		d = json_string_value(json_object_get(j, "detail"));
	}
	snprintf(buf, len, "%s%s%s", e ? e : "no error text", d ? ": " : "",
	    d ? d : "");
	/* What the daemon wrote is shown: no control characters in it. */
	for (char *p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	json_decref(j);
}

/*
 * One request: GET url (post NULL) or POST post; *out is the parsed 200
 * answer (caller's json_decref).  A 503 queue-full is tried again after
 * the daemon's Retry-After.
 */
static int
request(struct remote *r, const char *url, const char *post, json_t **out,
    fs_err *err)
{
	char errbuf[CURL_ERROR_SIZE], detail[512];
	struct body b = { 0 };
	long status = 0;
	CURLcode cc;
	CURL *c;
	int rc = FS_ETOKEN, tries = 0;

	*out = NULL;
	if ((c = get_handle(r)) == NULL)
		return fs_err_nomem(err, "setting up libcurl");
again:
	errbuf[0] = '\0';
	b.len = 0;
	b.too_big = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (post != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		long oserr = 0;

		if (r->unix_path != NULL)
			curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
		if (b.too_big)
			fs_err_set(err, FS_ETOKEN, "fedsignd at '%s' answered "
			    "with more than %zu bytes", r->shown, BODY_MAX);
		else if (r->unix_path != NULL && cc == CURLE_COULDNT_CONNECT &&
		    oserr != 0)
			/* curl would say "localhost port 80": say the socket. */
			fs_err_set(err, FS_ETOKEN, "cannot connect to fedsignd's "
			    "socket '%s': %s (is fedsignd running, and is this "
			    "user in the socket's group?)", r->unix_path,
			    strerror((int)oserr));
		else
			fs_err_set(err, FS_ETOKEN, "cannot reach fedsignd at "
			    "'%s': %s%s", r->shown, errbuf[0] ? errbuf :
			    curl_easy_strerror(cc), r->unix_path != NULL ?
			    " (is fedsignd running, and is this user in the "
			    "socket's group?)" : "");
		put_handle(r, c, 0);
		free(b.buf);
		return FS_ETOKEN;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status == 503 && tries++ < BUSY_RETRIES && b.buf != NULL &&
	    strstr(b.buf, "\"queue-full\"") != NULL) {
		curl_off_t wait = 0;
		struct timespec ts = { 0, 200000000L };

		/* Busy, not broken: wait as the daemon asks (at most 2 s). */
		if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &wait) ==
		    CURLE_OK && wait >= 1)
			ts.tv_sec = wait > 2 ? 2 : (time_t)wait, ts.tv_nsec = 0;
		nanosleep(&ts, NULL);
		goto again;
	}
	if (status != 200) {
		daemon_error(&b, detail, sizeof(detail));
		fs_err_set(err, FS_ETOKEN, "fedsignd at '%s' refused: HTTP "
		    "%ld: %s%s", r->shown, status, detail, status == 401 ?
		    " (set FEDSIGND_SECRET_FILE to a file with this client's "
		    "secret)" : "");
		goto out;
	}
	if ((*out = json_loadb(b.buf != NULL ? b.buf : "", b.len, 0, NULL)) ==
	    NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		fs_err_set(err, FS_ETOKEN, "fedsignd at '%s' answered with "
		    "something that is not JSON", r->shown);
		goto out;
	}
	rc = FS_OK;
out:
	put_handle(r, c, 1);
	free(b.buf);
	return rc;
}

static const char *
md_name(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha256: return "sha256";
	case NID_sha384: return "sha384";
	case NID_sha512: return "sha512";
	default: return NULL;
	}
}

/* Whether sig is the key's signature of the digest d. */
static int
verify(fs_signer *s, const EVP_MD *md, const uint8_t *d, size_t dlen,
    const uint8_t *sig, size_t siglen, fs_err *err)
{
	int rc;

	if (s->type == FS_KEY_EC && siglen != 2 * ((s->bits + 7) / 8))
		return fs_err_set(err, FS_ETOKEN, "fedsignd returned an "
		    "ECDSA signature of %zu bytes for a %u-bit key",
		    siglen, s->bits);
	rc = fs_digest_verify(s->pub, s->type, s->bits, md, d, dlen, sig,
	    siglen, err);
	if (rc == FS_ENOTVALID)
		return fs_err_set(err, FS_ETOKEN, "the signature fedsignd at "
		    "'%s' returned does not verify with the key's public key: "
		    "nothing was signed", ((struct remote *)s->impl)->shown);
	return rc == FS_OK ? FS_OK : FS_ETOKEN;
}

static int
b64_decode(const char *in, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(in), pad = 0;
	uint8_t *buf;
	int len;

	if (n == 0 || n % 4 != 0 || n > (1 << 20))
		return -1;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL)
		return -1;
	len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
	if (len < 0 || (size_t)len < pad) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = (size_t)len - pad;
	return 0;
}

static int
remote_sign_digest(fs_signer *s, const EVP_MD *md, const uint8_t *d,
    size_t dlen, uint8_t **sig, size_t *siglen, fs_err *err)
{
	struct remote *r = s->impl;
	char b64[EVP_MAX_MD_SIZE * 2 + 8], post[256];
	const char *alg = md_name(md), *v;
	json_t *ans = NULL;
	int rc;

	*sig = NULL;
	if (alg == NULL || dlen > EVP_MAX_MD_SIZE)
		return fs_err_set(err, FS_EUSAGE, "fedsignd signs sha256, "
		    "sha384 and sha512 digests only");
	EVP_EncodeBlock((unsigned char *)b64, d, (int)dlen);
	snprintf(post, sizeof(post), "{\"alg\":\"%s\",\"digest\":\"%s\"}",
	    alg, b64);
	if ((rc = request(r, r->sign_url, post, &ans, err)) != FS_OK)
		return rc;
	v = json_string_value(json_object_get(ans, "signature"));
	if (v == NULL || b64_decode(v, sig, siglen) != 0) {
		json_decref(ans);
		return fs_err_set(err, FS_ETOKEN, "fedsignd at '%s' answered "
		    "without a base64 signature", r->shown);
	}
	json_decref(ans);
	if ((rc = verify(s, md, d, dlen, *sig, *siglen, err)) != FS_OK) {
		free(*sig);
		*sig = NULL;
	}
	return rc;
}

static const struct fs_signer_ops remote_ops = { remote_sign_digest, NULL,
    remote_free };

/* The key's public key and certificate, from GET /v1/keys/NAME. */
static int
load_key(fs_signer *s, struct remote *r, fs_err *err)
{
	const char *pem, *cert;
	EVP_PKEY *pub = NULL;
	json_t *ans = NULL;
	X509 *x = NULL;
	BIO *bio;
	json_int_t par;
	int rc;

	if ((rc = request(r, r->info_url, NULL, &ans, err)) != FS_OK)
		return rc;
	pem = json_string_value(json_object_get(ans, "public_key"));
	if (pem == NULL || (bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		rc = fs_err_set(err, FS_ETOKEN, "fedsignd at '%s' gave no public "
		    "key for key '%s'", r->shown, r->key);
		goto out;
	}
	pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pub == NULL) {
		rc = fs_err_openssl(err, FS_ETOKEN, "fedsignd at '%s' gave a "
		    "public key that cannot be read", r->shown);
		goto out;
	}
	if ((rc = fs_signer_init(s, pub, err)) != FS_OK)
		goto out;
	cert = json_string_value(json_object_get(ans, "certificate"));
	if (cert != NULL && (bio = BIO_new_mem_buf(cert, -1)) != NULL) {
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
		ERR_clear_error();
		if (x == NULL || fs_signer_set_cert(s, x, &s->cert_problem) !=
		    FS_OK) {
			if (x == NULL)
				fs_err_set(&s->cert_problem, FS_ETOKEN, "the "
				    "certificate fedsignd gave for key '%s' "
				    "cannot be read", r->key);
			s->have_cert_problem = 1;
		}
		X509_free(x);
	}
	par = json_integer_value(json_object_get(ans, "parallel"));
	s->parallel = par < 1 ? 1 : par > POOL_MAX ? POOL_MAX : (unsigned)par;
	rc = FS_OK;
out:
	json_decref(ans);
	return rc;
}

int
fs_signer_open_remote(const char *uri, fs_signer **out, fs_err *err)
{
	struct remote *r;
	fs_signer *s;
	int rc;

	*out = NULL;
	if (strncmp(uri, "fedsignd:", 9) != 0)
		return fs_err_set(err, FS_EUSAGE, "not a fedsignd key URI");
	if (pthread_once(&curl_once, init_curl) != 0 || curl_rc != CURLE_OK)
		return fs_err_set(err, FS_EINTERNAL, "cannot set up libcurl");
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (r = calloc(1, sizeof(*r))) == NULL) {
		free(s);
		return fs_err_nomem(err, "opening a fedsignd key");
	}
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		free(s);
		return fs_err_set(err, FS_EINTERNAL, "pthread_mutex_init");
	}
	s->ops = &remote_ops;
	s->impl = r;
	s->token = 1;
	if ((rc = parse_uri(r, uri, err)) != FS_OK)
		goto fail;
	if (r->unix_path == NULL && (rc = read_secret(r, err)) != FS_OK)
		goto fail;
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (r->headers != NULL && r->auth != NULL) {
		struct curl_slist *h = curl_slist_append(r->headers, r->auth);

		if (h == NULL) {
			curl_slist_free_all(r->headers);
			r->headers = NULL;
		}
	}
	if (r->headers == NULL) {
		rc = fs_err_nomem(err, "opening a fedsignd key");
		goto fail;
	}
	if ((rc = load_key(s, r, err)) != FS_OK)
		goto fail;
	*out = s;
	return FS_OK;
fail:
	fs_signer_free(s);
	return rc;
}
