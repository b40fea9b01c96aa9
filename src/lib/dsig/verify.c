/*
 * Strict verification of the enveloped signature on a SAML metadata
 * document.
 *
 * First the profile: the shape of ds:Signature (nothing in it but what
 * the profile allows, so that no unsigned content rides along), the
 * algorithms, the Reference to the whole document by a unique ID, the
 * key, the validity.  Then the cryptography, by hand only where the
 * profile leaves nothing to choose: the document element without the
 * Signature is canonicalised by libxml2 with the Reference's transform
 * and hashed, and compared with DigestValue; SignedInfo is canonicalised
 * with CanonicalizationMethod, and its SignatureValue checked by OpenSSL
 * with the pinned key.  The document is only read, never changed.
 */
#include "dsig/dsig_int.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <libxml/tree.h>
#include <libxml/valid.h>

#include "fedsign/md.h"
#include "fedsign/util.h"

#define NS_EXC_C14N	FS_URI_EXC_C14N
#define NS_DSIG11	"http://www.w3.org/2009/xmldsig11#"

#define MIN_RSA_BITS	2048
#define MIN_EC_BITS	256

/* What the checks found; the nodes are borrowed from the document. */
struct found {
	xmlChar *id_value;		/* the root's ID when the Reference uses
					   it, still to be found unique */
	xmlNodePtr root;
	xmlNodePtr sig;
	xmlNodePtr si;			/* SignedInfo */
	xmlNodePtr cm;			/* CanonicalizationMethod */
	xmlNodePtr ref;
	xmlNodePtr c14n_transform;	/* the Reference's c14n Transform */
	xmlNodePtr digest_value;
	xmlNodePtr sig_value;
	xmlAttrPtr id;			/* the root's ID attribute, or NULL */
	const struct fs_alg *sigalg;
	const struct fs_alg *digestalg;
	const struct fs_alg *c14n;	/* CanonicalizationMethod */
	const struct fs_alg *ref_c14n;	/* the Reference's transform */
};

static int counts_ids(void);

static int
is_ds(const xmlNode *n, const char *local)
{
	return fs_md_is(n, FS_NS_DS, local);
}

static const char *
qname(const xmlNode *n, char *buf, size_t len)
{
	if (n->ns != NULL && n->ns->prefix != NULL)
		snprintf(buf, len, "%s:%s", (const char *)n->ns->prefix,
		    (const char *)n->name);
	else
		snprintf(buf, len, "%s", (const char *)n->name);
	return buf;
}

/* --- the shape of ds:Signature ------------------------------------------ */

enum text { T_WS, T_B64, T_ANY };

struct shape {
	const char *ns;
	const char *name;
	enum text text;
	const struct shape *kids;	/* allowed children, any order */
};

static const struct shape rsa_kids[] = {
	{ FS_NS_DS, "Modulus", T_B64, NULL },
	{ FS_NS_DS, "Exponent", T_B64, NULL },
	{ NULL, NULL, T_WS, NULL }
};
static const struct shape ec_kids[] = {
	{ NS_DSIG11, "NamedCurve", T_WS, NULL },
	{ NS_DSIG11, "PublicKey", T_B64, NULL },
	{ NULL, NULL, T_WS, NULL }
};
static const struct shape keyvalue_kids[] = {
	{ FS_NS_DS, "RSAKeyValue", T_WS, rsa_kids },
	{ NS_DSIG11, "ECKeyValue", T_WS, ec_kids },
	{ NULL, NULL, T_WS, NULL }
};
static const struct shape issuer_serial_kids[] = {
	{ FS_NS_DS, "X509IssuerName", T_ANY, NULL },
	{ FS_NS_DS, "X509SerialNumber", T_ANY, NULL },
	{ NULL, NULL, T_WS, NULL }
};
static const struct shape x509data_kids[] = {
	{ FS_NS_DS, "X509Certificate", T_B64, NULL },
	{ FS_NS_DS, "X509SubjectName", T_ANY, NULL },
	{ FS_NS_DS, "X509IssuerSerial", T_WS, issuer_serial_kids },
	{ FS_NS_DS, "X509SKI", T_B64, NULL },
	{ FS_NS_DS, "X509CRL", T_B64, NULL },
	{ NS_DSIG11, "X509Digest", T_B64, NULL },
	{ NULL, NULL, T_WS, NULL }
};
static const struct shape keyinfo_kids[] = {
	{ FS_NS_DS, "KeyName", T_ANY, NULL },
	{ FS_NS_DS, "KeyValue", T_WS, keyvalue_kids },
	{ FS_NS_DS, "X509Data", T_WS, x509data_kids },
	{ NULL, NULL, T_WS, NULL }
};
static const struct shape keyinfo = { FS_NS_DS, "KeyInfo", T_WS, keyinfo_kids };
static const struct shape value = { FS_NS_DS, "", T_B64, NULL };

