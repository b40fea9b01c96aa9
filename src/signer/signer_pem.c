/* Signer backend: an unencrypted PEM private key file. */
#include "signer/signer_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

static int
pem_sign(fs_signer *s, const EVP_MD *md, const uint8_t *data, size_t len,
    uint8_t **sig, size_t *siglen, fs_err *err)
{
	EVP_PKEY *key = s->impl;
	EVP_MD_CTX *ctx;
	uint8_t *der = NULL;
	size_t dlen = 0;
	int rc = FS_EINTERNAL;

	*sig = NULL;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &dlen, data, len) != 1 ||
	    (der = malloc(dlen)) == NULL ||
	    EVP_DigestSign(ctx, der, &dlen, data, len) != 1) {
		fs_err_openssl(err, FS_EINTERNAL, "signing with the key file "
		    "failed");
		goto out;
	}
	if (s->type == FS_SIGKEY_EC) {
		rc = fs_ecdsa_der_to_raw(der, dlen, (s->bits + 7) / 8, sig,
		    siglen, err);
		goto out;
	}
	*sig = der;
	*siglen = dlen;
	der = NULL;
	rc = FS_OK;
out:
	free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static void
pem_free(void *impl)
{
	EVP_PKEY_free(impl);
}

static const struct fs_signer_ops pem_ops = { pem_sign, pem_free };

int
fs_signer_open_pem(const char *path, fs_signer **out, fs_err *err)
{
	EVP_PKEY *key = NULL, *pub = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	fs_signer *s;
	FILE *f;
	int n, rc;

	*out = NULL;
	if ((f = fopen(path, "r")) == NULL)
		return fs_err_set(err, FS_EIO, "cannot open key file '%s': %s",
		    path, strerror(errno));
	/* No passphrase callback: an encrypted key fails plainly. */
	key = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	if (key == NULL)
		return fs_err_openssl(err, FS_ETOKEN, "cannot read a private "
		    "key from '%s' (PEM, unencrypted)", path);
	/* Keep a public-only copy as the signer's public key. */
	if ((n = i2d_PUBKEY(key, &der)) <= 0 ||
	    (p = der, pub = d2i_PUBKEY(NULL, &p, n)) == NULL) {
		OPENSSL_free(der);
		EVP_PKEY_free(key);
		return fs_err_openssl(err, FS_EINTERNAL, "cannot copy the "
		    "public key");
	}
	OPENSSL_free(der);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		EVP_PKEY_free(key);
		EVP_PKEY_free(pub);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	s->ops = &pem_ops;
	s->impl = key;
	if ((rc = fs_signer_init(s, pub, err)) != FS_OK) {
		fs_signer_free(s);
		return rc;
	}
	*out = s;
	return FS_OK;
}
