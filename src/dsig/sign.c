/*
 * Enveloped XML-DSig signing of SAML metadata.
 *
 * The reference digest is the exclusive canonical form of the document
 * element without the Signature, streamed from libxml2's canonicaliser
 * into an OpenSSL digest: the document is never serialised in memory.
 * SignedInfo is built and canonicalised in a small scratch document, so no
 * pass over the whole document is spent on it, then moved into place.
 */
#include "dsig/dsig.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/valid.h>
#include <libxml/xmlsave.h>
#include <openssl/rand.h>

#include "dsig/dsig_int.h"
#include "md/md.h"
#include "util/duration.h"

struct algs {
	const EVP_MD *digest;
	const char *digest_uri;
	const EVP_MD *sig_md;
	const char *sig_uri;
};

static const char *
digest_uri(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha256: return FS_ALG_SHA256;
	case NID_sha384: return FS_ALG_SHA384;
	case NID_sha512: return FS_ALG_SHA512;
	default: return NULL;
	}
}

static int
pick_algs(const fs_signer *s, const struct fs_sign_opts *o, struct algs *a,
    fs_err *err)
{
	int ec = fs_signer_type(s) == FS_SIGKEY_EC;

	a->digest = o->digest ? o->digest : EVP_sha256();
	a->sig_md = o->sig_digest;
	if (a->sig_md == NULL)
		a->sig_md = ec && fs_signer_bits(s) > 256 ? EVP_sha384() :
		    EVP_sha256();
	if ((a->digest_uri = digest_uri(a->digest)) == NULL)
		return fs_err_set(err, FS_EUSAGE, "digest %s is not allowed: "
		    "use sha256, sha384 or sha512", EVP_MD_get0_name(a->digest));
	switch (EVP_MD_get_type(a->sig_md)) {
	case NID_sha256:
		a->sig_uri = ec ? FS_ALG_ECDSA_SHA256 : FS_ALG_RSA_SHA256;
		break;
	case NID_sha384:
		a->sig_uri = ec ? FS_ALG_ECDSA_SHA384 : FS_ALG_RSA_SHA384;
		break;
	case NID_sha512:
		a->sig_uri = ec ? FS_ALG_ECDSA_SHA512 : FS_ALG_RSA_SHA512;
		break;
	default:
		return fs_err_set(err, FS_EUSAGE, "signature hash %s is not "
		    "allowed", EVP_MD_get0_name(a->sig_md));
	}
	return FS_OK;
}

/* --- streaming canonicalisation into a digest ------------------------- */

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

/* The first error of a canonicalisation names the cause; the rest unwind. */
static int first_c14n_error;

static void
keep_first_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	if (first_c14n_error == 0 && e != NULL)
		first_c14n_error = e->code;
}

/* Only the document element's subtree: not the comments or PIs beside it. */
static int
in_root(void *root, xmlNodePtr node, xmlNodePtr parent)
{
	return parent == NULL || parent->type != XML_DOCUMENT_NODE ||
	    node == (xmlNodePtr)root;
}

/* Only the SignedInfo subtree of the scratch document. */
static int
in_signed_info(void *si, xmlNodePtr node, xmlNodePtr parent)
{
	xmlNodePtr n = node;

	/* Namespace nodes are not tree nodes: judge them by their element. */
	if (node->type == XML_NAMESPACE_DECL)
		n = parent;
	for (; n != NULL; n = n->parent)
		if (n == (xmlNodePtr)si)
			return 1;
	return 0;
}

/*
 * Digest the exclusive c14n (no comments) of doc's document element, or of
 * the whole of a scratch document when root is NULL.
 */
