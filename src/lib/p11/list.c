/* Listing modules, slots, tokens and objects; secret values never read. */
#include "p11/p11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include "fedsign/util.h"

extern const uint8_t fs_oid_p256[10];
extern const uint8_t fs_oid_p384[7];

struct walk {
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE s;
	const struct fs_p11_hooks *hooks;
};

static CK_RV
get_attrs(struct walk *w, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n)
{
	CK_RV rv;

	P11_CALL(w->hooks, rv, "C_GetAttributeValue",
	    w->f->C_GetAttributeValue(w->s, o, a, n));
	return rv;
}

static unsigned
key_bits(struct walk *w, CK_OBJECT_HANDLE o, CK_KEY_TYPE kt)
{
	CK_ATTRIBUTE a = { CKA_MODULUS, NULL, 0 };
	uint8_t buf[16];

	if (kt == CKK_RSA) {
		if (get_attrs(w, o, &a, 1) == CKR_OK &&
		    a.ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		    a.ulValueLen < 4096)
			return (unsigned)a.ulValueLen * 8;
		return 0;
	}
	if (kt == CKK_EC) {
		a.type = CKA_EC_PARAMS;
		a.pValue = buf;
		a.ulValueLen = sizeof(buf);
		if (get_attrs(w, o, &a, 1) != CKR_OK)
			return 0;
		if (a.ulValueLen == sizeof(fs_oid_p256) &&
		    memcmp(buf, fs_oid_p256, sizeof(fs_oid_p256)) == 0)
			return 256;
		if (a.ulValueLen == sizeof(fs_oid_p384) &&
		    memcmp(buf, fs_oid_p384, sizeof(fs_oid_p384)) == 0)
			return 384;
	}
	return 0;
}

static int
get_bool(struct walk *w, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b;
	CK_ATTRIBUTE a = { t, &b, sizeof(b) };

	if (get_attrs(w, o, &a, 1) != CKR_OK || a.ulValueLen != sizeof(b))
		return -1;
	return b == CK_TRUE;
}

static void
list_objects(struct walk *w, const struct fs_p11_visitor *v)
{
	CK_OBJECT_HANDLE objs[256];
	CK_ULONG n = 0;
	CK_RV rv;

	P11_CALL(w->hooks, rv, "C_FindObjectsInit",
	    w->f->C_FindObjectsInit(w->s, NULL, 0));
	if (rv != CKR_OK)
		return;
	P11_CALL(w->hooks, rv, "C_FindObjects",
	    w->f->C_FindObjects(w->s, objs, 256, &n));
	if (rv != CKR_OK || n > 256)
		n = 0;
	P11_CALL(w->hooks, rv, "C_FindObjectsFinal",
	    w->f->C_FindObjectsFinal(w->s));
	for (CK_ULONG i = 0; i < n; i++) {
		struct fs_p11_obj_info oi;
		uint8_t id[64];
		CK_ATTRIBUTE a[4] = {
			{ CKA_CLASS, &oi.cls, sizeof(oi.cls) },
			{ CKA_LABEL, oi.label, sizeof(oi.label) - 1 },
			{ CKA_ID, id, sizeof(id) },
			{ CKA_KEY_TYPE, &oi.key_type, sizeof(oi.key_type) },
		};

		memset(&oi, 0, sizeof(oi));
		(void)get_attrs(w, objs[i], a, 4);
		if (a[0].ulValueLen != sizeof(oi.cls))
			oi.cls = (CK_ULONG)-1;
		oi.label[a[1].ulValueLen < sizeof(oi.label) ?
		    a[1].ulValueLen : 0] = '\0';
		if (a[2].ulValueLen <= sizeof(id))
			fs_hex(id, a[2].ulValueLen, oi.id, sizeof(oi.id));
		if (a[3].ulValueLen != sizeof(oi.key_type))
			oi.key_type = (CK_ULONG)-1;
		else
			oi.bits = key_bits(w, objs[i], oi.key_type);
		oi.sensitive = get_bool(w, objs[i], CKA_SENSITIVE);
		oi.extractable = get_bool(w, objs[i], CKA_EXTRACTABLE);
		oi.always_sensitive = get_bool(w, objs[i],
		    CKA_ALWAYS_SENSITIVE);
		oi.never_extractable = get_bool(w, objs[i],
		    CKA_NEVER_EXTRACTABLE);
		oi.local = get_bool(w, objs[i], CKA_LOCAL);
		oi.sign = get_bool(w, objs[i], CKA_SIGN);
		oi.decrypt = get_bool(w, objs[i], CKA_DECRYPT);
		oi.private_ = get_bool(w, objs[i], CKA_PRIVATE);
		v->object(v->ctx, &oi);
	}
}

