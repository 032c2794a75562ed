/* registry_pull.c - pulling a registry image into the store as the pull policy says. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/registry_int.h"

#define DOCS_MAX 8 /* manifests and indexes on the way to the image manifest */

struct doc {
	char *digest;
	char *buf;
	size_t len;
};

struct pull {
	struct oci_registry *reg;
	int store_fd;
	struct doc docs[DOCS_MAX];
	size_t n_docs;
};

static void pull_clear(struct pull *p)
{
	for (size_t i = 0; i < p->n_docs; i++) {
		free(p->docs[i].digest);
		free(p->docs[i].buf);
	}
	p->n_docs = 0;
	oci_registry_close(p->reg);
	p->reg = NULL;
}

/* Keep a verified document to write into the store once the pull has succeeded. */
static int keep_doc(struct pull *p, const char *digest, const char *buf, size_t len)
{
	struct doc *dc;

	if (p->n_docs >= DOCS_MAX)
		return -ELOOP;
	dc = &p->docs[p->n_docs];
	dc->digest = strdup(digest);
	dc->buf = malloc(len + 1);
	if (!dc->digest || !dc->buf) {
		free(dc->digest);
		free(dc->buf);
		return -ENOMEM;
	}
	memcpy(dc->buf, buf, len);
	dc->len = len;
	p->n_docs++;
	return 0;
}

static int registry_fetch(void *data, const struct oci_descriptor *desc, char **ret_buf,
			  size_t *ret_len, char **ret_media_type, struct diag *d)
{
	struct pull *p = data;
	int r;

	r = oci_registry_get_manifest(p->reg, desc->digest, desc, ret_buf, ret_len,
				      ret_media_type, NULL, d);
	if (r < 0)
		return r;
	r = keep_doc(p, desc->digest, *ret_buf, *ret_len);
	if (r < 0) {
		free(*ret_buf);
		free(*ret_media_type);
		*ret_buf = *ret_media_type = NULL;
	}
	return r;
}

static int store_fetch(void *data, const struct oci_descriptor *desc, char **ret_buf,
		       size_t *ret_len, char **ret_media_type, struct diag *d)
{
	*ret_media_type = NULL;
	return oci_blob_read(*(int *)data, desc->digest, desc->size, OCI_MANIFEST_MAX, "manifest",
			     ret_buf, ret_len, d);
}

