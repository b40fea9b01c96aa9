/*
 * Discovery JSON for an entity: the object discovery services (thiss.js,
 * pyFF's /entities as application/json) read, made at publication so that
 * the MDQ responder never parses XML.
 */
#include "publish/publish_int.h"

#include <string.h>

#include "fedsign/md.h"

#define NS_MDUI		"urn:oasis:names:tc:SAML:metadata:ui"
#define NS_MDATTR	"urn:oasis:names:tc:SAML:metadata:attribute"
#define NS_MDRPI	"urn:oasis:names:tc:SAML:metadata:rpi"
#define NS_SAML		"urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_SHIBMD	"urn:mace:shibboleth:metadata:1.0"
#define NS_IDPDISC	"urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol"
#define NS_XML		"http://www.w3.org/XML/1998/namespace"
#define HIDE		"http://refeds.org/category/hide-from-discovery"

/* The text of n with white space around it removed; caller frees. */
static char *
text_of(xmlNodePtr n)
{
	xmlChar *t = xmlNodeGetContent(n);
	char *s, *e;
	size_t len;

	if (t == NULL)
		return NULL;
	for (s = (char *)t; *s == ' ' || *s == '\t' || *s == '\n' ||
	    *s == '\r'; s++)
		;
	len = strlen(s);
	for (e = s + len; e > s && (e[-1] == ' ' || e[-1] == '\t' ||
	    e[-1] == '\n' || e[-1] == '\r'); e--)
		;
	memmove(t, s, (size_t)(e - s));
	t[e - s] = '\0';
	return (char *)t;
}

/* The first child element of n; NULL for NULL. */
static xmlNodePtr
first_el(xmlNodePtr n)
{
	return n != NULL ? fs_md_first_element(n) : NULL;
}

static xmlNodePtr
child(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlNodePtr c = first_el(n); c != NULL;
	    c = fs_md_next_element(c))
		if (fs_md_is(c, ns, name))
			return c;
	return NULL;
}

/* The role descriptors' and the entity's Extensions, in order. */
struct places {
	xmlNodePtr v[8];
	size_t n;
};

static void
extensions(xmlNodePtr e, struct places *p)
{
	xmlNodePtr x;

	p->n = 0;
	if ((x = child(e, FS_NS_MD, "Extensions")) != NULL)
		p->v[p->n++] = x;
	for (xmlNodePtr c = first_el(e); c != NULL && p->n < 8;
	    c = fs_md_next_element(c))
		if (c->ns != NULL && strcmp((const char *)c->ns->href,
		    FS_NS_MD) == 0 && (x = child(c, FS_NS_MD, "Extensions")) !=
		    NULL && x != p->v[0])
			p->v[p->n++] = x;
}

/*
 * Elements ns:name in the UIInfo of any role (or the entity): the one in
 * English, else the first, into *best; every language into langs (may
 * be NULL).
 */
static void
ui_texts(const struct places *p, const char *name, char **best, json_t *langs)
{
	char *first = NULL, *en = NULL;

	for (size_t i = 0; i < p->n; i++) {
		xmlNodePtr ui = child(p->v[i], NS_MDUI, "UIInfo");

		for (xmlNodePtr c = first_el(ui); c != NULL;
		    c = fs_md_next_element(c)) {
			xmlChar *lang;
			char *t;

			if (!fs_md_is(c, NS_MDUI, name) ||
			    (t = text_of(c)) == NULL)
				continue;
			lang = xmlGetNsProp(c, BAD_CAST "lang", BAD_CAST NS_XML);
			if (langs != NULL && lang != NULL &&
			    json_object_get(langs, (const char *)lang) == NULL)
				json_object_set_new(langs, (const char *)lang,
				    json_string(t));
			if (en == NULL && lang != NULL &&
			    strcmp((const char *)lang, "en") == 0)
				en = strdup(t);
			if (first == NULL)
				first = strdup(t);
			xmlFree(lang);
			xmlFree(t);
		}
	}
	if (en != NULL) {
		free(first);
		*best = en;
	} else {
		*best = first;
	}
}

