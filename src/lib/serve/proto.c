/*
 * The MDQ protocol as text: request paths, percent-decoding, content
 * negotiation, conditional requests and dates.  Pure functions, no I/O,
 * so that the unit tests see every rule.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/sha.h>

#include "fedsign/util.h"
#include "serve_int.h"

/* The length of the UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;	/* overlong */
		else if (c == 0xED)
			hi = 0x9F;	/* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;	/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;	/* beyond U+10FFFF */
	} else
		return 0;	/* 0x80-0xC1 (C0 and C1 are overlong), F5+ */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

const char *
fs_mdq_decode(const char *s, size_t n, char *out, size_t *outn)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0, l;
	int hi, lo;

	for (size_t i = 0; i < n; i++) {
		if (u[i] == '%') {
			if (i + 2 >= n)
				return "a '%' not followed by two hex digits";
			if ((hi = fs_hexval(u[i + 1])) < 0 ||
			    (lo = fs_hexval(u[i + 2])) < 0)
				return "a '%' not followed by two hex digits";
			if (hi == 0 && lo == 0)
				return "an encoded NUL (%00)";
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (u[i] <= 0x20 || u[i] == 0x7f) {
			return "white space or a control character that is "
			    "not percent-encoded";
		} else if (u[i] == '#') {
			return "a '#' that is not percent-encoded (%23)";
		} else {
			out[o++] = (char)u[i];
		}
	}
	out[o] = '\0';
	u = (const unsigned char *)out;
	for (size_t i = 0; i < o; i += l) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return "an encoded control character";
		if ((l = utf8_len(u + i, o - i)) == 0)
			return "bytes that are not UTF-8 (or an overlong form)";
	}
	*outn = o;
	return NULL;
}

void
fs_mdq_parse_path(const char *path, struct fs_mdq_req *r)
{
	static const char ent[] = "/entities";
	const char *rest, *why, *h;
	size_t n;

	memset(r, 0, offsetof(struct fs_mdq_req, id));
	r->id[0] = '\0';
	r->idlen = 0;
	/* absolute-form (RFC 9112 3.2.2): the path of it */
	if (strncasecmp(path, "http://", 7) == 0 ||
	    strncasecmp(path, "https://", 8) == 0) {
		path = strstr(path, "//") + 2;
		path += strcspn(path, "/");
		if (*path == '\0')
			path = "/";
	}
	if (strcmp(path, "/status") == 0) {
		r->kind = FS_MDQ_STATUS;
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		r->kind = FS_MDQ_METRICS;
		return;
	}
	if (strncmp(path, ent, sizeof(ent) - 1) != 0 ||
	    (path[sizeof(ent) - 1] != '\0' && path[sizeof(ent) - 1] != '/')) {
		r->kind = FS_MDQ_OTHER;
		return;
	}
	rest = path + sizeof(ent) - 1;
	if (rest[0] == '\0' || rest[1] == '\0') {
		r->kind = FS_MDQ_ALL;
		return;
	}
	rest++;
	n = strlen(rest);
	/* Decoding never lengthens: more raw bytes than room is too long. */
	if (n > FS_MDQ_MAX_ID * 3) {
		r->kind = FS_MDQ_BAD;
		r->why = "the entityID is too long";
		return;
	}
	{
		char tmp[FS_MDQ_MAX_ID * 3 + 1];

		if ((why = fs_mdq_decode(rest, n, tmp, &r->idlen)) != NULL) {
			r->kind = FS_MDQ_BAD;
			r->why = why;
			return;
		}
		if (r->idlen > FS_MDQ_MAX_ID) {
			r->kind = FS_MDQ_BAD;
			r->why = "the entityID is too long";
			return;
		}
		memcpy(r->id, tmp, r->idlen + 1);
	}
	if (r->idlen >= 6 && strncasecmp(r->id, "{sha1}", 6) == 0) {
		h = r->id + 6;
		if (r->idlen != 46) {
			r->kind = FS_MDQ_BAD;
			r->why = "{sha1} must be followed by 40 hex digits";
			return;
		}
		if (fs_unhex(h, 20, r->sha1) != 0) {
			r->kind = FS_MDQ_BAD;
			r->why = "{sha1} must be followed by 40 hex digits";
			return;
		}
		r->kind = FS_MDQ_SHA1;
		return;
	}
	SHA1((const unsigned char *)r->id, r->idlen, r->sha1);
	r->kind = FS_MDQ_ID;
}

