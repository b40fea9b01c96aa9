/*
 * Checks on each entity as it will be published: the SAML metadata
 * schemas, and XSLT 1.0 rule files in the community's convention (a rule
 * reports with xsl:message, text starting [ERROR], [WARN] or [INFO]; an
 * [ERROR] keeps the entity out of every feed).
 *
 * Each entity is copied into a document of its own, as the Shibboleth
 * metadata aggregator hands rule files one entity at a time: rules see
 * the entity as the document element, and may change their copy (an
 * xsl:strip-space does) without touching what is published.  The copies
 * are checked on as many threads as there are CPUs; the compiled schema
 * and stylesheets are shared read-only.
 */
#include "publish/publish_int.h"

#include <glob.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parserInternals.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpathInternals.h>
#include <libxslt/extensions.h>
#include <libxslt/security.h>
#include <libxslt/transform.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>
#include <libexslt/exslt.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>

#include "fedsign/dsig.h"
#include "fedsign/md.h"

#define FS_XSLT_NS "urn:fedsign:xslt"

/* Schemas: the namespace, the file that defines it. */
static const char *const schema_files[][2] = {
	{ FS_NS_MD, "/usr/share/xml/opensaml/saml-schema-metadata-2.0.xsd" },
	{ "urn:oasis:names:tc:SAML:metadata:rpi",
	    "/usr/share/xml/opensaml/saml-metadata-rpi-v1.0.xsd" },
	{ "urn:oasis:names:tc:SAML:metadata:ui",
	    "/usr/share/xml/opensaml/sstc-saml-metadata-ui-v1.0.xsd" },
	{ "urn:oasis:names:tc:SAML:metadata:attribute",
	    "/usr/share/xml/opensaml/sstc-metadata-attr.xsd" },
	{ "urn:oasis:names:tc:SAML:metadata:algsupport",
	    "/usr/share/xml/opensaml/sstc-saml-metadata-algsupport-v1.0.xsd" },
	{ "urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol",
	    "/usr/share/xml/opensaml/sstc-saml-idp-discovery.xsd" },
	{ "urn:oasis:names:tc:SAML:profiles:SSO:request-init",
	    "/usr/share/xml/opensaml/sstc-request-initiation.xsd" },
	{ "urn:oasis:names:tc:SAML:profiles:v1metadata",
	    "/usr/share/xml/opensaml/sstc-saml1x-metadata.xsd" },
	{ "urn:oasis:names:tc:SAML:metadata:ext:query",
	    "/usr/share/xml/opensaml/sstc-saml-metadata-ext-query.xsd" },
	{ "urn:mace:shibboleth:metadata:1.0",
	    "/usr/share/xml/shibboleth/shibboleth-metadata-1.0.xsd" },
};

/* Where schemas named by URL live on this machine: never the network. */
static const char *const schema_dirs[] = {
	"/usr/share/xml/xmltooling", "/usr/share/xml/opensaml",
	"/usr/share/xml/shibboleth",
};

struct rule {
	xsltStylesheetPtr style;
	char *name;			/* the file's name, for findings */
	char *path;			/* as given, to compile it again */
};

struct fs_rules {
	xmlSchemaPtr schema;
	struct rule *rules;
	size_t nrules;
};

static xmlExternalEntityLoader default_loader;

/*
 * The one loader of external resources: schemas named by their w3.org or
 * oasis URL come from the local copies; no other URL is fetched.  Local
 * files (rule files' imports, the schemas' relative imports) load as
 * usual.
 */
static xmlParserInputPtr
local_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	const char *base;
	char path[512];

	if (url != NULL && (strncmp(url, "http://", 7) == 0 ||
	    strncmp(url, "https://", 8) == 0)) {
		if ((base = strrchr(url, '/')) == NULL || base[1] == '\0')
			return NULL;
		for (size_t i = 0; i < sizeof(schema_dirs) /
		    sizeof(schema_dirs[0]); i++) {
			snprintf(path, sizeof(path), "%s%s", schema_dirs[i],
			    base);
			if (access(path, R_OK) == 0)
				return xmlNewInputFromFile(ctxt, path);
		}
		return NULL;
	}
	if (url != NULL && strstr(url, "://") != NULL &&
	    strncmp(url, "file://", 7) != 0)
		return NULL;
	return default_loader(url, id, ctxt);
}

