/* unpack.c - write a layer's tar entries below a directory fd, in overlay lowerdir form. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <archive.h>
#include <archive_entry.h>

#include "oci/oci.h"

/*
 * libarchive reads the tar; writing is done here by hand instead of archive_write_disk so
 * that every path is resolved with openat2(RESOLVE_IN_ROOT) below the layer directory and the
 * overlay whiteout conversion happens on the way.
 */

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define XATTR_OPAQUE "trusted.overlay.opaque"

struct dir_fix {
	char *path; /* relative to the root, "." for the root itself */
	mode_t mode;
	struct timespec ts[2];
};

struct unpack {
	int root_fd; /* dest_dir, O_PATH */
	bool privileged;
	uint64_t entries, max_entries;
	uint64_t bytes, max_bytes;
	size_t max_path;
	const char *entry; /* pathname of the entry being written, for messages */
	struct dir_fix *dirs;
	size_t n_dirs, cap_dirs;
	/* the tar byte stream and its failure, if the reader failed because of it */
	struct oci_layer_stream *stream;
	struct diag *d;
	int stream_err;
	uint64_t tar_seen; /* bytes handed to libarchive */
};

static void archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

static void streamp_free(struct oci_layer_stream **s)
{
	oci_layer_stream_free(*s);
}

static void unpack_clear(struct unpack *u)
{
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	if (u->root_fd >= 0)
		close(u->root_fd);
}

static int entry_fail(struct unpack *u, struct diag *d, int err, const char *fmt, ...)
	_printf_(4, 5);

/* "layer entry 'x': <msg>" */
static int entry_fail(struct unpack *u, struct diag *d, int err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return diag_fail(d, err, "layer entry \"%.200s\": %s", u->entry ? u->entry : "?", msg);
}

/* A failure reported by libarchive: the stream's own error when it caused it. */
static int archive_fail(struct unpack *u, struct archive *a, struct diag *d, const char *doing)
{
	const char *why = archive_error_string(a) ? archive_error_string(a) : "unknown error";

	if (u->stream_err)
		return u->stream_err;
	if (u->entry)
		return entry_fail(u, d, -EBADMSG, "%s: %s: the layer is not a valid tar archive",
				  doing, why);
	return diag_fail(d, -EBADMSG, "%s: %s: the layer is not a valid tar archive", doing, why);
}

static la_ssize_t read_cb(struct archive *a, void *data, const void **buf)
{
	struct unpack *u = data;
	ssize_t n = oci_layer_stream_read(u->stream, buf, u->d);

	if (n < 0) {
		u->stream_err = (int)n;
		archive_set_error(a, (int)-n, "reading the layer failed");
		return -1;
	}
	u->tar_seen += (uint64_t)n;
	return n;
}

/*
 * Lexically clean an archive path into out: leading "/" and "./" go, "." and empty components
 * go, ".." removes the previous component and must not climb above the root. "" is the root.
 */
static int path_clean(struct unpack *u, const char *in, char *out, size_t outsz, struct diag *d)
{
	size_t len = 0;

	if (strlen(in) > u->max_path)
		return entry_fail(u, d, -ENAMETOOLONG, "path longer than %zu bytes", u->max_path);
	while (*in) {
		const char *end = strchrnul(in, '/');
		size_t n = (size_t)(end - in);

		if (n == 0 || (n == 1 && in[0] == '.')) {
			/* nothing */
		} else if (n == 2 && in[0] == '.' && in[1] == '.') {
			if (len == 0)
				return entry_fail(u, d, -EPERM,
						  "path leaves the layer root (\"..\"); the layer "
						  "is malicious or broken");
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--; /* the separator */
		} else {
			if (len + 1 + n + 1 > outsz)
				return entry_fail(u, d, -ENAMETOOLONG, "path too long");
			if (len)
				out[len++] = '/';
			memcpy(out + len, in, n);
			len += n;
		}
		in = *end ? end + 1 : end;
	}
	out[len] = '\0';
	return 0;
}

/* Split a clean path in place: *ret_name is the last component, path keeps the parent. */
static char *path_split(char *path)
{
	char *slash = strrchr(path, '/');

	if (!slash) {
		memmove(path + 1, path, strlen(path) + 1);
		path[0] = '\0';
		return path + 1;
	}
	*slash = '\0';
	return slash + 1;
}

/* Open the parent directory `parent` (clean, "" = root) inside the root, creating missing
 * directories on the way; symlinks on the way resolve inside the root. O_PATH fd. */
