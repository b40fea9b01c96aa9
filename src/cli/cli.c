#include "cli/cli.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "util/mem.h"

int fs_cli_verbose = 1;

int
fs_cli_fail(const fs_err *err)
{
	fprintf(stderr, "fedsign: %s\n", err->msg[0] ? err->msg :
	    "unknown error");
	return err->code != FS_OK ? err->code : FS_EINTERNAL;
}

void
fs_cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("fedsign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
fs_cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("fedsign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'fedsign %s%s--help'.\n", cmd ? cmd : "",
	    cmd ? " " : "");
	return FS_EUSAGE;
}

void
fs_cli_info(const char *fmt, ...)
{
	va_list ap;

	if (fs_cli_verbose <= 0)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
fs_cli_expect_input(const char *path)
{
	struct stat st;

	/* A parsed metadata tree takes about 4.5 times the file's size. */
	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 &&
	    S_ISREG(st.st_mode))
		fs_mem_expect((size_t)st.st_size / 2 * 9);
}
