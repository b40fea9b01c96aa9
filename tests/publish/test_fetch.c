/*
 * fs_fetch against tests/tools/mdserver.py on 127.0.0.1: a 200, the two
 * conditional GETs, error statuses, a server that hangs or trickles, the
 * size limit, refused schemes and redirects, and URLs whose secrets must
 * stay out of the messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Internal to the publish layer: not on the tests' include path. */
#include "../../src/lib/publish/fetch.h"

#define MTIME	1700000000	/* the served file's mtime */

static char top[64];		/* the temporary folder */
static char srv[128];		/* what the server serves */
static char outdir[128];	/* where the fetches write */
static char outfile[160];	/* the fetches' output */
static char logfile[128];
static pid_t server = -1;
static int port;

static const char *
in(const char *d, const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", d, name);
	return buf[i];
}

static const char *
url(const char *path)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "http://127.0.0.1:%d%s", port, path);
	return buf[i];
}

static void
put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
put_str(const char *path, const char *text)
{
	put(path, text, strlen(text));
}

/* Serve name with len bytes of pattern and the fixed mtime. */
static void
serve(const char *name, size_t len)
{
	struct timeval tv[2] = { { MTIME, 0 }, { MTIME, 0 } };
	char *b;

	assert_non_null(b = malloc(len + 1));
	for (size_t i = 0; i < len; i++)
		b[i] = "<md>fedsign</md>\n"[i % 17];
	put(in(srv, name), b, len);
	free(b);
	assert_int_equal(utimes(in(srv, name), tv), 0);
}

