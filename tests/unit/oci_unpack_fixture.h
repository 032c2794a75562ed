/* oci_unpack_fixture.h - layers built with libarchive, a temp dir with a sentinel, layer stacks
 * and their merged overlay view: shared by the layer unpack tests. */
#pragma once
/* not every test file uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <zlib.h>

#include "oci/oci.h"

/* ---- building layers with libarchive's writer ------------------------------------------ */

enum kind { K_FILE, K_DIR, K_SYMLINK, K_HARDLINK, K_FIFO, K_CHR, K_ZEROS, K_SPARSE };

struct ent {
	enum kind kind;
	const char *path;
	const char *data; /* file content, link target */
	mode_t mode;	  /* 0: 0644 for files, 0755 for directories */
	uint64_t size;	  /* K_ZEROS, K_SPARSE: logical size */
	uid_t uid;
	gid_t gid;
	const char *xattr; /* "name=value" */
	time_t mtime;
};

#define MTIME 1500000000

static void write_entry(struct archive *a, const struct ent *x)
{
	struct archive_entry *e = archive_entry_new();
	static char zeros[65536];

	archive_entry_set_pathname(e, x->path);
	archive_entry_set_mtime(e, x->mtime ? x->mtime : MTIME, 0);
	archive_entry_set_uid(e, x->uid);
	archive_entry_set_gid(e, x->gid);
	switch (x->kind) {
	case K_FILE:
	case K_ZEROS:
	case K_SPARSE:
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, x->mode ? x->mode : 0644);
		archive_entry_set_size(e, x->kind == K_FILE ? (la_int64_t)strlen(x->data)
							    : (la_int64_t)x->size);
		break;
	case K_DIR:
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, x->mode ? x->mode : 0755);
		break;
	case K_SYMLINK:
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_perm(e, 0777);
		archive_entry_set_symlink(e, x->data);
		break;
	case K_HARDLINK:
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_hardlink(e, x->data);
		archive_entry_set_size(e, 0);
		break;
	case K_FIFO:
		archive_entry_set_filetype(e, AE_IFIFO);
		archive_entry_set_perm(e, x->mode ? x->mode : 0600);
		break;
	case K_CHR:
		archive_entry_set_filetype(e, AE_IFCHR);
		archive_entry_set_perm(e, x->mode ? x->mode : 0666);
		archive_entry_set_rdevmajor(e, 1);
		archive_entry_set_rdevminor(e, 3);
		break;
	}
	if (x->kind == K_SPARSE) /* 4 data bytes in the middle of a hole */
		archive_entry_sparse_add_entry(e, (la_int64_t)x->size / 2, 4);
	if (x->xattr) {
		const char *eq = strchr(x->xattr, '=');
		char name[128];

		snprintf(name, sizeof(name), "%.*s", (int)(eq - x->xattr), x->xattr);
		archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
	}
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (x->kind == K_FILE)
		assert_int_equal(archive_write_data(a, x->data, strlen(x->data)),
				 (la_ssize_t)strlen(x->data));
	if (x->kind == K_ZEROS)
		for (uint64_t left = x->size; left > 0;) {
			size_t n = left > sizeof(zeros) ? sizeof(zeros) : left;

			assert_int_equal(archive_write_data(a, zeros, n), (la_ssize_t)n);
			left -= n;
		}
	if (x->kind == K_SPARSE) {
		/* the writer takes the whole logical content and stores the data regions only */
		for (uint64_t pos = 0; pos < x->size;) {
			size_t n = pos < x->size / 2 ? x->size / 2 - pos : x->size - pos;

			if (pos == x->size / 2) {
				assert_int_equal(archive_write_data(a, "DATA", 4), 4);
				pos += 4;
				continue;
			}
			n = n > sizeof(zeros) ? sizeof(zeros) : n;
			assert_int_equal(archive_write_data(a, zeros, n), (la_ssize_t)n);
			pos += n;
		}
	}
	archive_entry_free(e);
}

