/*
 * The fedsign tool: its commands, and the one voice they print in.
 * Data goes to stdout, messages to stderr as `fedsign: ...`, with every
 * control character escaped: messages quote input, and input must not
 * be able to write a fake line on the operator's terminal.
 */
#ifndef FS_CLI_CLI_H
#define FS_CLI_CLI_H

#include <stdio.h>

#include "fedsign/err.h"
#include "fedsign/md.h"
#include "fedsign/p11.h"
#include "fedsign/publish.h"
#include "fedsign/util.h"

/* Exit codes, documented in fedsign(1), the README and every --help. */
#define FS_EXIT_HELP \
"Exit status:\n" \
"  0  success\n" \
"  1  a verdict of \"no\": invalid signature, failed check, bad metadata\n" \
"  2  usage error\n" \
"  3  token, PIN, key or certificate problem\n" \
"  4  a file could not be read or written\n" \
"  5  internal error (out of memory, library failure)\n"

/* The exit code for a library status. */
int fs_cli_exit_code(int status);

/* Print `fedsign: <msg>` for err and return its exit code. */
int fs_cli_fail(const fs_err *err);

/* Print `fedsign: <fmt...>` to stderr. */
void fs_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a usage error and the hint to run --help; returns exit code 2. */
int fs_cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The --verbose level (for fs_cli_info); 0 with --quiet. */
extern int fs_cli_verbose;

/* Print an informational line to stderr unless quiet. */
void fs_cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * First thing in main: no core dumps and no ptrace by other processes
 * of this user (the process handles a PIN or a key), FEDSIGN_PIN taken
 * out of the environment, signals that would leave the terminal or a
 * file in a bad state handled.
 */
void fs_cli_secure_start(void);

/*
 * The hooks the library gets: PINs from FEDSIGN_PIN (read at start-up,
 * given out once) or a prompt on the terminal, and a watchdog that ends
 * the command (exit 3) when a PKCS#11 module does not return.
 */
extern const struct fs_p11_hooks fs_cli_hooks;

/* s percent-encoded for a pkcs11: URI attribute value (RFC 7512). */
const char *fs_cli_uri_escape(const char *s, char *buf, size_t len);

/* Parse the --max-size, --max-depth, --max-attributes options. */
int fs_cli_limit_opt(int opt, const char *arg, struct fs_md_limits *lim,
    const char *cmd);

enum {
	FS_OPT_MAX_SIZE = 1000,
	FS_OPT_MAX_DEPTH,
	FS_OPT_MAX_ATTRS,
};

#define FS_LIMIT_OPTIONS \
	{ "max-size", required_argument, NULL, FS_OPT_MAX_SIZE }, \
	{ "max-depth", required_argument, NULL, FS_OPT_MAX_DEPTH }, \
	{ "max-attributes", required_argument, NULL, FS_OPT_MAX_ATTRS }

#define FS_LIMIT_HELP \
"  --max-size SIZE         refuse input larger than SIZE (default 1G)\n" \
"  --max-depth N           refuse elements nested deeper than N (256)\n" \
"  --max-attributes N      refuse elements with more than N attributes\n" \
"                          and namespace declarations (256)\n"

/*
 * A document kept until the process ends: freeing a large tree just
 * before exit is wasted time (the memory stays reachable for leak
 * checkers through this pointer).
 */
extern xmlDocPtr fs_cli_keep;
extern void *fs_cli_leave;		/* fs_publish_opts.leave */

int cmd_token(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Print a finding of a report to f as FILE:LINE: LEVEL: ENTITYID: [RULE]
 * MESSAGE, escaped. */
void fs_cli_finding(void *ctx, enum fs_level level, const char *rule,
    const char *entity_id, const char *file, unsigned long line,
    const char *message, FILE *f);

#endif
