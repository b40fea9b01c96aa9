/*
 * Signers: the PEM backend (its file-mode rule, data and digest signing
 * agreeing, known answers with the committed test key), ECDSA encodings,
 * verifiers (contexts kept from one check to the next, on several
 * threads at once).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "fedsign/signer.h"

static char key[128];

static int
setup(void **state)
{
	const char *src = getenv("SRCDIR");
	char cmd[512];

	(void)state;
	if (src == NULL)
		return -1;
	snprintf(key, sizeof(key), "/tmp/fedsign-signer-%d.pem", (int)getpid());
	snprintf(cmd, sizeof(cmd), "install -m 600 %s/tests/data/kat/kat-key.pem %s",
	    src, key);
	return system(cmd) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return unlink(key);
}

static void
test_mode_refused(void **state)
{
	fs_signer *s;
	fs_err err;

	(void)state;
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(fs_signer_open_pem(key, &s, &err), FS_ETOKEN);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(key, 0600), 0);
	assert_int_equal(fs_signer_open_pem(key, &s, &err), FS_OK);
	assert_int_equal(fs_signer_type(s), FS_KEY_RSA);
	assert_int_equal(fs_signer_bits(s), 2048);
	assert_int_equal(fs_signer_is_token(s), 0);
	fs_signer_free(s);
}

static void
test_data_and_digest_agree(void **state)
{
	static const uint8_t data[] = "SignedInfo, canonicalised";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	uint8_t *a, *b;
	size_t alen, blen;
	fs_signer *s;
	fs_err err;

	(void)state;
	assert_int_equal(fs_signer_open_pem(key, &s, &err), FS_OK);
	assert_int_equal(fs_signer_sign(s, EVP_sha256(), data, sizeof(data), 0,
	    &a, &alen, &err), FS_OK);
	assert_int_equal(EVP_Digest(data, sizeof(data), d, &dlen, EVP_sha256(),
	    NULL), 1);
	assert_int_equal(fs_signer_sign_digest(s, EVP_sha256(), d, dlen, 0, &b,
	    &blen, &err), FS_OK);
	/* RSA PKCS#1 v1.5 is deterministic: both ways give the same bytes. */
	assert_int_equal(alen, 256);
	assert_int_equal(blen, alen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	/* Only SHA-2 is made; a digest of the wrong size is refused. */
	assert_int_equal(fs_signer_sign(s, EVP_sha1(), data, sizeof(data), 0,
	    &a, &alen, &err), FS_EUSAGE);
	assert_int_equal(fs_signer_sign_digest(s, EVP_sha384(), d, dlen, 0, &a,
	    &alen, &err), FS_EUSAGE);
	fs_signer_free(s);
}

static void
test_ecdsa_encodings(void **state)
{
	uint8_t raw[64], *der, *back;
	size_t derlen, backlen;
	fs_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i == 0 || i == 32 ? 0 : i * 7 + 1);
	assert_int_equal(fs_ecdsa_raw_to_der(raw, sizeof(raw), &der, &derlen,
	    &err), FS_OK);
	assert_int_equal(fs_ecdsa_der_to_raw(der, derlen, 32, &back, &backlen,
	    &err), FS_OK);
	assert_int_equal(backlen, sizeof(raw));
	assert_memory_equal(back, raw, sizeof(raw));
	free(der);
	free(back);
	assert_int_equal(fs_ecdsa_raw_to_der(raw, 63, &der, &derlen, &err),
	    FS_ETOKEN);
}

struct check {
	fs_verifier *v;
	const uint8_t *d, *sig, *bad;
	size_t dlen, siglen;
	int good, notvalid;
};

/* Good and tampered signatures in turn: every answer right. */
static void *
checker(void *arg)
{
	struct check *c = arg;
	fs_err err;

	for (int i = 0; i < 200; i++) {
		int bad = i % 3 == 2;
		int rc = fs_verifier_check(c->v, c->d, c->dlen, bad ? c->bad :
		    c->sig, c->siglen, &err);

		if (rc == FS_OK && !bad)
			c->good++;
		else if (rc == FS_ENOTVALID && bad)
			c->notvalid++;
	}
	return NULL;
}

