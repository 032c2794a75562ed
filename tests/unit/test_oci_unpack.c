/* test_oci_unpack.c - layer unpacking: entry kinds, whiteouts, breakout attempts, limits. */
#include "oci_unpack_fixture.h"

/* ---- entry kinds ------------------------------------------------------------------------ */

static const struct ent basic[] = {
	{ K_DIR, "./etc", .mode = 0750, .mtime = 1100000000 },
	{ K_FILE, "./etc/passwd", "root:x:0:0::/:/bin/sh\n", .mtime = 1000000000 },
	{ K_FILE, "/abs/leading/slash", "abs" },
	{ K_FILE, "implicit/parents/file", "deep" },
	{ K_FILE, "bin/suid", "#!", .mode = 04755 },
	{ K_FILE, "bin/sgid", "#!", .mode = 02711 },
	{ K_SYMLINK, "bin/sh", "busybox" },
	{ K_SYMLINK, "bin/evil", "../../../../etc/shadow" },
	{ K_HARDLINK, "etc/passwd.hard", "etc/passwd" },
	{ K_FIFO, "run/fifo" },
	{ K_FILE, "a/./b/../c", "dots" },
	{ K_FILE, "caf\xc3\xa9", "utf8" },
	{ K_FILE, "etc/replaced", "one" },
	{ K_FILE, "etc/replaced", "two" },
	{ K_FILE, "empty", "" },
	{ K_DIR, "ro", .mode = 0555 },
	{ K_FILE, "ro/inside", "x" },
};

