/*
 * PKCS#11 tokens and keys, named by RFC 7512 URIs.
 *
 * An fs_token is one token in one module: its sessions (one by default;
 * more when asked for and the token allows them), at most one login for
 * all of them, and a lock around every operation, so that any number of
 * threads may use it.  Keys are looked up in a token by URI; several keys
 * on one token share its session and login (a key rollover, a daemon
 * serving several keys).
 *
 * Modules are loaded with p11-kit: from the options' module, the URI's
 * module-path or module-name, or else every module registered with
 * p11-kit.  Tokens are matched by label, serial, model or manufacturer,
 * never by slot number.  The PKCS#11 code never sees XML.
 *
 * The program decides what the library may not: how to ask for a PIN and
 * what to do when a module does not return.  It says so through hooks.
 */
#ifndef FEDSIGN_P11_H
#define FEDSIGN_P11_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>
#include <openssl/evp.h>

#include "fedsign/err.h"

typedef struct fs_token fs_token;
typedef struct fs_key fs_key;

struct fs_p11_hooks {
	void *ctx;
	/*
	 * A PIN when the URI has no pin-source, or for the source "prompt":
	 * a fresh string the library wipes and frees (fs_secret_free).
	 * confirm asks twice.  what names the PIN ("user PIN for token
	 * 'fed'").  NULL: such PINs cannot be had.
	 */
	int (*pin)(void *ctx, const char *what, int confirm, char **pin,
	    fs_err *err);
	/*
	 * Around every call into a module, named ("C_Sign"): for a watchdog
	 * that ends a hung call, and for metrics.  begin's return value is
	 * given to end.  May be NULL.
	 */
	void *(*call_begin)(void *ctx, const char *call);
	void (*call_end)(void *ctx, void *cookie);
};

enum {
	FS_TOKEN_RW = 1 << 0,	/* read-write sessions (keygen, objects) */
};

struct fs_token_opts {
	const char *module;	/* overrides the URI's module; NULL: none */
	unsigned flags;		/* FS_TOKEN_RW */
	unsigned max_sessions;	/* sessions to use at most; 0: one */
	const struct fs_p11_hooks *hooks;	/* copied; NULL: none */
};

/* At most this many sessions per token. */
#define FS_TOKEN_MAX_SESSIONS 16

/*
 * Parse uri, load its module, find the one token it names (exactly one
 * must match) and open a session.  No PIN is asked for yet.  A URI with a
 * pin-value is refused.  *out is the caller's (fs_token_free).
 */
int fs_token_open(const char *uri, const struct fs_token_opts *opts,
    fs_token **out, fs_err *err);

/* Log out, close the sessions, finalise the module; NULL is a no-op. */
void fs_token_free(fs_token *t);

/*
 * Log in as the user, once for the token: the PIN comes from the URI's
 * pin-source (a file only its owner can read) or the pin hook, and is
 * wiped after use.  A second call, or a token already logged in, is a
 * no-op.  A token with a PIN pad logs in on the pad.
 */
int fs_token_login(fs_token *t, fs_err *err);

/* The token's label and serial (borrowed, blank padding removed). */
const char *fs_token_label(const fs_token *t);
const char *fs_token_serial(const fs_token *t);

/* How many sessions are open now, and the most that will be opened. */
unsigned fs_token_open_sessions(fs_token *t);
unsigned fs_token_max_sessions(fs_token *t);

/*
 * Whether the token lists mech; fills info when it does.  Answers are
 * cached per token.
 */
int fs_token_has_mech(fs_token *t, CK_MECHANISM_TYPE mech,
    CK_MECHANISM_INFO *info);

/*
 * Find the one key of class cls (CKO_PRIVATE_KEY, CKO_PUBLIC_KEY) that
 * uri's object=, id= and type= name on token t; uri NULL means the URI t
 * was opened with.  A URI naming another token, or a type= of another
 * class, is refused.  None: FS_ETOKEN naming what the token holds; more
 * than one: FS_ETOKEN listing the candidates.  *out is the caller's
 * (fs_key_free) and must not outlive t.
 */
int fs_key_find(fs_token *t, const char *uri, CK_OBJECT_CLASS cls,
    fs_key **out, fs_err *err);

/* A copy of k (same token, same object); *out is the caller's. */
int fs_key_dup(const fs_key *k, fs_key **out, fs_err *err);

/* NULL is a no-op. */
void fs_key_free(fs_key *k);

fs_token *fs_key_token(const fs_key *k);
CK_OBJECT_HANDLE fs_key_handle(const fs_key *k);
CK_KEY_TYPE fs_key_type(const fs_key *k);
/* The key's CKA_LABEL ("" when it has none) and CKA_ID (borrowed). */
const char *fs_key_label(const fs_key *k);
const uint8_t *fs_key_id(const fs_key *k, size_t *len);

/*
 * The key's public key (RSA or EC), rebuilt from CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS and CKA_EC_POINT; for a private
 * key that lacks them, from the public key object with the same CKA_ID.
 * *pkey is the caller's.
 */
