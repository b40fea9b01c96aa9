/* Secrets in memory: wiped before they are released. */
#ifndef FS_UTIL_SECRET_H
#define FS_UTIL_SECRET_H

#include <stddef.h>

/* Wipe len bytes at p (not optimised away). */
void fs_wipe(void *p, size_t len);

/* Wipe the NUL-terminated string s and free it; NULL is a no-op. */
void fs_secret_free(char *s);

#endif
