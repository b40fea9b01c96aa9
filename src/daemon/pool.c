/*
 * Keys and their copies on tokens.
 *
 * A key is a name and a list of copies of one key pair on several tokens
 * (two Nitrokey HSMs restored from one backup, SoftHSM2 tokens in
 * tests).  Each copy is one fs_token with its sessions and one login.
 * Each session has a worker thread; requests go to an idle worker of the
 * least busy healthy copy, or wait in the key's bounded queue for the
 * first worker to come free (so a slow token takes fewer).  A copy whose
 * token fails, or whose module does not return within token-timeout
 * (the watchdog sees every call), is marked down at once: its request
 * goes to another copy, and its manager thread closes it and opens it
 * again in the background (a new login, the PIN read again from its
 * file) until the token is back.  Every signature is verified with the
 * key's public key before it is handed out: a token that returns a wrong
 * one is marked down like one that fails.
 *
 * Locks: each key has one mutex over its copies, queue, workers and
 * counters.  The watchdog's mutex may be held while taking a key's, never
 * the other way round: no module is ever called with a key's mutex held.
 */
#include "daemon/fedsignd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include "fedsign/signer.h"
#include "fedsign/util.h"

#define PIN_MAX		256
#define NBUCKETS	14

static const double buckets[NBUCKETS] = { 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

enum copy_state { DOWN = 0, UP = 1 };

struct copy;
struct worker;

/* A thread's call into a module, for the watchdog. */
struct callrec {
	struct callrec *prev, *next;
	struct copy *c;
	struct worker *w;	/* NULL for the manager */
	unsigned gen;
	const char *name;
	struct timespec start;
	int active, fired;
};

struct errcount {
	char name[40];
	uint64_t n;
};

struct job {
	int refs;		/* the requester, the queue, a worker */
	int done;
	const EVP_MD *md;
	int nid;
	uint8_t digest[EVP_MAX_MD_SIZE];
	size_t dlen;
	uint64_t tried;		/* copies that failed it */
	struct worker *w;	/* the worker that has it */
	int queued;
	struct job *next;
	pthread_cond_t cv;
	int status;
	const char *code;
	char detail[512];
	int retry_after;
	uint8_t *sig;
	size_t siglen;
	char token[33], serial[17];
};

struct worker {
	struct copy *c;
	unsigned gen;
	fs_key *k;		/* of its generation */
	pthread_cond_t cv;
	struct job *job;
	int abandoned;		/* the watchdog gave its job to another */
	int idle;
	int lent;		/* its session is in use by a requester */
	int stuck;		/* ... in a call the watchdog gave up on */
	struct worker *next_idle;
	struct callrec rec;
};

struct copy {
	struct fsd_key *key;
	unsigned idx;
	char *uri;		/* as configured, without pin-source */
	char shown[256];	/* without the query, for messages */
	char cfg_label[33];	/* the URI's token= */
	char cfg_object[65];	/* the URI's object= */
	int pin_fd;
	char pin_path[512];
	struct fs_p11_hooks hooks;
	/* the rest under key->lock */
	enum copy_state state;
	fs_token *t;
	fs_key *k;
	unsigned gen;
	unsigned sessions;	/* workers of this generation */
	unsigned alive;		/* worker threads alive, any generation */
	unsigned busy;
	uint64_t assigned;
	char label[33], serial[17];
	char reason[512];
	time_t since;
	struct timespec last_ok;
	time_t check_time;
	int check_ok;
	uint64_t nsig, nfail, checks_ok, checks_failed, opens;
	struct errcount errs[16];
	unsigned nerrs;
	char stuck[96];
	int mgr_running;
	int kick;
	int pin_refused;	/* not tried again until SIGHUP */
	struct timespec next_try;
	pthread_cond_t mcv;
	struct callrec mrec;
};

struct fsd_key {
	int refs;		/* key sets holding it */
	pthread_mutex_t lock;
	pthread_cond_t gone;	/* a thread of the key ended */
	char *name;
	char **uris;
	size_t ncopies;
	struct copy *copies;
	unsigned want_sessions;
	unsigned qmax;
	int allow_sha1;
	char *cert_path;
	EVP_PKEY *pub;
	enum fs_keytype type;
	unsigned bits;
	fs_verifier *ver[3];		/* sha256, sha384, sha512 (key_open) */
	char *pub_pem;
	X509 *cert;
	char *cert_pem;
	/* under lock */
	int started, closing;
	struct worker *idle;
	struct job *qhead, *qtail;
	unsigned qlen;
	uint64_t requests, signed_ok, rejected_full, rejected_down,
	    failed, timeouts;
	uint64_t hist[NBUCKETS];
	uint64_t hist_count;
	double hist_sum;
};

struct fsd_keyset {
	size_t n;
	struct fsd_key **keys;
};

/* --- options and time ----------------------------------------------------- */

static pthread_mutex_t opts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fsd_pool_opts opts = { 30, 5, 10 };
static pthread_condattr_t mono_attr;
static pthread_once_t attr_once = PTHREAD_ONCE_INIT;

void
fsd_pool_set_opts(const struct fsd_pool_opts *o)
{
	pthread_mutex_lock(&opts_lock);
	opts = *o;
	pthread_mutex_unlock(&opts_lock);
}

static struct fsd_pool_opts
get_opts(void)
{
	struct fsd_pool_opts o;

	pthread_mutex_lock(&opts_lock);
	o = opts;
	pthread_mutex_unlock(&opts_lock);
	return o;
}

static void
init_attr(void)
{
	pthread_condattr_init(&mono_attr);
	pthread_condattr_setclock(&mono_attr, CLOCK_MONOTONIC);
}

static void
cond_init(pthread_cond_t *cv)
{
	pthread_once(&attr_once, init_attr);
	pthread_cond_init(cv, &mono_attr);
}

static struct timespec
now_mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static struct timespec
ts_add(struct timespec t, double secs)
{
	t.tv_sec += (time_t)secs;
	t.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static double
ts_diff(struct timespec a, struct timespec b)
{
	return (double)(a.tv_sec - b.tv_sec) +
	    (double)(a.tv_nsec - b.tv_nsec) / 1e9;
}

/* s into dst of n bytes, cut short when it does not fit. */
static void
setstr(char *dst, size_t n, const char *s)
{
	size_t l = strnlen(s, n - 1);

	memcpy(dst, s, l);
	dst[l] = '\0';
}

static void
iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- digests and signatures ----------------------------------------------- */

static const uint8_t di_sha1[] = { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b,
    0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 };
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

const uint8_t *
fsd_digest_info(int nid, size_t *len)
{
	switch (nid) {
	case NID_sha1: *len = sizeof(di_sha1); return di_sha1;
	case NID_sha256: *len = sizeof(di_sha256); return di_sha256;
	case NID_sha384: *len = sizeof(di_sha384); return di_sha384;
	case NID_sha512: *len = sizeof(di_sha512); return di_sha512;
	default: *len = 0; return NULL;
	}
}

/* One signature of d by k (a copy of key): RSA over the DigestInfo. */
static int
raw_sign(const struct fsd_key *key, fs_key *k, int nid, const uint8_t *d,
    size_t dlen, uint8_t **sig, size_t *siglen, fs_err *err)
{
	uint8_t buf[32 + EVP_MAX_MD_SIZE];
	const uint8_t *prefix;
	size_t plen;

	if (key->type == FS_KEY_EC)
		return fs_key_sign(k, CKM_ECDSA, d, dlen, sig, siglen, err);
	prefix = fsd_digest_info(nid, &plen);
	if (prefix == NULL || plen + dlen > sizeof(buf))
		return fs_err_set(err, FS_EUSAGE, "digest not allowed");
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, d, dlen);
	return fs_key_sign(k, CKM_RSA_PKCS, buf, plen + dlen, sig, siglen,
	    err);
}

/* The digests a key's verifiers are made for, in fsd_key.ver's order. */
static const EVP_MD *
verifier_md(int i)
{
	return i == 0 ? EVP_sha256() : i == 1 ? EVP_sha384() : EVP_sha512();
}

/* Whether sig is key's signature of the digest d. */
static int
verify(const struct fsd_key *key, const EVP_MD *md, const uint8_t *d,
    size_t dlen, const uint8_t *sig, size_t siglen)
{
	for (int i = 0; i < 3; i++)
		if (key->ver[i] != NULL &&
		    EVP_MD_get_type(md) == EVP_MD_get_type(verifier_md(i)))
			return fs_verifier_check(key->ver[i], d, dlen, sig,
			    siglen, NULL) == FS_OK;
	return fs_digest_verify(key->pub, key->type, key->bits, md, d, dlen,
	    sig, siglen, NULL) == FS_OK;
}

/* A test signature of a random digest, verified. */
static int
test_sign(const struct fsd_key *key, fs_key *k, fs_err *err)
{
	uint8_t d[32], *sig = NULL;
	size_t siglen;
	int rc;

	if (RAND_bytes(d, sizeof(d)) != 1)
		return fs_err_set(err, FS_EINTERNAL, "RAND_bytes failed");
	if ((rc = raw_sign(key, k, NID_sha256, d, sizeof(d), &sig, &siglen,
	    err)) != FS_OK)
		return rc;
	if (!verify(key, EVP_sha256(), d, sizeof(d), sig, siglen))
		rc = fs_err_set(err, FS_ETOKEN, "the token's test signature "
		    "does not verify with the key's public key");
	free(sig);
	return rc;
}

/* --- the watchdog --------------------------------------------------------- */

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct callrec *wd_head;
static __thread struct callrec *tl_rec;
static int wd_started;
static unsigned stuck_requests;	/* atomic: see fsd_pool_stuck_requests */

static void copy_down(struct copy *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void dispatch(struct fsd_key *k, struct job *j);

static void
wd_register(struct callrec *r)
{
	pthread_mutex_lock(&wd_lock);
	r->prev = NULL;
	r->next = wd_head;
	if (wd_head != NULL)
		wd_head->prev = r;
	wd_head = r;
	pthread_mutex_unlock(&wd_lock);
	tl_rec = r;
}

static void
wd_unregister(struct callrec *r)
{
	pthread_mutex_lock(&wd_lock);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		wd_head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	pthread_mutex_unlock(&wd_lock);
	tl_rec = NULL;
}

static void *
wd_begin(void *ctx, const char *call)
{
	struct callrec *r = tl_rec;

	(void)ctx;
	if (r == NULL)
		return NULL;
	pthread_mutex_lock(&wd_lock);
	r->name = call;
	r->start = now_mono();
	r->active = 1;
	r->fired = 0;
	pthread_mutex_unlock(&wd_lock);
	return r;
}

static void
wd_end(void *ctx, void *cookie)
{
	struct callrec *r = cookie;
	double secs;

	(void)ctx;
	if (r == NULL)
		return;
	pthread_mutex_lock(&wd_lock);
	r->active = 0;
	if (r->fired) {
		secs = ts_diff(now_mono(), r->start);
		pthread_mutex_lock(&r->c->key->lock);
		r->c->stuck[0] = '\0';
		pthread_mutex_unlock(&r->c->key->lock);
		log_warnx("key '%s': token '%s': %s returned after %.0f s",
		    r->c->key->name, r->c->shown, r->name, secs);
	}
	pthread_mutex_unlock(&wd_lock);
}

/* A call that has not returned in time: wd_lock is held. */
static void
fire(struct callrec *r, double secs)
{
	struct copy *c = r->c;
	struct fsd_key *k = c->key;
	struct worker *w = r->w;
	char when[32];

	iso_time(time(NULL) - (time_t)secs, when, sizeof(when));
	pthread_mutex_lock(&k->lock);
	snprintf(c->stuck, sizeof(c->stuck), "in %s since %s", r->name, when);
	if (c->state == UP && r->gen == c->gen)
		copy_down(c, "the module did not return from %s within %.0f "
		    "s", r->name, secs);
	if (w != NULL && w->lent && !w->stuck) {
		/* A requester's own thread is in the call: see sign_lent. */
		w->stuck = 1;
		__atomic_add_fetch(&stuck_requests, 1, __ATOMIC_RELAXED);
	}
	if (w != NULL && w->job != NULL && !w->abandoned) {
		struct job *j = w->job;

		/* Its request goes to another copy; the worker drops it. */
		w->abandoned = 1;
		j->w = NULL;
		j->tried |= 1ULL << c->idx;
		if (!j->done)
			dispatch(k, j);
	}
	pthread_mutex_unlock(&k->lock);
	log_warnx("key '%s': token '%s': the module has not returned from %s "
	    "for %.0f s", k->name, c->shown, r->name, secs);
}

static void *
watchdog(void *arg)
{
	struct timespec tick = { 0, 200000000L }, now;
	int64_t limit;

	(void)arg;
	for (;;) {
		nanosleep(&tick, NULL);
		limit = get_opts().token_timeout;
		now = now_mono();
		pthread_mutex_lock(&wd_lock);
		for (struct callrec *r = wd_head; r != NULL; r = r->next) {
			double secs;

			if (!r->active || r->fired)
				continue;
			secs = ts_diff(now, r->start);
			/* Key generation and logins on a card take longer. */
			if (secs < (double)limit * (strcmp(r->name, "C_Login") ==
			    0 || strcmp(r->name, "C_Initialize") == 0 ? 3 : 1))
				continue;
			r->fired = 1;
			fire(r, secs);
		}
		pthread_mutex_unlock(&wd_lock);
	}
	return NULL;
}

int
fsd_pool_start(fs_err *err)
{
	pthread_attr_t a;
	pthread_t t;
	int rc;

	if (wd_started)
		return FS_OK;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, watchdog, NULL);
	pthread_attr_destroy(&a);
	if (rc != 0)
		return fs_err_set(err, FS_EINTERNAL, "cannot start a thread: %s",
		    strerror(rc));
	wd_started = 1;
	return FS_OK;
}

/* --- modules -------------------------------------------------------------- */

/*
 * Each module stays initialised from the first open of one of its tokens
 * to the exit (p11-kit counts the initialisations of a module), so that
 * closing and opening a token again never finalises its module: OpenSC
 * keeps the connection to pcscd made before privileges were dropped, and
 * a token that comes back is found by the module as it runs.
 */
static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { char *path; CK_FUNCTION_LIST *mod; } pinned[32];
static size_t npinned;
static CK_FUNCTION_LIST **pinned_all;
static int stuck_left;

static void
pin_module(const char *uri)
{
	const char *path;
	P11KitUri *u;

	if ((u = p11_kit_uri_new()) == NULL)
		return;
	if (p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u) != P11_KIT_URI_OK) {
		p11_kit_uri_free(u);
		return;
	}
	path = p11_kit_uri_get_module_path(u);
	pthread_mutex_lock(&mod_lock);
	if (path == NULL) {
		if (pinned_all == NULL)
			pinned_all = p11_kit_modules_load_and_initialize(0);
	} else if (npinned < sizeof(pinned) / sizeof(pinned[0])) {
		size_t i;

		for (i = 0; i < npinned; i++)
			if (strcmp(pinned[i].path, path) == 0)
				break;
		if (i == npinned) {
			CK_FUNCTION_LIST *m = p11_kit_module_load(path, 0);

			if (m != NULL && p11_kit_module_initialize(m) != CKR_OK) {
				p11_kit_module_release(m);
				m = NULL;
			}
			/* One that fails now is pinned when a later open works. */
			if (m != NULL && (pinned[npinned].path = strdup(path)) !=
			    NULL)
				pinned[npinned++].mod = m;
			else if (m != NULL) {
				p11_kit_module_finalize(m);
				p11_kit_module_release(m);
			}
		}
	}
	pthread_mutex_unlock(&mod_lock);
	p11_kit_uri_free(u);
}

