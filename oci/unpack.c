/* unpack.c - write a layer's tar entries into its directory, over the layers beneath it, in
 * overlay lowerdir form. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <archive.h>
#include <archive_entry.h>

#include "oci/oci.h"

/*
 * libarchive reads the tar; writing is done here by hand instead of archive_write_disk so
 * that paths resolve inside the root over the layers beneath and the overlay whiteout
 * conversion happens on the way.
 *
 * The view: layer N is written into its own directory (the current layer) on top of the
 * read-only directories of layers 0..N-1. A name is looked up as overlayfs does: the topmost
 * layer that has it decides (a 0:0 character device is a whiteout: nothing there; a directory
 * merges with the directories of that name below it, down to a non-directory, a whiteout or
 * an opaque directory). Symlinks of any layer are followed here, in user space, inside the
 * root: an absolute target restarts at the root and ".." stops there (RESOLVE_IN_ROOT over the
 * merged tree). The file system is only walked one component at a time with O_NOFOLLOW, so
 * whatever the symlinks say nothing outside the layer directories is reached. Parents an entry
 * needs that the current layer lacks are made as copies of the lower layer's directory
 * (owner, mode, times, xattrs), as overlayfs copies a directory up; a hard link to a file of a
 * lower layer copies that file up first. Whiteouts hide only what the layers below hold.
 */

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define XATTR_OPAQUE "trusted.overlay.opaque"
#define SYMLINKS_MAX 40
/* Names descended into while resolving one entry's paths (its parent, a hard link target, a
 * whiteout): each ".." walks the canonical path again, so without a budget a few symlinks full
 * of "../a" cost the square of their length. */
#define WALK_STEPS_MAX (4 * OCI_PATH_MAX)
/* Bytes of the directory fix-up list (a path and a struct per directory written or copied
 * up): bounded, so that one directory entry repeated a million times is an error, not 4 GB. */
#define DIR_FIX_BYTES_MAX (64ull << 20)

struct dir_fix {
	char *path; /* canonical, relative to the root, "." for the root itself */
	mode_t mode;
	struct timespec ts[2];
};

/* A directory of the view: its fd in each layer that contributes to it. */
struct walk {
	char canon[OCI_PATH_MAX + 2]; /* its path with no symlink in it; "" is the root */
	size_t len;
	int *fds; /* bottom layer first, the current layer last (index top); -1: none */
};

