/*
 * Enveloped XML-DSig over SAML metadata: signing in the profile every
 * consumer accepts, and strict verification.
 *
 * Both canonicalise with libxml2 (exclusive or inclusive c14n, streamed
 * into the digest) and make or check signature values with OpenSSL; the
 * key is the signer's or the pinned one.  Safe to use from several
 * threads at once on different documents; verification only reads the
 * document, so it may run while another thread serialises it.
 */
#ifndef FEDSIGN_DSIG_H
#define FEDSIGN_DSIG_H

#include <stdint.h>
#include <time.h>

#include <libxml/tree.h>
#include <openssl/evp.h>

#include "fedsign/alg.h"
#include "fedsign/err.h"
#include "fedsign/signer.h"

struct fs_sign_opts {
	const struct fs_alg *signature;	/* NULL: rsa-sha256; EC keys
					   ecdsa-sha256, or -sha384 above 256
					   bits */
	const struct fs_alg *digest;	/* NULL: sha256 */
	int no_keyinfo;			/* leave KeyInfo out */
};

/*
 * Sign doc in place: remove the root's existing ds:Signature, give the
 * root an ID when it has none, and insert an enveloped signature as the
 * root's first child, with one Reference to the ID, the transforms
 * enveloped-signature and exclusive c14n.  The signer's certificate goes
 * into KeyInfo unless no_keyinfo.  On failure doc may be half-changed and
 * must be dropped.
 */
int fs_dsig_sign(xmlDocPtr doc, fs_signer *signer,
    const struct fs_sign_opts *opts, fs_err *err);

/*
 * Many small documents signed with one key (MDQ): what their signatures
 * share is made once, in a template, and each document is signed into
 * bytes in two steps.  fs_dsig_prepare does all that needs no token: it
 * changes doc as fs_dsig_sign does (the old Signature goes, the root gets
 * an ID), computes the digest, writes SignedInfo and serialises the
 * document.  fs_dsig_finish has the token sign SignedInfo, checks the
 * SignatureValue with the public key, and gives the signed document as
 * fs_md_save_mem would serialise it after fs_dsig_sign, byte for byte:
 * the Signature is written as text, not built in the tree.  A run can so
 * prepare all its documents on every CPU first and then keep the token
 * busy with its signatures alone.
 *
 * fs_dsig_prepare takes doc: the prepared document frees it, at once
 * unless it goes the general way: a document with an ID outside ASCII
 * NCName characters, a root without children, or nodes beside the root
 * (comments, PIs) is signed by fs_dsig_sign and checked by fs_dsig_verify
 * in fs_dsig_finish.  content, when not NULL, is what fs_dsig_content_c14n
 * gave for doc's root before its ID, cacheDuration and validUntil were
 * set, with nothing else of it changed since: the digest is made from
 * those bytes, the start tag written again with the three attributes as
 * the root has them now, instead of canonicalising the document again.
 * Bytes of another element give a signature that does not verify.
 *
 * The template may be shared by threads; it must not outlive signer.
 */
struct fs_dsig_tmpl;
struct fs_dsig_prep;

int fs_dsig_tmpl_new(fs_signer *signer, const struct fs_sign_opts *opts,
    struct fs_dsig_tmpl **out, fs_err *err);
void fs_dsig_tmpl_free(struct fs_dsig_tmpl *t);
int fs_dsig_prepare(const struct fs_dsig_tmpl *t, xmlDocPtr doc,
    const char *content, size_t contentlen, struct fs_dsig_prep **out,
    fs_err *err);
int fs_dsig_finish(const struct fs_dsig_tmpl *t,
    const struct fs_dsig_prep *p, fs_signer *signer, char **buf,
    size_t *len, uint8_t **sig, size_t *siglen, fs_err *err);
