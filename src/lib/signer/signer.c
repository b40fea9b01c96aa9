#include "signer/signer_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

/* DER DigestInfo prefixes (RFC 8017, 9.2 note 1). */
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

const uint8_t *
fs_digest_info(const EVP_MD *md, size_t *len)
{
	switch (EVP_MD_get_type(md)) {
	case NID_sha256: *len = sizeof(di_sha256); return di_sha256;
	case NID_sha384: *len = sizeof(di_sha384); return di_sha384;
	case NID_sha512: *len = sizeof(di_sha512); return di_sha512;
	default: *len = 0; return NULL;
	}
}

int
fs_signer_init(fs_signer *s, EVP_PKEY *pub, fs_err *err)
{
	s->pub = pub;
	s->bits = (unsigned)EVP_PKEY_get_bits(pub);
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		s->type = FS_KEY_RSA;
		break;
	case EVP_PKEY_EC:
		s->type = FS_KEY_EC;
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

/* Only SHA-2 digests are made by fedsign. */
static int
check_md(const EVP_MD *md, fs_err *err)
{
	size_t n;

	if (fs_digest_info(md, &n) == NULL)
		return fs_err_set(err, FS_EUSAGE, "digest %s is not allowed for "
		    "signing: use sha256, sha384 or sha512",
		    EVP_MD_get0_name(md));
	return FS_OK;
}

static int
finish(fs_signer *s, uint8_t *raw, size_t rawlen, int der_ecdsa,
    uint8_t **sig, size_t *siglen, fs_err *err)
{
	int rc;

	if (s->type != FS_KEY_EC || !der_ecdsa) {
		*sig = raw;
		*siglen = rawlen;
		return FS_OK;
	}
	rc = fs_ecdsa_raw_to_der(raw, rawlen, sig, siglen, err);
	free(raw);
	return rc;
}

int
fs_signer_sign(fs_signer *s, const EVP_MD *md, const uint8_t *data,
    size_t len, int der_ecdsa, uint8_t **sig, size_t *siglen, fs_err *err)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	uint8_t *raw;
	size_t rawlen;
	int rc;

	*sig = NULL;
	if ((rc = check_md(md, err)) != FS_OK)
		return rc;
	if (s->ops->sign != NULL) {
		rc = s->ops->sign(s, md, data, len, &raw, &rawlen, err);
	} else {
		if (EVP_Digest(data, len, d, &dlen, md, NULL) != 1)
			return fs_err_openssl(err, FS_EINTERNAL, "digest failed");
		rc = s->ops->sign_digest(s, md, d, dlen, &raw, &rawlen, err);
	}
	if (rc != FS_OK)
		return rc;
	return finish(s, raw, rawlen, der_ecdsa, sig, siglen, err);
}

int
fs_signer_sign_digest(fs_signer *s, const EVP_MD *md, const uint8_t *digest,
    size_t dlen, int der_ecdsa, uint8_t **sig, size_t *siglen, fs_err *err)
{
	uint8_t *raw;
	size_t rawlen;
	int rc;

	*sig = NULL;
	if ((rc = check_md(md, err)) != FS_OK)
		return rc;
	if (dlen != (size_t)EVP_MD_get_size(md))
		return fs_err_set(err, FS_EUSAGE, "a %s digest has %d bytes, "
		    "not %zu", EVP_MD_get0_name(md), EVP_MD_get_size(md), dlen);
	if ((rc = s->ops->sign_digest(s, md, digest, dlen, &raw, &rawlen,
	    err)) != FS_OK)
		return rc;
	return finish(s, raw, rawlen, der_ecdsa, sig, siglen, err);
}

enum fs_keytype
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

const fs_err *
fs_signer_cert_problem(const fs_signer *s)
{
	return s->have_cert_problem ? &s->cert_problem : NULL;
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
	s->have_cert_problem = 0;
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
		return fs_err_set(err, FS_ETOKEN, "an ECDSA signature of odd "
		    "length %zu", len);
	r = BN_bin2bn(raw, (int)(len / 2), NULL);
	sv = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	if (r == NULL || sv == NULL || (sig = ECDSA_SIG_new()) == NULL ||
	    !ECDSA_SIG_set0(sig, r, sv)) {
		BN_free(r);
		BN_free(sv);
		ECDSA_SIG_free(sig);
		return fs_err_nomem(err, "converting an ECDSA signature");
	}
	n = i2d_ECDSA_SIG(sig, &out);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return fs_err_openssl(err, FS_EINTERNAL, "i2d_ECDSA_SIG");
	*der = malloc((size_t)n);
	if (*der == NULL) {
		OPENSSL_free(out);
		return fs_err_nomem(err, "converting an ECDSA signature");
	}
	memcpy(*der, out, (size_t)n);
	OPENSSL_free(out);
	*derlen = (size_t)n;
	return FS_OK;
}