/* The whole of path, NUL-terminated (caller frees); NULL if missing. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *b;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	assert_non_null(b = malloc((size_t)st.st_size + 1));
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	b[st.st_size] = '\0';
	close(fd);
	if (len != NULL)
		*len = (size_t)st.st_size;
	return b;
}

/* Entries in the output folder, temporary files included. */
static int
entries(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir(outdir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The last line of the server's log, without its newline. */
static const char *
last_logged(void)
{
	static char line[512];
	char buf[512];
	FILE *f;

	line[0] = '\0';
	assert_non_null(f = fopen(logfile, "r"));
	while (fgets(buf, sizeof(buf), f) != NULL)
		memcpy(line, buf, sizeof(line));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static struct fs_fetch_req
req(const char *path)
{
	struct fs_fetch_req rq = {
		.url = url(path),
		.timeout = 10,
		.max_size = 1 << 20,
		.out = outfile,
	};

	return rq;
}

static int
start_server(void **state)
{
	char script[512], portfile[128];
	const char *src = getenv("SRCDIR");
	double deadline;
	FILE *f;
	int status;

	(void)state;
	snprintf(top, sizeof(top), "/tmp/fedsign-fetch.XXXXXX");
	if (src == NULL || mkdtemp(top) == NULL)
		return -1;
	snprintf(srv, sizeof(srv), "%s/srv", top);
	snprintf(outdir, sizeof(outdir), "%s/out", top);
	snprintf(outfile, sizeof(outfile), "%s/md.xml", outdir);
	snprintf(logfile, sizeof(logfile), "%s/log", top);
	snprintf(portfile, sizeof(portfile), "%s/port", top);
	snprintf(script, sizeof(script), "%s/tests/tools/mdserver.py", src);
	if (mkdir(srv, 0755) == -1 || mkdir(outdir, 0755) == -1)
		return -1;
	if ((server = fork()) == -1)
		return -1;
	if (server == 0) {
		execlp("python3", "python3", script, srv, portfile, logfile,
		    (char *)NULL);
		_exit(127);
	}
	for (deadline = now() + 20; now() < deadline; usleep(20000)) {
		if (waitpid(server, &status, WNOHANG) == server) {
			server = -1;
			return -1;
		}
		if ((f = fopen(portfile, "r")) == NULL)
			continue;
		if (fscanf(f, "%d", &port) != 1)
			port = 0;
		fclose(f);
		if (port > 0)
			return 0;
	}
	return -1;
}

static int
stop_server(void **state)
{
	char cmd[128];
	int status = -1;

	(void)state;
	if (server > 0) {
		kill(server, SIGTERM);
		while (waitpid(server, &status, 0) == -1 && errno == EINTR)
			;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (top[0] != '\0' && system(cmd) != 0)
		return -1;
	/* A clean exit on SIGTERM is part of the server's contract. */
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Before each test: no control files, nothing in the output folder. */
static int
reset(void **state)
{
	static const char *ctl[] = { ".hang", ".status", ".location",
	    ".slow", ".chunked" };
	struct dirent *de;
	DIR *d;

	(void)state;
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++)
		(void)unlink(in(srv, ctl[i]));
	if ((d = opendir(outdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			(void)unlink(in(outdir, de->d_name));
	closedir(d);
	serve("md.xml", 1000);
	return 0;
}

static void
test_200(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	unsigned char md[EVP_MAX_MD_SIZE];
	char *want, *got, etag[80];
	unsigned mdlen;
	size_t wlen, glen;
	fs_err err;

	(void)state;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.bytes, 1000);
	assert_int_equal(res.last_modified, MTIME);
	assert_true(res.seconds >= 0 && res.seconds < 10);
	assert_non_null(want = slurp(in(srv, "md.xml"), &wlen));
	assert_non_null(got = slurp(rq.out, &glen));
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	assert_int_equal(EVP_Digest(want, wlen, md, &mdlen, EVP_sha256(),
	    NULL), 1);
	etag[0] = '"';
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
	strcat(etag, "\"");
	assert_string_equal(res.etag, etag);
	assert_int_equal(entries(), 1);
	assert_string_equal(last_logged(), "GET /md.xml 200");
	free(want);
	free(got);
}

static void
test_etag_304(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	char etag[256], *got;
	struct stat before, after;
	fs_err err;

	(void)state;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 200);
	memcpy(etag, res.etag, sizeof(etag));
	/* Our copy, to see that a 304 leaves it alone. */
	put_str(rq.out, "our copy\n");
	assert_int_equal(stat(rq.out, &before), 0);
	rq.etag = etag;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 304);
	assert_int_equal(res.bytes, 0);
	assert_string_equal(res.etag, etag);
	assert_string_equal(last_logged(), "GET /md.xml 304");
	assert_int_equal(stat(rq.out, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_non_null(got = slurp(rq.out, NULL));
	assert_string_equal(got, "our copy\n");
	free(got);
	assert_int_equal(entries(), 1);

	/* Another ETag: the document again. */
	rq.etag = "\"something else\"";
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.bytes, 1000);

	/* Changed without a new mtime: the ETag tells, the date does not. */
	serve("md.xml", 500);
	rq.etag = etag;
	rq.last_modified = MTIME;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.bytes, 500);
	assert_string_not_equal(res.etag, etag);
	rq.last_modified = 0;

	/* An ETag that would inject a header is refused. */
	rq.etag = "\"x\"\r\nX-Injected: 1";
	assert_int_not_equal(fs_fetch(&rq, &res, &err), FS_OK);
}

static void
test_ims_304(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	fs_err err;

	(void)state;
	put_str(rq.out, "our copy\n");
	rq.last_modified = MTIME;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 304);
	assert_int_equal(res.bytes, 0);
	assert_string_equal(last_logged(), "GET /md.xml 304");
	assert_int_equal(entries(), 1);

	/* Changed since our copy: the document. */
	rq.last_modified = MTIME - 3600;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.bytes, 1000);
	assert_int_equal(res.last_modified, MTIME);
}

static void
test_404(void **state)
{
	struct fs_fetch_req rq = req("/missing.xml");
	struct fs_fetch_res res;
	char *got;
	fs_err err;

	(void)state;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_int_equal(err.code, FS_EIO);
	assert_non_null(strstr(err.msg, "404"));
	assert_non_null(strstr(err.msg, rq.url));
	assert_false(exists(rq.out));
	assert_int_equal(entries(), 0);

	/* An existing copy stays as it was. */
	put_str(rq.out, "our copy\n");
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_non_null(got = slurp(rq.out, NULL));
	assert_string_equal(got, "our copy\n");
	free(got);
	assert_int_equal(entries(), 1);
}

static void
test_500(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	fs_err err;

	(void)state;
	put_str(in(srv, ".status"), "500\n");
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "500"));
	assert_int_equal(entries(), 0);
	/* A 204 is no document either. */
	put_str(in(srv, ".status"), "204\n");
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "204"));
	assert_int_equal(entries(), 0);
}

static void
test_hang(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	double start;
	fs_err err;

	(void)state;
	put_str(in(srv, ".hang"), "");
	rq.timeout = 2;
	start = now();
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_true(now() - start < 10);
	assert_true(now() - start >= 1.5);
	assert_non_null(strstr(err.msg, "did not answer within 2 seconds"));
	assert_false(exists(rq.out));
	assert_int_equal(entries(), 0);
}

static void
test_slow(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	double start;
	fs_err err;

	(void)state;
	put_str(in(srv, ".slow"), "");
	rq.timeout = 2;
	start = now();
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_true(now() - start < 10);
	assert_non_null(strstr(err.msg, "within 2 seconds"));
	assert_false(exists(rq.out));
	assert_int_equal(entries(), 0);
}

