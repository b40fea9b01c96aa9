/*
 * Failure-injecting PKCS#11 module for tests, and a SmartCard-HSM (Nitrokey
 * HSM) emulator over SoftHSM2.  It loads the module named by FS_SHIM_MODULE
 * and forwards every call, except where these variables say otherwise.
 * They are read again on every call (a test may change them between
 * calls); a flag (=1) is on when set, non-empty and not "0".
 *
 *   FS_SHIM_RSA_MAX=2048   RSA key-pair generation maximum (as a
 *                          SmartCard-HSM reports it): the ulMaxKeySize that
 *                          C_GetMechanismInfo gives for CKM_RSA_PKCS and
 *                          CKM_RSA_PKCS_KEY_PAIR_GEN.  Alone it is only
 *                          reported; with FS_SHIM_SMARTCARD, C_GenerateKeyPair
 *                          enforces it too.
 *   FS_SHIM_NO_TOKEN=1     no token in any slot
 *   FS_SHIM_ONE_SESSION=1  a second concurrent session gets CKR_SESSION_COUNT
 *                          (one card behind all slots: open sessions on any
 *                          slot count, those killed by an unplug do not)
 *   FS_SHIM_NO_HASH_SIGN=1 hide CKM_SHA*_RSA_PKCS: hash on the host
 *   FS_SHIM_SIGN_FAIL=1    C_Sign answers CKR_DEVICE_REMOVED
 *   FS_SHIM_FAULT=FILE     while FILE exists, C_Sign answers the CKR_ code
 *                          named on its first line (CKR_DEVICE_ERROR,
 *                          CKR_SESSION_HANDLE_INVALID, ...; a name not
 *                          known here gives CKR_GENERAL_ERROR), or with
 *                          HANG does not return while FILE says so (and
 *                          then signs)
 *   FS_SHIM_COUNT=FILE     append one line per C_Login, C_Sign, C_Logout,
 *                          C_CloseSession and C_Finalize to FILE, the call's
 *                          name ("C_Sign\n"), for every call, before
 *                          anything else happens to it; one O_APPEND write(2)
 *                          a line, so threads and processes may share FILE
 *   FS_SHIM_HANG=CALLS     never return from these calls (C_Initialize,
 *                          C_Login, C_Sign, C_Finalize; comma-separated)
 *   FS_SHIM_HANG_MARK=FILE append the call's name to FILE as it starts to
 *                          hang, so that a test waits for that, not a time
 *   FS_SHIM_SIGLEN=N       C_Sign succeeds but reports N bytes
 *   FS_SHIM_BAD_SIG=N      the Nth signature this process gets from C_Sign
 *                          (1 the first) has its last byte changed: a
 *                          token's fault, for the signer's own check
 *   FS_SHIM_FINALIZE_CRASH=1  C_Finalize dies of SIGSEGV
 *   FS_SHIM_CERT_FAIL=1    reading CKA_VALUE of a certificate gives
 *                          CKR_DEVICE_ERROR
 *
 * A slow, removable token:
 *
 *   FS_SHIM_SIGN_RATE=R    C_Sign and C_SignFinal complete at no more than R
 *                          a second (R > 0, may be fractional: 0.5 is one
 *                          signature every 2 s) for the whole process: all
 *                          slots, sessions and threads share one schedule.
 *                          Each signature holds the token for 1/R s and the
 *                          calling thread blocks until its turn is over, so
 *                          a lone signature takes 1/R s and N queued ones
 *                          N/R s.  Calls that only ask for the length (NULL
 *                          signature buffer) are not slowed.  Each process
 *                          has its own schedule.  0 is no limit; a value
 *                          that is not a number >= 0 makes C_Initialize fail
 *                          with CKR_GENERAL_ERROR and a line on stderr.
 *   FS_SHIM_UNPLUG=FILE    while FILE exists the token is unplugged (tests
 *                          `touch FILE` and later `rm FILE`, from any
 *                          process): C_GetSlotList(CK_TRUE) lists no slot,
 *                          C_GetSlotInfo clears CKF_TOKEN_PRESENT,
 *                          C_GetTokenInfo, C_GetMechanismList,
 *                          C_GetMechanismInfo and C_InitToken answer
 *                          CKR_TOKEN_NOT_PRESENT, C_OpenSession and every
 *                          call on a session CKR_DEVICE_REMOVED.  The slot
 *                          is CKF_REMOVABLE_DEVICE.  Sessions open when the
 *                          shim notices the unplug are dead for good: once
 *                          FILE is gone they answer CKR_SESSION_HANDLE_INVALID
 *                          (C_CloseSession too, though it still frees the
 *                          session underneath).  The unplug also logs the
 *                          token out, so sessions opened after the replug
 *                          need a new C_Login (the PIN is checked again);
 *                          until then C_SignInit and C_DecryptInit answer
 *                          CKR_USER_NOT_LOGGED_IN.  The shim looks at FILE
 *                          (stat) on every call, and a rate-limited
 *                          C_Sign/C_SignFinal also before, every 50 ms
 *                          during, and after its wait, so a signature waiting
 *                          for its turn fails with CKR_DEVICE_REMOVED as soon
 *                          as the token goes.  A call already inside the
 *                          real module when the token goes and that then
 *                          fails answers CKR_DEVICE_REMOVED; one that
 *                          succeeds keeps its result.  An unplug shorter than
 *                          the gap between two calls goes unnoticed.
 *   FS_SHIM_SMARTCARD=1    a SmartCard-HSM through OpenSC: one session at a
 *                          time (FS_SHIM_ONE_SESSION), C_GetTokenInfo says
 *                          ulMaxSessionCount = ulMaxRwSessionCount = 1,
 *                          manufacturer www.CardContact.de, model "PKCS#15
 *                          emulated" (label and serial stay: URIs match), a
 *                          CKF_HW_SLOT | CKF_REMOVABLE_DEVICE slot, RSA keys
 *                          of at most 2048 bits (FS_SHIM_RSA_MAX, and
 *                          C_GenerateKeyPair with a larger CKA_MODULUS_BITS
 *                          answers CKR_KEY_SIZE_RANGE), 2 signatures a second
 *                          (FS_SHIM_SIGN_RATE), and C_SignInit/C_DecryptInit
 *                          on a session that is not logged in answer
 *                          CKR_USER_NOT_LOGGED_IN.  FS_SHIM_ONE_SESSION,
 *                          FS_SHIM_RSA_MAX and FS_SHIM_SIGN_RATE, when set
 *                          and non-empty, override the preset:
 *                          FS_SHIM_ONE_SESSION=0 allows more sessions (and
 *                          ulMaxSessionCount is SoftHSM2's again),
 *                          FS_SHIM_RSA_MAX=4096 allows RSA-4096,
 *                          FS_SHIM_SIGN_RATE=0 signs at full speed.
 *
 * Limits of the emulation over SoftHSM2.  The login state is SoftHSM2's,
 * one per token for the whole process; the unplug ends it with C_Logout on
 * a session still open underneath.  SoftHSM2 then forgets the handles of
 * private objects: after the replug an old key handle answers
 * CKR_OBJECT_HANDLE_INVALID even after the new login (find the key again),
 * and before the login the private key is not found at all (a real card
 * through OpenSC lists it and refuses to use it).  Dead sessions stay open
 * inside SoftHSM2 until they are closed or C_Finalize (SoftHSM2 never reuses
 * a handle, so a dead handle never comes back to life).  C_Finalize forgets
 * all sessions; an unplug in force is noticed again at the next call.
 * Thread-safe: the bookkeeping is under one mutex, which is never held
 * while a call of the real module can block (only around the unplug's
 * short C_Logout, and C_CloseSession of a session opened while the token
 * went).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real, shim;
static CK_FUNCTION_LIST_PTR realp;
static void *lib;

/*
 * The bookkeeping, all under mu: the sessions open in the real module (with
 * the unplug generation each was opened in), C_OpenSession calls under way
 * that count as sessions, the generation (bumped each time the shim sees
 * FILE appear), whether FILE was there at the last look, and the time the
 * rate-limited token is next free (CLOCK_MONOTONIC, nanoseconds).
 */
