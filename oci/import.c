/* import.c - OCI image layouts (a directory or a tar of one) into the store, with references. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci.h"

#define IMPORT_READ_CHUNK (256u << 10)

typedef ssize_t (*import_read_fn)(void *ctx, void *buf, size_t len);

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

/* Stream one blob into blobs/sha256/<hex> of the store: written to tmp/, hashed while written,
 * renamed into place when the digest matches. *budget: bytes still allowed. */
static int put_stream(int store_fd, const char *digest, import_read_fn rd, void *ctx,
		      uint64_t *budget, struct diag *d)
{
	_cleanup_(oci_digest_done) struct oci_digest h = {};
	_cleanup_free_ char *buf = malloc(IMPORT_READ_CHUNK);
	_cleanup_close_ int fd = -1, lock = -1;
	char tmp[160], path[128], got[OCI_DIGEST_STR_MAX];
	const char *hex;
	int r;

	r = oci_digest_check(digest, "blob", &hex, d);
	if (r < 0)
		return r;
	if (!buf)
		return -ENOMEM;
	/* one writer per digest, as for pulls: a pull (or import) of the same blob that held the
	 * lock first may have stored it meanwhile */
	r = oci_store_blob_lock(store_fd, digest, true, &lock);
	if (r < 0)
		return diag_fail(d, r, "locking blob %s: %s", digest, strerror(-r));
	if (oci_store_has_blob(store_fd, digest, -1))
		return 0;
	snprintf(tmp, sizeof(tmp), "tmp/import-%s.%d", hex, (int)getpid());
	snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
	r = oci_digest_init(&h);
	if (r < 0)
		return diag_fail(d, r, "sha256 init failed");
	fd = openat(store_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return diag_fail(d, -errno, "creating %s in the image store: %m", tmp);
	for (;;) {
		ssize_t n = rd(ctx, buf, IMPORT_READ_CHUNK);

		if (n < 0) {
			r = diag_fail(d, (int)n, "blob %s: reading it failed", digest);
			goto fail;
		}
		if (n == 0)
			break;
		if ((uint64_t)n > *budget) {
			r = diag_fail(d, -EFBIG, "the image is larger than the import limit");
			goto fail;
		}
		*budget -= (uint64_t)n;
		oci_digest_update(&h, buf, (size_t)n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = diag_fail(d, -errno, "writing %s: %m", tmp);
				goto fail;
			}
			off += w;
		}
	}
	r = oci_digest_final(&h, got);
	if (r < 0)
		goto fail;
	if (strcmp(got, digest)) {
		r = diag_fail(d, -EBADMSG, "blob %s: digest mismatch (got %s)", digest, got);
		goto fail;
	}
	if (fsync(fd) < 0 || renameat(store_fd, tmp, store_fd, path) < 0) {
		r = diag_fail(d, -errno, "storing blob %s: %m", digest);
		goto fail;
	}
	return 0;
fail:
	unlinkat(store_fd, tmp, 0);
	return r;
}

static ssize_t read_archive(void *ctx, void *buf, size_t len)
{
	la_ssize_t n = archive_read_data(ctx, buf, len);

	return n < 0 ? -EIO : (ssize_t)n;
}

