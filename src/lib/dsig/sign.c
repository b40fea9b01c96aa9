/*
 * Enveloped XML-DSig signing of SAML metadata.
 *
 * The reference digest is the exclusive canonical form of the document
 * element without the Signature, streamed from libxml2's canonicaliser
 * into an OpenSSL digest: the document is never serialised in memory.
 * SignedInfo is built and canonicalised in a small scratch document, so no
 * pass over the whole document is spent on it, then moved into place.
 */
#include "dsig/dsig_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "fedsign/md.h"
#include "fedsign/util.h"

struct algs {
	const struct fs_alg *digest;
	const struct fs_alg *sig;
};

static int
pick_algs(const fs_signer *s, const struct fs_sign_opts *o, struct algs *a,
    fs_err *err)
{
	enum fs_keytype kt = fs_signer_type(s);

	a->digest = o->digest ? o->digest : fs_alg_by_name(FS_ALG_DIGEST,
	    "sha256");
	a->sig = o->signature;
	if (a->sig == NULL)
		a->sig = fs_alg_signature(kt, kt == FS_KEY_EC &&
		    fs_signer_bits(s) > 256 ? NID_sha384 : NID_sha256);
	if (a->digest == NULL || a->digest->kind != FS_ALG_DIGEST ||
	    !(a->digest->flags & FS_ALGF_SIGN))
		return fs_err_set(err, FS_EUSAGE, "digest %s is not allowed: "
		    "use sha256, sha384 or sha512", a->digest ?
		    a->digest->name : "?");
	if (a->sig == NULL || a->sig->kind != FS_ALG_SIGNATURE ||
	    !(a->sig->flags & FS_ALGF_SIGN))
		return fs_err_set(err, FS_EUSAGE, "signature algorithm %s is "
		    "not allowed", a->sig ? a->sig->name : "?");
	if (a->sig->key != kt)
		return fs_err_set(err, FS_EUSAGE, "signature algorithm %s does "
		    "not fit the %s key", a->sig->name, kt == FS_KEY_EC ? "EC" :
		    "RSA");
	return FS_OK;
}

static int
new_id(char *buf, size_t len)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	buf[0] = '_';
	fs_hex(r, sizeof(r), buf + 1, len - 1);
	return 0;
}

static xmlNodePtr
child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *alg,
    const char *text)
{
	xmlNodePtr n, nl;

	if ((nl = xmlNewDocText(parent->doc, BAD_CAST "\n")) == NULL)
		return NULL;
	xmlAddChild(parent, nl);
	n = xmlNewChild(parent, ns, BAD_CAST name, NULL);
	if (n == NULL)
		return NULL;
	if (text != NULL) {
		xmlNodeAddContent(n, BAD_CAST text);
		if (n->children == NULL)
			return NULL;
	}
	if (alg != NULL && xmlSetProp(n, BAD_CAST "Algorithm", BAD_CAST alg) ==
	    NULL)
		return NULL;
	return n;
}

static int
newline(xmlNodePtr parent)
{
	xmlNodePtr nl = xmlNewDocText(parent->doc, BAD_CAST "\n");

	if (nl == NULL)
		return -1;
	xmlAddChild(parent, nl);
	return 0;
}

/*
 * Build <ds:Signature> as the root of a scratch document, with SignedInfo
 * complete; *sig_value is the empty SignatureValue to fill.
 */
