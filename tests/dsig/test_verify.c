/*
 * fs_dsig_verify at the library level: what the command line cannot reach
 * (opts->now, a verified pointer, a document already holding IDs, a key
 * object with its private half).  The signature is made here with xmlsec1
 * itself, not with our signer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/crypto.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/openssl/evp.h>

#include "fedsign/dsig.h"
#include "fedsign/md.h"
#include "fedsign/util.h"

static const char tmpl[] =
"<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\""
" ID=\"_agg\" validUntil=\"2030-01-15T00:00:00Z\">"
"<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>"
"<ds:CanonicalizationMethod"
" Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
"<ds:SignatureMethod"
" Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>"
"<ds:Reference URI=\"#_agg\"><ds:Transforms>"
"<ds:Transform"
" Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>"
"<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>"
"</ds:Transforms><ds:DigestMethod"
" Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/>"
"</ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>"
"<md:EntityDescriptor entityID=\"https://sp.example.org/sp\" ID=\"_sp\">"
"<md:SPSSODescriptor"
" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"
"</md:EntityDescriptor></md:EntitiesDescriptor>";

struct fixture {
	EVP_PKEY *key;		/* private and public */
	EVP_PKEY *pub;		/* public only */
	xmlDocPtr doc;		/* signed */
	time_t now;		/* two weeks before validUntil */
};

/* Sign doc in place with key, as xmlsec1 --sign would. */
static void
sign_doc(xmlDocPtr doc, EVP_PKEY *key)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	xmlSecDSigCtxPtr ctx;
	xmlSecKeyDataPtr data;
	xmlSecKeyPtr k;

	assert_non_null(xmlAddID(NULL, doc, BAD_CAST "_agg",
	    xmlHasNsProp(root, BAD_CAST "ID", NULL)));
	assert_non_null(ctx = xmlSecDSigCtxCreate(NULL));
	assert_non_null(data = xmlSecOpenSSLEvpKeyAdopt(
	    xmlSecOpenSSLEvpKeyDup(key)));
	assert_non_null(k = xmlSecKeyCreate());
	assert_int_equal(xmlSecKeySetValue(k, data), 0);
	ctx->signKey = k;
	assert_int_equal(xmlSecDSigCtxSign(ctx, fs_md_first_element(root)), 0);
	xmlSecDSigCtxDestroy(ctx);
}

