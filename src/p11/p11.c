#include "p11/p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "p11/p11_int.h"
#include "p11/pin.h"
#include "util/secret.h"

struct fs_p11 {
	P11KitUri *uri;
	CK_FUNCTION_LIST **modules;	/* every registered module, or NULL */
	CK_FUNCTION_LIST *single;	/* one module loaded by path */
	CK_FUNCTION_LIST *mod;		/* the module in use */
	CK_SLOT_ID slot;
	CK_TOKEN_INFO tinfo;
	CK_SESSION_HANDLE sess;
	int have_sess;
	int logged_in;
	CK_RV init_rv;		/* C_SignInit's answer in the last fs_p11_sign */
	char token_label[33];
};

void
fs_p11_trim(const CK_UTF8CHAR *s, size_t n, char *out)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

int
fs_p11_load_modules(const char *module, P11KitUri *uri,
    CK_FUNCTION_LIST ***all, CK_FUNCTION_LIST **single, fs_err *err)
{
	const char *path = module, *name = NULL;
	CK_RV rv;

	*all = NULL;
	*single = NULL;
	if (path == NULL && uri != NULL) {
		path = p11_kit_uri_get_module_path(uri);
		name = p11_kit_uri_get_module_name(uri);
	}
	if (path != NULL) {
		*single = p11_kit_module_load(path, 0);
		if (*single == NULL)
			return fs_err_set(err, FS_ETOKEN,
			    "cannot load PKCS#11 module '%s': %s; check the "
			    "path (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so, "
			    "OpenSC: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)",
			    path, p11_kit_message() ? p11_kit_message() :
			    "not found");
		if ((rv = p11_kit_module_initialize(*single)) != CKR_OK) {
			p11_kit_module_release(*single);
			*single = NULL;
			fs_p11_err(err, rv, "C_Initialize");
			fs_err_append(err, "module '%s'", path);
			return FS_ETOKEN;
		}
		return FS_OK;
	}
	*all = p11_kit_modules_load_and_initialize(0);
	if (*all == NULL)
		return fs_err_set(err, FS_ETOKEN, "cannot load the p11-kit "
		    "registered PKCS#11 modules: %s", p11_kit_message() ?
		    p11_kit_message() : "unknown error");
	if (name != NULL) {
		for (size_t i = 0; (*all)[i] != NULL; i++) {
			char *n = p11_kit_module_get_name((*all)[i]);
			int hit = n != NULL && strcmp(n, name) == 0;
			free(n);
			if (hit) {
				/* Keep the array for release, use one entry. */
				*single = (*all)[i];
				return FS_OK;
			}
		}
		p11_kit_modules_finalize_and_release(*all);
		*all = NULL;
		return fs_err_set(err, FS_ETOKEN, "no PKCS#11 module named '%s'"
		    " is registered with p11-kit (see 'fedsign token list' and"
		    " /usr/share/p11-kit/modules/); use module-path= instead",
		    name);
	}
	return FS_OK;
}

void
fs_p11_release_modules(CK_FUNCTION_LIST **all, CK_FUNCTION_LIST *single)
{
	if (all != NULL) {
		p11_kit_modules_finalize_and_release(all);
	} else if (single != NULL) {
		p11_kit_module_finalize(single);
		p11_kit_module_release(single);
	}
}

void
fs_p11_uri_shown(const char *uri, char *buf, size_t len)
{
	size_t n = strcspn(uri, "?");

	/* The query may hold a pin-value: never repeat it in a message. */
	snprintf(buf, len, "%.*s%s", (int)n, uri, uri[n] ? "?..." : "");
}

int
fs_p11_parse_uri(const char *s, P11KitUri **out, fs_err *err)
{
	P11KitUri *uri;
	char shown[512];
	int r;

	*out = NULL;
	fs_p11_uri_shown(s, shown, sizeof(shown));
	if (strncmp(s, "pkcs11:", 7) != 0)
		return fs_err_set(err, FS_EUSAGE, "'%s' is not a PKCS#11 URI: "
		    "write pkcs11:token=LABEL;object=KEYLABEL (RFC 7512)",
		    shown);
	if ((uri = p11_kit_uri_new()) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	r = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, uri);
	if (r != P11_KIT_URI_OK) {
		p11_kit_uri_free(uri);
		return fs_err_set(err, FS_EUSAGE, "invalid PKCS#11 URI '%s': %s",
		    shown, p11_kit_uri_message(r));
	}
	if (p11_kit_uri_get_pin_value(uri) != NULL) {
		p11_kit_uri_free(uri);
		return fs_err_set(err, FS_EUSAGE, "the key URI holds a "
		    "pin-value: a PIN on the command line is visible to every "
		    "user of this machine; use pin-source=file:PATH or "
		    "FEDSIGN_PIN, and consider changing the PIN");
	}
	*out = uri;
	return FS_OK;
}

