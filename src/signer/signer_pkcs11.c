/* Signer backend: a private key on a PKCS#11 token. */
#include "signer/signer_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "p11/p11.h"

struct p11_signer {
	fs_p11 *p;
	CK_OBJECT_HANDLE key;
	int own;		/* the signer closes p */
};

/* DER DigestInfo prefixes (RFC 8017, 9.2 note 1). */
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

static int
p11_sign(fs_signer *s, const EVP_MD *md, const uint8_t *data, size_t len,
    uint8_t **sig, size_t *siglen, fs_err *err)
{
	struct p11_signer *ps = s->impl;
	uint8_t buf[sizeof(di_sha512) + EVP_MAX_MD_SIZE];
	const uint8_t *prefix;
	size_t plen;
	unsigned int dlen;
	CK_MECHANISM_TYPE combined;
	CK_MECHANISM_INFO mi;
	int nid = EVP_MD_get_type(md);

	switch (nid) {
	case NID_sha256:
		prefix = di_sha256, plen = sizeof(di_sha256);
		combined = CKM_SHA256_RSA_PKCS;
		break;
	case NID_sha384:
		prefix = di_sha384, plen = sizeof(di_sha384);
		combined = CKM_SHA384_RSA_PKCS;
		break;
	case NID_sha512:
		prefix = di_sha512, plen = sizeof(di_sha512);
		combined = CKM_SHA512_RSA_PKCS;
		break;
	default:
		return fs_err_set(err, FS_EUSAGE, "digest %s is not allowed for "
		    "signing", EVP_MD_get0_name(md));
	}
	/*
	 * The token hashes when it can.  When it lists the mechanism but will
	 * not start it with this key (CKA_ALLOWED_MECHANISMS), hash here.
	 */
	if (s->type == FS_SIGKEY_RSA && fs_p11_has_mech(ps->p, combined, &mi) &&
	    (mi.flags & CKF_SIGN)) {
		int rc = fs_p11_sign(ps->p, ps->key, combined, data, len, sig,
		    siglen, err);
		if (rc == FS_OK || !fs_p11_mech_refused(ps->p))
			return rc;
	}
	/* Hash here; the token only does the private-key operation. */
	if (EVP_Digest(data, len, buf + plen, &dlen, md, NULL) != 1)
		return fs_err_openssl(err, FS_EINTERNAL, "digest failed");
	if (s->type == FS_SIGKEY_EC)
		return fs_p11_sign(ps->p, ps->key, CKM_ECDSA, buf + plen, dlen,
		    sig, siglen, err);
	memcpy(buf, prefix, plen);
	return fs_p11_sign(ps->p, ps->key, CKM_RSA_PKCS, buf, plen + dlen, sig,
	    siglen, err);
}

static void
p11_free(void *impl)
{
	struct p11_signer *ps = impl;

	if (ps == NULL)
		return;
	if (ps->own)
		fs_p11_free(ps->p);
	free(ps);
}

static const struct fs_signer_ops p11_ops = { p11_sign, p11_free };

/* Adopt the token's certificate for the key when there is one. */
static void
load_token_cert(fs_signer *s, struct p11_signer *ps)
{
	CK_OBJECT_HANDLE c;
	uint8_t *id = NULL, *der = NULL;
	const unsigned char *q;
	size_t idlen, dlen;
	X509 *x;

	if (fs_p11_attr(ps->p, ps->key, CKA_ID, &id, &idlen, NULL) != FS_OK)
		return;
	if (fs_p11_find_by_id(ps->p, CKO_CERTIFICATE, id, idlen, &c, NULL) ==
	    FS_OK && fs_p11_attr(ps->p, c, CKA_VALUE, &der, &dlen, NULL) ==
	    FS_OK) {
		q = der;
		if ((x = d2i_X509(NULL, &q, (long)dlen)) != NULL) {
			(void)fs_signer_set_cert(s, x, NULL);
			X509_free(x);
		}
	}
	free(id);
	free(der);
}

static int
wrap(fs_p11 *p, CK_OBJECT_HANDLE key, int own, fs_signer **out, fs_err *err)
{
	struct p11_signer *ps;
	EVP_PKEY *pub = NULL;
	fs_signer *s;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (ps = calloc(1, sizeof(*ps))) == NULL) {
		free(s);
		if (own)
			fs_p11_free(p);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	ps->p = p;
	ps->key = key;
	ps->own = own;
	s->ops = &p11_ops;
	s->impl = ps;
	s->token = 1;
	if (fs_p11_bool(p, key, CKA_SIGN) == 0) {
		rc = fs_err_set(err, FS_ETOKEN, "the key on token '%s' may not "
		    "sign (CKA_SIGN is false)", fs_p11_token_label(p));
		goto fail;
	}
	if ((rc = fs_p11_public_key(p, key, &pub, err)) != FS_OK ||
	    (rc = fs_signer_init(s, pub, err)) != FS_OK)
		goto fail;
	load_token_cert(s, ps);
	*out = s;
	return FS_OK;
fail:
	fs_signer_free(s);
	return rc;
}

int
fs_signer_wrap_p11(fs_p11 *p, CK_OBJECT_HANDLE key, fs_signer **out,
    fs_err *err)
{
	return wrap(p, key, 0, out, err);
}

int
fs_signer_open_pkcs11(const char *uri, const char *module, fs_signer **out,
    fs_err *err)
{
	CK_OBJECT_HANDLE key;
	fs_p11 *p;
	int rc;

	*out = NULL;
	if ((rc = fs_p11_open(uri, module, 0, &p, err)) != FS_OK)
		return rc;
	if ((rc = fs_p11_login(p, err)) != FS_OK ||
	    (rc = fs_p11_find(p, CKO_PRIVATE_KEY, &key, err)) != FS_OK) {
		fs_p11_free(p);
		return rc;
	}
	return wrap(p, key, 1, out, err);
}
