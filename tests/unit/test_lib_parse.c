/* test_lib_parse.c - unit tests of lib/parse.c: sizes, durations, time text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/lib.h"

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 12345;

	if (parse_size(s, &v) != 0)
		fail_msg("parse_size(\"%s\") failed", s);
	if (v != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", s, (unsigned long long)v,
			 (unsigned long long)want);
}

static void size_bad(const char *s, int want)
{
	uint64_t v = 12345;
	int r = parse_size(s, &v);

	if (r != want)
		fail_msg("parse_size(\"%s\") = %d, want %d", s ? s : "(null)", r, want);
	assert_int_equal(v, 12345); /* untouched on failure */
}

static void test_parse_size(void **state)
{
	(void)state;
	size_ok("0", 0);
	size_ok("1024", 1024);
	size_ok("512k", 512000);
	size_ok("1K", 1000);
	size_ok("1M", 1000000);
	size_ok("1G", 1000000000);
	size_ok("2T", 2000000000000ULL);
	size_ok("64Ki", 64 << 10);
	size_ok("256Mi", 256ULL << 20);
	size_ok("1Gi", 1ULL << 30);
	size_ok("3Ti", 3ULL << 40);
	size_ok("16777215Ti", 16777215ULL << 40);
	size_ok("18446744073709551", 18446744073709551ULL);

	size_bad(NULL, -EINVAL);
	size_bad("", -EINVAL);
	size_bad("Mi", -EINVAL);
	size_bad("12Q", -EINVAL);
	size_bad("1.5Gi", -EINVAL);
	size_bad("-1", -EINVAL);
	size_bad("+1", -EINVAL);
	size_bad(" 1", -EINVAL);
	size_bad("1 Mi", -EINVAL);
	size_bad("1Mi ", -EINVAL);
	size_bad("1mi", -EINVAL);
	size_bad("1MB", -EINVAL);
	size_bad("1KiB", -EINVAL);
	/* overflow: in the digits and in the multiplication */
	size_bad("99999999999999999999", -ERANGE);
	size_bad("18446744073709551616", -ERANGE);
	size_bad("16777216Ti", -ERANGE);
	size_bad("18446744073709552T", -ERANGE);
}

static void dur_ok(const char *s, uint64_t want)
{
	uint64_t v = 12345;

	if (parse_duration_ms(s, &v) != 0)
		fail_msg("parse_duration_ms(\"%s\") failed", s);
	if (v != want)
		fail_msg("parse_duration_ms(\"%s\") = %llu, want %llu", s, (unsigned long long)v,
			 (unsigned long long)want);
}

static void dur_bad(const char *s, int want)
{
	uint64_t v = 12345;
	int r = parse_duration_ms(s, &v);

	if (r != want)
		fail_msg("parse_duration_ms(\"%s\") = %d, want %d", s ? s : "(null)", r, want);
	assert_int_equal(v, 12345);
}

static void test_parse_duration(void **state)
{
	(void)state;
	dur_ok("0s", 0);
	dur_ok("10s", 10000);
	dur_ok("500ms", 500);
	dur_ok("2m", 120000);
	dur_ok("1h", 3600000);
	dur_ok("1h30m", 5400000);
	dur_ok("1m30s", 90000);
	dur_ok("1s500ms", 1500);
	dur_ok("5124095576030h", 5124095576030ULL * 3600000);

	dur_bad(NULL, -EINVAL);
	dur_bad("", -EINVAL);
	dur_bad("10", -EINVAL);
	dur_bad("s", -EINVAL);
	dur_bad("10d", -EINVAL);
	dur_bad("1.5s", -EINVAL);
	dur_bad("-1s", -EINVAL);
	dur_bad(" 1s", -EINVAL);
	dur_bad("1s ", -EINVAL);
	dur_bad("10S", -EINVAL);
	dur_bad("1h30", -EINVAL);
	/* overflow: digits, multiplication, sum */
	dur_bad("99999999999999999999ms", -ERANGE);
	dur_bad("5124095576031h", -ERANGE);
	dur_bad("5124095576030h5124095576030h", -ERANGE);
}

static void test_time(void **state)
{
	char buf[40];
	uint64_t a, b;
	(void)state;

	format_time_rfc3339(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	format_time_rfc3339(1795355045000ULL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-22T13:44:05Z");
	a = now_mono_ms();
	b = now_mono_ms();
	assert_true(b >= a);
	assert_true(now_wall_ms() > 1600000000000ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
