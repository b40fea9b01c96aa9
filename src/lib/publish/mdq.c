/*
 * Per-entity documents for MDQ (draft-young-md-query-saml), signed only
 * when they must be.
 *
 * The signing cache, state-dir/mdq/cache/XX/, holds one file per signed
 * entity document, named KEY.VALIDUNTIL.HASH.xml (XX: KEY's first byte):
 * KEY is the SHA-256 of
 * the entity's content digest (exclusive c14n without its Signature, ID
 * and validUntil) and of what else goes into the document
 * (cacheDuration, algorithms), VALIDUNTIL the document's validUntil in
 * seconds, HASH the SHA-256 of the file's bytes.
 * A file is written as soon as its document is signed, so a run killed
 * at any point loses no signature but the ones in flight, and the next
 * run finds the others.  A file whose bytes do not match its name (cut
 * short by a kill, or by a crash of the machine before the data reached
 * the disk) is signed again.  Published documents are hard
 * links to (or, across file systems, copies of) cache files, byte for
 * byte.
 *
 * Which entities are signed: new and changed ones, always; unchanged
 * ones whose document comes within resign-window of its validUntil, at
 * most ceil(N x run-interval / resign-window) a run, soonest expiry
 * first, and beyond that budget every one that would otherwise have
 * less than resign-window / 2 left before the next run.  Each signature
 * gets validUntil = now + validity less a share of the window fixed per
 * entity (from its entityID), so that what a first run signs at once
 * comes up for renewal spread over the window, not all in one run.
 */
#include "publish/publish_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <libdeflate.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "fedsign/dsig.h"
#include "fedsign/file.h"
#include "fedsign/md.h"
#include "fedsign/signer.h"
#include "fedsign/util.h"
#include "publish/release.h"

#define CACHE_VERSION "fedsign-mdq-1"
#define DOC_MODE 0644

enum action { KEEP, SIGN_NEW, SIGN_CHANGED, RENEW };

/* A file of the cache, by its name. */
struct cached {
	unsigned char key[32];
	time_t valid_until;
	unsigned char hash[32];
	char name[192];
	int used;			/* referenced by this run */
	uint8_t *sig;			/* not a file yet: the SignatureValue a
					   killed run journaled (recover) */
	size_t siglen;
	int intact;			/* 0: not read yet, 1: its bytes match
					   its name, -1: they do not */
};

struct item {
	struct fs_entity *e;
	unsigned char key[32];
	char file[48];			/* {sha1}hex */
	struct cached *c;		/* its cache file, NULL when none */
	enum action action;
	time_t valid_until;		/* of the document published */
	int bounded;			/* validUntil set by what it came with */
	char new_name[192];		/* the cache file this run made */
	json_t *disco;			/* its discovery JSON */
	char *disco_text;		/* as its .json has it, when written */
	char sha256[65];		/* of the published bytes */
	unsigned char hash[32];		/* of new_name's bytes */
	struct fs_dsig_prep *prep;	/* while signing */
	char *doc;			/* the bytes signed this run */
	size_t doclen;
	off_t size;
	time_t mtime;
};

struct fs_mdq {
	const struct fs_conf *conf;
	const struct fs_conf_mdq *mc;
	fs_report *rep;
	time_t now;
	char dir[4096];			/* state-dir/mdq */
	char cache[4200];		/* state-dir/mdq/cache */
	struct cached *cv;
	size_t cn;
	struct item *v;
	size_t n;
	json_t *prev;			/* state-dir/mdq/entities.json */
	char *next_state;		/* the next one, made by the tree */
	char *next_parts;		/* the aggregate .gz's parts (agg_gz) */
	size_t gz_parts, gz_reused;	/* the aggregate .gz's parts, and
					   those taken from the live one */
	size_t counts[4];		/* by action */
	size_t removed, signed_now, bounded_short, recovered;
	size_t over_validity;		/* renewed: valid for too long */
	double sign_seconds;		/* the token's part */
	double prep_seconds;		/* the rest, before it */
	unsigned workers;
	const struct fs_publish_opts *o;
	int jfd;			/* the journal, while signing */
	pthread_mutex_t jlock;		/* one record at a time */
	struct tree *tree;		/* the tree being written */
	pthread_t early;		/* fs_mdq_check_start's thread */
	int early_on;			/* it runs, or ran and is not joined */
	int early_stop;			/* atomic: stop it */
	unsigned char signer[32];	/* the key (and certificate) the cache
					   keys are for */
};

static int read_journal(struct fs_mdq *q, size_t *cap, fs_err *err);

/* The cache file an item publishes: the one signed this run, if any. */
static const char *
item_name(const struct item *it)
{
	if (it->new_name[0] != '\0' || it->c == NULL)
		return it->new_name;
	return it->c->name;
}

static const unsigned char *
item_hash(const struct item *it)
{
	if (it->new_name[0] != '\0' || it->c == NULL)
		return it->hash;
	return it->c->hash;
}
static void tree_free(struct fs_mdq *q);

static void
hex(const unsigned char *b, size_t n, char *out)
{
	fs_hex(b, n, out, 2 * n + 1);
}

static int
unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* KEY.VALIDUNTIL.HASH.xml */
static int
parse_name(const char *name, struct cached *c)
{
	const char *p = name, *dot;
	char *end;
	long long vu;

	if (strlen(name) >= sizeof(c->name) || unhex(p, 32, c->key) != 0 ||
	    p[64] != '.')
		return -1;
	p += 65;
	if ((dot = strchr(p, '.')) == NULL || dot == p)
		return -1;
	errno = 0;
	vu = strtoll(p, &end, 10);
	if (errno != 0 || end != dot || vu <= 0)
		return -1;
	p = dot + 1;
	if (unhex(p, 32, c->hash) != 0 || strcmp(p + 64, ".xml") != 0)
		return -1;
	c->valid_until = (time_t)vu;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return 0;
}

static int
by_key(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;
	int c = memcmp(x->key, y->key, 32);

	if (c != 0)
		return c;
	/* The latest validUntil first. */
	if (x->valid_until != y->valid_until)
		return x->valid_until > y->valid_until ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Where the cache file name lives: a folder per first byte of its key,
 * so that threads adding files do not all wait for one folder's lock. */
static void
cache_path(const struct fs_mdq *q, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%.2s/%s", q->cache, name, name);
}

static int
add_cached(struct fs_mdq *q, const struct cached *c, size_t *cap,
    fs_err *err)
{
	if (q->cn == *cap) {
		struct cached *more;

		*cap = *cap ? *cap * 2 : 1024;
		if ((more = realloc(q->cv, *cap * sizeof(*more))) == NULL)
			return fs_err_nomem(err, "reading the MDQ cache");
		q->cv = more;
	}
	q->cv[q->cn++] = *c;
	return FS_OK;
}

/*
 * The cache's files, and the documents the journal holds.  A file a
 * killed run was writing is there under its final name, but its bytes do
 * not match the name: intact() finds it out before it is used.  A name
 * both in the cache and in the journal is the file's: fs_mdq_commit
 * removes the files of the names the run did not use, so each name is in
 * the list once.
 */
static int
load_cache(struct fs_mdq *q, fs_err *err)
{
	struct dirent *de;
	size_t cap = 0, i, k;
	char sub[4300];
	DIR *d;
	int rc;

	for (unsigned b = 0; b < 256; b++) {
		snprintf(sub, sizeof(sub), "%s/%02x", q->cache, b);
		/* Made by the first run; mkdir -p only when missing. */
		if ((d = opendir(sub)) == NULL && errno == ENOENT &&
		    (rc = fs_mkdirs(sub, 0700, err)) != FS_OK)
			return rc;
		if (d == NULL && (d = opendir(sub)) == NULL)
			return fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    sub, strerror(errno));
		while ((de = readdir(d)) != NULL) {
			struct cached c = { 0 };

			if (parse_name(de->d_name, &c) != 0 ||
			    c.key[0] != b)
				continue;
			if ((rc = add_cached(q, &c, &cap, err)) != FS_OK) {
				closedir(d);
				return rc;
			}
		}
		closedir(d);
	}
	if ((rc = read_journal(q, &cap, err)) != FS_OK)
		return rc;
	if (q->cn > 1)
		qsort(q->cv, q->cn, sizeof(*q->cv), by_key);
	for (i = 0, k = 0; i < q->cn; i++) {
		struct cached *c = &q->cv[i];

		if (k > 0 && strcmp(q->cv[k - 1].name, c->name) == 0) {
			struct cached *kept = &q->cv[k - 1];

			if (kept->sig != NULL && c->sig == NULL) {
				free(kept->sig);
				*kept = *c;
			} else {
				free(c->sig);
			}
			continue;
		}
		q->cv[k++] = *c;
	}
	q->cn = k;
	return FS_OK;
}

static struct cached *
find_cached(const struct fs_mdq *q, const unsigned char key[32])
{
	size_t lo = 0, hi = q->cn;

	/* The first of its key: the one with the latest validUntil. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(q->cv[mid].key, key, 32) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < q->cn && memcmp(q->cv[lo].key, key, 32) == 0)
		return &q->cv[lo];
	return NULL;
}

/* The cache key: the content and what else the document carries. */
static void
cache_key(const struct fs_mdq *q, const struct fs_entity *e,
    unsigned char out[32])
{
	const struct fs_conf *c = q->conf;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char buf[128];
	unsigned int len;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		/* No digest, no cache: a key that matches nothing. */
		EVP_MD_CTX_free(md);
		RAND_bytes(out, 32);
		return;
	}
	EVP_DigestUpdate(md, CACHE_VERSION, sizeof(CACHE_VERSION));
	EVP_DigestUpdate(md, q->signer, sizeof(q->signer));
	EVP_DigestUpdate(md, e->digest, sizeof(e->digest));
	snprintf(buf, sizeof(buf), "%lld|%s|%s",
	    (long long)q->mc->cache_duration,
	    c->signing.alg ? c->signing.alg : "",
	    c->signing.digest ? c->signing.digest : "");
	EVP_DigestUpdate(md, buf, strlen(buf) + 1);
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
}