static void
quiet(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

static void
init_once(void)
{
	xsltInit();
	/* Errors of a transformation go to its own handler (below). */
	xsltSetGenericErrorFunc(NULL, quiet);
	exsltRegisterAll();
	default_loader = xmlGetExternalEntityLoader();
	xmlSetExternalEntityLoader(local_loader);
}

static void
init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, init_once);
}

/* Errors while compiling: into a buffer (the handlers are global). */
static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;
static char compile_msg[1024];

static void
keep_compile_error(void *ctx, const char *fmt, ...)
{
	size_t n = strlen(compile_msg);
	va_list ap;

	(void)ctx;
	if (n + 2 >= sizeof(compile_msg))
		return;
	va_start(ap, fmt);
	vsnprintf(compile_msg + n, sizeof(compile_msg) - n, fmt, ap);
	va_end(ap);
	for (char *p = compile_msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

static void
keep_structured(void *ctx, xmlErrorPtr e)
{
	if (e != NULL && e->message != NULL && compile_msg[0] == '\0')
		keep_compile_error(ctx, "%s", e->message);
}

static int
load_schema(struct fs_rules *r, fs_err *err)
{
	char doc[8192];
	size_t used;
	xmlSchemaParserCtxtPtr p;

	used = (size_t)snprintf(doc, sizeof(doc), "<xs:schema xmlns:xs="
	    "\"http://www.w3.org/2001/XMLSchema\" targetNamespace="
	    "\"urn:fedsign:schemas\">");
	for (size_t i = 0; i < sizeof(schema_files) / sizeof(schema_files[0]);
	    i++) {
		if (access(schema_files[i][1], R_OK) != 0)
			return fs_err_set(err, FS_EIO, "the SAML metadata schemas "
			    "are missing: %s (Debian packages opensaml-schemas, "
			    "xmltooling-schemas, shibboleth-sp-common)",
			    schema_files[i][1]);
		used += (size_t)snprintf(doc + used, sizeof(doc) - used,
		    "<xs:import namespace=\"%s\" schemaLocation=\"%s\"/>",
		    schema_files[i][0], schema_files[i][1]);
	}
	snprintf(doc + used, sizeof(doc) - used, "</xs:schema>");
	pthread_mutex_lock(&compile_lock);
	compile_msg[0] = '\0';
	xmlSetStructuredErrorFunc(NULL, keep_structured);
	if ((p = xmlSchemaNewMemParserCtxt(doc, (int)strlen(doc))) != NULL) {
		xmlSchemaSetParserStructuredErrors(p, keep_structured, NULL);
		r->schema = xmlSchemaParse(p);
		xmlSchemaFreeParserCtxt(p);
	}
	xmlSetStructuredErrorFunc(NULL, NULL);
	if (r->schema == NULL)
		fs_err_set(err, FS_EINTERNAL, "cannot compile the SAML "
		    "metadata schemas: %s", compile_msg);
	pthread_mutex_unlock(&compile_lock);
	return r->schema != NULL ? FS_OK : FS_EINTERNAL;
}

static int
compile_rule(const char *path, xsltStylesheetPtr *out, fs_err *err)
{
	xsltStylesheetPtr s;

	pthread_mutex_lock(&compile_lock);
	compile_msg[0] = '\0';
	xsltSetGenericErrorFunc(NULL, keep_compile_error);
	xmlSetGenericErrorFunc(NULL, keep_compile_error);
	s = xsltParseStylesheetFile(BAD_CAST path);
	xsltSetGenericErrorFunc(NULL, quiet);
	xmlSetGenericErrorFunc(NULL, quiet);
	/*
	 * libxslt returns a stylesheet for an unknown instruction (a typo
	 * such as xsl:mesage), with a message and no error counted: a rule
	 * that would never fire.  Anything said while compiling refuses it.
	 */
	if (s != NULL && (s->errors > 0 || s->warnings > 0 ||
	    compile_msg[0] != '\0')) {
		xsltFreeStylesheet(s);
		s = NULL;
	}
	if (s == NULL)
		fs_err_set(err, FS_EUSAGE, "rule file '%s' does not compile: "
		    "%s", path, compile_msg[0] ? compile_msg : "not XSLT");
	pthread_mutex_unlock(&compile_lock);
	*out = s;
	return s != NULL ? FS_OK : FS_EUSAGE;
}

static int
load_rule(struct fs_rules *r, const char *path, fs_err *err)
{
	struct rule *n = &r->rules[r->nrules];
	const char *base = strrchr(path, '/');
	int rc;

	if ((rc = compile_rule(path, &n->style, err)) != FS_OK)
		return rc;
	if ((n->name = strdup(base ? base + 1 : path)) == NULL ||
	    (n->path = strdup(path)) == NULL) {
		xsltFreeStylesheet(n->style);
		free(n->name);
		return fs_err_nomem(err, "loading rules");
	}
	r->nrules++;
	return FS_OK;
}

int
fs_rules_load(int schema, const struct fs_conf_list *rules,
    struct fs_rules **out, fs_err *err)
{
	struct fs_rules *r;
	glob_t g;
	int rc = FS_OK;

	*out = NULL;
	init();
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return fs_err_nomem(err, "loading rules");
	if (schema && (rc = load_schema(r, err)) != FS_OK)
		goto fail;
	for (size_t i = 0; rules != NULL && i < rules->n; i++) {
		int gr = glob(rules->v[i], GLOB_ERR, NULL, &g);
		struct rule *more;

		if (gr == GLOB_NOMATCH) {
			rc = fs_err_set(err, FS_EUSAGE, "checks: rules: no file "
			    "matches '%s'", rules->v[i]);
			goto fail;
		}
		if (gr != 0) {
			rc = fs_err_set(err, FS_EIO, "checks: rules: cannot read "
			    "'%s'", rules->v[i]);
			goto fail;
		}
		more = realloc(r->rules, (r->nrules + g.gl_pathc) *
		    sizeof(*more));
		if (more == NULL) {
			globfree(&g);
			rc = fs_err_nomem(err, "loading rules");
			goto fail;
		}
		r->rules = more;
		for (size_t j = 0; j < g.gl_pathc && rc == FS_OK; j++) {
			const char *b = strrchr(g.gl_pathv[j], '/');

			/* The framework other rule files import is no rule. */
			if (strcmp(b ? b + 1 : g.gl_pathv[j],
			    "check_framework.xsl") == 0)
				continue;
			rc = load_rule(r, g.gl_pathv[j], err);
		}
		globfree(&g);
		if (rc != FS_OK)
			goto fail;
	}
	*out = r;
	return FS_OK;
fail:
	fs_rules_free(r);
	return rc;
}

void
fs_rules_free(struct fs_rules *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrules; i++) {
		xsltFreeStylesheet(r->rules[i].style);
		free(r->rules[i].name);
		free(r->rules[i].path);
	}
	free(r->rules);
	if (r->schema != NULL)
		xmlSchemaFree(r->schema);
	free(r);
}

int
fs_entity_digest(xmlNodePtr entity, unsigned char out[32], fs_err *err)
{
	xmlDocPtr doc;
	xmlNodePtr copy;
	int rc;

	if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
	    (copy = xmlDocCopyNode(entity, doc, 1)) == NULL) {
		xmlFreeDoc(doc);
		return fs_err_nomem(err, "digesting an entity");
	}
	xmlDocSetRootElement(doc, copy);
	rc = fs_dsig_content_digest(copy, out, err);
	xmlFreeDoc(doc);
	return rc;
}

