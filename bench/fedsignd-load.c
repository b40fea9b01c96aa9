/*
 * A load client for fedsignd: THREADS threads, each with one kept-alive
 * connection, send signature requests for random SHA-256 digests, for N
 * requests or S seconds, and count the answers and their latency.
 *
 *   fedsignd-load (-u SOCKET | -U URL) -k KEY [-c THREADS] [-n N | -t S]
 *       [-s SECRET-FILE] [-a v1|pyeleven|goeleven|signer] [-T TOKEN]
 *       [-O OBJECT] [-V]
 *
 *   -a v1        POST /v1/keys/KEY/sign (the default)
 *   -a pyeleven  POST /TOKEN/OBJECT/rawsign with a DigestInfo
 *   -a goeleven  POST /TOKEN/OBJECT with a DigestInfo and CKM_RSA_PKCS
 *   -a signer    fedsign's own client (fs_signer_open_remote): the path
 *                `fedsign sign` and `publish` take, verification included
 *   -V           verify every signature with the key's public key
 *
 * prints one line:
 *   requests R ok O busy B unavailable U failed F seconds T rate X
 *   p50_ms A p90_ms B p99_ms C max_ms D
 * and exits 1 when a request failed other than with a 503.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "fedsign/signer.h"

static const char *sock, *url = "http://localhost", *key = "md-signing";
static const char *api = "v1", *token = "", *object = "";
static char auth[1200];
static int threads = 2, verify_all;
static long total = 0;
static double seconds = 0;
static EVP_PKEY *pub;
static fs_signer *signer;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long issued, n_ok, n_busy, n_unavail, n_failed;
static double *lat;
static size_t nlat, caplat;
static double t_end;

static const unsigned char di256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
    0x20 };

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct body {
	char buf[16384];
	size_t len;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	if (b->len + len >= sizeof(b->buf))
		return 0;
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return len;
}

/* Whether another request may start. */
static int
more(void)
{
	int go;

	pthread_mutex_lock(&lock);
	go = total > 0 ? issued < total : now() < t_end;
	if (go)
		issued++;
	pthread_mutex_unlock(&lock);
	return go;
}

static void
record(int outcome, double ms)
{
	pthread_mutex_lock(&lock);
	if (outcome == 200)
		n_ok++;
	else if (outcome == 503)
		n_busy++;
	else if (outcome == 5031)
		n_unavail++;
	else
		n_failed++;
	if (outcome == 200) {
		if (nlat == caplat) {
			caplat = caplat ? caplat * 2 : 4096;
			lat = realloc(lat, caplat * sizeof(*lat));
			if (lat == NULL)
				exit(3);
		}
		lat[nlat++] = ms;
	}
	pthread_mutex_unlock(&lock);
}

