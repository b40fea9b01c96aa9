/*
 * The YAML configuration files (the publish configuration, fedsignd's):
 * read with libyaml's event parser into a small tree of mappings, lists
 * and values that keep their line, and the checks every key goes
 * through.  Anchors, aliases, tags and keys given twice are refused, and
 * every message names the file and the line.  No libxml2: fedsignd links
 * it.
 */
#include "conf/yconf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#define MAX_KEY		64	/* longest key worth a suggestion */

/* FS_EUSAGE with "PATH:LINE: " before the message. */
int
yc_bad(struct yc *cx, unsigned line, const char *fmt, ...)
{
	char msg[sizeof(cx->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fs_err_set(cx->err, FS_EUSAGE, "%s:%u: %s", cx->path, line,
	    msg);
}

int
yc_nomem(struct yc *cx)
{
	return fs_err_nomem(cx->err, "reading the configuration");
}

void
yc_free(struct yc_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		yc_free(n->kid[i]);
	free(n->kid);
	free(n->s);
	free(n);
}

const char *
yc_kind(const struct yc_node *n)
{
	if (n->kind == YC_MAP)
		return "a mapping";
	if (n->kind == YC_SEQ)
		return "a list";
	return n->s[0] == '\0' ? "an empty value" : "a single value";
}

/* ", "-separated names into buf, cut short with "..." when too long. */
const char *
yc_join(const char *const *v, size_t n, char *buf, size_t len)
{
	size_t used = 0, l;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		l = strlen(v[i]);
		if (used + l + 7 >= len) {
			snprintf(buf + used, len - used, "%s...",
			    i > 0 ? ", " : "");
			break;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		    i > 0 ? ", " : "", v[i]);
	}
	return buf;
}

size_t
yc_count(const char *const *v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

/* Levenshtein distance, or SIZE_MAX for strings too long to bother. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[MAX_KEY + 1], prev, cur;

	if (la > MAX_KEY || lb > MAX_KEY)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			cur = row[j];
			row[j] = prev + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (cur + 1 < row[j])
				row[j] = cur + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			prev = cur;
		}
	}
	return row[lb];
}

/*
 * Append n to parent (NULL: it is the document), refusing a mapping or
 * list where a key belongs.  n is then owned by its parent (or *root).
 */
static int
attach(struct yc *cx, struct yc_node *parent, struct yc_node *n,
    struct yc_node **root)
{
	struct yc_node **k;
	size_t cap;
	int rc;

	if (parent == NULL) {
		*root = n;
		return FS_OK;
	}
	if (parent->kind == YC_MAP && parent->n % 2 == 0 &&
	    n->kind != YC_SCALAR) {
		rc = yc_bad(cx, n->line, "a key must be a plain name, not %s: "
		    "write 'key: value'", yc_kind(n));
		yc_free(n);
		return rc;
	}
	if (parent->n == parent->cap) {
		cap = parent->cap == 0 ? 8 : parent->cap * 2;
		if ((k = realloc(parent->kid, cap * sizeof(*k))) == NULL) {
			yc_free(n);
			return yc_nomem(cx);
		}
		parent->kid = k;
		parent->cap = cap;
	}
	parent->kid[parent->n++] = n;
	return FS_OK;
}

/* A new node of the event, after refusing anchors and tags. */
static int
new_node(struct yc *cx, const yaml_event_t *ev, struct yc_node **out)
{
	const yaml_char_t *anchor, *tag;
	unsigned line = (unsigned)ev->start_mark.line + 1;
	struct yc_node *n;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	default:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	}
	if (anchor != NULL)
		return yc_bad(cx, line, "YAML anchors (&%.64s) are not allowed "
		    "in the configuration: write the value out in full",
		    (const char *)anchor);
	if (tag != NULL)
		return yc_bad(cx, line, "YAML tags (%.64s) are not allowed in "
		    "the configuration: remove the tag, and quote the value "
		    "if it must be text", (const char *)tag);
	if (++cx->nodes > cx->max_nodes)
		return yc_bad(cx, line, "the configuration has more than %zu "
		    "values: this is not a configuration file", cx->max_nodes);
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return yc_nomem(cx);
	n->line = line;
	if (ev->type == YAML_SCALAR_EVENT) {
		n->kind = YC_SCALAR;
		if (memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) != NULL) {
			free(n);
			return yc_bad(cx, line, "a value contains a NUL "
			    "character (\\0): remove it");
		}
		if ((n->s = strdup((const char *)ev->data.scalar.value)) ==
		    NULL) {
			free(n);
			return yc_nomem(cx);
		}
	} else {
		n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? YC_SEQ :
		    YC_MAP;
	}
	*out = n;
	return FS_OK;
}

