/* fedsign check: the publisher's checks on members' metadata files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fedsign/conf.h"
#include "fedsign/publish.h"

static const char help[] =
"usage: fedsign check FILE... [--rules GLOB]... [--no-schema] [--json]\n"
"       fedsign check -c CONFIG FILE...\n"
"\n"
"Run the checks of fedsign publish on SAML metadata files, as a\n"
"federation's validator for its members: the built-in checks (entityID\n"
"present, an absolute URI without white space, unique; no DOCTYPE;\n"
"signatures fedsign did not verify are removed and noted), the SAML\n"
"metadata schemas with the extensions federations use, and XSLT rule\n"
"files (xsl:message starting [ERROR], [WARN] or [INFO]).  Each finding is\n"
"printed as FILE:LINE: LEVEL: ENTITYID: [RULE] MESSAGE.\n"
"\n"
"  -c, --config FILE       take checks: (schema, rules) and limits: from a\n"
"                          publish configuration\n"
"  -r, --rules GLOB        XSLT rule files to run (repeatable)\n"
"  --no-schema             skip the schema validation\n"
"  --registration-authority URL\n"
"                          add RegistrationInfo where it is missing first,\n"
"                          as publish does for a source that names one\n"
"  --json                  print the JSON report instead\n"
FS_LIMIT_HELP
"  -q, --quiet             print errors only\n"
"  -h, --help              show this help\n"
"\n"
"A file with no error (warnings and notes allowed) is a success.\n"
"\n" FS_EXIT_HELP;

static void
print(void *ctx, enum fs_level level, const char *rule,
    const char *entity_id, const char *file, unsigned long line,
    const char *message)
{
	(void)ctx;
	if (level != FS_LEVEL_ERROR && fs_cli_verbose < 1)
		return;
	fs_cli_finding(NULL, level, rule, entity_id, file, line, message,
	    stdout);
}

static void
summary_line(void *ctx, const char *text)
{
	(void)ctx;
	/* Only the totals: per-file lines would repeat the findings. */
	if (strstr(text, " errors, ") != NULL)
		fs_cli_info("%s", text);
}

int
cmd_check(int argc, char **argv)
{
	enum { O_NOSCHEMA = 256, O_JSON, O_RA };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rules", required_argument, NULL, 'r' },
		{ "no-schema", no_argument, NULL, O_NOSCHEMA },
		{ "json", no_argument, NULL, O_JSON },
		{ "registration-authority", required_argument, NULL, O_RA },
		FS_LIMIT_OPTIONS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fs_md_limits lim = { 0 };
	struct fs_check_opts co = { 1, NULL, NULL, NULL };
	struct fs_conf_list rules = { NULL, 0 };
	struct fs_conf *conf = NULL;
	const char *config = NULL;
	fs_report *rep = NULL;
	int c, rc, json = 0, noschema = 0, limits = 0;
	fs_err err;

	fs_err_clear(&err);
	if ((rules.v = calloc((size_t)argc + 1, sizeof(char *))) == NULL)
		return fs_cli_fail(&(fs_err){ .code = FS_ENOMEM,
		    .msg = "out of memory" });
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:r:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'r': rules.v[rules.n++] = optarg; break;
		case O_NOSCHEMA: noschema = 1; break;
		case O_JSON: json = 1; break;
		case O_RA: co.registration_authority = optarg; break;
		case FS_OPT_MAX_SIZE:
		case FS_OPT_MAX_DEPTH:
		case FS_OPT_MAX_ATTRS:
			if ((rc = fs_cli_limit_opt(c, optarg, &lim, "check"))) {
				free(rules.v);
				return rc;
			}
			limits = 1;
			break;
		case 'q': fs_cli_verbose = 0; break;
		case 'h': fputs(help, stdout); free(rules.v); return 0;
		default: free(rules.v); return fs_cli_usage("check", "bad option");
		}
	}
	if (optind >= argc) {
		free(rules.v);
		return fs_cli_usage("check", "give the metadata files to check");
	}
	if (config != NULL) {
		if (rules.n > 0) {
			free(rules.v);
			return fs_cli_usage("check", "give either -c CONFIG or "
			    "--rules, not both");
		}
		if ((rc = fs_conf_load(config, &conf, &err)) != FS_OK) {
			free(rules.v);
			return fs_cli_fail(&err);
		}
		co.schema = conf->checks.schema;
		co.rules = &conf->checks.rules;
		if (!limits)
			lim = conf->limits;
		limits = 1;
	} else {
		co.rules = &rules;
	}
	if (noschema)
		co.schema = 0;
	if (limits)
		co.limits = &lim;
	rc = fs_check_files((const char *const *)argv + optind,
	    (size_t)(argc - optind), &co, &rep, &err);
	if (rep != NULL && (rc == FS_OK || rc == FS_ENOTVALID)) {
		if (json) {
			fs_err e2;

			if (fs_report_write(rep, "-", &e2) != FS_OK) {
				err = e2;
				rc = e2.code;
			}
		} else {
			fs_report_findings(rep, print, NULL);
			fs_report_summary(rep, summary_line, NULL);
		}
	}
	fs_report_free(rep);
	fs_conf_free(conf);
	free(rules.v);
	if (rc == FS_ENOTVALID)
		return 1;
	return rc == FS_OK ? 0 : fs_cli_fail(&err);
}
