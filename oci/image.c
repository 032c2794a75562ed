/* image.c - make an image ready to run: resolve (layout or registry), verify, unpack layers
 * once. */
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

int oci_chain_id(const char *parent, const char *diff_id, char *ret)
{
	_cleanup_free_ char *buf = NULL;
	int r;

	r = oci_digest_check(diff_id, "diff_id", NULL, NULL);
	if (r < 0)
		return r;
	if (!parent) {
		memcpy(ret, diff_id, strlen(diff_id) + 1);
		return 0;
	}
	buf = strdup_printf("%s %s", parent, diff_id);
	if (!buf)
		return -ENOMEM;
	return oci_digest_buf(buf, strlen(buf), ret);
}

/* Budget of file bytes for the layers of one image (oci_pull_opts.max_unpacked). */
struct unpack_budget {
	uint64_t max, used;
};

/*
 * Unpack layer `i` over the layers below it (lower, i entries) into
 * <store>/layers/sha256/<chain_id hex> unless it is there: a temp dir under <store>/tmp, then
 * an atomic rename; if another process won the race, its copy is kept.
 */
static int layer_ensure(const char *store_dir, int layout_fd, const struct oci_descriptor *desc,
			const char *diff_id, const char *chain_id, char *const *lower,
			struct unpack_budget *b, char **ret_dir, struct diag *d)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int blob_fd = -1;
	_cleanup_close_ int tmp_fd = -1;
	uint64_t written = 0;
	struct oci_unpack_opts o = {
		.blob_digest = desc->digest,
		.blob_size = desc->size,
		.diff_id = diff_id,
		.lower_dirs = (const char *const *)lower,
		.ret_bytes = &written,
	};
	const char *hex;
	int r;

	r = oci_digest_check(chain_id, "chain_id", &hex, d);
	if (r < 0)
		return r;
	dir = strdup_printf("%s/layers/sha256/%s", store_dir, hex);
	if (!dir)
		return -ENOMEM;
	if (is_dir(dir)) /* a layer dir that exists is complete */
		goto done;

	if (b->used >= b->max)
		return diag_fail(d, -EFBIG,
				 "layer %s: the image unpacks to more than %llu bytes (the limit "
				 "for all its layers); refusing to unpack it",
				 desc->digest, (unsigned long long)b->max);
	o.max_bytes = b->max - b->used;
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
	b->used += written;
	if (r == -EFBIG && b->used > b->max) {
		diag_clear(d);
		r = diag_fail(d, -EFBIG,
			      "the image unpacks to more than %llu bytes (the limit for all its "
			      "layers; a decompression bomb?); refusing to unpack it",
			      (unsigned long long)b->max);
	}
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

void oci_progress_emit(struct oci_progress_sink *s, enum oci_progress_phase phase,
		       const char *digest, uint64_t done, uint64_t total, const char *message)
{
	struct oci_progress ev = {
		.phase = phase,
		.digest = digest,
		.done = done,
		.total = total,
		.message = message,
	};

	if (!s || !s->fn)
		return;
	ev.download_ms = s->download_ms;
	ev.unpack_ms = s->unpack_ms;
	s->fn(&ev, s->data);
}

/* Keep a layout's manifest and config in the store too, so that pruning can see what an image
 * in use needs. */
static int copy_to_store(int store_fd, int layout_fd, const char *digest, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	if (oci_store_has_blob(store_fd, digest, -1))
		return 0;
	r = oci_blob_open(layout_fd, digest, -1, "manifest", &fd, d);
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return diag_fail(d, -errno, "manifest %s: fstat: %m", digest);
	r = oci_blob_read(layout_fd, digest, st.st_size, OCI_MANIFEST_MAX, "manifest", &buf, &len,
			  d);
	if (r < 0)
		return r;
	return oci_store_put_blob(store_fd, digest, buf, len, d);
}

int oci_image_assemble(const char *store_dir, int blobs_fd, const char *ref,
		       const struct oci_manifest *m, uint64_t max_unpacked,
		       struct oci_progress_sink *sink, struct oci_image **ret, struct diag *d)
{
	struct unpack_budget budget = { .max = max_unpacked ? max_unpacked
							     : OCI_IMAGE_UNPACKED_MAX };
	char chain[OCI_DIGEST_STR_MAX] = "";
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	_cleanup_strv_ char **diff_ids = NULL;
	_cleanup_free_ char *cfg_buf = NULL;
	size_t cfg_len;
	int r;

