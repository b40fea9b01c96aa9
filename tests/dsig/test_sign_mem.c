/*
 * fs_dsig_prepare and fs_dsig_finish, the MDQ signing path, against
 * fs_dsig_sign: RSA
 * PKCS#1 v1.5 signatures are deterministic, so the bytes of both must be
 * the same, for every shape of document (prefixes, a default namespace,
 * an old Signature, '>' in an attribute, an ID beyond ASCII, no
 * children, a comment and a PI beside the root, no KeyInfo, other
 * algorithms).  Every output is parsed again and passes the strict
 * verifier in full.  A signature that does not fit the template's key
 * is refused.  A digest made from the content's canonical bytes (the MDQ
 * checks') gives the same bytes as canonicalising the finalised document,
 * for attributes on either side of those finalising sets and for the
 * entities of real federation metadata; and those bytes are really used
 * (a changed byte gives a signature that does not verify, and the check
 * of a prepared document finds it before signing).
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

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fedsign/dsig.h"
#include "fedsign/file.h"
#include "fedsign/md.h"
#include "fedsign/util.h"

#define MD "xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\""
#define DS "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\""
#define SP "<md:SPSSODescriptor protocolSupportEnumeration=" \
	"\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"
#define VU "validUntil=\"2030-01-15T00:00:00Z\""

static const char *docs[] = {
	/* The usual shape: ds declared on the root, white space. */
	"<md:EntityDescriptor " MD " " DS " entityID=\"https://sp.example.org\""
	" ID=\"_e1\" " VU ">\n  " SP "\n</md:EntityDescriptor>",
	/* A default namespace, and a Signature that goes. */
	"<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\""
	" entityID=\"https://b.example.org\" ID=\"b.2-x\" " VU ">"
	"<ds:Signature " DS "><ds:SignedInfo/></ds:Signature>"
	"<SPSSODescriptor protocolSupportEnumeration="
	"\"urn:oasis:names:tc:SAML:2.0:protocol\"/></EntityDescriptor>",
	/* '>' and '&' in the root's attributes. */
	"<md:EntityDescriptor " MD " entityID=\"https://c.example.org/?a>b&amp;c\""
	" ID=\"_c\" " VU ">" SP "</md:EntityDescriptor>",
	/* An ID beyond ASCII (an xs:ID all the same): the general way. */
	"<md:EntityDescriptor " MD " entityID=\"https://d.example.org\""
	" ID=\"_d\xc3\xa9t\xc3\xa9\" " VU ">" SP "</md:EntityDescriptor>",
	/* No children: the general way. */
	"<md:EntityDescriptor " MD " entityID=\"https://e.example.org\""
	" ID=\"_e\" " VU "/>",
	/* A comment and a PI beside the root: the general way. */
	"<!-- before --><md:EntityDescriptor " MD " entityID=\"https://g.example.org\""
	" ID=\"_g\" " VU ">" SP "</md:EntityDescriptor><?after x?>",
	/* Non-ASCII text and a namespace from the child. */
	"<md:EntityDescriptor " MD " entityID=\"https://f.example.org\""
	" ID=\"_f\" " VU "><md:Extensions><mdui:UIInfo"
	" xmlns:mdui=\"urn:oasis:names:tc:SAML:metadata:ui\">"
	"<mdui:DisplayName xml:lang=\"af\">Universiteit \xc3\xa9 &lt;x&gt;"
	"</mdui:DisplayName></mdui:UIInfo></md:Extensions>" SP
	"</md:EntityDescriptor>",
};

struct fixture {
	fs_signer *rsa, *ec, *other;
	time_t now;
};

static fs_signer *
signer_with(const char *alg, const char *param)
{
	char path[64];
	EVP_PKEY *k;
	fs_signer *s;
	X509 *cert;
	FILE *f;
	fs_err err;
	int fd;

	snprintf(path, sizeof(path), "/tmp/fs-sign-mem-XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	if (param != NULL)
		k = EVP_PKEY_Q_keygen(NULL, NULL, alg, param);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, alg, (size_t)2048);
	assert_non_null(k);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL),
	    1);
	fclose(f);
	EVP_PKEY_free(k);
	assert_int_equal(fs_signer_open_pem(path, &s, &err), FS_OK);
	unlink(path);
	assert_int_equal(fs_x509_selfsign(s, "CN=sign-mem test", 30, &cert,
	    &err), FS_OK);
	assert_int_equal(fs_signer_set_cert(s, cert, &err), FS_OK);
	X509_free(cert);
	return s;
}

