/*
 * Strict verification of the enveloped signature on a SAML metadata
 * document: the profile checks of DESIGN.md on the DOM first, then xmlsec1
 * with the pinned key and only the allowed transforms enabled.
 */
#include "dsig/dsig.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <libxml/tree.h>
#include <libxml/valid.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/base64.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/openssl/evp.h>

#include "dsig/dsig_int.h"
#include "md/md.h"
#include "util/duration.h"

#define NS_EXC_C14N	"http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_MD5		"http://www.w3.org/2001/04/xmldsig-more#md5"
#define ALG_RSA_MD5	"http://www.w3.org/2001/04/xmldsig-more#rsa-md5"

#define MIN_RSA_BITS	2048
#define MIN_EC_BITS	256

enum keytype { KEY_NONE, KEY_RSA, KEY_EC };

struct alg {
	const char *uri;
	const char *name;
	enum keytype key;	/* SignatureMethod: the key it needs */
	int sha1;		/* allowed only with allow_sha1 */
	int exc;		/* c14n: exclusive (may carry a PrefixList) */
};

static const struct alg sig_algs[] = {
	{ FS_ALG_RSA_SHA256, "rsa-sha256", KEY_RSA, 0, 0 },
	{ FS_ALG_RSA_SHA384, "rsa-sha384", KEY_RSA, 0, 0 },
	{ FS_ALG_RSA_SHA512, "rsa-sha512", KEY_RSA, 0, 0 },
	{ FS_ALG_ECDSA_SHA256, "ecdsa-sha256", KEY_EC, 0, 0 },
	{ FS_ALG_ECDSA_SHA384, "ecdsa-sha384", KEY_EC, 0, 0 },
	{ FS_ALG_ECDSA_SHA512, "ecdsa-sha512", KEY_EC, 0, 0 },
	{ FS_ALG_RSA_SHA1, "rsa-sha1", KEY_RSA, 1, 0 },
	{ NULL, NULL, KEY_NONE, 0, 0 }
};

static const struct alg digest_algs[] = {
	{ FS_ALG_SHA256, "sha256", KEY_NONE, 0, 0 },
	{ FS_ALG_SHA384, "sha384", KEY_NONE, 0, 0 },
	{ FS_ALG_SHA512, "sha512", KEY_NONE, 0, 0 },
	{ FS_ALG_SHA1, "sha1", KEY_NONE, 1, 0 },
	{ NULL, NULL, KEY_NONE, 0, 0 }
};

static const struct alg c14n_algs[] = {
	{ FS_ALG_C14N_EXC, "exclusive c14n", KEY_NONE, 0, 1 },
	{ FS_ALG_C14N_EXC_WC, "exclusive c14n with comments", KEY_NONE, 0, 1 },
	{ FS_ALG_C14N, "inclusive c14n", KEY_NONE, 0, 0 },
	{ FS_ALG_C14N_WC, "inclusive c14n with comments", KEY_NONE, 0, 0 },
	{ NULL, NULL, KEY_NONE, 0, 0 }
};

/* What the DOM checks found; the nodes are borrowed from the document. */
struct found {
	xmlNodePtr root;
	xmlNodePtr sig;
	xmlNodePtr ref;
	xmlAttrPtr id;			/* the root's ID attribute, or NULL */
	const struct alg *sigalg;
};

