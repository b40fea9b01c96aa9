/*
 * Entities out of the documents a source gave: the built-in checks, and
 * what the publisher does to each entity before anything else looks at
 * it (signatures it did not verify stripped, RegistrationInfo added).
 */
#include "publish/publish_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedsign/md.h"

#define NS_MDRPI "urn:oasis:names:tc:SAML:metadata:rpi"

static unsigned
roles_of(xmlNodePtr e)
{
	static const struct {
		const char *name;
		unsigned bit;
	} roles[] = {
		{ "IDPSSODescriptor", FS_ROLE_IDP },
		{ "SPSSODescriptor", FS_ROLE_SP },
		{ "AttributeAuthorityDescriptor", FS_ROLE_AA },
		{ "PDPDescriptor", FS_ROLE_PDP },
		{ "AuthnAuthorityDescriptor", FS_ROLE_AUTHN },
	};
	unsigned bits = 0;

	for (xmlNodePtr c = fs_md_first_element(e); c != NULL;
	    c = fs_md_next_element(c))
		for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
			if (fs_md_is(c, FS_NS_MD, roles[i].name))
				bits |= roles[i].bit;
	return bits;
}

/* Why id is no good as an entityID, or NULL. */
static const char *
bad_entity_id(const char *id)
{
	size_t i = 0;

	if (id == NULL || *id == '\0')
		return "the entity has no entityID";
	if (strlen(id) > 1024)
		return "the entityID is longer than 1024 characters";
	if (strpbrk(id, " \t\r\n") != NULL)
		return "the entityID contains white space";
	/* An absolute URI: a scheme, a colon, something after it. */
	if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z')))
		return "the entityID is not an absolute URI (no scheme)";
	while (id[i] != '\0' && id[i] != ':') {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
			return "the entityID is not an absolute URI (bad scheme)";
		i++;
	}
	if (id[i] != ':' || id[i + 1] == '\0')
		return "the entityID is not an absolute URI";
	return NULL;
}

/*
 * Remove the ds:Signature children of n, and with depth those of its
 * child elements (the role and affiliation descriptors, where the schema
 * allows signatures too); how many there were.
 */
static int
strip_signatures_at(xmlNodePtr n, int depth)
{
	xmlNodePtr c, next;
	int count = 0;

	for (c = n->children; c != NULL; c = next) {
		next = c->next;
		if (fs_md_is(c, FS_NS_DS, "Signature")) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
			count++;
		} else if (depth > 0 && c->type == XML_ELEMENT_NODE) {
			count += strip_signatures_at(c, depth - 1);
		}
	}
	return count;
}

static int
strip_signatures(xmlNodePtr n)
{
	return strip_signatures_at(n, 0);
}

/* The entity's mdrpi:RegistrationInfo, or NULL. */
static xmlNodePtr
registration_info(xmlNodePtr e)
{
	xmlNodePtr ext = fs_md_first_element(e);

	if (!fs_md_is(ext, FS_NS_MD, "Extensions"))
		return NULL;
	for (xmlNodePtr c = fs_md_first_element(ext); c != NULL;
	    c = fs_md_next_element(c))
		if (fs_md_is(c, NS_MDRPI, "RegistrationInfo"))
			return c;
	return NULL;
}

/* Add RegistrationInfo with authority ra to e, which has none. */
static int
add_registration_info(xmlNodePtr e, const char *ra, fs_err *err)
{
	xmlNodePtr ext = fs_md_first_element(e), ri;
	xmlNsPtr ns;

	if (!fs_md_is(ext, FS_NS_MD, "Extensions")) {
		xmlNodePtr first = e->children;

		if ((ext = xmlNewDocNode(e->doc, e->ns, BAD_CAST "Extensions",
		    NULL)) == NULL)
			return fs_err_nomem(err, "adding RegistrationInfo");
		if (first != NULL)
			xmlAddPrevSibling(first, ext);
		else
			xmlAddChild(e, ext);
	}
	if ((ri = xmlNewDocNode(e->doc, NULL, BAD_CAST "RegistrationInfo",
	    NULL)) == NULL)
		return fs_err_nomem(err, "adding RegistrationInfo");
	if ((ns = xmlNewNs(ri, BAD_CAST NS_MDRPI, BAD_CAST "mdrpi")) == NULL ||
	    xmlNewProp(ri, BAD_CAST "registrationAuthority", BAD_CAST ra) ==
	    NULL) {
		xmlFreeNode(ri);
		return fs_err_nomem(err, "adding RegistrationInfo");
	}
	xmlSetNs(ri, ns);
	/* RegistrationInfo goes first: some consumers look there only. */
	if (ext->children != NULL)
		xmlAddPrevSibling(ext->children, ri);
	else
		xmlAddChild(ext, ri);
	return FS_OK;
}

