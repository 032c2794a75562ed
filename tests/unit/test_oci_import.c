/* test_oci_import.c - oci_image_import(): names as podman load gives them, tars of layouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "oci/oci.h"

static void test_import_name(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "busybox:1.0", "localhost/busybox:1.0" },
		{ "tank/bb:2.0", "localhost/tank/bb:2.0" },
		{ "1.0", "localhost/1.0:latest" },
		{ "busybox", "localhost/busybox:latest" },
		{ "localhost/x", "localhost/x:latest" },
		{ "docker.io/library/busybox:1", "docker.io/library/busybox:1" },
		{ "registry.lan:5000/a/b", "registry.lan:5000/a/b:latest" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct diag d = {};
		char *got = oci_import_name(cases[i].in, &d);

		assert_non_null(got);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	{
		struct diag d = {};

		assert_null(oci_import_name("Bad Name", &d));
		assert_int_equal(d.err, -EINVAL);
	}
}

/* ---- a layout built here, written as a tar ----------------------------------------------- */

struct blob {
	char name[96]; /* "blobs/sha256/<hex>" */
	char digest[OCI_DIGEST_STR_MAX];
	char *buf;
	size_t len;
};

static void blob_make(struct blob *b, const char *buf, size_t len)
{
	b->buf = malloc(len);
	assert_non_null(b->buf);
	memcpy(b->buf, buf, len);
	b->len = len;
	assert_int_equal(oci_digest_buf(buf, len, b->digest), 0);
	snprintf(b->name, sizeof(b->name), "blobs/sha256/%s", b->digest + 7);
}

static void tar_add(struct archive *a, const char *name, const void *buf, size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_uid(e, getuid());
	archive_entry_set_gid(e, getgid());
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, buf, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* One one-layer image (its layer holds /hello with content): layer, config, manifest. */
static void image_make(const char *content, struct blob *layer, struct blob *config,
		       struct blob *manifest)
{
	struct archive *layer_w = archive_write_new();
	char layer_buf[8192], doc[2048];
	size_t layer_len = 0;
	int n;

	assert_int_equal(archive_write_set_format_pax_restricted(layer_w), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(layer_w, layer_buf, sizeof(layer_buf), &layer_len),
			 ARCHIVE_OK);
	tar_add(layer_w, "hello", content, strlen(content));
	archive_write_close(layer_w);
	archive_write_free(layer_w);
	blob_make(layer, layer_buf, layer_len);

	n = snprintf(doc, sizeof(doc),
		     "{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/hello\"]},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		     oci_host_arch(), layer->digest);
	blob_make(config, doc, (size_t)n);
	n = snprintf(doc, sizeof(doc),
		     "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		     "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		     "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		     "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}]}",
		     config->digest, config->len, layer->digest, layer->len);
	blob_make(manifest, doc, (size_t)n);
}

/*
 * n_images one-layer images (image k's layer holds /hello, "hi\n" for the first, "h<k>\n" for
 * the others) as a tar of a layout, named ref_name (the first) and "<ref_name>-<k>"; ref_name
 * may be NULL. bad_blob: the first layer is stored under a name that is not its digest.
 */
static void write_layout_tar_n(const char *path, const char *ref_name, bool bad_blob,
			       size_t n_images)
{
	struct archive *a = archive_write_new();
	struct blob layer[4], config[4], manifest[4];
	char doc[4096], content[16];
	size_t off;

	assert_true(n_images >= 1 && n_images <= 4);
	for (size_t k = 0; k < n_images; k++) {
		snprintf(content, sizeof(content), k ? "h%zu\n" : "hi\n", k);
		image_make(content, &layer[k], &config[k], &manifest[k]);
	}
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	tar_add(a, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	/* names that must never be followed: they are skipped */
	tar_add(a, "../escaped", "x", 1);
	tar_add(a, "blobs/sha256/../../escaped2", "x", 1);
	if (bad_blob)
		layer[0].buf[layer[0].len - 1] ^= 1; /* the trailing zero block: still a tar */
	off = (size_t)snprintf(doc, sizeof(doc), "{\"schemaVersion\":2,\"manifests\":[");
	for (size_t k = 0; k < n_images; k++) {
		tar_add(a, layer[k].name, layer[k].buf, layer[k].len);
		tar_add(a, config[k].name, config[k].buf, config[k].len);
		tar_add(a, manifest[k].name, manifest[k].buf, manifest[k].len);
		off += (size_t)snprintf(doc + off, sizeof(doc) - off,
					"%s{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
					"\"digest\":\"%s\",\"size\":%zu",
					k ? "," : "", manifest[k].digest, manifest[k].len);
		if (ref_name && k == 0)
			off += (size_t)snprintf(doc + off, sizeof(doc) - off,
						",\"annotations\":{\"org.opencontainers.image.ref.name\":"
						"\"%s\"}",
						ref_name);
		else if (ref_name)
			off += (size_t)snprintf(doc + off, sizeof(doc) - off,
						",\"annotations\":{\"org.opencontainers.image.ref.name\":"
						"\"%s-%zu\"}",
						ref_name, k);
		off += (size_t)snprintf(doc + off, sizeof(doc) - off, "}");
		free(layer[k].buf);
		free(config[k].buf);
		free(manifest[k].buf);
	}
	off += (size_t)snprintf(doc + off, sizeof(doc) - off, "]}");
	assert_true(off < sizeof(doc));
	tar_add(a, "./index.json", doc, off);
	archive_write_close(a);
	archive_write_free(a);
}

/* A one-layer image (the layer holds /hello) as a tar of a layout; ref_name may be NULL.
 * bad_blob: the layer is stored under a name that is not its digest. */
static void write_layout_tar(const char *path, const char *ref_name, bool bad_blob)
{
	write_layout_tar_n(path, ref_name, bad_blob, 1);
}

struct fx {
	char tmp[128], store[160], tar[160];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->tmp, sizeof(f->tmp), "/tmp/test_oci_import.XXXXXX");
	if (!f || !mkdtemp(f->tmp))
		return -1;
	snprintf(f->store, sizeof(f->store), "%s/store", f->tmp);
	snprintf(f->tar, sizeof(f->tar), "%s/x.tar", f->tmp);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	fs_rm_rf(f->tmp);
	free(f);
	return 0;
}

