/* The signer's inside, shared by its backends only. */
#ifndef FS_SIGNER_INT_H
#define FS_SIGNER_INT_H

#include "fedsign/signer.h"

struct fs_signer_ops {
	/* Sign a digest made with md: RSA PKCS#1 v1.5, or EC raw r||s. */
	int (*sign_digest)(fs_signer *s, const EVP_MD *md,
	    const uint8_t *digest, size_t dlen, uint8_t **sig, size_t *siglen,
	    fs_err *err);
	/* Sign data (optional: the token may hash itself); NULL: hash here. */
	int (*sign)(fs_signer *s, const EVP_MD *md, const uint8_t *data,
	    size_t len, uint8_t **sig, size_t *siglen, fs_err *err);
	void (*free)(void *impl);
};

struct fs_signer {
	const struct fs_signer_ops *ops;
	void *impl;
	EVP_PKEY *pub;
	X509 *cert;
	enum fs_keytype type;
	unsigned bits;
	int token;
	unsigned parallel;	/* signatures at once, when the backend
				   knows (fedsignd); 0: ask the token */
	int have_cert_problem;
	fs_err cert_problem;
};

/* Fill type and bits from pub; takes ownership of pub. */
int fs_signer_init(fs_signer *s, EVP_PKEY *pub, fs_err *err);

/* The DER DigestInfo prefix for md (RFC 8017 9.2), or NULL. */
const uint8_t *fs_digest_info(const EVP_MD *md, size_t *len);

#endif
