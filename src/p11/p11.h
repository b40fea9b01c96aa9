/*
 * PKCS#11 tokens, named by RFC 7512 URIs.
 *
 * One fs_p11 is one module, one token, one session and at most one login,
 * reused for every operation of the process.  Modules are loaded with
 * p11-kit: from --module, from the URI's module-path or module-name, or
 * else every module registered with p11-kit.  The PKCS#11 code never sees
 * XML; the XML code never sees a PIN or a handle.
 */
#ifndef FS_P11_P11_H
#define FS_P11_P11_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>
#include <openssl/evp.h>

#include "util/err.h"

typedef struct fs_p11 fs_p11;

enum {
	FS_P11_RW = 1 << 0,	/* read-write session (key generation, objects) */
};

/*
 * Parse uri, load its module (module overrides the URI's module-path and
 * module-name when not NULL), find the one token it names and open a
 * session.  No PIN is asked for yet.  *out is the caller's, to be freed
 * with fs_p11_free().
 */
int fs_p11_open(const char *uri, const char *module, unsigned flags,
    fs_p11 **out, fs_err *err);

/* Log out, close the session, finalise the module; NULL is a no-op. */
void fs_p11_free(fs_p11 *p);

/*
 * Log in as the user, once per process: the PIN comes from the URI's
 * pin-source, FEDSIGN_PIN or a prompt, and is wiped after use.  A second
 * call, or a token already logged in, is a no-op.
 */
int fs_p11_login(fs_p11 *p, fs_err *err);

/* The token label, and the URI's object label (NULL when absent). */
const char *fs_p11_token_label(const fs_p11 *p);
const char *fs_p11_uri_label(const fs_p11 *p);
/* The URI's CKA_ID (NULL/0 when absent). */
const uint8_t *fs_p11_uri_id(const fs_p11 *p, size_t *len);

/*
 * Find the one object of class cls that the URI's object attributes
 * (object=, id=) match.  None: FS_ETOKEN naming what the token holds;
 * more than one: FS_ETOKEN listing the candidates.
 */
int fs_p11_find(fs_p11 *p, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *obj,
    fs_err *err);

/*
 * Find the object of class cls whose CKA_ID equals id.  Returns FS_OK and
 * sets *obj, or FS_ETOKEN when there is none (or more than one).
 */
int fs_p11_find_by_id(fs_p11 *p, CK_OBJECT_CLASS cls, const uint8_t *id,
    size_t idlen, CK_OBJECT_HANDLE *obj, fs_err *err);

/*
 * Read attribute type of obj into a fresh buffer *val (caller frees).
 * Returns FS_OK, or FS_ETOKEN when the attribute is absent or unreadable.
 */
int fs_p11_attr(fs_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    uint8_t **val, size_t *len, fs_err *err);

/* Read a CK_BBOOL attribute; -1 when the token does not say. */
int fs_p11_bool(fs_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);

/* Read a CK_ULONG attribute; returns 0 on success, -1 otherwise. */
int fs_p11_ulong(fs_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    CK_ULONG *val);

/*
 * The OpenSSL public key of a key object (public or private, RSA or EC),
 * rebuilt from its CKA_MODULUS/CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS/
 * CKA_EC_POINT.  For a private key the public key object with the same
 * CKA_ID is read when the private key does not carry them.  Caller frees.
 */
int fs_p11_public_key(fs_p11 *p, CK_OBJECT_HANDLE obj, EVP_PKEY **pkey,
    fs_err *err);

/* Whether the token lists mech; fills info when it does. */
int fs_p11_has_mech(fs_p11 *p, CK_MECHANISM_TYPE mech, CK_MECHANISM_INFO *info);

/*
 * Sign in with key using mech (no parameters).  *sig is a fresh buffer
 * (caller frees) of *siglen bytes.
 */
int fs_p11_sign(fs_p11 *p, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
    const uint8_t *in, size_t inlen, uint8_t **sig, size_t *siglen,
    fs_err *err);

