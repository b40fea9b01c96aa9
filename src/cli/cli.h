/*
 * The fedsign tool: its commands, and the one voice they print in.
 * Data goes to stdout, messages to stderr as `fedsign: ...`.
 */
#ifndef FS_CLI_CLI_H
#define FS_CLI_CLI_H

#include <stdio.h>

#include "util/err.h"

/* Exit codes, documented in fedsign(1) and `fedsign --help`. */
#define FS_EXIT_HELP \
"Exit status:\n" \
"  0  success\n" \
"  1  a verdict of \"no\": invalid signature, failed check, bad metadata\n" \
"  2  usage error\n" \
"  3  token, PIN, key or certificate problem\n" \
"  4  a file could not be read or written\n" \
"  5  internal error (out of memory, library failure)\n"

/* Print `fedsign: <msg>` for err and return its code. */
int fs_cli_fail(const fs_err *err);

/* Print `fedsign: <fmt...>` to stderr. */
void fs_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a usage error and the hint to run --help; returns FS_EUSAGE. */
int fs_cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set the --verbose level (for fs_cli_info). */
extern int fs_cli_verbose;

/* Print an informational line to stderr unless quiet. */
void fs_cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#include <libxml/tree.h>

/* Serialise doc (UTF-8) to fd; FS_EIO naming path on a write failure. */
int fs_cli_save_doc(xmlDocPtr doc, int fd, const char *path, fs_err *err);

/* Write doc to path atomically ("-": standard output). */
int fs_cli_write_doc(xmlDocPtr doc, const char *path, fs_err *err);

/* Prepare memory for parsing the input file at path (a size hint). */
void fs_cli_expect_input(const char *path);

int cmd_token(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