struct unpack {
	int root_fd; /* the current layer's directory */
	int *lower_fds;
	size_t n_lower;
	size_t top; /* index of the current layer in walk fds (== n_lower) */
	bool privileged;
	uid_t euid;    /* owner of what we create: a chown to it is a no-op */
	gid_t egid;    /* (no directory is setgid before dir_fix_apply) */
	mode_t umask;  /* the process umask (0777 when unknown: always chmod) */
	uint64_t entries, max_entries;
	uint64_t bytes, max_bytes;
	size_t max_path;
	const char *entry; /* pathname of the entry being written, for messages */
	struct dir_fix *dirs;
	size_t n_dirs, cap_dirs;
	uint64_t dir_fix_bytes; /* DIR_FIX_BYTES_MAX */
	unsigned int steps;     /* walk_descend calls for the current entry (WALK_STEPS_MAX) */
	/* the parent of the last entry, resolved: most entries share theirs with the one before */
	struct walk w;
	char w_raw[OCI_PATH_MAX + 2];
	bool w_ok;
	struct walk tw; /* scratch walk for hard link targets */
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

static void walk_close(struct unpack *u, struct walk *w)
{
	for (size_t k = 0; w->fds && k <= u->top; k++) {
		if (w->fds[k] >= 0)
			close(w->fds[k]);
		w->fds[k] = -1;
	}
}

static void unpack_clear(struct unpack *u)
{
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	walk_close(u, &u->w);
	walk_close(u, &u->tw);
	free(u->w.fds);
	free(u->tw.fds);
	for (size_t i = 0; u->lower_fds && i < u->n_lower; i++)
		if (u->lower_fds[i] >= 0)
			close(u->lower_fds[i]);
	free(u->lower_fds);
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

/* ---- the view of the layers ----------------------------------------------------------------- */

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool is_opaque(int dfd)
{
	char v = 0;

	return fgetxattr(dfd, XATTR_OPAQUE, &v, 1) == 1 && v == 'y';
}

static bool is_overlay_xattr(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) == 0 ||
	       strncmp(name, "user.overlay.", 13) == 0;
}

/* A directory below dfd, never through a symlink. */
static int open_dir(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* A path of the current layer with no symlink in it (canonical paths), never leaving it. */
static int open_beneath(int root_fd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static int mark_opaque(struct unpack *u, int dfd, struct diag *d)
{
	if (fsetxattr(dfd, XATTR_OPAQUE, "y", 1, 0) < 0)
		return entry_fail(u, d, -errno, "marking the directory opaque: %m%s",
				  errno == EPERM ? " (trusted.* xattrs need CAP_SYS_ADMIN: unpack "
						   "as root)"
						 : "");
	return 0;
}

/* The xattrs of src on dst, except overlay ones (they describe src's layer, not dst's). */
static int copy_xattrs(struct unpack *u, int src, int dst, struct diag *d)
{
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ char *val = NULL;
	ssize_t n = flistxattr(src, NULL, 0);

	if (n <= 0)
		return 0; /* none, or the file system has none */
	list = malloc((size_t)n + 1);
	val = malloc(XATTR_SIZE_MAX);
	if (!list || !val)
		return -ENOMEM;
	n = flistxattr(src, list, (size_t)n);
	if (n < 0)
		return entry_fail(u, d, -errno, "listing xattrs of a lower layer: %m");
	for (char *name = list; name < list + n; name += strlen(name) + 1) {
		ssize_t vn;

		if (is_overlay_xattr(name))
			continue;
		vn = fgetxattr(src, name, val, XATTR_SIZE_MAX);
		if (vn < 0)
			continue;
		if (fsetxattr(dst, name, val, (size_t)vn, 0) == 0 || errno == ENOTSUP ||
		    (errno == EPERM && !u->privileged))
			continue;
		return entry_fail(u, d, -errno, "copying xattr %.100s up: %m", name);
	}
	return 0;
}

static int dir_fix_add(struct unpack *u, const char *path, mode_t mode, const struct timespec ts[2])
{
	struct dir_fix *f;

	u->dir_fix_bytes += sizeof(*f) + strlen(path) + 1;
	if (u->dir_fix_bytes > DIR_FIX_BYTES_MAX)
		return -E2BIG;
	if (array_grow((void **)&u->dirs, &u->cap_dirs, u->n_dirs, sizeof(*u->dirs), 64) < 0)
		return -ENOMEM;
	f = &u->dirs[u->n_dirs];
	f->path = strdup(*path ? path : ".");
	if (!f->path)
		return -ENOMEM;
	f->mode = mode & 07777;
	f->ts[0] = ts[0];
	f->ts[1] = ts[1];
	u->n_dirs++;
	return 0;
}

static int dir_fix_fail(struct unpack *u, struct diag *d, int r)
{
	if (r == -E2BIG)
		return entry_fail(u, d, r, "the layer lists more directories than %llu MiB of "
					   "bookkeeping allows",
				  (unsigned long long)(DIR_FIX_BYTES_MAX >> 20));
	return entry_fail(u, d, r, "out of memory");
}

/* Owner and xattrs of dst from the lower layer's src now; mode and times at the end. */
static int copy_dir_meta(struct unpack *u, int src, int dst, const char *path, struct diag *d)
{
	struct stat st;
	struct timespec ts[2];
	int r;

	if (fstat(src, &st) < 0)
		return entry_fail(u, d, -errno, "stat of a lower layer's directory: %m");
	if (u->privileged && fchown(dst, st.st_uid, st.st_gid) < 0)
		return entry_fail(u, d, -errno, "chown %u:%u: %m", st.st_uid, st.st_gid);
	r = copy_xattrs(u, src, dst, d);
	if (r < 0)
		return r;
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	r = dir_fix_add(u, path, st.st_mode, ts);
	return r < 0 ? dir_fix_fail(u, d, r) : 0;
}

static int walk_init(struct unpack *u, struct walk *w)
{
	w->fds = malloc((u->top + 1) * sizeof(int));
	if (!w->fds)
		return -ENOMEM;
	for (size_t k = 0; k <= u->top; k++)
		w->fds[k] = -1;
	return 0;
}

/* w := the root of the view. */
static int walk_root(struct unpack *u, struct walk *w, struct diag *d)
{
	bool live = true;

	walk_close(u, w);
	w->len = 0;
	w->canon[0] = '\0';
	for (size_t i = 0; i <= u->top && live; i++) {
		size_t k = u->top - i;
		int src = k == u->top ? u->root_fd : u->lower_fds[k];

		w->fds[k] = fcntl(src, F_DUPFD_CLOEXEC, 3);
		if (w->fds[k] < 0)
			return entry_fail(u, d, -errno, "opening a layer root: %m");
		if (k > 0 && is_opaque(w->fds[k]))
			live = false;
	}
	return 0;
}

enum view_kind { V_NONE, V_DIR, V_LINK, V_OTHER };

/* What `name` is in w, as the topmost layer having it says (*ret_layer, -1: none). */
static int walk_lookup(struct unpack *u, struct walk *w, const char *name, int *ret_layer,
		       struct stat *ret_st, struct diag *d)
{
	struct stat st;

	for (size_t i = 0; i <= u->top; i++) {
		size_t k = u->top - i;

		if (w->fds[k] < 0)
			continue;
		if (fstatat(w->fds[k], name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return entry_fail(u, d, -errno, "looking up \"%.200s\": %m", name);
		}
		*ret_layer = (int)k;
		if (ret_st)
			*ret_st = st;
		if (is_whiteout(&st))
			return V_NONE;
		return S_ISDIR(st.st_mode) ? V_DIR : S_ISLNK(st.st_mode) ? V_LINK : V_OTHER;
	}
	*ret_layer = -1;
	return V_NONE;
}

/*
 * Step w into its child `name`, a directory of the view whose topmost layer is top_k (-1: no
 * layer has it). create: the current layer gets the directory when it lacks it, as a copy of
 * the one of layer top_k, else new (opaque when it replaces a whiteout of this layer).
 */
static int walk_descend(struct unpack *u, struct walk *w, const char *name, int top_k,
			bool create, bool over_whiteout, struct diag *d)
{
	int nfds[OCI_LAYERS_MAX + 1];
	char path[OCI_PATH_MAX + 2];
	size_t n = strlen(name);
	bool live = true;
	int r = 0;

	if (++u->steps > WALK_STEPS_MAX)
		return entry_fail(u, d, -ELOOP, "resolving its paths takes more than %u steps "
					       "(symlinks full of \"..\"?)", WALK_STEPS_MAX);
	if (w->len + 1 + n > u->max_path)
		return entry_fail(u, d, -ENAMETOOLONG, "path longer than %zu bytes", u->max_path);
	memcpy(path, w->canon, w->len);
	path[w->len] = '/';
	memcpy(path + (w->len ? w->len + 1 : 0), name, n + 1);

	for (size_t k = 0; k <= u->top; k++)
		nfds[k] = -1;
	for (size_t i = 0; top_k >= 0 && i <= u->top && live; i++) {
		size_t k = u->top - i;
		struct stat st;

		if (w->fds[k] < 0 || (int)k > top_k)
			continue; /* above top_k no layer has the name */
		if ((int)k < top_k) {
			if (fstatat(w->fds[k], name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue;
				r = entry_fail(u, d, -errno, "looking up \"%.200s\": %m", path);
				goto fail;
			}
			if (!S_ISDIR(st.st_mode))
				break; /* a file or a whiteout hides what is below it */
		}
		nfds[k] = open_dir(w->fds[k], name);
		if (nfds[k] < 0) {
			r = entry_fail(u, d, nfds[k], "opening directory \"%.200s\": %s", path,
				       strerror(-nfds[k]));
			goto fail;
		}
		if (k > 0 && is_opaque(nfds[k]))
			live = false;
	}
	if (create && nfds[u->top] < 0) {
		int pfd = w->fds[u->top];

		if (pfd < 0) {
			r = entry_fail(u, d, -EIO, "internal error: no current layer directory");
			goto fail;
		}
		if (over_whiteout && unlinkat(pfd, name, 0) < 0) {
			r = entry_fail(u, d, -errno, "replacing the whiteout \"%.200s\": %m", path);
			goto fail;
		}
		if (mkdirat(pfd, name, 0700) < 0) {
			r = entry_fail(u, d, -errno, "creating directory \"%.200s\": %m", path);
			goto fail;
		}
		nfds[u->top] = open_dir(pfd, name);
		if (nfds[u->top] < 0) {
			r = entry_fail(u, d, nfds[u->top], "opening directory \"%.200s\": %s", path,
				       strerror(-nfds[u->top]));
			goto fail;
		}
		if (top_k >= 0) {
			r = copy_dir_meta(u, nfds[top_k], nfds[u->top], path, d);
		} else {
			/* no layer has it: a new directory, as an unlisted parent always was */
			if (fchmod(nfds[u->top], 0755) < 0)
				r = entry_fail(u, d, -errno, "chmod \"%.200s\": %m", path);
			if (r >= 0 && over_whiteout && u->n_lower > 0)
				r = mark_opaque(u, nfds[u->top], d);
		}
		if (r < 0)
			goto fail;
	}
	walk_close(u, w);
	for (size_t k = 0; k <= u->top; k++)
		w->fds[k] = nfds[k];
	w->len = strlen(path);
	memcpy(w->canon, path, w->len + 1);
	return 0;
fail:
	for (size_t k = 0; k <= u->top; k++)
		if (nfds[k] >= 0)
			close(nfds[k]);
	return r;
}

static int walk_resolve(struct unpack *u, struct walk *w, const char *path, bool create,
			struct diag *d);

/* "..": the parent of w (the root's is the root), by walking its canonical path again. */
static int walk_up(struct unpack *u, struct walk *w, bool create, struct diag *d)
{
	char path[OCI_PATH_MAX + 2];
	char *slash;
	int r;

	if (!w->len)
		return 0;
	memcpy(path, w->canon, w->len + 1);
	slash = strrchr(path, '/');
	if (slash)
		*slash = '\0';
	else
		path[0] = '\0';
	r = walk_root(u, w, d);
	if (r < 0)
		return r;
	return walk_resolve(u, w, path, create, d);
}

/*
 * Move w along `path` (relative; "" stays), to a directory of the view, following symlinks of
 * any layer inside the root. create: directories the current layer lacks are made there
 * (copies of the lower layer's ones; new ones for names of the path itself that no layer has).
 * -ENOENT (a name missing, or a dangling symlink), -ENOTDIR and -ELOOP come without a
 * message: the caller knows what it was looking for.
 */
static int walk_resolve(struct unpack *u, struct walk *w, const char *path, bool create,
			struct diag *d)
{
	char rest[3 * OCI_PATH_MAX + 8];
	size_t pos = 0, rlen = strlen(path), link_end = 0; /* rest[0, link_end): from symlinks */
	unsigned links = 0;
	int r;

	if (rlen >= sizeof(rest))
		return entry_fail(u, d, -ENAMETOOLONG, "path too long");
	memcpy(rest, path, rlen + 1);
	while (pos < rlen) {
		char name[NAME_MAX + 1], target[OCI_PATH_MAX + 1];
		size_t end = pos + strcspn(rest + pos, "/"), n = end - pos;
		bool from_link = pos < link_end;
		ssize_t tl;
		int k, kind;

		if (n > NAME_MAX)
			return entry_fail(u, d, -ENAMETOOLONG, "path component too long");
		memcpy(name, rest + pos, n);
		name[n] = '\0';
		pos = end < rlen ? end + 1 : end;
		if (n == 0 || strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			r = walk_up(u, w, create, d);
			if (r < 0)
				return r;
			continue;
		}
		kind = walk_lookup(u, w, name, &k, NULL, d);
		if (kind < 0)
			return kind;
		switch (kind) {
		case V_DIR:
			r = walk_descend(u, w, name, k, create, false, d);
			break;
		case V_NONE:
			/* names from symlink targets are never created: the link dangles */
			if (!create || from_link)
				return -ENOENT;
			r = walk_descend(u, w, name, -1, true, k == (int)u->top, d);
			break;
		case V_LINK:
			if (++links > SYMLINKS_MAX)
				return -ELOOP;
			tl = readlinkat(w->fds[k], name, target, sizeof(target));
			if (tl < 0)
				return entry_fail(u, d, -errno, "reading symlink \"%.200s\": %m", name);
			if ((size_t)tl >= sizeof(target) ||
			    (size_t)tl + 2 + (rlen - pos) > sizeof(rest))
				return entry_fail(u, d, -ENAMETOOLONG,
						  "path too long after following symlinks");
			target[tl] = '\0';
			/* rest := target "/" what is left */
			memmove(rest + tl + 1, rest + pos, rlen - pos + 1);
			memcpy(rest, target, (size_t)tl);
			rest[tl] = '/';
			link_end = (size_t)tl + 1 + (link_end > pos ? link_end - pos : 0);
			rlen = (size_t)tl + 1 + (rlen - pos);
			pos = 0;
			r = target[0] == '/' ? walk_root(u, w, d) : 0;
			break;
		default:
			return -ENOTDIR;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* The current layer's directory for an entry's parent (clean, "" is the root), resolved in
 * the view and made as needed. The fd belongs to u->w. */
static int parent_get(struct unpack *u, const char *parent, struct diag *d)
{
	size_t cl = strlen(u->w_raw);
	const char *rest = parent;
	int r;

	if (u->w_ok && strcmp(u->w_raw, parent) == 0)
		return u->w.fds[u->top];
	if (u->w_ok && (cl == 0 || (strncmp(parent, u->w_raw, cl) == 0 && parent[cl] == '/'))) {
		rest = parent + cl + (cl ? 1 : 0); /* below the last one: go on from there */
	} else {
		r = walk_root(u, &u->w, d);
		if (r < 0)
			return r;
	}
	u->w_ok = false;
	r = walk_resolve(u, &u->w, rest, true, d);
	if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
		return entry_fail(u, d, r,
				  "parent \"%.200s\" is not a usable directory (%s); a dangling "
				  "symlink or a file is in the way",
				  parent, strerror(-r));
	if (r < 0)
		return r;
	memcpy(u->w_raw, parent, strlen(parent) + 1);
	u->w_ok = true;
	return u->w.fds[u->top];
}

/* ---- writing entries -------------------------------------------------------------------------- */

/* Make room for a new entry `name` in pfd (a directory of the current layer). Returns 1 when
 * an existing directory is kept (keep_dir), 0 when the name is free; *ret_whiteout (may be
 * NULL) tells that a whiteout of this layer was there. */
static int make_room(struct unpack *u, int pfd, const char *name, bool keep_dir,
		     bool *ret_whiteout, struct diag *d)
{
	struct stat st;

	if (ret_whiteout)
		*ret_whiteout = false;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return entry_fail(u, d, -errno, "stat: %m");
	}
	if (S_ISDIR(st.st_mode) && keep_dir)
		return 1;
	u->w_ok = false; /* something on a resolved path may go */
	if (S_ISDIR(st.st_mode)) {
		if (unlinkat(pfd, name, AT_REMOVEDIR) < 0)
			return entry_fail(u, d, -errno,
					  "replacing the directory of the same name failed: %m "
					  "(a layer that replaces a non-empty directory is not "
					  "supported)");
		return 0;
	}
	if (unlinkat(pfd, name, 0) < 0)
		return entry_fail(u, d, -errno, "replacing the existing entry failed: %m");
	if (ret_whiteout)
		*ret_whiteout = is_whiteout(&st);
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

static bool needs_chown(struct unpack *u, uid_t uid, gid_t gid)
{
	return u->privileged && (uid != u->euid || gid != u->egid);
}

/* Owner (root only), then mode (after chown, which clears setuid bits), xattrs, times; the
 * file has mode `have` now. No-op syscalls are skipped. */
static int apply_meta_fd(struct unpack *u, int fd, struct archive_entry *e, mode_t have,
			 struct diag *d)
{
	mode_t perm = archive_entry_perm(e) & 07777;
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	r = entry_owner(u, e, &uid, &gid, d);
	if (r < 0)
		return r;
	if (needs_chown(u, uid, gid) && fchown(fd, uid, gid) < 0)
		return entry_fail(u, d, -errno, "chown %u:%u: %m", uid, gid);
	if (perm != have && fchmod(fd, perm) < 0)
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
	if (needs_chown(u, uid, gid) && fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
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
	la_int64_t off, end = 0;
	mode_t perm = archive_entry_perm(e) & 07777;
	/* born with its mode unless setuid/setgid/sticky bits must follow the chown */
	mode_t cmode = perm & 07000 ? 0600 : perm;
	int r;

	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, cmode);
	if (fd < 0 && errno == EEXIST) {
		r = make_room(u, pfd, name, false, NULL, d);
		if (r < 0)
			return r;
		fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, cmode);
	}
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
					  "unpacking writes more than %llu bytes (a decompression "
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
		if (off > end)
			end = off;
	}
	/* a sparse file may end in a hole */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
	    ftruncate(fd, archive_entry_size(e)) < 0)
		return entry_fail(u, d, -errno, "setting the size: %m");
	return apply_meta_fd(u, fd, e, cmode & ~u->umask, d);
}

/* The canonical path of `name` in the directory u->w stands at. */
static int entry_canon(struct unpack *u, const char *name, char *out, size_t outsz, struct diag *d)
{
	int n = snprintf(out, outsz, "%s%s%s", u->w.canon, u->w.len ? "/" : "", name);

	if (n < 0 || (size_t)n >= outsz)
		return entry_fail(u, d, -ENAMETOOLONG, "path too long");
	return 0;
}

/* Owner and xattrs now; mode and times once all children are written (dir_fix_apply). */
static int write_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
		     struct diag *d)
{
	char path[OCI_PATH_MAX + 2] = "";
	_cleanup_close_ int fd = -1;
	struct timespec ts[2];
	bool over_whiteout = false;
	uid_t uid;
	gid_t gid;
	int r;

	if (pfd >= 0) {
		r = entry_canon(u, name, path, sizeof(path), d);
		if (r < 0)
			return r;
		r = make_room(u, pfd, name, true, &over_whiteout, d);
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
	if (needs_chown(u, uid, gid) && fchown(fd, uid, gid) < 0)
		return entry_fail(u, d, -errno, "chown %u:%u: %m", uid, gid);
	r = apply_xattrs(u, fd, e, d);
	if (r < 0)
		return r;
	/* a directory where this layer put a whiteout: what the layers below had stays hidden */
	if (over_whiteout && u->n_lower > 0) {
		r = mark_opaque(u, fd, d);
		if (r < 0)
			return r;
	}
	entry_times(e, ts);
	r = dir_fix_add(u, path, archive_entry_perm(e), ts);
	return r < 0 ? dir_fix_fail(u, d, r) : 0;
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
	r = make_room(u, pfd, name, false, NULL, d);
	if (r < 0)
		return r;
	/* the target is stored verbatim and never followed by the file system here */
	if (symlinkat(target, pfd, name) < 0)
		return entry_fail(u, d, -errno, "creating symlink: %m");
	return apply_meta_at(u, pfd, name, e, false, d);
}

static int write_node(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
		      mode_t type, struct diag *d)
{
	dev_t dev = type == S_IFIFO ? 0 : archive_entry_rdev(e);
	int r;

	r = make_room(u, pfd, name, false, NULL, d);
	if (r < 0)
		return r;
	if (mknodat(pfd, name, type | 0600, dev) < 0)
		return entry_fail(
			u, d, -errno, "creating %s: %m%s", type == S_IFIFO ? "fifo" : "device node",
			errno == EPERM ? " (device nodes need CAP_MKNOD: unpack as root)" : "");
	return apply_meta_at(u, pfd, name, e, true, d);
}

static int copy_data(struct unpack *u, int in, int out, off_t size, struct diag *d)
{
	char buf[64 << 10];
	off_t done = 0;

	while (done < size) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)(size - done), 0);

		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			      errno == EOPNOTSUPP)) {
			n = pread(in, buf, sizeof(buf), done);
			if (n > 0 && pwrite(out, buf, (size_t)n, done) != n)
				n = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return entry_fail(u, d, -errno, "copying a lower layer's file up: %m");
		if (n == 0)
			break; /* the file shrank: layers are read-only, so it cannot */
		done += n;
	}
	return 0;
}

/* Copy `name` (st) of the lower layer directory src into dst of the current layer: content,
 * owner, mode, xattrs and times. */
static int copy_up(struct unpack *u, int src, int dst, const char *name, const struct stat *st,
		   struct diag *d)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	_cleanup_close_ int in = -1;
	_cleanup_close_ int out = -1;
	int r;

