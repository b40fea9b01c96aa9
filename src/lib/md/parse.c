/*
 * Safe parsing of metadata.
 *
 * Input is pushed to libxml2 in large chunks, with no DTD loading, no
 * entity substitution and no network.  A DOCTYPE is refused by the
 * internalSubset handler.  Every error libxml2 reports at error level,
 * namespace errors included, fails the parse; so does an allocation
 * failure anywhere in it, and a document that did not end.
 *
 * Limits are enforced before libxml2 pays for the input: a size limit on
 * the bytes read, an element depth limit in the start-element handler,
 * and a limit on attributes (namespace declarations included) per
 * element in a small scan of each chunk before the parser sees it, since
 * libxml2 checks for duplicate attributes in quadratic time while it
 * parses a start tag.
 */
#include "fedsign/md.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/xmlerror.h>

#include "fedsign/file.h"

#define PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR \
    | XML_PARSE_HUGE | XML_PARSE_COMPACT)

#define CHUNK (1 << 20)

/* States of the attribute scan. */
enum {
	S_TEXT, S_LT, S_BANG, S_BANG_DASH, S_COMMENT, S_COMMENT_D1,
	S_COMMENT_D2, S_CDATA, S_CDATA_B1, S_CDATA_B2, S_PI, S_PI_Q,
	S_ENDTAG, S_TAG, S_QUOTE, S_OFF
};

struct parse {
	xmlParserCtxtPtr ctxt;
	const char *name;
	int fd;				/* the input, for line numbers; -1 */
	struct fs_md_limits lim;
	unsigned long failures;		/* allocation failures at the start */
	uint64_t total;			/* bytes read */
	int nonblank;			/* a byte other than white space seen */
	/* the attribute scan */
	int st;
	char quote;
	unsigned attrs;
	uint64_t offset;		/* of the chunk being scanned */
	uint64_t tag_at;		/* of the '<' of the current tag */
	/* what stopped the parse */
	int limit;			/* a limit was exceeded: err is set */
	fs_err limit_err;
	int doctype;			/* line of a refused DOCTYPE, or 0 */
	int doctype_col;
	/* the first error libxml2 reported */
	int have_error;
	int error_code;
	int error_line;
	int error_col;
	char error_msg[512];
	startElementNsSAX2Func start;
	endElementNsSAX2Func end;
	unsigned depth;
};

static void
on_error(void *user, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = user;
	struct parse *p = ctxt->_private;
	size_t n;

	if (e == NULL || e->level < XML_ERR_ERROR || p->have_error)
		return;
	/* No allocation here: memory may be what ran out. */
	p->have_error = 1;
	p->error_code = e->code;
	p->error_line = e->line;
	p->error_col = e->int2;
	snprintf(p->error_msg, sizeof(p->error_msg), "%s",
	    e->message != NULL ? e->message : "parse error");
	n = strlen(p->error_msg);
	while (n > 0 && (p->error_msg[n - 1] == '\n' ||
	    p->error_msg[n - 1] == ' '))
		p->error_msg[--n] = '\0';
}

static void
refuse_doctype(void *vctxt, const xmlChar *name, const xmlChar *ext,
    const xmlChar *sys)
{
	xmlParserCtxtPtr ctxt = vctxt;
	struct parse *p = ctxt->_private;

	(void)name;
	(void)ext;
	(void)sys;
	p->doctype = ctxt->input != NULL ? ctxt->input->line : 1;
	p->doctype_col = ctxt->input != NULL ? ctxt->input->col : 1;
	xmlStopParser(ctxt);
}