struct sess {
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	unsigned long gen;
};
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sess *tab;
static size_t ntab, captab;
static unsigned opening;
static unsigned long gen;
static int removed;
static int64_t token_free;

static int
flag(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* A flag that FS_SHIM_SMARTCARD turns on unless the variable is set. */
static int
preset_flag(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		return flag("FS_SHIM_SMARTCARD");
	return strcmp(v, "0") != 0;
}

static int
one_session(void)
{
	return preset_flag("FS_SHIM_ONE_SESSION");
}

/* The reported RSA maximum: 1 and *max when there is one. */
static int
rsa_max(unsigned long *max)
{
	const char *v = getenv("FS_SHIM_RSA_MAX");

	if (v != NULL && (*v != '\0' || !flag("FS_SHIM_SMARTCARD"))) {
		*max = strtoul(v, NULL, 10);
		return 1;
	}
	if (flag("FS_SHIM_SMARTCARD")) {
		*max = 2048;
		return 1;
	}
	return 0;
}

/* FS_SHIM_UNPLUG names a file to watch. */
static int
watching(void)
{
	const char *v = getenv("FS_SHIM_UNPLUG");

	return v != NULL && *v != '\0';
}

/* Signatures per second: 0 for no limit, -1 for a value that is not one. */
static double
sign_rate(void)
{
	const char *v = getenv("FS_SHIM_SIGN_RATE");
	char *end;
	double r;

	if (v == NULL || *v == '\0')
		return flag("FS_SHIM_SMARTCARD") ? 2.0 : 0;
	errno = 0;
	r = strtod(v, &end);
	if (end == v || *end != '\0' || errno != 0 || !(r >= 0) || r > 1e9)
		return -1;
	return r;
}

/* Append the line "WHAT\n" to the file the variable var names, if set. */
static void
note_to(const char *var, const char *what)
{
	const char *path = getenv(var);
	char line[32];
	int fd, n;

	if (path == NULL)
		return;
	n = snprintf(line, sizeof(line), "%s\n", what);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return;
	/* One write: O_APPEND keeps concurrent lines whole. */
	if (write(fd, line, (size_t)n) != n) {
		/* Nothing to do: the count is then short, the test fails. */
	}
	close(fd);
}

static void
count(const char *what)
{
	note_to("FS_SHIM_COUNT", what);
}

/* CKR_OK, or the code FS_SHIM_FAULT's file names while it exists. */
static CK_RV
fault(void)
{
	static const struct { const char *name; CK_RV rv; } codes[] = {
		{ "CKR_DEVICE_ERROR", CKR_DEVICE_ERROR },
		{ "CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED },
		{ "CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY },
		{ "CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT },
		{ "CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID },
		{ "CKR_SESSION_CLOSED", CKR_SESSION_CLOSED },
		{ "CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED },
		{ "CKR_GENERAL_ERROR", CKR_GENERAL_ERROR },
	};
	const char *path = getenv("FS_SHIM_FAULT");
	struct timespec tick = { 0, 50000000L };
	char name[64];
	ssize_t n;
	int fd;

	if (path == NULL || *path == '\0')
		return CKR_OK;
again:
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return CKR_OK;
	n = read(fd, name, sizeof(name) - 1);
	close(fd);
	name[n > 0 ? n : 0] = '\0';
	name[strcspn(name, " \t\r\n")] = '\0';
	if (strcmp(name, "HANG") == 0) {
		nanosleep(&tick, NULL);
		goto again;
	}
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(name, codes[i].name) == 0)
			return codes[i].rv;
	return CKR_GENERAL_ERROR;
}

/* Never return from call when FS_SHIM_HANG names it. */
static void
maybe_hang(const char *call)
{
	const char *v = getenv("FS_SHIM_HANG");
	size_t n = strlen(call);

	for (const char *p = v; p != NULL && *p != '\0'; ) {
		if (strncmp(p, call, n) == 0 && (p[n] == ',' || p[n] == '\0')) {
			note_to("FS_SHIM_HANG_MARK", call);
			for (;;)
				pause();
		}
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
}

static struct sess *
find(CK_SESSION_HANDLE h)
{
	for (size_t i = 0; i < ntab; i++)
		if (tab[i].h == h)
			return &tab[i];
	return NULL;
}

static void
forget(CK_SESSION_HANDLE h)
{
	struct sess *e = find(h);

	if (e != NULL)
		*e = tab[--ntab];
}

/* Sessions that count against FS_SHIM_ONE_SESSION; mu is held. */
static size_t
live_sessions(void)
{
	size_t n = opening;

	for (size_t i = 0; i < ntab; i++)
		if (tab[i].gen == gen)
			n++;
	return n;
}

/*
 * 1 while FS_SHIM_UNPLUG names a file that exists.  The first call that
 * sees it starts a new generation (every session open now is dead) and logs
 * each token with a session out, as pulling a card does.
 */
static int
unplugged(void)
{
	struct stat st;
	int gone;

	gone = watching() && stat(getenv("FS_SHIM_UNPLUG"), &st) == 0;
	pthread_mutex_lock(&mu);
	if (gone && !removed) {
		gen++;
		for (size_t i = 0; i < ntab; i++) {
			size_t j;

			for (j = 0; j < i && tab[j].slot != tab[i].slot; j++)
				;
			if (j == i)	/* the first session on its slot */
				(void)real.C_Logout(tab[i].h);
		}
	}
	removed = gone;
	pthread_mutex_unlock(&mu);
	return gone;
}

static unsigned long
generation(void)
{
	unsigned long g;

	pthread_mutex_lock(&mu);
	g = gen;
	pthread_mutex_unlock(&mu);
	return g;
}

/*
 * Before a call on session s: CKR_OK to go on to the real module, with the
 * generation in *g for leave().
 */
static CK_RV
enter(CK_SESSION_HANDLE s, unsigned long *g)
{
	struct sess *e;
	CK_RV rv = CKR_OK;

	if (unplugged())
		return CKR_DEVICE_REMOVED;
	pthread_mutex_lock(&mu);
	e = find(s);
	if (e != NULL && e->gen != gen)
		rv = CKR_SESSION_HANDLE_INVALID;
	*g = gen;
	pthread_mutex_unlock(&mu);
	return rv;
}

/* After it: a call that failed while the token went was cut short by it. */
static CK_RV
leave(unsigned long g, CK_RV rv)
{
	if (rv != CKR_OK && generation() != g)
		return CKR_DEVICE_REMOVED;
	return rv;
}

/* A session call with no more to it than enter() and leave(). */
#define SESSION_CALL(name, params, args)				\
static CK_RV								\
shim_##name params							\
{									\
	unsigned long g;						\
	CK_RV rv = enter(s, &g);					\
									\
	if (rv != CKR_OK)						\
		return rv;						\
	return leave(g, real.name args);				\
}

SESSION_CALL(C_InitPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin,
    CK_ULONG len), (s, pin, len))
SESSION_CALL(C_SetPIN, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old,
    CK_ULONG oldlen, CK_UTF8CHAR_PTR pin, CK_ULONG len),
    (s, old, oldlen, pin, len))
SESSION_CALL(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR i),
    (s, i))
SESSION_CALL(C_GetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR st,
    CK_ULONG_PTR len), (s, st, len))
SESSION_CALL(C_SetOperationState, (CK_SESSION_HANDLE s, CK_BYTE_PTR st,
    CK_ULONG len, CK_OBJECT_HANDLE ek, CK_OBJECT_HANDLE ak),
    (s, st, len, ek, ak))

static CK_RV
shim_C_Logout(CK_SESSION_HANDLE s)
{
	unsigned long g;
	CK_RV rv;

	count("C_Logout");
	if ((rv = enter(s, &g)) != CKR_OK)
		return rv;
	return leave(g, real.C_Logout(s));
}

SESSION_CALL(C_CreateObject, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t,
    CK_ULONG n, CK_OBJECT_HANDLE_PTR o), (s, t, n, o))
SESSION_CALL(C_CopyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR no),
    (s, o, t, n, no))