/* --- on the threads --------------------------------------------------- */

struct work {
	struct fs_rules *rules;
	struct fs_entity *ents;
	size_t n;
	size_t next;			/* the next entity to take (atomic) */
	struct rule **copies;		/* the rules, one compiled set a thread */
	unsigned ncopies;
	unsigned copy;			/* the next set to take (atomic) */
	fs_report *rep;
	pthread_mutex_t lock;		/* rc, err */
	int rc;
	fs_err err;
};

/* What the checks of one entity found. */
struct seen {
	struct work *w;
	struct fs_entity *e;
	const char *rule;
	xsltTransformContextPtr t;	/* the transformation running, or NULL */
	char line[2048];		/* a message being put together */
	size_t used;
	int errors;
};

static void
finding(struct seen *s, enum fs_level level, unsigned long line,
    const char *msg)
{
	if (level == FS_LEVEL_ERROR)
		s->errors++;
	fs_report_finding(s->w->rep, level, s->rule, s->e->entity_id,
	    s->e->src ? s->e->src->conf->name : NULL, s->e->file, line, "%s",
	    msg);
}

static void
on_schema_error(void *ctx, xmlErrorPtr e)
{
	struct seen *s = ctx;
	char msg[1024];
	size_t n;

	if (e == NULL || e->level < XML_ERR_ERROR)
		return;
	snprintf(msg, sizeof(msg), "%s", e->message ? e->message :
	    "not valid");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	finding(s, FS_LEVEL_ERROR, (unsigned long)e->line, msg);
}

