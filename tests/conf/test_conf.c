/*
 * fs_conf_load: the publish configuration.  The example of the brief
 * loads with every field and default as expected; each rule refuses with
 * FS_EUSAGE and a message "PATH:LINE: ..." naming the key.
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

#include "fedsign/conf.h"

static char dir[64];
static char real[PATH_MAX];	/* dir's real path: relative paths join it */
static char conf_path[128];

static const char example[] =
    "signing:\n"
    "  key: \"pkcs11:token=fed;object=md?module-path=/usr/lib/softhsm/"
    "libsofthsm2.so&pin-source=file:/etc/fedsign/pin\"   # or key-file: "
    "(development)\n"
    "  cert: /etc/fedsign/signer.crt        # optional\n"
    "publish-dir: /var/www/md\n"
    "state-dir: /var/lib/fedsign\n"
    "validity: 10d\n"
    "cache-duration: 6h\n"
    "publisher: https://federation.example.org/\n"
    "sources:\n"
    "  - name: members\n"
    "    files: /srv/members/*.xml          # a glob, or a list of globs\n"
    "    registration-authority: https://federation.example.org/\n"
    "  - name: edugain\n"
    "    url: https://upstream.example.org/feed.xml   # or file: PATH\n"
    "    verify-cert: /etc/fedsign/upstream.crt\n"
    "    required: true\n"
    "checks:\n"
    "  schema: true\n"
    "  rules: [/etc/fedsign/rules/*.xsl]\n"
    "feeds:\n"
    "  - file: hub.xml\n"
    "    name: https://federation.example.org/hub\n"
    "    sources: [members]\n"
    "  - file: idps.xml\n"
    "    sources: [members, edugain]\n"
    "    select: {roles: [idp]}\n"
    "safety:\n"
    "  max-entity-drop: 10%\n";

/* Lines 1-4 of most cases below. */
#define HEAD \
    "signing:\n" \
    "  key: \"pkcs11:token=fed;object=md\"\n" \
    "publish-dir: /var/www/md\n" \
    "state-dir: /var/lib/fedsign\n"
