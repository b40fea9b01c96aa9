/*
 * The publish configuration: a YAML file read with libyaml's event parser
 * into a small tree of mappings, lists and values that keep their line,
 * then walked key by key into struct fs_conf.  Every message names the
 * file and the line, says what is wrong, and what to do.
 */
#include "fedsign/conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "fedsign/alg.h"
#include "fedsign/file.h"
#include "fedsign/util.h"
#include "conf/yconf.h"

#define MAX_FILE	((size_t)1 << 20)	/* a config is a few KiB */
#define MAX_DEPTH	16	/* the schema nests 6 deep */
#define MAX_NODES	100000
#define MAX_ITEMS	1000	/* sources, feeds */

#define DEF_KEEP	5
#define DEF_TIMEOUT	60
#define DEF_FETCH_SIZE	((uint64_t)1 << 30)

static const char *const top_keys[] = {
	"signing", "publish-dir", "state-dir", "validity", "cache-duration",
	"resign-window", "publisher", "sources", "checks", "feeds", "safety",
	"keep-releases", "limits", "fetch", "mdq", "serve", NULL
};
static const char *const mdq_keys[] = {
	"sources", "validity", "resign-window", "run-interval",
	"cache-duration", "sign-workers", "aggregate", NULL
};
static const char *const serve_keys[] = {
	"listen", "max-clients", "timeout", "status-margin", NULL
};
static const char *const signing_keys[] = {
	"key", "key-file", "cert", "module", "alg", "digest", NULL
};
static const char *const source_keys[] = {
	"name", "files", "url", "file", "verify-cert", "required",
	"registration-authority", "timeout", "max-size", NULL
};
static const char *const feed_keys[] = {
	"file", "name", "sources", "select", "validity", "cache-duration", NULL
};
static const char *const select_keys[] = {
	"roles", "entity-category", "entity-category-support",
	"assurance-certification", "registration-authority", "entity-ids",
	"exclude-entity-ids", "xpath", NULL
};
static const char *const ra_keys[] = { "include", "exclude", NULL };
static const char *const checks_keys[] = { "schema", "rules", NULL };
static const char *const safety_keys[] = { "max-entity-drop", NULL };
static const char *const limits_keys[] = {
	"max-size", "max-depth", "max-attributes", NULL
};
static const char *const fetch_keys[] = { "timeout", "max-size", NULL };
static const char *const roles[] = {
	"idp", "sp", "aa", "attribute-authority", "pdp", "authn-authority",
	NULL
};

/* A duration above 0; *vn (may be NULL) is its value, for messages. */
static int
opt_duration(struct yc *cx, const struct yc_node *map, const char *key,
    int64_t *out, const struct yc_node **vn)
{
	const struct yc_node *v;
	fs_err e;
	int rc;

	if (vn != NULL)
		*vn = NULL;
	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	if (fs_duration_parse(v->s, out, &e) != FS_OK)
		return yc_bad(cx, v->line, "'%s': %s", key, e.msg);
	if (*out <= 0)
		return yc_bad(cx, v->line, "'%s' is %s: it must be longer than "
		    "nothing (14d, 6h)", key, v->s);
	if (vn != NULL)
		*vn = v;
	return FS_OK;
}

static int
opt_size(struct yc *cx, const struct yc_node *map, const char *key,
    uint64_t *out)
{
	const struct yc_node *v;
	fs_err e;
	int rc;

	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	if (fs_size_parse(v->s, out, &e) != FS_OK)
		return yc_bad(cx, v->line, "'%s': %s", key, e.msg);
	if (*out == 0)
		return yc_bad(cx, v->line, "'%s' is 0: give a size above 0 "
		    "(512M, 1G)", key);
	return FS_OK;
}

/* The line of item i of a list value (or of the single value). */
static unsigned
item_line(const struct yc_node *v, size_t i)
{
	return v->kind == YC_SEQ ? v->kid[i]->line : v->line;
}

/*
 * A list of non-empty values, or one value meaning a list of one; paths
 * made absolute when paths is set.  *vn (may be NULL) is the value.
 */
static int
opt_list(struct yc *cx, const struct yc_node *map, const char *key,
    int paths, struct fs_conf_list *out, const struct yc_node **vn)
{
	const struct yc_node *v, *it;
	size_t n;
	int rc;

	if (vn != NULL)
		*vn = NULL;
	if ((v = yc_val(map, key)) == NULL)
		return FS_OK;
	if (v->kind == YC_MAP)
		return yc_bad(cx, v->line, "'%s' must be a list ([a, b], or "
		    "one '- item' a line) or a single value, not a mapping",
		    key);
	if (v->kind == YC_SCALAR && v->s[0] == '\0')
		return yc_bad(cx, v->line, "'%s' has no value: give one, or "
		    "remove the key", key);
	n = v->kind == YC_SEQ ? v->n : 1;
	if (n == 0)
		return yc_bad(cx, v->line, "'%s' is an empty list: list at "
		    "least one, or remove the key", key);
	if ((out->v = calloc(n, sizeof(*out->v))) == NULL)
		return yc_nomem(cx);
	for (size_t i = 0; i < n; i++) {
		it = v->kind == YC_SEQ ? v->kid[i] : v;
		if (it->kind != YC_SCALAR)
			return yc_bad(cx, it->line, "'%s' must list single "
			    "values, not %s", key, yc_kind(it));
		if (it->s[0] == '\0')
			return yc_bad(cx, it->line, "'%s' lists an empty "
			    "value: remove it", key);
		rc = paths ? yc_abs_path(cx, it->s, &out->v[i]) :
		    yc_strdup(cx, it->s, &out->v[i]);
		if (rc != FS_OK)
			return rc;
		out->n++;
	}
	if (vn != NULL)
		*vn = v;
	return FS_OK;
}

