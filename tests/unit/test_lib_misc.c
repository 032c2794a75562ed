/* test_lib_misc.c - unit tests of lib/strv.c, lib/json.c, lib/diag.c and lib/log.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lib/lib.h"

static void test_strv(void **state)
{
	_cleanup_strv_ char **v = NULL;
	_cleanup_strv_ char **copy = NULL;
	_cleanup_strv_ char **empty = NULL;
	char *env[] = { "PATH=/bin", "HOME=/root", "HOMEDIR=/x", "EMPTY=", NULL };
	(void)state;

	assert_int_equal(strv_length(NULL), 0);
	assert_int_equal(strv_push(&v, "a"), 0);
	assert_int_equal(strv_push(&v, ""), 0);
	assert_int_equal(strv_push(&v, "c"), 0);
	assert_int_equal(strv_length(v), 3);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "");
	assert_string_equal(v[2], "c");
	assert_null(v[3]);

	copy = strv_copy(v);
	assert_non_null(copy);
	assert_int_equal(strv_length(copy), 3);
	assert_ptr_not_equal(copy[0], v[0]);
	assert_string_equal(copy[2], "c");
	empty = strv_copy(NULL);
	assert_non_null(empty);
	assert_int_equal(strv_length(empty), 0);
	strv_free(NULL);

	assert_int_equal(strv_env_find(env, "HOME", 4), 1);
	assert_int_equal(strv_env_find(env, "HOMEDIR", 7), 2);
	assert_int_equal(strv_env_find(env, "PATH", 4), 0);
	assert_int_equal(strv_env_find(env, "EMPTY", 5), 3);
	assert_int_equal(strv_env_find(env, "HOM", 3), -1);
	assert_int_equal(strv_env_find(env, "NOPE", 4), -1);
	assert_int_equal(strv_env_find(NULL, "PATH", 4), -1);
	/* keylen lets the key be a prefix of a "K=V" string */
	assert_int_equal(strv_env_find(env, "HOME=/elsewhere", 4), 1);
}

/* array_grow: room only when full, doubling from `first`; an overflowing size is refused and the
 * array is left as it was. */
static void test_array_grow(void **state)
{
	uint32_t *v = NULL, *before;
	size_t cap = 0, n;

	(void)state;
	for (n = 0; n < 100; n++) {
		assert_int_equal(array_grow((void **)&v, &cap, n, sizeof(*v), 4), 0);
		assert_true(cap > n);
		v[n] = (uint32_t)n;
	}
	assert_int_equal(cap, 128); /* 4, 8, ... 128 */
	for (n = 0; n < 100; n++)
		assert_int_equal(v[n], n);
	before = v;
	assert_int_equal(array_grow((void **)&v, &cap, 100, sizeof(*v), 4), 0); /* not full */
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 128);
	assert_int_equal(array_grow((void **)&v, &cap, 128, SIZE_MAX / 64, 4), -ENOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 128);
	free(v);
}

static void test_json_parse(void **state)
{
	json_t *j = NULL;
	struct diag d = { 0 };
	const char *dup = "{\"a\": 1, \"b\": {\"x\": 1, \"x\": 2}}";
	(void)state;

	assert_int_equal(json_parse_buf("{\"a\":[1,2]}", 11, &j, &d), 0);
	assert_int_equal(json_array_size(json_object_get(j, "a")), 2);
	json_decref(j);
	j = NULL;

	/* duplicate keys, also nested */
	assert_int_equal(json_parse_buf("{\"a\":1,\"a\":2}", 13, &j, &d), -EINVAL);
	assert_null(j);
	assert_non_null(strstr(d.msg, "duplicate"));
	diag_clear(&d);
	assert_int_equal(json_parse_buf(dup, strlen(dup), &j, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "line 1"));

	/* syntax errors name line and column; the length bounds the input */
	diag_clear(&d);
	assert_int_equal(json_parse_buf("{\n  \"a\": }", 10, &j, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "line 2"));
	assert_int_equal(json_parse_buf("{\"a\":1}garbage", 7, &j, NULL), 0);
	json_decref(j);
	assert_int_equal(json_parse_buf("{\"a\":1}garbage", 14, &j, NULL), -EINVAL);
	assert_int_equal(json_parse_buf("", 0, &j, NULL), -EINVAL);
	/* deep nesting is refused, not a stack overflow */
	{
		size_t n = 100000;
		char *deep = malloc(2 * n);

		assert_non_null(deep);
		memset(deep, '[', n);
		memset(deep + n, ']', n);
		assert_int_equal(json_parse_buf(deep, 2 * n, &j, NULL), -EINVAL);
		free(deep);
	}
}

