/*
 * fedsignd's configuration (fsd_conf_load) and clients file
 * (fsd_clients_load): every key read as written, the defaults, and each
 * bad value refused with FS_EUSAGE and a message "PATH:LINE: ..." that
 * names the key and says what to write.  Whether the copies of a key
 * hold one key pair is checked at start, on tokens: test_failover.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/fedsignd.h"

#define URI1 "pkcs11:token=hsm1;object=md-signing?module-path=/usr/lib/" \
    "softhsm/libsofthsm2.so&pin-source=file:/etc/fedsignd/hsm1.pin"
#define URI2 "pkcs11:token=hsm2;object=md-signing?module-path=/usr/lib/" \
    "softhsm/libsofthsm2.so&pin-source=file:/etc/fedsignd/hsm2.pin"

static char dir[64];
static char conf_path[128];
static char real[PATH_MAX];

/* The example, with every other key an operator may set. */
static const char full[] =
    "# fedsignd.yaml\n"
    "listen:\n"
    "  - unix:/run/fedsignd/sock            # mode 0660, group below\n"
    "  - tcp:127.0.0.1:8443\n"
    "  - address: tcp:[::1]:8444\n"
    "    tls: false\n"
    "    auth: none\n"
    "  - address: tcp:192.0.2.10:8445\n"
    "    tls: true\n"
    "socket-group: fedsign\n"
    "socket-mode: \"0660\"\n"
    "user: _fedsignd\n"
    "group: _fedsignd\n"
    "clients-file: /etc/fedsignd/clients\n"
    "tls-cert: /etc/fedsignd/tls.crt\n"
    "tls-key: tls.key\n"
    "audit-log: /var/log/fedsignd/audit.jsonl\n"
    "health-interval: 45s\n"
    "retry-interval: 2m\n"
    "token-timeout: 7s\n"
    "request-timeout: 1m\n"
    "max-request: 128K\n"
    "max-connections: 99\n"
    "status-needs-secret: yes\n"
    "keys:\n"
    "  md-signing:                          # the key's name in the API\n"
    "    tokens:\n"
    "      - \"" URI1 "\"\n"
    "      - \"" URI2 "\"\n"
    "    sessions: 2\n"
    "    queue: 10\n"
    "    cert: /etc/fedsignd/md-signing.crt\n"
    "    allow-sha1: true\n"
    "  other.key_2:\n"
    "    tokens: \"" URI1 "\"\n";

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fsd-conf.XXXXXX");
	if (mkdtemp(dir) == NULL || realpath(dir, real) == NULL)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/fedsignd.yaml", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static struct fsd_conf *
load_ok(const char *text)
{
	struct fsd_conf *c = NULL;
	fs_err e;

	write_file(conf_path, text, 0600);
	fs_err_clear(&e);
	if (fsd_conf_load(conf_path, &c, &e) != FS_OK)
		fail_msg("refused: %s", e.msg);
	assert_non_null(c);
	return c;
}

/*
 * text is refused; the message starts with PATH:LINE: and has want.
 * Returns 0, or 1 after printing what was wrong.
 */
static int
refused(const char *text, unsigned line, const char *want)
{
	struct fsd_conf *c = NULL;
	char prefix[256];
	fs_err e;
	int rc;

	write_file(conf_path, text, 0600);
	fs_err_clear(&e);
	rc = fsd_conf_load(conf_path, &c, &e);
	if (rc == FS_OK) {
		fsd_conf_free(c);
		print_error("accepted, wanted '%s':\n%s\n", want, text);
		return 1;
	}
	assert_null(c);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", conf_path, line);
	if (rc != FS_EUSAGE || strncmp(e.msg, prefix, strlen(prefix)) != 0 ||
	    strstr(e.msg, want) == NULL) {
		print_error("rc %d, message '%s', wanted '%s...%s'\n", rc,
		    e.msg, prefix, want);
		return 1;
	}
	return 0;
}

