/* Signer backend: an unencrypted PEM private key file. */
#include "signer/signer_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "fedsign/util.h"

#define KEYFILE_MAX (1 << 20)

static int
pem_sign_digest(fs_signer *s, const EVP_MD *md, const uint8_t *d, size_t dlen,
    uint8_t **sig, size_t *siglen, fs_err *err)
{
	EVP_PKEY *key = s->impl;
	EVP_PKEY_CTX *ctx;
	uint8_t *der = NULL;
	size_t len = 0;
	int rc = FS_EINTERNAL;

	*sig = NULL;
	if ((ctx = EVP_PKEY_CTX_new(key, NULL)) == NULL)
		return fs_err_nomem(err, "signing");
	if (EVP_PKEY_sign_init(ctx) <= 0 ||
	    (s->type == FS_KEY_RSA && EVP_PKEY_CTX_set_rsa_padding(ctx,
	    RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
	    EVP_PKEY_sign(ctx, NULL, &len, d, dlen) <= 0 ||
	    (der = malloc(len)) == NULL ||
	    EVP_PKEY_sign(ctx, der, &len, d, dlen) <= 0) {
		fs_err_openssl(err, FS_EINTERNAL, "signing with the key file "
		    "failed");
		goto out;
	}
	if (s->type == FS_KEY_EC) {
		rc = fs_ecdsa_der_to_raw(der, len, (s->bits + 7) / 8, sig,
		    siglen, err);
		goto out;
	}
	*sig = der;
	*siglen = len;
	der = NULL;
	rc = FS_OK;
out:
	free(der);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static void
pem_free(void *impl)
{
	EVP_PKEY_free(impl);
}

static const struct fs_signer_ops pem_ops = { pem_sign_digest, NULL,
    pem_free };

/* Read the key file, refusing one that others can read. */
static int
read_keyfile(const char *path, char **buf, size_t *len, fs_err *err)
{
	struct stat st;
	char *b = NULL;
	size_t n = 0;
	ssize_t r;
	int fd, rc;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return fs_err_set(err, FS_EIO, "cannot open key file '%s': %s",
		    path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		rc = fs_err_set(err, FS_EIO, "key file '%s' is not a regular "
		    "file", path);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		rc = fs_err_set(err, FS_ETOKEN, "key file '%s' can be read by "
		    "others (mode %04o): a private key must be readable by its "
		    "owner only; run 'chmod 600 %s'", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	if (st.st_size > KEYFILE_MAX) {
		rc = fs_err_set(err, FS_ETOKEN, "key file '%s' is larger than "
		    "a key file can be", path);
		goto fail;
	}
	if ((b = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = fs_err_nomem(err, "reading the key file");
		goto fail;
	}
	while (n < (size_t)st.st_size) {
		r = read(fd, b + n, (size_t)st.st_size - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = fs_err_set(err, FS_EIO, "cannot read key file '%s'"
			    "%s%s", path, r ? ": " : "", r ? strerror(errno) :
			    "");
			goto fail;
		}
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return FS_OK;
fail:
	if (b != NULL) {
		fs_wipe(b, n);
		free(b);
	}
	close(fd);
	return rc;
}

int
fs_signer_open_pem(const char *path, fs_signer **out, fs_err *err)
{
	EVP_PKEY *key = NULL, *pub = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	fs_signer *s;
	char *buf;
	size_t len = 0;
	BIO *bio;
	int n, rc;

	*out = NULL;
	if ((rc = read_keyfile(path, &buf, &len, err)) != FS_OK)
		return rc;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL) {
		/* No passphrase callback: an encrypted key fails plainly. */
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
		BIO_free(bio);
	}
	fs_wipe(buf, len);
	free(buf);
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
		return fs_err_nomem(err, "opening a signer");
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