static int
check_sig(const unsigned char *d, const char *b64)
{
	unsigned char sig[1024];
	EVP_PKEY_CTX *ctx;
	int n, ok;

	n = EVP_DecodeBlock(sig, (const unsigned char *)b64,
	    (int)strlen(b64));
	if (n <= 0)
		return 0;
	{
		size_t l = strlen(b64);

		n -= (l > 0 && b64[l - 1] == '=') + (l > 1 && b64[l - 2] == '=');
	}
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	ok = ctx != NULL && EVP_PKEY_verify_init(ctx) > 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0 &&
	    EVP_PKEY_verify(ctx, sig, (size_t)n, d, 32) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* c's options for a request to target (the unix socket when -u). */
static void
easy_setup(CURL *c, const char *target, struct curl_slist *h, long timeout,
    struct body *b, char *errbuf)
{
	curl_easy_setopt(c, CURLOPT_URL, target);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	if (sock != NULL)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
}

static void *
run_http(void *arg)
{
	struct curl_slist *h = NULL;
	char target[512], post[512], b64[256], errbuf[CURL_ERROR_SIZE];
	unsigned char d[32], tbs[64];
	struct body b;
	CURL *c;

	(void)arg;
	c = curl_easy_init();
	h = curl_slist_append(h, "Content-Type: application/json");
	if (auth[0])
		h = curl_slist_append(h, auth);
	if (strcmp(api, "v1") == 0)
		snprintf(target, sizeof(target), "%s/v1/keys/%s/sign", url, key);
	else if (strcmp(api, "pyeleven") == 0)
		snprintf(target, sizeof(target), "%s/%s/%s/rawsign", url, token,
		    object);
	else
		snprintf(target, sizeof(target), "%s/%s/%s", url, token, object);
	easy_setup(c, target, h, 120L, &b, errbuf);
	while (more()) {
		long status = 0;
		double t0;
		char *sv;
		int ok;

		RAND_bytes(d, sizeof(d));
		if (strcmp(api, "v1") == 0) {
			EVP_EncodeBlock((unsigned char *)b64, d, 32);
			snprintf(post, sizeof(post), "{\"alg\":\"sha256\","
			    "\"digest\":\"%s\"}", b64);
		} else {
			memcpy(tbs, di256, sizeof(di256));
			memcpy(tbs + sizeof(di256), d, 32);
			EVP_EncodeBlock((unsigned char *)b64, tbs,
			    (int)sizeof(di256) + 32);
			snprintf(post, sizeof(post), strcmp(api, "pyeleven") ==
			    0 ? "{\"mech\":\"RSAPKCS1\",\"data\":\"%s\"}" :
			    "{\"data\":\"%s\",\"mech\":\"CKM_RSA_PKCS\","
			    "\"digest\":\"\",\"function\":\"sign\"}", b64);
		}
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
		b.len = 0;
		b.buf[0] = '\0';
		t0 = now();
		if (curl_easy_perform(c) != CURLE_OK) {
			fprintf(stderr, "fedsignd-load: %s\n", errbuf);
			record(-1, 0);
			continue;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status == 503) {
			record(strstr(b.buf, "queue-full") ? 503 : 5031, 0);
			continue;
		}
		sv = strstr(b.buf, strcmp(api, "v1") == 0 ? "\"signature\":\"" :
		    "\"signed\":\"");
		ok = status == 200 && sv != NULL;
		if (ok && verify_all) {
			char *q;

			sv = strchr(sv + 3, ':') + 2;
			if ((q = strchr(sv, '"')) != NULL)
				*q = '\0';
			ok = check_sig(d, sv);
			if (!ok)
				fprintf(stderr, "fedsignd-load: a signature "
				    "does not verify\n");
		}
		if (!ok)
			fprintf(stderr, "fedsignd-load: HTTP %ld: %.200s\n",
			    status, b.buf);
		record(ok ? 200 : -1, (now() - t0) * 1000);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

static void *
run_signer(void *arg)
{
	unsigned char d[32], *sig;
	size_t siglen;
	fs_err err;

	(void)arg;
	while (more()) {
		double t0 = now();
		int rc;

		RAND_bytes(d, sizeof(d));
		rc = fs_signer_sign_digest(signer, EVP_sha256(), d, 32, 0, &sig,
		    &siglen, &err);
		if (rc != FS_OK) {
			fprintf(stderr, "fedsignd-load: %s\n", err.msg);
			record(strstr(err.msg, "HTTP 503") ? 5031 : -1, 0);
			continue;
		}
		free(sig);
		record(200, (now() - t0) * 1000);
	}
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	size_t i;

	if (nlat == 0)
		return 0;
	i = (size_t)(p * (double)(nlat - 1) + 0.5);
	return lat[i];
}

/* The key's public key, for -V. */
static void
fetch_pub(void)
{
	char target[512], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	struct body b = { .len = 0 };
	const char *pem;
	json_t *j;
	BIO *bio;
	CURL *c = curl_easy_init();

	snprintf(target, sizeof(target), "%s/v1/keys/%s", url, key);
	if (auth[0])
		h = curl_slist_append(h, auth);
	easy_setup(c, target, h, 30L, &b, errbuf);
	if (curl_easy_perform(c) != CURLE_OK ||
	    (j = json_loads(b.buf, 0, NULL)) == NULL ||
	    (pem = json_string_value(json_object_get(j, "public_key"))) ==
	    NULL || (bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, "fedsignd-load: cannot get the public key of "
		    "'%s': %s\n", key, errbuf[0] ? errbuf : "bad answer");
		exit(2);
	}
	BIO_free(bio);
	json_decref(j);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

int
main(int argc, char **argv)
{
	const char *secret_file = NULL;
	pthread_t th[256];
	double t0, t1;
	int ch;

	while ((ch = getopt(argc, argv, "u:U:k:c:n:t:s:a:T:O:V")) != -1) {
		switch (ch) {
		case 'u': sock = optarg; break;
		case 'U': url = optarg; break;
		case 'k': key = optarg; break;
		case 'c': threads = atoi(optarg); break;
		case 'n': total = atol(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 's': secret_file = optarg; break;
		case 'a': api = optarg; break;
		case 'T': token = optarg; break;
		case 'O': object = optarg; break;
		case 'V': verify_all = 1; break;
		default:
			fprintf(stderr, "usage: fedsignd-load (-u SOCKET | -U "
			    "URL) -k KEY [-c THREADS] [-n N | -t SECONDS] [-s "
			    "SECRET-FILE] [-a v1|pyeleven|goeleven|signer] [-T "
			    "TOKEN] [-O OBJECT] [-V]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 256 || (total <= 0 && seconds <= 0))
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (secret_file != NULL) {
		FILE *f = fopen(secret_file, "r");
		char s[1024];

		if (f == NULL || fgets(s, sizeof(s), f) == NULL) {
			fprintf(stderr, "fedsignd-load: cannot read %s\n",
			    secret_file);
			return 2;
		}
		fclose(f);
		s[strcspn(s, "\r\n")] = '\0';
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s);
	}
	if (strcmp(api, "signer") == 0) {
		char uri[1024];
		fs_err err;

		if (sock != NULL)
			snprintf(uri, sizeof(uri), "fedsignd:unix:%s?key=%s",
			    sock, key);
		else
			snprintf(uri, sizeof(uri), "fedsignd:%s/?key=%s", url,
			    key);
		if (secret_file != NULL)
			setenv("FEDSIGND_SECRET_FILE", secret_file, 1);
		if (fs_signer_open_remote(uri, &signer, &err) != FS_OK) {
			fprintf(stderr, "fedsignd-load: %s\n", err.msg);
			return 2;
		}
	} else if (verify_all) {
		fetch_pub();
	}
	t0 = now();
	t_end = t0 + seconds;
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, signer != NULL ? run_signer :
		    run_http, NULL) != 0)
			return 3;
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t1 = now();
	if (nlat > 0)
		qsort(lat, nlat, sizeof(*lat), cmp);
	printf("requests %ld ok %ld busy %ld unavailable %ld failed %ld "
	    "seconds %.3f rate %.1f p50_ms %.3f p90_ms %.3f p99_ms %.3f "
	    "max_ms %.3f\n", n_ok + n_busy + n_unavail + n_failed, n_ok,
	    n_busy, n_unavail, n_failed, t1 - t0, (double)n_ok / (t1 - t0),
	    pct(0.5), pct(0.9), pct(0.99), nlat ? lat[nlat - 1] : 0);
	fs_signer_free(signer);
	EVP_PKEY_free(pub);
	free(lat);
	curl_global_cleanup();
	return n_failed > 0;
}