/* The first element ns:name anywhere below n (document order). */
static xmlNodePtr
find(xmlNodePtr n, const char *ns, const char *name)
{
	for (xmlNodePtr c = first_el(n); c != NULL;
	    c = fs_md_next_element(c)) {
		xmlNodePtr hit;

		if (fs_md_is(c, ns, name))
			return c;
		if ((hit = find(c, ns, name)) != NULL)
			return hit;
	}
	return NULL;
}

/* The values of entity attribute name, as an array (NULL: none). */
static json_t *
attribute_values(xmlNodePtr ext, const char *name)
{
	xmlNodePtr ea = child(ext, NS_MDATTR, "EntityAttributes");
	json_t *a = NULL;

	for (xmlNodePtr at = first_el(ea); at != NULL;
	    at = fs_md_next_element(at)) {
		xmlChar *n;
		int same;

		if (!fs_md_is(at, NS_SAML, "Attribute"))
			continue;
		n = xmlGetNoNsProp(at, BAD_CAST "Name");
		same = n != NULL && strcmp((const char *)n, name) == 0;
		xmlFree(n);
		if (!same)
			continue;
		for (xmlNodePtr v = first_el(at); v != NULL;
		    v = fs_md_next_element(v)) {
			char *t;

			if (!fs_md_is(v, NS_SAML, "AttributeValue") ||
			    (t = text_of(v)) == NULL)
				continue;
			if (a == NULL)
				a = json_array();
			json_array_append_new(a, json_string(t));
			xmlFree(t);
		}
	}
	return a;
}

static void
set_text(json_t *o, const char *key, char *t)
{
	if (t != NULL && t[0] != '\0')
		json_object_set_new(o, key, json_string(t));
	free(t);
}

