/*
 * Messages, as OpenBSD daemons write them: to stderr in the foreground
 * (-d), else to syslog (LOG_DAEMON).  Under systemd (JOURNAL_STREAM set)
 * stderr lines carry the <N> priority prefix journald understands.
 * Messages quote what clients sent: control characters are escaped.
 * Nothing here ever sees a PIN or a secret.
 */
#include "daemon/fedsignd.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static int foreground = 1;
static int verbosity;
static int journal;
static int startup_fd = -1;
static pthread_mutex_t startup_lock = PTHREAD_MUTEX_INITIALIZER;

void
fsd_log_init(int fg, int verbose)
{
	foreground = fg;
	verbosity = verbose;
	journal = getenv("JOURNAL_STREAM") != NULL;
	if (!fg)
		openlog("fedsignd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
fsd_log_startup_fd(int fd)
{
	pthread_mutex_lock(&startup_lock);
	startup_fd = fd;
	pthread_mutex_unlock(&startup_lock);
}

/* The length of the UTF-8 sequence at s, or 0 when it is not one. */
static size_t
utf8_len(const unsigned char *s, uint32_t *cp)
{
	size_t n;
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
	for (size_t i = 1; i < n; i++) {
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
fsd_escape(const char *in, char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t used = 0, n;
	uint32_t cp;

	if (len == 0)
		return buf;
	while (*s != '\0' && used + 12 < len) {
		n = utf8_len(s, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f ||
		    (cp >= 0x80 && cp < 0xa0) ||
		    (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069)) {
			used += (size_t)snprintf(buf + used, len - used,
			    n <= 1 ? "\\x%02X" : "\\u{%04X}", n <= 1 ?
			    (unsigned)*s : (unsigned)cp);
			s += n ? n : 1;
			continue;
		}
		memcpy(buf + used, s, n);
		used += n;
		s += n;
	}
	if (*s != '\0' && used + 4 < len) {
		memcpy(buf + used, "...", 3);
		used += 3;
	}
	buf[used < len ? used : len - 1] = '\0';
	return buf;
}

static void
vlog(int prio, const char *fmt, va_list ap)
{
	char msg[2048], safe[4096], line[4200];
	int n;

	if (prio == LOG_DEBUG && verbosity < 1)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fsd_escape(msg, safe, sizeof(safe));
	if (foreground) {
		n = snprintf(line, sizeof(line), "%sfedsignd: %s\n", journal ?
		    (prio == LOG_ERR ? "<3>" : prio == LOG_WARNING ? "<4>" :
		    prio == LOG_DEBUG ? "<7>" : "<6>") : "", safe);
		/* One write: lines from threads stay whole. */
		if (n > 0)
			(void)!write(STDERR_FILENO, line, (size_t)n <
			    sizeof(line) ? (size_t)n : sizeof(line) - 1);
	} else {
		syslog(prio, "%s", safe);
	}
	if (prio <= LOG_WARNING) {
		pthread_mutex_lock(&startup_lock);
		if (startup_fd != -1) {
			n = snprintf(line, sizeof(line), "fedsignd: %s\n", safe);
			if (n > 0)
				(void)!write(startup_fd, line, (size_t)n <
				    sizeof(line) ? (size_t)n : sizeof(line) - 1);
		}
		pthread_mutex_unlock(&startup_lock);
	}
}

#define LOGFN(name, prio) \
void \
name(const char *fmt, ...) \
{ \
	va_list ap; \
	int saved = errno; \
\
	va_start(ap, fmt); \
	vlog(prio, fmt, ap); \
	va_end(ap); \
	errno = saved; \
}

LOGFN(log_debug, LOG_DEBUG)
LOGFN(log_info, LOG_INFO)
LOGFN(log_warnx, LOG_WARNING)
LOGFN(log_errx, LOG_ERR)

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