static int
is_ws(const xmlChar *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return 0;
	return 1;
}

static int
is_b64(const xmlChar *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '+' || *s == '/' ||
		    *s == '=' || *s == ' ' || *s == '\t' || *s == '\r' ||
		    *s == '\n'))
			return 0;
	return 1;
}

/*
 * The non-element children of n: text as its shape allows, comments;
 * nothing else (no entity references, processing instructions).
 */
static int
check_text(xmlNodePtr n, enum text text, fs_err *err)
{
	char q[128];

	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		switch (c->type) {
		case XML_ELEMENT_NODE:
		case XML_COMMENT_NODE:
			break;
		case XML_TEXT_NODE:
		case XML_CDATA_SECTION_NODE:
			if (text == T_ANY || is_ws(c->content) ||
			    (text == T_B64 && is_b64(c->content)))
				break;
			return fs_err_rule(err, FS_RULE_UNSIGNED_CONTENT,
			    "unsigned content: text inside <%s>, which the "
			    "strict profile allows %s", qname(n, q, sizeof(q)),
			    text == T_B64 ? "to hold base64 only" :
			    "to hold elements only");
		default:
			return fs_err_rule(err, FS_RULE_UNSIGNED_CONTENT,
			    "unsigned content: a %s inside <%s>, which the "
			    "strict profile does not allow in ds:Signature",
			    c->type == XML_ENTITY_REF_NODE ? "entity reference" :
			    c->type == XML_PI_NODE ? "processing instruction" :
			    "node", qname(n, q, sizeof(q)));
		}
	}
	return FS_OK;
}

/* n and its subtree have the shape s: the allowed children, any order. */
static int
check_shape(xmlNodePtr n, const struct shape *s, fs_err *err)
{
	const struct shape *k;
	char q[128], p[128];
	int rc;

	if ((rc = check_text(n, s->text, err)) != FS_OK)
		return rc;
	for (xmlNodePtr c = fs_md_first_element(n); c != NULL;
	    c = fs_md_next_element(c)) {
		for (k = s->kids; k != NULL && k->name != NULL; k++)
			if (fs_md_is(c, k->ns, k->name))
				break;
		if (k == NULL || k->name == NULL)
			return fs_err_rule(err, FS_RULE_UNSIGNED_CONTENT,
			    "unsigned content: <%s> inside <%s> is not allowed "
			    "by the strict profile (KeyInfo may hold KeyName, "
			    "KeyValue and X509Data with certificates only)",
			    qname(c, q, sizeof(q)), qname(n, p, sizeof(p)));
		if ((rc = check_shape(c, k, err)) != FS_OK)
			return rc;
	}
	return FS_OK;
}

/*
 * Every node of SignedInfo is either checked by check_signed_info or is
 * text: white space, except in DigestValue (base64).
 */
static int
check_signed_info_text(xmlNodePtr n, fs_err *err)
{
	int rc;

	if (fs_md_is(n, NS_EXC_C14N, "InclusiveNamespaces"))
		return check_text(n, T_WS, err);
	if ((rc = check_text(n, is_ds(n, "DigestValue") ? T_B64 : T_WS,
	    err)) != FS_OK)
		return rc;
	for (xmlNodePtr c = fs_md_first_element(n); c != NULL;
	    c = fs_md_next_element(c))
		if ((rc = check_signed_info_text(c, err)) != FS_OK)
			return rc;
	return FS_OK;
}

/* ds:Signature: SignedInfo, SignatureValue, KeyInfo?, nothing else. */
static int
check_signature_shape(struct found *f, fs_err *err)
{
	xmlNodePtr c;
	char q[128];
	int rc;

	if ((rc = check_text(f->sig, T_WS, err)) != FS_OK)
		return rc;
	f->si = fs_md_first_element(f->sig);
	if (!is_ds(f->si, "SignedInfo"))
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: ds:SignedInfo is not the first child of "
		    "ds:Signature");
	f->sig_value = fs_md_next_element(f->si);
	if (!is_ds(f->sig_value, "SignatureValue"))
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: ds:SignatureValue does not follow "
		    "ds:SignedInfo");
	if ((rc = check_shape(f->sig_value, &value, err)) != FS_OK)
		return rc;
	c = fs_md_next_element(f->sig_value);
	if (is_ds(c, "KeyInfo")) {
		if ((rc = check_shape(c, &keyinfo, err)) != FS_OK)
			return rc;
		c = fs_md_next_element(c);
	}
	if (c != NULL)
		return fs_err_rule(err, FS_RULE_UNSIGNED_CONTENT, "unsigned "
		    "content: <%s> inside ds:Signature is not covered by the "
		    "signature%s; the strict profile allows SignedInfo, "
		    "SignatureValue and KeyInfo only", qname(c, q, sizeof(q)),
		    is_ds(c, "Object") ? " (OpenSAML refuses an embedded "
		    "Object too)" : "");
	return FS_OK;
}