enum filter { F_NONE, F_GZIP, F_ZSTD };

/* A layer in a memfd (positioned at 0); ret_diff_id gets the digest of the plain tar. */
static int build_layer_as(const struct ent *ents, size_t n, enum filter filter, char *ret_diff_id)
{
	int fds[2];

	for (int pass = 0; pass < 2; pass++) {
		struct archive *a = archive_write_new();
		int fd = memfd_create("layer", MFD_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
		if (pass == 1 && filter == F_GZIP)
			assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		if (pass == 1 && filter == F_ZSTD)
			assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
		assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
		for (size_t i = 0; i < n; i++)
			write_entry(a, &ents[i]);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		fds[pass] = fd;
	}
	/* the plain pass gives the diff_id */
	{
		struct oci_digest h = {};
		char buf[65536];
		ssize_t r;

		assert_int_equal(oci_digest_init(&h), 0);
		while ((r = read(fds[0], buf, sizeof(buf))) > 0)
			oci_digest_update(&h, buf, (size_t)r);
		assert_int_equal(oci_digest_final(&h, ret_diff_id), 0);
		oci_digest_done(&h);
	}
	close(fds[0]);
	return fds[1];
}

static int build_layer(const struct ent *ents, size_t n, bool gzip, char *ret_diff_id)
{
	return build_layer_as(ents, n, gzip ? F_GZIP : F_NONE, ret_diff_id);
}

static int fd_from_bytes(const void *buf, size_t len)
{
	int fd = memfd_create("blob", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static char *fd_digest(int fd, char *out)
{
	struct oci_digest h = {};
	char buf[65536];
	ssize_t r;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(oci_digest_init(&h), 0);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		oci_digest_update(&h, buf, (size_t)r);
	assert_int_equal(oci_digest_final(&h, out), 0);
	oci_digest_done(&h);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return out;
}

/* Append buf as one gzip member to fd. */
static void gzip_member(int fd, const void *buf, size_t len)
{
	z_stream z = {};
	size_t cap = compressBound(len) + 64;
	unsigned char *out = malloc(cap);

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	z.next_in = (unsigned char *)buf;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(write(fd, out, z.total_out), (ssize_t)z.total_out);
	deflateEnd(&z);
	free(out);
}

/* ---- a parent temp dir holding dest/ and a sentinel file --------------------------------- */

struct fx {
	char parent[128];
	char dest[160];
	char sentinel[160];
	int dest_fd;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int fd;

	snprintf(f->parent, sizeof(f->parent), "/tmp/test_oci_unpack.XXXXXX");
	assert_non_null(mkdtemp(f->parent));
	snprintf(f->dest, sizeof(f->dest), "%s/dest", f->parent);
	snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->parent);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	fd = open(f->sentinel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "sentinel", 8), 8);
	close(fd);
	f->dest_fd = open(f->dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dest_fd >= 0);
	*state = f;
	return 0;
}

static int make_writable(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	close(f->dest_fd);
	/* read-only directories from the layers would stop a non-root rm */
	nftw(f->parent, make_writable, 16, FTW_PHYS);
	fs_rm_rf(f->parent);
	free(f);
	return 0;
}

/* An empty dest again. */
static void fx_reset_dest(struct fx *f)
{
	close(f->dest_fd);
	assert_int_equal(fs_rm_rf(f->dest), 0);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	f->dest_fd = open(f->dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dest_fd >= 0);
}

/* Nothing was written next to dest: the parent holds dest and an untouched sentinel. */
static void assert_parent_clean(struct fx *f)
{
	DIR *dir = opendir(f->parent);
	struct dirent *de;
	struct stat st;
	char buf[32] = "";
	int fd, n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strcmp(de->d_name, "dest") && strcmp(de->d_name, "sentinel"))
			fail_msg("unexpected %s/%s: a write escaped the layer dir", f->parent,
				 de->d_name);
		n++;
	}
	closedir(dir);
	assert_int_equal(n, 2);
	assert_int_equal(lstat(f->sentinel, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_nlink, 1);
	fd = open(f->sentinel, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 8);
	close(fd);
	assert_string_equal(buf, "sentinel");
}