static int
setup(void **state)
{
	struct fixture *f;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;
	fs_err err;

	/* xmlsec1 signs: an independent implementation for the verifier. */
	if (fs_md_init(&err) != FS_OK || xmlSecInit() < 0 ||
	    xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0 ||
	    (f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (f->key == NULL || (len = i2d_PUBKEY(f->key, &der)) <= 0)
		return -1;
	p = der;
	f->pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	if (f->pub == NULL ||
	    fs_md_parse_mem(tmpl, strlen(tmpl), "tmpl", NULL, &f->doc,
	    &err) != FS_OK ||
	    fs_time_parse("2030-01-01T00:00:00Z", &f->now) != 0)
		return -1;
	sign_doc(f->doc, f->key);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	xmlFreeDoc(f->doc);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->pub);
	free(f);
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	return 0;
}

static struct fs_verify_opts
opts_for(const struct fixture *f, EVP_PKEY *key)
{
	struct fs_verify_opts o = { 0 };

	o.key = key;
	o.now = f->now;
	return o;
}

static void
test_valid(void **state)
{
	struct fixture *f = *state;
	struct fs_verify_opts o = opts_for(f, f->pub);
	xmlNodePtr v = NULL;
	fs_err err;

	assert_int_equal(fs_dsig_verify(f->doc, &o, &v, &err), FS_OK);
	assert_ptr_equal(v, xmlDocGetRootElement(f->doc));
	/* Again: the ID is registered already, for the same attribute. */
	v = NULL;
	assert_int_equal(fs_dsig_verify(f->doc, &o, &v, &err), FS_OK);
	assert_ptr_equal(v, xmlDocGetRootElement(f->doc));
	/* verified may be NULL. */
	assert_int_equal(fs_dsig_verify(f->doc, &o, NULL, &err), FS_OK);
}

static void
test_private_key(void **state)
{
	struct fixture *f = *state;
	struct fs_verify_opts o = opts_for(f, f->key);
	fs_err err;

	assert_int_equal(fs_dsig_verify(f->doc, &o, NULL, &err), FS_OK);
	/* The caller's key is still the caller's (not adopted by xmlsec). */
	assert_int_equal(EVP_PKEY_get_bits(f->key), 2048);
}

static void
test_now(void **state)
{
	struct fixture *f = *state;
	struct fs_verify_opts o = opts_for(f, f->pub);
	xmlNodePtr v = (xmlNodePtr)f->doc;
	fs_err err;

	assert_int_equal(fs_time_parse("2030-02-01T00:00:00Z", &o.now), 0);
	assert_int_equal(fs_dsig_verify(f->doc, &o, &v, &err), FS_ENOTVALID);
	assert_null(v);
	assert_non_null(strstr(err.msg, "expired"));
	o.allow_expired = 1;
	assert_int_equal(fs_dsig_verify(f->doc, &o, &v, &err), FS_OK);

	o = opts_for(f, f->pub);
	o.max_validity = 7 * 86400;
	assert_int_equal(fs_dsig_verify(f->doc, &o, NULL, &err), FS_ENOTVALID);
	assert_non_null(strstr(err.msg, "maximum validity"));
	o.max_validity = 15 * 86400;
	assert_int_equal(fs_dsig_verify(f->doc, &o, NULL, &err), FS_OK);
}

static void
test_no_key(void **state)
{
	struct fixture *f = *state;
	struct fs_verify_opts o = opts_for(f, NULL);
	fs_err err;

	assert_int_equal(fs_dsig_verify(f->doc, &o, NULL, &err), FS_EUSAGE);
}

static void
test_wrong_key(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct fs_verify_opts o = opts_for(f, other);
	fs_err err;

	assert_non_null(other);
	assert_int_equal(fs_dsig_verify(f->doc, &o, NULL, &err), FS_ENOTVALID);
	assert_non_null(strstr(err.msg, "does not verify with the pinned key"));
	EVP_PKEY_free(other);
}

/* A document whose ID table already names another element for the ID. */
static void
test_id_registered_elsewhere(void **state)
{
	struct fixture *f = *state;
	struct fs_verify_opts o = opts_for(f, f->pub);
	xmlDocPtr d = xmlCopyDoc(f->doc, 1);
	xmlNodePtr root = xmlDocGetRootElement(d), sp;
	xmlAttrPtr a;
	fs_err err;

	sp = fs_md_first_element(root);		/* the Signature */
	while (!fs_md_is(sp, FS_NS_MD, "EntityDescriptor"))
		sp = xmlNextElementSibling(sp);
	/* Not a SAML ID attribute, but libxml2 resolves id() through it. */
	assert_non_null(a = xmlSetProp(sp, BAD_CAST "Ref", BAD_CAST "_agg"));
	xmlRemoveID(d, xmlHasNsProp(root, BAD_CAST "ID", NULL));
	assert_non_null(xmlAddID(NULL, d, BAD_CAST "_agg", a));
	assert_int_equal(fs_dsig_verify(d, &o, NULL, &err), FS_ENOTVALID);
	assert_non_null(strstr(err.msg, "duplicated ID"));
	xmlFreeDoc(d);
}

static void
test_changed_in_memory(void **state)
{
	struct fixture *f = *state;
	struct fs_verify_opts o = opts_for(f, f->pub);
	xmlDocPtr d = xmlCopyDoc(f->doc, 1);
	xmlNodePtr root = xmlDocGetRootElement(d);
	fs_err err;

	assert_non_null(xmlSetProp(root, BAD_CAST "Name", BAD_CAST "x"));
	assert_int_equal(fs_dsig_verify(d, &o, NULL, &err), FS_ENOTVALID);
	assert_non_null(strstr(err.msg, "digest mismatch"));
	xmlFreeDoc(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_private_key),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_no_key),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_id_registered_elsewhere),
		cmocka_unit_test(test_changed_in_memory),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
