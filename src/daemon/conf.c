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
#include "conf/yconf.h"

#define MAX_FILE	((size_t)1 << 20)
#define MAX_DEPTH	8
#define MAX_NODES	20000

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
opt_duration(struct yc *cx, const struct yc_node *map, const char *key,
    int64_t min, int64_t max, int64_t *out)
{
	const struct yc_node *v;
	int64_t secs;
	fs_err e;
	int rc;

	if ((rc = yc_scalar(cx, map, key, &v)) != FS_OK || v == NULL)
		return rc;
	if (fs_duration_parse(v->s, &secs, &e) != FS_OK)
		return yc_bad(cx, v->line, "'%s': %s", key, e.msg);
	if (secs < min || secs > max)
		return yc_bad(cx, v->line, "'%s' is %s: it must be from %llds "
		    "to %llds", key, v->s, (long long)min, (long long)max);
	*out = secs;
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
parse_address(struct yc *cx, const char *s, unsigned line,
    struct fsd_listen_conf *l)
{
	const char *hp, *colon;
	char *end;
	long port;

	if ((l->spec = strdup(s)) == NULL)
		return yc_nomem(cx);
	l->line = line;
	if (strncmp(s, "unix:", 5) == 0) {
		l->kind = FSD_UNIX;
		if (s[5] != '/' || strlen(s + 5) > 100)
			return yc_bad(cx, line, "listen '%.64s': the socket "
			    "must be an absolute path of at most 100 bytes "
			    "(unix:/run/fedsignd/sock)", s);
		return yc_strdup(cx, s + 5, &l->path);
	}
	if (strncmp(s, "tcp:", 4) != 0)
		return yc_bad(cx, line, "listen '%.64s' is neither unix:/PATH "
		    "nor tcp:HOST:PORT", s);
	l->kind = FSD_TCP;
	hp = s + 4;
	if (hp[0] == '[') {
		const char *rb = strchr(hp, ']');

		if (rb == NULL || rb[1] != ':')
			return yc_bad(cx, line, "listen '%.64s': write an IPv6 "
			    "address as tcp:[::1]:8443", s);
		if ((l->host = strndup(hp + 1, (size_t)(rb - hp - 1))) == NULL)
			return yc_nomem(cx);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(hp, ':')) == NULL || colon == hp)
			return yc_bad(cx, line, "listen '%.64s': write "
			    "tcp:HOST:PORT (tcp:127.0.0.1:8443)", s);
		if ((l->host = strndup(hp, (size_t)(colon - hp))) == NULL)
			return yc_nomem(cx);
	}
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		return yc_bad(cx, line, "listen '%.64s': the port must be a "
		    "number from 1 to 65535", s);
	if ((l->port = strdup(colon + 1)) == NULL)
		return yc_nomem(cx);
	l->loopback = is_loopback(l->host);
	return FS_OK;
}

static int
conf_listen(struct yc *cx, const struct yc_node *root, struct fsd_conf *c)
{
	const struct yc_node *v = yc_val(root, "listen"), *it;
	int rc;

	if (v == NULL)
		return yc_bad(cx, root->line, "'listen' is missing: give at "
		    "least one address, such as unix:/run/fedsignd/sock");
	if (v->kind != YC_SEQ || v->n == 0)
		return yc_bad(cx, v->line, "'listen' must be a list of "
		    "addresses ('- unix:/run/fedsignd/sock', '- "
		    "tcp:127.0.0.1:8443')");
	if (v->n > 16)
		return yc_bad(cx, v->line, "'listen' has more than 16 "
		    "addresses");
	if ((c->listen = calloc(v->n, sizeof(*c->listen))) == NULL)
		return yc_nomem(cx);
	for (size_t i = 0; i < v->n; i++) {
		struct fsd_listen_conf *l = &c->listen[c->nlisten++];
		const struct yc_node *a, *t;

		it = v->kid[i];
		l->tls = -1;
		if (it->kind == YC_SCALAR) {
			if ((rc = parse_address(cx, it->s, it->line, l)) !=
			    FS_OK)
				return rc;
		} else if (it->kind == YC_MAP) {
			if ((rc = yc_check_keys(cx, it, "in a listen entry",
			    listen_keys)) != FS_OK ||
			    (rc = yc_scalar(cx, it, "address", &a)) != FS_OK)
				return rc;
			if (a == NULL)
				return yc_bad(cx, it->line, "a listen entry "
				    "needs 'address: unix:/PATH' or 'address: "
				    "tcp:HOST:PORT'");
			if ((rc = parse_address(cx, a->s, a->line, l)) != FS_OK)
				return rc;
			if ((rc = yc_scalar(cx, it, "tls", &t)) != FS_OK)
				return rc;
			if (t != NULL && (rc = yc_bool(cx, t, "tls",
			    &l->tls)) != FS_OK)
				return rc;
			if ((rc = yc_scalar(cx, it, "auth", &t)) != FS_OK)
				return rc;
			if (t != NULL) {
				if (strcmp(t->s, "secret") == 0)
					l->auth = FSD_AUTH_SECRET;
				else if (strcmp(t->s, "none") == 0)
					l->auth = FSD_AUTH_NONE;
				else
					return yc_bad(cx, t->line, "'auth' is "
					    "'%.64s': write secret or none",
					    t->s);
			}
		} else {
			return yc_bad(cx, it->line, "a listen entry must be an "
			    "address or a mapping with address:, not %s",
			    yc_kind(it));
		}
		for (size_t j = 0; j + 1 < c->nlisten; j++)
			if (strcmp(c->listen[j].spec, l->spec) == 0)
				return yc_bad(cx, l->line, "listen '%.64s' is "
				    "given twice (first on line %u)", l->spec,
				    c->listen[j].line);
	}
	return FS_OK;
}