static xmlNodePtr
next_element(xmlNodePtr n)
{
	for (; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static xmlNodePtr
first_child(xmlNodePtr n)
{
	return next_element(n->children);
}

static xmlNodePtr
next_sibling(xmlNodePtr n)
{
	return next_element(n->next);
}

static int
is_ds(const xmlNode *n, const char *local)
{
	return fs_md_is(n, FS_NS_DS, local);
}

/*
 * The Algorithm attribute of n looked up in table; NULL with err set when
 * it is absent or not allowed.  what names the element in messages.
 */
static const struct alg *
algorithm(xmlNodePtr n, const struct alg *table, const char *what,
    const struct fs_verify_opts *opts, fs_err *err)
{
	const struct alg *a;
	xmlChar *uri;

	if ((uri = xmlGetNoNsProp(n, BAD_CAST "Algorithm")) == NULL) {
		fs_err_set(err, FS_ENOTVALID, "%s has no Algorithm", what);
		return NULL;
	}
	for (a = table; a->uri != NULL; a++)
		if (strcmp((const char *)uri, a->uri) == 0)
			break;
	if (a->uri == NULL) {
		if (strcmp((const char *)uri, ALG_MD5) == 0 ||
		    strcmp((const char *)uri, ALG_RSA_MD5) == 0)
			fs_err_set(err, FS_ENOTVALID, "algorithm not allowed: "
			    "%s %s uses MD5, which is never accepted", what,
			    (const char *)uri);
		else
			fs_err_set(err, FS_ENOTVALID, "algorithm not allowed: "
			    "%s %s is not in the allowlist", what,
			    (const char *)uri);
	} else if (a->sha1 && !opts->allow_sha1) {
		fs_err_set(err, FS_ENOTVALID, "algorithm not allowed: %s %s "
		    "uses SHA-1, which is refused unless SHA-1 is explicitly "
		    "allowed", what, a->name);
		a = NULL;
	}
	xmlFree(uri);
	return a != NULL && a->uri != NULL ? a : NULL;
}

/*
 * A canonicalization element (CanonicalizationMethod or a c14n Transform):
 * an allowed algorithm, and no child element but the exclusive c14n
 * InclusiveNamespaces.
 */
static int
check_c14n(xmlNodePtr n, const char *what, const struct fs_verify_opts *opts,
    fs_err *err)
{
	const struct alg *a;
	xmlNodePtr c;
	int inc = 0;

	if ((a = algorithm(n, c14n_algs, what, opts, err)) == NULL)
		return FS_ENOTVALID;
	for (c = first_child(n); c != NULL; c = next_sibling(c)) {
		if (a->exc && fs_md_is(c, NS_EXC_C14N, "InclusiveNamespaces") &&
		    inc++ == 0 && first_child(c) == NULL)
			continue;
		return fs_err_set(err, FS_ENOTVALID, "transforms: unexpected "
		    "<%s> inside %s (%s)", (const char *)c->name, what,
		    a->name);
	}
	return FS_OK;
}

static int
check_transforms(xmlNodePtr transforms, const struct fs_verify_opts *opts,
    fs_err *err)
{
	const struct alg *a;
	xmlNodePtr t[3] = { NULL, NULL, NULL }, c;
	xmlChar *uri = NULL;
	int n = 0, rc;

	if (transforms != NULL)
		for (c = first_child(transforms); c != NULL && n < 3;
		    c = next_sibling(c)) {
			if (!is_ds(c, "Transform"))
				return fs_err_set(err, FS_ENOTVALID,
				    "transforms: unexpected <%s> in "
				    "ds:Transforms", (const char *)c->name);
			t[n++] = c;
		}
	if (n != 2)
		return fs_err_set(err, FS_ENOTVALID, "transforms: the "
		    "Reference must have exactly two transforms, "
		    "enveloped-signature and one canonicalization; it has %s%d",
		    n == 3 ? "at least " : "", n);
	uri = xmlGetNoNsProp(t[0], BAD_CAST "Algorithm");
	if (uri == NULL || strcmp((const char *)uri, FS_ALG_ENVELOPED) != 0) {
		rc = fs_err_set(err, FS_ENOTVALID, "transforms: the first "
		    "transform must be enveloped-signature, not %s; only "
		    "enveloped-signature and one canonicalization are allowed "
		    "(no XPath, XSLT or base64)", uri ? (const char *)uri :
		    "one without Algorithm");
		goto out;
	}
	if (first_child(t[0]) != NULL) {
		rc = fs_err_set(err, FS_ENOTVALID, "transforms: unexpected "
		    "<%s> inside the enveloped-signature transform",
		    (const char *)first_child(t[0])->name);
		goto out;
	}
	xmlFree(uri);
	uri = xmlGetNoNsProp(t[1], BAD_CAST "Algorithm");
	for (a = c14n_algs; uri != NULL && a->uri != NULL; a++)
		if (strcmp((const char *)uri, a->uri) == 0)
			break;
	if (uri == NULL || a->uri == NULL) {
		rc = fs_err_set(err, FS_ENOTVALID, "transforms: the second "
		    "transform must be a canonicalization (exclusive or "
		    "inclusive c14n, with or without comments), not %s; only "
		    "enveloped-signature and one canonicalization are allowed "
		    "(no XPath, XSLT or base64)", uri ? (const char *)uri :
		    "one without Algorithm");
		goto out;
	}
	rc = check_c14n(t[1], "the canonicalization transform", opts, err);
out:
	xmlFree(uri);
	return rc;
}

/* SignedInfo: one c14n, an allowed SignatureMethod, exactly one Reference. */
static int
check_signed_info(struct found *f, const struct fs_verify_opts *opts,
    fs_err *err)
{
	xmlNodePtr si, c, cm, sm, ref = NULL, dm;
	int nref = 0, rc;

	si = first_child(f->sig);
	if (!is_ds(si, "SignedInfo"))
		return fs_err_set(err, FS_ENOTVALID, "signature structure: "
		    "ds:SignedInfo is not the first child of ds:Signature");
	cm = first_child(si);
	if (!is_ds(cm, "CanonicalizationMethod"))
		return fs_err_set(err, FS_ENOTVALID, "signature structure: "
		    "ds:CanonicalizationMethod is not the first child of "
		    "ds:SignedInfo");
	sm = next_sibling(cm);
	if (!is_ds(sm, "SignatureMethod"))
		return fs_err_set(err, FS_ENOTVALID, "signature structure: "
		    "ds:SignatureMethod does not follow "
		    "ds:CanonicalizationMethod");
	for (c = next_sibling(sm); c != NULL; c = next_sibling(c)) {
		if (!is_ds(c, "Reference"))
			return fs_err_set(err, FS_ENOTVALID, "signature "
			    "structure: unexpected <%s> in ds:SignedInfo",
			    (const char *)c->name);
		if (nref++ == 0)
			ref = c;
	}
	if (nref != 1)
		return fs_err_set(err, FS_ENOTVALID, "references: "
		    "ds:SignedInfo must hold exactly one ds:Reference, it "
		    "holds %d", nref);
	if ((rc = check_c14n(cm, "CanonicalizationMethod", opts, err)) != FS_OK)
		return rc;
	if ((f->sigalg = algorithm(sm, sig_algs, "SignatureMethod", opts,
	    err)) == NULL)
		return FS_ENOTVALID;
	if (first_child(sm) != NULL)
		return fs_err_set(err, FS_ENOTVALID, "signature structure: "
		    "unexpected <%s> inside ds:SignatureMethod",
		    (const char *)first_child(sm)->name);

	/* Reference: Transforms?, DigestMethod, DigestValue. */
	c = first_child(ref);
	if (is_ds(c, "Transforms")) {
		if ((rc = check_transforms(c, opts, err)) != FS_OK)
			return rc;
		c = next_sibling(c);
	} else if ((rc = check_transforms(NULL, opts, err)) != FS_OK)
		return rc;
	dm = c;
	if (!is_ds(dm, "DigestMethod") ||
	    !is_ds(next_sibling(dm), "DigestValue") ||
	    next_sibling(next_sibling(dm)) != NULL)
		return fs_err_set(err, FS_ENOTVALID, "signature structure: "
		    "ds:Reference must hold Transforms, DigestMethod and "
		    "DigestValue");
	if (algorithm(dm, digest_algs, "DigestMethod", opts, err) == NULL)
		return FS_ENOTVALID;
	f->ref = ref;
	return FS_OK;
}

/* The text of an attribute (libxml2 keeps it as child text nodes). */
static xmlChar *
attr_value(xmlAttrPtr a)
{
	return xmlNodeListGetString(a->doc, a->children, 1);
}

/*
 * Whether attribute a carries the value id and can name an element: an
 * unqualified ID (SAML), xml:id, or anything libxml2 registered as an ID.
 */
static int
is_id_attr(xmlAttrPtr a, const xmlChar *id)
{
	xmlChar *v;
	int same;

	if (!((a->ns == NULL && strcmp((const char *)a->name, "ID") == 0) ||
	    a->atype == XML_ATTRIBUTE_ID ||
	    (a->ns != NULL && a->ns->href != NULL &&
	    strcmp((const char *)a->ns->href,
	    (const char *)XML_XML_NAMESPACE) == 0 &&
	    strcmp((const char *)a->name, "id") == 0)))
		return 0;
	/* The usual case, one text node, without an allocation. */
	if (a->children != NULL && a->children->type == XML_TEXT_NODE &&
	    a->children->next == NULL)
		return a->children->content != NULL &&
		    xmlStrEqual(a->children->content, id);
	v = attr_value(a);
	same = v != NULL && xmlStrEqual(v, id);
	xmlFree(v);
	return same;
}

/* How many elements of the tree under root carry id as an ID. */
static long
count_id(xmlNodePtr root, const xmlChar *id)
{
	xmlNodePtr n = root;
	xmlAttrPtr a;
	long count = 0;

	/* Iterative pre-order walk: documents can be deep and large. */
	while (n != NULL) {
		if (n->type == XML_ELEMENT_NODE) {
			for (a = n->properties; a != NULL; a = a->next)
				if (is_id_attr(a, id))
					count++;
			if (n->children != NULL) {
				n = n->children;
				continue;
			}
		}
		while (n != root && n->next == NULL)
			n = n->parent;
		if (n == root)
			break;
		n = n->next;
	}
	return count;
}

/*
 * The Reference URI is "" or "#" + the root's ID; that ID is unique in the
 * document, and it is the one registered with libxml2 for xmlsec to find.
 */
static int
check_reference_uri(struct found *f, fs_err *err)
{
	xmlChar *uri = NULL, *id = NULL;
	xmlAttrPtr a;
	long n;
	int rc = FS_ENOTVALID;

	if ((uri = xmlGetNoNsProp(f->ref, BAD_CAST "URI")) == NULL) {
		fs_err_set(err, FS_ENOTVALID, "references: the ds:Reference "
		    "has no URI; it must be \"\" or \"#\" and the document "
		    "element's ID");
		goto out;
	}
	f->id = xmlHasNsProp(f->root, BAD_CAST "ID", NULL);
	if (f->id != NULL && (id = attr_value(f->id)) == NULL) {
		rc = fs_err_set(err, FS_EINTERNAL, "out of memory");
		goto out;
	}
	if (uri[0] == '\0') {
		/* The whole document: no ID is involved. */
		rc = FS_OK;
		goto out;
	}
	if (uri[0] != '#' || id == NULL ||
	    !xmlStrEqual(uri + 1, id)) {
		fs_err_set(err, FS_ENOTVALID, "references: the ds:Reference "
		    "URI '%s' does not point to the document element (its ID "
		    "is %s%s%s); only \"\" or \"#\" and the document element's "
		    "ID are allowed", (const char *)uri, id ? "'" : "",
		    id ? (const char *)id : "absent", id ? "'" : "");
		goto out;
	}
	if (xmlValidateNCName(id, 0) != 0) {
		fs_err_set(err, FS_ENOTVALID, "references: the document "
		    "element's ID '%s' is not a valid xs:ID", (const char *)id);
		goto out;
	}
	if ((n = count_id(f->root, id)) != 1) {
		fs_err_set(err, FS_ENOTVALID, "duplicated ID: %ld elements "
		    "carry the ID '%s' (possible signature-wrapping attack); "
		    "the signed ID must be unique in the document", n,
		    (const char *)id);
		goto out;
	}
	/* xmlsec resolves "#id" through libxml2's ID table. */
	a = xmlGetID(f->root->doc, id);
	if (a == NULL && xmlAddID(NULL, f->root->doc, id, f->id) == NULL) {
		rc = fs_err_set(err, FS_EINTERNAL, "cannot register the ID "
		    "'%s'", (const char *)id);
		goto out;
	}
	if (a != NULL && a != f->id) {
		fs_err_set(err, FS_ENOTVALID, "duplicated ID: '%s' is already "
		    "registered for another element (possible "
		    "signature-wrapping attack)", (const char *)id);
		goto out;
	}
	rc = FS_OK;
out:
	xmlFree(uri);
	xmlFree(id);
	return rc;
}

static int
check_valid_until(xmlNodePtr root, const struct fs_verify_opts *opts,
    fs_err *err)
{
	time_t t, now = opts->now != 0 ? opts->now : time(NULL);
	char tbuf[32], nbuf[32], dbuf[64];
	int r;

	if ((r = fs_md_valid_until(root, &t)) == 0)
		return fs_err_set(err, FS_ENOTVALID, "validity: no validUntil "
		    "on the document element");
	if (r < 0) {
		xmlChar *v = xmlGetNoNsProp(root, BAD_CAST "validUntil");

		r = fs_err_set(err, FS_ENOTVALID, "validity: validUntil '%s' "
		    "is not a valid xs:dateTime", v ? (const char *)v : "");
		xmlFree(v);
		return r;
	}
	fs_time_format(t, tbuf, sizeof(tbuf));
	fs_time_format(now, nbuf, sizeof(nbuf));
	if (t <= now && !opts->allow_expired)
		return fs_err_set(err, FS_ENOTVALID, "validity: expired: "
		    "validUntil %s is in the past (now %s)", tbuf, nbuf);
	if (opts->max_validity > 0 && t > now &&
	    (int64_t)(t - now) > opts->max_validity) {
		fs_duration_format(opts->max_validity, dbuf, sizeof(dbuf));
		return fs_err_set(err, FS_ENOTVALID, "validity: validUntil %s "
		    "is further ahead than the maximum validity %s (now %s)",
		    tbuf, dbuf, nbuf);
	}
	return FS_OK;
}

/* The key's type fits the SignatureMethod and it is strong enough. */
static int
check_key(EVP_PKEY *key, const struct alg *sigalg, fs_err *err)
{
	int id = EVP_PKEY_get_base_id(key), bits = EVP_PKEY_get_bits(key);

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC)
		return fs_err_set(err, FS_ENOTVALID, "key: the pinned key is "
		    "%s, not RSA or EC", OBJ_nid2sn(id));
	if ((sigalg->key == KEY_RSA) != (id == EVP_PKEY_RSA))
		return fs_err_set(err, FS_ENOTVALID, "key: SignatureMethod %s "
		    "needs an %s key, the pinned key is %s", sigalg->name,
		    sigalg->key == KEY_RSA ? "RSA" : "EC",
		    id == EVP_PKEY_RSA ? "RSA" : "EC");
	if (id == EVP_PKEY_RSA && bits < MIN_RSA_BITS)
		return fs_err_set(err, FS_ENOTVALID, "key too weak: RSA %d "
		    "bits, at least %d required", bits, MIN_RSA_BITS);
	if (id == EVP_PKEY_EC && bits < MIN_EC_BITS)
		return fs_err_set(err, FS_ENOTVALID, "key too weak: EC %d "
		    "bits, at least %d required", bits, MIN_EC_BITS);
	return FS_OK;
}

/* The X509Certificate's certificate when its SHA-256 is fp, else NULL. */
static X509 *
cert_if_pinned(xmlNodePtr n, const uint8_t *fp)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	const unsigned char *p;
	unsigned int mdlen = 0;
	xmlChar *b64;
	xmlSecSize len = 0;
	X509 *x = NULL;

	if ((b64 = xmlNodeGetContent(n)) == NULL)
		return NULL;
	if (xmlSecBase64DecodeInPlace(b64, &len) < 0 || len == 0)
		goto out;
	p = b64;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		goto out;
	/* The fingerprint of the DER exactly as it is in KeyInfo. */
	if (EVP_Digest(b64, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32 || CRYPTO_memcmp(md, fp, 32) != 0 ||
	    p != b64 + len) {
		X509_free(x);
		x = NULL;
	}
out:
	xmlFree(b64);
	return x;
}

/*
 * The key of the KeyInfo certificate whose SHA-256 fingerprint is pinned;
 * *key is the caller's (EVP_PKEY_free).
 */
static int
key_by_fingerprint(xmlNodePtr sig, const uint8_t *fp, EVP_PKEY **key,
    fs_err *err)
{
	xmlNodePtr ki, xd, c;
	X509 *x = NULL;

	*key = NULL;
	for (ki = first_child(sig); ki != NULL; ki = next_sibling(ki)) {
		if (!is_ds(ki, "KeyInfo"))
			continue;
		for (xd = first_child(ki); xd != NULL && x == NULL;
		    xd = next_sibling(xd)) {
			if (!is_ds(xd, "X509Data"))
				continue;
			for (c = first_child(xd); c != NULL && x == NULL;
			    c = next_sibling(c))
				if (is_ds(c, "X509Certificate"))
					x = cert_if_pinned(c, fp);
		}
		break;
	}
	ERR_clear_error();
	if (x == NULL)
		return fs_err_set(err, FS_ENOTVALID, "key: no certificate in "
		    "KeyInfo matches the pinned fingerprint");
	*key = X509_get_pubkey(x);
	X509_free(x);
	if (*key == NULL)
		return fs_err_openssl(err, FS_ENOTVALID, "key: the pinned "
		    "certificate's public key cannot be read");
	return FS_OK;
}

/* Only the transforms the profile allows, for xmlsec to enforce as well. */
static int
enable_transforms(xmlSecDSigCtxPtr ctx, int sha1)
{
	xmlSecTransformId c14n[] = {
		xmlSecTransformExclC14NId,
		xmlSecTransformExclC14NWithCommentsId,
		xmlSecTransformInclC14NId,
		xmlSecTransformInclC14NWithCommentsId,
	};
	xmlSecTransformId digests[] = {
		xmlSecTransformSha256Id, xmlSecTransformSha384Id,
		xmlSecTransformSha512Id,
	};
	xmlSecTransformId sigs[] = {
		xmlSecTransformRsaSha256Id, xmlSecTransformRsaSha384Id,
		xmlSecTransformRsaSha512Id, xmlSecTransformEcdsaSha256Id,
		xmlSecTransformEcdsaSha384Id, xmlSecTransformEcdsaSha512Id,
	};
	size_t i;

	for (i = 0; i < sizeof(c14n) / sizeof(c14n[0]); i++)
		if (xmlSecDSigCtxEnableReferenceTransform(ctx, c14n[i]) < 0 ||
		    xmlSecDSigCtxEnableSignatureTransform(ctx, c14n[i]) < 0)
			return -1;
	if (xmlSecDSigCtxEnableReferenceTransform(ctx,
	    xmlSecTransformEnvelopedId) < 0)
		return -1;
	for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
		if (xmlSecDSigCtxEnableReferenceTransform(ctx, digests[i]) < 0)
			return -1;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (xmlSecDSigCtxEnableSignatureTransform(ctx, sigs[i]) < 0)
			return -1;
	if (sha1 && (xmlSecDSigCtxEnableReferenceTransform(ctx,
	    xmlSecTransformSha1Id) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx,
	    xmlSecTransformRsaSha1Id) < 0))
		return -1;
	return 0;
}

