/*
 * libxml2 set up for fedsign.  libxml2 does not always stop on a failed
 * allocation (its parser can end "well-formed" with part of the document,
 * its serialiser can drop a buffer), so every allocation it makes goes
 * through these wrappers, which count failures per thread.  An operation
 * compares the count before and after, and fails when it moved.
 */
#include "fedsign/md.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>

static _Thread_local unsigned long failures;

static void *
count_malloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		failures++;
	return p;
}

static void *
count_realloc(void *old, size_t n)
{
	void *p = realloc(old, n);

	if (p == NULL && n != 0)
		failures++;
	return p;
}

static char *
count_strdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		failures++;
	return p;
}

unsigned long
fs_md_alloc_failures(void)
{
	return failures;
}

static void
quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int init_rc;

static void
init_once(void)
{
	if (xmlMemSetup(free, count_malloc, count_realloc, count_strdup) != 0 ||
	    xmlGcMemSetup(free, count_malloc, count_malloc, count_realloc,
	    count_strdup) != 0) {
		init_rc = FS_EINTERNAL;
		return;
	}
	xmlInitParser();
	/* libxml2's handlers are per thread: also for threads made later. */
	xmlSetGenericErrorFunc(NULL, quiet);
	xmlThrDefSetGenericErrorFunc(NULL, quiet);
	init_rc = FS_OK;
}

int
fs_md_init(fs_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, init_once);
	if (init_rc != FS_OK)
		return fs_err_set(err, FS_EINTERNAL, "libxml2 set-up failed");
	/* The generic handler is per thread; set it on this one too. */
	xmlSetGenericErrorFunc(NULL, quiet);
	return FS_OK;
}