	if (S_ISLNK(st->st_mode)) {
		char target[OCI_PATH_MAX + 1];
		ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);

		if (n < 0)
			return entry_fail(u, d, -errno, "reading a lower layer's symlink: %m");
		target[n] = '\0';
		if (symlinkat(target, dst, name) < 0)
			return entry_fail(u, d, -errno, "copying a symlink up: %m");
	} else if (!S_ISREG(st->st_mode)) {
		if (mknodat(dst, name, st->st_mode & (S_IFMT | 0600), st->st_rdev) < 0)
			return entry_fail(u, d, -errno, "copying a node up: %m");
		if (fchmodat(dst, name, st->st_mode & 07777, 0) < 0)
			return entry_fail(u, d, -errno, "chmod: %m");
	} else {
		u->bytes += (uint64_t)st->st_size;
		if (u->bytes > u->max_bytes)
			return entry_fail(u, d, -EFBIG,
					  "unpacking writes more than %llu bytes (a decompression "
					  "bomb?); refusing to unpack it",
					  (unsigned long long)u->max_bytes);
		in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (in < 0)
			return entry_fail(u, d, -errno, "opening a lower layer's file: %m");
		out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0)
			return entry_fail(u, d, -errno, "copying a file up: %m");
		r = copy_data(u, in, out, st->st_size, d);
		if (r < 0)
			return r;
		if (u->privileged && fchown(out, st->st_uid, st->st_gid) < 0)
			return entry_fail(u, d, -errno, "chown: %m");
		if (fchmod(out, st->st_mode & 07777) < 0)
			return entry_fail(u, d, -errno, "chmod: %m");
		r = copy_xattrs(u, in, out, d);
		if (r < 0)
			return r;
		if (futimens(out, ts) < 0)
			return entry_fail(u, d, -errno, "setting times: %m");
		return 0;
	}
	if (u->privileged && fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(u, d, -errno, "chown: %m");
	if (utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(u, d, -errno, "setting times: %m");
	return 0;
}

/*
 * A hard link to an earlier entry of this layer or a file of a layer below, looked up in the
 * view (the target's parents follow symlinks inside the root, its last name does not). A
 * lower layer's file is copied up first, as overlayfs does for a link to it.
 */
static int write_hardlink(struct unpack *u, const char *target_raw, int pfd, const char *name,
			  struct diag *d)
{
	char target[OCI_PATH_MAX + 2], canon[OCI_PATH_MAX + 2];
	struct walk *tw = &u->tw;
	struct stat tst, st;
	const char *tname;
	int k, kind, r;

	/*
	 * A target with ".." above the root is refused, as an entry name with one is (path_clean)
	 * and as Docker and podman do; containerd and umoci clamp it to the root instead. Both
	 * keep the host safe; refusing says that the layer is broken rather than linking a file
	 * the layer did not name. Layers from real tools never have one.
	 */
	r = path_clean(u, target_raw, target, sizeof(target), NULL);
	if (r == -EPERM)
		return entry_fail(u, d, -EPERM,
				  "hard link target \"%.200s\" leaves the layer root (\"..\"); the "
				  "layer is malicious or broken",
				  target_raw);
	if (r < 0)
		return entry_fail(u, d, r, "hard link target \"%.200s\": %s", target_raw,
				  strerror(-r));
	if (!*target)
		return entry_fail(u, d, -EPERM, "hard link to the layer root");
	tname = path_split(target);
	r = walk_root(u, tw, d);
	if (r >= 0)
		r = walk_resolve(u, tw, target, false, d);
	if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
		goto missing;
	if (r < 0)
		return r;
	kind = walk_lookup(u, tw, tname, &k, &tst, d);
	if (kind < 0)
		return kind;
	if (kind == V_NONE)
		goto missing;
	if (kind == V_DIR)
		return entry_fail(u, d, -EPERM, "hard link to a directory (\"%.200s\")",
				  target_raw);
	if (k != (int)u->top) {
		/* the target's parents in this layer (copies of the lower ones), then the file */
		memcpy(canon, tw->canon, tw->len + 1);
		r = walk_root(u, tw, d);
		if (r >= 0)
			r = walk_resolve(u, tw, canon, true, d);
		if (r >= 0 && tw->fds[k] < 0)
			r = -ENOENT;
		if (r < 0)
			return r == -ENOENT || r == -ENOTDIR || r == -ELOOP
				       ? entry_fail(u, d, r, "copying \"%.200s\" up failed: %s",
						    target_raw, strerror(-r))
				       : r;
		r = copy_up(u, tw->fds[k], tw->fds[u->top], tname, &tst, d);
		if (r < 0)
			return r;
		if (fstatat(tw->fds[u->top], tname, &tst, AT_SYMLINK_NOFOLLOW) < 0)
			return entry_fail(u, d, -errno, "stat: %m");
	}
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
	    st.st_ino == tst.st_ino)
		return 0; /* already that file */
	r = make_room(u, pfd, name, false, NULL, d);
	if (r < 0)
		return r;
	/* flags 0: a symlink target is linked itself, not followed */
	if (linkat(tw->fds[u->top], tname, pfd, name, 0) < 0)
		return entry_fail(u, d, -errno, "creating hard link to \"%.200s\": %m", target_raw);
	return 0;
missing:
	return entry_fail(u, d, -ENOENT,
			  "hard link target \"%.200s\" is not in this layer or one below",
			  target_raw);
}

