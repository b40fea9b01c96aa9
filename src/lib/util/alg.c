#include "fedsign/alg.h"

#include <stdio.h>
#include <string.h>

#define XMLDSIG		"http://www.w3.org/2000/09/xmldsig#"
#define XMLDSIG_MORE	"http://www.w3.org/2001/04/xmldsig-more#"
#define XMLENC		"http://www.w3.org/2001/04/xmlenc#"
#define C14N10		"http://www.w3.org/TR/2001/REC-xml-c14n-20010315"

static const struct fs_alg algs[] = {
	{ "sha256", XMLENC "sha256", FS_ALG_DIGEST, NID_sha256, FS_KEY_NONE,
	    FS_ALGF_SIGN },
	{ "sha384", XMLDSIG_MORE "sha384", FS_ALG_DIGEST, NID_sha384,
	    FS_KEY_NONE, FS_ALGF_SIGN },
	{ "sha512", XMLENC "sha512", FS_ALG_DIGEST, NID_sha512, FS_KEY_NONE,
	    FS_ALGF_SIGN },
	{ "sha1", XMLDSIG "sha1", FS_ALG_DIGEST, NID_sha1, FS_KEY_NONE,
	    FS_ALGF_SHA1 },
	{ "md5", XMLDSIG_MORE "md5", FS_ALG_DIGEST, NID_md5, FS_KEY_NONE,
	    FS_ALGF_MD5 },

	{ "rsa-sha256", XMLDSIG_MORE "rsa-sha256", FS_ALG_SIGNATURE,
	    NID_sha256, FS_KEY_RSA, FS_ALGF_SIGN },
	{ "rsa-sha384", XMLDSIG_MORE "rsa-sha384", FS_ALG_SIGNATURE,
	    NID_sha384, FS_KEY_RSA, FS_ALGF_SIGN },
	{ "rsa-sha512", XMLDSIG_MORE "rsa-sha512", FS_ALG_SIGNATURE,
	    NID_sha512, FS_KEY_RSA, FS_ALGF_SIGN },
	{ "ecdsa-sha256", XMLDSIG_MORE "ecdsa-sha256", FS_ALG_SIGNATURE,
	    NID_sha256, FS_KEY_EC, FS_ALGF_SIGN },
	{ "ecdsa-sha384", XMLDSIG_MORE "ecdsa-sha384", FS_ALG_SIGNATURE,
	    NID_sha384, FS_KEY_EC, FS_ALGF_SIGN },
	{ "ecdsa-sha512", XMLDSIG_MORE "ecdsa-sha512", FS_ALG_SIGNATURE,
	    NID_sha512, FS_KEY_EC, FS_ALGF_SIGN },
	{ "rsa-sha1", XMLDSIG "rsa-sha1", FS_ALG_SIGNATURE, NID_sha1,
	    FS_KEY_RSA, FS_ALGF_SHA1 },
	{ "ecdsa-sha1", XMLDSIG_MORE "ecdsa-sha1", FS_ALG_SIGNATURE, NID_sha1,
	    FS_KEY_EC, FS_ALGF_SHA1 },
	{ "rsa-md5", XMLDSIG_MORE "rsa-md5", FS_ALG_SIGNATURE, NID_md5,
	    FS_KEY_RSA, FS_ALGF_MD5 },

	{ "exc-c14n", FS_URI_EXC_C14N, FS_ALG_C14N, NID_undef, FS_KEY_NONE,
	    FS_ALGF_EXCLUSIVE | FS_ALGF_SIGN },
	{ "exc-c14n-with-comments", FS_URI_EXC_C14N "WithComments",
	    FS_ALG_C14N, NID_undef, FS_KEY_NONE,
	    FS_ALGF_EXCLUSIVE | FS_ALGF_COMMENTS },
	{ "c14n", C14N10, FS_ALG_C14N, NID_undef, FS_KEY_NONE, 0 },
	{ "c14n-with-comments", C14N10 "#WithComments", FS_ALG_C14N,
	    NID_undef, FS_KEY_NONE, FS_ALGF_COMMENTS },

	{ "enveloped-signature", FS_URI_ENVELOPED, FS_ALG_TRANSFORM,
	    NID_undef, FS_KEY_NONE, FS_ALGF_SIGN },
	{ NULL, NULL, 0, 0, 0, 0 }
};

const struct fs_alg *
fs_alg_by_uri(enum fs_alg_kind kind, const char *uri)
{
	if (uri == NULL)
		return NULL;
	for (const struct fs_alg *a = algs; a->name != NULL; a++)
		if (a->kind == kind && strcmp(a->uri, uri) == 0)
			return a;
	return NULL;
}

const struct fs_alg *
fs_alg_by_name(enum fs_alg_kind kind, const char *name)
{
	if (name == NULL)
		return NULL;
	for (const struct fs_alg *a = algs; a->name != NULL; a++)
		if (a->kind == kind && strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

const struct fs_alg *
fs_alg_signature(enum fs_keytype key, int md_nid)
{
	for (const struct fs_alg *a = algs; a->name != NULL; a++)
		if (a->kind == FS_ALG_SIGNATURE && a->key == key &&
		    a->md_nid == md_nid)
			return a;
	return NULL;
}

const EVP_MD *
fs_alg_md(const struct fs_alg *a)
{
	switch (a->md_nid) {
	case NID_sha256: return EVP_sha256();
	case NID_sha384: return EVP_sha384();
	case NID_sha512: return EVP_sha512();
	case NID_sha1: return EVP_sha1();
	case NID_md5: return EVP_md5();
	default: return NULL;
	}
}

void
fs_alg_sign_names(enum fs_alg_kind kind, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (const struct fs_alg *a = algs; a->name != NULL; a++) {
		if (a->kind != kind || !(a->flags & FS_ALGF_SIGN))
			continue;
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0,
		    "%s%s", used ? ", " : "", a->name);
		if (used >= len)
			break;
	}
}