/* --- algorithms and SignedInfo ------------------------------------------ */

/*
 * The Algorithm attribute of n looked up for kind; NULL with err set when
 * it is absent or not allowed.  what names the element in messages.
 */
static const struct fs_alg *
algorithm(xmlNodePtr n, enum fs_alg_kind kind, const char *what,
    const struct fs_verify_opts *opts, fs_err *err)
{
	const struct fs_alg *a;
	xmlChar *uri;

	if ((uri = xmlGetNoNsProp(n, BAD_CAST "Algorithm")) == NULL) {
		fs_err_rule(err, FS_RULE_ALGORITHM, "%s has no Algorithm", what);
		return NULL;
	}
	a = fs_alg_by_uri(kind, (const char *)uri);
	if (a != NULL && (a->flags & FS_ALGF_MD5)) {
		fs_err_rule(err, FS_RULE_ALGORITHM, "algorithm not allowed: "
		    "%s %s uses MD5, which is never accepted", what,
		    (const char *)uri);
		a = NULL;
	} else if (a == NULL) {
		fs_err_rule(err, FS_RULE_ALGORITHM, "algorithm not allowed: %s "
		    "%s is not in the allowlist", what, (const char *)uri);
	} else if ((a->flags & FS_ALGF_SHA1) && !opts->allow_sha1) {
		fs_err_rule(err, FS_RULE_ALGORITHM, "algorithm not allowed: %s "
		    "%s uses SHA-1, which is refused unless SHA-1 is explicitly "
		    "allowed", what, a->name);
		a = NULL;
	}
	xmlFree(uri);
	return a;
}

/*
 * A canonicalization element (CanonicalizationMethod or a c14n Transform):
 * an allowed algorithm, and no child element but the exclusive c14n
 * InclusiveNamespaces.
 */
static const struct fs_alg *
check_c14n(xmlNodePtr n, const char *what, const struct fs_verify_opts *opts,
    fs_err *err)
{
	const struct fs_alg *a;
	xmlNodePtr c;
	int inc = 0;

	if ((a = algorithm(n, FS_ALG_C14N, what, opts, err)) == NULL)
		return NULL;
	for (c = fs_md_first_element(n); c != NULL; c = fs_md_next_element(c)) {
		if ((a->flags & FS_ALGF_EXCLUSIVE) &&
		    fs_md_is(c, NS_EXC_C14N, "InclusiveNamespaces") &&
		    inc++ == 0 && fs_md_first_element(c) == NULL)
			continue;
		fs_err_rule(err, FS_RULE_TRANSFORMS, "transforms: unexpected "
		    "<%s> inside %s (%s)", (const char *)c->name, what, a->name);
		return NULL;
	}
	return a;
}

static int
check_transforms(struct found *f, xmlNodePtr transforms,
    const struct fs_verify_opts *opts, fs_err *err)
{
	xmlNodePtr t[3] = { NULL, NULL, NULL }, c;
	xmlChar *uri = NULL;
	int n = 0, rc = FS_ENOTVALID;

	if (transforms != NULL)
		for (c = fs_md_first_element(transforms); c != NULL && n < 3;
		    c = fs_md_next_element(c)) {
			if (!is_ds(c, "Transform"))
				return fs_err_rule(err, FS_RULE_TRANSFORMS,
				    "transforms: unexpected <%s> in "
				    "ds:Transforms", (const char *)c->name);
			t[n++] = c;
		}
	if (n != 2)
		return fs_err_rule(err, FS_RULE_TRANSFORMS, "transforms: the "
		    "Reference must have exactly two transforms, "
		    "enveloped-signature and one canonicalization; it has %s%d",
		    n == 3 ? "at least " : "", n);
	uri = xmlGetNoNsProp(t[0], BAD_CAST "Algorithm");
	if (uri == NULL || strcmp((const char *)uri, FS_URI_ENVELOPED) != 0) {
		fs_err_rule(err, FS_RULE_TRANSFORMS, "transforms: the first "
		    "transform must be enveloped-signature, not %s; only "
		    "enveloped-signature and one canonicalization are allowed "
		    "(no XPath, XSLT or base64)", uri ? (const char *)uri :
		    "one without Algorithm");
		goto out;
	}
	if (fs_md_first_element(t[0]) != NULL) {
		fs_err_rule(err, FS_RULE_TRANSFORMS, "transforms: unexpected "
		    "<%s> inside the enveloped-signature transform",
		    (const char *)fs_md_first_element(t[0])->name);
		goto out;
	}
	xmlFree(uri);
	uri = xmlGetNoNsProp(t[1], BAD_CAST "Algorithm");
	if (fs_alg_by_uri(FS_ALG_C14N, (const char *)uri) == NULL) {
		fs_err_rule(err, FS_RULE_TRANSFORMS, "transforms: the second "
		    "transform must be a canonicalization (exclusive or "
		    "inclusive c14n, with or without comments), not %s; only "
		    "enveloped-signature and one canonicalization are allowed "
		    "(no XPath, XSLT or base64)", uri ? (const char *)uri :
		    "one without Algorithm");
		goto out;
	}
	if ((f->ref_c14n = check_c14n(t[1], "the canonicalization transform",
	    opts, err)) == NULL)
		goto out;
	f->c14n_transform = t[1];
	rc = FS_OK;
out:
	xmlFree(uri);
	return rc;
}