	r = oci_blob_read(blobs_fd, m->config.digest, m->config.size, OCI_MANIFEST_MAX, "config",
			  &cfg_buf, &cfg_len, d);
	if (r < 0)
		return r;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	r = oci_config_parse(cfg_buf, cfg_len, m->n_layers, &img->config, &diff_ids, d);
	if (r < 0)
		return r;
	img->ref = strdup(ref);
	img->manifest_digest = strdup(m->digest);
	img->config_digest = strdup(m->config.digest);
	img->layer_dirs = calloc(m->n_layers + 1, sizeof(char *));
	if (!img->ref || !img->manifest_digest || !img->config_digest || !img->layer_dirs)
		return -ENOMEM;

	for (size_t i = 0; i < m->n_layers; i++) {
		const struct oci_descriptor *l = &m->layers[i];
		uint64_t t0 = now_mono_ms();
		const char *hex;
		char *dir;

		r = oci_digest_check(diff_ids[i], "diff_id", &hex, d);
		if (r < 0)
			return r;
		r = oci_chain_id(i ? chain : NULL, diff_ids[i], chain);
		if (r < 0)
			return diag_fail(d, r, "computing the chain id of layer %zu failed", i);
		hex = chain + strlen("sha256:");
		dir = strdup_printf("%s/layers/sha256/%s", store_dir, hex);
		if (!dir)
			return -ENOMEM;
		if (!is_dir(dir))
			oci_progress_emit(sink, OCI_PROGRESS_UNPACKING, l->digest, 0,
					  (uint64_t)l->size, NULL);
		free(dir);
		r = layer_ensure(store_dir, blobs_fd, l, diff_ids[i], chain, img->layer_dirs,
				 &budget, &img->layer_dirs[i], d);
		if (sink)
			sink->unpack_ms += now_mono_ms() - t0;
		if (r < 0)
			return r;
		oci_progress_emit(sink, OCI_PROGRESS_DONE, l->digest, (uint64_t)l->size,
				  (uint64_t)l->size, NULL);
	}
	img->unpacked = budget.used;
	*ret = TAKE_PTR(img);
	return 0;
}

int oci_image_prepare_opts(const char *store_dir, const char *ref, const struct oci_pull_opts *o,
			   struct oci_image **ret, struct diag *d)
{
	_cleanup_(oci_ref_clear) struct oci_ref pr = {};
	_cleanup_(oci_manifest_clear) struct oci_manifest m = {};
	_cleanup_close_ int layout_fd = -1;
	_cleanup_close_ int store_fd = -1;
	_cleanup_close_ int lock_fd = -1;
	struct oci_progress_sink sink = { .fn = o ? o->progress : NULL,
					  .data = o ? o->progress_data : NULL };
	int r;

	if (!store_dir || store_dir[0] != '/')
		return diag_fail(d, -EINVAL, "image store directory must be an absolute path");
	r = oci_ref_parse(ref, &pr, d);
	if (r < 0)
		return r;
	if (pr.registry) {
		r = oci_registry_prepare(store_dir, &pr, ref, o, ret, d);
		if (r < 0)
			diag_prefix(d, "image \"%.200s\": ", ref);
		return r;
	}
	layout_fd = open(pr.layout, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (layout_fd < 0)
		return diag_fail_at(d, -errno, pr.layout, "image \"%.200s\": opening layout %s: %m",
				    ref, pr.layout);
	r = oci_store_open(store_dir, &store_fd, d);
	if (r >= 0)
		r = oci_store_lock(store_fd, false, true, &lock_fd, d);
	if (r >= 0)
		r = oci_layout_resolve(layout_fd, pr.tag, &m, d);
	if (r >= 0)
		r = copy_to_store(store_fd, layout_fd, m.digest, d);
	if (r >= 0)
		r = copy_to_store(store_fd, layout_fd, m.config.digest, d);
	if (r >= 0)
		r = oci_image_assemble(store_dir, layout_fd, ref, &m, o ? o->max_unpacked : 0,
				       &sink, ret, d);
	if (r < 0) {
		diag_prefix(d, "image \"%.200s\": ", ref);
		return r;
	}
	oci_progress_emit(&sink, OCI_PROGRESS_DONE, NULL, 0, 0, NULL);
	return 0;
}

int oci_image_prepare(const char *store_dir, const char *ref, struct oci_image **ret,
		      struct diag *d)
{
	return oci_image_prepare_opts(store_dir, ref, NULL, ret, d);
}
