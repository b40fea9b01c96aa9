/* Process-wide set-up of libxml2 and xmlsec1. */
#include "dsig/dsig.h"

#include <libxml/parser.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/errors.h>
#include <xmlsec/crypto.h>

#include "dsig/dsig_int.h"

char fs_dsig_last_xmlsec_error[512];

/* The text xmlsec1 has for a reason code (its table is by position). */
static const char *
reason_text(int reason)
{
	for (xmlSecSize i = 0; xmlSecErrorsGetCode(i) != 0; i++)
		if (xmlSecErrorsGetCode(i) == reason)
			return xmlSecErrorsGetMsg(i);
	return "error";
}

/*
 * xmlsec1 prints errors itself by default.  Keep the first one since the
 * buffer was last cleared instead: the innermost, most specific error.
 */
static void
keep_error(const char *file, int line, const char *func, const char *obj,
    const char *subj, int reason, const char *msg)
{
	(void)file;
	(void)line;
	(void)func;
	if (fs_dsig_last_xmlsec_error[0] != '\0')
		return;
	snprintf(fs_dsig_last_xmlsec_error, sizeof(fs_dsig_last_xmlsec_error),
	    "%s%s%s%s%s%s%s", obj ? obj : "", obj && subj ? "/" : "",
	    subj ? subj : "", obj || subj ? ": " : "", reason_text(reason),
	    msg ? ": " : "", msg ? msg : "");
}

static void
quiet_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int initialised;

int
fs_dsig_init(fs_err *err)
{
	if (initialised)
		return FS_OK;
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, quiet_generic);
	/* libxml2's handlers are per thread: also for threads made later. */
	xmlThrDefSetGenericErrorFunc(NULL, quiet_generic);
	if (xmlSecInit() < 0)
		return fs_err_set(err, FS_EINTERNAL, "xmlsec1 initialisation "
		    "failed");
	if (xmlSecCheckVersion() != 1) {
		xmlSecShutdown();
		return fs_err_set(err, FS_EINTERNAL, "the xmlsec1 library is "
		    "not the version fedsign was built with");
	}
	if (xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0) {
		xmlSecShutdown();
		return fs_err_set(err, FS_EINTERNAL, "xmlsec1 OpenSSL back end "
		    "initialisation failed");
	}
	/* After the crypto init, which installs a callback of its own. */
	xmlSecErrorsSetCallback(keep_error);
	initialised = 1;
	return FS_OK;
}

void
fs_dsig_shutdown(void)
{
	if (!initialised)
		return;
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	xmlCleanupParser();
	initialised = 0;
}