/* The mapping under key, its keys checked; *out NULL when absent. */
static int
opt_map(struct yc *cx, const struct yc_node *map, const char *key,
    const char *where, const char *const *allowed, const struct yc_node **out)
{
	const struct yc_node *v;

	*out = NULL;
	if ((v = yc_val(map, key)) == NULL)
		return FS_OK;
	if (v->kind != YC_MAP)
		return yc_bad(cx, v->line, "'%s' must be a mapping (keys "
		    "indented below it, or {key: value}), not %s", key,
		    yc_kind(v));
	*out = v;
	return yc_check_keys(cx, v, where, allowed);
}

/* "10%" or "2.5%", 0 to 100, as a fraction. */
static int
opt_percent(struct yc *cx, const struct yc_node *map, const char *key,
    double *out, int *have)
{
	const struct yc_node *v;
	double x = 0, scale = 1;
	int idig = 0, fdig = 0, rc;
	const char *p;

	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	for (p = v->s; isdigit((unsigned char)*p) && idig < 9; p++, idig++)
		x = x * 10 + (*p - '0');
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p) && fdig < 9; p++, fdig++)
			x += (*p - '0') * (scale /= 10);
	if (idig == 0 || (p[-1] == '.') || *p != '%' || p[1] != '\0')
		return yc_bad(cx, v->line, "'%s' is '%.64s', not a percentage: "
		    "write it as 10%% (0%% to 100%%)", key, v->s);
	if (x > 100)
		return yc_bad(cx, v->line, "'%s' is %s, more than 100%%: give "
		    "a percentage from 0%% to 100%%", key, v->s);
	*out = x / 100;
	*have = 1;
	return FS_OK;
}

/* The list under key, which must be there and be a list of mappings. */
static int
req_seq(struct yc *cx, const struct yc_node *top, const char *key,
    const char *example, const struct yc_node **out)
{
	const struct yc_node *v;

	if ((v = yc_val(top, key)) == NULL)
		return yc_bad(cx, top->line, "no '%s:': list at least one "
		    "(%s)", key, example);
	if (v->kind != YC_SEQ)
		return yc_bad(cx, v->line, "'%s' must be a list, one '- ' "
		    "entry each (%s), not %s", key, example, yc_kind(v));
	if (v->n == 0)
		return yc_bad(cx, v->line, "'%s' is empty: list at least one "
		    "(%s)", key, example);
	if (v->n > MAX_ITEMS)
		return yc_bad(cx, v->line, "'%s' has more than %d entries: "
		    "combine them (files: takes a list of globs)", key,
		    MAX_ITEMS);
	for (size_t i = 0; i < v->n; i++)
		if (v->kid[i]->kind != YC_MAP)
			return yc_bad(cx, v->kid[i]->line, "each entry of '%s' "
			    "must be a mapping (%s), not %s", key, example,
			    yc_kind(v->kid[i]));
	*out = v;
	return FS_OK;
}

