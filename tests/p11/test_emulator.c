/*
 * The SmartCard-HSM emulator of shim.c, loaded with dlopen (the path is
 * argv[1]) over SoftHSM2, on a token this test makes in a temporary
 * folder: the signing rate, the one-session RSA-2048 preset, unplugging
 * and replugging, and FS_SHIM_COUNT from several threads.  Each test sets
 * the FS_SHIM_* variables it needs (the shim reads them on every call)
 * while no other thread runs, and starts with no session open.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define PIN "123456"
#define SOPIN "87654321"
#define LABEL "emu"

extern char **environ;

static const char *shim_path;
static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static char dir[64], unplug_file[128], count_file[128];

static const char *const vars[] = {
	"FS_SHIM_RSA_MAX", "FS_SHIM_NO_TOKEN", "FS_SHIM_ONE_SESSION",
	"FS_SHIM_NO_HASH_SIGN", "FS_SHIM_SIGN_FAIL", "FS_SHIM_COUNT",
	"FS_SHIM_HANG", "FS_SHIM_HANG_MARK", "FS_SHIM_SIGLEN",
	"FS_SHIM_FINALIZE_CRASH", "FS_SHIM_CERT_FAIL", "FS_SHIM_SIGN_RATE",
	"FS_SHIM_UNPLUG", "FS_SHIM_SMARTCARD", NULL
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static void
touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	assert_true(fd >= 0);
	close(fd);
}

/* The first slot whose token is labelled LABEL. */
static int
find_slot(CK_SLOT_ID *out)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;

	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (CK_ULONG i = 0; i < n && i < 16; i++) {
		CK_TOKEN_INFO ti;

		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, LABEL " ", 4) == 0) {
			*out = slots[i];
			return 0;
		}
	}
	return -1;
}

static CK_RV
login(CK_SESSION_HANDLE s)
{
	CK_RV rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)PIN, strlen(PIN));

	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

static CK_SESSION_HANDLE
open_login(void)
{
	CK_SESSION_HANDLE s;

	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &s), CKR_OK);
	assert_int_equal(login(s), CKR_OK);
	return s;
}

/* How many private keys labelled "k" s sees; the last in *k. */
static CK_ULONG
find_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *k)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, "k", 1 },
	};
	CK_OBJECT_HANDLE o[2];
	CK_ULONG n = 0;

	assert_int_equal(f->C_FindObjectsInit(s, t, 2), CKR_OK);
	assert_int_equal(f->C_FindObjects(s, o, 2, &n), CKR_OK);
	assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
	if (n > 0)
		*k = o[n - 1];
	return n;
}

static CK_OBJECT_HANDLE
key(CK_SESSION_HANDLE s)
{
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;

	assert_int_equal(find_key(s, &k), 1);
	return k;
}

static CK_RV
sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
	static const CK_BYTE msg[] = "<md:EntitiesDescriptor/>";
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[512];
	CK_ULONG len = sizeof(sig);
	CK_RV rv;

	if ((rv = f->C_SignInit(s, &m, k)) != CKR_OK)
		return rv;
	rv = f->C_Sign(s, (CK_BYTE_PTR)msg, sizeof(msg) - 1, sig, &len);
	if (rv == CKR_OK && len != 256)
		return CKR_FUNCTION_FAILED;	/* not a 2048-bit signature */
	return rv;
}

