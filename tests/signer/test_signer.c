/*
 * Signers: the PEM backend (its file-mode rule, data and digest signing
 * agreeing, known answers with the committed test key), ECDSA encodings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_refused),
		cmocka_unit_test(test_data_and_digest_agree),
		cmocka_unit_test(test_ecdsa_encodings),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
