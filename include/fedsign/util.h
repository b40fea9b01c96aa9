/* Durations, xs:dateTime instants, secrets in memory, hex. */
#ifndef FEDSIGN_UTIL_H
#define FEDSIGN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fedsign/err.h"

/*
 * Parse a duration into seconds: a number with one unit (`14d`, `6h`,
 * `30m`, `90s`, `2w`) or an ISO 8601 duration (`P14D`, `PT6H`, `P1DT12H`,
 * `P2W`).  Years and months are refused: their length is not fixed.
 * Returns FS_OK or FS_EUSAGE.
 */
int fs_duration_parse(const char *s, int64_t *secs, fs_err *err);

/* Format secs as an ISO 8601 duration (`P14D`, `PT6H30M`) into buf. */
void fs_duration_format(int64_t secs, char *buf, size_t len);

/*
 * Parse an xs:dateTime (`2026-12-11T08:00:00Z`, fractional seconds and a
 * numeric offset allowed; no zone means UTC, as Shibboleth reads it).
 * Impossible dates (30 February, 29 February outside leap years, second
 * 60) are refused.  Returns 0 on success, -1 when s is not a valid
 * dateTime.
 */
int fs_time_parse(const char *s, time_t *t);

/* Format t as `YYYY-MM-DDThh:mm:ssZ` into buf (at least 21 bytes). */
void fs_time_format(time_t t, char *buf, size_t len);

/*
 * Parse a size: a number with an optional unit K, M, G (powers of 1024,
 * `1G`, `512M`).  Returns FS_OK or FS_EUSAGE.
 */
int fs_size_parse(const char *s, uint64_t *bytes, fs_err *err);

/* Wipe len bytes at p (not optimised away). */
void fs_wipe(void *p, size_t len);

/* Wipe the NUL-terminated string s and free it; NULL is a no-op. */
void fs_secret_free(char *s);

/* The first line of fd (to a CR or LF, at most size - 1 bytes of the
 * file read) into buf, NUL-terminated: 0, or -1 and errno when a read
 * fails.  Wiping buf is the caller's. */
int fs_secret_read_line(int fd, char *buf, size_t size);

/*
 * s into buf with control characters, C1 controls, bidirectional
 * overrides and marks, and bytes that are not UTF-8 written as \xNN or
 * \u{NNNN}; cut short with "..." when buf is too small.  For every
 * message that quotes input.
 */
const char *fs_escape(const char *s, char *buf, size_t len);

/* Lowercase hex of n bytes into out (2n + 1 bytes, truncated to outlen). */
void fs_hex(const uint8_t *b, size_t n, char *out, size_t outlen);

/* The value of hex digit c (either case), or -1. */
int fs_hexval(int c);

/* n bytes from the 2n hex digits (either case) at s: 0, or -1 when one
 * is not a hex digit. */
int fs_unhex(const char *s, size_t n, uint8_t *out);

#endif