unsigned
fsd_pool_stuck_requests(void)
{
	return __atomic_load_n(&stuck_requests, __ATOMIC_RELAXED);
}

void
fsd_pool_release_modules(void)
{
	pthread_mutex_lock(&mod_lock);
	/* A thread still inside a module: leave the modules to the exit. */
	if (!stuck_left) {
		for (size_t i = 0; i < npinned; i++) {
			p11_kit_module_finalize(pinned[i].mod);
			p11_kit_module_release(pinned[i].mod);
			free(pinned[i].path);
		}
		npinned = 0;
		if (pinned_all != NULL)
			p11_kit_modules_finalize_and_release(pinned_all);
		pinned_all = NULL;
	}
	pthread_mutex_unlock(&mod_lock);
}

/* --- PINs ----------------------------------------------------------------- */

/*
 * The PIN of copy ctx: the first line of its PIN file, read again for
 * every login from the descriptor opened at start (before privileges
 * were dropped).  The PIN is never kept: the library wipes it.
 */
static int
pin_hook(void *ctx, const char *what, int confirm, char **pin, fs_err *err)
{
	struct copy *c = ctx;
	char buf[PIN_MAX + 2];
	size_t len = 0;
	ssize_t n;
	int rc = FS_OK;

	*pin = NULL;
	if (confirm || c->pin_fd == -1)
		return fs_err_set(err, FS_ETOKEN, "no PIN for the %s: give "
		    "pin-source=file:PATH in the token's URI", what);
	while (len < sizeof(buf) - 1 && (n = pread(c->pin_fd, buf + len,
	    sizeof(buf) - 1 - len, (off_t)len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			rc = fs_err_set(err, FS_EIO, "cannot read PIN file '%s': "
			    "%s", c->pin_path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || strlen(buf) > PIN_MAX) {
		rc = fs_err_set(err, FS_ETOKEN, "PIN file '%s': the first line "
		    "must be the PIN (1 to %d characters)", c->pin_path,
		    PIN_MAX);
		goto out;
	}
	if ((*pin = strdup(buf)) == NULL)
		rc = fs_err_nomem(err, "reading a PIN");
out:
	fs_wipe(buf, sizeof(buf));
	return rc;
}

static int
open_pin(struct copy *c, const char *path, const char *user, fs_err *err)
{
	struct passwd *pw;
	struct stat st;
	uid_t run = (uid_t)-1;

	snprintf(c->pin_path, sizeof(c->pin_path), "%s", path);
	if (user != NULL && (pw = getpwnam(user)) != NULL)
		run = pw->pw_uid;
	c->pin_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK);
	if (c->pin_fd == -1)
		return fs_err_set(err, errno == ELOOP ? FS_ETOKEN : FS_EIO,
		    "cannot open PIN file '%s': %s%s", path, strerror(errno),
		    errno == ELOOP ? " (symbolic links are not followed)" : "");
	if (fstat(c->pin_fd, &st) == -1 || !S_ISREG(st.st_mode))
		return fs_err_set(err, FS_ETOKEN, "PIN file '%s' is not a "
		    "regular file", path);
	if (st.st_mode & 077)
		return fs_err_set(err, FS_ETOKEN, "PIN file '%s' can be read by "
		    "others (mode %04o): run 'chmod 600 %s' and consider "
		    "changing the PIN", path, (unsigned)(st.st_mode & 07777),
		    path);
	if (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != run)
		return fs_err_set(err, FS_ETOKEN, "PIN file '%s' belongs to uid "
		    "%u: it must belong to root or to the daemon's user", path,
		    (unsigned)st.st_uid);
	return FS_OK;
}

/* --- copies --------------------------------------------------------------- */

/* uri without its pin-source, its PIN file, and its token and object. */
static int
copy_init(struct copy *c, const char *uri, const char *user, fs_err *err)
{
	const CK_TOKEN_INFO *ti;
	CK_ATTRIBUTE *a;
	const char *ps, *q;
	P11KitUri *u;
	size_t used;
	int rc, first = 1;

	c->pin_fd = -1;
	cond_init(&c->mcv);
	c->hooks.ctx = c;
	c->hooks.pin = pin_hook;
	c->hooks.call_begin = wd_begin;
	c->hooks.call_end = wd_end;
	c->mrec.c = c;
	snprintf(c->shown, sizeof(c->shown), "%.*s", (int)strcspn(uri, "?"),
	    uri);
	if ((u = p11_kit_uri_new()) == NULL)
		return fs_err_nomem(err, "opening a key");
	if (p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u) != P11_KIT_URI_OK) {
		p11_kit_uri_free(u);
		return fs_err_set(err, FS_EUSAGE, "invalid PKCS#11 URI '%s'",
		    c->shown);
	}
	if ((ti = p11_kit_uri_get_token_info(u)) != NULL)
		fs_p11_trim(ti->label, sizeof(ti->label), c->cfg_label);
	if ((a = p11_kit_uri_get_attribute(u, CKA_LABEL)) != NULL &&
	    a->ulValueLen < sizeof(c->cfg_object)) {
		memcpy(c->cfg_object, a->pValue, a->ulValueLen);
		c->cfg_object[a->ulValueLen] = '\0';
	}
	ps = p11_kit_uri_get_pin_source(u);
	if (ps == NULL) {
		p11_kit_uri_free(u);
		return fs_err_set(err, FS_EUSAGE, "token '%s' has no pin-source",
		    c->shown);
	}
	if (strncmp(ps, "file:", 5) == 0)
		ps += 5;
	if (strncmp(ps, "//", 2) == 0)
		ps += 2;
	rc = open_pin(c, ps, user, err);
	p11_kit_uri_free(u);
	if (rc != FS_OK)
		return rc;
	/* The library must not read the file itself: the hook does. */
	if ((c->uri = malloc(strlen(uri) + 1)) == NULL)
		return fs_err_nomem(err, "opening a key");
	q = strchr(uri, '?');
	used = (size_t)(q - uri);
	memcpy(c->uri, uri, used);
	for (const char *p = q + 1, *end; *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "&");
		if (strncmp(p, "pin-source=", 11) == 0 || end == p)
			continue;
		c->uri[used++] = first ? '?' : '&';
		first = 0;
		memcpy(c->uri + used, p, (size_t)(end - p));
		used += (size_t)(end - p);
	}
	c->uri[used] = '\0';
	return FS_OK;
}

