/*
 * The metadata layer: parsing that fails closed (limits, namespace errors,
 * DOCTYPE, empty input), the root, and the publisher's edits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "fedsign/md.h"
#include "fedsign/util.h"

#define MD "xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\""

static int
parse(const char *s, const struct fs_md_limits *lim, xmlDocPtr *doc,
    fs_err *err)
{
	return fs_md_parse_mem(s, strlen(s), "t.xml", lim, doc, err);
}

static void
refused(const char *s, const struct fs_md_limits *lim, enum fs_rule rule,
    const char *text)
{
	xmlDocPtr doc = (xmlDocPtr)1;
	fs_err err;

	assert_int_equal(parse(s, lim, &doc, &err), FS_ENOTVALID);
	assert_null(doc);
	assert_int_equal(err.rule, rule);
	if (strstr(err.msg, text) == NULL)
		fail_msg("'%s' lacks '%s'", err.msg, text);
}

static void
test_well_formed(void **state)
{
	xmlDocPtr doc;
	fs_err err;

	(void)state;
	assert_int_equal(parse("<md:EntityDescriptor " MD " entityID=\"x\"/>",
	    NULL, &doc, &err), FS_OK);
	assert_non_null(fs_md_root(doc, "t", &err));
	xmlFreeDoc(doc);
	assert_int_equal(parse("<x/>", NULL, &doc, &err), FS_OK);
	assert_null(fs_md_root(doc, "t", &err));
	assert_int_equal(err.rule, FS_RULE_NOT_METADATA);
	xmlFreeDoc(doc);
}

static void
test_refusals(void **state)
{
	(void)state;
	refused("", NULL, FS_RULE_EMPTY, "empty document");
	refused(" \n\t ", NULL, FS_RULE_EMPTY, "empty document");
	refused("hello", NULL, FS_RULE_MALFORMED, "does not start with");
	refused("<a><b></a>", NULL, FS_RULE_MALFORMED, "t.xml:1:");
	refused("<a>", NULL, FS_RULE_MALFORMED, "not well-formed");
	refused("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", NULL,
	    FS_RULE_DOCTYPE, "DOCTYPE");
	refused("<a>&e;</a>", NULL, FS_RULE_MALFORMED, "not well-formed");
	/* Namespace errors are errors. */
	refused("<p:a/>", NULL, FS_RULE_MALFORMED, "not well-formed");
	refused("<a xmlns:p=\"\"/>", NULL, FS_RULE_MALFORMED, "not well-formed");
	refused("<a xmlns:xml=\"urn:x\"/>", NULL, FS_RULE_MALFORMED,
	    "not well-formed");
	refused("<a xmlns:p=\"urn:x\" xmlns:q=\"urn:x\" p:k=\"1\" q:k=\"2\"/>",
	    NULL, FS_RULE_MALFORMED, "not well-formed");
	refused("<a/><b/>", NULL, FS_RULE_MALFORMED, "not well-formed");
}

static void
test_limits(void **state)
{
	struct fs_md_limits lim = { 0 };
	char *s;
	size_t n = 0;

	(void)state;
	lim.max_depth = 3;
	refused("<a><b><c><d/></c></b></a>", &lim, FS_RULE_LIMIT,
	    "nested more than 3 deep");
	lim.max_depth = 0;
	lim.max_attrs = 2;
	refused("<a x=\"1\" y=\"2\" z=\"3\"/>", &lim, FS_RULE_LIMIT,
	    "more than 2 attributes");
	/* Namespace declarations count; '=' in values, comments, CDATA and
	 * PIs do not. */
	refused("<a xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" p:x=\"1\"/>", &lim,
	    FS_RULE_LIMIT, "more than 2 attributes");
	{
		xmlDocPtr doc;
		fs_err err;
		static const char ok[] = "<?pi a=b c=d e=f?><!-- a=b c=d e=f -->"
		    "<a x=\"a=b=c=d\" y='='><![CDATA[a=b c=d e=f]]></a>";

		assert_int_equal(parse(ok, &lim, &doc, &err), FS_OK);
		xmlFreeDoc(doc);
	}
	lim.max_attrs = 0;
	lim.max_size = 10;
	refused("<a>0123456789</a>", &lim, FS_RULE_LIMIT, "the size limit");
	/* A tag split over the parser's 1 MiB chunks is counted whole. */
	lim.max_size = 0;
	lim.max_attrs = 100;
	s = malloc(3 << 20);
	assert_non_null(s);
	n += (size_t)sprintf(s, "<a>");
	memset(s + n, ' ', (1 << 20) - 50);
	n += (1 << 20) - 50;
	n += (size_t)sprintf(s + n, "<b");
	for (int i = 0; i < 101; i++)
		n += (size_t)sprintf(s + n, " a%d=\"v\"", i);
	sprintf(s + n, "/></a>");
	refused(s, &lim, FS_RULE_LIMIT, "more than 100 attributes");
	free(s);
}

