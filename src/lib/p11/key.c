/* Keys on a token: found by URI, their public half, signatures. */
#include "p11/p11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

static const char *
class_name(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PRIVATE_KEY: return "private key";
	case CKO_PUBLIC_KEY: return "public key";
	case CKO_CERTIFICATE: return "certificate";
	case CKO_SECRET_KEY: return "secret key";
	case CKO_DATA: return "data object";
	default: return "object";
	}
}

static const char *
type_word(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PRIVATE_KEY: return "private";
	case CKO_PUBLIC_KEY: return "public";
	case CKO_CERTIFICATE: return "cert";
	case CKO_SECRET_KEY: return "secret-key";
	default: return "data";
	}
}

/* "object=a;id=01, object=b;id=02" for objs, into buf. */
static void
describe_all(fs_token *t, const CK_OBJECT_HANDLE *objs, CK_ULONG n, char *buf,
    size_t len)
{
	size_t used = 0;
	char d[200];

	buf[0] = '\0';
	for (CK_ULONG i = 0; i < n && used < len; i++) {
		fs_token_describe(t, objs[i], d, sizeof(d));
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		    used ? ", " : "", d);
	}
}

/* Fill the key's cached attributes. */
static int
load_key(fs_key *k, fs_err *err)
{
	uint8_t *v = NULL;
	size_t len;
	CK_KEY_TYPE kt;
	int rc;

	if ((rc = fs_token_attr(k->t, k->h, CKA_KEY_TYPE, &v, &len, err)))
		return rc;
	if (len != sizeof(kt)) {
		free(v);
		return fs_err_set(err, FS_ETOKEN, "the key's CKA_KEY_TYPE has "
		    "a wrong size: a module fault");
	}
	memcpy(&kt, v, sizeof(kt));
	free(v);
	k->type = kt;
	if (fs_token_attr(k->t, k->h, CKA_LABEL, &v, &len, NULL) == FS_OK) {
		snprintf(k->label, sizeof(k->label), "%.*s", (int)len,
		    (const char *)v);
		free(v);
	}
	if (fs_token_attr(k->t, k->h, CKA_ID, &v, &len, NULL) == FS_OK) {
		if (len <= sizeof(k->id)) {
			memcpy(k->id, v, len);
			k->idlen = len;
		}
		free(v);
	}
	return FS_OK;
}

