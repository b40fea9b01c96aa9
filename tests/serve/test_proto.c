/*
 * The MDQ protocol's text rules (src/lib/serve/proto.c): request paths
 * and the encodings real clients send, content negotiation, gzip,
 * If-None-Match, HTTP dates and max-age.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "serve/serve_int.h"

static struct fs_mdq_req r;

static void
want_id(const char *path, const char *id)
{
	uint8_t sha[20];

	fs_mdq_parse_path(path, &r);
	if (r.kind != FS_MDQ_ID)
		fail_msg("%s: kind %d (%s), not an entityID", path, r.kind,
		    r.why ? r.why : "");
	if (r.idlen != strlen(id) || memcmp(r.id, id, r.idlen) != 0)
		fail_msg("%s: decoded to '%s', not '%s'", path, r.id, id);
	SHA1((const unsigned char *)id, strlen(id), sha);
	assert_memory_equal(r.sha1, sha, 20);
}

static void
want_bad(const char *path, const char *why)
{
	fs_mdq_parse_path(path, &r);
	if (r.kind != FS_MDQ_BAD)
		fail_msg("%s: kind %d, not refused", path, r.kind);
	if (why != NULL && strstr(r.why, why) == NULL)
		fail_msg("%s: '%s' does not say '%s'", path, r.why, why);
}

static void
want_kind(const char *path, enum fs_mdq_kind kind)
{
	fs_mdq_parse_path(path, &r);
	if (r.kind != kind)
		fail_msg("%s: kind %d, not %d", path, r.kind, kind);
}

/* What Shibboleth SP, the Shibboleth IdP (Guava) and others send. */
static void
test_encodings(void **state)
{
	static const char idp[] = "https://idp.example.org/idp/shibboleth";

	(void)state;
	/* SP: ':' and '/' with uppercase hex */
	want_id("/entities/https%3A%2F%2Fidp.example.org%2Fidp%2Fshibboleth",
	    idp);
	/* IdP (Guava's path segment escaper): ':' as it is */
	want_id("/entities/https:%2F%2Fidp.example.org%2Fidp%2Fshibboleth",
	    idp);
	/* lowercase hex */
	want_id("/entities/https%3a%2f%2fidp.example.org%2fidp%2fshibboleth",
	    idp);
	/* '/' not encoded at all */
	want_id("/entities/https://idp.example.org/idp/shibboleth", idp);
	/* a trailing '/', '.xml' */
	want_id("/entities/https%3A%2F%2Fsp.example.org%2F",
	    "https://sp.example.org/");
	want_id("/entities/https://sp.example.org/", "https://sp.example.org/");
	want_id("/entities/https%3A%2F%2Fsp.example.org%2Fmetadata.xml",
	    "https://sp.example.org/metadata.xml");
	/* '#', '?', '&', '+' (a plus, never a space), '=' and ';' */
	want_id("/entities/https%3A%2F%2Fsp.example.org%2F%23frag",
	    "https://sp.example.org/#frag");
	want_id("/entities/https%3A%2F%2Fsp.example.org%2Fsp%3Fid%3D1%26x%3D2",
	    "https://sp.example.org/sp?id=1&x=2");
	want_id("/entities/https:%2F%2Fsp.example.org%2Fsp%3Fid=1&x=2",
	    "https://sp.example.org/sp?id=1&x=2");
	want_id("/entities/urn:mace:a+b", "urn:mace:a+b");
	want_id("/entities/urn%3Amace%3Aa%2Bb", "urn:mace:a+b");
	want_id("/entities/urn:x;y=z@w!$'()*,", "urn:x;y=z@w!$'()*,");
	/* non-ASCII: encoded UTF-8, or raw UTF-8 bytes */
	want_id("/entities/https%3A%2F%2F%C3%BCni.example.org%2Fsp",
	    "https://\xc3\xbcni.example.org/sp");
	want_id("/entities/https://\xc3\xbcni.example.org/sp",
	    "https://\xc3\xbcni.example.org/sp");
	want_id("/entities/urn:%F0%9F%98%80", "urn:\xf0\x9f\x98\x80");
	/* an absolute-form request target */
	want_id("http://mdq.example.org/entities/urn:a", "urn:a");
	/* "{sha1}" of anything else is a name like any other */
	want_id("/entities/%7Bmd5%7Dabc", "{md5}abc");
}

