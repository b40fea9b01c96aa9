/*
 * Canonicalisation of document subsets with libxml2, streamed into a
 * digest, and base64.
 *
 * The node set is given to libxml2 as a visibility test: a subtree, minus
 * an excluded subtree for the enveloped-signature transform.  That is the
 * node set XML-DSig defines for a same-document Reference ("" or "#id",
 * comments removed), and what xmlsec1 hands to the same libxml2
 * canonicaliser.
 */
#include "dsig/dsig_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlerror.h>
#include <openssl/evp.h>

#include "fedsign/md.h"

const struct fs_c14n fs_c14n_exc = { XML_C14N_EXCLUSIVE_1_0, 0, NULL };

/* The canonicaliser's first error names the cause; the rest unwind. */
struct errs {
	int first;
};

static void
keep_first(void *ctx, xmlErrorPtr e)
{
	struct errs *x = ctx;

	if (x->first == 0 && e != NULL)
		x->first = e->code;
}

int
fs_dsig_is_id(const xmlAttr *a, const xmlChar *id)
{
	const xmlNode *t = a->children;
	xmlChar *v;
	int same;

	if (a->ns == NULL) {
		if (a->name[0] != 'I' || a->name[1] != 'D' || a->name[2] != '\0')
			return 0;
	} else if (a->name[0] != 'i' || a->name[1] != 'd' ||
	    a->name[2] != '\0' || a->ns->href == NULL ||
	    !xmlStrEqual(a->ns->href, XML_XML_NAMESPACE)) {
		return 0;
	}
	/* The usual case, one text node, without an allocation. */
	if (t != NULL && t->type == XML_TEXT_NODE && t->next == NULL)
		return t->content != NULL && xmlStrEqual(t->content, id);
	v = xmlNodeListGetString(a->doc, a->children, 1);
	same = v != NULL && xmlStrEqual(v, id);
	xmlFree(v);
	return same;
}

static int
visible(void *vset, xmlNodePtr node, xmlNodePtr parent)
{
	struct fs_c14n_set *set = vset;
	xmlNodePtr n = node;

	/*
	 * libxml2 asks about every attribute of every element of the
	 * subtree, visible or not, once (an unqualified or xml: attribute;
	 * see fs_dsig_counts_ids, which checks this holds).
	 */
	if (set->id != NULL && node->type == XML_ATTRIBUTE_NODE &&
	    fs_dsig_is_id((xmlAttrPtr)node, set->id))
		set->id_count++;
	/*
	 * A node is as visible as its element: namespace nodes are judged by
	 * the element they belong to, attributes and text by their parent.
	 * The canonicaliser asks about an element's attributes, namespaces
	 * and children one after the other, and about its child elements
	 * next: remember the last verdict, and walk up only until an element
	 * already judged.
	 */
	if (node->type == XML_NAMESPACE_DECL)
		n = parent;
	else if (node->type != XML_ELEMENT_NODE)
		n = node->parent;
	if (n == set->last && n != NULL)
		return set->last_visible;
	{
		xmlNodePtr e = n;
		int v = 0;

		for (; n != NULL; n = n->parent) {
			if (n == set->exclude) {
				v = 0;
				break;
			}
			if (n == set->root) {
				v = 1;
				break;
			}
			if (n == set->last) {
				v = set->last_visible;
				break;
			}
		}
		set->last = e;
		set->last_visible = v;
		return v;
	}
}

struct sink {
	EVP_MD_CTX *md;
	int failed;
	int nomem;
	char **keep;			/* the bytes too, or NULL */
	size_t used, cap;
};

static int
sink_write(void *ctx, const char *buf, int len)
{
	struct sink *s = ctx;
	size_t n = (size_t)len;

	if (EVP_DigestUpdate(s->md, buf, n) != 1) {
		s->failed = 1;
		return -1;
	}
	if (s->keep != NULL && n > 0) {
		if (s->used + n + 1 > s->cap) {
			size_t cap = s->cap ? s->cap : 8192;
			char *p;

			while (cap < s->used + n + 1)
				cap *= 2;
			if ((p = realloc(*s->keep, cap)) == NULL) {
				s->failed = s->nomem = 1;
				return -1;
			}
			*s->keep = p;
			s->cap = cap;
		}
		memcpy(*s->keep + s->used, buf, n);
		s->used += n;
		(*s->keep)[s->used] = '\0';
	}
	return len;
}