int
fs_key_find(fs_token *t, const char *uristr, CK_OBJECT_CLASS cls,
    fs_key **out, fs_err *err)
{
	CK_ATTRIBUTE *ua, tmpl[8], *ca;
	CK_ULONG nua = 0, n = 0, count;
	CK_OBJECT_HANDLE objs[16];
	P11KitUri *uri = t->uri, *own = NULL;
	char list[1024];
	fs_key *k;
	int rc;

	*out = NULL;
	if (uristr != NULL) {
		if ((rc = fs_p11_parse_uri(uristr, &own, err)) != FS_OK)
			return rc;
		uri = own;
		if (!p11_kit_uri_match_token_info(uri, &t->info)) {
			p11_kit_uri_free(own);
			return fs_err_set(err, FS_ETOKEN, "the key URI names "
			    "another token than '%s' (serial %s)", t->label,
			    t->serial);
		}
	}
	ca = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	if (ca != NULL && ca->ulValueLen == sizeof(CK_OBJECT_CLASS) &&
	    *(CK_OBJECT_CLASS *)ca->pValue != cls) {
		CK_OBJECT_CLASS has = *(CK_OBJECT_CLASS *)ca->pValue;

		p11_kit_uri_free(own);
		return fs_err_set(err, FS_EUSAGE, "the key URI says type=%s (a "
		    "%s), but a %s is needed here: write type=%s or leave "
		    "type= out", type_word(has), class_name(has),
		    class_name(cls), type_word(cls));
	}
	ua = p11_kit_uri_get_attributes(uri, &nua);
	for (CK_ULONG i = 0; i < nua && n < 7; i++)
		if (ua[i].type == CKA_LABEL || ua[i].type == CKA_ID)
			tmpl[n++] = ua[i];
	tmpl[n].type = CKA_CLASS;
	tmpl[n].pValue = &cls;
	tmpl[n].ulValueLen = sizeof(cls);
	n++;
	rc = fs_token_objects(t, tmpl, n, objs, 16, &count, err);
	p11_kit_uri_free(own);
	if (rc != FS_OK)
		return rc;
	if (count == 0) {
		CK_ATTRIBUTE c = { CKA_CLASS, &cls, sizeof(cls) };

		if (fs_token_objects(t, &c, 1, objs, 16, &count, NULL) != FS_OK)
			count = 0;
		describe_all(t, objs, count, list, sizeof(list));
		return fs_err_set(err, FS_ETOKEN, "no %s on token '%s' matches "
		    "the URI; the token has %s%s", class_name(cls), t->label,
		    count ? list : "none", (cls == CKO_PRIVATE_KEY &&
		    !t->logged_in) ? " (private keys show only after login)" :
		    "");
	}
	if (count > 1) {
		describe_all(t, objs, count, list, sizeof(list));
		return fs_err_set(err, FS_ETOKEN, "the URI matches %lu %ss on "
		    "token '%s': %s; name one with object= and id=",
		    (unsigned long)count, class_name(cls), t->label, list);
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return fs_err_nomem(err, "finding a key");
	k->t = t;
	k->h = objs[0];
	k->cls = cls;
	if ((rc = load_key(k, err)) != FS_OK) {
		free(k);
		return rc;
	}
	*out = k;
	return FS_OK;
}

int
fs_key_dup(const fs_key *k, fs_key **out, fs_err *err)
{
	if ((*out = malloc(sizeof(**out))) == NULL)
		return fs_err_nomem(err, "copying a key");
	**out = *k;
	return FS_OK;
}

void
fs_key_free(fs_key *k)
{
	free(k);
}

fs_token *
fs_key_token(const fs_key *k)
{
	return k->t;
}

CK_OBJECT_HANDLE
fs_key_handle(const fs_key *k)
{
	return k->h;
}

CK_KEY_TYPE
fs_key_type(const fs_key *k)
{
	return k->type;
}

const char *
fs_key_label(const fs_key *k)
{
	return k->label;
}

const uint8_t *
fs_key_id(const fs_key *k, size_t *len)
{
	*len = k->idlen;
	return k->id;
}

static int
rsa_pkey(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
    EVP_PKEY **pkey, fs_err *err)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	int rc = FS_ETOKEN;

	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		fs_err_openssl(err, FS_ETOKEN, "cannot build the RSA public key "
		    "read from the token");
		goto out;
	}
	rc = FS_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return rc;
}

static int
ec_pkey(const uint8_t *params_der, size_t plen, const uint8_t *point,
    size_t ptlen, EVP_PKEY **pkey, fs_err *err)
{
	const unsigned char *q = params_der;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	const char *group;
	EC_GROUP *grp;
	size_t field = 0;
	int rc = FS_ETOKEN, nid;

	if ((oid = d2i_ASN1_OBJECT(NULL, &q, (long)plen)) == NULL ||
	    (nid = OBJ_obj2nid(oid)) == NID_undef ||
	    (group = OBJ_nid2sn(nid)) == NULL) {
		fs_err_set(err, FS_ETOKEN, "the token's EC key has parameters "
		    "fedsign does not know (only named curves are supported)");
		goto out;
	}
	/*
	 * CKA_EC_POINT is a DER OCTET STRING; some tokens send the bare
	 * uncompressed point (0x04, X, Y), told apart by its exact length.
	 */
	if ((grp = EC_GROUP_new_by_curve_name(nid)) != NULL)
		field = (size_t)(EC_GROUP_get_degree(grp) + 7) / 8;
	EC_GROUP_free(grp);
	q = point;
	if (!(field > 0 && ptlen == 1 + 2 * field && point[0] == 0x04) &&
	    (os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)ptlen)) != NULL &&
	    q == point + ptlen) {
		point = ASN1_STRING_get0_data(os);
		ptlen = (size_t)ASN1_STRING_length(os);
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)point, ptlen);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		fs_err_openssl(err, FS_ETOKEN, "cannot build the EC public key "
		    "read from the token");
		goto out;
	}
	rc = FS_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(os);
	return rc;
}

