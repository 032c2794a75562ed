/* store.c - the embedded file store: one checksummed JSON record per pod under <dir>/pods/. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "daemon/spec.h"
#include "daemon/store.h"

/*
 * On disk:
 *   <dir>/revision          the store-wide revision, "N\n"
 *   <dir>/pods/<name>.json  one record: the canonical form (jansson, sorted keys, compact) of
 *                           the record with "sum": "sha256:<hex>" added, where the sum is taken
 *                           over the canonical form of the record without "sum".
 * Every write goes through fs_write_atomic (temp, fsync, rename, fsync dir). Not thread-safe:
 * one tankd event loop owns the store.
 */

#define STORE_RECORD_MAX (2 * SPEC_DOC_MAX) /* bytes of one record file */
#define REVISION_FILE "revision"
#define SUM_PREFIX "sha256:"

/*
 * What list read last time, per file: the parsed record (or why it is damaged) and the file's
 * identity. A file whose inode, size, mtime and ctime are unchanged is not read again, so a
 * reconciler pass over unchanged records costs a readdir and one fstatat per pod. Every write
 * (ours: rename of a new inode; anyone's: size, mtime, ctime) changes the identity.
 */
struct cache_entry {
	char *name;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	json_t *rec;  /* the verified record (no "sum"), or NULL when damaged */
	char *error;  /* why it is damaged */
};

struct file_store {
	struct store base;
	char *dir;
	int dirfd;
	int podsfd;
	uint64_t revision;
	store_watch_fn watch_fn;
	void *watch_data;
	struct cache_entry *cache; /* sorted by name */
	size_t n_cache;
};

static struct file_store *to_fs(struct store *s)
{
	return (struct file_store *)s;
}

static int check_name(const char *name, struct diag *d)
{
	const char *problem = spec_name_problem(name);

	if (problem)
		return diag_fail_at(d, -EINVAL, "name", "pod name \"%.64s\": %s", name ? name : "",
				    problem);
	return 0;
}

/* "<dir>/pods/<name>.json", for messages. */
static void record_file(const struct file_store *fs, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pods/%s.json", fs->dir, name);
}

static int sha256_text(const char *buf, size_t len, char ret[sizeof(SUM_PREFIX) + 64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *p = ret;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	p += sprintf(p, "%s", SUM_PREFIX);
	for (unsigned int i = 0; i < mdlen; i++)
		p += sprintf(p, "%02x", md[i]);
	return 0;
}

/* The canonical text of rec without its "sum" key. */
static char *canonical_without_sum(const json_t *rec)
{
	_cleanup_json_ json_t *copy = json_copy((json_t *)rec);

	if (!copy)
		return NULL;
	json_object_del(copy, "sum");
	return json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
}

/* The file content for rec (which has no "sum"): canonical record with its sum, newline. */
static int record_encode(const json_t *rec, char **ret_text)
{
	_cleanup_free_ char *canon = canonical_without_sum(rec);
	_cleanup_json_ json_t *copy = NULL;
	_cleanup_free_ char *text = NULL;
	char sum[sizeof(SUM_PREFIX) + 64];
	int r;

	if (!canon || !(copy = json_copy((json_t *)rec)))
		return -ENOMEM;
	r = sha256_text(canon, strlen(canon), sum);
	if (r < 0)
		return r;
	if (json_object_set_new(copy, "sum", json_string(sum)) < 0 ||
	    !(text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT)))
		return -ENOMEM;
	*ret_text = strdup_printf("%s\n", text);
	return *ret_text ? 0 : -ENOMEM;
}

