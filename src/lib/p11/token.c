/* Tokens: the one token a URI names, its sessions and its login. */
#include "p11/p11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include "fedsign/util.h"

struct found {
	CK_FUNCTION_LIST *mod;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
};

static void
describe_token(const CK_TOKEN_INFO *ti, char *buf, size_t len)
{
	char label[33], serial[17], model[17];

	fs_p11_trim(ti->label, sizeof(ti->label), label);
	fs_p11_trim(ti->serialNumber, sizeof(ti->serialNumber), serial);
	fs_p11_trim(ti->model, sizeof(ti->model), model);
	snprintf(buf, len, "'%s' (serial %s, %s)", label, serial, model);
}

/* Append ", item" (or "item") to the list in buf of size len. */
static void
list_add(char *buf, size_t len, size_t *used, const char *item)
{
	if (*used >= len)
		return;
	*used += (size_t)snprintf(buf + *used, len - *used, "%s%s",
	    *used ? ", " : "", item);
	if (*used >= len)
		*used = len;
}

/* Scan mods for tokens matching uri; exactly one must match. */
static int
find_token(CK_FUNCTION_LIST **mods, P11KitUri *uri, const char *fulluri,
    const struct fs_p11_hooks *hooks, struct found *found, fs_err *err)
{
	char seen[1024] = "", hits[1024] = "", d[128], uristr[512];
	size_t nseen = 0, nhits = 0;
	int present = 0, nmatch = 0;
	CK_RV rv;

	fs_p11_uri_shown(fulluri, uristr, sizeof(uristr));
	for (size_t m = 0; mods[m] != NULL; m++) {
		CK_FUNCTION_LIST *f = mods[m];
		CK_SLOT_ID slots[64];
		CK_ULONG n = 64;
		CK_INFO minfo;

		P11_CALL(hooks, rv, "C_GetInfo", f->C_GetInfo(&minfo));
		if (rv == CKR_OK && !p11_kit_uri_match_module_info(uri, &minfo))
			continue;
		P11_CALL(hooks, rv, "C_GetSlotList",
		    f->C_GetSlotList(CK_TRUE, slots, &n));
		if (rv != CKR_OK)
			continue;
		if (n > 64)
			n = 64;
		for (CK_ULONG i = 0; i < n; i++) {
			CK_TOKEN_INFO ti;
			CK_SLOT_INFO si;
			CK_SLOT_ID want;

			/* An empty (uninitialised) token holds no keys. */
			P11_CALL(hooks, rv, "C_GetTokenInfo",
			    f->C_GetTokenInfo(slots[i], &ti));
			if (rv != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
				continue;
			P11_CALL(hooks, rv, "C_GetSlotInfo",
			    f->C_GetSlotInfo(slots[i], &si));
			if (rv == CKR_OK &&
			    !p11_kit_uri_match_slot_info(uri, &si))
				continue;
			want = p11_kit_uri_get_slot_id(uri);
			if (want != (CK_SLOT_ID)-1 && want != slots[i])
				continue;
			present++;
			describe_token(&ti, d, sizeof(d));
			list_add(seen, sizeof(seen), &nseen, d);
			if (!p11_kit_uri_match_token_info(uri, &ti))
				continue;
			list_add(hits, sizeof(hits), &nhits, d);
			if (nmatch++ == 0) {
				found->mod = f;
				found->slot = slots[i];
				found->info = ti;
			}
		}
	}
	if (nmatch == 0) {
		if (present == 0)
			return fs_err_set(err, FS_ETOKEN, "no token present: "
			    "CKR_TOKEN_NOT_PRESENT: connect the HSM, check the "
			    "module path (and SOFTHSM2_CONF for SoftHSM2), and "
			    "run 'fedsign token list'; a new token must first "
			    "be initialised ('fedsign token init')");
		return fs_err_set(err, FS_ETOKEN, "no token matches '%s'; "
		    "tokens present: %s", uristr, seen);
	}
	if (nmatch > 1)
		return fs_err_set(err, FS_ETOKEN, "'%s' matches more than one "
		    "token: %s; add token= or serial= to the URI", uristr,
		    hits);
	return FS_OK;
}

/* Open one more session; the lock is held. */
static int
open_session(fs_token *t, CK_SESSION_HANDLE *s, fs_err *err)
{
	CK_RV rv;

	P11_CALL(&t->hooks, rv, "C_OpenSession", t->mod->C_OpenSession(t->slot,
	    CKF_SERIAL_SESSION | ((t->flags & FS_TOKEN_RW) ? CKF_RW_SESSION :
	    0), NULL, NULL, s));
	if (rv != CKR_OK) {
		fs_p11_err(err, rv, "C_OpenSession");
		fs_err_append(err, "token '%s'", t->label);
		return FS_ETOKEN;
	}
	return FS_OK;
}

int
fs_token_open(const char *uristr, const struct fs_token_opts *opts,
    fs_token **out, fs_err *err)
{
	static const struct fs_token_opts none = { 0 };
	CK_FUNCTION_LIST *one[2] = { NULL, NULL };
	struct found f = { 0 };
	fs_token *t;
	int rc;

	*out = NULL;
	if (opts == NULL)
		opts = &none;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return fs_err_nomem(err, "opening a token");
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return fs_err_set(err, FS_EINTERNAL, "pthread_mutex_init");
	}
	if (pthread_mutex_init(&t->login_lock, NULL) != 0) {
		pthread_mutex_destroy(&t->lock);
		free(t);
		return fs_err_set(err, FS_EINTERNAL, "pthread_mutex_init");
	}
	if (pthread_cond_init(&t->session_free, NULL) != 0) {
		pthread_mutex_destroy(&t->login_lock);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return fs_err_set(err, FS_EINTERNAL, "pthread_cond_init");
	}
	if (opts->hooks != NULL)
		t->hooks = *opts->hooks;
	t->flags = opts->flags;
	t->maxsess = opts->max_sessions == 0 ? 1 : opts->max_sessions;
	if (t->maxsess > FS_TOKEN_MAX_SESSIONS)
		t->maxsess = FS_TOKEN_MAX_SESSIONS;
	if ((rc = fs_p11_parse_uri(uristr, &t->uri, err)) != FS_OK)
		goto fail;
	rc = fs_p11_load_modules(opts->module, t->uri, &t->hooks, &t->modules,
	    &t->single, err);
	if (rc != FS_OK)
		goto fail;
	one[0] = t->single;
	rc = find_token(t->single != NULL ? one : t->modules, t->uri, uristr,
	    &t->hooks, &f, err);
	if (rc != FS_OK)
		goto fail;
	t->mod = f.mod;
	t->slot = f.slot;
	t->info = f.info;
	fs_p11_trim(f.info.label, sizeof(f.info.label), t->label);
	fs_p11_trim(f.info.serialNumber, sizeof(f.info.serialNumber),
	    t->serial);
	/* A token that says how many sessions it allows is believed. */
	if (f.info.ulMaxSessionCount != CK_EFFECTIVELY_INFINITE &&
	    f.info.ulMaxSessionCount != CK_UNAVAILABLE_INFORMATION &&
	    f.info.ulMaxSessionCount < t->maxsess)
		t->maxsess = (unsigned)f.info.ulMaxSessionCount;
	if (t->maxsess == 0)
		t->maxsess = 1;
	if ((rc = open_session(t, &t->sess[0], err)) != FS_OK)
		goto fail;
	t->nsess = 1;
	*out = t;
	return FS_OK;
fail:
	fs_token_free(t);
	return rc;
}