/* One source and one feed (5 lines: 6-10 after a validity on line 5). */
#define TAIL \
    "sources:\n" \
    "  - {name: members, files: /srv/m/*.xml}\n" \
    "feeds:\n" \
    "  - file: hub.xml\n" \
    "    sources: members\n"

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
load(const char *text, struct fs_conf **c, fs_err *err)
{
	put(conf_path, text);
	return fs_conf_load(conf_path, c, err);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedsign-conf.XXXXXX");
	if (mkdtemp(dir) == NULL || realpath(dir, real) == NULL)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/fedsign.yaml", dir);
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

static void
test_example(void **state)
{
	const struct fs_conf_source *s;
	const struct fs_conf_feed *f;
	struct fs_conf *c;
	fs_err err;

	(void)state;
	assert_int_equal(load(example, &c, &err), FS_OK);
	assert_string_equal(c->path, conf_path);
	assert_string_equal(c->signing.key, "pkcs11:token=fed;object=md?"
	    "module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:"
	    "/etc/fedsign/pin");
	assert_null(c->signing.key_file);
	assert_string_equal(c->signing.cert, "/etc/fedsign/signer.crt");
	assert_null(c->signing.module);
	assert_null(c->signing.alg);
	assert_null(c->signing.digest);
	assert_string_equal(c->publish_dir, "/var/www/md");
	assert_string_equal(c->state_dir, "/var/lib/fedsign");
	assert_int_equal(c->validity, 10 * 86400);
	assert_int_equal(c->cache_duration, 6 * 3600);
	assert_int_equal(c->resign_window, 5 * 86400);	/* validity / 2 */
	assert_string_equal(c->publisher, "https://federation.example.org/");

	assert_int_equal(c->nsources, 2);
	s = &c->sources[0];
	assert_string_equal(s->name, "members");
	assert_int_equal(s->files.n, 1);
	assert_string_equal(s->files.v[0], "/srv/members/*.xml");
	assert_null(s->url);
	assert_null(s->file);
	assert_null(s->verify_cert);
	assert_int_equal(s->required, 1);	/* the default: fail closed */
	assert_string_equal(s->registration_authority,
	    "https://federation.example.org/");
	assert_int_equal(s->timeout, 60);
	assert_int_equal(s->max_size, (uint64_t)1 << 30);
	assert_int_equal(s->line, 10);
	s = &c->sources[1];
	assert_string_equal(s->name, "edugain");
	assert_int_equal(s->files.n, 0);
	assert_string_equal(s->url, "https://upstream.example.org/feed.xml");
	assert_string_equal(s->verify_cert, "/etc/fedsign/upstream.crt");
	assert_int_equal(s->required, 1);
	assert_null(s->registration_authority);
	assert_int_equal(s->line, 13);

	assert_int_equal(c->checks.schema, 1);
	assert_int_equal(c->checks.rules.n, 1);
	assert_string_equal(c->checks.rules.v[0], "/etc/fedsign/rules/*.xsl");

	assert_int_equal(c->nfeeds, 2);
	f = &c->feeds[0];
	assert_string_equal(f->file, "hub.xml");
	assert_string_equal(f->name, "https://federation.example.org/hub");
	assert_int_equal(f->sources.n, 1);
	assert_string_equal(f->sources.v[0], "members");
	assert_int_equal(f->select.roles.n, 0);
	assert_null(f->select.xpath);
	assert_int_equal(f->validity, 0);
	assert_int_equal(f->cache_duration, 0);
	assert_int_equal(f->line, 21);
	f = &c->feeds[1];
	assert_string_equal(f->file, "idps.xml");
	assert_null(f->name);
	assert_int_equal(f->sources.n, 2);
	assert_string_equal(f->sources.v[0], "members");
	assert_string_equal(f->sources.v[1], "edugain");
	assert_int_equal(f->select.roles.n, 1);
	assert_string_equal(f->select.roles.v[0], "idp");
	assert_int_equal(f->select.categories.n, 0);
	assert_int_equal(f->select.ra_include.n, 0);
	assert_int_equal(f->line, 24);

	assert_int_equal(c->safety.have_max_entity_drop, 1);
	assert_true(c->safety.max_entity_drop > 0.0999999 &&
	    c->safety.max_entity_drop < 0.1000001);
	assert_int_equal(c->keep_releases, 5);
	assert_int_equal(c->limits.max_size, FS_MD_MAX_SIZE);
	assert_int_equal(c->limits.max_depth, FS_MD_MAX_DEPTH);
	assert_int_equal(c->limits.max_attrs, FS_MD_MAX_ATTRS);
	assert_int_equal(c->fetch.timeout, 60);
	assert_int_equal(c->fetch.max_size, (uint64_t)1 << 30);
	fs_conf_free(c);
	fs_conf_free(NULL);
}

static const char *
in_dir(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", real, rel);
	return buf[i];
}

/* Every other key, relative paths, and the other spellings. */
static void
test_everything(void **state)
{
	static const char text[] =
	    "signing:\n"
	    "  key-file: keys/dev.pem\n"
	    "  cert: ./signer.crt\n"
	    "  module: lib/softhsm2.so\n"
	    "  alg: rsa-sha256\n"
	    "  digest: sha256\n"
	    "publish-dir: out\n"
	    "state-dir: /var/lib/fedsign\n"
	    "validity: P14D\n"
	    "resign-window: 2d\n"
	    "keep-releases: 12\n"
	    "limits: {max-size: 64M, max-depth: 100, max-attributes: 500}\n"
	    "fetch:\n"
	    "  timeout: 2m\n"
	    "  max-size: 200M\n"
	    "checks:\n"
	    "  schema: No\n"
	    "  rules: rules/*.xsl\n"
	    "safety: {max-entity-drop: 2.5%}\n"
	    "sources:\n"
	    "  - name: members\n"
	    "    files:\n"
	    "      - members/*.xml\n"
	    "      - /srv/extra/*.xml\n"
	    "    required: no\n"
	    "  - name: up_2.x\n"
	    "    url: http://upstream.example.org/feed.xml\n"
	    "    timeout: 30s\n"
	    "    max-size: 10M\n"
	    "    required: YES\n"
	    "  - name: local\n"
	    "    file: local.xml\n"
	    "feeds:\n"
	    "  - file: all.xml\n"
	    "    sources: [members, up_2.x, local]\n"
	    "    validity: 7d\n"
	    "    cache-duration: 1h\n"
	    "    select:\n"
	    "      roles: [sp, attribute-authority]\n"
	    "      entity-category: http://refeds.org/category/research-and-"
	    "scholarship\n"
	    "      entity-category-support: [a, b]\n"
	    "      assurance-certification: https://refeds.org/sirtfi\n"
	    "      registration-authority:\n"
	    "        include: [https://a.example/]\n"
	    "        exclude: https://b.example/\n"
	    "      entity-ids: [https://idp.example/]\n"
	    "      exclude-entity-ids: https://bad.example/\n"
	    "      xpath: \"//md:IDPSSODescriptor\"\n"
	    "  - file: ra.xml\n"
	    "    sources: local\n"
	    "    select: {registration-authority: https://c.example/}\n";
	const struct fs_conf_select *sel;
	struct fs_conf *c;
	fs_err err;

	(void)state;
	assert_int_equal(load(text, &c, &err), FS_OK);
	assert_null(c->signing.key);
	assert_string_equal(c->signing.key_file, in_dir("keys/dev.pem"));
	assert_string_equal(c->signing.cert, in_dir("signer.crt"));
	assert_string_equal(c->signing.module, in_dir("lib/softhsm2.so"));
	assert_string_equal(c->signing.alg, "rsa-sha256");
	assert_string_equal(c->signing.digest, "sha256");
	assert_string_equal(c->publish_dir, in_dir("out"));
	assert_int_equal(c->validity, 14 * 86400);
	assert_int_equal(c->cache_duration, 0);
	assert_int_equal(c->resign_window, 2 * 86400);
	assert_null(c->publisher);
	assert_int_equal(c->keep_releases, 12);
	assert_int_equal(c->limits.max_size, 64 << 20);
	assert_int_equal(c->limits.max_depth, 100);
	assert_int_equal(c->limits.max_attrs, 500);
	assert_int_equal(c->fetch.timeout, 120);
	assert_int_equal(c->fetch.max_size, 200 << 20);
	assert_int_equal(c->checks.schema, 0);
	assert_int_equal(c->checks.rules.n, 1);
	assert_string_equal(c->checks.rules.v[0], in_dir("rules/*.xsl"));
	assert_true(c->safety.max_entity_drop > 0.0249999 &&
	    c->safety.max_entity_drop < 0.0250001);

	assert_int_equal(c->nsources, 3);
	/* A relative glob is made absolute against the file's folder. */
	assert_int_equal(c->sources[0].files.n, 2);
	assert_string_equal(c->sources[0].files.v[0], in_dir("members/*.xml"));
	assert_string_equal(c->sources[0].files.v[1], "/srv/extra/*.xml");
	assert_int_equal(c->sources[0].required, 0);
	assert_int_equal(c->sources[0].timeout, 120);	/* fetch's */
	assert_int_equal(c->sources[0].max_size, 200 << 20);
	assert_string_equal(c->sources[1].url,
	    "http://upstream.example.org/feed.xml");
	assert_int_equal(c->sources[1].timeout, 30);
	assert_int_equal(c->sources[1].max_size, 10 << 20);
	assert_int_equal(c->sources[1].required, 1);
	assert_string_equal(c->sources[2].file, in_dir("local.xml"));

	assert_int_equal(c->nfeeds, 2);
	assert_int_equal(c->feeds[0].validity, 7 * 86400);
	assert_int_equal(c->feeds[0].cache_duration, 3600);
	assert_int_equal(c->feeds[0].sources.n, 3);
	sel = &c->feeds[0].select;
	assert_int_equal(sel->roles.n, 2);
	assert_string_equal(sel->roles.v[0], "sp");
	assert_string_equal(sel->roles.v[1], "aa");
	assert_int_equal(sel->categories.n, 1);
	assert_string_equal(sel->categories.v[0],
	    "http://refeds.org/category/research-and-scholarship");
	assert_int_equal(sel->category_support.n, 2);
	assert_string_equal(sel->category_support.v[1], "b");
	assert_int_equal(sel->assurance.n, 1);
	assert_int_equal(sel->ra_include.n, 1);
	assert_string_equal(sel->ra_include.v[0], "https://a.example/");
	assert_int_equal(sel->ra_exclude.n, 1);
	assert_string_equal(sel->ra_exclude.v[0], "https://b.example/");
	assert_int_equal(sel->entity_ids.n, 1);
	assert_int_equal(sel->exclude_ids.n, 1);
	assert_string_equal(sel->xpath, "//md:IDPSSODescriptor");
	assert_int_equal(c->feeds[1].sources.n, 1);
	assert_string_equal(c->feeds[1].sources.v[0], "local");
	sel = &c->feeds[1].select;
	assert_int_equal(sel->ra_include.n, 1);
	assert_string_equal(sel->ra_include.v[0], "https://c.example/");
	assert_int_equal(sel->ra_exclude.n, 0);
	fs_conf_free(c);
}

struct refusal {
	const char *what;
	const char *text;
	unsigned line;		/* the line the message must name */
	const char *want[3];	/* what else it must say */
};

static const struct refusal refusals[] = {
	{ "typo at the top", HEAD "valdity: 10d\n" TAIL, 5,
	  { "unknown key 'valdity' at the top level",
	    "did you mean 'validity'?", "publish-dir, state-dir" } },
	{ "unknown select key", HEAD "validity: 10d\n" TAIL
	  "    select: {rolse: [idp]}\n", 11,
	  { "unknown key 'rolse' in select:", "did you mean 'roles'?",
	    "entity-category" } },
	{ "unknown source key", HEAD "validity: 10d\n"
	  "sources:\n  - name: a\n    files: x\n    requred: true\n"
	  "feeds:\n  - {file: hub.xml, sources: a}\n", 9,
	  { "unknown key 'requred' in a source", "'required'" } },
	{ "repeated key", HEAD "validity: 10d\nvalidity: 5d\n" TAIL, 6,
	  { "key 'validity' is given twice (first on line 5)" } },
	{ "repeated key in a source", HEAD "validity: 10d\n"
	  "sources:\n  - name: a\n    name: b\n    files: x\n"
	  "feeds:\n  - {file: hub.xml, sources: a}\n", 8,
	  { "key 'name' is given twice (first on line 7)" } },
	{ "no signing", "publish-dir: /a\nstate-dir: /b\nvalidity: 1d\n"
	  TAIL, 1, { "no 'signing:'" } },
	{ "missing signing key", "signing:\n  cert: /a.crt\n"
	  "publish-dir: /a\nstate-dir: /b\nvalidity: 1d\n" TAIL, 2,
	  { "signing: has no key", "key-file" } },
	{ "key and key-file", "signing:\n  key: \"pkcs11:object=a\"\n"
	  "  key-file: /a.pem\npublish-dir: /a\nstate-dir: /b\n"
	  "validity: 1d\n" TAIL, 3,
	  { "both key (line 2) and key-file" } },
	{ "key not a URI", "signing:\n  key: /etc/key.pem\n"
	  "publish-dir: /a\nstate-dir: /b\nvalidity: 1d\n" TAIL, 2,
	  { "not a pkcs11: or fedsignd: URI", "key-file" } },
	{ "unknown alg", "signing:\n  key: \"pkcs11:object=a\"\n"
	  "  alg: rsa-md5\npublish-dir: /a\nstate-dir: /b\n"
	  "validity: 1d\n" TAIL, 3, { "unknown alg 'rsa-md5'", "rsa-sha256" } },
	{ "no publish-dir", "signing: {key: \"pkcs11:object=a\"}\n"
	  "state-dir: /b\nvalidity: 1d\n" TAIL, 1, { "no 'publish-dir:'" } },
	{ "no state-dir", "signing: {key: \"pkcs11:object=a\"}\n"
	  "publish-dir: /b\nvalidity: 1d\n" TAIL, 1, { "no 'state-dir:'" } },
	{ "no validity", HEAD TAIL, 1, { "no 'validity:'" } },
	{ "empty value", HEAD "validity:\n" TAIL, 5,
	  { "'validity' has no value" } },
	{ "no sources", HEAD "validity: 10d\nfeeds:\n  - {file: a.xml, "
	  "sources: x}\n", 1, { "no 'sources:'" } },
	{ "sources empty", HEAD "validity: 10d\nsources: []\nfeeds:\n"
	  "  - {file: a.xml, sources: x}\n", 6, { "'sources' is empty" } },
	{ "no feeds", HEAD "validity: 10d\nsources:\n"
	  "  - {name: a, files: x}\n", 1, { "no 'feeds:'" } },
	{ "sources not a list", HEAD "validity: 10d\nsources: {name: a}\n"
	  "feeds:\n  - {file: a.xml, sources: a}\n", 6,
	  { "'sources' must be a list", "not a mapping" } },
	{ "source without a name", HEAD "validity: 10d\nsources:\n"
	  "  - files: x\nfeeds:\n  - {file: a.xml, sources: a}\n", 7,
	  { "a source has no name" } },
	{ "source name", HEAD "validity: 10d\nsources:\n"
	  "  - {name: a b, files: x}\nfeeds:\n  - {file: a.xml, "
	  "sources: a}\n", 7, { "source name 'a b'" } },
	{ "source name twice", HEAD "validity: 10d\nsources:\n"
	  "  - {name: a, files: x}\n  - {name: a, files: y}\n"
	  "feeds:\n  - {file: a.xml, sources: a}\n", 8,
	  { "source name 'a' is used twice (first on line 7)" } },
	{ "files and url", HEAD "validity: 10d\nsources:\n"
	  "  - name: a\n    files: x\n    url: https://u.example/\n"
	  "feeds:\n  - {file: a.xml, sources: a}\n", 9,
	  { "source 'a' has both files (line 8) and url",
	    "exactly one of files, url and file" } },
	{ "neither files nor url", HEAD "validity: 10d\nsources:\n"
	  "  - name: a\n    required: true\n"
	  "feeds:\n  - {file: a.xml, sources: a}\n", 7,
	  { "source 'a' has none of files, url and file" } },
	{ "url not http", HEAD "validity: 10d\nsources:\n"
	  "  - {name: a, url: ftp://u.example/x.xml}\nfeeds:\n"
	  "  - {file: a.xml, sources: a}\n", 7,
	  { "url 'ftp://u.example/x.xml' is not an https:// or http://" } },
	{ "not a boolean", HEAD "validity: 10d\nsources:\n"
	  "  - name: a\n    files: x\n    required: maybe\n"
	  "feeds:\n  - {file: a.xml, sources: a}\n", 9,
	  { "'required' is 'maybe', not a boolean" } },
	{ "unknown source in a feed", HEAD "validity: 10d\n" "sources:\n"
	  "  - {name: members, files: x}\n  - {name: edugain, files: y}\n"
	  "feeds:\n  - file: a.xml\n    sources:\n      - members\n"
	  "      - edugian\n", 13,
	  { "feed 'a.xml' takes source 'edugian', which is not defined",
	    "members, edugain" } },
	{ "source twice in a feed", HEAD "validity: 10d\n" TAIL
	  "  - {file: b.xml, sources: [members, members]}\n", 11,
	  { "takes source 'members' twice" } },
	{ "feed without sources", HEAD "validity: 10d\n" "sources:\n"
	  "  - {name: a, files: x}\nfeeds:\n  - file: a.xml\n", 9,
	  { "feed 'a.xml' has no sources" } },
	{ "feed sources empty", HEAD "validity: 10d\n" "sources:\n"
	  "  - {name: a, files: x}\nfeeds:\n  - file: a.xml\n"
	  "    sources: []\n", 10, { "'sources' is an empty list" } },
	{ "duplicate feed file", HEAD "validity: 10d\n" TAIL
	  "  - {file: hub.xml, sources: members}\n", 11,
	  { "feed file 'hub.xml' is used twice (first on line 9)" } },
	{ "feed file with a slash", HEAD "validity: 10d\n" TAIL
	  "  - file: ../www/x.xml\n    sources: members\n", 11,
	  { "feed file '../www/x.xml' has a '/'", "plain file name" } },
	{ "hidden feed file", HEAD "validity: 10d\n" TAIL
	  "  - {file: .., sources: members}\n", 11,
	  { "feed file '..' starts with '.'" } },
	{ "bad duration", HEAD "validity: 10x\n" TAIL, 5,
	  { "'validity': invalid duration '10x'", "14d" } },
	{ "zero duration", HEAD "validity: 0d\n" TAIL, 5,
	  { "'validity' is 0d", "longer" } },
	{ "months", HEAD "validity: P1M\n" TAIL, 5,
	  { "years and months" } },
	{ "swapped cache-duration", HEAD "validity: 10d\n"
	  "cache-duration: 12d\n" TAIL, 6,
	  { "cache-duration 12d (line 6) is not shorter than validity 10d "
	    "(line 5)", "swapped" } },
	{ "equal cache-duration", HEAD "validity: 10d\n"
	  "cache-duration: 240h\n" TAIL, 6,
	  { "cache-duration 240h (line 6) is not shorter than validity 10d" } },
	{ "feed cache-duration", HEAD "validity: 10d\n" TAIL
	  "  - file: b.xml\n    sources: members\n    validity: 1d\n"
	  "    cache-duration: 2d\n", 14,
	  { "cache-duration 2d (line 14) is not shorter than validity 1d "
	    "(line 13) of feed 'b.xml'" } },
	{ "feed cache-duration, global validity", HEAD "validity: 10d\n" TAIL
	  "  - file: b.xml\n    sources: members\n"
	  "    cache-duration: 11d\n", 13,
	  { "cache-duration 11d (line 13) is not shorter than validity 10d "
	    "(line 5) of feed 'b.xml'" } },
	{ "feed validity under the global cache", HEAD "validity: 10d\n"
	  "cache-duration: 6h\n" TAIL
	  "  - file: b.xml\n    sources: members\n    validity: 1h\n", 14,
	  { "cache-duration 6h (line 6) is not shorter than validity 1h "
	    "(line 14) of feed 'b.xml'" } },
	{ "resign-window", HEAD "validity: 10d\nresign-window: 10d\n" TAIL,
	  6, { "resign-window 10d is not shorter than validity 10d" } },
	{ "feed validity under the resign-window", HEAD "validity: 10d\n"
	  TAIL "  - file: b.xml\n    sources: members\n    validity: 4d\n",
	  13, { "validity 4d is not longer than resign-window P5D "
	  "(the default" } },
	{ "feed validity under a set resign-window", HEAD "validity: 10d\n"
	  "resign-window: 3d\n" TAIL "  - file: b.xml\n"
	  "    sources: members\n    validity: 3d\n", 14,
	  { "validity 3d is not longer than resign-window 3d:" } },
	{ "percentage over 100", HEAD "validity: 10d\n" TAIL
	  "safety:\n  max-entity-drop: 110%\n", 12,
	  { "'max-entity-drop' is 110%, more than 100%" } },
	{ "not a percentage", HEAD "validity: 10d\n" TAIL
	  "safety:\n  max-entity-drop: 0.1\n", 12,
	  { "'max-entity-drop' is '0.1', not a percentage" } },
	{ "bad size", HEAD "validity: 10d\n" TAIL "fetch: {max-size: 1T}\n",
	  11, { "'max-size': invalid size '1T'" } },
	{ "keep-releases 0", HEAD "validity: 10d\nkeep-releases: 0\n" TAIL,
	  6, { "'keep-releases' is 0: it must be from 1 to 1000" } },
	{ "max-depth too deep", HEAD "validity: 10d\n" TAIL
	  "limits:\n  max-depth: 99999999999999999999\n", 12,
	  { "'max-depth' is 99999999999999999999: it must be from 1 to "
	    "5000" } },
	{ "max-attributes not a number", HEAD "validity: 10d\n" TAIL
	  "limits:\n  max-attributes: -1\n", 12,
	  { "'max-attributes' is '-1', not a whole number" } },
	{ "unknown role", HEAD "validity: 10d\n" TAIL
	  "    select:\n      roles: [idp, spp]\n", 12,
	  { "unknown role 'spp'", "authn-authority" } },
	{ "empty registration-authority", HEAD "validity: 10d\n" TAIL
	  "    select: {registration-authority: {}}\n", 11,
	  { "neither include nor exclude" } },
	{ "signing a list", "signing: [a]\n", 1,
	  { "'signing' must be a mapping", "not a list" } },
	{ "YAML alias", HEAD "validity: 10d\n" TAIL
	  "  - {file: b.xml, sources: *src}\n", 11,
	  { "YAML aliases (*src) are not allowed" } },
	{ "YAML anchor", HEAD "validity: &v 10d\n" TAIL, 5,
	  { "YAML anchors (&v) are not allowed" } },
	{ "YAML tag", HEAD "validity: !!str 10d\n" TAIL, 5,
	  { "YAML tags (tag:yaml.org,2002:str) are not allowed" } },
	{ "two documents", HEAD "validity: 10d\n" TAIL "---\nfoo: bar\n", 11,
	  { "a second YAML document" } },
	{ "not a mapping", "- signing\n- sources\n", 1,
	  { "the top of the configuration must be a mapping", "not a list" } },
	{ "a single value", "hello\n", 1,
	  { "must be a mapping", "not a single value" } },
	{ "empty", "# nothing\n", 1, { "the configuration is empty" } },
	{ "syntax error", HEAD "validity: 10d\ncache-duration: 6h: 7h\n",
	  6, { "YAML syntax error", "mapping values are not allowed" } },
	{ "unclosed flow", HEAD "validity: 10d\nsources: [a,\n\n"
	  "feeds: x\n", 9,
	  { "YAML syntax error", "flow sequence (from line 6)" } },
	{ "mapping as a key", HEAD "validity: 10d\n? {a: b}\n: c\n", 6,
	  { "a key must be a plain name" } },
	{ "NUL in a value", HEAD "validity: \"10d\\0\"\n" TAIL, 5,
	  { "NUL" } },
	{ "too deep", "a: [[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]\n", 1,
	  { "nested more than 16 deep" } },
};

static void
test_refusals(void **state)
{
	static struct fs_conf sentinel;
	char prefix[256];
	struct fs_conf *c;
	fs_err err;
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *r = &refusals[i];

		c = &sentinel;
		rc = load(r->text, &c, &err);
		if (rc != FS_EUSAGE)
			fail_msg("%s: returned %d (%s), not FS_EUSAGE", r->what,
			    rc, rc == FS_OK ? "loaded" : err.msg);
		if (c != NULL)
			fail_msg("%s: *out is not NULL", r->what);
		snprintf(prefix, sizeof(prefix), "%s:%u: ", conf_path, r->line);
		if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
			fail_msg("%s: '%s' does not start with '%s'", r->what,
			    err.msg, prefix);
		for (size_t j = 0; j < 3 && r->want[j] != NULL; j++)
			if (strstr(err.msg, r->want[j]) == NULL)
				fail_msg("%s: '%s' does not say '%s'", r->what,
				    err.msg, r->want[j]);
	}
}