/* The line of the node the transformation is at (an attribute's own). */
static unsigned long
current_line(const struct seen *s)
{
	xmlNodePtr n = s->t != NULL ? s->t->node : NULL;

	if (n != NULL && n->type == XML_ATTRIBUTE_NODE)
		n = n->parent;
	if (n == NULL || n->type == XML_DOCUMENT_NODE)
		return s->e->line;
	return (unsigned long)xmlGetLineNo(n);
}

static void
rule_line(struct seen *s, const char *text)
{
	static const struct {
		const char *tag;
		enum fs_level level;
	} tags[] = {
		{ "[ERROR]", FS_LEVEL_ERROR }, { "[WARN]", FS_LEVEL_WARN },
		{ "[WARNING]", FS_LEVEL_WARN }, { "[INFO]", FS_LEVEL_INFO },
	};
	const char *id = s->e->entity_id;

	while (*text == ' ' || *text == '\t')
		text++;
	if (*text == '\0')
		return;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		size_t n = strlen(tags[i].tag);

		if (strncmp(text, tags[i].tag, n) != 0)
			continue;
		text += n;
		while (*text == ' ')
			text++;
		/* Inside an aggregate the framework names the entity first. */
		if (strncmp(text, id, strlen(id)) == 0 &&
		    strncmp(text + strlen(id), ": ", 2) == 0)
			text += strlen(id) + 2;
		finding(s, tags[i].level, current_line(s), text);
		return;
	}
	/* Anything else is libxslt saying the rule itself failed. */
	{
		char msg[2100];

		snprintf(msg, sizeof(msg), "the rule failed: %s", text);
		finding(s, FS_LEVEL_ERROR, current_line(s), msg);
	}
}

/*
 * libxslt hands an xsl:message over in one call, followed by a call with
 * "\n" when the text does not end with one; its own errors come the same
 * way.  A message is therefore everything up to a call that ends with a
 * newline, taken as one finding (its inner line breaks made spaces), as
 * the Shibboleth metadata aggregator reads the message of each
 * TransformerException.
 */
