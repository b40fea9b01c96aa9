/* Internals of the publish layer, shared by its files only. */
#ifndef FS_PUBLISH_INT_H
#define FS_PUBLISH_INT_H

#include <pthread.h>
#include <time.h>

#include <jansson.h>
#include <libxml/tree.h>

#include "fedsign/conf.h"
#include "fedsign/publish.h"
#include "fedsign/signer.h"

/* Roles an entity has (a bit each). */
enum {
	FS_ROLE_IDP = 1 << 0,
	FS_ROLE_SP = 1 << 1,
	FS_ROLE_AA = 1 << 2,
	FS_ROLE_PDP = 1 << 3,
	FS_ROLE_AUTHN = 1 << 4,
};

struct fs_source;

/*
 * An entity as the publisher handles it: one md:EntityDescriptor, taken
 * out of the document it came in (its namespaces declared on itself, so it
 * can move into any feed) and still owned by that document.
 */
struct fs_entity {
	xmlNodePtr node;
	xmlDocPtr home;			/* the document that owns it */
	char *entity_id;
	struct fs_source *src;
	const char *file;		/* where it came from (borrowed) */
	unsigned long line;
	unsigned roles;
	time_t valid_until;		/* its own or an enclosing one; 0: none */
	time_t own_valid_until;		/* its own attribute only; 0: none */
	unsigned char digest[32];	/* exc-c14n without Signature, ID and
					   validUntil, as published */
	int have_digest;
	int dropped;			/* an [ERROR]: in no feed */
	const struct fs_mdq *mdq;	/* its MDQ plan, if from an mdq:
					   source: the checks make its disco,
					   and keep c14n when
					   fs_mdq_keeps_c14n */
	char *c14n;			/* the bytes digest is of, or NULL */
	size_t c14nlen;
	json_t *disco;			/* its discovery JSON, or NULL */
};

/* A source in a run. */
struct fs_source {
	const struct fs_conf_source *conf;
	xmlDocPtr *docs;		/* the documents it gave */
	char **paths;			/* and where they came from */
	size_t ndocs;
	json_t *rep;			/* its entry in the report */
	int usable;
	time_t valid_until;		/* of a verified source, else 0 */
};

struct fs_report {
	json_t *root;
	json_t *sources;
	json_t *feeds;
	json_t *findings;
	json_t *timings;
	pthread_mutex_t lock;		/* findings come from several threads */
	unsigned long errors, warnings, infos;
};

/* A new report for a command ("publish", "check"). */
fs_report *fs_report_new(const char *command, time_t now);

/* Record a finding; rule, entity_id, source, file may be NULL.  Safe to
 * call from several threads. */