/* The share of the resign window entity e gives up, fixed per entity. */
static double
spread_of(const char *entity_id)
{
	unsigned char h[32];
	uint64_t v = 0;

	EVP_Digest(entity_id, strlen(entity_id), h, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return (double)(v >> 11) / (double)(1ULL << 53);
}

/*
 * The validUntil a signature made now would get: now + validity, never
 * later than the entity's own validUntil, less its share of the window
 * where there is room for it.  An enclosing aggregate's validUntil bounds
 * that aggregate's signature, not our per-entity documents: each run
 * fetches and verifies the source again, and an entity whose source stops
 * verifying (or expires) is no longer in the tree.  Capping by it would
 * re-sign every upstream entity whenever the upstream's short validity
 * window moved, which a 2/s smartcard cannot do for eduGAIN.
 */
static time_t
target(const struct fs_mdq *q, const struct fs_entity *e, int *bounded)
{
	time_t w = (time_t)q->mc->resign_window;
	time_t base = q->now + (time_t)q->mc->validity, head;

	*bounded = 0;
	if (e->own_valid_until != 0 && e->own_valid_until < base) {
		base = e->own_valid_until;
		*bounded = 1;
	}
	head = base - q->now - w;
	if (head <= 0)
		return base;
	return base - (time_t)(spread_of(e->entity_id) *
	    (double)(head < w ? head : w));
}

/*
 * The latest validUntil a kept document may have now: now + validity, and
 * never past the entity's own validUntil.  Neither is in the cache key, so
 * a document signed before the operator shortened validity, or before the
 * entity's own validUntil came forward, is found in the cache all the same,
 * and is signed again rather than published with more than is allowed.
 * Validity has one run-interval of slack: a clock stepped back by less than
 * that must not sign again what the last run signed.
 */
static time_t
latest(const struct fs_mdq *q, const struct fs_entity *e)
{
	time_t t = q->now + (time_t)q->mc->validity +
	    (time_t)q->mc->run_interval;

	if (e->own_valid_until != 0 && e->own_valid_until < t)
		t = e->own_valid_until;
	return t;
}

/* A document that expires before the next run is of no use. */
static int
outlasts_run(const struct fs_mdq *q, const struct cached *c)
{
	return c->valid_until - q->now > (time_t)q->mc->run_interval;
}

/*
 * The document of the cache that entity e can keep: of those with its key
 * (latest validUntil first), the first that outlasts the next run and does
 * not claim more than latest() allows; NULL when none does.
 */
static struct cached *
keepable(const struct fs_mdq *q, const struct fs_entity *e,
    struct cached *first)
{
	time_t most = latest(q, e);

	for (struct cached *c = first; c != NULL && c < q->cv + q->cn &&
	    memcmp(c->key, first->key, 32) == 0; c++) {
		if (!outlasts_run(q, c))
			break;
		if (c->valid_until <= most)
			return c;
	}
	return NULL;
}

static void
sha1_file(const char *entity_id, char out[48])
{
	unsigned char h[20];
	char x[41];

	EVP_Digest(entity_id, strlen(entity_id), h, NULL, EVP_sha1(), NULL);
	hex(h, 20, x);
	snprintf(out, 48, "{sha1}%s", x);
}

static int
by_expiry(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a;
	const struct item *y = *(const struct item *const *)b;

	if (x->c->valid_until != y->c->valid_until)
		return x->c->valid_until < y->c->valid_until ? -1 : 1;
	return strcmp(x->e->entity_id, y->e->entity_id);
}

int
fs_mdq_wants(const struct fs_mdq *q, const struct fs_entity *e)
{
	for (size_t i = 0; i < q->mc->sources.n; i++)
		if (strcmp(q->mc->sources.v[i], e->src->conf->name) == 0)
			return 1;
	return 0;
}

/* Renewals: soonest expiry first, within the budget and the floor. */
static int
plan_renewals(struct fs_mdq *q, fs_err *err)
{
	time_t w = (time_t)q->mc->resign_window;
	time_t iv = (time_t)q->mc->run_interval;
	struct item **cand;
	size_t nc = 0, budget, taken = 0;

	if ((cand = calloc(q->n + 1, sizeof(*cand))) == NULL)
		return fs_err_nomem(err, "planning MDQ renewals");
	for (size_t i = 0; i < q->n; i++) {
		struct item *it = &q->v[i];
		int bounded;
		time_t t;

		if (it->action != KEEP || it->c->valid_until - q->now >= w)
			continue;
		t = target(q, it->e, &bounded);
		/* A new signature must buy at least one run. */
		if (t - it->c->valid_until >= iv)
			cand[nc++] = it;
		else if (it->c->valid_until - q->now < w / 2)
			q->bounded_short++;
	}
	qsort(cand, nc, sizeof(*cand), by_expiry);
	budget = (size_t)(((uint64_t)q->n * (uint64_t)iv + (uint64_t)w - 1) /
	    (uint64_t)w);
	if (budget < 1)
		budget = 1;
	for (size_t i = 0; i < nc; i++) {
		int must = cand[i]->c->valid_until - q->now < w / 2 + iv;

		if (!must && taken >= budget)
			break;
		cand[i]->action = RENEW;
		/* Its old document goes once the new one is published. */
		cand[i]->c->used = 0;
		taken++;
	}
	free(cand);
	return FS_OK;
}

/*
 * Each item against the cache: kept, renewed or signed.  Again when the
 * signer turns out not to be the one the plan assumed.
 */
static int
match(struct fs_mdq *q, fs_err *err)
{
	memset(q->counts, 0, sizeof(q->counts));
	q->bounded_short = 0;
	q->over_validity = 0;
	for (size_t i = 0; i < q->cn; i++)
		q->cv[i].used = 0;
	for (size_t i = 0; i < q->n; i++) {
		struct item *it = &q->v[i];
		struct fs_entity *e = it->e;
		struct cached *first;

		cache_key(q, e, it->key);
		first = find_cached(q, it->key);
		if ((it->c = keepable(q, e, first)) != NULL) {
			it->action = KEEP;
			it->valid_until = it->c->valid_until;
			it->c->used = 1;
			/* Bounded now if a signature now would be. */
			(void)target(q, e, &it->bounded);
			continue;
		}
		/* Unchanged, but valid for longer than is allowed now: a
		 * renewal that does not wait for the budget. */
		if (first != NULL && outlasts_run(q, first)) {
			it->c = first;
			it->action = RENEW;
			q->over_validity++;
			continue;
		}
		it->action = json_object_get(q->prev, e->entity_id) == NULL ?
		    SIGN_NEW : SIGN_CHANGED;
	}
	if (plan_renewals(q, err) != FS_OK)
		return FS_ENOMEM;
	for (size_t i = 0; i < q->n; i++)
		q->counts[q->v[i].action]++;
	return FS_OK;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* How many entities the last publication had that this one has not. */
static int
count_removed(struct fs_mdq *q, fs_err *err)
{
	const char **ids, *id;
	json_t *v;

	if (q->prev == NULL || q->n == 0) {
		q->removed = q->prev != NULL ? json_object_size(q->prev) : 0;
		return FS_OK;
	}
	if ((ids = calloc(q->n, sizeof(*ids))) == NULL)
		return fs_err_nomem(err, "planning MDQ");
	for (size_t i = 0; i < q->n; i++)
		ids[i] = q->v[i].e->entity_id;
	qsort(ids, q->n, sizeof(*ids), by_id);
	json_object_foreach(q->prev, id, v) {
		(void)v;
		if (bsearch(&id, ids, q->n, sizeof(*ids), by_id) == NULL)
			q->removed++;
	}
	free(ids);
	return FS_OK;
}

/* The signer the last run used, as the plan's best guess of this one's. */
static void
read_signer(struct fs_mdq *q)
{
	char path[4300], *was = NULL;
	size_t wlen;
	fs_err e;

	memset(q->signer, 0, sizeof(q->signer));
	snprintf(path, sizeof(path), "%s/signer", q->dir);
	if (fs_file_read(path, 1024, &was, &wlen, &e) == FS_OK && wlen >= 64)
		for (size_t i = 0; i < 32; i++) {
			unsigned x;

			if (sscanf(was + 2 * i, "%2x", &x) != 1) {
				memset(q->signer, 0, sizeof(q->signer));
				break;
			}
			q->signer[i] = (unsigned char)x;
		}
	free(was);
}

int
fs_mdq_open(const struct fs_conf *conf, const struct fs_publish_opts *o,
    time_t now, fs_report *rep, struct fs_mdq **out, fs_err *err)
{
	struct fs_mdq *q;
	char path[4300];
	int rc;

	*out = NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return fs_err_nomem(err, "planning MDQ");
	q->conf = conf;
	q->mc = &conf->mdq;
	q->rep = rep;
	q->now = now;
	q->o = o;
	q->jfd = -1;
	pthread_mutex_init(&q->jlock, NULL);
	if ((rc = fs_path_fmt(q->dir, sizeof(q->dir), err, "%s/mdq",
	    conf->state_dir)) != FS_OK ||
	    (rc = fs_path_fmt(q->cache, sizeof(q->cache), err, "%s/cache",
	    q->dir)) != FS_OK ||
	    (rc = fs_mkdirs(q->dir, 0700, err)) != FS_OK ||
	    (rc = load_cache(q, err)) != FS_OK) {
		fs_mdq_free(q);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/entities.json", q->dir);
	q->prev = json_load_file(path, 0, NULL);
	read_signer(q);
	*out = q;
	return FS_OK;
}

int
fs_mdq_keeps_c14n(const struct fs_mdq *q, const struct fs_entity *e)
{
	time_t w = (time_t)q->mc->resign_window;
	time_t iv = (time_t)q->mc->run_interval;
	unsigned char key[32];
	const struct cached *c;

	if (e->mdq != q)
		return 0;
	cache_key(q, e, key);
	/* No document it can keep, or one the plan may renew or drop
	 * (match, plan_renewals). */
	c = keepable(q, e, find_cached(q, key));
	return c == NULL || c->valid_until - q->now <= (w > iv ? w : iv);
}

int
fs_mdq_plan(struct fs_mdq *q, struct fs_entity *ents, size_t n, fs_err *err)
{
	int rc;

	if ((q->v = calloc(n + 1, sizeof(*q->v))) == NULL)
		return fs_err_nomem(err, "planning MDQ");
	for (size_t i = 0; i < n; i++) {
		struct fs_entity *e = &ents[i];

		if (e->dropped || !e->have_digest || e->mdq != q)
			continue;
		q->v[q->n].e = e;
		sha1_file(e->entity_id, q->v[q->n].file);
		q->n++;
	}
	if ((rc = match(q, err)) != FS_OK)
		return rc;
	if ((rc = count_removed(q, err)) != FS_OK)
		return rc;
	if (q->over_validity > 0)
		fs_report_finding(q->rep, FS_LEVEL_INFO, "mdq", NULL, NULL,
		    NULL, 0, "%zu unchanged entity documents are valid for "
		    "longer than mdq validity or their entity's own "
		    "validUntil now allows: they are signed again in this "
		    "run", q->over_validity);
	/* The checks' canonical bytes stay only for what is to be signed
	 * (what is signed after all, for a new key, is canonicalised):
	 * fs_mdq_keeps_c14n kept none outside the sources. */
	for (size_t i = 0; i < n; i++)
		if (ents[i].dropped) {
			free(ents[i].c14n);
			ents[i].c14n = NULL;
		}
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i].action == KEEP) {
			free(q->v[i].e->c14n);
			q->v[i].e->c14n = NULL;
		}
	return FS_OK;
}

size_t
fs_mdq_to_sign(const struct fs_mdq *q)
{
	return q->counts[SIGN_NEW] + q->counts[SIGN_CHANGED] +
	    q->counts[RENEW];
}

/*
 * The key and certificate that sign this run (tag: their digest).  The
 * cache keys carry it: when it is not the one the plan assumed (the last
 * run's), every item is matched again, so that a document signed by
 * another key is never published, and those an interrupted run made with
 * this key are kept.
 */
int
fs_mdq_signer(struct fs_mdq *q, const unsigned char tag[32], fs_err *err)
{
	char x[65], path[4300];
	size_t before;
	int rc;

	if (memcmp(q->signer, tag, 32) == 0)
		return FS_OK;
	before = fs_mdq_to_sign(q);
	memcpy(q->signer, tag, 32);
	if ((rc = match(q, err)) != FS_OK)
		return rc;
	if (q->cn > 0)
		fs_report_finding(q->rep, FS_LEVEL_INFO, "mdq", NULL, NULL,
		    NULL, 0, "the signing key or certificate is not the one "
		    "the last run used: %zu entity documents are signed "
		    "(%zu planned)", fs_mdq_to_sign(q), before);
	hex(tag, 32, x);
	snprintf(path, sizeof(path), "%s/signer", q->dir);
	return fs_write_file_atomic(path, x, 64, 0600, err);
}

/* --- signing, on several threads ------------------------------------------ */

struct job {
	struct fs_mdq *q;
	fs_signer *signer;
	struct fs_dsig_tmpl *tmpl;
	EVP_PKEY *pub;
	struct item **todo;
	size_t n;
	size_t next;			/* atomic */
	size_t done;			/* atomic */
	size_t verified;		/* atomic: signed documents checked */
	size_t prechecked;		/* atomic: prepared ones */
	pthread_mutex_t lock;
	int rc;
	fs_err err;
};

/*
 * A signature into the journal, state-dir/mdq/journal, as soon as it is
 * made, so that a run killed at any point loses none but the ones in
 * flight: one record in one write, "FSJ2 NAME LENGTH\n" and the
 * SignatureValue.  NAME says what the document is and what its bytes
 * hash to: the next run prepares the document again and puts the
 * signature in (recover), which gives these bytes or is not used.  A
 * document signed the general way has no SignatureValue to give; its
 * record is "FSJ1 NAME LENGTH\n" and the document.  The tree writer makes
 * the cache files from the bytes kept in memory; a run that did not get
 * that far leaves the journal to the next one (read_journal).
 */
#define JOURNAL_SIG_MAX	2048

static int
journal_add(struct fs_mdq *q, struct item *it, char *buf, size_t len,
    const uint8_t *sig, size_t siglen, fs_err *err)
{
	unsigned char h[32];
	char kx[65], hx[65], head[256];
	struct iovec iov[2];
	ssize_t n;
	int hl, whole;

	EVP_Digest(buf, len, h, NULL, EVP_sha256(), NULL);
	memcpy(it->hash, h, 32);
	hex(it->key, 32, kx);
	hex(h, 32, hx);
	snprintf(it->new_name, sizeof(it->new_name), "%s.%lld.%s.xml", kx,
	    (long long)it->valid_until, hx);
	whole = sig == NULL || siglen == 0 || siglen > JOURNAL_SIG_MAX;
	hl = snprintf(head, sizeof(head), "FSJ%c %s %zu\n", whole ? '1' : '2',
	    it->new_name, whole ? len : siglen);
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)hl;
	iov[1].iov_base = whole ? (void *)buf : (void *)sig;
	iov[1].iov_len = whole ? len : siglen;
	pthread_mutex_lock(&q->jlock);
	do
		n = writev(q->jfd, iov, 2);
	while (n == -1 && errno == EINTR);
	pthread_mutex_unlock(&q->jlock);
	if (n != (ssize_t)(hl + iov[1].iov_len))
		return fs_err_set(err, FS_EIO, "cannot write the MDQ journal in "
		    "'%s': %s", q->dir, n == -1 ? strerror(errno) :
		    "short write");
	it->doc = buf;
	it->doclen = len;
	return FS_OK;
}