static int
build_signature(const struct algs *a, const char *id, const char *digest,
    X509 *cert, xmlDocPtr *out, xmlNodePtr *sig_value, fs_err *err)
{
	xmlDocPtr d;
	xmlNodePtr sig, si, ref, tr, kd;
	xmlNsPtr ds;
	unsigned char *der = NULL;
	char *uri = NULL, *cb64 = NULL;
	int n;

	*out = NULL;
	if ((d = xmlNewDoc(BAD_CAST "1.0")) == NULL)
		return fs_err_nomem(err, "building the signature");
	if ((sig = xmlNewDocNode(d, NULL, BAD_CAST "Signature", NULL)) == NULL)
		goto oom;
	xmlDocSetRootElement(d, sig);
	if ((ds = xmlNewNs(sig, BAD_CAST FS_NS_DS, BAD_CAST "ds")) == NULL)
		goto oom;
	xmlSetNs(sig, ds);
	if ((uri = malloc(strlen(id) + 2)) == NULL)
		goto oom;
	uri[0] = '#';
	strcpy(uri + 1, id);
	if ((si = child(sig, ds, "SignedInfo", NULL, NULL)) == NULL ||
	    !child(si, ds, "CanonicalizationMethod", FS_URI_EXC_C14N, NULL) ||
	    !child(si, ds, "SignatureMethod", a->sig->uri, NULL) ||
	    (ref = child(si, ds, "Reference", NULL, NULL)) == NULL ||
	    xmlSetProp(ref, BAD_CAST "URI", BAD_CAST uri) == NULL ||
	    (tr = child(ref, ds, "Transforms", NULL, NULL)) == NULL ||
	    !child(tr, ds, "Transform", FS_URI_ENVELOPED, NULL) ||
	    !child(tr, ds, "Transform", FS_URI_EXC_C14N, NULL) ||
	    newline(tr) == -1 ||
	    !child(ref, ds, "DigestMethod", a->digest->uri, NULL) ||
	    !child(ref, ds, "DigestValue", NULL, digest) ||
	    newline(ref) == -1 || newline(si) == -1 ||
	    (*sig_value = child(sig, ds, "SignatureValue", NULL, NULL)) == NULL)
		goto oom;
	if (cert != NULL) {
		if ((n = i2d_X509(cert, &der)) <= 0 ||
		    (cb64 = fs_b64_encode(der, (size_t)n, 1)) == NULL ||
		    (kd = child(sig, ds, "KeyInfo", NULL, NULL)) == NULL ||
		    (kd = child(kd, ds, "X509Data", NULL, NULL)) == NULL ||
		    !child(kd, ds, "X509Certificate", NULL, cb64) ||
		    newline(kd) == -1 || newline(kd->parent) == -1)
			goto oom;
	}
	if (newline(sig) == -1)
		goto oom;
	OPENSSL_free(der);
	free(cb64);
	free(uri);
	*out = d;
	return FS_OK;
oom:
	OPENSSL_free(der);
	free(cb64);
	free(uri);
	xmlFreeDoc(d);
	return fs_err_nomem(err, "building the signature");
}

/* An existing signature on the root is replaced. */
static void
drop_signatures(xmlNodePtr root)
{
	xmlNodePtr c, next;

	for (c = root->children; c != NULL; c = next) {
		next = c->next;
		if (fs_md_is(c, FS_NS_DS, "Signature")) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
		}
	}
}

/* The root's ID, given a fresh one when it has none; caller frees. */
static int
root_id(xmlNodePtr root, xmlChar **id, fs_err *err)
{
	char fresh[40];
	int rc;

	*id = xmlGetNoNsProp(root, BAD_CAST "ID");
	if (*id != NULL && (*id)[0] != '\0')
		return FS_OK;
	xmlFree(*id);
	*id = NULL;
	if (new_id(fresh, sizeof(fresh)) == -1)
		return fs_err_set(err, FS_EINTERNAL, "no random bytes");
	if ((rc = fs_md_set_attr(root, "ID", fresh, err)) != FS_OK)
		return rc;
	if ((*id = xmlStrdup(BAD_CAST fresh)) == NULL)
		return fs_err_nomem(err, "signing");
	return FS_OK;
}