SESSION_CALL(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o),
    (s, o))
SESSION_CALL(C_GetObjectSize, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ULONG_PTR n), (s, o, n))
SESSION_CALL(C_SetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, o, t, n))
SESSION_CALL(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t,
    CK_ULONG n), (s, t, n))
SESSION_CALL(C_FindObjects, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o,
    CK_ULONG max, CK_ULONG_PTR n), (s, o, max, n))
SESSION_CALL(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))
SESSION_CALL(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE k), (s, m, k))
SESSION_CALL(C_Encrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_BYTE_PTR out, CK_ULONG_PTR outlen), (s, in, inlen, out, outlen))
SESSION_CALL(C_EncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, in, inlen, out, outlen))
SESSION_CALL(C_EncryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,
    CK_ULONG_PTR outlen), (s, out, outlen))
SESSION_CALL(C_Decrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_BYTE_PTR out, CK_ULONG_PTR outlen), (s, in, inlen, out, outlen))
SESSION_CALL(C_DecryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, in, inlen, out, outlen))
SESSION_CALL(C_DecryptFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,
    CK_ULONG_PTR outlen), (s, out, outlen))
SESSION_CALL(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m), (s, m))
SESSION_CALL(C_Digest, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_BYTE_PTR out, CK_ULONG_PTR outlen), (s, in, inlen, out, outlen))
SESSION_CALL(C_DigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen), (s, in, inlen))
SESSION_CALL(C_DigestKey, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k), (s, k))
SESSION_CALL(C_DigestFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,
    CK_ULONG_PTR outlen), (s, out, outlen))