/* Make the cache file name from len bytes at buf (a new file). */
static int
cache_file(const struct fs_mdq *q, const char *name, const char *buf,
    size_t len, fs_err *err)
{
	char path[4400];
	int fd, rc;

	cache_path(q, name, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, DOC_MODE)) == -1) {
		if (errno == EEXIST)
			return FS_OK;
		return fs_err_set(err, FS_EIO, "cannot write '%s': %s", path,
		    strerror(errno));
	}
	(void)fchmod(fd, DOC_MODE);
	rc = fs_write_all(fd, buf, len, path, err);
	if (close(fd) == -1 && rc == FS_OK)
		rc = fs_err_set(err, FS_EIO, "cannot write '%s': %s", path,
		    strerror(errno));
	if (rc != FS_OK)
		(void)unlink(path);
	return rc;
}

/*
 * What a killed run signed, from the journal: a document (FSJ1) whose
 * bytes match its name becomes a cache file; a SignatureValue (FSJ2) is
 * kept under its document's name, for recover() to make the document
 * again.  The journal stays until the run's tree is written
 * (fs_mdq_write), and this run adds to it: a record that a kill cut short
 * ends it, and is cut off.
 */
static int
read_journal(struct fs_mdq *q, size_t *cap, fs_err *err)
{
	char path[4300], *buf = NULL, *p, *end;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/journal", q->dir);
	if (access(path, F_OK) != 0)
		return FS_OK;
	if ((rc = fs_file_read(path, (size_t)4 << 30, &buf, &len, err)) !=
	    FS_OK)
		return rc;
	for (p = buf, end = buf + len; p < end; ) {
		char name[192], kind;
		char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cached c = { 0 };
		unsigned char h[32];
		unsigned long long n;

		if (nl == NULL || nl - p > 250 || sscanf(p, "FSJ%c %191s %llu",
		    &kind, name, &n) != 3 || (kind != '1' && kind != '2') ||
		    parse_name(name, &c) != 0 ||
		    n > (unsigned long long)(end - nl - 1))
			break;
		if (kind == '1') {
			EVP_Digest(nl + 1, (size_t)n, h, NULL, EVP_sha256(),
			    NULL);
			if (memcmp(h, c.hash, 32) != 0)
				break;
			if ((rc = cache_file(q, name, nl + 1, (size_t)n, err)) !=
			    FS_OK)
				goto out;
		} else {
			if (n == 0 || n > JOURNAL_SIG_MAX)
				break;
			if ((c.sig = malloc((size_t)n)) == NULL) {
				rc = fs_err_nomem(err, "reading the MDQ journal");
				goto out;
			}
			memcpy(c.sig, nl + 1, (size_t)n);
			c.siglen = (size_t)n;
			c.intact = 1;	/* no file: recover() checks its bytes */
		}
		if ((rc = add_cached(q, &c, cap, err)) != FS_OK) {
			free(c.sig);
			goto out;
		}
		p = nl + 1 + n;
	}
	if (p < end && truncate(path, (off_t)(p - buf)) == -1)
		rc = fs_err_set(err, FS_EIO, "cannot cut the end off the MDQ "
		    "journal '%s': %s", path, strerror(errno));
out:
	free(buf);
	return rc;
}

/*
 * Checks of our own work, which nothing else would catch: before the
 * token signs, the prepared bytes of the first 16 documents of a run and
 * of one in 32 after them are parsed again and canonicalised anew, and
 * their digest must be the one made from the checks' canonical bytes;
 * after it has signed, the first 16 documents are parsed again from the
 * bytes to be published and verified in full.  Every SignatureValue is
 * checked with the public key as it is made (fs_dsig_finish).
 */
#define CHECK_FIRST 16
#define CHECK_ONE_IN 32

static int
check_prepared(struct job *j, struct item *it, fs_err *err)
{
	if (__atomic_fetch_add(&j->prechecked, 1, __ATOMIC_RELAXED) >=
	    CHECK_FIRST && it->key[31] % CHECK_ONE_IN != 0)
		return FS_OK;
	return fs_dsig_prep_check(j->tmpl, it->prep, it->file, err);
}

static int
check_signed(struct job *j, struct item *it, const char *buf, size_t len,
    fs_err *err)
{
	struct fs_verify_opts vo = { 0 };
	xmlDocPtr doc;
	int rc;

	if (__atomic_fetch_add(&j->verified, 1, __ATOMIC_RELAXED) >=
	    CHECK_FIRST)
		return FS_OK;
	if ((rc = fs_md_parse_mem(buf, len, it->file, NULL, &doc, err)) !=
	    FS_OK)
		return rc;
	vo.key = j->pub;
	vo.now = j->q->now;
	rc = fs_dsig_verify(doc, &vo, NULL, err);
	xmlFreeDoc(doc);
	return rc;
}

/*
 * Everything of an entity's document but its signature: a copy of its
 * own, its ID, validUntil and cacheDuration, the digest (from the
 * content's c14n made in the checks), SignedInfo, the serialised bytes.
 */
static int
prepare_one(struct job *j, struct item *it, fs_err *err)
{
	struct fs_mdq *q = j->q;
	struct fs_md_final fin = { 0 };
	xmlNodePtr copy;
	xmlDocPtr doc;
	xmlChar *id;
	int rc;

	/* A document recover() makes again keeps its validUntil. */
	if (it->action != KEEP)
		it->valid_until = target(q, it->e, &it->bounded);
	if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
	    (copy = xmlDocCopyNode(it->e->node, doc, 1)) == NULL) {
		xmlFreeDoc(doc);
		return fs_err_nomem(err, "signing an entity");
	}
	xmlDocSetRootElement(doc, copy);
	/* Its own ID, else one from its cache key: the same each time. */
	if ((id = xmlGetNoNsProp(copy, BAD_CAST "ID")) == NULL) {
		char kx[65], idv[48];

		hex(it->key, 32, kx);
		snprintf(idv, sizeof(idv), "_%.40s", kx);
		if ((rc = fs_md_set_attr(copy, "ID", idv, err)) != FS_OK) {
			xmlFreeDoc(doc);
			return rc;
		}
	}
	xmlFree(id);
	fin.now = q->now;
	fin.valid_until = it->valid_until;
	fin.cache_duration = q->mc->cache_duration;
	if ((rc = fs_md_finalise(copy, &fin, err)) != FS_OK)
		xmlFreeDoc(doc);
	else
		rc = fs_dsig_prepare(j->tmpl, doc, it->e->c14n, it->e->c14nlen,
		    &it->prep, err);
	free(it->e->c14n);
	it->e->c14n = NULL;
	if (rc == FS_OK && (rc = check_prepared(j, it, err)) != FS_OK)
		fs_err_append(err, "entity %s", it->e->entity_id);
	return rc;
}

/* The token's signature, checked, into the journal. */
static int
sign_one(struct job *j, struct item *it, fs_err *err)
{
	char *buf = NULL;
	uint8_t *sig = NULL;
	size_t len, siglen;
	int rc;

	rc = fs_dsig_finish(j->tmpl, it->prep, j->signer, &buf, &len, &sig,
	    &siglen, err);
	fs_dsig_prep_free(it->prep);
	it->prep = NULL;
	if (rc != FS_OK)
		return rc;
	if ((rc = check_signed(j, it, buf, len, err)) != FS_OK) {
		if (rc == FS_ENOTVALID)
			fs_err_append(err, "the signed document of %s does not "
			    "verify", it->e->entity_id);
		free(buf);
		free(sig);
		return rc;
	}
	if ((rc = journal_add(j->q, it, buf, len, sig, siglen, err)) != FS_OK)
		free(buf);
	free(sig);
	return rc;	/* buf kept for the tree */
}