static void check_basic(struct fx *f)
{
	struct stat st, st2;
	char target[64] = "";

	assert_content(f, "etc/passwd", "root:x:0:0::/:/bin/sh\n");
	assert_content(f, "abs/leading/slash", "abs");
	assert_content(f, "implicit/parents/file", "deep");
	assert_content(f, "a/c", "dots");
	assert_content(f, "caf\xc3\xa9", "utf8");
	assert_content(f, "etc/replaced", "two");
	assert_content(f, "empty", "");
	assert_int_equal(lmode(f, "implicit/parents") & 07777, 0755);
	assert_int_equal(lmode(f, "etc") & 07777, 0750);
	assert_int_equal(lmode(f, "ro") & 07777, 0555);
	assert_int_equal(lmode(f, "bin/suid") & 07777, 04755);
	assert_int_equal(lmode(f, "bin/sgid") & 07777, 02711);
	assert_int_equal(lmode(f, "etc/passwd") & 07777, 0644);
	assert_true(S_ISFIFO(lmode(f, "run/fifo")));
	/* symlinks verbatim */
	assert_true(S_ISLNK(lmode(f, "bin/evil")));
	assert_int_equal(readlinkat(f->dest_fd, "bin/evil", target, sizeof(target) - 1), 22);
	assert_string_equal(target, "../../../../etc/shadow");
	/* hard link: the same inode */
	assert_int_equal(fstatat(f->dest_fd, "etc/passwd", &st, 0), 0);
	assert_int_equal(fstatat(f->dest_fd, "etc/passwd.hard", &st2, 0), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_int_equal(st.st_nlink, 2);
	/* mtimes, the directory's after its children were written */
	assert_int_equal(st.st_mtime, 1000000000);
	assert_int_equal(fstatat(f->dest_fd, "etc", &st, 0), 0);
	assert_int_equal(st.st_mtime, 1100000000);
	assert_int_equal(fstatat(f->dest_fd, "bin/sh", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mtime, MTIME);
}

static void test_basic_plain(void **state)
{
	struct fx *f = *state;
	struct diag d = {};
	int r = unpack(f, basic, ARRAY_SIZE(basic), false, &d);

	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	check_basic(f);
	assert_parent_clean(f);
}

static void test_basic_gzip(void **state)
{
	struct fx *f = *state;
	struct diag d = {};
	int r = unpack(f, basic, ARRAY_SIZE(basic), true, &d);

	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	check_basic(f);
	assert_parent_clean(f);
}

static void test_sparse(void **state)
{
	static const struct ent e[] = { { K_SPARSE, "sparse", .size = 1 << 20 } };
	struct fx *f = *state;
	char buf[8] = "";
	struct stat st;
	int r, fd;

	r = unpack(f, e, 1, true, NULL);
	assert_int_equal(r, 0);
	assert_int_equal(fstatat(f->dest_fd, "sparse", &st, 0), 0);
	assert_int_equal(st.st_size, 1 << 20);
	fd = fs_open_in_root(f->dest_fd, "sparse", O_RDONLY, 0);
	assert_int_equal(pread(fd, buf, 4, 1 << 19), 4);
	assert_memory_equal(buf, "DATA", 4);
	assert_int_equal(pread(fd, buf, 4, 0), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	close(fd);
}

static void test_owner_device_xattr(void **state)
{
	static const struct ent e[] = {
		{ K_FILE, "owned", "x", .mode = 04750, .uid = 1234, .gid = 5678 },
		{ K_DIR, "dir", .uid = 42, .gid = 43, .mode = 0700 },
		{ K_SYMLINK, "link", "owned", .uid = 7, .gid = 8 },
		{ K_CHR, "dev/null" },
		{ K_FILE, "capped", "x", .xattr = "user.tank=1" },
		{ K_DIR, "forged", .xattr = "trusted.overlay.opaque=y" },
		{ K_FILE, "forged/file", "x", .xattr = "trusted.overlay.redirect=/etc" },
	};
	struct fx *f = *state;
	struct diag d = {};
	struct stat st;
	char v[8] = "";
	int r, fd;

	if (!is_root("chown/mknod/trusted xattr checks"))
		return;
	r = unpack(f, e, ARRAY_SIZE(e), false, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	assert_int_equal(fstatat(f->dest_fd, "owned", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mode & 07777, 04750); /* setuid survives: mode after chown */
	assert_int_equal(fstatat(f->dest_fd, "dir", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_uid, 42);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(fstatat(f->dest_fd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(fstatat(f->dest_fd, "dev/null", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 1);
	assert_int_equal(minor(st.st_rdev), 3);
	/* ordinary xattrs are kept; overlay ones carried by the layer are dropped */
	fd = fs_open_in_root(f->dest_fd, "capped", O_RDONLY, 0);
	if (fgetxattr(fd, "user.tank", v, sizeof(v)) < 0 && errno == ENOTSUP)
		print_message("user xattrs unsupported on /tmp: not checked\n");
	else
		assert_string_equal(v, "1");
	close(fd);
	fd = fs_open_in_root(f->dest_fd, "forged", O_RDONLY, 0);
	assert_int_equal(fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)), -1);
	assert_int_equal(errno, ENODATA);
	close(fd);
	fd = fs_open_in_root(f->dest_fd, "forged/file", O_RDONLY, 0);
	assert_int_equal(fgetxattr(fd, "trusted.overlay.redirect", v, sizeof(v)), -1);
	close(fd);
	assert_parent_clean(f);
}

static void test_whiteouts(void **state)
{
	static const struct ent e[] = {
		{ K_FILE, "etc/.wh.gone", "" },
		{ K_DIR, "var/cache" },
		{ K_FILE, "var/cache/.wh..wh..opq", "" },
		{ K_FILE, "var/cache/new", "n" },
		{ K_FILE, "implicit/.wh..wh..opq", "" },
		{ K_FILE, ".wh..wh.plnk/123", "" }, /* AUFS metadata: ignored */
		{ K_FILE, "x", "file first" },
		{ K_FILE, ".wh.x", "" }, /* whiteouts hide lower layers only: x stays */
	};
	struct fx *f = *state;
	struct diag d = {};
	char v[8] = "";
	int r, fd;

	if (!is_root("whiteout conversion (mknod, trusted xattrs)"))
		return;
	r = unpack(f, e, ARRAY_SIZE(e), true, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	/* no layer below has etc/gone: a whiteout would hide nothing (test_stack_* convert it) */
	assert_false(lexists(f, "etc/gone"));
	assert_false(lexists(f, "etc/.wh.gone"));
	assert_false(lexists(f, "etc")); /* nor its parent, that no entry names */
	assert_true(S_ISREG(lmode(f, "x")));
	assert_content(f, "x", "file first");
	fd = fs_open_in_root(f->dest_fd, "var/cache", O_RDONLY, 0);
	assert_int_equal(fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_string_equal(v, "y");
	close(fd);
	fd = fs_open_in_root(f->dest_fd, "implicit", O_RDONLY, 0);
	assert_int_equal(fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)), 1);
	close(fd);
	assert_false(lexists(f, "var/cache/.wh..wh..opq"));
	assert_content(f, "var/cache/new", "n");
	assert_false(lexists(f, ".wh..wh.plnk/123"));
	assert_parent_clean(f);
}

/* (a) parents a layer does not list keep the lower layer's owner, mode and times */
static void test_stack_parents(void **state)
{
	static const struct ent l0[] = {
		{ K_DIR, "home", .mode = 0755 },
		{ K_DIR, "home/user", .mode = 0700, .uid = 1000, .gid = 1000, .mtime = 1200000000,
		  .xattr = "user.tank=dir" },
		{ K_FILE, "home/user/.profile", "p", .uid = 1000, .gid = 1000 },
		{ K_DIR, "srv", .mode = 0751, .uid = 7, .gid = 8, .mtime = 1300000000 },
	};
	static const struct ent l1[] = {
		{ K_FILE, "home/user/new", "n", .uid = 1000, .gid = 1000 },
		{ K_FILE, "srv/www/index.html", "i" },
	};
	const struct layer ls[] = { { l0, ARRAY_SIZE(l0) }, { l1, ARRAY_SIZE(l1) } };
	struct fx *f = *state;
	struct diag d = {};
	struct stat st;
	char *m;
	int r;

	if (!is_root("multi-layer parents (chown, overlay mount)"))
		return;
	r = unpack_stack(f, ls, 2, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	/* in layer 1's own dir: a copy of layer 0's directory, not a new 0755 root one */
	assert_true(S_ISDIR(stat_in(f, 1, "home/user", &st)));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1000);
	assert_int_equal(st.st_mtime, 1200000000);
	assert_true(S_ISDIR(stat_in(f, 1, "srv", &st)));
	assert_int_equal(st.st_mode & 07777, 0751);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_mtime, 1300000000);
	/* a parent no layer has is still made, 0755 root */
	assert_true(S_ISDIR(stat_in(f, 1, "srv/www", &st)));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 0);
	{
		char lp[192], v[16] = "";

		layer_path(f, 1, lp, sizeof(lp));
		strcat(lp, "/home/user");
		if (getxattr(lp, "user.tank", v, sizeof(v)) < 0 && errno == ENOTSUP)
			print_message("user xattrs unsupported on /tmp: not checked\n");
		else
			assert_string_equal(v, "dir");
	}
	m = merged_listing(f, 2);
	assert_merged(m, "home/user", "d 0700 1000:1000 1200000000");
	assert_merged(m, "home/user/.profile", "f 0644 1000:1000");
	assert_merged(m, "home/user/new", "f 0644 1000:1000");
	assert_merged(m, "srv", "d 0751 7:8 1300000000");
	free(m);
	assert_stack_clean(f, 2);
}

/* (b) a directory symlink of a lower layer is followed by the upper layer's paths */
static void test_stack_dir_symlink(void **state)
{
	static const struct ent l0[] = {
		{ K_DIR, "usr", .mode = 0755 },
		{ K_DIR, "usr/lib", .mode = 0755, .mtime = 1400000000 },
		{ K_FILE, "usr/lib/libc.so", "libc" },
		{ K_SYMLINK, "lib", "usr/lib" },
		{ K_SYMLINK, "lib64", "/usr/lib" },
		{ K_SYMLINK, "chain", "lib64/../lib" },
	};
	static const struct ent l1[] = {
		{ K_FILE, "lib/extra.so", "extra" },
		{ K_FILE, "lib64/abs.so", "abs" },
		{ K_FILE, "chain/chained.so", "chained" },
	};
	const struct layer ls[] = { { l0, ARRAY_SIZE(l0) }, { l1, ARRAY_SIZE(l1) } };
	struct fx *f = *state;
	struct diag d = {};
	struct stat st;
	int r;

	r = unpack_stack(f, ls, 2, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	/* umoci writes usr/lib/extra.so; /lib stays the lower layer's symlink */
	assert_int_equal(stat_in(f, 1, "lib", &st), 0);
	assert_int_equal(stat_in(f, 1, "lib64", &st), 0);
	assert_true(S_ISREG(stat_in(f, 1, "usr/lib/extra.so", &st)));
	assert_true(S_ISREG(stat_in(f, 1, "usr/lib/abs.so", &st)));
	assert_true(S_ISREG(stat_in(f, 1, "usr/lib/chained.so", &st)));
	assert_true(S_ISDIR(stat_in(f, 1, "usr/lib", &st)));
	assert_int_equal(st.st_mtime, 1400000000);
	if (is_root("the overlay mount check")) {
		char *m = merged_listing(f, 2);

		assert_merged(m, "lib", "l 0777 0:0");
		assert_merged(m, "usr/lib/libc.so", "f 0644 0:0 1500000000 ino=");
		assert_merged(m, "usr/lib/extra.so", "f 0644");
		assert_merged(m, "usr/lib", "d 0755 0:0 1400000000");
		free(m);
	}
	assert_stack_clean(f, 2);
}

/* (c) a hard link to a file of a lower layer: the file is copied up, then linked */
static void test_stack_hardlink(void **state)
{
	static const struct ent l0[] = {
		{ K_DIR, "bin", .mode = 0711, .uid = 3, .mtime = 1250000000 },
		{ K_FILE, "bin/busybox", "bb", .mode = 04755, .uid = 0, .gid = 2,
		  .mtime = 1100000000 },
		{ K_DIR, "usr" },
		{ K_DIR, "usr/lib" },
		{ K_FILE, "usr/lib/libz.so", "z" },
		{ K_SYMLINK, "lib", "usr/lib" },
		{ K_SYMLINK, "sl", "bin/busybox" },
	};
	static const struct ent l1[] = {
		{ K_HARDLINK, "bin/sh", "bin/busybox" },
		{ K_HARDLINK, "libz.hard", "lib/libz.so" },
		{ K_HARDLINK, "sl.hard", "sl" },
	};
	static const struct ent l2[] = { { K_HARDLINK, "gone", "bin/nothere" } };
	const struct layer ls[] = { { l0, ARRAY_SIZE(l0) }, { l1, ARRAY_SIZE(l1) } };
	const struct layer bad[] = { { l0, ARRAY_SIZE(l0) }, { l2, ARRAY_SIZE(l2) } };
	struct fx *f = *state;
	struct diag d = {};
	struct stat st, st2;
	int r;

	r = unpack_stack(f, ls, 2, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	assert_true(S_ISREG(stat_in(f, 1, "bin/busybox", &st)));
	assert_true(S_ISREG(stat_in(f, 1, "bin/sh", &st2)));
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(st.st_mtime, 1100000000);
	assert_true(S_ISREG(stat_in(f, 1, "usr/lib/libz.so", &st)));
	assert_true(S_ISREG(stat_in(f, 1, "libz.hard", &st2)));
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_true(S_ISLNK(stat_in(f, 1, "sl.hard", &st)));
	/* the copied-up parent keeps the lower directory's metadata */
	assert_true(S_ISDIR(stat_in(f, 1, "bin", &st)));
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_int_equal(st.st_mtime, 1250000000);
	if (geteuid() == 0) {
		char *m = merged_listing(f, 2);

		assert_int_equal(st.st_uid, 3);
		assert_merged(m, "bin/sh", "f 4755 0:2 1100000000");
		assert_merged(m, "bin/busybox", "f 4755 0:2 1100000000");
		assert_int_equal(merged_ino(m, "bin/sh"), merged_ino(m, "bin/busybox"));
		assert_merged(m, "bin", "d 0711 3:0 1250000000");
		free(m);
	}
	assert_stack_clean(f, 2);
	/* a target that is in no layer */
	assert_int_equal(fs_rm_rf(f->parent), 0);
	assert_int_equal(mkdir(f->parent, 0700), 0);
	r = open(f->sentinel, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_int_equal(write(r, "sentinel", 8), 8);
	close(r);
	diag_clear(&d);
	assert_int_equal(unpack_stack(f, bad, 2, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "is not in this layer or one below"));
}

/* whiteouts of lower entries leave the parent's metadata alone */
static void test_stack_whiteout_parent(void **state)
{
	static const struct ent l0[] = {
		{ K_DIR, "etc", .mode = 0750, .uid = 5, .gid = 6, .mtime = 1111111111 },
		{ K_FILE, "etc/a", "a" },
		{ K_FILE, "etc/b", "b" },
		{ K_DIR, "var", .mode = 0711, .mtime = 1222222222 },
		{ K_DIR, "var/cache" },
		{ K_FILE, "var/cache/old", "o" },
	};
	static const struct ent l1[] = {
		{ K_FILE, "etc/.wh.a", "" },
		{ K_FILE, "var/.wh.cache", "" },
	};
	const struct layer ls[] = { { l0, ARRAY_SIZE(l0) }, { l1, ARRAY_SIZE(l1) } };
	struct fx *f = *state;
	struct diag d = {};
	struct stat st;
	char *m;
	int r;

	if (!is_root("whiteouts (mknod, overlay mount)"))
		return;
	r = unpack_stack(f, ls, 2, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	assert_true(S_ISCHR(stat_in(f, 1, "etc/a", &st)));
	assert_true(S_ISCHR(stat_in(f, 1, "var/cache", &st)));
	assert_true(S_ISDIR(stat_in(f, 1, "etc", &st)));
	assert_int_equal(st.st_mtime, 1111111111);
	m = merged_listing(f, 2);
	assert_merged(m, "etc", "d 0750 5:6 1111111111");
	assert_merged(m, "var", "d 0711 0:0 1222222222");
	assert_not_merged(m, "etc/a");
	assert_merged(m, "etc/b", "f");
	assert_not_merged(m, "var/cache");
	assert_not_merged(m, "var/cache/old");
	free(m);
	assert_stack_clean(f, 2);
}

/* whiteouts hide only the layers below; an opaque marker after its siblings keeps them */
static void test_stack_same_layer_whiteouts(void **state)
{
	static const struct ent l0[] = {
		{ K_DIR, "d", .mode = 0700, .mtime = 1333333333 },
		{ K_FILE, "d/old", "o" },
		{ K_FILE, "x", "lower x" },
		{ K_DIR, "y" },
		{ K_FILE, "y/lower", "l" },
		{ K_FILE, "z", "lower z" },
	};
	static const struct ent l1[] = {
		{ K_FILE, "d/new", "n" },
		{ K_FILE, "d/.wh..wh..opq", "" },
		{ K_FILE, "x", "upper x" },
		{ K_FILE, ".wh.x", "" },
		{ K_FILE, "y/upper", "u" },
		{ K_FILE, ".wh.y", "" },
		{ K_FILE, ".wh.z", "" },
		{ K_DIR, "z" }, /* a directory where this layer whited out a file */
		{ K_FILE, "z/inside", "i" },
	};
	const struct layer ls[] = { { l0, ARRAY_SIZE(l0) }, { l1, ARRAY_SIZE(l1) } };
	struct fx *f = *state;
	struct diag d = {};
	char *m;
	int r;

	if (!is_root("whiteouts (mknod, trusted xattrs, overlay mount)"))
		return;
	r = unpack_stack(f, ls, 2, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	m = merged_listing(f, 2);
	assert_merged(m, "d", "d 0700 0:0 1333333333");
	assert_merged(m, "d/new", "f");
	assert_not_merged(m, "d/old");
	assert_merged(m, "x", "f 0644 0:0 1500000000 ino=");
	assert_non_null(strstr(m, "upper x"));
	assert_null(strstr(m, "lower x"));
	assert_merged(m, "y/upper", "f");
	assert_not_merged(m, "y/lower");
	assert_merged(m, "z", "d");
	assert_merged(m, "z/inside", "f");
	free(m);
	assert_stack_clean(f, 2);
}

/* containerd's cases: a lower layer's symlink points out of the root, an upper layer writes
 * through it; everything must land inside the root */
static void test_stack_symlink_escape(void **state)
{
	char host[64], via_root[96], via_up[96];
	struct fx *f = *state;
	const struct ent l0[] = {
		{ K_SYMLINK, "root", "/" },
		{ K_SYMLINK, "up", "../.." },
		{ K_DIR, "d" },
		{ K_SYMLINK, "d/upup", "../../../../.." },
		{ K_SYMLINK, "host", f->parent },
		{ K_SYMLINK, "loop", "loop" },
	};
	const struct ent l1[] = {
		{ K_FILE, via_root, "pwned" },
		{ K_FILE, via_up, "pwned" },
		{ K_FILE, "d/upup/tmp/x", "pwned" },
		{ K_DIR, "up/tmp" },
		{ K_FILE, "root/tmp/y", "pwned" },
	};
	const struct ent l1_host[] = { { K_FILE, "host/sentinel", "pwned" } };
	const struct ent l1_hard[] = { { K_HARDLINK, "h", "host/sentinel" } };
	const struct ent l1_loop[] = { { K_FILE, "loop/x", "x" } };
	const struct layer ls[] = { { l0, ARRAY_SIZE(l0) }, { l1, ARRAY_SIZE(l1) } };
	struct diag d = {};
	struct stat st;
	int r;

	snprintf(host, sizeof(host), "tank-escape-%d", (int)getpid());
	snprintf(via_root, sizeof(via_root), "root/%s", host);
	snprintf(via_up, sizeof(via_up), "up/%s.up", host);
	r = unpack_stack(f, ls, 2, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	assert_true(S_ISREG(stat_in(f, 1, host, &st)));
	assert_true(S_ISREG(stat_in(f, 1, via_up + 3, &st)));
	assert_true(S_ISREG(stat_in(f, 1, "tmp/x", &st)));
	assert_true(S_ISREG(stat_in(f, 1, "tmp/y", &st)));
	assert_false(fs_exists(via_root + 4));
	snprintf(via_root, sizeof(via_root), "/%s.up", host);
	assert_false(fs_exists(via_root));
	assert_false(fs_exists("/tmp/x"));
	assert_false(fs_exists("/tmp/y"));
	assert_stack_clean(f, 2);

	/* a symlink to a host path resolves inside the root, where it dangles */
	const struct { const struct ent *e; int err; const char *msg; } bad[] = {
		{ l1_host, -ENOENT, "dangling symlink" },
		{ l1_hard, -ENOENT, "not in this layer or one below" },
		{ l1_loop, -ELOOP, "not a usable directory" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const struct layer b[] = { { l0, ARRAY_SIZE(l0) }, { bad[i].e, 1 } };

		assert_int_equal(fs_rm_rf(f->parent), 0);
		assert_int_equal(mkdir(f->parent, 0700), 0);
		r = open(f->sentinel, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		assert_int_equal(write(r, "sentinel", 8), 8);
		close(r);
		assert_int_equal(mkdir(f->dest, 0755), 0);
		diag_clear(&d);
		r = unpack_stack(f, b, 2, &d);
		if (r != bad[i].err || !strstr(d.msg, bad[i].msg))
			fail_msg("case %zu: got %d \"%s\"", i, r, d.msg);
		assert_stack_clean(f, 2);
	}
}

/* Symlinks in a lower layer full of "a/.." (each ".." walks the path again): resolving an
 * upper entry through a chain of them ends with ELOOP after a bounded number of steps. */
static void test_stack_dotdot_chain_bounded(void **state)
{
	enum { LINKS = 30, PAIRS = 780 }; /* about 23,000 steps, past WALK_STEPS_MAX */
	static char targets[LINKS][PAIRS * 5 + 16];
	static char names[LINKS][8];
	struct fx *f = *state;
	struct ent l0[LINKS + 1] = { { K_DIR, "a" } };
	const struct ent l1[] = { { K_FILE, "s0/x", "x" } };
	const struct layer ls[] = { { l0, ARRAY_SIZE(l0) }, { l1, ARRAY_SIZE(l1) } };
	struct diag d = {};
	int r;

	for (int k = 0; k < LINKS; k++) {
		size_t off = 0;

		snprintf(names[k], sizeof(names[k]), "s%d", k);
		for (int i = 0; i < PAIRS; i++)
			off += (size_t)snprintf(targets[k] + off, sizeof(targets[k]) - off, "a/../");
		snprintf(targets[k] + off, sizeof(targets[k]) - off, k + 1 < LINKS ? "s%d" : "a",
			 k + 1);
		l0[k + 1] = (struct ent){ K_SYMLINK, names[k], targets[k] };
	}
	r = unpack_stack(f, ls, 2, &d);
	if (r != -ELOOP || !strstr(d.msg, "steps"))
		fail_msg("got %d \"%s\"", r, d.msg);
	assert_stack_clean(f, 2);
}

/* ---- breakout attempts ------------------------------------------------------------------ */

static void expect_fail(struct fx *f, const struct ent *e, size_t n, int err, const char *msg)
{
	struct diag d = {};
	int r = unpack(f, e, n, false, &d);

	if (r != err || !strstr(d.msg, msg))
		fail_msg("got %d \"%s\", want %d containing \"%s\"", r, d.msg, err, msg);
	assert_parent_clean(f);
}

static void expect_ok(struct fx *f, const struct ent *e, size_t n)
{
	struct diag d = {};
	int r = unpack(f, e, n, false, &d);

	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	assert_parent_clean(f);
}

static void test_escape_dotdot(void **state)
{
	struct fx *f = *state;
	const struct ent e1[] = { { K_FILE, "../sentinel", "pwned" } };
	const struct ent e2[] = { { K_FILE, "a/../../sentinel", "pwned" } };
	const struct ent e3[] = { { K_DIR, "../../x" } };
	const struct ent e4[] = { { K_SYMLINK, "../evil", "/" } };

	expect_fail(f, e1, 1, -EPERM, "leaves the layer root");
	expect_fail(f, e2, 1, -EPERM, "leaves the layer root");
	expect_fail(f, e3, 1, -EPERM, "leaves the layer root");
	expect_fail(f, e4, 1, -EPERM, "leaves the layer root");
}

static void test_escape_absolute(void **state)
{
	struct fx *f = *state;
	char p[256];
	const struct ent e[] = { { K_FILE, p, "pwned" } };

	/* an absolute path naming the sentinel lands inside dest */
	snprintf(p, sizeof(p), "%s", f->sentinel);
	expect_ok(f, e, 1);
	assert_content(f, f->sentinel + 1, "pwned");
}

static void test_escape_symlink_root(void **state)
{
	struct fx *f = *state;
	char name[64];
	const struct ent e[] = {
		{ K_SYMLINK, "root", "/" },
		{ K_FILE, name, "pwned" },
	};

	snprintf(name, sizeof(name), "root/tank-escape-%d", (int)getpid());
	expect_ok(f, e, ARRAY_SIZE(e));
	/* resolved in the root: dest/tank-escape-<pid>, never /tank-escape-<pid> */
	assert_content(f, name + 5, "pwned");
	assert_false(fs_exists(name + 4));
}

static void test_escape_symlink_chain(void **state)
{
	struct fx *f = *state;
	const struct ent e[] = {
		{ K_SYMLINK, "l1", ".." },
		{ K_SYMLINK, "l2", "l1/../.." },
		{ K_DIR, "d" },
		{ K_SYMLINK, "d/l3", "../l2/../../.." },
		{ K_FILE, "d/l3/chained", "c" },
		{ K_SYMLINK, "up", "../../../../../../../.." },
		{ K_FILE, "up/tmp/deep", "u" },
	};

	expect_ok(f, e, ARRAY_SIZE(e));
	assert_content(f, "chained", "c");
	assert_content(f, "tmp/deep", "u");
}

static void test_escape_symlink_host_path(void **state)
{
	struct fx *f = *state;
	const struct ent e[] = {
		{ K_SYMLINK, "p", f->parent },
		{ K_FILE, "p/sentinel", "pwned" },
	};
	const struct ent e2[] = {
		{ K_DIR, "tmp" },
		{ K_DIR, f->parent }, /* "/tmp/test_oci_unpack.XXXXXX", created inside dest */
		{ K_SYMLINK, "p", f->parent },
		{ K_FILE, "p/sentinel", "pwned" },
		{ K_FILE, "p/new", "n" },
	};

	/* the symlink resolves inside dest, where its target does not exist */
	expect_fail(f, e, ARRAY_SIZE(e), -ENOENT, "dangling symlink");
	fx_reset_dest(f);
	expect_ok(f, e2, ARRAY_SIZE(e2));
	/* the host path was re-created inside dest */
	assert_content(f, f->sentinel + 1, "pwned");
	assert_true(S_ISLNK(lmode(f, "p")));
}

static void test_escape_hardlink(void **state)
{
	struct fx *f = *state;
	const struct ent e1[] = { { K_HARDLINK, "h", "../sentinel" } };
	const struct ent e2[] = { { K_HARDLINK, "h", f->sentinel } };
	const struct ent e3[] = {
		{ K_SYMLINK, "p", f->parent },
		{ K_HARDLINK, "h", "p/sentinel" },
	};
	const struct ent e4[] = { { K_HARDLINK, "h", "p/../../sentinel" } };
	/* a hard link to a symlink pointing out links the symlink, never its target */
	const struct ent e5[] = {
		{ K_SYMLINK, "s", f->sentinel },
		{ K_HARDLINK, "h", "s" },
		{ K_FILE, "h", "pwned" },
	};

	expect_fail(f, e1, 1, -EPERM, "leaves the layer root");
	expect_fail(f, e2, 1, -ENOENT, "not in this layer");
	expect_fail(f, e3, ARRAY_SIZE(e3), -ENOENT, "not in this layer");
	expect_fail(f, e4, 1, -EPERM, "leaves the layer root");
	fx_reset_dest(f);
	expect_ok(f, e5, ARRAY_SIZE(e5));
	assert_content(f, "h", "pwned");
	assert_true(S_ISLNK(lmode(f, "s")));
}

static void test_escape_symlinked_parent(void **state)
{
	struct fx *f = *state;
	const struct ent e[] = {
		{ K_DIR, "real" },
		{ K_SYMLINK, "link", "real" },
		{ K_FILE, "link/f", "via link" },
		{ K_SYMLINK, "abs", "/real" },
		{ K_FILE, "abs/g", "via abs" },
		/* a file replacing a symlink that points out: the link goes, nothing is followed */
		{ K_SYMLINK, "s", f->sentinel },
		{ K_FILE, "s", "pwned" },
		/* a directory replacing a symlink to the host parent */
		{ K_SYMLINK, "sd", f->parent },
		{ K_DIR, "sd" },
		{ K_FILE, "sd/sentinel", "pwned" },
	};

	expect_ok(f, e, ARRAY_SIZE(e));
	assert_content(f, "real/f", "via link");
	assert_content(f, "real/g", "via abs");
	assert_true(S_ISLNK(lmode(f, "link")));
	assert_true(S_ISREG(lmode(f, "s")));
	assert_content(f, "s", "pwned");
	assert_true(S_ISDIR(lmode(f, "sd")));
	assert_content(f, "sd/sentinel", "pwned");
}

static void test_escape_whiteout_through_symlink(void **state)
{
	struct fx *f = *state;
	const struct ent e[] = {
		{ K_DIR, "tmp" },
		{ K_DIR, f->parent },
		{ K_SYMLINK, "p", f->parent },
		{ K_FILE, "p/.wh.sentinel", "" },
		{ K_FILE, "p/.wh..wh..opq", "" },
	};
	char in[256];

	if (!is_root("whiteouts through symlinks (mknod)"))
		return;
	expect_ok(f, e, ARRAY_SIZE(e));
	/* resolved inside the root, where nothing below has the name: no whiteout at all */
	assert_false(lexists(f, f->sentinel + 1));
	snprintf(in, sizeof(in), "%s", f->parent + 1);
	assert_true(S_ISDIR(lmode(f, in)));
	{
		char v[4];

		assert_int_equal(getxattr(f->parent, "trusted.overlay.opaque", v, sizeof(v)), -1);
	}
	/* bad whiteouts */
	{
		const struct ent b[] = { { K_FILE, "a/.wh.", "" } };

		expect_fail(f, b, 1, -EBADMSG, "malformed whiteout");
	}
}

/* ---- limits, corruption, formats -------------------------------------------------------- */

static void test_bomb_entries(void **state)
{
	struct fx *f = *state;
	struct ent e[50];
	char names[50][16];
	char diff_id[OCI_DIGEST_STR_MAX];
	struct oci_unpack_opts o = { .blob_size = -1, .max_entries = 10 };
	struct diag d = {};
	int fd, r;

	for (int i = 0; i < 50; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		e[i] = (struct ent){ K_FILE, names[i], "x" };
	}
	fd = build_layer(e, 50, true, diff_id);
	o.diff_id = diff_id;
	r = oci_layer_unpack_opts(fd, f->dest, &o, &d);
	close(fd);
	assert_int_equal(r, -E2BIG);
	assert_non_null(strstr(d.msg, "more than 10 entries"));
	assert_parent_clean(f);
}

static void test_bomb_size(void **state)
{
	static const struct ent e[] = { { K_ZEROS, "zeros", .size = 16 << 20 } };
	struct fx *f = *state;
	char diff_id[OCI_DIGEST_STR_MAX];
	struct oci_unpack_opts o = { .blob_size = -1, .max_bytes = 1 << 20 };
	struct diag d = {};
	struct stat st;
	int fd, r;

	fd = build_layer(e, 1, true, diff_id);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size < 100 << 10); /* a real bomb: tiny blob, big content */
	r = oci_layer_unpack_opts(fd, f->dest, &o, &d);
	close(fd);
	assert_int_equal(r, -EFBIG);
	assert_non_null(strstr(d.msg, "decompression bomb"));
	assert_parent_clean(f);
}

static void test_bomb_stream(void **state)
{
	/* tar bytes beyond the limit even without file data: many tiny entries, huge padding */
	static const struct ent e[] = { { K_ZEROS, "z", .size = 4 << 20 } };
	struct fx *f = *state;
	char diff_id[OCI_DIGEST_STR_MAX];
	struct oci_unpack_opts o = { .blob_size = -1, .max_bytes = 1024, .max_entries = 1 };
	struct diag d = {};
	int fd, r;

	fd = build_layer(e, 1, true, diff_id);
	r = oci_layer_unpack_opts(fd, f->dest, &o, &d);
	close(fd);
	assert_true(r == -EFBIG);
	assert_non_null(strstr(d.msg, "bomb"));
}

static void test_path_limit(void **state)
{
	struct fx *f = *state;
	char longp[200];
	const struct ent e[] = { { K_FILE, longp, "x" } };
	char diff_id[OCI_DIGEST_STR_MAX];
	struct oci_unpack_opts o = { .blob_size = -1, .max_path = 64 };
	struct diag d = {};
	int fd, r;

	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	for (int i = 50; i < 190; i += 50)
		longp[i] = '/';
	fd = build_layer(e, 1, false, diff_id);
	r = oci_layer_unpack_opts(fd, f->dest, &o, &d);
	close(fd);
	assert_int_equal(r, -ENAMETOOLONG);
	assert_non_null(strstr(d.msg, "longer than 64"));
}

static void test_diff_id_mismatch(void **state)
{
	static const struct ent e[] = { { K_FILE, "f", "content" } };
	struct fx *f = *state;
	char diff_id[OCI_DIGEST_STR_MAX];
	struct diag d = {};
	int fd, r;

	for (int gz = 0; gz < 2; gz++) {
		fd = build_layer(e, 1, gz, diff_id);
		diff_id[10] = diff_id[10] == '0' ? '1' : '0';
		diag_clear(&d);
		r = oci_layer_unpack(fd, f->dest, diff_id, &d);
		close(fd);
		assert_int_equal(r, -EBADMSG);
		assert_non_null(strstr(d.msg, "does not match diff_id"));
		fx_reset_dest(f);
	}
	/* a malformed expected diff_id is refused up front */
	fd = build_layer(e, 1, false, diff_id);
	assert_int_equal(oci_layer_unpack(fd, f->dest, "sha256:xyz", NULL), -EINVAL);
	/* NULL skips the check */
	assert_int_equal(oci_layer_unpack(fd, f->dest, NULL, NULL), 0);
	close(fd);
}

static void test_blob_checks(void **state)
{
	static const struct ent e[] = { { K_FILE, "f", "content" } };
	struct fx *f = *state;
	char diff_id[OCI_DIGEST_STR_MAX], blob[OCI_DIGEST_STR_MAX];
	struct oci_unpack_opts o = { .diff_id = diff_id };
	struct diag d = {};
	struct stat st;
	int fd;

	fd = build_layer(e, 1, true, diff_id);
	fd_digest(fd, blob);
	assert_int_equal(fstat(fd, &st), 0);
	o.blob_digest = blob;
	o.blob_size = st.st_size;
	assert_int_equal(oci_layer_unpack_opts(fd, f->dest, &o, &d), 0);

	/* wrong blob size */
	fx_reset_dest(f);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	o.blob_size = st.st_size - 1;
	assert_int_equal(oci_layer_unpack_opts(fd, f->dest, &o, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "descriptor"));

	/* a flipped byte in the gzip data: reported as a digest mismatch, whatever broke first */
	fx_reset_dest(f);
	{
		unsigned char c;

		assert_int_equal(pread(fd, &c, 1, st.st_size / 2), 1);
		c ^= 0x55;
		assert_int_equal(pwrite(fd, &c, 1, st.st_size / 2), 1);
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	o.blob_size = st.st_size;
	diag_clear(&d);
	assert_int_equal(oci_layer_unpack_opts(fd, f->dest, &o, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "digest mismatch (got sha256:"));
	close(fd);
}

/* zstd layers: unpacked, checked against diff_id and blob digest, corruption caught */
static void test_zstd(void **state)
{
	static const struct ent e[] = { { K_FILE, "one", "1" },
					{ K_ZEROS, "z", .size = 300000 },
					{ K_DIR, "d", .mode = 0700 },
					{ K_FILE, "d/two", "2" } };
	struct fx *f = *state;
	char diff_id[OCI_DIGEST_STR_MAX], blob[OCI_DIGEST_STR_MAX];
	struct oci_unpack_opts o = { .diff_id = diff_id };
	struct diag d = {};
	struct stat st;
	unsigned char c;
	int fd, r;

	fd = build_layer_as(e, ARRAY_SIZE(e), F_ZSTD, diff_id);
	assert_int_equal(pread(fd, &c, 1, 0), 1);
	assert_int_equal(c, 0x28); /* really zstd */
	assert_int_equal(fstat(fd, &st), 0);
	fd_digest(fd, blob);
	o.blob_digest = blob;
	o.blob_size = st.st_size;
	r = oci_layer_unpack_opts(fd, f->dest, &o, &d);
	if (r < 0)
		fail_msg("zstd: %s", diag_text(&d, r));
	assert_content(f, "one", "1");
	assert_content(f, "d/two", "2");
	assert_int_equal(lmode(f, "d") & 07777, 0700);
	assert_int_equal(fstatat(f->dest_fd, "z", &st, 0), 0);
	assert_int_equal(st.st_size, 300000);

	/* a diff_id that does not match */
	fx_reset_dest(f);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	diff_id[12] = diff_id[12] == '0' ? '1' : '0';
	o.blob_digest = NULL;
	o.blob_size = -1;
	diag_clear(&d);
	assert_int_equal(oci_layer_unpack_opts(fd, f->dest, &o, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "does not match diff_id"));
	diff_id[12] = diff_id[12] == '0' ? '1' : '0';

	/* trailing garbage after the frame */
	fx_reset_dest(f);
	assert_true(lseek(fd, 0, SEEK_END) > 0);
	assert_int_equal(write(fd, "garbage!", 8), 8);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	diag_clear(&d);
	assert_int_equal(oci_layer_unpack_opts(fd, f->dest, &o, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "zstd"));

	/* a flipped byte in the middle: the blob digest names the cause */
	fx_reset_dest(f);
	assert_int_equal(ftruncate(fd, st.st_size), 0);
	assert_int_equal(pread(fd, &c, 1, st.st_size / 2), 1);
	c ^= 0x55;
	assert_int_equal(pwrite(fd, &c, 1, st.st_size / 2), 1);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	o.blob_digest = blob;
	o.blob_size = st.st_size;
	diag_clear(&d);
	assert_int_equal(oci_layer_unpack_opts(fd, f->dest, &o, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "digest mismatch (got sha256:"));
	close(fd);

	/* truncated */
	fx_reset_dest(f);
	fd = build_layer_as(e, ARRAY_SIZE(e), F_ZSTD, diff_id);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(ftruncate(fd, st.st_size - 10), 0);
	diag_clear(&d);
	assert_int_equal(oci_layer_unpack(fd, f->dest, diff_id, &d), -EBADMSG);
	close(fd);
	assert_parent_clean(f);
}

static void test_formats(void **state)
{
	struct fx *f = *state;
	struct diag d = {};
	int fd;

	/* zstd magic, then garbage */
	fd = fd_from_bytes("\x28\xb5\x2f\xfd\x00\x00\x00\x00", 8);
	assert_int_equal(oci_layer_unpack(fd, f->dest, NULL, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "zstd data is corrupt"));
	close(fd);
	/* not a tar */
	diag_clear(&d);
	fd = fd_from_bytes("hello, this is not a tar archive at all", 39);
	assert_true(oci_layer_unpack(fd, f->dest, NULL, &d) < 0);
	assert_non_null(strstr(d.msg, "not a valid tar"));
	close(fd);
	/* truncated gzip */
	{
		static const struct ent e[] = { { K_ZEROS, "z", .size = 300000 } };
		char diff_id[OCI_DIGEST_STR_MAX];
		struct stat st;

		fd = build_layer(e, 1, true, diff_id);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(ftruncate(fd, st.st_size - 20), 0);
		diag_clear(&d);
		assert_int_equal(oci_layer_unpack(fd, f->dest, diff_id, &d), -EBADMSG);
		assert_non_null(strstr(d.msg, "truncated"));
		close(fd);
	}
	/* trailing garbage after the gzip stream */
	{
		static const struct ent e[] = { { K_FILE, "f", "x" } };
		char diff_id[OCI_DIGEST_STR_MAX];

		fd = build_layer(e, 1, true, diff_id);
		assert_int_equal(lseek(fd, 0, SEEK_END) > 0, 1);
		assert_int_equal(write(fd, "garbage", 7), 7);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		diag_clear(&d);
		assert_int_equal(oci_layer_unpack(fd, f->dest, diff_id, &d), -EBADMSG);
		assert_non_null(strstr(d.msg, "gzip"));
		close(fd);
	}
	/* an empty layer (end-of-archive blocks only) */
	{
		char diff_id[OCI_DIGEST_STR_MAX];

		fx_reset_dest(f);
		fd = build_layer(NULL, 0, true, diff_id);
		assert_int_equal(oci_layer_unpack(fd, f->dest, diff_id, NULL), 0);
		close(fd);
	}
	/* several gzip members one after the other (pigz and friends) */
	{
		static const struct ent e[] = { { K_FILE, "one", "1" },
						{ K_ZEROS, "z", .size = 70000 },
						{ K_FILE, "two", "2" } };
		char diff_id[OCI_DIGEST_STR_MAX];
		int plain = build_layer(e, ARRAY_SIZE(e), false, diff_id);
		struct stat st;
		char *buf;

		fx_reset_dest(f);
		assert_int_equal(fstat(plain, &st), 0);
		buf = malloc((size_t)st.st_size);
		assert_int_equal(pread(plain, buf, (size_t)st.st_size, 0), st.st_size);
		close(plain);
		fd = memfd_create("multi", MFD_CLOEXEC);
		gzip_member(fd, buf, 1000);
		gzip_member(fd, buf + 1000, (size_t)st.st_size - 1000);
		free(buf);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		diag_clear(&d);
		if (oci_layer_unpack(fd, f->dest, diff_id, &d) < 0)
			fail_msg("multi-member gzip: %s", d.msg);
		close(fd);
		assert_content(f, "two", "2");
	}
	/* a zero-length blob is an empty layer; its diff_id is the digest of nothing */
	fd = fd_from_bytes("", 0);
	assert_int_equal(
		oci_layer_unpack(fd, f->dest,
				 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
				 "95991b7852b855",
				 NULL),
		0);
	close(fd);
	/* a dest that does not exist */
	fd = fd_from_bytes("x", 1);
	diag_clear(&d);
	assert_int_equal(oci_layer_unpack(fd, "/nonexistent/tank/dest", NULL, &d), -ENOENT);
	close(fd);
}

int main(void)
{
	/* the pax writer needs a UTF-8 locale for the non-ASCII test name; reading does not */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		print_message("no C.UTF-8 locale: the UTF-8 name case may fail\n");
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_basic_plain),
		T(test_basic_gzip),
		T(test_sparse),
		T(test_owner_device_xattr),
		T(test_whiteouts),
		T(test_stack_parents),
		T(test_stack_dir_symlink),
		T(test_stack_hardlink),
		T(test_stack_whiteout_parent),
		T(test_stack_same_layer_whiteouts),
		T(test_stack_symlink_escape),
		T(test_stack_dotdot_chain_bounded),
		T(test_escape_dotdot),
		T(test_escape_absolute),
		T(test_escape_symlink_root),
		T(test_escape_symlink_chain),
		T(test_escape_symlink_host_path),
		T(test_escape_hardlink),
		T(test_escape_symlinked_parent),
		T(test_escape_whiteout_through_symlink),
		T(test_bomb_entries),
		T(test_bomb_size),
		T(test_bomb_stream),
		T(test_path_limit),
		T(test_diff_id_mismatch),
		T(test_blob_checks),
		T(test_zstd),
		T(test_formats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