static void
test_sha1(void **state)
{
	static const char hex[] = "1bec942a9ca29787c26924440ad4cb8208f9b9e4";
	uint8_t want[20];

	(void)state;
	for (int i = 0; i < 20; i++)
		sscanf(hex + 2 * i, "%2hhx", &want[i]);
	want_kind("/entities/{sha1}1bec942a9ca29787c26924440ad4cb8208f9b9e4",
	    FS_MDQ_SHA1);
	assert_memory_equal(r.sha1, want, 20);
	want_kind("/entities/%7Bsha1%7D1bec942a9ca29787c26924440ad4cb8208f9b9e4",
	    FS_MDQ_SHA1);
	assert_memory_equal(r.sha1, want, 20);
	want_kind("/entities/%7bsha1%7d1BEC942A9CA29787C26924440AD4CB8208F9B9E4",
	    FS_MDQ_SHA1);
	assert_memory_equal(r.sha1, want, 20);
	want_kind("/entities/{SHA1}1bec942a9ca29787c26924440ad4cb8208f9b9e4",
	    FS_MDQ_SHA1);
	want_bad("/entities/{sha1}1bec942a9ca29787c26924440ad4cb8208f9b9e",
	    "40 hex digits");
	want_bad("/entities/{sha1}1bec942a9ca29787c26924440ad4cb8208f9b9e4a",
	    "40 hex digits");
	want_bad("/entities/{sha1}1bec942a9ca29787c26924440ad4cb8208f9b9eg",
	    "40 hex digits");
	want_bad("/entities/{sha1}", "40 hex digits");
	want_bad("/entities/{sha1}..%2F..%2Fetc%2Fpasswd", "40 hex digits");
}

static void
test_refused(void **state)
{
	char longp[3 * FS_MDQ_MAX_ID + 32];

	(void)state;
	want_bad("/entities/a%zzb", "two hex digits");
	want_bad("/entities/a%2", "two hex digits");
	want_bad("/entities/a%", "two hex digits");
	want_bad("/entities/a%00b", "NUL");
	want_bad("/entities/a%0Ab", "control");
	want_bad("/entities/a%7Fb", "control");
	want_bad("/entities/a b", "white space");
	want_bad("/entities/a\tb", "white space");
	want_bad("/entities/a#b", "'#'");
	/* overlong forms of '/', '.' and NUL; a lone continuation byte;
	 * a surrogate; past U+10FFFF */
	want_bad("/entities/..%C0%AF..%C0%AFetc", "UTF-8");
	want_bad("/entities/%C0%AE", "UTF-8");
	want_bad("/entities/%C0%80", "UTF-8");
	want_bad("/entities/%E0%80%AF", "UTF-8");
	want_bad("/entities/%F0%80%80%AF", "UTF-8");
	want_bad("/entities/%80", "UTF-8");
	want_bad("/entities/%ED%A0%80", "UTF-8");
	want_bad("/entities/%F4%90%80%80", "UTF-8");
	want_bad("/entities/%C3", "UTF-8");
	want_bad("/entities/\xff", "UTF-8");
	memset(longp, 'a', sizeof(longp) - 1);
	memcpy(longp, "/entities/", 10);
	longp[sizeof(longp) - 1] = '\0';
	want_bad(longp, "too long");
	/* path traversal is only a name: looked up, never opened */
	want_id("/entities/..%2F..%2Fetc%2Fpasswd", "../../etc/passwd");
}

static void
test_paths(void **state)
{
	(void)state;
	want_kind("/entities", FS_MDQ_ALL);
	want_kind("/entities/", FS_MDQ_ALL);
	want_kind("/status", FS_MDQ_STATUS);
	want_kind("/metrics", FS_MDQ_METRICS);
	want_kind("/", FS_MDQ_OTHER);
	want_kind("/entitiesx", FS_MDQ_OTHER);
	want_kind("/Entities/urn:a", FS_MDQ_OTHER);
	want_kind("/status/", FS_MDQ_OTHER);
	want_kind("/entities.xml", FS_MDQ_OTHER);
	want_kind("http://h", FS_MDQ_OTHER);
	want_kind("https://h/entities", FS_MDQ_ALL);
}

