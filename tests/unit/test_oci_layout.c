/* test_oci_layout.c - image layouts written by hand: selection, media types, verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "oci/oci.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

struct fx {
	char tmp[128];	  /* temp parent */
	char layout[160]; /* tmp/layout */
	char store[160];  /* tmp/store */
	char ref[200];	  /* "oci:" + layout */
	int layout_fd;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->tmp, sizeof(f->tmp), "/tmp/test_oci_layout.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->layout, sizeof(f->layout), "%s/layout", f->tmp);
	snprintf(f->store, sizeof(f->store), "%s/store", f->tmp);
	snprintf(f->ref, sizeof(f->ref), "oci:%s", f->layout);
	assert_int_equal(fs_mkdir_p(f->layout, 0755), 0);
	f->layout_fd = open(f->layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->layout_fd >= 0);
	assert_int_equal(mkdirat(f->layout_fd, "blobs", 0755), 0);
	assert_int_equal(mkdirat(f->layout_fd, "blobs/sha256", 0755), 0);
	assert_int_equal(fs_write_atomic(f->layout_fd, "oci-layout",
					 "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644),
			 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	close(f->layout_fd);
	fs_rm_rf(f->tmp);
	free(f);
	return 0;
}

/* ---- writing layouts -------------------------------------------------------------------- */

static void put_blob(struct fx *f, const void *buf, size_t len, char *ret_digest)
{
	char path[128];

	assert_int_equal(oci_digest_buf(buf, len, ret_digest), 0);
	snprintf(path, sizeof(path), "blobs/sha256/%s", ret_digest + 7);
	assert_int_equal(fs_write_atomic(f->layout_fd, path, buf, len, 0644), 0);
}

static json_t *desc(const char *mt, const char *digest, size_t size)
{
	json_t *d = json_pack("{s:s, s:I}", "digest", digest, "size", (json_int_t)size);

	if (mt)
		json_object_set_new(d, "mediaType", json_string(mt));
	return d;
}

/* Store a JSON document as a blob; returns its descriptor. Steals j. */
static json_t *put_json(struct fx *f, const char *mt, json_t *j)
{
	char digest[OCI_DIGEST_STR_MAX];
	char *s = json_dumps(j, JSON_COMPACT);
	json_t *d;

	put_blob(f, s, strlen(s), digest);
	d = desc(mt, digest, strlen(s));
	free(s);
	json_decref(j);
	return d;
}

/* A one-file layer; returns its descriptor and the diff_id. */
static json_t *put_layer(struct fx *f, const char *mt, const char *file, const char *content,
			 bool gzip, char *ret_diff_id)
{
	char digest[OCI_DIGEST_STR_MAX];
	struct stat st;
	char *buf;
	int fds[2];
	json_t *d;

	for (int pass = 0; pass < 2; pass++) {
		struct archive *a = archive_write_new();
		struct archive_entry *e = archive_entry_new();

		fds[pass] = memfd_create("layer", MFD_CLOEXEC);
		archive_write_set_format_pax_restricted(a);
		if (pass == 1 && gzip)
			archive_write_add_filter_gzip(a);
		assert_int_equal(archive_write_open_fd(a, fds[pass]), ARCHIVE_OK);
		archive_entry_set_pathname(e, file);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_mtime(e, 1500000000, 0);
		archive_entry_set_size(e, (la_int64_t)strlen(content));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		archive_write_data(a, content, strlen(content));
		archive_entry_free(e);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
	}
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(fstat(fds[pass], &st), 0);
		buf = malloc((size_t)st.st_size);
		assert_int_equal(pread(fds[pass], buf, (size_t)st.st_size, 0), st.st_size);
		if (pass == 0)
			assert_int_equal(oci_digest_buf(buf, (size_t)st.st_size, ret_diff_id), 0);
		else
			put_blob(f, buf, (size_t)st.st_size, digest);
		free(buf);
		close(fds[pass]);
	}
	d = desc(mt, digest, (size_t)st.st_size);
	return d;
}

struct img_opts {
	bool docker;	  /* Docker schema2 media types */
	const char *file; /* the file in the layer, default "hello" */
	const char *content;
	json_t *config_cfg; /* the "config" object of the image config (stolen), NULL: default */
	int diff_ids_extra; /* add (>0) or drop (<0) diff_ids */
	bool bad_diff_id;
	const char *layer_mt; /* override */
	const char *config_mt;
};

