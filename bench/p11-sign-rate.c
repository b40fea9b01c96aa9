/*
 * The raw signing rate of a PKCS#11 key: THREADS threads, each with a
 * session of its own (one login for the token), C_SignInit + C_Sign with
 * CKM_SHA256_RSA_PKCS over a SignedInfo-sized message, for SECONDS.  The
 * yardstick fedsign's parallel signing is measured against.
 *
 *   p11-sign-rate MODULE TOKEN-LABEL KEY-LABEL PIN-FILE THREADS SECONDS
 *
 * prints "threads N signatures S seconds T rate R".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static const char *key_label;
static double seconds;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long total;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
die(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11-sign-rate: %s: CKR 0x%lx\n", what,
	    (unsigned long)rv);
	exit(1);
}

static CK_OBJECT_HANDLE
find_key(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)key_label, strlen(key_label) },
	};
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = f->C_FindObjectsInit(s, t, 2)) != CKR_OK)
		die("C_FindObjectsInit", rv);
	if ((rv = f->C_FindObjects(s, &h, 1, &n)) != CKR_OK)
		die("C_FindObjects", rv);
	f->C_FindObjectsFinal(s);
	if (n != 1)
		die("no such key", 0);
	return h;
}

static void *
worker(void *arg)
{
	CK_SESSION_HANDLE s = *(CK_SESSION_HANDLE *)arg;
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_OBJECT_HANDLE k = find_key(s);
	unsigned char msg[700], sig[1024];
	unsigned long n = 0;
	double end = now() + seconds;
	CK_RV rv;

	memset(msg, 'x', sizeof(msg));
	while (now() < end) {
		CK_ULONG len = sizeof(sig);

		if ((rv = f->C_SignInit(s, &m, k)) != CKR_OK)
			die("C_SignInit", rv);
		if ((rv = f->C_Sign(s, msg, sizeof(msg), sig, &len)) != CKR_OK)
			die("C_Sign", rv);
		n++;
	}
	pthread_mutex_lock(&lock);
	total += n;
	pthread_mutex_unlock(&lock);
	return NULL;
}

int
main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[64];
	CK_ULONG ns = 64;
	CK_SESSION_HANDLE sess[64];
	pthread_t th[64];
	char pin[256];
	FILE *pf;
	void *lib;
	int threads;
	double t0, t1;
	CK_RV rv;

	if (argc != 7) {
		fprintf(stderr, "usage: p11-sign-rate MODULE TOKEN-LABEL "
		    "KEY-LABEL PIN-FILE THREADS SECONDS\n");
		return 2;
	}
	key_label = argv[3];
	threads = atoi(argv[5]);
	seconds = atof(argv[6]);
	if (threads < 1 || threads > 64 || seconds <= 0)
		return 2;
	if ((lib = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) ==
	    NULL || gfl(&f) != CKR_OK)
		die("loading the module", 0);
	if ((rv = f->C_Initialize(&ia)) != CKR_OK)
		die("C_Initialize", rv);
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &ns)) != CKR_OK)
		die("C_GetSlotList", rv);
	for (CK_ULONG i = 0; i < ns; i++) {
		CK_TOKEN_INFO ti;
		char label[33];
		size_t l = strlen(argv[2]);

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(label, ti.label, 32);
		label[32] = '\0';
		if (l <= 32 && memcmp(label, argv[2], l) == 0 &&
		    (l == 32 || label[l] == ' ')) {
			slot = slots[i];
			goto found;
		}
	}
	die("no such token", 0);
found:
	if ((pf = fopen(argv[4], "r")) == NULL ||
	    fgets(pin, sizeof(pin), pf) == NULL)
		die("reading the PIN file", 0);
	fclose(pf);
	pin[strcspn(pin, "\r\n")] = '\0';
	for (int i = 0; i < threads; i++)
		if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
		    &sess[i])) != CKR_OK)
			die("C_OpenSession", rv);
	if ((rv = f->C_Login(sess[0], CKU_USER, (CK_UTF8CHAR_PTR)pin,
	    strlen(pin))) != CKR_OK)
		die("C_Login", rv);
	memset(pin, 0, sizeof(pin));
	t0 = now();
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, worker, &sess[i]) != 0)
			die("pthread_create", 0);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t1 = now();
	printf("threads %d signatures %lu seconds %.3f rate %.1f\n", threads,
	    total, t1 - t0, (double)total / (t1 - t0));
	f->C_Logout(sess[0]);
	f->C_Finalize(NULL);
	return 0;
}