static int unpack(struct fx *f, const struct ent *ents, size_t n, bool gzip, struct diag *d)
{
	char diff_id[OCI_DIGEST_STR_MAX];
	int fd = build_layer(ents, n, gzip, diff_id);
	int r = oci_layer_unpack(fd, f->dest, diff_id, d);

	close(fd);
	return r;
}

static void assert_content(struct fx *f, const char *path, const char *want)
{
	char buf[256] = "";
	int fd = fs_open_in_root(f->dest_fd, path, O_RDONLY | O_NOFOLLOW, 0);

	if (fd < 0)
		fail_msg("%s: %s", path, strerror(-fd));
	assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
	close(fd);
	assert_string_equal(buf, want);
}

static mode_t lmode(struct fx *f, const char *path)
{
	struct stat st;

	if (fstatat(f->dest_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("%s: %m", path);
	return st.st_mode;
}

static bool lexists(struct fx *f, const char *path)
{
	struct stat st;

	return fstatat(f->dest_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool is_root(const char *what)
{
	if (geteuid() == 0)
		return true;
	print_message("skipping %s: needs root\n", what);
	skip(); /* reported as skipped, not as a pass */
	return false;
}

/* ---- several layers: each unpacked over the ones below ------------------------------------ */

struct layer {
	const struct ent *e;
	size_t n;
};

static void layer_path(struct fx *f, size_t i, char *out, size_t len)
{
	snprintf(out, len, "%s/l%zu", f->parent, i);
}

/* Unpack ls[0..n) into <parent>/l<i>, each over the ones below; stops at the first failure. */
static int unpack_stack(struct fx *f, const struct layer *ls, size_t n, struct diag *d)
{
	char paths[8][192];
	const char *lower[9] = {};
	int r = 0;

	assert_true(n <= 8);
	for (size_t i = 0; i < n && r >= 0; i++) {
		char diff_id[OCI_DIGEST_STR_MAX];
		struct oci_unpack_opts o = { .blob_size = -1, .lower_dirs = lower };
		int fd = build_layer(ls[i].e, ls[i].n, true, diff_id);

		layer_path(f, i, paths[i], sizeof(paths[i]));
		assert_int_equal(mkdir(paths[i], 0755), 0);
		o.diff_id = diff_id;
		r = oci_layer_unpack_opts(fd, paths[i], &o, d);
		close(fd);
		lower[i] = paths[i];
	}
	return r;
}

/* Nothing was written outside the layer dirs: the parent holds dest, sentinel, l0..l<n-1>. */
static void assert_stack_clean(struct fx *f, size_t n)
{
	DIR *dir = opendir(f->parent);
	struct dirent *de;
	char buf[32] = "";
	int fd, count = 0;

	assert_non_null(dir);
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strcmp(de->d_name, "dest") && strcmp(de->d_name, "sentinel") &&
		    !(de->d_name[0] == 'l' && (size_t)atoi(de->d_name + 1) < n))
			fail_msg("unexpected %s/%s: a write escaped the layer dirs", f->parent,
				 de->d_name);
		count++;
	}
	closedir(dir);
	assert_int_equal(count, (int)n + 2);
	fd = open(f->sentinel, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 8);
	close(fd);
	assert_string_equal(buf, "sentinel");
}

static mode_t stat_in(struct fx *f, size_t layer, const char *path, struct stat *st)
{
	char lp[192];
	_cleanup_close_ int fd = -1;

	layer_path(f, layer, lp, sizeof(lp));
	fd = open(lp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	if (fstatat(fd, path, st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return st->st_mode;
}

static int merged_walk_fd = -1;
static size_t merged_prefix;

static int merged_line(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char extra[256] = "";

	(void)flag;
	(void)ftw;
	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlink(path, extra, sizeof(extra) - 1);

		extra[n > 0 ? n : 0] = '\0';
	} else if (S_ISREG(st->st_mode)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, extra, 64) : 0;

		extra[n > 0 ? n : 0] = '\0';
		if (fd >= 0)
			close(fd);
	}
	dprintf(merged_walk_fd, "%s %c %04o %u:%u %lld ino=%llu %s\n",
		path[merged_prefix] ? path + merged_prefix + 1 : ".",
		S_ISDIR(st->st_mode)   ? 'd'
		: S_ISLNK(st->st_mode) ? 'l'
		: S_ISREG(st->st_mode) ? 'f'
				       : 'o',
		st->st_mode & 07777, st->st_uid, st->st_gid, (long long)st->st_mtime,
		(unsigned long long)st->st_ino, extra);
	return 0;
}

/*
 * The tree that a pod sees: l<n-1>..l0 stacked by a real read-only overlayfs mount (in a child
 * in its own mount namespace), one line per path: "path type mode uid:gid mtime ino=N extra"
 * (extra: file content or symlink target). Root only. Returned text is malloc'd.
 */
static char *merged_listing(struct fx *f, size_t n)
{
	char mnt[192], opts[2048] = "ro,lowerdir=", lp[192];
	int fd = memfd_create("listing", MFD_CLOEXEC), status;
	struct stat st;
	char *buf;
	pid_t pid;

	snprintf(mnt, sizeof(mnt), "%s/dest", f->parent);
	for (size_t i = n; i-- > 0;) {
		layer_path(f, i, lp, sizeof(lp));
		strcat(opts, lp);
		strcat(opts, ":");
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* an extra empty lowerdir: overlayfs wants two when there is no upper */
		char bottom[] = "/tmp/test_oci_unpack_empty.XXXXXX";

		if (!mkdtemp(bottom))
			_exit(3);
		strcat(opts, bottom);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(4);
		if (mount("overlay", mnt, "overlay", MS_RDONLY, opts) < 0) {
			dprintf(2, "mount overlay %s: %m\n", opts);
			_exit(5);
		}
		merged_walk_fd = fd;
		merged_prefix = strlen(mnt);
		nftw(mnt, merged_line, 16, FTW_PHYS);
		umount(mnt);
		rmdir(bottom);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = calloc(1, (size_t)st.st_size + 2);
	buf[0] = '\n';
	assert_int_equal(pread(fd, buf + 1, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	return buf;
}

/* The line of `path` in a merged listing, or NULL. */
static const char *merged_get(const char *listing, const char *path, char *out, size_t len)
{
	char key[256];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", path);
	p = strstr(listing, key);
	if (!p)
		return NULL;
	p++;
	snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
	return out;
}

static void assert_merged(const char *listing, const char *path, const char *want_prefix)
{
	char line[512];

	if (!merged_get(listing, path, line, sizeof(line)))
		fail_msg("%s is not in the merged tree:%s", path, listing);
	if (strncmp(line + strlen(path) + 1, want_prefix, strlen(want_prefix)) != 0)
		fail_msg("merged %s: \"%s\", want \"%s ...\"", path, line, want_prefix);
}

static void assert_not_merged(const char *listing, const char *path)
{
	char line[512];

	if (merged_get(listing, path, line, sizeof(line)))
		fail_msg("%s should not be in the merged tree: %s", path, line);
}

static unsigned long long merged_ino(const char *listing, const char *path)
{
	char line[512];
	const char *p;

	assert_non_null(merged_get(listing, path, line, sizeof(line)));
	p = strstr(line, "ino=");
	assert_non_null(p);
	return strtoull(p + 4, NULL, 10);
}