/*
 * Remove the whiteouts below dfd, a directory of the current layer that just became opaque:
 * nothing of the layers below is seen there any more, so they hide nothing, and overlayfs
 * reads a directory that is not merged as it is, where a whiteout would show as a broken
 * entry ("c?????????" in ls). depth bounds the recursion as the path length bounds it.
 */
static int scrub_whiteouts(struct unpack *u, int dfd, unsigned depth, struct diag *d)
{
	_cleanup_close_ int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	DIR *dir;
	struct dirent *de;
	int r = 0;

	if (fd < 0)
		return entry_fail(u, d, -errno, "dup: %m");
	if (depth > u->max_path / 2)
		return entry_fail(u, d, -ELOOP, "directories nested too deep");
	dir = fdopendir(fd);
	if (!dir)
		return entry_fail(u, d, -errno, "reading a directory: %m");
	TAKE_FD(fd);
	while (r >= 0 && (errno = 0, de = readdir(dir))) {
		struct stat st;
		int sub;

		if (de->d_type != DT_CHR && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = entry_fail(u, d, -errno, "stat: %m");
		} else if (is_whiteout(&st)) {
			if (unlinkat(dirfd(dir), de->d_name, 0) < 0)
				r = entry_fail(u, d, -errno, "removing a whiteout: %m");
		} else if (S_ISDIR(st.st_mode)) {
			sub = open_dir(dirfd(dir), de->d_name);
			r = sub < 0 ? entry_fail(u, d, sub, "opening a directory: %s", strerror(-sub))
				    : scrub_whiteouts(u, sub, depth + 1, d);
			if (sub >= 0)
				close(sub);
		}
	}
	if (r >= 0 && errno)
		r = entry_fail(u, d, -errno, "reading a directory: %m");
	closedir(dir);
	return r;
}

