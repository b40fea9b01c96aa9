/* fedsign publish: the aggregator run, one YAML file for everything. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "fedsign/conf.h"
#include "fedsign/publish.h"
#include "fedsign/util.h"

static const char help[] =
"usage: fedsign publish -c CONFIG [--dry-run] [--force] [--report FILE]\n"
"\n"
"Collect the sources the configuration names (local member files,\n"
"upstream feeds fetched with a conditional GET and verified against a\n"
"pinned certificate), check every entity (built-in checks, the SAML\n"
"metadata schemas, XSLT rule files: an [ERROR] keeps the entity out),\n"
"select what each feed holds, sign every feed with one login, verify it,\n"
"and make the new set live by switching publish-dir/current to a new\n"
"release folder in one rename.\n"
"\n"
"Nothing published changes, and the exit status is 1, when a required\n"
"source is unusable, a feed would be empty, a feed would shrink by more\n"
"than safety: max-entity-drop, or a feed fails its own verification.\n"
"When nothing changed since the last publication and its validity is not\n"
"near its end (resign-window), nothing is signed and nothing changes.\n"
"\n"
"  -c, --config FILE       the configuration (fedsign(1), PUBLISH\n"
"                          CONFIGURATION)\n"
"  -n, --dry-run           everything but the signing and the switch\n"
"  --force                 publish even past the entity-drop valve (the\n"
"                          report says so); no other check is skipped\n"
"  --report FILE           write the run's JSON report to FILE (- for\n"
"                          standard output); the last one is always kept\n"
"                          as state-dir/last-report.json\n"
"  --ca-file PEM           CA certificates for https:// sources, instead\n"
"                          of the system's\n"
"  -q, --quiet             only errors on stderr\n"
"  -v, --verbose           notes too\n"
"  -h, --help              show this help\n"
"\n" FS_EXIT_HELP;

struct say {
	int shown[3];
	int limit;
};

static void
summary_line(void *ctx, const char *text)
{
	(void)ctx;
	fs_cli_info("%s", text);
}

void
fs_cli_finding(void *ctx, enum fs_level level, const char *rule,
    const char *entity_id, const char *file, unsigned long line,
    const char *message, FILE *f)
{
	static const char *const names[] = { "note", "warning", "error" };
	char b1[1200], b2[1200], b3[300], b4[2400];

	(void)ctx;
	if (file != NULL && line > 0)
		fprintf(f, "%s:%lu: ", fs_escape(file, b1, sizeof(b1)),
		    line);
	else if (file != NULL)
		fprintf(f, "%s: ", fs_escape(file, b1, sizeof(b1)));
	fprintf(f, "%s: ", names[level]);
	if (entity_id != NULL) {
		fs_escape(entity_id, b2, sizeof(b2));
		/* An entityID of a kilobyte would hide the message. */
		if (strlen(b2) > 200)
			memcpy(b2 + 190, "...", 4);
		fprintf(f, "%s: ", b2);
	}
	if (rule != NULL)
		fprintf(f, "[%s] ", fs_escape(rule, b3, sizeof(b3)));
	fprintf(f, "%s\n", fs_escape(message, b4, sizeof(b4)));
}

static void
finding(void *ctx, enum fs_level level, const char *rule,
    const char *entity_id, const char *file, unsigned long line,
    const char *message)
{
	struct say *s = ctx;

	if (level == FS_LEVEL_INFO && fs_cli_verbose < 2)
		return;
	if (level != FS_LEVEL_ERROR && fs_cli_verbose < 1)
		return;
	if (s->shown[level]++ >= s->limit)
		return;
	fputs("fedsign: ", stderr);
	fs_cli_finding(NULL, level, rule, entity_id, file, line, message,
	    stderr);
}

/* Long signing runs (a smartcard signs 2 a second): a line every 30 s. */
struct progress {
	pthread_mutex_t lock;
	struct timespec start, last;
};