/* SignedInfo: one c14n, an allowed SignatureMethod, exactly one Reference. */
static int
check_signed_info(struct found *f, const struct fs_verify_opts *opts,
    fs_err *err)
{
	xmlNodePtr c, sm, ref = NULL, dm;
	int nref = 0, rc;

	f->cm = fs_md_first_element(f->si);
	if (!is_ds(f->cm, "CanonicalizationMethod"))
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: ds:CanonicalizationMethod is not the first "
		    "child of ds:SignedInfo");
	sm = fs_md_next_element(f->cm);
	if (!is_ds(sm, "SignatureMethod"))
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: ds:SignatureMethod does not follow "
		    "ds:CanonicalizationMethod");
	for (c = fs_md_next_element(sm); c != NULL; c = fs_md_next_element(c)) {
		if (!is_ds(c, "Reference"))
			return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
			    "structure: unexpected <%s> in ds:SignedInfo",
			    (const char *)c->name);
		if (nref++ == 0)
			ref = c;
	}
	if (nref != 1)
		return fs_err_rule(err, FS_RULE_REFERENCE, "references: "
		    "ds:SignedInfo must hold exactly one ds:Reference, it "
		    "holds %d", nref);
	if ((f->c14n = check_c14n(f->cm, "CanonicalizationMethod", opts,
	    err)) == NULL)
		return FS_ENOTVALID;
	if ((f->sigalg = algorithm(sm, FS_ALG_SIGNATURE, "SignatureMethod",
	    opts, err)) == NULL)
		return FS_ENOTVALID;
	if (fs_md_first_element(sm) != NULL)
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: unexpected <%s> inside ds:SignatureMethod",
		    (const char *)fs_md_first_element(sm)->name);

	/* Reference: Transforms?, DigestMethod, DigestValue. */
	c = fs_md_first_element(ref);
	if (is_ds(c, "Transforms")) {
		if ((rc = check_transforms(f, c, opts, err)) != FS_OK)
			return rc;
		c = fs_md_next_element(c);
	} else if ((rc = check_transforms(f, NULL, opts, err)) != FS_OK)
		return rc;
	dm = c;
	if (!is_ds(dm, "DigestMethod") ||
	    !is_ds(fs_md_next_element(dm), "DigestValue") ||
	    fs_md_next_element(fs_md_next_element(dm)) != NULL)
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: ds:Reference must hold Transforms, "
		    "DigestMethod and DigestValue");
	if (fs_md_first_element(dm) != NULL ||
	    fs_md_first_element(fs_md_next_element(dm)) != NULL)
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: unexpected element inside ds:DigestMethod or "
		    "ds:DigestValue");
	if ((f->digestalg = algorithm(dm, FS_ALG_DIGEST, "DigestMethod", opts,
	    err)) == NULL)
		return FS_ENOTVALID;
	f->ref = ref;
	f->digest_value = fs_md_next_element(dm);
	return FS_OK;
}

/* --- the Reference ------------------------------------------------------- */

/* The text of an attribute (libxml2 keeps it as child text nodes). */
static xmlChar *
attr_value(xmlAttrPtr a)
{
	return xmlNodeListGetString(a->doc, a->children, 1);
}