struct tok {
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

/* Scan mods for tokens matching uri; exactly one must match. */
static int
find_token(CK_FUNCTION_LIST **mods, P11KitUri *uri, const char *fulluri,
    struct tok *found, fs_err *err)
{
	char seen[1024] = "", hits[1024] = "", d[128], uristr[512];
	size_t nseen = 0, nhits = 0;
	int present = 0, nmatch = 0;

	fs_p11_uri_shown(fulluri, uristr, sizeof(uristr));

	for (size_t m = 0; mods[m] != NULL; m++) {
		CK_FUNCTION_LIST *f = mods[m];
		CK_SLOT_ID slots[64];
		CK_ULONG n = 64;
		CK_INFO minfo;

		if (f->C_GetInfo(&minfo) == CKR_OK &&
		    !p11_kit_uri_match_module_info(uri, &minfo))
			continue;
		if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
			continue;
		for (CK_ULONG i = 0; i < n; i++) {
			CK_TOKEN_INFO ti;
			CK_SLOT_INFO si;
			CK_SLOT_ID want;

			/* An empty (uninitialised) token holds no keys. */
			if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
			    !(ti.flags & CKF_TOKEN_INITIALIZED))
				continue;
			if (f->C_GetSlotInfo(slots[i], &si) == CKR_OK &&
			    !p11_kit_uri_match_slot_info(uri, &si))
				continue;
			want = p11_kit_uri_get_slot_id(uri);
			if (want != (CK_SLOT_ID)-1 && want != slots[i])
				continue;
			present++;
			describe_token(&ti, d, sizeof(d));
			nseen += (size_t)snprintf(seen + nseen,
			    nseen < sizeof(seen) ? sizeof(seen) - nseen : 0,
			    "%s%s", nseen ? ", " : "", d);
			if (nseen >= sizeof(seen))
				nseen = sizeof(seen);
			if (!p11_kit_uri_match_token_info(uri, &ti))
				continue;
			nhits += (size_t)snprintf(hits + nhits,
			    nhits < sizeof(hits) ? sizeof(hits) - nhits : 0,
			    "%s%s", nhits ? ", " : "", d);
			if (nhits >= sizeof(hits))
				nhits = sizeof(hits);
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

int
fs_p11_open(const char *uristr, const char *module, unsigned flags,
    fs_p11 **out, fs_err *err)
{
	CK_FUNCTION_LIST *one[2] = { NULL, NULL };
	struct tok t = { 0 };
	fs_p11 *p;
	CK_RV rv;
	int rc;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	if ((rc = fs_p11_parse_uri(uristr, &p->uri, err)) != FS_OK)
		goto fail;
	rc = fs_p11_load_modules(module, p->uri, &p->modules, &p->single, err);
	if (rc != FS_OK)
		goto fail;
	one[0] = p->single;
	rc = find_token(p->single != NULL ? one : p->modules, p->uri, uristr,
	    &t, err);
	if (rc != FS_OK)
		goto fail;
	p->mod = t.mod;
	p->slot = t.slot;
	p->tinfo = t.info;
	fs_p11_trim(t.info.label, sizeof(t.info.label), p->token_label);
	rv = p->mod->C_OpenSession(p->slot, CKF_SERIAL_SESSION |
	    ((flags & FS_P11_RW) ? CKF_RW_SESSION : 0), NULL, NULL, &p->sess);
	if (rv != CKR_OK) {
		rc = fs_p11_err(err, rv, "C_OpenSession");
		fs_err_append(err, "token '%s'", p->token_label);
		goto fail;
	}
	p->have_sess = 1;
	*out = p;
	return FS_OK;
fail:
	fs_p11_free(p);
	return rc;
}

void
fs_p11_free(fs_p11 *p)
{
	if (p == NULL)
		return;
	if (p->have_sess) {
		if (p->logged_in)
			(void)p->mod->C_Logout(p->sess);
		(void)p->mod->C_CloseSession(p->sess);
	}
	/* A module picked by name from the registry lives in p->modules. */
	fs_p11_release_modules(p->modules, p->modules ? NULL : p->single);
	if (p->uri != NULL)
		p11_kit_uri_free(p->uri);
	free(p);
}

CK_FUNCTION_LIST *
fs_p11_module(fs_p11 *p)
{
	return p->mod;
}

CK_SESSION_HANDLE
fs_p11_session(fs_p11 *p)
{
	return p->sess;
}

const char *
fs_p11_token_label(const fs_p11 *p)
{
	return p->token_label;
}

const char *
fs_p11_uri_label(const fs_p11 *p)
{
	static char label[256];
	CK_ATTRIBUTE *a;

	a = p11_kit_uri_get_attribute(p->uri, CKA_LABEL);
	if (a == NULL || a->pValue == NULL)
		return NULL;
	snprintf(label, sizeof(label), "%.*s", (int)a->ulValueLen,
	    (const char *)a->pValue);
	return label;
}

const uint8_t *
fs_p11_uri_id(const fs_p11 *p, size_t *len)
{
	CK_ATTRIBUTE *a;

	a = p11_kit_uri_get_attribute(p->uri, CKA_ID);
	if (a == NULL || a->pValue == NULL || a->ulValueLen == 0) {
		*len = 0;
		return NULL;
	}
	*len = a->ulValueLen;
	return a->pValue;
}

int
fs_p11_login(fs_p11 *p, fs_err *err)
{
	CK_SESSION_INFO si;
	char what[128], state[160], *pin = NULL;
	CK_RV rv;
	int rc;

	if (p->logged_in)
		return FS_OK;
	if (p->mod->C_GetSessionInfo(p->sess, &si) == CKR_OK &&
	    (si.state == CKS_RO_USER_FUNCTIONS ||
	    si.state == CKS_RW_USER_FUNCTIONS)) {
		p->logged_in = 1;
		return FS_OK;
	}
	if (p->tinfo.flags & CKF_USER_PIN_LOCKED)
		return fs_err_set(err, FS_ETOKEN, "token '%s': "
		    "CKR_PIN_LOCKED: the user PIN is locked; unblock it with "
		    "the SO PIN before trying again", p->token_label);
	if (p->tinfo.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
		rv = p->mod->C_Login(p->sess, CKU_USER, NULL, 0);
	} else {
		snprintf(what, sizeof(what), "user PIN for token '%s'",
		    p->token_label);
		rc = fs_pin_get(p11_kit_uri_get_pin_source(p->uri), what, &pin,
		    err);
		if (rc != FS_OK)
			return rc;
		rv = p->mod->C_Login(p->sess, CKU_USER, (CK_UTF8CHAR *)pin,
		    strlen(pin));
		fs_secret_free(pin);
	}
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		fs_p11_err(err, rv, "login");
		fs_err_append(err, "token '%s'", p->token_label);
		if (p->mod->C_GetTokenInfo(p->slot, &p->tinfo) == CKR_OK) {
			fs_p11_pin_state(p->tinfo.flags, state, sizeof(state));
			fs_err_append(err, "PIN state: %s", state[0] ? state :
			    "no warning flags set by the token");
		}
		return FS_ETOKEN;
	}
	p->logged_in = 1;
	return FS_OK;
}

static const char *
class_name(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PRIVATE_KEY: return "private key";
	case CKO_PUBLIC_KEY: return "public key";
	case CKO_CERTIFICATE: return "certificate";
	case CKO_SECRET_KEY: return "secret key";
	case CKO_DATA: return "data object";
	default: return "object";
	}
}

void
fs_p11_hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n && 2 * i + 2 < outlen; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * i] = '\0';
}