static int
load_signing(struct yc *cx, struct fs_conf *c, const struct yc_node *top)
{
	const struct yc_node *m, *k, *kf;
	const struct fs_alg *a;
	char names[256];
	int rc;

	if ((rc = opt_map(cx, top, "signing", "in signing:", signing_keys,
	    &m)) != FS_OK)
		return rc;
	if (m == NULL)
		return yc_bad(cx, top->line, "no 'signing:': say which key "
		    "signs (signing: {key: \"pkcs11:token=...;object=...\"})");
	if ((rc = yc_scalar(cx, m, "key", &k)) != FS_OK ||
	    (rc = yc_scalar(cx, m, "key-file", &kf)) != FS_OK)
		return rc;
	if (k == NULL && kf == NULL)
		return yc_bad(cx, m->line, "signing: has no key: give key: (a "
		    "pkcs11: URI) or, for development, key-file: (a PEM "
		    "file)");
	if (k != NULL && kf != NULL)
		return yc_bad(cx, kf->line, "signing: has both key (line %u) "
		    "and key-file: give only one", k->line);
	if (k != NULL && strncmp(k->s, "pkcs11:", 7) != 0 &&
	    strncmp(k->s, "fedsignd:", 9) != 0)
		return yc_bad(cx, k->line, "signing key '%.200s' is not a "
		    "pkcs11: or fedsignd: URI: write "
		    "pkcs11:token=LABEL;object=KEYLABEL, "
		    "fedsignd:unix:/run/fedsignd/sock?key=NAME, or use "
		    "key-file: for a PEM file", k->s);
	if ((rc = yc_opt_str(cx, m, "key", &c->signing.key)) != FS_OK ||
	    (rc = yc_opt_path(cx, m, "key-file", &c->signing.key_file)) !=
	    FS_OK ||
	    (rc = yc_opt_path(cx, m, "cert", &c->signing.cert)) != FS_OK ||
	    (rc = yc_opt_path(cx, m, "module", &c->signing.module)) != FS_OK ||
	    (rc = yc_opt_str(cx, m, "alg", &c->signing.alg)) != FS_OK ||
	    (rc = yc_opt_str(cx, m, "digest", &c->signing.digest)) != FS_OK)
		return rc;
	if (c->signing.alg != NULL) {
		a = fs_alg_by_name(FS_ALG_SIGNATURE, c->signing.alg);
		if (a == NULL || !(a->flags & FS_ALGF_SIGN)) {
			fs_alg_sign_names(FS_ALG_SIGNATURE, names,
			    sizeof(names));
			return yc_bad(cx, yc_val(m, "alg")->line, "unknown alg "
			    "'%.64s': use %s", c->signing.alg, names);
		}
	}
	if (c->signing.digest != NULL) {
		a = fs_alg_by_name(FS_ALG_DIGEST, c->signing.digest);
		if (a == NULL || !(a->flags & FS_ALGF_SIGN)) {
			fs_alg_sign_names(FS_ALG_DIGEST, names, sizeof(names));
			return yc_bad(cx, yc_val(m, "digest")->line,
			    "unknown digest "
			    "'%.64s': use %s (SHA-1 and MD5 are never used)",
			    c->signing.digest, names);
		}
	}
	return FS_OK;
}

/* A required folder. */
static int
req_dir(struct yc *cx, const struct yc_node *top, const char *key,
    const char *what, char **out)
{
	int rc;

	if ((rc = yc_opt_path(cx, top, key, out)) != FS_OK)
		return rc;
	if (*out == NULL)
		return yc_bad(cx, top->line, "no '%s:': give the folder %s",
		    key, what);
	return FS_OK;
}

/*
 * cache-duration (cn) must be shorter than the validity it goes with
 * (vn): a consumer could otherwise keep metadata past its validUntil.
 * The message goes on line, the key that is wrong.
 */
static int
check_cache(struct yc *cx, unsigned line, const struct yc_node *cn,
    int64_t cache, const struct yc_node *vn, int64_t validity, const char *feed)
{
	if (cache < validity)
		return FS_OK;
	return yc_bad(cx, line, "cache-duration %s (line %u) is not shorter "
	    "than validity %s (line %u)%s%s%s: a cacheDuration not shorter "
	    "than the validity is a configuration error (were the two "
	    "swapped?); make cache-duration shorter than validity (6h and 10d "
	    "are usual)",
	    cn->s, cn->line, vn->s, vn->line, feed != NULL ? " of feed '" : "",
	    feed != NULL ? feed : "", feed != NULL ? "'" : "");
}