/* A kept item whose cache file can't be used: it is signed in this run. */
static void
sign_again(struct fs_mdq *q, struct item *it)
{
	q->counts[KEEP]--;
	it->action = SIGN_CHANGED;
	q->counts[SIGN_CHANGED]++;
	it->c->used = 0;
	it->c = NULL;
}

/*
 * A document a killed run signed, made again: prepared as it was (its
 * validUntil is the name's), with the journaled SignatureValue put in,
 * checked with the public key, and its bytes those the name hashes to.
 * The bytes go to the tree as a document signed now does, which writes
 * them and links the cache file to them; until then the journal keeps the
 * record.  FS_ENOTVALID: it is not that document (another cacheDuration,
 * another certificate since): it is signed again.
 */
static int
recover_one(struct job *j, struct item *it, fs_err *err)
{
	struct cached *c = it->c;
	unsigned char h[32];
	char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = prepare_one(j, it, err)) != FS_OK)
		return rc;
	rc = fs_dsig_finish_with(j->tmpl, it->prep, c->sig, c->siglen, &buf,
	    &len, err);
	fs_dsig_prep_free(it->prep);
	it->prep = NULL;
	if (rc != FS_OK)
		return rc;
	EVP_Digest(buf, len, h, NULL, EVP_sha256(), NULL);
	if (memcmp(h, c->hash, 32) != 0) {
		free(buf);
		return fs_err_set(err, FS_ENOTVALID, "the document made again "
		    "is not the one signed");
	}
	it->doc = buf;
	it->doclen = len;
	return FS_OK;
}

/* The signatures the journal gave, before anything is signed. */
static int
recover(struct job *j, fs_err *err)
{
	struct fs_mdq *q = j->q;
	int rc;

	for (size_t i = 0; i < q->n; i++) {
		struct item *it = &q->v[i];

		if (it->action != KEEP || it->c->sig == NULL)
			continue;
		if ((rc = recover_one(j, it, err)) == FS_OK) {
			q->recovered++;
			continue;
		}
		if (rc != FS_ENOTVALID)
			return rc;
		fs_report_finding(q->rep, FS_LEVEL_INFO, "mdq",
		    it->e->entity_id, NULL, it->c->name, 0, "the signature "
		    "the journal kept does not make this document again (%s): "
		    "signed again", err->msg);
		sign_again(q, it);
	}
	return FS_OK;
}

static void
job_fail(struct job *j, int rc, const fs_err *err)
{
	pthread_mutex_lock(&j->lock);
	if (j->rc == FS_OK) {
		j->rc = rc;
		j->err = *err;
	}
	pthread_mutex_unlock(&j->lock);
	__atomic_store_n(&j->next, j->n, __ATOMIC_RELAXED);
}

static void *
prepare_worker(void *arg)
{
	struct job *j = arg;
	size_t i;
	fs_err err;
	int rc;

	fs_md_init(NULL);
	while ((i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->n)
		if ((rc = prepare_one(j, j->todo[i], &err)) != FS_OK) {
			job_fail(j, rc, &err);
			break;
		}
	return NULL;
}

static void *
sign_worker(void *arg)
{
	struct job *j = arg;
	size_t i;
	fs_err err;
	int rc;

	fs_md_init(NULL);
	while ((i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->n) {
		if ((rc = sign_one(j, j->todo[i], &err)) != FS_OK) {
			job_fail(j, rc, &err);
			break;
		}
		i = __atomic_add_fetch(&j->done, 1, __ATOMIC_RELAXED);
		if (j->q->o->progress != NULL)
			j->q->o->progress(j->q->o->progress_ctx, "entities", i,
			    j->n);
	}
	return NULL;
}

/* Threads for n documents: want, or every CPU when 0, within limit. */
static unsigned
threads_for(unsigned want, unsigned limit, size_t n)
{
	if (want == 0)
		want = fs_cpus();
	if (want > limit)
		want = limit;
	if (want > FS_TOKEN_MAX_SESSIONS)
		want = FS_TOKEN_MAX_SESSIONS;
	if (want > n)
		want = (unsigned)n;
	return want < 1 ? 1 : want;
}

/*
 * Two steps: every document is prepared first, on every CPU, with no
 * token and no journal; then the token's sessions sign them, and all
 * else they do for each is check the signature and journal it.  A
 * SoftHSM2 token signs on the same CPUs, and so signs at close to its
 * own rate; a hardware token never waits for the canonicaliser.
 */
int
fs_mdq_sign(struct fs_mdq *q, fs_signer *signer, fs_err *err)
{
	struct job j = { q, signer, NULL, fs_signer_pubkey(signer), NULL, 0,
	    0, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER, FS_OK, { 0 } };
	struct fs_sign_opts so;
	struct timespec t0;
	char path[4300];
	int rc;

	fs_publish_sign_opts(q->conf, &so);
	if ((rc = fs_dsig_tmpl_new(signer, &so, &j.tmpl, err)) != FS_OK)
		return rc;
	if ((j.todo = calloc(q->n + 1, sizeof(*j.todo))) == NULL) {
		fs_dsig_tmpl_free(j.tmpl);
		return fs_err_nomem(err, "signing entities");
	}
	if ((j.rc = recover(&j, &j.err)) != FS_OK)
		goto out;
	/* Soonest expiry first: what a killed run signed is what mattered. */
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i].action == RENEW)
			j.todo[j.n++] = &q->v[i];
	if (j.n > 1)
		qsort(j.todo, j.n, sizeof(*j.todo), by_expiry);
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i].action == SIGN_NEW || q->v[i].action == SIGN_CHANGED)
			j.todo[j.n++] = &q->v[i];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	(void)fs_run_threads(threads_for(0, UINT_MAX, j.n), prepare_worker,
	    &j);
	q->prep_seconds = fs_elapsed(&t0);
	if (j.rc != FS_OK)
		goto out;

	snprintf(path, sizeof(path), "%s/journal", q->dir);
	if ((q->jfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		j.rc = fs_err_set(&j.err, FS_EIO, "cannot open '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	j.next = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	q->workers = fs_run_threads(threads_for(q->mc->sign_workers,
	    fs_signer_parallel(signer), j.n), sign_worker, &j);
	q->sign_seconds = fs_elapsed(&t0);
	q->signed_now = j.done;
	close(q->jfd);
	q->jfd = -1;
out:
	for (size_t i = 0; i < j.n; i++) {
		fs_dsig_prep_free(j.todo[i]->prep);
		j.todo[i]->prep = NULL;
	}
	pthread_mutex_destroy(&j.lock);
	free(j.todo);
	fs_dsig_tmpl_free(j.tmpl);
	if (j.rc != FS_OK && err != NULL)
		*err = j.err;
	return j.rc;
}

/* --- the tree ------------------------------------------------------------- */

/* Whether the cache file's bytes are the ones its name promises. */
static int
intact(const struct fs_mdq *q, const struct cached *c)
{
	unsigned char h[32];
	char path[4400];
	fs_err e;

	cache_path(q, c->name, path, sizeof(path));
	if (fs_file_sha256(path, h, &e) != FS_OK)
		return 0;
	return memcmp(h, c->hash, 32) == 0;
}

/*
 * Every file of the cache, on a thread of its own while the sources are
 * parsed (on one CPU), until fs_mdq_check_cache or fs_mdq_free.
 */
static void *
early_check(void *arg)
{
	struct fs_mdq *q = arg;

	for (size_t i = 0; i < q->cn &&
	    !__atomic_load_n(&q->early_stop, __ATOMIC_RELAXED); i++)
		if (q->cv[i].sig == NULL)
			q->cv[i].intact = intact(q, &q->cv[i]) ? 1 : -1;
	return NULL;
}

void
fs_mdq_check_start(struct fs_mdq *q)
{
	if (q->cn > 0 && !q->early_on)
		q->early_on = pthread_create(&q->early, NULL, early_check,
		    q) == 0;
}

static void
early_join(struct fs_mdq *q, int stop)
{
	if (!q->early_on)
		return;
	if (stop)
		__atomic_store_n(&q->early_stop, 1, __ATOMIC_RELAXED);
	pthread_join(q->early, NULL);
	q->early_on = 0;
}

struct cache_check {
	const struct fs_mdq *q;
	size_t next;			/* atomic: the next item */
};

static void *
cache_check_worker(void *arg)
{
	struct cache_check *c = arg;
	struct cached *cf;
	size_t i;

	while ((i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED)) <
	    c->q->n)
		if (c->q->v[i].action == KEEP &&
		    (cf = c->q->v[i].c)->intact == 0)
			cf->intact = intact(c->q, cf) ? 1 : -1;
	return NULL;
}

/*
 * Cached documents whose file was damaged are signed again: the run
 * found them before the tree is written.  Call before fs_mdq_sign.  The
 * files fs_mdq_check_start's thread did not read are read here on every
 * CPU; the findings are made here.
 */
void
fs_mdq_check_cache(struct fs_mdq *q)
{
	struct cache_check c = { q, 0 };
	size_t left = 0;

	early_join(q, 0);
	for (size_t i = 0; i < q->n; i++)
		left += q->v[i].action == KEEP && q->v[i].c->intact == 0;
	if (left > 0)
		(void)fs_run_threads(threads_for(0, UINT_MAX, left),
		    cache_check_worker, &c);
	for (size_t i = 0; i < q->n; i++) {
		struct item *it = &q->v[i];

		if (it->action != KEEP || it->c->intact == 1)
			continue;
		fs_report_finding(q->rep, FS_LEVEL_WARN, "mdq",
		    it->e->entity_id, NULL, it->c->name, 0, "the cached "
		    "document is damaged (its bytes do not match its name): "
		    "signed again");
		sign_again(q, it);
	}
}

/* Whether a failed link(2) says the two can't share an inode. */
static int
cannot_link(int e)
{
	return e == EXDEV || e == EPERM || e == EMLINK || e == ENOTSUP;
}

static int
place(const struct fs_mdq *q, const char *name, int dirfd, const char *file,
    fs_err *err)
{
	char from[4400], to[4400];

	cache_path(q, name, from, sizeof(from));
	if (linkat(AT_FDCWD, from, dirfd, file, 0) == 0)
		return FS_OK;
	if (!cannot_link(errno))
		return fs_err_set(err, FS_EIO, "cannot link '%s' into the "
		    "release: %s", from, strerror(errno));
	/* Another file system: a copy. */
	snprintf(to, sizeof(to), "/proc/self/fd/%d/%s", dirfd, file);
	return fs_file_copy(from, to, DOC_MODE, err);
}