static bool is_uid(const char *s)
{
	if (!s || strlen(s) != 32)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static bool record_has_shape(const json_t *rec, const char *name)
{
	return json_is_string(json_object_get(rec, "name")) &&
	       strcmp(json_str(rec, "name", ""), name) == 0 && is_uid(json_str(rec, "uid", NULL)) &&
	       json_int(rec, "revision", 0) >= 1 &&
	       json_is_integer(json_object_get(rec, "created_at")) &&
	       json_is_integer(json_object_get(rec, "updated_at")) &&
	       json_is_object(json_object_get(rec, "spec"));
}

#define DAMAGED_FIX "to fix, re-apply the pod's spec or delete the pod"

/* Check the sum and the shape of a record read from the file for `name`. */
static int record_verify(json_t *rec, const char *name, const char *file, struct diag *d)
{
	const char *sum = json_str(rec, "sum", NULL);
	_cleanup_free_ char *canon = NULL;
	char want[sizeof(SUM_PREFIX) + 64];
	int r;

	if (!json_is_object(rec))
		return diag_fail_at(d, -EBADMSG, file, "%s: damaged: not a JSON object; %s", file,
				    DAMAGED_FIX);
	if (!sum)
		return diag_fail_at(d, -EBADMSG, file, "%s: damaged: no checksum (\"sum\"); %s",
				    file, DAMAGED_FIX);
	if (!(canon = canonical_without_sum(rec)))
		return -ENOMEM;
	r = sha256_text(canon, strlen(canon), want);
	if (r < 0)
		return r;
	if (strcmp(sum, want) != 0)
		return diag_fail_at(d, -EBADMSG, file,
				    "%s: damaged: checksum mismatch (the file was changed outside "
				    "tankd or corrupted on disk); %s",
				    file, DAMAGED_FIX);
	if (!record_has_shape(rec, name))
		return diag_fail_at(
			d, -EBADMSG, file,
			"%s: damaged: not a pod record for \"%s\" (name, uid, revision, "
			"created_at, updated_at, spec); %s",
			file, name, DAMAGED_FIX);
	return 0;
}

/* Read and verify one record; the returned record has no "sum". */
static int record_read(struct file_store *fs, const char *name, json_t **ret, struct diag *d)
{
	char fname[SPEC_NAME_MAX + 8], file[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *rec = NULL;
	struct diag jd = { 0 };
	size_t len;
	int r;

	snprintf(fname, sizeof(fname), "%s.json", name);
	record_file(fs, name, file, sizeof(file));
	r = fs_read_all(fs->podsfd, fname, STORE_RECORD_MAX, &buf, &len);
	if (r == -ENOENT)
		return diag_fail_at(d, r, file, "no pod named \"%s\"", name);
	if (r == -EFBIG)
		return diag_fail_at(d, -EBADMSG, file,
				    "%s: damaged: larger than the limit of %u bytes; %s", file,
				    STORE_RECORD_MAX, DAMAGED_FIX);
	if (r < 0)
		return diag_fail_at(d, r, file, "%s: %s", file, strerror(-r));
	r = json_parse_buf(buf, len, &rec, &jd);
	if (r == -ENOMEM)
		return diag_fail(d, r, "out of memory reading %s", file);
	if (r < 0)
		return diag_fail_at(d, -EBADMSG, file, "%s: damaged: %s; %s", file, jd.msg,
				    DAMAGED_FIX);
	r = record_verify(rec, name, file, d);
	if (r < 0)
		return r;
	json_object_del(rec, "sum");
	*ret = TAKE_PTR(rec);
	return 0;
}

/*
 * What a damaged record still tells: uid, created_at and revision, when the file holds a
 * record of this pod (trailing bytes ignored, checksum not required). A re-apply keeps them, so
 * the pod's identity survives the repair. NULL when nothing usable is left.
 */
static json_t *record_salvage(struct file_store *fs, const char *name)
{
	char fname[SPEC_NAME_MAX + 8];
	_cleanup_free_ char *buf = NULL;
	json_t *rec;
	size_t len;

	snprintf(fname, sizeof(fname), "%s.json", name);
	if (fs_read_all(fs->podsfd, fname, STORE_RECORD_MAX, &buf, &len) < 0)
		return NULL;
	rec = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL);
	if (rec && record_has_shape(rec, name))
		return rec;
	json_decref(rec);
	return NULL;
}

static int record_write(struct file_store *fs, const char *name, const json_t *rec, struct diag *d)
{
	char fname[SPEC_NAME_MAX + 8], file[PATH_MAX];
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	snprintf(fname, sizeof(fname), "%s.json", name);
	record_file(fs, name, file, sizeof(file));
	r = record_encode(rec, &text);
	if (r < 0)
		return diag_fail(d, r, "encoding the record of pod \"%s\": %s", name, strerror(-r));
	len = strlen(text);
	if (len > STORE_RECORD_MAX)
		return diag_fail_at(d, -EFBIG, file,
				    "the record of pod \"%s\" would be %zu bytes; the limit is %u",
				    name, len, STORE_RECORD_MAX);
	r = fs_write_atomic(fs->podsfd, fname, text, len, 0600);
	if (r < 0)
		return diag_fail_at(d, r, file, "writing %s: %s", file, strerror(-r));
	return 0;
}

/* Raise the store-wide revision. Written before the record it counts, so a crash in between
 * leaves a gap, never a revision number used twice. */
static int revision_bump(struct file_store *fs, struct diag *d)
{
	char text[32];
	int r;

	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)fs->revision + 1);
	r = fs_write_atomic(fs->dirfd, REVISION_FILE, text, strlen(text), 0600);
	if (r < 0)
		return diag_fail_at(d, r, REVISION_FILE, "writing %s/%s: %s", fs->dir,
				    REVISION_FILE, strerror(-r));
	fs->revision++;
	return 0;
}