int
fs_dsig_sign(xmlDocPtr doc, fs_signer *signer, const struct fs_sign_opts *o,
    fs_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	struct fs_c14n_set set = { NULL, NULL, NULL, 0, NULL, 0 };
	xmlNodePtr root, sv = NULL, sig;
	xmlDocPtr scratch = NULL;
	xmlChar *id = NULL;
	xmlBufferPtr sibuf = NULL;
	struct algs a;
	char *dv = NULL, *svb64 = NULL;
	uint8_t *sigbytes = NULL;
	size_t siglen;
	X509 *cert = NULL;
	int rc;

	if ((root = fs_md_root(doc, "input", err)) == NULL)
		return FS_ENOTVALID;
	if ((rc = pick_algs(signer, o, &a, err)) != FS_OK)
		return rc;
	if (!o->no_keyinfo && (cert = fs_signer_cert(signer)) == NULL) {
		const fs_err *why = fs_signer_cert_problem(signer);

		if (why != NULL) {
			if (err != NULL)
				*err = *why;
			fs_err_append(err, "give --cert, or use --no-keyinfo");
			return FS_ETOKEN;
		}
		return fs_err_set(err, FS_ETOKEN, "no certificate for the "
		    "signing key: give --cert, store one on the token with "
		    "'fedsign cert create', or use --no-keyinfo");
	}
	drop_signatures(root);
	if ((rc = root_id(root, &id, err)) != FS_OK)
		goto out;

	/* Enveloped: the digest covers the root without the Signature. */
	set.root = root;
	if ((rc = fs_c14n_digest(doc, &set, &fs_c14n_exc, fs_alg_md(a.digest), md,
	    &mdlen, err)) != FS_OK)
		goto out;
	if ((dv = fs_b64_encode(md, mdlen, 0)) == NULL)
		goto oom;
	if ((rc = build_signature(&a, (const char *)id, dv, o->no_keyinfo ?
	    NULL : cert, &scratch, &sv, err)) != FS_OK)
		goto out;

	/* SignedInfo's exclusive c14n is the same in the scratch document. */
	sig = xmlDocGetRootElement(scratch);
	set.root = fs_md_first_element(sig);
	if ((rc = fs_c14n_buffer(scratch, &set, &fs_c14n_exc, &sibuf, err)) != FS_OK)
		goto out;
	if ((rc = fs_signer_sign(signer, fs_alg_md(a.sig),
	    xmlBufferContent(sibuf), (size_t)xmlBufferLength(sibuf), 0,
	    &sigbytes, &siglen, err)) != FS_OK)
		goto out;
	if ((svb64 = fs_b64_encode(sigbytes, siglen, 1)) == NULL)
		goto oom;
	xmlNodeAddContent(sv, BAD_CAST svb64);
	if (sv->children == NULL)
		goto oom;

	/* Into place: the root's first child. */
	if ((sig = xmlDocCopyNode(sig, doc, 1)) == NULL)
		goto oom;
	if (root->children != NULL)
		xmlAddPrevSibling(root->children, sig);
	else
		xmlAddChild(root, sig);
	rc = FS_OK;
	goto out;
oom:
	rc = fs_err_nomem(err, "signing");
out:
	free(svb64);
	free(sigbytes);
	if (sibuf != NULL)
		xmlBufferFree(sibuf);
	xmlFreeDoc(scratch);
	free(dv);
	xmlFree(id);
	return rc;
}

/* --- many small documents, signed into bytes ----------------------------- */

/*
 * What every signature of a run shares, made once: the algorithms, the
 * key and the KeyInfo.
 */
struct fs_dsig_tmpl {
	struct algs a;
	struct fs_sign_opts o;
	EVP_PKEY *pub;			/* the signer's */
	fs_verifier *ver;		/* of its signatures */
	enum fs_keytype type;
	unsigned bits;
	char *keyinfo;			/* "\n<ds:KeyInfo>...</ds:KeyInfo>" */
};

int
fs_dsig_tmpl_new(fs_signer *signer, const struct fs_sign_opts *o,
    struct fs_dsig_tmpl **out, fs_err *err)
{
	struct fs_dsig_tmpl *t;
	unsigned char *der = NULL;
	char *cb64 = NULL;
	X509 *cert;
	size_t len;
	int n, rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return fs_err_nomem(err, "signing");
	t->o = *o;
	t->pub = fs_signer_pubkey(signer);
	t->type = fs_signer_type(signer);
	t->bits = fs_signer_bits(signer);
	if ((rc = pick_algs(signer, o, &t->a, err)) != FS_OK)
		goto fail;
	if (t->pub == NULL) {
		rc = fs_err_set(err, FS_ETOKEN, "the signing key has no "
		    "public key to check its signatures with");
		goto fail;
	}
	if ((rc = fs_verifier_new(t->pub, t->type, t->bits,
	    fs_alg_md(t->a.sig), &t->ver, err)) != FS_OK)
		goto fail;
	/* Without the certificate, fs_dsig_sign says why (sign_dom). */
	if (!o->no_keyinfo && (cert = fs_signer_cert(signer)) != NULL) {
		if ((n = i2d_X509(cert, &der)) <= 0 ||
		    (cb64 = fs_b64_encode(der, (size_t)n, 1)) == NULL)
			goto oom;
		len = strlen(cb64) + 128;
		if ((t->keyinfo = malloc(len)) == NULL)
			goto oom;
		snprintf(t->keyinfo, len, "\n<ds:KeyInfo>\n<ds:X509Data>\n"
		    "<ds:X509Certificate>%s</ds:X509Certificate>\n"
		    "</ds:X509Data>\n</ds:KeyInfo>", cb64);
	}
	OPENSSL_free(der);
	free(cb64);
	*out = t;
	return FS_OK;
oom:
	rc = fs_err_nomem(err, "signing");
fail:
	OPENSSL_free(der);
	free(cb64);
	fs_dsig_tmpl_free(t);
	return rc;
}

