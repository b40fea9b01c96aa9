/* Strict verification: placeholder until the verifier lands. */
#include "dsig/dsig.h"

int
fs_dsig_verify(xmlDocPtr doc, const struct fs_verify_opts *opts,
    xmlNodePtr *verified, fs_err *err)
{
	(void)doc;
	(void)opts;
	(void)verified;
	return fs_err_set(err, FS_EINTERNAL, "verification is not built yet");
}