/* Describe obj as "label 'x' id 01ab" into buf. */
static void
describe_obj(fs_p11 *p, CK_OBJECT_HANDLE obj, char *buf, size_t len)
{
	char label[128] = "", id[65] = "";
	CK_ATTRIBUTE a[2] = {
		{ CKA_LABEL, label, sizeof(label) - 1 },
		{ CKA_ID, NULL, 0 },
	};
	uint8_t idv[32];
	CK_RV rv;

	a[1].pValue = idv;
	a[1].ulValueLen = sizeof(idv);
	rv = p->mod->C_GetAttributeValue(p->sess, obj, a, 2);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_BUFFER_TOO_SMALL) {
		snprintf(buf, len, "(unreadable)");
		return;
	}
	if (a[0].ulValueLen != (CK_ULONG)-1 && a[0].ulValueLen < sizeof(label))
		label[a[0].ulValueLen] = '\0';
	else
		label[0] = '\0';
	if (a[1].ulValueLen != (CK_ULONG)-1 && a[1].ulValueLen <= sizeof(idv))
		fs_p11_hex(idv, a[1].ulValueLen, id, sizeof(id));
	snprintf(buf, len, "object=%s;id=%s", label, id);
}

static int
find_objects(fs_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count, fs_err *err)
{
	CK_RV rv;

	*count = 0;
	if ((rv = p->mod->C_FindObjectsInit(p->sess, tmpl, n)) != CKR_OK)
		return fs_p11_err(err, rv, "C_FindObjectsInit");
	rv = p->mod->C_FindObjects(p->sess, objs, max, count);
	(void)p->mod->C_FindObjectsFinal(p->sess);
	if (rv != CKR_OK)
		return fs_p11_err(err, rv, "C_FindObjects");
	return FS_OK;
}