static void
test_full(void **state)
{
	struct fsd_conf *c;
	char want[PATH_MAX + 16];

	(void)state;
	c = load_ok(full);
	assert_int_equal(c->nlisten, 4);
	assert_int_equal(c->listen[0].kind, FSD_UNIX);
	assert_string_equal(c->listen[0].path, "/run/fedsignd/sock");
	assert_int_equal(c->listen[0].tls, 0);
	assert_int_equal(c->listen[1].kind, FSD_TCP);
	assert_string_equal(c->listen[1].host, "127.0.0.1");
	assert_string_equal(c->listen[1].port, "8443");
	assert_true(c->listen[1].loopback);
	/* With tls-cert given, TCP listeners use TLS unless told not to. */
	assert_int_equal(c->listen[1].tls, 1);
	assert_int_equal(c->listen[1].auth, FSD_AUTH_SECRET);
	assert_string_equal(c->listen[2].host, "::1");
	assert_string_equal(c->listen[2].port, "8444");
	assert_true(c->listen[2].loopback);
	assert_int_equal(c->listen[2].tls, 0);
	assert_int_equal(c->listen[2].auth, FSD_AUTH_NONE);
	assert_false(c->listen[3].loopback);
	assert_int_equal(c->listen[3].tls, 1);
	assert_string_equal(c->socket_group, "fedsign");
	assert_int_equal(c->socket_mode, 0660);
	assert_string_equal(c->user, "_fedsignd");
	assert_string_equal(c->group, "_fedsignd");
	assert_string_equal(c->clients_file, "/etc/fedsignd/clients");
	assert_string_equal(c->tls_cert, "/etc/fedsignd/tls.crt");
	/* A relative path is taken from the configuration's folder. */
	snprintf(want, sizeof(want), "%s/tls.key", real);
	assert_string_equal(c->tls_key, want);
	assert_string_equal(c->audit_log, "/var/log/fedsignd/audit.jsonl");
	assert_int_equal(c->health_interval, 45);
	assert_int_equal(c->retry_interval, 120);
	assert_int_equal(c->token_timeout, 7);
	assert_int_equal(c->request_timeout, 60);
	assert_int_equal(c->max_request, 128 * 1024);
	assert_int_equal(c->max_connections, 99);
	assert_true(c->status_needs_secret);
	assert_int_equal(c->nkeys, 2);
	assert_string_equal(c->keys[0].name, "md-signing");
	assert_int_equal(c->keys[0].ntokens, 2);
	assert_string_equal(c->keys[0].tokens[0], URI1);
	assert_string_equal(c->keys[0].tokens[1], URI2);
	assert_int_equal(c->keys[0].sessions, 2);
	assert_int_equal(c->keys[0].queue, 10);
	assert_string_equal(c->keys[0].cert, "/etc/fedsignd/md-signing.crt");
	assert_true(c->keys[0].allow_sha1);
	/* A single URI may be given without a list. */
	assert_string_equal(c->keys[1].name, "other.key_2");
	assert_int_equal(c->keys[1].ntokens, 1);
	assert_string_equal(c->keys[1].tokens[0], URI1);
	fsd_conf_free(c);
}