static void test_json_helpers(void **state)
{
	json_t *o = json_pack("{s:s, s:i, s:b, s:n, s:[s, s], s:[s, i]}", "s", "str", "i", 42, "b",
			      1, "n", "v", "a", "b", "mixed", "x", 1);
	char **v;
	json_t *back;
	char *const sv[] = { "p", "q", NULL };
	(void)state;

	assert_string_equal(json_str(o, "s", "def"), "str");
	assert_string_equal(json_str(o, "i", "def"), "def");
	assert_string_equal(json_str(o, "missing", "def"), "def");
	assert_null(json_str(NULL, "s", NULL));
	assert_int_equal(json_int(o, "i", -1), 42);
	assert_int_equal(json_int(o, "s", -1), -1);
	assert_true(json_bool(o, "b", false));
	assert_false(json_bool(o, "i", false));

	v = json_strv(json_object_get(o, "v"));
	assert_non_null(v);
	assert_int_equal(strv_length(v), 2);
	assert_string_equal(v[1], "b");
	strv_free(v);
	assert_null(json_strv(json_object_get(o, "mixed")));
	assert_null(json_strv(json_object_get(o, "s")));
	assert_null(json_strv(NULL));
	{
		json_t *e = json_array();

		v = json_strv(e); /* an empty array is an empty vector, not NULL */
		assert_non_null(v);
		assert_int_equal(strv_length(v), 0);
		strv_free(v);
		json_decref(e);
	}

	back = json_from_strv(sv);
	assert_int_equal(json_array_size(back), 2);
	assert_string_equal(json_string_value(json_array_get(back, 1)), "q");
	json_decref(back);
	back = json_from_strv(NULL);
	assert_int_equal(json_array_size(back), 0);
	json_decref(back);
	json_decref(o);
}

static void test_json_files(void **state)
{
	char dir[] = "/tmp/tank-json-test-XXXXXX", path[64];
	_cleanup_close_ int dfd = -1;
	json_t *o = json_pack("{s:s}", "k", "v"), *back = NULL;
	struct diag d = { 0 };
	char *buf = NULL;
	(void)state;

	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(json_write_atomic(dfd, "f.json", o, 0600), 0);
	assert_int_equal(fs_read_all(dfd, "f.json", 100, &buf, NULL), 0);
	assert_string_equal(buf, "{\"k\":\"v\"}\n");
	free(buf);
	assert_int_equal(json_read_file(dfd, "f.json", 100, &back, &d), 0);
	assert_true(json_equal(o, back));
	json_decref(back);

	assert_int_equal(json_read_file(dfd, "f.json", 5, &back, &d), -EFBIG);
	assert_non_null(strstr(d.msg, "larger than the limit"));
	diag_clear(&d);
	assert_int_equal(json_read_file(dfd, "missing.json", 100, &back, &d), -ENOENT);
	assert_string_equal(d.path, "missing.json");
	diag_clear(&d);
	assert_int_equal(fs_write_atomic(dfd, "bad.json", "{x", 2, 0600), 0);
	assert_int_equal(json_read_file(dfd, "bad.json", 100, &back, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "bad.json: invalid JSON at line 1"));

	snprintf(path, sizeof(path), "%s", dir);
	json_decref(o);
	fs_rm_rf(path);
}

static int fail_twice(struct diag *d)
{
	diag_fail(d, -ENOENT, "first %d", 1);
	return diag_fail(d, -EIO, "second");
}

static void test_diag(void **state)
{
	struct diag d = { 0 };
	(void)state;

	assert_int_equal(diag_fail(NULL, -EIO, "x"), -EIO);
	assert_int_equal(fail_twice(&d), -EIO);
	assert_int_equal(d.err, -ENOENT); /* the first failure wins */
	assert_string_equal(d.msg, "first 1");
	assert_string_equal(d.path, "");
	diag_prefix(&d, "pulling %s: ", "x");
	assert_string_equal(d.msg, "pulling x: first 1");
	assert_string_equal(diag_text(&d, -EIO), "pulling x: first 1");
	diag_clear(&d);
	assert_int_equal(d.err, 0);
	assert_string_equal(diag_text(&d, -ENOENT), strerror(ENOENT));
	assert_string_equal(diag_text(NULL, -ENOENT), strerror(ENOENT));
	assert_int_equal(diag_fail_at(&d, -EINVAL, "containers[0].name", "bad %s", "name"), -EINVAL);
	assert_string_equal(d.path, "containers[0].name");
	assert_string_equal(d.msg, "bad name");
	diag_prefix(NULL, "x");

	/* messages longer than the buffer are cut, not overflowed */
	{
		char longmsg[3000];

		memset(longmsg, 'm', sizeof(longmsg) - 1);
		longmsg[sizeof(longmsg) - 1] = '\0';
		diag_clear(&d);
		diag_fail_at(&d, -EIO, longmsg, "%s", longmsg);
		assert_int_equal(strlen(d.msg), sizeof(d.msg) - 1);
		assert_int_equal(strlen(d.path), sizeof(d.path) - 1);
		diag_prefix(&d, "%s", longmsg);
		assert_int_equal(strlen(d.msg), sizeof(d.msg) - 1);
	}
}