static int
sink_close(void *ctx)
{
	(void)ctx;
	return 0;
}

/*
 * libxml2 walks every node from doc->children and asks the visibility
 * test about each, output or not: for SignedInfo, a few hundred bytes
 * at the end of a 60 MB aggregate, that is most of the cost of
 * canonicalising the whole aggregate, spent on nodes that are not in the
 * set.  A subtree below the document element with nothing left out and
 * no ID to count can start the walk at itself: the canonicaliser is
 * handed a document head, made for the call, whose children begin at
 * the subtree (its following siblings are walked too, and are not in
 * the set).  What the output takes from outside the subtree, the namespaces
 * and xml: attributes in scope, libxml2 finds through the nodes' parents,
 * not through the walk, and the invisible ancestors leave nothing on its
 * stack of rendered namespaces.  fs_c14n_apex_same() checks that this
 * holds on the libxml2 in use, once; when it does not, the whole walk.
 * One difference remains: libxml2 refuses a namespace with a relative
 * URI wherever it walks, so the subtree alone is refused only for one
 * within it.  The document element, which every Reference fedsign
 * verifies covers and which is canonicalised first, is still refused.
 */
static int
execute(xmlDocPtr doc, struct fs_c14n_set *set, const struct fs_c14n *c,
    xmlOutputBufferPtr buf, int from_apex)
{
	xmlDoc head;

	/*
	 * Only what libxml2 reads of it: children, where the walk starts,
	 * and the DTD, where xmlNodeListGetString would look up an entity
	 * reference.  Not a copy of all of *doc: the serialiser writes
	 * doc->encoding on another thread while this verifies (pipeline.c).
	 */
	if (from_apex) {
		memset(&head, 0, sizeof(head));
		head.type = doc->type;
		head.name = doc->name;
		head.children = set->root;
		head.intSubset = doc->intSubset;
		head.extSubset = doc->extSubset;
		head.doc = &head;
		doc = &head;
	}
	set->id_count = 0;
	set->last = NULL;
	return xmlC14NExecute(doc, visible, set, c->mode, c->prefixes,
	    c->comments, buf);
}

/* c of set on doc both ways into two buffers; 1 when the bytes agree. */
static int
agree(xmlDocPtr doc, struct fs_c14n_set *set, const struct fs_c14n *c)
{
	xmlBufferPtr b[2] = { xmlBufferCreate(), xmlBufferCreate() };
	int ok = b[0] != NULL && b[1] != NULL;

	for (int i = 0; ok && i < 2; i++) {
		xmlOutputBufferPtr o = xmlOutputBufferCreateBuffer(b[i], NULL);

		ok = o != NULL && execute(doc, set, c, o, i) >= 0;
		if (o != NULL && xmlOutputBufferClose(o) < 0)
			ok = 0;
	}
	ok = ok && xmlBufferLength(b[0]) > 0 &&
	    xmlBufferLength(b[0]) == xmlBufferLength(b[1]) &&
	    memcmp(xmlBufferContent(b[0]), xmlBufferContent(b[1]),
	    (size_t)xmlBufferLength(b[0])) == 0;
	for (int i = 0; i < 2; i++)
		if (b[i] != NULL)
			xmlBufferFree(b[i]);
	return ok;
}

static pthread_mutex_t apex_lock = PTHREAD_MUTEX_INITIALIZER;
static int apex_checked, apex_agrees;	/* written once, under apex_lock */

/*
 * A subtree with everything the rules bring in from outside it: default,
 * prefixed and undeclared namespaces used or not, xml:lang, xml:space and
 * xml:base above it (C14N 1.0 copies the first two, 1.1 joins xml:base),
 * comments and processing instructions inside and around it, siblings
 * before and after; every mode, with and without comments and an
 * InclusiveNamespaces list.
 */
