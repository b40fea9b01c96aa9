/* Key generation inside the token, and token initialisation. */
#include "p11/p11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <p11-kit/p11-kit.h>

#include "fedsign/alg.h"
#include "fedsign/util.h"

/* DER OIDs of the named curves, as CKA_EC_PARAMS. */
const uint8_t fs_oid_p256[10] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07 };
const uint8_t fs_oid_p384[7] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

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
check_unique(fs_token *t, const char *label, const uint8_t *id, size_t idlen,
    fs_err *err)
{
	CK_OBJECT_HANDLE objs[16];
	CK_ATTRIBUTE a;
	CK_ULONG count;
	char hex[129];
	int rc;

	a = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	if ((rc = fs_token_objects(t, &a, 1, objs, 16, &count, err)) != FS_OK)
		return rc;
	if (count > 0)
		return fs_err_set(err, FS_ETOKEN, "token '%s' already has %lu "
		    "object(s) labelled '%s'; choose another object= label (a "
		    "second key with the same name would make the key URI "
		    "ambiguous)", t->label, (unsigned long)count, label);
	a = (CK_ATTRIBUTE){ CKA_ID, (void *)id, idlen };
	if ((rc = fs_token_objects(t, &a, 1, objs, 16, &count, err)) != FS_OK)
		return rc;
	if (count > 0) {
		fs_hex(id, idlen, hex, sizeof(hex));
		return fs_err_set(err, FS_ETOKEN, "token '%s' already has %lu "
		    "object(s) with id %s; choose another id= or leave it out "
		    "for a fresh one", t->label, (unsigned long)count, hex);
	}
	return FS_OK;
}

int
fs_keygen(fs_token *t, const char *uristr, const struct fs_keyspec *spec,
    uint8_t *idout, size_t *idlen, fs_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = spec->bits;
	CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM_INFO mi;
	CK_OBJECT_HANDLE pub, priv;
	CK_SESSION_HANDLE s;
	P11KitUri *uri = t->uri, *own = NULL;
	CK_ATTRIBUTE *la, *ia, pt[10], vt[14];
	char label[256];
	uint8_t id[20];
	size_t ilen;
	CK_ULONG np = 0, nv = 0;
	CK_RV rv;
	int rc;

	if (uristr != NULL) {
		if ((rc = fs_p11_parse_uri(uristr, &own, err)) != FS_OK)
			return rc;
		uri = own;
	}
	la = p11_kit_uri_get_attribute(uri, CKA_LABEL);
	ia = p11_kit_uri_get_attribute(uri, CKA_ID);
	if (la == NULL || la->pValue == NULL || la->ulValueLen == 0 ||
	    la->ulValueLen >= sizeof(label)) {
		rc = fs_err_set(err, FS_EUSAGE, "the key URI has no object= "
		    "label: name the new key, e.g. pkcs11:token=%s;object="
		    "md-signing-2026", t->label);
		goto out;
	}
	memcpy(label, la->pValue, la->ulValueLen);
	label[la->ulValueLen] = '\0';
	if (ia != NULL && ia->pValue != NULL && ia->ulValueLen > 0) {
		if (ia->ulValueLen > sizeof(id)) {
			rc = fs_err_set(err, FS_EUSAGE, "id= is longer than "
			    "%zu bytes", sizeof(id));
			goto out;
		}
		ilen = ia->ulValueLen;
		memcpy(id, ia->pValue, ilen);
	} else {
		ilen = 20;
		if (RAND_bytes(id, (int)ilen) != 1) {
			rc = fs_err_set(err, FS_EINTERNAL, "no random bytes");
			goto out;
		}
	}
	if (spec->type == FS_KEY_EC)
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
	if (!fs_token_has_mech(t, mech.mechanism, &mi) ||
	    (mi.flags & CKF_GENERATE_KEY_PAIR) == 0) {
		rc = fs_err_set(err, FS_ETOKEN, "token '%s' cannot generate "
		    "%s keys (%s is not listed by the token)", t->label,
		    spec->type == FS_KEY_RSA ? "RSA" : "EC",
		    spec->type == FS_KEY_RSA ? "CKM_RSA_PKCS_KEY_PAIR_GEN" :
		    "CKM_EC_KEY_PAIR_GEN");
		goto out;
	}
	/* Some tokens state EC sizes in bytes; only trust sizes in bits. */
	if (mi.ulMaxKeySize != 0 && (spec->type == FS_KEY_RSA ||
	    mi.ulMaxKeySize >= 160) &&
	    (spec->bits > mi.ulMaxKeySize || spec->bits < mi.ulMinKeySize)) {
		rc = fs_err_set(err, FS_ETOKEN, "token '%s' cannot make a "
		    "%u-bit %s key: its CK_MECHANISM_INFO allows %lu to %lu "
		    "bits%s", t->label, spec->bits,
		    spec->type == FS_KEY_RSA ? "RSA" : "EC",
		    (unsigned long)mi.ulMinKeySize,
		    (unsigned long)mi.ulMaxKeySize,
		    spec->type == FS_KEY_RSA ? "; choose a smaller "
		    "--type (a SmartCard-HSM stops at rsa:2048)" : "");
		goto out;
	}
	if ((rc = check_unique(t, label, id, ilen, err)) != FS_OK)
		goto out;

#define ADD(tp, n, type, v, len) \
	(tp)[(n)++] = (CK_ATTRIBUTE){ (type), (void *)(v), (len) }
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
		ADD(pt, np, CKA_EC_PARAMS, fs_oid_p256, sizeof(fs_oid_p256));
	} else {
		ADD(pt, np, CKA_EC_PARAMS, fs_oid_p384, sizeof(fs_oid_p384));
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
	if ((rc = fs_token_get_session(t, &s, err)) != FS_OK)
		goto out;
	P11_CALL(&t->hooks, rv, "C_GenerateKeyPair",
	    t->mod->C_GenerateKeyPair(s, &mech, pt, np, vt, nv, &pub, &priv));
	fs_token_put_session(t, s, fs_p11_rv_broken(rv));
	if (rv != CKR_OK) {
		rc = fs_p11_err(err, rv, "C_GenerateKeyPair");
		goto out;
	}
	if (idout != NULL && idlen != NULL) {
		if (*idlen > ilen)
			*idlen = ilen;
		memcpy(idout, id, *idlen);
	}
	rc = FS_OK;
out:
	if (own != NULL)
		p11_kit_uri_free(own);
	return rc;
}

