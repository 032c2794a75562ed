/* test_oci_registry_store.c - the content store: blobs, reference records, locks, pruning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "oci/oci.h"

struct fx {
	char dir[64];
	int fd;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_oci_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	strcat(f->dir, "/store");
	assert_int_equal(oci_store_open(f->dir, &f->fd, NULL), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	close(f->fd);
	*strrchr(f->dir, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void put(struct fx *f, const char *s, char *ret_digest)
{
	assert_int_equal(oci_digest_buf(s, strlen(s), ret_digest), 0);
	assert_int_equal(oci_store_put_blob(f->fd, ret_digest, s, strlen(s), NULL), 0);
}

static void test_ref_filename(void **state)
{
	char *n, long_ref[400];

	(void)state;
	n = oci_store_ref_filename("docker.io/library/busybox:latest");
	assert_string_equal(n, "docker.io%2Flibrary%2Fbusybox%3Alatest.json");
	free(n);
	n = oci_store_ref_filename("[::1]:5000/a@sha256:00");
	assert_string_equal(n, "%5B%3A%3A1%5D%3A5000%2Fa%40sha256%3A00.json");
	free(n);
	n = oci_store_ref_filename("../../etc");
	assert_null(strchr(n, '/'));
	assert_true(n[0] != '.');
	free(n);
	memset(long_ref, 'a', sizeof(long_ref) - 1);
	long_ref[sizeof(long_ref) - 1] = '\0';
	n = oci_store_ref_filename(long_ref);
	assert_int_equal(strncmp(n, "h-", 2), 0);
	assert_int_equal(strlen(n), 2 + 64 + 5);
	free(n);
}

static void test_blobs(void **state)
{
	struct fx *f = *state;
	char dg[OCI_DIGEST_STR_MAX], *buf = NULL;
	size_t len;
	struct diag d = {};

	put(f, "hello", dg);
	assert_true(oci_store_has_blob(f->fd, dg, 5));
	assert_true(oci_store_has_blob(f->fd, dg, -1));
	assert_false(oci_store_has_blob(f->fd, dg, 6));
	assert_int_equal(oci_store_read_blob(f->fd, dg, 100, &buf, &len, NULL), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	assert_int_equal(oci_store_read_blob(f->fd, dg, 4, &buf, &len, NULL), -EFBIG);
	/* content that does not match its digest is refused */
	assert_int_equal(oci_store_put_blob(f->fd, dg, "hellO", 5, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "digest mismatch"));
	assert_int_equal(oci_store_put_blob(f->fd, "sha256:../../x", "x", 1, NULL), -EINVAL);
	/* one lock holder per digest */
	{
		int a = -1, b = -1;

		assert_int_equal(oci_store_blob_lock(f->fd, dg, false, &a), 0);
		assert_int_equal(oci_store_blob_lock(f->fd, dg, false, &b), -EAGAIN);
		close(a);
		assert_int_equal(oci_store_blob_lock(f->fd, dg, false, &b), 0);
		close(b);
	}
}

