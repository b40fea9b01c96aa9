/* Key generation, token initialisation and listing. */
#include "p11/p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <p11-kit/p11-kit.h>

#include "p11/p11_int.h"
#include "p11/pin.h"
#include "util/secret.h"

/* DER OIDs of the named curves, as CKA_EC_PARAMS. */
static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

int
fs_keyspec_parse(const char *s, struct fs_keyspec *spec, fs_err *err)
{
	if (strcmp(s, "rsa:2048") == 0)
		*spec = (struct fs_keyspec){ FS_KEY_RSA, 2048 };
	else if (strcmp(s, "rsa:3072") == 0)
		*spec = (struct fs_keyspec){ FS_KEY_RSA, 3072 };
	else if (strcmp(s, "rsa:4096") == 0)
		*spec = (struct fs_keyspec){ FS_KEY_RSA, 4096 };
	else if (strcmp(s, "ec:p256") == 0 || strcmp(s, "ec:prime256v1") == 0)
		*spec = (struct fs_keyspec){ FS_KEY_EC, 256 };
	else if (strcmp(s, "ec:p384") == 0 || strcmp(s, "ec:secp384r1") == 0)
		*spec = (struct fs_keyspec){ FS_KEY_EC, 384 };
	else
		return fs_err_set(err, FS_EUSAGE, "unknown key type '%s': use "
		    "rsa:2048, rsa:3072, rsa:4096, ec:p256 or ec:p384", s);
	return FS_OK;
}

/* Refuse when any object on the token already has this label or id. */
static int
check_unique(fs_p11 *p, const char *label, const uint8_t *id, size_t idlen,
    fs_err *err)
{
	CK_ATTRIBUTE t;
	CK_ULONG count;
	char hex[129];
	int rc;

	if (label != NULL) {
		t = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
		if ((rc = fs_p11_count_matching(p, &t, 1, &count, err)) != FS_OK)
			return rc;
		if (count > 0)
			return fs_err_set(err, FS_ETOKEN, "token '%s' already "
			    "has %lu object(s) labelled '%s'; choose another "
			    "object= label (a second key with the same name "
			    "would make the key URI ambiguous)",
			    fs_p11_token_label(p), (unsigned long)count, label);
	}
	if (idlen > 0) {
		t = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
		if ((rc = fs_p11_count_matching(p, &t, 1, &count, err)) != FS_OK)
			return rc;
		if (count > 0) {
			fs_p11_hex(id, idlen, hex, sizeof(hex));
			return fs_err_set(err, FS_ETOKEN, "token '%s' already "
			    "has %lu object(s) with id %s; choose another id= "
			    "or leave it out for a fresh one",
			    fs_p11_token_label(p), (unsigned long)count, hex);
		}
	}
	return FS_OK;
}

