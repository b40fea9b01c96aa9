/*
 * fs_input_open, fs_file_read and fs_output_*: the one way fedsign opens
 * what it reads and replaces what it writes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fedsign/file.h"

static char dir[64];

static const char *
path(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void
put(const char *name, const char *text, mode_t mode)
{
	int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path(name), mode), 0);
}

static char *
get(const char *name)
{
	char *buf;
	size_t len;
	fs_err err;

	assert_int_equal(fs_file_read(path(name), 1 << 20, &buf, &len, &err),
	    FS_OK);
	return buf;
}

/* How many entries the folder holds. */
static int
entries(void)
{
	char cmd[128];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	assert_non_null(p = popen(cmd, "r"));
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedsign-file.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_replace(void **state)
{
	fs_output *o;
	fs_err err;
	char *s;

	(void)state;
	put("a", "old", 0640);
	assert_int_equal(fs_output_open(path("a"), 0, &o, &err), FS_OK);
	assert_int_equal(fs_output_write(o, "new", 3, &err), FS_OK);
	/* Until the commit, the old file is what is there. */
	s = get("a");
	assert_string_equal(s, "old");
	free(s);
	assert_int_equal(entries(), 1);
	assert_int_equal(fs_output_commit(o, &err), FS_OK);
	s = get("a");
	assert_string_equal(s, "new");
	free(s);
	assert_int_equal(entries(), 1);
}

static void
test_abort_leaves_nothing(void **state)
{
	fs_output *o;
	fs_err err;
	char *s;

	(void)state;
	put("b", "old", 0644);
	assert_int_equal(fs_output_open(path("b"), 0, &o, &err), FS_OK);
	assert_int_equal(fs_output_write(o, "half", 4, &err), FS_OK);
	fs_output_abort(o);
	s = get("b");
	assert_string_equal(s, "old");
	free(s);
	assert_int_equal(entries(), 2);
	fs_output_abort(NULL);
}

static void
test_keeps_mode(void **state)
{
	struct stat st;
	fs_err err;

	(void)state;
	put("c", "old", 0604);
	assert_int_equal(fs_write_file_atomic(path("c"), "x", 1, 0644, &err),
	    FS_OK);
	assert_int_equal(stat(path("c"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	/* A new file gets the mode asked for. */
	assert_int_equal(fs_write_file_atomic(path("d"), "x", 1, 0640, &err),
	    FS_OK);
	assert_int_equal(stat(path("d"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

static void
test_refuses_special(void **state)
{
	struct stat st;
	fs_output *o;
	fs_err err;

	(void)state;
	assert_int_equal(mkfifo(path("fifo"), 0644), 0);
	assert_int_equal(symlink("a", path("link")), 0);
	assert_int_equal(mkdir(path("sub"), 0755), 0);
	assert_int_equal(fs_output_open(path("fifo"), 0, &o, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "a FIFO"));
	assert_int_equal(fs_output_open(path("link"), 0, &o, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "a symbolic link"));
	assert_int_equal(fs_output_open(path("sub"), 0, &o, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "a directory"));
	if (geteuid() == 0) {
		assert_int_equal(mknod(path("null"), S_IFCHR | 0666,
		    makedev(1, 3)), 0);
		assert_int_equal(fs_output_open(path("null"), 0, &o, &err),
		    FS_EIO);
		assert_non_null(strstr(err.msg, "a character device"));
		assert_int_equal(lstat(path("null"), &st), 0);
		assert_true(S_ISCHR(st.st_mode));
	}
	assert_int_equal(lstat(path("link"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void
test_inputs(void **state)
{
	char *buf;
	size_t len;
	fs_err err;
	int fd;

	(void)state;
	assert_int_equal(fs_input_open(dir, &fd, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "a directory"));
	assert_int_equal(fs_input_open(path("nonexistent"), &fd, &err), FS_EIO);
	put("big", "0123456789", 0644);
	assert_int_equal(fs_file_read(path("big"), 5, &buf, &len, &err), FS_EIO);
	assert_non_null(strstr(err.msg, "larger than 5 bytes"));
	assert_int_equal(fs_file_read(path("big"), 10, &buf, &len, &err), FS_OK);
	assert_int_equal(len, 10);
	free(buf);
}

static void
test_stale_removed(void **state)
{
	fs_err err;
	int held;

	(void)state;
	put(".fedsign-aaaaaaaa", "stale", 0600);
	put(".fedsign-bbbbbbbb", "in use", 0600);
	held = open(path(".fedsign-bbbbbbbb"), O_RDONLY);
	assert_int_equal(flock(held, LOCK_EX), 0);
	assert_int_equal(fs_write_file_atomic(path("e"), "x", 1, 0, &err),
	    FS_OK);
	assert_int_equal(access(path(".fedsign-aaaaaaaa"), F_OK), -1);
	assert_int_equal(access(path(".fedsign-bbbbbbbb"), F_OK), 0);
	close(held);
}

static void
test_long_name(void **state)
{
	char name[256];
	fs_err err;

	(void)state;
	memset(name, 'n', 255);
	name[255] = '\0';
	assert_int_equal(fs_write_file_atomic(path(name), "x", 1, 0, &err),
	    FS_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_abort_leaves_nothing),
		cmocka_unit_test(test_keeps_mode),
		cmocka_unit_test(test_refuses_special),
		cmocka_unit_test(test_inputs),
		cmocka_unit_test(test_stale_removed),
		cmocka_unit_test(test_long_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
