/*
 * The last step of signing: verify the signed tree while it is written,
 * and commit the file only when the verification passed.
 *
 * Sharing the tree between the two threads is safe because verification
 * only reads it, and the one field the serialiser writes, doc->encoding
 * while it saves, is read by neither the canonicaliser nor the profile
 * checks.  helgrind checks this in the tests.
 */
#include "fedsign/publish.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedsign/file.h"
#include "fedsign/md.h"

struct verify_job {
	xmlDocPtr doc;
	const struct fs_verify_opts *vo;
	fs_err err;
	int rc;
};

static void *
verify_job_run(void *arg)
{
	struct verify_job *j = arg;

	j->rc = fs_dsig_verify(j->doc, j->vo, NULL, &j->err);
	return NULL;
}

/* The CPUs this process may run on. */
static int
cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 2;
	return CPU_COUNT(&set);
}

static int
refused(const struct verify_job *j, fs_err *err)
{
	if (err != NULL)
		*err = j->err;
	if (j->rc == FS_ENOMEM)
		return j->rc;
	fs_err_append(err, "the signed document does not verify; nothing "
	    "was written");
	return j->rc;
}

int
fs_publish_doc(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, fs_err *err)
{
	return fs_publish_doc_mode(doc, vo, out, 0, err);
}

/*
 * doc to the file out while another thread verifies it, committed only
 * once it verified.  With keep, the bytes are made in memory first and,
 * on success, are *keep (the caller's) and *keeplen.
 */
static int
publish_file(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, int mode, char **keep, size_t *keeplen, fs_err *err)
{
	struct verify_job j = { doc, vo, { 0 }, FS_EINTERNAL };
	fs_output *o = NULL;
	char *buf = NULL;
	size_t n = 0;
	pthread_t t;
	int threaded, rc;

	if ((rc = fs_output_open(out, mode, &o, err)) != FS_OK)
		return rc;
	/* On one CPU the two would only take turns: verify, then write. */
	threaded = cpus() > 1 && pthread_create(&t, NULL, verify_job_run,
	    &j) == 0;
	if (!threaded)
		verify_job_run(&j);
	/* Written (to the temporary file) while the verification goes on. */
	if (keep == NULL)
		rc = fs_md_save(doc, fs_output_fd(o), out, err);
	else if ((rc = fs_md_save_mem(doc, &buf, &n, err)) == FS_OK)
		rc = fs_write_all(fs_output_fd(o), buf, n, out, err);
	if (threaded)
		pthread_join(t, NULL);
	if (j.rc != FS_OK) {
		fs_output_abort(o);
		free(buf);
		return refused(&j, err);
	}
	if (rc != FS_OK) {
		fs_output_abort(o);
		free(buf);
		return rc;
	}
	if ((rc = fs_output_commit(o, err)) != FS_OK) {
		free(buf);
		return rc;
	}
	if (keep != NULL) {
		*keep = buf;
		*keeplen = n;
	}
	return FS_OK;
}

int
fs_publish_doc_mode(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, int mode, fs_err *err)
{
	struct verify_job j = { doc, vo, { 0 }, FS_EINTERNAL };

	if (strcmp(out, "-") == 0) {
		verify_job_run(&j);
		if (j.rc != FS_OK)
			return refused(&j, err);
		return fs_md_save(doc, STDOUT_FILENO, "<stdout>", err);
	}
	return publish_file(doc, vo, out, mode, NULL, NULL, err);
}

int
fs_publish_doc_keep(xmlDocPtr doc, const struct fs_verify_opts *vo,
    const char *out, int mode, char **bytes, size_t *len, fs_err *err)
{
	*bytes = NULL;
	*len = 0;
	return publish_file(doc, vo, out, mode, bytes, len, err);
}
