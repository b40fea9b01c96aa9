/* The document element, and reading and setting its attributes. */
#include "fedsign/md.h"

#include <string.h>

#include "fedsign/util.h"

int
fs_md_is(const xmlNode *node, const char *ns, const char *local)
{
	return node != NULL && node->type == XML_ELEMENT_NODE &&
	    node->ns != NULL && node->ns->href != NULL &&
	    strcmp((const char *)node->name, local) == 0 &&
	    strcmp((const char *)node->ns->href, ns) == 0;
}

xmlNodePtr
fs_md_root(xmlDocPtr doc, const char *name, fs_err *err)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	if (fs_md_is(root, FS_NS_MD, "EntitiesDescriptor") ||
	    fs_md_is(root, FS_NS_MD, "EntityDescriptor"))
		return root;
	fs_err_rule(err, FS_RULE_NOT_METADATA, "%s: the document element is "
	    "%s%s%s%s, not SAML 2.0 metadata (md:EntitiesDescriptor or "
	    "md:EntityDescriptor in namespace %s)", name,
	    root && root->ns ? "{" : "",
	    root && root->ns ? (const char *)root->ns->href : "",
	    root && root->ns ? "}" : "", root ? (const char *)root->name :
	    "missing", FS_NS_MD);
	return NULL;
}

xmlNodePtr
fs_md_next_element(const xmlNode *node)
{
	xmlNodePtr c;

	for (c = node->next; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

xmlNodePtr
fs_md_first_element(const xmlNode *node)
{
	xmlNodePtr c;

	for (c = node->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

int
fs_md_valid_until(const xmlNode *node, time_t *t)
{
	xmlChar *v;
	int r;

	v = xmlGetNoNsProp(node, BAD_CAST "validUntil");
	if (v == NULL)
		return 0;
	r = fs_time_parse((const char *)v, t) == 0 ? 1 : -1;
	xmlFree(v);
	return r;
}

int
fs_md_set_attr(xmlNodePtr node, const char *name, const char *value,
    fs_err *err)
{
	if (xmlSetProp(node, BAD_CAST name, BAD_CAST value) == NULL)
		return fs_err_nomem(err, "setting an attribute");
	return FS_OK;
}