static int
setup(void **state)
{
	struct fixture *f;
	fs_err err;

	if (fs_md_init(&err) != FS_OK || (f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->rsa = signer_with("RSA", NULL);
	f->other = signer_with("RSA", NULL);
	f->ec = signer_with("EC", "P-256");
	if (fs_time_parse("2030-01-01T00:00:00Z", &f->now) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fs_signer_free(f->rsa);
	fs_signer_free(f->other);
	fs_signer_free(f->ec);
	free(f);
	return 0;
}

static xmlDocPtr
parse(const char *s, size_t len)
{
	xmlDocPtr d;
	fs_err err;

	assert_int_equal(fs_md_parse_mem(s, len, "doc", NULL, &d, &err), FS_OK);
	return d;
}

/* The steps as the MDQ signing does them (the check on every document):
 * fs_dsig_prepare takes doc. */
static int
sign_bytes(const struct fs_dsig_tmpl *t, xmlDocPtr doc, const char *content,
    size_t contentlen, fs_signer *s, char **buf, size_t *len, fs_err *err)
{
	struct fs_dsig_prep *p;
	int rc;

	*buf = NULL;
	*len = 0;
	if ((rc = fs_dsig_prepare(t, doc, content, contentlen, &p, err)) !=
	    FS_OK)
		return rc;
	if ((rc = fs_dsig_prep_check(t, p, "doc", err)) == FS_OK)
		rc = fs_dsig_finish(t, p, s, buf, len, NULL, NULL, err);
	fs_dsig_prep_free(p);
	return rc;
}

/* Bytes made by sign_bytes pass the verifier in full. */
static void
verifies(const struct fixture *f, fs_signer *s, const char *buf, size_t len)
{
	struct fs_verify_opts vo = { 0 };
	xmlDocPtr d = parse(buf, len);
	fs_err err;
	int rc;

	vo.key = fs_signer_pubkey(s);
	vo.now = f->now;
	rc = fs_dsig_verify(d, &vo, NULL, &err);
	if (rc != FS_OK)
		fail_msg("%s", err.msg);
	xmlFreeDoc(d);
}

/* sign_bytes gives what fs_dsig_sign and fs_md_save_mem give, the general
 * way (documents 3 to 5) and the fast way, and the check passes. */
static void
same_as_dom(const struct fixture *f, const struct fs_sign_opts *o)
{
	struct fs_dsig_tmpl *t;
	fs_err err;

	assert_int_equal(fs_dsig_tmpl_new(f->rsa, o, &t, &err), FS_OK);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		xmlDocPtr a = parse(docs[i], strlen(docs[i]));
		xmlDocPtr b = parse(docs[i], strlen(docs[i]));
		char *da, *db;
		size_t la, lb;

		assert_int_equal(fs_dsig_sign(a, f->rsa, o, &err), FS_OK);
		assert_int_equal(fs_md_save_mem(a, &da, &la, &err), FS_OK);
		if (sign_bytes(t, b, NULL, 0, f->rsa, &db, &lb, &err) != FS_OK)
			fail_msg("document %zu: %s", i, err.msg);
		if (la != lb || memcmp(da, db, la) != 0)
			fail_msg("document %zu: not the same bytes\n%s\n%s", i,
			    da, db);
		verifies(f, f->rsa, db, lb);
		free(da);
		free(db);
		xmlFreeDoc(a);
	}
	fs_dsig_tmpl_free(t);
}

static void
test_same_bytes(void **state)
{
	struct fs_sign_opts o = { 0 };

	same_as_dom(*state, &o);
}

static void
test_same_bytes_no_keyinfo(void **state)
{
	struct fs_sign_opts o = { 0 };

	o.no_keyinfo = 1;
	same_as_dom(*state, &o);
}

static void
test_same_bytes_sha512(void **state)
{
	struct fs_sign_opts o = { 0 };

	o.digest = fs_alg_by_name(FS_ALG_DIGEST, "sha512");
	o.signature = fs_alg_by_name(FS_ALG_SIGNATURE, "rsa-sha512");
	same_as_dom(*state, &o);
}

/* ECDSA signatures differ each time: they verify. */
static void
test_ec(void **state)
{
	struct fixture *f = *state;
	struct fs_sign_opts o = { 0 };
	struct fs_dsig_tmpl *t;
	fs_err err;

	assert_int_equal(fs_dsig_tmpl_new(f->ec, &o, &t, &err), FS_OK);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		xmlDocPtr d = parse(docs[i], strlen(docs[i]));
		char *buf;
		size_t len;

		if (sign_bytes(t, d, NULL, 0, f->ec, &buf, &len, &err) != FS_OK)
			fail_msg("document %zu: %s", i, err.msg);
		assert_non_null(strstr(buf, "ecdsa-sha256"));
		verifies(f, f->ec, buf, len);
		free(buf);
	}
	fs_dsig_tmpl_free(t);
}

/* A signature that is not the template key's is never made into bytes. */
static void
test_wrong_signature(void **state)
{
	struct fixture *f = *state;
	struct fs_sign_opts o = { 0 };
	struct fs_dsig_tmpl *t;
	xmlDocPtr d = parse(docs[0], strlen(docs[0]));
	char *buf = (char *)1;
	size_t len = 1;
	fs_err err;

	assert_int_equal(fs_dsig_tmpl_new(f->rsa, &o, &t, &err), FS_OK);
	assert_int_equal(sign_bytes(t, d, NULL, 0, f->other, &buf, &len, &err),
	    FS_ETOKEN);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err.msg, "does not verify"));
	/* The general way (an ID that needs escaping) checks it too. */
	d = parse(docs[3], strlen(docs[3]));
	assert_int_equal(sign_bytes(t, d, NULL, 0, f->other, &buf, &len, &err),
	    FS_ENOTVALID);
	assert_null(buf);
	fs_dsig_tmpl_free(t);
}

