/*
 * Test helper: put one PEM RSA key pair (openssl genrsa) on a token, as a
 * private key object (sensitive, not extractable, sign only) and a public
 * key object with the same CKA_ID and CKA_LABEL, and optionally its
 * certificate.  fedsign makes keys that never leave their token; tests of
 * a key with copies on several tokens need the same key on each, as two
 * HSMs restored from one backup hold it.
 *
 *   p11-import MODULE TOKEN-LABEL PIN-FILE KEY.pem LABEL ID-HEX [CERT.pem]
 *
 * The module is loaded with dlopen (SoftHSM2, or the test shim).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static CK_FUNCTION_LIST_PTR f;

static void
die(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11-import: %s: CKR 0x%lx\n", what, (unsigned long)rv);
	exit(1);
}

/* The big-endian bytes of the key parameter name. */
static unsigned char *
param(EVP_PKEY *k, const char *name, CK_ULONG *len)
{
	BIGNUM *bn = NULL;
	unsigned char *b;

	if (!EVP_PKEY_get_bn_param(k, name, &bn)) {
		fprintf(stderr, "p11-import: the key has no %s\n", name);
		exit(1);
	}
	*len = (CK_ULONG)BN_num_bytes(bn);
	if ((b = malloc(*len ? *len : 1)) == NULL)
		exit(1);
	BN_bn2bin(bn, b);
	BN_clear_free(bn);
	return b;
}

static int
unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = strlen(s);

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return (int)(n / 2);
}

int
main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, pubc = CKO_PUBLIC_KEY,
	    certc = CKO_CERTIFICATE;
	CK_KEY_TYPE rsa = CKK_RSA;
	CK_CERTIFICATE_TYPE x509 = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[64], slot = 0;
	CK_ULONG ns = 64, len[8];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	unsigned char id[64], *v[8];
	char pin[256];
	const char *names[8] = { OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
	    OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
	    OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
	    OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1 };
	EVP_PKEY *k;
	FILE *fp;
	void *lib;
	int idlen, found = 0;
	CK_RV rv;

	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: p11-import MODULE TOKEN-LABEL PIN-FILE "
		    "KEY.pem LABEL ID-HEX [CERT.pem]\n");
		return 2;
	}
	if ((idlen = unhex(argv[6], id, sizeof(id))) <= 0) {
		fprintf(stderr, "p11-import: bad id '%s'\n", argv[6]);
		return 2;
	}
	if ((fp = fopen(argv[3], "r")) == NULL || fgets(pin, sizeof(pin), fp) ==
	    NULL) {
		fprintf(stderr, "p11-import: cannot read %s\n", argv[3]);
		return 1;
	}
	fclose(fp);
	pin[strcspn(pin, "\r\n")] = '\0';
	if ((fp = fopen(argv[4], "r")) == NULL ||
	    (k = PEM_read_PrivateKey(fp, NULL, NULL, NULL)) == NULL ||
	    EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		fprintf(stderr, "p11-import: %s is not a PEM RSA key\n",
		    argv[4]);
		return 1;
	}
	fclose(fp);
	for (int i = 0; i < 8; i++)
		v[i] = param(k, names[i], &len[i]);
	if ((lib = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) ==
	    NULL || gfl(&f) != CKR_OK) {
		fprintf(stderr, "p11-import: cannot load %s\n", argv[1]);
		return 1;
	}
	if ((rv = f->C_Initialize(&ia)) != CKR_OK)
		die("C_Initialize", rv);
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &ns)) != CKR_OK)
		die("C_GetSlotList", rv);
	for (CK_ULONG i = 0; i < ns && !found; i++) {
		CK_TOKEN_INFO ti;
		char label[33];
		size_t n = 32;

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(label, ti.label, 32);
		while (n > 0 && label[n - 1] == ' ')
			n--;
		label[n] = '\0';
		if (strcmp(label, argv[2]) == 0) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "p11-import: no token '%s'\n", argv[2]);
		return 1;
	}
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s)) != CKR_OK)
		die("C_OpenSession", rv);
	if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin))) !=
	    CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		die("C_Login", rv);
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &priv, sizeof(priv) },
			{ CKA_KEY_TYPE, &rsa, sizeof(rsa) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },
			{ CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_DECRYPT, &no, sizeof(no) },
			{ CKA_LABEL, argv[5], strlen(argv[5]) },
			{ CKA_ID, id, (CK_ULONG)idlen },
			{ CKA_MODULUS, v[0], len[0] },
			{ CKA_PUBLIC_EXPONENT, v[1], len[1] },
			{ CKA_PRIVATE_EXPONENT, v[2], len[2] },
			{ CKA_PRIME_1, v[3], len[3] },
			{ CKA_PRIME_2, v[4], len[4] },
			{ CKA_EXPONENT_1, v[5], len[5] },
			{ CKA_EXPONENT_2, v[6], len[6] },
			{ CKA_COEFFICIENT, v[7], len[7] },
		};
		if ((rv = f->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]),
		    &h)) != CKR_OK)
			die("C_CreateObject (private key)", rv);
	}
	{
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &pubc, sizeof(pubc) },
			{ CKA_KEY_TYPE, &rsa, sizeof(rsa) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_LABEL, argv[5], strlen(argv[5]) },
			{ CKA_ID, id, (CK_ULONG)idlen },
			{ CKA_MODULUS, v[0], len[0] },
			{ CKA_PUBLIC_EXPONENT, v[1], len[1] },
		};
		if ((rv = f->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]),
		    &h)) != CKR_OK)
			die("C_CreateObject (public key)", rv);
	}
	if (argc == 8) {
		unsigned char *der = NULL, *subj = NULL;
		int dlen, slen;
		X509 *x;

		if ((fp = fopen(argv[7], "r")) == NULL ||
		    (x = PEM_read_X509(fp, NULL, NULL, NULL)) == NULL) {
			fprintf(stderr, "p11-import: %s is not a PEM "
			    "certificate\n", argv[7]);
			return 1;
		}
		fclose(fp);
		dlen = i2d_X509(x, &der);
		slen = i2d_X509_NAME(X509_get_subject_name(x), &subj);
		if (dlen <= 0 || slen <= 0)
			return 1;
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &certc, sizeof(certc) },
			{ CKA_CERTIFICATE_TYPE, &x509, sizeof(x509) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_LABEL, argv[5], strlen(argv[5]) },
			{ CKA_ID, id, (CK_ULONG)idlen },
			{ CKA_SUBJECT, subj, (CK_ULONG)slen },
			{ CKA_VALUE, der, (CK_ULONG)dlen },
		};
		if ((rv = f->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]),
		    &h)) != CKR_OK)
			die("C_CreateObject (certificate)", rv);
		OPENSSL_free(der);
		OPENSSL_free(subj);
		X509_free(x);
	}
	for (int i = 0; i < 8; i++) {
		OPENSSL_cleanse(v[i], len[i]);
		free(v[i]);
	}
	EVP_PKEY_free(k);
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
