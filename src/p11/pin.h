/*
 * PINs: from a file only its owner can read, the FEDSIGN_PIN environment
 * variable, or a prompt without echo on the terminal.  Never from the
 * command line.  Every PIN returned is the caller's, to be released with
 * fs_secret_free(), which wipes it.
 */
#ifndef FS_P11_PIN_H
#define FS_P11_PIN_H

#include "util/err.h"

/*
 * Read a PIN from source: `file:PATH` or a plain path (the first line of a
 * regular file that neither group nor others can read), or `prompt` (the
 * terminal, no echo; confirm asks twice).  what names the PIN in the
 * prompt and in errors ("user PIN for token 'x'").
 */
int fs_pin_from_source(const char *source, const char *what, int confirm,
    char **pin, fs_err *err);

/*
 * The user PIN for a login: pin_source when not NULL; else FEDSIGN_PIN;
 * else a prompt when there is a terminal; else an error naming the three
 * ways to give one.
 */
int fs_pin_get(const char *pin_source, const char *what, char **pin,
    fs_err *err);

#endif