/* A manifest with one layer; returns the manifest descriptor. */
static json_t *put_image(struct fx *f, const struct img_opts *o)
{
	char diff_id[OCI_DIGEST_STR_MAX];
	json_t *layer, *config, *cfg, *ids;

	layer = put_layer(
		f, o->layer_mt ? o->layer_mt : (o->docker ? MT_DOCKER_LAYER : MT_OCI_LAYER_GZ),
		o->file ? o->file : "hello", o->content ? o->content : "hi\n", true, diff_id);
	if (o->bad_diff_id)
		diff_id[20] = diff_id[20] == 'a' ? 'b' : 'a';
	ids = json_pack("[s]", diff_id);
	for (int i = 0; i < o->diff_ids_extra; i++)
		json_array_append_new(ids, json_string(diff_id));
	if (o->diff_ids_extra < 0)
		json_array_clear(ids);
	cfg = o->config_cfg ? o->config_cfg
			    : json_pack("{s:[s], s:[s,s], s:[s,s], s:s, s:s, s:s}", "Entrypoint",
					"/bin/sh", "Cmd", "-c", "echo hi", "Env", "PATH=/bin",
					"A=1", "WorkingDir", "/srv", "User", "1000:1000",
					"StopSignal", "SIGQUIT");
	config = put_json(
		f, o->config_mt ? o->config_mt : (o->docker ? MT_DOCKER_CONFIG : MT_OCI_CONFIG),
		json_pack("{s:s, s:s, s:o, s:{s:s, s:o}}", "architecture", oci_host_arch(), "os",
			  "linux", "config", cfg, "rootfs", "type", "layers", "diff_ids", ids));
	return put_json(f, o->docker ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST,
			json_pack("{s:i, s:s, s:o, s:[o]}", "schemaVersion", 2, "mediaType",
				  o->docker ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST, "config",
				  config, "layers", layer));
}

static void tag(json_t *d, const char *name)
{
	json_object_set_new(d, "annotations",
			    json_pack("{s:s}", "org.opencontainers.image.ref.name", name));
}

static void platform(json_t *d, const char *arch)
{
	json_object_set_new(d, "platform",
			    json_pack("{s:s, s:s}", "os", "linux", "architecture", arch));
}

/* index.json listing the given descriptors (stolen). */
static void put_index(struct fx *f, json_t *manifests)
{
	json_t *idx = json_pack("{s:i, s:o}", "schemaVersion", 2, "manifests", manifests);

	assert_int_equal(json_write_atomic(f->layout_fd, "index.json", idx, 0644), 0);
	json_decref(idx);
}

/* ---- checking results ------------------------------------------------------------------- */

static struct oci_image *prepare_ok(struct fx *f, const char *ref)
{
	struct oci_image *img = NULL;
	struct diag d = {};
	int r = oci_image_prepare(f->store, ref, &img, &d);

	if (r < 0)
		fail_msg("prepare %s: %s", ref, diag_text(&d, r));
	return img;
}

static void prepare_fails(struct fx *f, const char *ref, int err, const char *msg)
{
	struct oci_image *img = NULL;
	struct diag d = {};
	int r = oci_image_prepare(f->store, ref, &img, &d);

	if (r != err || !strstr(d.msg, msg))
		fail_msg("prepare %s: got %d \"%s\", want %d containing \"%s\"", ref, r, d.msg, err,
			 msg);
	assert_null(img);
}

static void assert_layer_file(const struct oci_image *img, size_t i, const char *file,
			      const char *want)
{
	char path[512], *buf = NULL;

	assert_non_null(img->layer_dirs[i]);
	snprintf(path, sizeof(path), "%s/%s", img->layer_dirs[i], file);
	if (fs_read_all(AT_FDCWD, path, 4096, &buf, NULL) < 0)
		fail_msg("%s: %m", path);
	assert_string_equal(buf, want);
	free(buf);
}

