#include "publish/fetch.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "fedsign/file.h"

#define MAX_REDIRS		5L
#define MAX_CONNECT_TIMEOUT	30
/* libcurl keeps timeouts in milliseconds in an int; more is refused. */
#define MAX_TIMEOUT		(INT_MAX / 1000)
#define SAFE_URL_LEN		512

/* One transfer: what the callbacks need and what they found. */
struct fetch {
	CURL *curl;
	const struct fs_fetch_req *rq;
	fs_output *out;		/* opened on the first byte of a 200 */
	uint64_t bytes;		/* body bytes received */
	int too_big;		/* over rq->max_size */
	int out_failed;		/* the output could not be opened or written */
	fs_err out_err;		/* why */
	char etag[256];		/* of the latest response, or "" */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void
init_curl(void)
{
	init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
fs_fetch_init(fs_err *err)
{
	if (pthread_once(&init_once, init_curl) != 0)
		return fs_err_set(err, FS_EINTERNAL, "cannot set up libcurl");
	if (init_rc != CURLE_OK)
		return fs_err_set(err, FS_EINTERNAL, "cannot set up libcurl: "
		    "%s", curl_easy_strerror(init_rc));
	return FS_OK;
}

/*
 * url as it may appear in messages: without userinfo, query or fragment
 * (they can hold credentials), control characters replaced, and cut to
 * fit buf.
 */
static void
safe_url(const char *url, char *buf, size_t len)
{
	const char *p = url, *auth, *end, *at;
	size_t n = 0;

	if ((auth = strstr(url, "://")) != NULL &&
	    auth < url + strcspn(url, "/?#"))
		auth += 3;
	else
		auth = url;
	end = auth + strcspn(auth, "/?#");
	at = NULL;
	for (const char *q = auth; q < end; q++)
		if (*q == '@')
			at = q;
	for (; *p != '\0' && *p != '?' && *p != '#'; p++) {
		if (p == auth && at != NULL)
			p = at + 1;
		if (*p == '\0' || *p == '?' || *p == '#')
			break;
		if (n + 4 >= len) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		buf[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '_' : *p;
	}
	buf[n] = '\0';
}

/* A header value fit to send back or to keep: no control characters. */
static int
printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static size_t
on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct fetch *f = arg;
	size_t len = size * nitems, n;
	const char *v;

	/* Each response (a redirect, the final one) starts afresh. */
	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		f->etag[0] = '\0';
		return len;
	}
	if (len < 5 || strncasecmp(buf, "etag:", 5) != 0)
		return len;
	v = buf + 5;
	n = len - 5;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	/* One that does not fit or could not be sent back is dropped. */
	if (n > 0 && n < sizeof(f->etag) && printable(v, n)) {
		memcpy(f->etag, v, n);
		f->etag[n] = '\0';
	} else
		f->etag[0] = '\0';
	return len;
}

static size_t
on_body(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;
	size_t len = size * nmemb;
	long status = 0;

	/*
	 * libcurl skips the bodies of the redirects it follows; any other
	 * response but a 200 stops here and is reported by its status.
	 */
	(void)curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return 0;
	/* Chunked responses have no length for CURLOPT_MAXFILESIZE. */
	if (len > f->rq->max_size - f->bytes) {
		f->too_big = 1;
		return 0;
	}
	if (f->out == NULL && fs_output_open(f->rq->out, 0, &f->out,
	    &f->out_err) != FS_OK) {
		f->out_failed = 1;
		return 0;
	}
	if (fs_output_write(f->out, buf, len, &f->out_err) != FS_OK) {
		f->out_failed = 1;
		return 0;
	}
	f->bytes += len;
	return len;
}

/* libcurl's reason: its error buffer, else the code's text. */
static const char *
reason(char *errbuf, CURLcode cc)
{
	size_t n = strlen(errbuf);

	while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '))
		errbuf[--n] = '\0';
	return n > 0 ? errbuf : curl_easy_strerror(cc);
}

static int
check_req(const struct fs_fetch_req *rq, const char *url, fs_err *err)
{
	if (rq->url == NULL || rq->out == NULL)
		return fs_err_set(err, FS_EUSAGE, "fetch: no URL or no output");
	if (strncasecmp(rq->url, "https://", 8) != 0 &&
	    strncasecmp(rq->url, "http://", 7) != 0)
		return fs_err_set(err, FS_EUSAGE, "cannot fetch '%s': only "
		    "https:// and http:// URLs can be fetched", url);
	if (rq->timeout <= 0)
		return fs_err_set(err, FS_EUSAGE, "cannot fetch '%s': the "
		    "timeout must be at least one second", url);
	if (rq->max_size == 0)
		return fs_err_set(err, FS_EUSAGE, "cannot fetch '%s': the "
		    "size limit must be at least one byte", url);
	if (rq->etag != NULL && !printable(rq->etag, strlen(rq->etag)))
		return fs_err_set(err, FS_EUSAGE, "cannot fetch '%s': the "
		    "ETag holds control characters", url);
	return FS_OK;
}

/* curl_easy_setopt, or FS_EINTERNAL and on to the cleanup. */
#define SETOPT(opt, val) do {						\
	if ((cc = curl_easy_setopt(f.curl, opt, val)) != CURLE_OK) {	\
		rc = fs_err_set(err, FS_EINTERNAL, "cannot fetch '%s': "\
		    "libcurl: %s", url, curl_easy_strerror(cc));	\
		goto out;						\
	}								\
} while (0)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The URL as messages name it, with where it was redirected to. */
static void
where(CURL *curl, const char *safe, char *buf, size_t len)
{
	char eff_safe[SAFE_URL_LEN];
	char *eff = NULL;
	long redirects = 0;

	if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_COUNT, &redirects) ==
	    CURLE_OK && redirects > 0 && curl_easy_getinfo(curl,
	    CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff != NULL) {
		safe_url(eff, eff_safe, sizeof(eff_safe));
		snprintf(buf, len, "'%s' (redirected to '%s')", safe,
		    eff_safe);
	} else
		snprintf(buf, len, "'%s'", safe);
}