int
fs_key_public(fs_key *k, EVP_PKEY **pkey, fs_err *err)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;
	CK_OBJECT_HANDLE pub = k->h;
	int rc;

	*pkey = NULL;
	if (k->type != CKK_RSA && k->type != CKK_EC)
		return fs_err_set(err, FS_ETOKEN, "key type 0x%lx is not RSA "
		    "or EC", (unsigned long)k->type);
	if (k->type == CKK_RSA &&
	    fs_token_attr(k->t, k->h, CKA_MODULUS, &a, &alen, NULL) == FS_OK &&
	    fs_token_attr(k->t, k->h, CKA_PUBLIC_EXPONENT, &b, &blen,
	    NULL) == FS_OK) {
		rc = rsa_pkey(a, alen, b, blen, pkey, err);
		goto out;
	}
	free(a);
	free(b);
	a = b = NULL;
	if (k->cls != CKO_PUBLIC_KEY) {
		rc = fs_token_find_by_id(k->t, CKO_PUBLIC_KEY, k->id, k->idlen,
		    &pub, NULL, err);
		if (rc != FS_OK) {
			fs_err_append(err, "cannot read the public key");
			goto out;
		}
	}
	if (k->type == CKK_RSA) {
		if ((rc = fs_token_attr(k->t, pub, CKA_MODULUS, &a, &alen,
		    err)) != FS_OK || (rc = fs_token_attr(k->t, pub,
		    CKA_PUBLIC_EXPONENT, &b, &blen, err)) != FS_OK)
			goto out;
		rc = rsa_pkey(a, alen, b, blen, pkey, err);
	} else {
		if ((rc = fs_token_attr(k->t, pub, CKA_EC_PARAMS, &a, &alen,
		    err)) != FS_OK || (rc = fs_token_attr(k->t, pub,
		    CKA_EC_POINT, &b, &blen, err)) != FS_OK)
			goto out;
		rc = ec_pkey(a, alen, b, blen, pkey, err);
	}
out:
	free(a);
	free(b);
	if (rc == FS_OK && k->siglen == 0) {
		int bits = EVP_PKEY_get_bits(*pkey);

		k->siglen = k->type == CKK_EC ? 2 * (size_t)((bits + 7) / 8) :
		    (size_t)((bits + 7) / 8);
	}
	return rc;
}

int
fs_p11_mech_refused(const fs_err *err)
{
	return strcmp(err->call, "C_SignInit") == 0 &&
	    (err->rv == CKR_MECHANISM_INVALID ||
	    err->rv == CKR_MECHANISM_PARAM_INVALID ||
	    err->rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
	    err->rv == CKR_KEY_TYPE_INCONSISTENT);
}

int
fs_key_sign(fs_key *k, CK_MECHANISM_TYPE mech, const uint8_t *in,
    size_t inlen, uint8_t **sig, size_t *siglen, fs_err *err)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	enum { BUF = 1024 };		/* RSA-8192 or any EC curve fits */
	CK_ULONG len = BUF;
	CK_SESSION_HANDLE s;
	fs_token *t = k->t;
	uint8_t *buf;
	CK_RV rv;
	int rc;

	*sig = NULL;
	*siglen = 0;
	if (k->siglen == 0) {
		EVP_PKEY *pk;

		/* The expected length comes from the public key. */
		if ((rc = fs_key_public(k, &pk, err)) != FS_OK)
			return rc;
		EVP_PKEY_free(pk);
	}
	if ((buf = malloc(BUF)) == NULL)
		return fs_err_nomem(err, "signing");
	if ((rc = fs_token_get_session(t, &s, err)) != FS_OK) {
		free(buf);
		return rc;
	}
	P11_CALL(&t->hooks, rv, "C_SignInit", t->mod->C_SignInit(s, &m, k->h));
	if (rv != CKR_OK) {
		fs_token_put_session(t, s, fs_p11_rv_broken(rv));
		free(buf);
		return fs_p11_err(err, rv, "C_SignInit");
	}
	/* One C_Sign with a buffer large enough: slow tokens sign once. */
	P11_CALL(&t->hooks, rv, "C_Sign", t->mod->C_Sign(s, (CK_BYTE *)in,
	    inlen, buf, &len));
	if (rv != CKR_OK) {
		/* CKR_BUFFER_TOO_SMALL leaves the operation active: drop it. */
		fs_token_put_session(t, s, fs_p11_rv_broken(rv) ||
		    rv == CKR_BUFFER_TOO_SMALL);
		free(buf);
		return fs_p11_err(err, rv, "C_Sign");
	}
	fs_token_put_session(t, s, 0);
	if (len > BUF || len != k->siglen) {
		free(buf);
		return fs_err_set(err, FS_ETOKEN, "the PKCS#11 module returned "
		    "a signature of %lu bytes from C_Sign, but the key makes "
		    "signatures of %zu bytes: a module fault; nothing was "
		    "signed", (unsigned long)len, k->siglen);
	}
	*sig = buf;
	*siglen = len;
	return FS_OK;
}
