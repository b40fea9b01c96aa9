/* The signer's inside, shared by its backends only. */
#ifndef FS_SIGNER_INT_H
#define FS_SIGNER_INT_H

#include "signer/signer.h"

struct fs_signer_ops {
	/* Sign data: RSA PKCS#1 v1.5, or EC raw r||s. */
	int (*sign)(fs_signer *s, const EVP_MD *md, const uint8_t *data,
	    size_t len, uint8_t **sig, size_t *siglen, fs_err *err);
	void (*free)(void *impl);
};

struct fs_signer {
	const struct fs_signer_ops *ops;
	void *impl;
	EVP_PKEY *pub;
	X509 *cert;
	enum fs_sigkey type;
	unsigned bits;
	int token;
};

/* Fill type and bits from pub; takes ownership of pub. */
int fs_signer_init(fs_signer *s, EVP_PKEY *pub, fs_err *err);

/* Convert between DER ECDSA-Sig-Value and r||s of n bytes each. */
int fs_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t n,
    uint8_t **raw, size_t *rawlen, fs_err *err);
int fs_ecdsa_raw_to_der(const uint8_t *raw, size_t len, uint8_t **der,
    size_t *derlen, fs_err *err);

#endif
