/* fedsign keygen: a signing key pair generated inside the token. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "fedsign/p11.h"

static const char help[] =
"usage: fedsign keygen --key URI --type TYPE [--module PATH]\n"
"\n"
"Generate a metadata signing key pair inside the token named by URI.\n"
"The private key is sensitive, never extractable, and may only sign\n"
"(CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE false); the public key is stored on\n"
"the token too.  CKA_LABEL comes from the URI's object=, CKA_ID from its\n"
"id= (a fresh random id when absent).  A second key with the same label\n"
"or id is refused.\n"
"\n"
"  --key URI      pkcs11:token=LABEL;object=KEYLABEL[;id=%01...]\n"
"                 [?module-path=...&pin-source=file:...]\n"
"  --type TYPE    rsa:2048 (every HSM), rsa:3072, rsa:4096, ec:p256, ec:p384\n"
"  --module PATH  PKCS#11 module (overrides the URI's module-path)\n"
"\n"
"Example:\n"
"  fedsign keygen --type rsa:2048 --key 'pkcs11:token=fed;object=md-2026"
"?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:pin'\n"
"\n" FS_EXIT_HELP;

int
cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "type", required_argument, NULL, 't' },
		{ "module", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *uri = NULL, *type = NULL;
	struct fs_keyspec spec;
	struct fs_token_opts to = { NULL, FS_TOKEN_RW, 0, &fs_cli_hooks };
	char label[256 * 3 + 1], tlabel[32 * 3 + 1];
	const uint8_t *kid;
	uint8_t id[20];
	size_t idlen = sizeof(id), kidlen;
	fs_token *t = NULL;
	fs_key *k = NULL;
	fs_err err;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:t:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': uri = optarg; break;
		case 't': type = optarg; break;
		case 'm': to.module = optarg; break;
		case 'h': fputs(help, stdout); return 0;
		default: return fs_cli_usage("keygen", "bad option");
		}
	}
	if (optind < argc)
		return fs_cli_usage("keygen", "unexpected argument '%s'",
		    argv[optind]);
	if (uri == NULL || type == NULL)
		return fs_cli_usage("keygen", "--key and --type are required");
	if ((rc = fs_keyspec_parse(type, &spec, &err)) != FS_OK)
		return fs_cli_usage("keygen", "%s", err.msg);
	if ((rc = fs_token_open(uri, &to, &t, &err)) != FS_OK ||
	    (rc = fs_token_login(t, &err)) != FS_OK ||
	    (rc = fs_keygen(t, NULL, &spec, id, &idlen, &err)) != FS_OK ||
	    (rc = fs_key_find(t, NULL, CKO_PRIVATE_KEY, &k, &err)) != FS_OK) {
		rc = fs_cli_fail(&err);
		goto out;
	}
	printf("generated %s key pair on token '%s'\n", type,
	    fs_token_label(t));
	kid = fs_key_id(k, &kidlen);
	printf("key URI: pkcs11:token=%s;object=%s;id=",
	    fs_cli_uri_escape(fs_token_label(t), tlabel, sizeof(tlabel)),
	    fs_cli_uri_escape(fs_key_label(k), label, sizeof(label)));
	for (size_t i = 0; i < kidlen; i++)
		printf("%%%02x", kid[i]);
	printf("\nnext: fedsign cert create --key URI --subject 'CN=...' "
	    "--out signer.crt\n");
	rc = 0;
out:
	fs_key_free(k);
	fs_token_free(t);
	return rc;
}
