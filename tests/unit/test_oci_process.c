/* test_oci_process.c - merging image config and spec into what runs (DESIGN.md §4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "oci/oci.h"

#define V(...) ((char *[]){ __VA_ARGS__, NULL })
#define DEF_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void assert_strv(char *const *got, char *const *want, const char *what)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		if (!got || !got[i] || strcmp(got[i], want[i]) != 0)
			fail_msg("%s[%zu]: got \"%s\", want \"%s\"", what, i,
				 got && got[i] ? got[i] : "(end)", want[i]);
	}
	if (got && got[i])
		fail_msg("%s[%zu]: unexpected extra \"%s\"", what, i, got[i]);
}

/* argv: every combination of image Entrypoint/Cmd and spec command/args. */
static void test_argv_combinations(void **state)
{
	char **ep = V("/ep", "ep1"), **cmd = V("cmd1", "cmd2");
	char **command = V("/cmd"), **args = V("a1", "a2");
	struct {
		bool ep, cmd, command, args;
		const char *want[6]; /* NULL-terminated; want[0] NULL = failure expected */
	} cases[] = {
		{ 1, 1, 0, 0, { "/ep", "ep1", "cmd1", "cmd2" } },
		{ 1, 1, 0, 1, { "/ep", "ep1", "a1", "a2" } },
		{ 1, 1, 1, 0, { "/cmd" } },
		{ 1, 1, 1, 1, { "/cmd", "a1", "a2" } },
		{ 1, 0, 0, 0, { "/ep", "ep1" } },
		{ 1, 0, 0, 1, { "/ep", "ep1", "a1", "a2" } },
		{ 1, 0, 1, 0, { "/cmd" } },
		{ 1, 0, 1, 1, { "/cmd", "a1", "a2" } },
		{ 0, 1, 0, 0, { "cmd1", "cmd2" } },
		{ 0, 1, 0, 1, { "a1", "a2" } },
		{ 0, 1, 1, 0, { "/cmd" } },
		{ 0, 1, 1, 1, { "/cmd", "a1", "a2" } },
		{ 0, 0, 0, 0, { NULL } },
		{ 0, 0, 0, 1, { "a1", "a2" } },
		{ 0, 0, 1, 0, { "/cmd" } },
		{ 0, 0, 1, 1, { "/cmd", "a1", "a2" } },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_image_config img = {
			.entrypoint = cases[i].ep ? ep : NULL,
			.cmd = cases[i].cmd ? cmd : NULL,
		};
		struct oci_process p = {};
		struct diag d = {};
		char what[64];
		int r = oci_process_merge(&img, cases[i].command ? command : NULL,
					  cases[i].args ? args : NULL, NULL, NULL, &p, &d);

		snprintf(what, sizeof(what), "case %zu argv", i);
		if (!cases[i].want[0]) {
			assert_int_equal(r, -EINVAL);
			assert_non_null(strstr(d.msg, "nothing to run"));
			assert_null(p.argv); /* ret untouched on failure */
			continue;
		}
		assert_int_equal(r, 0);
		assert_strv(p.argv, (char *const *)cases[i].want, what);
		oci_process_clear(&p);
	}
}

static void test_argv_no_image(void **state)
{
	struct oci_process p = {};

	(void)state;
	assert_int_equal(oci_process_merge(NULL, V("/bin/true"), NULL, NULL, NULL, &p, NULL), 0);
	assert_strv(p.argv, V("/bin/true"), "argv");
	assert_strv(p.env, V(DEF_PATH), "env");
	assert_string_equal(p.cwd, "/");
	oci_process_clear(&p);
	assert_int_equal(oci_process_merge(NULL, NULL, NULL, NULL, NULL, &p, NULL), -EINVAL);
	/* an empty command with args: args are the whole argv */
	assert_int_equal(oci_process_merge(NULL, (char *[]){ NULL }, V("/x"), NULL, NULL, &p, NULL),
			 0);
	assert_strv(p.argv, V("/x"), "argv");
	oci_process_clear(&p);
	/* an empty program name */
	assert_int_equal(oci_process_merge(NULL, V(""), NULL, NULL, NULL, &p, NULL), -EINVAL);
}

