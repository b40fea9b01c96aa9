/* fedsign serve: the MDQ responder over what fedsign publish made. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "fedsign/conf.h"
#include "fedsign/serve.h"
#include "fedsign/util.h"

static const char help[] =
"usage: fedsign serve (--dir PUBLISH-DIR | -c CONFIG) [--listen ADDR:PORT]...\n"
"                     [--max-clients N] [--timeout SECONDS]\n"
"                     [--status-margin DURATION] [-q] [-v]\n"
"\n"
"Answer Metadata Query Protocol (MDQ) requests from the release that\n"
"PUBLISH-DIR/current points to, as fedsign publish made it with an mdq:\n"
"section, and follow each switch of current: a request is answered from\n"
"the release that was live when it came, never from a mix.  Nothing is\n"
"signed: the documents are sent as they were published.\n"
"\n"
"  GET /entities/ID       the signed md:EntityDescriptor of entityID ID\n"
"                         (percent-encoded), or of {sha1}HEX\n"
"  GET /entities          the signed aggregate of all of them\n"
"                         (Accept: application/json: the discovery JSON)\n"
"  GET /status            200 while the release is valid for longer than\n"
"                         the status margin, else 503 (JSON)\n"
"  GET /metrics           Prometheus metrics\n"
"\n"
"  -d, --dir PUBLISH-DIR  the publish-dir of fedsign publish\n"
"  -c, --config FILE      take publish-dir, and the serve: section, from\n"
"                         the publish configuration\n"
"  -l, --listen ADDR:PORT listen there (default 127.0.0.1:8080; [::1]:PORT\n"
"                         for IPv6; port 0 picks a free one); repeatable\n"
"  --max-clients N        connections at once (default 1024); one address\n"
"                         gets at most 64\n"
"  --timeout SECONDS      close a connection idle this long (default 30)\n"
"  --status-margin DURATION\n"
"                         /status says 503 this long before the release's\n"
"                         earliest validUntil (default 1d)\n"
"  -q, --quiet            only errors on stderr\n"
"  -v, --verbose          a line per request too (-vv: and the HTTP\n"
"                         library's own messages)\n"
"  -h, --help             show this help\n"
"\n"
"SIGTERM and SIGINT stop it (exit status 0) once the requests in flight\n"
"are answered; SIGHUP makes it look at current at once.\n"
"\n" FS_EXIT_HELP;

enum { OPT_MAX_CLIENTS = 256, OPT_TIMEOUT, OPT_MARGIN };

static const struct option longopts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "status-margin", required_argument, NULL, OPT_MARGIN },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void
log_line(void *ctx, enum fs_serve_log level, const char *msg)
{
	static const char *const names[] = { "error: ", "warning: ", "", "",
	    "" };

	(void)ctx;
	if ((level == FS_SERVE_LOG_WARN || level == FS_SERVE_LOG_INFO) &&
	    fs_cli_verbose < 1)
		return;
	if (level == FS_SERVE_LOG_ACCESS && fs_cli_verbose < 2)
		return;
	if (level == FS_SERVE_LOG_DEBUG && fs_cli_verbose < 3)
		return;
	pthread_mutex_lock(&log_lock);
	fs_cli_warn("%s%s%s", level == FS_SERVE_LOG_DEBUG ? "http: " : "",
	    names[level], msg);
	pthread_mutex_unlock(&log_lock);
}

/* A whole number from 1 to max, or -1. */
static long
number(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 || v > max)
		return -1;
	return v;
}

int
cmd_serve(int argc, char **argv)
{
	struct fs_serve_opts o = { 0 };
	struct fs_conf *conf = NULL;
	const char *listen[FS_SERVE_MAX_LISTEN], *dir = NULL, *cpath = NULL;
	size_t nlisten = 0;
	long max_clients = 0, timeout = 0;
	int64_t margin = -1;
	fs_serve *s = NULL;
	sigset_t set;
	fs_err err;
	int ch, sig, rc;

	fs_err_clear(&err);
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":d:c:l:qvh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'c':
			cpath = optarg;
			break;
		case 'l':
			if (nlisten == FS_SERVE_MAX_LISTEN)
				return fs_cli_usage("serve", "at most %d "
				    "--listen addresses", FS_SERVE_MAX_LISTEN);
			listen[nlisten++] = optarg;
			break;
		case OPT_MAX_CLIENTS:
			if ((max_clients = number(optarg, 1000000)) < 0)
				return fs_cli_usage("serve", "--max-clients "
				    "must be a number from 1 to 1000000");
			break;
		case OPT_TIMEOUT:
			if ((timeout = number(optarg, 3600)) < 0)
				return fs_cli_usage("serve", "--timeout must "
				    "be a number of seconds from 1 to 3600");
			break;
		case OPT_MARGIN:
			if (fs_duration_parse(optarg, &margin, &err) != FS_OK)
				return fs_cli_usage("serve", "--status-margin: "
				    "%s", err.msg);
			if (margin < 0)
				return fs_cli_usage("serve", "--status-margin "
				    "must not be negative");
			break;
		case 'q':
			fs_cli_verbose = 0;
			break;
		case 'v':
			fs_cli_verbose = fs_cli_verbose < 2 ? 2 :
			    fs_cli_verbose + 1;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		case ':':
			return fs_cli_usage("serve", "option '%s' needs a "
			    "value", argv[optind - 1]);
		default:
			return fs_cli_usage("serve", "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fs_cli_usage("serve", "unexpected argument '%s'",
		    argv[optind]);
	if (dir == NULL && cpath == NULL)
		return fs_cli_usage("serve", "give the publish folder: --dir "
		    "PUBLISH-DIR, or -c CONFIG");
	if (cpath != NULL) {
		if ((rc = fs_conf_load(cpath, &conf, &err)) != FS_OK)
			return fs_cli_fail(&err);
		if (dir == NULL)
			dir = conf->publish_dir;
		if (!conf->mdq.enabled)
			fs_cli_warn("warning: %s has no mdq: section: fedsign "
			    "publish makes no MDQ documents for serve", cpath);
		if (nlisten == 0)
			for (size_t i = 0; i < conf->serve.listen.n &&
			    nlisten < FS_SERVE_MAX_LISTEN; i++)
				listen[nlisten++] = conf->serve.listen.v[i];
		if (max_clients == 0)
			max_clients = (long)conf->serve.max_clients;
		if (timeout == 0)
			timeout = (long)conf->serve.timeout;
		if (margin < 0)
			margin = conf->serve.status_margin;
	}
	o.publish_dir = dir;
	o.listen = listen;
	o.nlisten = nlisten;
	o.max_clients = (unsigned)max_clients;
	o.timeout = (unsigned)timeout;
	o.status_margin = margin;
	o.access_log = fs_cli_verbose >= 2;
	o.log = log_line;

	/*
	 * The signals are taken by this thread alone, with sigwait: the
	 * server's threads, started below, inherit the mask.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((rc = fs_serve_start(&o, &s, &err)) != FS_OK) {
		rc = fs_cli_fail(&err);
		goto out;
	}
	for (size_t i = 0; i < fs_serve_nlisten(s); i++)
		fs_cli_info("listening on http://%s/", fs_serve_address(s, i));
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			fs_serve_reload(s);
			continue;
		}
		break;
	}
	fs_cli_info("stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
	fs_serve_stop(s);
	rc = 0;
out:
	fs_conf_free(conf);
	return rc;
}
