/*
 * Publication: signed documents written out only once they verify.
 */
#ifndef FEDSIGN_PUBLISH_H
#define FEDSIGN_PUBLISH_H

#include <libxml/tree.h>

#include "fedsign/dsig.h"
#include "fedsign/err.h"

/*
 * Verify doc by the strict profile (vo) and write it to out ("-":
 * standard output).  A file is written to a temporary file beside out
 * while another thread verifies, and replaces out only when the
 * verification passed; standard output gets nothing before it passed.
 * On any failure out is as it was, and the verifier's verdict is in err
 * with "nothing was written".
 */
int fs_publish_doc(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, fs_err *err);

#endif