static void test_env(void **state)
{
	struct {
		char **img, **spec, **want;
	} cases[] = {
		/* spec overrides in place, additions appended, order stable */
		{ V("PATH=/bin", "A=1", "B=2"), V("B=3", "C=4"),
		  V("PATH=/bin", "A=1", "B=3", "C=4") },
		/* no PATH anywhere: the default is added */
		{ V("A=1"), NULL, V("A=1", DEF_PATH) },
		{ NULL, V("X=y"), V("X=y", DEF_PATH) },
		{ NULL, NULL, V(DEF_PATH) },
		/* the spec's PATH wins over the image's */
		{ V("PATH=/bin", "A=1"), V("PATH=/opt/bin"), V("PATH=/opt/bin", "A=1") },
		{ V("A=1"), V("PATH=/opt/bin"), V("A=1", "PATH=/opt/bin") },
		/* values with '=' and empty values; a key that prefixes another */
		{ V("A=x=y", "AB=1"), V("A=", "ABC=2"), V("A=", "AB=1", "ABC=2", DEF_PATH) },
		/* image quirks: entries that are not KEY=VALUE are dropped, duplicates collapse */
		{ V("NOEQ", "=x", "A=1", "A=2"), NULL, V("A=2", DEF_PATH) },
		/* the spec repeating a key: the last wins */
		{ NULL, V("A=1", "A=2"), V("A=2", DEF_PATH) },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_image_config img = { .cmd = V("/x"), .env = cases[i].img };
		struct oci_process p = {};
		char what[32];

		snprintf(what, sizeof(what), "case %zu env", i);
		assert_int_equal(oci_process_merge(&img, NULL, NULL, cases[i].spec, NULL, &p, NULL),
				 0);
		assert_strv(p.env, cases[i].want, what);
		oci_process_clear(&p);
	}
}

static void test_env_bad(void **state)
{
	struct oci_image_config img = { .cmd = V("/x") };
	struct oci_process p = {};
	struct diag d = {};

	(void)state;
	assert_int_equal(oci_process_merge(&img, NULL, NULL, V("NOEQ"), NULL, &p, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "NOEQ"));
	assert_int_equal(oci_process_merge(&img, NULL, NULL, V("=v"), NULL, &p, NULL), -EINVAL);
	assert_null(p.argv);
}

static void test_working_dir(void **state)
{
	struct {
		const char *img, *spec, *want;
	} cases[] = {
		{ NULL, NULL, "/" },
		{ "/srv", NULL, "/srv" },
		{ NULL, "/data", "/data" },
		{ "/srv", "/data", "/data" },
		{ "/srv", "", "/srv" },
		{ "", "", "/" },
		{ "rel/dir", NULL, "/rel/dir" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_image_config img = { .cmd = V("/x"),
						.working_dir = (char *)cases[i].img };
		struct oci_process p = {};

		assert_int_equal(oci_process_merge(&img, NULL, NULL, NULL, cases[i].spec, &p, NULL),
				 0);
		assert_string_equal(p.cwd, cases[i].want);
		oci_process_clear(&p);
	}
}

/* The result owns copies: the inputs can go away. */
static void test_ownership(void **state)
{
	struct oci_image_config img = {};
	struct oci_process p = {};

	(void)state;
	img.entrypoint = strv_copy(V("/ep"));
	img.env = strv_copy(V("A=1"));
	img.working_dir = strdup("/w");
	assert_int_equal(oci_process_merge(&img, NULL, NULL, NULL, NULL, &p, NULL), 0);
	oci_image_config_clear(&img);
	assert_strv(p.argv, V("/ep"), "argv");
	assert_strv(p.env, V("A=1", DEF_PATH), "env");
	assert_string_equal(p.cwd, "/w");
	oci_process_clear(&p);
	oci_process_clear(&p); /* idempotent */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_combinations),
		cmocka_unit_test(test_argv_no_image),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_env_bad),
		cmocka_unit_test(test_working_dir),
		cmocka_unit_test(test_ownership),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