int
fs_p11_keygen(fs_p11 *p, const struct fs_keyspec *spec, uint8_t *idout,
    size_t *idlen, fs_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = spec->bits;
	CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM_INFO mi;
	CK_OBJECT_HANDLE pub, priv;
	const char *label = fs_p11_uri_label(p);
	const uint8_t *uid;
	uint8_t id[20];
	size_t ilen;
	CK_ULONG np = 0, nv = 0;
	CK_ATTRIBUTE pt[10], vt[14];
	CK_RV rv;
	int rc;

	if (label == NULL)
		return fs_err_set(err, FS_EUSAGE, "the key URI has no object= "
		    "label: name the new key, e.g. pkcs11:token=%s;object="
		    "md-signing-2026", fs_p11_token_label(p));
	if ((uid = fs_p11_uri_id(p, &ilen)) != NULL) {
		if (ilen > sizeof(id))
			return fs_err_set(err, FS_EUSAGE, "id= is longer than "
			    "%zu bytes", sizeof(id));
		memcpy(id, uid, ilen);
	} else {
		ilen = 20;
		if (RAND_bytes(id, (int)ilen) != 1)
			return fs_err_set(err, FS_EINTERNAL, "no random bytes");
	}
	if (spec->type == FS_KEY_EC)
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
	if (!fs_p11_has_mech(p, mech.mechanism, &mi) ||
	    (mi.flags & CKF_GENERATE_KEY_PAIR) == 0)
		return fs_err_set(err, FS_ETOKEN, "token '%s' cannot generate "
		    "%s keys (%s is not listed by the token)",
		    fs_p11_token_label(p), spec->type == FS_KEY_RSA ? "RSA" :
		    "EC", spec->type == FS_KEY_RSA ?
		    "CKM_RSA_PKCS_KEY_PAIR_GEN" : "CKM_EC_KEY_PAIR_GEN");
	/* Some tokens state EC sizes in bytes; only trust sizes in bits. */
	if (mi.ulMaxKeySize != 0 && (spec->type == FS_KEY_RSA ||
	    mi.ulMaxKeySize >= 160) &&
	    (spec->bits > mi.ulMaxKeySize || spec->bits < mi.ulMinKeySize))
		return fs_err_set(err, FS_ETOKEN, "token '%s' cannot make a "
		    "%u-bit %s key: its CK_MECHANISM_INFO allows %lu to %lu "
		    "bits%s", fs_p11_token_label(p), spec->bits,
		    spec->type == FS_KEY_RSA ? "RSA" : "EC",
		    (unsigned long)mi.ulMinKeySize,
		    (unsigned long)mi.ulMaxKeySize,
		    spec->type == FS_KEY_RSA ? "; choose a smaller "
		    "--type (a SmartCard-HSM stops at rsa:2048)" : "");
	if ((rc = check_unique(p, label, id, ilen, err)) != FS_OK)
		return rc;

#define ADD(t, n, type, v, len) \
	(t)[(n)++] = (CK_ATTRIBUTE){ (type), (void *)(v), (len) }
	ADD(pt, np, CKA_TOKEN, &yes, sizeof(yes));
	ADD(pt, np, CKA_PRIVATE, &no, sizeof(no));
	ADD(pt, np, CKA_VERIFY, &yes, sizeof(yes));
	ADD(pt, np, CKA_ENCRYPT, &no, sizeof(no));
	ADD(pt, np, CKA_WRAP, &no, sizeof(no));
	ADD(pt, np, CKA_LABEL, label, strlen(label));
	ADD(pt, np, CKA_ID, id, ilen);
	if (spec->type == FS_KEY_RSA) {
		ADD(pt, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
		ADD(pt, np, CKA_PUBLIC_EXPONENT, e, sizeof(e));
	} else if (spec->bits == 256) {
		ADD(pt, np, CKA_EC_PARAMS, oid_p256, sizeof(oid_p256));
	} else {
		ADD(pt, np, CKA_EC_PARAMS, oid_p384, sizeof(oid_p384));
	}
	ADD(vt, nv, CKA_TOKEN, &yes, sizeof(yes));
	ADD(vt, nv, CKA_PRIVATE, &yes, sizeof(yes));
	ADD(vt, nv, CKA_SENSITIVE, &yes, sizeof(yes));
	ADD(vt, nv, CKA_EXTRACTABLE, &no, sizeof(no));
	ADD(vt, nv, CKA_SIGN, &yes, sizeof(yes));
	ADD(vt, nv, CKA_DECRYPT, &no, sizeof(no));
	ADD(vt, nv, CKA_UNWRAP, &no, sizeof(no));
	ADD(vt, nv, CKA_DERIVE, &no, sizeof(no));
	ADD(vt, nv, CKA_LABEL, label, strlen(label));
	ADD(vt, nv, CKA_ID, id, ilen);
#undef ADD
	rv = fs_p11_module(p)->C_GenerateKeyPair(fs_p11_session(p), &mech,
	    pt, np, vt, nv, &pub, &priv);
	if (rv != CKR_OK)
		return fs_p11_err(err, rv, "C_GenerateKeyPair");
	if (idout != NULL && idlen != NULL) {
		if (*idlen > ilen)
			*idlen = ilen;
		memcpy(idout, id, *idlen);
	}
	return FS_OK;
}

/* --- token init --------------------------------------------------------- */

int
fs_p11_init_token(const char *module, const char *label,
    const char *so_pin_source, const char *pin_source, fs_err *err)
{
	CK_FUNCTION_LIST **all = NULL, *single = NULL, *f;
	CK_SLOT_ID slots[64], slot = (CK_SLOT_ID)-1;
	CK_ULONG n = 64;
	CK_UTF8CHAR lab[32];
	CK_SESSION_HANDLE s;
	CK_RV rv;
	char *so = NULL, *pin = NULL, what[160];
	int rc;

	if (strlen(label) > 32)
		return fs_err_set(err, FS_EUSAGE, "token label '%s' is longer "
		    "than 32 bytes", label);
	if (module == NULL)
		return fs_err_set(err, FS_EUSAGE, "token init needs --module");
	if ((rc = fs_p11_load_modules(module, NULL, &all, &single, err)))
		return rc;
	f = single;
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		rc = fs_p11_err(err, rv, "C_GetSlotList");
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char l[33];

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		fs_p11_trim(ti.label, sizeof(ti.label), l);
		if ((ti.flags & CKF_TOKEN_INITIALIZED) && strcmp(l, label) == 0) {
			rc = fs_err_set(err, FS_ETOKEN, "a token labelled '%s' "
			    "already exists (slot %lu); initialising again "
			    "would destroy its keys. Pick another label",
			    label, (unsigned long)slots[i]);
			goto out;
		}
		if (!(ti.flags & CKF_TOKEN_INITIALIZED) && slot == (CK_SLOT_ID)-1)
			slot = slots[i];
	}
	if (slot == (CK_SLOT_ID)-1) {
		rc = fs_err_set(err, FS_ETOKEN, "no uninitialised token in "
		    "module '%s'; fedsign does not re-initialise tokens that "
		    "hold keys", module);
		goto out;
	}
	snprintf(what, sizeof(what), "new SO PIN for token '%s'", label);
	if ((rc = fs_pin_from_source(so_pin_source, what, 1, &so, err)))
		goto out;
	snprintf(what, sizeof(what), "new user PIN for token '%s'", label);
	if ((rc = fs_pin_from_source(pin_source, what, 1, &pin, err)))
		goto out;
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, strlen(label));
	if ((rv = f->C_InitToken(slot, (CK_UTF8CHAR *)so, strlen(so), lab))) {
		rc = fs_p11_err(err, rv, "C_InitToken");
		goto out;
	}
	/* SoftHSM2 moves a fresh token to a new slot: look it up again. */
	n = 64;
	slot = (CK_SLOT_ID)-1;
	if (f->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK) {
		for (CK_ULONG i = 0; i < n; i++) {
			CK_TOKEN_INFO ti;
			char l[33];

			if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
				continue;
			fs_p11_trim(ti.label, sizeof(ti.label), l);
			if (strcmp(l, label) == 0 &&
			    !(ti.flags & CKF_USER_PIN_INITIALIZED))
				slot = slots[i];
		}
	}
	if (slot == (CK_SLOT_ID)-1) {
		rc = fs_err_set(err, FS_ETOKEN, "token '%s' initialised but "
		    "not found again to set its user PIN", label);
		goto out;
	}
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s)) != CKR_OK) {
		rc = fs_p11_err(err, rv, "C_OpenSession");
		goto out;
	}
	if ((rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so, strlen(so))) !=
	    CKR_OK) {
		rc = fs_p11_err(err, rv, "SO login");
	} else {
		if ((rv = f->C_InitPIN(s, (CK_UTF8CHAR *)pin, strlen(pin))))
			rc = fs_p11_err(err, rv, "C_InitPIN");
		(void)f->C_Logout(s);
	}
	(void)f->C_CloseSession(s);