/* The pin-source of a token URI: it must be a file. */
static int
check_token_uri(struct yc *cx, const char *uri, unsigned line)
{
	P11KitUri *u;
	const char *ps;
	char shown[256];
	size_t n;
	int query, r;

	/* Shown without its query: the part after '?' may hold secrets. */
	n = strcspn(uri, "?");
	query = uri[n] == '?';
	if (n > sizeof(shown) - sizeof("?..."))
		n = sizeof(shown) - sizeof("?...");
	memcpy(shown, uri, n);
	strcpy(shown + n, query ? "?..." : "");
	if (strncmp(uri, "pkcs11:", 7) != 0)
		return yc_bad(cx, line, "token '%s' is not a PKCS#11 URI: "
		    "write "
		    "pkcs11:token=LABEL;object=KEYLABEL?module-path=...&pin-source=file:PATH", shown);
	if (strcasestr(uri, "pin-value") != NULL)
		return yc_bad(cx, line, "token '%s' has a pin-value: a PIN in "
		    "the configuration is refused; use pin-source=file:PATH "
		    "(and consider changing the PIN)", shown);
	if ((u = p11_kit_uri_new()) == NULL)
		return yc_nomem(cx);
	r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u);
	if (r != P11_KIT_URI_OK) {
		p11_kit_uri_free(u);
		return yc_bad(cx, line, "token '%s' is not a valid PKCS#11 "
		    "URI: %s", shown, p11_kit_uri_message(r));
	}
	ps = p11_kit_uri_get_pin_source(u);
	if (ps == NULL || strcmp(ps, "prompt") == 0 ||
	    (strncmp(ps, "file:", 5) != 0 && ps[0] != '/')) {
		p11_kit_uri_free(u);
		return yc_bad(cx, line, "token '%s' needs "
		    "pin-source=file:PATH: fedsignd reads the PIN from a file "
		    "(only its owner may read it), never from a prompt or the "
		    "configuration",
		    shown);
	}
	p11_kit_uri_free(u);
	return FS_OK;
}

static int
conf_key(struct yc *cx, const struct yc_node *kn, const struct yc_node *v,
    struct fsd_key_conf *k)
{
	const struct yc_node *t;
	int rc;

