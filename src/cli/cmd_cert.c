/* fedsign cert create | show: the signing key's self-signed certificate. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "cli/cli.h"
#include "fedsign/file.h"
#include "fedsign/p11.h"
#include "fedsign/signer.h"

static const char create_help[] =
"usage: fedsign cert create --key URI --subject SUBJECT --out FILE\n"
"                           [--days N] [--module PATH] [--replace]\n"
"\n"
"Make the long-lived self-signed X.509 certificate of the signing key;\n"
"its signature is made by the token key.  The certificate is stored on the\n"
"token (same CKA_ID and label as the key), written to FILE as PEM, and its\n"
"SHA-256 and SHA-1 fingerprints are printed: publish them to the members.\n"
"\n"
"  --subject S    'CN=Federation Metadata Signer,O=Example,C=ZA'\n"
"                 (or /C=ZA/O=Example/CN=...)\n"
"  --days N       validity in days (default 3650: ten years)\n"
"  --out FILE     PEM output, written atomically\n"
"  --replace      replace the certificate already on the token\n"
"  --module PATH  PKCS#11 module (overrides the URI's module-path)\n"
"\n" FS_EXIT_HELP;

static const char show_help[] =
"usage: fedsign cert show --key URI [--module PATH]\n"
"\n"
"Print the token's certificate for the key as PEM, its SHA-256 and SHA-1\n"
"fingerprints, and whether its public key is the private key's (exit 1\n"
"when it is not).\n"
"\n"
"  --key URI      the key (pkcs11: URI, RFC 7512)\n"
"  --module PATH  PKCS#11 module (overrides the URI's module-path)\n"
"\n" FS_EXIT_HELP;

static void
print_fingerprints(X509 *x, FILE *f)
{
	char fp[200];

	fs_x509_fingerprint(x, EVP_sha256(), fp, sizeof(fp));
	fprintf(f, "SHA-256 fingerprint: %s\n", fp);
	fs_x509_fingerprint(x, EVP_sha1(), fp, sizeof(fp));
	fprintf(f, "SHA-1 fingerprint:   %s\n", fp);
}

static int
pem_bytes(X509 *x, char **buf, size_t *len, fs_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	if (b == NULL || !PEM_write_bio_X509(b, x)) {
		BIO_free(b);
		return fs_err_openssl(err, FS_EINTERNAL, "cannot encode PEM");
	}
	n = BIO_get_mem_data(b, &data);
	if ((*buf = malloc((size_t)n + 1)) == NULL) {
		BIO_free(b);
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	}
	memcpy(*buf, data, (size_t)n);
	(*buf)[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	return FS_OK;
}

/* The certificate objects with the key's CKA_ID: up to max, *n found. */
static int
find_certs(fs_token *t, fs_key *k, CK_OBJECT_HANDLE *objs, CK_ULONG max,
    CK_ULONG *n, fs_err *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	const uint8_t *id;
	size_t idlen;

	id = fs_key_id(k, &idlen);
	{
		CK_ATTRIBUTE tmpl[2] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_ID, (void *)id, idlen },
		};
		return fs_token_objects(t, tmpl, 2, objs, max, n, err);
	}
}

/*
 * Store x on the token with the key's CKA_ID and label, then destroy the
 * n certificates it replaces.
 */
static int
store_cert(fs_token *t, fs_key *k, X509 *x, const CK_OBJECT_HANDLE *old,
    CK_ULONG n, fs_err *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE obj;
	unsigned char *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	const char *label = fs_key_label(k);
	const uint8_t *id;
	size_t idlen;
	int dlen, slen, ilen, snlen, rc;

	id = fs_key_id(k, &idlen);
	dlen = i2d_X509(x, &der);
	slen = i2d_X509_NAME(X509_get_subject_name(x), &subj);
	ilen = i2d_X509_NAME(X509_get_issuer_name(x), &iss);
	snlen = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &ser);
	if (dlen <= 0 || slen <= 0 || ilen <= 0 || snlen <= 0) {
		rc = fs_err_openssl(err, FS_EINTERNAL, "cannot encode the "
		    "certificate");
		goto out;
	}
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_ID, (void *)id, idlen },
			{ CKA_SUBJECT, subj, (CK_ULONG)slen },
			{ CKA_ISSUER, iss, (CK_ULONG)ilen },
			{ CKA_SERIAL_NUMBER, ser, (CK_ULONG)snlen },
			{ CKA_VALUE, der, (CK_ULONG)dlen },
			{ CKA_LABEL, (void *)label, strlen(label) },
		};
		CK_ULONG nt = sizeof(tmpl) / sizeof(tmpl[0]) -
		    (label[0] ? 0 : 1);

		if ((rc = fs_token_create(t, tmpl, nt, &obj, err)) != FS_OK)
			goto out;
	}
	/* The new one is stored: only now drop the old ones. */
	for (CK_ULONG i = 0; i < n; i++) {
		if ((rc = fs_token_destroy(t, old[i], err)) != FS_OK) {
			fs_err_append(err, "the new certificate is stored beside "
			    "the old one");
			break;
		}
	}
out:
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	return rc;
}