/* An RSA key pair of bits in the session (not on the token). */
static CK_RV
keygen(CK_SESSION_HANDLE s, CK_ULONG bits)
{
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE e[] = { 1, 0, 1 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pub[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, e, sizeof(e) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE pk, sk;

	return f->C_GenerateKeyPair(s, &m, pub, 4, priv, 4, &pk, &sk);
}

struct job {
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE k;
	int n, ok;
	CK_RV last;
	double took;
};

static void *
signer(void *p)
{
	struct job *j = p;
	double t0 = now();

	for (int i = 0; i < j->n; i++) {
		CK_RV rv = sign(j->s, j->k);

		if (rv == CKR_OK)
			j->ok++;
		else
			j->last = rv;
	}
	j->took = now() - t0;
	return NULL;
}

/* Run jobs[0..n) on n threads at once; seconds for all of them. */
static double
run(struct job *jobs, int n)
{
	pthread_t th[8];
	double t0 = now();

	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_create(&th[i], NULL, signer,
		    &jobs[i]), 0);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return now() - t0;
}

/* No FS_SHIM_* but the module, no session, the token plugged in. */
static int
reset(void **state)
{
	(void)state;
	for (int i = 0; vars[i] != NULL; i++)
		unsetenv(vars[i]);
	unlink(unplug_file);
	unlink(count_file);
	return f->C_CloseAllSessions(slot) == CKR_OK ? 0 : -1;
}

static int
setup(void **state)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_UTF8CHAR label[32];
	CK_SLOT_ID first;
	CK_ULONG n = 1, bits = 2048;
	CK_SESSION_HANDLE s;
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE e[] = { 1, 0, 1 }, id[] = { 1 };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pub[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, e, sizeof(e) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_LABEL, "k", 1 },
		{ CKA_ID, id, sizeof(id) },
	};
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, "k", 1 },
		{ CKA_ID, id, sizeof(id) },
	};
	CK_OBJECT_HANDLE pk, sk;
	char path[160];
	FILE *c;
	void *lib;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedsign-emu.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
	if ((c = fopen(path, "w")) == NULL)
		return -1;
	fprintf(c, "directories.tokendir = %s/tokens\nobjectstore.backend = "
	    "file\nlog.level = ERROR\nslots.removable = false\n", dir);
	fclose(c);
	setenv("SOFTHSM2_CONF", path, 1);
	setenv("FS_SHIM_MODULE", MODULE, 1);
	snprintf(unplug_file, sizeof(unplug_file), "%s/unplugged", dir);
	snprintf(count_file, sizeof(count_file), "%s/calls", dir);
	for (int i = 0; vars[i] != NULL; i++)
		unsetenv(vars[i]);

	if ((lib = dlopen(shim_path, RTLD_NOW)) == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return -1;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK ||
	    f->C_Initialize(&args) != CKR_OK ||
	    f->C_GetSlotList(CK_TRUE, &first, &n) != CKR_OK || n < 1)
		return -1;
	/* What `fedsign token init` and `fedsign keygen --type rsa:2048` do. */
	memset(label, ' ', sizeof(label));
	memcpy(label, LABEL, strlen(LABEL));
	if (f->C_InitToken(first, (CK_UTF8CHAR *)SOPIN, strlen(SOPIN),
	    label) != CKR_OK || find_slot(&slot) != 0 ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)SOPIN, strlen(SOPIN)) != CKR_OK ||
	    f->C_InitPIN(s, (CK_UTF8CHAR *)PIN, strlen(PIN)) != CKR_OK ||
	    f->C_Logout(s) != CKR_OK || login(s) != CKR_OK ||
	    f->C_GenerateKeyPair(s, &m, pub, 6, priv, 6, &pk, &sk) != CKR_OK ||
	    f->C_CloseSession(s) != CKR_OK)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	if (f != NULL)
		f->C_Finalize(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* FS_SHIM_SIGN_RATE=5: 10 signatures from 2 threads take about 2 s. */
static void
test_rate(void **state)
{
	struct job j[2] = { { 0 } };
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[512];
	CK_ULONG len;
	double t;

	(void)state;
	j[0].s = open_login();
	j[1].s = open_login();
	j[0].k = j[1].k = key(j[0].s);
	j[0].n = j[1].n = 5;
	setenv("FS_SHIM_SIGN_RATE", "5", 1);
	t = run(j, 2);
	print_message("# 10 signatures at 5/s on 2 threads: %.3f s\n", t);
	assert_int_equal(j[0].ok + j[1].ok, 10);
	assert_true(t >= 1.8);
	assert_true(t < 3.0);

	/* A lone signature on an idle token takes its turn too: 1/R s. */
	setenv("FS_SHIM_SIGN_RATE", "20", 1);
	t = now();
	assert_int_equal(sign(j[0].s, j[0].k), CKR_OK);
	t = now() - t;
	assert_true(t >= 0.045 && t < 1.0);

	/* C_SignFinal takes its turn too; asking for the length does not. */
	setenv("FS_SHIM_SIGN_RATE", "4", 1);
	assert_int_equal(f->C_SignInit(j[0].s, &m, j[0].k), CKR_OK);
	assert_int_equal(f->C_SignUpdate(j[0].s, (CK_BYTE_PTR)"abc", 3), CKR_OK);
	t = now();
	len = 0;
	assert_int_equal(f->C_SignFinal(j[0].s, NULL, &len), CKR_OK);
	assert_int_equal(len, 256);
	assert_true(now() - t < 0.2);
	len = sizeof(sig);
	assert_int_equal(f->C_SignFinal(j[0].s, sig, &len), CKR_OK);
	t = now() - t;
	assert_true(t >= 0.24 && t < 1.2);
}

/* FS_SHIM_SMARTCARD=1: one session, RSA-2048 at most, 2 signatures/s. */
static void
test_smartcard(void **state)
{
	CK_SESSION_HANDLE a, b;
	CK_MECHANISM_INFO mi;
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	double t;

	(void)state;
	setenv("FS_SHIM_SMARTCARD", "1", 1);
	a = open_login();
	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &b), CKR_SESSION_COUNT);
	assert_int_equal(f->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_int_equal(ti.ulMaxSessionCount, 1);
	assert_int_equal(ti.ulMaxRwSessionCount, 1);
	assert_memory_equal(ti.label, LABEL " ", 4);
	assert_memory_equal(ti.model, "PKCS#15 emulated", 16);
	assert_int_equal(f->C_GetSlotInfo(slot, &si), CKR_OK);
	assert_true(si.flags & CKF_REMOVABLE_DEVICE);
	assert_true(si.flags & CKF_TOKEN_PRESENT);
	assert_int_equal(f->C_GetMechanismInfo(slot, CKM_RSA_PKCS_KEY_PAIR_GEN,
	    &mi), CKR_OK);
	assert_int_equal(mi.ulMaxKeySize, 2048);
	assert_int_equal(f->C_GetMechanismInfo(slot, CKM_RSA_PKCS, &mi), CKR_OK);
	assert_int_equal(mi.ulMaxKeySize, 2048);
	assert_int_equal(keygen(a, 3072), CKR_KEY_SIZE_RANGE);
	assert_int_equal(keygen(a, 4096), CKR_KEY_SIZE_RANGE);
	assert_int_equal(keygen(a, 2048), CKR_OK);

	/* Two signatures at the preset's 2/s: 1 s. */
	t = now();
	assert_int_equal(sign(a, key(a)), CKR_OK);
	assert_int_equal(sign(a, key(a)), CKR_OK);
	t = now() - t;
	print_message("# 2 signatures at the preset's rate: %.3f s\n", t);
	assert_true(t >= 0.95 && t < 1.8);

	/* The session count comes back when the session is closed. */
	assert_int_equal(f->C_CloseSession(a), CKR_OK);
	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &a), CKR_OK);
	assert_int_equal(f->C_CloseSession(a), CKR_OK);

	/* Individual variables override the preset. */
	setenv("FS_SHIM_ONE_SESSION", "0", 1);
	setenv("FS_SHIM_RSA_MAX", "4096", 1);
	setenv("FS_SHIM_SIGN_RATE", "0", 1);
	a = open_login();
	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &b), CKR_OK);
	assert_int_equal(f->C_GetTokenInfo(slot, &ti), CKR_OK);
	assert_int_not_equal(ti.ulMaxSessionCount, 1);
	assert_int_equal(f->C_GetMechanismInfo(slot, CKM_RSA_PKCS_KEY_PAIR_GEN,
	    &mi), CKR_OK);
	assert_int_equal(mi.ulMaxKeySize, 4096);
	assert_int_equal(keygen(a, 8192), CKR_KEY_SIZE_RANGE);
	/* 8 signatures at the preset's rate would take 4 s. */
	t = now();
	for (int i = 0; i < 8; i++)
		assert_int_equal(sign(b, key(b)), CKR_OK);
	assert_true(now() - t < 3.0);
}

