/* test_oci_ref.c - image reference parsing and digest string checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "oci/oci.h"

static void test_ref_good(void **state)
{
	static const struct {
		const char *ref, *layout, *tag;
	} cases[] = {
		{ "oci:/a/b", "/a/b", NULL },
		{ "oci:/a/b:1.0", "/a/b", "1.0" },
		{ "oci:/a/b/:latest", "/a/b", "latest" },
		{ "oci:/var/lib/img-1_x+y@z,w=v~", "/var/lib/img-1_x+y@z,w=v~", NULL },
		{ "oci:/", "/", NULL },
		{ "oci:/x:_under.Score-1", "/x", "_under.Score-1" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_ref r = {};
		struct diag d = {};

		assert_int_equal(oci_ref_parse(cases[i].ref, &r, &d), 0);
		assert_string_equal(r.layout, cases[i].layout);
		if (cases[i].tag)
			assert_string_equal(r.tag, cases[i].tag);
		else
			assert_null(r.tag);
		oci_ref_clear(&r);
	}
}

static void test_ref_bad(void **state)
{
	static const struct {
		const char *ref;
		int err;
		const char *msg; /* part of the message */
	} cases[] = {
		{ "", -EINVAL, "empty" },
		{ "oci:", -EINVAL, "absolute" },
		{ "oci:relative/dir", -EINVAL, "absolute" },
		{ "oci:./dir", -EINVAL, "absolute" },
		{ "oci:/a/../etc", -EINVAL, "\"..\"" },
		{ "oci:/a/./b", -EINVAL, "\".\"" },
		{ "oci:/a b", -EINVAL, "character 0x20" },
		{ "oci:/a\nb", -EINVAL, "character 0x0a" },
		{ "oci:/a$(id)", -EINVAL, "character 0x24" },
		{ "oci:/a:", -EINVAL, "invalid tag" },
		{ "oci:/a:b:c", -EINVAL, "invalid tag" },
		{ "oci:/a:-x", -EINVAL, "invalid tag" },
		{ "oci:/a:.x", -EINVAL, "invalid tag" },
		{ "oci:/a:x/y", -EINVAL, "invalid tag" },
		/* registry references: see test_oci_registry.c for the whole table */
		{ "Busybox", -EINVAL, "must be lowercase" },
		{ "127.0.0.1:5000/web:1.0:x", -EINVAL, "invalid tag" },
		{ "docker.io/library/busybox@sha256:0123", -EINVAL, "invalid digest" },
		{ "bad ref", -EINVAL, "whitespace" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_ref r = {};
		struct diag d = {};
		int ret = oci_ref_parse(cases[i].ref, &r, &d);

		if (ret != cases[i].err || !strstr(d.msg, cases[i].msg))
			fail_msg("ref \"%s\": got %d \"%s\", want %d containing \"%s\"",
				 cases[i].ref, ret, d.msg, cases[i].err, cases[i].msg);
		assert_null(r.layout);
		assert_null(r.tag);
	}
	/* a long tag */
	{
		char ref[300] = "oci:/x:";
		struct oci_ref r = {};

		memset(ref + 7, 'a', 129);
		assert_int_equal(oci_ref_parse(ref, &r, NULL), -EINVAL);
		ref[7 + 128] = '\0';
		assert_int_equal(oci_ref_parse(ref, &r, NULL), 0);
		oci_ref_clear(&r);
	}
}

static void test_digest_check(void **state)
{
	const char *good =
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	const char *hex = NULL;
	struct diag d = {};

	(void)state;
	assert_int_equal(oci_digest_check(good, "x", &hex, &d), 0);
	assert_string_equal(hex, good + 7);

	diag_clear(&d);
	assert_int_equal(oci_digest_check("sha512:abcd", "layer 0", NULL, &d), -EOPNOTSUPP);
	assert_non_null(strstr(d.msg, "sha512"));
	assert_non_null(strstr(d.msg, "layer 0"));

	/* traversal, uppercase, short, long, trailing garbage, no algorithm */
	const char *bad[] = {
		"sha256:../../../../etc/passwd",
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"sha256:e3b0c442",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		":e3b0",
		"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		diag_clear(&d);
		if (oci_digest_check(bad[i], "x", NULL, &d) != -EINVAL)
			fail_msg("digest \"%s\" accepted or wrong error: %s", bad[i], d.msg);
		assert_true(d.msg[0] != '\0');
	}
	assert_int_equal(oci_digest_check(NULL, "x", NULL, NULL), -EINVAL);
}

static void test_digest_buf(void **state)
{
	char got[OCI_DIGEST_STR_MAX];
	struct oci_digest h = {};

	(void)state;
	assert_int_equal(oci_digest_buf("", 0, got), 0);
	assert_string_equal(
		got, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(oci_digest_buf("abc", 3, got), 0);
	assert_string_equal(
		got, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* streaming in pieces gives the same, and a context can be reused */
	assert_int_equal(oci_digest_init(&h), 0);
	oci_digest_update(&h, "a", 1);
	oci_digest_update(&h, "bc", 2);
	assert_int_equal(oci_digest_final(&h, got), 0);
	assert_string_equal(
		got, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(oci_digest_init(&h), 0);
	assert_int_equal(oci_digest_final(&h, got), 0);
	assert_string_equal(
		got, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	oci_digest_done(&h);
	oci_digest_done(&h); /* idempotent */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_good),
		cmocka_unit_test(test_ref_bad),
		cmocka_unit_test(test_digest_check),
		cmocka_unit_test(test_digest_buf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