SESSION_CALL(C_SignUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen), (s, in, inlen))
SESSION_CALL(C_SignRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE k), (s, m, k))
SESSION_CALL(C_SignRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, in, inlen, out, outlen))
SESSION_CALL(C_VerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE k), (s, m, k))
SESSION_CALL(C_Verify, (CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_BYTE_PTR sig, CK_ULONG siglen), (s, in, inlen, sig, siglen))
SESSION_CALL(C_VerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen), (s, in, inlen))
SESSION_CALL(C_VerifyFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig,
    CK_ULONG siglen), (s, sig, siglen))
SESSION_CALL(C_VerifyRecoverInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE k), (s, m, k))
SESSION_CALL(C_VerifyRecover, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig,
    CK_ULONG siglen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, sig, siglen, out, outlen))
SESSION_CALL(C_DigestEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, in, inlen, out, outlen))
SESSION_CALL(C_DecryptDigestUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, in, inlen, out, outlen))
SESSION_CALL(C_SignEncryptUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, in, inlen, out, outlen))
SESSION_CALL(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR in,
    CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen),
    (s, in, inlen, out, outlen))
SESSION_CALL(C_GenerateKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k), (s, m, t, n, k))
SESSION_CALL(C_WrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE wk, CK_OBJECT_HANDLE k, CK_BYTE_PTR out,
    CK_ULONG_PTR outlen), (s, m, wk, k, out, outlen))