static int open_parent(struct unpack *u, const char *parent, struct diag *d)
{
	char prefix[OCI_PATH_MAX + 1];
	_cleanup_close_ int cur = -1;
	int fd;

	if (!*parent)
		fd = openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	else
		fd = fs_open_in_root(u->root_fd, parent, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT)
		return entry_fail(u, d, fd, "opening parent directory \"%.200s\": %s", parent,
				  strerror(-fd));

	cur = openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return entry_fail(u, d, -errno, "opening the layer root: %m");
	for (const char *p = parent; *p;) {
		const char *end = strchrnul(p, '/');
		size_t plen = (size_t)(end - parent);
		char comp[NAME_MAX + 1];

		if ((size_t)(end - p) > NAME_MAX)
			return entry_fail(u, d, -ENAMETOOLONG, "path component too long");
		memcpy(comp, p, (size_t)(end - p));
		comp[end - p] = '\0';
		memcpy(prefix, parent, plen);
		prefix[plen] = '\0';
		fd = fs_open_in_root(u->root_fd, prefix, O_PATH | O_DIRECTORY, 0);
		if (fd == -ENOENT) {
			if (mkdirat(cur, comp, 0755) == 0) {
				/* exact mode whatever the umask; a later entry may change it */
				(void)fchmodat(cur, comp, 0755, 0);
			} else if (errno != EEXIST) {
				return entry_fail(u, d, -errno, "creating directory \"%.200s\": %m",
						  prefix);
			}
			fd = fs_open_in_root(u->root_fd, prefix, O_PATH | O_DIRECTORY, 0);
		}
		if (fd < 0)
			return entry_fail(u, d, fd,
					  "parent \"%.200s\" is not a usable directory (%s); a "
					  "dangling symlink or a file is in the way",
					  prefix, strerror(-fd));
		close(cur);
		cur = fd;
		p = *end ? end + 1 : end;
	}
	return TAKE_FD(cur);
}

/* Make room for a new entry `name` in pfd. Returns 1 when an existing directory is kept
 * (keep_dir), 0 when the name is free. */
static int make_room(struct unpack *u, int pfd, const char *name, bool keep_dir, struct diag *d)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return entry_fail(u, d, -errno, "stat: %m");
	}
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir)
			return 1;
		if (unlinkat(pfd, name, AT_REMOVEDIR) < 0)
			return entry_fail(u, d, -errno,
					  "replacing the directory of the same name failed: %m "
					  "(a layer that replaces a non-empty directory is not "
					  "supported)");
		return 0;
	}
	if (unlinkat(pfd, name, 0) < 0)
		return entry_fail(u, d, -errno, "replacing the existing entry failed: %m");
	return 0;
}

static int entry_owner(struct unpack *u, struct archive_entry *e, uid_t *uid, gid_t *gid,
		       struct diag *d)
{
	la_int64_t U = archive_entry_uid(e), G = archive_entry_gid(e);

	if (U < 0 || U >= UINT32_MAX || G < 0 || G >= UINT32_MAX)
		return entry_fail(u, d, -EINVAL, "uid/gid %lld:%lld out of range", (long long)U,
				  (long long)G);
	*uid = (uid_t)U;
	*gid = (gid_t)G;
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime_is_set(e) ? archive_entry_mtime(e) : 0;
	ts[1].tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : UTIME_OMIT;
	if (ts[1].tv_nsec != UTIME_OMIT && (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000))
		ts[1].tv_nsec = 0;
	ts[0] = ts[1];
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
		if (ts[0].tv_nsec < 0 || ts[0].tv_nsec >= 1000000000)
			ts[0].tv_nsec = 0;
	}
}

static bool is_overlay_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0;
}

/* The entry's xattrs on fd, except overlay ones (a layer must not forge overlay metadata). */
static int apply_xattrs(struct unpack *u, int fd, struct archive_entry *e, struct diag *d)
{
	const char *name;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || is_overlay_xattr(name))
			continue;
		if (fsetxattr(fd, name, value, size, 0) == 0)
			continue;
		if (errno == ENOTSUP || (errno == EPERM && !u->privileged))
			continue; /* the filesystem or our privileges cannot carry it */
		return entry_fail(u, d, -errno, "setting xattr %.100s: %m", name);
	}
	return 0;
}

/* Owner (root only), then mode (after chown, which clears setuid bits), xattrs, times. */
static int apply_meta_fd(struct unpack *u, int fd, struct archive_entry *e, struct diag *d)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	r = entry_owner(u, e, &uid, &gid, d);
	if (r < 0)
		return r;
	if (u->privileged && fchown(fd, uid, gid) < 0)
		return entry_fail(u, d, -errno, "chown %u:%u: %m", uid, gid);
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return entry_fail(u, d, -errno, "chmod: %m");
	r = apply_xattrs(u, fd, e, d);
	if (r < 0)
		return r;
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return entry_fail(u, d, -errno, "setting times: %m");
	return 0;
}