static void test_refs(void **state)
{
	struct fx *f = *state;
	struct oci_store_image rec = {}, got = {}, *v = NULL;
	char dg[OCI_DIGEST_STR_MAX];
	struct diag d = {};
	size_t n = 0;

	put(f, "{}", dg);
	rec = (struct oci_store_image){ .ref = "docker.io/library/busybox:latest",
					.digest = dg,
					.manifest_digest = dg,
					.size = 42,
					.pulled_ms = 1000 };
	assert_int_equal(oci_store_ref_put(f->fd, &rec, NULL), 0);
	rec.ref = "127.0.0.1:5000/a:1";
	rec.manifest_digest = NULL;
	assert_int_equal(oci_store_ref_put(f->fd, &rec, NULL), 0);
	assert_int_equal(oci_store_ref_get(f->fd, "docker.io/library/busybox:latest", &got, NULL),
			 0);
	assert_string_equal(got.digest, dg);
	assert_int_equal(got.size, 42);
	assert_null(got.config_digest);
	oci_store_image_clear(&got);
	assert_int_equal(oci_store_ref_get(f->fd, "docker.io/library/busybox:1", &got, NULL),
			 -ENOENT);

	assert_int_equal(oci_store_list_images(f->dir, &v, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].ref, "127.0.0.1:5000/a:1");
	assert_string_equal(v[1].ref, "docker.io/library/busybox:latest");
	oci_store_images_free(v, n);

	/* removal takes the reference as a user writes it */
	assert_int_equal(oci_store_remove_image(f->dir, "busybox", &d), 0);
	assert_int_equal(oci_store_remove_image(f->dir, "busybox", &d), -ENOENT);
	assert_non_null(strstr(d.msg, "docker.io/library/busybox:latest"));
	assert_int_equal(oci_store_list_images(f->dir, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	oci_store_images_free(v, n);
	/* a corrupt record is left out of the list */
	assert_int_equal(fs_write_atomic(f->fd, "refs/junk.json", "{\"ref\":1}", 9, 0644), 0);
	assert_int_equal(oci_store_list_images(f->dir, &v, &n, NULL), 0);
	assert_int_equal(n, 1);
	oci_store_images_free(v, n);
}

/* An image in the store: layer blob, config (one diff_id), manifest, an unpacked layer dir. */
static void put_image(struct fx *f, const char *name, char *ret_manifest, char *ret_layer,
		      char *ret_diff)
{
	char cfg_dg[OCI_DIGEST_STR_MAX], *cfg, *man, path[256];

	put(f, name, ret_layer); /* the "layer blob" */
	assert_int_equal(oci_digest_buf(name, 1, ret_diff), 0);
	cfg = strdup_printf("{\"config\":{\"Env\":[]},\"rootfs\":{\"type\":\"layers\","
			    "\"diff_ids\":[\"%s\"]},\"n\":\"%s\"}",
			    ret_diff, name);
	put(f, cfg, cfg_dg);
	man = strdup_printf("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\",\"size\":%zu},"
			    "\"layers\":[{\"digest\":\"%s\",\"size\":%zu}]}",
			    cfg_dg, strlen(cfg), ret_layer, strlen(name));
	put(f, man, ret_manifest);
	snprintf(path, sizeof(path), "%s/layers/sha256/%s", f->dir, ret_diff + 7);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	strcat(path, "/file");
	assert_int_equal(fs_write_atomic(AT_FDCWD, path, "x", 1, 0644), 0);
	free(cfg);
	free(man);
}

static bool blob_exists(struct fx *f, const char *dg)
{
	return oci_store_has_blob(f->fd, dg, -1);
}

static bool layer_exists(struct fx *f, const char *diff)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/layers/sha256/%s", f->dir, diff + 7);
	return fs_exists(path);
}

static void test_prune(void **state)
{
	struct fx *f = *state;
	char m1[OCI_DIGEST_STR_MAX], l1[OCI_DIGEST_STR_MAX], d1[OCI_DIGEST_STR_MAX];
	char m2[OCI_DIGEST_STR_MAX], l2[OCI_DIGEST_STR_MAX], d2[OCI_DIGEST_STR_MAX];
	char idx[OCI_DIGEST_STR_MAX], *ibuf;
	struct oci_store_image rec = {};
	struct oci_prune_stats st = {};
	struct diag d = {};
	int lock = -1;

	put_image(f, "one", m1, l1, d1);
	put_image(f, "two", m2, l2, d2);
	/* an index naming image one and a platform that was never pulled */
	ibuf = strdup_printf("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"size\":1},"
			     "{\"digest\":\"sha256:%064d\",\"size\":1}]}",
			     m1, 0);
	put(f, ibuf, idx);
	free(ibuf);
	rec = (struct oci_store_image){ .ref = "reg.example/one:1", .digest = idx };
	assert_int_equal(oci_store_ref_put(f->fd, &rec, NULL), 0);
	assert_int_equal(fs_write_atomic(f->fd, "tmp/blob-x.partial", "junk", 4, 0600), 0);
	assert_int_equal(fs_write_atomic(f->fd, "locks/sha256-x.lock", "", 0, 0600), 0);

	/* a pull holds the store: no pruning */
	assert_int_equal(oci_store_lock(f->fd, false, true, &lock, NULL), 0);
	assert_int_equal(oci_store_prune(f->dir, NULL, NULL, &d), -EBUSY);
	assert_non_null(strstr(d.msg, "busy"));
	close(lock);

	/* image two is in use: everything stays */
	{
		const char *in_use[] = { m2, NULL };

		assert_int_equal(oci_store_prune(f->dir, in_use, &st, NULL), 0);
		assert_int_equal(st.blobs, 0);
		assert_int_equal(st.layers, 0);
		assert_true(blob_exists(f, l2) && layer_exists(f, d2));
	}
	assert_false(fs_exists(strcat(strcpy((char[256]){ 0 }, f->dir), "/tmp/blob-x.partial")));
	assert_false(
		fs_exists(strcat(strcpy((char[256]){ 0 }, f->dir), "/locks/sha256-x.lock")));

	/* nobody uses two: its manifest, config, layer blob and layer dir go */
	assert_int_equal(oci_store_prune(f->dir, NULL, &st, NULL), 0);
	assert_int_equal(st.blobs, 3);
	assert_int_equal(st.layers, 1);
	assert_false(blob_exists(f, m2) || blob_exists(f, l2) || layer_exists(f, d2));
	assert_true(blob_exists(f, idx) && blob_exists(f, m1) && blob_exists(f, l1) &&
		    layer_exists(f, d1));

	/* an in-use digest that the store lacks: nothing is removed */
	{
		const char *in_use[] = { m2, NULL };

		diag_clear(&d);
		assert_int_equal(oci_store_remove_image(f->dir, "reg.example/one:1", NULL), 0);
		assert_int_equal(oci_store_prune(f->dir, in_use, &st, &d), -ENOENT);
		assert_non_null(strstr(d.msg, "not pruning"));
		assert_true(blob_exists(f, m1) && layer_exists(f, d1));
		in_use[0] = "not-a-digest";
		assert_int_equal(oci_store_prune(f->dir, in_use, &st, NULL), -EINVAL);
	}
	/* the reference is gone: so is the rest */
	assert_int_equal(oci_store_prune(f->dir, NULL, &st, NULL), 0);
	assert_int_equal(st.blobs, 4);
	assert_false(blob_exists(f, idx) || blob_exists(f, m1) || layer_exists(f, d1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_filename),
		cmocka_unit_test_setup_teardown(test_blobs, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refs, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prune, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