static void
check_apex(void)
{
	static const char doc[] = "<?a b?><!--0--><r xmlns=\"urn:d\" "
	    "xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" xmlns:u=\"urn:u\" "
	    "xml:lang=\"en\" xml:space=\"preserve\" xml:base=\"http://h/a/\">"
	    "<x p:a=\"1\"/><m xmlns:s=\"urn:s\" xml:lang=\"de\" "
	    "xml:base=\"b/\"><w/><s:k q:b=\"2\" c=\"3\"><!--1--><?c d?>"
	    "<p:n xmlns=\"\" a=\"&amp;&lt;&#9;\"> t &#xD; <e xmlns=\"urn:e\""
	    "/></p:n><d u:v=\"\"/></s:k><z/><!--2--></m><y/></r><!--3-->";
	static const xmlChar *lists[][4] = {
		{ BAD_CAST "#default", BAD_CAST "p", BAD_CAST "s", NULL },
		{ BAD_CAST "q", BAD_CAST "u", NULL, NULL },
	};
	const int modes[] = { XML_C14N_EXCLUSIVE_1_0, XML_C14N_1_0,
	    XML_C14N_1_1 };
	struct fs_c14n_set set = { NULL, NULL, NULL, 0, NULL, 0 };
	xmlDocPtr d;
	int ok = 1;

	if (fs_md_parse_mem(doc, sizeof(doc) - 1, "check", NULL, &d, NULL))
		return;
	/* r, m, s:k */
	set.root = fs_md_next_element(fs_md_first_element(
	    xmlDocGetRootElement(d)));
	set.root = fs_md_next_element(fs_md_first_element(set.root));
	ok = set.root != NULL && xmlStrEqual(set.root->name, BAD_CAST "k");
	for (size_t m = 0; ok && m < sizeof(modes) / sizeof(modes[0]); m++)
		for (int cm = 0; ok && cm < 2; cm++)
			for (size_t l = 0; ok && l <= 2; l++) {
				struct fs_c14n c = { modes[m], cm, NULL };

				if (l > 0 && modes[m] != XML_C14N_EXCLUSIVE_1_0)
					break;
				if (l > 0)
					c.prefixes = (xmlChar **)lists[l - 1];
				ok = agree(d, &set, &c);
			}
	xmlFreeDoc(d);
	apex_agrees = ok;
}

void
fs_dsig_once(pthread_mutex_t *lock, int *done, void (*fn)(void))
{
	pthread_mutex_lock(lock);
	if (!*done) {
		fn();
		*done = 1;
	}
	pthread_mutex_unlock(lock);
}

int
fs_c14n_apex_same(void)
{
	fs_dsig_once(&apex_lock, &apex_checked, check_apex);
	return apex_agrees;
}

/* Run the canonicaliser into buf; judge its outcome. */
static int
run(xmlDocPtr doc, struct fs_c14n_set *set, const struct fs_c14n *c,
    xmlOutputBufferPtr buf, int *sink_failed, fs_err *err)
{
	unsigned long failures = fs_md_alloc_failures();
	struct errs x = { 0 };
	int r, closed, from_apex;

	from_apex = set->root != NULL && set->exclude == NULL &&
	    set->id == NULL && set->root->parent != NULL &&
	    set->root->parent->type == XML_ELEMENT_NODE && fs_c14n_apex_same();
	xmlSetStructuredErrorFunc(&x, keep_first);
	r = execute(doc, set, c, buf, from_apex);
	xmlSetStructuredErrorFunc(NULL, NULL);
	closed = buf != NULL ? xmlOutputBufferClose(buf) : 0;
	if (fs_md_alloc_failures() != failures || x.first == XML_ERR_NO_MEMORY)
		return fs_err_nomem(err, "while canonicalising");
	if (r < 0 || closed < 0 || (sink_failed != NULL && *sink_failed)) {
		/* The canonicaliser refuses some input, e.g. xmlns:p="rel". */
		if (x.first == XML_C14N_RELATIVE_NAMESPACE)
			return fs_err_rule(err, FS_RULE_C14N, "the document "
			    "cannot be canonicalised: it declares a namespace "
			    "with a relative URI, which XML canonicalisation "
			    "forbids; fix the xmlns declaration");
		return fs_err_set(err, FS_EINTERNAL, "canonicalisation failed "
		    "(libxml2 error %d)", x.first);
	}
	return FS_OK;
}

