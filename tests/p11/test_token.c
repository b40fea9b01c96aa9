/*
 * The PKCS#11 layer on a real SoftHSM2 token made in a temporary folder:
 * one token object, one session and one login shared by two keys; keys
 * found by URI; errors that keep their PKCS#11 cause; key URIs checked.
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

#include <openssl/evp.h>

#include "fedsign/p11.h"
#include "fedsign/signer.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"

static char dir[64], uri_a[512], uri_b[512], uri_tok[512], bad[512];

struct calls {
	int begin, end, logins;
};

static void *
begin(void *ctx, const char *call)
{
	struct calls *c = ctx;

	c->begin++;
	if (strcmp(call, "C_Login") == 0)
		c->logins++;
	return c;
}

static void
end(void *ctx, void *cookie)
{
	struct calls *c = ctx;

	assert_ptr_equal(cookie, c);
	c->end++;
}

static void
write_file(const char *name, const char *text, mode_t mode)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

static int
setup(void **state)
{
	char conf[512], src[160], so[160];
	struct fs_keyspec rsa = { 1, 2048 }, ec = { 2, 256 };
	struct fs_token_opts to = { MODULE, FS_TOKEN_RW, 0, NULL };
	fs_token *t;
	fs_err err;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedsign-p11.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(conf, sizeof(conf), "%s/tokens", dir);
	mkdir(conf, 0700);
	snprintf(conf, sizeof(conf), "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", dir);
	write_file("softhsm2.conf", conf, 0600);
	write_file("pin", "123456\n", 0600);
	write_file("sopin", "87654321\n", 0600);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	setenv("SOFTHSM2_CONF", conf, 1);
	snprintf(src, sizeof(src), "file:%s/pin", dir);
	snprintf(so, sizeof(so), "file:%s/sopin", dir);
	if (fs_p11_init_token(MODULE, "unit", so, src, NULL, &err) != FS_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	snprintf(uri_tok, sizeof(uri_tok), "pkcs11:token=unit?pin-source=%s",
	    src);
	snprintf(uri_a, sizeof(uri_a), "pkcs11:token=unit;object=a");
	snprintf(uri_b, sizeof(uri_b), "pkcs11:token=unit;object=b");
	if (fs_token_open(uri_tok, &to, &t, &err) != FS_OK ||
	    fs_token_login(t, &err) != FS_OK ||
	    fs_keygen(t, uri_a, &rsa, NULL, NULL, &err) != FS_OK ||
	    fs_keygen(t, uri_b, &ec, NULL, NULL, &err) != FS_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	fs_token_free(t);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Sign with k and check it, without cmocka (for other threads). */
static int
sign_ok(fs_key *k)
{
	static const uint8_t data[] = "many threads, few sessions";
	EVP_MD_CTX *ctx;
	fs_signer *s;
	uint8_t *sig;
	size_t len;
	fs_err err;
	int ok;

	if (fs_signer_from_key(k, &s, &err) != FS_OK)
		return 0;
	if (fs_signer_sign(s, EVP_sha256(), data, sizeof(data), 1, &sig, &len,
	    &err) != FS_OK) {
		fs_signer_free(s);
		return 0;
	}
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
	    fs_signer_pubkey(s)) == 1 && EVP_DigestVerify(ctx, sig, len, data,
	    sizeof(data)) == 1;
	EVP_MD_CTX_free(ctx);
	free(sig);
	fs_signer_free(s);
	return ok;
}

/* Sign with k through a signer, check it with the key's public key. */
static void
sign_and_check(fs_key *k)
{
	static const uint8_t data[] = "two keys, one session";
	EVP_MD_CTX *ctx;
	fs_signer *s;
	uint8_t *sig;
	size_t len;
	fs_err err;

	assert_int_equal(fs_signer_from_key(k, &s, &err), FS_OK);
	assert_int_equal(fs_signer_sign(s, EVP_sha256(), data, sizeof(data), 1,
	    &sig, &len, &err), FS_OK);
	assert_non_null(ctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
	    fs_signer_pubkey(s)), 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, len, data, sizeof(data)),
	    1);
	EVP_MD_CTX_free(ctx);
	free(sig);
	fs_signer_free(s);
}

static void
test_two_keys_one_session(void **state)
{
	struct calls c = { 0 };
	struct fs_p11_hooks hooks = { &c, NULL, begin, end };
	struct fs_token_opts to = { MODULE, 0, 0, &hooks };
	fs_key *a, *b;
	fs_token *t;
	fs_err err;

	(void)state;
	assert_int_equal(fs_token_open(uri_tok, &to, &t, &err), FS_OK);
	assert_int_equal(fs_token_login(t, &err), FS_OK);
	assert_int_equal(fs_token_login(t, &err), FS_OK);
	assert_int_equal(fs_key_find(t, uri_a, CKO_PRIVATE_KEY, &a, &err), FS_OK);
	assert_int_equal(fs_key_find(t, uri_b, CKO_PRIVATE_KEY, &b, &err), FS_OK);
	assert_int_equal(fs_key_type(a), CKK_RSA);
	assert_int_equal(fs_key_type(b), CKK_EC);
	assert_string_equal(fs_key_label(b), "b");
	sign_and_check(a);
	sign_and_check(b);
	sign_and_check(a);
	assert_int_equal(fs_token_open_sessions(t), 1);
	assert_int_equal(c.logins, 1);
	fs_key_free(a);
	fs_key_free(b);
	fs_token_free(t);
	/* Every call into the module went through the hooks. */
	assert_true(c.begin > 10);
	assert_int_equal(c.begin, c.end);
}