/* store/tmp holds nothing once prepare returned. */
static void assert_tmp_empty(struct fx *f)
{
	char path[200];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/tmp", f->store);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fail_msg("left over in %s: %s", path, de->d_name);
	closedir(d);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_single_untagged(void **state)
{
	struct fx *f = *state;
	struct oci_image *img;
	json_t *m = put_image(f, &(struct img_opts){});

	put_index(f, json_pack("[o]", m));
	img = prepare_ok(f, f->ref);
	assert_string_equal(img->ref, f->ref);
	assert_int_equal(strlen(img->manifest_digest), 71);
	assert_int_equal(strlen(img->config_digest), 71);
	assert_int_equal(strv_length(img->layer_dirs), 1);
	assert_layer_file(img, 0, "hello", "hi\n");
	assert_string_equal(img->config.entrypoint[0], "/bin/sh");
	assert_null(img->config.entrypoint[1]);
	assert_string_equal(img->config.cmd[1], "echo hi");
	assert_string_equal(img->config.env[1], "A=1");
	assert_string_equal(img->config.working_dir, "/srv");
	assert_string_equal(img->config.user, "1000:1000");
	assert_string_equal(img->config.stop_signal, "SIGQUIT");
	oci_image_free(img);
	assert_tmp_empty(f);
}

static void test_tags(void **state)
{
	struct fx *f = *state;
	struct oci_image *img;
	char ref[256];
	json_t *a = put_image(f, &(struct img_opts){ .content = "a\n" });
	json_t *l = put_image(f, &(struct img_opts){ .content = "latest\n" });

	tag(a, "a");
	tag(l, "latest");
	put_index(f, json_pack("[o,o]", a, l));
	img = prepare_ok(f, f->ref);
	assert_layer_file(img, 0, "hello", "latest\n");
	oci_image_free(img);
	snprintf(ref, sizeof(ref), "%s:a", f->ref);
	img = prepare_ok(f, ref);
	assert_layer_file(img, 0, "hello", "a\n");
	oci_image_free(img);
	snprintf(ref, sizeof(ref), "%s:nope", f->ref);
	prepare_fails(f, ref, -ENOENT, "no image tagged \"nope\" (tags in the layout: a, latest)");

	/* without "latest" and with two manifests, an untagged reference is ambiguous */
	a = put_image(f, &(struct img_opts){ .content = "a\n" });
	l = put_image(f, &(struct img_opts){ .content = "b\n" });
	tag(a, "a");
	tag(l, "b");
	put_index(f, json_pack("[O,o]", a, l));
	prepare_fails(f, f->ref, -ENOENT, "no image tagged \"latest\"");
	/* a tag is never matched against the only manifest when it has another name */
	put_index(f, json_pack("[o]", a));
	snprintf(ref, sizeof(ref), "%s:b", f->ref);
	prepare_fails(f, ref, -ENOENT, "no image tagged \"b\"");
}

static void test_nested_platform(void **state)
{
	struct fx *f = *state;
	struct oci_image *img;
	char ref[256];
	json_t *arm, *host, *art, *inner, *outer, *s390;

	arm = put_image(f, &(struct img_opts){ .content = "arm\n" });
	platform(arm, strcmp(oci_host_arch(), "arm64") ? "arm64" : "amd64");
	host = put_image(f, &(struct img_opts){ .content = "host\n" });
	platform(host, oci_host_arch());
	art = desc("application/vnd.example.sbom+json",
		   json_string_value(json_object_get(host, "digest")), 5);
	platform(art, oci_host_arch());
	/* index -> index -> manifests: an artifact with the right platform is skipped */
	inner = put_json(f, MT_OCI_INDEX,
			 json_pack("{s:i, s:s, s:[o,o,o]}", "schemaVersion", 2, "mediaType",
				   MT_OCI_INDEX, "manifests", art, arm, host));
	outer = put_json(f, MT_OCI_INDEX,
			 json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests", inner));
	tag(outer, "1.0");
	put_index(f, json_pack("[o]", outer));
	snprintf(ref, sizeof(ref), "%s:1.0", f->ref);
	img = prepare_ok(f, ref);
	assert_layer_file(img, 0, "hello", "host\n");
	oci_image_free(img);

	/* no manifest for this machine */
	arm = put_image(f, &(struct img_opts){ .content = "arm\n" });
	platform(arm, "arm64-not-here");
	s390 = put_image(f, &(struct img_opts){ .content = "s390\n" });
	platform(s390, "s390x-not-here");
	inner = put_json(f, MT_OCI_INDEX,
			 json_pack("{s:i, s:[o,o]}", "schemaVersion", 2, "manifests", arm, s390));
	put_index(f, json_pack("[o]", inner));
	prepare_fails(f, f->ref, -ENOENT,
		      "(the image has: linux/arm64-not-here, linux/s390x-not-here)");

	/* several entries of index.json with one tag: chosen by platform too */
	arm = put_image(f, &(struct img_opts){ .content = "arm\n" });
	platform(arm, "arm64-not-here");
	tag(arm, "2.0");
	host = put_image(f, &(struct img_opts){ .content = "host2\n" });
	platform(host, oci_host_arch());
	tag(host, "2.0");
	put_index(f, json_pack("[o,o]", arm, host));
	snprintf(ref, sizeof(ref), "%s:2.0", f->ref);
	img = prepare_ok(f, ref);
	assert_layer_file(img, 0, "hello", "host2\n");
	oci_image_free(img);
}

static void test_index_loop(void **state)
{
	struct fx *f = *state;
	json_t *idx = put_image(f, &(struct img_opts){});

	/* nesting deeper than the limit */
	for (int i = 0; i < 6; i++)
		idx = put_json(f, MT_OCI_INDEX,
			       json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests", idx));
	put_index(f, json_pack("[o]", idx));
	prepare_fails(f, f->ref, -ELOOP, "nested deeper");
}

static void test_docker_types(void **state)
{
	struct fx *f = *state;
	struct oci_image *img;
	json_t *m, *list;

	m = put_image(f, &(struct img_opts){ .docker = true, .content = "docker\n" });
	platform(m, oci_host_arch());
	list = put_json(f, MT_DOCKER_LIST,
			json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType",
				  MT_DOCKER_LIST, "manifests", m));
	put_index(f, json_pack("[o]", list));
	img = prepare_ok(f, f->ref);
	assert_layer_file(img, 0, "hello", "docker\n");
	oci_image_free(img);

	/* schema1 is refused with a hint */
	m = put_json(f, "application/vnd.docker.distribution.manifest.v1+prettyjws",
		     json_pack("{s:i, s:s}", "schemaVersion", 1, "name", "x"));
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EPROTONOSUPPORT, "schema1");
	/* and so is a manifest whose body says schema1 */
	m = put_json(f, NULL, json_pack("{s:i, s:s}", "schemaVersion", 1, "name", "x"));
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EPROTONOSUPPORT, "schema1");
}