static int new_uid(char ret[33])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		sprintf(ret + 2 * i, "%02x", b[i]);
	return 0;
}

/* ---- ops ------------------------------------------------------------------------------------ */

static int fs_get(struct store *s, const char *name, json_t **ret, struct diag *d)
{
	int r = check_name(name, d);

	if (r < 0)
		return r;
	return record_read(to_fs(s), name, ret, d);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file name for a message: bytes that are not printable ASCII become '?'. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void cache_entry_clear(struct cache_entry *e)
{
	free(e->name);
	json_decref(e->rec);
	free(e->error);
	memset(e, 0, sizeof(*e));
}

static void cache_clear(struct file_store *fs)
{
	for (size_t i = 0; i < fs->n_cache; i++)
		cache_entry_clear(&fs->cache[i]);
	free(fs->cache);
	fs->cache = NULL;
	fs->n_cache = 0;
}

static bool same_file(const struct cache_entry *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
	       e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* The cached entry of name (the cache is sorted by name), or NULL. */
static struct cache_entry *cache_find(struct file_store *fs, const char *name)
{
	size_t lo = 0, hi = fs->n_cache;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(fs->cache[mid].name, name);

		if (c == 0)
			return &fs->cache[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Fill e for the file of name: from the old cache when the file is the same, else by reading
 * it. -ENOENT: the file went away meanwhile. Other errors are I/O errors, with d set.
 */
static int cache_load(struct file_store *fs, const char *name, struct cache_entry *e,
		      struct diag *d)
{
	char fname[SPEC_NAME_MAX + 8];
	struct cache_entry *old;
	struct diag rd = { 0 };
	struct stat st;
	int r;

	snprintf(fname, sizeof(fname), "%s.json", name);
	if (fstatat(fs->podsfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ENOENT
				       : diag_fail(d, -errno, "%s/pods/%s: %s", fs->dir, fname,
						   strerror(errno));
	*e = (struct cache_entry){ .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
				   .mtime = st.st_mtim, .ctime = st.st_ctim };
	old = cache_find(fs, name);
	if (old && same_file(old, &st)) {
		/* moved; the old entry keeps its name, the old cache stays searchable */
		e->rec = TAKE_PTR(old->rec);
		e->error = TAKE_PTR(old->error);
		e->name = strdup(name);
		if (!e->name)
			cache_entry_clear(e);
		return e->name ? 0 : -ENOMEM;
	}
	r = record_read(fs, name, &e->rec, &rd);
	if (r == -EBADMSG) {
		e->error = strdup(rd.msg);
		r = e->error ? 0 : -ENOMEM;
	} else if (r < 0 && r != -ENOENT) {
		r = diag_fail(d, r, "%s", diag_text(&rd, r));
	}
	diag_clear(&rd);
	if (r == 0 && !(e->name = strdup(name)))
		r = -ENOMEM;
	if (r < 0)
		cache_entry_clear(e);
	return r;
}

static int fs_list(struct store *s, json_t **ret, json_t **ret_damaged, struct diag *d)
{
	struct file_store *fs = to_fs(s);
	_cleanup_strv_ char **names = NULL;
	_cleanup_json_ json_t *list = json_array(), *damaged = json_array();
	struct cache_entry *cache = NULL;
	size_t n = 0, k = 0;
	DIR *dir;
	struct dirent *de;
	int dfd, r = 0;

	if (!list || !damaged)
		return -ENOMEM;
	dfd = openat(fs->podsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		r = -errno;
		if (dfd >= 0)
			close(dfd);
		return diag_fail(d, r, "listing %s/pods: %s", fs->dir, strerror(-r));
	}
	while ((errno = 0, de = readdir(dir))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		de->d_name[len - 5] = '\0';
		if ((r = strv_push(&names, de->d_name)) < 0)
			break;
		n++;
	}
	if (r == 0 && errno)
		r = -errno;
	closedir(dir);
	if (r < 0)
		return diag_fail(d, r, "listing %s/pods: %s", fs->dir, strerror(-r));
	if (names)
		qsort(names, n, sizeof(char *), name_cmp);
	if (n && !(cache = calloc(n, sizeof(*cache))))
		return -ENOMEM;

	for (size_t i = 0; names && names[i]; i++) {
		struct cache_entry *e = &cache[k];

		if (!spec_name_is_valid(names[i])) {
			_cleanup_free_ char *msg = NULL;

			printable(names[i]);
			msg = strdup_printf(
				"%s/pods/%s.json: not a valid pod name; remove the file", fs->dir,
				names[i]);
			if (msg)
				json_array_append_new(damaged, json_pack("{s:s, s:s}", "name",
									 names[i], "error", msg));
			continue;
		}
		r = cache_load(fs, names[i], e, d);
		if (r == -ENOENT)
			continue; /* deleted meanwhile */
		if (r < 0)
			break;
		k++;
		if (e->rec)
			json_array_append(list, e->rec);
		else
			json_array_append_new(damaged, json_pack("{s:s, s:s}", "name", names[i],
								 "error", e->error));
	}
	/* the new cache replaces the old one (entries reused were moved out of it) */
	cache_clear(fs);
	fs->cache = cache;
	fs->n_cache = k;
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = TAKE_PTR(list);
	if (ret_damaged)
		*ret_damaged = TAKE_PTR(damaged);
	return 0;
}

static int fs_put(struct store *s, const char *name, json_t *spec, int64_t expected_revision,
		  const char **ret_result, json_t **ret_record, struct diag *d)
{
	struct file_store *fs = to_fs(s);
	_cleanup_json_ json_t *old = NULL, *rec = NULL;
	_cleanup_free_ char *new_canon = NULL, *old_canon = NULL;
	const char *spec_name, *result;
	struct diag od = { 0 };
	bool damaged = false;
	char uid[33];
	uint64_t cur = 0, now = now_wall_ms();
	int r = check_name(name, d);

	if (r < 0)
		return r;
	if (!json_is_object(spec))
		return diag_fail(d, -EINVAL, "the spec of pod \"%s\" is not a JSON object", name);
	spec_name = json_str(spec, "name", NULL);
	if (spec_name && strcmp(spec_name, name) != 0)
		return diag_fail_at(d, -EINVAL, "name",
				    "the spec names pod \"%.64s\" but is stored as \"%s\"",
				    spec_name, name);

	r = record_read(fs, name, &old, &od);
	if (r == -EBADMSG) {
		/* re-applying a pod replaces a damaged record, keeping what can be salvaged */
		old = record_salvage(fs, name);
		damaged = true;
	} else if (r < 0 && r != -ENOENT) {
		return diag_fail(d, r, "%s", diag_text(&od, r));
	}
	if (old)
		cur = (uint64_t)json_int(old, "revision", 0);

	if (expected_revision >= 0 && (uint64_t)expected_revision != cur) {
		if (expected_revision == 0)
			return diag_fail(d, -ESTALE, "pod \"%s\" already exists (revision %llu)",
					 name, (unsigned long long)cur);
		if (!old)
			return diag_fail(d, -ESTALE,
					 "pod \"%s\" does not exist (expected revision %lld)", name,
					 (long long)expected_revision);
		return diag_fail(
			d, -ESTALE,
			"pod \"%s\" is at revision %llu, not %lld: it changed since it was "
			"read; read it again and retry",
			name, (unsigned long long)cur, (long long)expected_revision);
	}

	if (!(new_canon = json_dumps(spec, JSON_SORT_KEYS | JSON_COMPACT)))
		return diag_fail(d, -ENOMEM, "out of memory storing pod \"%s\"", name);
	if (old) {
		old_canon = json_dumps(json_object_get(old, "spec"), JSON_SORT_KEYS | JSON_COMPACT);
		if (!old_canon)
			return diag_fail(d, -ENOMEM, "out of memory storing pod \"%s\"", name);
		if (!damaged && strcmp(old_canon, new_canon) == 0) {
			if (ret_result)
				*ret_result = "unchanged";
			if (ret_record)
				*ret_record = TAKE_PTR(old);
			return 0;
		}
	}

	if (old) {
		snprintf(uid, sizeof(uid), "%s", json_str(old, "uid", ""));
		result = "configured";
	} else {
		r = new_uid(uid);
		if (r < 0)
			return diag_fail(d, r, "getrandom: %s", strerror(-r));
		result = "created";
	}
	rec = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "name", name, "uid", uid,
			"revision", (json_int_t)(cur + 1), "created_at",
			(json_int_t)(old ? (uint64_t)json_int(old, "created_at", 0) : now),
			"updated_at", (json_int_t)now, "store_revision",
			(json_int_t)(fs->revision + 1), "spec", json_deep_copy(spec));
	if (!rec)
		return diag_fail(d, -ENOMEM, "out of memory storing pod \"%s\"", name);
	r = revision_bump(fs, d);
	if (r < 0)
		return r;
	r = record_write(fs, name, rec, d);
	if (r < 0)
		return r;
	if (fs->watch_fn)
		fs->watch_fn(fs->watch_data, name, rec);
	if (ret_result)
		*ret_result = result;
	if (ret_record)
		*ret_record = TAKE_PTR(rec);
	return 0;
}

static int fs_del(struct store *s, const char *name, bool *ret_existed, struct diag *d)
{
	struct file_store *fs = to_fs(s);
	char fname[SPEC_NAME_MAX + 8], file[PATH_MAX];
	struct stat st;
	int r = check_name(name, d);

	if (r < 0)
		return r;
	snprintf(fname, sizeof(fname), "%s.json", name);
	record_file(fs, name, file, sizeof(file));
	if (fstatat(fs->podsfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return diag_fail_at(d, -errno, file, "%s: %s", file, strerror(errno));
		if (ret_existed)
			*ret_existed = false;
		return 0;
	}
	r = revision_bump(fs, d);
	if (r < 0)
		return r;
	if (unlinkat(fs->podsfd, fname, 0) < 0 && errno != ENOENT)
		return diag_fail_at(d, -errno, file, "removing %s: %s", file, strerror(errno));
	fsync(fs->podsfd);
	if (fs->watch_fn)
		fs->watch_fn(fs->watch_data, name, NULL);
	if (ret_existed)
		*ret_existed = true;
	return 0;
}

static int fs_watch(struct store *s, store_watch_fn fn, void *data)
{
	struct file_store *fs = to_fs(s);

	if (fn && fs->watch_fn)
		return -EBUSY;
	fs->watch_fn = fn;
	fs->watch_data = data;
	return 0;
}

static uint64_t fs_revision(struct store *s)
{
	return to_fs(s)->revision;
}

static void fs_close(struct store *s)
{
	struct file_store *fs = to_fs(s);

	if (!fs)
		return;
	if (fs->podsfd >= 0)
		close(fs->podsfd);
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	cache_clear(fs);
	free(fs->dir);
	free(fs);
}

static const struct store_ops file_store_ops = {
	.get = fs_get,
	.list = fs_list,
	.put = fs_put,
	.del = fs_del,
	.revision = fs_revision,
	.watch = fs_watch,
	.close = fs_close,
};

/* ---- open ----------------------------------------------------------------------------------- */

/* Remove temp files a crash left behind ("<name>.tmp.<pid>", see fs_write_atomic). */
static void remove_stale_temps(int dirfd)
{
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;

	if (dfd < 0)
		return;
	if (!(dir = fdopendir(dfd))) {
		close(dfd);
		return;
	}
	while ((de = readdir(dir))) {
		const char *t = strstr(de->d_name, ".tmp.");

		/* fs_write_atomic's "<name>.tmp.<pid>.<seq>" */
		if (t && t != de->d_name && t[5] && strspn(t + 5, "0123456789.") == strlen(t + 5))
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(dir);
}

/*
 * The store-wide revision: <dir>/revision. When that file is missing or damaged it is recounted
 * from the records, never going backwards: the largest of the sum of their revisions (each
 * change of a pod raised it by one), the store revision each record was written at
 * ("store_revision", the high-water mark kept with every record) and whatever number a damaged
 * file still starts with. A gap is harmless; a revision number used twice is not.
 */
static int revision_load(struct file_store *fs, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *all = NULL;
	unsigned long long v = 0, sum = 0, hwm = 0, salvaged = 0;
	bool damaged;
	size_t len, i;
	json_t *rec;
	char *end;
	int r = fs_read_all(fs->dirfd, REVISION_FILE, 64, &buf, &len);

	if (r == 0) {
		errno = 0;
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len > 0 && len <= 20 && strspn(buf, "0123456789") == len) {
			v = strtoull(buf, &end, 10);
			if (errno == 0) {
				fs->revision = v;
				return 0;
			}
		}
		if (strspn(buf, "0123456789") > 0 && strspn(buf, "0123456789") <= 19)
			salvaged = strtoull(buf, NULL, 10);
		r = -EBADMSG;
	}
	damaged = r == -EBADMSG || r == -EFBIG;
	if (r != -ENOENT && !damaged)
		return diag_fail_at(d, r, REVISION_FILE, "%s/%s: %s", fs->dir, REVISION_FILE,
				    strerror(-r));
	r = fs_list(&fs->base, &all, NULL, d);
	if (r < 0)
		return r;
	json_array_foreach(all, i, rec) {
		unsigned long long w = (unsigned long long)json_int(rec, "store_revision", 0);

		sum += (unsigned long long)json_int(rec, "revision", 0);
		if (w > hwm)
			hwm = w;
	}
	v = sum > hwm ? sum : hwm;
	if (salvaged > v)
		v = salvaged;
	fs->revision = v;
	if (damaged) {
		char text[32];

		log_warn("store: %s/%s was damaged; recounted the revision as %llu from the "
			 "records",
			 fs->dir, REVISION_FILE, v);
		snprintf(text, sizeof(text), "%llu\n", v);
		r = fs_write_atomic(fs->dirfd, REVISION_FILE, text, strlen(text), 0600);
		if (r < 0)
			return diag_fail_at(d, r, REVISION_FILE, "writing %s/%s: %s", fs->dir,
					    REVISION_FILE, strerror(-r));
	}
	return 0;
}

int store_file_open(const char *dir, struct store **ret, struct diag *d)
{
	struct file_store *fs;
	int r;

	if (!dir || !*dir)
		return diag_fail(d, -EINVAL, "no store directory given");
	r = fs_mkdir_p(dir, 0700);
	if (r < 0)
		return diag_fail_at(d, r, dir, "creating %s: %s", dir, strerror(-r));
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->base.ops = &file_store_ops;
	fs->podsfd = -1;
	fs->dir = strdup(dir);
	fs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!fs->dir) {
		r = -ENOMEM;
		goto fail;
	}
	if (fs->dirfd < 0) {
		r = diag_fail_at(d, -errno, dir, "opening %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (mkdirat(fs->dirfd, "pods", 0700) < 0 && errno != EEXIST) {
		r = diag_fail_at(d, -errno, dir, "creating %s/pods: %s", dir, strerror(errno));
		goto fail;
	}
	fs->podsfd = openat(fs->dirfd, "pods", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fs->podsfd < 0) {
		r = diag_fail_at(d, -errno, dir, "opening %s/pods: %s", dir, strerror(errno));
		goto fail;
	}
	remove_stale_temps(fs->dirfd);
	remove_stale_temps(fs->podsfd);
	r = revision_load(fs, d);
	if (r < 0)
		goto fail;
	*ret = &fs->base;
	return 0;
fail:
	fs_close(&fs->base);
	return r;
}
