/* Process memory tuning for the one large allocation pattern we have. */
#ifndef FS_UTIL_MEM_H
#define FS_UTIL_MEM_H

#include <stddef.h>

/*
 * The process is about to build a tree of roughly bytes bytes from many
 * small allocations (a parsed document).  Where the C library allows it,
 * reserve that much heap at once and ask the kernel to back it with
 * transparent huge pages: one page fault per 2 MiB instead of per 4 KiB.
 * Memory is only reserved, not touched: the peak RSS does not change.  A
 * no-op where unsupported.
 */
void fs_mem_expect(size_t bytes);

#endif