/* Whether err is the token refusing the PIN: trying again would lock it. */
static int
pin_error(const fs_err *e)
{
	switch (e->rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
		return 1;
	default:
		return 0;
	}
}

static void
count_err(struct copy *c, const char *name)
{
	unsigned i;

	for (i = 0; i < c->nerrs; i++)
		if (strcmp(c->errs[i].name, name) == 0)
			break;
	if (i == c->nerrs) {
		if (c->nerrs == sizeof(c->errs) / sizeof(c->errs[0]))
			i = c->nerrs - 1;	/* the last counts the rest */
		else
			snprintf(c->errs[c->nerrs++].name,
			    sizeof(c->errs[0].name), "%s", name);
	}
	c->errs[i].n++;
}

static void
err_name(const fs_err *e, char *buf, size_t len)
{
	if (e->rv != 0)
		fs_p11_rv_name((CK_RV)e->rv, buf, len);
	else
		snprintf(buf, len, "%s", e->code == FS_ENOMEM ? "no-memory" :
		    "error");
}

/*
 * Open copy c: token, login, the key, its public key (the key's, when
 * known), and a test signature.  Runs without the key's lock.
 */
static int
copy_open(struct copy *c, fs_token **tp, fs_key **kp, EVP_PKEY **pubp,
    fs_err *err)
{
	struct fsd_key *key = c->key;
	struct fs_token_opts o = { NULL, 0, key->want_sessions, &c->hooks };
	EVP_PKEY *pub = NULL;
	fs_token *t = NULL;
	fs_key *k = NULL;
	int rc;

	*tp = NULL;
	*kp = NULL;
	if ((rc = fs_token_open(c->uri, &o, &t, err)) != FS_OK)
		return rc;
	if ((rc = fs_token_login(t, err)) != FS_OK ||
	    (rc = fs_key_find(t, NULL, CKO_PRIVATE_KEY, &k, err)) != FS_OK ||
	    (rc = fs_key_public(k, &pub, err)) != FS_OK)
		goto fail;
	if (key->pub != NULL && EVP_PKEY_eq(key->pub, pub) != 1) {
		rc = fs_err_set(err, FS_ETOKEN, "token '%s' holds another key "
		    "pair than the key's other copies%s: it is not used",
		    fs_token_label(t), key->cert_path ? " and its certificate" :
		    "");
		goto fail;
	}
	if (key->pub != NULL && (rc = test_sign(key, k, err)) != FS_OK)
		goto fail;
	*tp = t;
	*kp = k;
	if (pubp != NULL)
		*pubp = pub;
	else
		EVP_PKEY_free(pub);
	return FS_OK;
fail:
	EVP_PKEY_free(pub);
	fs_key_free(k);
	fs_token_free(t);
	return rc;
}

static void *worker_main(void *arg);

/* Start the workers of c's new generation: the key's lock is held. */
static void
start_workers(struct copy *c)
{
	pthread_attr_t a;
	unsigned n = c->sessions, ok = 0;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		pthread_t th;

		if (w == NULL)
			break;
		w->c = c;
		w->gen = c->gen;
		w->k = c->k;
		w->rec.c = c;
		w->rec.w = w;
		w->rec.gen = c->gen;
		cond_init(&w->cv);
		if (pthread_create(&th, &a, worker_main, w) != 0) {
			pthread_cond_destroy(&w->cv);
			free(w);
			break;
		}
		c->alive++;
		ok++;
	}
	pthread_attr_destroy(&a);
	if (ok == 0)
		copy_down(c, "cannot start a thread for its sessions");
	c->sessions = ok;
}

/* Put c up with its new token (the key's lock is held). */
static void
copy_up(struct copy *c, fs_token *t, fs_key *k)
{
	c->t = t;
	c->k = k;
	c->gen++;
	c->opens++;
	c->state = UP;
	c->since = time(NULL);
	c->reason[0] = '\0';
	c->stuck[0] = '\0';
	c->sessions = fs_token_max_sessions(t);
	snprintf(c->label, sizeof(c->label), "%s", fs_token_label(t));
	snprintf(c->serial, sizeof(c->serial), "%s", fs_token_serial(t));
	c->last_ok = now_mono();
	c->check_time = time(NULL);
	c->check_ok = 1;
	if (c->key->started)
		start_workers(c);
}

static int
up_count(const struct fsd_key *k)
{
	int n = 0;

	for (size_t i = 0; i < k->ncopies; i++)
		n += k->copies[i].state == UP;
	return n;
}

static void
job_finish(struct job *j, int status, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
job_finish(struct job *j, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (j->done)
		return;
	j->done = 1;
	j->status = status;
	j->code = code;
	va_start(ap, fmt);
	vsnprintf(j->detail, sizeof(j->detail), fmt, ap);
	va_end(ap);
	pthread_cond_signal(&j->cv);
}

static void
job_unref(struct job *j)
{
	if (--j->refs > 0)
		return;
	free(j->sig);
	pthread_cond_destroy(&j->cv);
	free(j);
}

/* Why no copy can take a request, for its 503. */
static void
down_reasons(const struct fsd_key *k, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < k->ncopies && used + 8 < len; i++) {
		const struct copy *c = &k->copies[i];

		used += (size_t)snprintf(buf + used, len - used, "%stoken '%s': "
		    "%s", i ? "; " : "", c->label[0] ? c->label : c->cfg_label,
		    c->state == UP ? "failed this request" : c->reason[0] ?
		    c->reason : "down");
		if (used >= len)
			used = len - 1;
	}
}

