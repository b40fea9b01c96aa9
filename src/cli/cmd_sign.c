/* fedsign sign: sign SAML metadata with the federation's key. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/xmlsave.h>

#include "cli/cli.h"
#include "dsig/dsig.h"
#include "md/md.h"
#include "signer/signer.h"
#include "util/duration.h"
#include "util/fileio.h"

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
"  --key URI               the token key (pkcs11: URI, RFC 7512)\n"
"  --module PATH           PKCS#11 module (overrides the URI's module-path)\n"
"  --key-file PEM          an unencrypted PEM key file (development only)\n"
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
"                          rsa-sha512, ecdsa-sha256, ecdsa-sha384\n"
"  --digest ALG            sha256 (default), sha384, sha512\n"
"  -q, --quiet             no report on stderr\n"
"\n" FS_EXIT_HELP;

struct verify_job {
	xmlDocPtr doc;
	const struct fs_verify_opts *vo;
	fs_err err;
	int rc;
};

static void *
verify_job_run(void *arg)
{
	struct verify_job *j = arg;

	j->rc = fs_dsig_verify(j->doc, j->vo, NULL, &j->err);
	return NULL;
}

/*
 * Verify the signed document and write it to out.  For a file, the
 * temporary file is written while another thread verifies, and it replaces
 * out only when the verification passed.  Standard output gets nothing
 * before the verification passed.
 *
 * Sharing the tree is safe because verification only reads it (the
 * signer registered the root's ID beforehand), and the one field the
 * serialiser writes, doc->encoding while it saves, is read by neither
 * the canonicaliser nor xmlsec1.  helgrind checks this in the tests.
 */
static int
verify_and_write(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, fs_err *err)
{
	struct verify_job j = { doc, vo, { 0, "" }, FS_EINTERNAL };
	fs_atomic *a = NULL;
	pthread_t t;
	int threaded, rc;

	if (strcmp(out, "-") == 0) {
		verify_job_run(&j);
		if (j.rc != FS_OK)
			goto bad;
		return fs_cli_write_doc(doc, out, err);
	}
	if ((rc = fs_atomic_open(out, 0, &a, err)) != FS_OK)
		return rc;
	threaded = pthread_create(&t, NULL, verify_job_run, &j) == 0;
	if (!threaded)
		verify_job_run(&j);
	rc = fs_cli_save_doc(doc, fs_atomic_fd(a), out, err);
	if (threaded)
		pthread_join(t, NULL);
	if (j.rc != FS_OK) {
		fs_atomic_abort(a);
		goto bad;
	}
	if (rc != FS_OK) {
		fs_atomic_abort(a);
		return rc;
	}
	return fs_atomic_commit(a, err);
bad:
	*err = j.err;
	fs_err_append(err, "the signed document does not verify; nothing "
	    "was written");
	return err->code;
}

static const EVP_MD *
md_by_name(const char *s)
{
	if (strcmp(s, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(s, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(s, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

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
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fs_sign_opts so = { 0 };
	struct fs_verify_opts vo = { 0 };
	const char *in = NULL, *out = NULL, *uri = NULL, *keyfile = NULL;
	const char *certfile = NULL, *module = NULL, *alg = NULL;
	fs_signer *signer = NULL;
	xmlDocPtr doc = NULL;
	X509 *cert = NULL;
	char vu[32];
	time_t t;
	fs_err err;
	int c, rc;

	fs_err_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:k:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'k': uri = optarg; break;
		case O_MODULE: module = optarg; break;
		case O_KEYFILE: keyfile = optarg; break;
		case O_CERT: certfile = optarg; break;
		case O_NOKI: so.no_keyinfo = 1; break;
		case O_VALID:
		case O_CACHE:
			if (fs_duration_parse(optarg, c == O_VALID ?
			    &so.valid_for : &so.cache_duration, &err) != FS_OK)
				return fs_cli_usage("sign", "%s", err.msg);
			if ((c == O_VALID ? so.valid_for : so.cache_duration) == 0)
				return fs_cli_usage("sign", "a duration of zero "
				    "is not allowed");
			break;
		case O_NAME: so.name = optarg; break;
		case O_PUB: so.publisher = optarg; break;
		case O_ALG: alg = optarg; break;
		case O_DIGEST:
			if ((so.digest = md_by_name(optarg)) == NULL)
				return fs_cli_usage("sign", "unknown --digest "
				    "'%s': use sha256, sha384 or sha512 (SHA-1 "
				    "and MD5 are never used)", optarg);
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
		const char *h = strchr(alg, '-');
		if (h == NULL || (strncmp(alg, "rsa-", 4) != 0 &&
		    strncmp(alg, "ecdsa-", 6) != 0) ||
		    (so.sig_digest = md_by_name(h + 1)) == NULL)
			return fs_cli_usage("sign", "unknown --alg '%s': use "
			    "rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256 "
			    "or ecdsa-sha384", alg);
	}

	fs_cli_expect_input(in);
	if ((rc = fs_md_parse_file(in, &doc, &err)) != FS_OK)
		goto fail;
	if (fs_md_root(doc, in, &err) == NULL) {
		rc = FS_ENOTVALID;
		goto fail;
	}
	if (uri != NULL)
		rc = fs_signer_open_pkcs11(uri, module, &signer, &err);
	else
		rc = fs_signer_open_pem(keyfile, &signer, &err);
	if (rc != FS_OK)
		goto fail;
	if (alg != NULL && (strncmp(alg, "ecdsa-", 6) == 0) !=
	    (fs_signer_type(signer) == FS_SIGKEY_EC)) {
		rc = fs_cli_usage("sign", "--alg %s does not fit the %s key",
		    alg, fs_signer_type(signer) == FS_SIGKEY_EC ? "EC" : "RSA");
		goto out;
	}
	if (certfile != NULL) {
		if ((rc = fs_x509_load(certfile, &cert, &err)) != FS_OK ||
		    (rc = fs_signer_set_cert(signer, cert, &err)) != FS_OK) {
			fs_err_append(&err, "certificate '%s'", certfile);
			goto fail;
		}
	}
	so.now = time(NULL);
	if ((rc = fs_dsig_sign(doc, signer, &so, &err)) != FS_OK)
		goto fail;

	/* What we publish must pass the strict verifier first. */
	vo.key = fs_signer_pubkey(signer);
	vo.now = so.now;
	if ((rc = verify_and_write(doc, &vo, out, &err)) != FS_OK)
		goto fail;
	if (fs_md_valid_until(xmlDocGetRootElement(doc), &t) == 1)
		fs_time_format(t, vu, sizeof(vu));
	else
		snprintf(vu, sizeof(vu), "?");
	fs_cli_info("fedsign: signed %s -> %s with %s key (%u bits), "
	    "validUntil %s", in, out, fs_signer_type(signer) == FS_SIGKEY_EC ?
	    "EC" : "RSA", fs_signer_bits(signer), vu);
	rc = 0;
	goto out;
fail:
	rc = fs_cli_fail(&err);
out:
	X509_free(cert);
	fs_signer_free(signer);
	xmlFreeDoc(doc);
	return rc;
}