/* examples/fedsignd.yaml loads, with the keys it documents. */
static void
test_example(void **state)
{
	const char *src = getenv("SRCDIR");
	struct fsd_conf *c = NULL;
	char path[PATH_MAX];
	fs_err e;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/examples/fedsignd.yaml", src);
	if (fsd_conf_load(path, &c, &e) != FS_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(c->nlisten, 2);
	assert_string_equal(c->listen[0].path, "/run/fedsignd/sock");
	assert_int_equal(c->listen[1].tls, 1);
	assert_string_equal(c->socket_group, "fedsign");
	assert_string_equal(c->clients_file, "/etc/fedsignd/clients");
	assert_string_equal(c->audit_log, "/var/log/fedsignd/audit.jsonl");
	assert_int_equal(c->health_interval, 30);
	assert_int_equal(c->nkeys, 1);
	assert_string_equal(c->keys[0].name, "md-signing");
	assert_int_equal(c->keys[0].ntokens, 2);
	fsd_conf_free(c);
}

static void
test_defaults(void **state)
{
	struct fsd_conf *c;

	(void)state;
	c = load_ok("listen: [unix:/run/fedsignd/sock]\n"
	    "audit-log: /var/log/fedsignd/audit.jsonl\n"
	    "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n");
	assert_int_equal(c->socket_mode, 0660);
	assert_null(c->socket_group);
	assert_null(c->user);
	assert_null(c->clients_file);
	assert_int_equal(c->health_interval, 30);
	assert_int_equal(c->retry_interval, 5);
	assert_int_equal(c->token_timeout, 10);
	assert_int_equal(c->request_timeout, 30);
	assert_int_equal(c->max_request, 64 * 1024);
	assert_int_equal(c->max_connections, 64);
	assert_false(c->status_needs_secret);
	assert_int_equal(c->keys[0].sessions, 4);
	assert_int_equal(c->keys[0].queue, 64);
	assert_null(c->keys[0].cert);
	assert_false(c->keys[0].allow_sha1);
	fsd_conf_free(c);

	/* TCP on loopback without TLS: allowed, with a clients file. */
	c = load_ok("listen: [\"tcp:127.0.0.1:8443\"]\n"
	    "clients-file: /etc/fedsignd/clients\n"
	    "audit-log: /a\nkeys:\n  k:\n    tokens: [\"" URI1 "\"]\n");
	assert_int_equal(c->listen[0].tls, 0);
	assert_true(c->listen[0].loopback);
	fsd_conf_free(c);
}

#define KEYS "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n"
#define TOP "listen: [unix:/run/fedsignd/sock]\naudit-log: /a\n"

static const struct bad_case {
	const char *text;
	unsigned line;
	const char *want;
} bad_cases[] = {
	/* structure */
	{ TOP KEYS "sesions: 2\n", 6, "unknown key 'sesions'" },
	{ TOP "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n    sesions: 2\n", 6,
	    "did you mean 'sessions'?" },
	{ "listen: [unix:/s]\naudit-log: /a\nhealth-interval: 1s\n"
	    "health-interval: 2s\n" KEYS, 4, "health-interval" },
	{ "audit-log: /a\n" KEYS, 1, "'listen' is missing" },
	{ "listen: unix:/s\naudit-log: /a\n" KEYS, 1,
	    "'listen' must be a list" },
	{ "listen: [unix:/s]\n" KEYS, 1, "'audit-log' is missing" },
	{ TOP, 1, "'keys' is missing" },
	{ TOP "keys: {}\n", 3, "'keys' must be a mapping" },
	{ "listen: &l [unix:/s]\naudit-log: /a\n" KEYS, 1, "anchors" },
	{ TOP "keys: [\n", 4, "YAML syntax error" },
	/* listen */
	{ "listen: [\"tcp:0.0.0.0:8443\"]\naudit-log: /a\n"
	    "clients-file: /c\n" KEYS, 1, "it needs TLS" },
	{ "listen: [\"tcp:192.0.2.1:8443\"]\naudit-log: /a\n"
	    "clients-file: /c\n" KEYS, 1, "not on the loopback interface" },
	{ "listen:\n  - address: tcp:192.0.2.1:8443\n    tls: false\n"
	    "audit-log: /a\nclients-file: /c\n" KEYS, 2, "it needs TLS" },
	{ "listen:\n  - address: tcp:127.0.0.1:8443\n    tls: true\n"
	    "audit-log: /a\nclients-file: /c\n" KEYS, 2,
	    "give tls-cert and tls-key" },
	{ "listen: [\"tcp:127.0.0.1:8443\"]\naudit-log: /a\n" KEYS, 1,
	    "need a 'clients-file'" },
	{ "listen:\n  - address: tcp:192.0.2.1:8443\n    auth: none\n"
	    "tls-cert: /t\ntls-key: /k\naudit-log: /a\n" KEYS, 2,
	    "only for loopback" },
	{ "listen:\n  - address: unix:/s\n    auth: none\naudit-log: /a\n"
	    KEYS, 2, "unix sockets need no 'auth'" },
	{ "listen:\n  - address: unix:/s\n    tls: true\naudit-log: /a\n"
	    KEYS, 2, "TLS is for tcp: addresses" },
	{ "listen:\n  - address: tcp:127.0.0.1:1\n    auth: maybe\n"
	    "audit-log: /a\n" KEYS, 3, "write secret or none" },
	{ "listen:\n  - address: tcp:127.0.0.1:1\n    tls: sometimes\n"
	    "audit-log: /a\n" KEYS, 3, "tls" },
	{ "listen:\n  - tls: false\naudit-log: /a\n" KEYS, 2,
	    "needs 'address:" },
	{ "listen: [unix:relative/sock]\naudit-log: /a\n" KEYS, 1,
	    "absolute path" },
	{ "listen: [\"udp:127.0.0.1:1\"]\naudit-log: /a\n" KEYS, 1,
	    "neither unix:/PATH nor tcp:HOST:PORT" },
	{ "listen: [\"tcp:127.0.0.1:99999\"]\naudit-log: /a\n" KEYS, 1,
	    "from 1 to 65535" },
	{ "listen: [\"tcp:127.0.0.1:\"]\naudit-log: /a\n" KEYS, 1,
	    "the port must be a number" },
	{ "listen: [\"tcp:127.0.0.1\"]\naudit-log: /a\n" KEYS, 1,
	    "write tcp:HOST:PORT" },
	{ "listen: [\"tcp:[::1:8443\"]\naudit-log: /a\n" KEYS, 1,
	    "tcp:[::1]:8443" },
	{ "listen: [unix:/s, unix:/s]\naudit-log: /a\n" KEYS, 1,
	    "given twice" },
	/* top-level values */
	{ TOP "socket-mode: \"0666\"\n" KEYS, 3, "'socket-mode'" },
	{ TOP "socket-mode: \"0640x\"\n" KEYS, 3, "octal mode" },
	{ TOP "health-interval: 0s\n" KEYS, 3, "'health-interval' is 0s" },
	{ TOP "health-interval: soon\n" KEYS, 3, "'health-interval'" },
	{ TOP "retry-interval: 2h\n" KEYS, 3, "'retry-interval' is 2h" },
	{ TOP "token-timeout: 0\n" KEYS, 3, "'token-timeout'" },
	{ TOP "request-timeout: 2d\n" KEYS, 3, "'request-timeout'" },
	{ TOP "max-request: 100\n" KEYS, 3, "from 1K to 16M" },
	{ TOP "max-request: lots\n" KEYS, 3, "'max-request'" },
	{ TOP "max-connections: 0\n" KEYS, 3, "'max-connections' is 0" },
	{ TOP "max-connections: 12x\n" KEYS, 3, "not a whole number" },
	{ TOP "status-needs-secret: perhaps\n" KEYS, 3,
	    "status-needs-secret" },
	{ TOP "tls-cert: /t\n" KEYS, 1, "give both 'tls-cert' and 'tls-key'" },
	{ TOP "group: g\n" KEYS, 1, "'group' needs 'user'" },
	{ TOP "user: [a]\n" KEYS, 3, "user" },
	/* keys */
	{ TOP "keys:\n  \"a/b\":\n    tokens: [\"" URI1 "\"]\n", 4,
	    "key name 'a/b'" },
	{ TOP "keys:\n  status:\n    tokens: [\"" URI1 "\"]\n", 4,
	    "not status, metrics or v1" },
	{ TOP "keys:\n  k:\n    sessions: 2\n", 5, "has no 'tokens'" },
	{ TOP "keys:\n  k: \"" URI1 "\"\n", 4, "must be a mapping" },
	{ TOP "keys:\n  k:\n    tokens: []\n", 5, "must be a list" },
	{ TOP "keys:\n  k:\n    tokens: [\"" URI1 "\", \"" URI1 "\"]\n", 5,
	    "the same token twice" },
	{ TOP "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n  k:\n"
	    "    tokens: [\"" URI2 "\"]\n", 6, "given twice" },
	{ TOP "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n    sessions: 0\n",
	    6, "'sessions' is 0" },
	{ TOP "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n    sessions: 9999\n",
	    6, "'sessions' is 9999" },
	{ TOP "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n    queue: -1\n",
	    6, "'queue'" },
	{ TOP "keys:\n  k:\n    tokens: [\"" URI1 "\"]\n    allow-sha1: 2\n",
	    6, "allow-sha1" },
	{ TOP "keys:\n  k:\n    tokens: [\"/dev/hsm\"]\n", 5,
	    "not a PKCS#11 URI" },
	{ TOP "keys:\n  k:\n    tokens: [\"pkcs11:token=a;object=k\"]\n", 5,
	    "needs pin-source=file:PATH" },
	{ TOP "keys:\n  k:\n    tokens: [\"pkcs11:token=a;object=k?"
	    "pin-source=prompt\"]\n", 5, "needs pin-source=file:PATH" },
	{ TOP "keys:\n  k:\n    tokens: [\"pkcs11:token=a;object=k?"
	    "pin-value=123456\"]\n", 5, "has a pin-value" },
	{ TOP "keys:\n  k:\n    tokens: [\"pkcs11:token=a;%zz?"
	    "pin-source=file:/p\"]\n", 5, "not a valid PKCS#11 URI" },
};

static void
test_bad(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		failed += refused(bad_cases[i].text, bad_cases[i].line,
		    bad_cases[i].want);
	assert_int_equal(failed, 0);
}

/* A pin-value is refused without repeating the PIN in the message. */
static void
test_pin_not_repeated(void **state)
{
	struct fsd_conf *c = NULL;
	fs_err e;

	(void)state;
	write_file(conf_path, TOP "keys:\n  k:\n    tokens: [\"pkcs11:"
	    "token=a;object=k?pin-value=secret-738201\"]\n", 0600);
	assert_int_equal(fsd_conf_load(conf_path, &c, &e), FS_EUSAGE);
	assert_null(strstr(e.msg, "738201"));
}

static void
test_not_yaml(void **state)
{
	struct fsd_conf *c = NULL;
	fs_err e;

	(void)state;
	write_file(conf_path, "listen: [unix:/s]\n\0keys: 1\n", 0600);
	/* write_file stops at the NUL: write it by hand */
	{
		static const char t[] = "listen: [unix:/s]\n\0x\n";
		int fd = open(conf_path, O_WRONLY | O_TRUNC);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, t, sizeof(t) - 1),
		    (ssize_t)sizeof(t) - 1);
		close(fd);
	}
	assert_int_equal(fsd_conf_load(conf_path, &c, &e), FS_EUSAGE);
	assert_non_null(strstr(e.msg, "NUL byte"));
	assert_int_not_equal(fsd_conf_load("/nonexistent/fedsignd.yaml", &c,
	    &e), FS_OK);
	assert_non_null(strstr(e.msg, "/nonexistent/fedsignd.yaml"));
}