static int
cert_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "subject", required_argument, NULL, 's' },
		{ "days", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ "module", required_argument, NULL, 'm' },
		{ "replace", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fs_token_opts to = { NULL, FS_TOKEN_RW, 0, &fs_cli_hooks };
	const char *uri = NULL, *subject = NULL, *out = NULL;
	int days = 3650, replace = 0, c, rc;
	CK_OBJECT_HANDLE old[16];
	CK_ULONG nold = 0;
	fs_signer *s = NULL;
	fs_token *t = NULL;
	fs_key *k = NULL;
	X509 *x = NULL;
	char *pem = NULL, *end;
	size_t pemlen = 0;
	long v;
	fs_err err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:s:d:o:m:rh", opts, NULL)) != -1) {
		switch (c) {
		case 'k': uri = optarg; break;
		case 's': subject = optarg; break;
		case 'o': out = optarg; break;
		case 'm': to.module = optarg; break;
		case 'r': replace = 1; break;
		case 'd':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 36500)
				return fs_cli_usage("cert create", "--days "
				    "must be a number from 1 to 36500");
			days = (int)v;
			break;
		case 'h': fputs(create_help, stdout); return 0;
		default: return fs_cli_usage("cert create", "bad option");
		}
	}
	if (optind < argc)
		return fs_cli_usage("cert create", "unexpected argument '%s'",
		    argv[optind]);
	if (uri == NULL || subject == NULL || out == NULL)
		return fs_cli_usage("cert create", "--key, --subject and --out "
		    "are required");
	if ((rc = fs_token_open(uri, &to, &t, &err)) != FS_OK ||
	    (rc = fs_token_login(t, &err)) != FS_OK ||
	    (rc = fs_key_find(t, NULL, CKO_PRIVATE_KEY, &k, &err)) != FS_OK ||
	    (rc = fs_signer_from_key(k, &s, &err)) != FS_OK)
		goto fail;
	/* Any certificate object with the key's id, matching or not. */
	if ((rc = find_certs(t, k, old, 16, &nold, &err)) != FS_OK)
		goto fail;
	if (nold > 0 && !replace) {
		rc = fs_err_set(&err, FS_ETOKEN, "token '%s' already has a "
		    "certificate for this key; see 'fedsign cert show', or use "
		    "--replace to make a new one", fs_token_label(t));
		goto fail;
	}
	if ((rc = fs_x509_selfsign(s, subject, days, &x, &err)) != FS_OK ||
	    (rc = pem_bytes(x, &pem, &pemlen, &err)) != FS_OK)
		goto fail;
	/* Write the file first: a token object with no file is worse. */
	if ((rc = fs_write_file_atomic(out, pem, pemlen, 0644, &err)) != FS_OK ||
	    (rc = store_cert(t, k, x, old, nold, &err)) != FS_OK)
		goto fail;
	printf("certificate for '%s' on token '%s' written to %s\n",
	    fs_key_label(k)[0] ? fs_key_label(k) : "key", fs_token_label(t),
	    out);
	print_fingerprints(x, stdout);
	rc = 0;
	goto done;
fail:
	rc = fs_cli_fail(&err);
done:
	free(pem);
	X509_free(x);
	fs_signer_free(s);
	fs_key_free(k);
	fs_token_free(t);
	return rc;
}

static int
cert_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "module", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fs_token_opts to = { NULL, 0, 0, &fs_cli_hooks };
	const char *uri = NULL;
	fs_signer *s = NULL;
	fs_token *t = NULL;
	fs_key *k = NULL;
	X509 *x = NULL;
	fs_err err;
	int c, rc, match, none;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': uri = optarg; break;
		case 'm': to.module = optarg; break;
		case 'h': fputs(show_help, stdout); return 0;
		default: return fs_cli_usage("cert show", "bad option");
		}
	}
	if (optind < argc)
		return fs_cli_usage("cert show", "unexpected argument '%s'",
		    argv[optind]);
	if (uri == NULL)
		return fs_cli_usage("cert show", "--key is required");
	if ((rc = fs_token_open(uri, &to, &t, &err)) != FS_OK ||
	    (rc = fs_token_login(t, &err)) != FS_OK ||
	    (rc = fs_key_find(t, NULL, CKO_PRIVATE_KEY, &k, &err)) != FS_OK)
		goto fail;
	if ((rc = fs_x509_from_token(k, &x, &none, &err)) != FS_OK) {
		if (none)
			fs_err_append(&err, "make one with 'fedsign cert "
			    "create'");
		goto fail;
	}
	if ((rc = fs_signer_from_key(k, &s, &err)) != FS_OK)
		goto fail;
	match = EVP_PKEY_eq(X509_get0_pubkey(x), fs_signer_pubkey(s)) == 1;
	PEM_write_X509(stdout, x);
	X509_NAME_print_ex_fp(stdout, X509_get_subject_name(x), 0,
	    XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	printf("\n");
	print_fingerprints(x, stdout);
	printf("public key matches the private key: %s\n", match ? "yes" :
	    "NO");
	rc = match ? 0 : 1;
	if (!match)
		fs_cli_warn("the certificate on token '%s' does not belong to "
		    "the key: replace it with 'fedsign cert create --replace'",
		    fs_token_label(t));
	goto done;
fail:
	rc = fs_cli_fail(&err);
done:
	X509_free(x);
	fs_signer_free(s);
	fs_key_free(k);
	fs_token_free(t);
	return rc;
}

int
cmd_cert(int argc, char **argv)
{
	if (argc < 2)
		return fs_cli_usage("cert", "which: create or show?");
	if (strcmp(argv[1], "create") == 0)
		return cert_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return cert_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(create_help, stdout);
		fputc('\n', stdout);
		fputs(show_help, stdout);
		return 0;
	}
	return fs_cli_usage("cert", "unknown cert command '%s'", argv[1]);
}
