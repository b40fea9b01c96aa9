/*
 * Input quoted in a message, made safe to print: a terminal or a log
 * shows what the bytes are, never what they would do.
 */
#include "fedsign/util.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The length of the UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t
utf8_len(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, c = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, c = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

const char *
fs_escape(const char *in, char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t used = 0, n;
	uint32_t cp;

	if (len == 0)
		return buf;
	while (*s != '\0' && used + 12 < len) {
		n = utf8_len(s, &cp);
		if (n == 0) {
			used += (size_t)snprintf(buf + used, len - used,
			    "\\x%02X", *s);
			s++;
			continue;
		}
		/* C0 and C1 controls, DEL, bidirectional embeddings. */
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
		    cp == 0x200f) {
			if (cp < 0x80)
				used += (size_t)snprintf(buf + used,
				    len - used, "\\x%02X", (unsigned)cp);
			else
				used += (size_t)snprintf(buf + used,
				    len - used, "\\u{%04X}", (unsigned)cp);
		} else {
			memcpy(buf + used, s, n);
			used += n;
		}
		s += n;
	}
	if (*s != '\0' && used + 4 < len) {
		memcpy(buf + used, "...", 3);
		used += 3;
	}
	buf[used < len ? used : len - 1] = '\0';
	return buf;
}
