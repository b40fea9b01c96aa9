/* fedsign sign: sign SAML metadata with the federation's key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fedsign/alg.h"
#include "fedsign/dsig.h"
#include "fedsign/md.h"
#include "fedsign/publish.h"
#include "fedsign/signer.h"
#include "fedsign/util.h"

static const char help[] =
"usage: fedsign sign IN -o OUT (--key URI | --key-file PEM) [options]\n"
"\n"
"Sign SAML metadata (an EntitiesDescriptor aggregate or one\n"
"EntityDescriptor) with an enveloped XML signature: ds:Signature first in\n"
"the root, one Reference to the root's ID (one is added when missing),\n"
"enveloped-signature and exclusive c14n transforms.  An existing signature\n"
"on the root is replaced.  The result is verified in memory with the key's\n"
"public key before OUT is replaced atomically; on any failure OUT is left\n"
"as it was.  IN may be - for standard input, OUT - for standard output.\n"
"\n"
"  -o, --out OUT           the signed document\n"
"  -k, --key URI           the token key (pkcs11: URI, RFC 7512), or one\n"
"                          fedsignd holds (fedsignd:unix:PATH?key=NAME)\n"
"  --module PATH           PKCS#11 module (overrides the URI's module-path)\n"
"  --key-file PEM          an unencrypted PEM key file, mode 0600\n"
"                          (development only)\n"
"  --cert PEM              certificate for KeyInfo (default: the token's\n"
"                          certificate object for the key)\n"
"  --no-keyinfo            leave KeyInfo out\n"
"  --valid-for DURATION    validUntil = now + DURATION (14d, 6h, P14D,\n"
"                          PT6H); without it the input's validUntil is kept\n"
"                          when it lies in the future, else signing stops\n"
"  --cache-duration DUR    set cacheDuration\n"
"  --name NAME             set the aggregate's Name\n"
"  --publisher URL         add or update mdrpi:PublicationInfo\n"
"  --alg ALG               rsa-sha256 (default for RSA), rsa-sha384,\n"
"                          rsa-sha512, ecdsa-sha256, ecdsa-sha384,\n"
"                          ecdsa-sha512\n"
"  --digest ALG            sha256 (default), sha384, sha512\n"
FS_LIMIT_HELP
"  -q, --quiet             no report on stderr\n"
"  -h, --help              show this help\n"
"\n" FS_EXIT_HELP;

int
cmd_sign(int argc, char **argv)
{
	enum { O_KEYFILE = 256, O_CERT, O_NOKI, O_VALID, O_CACHE, O_NAME,
	    O_PUB, O_ALG, O_DIGEST, O_MODULE };
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "key", required_argument, NULL, 'k' },
		{ "module", required_argument, NULL, O_MODULE },
		{ "key-file", required_argument, NULL, O_KEYFILE },
		{ "cert", required_argument, NULL, O_CERT },
		{ "no-keyinfo", no_argument, NULL, O_NOKI },
		{ "valid-for", required_argument, NULL, O_VALID },
		{ "cache-duration", required_argument, NULL, O_CACHE },
		{ "name", required_argument, NULL, O_NAME },
		{ "publisher", required_argument, NULL, O_PUB },
		{ "alg", required_argument, NULL, O_ALG },
		{ "digest", required_argument, NULL, O_DIGEST },
		FS_LIMIT_OPTIONS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fs_token_opts to = { NULL, 0, 0, &fs_cli_hooks };
	struct fs_md_limits lim = { 0 };
	struct fs_md_final fin = { 0 };
	struct fs_sign_opts so = { 0 };
	struct fs_verify_opts vo = { 0 };
	const char *in = NULL, *out = NULL, *uri = NULL, *keyfile = NULL;
	const char *certfile = NULL, *alg = NULL;
	fs_signer *signer = NULL;
	EVP_PKEY *pub = NULL;
	xmlDocPtr doc = NULL;
	X509 *cert = NULL;
	char vu[32], names[128];
	unsigned bits = 0;
	int c, rc, ec = 0;
	time_t t;
	fs_err err;

	fs_err_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:k:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'k': uri = optarg; break;
		case O_MODULE: to.module = optarg; break;
		case O_KEYFILE: keyfile = optarg; break;
		case O_CERT: certfile = optarg; break;
		case O_NOKI: so.no_keyinfo = 1; break;
		case O_VALID:
		case O_CACHE:
			if (fs_duration_parse(optarg, c == O_VALID ?
			    &fin.valid_for : &fin.cache_duration, &err) != FS_OK)
				return fs_cli_usage("sign", "%s", err.msg);
			if ((c == O_VALID ? fin.valid_for :
			    fin.cache_duration) == 0)
				return fs_cli_usage("sign", "a duration of zero "
				    "is not allowed");
			break;
		case O_NAME: fin.name = optarg; break;
		case O_PUB: fin.publisher = optarg; break;
		case O_ALG: alg = optarg; break;
		case O_DIGEST:
			so.digest = fs_alg_by_name(FS_ALG_DIGEST, optarg);
			if (so.digest == NULL || !(so.digest->flags &
			    FS_ALGF_SIGN)) {
				fs_alg_sign_names(FS_ALG_DIGEST, names,
				    sizeof(names));
				return fs_cli_usage("sign", "unknown --digest "
				    "'%s': use %s (SHA-1 and MD5 are never "
				    "used)", optarg, names);
			}
			break;
		case FS_OPT_MAX_SIZE:
		case FS_OPT_MAX_DEPTH:
		case FS_OPT_MAX_ATTRS:
			if ((rc = fs_cli_limit_opt(c, optarg, &lim, "sign")))
				return rc;
			break;
		case 'q': fs_cli_verbose = 0; break;
		case 'h': fputs(help, stdout); return 0;
		default: return fs_cli_usage("sign", "bad option");
		}
	}
	if (optind < argc)
		in = argv[optind++];
	if (optind < argc)
		return fs_cli_usage("sign", "unexpected argument '%s'",
		    argv[optind]);
	if (in == NULL || out == NULL)
		return fs_cli_usage("sign", "give the input file and -o OUT");
	if ((uri == NULL) == (keyfile == NULL))
		return fs_cli_usage("sign", "give exactly one of --key URI and "
		    "--key-file PEM");
	if (alg != NULL) {
		so.signature = fs_alg_by_name(FS_ALG_SIGNATURE, alg);
		if (so.signature == NULL ||
		    !(so.signature->flags & FS_ALGF_SIGN)) {
			fs_alg_sign_names(FS_ALG_SIGNATURE, names,
			    sizeof(names));
			return fs_cli_usage("sign", "unknown --alg '%s': use "
			    "%s", alg, names);
		}
	}

	if ((rc = fs_md_parse_file(in, &lim, &doc, &err)) != FS_OK)
		goto fail;
	if (fs_md_root(doc, in, &err) == NULL)
		goto fail;
	if (uri != NULL)
		rc = fs_signer_open_uri(uri, &to, &signer, &err);
	else
		rc = fs_signer_open_pem(keyfile, &signer, &err);
	if (rc != FS_OK)
		goto fail;
	ec = fs_signer_type(signer) == FS_KEY_EC;
	bits = fs_signer_bits(signer);
	if (so.signature != NULL && so.signature->key !=
	    fs_signer_type(signer)) {
		rc = fs_cli_usage("sign", "--alg %s does not fit the %s key",
		    alg, ec ? "EC" : "RSA");
		goto out;
	}
	if (certfile != NULL) {
		if ((rc = fs_x509_load(certfile, &cert, &err)) != FS_OK ||
		    (rc = fs_signer_set_cert(signer, cert, &err)) != FS_OK) {
			fs_err_append(&err, "certificate '%s'", certfile);
			goto fail;
		}
	}
	fin.now = time(NULL);
	if ((rc = fs_md_finalise(xmlDocGetRootElement(doc), &fin, &err)) !=
	    FS_OK || (rc = fs_dsig_sign(doc, signer, &so, &err)) != FS_OK)
		goto fail;

	/*
	 * The token is closed before anything is written: a module that
	 * fails on the way out cannot leave a half-committed output.
	 */
	pub = fs_signer_pubkey(signer);
	if (!EVP_PKEY_up_ref(pub)) {
		pub = NULL;
		rc = fs_err_set(&err, FS_EINTERNAL, "EVP_PKEY_up_ref failed");
		goto fail;
	}
	fs_signer_free(signer);
	signer = NULL;

	/* What we publish must pass the strict verifier first. */
	vo.key = pub;
	vo.now = fin.now;
	if ((rc = fs_publish_doc(doc, &vo, out, &err)) != FS_OK)
		goto fail;
	if (fs_md_valid_until(xmlDocGetRootElement(doc), &t) == 1)
		fs_time_format(t, vu, sizeof(vu));
	else
		snprintf(vu, sizeof(vu), "?");
	fs_cli_info("signed %s -> %s with %s key (%u bits), validUntil %s",
	    in, out, ec ? "EC" : "RSA", bits, vu);
	fs_cli_keep = doc;
	doc = NULL;
	rc = 0;
	goto out;
fail:
	rc = fs_cli_fail(&err);
out:
	EVP_PKEY_free(pub);
	X509_free(cert);
	fs_signer_free(signer);
	xmlFreeDoc(doc);
	return rc;
}
