#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static void
vset(fs_err *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int
fs_err_set(fs_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void
fs_err_append(fs_err *err, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (err == NULL)
		return;
	len = strlen(err->msg);
	if (len + 3 >= sizeof(err->msg))
		return;
	if (len > 0) {
		memcpy(err->msg + len, ": ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(err->msg + len, sizeof(err->msg) - len, fmt, ap);
	va_end(ap);
}

int
fs_err_openssl(fs_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	char buf[256];

	e = ERR_get_error();
	if (err != NULL) {
		va_start(ap, fmt);
		vset(err, code, fmt, ap);
		va_end(ap);
		if (e != 0) {
			ERR_error_string_n(e, buf, sizeof(buf));
			fs_err_append(err, "%s", buf);
		}
	}
	ERR_clear_error();
	return code;
}

void
fs_err_clear(fs_err *err)
{
	if (err == NULL)
		return;
	err->code = FS_OK;
	err->msg[0] = '\0';
}