/* Root attributes on either side of ID, cacheDuration and validUntil in
 * c14n order, an old cacheDuration, qualified ones, escaped values. */
static const char *attr_docs[] = {
	"<md:EntityDescriptor " MD " xmlns:foo=\"urn:foo\" foo:z=\"1\" Zed=\"z\""
	" I=\"i\" IDa=\"a\" A=\"1\" cacheDuration=\"PT1H\" entityID="
	"\"https://h.example.org\" validUntilX=\"x\" xml:lang=\"en\" b="
	"\"&quot;&gt;&lt;&#9;&#10;&#13;&amp;\" " VU ">\n" SP "\n"
	"</md:EntityDescriptor>",
	"<md:EntityDescriptor " MD " entityID=\"https://i.example.org\">" SP
	"</md:EntityDescriptor>",
	"<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\""
	" zzz=\"1\" entityID=\"https://j.example.org\" ID=\"_j\">"
	"<SPSSODescriptor protocolSupportEnumeration="
	"\"urn:oasis:names:tc:SAML:2.0:protocol\"/></EntityDescriptor>",
	"<md:EntityDescriptor " MD " xmlns:a=\"urn:a\" a:x=\"1\" AAA=\"&lt;\""
	" entityID=\"https://k.example.org\" cacheDuration=\"P1D\">" SP
	"</md:EntityDescriptor>",
};

static xmlDocPtr
copy_of(xmlNodePtr entity)
{
	xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr c;

	assert_non_null(d);
	assert_non_null(c = xmlDocCopyNode(entity, d, 1));
	xmlDocSetRootElement(d, c);
	return d;
}

/* What the MDQ signing does to a copy before signing it. */
static void
finalise(const struct fixture *f, xmlDocPtr d, int cache)
{
	xmlNodePtr root = xmlDocGetRootElement(d);
	struct fs_md_final fin = { 0 };
	xmlChar *id;
	fs_err err;

	if ((id = xmlGetNoNsProp(root, BAD_CAST "ID")) == NULL)
		assert_int_equal(fs_md_set_attr(root, "ID", "_from_key", &err),
		    FS_OK);
	xmlFree(id);
	fin.now = f->now;
	fin.valid_until = f->now + 14 * 86400;
	fin.cache_duration = cache ? 6 * 3600 : 0;
	assert_int_equal(fs_md_finalise(root, &fin, &err), FS_OK);
}

/*
 * entity signed from its content's c14n: the same bytes as the DOM way,
 * and (when fast: it does not go the general way) a changed byte of the
 * content makes a signature that does not verify.
 */