/* libyaml's complaint, with the line where it found the problem. */
static int
syntax_error(struct yc *cx, const yaml_parser_t *p, const char *buf)
{
	char where[128] = "";
	unsigned line = 1;

	if (p->error == YAML_MEMORY_ERROR)
		return yc_nomem(cx);
	if (p->error == YAML_READER_ERROR) {
		for (size_t i = 0; i < p->problem_offset && buf[i] != '\0';
		    i++)
			if (buf[i] == '\n')
				line++;
		return yc_bad(cx, line, "not a readable YAML file: %s: save it "
		    "as UTF-8 text", p->problem ? p->problem : "bad input");
	}
	line = (unsigned)p->problem_mark.line + 1;
	if (p->context != NULL)
		snprintf(where, sizeof(where), " %s (from line %u)",
		    p->context, (unsigned)p->context_mark.line + 1);
	return yc_bad(cx, line, "YAML syntax error: %s%s: check the "
	    "indentation (spaces, not tabs), the ':' after each key, and "
	    "quote values that contain ': ' or ' #'",
	    p->problem ? p->problem : "unknown problem", where);
}

/*
 * Parse buf into a tree.  One document, its top a mapping; no aliases,
 * anchors or tags; at most cx->max_depth deep and cx->max_nodes values.
 */
int
yc_parse(struct yc *cx, const char *buf, size_t len, struct yc_node **out)
{
	struct yc_node *stack[YC_MAX_DEPTH], *root = NULL, *n;
	yaml_parser_t p;
	yaml_event_t ev;
	size_t depth = 0, docs = 0;
	unsigned line;
	int rc = FS_OK, done = 0;

	*out = NULL;
	if (cx->max_depth == 0 || cx->max_depth > YC_MAX_DEPTH)
		cx->max_depth = YC_MAX_DEPTH;
	if (!yaml_parser_initialize(&p))
		return yc_nomem(cx);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = syntax_error(cx, &p, buf);
			goto fail;
		}
		line = (unsigned)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = yc_bad(cx, line, "a second YAML document "
				    "('---'): the configuration is one "
				    "document; remove the second one or put "
				    "it in its own file");
			break;
		case YAML_ALIAS_EVENT:
			rc = yc_bad(cx, line, "YAML aliases (*%.64s) are not "
			    "allowed in the configuration: write the value "
			    "out in full", (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (ev.type != YAML_SCALAR_EVENT &&
			    depth == cx->max_depth) {
				rc = yc_bad(cx, line, "nested more than %u "
				    "deep: the configuration is not that deep; "
				    "check the indentation", cx->max_depth);
				break;
			}
			if ((rc = new_node(cx, &ev, &n)) != FS_OK)
				break;
			if ((rc = attach(cx, depth > 0 ? stack[depth - 1] :
			    NULL, n, &root)) != FS_OK)
				break;
			if (ev.type != YAML_SCALAR_EVENT)
				stack[depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (rc != FS_OK)
			goto fail;
	}
	if (root == NULL) {
		rc = yc_bad(cx, 1, "the configuration is empty: it needs at "
		    "least %s", cx->needs);
		goto fail;
	}
	if (root->kind != YC_MAP) {
		rc = yc_bad(cx, root->line, "the top of the configuration must "
		    "be a mapping of keys (%s ...), not %s", cx->example,
		    yc_kind(root));
		goto fail;
	}
	yaml_parser_delete(&p);
	*out = root;
	return FS_OK;
fail:
	yaml_parser_delete(&p);
	yc_free(root);
	return rc;
}

/*
 * Refuse keys of map that are not in allowed (naming the closest one and
 * listing the rest) and keys given twice.
 */
int
yc_check_keys(struct yc *cx, const struct yc_node *map, const char *where,
    const char *const *allowed)
{
	const struct yc_node *k;
	char list[512];
	size_t best, d, bi = 0;
	int known;

	for (size_t i = 0; i < map->n; i += 2) {
		k = map->kid[i];
		known = 0;
		best = SIZE_MAX;
		for (size_t a = 0; allowed[a] != NULL; a++) {
			if (strcmp(k->s, allowed[a]) == 0) {
				known = 1;
				break;
			}
			if ((d = distance(k->s, allowed[a])) < best) {
				best = d;
				bi = a;
			}
		}
		if (!known)
			yc_join(allowed, yc_count(allowed), list, sizeof(list));
		if (!known && best <= 2 && best < strlen(k->s))
			return yc_bad(cx, k->line, "unknown key '%.64s' %s: "
			    "did you mean '%s'? The keys allowed here are: %s",
			    k->s, where, allowed[bi], list);
		if (!known)
			return yc_bad(cx, k->line, "unknown key '%.64s' %s: "
			    "the keys allowed here are: %s", k->s, where, list);
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(map->kid[j]->s, k->s) == 0)
				return yc_bad(cx, k->line, "key '%s' is given "
				    "twice (first on line %u): keep one",
				    k->s, map->kid[j]->line);
	}
	return FS_OK;
}