static int
grow(struct fs_entities *out, fs_err *err)
{
	struct fs_entity *v;
	size_t cap;

	if (out->n < out->cap)
		return FS_OK;
	cap = out->cap ? out->cap * 2 : 256;
	if ((v = realloc(out->v, cap * sizeof(*v))) == NULL)
		return fs_err_nomem(err, "collecting entities");
	out->v = v;
	out->cap = cap;
	return FS_OK;
}

struct take {
	struct fs_source *s;
	xmlDocPtr doc;
	const char *path;
	time_t now;
	struct fs_entities *out;
	json_t *seen;
	fs_report *rep;
	long taken, refused, duplicates, stripped;
};

static int
take_entity(struct take *t, xmlNodePtr e, time_t vu, fs_err *err)
{
	const char *sname = t->s->conf->name;
	unsigned long line = (unsigned long)xmlGetLineNo(e);
	const char *why, *first;
	struct fs_entity *ent;
	xmlChar *id, *ra;
	xmlNodePtr ri;
	time_t own;
	int n, rc;

	id = xmlGetNoNsProp(e, BAD_CAST "entityID");
	if ((why = bad_entity_id((const char *)id)) != NULL) {
		fs_report_finding(t->rep, FS_LEVEL_ERROR, "entityID",
		    id ? (const char *)id : NULL, sname, t->path, line, "%s; "
		    "the entity is left out", why);
		t->refused++;
		xmlFree(id);
		return FS_OK;
	}
	if ((n = fs_md_valid_until(e, &own)) < 0) {
		fs_report_finding(t->rep, FS_LEVEL_ERROR, "validity",
		    (const char *)id, sname, t->path, line, "validUntil is not "
		    "a valid dateTime; the entity is left out");
		t->refused++;
		xmlFree(id);
		return FS_OK;
	}
	if (n != 1)
		own = 0;
	if (own != 0 && (vu == 0 || own < vu))
		vu = own;
	if (vu != 0 && vu <= t->now) {
		fs_report_finding(t->rep, FS_LEVEL_ERROR, "validity",
		    (const char *)id, sname, t->path, line, "the entity has "
		    "expired (its validUntil has passed); it is left out");
		t->refused++;
		xmlFree(id);
		return FS_OK;
	}
	if ((first = json_string_value(json_object_get(t->seen,
	    (const char *)id))) != NULL) {
		if (strcmp(first, sname) == 0)
			fs_report_finding(t->rep, FS_LEVEL_ERROR, "duplicate",
			    (const char *)id, sname, t->path, line, "the "
			    "entityID appears more than once in source %s; the "
			    "first one is kept", sname);
		else
			fs_report_finding(t->rep, FS_LEVEL_WARN, "duplicate",
			    (const char *)id, sname, t->path, line, "also in "
			    "source %s, which comes first in the configuration; "
			    "this copy is left out", first);
		t->duplicates++;
		xmlFree(id);
		return FS_OK;
	}
	if ((rc = grow(t->out, err)) != FS_OK) {
		xmlFree(id);
		return rc;
	}
	if ((n = strip_signatures_at(e, 1)) > 0) {
		fs_report_finding(t->rep, FS_LEVEL_INFO, "signature",
		    (const char *)id, sname, t->path, line, "%d signature%s on "
		    "the entity removed: fedsign did not verify %s, and the "
		    "feed's signature covers the entity", n, n > 1 ? "s" : "",
		    n > 1 ? "them" : "it");
		t->stripped += n;
	}
	/* Out of its document's tree, with its namespaces declared on it. */
	xmlUnlinkNode(e);
	if (xmlReconciliateNs(t->doc, e) < 0) {
		xmlFreeNode(e);
		xmlFree(id);
		return fs_err_nomem(err, "taking an entity");
	}
	if (t->s->conf->registration_authority != NULL) {
		if ((ri = registration_info(e)) == NULL) {
			if ((rc = add_registration_info(e,
			    t->s->conf->registration_authority, err)) != FS_OK) {
				xmlFreeNode(e);
				xmlFree(id);
				return rc;
			}
		} else if ((ra = xmlGetNoNsProp(ri,
		    BAD_CAST "registrationAuthority")) != NULL) {
			if (strcmp((const char *)ra,
			    t->s->conf->registration_authority) != 0)
				fs_report_finding(t->rep, FS_LEVEL_WARN,
				    "registration", (const char *)id, sname,
				    t->path, line, "registered by %s, not by "
				    "this source's registration authority %s",
				    (const char *)ra,
				    t->s->conf->registration_authority);
			xmlFree(ra);
		}
	}
	if (json_object_set_new(t->seen, (const char *)id,
	    json_string(sname)) != 0) {
		xmlFreeNode(e);
		xmlFree(id);
		return fs_err_nomem(err, "taking an entity");
	}
	ent = &t->out->v[t->out->n++];
	memset(ent, 0, sizeof(*ent));
	ent->node = e;
	ent->home = t->doc;
	ent->entity_id = (char *)id;
	ent->src = t->s;
	ent->file = t->path;
	ent->line = line;
	ent->roles = roles_of(e);
	ent->valid_until = vu;
	ent->own_valid_until = own;
	t->taken++;
	return FS_OK;
}