static void
from_content(const struct fixture *f, struct fs_dsig_tmpl *t,
    xmlNodePtr entity, int fast, int cache, const char *what)
{
	struct fs_verify_opts vo = { 0 };
	xmlDocPtr c = copy_of(entity), a = copy_of(entity), b = copy_of(entity);
	xmlDocPtr x = copy_of(entity), px;
	struct fs_dsig_prep *p;
	unsigned char dg[32], dg2[32];
	char *content, *da, *db, *dx;
	size_t cl, la, lb, lx;
	fs_err err;
	int rc;

	assert_int_equal(fs_dsig_content_c14n(xmlDocGetRootElement(c), dg,
	    &content, &cl, &err), FS_OK);
	assert_int_equal(fs_dsig_content_digest(xmlDocGetRootElement(c), dg2,
	    &err), FS_OK);
	assert_memory_equal(dg, dg2, 32);
	assert_int_equal(strlen(content), cl);
	finalise(f, a, cache);
	finalise(f, b, cache);
	finalise(f, x, cache);
	assert_int_equal(fs_dsig_sign(a, f->rsa, &(struct fs_sign_opts){ 0 },
	    &err), FS_OK);
	assert_int_equal(fs_md_save_mem(a, &da, &la, &err), FS_OK);
	if (sign_bytes(t, b, content, cl, f->rsa, &db, &lb, &err) !=
	    FS_OK)
		fail_msg("%s: %s", what, err.msg);
	if (la != lb || memcmp(da, db, la) != 0)
		fail_msg("%s: not the same bytes\n%s\n%s", what, da, db);
	verifies(f, f->rsa, db, lb);

	/* The end tag's last letter changed: the digest is of these bytes,
	 * and the check of a prepared document finds it. */
	content[cl - 2] ^= 1;
	assert_int_equal(fs_dsig_prepare(t, x, content, cl, &p, &err), FS_OK);
	rc = fs_dsig_prep_check(t, p, what, &err);
	if (fast && rc != FS_EINTERNAL)
		fail_msg("%s: the prepared document's check passed", what);
	if (!fast && rc != FS_OK)
		fail_msg("%s: %s", what, err.msg);
	assert_int_equal(fs_dsig_finish(t, p, f->rsa, &dx, &lx, NULL, NULL,
	    &err), FS_OK);
	fs_dsig_prep_free(p);
	px = parse(dx, lx);
	vo.key = fs_signer_pubkey(f->rsa);
	vo.now = f->now;
	rc = fs_dsig_verify(px, &vo, NULL, &err);
	if (fast && rc != FS_ENOTVALID)
		fail_msg("%s: signed from other bytes, it verifies", what);
	if (!fast && rc != FS_OK)
		fail_msg("%s: the general way used the bytes: %s", what,
		    err.msg);
	xmlFreeDoc(px);
	free(content);
	free(da);
	free(db);
	free(dx);
	xmlFreeDoc(a);
	xmlFreeDoc(c);
}

static void
test_from_content(void **state)
{
	struct fixture *f = *state;
	struct fs_sign_opts o = { 0 };
	struct fs_dsig_tmpl *t;
	fs_err err;

	assert_int_equal(fs_dsig_tmpl_new(f->rsa, &o, &t, &err), FS_OK);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		xmlDocPtr d = parse(docs[i], strlen(docs[i]));
		char what[32];

		for (int cache = 0; cache <= 1; cache++) {
			snprintf(what, sizeof(what), "document %zu/%d", i, cache);
			/* 3 and 4 go the general way (see docs); 5's root
			 * is copied without what is beside it. */
			from_content(f, t, xmlDocGetRootElement(d),
			    i != 3 && i != 4, cache, what);
		}
		xmlFreeDoc(d);
	}
	for (size_t i = 0; i < sizeof(attr_docs) / sizeof(attr_docs[0]); i++) {
		xmlDocPtr d = parse(attr_docs[i], strlen(attr_docs[i]));
		char what[32];

		for (int cache = 0; cache <= 1; cache++) {
			snprintf(what, sizeof(what), "attributes %zu/%d", i,
			    cache);
			from_content(f, t, xmlDocGetRootElement(d), 1, cache,
			    what);
		}
		xmlFreeDoc(d);
	}
	fs_dsig_tmpl_free(t);
}

/* The entities of real federations' metadata, as the MDQ signing has
 * them: each copied out of its aggregate. */