static void
on_start(void *vctxt, const xmlChar *local, const xmlChar *prefix,
    const xmlChar *uri, int nb_ns, const xmlChar **ns, int nb_attrs,
    int nb_defaulted, const xmlChar **attrs)
{
	xmlParserCtxtPtr ctxt = vctxt;
	struct parse *p = ctxt->_private;

	if (++p->depth > p->lim.max_depth) {
		p->limit = 1;
		fs_err_rule(&p->limit_err, FS_RULE_LIMIT, "%s:%d: elements "
		    "nested more than %u deep (the depth limit, --max-depth); "
		    "metadata stays under 30", p->name,
		    ctxt->input ? ctxt->input->line : 0, p->lim.max_depth);
		fs_err_where(&p->limit_err, p->name,
		    ctxt->input ? (unsigned long)ctxt->input->line : 0, 0);
		xmlStopParser(ctxt);
		return;
	}
	p->start(vctxt, local, prefix, uri, nb_ns, ns, nb_attrs, nb_defaulted,
	    attrs);
}

static void
on_end(void *vctxt, const xmlChar *local, const xmlChar *prefix,
    const xmlChar *uri)
{
	xmlParserCtxtPtr ctxt = vctxt;
	struct parse *p = ctxt->_private;

	if (p->depth > 0)
		p->depth--;
	p->end(vctxt, local, prefix, uri);
}

/* The line of byte offset off of the input, when it can be read again. */
static unsigned long
line_at(int fd, uint64_t off)
{
	char buf[65536];
	unsigned long line = 1;
	uint64_t at = 0;
	ssize_t n;

	if (fd == -1)
		return 0;
	while (at < off) {
		size_t want = off - at < sizeof(buf) ? (size_t)(off - at) :
		    sizeof(buf);

		if ((n = pread(fd, buf, want, (off_t)at)) <= 0)
			return 0;
		for (ssize_t i = 0; i < n; i++)
			line += buf[i] == '\n';
		at += (uint64_t)n;
	}
	return line;
}

static void
too_many_attrs(struct parse *p)
{
	unsigned long line = line_at(p->fd, p->tag_at);

	p->limit = 1;
	if (line > 0)
		fs_err_rule(&p->limit_err, FS_RULE_LIMIT, "%s:%lu: an element "
		    "has more than %u attributes and namespace declarations "
		    "(the attribute limit, --max-attributes); metadata stays "
		    "under 30", p->name, line, p->lim.max_attrs);
	else
		fs_err_rule(&p->limit_err, FS_RULE_LIMIT, "%s: the element at "
		    "byte %llu has more than %u attributes and namespace "
		    "declarations (the attribute limit, --max-attributes); "
		    "metadata stays under 30", p->name,
		    (unsigned long long)p->tag_at, p->lim.max_attrs);
	fs_err_where(&p->limit_err, p->name, line, 0);
}

/*
 * Count the attributes of each start tag in buf, carrying the state over
 * chunks.  It only has to be right for well-formed input: for anything
 * else the parser fails on its own.
 */