/* Run xmlsec1 on the checked signature with key as the only key. */
static int
run_xmlsec(struct found *f, EVP_PKEY *key, int sha1, fs_err *err)
{
	xmlSecDSigCtxPtr ctx = NULL;
	xmlSecDSigReferenceCtxPtr ref;
	xmlSecKeyDataPtr data = NULL;
	xmlSecKeyPtr k = NULL;
	EVP_PKEY *dup;
	int rc = FS_EINTERNAL;

	fs_dsig_last_xmlsec_error[0] = '\0';
	if ((ctx = xmlSecDSigCtxCreate(NULL)) == NULL)
		goto fail;
	/* KeyInfo never decides trust: the key is set before verifying. */
	if ((dup = xmlSecOpenSSLEvpKeyDup(key)) == NULL)
		goto fail;
	if ((data = xmlSecOpenSSLEvpKeyAdopt(dup)) == NULL) {
		EVP_PKEY_free(dup);
		goto fail;
	}
	if ((k = xmlSecKeyCreate()) == NULL || xmlSecKeySetValue(k, data) < 0)
		goto fail;
	data = NULL;
	ctx->signKey = k;
	k = NULL;
	ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
	ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty |
	    xmlSecTransformUriTypeSameDocument;
	if (enable_transforms(ctx, sha1) < 0)
		goto fail;
	if (xmlSecDSigCtxVerify(ctx, f->sig) < 0) {
		/* The profile checks passed, so the input is to blame. */
		rc = fs_err_set(err, FS_ENOTVALID, "signature: xmlsec1 cannot "
		    "process the ds:Signature (a malformed value or "
		    "element)%s%s", fs_dsig_last_xmlsec_error[0] ? ": " : "",
		    fs_dsig_last_xmlsec_error);
		goto out;
	}
	if (xmlSecPtrListGetSize(&ctx->signedInfoReferences) != 1) {
		rc = fs_err_set(err, FS_ENOTVALID, "references: xmlsec1 "
		    "processed %u references, exactly one is allowed",
		    (unsigned)xmlSecPtrListGetSize(&ctx->signedInfoReferences));
		goto out;
	}
	ref = xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0);
	if (ref == NULL || ref->status != xmlSecDSigStatusSucceeded) {
		rc = fs_err_set(err, FS_ENOTVALID, "signature: digest "
		    "mismatch: the signed content was changed after signing");
		goto out;
	}
	if (ctx->status != xmlSecDSigStatusSucceeded) {
		rc = fs_err_set(err, FS_ENOTVALID, "signature: the signature "
		    "value does not verify with the pinned key (signed by "
		    "another key, or SignedInfo was changed)");
		goto out;
	}
	rc = FS_OK;
	goto out;
