/*
 * The XML-DSig algorithms fedsign knows, in one table: names for the
 * command line, URIs for documents, OpenSSL digests, and what the
 * verification profile allows.
 */
#ifndef FEDSIGN_ALG_H
#define FEDSIGN_ALG_H

#include <openssl/evp.h>

enum fs_alg_kind {
	FS_ALG_DIGEST = 1,	/* DigestMethod */
	FS_ALG_SIGNATURE,	/* SignatureMethod */
	FS_ALG_C14N,		/* CanonicalizationMethod or c14n Transform */
	FS_ALG_TRANSFORM,	/* other Transforms (enveloped-signature) */
};

enum fs_keytype { FS_KEY_NONE = 0, FS_KEY_RSA = 1, FS_KEY_EC = 2 };

enum {
	FS_ALGF_SHA1 = 1 << 0,		/* refused unless SHA-1 is allowed */
	FS_ALGF_MD5 = 1 << 1,		/* never allowed */
	FS_ALGF_EXCLUSIVE = 1 << 2,	/* exclusive c14n (PrefixList) */
	FS_ALGF_COMMENTS = 1 << 3,	/* c14n with comments */
	FS_ALGF_SIGN = 1 << 4,		/* fedsign signs with it */
};

struct fs_alg {
	const char *name;	/* "rsa-sha256", "sha256", "exc-c14n" */
	const char *uri;
	enum fs_alg_kind kind;
	int md_nid;		/* the hash (NID_sha256); NID_undef for c14n */
	enum fs_keytype key;	/* signatures: the key type they need */
	unsigned flags;
};

#define FS_URI_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define FS_URI_EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"

/* The algorithm of that kind with this URI, or NULL (MD5 included). */
const struct fs_alg *fs_alg_by_uri(enum fs_alg_kind kind, const char *uri);

/* The algorithm of that kind with this name, or NULL. */
const struct fs_alg *fs_alg_by_name(enum fs_alg_kind kind, const char *name);

/* The signature algorithm for a key type and hash NID, or NULL. */
const struct fs_alg *fs_alg_signature(enum fs_keytype key, int md_nid);

/* The OpenSSL digest of a digest or signature algorithm (never NULL for
 * those kinds). */
const EVP_MD *fs_alg_md(const struct fs_alg *a);

/*
 * The names of the algorithms of a kind that fedsign signs with, for help
 * texts and messages ("rsa-sha256, rsa-sha384, ..."), into buf.
 */
void fs_alg_sign_names(enum fs_alg_kind kind, char *buf, size_t len);

#endif