SESSION_CALL(C_UnwrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE uk, CK_BYTE_PTR in, CK_ULONG inlen, CK_ATTRIBUTE_PTR t,
    CK_ULONG n, CK_OBJECT_HANDLE_PTR k), (s, m, uk, in, inlen, t, n, k))
SESSION_CALL(C_DeriveKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE bk, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR k), (s, m, bk, t, n, k))
SESSION_CALL(C_SeedRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR seed,
    CK_ULONG len), (s, seed, len))
SESSION_CALL(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR out,
    CK_ULONG len), (s, out, len))
SESSION_CALL(C_GetFunctionStatus, (CK_SESSION_HANDLE s), (s))
SESSION_CALL(C_CancelFunction, (CK_SESSION_HANDLE s), (s))

/*
 * A card wants its PIN again after a replug: with the emulation on, a
 * private-key operation on a session that is not logged in is refused.
 */
static CK_RV
need_login(CK_SESSION_HANDLE s)
{
	CK_SESSION_INFO si;

	if (!flag("FS_SHIM_SMARTCARD") && !watching())
		return CKR_OK;
	if (real.C_GetSessionInfo(s, &si) == CKR_OK &&
	    (si.state == CKS_RO_PUBLIC_SESSION ||
	    si.state == CKS_RW_PUBLIC_SESSION))
		return CKR_USER_NOT_LOGGED_IN;
	return CKR_OK;
}

static CK_RV
shim_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	unsigned long g;
	CK_RV rv = enter(s, &g);

	if (rv == CKR_OK)
		rv = need_login(s);
	if (rv != CKR_OK)
		return rv;
	return leave(g, real.C_SignInit(s, m, k));
}

static CK_RV
shim_DecryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	unsigned long g;
	CK_RV rv = enter(s, &g);

	if (rv == CKR_OK)
		rv = need_login(s);
	if (rv != CKR_OK)
		return rv;
	return leave(g, real.C_DecryptInit(s, m, k));
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The slow token: take the next turn of 1/R s on the one schedule and sleep
 * (outside the mutex) until it is over.  CKR_OK, or CKR_DEVICE_REMOVED when
 * the token goes while the caller waits.
 */
static CK_RV
rate_wait(void)
{
	double r = sign_rate();
	int poll = watching();
	int64_t step, start, until, t, now;
	struct timespec ts;

	if (r <= 0)
		return CKR_OK;
	step = (int64_t)(1e9 / r + 0.5);
	now = now_ns();
	pthread_mutex_lock(&mu);
	start = token_free > now ? token_free : now;
	token_free = start + step;
	pthread_mutex_unlock(&mu);
	until = start + step;
	for (;;) {
		t = poll && until - now > 50000000 ? now + 50000000 : until;
		ts.tv_sec = (time_t)(t / 1000000000);
		ts.tv_nsec = (long)(t % 1000000000);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
		    NULL) == EINTR)
			;
		if (poll && unplugged())
			return CKR_DEVICE_REMOVED;
		if (t == until)
			return CKR_OK;
		now = now_ns();
	}
}

static CK_RV
shim_Initialize(CK_VOID_PTR args)
{
	maybe_hang("C_Initialize");
	if (sign_rate() < 0) {
		fprintf(stderr, "fs_p11shim: FS_SHIM_SIGN_RATE='%s' is not a "
		    "positive number of signatures per second\n",
		    getenv("FS_SHIM_SIGN_RATE"));
		return CKR_GENERAL_ERROR;
	}
	return real.C_Initialize(args);
}

static CK_RV
shim_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_OBJECT_CLASS cls;
	CK_ATTRIBUTE c = { CKA_CLASS, &cls, sizeof(cls) };
	unsigned long g;
	CK_RV rv = enter(s, &g);

	if (rv != CKR_OK)
		return rv;
	if (flag("FS_SHIM_CERT_FAIL") &&
	    real.C_GetAttributeValue(s, o, &c, 1) == CKR_OK &&
	    cls == CKO_CERTIFICATE)
		for (CK_ULONG i = 0; i < n; i++)
			if (t[i].type == CKA_VALUE)
				return CKR_DEVICE_ERROR;
	return leave(g, real.C_GetAttributeValue(s, o, t, n));
}