static void test_media_type_checks(void **state)
{
	struct fx *f = *state;
	json_t *m;

	m = put_image(f, &(struct img_opts){ .layer_mt = "application/vnd.example.helm.chart" });
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EPROTONOSUPPORT, "unsupported media type");

	m = put_image(f, &(struct img_opts){ .config_mt = "application/vnd.example.config+json" });
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EPROTONOSUPPORT, "not an image config");

	/* only unknown media types in the index */
	m = put_image(f, &(struct img_opts){});
	json_object_set_new(m, "mediaType", json_string("application/vnd.example+json"));
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -ENOENT, "no manifest of a supported media type");

	/* a descriptor's media type that contradicts the blob's */
	m = put_image(f, &(struct img_opts){ .docker = true });
	json_object_set_new(m, "mediaType", json_string(MT_OCI_MANIFEST));
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EINVAL, "differs from its descriptor");
}

static void test_blob_verification(void **state)
{
	struct fx *f = *state;
	char path[256], digest[OCI_DIGEST_STR_MAX];
	json_t *m;

	/* the content under a digest's name is not that digest */
	m = put_image(f, &(struct img_opts){});
	snprintf(path, sizeof(path), "blobs/sha256/%s",
		 json_string_value(json_object_get(m, "digest")) + 7);
	{
		char *buf = NULL;
		size_t len;

		assert_int_equal(fs_read_all(f->layout_fd, path, 1 << 20, &buf, &len), 0);
		buf[len - 2] ^= 1; /* same size, other bytes */
		assert_int_equal(fs_write_atomic(f->layout_fd, path, buf, len, 0644), 0);
		free(buf);
	}
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EBADMSG, "digest mismatch (got sha256:");

	/* size mismatch */
	m = put_image(f, &(struct img_opts){});
	json_object_set_new(m, "size",
			    json_integer(json_integer_value(json_object_get(m, "size")) + 1));
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EBADMSG, "size mismatch");

	/* missing */
	m = desc(MT_OCI_MANIFEST,
		 "sha256:0000000000000000000000000000000000000000000000000000000000000000", 10);
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -ENOENT, "blob missing");

	/* other algorithms, traversal in the digest */
	m = desc(MT_OCI_MANIFEST, "sha512:abcd", 10);
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EOPNOTSUPP, "only sha256");
	m = desc(MT_OCI_MANIFEST, "sha256:../../../../../../etc/passwd", 10);
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EINVAL, "malformed digest");

	/* a blob that is a symlink pointing out of the layout resolves inside it: missing */
	{
		char outside[256], *s;
		json_t *j = json_pack("{s:i, s:s}", "schemaVersion", 2, "x", "y");

		s = json_dumps(j, JSON_COMPACT);
		assert_int_equal(oci_digest_buf(s, strlen(s), digest), 0);
		snprintf(outside, sizeof(outside), "%s/outside-blob", f->tmp);
		assert_int_equal(fs_write_atomic(AT_FDCWD, outside, s, strlen(s), 0644), 0);
		snprintf(path, sizeof(path), "blobs/sha256/%s", digest + 7);
		assert_int_equal(symlinkat(outside, f->layout_fd, path), 0);
		m = desc(MT_OCI_MANIFEST, digest, strlen(s));
		put_index(f, json_pack("[o]", m));
		prepare_fails(f, f->ref, -ENOENT, "blob missing");
		free(s);
		json_decref(j);
	}
	/* a FIFO planted as a blob does not hang the reader */
	m = desc(MT_OCI_MANIFEST,
		 "sha256:1111111111111111111111111111111111111111111111111111111111111111", 10);
	assert_int_equal(
		mkfifoat(f->layout_fd,
			 "blobs/sha256/"
			 "1111111111111111111111111111111111111111111111111111111111111111",
			 0644),
		0);
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EINVAL, "not a regular file");
}

