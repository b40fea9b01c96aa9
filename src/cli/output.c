/* Writing documents: atomically to a file, or to standard output. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <libxml/xmlsave.h>

#include "cli/cli.h"
#include "util/fileio.h"

struct out_ctx {
	int fd;
	const char *path;
	fs_err *err;
	int failed;
};

static int
out_write(void *vctx, const char *buf, int len)
{
	struct out_ctx *o = vctx;

	if (o->failed)
		return -1;
	if (fs_write_all(o->fd, buf, (size_t)len, o->path, o->err) != FS_OK) {
		o->failed = 1;
		return -1;
	}
	return len;
}

static int
out_close(void *vctx)
{
	(void)vctx;
	return 0;
}

/* Serialise doc to fd; FS_EIO (err filled) on any write failure. */
int
fs_cli_save_doc(xmlDocPtr doc, int fd, const char *path, fs_err *err)
{
	struct out_ctx o = { fd, path, err, 0 };
	xmlSaveCtxtPtr s;
	long r;

	s = xmlSaveToIO(out_write, out_close, &o, "UTF-8", 0);
	if (s == NULL)
		return fs_err_set(err, FS_EINTERNAL, "out of memory");
	r = xmlSaveDoc(s, doc);
	if (xmlSaveClose(s) < 0 || r < 0 || o.failed) {
		if (!o.failed)
			fs_err_set(err, FS_EIO, "cannot write '%s'", path);
		return FS_EIO;
	}
	return FS_OK;
}

int
fs_cli_write_doc(xmlDocPtr doc, const char *path, fs_err *err)
{
	fs_atomic *a;
	int rc;

	if (strcmp(path, "-") == 0) {
		if ((rc = fs_cli_save_doc(doc, STDOUT_FILENO, "<stdout>", err)))
			return rc;
		if (fflush(stdout) != 0)
			return fs_err_set(err, FS_EIO, "cannot write to standard "
			    "output: %s", strerror(errno));
		return FS_OK;
	}
	if ((rc = fs_atomic_open(path, 0, &a, err)) != FS_OK)
		return rc;
	if ((rc = fs_cli_save_doc(doc, fs_atomic_fd(a), path, err)) != FS_OK) {
		fs_atomic_abort(a);
		return rc;
	}
	return fs_atomic_commit(a, err);
}