static int
list_class(fs_p11 *p, CK_OBJECT_CLASS cls, char *buf, size_t len)
{
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE objs[32];
	CK_ULONG n;
	size_t used = 0;
	char d[200];

	buf[0] = '\0';
	if (find_objects(p, &t, 1, objs, 32, &n, NULL) != FS_OK)
		return 0;
	for (CK_ULONG i = 0; i < n && used < len; i++) {
		describe_obj(p, objs[i], d, sizeof(d));
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		    used ? ", " : "", d);
	}
	return (int)n;
}

int
fs_p11_find(fs_p11 *p, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *obj,
    fs_err *err)
{
	CK_ATTRIBUTE *ua, tmpl[8];
	CK_ULONG nua = 0, n = 0, count;
	CK_OBJECT_HANDLE objs[16];
	char list[1024], d[200];
	size_t used = 0;
	int rc;

	ua = p11_kit_uri_get_attributes(p->uri, &nua);
	for (CK_ULONG i = 0; i < nua && n < 7; i++)
		if (ua[i].type == CKA_LABEL || ua[i].type == CKA_ID)
			tmpl[n++] = ua[i];
	tmpl[n].type = CKA_CLASS;
	tmpl[n].pValue = &cls;
	tmpl[n].ulValueLen = sizeof(cls);
	n++;
	if ((rc = find_objects(p, tmpl, n, objs, 16, &count, err)) != FS_OK)
		return rc;
	if (count == 1) {
		*obj = objs[0];
		return FS_OK;
	}
	if (count == 0) {
		int have = list_class(p, cls, list, sizeof(list));
		return fs_err_set(err, FS_ETOKEN, "no %s on token '%s' matches "
		    "the URI; the token has %s%s%s", class_name(cls),
		    p->token_label, have ? "" : "none",
		    have ? list : "", (cls == CKO_PRIVATE_KEY && !p->logged_in)
		    ? " (private keys show only after login)" : "");
	}
	list[0] = '\0';
	for (CK_ULONG i = 0; i < count; i++) {
		describe_obj(p, objs[i], d, sizeof(d));
		used += (size_t)snprintf(list + used, used < sizeof(list) ?
		    sizeof(list) - used : 0, "%s%s", used ? ", " : "", d);
		if (used >= sizeof(list))
			break;
	}
	return fs_err_set(err, FS_ETOKEN, "the URI matches %lu %ss on token "
	    "'%s': %s; name one with object= and id=", (unsigned long)count,
	    class_name(cls), p->token_label, list);
}

