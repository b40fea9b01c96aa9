/*
 * fedsignd's configuration: a YAML file read with libyaml's event parser
 * into a small tree that keeps each value's line, then walked key by key
 * into struct fsd_conf, as the publish configuration is (src/lib/conf).
 * Unknown keys, keys given twice, anchors, aliases and tags are refused,
 * and every message names the file and the line.
 */
#include "daemon/fedsignd.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <p11-kit/uri.h>
#include <yaml.h>

#include "fedsign/file.h"
#include "fedsign/util.h"

#define MAX_FILE	((size_t)1 << 20)
#define MAX_DEPTH	8
#define MAX_NODES	20000
#define MAX_KEY		64

enum { N_SCALAR, N_MAP, N_SEQ };

struct node {
	int kind;
	unsigned line;
	char *s;
	struct node **kid;	/* mapping: key, value, ...; list: items */
	size_t n, cap;
};

struct ctx {
	const char *path;
	char *base;		/* the file's folder, for relative paths */
	size_t nodes;
	fs_err *err;
};

static const char *const top_keys[] = {
	"listen", "socket-group", "socket-mode", "user", "group",
	"clients-file", "tls-cert", "tls-key", "audit-log", "health-interval",
	"retry-interval", "token-timeout", "request-timeout", "max-request",
	"max-connections", "status-needs-secret", "keys", NULL
};
static const char *const listen_keys[] = { "address", "tls", "auth", NULL };
static const char *const key_keys[] = {
	"tokens", "sessions", "queue", "cert", "allow-sha1", NULL
};

#define DEF_HEALTH	30
#define DEF_RETRY	5
#define DEF_TOKEN_TO	10
#define DEF_REQUEST_TO	30
#define DEF_MAX_REQUEST	(64 * 1024)
#define DEF_MAX_CONNS	64
#define DEF_SESSIONS	4
#define DEF_QUEUE	64

static int
bad(struct ctx *cx, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(struct ctx *cx, unsigned line, const char *fmt, ...)
{
	char msg[sizeof(cx->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fs_err_set(cx->err, FS_EUSAGE, "%s:%u: %s", cx->path, line,
	    msg);
}

static int
nomem(struct ctx *cx)
{
	return fs_err_nomem(cx->err, "reading the configuration");
}

static void
node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kid[i]);
	free(n->kid);
	free(n->s);
	free(n);
}

static const char *
kind_name(const struct node *n)
{
	if (n->kind == N_MAP)
		return "a mapping";
	if (n->kind == N_SEQ)
		return "a list";
	return n->s[0] == '\0' ? "an empty value" : "a single value";
}

static int
attach(struct ctx *cx, struct node *parent, struct node *n,
    struct node **root)
{
	struct node **k;
	size_t cap;
	int rc;

	if (parent == NULL) {
		*root = n;
		return FS_OK;
	}
	if (parent->kind == N_MAP && parent->n % 2 == 0 &&
	    n->kind != N_SCALAR) {
		rc = bad(cx, n->line, "a key must be a plain name, not %s: "
		    "write 'key: value'", kind_name(n));
		node_free(n);
		return rc;
	}
	if (parent->n == parent->cap) {
		cap = parent->cap == 0 ? 8 : parent->cap * 2;
		if ((k = realloc(parent->kid, cap * sizeof(*k))) == NULL) {
			node_free(n);
			return nomem(cx);
		}
		parent->kid = k;
		parent->cap = cap;
	}
	parent->kid[parent->n++] = n;
	return FS_OK;
}

static int
new_node(struct ctx *cx, const yaml_event_t *ev, struct node **out)
{
	const yaml_char_t *anchor, *tag;
	unsigned line = (unsigned)ev->start_mark.line + 1;
	struct node *n;

	*out = NULL;
	if (ev->type == YAML_SCALAR_EVENT) {
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	} else {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	}
	if (anchor != NULL)
		return bad(cx, line, "YAML anchors (&%.64s) are not allowed "
		    "in the configuration: write the value out in full",
		    (const char *)anchor);
	if (tag != NULL)
		return bad(cx, line, "YAML tags (%.64s) are not allowed in "
		    "the configuration: remove the tag, and quote the value "
		    "if it must be text", (const char *)tag);
	if (++cx->nodes > MAX_NODES)
		return bad(cx, line, "the configuration has more than %d "
		    "values: this is not a configuration file", MAX_NODES);
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return nomem(cx);
	n->line = line;
	if (ev->type == YAML_SCALAR_EVENT) {
		n->kind = N_SCALAR;
		if (memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) != NULL) {
			free(n);
			return bad(cx, line, "a value contains a NUL "
			    "character (\\0): remove it");
		}
		if ((n->s = strdup((const char *)ev->data.scalar.value)) ==
		    NULL) {
			free(n);
			return nomem(cx);
		}
	} else {
		n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? N_SEQ :
		    N_MAP;
	}
	*out = n;
	return FS_OK;
}