static void
test_from_content_corpus(void **state)
{
	static const char *files[] = {
		"pysaml2/swamid-1.0.xml",
		"java-opensaml/ukfederation-metadata.xml",
		"pyFF/wayf-edugain-metadata.xml",
		"pysaml2/metadata.aaitest-2019-11.xml",
	};
	struct fixture *f = *state;
	struct fs_sign_opts o = { 0 };
	struct fs_dsig_tmpl *t;
	const char *src = getenv("SRCDIR");
	size_t total = 0;
	fs_err err;

	assert_non_null(src);
	assert_int_equal(fs_dsig_tmpl_new(f->rsa, &o, &t, &err), FS_OK);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4096], *buf, what[600];
		size_t len, n = 0;
		xmlDocPtr d;

		snprintf(path, sizeof(path), "%s/tests/data/corpus/%s", src,
		    files[i]);
		assert_int_equal(fs_file_read(path, (size_t)16 << 20, &buf, &len,
		    &err), FS_OK);
		d = parse(buf, len);
		free(buf);
		for (xmlNodePtr e = fs_md_first_element(xmlDocGetRootElement(d));
		    e != NULL && n < 100; e = fs_md_next_element(e)) {
			if (!fs_md_is(e, FS_NS_MD, "EntityDescriptor"))
				continue;
			snprintf(what, sizeof(what), "%s entity %zu", files[i],
			    n);
			from_content(f, t, e, 1, (int)(n & 1), what);
			n++;
		}
		total += n;
		xmlFreeDoc(d);
	}
	assert_true(total >= 300);
	fs_dsig_tmpl_free(t);
}

/* fs_dsig_prepare takes the document (the fast way frees it at once, the
 * general way keeps it for fs_dsig_finish; same_as_dom signs both): one
 * that is not a document is refused, and freed all the same (ASan). */
static void
test_prepare_finish(void **state)
{
	struct fixture *f = *state;
	struct fs_sign_opts o = { 0 };
	struct fs_dsig_tmpl *t;
	struct fs_dsig_prep *p = (struct fs_dsig_prep *)1;
	fs_err err;

	assert_int_equal(fs_dsig_tmpl_new(f->rsa, &o, &t, &err), FS_OK);
	assert_int_equal(fs_dsig_prepare(t, xmlNewDoc(BAD_CAST "1.0"), NULL, 0,
	    &p, &err), FS_ENOTVALID);
	assert_null(p);
	fs_dsig_tmpl_free(t);
}

/* The document made again from the SignatureValue fs_dsig_finish gave
 * (a run killed after the journal record): the same bytes; with the
 * value changed in one bit, refused and nothing made. */
static void
test_finish_with(void **state)
{
	struct fixture *f = *state;
	struct fs_sign_opts o = { 0 };
	struct fs_dsig_tmpl *t;
	struct fs_dsig_prep *p;
	char *a = NULL, *b = NULL;
	uint8_t *sig = NULL;
	size_t la, lb, siglen;
	fs_err err;

	assert_int_equal(fs_dsig_tmpl_new(f->rsa, &o, &t, &err), FS_OK);
	assert_int_equal(fs_dsig_prepare(t, parse(docs[0], strlen(docs[0])),
	    NULL, 0, &p, &err), FS_OK);
	assert_int_equal(fs_dsig_finish(t, p, f->rsa, &a, &la, &sig, &siglen,
	    &err), FS_OK);
	fs_dsig_prep_free(p);
	assert_non_null(sig);
	assert_int_equal(siglen, 256);
	verifies(f, f->rsa, a, la);

	assert_int_equal(fs_dsig_prepare(t, parse(docs[0], strlen(docs[0])),
	    NULL, 0, &p, &err), FS_OK);
	assert_int_equal(fs_dsig_finish_with(t, p, sig, siglen, &b, &lb, &err),
	    FS_OK);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(b);
	sig[siglen / 2] ^= 0x04;
	b = (char *)1;
	assert_int_equal(fs_dsig_finish_with(t, p, sig, siglen, &b, &lb, &err),
	    FS_ENOTVALID);
	assert_null(b);
	fs_dsig_prep_free(p);
	free(a);
	free(sig);
	fs_dsig_tmpl_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes),
		cmocka_unit_test(test_same_bytes_no_keyinfo),
		cmocka_unit_test(test_same_bytes_sha512),
		cmocka_unit_test(test_ec),
		cmocka_unit_test(test_wrong_signature),
		cmocka_unit_test(test_prepare_finish),
		cmocka_unit_test(test_finish_with),
		cmocka_unit_test(test_from_content),
		cmocka_unit_test(test_from_content_corpus),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