int
fs_p11_find_by_id(fs_p11 *p, CK_OBJECT_CLASS cls, const uint8_t *id,
    size_t idlen, CK_OBJECT_HANDLE *obj, fs_err *err)
{
	CK_ATTRIBUTE t[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, idlen },
	};
	CK_OBJECT_HANDLE objs[2];
	CK_ULONG count;
	int rc;

	if ((rc = find_objects(p, t, 2, objs, 2, &count, err)) != FS_OK)
		return rc;
	if (count != 1)
		return fs_err_set(err, FS_ETOKEN, "%s %s with this key's id on "
		    "token '%s'", count ? "more than one" : "no",
		    class_name(cls), p->token_label);
	*obj = objs[0];
	return FS_OK;
}

int
fs_p11_attr(fs_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    uint8_t **val, size_t *len, fs_err *err)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*val = NULL;
	*len = 0;
	rv = p->mod->C_GetAttributeValue(p->sess, obj, &a, 1);
	if (rv != CKR_OK || a.ulValueLen == (CK_ULONG)-1)
		return fs_p11_err(err, rv == CKR_OK ?
		    CKR_ATTRIBUTE_TYPE_INVALID : rv, "C_GetAttributeValue");
	if ((a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1)) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	rv = p->mod->C_GetAttributeValue(p->sess, obj, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return fs_p11_err(err, rv, "C_GetAttributeValue");
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return FS_OK;
}

int
fs_p11_bool(fs_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { type, &b, sizeof(b) };

	if (p->mod->C_GetAttributeValue(p->sess, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(b))
		return -1;
	return b == CK_TRUE;
}

int
fs_p11_ulong(fs_p11 *p, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    CK_ULONG *val)
{
	CK_ATTRIBUTE a = { type, val, sizeof(*val) };

	if (p->mod->C_GetAttributeValue(p->sess, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen != sizeof(*val))
		return -1;
	return 0;
}

static int
rsa_pkey(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
    EVP_PKEY **pkey, fs_err *err)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	int rc = FS_EINTERNAL;

	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		fs_err_openssl(err, FS_ETOKEN, "cannot build the RSA public key "
		    "read from the token");
		goto out;
	}
	rc = FS_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return rc;
}

static int
ec_pkey(const uint8_t *params_der, size_t plen, const uint8_t *point,
    size_t ptlen, EVP_PKEY **pkey, fs_err *err)
{
	const unsigned char *q = params_der;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *os = NULL;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	const char *group;
	EC_GROUP *grp;
	size_t field = 0;
	int rc = FS_ETOKEN, nid;

	if ((oid = d2i_ASN1_OBJECT(NULL, &q, (long)plen)) == NULL ||
	    (nid = OBJ_obj2nid(oid)) == NID_undef ||
	    (group = OBJ_nid2sn(nid)) == NULL) {
		fs_err_set(err, FS_ETOKEN, "the token's EC key has parameters "
		    "fedsign does not know (only named curves are supported)");
		goto out;
	}
	/*
	 * CKA_EC_POINT is a DER OCTET STRING; some tokens send the bare
	 * uncompressed point (0x04, X, Y), told apart by its exact length.
	 */
	if ((grp = EC_GROUP_new_by_curve_name(nid)) != NULL)
		field = (size_t)(EC_GROUP_get_degree(grp) + 7) / 8;
	EC_GROUP_free(grp);
	q = point;
	if (!(field > 0 && ptlen == 1 + 2 * field && point[0] == 0x04) &&
	    (os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)ptlen)) != NULL &&
	    q == point + ptlen) {
		point = ASN1_STRING_get0_data(os);
		ptlen = (size_t)ASN1_STRING_length(os);
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (void *)point, ptlen);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		fs_err_openssl(err, FS_ETOKEN, "cannot build the EC public key "
		    "read from the token");
		goto out;
	}
	rc = FS_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(os);
	return rc;
}

