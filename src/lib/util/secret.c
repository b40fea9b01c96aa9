#include "fedsign/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

void
fs_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}

void
fs_secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

int
fs_secret_read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) !=
	    0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

void
fs_hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; i < n && 2 * i + 2 < outlen; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * i] = '\0';
}

int
fs_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
fs_unhex(const char *s, size_t n, uint8_t *out)
{
	int a, b;

	for (size_t i = 0; i < n; i++) {
		if ((a = fs_hexval((unsigned char)s[2 * i])) < 0 ||
		    (b = fs_hexval((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}