void
fs_dsig_tmpl_free(struct fs_dsig_tmpl *t)
{
	if (t == NULL)
		return;
	fs_verifier_free(t->ver);
	free(t->keyinfo);
	free(t);
}

/*
 * An ID that reads the same in the document, in its canonical form and
 * in the URI: an NCName of ASCII letters, digits, '_', '-' and '.'.
 */
static int
safe_id(const xmlChar *id)
{
	size_t n = 0;

	if (!((id[0] >= 'A' && id[0] <= 'Z') || (id[0] >= 'a' &&
	    id[0] <= 'z') || id[0] == '_'))
		return 0;
	for (const xmlChar *p = id; *p != '\0'; p++, n++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.'))
			return 0;
	return n <= 256;
}

/* Where the document element's start tag ends in libxml2's output (it
 * writes '>' in attribute values as "&gt;"), or 0. */
static size_t
after_start_tag(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *gt;

	if (len > 5 && memcmp(p, "<?xml", 5) == 0) {
		if ((p = memchr(p, '>', len)) == NULL)
			return 0;
		p++;
	}
	while (p < end && (*p == '\n' || *p == ' ' || *p == '\r' ||
	    *p == '\t'))
		p++;
	if (p >= end || *p != '<' || p + 1 >= end || p[1] == '?' ||
	    p[1] == '!' || (gt = memchr(p, '>', (size_t)(end - p))) == NULL ||
	    gt[-1] == '/')
		return 0;
	return (size_t)(gt + 1 - s);
}

/* fs_dsig_sign, its signature checked with the public key, serialised. */
static int
sign_dom(const struct fs_dsig_tmpl *t, xmlDocPtr doc, fs_signer *signer,
    char **buf, size_t *len, fs_err *err)
{
	struct fs_verify_opts vo = { 0 };
	int rc;

	if ((rc = fs_dsig_sign(doc, signer, &t->o, err)) != FS_OK)
		return rc;
	vo.key = t->pub;
	vo.allow_expired = 1;
	vo.signed_here = 1;
	if ((rc = fs_dsig_verify(doc, &vo, NULL, err)) != FS_OK)
		return rc;
	return fs_md_save_mem(doc, buf, len, err);
}

/*
 * SignedInfo as text, canonical (exclusive c14n of SignedInfo alone:
 * xmlns:ds on it, empty elements as "<x></x>") or as libxml2 writes it
 * in the document ("<x/>"): the elements and white space build_signature
 * makes.  The URIs and base64 need no escaping, nor the ID (safe_id).
 */
static char *
signed_info(const struct fs_dsig_tmpl *t, const xmlChar *id, const char *dv,
    int canonical)
{
	char *s;

#define END(name) (canonical ? "></ds:" name ">" : "/>")
	if (asprintf(&s, "<ds:SignedInfo%s>\n"
	    "<ds:CanonicalizationMethod Algorithm=\"" FS_URI_EXC_C14N "\"%s\n"
	    "<ds:SignatureMethod Algorithm=\"%s\"%s\n"
	    "<ds:Reference URI=\"#%s\">\n<ds:Transforms>\n"
	    "<ds:Transform Algorithm=\"" FS_URI_ENVELOPED "\"%s\n"
	    "<ds:Transform Algorithm=\"" FS_URI_EXC_C14N "\"%s\n"
	    "</ds:Transforms>\n<ds:DigestMethod Algorithm=\"%s\"%s\n"
	    "<ds:DigestValue>%s</ds:DigestValue>\n</ds:Reference>\n"
	    "</ds:SignedInfo>", canonical ? " xmlns:ds=\"" FS_NS_DS "\"" : "",
	    END("CanonicalizationMethod"), t->a.sig->uri, END("SignatureMethod"),
	    (const char *)id, END("Transform"), END("Transform"),
	    t->a.digest->uri, END("DigestMethod"), dv) < 0)
		return NULL;
#undef END
	return s;
}

/* A document made ready for its signature: all but the token's part. */
struct fs_dsig_prep {
	xmlDocPtr doc;			/* the general way: signed by finish */
	char *csi;			/* SignedInfo, canonical */
	char *dsi;			/* SignedInfo as in the document */
	char *u;			/* the document without its Signature */
	size_t ulen, at;		/* its length; where the Signature goes */
	unsigned char md[EVP_MAX_MD_SIZE];	/* the Reference's digest */
	unsigned int mdlen;
	unsigned char sih[EVP_MAX_MD_SIZE];	/* csi's, to check the */
	unsigned int sihlen;			/* signature with */
};

void
fs_dsig_prep_free(struct fs_dsig_prep *p)
{
	if (p == NULL)
		return;
	xmlFreeDoc(p->doc);
	free(p->csi);
	free(p->dsi);
	free(p->u);
	free(p);
}

int
fs_dsig_prepare(const struct fs_dsig_tmpl *t, xmlDocPtr doc,
    const char *content, size_t contentlen, struct fs_dsig_prep **out,
    fs_err *err)
{
	struct fs_c14n_set set = { NULL, NULL, NULL, 0, NULL, 0 };
	struct fs_dsig_prep *p;
	xmlNodePtr root;
	xmlChar *id = NULL;
	char *dv = NULL, *u;
	int rc, n;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		xmlFreeDoc(doc);
		return fs_err_nomem(err, "signing");
	}
	if ((root = fs_md_root(doc, "input", err)) == NULL) {
		rc = FS_ENOTVALID;
		goto out;
	}
	drop_signatures(root);
	if ((rc = root_id(root, &id, err)) != FS_OK)
		goto out;
	/* What is out of the ordinary goes the general way: no certificate,
	 * an ID that is not plain ASCII, an empty root, or anything beside
	 * the root (a comment, a PI, a DTD) that would come before it. */
	if ((t->keyinfo == NULL && !t->o.no_keyinfo) || !safe_id(id) ||
	    root->children == NULL || doc->children != root ||
	    root->next != NULL) {
		p->doc = doc;		/* for fs_dsig_finish */
		doc = NULL;
		goto out;
	}

	/* Enveloped: the digest covers the root, the Signature not yet in;
	 * from the content's canonical bytes when they came. */
	n = content != NULL ? fs_c14n_refinalise(content, contentlen, root,
	    fs_alg_md(t->a.digest), p->md, &p->mdlen) : 0;
	if (n == -1)
		goto oom;
	set.root = root;
	if (n == 0 && (rc = fs_c14n_digest(doc, &set, &fs_c14n_exc,
	    fs_alg_md(t->a.digest), p->md, &p->mdlen, err)) != FS_OK)
		goto out;
	if ((dv = fs_b64_encode(p->md, p->mdlen, 0)) == NULL ||
	    (p->csi = signed_info(t, id, dv, 1)) == NULL ||
	    (p->dsi = signed_info(t, id, dv, 0)) == NULL)
		goto oom;
	if (EVP_Digest(p->csi, strlen(p->csi), p->sih, &p->sihlen,
	    fs_alg_md(t->a.sig), NULL) != 1) {
		rc = fs_err_openssl(err, FS_EINTERNAL, "digest failed");
		goto out;
	}

	/* The document as it is; the Signature goes after the root's start
	 * tag, where fs_dsig_sign puts it. */
	if ((rc = fs_md_save_mem(doc, &p->u, &p->ulen, err)) != FS_OK)
		goto out;
	if ((p->at = after_start_tag(p->u, p->ulen)) == 0) {
		rc = fs_err_set(err, FS_EINTERNAL, "cannot find the document "
		    "element in the serialised document");
		goto out;
	}
	if ((u = realloc(p->u, p->ulen + 1)) != NULL)
		p->u = u;
	goto out;
oom:
	rc = fs_err_nomem(err, "signing");
out:
	free(dv);
	xmlFree(id);
	xmlFreeDoc(doc);
	if (rc == FS_OK)
		*out = p;
	else
		fs_dsig_prep_free(p);
	return rc;
}

