/*
 * What a feed holds: select: by role, entity attribute, registration
 * authority, entityID and XPath; the keys given combine with AND, the
 * values of one key with OR.
 */
#include "publish/publish_int.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "fedsign/md.h"

#define NS_MDATTR	"urn:oasis:names:tc:SAML:metadata:attribute"
#define NS_SAML		"urn:oasis:names:tc:SAML:2.0:assertion"
#define NS_MDRPI	"urn:oasis:names:tc:SAML:metadata:rpi"
#define EC		"http://macedir.org/entity-category"
#define EC_SUPPORT	"http://macedir.org/entity-category-support"
#define ASSURANCE	"urn:oasis:names:tc:SAML:attribute:assurance-certification"

struct fs_selector {
	const struct fs_conf_select *sel;
	unsigned roles;
	xmlXPathCompExprPtr xpath;
	xmlDocPtr view;			/* the document an entity is seen in */
};

/*
 * Whether the brackets and parentheses of x balance outside its string
 * literals: libxml2 2.9 compiles "true(" and "not(" without complaint.
 */
static int
balanced(const char *x)
{
	char stack[64];
	size_t depth = 0;

	for (const char *p = x; *p != '\0'; p++) {
		if (*p == '"' || *p == '\'') {
			const char *q = strchr(p + 1, *p);

			if (q == NULL)
				return 0;
			p = q;
		} else if (*p == '(' || *p == '[') {
			if (depth == sizeof(stack))
				return 0;
			stack[depth++] = *p == '(' ? ')' : ']';
		} else if (*p == ')' || *p == ']') {
			if (depth == 0 || stack[--depth] != *p)
				return 0;
		}
	}
	return depth == 0;
}

static const struct {
	const char *name;
	unsigned bit;
} role_names[] = {
	{ "idp", FS_ROLE_IDP }, { "sp", FS_ROLE_SP }, { "aa", FS_ROLE_AA },
	{ "attribute-authority", FS_ROLE_AA }, { "pdp", FS_ROLE_PDP },
	{ "authn-authority", FS_ROLE_AUTHN },
};

int
fs_selector_new(const struct fs_conf_select *sel, struct fs_selector **out,
    fs_err *err)
{
	struct fs_selector *s;
	size_t j;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return fs_err_nomem(err, "selecting");
	s->sel = sel;
	for (size_t i = 0; i < sel->roles.n; i++) {
		for (j = 0; j < sizeof(role_names) / sizeof(role_names[0]); j++)
			if (strcmp(sel->roles.v[i], role_names[j].name) == 0)
				break;
		if (j == sizeof(role_names) / sizeof(role_names[0])) {
			free(s);
			return fs_err_set(err, FS_EUSAGE, "unknown role '%s' in "
			    "select: use idp, sp, aa, pdp or authn-authority",
			    sel->roles.v[i]);
		}
		s->roles |= role_names[j].bit;
	}
	if (sel->xpath != NULL && (!balanced(sel->xpath) ||
	    (s->xpath = xmlXPathCompile(BAD_CAST sel->xpath)) == NULL)) {
		free(s);
		return fs_err_set(err, FS_EUSAGE, "select: xpath '%s' is not a "
		    "valid XPath 1.0 expression", sel->xpath);
	}
	if (sel->xpath != NULL && (s->view = xmlNewDoc(BAD_CAST "1.0")) ==
	    NULL) {
		xmlXPathFreeCompExpr(s->xpath);
		free(s);
		return fs_err_nomem(err, "selecting");
	}
	*out = s;
	return FS_OK;
}

void
fs_selector_free(struct fs_selector *s)
{
	if (s == NULL)
		return;
	xmlXPathFreeCompExpr(s->xpath);
	if (s->view != NULL) {
		s->view->children = s->view->last = NULL;
		xmlFreeDoc(s->view);
	}
	free(s);
}

static int
in_list(const struct fs_conf_list *l, const char *v)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], v) == 0)
			return 1;
	return 0;
}

/* The same for a value with white space around it (anyURI collapses). */
static int
in_list_trimmed(const struct fs_conf_list *l, const char *v)
{
	size_t n;

	while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' ||
	    v[n - 1] == '\n' || v[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && strncmp(l->v[i], v, n) == 0)
			return 1;
	return 0;
}