int
fs_fetch(const struct fs_fetch_req *rq, struct fs_fetch_res *res, fs_err *err)
{
	char url[SAFE_URL_LEN], at[2 * SAFE_URL_LEN + 32];
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *headers = NULL;
	struct fetch f;
	char *inm = NULL;
	curl_off_t filetime = -1, connect_us = 0;
	double start = now();
	long timeout, status = 0;
	CURLcode cc;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&f, 0, sizeof(f));
	f.rq = rq;
	safe_url(rq->url != NULL ? rq->url : "", url, sizeof(url));
	if ((rc = check_req(rq, url, err)) != FS_OK)
		return rc;
	if ((rc = fs_fetch_init(err)) != FS_OK)
		return rc;
	timeout = rq->timeout > MAX_TIMEOUT ? MAX_TIMEOUT : (long)rq->timeout;
	if ((f.curl = curl_easy_init()) == NULL)
		return fs_err_nomem(err, "starting a fetch");

	errbuf[0] = '\0';
	SETOPT(CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(CURLOPT_URL, rq->url);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_USERAGENT, "fedsign/" FEDSIGN_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
	SETOPT(CURLOPT_MAXREDIRS, MAX_REDIRS);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (rq->ca_file != NULL)
		SETOPT(CURLOPT_CAINFO, rq->ca_file);
	SETOPT(CURLOPT_CONNECTTIMEOUT, timeout < MAX_CONNECT_TIMEOUT ?
	    timeout : (long)MAX_CONNECT_TIMEOUT);
	SETOPT(CURLOPT_TIMEOUT, timeout);
	/* A server that stops sending fails like one that never started. */
	SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SETOPT(CURLOPT_LOW_SPEED_TIME, timeout);
	if (rq->max_size <= (uint64_t)INT64_MAX)
		SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rq->max_size);
	SETOPT(CURLOPT_FILETIME, 1L);
	/*
	 * With an ETag the server must ignore If-Modified-Since (RFC 9110
	 * 13.1.3), and libcurl would turn a 200 for a changed document whose
	 * Last-Modified did not move into a 304 of its own: the date only
	 * goes alone.
	 */
	if (rq->last_modified > 0 && (rq->etag == NULL ||
	    rq->etag[0] == '\0')) {
		SETOPT(CURLOPT_TIMECONDITION, (long)CURL_TIMECOND_IFMODSINCE);
		SETOPT(CURLOPT_TIMEVALUE_LARGE, (curl_off_t)rq->last_modified);
	}
	if (rq->etag != NULL && rq->etag[0] != '\0') {
		size_t n = strlen(rq->etag) + sizeof("If-None-Match: ");

		if ((inm = malloc(n)) == NULL) {
			rc = fs_err_nomem(err, "starting a fetch");
			goto out;
		}
		snprintf(inm, n, "If-None-Match: %s", rq->etag);
		if ((headers = curl_slist_append(NULL, inm)) == NULL) {
			rc = fs_err_nomem(err, "starting a fetch");
			goto out;
		}
		SETOPT(CURLOPT_HTTPHEADER, headers);
	}
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, &f);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, &f);

	cc = curl_easy_perform(f.curl);
	(void)curl_easy_getinfo(f.curl, CURLINFO_RESPONSE_CODE, &status);
	res->status = status;
	res->bytes = f.bytes;
	where(f.curl, url, at, sizeof(at));
	if (f.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = fs_err_set(err, FS_EIO, "cannot fetch %s: the document is "
		    "larger than the limit of %llu bytes", at,
		    (unsigned long long)rq->max_size);
		goto out;
	}
	if (f.out_failed) {
		rc = fs_err_set(err, f.out_err.code, "cannot fetch %s: %s", at,
		    f.out_err.msg);
		goto out;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		/* Not connected yet: the connect timeout was the one. */
		(void)curl_easy_getinfo(f.curl, CURLINFO_CONNECT_TIME_T,
		    &connect_us);
		if (f.bytes > 0)
			rc = fs_err_set(err, FS_EIO, "cannot fetch %s: the "
			    "server did not send the whole document within %ld "
			    "seconds", at, timeout);
		else
			rc = fs_err_set(err, FS_EIO, "cannot fetch %s: the "
			    "server did not answer within %ld seconds", at,
			    connect_us == 0 && timeout > MAX_CONNECT_TIMEOUT ?
			    (long)MAX_CONNECT_TIMEOUT : timeout);
		fs_err_append(err, "%s", reason(errbuf, cc));
		goto out;
	}
	/* A status other than 200 stopped the body (on_body). */
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status != 200)) {
		rc = fs_err_set(err, FS_EIO, "cannot fetch %s: %s", at,
		    reason(errbuf, cc));
		goto out;
	}
	if (status != 200 && status != 304) {
		rc = fs_err_set(err, FS_EIO, "cannot fetch %s: the server "
		    "answered with HTTP status %ld", at, status);
		goto out;
	}
	memcpy(res->etag, f.etag, sizeof(res->etag));
	if (curl_easy_getinfo(f.curl, CURLINFO_FILETIME_T, &filetime) ==
	    CURLE_OK && filetime > 0)
		res->last_modified = (time_t)filetime;
	if (status == 200) {
		/* An empty body never reached on_body. */
		if (f.out == NULL && (rc = fs_output_open(rq->out, 0, &f.out,
		    &f.out_err)) != FS_OK) {
			rc = fs_err_set(err, rc, "cannot fetch %s: %s", at,
			    f.out_err.msg);
			goto out;
		}
		rc = fs_output_commit(f.out, err);
		f.out = NULL;
		if (rc != FS_OK)
			goto out;
	}
	rc = FS_OK;
out:
	fs_output_abort(f.out);
	curl_easy_cleanup(f.curl);
	curl_slist_free_all(headers);
	free(inm);
	res->seconds = now() - start;
	return rc;
}