static void
on_rule_message(void *ctx, const char *fmt, ...)
{
	struct seen *s = ctx;
	va_list ap;
	size_t room = sizeof(s->line) - s->used;
	int n;

	va_start(ap, fmt);
	n = room > 1 ? vsnprintf(s->line + s->used, room, fmt, ap) : 0;
	va_end(ap);
	if (n > 0)
		s->used += (size_t)n < room ? (size_t)n : room - 1;
	s->line[s->used] = '\0';
	if (s->used == 0 || s->line[s->used - 1] != '\n')
		return;
	for (char *p = s->line; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	while (s->used > 0 && s->line[s->used - 1] == ' ')
		s->line[--s->used] = '\0';
	rule_line(s, s->line);
	s->used = 0;
	s->line[0] = '\0';
}

/* The next DER element at *p (within end): its tag, contents, length. */
static int
der_next(const unsigned char **p, const unsigned char *end, int *tag,
    int *cls, const unsigned char **content, long *len)
{
	const unsigned char *q = *p;
	int r;

	if (q >= end)
		return -1;
	r = ASN1_get_object(&q, len, tag, cls, end - q);
	if (r & 0x80)
		return -1;
	/* Indefinite lengths are BER, not DER. */
	if (r == 0x21 || *len > end - q)
		return -1;
	*content = q;
	*p = q + *len;
	return 0;
}

int
fs_cert_rsa_bits(const unsigned char *der, size_t derlen)
{
	static const unsigned char rsa_oid[] = {
		0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01
	};
	const unsigned char *p = der, *end = der + derlen, *c, *tbs_end;
	const unsigned char *spki_end, *alg_end;
	int tag, cls;
	long len;

	if (derlen > 1 << 20)
		return -1;
	/* Certificate ::= SEQUENCE { tbsCertificate, ... } */
	if (der_next(&p, end, &tag, &cls, &c, &len) || tag != V_ASN1_SEQUENCE)
		return -1;
	p = c;
	end = c + len;
	if (der_next(&p, end, &tag, &cls, &c, &len) || tag != V_ASN1_SEQUENCE)
		return -1;
	p = c;
	tbs_end = c + len;
	/* [0] version (optional), serial, signature, issuer, validity,
	   subject, then subjectPublicKeyInfo. */
	if (der_next(&p, tbs_end, &tag, &cls, &c, &len))
		return -1;
	if (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0 &&
	    der_next(&p, tbs_end, &tag, &cls, &c, &len))
		return -1;
	for (int i = 0; i < 4; i++)
		if (der_next(&p, tbs_end, &tag, &cls, &c, &len))
			return -1;
	if (der_next(&p, tbs_end, &tag, &cls, &c, &len) ||
	    tag != V_ASN1_SEQUENCE)
		return -1;
	p = c;
	spki_end = c + len;
	/* AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters } */
	if (der_next(&p, spki_end, &tag, &cls, &c, &len) ||
	    tag != V_ASN1_SEQUENCE)
		return -1;
	alg_end = c + len;
	{
		const unsigned char *q = c;

		if (der_next(&q, alg_end, &tag, &cls, &c, &len) ||
		    tag != V_ASN1_OBJECT)
			return -1;
		if (len != (long)sizeof(rsa_oid) || memcmp(c, rsa_oid,
		    sizeof(rsa_oid)) != 0)
			return 0;	/* not RSA */
	}
	/* subjectPublicKey BIT STRING: RSAPublicKey ::= SEQUENCE { n, e } */
	if (der_next(&p, spki_end, &tag, &cls, &c, &len) ||
	    tag != V_ASN1_BIT_STRING || len < 1 || c[0] != 0)
		return -1;
	p = c + 1;
	end = c + len;
	if (der_next(&p, end, &tag, &cls, &c, &len) || tag != V_ASN1_SEQUENCE)
		return -1;
	p = c;
	end = c + len;
	if (der_next(&p, end, &tag, &cls, &c, &len) || tag != V_ASN1_INTEGER ||
	    len < 1 || (c[0] & 0x80))
		return -1;
	while (len > 0 && c[0] == 0) {
		c++;
		len--;
	}
	if (len == 0 || len > 16384 / 8)
		return -1;
	{
		int bits = (int)len * 8;

		for (unsigned char b = c[0]; !(b & 0x80); b <<= 1)
			bits--;
		return bits;
	}
}

/*
 * fedsign:key-bits(base64 certificate): its RSA key's size, 0 when the
 * key is not RSA or the certificate cannot be read.  The DER is walked
 * with ASN1_get_object: decoding whole certificates (d2i_X509) takes
 * OpenSSL 3's provider locks and costs ten times as much, on every
 * certificate of every entity.
 */
static void
key_bits(xmlXPathParserContextPtr ctxt, int nargs)
{
	unsigned char *der = NULL;
	xmlChar *text;
	size_t len = 0, n;
	double bits = 0;
	int m;

	if (nargs != 1) {
		xmlXPathSetArityError(ctxt);
		return;
	}
	if ((text = xmlXPathPopString(ctxt)) == NULL) {
		xmlXPathReturnNumber(ctxt, 0);
		return;
	}
	n = strlen((const char *)text);
	if (n < (1 << 22) && (der = malloc(n + 4)) != NULL) {
		/* The base64 alphabet only: no white space for the decoder. */
		for (size_t i = 0; i < n; i++)
			if (text[i] != ' ' && text[i] != '\t' &&
			    text[i] != '\r' && text[i] != '\n')
				text[len++] = text[i];
		m = len > 0 && len % 4 == 0 ? EVP_DecodeBlock(der, text,
		    (int)len) : -1;
		if (m > 0) {
			int b;

			m -= (len > 0 && text[len - 1] == '=') +
			    (len > 1 && text[len - 2] == '=');
			if ((b = fs_cert_rsa_bits(der, (size_t)m)) > 0)
				bits = b;
		}
	}
	free(der);
	xmlFree(text);
	xmlXPathReturnNumber(ctxt, bits);
}

static xsltSecurityPrefsPtr
sandbox(void)
{
	xsltSecurityPrefsPtr sec = xsltNewSecurityPrefs();

	/* Rules read; they write nothing and fetch nothing. */
	if (sec == NULL ||
	    xsltSetSecurityPrefs(sec, XSLT_SECPREF_WRITE_FILE,
	    xsltSecurityForbid) != 0 ||
	    xsltSetSecurityPrefs(sec, XSLT_SECPREF_CREATE_DIRECTORY,
	    xsltSecurityForbid) != 0 ||
	    xsltSetSecurityPrefs(sec, XSLT_SECPREF_READ_NETWORK,
	    xsltSecurityForbid) != 0 ||
	    xsltSetSecurityPrefs(sec, XSLT_SECPREF_WRITE_NETWORK,
	    xsltSecurityForbid) != 0) {
		xsltFreeSecurityPrefs(sec);
		return NULL;
	}
	return sec;
}

static int
run_rule(struct seen *s, const struct rule *r, xmlDocPtr doc,
    xsltSecurityPrefsPtr sec)
{
	xsltTransformContextPtr t;
	xmlDocPtr res;

	int errors = s->errors;

	s->rule = r->name;
	s->used = 0;
	if ((t = xsltNewTransformContext(r->style, doc)) == NULL)
		return FS_ENOMEM;
	s->t = t;
	xsltSetTransformErrorFunc(t, s, on_rule_message);
	/* XPath errors in a test= come through libxml2's handler (this
	 * thread's): they are the rule failing. */
	xmlSetGenericErrorFunc(s, on_rule_message);
	xsltSetCtxtSecurityPrefs(sec, t);
	xsltRegisterExtFunction(t, BAD_CAST "key-bits", BAD_CAST FS_XSLT_NS,
	    key_bits);
	res = xsltApplyStylesheetUser(r->style, doc, NULL, NULL, NULL, t);
	xmlSetGenericErrorFunc(NULL, quiet);
	if (s->used > 0) {
		s->line[s->used] = '\0';
		rule_line(s, s->line);
		s->used = 0;
	}
	/* A rule that stopped without saying [ERROR] failed all the same:
	 * an entity must not pass because its check broke. */
	if ((t->state != XSLT_STATE_OK || res == NULL) && s->errors == errors)
		finding(s, FS_LEVEL_ERROR, s->e->line, "the rule failed on "
		    "this entity (the transformation stopped)");
	xmlFreeDoc(res);
	s->t = NULL;
	xsltFreeTransformContext(t);
	return FS_OK;
}

static int
check_one(struct work *w, const struct rule *rules, struct fs_entity *e,
    xmlSchemaValidCtxtPtr v, xsltSecurityPrefsPtr sec, fs_err *err)
{
	struct seen s = { w, e, NULL, NULL, "", 0, 0 };
	xmlNodePtr copy;
	xmlDocPtr doc;
	int rc, r;

	if ((doc = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
	    (copy = xmlDocCopyNode(e->node, doc, 1)) == NULL) {
		xmlFreeDoc(doc);
		return fs_err_nomem(err, "checking an entity");
	}
	xmlDocSetRootElement(doc, copy);
	free(e->c14n);
	e->c14n = NULL;
	if ((rc = fs_dsig_content_c14n(copy, e->digest, e->mdq != NULL ?
	    &e->c14n : NULL, &e->c14nlen, err)) != FS_OK) {
		if (rc != FS_ENOTVALID)
			goto out;
		/* A document no consumer could verify once signed. */
		s.rule = "canonicalisation";
		finding(&s, FS_LEVEL_ERROR, e->line, err->msg);
	} else {
		e->have_digest = 1;
		/* Kept only for a document the MDQ plan may sign. */
		if (e->c14n != NULL && !fs_mdq_keeps_c14n(e->mdq, e)) {
			free(e->c14n);
			e->c14n = NULL;
		}
	}
	if (v != NULL) {
		s.rule = "schema";
		xmlSchemaSetValidStructuredErrors(v, on_schema_error, &s);
		if ((r = xmlSchemaValidateDoc(v, doc)) < 0)
			finding(&s, FS_LEVEL_ERROR, e->line, "schema validation "
			    "could not run on this entity");
		else if (r > 0 && s.errors == 0)
			finding(&s, FS_LEVEL_ERROR, e->line, "not valid by the "
			    "SAML metadata schemas");
	}
	for (size_t i = 0; w->rules != NULL && i < w->rules->nrules; i++)
		if ((rc = run_rule(&s, &rules[i], doc, sec)) != FS_OK) {
			fs_err_nomem(err, "running a rule");
			goto out;
		}
	if (s.errors > 0)
		e->dropped = 1;
	/* Discovery JSON, here where each thread has its own copy. */
	if (e->mdq != NULL && !e->dropped && e->disco == NULL &&
	    (e->disco = fs_disco_entity(copy, e->entity_id)) == NULL) {
		rc = fs_err_nomem(err, "making discovery JSON");
		goto out;
	}
	rc = FS_OK;
out:
	xmlFreeDoc(doc);
	return rc;
}

/*
 * Each thread runs its own compiled copy of every rule.  libxml2 2.9
 * writes into a compiled XPath expression while it evaluates it (the
 * function a call resolves to is kept in the expression), so two threads
 * running one stylesheet race on its expressions (helgrind shows it).
 * The copies are compiled before the threads start: compiling sets
 * libxslt's error handler, which is global.
 */
static int
own_rules(const struct fs_rules *r, struct rule **out, fs_err *err)
{
	struct rule *v;
	int rc;

	*out = NULL;
	if (r == NULL || r->nrules == 0)
		return FS_OK;
	if ((v = calloc(r->nrules, sizeof(*v))) == NULL)
		return fs_err_nomem(err, "checking entities");
	for (size_t i = 0; i < r->nrules; i++) {
		v[i].name = r->rules[i].name;
		if ((rc = compile_rule(r->rules[i].path, &v[i].style, err)) !=
		    FS_OK) {
			while (i-- > 0)
				xsltFreeStylesheet(v[i].style);
			free(v);
			return rc;
		}
	}
	*out = v;
	return FS_OK;
}

static void *
worker(void *arg)
{
	struct work *w = arg;
	xmlSchemaValidCtxtPtr v = NULL;
	xsltSecurityPrefsPtr sec;
	struct rule *rules = NULL;
	unsigned k;
	size_t i;
	fs_err err;
	int rc = FS_OK;

	fs_md_init(NULL);
	if (w->copies != NULL && (k = __atomic_fetch_add(&w->copy, 1,
	    __ATOMIC_RELAXED)) < w->ncopies)
		rules = w->copies[k];
	if ((sec = sandbox()) == NULL ||
	    (w->rules != NULL && w->rules->schema != NULL &&
	    (v = xmlSchemaNewValidCtxt(w->rules->schema)) == NULL)) {
		rc = fs_err_nomem(&err, "checking entities");
		goto out;
	}
	while ((i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED)) < w->n) {
		if ((rc = check_one(w, rules, &w->ents[i], v, sec, &err)) !=
		    FS_OK)
			break;
	}
out:
	if (rc != FS_OK) {
		pthread_mutex_lock(&w->lock);
		if (w->rc == FS_OK) {
			w->rc = rc;
			w->err = err;
		}
		pthread_mutex_unlock(&w->lock);
		/* Make the others stop too. */
		__atomic_store_n(&w->next, w->n, __ATOMIC_RELAXED);
	}
	if (v != NULL)
		xmlSchemaFreeValidCtxt(v);
	xsltFreeSecurityPrefs(sec);
	return NULL;
}

int
fs_check_entities(struct fs_rules *rules, struct fs_entity *ents, size_t n,
    fs_report *rep, unsigned threads, fs_err *err)
{
	struct work w = { rules, ents, n, 0, NULL, 0, 0, rep,
	    PTHREAD_MUTEX_INITIALIZER, FS_OK, { 0 } };
	int rc = FS_OK;

	init();
	if (threads > n)
		threads = n > 0 ? (unsigned)n : 1;
	if (threads > FS_MAX_THREADS)
		threads = FS_MAX_THREADS;
	/* The first thread runs the rules as loaded, the others copies. */
	if (rules != NULL && rules->nrules > 0) {
		if ((w.copies = calloc(threads, sizeof(*w.copies))) == NULL)
			return fs_err_nomem(err, "checking entities");
		w.copies[0] = rules->rules;
		for (w.ncopies = 1; w.ncopies < threads && rc == FS_OK;
		    w.ncopies++)
			rc = own_rules(rules, &w.copies[w.ncopies], err);
		if (rc != FS_OK)
			w.ncopies--;
	}
	if (rc == FS_OK)
		(void)fs_run_threads(threads, worker, &w);
	for (unsigned k = 1; k < w.ncopies; k++) {
		for (size_t i = 0; i < rules->nrules; i++)
			xsltFreeStylesheet(w.copies[k][i].style);
		free(w.copies[k]);
	}
	free(w.copies);
	pthread_mutex_destroy(&w.lock);
	if (rc != FS_OK)
		return rc;
	if (w.rc != FS_OK && err != NULL)
		*err = w.err;
	return w.rc;
}

unsigned
fs_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	return (unsigned)CPU_COUNT(&set);
}