/* --- token init --------------------------------------------------------- */

/* The slot of the token labelled label, by its state; -1 when none. */
static CK_SLOT_ID
slot_of(CK_FUNCTION_LIST *f, const struct fs_p11_hooks *hooks,
    const char *label, int initialised)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_RV rv;

	P11_CALL(hooks, rv, "C_GetSlotList", f->C_GetSlotList(CK_TRUE, slots,
	    &n));
	if (rv != CKR_OK)
		return (CK_SLOT_ID)-1;
	if (n > 64)
		n = 64;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char l[33];

		P11_CALL(hooks, rv, "C_GetTokenInfo",
		    f->C_GetTokenInfo(slots[i], &ti));
		if (rv != CKR_OK)
			continue;
		fs_p11_trim(ti.label, sizeof(ti.label), l);
		if (initialised == 0 && !(ti.flags & CKF_TOKEN_INITIALIZED))
			return slots[i];
		if (initialised == 1 && (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    strcmp(l, label) == 0)
			return slots[i];
		if (initialised == 2 && strcmp(l, label) == 0 &&
		    !(ti.flags & CKF_USER_PIN_INITIALIZED))
			return slots[i];
	}
	return (CK_SLOT_ID)-1;
}

int
fs_p11_init_token(const char *module, const char *label,
    const char *so_pin_source, const char *pin_source,
    const struct fs_p11_hooks *hooks, fs_err *err)
{
	CK_FUNCTION_LIST **all = NULL, *f = NULL;
	CK_SLOT_ID slot;
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
	if ((rc = fs_p11_load_modules(module, NULL, hooks, &all, &f, err)))
		return rc;
	if ((slot = slot_of(f, hooks, label, 1)) != (CK_SLOT_ID)-1) {
		rc = fs_err_set(err, FS_ETOKEN, "a token labelled '%s' already "
		    "exists (slot %lu); initialising again would destroy its "
		    "keys. Pick another label", label, (unsigned long)slot);
		goto out;
	}
	if ((slot = slot_of(f, hooks, label, 0)) == (CK_SLOT_ID)-1) {
		rc = fs_err_set(err, FS_ETOKEN, "no uninitialised token in "
		    "module '%s'; fedsign does not re-initialise tokens that "
		    "hold keys", module);
		goto out;
	}
	snprintf(what, sizeof(what), "new SO PIN for token '%s'", label);
	if ((rc = fs_pin_from_source(so_pin_source, what, 1, hooks, &so, err)))
		goto out;
	snprintf(what, sizeof(what), "new user PIN for token '%s'", label);
	if ((rc = fs_pin_from_source(pin_source, what, 1, hooks, &pin, err)))
		goto out;
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, strlen(label));
	P11_CALL(hooks, rv, "C_InitToken", f->C_InitToken(slot,
	    (CK_UTF8CHAR *)so, strlen(so), lab));
	if (rv != CKR_OK) {
		rc = fs_p11_err(err, rv, "C_InitToken");
		goto out;
	}
	/* SoftHSM2 moves a fresh token to a new slot: look it up again. */
	if ((slot = slot_of(f, hooks, label, 2)) == (CK_SLOT_ID)-1) {
		rc = fs_err_set(err, FS_ETOKEN, "token '%s' initialised but "
		    "not found again to set its user PIN", label);
		goto out;
	}
	P11_CALL(hooks, rv, "C_OpenSession", f->C_OpenSession(slot,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	if (rv != CKR_OK) {
		rc = fs_p11_err(err, rv, "C_OpenSession");
		goto out;
	}
	P11_CALL(hooks, rv, "C_Login", f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)so,
	    strlen(so)));
	if (rv != CKR_OK) {
		rc = fs_p11_err(err, rv, "C_Login (SO)");
	} else {
		P11_CALL(hooks, rv, "C_InitPIN", f->C_InitPIN(s,
		    (CK_UTF8CHAR *)pin, strlen(pin)));
		if (rv != CKR_OK)
			rc = fs_p11_err(err, rv, "C_InitPIN");
		P11_CALL(hooks, rv, "C_Logout", f->C_Logout(s));
	}
	P11_CALL(hooks, rv, "C_CloseSession", f->C_CloseSession(s));
out:
	fs_secret_free(so);
	fs_secret_free(pin);
	fs_p11_release_modules(all, all ? NULL : f, hooks);
	return rc;
}
