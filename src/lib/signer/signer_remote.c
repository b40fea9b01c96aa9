/* Signer backend: a key held by fedsignd (placeholder). */
#include "signer/signer_int.h"

int
fs_signer_open_remote(const char *uri, fs_signer **out, fs_err *err)
{
	(void)uri;
	*out = NULL;
	return fs_err_set(err, FS_EUSAGE, "fedsignd: keys are not supported "
	    "yet");
}
