/*
 * Errors with their causes.
 *
 * Library functions never print and never exit: they return a status and
 * fill an fs_err.  Beside the message, the error keeps what a program
 * needs to act on it without parsing text: the kind of failure, the rule
 * of the verification profile that failed, the PKCS#11 return value and
 * call, and where in which XML input.  Programs map these to their exit
 * codes, HTTP statuses or report entries.
 */
#ifndef FEDSIGN_ERR_H
#define FEDSIGN_ERR_H

#include <stddef.h>

enum fs_status {
	FS_OK = 0,
	FS_ENOTVALID = 1,	/* a verdict of "no": bad signature, failed
				   check, input refused */
	FS_EUSAGE = 2,		/* bad argument, option value or config */
	FS_ETOKEN = 3,		/* token, PIN, key or certificate problem */
	FS_EIO = 4,		/* a file could not be read or written */
	FS_EINTERNAL = 5,	/* library failure */
	FS_ENOMEM = 6,		/* out of memory */
};

/* The rule a document broke; FS_RULE_NONE for every other failure. */
enum fs_rule {
	FS_RULE_NONE = 0,
	FS_RULE_EMPTY,		/* no document at all */
	FS_RULE_MALFORMED,	/* not (namespace-)well-formed XML */
	FS_RULE_DOCTYPE,	/* a DOCTYPE, refused */
	FS_RULE_LIMIT,		/* size, depth or attribute limit */
	FS_RULE_NOT_METADATA,	/* not md:EntitiesDescriptor/EntityDescriptor */
	FS_RULE_C14N,		/* cannot be canonicalised */
	FS_RULE_NOT_SIGNED,
	FS_RULE_STRUCTURE,	/* ds:Signature not as the profile allows */
	FS_RULE_UNSIGNED_CONTENT, /* content inside ds:Signature */
	FS_RULE_REFERENCE,
	FS_RULE_DUPLICATE_ID,
	FS_RULE_TRANSFORMS,
	FS_RULE_ALGORITHM,
	FS_RULE_KEY,		/* not the pinned key, or the wrong type */
	FS_RULE_KEY_WEAK,
	FS_RULE_VALIDITY,	/* validUntil missing or not a dateTime */
	FS_RULE_EXPIRED,
	FS_RULE_TOO_LONG,	/* validUntil beyond the maximum validity */
	FS_RULE_DIGEST,		/* the signed content was changed */
	FS_RULE_SIGNATURE,	/* the signature value does not verify */
};

typedef struct fs_err {
	int code;		/* enum fs_status */
	enum fs_rule rule;
	unsigned long rv;	/* CK_RV of the failed PKCS#11 call, else 0 */
	char call[32];		/* that call ("C_Sign"), else "" */
	char file[256];		/* the XML input concerned, else "" */
	unsigned long line;	/* its line and column, 0 when unknown */
	unsigned long col;
	char msg[2048];
} fs_err;

/* Reset err (may be NULL) to FS_OK with no cause. */
void fs_err_clear(fs_err *err);

/*
 * Record code and a printf-style message in err (may be NULL), keeping
 * nothing of an earlier error; returns code.
 */
int fs_err_set(fs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like fs_err_set with FS_ENOTVALID and the rule that failed. */
int fs_err_rule(fs_err *err, enum fs_rule rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append ": " and the formatted text to the message already in err. */
void fs_err_append(fs_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record where in which XML input the error is (line 0: unknown). */
void fs_err_where(fs_err *err, const char *file, unsigned long line,
    unsigned long col);

/*
 * Like fs_err_set, then append the oldest queued OpenSSL error (if any)
 * and clear this thread's OpenSSL error queue.
 */
int fs_err_openssl(fs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* FS_ENOMEM with a message naming what ran out of memory. */
int fs_err_nomem(fs_err *err, const char *what);

/* A rule's short name for reports ("digest", "expired"); "" for none. */
const char *fs_rule_name(enum fs_rule rule);

#endif