static int
duplicated(const xmlChar *id, long n, fs_err *err)
{
	return fs_err_rule(err, FS_RULE_DUPLICATE_ID, "duplicated ID: %ld "
	    "elements carry the ID '%s' (possible signature-wrapping "
	    "attack); the signed ID must be unique in the document", n,
	    (const char *)id);
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
				if (fs_dsig_is_id(a, id))
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
 * The Reference URI is "" or "#" + the root's ID, and that ID is unique
 * in the document: the digest then covers the document element, whatever
 * else the document holds.
 */
static int
check_reference_uri(struct found *f, fs_err *err)
{
	xmlChar *uri = NULL, *id = NULL;
	xmlAttrPtr a;
	long n;
	int rc = FS_ENOTVALID;

	if ((uri = xmlGetNoNsProp(f->ref, BAD_CAST "URI")) == NULL) {
		fs_err_rule(err, FS_RULE_REFERENCE, "references: the "
		    "ds:Reference has no URI; it must be \"\" or \"#\" and the "
		    "document element's ID");
		goto out;
	}
	f->id = xmlHasNsProp(f->root, BAD_CAST "ID", NULL);
	if (f->id != NULL && (id = attr_value(f->id)) == NULL) {
		rc = fs_err_nomem(err, "verifying");
		goto out;
	}
	if (uri[0] == '\0') {
		/* The whole document: no ID is involved. */
		rc = FS_OK;
		goto out;
	}
	if (uri[0] != '#' || id == NULL || !xmlStrEqual(uri + 1, id)) {
		fs_err_rule(err, FS_RULE_REFERENCE, "references: the "
		    "ds:Reference URI '%s' does not point to the document "
		    "element (its ID is %s%s%s); only \"\" or \"#\" and the "
		    "document element's ID are allowed", (const char *)uri,
		    id ? "'" : "", id ? (const char *)id : "absent",
		    id ? "'" : "");
		goto out;
	}
	if (xmlValidateNCName(id, 0) != 0) {
		fs_err_rule(err, FS_RULE_REFERENCE, "references: the document "
		    "element's ID '%s' is not a valid xs:ID", (const char *)id);
		goto out;
	}
	/*
	 * Unique: counted while the digest is made (the canonicaliser visits
	 * every attribute anyway), or by a walk of its own when this libxml2
	 * does not visit them as fedsign expects.
	 */
	if (!counts_ids() && (n = count_id(f->root, id)) != 1) {
		duplicated(id, n, err);
		goto out;
	}
	/* An ID libxml2 registered (xml:id) for another element. */
	a = xmlGetID(f->root->doc, id);
	if (a != NULL && a != f->id) {
		fs_err_rule(err, FS_RULE_DUPLICATE_ID, "duplicated ID: '%s' is "
		    "already registered for another element (possible "
		    "signature-wrapping attack)", (const char *)id);
		goto out;
	}
	f->id_value = id;
	id = NULL;
	rc = FS_OK;
out:
	xmlFree(uri);
	xmlFree(id);
	return rc;
}

/* --- validity and key ---------------------------------------------------- */

static int
check_valid_until(xmlNodePtr root, const struct fs_verify_opts *opts,
    fs_err *err)
{
	time_t t, now = opts->now != 0 ? opts->now : time(NULL);
	char tbuf[32], nbuf[32], dbuf[64];
	int r;

	if ((r = fs_md_valid_until(root, &t)) == 0)
		return fs_err_rule(err, FS_RULE_VALIDITY, "validity: no "
		    "validUntil on the document element");
	if (r < 0) {
		xmlChar *v = xmlGetNoNsProp(root, BAD_CAST "validUntil");

		fs_err_rule(err, FS_RULE_VALIDITY, "validity: validUntil '%s' "
		    "is not a valid xs:dateTime", v ? (const char *)v : "");
		xmlFree(v);
		return FS_ENOTVALID;
	}
	fs_time_format(t, tbuf, sizeof(tbuf));
	fs_time_format(now, nbuf, sizeof(nbuf));
	if (t <= now && !opts->allow_expired)
		return fs_err_rule(err, FS_RULE_EXPIRED, "validity: expired: "
		    "validUntil %s is in the past (now %s)", tbuf, nbuf);
	if (opts->max_validity > 0 && t > now &&
	    (int64_t)(t - now) > opts->max_validity) {
		fs_duration_format(opts->max_validity, dbuf, sizeof(dbuf));
		return fs_err_rule(err, FS_RULE_TOO_LONG, "validity: validUntil "
		    "%s is further ahead than the maximum validity %s (now %s; "
		    "--max-validity)", tbuf, dbuf, nbuf);
	}
	return FS_OK;
}

/* The key's type fits the SignatureMethod and it is strong enough. */
static int
check_key(EVP_PKEY *key, const struct fs_alg *sigalg, fs_err *err)
{
	int id = EVP_PKEY_get_base_id(key), bits = EVP_PKEY_get_bits(key);

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC)
		return fs_err_rule(err, FS_RULE_KEY, "key: the pinned key is "
		    "%s, not RSA or EC", OBJ_nid2sn(id));
	if ((sigalg->key == FS_KEY_RSA) != (id == EVP_PKEY_RSA))
		return fs_err_rule(err, FS_RULE_KEY, "key: SignatureMethod %s "
		    "needs an %s key, the pinned key is %s", sigalg->name,
		    sigalg->key == FS_KEY_RSA ? "RSA" : "EC",
		    id == EVP_PKEY_RSA ? "RSA" : "EC");
	if (id == EVP_PKEY_RSA && bits < MIN_RSA_BITS)
		return fs_err_rule(err, FS_RULE_KEY_WEAK, "key too weak: RSA "
		    "%d bits, at least %d required", bits, MIN_RSA_BITS);
	if (id == EVP_PKEY_EC && bits < MIN_EC_BITS)
		return fs_err_rule(err, FS_RULE_KEY_WEAK, "key too weak: EC %d "
		    "bits, at least %d required", bits, MIN_EC_BITS);
	return FS_OK;
}

