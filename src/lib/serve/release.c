/*
 * Releases: the folder publish-dir/current points to, loaded once into a
 * compact index (one struct per entity, the entityIDs in one block, an
 * open-addressing table keyed by the SHA-1 of the entityID), and kept by
 * reference count so that a request in flight keeps the release it
 * started with while a newer one takes over.  The documents themselves
 * stay on disk; the release folder's descriptor is kept so that files
 * are opened relative to it, whatever current points to by then.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "fedsign/util.h"
#include "serve_int.h"

#define MAX_ENTITIES	(1u << 24)
#define DEF_AGG_CACHE	3600	/* max-age of aggregates without a
				   cacheDuration in the index */

static void
release_free(struct fs_release *r)
{
	if (r == NULL)
		return;
	if (r->entfd >= 0)
		close(r->entfd);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->ents);
	free(r->names);
	free(r->slots);
	free(r);
}

void
fs_release_ref(struct fs_release *r)
{
	if (r != NULL)
		atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void
fs_release_unref(struct fs_release *r)
{
	if (r != NULL && atomic_fetch_sub_explicit(&r->refs, 1,
	    memory_order_acq_rel) == 1)
		release_free(r);
}

static uint64_t
key_hash(const uint8_t sha1[20])
{
	uint64_t h;

	memcpy(&h, sha1, sizeof(h));
	return h;
}

const struct fs_entity *
fs_release_find(const struct fs_release *r, const uint8_t sha1[20])
{
	size_t i;
	uint32_t s;

	if (r->slots == NULL)
		return NULL;
	for (i = key_hash(sha1) & r->mask; (s = r->slots[i]) != 0;
	    i = (i + 1) & r->mask)
		if (memcmp(r->ents[s - 1].sha1, sha1, 20) == 0)
			return &r->ents[s - 1];
	return NULL;
}

/* The SHA-256 of the regular file name (relative to dirfd) into out. */
static int
file_sha256(int dirfd, const char *name, uint8_t out[32], fs_err *err)
{
	unsigned char buf[65536];
	EVP_MD_CTX *ctx = NULL;
	ssize_t n;
	int fd, rc = FS_OK;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) <
	    0)
		return fs_err_set(err, FS_EIO, "cannot open '%s': %s", name,
		    strerror(errno));
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		rc = fs_err_openssl(err, FS_EINTERNAL, "SHA-256");
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fs_err_set(err, FS_EIO, "cannot read '%s': %s",
			    name, strerror(errno));
			goto out;
		}
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			rc = fs_err_openssl(err, FS_EINTERNAL, "SHA-256");
			goto out;
		}
	}
	if (!EVP_DigestFinal_ex(ctx, out, NULL))
		rc = fs_err_openssl(err, FS_EINTERNAL, "SHA-256");
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

/*
 * The size and time of name, a regular file (not a link); f->size -1
 * when it does not exist.  FS_ENOTVALID when it is something else.
 */
static int
stat_file(int dirfd, const char *name, struct fs_rep_file *f, fs_err *err)
{
	struct stat st;

	f->size = -1;
	f->mtime = 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return FS_OK;
		return fs_err_set(err, FS_EIO, "cannot read '%s': %s", name,
		    strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return fs_err_set(err, FS_ENOTVALID, "'%s' is not a regular "
		    "file", name);
	f->size = (int64_t)st.st_size;
	f->mtime = (int64_t)st.st_mtim.tv_sec;
	return FS_OK;
}

static int
parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	return fs_unhex(s, n, out);
}

/* A JSON value as seconds: an integer, or a duration text ("PT6H"). */
static int
json_seconds(const json_t *v, int64_t *out)
{
	fs_err e;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && fs_duration_parse(json_string_value(v), out,
	    &e) == FS_OK && *out >= 0)
		return 0;
	return -1;
}