static int
c14n_digest(xmlDocPtr doc, xmlNodePtr root, const EVP_MD *md,
    unsigned char *out, unsigned int *outlen, fs_err *err)
{
	struct sink s = { NULL, 0 };
	xmlOutputBufferPtr buf;
	int rc = FS_EINTERNAL, r;

	if ((s.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(s.md, md, NULL) != 1) {
		EVP_MD_CTX_free(s.md);
		return fs_err_openssl(err, FS_EINTERNAL, "digest init failed");
	}
	buf = xmlOutputBufferCreateIO(sink_write, sink_close, &s, NULL);
	if (buf == NULL) {
		EVP_MD_CTX_free(s.md);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	first_c14n_error = 0;
	xmlSetStructuredErrorFunc(NULL, keep_first_error);
	r = xmlC14NExecute(doc, root ? in_root : NULL, root,
	    XML_C14N_EXCLUSIVE_1_0, NULL, 0, buf);
	xmlSetStructuredErrorFunc(NULL, NULL);
	if (xmlOutputBufferClose(buf) < 0 || r < 0 || s.failed) {
		const xmlError *e = xmlGetLastError();

		/* The canonicaliser refuses some input, e.g. xmlns:p="rel". */
		if (!s.failed && first_c14n_error == XML_C14N_RELATIVE_NAMESPACE)
			fs_err_set(err, FS_ENOTVALID, "the document cannot be "
			    "canonicalised: it declares a namespace with a "
			    "relative URI, which XML canonicalisation forbids; "
			    "fix the xmlns declaration");
		else
			fs_err_set(err, FS_EINTERNAL, "canonicalisation failed%s%s",
			    e && e->message ? ": " : "", e && e->message ?
			    e->message : "");
		goto out;
	}
	if (EVP_DigestFinal_ex(s.md, out, outlen) != 1) {
		fs_err_openssl(err, FS_EINTERNAL, "digest failed");
		goto out;
	}
	rc = FS_OK;
out:
	EVP_MD_CTX_free(s.md);
	return rc;
}

/* Base64 of len bytes; lines of 64 characters when wrap.  Caller frees. */
static char *
b64(const unsigned char *in, size_t len, int wrap)
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

/* --- attributes the signer sets --------------------------------------- */

static int
new_id(char *buf, size_t len)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	snprintf(buf, len, "_");
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(buf + 1 + 2 * i, len - 1 - 2 * i, "%02x", r[i]);
	return 0;
}

static xmlNsPtr
md_ns(xmlDocPtr doc, xmlNodePtr root)
{
	xmlNsPtr ns = xmlSearchNsByHref(doc, root, BAD_CAST FS_NS_MD);

	return ns != NULL ? ns : root->ns;
}

static int
set_publication_info(xmlDocPtr doc, xmlNodePtr root, const char *publisher,
    time_t now, fs_err *err)
{
	xmlNodePtr ext = NULL, pi = NULL, first = NULL, c;
	xmlNsPtr rpi;
	char when[32], pubid[64];

	for (c = root->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    fs_md_is(c, FS_NS_DS, "Signature"))
			continue;
		first = c;
		break;
	}
	if (first != NULL && fs_md_is(first, FS_NS_MD, "Extensions")) {
		ext = first;
	} else {
		ext = xmlNewDocNode(doc, md_ns(doc, root), BAD_CAST "Extensions",
		    NULL);
		if (ext == NULL)
			goto oom;
		if (first != NULL)
			xmlAddPrevSibling(first, ext);
		else
			xmlAddChild(root, ext);
	}
	for (c = ext->children; c != NULL; c = c->next)
		if (fs_md_is(c, FS_NS_MDRPI, "PublicationInfo"))
			pi = c;
	if (pi == NULL) {
		if ((pi = xmlNewDocNode(doc, NULL, BAD_CAST "PublicationInfo",
		    NULL)) == NULL)
			goto oom;
		rpi = xmlSearchNsByHref(doc, ext, BAD_CAST FS_NS_MDRPI);
		if (rpi == NULL)
			rpi = xmlNewNs(pi, BAD_CAST FS_NS_MDRPI, BAD_CAST "mdrpi");
		xmlSetNs(pi, rpi);
		xmlAddChild(ext, pi);
	}
	fs_time_format(now, when, sizeof(when));
	snprintf(pubid, sizeof(pubid), "fedsign-%lld", (long long)now);
	if (xmlSetProp(pi, BAD_CAST "publisher", BAD_CAST publisher) == NULL ||
	    xmlSetProp(pi, BAD_CAST "creationInstant", BAD_CAST when) == NULL ||
	    xmlSetProp(pi, BAD_CAST "publicationId", BAD_CAST pubid) == NULL)
		goto oom;
	return FS_OK;
oom:
	return fs_err_set(err, FS_EINTERNAL, "out of memory");
}

