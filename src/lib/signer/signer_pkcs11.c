/* Signer backend: a private key on a PKCS#11 token. */
#include "signer/signer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

struct p11_signer {
	fs_token *t;		/* owned when the signer opened it */
	fs_key *k;
};

static CK_MECHANISM_TYPE
combined_mech(const EVP_MD *md)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha256: return CKM_SHA256_RSA_PKCS;
	case NID_sha384: return CKM_SHA384_RSA_PKCS;
	case NID_sha512: return CKM_SHA512_RSA_PKCS;
	default: return CKM_VENDOR_DEFINED;
	}
}

static int
p11_sign_digest(fs_signer *s, const EVP_MD *md, const uint8_t *d, size_t dlen,
    uint8_t **sig, size_t *siglen, fs_err *err)
{
	struct p11_signer *ps = s->impl;
	uint8_t buf[32 + EVP_MAX_MD_SIZE];
	const uint8_t *prefix;
	size_t plen;

	if (s->type == FS_KEY_EC)
		return fs_key_sign(ps->k, CKM_ECDSA, d, dlen, sig, siglen, err);
	/* The token only does the private-key operation on a DigestInfo. */
	prefix = fs_digest_info(md, &plen);
	if (prefix == NULL || plen + dlen > sizeof(buf))
		return fs_err_set(err, FS_EUSAGE, "digest not allowed");
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, d, dlen);
	return fs_key_sign(ps->k, CKM_RSA_PKCS, buf, plen + dlen, sig, siglen,
	    err);
}

static int
p11_sign(fs_signer *s, const EVP_MD *md, const uint8_t *data, size_t len,
    uint8_t **sig, size_t *siglen, fs_err *err)
{
	struct p11_signer *ps = s->impl;
	unsigned char d[EVP_MAX_MD_SIZE];
	CK_MECHANISM_TYPE combined = combined_mech(md);
	CK_MECHANISM_INFO mi;
	unsigned int dlen;
	int rc;

	/*
	 * The token hashes when it can.  When it lists the mechanism but will
	 * not start it with this key (CKA_ALLOWED_MECHANISMS), hash here.
	 */
	if (s->type == FS_KEY_RSA &&
	    fs_token_has_mech(fs_key_token(ps->k), combined, &mi) &&
	    (mi.flags & CKF_SIGN)) {
		rc = fs_key_sign(ps->k, combined, data, len, sig, siglen, err);
		if (rc == FS_OK || !fs_p11_mech_refused(err))
			return rc;
	}
	if (EVP_Digest(data, len, d, &dlen, md, NULL) != 1)
		return fs_err_openssl(err, FS_EINTERNAL, "digest failed");
	return p11_sign_digest(s, md, d, dlen, sig, siglen, err);
}

static void
p11_free(void *impl)
{
	struct p11_signer *ps = impl;

	if (ps == NULL)
		return;
	fs_key_free(ps->k);
	fs_token_free(ps->t);
	free(ps);
}

static const struct fs_signer_ops p11_ops = { p11_sign_digest, p11_sign,
    p11_free };

/* Adopt the token's certificate for the key, or record why not. */
static void
load_token_cert(fs_signer *s, fs_key *k)
{
	X509 *x = NULL;
	int none = 0;

	if (fs_x509_from_token(k, &x, &none, &s->cert_problem) != FS_OK) {
		s->have_cert_problem = !none;
		return;
	}
	if (fs_signer_set_cert(s, x, NULL) != FS_OK) {
		fs_err_set(&s->cert_problem, FS_ETOKEN, "the certificate object "
		    "with the key's id on token '%s' belongs to another key "
		    "pair: replace it with 'fedsign cert create --replace', or "
		    "give --cert", fs_token_label(fs_key_token(k)));
		s->have_cert_problem = 1;
	}
	X509_free(x);
}

/* A signer for k; takes t (may be NULL) and k. */
static int
wrap(fs_token *t, fs_key *k, fs_signer **out, fs_err *err)
{
	struct p11_signer *ps;
	EVP_PKEY *pub = NULL;
	fs_signer *s;
	uint8_t *v = NULL;
	size_t vlen;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (ps = calloc(1, sizeof(*ps))) == NULL) {
		free(s);
		fs_key_free(k);
		fs_token_free(t);
		return fs_err_nomem(err, "opening a signer");
	}
	ps->t = t;
	ps->k = k;
	s->ops = &p11_ops;
	s->impl = ps;
	s->token = 1;
	if (fs_token_attr(fs_key_token(k), fs_key_handle(k), CKA_SIGN, &v,
	    &vlen, NULL) == FS_OK && vlen == sizeof(CK_BBOOL) &&
	    *(CK_BBOOL *)v == CK_FALSE) {
		free(v);
		rc = fs_err_set(err, FS_ETOKEN, "the key on token '%s' may not "
		    "sign (CKA_SIGN is false)", fs_token_label(fs_key_token(k)));
		goto fail;
	}
	free(v);
	if ((rc = fs_key_public(k, &pub, err)) != FS_OK ||
	    (rc = fs_signer_init(s, pub, err)) != FS_OK)
		goto fail;
	load_token_cert(s, k);
	*out = s;
	return FS_OK;
fail:
	fs_signer_free(s);
	return rc;
}

int
fs_signer_from_key(fs_key *k, fs_signer **out, fs_err *err)
{
	fs_key *copy;
	int rc;

	/* The signer keeps a key object of its own; the token is borrowed. */
	*out = NULL;
	if ((rc = fs_key_dup(k, &copy, err)) != FS_OK)
		return rc;
	return wrap(NULL, copy, out, err);
}

int
fs_signer_open_pkcs11(const char *uri, const struct fs_token_opts *opts,
    fs_signer **out, fs_err *err)
{
	fs_token *t;
	fs_key *k;
	int rc;

	*out = NULL;
	if ((rc = fs_token_open(uri, opts, &t, err)) != FS_OK)
		return rc;
	if ((rc = fs_token_login(t, err)) != FS_OK ||
	    (rc = fs_key_find(t, NULL, CKO_PRIVATE_KEY, &k, err)) != FS_OK) {
		fs_token_free(t);
		return rc;
	}
	return wrap(t, k, out, err);
}

unsigned
fs_signer_parallel(const fs_signer *s)
{
	const struct p11_signer *ps = s->impl;

	if (s->parallel > 0)
		return s->parallel;
	if (!s->token)
		return FS_TOKEN_MAX_SESSIONS;
	return fs_token_max_sessions(fs_key_token(ps->k));
}