/* The X509Certificate's certificate when its SHA-256 is fp, else NULL. */
static X509 *
cert_if_pinned(xmlNodePtr n, const uint8_t *fp)
{
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	const unsigned char *p;
	unsigned int mdlen = 0;
	xmlChar *text;
	size_t len = 0;
	X509 *x = NULL;

	if ((text = xmlNodeGetContent(n)) == NULL)
		return NULL;
	if (fs_b64_decode(text, &der, &len) < 0 || len == 0)
		goto out;
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		goto out;
	/* The fingerprint of the DER exactly as it is in KeyInfo. */
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32 || CRYPTO_memcmp(md, fp, 32) != 0 || p != der + len) {
		X509_free(x);
		x = NULL;
	}
out:
	free(der);
	xmlFree(text);
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
	for (ki = fs_md_first_element(sig); ki != NULL;
	    ki = fs_md_next_element(ki)) {
		if (!is_ds(ki, "KeyInfo"))
			continue;
		for (xd = fs_md_first_element(ki); xd != NULL && x == NULL;
		    xd = fs_md_next_element(xd)) {
			if (!is_ds(xd, "X509Data"))
				continue;
			for (c = fs_md_first_element(xd); c != NULL && x == NULL;
			    c = fs_md_next_element(c))
				if (is_ds(c, "X509Certificate"))
					x = cert_if_pinned(c, fp);
		}
		break;
	}
	ERR_clear_error();
	if (x == NULL)
		return fs_err_rule(err, FS_RULE_KEY, "key: no certificate in "
		    "KeyInfo matches the pinned fingerprint");
	*key = X509_get_pubkey(x);
	X509_free(x);
	if (*key == NULL)
		return fs_err_openssl(err, FS_ENOTVALID, "key: the pinned "
		    "certificate's public key cannot be read");
	return FS_OK;
}

/* --- the cryptography ---------------------------------------------------- */

/* The PrefixList of n's ec:InclusiveNamespaces, split; caller frees. */
static int
prefix_list(xmlNodePtr n, xmlChar **text, xmlChar ***list)
{
	xmlNodePtr inc = fs_md_first_element(n);
	size_t count = 0;
	xmlChar *p;

	*text = NULL;
	*list = NULL;
	if (inc == NULL)
		return 0;
	if ((*text = xmlGetNoNsProp(inc, BAD_CAST "PrefixList")) == NULL)
		return 0;
	for (p = *text; *p != '\0'; p++)
		count++;
	if ((*list = calloc(count / 2 + 2, sizeof(xmlChar *))) == NULL)
		return -1;
	count = 0;
	for (p = *text; *p != '\0'; ) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			*p++ = '\0';
		if (*p == '\0')
			break;
		(*list)[count++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' &&
		    *p != '\n')
			p++;
	}
	(*list)[count] = NULL;
	return 0;
}

static int
c14n_params(xmlNodePtr n, const struct fs_alg *a, int comments,
    struct fs_c14n *c, xmlChar **text, fs_err *err)
{
	c->mode = (a->flags & FS_ALGF_EXCLUSIVE) ? XML_C14N_EXCLUSIVE_1_0 :
	    XML_C14N_1_0;
	c->comments = comments;
	c->prefixes = NULL;
	*text = NULL;
	if ((a->flags & FS_ALGF_EXCLUSIVE) &&
	    prefix_list(n, text, &c->prefixes) == -1)
		return fs_err_nomem(err, "verifying");
	return FS_OK;
}

