#include "md/md.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "util/duration.h"

/*
 * No DTD loading, no entity substitution, no network.  A DOCTYPE is
 * refused outright by the internalSubset handler below.
 */
#define PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR \
    | XML_PARSE_HUGE | XML_PARSE_COMPACT)

#define CHUNK (1 << 20)

struct guard {
	int doctype;		/* line of a refused DOCTYPE, or 0 */
	int col;
};

static void
refuse_doctype(void *vctxt, const xmlChar *name, const xmlChar *ext,
    const xmlChar *sys)
{
	xmlParserCtxtPtr ctxt = vctxt;
	struct guard *g = ctxt->_private;

	(void)name;
	(void)ext;
	(void)sys;
	g->doctype = ctxt->input != NULL ? ctxt->input->line : 1;
	g->col = ctxt->input != NULL ? ctxt->input->col : 1;
	xmlStopParser(ctxt);
}

static int
finish(xmlParserCtxtPtr ctxt, xmlDocPtr d, struct guard *g, const char *name,
    xmlDocPtr *doc, fs_err *err)
{
	const xmlError *e;
	int rc = FS_OK;

	if (g->doctype) {
		rc = fs_err_set(err, FS_ENOTVALID, "%s:%d:%d: a DOCTYPE is "
		    "not allowed in metadata (DTDs and entities are refused: "
		    "they enable entity-expansion and external-entity "
		    "attacks); remove the DOCTYPE", name, g->doctype, g->col);
	} else if (d == NULL || !ctxt->wellFormed) {
		e = &ctxt->lastError;
		if (e->code == XML_IO_LOAD_ERROR || e->domain == XML_FROM_IO)
			rc = fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    name, e->message ? e->message : "I/O error");
		else
			rc = fs_err_set(err, FS_ENOTVALID, "%s:%d:%d: not "
			    "well-formed XML: %s", name, e->line, e->int2,
			    e->message ? e->message : "parse error");
		if (err != NULL) {
			size_t n = strlen(err->msg);
			while (n > 0 && (err->msg[n - 1] == '\n'))
				err->msg[--n] = '\0';
		}
	} else if (xmlDocGetRootElement(d) == NULL) {
		rc = fs_err_set(err, FS_ENOTVALID, "%s: no document element",
		    name);
	}
	if (rc != FS_OK) {
		xmlFreeDoc(d);
		d = NULL;
	}
	*doc = d;
	xmlFreeParserCtxt(ctxt);
	return rc;
}

static xmlParserCtxtPtr
new_ctxt(struct guard *g)
{
	xmlParserCtxtPtr ctxt;

	if ((ctxt = xmlNewParserCtxt()) == NULL)
		return NULL;
	ctxt->_private = g;
	ctxt->sax->internalSubset = refuse_doctype;
	return ctxt;
}

/*
 * Files are pushed to the parser in large chunks read straight from the
 * descriptor: no whole-file buffer, and none of the compression layer
 * libxml2 puts under its own file reader.
 */
int
fs_md_parse_file(const char *path, xmlDocPtr *doc, fs_err *err)
{
	struct guard g = { 0 };
	xmlParserCtxtPtr ctxt;
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	char *buf;
	ssize_t n;
	int fd, rc;

	*doc = NULL;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return fs_err_set(err, FS_EIO, "cannot read '%s': %s", path,
		    strerror(errno));
	if ((buf = malloc(CHUNK)) == NULL) {
		rc = fs_err_set(err, FS_EINTERNAL, "out of memory");
		goto out;
	}
	ctxt = xmlCreatePushParserCtxt(NULL, NULL, NULL, 0, name);
	if (ctxt == NULL) {
		rc = fs_err_set(err, FS_EINTERNAL, "out of memory");
		goto out;
	}
	xmlCtxtUseOptions(ctxt, PARSE_OPTS);
	ctxt->_private = &g;
	ctxt->sax->internalSubset = refuse_doctype;
	for (;;) {
		n = read(fd, buf, CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    name, strerror(errno));
			xmlFreeDoc(ctxt->myDoc);
			xmlFreeParserCtxt(ctxt);
			goto out;
		}
		if (xmlParseChunk(ctxt, buf, (int)n, n == 0) != 0 || n == 0 ||
		    g.doctype)
			break;
	}
	rc = finish(ctxt, ctxt->myDoc, &g, name, doc, err);
out:
	free(buf);
	if (fd != STDIN_FILENO && fd != -1)
		close(fd);
	return rc;
}

int
fs_md_parse_mem(const char *buf, size_t len, const char *name,
    xmlDocPtr *doc, fs_err *err)
{
	struct guard g = { 0 };
	xmlParserCtxtPtr ctxt;
	xmlDocPtr d;

	*doc = NULL;
	if (len > INT32_MAX)
		return fs_err_set(err, FS_EIO, "%s: larger than 2 GiB", name);
	if ((ctxt = new_ctxt(&g)) == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	d = xmlCtxtReadMemory(ctxt, buf, (int)len, name, NULL, PARSE_OPTS);
	return finish(ctxt, d, &g, name, doc, err);
}

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
	fs_err_set(err, FS_ENOTVALID, "%s: the document element is %s%s%s%s, "
	    "not SAML 2.0 metadata (md:EntitiesDescriptor or "
	    "md:EntityDescriptor in namespace %s)", name,
	    root && root->ns ? "{" : "",
	    root && root->ns ? (const char *)root->ns->href : "",
	    root && root->ns ? "}" : "", root ? (const char *)root->name :
	    "missing", FS_NS_MD);
	return NULL;
}

xmlNodePtr
fs_md_first_element(xmlNodePtr node)
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
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	return FS_OK;
}