/* Write len bytes at buf as file in dirfd (a new file). */
static int
write_at(int dirfd, const char *file, const void *buf, size_t len,
    fs_err *err)
{
	int fd, rc;

	if ((fd = openat(dirfd, file, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, DOC_MODE)) == -1)
		return fs_err_set(err, FS_EIO, "cannot write '%s' in the "
		    "release: %s", file, strerror(errno));
	(void)fchmod(fd, DOC_MODE);
	rc = fs_write_all(fd, buf, len, file, err);
	if (close(fd) == -1 && rc == FS_OK)
		rc = fs_err_set(err, FS_EIO, "cannot write '%s': %s", file,
		    strerror(errno));
	return rc;
}

/*
 * The entities' gzip (RFC 1952, no name, no time: the same bytes each
 * time), by libdeflate: one compressor per thread, for whole buffers.
 * At level 1 it takes 0.24 CPU-seconds for the 87 MB of 10,100 signed
 * entities, where zlib's level 1 took 0.60 for 2% more bytes (nginx's
 * gzip_comp_level default is 1 too).  The aggregate is compressed by
 * zlib at level 6 (a quarter smaller), in parts (agg_part): libdeflate
 * has no streams to prime with the 32 kB before a part.
 */
struct gz {
	struct libdeflate_compressor *c;
	unsigned char *out;
	size_t cap;
};

#define GZ_ENTITY	1
#define GZ_AGGREGATE	Z_DEFAULT_COMPRESSION

static void
gz_free(struct gz *g)
{
	if (g->c != NULL)
		libdeflate_free_compressor(g->c);
	free(g->out);
	memset(g, 0, sizeof(*g));
}

/* Compress len bytes at in; *out stays g's (valid to the next call). */
static int
gz_buf(struct gz *g, const void *in, size_t len, const unsigned char **out,
    size_t *outlen, fs_err *err)
{
	size_t need;

	if (g->c == NULL &&
	    (g->c = libdeflate_alloc_compressor(GZ_ENTITY)) == NULL)
		return fs_err_nomem(err, "compressing");
	need = libdeflate_gzip_compress_bound(g->c, len);
	if (need > g->cap) {
		unsigned char *n = realloc(g->out, need);

		if (n == NULL)
			return fs_err_nomem(err, "compressing");
		g->out = n;
		g->cap = need;
	}
	if ((*outlen = libdeflate_gzip_compress(g->c, in, len, g->out,
	    g->cap)) == 0)
		return fs_err_set(err, FS_EINTERNAL, "gzip failed");
	*out = g->out;
	return FS_OK;
}

struct tree {
	struct fs_mdq *q;
	int fd;				/* the release's entities/ */
	int prevfd;			/* the live release's, or -1 */
	int rfd;			/* the release folder */
	size_t next;			/* atomic: the next entity */
	size_t done;			/* entities written (lock) */
	int lists;			/* index.json and entities.json are
					   being, or were, written (lock) */
	char *state;			/* the next run's state, made with them */
	pthread_mutex_t lock;		/* rc, err, done, lists, the aggregate */
	pthread_cond_t cond;
	struct agg_gz *agz;		/* its .gz, once read */
	int agg;			/* 1: the aggregate is written,
					   2: it is being compressed or done,
					   -1: none comes */
	char oldgz[4400];		/* the live aggregate's .gz, or "" */
	char *agg_in;			/* the aggregate's bytes, when given */
	size_t agg_inlen;
	int rc;
	fs_err err;
	pthread_t th[16];
	unsigned nth;
};

/* gzip of len bytes at buf as file.gz in dirfd. */
static int
gzip_to(struct gz *g, const void *buf, size_t len, int dirfd,
    const char *file, fs_err *err)
{
	const unsigned char *z = NULL;
	char gz[256];
	size_t zlen = 0;
	int rc;

	if ((rc = gz_buf(g, buf, len, &z, &zlen, err)) != FS_OK)
		return rc;
	snprintf(gz, sizeof(gz), "%s.gz", file);
	return write_at(dirfd, gz, z, zlen, err);
}

/*
 * One entity's files: the document, its .gz and its discovery .json.  A
 * document signed in this run is written from memory and linked into the
 * cache; a cached one is linked from the cache.  An entity whose document
 * in the live release is the same file (the same inode, a link to the
 * same cache file) takes all three from there.  Only the bytes and the
 * discovery JSON made in the checks are read: the feeds are being built
 * from the entities' nodes meanwhile.
 */
static int
tree_one(struct tree *t, struct gz *g, struct item *it, fs_err *err)
{
	const char *name = item_name(it);
	char path[4400], js[64], *text, *buf = NULL;
	struct stat cs, ps;
	size_t len;
	int rc;

	if (name[0] == '\0')
		return fs_err_set(err, FS_EINTERNAL, "entity %s has no signed "
		    "document", it->e->entity_id);
	it->disco = it->e->disco != NULL ? json_incref(it->e->disco) :
	    json_pack("{s:s,s:s}", "entityID", it->e->entity_id, "entity_id",
	    it->e->entity_id);
	if (it->disco == NULL)
		return fs_err_nomem(err, "writing the MDQ tree");
	cache_path(t->q, name, path, sizeof(path));
	snprintf(js, sizeof(js), "%s.json", it->file);
	hex(item_hash(it), 32, it->sha256);
	if (it->doc != NULL) {
		/* Signed now: the file, then the cache's link to it. */
		if ((rc = write_at(t->fd, it->file, it->doc, it->doclen,
		    err)) != FS_OK)
			return rc;
		if (linkat(t->fd, it->file, AT_FDCWD, path, 0) == -1 &&
		    errno != EEXIST) {
			if (!cannot_link(errno))
				return fs_err_set(err, FS_EIO, "cannot link "
				    "'%s' into the cache: %s", path,
				    strerror(errno));
			/* state-dir on another file system: a copy. */
			if ((rc = cache_file(t->q, name, it->doc, it->doclen,
			    err)) != FS_OK)
				return rc;
		}
		it->size = (off_t)it->doclen;
		if ((rc = gzip_to(g, it->doc, it->doclen, t->fd, it->file,
		    err)) != FS_OK)
			return rc;
	} else {
		char gz[64];

		snprintf(gz, sizeof(gz), "%s.gz", it->file);
		if (t->prevfd != -1 && stat(path, &cs) == 0 &&
		    fstatat(t->prevfd, it->file, &ps, AT_SYMLINK_NOFOLLOW) ==
		    0 && cs.st_ino == ps.st_ino && cs.st_dev == ps.st_dev &&
		    linkat(t->prevfd, it->file, t->fd, it->file, 0) == 0) {
			if (linkat(t->prevfd, gz, t->fd, gz, 0) == 0 &&
			    linkat(t->prevfd, js, t->fd, js, 0) == 0) {
				it->size = cs.st_size;
				return FS_OK;
			}
			(void)unlinkat(t->fd, gz, 0);
			(void)unlinkat(t->fd, js, 0);
		} else if ((rc = place(t->q, name, t->fd, it->file, err)) !=
		    FS_OK) {
			return rc;
		}
		if ((rc = fs_file_read(path, (size_t)1 << 30, &buf, &len,
		    err)) != FS_OK)
			return rc;
		it->size = (off_t)len;
		rc = gzip_to(g, buf, len, t->fd, it->file, err);
		free(buf);
		if (rc != FS_OK)
			return rc;
	}
	/* Kept for entities.json. */
	if ((text = json_dumps(it->disco, JSON_COMPACT)) == NULL)
		return fs_err_nomem(err, "writing the MDQ tree");
	it->disco_text = text;
	return write_at(t->fd, js, text, strlen(text), err);
}

/*
 * The aggregate's .gz, compressed in parts by every thread of the tree
 * that is free (and the building thread, once the feeds are done), as
 * pigz does: each part a raw deflate stream primed with the 32 kB before
 * it, ended on a byte boundary (Z_SYNC_FLUSH; the last with Z_FINISH), so
 * that the parts, between one gzip header and trailer, are one deflate
 * stream of about the size one thread would make.  The bytes are the same
 * whichever thread compresses which part.
 *
 * A part's compressed bytes depend only on its input and the 32 kB
 * before it.  So the parts are cut where the content says (agg_cut), not
 * at fixed offsets, and an entity that changed moves no cut but its own;
 * state-dir/mdq/aggregate.parts lists the parts of the live .gz (the
 * CRC-32 of each one's input and of the 32 kB before it, its length, and
 * where its bytes are).  A part listed there is copied from the live .gz
 * instead of compressed again, once inflating those bytes gave exactly
 * its input and stopped on a block boundary: a live file that was
 * changed or damaged costs time, never a wrong .gz.
 */
struct agg_part {
	unsigned char *out;
	size_t outlen;
	uLong crc;			/* of its input */
	uLong dcrc;			/* of the 32 kB (at most) before it */
};

/* A part of the live .gz, from its list. */
struct agg_old {
	uLong crc, dcrc;
	size_t len;
	int last;
	size_t off, zlen;		/* its bytes in the live .gz */
};

struct agg_gz {
	char *in;			/* the aggregate as written */
	size_t len, n;			/* its size, how many parts */
	size_t *off;			/* where part i starts; off[n] = len */
	size_t next;			/* atomic: the next part */
	size_t done;			/* parts done (the tree's lock) */
	size_t reused, rejected;	/* parts copied from the live .gz, or
					   listed but not in it (the lock) */
	struct agg_part *p;
	unsigned char *old;		/* the live .gz, when listed */
	struct agg_old *ov;		/* its parts, by agg_cmp */
	size_t on;
	char *list;			/* the new .gz's, for the next run */
};

/* A thread's streams, reset from one part to the next. */
struct agg_zs {
	z_stream d, i;
	int dready, iready;
	unsigned char *buf;		/* a part, inflated */
};

#define AGG_DICT	32768
#define AGG_CUT_MIN	((size_t)32 << 10)
#define AGG_CUT_MAX	((size_t)256 << 10)
#define AGG_CUT_BITS	14		/* about 56 kB parts in metadata */
#define AGG_LIST	"aggregate.parts"
#define AGG_LIST_TAG	"fedsign-agz-1"
#define GZ_HEAD		10
#define GZ_TAIL		8

static size_t
part_len(const struct agg_gz *a, size_t i)
{
	return a->off[i + 1] - a->off[i];
}

static void
agg_free(struct agg_gz *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; a->p != NULL && i < a->n; i++)
		free(a->p[i].out);
	free(a->p);
	free(a->off);
	free(a->in);
	free(a->old);
	free(a->ov);
	free(a->list);
	free(a);
}

/*
 * Where the parts start: past AGG_CUT_MIN from the last start, at the
 * first byte where a gear hash of the 64 bytes before has its top
 * AGG_CUT_BITS bits clear (FastCDC's rolling hash), and never more than
 * AGG_CUT_MAX apart.  The gear is splitmix64 from 0: the same cuts in
 * every run and every build.
 */
