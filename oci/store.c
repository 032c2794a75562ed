/* store.c - the local content store: blobs by digest, reference records, locks, pruning. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "oci/oci.h"

#define REF_FILE_MAX (64u << 10)
#define REF_NAME_MAX 200 /* longer encoded names are hashed */
#define PRUNE_DEPTH_MAX 8

static const char *const store_dirs[] = { "blobs", "blobs/sha256", "refs", "locks", "tmp",
					  "layers", "layers/sha256" };

int oci_store_open(const char *store_dir, int *ret_fd, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (!store_dir || store_dir[0] != '/')
		return diag_fail(d, -EINVAL, "image store directory must be an absolute path");
	r = fs_mkdir_p(store_dir, 0700);
	if (r < 0)
		return diag_fail_at(d, r, store_dir, "creating %s: %s", store_dir, strerror(-r));
	fd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return diag_fail_at(d, -errno, store_dir, "opening %s: %m", store_dir);
	for (size_t i = 0; i < ARRAY_SIZE(store_dirs); i++)
		if (mkdirat(fd, store_dirs[i], 0700) < 0 && errno != EEXIST)
			return diag_fail_at(d, -errno, store_dir, "creating %s/%s: %m", store_dir,
					    store_dirs[i]);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int lock_file(int store_fd, const char *name, bool exclusive, bool wait, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);

	fd = openat(store_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int oci_store_lock(int store_fd, bool exclusive, bool wait, int *ret_fd, struct diag *d)
{
	int r = lock_file(store_fd, "locks/store.lock", exclusive, wait, ret_fd);

	if (r == -EAGAIN)
		return diag_fail(d, -EBUSY,
				 "the image store is busy (an image pull or unpack is running); "
				 "try again later");
	if (r < 0)
		return diag_fail(d, r, "locking the image store: %s", strerror(-r));
	return 0;
}

int oci_store_blob_lock(int store_fd, const char *digest, bool wait, int *ret_fd)
{
	char name[128];
	const char *hex;
	int r = oci_digest_check(digest, "blob", &hex, NULL);

	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "locks/sha256-%s.lock", hex);
	return lock_file(store_fd, name, true, wait, ret_fd);
}

static int blob_path(const char *digest, char *buf, size_t len, struct diag *d)
{
	const char *hex;
	int r = oci_digest_check(digest, "blob", &hex, d);

	if (r < 0)
		return r;
	snprintf(buf, len, "blobs/sha256/%s", hex);
	return 0;
}

bool oci_store_has_blob(int store_fd, const char *digest, int64_t size)
{
	char path[128];
	struct stat st;

	if (blob_path(digest, path, sizeof(path), NULL) < 0)
		return false;
	if (fstatat(store_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	return size < 0 || st.st_size == size;
}

int oci_store_put_blob(int store_fd, const char *digest, const void *buf, size_t len,
		       struct diag *d)
{
	char path[128], got[OCI_DIGEST_STR_MAX];
	int r;

	r = blob_path(digest, path, sizeof(path), d);
	if (r < 0)
		return r;
	r = oci_digest_buf(buf, len, got);
	if (r < 0)
		return diag_fail(d, r, "computing sha256 failed");
	if (strcmp(got, digest) != 0)
		return diag_fail(d, -EBADMSG, "blob %s: digest mismatch (got %s)", digest, got);
	if (oci_store_has_blob(store_fd, digest, (int64_t)len))
		return 0;
	r = fs_write_atomic(store_fd, path, buf, len, 0644);
	if (r < 0)
		return diag_fail(d, r, "writing %s to the image store: %s", path, strerror(-r));
	return 0;
}

int oci_store_read_blob(int store_fd, const char *digest, size_t max, char **ret_buf,
			size_t *ret_len, struct diag *d)
{
	char path[128];
	struct stat st;
	int r;

	r = blob_path(digest, path, sizeof(path), d);
	if (r < 0)
		return r;
	if (fstatat(store_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return diag_fail(d, -errno, "blob %s is not in the image store: %m", digest);
	return oci_blob_read(store_fd, digest, st.st_size, max, "blob", ret_buf, ret_len, d);
}

/* ---- reference records ---------------------------------------------------------------------- */

char *oci_store_ref_filename(const char *canonical)
{
	static const char hex[] = "0123456789ABCDEF";
	_cleanup_free_ char *out = malloc(REF_NAME_MAX + 8);
	size_t n = 0;

	if (!out)
		return NULL;
	for (const char *c = canonical; *c; c++) {
		unsigned char u = (unsigned char)*c;

		if (n + 3 > REF_NAME_MAX) {
			char dg[OCI_DIGEST_STR_MAX];

			if (oci_digest_buf(canonical, strlen(canonical), dg) < 0)
				return NULL;
			return strdup_printf("h-%s.json", dg + 7);
		}
		if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
		    u == '.' || u == '_' || u == '-') {
			out[n++] = (char)u;
		} else {
			out[n++] = '%';
			out[n++] = hex[u >> 4];
			out[n++] = hex[u & 15];
		}
	}
	/* a leading '.' would make "." or ".." or a hidden file */
	if (n && out[0] == '.')
		out[0] = '_';
	memcpy(out + n, ".json", 6);
	return TAKE_PTR(out);
}

void oci_store_image_clear(struct oci_store_image *i)
{
	if (!i)
		return;
	free(i->ref);
	free(i->digest);
	free(i->manifest_digest);
	free(i->config_digest);
	memset(i, 0, sizeof(*i));
}

static int record_parse(const json_t *j, struct oci_store_image *ret)
{
	struct oci_store_image i = {};
	const char *ref = json_str(j, "ref", NULL), *dg = json_str(j, "digest", NULL);
	const char *m = json_str(j, "manifest", NULL), *c = json_str(j, "config", NULL);

	if (!ref || oci_digest_check(dg, "ref", NULL, NULL) < 0 ||
	    (m && oci_digest_check(m, "ref", NULL, NULL) < 0) ||
	    (c && oci_digest_check(c, "ref", NULL, NULL) < 0))
		return -EINVAL;
	i.ref = strdup(ref);
	i.digest = strdup(dg);
	i.manifest_digest = m ? strdup(m) : NULL;
	i.config_digest = c ? strdup(c) : NULL;
	i.size = (uint64_t)json_int(j, "size", 0);
	i.pulled_ms = (uint64_t)json_int(j, "pulled_ms", 0);
	if (!i.ref || !i.digest || (m && !i.manifest_digest) || (c && !i.config_digest)) {
		oci_store_image_clear(&i);
		return -ENOMEM;
	}
	*ret = i;
	return 0;
}

static int record_read(int store_fd, const char *name, struct oci_store_image *ret,
		       struct diag *d)
{
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *path = strdup_printf("refs/%s", name);
	int r;

	if (!path)
		return -ENOMEM;
	r = json_read_file(store_fd, path, REF_FILE_MAX, &j, NULL);
	if (r < 0)
		return r == -ENOENT ? r
				    : diag_fail(d, r, "image store record %s is unreadable", name);
	r = record_parse(j, ret);
	if (r == -EINVAL)
		return diag_fail(d, r, "image store record %s is corrupt", name);
	return r;
}

int oci_store_ref_get(int store_fd, const char *canonical, struct oci_store_image *ret,
		      struct diag *d)
{
	_cleanup_free_ char *name = oci_store_ref_filename(canonical);
	struct oci_store_image i = {};
	int r;

	if (!name)
		return -ENOMEM;
	r = record_read(store_fd, name, &i, d);
	if (r < 0)
		return r;
	if (strcmp(i.ref, canonical) != 0) {
		oci_store_image_clear(&i);
		return -ENOENT;
	}
	*ret = i;
	return 0;
}

int oci_store_ref_put(int store_fd, const struct oci_store_image *rec, struct diag *d)
{
	_cleanup_free_ char *name = oci_store_ref_filename(rec->ref);
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *j = NULL;
	int r;

	if (!name || !(path = strdup_printf("refs/%s", name)))
		return -ENOMEM;
	j = json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:I}", "ref", rec->ref, "digest", rec->digest,
		      "manifest", rec->manifest_digest, "config", rec->config_digest, "size",
		      (json_int_t)rec->size, "pulled_ms", (json_int_t)rec->pulled_ms);
	if (!j)
		return -ENOMEM;
	r = json_write_atomic(store_fd, path, j, 0644);
	if (r < 0)
		return diag_fail(d, r, "writing the image store record for %s: %s", rec->ref,
				 strerror(-r));
	return 0;
}

static bool is_ref_file(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && name[0] != '.' && strcmp(name + n - 5, ".json") == 0;
}

static int cmp_image(const void *a, const void *b)
{
	return strcmp(((const struct oci_store_image *)a)->ref,
		      ((const struct oci_store_image *)b)->ref);
}

void oci_store_images_free(struct oci_store_image *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		oci_store_image_clear(&v[i]);
	free(v);
}

int oci_store_list_images(const char *store_dir, struct oci_store_image **ret, size_t *ret_n,
			  struct diag *d)
{
	_cleanup_close_ int fd = -1;
	struct oci_store_image *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int r;

	r = oci_store_open(store_dir, &fd, d);
	if (r < 0)
		return r;
	dir = fdopendir(openat(fd, "refs", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dir)
		return diag_fail_at(d, -errno, store_dir, "reading %s/refs: %m", store_dir);
	while ((de = readdir(dir))) {
		struct oci_store_image i = {};

		if (!is_ref_file(de->d_name))
			continue;
		/* a record that vanished or is corrupt is left out, not fatal */
		r = record_read(fd, de->d_name, &i, NULL);
		if (r == -ENOMEM)
			goto fail;
		if (r < 0)
			continue;
		if (n == cap) {
			struct oci_store_image *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				oci_store_image_clear(&i);
				r = -ENOMEM;
				goto fail;
			}
			v = nv;
		}
		v[n++] = i;
	}
	closedir(dir);
	if (n)
		qsort(v, n, sizeof(*v), cmp_image);
	*ret = v;
	*ret_n = n;
	return 0;
fail:
	closedir(dir);
	oci_store_images_free(v, n);
	return r;
}

int oci_store_remove_image(const char *store_dir, const char *ref, struct diag *d)
{
	_cleanup_(oci_ref_clear) struct oci_ref pr = {};
	_cleanup_(oci_store_image_clear) struct oci_store_image rec = {};
	_cleanup_free_ char *canon = NULL;
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = oci_ref_parse(ref, &pr, d);
	if (r < 0)
		return r;
	r = oci_store_open(store_dir, &fd, d);
	if (r < 0)
		return r;
	canon = oci_ref_canonical(&pr);
	if (!canon)
		return -ENOMEM;
	r = oci_store_ref_get(fd, canon, &rec, d);
	if (r == -ENOENT)
		return diag_fail(d, r, "image \"%.200s\" (%.300s) is not in the image store", ref,
				 canon);
	if (r < 0)
		return r;
	name = oci_store_ref_filename(canon);
	if (!name || !(path = strdup_printf("refs/%s", name)))
		return -ENOMEM;
	if (unlinkat(fd, path, 0) < 0 && errno != ENOENT)
		return diag_fail(d, -errno, "removing the record of %s: %m", canon);
	return 0;
}

/* ---- pruning -------------------------------------------------------------------------------- */

struct prune {
	int fd;
	const char *dir; /* the store's path */
	json_t *blobs;	/* set of digests reached */
	json_t *layers; /* set of layer chain ids reached */
};

static int mark_digest(struct prune *p, const char *digest, bool must, int depth, struct diag *d);

/* The layer dirs of an image config: keyed by chain id (see oci.h). Images in use also keep
 * dirs keyed by diff_id: stores written before chain ids had those, and a pod started then
 * still has them as its overlay's lower dirs. */
static int mark_config(struct prune *p, const json_t *j, bool in_use)
{
	const json_t *ids = json_object_get(json_object_get(j, "rootfs"), "diff_ids"), *e;
	char chain[OCI_DIGEST_STR_MAX];
	size_t i;

	json_array_foreach(ids, i, e) {
		/* a bad diff_id breaks the chain: no layer above it was ever unpacked */
		if (oci_chain_id(i ? chain : NULL, json_string_value(e), chain) < 0)
			return 0;
		if (json_object_set_new(p->layers, chain, json_true()) < 0)
			return -ENOMEM;
		if (in_use && json_object_set_new(p->layers, json_string_value(e), json_true()) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Mark a digest and what it references. must: the content has to be fully readable (images in
 * use), else missing children (other platforms of an index) are fine. */
static int mark_digest(struct prune *p, const char *digest, bool must, int depth, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *j = NULL;
	char path[128];
	struct stat st;
	const json_t *e;
	size_t len, i;
	int r;

	r = blob_path(digest, path, sizeof(path), d);
	if (r < 0)
		return r;
	if (json_object_get(p->blobs, digest))
		return 0;
	if (json_object_set_new(p->blobs, digest, json_true()) < 0)
		return -ENOMEM;
	if (fstatat(p->fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (!must)
			return 0;
		return diag_fail(d, -ENOENT,
				 "image %s is in use but not in the image store; not pruning",
				 digest);
	}
	if ((uint64_t)st.st_size > OCI_MANIFEST_MAX)
		return 0; /* a layer */
	if (depth > PRUNE_DEPTH_MAX)
		return diag_fail(d, -ELOOP, "blob %s: nested too deep; not pruning", digest);
	r = oci_blob_read(p->fd, digest, st.st_size, OCI_MANIFEST_MAX, "blob", &buf, &len, d);
	if (r < 0)
		return must ? r : 0;
	if (json_parse_buf(buf, len, &j, NULL) < 0 || !json_is_object(j))
		return 0; /* not a manifest, index or config */

	json_array_foreach(json_object_get(j, "manifests"), i, e) {
		const char *c = json_str(e, "digest", NULL);

		if (oci_digest_check(c, "manifest", NULL, NULL) < 0)
			continue;
		/* children of an in-use index: only those present must be complete */
		r = mark_digest(p, c, must && oci_store_has_blob(p->fd, c, -1), depth + 1, d);
		if (r < 0)
			return r;
	}
	json_array_foreach(json_object_get(j, "layers"), i, e) {
		const char *c = json_str(e, "digest", NULL);

		if (oci_digest_check(c, "layer", NULL, NULL) < 0)
			continue;
		if (json_object_set_new(p->blobs, c, json_true()) < 0)
			return -ENOMEM;
	}
	/* an image config has a "config" object too: only manifests have "layers" */
	if (json_is_array(json_object_get(j, "layers")) &&
	    json_is_object(json_object_get(j, "config"))) {
		const char *c = json_str(json_object_get(j, "config"), "digest", NULL);

		r = oci_digest_check(c, "config", NULL, NULL);
		if (r < 0)
			return must ? diag_fail(d, r,
						"manifest %s has no valid config; not pruning",
						digest)
				    : 0;
		r = mark_digest(p, c, must, depth + 1, d);
		if (r < 0)
			return r;
	}
	if (json_is_object(json_object_get(j, "rootfs")))
		return mark_config(p, j, must);
	return 0;
}

/* Remove the entries of dir (relative to the store) that keep() rejects. */
static int sweep(struct prune *p, const char *dir, bool layers, struct oci_prune_stats *st,
		 struct diag *d)
{
	struct dirent *de;
	DIR *dh;
	int r = 0;

	dh = fdopendir(openat(p->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dh)
		return errno == ENOENT ? 0 : diag_fail(d, -errno, "reading %s: %m", dir);
	while ((de = readdir(dh))) {
		char digest[OCI_DIGEST_STR_MAX + 8];
		struct stat sb;
		_cleanup_free_ char *path = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
		if (strlen(de->d_name) == 64 && oci_digest_check(digest, "", NULL, NULL) == 0 &&
		    json_object_get(layers ? p->layers : p->blobs, digest))
			continue;
		if (fstatat(dirfd(dh), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			path = strdup_printf("%s/%s/%s", p->dir, dir, de->d_name);
			if (!path) {
				r = -ENOMEM;
				break;
			}
			r = fs_rm_rf(path);
		} else {
			r = unlinkat(dirfd(dh), de->d_name, 0) < 0 ? -errno : 0;
		}
		if (r < 0 && r != -ENOENT) {
			diag_fail(d, r, "removing %s/%s: %s", dir, de->d_name, strerror(-r));
			break;
		}
		r = 0;
		if (layers && st) {
			st->layers++;
		} else if (st && strlen(de->d_name) == 64 && strcmp(dir, "blobs/sha256") == 0) {
			st->blobs++;
			st->bytes += (uint64_t)sb.st_size;
		}
	}
	closedir(dh);
	return r;
}

/* locks/: every per-digest lock file (store.lock, which we hold, stays). */
static void sweep_locks(int store_fd)
{
	struct dirent *de;
	DIR *dh = fdopendir(openat(store_fd, "locks", O_RDONLY | O_DIRECTORY | O_CLOEXEC));

	if (!dh)
		return;
	while ((de = readdir(dh)))
		if (strncmp(de->d_name, "sha256-", 7) == 0)
			unlinkat(dirfd(dh), de->d_name, 0);
	closedir(dh);
}

int oci_store_prune(const char *store_dir, const char *const *in_use_digests,
		    struct oci_prune_stats *ret, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	_cleanup_close_ int lock_fd = -1;
	_cleanup_json_ json_t *blobs = json_object();
	_cleanup_json_ json_t *layers = json_object();
	struct oci_prune_stats st = {};
	struct prune p;
	struct oci_store_image *imgs = NULL;
	size_t n = 0;
	int r;

	if (!blobs || !layers)
		return -ENOMEM;
	r = oci_store_open(store_dir, &fd, d);
	if (r < 0)
		return r;
	r = oci_store_lock(fd, true, false, &lock_fd, d);
	if (r < 0)
		return r;
	p = (struct prune){ .fd = fd, .dir = store_dir, .blobs = blobs, .layers = layers };

	for (size_t i = 0; in_use_digests && in_use_digests[i]; i++) {
		r = mark_digest(&p, in_use_digests[i], true, 0, d);
		if (r < 0)
			return r;
	}
	r = oci_store_list_images(store_dir, &imgs, &n, d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = mark_digest(&p, imgs[i].digest, false, 0, d);
		if (r >= 0 && imgs[i].manifest_digest)
			r = mark_digest(&p, imgs[i].manifest_digest, false, 0, d);
		if (r >= 0 && imgs[i].config_digest)
			r = mark_digest(&p, imgs[i].config_digest, false, 0, d);
	}
	oci_store_images_free(imgs, n);
	if (r < 0)
		return r;

	/* nothing is removed before every root was read */
	r = sweep(&p, "layers/sha256", true, &st, d);
	if (r >= 0)
		r = sweep(&p, "blobs/sha256", false, &st, d);
	/* no pull runs while the store lock is held exclusively: partial downloads, unpack
	 * leftovers and per-digest lock files are all stale */
	if (r >= 0)
		r = sweep(&p, "tmp", false, NULL, d);
	if (r < 0)
		return r;
	sweep_locks(fd);
	if (ret)
		*ret = st;
	return 0;
}