static void
test_too_big(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	fs_err err;

	(void)state;
	/* With a Content-Length. */
	rq.max_size = 999;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "limit of 999 bytes"));
	assert_false(exists(rq.out));
	assert_int_equal(entries(), 0);
	rq.max_size = 1000;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.bytes, 1000);
	assert_int_equal(unlink(rq.out), 0);

	/* Chunked: no length, counted as it comes. */
	put_str(in(srv, ".chunked"), "");
	rq.max_size = 100;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "limit of 100 bytes"));
	assert_false(exists(rq.out));
	assert_int_equal(entries(), 0);
	rq.max_size = 1000;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.bytes, 1000);
	assert_int_equal(entries(), 1);
}

static void
test_empty(void **state)
{
	struct fs_fetch_req rq = req("/empty.xml");
	struct fs_fetch_res res;
	size_t len = 1;
	char *got;
	fs_err err;

	(void)state;
	serve("empty.xml", 0);
	put_str(rq.out, "our copy\n");
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.bytes, 0);
	assert_non_null(got = slurp(rq.out, &len));
	assert_int_equal(len, 0);
	free(got);
}

static void
test_schemes(void **state)
{
	static const char *bad[] = {
		"file:///etc/passwd",
		"ftp://127.0.0.1/md.xml",
		"FILE:///etc/passwd",
		"127.0.0.1/md.xml",
		"gopher://127.0.0.1/",
		"",
	};
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	char upper[512];
	fs_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rq.url = bad[i];
		assert_int_not_equal(fs_fetch(&rq, &res, &err), FS_OK);
		assert_int_not_equal(err.code, FS_OK);
		assert_false(exists(rq.out));
	}
	/* The scheme is case-insensitive. */
	snprintf(upper, sizeof(upper), "HTTP://127.0.0.1:%d/md.xml", port);
	rq.url = upper;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_OK);
}

static void
test_redirects(void **state)
{
	struct fs_fetch_req rq = req("/md.xml");
	struct fs_fetch_res res;
	fs_err err;

	(void)state;
	/* To anything but http(s): refused. */
	put_str(in(srv, ".status"), "302");
	put_str(in(srv, ".location"), "file:///etc/passwd");
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_false(exists(rq.out));
	put_str(in(srv, ".location"), "ftp://127.0.0.1/md.xml");
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_false(exists(rq.out));

	/* Round and round: at most 5, and the secret stays out. */
	put_str(in(srv, ".location"), url("/md.xml?token=secret"));
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "redirected to"));
	assert_non_null(strstr(err.msg, "(5)"));
	assert_null(strstr(err.msg, "secret"));
	assert_false(exists(rq.out));
	assert_int_equal(entries(), 0);
}

static void
test_secrets_hidden(void **state)
{
	struct fs_fetch_req rq = req("/missing.xml");
	struct fs_fetch_res res;
	char u[512];
	fs_err err;

	(void)state;
	snprintf(u, sizeof(u), "http://user:pw-secret@127.0.0.1:%d/missing.xml"
	    "?token=secret#frag-secret", port);
	rq.url = u;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "404"));
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	assert_null(strstr(err.msg, "secret"));
	assert_null(strstr(err.msg, "token"));
	assert_null(strstr(err.msg, "user"));

	/* A timeout, a refused scheme, a refused connection: the same. */
	put_str(in(srv, ".hang"), "");
	rq.timeout = 1;
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_null(strstr(err.msg, "secret"));
	rq.url = "ftp://user:pw-secret@127.0.0.1/x?token=secret";
	assert_int_not_equal(fs_fetch(&rq, &res, &err), FS_OK);
	assert_non_null(strstr(err.msg, "ftp://127.0.0.1/x"));
	assert_null(strstr(err.msg, "secret"));
	rq.url = "http://127.0.0.1:1/x?token=secret";
	assert_int_equal(fs_fetch(&rq, &res, &err), FS_EIO);
	assert_null(strstr(err.msg, "secret"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_200, reset),
		cmocka_unit_test_setup(test_etag_304, reset),
		cmocka_unit_test_setup(test_ims_304, reset),
		cmocka_unit_test_setup(test_404, reset),
		cmocka_unit_test_setup(test_500, reset),
		cmocka_unit_test_setup(test_hang, reset),
		cmocka_unit_test_setup(test_slow, reset),
		cmocka_unit_test_setup(test_too_big, reset),
		cmocka_unit_test_setup(test_empty, reset),
		cmocka_unit_test_setup(test_schemes, reset),
		cmocka_unit_test_setup(test_redirects, reset),
		cmocka_unit_test_setup(test_secrets_hidden, reset),
	};
	fs_err err;

	if (getenv("SRCDIR") == NULL)
		return 77;
	/* The server is local: no proxy from the environment. */
	setenv("no_proxy", "*", 1);
	if (fs_fetch_init(&err) != FS_OK || fs_fetch_init(&err) != FS_OK)
		return 1;
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
