/* Internals shared by the files of src/lib/p11; not for other layers. */
#ifndef FS_P11_INT_H
#define FS_P11_INT_H

#include <pthread.h>

#include <p11-kit/uri.h>

#include "fedsign/p11.h"

/* Call a module function with the hooks around it: rv = expr. */
#define P11_CALL(hooks, rv, name, expr) do { \
	void *cookie_ = fs_p11_begin((hooks), (name)); \
	(rv) = (expr); \
	fs_p11_end((hooks), cookie_); \
} while (0)

void *fs_p11_begin(const struct fs_p11_hooks *h, const char *call);
void fs_p11_end(const struct fs_p11_hooks *h, void *cookie);

struct mech_cache {
	CK_MECHANISM_TYPE mech;
	int have;
	CK_MECHANISM_INFO info;
};

struct fs_token {
	pthread_mutex_t lock;		/* the session pool and caches */
	pthread_mutex_t login_lock;	/* held while logging in */
	pthread_cond_t session_free;
	P11KitUri *uri;			/* the URI the token was opened with */
	CK_FUNCTION_LIST **modules;	/* every registered module, or NULL */
	CK_FUNCTION_LIST *single;	/* one module loaded by path */
	CK_FUNCTION_LIST *mod;		/* the module in use */
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	char label[33];
	char serial[17];
	struct fs_p11_hooks hooks;
	unsigned flags;
	CK_SESSION_HANDLE sess[FS_TOKEN_MAX_SESSIONS];
	unsigned char busy[FS_TOKEN_MAX_SESSIONS];
	unsigned nsess;			/* open sessions */
	unsigned maxsess;		/* the most we may open */
	int logged_in;
	struct mech_cache mechs[16];
	unsigned nmechs;
};

struct fs_key {
	fs_token *t;
	CK_OBJECT_HANDLE h;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE type;
	size_t siglen;			/* the signature length of the key */
	char label[256];
	uint8_t id[256];
	size_t idlen;
};

/* Parse and check a key URI (a pin-value is refused, in any case). */
int fs_p11_parse_uri(const char *s, P11KitUri **out, fs_err *err);
/* The URI without its query, for messages. */
void fs_p11_uri_shown(const char *uri, char *buf, size_t len);

int fs_p11_load_modules(const char *module, P11KitUri *uri,
    const struct fs_p11_hooks *hooks, CK_FUNCTION_LIST ***all,
    CK_FUNCTION_LIST **single, fs_err *err);
void fs_p11_release_modules(CK_FUNCTION_LIST **all, CK_FUNCTION_LIST *single,
    const struct fs_p11_hooks *hooks);

/* A session of the token for one operation, returned with put. */
int fs_token_get_session(fs_token *t, CK_SESSION_HANDLE *s, fs_err *err);
void fs_token_put_session(fs_token *t, CK_SESSION_HANDLE s, int broken);

/* Describe obj as "object=LABEL;id=HEX" into buf. */
void fs_token_describe(fs_token *t, CK_OBJECT_HANDLE obj, char *buf,
    size_t len);

/* Whether rv means the session (or the token behind it) is gone. */
int fs_p11_rv_broken(CK_RV rv);

/* A PIN for a login on token label: pin-source, else the hook. */
int fs_pin_for_login(const char *pin_source, const char *label,
    const struct fs_p11_hooks *hooks, char **pin, fs_err *err);

#endif
