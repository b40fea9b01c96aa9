#include "dsig/dsig.h"

int
fs_dsig_sign(xmlDocPtr doc, fs_signer *signer,
    const struct fs_sign_opts *opts, fs_err *err)
{
	(void)doc; (void)signer; (void)opts;
	return fs_err_set(err, FS_EINTERNAL, "not yet");
}