fail:
	rc = fs_err_set(err, FS_EINTERNAL, "xmlsec1 set-up failed%s%s",
	    fs_dsig_last_xmlsec_error[0] ? ": " : "",
	    fs_dsig_last_xmlsec_error);
out:
	if (data != NULL)
		xmlSecKeyDataDestroy(data);
	if (k != NULL)
		xmlSecKeyDestroy(k);
	if (ctx != NULL)
		xmlSecDSigCtxDestroy(ctx);
	ERR_clear_error();
	return rc;
}

int
fs_dsig_verify(xmlDocPtr doc, const struct fs_verify_opts *opts,
    xmlNodePtr *verified, fs_err *err)
{
	struct found f = { 0 };
	EVP_PKEY *owned = NULL, *key;
	xmlNodePtr c;
	int nsig = 0, rc;

	if (verified != NULL)
		*verified = NULL;
	if (opts->key == NULL && opts->fingerprint == NULL)
		return fs_err_set(err, FS_EUSAGE, "no pinned key or "
		    "fingerprint to verify with");
	if ((f.root = fs_md_root(doc, "document", err)) == NULL)
		return FS_ENOTVALID;
	for (c = first_child(f.root); c != NULL; c = next_sibling(c))
		if (is_ds(c, "Signature") && nsig++ == 0)
			f.sig = c;
	if (nsig == 0)
		return fs_err_set(err, FS_ENOTVALID, "not signed: the document "
		    "element has no ds:Signature child");
	if (nsig > 1)
		return fs_err_set(err, FS_ENOTVALID, "signature structure: the "
		    "document element has %d ds:Signature children, exactly "
		    "one is allowed", nsig);
	if ((rc = check_signed_info(&f, opts, err)) != FS_OK ||
	    (rc = check_reference_uri(&f, err)) != FS_OK)
		return rc;
	if (opts->key != NULL)
		key = opts->key;
	else if ((rc = key_by_fingerprint(f.sig, opts->fingerprint, &owned,
	    err)) != FS_OK)
		return rc;
	else
		key = owned;
	if ((rc = check_key(key, f.sigalg, err)) != FS_OK ||
	    (rc = check_valid_until(f.root, opts, err)) != FS_OK ||
	    (rc = run_xmlsec(&f, key, opts->allow_sha1, err)) != FS_OK)
		goto out;
	if (verified != NULL)
		*verified = f.root;
	rc = FS_OK;
out:
	EVP_PKEY_free(owned);
	return rc;
}