static CK_RV
shim_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
	if ((flag("FS_SHIM_NO_TOKEN") || unplugged()) && present) {
		*n = 0;
		return CKR_OK;
	}
	return real.C_GetSlotList(present, list, n);
}

static CK_RV
shim_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv = real.C_GetSlotInfo(slot, info);

	if (rv != CKR_OK)
		return rv;
	if (flag("FS_SHIM_SMARTCARD"))
		info->flags |= CKF_HW_SLOT | CKF_REMOVABLE_DEVICE;
	if (watching())
		info->flags |= CKF_REMOVABLE_DEVICE;
	if (flag("FS_SHIM_NO_TOKEN") || unplugged())
		info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
	return rv;
}

/* Copy s into a blank-padded PKCS#11 string field of n bytes. */
static void
pad(CK_UTF8CHAR *field, size_t n, const char *s)
{
	size_t len = strlen(s);

	memset(field, ' ', n);
	memcpy(field, s, len < n ? len : n);
}

static CK_RV
shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv;

	if (flag("FS_SHIM_NO_TOKEN") || unplugged())
		return CKR_TOKEN_NOT_PRESENT;
	rv = real.C_GetTokenInfo(slot, info);
	if (rv == CKR_OK && flag("FS_SHIM_SMARTCARD")) {
		pad(info->manufacturerID, sizeof(info->manufacturerID),
		    "www.CardContact.de");
		pad(info->model, sizeof(info->model), "PKCS#15 emulated");
		if (one_session()) {
			info->ulMaxSessionCount = 1;
			info->ulMaxRwSessionCount = 1;
		}
	}
	return rv;
}

static CK_RV
shim_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
    CK_ULONG_PTR n)
{
	if (unplugged())
		return CKR_TOKEN_NOT_PRESENT;
	return real.C_GetMechanismList(slot, list, n);
}

static CK_RV
shim_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info)
{
	unsigned long max;
	CK_RV rv;

	if (unplugged())
		return CKR_TOKEN_NOT_PRESENT;
	if (flag("FS_SHIM_NO_HASH_SIGN") && (type == CKM_SHA256_RSA_PKCS ||
	    type == CKM_SHA384_RSA_PKCS || type == CKM_SHA512_RSA_PKCS))
		return CKR_MECHANISM_INVALID;
	rv = real.C_GetMechanismInfo(slot, type, info);
	if (rv == CKR_OK && rsa_max(&max) && (type == CKM_RSA_PKCS_KEY_PAIR_GEN ||
	    type == CKM_RSA_PKCS))
		info->ulMaxKeySize = max;
	return rv;
}

static CK_RV
shim_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len,
    CK_UTF8CHAR_PTR label)
{
	if (unplugged())
		return CKR_TOKEN_NOT_PRESENT;
	return real.C_InitToken(slot, pin, len, label);
}

static CK_RV
shim_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
	struct sess *bigger;
	unsigned long g;
	CK_RV rv;

	if (unplugged())
		return CKR_DEVICE_REMOVED;
	pthread_mutex_lock(&mu);
	if (one_session() && live_sessions() >= 1) {
		pthread_mutex_unlock(&mu);
		return CKR_SESSION_COUNT;
	}
	opening++;	/* counts as a session while it opens */
	g = gen;
	pthread_mutex_unlock(&mu);
	rv = real.C_OpenSession(slot, flags, app, notify, s);
	pthread_mutex_lock(&mu);
	opening--;
	if (rv != CKR_OK) {
		pthread_mutex_unlock(&mu);
		return leave(g, rv);
	}
	if (g != gen) {
		/* The token went while the session opened. */
		(void)real.C_CloseSession(*s);
		rv = CKR_DEVICE_REMOVED;
	} else if (ntab == captab && (bigger = realloc(tab, (captab ?
	    2 * captab : 16) * sizeof(*tab))) == NULL) {
		(void)real.C_CloseSession(*s);
		rv = CKR_HOST_MEMORY;
	} else {
		if (ntab == captab) {
			tab = bigger;
			captab = captab ? 2 * captab : 16;
		}
		tab[ntab++] = (struct sess){ *s, slot, g };
	}
	pthread_mutex_unlock(&mu);
	if (rv != CKR_OK)
		*s = CK_INVALID_HANDLE;
	return rv;
}

static CK_RV
shim_CloseSession(CK_SESSION_HANDLE s)
{
	struct sess *e;
	int dead;
	CK_RV rv;

	count("C_CloseSession");
	pthread_mutex_lock(&mu);
	e = find(s);
	dead = e != NULL && e->gen != gen;
	pthread_mutex_unlock(&mu);
	/* Free it underneath in any case: only the answer differs. */
	rv = real.C_CloseSession(s);
	if (rv == CKR_OK) {
		pthread_mutex_lock(&mu);
		forget(s);
		pthread_mutex_unlock(&mu);
	}
	if (unplugged())
		return CKR_DEVICE_REMOVED;
	if (dead)
		return CKR_SESSION_HANDLE_INVALID;
	return rv;
}

