/* PKCS#11 modules through p11-kit, and the checking of key URIs. */
#include "p11/p11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <p11-kit/p11-kit.h>

void *
fs_p11_begin(const struct fs_p11_hooks *h, const char *call)
{
	if (h == NULL || h->call_begin == NULL)
		return NULL;
	return h->call_begin(h->ctx, call);
}

void
fs_p11_end(const struct fs_p11_hooks *h, void *cookie)
{
	if (h != NULL && h->call_end != NULL)
		h->call_end(h->ctx, cookie);
}

void
fs_p11_trim(const CK_UTF8CHAR *s, size_t n, char *out)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

void
fs_p11_uri_shown(const char *uri, char *buf, size_t len)
{
	size_t n = strcspn(uri, "?");

	/* The query may hold a pin-value: never repeat it in a message. */
	snprintf(buf, len, "%.*s%s", (int)n, uri, uri[n] ? "?..." : "");
}

static const char *const path_attrs[] = {
	"token", "manufacturer", "serial", "model", "library-manufacturer",
	"library-description", "library-version", "object", "id", "type",
	"slot-description", "slot-manufacturer", "slot-id", NULL
};
static const char *const query_attrs[] = {
	"pin-source", "module-name", "module-path", NULL
};
static const char *const types[] = {
	"private", "public", "cert", "secret-key", "data", NULL
};

static int
in_list(const char *const *list, const char *s, size_t n)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == n && strncmp(*list, s, n) == 0)
			return 1;
	return 0;
}

/*
 * p11-kit ignores attributes it does not know (a mistyped `objet=` would
 * match every object) and gives no useful message for a query attribute
 * in capitals.  Check every attribute name, and refuse a repeated one.
 */
static int
check_attrs(const char *s, fs_err *err)
{
	const char *p = s + strlen("pkcs11:"), *end, *eq;
	char seen[32][24];
	size_t nseen = 0, n;
	int query = 0;

	while (*p != '\0') {
		end = p + strcspn(p, query ? "&" : ";?");
		eq = memchr(p, '=', (size_t)(end - p));
		n = eq != NULL ? (size_t)(eq - p) : (size_t)(end - p);
		if (n == strlen("pin-value") && strncasecmp(p, "pin-value",
		    n) == 0)
			return fs_err_set(err, FS_EUSAGE, "the key URI holds a "
			    "pin-value: a PIN on the command line is visible to "
			    "every user of this machine; use "
			    "pin-source=file:PATH or FEDSIGN_PIN, and consider "
			    "changing the PIN");
		if (n > 0 && (eq == NULL ||
		    !in_list(query ? query_attrs : path_attrs, p, n)))
			return fs_err_set(err, FS_EUSAGE, "the key URI has an "
			    "unknown %s attribute '%.*s'%s; fedsign knows %s "
			    "(RFC 7512, lower case)", query ? "query" : "path",
			    (int)(n > 40 ? 40 : n), p, eq ? "" : " without a "
			    "value", query ? "pin-source, module-path and "
			    "module-name" : "token, serial, model, manufacturer, "
			    "object, id, type, slot-id and the library- and "
			    "slot- attributes");
		if (n > 0) {
			for (size_t i = 0; i < nseen; i++)
				if (strlen(seen[i]) == n &&
				    strncmp(seen[i], p, n) == 0)
					return fs_err_set(err, FS_EUSAGE, "the "
					    "key URI gives '%.*s' twice",
					    (int)n, p);
			if (nseen < 32)
				snprintf(seen[nseen++], sizeof(seen[0]), "%.*s",
				    (int)n, p);
		}
		if (n == 4 && strncmp(p, "type", 4) == 0 &&
		    !in_list(types, eq + 1, (size_t)(end - eq - 1)))
			return fs_err_set(err, FS_EUSAGE, "the key URI's type= "
			    "'%.*s' is not private, public, cert, secret-key "
			    "or data", (int)(end - eq - 1 > 20 ? 20 :
			    end - eq - 1), eq + 1);
		if (*end == '?')
			query = 1;
		p = *end ? end + 1 : end;
	}
	return FS_OK;
}

int
fs_p11_parse_uri(const char *s, P11KitUri **out, fs_err *err)
{
	P11KitUri *uri;
	char shown[512];
	int r, rc;

	*out = NULL;
	fs_p11_uri_shown(s, shown, sizeof(shown));
	if (strncmp(s, "pkcs11:", 7) != 0)
		return fs_err_set(err, FS_EUSAGE, "'%s' is not a PKCS#11 URI: "
		    "write pkcs11:token=LABEL;object=KEYLABEL (RFC 7512)",
		    shown);
	if ((rc = check_attrs(s, err)) != FS_OK)
		return rc;
	if ((uri = p11_kit_uri_new()) == NULL)
		return fs_err_nomem(err, "parsing a key URI");
	r = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, uri);
	if (r != P11_KIT_URI_OK) {
		p11_kit_uri_free(uri);
		return fs_err_set(err, FS_EUSAGE, "invalid PKCS#11 URI '%s': %s",
		    shown, p11_kit_uri_message(r));
	}
	if (p11_kit_uri_get_pin_value(uri) != NULL) {
		p11_kit_uri_free(uri);
		return fs_err_set(err, FS_EUSAGE, "the key URI holds a "
		    "pin-value: use pin-source=file:PATH or FEDSIGN_PIN");
	}
	*out = uri;
	return FS_OK;
}

int
fs_p11_load_modules(const char *module, P11KitUri *uri,
    const struct fs_p11_hooks *hooks, CK_FUNCTION_LIST ***all,
    CK_FUNCTION_LIST **single, fs_err *err)
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
		P11_CALL(hooks, rv, "C_Initialize",
		    p11_kit_module_initialize(*single));
		if (rv != CKR_OK) {
			p11_kit_module_release(*single);
			*single = NULL;
			fs_p11_err(err, rv, "C_Initialize");
			fs_err_append(err, "module '%s'", path);
			return FS_ETOKEN;
		}
		return FS_OK;
	}
	{
		void *c = fs_p11_begin(hooks, "C_Initialize");
		*all = p11_kit_modules_load_and_initialize(0);
		fs_p11_end(hooks, c);
	}
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
		fs_p11_release_modules(*all, NULL, hooks);
		*all = NULL;
		return fs_err_set(err, FS_ETOKEN, "no PKCS#11 module named '%s'"
		    " is registered with p11-kit (see 'fedsign token list' and"
		    " /usr/share/p11-kit/modules/); use module-path= instead",
		    name);
	}
	return FS_OK;
}

void
fs_p11_release_modules(CK_FUNCTION_LIST **all, CK_FUNCTION_LIST *single,
    const struct fs_p11_hooks *hooks)
{
	void *c;

	if (all == NULL && single == NULL)
		return;
	c = fs_p11_begin(hooks, "C_Finalize");
	if (all != NULL) {
		p11_kit_modules_finalize_and_release(all);
	} else {
		p11_kit_module_finalize(single);
		p11_kit_module_release(single);
	}
	fs_p11_end(hooks, c);
}