json_t *
fs_disco_entity(xmlNodePtr e, const char *entity_id)
{
	json_t *d = json_object(), *tl = json_object(), *dl = json_object();
	json_t *v, *hidden;
	struct places p;
	xmlNodePtr ext, idp, sp, org, n;
	char *title = NULL, *descr = NULL, *t;
	xmlChar *a;

	if (d == NULL || tl == NULL || dl == NULL) {
		json_decref(d);
		json_decref(tl);
		json_decref(dl);
		return NULL;
	}
	extensions(e, &p);
	ext = child(e, FS_NS_MD, "Extensions");
	idp = child(e, FS_NS_MD, "IDPSSODescriptor");
	sp = child(e, FS_NS_MD, "SPSSODescriptor");
	org = child(e, FS_NS_MD, "Organization");

	/* The title: mdui:DisplayName, else the service or organisation's
	 * name, else the entityID. */
	ui_texts(&p, "DisplayName", &title, tl);
	if (title == NULL && sp != NULL && (n = find(sp, FS_NS_MD,
	    "ServiceName")) != NULL)
		title = text_of(n);
	if (title == NULL && (n = child(org, FS_NS_MD,
	    "OrganizationDisplayName")) != NULL)
		title = text_of(n);
	if (title == NULL && (n = child(org, FS_NS_MD, "OrganizationName")) !=
	    NULL)
		title = text_of(n);
	if (title == NULL)
		title = strdup(entity_id);
	ui_texts(&p, "Description", &descr, dl);
	json_object_set_new(d, "title", json_string(title ? title : entity_id));
	json_object_set_new(d, "descr", json_string(descr ? descr : ""));
	free(title);
	free(descr);
	json_object_set_new(d, "title_langs", tl);
	json_object_set_new(d, "descr_langs", dl);
	json_object_set_new(d, "auth", json_string("saml"));
	json_object_set_new(d, "entity_id", json_string(entity_id));
	json_object_set_new(d, "entityID", json_string(entity_id));
	if ((n = child(ext, NS_MDRPI, "RegistrationInfo")) != NULL &&
	    (a = xmlGetNoNsProp(n, BAD_CAST "registrationAuthority")) != NULL) {
		json_object_set_new(d, "registrationAuthority",
		    json_string((const char *)a));
		xmlFree(a);
	}
	if ((v = attribute_values(ext, "http://macedir.org/entity-category")) !=
	    NULL)
		json_object_set_new(d, "entity_category", v);
	if ((v = attribute_values(ext, "urn:oasis:names:tc:SAML:attribute:"
	    "assurance-certification")) != NULL)
		json_object_set_new(d, "assurance_certification", v);
	if ((v = attribute_values(ext,
	    "http://macedir.org/entity-category-support")) != NULL)
		json_object_set_new(d, "entity_category_support", v);
	if (sp != NULL) {
		xmlNodePtr sx = child(sp, FS_NS_MD, "Extensions");
		json_t *dr = NULL;

		for (n = first_el(sx); n != NULL;
		    n = fs_md_next_element(n)) {
			if (!fs_md_is(n, NS_IDPDISC, "DiscoveryResponse") ||
			    (a = xmlGetNoNsProp(n, BAD_CAST "Location")) ==
			    NULL)
				continue;
			if (dr == NULL)
				dr = json_array();
			json_array_append_new(dr, json_string((const char *)a));
			xmlFree(a);
		}
		if (dr != NULL)
			json_object_set_new(d, "discovery_responses", dr);
	}
	if (idp != NULL) {
		xmlNodePtr ix = child(idp, FS_NS_MD, "Extensions");
		json_t *scopes = json_array();
		char buf[2048] = "";

		json_object_set_new(d, "type", json_string("idp"));
		hidden = json_string("false");
		if ((v = attribute_values(ext,
		    "http://macedir.org/entity-category")) != NULL) {
			size_t i;
			json_t *c;

			json_array_foreach(v, i, c)
				if (strcmp(json_string_value(c), HIDE) == 0) {
					json_decref(hidden);
					hidden = json_string("true");
				}
			json_decref(v);
		}
		json_object_set_new(d, "hidden", hidden);
		for (n = first_el(ix); n != NULL;
		    n = fs_md_next_element(n)) {
			xmlChar *re;
			int regexp;

			if (!fs_md_is(n, NS_SHIBMD, "Scope"))
				continue;
			re = xmlGetNoNsProp(n, BAD_CAST "regexp");
			regexp = re != NULL && (strcmp((const char *)re,
			    "true") == 0 || strcmp((const char *)re, "1") == 0);
			xmlFree(re);
			if (regexp || (t = text_of(n)) == NULL)
				continue;
			json_array_append_new(scopes, json_string(t));
			if (strlen(buf) + strlen(t) + 2 < sizeof(buf)) {
				if (buf[0] != '\0')
					strcat(buf, ",");
				strcat(buf, t);
			}
			xmlFree(t);
		}
		if (json_array_size(scopes) > 0)
			json_object_set_new(d, "scope", json_string(buf));
		if (json_array_size(scopes) == 1)
			json_object_set(d, "domain", json_array_get(scopes, 0));
		json_decref(scopes);
	} else if (sp != NULL) {
		json_object_set_new(d, "type", json_string("sp"));
	}
	/* The first logo, with its size. */
	for (size_t i = 0; i < p.n && json_object_get(d,
	    "entity_icon_url") == NULL; i++) {
		xmlNodePtr ui = child(p.v[i], NS_MDUI, "UIInfo");
		xmlNodePtr logo = child(ui, NS_MDUI, "Logo");
		xmlChar *w, *h;

		if (logo == NULL || (t = text_of(logo)) == NULL)
			continue;
		w = xmlGetNoNsProp(logo, BAD_CAST "width");
		h = xmlGetNoNsProp(logo, BAD_CAST "height");
		json_object_set_new(d, "entity_icon_url", json_pack(
		    "{s:s,s:s,s:s}", "url", t, "width", w ? (char *)w : "",
		    "height", h ? (char *)h : ""));
		xmlFree(w);
		xmlFree(h);
		xmlFree(t);
	}
	ui_texts(&p, "PrivacyStatementURL", &t, NULL);
	set_text(d, "privacy_statement_url", t);
	ui_texts(&p, "Keywords", &t, NULL);
	set_text(d, "keywords", t);
	return d;
}