/* One entry of entities/index.json into e. */
static int
load_entity(struct fs_release *r, const char *eid, size_t idlen,
    const json_t *v, struct fs_entity *e, fs_err *err)
{
	char want[6 + 40 + 1], name[6 + 40 + 6], hex[41];
	const char *file, *vu, *sha;
	const json_t *cd, *sz;
	time_t t;
	int rc;

	if (!json_is_object(v))
		return fs_err_set(err, FS_ENOTVALID, "its value is not an "
		    "object");
	if (idlen == 0 || idlen > FS_MDQ_MAX_ID || memchr(eid, '\0', idlen))
		return fs_err_set(err, FS_ENOTVALID, "not a usable entityID "
		    "(empty, longer than %d bytes, or with a NUL)",
		    FS_MDQ_MAX_ID);
	SHA1((const unsigned char *)eid, idlen, e->sha1);
	fs_hex(e->sha1, 20, hex, sizeof(hex));
	snprintf(want, sizeof(want), "{sha1}%s", hex);
	file = json_string_value(json_object_get(v, "file"));
	if (file == NULL || strcmp(file, want) != 0)
		return fs_err_set(err, FS_ENOTVALID, "its \"file\" is not "
		    "\"%s\" (the {sha1} of the entityID)", want);
	vu = json_string_value(json_object_get(v, "validUntil"));
	if (vu == NULL || fs_time_parse(vu, &t) != 0)
		return fs_err_set(err, FS_ENOTVALID, "no \"validUntil\" "
		    "dateTime");
	e->valid_until = (int64_t)t;
	e->cache_duration = -1;
	if ((cd = json_object_get(v, "cacheDuration")) != NULL &&
	    !json_is_null(cd) && json_seconds(cd, &e->cache_duration) != 0)
		return fs_err_set(err, FS_ENOTVALID, "its \"cacheDuration\" "
		    "is not a number of seconds");
	if ((rc = stat_file(r->entfd, want, &e->xml, err)) != FS_OK)
		return rc;
	if (e->xml.size < 0)
		return fs_err_set(err, FS_ENOTVALID, "entities/%s is missing",
		    want);
	sz = json_object_get(v, "size");
	if (sz != NULL && (!json_is_integer(sz) ||
	    json_integer_value(sz) != e->xml.size))
		return fs_err_set(err, FS_ENOTVALID, "its \"size\" is not the "
		    "%lld bytes of entities/%s", (long long)e->xml.size, want);
	sha = json_string_value(json_object_get(v, "sha256"));
	if (sha != NULL) {
		if (parse_hex(sha, e->sha256, 32) != 0)
			return fs_err_set(err, FS_ENOTVALID, "its \"sha256\" "
			    "is not 64 hex digits");
	} else if ((rc = file_sha256(r->entfd, want, e->sha256, err)) !=
	    FS_OK)
		return rc;
	snprintf(name, sizeof(name), "%s.gz", want);
	if ((rc = stat_file(r->entfd, name, &e->gz, err)) != FS_OK)
		return rc;
	snprintf(name, sizeof(name), "%s.json", want);
	if ((rc = stat_file(r->entfd, name, &e->json, err)) != FS_OK)
		return rc;
	if (e->json.size >= 0 &&
	    (rc = file_sha256(r->entfd, name, e->json_sha256, err)) != FS_OK)
		return rc;
	return FS_OK;
}