/*
 * Whether the last fs_p11_sign failed because the token would not start
 * that mechanism with that key (so another mechanism may be tried).
 */
int fs_p11_mech_refused(const fs_p11 *p);

/* Create an object from the template; the session must be read-write. */
int fs_p11_create(fs_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *obj, fs_err *err);

/* Destroy an object. */
int fs_p11_destroy(fs_p11 *p, CK_OBJECT_HANDLE obj, fs_err *err);

/* Key types fs_p11_keygen() makes. */
enum fs_keytype { FS_KEY_RSA = 1, FS_KEY_EC = 2 };

struct fs_keyspec {
	enum fs_keytype type;
	unsigned bits;		/* RSA modulus size, or EC curve size */
};

/* Parse `rsa:2048`, `rsa:3072`, `rsa:4096`, `ec:p256`, `ec:p384`. */
int fs_keyspec_parse(const char *s, struct fs_keyspec *spec, fs_err *err);

/*
 * Generate a signing key pair on the token, labelled and identified by the
 * URI's object= and id= (a fresh random CKA_ID when id= is absent).  The
 * private key is sensitive, never extractable, and signs only.  Refuses
 * when an object with that label or id exists, and when the token's
 * CK_MECHANISM_INFO says it cannot make the key.  The CKA_ID used is
 * copied to id (at most *idlen bytes; *idlen updated).
 */
int fs_p11_keygen(fs_p11 *p, const struct fs_keyspec *spec, uint8_t *id,
    size_t *idlen, fs_err *err);

/*
 * Copy a fixed-width, blank-padded PKCS#11 text field (a label, serial,
 * description) of n bytes into out (at least n + 1 bytes), without the
 * padding.
 */
void fs_p11_trim(const CK_UTF8CHAR *s, size_t n, char *out);

/* The name of a CKR_ value (`CKR_PIN_INCORRECT`), or a hex number. */
const char *fs_p11_rv_name(CK_RV rv);

/* Set err from a failed PKCS#11 call: what failed, the CKR_ name, advice. */
int fs_p11_err(fs_err *err, CK_RV rv, const char *what);

/* Token PIN state flags in words ("PIN count low, final try"), or "". */
void fs_p11_pin_state(CK_FLAGS flags, char *buf, size_t len);

/* --- listing, for `fedsign token list` --------------------------------- */

struct fs_p11_obj_info {
	CK_OBJECT_CLASS cls;
	char label[256];
	char id[129];			/* hex */
	CK_KEY_TYPE key_type;		/* keys only, else (CK_ULONG)-1 */
	unsigned bits;			/* key size, when known */
	int sensitive, extractable, always_sensitive, never_extractable,
	    local, sign, decrypt, private_;	/* -1 when unknown */
};

struct fs_p11_visitor {
	void *ctx;
	void (*module)(void *ctx, const char *name, const char *path,
	    const CK_INFO *info);
	void (*slot)(void *ctx, CK_SLOT_ID id, const CK_SLOT_INFO *info);
	void (*token)(void *ctx, const CK_TOKEN_INFO *info);
	void (*object)(void *ctx, const struct fs_p11_obj_info *info);
	void (*problem)(void *ctx, const char *what);
};

/*
 * Walk modules (module, or every p11-kit registered module when NULL),
 * their slots, tokens and public objects, calling v at each.  With
 * login set and a token present, logs in (PIN as fs_p11_login) to show
 * private objects too.  Never reads secret values.
 */
int fs_p11_list(const char *module, const char *uri, int login,
    const struct fs_p11_visitor *v, fs_err *err);

/*
 * Initialise the token in the slot whose token matches uri (label= is the
 * new label): C_InitToken with the SO PIN, then C_InitPIN with the user
 * PIN.  Both PINs come from sources (`file:PATH` or `prompt`).
 */
int fs_p11_init_token(const char *module, const char *label,
    const char *so_pin_source, const char *pin_source, fs_err *err);

#endif