/* Whether e has an entity attribute name with a value in l. */
static int
has_attribute(xmlNodePtr e, const char *name, const struct fs_conf_list *l)
{
	xmlNodePtr ext = fs_md_first_element(e);

	if (!fs_md_is(ext, FS_NS_MD, "Extensions"))
		return 0;
	for (xmlNodePtr ea = fs_md_first_element(ext); ea != NULL;
	    ea = fs_md_next_element(ea)) {
		if (!fs_md_is(ea, NS_MDATTR, "EntityAttributes"))
			continue;
		for (xmlNodePtr a = fs_md_first_element(ea); a != NULL;
		    a = fs_md_next_element(a)) {
			xmlChar *n;
			int same;

			if (!fs_md_is(a, NS_SAML, "Attribute"))
				continue;
			n = xmlGetNoNsProp(a, BAD_CAST "Name");
			same = n != NULL && strcmp((const char *)n, name) == 0;
			xmlFree(n);
			if (!same)
				continue;
			for (xmlNodePtr v = fs_md_first_element(a); v != NULL;
			    v = fs_md_next_element(v)) {
				xmlChar *text;
				int hit;

				if (!fs_md_is(v, NS_SAML, "AttributeValue"))
					continue;
				text = xmlNodeGetContent(v);
				hit = text != NULL && in_list_trimmed(l,
				    (const char *)text);
				xmlFree(text);
				if (hit)
					return 1;
			}
		}
	}
	return 0;
}

/* The registrationAuthority of e, or NULL; caller frees. */
static xmlChar *
authority(xmlNodePtr e)
{
	xmlNodePtr ext = fs_md_first_element(e);

	if (!fs_md_is(ext, FS_NS_MD, "Extensions"))
		return NULL;
	for (xmlNodePtr c = fs_md_first_element(ext); c != NULL;
	    c = fs_md_next_element(c))
		if (fs_md_is(c, NS_MDRPI, "RegistrationInfo"))
			return xmlGetNoNsProp(c, BAD_CAST "registrationAuthority");
	return NULL;
}

static const char *const xpath_ns[][2] = {
	{ "md", FS_NS_MD }, { "ds", FS_NS_DS }, { "mdrpi", NS_MDRPI },
	{ "mdattr", NS_MDATTR }, { "saml", NS_SAML },
	{ "mdui", "urn:oasis:names:tc:SAML:metadata:ui" },
	{ "shibmd", "urn:mace:shibboleth:metadata:1.0" },
	{ "alg", "urn:oasis:names:tc:SAML:metadata:algsupport" },
	{ "idpdisc", "urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" },
	{ "init", "urn:oasis:names:tc:SAML:profiles:SSO:request-init" },
	{ "remd", "http://refeds.org/metadata" },
};

/*
 * The XPath sees the entity as the document element of a document of its
 * own, as rules do: "/" and "//" reach the entity and nothing else.  The
 * entity stays in its own document; only its parent pointer is lent to
 * the view while the expression runs.
 */
static int
xpath_match(const struct fs_selector *s, xmlNodePtr e, fs_err *err)
{
	xmlXPathContextPtr c;
	xmlXPathObjectPtr o;
	xmlNodePtr parent = e->parent;
	int r;

	if ((c = xmlXPathNewContext(s->view)) == NULL) {
		fs_err_nomem(err, "selecting");
		return -1;
	}
	for (size_t i = 0; i < sizeof(xpath_ns) / sizeof(xpath_ns[0]); i++)
		xmlXPathRegisterNs(c, BAD_CAST xpath_ns[i][0],
		    BAD_CAST xpath_ns[i][1]);
	s->view->children = s->view->last = e;
	e->parent = (xmlNodePtr)s->view;
	c->node = e;
	o = xmlXPathCompiledEval(s->xpath, c);
	e->parent = parent;
	s->view->children = s->view->last = NULL;
	xmlXPathFreeContext(c);
	if (o == NULL) {
		fs_err_set(err, FS_EUSAGE, "select: xpath '%s' cannot be "
		    "evaluated", s->sel->xpath);
		return -1;
	}
	r = xmlXPathCastToBoolean(o);
	xmlXPathFreeObject(o);
	return r;
}

int
fs_selector_match(const struct fs_selector *s, const struct fs_entity *e,
    fs_err *err)
{
	const struct fs_conf_select *sel = s->sel;
	xmlChar *ra;
	int ok;

	if (s->roles && (e->roles & s->roles) == 0)
		return 0;
	if (sel->entity_ids.n && !in_list(&sel->entity_ids, e->entity_id))
		return 0;
	if (sel->exclude_ids.n && in_list(&sel->exclude_ids, e->entity_id))
		return 0;
	if (sel->categories.n && !has_attribute(e->node, EC, &sel->categories))
		return 0;
	if (sel->category_support.n && !has_attribute(e->node, EC_SUPPORT,
	    &sel->category_support))
		return 0;
	if (sel->assurance.n && !has_attribute(e->node, ASSURANCE,
	    &sel->assurance))
		return 0;
	if (sel->ra_include.n || sel->ra_exclude.n) {
		ra = authority(e->node);
		ok = (sel->ra_include.n == 0 || (ra != NULL &&
		    in_list(&sel->ra_include, (const char *)ra))) &&
		    (ra == NULL || !in_list(&sel->ra_exclude, (const char *)ra));
		xmlFree(ra);
		if (!ok)
			return 0;
	}
	if (s->xpath != NULL)
		return xpath_match(s, e->node, err);
	return 1;
}