/* Fail the queued requests no healthy copy can take (lock held). */
static void
prune_queue(struct fsd_key *k)
{
	struct job **pp = &k->qhead, *j;
	char why[400];

	k->qtail = NULL;
	while ((j = *pp) != NULL) {
		int can = 0;

		for (size_t i = 0; i < k->ncopies && !can; i++)
			can = k->copies[i].state == UP &&
			    !(j->tried & (1ULL << i));
		if (can && !k->closing) {
			k->qtail = j;
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->queued = 0;
		k->qlen--;
		down_reasons(k, why, sizeof(why));
		if (k->closing)
			job_finish(j, 503, "shutting-down", "fedsignd is "
			    "stopping or reloading");
		else
			job_finish(j, 503, j->tried ? "token-failed" :
			    "no-healthy-token", "no healthy token for key "
			    "'%s': %s", k->name, why);
		j->retry_after = (int)get_opts().retry_interval;
		job_unref(j);
	}
}

static void
copy_down(struct copy *c, const char *fmt, ...)
{
	struct fsd_key *k = c->key;
	va_list ap;

	if (c->state != UP)
		return;
	c->state = DOWN;
	c->since = time(NULL);
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	for (struct worker *w = k->idle; w != NULL; w = w->next_idle)
		if (w->c == c)
			pthread_cond_signal(&w->cv);
	c->kick = 1;
	pthread_cond_signal(&c->mcv);
	prune_queue(k);
	log_warnx("key '%s': token '%s' (serial %s) is down: %s%s", k->name,
	    c->label, c->serial, c->reason, up_count(k) ? "" :
	    "; the key has no healthy token left");
}

static void
idle_remove(struct fsd_key *k, struct worker *w)
{
	struct worker **pp;

	if (!w->idle)
		return;
	for (pp = &k->idle; *pp != NULL; pp = &(*pp)->next_idle)
		if (*pp == w) {
			*pp = w->next_idle;
			break;
		}
	w->idle = 0;
	w->next_idle = NULL;
}

/* a is less busy than b. */
static int
better(const struct copy *a, const struct copy *b)
{
	unsigned long la = (unsigned long)a->busy * (b->sessions ?
	    b->sessions : 1), lb = (unsigned long)b->busy * (a->sessions ?
	    a->sessions : 1);

	if (la != lb)
		return la < lb;
	return a->assigned < b->assigned;
}

/*
 * Give j to an idle worker of the least busy healthy copy that has not
 * failed it, or queue it, or answer it: the key's lock is held.
 */
static void
dispatch(struct fsd_key *k, struct job *j)
{
	struct worker *best = NULL;
	char why[400];
	int any = 0;

	if (k->closing) {
		job_finish(j, 503, "shutting-down", "fedsignd is stopping or "
		    "reloading");
		j->retry_after = 1;
		return;
	}
	for (size_t i = 0; i < k->ncopies; i++)
		any |= k->copies[i].state == UP && !(j->tried & (1ULL << i));
	if (!any) {
		down_reasons(k, why, sizeof(why));
		k->rejected_down++;
		job_finish(j, 503, j->tried ? "token-failed" :
		    "no-healthy-token", "no healthy token for key '%s': %s",
		    k->name, why);
		j->retry_after = (int)get_opts().retry_interval;
		return;
	}
	for (struct worker *w = k->idle; w != NULL; w = w->next_idle) {
		struct copy *c = w->c;

		if (c->state != UP || w->gen != c->gen ||
		    (j->tried & (1ULL << c->idx)))
			continue;
		if (best == NULL || better(c, best->c))
			best = w;
	}
	if (best != NULL) {
		idle_remove(k, best);
		best->job = j;
		j->w = best;
		j->refs++;
		best->c->busy++;
		best->c->assigned++;
		pthread_cond_signal(&best->cv);
		return;
	}
	if (k->qlen >= k->qmax) {
		k->rejected_full++;
		job_finish(j, 503, "queue-full", "key '%s' has %u requests "
		    "waiting for a token: try again shortly", k->name, k->qlen);
		j->retry_after = 1;
		return;
	}
	j->next = NULL;
	j->queued = 1;
	j->refs++;
	if (k->qtail != NULL)
		k->qtail->next = j;
	else
		k->qhead = j;
	k->qtail = j;
	k->qlen++;
}

/* The first queued request c may take (the key's lock is held). */
static struct job *
take_queued(struct fsd_key *k, struct copy *c)
{
	struct job **pp, *prev = NULL;

	for (pp = &k->qhead; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		struct job *j = *pp;

		if (j->tried & (1ULL << c->idx))
			continue;
		*pp = j->next;
		if (k->qtail == j)
			k->qtail = prev;
		j->next = NULL;
		j->queued = 0;
		k->qlen--;
		return j;
	}
	return NULL;
}

/*
 * After w's session signed j (rc, ok: the signature verified): hand the
 * signature out, or mark the copy down and give j to another copy; the
 * key's lock is held.  j's reference for w is dropped.
 */
static void
sign_done(struct worker *w, struct job *j, int rc, int ok, uint8_t *sig,
    size_t siglen, const fs_err *e)
{
	struct copy *c = w->c;
	struct fsd_key *k = c->key;
	char name[40];

	c->busy--;
	w->job = NULL;
	if (w->abandoned) {
		/* The watchdog gave the request to another copy. */
		w->abandoned = 0;
		free(sig);
		job_unref(j);
		return;
	}
	j->w = NULL;
	if (ok) {
		c->nsig++;
		c->last_ok = now_mono();
		j->sig = sig;
		j->siglen = siglen;
		snprintf(j->token, sizeof(j->token), "%s", c->label);
		snprintf(j->serial, sizeof(j->serial), "%s", c->serial);
		job_finish(j, 200, NULL, "%s", "");
	} else {
		free(sig);
		c->nfail++;
		if (rc == FS_OK)
			snprintf(name, sizeof(name), "bad-signature");
		else
			err_name(e, name, sizeof(name));
		count_err(c, name);
		if (c->gen == w->gen)
			copy_down(c, "%s", rc == FS_OK ? "it returned "
			    "a signature that does not verify with the "
			    "key's public key" : e->msg);
		j->tried |= 1ULL << c->idx;
		if (!j->done)
			dispatch(k, j);
	}
	job_unref(j);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct copy *c = w->c;
	struct fsd_key *k = c->key;

	wd_register(&w->rec);
	pthread_mutex_lock(&k->lock);
	for (;;) {
		struct job *j = w->job;
		uint8_t *sig = NULL;
		size_t siglen = 0;
		fs_err e;
		int rc, ok;

		if (w->lent) {
			/* A requester signs on its session: wait for it. */
			pthread_cond_wait(&w->cv, &k->lock);
			continue;
		}
		if (c->state != UP || c->gen != w->gen || k->closing) {
			if (j != NULL) {
				/* Assigned as the copy went: give it back. */
				w->job = NULL;
				j->w = NULL;
				c->busy--;
				dispatch(k, j);
				job_unref(j);
			}
			break;
		}
		if (j == NULL && (j = take_queued(k, c)) != NULL) {
			w->job = j;
			j->w = w;
			c->busy++;
			c->assigned++;
		}
		if (j == NULL) {
			w->idle = 1;
			w->next_idle = k->idle;
			k->idle = w;
			pthread_cond_wait(&w->cv, &k->lock);
			idle_remove(k, w);
			continue;
		}
		pthread_mutex_unlock(&k->lock);
		fs_err_clear(&e);
		rc = raw_sign(k, w->k, j->nid, j->digest, j->dlen, &sig,
		    &siglen, &e);
		ok = rc == FS_OK && verify(k, j->md, j->digest, j->dlen, sig,
		    siglen);
		pthread_mutex_lock(&k->lock);
		sign_done(w, j, rc, ok, sig, siglen, &e);
	}
	/*
	 * OpenSSL's state for this thread (SoftHSM2's C_Sign has some too)
	 * goes now, not at the thread's exit: once the thread is counted
	 * gone, main may return, and OpenSSL's atexit cleanup would race
	 * with the destructor (a leak or a double free).
	 */
	pthread_mutex_unlock(&k->lock);
	OPENSSL_thread_stop();
	pthread_mutex_lock(&k->lock);
	c->alive--;
	pthread_cond_broadcast(&c->mcv);
	pthread_cond_broadcast(&k->gone);
	pthread_mutex_unlock(&k->lock);
	wd_unregister(&w->rec);
	pthread_cond_destroy(&w->cv);
	free(w);
	return NULL;
}

/*
 * The manager of a copy: test signatures while it is up, and while it is
 * down, close it once its workers are gone and open it again every
 * retry-interval until it works.
 */
static void *
manager_main(void *arg)
{
	struct copy *c = arg;
	struct fsd_key *k = c->key;
	int logged_stuck = 0;

	wd_register(&c->mrec);
	pthread_mutex_lock(&k->lock);
	while (!k->closing) {
		struct fsd_pool_opts o = get_opts();
		struct timespec now = now_mono(), when;
		fs_token *t;
		fs_key *fk;
		fs_err e;
		int rc;

		if (c->state == UP) {
			struct timespec last = c->last_ok;

			when = ts_add(last, (double)o.health_interval);
			if (ts_diff(when, now) > 0 && !c->kick) {
				pthread_cond_timedwait(&c->mcv, &k->lock, &when);
				continue;
			}
			c->kick = 0;
			if (ts_diff(ts_add(c->last_ok, (double)
			    o.health_interval), now_mono()) > 0)
				continue;
			/* Idle for an interval: a test signature. */
			fk = c->k;
			c->mrec.gen = c->gen;
			pthread_mutex_unlock(&k->lock);
			fs_err_clear(&e);
			rc = test_sign(k, fk, &e);
			pthread_mutex_lock(&k->lock);
			c->check_time = time(NULL);
			c->check_ok = rc == FS_OK;
			if (rc == FS_OK) {
				c->checks_ok++;
				c->last_ok = now_mono();
			} else if (c->gen == c->mrec.gen) {
				char name[40];

				c->checks_failed++;
				err_name(&e, name, sizeof(name));
				count_err(c, name);
				copy_down(c, "test signature: %s", e.msg);
			}
			continue;
		}
		c->kick = 0;
		/* Down: its old workers must be gone before the token goes. */
		if (c->alive > 0) {
			when = ts_add(now, 1.0);
			pthread_cond_timedwait(&c->mcv, &k->lock, &when);
			if (c->alive > 0 && !logged_stuck++ && c->stuck[0])
				log_warnx("key '%s': token '%s' stays down "
				    "until the module returns (%s)", k->name,
				    c->shown, c->stuck);
			continue;
		}
		logged_stuck = 0;
		if (c->t != NULL) {
			t = c->t;
			fk = c->k;
			c->t = NULL;
			c->k = NULL;
			pthread_mutex_unlock(&k->lock);
			fs_key_free(fk);
			fs_token_free(t);
			pthread_mutex_lock(&k->lock);
			c->next_try = now_mono();
			continue;
		}
		if (c->pin_refused) {
			pthread_cond_wait(&c->mcv, &k->lock);
			continue;
		}
		if (ts_diff(c->next_try, now) > 0) {
			pthread_cond_timedwait(&c->mcv, &k->lock, &c->next_try);
			continue;
		}
		pthread_mutex_unlock(&k->lock);
		fs_err_clear(&e);
		rc = copy_open(c, &t, &fk, NULL, &e);
		pthread_mutex_lock(&k->lock);
		if (rc == FS_OK && !k->closing) {
			copy_up(c, t, fk);
			log_info("key '%s': token '%s' (serial %s) is up again "
			    "with %u session%s", k->name, c->label, c->serial,
			    c->sessions, c->sessions == 1 ? "" : "s");
			continue;
		}
		if (rc == FS_OK) {
			pthread_mutex_unlock(&k->lock);
			fs_key_free(fk);
			fs_token_free(t);
			pthread_mutex_lock(&k->lock);
			break;
		}
		if (pin_error(&e)) {
			c->pin_refused = 1;
			setstr(c->reason, sizeof(c->reason), e.msg);
			log_errx("key '%s': token '%s': %s; the PIN is not tried "
			    "again (that would lock the token): correct the PIN "
			    "file '%s' and send SIGHUP", k->name, c->shown, e.msg,
			    c->pin_path);
			continue;
		}
		if (strncmp(c->reason, e.msg, sizeof(c->reason) - 1) != 0) {
			log_warnx("key '%s': token '%s' cannot be opened (trying "
			    "again every %lld s): %s", k->name, c->shown,
			    (long long)o.retry_interval, e.msg);
			setstr(c->reason, sizeof(c->reason), e.msg);
		}
		c->next_try = ts_add(now_mono(), (double)o.retry_interval);
	}
	/*
	 * Out of the watchdog's list before saying it is gone: whoever
	 * waits for that frees the copy and c->mrec with it.  wd_lock is
	 * taken before a key's lock (fire()), never while holding one.
	 */
	pthread_mutex_unlock(&k->lock);
	wd_unregister(&c->mrec);
	OPENSSL_thread_stop();		/* as in worker_main */
	pthread_mutex_lock(&k->lock);
	c->mgr_running = 0;
	pthread_cond_broadcast(&k->gone);
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

/* --- keys ----------------------------------------------------------------- */

static char *
pem_of(int (*wr)(BIO *, void *), void *obj)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out = NULL;
	long n;

	if (b == NULL)
		return NULL;
	if (wr(b, obj) == 1 && (n = BIO_get_mem_data(b, &p)) > 0 &&
	    (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

static int
wr_pubkey(BIO *b, void *k)
{
	return PEM_write_bio_PUBKEY(b, k);
}

static int
wr_cert(BIO *b, void *x)
{
	return PEM_write_bio_X509(b, x);
}

static void
key_free(struct fsd_key *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; k->copies != NULL && i < k->ncopies; i++) {
		struct copy *c = &k->copies[i];

		fs_key_free(c->k);
		fs_token_free(c->t);
		if (c->pin_fd != -1)
			close(c->pin_fd);
		free(c->uri);
		pthread_cond_destroy(&c->mcv);
	}
	for (size_t i = 0; k->uris != NULL && i < k->ncopies; i++)
		free(k->uris[i]);
	free(k->uris);
	free(k->copies);
	free(k->name);
	free(k->cert_path);
	free(k->pub_pem);
	free(k->cert_pem);
	for (int i = 0; i < 3; i++)
		fs_verifier_free(k->ver[i]);
	EVP_PKEY_free(k->pub);
	X509_free(k->cert);
	pthread_cond_destroy(&k->gone);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* Whether k is the key kc describes. */
static int
same_key(const struct fsd_key *k, const struct fsd_key_conf *kc)
{
	if (strcmp(k->name, kc->name) != 0 || k->ncopies != kc->ntokens ||
	    k->want_sessions != kc->sessions ||
	    (k->cert_path == NULL) != (kc->cert == NULL) ||
	    (k->cert_path != NULL && strcmp(k->cert_path, kc->cert) != 0))
		return 0;
	for (size_t i = 0; i < k->ncopies; i++)
		if (strcmp(k->uris[i], kc->tokens[i]) != 0)
			return 0;
	return 1;
}

static int
key_open(const struct fsd_conf *conf, const struct fsd_key_conf *kc,
    struct fsd_key **out, fs_err *err)
{
	struct fsd_key *k;
	fs_err first;
	int rc, opened = 0;

	*out = NULL;
	fs_err_clear(&first);
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return fs_err_nomem(err, "opening a key");
	pthread_mutex_init(&k->lock, NULL);
	cond_init(&k->gone);
	k->refs = 1;
	k->ncopies = kc->ntokens;
	k->want_sessions = kc->sessions;
	k->qmax = kc->queue;
	k->allow_sha1 = kc->allow_sha1;
	if ((k->name = strdup(kc->name)) == NULL ||
	    (kc->cert != NULL && (k->cert_path = strdup(kc->cert)) == NULL) ||
	    (k->uris = calloc(kc->ntokens, sizeof(char *))) == NULL ||
	    (k->copies = calloc(kc->ntokens, sizeof(struct copy))) == NULL) {
		rc = fs_err_nomem(err, "opening a key");
		goto fail;
	}
	for (size_t i = 0; i < kc->ntokens; i++)
		k->copies[i].pin_fd = -1;
	if (k->cert_path != NULL) {
		if ((rc = fs_x509_load(k->cert_path, &k->cert, err)) != FS_OK) {
			fs_err_append(err, "key '%s'", k->name);
			goto fail;
		}
		k->pub = X509_get_pubkey(k->cert);
		if (k->pub == NULL) {
			rc = fs_err_set(err, FS_EUSAGE, "key '%s': the "
			    "certificate '%s' has no usable public key",
			    k->name, k->cert_path);
			goto fail;
		}
		k->type = EVP_PKEY_get_base_id(k->pub) == EVP_PKEY_EC ?
		    FS_KEY_EC : FS_KEY_RSA;
		k->bits = (unsigned)EVP_PKEY_get_bits(k->pub);
	}
	for (size_t i = 0; i < kc->ntokens; i++) {
		struct copy *c = &k->copies[i];

		c->key = k;
		c->idx = (unsigned)i;
		if ((k->uris[i] = strdup(kc->tokens[i])) == NULL) {
			rc = fs_err_nomem(err, "opening a key");
			goto fail;
		}
		pin_module(kc->tokens[i]);
		if ((rc = copy_init(c, kc->tokens[i], conf->user, err)) !=
		    FS_OK) {
			fs_err_append(err, "key '%s'", k->name);
			goto fail;
		}
	}
	for (size_t i = 0; i < kc->ntokens; i++) {
		struct copy *c = &k->copies[i];
		EVP_PKEY *pub = NULL;
		fs_token *t;
		fs_key *fk;
		fs_err e;

		fs_err_clear(&e);
		rc = copy_open(c, &t, &fk, &pub, &e);
		if (rc == FS_OK && k->pub == NULL) {
			k->pub = pub;
			pub = NULL;
			if (fs_key_type(fk) != CKK_RSA &&
			    fs_key_type(fk) != CKK_EC)
				rc = fs_err_set(&e, FS_ETOKEN, "the key is "
				    "neither RSA nor EC");
			else
				k->type = fs_key_type(fk) == CKK_RSA ?
				    FS_KEY_RSA : FS_KEY_EC;
			k->bits = (unsigned)EVP_PKEY_get_bits(k->pub);
			if (rc == FS_OK)
				rc = test_sign(k, fk, &e);
			if (rc != FS_OK) {
				fs_key_free(fk);
				fs_token_free(t);
			}
		}
		EVP_PKEY_free(pub);
		if (rc != FS_OK) {
			/* Another key pair is a configuration error. */
			if (strstr(e.msg, "holds another key pair") != NULL) {
				*err = e;
				fs_err_append(err, "key '%s'", k->name);
				goto fail;
			}
			if (first.code == FS_OK)
				first = e;
			c->pin_refused = pin_error(&e);
			setstr(c->reason, sizeof(c->reason), e.msg);
			c->since = time(NULL);
			c->next_try = ts_add(now_mono(), (double)
			    get_opts().retry_interval);
			log_warnx("key '%s': token '%s' cannot be opened%s: %s",
			    k->name, c->shown, c->pin_refused ? " (the PIN is "
			    "not tried again before SIGHUP)" : " (fedsignd tries "
			    "again in the background)", e.msg);
			continue;
		}
		pthread_mutex_lock(&k->lock);
		copy_up(c, t, fk);
		pthread_mutex_unlock(&k->lock);
		opened++;
	}
	if (k->pub == NULL) {
		*err = first;
		fs_err_append(err, "key '%s': none of its tokens could be opened "
		    "(give cert: to start without one)", k->name);
		rc = first.code != FS_OK ? first.code : FS_ETOKEN;
		goto fail;
	}
	if (k->type == FS_KEY_NONE)
		k->type = EVP_PKEY_get_base_id(k->pub) == EVP_PKEY_EC ?
		    FS_KEY_EC : FS_KEY_RSA;
	if (k->bits == 0)
		k->bits = (unsigned)EVP_PKEY_get_bits(k->pub);
	/* Every signature is checked before it leaves (verify). */
	for (int i = 0; i < 3; i++)
		if ((rc = fs_verifier_new(k->pub, k->type, k->bits,
		    verifier_md(i), &k->ver[i], err)) != FS_OK)
			goto fail;
	if (k->cert == NULL) {
		for (size_t i = 0; i < k->ncopies && k->cert == NULL; i++) {
			X509 *x = NULL;
			int none;
			fs_err e;

			if (k->copies[i].state != UP ||
			    fs_x509_from_token(k->copies[i].k, &x, &none, &e) !=
			    FS_OK)
				continue;
			if (EVP_PKEY_eq(X509_get0_pubkey(x), k->pub) == 1)
				k->cert = x;
			else
				X509_free(x);
		}
	}
	if ((k->pub_pem = pem_of(wr_pubkey, k->pub)) == NULL ||
	    (k->cert != NULL && (k->cert_pem = pem_of(wr_cert, k->cert)) ==
	    NULL)) {
		rc = fs_err_nomem(err, "opening a key");
		goto fail;
	}
	(void)opened;
	ERR_clear_error();
	*out = k;
	return FS_OK;
fail:
	ERR_clear_error();
	key_free(k);
	return rc;
}

/* Start what runs for k: workers of its open copies, and managers. */
static void
key_start(struct fsd_key *k)
{
	pthread_attr_t a;

	pthread_mutex_lock(&k->lock);
	if (k->started) {
		pthread_mutex_unlock(&k->lock);
		return;
	}
	k->started = 1;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	for (size_t i = 0; i < k->ncopies; i++) {
		struct copy *c = &k->copies[i];
		pthread_t th;

		if (c->state == UP)
			start_workers(c);
		if (pthread_create(&th, &a, manager_main, c) == 0)
			c->mgr_running = 1;
		else
			log_errx("key '%s': cannot start the manager of token "
			    "'%s'", k->name, c->shown);
	}
	pthread_attr_destroy(&a);
	pthread_mutex_unlock(&k->lock);
}

/* Stop k's threads and close its tokens (as far as the modules let). */
static void
key_close(struct fsd_key *k)
{
	struct timespec deadline;
	int stuck = 0;

	pthread_mutex_lock(&k->lock);
	k->closing = 1;
	prune_queue(k);
	for (struct worker *w = k->idle; w != NULL; w = w->next_idle)
		pthread_cond_signal(&w->cv);
	for (size_t i = 0; i < k->ncopies; i++)
		pthread_cond_broadcast(&k->copies[i].mcv);
	deadline = ts_add(now_mono(), (double)get_opts().token_timeout + 2);
	for (;;) {
		int busy = 0;

		for (size_t i = 0; i < k->ncopies; i++)
			busy |= k->copies[i].alive > 0 ||
			    k->copies[i].mgr_running;
		if (!busy)
			break;
		if (pthread_cond_timedwait(&k->gone, &k->lock, &deadline) ==
		    ETIMEDOUT) {
			stuck = 1;
			break;
		}
	}
	pthread_mutex_unlock(&k->lock);
	if (stuck) {
		/* A module still has a thread: leave it all as it is. */
		log_warnx("key '%s': a call into a module has not returned; its "
		    "tokens are left open", k->name);
		pthread_mutex_lock(&mod_lock);
		stuck_left = 1;
		pthread_mutex_unlock(&mod_lock);
		return;
	}
	key_free(k);
}

static void
key_unref(struct fsd_key *k)
{
	int last;

	pthread_mutex_lock(&k->lock);
	last = --k->refs == 0;
	pthread_mutex_unlock(&k->lock);
	if (last)
		key_close(k);
}

int
fsd_keyset_open(const struct fsd_conf *conf, struct fsd_keyset *reuse,
    struct fsd_keyset **out, fs_err *err)
{
	struct fsd_keyset *ks;
	int rc;

	*out = NULL;
	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (ks->keys = calloc(conf->nkeys, sizeof(*ks->keys))) == NULL) {
		free(ks);
		return fs_err_nomem(err, "opening the keys");
	}
	for (size_t i = 0; i < conf->nkeys; i++) {
		const struct fsd_key_conf *kc = &conf->keys[i];
		struct fsd_key *old = reuse != NULL ?
		    fsd_keyset_find(reuse, kc->name) : NULL;

		if (old != NULL && same_key(old, kc)) {
			pthread_mutex_lock(&old->lock);
			old->refs++;
			old->qmax = kc->queue;
			old->allow_sha1 = kc->allow_sha1;
			/* A corrected PIN file gets its one try. */
			for (size_t j = 0; j < old->ncopies; j++) {
				if (!old->copies[j].pin_refused)
					continue;
				old->copies[j].pin_refused = 0;
				old->copies[j].kick = 1;
				pthread_cond_signal(&old->copies[j].mcv);
			}
			pthread_mutex_unlock(&old->lock);
			ks->keys[ks->n++] = old;
			continue;
		}
		if ((rc = key_open(conf, kc, &ks->keys[ks->n], err)) != FS_OK) {
			fsd_keyset_close(ks, NULL);
			return rc;
		}
		ks->n++;
	}
	*out = ks;
	return FS_OK;
}

int
fsd_pool_check(const struct fsd_conf *conf, fs_err *err)
{
	for (size_t i = 0; i < conf->nkeys; i++) {
		const struct fsd_key_conf *kc = &conf->keys[i];
		struct fsd_key k;
		int rc = FS_OK;

		memset(&k, 0, sizeof(k));
		k.name = kc->name;
		if (kc->cert != NULL) {
			X509 *x = NULL;

			if ((rc = fs_x509_load(kc->cert, &x, err)) != FS_OK) {
				fs_err_append(err, "key '%s'", kc->name);
				return rc;
			}
			X509_free(x);
		}
		for (size_t j = 0; j < kc->ntokens && rc == FS_OK; j++) {
			struct copy c;

			memset(&c, 0, sizeof(c));
			c.key = &k;
			rc = copy_init(&c, kc->tokens[j], conf->user, err);
			if (c.pin_fd != -1)
				close(c.pin_fd);
			free(c.uri);
			pthread_cond_destroy(&c.mcv);
		}
		if (rc != FS_OK) {
			fs_err_append(err, "key '%s'", kc->name);
			return rc;
		}
	}
	return FS_OK;
}

void
fsd_keyset_start(struct fsd_keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		key_start(ks->keys[i]);
}

void
fsd_keyset_close(struct fsd_keyset *ks, struct fsd_keyset *keep)
{
	if (ks == NULL)
		return;
	(void)keep;	/* keys it shares hold a reference of their own */
	for (size_t i = 0; i < ks->n; i++)
		key_unref(ks->keys[i]);
	free(ks->keys);
	free(ks);
}

size_t
fsd_keyset_count(const struct fsd_keyset *ks)
{
	return ks->n;
}

struct fsd_key *
fsd_keyset_key(const struct fsd_keyset *ks, size_t i)
{
	return i < ks->n ? ks->keys[i] : NULL;
}

struct fsd_key *
fsd_keyset_find(const struct fsd_keyset *ks, const char *name)
{
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->keys[i]->name, name) == 0)
			return ks->keys[i];
	return NULL;
}

struct fsd_key *
fsd_keyset_find_label(const struct fsd_keyset *ks, const char *token,
    const char *label)
{
	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];
		int hit = 0;

		pthread_mutex_lock(&k->lock);
		for (size_t j = 0; j < k->ncopies && !hit; j++) {
			const struct copy *c = &k->copies[j];

			hit = (strcmp(c->cfg_label, token) == 0 ||
			    strcmp(c->label, token) == 0 ||
			    strcmp(k->name, token) == 0) &&
			    (strcmp(c->cfg_object, label) == 0 ||
			    strcmp(k->name, label) == 0);
		}
		pthread_mutex_unlock(&k->lock);
		if (hit)
			return k;
	}
	return NULL;
}