void fs_report_finding(fs_report *r, enum fs_level level, const char *rule,
    const char *entity_id, const char *source, const char *file,
    unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* Set key of the report's top level to a string / integer / time. */
void fs_report_set(fs_report *r, const char *key, const char *value);
void fs_report_set_int(fs_report *r, const char *key, long long value);
void fs_report_set_time(json_t *o, const char *key, time_t t);

/* Sort the findings by file, line, rule (threads add them in any
 * order). */
void fs_report_sort(fs_report *r);

/* The CPUs this process may run on. */
unsigned fs_cpus(void);

/*
 * fn(arg) on n threads at once, this one among them, at most
 * FS_MAX_THREADS; fewer when a thread cannot be started.  Returns when all
 * have: how many ran.
 */
#define FS_MAX_THREADS 16
unsigned fs_run_threads(unsigned n, void *(*fn)(void *), void *arg);

/* Seconds since t0 (CLOCK_MONOTONIC), for the timings. */
double fs_elapsed(const struct timespec *t0);

/* --- checks (check.c) ------------------------------------------------- */

struct fs_rules;

/*
 * Compile the checks: the SAML metadata schemas (with the extensions
 * federations use, from Debian's opensaml and xmltooling schemas, never
 * from the network) when schema, and the XSLT rule files the globs name.
 * A rule file that does not compile is FS_EUSAGE.
 */
int fs_rules_load(int schema, const struct fs_conf_list *rules,
    struct fs_rules **out, fs_err *err);
void fs_rules_free(struct fs_rules *r);

/*
 * Check entities [0, n) as they will be published: each is copied into a
 * document of its own, validated against the schemas and given to every
 * rule file; findings go to rep, an [ERROR] sets dropped.  Also computes
 * each entity's content digest.  Runs on threads threads.  rules may be
 * NULL (digests only).
 */
int fs_check_entities(struct fs_rules *rules, struct fs_entity *ents,
    size_t n, fs_report *rep, unsigned threads, fs_err *err);

/* The size of the RSA key of the DER certificate der: bits, 0 when
 * the key is not RSA, -1 when der is not a certificate. */
int fs_cert_rsa_bits(const unsigned char *der, size_t len);

/* The digest of the entity as published (see struct fs_entity). */
int fs_entity_digest(xmlNodePtr entity, unsigned char out[32], fs_err *err);

/* --- sources (source.c) ----------------------------------------------- */

struct fs_entities {
	struct fs_entity *v;
	size_t n, cap;
};

/*
 * Take the entities out of a parsed document of source s (path names it
 * in findings): built-in checks (entityID present, an absolute URI, no
 * white space; a duplicate in the same source is an error, one already
 * given by an earlier source is left out with a warning); signatures on
 * entities stripped and reported; RegistrationInfo added where the source
 * has a registration-authority and the entity has none.  seen maps
 * entityIDs already taken to their entity (a json object of indices).
 */
int fs_source_take(struct fs_source *s, xmlDocPtr doc, const char *path,
    time_t now, struct fs_entities *out, json_t *seen, fs_report *rep,
    fs_err *err);

/* --- selection (select.c) --------------------------------------------- */

struct fs_selector;

/* Compile sel (its roles, its XPath); *out is the caller's. */
int fs_selector_new(const struct fs_conf_select *sel,
    struct fs_selector **out, fs_err *err);
void fs_selector_free(struct fs_selector *s);

/* 1 when e is selected (all keys given hold), 0 when not, -1 on error. */
int fs_selector_match(const struct fs_selector *s, const struct fs_entity *e,
    fs_err *err);

/* --- signing (publish.c) ---------------------------------------------- */

struct fs_sign_opts;

/* The algorithms conf's signing: section names, for the feeds and the
 * per-entity documents alike (unnamed: fs_dsig_sign's defaults). */
void fs_publish_sign_opts(const struct fs_conf *conf, struct fs_sign_opts *so);

/* --- per-entity documents (mdq.c) ---------------------------------------- */

struct fs_mdq;

/*
 * The signing cache in state-dir/mdq, before the checks: what a killed
 * run journaled is made into cache files, and the cache is read.
 */
int fs_mdq_open(const struct fs_conf *conf, const struct fs_publish_opts *o,
    time_t now, fs_report *rep, struct fs_mdq **out, fs_err *err);

/* Whether e is from one of the mdq: sources (publish.c sets e->mdq). */
int fs_mdq_wants(const struct fs_mdq *q, const struct fs_entity *e);

/*
 * Whether the checks should keep e's canonical bytes (its digest just
 * made): e->mdq is q, and e has no document in the cache, or
 * one the plan may renew.  Safe from several threads.
 */
int fs_mdq_keeps_c14n(const struct fs_mdq *q, const struct fs_entity *e);

/*
 * Which of entities [0, n) get documents of their own (not dropped, e->mdq
 * is q) and which of those must be signed this run: the plan, from the
 * cache.
 */
int fs_mdq_plan(struct fs_mdq *q, struct fs_entity *ents, size_t n,
    fs_err *err);

/* How many documents the plan signs. */
size_t fs_mdq_to_sign(const struct fs_mdq *q);

/* The signer's key: another than the cache's makes every entity one to
 * sign; remembered for the next run. */
int fs_mdq_signer(struct fs_mdq *q, const unsigned char tag[32],
    fs_err *err);

/*
 * Start reading the cache's files on a thread of its own (while the
 * sources are parsed); fs_mdq_check_cache takes its findings.
 */
void fs_mdq_check_start(struct fs_mdq *q);

/* Cache files whose bytes do not match their name are signed again. */
void fs_mdq_check_cache(struct fs_mdq *q);

/* Sign what the plan says, on as many sessions as the token allows; each
 * document enters the cache as soon as it is signed. */
int fs_mdq_sign(struct fs_mdq *q, fs_signer *signer, fs_err *err);

/*
 * The MDQ tree in release_dir: entities/{sha1}HEX (+ .gz, .json),
 * entities/index.json, entities.json, and the aggregate's .gz.  Start it
 * after signing (it writes on threads of its own while the feeds are
 * built), say when the aggregate is written, and finish it with
 * fs_mdq_write.  Unchanged entities are linked from publish_dir's live
 * release.
 */
int fs_mdq_tree_start(struct fs_mdq *q, const char *release_dir,
    const char *publish_dir, fs_err *err);
void fs_mdq_tree_aggregate(struct fs_mdq *q, int ready, char *bytes,
    size_t len);
int fs_mdq_write(struct fs_mdq *q, fs_err *err);

/* Stop a tree that will not be finished (a refusal, an error). */
void fs_mdq_tree_stop(struct fs_mdq *q);

/* The earliest validUntil of the documents (0: none). */
time_t fs_mdq_earliest(const struct fs_mdq *q);

/* The discovery JSON object of entity e (NULL: out of memory). */
json_t *fs_disco_entity(xmlNodePtr e, const char *entity_id);

/* After the switch: the state for the next run; unused cache files go. */
int fs_mdq_commit(struct fs_mdq *q, fs_err *err);

/* When renewals fall due next (0: none), for the unchanged fast path. */
time_t fs_mdq_next_renewal(const struct fs_mdq *q);

/* The "mdq" object of the report. */
void fs_mdq_report(const struct fs_mdq *q, json_t *rep);

void fs_mdq_free(struct fs_mdq *q);

#endif
