/*
 * One interface for making signatures, whatever holds the key: a PKCS#11
 * token or a PEM key file (room for a remote one).  Signatures are made
 * here and nowhere else.  A signer may be used by several threads at
 * once.
 */
#ifndef FEDSIGN_SIGNER_H
#define FEDSIGN_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fedsign/alg.h"
#include "fedsign/err.h"
#include "fedsign/p11.h"

typedef struct fs_signer fs_signer;

/*
 * Open the private key named by the PKCS#11 URI on its own token (opts as
 * for fs_token_open), logging in once.  The token's certificate object
 * for the key, when there is one and it belongs to the key, becomes the
 * signer's certificate.
 */
int fs_signer_open_pkcs11(const char *uri, const struct fs_token_opts *opts,
    fs_signer **out, fs_err *err);

/*
 * A key held by fedsignd: "fedsignd:unix:/run/fedsignd/sock?key=NAME" or
 * "fedsignd:https://host:8443/?key=NAME" (the bearer secret from the file
 * FEDSIGND_SECRET_FILE names).  No token and no PIN in this process.
 */
int fs_signer_open_remote(const char *uri, fs_signer **out, fs_err *err);

/* A signer for any key URI: pkcs11: (fs_signer_open_pkcs11, opts) or
 * fedsignd: (fs_signer_open_remote). */
int fs_signer_open_uri(const char *uri, const struct fs_token_opts *opts,
    fs_signer **out, fs_err *err);

/*
 * A signer for key k, whose token stays the caller's and must outlive the
 * signer (a token with several keys, commands that also write objects).
 */
int fs_signer_from_key(fs_key *k, fs_signer **out, fs_err *err);

/*
 * Open an unencrypted PEM private key file (development and tests).  A
 * file that group or others can read is refused, as OpenSSH refuses one.
 */
int fs_signer_open_pem(const char *path, fs_signer **out, fs_err *err);

/* Free the signer (logs out and finalises an owned token); NULL no-op. */
void fs_signer_free(fs_signer *s);

/*
 * Sign data (the bytes themselves) hashed with md.  RSA: PKCS#1 v1.5.
 * EC: the raw r||s of XML-DSig, or DER ECDSA-Sig-Value when der_ecdsa
 * is set (X.509).  *sig is the caller's (free()).
 */
int fs_signer_sign(fs_signer *s, const EVP_MD *md, const uint8_t *data,
    size_t len, int der_ecdsa, uint8_t **sig, size_t *siglen, fs_err *err);

/* The same for a digest already made with md (dlen its size). */
int fs_signer_sign_digest(fs_signer *s, const EVP_MD *md,
    const uint8_t *digest, size_t dlen, int der_ecdsa, uint8_t **sig,
    size_t *siglen, fs_err *err);

/* The key type (FS_KEY_RSA, FS_KEY_EC), and its size in bits. */
enum fs_keytype fs_signer_type(const fs_signer *s);
unsigned fs_signer_bits(const fs_signer *s);

/* The public key (borrowed). */
EVP_PKEY *fs_signer_pubkey(const fs_signer *s);

/* The certificate, or NULL when none is known (borrowed). */
X509 *fs_signer_cert(const fs_signer *s);

/*
 * Why the token's certificate object for the key was not taken (it
 * belongs to another key, cannot be read or parsed), or NULL when there
 * was nothing wrong.
 */
const fs_err *fs_signer_cert_problem(const fs_signer *s);

/*
 * Use cert as the signer's certificate (the signer takes a reference).
 * Refused when its public key is not the signer's.
 */
int fs_signer_set_cert(fs_signer *s, X509 *cert, fs_err *err);

/*
 * How many signatures may be made at once: the sessions the token allows
 * (up to the max_sessions it was opened with), or FS_TOKEN_MAX_SESSIONS
 * for a key file.  Threads beyond that wait for a session.
 */
unsigned fs_signer_parallel(const fs_signer *s);

/* Whether signatures go through a token (1) or a key file (0). */
int fs_signer_is_token(const fs_signer *s);

/* Convert an XML-DSig ECDSA value r||s to a DER ECDSA-Sig-Value and back
 * (n bytes each for r and s); the results are the caller's. */
int fs_ecdsa_raw_to_der(const uint8_t *raw, size_t len, uint8_t **der,
    size_t *derlen, fs_err *err);
int fs_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t n,
    uint8_t **raw, size_t *rawlen, fs_err *err);

/*
 * Whether sig is pub's signature of the digest d made with md, as a token
 * returns it: RSA PKCS#1 v1.5 over the DigestInfo, or ECDSA r||s of
 * (bits + 7) / 8 bytes each.  FS_OK, FS_ENOTVALID when it is not (a
 * message in err), or the cause when it cannot be checked.  OpenSSL's
 * error queue is left empty.
 */
int fs_digest_verify(EVP_PKEY *pub, enum fs_keytype type, unsigned bits,
    const EVP_MD *md, const uint8_t *d, size_t dlen, const uint8_t *sig,
    size_t siglen, fs_err *err);

/*
 * fs_digest_verify for many signatures of one key and digest: the
 * verifier keeps OpenSSL's contexts from one call to the next.  Any
 * number of threads may call fs_verifier_check at once.  The verifier
 * holds a reference to pub.
 */
typedef struct fs_verifier fs_verifier;

int fs_verifier_new(EVP_PKEY *pub, enum fs_keytype type, unsigned bits,
    const EVP_MD *md, fs_verifier **out, fs_err *err);
int fs_verifier_check(fs_verifier *v, const uint8_t *d, size_t dlen,
    const uint8_t *sig, size_t siglen, fs_err *err);
void fs_verifier_free(fs_verifier *v);

/* The certificate object of key k on its token: FS_OK and *cert, or
 * FS_ETOKEN saying why not (none: err->rv 0 and the message says so). */
int fs_x509_from_token(fs_key *k, X509 **cert, int *none, fs_err *err);

/*
 * Make a self-signed X.509 v3 certificate for the signer's key, subject
 * (`CN=...,O=...` or `/C=../CN=..`), valid for days from now.
 */
int fs_x509_selfsign(fs_signer *s, const char *subject, int days,
    X509 **out, fs_err *err);

/* Colon-hex fingerprint of cert with md (`AB:CD:...`) into buf. */
void fs_x509_fingerprint(X509 *cert, const EVP_MD *md, char *buf, size_t len);

/* Load the first certificate of a PEM file ("-": standard input). */
int fs_x509_load(const char *path, X509 **out, fs_err *err);

#endif