int
fsd_keyset_healthy(const struct fsd_keyset *ks)
{
	int ok = 1;

	for (size_t i = 0; i < ks->n; i++) {
		pthread_mutex_lock(&ks->keys[i]->lock);
		ok &= up_count(ks->keys[i]) > 0;
		pthread_mutex_unlock(&ks->keys[i]->lock);
	}
	return ok;
}

const char *
fsd_key_name(const struct fsd_key *k)
{
	return k->name;
}

enum fs_keytype
fsd_key_type(const struct fsd_key *k)
{
	return k->type;
}

int
fsd_key_allow_sha1(const struct fsd_key *k)
{
	int v;

	pthread_mutex_lock((pthread_mutex_t *)&k->lock);
	v = k->allow_sha1;
	pthread_mutex_unlock((pthread_mutex_t *)&k->lock);
	return v;
}

const char *
fsd_key_cert_pem(const struct fsd_key *k)
{
	return k->cert_pem;
}

static json_t *
copy_json(const struct copy *c)
{
	char since[32], check[32];
	json_t *t, *errs;

	iso_time(c->since, since, sizeof(since));
	iso_time(c->check_time, check, sizeof(check));
	errs = json_object();
	for (unsigned i = 0; i < c->nerrs; i++)
		json_object_set_new(errs, c->errs[i].name,
		    json_integer((json_int_t)c->errs[i].n));
	t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:o}",
	    "label", c->label[0] ? c->label : c->cfg_label,
	    "serial", c->serial,
	    "uri", c->shown,
	    "state", c->state == UP ? "up" : "down",
	    "since", since,
	    "sessions", c->state == UP ? (int)c->sessions : 0,
	    "busy", (int)c->busy,
	    "signatures", (json_int_t)c->nsig,
	    "errors", (json_int_t)c->nfail,
	    "errors_by_code", errs);
	if (t == NULL)
		return NULL;
	if (c->check_time != 0) {
		json_object_set_new(t, "last_check", json_string(check));
		json_object_set_new(t, "last_check_ok",
		    json_boolean(c->check_ok));
	}
	if (c->state != UP && c->reason[0])
		json_object_set_new(t, "reason", json_string(c->reason));
	if (c->stuck[0])
		json_object_set_new(t, "stuck", json_string(c->stuck));
	return t;
}