	k->line = kn->line;
	k->sessions = DEF_SESSIONS;
	k->queue = DEF_QUEUE;
	if (!fsd_name_ok(kn->s))
		return yc_bad(cx, kn->line, "key name '%.64s': use letters, "
		    "digits, '.', '_' and '-' (at most 64; not status, "
		    "metrics or v1): it is the key's name in the API",
		    kn->s);
	if ((rc = yc_strdup(cx, kn->s, &k->name)) != FS_OK)
		return rc;
	if (v->kind != YC_MAP)
		return yc_bad(cx, v->line, "key '%s' must be a mapping with "
		    "tokens:, not %s", k->name, yc_kind(v));
	if ((rc = yc_check_keys(cx, v, "in a key", key_keys)) != FS_OK ||
	    (rc = yc_opt_uint(cx, v, "sessions", 1, FS_TOKEN_MAX_SESSIONS,
	    &k->sessions)) != FS_OK ||
	    (rc = yc_opt_uint(cx, v, "queue", 1, 100000, &k->queue)) != FS_OK ||
	    (rc = yc_opt_path(cx, v, "cert", &k->cert)) != FS_OK ||
	    (rc = yc_opt_bool(cx, v, "allow-sha1", &k->allow_sha1)) != FS_OK)
		return rc;
	if ((t = yc_val(v, "tokens")) == NULL)
		return yc_bad(cx, v->line, "key '%s' has no 'tokens': list the "
		    "PKCS#11 URIs of its copies", k->name);
	if (t->kind == YC_SCALAR && t->s[0] != '\0') {
		k->ntokens = 1;
	} else if (t->kind == YC_SEQ && t->n > 0) {
		k->ntokens = t->n;
	} else {
		return yc_bad(cx, t->line, "'tokens' of key '%s' must be a "
		    "list of PKCS#11 URIs", k->name);
	}
	if (k->ntokens > FSD_MAX_COPIES)
		return yc_bad(cx, t->line, "key '%s' has more than %d tokens",
		    k->name, FSD_MAX_COPIES);
	if ((k->tokens = calloc(k->ntokens, sizeof(*k->tokens))) == NULL ||
	    (k->token_lines = calloc(k->ntokens, sizeof(unsigned))) == NULL)
		return yc_nomem(cx);
	for (size_t i = 0; i < k->ntokens; i++) {
		const struct yc_node *it = t->kind == YC_SEQ ? t->kid[i] : t;

		if (it->kind != YC_SCALAR || it->s[0] == '\0')
			return yc_bad(cx, it->line, "a token of key '%s' must "
			    "be a PKCS#11 URI, not %s", k->name, yc_kind(it));
		if ((rc = check_token_uri(cx, it->s, it->line)) != FS_OK)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(k->tokens[j], it->s) == 0)
				return yc_bad(cx, it->line, "key '%s' lists "
				    "the same token twice (first on line %u)",
				    k->name, k->token_lines[j]);
		if ((rc = yc_strdup(cx, it->s, &k->tokens[i])) != FS_OK)
			return rc;
		k->token_lines[i] = it->line;
	}
	return FS_OK;
}

static int
conf_keys(struct yc *cx, const struct yc_node *root, struct fsd_conf *c)
{
	const struct yc_node *v = yc_val(root, "keys");
	int rc;

	if (v == NULL)
		return yc_bad(cx, root->line, "'keys' is missing: name at "
		    "least one key and its tokens");
	if (v->kind != YC_MAP || v->n == 0)
		return yc_bad(cx, v->line, "'keys' must be a mapping of key "
		    "names to their tokens");
	if (v->n / 2 > FSD_MAX_KEYS)
		return yc_bad(cx, v->line, "more than %d keys", FSD_MAX_KEYS);
	if ((c->keys = calloc(v->n / 2, sizeof(*c->keys))) == NULL)
		return yc_nomem(cx);
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(v->kid[j]->s, v->kid[i]->s) == 0)
				return yc_bad(cx, v->kid[i]->line, "key '%s' "
				    "is given twice (first on line %u)",
				    v->kid[i]->s, v->kid[j]->line);
		if ((rc = conf_key(cx, v->kid[i], v->kid[i + 1],
		    &c->keys[c->nkeys++])) != FS_OK)
			return rc;
	}
	return FS_OK;
}