/*
 * Whether counting IDs in the canonicaliser's visibility test gives the
 * walk's answer: checked once on a document with IDs in every place that
 * matters (nested, namespaced look-alikes, xml:id, the excluded subtree).
 */
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static int ids_checked, ids_counted;	/* written once, under ids_lock */

static void
check_counting(void)
{
	static const char doc[] = "<r xmlns:p=\"urn:p\" ID=\"x\"><a p:ID=\"x\" "
	    "ID=\"y\" p:z=\"x\"><b ID=\"x\"/></a><s ID=\"x\"><c xml:id=\"x\"/>"
	    "</s><!-- c --><d p:x=\"1\" ID=\"x\" xml:lang=\"x\"/></r>";
	static const struct fs_c14n inc = { XML_C14N_1_0, 0, NULL };
	struct fs_c14n_set set = { NULL, NULL, BAD_CAST "x", 0, NULL, 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	xmlDocPtr d;
	long walk;

	if (fs_md_parse_mem(doc, sizeof(doc) - 1, "check", NULL, &d, NULL))
		return;
	set.root = xmlDocGetRootElement(d);
	set.exclude = fs_md_next_element(fs_md_first_element(set.root));
	walk = count_id(set.root, BAD_CAST "x");
	ids_counted = walk == 5 &&
	    fs_c14n_digest(d, &set, &fs_c14n_exc, EVP_sha256(), md, &mdlen, NULL) ==
	    FS_OK && set.id_count == walk &&
	    fs_c14n_digest(d, &set, &inc, EVP_sha256(), md, &mdlen, NULL) ==
	    FS_OK && set.id_count == walk;
	xmlFreeDoc(d);
}

static int
counts_ids(void)
{
	fs_dsig_once(&ids_lock, &ids_checked, check_counting);
	return ids_counted;
}

void
fs_dsig_init(void)
{
	(void)counts_ids();
	(void)fs_c14n_apex_same();
}

static int
check_digest(xmlDocPtr doc, struct found *f, fs_err *err)
{
	struct fs_c14n_set set = { f->root, f->sig, NULL, 0, NULL, 0 };
	unsigned char md[EVP_MAX_MD_SIZE], *want = NULL;
	unsigned int mdlen;
	struct fs_c14n c;
	xmlChar *text = NULL, *dv = NULL;
	size_t wantlen;
	int rc;

	/* A same-document Reference leaves comments out, whatever the c14n. */
	if ((rc = c14n_params(f->c14n_transform, f->ref_c14n, 0, &c, &text,
	    err)) != FS_OK)
		return rc;
	if (f->id_value != NULL && counts_ids())
		set.id = f->id_value;
	rc = fs_c14n_digest(doc, &set, &c, fs_alg_md(f->digestalg), md, &mdlen,
	    err);
	free(c.prefixes);
	xmlFree(text);
	if (rc != FS_OK)
		return rc;
	if (set.id != NULL && set.id_count != 1)
		return duplicated(set.id, set.id_count, err);
	if ((dv = xmlNodeGetContent(f->digest_value)) == NULL)
		return fs_err_nomem(err, "verifying");
	if (fs_b64_decode(dv, &want, &wantlen) < 0) {
		xmlFree(dv);
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: DigestValue is not base64");
	}
	xmlFree(dv);
	if (wantlen != mdlen || CRYPTO_memcmp(want, md, mdlen) != 0)
		rc = fs_err_rule(err, FS_RULE_DIGEST, "signature: digest "
		    "mismatch: the signed content was changed after signing");
	free(want);
	return rc;
}

static int
check_signature_value(xmlDocPtr doc, struct found *f, EVP_PKEY *key,
    fs_err *err)
{
	struct fs_c14n_set set = { f->si, NULL, NULL, 0, NULL, 0 };
	unsigned char *sv = NULL, *der = NULL;
	size_t svlen, derlen, n;
	xmlBufferPtr si = NULL;
	struct fs_c14n c;
	EVP_MD_CTX *ctx = NULL;
	xmlChar *text = NULL, *b64;
	int rc, r;

	if ((b64 = xmlNodeGetContent(f->sig_value)) == NULL)
		return fs_err_nomem(err, "verifying");
	r = fs_b64_decode(b64, &sv, &svlen);
	xmlFree(b64);
	if (r < 0 || svlen == 0)
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: SignatureValue is not base64");
	if ((rc = c14n_params(f->cm, f->c14n, (f->c14n->flags &
	    FS_ALGF_COMMENTS) != 0, &c, &text, err)) != FS_OK)
		goto out;
	rc = fs_c14n_buffer(doc, &set, &c, &si, err);
	free(c.prefixes);
	xmlFree(text);
	if (rc != FS_OK)
		goto out;
	if (f->sigalg->key == FS_KEY_EC) {
		/* XML-DSig carries r||s, each as long as the curve's order. */
		n = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;
		if (svlen != 2 * n) {
			rc = fs_err_rule(err, FS_RULE_SIGNATURE, "signature: the "
			    "ECDSA SignatureValue has %zu bytes, not %zu",
			    svlen, 2 * n);
			goto out;
		}
		if ((rc = fs_ecdsa_raw_to_der(sv, svlen, &der, &derlen, err)))
			goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		rc = fs_err_nomem(err, "verifying");
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, fs_alg_md(f->sigalg), NULL, key) != 1) {
		rc = fs_err_openssl(err, FS_EINTERNAL, "signature check set-up "
		    "failed");
		goto out;
	}
	r = EVP_DigestVerify(ctx, der ? der : sv, der ? derlen : svlen,
	    xmlBufferContent(si), (size_t)xmlBufferLength(si));
	if (r == 1) {
		rc = FS_OK;
	} else if (r == 0 || ERR_GET_REASON(ERR_peek_error()) !=
	    ERR_R_MALLOC_FAILURE) {
		rc = fs_err_rule(err, FS_RULE_SIGNATURE, "signature: the "
		    "signature value does not verify with the pinned key "
		    "(signed by another key, or SignedInfo was changed)");
	} else {
		rc = fs_err_nomem(err, "verifying");
	}
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	if (si != NULL)
		xmlBufferFree(si);
	free(der);
	free(sv);
	return rc;
}

