/* mount.c - assemble a container's root: overlay, /proc, /dev, /sys, /etc files, volumes, pivot. */
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>

#include "rootfs/rootfs.h"

/*
 * Mount API choice: every mount below is made with the new mount API (fsopen/fsconfig/fsmount,
 * open_tree/mount_setattr, move_mount; glibc 2.36 has the wrappers). A mount point inside the
 * container root is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and the new
 * mount is attached to that very fd with MOVE_MOUNT_T_EMPTY_PATH, so no path inside the
 * untrusted tree is ever resolved twice and no /proc/self/fd magic link is needed. Kernel
 * messages of the filesystem context (e.g. overlayfs' reasons) are appended to the diag.
 */

#define ATTR_NOSUID_NODEV_NOEXEC (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* One mount parameter: a flag (value NULL) or key=value. */
struct mount_opt {
	const char *key;
	const char *value;
};

/* Append the filesystem context's last error message, if the kernel left one, to buf. */
static void fsctx_message(int fsfd, char *buf, size_t len)
{
	char line[512];
	ssize_t n;

	buf[0] = '\0';
	for (int i = 0; i < 16; i++) {
		n = read(fsfd, line, sizeof(line) - 1);
		if (n <= 0)
			break;
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (line[0] == 'e' && line[1] == ' ')
			snprintf(buf, len, " (%s)", line + 2);
	}
}

/*
 * Create a detached mount of a new filesystem instance; *ret_mfd is its O_PATH mount fd.
 * `what` names the step for the diag ("mount proc on /proc").
 */
static int mount_new(const char *fstype, const struct mount_opt *opts, size_t nopts,
		     unsigned int attrs, const char *what, int *ret_mfd, struct diag *d)
{
	_cleanup_close_ int fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
	char kmsg[600];
	int mfd, r;

	if (fsfd < 0)
		return diag_fail(d, -errno, "%s: fsopen %s: %s", what, fstype, strerror(errno));
	/* the source shown in /proc/mounts, as mount(8) would set it */
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", fstype, 0) < 0)
		return diag_fail(d, -errno, "%s: source: %s", what, strerror(errno));
	for (size_t i = 0; i < nopts; i++) {
		if (opts[i].value)
			r = fsconfig(fsfd, FSCONFIG_SET_STRING, opts[i].key, opts[i].value, 0);
		else
			r = fsconfig(fsfd, FSCONFIG_SET_FLAG, opts[i].key, NULL, 0);
		if (r < 0) {
			r = -errno;
			fsctx_message(fsfd, kmsg, sizeof(kmsg));
			return diag_fail(d, r, "%s: option %s%s%s: %s%s", what, opts[i].key,
					 opts[i].value ? "=" : "",
					 opts[i].value ? opts[i].value : "", strerror(-r), kmsg);
		}
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		r = -errno;
		fsctx_message(fsfd, kmsg, sizeof(kmsg));
		return diag_fail(d, r, "%s: %s%s", what, strerror(-r), kmsg);
	}
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0) {
		r = -errno;
		fsctx_message(fsfd, kmsg, sizeof(kmsg));
		return diag_fail(d, r, "%s: fsmount: %s%s", what, strerror(-r), kmsg);
	}
	*ret_mfd = mfd;
	return 0;
}