out:
	fs_secret_free(so);
	fs_secret_free(pin);
	fs_p11_release_modules(all, all ? NULL : single);
	return rc;
}

/* --- listing ------------------------------------------------------------ */

static unsigned
key_bits(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_KEY_TYPE kt)
{
	CK_ATTRIBUTE a = { CKA_MODULUS, NULL, 0 };
	uint8_t buf[16];

	if (kt == CKK_RSA) {
		if (f->C_GetAttributeValue(s, o, &a, 1) == CKR_OK &&
		    a.ulValueLen != (CK_ULONG)-1)
			return (unsigned)a.ulValueLen * 8;
		return 0;
	}
	if (kt == CKK_EC) {
		a.type = CKA_EC_PARAMS;
		a.pValue = buf;
		a.ulValueLen = sizeof(buf);
		if (f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK)
			return 0;
		if (a.ulValueLen == sizeof(oid_p256) &&
		    memcmp(buf, oid_p256, sizeof(oid_p256)) == 0)
			return 256;
		if (a.ulValueLen == sizeof(oid_p384) &&
		    memcmp(buf, oid_p384, sizeof(oid_p384)) == 0)
			return 384;
	}
	return 0;
}

static int
get_bool(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL b;
	CK_ATTRIBUTE a = { t, &b, sizeof(b) };

	if (f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(b))
		return -1;
	return b == CK_TRUE;
}