static void
test_unreadable(void **state)
{
	char path[PATH_MAX + 64], *big;
	struct fs_conf *c;
	fs_err err;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(fs_conf_load(path, &c, &err), FS_EIO);
	assert_null(c);
	assert_non_null(strstr(err.msg, "missing.yaml"));
	assert_int_equal(fs_conf_load(dir, &c, &err), FS_EIO);
	/* More than 1 MiB is not a configuration file. */
	big = malloc((1 << 20) + 2);
	assert_non_null(big);
	memset(big, '#', (1 << 20) + 1);
	big[(1 << 20) + 1] = '\0';
	assert_int_equal(load(big, &c, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "larger than"));
	free(big);
}

/* The folder is that of the real path, through a symbolic link. */
static void
test_symlink(void **state)
{
	char sub[PATH_MAX + 64], link[PATH_MAX + 64], path[PATH_MAX + 64];
	char want[PATH_MAX + 64];
	struct fs_conf *c;
	fs_err err;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/etc", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/etc/real.yaml", dir);
	put(path, HEAD "validity: 10d\n" "sources:\n"
	    "  - {name: members, files: members/*.xml}\n"
	    "feeds:\n  - {file: hub.xml, sources: members}\n");
	snprintf(link, sizeof(link), "%s/link.yaml", dir);
	assert_int_equal(symlink("etc/real.yaml", link), 0);
	assert_int_equal(fs_conf_load(link, &c, &err), FS_OK);
	snprintf(want, sizeof(want), "%s/etc/members/*.xml", real);
	assert_string_equal(c->sources[0].files.v[0], want);
	assert_string_equal(c->path, link);
	fs_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_everything),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_symlink),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
