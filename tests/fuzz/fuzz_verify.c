/*
 * libFuzzer target: the safe parser and the strict verifier, with a fixed
 * pinned key (the known-answer test's certificate, given in
 * FUZZ_VERIFY_CERT) and a fixed clock.  Seeds: signed documents.  A
 * document the verifier accepts must verify again, and its verified
 * element must be the document element.  Built by scripts/fuzz.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fedsign/dsig.h"
#include "fedsign/md.h"
#include "fedsign/signer.h"

static EVP_PKEY *key;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_md_limits lim = { 1 << 20, 64, 64 };
	struct fs_verify_opts vo = { 0 };
	xmlNodePtr verified;
	xmlDocPtr doc;
	fs_err err;
	X509 *x;

	if (key == NULL) {
		const char *cert = getenv("FUZZ_VERIFY_CERT");

		if (fs_md_init(&err) != FS_OK || cert == NULL ||
		    fs_x509_load(cert, &x, &err) != FS_OK ||
		    (key = X509_get_pubkey(x)) == NULL)
			abort();
		X509_free(x);
	}
	if (fs_md_parse_mem((const char *)data, size, "fuzz", &lim, &doc,
	    &err) != FS_OK)
		return 0;
	vo.key = key;
	vo.now = 1700000000;
	vo.allow_sha1 = size & 1;
	if (fs_dsig_verify(doc, &vo, &verified, &err) == FS_OK) {
		if (verified != xmlDocGetRootElement(doc) ||
		    fs_dsig_verify(doc, &vo, NULL, &err) != FS_OK)
			abort();
	}
	xmlFreeDoc(doc);
	return 0;
}
