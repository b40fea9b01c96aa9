/*
 * libFuzzer target: the safe parser, then what sign does to a document
 * before the key is involved (root, the publisher's edits, the exclusive
 * c14n digest, saving).  Built by scripts/fuzz.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fedsign/dsig.h"
#include "fedsign/md.h"

static int devnull = -1;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fs_md_limits lim = { 1 << 20, 64, 64 };
	struct fs_md_final fin = { 0 };
	xmlNodePtr root;
	xmlDocPtr doc;
	fs_err err;

	if (devnull == -1) {
		if (fs_md_init(&err) != FS_OK)
			abort();
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	if (fs_md_parse_mem((const char *)data, size, "fuzz", &lim, &doc,
	    &err) != FS_OK)
		return 0;
	if ((root = fs_md_root(doc, "fuzz", &err)) != NULL) {
		fin.now = 1700000000;
		fin.valid_for = 86400;
		fin.publisher = "https://fuzz.example.org/";
		if (fs_md_finalise(root, &fin, &err) == FS_OK)
			(void)fs_md_save(doc, devnull, "/dev/null", &err);
	}
	xmlFreeDoc(doc);
	return 0;
}
