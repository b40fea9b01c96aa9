/* Self-signed certificates made by the signer's key, and fingerprints. */
#include "signer/signer_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "fedsign/file.h"

/*
 * Parse `CN=a,O=b,C=ZA` (RFC 4514 order, most specific first) or
 * `/C=ZA/O=b/CN=a` (OpenSSL order) into a name.  `\,` escapes a comma.
 */
static int
parse_subject(const char *s, X509_NAME **out, fs_err *err)
{
	char *copy, *parts[32], *p, *q;
	int n = 0, slash = s[0] == '/';
	X509_NAME *name;

	*out = NULL;
	if ((copy = strdup(slash ? s + 1 : s)) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	/* Split in place, dropping escape backslashes. */
	parts[n++] = copy;
	for (p = q = copy; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			*q++ = *++p;
			continue;
		}
		if (*p == (slash ? '/' : ',')) {
			*q++ = '\0';
			if (n == 32)
				break;
			parts[n++] = q;
			continue;
		}
		*q++ = *p;
	}
	*q = '\0';
	if ((name = X509_NAME_new()) == NULL) {
		free(copy);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		/* DER order is the reverse of RFC 4514's. */
		char *rdn = parts[slash ? i : n - 1 - i], *eq;

		while (isspace((unsigned char)*rdn))
			rdn++;
		if ((eq = strchr(rdn, '=')) == NULL || eq == rdn || eq[1] == '\0') {
			fs_err_set(err, FS_EUSAGE, "invalid subject '%s': each "
			    "part must be TYPE=VALUE (CN=, O=, OU=, C=, L=, "
			    "ST=)", s);
			goto fail;
		}
		*eq = '\0';
		for (char *t = eq - 1; t > rdn && isspace((unsigned char)*t); t--)
			*t = '\0';
		if (!X509_NAME_add_entry_by_txt(name, rdn, MBSTRING_UTF8,
		    (unsigned char *)eq + 1, -1, -1, 0)) {
			ERR_clear_error();
			fs_err_set(err, FS_EUSAGE, "invalid subject '%s': "
			    "unknown attribute '%s' or bad value", s, rdn);
			goto fail;
		}
	}
	free(copy);
	*out = name;
	return FS_OK;
fail:
	free(copy);
	X509_NAME_free(name);
	return FS_EUSAGE;
}

static const EVP_MD *
cert_md(const fs_signer *s)
{
	if (s->type == FS_KEY_EC && s->bits > 256)
		return EVP_sha384();
	return EVP_sha256();
}

/*
 * Set the certificate's two AlgorithmIdentifiers.  OpenSSL sets them while
 * signing, so sign once with a throw-away key of the same type; the real
 * signature replaces the throw-away one.
 */
static int
set_sig_alg(X509 *x, const fs_signer *s, const EVP_MD *md, fs_err *err)
{
	EVP_PKEY *tmp;
	int ok;

	if (s->type == FS_KEY_RSA)
		tmp = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else
		tmp = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (tmp == NULL)
		return fs_err_openssl(err, FS_EINTERNAL, "keygen for the "
		    "algorithm identifier failed");
	ok = X509_sign(x, tmp, md) > 0;
	EVP_PKEY_free(tmp);
	if (!ok)
		return fs_err_openssl(err, FS_EINTERNAL, "X509_sign failed");
	return FS_OK;
}

