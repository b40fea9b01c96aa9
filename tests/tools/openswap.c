/*
 * LD_PRELOAD for tests: a file that another program rewrites while
 * fedsign reads it.  On the FS_SWAP_AT-th open(2) of the file
 * FS_SWAP_PATH (counted from 1, in this process), the file is first
 * rewritten in place with the bytes of FS_SWAP_WITH, as `curl -o FILE`
 * or `cp NEW FILE` would do, so that this open and every later one read
 * the new bytes.  Each open of FS_SWAP_PATH appends a line to FS_SWAP_LOG
 * when it is set: its number, and "swapped" for the one that swapped.
 *
 * Without FS_SWAP_PATH it does nothing.  In a sanitizer build the test
 * sets ASAN_OPTIONS=verify_asan_link_order=0: this library is loaded
 * before the ASan runtime.
 */
/* open and open64 apart, whatever the build's _FILE_OFFSET_BITS. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int opens;

static int (*next_open(void))(const char *, int, ...)
{
	static int (*f)(const char *, int, ...);

	if (f == NULL)
		f = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	return f;
}

static void
note(int n, int swapped)
{
	const char *log = getenv("FS_SWAP_LOG");
	char line[64];
	int fd, len;

	if (log == NULL)
		return;
	if ((fd = next_open()(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return;
	len = snprintf(line, sizeof(line), "%d%s\n", n, swapped ?
	    " swapped" : "");
	if (write(fd, line, (size_t)len) != len)
		abort();
	close(fd);
}

/* FS_SWAP_WITH's bytes over FS_SWAP_PATH, in place; abort on failure. */
static void
swap(const char *path)
{
	const char *with = getenv("FS_SWAP_WITH");
	char buf[65536];
	ssize_t n;
	int in, out;

	if (with == NULL ||
	    (in = next_open()(with, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (out = next_open()(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) == -1)
		abort();
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			abort();
	if (n == -1 || close(out) == -1)
		abort();
	close(in);
}

static void
seen(const char *path)
{
	const char *p = getenv("FS_SWAP_PATH"), *at = getenv("FS_SWAP_AT");
	int n, hit;

	if (p == NULL || path == NULL || strcmp(path, p) != 0)
		return;
	n = __atomic_add_fetch(&opens, 1, __ATOMIC_RELAXED);
	hit = at != NULL && n == atoi(at);
	if (hit)
		swap(path);
	note(n, hit);
}

int
open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	seen(path);
	return next_open()(path, flags, mode);
}

/* Where the build's open is open64. */
int open64(const char *path, int flags, ...) __attribute__((alias("open")));
