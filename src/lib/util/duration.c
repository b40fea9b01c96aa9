#include "fedsign/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DURATION ((int64_t)100 * 366 * 86400)	/* a century */

static int
unit_secs(char u, int in_time, int64_t *mul)
{
	switch (u) {
	case 'W': case 'w': if (in_time) return -1; *mul = 7 * 86400; break;
	case 'D': case 'd': if (in_time) return -1; *mul = 86400; break;
	case 'H': case 'h': *mul = 3600; break;
	case 'M': case 'm': *mul = 60; break;
	case 'S': case 's': *mul = 1; break;
	default: return -1;
	}
	return 0;
}

static int
bad(const char *s, fs_err *err)
{
	return fs_err_set(err, FS_EUSAGE,
	    "invalid duration '%s': use a number and a unit (14d, 6h, 30m) "
	    "or ISO 8601 (P14D, PT6H)", s);
}

int
fs_duration_parse(const char *s, int64_t *secs, fs_err *err)
{
	const char *p = s;
	int64_t total = 0, mul;
	int iso = 0, in_time = 0, parts = 0;

	if (*p == 'P') {
		iso = 1;
		p++;
	}
	while (*p != '\0') {
		long long v;
		char *end;

		if (iso && *p == 'T' && !in_time) {
			in_time = 1;
			p++;
			continue;
		}
		if (!isdigit((unsigned char)*p))
			return bad(s, err);
		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno != 0 || end == p)
			return bad(s, err);
		p = end;
		/* In ISO form M means months before T and minutes after it. */
		if (iso && !in_time && (*p == 'M' || *p == 'Y'))
			return fs_err_set(err, FS_EUSAGE,
			    "invalid duration '%s': years and months have no "
			    "fixed length; use days (P30D)", s);
		if (*p == '\0' || unit_secs(*p, iso && in_time ? 1 : 0, &mul) == -1)
			return bad(s, err);
		if (iso && !in_time && (*p == 'H' || *p == 'S'))
			return bad(s, err);
		if (!iso && parts > 0)
			return bad(s, err);
		if (v > MAX_DURATION / mul || total + v * mul > MAX_DURATION)
			return fs_err_set(err, FS_EUSAGE,
			    "duration '%s' is longer than a century", s);
		total += v * mul;
		parts++;
		p++;
	}
	if (parts == 0)
		return bad(s, err);
	*secs = total;
	return FS_OK;
}

void
fs_duration_format(int64_t secs, char *buf, size_t len)
{
	int64_t d = secs / 86400, h = secs % 86400 / 3600;
	int64_t m = secs % 3600 / 60, s = secs % 60;
	char part[4][24];

	part[0][0] = part[1][0] = part[2][0] = part[3][0] = '\0';
	if (d > 0)
		snprintf(part[0], sizeof(part[0]), "%lldD", (long long)d);
	if (h > 0)
		snprintf(part[1], sizeof(part[1]), "%lldH", (long long)h);
	if (m > 0)
		snprintf(part[2], sizeof(part[2]), "%lldM", (long long)m);
	if (s > 0 || secs == 0)
		snprintf(part[3], sizeof(part[3]), "%lldS", (long long)s);
	snprintf(buf, len, "P%s%s%s%s%s", part[0],
	    part[1][0] || part[2][0] || part[3][0] ? "T" : "", part[1],
	    part[2], part[3]);
}

static int
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int
fs_time_parse(const char *s, time_t *t)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	struct tm tm;
	time_t v;

	while (isspace((unsigned char)*p))
		p++;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d) || *p++ != 'T' ||
	    digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
	    *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) ||
		    oh > 14 || om > 59)
			return -1;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap(y)) || h > 24 || mi > 59 ||
	    sec > 59 || (h == 24 && (mi || sec)) || y < 1)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((v = timegm(&tm)) == (time_t)-1)
		return -1;
	*t = v - sign * (oh * 3600 + om * 60);
	return 0;
}

void
fs_time_format(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
fs_size_parse(const char *s, uint64_t *bytes, fs_err *err)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: goto bad;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		goto bad;
	*bytes = (uint64_t)v << shift;
	return FS_OK;
bad:
	return fs_err_set(err, FS_EUSAGE, "invalid size '%s': use a number "
	    "of bytes with an optional K, M or G (512M, 1G)", s);
}