json_t *
fsd_key_json(struct fsd_key *k, int full)
{
	json_t *o, *toks, *algs;
	unsigned healthy = 0, par = 0, sess = 0;

	pthread_mutex_lock(&k->lock);
	toks = json_array();
	for (size_t i = 0; i < k->ncopies; i++) {
		const struct copy *c = &k->copies[i];

		if (c->state == UP) {
			healthy++;
			par += c->sessions;
		}
		sess += c->sessions;
		json_array_append_new(toks, copy_json(c));
	}
	algs = json_pack("[s,s,s]", "sha256", "sha384", "sha512");
	o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o}",
	    "name", k->name,
	    "type", k->type == FS_KEY_EC ? "ec" : "rsa",
	    "bits", (int)k->bits,
	    "healthy", (int)healthy,
	    "parallel", (int)par,
	    "sessions", (int)sess,
	    "queue", (int)k->qlen,
	    "queue_max", (int)k->qmax,
	    "algorithms", algs,
	    "tokens", toks);
	if (o != NULL && full) {
		json_object_set_new(o, "public_key", json_string(k->pub_pem));
		json_object_set_new(o, "certificate", k->cert_pem ?
		    json_string(k->cert_pem) : json_null());
	}
	pthread_mutex_unlock(&k->lock);
	return o;
}