static void
test_names(void **state)
{
	(void)state;
	assert_true(fsd_name_ok("md-signing"));
	assert_true(fsd_name_ok("a.b_c-1"));
	assert_false(fsd_name_ok(""));
	assert_false(fsd_name_ok("a b"));
	assert_false(fsd_name_ok("a/b"));
	assert_false(fsd_name_ok("%2e"));
	assert_false(fsd_name_ok("metrics"));
	assert_false(fsd_name_ok("v1"));
	assert_false(fsd_name_ok("status"));
	assert_false(fsd_name_ok(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* --- the clients file --------------------------------------------------- */

static void
clients_refused(const char *text, mode_t mode, const char *want)
{
	struct fsd_clients *cl = NULL;
	char path[128];
	fs_err e;

	snprintf(path, sizeof(path), "%s/clients", dir);
	unlink(path);
	write_file(path, text, mode);
	fs_err_clear(&e);
	if (fsd_clients_load(path, &cl, &e) == FS_OK) {
		fsd_clients_free(cl);
		fail_msg("clients file accepted, wanted '%s':\n%s", want, text);
	}
	if (strstr(e.msg, want) == NULL)
		fail_msg("message '%s', wanted '%s'", e.msg, want);
}

static void
test_clients(void **state)
{
	struct fsd_clients *cl = NULL;
	const struct fsd_client *c;
	char path[128];
	fs_err e;

	(void)state;
	snprintf(path, sizeof(path), "%s/clients", dir);
	write_file(path, "# name secret [keys]\n\n"
	    "aggregator agg-0123456789abcdef\n"
	    "  limited   lim-0123456789abcdef   k1,k2\n", 0600);
	if (fsd_clients_load(path, &cl, &e) != FS_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(cl->n, 2);
	c = fsd_clients_find(cl, "agg-0123456789abcdef", 20);
	assert_non_null(c);
	assert_string_equal(c->name, "aggregator");
	assert_true(fsd_client_may(c, "anything"));
	c = fsd_clients_find(cl, "lim-0123456789abcdef", 20);
	assert_non_null(c);
	assert_string_equal(c->name, "limited");
	assert_true(fsd_client_may(c, "k1"));
	assert_true(fsd_client_may(c, "k2"));
	assert_false(fsd_client_may(c, "k3"));
	assert_null(fsd_clients_find(cl, "agg-0123456789abcdeX", 20));
	assert_null(fsd_clients_find(cl, "agg-0123456789abcde", 19));
	assert_null(fsd_clients_find(cl, "", 0));
	fsd_clients_free(cl);
	fsd_clients_free(NULL);

	clients_refused("a agg-0123456789abcdef\n", 0644,
	    "can be read by others");
	clients_refused("a short\n", 0600, "the secret of client");
	clients_refused("lonely\n", 0600, "write 'NAME SECRET'");
	clients_refused("a agg-0123456789abcdef\na agg-0123456789abcdeg\n",
	    0600, "client");
	clients_refused("a agg-0123456789abcdef\nb agg-0123456789abcdef\n",
	    0600, "client");
	clients_refused("a agg-0123456789abcdef a/b\n", 0600, "key name");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_pin_not_repeated),
		cmocka_unit_test(test_not_yaml),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_clients),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