static int
set_attributes(xmlDocPtr doc, xmlNodePtr root, const struct fs_sign_opts *o,
    time_t now, fs_err *err)
{
	char buf[64];
	time_t vu;
	int r, rc;

	if (o->valid_for > 0) {
		fs_time_format(now + (time_t)o->valid_for, buf, sizeof(buf));
		if ((rc = fs_md_set_attr(root, "validUntil", buf, err)) != FS_OK)
			return rc;
	} else if ((r = fs_md_valid_until(root, &vu)) <= 0 || vu <= now) {
		return fs_err_set(err, FS_ENOTVALID, "%s: give --valid-for "
		    "(e.g. 14d): fedsign never publishes metadata without a "
		    "validUntil in the future", r == 0 ? "the input has no "
		    "validUntil" : r < 0 ? "the input's validUntil is not a "
		    "dateTime" : "the input's validUntil has passed");
	}
	if (o->cache_duration > 0) {
		fs_duration_format(o->cache_duration, buf, sizeof(buf));
		if ((rc = fs_md_set_attr(root, "cacheDuration", buf, err)))
			return rc;
	}
	if (o->name != NULL) {
		if (!fs_md_is(root, FS_NS_MD, "EntitiesDescriptor"))
			return fs_err_set(err, FS_EUSAGE, "--name applies to an "
			    "EntitiesDescriptor aggregate, not to a single "
			    "EntityDescriptor");
		if ((rc = fs_md_set_attr(root, "Name", o->name, err)) != FS_OK)
			return rc;
	}
	if (o->publisher != NULL)
		return set_publication_info(doc, root, o->publisher, now, err);
	return FS_OK;
}

/* --- the Signature element -------------------------------------------- */

static xmlNodePtr
child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *alg,
    const char *text)
{
	xmlNodePtr n;

	xmlAddChild(parent, xmlNewDocText(parent->doc, BAD_CAST "\n"));
	n = xmlNewChild(parent, ns, BAD_CAST name, NULL);
	if (n == NULL)
		return NULL;
	if (text != NULL)
		xmlNodeAddContent(n, BAD_CAST text);
	if (alg != NULL && xmlSetProp(n, BAD_CAST "Algorithm", BAD_CAST alg) ==
	    NULL)
		return NULL;
	return n;
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
	if ((d = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
	    (sig = xmlNewDocNode(d, NULL, BAD_CAST "Signature", NULL)) == NULL)
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
	    !child(si, ds, "CanonicalizationMethod", FS_ALG_C14N_EXC, NULL) ||
	    !child(si, ds, "SignatureMethod", a->sig_uri, NULL) ||
	    (ref = child(si, ds, "Reference", NULL, NULL)) == NULL ||
	    xmlSetProp(ref, BAD_CAST "URI", BAD_CAST uri) == NULL ||
	    (tr = child(ref, ds, "Transforms", NULL, NULL)) == NULL ||
	    !child(tr, ds, "Transform", FS_ALG_ENVELOPED, NULL) ||
	    !child(tr, ds, "Transform", FS_ALG_C14N_EXC, NULL) ||
	    !child(ref, ds, "DigestMethod", a->digest_uri, NULL) ||
	    !child(ref, ds, "DigestValue", NULL, digest) ||
	    (*sig_value = child(sig, ds, "SignatureValue", NULL, NULL)) == NULL)
		goto oom;
	xmlAddChild(tr, xmlNewDocText(d, BAD_CAST "\n"));
	xmlAddChild(ref, xmlNewDocText(d, BAD_CAST "\n"));
	xmlAddChild(si, xmlNewDocText(d, BAD_CAST "\n"));
	if (cert != NULL) {
		if ((n = i2d_X509(cert, &der)) <= 0 ||
		    (cb64 = b64(der, (size_t)n, 1)) == NULL ||
		    (kd = child(sig, ds, "KeyInfo", NULL, NULL)) == NULL ||
		    (kd = child(kd, ds, "X509Data", NULL, NULL)) == NULL ||
		    !child(kd, ds, "X509Certificate", NULL, cb64))
			goto oom;
		xmlAddChild(kd, xmlNewDocText(d, BAD_CAST "\n"));
		xmlAddChild(kd->parent, xmlNewDocText(d, BAD_CAST "\n"));
	}
	xmlAddChild(sig, xmlNewDocText(d, BAD_CAST "\n"));
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
	return fs_err_set(err, FS_EINTERNAL, "cannot build the signature");
}

