/* Durations and xs:dateTime instants, as metadata uses them. */
#ifndef FS_UTIL_DURATION_H
#define FS_UTIL_DURATION_H

#include <stdint.h>
#include <time.h>

#include "util/err.h"

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
 * Returns 0 on success, -1 when s is not a valid dateTime.
 */
int fs_time_parse(const char *s, time_t *t);

/* Format t as `YYYY-MM-DDThh:mm:ssZ` into buf (at least 21 bytes). */
void fs_time_format(time_t t, char *buf, size_t len);

#endif