/* The value of key in map, or NULL. */
const struct yc_node *
yc_val(const struct yc_node *map, const char *key)
{
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (strcmp(map->kid[i]->s, key) == 0)
			return map->kid[i + 1];
	return NULL;
}

int
yc_strdup(struct yc *cx, const char *s, char **out)
{
	if ((*out = strdup(s)) == NULL)
		return yc_nomem(cx);
	return FS_OK;
}

/* s made absolute against the configuration's folder. */
int
yc_abs_path(struct yc *cx, const char *s, char **out)
{
	size_t lb, ls;
	int sep;

	if (s[0] == '/')
		return yc_strdup(cx, s, out);
	while (s[0] == '.' && s[1] == '/') {
		s += 2;
		while (*s == '/')
			s++;
	}
	lb = strlen(cx->base);
	ls = strlen(s);
	sep = ls > 0 && cx->base[lb - 1] != '/';
	if ((*out = malloc(lb + (size_t)sep + ls + 1)) == NULL)
		return yc_nomem(cx);
	memcpy(*out, cx->base, lb);
	if (sep)
		(*out)[lb] = '/';
	memcpy(*out + lb + sep, s, ls + 1);
	return FS_OK;
}

/*
 * The value of key in map when it is a single non-empty value; *out
 * NULL when the key is absent.
 */
int
yc_scalar(struct yc *cx, const struct yc_node *map, const char *key,
    const struct yc_node **out)
{
	const struct yc_node *v;

	*out = NULL;
	if ((v = yc_val(map, key)) == NULL)
		return FS_OK;
	if (v->kind != YC_SCALAR)
		return yc_bad(cx, v->line, "'%s' must be a single value, "
		    "not %s", key, yc_kind(v));
	if (v->s[0] == '\0')
		return yc_bad(cx, v->line, "'%s' has no value: give one, or "
		    "remove the key", key);
	*out = v;
	return FS_OK;
}

int
yc_opt_str(struct yc *cx, const struct yc_node *map, const char *key,
    char **out)
{
	const struct yc_node *v;
	int rc;

	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	return yc_strdup(cx, v->s, out);
}

int
yc_opt_path(struct yc *cx, const struct yc_node *map, const char *key,
    char **out)
{
	const struct yc_node *v;
	int rc;

	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	return yc_abs_path(cx, v->s, out);
}

int
yc_opt_uint(struct yc *cx, const struct yc_node *map, const char *key,
    unsigned long min, unsigned long max, unsigned *out)
{
	const struct yc_node *v;
	unsigned long n = 0;
	const char *p;
	int rc;

	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	for (p = v->s; isdigit((unsigned char)*p) && n <= max; p++)
		n = n * 10 + (unsigned long)(*p - '0');
	if (*p != '\0' && !isdigit((unsigned char)*p))
		return yc_bad(cx, v->line, "'%s' is '%.64s', not a whole "
		    "number: write one from %lu to %lu", key, v->s, min, max);
	if (n < min || n > max)
		return yc_bad(cx, v->line, "'%s' is %.64s: it must be from %lu "
		    "to %lu", key, v->s, min, max);
	*out = (unsigned)n;
	return FS_OK;
}

int
yc_bool(struct yc *cx, const struct yc_node *v, const char *key, int *out)
{
	if (strcasecmp(v->s, "true") == 0 || strcasecmp(v->s, "yes") == 0)
		*out = 1;
	else if (strcasecmp(v->s, "false") == 0 ||
	    strcasecmp(v->s, "no") == 0)
		*out = 0;
	else
		return yc_bad(cx, v->line, "'%s' is '%.64s', not a boolean: "
		    "write true or false", key, v->s);
	return FS_OK;
}

int
yc_opt_bool(struct yc *cx, const struct yc_node *map, const char *key,
    int *out)
{
	const struct yc_node *v;
	int rc;

	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	return yc_bool(cx, v, key, out);
}