static void test_log_levels(void **state)
{
	enum log_level l;
	(void)state;

	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, LOG_LVL_DEBUG);
	assert_int_equal(log_parse_level("error", &l), 0);
	assert_int_equal(l, LOG_LVL_ERROR);
	assert_int_equal(log_parse_level("verbose", &l), -EINVAL);
	/* log_msg keeps errno */
	log_set_level(LOG_LVL_ERROR);
	errno = EAGAIN;
	log_info("not shown");
	assert_int_equal(errno, EAGAIN);
	log_set_level(LOG_LVL_INFO);
}

/* JOURNAL_STREAM names stderr only when its DEV:INO are stderr's own. */
static void test_log_journal_choice(void **state)
{
	struct stat st = { .st_dev = 0x803, .st_ino = 123456 };
	(void)state;

	assert_true(log_is_journal_stream("2051:123456", &st));
	assert_false(log_is_journal_stream(NULL, &st));
	assert_false(log_is_journal_stream("", &st));
	assert_false(log_is_journal_stream("2051:123457", &st)); /* another inode */
	assert_false(log_is_journal_stream("2052:123456", &st)); /* another device */
	assert_false(log_is_journal_stream("2051", &st));
	assert_false(log_is_journal_stream("2051:", &st));
	assert_false(log_is_journal_stream(":123456", &st));
	assert_false(log_is_journal_stream("2051:123456x", &st));
	assert_false(log_is_journal_stream("2051:123456:1", &st));
	assert_false(log_is_journal_stream("-2051:123456", &st));
	assert_false(log_is_journal_stream("99999999999999999999999:123456", &st));
	assert_false(log_is_journal_stream("2051:123456", NULL));
	assert_string_equal(log_level_prefix(LOG_LVL_ERROR, true), "<3>");
	assert_string_equal(log_level_prefix(LOG_LVL_WARN, true), "<4>");
	assert_string_equal(log_level_prefix(LOG_LVL_INFO, true), "<6>");
	assert_string_equal(log_level_prefix(LOG_LVL_DEBUG, true), "<7>");
	assert_string_equal(log_level_prefix(LOG_LVL_WARN, false), "warn");
}

/* The lines themselves: stderr on a file, JOURNAL_STREAM pointing at it or not. */
static void test_log_journal_lines(void **state)
{
	char path[] = "/tmp/tank-logtest.XXXXXX", env[64], buf[1024];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct stat st;
	ssize_t n;
	(void)state;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	assert_int_equal(fstat(fd, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	setenv("JOURNAL_STREAM", env, 1);
	log_init();
	log_warn("two\nlines");
	log_pod(LOG_LVL_ERROR, "web", "failed");
	log_set_level(LOG_LVL_DEBUG);
	log_debug("dbg");
	setenv("JOURNAL_STREAM", "1:2", 1); /* a stream that is not stderr: the plain format */
	log_init();
	log_pod(LOG_LVL_INFO, "web", "plain");
	log_set_level(LOG_LVL_INFO);
	unsetenv("JOURNAL_STREAM");
	log_init();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "<4>two lines\n<3>pod=web: failed\n<7>dbg\n"));
	/* "2026-12-02T03:04:05.678Z info pod=web: plain" */
	assert_non_null(strstr(buf, " info pod=web: plain\n"));
	assert_null(strstr(buf, "<6>"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strv),
		cmocka_unit_test(test_array_grow),
		cmocka_unit_test(test_json_parse),
		cmocka_unit_test(test_json_helpers),
		cmocka_unit_test(test_json_files),
		cmocka_unit_test(test_diag),
		cmocka_unit_test(test_log_levels),
		cmocka_unit_test(test_log_journal_choice),
		cmocka_unit_test(test_log_journal_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