void
fs_token_free(fs_token *t)
{
	CK_RV rv;

	if (t == NULL)
		return;
	if (t->nsess > 0 && t->logged_in)
		P11_CALL(&t->hooks, rv, "C_Logout", t->mod->C_Logout(t->sess[0]));
	for (unsigned i = 0; i < t->nsess; i++)
		P11_CALL(&t->hooks, rv, "C_CloseSession",
		    t->mod->C_CloseSession(t->sess[i]));
	(void)rv;
	/* A module picked by name from the registry lives in t->modules. */
	fs_p11_release_modules(t->modules, t->modules ? NULL : t->single,
	    &t->hooks);
	if (t->uri != NULL)
		p11_kit_uri_free(t->uri);
	pthread_cond_destroy(&t->session_free);
	pthread_mutex_destroy(&t->login_lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int
fs_token_get_session(fs_token *t, CK_SESSION_HANDLE *s, fs_err *err)
{
	int rc = FS_OK;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		for (unsigned i = 0; i < t->nsess; i++) {
			if (!t->busy[i]) {
				t->busy[i] = 1;
				*s = t->sess[i];
				goto out;
			}
		}
		if (t->nsess < t->maxsess) {
			fs_err e;

			if (open_session(t, &t->sess[t->nsess], &e) == FS_OK) {
				t->busy[t->nsess] = 1;
				*s = t->sess[t->nsess++];
				goto out;
			}
			/* The token allows no more: use the ones we have. */
			if (t->nsess > 0 && (e.rv == CKR_SESSION_COUNT ||
			    e.rv == CKR_SESSION_PARALLEL_NOT_SUPPORTED)) {
				t->maxsess = t->nsess;
				continue;
			}
			if (err != NULL)
				*err = e;
			rc = e.code;
			goto out;
		}
		pthread_cond_wait(&t->session_free, &t->lock);
	}
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void
fs_token_put_session(fs_token *t, CK_SESSION_HANDLE s, int broken)
{
	CK_RV rv;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->nsess; i++) {
		if (t->sess[i] != s)
			continue;
		if (broken && t->nsess > 1) {
			/* Drop it; operations continue on the others. */
			P11_CALL(&t->hooks, rv, "C_CloseSession",
			    t->mod->C_CloseSession(s));
			(void)rv;
			t->sess[i] = t->sess[t->nsess - 1];
			t->busy[i] = t->busy[t->nsess - 1];
			t->nsess--;
		} else {
			t->busy[i] = 0;
		}
		break;
	}
	pthread_cond_signal(&t->session_free);
	pthread_mutex_unlock(&t->lock);
}

const char *
fs_token_label(const fs_token *t)
{
	return t->label;
}

const char *
fs_token_serial(const fs_token *t)
{
	return t->serial;
}

unsigned
fs_token_open_sessions(fs_token *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->nsess;
	pthread_mutex_unlock(&t->lock);
	return n;
}

unsigned
fs_token_max_sessions(fs_token *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->maxsess;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int
fs_token_login(fs_token *t, fs_err *err)
{
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	char state[160], *pin = NULL;
	CK_RV rv = CKR_OK;
	int rc;

	/* One login for all sessions; the PIN is asked for once. */
	pthread_mutex_lock(&t->login_lock);
	if (t->logged_in) {
		pthread_mutex_unlock(&t->login_lock);
		return FS_OK;
	}
	if ((rc = fs_token_get_session(t, &s, err)) != FS_OK) {
		pthread_mutex_unlock(&t->login_lock);
		return rc;
	}
	P11_CALL(&t->hooks, rv, "C_GetSessionInfo",
	    t->mod->C_GetSessionInfo(s, &si));
	if (rv == CKR_OK && (si.state == CKS_RO_USER_FUNCTIONS ||
	    si.state == CKS_RW_USER_FUNCTIONS)) {
		t->logged_in = 1;
		rc = FS_OK;
		goto out;
	}
	if (t->info.flags & CKF_USER_PIN_LOCKED) {
		rc = fs_p11_err(err, CKR_PIN_LOCKED, "C_Login");
		fs_err_append(err, "token '%s'", t->label);
		goto out;
	}
	if (t->info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
		P11_CALL(&t->hooks, rv, "C_Login",
		    t->mod->C_Login(s, CKU_USER, NULL, 0));
	} else {
		rc = fs_pin_for_login(p11_kit_uri_get_pin_source(t->uri),
		    t->label, &t->hooks, &pin, err);
		if (rc != FS_OK)
			goto out;
		P11_CALL(&t->hooks, rv, "C_Login", t->mod->C_Login(s, CKU_USER,
		    (CK_UTF8CHAR *)pin, strlen(pin)));
		fs_secret_free(pin);
	}
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		CK_RV rv2;

		rc = fs_p11_err(err, rv, "C_Login");
		fs_err_append(err, "token '%s'", t->label);
		P11_CALL(&t->hooks, rv2, "C_GetTokenInfo",
		    t->mod->C_GetTokenInfo(t->slot, &ti));
		if (rv2 == CKR_OK) {
			fs_p11_pin_state(ti.flags, state, sizeof(state));
			fs_err_append(err, "PIN state: %s", state[0] ? state :
			    "no warning flags set by the token");
		}
		goto out;
	}
	t->logged_in = 1;
	rc = FS_OK;
out:
	fs_token_put_session(t, s, fs_p11_rv_broken(rv));
	pthread_mutex_unlock(&t->login_lock);
	return rc;
}

int
fs_token_has_mech(fs_token *t, CK_MECHANISM_TYPE mech, CK_MECHANISM_INFO *info)
{
	CK_MECHANISM_INFO mi;
	int have = 0;
	CK_RV rv;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->nmechs; i++) {
		if (t->mechs[i].mech == mech) {
			have = t->mechs[i].have;
			mi = t->mechs[i].info;
			goto out;
		}
	}
	P11_CALL(&t->hooks, rv, "C_GetMechanismInfo",
	    t->mod->C_GetMechanismInfo(t->slot, mech, &mi));
	have = rv == CKR_OK;
	if (t->nmechs < sizeof(t->mechs) / sizeof(t->mechs[0]))
		t->mechs[t->nmechs++] = (struct mech_cache){ mech, have, mi };
out:
	pthread_mutex_unlock(&t->lock);
	if (have && info != NULL)
		*info = mi;
	return have;
}