static int
check_name(struct yc *cx, const struct yc_node *v)
{
	for (const char *p = v->s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			return yc_bad(cx, v->line, "source name '%.64s' has a "
			    "character other than letters, digits, '.', '_' "
			    "and '-': rename it", v->s);
	return FS_OK;
}

static int
load_source(struct yc *cx, struct fs_conf *c, size_t i,
    const struct yc_node *m)
{
	static const char *const kinds[] = { "files", "url", "file" };
	struct fs_conf_source *s = &c->sources[i];
	const struct yc_node *v, *first = NULL;
	const char *firstkey = NULL;
	int rc;

	if ((rc = yc_check_keys(cx, m, "in a source", source_keys)) != FS_OK)
		return rc;
	s->line = m->line;
	s->required = 1;
	s->timeout = c->fetch.timeout;
	s->max_size = c->fetch.max_size;
	if ((rc = yc_scalar(cx, m, "name", &v)) != FS_OK)
		return rc;
	if (v == NULL)
		return yc_bad(cx, m->line, "a source has no name: give it one "
		    "(name: members); feeds name the sources they take");
	if ((rc = check_name(cx, v)) != FS_OK)
		return rc;
	for (size_t j = 0; j < i; j++)
		if (strcmp(c->sources[j].name, v->s) == 0)
			return yc_bad(cx, v->line, "source name '%s' is used "
			    "twice (first on line %u): give each source its "
			    "own name", v->s, c->sources[j].line);
	if ((rc = yc_strdup(cx, v->s, &s->name)) != FS_OK)
		return rc;
	for (size_t k = 0; k < 3; k++) {
		if ((v = yc_val(m, kinds[k])) == NULL)
			continue;
		if (first != NULL)
			return yc_bad(cx, v->line, "source '%s' has both %s "
			    "(line %u) and %s: give exactly one of files, url "
			    "and file", s->name, firstkey, first->line,
			    kinds[k]);
		first = v;
		firstkey = kinds[k];
	}
	if (first == NULL)
		return yc_bad(cx, m->line, "source '%s' has none of files, url "
		    "and file: give exactly one (files: /srv/members/*.xml)",
		    s->name);
	if ((rc = opt_list(cx, m, "files", 1, &s->files, NULL)) != FS_OK ||
	    (rc = yc_opt_str(cx, m, "url", &s->url)) != FS_OK ||
	    (rc = yc_opt_path(cx, m, "file", &s->file)) != FS_OK ||
	    (rc = yc_opt_path(cx, m, "verify-cert", &s->verify_cert)) !=
	    FS_OK ||
	    (rc = yc_opt_bool(cx, m, "required", &s->required)) != FS_OK ||
	    (rc = yc_opt_str(cx, m, "registration-authority",
	    &s->registration_authority)) != FS_OK ||
	    (rc = opt_duration(cx, m, "timeout", &s->timeout, NULL)) !=
	    FS_OK ||
	    (rc = opt_size(cx, m, "max-size", &s->max_size)) != FS_OK)
		return rc;
	if (s->url != NULL && ((strncmp(s->url, "https://", 8) != 0 ||
	    s->url[8] == '\0') && (strncmp(s->url, "http://", 7) != 0 ||
	    s->url[7] == '\0')))
		return yc_bad(cx, first->line, "source '%s': url '%.200s' is "
		    "not an https:// or http:// URL: give one, or use file: "
		    "for a local file", s->name, s->url);
	return FS_OK;
}

/* A plain file name: no folder, not hidden, not "." or "..". */
static int
check_feed_file(struct yc *cx, const struct yc_node *v)
{
	if (strchr(v->s, '/') != NULL)
		return yc_bad(cx, v->line, "feed file '%.200s' has a '/': give "
		    "a plain file name; feeds are written to publish-dir",
		    v->s);
	if (v->s[0] == '.')
		return yc_bad(cx, v->line, "feed file '%.200s' starts with "
		    "'.': give a plain file name that is not hidden (hub.xml)",
		    v->s);
	return FS_OK;
}

/* A feed's sources: each one defined, none twice. */
static int
check_feed_sources(struct yc *cx, const struct fs_conf *c,
    const struct fs_conf_feed *f, const struct yc_node *v)
{
	const char *names[16];
	char list[512];
	size_t i, j, n;

	for (i = 0; i < f->sources.n; i++) {
		for (j = 0; j < c->nsources; j++)
			if (strcmp(c->sources[j].name, f->sources.v[i]) == 0)
				break;
		if (j == c->nsources) {
			n = c->nsources < 16 ? c->nsources : 16;
			for (j = 0; j < n; j++)
				names[j] = c->sources[j].name;
			yc_join(names, n, list, sizeof(list));
			return yc_bad(cx, item_line(v, i), "feed '%s' takes "
			    "source '%.64s', which is not defined: name one "
			    "of the sources (%s%s)", f->file, f->sources.v[i],
			    list, c->nsources > n ? ", ..." : "");
		}
		for (j = 0; j < i; j++)
			if (strcmp(f->sources.v[j], f->sources.v[i]) == 0)
				return yc_bad(cx, item_line(v, i), "feed '%s' "
				    "takes source '%s' twice: list it once",
				    f->file, f->sources.v[i]);
	}
	return FS_OK;
}

/* roles: the names fs_conf_select knows, "attribute-authority" as "aa". */
static int
check_roles(struct yc *cx, struct fs_conf_list *l, const struct yc_node *v)
{
	char list[256];
	size_t r;

	for (size_t i = 0; i < l->n; i++) {
		for (r = 0; roles[r] != NULL; r++)
			if (strcmp(l->v[i], roles[r]) == 0)
				break;
		if (roles[r] == NULL)
			return yc_bad(cx, item_line(v, i), "unknown role "
			    "'%.64s': use %s", l->v[i],
			    yc_join(roles, yc_count(roles), list,
			    sizeof(list)));
		if (strcmp(l->v[i], "attribute-authority") == 0)
			memcpy(l->v[i], "aa", 3);
	}
	return FS_OK;
}

static int
load_select(struct yc *cx, struct fs_conf_select *s, const struct yc_node *f)
{
	const struct yc_node *m, *v, *ra;
	int rc;

	if ((rc = opt_map(cx, f, "select", "in select:", select_keys, &m)) !=
	    FS_OK || m == NULL)
		return rc;
	if ((rc = opt_list(cx, m, "roles", 0, &s->roles, &v)) != FS_OK ||
	    (v != NULL && (rc = check_roles(cx, &s->roles, v)) != FS_OK) ||
	    (rc = opt_list(cx, m, "entity-category", 0, &s->categories,
	    NULL)) != FS_OK ||
	    (rc = opt_list(cx, m, "entity-category-support", 0,
	    &s->category_support, NULL)) != FS_OK ||
	    (rc = opt_list(cx, m, "assurance-certification", 0,
	    &s->assurance, NULL)) != FS_OK ||
	    (rc = opt_list(cx, m, "entity-ids", 0, &s->entity_ids, NULL)) !=
	    FS_OK ||
	    (rc = opt_list(cx, m, "exclude-entity-ids", 0, &s->exclude_ids,
	    NULL)) != FS_OK ||
	    (rc = yc_opt_str(cx, m, "xpath", &s->xpath)) != FS_OK)
		return rc;
	if ((v = yc_val(m, "registration-authority")) == NULL)
		return FS_OK;
	if (v->kind != YC_MAP)
		return opt_list(cx, m, "registration-authority", 0,
		    &s->ra_include, NULL);
	if ((rc = opt_map(cx, m, "registration-authority",
	    "in registration-authority:", ra_keys, &ra)) != FS_OK)
		return rc;
	if (ra->n == 0)
		return yc_bad(cx, ra->line, "'registration-authority' has "
		    "neither include nor exclude: give one, or remove the key");
	if ((rc = opt_list(cx, ra, "include", 0, &s->ra_include, NULL)) !=
	    FS_OK ||
	    (rc = opt_list(cx, ra, "exclude", 0, &s->ra_exclude, NULL)) !=
	    FS_OK)
		return rc;
	return FS_OK;
}

/*
 * One feed; gval, gcache and gresign are the global validity,
 * cache-duration and resign-window (the last two may be NULL), for the
 * checks of the feed's own values.
 */
static int
load_feed(struct yc *cx, struct fs_conf *c, size_t i, const struct yc_node *m,
    const struct yc_node *gval, const struct yc_node *gcache,
    const struct yc_node *gresign)
{
	struct fs_conf_feed *f = &c->feeds[i];
	const struct yc_node *v, *vn, *cn;
	char text[32];
	int rc;

	if ((rc = yc_check_keys(cx, m, "in a feed", feed_keys)) != FS_OK)
		return rc;
	f->line = m->line;
	if ((rc = yc_scalar(cx, m, "file", &v)) != FS_OK)
		return rc;
	if (v == NULL)
		return yc_bad(cx, m->line, "a feed has no file: give the file "
		    "name it is published as (file: hub.xml)");
	if ((rc = check_feed_file(cx, v)) != FS_OK)
		return rc;
	for (size_t j = 0; j < i; j++)
		if (strcmp(c->feeds[j].file, v->s) == 0)
			return yc_bad(cx, v->line, "feed file '%s' is used "
			    "twice (first on line %u): give each feed its own "
			    "file",
			    v->s, c->feeds[j].line);
	if ((rc = yc_strdup(cx, v->s, &f->file)) != FS_OK ||
	    (rc = yc_opt_str(cx, m, "name", &f->name)) != FS_OK ||
	    (rc = opt_list(cx, m, "sources", 0, &f->sources, &v)) != FS_OK)
		return rc;
	if (v == NULL)
		return yc_bad(cx, m->line, "feed '%s' has no sources: list the "
		    "sources it takes (sources: [members])", f->file);
	if ((rc = check_feed_sources(cx, c, f, v)) != FS_OK ||
	    (rc = load_select(cx, &f->select, m)) != FS_OK ||
	    (rc = opt_duration(cx, m, "validity", &f->validity, &vn)) !=
	    FS_OK ||
	    (rc = opt_duration(cx, m, "cache-duration", &f->cache_duration,
	    &cn)) != FS_OK)
		return rc;
	/* Global against global was checked already. */
	if (cn != NULL)
		rc = check_cache(cx, cn->line, cn, f->cache_duration,
		    vn != NULL ? vn : gval, vn != NULL ? f->validity :
		    c->validity, f->file);
	else if (vn != NULL && gcache != NULL)
		rc = check_cache(cx, vn->line, gcache, c->cache_duration, vn,
		    f->validity, f->file);
	if (rc != FS_OK)
		return rc;
	if (vn != NULL && c->resign_window >= f->validity) {
		fs_duration_format(c->resign_window, text, sizeof(text));
		return yc_bad(cx, vn->line, "feed '%s': validity %s is not "
		    "longer than resign-window %s%s: every run would sign it "
		    "again; set resign-window shorter than every validity",
		    f->file,
		    vn->s, gresign != NULL ? gresign->s : text,
		    gresign == NULL ? " (the default, half the global "
		    "validity)" : "");
	}
	return FS_OK;
}

static int
load_checks(struct yc *cx, struct fs_conf *c, const struct yc_node *top)
{
	const struct yc_node *m;
	int rc;

	c->checks.schema = 1;
	if ((rc = opt_map(cx, top, "checks", "in checks:", checks_keys, &m)) !=
	    FS_OK || m == NULL)
		return rc;
	if ((rc = yc_opt_bool(cx, m, "schema", &c->checks.schema)) != FS_OK)
		return rc;
	return opt_list(cx, m, "rules", 1, &c->checks.rules, NULL);
}

/* limits:, fetch:, safety: and keep-releases, with their defaults. */
static int
load_limits(struct yc *cx, struct fs_conf *c, const struct yc_node *top)
{
	const struct yc_node *m;
	int rc;

	c->keep_releases = DEF_KEEP;
	/* A feed may lose a tenth of its entities between two runs. */
	c->safety.max_entity_drop = 0.10;
	c->limits.max_size = FS_MD_MAX_SIZE;
	c->limits.max_depth = FS_MD_MAX_DEPTH;
	c->limits.max_attrs = FS_MD_MAX_ATTRS;
	c->fetch.timeout = DEF_TIMEOUT;
	c->fetch.max_size = DEF_FETCH_SIZE;
	if ((rc = yc_opt_uint(cx, top, "keep-releases", 1, 1000,
	    &c->keep_releases)) != FS_OK)
		return rc;
	if ((rc = opt_map(cx, top, "limits", "in limits:", limits_keys, &m)) !=
	    FS_OK)
		return rc;
	if (m != NULL && ((rc = opt_size(cx, m, "max-size",
	    &c->limits.max_size)) != FS_OK ||
	    (rc = yc_opt_uint(cx, m, "max-depth", 1, FS_MD_DEPTH_CEILING,
	    &c->limits.max_depth)) != FS_OK ||
	    (rc = yc_opt_uint(cx, m, "max-attributes", 1, 100000,
	    &c->limits.max_attrs)) != FS_OK))
		return rc;
	if ((rc = opt_map(cx, top, "fetch", "in fetch:", fetch_keys, &m)) !=
	    FS_OK)
		return rc;
	if (m != NULL && ((rc = opt_duration(cx, m, "timeout",
	    &c->fetch.timeout, NULL)) != FS_OK ||
	    (rc = opt_size(cx, m, "max-size", &c->fetch.max_size)) != FS_OK))
		return rc;
	if ((rc = opt_map(cx, top, "safety", "in safety:", safety_keys, &m)) !=
	    FS_OK || m == NULL)
		return rc;
	return opt_percent(cx, m, "max-entity-drop",
	    &c->safety.max_entity_drop, &c->safety.have_max_entity_drop);
}

/* mdq: per-entity documents; after sources and feeds. */
static int
load_mdq(struct yc *cx, struct fs_conf *c, const struct yc_node *top)
{
	struct fs_conf_mdq *q = &c->mdq;
	const struct yc_node *m, *sv, *vn, *rn, *in, *cn, *wn, *an;
	struct fs_conf_feed f = { 0 };
	char a[32], b[32];
	int rc;

	if ((rc = opt_map(cx, top, "mdq", "in mdq:", mdq_keys, &m)) != FS_OK ||
	    m == NULL)
		return rc;
	q->enabled = 1;
	q->line = m->line;
	q->validity = 14 * 86400;
	q->run_interval = 3600;
	q->cache_duration = c->cache_duration;
	if ((rc = opt_list(cx, m, "sources", 0, &q->sources, &sv)) != FS_OK ||
	    (rc = opt_duration(cx, m, "validity", &q->validity, &vn)) !=
	    FS_OK ||
	    (rc = opt_duration(cx, m, "resign-window", &q->resign_window,
	    &rn)) != FS_OK ||
	    (rc = opt_duration(cx, m, "run-interval", &q->run_interval,
	    &in)) != FS_OK ||
	    (rc = opt_duration(cx, m, "cache-duration", &q->cache_duration,
	    &cn)) != FS_OK ||
	    (rc = yc_opt_str(cx, m, "aggregate", &q->aggregate)) != FS_OK)
		return rc;
	if (sv == NULL)
		return yc_bad(cx, m->line, "mdq: has no 'sources:': list the "
		    "sources whose entities get documents of their own "
		    "(sources: [members])");
	f.file = "mdq";
	f.sources = q->sources;
	if ((rc = check_feed_sources(cx, c, &f, sv)) != FS_OK)
		return rc;
	if ((wn = yc_val(m, "sign-workers")) != NULL) {
		if (wn->kind == YC_SCALAR && strcmp(wn->s, "auto") == 0)
			q->sign_workers = 0;
		else if ((rc = yc_opt_uint(cx, m, "sign-workers", 1,
		    16, &q->sign_workers)) != FS_OK)
			return rc;
	}
	if (rn == NULL)
		q->resign_window = q->validity / 4;
	fs_duration_format(q->validity, a, sizeof(a));
	fs_duration_format(q->resign_window, b, sizeof(b));
	if (q->resign_window * 2 > q->validity)
		return yc_bad(cx, rn ? rn->line : m->line, "mdq: resign-window "
		    "%s is more than half the validity %s: entities would be "
		    "signed again soon after they are signed; make it at most "
		    "half (the default is a quarter)", b, a);
	if (q->run_interval * 2 > q->resign_window)
		return yc_bad(cx, in ? in->line : m->line, "mdq: run-interval "
		    "is more than half the resign-window %s: renewals could "
		    "not be spread over runs; run more often or widen the "
		    "window", b);
	if (q->cache_duration != 0 && q->cache_duration >= q->validity)
		return yc_bad(cx, cn ? cn->line : m->line, "mdq: "
		    "cache-duration is not shorter than the validity %s: "
		    "consumers would keep documents past their validUntil; "
		    "make it shorter (were the two swapped?)", a);
	if (q->aggregate == NULL && (rc = yc_strdup(cx, "entities.xml",
	    &q->aggregate)) != FS_OK)
		return rc;
	if ((an = yc_val(m, "aggregate")) != NULL &&
	    (rc = check_feed_file(cx, an)) != FS_OK)
		return rc;
	for (size_t i = 0; i < c->nfeeds; i++)
		if (strcmp(c->feeds[i].file, q->aggregate) == 0 ||
		    strcmp(c->feeds[i].file, "entities") == 0)
			return yc_bad(cx, c->feeds[i].line, "feed file '%s' is "
			    "where mdq: publishes (%s, entities/): name the "
			    "feed otherwise", c->feeds[i].file, q->aggregate);
	(void)vn;
	return FS_OK;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT", the port 0 to 65535 (serve: listen). */
static int
check_listen(struct yc *cx, const char *s, unsigned line)
{
	const char *colon = strrchr(s, ':'), *end;
	size_t pl;

	if (s[0] == '[')
		end = strchr(s, ']');
	else
		end = colon;
	if (colon == NULL || end == NULL || (s[0] == '[' ? end[1] != ':' :
	    memchr(s, ':', (size_t)(colon - s)) != NULL))
		return yc_bad(cx, line, "listen address '%.64s' is not "
		    "ADDR:PORT: write 127.0.0.1:8080, or [::1]:8080 for IPv6",
		    s);
	pl = strlen(colon + 1);
	if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") != pl ||
	    strtoul(colon + 1, NULL, 10) > 65535)
		return yc_bad(cx, line, "listen address '%.64s': the port must "
		    "be a number from 0 to 65535", s);
	return FS_OK;
}

/* serve: after mdq:, whose documents it serves. */
static int
load_serve(struct yc *cx, struct fs_conf *c, const struct yc_node *top)
{
	struct fs_conf_serve *v = &c->serve;
	const struct yc_node *m, *ln, *tn, *mn;
	char a[32];
	int rc;

	v->max_clients = FS_CONF_SERVE_MAX_CLIENTS;
	v->timeout = FS_CONF_SERVE_TIMEOUT;
	v->status_margin = FS_CONF_SERVE_MARGIN;
	if ((rc = opt_map(cx, top, "serve", "in serve:", serve_keys, &m)) !=
	    FS_OK || m == NULL)
		return rc;
	v->enabled = 1;
	v->line = m->line;
	if (!c->mdq.enabled)
		return yc_bad(cx, m->line, "serve: without mdq:: fedsign serve "
		    "answers from the per-entity documents that mdq: "
		    "publishes; add an mdq: section");
	if ((rc = opt_list(cx, m, "listen", 0, &v->listen, &ln)) != FS_OK ||
	    (rc = yc_opt_uint(cx, m, "max-clients", 1, 1000000,
	    &v->max_clients)) != FS_OK ||
	    (rc = opt_duration(cx, m, "timeout", &v->timeout, &tn)) !=
	    FS_OK ||
	    (rc = opt_duration(cx, m, "status-margin", &v->status_margin,
	    &mn)) != FS_OK)
		return rc;
	for (size_t i = 0; i < v->listen.n; i++)
		if ((rc = check_listen(cx, v->listen.v[i], item_line(ln, i))) !=
		    FS_OK)
			return rc;
	if (v->listen.n > 16)
		return yc_bad(cx, ln->line, "serve: more than 16 listen "
		    "addresses: listen on fewer (0.0.0.0:PORT takes every "
		    "IPv4 address)");
	if (tn != NULL && v->timeout > 3600)
		return yc_bad(cx, tn->line, "serve: timeout %s is more than an "
		    "hour: a slow client would hold its connection that long; "
		    "30s is usual", tn->s);
	if (mn != NULL && v->status_margin >= c->mdq.validity) {
		fs_duration_format(c->mdq.validity, a, sizeof(a));
		return yc_bad(cx, mn->line, "serve: status-margin %s is not "
		    "shorter than the mdq: validity %s: /status would always "
		    "say 503; make it shorter (1d is usual)", mn->s, a);
	}
	return FS_OK;
}

/* The whole file, key by key, in an order where defaults come first. */
static int
load_top(struct yc *cx, struct fs_conf *c, const struct yc_node *top)
{
	const struct yc_node *vn, *cn, *rn, *seq;
	int rc;

	if ((rc = yc_check_keys(cx, top, "at the top level", top_keys)) !=
	    FS_OK ||
	    (rc = load_signing(cx, c, top)) != FS_OK ||
	    (rc = req_dir(cx, top, "publish-dir", "the feeds are published "
	    "in (publish-dir: /var/www/md)", &c->publish_dir)) != FS_OK ||
	    (rc = req_dir(cx, top, "state-dir", "fedsign keeps its state in "
	    "(state-dir: /var/lib/fedsign)", &c->state_dir)) != FS_OK ||
	    (rc = opt_duration(cx, top, "validity", &c->validity, &vn)) !=
	    FS_OK ||
	    (rc = opt_duration(cx, top, "cache-duration", &c->cache_duration,
	    &cn)) != FS_OK ||
	    (rc = opt_duration(cx, top, "resign-window", &c->resign_window,
	    &rn)) != FS_OK ||
	    (rc = yc_opt_str(cx, top, "publisher", &c->publisher)) != FS_OK)
		return rc;
	if (vn == NULL)
		return yc_bad(cx, top->line, "no 'validity:': say how long the "
		    "signed metadata is valid (validity: 10d)");
	if (cn != NULL && (rc = check_cache(cx, cn->line, cn,
	    c->cache_duration, vn, c->validity, NULL)) != FS_OK)
		return rc;
	if (rn == NULL)
		c->resign_window = c->validity / 2;
	else if (c->resign_window >= c->validity)
		return yc_bad(cx, rn->line, "resign-window %s is not shorter "
		    "than validity %s (line %u): every run would sign again; "
		    "make it shorter (the default is half the validity)", rn->s,
		    vn->s, vn->line);
	if ((rc = load_limits(cx, c, top)) != FS_OK ||
	    (rc = load_checks(cx, c, top)) != FS_OK)
		return rc;
	if ((rc = req_seq(cx, top, "sources", "- name: members, files: "
	    "/srv/members/*.xml", &seq)) != FS_OK)
		return rc;
	if ((c->sources = calloc(seq->n, sizeof(*c->sources))) == NULL)
		return yc_nomem(cx);
	c->nsources = seq->n;
	for (size_t i = 0; i < seq->n; i++)
		if ((rc = load_source(cx, c, i, seq->kid[i])) != FS_OK)
			return rc;
	if ((rc = req_seq(cx, top, "feeds", "- file: hub.xml, sources: "
	    "[members]", &seq)) != FS_OK)
		return rc;
	if ((c->feeds = calloc(seq->n, sizeof(*c->feeds))) == NULL)
		return yc_nomem(cx);
	c->nfeeds = seq->n;
	for (size_t i = 0; i < seq->n; i++)
		if ((rc = load_feed(cx, c, i, seq->kid[i], vn, cn, rn)) !=
		    FS_OK)
			return rc;
	if ((rc = load_mdq(cx, c, top)) != FS_OK)
		return rc;
	return load_serve(cx, c, top);
}

/* The folder of the file's real path (the current one for "-"). */
static int
base_dir(struct yc *cx, const char *path)
{
	char *slash;

	cx->base = realpath(strcmp(path, "-") == 0 ? "." : path, NULL);
	if (cx->base == NULL) {
		if (errno == ENOMEM)
			return yc_nomem(cx);
		return fs_err_set(cx->err, FS_EIO, "cannot read '%s': %s",
		    path, strerror(errno));
	}
	if (strcmp(path, "-") == 0)
		return FS_OK;
	slash = strrchr(cx->base, '/');
	if (slash == cx->base)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	return FS_OK;
}

int
fs_conf_load(const char *path, struct fs_conf **out, fs_err *err)
{
	struct yc cx = { .path = path, .err = err, .max_depth = MAX_DEPTH,
	    .max_nodes = MAX_NODES, .needs = "signing:, publish-dir:, "
	    "state-dir:, validity:, sources: and feeds:",
	    .example = "signing:, sources:, feeds:" };
	struct yc_node *root = NULL;
	struct fs_conf *c = NULL;
	char *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = fs_file_read(path, MAX_FILE, &buf, &len, err)) != FS_OK)
		goto fail;
	if ((rc = base_dir(&cx, path)) != FS_OK ||
	    (rc = yc_parse(&cx, buf, len, &root)) != FS_OK)
		goto fail;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = yc_nomem(&cx);
		goto fail;
	}
	if ((rc = yc_strdup(&cx, path, &c->path)) != FS_OK ||
	    (rc = load_top(&cx, c, root)) != FS_OK)
		goto fail;
	*out = c;
	c = NULL;