int
fs_dsig_sign(xmlDocPtr doc, fs_signer *signer, const struct fs_sign_opts *o,
    fs_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	xmlNodePtr root, c, next, sv = NULL, sig;
	xmlDocPtr scratch = NULL;
	xmlChar *idattr = NULL;
	xmlBufferPtr sibuf = NULL;
	xmlOutputBufferPtr sio = NULL;
	struct algs a = { 0 };
	char newid[40], *dv = NULL, *svb64 = NULL;
	const char *id;
	uint8_t *sigbytes = NULL;
	size_t siglen;
	X509 *cert = NULL;
	time_t now = o->now ? o->now : time(NULL);
	int rc;

	if ((root = fs_md_root(doc, "input", err)) == NULL)
		return FS_ENOTVALID;
	if ((rc = pick_algs(signer, o, &a, err)) != FS_OK)
		return rc;
	if (!o->no_keyinfo && (cert = fs_signer_cert(signer)) == NULL)
		return fs_err_set(err, FS_ETOKEN, "no certificate for the "
		    "signing key: give --cert, store one on the token with "
		    "'fedsign cert create', or use --no-keyinfo");
	/* An existing signature on the root is replaced. */
	for (c = root->children; c != NULL; c = next) {
		next = c->next;
		if (fs_md_is(c, FS_NS_DS, "Signature")) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
		}
	}
	if ((rc = set_attributes(doc, root, o, now, err)) != FS_OK)
		return rc;
	idattr = xmlGetNoNsProp(root, BAD_CAST "ID");
	if (idattr == NULL || idattr[0] == '\0') {
		xmlFree(idattr);
		if (new_id(newid, sizeof(newid)) == -1)
			return fs_err_set(err, FS_EINTERNAL, "no random bytes");
		if ((rc = fs_md_set_attr(root, "ID", newid, err)) != FS_OK)
			return rc;
		if ((idattr = xmlStrdup(BAD_CAST newid)) == NULL)
			goto oom;
	}
	id = (const char *)idattr;
	/*
	 * Register the ID the Reference names, so that verification (on
	 * another thread, in cmd_sign) only reads the tree.
	 */
	if (xmlGetID(doc, idattr) == NULL && xmlAddID(NULL, doc, idattr,
	    xmlHasNsProp(root, BAD_CAST "ID", NULL)) == NULL)
		goto oom;

	/* Enveloped: the digest covers the root without the Signature. */
	if ((rc = c14n_digest(doc, root, a.digest, md, &mdlen, err)) != FS_OK)
		goto out;
	if ((dv = b64(md, mdlen, 0)) == NULL)
		goto oom;
	if ((rc = build_signature(&a, id, dv, o->no_keyinfo ? NULL : cert,
	    &scratch, &sv, err)) != FS_OK)
		goto out;

	/* SignedInfo's exclusive c14n is the same in the scratch document. */
	if ((sibuf = xmlBufferCreate()) == NULL ||
	    (sio = xmlOutputBufferCreateBuffer(sibuf, NULL)) == NULL)
		goto oom;
	sig = xmlDocGetRootElement(scratch);
	if (xmlC14NExecute(scratch, in_signed_info, fs_md_first_element(sig),
	    XML_C14N_EXCLUSIVE_1_0, NULL, 0, sio) < 0) {
		rc = fs_err_set(err, FS_EINTERNAL, "canonicalisation of "
		    "SignedInfo failed");
		goto out;
	}
	xmlOutputBufferFlush(sio);
	if ((rc = fs_signer_sign(signer, a.sig_md, xmlBufferContent(sibuf),
	    (size_t)xmlBufferLength(sibuf), 0, &sigbytes, &siglen, err)))
		goto out;
	if ((svb64 = b64(sigbytes, siglen, 1)) == NULL)
		goto oom;
	xmlNodeAddContent(sv, BAD_CAST svb64);

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
	rc = fs_err_set(err, FS_EINTERNAL, "out of memory");
out:
	free(svb64);
	free(sigbytes);
	if (sio != NULL)
		xmlOutputBufferClose(sio);
	xmlBufferFree(sibuf);
	xmlFreeDoc(scratch);
	free(dv);
	xmlFree(idattr);
	return rc;
}