/* dfd, a directory of the current layer, hides all that the layers below have there. */
static int make_opaque(struct unpack *u, int dfd, struct diag *d)
{
	int r;

	/* already opaque: nothing below shows there, so no whiteout was made under it since */
	if (is_opaque(dfd))
		return 0;
	r = mark_opaque(u, dfd, d);

	u->w_ok = false; /* the layers below are no longer seen there */
	return r < 0 ? r : scrub_whiteouts(u, dfd, 0, d);
}

/* Whether a layer below the current one shows `name` in the directory u->w stands at. */
static bool lower_has(struct unpack *u, const char *name)
{
	struct stat st;

	for (size_t i = 1; i <= u->top; i++) {
		size_t k = u->top - i;

		if (u->w.fds[k] < 0)
			continue;
		if (fstatat(u->w.fds[k], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		return !is_whiteout(&st);
	}
	return false;
}

/*
 * ".wh.<name>" hides <name> of the layers below: a 0:0 character device. ".wh..wh..opq" hides
 * all that the layers below have in its directory: the opaque xattr. What this layer itself
 * wrote stays (the image spec: whiteouts apply to lower layers only); a directory of this
 * layer that is whited out keeps its entries of this layer and hides those from below.
 * A whiteout is written only where a layer below shows the name: elsewhere it would hide
 * nothing and overlayfs would list it as a broken entry of a directory that is not merged.
 */
static int write_whiteout(struct unpack *u, int pfd, const char *name, struct diag *d)
{
	const char *victim = name + strlen(WH_PREFIX);
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (strcmp(name, WH_OPAQUE) == 0)
		return make_opaque(u, pfd, d);
	if (strncmp(name, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0)
		return 0; /* other AUFS metadata (.wh..wh.plnk, ...) has no overlay meaning */
	if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
		return entry_fail(u, d, -EBADMSG, "malformed whiteout");
	if (fstatat(pfd, victim, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISDIR(st.st_mode))
			return 0; /* this layer's entry (or whiteout) stays */
		fd = open_dir(pfd, victim);
		if (fd < 0)
			return entry_fail(u, d, fd, "opening directory: %s", strerror(-fd));
		return make_opaque(u, fd, d);
	}
	if (errno != ENOENT)
		return entry_fail(u, d, -errno, "stat: %m");
	if (!lower_has(u, victim))
		return 0;
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
	mode_t type = archive_entry_filetype(e);
	char *name;
	int r, pfd;

	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	u->entry = raw;
	u->steps = 0;
	if (!raw)
		return diag_fail(d, -EBADMSG, "layer entry without a usable path name");
	r = path_clean(u, raw, path, sizeof(path), d);
	if (r < 0)
		return r;
	if (!*path) { /* the root itself ("./") */
		if (type != AE_IFDIR || hardlink)
			return entry_fail(u, d, -EBADMSG, "the layer root must be a directory");
		return write_dir(u, e, -1, NULL, d);
	}
	/* AUFS metadata (.wh..wh.plnk/, .wh..wh.aufs) at the top has no overlay meaning */
	if (strncmp(path, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0 &&
	    strcmp(path, WH_OPAQUE) != 0)
		return 0;
	memcpy(parent, path, strlen(path) + 1);
	name = path_split(parent);
	if (strlen(name) > NAME_MAX)
		return entry_fail(u, d, -ENAMETOOLONG, "file name longer than %d bytes", NAME_MAX);
	if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0 && strcmp(name, WH_OPAQUE) != 0) {
		/* a whiteout whose directory is not in the view (its path has a dangling symlink
		 * or a file in it) hides nothing: a no-op, as in containerd, with no parents made */
		const char *victim = name + strlen(WH_PREFIX);

		if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
			return entry_fail(u, d, -EBADMSG, "malformed whiteout");
		r = walk_root(u, &u->tw, d);
		if (r >= 0)
			r = walk_resolve(u, &u->tw, parent, false, d);
		if (r == -ENOENT || r == -ENOTDIR)
			return 0;
		if (r < 0 && r != -ELOOP) /* a loop: parent_get says it */
			return r;
	}
	pfd = parent_get(u, parent, d); /* owned by u->w */
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
		return write_dir(u, e, pfd, name, d);
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
		_cleanup_close_ int fd = open_beneath(u->root_fd, f->path,
						      O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

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

/* Write every entry of the tar reader a. */
static int unpack_entries(struct unpack *u, struct archive *a, struct diag *d)
{
	struct archive_entry *e;
	int r;

	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
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
}

static int unpack_all(struct unpack *u, struct diag *d)
{
	_cleanup_(archive_read_freep) struct archive *a = archive_read_new();
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
	r = unpack_entries(u, a, d);
	if (r < 0)
		return r;
end:
	r = oci_layer_stream_finish(u->stream, d);
	if (r < 0)
		return r;
	return dir_fix_apply(u, d);
}

/* Open the layers below and start the current one as a copy of the topmost one's root (an
 * entry "./" may still change it). */
static int unpack_open(struct unpack *u, const char *dest_dir, const struct oci_unpack_opts *o,
		       struct diag *d)
{
	size_t n = 0;
	int r;

	while (o->lower_dirs && o->lower_dirs[n])
		n++;
	if (n > OCI_LAYERS_MAX)
		return diag_fail(d, -E2BIG, "more than %d layers", OCI_LAYERS_MAX);
	u->root_fd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->root_fd < 0)
		return diag_fail_at(d, -errno, dest_dir, "opening %s: %m", dest_dir);
	u->lower_fds = malloc((n ? n : 1) * sizeof(int));
	if (!u->lower_fds)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		u->lower_fds[i] = open(o->lower_dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (u->lower_fds[i] < 0) {
			u->n_lower = i;
			return diag_fail_at(d, -errno, o->lower_dirs[i],
					    "opening the layer below %s: %m", o->lower_dirs[i]);
		}
	}
	u->n_lower = u->top = n;
	if (walk_init(u, &u->w) < 0 || walk_init(u, &u->tw) < 0)
		return -ENOMEM;
	if (!n)
		return 0;
	r = copy_dir_meta(u, u->lower_fds[n - 1], u->root_fd, "", d);
	if (r < 0)
		diag_prefix(d, "the layer root: ");
	return r;
}

/* The umask, without changing it (another thread may create files meanwhile). */
static mode_t current_umask(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned m;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &m) == 1)
			return (mode_t)m & 0777;
	return 0777;
}

static void unpack_init(struct unpack *u, const struct oci_unpack_opts *o, struct diag *d)
{
	u->euid = geteuid();
	u->egid = getegid();
	u->privileged = u->euid == 0;
	u->umask = current_umask();
	u->max_entries = o->max_entries ? o->max_entries : OCI_LAYER_ENTRIES_MAX;
	u->max_bytes = o->max_bytes ? o->max_bytes : OCI_UNPACKED_MAX;
	u->max_path = o->max_path && o->max_path < OCI_PATH_MAX ? o->max_path : OCI_PATH_MAX;
	u->d = d;
}

int oci_layer_unpack_opts(int blob_fd, const char *dest_dir, const struct oci_unpack_opts *o,
			  struct diag *d)
{
	_cleanup_(unpack_clear) struct unpack u = { .root_fd = -1 };
	_cleanup_(streamp_free) struct oci_layer_stream *s = NULL;
	int r;

	unpack_init(&u, o, d);
	r = unpack_open(&u, dest_dir, o, d);
	if (r < 0)
		return r;
	r = oci_layer_stream_new(blob_fd, o, &s, d);
	if (r < 0)
		return r;
	u.stream = s;
	r = unpack_all(&u, d);
	if (r < 0)
		r = oci_layer_stream_blame_blob(s, r, d);
	if (o->ret_bytes)
		*o->ret_bytes = u.bytes;
	return r;
}

int oci_layer_unpack_archive(struct archive *a, const char *dest_dir,
			     const struct oci_unpack_opts *o, struct diag *d)
{
	_cleanup_(unpack_clear) struct unpack u = { .root_fd = -1 };
	int r;

	unpack_init(&u, o, d);
	r = unpack_open(&u, dest_dir, o, d);
	if (r >= 0)
		r = unpack_entries(&u, a, d);
	if (r >= 0)
		r = dir_fix_apply(&u, d);
	if (o->ret_bytes)
		*o->ret_bytes = u.bytes;
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