static int
verify(xmlDocPtr doc, const struct fs_verify_opts *opts, xmlNodePtr *verified,
    fs_err *err)
{
	struct found f = { 0 };
	EVP_PKEY *owned = NULL, *key;
	xmlNodePtr c;
	int nsig = 0, rc;

	if (opts->key == NULL && opts->fingerprint == NULL)
		return fs_err_set(err, FS_EUSAGE, "no pinned key or "
		    "fingerprint to verify with");
	if ((f.root = fs_md_root(doc, "document", err)) == NULL)
		return FS_ENOTVALID;
	for (c = fs_md_first_element(f.root); c != NULL;
	    c = fs_md_next_element(c))
		if (is_ds(c, "Signature") && nsig++ == 0)
			f.sig = c;
	if (nsig == 0)
		return fs_err_rule(err, FS_RULE_NOT_SIGNED, "not signed: the "
		    "document element has no ds:Signature child");
	if (nsig > 1)
		return fs_err_rule(err, FS_RULE_STRUCTURE, "signature "
		    "structure: the document element has %d ds:Signature "
		    "children, exactly one is allowed", nsig);
	if ((rc = check_signature_shape(&f, err)) != FS_OK ||
	    (rc = check_signed_info(&f, opts, err)) != FS_OK ||
	    (rc = check_signed_info_text(f.si, err)) != FS_OK ||
	    (rc = check_reference_uri(&f, err)) != FS_OK) {
		xmlFree(f.id_value);
		return rc;
	}
	if (opts->key != NULL)
		key = opts->key;
	else if ((rc = key_by_fingerprint(f.sig, opts->fingerprint, &owned,
	    err)) != FS_OK)
		goto out;
	else
		key = owned;
	if ((rc = check_key(key, f.sigalg, err)) != FS_OK ||
	    (rc = check_valid_until(f.root, opts, err)) != FS_OK)
		goto out;
	if (!opts->signed_here)
		rc = check_digest(doc, &f, err);
	else if (f.id_value != NULL && counts_ids() &&
	    (nsig = (int)count_id(f.root, f.id_value)) != 1)
		rc = duplicated(f.id_value, nsig, err);
	if (rc != FS_OK ||
	    (rc = check_signature_value(doc, &f, key, err)) != FS_OK)
		goto out;
	if (verified != NULL)
		*verified = f.root;
	rc = FS_OK;
out:
	EVP_PKEY_free(owned);
	xmlFree(f.id_value);
	return rc;
}

int
fs_dsig_verify(xmlDocPtr doc, const struct fs_verify_opts *opts,
    xmlNodePtr *verified, fs_err *err)
{
	unsigned long failures = fs_md_alloc_failures();
	int rc;

	if (verified != NULL)
		*verified = NULL;
	rc = verify(doc, opts, verified, err);
	/* A failed allocation can look like a missing attribute. */
	if (fs_md_alloc_failures() != failures) {
		if (verified != NULL)
			*verified = NULL;
		return fs_err_nomem(err, "while verifying");
	}
	return rc;
}
