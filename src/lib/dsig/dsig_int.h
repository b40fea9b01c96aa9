/* Internals of src/lib/dsig shared by its files. */
#ifndef FS_DSIG_INT_H
#define FS_DSIG_INT_H

#include <pthread.h>

#include <libxml/c14n.h>

#include "fedsign/dsig.h"

/*
 * Which nodes of a document a canonicalisation covers; and, since the
 * canonicaliser visits every attribute of the subtree anyway, how many
 * elements carry an ID (see fs_dsig_is_id) equal to id.
 */
struct fs_c14n_set {
	xmlNodePtr root;	/* a subtree: the document element, SignedInfo */
	xmlNodePtr exclude;	/* a subtree of it left out (enveloped), or NULL */
	const xmlChar *id;	/* an ID to count, or NULL */
	long id_count;		/* out: attributes under root carrying it */
	xmlNodePtr last;	/* the element judged last, and its verdict */
	int last_visible;
};

/*
 * Whether attribute a is an ID (SAML's unqualified ID, or xml:id) with
 * the value id.  DTD-declared IDs cannot occur: a DOCTYPE is refused.
 */
int fs_dsig_is_id(const xmlAttr *a, const xmlChar *id);

/*
 * A self-check run once per process: fn runs under lock the first time
 * (*done records it); what fn wrote may be read once this returns.  A
 * lock rather than pthread_once: helgrind does not see that
 * pthread_once's fast path (an atomic load) orders fn's writes before
 * another thread's reads, and reports a race.
 */
void fs_dsig_once(pthread_mutex_t *lock, int *done, void (*fn)(void));

struct fs_c14n {
	int mode;		/* XML_C14N_EXCLUSIVE_1_0 or XML_C14N_1_0 */
	int comments;
	xmlChar **prefixes;	/* exclusive c14n InclusiveNamespaces, or NULL */
};

/* Exclusive c14n without comments, the one fedsign signs with. */
extern const struct fs_c14n fs_c14n_exc;

/*
 * Canonicalise set of doc and hash it with md into out (*outlen bytes),
 * streamed: the canonical form is never held in memory.
 */
int fs_c14n_digest(xmlDocPtr doc, struct fs_c14n_set *set,
    const struct fs_c14n *c, const EVP_MD *md, unsigned char *out,
    unsigned int *outlen, fs_err *err);

/*
 * Whether a subtree below the document element can be canonicalised from
 * itself, not from the document's first node (see c14n.c): checked once.
 */
int fs_c14n_apex_same(void);

/* Canonicalise set of doc into a fresh buffer (small subtrees). */
int fs_c14n_buffer(xmlDocPtr doc, struct fs_c14n_set *set,
    const struct fs_c14n *c, xmlBufferPtr *out, fs_err *err);

/*
 * The digest with md of root's exclusive c14n (its ds:Signature children
 * left out), made from content: what fs_dsig_content_c14n gave for the
 * same element, before its ID, cacheDuration and validUntil were set.
 * The start tag is written again with those three as root has them now;
 * the rest is hashed as it is.  1: done; 0: content does not start as
 * c14n writes a start tag (canonicalise root instead); -1: out of memory.
 */
int fs_c14n_refinalise(const char *content, size_t len, xmlNodePtr root,
    const EVP_MD *md, unsigned char *out, unsigned int *outlen);

/* Base64 of len bytes; lines of 64 characters when wrap.  Caller frees. */
char *fs_b64_encode(const unsigned char *in, size_t len, int wrap);

/*
 * Decode base64 text (white space allowed, nothing else) into a fresh
 * buffer.  -1 when s is not base64.
 */
int fs_b64_decode(const xmlChar *s, unsigned char **out, size_t *len);

#endif