/*
 * fs_dsig_finish gives the SignatureValue too when sig is not NULL (the
 * caller frees *sig; NULL for a document that went the general way).
 * fs_dsig_finish_with makes the signed document of a prepared one from
 * such a SignatureValue instead of the token's: the same bytes
 * fs_dsig_finish gave, once sig verifies with the public key.
 * FS_ENOTVALID when it does not, or when the document goes the general
 * way.
 */
int fs_dsig_finish_with(const struct fs_dsig_tmpl *t,
    const struct fs_dsig_prep *p, const uint8_t *sig, size_t siglen,
    char **buf, size_t *len, fs_err *err);
void fs_dsig_prep_free(struct fs_dsig_prep *p);
/*
 * The prepared bytes parsed again (as name) and canonicalised anew: their
 * digest must be the one SignedInfo carries.  FS_EINTERNAL when it is not
 * (a fault of fedsign, found before the token signs).  A document going
 * the general way is verified in full by fs_dsig_finish instead.
 */
int fs_dsig_prep_check(const struct fs_dsig_tmpl *t,
    const struct fs_dsig_prep *p, const char *name, fs_err *err);

/* What verify refuses by default: a validUntil further ahead than this. */
#define FS_DEFAULT_MAX_VALIDITY ((int64_t)28 * 86400)

struct fs_verify_opts {
	EVP_PKEY *key;			/* the pinned key, or NULL */
	const uint8_t *fingerprint;	/* else SHA-256 of the trusted cert,
					   found in KeyInfo */
	int64_t max_validity;		/* seconds; 0: no limit */
	int allow_expired;		/* accept a validUntil in the past */
	int allow_sha1;			/* accept SHA-1 (never MD5) */
	time_t now;			/* 0: time(NULL) */
	/*
	 * The caller has just signed doc itself: check everything but do
	 * not canonicalise the content again for its digest (the signer's
	 * canonicaliser would repeat its own work).  The shape, the
	 * algorithms, the ID's uniqueness, validUntil and the SignatureValue
	 * with the pinned key are still checked.  Never for documents from
	 * elsewhere.
	 */
	int signed_here;
};

/*
 * Verify doc's signature by the strict profile: exactly one ds:Signature,
 * a child of the document element, holding SignedInfo, SignatureValue
 * (base64 text only) and at most a KeyInfo (KeyName, KeyValue, X509Data)
 * and nothing else; one Reference to "" or "#" + the root's ID, unique in
 * the document; enveloped-signature and one canonicalisation; allowed
 * algorithms; RSA >= 2048, EC >= 256; the pinned key; validUntil present,
 * in the future and within max_validity.  FS_OK: *verified (may be NULL)
 * is the document element, the one node to use afterwards.  FS_ENOTVALID:
 * err->rule names the rule that failed.  Other codes: could not run
 * (FS_ENOMEM: memory ran out, which says nothing about the signature).
 */
int fs_dsig_verify(xmlDocPtr doc, const struct fs_verify_opts *opts,
    xmlNodePtr *verified, fs_err *err);

/*
 * Optional, after fs_md_init: run now, once, the checks of libxml2's
 * canonicaliser that signing and verification otherwise run when they
 * first need them.  A program that loads a large document calls it
 * first: the checks' small allocations, made among a 60 MB tree, can cost
 * more at exit than the checks save.
 */
void fs_dsig_init(void);

/*
 * The content digest of an entity: SHA-256 of the exclusive c14n of the
 * element without its ds:Signature children and without its own ID and
 * validUntil attributes, which the publisher sets; what stays the same
 * while the entity's content does.  entity should be the document element
 * of a document of its own: the canonicaliser walks the whole document.
 */
int fs_dsig_content_digest(xmlNodePtr entity, unsigned char out[32],
    fs_err *err);

/*
 * fs_dsig_content_digest, and the canonical bytes themselves into *bytes
 * (*len of them, NUL-terminated; caller frees): what fs_dsig_prepare can
 * compute a signature's digest from without canonicalising again.
 */
int fs_dsig_content_c14n(xmlNodePtr entity, unsigned char out[32],
    char **bytes, size_t *len, fs_err *err);

#endif
