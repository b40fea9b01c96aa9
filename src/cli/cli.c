#include "cli/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "fedsign/util.h"

int fs_cli_verbose = 1;
xmlDocPtr fs_cli_keep;
void *fs_cli_leave;

int
fs_cli_exit_code(int status)
{
	switch (status) {
	case FS_OK: return 0;
	case FS_ENOTVALID: return 1;
	case FS_EUSAGE: return 2;
	case FS_ETOKEN: return 3;
	case FS_EIO: return 4;
	case FS_ENOMEM:
	case FS_EINTERNAL:
	default: return 5;
	}
}

const char *
fs_cli_uri_escape(const char *in, char *buf, size_t len)
{
	static const char hx[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)in;
	size_t used = 0;

	for (; *s != '\0' && used + 4 < len; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL) {
			buf[used++] = (char)*s;
		} else {
			buf[used++] = '%';
			buf[used++] = hx[*s >> 4];
			buf[used++] = hx[*s & 15];
		}
	}
	buf[used] = '\0';
	return buf;
}

static void
vsay(const char *fmt, va_list ap)
{
	char msg[4096], safe[sizeof(msg) * 2];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "fedsign: %s\n", fs_escape(msg, safe,
	    sizeof(safe)));
}

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

int
fs_cli_fail(const fs_err *err)
{
	say("%s", err->msg[0] ? err->msg : "unknown error");
	return fs_cli_exit_code(err->code != FS_OK ? err->code : FS_EINTERNAL);
}

void
fs_cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

int
fs_cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'fedsign %s%s--help'.\n", cmd ? cmd : "",
	    cmd ? " " : "");
	return 2;
}

void
fs_cli_info(const char *fmt, ...)
{
	va_list ap;

	if (fs_cli_verbose <= 0)
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

int
fs_cli_limit_opt(int opt, const char *arg, struct fs_md_limits *lim,
    const char *cmd)
{
	fs_err err;
	char *end;
	long v;

	if (opt == FS_OPT_MAX_SIZE) {
		if (fs_size_parse(arg, &lim->max_size, &err) != FS_OK ||
		    lim->max_size == 0)
			return fs_cli_usage(cmd, "--max-size: invalid size "
			    "'%s': use a number with K, M or G (1G)", arg);
		return 0;
	}
	/*
	 * The canonicaliser recurses once per level: beyond a few thousand
	 * levels it would run out of stack.
	 */
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || v < 1 ||
	    v > (opt == FS_OPT_MAX_DEPTH ? FS_MD_DEPTH_CEILING : 100000))
		return fs_cli_usage(cmd, "--%s must be a number from 1 to %d",
		    opt == FS_OPT_MAX_DEPTH ? "max-depth" : "max-attributes",
		    opt == FS_OPT_MAX_DEPTH ? FS_MD_DEPTH_CEILING : 100000);
	if (opt == FS_OPT_MAX_DEPTH)
		lim->max_depth = (unsigned)v;
	else
		lim->max_attrs = (unsigned)v;
	return 0;
}

/* --- start-up ------------------------------------------------------------ */

void fs_cli_pin_capture(void);
void fs_cli_tty_restore(void);

static void
on_signal(int sig)
{
	/* Leave the terminal as we found it, then die of the signal. */
	fs_cli_tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void
fs_cli_secure_start(void)
{
	static const struct rlimit none = { 0, 0 };
	struct sigaction sa;

	/* Nothing of a PIN or a session may end up in a core file. */
	(void)setrlimit(RLIMIT_CORE, &none);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	fs_cli_pin_capture();
	/* Writes past ulimit -f fail with EFBIG, and are reported. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
}
