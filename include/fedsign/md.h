/*
 * SAML metadata documents over libxml2: safe parsing under limits, the
 * root element, the edits a publisher makes (validUntil, cacheDuration,
 * Name, PublicationInfo), and saving.
 *
 * Parsing fails closed: any parser error, namespace error, resource
 * limit, allocation failure or short read fails the whole parse, and no
 * document is returned.
 */
#ifndef FEDSIGN_MD_H
#define FEDSIGN_MD_H

#include <stdint.h>
#include <time.h>

#include <libxml/tree.h>
#include <libxml/dict.h>

#include "fedsign/err.h"

#define FS_NS_MD	"urn:oasis:names:tc:SAML:2.0:metadata"
#define FS_NS_DS	"http://www.w3.org/2000/09/xmldsig#"
#define FS_NS_MDRPI	"urn:oasis:names:tc:SAML:metadata:rpi"

/* Limits on input, refused fast when exceeded; 0 means the default. */
struct fs_md_limits {
	uint64_t max_size;	/* bytes of input */
	unsigned max_depth;	/* element nesting */
	unsigned max_attrs;	/* attributes and namespace declarations
				   of one element */
};

#define FS_MD_MAX_SIZE	((uint64_t)1 << 30)	/* 1 GiB; eduGAIN is < 100 MB */
#define FS_MD_MAX_DEPTH	256			/* metadata stays under 30 */
#define FS_MD_MAX_ATTRS	256			/* metadata stays under 30 */
#define FS_MD_DEPTH_CEILING 5000		/* max_depth is capped here: the
						   canonicaliser recurses per level */

/*
 * Set libxml2 up for fedsign: allocation failures counted per thread,
 * its messages kept out of stderr.  Once per process, before any other
 * use of libxml2; safe to call again and from several threads.
 */
int fs_md_init(fs_err *err);

/*
 * Parse a file ("-" is standard input) with no DTD loading, no entity
 * expansion and no network access; a DOCTYPE is refused.  Errors name the
 * file, line and column: FS_ENOTVALID (err->rule says why) for input that
 * is empty, not namespace-well-formed, beyond a limit or refused;
 * FS_EIO when it cannot be read; FS_ENOMEM when memory ran out.  lim may
 * be NULL for the defaults.  *doc is the caller's (xmlFreeDoc).
 */
int fs_md_parse_file(const char *path, const struct fs_md_limits *lim,
    xmlDocPtr *doc, fs_err *err);

/* The same for an open descriptor, name used in messages. */
int fs_md_parse_fd(int fd, const char *name, const struct fs_md_limits *lim,
    xmlDocPtr *doc, fs_err *err);

/*
 * The same, with the document's names in dict (shared by several
 * documents, so that nodes can move between them without copying their
 * strings; the dict gains a reference).  Not for use by several threads at
 * once on one dict.
 */
int fs_md_parse_file_dict(const char *path, const struct fs_md_limits *lim,
    xmlDictPtr dict, xmlDocPtr *doc, fs_err *err);

/* The same, the document named name in messages (a copy of that file). */
int fs_md_parse_file_as(const char *path, const char *name,
    const struct fs_md_limits *lim, xmlDictPtr dict, xmlDocPtr *doc,
    fs_err *err);

/* The same for a buffer. */
int fs_md_parse_mem(const char *buf, size_t len, const char *name,
    const struct fs_md_limits *lim, xmlDocPtr *doc, fs_err *err);

/*
 * The document element when it is md:EntitiesDescriptor or
 * md:EntityDescriptor; otherwise NULL and FS_ENOTVALID in err.
 */
xmlNodePtr fs_md_root(xmlDocPtr doc, const char *name, fs_err *err);

/* Whether node is an element in namespace ns with local name local. */
int fs_md_is(const xmlNode *node, const char *ns, const char *local);

/* The first element child of node, or NULL. */
xmlNodePtr fs_md_first_element(const xmlNode *node);

/* The next element sibling of node, or NULL. */
xmlNodePtr fs_md_next_element(const xmlNode *node);

/*
 * Read the validUntil attribute of node: 1 and *t when present and valid,
 * 0 when absent, -1 when present but not a dateTime.
 */
int fs_md_valid_until(const xmlNode *node, time_t *t);

/* Set an unqualified attribute; returns FS_OK or FS_ENOMEM. */
int fs_md_set_attr(xmlNodePtr node, const char *name, const char *value,
    fs_err *err);

/* What a publisher stamps on a document before signing it. */
struct fs_md_final {
	time_t now;
	int64_t valid_for;	/* > 0: validUntil = now + valid_for */
	time_t valid_until;	/* > 0: validUntil = this (wins) */
	int64_t cache_duration;	/* > 0: set cacheDuration */
	const char *name;	/* the aggregate's Name, or NULL */
	const char *publisher;	/* add or update mdrpi:PublicationInfo */
	const char *publication_id;	/* NULL: "fedsign-" and now */
};

/*
 * Stamp the root: validUntil (without valid_for or valid_until the input's
 * own must lie in the future, else FS_ENOTVALID: fedsign never publishes
 * metadata without a validUntil), cacheDuration, Name (an aggregate's
 * only: FS_EUSAGE for an entity), PublicationInfo.  On failure the
 * document may be half-changed and must be dropped.
 */
int fs_md_finalise(xmlNodePtr root, const struct fs_md_final *f, fs_err *err);

/*
 * Serialise doc as UTF-8 to fd.  FS_EIO naming name on a write failure,
 * FS_ENOMEM when memory ran out (nothing complete was written).
 */
int fs_md_save(xmlDocPtr doc, int fd, const char *name, fs_err *err);

/* The same into a fresh buffer (*buf the caller's, NUL-terminated). */
int fs_md_save_mem(xmlDocPtr doc, char **buf, size_t *len, fs_err *err);

/* Allocation failures libxml2 met on this thread so far. */
unsigned long fs_md_alloc_failures(void);

#endif