int
fs_x509_selfsign(fs_signer *s, const char *subject, int days, X509 **out,
    fs_err *err)
{
	const EVP_MD *md = cert_md(s);
	X509 *x = NULL;
	X509_NAME *name = NULL;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	ASN1_BIT_STRING *bits;
	const ASN1_BIT_STRING *cbits;
	const X509_ALGOR *alg;
	unsigned char serial[16], *tbs = NULL;
	uint8_t *sig = NULL;
	size_t siglen;
	BIGNUM *bn = NULL;
	int tbslen, rc;

	*out = NULL;
	if (days <= 0 || days > 36500)
		return fs_err_set(err, FS_EUSAGE, "--days must be 1 to 36500");
	if ((rc = parse_subject(subject, &name, err)) != FS_OK)
		return rc;
	rc = FS_EINTERNAL;
	if ((x = X509_new()) == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto ossl;
	serial[0] &= 0x7f;	/* positive */
	serial[0] |= 0x40;	/* and a full 16 bytes */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    !X509_set_version(x, 2) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, s->pub))
		goto ossl;
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier,
	    "hash")) == NULL)
		goto ossl;
	if (!X509_add_ext(x, ext, -1)) {
		X509_EXTENSION_free(ext);
		goto ossl;
	}
	X509_EXTENSION_free(ext);
	if ((rc = set_sig_alg(x, s, md, err)) != FS_OK)
		goto out;
	if ((tbslen = i2d_re_X509_tbs(x, &tbs)) <= 0)
		goto ossl;
	if ((rc = fs_signer_sign(s, md, tbs, (size_t)tbslen, 1, &sig, &siglen,
	    err)) != FS_OK)
		goto out;
	X509_get0_signature(&cbits, &alg, x);
	bits = (ASN1_BIT_STRING *)cbits;
	if (!ASN1_BIT_STRING_set(bits, sig, (int)siglen))
		goto ossl;
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	/* The certificate must verify under the key it names. */
	if (X509_verify(x, s->pub) != 1) {
		rc = fs_err_openssl(err, FS_ETOKEN, "the certificate's signature "
		    "made by the key does not verify with its public key");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = FS_OK;
	goto out;
ossl:
	rc = fs_err_openssl(err, FS_EINTERNAL, "cannot build the certificate");
out:
	BN_free(bn);
	OPENSSL_free(tbs);
	free(sig);
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

void
fs_x509_fingerprint(X509 *cert, const EVP_MD *md, char *buf, size_t len)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t used = 0;

	buf[0] = '\0';
	if (!X509_digest(cert, md, d, &n))
		return;
	for (unsigned int i = 0; i < n && used + 4 <= len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%02X",
		    i ? ":" : "", d[i]);
}

int
fs_x509_load(const char *path, X509 **out, fs_err *err)
{
	char *buf;
	size_t len;
	BIO *b;
	int rc;

	*out = NULL;
	if ((rc = fs_file_read(path, 1 << 20, &buf, &len, err)) != FS_OK) {
		fs_err_append(err, "(a certificate)");
		return rc;
	}
	if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL) {
		*out = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	free(buf);
	if (*out == NULL)
		return fs_err_openssl(err, FS_ETOKEN, "'%s' holds no PEM "
		    "certificate", path);
	return FS_OK;
}

int
fs_x509_from_token(fs_key *k, X509 **cert, int *none, fs_err *err)
{
	fs_token *t = fs_key_token(k);
	CK_OBJECT_HANDLE c;
	const unsigned char *q;
	const uint8_t *id;
	uint8_t *der = NULL;
	size_t idlen, dlen;
	unsigned count;
	int rc;

	*cert = NULL;
	*none = 0;
	id = fs_key_id(k, &idlen);
	rc = fs_token_find_by_id(t, CKO_CERTIFICATE, id, idlen, &c, &count,
	    err);
	if (rc != FS_OK) {
		if (err != NULL && err->rv == 0 && count == 0) {
			*none = 1;
			fs_err_set(err, FS_ETOKEN, "no certificate for the "
			    "signing key on token '%s'", fs_token_label(t));
		} else if (count > 1) {
			fs_err_set(err, FS_ETOKEN, "token '%s' has %u "
			    "certificate objects with the key's id; remove all "
			    "but one", fs_token_label(t), count);
		} else {
			fs_err_append(err, "cannot read the certificate object "
			    "of the key on token '%s'", fs_token_label(t));
		}
		return FS_ETOKEN;
	}
	if ((rc = fs_token_attr(t, c, CKA_VALUE, &der, &dlen, err)) != FS_OK) {
		fs_err_append(err, "cannot read the certificate object of the "
		    "key on token '%s'", fs_token_label(t));
		return rc;
	}
	q = der;
	*cert = d2i_X509(NULL, &q, (long)dlen);
	free(der);
	if (*cert == NULL)
		return fs_err_openssl(err, FS_ETOKEN, "the certificate object of "
		    "the key on token '%s' is not a valid X.509 certificate",
		    fs_token_label(t));
	return FS_OK;
}