int
fs_c14n_digest(xmlDocPtr doc, struct fs_c14n_set *set,
    const struct fs_c14n *c, const EVP_MD *md, unsigned char *out,
    unsigned int *outlen, fs_err *err)
{
	struct sink s = { 0 };
	xmlOutputBufferPtr buf;
	int rc;

	if ((s.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(s.md, md, NULL) != 1) {
		EVP_MD_CTX_free(s.md);
		return fs_err_openssl(err, FS_EINTERNAL, "digest init failed");
	}
	buf = xmlOutputBufferCreateIO(sink_write, sink_close, &s, NULL);
	if (buf == NULL) {
		EVP_MD_CTX_free(s.md);
		return fs_err_nomem(err, "while canonicalising");
	}
	if ((rc = run(doc, set, c, buf, &s.failed, err)) == FS_OK &&
	    EVP_DigestFinal_ex(s.md, out, outlen) != 1)
		rc = fs_err_openssl(err, FS_EINTERNAL, "digest failed");
	EVP_MD_CTX_free(s.md);
	return rc;
}

int
fs_c14n_buffer(xmlDocPtr doc, struct fs_c14n_set *set,
    const struct fs_c14n *c, xmlBufferPtr *out, fs_err *err)
{
	xmlOutputBufferPtr ob;
	xmlBufferPtr b;
	int rc;

	*out = NULL;
	if ((b = xmlBufferCreate()) == NULL)
		return fs_err_nomem(err, "while canonicalising");
	if ((ob = xmlOutputBufferCreateBuffer(b, NULL)) == NULL) {
		xmlBufferFree(b);
		return fs_err_nomem(err, "while canonicalising");
	}
	if ((rc = run(doc, set, c, ob, NULL, err)) != FS_OK) {
		xmlBufferFree(b);
		return rc;
	}
	*out = b;
	return FS_OK;
}

char *
fs_b64_encode(const unsigned char *in, size_t len, int wrap)
{
	size_t n = 4 * ((len + 2) / 3), lines = wrap ? n / 64 + 2 : 0;
	char *tmp, *out, *p;

	if ((tmp = malloc(n + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)tmp, in, (int)len);
	if (!wrap)
		return tmp;
	if ((out = malloc(n + lines + 1)) == NULL) {
		free(tmp);
		return NULL;
	}
	p = out;
	*p++ = '\n';
	for (size_t i = 0; i < n; i += 64) {
		size_t k = n - i < 64 ? n - i : 64;
		memcpy(p, tmp + i, k);
		p += k;
		*p++ = '\n';
	}
	*p = '\0';
	free(tmp);
	return out;
}

int
fs_b64_decode(const xmlChar *s, unsigned char **out, size_t *len)
{
	EVP_ENCODE_CTX *ctx;
	size_t n = strlen((const char *)s);
	unsigned char *buf;
	int a, b = 0, pad = 0;

	*out = NULL;
	*len = 0;
	/* OpenSSL's decoder stops quietly at '-': check the text first. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !((c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/'))
			return -1;
	}
	if (pad > 2 || n > INT32_MAX)
		return -1;
	if ((buf = malloc(n / 4 * 3 + 3)) == NULL)
		return -1;
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL) {
		free(buf);
		return -1;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &a, s, (int)n) < 0 ||
	    EVP_DecodeFinal(ctx, buf + a, &b) < 0) {
		EVP_ENCODE_CTX_free(ctx);
		free(buf);
		return -1;
	}
	EVP_ENCODE_CTX_free(ctx);
	*out = buf;
	*len = (size_t)a + (size_t)b;
	return 0;
}

/* The entity without its Signatures, ID and validUntil. */
static int
content_visible(void *vroot, xmlNodePtr node, xmlNodePtr parent)
{
	xmlNodePtr root = vroot, n = node;

	if (node->type == XML_ATTRIBUTE_NODE && node->parent == root &&
	    ((xmlAttrPtr)node)->ns == NULL &&
	    (xmlStrEqual(node->name, BAD_CAST "ID") ||
	    xmlStrEqual(node->name, BAD_CAST "validUntil")))
		return 0;
	if (node->type == XML_NAMESPACE_DECL)
		n = parent;
	else if (node->type != XML_ELEMENT_NODE)
		n = node->parent;
	for (; n != NULL; n = n->parent) {
		if (n == root)
			return 1;
		if (n->parent == root && fs_md_is(n, FS_NS_DS, "Signature"))
			return 0;
	}
	return 0;
}

int
fs_dsig_content_digest(xmlNodePtr entity, unsigned char out[32], fs_err *err)
{
	return fs_dsig_content_c14n(entity, out, NULL, NULL, err);
}

int
fs_dsig_content_c14n(xmlNodePtr entity, unsigned char out[32], char **bytes,
    size_t *len, fs_err *err)
{
	unsigned long failures = fs_md_alloc_failures();
	struct sink s = { 0 };
	struct errs x = { 0 };
	xmlOutputBufferPtr buf;
	unsigned int mdlen;
	int r, closed, rc = FS_OK;

	if (bytes != NULL) {
		*bytes = NULL;
		*len = 0;
		s.keep = bytes;
	}
	if ((s.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(s.md);
		return fs_err_openssl(err, FS_EINTERNAL, "digest init failed");
	}
	if ((buf = xmlOutputBufferCreateIO(sink_write, sink_close, &s, NULL)) ==
	    NULL) {
		EVP_MD_CTX_free(s.md);
		return fs_err_nomem(err, "while canonicalising");
	}
	xmlSetStructuredErrorFunc(&x, keep_first);
	r = xmlC14NExecute(entity->doc, content_visible, entity,
	    XML_C14N_EXCLUSIVE_1_0, NULL, 0, buf);
	xmlSetStructuredErrorFunc(NULL, NULL);
	closed = xmlOutputBufferClose(buf);
	if (fs_md_alloc_failures() != failures || s.nomem)
		rc = fs_err_nomem(err, "while canonicalising");
	else if (r < 0 || closed < 0 || s.failed)
		rc = x.first == XML_C14N_RELATIVE_NAMESPACE ?
		    fs_err_rule(err, FS_RULE_C14N, "the entity cannot be "
		    "canonicalised: it declares a namespace with a relative "
		    "URI") : fs_err_set(err, FS_EINTERNAL, "canonicalisation "
		    "failed (libxml2 error %d)", x.first);
	else if (EVP_DigestFinal_ex(s.md, out, &mdlen) != 1)
		rc = fs_err_openssl(err, FS_EINTERNAL, "digest failed");
	EVP_MD_CTX_free(s.md);
	if (bytes != NULL) {
		if (rc != FS_OK) {
			free(*bytes);
			*bytes = NULL;
		} else if (*bytes != NULL) {
			char *fit = realloc(*bytes, s.used + 1);

			if (fit != NULL)
				*bytes = fit;
			*len = s.used;
		}
	}
	return rc;
}

/*
 * The root's start tag in exclusive c14n: "<name", the namespace
 * declarations, the unqualified attributes sorted by name, the
 * qualified ones (sorted by namespace URI), each as ' name="value"'
 * with '"' written "&quot;", then '>'.
 */
struct tag_attr {
	size_t off, len;		/* ' name="value"' */
	size_t nlen;			/* of name, at off + 1 */
	int kind;			/* 0 xmlns, 1 unqualified, 2 qualified */
};

#define TAG_ATTRS 64

static const char *const set_names[] = { "ID", "cacheDuration",
    "validUntil" };			/* in c14n order */

static size_t
start_tag(const char *c, size_t len, struct tag_attr *a, size_t *na)
{
	size_t i = 1, n = 0;
	int last = 0;

	if (len < 2 || c[0] != '<')
		return 0;
	while (i < len && c[i] != ' ' && c[i] != '>' && c[i] != '"')
		i++;
	while (i < len && c[i] == ' ') {
		size_t start = i++, name = i;

		while (i < len && c[i] != '=' && c[i] != ' ' && c[i] != '>' &&
		    c[i] != '"')
			i++;
		if (i == name || i + 1 >= len || c[i] != '=' || c[i + 1] != '"' ||
		    n == TAG_ATTRS)
			return 0;
		a[n].off = start;
		a[n].nlen = i - name;
		if ((a[n].nlen == 5 && memcmp(c + name, "xmlns", 5) == 0) ||
		    (a[n].nlen > 6 && memcmp(c + name, "xmlns:", 6) == 0))
			a[n].kind = 0;
		else
			a[n].kind = memchr(c + name, ':', a[n].nlen) ? 2 : 1;
		/* The order c14n writes them in, or not what we think. */
		if (a[n].kind < last)
			return 0;
		last = a[n].kind;
		for (i += 2; i < len && c[i] != '"'; i++)
			;
		if (i >= len)
			return 0;
		a[n].len = ++i - start;
		n++;
	}
	if (i >= len || c[i] != '>')
		return 0;
	*na = n;
	return i + 1;
}

/* ' name="value"', value as c14n writes an attribute's; *p advanced. */
static void
put_attr(char **p, const char *name, const xmlChar *v)
{
	char *o = *p;

	*o++ = ' ';
	o = stpcpy(o, name);
	*o++ = '=';
	*o++ = '"';
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '&':	o = stpcpy(o, "&amp;"); break;
		case '<':	o = stpcpy(o, "&lt;"); break;
		case '"':	o = stpcpy(o, "&quot;"); break;
		case '\t':	o = stpcpy(o, "&#x9;"); break;
		case '\n':	o = stpcpy(o, "&#xA;"); break;
		case '\r':	o = stpcpy(o, "&#xD;"); break;
		default:	*o++ = (char)*v; break;
		}
	}
	*o++ = '"';
	*p = o;
}

/* Whether the unqualified attribute a comes after name in c14n order. */
static int
after(const char *c, const struct tag_attr *a, const char *name)
{
	size_t n = strlen(name), m = a->nlen < n ? a->nlen : n;
	int r = memcmp(c + a->off + 1, name, m);

	return r > 0 || (r == 0 && a->nlen > n);
}

int
fs_c14n_refinalise(const char *content, size_t len, xmlNodePtr root,
    const EVP_MD *md, unsigned char *out, unsigned int *outlen)
{
	struct tag_attr a[TAG_ATTRS];
	xmlChar *v[3] = { NULL, NULL, NULL };
	size_t na, end, need, k = 0;
	char *tag = NULL, *p;
	EVP_MD_CTX *ctx = NULL;
	int rc = -1;

	if ((end = start_tag(content, len, a, &na)) == 0)
		return 0;
	need = end + 1;
	for (size_t i = 0; i < 3; i++) {
		xmlAttrPtr at = xmlHasNsProp(root, BAD_CAST set_names[i], NULL);

		if (at == NULL || at->type != XML_ATTRIBUTE_NODE)
			continue;
		if ((v[i] = xmlNodeListGetString(root->doc, at->children, 1)) ==
		    NULL && (v[i] = xmlStrdup(BAD_CAST "")) == NULL)
			goto out;
		need += strlen(set_names[i]) + 4 + 6 * (size_t)xmlStrlen(v[i]);
	}
	if ((tag = malloc(need)) == NULL)
		goto out;
	/* "<name", the declarations; then the unqualified attributes with
	 * the three set as root has them, in order; then the rest. */
	p = tag;
	memcpy(p, content, na > 0 ? a[0].off : end - 1);
	p += na > 0 ? a[0].off : end - 1;
	for (size_t i = 0; i < na; i++) {
		int skip = 0;

		if (a[i].kind == 1)
			for (size_t j = 0; j < 3; j++)
				if (a[i].nlen == strlen(set_names[j]) &&
				    memcmp(content + a[i].off + 1, set_names[j],
				    a[i].nlen) == 0)
					skip = 1;
		if (a[i].kind >= 1)
			for (; k < 3 && (a[i].kind == 2 ||
			    after(content, &a[i], set_names[k])); k++)
				if (v[k] != NULL)
					put_attr(&p, set_names[k], v[k]);
		if (!skip) {
			memcpy(p, content + a[i].off, a[i].len);
			p += a[i].len;
		}
	}
	for (; k < 3; k++)
		if (v[k] != NULL)
			put_attr(&p, set_names[k], v[k]);
	*p++ = '>';
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, tag, (size_t)(p - tag)) != 1 ||
	    EVP_DigestUpdate(ctx, content + end, len - end) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, outlen) != 1)
		goto out;
	rc = 1;
out:
	EVP_MD_CTX_free(ctx);
	free(tag);
	for (size_t i = 0; i < 3; i++)
		xmlFree(v[i]);
	return rc;
}