/* A context to verify pub's signatures of md digests, or NULL. */
static EVP_PKEY_CTX *
verify_ctx(EVP_PKEY *pub, enum fs_keytype type, const EVP_MD *md)
{
	EVP_PKEY_CTX *ctx;

	if ((ctx = EVP_PKEY_CTX_new(pub, NULL)) != NULL &&
	    EVP_PKEY_verify_init(ctx) > 0 &&
	    (type != FS_KEY_RSA || EVP_PKEY_CTX_set_rsa_padding(ctx,
	    RSA_PKCS1_PADDING) > 0) &&
	    EVP_PKEY_CTX_set_signature_md(ctx, md) > 0)
		return ctx;
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}

/* fs_digest_verify with *ctx, made here when NULL; the caller frees it. */
static int
verify_with(EVP_PKEY_CTX **ctx, EVP_PKEY *pub, enum fs_keytype type,
    unsigned bits, const EVP_MD *md, const uint8_t *d, size_t dlen,
    const uint8_t *sig, size_t siglen, fs_err *err)
{
	uint8_t *der = NULL;
	size_t derlen = siglen;
	int rc, ok;

	if (type == FS_KEY_EC) {
		if (siglen != 2 * ((bits + 7) / 8))
			return fs_err_set(err, FS_ENOTVALID, "an ECDSA signature "
			    "of %zu bytes for a %u-bit key", siglen, bits);
		if ((rc = fs_ecdsa_raw_to_der(sig, siglen, &der, &derlen,
		    err)) != FS_OK)
			return rc;
	}
	if (*ctx == NULL)
		*ctx = verify_ctx(pub, type, md);
	ok = *ctx != NULL && EVP_PKEY_verify(*ctx, der != NULL ? der : sig,
	    derlen, d, dlen) == 1;
	free(der);
	ERR_clear_error();
	if (!ok)
		return fs_err_set(err, FS_ENOTVALID, "the signature does not "
		    "verify with the public key");
	return FS_OK;
}

int
fs_digest_verify(EVP_PKEY *pub, enum fs_keytype type, unsigned bits,
    const EVP_MD *md, const uint8_t *d, size_t dlen, const uint8_t *sig,
    size_t siglen, fs_err *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	int rc;

	rc = verify_with(&ctx, pub, type, bits, md, d, dlen, sig, siglen, err);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/*
 * OpenSSL 3 fetches the algorithm and builds a context in
 * EVP_PKEY_CTX_new and EVP_PKEY_verify_init.  Between a SoftHSM2 token's
 * signatures on the same CPUs that came to as much again as the RSA-2048
 * verification itself (54-75 us a check with a new context, 31 us with a
 * kept one).  A verifier keeps the contexts it made for its key and
 * digest, and lends each call one that no other thread holds.
 */
#define VERIFIER_KEEP	8

struct fs_verifier {
	pthread_mutex_t lock;
	EVP_PKEY *pub;
	enum fs_keytype type;
	unsigned bits;
	const EVP_MD *md;
	EVP_PKEY_CTX *idle[VERIFIER_KEEP];
	unsigned nidle;
};

int
fs_verifier_new(EVP_PKEY *pub, enum fs_keytype type, unsigned bits,
    const EVP_MD *md, fs_verifier **out, fs_err *err)
{
	fs_verifier *v;

	*out = NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return fs_err_nomem(err, "verifying signatures");
	if (pthread_mutex_init(&v->lock, NULL) != 0) {
		free(v);
		return fs_err_nomem(err, "verifying signatures");
	}
	if (EVP_PKEY_up_ref(pub) != 1) {
		pthread_mutex_destroy(&v->lock);
		free(v);
		return fs_err_openssl(err, FS_EINTERNAL, "EVP_PKEY_up_ref");
	}
	v->pub = pub;
	v->type = type;
	v->bits = bits;
	v->md = md;
	*out = v;
	return FS_OK;
}

int
fs_verifier_check(fs_verifier *v, const uint8_t *d, size_t dlen,
    const uint8_t *sig, size_t siglen, fs_err *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	int rc;

	pthread_mutex_lock(&v->lock);
	if (v->nidle > 0)
		ctx = v->idle[--v->nidle];
	pthread_mutex_unlock(&v->lock);
	rc = verify_with(&ctx, v->pub, v->type, v->bits, v->md, d, dlen, sig,
	    siglen, err);
	/* One that said no is not lent again, whatever state it is in. */
	if (rc == FS_OK) {
		pthread_mutex_lock(&v->lock);
		if (v->nidle < VERIFIER_KEEP) {
			v->idle[v->nidle++] = ctx;
			ctx = NULL;
		}
		pthread_mutex_unlock(&v->lock);
	}
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

void
fs_verifier_free(fs_verifier *v)
{
	if (v == NULL)
		return;
	while (v->nidle > 0)
		EVP_PKEY_CTX_free(v->idle[--v->nidle]);
	EVP_PKEY_free(v->pub);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int
fs_signer_open_uri(const char *uri, const struct fs_token_opts *opts,
    fs_signer **out, fs_err *err)
{
	if (strncmp(uri, "fedsignd:", 9) == 0)
		return fs_signer_open_remote(uri, out, err);
	return fs_signer_open_pkcs11(uri, opts, out, err);
}
