/* Internals shared by the files of src/p11; not for other layers. */
#ifndef FS_P11_INT_H
#define FS_P11_INT_H

#include <p11-kit/uri.h>

#include "p11/p11.h"

/* Parse and check a key URI (a pin-value is refused). */
int fs_p11_parse_uri(const char *s, P11KitUri **out, fs_err *err);
/* The URI without its query, for messages. */
void fs_p11_uri_shown(const char *uri, char *buf, size_t len);
void fs_p11_hex(const uint8_t *b, size_t n, char *out, size_t outlen);
int fs_p11_load_modules(const char *module, P11KitUri *uri,
    CK_FUNCTION_LIST ***all, CK_FUNCTION_LIST **single, fs_err *err);
void fs_p11_release_modules(CK_FUNCTION_LIST **all, CK_FUNCTION_LIST *single);
CK_FUNCTION_LIST *fs_p11_module(fs_p11 *p);
CK_SESSION_HANDLE fs_p11_session(fs_p11 *p);
CK_SLOT_ID fs_p11_slot(fs_p11 *p);
int fs_p11_count_matching(fs_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_ULONG *count, fs_err *err);

#endif