static int
agg_cut(struct agg_gz *a)
{
	const unsigned char *in = (const unsigned char *)a->in;
	uint64_t gear[256], x = 0, h;
	size_t pos = 0, end, i;

	for (i = 0; i < 256; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		gear[i] = z ^ (z >> 31);
	}
	/* Every part but the last is AGG_CUT_MIN or more. */
	if ((a->off = calloc(a->len / AGG_CUT_MIN + 2, sizeof(*a->off))) ==
	    NULL)
		return -1;
	a->n = 0;
	do {
		a->off[a->n++] = pos;
		end = a->len - pos <= AGG_CUT_MAX ? a->len : pos + AGG_CUT_MAX;
		if (a->len - pos <= AGG_CUT_MIN)
			continue;
		h = 0;
		for (i = pos + AGG_CUT_MIN - 64; i < end; i++) {
			h = (h << 1) + gear[in[i]];
			if (i + 1 - pos >= AGG_CUT_MIN &&
			    h >> (64 - AGG_CUT_BITS) == 0) {
				end = i + 1;
				break;
			}
		}
	} while ((pos = end) < a->len);
	a->off[a->n] = a->len;
	return 0;
}

static int
agg_cmp(const void *x, const void *y)
{
	const struct agg_old *a = x, *b = y;

	if (a->crc != b->crc)
		return a->crc < b->crc ? -1 : 1;
	if (a->dcrc != b->dcrc)
		return a->dcrc < b->dcrc ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->last - b->last;
}

/* One line of the list: CRC DCRC LEN LAST OFF ZLEN. */
static int
agg_line(char **pp, struct agg_old *o)
{
	unsigned long long v[6];
	char *p = *pp, *e;

	for (int k = 0; k < 6; k++) {
		if (!isxdigit((unsigned char)*p))
			return -1;
		errno = 0;
		v[k] = strtoull(p, &e, k < 2 ? 16 : 10);
		if (errno != 0 || *e != (k < 5 ? ' ' : '\n'))
			return -1;
		p = e + 1;
	}
	if (v[0] > 0xffffffffULL || v[1] > 0xffffffffULL ||
	    v[2] > AGG_CUT_MAX || v[3] > 1 || v[4] > SIZE_MAX ||
	    v[5] > 2 * AGG_CUT_MAX)
		return -1;
	o->crc = (uLong)v[0];
	o->dcrc = (uLong)v[1];
	o->len = (size_t)v[2];
	o->last = (int)v[3];
	o->off = (size_t)v[4];
	o->zlen = (size_t)v[5];
	*pp = p;
	return 0;
}

/*
 * The live .gz and its list, when both are there and the list is of a
 * file of its size.  Anything else: every part is compressed.
 */
static void
agg_load_old(struct tree *t, struct agg_gz *a)
{
	char path[4400], *text = NULL, *p, *gz = NULL;
	size_t len, gzlen, size, n, k = 0;
	struct agg_old *ov = NULL;
	int used;
	fs_err e;

	if (t->oldgz[0] == '\0' || fs_path_fmt(path, sizeof(path), NULL,
	    "%s/" AGG_LIST, t->q->dir) != FS_OK ||
	    fs_file_read(path, (size_t)64 << 20, &text, &len, &e) != FS_OK)
		return;
	if (sscanf(text, AGG_LIST_TAG " %zu %zu\n%n", &size, &n, &used) != 2 ||
	    n == 0 || n > len / 12 ||
	    fs_file_read(t->oldgz, (size_t)4 << 30, &gz, &gzlen, &e) !=
	    FS_OK || gzlen != size || gzlen < GZ_HEAD + GZ_TAIL ||
	    (ov = calloc(n, sizeof(*ov))) == NULL)
		goto out;
	for (p = text + used; k < n && *p != '\0'; k++)
		if (agg_line(&p, &ov[k]) != 0 || ov[k].off < GZ_HEAD ||
		    ov[k].off > gzlen - GZ_TAIL ||
		    ov[k].zlen > gzlen - GZ_TAIL - ov[k].off)
			goto out;
	if (k != n || *p != '\0')
		goto out;
	qsort(ov, n, sizeof(*ov), agg_cmp);
	a->old = (unsigned char *)gz;
	a->ov = ov;
	a->on = n;
	gz = NULL;
	ov = NULL;
out:
	free(ov);
	free(gz);
	free(text);
}

/*
 * The aggregate (a feed, written by now): the bytes written, in (taken),
 * or else read from its file; cut into parts.
 */
static int
agg_read(struct tree *t, char *in, size_t inlen, struct agg_gz **out,
    fs_err *err)
{
	struct agg_gz *a;
	char path[8192];
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		free(in);
		return fs_err_nomem(err, "compressing");
	}
	a->in = in;
	a->len = inlen;
	rc = FS_OK;
	if (in == NULL && (rc = fs_path_fmt(path, sizeof(path), err,
	    "/proc/self/fd/%d/%s", t->rfd, t->q->mc->aggregate)) == FS_OK)
		rc = fs_file_read(path, (size_t)4 << 30, &a->in, &a->len, err);
	if (rc != FS_OK) {
		free(a);
		return rc;
	}
	if (agg_cut(a) != 0 || (a->p = calloc(a->n, sizeof(*a->p))) == NULL) {
		agg_free(a);
		return fs_err_nomem(err, "compressing");
	}
	agg_load_old(t, a);
	*out = a;
	return FS_OK;
}

/*
 * Part i (len bytes at in, dict bytes before them its dictionary) from
 * the live .gz: the bytes its list gives for this input and dictionary,
 * once they inflate to exactly the input, all of them, and stop where a
 * part must (on a byte at a block boundary, not in the last block; the
 * last part, at the stream's end).  0: compress it.
 */
static int
agg_reuse(struct agg_gz *a, struct agg_zs *w, size_t i,
    const unsigned char *in, size_t len, size_t dict, int *rejected)
{
	struct agg_part *p = &a->p[i];
	struct agg_old key = { p->crc, p->dcrc, len, i + 1 == a->n, 0, 0 };
	const struct agg_old *o;
	int r, ok;

	if (a->on == 0 || (o = bsearch(&key, a->ov, a->on, sizeof(*a->ov),
	    agg_cmp)) == NULL)
		return 0;
	if (w->buf == NULL && (w->buf = malloc(AGG_CUT_MAX + 1)) == NULL)
		return 0;
	if (w->iready ? inflateReset(&w->i) != Z_OK :
	    inflateInit2(&w->i, -15) != Z_OK)
		return 0;
	w->iready = 1;
	if (dict > 0 && inflateSetDictionary(&w->i, in - dict, (uInt)dict) !=
	    Z_OK)
		return 0;
	w->i.next_in = a->old + o->off;
	w->i.avail_in = (uInt)o->zlen;
	w->i.next_out = w->buf;
	w->i.avail_out = (uInt)(AGG_CUT_MAX + 1);
	/* Z_BLOCK stops at each block: the boundary is seen, not passed. */
	do
		r = inflate(&w->i, key.last ? Z_FINISH : Z_BLOCK);
	while (r == Z_OK && w->i.avail_in > 0);
	ok = w->i.avail_in == 0 && AGG_CUT_MAX + 1 - w->i.avail_out == len &&
	    memcmp(w->buf, in, len) == 0 && (key.last ? r == Z_STREAM_END :
	    r == Z_OK && (w->i.data_type & (128 | 64 | 7)) == 128);
	if (!ok) {
		*rejected = 1;
		return 0;
	}
	if ((p->out = malloc(o->zlen > 0 ? o->zlen : 1)) == NULL)
		return 0;
	memcpy(p->out, a->old + o->off, o->zlen);
	p->outlen = o->zlen;
	return 1;
}

static int
agg_part(struct agg_gz *a, struct agg_zs *w, size_t i, int *reused,
    int *rejected, fs_err *err)
{
	const unsigned char *in = (const unsigned char *)a->in + a->off[i];
	size_t len = part_len(a, i);
	size_t dict = a->off[i] < AGG_DICT ? a->off[i] : AGG_DICT;
	int last = i + 1 == a->n, r;
	struct agg_part *p = &a->p[i];
	z_stream *z = &w->d;
	size_t cap;

	p->crc = crc32(0L, in, (uInt)len);
	p->dcrc = crc32(0L, in - dict, (uInt)dict);
	if ((*reused = agg_reuse(a, w, i, in, len, dict, rejected)) != 0)
		return FS_OK;
	if (w->dready ? deflateReset(z) != Z_OK : deflateInit2(z,
	    GZ_AGGREGATE, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return fs_err_nomem(err, "compressing");
	w->dready = 1;
	if (dict > 0 && deflateSetDictionary(z, in - dict, (uInt)dict) !=
	    Z_OK)
		return fs_err_set(err, FS_EINTERNAL, "gzip failed");
	/* deflateBound is for Z_FINISH; a sync flush adds 5 bytes. */
	cap = deflateBound(z, (uLong)len) + 64;
	if ((p->out = malloc(cap)) == NULL)
		return fs_err_nomem(err, "compressing");
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)len;
	z->next_out = p->out;
	z->avail_out = (uInt)cap;
	r = deflate(z, last ? Z_FINISH : Z_SYNC_FLUSH);
	p->outlen = cap - z->avail_out;
	r = last ? r == Z_STREAM_END : r == Z_OK && z->avail_in == 0 &&
	    z->avail_out > 0;
	if (!r)
		return fs_err_set(err, FS_EINTERNAL, "gzip failed");
	return FS_OK;
}

/*
 * The parts between a gzip header and trailer (RFC 1952: no name, no
 * time), and their list for the next run.
 */
static int
agg_write(struct tree *t, struct agg_gz *a, fs_err *err)
{
	static const unsigned char head[GZ_HEAD] = { 0x1f, 0x8b, 8, 0, 0, 0,
	    0, 0, 0, 3 };
	unsigned char *buf, *w;
	size_t total = GZ_HEAD + GZ_TAIL, cap, used, at = GZ_HEAD;
	uLong crc = crc32(0L, Z_NULL, 0);
	uint32_t isize = (uint32_t)a->len;
	char gz[256];
	int rc;

	for (size_t i = 0; i < a->n; i++)
		total += a->p[i].outlen;
	if ((buf = malloc(total)) == NULL)
		return fs_err_nomem(err, "compressing");
	memcpy(buf, head, GZ_HEAD);
	w = buf + GZ_HEAD;
	for (size_t i = 0; i < a->n; i++) {
		memcpy(w, a->p[i].out, a->p[i].outlen);
		w += a->p[i].outlen;
		crc = i == 0 ? a->p[i].crc : crc32_combine(crc, a->p[i].crc,
		    (z_off_t)part_len(a, i));
	}
	for (int k = 0; k < 4; k++)
		*w++ = (unsigned char)(crc >> (8 * k));
	for (int k = 0; k < 4; k++)
		*w++ = (unsigned char)(isize >> (8 * k));
	snprintf(gz, sizeof(gz), "%s.gz", t->q->mc->aggregate);
	rc = write_at(t->rfd, gz, buf, total, err);
	free(buf);
	/* Without memory for the list, the next run compresses it all. */
	cap = 64 + a->n * 100;
	if (rc == FS_OK && (a->list = malloc(cap)) != NULL) {
		used = (size_t)snprintf(a->list, cap, "%s %zu %zu\n",
		    AGG_LIST_TAG, total, a->n);
		for (size_t i = 0; i < a->n && used < cap; i++) {
			used += (size_t)snprintf(a->list + used, cap - used,
			    "%08lx %08lx %zu %d %zu %zu\n", a->p[i].crc,
			    a->p[i].dcrc, part_len(a, i), i + 1 == a->n, at,
			    a->p[i].outlen);
			at += a->p[i].outlen;
		}
		if (used >= cap) {
			free(a->list);
			a->list = NULL;
		}
	}
	return rc;
}

/* Compress parts until none is left; the thread that ends the last writes. */
static int
agg_compress(struct tree *t, struct agg_gz *a, fs_err *err)
{
	struct agg_zs w;
	size_t i;
	int rc = FS_OK, last, reused, rejected;

	memset(&w, 0, sizeof(w));
	while ((i = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED)) <
	    a->n) {
		reused = rejected = 0;
		if ((rc = agg_part(a, &w, i, &reused, &rejected, err)) !=
		    FS_OK) {
			__atomic_store_n(&a->next, a->n, __ATOMIC_RELAXED);
			break;
		}
		/* Counted under the lock, as the tree's entities are. */
		pthread_mutex_lock(&t->lock);
		a->reused += (size_t)reused;
		a->rejected += (size_t)rejected;
		last = ++a->done == a->n;
		pthread_mutex_unlock(&t->lock);
		if (last) {
			rc = agg_write(t, a, err);
			break;
		}
	}
	if (w.dready)
		deflateEnd(&w.d);
	if (w.iready)
		inflateEnd(&w.i);
	free(w.buf);
	return rc;
}