json_t *
fsd_keyset_labels(const struct fsd_keyset *ks)
{
	json_t *labels = json_object(), *slots = json_array();
	int slot = 0;

	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];

		pthread_mutex_lock(&k->lock);
		for (size_t j = 0; j < k->ncopies; j++, slot++) {
			const struct copy *c = &k->copies[j];
			const char *l = c->label[0] ? c->label : c->cfg_label;
			json_t *a = json_object_get(labels, l);

			if (a == NULL) {
				a = json_array();
				json_object_set_new(labels, l, a);
			}
			json_array_append_new(a, json_integer(slot));
			json_array_append_new(slots, json_integer(slot));
		}
		pthread_mutex_unlock(&k->lock);
	}
	return json_pack("{s:o, s:o}", "labels", labels, "slots", slots);
}

json_t *
fsd_keyset_slots(const struct fsd_keyset *ks, const char *label)
{
	json_t *slots = json_array();
	int slot = 0;

	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];

		pthread_mutex_lock(&k->lock);
		for (size_t j = 0; j < k->ncopies; j++, slot++) {
			const struct copy *c = &k->copies[j];
			const char *l = c->label[0] ? c->label : c->cfg_label;

			if (strcmp(l, label) != 0)
				continue;
			json_array_append_new(slots, json_pack("{s:i, s:{s:s, "
			    "s:s, s:s}, s:s, s:s}", "slot", slot, "token",
			    "label", l, "serialNumber", c->serial, "state",
			    c->state == UP ? "up" : "down", "key", k->name,
			    "object", c->cfg_object));
		}
		pthread_mutex_unlock(&k->lock);
	}
	if (json_array_size(slots) == 0) {
		json_decref(slots);
		return NULL;
	}
	return json_pack("{s:o}", "slots", slots);
}

/* --- signing -------------------------------------------------------------- */

/*
 * A key with one copy: the requester signs on an idle worker's session
 * itself, saving the two thread hand-offs a signature otherwise costs
 * (on a token that signs on the CPU, a tenth of the signing rate).  With
 * several copies the workers sign, so that a call that does not return
 * leaves its request to the watchdog, which gives it to another copy.
 * With one there is no other copy: the watchdog marks it down as it would
 * (requests after it get their 503 at once) and this one gets its answer
 * when the call returns.  The key's lock is held; it is dropped and taken
 * again around the signature.  0 when j was not signed here.
 */
static int
sign_lent(struct fsd_key *k, struct job *j)
{
	struct callrec *prev = tl_rec;
	struct worker *w;
	struct copy *c;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	fs_err e;
	int rc, ok;

	if (k->ncopies != 1 || k->closing || k->qhead != NULL ||
	    (w = k->idle) == NULL)
		return 0;
	c = w->c;
	if (c->state != UP || w->gen != c->gen || (j->tried & (1ULL << c->idx)))
		return 0;
	idle_remove(k, w);
	w->lent = 1;
	w->job = j;
	j->w = w;
	j->refs++;
	c->busy++;
	c->assigned++;
	pthread_mutex_unlock(&k->lock);
	/* The watchdog watches the call as the worker's. */
	tl_rec = &w->rec;
	fs_err_clear(&e);
	rc = raw_sign(k, w->k, j->nid, j->digest, j->dlen, &sig, &siglen, &e);
	ok = rc == FS_OK && verify(k, j->md, j->digest, j->dlen, sig, siglen);
	tl_rec = prev;
	pthread_mutex_lock(&k->lock);
	if (w->stuck) {
		w->stuck = 0;
		__atomic_sub_fetch(&stuck_requests, 1, __ATOMIC_RELAXED);
	}
	sign_done(w, j, rc, ok, sig, siglen, &e);
	w->lent = 0;
	if (c->state != UP || c->gen != w->gen || k->closing ||
	    k->qhead != NULL) {
		/* Its worker goes, or has queued work to take. */
		pthread_cond_signal(&w->cv);
	} else {
		/* Idle again, as it was: it still waits on its cv. */
		w->idle = 1;
		w->next_idle = k->idle;
		k->idle = w;
	}
	return 1;
}

void
fsd_sign(struct fsd_key *k, const EVP_MD *md, const uint8_t *d, size_t dlen,
    struct fsd_sign_res *res)
{
	struct timespec t0 = now_mono(), deadline;
	struct fsd_pool_opts o = get_opts();
	struct job *j;
	double secs;

	memset(res, 0, sizeof(*res));
	if (dlen > EVP_MAX_MD_SIZE || (j = calloc(1, sizeof(*j))) == NULL) {
		res->status = 500;
		res->code = "internal";
		snprintf(res->detail, sizeof(res->detail), "out of memory");
		return;
	}
	j->refs = 1;
	j->md = md;
	j->nid = EVP_MD_get_type(md);
	memcpy(j->digest, d, dlen);
	j->dlen = dlen;
	cond_init(&j->cv);
	/* The watchdog moves a stuck request on; this is the last resort. */
	deadline = ts_add(t0, (double)(o.token_timeout * (int64_t)
	    (k->ncopies + 2) + 60));
	pthread_mutex_lock(&k->lock);
	k->requests++;
	if (!sign_lent(k, j))
		dispatch(k, j);
	while (!j->done) {
		if (pthread_cond_timedwait(&j->cv, &k->lock, &deadline) !=
		    ETIMEDOUT || j->done)
			continue;
		if (j->queued) {
			struct job **pp;

			for (pp = &k->qhead; *pp != NULL; pp = &(*pp)->next)
				if (*pp == j) {
					*pp = j->next;
					break;
				}
			k->qtail = NULL;
			for (struct job *q = k->qhead; q != NULL; q = q->next)
				k->qtail = q;
			j->queued = 0;
			k->qlen--;
			j->refs--;
		} else if (j->w != NULL) {
			j->w->abandoned = 1;
			j->w = NULL;
		}
		k->timeouts++;
		job_finish(j, 503, "timeout", "no token of key '%s' signed in "
		    "time", k->name);
	}
	secs = ts_diff(now_mono(), t0);
	res->status = j->status;
	res->code = j->code;
	res->retry_after = j->retry_after;
	snprintf(res->detail, sizeof(res->detail), "%s", j->detail);
	res->sig = j->sig;
	res->siglen = j->siglen;
	j->sig = NULL;
	memcpy(res->token, j->token, sizeof(res->token));
	memcpy(res->serial, j->serial, sizeof(res->serial));
	res->seconds = secs;
	if (res->status == 200) {
		k->signed_ok++;
		k->hist_count++;
		k->hist_sum += secs;
		for (int i = 0; i < NBUCKETS; i++)
			if (secs <= buckets[i])
				k->hist[i]++;
	} else {
		k->failed++;
	}
	job_unref(j);
	pthread_mutex_unlock(&k->lock);
}