unsigned
fs_run_threads(unsigned n, void *(*fn)(void *), void *arg)
{
	pthread_t th[FS_MAX_THREADS];
	unsigned started = 0;

	for (unsigned i = 1; i < n && i < FS_MAX_THREADS; i++) {
		if (pthread_create(&th[i], NULL, fn, arg) != 0)
			break;
		started++;
	}
	fn(arg);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(th[i], NULL);
	return started + 1;
}

/* --- fedsign check ------------------------------------------------------ */

int
fs_check_files(const char *const *paths, size_t n,
    const struct fs_check_opts *o, fs_report **report, fs_err *err)
{
	struct fs_conf_source *sc = NULL;
	struct fs_source *src = NULL;
	struct fs_entities ents = { 0 };
	struct fs_rules *rules = NULL;
	struct fs_md_limits lim = { FS_MD_MAX_SIZE, FS_MD_MAX_DEPTH,
	    FS_MD_MAX_ATTRS };
	struct timespec t0;
	fs_report *rep;
	json_t *seen = NULL;
	int rc;

	*report = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rep = fs_report_new("check", time(NULL))) == NULL)
		return fs_err_nomem(err, "starting");
	if (o->limits != NULL)
		lim = *o->limits;
	if ((rc = fs_md_init(err)) != FS_OK)
		goto out;
	/* The rules first: a rule that does not compile is a usage error. */
	if ((rc = fs_rules_load(o->schema, o->rules, &rules, err)) != FS_OK)
		goto out;
	if ((sc = calloc(n ? n : 1, sizeof(*sc))) == NULL ||
	    (src = calloc(n ? n : 1, sizeof(*src))) == NULL ||
	    (seen = json_object()) == NULL) {
		rc = fs_err_nomem(err, "starting");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		xmlDocPtr doc;
		fs_err e;

		/* Each file is a source of its own, named by its path. */
		sc[i].name = (char *)paths[i];
		sc[i].registration_authority =
		    (char *)o->registration_authority;
		src[i].conf = &sc[i];
		src[i].rep = json_pack("{s:s,s:I}", "name", paths[i],
		    "entities", (json_int_t)0);
		json_array_append(rep->sources, src[i].rep);
		rc = fs_md_parse_file(paths[i], &lim, &doc, &e);
		if (rc == FS_OK && fs_md_root(doc, paths[i], &e) == NULL) {
			xmlFreeDoc(doc);
			rc = FS_ENOTVALID;
		}
		if (rc == FS_ENOTVALID) {
			fs_report_finding(rep, FS_LEVEL_ERROR, "document", NULL,
			    NULL, paths[i], e.line, "%s", e.msg);
			json_object_set_new(src[i].rep, "status",
			    json_string("rejected"));
			continue;
		}
		if (rc != FS_OK) {
			*err = e;
			goto out;
		}
		if ((src[i].docs = malloc(sizeof(*src[i].docs))) == NULL) {
			xmlFreeDoc(doc);
			rc = fs_err_nomem(err, "reading files");
			goto out;
		}
		src[i].docs[0] = doc;
		src[i].ndocs = 1;
		json_object_set_new(src[i].rep, "status", json_string("read"));
		if ((rc = fs_source_take(&src[i], doc, paths[i], time(NULL),
		    &ents, seen, rep, err)) != FS_OK)
			goto out;
	}
	for (size_t i = 0; i < ents.n; i++)
		(void)xmlSearchNs(ents.v[i].home, ents.v[i].node,
		    BAD_CAST "xml");
	if ((rc = fs_check_entities(rules, ents.v, ents.n, rep, fs_cpus(),
	    err)) != FS_OK)
		goto out;
	fs_report_sort(rep);
	json_object_set_new(rep->root, "entities",
	    json_integer((json_int_t)ents.n));
	rc = rep->errors > 0 ? FS_ENOTVALID : FS_OK;
	if (rc == FS_ENOTVALID)
		fs_err_set(err, FS_ENOTVALID, "%lu error%s found", rep->errors,
		    rep->errors == 1 ? "" : "s");
	fs_report_set(rep, "outcome", rc == FS_OK ? "passed" : "failed");
out:
	json_object_set_new(rep->timings, "total", json_real(fs_elapsed(&t0)));
	fs_report_set_int(rep, "exitStatus", rc);
	for (size_t i = 0; i < ents.n; i++) {
		xmlFreeNode(ents.v[i].node);
		xmlFree(ents.v[i].entity_id);
		free(ents.v[i].c14n);
	}
	free(ents.v);
	for (size_t i = 0; src != NULL && i < n; i++) {
		for (size_t j = 0; j < src[i].ndocs; j++)
			xmlFreeDoc(src[i].docs[j]);
		free(src[i].docs);
		json_decref(src[i].rep);
	}
	free(src);
	free(sc);
	json_decref(seen);
	fs_rules_free(rules);
	*report = rep;
	return rc;
}
