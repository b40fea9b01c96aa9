/* fedsign verify: check signed metadata by the strict profile. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "fedsign/dsig.h"
#include "fedsign/file.h"
#include "fedsign/md.h"
#include "fedsign/signer.h"
#include "fedsign/util.h"

static const char verify_help[] =
"usage: fedsign verify FILE (--cert PEM | --fingerprint sha256:HEX)\n"
"                      [--max-validity DURATION] [--allow-expired]\n"
"                      [--allow-sha1] [-o OUT] [-q]\n"
"\n"
"Verify the signature on SAML metadata FILE ('-' for standard input) by\n"
"the strict profile: exactly one ds:Signature on the document element,\n"
"one Reference to the whole document (\"\" or \"#\" + its unique ID),\n"
"transforms enveloped-signature and one canonicalization, RSA/ECDSA with\n"
"SHA-256 or better, RSA >= 2048 bits, EC >= 256, signed by the pinned\n"
"key, and a validUntil in the future.  The failed rule is reported.\n"
"\n"
"  -c, --cert PEM         trust the key of this PEM certificate\n"
"  -f, --fingerprint sha256:HEX\n"
"                         trust the certificate in the signature's KeyInfo\n"
"                         with this SHA-256 fingerprint (64 hex digits,\n"
"                         colons allowed)\n"
"  -m, --max-validity DURATION\n"
"                         refuse a validUntil further ahead than this\n"
"                         (14d, 6h, P14D, PT6H; default 28d, what\n"
"                         eduGAIN's feed rules allow)\n"
"      --allow-expired    accept a validUntil in the past\n"
"      --allow-sha1       accept SHA-1 signatures and digests (never MD5)\n"
"  -o, --output OUT       write the verified document to OUT ('-' for\n"
"                         standard output), replaced atomically; an OUT\n"
"                         that is not a regular file is refused\n"
"  --max-size SIZE        refuse input larger than SIZE (default 1G)\n"
"  --max-depth N          refuse elements nested deeper than N (256)\n"
"  --max-attributes N     refuse elements with more than N attributes\n"
"                         and namespace declarations (256)\n"
"  -q, --quiet            print nothing when the signature is valid\n"
"  -h, --help             show this help\n"
"\n"
"Exit status:\n"
"  0  the signature is valid\n"
"  1  not valid: a failed rule, a bad signature, or input that is not\n"
"     well-formed metadata (a DOCTYPE, malformed XML, no signature)\n"
"  2  usage error\n"
"  3  the --cert file holds no PEM certificate\n"
"  4  FILE, the --cert file or OUT could not be read or written\n"
"  5  internal error (out of memory, library failure)\n";

enum { OPT_ALLOW_EXPIRED = 256, OPT_ALLOW_SHA1 };

static const struct option longopts[] = {
	{ "cert", required_argument, NULL, 'c' },
	{ "fingerprint", required_argument, NULL, 'f' },
	{ "max-validity", required_argument, NULL, 'm' },
	{ "allow-expired", no_argument, NULL, OPT_ALLOW_EXPIRED },
	{ "allow-sha1", no_argument, NULL, OPT_ALLOW_SHA1 },
	{ "output", required_argument, NULL, 'o' },
	FS_LIMIT_OPTIONS,
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* `sha256:` and 64 hex digits, colons allowed anywhere between them. */
static int
parse_fingerprint(const char *s, uint8_t fp[32])
{
	size_t n = 0;
	int hi, lo;

	if (strncasecmp(s, "sha256:", 7) != 0)
		return -1;
	for (s += 7; *s != '\0'; ) {
		if (*s == ':') {
			s++;
			continue;
		}
		if (n == 32 || (hi = OPENSSL_hexchar2int((unsigned char)s[0]))
		    < 0 || s[1] == '\0' ||
		    (lo = OPENSSL_hexchar2int((unsigned char)s[1])) < 0)
			return -1;
		fp[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return n == 32 ? 0 : -1;
}

/* The certificate's subject, one line, UTF-8 kept as it is. */
static void
subject_line(X509 *x, char *buf, size_t len)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
	    (n = BIO_read(b, buf, (int)len - 1)) > 0)
		buf[n] = '\0';
	BIO_free(b);
}

