#include "signer/signer_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

int
fs_signer_init(fs_signer *s, EVP_PKEY *pub, fs_err *err)
{
	s->pub = pub;
	s->bits = (unsigned)EVP_PKEY_get_bits(pub);
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		s->type = FS_SIGKEY_RSA;
		break;
	case EVP_PKEY_EC:
		s->type = FS_SIGKEY_EC;
		break;
	default:
		return fs_err_set(err, FS_ETOKEN, "the key is neither RSA nor "
		    "EC; fedsign signs with RSA or EC keys");
	}
	return FS_OK;
}

void
fs_signer_free(fs_signer *s)
{
	if (s == NULL)
		return;
	if (s->ops != NULL && s->ops->free != NULL)
		s->ops->free(s->impl);
	EVP_PKEY_free(s->pub);
	X509_free(s->cert);
	free(s);
}

int
fs_signer_sign(fs_signer *s, const EVP_MD *md, const uint8_t *data,
    size_t len, int der_ecdsa, uint8_t **sig, size_t *siglen, fs_err *err)
{
	uint8_t *raw;
	size_t rawlen;
	int rc;

	*sig = NULL;
	if ((rc = s->ops->sign(s, md, data, len, &raw, &rawlen, err)) != FS_OK)
		return rc;
	if (s->type != FS_SIGKEY_EC || !der_ecdsa) {
		*sig = raw;
		*siglen = rawlen;
		return FS_OK;
	}
	rc = fs_ecdsa_raw_to_der(raw, rawlen, sig, siglen, err);
	free(raw);
	return rc;
}

enum fs_sigkey
fs_signer_type(const fs_signer *s)
{
	return s->type;
}

unsigned
fs_signer_bits(const fs_signer *s)
{
	return s->bits;
}

EVP_PKEY *
fs_signer_pubkey(const fs_signer *s)
{
	return s->pub;
}

X509 *
fs_signer_cert(const fs_signer *s)
{
	return s->cert;
}

int
fs_signer_is_token(const fs_signer *s)
{
	return s->token;
}

int
fs_signer_set_cert(fs_signer *s, X509 *cert, fs_err *err)
{
	EVP_PKEY *k = X509_get0_pubkey(cert);

	if (k == NULL || EVP_PKEY_eq(k, s->pub) != 1)
		return fs_err_set(err, FS_ETOKEN, "the certificate's public key "
		    "is not the signing key's: it belongs to another key pair");
	if (!X509_up_ref(cert))
		return fs_err_set(err, FS_EINTERNAL, "X509_up_ref failed");
	X509_free(s->cert);
	s->cert = cert;
	return FS_OK;
}

int
fs_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t n, uint8_t **raw,
    size_t *rawlen, fs_err *err)
{
	const unsigned char *p = der;
	const BIGNUM *r, *sv;
	ECDSA_SIG *sig;
	uint8_t *out;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return fs_err_openssl(err, FS_EINTERNAL, "bad ECDSA signature");
	ECDSA_SIG_get0(sig, &r, &sv);
	if ((out = malloc(2 * n)) == NULL ||
	    BN_bn2binpad(r, out, (int)n) < 0 ||
	    BN_bn2binpad(sv, out + n, (int)n) < 0) {
		free(out);
		ECDSA_SIG_free(sig);
		return fs_err_set(err, FS_EINTERNAL, "bad ECDSA signature size");
	}
	ECDSA_SIG_free(sig);
	*raw = out;
	*rawlen = 2 * n;
	return FS_OK;
}

int
fs_ecdsa_raw_to_der(const uint8_t *raw, size_t len, uint8_t **der,
    size_t *derlen, fs_err *err)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r, *sv;
	unsigned char *out = NULL;
	int n;

	if (len == 0 || len % 2 != 0)
		return fs_err_set(err, FS_ETOKEN, "the token returned an ECDSA "
		    "signature of odd length %zu", len);
	r = BN_bin2bn(raw, (int)(len / 2), NULL);
	sv = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	if (r == NULL || sv == NULL || (sig = ECDSA_SIG_new()) == NULL ||
	    !ECDSA_SIG_set0(sig, r, sv)) {
		BN_free(r);
		BN_free(sv);
		ECDSA_SIG_free(sig);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	n = i2d_ECDSA_SIG(sig, &out);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return fs_err_openssl(err, FS_EINTERNAL, "i2d_ECDSA_SIG");
	*der = malloc((size_t)n);
	if (*der == NULL) {
		OPENSSL_free(out);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	memcpy(*der, out, (size_t)n);
	OPENSSL_free(out);
	*derlen = (size_t)n;
	return FS_OK;
}