static ssize_t read_fd(void *ctx, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(*(int *)ctx, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * A tar of a layout: blobs go straight from the archive into the store (verified by their
 * names); index.json into memory. Only "oci-layout", "index.json" and "blobs/sha256/<hex>"
 * (regular files, an optional leading "./") are read; nothing is written by the archive's names.
 */
static int read_tar(int store_fd, const char *file, uint64_t *budget, char **ret_index,
		    size_t *ret_len, struct diag *d)
{
	_cleanup_(archive_freep) struct archive *a = archive_read_new();
	_cleanup_free_ char *index = NULL;
	struct archive_entry *e;
	size_t n_entries = 0, index_len = 0;
	bool docker_manifest = false;
	int r;

	if (!a)
		return -ENOMEM;
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK)
		return diag_fail(d, -EINVAL, "%s: not a readable tar: %s", file,
				 archive_error_string(a));
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		char digest[OCI_DIGEST_STR_MAX];

		if (++n_entries > OCI_IMPORT_ENTRIES_MAX)
			return diag_fail(d, -E2BIG, "%s: more than %u entries", file,
					 OCI_IMPORT_ENTRIES_MAX);
		while (name && !strncmp(name, "./", 2))
			name += 2;
		if (!name || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (!strcmp(name, "manifest.json"))
			docker_manifest = true;
		if (!strcmp(name, "index.json")) {
			la_int64_t sz = archive_entry_size(e);

			if (index || sz < 0 || sz > (la_int64_t)OCI_MANIFEST_MAX)
				return diag_fail(d, -EFBIG, "%s: index.json is missing a size, "
					      "repeated or larger than %u bytes", file,
					      OCI_MANIFEST_MAX);
			index = malloc((size_t)sz + 1);
			if (!index)
				return -ENOMEM;
			for (index_len = 0; index_len < (size_t)sz;) {
				la_ssize_t k = archive_read_data(a, index + index_len,
								 (size_t)sz - index_len);

				if (k <= 0)
					return diag_fail(d, -EIO, "%s: index.json: %s", file,
							 archive_error_string(a));
				index_len += (size_t)k;
			}
			index[index_len] = '\0';
			continue;
		}
		if (strncmp(name, "blobs/sha256/", 13) || strlen(name + 13) != 64)
			continue;
		snprintf(digest, sizeof(digest), "sha256:%s", name + 13);
		if (oci_digest_check(digest, "blob", NULL, NULL) < 0 ||
		    oci_store_has_blob(store_fd, digest, archive_entry_size(e)))
			continue;
		r = put_stream(store_fd, digest, read_archive, a, budget, d);
		if (r < 0) {
			diag_prefix(d, "%s: ", file);
			return r;
		}
	}
	if (r != ARCHIVE_EOF)
		return diag_fail(d, -EIO, "%s: reading the tar failed: %s", file,
				 archive_error_string(a));
	if (!index)
		return diag_fail(d, -EINVAL, "%s: no index.json: not an OCI image layout%s", file,
				 docker_manifest ? " (a docker-archive: convert it with `skopeo copy "
						   "docker-archive:FILE oci-archive:NEW`)"
						 : "");
	*ret_index = TAKE_PTR(index);
	*ret_len = index_len;
	return 0;
}

struct import_src {
	int blobs_fd, store_fd;
	bool copy; /* blobs_fd is a layout directory: copy what is used into the store */
	uint64_t *budget;
	uint64_t unpack_left; /* file bytes all the images of this import may still unpack to */
};

static int fetch_doc(void *data, const struct oci_descriptor *desc, char **ret_buf,
		     size_t *ret_len, char **ret_media_type, struct diag *d)
{
	struct import_src *s = data;
	int r = oci_blob_read(s->blobs_fd, desc->digest, desc->size, OCI_MANIFEST_MAX, "manifest",
			      ret_buf, ret_len, d);

	if (r >= 0 && s->copy)
		r = oci_store_put_blob(s->store_fd, desc->digest, *ret_buf, *ret_len, d);
	if (r < 0) {
		free(*ret_buf);
		*ret_buf = NULL;
		return r;
	}
	if (ret_media_type)
		*ret_media_type = NULL;
	return 0;
}

static int copy_layer(struct import_src *s, const struct oci_descriptor *l, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (oci_store_has_blob(s->store_fd, l->digest, l->size))
		return 0;
	r = oci_blob_open(s->blobs_fd, l->digest, l->size, "layer", &fd, d);
	if (r < 0)
		return r;
	return put_stream(s->store_fd, l->digest, read_fd, &fd, s->budget, d);
}

char *oci_import_name(const char *name, struct diag *d)
{
	_cleanup_(oci_ref_clear) struct oci_ref r = {};
	_cleanup_free_ char *full = NULL;
	const char *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : 0;
	bool domain = slash && oci_ref_names_registry(name, n);

	full = domain ? strdup(name) : strdup_printf("localhost/%s", name);
	if (!full)
		return NULL;
	if (oci_ref_parse(full, &r, d) < 0 || r.layout) {
		diag_fail(d, -EINVAL, "\"%.200s\" is not a valid image name", name);
		return NULL;
	}
	return oci_ref_canonical(&r);
}

/* One entry of index.json: resolved for this machine, blobs in the store, layers unpacked,
 * the reference recorded. */
static int import_one(const char *store_dir, struct import_src *s, json_t *desc_j,
		      const char *ref, const struct oci_pull_opts *o,
		      struct oci_progress_sink *sink, struct oci_import_result *ret, struct diag *d)
{
	_cleanup_(oci_manifest_clear) struct oci_manifest m = {};
	_cleanup_free_ char *buf = NULL;
	struct oci_descriptor top = {
		.media_type = (char *)json_str(desc_j, "mediaType", NULL),
		.digest = (char *)json_str(desc_j, "digest", NULL),
		.size = json_int(desc_j, "size", -1),
	};
	struct oci_image *img = NULL;
	struct oci_store_image rec;
	size_t len;
	uint64_t size;
	int r;

	if (!top.digest || top.size < 0)
		return diag_fail(d, -EINVAL, "index.json: a manifest without digest or size");
	r = oci_digest_check(top.digest, "manifest", NULL, d);
	if (r >= 0)
		r = fetch_doc(s, &top, &buf, &len, NULL, d);
	if (r >= 0)
		r = oci_manifest_resolve(buf, len, top.digest, top.media_type, NULL, fetch_doc, s,
					 &m, d);
	if (r >= 0 && s->copy) {
		free(buf);
		buf = NULL;
		r = fetch_doc(s, &m.config, &buf, &len, NULL, d);
		for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
			r = copy_layer(s, &m.layers[i], d);
	}
	/* the unpack limit holds for the whole import, not for each of its images */
	if (r >= 0 && s->unpack_left == 0)
		r = diag_fail(d, -EFBIG, "the images of this import unpack to more than %llu bytes",
			      (unsigned long long)(o && o->max_unpacked ? o->max_unpacked
							   : OCI_IMAGE_UNPACKED_MAX));
	if (r >= 0)
		r = oci_image_assemble(store_dir, s->store_fd, ref, &m, s->unpack_left, sink, &img,
				       d);
	if (r < 0)
		return r;
	s->unpack_left -= img->unpacked < s->unpack_left ? img->unpacked : s->unpack_left;
	oci_image_free(img);
	size = (uint64_t)m.config.size;
	for (size_t i = 0; i < m.n_layers; i++)
		size += (uint64_t)m.layers[i].size;
	rec = (struct oci_store_image){ .ref = (char *)ref, .digest = top.digest,
					.manifest_digest = m.digest,
					.config_digest = m.config.digest, .size = size,
					.pulled_ms = now_wall_ms() };
	r = oci_store_ref_put(s->store_fd, &rec, d);
	if (r < 0)
		return r;
	ret->ref = strdup(ref);
	ret->manifest_digest = strdup(m.digest);
	ret->layers = m.n_layers;
	ret->size = size;
	return ret->ref && ret->manifest_digest ? 0 : -ENOMEM;
}

static const char *ref_name_of(json_t *desc)
{
	json_t *ann = json_object_get(desc, "annotations");
	const char *n = json_str(ann, "io.containerd.image.name", NULL);

	return n && *n ? n : json_str(ann, "org.opencontainers.image.ref.name", NULL);
}

int oci_image_import(const char *store_dir, const char *path, const char *only_tag,
		     const char *name, const struct oci_pull_opts *o,
		     struct oci_import_result **ret, size_t *ret_n, struct diag *d)
{
	_cleanup_close_ int store_fd = -1, lock_fd = -1, layout_fd = -1;
	_cleanup_free_ char *index = NULL, *extra = NULL;
	_cleanup_json_ json_t *idx = NULL;
	struct oci_progress_sink sink = { .fn = o ? o->progress : NULL,
					  .data = o ? o->progress_data : NULL };
	uint64_t budget = OCI_IMPORT_BYTES_MAX;
	struct oci_import_result *res = NULL;
	struct import_src s = {
		.budget = &budget,
		.unpack_left = o && o->max_unpacked ? o->max_unpacked : OCI_IMAGE_UNPACKED_MAX,
	};
	json_t *mans, *desc;
	size_t n = 0, i, picked = 0;
	struct stat st;
	int r;

	if (!store_dir || store_dir[0] != '/' || !path || path[0] != '/')
		return diag_fail(d, -EINVAL, "import: absolute paths needed");
	if (name && !(extra = oci_import_name(name, d)))
		return d && d->err ? d->err : -ENOMEM;
	if (stat(path, &st) < 0)
		return diag_fail_at(d, -errno, path, "%s: %m", path);
	r = oci_store_open(store_dir, &store_fd, d);
	if (r >= 0)
		r = oci_store_lock(store_fd, false, true, &lock_fd, d);
	if (r < 0)
		return r;
	s.store_fd = store_fd;
	if (S_ISDIR(st.st_mode)) {
		layout_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (layout_fd < 0)
			return diag_fail(d, -errno, "%s: %m", path);
		r = fs_read_all(layout_fd, "index.json", OCI_MANIFEST_MAX, &index, &n);
		if (r < 0)
			return diag_fail(d, r, "%s/index.json: %s (not an OCI image layout?)", path,
					 strerror(-r));
		s.blobs_fd = layout_fd;
		s.copy = true;
	} else if (S_ISREG(st.st_mode)) {
		r = read_tar(store_fd, path, &budget, &index, &n, d);
		if (r < 0)
			return r;
		s.blobs_fd = store_fd;
	} else {
		return diag_fail(d, -EINVAL, "%s: neither a directory nor a file", path);
	}
	r = json_parse_buf(index, n, &idx, d);
	if (r < 0) {
		diag_prefix(d, "%s: index.json: ", path);
		return r;
	}
	mans = json_object_get(idx, "manifests");
	if (!json_is_array(mans) || json_array_size(mans) == 0)
		return diag_fail(d, -EINVAL, "%s: index.json lists no manifests", path);
	if (json_array_size(mans) > OCI_IMPORT_MANIFESTS_MAX)
		return diag_fail(d, -E2BIG, "%s: index.json lists more than %u manifests", path,
				 OCI_IMPORT_MANIFESTS_MAX);
	json_array_foreach(mans, i, desc) {
		const char *rn = ref_name_of(desc);

		if (!only_tag || (rn && !strcmp(rn, only_tag)))
			picked++;
	}
	if (!picked)
		return diag_fail(d, -ENOENT, "%s: no manifest named \"%s\"", path, only_tag);
	if (extra && picked > 1)
		return diag_fail(d, -EINVAL, "%s: a name is only for an archive of one image (pick "
				 "one with PATH:TAG)", path);
	res = calloc(picked + 1, sizeof(*res));
	if (!res)
		return -ENOMEM;
	n = 0;
	json_array_foreach(mans, i, desc) {
		const char *rn = ref_name_of(desc);
		_cleanup_free_ char *ref = NULL;

		if (only_tag && (!rn || strcmp(rn, only_tag)))
			continue;
		if (rn)
			ref = oci_import_name(rn, d);
		else if (extra && picked == 1)
			ref = strdup(extra);
		else
			r = diag_fail(d, -EINVAL, "%s: manifest %zu has no %s annotation: name it "
				      "(tankctl image import PATH NAME[:TAG])", path, i,
				      "org.opencontainers.image.ref.name");
		if (!ref) {
			r = r < 0 ? r : (d && d->err ? d->err : -ENOMEM);
			break;
		}
		r = import_one(store_dir, &s, desc, ref, o, &sink, &res[n], d);
		if (r < 0) {
			diag_prefix(d, "%s: manifest %zu: ", path, i);
			break;
		}
		n++;
		if (extra && picked == 1 && strcmp(extra, ref)) {
			/* the name given: another reference to the same image */
			r = import_one(store_dir, &s, desc, extra, o, &sink, &res[n], d);
			if (r < 0)
				break;
			n++;
		}
	}
	if (r < 0) {
		oci_import_results_free(res, n);
		return r;
	}
	oci_progress_emit(&sink, OCI_PROGRESS_DONE, NULL, 0, 0, NULL);
	*ret = res;
	*ret_n = n;
	return 0;
}

void oci_import_results_free(struct oci_import_result *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].ref);
		free(v[i].manifest_digest);
	}
	free(v);
}