fail:
	fs_conf_free(c);
	yc_free(root);
	free(cx.base);
	free(buf);
	return rc;
}

static void
list_free(struct fs_conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void
select_free(struct fs_conf_select *s)
{
	list_free(&s->roles);
	list_free(&s->categories);
	list_free(&s->category_support);
	list_free(&s->assurance);
	list_free(&s->ra_include);
	list_free(&s->ra_exclude);
	list_free(&s->entity_ids);
	list_free(&s->exclude_ids);
	free(s->xpath);
}

void
fs_conf_free(struct fs_conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->signing.key);
	free(c->signing.key_file);
	free(c->signing.cert);
	free(c->signing.module);
	free(c->signing.alg);
	free(c->signing.digest);
	free(c->publish_dir);
	free(c->state_dir);
	free(c->publisher);
	for (size_t i = 0; i < c->nsources; i++) {
		free(c->sources[i].name);
		list_free(&c->sources[i].files);
		free(c->sources[i].url);
		free(c->sources[i].file);
		free(c->sources[i].verify_cert);
		free(c->sources[i].registration_authority);
	}
	free(c->sources);
	list_free(&c->checks.rules);
	for (size_t i = 0; i < c->nfeeds; i++) {
		free(c->feeds[i].file);
		free(c->feeds[i].name);
		list_free(&c->feeds[i].sources);
		select_free(&c->feeds[i].select);
	}
	free(c->feeds);
	list_free(&c->mdq.sources);
	free(c->mdq.aggregate);
	list_free(&c->serve.listen);
	free(c);
}
