/*
 * The serve: section of the publish configuration: its keys, their
 * defaults (also without the section), and each refusal with the file,
 * the line and what to do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedsign/conf.h"

static char dir[64], path[128];

#define BASE \
    "signing:\n" \
    "  key: \"pkcs11:token=fed;object=md\"\n" \
    "publish-dir: /var/www/md\n" \
    "state-dir: /var/lib/fedsign\n" \
    "validity: 10d\n" \
    "sources:\n" \
    "  - {name: members, files: /srv/m/*.xml}\n" \
    "feeds:\n" \
    "  - {file: hub.xml, sources: members}\n"
/* lines 10-11 */
#define MDQ "mdq:\n  sources: [members]\n"

static int
load(const char *text, struct fs_conf **c, fs_err *err)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return fs_conf_load(path, c, err);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedsign-sconf.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/fedsign.yaml", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static void
test_defaults(void **state)
{
	struct fs_conf *c;
	fs_err err;

	(void)state;
	assert_int_equal(load(BASE MDQ, &c, &err), FS_OK);
	assert_false(c->serve.enabled);
	assert_int_equal(c->serve.listen.n, 0);
	assert_int_equal(c->serve.max_clients, 1024);
	assert_int_equal(c->serve.timeout, 30);
	assert_int_equal(c->serve.status_margin, 86400);
	fs_conf_free(c);
}

static void
test_all_keys(void **state)
{
	struct fs_conf *c;
	fs_err err;

	(void)state;
	assert_int_equal(load(BASE MDQ "serve:\n"
	    "  listen: [127.0.0.1:8080, \"[::1]:8443\", \"*:80\"]\n"
	    "  max-clients: 500\n  timeout: 1m\n  status-margin: 12h\n", &c,
	    &err), FS_OK);
	assert_true(c->serve.enabled);
	assert_int_equal(c->serve.listen.n, 3);
	assert_string_equal(c->serve.listen.v[1], "[::1]:8443");
	assert_int_equal(c->serve.max_clients, 500);
	assert_int_equal(c->serve.timeout, 60);
	assert_int_equal(c->serve.status_margin, 43200);
	fs_conf_free(c);
	/* one address as a single value */
	assert_int_equal(load(BASE MDQ "serve: {listen: 0.0.0.0:80}\n", &c,
	    &err), FS_OK);
	assert_int_equal(c->serve.listen.n, 1);
	fs_conf_free(c);
}

static const struct {
	const char *what, *text;
	unsigned line;
	const char *want;
} refusals[] = {
	{ "no mdq", BASE "serve: {listen: 127.0.0.1:80}\n", 10,
	  "serve: without mdq:" },
	{ "unknown key", BASE MDQ "serve:\n  listn: 127.0.0.1:80\n", 13,
	  "did you mean 'listen'" },
	{ "no port", BASE MDQ "serve:\n  listen: 127.0.0.1\n", 13,
	  "is not ADDR:PORT" },
	{ "bad port", BASE MDQ "serve:\n  listen: [127.0.0.1:80x]\n", 13,
	  "the port must be a number" },
	{ "big port", BASE MDQ "serve:\n  listen: 127.0.0.1:65536\n", 13,
	  "the port must be a number" },
	{ "bare IPv6", BASE MDQ "serve:\n  listen: \"::1:80\"\n", 13,
	  "[::1]:8080 for IPv6" },
	{ "max-clients 0", BASE MDQ "serve:\n  max-clients: 0\n", 13,
	  "'max-clients' is 0: it must be from 1 to 1000000" },
	{ "timeout of a day", BASE MDQ "serve:\n  timeout: 1d\n", 13,
	  "more than an hour" },
	{ "bad timeout", BASE MDQ "serve:\n  timeout: soon\n", 13,
	  "invalid duration" },
	{ "margin past validity", BASE MDQ "serve:\n  status-margin: 14d\n",
	  13, "not shorter than the mdq: validity" },
	{ "not a mapping", BASE MDQ "serve: 127.0.0.1:80\n", 12,
	  "'serve' must be a mapping" },
};

static void
test_refusals(void **state)
{
	char prefix[256];
	struct fs_conf *c;
	fs_err err;
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		rc = load(refusals[i].text, &c, &err);
		if (rc != FS_EUSAGE)
			fail_msg("%s: returned %d (%s)", refusals[i].what, rc,
			    rc == FS_OK ? "loaded" : err.msg);
		assert_null(c);
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path,
		    refusals[i].line);
		if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
			fail_msg("%s: '%s' does not start with '%s'",
			    refusals[i].what, err.msg, prefix);
		if (strstr(err.msg, refusals[i].want) == NULL)
			fail_msg("%s: '%s' does not say '%s'",
			    refusals[i].what, err.msg, refusals[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