/* A message naming an entity: printable, and not too long. */
static void
entity_error(const char *key, size_t klen, int rc, fs_err *err)
{
	char esc[200], msg[sizeof(err->msg)];

	snprintf(esc, sizeof(esc), "%.*s", (int)(klen < 150 ? klen : 150),
	    key);
	for (char *p = esc; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	snprintf(msg, sizeof(msg), "%s", err->msg);
	fs_err_set(err, rc, "entities/index.json: '%s': %s", esc, msg);
}

/* One member of index.json, "{" KEY ":" VALUE "}" in text, added to r. */
static int
add_member(struct fs_release *r, const char *text, size_t len,
    unsigned long line, size_t *cap, size_t *ncap, size_t *off, fs_err *err)
{
	json_error_t jerr;
	json_t *m;
	void *it;
	const char *key;
	size_t klen;
	int rc = FS_OK;

	if ((m = json_loadb(text, len, 0, &jerr)) == NULL)
		return fs_err_set(err, FS_ENOTVALID, "entities/index.json:%lu: "
		    "%s", line + (unsigned long)jerr.line - 1, jerr.text);
	if (json_object_size(m) != 1 || (it = json_object_iter(m)) == NULL) {
		rc = fs_err_set(err, FS_ENOTVALID, "entities/index.json:%lu: "
		    "not one \"entityID\": {...} member", line);
		goto out;
	}
	if (r->n == MAX_ENTITIES) {
		rc = fs_err_set(err, FS_ENOTVALID, "entities/index.json has "
		    "more than %u entities", MAX_ENTITIES);
		goto out;
	}
	key = json_object_iter_key(it);
	klen = json_object_iter_key_len(it);
	if (r->n == *cap) {
		struct fs_entity *e;

		*cap = *cap ? *cap * 2 : 1024;
		if ((e = realloc(r->ents, *cap * sizeof(*e))) == NULL) {
			rc = fs_err_nomem(err, "loading the MDQ index");
			goto out;
		}
		r->ents = e;
	}
	if (*off + klen + 1 > *ncap) {
		char *n;

		while (*off + klen + 1 > *ncap)
			*ncap = *ncap ? *ncap * 2 : 65536;
		if ((n = realloc(r->names, *ncap)) == NULL) {
			rc = fs_err_nomem(err, "loading the MDQ index");
			goto out;
		}
		r->names = n;
	}
	memset(&r->ents[r->n], 0, sizeof(r->ents[r->n]));
	if ((rc = load_entity(r, key, klen, json_object_iter_value(it),
	    &r->ents[r->n], err)) != FS_OK) {
		entity_error(key, klen, rc, err);
		goto out;
	}
	memcpy(r->names + *off, key, klen);
	r->names[*off + klen] = '\0';
	r->ents[r->n].id_off = (uint32_t)*off;
	r->ents[r->n].id_len = (uint32_t)klen;
	*off += klen + 1;
	r->n++;
out:
	json_decref(m);
	return rc;
}

/*
 * entities/index.json, one member at a time.  The index of a large
 * federation is megabytes of JSON, and jansson's tree of it several times
 * that: so the text is only split here, at the commas between the
 * members of the top object (outside strings, at depth 1), and each
 * member is parsed by jansson on its own.  The memory this takes is the
 * compact index and one member.
 */
static int
load_index(struct fs_release *r, fs_err *err)
{
	char chunk[65536], *mem = NULL;
	size_t mlen = 0, mcap = 0, ecap = 0, ncap = 0, off = 0, cap, i;
	unsigned long line = 1, mline = 1;
	int fd, rc = FS_OK, depth = 0, in_str = 0, esc = 0, state = 0;
	int comma = 0;
	ssize_t got;

	if ((fd = openat(r->entfd, "index.json", O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		return fs_err_set(err, errno == ENOENT ? FS_ENOTVALID : FS_EIO,
		    "cannot open entities/index.json: %s (every release "
		    "fedsign publish makes with an mdq: section has one: "
		    "add mdq: to the configuration and publish again)",
		    strerror(errno));
	/* state 0: before the object, 1: in it, 2: after it */
	while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = fs_err_set(err, FS_EIO, "cannot read "
			    "entities/index.json: %s", strerror(errno));
			goto out;
		}
		for (ssize_t k = 0; k < got; k++) {
			char ch = chunk[k];
			int sep = 0;

			if (ch == '\n')
				line++;
			if (state != 1) {
				if (ch == ' ' || ch == '\t' || ch == '\n' ||
				    ch == '\r')
					continue;
				if (state == 0 && ch == '{') {
					state = depth = 1;
					continue;
				}
				rc = fs_err_set(err, FS_ENOTVALID, "entities/"
				    "index.json:%lu: %s", line, state == 0 ?
				    "not a JSON object" : "text after the "
				    "object");
				goto out;
			}
			if (in_str) {
				if (esc)
					esc = 0;
				else if (ch == '\\')
					esc = 1;
				else if (ch == '"')
					in_str = 0;
			} else if (ch == '"') {
				in_str = 1;
			} else if (ch == '{' || ch == '[') {
				depth++;
			} else if (ch == '}' || ch == ']') {
				sep = --depth == 0;
			} else if (ch == ',' && depth == 1) {
				sep = 1;
			}
			if (!sep) {
				if (mlen == 0 && (ch == ' ' || ch == '\t' ||
				    ch == '\n' || ch == '\r'))
					continue;
				if (mlen == 0)
					mline = line;
				if (mlen + 3 > mcap) {
					char *n;

					mcap = mcap ? mcap * 2 : 4096;
					if (mcap > ((size_t)1 << 24) ||
					    (n = realloc(mem, mcap)) == NULL) {
						rc = mcap > ((size_t)1 << 24) ?
						    fs_err_set(err,
						    FS_ENOTVALID, "entities/"
						    "index.json:%lu: an entry "
						    "of more than 16 MiB",
						    mline) : fs_err_nomem(err,
						    "loading the MDQ index");
						goto out;
					}
					mem = n;
				}
				if (mlen == 0)
					mem[mlen++] = '{';
				mem[mlen++] = ch;
				continue;
			}
			/* the end of a member: ',' or the closing '}' */
			if (mlen == 0) {
				if (ch == ',' || comma) {
					rc = fs_err_set(err, FS_ENOTVALID,
					    "entities/index.json:%lu: an empty "
					    "entry", line);
					goto out;
				}
			} else {
				mem[mlen++] = '}';
				if ((rc = add_member(r, mem, mlen, mline, &ecap,
				    &ncap, &off, err)) != FS_OK)
					goto out;
				mlen = 0;
			}
			comma = ch == ',';
			if (depth == 0)
				state = 2;
		}
	}
	if (state != 2) {
		rc = fs_err_set(err, FS_ENOTVALID, "entities/index.json ends "
		    "before its object does");
		goto out;
	}
	/* The arrays at their size; then the table. */
	if (r->n > 0 && r->n < ecap) {
		struct fs_entity *e = realloc(r->ents, r->n * sizeof(*e));

		if (e != NULL)
			r->ents = e;
	}
	if (off > 0 && off < ncap) {
		char *n = realloc(r->names, off);

		if (n != NULL)
			r->names = n;
	}
	for (cap = 16; cap < 2 * r->n; cap *= 2)
		;
	if ((r->slots = calloc(cap, sizeof(*r->slots))) == NULL) {
		rc = fs_err_nomem(err, "loading the MDQ index");
		goto out;
	}
	r->mask = cap - 1;
	r->mem = r->n * sizeof(*r->ents) + off + cap * sizeof(*r->slots);
	for (size_t k = 0; k < r->n; k++) {
		const struct fs_entity *e = &r->ents[k];

		for (i = key_hash(e->sha1) & r->mask; r->slots[i] != 0;
		    i = (i + 1) & r->mask) {
			if (memcmp(r->ents[r->slots[i] - 1].sha1, e->sha1,
			    20) == 0) {
				fs_err_set(err, FS_ENOTVALID, "is in the "
				    "index twice");
				entity_error(fs_entity_id(r, e), e->id_len,
				    FS_ENOTVALID, err);
				rc = FS_ENOTVALID;
				goto out;
			}
		}
		r->slots[i] = (uint32_t)(k + 1);
	}
out:
	free(mem);
	close(fd);
	return rc;
}

/* An aggregate file of the release folder, its SHA-256 when present. */
static int
load_agg(struct fs_release *r, const char *name, struct fs_agg_file *a,
    int digest, fs_err *err)
{
	int rc;

	if ((rc = stat_file(r->dirfd, name, &a->f, err)) != FS_OK)
		return rc;
	if (a->f.size >= 0 && digest)
		return file_sha256(r->dirfd, name, a->sha256, err);
	return FS_OK;
}

/* release.json, when publish wrote one: the name, times, validUntil. */
static int
load_meta(struct fs_release *r, fs_err *err)
{
	json_error_t jerr;
	const char *s;
	json_t *m;
	time_t t;
	int fd, rc = FS_OK;

	if ((fd = openat(r->dirfd, "release.json", O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		return errno == ENOENT ? FS_OK : fs_err_set(err, FS_EIO,
		    "cannot open release.json: %s", strerror(errno));
	m = json_loadfd(fd, 0, &jerr);
	close(fd);
	if (m == NULL || !json_is_object(m)) {
		rc = fs_err_set(err, FS_ENOTVALID, "release.json:%d: %s",
		    m == NULL ? jerr.line : 1, m == NULL ? jerr.text :
		    "not a JSON object");
		goto out;
	}
	if ((s = json_string_value(json_object_get(m, "published"))) !=
	    NULL) {
		if (fs_time_parse(s, &t) != 0) {
			rc = fs_err_set(err, FS_ENOTVALID, "release.json: "
			    "\"published\" is not a dateTime");
			goto out;
		}
		r->published = t;
	}
	if ((s = json_string_value(json_object_get(m, "validUntil"))) !=
	    NULL) {
		if (fs_time_parse(s, &t) != 0) {
			rc = fs_err_set(err, FS_ENOTVALID, "release.json: "
			    "\"validUntil\" is not a dateTime");
			goto out;
		}
		if (t < r->valid_until)
			r->valid_until = t;
	}
out:
	json_decref(m);
	return rc;
}

int
fs_release_load(int publish_fd, const char *target, struct fs_release **out,
    fs_err *err)
{
	struct fs_release *r;
	struct stat st;
	const char *base;
	size_t l;
	int rc;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return fs_err_nomem(err, "loading a release");
	atomic_init(&r->refs, 1);
	r->dirfd = r->entfd = -1;
	snprintf(r->target, sizeof(r->target), "%s", target);
	for (l = strlen(r->target); l > 1 && r->target[l - 1] == '/'; l--)
		r->target[l - 1] = '\0';
	base = strrchr(r->target, '/');
	snprintf(r->id, sizeof(r->id), "%s", base != NULL ? base + 1 :
	    r->target);
	if ((r->dirfd = openat(publish_fd, target, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0) {
		rc = fs_err_set(err, FS_EIO, "cannot open the release '%s': %s",
		    target, strerror(errno));
		goto fail;
	}
	if ((r->entfd = openat(r->dirfd, "entities", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = fs_err_set(err, FS_ENOTVALID, "the release '%s' has no "
		    "entities/ folder: %s (is mdq: in the publish "
		    "configuration?)", r->id, strerror(errno));
		goto fail;
	}
	if (fstat(r->dirfd, &st) == 0)
		r->published = st.st_mtim.tv_sec;
	if ((rc = load_index(r, err)) != FS_OK)
		goto where;
	r->valid_until = r->n > 0 ? (time_t)r->ents[0].valid_until : 0;
	r->agg_cache = -1;
	for (size_t i = 0; i < r->n; i++) {
		if (r->ents[i].valid_until < r->valid_until)
			r->valid_until = (time_t)r->ents[i].valid_until;
		if (r->ents[i].cache_duration >= 0 && (r->agg_cache < 0 ||
		    r->ents[i].cache_duration < r->agg_cache))
			r->agg_cache = r->ents[i].cache_duration;
	}
	if (r->agg_cache < 0)
		r->agg_cache = DEF_AGG_CACHE;
	if ((rc = load_meta(r, err)) != FS_OK ||
	    (rc = load_agg(r, "entities.xml", &r->all_xml, 1, err)) !=
	    FS_OK ||
	    (rc = load_agg(r, "entities.xml.gz", &r->all_gz, 0, err)) !=
	    FS_OK ||
	    (rc = load_agg(r, "entities.json", &r->all_json, 1, err)) !=
	    FS_OK)
		goto where;
	*out = r;
	return FS_OK;
where:
	{
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		fs_err_set(err, rc, "release '%s': %s", r->id, msg);
	}
fail:
	release_free(r);
	return rc;
}