static void
test_negotiate(void **state)
{
	(void)state;
	assert_int_equal(fs_mdq_negotiate(NULL, 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("*/*", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("application/samlmetadata+xml", 1),
	    FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("application/xml", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("text/xml", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("Application/SAMLmetadata+XML; "
	    "charset=utf-8", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("application/json", 1), FS_REP_JSON);
	assert_int_equal(fs_mdq_negotiate("application/json", 0), FS_REP_NONE);
	assert_int_equal(fs_mdq_negotiate("text/html", 1), FS_REP_NONE);
	assert_int_equal(fs_mdq_negotiate("image/png, text/html;q=0.9", 1),
	    FS_REP_NONE);
	/* q-values */
	assert_int_equal(fs_mdq_negotiate("application/json;q=0.5, "
	    "application/samlmetadata+xml", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("application/json, "
	    "application/samlmetadata+xml;q=0.5", 1), FS_REP_JSON);
	assert_int_equal(fs_mdq_negotiate("application/json;q=1.0, "
	    "*/*;q=0.1", 1), FS_REP_JSON);
	assert_int_equal(fs_mdq_negotiate("application/json;q=0.9, "
	    "application/xml;q=0.9", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("application/samlmetadata+xml;q=0,"
	    " */*", 1), FS_REP_JSON);
	assert_int_equal(fs_mdq_negotiate("application/samlmetadata+xml;q=0,"
	    " */*", 0), FS_REP_NONE);
	assert_int_equal(fs_mdq_negotiate("*/*;q=0", 1), FS_REP_NONE);
	assert_int_equal(fs_mdq_negotiate("text/*", 1), FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("application/*;q=0.2, "
	    "application/json;q=0.3", 1), FS_REP_JSON);
	assert_int_equal(fs_mdq_negotiate("application/json ; q = 0.4 , "
	    "text/xml ; q=0.3", 1), FS_REP_JSON);
	/* an element that cannot be read is skipped */
	assert_int_equal(fs_mdq_negotiate("application/json;q=2, text/xml", 1),
	    FS_REP_XML);
	assert_int_equal(fs_mdq_negotiate("garbage", 1), FS_REP_XML);
}

static void
test_gzip(void **state)
{
	(void)state;
	assert_false(fs_mdq_accepts_gzip(NULL));
	assert_false(fs_mdq_accepts_gzip(""));
	assert_true(fs_mdq_accepts_gzip("gzip"));
	assert_true(fs_mdq_accepts_gzip("deflate, gzip;q=0.5"));
	assert_true(fs_mdq_accepts_gzip("x-gzip"));
	assert_true(fs_mdq_accepts_gzip("*"));
	assert_true(fs_mdq_accepts_gzip("GZIP, br"));
	assert_false(fs_mdq_accepts_gzip("gzip;q=0"));
	assert_false(fs_mdq_accepts_gzip("*, gzip;q=0"));
	assert_false(fs_mdq_accepts_gzip("identity, br"));
	assert_false(fs_mdq_accepts_gzip("gzipx"));
}

static void
test_etag(void **state)
{
	static const char e[] = "\"abc\"";

	(void)state;
	assert_true(fs_mdq_etag_match("\"abc\"", e));
	assert_true(fs_mdq_etag_match("W/\"abc\"", e));
	assert_true(fs_mdq_etag_match("\"x\", \"abc\"", e));
	assert_true(fs_mdq_etag_match("\"x\",W/\"abc\" ,\"y\"", e));
	assert_true(fs_mdq_etag_match("*", e));
	assert_false(fs_mdq_etag_match("\"abcd\"", e));
	assert_false(fs_mdq_etag_match("\"ab\"", e));
	assert_false(fs_mdq_etag_match("abc", e));
	assert_false(fs_mdq_etag_match("\"abc", e));
	assert_false(fs_mdq_etag_match("", e));
	assert_false(fs_mdq_etag_match("\"abc-gzip\"", e));
}

static void
test_dates(void **state)
{
	char buf[40];
	time_t t;

	(void)state;
	assert_int_equal(fs_mdq_parse_http_date("Sun, 06 Nov 1994 08:49:37 "
	    "GMT", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(fs_mdq_parse_http_date("Sunday, 06-Nov-94 08:49:37 "
	    "GMT", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(fs_mdq_parse_http_date("Sun Nov  6 08:49:37 1994",
	    &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(fs_mdq_parse_http_date("Sun, 06 Nov 1994 08:49:37",
	    &t), -1);
	assert_int_equal(fs_mdq_parse_http_date("Sun, 06 Foo 1994 08:49:37 "
	    "GMT", &t), -1);
	assert_int_equal(fs_mdq_parse_http_date("Sun, 06 Nov 1994 25:49:37 "
	    "GMT", &t), -1);
	assert_int_equal(fs_mdq_parse_http_date("yesterday", &t), -1);
	assert_int_equal(fs_mdq_parse_http_date("Sun, 06 Nov 1994 08:49:37 "
	    "GMT trailing", &t), -1);
	fs_mdq_format_http_date(784111777, buf, sizeof(buf));
	assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
}

static void
test_max_age(void **state)
{
	(void)state;
	/* cacheDuration, but never past validUntil, never below 0 */
	assert_int_equal(fs_mdq_max_age(21600, 3600, 1000000, 0), 21600);
	assert_int_equal(fs_mdq_max_age(21600, 3600, 1000, 0), 1000);
	assert_int_equal(fs_mdq_max_age(21600, 3600, 1000, 2000), 0);
	assert_int_equal(fs_mdq_max_age(-1, 3600, 1000000, 0), 3600);
	assert_int_equal(fs_mdq_max_age(-1, 3600, 60, 0), 60);
	assert_int_equal(fs_mdq_max_age(0, 3600, 1000000, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_sha1),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_etag),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_max_age),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