int
fs_token_objects(fs_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count, fs_err *err)
{
	CK_SESSION_HANDLE s;
	CK_RV rv, rv2;
	int rc;

	*count = 0;
	if ((rc = fs_token_get_session(t, &s, err)) != FS_OK)
		return rc;
	P11_CALL(&t->hooks, rv, "C_FindObjectsInit",
	    t->mod->C_FindObjectsInit(s, tmpl, n));
	if (rv != CKR_OK) {
		fs_token_put_session(t, s, fs_p11_rv_broken(rv));
		return fs_p11_err(err, rv, "C_FindObjectsInit");
	}
	P11_CALL(&t->hooks, rv, "C_FindObjects",
	    t->mod->C_FindObjects(s, objs, max, count));
	P11_CALL(&t->hooks, rv2, "C_FindObjectsFinal",
	    t->mod->C_FindObjectsFinal(s));
	fs_token_put_session(t, s, fs_p11_rv_broken(rv) ||
	    fs_p11_rv_broken(rv2));
	if (rv != CKR_OK) {
		*count = 0;
		return fs_p11_err(err, rv, "C_FindObjects");
	}
	if (*count > max) {
		*count = 0;
		return fs_err_set(err, FS_ETOKEN, "the PKCS#11 module returned "
		    "more objects than asked for: a module fault");
	}
	return FS_OK;
}