static void
list_objects(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE s,
    const struct fs_p11_visitor *v)
{
	CK_OBJECT_HANDLE objs[256];
	CK_ULONG n = 0;

	if (f->C_FindObjectsInit(s, NULL, 0) != CKR_OK)
		return;
	(void)f->C_FindObjects(s, objs, 256, &n);
	(void)f->C_FindObjectsFinal(s);
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
		(void)f->C_GetAttributeValue(s, objs[i], a, 4);
		if (a[0].ulValueLen == (CK_ULONG)-1)
			oi.cls = (CK_ULONG)-1;
		oi.label[a[1].ulValueLen < sizeof(oi.label) ?
		    a[1].ulValueLen : 0] = '\0';
		if (a[2].ulValueLen != (CK_ULONG)-1)
			fs_p11_hex(id, a[2].ulValueLen, oi.id, sizeof(oi.id));
		if (a[3].ulValueLen == (CK_ULONG)-1)
			oi.key_type = (CK_ULONG)-1;
		else
			oi.bits = key_bits(f, s, objs[i], oi.key_type);
		oi.sensitive = get_bool(f, s, objs[i], CKA_SENSITIVE);
		oi.extractable = get_bool(f, s, objs[i], CKA_EXTRACTABLE);
		oi.always_sensitive = get_bool(f, s, objs[i],
		    CKA_ALWAYS_SENSITIVE);
		oi.never_extractable = get_bool(f, s, objs[i],
		    CKA_NEVER_EXTRACTABLE);
		oi.local = get_bool(f, s, objs[i], CKA_LOCAL);
		oi.sign = get_bool(f, s, objs[i], CKA_SIGN);
		oi.decrypt = get_bool(f, s, objs[i], CKA_DECRYPT);
		oi.private_ = get_bool(f, s, objs[i], CKA_PRIVATE);
		v->object(v->ctx, &oi);
	}
}

int
fs_p11_list(const char *module, const char *uristr, int login,
    const struct fs_p11_visitor *v, fs_err *err)
{
	CK_FUNCTION_LIST **all = NULL, *single = NULL, *one[2] = { 0 }, **mods;
	P11KitUri *uri = NULL;
	int rc;

	if (uristr != NULL && (rc = fs_p11_parse_uri(uristr, &uri, err)))
		return rc;
	if ((rc = fs_p11_load_modules(module, uri, &all, &single, err))) {
		if (uri)
			p11_kit_uri_free(uri);
		return rc;
	}
	one[0] = single;
	mods = single != NULL ? one : all;
	for (size_t m = 0; mods[m] != NULL; m++) {
		CK_FUNCTION_LIST *f = mods[m];
		CK_SLOT_ID slots[64];
		CK_ULONG n = 64;
		CK_INFO mi;
		char *name = p11_kit_module_get_name(f);
		char *path = p11_kit_module_get_filename(f);

		if (f->C_GetInfo(&mi) != CKR_OK)
			memset(&mi, 0, sizeof(mi));
		v->module(v->ctx, name ? name : "", path ? path : module ?
		    module : "", &mi);
		free(name);
		free(path);
		if (f->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK)
			continue;
		for (CK_ULONG i = 0; i < n; i++) {
			CK_SLOT_INFO si;
			CK_TOKEN_INFO ti;
			CK_SESSION_HANDLE s;

			if (f->C_GetSlotInfo(slots[i], &si) != CKR_OK)
				continue;
			v->slot(v->ctx, slots[i], &si);
			if (!(si.flags & CKF_TOKEN_PRESENT) ||
			    f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
				continue;
			if (uri != NULL && !p11_kit_uri_match_token_info(uri, &ti))
				continue;
			v->token(v->ctx, &ti);
			if (!(ti.flags & CKF_TOKEN_INITIALIZED))
				continue;
			if (f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL,
			    NULL, &s) != CKR_OK) {
				v->problem(v->ctx, "cannot open a session");
				continue;
			}
			if (login) {
				char what[96], l[33], *pin = NULL;
				fs_err e;
				CK_RV rv;

				fs_p11_trim(ti.label, sizeof(ti.label), l);
				snprintf(what, sizeof(what), "user PIN for "
				    "token '%s'", l);
				if (fs_pin_get(uri ? p11_kit_uri_get_pin_source(uri)
				    : NULL, what, &pin, &e) != FS_OK) {
					v->problem(v->ctx, e.msg);
				} else {
					rv = f->C_Login(s, CKU_USER,
					    (CK_UTF8CHAR *)pin, strlen(pin));
					fs_secret_free(pin);
					if (rv != CKR_OK &&
					    rv != CKR_USER_ALREADY_LOGGED_IN) {
						fs_p11_err(&e, rv, "login");
						v->problem(v->ctx, e.msg);
					}
				}
			}
			list_objects(f, s, v);
			(void)f->C_CloseSession(s);
		}
	}
	fs_p11_release_modules(all, all ? NULL : single);
	if (uri)
		p11_kit_uri_free(uri);
	return FS_OK;
}