/* FS_SHIM_UNPLUG: the token goes, its sessions die, a new login works. */
static void
test_unplug(void **state)
{
	CK_SESSION_HANDLE a, b, c;
	CK_SESSION_INFO sinfo;
	CK_OBJECT_HANDLE k, old;
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[512];
	CK_ULONG len = sizeof(sig), n;
	CK_SLOT_ID slots[8];
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	CK_ATTRIBUTE lab = { CKA_LABEL, sig, sizeof(sig) };

	(void)state;
	setenv("FS_SHIM_SMARTCARD", "1", 1);
	setenv("FS_SHIM_SIGN_RATE", "50", 1);
	setenv("FS_SHIM_UNPLUG", unplug_file, 1);
	a = open_login();
	old = key(a);
	assert_int_equal(sign(a, old), CKR_OK);
	assert_int_equal(f->C_SignInit(a, &m, old), CKR_OK);

	touch(unplug_file);
	assert_int_equal(f->C_Sign(a, (CK_BYTE_PTR)"x", 1, sig, &len),
	    CKR_DEVICE_REMOVED);
	n = 8;
	assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	assert_int_equal(n, 0);
	n = 8;
	assert_int_equal(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
	assert_true(n >= 1);
	assert_int_equal(f->C_GetSlotInfo(slot, &si), CKR_OK);
	assert_false(si.flags & CKF_TOKEN_PRESENT);
	assert_int_equal(f->C_GetTokenInfo(slot, &ti), CKR_TOKEN_NOT_PRESENT);
	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &b), CKR_DEVICE_REMOVED);
	assert_int_equal(f->C_SignInit(a, &m, old), CKR_DEVICE_REMOVED);
	assert_int_equal(f->C_Login(a, CKU_USER, (CK_UTF8CHAR *)PIN,
	    strlen(PIN)), CKR_DEVICE_REMOVED);
	assert_int_equal(f->C_FindObjectsInit(a, NULL, 0), CKR_DEVICE_REMOVED);
	assert_int_equal(f->C_GetAttributeValue(a, old, &lab, 1),
	    CKR_DEVICE_REMOVED);
	assert_int_equal(f->C_GetSessionInfo(a, &sinfo), CKR_DEVICE_REMOVED);

	assert_int_equal(unlink(unplug_file), 0);
	n = 8;
	assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(f->C_GetTokenInfo(slot, &ti), CKR_OK);
	/* The old session stays dead... */
	assert_int_equal(f->C_Sign(a, (CK_BYTE_PTR)"x", 1, sig, &len),
	    CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_SignInit(a, &m, old), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetSessionInfo(a, &sinfo),
	    CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_Login(a, CKU_USER, (CK_UTF8CHAR *)PIN,
	    strlen(PIN)), CKR_SESSION_HANDLE_INVALID);
	/* ...and does not count: a new one opens (one session allowed). */
	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &b), CKR_OK);
	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &c), CKR_SESSION_COUNT);
	/* It needs a new login, and the PIN is checked again. */
	assert_int_equal(f->C_GetSessionInfo(b, &sinfo), CKR_OK);
	assert_int_equal(sinfo.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(f->C_SignInit(b, &m, old), CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(find_key(b, &k), 0);
	assert_int_equal(f->C_Login(b, CKU_USER, (CK_UTF8CHAR *)"999999", 6),
	    CKR_PIN_INCORRECT);
	assert_int_equal(f->C_Login(b, CKU_USER, (CK_UTF8CHAR *)PIN,
	    strlen(PIN)), CKR_OK);
	k = key(b);
	assert_int_equal(sign(b, k), CKR_OK);
	/* SoftHSM2 forgets private object handles when it logs out. */
	assert_int_equal(f->C_SignInit(b, &m, old), CKR_OBJECT_HANDLE_INVALID);
	/* Closing the dead session frees it underneath; the answer stays. */
	assert_int_equal(f->C_CloseSession(a), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_CloseSession(a), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(sign(b, k), CKR_OK);
	assert_int_equal(f->C_CloseSession(b), CKR_OK);
}

/*
 * A signature waiting for its turn (FS_SHIM_SIGN_RATE=1) when another
 * process unplugs the token fails at once, and its session stays dead.
 */
static void
test_unplug_while_waiting(void **state)
{
	struct job j = { 0 };
	char *argv[] = { "touch", unplug_file, NULL };
	pthread_t th;
	pid_t pid;
	int st;

	(void)state;
	setenv("FS_SHIM_UNPLUG", unplug_file, 1);
	j.s = open_login();
	j.k = key(j.s);
	j.n = 1;
	setenv("FS_SHIM_SIGN_RATE", "1", 1);
	assert_int_equal(pthread_create(&th, NULL, signer, &j), 0);
	nap(0.3);
	assert_int_equal(posix_spawnp(&pid, "touch", NULL, NULL, argv,
	    environ), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pthread_join(th, NULL);
	print_message("# C_Sign waiting for its turn gave 0x%lx after %.3f s\n",
	    (unsigned long)j.last, j.took);
	assert_int_equal(j.ok, 0);
	assert_int_equal(j.last, CKR_DEVICE_REMOVED);
	assert_true(j.took >= 0.25 && j.took < 0.8);
	assert_int_equal(unlink(unplug_file), 0);
	assert_int_equal(sign(j.s, j.k), CKR_SESSION_HANDLE_INVALID);
	/* A new session and login sign again (at 1/s: 1 s). */
	j.s = open_login();
	j.k = key(j.s);
	assert_int_equal(sign(j.s, j.k), CKR_OK);
}

/* FS_SHIM_COUNT from 4 threads x 50 signatures: exactly 200 lines. */
static void
test_count(void **state)
{
	struct job j[4] = { { 0 } };
	char line[64];
	int lines = 0, signs = 0;
	FILE *c;

	(void)state;
	for (int i = 0; i < 4; i++) {
		j[i].s = open_login();
		j[i].n = 50;
	}
	j[0].k = key(j[0].s);
	for (int i = 1; i < 4; i++)
		j[i].k = j[0].k;
	setenv("FS_SHIM_COUNT", count_file, 1);
	run(j, 4);
	unsetenv("FS_SHIM_COUNT");
	for (int i = 0; i < 4; i++)
		assert_int_equal(j[i].ok, 50);
	assert_non_null(c = fopen(count_file, "r"));
	while (fgets(line, sizeof(line), c) != NULL) {
		lines++;
		signs += strcmp(line, "C_Sign\n") == 0;
	}
	fclose(c);
	assert_int_equal(lines, 200);
	assert_int_equal(signs, 200);
}

/*
 * A rate that is not a number is refused at C_Initialize; after a new
 * C_Initialize the old handles are SoftHSM2's to refuse.
 */
static void
test_reinit(void **state)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_SESSION_HANDLE a = open_login();
	CK_SESSION_INFO si;

	(void)state;
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
	setenv("FS_SHIM_SIGN_RATE", "fast", 1);
	assert_int_equal(f->C_Initialize(&args), CKR_GENERAL_ERROR);
	setenv("FS_SHIM_SIGN_RATE", "-1", 1);
	assert_int_equal(f->C_Initialize(&args), CKR_GENERAL_ERROR);
	setenv("FS_SHIM_SIGN_RATE", "0.5", 1);
	assert_int_equal(f->C_Initialize(&args), CKR_OK);
	assert_int_equal(f->C_GetSessionInfo(a, &si),
	    CKR_SESSION_HANDLE_INVALID);
	/* SoftHSM2 numbers an initialised token's slot anew. */
	assert_int_equal(find_slot(&slot), 0);
	setenv("FS_SHIM_ONE_SESSION", "1", 1);
	a = open_login();
	assert_int_equal(f->C_CloseSession(a), CKR_OK);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_rate, reset),
		cmocka_unit_test_setup(test_smartcard, reset),
		cmocka_unit_test_setup(test_unplug, reset),
		cmocka_unit_test_setup(test_unplug_while_waiting, reset),
		cmocka_unit_test_setup(test_count, reset),
		cmocka_unit_test_setup(test_reinit, reset),
	};

	shim_path = argc > 1 ? argv[1] : getenv("SHIM");
	if (shim_path == NULL) {
		fprintf(stderr, "usage: %s PATH-OF-libfs_p11shim.so\n", argv[0]);
		return 2;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