static int
by_title(const void *a, const void *b)
{
	const json_t *x = (*(const struct item *const *)a)->disco;
	const json_t *y = (*(const struct item *const *)b)->disco;
	const char *tx = json_string_value(json_object_get(x, "title"));
	const char *ty = json_string_value(json_object_get(y, "title"));
	int c = strcasecmp(tx ? tx : "", ty ? ty : "");

	if (c != 0)
		return c;
	return strcmp(json_string_value(json_object_get(x, "entityID")),
	    json_string_value(json_object_get(y, "entityID")));
}

/*
 * The two lists of every entity, entities/index.json and the state: one
 * tree of 10,100 members, dumped with sorted keys, cost a tree thread 0.2
 * CPU-seconds of a 1%-changed run.  So each member is printed by jansson
 * on its own, from one object per list whose values are set in place,
 * with its keys in sorted order; the members, one a line, are joined in
 * a buffer here.
 */
struct text {
	char *b;
	size_t n, cap;
	int failed;
};

static void
text_add(struct text *x, const char *s, size_t len)
{
	if (x->failed)
		return;
	if (x->n + len + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 65536;
		char *b;

		while (x->n + len + 1 > cap)
			cap *= 2;
		if ((b = realloc(x->b, cap)) == NULL) {
			x->failed = 1;
			return;
		}
		x->b = b;
		x->cap = cap;
	}
	memcpy(x->b + x->n, s, len);
	x->n += len;
	x->b[x->n] = '\0';
}

/* v as jansson prints it. */
static void
text_json(struct text *x, const json_t *v, size_t flags)
{
	char buf[2048], *big;
	size_t n;

	if (x->failed || v == NULL ||
	    (n = json_dumpb(v, buf, sizeof(buf), flags)) == 0) {
		x->failed = 1;
		return;
	}
	if (n <= sizeof(buf)) {
		text_add(x, buf, n);
		return;
	}
	if ((big = malloc(n)) == NULL || json_dumpb(v, big, n, flags) != n)
		x->failed = 1;
	else
		text_add(x, big, n);
	free(big);
}

/*
 * One member of a list, KEY (printed by jansson) ": " VALUE; the first
 * one opens it.
 */