static int
walk(struct yc *cx, const struct yc_node *root, struct fsd_conf *c)
{
	const struct yc_node *v;
	int rc, need_secret = 0, any_tls = 0;

	c->health_interval = DEF_HEALTH;
	c->retry_interval = DEF_RETRY;
	c->token_timeout = DEF_TOKEN_TO;
	c->request_timeout = DEF_REQUEST_TO;
	c->max_request = DEF_MAX_REQUEST;
	c->max_connections = DEF_MAX_CONNS;
	c->socket_mode = 0660;
	if ((rc = yc_check_keys(cx, root, "at the top", top_keys)) != FS_OK ||
	    (rc = conf_listen(cx, root, c)) != FS_OK ||
	    (rc = yc_opt_str(cx, root, "socket-group", &c->socket_group)) !=
	    FS_OK ||
	    (rc = yc_opt_str(cx, root, "user", &c->user)) != FS_OK ||
	    (rc = yc_opt_str(cx, root, "group", &c->group)) != FS_OK ||
	    (rc = yc_opt_path(cx, root, "clients-file", &c->clients_file)) !=
	    FS_OK ||
	    (rc = yc_opt_path(cx, root, "tls-cert", &c->tls_cert)) != FS_OK ||
	    (rc = yc_opt_path(cx, root, "tls-key", &c->tls_key)) != FS_OK ||
	    (rc = yc_opt_path(cx, root, "audit-log", &c->audit_log)) != FS_OK ||
	    (rc = opt_duration(cx, root, "health-interval", 1, 86400,
	    &c->health_interval)) != FS_OK ||
	    (rc = opt_duration(cx, root, "retry-interval", 1, 3600,
	    &c->retry_interval)) != FS_OK ||
	    (rc = opt_duration(cx, root, "token-timeout", 1, 3600,
	    &c->token_timeout)) != FS_OK ||
	    (rc = opt_duration(cx, root, "request-timeout", 1, 3600,
	    &c->request_timeout)) != FS_OK ||
	    (rc = yc_opt_uint(cx, root, "max-connections", 1, 10000,
	    &c->max_connections)) != FS_OK ||
	    (rc = yc_opt_bool(cx, root, "status-needs-secret",
	    &c->status_needs_secret)) != FS_OK)
		return rc;
	if ((rc = yc_scalar(cx, root, "socket-mode", &v)) != FS_OK)
		return rc;
	if (v != NULL) {
		char *end;
		unsigned long m = strtoul(v->s, &end, 8);

		if (*end != '\0' || m > 0777 || (m & 0600) != 0600 ||
		    (m & 0007) != 0)
			return yc_bad(cx, v->line, "'socket-mode' is '%.64s': "
			    "give an octal mode such as 0660 (the owner reads "
			    "and writes; others get nothing)", v->s);
		c->socket_mode = (unsigned)m;
	}
	if ((rc = yc_scalar(cx, root, "max-request", &v)) != FS_OK)
		return rc;
	if (v != NULL) {
		fs_err e;

		if (fs_size_parse(v->s, &c->max_request, &e) != FS_OK)
			return yc_bad(cx, v->line, "'max-request': %s", e.msg);
		if (c->max_request < 1024 || c->max_request > (1 << 24))
			return yc_bad(cx, v->line, "'max-request' must be from "
			    "1K to 16M");
	}
	if (c->audit_log == NULL)
		return yc_bad(cx, root->line, "'audit-log' is missing: "
		    "fedsignd writes one line per signature there "
		    "(/var/log/fedsignd/audit.jsonl)");
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return yc_bad(cx, root->line, "give both 'tls-cert' and "
		    "'tls-key', or neither");
	if (c->group != NULL && c->user == NULL)
		return yc_bad(cx, root->line, "'group' needs 'user'");
	for (size_t i = 0; i < c->nlisten; i++) {
		struct fsd_listen_conf *l = &c->listen[i];

		if (l->kind == FSD_UNIX) {
			if (l->tls == 1)
				return yc_bad(cx, l->line, "listen '%s': TLS "
				    "is for tcp: addresses", l->spec);
			l->tls = 0;
			if (l->auth == FSD_AUTH_NONE)
				return yc_bad(cx, l->line, "listen '%s': unix "
				    "sockets need no 'auth' (their mode and "
				    "group decide)", l->spec);
			continue;
		}
		if (l->tls == -1)
			l->tls = c->tls_cert != NULL;
		if (l->tls && c->tls_cert == NULL)
			return yc_bad(cx, l->line, "listen '%s' wants TLS: "
			    "give tls-cert and tls-key", l->spec);
		if (!l->tls && !l->loopback)
			return yc_bad(cx, l->line, "listen '%s' is not on the "
			    "loopback interface: it needs TLS (tls-cert and "
			    "tls-key)", l->spec);
		if (l->auth == FSD_AUTH_NONE && !l->loopback)
			return yc_bad(cx, l->line, "listen '%s': 'auth: none' "
			    "is only for loopback addresses (127.0.0.1)",
			    l->spec);
		if (l->auth == FSD_AUTH_SECRET)
			need_secret = 1;
		any_tls |= l->tls;
	}
	if (need_secret && c->clients_file == NULL)
		return yc_bad(cx, root->line, "tcp: listeners need a "
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
	struct yc cx = { .path = path, .err = err, .max_depth = MAX_DEPTH,
	    .max_nodes = MAX_NODES, .needs = "listen:, audit-log: and keys:",
	    .example = "listen:, keys:" };
	struct yc_node *root = NULL;
	struct fsd_conf *c = NULL;
	char *buf = NULL, *slash;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = fs_file_read(path, MAX_FILE, &buf, &len, err)) != FS_OK)
		return rc;
	if (memchr(buf, '\0', len) != NULL) {
		rc = yc_bad(&cx, 1, "the file contains a NUL byte: it is not a "
		    "YAML text file");
		goto out;
	}
	if ((cx.base = realpath(path, NULL)) == NULL) {
		rc = fs_err_set(err, FS_EIO, "cannot resolve '%s'", path);
		goto out;
	}
	if ((slash = strrchr(cx.base, '/')) != NULL)
		slash[slash == cx.base ? 1 : 0] = '\0';
	if ((rc = yc_parse(&cx, buf, len, &root)) != FS_OK)
		goto out;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		rc = yc_nomem(&cx);
		goto out;
	}
	if ((rc = walk(&cx, root, c)) != FS_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	fsd_conf_free(c);
	yc_free(root);
	free(cx.base);
	free(buf);
	return rc;
}