static void
progress(void *ctx, const char *what, size_t done, size_t total)
{
	struct progress *p = ctx;
	struct timespec now;
	double since, all;

	if (fs_cli_verbose < 1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&p->lock);
	if (p->start.tv_sec == 0)
		p->start = p->last = now;
	since = (double)(now.tv_sec - p->last.tv_sec) +
	    (double)(now.tv_nsec - p->last.tv_nsec) / 1e9;
	all = (double)(now.tv_sec - p->start.tv_sec) +
	    (double)(now.tv_nsec - p->start.tv_nsec) / 1e9;
	if (since >= 30 || (done == total && all >= 30)) {
		p->last = now;
		fs_cli_info("signing %s: %zu of %zu (%.1f a second, about %.0f "
		    "s to go)", what, done, total, all > 0 ? done / all : 0,
		    done > 0 && all > 0 ? (total - done) / (done / all) : 0);
	}
	pthread_mutex_unlock(&p->lock);
}

int
cmd_publish(int argc, char **argv)
{
	enum { O_FORCE = 256, O_REPORT, O_CA };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, O_FORCE },
		{ "report", required_argument, NULL, O_REPORT },
		{ "ca-file", required_argument, NULL, O_CA },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fs_publish_opts po = { 0 };
	struct progress prog = { PTHREAD_MUTEX_INITIALIZER, { 0, 0 }, { 0, 0 } };
	struct say say = { { 0, 0, 0 }, 25 };
	const char *config = NULL, *report_path = NULL;
	struct fs_conf *conf = NULL;
	fs_report *rep = NULL;
	fs_err err, e2;
	int c, rc;

	fs_err_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:nqvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'n': po.dry_run = 1; break;
		case O_FORCE: po.force = 1; break;
		case O_REPORT: report_path = optarg; break;
		case O_CA: po.ca_file = optarg; break;
		case 'q': fs_cli_verbose = 0; break;
		case 'v': fs_cli_verbose = 2; break;
		case 'h': fputs(help, stdout); return 0;
		default: return fs_cli_usage("publish", "bad option");
		}
	}
	if (optind < argc)
		return fs_cli_usage("publish", "unexpected argument '%s'",
		    argv[optind]);
	if (config == NULL)
		return fs_cli_usage("publish", "give the configuration with -c "
		    "CONFIG");
	if ((rc = fs_conf_load(config, &conf, &err)) != FS_OK)
		return fs_cli_fail(&err);
	po.hooks = &fs_cli_hooks;
	po.progress = progress;
	po.progress_ctx = &prog;
	po.leave = &fs_cli_leave;
	/* Tests and rehearsals: the run's time (an xs:dateTime). */
	if (getenv("FEDSIGN_NOW") != NULL && fs_time_parse(getenv("FEDSIGN_NOW"),
	    &po.now) != 0) {
		fs_conf_free(conf);
		return fs_cli_usage("publish", "FEDSIGN_NOW '%s' is not an "
		    "xs:dateTime (2026-12-01T08:00:00Z)", getenv("FEDSIGN_NOW"));
	}
	rc = fs_publish_run(conf, &po, &rep, &err);
	if (rep != NULL) {
		fs_report_findings(rep, finding, &say);
		for (int l = 0; l < 3; l++)
			if (say.shown[l] > say.limit)
				fs_cli_warn("... and %d more %s; see the report",
				    say.shown[l] - say.limit, l == 2 ? "errors" :
				    l == 1 ? "warnings" : "notes");
		fs_report_summary(rep, summary_line, NULL);
		if (report_path != NULL &&
		    fs_report_write(rep, report_path, &e2) != FS_OK) {
			fs_cli_warn("%s", e2.msg);
			if (rc == FS_OK) {
				err = e2;
				rc = e2.code;
			}
		}
	}
	fs_report_free(rep);
	fs_conf_free(conf);
	return rc == FS_OK ? 0 : fs_cli_fail(&err);
}