int
fs_p11_public_key(fs_p11 *p, CK_OBJECT_HANDLE obj, EVP_PKEY **pkey,
    fs_err *err)
{
	uint8_t *a = NULL, *b = NULL, *id = NULL;
	size_t alen, blen, idlen;
	CK_OBJECT_HANDLE pub = obj;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	int rc;

	*pkey = NULL;
	if (fs_p11_ulong(p, obj, CKA_KEY_TYPE, &kt) == -1 ||
	    fs_p11_ulong(p, obj, CKA_CLASS, &cls) == -1)
		return fs_err_set(err, FS_ETOKEN, "cannot read the key type");
	if (kt != CKK_RSA && kt != CKK_EC)
		return fs_err_set(err, FS_ETOKEN, "key type 0x%lx is not RSA "
		    "or EC", (unsigned long)kt);
	if (kt == CKK_RSA &&
	    fs_p11_attr(p, obj, CKA_MODULUS, &a, &alen, NULL) == FS_OK &&
	    fs_p11_attr(p, obj, CKA_PUBLIC_EXPONENT, &b, &blen, NULL) == FS_OK) {
		rc = rsa_pkey(a, alen, b, blen, pkey, err);
		goto out;
	}
	free(a);
	free(b);
	a = b = NULL;
	if (cls != CKO_PUBLIC_KEY) {
		rc = fs_p11_attr(p, obj, CKA_ID, &id, &idlen, err);
		if (rc != FS_OK)
			goto out;
		rc = fs_p11_find_by_id(p, CKO_PUBLIC_KEY, id, idlen, &pub, err);
		if (rc != FS_OK) {
			fs_err_append(err, "cannot read the public key");
			goto out;
		}
	}
	if (kt == CKK_RSA) {
		if ((rc = fs_p11_attr(p, pub, CKA_MODULUS, &a, &alen, err)) ||
		    (rc = fs_p11_attr(p, pub, CKA_PUBLIC_EXPONENT, &b, &blen,
		    err)))
			goto out;
		rc = rsa_pkey(a, alen, b, blen, pkey, err);
	} else {
		if ((rc = fs_p11_attr(p, pub, CKA_EC_PARAMS, &a, &alen, err)) ||
		    (rc = fs_p11_attr(p, pub, CKA_EC_POINT, &b, &blen, err)))
			goto out;
		rc = ec_pkey(a, alen, b, blen, pkey, err);
	}
out:
	free(a);
	free(b);
	free(id);
	return rc;
}

int
fs_p11_has_mech(fs_p11 *p, CK_MECHANISM_TYPE mech, CK_MECHANISM_INFO *info)
{
	CK_MECHANISM_INFO mi;

	if (p->mod->C_GetMechanismInfo(p->slot, mech, &mi) != CKR_OK)
		return 0;
	if (info != NULL)
		*info = mi;
	return 1;
}

int
fs_p11_sign(fs_p11 *p, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
    const uint8_t *in, size_t inlen, uint8_t **sig, size_t *siglen,
    fs_err *err)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_ULONG len = 1024;	/* RSA-8192 or any EC curve fits */
	uint8_t *buf;
	CK_RV rv;

	*sig = NULL;
	if ((buf = malloc(len)) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	if ((p->init_rv = rv = p->mod->C_SignInit(p->sess, &m, key)) != CKR_OK) {
		free(buf);
		return fs_p11_err(err, rv, "C_SignInit");
	}
	/* One C_Sign with a buffer large enough: slow tokens sign once. */
	if ((rv = p->mod->C_Sign(p->sess, (CK_BYTE *)in, inlen, buf, &len))
	    != CKR_OK) {
		free(buf);
		return fs_p11_err(err, rv, "C_Sign");
	}
	*sig = buf;
	*siglen = len;
	return FS_OK;
}

int
fs_p11_create(fs_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *obj, fs_err *err)
{
	CK_RV rv;

	if ((rv = p->mod->C_CreateObject(p->sess, tmpl, n, obj)) != CKR_OK)
		return fs_p11_err(err, rv, "C_CreateObject");
	return FS_OK;
}

int
fs_p11_destroy(fs_p11 *p, CK_OBJECT_HANDLE obj, fs_err *err)
{
	CK_RV rv;

	if ((rv = p->mod->C_DestroyObject(p->sess, obj)) != CKR_OK)
		return fs_p11_err(err, rv, "C_DestroyObject");
	return FS_OK;
}

int
fs_p11_count_matching(fs_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_ULONG *count, fs_err *err)
{
	CK_OBJECT_HANDLE objs[16];

	return find_objects(p, tmpl, n, objs, 16, count, err);
}

int
fs_p11_mech_refused(const fs_p11 *p)
{
	return p->init_rv == CKR_MECHANISM_INVALID ||
	    p->init_rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
	    p->init_rv == CKR_KEY_TYPE_INCONSISTENT;
}

CK_SLOT_ID
fs_p11_slot(fs_p11 *p)
{
	return p->slot;
}
