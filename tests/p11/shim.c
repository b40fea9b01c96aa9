/*
 * Failure-injecting PKCS#11 module for tests.  It loads the module named by
 * FS_SHIM_MODULE and forwards every call, except where these variables say
 * otherwise:
 *
 *   FS_SHIM_RSA_MAX=2048   RSA key-pair generation maximum (as a
 *                          SmartCard-HSM reports it)
 *   FS_SHIM_NO_TOKEN=1     no token in any slot
 *   FS_SHIM_ONE_SESSION=1  a second concurrent session gets CKR_SESSION_COUNT
 *   FS_SHIM_NO_HASH_SIGN=1 hide CKM_SHA*_RSA_PKCS: hash on the host
 *   FS_SHIM_SIGN_FAIL=1    C_Sign answers CKR_DEVICE_REMOVED
 *   FS_SHIM_COUNT=FILE     append one line per C_Login and C_Sign to FILE
 *   FS_SHIM_HANG=CALLS     never return from these calls (C_Initialize,
 *                          C_Login, C_Sign, C_Finalize; comma-separated)
 *   FS_SHIM_SIGLEN=N       C_Sign succeeds but reports N bytes
 *   FS_SHIM_FINALIZE_CRASH=1  C_Finalize dies of SIGSEGV
 *   FS_SHIM_CERT_FAIL=1    reading CKA_VALUE of a certificate gives
 *                          CKR_DEVICE_ERROR
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real, shim;
static CK_FUNCTION_LIST_PTR realp;
static void *lib;
static int sessions;

static int
flag(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

static void
count(const char *what)
{
	const char *path = getenv("FS_SHIM_COUNT");
	FILE *f;

	if (path == NULL || (f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "%s\n", what);
	fclose(f);
}

/* Never return from call when FS_SHIM_HANG names it. */
static void
maybe_hang(const char *call)
{
	const char *v = getenv("FS_SHIM_HANG");
	size_t n = strlen(call);

	for (const char *p = v; p != NULL && *p != '\0'; ) {
		if (strncmp(p, call, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			for (;;)
				pause();
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
}

static CK_RV
shim_Initialize(CK_VOID_PTR args)
{
	maybe_hang("C_Initialize");
	return real.C_Initialize(args);
}

static CK_RV
shim_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_OBJECT_CLASS cls;
	CK_ATTRIBUTE c = { CKA_CLASS, &cls, sizeof(cls) };

	if (flag("FS_SHIM_CERT_FAIL") &&
	    real.C_GetAttributeValue(s, o, &c, 1) == CKR_OK &&
	    cls == CKO_CERTIFICATE)
		for (CK_ULONG i = 0; i < n; i++)
			if (t[i].type == CKA_VALUE)
				return CKR_DEVICE_ERROR;
	return real.C_GetAttributeValue(s, o, t, n);
}

static CK_RV
shim_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
	if (flag("FS_SHIM_NO_TOKEN") && present) {
		*n = 0;
		return CKR_OK;
	}
	return real.C_GetSlotList(present, list, n);
}

static CK_RV
shim_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv = real.C_GetSlotInfo(slot, info);

	if (rv == CKR_OK && flag("FS_SHIM_NO_TOKEN"))
		info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
	return rv;
}

static CK_RV
shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	if (flag("FS_SHIM_NO_TOKEN"))
		return CKR_TOKEN_NOT_PRESENT;
	return real.C_GetTokenInfo(slot, info);
}

static CK_RV
shim_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info)
{
	const char *max = getenv("FS_SHIM_RSA_MAX");
	CK_RV rv;

	if (flag("FS_SHIM_NO_HASH_SIGN") && (type == CKM_SHA256_RSA_PKCS ||
	    type == CKM_SHA384_RSA_PKCS || type == CKM_SHA512_RSA_PKCS))
		return CKR_MECHANISM_INVALID;
	rv = real.C_GetMechanismInfo(slot, type, info);
	if (rv == CKR_OK && max != NULL && (type == CKM_RSA_PKCS_KEY_PAIR_GEN ||
	    type == CKM_RSA_PKCS))
		info->ulMaxKeySize = strtoul(max, NULL, 10);
	return rv;
}

static CK_RV
shim_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
	CK_RV rv;

	if (flag("FS_SHIM_ONE_SESSION") && sessions >= 1)
		return CKR_SESSION_COUNT;
	rv = real.C_OpenSession(slot, flags, app, notify, s);
	if (rv == CKR_OK)
		sessions++;
	return rv;
}

static CK_RV
shim_CloseSession(CK_SESSION_HANDLE s)
{
	CK_RV rv = real.C_CloseSession(s);

	if (rv == CKR_OK && sessions > 0)
		sessions--;
	return rv;
}

static CK_RV
shim_Login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin,
    CK_ULONG len)
{
	count("C_Login");
	maybe_hang("C_Login");
	return real.C_Login(s, u, pin, len);
}

static CK_RV
shim_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	const char *over = getenv("FS_SHIM_SIGLEN");
	CK_RV rv;

	count("C_Sign");
	maybe_hang("C_Sign");
	if (flag("FS_SHIM_SIGN_FAIL"))
		return CKR_DEVICE_REMOVED;
	rv = real.C_Sign(s, in, inlen, sig, siglen);
	if (rv == CKR_OK && sig != NULL && over != NULL)
		*siglen = strtoul(over, NULL, 10);
	return rv;
}

static CK_RV
shim_Finalize(CK_VOID_PTR r)
{
	CK_RV rv;

	maybe_hang("C_Finalize");
	if (flag("FS_SHIM_FINALIZE_CRASH"))
		raise(SIGSEGV);
	rv = real.C_Finalize(r);
	sessions = 0;
	return rv;
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	const char *path = getenv("FS_SHIM_MODULE");

	if (lib == NULL) {
		if (path == NULL || (lib = dlopen(path, RTLD_NOW)) == NULL)
			return CKR_GENERAL_ERROR;
		*(void **)&get = dlsym(lib, "C_GetFunctionList");
		if (get == NULL || get(&realp) != CKR_OK)
			return CKR_GENERAL_ERROR;
		real = *realp;
		shim = real;
		shim.C_GetSlotList = shim_GetSlotList;
		shim.C_GetSlotInfo = shim_GetSlotInfo;
		shim.C_GetTokenInfo = shim_GetTokenInfo;
		shim.C_GetMechanismInfo = shim_GetMechanismInfo;
		shim.C_OpenSession = shim_OpenSession;
		shim.C_CloseSession = shim_CloseSession;
		shim.C_Login = shim_Login;
		shim.C_Sign = shim_Sign;
		shim.C_Finalize = shim_Finalize;
		shim.C_Initialize = shim_Initialize;
		shim.C_GetAttributeValue = shim_GetAttributeValue;
	}
	*out = &shim;
	return CKR_OK;
}