static void test_config_errors(void **state)
{
	struct fx *f = *state;
	char path[300];
	json_t *m;

	m = put_image(f, &(struct img_opts){ .diff_ids_extra = 1 });
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EINVAL, "rootfs.diff_ids lists 2 layers but the manifest has 1");

	m = put_image(f, &(struct img_opts){ .config_cfg = json_pack("{s:s}", "Env", "A=1") });
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EINVAL, "config.Env must be an array of strings");

	m = put_image(f, &(struct img_opts){ .config_cfg = json_pack("{s:[i]}", "Cmd", 1) });
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EINVAL, "config.Cmd must be an array of strings");

	/* null and absent fields are fine */
	m = put_image(f, &(struct img_opts){ .config_cfg = json_pack("{s:n, s:s}", "Entrypoint",
								     "WorkingDir", "") });
	put_index(f, json_pack("[o]", m));
	{
		struct oci_image *img = prepare_ok(f, f->ref);

		assert_null(img->config.entrypoint);
		assert_null(img->config.cmd);
		assert_null(img->config.working_dir);
		oci_image_free(img);
	}

	/* a layer whose content does not match its diff_id: no layer dir, nothing in tmp */
	m = put_image(f, &(struct img_opts){ .bad_diff_id = true, .content = "bad\n" });
	put_index(f, json_pack("[o]", m));
	prepare_fails(f, f->ref, -EBADMSG, "does not match diff_id");
	assert_tmp_empty(f);
	snprintf(path, sizeof(path), "%s/layers/sha256", f->store);
	{
		DIR *d = opendir(path);
		struct dirent *de;
		int n = 0;

		assert_non_null(d);
		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
		assert_int_equal(n, 1); /* only the layer of the good image above */
	}
}

static void test_layout_errors(void **state)
{
	struct fx *f = *state;
	char ref[256], *big;
	struct oci_image *img = NULL;
	json_t *m = put_image(f, &(struct img_opts){});

	put_index(f, json_pack("[o]", m));
	snprintf(ref, sizeof(ref), "oci:%s/nonexistent", f->tmp);
	prepare_fails(f, ref, -ENOENT, "opening layout");
	/* registry references are parsed before any network use */
	prepare_fails(f, "docker.io/library/BusyBox:latest", -EINVAL, "must be lowercase");
	assert_int_equal(oci_image_prepare("relative/store", f->ref, &img, NULL), -EINVAL);

	/* index.json beyond the limit */
	big = malloc(OCI_MANIFEST_MAX + 2);
	memset(big, ' ', OCI_MANIFEST_MAX + 1);
	big[0] = '{';
	big[OCI_MANIFEST_MAX] = '}';
	assert_int_equal(
		fs_write_atomic(f->layout_fd, "index.json", big, OCI_MANIFEST_MAX + 1, 0644), 0);
	free(big);
	prepare_fails(f, f->ref, -EFBIG, "larger than the limit");

	assert_int_equal(fs_write_atomic(f->layout_fd, "index.json", "{not json", 9, 0644), 0);
	prepare_fails(f, f->ref, -EINVAL, "invalid JSON");

	assert_int_equal(unlinkat(f->layout_fd, "oci-layout", 0), 0);
	prepare_fails(f, f->ref, -ENOENT, "not an OCI image layout");
	assert_int_equal(fs_write_atomic(f->layout_fd, "oci-layout",
					 "{\"imageLayoutVersion\":\"2.0.0\"}", 30, 0644),
			 0);
	prepare_fails(f, f->ref, -EPROTONOSUPPORT, "imageLayoutVersion");
}