static CK_RV
shim_CloseAllSessions(CK_SLOT_ID slot)
{
	CK_RV rv = real.C_CloseAllSessions(slot);

	if (rv == CKR_OK) {
		pthread_mutex_lock(&mu);
		for (size_t i = 0; i < ntab; )
			if (tab[i].slot == slot)
				tab[i] = tab[--ntab];
			else
				i++;
		pthread_mutex_unlock(&mu);
	}
	if (unplugged())
		return CKR_DEVICE_REMOVED;
	return rv;
}

static CK_RV
shim_Login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin,
    CK_ULONG len)
{
	unsigned long g;
	CK_RV rv;

	count("C_Login");
	maybe_hang("C_Login");
	if ((rv = enter(s, &g)) != CKR_OK)
		return rv;
	return leave(g, real.C_Login(s, u, pin, len));
}

static unsigned long signatures;	/* made by C_Sign, for FS_SHIM_BAD_SIG */

static CK_RV
shim_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inlen,
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	const char *over = getenv("FS_SHIM_SIGLEN"), *bad;
	unsigned long g;
	CK_RV rv;

	count("C_Sign");
	maybe_hang("C_Sign");
	if (flag("FS_SHIM_SIGN_FAIL"))
		return CKR_DEVICE_REMOVED;
	if ((rv = fault()) != CKR_OK) {
		/*
		 * A token's error ends the operation (PKCS#11 5.13): end the
		 * real one too, so that SoftHSM2 does not keep it active.
		 */
		CK_BYTE junk[1024];
		CK_ULONG n = sizeof(junk);

		(void)real.C_Sign(s, in, inlen, junk, &n);
		return rv;
	}
	/* The token is looked at before and after the wait for its turn. */
	if ((rv = enter(s, &g)) != CKR_OK)
		return rv;
	if (sig != NULL && ((rv = rate_wait()) != CKR_OK ||
	    (rv = enter(s, &g)) != CKR_OK))
		return rv;
	rv = leave(g, real.C_Sign(s, in, inlen, sig, siglen));
	if (rv == CKR_OK && sig != NULL && *siglen > 0 &&
	    (bad = getenv("FS_SHIM_BAD_SIG")) != NULL &&
	    __atomic_add_fetch(&signatures, 1, __ATOMIC_RELAXED) ==
	    strtoul(bad, NULL, 10))
		sig[*siglen - 1] ^= 0x5a;
	if (rv == CKR_OK && sig != NULL && over != NULL)
		*siglen = strtoul(over, NULL, 10);
	return rv;
}

static CK_RV
shim_SignFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	unsigned long g;
	CK_RV rv;

	if ((rv = enter(s, &g)) != CKR_OK)
		return rv;
	if (sig != NULL && ((rv = rate_wait()) != CKR_OK ||
	    (rv = enter(s, &g)) != CKR_OK))
		return rv;
	return leave(g, real.C_SignFinal(s, sig, siglen));
}

static CK_RV
shim_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv,
    CK_ULONG npriv, CK_OBJECT_HANDLE_PTR pubk, CK_OBJECT_HANDLE_PTR privk)
{
	unsigned long g, max;
	CK_RV rv;

	if ((rv = enter(s, &g)) != CKR_OK)
		return rv;
	if (flag("FS_SHIM_SMARTCARD") && rsa_max(&max) && max > 0 &&
	    m != NULL && (m->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN ||
	    m->mechanism == CKM_RSA_X9_31_KEY_PAIR_GEN) && pub != NULL)
		for (CK_ULONG i = 0; i < npub; i++)
			if (pub[i].type == CKA_MODULUS_BITS &&
			    pub[i].pValue != NULL &&
			    pub[i].ulValueLen == sizeof(CK_ULONG) &&
			    *(CK_ULONG *)pub[i].pValue > max)
				return CKR_KEY_SIZE_RANGE;
	return leave(g, real.C_GenerateKeyPair(s, m, pub, npub, priv, npriv,
	    pubk, privk));
}