static void
test_dates(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(fs_time_parse("2027-02-29T00:00:00Z", &t), -1);
	assert_int_equal(fs_time_parse("2028-02-29T00:00:00Z", &t), 0);
	assert_int_equal(fs_time_parse("2100-02-29T00:00:00Z", &t), -1);
	assert_int_equal(fs_time_parse("2000-02-29T00:00:00Z", &t), 0);
	assert_int_equal(fs_time_parse("2026-04-31T00:00:00Z", &t), -1);
	assert_int_equal(fs_time_parse("2026-12-31T23:59:60Z", &t), -1);
	assert_int_equal(fs_time_parse("2026-12-31T24:00:00Z", &t), 0);
}

static xmlChar *
xpath(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr c = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o;
	xmlChar *s;

	xmlXPathRegisterNs(c, BAD_CAST "md", BAD_CAST FS_NS_MD);
	xmlXPathRegisterNs(c, BAD_CAST "mdrpi", BAD_CAST FS_NS_MDRPI);
	o = xmlXPathEvalExpression(BAD_CAST expr, c);
	s = xmlXPathCastToString(o);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(c);
	return s;
}

static void
test_finalise(void **state)
{
	struct fs_md_final f = { 0 };
	xmlDocPtr doc;
	xmlChar *v;
	fs_err err;

	(void)state;
	assert_int_equal(parse("<md:EntitiesDescriptor " MD "><md:EntityDescriptor"
	    " entityID=\"x\"/></md:EntitiesDescriptor>", NULL, &doc, &err),
	    FS_OK);
	f.now = 1800000000;
	/* No validity given and none in the input: refused. */
	assert_int_equal(fs_md_finalise(xmlDocGetRootElement(doc), &f, &err),
	    FS_ENOTVALID);
	assert_int_equal(err.rule, FS_RULE_VALIDITY);
	f.valid_for = 86400;
	f.cache_duration = 6 * 3600;
	f.name = "urn:example:fed";
	f.publisher = "https://md.example.org/";
	assert_int_equal(fs_md_finalise(xmlDocGetRootElement(doc), &f, &err),
	    FS_OK);
	/* Twice: PublicationInfo is updated, not duplicated. */
	f.publisher = "https://other.example.org/";
	assert_int_equal(fs_md_finalise(xmlDocGetRootElement(doc), &f, &err),
	    FS_OK);
	v = xpath(doc, "string(/*/@validUntil)");
	assert_string_equal(v, "2027-01-16T08:00:00Z");
	xmlFree(v);
	v = xpath(doc, "string(/*/@cacheDuration)");
	assert_string_equal(v, "PT6H");
	xmlFree(v);
	v = xpath(doc, "count(//mdrpi:PublicationInfo)");
	assert_string_equal(v, "1");
	xmlFree(v);
	v = xpath(doc, "string(/*/md:Extensions/mdrpi:PublicationInfo/@publisher)");
	assert_string_equal(v, "https://other.example.org/");
	xmlFree(v);
	v = xpath(doc, "local-name(/*/*[1])");
	assert_string_equal(v, "Extensions");
	xmlFree(v);
	xmlFreeDoc(doc);

	/* A Name belongs to an aggregate only. */
	assert_int_equal(parse("<md:EntityDescriptor " MD " entityID=\"x\"/>",
	    NULL, &doc, &err), FS_OK);
	f.name = "n";
	assert_int_equal(fs_md_finalise(xmlDocGetRootElement(doc), &f, &err),
	    FS_EUSAGE);
	xmlFreeDoc(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_well_formed),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_finalise),
	};
	fs_err err;

	if (fs_md_init(&err) != FS_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