static void test_reuse(void **state)
{
	struct fx *f = *state;
	struct oci_image *a, *b;
	struct stat st1, st2;
	json_t *m = put_image(f, &(struct img_opts){});
	char manifest_digest[OCI_DIGEST_STR_MAX];

	snprintf(manifest_digest, sizeof(manifest_digest), "%s",
		 json_string_value(json_object_get(m, "digest")));
	put_index(f, json_pack("[o]", m));
	a = prepare_ok(f, f->ref);
	assert_int_equal(stat(a->layer_dirs[0], &st1), 0);
	b = prepare_ok(f, f->ref);
	assert_string_equal(a->layer_dirs[0], b->layer_dirs[0]);
	assert_int_equal(stat(b->layer_dirs[0], &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_tmp_empty(f);
	oci_image_free(a);
	oci_image_free(b);

	/* an existing layer dir is trusted as complete: the layer blob is not read again */
	{
		char path[300], *buf = NULL;
		json_t *man;

		snprintf(path, sizeof(path), "blobs/sha256/%s", manifest_digest + 7);
		assert_int_equal(fs_read_all(f->layout_fd, path, 1 << 20, &buf, NULL), 0);
		man = json_loads(buf, 0, NULL);
		free(buf);
		snprintf(path, sizeof(path), "blobs/sha256/%s",
			 json_string_value(json_object_get(
				 json_array_get(json_object_get(man, "layers"), 0), "digest")) +
				 7);
		json_decref(man);
		assert_int_equal(fs_write_atomic(f->layout_fd, path, "garbage", 7, 0644), 0);
		oci_image_free(prepare_ok(f, f->ref));
		/* with a fresh store it is read, and found corrupt */
		snprintf(path, sizeof(path), "%s/store", f->tmp);
		assert_int_equal(fs_rm_rf(path), 0);
		prepare_fails(f, f->ref, -EBADMSG, "size mismatch");
	}
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	pid_t pids[6];
	json_t *m = put_image(f, &(struct img_opts){ .content = "race\n" });

	put_index(f, json_pack("[o]", m));
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct oci_image *img = NULL;
			int r = oci_image_prepare(f->store, f->ref, &img, NULL);

			oci_image_free(img);
			_exit(r < 0 ? 1 : 0);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_tmp_empty(f);
	{
		struct oci_image *img = prepare_ok(f, f->ref);

		assert_layer_file(img, 0, "hello", "race\n");
		oci_image_free(img);
	}
}

/* ---- multi-layer images, compression by magic, the image-wide size limit ------------------ */

#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

enum filter { F_NONE, F_GZIP, F_ZSTD };

/* A layer entry: 'f' file (data), 'z' zeros (size), 'd' dir, 'l' symlink, 'h' hard link. */
struct lent {
	char type;
	const char *path;
	const char *data;
	mode_t mode;
	uid_t uid;
	size_t size;
};

/* A layer blob from entries; returns its descriptor (media type mt), the diff_id in ret. */
static json_t *put_layer_ents(struct fx *f, const char *mt, const struct lent *ents, size_t n,
			      enum filter filter, char *ret_diff_id)
{
	static char zeros[65536];
	char digest[OCI_DIGEST_STR_MAX];
	struct stat st;
	char *buf;
	int fds[2];

	for (int pass = 0; pass < 2; pass++) {
		struct archive *a = archive_write_new();

		fds[pass] = memfd_create("layer", MFD_CLOEXEC);
		archive_write_set_format_pax_restricted(a);
		if (pass == 1 && filter == F_GZIP)
			assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		if (pass == 1 && filter == F_ZSTD)
			assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
		assert_int_equal(archive_write_open_fd(a, fds[pass]), ARCHIVE_OK);
		for (size_t i = 0; i < n; i++) {
			struct archive_entry *e = archive_entry_new();
			const struct lent *x = &ents[i];

			archive_entry_set_pathname(e, x->path);
			archive_entry_set_mtime(e, 1500000000, 0);
			archive_entry_set_uid(e, x->uid);
			archive_entry_set_gid(e, x->uid);
			archive_entry_set_perm(e, x->mode ? x->mode : x->type == 'd' ? 0755 : 0644);
			archive_entry_set_filetype(e, x->type == 'd'   ? AE_IFDIR
						      : x->type == 'l' ? AE_IFLNK
								       : AE_IFREG);
			if (x->type == 'l')
				archive_entry_set_symlink(e, x->data);
			if (x->type == 'h')
				archive_entry_set_hardlink(e, x->data);
			if (x->type == 'f')
				archive_entry_set_size(e, (la_int64_t)strlen(x->data));
			if (x->type == 'z')
				archive_entry_set_size(e, (la_int64_t)x->size);
			assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
			if (x->type == 'f')
				archive_write_data(a, x->data, strlen(x->data));
			for (size_t left = x->type == 'z' ? x->size : 0; left;) {
				size_t k = left < sizeof(zeros) ? left : sizeof(zeros);

				assert_int_equal(archive_write_data(a, zeros, k), (la_ssize_t)k);
				left -= k;
			}
			archive_entry_free(e);
		}
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
	}
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(fstat(fds[pass], &st), 0);
		buf = malloc((size_t)st.st_size + 1);
		assert_int_equal(pread(fds[pass], buf, (size_t)st.st_size, 0), st.st_size);
		if (pass == 0)
			assert_int_equal(oci_digest_buf(buf, (size_t)st.st_size, ret_diff_id), 0);
		else
			put_blob(f, buf, (size_t)st.st_size, digest);
		free(buf);
		close(fds[pass]);
	}
	return desc(mt, digest, (size_t)st.st_size);
}

/* A manifest with these layers (stolen) and diff_ids; index.json lists only it. */
static json_t *put_multi(struct fx *f, json_t *layers, json_t *diff_ids)
{
	json_t *config = put_json(
		f, MT_OCI_CONFIG,
		json_pack("{s:s, s:s, s:{}, s:{s:s, s:o}}", "architecture", oci_host_arch(), "os",
			  "linux", "config", "rootfs", "type", "layers", "diff_ids", diff_ids));
	json_t *m = put_json(f, MT_OCI_MANIFEST,
			     json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
				       MT_OCI_MANIFEST, "config", config, "layers", layers));

	put_index(f, json_pack("[O]", m));
	return m;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Layers are unpacked over the ones below and stored by chain id; prune follows chain ids. */
static void test_multi_layer_chain_ids(void **state)
{
	static const struct lent l0[] = {
		{ 'd', "home", NULL, 0755 },
		{ 'd', "home/user", NULL, 0700, 1000 },
		{ 'd', "usr" },
		{ 'd', "usr/lib" },
		{ 'f', "usr/lib/a.so", "a" },
		{ 'l', "lib", "usr/lib" },
	};
	static const struct lent l1[] = {
		{ 'f', "lib/b.so", "b" },
		{ 'f', "home/user/.rc", "rc" },
	};
	static const struct lent l2[] = { { 'h', "a.hard", "lib/a.so" } };
	struct fx *f = *state;
	char ids[3][OCI_DIGEST_STR_MAX], chain[3][OCI_DIGEST_STR_MAX], path[512], buf[300];
	json_t *layers = json_array(), *m;
	struct oci_prune_stats ps = {};
	struct oci_image *img;
	const char *in_use[2] = {};
	struct stat st, st2;

	json_array_append_new(layers, put_layer_ents(f, MT_OCI_LAYER_GZ, l0, ARRAY_SIZE(l0),
						     F_GZIP, ids[0]));
	json_array_append_new(layers, put_layer_ents(f, MT_OCI_LAYER_ZSTD, l1, ARRAY_SIZE(l1),
						     F_ZSTD, ids[1]));
	json_array_append_new(layers, put_layer_ents(f, MT_OCI_LAYER, l2, ARRAY_SIZE(l2), F_NONE,
						     ids[2]));
	m = put_multi(f, layers, json_pack("[s,s,s]", ids[0], ids[1], ids[2]));
	/* the image-spec formula, computed here by hand */
	snprintf(chain[0], sizeof(chain[0]), "%s", ids[0]);
	for (int i = 1; i < 3; i++) {
		snprintf(buf, sizeof(buf), "%s %s", chain[i - 1], ids[i]);
		assert_int_equal(oci_digest_buf(buf, strlen(buf), chain[i]), 0);
	}
	img = prepare_ok(f, f->ref);
	assert_int_equal(strv_length(img->layer_dirs), 3);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/layers/sha256/%s", f->store, chain[i] + 7);
		assert_string_equal(img->layer_dirs[i], path);
	}
	/* layer 1 wrote through layer 0's lib symlink, with layer 0's parents */
	assert_layer_file(img, 1, "usr/lib/b.so", "b");
	snprintf(path, sizeof(path), "%s/lib", img->layer_dirs[1]);
	assert_false(fs_exists(path));
	snprintf(path, sizeof(path), "%s/home/user", img->layer_dirs[1]);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	if (geteuid() == 0)
		assert_int_equal(st.st_uid, 1000);
	/* layer 2 linked a file of layer 0: copied up */
	snprintf(path, sizeof(path), "%s/usr/lib/a.so", img->layer_dirs[2]);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/a.hard", img->layer_dirs[2]);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_tmp_empty(f);

	/* in use: every layer dir stays, and so does a dir of the older diff_id keying that a pod
	 * started before may still use; then unreferenced: all go */
	snprintf(path, sizeof(path), "%s/layers/sha256/%s", f->store, ids[1] + 7);
	assert_int_equal(mkdir(path, 0755), 0);
	in_use[0] = json_string_value(json_object_get(m, "digest"));
	assert_int_equal(oci_store_prune(f->store, in_use, &ps, NULL), 0);
	assert_int_equal(ps.layers, 0);
	for (int i = 0; i < 3; i++)
		assert_true(fs_exists(img->layer_dirs[i]));
	assert_true(fs_exists(path));
	assert_int_equal(oci_store_prune(f->store, NULL, &ps, NULL), 0);
	assert_int_equal(ps.layers, 4);
	snprintf(path, sizeof(path), "%s/layers/sha256", f->store);
	assert_int_equal(count_entries(path), 0);
	oci_image_free(img);
	json_decref(m);
}