/* Attach a detached mount (mfd) onto the file or directory that target_fd refers to. */
static int mount_attach(int mfd, int target_fd, const char *what, struct diag *d)
{
	if (move_mount(mfd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		return diag_fail(d, -errno, "%s: move_mount: %s", what, strerror(errno));
	return 0;
}

/*
 * A detached copy of the mount tree at dirfd/path (recursive when `recursive`), with attrs
 * set on every mount of the copy. *ret_tfd is its fd.
 */
static int mount_clone(int dirfd, const char *path, bool recursive, unsigned int attrs,
		       const char *what, int *ret_tfd, struct diag *d)
{
	unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (path[0] ? 0 : AT_EMPTY_PATH);
	struct mount_attr ma = { .attr_set = attrs };
	_cleanup_close_ int tfd = -1;

	if (recursive)
		flags |= AT_RECURSIVE;
	tfd = open_tree(dirfd, path, flags);
	if (tfd < 0)
		return diag_fail(d, -errno, "%s: open_tree: %s", what, strerror(errno));
	if (attrs && mount_setattr(tfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &ma,
				   sizeof(ma)) < 0)
		return diag_fail(d, -errno, "%s: mount_setattr: %s", what, strerror(errno));
	*ret_tfd = TAKE_FD(tfd);
	return 0;
}

int rootfs_open(int rootfd, const char *path, int flags, mode_t mode)
{
	int fd = -EAGAIN;

	for (int i = 0; i < 64 && fd == -EAGAIN; i++)
		fd = fs_open_in_root(rootfd, path, flags, mode);
	return fd;
}

/* Split "a/b/c" (no leading slashes) into the parent "a/b" (or "." ) and "c". */
static int path_split(const char *path, char *parent, size_t len, const char **ret_base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(parent, len, ".");
		*ret_base = path;
		return 0;
	}
	if ((size_t)(slash - path) >= len)
		return -ENAMETOOLONG;
	snprintf(parent, len, "%.*s", (int)(slash - path), path);
	*ret_base = slash + 1;
	return 0;
}

/*
 * mkdir -p of `path` inside the root at rootfd: every existing component is resolved in the
 * root (symlinks stay inside it); missing ones are created with mkdirat on the resolved
 * parent, which never follows a symlink in the last component. A dangling symlink on the way
 * is followed by creating what it points to, again inside the root (as runc's securejoin
 * MkdirAll), at most 40 times. Returns an O_PATH fd of the directory.
 */
static int root_mkdir_p_depth(int rootfd, const char *path, mode_t mode, int depth)
{
	char prefix[PATH_MAX], parent[PATH_MAX], link[PATH_MAX];
	const char *base;
	size_t len;
	ssize_t ll;
	int fd, r;

	while (*path == '/')
		path++;
	len = strlen(path);
	if (len == 0)
		return rootfs_open(rootfd, ".", O_PATH | O_DIRECTORY, 0);
	if (len >= sizeof(prefix))
		return -ENAMETOOLONG;
	fd = rootfs_open(rootfd, path, O_PATH | O_DIRECTORY, 0);
	if (fd != -ENOENT)
		return fd;
	/* walk the components, creating what is missing */
	for (size_t i = 1; i <= len; i++) {
		_cleanup_close_ int pfd = -1;

		if (path[i] != '/' && path[i] != '\0')
			continue;
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		fd = rootfs_open(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
		if (fd >= 0) {
			if (i < len)
				close(fd);
			continue;
		}
		if (fd != -ENOENT)
			return fd;
		r = path_split(prefix, parent, sizeof(parent), &base);
		if (r < 0)
			return r;
		pfd = rootfs_open(rootfd, parent, O_PATH | O_DIRECTORY, 0);
		if (pfd < 0)
			return pfd;
		if (mkdirat(pfd, base, mode) < 0 && errno != EEXIST)
			return -errno;
		fd = rootfs_open(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
		if (fd == -ENOENT && (ll = readlinkat(pfd, base, link, sizeof(link) - 1)) > 0) {
			/* a dangling symlink: make its target, then the rest below it */
			char next[PATH_MAX];
			const char *dir;

			link[ll] = '\0';
			if (depth >= 40)
				return -ELOOP;
			dir = link[0] == '/' ? "" : parent;
			if (snprintf(next, sizeof(next), "%s%s%s%s", dir, *dir ? "/" : "", link,
				     path + i) >= (int)sizeof(next))
				return -ENAMETOOLONG;
			return root_mkdir_p_depth(rootfd, next, mode, depth + 1);
		}
		if (fd < 0)
			return fd;
		if (i < len)
			close(fd);
	}
	return fd;
}

static int root_mkdir_p(int rootfd, const char *path, mode_t mode)
{
	return root_mkdir_p_depth(rootfd, path, mode, 0);
}

/* Open (creating when missing) a regular file inside the root as an O_PATH fd. */
static int root_file(int rootfd, const char *path, mode_t mode)
{
	char parent[PATH_MAX];
	const char *base;
	struct stat st;
	int fd, r;

	while (*path == '/')
		path++;
	fd = rootfs_open(rootfd, path, O_PATH, 0);
	if (fd == -ENOENT) {
		_cleanup_close_ int pfd = -1, cfd = -1;

		r = path_split(path, parent, sizeof(parent), &base);
		if (r < 0)
			return r;
		pfd = root_mkdir_p(rootfd, parent, 0755);
		if (pfd < 0)
			return pfd;
		/* O_RDONLY|O_CREAT: creates without opening anything for writing; a dangling
		 * symlink is followed inside the root */
		cfd = rootfs_open(rootfd, path, O_RDONLY | O_CREAT | O_NONBLOCK | O_NOCTTY,
				      mode);
		if (cfd < 0)
			return cfd;
		fd = rootfs_open(rootfd, path, O_PATH, 0);
	}
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	return fd;
}

/* ---- overlay ---------------------------------------------------------------------------- */

/* Append a layer path to a classic "lowerdir=" value, escaping ':' and '\'. */
static int lowerdir_append(char *buf, size_t len, size_t *pos, const char *dir)
{
	if (*pos && *pos + 1 < len)
		buf[(*pos)++] = ':';
	for (const char *p = dir; *p; p++) {
		if ((*p == ':' || *p == '\\') && *pos + 1 < len)
			buf[(*pos)++] = '\\';
		if (*pos + 1 >= len)
			return -ENAMETOOLONG;
		buf[(*pos)++] = *p;
	}
	buf[*pos] = '\0';
	return 0;
}

static int overlay_mount(const struct rootfs_spec *s, int *ret_mfd, struct diag *d)
{
	_cleanup_close_ int fsfd = -1;
	size_t n = strv_length(s->lower_dirs);
	bool upper = s->upper_dir && s->upper_dir[0];
	char what[PATH_MAX + 32], kmsg[600];
	int mfd, r;

	snprintf(what, sizeof(what), "mount overlay on %s", s->target);
	if (n == 0)
		return diag_fail(d, -EINVAL, "%s: no lower layer", what);
	if (upper && !(s->work_dir && s->work_dir[0]))
		return diag_fail(d, -EINVAL, "%s: upper dir without work dir", what);
	if (n == 1 && !upper) {
		/* overlayfs refuses a single lower layer without upper ("at least 2 lowerdir are
		 * needed"); a read-only recursive bind of that layer is the same view */
		snprintf(what, sizeof(what), "bind %s on %s", s->lower_dirs[0], s->target);
		return mount_clone(AT_FDCWD, s->lower_dirs[0], true,
				   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV, what, ret_mfd, d);
	}
	fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0 || fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
		return diag_fail(d, -errno, "%s: fsopen: %s", what, strerror(errno));
	/* "lowerdir+" (Linux 6.8+) takes one layer per call, top first: no escaping needed */
	for (size_t i = n; i-- > 0;) {
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", s->lower_dirs[i], 0) == 0)
			continue;
		r = -errno;
		if (r != -EINVAL || i != n - 1) {
			fsctx_message(fsfd, kmsg, sizeof(kmsg));
			return diag_fail(d, r, "%s: lower %s: %s%s", what, s->lower_dirs[i],
					 strerror(-r), kmsg);
		}
		/* older kernel: the whole list in one classic lowerdir= value */
		{
			_cleanup_free_ char *list = malloc(2 * PATH_MAX * n + 1);
			size_t pos = 0;

			if (!list)
				return diag_fail(d, -ENOMEM, "%s: out of memory", what);
			list[0] = '\0';
			for (size_t j = n; j-- > 0;)
				if (lowerdir_append(list, 2 * PATH_MAX * n + 1, &pos,
						    s->lower_dirs[j]) < 0)
					return diag_fail(d, -ENAMETOOLONG, "%s: lowerdir too long",
							 what);
			if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", list, 0) < 0) {
				r = -errno;
				fsctx_message(fsfd, kmsg, sizeof(kmsg));
				return diag_fail(d, r, "%s: lowerdir: %s%s", what, strerror(-r),
						 kmsg);
			}
		}
		break;
	}
	if (upper && (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", s->upper_dir, 0) < 0 ||
		      fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", s->work_dir, 0) < 0)) {
		r = -errno;
		fsctx_message(fsfd, kmsg, sizeof(kmsg));
		return diag_fail(d, r, "%s: upperdir %s / workdir %s: %s%s", what, s->upper_dir,
				 s->work_dir, strerror(-r), kmsg);
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		r = -errno;
		fsctx_message(fsfd, kmsg, sizeof(kmsg));
		return diag_fail(d, r, "%s: %s%s", what, strerror(-r), kmsg);
	}
	/* nodev: device nodes of an image layer (unpacked with mknod) open nothing; /dev is a
	 * tmpfs of our own on top */
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
	if (mfd < 0)
		return diag_fail(d, -errno, "%s: fsmount: %s", what, strerror(errno));
	*ret_mfd = mfd;
	return 0;
}

/* ---- mounts inside the root ----------------------------------------------------------- */

/* Mount a new filesystem instance at `path` ("/proc": one component) inside the root. */
static int root_mount_fs(int rootfd, const char *path, const char *fstype,
			 const struct mount_opt *opts, size_t nopts, unsigned int attrs,
			 int *ret_mfd, struct diag *d)
{
	_cleanup_close_ int tfd = -1, mfd = -1;
	char what[PATH_MAX + 64];
	struct stat st;
	int r;

	snprintf(what, sizeof(what), "mount %s on %s", fstype, path);
	/* like crun: a kernel filesystem is never mounted through a symlink of the image */
	if (fstatat(rootfd, path + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return diag_fail(d, -ELOOP, "%s: mount point is a symlink", what);
	tfd = root_mkdir_p(rootfd, path, 0755);
	if (tfd < 0)
		return diag_fail(d, tfd, "%s: mount point: %s", what, strerror(-tfd));
	r = mount_new(fstype, opts, nopts, attrs, what, &mfd, d);
	if (r < 0)
		return r;
	r = mount_attach(mfd, tfd, what, d);
	if (r < 0)
		return r;
	if (ret_mfd)
		*ret_mfd = TAKE_FD(mfd);
	return 0;
}

/* Masked and read-only paths under a fresh /proc or /sys (missing ones are skipped). */
static const char *const proc_readonly[] = { "bus", "fs", "irq", "sys", "sysrq-trigger" };
static const char *const proc_masked[] = { "acpi",	 "asound",	  "interrupts",	 "kcore",
					   "keys",	 "latency_stats", "sched_debug", "scsi",
					   "timer_list", "timer_stats" };
static const char *const sys_masked[] = { "firmware", "devices/virtual/powercap",
					  "devices/virtual/tpm", "fs/selinux", "dev/block" };

/* Bind a sub-path of a kernel filesystem (fsfd: its mount fd) onto itself read-only. */
static int kernfs_readonly(int fsfd, const char *base, const char *sub, struct diag *d)
{
	_cleanup_close_ int tfd = -1, cfd = -1;
	char what[256];
	int r;

	snprintf(what, sizeof(what), "read-only %s/%s", base, sub);
	tfd = openat(fsfd, sub, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return errno == ENOENT ? 0 : diag_fail(d, -errno, "%s: %s", what, strerror(errno));
	r = mount_clone(tfd, "", false, MOUNT_ATTR_RDONLY | ATTR_NOSUID_NODEV_NOEXEC, what, &cfd,
			d);
	return r < 0 ? r : mount_attach(cfd, tfd, what, d);
}

/* Hide a sub-path: a file gets /dev/null (nullfd) over it, a directory an empty ro tmpfs. */
static int kernfs_mask(int fsfd, const char *base, const char *sub, int nullfd, struct diag *d)
{
	static const struct mount_opt opts[] = { { "size", "0" }, { "mode", "0555" } };
	_cleanup_close_ int tfd = -1, mfd = -1;
	struct stat st;
	char what[256];
	int r;

	snprintf(what, sizeof(what), "mask %s/%s", base, sub);
	tfd = openat(fsfd, sub, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return errno == ENOENT ? 0 : diag_fail(d, -errno, "%s: %s", what, strerror(errno));
	if (fstat(tfd, &st) < 0)
		return diag_fail(d, -errno, "%s: %s", what, strerror(errno));
	if (S_ISDIR(st.st_mode))
		r = mount_new("tmpfs", opts, ARRAY_SIZE(opts),
			      MOUNT_ATTR_RDONLY | ATTR_NOSUID_NODEV_NOEXEC, what, &mfd, d);
	else
		r = mount_clone(nullfd, "", false, 0, what, &mfd, d);
	if (r < 0)
		return r;
	return mount_attach(mfd, tfd, what, d);
}

static int setup_proc(int rootfd, int nullfd, struct diag *d)
{
	_cleanup_close_ int mfd = -1;
	int r = root_mount_fs(rootfd, "/proc", "proc", NULL, 0, ATTR_NOSUID_NODEV_NOEXEC, &mfd, d);

	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(proc_readonly); i++)
		r = kernfs_readonly(mfd, "/proc", proc_readonly[i], d);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(proc_masked); i++)
		r = kernfs_mask(mfd, "/proc", proc_masked[i], nullfd, d);
	return r;
}

/* A read-only cgroup2 on /sys/fs/cgroup: it shows the root of our cgroup namespace, i.e. the
 * container's own v2 cgroup (the shim placed us before we unshared it). */
static int setup_cgroup(int sysfd, struct diag *d)
{
	_cleanup_close_ int tfd = -1, mfd = -1;
	const char *what = "mount cgroup2 on /sys/fs/cgroup";
	int r;

	tfd = openat(sysfd, "fs/cgroup", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return errno == ENOENT ? 0 : diag_fail(d, -errno, "%s: %s", what, strerror(errno));
	r = mount_new("cgroup2", NULL, 0, MOUNT_ATTR_RDONLY | ATTR_NOSUID_NODEV_NOEXEC, what, &mfd,
		      d);
	return r < 0 ? r : mount_attach(mfd, tfd, what, d);
}

static int setup_sys(int rootfd, int nullfd, struct diag *d)
{
	_cleanup_close_ int mfd = -1;
	/* a fresh sysfs: we are in the pod's netns, so /sys/class/net shows the pod's links */
	int r = root_mount_fs(rootfd, "/sys", "sysfs", NULL, 0,
			      MOUNT_ATTR_RDONLY | ATTR_NOSUID_NODEV_NOEXEC, &mfd, d);

	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(sys_masked); i++)
		r = kernfs_mask(mfd, "/sys", sys_masked[i], nullfd, d);
	if (r >= 0)
		r = setup_cgroup(mfd, d);
	return r;
}

/* ---- /dev ------------------------------------------------------------------------------ */

static const struct {
	const char *name;
	unsigned int major, minor;
} dev_nodes[] = {
	{ "null", 1, 3 },   { "zero", 1, 5 },	 { "full", 1, 7 },
	{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static const struct {
	const char *name, *target;
} dev_links[] = {
	{ "ptmx", "pts/ptmx" },		 { "fd", "/proc/self/fd" },
	{ "stdin", "/proc/self/fd/0" },	 { "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" },
};

/* Mount a filesystem on a directory created in our own fresh /dev tmpfs. */
static int dev_mount(int devfd, const char *name, mode_t mode, const char *fstype,
		     const struct mount_opt *opts, size_t nopts, unsigned int attrs, struct diag *d)
{
	_cleanup_close_ int tfd = -1, mfd = -1;
	char what[128];
	int r;

	snprintf(what, sizeof(what), "mount %s on /dev/%s", fstype, name);
	if (mkdirat(devfd, name, mode) < 0 || fchmodat(devfd, name, mode, 0) < 0)
		return diag_fail(d, -errno, "%s: mkdir: %s", what, strerror(errno));
	tfd = openat(devfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return diag_fail(d, -errno, "%s: open: %s", what, strerror(errno));
	r = mount_new(fstype, opts, nopts, attrs, what, &mfd, d);
	return r < 0 ? r : mount_attach(mfd, tfd, what, d);
}

/*
 * A pty of the container's own devpts: the slave (pts/0) is also bound at /dev/console, as
 * crun does. Opened through devfd, the root of our fresh tmpfs, so nothing of the image is
 * resolved.
 */
static int setup_console(int devfd, struct rootfs_console *con, struct diag *d)
{
	static const struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	_cleanup_close_ int master = -1, slave = -1, cfd = -1, tfd = -1;
	int unlock = 0, r;

	master = openat(devfd, "pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return diag_fail(d, -errno, "console: open /dev/pts/ptmx: %s", strerror(errno));
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return diag_fail(d, -errno, "console: unlock pty: %s", strerror(errno));
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return diag_fail(d, -errno, "console: open pty slave: %s", strerror(errno));
	ioctl(master, TIOCSWINSZ, &ws);
	cfd = openat(devfd, "console", O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (cfd < 0)
		return diag_fail(d, -errno, "console: create /dev/console: %s", strerror(errno));
	close(TAKE_FD(cfd));
	tfd = openat(devfd, "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return diag_fail(d, -errno, "console: open /dev/console: %s", strerror(errno));
	r = mount_clone(slave, "", false, 0, "bind pty on /dev/console", &cfd, d);
	if (r >= 0)
		r = mount_attach(cfd, tfd, "bind pty on /dev/console", d);
	if (r < 0)
		return r;
	con->master = TAKE_FD(master);
	con->slave = TAKE_FD(slave);
	return 0;
}

/* /dev: tmpfs with the standard nodes, links, pts, shm and mqueue. *ret_nullfd: /dev/null. */
static int setup_dev(int rootfd, int *ret_nullfd, struct rootfs_console *con, struct diag *d)
{
	static const struct mount_opt dev_opts[] = { { "mode", "755" }, { "size", "65536" } };
	static const struct mount_opt pts_opts[] = {
		{ "newinstance", NULL }, { "ptmxmode", "0666" }, { "mode", "0620" }, { "gid", "5" }
	};
	static const struct mount_opt shm_opts[] = { { "mode", "1777" }, { "size", "67108864" } };
	_cleanup_close_ int devfd = -1;
	int r;

	r = root_mount_fs(rootfd, "/dev", "tmpfs", dev_opts, ARRAY_SIZE(dev_opts),
			  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &devfd, d);
	if (r < 0)
		return r;
	/* devfd is the root of our own empty tmpfs: plain *at calls are safe in it */
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		if (mknodat(devfd, dev_nodes[i].name, S_IFCHR | 0666,
			    makedev(dev_nodes[i].major, dev_nodes[i].minor)) < 0 ||
		    fchmodat(devfd, dev_nodes[i].name, 0666, 0) < 0)
			return diag_fail(d, -errno, "mknod /dev/%s: %s", dev_nodes[i].name,
					 strerror(errno));
	}
	for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++) {
		if (symlinkat(dev_links[i].target, devfd, dev_links[i].name) < 0)
			return diag_fail(d, -errno, "symlink /dev/%s: %s", dev_links[i].name,
					 strerror(errno));
	}
	r = dev_mount(devfd, "pts", 0755, "devpts", pts_opts, ARRAY_SIZE(pts_opts),
		      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, d);
	if (r >= 0)
		r = dev_mount(devfd, "shm", 01777, "tmpfs", shm_opts, ARRAY_SIZE(shm_opts),
			      ATTR_NOSUID_NODEV_NOEXEC, d);
	if (r >= 0)
		r = dev_mount(devfd, "mqueue", 01777, "mqueue", NULL, 0, ATTR_NOSUID_NODEV_NOEXEC,
			      d);
	if (r >= 0 && con)
		r = setup_console(devfd, con, d);
	if (r < 0)
		return r;
	r = openat(devfd, "null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (r < 0)
		return diag_fail(d, -errno, "open /dev/null: %s", strerror(errno));
	*ret_nullfd = r;
	return 0;
}

/* ---- /etc files and pivot --------------------------------------------------------------- */

/* Bind the host file `src` read-only onto `path` inside the root (created when missing). */
static int bind_file(int rootfd, const char *src, const char *path, struct diag *d)
{
	_cleanup_close_ int tfd = -1, cfd = -1;
	char what[PATH_MAX + 64];
	int r;

	snprintf(what, sizeof(what), "bind %s on %s", src, path);
	tfd = root_file(rootfd, path, 0644);
	if (tfd < 0)
		return diag_fail(d, tfd, "%s: target: %s", what, strerror(-tfd));
	r = mount_clone(AT_FDCWD, src, false, MOUNT_ATTR_RDONLY | ATTR_NOSUID_NODEV_NOEXEC, what,
			&cfd, d);
	return r < 0 ? r : mount_attach(cfd, tfd, what, d);
}

/* ---- volumes --------------------------------------------------------------------------- */

/*
 * Mount one volume. The target is resolved in the root (a symlink of the image stays inside
 * it) and created when missing: a directory, or a file when the source is one. A target that
 * resolves into our /proc or /sys is refused: a volume must not hide or replace what is masked
 * or read-only there.
 */
static int mount_volume(int rootfd, const struct rootfs_volume *v, struct diag *d)
{
	static const unsigned int attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	_cleanup_close_ int tfd = -1, mfd = -1;
	char what[2 * PATH_MAX + 32], size[32];
	struct statfs sf;
	struct stat st;
	bool dir = true;
	int r;

	if (v->source)
		snprintf(what, sizeof(what), "volume %s on %s", v->source, v->target);
	else
		snprintf(what, sizeof(what), "volume tmpfs on %s", v->target);
	if (!v->target || v->target[0] != '/')
		return diag_fail(d, -EINVAL, "%s: target is not an absolute path", what);
	if (v->source) {
		if (stat(v->source, &st) < 0)
			return diag_fail(d, -errno, "%s: source: %s", what, strerror(errno));
		dir = S_ISDIR(st.st_mode);
	}
	tfd = dir ? root_mkdir_p(rootfd, v->target, 0755) : root_file(rootfd, v->target, 0644);
	if (tfd < 0)
		return diag_fail(d, tfd, "%s: target: %s", what, strerror(-tfd));
	if (fstatfs(tfd, &sf) < 0)
		return diag_fail(d, -errno, "%s: target: %s", what, strerror(errno));
	if (sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC)
		return diag_fail(d, -EPERM, "%s: target resolves into /proc or /sys", what);
	if (v->source) {
		r = mount_clone(AT_FDCWD, v->source, true,
				attrs | (v->read_only ? MOUNT_ATTR_RDONLY : 0), what, &mfd, d);
	} else {
		struct mount_opt opts[] = { { "mode", "1777" }, { "size", size } };

		snprintf(size, sizeof(size), "%llu", (unsigned long long)v->tmpfs_size);
		r = mount_new("tmpfs", opts, v->tmpfs_size ? 2 : 1,
			      attrs | (v->read_only ? MOUNT_ATTR_RDONLY : 0), what, &mfd, d);
	}
	return r < 0 ? r : mount_attach(mfd, tfd, what, d);
}

static int pivot(int rootfd, const char *target, struct diag *d)
{
	if (fchdir(rootfd) < 0)
		return diag_fail(d, -errno, "chdir %s: %s", target, strerror(errno));
	/* pivot_root(".", "."): the old root ends up stacked on "." and is detached at once */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return diag_fail(d, -errno, "pivot_root %s: %s", target, strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		return diag_fail(d, -errno, "detach old root: %s", strerror(errno));
	if (chdir("/") < 0)
		return diag_fail(d, -errno, "chdir /: %s", strerror(errno));
	return 0;
}

int rootfs_setup(const struct rootfs_spec *s, struct rootfs_console *ret_console,
		 struct diag *d)
{
	_cleanup_close_ int ovfd = -1, tfd = -1, rootfd = -1, nullfd = -1;
	struct rootfs_console con = { -1, -1 };
	mode_t old_umask = umask(0);
	int r;

	if (ret_console)
		*ret_console = con;

	if (!s || !s->target || s->target[0] != '/') {
		r = diag_fail(d, -EINVAL, "rootfs target must be an absolute path");
		goto out;
	}
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		r = diag_fail(d, -errno, "make / rprivate: %s", strerror(errno));
		goto out;
	}
	r = overlay_mount(s, &ovfd, d);
	if (r < 0)
		goto out;
	tfd = open(s->target, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0) {
		r = diag_fail(d, -errno, "open %s: %s", s->target, strerror(errno));
		goto out;
	}
	r = mount_attach(ovfd, tfd, s->target, d);
	if (r < 0) {
		diag_prefix(d, "attach root at ");
		goto out;
	}
	/* the root of the overlay we just attached */
	rootfd = open(s->target, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = diag_fail(d, -errno, "open %s: %s", s->target, strerror(errno));
		goto out;
	}
	if (s->console && !ret_console) {
		r = diag_fail(d, -EINVAL, "console asked for without a place to return it");
		goto out;
	}
	r = setup_dev(rootfd, &nullfd, s->console ? &con : NULL, d);
	if (r >= 0)
		r = setup_proc(rootfd, nullfd, d);
	if (r >= 0)
		r = setup_sys(rootfd, nullfd, d);
	if (r >= 0 && s->etc_hosts)
		r = bind_file(rootfd, s->etc_hosts, "/etc/hosts", d);
	if (r >= 0 && s->etc_hostname)
		r = bind_file(rootfd, s->etc_hostname, "/etc/hostname", d);
	if (r >= 0 && s->etc_resolv)
		r = bind_file(rootfd, s->etc_resolv, "/etc/resolv.conf", d);
	for (size_t i = 0; r >= 0 && i < s->n_volumes; i++)
		r = mount_volume(rootfd, &s->volumes[i], d);
	if (r >= 0)
		r = pivot(rootfd, s->target, d);
out:
	umask(old_umask);
	if (r < 0) {
		if (con.master >= 0)
			close(con.master);
		if (con.slave >= 0)
			close(con.slave);
		return r;
	}
	if (ret_console)
		*ret_console = con;
	return 0;
}

int rootfs_setup_empty(const char *mountpoint, struct diag *d)
{
	static const struct mount_opt opts[] = { { "size", "4096" }, { "nr_inodes", "1" },
						 { "mode", "0555" } };
	_cleanup_close_ int mfd = -1, tfd = -1;
	int r;

	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return diag_fail(d, -errno, "make / rprivate: %s", strerror(errno));
	r = mount_new("tmpfs", opts, ARRAY_SIZE(opts), MOUNT_ATTR_RDONLY | ATTR_NOSUID_NODEV_NOEXEC,
		      "empty root", &mfd, d);
	if (r < 0)
		return r;
	tfd = open(mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return diag_fail(d, -errno, "empty root: open %s: %s", mountpoint, strerror(errno));
	r = mount_attach(mfd, tfd, "empty root", d);
	if (r < 0)
		return r;
	/* mfd is the root of the tmpfs, now attached */
	return pivot(mfd, mountpoint, d);
}