static void
check_verifier(EVP_PKEY *pub, enum fs_keytype type, unsigned bits,
    const uint8_t *d, size_t dlen, const uint8_t *sig, size_t siglen)
{
	struct check c[3];
	pthread_t th[3];
	fs_verifier *v;
	uint8_t *bad;
	unsigned char other[32];
	fs_err err;

	assert_int_equal(fs_verifier_new(pub, type, bits, EVP_sha256(), &v,
	    &err), FS_OK);
	/* The same context again: it still says yes, and no when it must. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(fs_verifier_check(v, d, dlen, sig, siglen,
		    &err), FS_OK);
	assert_non_null(bad = malloc(siglen));
	memcpy(bad, sig, siglen);
	bad[siglen / 2] ^= 0x10;
	assert_int_equal(fs_verifier_check(v, d, dlen, bad, siglen, &err),
	    FS_ENOTVALID);
	assert_non_null(strstr(err.msg, "does not verify"));
	memcpy(other, d, sizeof(other));
	other[0] ^= 1;
	assert_int_equal(fs_verifier_check(v, other, dlen, sig, siglen, &err),
	    FS_ENOTVALID);
	assert_int_equal(fs_verifier_check(v, d, dlen, sig, siglen - 1, &err),
	    FS_ENOTVALID);
	assert_int_equal(fs_verifier_check(v, d, dlen, sig, siglen, &err),
	    FS_OK);
	/* And the same answers as fs_digest_verify. */
	assert_int_equal(fs_digest_verify(pub, type, bits, EVP_sha256(), d,
	    dlen, sig, siglen, &err), FS_OK);
	assert_int_equal(fs_digest_verify(pub, type, bits, EVP_sha256(), d,
	    dlen, bad, siglen, &err), FS_ENOTVALID);
	for (int i = 0; i < 3; i++) {
		c[i] = (struct check){ v, d, sig, bad, dlen, siglen, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, checker, &c[i]),
		    0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(c[i].good, 134);
		assert_int_equal(c[i].notvalid, 66);
	}
	fs_verifier_free(v);
	free(bad);
}

static void
test_verifier_rsa(void **state)
{
	unsigned char d[32];
	uint8_t *sig;
	size_t siglen;
	fs_signer *s;
	fs_err err;

	(void)state;
	memset(d, 0x5a, sizeof(d));
	assert_int_equal(fs_signer_open_pem(key, &s, &err), FS_OK);
	assert_int_equal(fs_signer_sign_digest(s, EVP_sha256(), d, sizeof(d),
	    0, &sig, &siglen, &err), FS_OK);
	check_verifier(fs_signer_pubkey(s), FS_KEY_RSA, 2048, d, sizeof(d),
	    sig, siglen);
	free(sig);
	fs_signer_free(s);
}

static void
test_verifier_ec(void **state)
{
	unsigned char d[32], der[128];
	size_t derlen = sizeof(der), rawlen;
	uint8_t *raw;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *k;
	fs_err err;

	(void)state;
	memset(d, 0xa5, sizeof(d));
	assert_non_null(k = EVP_EC_gen("P-256"));
	assert_non_null(ctx = EVP_PKEY_CTX_new(k, NULL));
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	assert_int_equal(EVP_PKEY_sign(ctx, der, &derlen, d, sizeof(d)), 1);
	EVP_PKEY_CTX_free(ctx);
	/* A token's ECDSA value is r||s. */
	assert_int_equal(fs_ecdsa_der_to_raw(der, derlen, 32, &raw, &rawlen,
	    &err), FS_OK);
	check_verifier(k, FS_KEY_EC, 256, d, sizeof(d), raw, rawlen);
	free(raw);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_refused),
		cmocka_unit_test(test_data_and_digest_agree),
		cmocka_unit_test(test_ecdsa_encodings),
		cmocka_unit_test(test_verifier_rsa),
		cmocka_unit_test(test_verifier_ec),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
