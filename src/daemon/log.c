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

static void
vlog(int prio, const char *fmt, va_list ap)
{
	char msg[2048], safe[4096], line[4200];
	int n;

	if (prio == LOG_DEBUG && verbosity < 1)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fs_escape(msg, safe, sizeof(safe));
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