static void test_import_tar(void **state)
{
	struct fx *f = *state;
	struct oci_import_result *v = NULL;
	struct oci_store_image *imgs = NULL;
	struct diag d = {};
	char path[300];
	size_t n = 0;
	int r;

	write_layout_tar(f->tar, "bb:1", false);
	r = oci_image_import(f->store, f->tar, NULL, NULL, NULL, &v, &n, &d);
	if (r < 0)
		print_error("%s\n", diag_text(&d, r));
	assert_int_equal(r, 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].ref, "localhost/bb:1");
	assert_int_equal(v[0].layers, 1);
	/* listed, so it is kept by prune */
	assert_int_equal(oci_store_list_images(f->store, &imgs, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_string_equal(imgs[0].ref, "localhost/bb:1");
	assert_string_equal(imgs[0].manifest_digest, v[0].manifest_digest);
	oci_store_images_free(imgs, n);
	assert_int_equal(oci_store_prune(f->store, NULL, NULL, &d), 0);
	/* usable offline by its name */
	{
		struct oci_pull_opts o = { .policy = OCI_PULL_NEVER };
		struct oci_image *img = NULL;

		r = oci_image_prepare_opts(f->store, "localhost/bb:1", &o, &img, &d);
		if (r < 0)
			print_error("%s\n", diag_text(&d, r));
		assert_int_equal(r, 0);
		snprintf(path, sizeof(path), "%s/hello", img->layer_dirs[0]);
		assert_true(fs_exists(path));
		oci_image_free(img);
	}
	oci_import_results_free(v, 1);
	/* the archive's "../" names were never followed */
	snprintf(path, sizeof(path), "%s/escaped", f->tmp);
	assert_false(fs_exists(path));
	snprintf(path, sizeof(path), "%s/escaped2", f->tmp);
	assert_false(fs_exists(path));
}

/* The unpack limit holds for all the images of one import together, not for each. */
static void test_import_unpack_limit_is_per_import(void **state)
{
	struct fx *f = *state;
	struct oci_import_result *v = NULL;
	struct oci_pull_opts o = { .max_unpacked = 5 }; /* one /hello (3 bytes) fits, two do not */
	struct diag d = {};
	size_t n = 0;
	int r;

	write_layout_tar_n(f->tar, "bb:1", false, 2);
	r = oci_image_import(f->store, f->tar, NULL, NULL, &o, &v, &n, &d);
	assert_int_equal(r, -EFBIG);
	assert_non_null(strstr(d.msg, "more than"));
	/* each image alone fits */
	fs_rm_rf(f->store);
	diag_clear(&d);
	r = oci_image_import(f->store, f->tar, "bb:1-1", NULL, &o, &v, &n, &d);
	if (r < 0)
		print_error("%s\n", diag_text(&d, r));
	assert_int_equal(r, 0);
	oci_import_results_free(v, n);
}

static void test_import_unnamed(void **state)
{
	struct fx *f = *state;
	struct oci_import_result *v = NULL;
	struct diag d = {};
	size_t n = 0;

	write_layout_tar(f->tar, NULL, false);
	assert_int_equal(oci_image_import(f->store, f->tar, NULL, NULL, NULL, &v, &n, &d), -EINVAL);
	assert_non_null(strstr(diag_text(&d, -EINVAL), "org.opencontainers.image.ref.name"));
	diag_clear(&d);
	assert_int_equal(oci_image_import(f->store, f->tar, NULL, "named:2", NULL, &v, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].ref, "localhost/named:2");
	oci_import_results_free(v, n);
}

static void test_import_bad_blob(void **state)
{
	struct fx *f = *state;
	struct oci_import_result *v = NULL;
	struct diag d = {};
	size_t n = 0;
	int r;

	write_layout_tar(f->tar, "bb:1", true);
	r = oci_image_import(f->store, f->tar, NULL, NULL, NULL, &v, &n, &d);
	assert_int_equal(r, -EBADMSG);
	assert_non_null(strstr(diag_text(&d, r), "digest mismatch"));
}

static void test_import_not_a_layout(void **state)
{
	struct fx *f = *state;
	struct oci_import_result *v = NULL;
	struct diag d = {};
	size_t n = 0;
	int fd;

	fd = open(f->tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a tar at all", 16), 16);
	close(fd);
	assert_true(oci_image_import(f->store, f->tar, NULL, NULL, NULL, &v, &n, &d) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import_name),
		cmocka_unit_test_setup_teardown(test_import_tar, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_unpack_limit_is_per_import, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_unnamed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_bad_blob, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_not_a_layout, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