int fs_key_public(fs_key *k, EVP_PKEY **pkey, fs_err *err);

/*
 * Sign in with the key using mech (no parameters), in one C_Sign.  The
 * length the module returns is checked against the buffer and against
 * the key size.  *sig is the caller's (free()).  When the token refuses
 * the mechanism for this key, err->call is "C_SignInit" and err->rv says
 * why.
 */
int fs_key_sign(fs_key *k, CK_MECHANISM_TYPE mech, const uint8_t *in,
    size_t inlen, uint8_t **sig, size_t *siglen, fs_err *err);

/* Whether err says the token would not start that mechanism. */
int fs_p11_mech_refused(const fs_err *err);

/*
 * Objects beside a key: find the one object of class cls with CKA_ID id.
 * Returns FS_OK and *obj; FS_ETOKEN when there is none (*count 0) or
 * more than one (*count > 1); count may be NULL.
 */
int fs_token_find_by_id(fs_token *t, CK_OBJECT_CLASS cls, const uint8_t *id,
    size_t idlen, CK_OBJECT_HANDLE *obj, unsigned *count, fs_err *err);

/* Find up to max objects matching tmpl; *count is how many. */
int fs_token_objects(fs_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count, fs_err *err);

/*
 * Read attribute type of obj into a fresh buffer *val (caller frees).
 * FS_ETOKEN when the attribute is absent or cannot be read.
 */
int fs_token_attr(fs_token *t, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    uint8_t **val, size_t *len, fs_err *err);

/* Create or destroy an object; the token must have been opened RW. */
int fs_token_create(fs_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *obj, fs_err *err);
int fs_token_destroy(fs_token *t, CK_OBJECT_HANDLE obj, fs_err *err);

/* Key types fs_keygen() makes (enum fs_keytype of fedsign/alg.h). */
struct fs_keyspec {
	int type;		/* FS_KEY_RSA or FS_KEY_EC */
	unsigned bits;		/* RSA modulus size, or EC curve size */
};

/* Parse `rsa:2048`, `rsa:3072`, `rsa:4096`, `ec:p256`, `ec:p384`. */
int fs_keyspec_parse(const char *s, struct fs_keyspec *spec, fs_err *err);

/*
 * Generate a signing key pair on token t (opened RW and logged in),
 * labelled and identified by uri's object= and id= (a fresh random CKA_ID
 * when id= is absent).  The private key is sensitive, never extractable,
 * and signs only.  Refuses when an object with that label or id exists,
 * and when the token's CK_MECHANISM_INFO says it cannot make the key.
 * The CKA_ID used is copied to id (at most *idlen bytes; *idlen updated).
 */
int fs_keygen(fs_token *t, const char *uri, const struct fs_keyspec *spec,
    uint8_t *id, size_t *idlen, fs_err *err);

/*
 * Copy a fixed-width, blank-padded PKCS#11 text field (a label, serial,
 * description) of n bytes into out (at least n + 1 bytes), without the
 * padding.
 */
void fs_p11_trim(const CK_UTF8CHAR *s, size_t n, char *out);

/* The name of a CKR_ value (`CKR_PIN_INCORRECT`, or `CKR_0x...`). */
void fs_p11_rv_name(CK_RV rv, char *buf, size_t len);

/*
 * Set err from a failed PKCS#11 call: FS_ETOKEN, rv and call recorded,
 * and a message with what failed, the CKR_ name and advice.
 */
int fs_p11_err(fs_err *err, CK_RV rv, const char *call);

/* Token PIN state flags in words ("user PIN count low"), or "". */
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
 * Walk modules (module, the URI's, or every p11-kit registered one),
 * their slots, tokens (those uri matches, when given) and public objects,
 * calling v at each.  With login set, logs in (PIN as fs_token_login) to
 * show private objects too.  Never reads secret values.
 */
int fs_p11_list(const char *module, const char *uri, int login,
    const struct fs_p11_hooks *hooks, const struct fs_p11_visitor *v,
    fs_err *err);

/*
 * Initialise an uninitialised token of module: C_InitToken with the SO
 * PIN and label, then C_InitPIN with the user PIN.  PIN sources are
 * `file:PATH` or `prompt` (through the pin hook, asked twice).  A token
 * that already has the label is never re-initialised.
 */
int fs_p11_init_token(const char *module, const char *label,
    const char *so_pin_source, const char *pin_source,
    const struct fs_p11_hooks *hooks, fs_err *err);

/*
 * A PIN from source: `file:PATH` (or a plain absolute path: the first
 * line of a regular file that neither group nor others can read, owned by
 * this user, not a symbolic link) or `prompt` (the pin hook).  *pin is
 * the caller's (fs_secret_free).
 */
int fs_pin_from_source(const char *source, const char *what, int confirm,
    const struct fs_p11_hooks *hooks, char **pin, fs_err *err);

#endif
