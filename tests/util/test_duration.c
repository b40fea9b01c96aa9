#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fedsign/util.h"

static void
test_units(void **state)
{
	int64_t s;
	fs_err err;

	(void)state;
	assert_int_equal(fs_duration_parse("14d", &s, &err), FS_OK);
	assert_int_equal(s, 14 * 86400);
	assert_int_equal(fs_duration_parse("6h", &s, &err), FS_OK);
	assert_int_equal(s, 6 * 3600);
	assert_int_equal(fs_duration_parse("30m", &s, &err), FS_OK);
	assert_int_equal(s, 1800);
	assert_int_equal(fs_duration_parse("2w", &s, &err), FS_OK);
	assert_int_equal(s, 14 * 86400);
}

static void
test_iso(void **state)
{
	int64_t s;
	fs_err err;

	(void)state;
	assert_int_equal(fs_duration_parse("P14D", &s, &err), FS_OK);
	assert_int_equal(s, 14 * 86400);
	assert_int_equal(fs_duration_parse("PT6H", &s, &err), FS_OK);
	assert_int_equal(s, 6 * 3600);
	assert_int_equal(fs_duration_parse("P1DT12H30M", &s, &err), FS_OK);
	assert_int_equal(s, 86400 + 12 * 3600 + 1800);
	assert_int_equal(fs_duration_parse("PT5M", &s, &err), FS_OK);
	assert_int_equal(s, 300);
}

static void
test_bad(void **state)
{
	int64_t s;
	fs_err err;
	const char *bad[] = { "", "P", "PT", "14", "d", "14x", "1d2h",
	    "P1M", "P1Y", "PT1D", "-5d", "P1H", "99999999999999d", NULL };

	(void)state;
	for (int i = 0; bad[i]; i++) {
		assert_int_equal(fs_duration_parse(bad[i], &s, &err), FS_EUSAGE);
		assert_non_null(strstr(err.msg, "duration"));
	}
}

static void
test_format(void **state)
{
	char buf[64];

	(void)state;
	fs_duration_format(14 * 86400, buf, sizeof(buf));
	assert_string_equal(buf, "P14D");
	fs_duration_format(6 * 3600, buf, sizeof(buf));
	assert_string_equal(buf, "PT6H");
	fs_duration_format(86400 + 90, buf, sizeof(buf));
	assert_string_equal(buf, "P1DT1M30S");
}

static void
test_time(void **state)
{
	time_t t;
	char buf[32];

	(void)state;
	assert_int_equal(fs_time_parse("2026-12-11T08:00:00Z", &t), 0);
	assert_int_equal(t, 1796976000);
	fs_time_format(t, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-11T08:00:00Z");
	assert_int_equal(fs_time_parse("2026-12-11T08:00:00.123Z", &t), 0);
	assert_int_equal(t, 1796976000);
	assert_int_equal(fs_time_parse("2026-12-11T10:00:00+02:00", &t), 0);
	assert_int_equal(t, 1796976000);
	assert_int_equal(fs_time_parse("2026-12-11T08:00:00", &t), 0);
	assert_int_equal(t, 1796976000);
	assert_int_equal(fs_time_parse("2026-13-11T08:00:00Z", &t), -1);
	assert_int_equal(fs_time_parse("2026-12-11 08:00:00Z", &t), -1);
	assert_int_equal(fs_time_parse("2026-12-11T08:00:00Zjunk", &t), -1);
	assert_int_equal(fs_time_parse("", &t), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