int
fs_token_attr(fs_token *t, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    uint8_t **val, size_t *len, fs_err *err)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_SESSION_HANDLE s;
	CK_ULONG want;
	CK_RV rv;
	int rc;

	*val = NULL;
	*len = 0;
	if ((rc = fs_token_get_session(t, &s, err)) != FS_OK)
		return rc;
	P11_CALL(&t->hooks, rv, "C_GetAttributeValue",
	    t->mod->C_GetAttributeValue(s, obj, &a, 1));
	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
		rc = fs_p11_err(err, rv == CKR_OK ? CKR_ATTRIBUTE_TYPE_INVALID :
		    rv, "C_GetAttributeValue");
		goto out;
	}
	if (a.ulValueLen > (1 << 20)) {
		rc = fs_err_set(err, FS_ETOKEN, "the PKCS#11 module reports an "
		    "attribute of %lu bytes: a module fault",
		    (unsigned long)a.ulValueLen);
		goto out;
	}
	want = a.ulValueLen;
	if ((a.pValue = malloc(want ? want : 1)) == NULL) {
		rc = fs_err_nomem(err, "reading a token attribute");
		goto out;
	}
	P11_CALL(&t->hooks, rv, "C_GetAttributeValue",
	    t->mod->C_GetAttributeValue(s, obj, &a, 1));
	if (rv != CKR_OK || a.ulValueLen > want) {
		free(a.pValue);
		rc = rv != CKR_OK ? fs_p11_err(err, rv, "C_GetAttributeValue") :
		    fs_err_set(err, FS_ETOKEN, "the PKCS#11 module wrote more "
		    "of an attribute than it said it would: a module fault");
		goto out;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	rc = FS_OK;
out:
	fs_token_put_session(t, s, fs_p11_rv_broken(rv));
	return rc;
}