/* The EntityDescriptors under an EntitiesDescriptor, nested ones too. */
static int
walk(struct take *t, xmlNodePtr group, time_t vu, fs_err *err)
{
	xmlNodePtr c, next;
	time_t own;
	int rc;

	switch (fs_md_valid_until(group, &own)) {
	case 1:
		if (vu == 0 || own < vu)
			vu = own;
		break;
	case -1:
		fs_report_finding(t->rep, FS_LEVEL_ERROR, "validity", NULL,
		    t->s->conf->name, t->path, (unsigned long)xmlGetLineNo(group),
		    "an EntitiesDescriptor's validUntil is not a valid "
		    "dateTime; the entities in it are left out");
		return FS_OK;
	}
	for (c = fs_md_first_element(group); c != NULL; c = next) {
		next = fs_md_next_element(c);
		if (fs_md_is(c, FS_NS_MD, "EntityDescriptor"))
			rc = take_entity(t, c, vu, err);
		else if (fs_md_is(c, FS_NS_MD, "EntitiesDescriptor"))
			rc = walk(t, c, vu, err);
		else
			rc = FS_OK;
		if (rc != FS_OK)
			return rc;
	}
	return FS_OK;
}

int
fs_source_take(struct fs_source *s, xmlDocPtr doc, const char *path,
    time_t now, struct fs_entities *out, json_t *seen, fs_report *rep,
    fs_err *err)
{
	struct take t = { s, doc, path, now, out, seen, rep, 0, 0, 0, 0 };
	xmlNodePtr root = xmlDocGetRootElement(doc);
	int rc, n;

	/* The document's own signature: verified, or not ours to keep. */
	if ((n = strip_signatures(root)) > 0 && s->conf->verify_cert == NULL) {
		fs_report_finding(rep, FS_LEVEL_INFO, "signature", NULL,
		    s->conf->name, path, (unsigned long)xmlGetLineNo(root),
		    "the document's signature was removed: fedsign did not "
		    "verify it (the source has no verify-cert)");
		t.stripped += n;
	}
	if (fs_md_is(root, FS_NS_MD, "EntityDescriptor"))
		rc = take_entity(&t, root, 0, err);
	else
		rc = walk(&t, root, 0, err);
	json_object_set_new(s->rep, "entities", json_integer(
	    json_integer_value(json_object_get(s->rep, "entities")) + t.taken));
	if (t.refused)
		json_object_set_new(s->rep, "refused", json_integer(t.refused +
		    json_integer_value(json_object_get(s->rep, "refused"))));
	if (t.duplicates)
		json_object_set_new(s->rep, "duplicates", json_integer(
		    t.duplicates + json_integer_value(json_object_get(s->rep,
		    "duplicates"))));
	if (t.stripped)
		json_object_set_new(s->rep, "signaturesStripped", json_integer(
		    t.stripped + json_integer_value(json_object_get(s->rep,
		    "signaturesStripped"))));
	return rc;
}
