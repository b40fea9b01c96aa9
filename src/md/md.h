/*
 * SAML metadata documents over libxml2: safe parsing, the root element,
 * IDs, validUntil.
 */
#ifndef FS_MD_MD_H
#define FS_MD_MD_H

#include <time.h>

#include <libxml/tree.h>

#include "util/err.h"

#define FS_NS_MD	"urn:oasis:names:tc:SAML:2.0:metadata"
#define FS_NS_DS	"http://www.w3.org/2000/09/xmldsig#"
#define FS_NS_MDRPI	"urn:oasis:names:tc:SAML:metadata:rpi"

/*
 * Parse a file ("-" is standard input) with no DTD loading, no entity
 * expansion and no network access; a DOCTYPE is refused.  Errors name the
 * file, line and column: FS_ENOTVALID for input that is not well-formed
 * or is refused, FS_EIO when it cannot be read.  *doc is the caller's
 * (xmlFreeDoc).
 */
int fs_md_parse_file(const char *path, xmlDocPtr *doc, fs_err *err);

/* The same for a buffer; name is used in messages. */
int fs_md_parse_mem(const char *buf, size_t len, const char *name,
    xmlDocPtr *doc, fs_err *err);

/*
 * The document element when it is md:EntitiesDescriptor or
 * md:EntityDescriptor; otherwise NULL and FS_ENOTVALID in err.
 */
xmlNodePtr fs_md_root(xmlDocPtr doc, const char *name, fs_err *err);

/* Whether node is an element in namespace ns with local name local. */
int fs_md_is(const xmlNode *node, const char *ns, const char *local);

/* The first element child of node, or NULL. */
xmlNodePtr fs_md_first_element(xmlNodePtr node);

/*
 * Read the validUntil attribute of node: 1 and *t when present and valid,
 * 0 when absent, -1 when present but not a dateTime.
 */
int fs_md_valid_until(const xmlNode *node, time_t *t);

/* Set an unqualified attribute; returns FS_OK or FS_EINTERNAL. */
int fs_md_set_attr(xmlNodePtr node, const char *name, const char *value,
    fs_err *err);

#endif
