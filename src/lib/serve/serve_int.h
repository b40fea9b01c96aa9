/* fedsign serve: what its files share (and its unit tests see). */
#ifndef FS_SERVE_INT_H
#define FS_SERVE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fedsign/err.h"
#include "fedsign/serve.h"

/* --- the protocol (proto.c): pure functions of request text ------------ */

/* What a request path names. */
enum fs_mdq_kind {
	FS_MDQ_OTHER,		/* not an MDQ path: 404 */
	FS_MDQ_ALL,		/* /entities, /entities/ */
	FS_MDQ_ID,		/* /entities/{entityID}: key is its SHA-1 */
	FS_MDQ_SHA1,		/* /entities/{sha1}HEX */
	FS_MDQ_BAD,		/* malformed: 400 */
	FS_MDQ_STATUS,		/* /status */
	FS_MDQ_METRICS,		/* /metrics */
};

#define FS_MDQ_MAX_ID	4096	/* bytes of a decoded entityID */

struct fs_mdq_req {
	enum fs_mdq_kind kind;
	uint8_t sha1[20];		/* FS_MDQ_ID, FS_MDQ_SHA1 */
	char id[FS_MDQ_MAX_ID + 1];	/* FS_MDQ_ID: the decoded entityID */
	size_t idlen;
	const char *why;		/* FS_MDQ_BAD: a static reason */
};

/*
 * Resolve the raw request path (as sent, before any '?'; an absolute-form
 * "http://host/..." is taken from its path) into r.  The entityID after
 * "/entities/" is percent-decoded here, once: "%3A" and "%3a" alike, '+'
 * stays a plus, '/' may come encoded or not.  Refused (FS_MDQ_BAD): '%'
 * not followed by two hex digits, %00 or another control character,
 * bytes that are not UTF-8 (overlong forms included), a literal '#',
 * white space, and "{sha1}" not followed by exactly 40 hex digits.
 */
void fs_mdq_parse_path(const char *path, struct fs_mdq_req *r);

/*
 * Percent-decode n bytes of s into out (room for n + 1 bytes, NUL
 * added); *outn the decoded length.  Returns NULL, or a static reason.
 */
const char *fs_mdq_decode(const char *s, size_t n, char *out, size_t *outn);

/* Representations a request may get. */
enum fs_mdq_rep {
	FS_REP_NONE = 0,	/* 406 */
	FS_REP_XML,		/* application/samlmetadata+xml */
	FS_REP_JSON,		/* application/json (discovery) */
};

/*
 * The representation for the Accept header accept (NULL: absent), by
 * q-value and then specificity (RFC 9110 12.5.1): the signed XML for
 * application/samlmetadata+xml, application/xml, text/xml and wildcards;
 * JSON for application/json (only when json_ok).  Ties go to the XML.
 * A header with no media range that can be read counts as absent.
 */
enum fs_mdq_rep fs_mdq_negotiate(const char *accept, int json_ok);

/* 1 when Accept-Encoding ae (NULL: absent) takes gzip. */
int fs_mdq_accepts_gzip(const char *ae);

/*
 * 1 when If-None-Match inm matches the opaque tag etag (quoted), by the
 * weak comparison (W/ ignored), or is "*".
 */
int fs_mdq_etag_match(const char *inm, const char *etag);

/* An HTTP-date (IMF-fixdate, RFC 850 or asctime) into *t; -1 if not. */
int fs_mdq_parse_http_date(const char *s, time_t *t);

/* t as an IMF-fixdate into buf (at least 30 bytes). */
void fs_mdq_format_http_date(time_t t, char *buf, size_t len);

/*
 * The max-age for a document: cache_duration (< 0: none given, then
 * fallback) but never past valid_until; never below 0.
 */
int64_t fs_mdq_max_age(int64_t cache_duration, int64_t fallback,
    time_t valid_until, time_t now);

/* --- releases (release.c) -------------------------------------------- */

/* One file of a release; size -1: absent. */
struct fs_rep_file {
	int64_t size;
	int64_t mtime;
};

struct fs_entity {
	uint8_t sha1[20];		/* of the entityID: the key */
	uint8_t sha256[32];		/* of {sha1}HEX */
	uint8_t json_sha256[32];	/* of {sha1}HEX.json */
	struct fs_rep_file xml, gz, json;
	int64_t valid_until;
	int64_t cache_duration;		/* seconds; -1: none given */
	uint32_t id_off, id_len;	/* the entityID in names */
};

/* An aggregate file of the release folder. */
struct fs_agg_file {
	uint8_t sha256[32];
	struct fs_rep_file f;
};

struct fs_release {
	atomic_uint refs;
	int dirfd;			/* the release folder */
	int entfd;			/* its entities/ */
	char target[1024];		/* what current pointed to */
	char id[1024];			/* the release's name */
	time_t published;
	time_t valid_until;		/* the earliest of the release */
	int64_t agg_cache;		/* max-age of the aggregates */
	struct fs_agg_file all_xml, all_gz, all_json;
	struct fs_entity *ents;
	size_t n;
	char *names;			/* the entityIDs, NUL-separated */
	uint32_t *slots;		/* hash table: index + 1, 0 empty */
	size_t mask;
	size_t mem;			/* bytes it holds, for /metrics */
};

/*
 * Load the release that publish_fd's current points to (target, as read
 * by readlink) into *out (refs 1).  FS_ENOTVALID naming the first thing
 * that is wrong with it, FS_EIO when it cannot be read.
 */
int fs_release_load(int publish_fd, const char *target,
    struct fs_release **out, fs_err *err);

/* The entity with this SHA-1 of its entityID, or NULL. */
const struct fs_entity *fs_release_find(const struct fs_release *r,
    const uint8_t sha1[20]);

/* The entityID of e (borrowed, NUL-terminated). */
static inline const char *
fs_entity_id(const struct fs_release *r, const struct fs_entity *e)
{
	return r->names + e->id_off;
}

/* Take and drop a reference; the last drop frees r.  NULL is a no-op. */
void fs_release_ref(struct fs_release *r);
void fs_release_unref(struct fs_release *r);

#endif