/* The compression is sniffed from the bytes, whatever the media type says. */
static void test_compression_by_magic(void **state)
{
	static const struct lent l[] = { { 'd', "etc" }, { 'f', "etc/os", "tank\n" } };
	static const struct {
		const char *mt;
		enum filter filter;
	} cases[] = {
		{ MT_OCI_LAYER_ZSTD, F_ZSTD }, /* zstd bytes, zstd media type */
		{ MT_OCI_LAYER_GZ, F_ZSTD },   /* zstd bytes under a gzip media type */
		{ MT_OCI_LAYER_GZ, F_GZIP },   /* gzip */
		{ MT_OCI_LAYER, F_NONE },      /* uncompressed */
		{ MT_OCI_LAYER_ZSTD, F_GZIP }, /* gzip bytes under a zstd media type */
	};
	struct fx *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char id[OCI_DIGEST_STR_MAX], path[300];
		json_t *layers = json_array();
		struct oci_image *img;

		snprintf(path, sizeof(path), "%s/store", f->tmp);
		fs_rm_rf(path);
		json_array_append_new(layers, put_layer_ents(f, cases[i].mt, l, ARRAY_SIZE(l),
							     cases[i].filter, id));
		json_decref(put_multi(f, layers, json_pack("[s]", id)));
		img = prepare_ok(f, f->ref);
		assert_layer_file(img, 0, "etc/os", "tank\n");
		oci_image_free(img);
		assert_tmp_empty(f);
	}
}

