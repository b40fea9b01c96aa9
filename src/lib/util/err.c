#include "fedsign/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static void
vset(fs_err *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	err->rule = FS_RULE_NONE;
	err->rv = 0;
	err->call[0] = '\0';
	err->file[0] = '\0';
	err->line = err->col = 0;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

void
fs_err_clear(fs_err *err)
{
	if (err == NULL)
		return;
	memset(err, 0, offsetof(fs_err, msg));
	err->code = FS_OK;
	err->msg[0] = '\0';
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

int
fs_err_rule(fs_err *err, enum fs_rule rule, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return FS_ENOTVALID;
	va_start(ap, fmt);
	vset(err, FS_ENOTVALID, fmt, ap);
	va_end(ap);
	err->rule = rule;
	return FS_ENOTVALID;
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

void
fs_err_where(fs_err *err, const char *file, unsigned long line,
    unsigned long col)
{
	if (err == NULL)
		return;
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line;
	err->col = col;
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

int
fs_err_nomem(fs_err *err, const char *what)
{
	return fs_err_set(err, FS_ENOMEM, "out of memory %s: raise the "
	    "memory limit (ulimit -v, the service's MemoryMax) or free "
	    "memory; nothing was written", what);
}

const char *
fs_rule_name(enum fs_rule rule)
{
	static const char *const names[] = {
		[FS_RULE_NONE] = "",
		[FS_RULE_EMPTY] = "empty",
		[FS_RULE_MALFORMED] = "malformed",
		[FS_RULE_DOCTYPE] = "doctype",
		[FS_RULE_LIMIT] = "limit",
		[FS_RULE_NOT_METADATA] = "not-metadata",
		[FS_RULE_C14N] = "canonicalisation",
		[FS_RULE_NOT_SIGNED] = "not-signed",
		[FS_RULE_STRUCTURE] = "signature-structure",
		[FS_RULE_UNSIGNED_CONTENT] = "unsigned-content",
		[FS_RULE_REFERENCE] = "reference",
		[FS_RULE_DUPLICATE_ID] = "duplicated-id",
		[FS_RULE_TRANSFORMS] = "transforms",
		[FS_RULE_ALGORITHM] = "algorithm",
		[FS_RULE_KEY] = "key",
		[FS_RULE_KEY_WEAK] = "key-too-weak",
		[FS_RULE_VALIDITY] = "validity",
		[FS_RULE_EXPIRED] = "expired",
		[FS_RULE_TOO_LONG] = "validity-too-long",
		[FS_RULE_DIGEST] = "digest",
		[FS_RULE_SIGNATURE] = "signature",
	};

	if ((size_t)rule >= sizeof(names) / sizeof(names[0]) ||
	    names[rule] == NULL)
		return "";
	return names[rule];
}