/* --- metrics -------------------------------------------------------------- */

void
fsd_buf_printf(struct fsd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ?
		    b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if (b->p != NULL && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap + (size_t)n + 1) * 2;
			char *p = realloc(b->p, cap);

			if (p == NULL) {
				b->failed = 1;
				return;
			}
			b->p = p;
			b->cap = cap;
		}
	}
}

/* A label value as Prometheus wants it: \ " and newline escaped. */
static const char *
lv(const char *s, char *buf, size_t len)
{
	size_t used = 0;

	for (; *s != '\0' && used + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[used++] = '\\';
			buf[used++] = *s;
		} else if (*s == '\n') {
			buf[used++] = '\\';
			buf[used++] = 'n';
		} else {
			buf[used++] = *s;
		}
	}
	buf[used] = '\0';
	return buf;
}

enum copy_metric {
	M_SIGS, M_UP, M_SESSIONS, M_BUSY, M_OPENS,
};

static void
copy_family(const struct fsd_keyset *ks, struct fsd_buf *b, const char *name,
    const char *type, const char *help, enum copy_metric m)
{
	char kn[160], tl[80], se[40];

	fsd_buf_printf(b, "# HELP fedsignd_%s %s\n# TYPE fedsignd_%s %s\n",
	    name, help, name, type);
	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];

		pthread_mutex_lock(&k->lock);
		lv(k->name, kn, sizeof(kn));
		for (size_t j = 0; j < k->ncopies; j++) {
			const struct copy *c = &k->copies[j];
			unsigned long long v = 0;

			switch (m) {
			case M_SIGS: v = c->nsig; break;
			case M_UP: v = c->state == UP; break;
			case M_SESSIONS: v = c->state == UP ? c->sessions : 0;
				break;
			case M_BUSY: v = c->busy; break;
			case M_OPENS: v = c->opens; break;
			}
			fsd_buf_printf(b, "fedsignd_%s{key=\"%s\",token=\"%s\","
			    "serial=\"%s\"} %llu\n", name, kn, lv(c->label[0] ?
			    c->label : c->cfg_label, tl, sizeof(tl)),
			    lv(c->serial, se, sizeof(se)), v);
		}
		pthread_mutex_unlock(&k->lock);
	}
}

enum key_metric { K_HEALTHY, K_QUEUE };

static void
key_family(const struct fsd_keyset *ks, struct fsd_buf *b, const char *name,
    const char *help, enum key_metric m)
{
	char kn[160];

	fsd_buf_printf(b, "# HELP fedsignd_%s %s\n# TYPE fedsignd_%s gauge\n",
	    name, help, name);
	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];

		pthread_mutex_lock(&k->lock);
		fsd_buf_printf(b, "fedsignd_%s{key=\"%s\"} %u\n", name,
		    lv(k->name, kn, sizeof(kn)), m == K_HEALTHY ?
		    (unsigned)up_count(k) : k->qlen);
		pthread_mutex_unlock(&k->lock);
	}
}

void
fsd_keyset_metrics(const struct fsd_keyset *ks, struct fsd_buf *b)
{
	char kn[160], tl[80], en[80];

	copy_family(ks, b, "signatures_total", "counter", "Signatures made "
	    "and verified, by key and token.", M_SIGS);
	fsd_buf_printf(b, "# HELP fedsignd_token_errors_total Failed token "
	    "operations (requests and test signatures) by key, token and "
	    "PKCS#11 return value (or bad-signature).\n"
	    "# TYPE fedsignd_token_errors_total counter\n");
	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];

		pthread_mutex_lock(&k->lock);
		lv(k->name, kn, sizeof(kn));
		for (size_t j = 0; j < k->ncopies; j++) {
			const struct copy *c = &k->copies[j];

			lv(c->label[0] ? c->label : c->cfg_label, tl,
			    sizeof(tl));
			for (unsigned e = 0; e < c->nerrs; e++)
				fsd_buf_printf(b, "fedsignd_token_errors_total{"
				    "key=\"%s\",token=\"%s\",code=\"%s\"} "
				    "%llu\n", kn, tl, lv(c->errs[e].name, en,
				    sizeof(en)),
				    (unsigned long long)c->errs[e].n);
		}
		pthread_mutex_unlock(&k->lock);
	}
	copy_family(ks, b, "token_up", "gauge", "1 while the token is healthy "
	    "and in use.", M_UP);
	copy_family(ks, b, "token_sessions", "gauge", "Sessions (workers) of "
	    "the token.", M_SESSIONS);
	copy_family(ks, b, "token_busy", "gauge", "Sessions signing now.",
	    M_BUSY);
	copy_family(ks, b, "token_opens_total", "counter", "Times the token "
	    "was opened and logged in to.", M_OPENS);
	fsd_buf_printf(b, "# HELP fedsignd_health_checks_total Test "
	    "signatures by key, token and result.\n"
	    "# TYPE fedsignd_health_checks_total counter\n");
	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];

		pthread_mutex_lock(&k->lock);
		lv(k->name, kn, sizeof(kn));
		for (size_t j = 0; j < k->ncopies; j++) {
			const struct copy *c = &k->copies[j];

			lv(c->label[0] ? c->label : c->cfg_label, tl,
			    sizeof(tl));
			fsd_buf_printf(b, "fedsignd_health_checks_total{key="
			    "\"%s\",token=\"%s\",result=\"ok\"} %llu\n"
			    "fedsignd_health_checks_total{key=\"%s\",token="
			    "\"%s\",result=\"failed\"} %llu\n", kn, tl,
			    (unsigned long long)c->checks_ok, kn, tl,
			    (unsigned long long)c->checks_failed);
		}
		pthread_mutex_unlock(&k->lock);
	}
	key_family(ks, b, "key_healthy_tokens", "Healthy tokens of the key.",
	    K_HEALTHY);
	key_family(ks, b, "queue_length", "Requests waiting for a session.",
	    K_QUEUE);
	fsd_buf_printf(b, "# HELP fedsignd_requests_total Signature requests "
	    "by key and result.\n# TYPE fedsignd_requests_total counter\n");
	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];
		uint64_t other;

		pthread_mutex_lock(&k->lock);
		lv(k->name, kn, sizeof(kn));
		other = k->failed - k->rejected_full - k->rejected_down -
		    k->timeouts;
		fsd_buf_printf(b,
		    "fedsignd_requests_total{key=\"%s\",result=\"ok\"} %llu\n"
		    "fedsignd_requests_total{key=\"%s\",result=\"queue-full\"} "
		    "%llu\n"
		    "fedsignd_requests_total{key=\"%s\",result=\"no-token\"} "
		    "%llu\n"
		    "fedsignd_requests_total{key=\"%s\",result=\"timeout\"} "
		    "%llu\n"
		    "fedsignd_requests_total{key=\"%s\",result=\"failed\"} "
		    "%llu\n", kn, (unsigned long long)k->signed_ok, kn,
		    (unsigned long long)k->rejected_full, kn,
		    (unsigned long long)k->rejected_down, kn,
		    (unsigned long long)k->timeouts, kn,
		    (unsigned long long)(other > k->failed ? 0 : other));
		pthread_mutex_unlock(&k->lock);
	}
	fsd_buf_printf(b, "# HELP fedsignd_sign_seconds Time to answer a "
	    "signature request, waiting included.\n"
	    "# TYPE fedsignd_sign_seconds histogram\n");
	for (size_t i = 0; i < ks->n; i++) {
		struct fsd_key *k = ks->keys[i];

		pthread_mutex_lock(&k->lock);
		lv(k->name, kn, sizeof(kn));
		for (int h = 0; h < NBUCKETS; h++)
			fsd_buf_printf(b, "fedsignd_sign_seconds_bucket{key="
			    "\"%s\",le=\"%g\"} %llu\n", kn, buckets[h],
			    (unsigned long long)k->hist[h]);
		fsd_buf_printf(b, "fedsignd_sign_seconds_bucket{key=\"%s\","
		    "le=\"+Inf\"} %llu\nfedsignd_sign_seconds_sum{key=\"%s\"} "
		    "%.6f\nfedsignd_sign_seconds_count{key=\"%s\"} %llu\n", kn,
		    (unsigned long long)k->hist_count, kn, k->hist_sum, kn,
		    (unsigned long long)k->hist_count);
		pthread_mutex_unlock(&k->lock);
	}
}