/* A decompression bomb spread over layers stops at the image-wide limit, cleanly. */
static void test_image_size_limit(void **state)
{
	static const struct lent l0[] = { { 'z', "zeros0", .size = 6 << 20 } };
	static const struct lent l1[] = { { 'z', "zeros1", .size = 6 << 20 } };
	struct fx *f = *state;
	char ids[2][OCI_DIGEST_STR_MAX], path[300];
	json_t *layers = json_array();
	struct oci_pull_opts o = { .max_unpacked = 10 << 20 };
	struct oci_image *img = NULL;
	struct diag d = {};
	int r;

	json_array_append_new(layers, put_layer_ents(f, MT_OCI_LAYER_GZ, l0, 1, F_GZIP, ids[0]));
	json_array_append_new(layers, put_layer_ents(f, MT_OCI_LAYER_ZSTD, l1, 1, F_ZSTD, ids[1]));
	json_decref(put_multi(f, layers, json_pack("[s,s]", ids[0], ids[1])));
	r = oci_image_prepare_opts(f->store, f->ref, &o, &img, &d);
	if (r != -EFBIG || !strstr(d.msg, "the image unpacks to more than 10485760 bytes"))
		fail_msg("got %d \"%s\"", r, d.msg);
	assert_null(img);
	/* no partial layer dir: only the complete first layer, nothing in tmp */
	assert_tmp_empty(f);
	snprintf(path, sizeof(path), "%s/layers/sha256", f->store);
	assert_int_equal(count_entries(path), 1);
	snprintf(path, sizeof(path), "%s/layers/sha256/%s/zeros0", f->store, ids[0] + 7);
	assert_true(fs_exists(path));
	/* the default limit lets it through */
	o.max_unpacked = 0;
	diag_clear(&d);
	r = oci_image_prepare_opts(f->store, f->ref, &o, &img, &d);
	if (r < 0)
		fail_msg("prepare: %s", diag_text(&d, r));
	oci_image_free(img);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_single_untagged),   T(test_tags),
		T(test_nested_platform),   T(test_index_loop),
		T(test_docker_types),	   T(test_media_type_checks),
		T(test_blob_verification), T(test_config_errors),
		T(test_layout_errors),	   T(test_reuse),
		T(test_concurrent),	   T(test_multi_layer_chain_ids),
		T(test_compression_by_magic), T(test_image_size_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