static bool is_dir_at(int fd, const char *path)
{
	struct stat st;

	return fstatat(fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* The layers whose unpacked directory is missing (by diff_id) and whose blob is not stored.
 * With ret NULL: whether there are none. */
static int layers_missing(int store_fd, const struct oci_manifest *m, const char *cfg,
			  size_t cfg_len, struct oci_descriptor **ret, size_t *ret_n,
			  struct diag *d)
{
	_cleanup_(oci_image_config_clear) struct oci_image_config c = {};
	_cleanup_strv_ char **diff_ids = NULL;
	struct oci_descriptor *v = NULL;
	char chain[OCI_DIGEST_STR_MAX];
	size_t n = 0;
	int r;

	r = oci_config_parse(cfg, cfg_len, m->n_layers, &c, &diff_ids, d);
	if (r < 0)
		return r;
	if (ret && !(v = calloc(m->n_layers + 1, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < m->n_layers; i++) {
		char path[128];

		/* unpacked layers are keyed by chain id (each sits over the layers below it) */
		r = oci_chain_id(i ? chain : NULL, diff_ids[i], chain);
		if (r < 0) {
			free(v);
			return diag_fail(d, r, "layer %zu: bad diff_id %s", i, diff_ids[i]);
		}
		snprintf(path, sizeof(path), "layers/sha256/%s", chain + strlen("sha256:"));
		if (is_dir_at(store_fd, path) ||
		    oci_store_has_blob(store_fd, m->layers[i].digest, m->layers[i].size))
			continue;
		if (!ret)
			return 0;
		v[n++] = m->layers[i]; /* borrowed */
	}
	if (ret) {
		*ret = v;
		*ret_n = n;
	}
	return ret ? 0 : 1;
}

/* The image as the store has it: the reference's record (or its digest), the manifests, the
 * config and every layer (unpacked or as a blob). -ENOENT when anything is missing. */
static int local_resolve(int store_fd, const struct oci_ref *ref, const char *canon,
			 const struct oci_platform *plat, struct oci_manifest *ret,
			 char **ret_top, struct diag *d)
{
	_cleanup_(oci_store_image_clear) struct oci_store_image rec = {};
	_cleanup_(oci_manifest_clear) struct oci_manifest m = {};
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ char *cfg = NULL;
	const char *top = ref->digest;
	size_t len, cfg_len;
	int r;

	if (!top) {
		r = oci_store_ref_get(store_fd, canon, &rec, NULL);
		if (r < 0)
			return -ENOENT;
		top = rec.digest;
	}
	if (!oci_store_has_blob(store_fd, top, -1))
		return -ENOENT;
	r = oci_store_read_blob(store_fd, top, OCI_MANIFEST_MAX, &buf, &len, d);
	if (r < 0)
		return r;
	r = oci_manifest_resolve(buf, len, top, NULL, plat, store_fetch, &store_fd, &m, d);
	if (r == -ENOENT) /* this platform's manifest was never pulled */
		return r;
	if (r < 0)
		return r;
	if (!oci_store_has_blob(store_fd, m.config.digest, m.config.size))
		return -ENOENT;
	r = oci_blob_read(store_fd, m.config.digest, m.config.size, OCI_MANIFEST_MAX, "config",
			  &cfg, &cfg_len, d);
	if (r < 0)
		return r;
	r = layers_missing(store_fd, &m, cfg, cfg_len, NULL, NULL, d);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*ret_top = strdup(top);
	if (!*ret_top)
		return -ENOMEM;
	*ret = m;
	memset(&m, 0, sizeof(m));
	return 0;
}

static int pull(int store_fd, const struct oci_ref *ref, const struct oci_pull_opts *o,
		const struct oci_platform *plat, struct oci_progress_sink *sink,
		struct oci_manifest *ret, char *ret_top, struct diag *d)
{
	_cleanup_(pull_clear) struct pull p = { .store_fd = store_fd };
	_cleanup_(oci_manifest_clear) struct oci_manifest m = {};
	_cleanup_free_ struct oci_descriptor *need = NULL;
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ char *ct = NULL;
	_cleanup_free_ char *cfg = NULL;
	size_t len, cfg_len, n_need = 0;
	int r;

	r = oci_registry_open(ref, o, sink, &p.reg, d);
	if (r < 0)
		return r;
	r = oci_registry_get_manifest(p.reg, ref->digest ? ref->digest : ref->tag, NULL, &buf,
				      &len, &ct, ret_top, d);
	if (r < 0)
		return r;
	r = keep_doc(&p, ret_top, buf, len);
	if (r < 0)
		return r;
	r = oci_manifest_resolve(buf, len, ret_top, ct, plat, registry_fetch, &p, &m, d);
	if (r < 0)
		return r;

	if (oci_store_has_blob(store_fd, m.config.digest, m.config.size))
		r = oci_blob_read(store_fd, m.config.digest, m.config.size, OCI_MANIFEST_MAX,
				  "config", &cfg, &cfg_len, d);
	else
		r = oci_registry_get_blob(p.reg, &m.config, OCI_MANIFEST_MAX, &cfg, &cfg_len, d);
	if (r < 0)
		return r;
	r = layers_missing(store_fd, &m, cfg, cfg_len, &need, &n_need, d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_need; i++)
		oci_progress_emit(sink, OCI_PROGRESS_DOWNLOADING, need[i].digest, 0,
				  (uint64_t)need[i].size, NULL);
	r = oci_registry_fetch_blobs(p.reg, store_fd, need, n_need, d);
	if (r < 0)
		return r;

	/* everything arrived and was verified: now the documents go into the store */
	r = oci_store_put_blob(store_fd, m.config.digest, cfg, cfg_len, d);
	for (size_t i = 0; i < p.n_docs && r >= 0; i++)
		r = oci_store_put_blob(store_fd, p.docs[i].digest, p.docs[i].buf, p.docs[i].len,
				       d);
	if (r < 0)
		return r;
	*ret = m;
	memset(&m, 0, sizeof(m));
	return 0;
}

int oci_registry_prepare(const char *store_dir, const struct oci_ref *ref, const char *ref_text,
			 const struct oci_pull_opts *o, struct oci_image **ret, struct diag *d)
{
	_cleanup_(oci_manifest_clear) struct oci_manifest m = {};
	_cleanup_free_ char *canon = oci_ref_canonical(ref);
	_cleanup_free_ char *local_top = NULL;
	_cleanup_close_ int store_fd = -1;
	_cleanup_close_ int lock_fd = -1;
	enum oci_pull_policy policy = o ? o->policy : OCI_PULL_IF_NOT_PRESENT;
	uint64_t max_unpacked = o ? o->max_unpacked : 0;
	struct oci_progress_sink sink = { .fn = o ? o->progress : NULL,
					  .data = o ? o->progress_data : NULL };
	struct oci_store_image rec = {};
	char top[OCI_DIGEST_STR_MAX];
	struct oci_platform plat;
	uint64_t size;
	int r;

	if (!canon)
		return -ENOMEM;
	r = oci_platform_parse(o ? o->platform : NULL, &plat, d);
	if (r < 0)
		return r;
	r = oci_store_open(store_dir, &store_fd, d);
	if (r < 0)
		return r;
	r = oci_store_lock(store_fd, false, true, &lock_fd, d);
	if (r < 0)
		return r;

	if (policy != OCI_PULL_ALWAYS) {
		r = local_resolve(store_fd, ref, canon, &plat, &m, &local_top, d);
		if (r >= 0) {
			r = oci_image_assemble(store_dir, store_fd, ref_text, &m, max_unpacked,
					       &sink, ret, d);
			if (r >= 0)
				oci_progress_emit(&sink, OCI_PROGRESS_DONE, NULL, 0, 0, NULL);
			return r;
		}
		if (r != -ENOENT)
			return r;
		diag_clear(d);
		if (policy == OCI_PULL_NEVER)
			return diag_fail(d, -ENOENT,
					 "%s is not in the local image store and the pull policy "
					 "is \"never\"; pull it first",
					 canon);
	}

	r = pull(store_fd, ref, o, &plat, &sink, &m, top, d);
	if (r < 0)
		return r;
	r = oci_image_assemble(store_dir, store_fd, ref_text, &m, max_unpacked, &sink, ret, d);
	if (r < 0)
		return r;
	size = (uint64_t)m.config.size;
	for (size_t i = 0; i < m.n_layers; i++)
		size += (uint64_t)m.layers[i].size;
	rec = (struct oci_store_image){ .ref = canon, .digest = top, .manifest_digest = m.digest,
					.config_digest = m.config.digest, .size = size,
					.pulled_ms = now_wall_ms() };
	r = oci_store_ref_put(store_fd, &rec, d);
	if (r < 0) {
		oci_image_free(*ret);
		*ret = NULL;
		return r;
	}
	oci_progress_emit(&sink, OCI_PROGRESS_DONE, NULL, 0, 0, NULL);
	return 0;
}