static void
text_member(struct text *x, size_t i, const struct text *key,
    const json_t *v)
{
	text_add(x, i > 0 ? ",\n" : "{\n", 2);
	text_add(x, key->b, key->n);
	text_add(x, ": ", 2);
	text_json(x, v, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* The end of a list of n members. */
static void
text_end(struct text *x, size_t n)
{
	text_add(x, n > 0 ? "\n}\n" : "{}\n", 3);
}

static int
by_entity_id(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a;
	const struct item *y = *(const struct item *const *)b;

	return strcmp(x->e->entity_id, y->e->entity_id);
}

/*
 * Once every entity's files are written: entities/index.json,
 * entities.json (the discovery list, by title) and the state the next
 * run compares with (t->state).  The feeds are still being built; they
 * use none of this.
 */
static int
tree_lists(struct tree *t, fs_err *err)
{
	const struct fs_mdq *q = t->q;
	struct text idx = { 0 }, state = { 0 }, all = { 0 }, id = { 0 };
	const struct item **by_id = NULL, **list = NULL;
	json_t *ie = NULL, *se = NULL;
	json_t *digest, *file, *sha256, *size, *ivu, *cache, *key, *svu;
	int rc;

	/* The members' objects, their keys in sorted order. */
	ie = json_pack("{s:o*,s:s,s:s,s:s,s:I,s:s}", "cacheDuration",
	    q->mc->cache_duration > 0 ? json_integer((json_int_t)
	    q->mc->cache_duration) : NULL, "digest", "", "file", "",
	    "sha256", "", "size", (json_int_t)0, "validUntil", "");
	se = json_pack("{s:b,s:s,s:s,s:I}", "bounded", 0, "cache", "", "key",
	    "", "validUntil", (json_int_t)0);
	if (ie == NULL || se == NULL ||
	    (list = calloc(q->n + 1, sizeof(*list))) == NULL ||
	    (by_id = calloc(q->n + 1, sizeof(*by_id))) == NULL)
		goto nomem;
	digest = json_object_get(ie, "digest");
	file = json_object_get(ie, "file");
	sha256 = json_object_get(ie, "sha256");
	size = json_object_get(ie, "size");
	ivu = json_object_get(ie, "validUntil");
	cache = json_object_get(se, "cache");
	key = json_object_get(se, "key");
	svu = json_object_get(se, "validUntil");
	for (size_t i = 0; i < q->n; i++)
		list[i] = by_id[i] = &q->v[i];
	qsort(by_id, q->n, sizeof(*by_id), by_entity_id);
	for (size_t i = 0; i < q->n; i++) {
		const struct item *it = by_id[i];
		char vu[32], dx[65], kx[65];
		json_t *k;

		/* Two entries of one key: a server would find only one. */
		if (i > 0 && strcmp(by_id[i - 1]->e->entity_id,
		    it->e->entity_id) == 0) {
			rc = fs_err_set(err, FS_EINTERNAL, "entity %s has two "
			    "documents in the MDQ tree", it->e->entity_id);
			goto out;
		}
		fs_time_format(it->valid_until, vu, sizeof(vu));
		hex(it->e->digest, 32, dx);
		hex(it->key, 32, kx);
		if (json_string_set(digest, dx) != 0 ||
		    json_string_set(file, it->file) != 0 ||
		    json_string_set(sha256, it->sha256) != 0 ||
		    json_integer_set(size, (json_int_t)it->size) != 0 ||
		    json_string_set(ivu, vu) != 0 ||
		    json_object_set_new(se, "bounded",
		    json_boolean(it->bounded)) != 0 ||
		    json_string_set(cache, item_name(it)) != 0 ||
		    json_string_set(key, kx) != 0 ||
		    json_integer_set(svu, (json_int_t)it->valid_until) != 0)
			goto nomem;
		/* The entityID, printed once for both lists. */
		id.n = 0;
		k = json_string(it->e->entity_id);
		text_json(&id, k, JSON_ENCODE_ANY);
		json_decref(k);
		if (id.failed)
			goto nomem;
		text_member(&idx, i, &id, ie);
		text_member(&state, i, &id, se);
	}
	text_end(&idx, q->n);
	text_end(&state, q->n);
	if (idx.failed || state.failed)
		goto nomem;
	/*
	 * entities.json: what json_dumps(JSON_COMPACT) makes of the array
	 * of them all, from the texts their .json files were written from
	 * (a first run writes them all, saving a second dump of 9 MB), or
	 * printed now.
	 */
	qsort(list, q->n, sizeof(*list), by_title);
	text_add(&all, "[", 1);
	for (size_t i = 0; i < q->n; i++) {
		char *own = NULL;
		const char *js = list[i]->disco_text;

		if (js == NULL && (js = own = json_dumps(list[i]->disco,
		    JSON_COMPACT)) == NULL)
			goto nomem;
		if (i > 0)
			text_add(&all, ",", 1);
		text_add(&all, js, strlen(js));
		free(own);
	}
	text_add(&all, "]", 1);
	if (all.failed)
		goto nomem;
	if ((rc = write_at(t->fd, "index.json", idx.b, idx.n, err)) !=
	    FS_OK ||
	    (rc = write_at(t->rfd, "entities.json", all.b, all.n, err)) !=
	    FS_OK)
		goto out;
	t->state = state.b;
	state.b = NULL;
	goto out;
nomem:
	rc = fs_err_nomem(err, "writing the MDQ tree");
out:
	free(idx.b);
	free(state.b);
	free(all.b);
	free(id.b);
	free(by_id);
	free(list);
	json_decref(ie);
	json_decref(se);
	return rc;
}

static void *
tree_worker(void *arg)
{
	struct tree *t = arg;
	struct gz g = { 0 };
	size_t i;
	fs_err err;
	int rc = FS_OK, lists;

	/*
	 * What tree_one records of an item is read by whoever writes the
	 * lists: each item is counted under the lock, which orders the two
	 * for helgrind as well as for the CPU.
	 */
	while ((i = __atomic_fetch_add(&t->next, 1, __ATOMIC_RELAXED)) <
	    t->q->n) {
		if ((rc = tree_one(t, &g, &t->q->v[i], &err)) != FS_OK)
			break;
		pthread_mutex_lock(&t->lock);
		t->done++;
		pthread_mutex_unlock(&t->lock);
	}
	/* Whoever sees the last entity written writes the lists. */
	pthread_mutex_lock(&t->lock);
	lists = rc == FS_OK && t->done == t->q->n && !t->lists;
	if (lists)
		t->lists = 1;
	pthread_mutex_unlock(&t->lock);
	if (lists)
		rc = tree_lists(t, &err);
	/* Whoever is done first reads the aggregate when it comes; every
	 * thread then still here compresses parts of it. */
	pthread_mutex_lock(&t->lock);
	while (rc == FS_OK && t->rc == FS_OK && (t->agg == 0 ||
	    (t->agg == 2 && t->agz == NULL)))
		pthread_cond_wait(&t->cond, &t->lock);
	if (rc == FS_OK && t->rc == FS_OK && t->agg == 1) {
		struct agg_gz *a;
		char *in = t->agg_in;
		size_t inlen = t->agg_inlen;

		t->agg = 2;
		t->agg_in = NULL;
		pthread_mutex_unlock(&t->lock);
		rc = agg_read(t, in, inlen, &a, &err);
		pthread_mutex_lock(&t->lock);
		if (rc == FS_OK)
			t->agz = a;
		pthread_cond_broadcast(&t->cond);
	}
	if (rc == FS_OK && t->rc == FS_OK && t->agz != NULL) {
		struct agg_gz *a = t->agz;

		pthread_mutex_unlock(&t->lock);
		rc = agg_compress(t, a, &err);
		pthread_mutex_lock(&t->lock);
	}
	if (rc != FS_OK && t->rc == FS_OK) {
		t->rc = rc;
		t->err = err;
		__atomic_store_n(&t->next, t->q->n, __ATOMIC_RELAXED);
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	gz_free(&g);
	return NULL;
}

/*
 * Start writing release_dir/entities/ on every CPU but one, while the
 * feeds are built; fs_mdq_tree_aggregate() says the aggregate is written,
 * fs_mdq_write() waits for the tree and finishes it.
 */
int
fs_mdq_tree_start(struct fs_mdq *q, const char *release_dir,
    const char *publish_dir, fs_err *err)
{
	struct tree *t;
	char dir[4200], prev[4200];
	unsigned want = fs_cpus();
	int rc;

	if ((rc = fs_path_fmt(dir, sizeof(dir), err, "%s/entities",
	    release_dir)) != FS_OK)
		return rc;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return fs_err_nomem(err, "writing the MDQ tree");
	t->q = q;
	t->fd = t->prevfd = t->rfd = -1;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	q->tree = t;
	if (mkdir(dir, 0755) == -1)
		return fs_err_set(err, FS_EIO, "cannot make '%s': %s", dir,
		    strerror(errno));
	if ((t->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (t->rfd = open(release_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return fs_err_set(err, FS_EIO, "cannot open '%s': %s", dir,
		    strerror(errno));
	if (fs_path_fmt(prev, sizeof(prev), NULL, "%s/current/entities",
	    publish_dir) == FS_OK)
		t->prevfd = open(prev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs_path_fmt(t->oldgz, sizeof(t->oldgz), NULL, "%s/current/%s.gz",
	    publish_dir, q->mc->aggregate) != FS_OK)
		t->oldgz[0] = '\0';
	/* The building thread signs the feeds meanwhile. */
	want = want > 2 ? want - 1 : 1;
	if (want > 16)
		want = 16;
	for (unsigned i = 0; i < want; i++) {
		if (pthread_create(&t->th[i], NULL, tree_worker, t) != 0)
			break;
		t->nth++;
	}
	if (t->nth == 0)
		return fs_err_set(err, FS_EINTERNAL, "cannot start a thread");
	return FS_OK;
}

/*
 * The aggregate is written (ready 1) or will not be (ready 0); bytes
 * (taken), when not NULL, are what was written.
 */
void
fs_mdq_tree_aggregate(struct fs_mdq *q, int ready, char *bytes, size_t len)
{
	struct tree *t = q->tree;

	if (t == NULL) {
		free(bytes);
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (t->agg == 0 && ready && bytes != NULL) {
		t->agg_in = bytes;
		t->agg_inlen = len;
		bytes = NULL;
	}
	free(bytes);
	if (t->agg == 0)
		t->agg = ready ? 1 : -1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* Stop the tree: wait for its threads (nothing more is written). */
static int
tree_end(struct fs_mdq *q, fs_err *err)
{
	struct tree *t = q->tree;
	int rc;

	if (t == NULL)
		return FS_OK;
	fs_mdq_tree_aggregate(q, 0, NULL, 0);
	/* The feeds are done: this thread writes what is left too. */
	(void)tree_worker(t);
	for (unsigned i = 0; i < t->nth; i++)
		pthread_join(t->th[i], NULL);
	t->nth = 0;
	if ((rc = t->rc) != FS_OK && err != NULL)
		*err = t->err;
	return rc;
}

void
fs_mdq_tree_stop(struct fs_mdq *q)
{
	tree_free(q);
}

static void
tree_free(struct fs_mdq *q)
{
	struct tree *t = q->tree;

	if (t == NULL)
		return;
	/* Nothing more is written. */
	__atomic_store_n(&t->next, q->n, __ATOMIC_RELAXED);
	(void)tree_end(q, NULL);
	if (t->fd != -1)
		close(t->fd);
	if (t->prevfd != -1)
		close(t->prevfd);
	if (t->rfd != -1)
		close(t->rfd);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t->state);
	free(t->agg_in);
	agg_free(t->agz);
	free(t);
	q->tree = NULL;
}

/*
 * Wait for the tree and finish it: its threads wrote every entity's
 * files, entities/index.json and entities.json; the journal has served
 * its turn.
 */
int
fs_mdq_write(struct fs_mdq *q, fs_err *err)
{
	struct tree *t = q->tree;
	char path[4300];
	int rc;

	if (t == NULL)
		return fs_err_set(err, FS_EINTERNAL, "the MDQ tree was not "
		    "started");
	if ((rc = tree_end(q, err)) == FS_OK && t->state == NULL)
		rc = fs_err_set(err, FS_EINTERNAL, "the MDQ tree has no "
		    "index");
	if (rc == FS_OK) {
		/* Every signature of the run is a cache file now. */
		snprintf(path, sizeof(path), "%s/journal", q->dir);
		(void)unlink(path);
		/* Kept for fs_mdq_commit. */
		free(q->next_state);
		q->next_state = t->state;
		t->state = NULL;
		if (t->agz != NULL) {
			free(q->next_parts);
			q->next_parts = t->agz->list;
			t->agz->list = NULL;
			q->gz_parts = t->agz->n;
			q->gz_reused = t->agz->reused;
			if (t->agz->rejected > 0)
				fs_report_finding(q->rep, FS_LEVEL_WARN, "mdq",
				    NULL, NULL, q->mc->aggregate, 0, "%zu "
				    "parts of the live %s.gz are not what "
				    "state-dir/mdq/" AGG_LIST " says they "
				    "are (was the file changed?): they were "
				    "compressed again", t->agz->rejected,
				    q->mc->aggregate);
		}
	}
	tree_free(q);
	return rc;
}

/* The earliest validUntil of the documents (0: none). */
time_t
fs_mdq_earliest(const struct fs_mdq *q)
{
	time_t t = 0;

	for (size_t i = 0; i < q->n; i++)
		if (q->v[i].valid_until != 0 && (t == 0 ||
		    q->v[i].valid_until < t))
			t = q->v[i].valid_until;
	return t;
}

/*
 * After the release went live: the state the next run compares with,
 * and the cache without what no entity uses any more.
 */
int
fs_mdq_commit(struct fs_mdq *q, fs_err *err)
{
	char path[4400];
	char *text;
	int rc;

	/* Made by the tree (fs_mdq_write) while the feeds were built. */
	if ((text = q->next_state) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "the MDQ state was not "
		    "made");
	snprintf(path, sizeof(path), "%s/entities.json", q->dir);
	rc = fs_write_file_atomic(path, text, strlen(text), 0600, err);
	if (rc != FS_OK)
		return rc;
	/* Only saves time: without it, the next run compresses it all. */
	snprintf(path, sizeof(path), "%s/" AGG_LIST, q->dir);
	if (q->next_parts == NULL || fs_write_file_atomic(path, q->next_parts,
	    strlen(q->next_parts), 0600, NULL) != FS_OK)
		(void)unlink(path);
	for (size_t i = 0; i < q->cn; i++) {
		if (q->cv[i].used)
			continue;
		cache_path(q, q->cv[i].name, path, sizeof(path));
		(void)unlink(path);
	}
	return FS_OK;
}

/* When the next run must sign renewals even if nothing changed; 0: none. */
time_t
fs_mdq_next_renewal(const struct fs_mdq *q)
{
	time_t next = 0;

	for (size_t i = 0; i < q->n; i++) {
		const struct item *it = &q->v[i];
		time_t t;

		if (it->bounded || it->valid_until == 0)
			continue;
		t = it->valid_until - (time_t)q->mc->resign_window;
		if (next == 0 || t < next)
			next = t;
	}
	return next;
}

void
fs_mdq_report(const struct fs_mdq *q, json_t *rep)
{
	json_t *o;
	time_t next;

	if (q->v == NULL)
		return;		/* the run stopped before the plan */
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "entities", (json_int_t)q->n,
	    "new", (json_int_t)q->counts[SIGN_NEW],
	    "changed", (json_int_t)q->counts[SIGN_CHANGED],
	    "unchanged", (json_int_t)(q->counts[KEEP] + q->counts[RENEW]),
	    "renewed", (json_int_t)q->counts[RENEW],
	    "removed", (json_int_t)q->removed,
	    "signatures", (json_int_t)q->signed_now);
	if (o == NULL)
		return;
	next = fs_mdq_next_renewal(q);
	if (q->signed_now > 0) {
		json_object_set_new(o, "preparingSeconds",
		    json_real(q->prep_seconds));
		json_object_set_new(o, "signingSeconds",
		    json_real(q->sign_seconds));
		json_object_set_new(o, "signaturesPerSecond", json_real(
		    q->sign_seconds > 0 ? (double)q->signed_now /
		    q->sign_seconds : 0));
		json_object_set_new(o, "workers", json_integer(q->workers));
	}
	if (q->recovered > 0)
		json_object_set_new(o, "recovered",
		    json_integer((json_int_t)q->recovered));
	if (q->gz_parts > 0) {
		json_object_set_new(o, "gzipParts",
		    json_integer((json_int_t)q->gz_parts));
		json_object_set_new(o, "gzipPartsReused",
		    json_integer((json_int_t)q->gz_reused));
	}
	if (q->bounded_short > 0)
		json_object_set_new(o, "boundedByUpstream",
		    json_integer((json_int_t)q->bounded_short));
	if (q->over_validity > 0)
		json_object_set_new(o, "overValidity",
		    json_integer((json_int_t)q->over_validity));
	if (next != 0)
		fs_report_set_time(o, "nextRenewal", next);
	json_object_set_new(rep, "mdq", o);
}

void
fs_mdq_free(struct fs_mdq *q)
{
	if (q == NULL)
		return;
	early_join(q, 1);
	for (size_t i = 0; i < q->cn; i++)
		free(q->cv[i].sig);
	free(q->cv);
	for (size_t i = 0; q->v != NULL && i < q->n; i++) {
		json_decref(q->v[i].disco);
		free(q->v[i].disco_text);
		free(q->v[i].doc);
	}
	free(q->v);
	tree_free(q);
	if (q->jfd != -1)
		close(q->jfd);
	pthread_mutex_destroy(&q->jlock);
	json_decref(q->prev);
	free(q->next_state);
	free(q->next_parts);
	free(q);
}