static void
login(struct walk *w, const CK_TOKEN_INFO *ti, P11KitUri *uri,
    const struct fs_p11_visitor *v)
{
	char l[33], *pin = NULL;
	fs_err e;
	CK_RV rv;

	fs_p11_trim(ti->label, sizeof(ti->label), l);
	if (ti->flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
		P11_CALL(w->hooks, rv, "C_Login", w->f->C_Login(w->s, CKU_USER,
		    NULL, 0));
	} else if (fs_pin_for_login(uri ? p11_kit_uri_get_pin_source(uri) :
	    NULL, l, w->hooks, &pin, &e) != FS_OK) {
		v->problem(v->ctx, e.msg);
		return;
	} else {
		P11_CALL(w->hooks, rv, "C_Login", w->f->C_Login(w->s, CKU_USER,
		    (CK_UTF8CHAR *)pin, strlen(pin)));
		fs_secret_free(pin);
	}
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		fs_p11_err(&e, rv, "C_Login");
		v->problem(v->ctx, e.msg);
	}
}

int
fs_p11_list(const char *module, const char *uristr, int do_login,
    const struct fs_p11_hooks *hooks, const struct fs_p11_visitor *v,
    fs_err *err)
{
	CK_FUNCTION_LIST **all = NULL, *single = NULL, *one[2] = { 0 }, **mods;
	P11KitUri *uri = NULL;
	CK_RV rv;
	int rc;

	if (uristr != NULL && (rc = fs_p11_parse_uri(uristr, &uri, err)))
		return rc;
	if ((rc = fs_p11_load_modules(module, uri, hooks, &all, &single,
	    err))) {
		if (uri)
			p11_kit_uri_free(uri);
		return rc;
	}
	one[0] = single;
	mods = single != NULL ? one : all;
	for (size_t m = 0; mods[m] != NULL; m++) {
		struct walk w = { mods[m], 0, hooks };
		CK_SLOT_ID slots[64];
		CK_ULONG n = 64;
		CK_INFO mi;
		char *name = p11_kit_module_get_name(w.f);
		char *path = p11_kit_module_get_filename(w.f);

		P11_CALL(hooks, rv, "C_GetInfo", w.f->C_GetInfo(&mi));
		if (rv != CKR_OK)
			memset(&mi, 0, sizeof(mi));
		v->module(v->ctx, name ? name : "", path ? path : module ?
		    module : "", &mi);
		free(name);
		free(path);
		P11_CALL(hooks, rv, "C_GetSlotList",
		    w.f->C_GetSlotList(CK_FALSE, slots, &n));
		if (rv != CKR_OK)
			continue;
		if (n > 64)
			n = 64;
		for (CK_ULONG i = 0; i < n; i++) {
			CK_SLOT_INFO si;
			CK_TOKEN_INFO ti;

			P11_CALL(hooks, rv, "C_GetSlotInfo",
			    w.f->C_GetSlotInfo(slots[i], &si));
			if (rv != CKR_OK)
				continue;
			v->slot(v->ctx, slots[i], &si);
			if (!(si.flags & CKF_TOKEN_PRESENT))
				continue;
			P11_CALL(hooks, rv, "C_GetTokenInfo",
			    w.f->C_GetTokenInfo(slots[i], &ti));
			if (rv != CKR_OK)
				continue;
			if (uri != NULL && !p11_kit_uri_match_token_info(uri, &ti))
				continue;
			v->token(v->ctx, &ti);
			if (!(ti.flags & CKF_TOKEN_INITIALIZED))
				continue;
			P11_CALL(hooks, rv, "C_OpenSession",
			    w.f->C_OpenSession(slots[i], CKF_SERIAL_SESSION,
			    NULL, NULL, &w.s));
			if (rv != CKR_OK) {
				fs_err e;

				fs_p11_err(&e, rv, "C_OpenSession");
				v->problem(v->ctx, e.msg);
				continue;
			}
			if (do_login)
				login(&w, &ti, uri, v);
			list_objects(&w, v);
			P11_CALL(hooks, rv, "C_CloseSession",
			    w.f->C_CloseSession(w.s));
		}
	}
	fs_p11_release_modules(all, all ? NULL : single, hooks);
	if (uri)
		p11_kit_uri_free(uri);
	return FS_OK;
}
