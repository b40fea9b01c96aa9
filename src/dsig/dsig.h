/*
 * Enveloped XML-DSig over SAML metadata: signing (libxml2 exclusive c14n,
 * OpenSSL digests, the signer interface) and strict verification (xmlsec1
 * plus the profile checks of DESIGN.md).
 */
#ifndef FS_DSIG_DSIG_H
#define FS_DSIG_DSIG_H

#include <stdint.h>
#include <time.h>

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "signer/signer.h"
#include "util/err.h"

/* Initialise and shut down xmlsec1 and libxml2, once per process. */
int fs_dsig_init(fs_err *err);
void fs_dsig_shutdown(void);

struct fs_sign_opts {
	const EVP_MD *digest;		/* DigestMethod; NULL: SHA-256 */
	const EVP_MD *sig_digest;	/* SignatureMethod hash; NULL: SHA-256 */
	int no_keyinfo;			/* leave KeyInfo out */
	int64_t valid_for;		/* seconds; 0: keep the input's */
	int64_t cache_duration;		/* seconds; 0: leave as it is */
	const char *name;		/* EntitiesDescriptor Name, or NULL */
	const char *publisher;		/* mdrpi:PublicationInfo publisher */
	time_t now;			/* 0: time(NULL) */
};

/*
 * Sign doc in place: remove the root's existing ds:Signature, set
 * validUntil (and the other attributes opts asks for), give the root an ID
 * when it has none, and insert an enveloped signature as the root's first
 * child.  The signer's certificate goes into KeyInfo unless no_keyinfo.
 * Returns FS_OK; on failure doc may be half-changed and must be dropped.
 */
int fs_dsig_sign(xmlDocPtr doc, fs_signer *signer,
    const struct fs_sign_opts *opts, fs_err *err);

struct fs_verify_opts {
	EVP_PKEY *key;			/* the pinned key, or NULL */
	const uint8_t *fingerprint;	/* else SHA-256 of the trusted cert */
	int64_t max_validity;		/* seconds; 0: no limit */
	int allow_expired;		/* accept a validUntil in the past */
	int allow_sha1;			/* accept SHA-1 (never MD5) */
	time_t now;			/* 0: time(NULL) */
};

/*
 * Verify doc's signature by the strict profile of DESIGN.md.  FS_OK: the
 * document element is signed by the pinned key and *verified (may be
 * NULL) is that element, the one node to use afterwards.  FS_ENOTVALID:
 * err names the rule that failed.  Other codes: could not run.
 */
int fs_dsig_verify(xmlDocPtr doc, const struct fs_verify_opts *opts,
    xmlNodePtr *verified, fs_err *err);

#endif