/* --- headers --------------------------------------------------------- */

/* One element of a comma-separated header: its value and its q (0-1000). */
struct elem {
	const char *v;
	size_t vlen;
	int q;
};

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* "0", "0.5", "1", "1.000": 0..1000; -1 when not a qvalue. */
static int
parse_q(const char *p, size_t n)
{
	int q, d = 0;
	size_t i;

	if (n == 0 || (p[0] != '0' && p[0] != '1'))
		return -1;
	q = (p[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (p[1] != '.' || n > 5)
		return -1;
	for (i = 2; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		d = d * 10 + (p[i] - '0');
	}
	for (; i < 5; i++)
		d *= 10;
	if (q == 1000 && d != 0)
		return -1;
	return q + d;
}

/*
 * The next element of the list at *pp: the value before any ';', and
 * its q parameter (1000 when none).  0 at the end; an element that
 * cannot be read gets q -1.
 */
static int
next_elem(const char **pp, struct elem *e)
{
	const char *p = *pp, *end, *semi, *name, *val;
	size_t nlen, vlen;

	for (;;) {
		p = skip_ows(p);
		if (*p == ',') {
			p++;
			continue;
		}
		break;
	}
	if (*p == '\0')
		return 0;
	end = p + strcspn(p, ",");
	*pp = *end == ',' ? end + 1 : end;
	semi = memchr(p, ';', (size_t)(end - p));
	e->v = p;
	e->vlen = (size_t)((semi != NULL ? semi : end) - p);
	while (e->vlen > 0 && (p[e->vlen - 1] == ' ' || p[e->vlen - 1] == '\t'))
		e->vlen--;
	e->q = 1000;
	while (semi != NULL) {
		name = skip_ows(semi + 1);
		semi = memchr(name, ';', (size_t)(end - name));
		val = memchr(name, '=', (size_t)((semi ? semi : end) - name));
		if (val == NULL)
			continue;
		nlen = (size_t)(val - name);
		while (nlen > 0 && (name[nlen - 1] == ' ' ||
		    name[nlen - 1] == '\t'))
			nlen--;
		val = skip_ows(val + 1);
		vlen = (size_t)((semi ? semi : end) - val);
		while (vlen > 0 && (val[vlen - 1] == ' ' ||
		    val[vlen - 1] == '\t'))
			vlen--;
		if (nlen == 1 && (name[0] == 'q' || name[0] == 'Q'))
			e->q = parse_q(val, vlen);
	}
	return 1;
}

static int
is(const struct elem *e, const char *s)
{
	return e->vlen == strlen(s) && strncasecmp(e->v, s, e->vlen) == 0;
}

/* How specifically e names one of the types: 3 exact, 2 a type with
 * any subtype, 1 any type. */
static int
spec(const struct elem *e, const char *const *types)
{
	const char *slash;
	size_t tl;

	for (size_t i = 0; types[i] != NULL; i++)
		if (is(e, types[i]))
			return 3;
	if (is(e, "*/*"))
		return 1;
	if (e->vlen < 2 || e->v[e->vlen - 1] != '*' ||
	    e->v[e->vlen - 2] != '/')
		return 0;
	tl = e->vlen - 1;	/* "type/" */
	for (size_t i = 0; types[i] != NULL; i++) {
		slash = strchr(types[i], '/');
		if ((size_t)(slash - types[i]) + 1 == tl &&
		    strncasecmp(e->v, types[i], tl) == 0)
			return 2;
	}
	return 0;
}

enum fs_mdq_rep
fs_mdq_negotiate(const char *accept, int json_ok)
{
	static const char *const xml[] = { "application/samlmetadata+xml",
	    "application/xml", "text/xml", NULL };
	static const char *const json[] = { "application/json", NULL };
	const char *p = accept;
	struct elem e;
	int xs = 0, xq = 0, js = 0, jq = 0, any = 0, s;

	if (accept == NULL)
		return FS_REP_XML;
	while (next_elem(&p, &e)) {
		if (e.q < 0 || memchr(e.v, '/', e.vlen) == NULL)
			continue;
		any = 1;
		if ((s = spec(&e, xml)) > xs || (s == xs && s > 0 && e.q > xq)) {
			xs = s;
			xq = e.q;
		}
		if ((s = spec(&e, json)) > js || (s == js && s > 0 &&
		    e.q > jq)) {
			js = s;
			jq = e.q;
		}
	}
	if (!any)
		return FS_REP_XML;
	if (!json_ok)
		jq = 0;
	if (xq == 0 && jq == 0)
		return FS_REP_NONE;
	return jq > xq ? FS_REP_JSON : FS_REP_XML;
}

int
fs_mdq_accepts_gzip(const char *ae)
{
	const char *p = ae;
	struct elem e;
	int gz = -1, star = -1;

	if (ae == NULL)
		return 0;
	while (next_elem(&p, &e)) {
		if (e.q < 0)
			continue;
		if (is(&e, "gzip") || is(&e, "x-gzip"))
			gz = e.q > gz ? e.q : gz;
		else if (is(&e, "*"))
			star = e.q;
	}
	return gz >= 0 ? gz > 0 : star > 0;
}

int
fs_mdq_etag_match(const char *inm, const char *etag)
{
	const char *p = inm, *q;
	size_t el = strlen(etag);

	if (inm == NULL)
		return 0;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return 0;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return 0;	/* not a list of entity-tags */
		if ((q = strchr(p + 1, '"')) == NULL)
			return 0;
		if ((size_t)(q + 1 - p) == el && memcmp(p, etag, el) == 0)
			return 1;
		p = q + 1;
	}
}

static const char days[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec"
};

static int
month(const char *m)
{
	for (int i = 0; i < 12; i++)
		if (strcmp(m, months[i]) == 0)
			return i;
	return -1;
}

int
fs_mdq_parse_http_date(const char *s, time_t *t)
{
	char wd[16], mon[4];
	struct tm tm = { 0 };
	int d, y, H, M, S, n = 0, m;

	if (s == NULL)
		return -1;
	s = skip_ows(s);
	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
	    wd, &d, mon, &y, &H, &M, &S, &n) == 7 && n > 0) {
	} else if (n = 0, sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d "
	    "%2d:%2d:%2d GMT%n", wd, &d, mon, &y, &H, &M, &S, &n) == 7 &&
	    n > 0) {
		/* RFC 850: a two-digit year (RFC 9110 5.6.7) */
		y += y < 70 ? 2000 : 1900;
	} else if (n = 0, sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d "
	    "%4d%n", wd, mon, &d, &H, &M, &S, &y, &n) == 7 && n > 0) {
		/* asctime */
	} else
		return -1;
	if (*skip_ows(s + n) != '\0' || (m = month(mon)) < 0 || d < 1 ||
	    d > 31 || H > 23 || M > 59 || S > 60 || y < 1970 || H < 0 ||
	    M < 0 || S < 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = m;
	tm.tm_mday = d;
	tm.tm_hour = H;
	tm.tm_min = M;
	tm.tm_sec = S;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

void
fs_mdq_format_http_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t
fs_mdq_max_age(int64_t cache_duration, int64_t fallback, time_t valid_until,
    time_t now)
{
	int64_t n = cache_duration >= 0 ? cache_duration : fallback;
	int64_t left = (int64_t)valid_until - (int64_t)now;

	if (left < n)
		n = left;
	return n < 0 ? 0 : n;
}
