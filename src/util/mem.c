#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__GLIBC__) && defined(__linux__)
#include <malloc.h>
#include <sys/mman.h>
#endif

#define HUGE_PAGE	((uintptr_t)2 << 20)
#define MIN_EXPECT	((size_t)64 << 20)	/* not worth it below this */
#define MAX_EXPECT	((size_t)16 << 30)

void
fs_mem_expect(size_t bytes)
{
#if defined(__GLIBC__) && defined(__linux__) && defined(MADV_HUGEPAGE)
	uintptr_t lo, hi;
	void *p;

	if (bytes < MIN_EXPECT)
		return;
	if (bytes > MAX_EXPECT)
		bytes = MAX_EXPECT;
	/*
	 * Grow the heap by bytes in one step, keep it (no trimming), and keep
	 * the tree's allocations on it.  Then mark the new range for huge
	 * pages, which the kernel only does for ranges marked beforehand.
	 */
	if (mallopt(M_MMAP_THRESHOLD, 32 << 20) == 0 ||
	    mallopt(M_TRIM_THRESHOLD, (int)(bytes > INT32_MAX ? INT32_MAX :
	    bytes)) == 0 ||
	    mallopt(M_TOP_PAD, (int)(bytes > INT32_MAX ? INT32_MAX : bytes)) == 0)
		return;
	lo = (uintptr_t)sbrk(0);
	if ((p = malloc(1 << 20)) == NULL)
		return;
	free(p);
	hi = (uintptr_t)sbrk(0);
	lo = (lo + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	hi &= ~(HUGE_PAGE - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
	(void)bytes;
#endif
}