static int failures;
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
sign_many(void *arg)
{
	for (int i = 0; i < 20; i++) {
		if (!sign_ok(arg)) {
			pthread_mutex_lock(&failures_lock);
			failures++;
			pthread_mutex_unlock(&failures_lock);
		}
	}
	return NULL;
}

static void
test_sessions_grow(void **state)
{
	struct fs_token_opts to = { MODULE, 0, 3, NULL };
	pthread_t th[6];
	fs_token *t;
	fs_key *a;
	fs_err err;

	(void)state;
	assert_int_equal(fs_token_open(uri_tok, &to, &t, &err), FS_OK);
	assert_int_equal(fs_token_login(t, &err), FS_OK);
	assert_int_equal(fs_key_find(t, uri_a, CKO_PRIVATE_KEY, &a, &err), FS_OK);
	assert_int_equal(fs_token_max_sessions(t), 3);
	assert_int_equal(fs_token_open_sessions(t), 1);
	/* Six threads on one key: at most three sessions, all logged in. */
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&th[i], NULL, sign_many, a), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(failures, 0);
	assert_true(fs_token_open_sessions(t) >= 1);
	assert_true(fs_token_open_sessions(t) <= 3);
	fs_key_free(a);
	fs_token_free(t);
}

static void
test_errors_keep_their_cause(void **state)
{
	struct fs_token_opts to = { MODULE, 0, 0, NULL };
	fs_token *t;
	fs_key *k;
	fs_err err;

	(void)state;
	write_file("wrong", "999999\n", 0600);
	snprintf(bad, sizeof(bad), "pkcs11:token=unit?pin-source=file:%s/wrong",
	    dir);
	assert_int_equal(fs_token_open(bad, &to, &t, &err), FS_OK);
	assert_int_equal(fs_token_login(t, &err), FS_ETOKEN);
	assert_int_equal(err.rv, CKR_PIN_INCORRECT);
	assert_string_equal(err.call, "C_Login");
	assert_non_null(strstr(err.msg, "CKR_PIN_INCORRECT"));
	fs_token_free(t);

	assert_int_equal(fs_token_open(uri_tok, &to, &t, &err), FS_OK);
	assert_int_equal(fs_token_login(t, &err), FS_OK);
	assert_int_equal(fs_key_find(t, "pkcs11:token=unit;object=zzz",
	    CKO_PRIVATE_KEY, &k, &err), FS_ETOKEN);
	assert_non_null(strstr(err.msg, "object=a"));
	assert_int_equal(fs_key_find(t, "pkcs11:token=unit",
	    CKO_PRIVATE_KEY, &k, &err), FS_ETOKEN);
	assert_non_null(strstr(err.msg, "matches 2 private keys"));
	assert_int_equal(fs_key_find(t, "pkcs11:token=other;object=a",
	    CKO_PRIVATE_KEY, &k, &err), FS_ETOKEN);
	assert_non_null(strstr(err.msg, "another token"));
	assert_int_equal(fs_key_find(t, "pkcs11:token=unit;object=a;type=cert",
	    CKO_PRIVATE_KEY, &k, &err), FS_EUSAGE);
	assert_int_equal(fs_key_find(t, "pkcs11:token=unit;object=a;type=public",
	    CKO_PUBLIC_KEY, &k, &err), FS_OK);
	fs_key_free(k);
	fs_token_free(t);
}

static void
test_uri_checks(void **state)
{
	static const struct {
		const char *uri, *text;
	} cases[] = {
		{ "pkcs11:token=unit;objet=a", "unknown path attribute 'objet'" },
		{ "pkcs11:token=unit?pin-value=1234", "pin-value" },
		{ "pkcs11:token=unit?PIN-VALUE=1234", "pin-value" },
		{ "pkcs11:token=unit?Pin-Source=file:x", "unknown query attribute" },
		{ "pkcs11:token=unit;token=other", "gives 'token' twice" },
		{ "pkcs11:token=unit;type=bogus", "is not private, public" },
		{ "token=unit", "not a PKCS#11 URI" },
	};
	struct fs_token_opts to = { MODULE, 0, 0, NULL };
	fs_token *t;
	fs_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fs_token_open(cases[i].uri, &to, &t, &err),
		    FS_EUSAGE);
		if (strstr(err.msg, cases[i].text) == NULL)
			fail_msg("%s: '%s' lacks '%s'", cases[i].uri, err.msg,
			    cases[i].text);
		assert_null(strstr(err.msg, "1234"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_keys_one_session),
		cmocka_unit_test(test_sessions_grow),
		cmocka_unit_test(test_errors_keep_their_cause),
		cmocka_unit_test(test_uri_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
