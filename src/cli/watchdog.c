/*
 * A watchdog over calls into PKCS#11 modules.  A module that hangs (a
 * wedged USB token, pcscd gone) would hang fedsign forever: when a call
 * has not returned within its time, the command ends with exit 3 and a
 * message naming the call.  Nothing has been written by then: outputs are
 * committed only after the token is closed.
 *
 * FEDSIGN_P11_TIMEOUT sets the time in seconds (default 60); key
 * generation gets ten times as long, since a smartcard can take minutes.
 */
#include "cli/cli.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT	60
#define SLOTS		64

struct call {
	int used;
	const char *name;
	struct timespec deadline;
	unsigned secs;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct call calls[SLOTS];
	int started;
	unsigned timeout;
	int asleep;			/* the watchdog waits for a call */
	struct timespec until;		/* else the deadline it waits for */
} wd = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { { 0 } },
    0, 0, 1, { 0, 0 } };

static void
expire(const struct call *c)
{
	char msg[512];
	int n;

	n = snprintf(msg, sizeof(msg), "fedsign: the PKCS#11 module did not "
	    "return from %s within %u seconds: the token or its module hangs; "
	    "reconnect the token (for USB tokens check pcscd), or set "
	    "FEDSIGN_P11_TIMEOUT to wait longer; nothing was written\n",
	    c->name, c->secs);
	if (n > 0)
		(void)write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ?
		    (size_t)n : sizeof(msg) - 1);
	/* The module may hold locks: leave without running exit handlers. */
	_exit(3);
}

static int
before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *
watch(void *arg)
{
	struct timespec now;
	struct call *first;

	(void)arg;
	pthread_mutex_lock(&wd.lock);
	for (;;) {
		first = NULL;
		for (int i = 0; i < SLOTS; i++)
			if (wd.calls[i].used && (first == NULL ||
			    before(&wd.calls[i].deadline, &first->deadline)))
				first = &wd.calls[i];
		if (first == NULL) {
			wd.asleep = 1;
			pthread_cond_wait(&wd.changed, &wd.lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!before(&now, &first->deadline))
			expire(first);
		wd.asleep = 0;
		wd.until = first->deadline;
		(void)pthread_cond_timedwait(&wd.changed, &wd.lock, &wd.until);
	}
	return NULL;
}

static unsigned
timeout(void)
{
	const char *v = getenv("FEDSIGN_P11_TIMEOUT");
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return DEFAULT_TIMEOUT;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 1 || n > 86400)
		return DEFAULT_TIMEOUT;
	return (unsigned)n;
}

static void
start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t a;
	pthread_t t;

	wd.timeout = timeout();
	/* Deadlines are on the monotonic clock: the wall clock may jump. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&wd.changed);
	pthread_cond_init(&wd.changed, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, watch, NULL) == 0)
		wd.started = 1;
	pthread_attr_destroy(&a);
}

void *
fs_cli_call_begin(void *ctx, const char *name)
{
	struct call *c = NULL;

	(void)ctx;
	pthread_mutex_lock(&wd.lock);
	if (!wd.started)
		start();
	for (int i = 0; i < SLOTS; i++) {
		if (!wd.calls[i].used) {
			c = &wd.calls[i];
			break;
		}
	}
	if (c != NULL) {
		c->used = 1;
		c->name = name;
		c->secs = wd.timeout;
		if (strcmp(name, "C_GenerateKeyPair") == 0)
			c->secs *= 10;
		clock_gettime(CLOCK_MONOTONIC, &c->deadline);
		c->deadline.tv_sec += c->secs;
		/* Woken only when it must wake sooner: not for each of a
		 * run's thousands of C_Sign calls, which all end later than
		 * the one it waits for. */
		if (wd.asleep || before(&c->deadline, &wd.until))
			pthread_cond_signal(&wd.changed);
	}
	pthread_mutex_unlock(&wd.lock);
	return c;
}

void
fs_cli_call_end(void *ctx, void *cookie)
{
	struct call *c = cookie;

	(void)ctx;
	if (c == NULL)
		return;
	pthread_mutex_lock(&wd.lock);
	c->used = 0;
	pthread_mutex_unlock(&wd.lock);
}