static void
scan(struct parse *p, const char *buf, size_t n)
{
	const char *s = buf, *end = buf + n, *q;
	char c;

	while (s < end && !p->limit) {
		switch (p->st) {
		case S_TEXT:
			if ((q = memchr(s, '<', (size_t)(end - s))) == NULL) {
				s = end;
				break;
			}
			p->tag_at = p->offset + (uint64_t)(q - buf);
			s = q + 1;
			p->st = S_LT;
			break;
		case S_LT:
			c = *s;
			if (c == '!') {
				p->st = S_BANG;
				s++;
			} else if (c == '?') {
				p->st = S_PI;
				s++;
			} else if (c == '/') {
				p->st = S_ENDTAG;
				s++;
			} else {
				p->st = S_TAG;
				p->attrs = 0;
			}
			break;
		case S_BANG:
			c = *s++;
			/* A DOCTYPE: the parser refuses it, scanning stops. */
			p->st = c == '-' ? S_BANG_DASH : c == '[' ? S_CDATA :
			    S_OFF;
			break;
		case S_BANG_DASH:
			p->st = *s++ == '-' ? S_COMMENT : S_OFF;
			break;
		case S_COMMENT:
			if ((q = memchr(s, '-', (size_t)(end - s))) == NULL) {
				s = end;
				break;
			}
			s = q + 1;
			p->st = S_COMMENT_D1;
			break;
		case S_COMMENT_D1:
			p->st = *s++ == '-' ? S_COMMENT_D2 : S_COMMENT;
			break;
		case S_COMMENT_D2:
			c = *s++;
			p->st = c == '>' ? S_TEXT : c == '-' ? S_COMMENT_D2 :
			    S_COMMENT;
			break;
		case S_CDATA:
			if ((q = memchr(s, ']', (size_t)(end - s))) == NULL) {
				s = end;
				break;
			}
			s = q + 1;
			p->st = S_CDATA_B1;
			break;
		case S_CDATA_B1:
			p->st = *s++ == ']' ? S_CDATA_B2 : S_CDATA;
			break;
		case S_CDATA_B2:
			c = *s++;
			p->st = c == '>' ? S_TEXT : c == ']' ? S_CDATA_B2 :
			    S_CDATA;
			break;
		case S_PI:
			if ((q = memchr(s, '?', (size_t)(end - s))) == NULL) {
				s = end;
				break;
			}
			s = q + 1;
			p->st = S_PI_Q;
			break;
		case S_PI_Q:
			c = *s++;
			p->st = c == '>' ? S_TEXT : c == '?' ? S_PI_Q : S_PI;
			break;
		case S_ENDTAG:
			if ((q = memchr(s, '>', (size_t)(end - s))) == NULL) {
				s = end;
				break;
			}
			s = q + 1;
			p->st = S_TEXT;
			break;
		case S_TAG:
			for (; s < end; s++) {
				c = *s;
				if (c == '"' || c == '\'') {
					p->quote = c;
					p->st = S_QUOTE;
					s++;
					break;
				}
				if (c == '>') {
					p->st = S_TEXT;
					s++;
					break;
				}
				if (c == '=' && ++p->attrs > p->lim.max_attrs) {
					too_many_attrs(p);
					break;
				}
			}
			break;
		case S_QUOTE:
			if ((q = memchr(s, p->quote, (size_t)(end - s))) ==
			    NULL) {
				s = end;
				break;
			}
			s = q + 1;
			p->st = S_TAG;
			break;
		default:
			s = end;
			break;
		}
	}
	p->offset += n;
}

static void
see_bytes(struct parse *p, const char *buf, size_t n)
{
	if (p->nonblank)
		return;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' &&
		    buf[i] != '\n') {
			p->nonblank = 1;
			return;
		}
	}
}

/* Give n bytes (the last ones when last) to the parser. */
static void
feed(struct parse *p, const char *buf, size_t n, int last)
{
	if (p->limit || p->doctype)
		return;
	p->total += n;
	if (p->total > p->lim.max_size) {
		p->limit = 1;
		fs_err_rule(&p->limit_err, FS_RULE_LIMIT, "%s: larger than "
		    "%llu bytes (the size limit, --max-size)", p->name,
		    (unsigned long long)p->lim.max_size);
		return;
	}
	see_bytes(p, buf, n);
	scan(p, buf, n);
	if (p->limit)
		return;
	(void)xmlParseChunk(p->ctxt, buf, (int)n, last);
}