static int
syntax_error(struct ctx *cx, const yaml_parser_t *p, const char *buf)
{
	char where[128] = "";
	unsigned line = 1;

	if (p->error == YAML_MEMORY_ERROR)
		return nomem(cx);
	if (p->error == YAML_READER_ERROR) {
		for (size_t i = 0; i < p->problem_offset && buf[i] != '\0';
		    i++)
			if (buf[i] == '\n')
				line++;
		return bad(cx, line, "not a readable YAML file: %s: save it "
		    "as UTF-8 text", p->problem ? p->problem : "bad input");
	}
	line = (unsigned)p->problem_mark.line + 1;
	if (p->context != NULL)
		snprintf(where, sizeof(where), " %s (from line %u)",
		    p->context, (unsigned)p->context_mark.line + 1);
	return bad(cx, line, "YAML syntax error: %s%s: check the "
	    "indentation (spaces, not tabs), the ':' after each key, and "
	    "quote values that contain ': ' or ' #'",
	    p->problem ? p->problem : "unknown problem", where);
}

static int
parse_tree(struct ctx *cx, const char *buf, size_t len, struct node **out)
{
	struct node *stack[MAX_DEPTH], *root = NULL, *n;
	yaml_parser_t p;
	yaml_event_t ev;
	size_t depth = 0, docs = 0;
	unsigned line;
	int rc = FS_OK, done = 0;

	*out = NULL;
	if (!yaml_parser_initialize(&p))
		return nomem(cx);
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
				rc = bad(cx, line, "a second YAML document "
				    "('---'): the configuration is one "
				    "document");
			break;
		case YAML_ALIAS_EVENT:
			rc = bad(cx, line, "YAML aliases (*%.64s) are not "
			    "allowed in the configuration: write the value "
			    "out in full", (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (ev.type != YAML_SCALAR_EVENT &&
			    depth == MAX_DEPTH) {
				rc = bad(cx, line, "nested more than %d deep: "
				    "check the indentation", MAX_DEPTH);
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
		rc = bad(cx, 1, "the configuration is empty: it needs at least "
		    "listen:, audit-log: and keys:");
		goto fail;
	}
	if (root->kind != N_MAP) {
		rc = bad(cx, root->line, "the top of the configuration must "
		    "be a mapping of keys (listen:, keys: ...), not %s",
		    kind_name(root));
		goto fail;
	}
	yaml_parser_delete(&p);
	*out = root;
	return FS_OK;
fail:
	yaml_parser_delete(&p);
	node_free(root);
	return rc;
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

static int
check_keys(struct ctx *cx, const struct node *map, const char *where,
    const char *const *allowed)
{
	char list[512];
	size_t best, d, bi = 0, used;

	for (size_t i = 0; i < map->n; i += 2) {
		const struct node *k = map->kid[i];
		int known = 0;

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
		if (!known) {
			used = 0;
			list[0] = '\0';
			for (size_t a = 0; allowed[a] != NULL &&
			    used + 40 < sizeof(list); a++)
				used += (size_t)snprintf(list + used,
				    sizeof(list) - used, "%s%s", a ? ", " : "",
				    allowed[a]);
			if (best <= 2 && best < strlen(k->s))
				return bad(cx, k->line, "unknown key '%.64s' "
				    "%s: did you mean '%s'? The keys allowed "
				    "here are: %s", k->s, where, allowed[bi],
				    list);
			return bad(cx, k->line, "unknown key '%.64s' %s: the "
			    "keys allowed here are: %s", k->s, where, list);
		}
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(map->kid[j]->s, k->s) == 0)
				return bad(cx, k->line, "key '%s' is given "
				    "twice (first on line %u): keep one",
				    k->s, map->kid[j]->line);
	}
	return FS_OK;
}

static const struct node *
val(const struct node *map, const char *key)
{
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (strcmp(map->kid[i]->s, key) == 0)
			return map->kid[i + 1];
	return NULL;
}

static int
scalar(struct ctx *cx, const struct node *map, const char *key,
    const struct node **out)
{
	const struct node *v;

	*out = NULL;
	if ((v = val(map, key)) == NULL)
		return FS_OK;
	if (v->kind != N_SCALAR)
		return bad(cx, v->line, "'%s' must be a single value, not %s",
		    key, kind_name(v));
	if (v->s[0] == '\0')
		return bad(cx, v->line, "'%s' has no value: give one, or "
		    "remove the key", key);
	*out = v;
	return FS_OK;
}

static int
dup_str(struct ctx *cx, const char *s, char **out)
{
	if ((*out = strdup(s)) == NULL)
		return nomem(cx);
	return FS_OK;
}

static int
abs_path(struct ctx *cx, const char *s, char **out)
{
	size_t lb, ls;

	if (s[0] == '/')
		return dup_str(cx, s, out);
	while (s[0] == '.' && s[1] == '/')
		s += 2;
	lb = strlen(cx->base);
	ls = strlen(s);
	if ((*out = malloc(lb + ls + 2)) == NULL)
		return nomem(cx);
	snprintf(*out, lb + ls + 2, "%s%s%s", cx->base,
	    cx->base[lb - 1] == '/' ? "" : "/", s);
	return FS_OK;
}

static int
opt_str(struct ctx *cx, const struct node *map, const char *key, char **out)
{
	const struct node *v;
	int rc;

	if ((rc = scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	return dup_str(cx, v->s, out);
}

static int
opt_path(struct ctx *cx, const struct node *map, const char *key,
    char **out)
{
	const struct node *v;
	int rc;

	if ((rc = scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	return abs_path(cx, v->s, out);
}

static int
bool_value(struct ctx *cx, const struct node *v, const char *key, int *out)
{
	if (strcasecmp(v->s, "true") == 0 || strcasecmp(v->s, "yes") == 0)
		*out = 1;
	else if (strcasecmp(v->s, "false") == 0 ||
	    strcasecmp(v->s, "no") == 0)
		*out = 0;
	else
		return bad(cx, v->line, "'%s' is '%.64s', not a boolean: "
		    "write true or false", key, v->s);
	return FS_OK;
}

static int
opt_bool(struct ctx *cx, const struct node *map, const char *key, int *out)
{
	const struct node *v;
	int rc;

	if ((rc = scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	return bool_value(cx, v, key, out);
}

static int
opt_duration(struct ctx *cx, const struct node *map, const char *key,
    int64_t min, int64_t max, int64_t *out)
{
	const struct node *v;
	int64_t secs;
	fs_err e;
	int rc;

	if ((rc = scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	if (fs_duration_parse(v->s, &secs, &e) != FS_OK)
		return bad(cx, v->line, "'%s': %s", key, e.msg);
	if (secs < min || secs > max)
		return bad(cx, v->line, "'%s' is %s: it must be from %llds to "
		    "%llds", key, v->s, (long long)min, (long long)max);
	*out = secs;
	return FS_OK;
}

static int
opt_uint(struct ctx *cx, const struct node *map, const char *key,
    unsigned long min, unsigned long max, unsigned *out)
{
	const struct node *v;
	unsigned long n = 0;
	const char *p;
	int rc;

	if ((rc = scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	for (p = v->s; isdigit((unsigned char)*p) && n <= max; p++)
		n = n * 10 + (unsigned long)(*p - '0');
	if (*p != '\0' && !isdigit((unsigned char)*p))
		return bad(cx, v->line, "'%s' is '%.64s', not a whole "
		    "number: write one from %lu to %lu", key, v->s, min, max);
	if (n < min || n > max)
		return bad(cx, v->line, "'%s' is %.64s: it must be from %lu "
		    "to %lu", key, v->s, min, max);
	*out = (unsigned)n;
	return FS_OK;
}

int
fsd_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
			return 0;
	/* Names the API uses for itself. */
	return strcmp(s, "status") != 0 && strcmp(s, "metrics") != 0 &&
	    strcmp(s, "v1") != 0;
}

static int
is_loopback(const char *host)
{
	return strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0 ||
	    (strncmp(host, "127.", 4) == 0 &&
	    strspn(host, "0123456789.") == strlen(host));
}

/* "unix:/PATH" or "tcp:HOST:PORT" (HOST may be [v6]). */
static int
parse_address(struct ctx *cx, const char *s, unsigned line,
    struct fsd_listen_conf *l)
{
	const char *hp, *colon;
	char *end;
	long port;

	if ((l->spec = strdup(s)) == NULL)
		return nomem(cx);
	l->line = line;
	if (strncmp(s, "unix:", 5) == 0) {
		l->kind = FSD_UNIX;
		if (s[5] != '/' || strlen(s + 5) > 100)
			return bad(cx, line, "listen '%.64s': the socket must be "
			    "an absolute path of at most 100 bytes "
			    "(unix:/run/fedsignd/sock)", s);
		return dup_str(cx, s + 5, &l->path);
	}
	if (strncmp(s, "tcp:", 4) != 0)
		return bad(cx, line, "listen '%.64s' is neither unix:/PATH nor "
		    "tcp:HOST:PORT", s);
	l->kind = FSD_TCP;
	hp = s + 4;
	if (hp[0] == '[') {
		const char *rb = strchr(hp, ']');

		if (rb == NULL || rb[1] != ':')
			return bad(cx, line, "listen '%.64s': write an IPv6 "
			    "address as tcp:[::1]:8443", s);
		if ((l->host = strndup(hp + 1, (size_t)(rb - hp - 1))) == NULL)
			return nomem(cx);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(hp, ':')) == NULL || colon == hp)
			return bad(cx, line, "listen '%.64s': write "
			    "tcp:HOST:PORT (tcp:127.0.0.1:8443)", s);
		if ((l->host = strndup(hp, (size_t)(colon - hp))) == NULL)
			return nomem(cx);
	}
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		return bad(cx, line, "listen '%.64s': the port must be a "
		    "number from 1 to 65535", s);
	if ((l->port = strdup(colon + 1)) == NULL)
		return nomem(cx);
	l->loopback = is_loopback(l->host);
	return FS_OK;
}

static int
conf_listen(struct ctx *cx, const struct node *root, struct fsd_conf *c)
{
	const struct node *v = val(root, "listen"), *it;
	int rc;

	if (v == NULL)
		return bad(cx, root->line, "'listen' is missing: give at least "
		    "one address, such as unix:/run/fedsignd/sock");
	if (v->kind != N_SEQ || v->n == 0)
		return bad(cx, v->line, "'listen' must be a list of addresses "
		    "('- unix:/run/fedsignd/sock', '- tcp:127.0.0.1:8443')");
	if (v->n > 16)
		return bad(cx, v->line, "'listen' has more than 16 addresses");
	if ((c->listen = calloc(v->n, sizeof(*c->listen))) == NULL)
		return nomem(cx);
	for (size_t i = 0; i < v->n; i++) {
		struct fsd_listen_conf *l = &c->listen[c->nlisten++];
		const struct node *a, *t;

		it = v->kid[i];
		l->tls = -1;
		if (it->kind == N_SCALAR) {
			if ((rc = parse_address(cx, it->s, it->line, l)) !=
			    FS_OK)
				return rc;
		} else if (it->kind == N_MAP) {
			if ((rc = check_keys(cx, it, "in a listen entry",
			    listen_keys)) != FS_OK ||
			    (rc = scalar(cx, it, "address", &a)) != FS_OK)
				return rc;
			if (a == NULL)
				return bad(cx, it->line, "a listen entry needs "
				    "'address: unix:/PATH' or 'address: "
				    "tcp:HOST:PORT'");
			if ((rc = parse_address(cx, a->s, a->line, l)) != FS_OK)
				return rc;
			if ((rc = scalar(cx, it, "tls", &t)) != FS_OK)
				return rc;
			if (t != NULL && (rc = bool_value(cx, t, "tls",
			    &l->tls)) != FS_OK)
				return rc;
			if ((rc = scalar(cx, it, "auth", &t)) != FS_OK)
				return rc;
			if (t != NULL) {
				if (strcmp(t->s, "secret") == 0)
					l->auth = FSD_AUTH_SECRET;
				else if (strcmp(t->s, "none") == 0)
					l->auth = FSD_AUTH_NONE;
				else
					return bad(cx, t->line, "'auth' is "
					    "'%.64s': write secret or none",
					    t->s);
			}
		} else {
			return bad(cx, it->line, "a listen entry must be an "
			    "address or a mapping with address:, not %s",
			    kind_name(it));
		}
		for (size_t j = 0; j + 1 < c->nlisten; j++)
			if (strcmp(c->listen[j].spec, l->spec) == 0)
				return bad(cx, l->line, "listen '%.64s' is "
				    "given twice (first on line %u)", l->spec,
				    c->listen[j].line);
	}
	return FS_OK;
}

/* The pin-source of a token URI: it must be a file. */
static int
check_token_uri(struct ctx *cx, const char *uri, unsigned line)
{
	P11KitUri *u;
	const char *ps;
	char shown[256];
	int r;

	snprintf(shown, sizeof(shown), "%.*s%s", (int)strcspn(uri, "?"), uri,
	    strchr(uri, '?') ? "?..." : "");
	if (strncmp(uri, "pkcs11:", 7) != 0)
		return bad(cx, line, "token '%s' is not a PKCS#11 URI: write "
		    "pkcs11:token=LABEL;object=KEYLABEL?module-path=...&"
		    "pin-source=file:PATH", shown);
	if (strcasestr(uri, "pin-value") != NULL)
		return bad(cx, line, "token '%s' has a pin-value: a PIN in the "
		    "configuration is refused; use pin-source=file:PATH (and "
		    "consider changing the PIN)", shown);
	if ((u = p11_kit_uri_new()) == NULL)
		return nomem(cx);
	r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u);
	if (r != P11_KIT_URI_OK) {
		p11_kit_uri_free(u);
		return bad(cx, line, "token '%s' is not a valid PKCS#11 URI: "
		    "%s", shown, p11_kit_uri_message(r));
	}
	ps = p11_kit_uri_get_pin_source(u);
	if (ps == NULL || strcmp(ps, "prompt") == 0 ||
	    (strncmp(ps, "file:", 5) != 0 && ps[0] != '/')) {
		p11_kit_uri_free(u);
		return bad(cx, line, "token '%s' needs pin-source=file:PATH: "
		    "fedsignd reads the PIN from a file (only its owner may "
		    "read it), never from a prompt or the configuration",
		    shown);
	}
	p11_kit_uri_free(u);
	return FS_OK;
}

static int
conf_key(struct ctx *cx, const struct node *kn, const struct node *v,
    struct fsd_key_conf *k)
{
	const struct node *t;
	int rc;

	k->line = kn->line;
	k->sessions = DEF_SESSIONS;
	k->queue = DEF_QUEUE;
	if (!fsd_name_ok(kn->s))
		return bad(cx, kn->line, "key name '%.64s': use letters, "
		    "digits, '.', '_' and '-' (at most 64; not status, "
		    "metrics or v1): it is the key's name in the API",
		    kn->s);
	if ((rc = dup_str(cx, kn->s, &k->name)) != FS_OK)
		return rc;
	if (v->kind != N_MAP)
		return bad(cx, v->line, "key '%s' must be a mapping with "
		    "tokens:, not %s", k->name, kind_name(v));
	if ((rc = check_keys(cx, v, "in a key", key_keys)) != FS_OK ||
	    (rc = opt_uint(cx, v, "sessions", 1, FS_TOKEN_MAX_SESSIONS,
	    &k->sessions)) != FS_OK ||
	    (rc = opt_uint(cx, v, "queue", 1, 100000, &k->queue)) != FS_OK ||
	    (rc = opt_path(cx, v, "cert", &k->cert)) != FS_OK ||
	    (rc = opt_bool(cx, v, "allow-sha1", &k->allow_sha1)) != FS_OK)
		return rc;
	if ((t = val(v, "tokens")) == NULL)
		return bad(cx, v->line, "key '%s' has no 'tokens': list the "
		    "PKCS#11 URIs of its copies", k->name);
	if (t->kind == N_SCALAR && t->s[0] != '\0') {
		k->ntokens = 1;
	} else if (t->kind == N_SEQ && t->n > 0) {
		k->ntokens = t->n;
	} else {
		return bad(cx, t->line, "'tokens' of key '%s' must be a list of "
		    "PKCS#11 URIs", k->name);
	}
	if (k->ntokens > FSD_MAX_COPIES)
		return bad(cx, t->line, "key '%s' has more than %d tokens",
		    k->name, FSD_MAX_COPIES);
	if ((k->tokens = calloc(k->ntokens, sizeof(*k->tokens))) == NULL ||
	    (k->token_lines = calloc(k->ntokens, sizeof(unsigned))) == NULL)
		return nomem(cx);
	for (size_t i = 0; i < k->ntokens; i++) {
		const struct node *it = t->kind == N_SEQ ? t->kid[i] : t;

		if (it->kind != N_SCALAR || it->s[0] == '\0')
			return bad(cx, it->line, "a token of key '%s' must be "
			    "a PKCS#11 URI, not %s", k->name, kind_name(it));
		if ((rc = check_token_uri(cx, it->s, it->line)) != FS_OK)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(k->tokens[j], it->s) == 0)
				return bad(cx, it->line, "key '%s' lists the "
				    "same token twice (first on line %u)",
				    k->name, k->token_lines[j]);
		if ((rc = dup_str(cx, it->s, &k->tokens[i])) != FS_OK)
			return rc;
		k->token_lines[i] = it->line;
	}
	return FS_OK;
}

static int
conf_keys(struct ctx *cx, const struct node *root, struct fsd_conf *c)
{
	const struct node *v = val(root, "keys");
	int rc;

	if (v == NULL)
		return bad(cx, root->line, "'keys' is missing: name at least "
		    "one key and its tokens");
	if (v->kind != N_MAP || v->n == 0)
		return bad(cx, v->line, "'keys' must be a mapping of key names "
		    "to their tokens");
	if (v->n / 2 > FSD_MAX_KEYS)
		return bad(cx, v->line, "more than %d keys", FSD_MAX_KEYS);
	if ((c->keys = calloc(v->n / 2, sizeof(*c->keys))) == NULL)
		return nomem(cx);
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(v->kid[j]->s, v->kid[i]->s) == 0)
				return bad(cx, v->kid[i]->line, "key '%s' is "
				    "given twice (first on line %u)",
				    v->kid[i]->s, v->kid[j]->line);
		if ((rc = conf_key(cx, v->kid[i], v->kid[i + 1],
		    &c->keys[c->nkeys++])) != FS_OK)
			return rc;
	}
	return FS_OK;
}

static int
walk(struct ctx *cx, const struct node *root, struct fsd_conf *c)
{
	const struct node *v;
	int rc, need_secret = 0, any_tls = 0;

	c->health_interval = DEF_HEALTH;
	c->retry_interval = DEF_RETRY;
	c->token_timeout = DEF_TOKEN_TO;
	c->request_timeout = DEF_REQUEST_TO;
	c->max_request = DEF_MAX_REQUEST;
	c->max_connections = DEF_MAX_CONNS;
	c->socket_mode = 0660;
	if ((rc = check_keys(cx, root, "at the top", top_keys)) != FS_OK ||
	    (rc = conf_listen(cx, root, c)) != FS_OK ||
	    (rc = opt_str(cx, root, "socket-group", &c->socket_group)) !=
	    FS_OK ||
	    (rc = opt_str(cx, root, "user", &c->user)) != FS_OK ||
	    (rc = opt_str(cx, root, "group", &c->group)) != FS_OK ||
	    (rc = opt_path(cx, root, "clients-file", &c->clients_file)) !=
	    FS_OK ||
	    (rc = opt_path(cx, root, "tls-cert", &c->tls_cert)) != FS_OK ||
	    (rc = opt_path(cx, root, "tls-key", &c->tls_key)) != FS_OK ||
	    (rc = opt_path(cx, root, "audit-log", &c->audit_log)) != FS_OK ||
	    (rc = opt_duration(cx, root, "health-interval", 1, 86400,
	    &c->health_interval)) != FS_OK ||
	    (rc = opt_duration(cx, root, "retry-interval", 1, 3600,
	    &c->retry_interval)) != FS_OK ||
	    (rc = opt_duration(cx, root, "token-timeout", 1, 3600,
	    &c->token_timeout)) != FS_OK ||
	    (rc = opt_duration(cx, root, "request-timeout", 1, 3600,
	    &c->request_timeout)) != FS_OK ||
	    (rc = opt_uint(cx, root, "max-connections", 1, 10000,
	    &c->max_connections)) != FS_OK ||
	    (rc = opt_bool(cx, root, "status-needs-secret",
	    &c->status_needs_secret)) != FS_OK)
		return rc;
	if ((rc = scalar(cx, root, "socket-mode", &v)) != FS_OK)
		return rc;
	if (v != NULL) {
		char *end;
		unsigned long m = strtoul(v->s, &end, 8);

		if (*end != '\0' || m > 0777 || (m & 0600) != 0600 ||
		    (m & 0007) != 0)
			return bad(cx, v->line, "'socket-mode' is '%.64s': give "
			    "an octal mode such as 0660 (the owner reads and "
			    "writes; others get nothing)", v->s);
		c->socket_mode = (unsigned)m;
	}
	if ((rc = scalar(cx, root, "max-request", &v)) != FS_OK)
		return rc;
	if (v != NULL) {
		fs_err e;

		if (fs_size_parse(v->s, &c->max_request, &e) != FS_OK)
			return bad(cx, v->line, "'max-request': %s", e.msg);
		if (c->max_request < 1024 || c->max_request > (1 << 24))
			return bad(cx, v->line, "'max-request' must be from "
			    "1K to 16M");
	}
	if (c->audit_log == NULL)
		return bad(cx, root->line, "'audit-log' is missing: fedsignd "
		    "writes one line per signature there "
		    "(/var/log/fedsignd/audit.jsonl)");
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return bad(cx, root->line, "give both 'tls-cert' and 'tls-key', "
		    "or neither");
	if (c->group != NULL && c->user == NULL)
		return bad(cx, root->line, "'group' needs 'user'");
	for (size_t i = 0; i < c->nlisten; i++) {
		struct fsd_listen_conf *l = &c->listen[i];

		if (l->kind == FSD_UNIX) {
			if (l->tls == 1)
				return bad(cx, l->line, "listen '%s': TLS is "
				    "for tcp: addresses", l->spec);
			l->tls = 0;
			if (l->auth == FSD_AUTH_NONE)
				return bad(cx, l->line, "listen '%s': unix "
				    "sockets need no 'auth' (their mode and "
				    "group decide)", l->spec);
			continue;
		}
		if (l->tls == -1)
			l->tls = c->tls_cert != NULL;
		if (l->tls && c->tls_cert == NULL)
			return bad(cx, l->line, "listen '%s' wants TLS: give "
			    "tls-cert and tls-key", l->spec);
		if (!l->tls && !l->loopback)
			return bad(cx, l->line, "listen '%s' is not on the "
			    "loopback interface: it needs TLS (tls-cert and "
			    "tls-key)", l->spec);
		if (l->auth == FSD_AUTH_NONE && !l->loopback)
			return bad(cx, l->line, "listen '%s': 'auth: none' is "
			    "only for loopback addresses (127.0.0.1)",
			    l->spec);
		if (l->auth == FSD_AUTH_SECRET)
			need_secret = 1;
		any_tls |= l->tls;
	}
	if (need_secret && c->clients_file == NULL)
		return bad(cx, root->line, "tcp: listeners need a "
		    "'clients-file' with the clients' secrets (or 'auth: none' "
		    "on a loopback address)");
	(void)any_tls;
	return conf_keys(cx, root, c);
}

void
fsd_conf_free(struct fsd_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nlisten; i++) {
		free(c->listen[i].spec);
		free(c->listen[i].path);
		free(c->listen[i].host);
		free(c->listen[i].port);
	}
	free(c->listen);
	for (size_t i = 0; i < c->nkeys; i++) {
		struct fsd_key_conf *k = &c->keys[i];

		for (size_t j = 0; j < k->ntokens; j++)
			free(k->tokens[j]);
		free(k->tokens);
		free(k->token_lines);
		free(k->name);
		free(k->cert);
	}
	free(c->keys);
	free(c->path);
	free(c->socket_group);
	free(c->user);
	free(c->group);
	free(c->clients_file);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->audit_log);
	free(c);
}

int
fsd_conf_load(const char *path, struct fsd_conf **out, fs_err *err)
{
	struct ctx cx = { path, NULL, 0, err };
	struct node *root = NULL;
	struct fsd_conf *c = NULL;
	char *buf = NULL, *slash;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = fs_file_read(path, MAX_FILE, &buf, &len, err)) != FS_OK)
		return rc;
	if (memchr(buf, '\0', len) != NULL) {
		rc = bad(&cx, 1, "the file contains a NUL byte: it is not a "
		    "YAML text file");
		goto out;
	}
	if ((cx.base = realpath(path, NULL)) == NULL) {
		rc = fs_err_set(err, FS_EIO, "cannot resolve '%s'", path);
		goto out;
	}
	if ((slash = strrchr(cx.base, '/')) != NULL)
		slash[slash == cx.base ? 1 : 0] = '\0';
	if ((rc = parse_tree(&cx, buf, len, &root)) != FS_OK)
		goto out;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		rc = nomem(&cx);
		goto out;
	}
	if ((rc = walk(&cx, root, c)) != FS_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	fsd_conf_free(c);
	node_free(root);
	free(cx.base);
	free(buf);
	return rc;
}