static CK_RV
shim_Finalize(CK_VOID_PTR r)
{
	CK_RV rv;

	count("C_Finalize");
	maybe_hang("C_Finalize");
	if (flag("FS_SHIM_FINALIZE_CRASH"))
		raise(SIGSEGV);
	rv = real.C_Finalize(r);
	pthread_mutex_lock(&mu);
	free(tab);
	tab = NULL;
	ntab = captab = 0;
	opening = 0;
	removed = 0;
	pthread_mutex_unlock(&mu);
	return rv;
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	const char *path = getenv("FS_SHIM_MODULE");
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&mu);
	if (lib == NULL) {
		if (path == NULL || (lib = dlopen(path, RTLD_NOW)) == NULL) {
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		*(void **)&get = dlsym(lib, "C_GetFunctionList");
		if (get == NULL || get(&realp) != CKR_OK) {
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		real = *realp;
		shim = real;
		shim.C_GetSlotList = shim_GetSlotList;
		shim.C_GetSlotInfo = shim_GetSlotInfo;
		shim.C_GetTokenInfo = shim_GetTokenInfo;
		shim.C_GetMechanismList = shim_GetMechanismList;
		shim.C_GetMechanismInfo = shim_GetMechanismInfo;
		shim.C_InitToken = shim_InitToken;
		shim.C_InitPIN = shim_C_InitPIN;
		shim.C_SetPIN = shim_C_SetPIN;
		shim.C_OpenSession = shim_OpenSession;
		shim.C_CloseSession = shim_CloseSession;
		shim.C_CloseAllSessions = shim_CloseAllSessions;
		shim.C_GetSessionInfo = shim_C_GetSessionInfo;
		shim.C_GetOperationState = shim_C_GetOperationState;
		shim.C_SetOperationState = shim_C_SetOperationState;
		shim.C_Login = shim_Login;
		shim.C_Logout = shim_C_Logout;
		shim.C_CreateObject = shim_C_CreateObject;
		shim.C_CopyObject = shim_C_CopyObject;
		shim.C_DestroyObject = shim_C_DestroyObject;
		shim.C_GetObjectSize = shim_C_GetObjectSize;
		shim.C_GetAttributeValue = shim_GetAttributeValue;
		shim.C_SetAttributeValue = shim_C_SetAttributeValue;
		shim.C_FindObjectsInit = shim_C_FindObjectsInit;
		shim.C_FindObjects = shim_C_FindObjects;
		shim.C_FindObjectsFinal = shim_C_FindObjectsFinal;
		shim.C_EncryptInit = shim_C_EncryptInit;
		shim.C_Encrypt = shim_C_Encrypt;
		shim.C_EncryptUpdate = shim_C_EncryptUpdate;
		shim.C_EncryptFinal = shim_C_EncryptFinal;
		shim.C_DecryptInit = shim_DecryptInit;
		shim.C_Decrypt = shim_C_Decrypt;
		shim.C_DecryptUpdate = shim_C_DecryptUpdate;
		shim.C_DecryptFinal = shim_C_DecryptFinal;
		shim.C_DigestInit = shim_C_DigestInit;
		shim.C_Digest = shim_C_Digest;
		shim.C_DigestUpdate = shim_C_DigestUpdate;
		shim.C_DigestKey = shim_C_DigestKey;
		shim.C_DigestFinal = shim_C_DigestFinal;
		shim.C_SignInit = shim_SignInit;
		shim.C_Sign = shim_Sign;
		shim.C_SignUpdate = shim_C_SignUpdate;
		shim.C_SignFinal = shim_SignFinal;
		shim.C_SignRecoverInit = shim_C_SignRecoverInit;
		shim.C_SignRecover = shim_C_SignRecover;
		shim.C_VerifyInit = shim_C_VerifyInit;
		shim.C_Verify = shim_C_Verify;
		shim.C_VerifyUpdate = shim_C_VerifyUpdate;
		shim.C_VerifyFinal = shim_C_VerifyFinal;
		shim.C_VerifyRecoverInit = shim_C_VerifyRecoverInit;
		shim.C_VerifyRecover = shim_C_VerifyRecover;
		shim.C_DigestEncryptUpdate = shim_C_DigestEncryptUpdate;
		shim.C_DecryptDigestUpdate = shim_C_DecryptDigestUpdate;
		shim.C_SignEncryptUpdate = shim_C_SignEncryptUpdate;
		shim.C_DecryptVerifyUpdate = shim_C_DecryptVerifyUpdate;
		shim.C_GenerateKey = shim_C_GenerateKey;
		shim.C_GenerateKeyPair = shim_GenerateKeyPair;
		shim.C_WrapKey = shim_C_WrapKey;
		shim.C_UnwrapKey = shim_C_UnwrapKey;
		shim.C_DeriveKey = shim_C_DeriveKey;
		shim.C_SeedRandom = shim_C_SeedRandom;
		shim.C_GenerateRandom = shim_C_GenerateRandom;
		shim.C_GetFunctionStatus = shim_C_GetFunctionStatus;
		shim.C_CancelFunction = shim_C_CancelFunction;
		shim.C_Finalize = shim_Finalize;
		shim.C_Initialize = shim_Initialize;
	}
	*out = &shim;
out:
	pthread_mutex_unlock(&mu);
	return rv;
}
