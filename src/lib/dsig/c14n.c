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

#include <stdlib.h>
#include <string.h>

#include <libxml/xmlerror.h>
#include <openssl/evp.h>

#include "fedsign/md.h"

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
};

static int
sink_write(void *ctx, const char *buf, int len)
{
	struct sink *s = ctx;

	if (EVP_DigestUpdate(s->md, buf, (size_t)len) != 1) {
		s->failed = 1;
		return -1;
	}
	return len;
}

static int
sink_close(void *ctx)
{
	(void)ctx;
	return 0;
}

/* Run the canonicaliser into buf; judge its outcome. */
static int
run(xmlDocPtr doc, struct fs_c14n_set *set, const struct fs_c14n *c,
    xmlOutputBufferPtr buf, int *sink_failed, fs_err *err)
{
	unsigned long failures = fs_md_alloc_failures();
	struct errs x = { 0 };
	int r, closed;

	xmlSetStructuredErrorFunc(&x, keep_first);
	set->id_count = 0;
	set->last = NULL;
	r = xmlC14NExecute(doc, visible, set, c->mode, c->prefixes,
	    c->comments, buf);
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
	struct sink s = { NULL, 0 };
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
	unsigned long failures = fs_md_alloc_failures();
	struct sink s = { NULL, 0 };
	struct errs x = { 0 };
	xmlOutputBufferPtr buf;
	unsigned int len;
	int r, closed, rc = FS_OK;

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
	if (fs_md_alloc_failures() != failures)
		rc = fs_err_nomem(err, "while canonicalising");
	else if (r < 0 || closed < 0 || s.failed)
		rc = x.first == XML_C14N_RELATIVE_NAMESPACE ?
		    fs_err_rule(err, FS_RULE_C14N, "the entity cannot be "
		    "canonicalised: it declares a namespace with a relative "
		    "URI") : fs_err_set(err, FS_EINTERNAL, "canonicalisation "
		    "failed (libxml2 error %d)", x.first);
	else if (EVP_DigestFinal_ex(s.md, out, &len) != 1)
		rc = fs_err_openssl(err, FS_EINTERNAL, "digest failed");
	EVP_MD_CTX_free(s.md);
	return rc;
}
