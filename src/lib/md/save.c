/* Serialising documents. */
#include "fedsign/md.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/xmlsave.h>

#include "fedsign/file.h"

/* libxml2 writes in small pieces: gather them into large writes. */
#define OUTBUF (1 << 20)

struct out {
	int fd;
	const char *name;
	fs_err *err;
	int failed;
	char *buf;
	size_t used;
};

static int
flush(struct out *o)
{
	if (o->used == 0 || o->failed)
		return o->failed ? -1 : 0;
	if (fs_write_all(o->fd, o->buf, o->used, o->name, o->err) != FS_OK) {
		o->failed = 1;
		return -1;
	}
	o->used = 0;
	return 0;
}

static int
out_write(void *ctx, const char *b, int len)
{
	struct out *o = ctx;
	size_t n = (size_t)len;

	if (o->failed)
		return -1;
	if (o->used + n > OUTBUF && flush(o) == -1)
		return -1;
	if (n >= OUTBUF) {
		if (fs_write_all(o->fd, b, n, o->name, o->err) != FS_OK) {
			o->failed = 1;
			return -1;
		}
		return len;
	}
	memcpy(o->buf + o->used, b, n);
	o->used += n;
	return len;
}

static int
out_close(void *ctx)
{
	return flush(ctx);
}

int
fs_md_save(xmlDocPtr doc, int fd, const char *name, fs_err *err)
{
	struct out o = { fd, name, err, 0, NULL, 0 };
	unsigned long failures = fs_md_alloc_failures();
	xmlSaveCtxtPtr s;
	long r;
	int c;

	if ((o.buf = malloc(OUTBUF)) == NULL)
		return fs_err_nomem(err, "writing");
	s = xmlSaveToIO(out_write, out_close, &o, "UTF-8", 0);
	if (s == NULL) {
		free(o.buf);
		return fs_err_nomem(err, "writing");
	}
	r = xmlSaveDoc(s, doc);
	c = xmlSaveClose(s);
	free(o.buf);
	if (o.failed)
		return FS_EIO;
	if (fs_md_alloc_failures() != failures)
		return fs_err_nomem(err, "while writing");
	if (r < 0 || c < 0)
		return fs_err_set(err, FS_EIO, "cannot write '%s'", name);
	return FS_OK;
}

struct mem {
	char *buf;
	size_t used, cap;
	int failed;
};

static int
mem_write(void *ctx, const char *b, int len)
{
	struct mem *m = ctx;
	size_t n = (size_t)len;

	if (m->failed)
		return -1;
	if (m->used + n + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 8192;
		char *p;

		while (cap < m->used + n + 1)
			cap *= 2;
		if ((p = realloc(m->buf, cap)) == NULL) {
			m->failed = 1;
			return -1;
		}
		m->buf = p;
		m->cap = cap;
	}
	memcpy(m->buf + m->used, b, n);
	m->used += n;
	m->buf[m->used] = '\0';
	return len;
}

static int
mem_close(void *ctx)
{
	(void)ctx;
	return 0;
}

int
fs_md_save_mem(xmlDocPtr doc, char **buf, size_t *len, fs_err *err)
{
	struct mem m = { NULL, 0, 0, 0 };
	unsigned long failures = fs_md_alloc_failures();
	xmlSaveCtxtPtr s;
	long r;
	int c;

	*buf = NULL;
	*len = 0;
	if ((s = xmlSaveToIO(mem_write, mem_close, &m, "UTF-8", 0)) == NULL)
		return fs_err_nomem(err, "serialising");
	r = xmlSaveDoc(s, doc);
	c = xmlSaveClose(s);
	if (m.failed || fs_md_alloc_failures() != failures || r < 0 || c < 0 ||
	    m.buf == NULL) {
		free(m.buf);
		return fs_err_nomem(err, "while serialising");
	}
	*buf = m.buf;
	*len = m.used;
	return FS_OK;
}