static int
start(struct parse *p, const char *name, int fd,
    const struct fs_md_limits *lim, xmlDictPtr dict, fs_err *err)
{
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->fd = fd;
	p->lim.max_size = lim && lim->max_size ? lim->max_size : FS_MD_MAX_SIZE;
	p->lim.max_depth = lim && lim->max_depth ? lim->max_depth :
	    FS_MD_MAX_DEPTH;
	if (p->lim.max_depth > FS_MD_DEPTH_CEILING)
		p->lim.max_depth = FS_MD_DEPTH_CEILING;
	p->lim.max_attrs = lim && lim->max_attrs ? lim->max_attrs :
	    FS_MD_MAX_ATTRS;
	p->failures = fs_md_alloc_failures();
	p->ctxt = xmlCreatePushParserCtxt(NULL, NULL, NULL, 0, name);
	if (p->ctxt == NULL)
		return fs_err_nomem(err, "parsing");
	if (dict != NULL) {
		/* The tree built takes its names from the shared dict. */
		xmlDictFree(p->ctxt->dict);
		p->ctxt->dict = dict;
		xmlDictReference(dict);
		p->ctxt->str_xml = xmlDictLookup(dict, BAD_CAST "xml", 3);
		p->ctxt->str_xmlns = xmlDictLookup(dict, BAD_CAST "xmlns", 5);
		p->ctxt->str_xml_ns = xmlDictLookup(dict, XML_XML_NAMESPACE, 36);
	}
	xmlCtxtUseOptions(p->ctxt, PARSE_OPTS);
	p->ctxt->_private = p;
	p->ctxt->sax->internalSubset = refuse_doctype;
	p->ctxt->sax->serror = on_error;
	p->start = p->ctxt->sax->startElementNs;
	p->end = p->ctxt->sax->endElementNs;
	p->ctxt->sax->startElementNs = on_start;
	p->ctxt->sax->endElementNs = on_end;
	return FS_OK;
}

/* Judge the parse; on success *doc is the document. */
static int
finish(struct parse *p, xmlDocPtr *doc, fs_err *err)
{
	xmlParserCtxtPtr ctxt = p->ctxt;
	xmlDocPtr d = ctxt->myDoc;
	int rc = FS_OK;

	ctxt->myDoc = NULL;
	if (p->limit) {
		if (err != NULL)
			*err = p->limit_err;
		rc = FS_ENOTVALID;
	} else if (fs_md_alloc_failures() != p->failures ||
	    ctxt->errNo == XML_ERR_NO_MEMORY ||
	    (p->have_error && p->error_code == XML_ERR_NO_MEMORY)) {
		rc = fs_err_nomem(err, "while parsing");
		fs_err_append(err, "%s", p->name);
	} else if (p->doctype) {
		rc = fs_err_rule(err, FS_RULE_DOCTYPE, "%s:%d:%d: a DOCTYPE is "
		    "not allowed in metadata (DTDs and entities are refused: "
		    "they enable entity-expansion and external-entity "
		    "attacks); remove the DOCTYPE", p->name, p->doctype,
		    p->doctype_col);
		fs_err_where(err, p->name, (unsigned long)p->doctype,
		    (unsigned long)p->doctype_col);
	} else if (!p->nonblank) {
		rc = fs_err_rule(err, FS_RULE_EMPTY, "%s: empty document: it "
		    "holds %s", p->name, p->total ? "only white space" :
		    "nothing");
	} else if (p->have_error && p->error_code == XML_ERR_DOCUMENT_EMPTY) {
		/* libxml2 calls a document that is not XML at all "empty". */
		rc = fs_err_rule(err, FS_RULE_MALFORMED, "%s:%d:%d: not "
		    "well-formed XML: the document does not start with an "
		    "element ('<')", p->name, p->error_line, p->error_col);
		fs_err_where(err, p->name, (unsigned long)p->error_line,
		    (unsigned long)p->error_col);
	} else if (p->have_error || !ctxt->wellFormed || !ctxt->nsWellFormed) {
		rc = fs_err_rule(err, FS_RULE_MALFORMED, "%s:%d:%d: not "
		    "well-formed XML: %s", p->name, p->error_line,
		    p->error_col, p->have_error ? p->error_msg : "parse error");
		fs_err_where(err, p->name, (unsigned long)p->error_line,
		    (unsigned long)p->error_col);
	} else if (d == NULL || xmlDocGetRootElement(d) == NULL ||
	    ctxt->nodeNr != 0 || ctxt->instate != XML_PARSER_EOF) {
		rc = fs_err_rule(err, FS_RULE_MALFORMED, "%s: not well-formed "
		    "XML: the document did not end", p->name);
	}
	if (rc != FS_OK) {
		xmlFreeDoc(d);
		d = NULL;
	}
	*doc = d;
	xmlFreeParserCtxt(ctxt);
	return rc;
}

