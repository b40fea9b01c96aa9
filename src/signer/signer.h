/*
 * One interface for making signatures, whatever holds the key: a PKCS#11
 * token or a PEM key file (later: the fedsignd daemon).  Signatures are made
 * here and nowhere else.
 */
#ifndef FS_SIGNER_SIGNER_H
#define FS_SIGNER_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "p11/p11.h"
#include "util/err.h"

typedef struct fs_signer fs_signer;

enum fs_sigkey { FS_SIGKEY_RSA = 1, FS_SIGKEY_EC = 2 };

/*
 * Open the private key named by the PKCS#11 URI (module overrides the
 * URI's module), logging in once.  The token's certificate object for
 * the key, when there is one, becomes the signer's certificate.
 */
int fs_signer_open_pkcs11(const char *uri, const char *module,
    fs_signer **out, fs_err *err);

/*
 * A signer for key on an open token session p, which stays the caller's
 * and must outlive the signer (for commands that also write objects).
 */
int fs_signer_wrap_p11(fs_p11 *p, CK_OBJECT_HANDLE key, fs_signer **out,
    fs_err *err);

/* Open an unencrypted PEM private key file (development and tests). */
int fs_signer_open_pem(const char *path, fs_signer **out, fs_err *err);

/* Free the signer (logs out, closes the session); NULL is a no-op. */
void fs_signer_free(fs_signer *s);

/*
 * Sign data (the bytes themselves, not a digest) with the digest md
 * (EVP_sha256() ...).  RSA: PKCS#1 v1.5.  EC: the raw r||s of XML-DSig,
 * or DER ECDSA-Sig-Value when der_ecdsa is set (X.509).  *sig is the
 * caller's (free()).
 */
int fs_signer_sign(fs_signer *s, const EVP_MD *md, const uint8_t *data,
    size_t len, int der_ecdsa, uint8_t **sig, size_t *siglen, fs_err *err);

/* The key type, and its size in bits (modulus or curve). */
enum fs_sigkey fs_signer_type(const fs_signer *s);
unsigned fs_signer_bits(const fs_signer *s);

/* The public key (borrowed). */
EVP_PKEY *fs_signer_pubkey(const fs_signer *s);

/* The certificate, or NULL when none is known (borrowed). */
X509 *fs_signer_cert(const fs_signer *s);

/*
 * Use cert as the signer's certificate (the signer takes a reference).
 * Refused when its public key is not the signer's.
 */
int fs_signer_set_cert(fs_signer *s, X509 *cert, fs_err *err);

/* Whether signatures go through a token (1) or a key file (0). */
int fs_signer_is_token(const fs_signer *s);

/*
 * Make a self-signed X.509 v3 certificate for the signer's key, subject
 * (`CN=...,O=...` or `/C=../CN=..`), valid for days from now.
 */
int fs_x509_selfsign(fs_signer *s, const char *subject, int days,
    X509 **out, fs_err *err);

/* Colon-hex fingerprint of cert with md (`AB:CD:...`) into buf. */
void fs_x509_fingerprint(X509 *cert, const EVP_MD *md, char *buf, size_t len);

/* Load the first certificate of a PEM file. */
int fs_x509_load(const char *path, X509 **out, fs_err *err);

#endif