/* Metadata of a symlink or device node by name (no fd for those). */
static int apply_meta_at(struct unpack *u, int pfd, const char *name, struct archive_entry *e,
			 bool chmod_too, struct diag *d)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	r = entry_owner(u, e, &uid, &gid, d);
	if (r < 0)
		return r;
	if (u->privileged && fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(u, d, -errno, "chown %u:%u: %m", uid, gid);
	/* chmod follows symlinks: only used on the node just created here, never a symlink */
	if (chmod_too && fchmodat(pfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return entry_fail(u, d, -errno, "chmod: %m");
	entry_times(e, ts);
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(u, d, -errno, "setting times: %m");
	return 0;
}

static int write_file(struct unpack *u, struct archive *a, struct archive_entry *e, int pfd,
		      const char *name, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;

	r = make_room(u, pfd, name, false, d);
	if (r < 0)
		return r;
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return entry_fail(u, d, -errno, "creating file: %m");
	while ((r = archive_read_data_block(a, &buf, &size, &off)) != ARCHIVE_EOF) {
		const char *p = buf;

		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return archive_fail(u, a, d, "reading file data");
		if (off < 0)
			return entry_fail(u, d, -EBADMSG, "negative data offset");
		u->bytes += size;
		if (u->bytes > u->max_bytes)
			return entry_fail(u, d, -EFBIG,
					  "the layer writes more than %llu bytes (a decompression "
					  "bomb?); refusing to unpack it",
					  (unsigned long long)u->max_bytes);
		while (size > 0) {
			ssize_t n = pwrite(fd, p, size, off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return entry_fail(u, d, -errno, "writing: %m");
			p += n;
			size -= (size_t)n;
			off += n;
		}
	}
	/* a sparse file may end in a hole */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0 &&
	    ftruncate(fd, archive_entry_size(e)) < 0)
		return entry_fail(u, d, -errno, "setting the size: %m");
	return apply_meta_fd(u, fd, e, d);
}

static int dir_fix_add(struct unpack *u, const char *path, struct archive_entry *e)
{
	struct dir_fix *f;

	if (u->n_dirs == u->cap_dirs) {
		size_t ncap = u->cap_dirs ? u->cap_dirs * 2 : 64;
		struct dir_fix *n = realloc(u->dirs, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		u->dirs = n;
		u->cap_dirs = ncap;
	}
	f = &u->dirs[u->n_dirs];
	f->path = strdup(*path ? path : ".");
	if (!f->path)
		return -ENOMEM;
	f->mode = archive_entry_perm(e) & 07777;
	entry_times(e, f->ts);
	u->n_dirs++;
	return 0;
}

/* Owner and xattrs now; mode and times once all children are written (dir_fix_apply). */
static int write_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
		     const char *path, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	uid_t uid;
	gid_t gid;
	int r;

	if (pfd >= 0) {
		r = make_room(u, pfd, name, true, d);
		if (r < 0)
			return r;
		if (r == 0 && mkdirat(pfd, name, 0700) < 0)
			return entry_fail(u, d, -errno, "creating directory: %m");
		fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	} else {
		fd = openat(u->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return entry_fail(u, d, -errno, "opening directory: %m");
	r = entry_owner(u, e, &uid, &gid, d);
	if (r < 0)
		return r;
	if (u->privileged && fchown(fd, uid, gid) < 0)
		return entry_fail(u, d, -errno, "chown %u:%u: %m", uid, gid);
	r = apply_xattrs(u, fd, e, d);
	if (r < 0)
		return r;
	r = dir_fix_add(u, path, e);
	return r < 0 ? entry_fail(u, d, r, "out of memory") : 0;
}

static int write_symlink(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
			 struct diag *d)
{
	const char *target = archive_entry_symlink(e);
	int r;

	if (!target)
		target = archive_entry_symlink_utf8(e);
	if (!target || !*target)
		return entry_fail(u, d, -EBADMSG, "symlink without a target");
	if (strlen(target) > u->max_path)
		return entry_fail(u, d, -ENAMETOOLONG, "symlink target longer than %zu bytes",
				  u->max_path);
	r = make_room(u, pfd, name, false, d);
	if (r < 0)
		return r;
	/* the target is stored verbatim and never followed here */
	if (symlinkat(target, pfd, name) < 0)
		return entry_fail(u, d, -errno, "creating symlink: %m");
	return apply_meta_at(u, pfd, name, e, false, d);
}

static int write_node(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
		      mode_t type, struct diag *d)
{
	dev_t dev = type == S_IFIFO ? 0 : archive_entry_rdev(e);
	int r;

	r = make_room(u, pfd, name, false, d);
	if (r < 0)
		return r;
	if (mknodat(pfd, name, type | 0600, dev) < 0)
		return entry_fail(
			u, d, -errno, "creating %s: %m%s", type == S_IFIFO ? "fifo" : "device node",
			errno == EPERM ? " (device nodes need CAP_MKNOD: unpack as root)" : "");
	return apply_meta_at(u, pfd, name, e, true, d);
}

/* A hard link to an earlier entry; the target is resolved inside the root. */
static int write_hardlink(struct unpack *u, const char *target_raw, int pfd, const char *name,
			  struct diag *d)
{
	char target[OCI_PATH_MAX + 2];
	_cleanup_close_ int tfd = -1;
	struct stat tst, st;
	const char *tname;
	int r;

	r = path_clean(u, target_raw, target, sizeof(target), d);
	if (r < 0)
		return r;
	if (!*target)
		return entry_fail(u, d, -EPERM, "hard link to the layer root");
	tname = path_split(target);
	tfd = *target ? fs_open_in_root(u->root_fd, target, O_PATH | O_DIRECTORY, 0)
		      : openat(u->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0 || fstatat(tfd, tname, &tst, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(u, d, -ENOENT, "hard link target \"%.200s\" is not in this layer",
				  target_raw);
	if (S_ISDIR(tst.st_mode))
		return entry_fail(u, d, -EPERM, "hard link to a directory (\"%.200s\")",
				  target_raw);
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
	    st.st_ino == tst.st_ino)
		return 0; /* already that file */
	r = make_room(u, pfd, name, false, d);
	if (r < 0)
		return r;
	/* flags 0: a symlink target is linked itself, not followed */
	if (linkat(tfd, tname, pfd, name, 0) < 0)
		return entry_fail(u, d, -errno, "creating hard link to \"%.200s\": %m", target_raw);
	return 0;
}

/* ".wh.<name>" becomes a 0:0 character device; ".wh..wh..opq" marks the parent opaque. */
static int write_whiteout(struct unpack *u, int pfd, const char *name, struct diag *d)
{
	_cleanup_close_ int dfd = -1;
	const char *victim = name + strlen(WH_PREFIX);
	int r;

	if (strcmp(name, WH_OPAQUE) == 0) {
		dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return entry_fail(u, d, -errno, "opening directory: %m");
		if (fsetxattr(dfd, XATTR_OPAQUE, "y", 1, 0) < 0)
			return entry_fail(u, d, -errno, "marking the directory opaque: %m%s",
					  errno == EPERM ? " (trusted.* xattrs need "
							   "CAP_SYS_ADMIN: unpack as root)"
							 : "");
		return 0;
	}
	if (strncmp(name, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0)
		return 0; /* other AUFS metadata (.wh..wh.plnk, ...) has no overlay meaning */
	if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
		return entry_fail(u, d, -EBADMSG, "malformed whiteout");
	r = make_room(u, pfd, victim, false, d);
	if (r < 0)
		return r;
	if (mknodat(pfd, victim, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return entry_fail(u, d, -errno, "creating whiteout: %m%s",
				  errno == EPERM ? " (whiteouts are character devices and need "
						   "CAP_MKNOD: unpack as root)"
						 : "");
	return 0;
}

static int write_entry(struct unpack *u, struct archive *a, struct archive_entry *e, struct diag *d)
{
	char path[OCI_PATH_MAX + 2], parent[OCI_PATH_MAX + 2];
	const char *raw = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	_cleanup_close_ int pfd = -1;
	mode_t type = archive_entry_filetype(e);
	char *name;
	int r;

	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	u->entry = raw;
	if (!raw)
		return diag_fail(d, -EBADMSG, "layer entry without a usable path name");
	r = path_clean(u, raw, path, sizeof(path), d);
	if (r < 0)
		return r;
	if (!*path) { /* the root itself ("./") */
		if (type != AE_IFDIR || hardlink)
			return entry_fail(u, d, -EBADMSG, "the layer root must be a directory");
		return write_dir(u, e, -1, NULL, path, d);
	}
	/* AUFS metadata (.wh..wh.plnk/, .wh..wh.aufs) at the top has no overlay meaning */
	if (strncmp(path, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0 &&
	    strcmp(path, WH_OPAQUE) != 0)
		return 0;
	memcpy(parent, path, strlen(path) + 1);
	name = path_split(parent);
	if (strlen(name) > NAME_MAX)
		return entry_fail(u, d, -ENAMETOOLONG, "file name longer than %d bytes", NAME_MAX);
	pfd = open_parent(u, parent, d);
	if (pfd < 0)
		return pfd;

	if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return write_whiteout(u, pfd, name, d);
	if (hardlink)
		return write_hardlink(u, hardlink, pfd, name, d);
	switch (type) {
	case AE_IFREG:
		return write_file(u, a, e, pfd, name, d);
	case AE_IFDIR:
		return write_dir(u, e, pfd, name, path, d);
	case AE_IFLNK:
		return write_symlink(u, e, pfd, name, d);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return write_node(u, e, pfd, name, type, d);
	default:
		return 0; /* sockets and unknown types: nothing to create */
	}
}

/* Directory modes and times, now that nothing is written below them any more. */
static int dir_fix_apply(struct unpack *u, struct diag *d)
{
	for (size_t i = 0; i < u->n_dirs; i++) {
		struct dir_fix *f = &u->dirs[i];
		_cleanup_close_ int fd = fs_open_in_root(u->root_fd, f->path,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);

		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue; /* replaced by a later entry */
		if (fd < 0)
			return diag_fail(d, fd, "layer entry \"%.200s\": reopening directory: %s",
					 f->path, strerror(-fd));
		if (fchmod(fd, f->mode) < 0 || futimens(fd, f->ts) < 0)
			return diag_fail(d, -errno,
					 "layer entry \"%.200s\": setting mode/times: %m", f->path);
	}
	return 0;
}

static int unpack_all(struct unpack *u, struct diag *d)
{
	_cleanup_(archive_read_freep) struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r;

	if (!a)
		return -ENOMEM;
	/* tar covers ustar, pax and GNU tar; no filter: decompression happened in the stream */
	if (archive_read_support_format_tar(a) != ARCHIVE_OK)
		return archive_fail(u, a, d, "opening the layer");
	r = archive_read_open(a, u, NULL, read_cb, NULL);
	if (r != ARCHIVE_OK && !u->stream_err && u->tar_seen == 0)
		goto end; /* a zero-length layer: an empty tar stream, as other runtimes read it */
	if (r != ARCHIVE_OK)
		return archive_fail(u, a, d, "opening the layer");
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) /* WARN: e.g. a name not in the locale */
			return archive_fail(u, a, d, "reading the next entry");
		if (++u->entries > u->max_entries)
			return diag_fail(d, -E2BIG,
					 "the layer has more than %llu entries; refusing to unpack "
					 "it",
					 (unsigned long long)u->max_entries);
		r = write_entry(u, a, e, d);
		if (r < 0)
			return r;
		u->entry = NULL;
	}
end:
	r = oci_layer_stream_finish(u->stream, d);
	if (r < 0)
		return r;
	return dir_fix_apply(u, d);
}

int oci_layer_unpack_opts(int blob_fd, const char *dest_dir, const struct oci_unpack_opts *o,
			  struct diag *d)
{
	_cleanup_(unpack_clear) struct unpack u = { .root_fd = -1 };
	_cleanup_(streamp_free) struct oci_layer_stream *s = NULL;
	int r;

	u.privileged = geteuid() == 0;
	u.max_entries = o->max_entries ? o->max_entries : OCI_LAYER_ENTRIES_MAX;
	u.max_bytes = o->max_bytes ? o->max_bytes : OCI_UNPACKED_MAX;
	u.max_path = o->max_path && o->max_path < OCI_PATH_MAX ? o->max_path : OCI_PATH_MAX;
	u.d = d;
	u.root_fd = open(dest_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (u.root_fd < 0)
		return diag_fail_at(d, -errno, dest_dir, "opening %s: %m", dest_dir);

	r = oci_layer_stream_new(blob_fd, o, &s, d);
	if (r < 0)
		return r;
	u.stream = s;
	r = unpack_all(&u, d);
	if (r < 0)
		r = oci_layer_stream_blame_blob(s, r, d);
	return r;
}

int oci_layer_unpack(int blob_fd, const char *dest_dir, const char *expected_diff_id,
		     struct diag *d)
{
	struct oci_unpack_opts o = { .blob_size = -1, .diff_id = expected_diff_id };
	int r;

	if (expected_diff_id) {
		r = oci_digest_check(expected_diff_id, "expected diff_id", NULL, d);
		if (r < 0)
			return r;
	}
	return oci_layer_unpack_opts(blob_fd, dest_dir, &o, d);
}