int
cmd_verify(int argc, char **argv)
{
	struct fs_verify_opts opts = { 0 };
	struct fs_md_limits lim = { 0 };
	fs_output *o;
	const char *cert_path = NULL, *fp_arg = NULL, *output = NULL, *path;
	const char *name;
	char who[512], fpbuf[32 * 3 + 1], vbuf[32];
	uint8_t fp[32];
	xmlNodePtr verified = NULL;
	xmlDocPtr doc = NULL;
	X509 *cert = NULL;
	time_t vu;
	int64_t secs;
	int ch, quiet = 0, rc;
	fs_err err;

	fs_err_clear(&err);
	opts.max_validity = FS_DEFAULT_MAX_VALIDITY;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:f:m:o:qh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			cert_path = optarg;
			break;
		case 'f':
			fp_arg = optarg;
			break;
		case 'm':
			if (fs_duration_parse(optarg, &secs, &err) != FS_OK)
				return fs_cli_usage("verify", "%s", err.msg);
			if (secs <= 0)
				return fs_cli_usage("verify", "--max-validity "
				    "must be longer than zero");
			opts.max_validity = secs;
			break;
		case OPT_ALLOW_EXPIRED:
			opts.allow_expired = 1;
			break;
		case OPT_ALLOW_SHA1:
			opts.allow_sha1 = 1;
			break;
		case 'o':
			output = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case FS_OPT_MAX_SIZE:
		case FS_OPT_MAX_DEPTH:
		case FS_OPT_MAX_ATTRS:
			if ((rc = fs_cli_limit_opt(ch, optarg, &lim, "verify")))
				return rc;
			break;
		case 'h':
			fputs(verify_help, stdout);
			return 0;
		case ':':
			return fs_cli_usage("verify", "option '%s' needs a "
			    "value", argv[optind - 1]);
		default:
			return fs_cli_usage("verify", "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return fs_cli_usage("verify", argc - optind == 0 ?
		    "no FILE to verify" : "only one FILE can be verified");
	path = argv[optind];
	name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if ((cert_path == NULL) == (fp_arg == NULL))
		return fs_cli_usage("verify", "give exactly one of --cert and "
		    "--fingerprint: the key to trust");
	if (fp_arg != NULL && parse_fingerprint(fp_arg, fp) < 0)
		return fs_cli_usage("verify", "invalid fingerprint '%s': use "
		    "sha256: and 64 hex digits (colons allowed)", fp_arg);

	if (cert_path != NULL) {
		if ((rc = fs_x509_load(cert_path, &cert, &err)) != FS_OK)
			return fs_cli_fail(&err);
		if ((opts.key = X509_get0_pubkey(cert)) == NULL) {
			fs_cli_warn("cannot read the public key of '%s'",
			    cert_path);
			rc = 3;
			goto out;
		}
		subject_line(cert, who, sizeof(who));
	} else {
		opts.fingerprint = fp;
		for (size_t i = 0; i < sizeof(fp); i++)
			snprintf(fpbuf + i * 3, sizeof(fpbuf) - i * 3, "%02X%s",
			    fp[i], i + 1 < sizeof(fp) ? ":" : "");
		snprintf(who, sizeof(who), "the certificate with SHA-256 "
		    "fingerprint %s", fpbuf);
	}

	if ((rc = fs_md_parse_file(path, &lim, &doc, &err)) != FS_OK) {
		rc = fs_cli_fail(&err);
		goto out;
	}
	if ((rc = fs_dsig_verify(doc, &opts, &verified, &err)) != FS_OK) {
		if (rc == FS_ENOTVALID)
			fs_cli_warn("%s: %s", name, err.msg);
		else
			fs_cli_fail(&err);
		rc = fs_cli_exit_code(rc);
		goto out;
	}
	/* The verified element is the document element: write that doc. */
	if (verified != xmlDocGetRootElement(doc)) {
		fs_cli_warn("%s: the verified element is not the document "
		    "element", name);
		rc = 5;
		goto out;
	}
	if (output != NULL) {
		if ((rc = fs_output_open(output, 0, &o, &err)) != FS_OK)
			goto fail;
		if ((rc = fs_md_save(doc, fs_output_fd(o), output, &err)) !=
		    FS_OK) {
			fs_output_abort(o);
			goto fail;
		}
		if ((rc = fs_output_commit(o, &err)) != FS_OK)
			goto fail;
	}
	if (!quiet) {
		if (fs_md_valid_until(verified, &vu) == 1)
			fs_time_format(vu, vbuf, sizeof(vbuf));
		else
			snprintf(vbuf, sizeof(vbuf), "unknown");
		fs_cli_warn("%s: valid signature by %s, validUntil %s", name,
		    who, vbuf);
	}
	rc = 0;
	goto out;
fail:
	rc = fs_cli_fail(&err);
out:
	xmlFreeDoc(doc);
	X509_free(cert);
	return rc;
}
