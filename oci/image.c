/* image.c - make an image ready to run: resolve, verify, unpack layers once into the store. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci.h"

void oci_image_free(struct oci_image *img)
{
	if (!img)
		return;
	free(img->ref);
	free(img->manifest_digest);
	free(img->config_digest);
	strv_free(img->layer_dirs);
	oci_image_config_clear(&img->config);
	free(img);
}

static void oci_image_freep(struct oci_image **img)
{
	oci_image_free(*img);
}

static bool is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Unpack one layer into <store>/layers/sha256/<hex> unless it is there: a temp dir under
 * <store>/tmp, then an atomic rename; if another process won the race, its copy is kept.
 */
static int layer_ensure(const char *store_dir, int layout_fd, const struct oci_descriptor *desc,
			const char *diff_id, char **ret_dir, struct diag *d)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int blob_fd = -1;
	_cleanup_close_ int tmp_fd = -1;
	struct oci_unpack_opts o = {
		.blob_digest = desc->digest,
		.blob_size = desc->size,
		.diff_id = diff_id,
	};
	const char *hex;
	int r;

	r = oci_digest_check(diff_id, "diff_id", &hex, d);
	if (r < 0)
		return r;
	dir = strdup_printf("%s/layers/sha256/%s", store_dir, hex);
	if (!dir)
		return -ENOMEM;
	if (is_dir(dir)) /* a layer dir that exists is complete */
		goto done;

	r = oci_blob_open(layout_fd, desc->digest, desc->size, "layer", &blob_fd, d);
	if (r < 0)
		return r;
	tmp = strdup_printf("%s/tmp/layer-%.12s-XXXXXX", store_dir, hex);
	if (!tmp)
		return -ENOMEM;
	if (!mkdtemp(tmp))
		return diag_fail_at(d, -errno, store_dir, "creating a temp dir under %s/tmp: %m",
				    store_dir);
	tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp_fd < 0 || fchmod(tmp_fd, 0755) < 0) {
		r = diag_fail_at(d, -errno, tmp, "opening %s: %m", tmp);
		goto fail;
	}
	r = oci_layer_unpack_opts(blob_fd, tmp, &o, d);
	if (r < 0) {
		diag_prefix(d, "layer %s: ", desc->digest);
		goto fail;
	}
	/* the rename publishes the layer as complete: its content must be on disk first */
	if (syncfs(tmp_fd) < 0) {
		r = diag_fail_at(d, -errno, tmp, "syncing %s: %m", tmp);
		goto fail;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if ((r == -EEXIST || r == -ENOTEMPTY) && is_dir(dir)) {
			fs_rm_rf(tmp); /* another process unpacked it first: keep theirs */
			goto done;
		}
		diag_fail_at(d, r, dir, "moving the unpacked layer to %s: %s", dir, strerror(-r));
		goto fail;
	}
done:
	*ret_dir = TAKE_PTR(dir);
	return 0;
fail:
	fs_rm_rf(tmp);
	return r;
}

int oci_image_prepare(const char *store_dir, const char *ref, struct oci_image **ret,
		      struct diag *d)
{
	_cleanup_(oci_ref_clear) struct oci_ref pr = {};
	_cleanup_(oci_manifest_clear) struct oci_manifest m = {};
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	_cleanup_strv_ char **diff_ids = NULL;
	_cleanup_free_ char *cfg_buf = NULL;
	_cleanup_free_ char *sub = NULL;
	_cleanup_close_ int layout_fd = -1;
	size_t cfg_len;
	int r;

	if (!store_dir || store_dir[0] != '/')
		return diag_fail(d, -EINVAL, "image store directory must be an absolute path");
	r = oci_ref_parse(ref, &pr, d);
	if (r < 0)
		return r;
	layout_fd = open(pr.layout, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (layout_fd < 0)
		return diag_fail_at(d, -errno, pr.layout, "image \"%.200s\": opening layout %s: %m",
				    ref, pr.layout);

	r = oci_layout_resolve(layout_fd, pr.tag, &m, d);
	if (r < 0)
		goto fail;
	r = oci_blob_read(layout_fd, m.config.digest, m.config.size, OCI_MANIFEST_MAX, "config",
			  &cfg_buf, &cfg_len, d);
	if (r < 0)
		goto fail;

	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	r = oci_config_parse(cfg_buf, cfg_len, m.n_layers, &img->config, &diff_ids, d);
	if (r < 0)
		goto fail;
	img->ref = strdup(ref);
	img->manifest_digest = strdup(m.digest);
	img->config_digest = strdup(m.config.digest);
	img->layer_dirs = calloc(m.n_layers + 1, sizeof(char *));
	if (!img->ref || !img->manifest_digest || !img->config_digest || !img->layer_dirs)
		return -ENOMEM;

	if (m.n_layers > 0) {
		const char *subs[] = { "layers/sha256", "tmp" };

		for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
			free(sub);
			sub = strdup_printf("%s/%s", store_dir, subs[i]);
			if (!sub)
				return -ENOMEM;
			r = fs_mkdir_p(sub, 0700);
			if (r < 0) {
				diag_fail_at(d, r, sub, "creating %s: %s", sub, strerror(-r));
				goto fail;
			}
		}
	}
	for (size_t i = 0; i < m.n_layers; i++) {
		r = layer_ensure(store_dir, layout_fd, &m.layers[i], diff_ids[i],
				 &img->layer_dirs[i], d);
		if (r < 0)
			goto fail;
	}
	*ret = TAKE_PTR(img);
	return 0;
fail:
	diag_prefix(d, "image \"%.200s\": ", ref);
	return r;
}
