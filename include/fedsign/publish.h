/*
 * Publication: signed documents written out only once they verify.
 */
#ifndef FEDSIGN_PUBLISH_H
#define FEDSIGN_PUBLISH_H

#include <libxml/tree.h>

#include "fedsign/dsig.h"
#include "fedsign/err.h"

/*
 * Verify doc by the strict profile (vo) and write it to out ("-":
 * standard output).  A file is written to a temporary file beside out
 * while another thread verifies, and replaces out only when the
 * verification passed; standard output gets nothing before it passed.
 * On any failure out is as it was, and the verifier's verdict is in err
 * with "nothing was written".
 */
int fs_publish_doc(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, fs_err *err);

/* The same, with the mode of a new file (0: 0666 less the umask). */
int fs_publish_doc_mode(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, int mode, fs_err *err);

/*
 * fs_publish_doc_mode to a file, keeping what was written: the bytes are
 * made in memory while another thread verifies, then written; on success
 * *bytes (the caller's to free) and *len are them.
 */
int fs_publish_doc_keep(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, int mode, char **bytes, size_t *len, fs_err *err);

/* --- the aggregator: fedsign publish, fedsign check ---------------------- */

#include <stddef.h>
#include <time.h>

#include "fedsign/conf.h"
#include "fedsign/p11.h"

enum fs_level { FS_LEVEL_INFO = 0, FS_LEVEL_WARN, FS_LEVEL_ERROR };

/*
 * What a run did and found, kept as JSON: per source (fetched, 304,
 * last good, rejected and why), per feed (entities, added, removed,
 * signatures), findings, timings, the outcome.
 */
typedef struct fs_report fs_report;

struct fs_publish_opts {
	int dry_run;			/* everything but signing and the switch */
	int force;			/* override the entity-drop valve */
	time_t now;			/* 0: time(NULL) */
	const struct fs_p11_hooks *hooks;	/* PINs, the call watchdog */
	const char *ca_file;		/* CA certificates for https:// sources
					   instead of the system's */
	/* Progress of long work ("entities": done of total signed), from
	 * any thread; may be NULL. */
	void (*progress)(void *ctx, const char *what, size_t done,
	    size_t total);
	void *progress_ctx;
	/*
	 * When not NULL, the caller exits right after the run: the parsed
	 * sources, entities and documents are not freed but left in *leave
	 * (the signer is closed all the same), for fs_publish_leave_free
	 * or the process's end.  Freeing an eduGAIN-sized run's trees takes
	 * about a twentieth of the run (0.4 s of a first run with MDQ).
	 */
	void **leave;
};

/* Free what fs_publish_run left in *leave; NULL is a no-op. */
void fs_publish_leave_free(void *leave);

/*
 * One run of the aggregator: sources, checks, selection, feeds signed and
 * verified, written into a new release folder, and publish-dir/current
 * switched to it in one rename.  When nothing changed since the last
 * publication and its validity is not near its end, nothing is signed and
 * nothing changes.  FS_OK: published (or unchanged, or a dry run).
 * FS_ENOTVALID: refused (a required source unusable, a feed empty or
 * shrunk beyond the safety valve, a feed that does not verify): nothing
 * published changed.  Other codes as usual.  *report (when not NULL) is
 * the caller's, whatever the outcome; the last one is also kept in
 * state-dir.
 */
int fs_publish_run(const struct fs_conf *conf, const struct fs_publish_opts *o,
    fs_report **report, fs_err *err);

struct fs_check_opts {
	int schema;			/* validate against the SAML schemas */
	const struct fs_conf_list *rules;	/* XSLT rule files (globs) */
	const char *registration_authority;	/* add RegistrationInfo first */
	const struct fs_md_limits *limits;
};

/*
 * The checks of fs_publish_run on metadata files (a member's validator):
 * built-in checks, schema, rules.  FS_OK when there is no [ERROR];
 * FS_ENOTVALID when there is; other codes when it could not run.
 */
int fs_check_files(const char *const *paths, size_t n,
    const struct fs_check_opts *o, fs_report **report, fs_err *err);

/* Write the report as JSON to path ("-": standard output), atomically. */
int fs_report_write(const fs_report *r, const char *path, fs_err *err);

/* Call line for each line of a human summary of the report. */
void fs_report_summary(const fs_report *r,
    void (*line)(void *ctx, const char *text), void *ctx);

/* Call each for every finding, in order. */
void fs_report_findings(const fs_report *r,
    void (*each)(void *ctx, enum fs_level level, const char *rule,
    const char *entity_id, const char *file, unsigned long line,
    const char *message), void *ctx);

/* NULL is a no-op. */
void fs_report_free(fs_report *r);

#endif
