/*
 * The YAML configuration files, as a tree that keeps each value's line
 * (yconf.c).  Shared by the publish configuration (conf.c) and fedsignd's
 * (src/daemon/conf.c); not a public interface.
 */
#ifndef FS_YCONF_H
#define FS_YCONF_H

#include <stddef.h>

#include "fedsign/err.h"

#define YC_MAX_DEPTH	16	/* the most a reader may allow */

enum { YC_SCALAR, YC_MAP, YC_SEQ };

struct yc_node {
	int kind;
	unsigned line;
	char *s;		/* a value: its text */
	struct yc_node **kid;	/* a mapping: key, value, key, value...;
				   a list: its items */
	size_t n, cap;
};

/* One reading of one file. */
struct yc {
	const char *path;	/* the file, as named, for messages */
	char *base;		/* its folder, absolute */
	size_t nodes;
	fs_err *err;
	unsigned max_depth;	/* at most YC_MAX_DEPTH */
	size_t max_nodes;
	const char *needs;	/* "listen:, audit-log: and keys:" */
	const char *example;	/* "listen:, keys:" */
};

/* FS_EUSAGE with "PATH:LINE: " before the message. */
int yc_bad(struct yc *cx, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int yc_nomem(struct yc *cx);

/*
 * Parse buf into a tree: one document, its top a mapping; no aliases,
 * anchors or tags; at most cx->max_depth deep, cx->max_nodes values.
 */
int yc_parse(struct yc *cx, const char *buf, size_t len,
    struct yc_node **out);
void yc_free(struct yc_node *n);

/* "a mapping", "a list", "an empty value" or "a single value". */
const char *yc_kind(const struct yc_node *n);
/* ", "-separated names into buf, cut short with "..." when too long. */
const char *yc_join(const char *const *v, size_t n, char *buf, size_t len);
/* The names before the NULL. */
size_t yc_count(const char *const *v);

/*
 * Refuse keys of map that are not in allowed (naming the closest one and
 * listing the rest) and keys given twice.
 */
int yc_check_keys(struct yc *cx, const struct yc_node *map,
    const char *where, const char *const *allowed);
/* The value of key in map, or NULL. */
const struct yc_node *yc_val(const struct yc_node *map, const char *key);
/*
 * The value of key in map when it is a single non-empty value; *out NULL
 * when the key is absent.
 */
int yc_scalar(struct yc *cx, const struct yc_node *map, const char *key,
    const struct yc_node **out);
int yc_strdup(struct yc *cx, const char *s, char **out);
/* s made absolute against the configuration's folder. */
int yc_abs_path(struct yc *cx, const char *s, char **out);
int yc_opt_str(struct yc *cx, const struct yc_node *map, const char *key,
    char **out);
int yc_opt_path(struct yc *cx, const struct yc_node *map, const char *key,
    char **out);
/* true/yes or false/no, any case. */
int yc_bool(struct yc *cx, const struct yc_node *v, const char *key,
    int *out);
int yc_opt_bool(struct yc *cx, const struct yc_node *map, const char *key,
    int *out);
int yc_opt_uint(struct yc *cx, const struct yc_node *map, const char *key,
    unsigned long min, unsigned long max, unsigned *out);

#endif