int
fs_dsig_prep_check(const struct fs_dsig_tmpl *t, const struct fs_dsig_prep *p,
    const char *name, fs_err *err)
{
	struct fs_c14n_set set = { NULL, NULL, NULL, 0, NULL, 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	xmlDocPtr doc;
	int rc;

	if (p->doc != NULL)
		return FS_OK;	/* fs_dsig_finish verifies it in full */
	if ((rc = fs_md_parse_mem(p->u, p->ulen, name, NULL, &doc, err)) !=
	    FS_OK)
		return rc;
	set.root = xmlDocGetRootElement(doc);
	rc = fs_c14n_digest(doc, &set, &fs_c14n_exc, fs_alg_md(t->a.digest), md,
	    &mdlen, err);
	xmlFreeDoc(doc);
	if (rc == FS_OK && (mdlen != p->mdlen || memcmp(md, p->md, mdlen) != 0))
		rc = fs_err_set(err, FS_EINTERNAL, "%s: the prepared document "
		    "does not have the digest made for it (a fault of "
		    "fedsign): nothing was signed", name);
	return rc;
}

/*
 * The SignatureValue sig checked with the template's public key, then the
 * signed document made around it.  FS_ENOTVALID when it does not verify.
 */
static int
assemble(const struct fs_dsig_tmpl *t, const struct fs_dsig_prep *p,
    const uint8_t *sig, size_t siglen, char **buf, size_t *len, fs_err *err)
{
	char *svb64 = NULL, *o = NULL;
	size_t olen;
	int rc, n;

	if ((rc = fs_verifier_check(t->ver, p->sih, p->sihlen, sig, siglen,
	    err)) != FS_OK)
		return rc;
	if ((svb64 = fs_b64_encode(sig, siglen, 1)) == NULL)
		goto oom;
	olen = p->ulen + strlen(p->dsi) + strlen(svb64) +
	    (t->keyinfo ? strlen(t->keyinfo) : 0) + 256;
	if ((o = malloc(olen)) == NULL)
		goto oom;
	n = snprintf(o, olen, "%.*s<ds:Signature xmlns:ds=\"" FS_NS_DS "\">\n"
	    "%s\n<ds:SignatureValue>%s</ds:SignatureValue>%s\n</ds:Signature>",
	    (int)p->at, p->u, p->dsi, svb64, t->keyinfo ? t->keyinfo : "");
	if (n < 0 || (size_t)n + (p->ulen - p->at) + 1 > olen) {
		rc = fs_err_set(err, FS_EINTERNAL, "signing: the document does "
		    "not fit");
		goto out;
	}
	memcpy(o + n, p->u + p->at, p->ulen - p->at);
	o[(size_t)n + p->ulen - p->at] = '\0';
	*buf = o;
	*len = (size_t)n + p->ulen - p->at;
	o = NULL;
	rc = FS_OK;
	goto out;
oom:
	rc = fs_err_nomem(err, "signing");
out:
	free(svb64);
	free(o);
	return rc;
}

int
fs_dsig_finish(const struct fs_dsig_tmpl *t, const struct fs_dsig_prep *p,
    fs_signer *signer, char **buf, size_t *len, uint8_t **sigout,
    size_t *siglenout, fs_err *err)
{
	uint8_t *sig = NULL;
	size_t siglen;
	int rc;

	*buf = NULL;
	*len = 0;
	if (sigout != NULL) {
		*sigout = NULL;
		*siglenout = 0;
	}
	if (p->doc != NULL)
		return sign_dom(t, p->doc, signer, buf, len, err);
	if ((rc = fs_signer_sign(signer, fs_alg_md(t->a.sig),
	    (const uint8_t *)p->csi, strlen(p->csi), 0, &sig, &siglen, err)) !=
	    FS_OK)
		return rc;
	/* The token's answer, checked before anything is made of it. */
	if ((rc = assemble(t, p, sig, siglen, buf, len, err)) == FS_ENOTVALID)
		rc = fs_err_set(err, FS_ETOKEN, "the token returned a "
		    "signature that does not verify with its public key: a "
		    "fault of the token; nothing it signed is used");
	if (rc == FS_OK && sigout != NULL) {
		*sigout = sig;
		*siglenout = siglen;
		sig = NULL;
	}
	free(sig);
	return rc;
}

int
fs_dsig_finish_with(const struct fs_dsig_tmpl *t, const struct fs_dsig_prep *p,
    const uint8_t *sig, size_t siglen, char **buf, size_t *len, fs_err *err)
{
	*buf = NULL;
	*len = 0;
	if (p->doc != NULL)
		return fs_err_set(err, FS_ENOTVALID, "the document is signed "
		    "the general way, which takes no SignatureValue");
	return assemble(t, p, sig, siglen, buf, len, err);
}