static int
parse_fd(int fd, const char *name, const struct fs_md_limits *lim,
    xmlDictPtr dict, xmlDocPtr *doc, fs_err *err)
{
	struct parse p;
	struct stat st;
	char *buf;
	ssize_t n;
	int rc, seekable;

	*doc = NULL;
	seekable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if ((rc = start(&p, name, seekable ? fd : -1, lim, dict, err)) != FS_OK)
		return rc;
	if (seekable && (uint64_t)st.st_size > p.lim.max_size) {
		xmlFreeParserCtxt(p.ctxt);
		return fs_err_rule(err, FS_RULE_LIMIT, "%s: %llu bytes, larger "
		    "than %llu (the size limit, --max-size)", name,
		    (unsigned long long)st.st_size,
		    (unsigned long long)p.lim.max_size);
	}
	if ((buf = malloc(CHUNK)) == NULL) {
		xmlFreeParserCtxt(p.ctxt);
		return fs_err_nomem(err, "parsing");
	}
	for (;;) {
		n = read(fd, buf, CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    name, strerror(errno));
			xmlFreeDoc(p.ctxt->myDoc);
			p.ctxt->myDoc = NULL;
			xmlFreeParserCtxt(p.ctxt);
			free(buf);
			return rc;
		}
		feed(&p, buf, (size_t)n, n == 0);
		if (n == 0 || p.limit || p.doctype || p.have_error ||
		    p.ctxt->instate == XML_PARSER_EOF)
			break;
	}
	free(buf);
	return finish(&p, doc, err);
}

int
fs_md_parse_fd(int fd, const char *name, const struct fs_md_limits *lim,
    xmlDocPtr *doc, fs_err *err)
{
	return parse_fd(fd, name, lim, NULL, doc, err);
}

int
fs_md_parse_file_as(const char *path, const char *name,
    const struct fs_md_limits *lim, xmlDictPtr dict, xmlDocPtr *doc,
    fs_err *err)
{
	int fd, rc;

	*doc = NULL;
	if ((rc = fs_input_open(path, &fd, err)) != FS_OK)
		return rc;
	rc = parse_fd(fd, name, lim, dict, doc, err);
	fs_input_close(fd);
	return rc;
}

int
fs_md_parse_file_dict(const char *path, const struct fs_md_limits *lim,
    xmlDictPtr dict, xmlDocPtr *doc, fs_err *err)
{
	return fs_md_parse_file_as(path, strcmp(path, "-") == 0 ? "<stdin>" :
	    path, lim, dict, doc, err);
}

int
fs_md_parse_file(const char *path, const struct fs_md_limits *lim,
    xmlDocPtr *doc, fs_err *err)
{
	return fs_md_parse_file_dict(path, lim, NULL, doc, err);
}

int
fs_md_parse_mem(const char *buf, size_t len, const char *name,
    const struct fs_md_limits *lim, xmlDocPtr *doc, fs_err *err)
{
	struct parse p;
	size_t off = 0;
	int rc;

	*doc = NULL;
	if ((rc = start(&p, name, -1, lim, NULL, err)) != FS_OK)
		return rc;
	do {
		size_t n = len - off < CHUNK ? len - off : CHUNK;

		feed(&p, buf + off, n, off + n == len);
		off += n;
	} while (off < len && !p.limit && !p.doctype && !p.have_error &&
	    p.ctxt->instate != XML_PARSER_EOF);
	return finish(&p, doc, err);
}
