/*
 * The publish configuration: one YAML file, read with libyaml into plain
 * structs.  Every key is checked: an unknown or repeated key, a value of
 * the wrong kind, a duration or size that does not parse, a reference to
 * a source that does not exist, or a cacheDuration not shorter than the
 * validity is an error naming the file, the line and the key.
 */
#ifndef FEDSIGN_CONF_H
#define FEDSIGN_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "fedsign/err.h"
#include "fedsign/md.h"

/* A list of strings. */
struct fs_conf_list {
	char **v;
	size_t n;
};

/* select: of a feed; the keys present combine with AND, a list with OR. */
struct fs_conf_select {
	struct fs_conf_list roles;		/* roles: idp, sp, aa (also
						   attribute-authority), pdp,
						   authn-authority */
	struct fs_conf_list categories;		/* entity-category */
	struct fs_conf_list category_support;	/* entity-category-support */
	struct fs_conf_list assurance;		/* assurance-certification */
	struct fs_conf_list ra_include;		/* registration-authority: a list,
						   or {include: [...]} */
	struct fs_conf_list ra_exclude;		/* registration-authority:
						   {exclude: [...]} */
	struct fs_conf_list entity_ids;		/* entity-ids */
	struct fs_conf_list exclude_ids;	/* exclude-entity-ids */
	char *xpath;				/* xpath: true for the entity */
};

struct fs_conf_source {
	char *name;
	struct fs_conf_list files;	/* files: a glob, or a list of globs */
	char *url;			/* url: https:// or http:// */
	char *file;			/* file: one document, like url: */
	char *verify_cert;		/* verify-cert: PEM; then signed */
	int required;			/* required: default true */
	char *registration_authority;	/* registration-authority */
	int64_t timeout;		/* timeout: url fetches (default fetch) */
	uint64_t max_size;		/* max-size: (default fetch) */
	unsigned line;			/* where it starts in the file */
};

struct fs_conf_feed {
	char *file;			/* file: a plain file name */
	char *name;			/* name: the aggregate's Name, or NULL */
	struct fs_conf_list sources;	/* sources: names, in order */
	struct fs_conf_select select;	/* select: (all empty: everything) */
	int64_t validity;		/* validity: 0 for the global one */
	int64_t cache_duration;		/* cache-duration: 0 for the global */
	unsigned line;
};

/* mdq: per-entity documents (draft-young-md-query-saml). */
struct fs_conf_mdq {
	int enabled;			/* the section is there */
	struct fs_conf_list sources;	/* sources: which entities */
	int64_t validity;		/* validity: per-entity (default 14d) */
	int64_t resign_window;		/* resign-window: (default validity/4) */
	int64_t run_interval;		/* run-interval: (default 1h) */
	int64_t cache_duration;		/* cache-duration: (default the
					   top-level one) */
	unsigned sign_workers;		/* sign-workers: 0 auto, else 1..16
					   (FS_TOKEN_MAX_SESSIONS) */
	char *aggregate;		/* aggregate: file of the signed
					   aggregate of them (entities.xml) */
	unsigned line;
};

/* serve: fedsign serve, the MDQ responder over publish-dir. */
#define FS_CONF_SERVE_MAX_CLIENTS	1024
#define FS_CONF_SERVE_TIMEOUT		30
#define FS_CONF_SERVE_MARGIN		86400

struct fs_conf_serve {
	int enabled;			/* the section is there */
	struct fs_conf_list listen;	/* listen: ADDR:PORT or a list of
					   them (none: 127.0.0.1:8080) */
	unsigned max_clients;		/* max-clients: (default 1024) */
	int64_t timeout;		/* timeout: an idle connection is
					   closed after it (default 30s) */
	int64_t status_margin;		/* status-margin: /status says 503
					   this long before the earliest
					   validUntil (default 1d) */
	unsigned line;
};

struct fs_conf {
	char *path;			/* the file it was read from */
	struct {
		char *key;		/* key: a pkcs11: URI */
		char *key_file;		/* key-file: PEM (development) */
		char *cert;		/* cert: PEM; default the token's */
		char *module;		/* module: PKCS#11 module path */
		char *alg;		/* alg: rsa-sha256 ... */
		char *digest;		/* digest: sha256 ... */
	} signing;
	char *publish_dir;		/* publish-dir */
	char *state_dir;		/* state-dir */
	int64_t validity;		/* validity (required) */
	int64_t cache_duration;		/* cache-duration (0: none) */
	int64_t resign_window;		/* resign-window: re-sign an unchanged
					   publication this long before it
					   expires (default validity / 2) */
	char *publisher;		/* publisher (PublicationInfo) */
	struct fs_conf_source *sources;
	size_t nsources;
	struct {
		int schema;		/* schema: true */
		struct fs_conf_list rules;	/* rules: globs of XSLT files */
	} checks;
	struct fs_conf_feed *feeds;
	size_t nfeeds;
	struct {
		double max_entity_drop;	/* max-entity-drop: a fraction, 0..1 */
		int have_max_entity_drop;
	} safety;
	unsigned keep_releases;		/* keep-releases: default 5 */
	struct fs_conf_mdq mdq;		/* mdq: */
	struct fs_conf_serve serve;	/* serve: (its defaults also when
					   the section is absent) */
	struct fs_md_limits limits;	/* limits: {max-size, max-depth,
					   max-attributes} */
	struct {
		int64_t timeout;	/* fetch: {timeout: 60s} */
		uint64_t max_size;	/* fetch: {max-size: 1G} */
	} fetch;
};

/*
 * Read and check the configuration file at path.  Relative paths in it
 * (globs, certificates, rule files, folders) are taken relative to the
 * file's folder.  *out is the caller's (fs_conf_free).  FS_EUSAGE for
 * anything wrong in the file, FS_EIO when it cannot be read.
 */
int fs_conf_load(const char *path, struct fs_conf **out, fs_err *err);

/* NULL is a no-op. */
void fs_conf_free(struct fs_conf *c);

#endif