int
fs_token_find_by_id(fs_token *t, CK_OBJECT_CLASS cls, const uint8_t *id,
    size_t idlen, CK_OBJECT_HANDLE *obj, unsigned *count, fs_err *err)
{
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, idlen },
	};
	CK_OBJECT_HANDLE objs[2];
	CK_ULONG n;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = fs_token_objects(t, tmpl, 2, objs, 2, &n, err)) != FS_OK)
		return rc;
	if (count != NULL)
		*count = (unsigned)n;
	if (n != 1)
		return fs_err_set(err, FS_ETOKEN, "%s object of this class "
		    "with the key's id on token '%s'", n ? "more than one" :
		    "no", t->label);
	*obj = objs[0];
	return FS_OK;
}

int
fs_token_create(fs_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *obj, fs_err *err)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int rc;

	if ((rc = fs_token_get_session(t, &s, err)) != FS_OK)
		return rc;
	P11_CALL(&t->hooks, rv, "C_CreateObject",
	    t->mod->C_CreateObject(s, tmpl, n, obj));
	fs_token_put_session(t, s, fs_p11_rv_broken(rv));
	if (rv != CKR_OK)
		return fs_p11_err(err, rv, "C_CreateObject");
	return FS_OK;
}

int
fs_token_destroy(fs_token *t, CK_OBJECT_HANDLE obj, fs_err *err)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int rc;

	if ((rc = fs_token_get_session(t, &s, err)) != FS_OK)
		return rc;
	P11_CALL(&t->hooks, rv, "C_DestroyObject",
	    t->mod->C_DestroyObject(s, obj));
	fs_token_put_session(t, s, fs_p11_rv_broken(rv));
	if (rv != CKR_OK)
		return fs_p11_err(err, rv, "C_DestroyObject");
	return FS_OK;
}

void
fs_token_describe(fs_token *t, CK_OBJECT_HANDLE obj, char *buf, size_t len)
{
	char label[128] = "", id[65] = "";
	uint8_t idv[32];
	CK_ATTRIBUTE a[2] = {
		{ CKA_LABEL, label, sizeof(label) - 1 },
		{ CKA_ID, idv, sizeof(idv) },
	};
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if (fs_token_get_session(t, &s, NULL) != FS_OK) {
		snprintf(buf, len, "(unreadable)");
		return;
	}
	P11_CALL(&t->hooks, rv, "C_GetAttributeValue",
	    t->mod->C_GetAttributeValue(s, obj, a, 2));
	fs_token_put_session(t, s, fs_p11_rv_broken(rv));
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_BUFFER_TOO_SMALL && rv != CKR_ATTRIBUTE_SENSITIVE) {
		snprintf(buf, len, "(unreadable)");
		return;
	}
	if (a[0].ulValueLen < sizeof(label))
		label[a[0].ulValueLen] = '\0';
	else
		label[0] = '\0';
	if (a[1].ulValueLen <= sizeof(idv))
		fs_hex(idv, a[1].ulValueLen, id, sizeof(id));
	snprintf(buf, len, "object=%s;id=%s", label, id);
}
