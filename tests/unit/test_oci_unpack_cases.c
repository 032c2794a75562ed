/* test_oci_unpack_cases.c - containerd's archive breakout list and umoci's whiteout, opaque and
 * hardlink cases, each a cmocka test over real layer stacks and their overlay view. */
#include "oci_unpack_fixture.h"

/*
 * Each case is a layer (and, when the peer's test starts from an existing tree, a layer below
 * it holding that tree). The layers are built with libarchive, unpacked into <tmp>/l0, l1 and
 * checked in the tree a pod sees (a real read-only overlay mount of them) with a list of
 * expectations, one string each, fields split by '|':
 *   "=|path|content"  a regular file with that content     "!|path"       not in the tree
 *   "@|path|target"   a symlink with that target           "d|path"       a directory
 *   "~|a|b"           the same inode (a hard link)         "#|a|b"        different inodes
 * Every case also checks that nothing was written outside the layer directories (the temp
 * dir holds only l0, l1, dest and an untouched sentinel) nor at the host paths the entries
 * name (/etc/passwd unchanged, no /etc/unbroken, /localetc, ... appear).
 *
 * Where Tank's outcome differs from the peer's, the case says so (see oci/unpack.c for why):
 * a hard link target or an entry name with ".." above the root is refused (containerd and
 * umoci clamp it to the root, Docker and podman refuse it too), and symlinks are resolved as
 * the kernel does (a missing component before ".." dangles; containerd cleans lexically).
 */

struct bcase {
	const char *name;
	const struct ent *lower; /* the tree the peer's test starts from, or NULL */
	size_t n_lower;
	const struct ent *e; /* the layer under test */
	size_t n;
	int err; /* expected failure (0: success) and a part of its message */
	const char *msg;
	const char *const *want; /* NULL-terminated */
};

#define ENTS(...)                                                                                  \
	(const struct ent[]){ __VA_ARGS__ }, ARRAY_SIZE(((const struct ent[]){ __VA_ARGS__ }))
#define NONE NULL, 0
#define WANT(...) (const char *const[]){ __VA_ARGS__, NULL }

#define ETC_PASSWD { K_DIR, "etc", .mode = 0770 }, { K_FILE, "/etc/passwd", "inside" }
#define ETC_ALL_USERS { K_DIR, "etc" }, { K_FILE, "etc/passwd", "all users" }

static const struct bcase containerd[] = {
	{ "SymlinkAbsolute", NONE,
	  ENTS({ K_DIR, "etc" }, { K_SYMLINK, "localetc", "/etc" },
	       { K_FILE, "/localetc/unbroken", "unbroken" }),
	  0, NULL, WANT("=|etc/unbroken|unbroken", "@|localetc|/etc") },
	{ "SymlinkUpAndOut", NONE,
	  ENTS({ K_DIR, "etc" }, { K_DIR, "dummy" }, { K_SYMLINK, "localetc", "/dummy/../etc" },
	       { K_FILE, "/localetc/unbroken", "unbroken" }),
	  0, NULL, WANT("=|etc/unbroken|unbroken", "!|dummy/unbroken") },
	{ "SymlinkMultipleAbsolute", NONE,
	  ENTS({ K_DIR, "etc" }, { K_DIR, "dummy" }, { K_SYMLINK, "/dummy/etc", "/etc" },
	       { K_SYMLINK, "localetc", "/dummy/etc" },
	       { K_FILE, "/dummy/etc/unbroken", "unbroken" }),
	  0, NULL, WANT("=|etc/unbroken|unbroken", "@|dummy/etc|/etc") },
	{ "SymlinkMultipleRelative", NONE,
	  ENTS({ K_DIR, "etc" }, { K_DIR, "dummy" }, { K_SYMLINK, "/dummy/etc", "/etc" },
	       { K_SYMLINK, "localetc", "./dummy/etc" },
	       { K_FILE, "/dummy/etc/unbroken", "unbroken" }),
	  0, NULL, WANT("=|etc/unbroken|unbroken", "@|localetc|./dummy/etc") },
	{ "SymlinkEmptyFile", NONE,
	  ENTS({ K_DIR, "etc" }, { K_FILE, "etc/emptied", "notempty" },
	       { K_SYMLINK, "localetc", "/etc" }, { K_FILE, "/localetc/emptied", "" }),
	  0, NULL, WANT("=|etc/emptied|") },
	{ "HardlinkRelative", NONE,
	  ENTS(ETC_PASSWD, { K_DIR, "breakouts" }, { K_SYMLINK, "breakouts/d1", "../../etc" },
	       { K_HARDLINK, "breakouts/mypasswd", "/breakouts/d1/passwd" }),
	  0, NULL, WANT("~|breakouts/mypasswd|etc/passwd", "=|etc/passwd|inside") },
	{ "HardlinkDownAndOut", NONE,
	  ENTS(ETC_PASSWD, { K_DIR, "breakouts" }, { K_DIR, "downandout" },
	       { K_SYMLINK, "breakouts/d1", "../downandout/../../etc" },
	       { K_HARDLINK, "breakouts/mypasswd", "/breakouts/d1/passwd" }),
	  0, NULL, WANT("~|breakouts/mypasswd|etc/passwd") },
	{ "HardlinkAbsolute", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "localetc", "/etc" },
	       { K_HARDLINK, "localpasswd", "/localetc/passwd" }),
	  0, NULL, WANT("~|localpasswd|etc/passwd") },
	{ "HardlinkRelativeLong", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "localetc", "../../../../../../../etc" },
	       { K_HARDLINK, "localpasswd", "/localetc/passwd" }),
	  0, NULL, WANT("~|localpasswd|etc/passwd") },
	/* containerd cleans "upandout/../" lexically; the kernel (and Tank) needs upandout to
	 * exist, so the symlink dangles and the link has no target */
	{ "HardlinkRelativeUpAndOut", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "localetc", "upandout/../../../etc" },
	       { K_HARDLINK, "localpasswd", "/localetc/passwd" }),
	  -ENOENT, "is not in this layer or one below", NULL },
	/* containerd clamps the target to /etc/passwd; Tank refuses it (oci/unpack.c) */
	{ "HardlinkDirectRelative", NONE,
	  ENTS(ETC_PASSWD, { K_HARDLINK, "localpasswd", "../../../../../etc/passwd" }), -EPERM,
	  "hard link target \"../../../../../etc/passwd\" leaves the layer root", NULL },
	{ "HardlinkDirectAbsolute", NONE,
	  ENTS(ETC_PASSWD, { K_HARDLINK, "localpasswd", "/etc/passwd" }), 0, NULL,
	  WANT("~|localpasswd|etc/passwd") },
	/* containerd skips an entry that resolves to the root; Tank refuses the layer */
	{ "SymlinkParentDirectory", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "..", "/etc/" },
	       { K_HARDLINK, "localpasswd", "/etc/passwd" }),
	  -EPERM, "leaves the layer root", NULL },
	{ "SymlinkEmptyFilename", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "", "/etc/" },
	       { K_HARDLINK, "localpasswd", "/etc/passwd" }),
	  -EBADMSG, "the layer root must be a directory", NULL },
	{ "SymlinkParentRelative", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "localetc/sub/..", "/etc/" },
	       { K_HARDLINK, "/localetc/localpasswd", "/etc/passwd" }),
	  0, NULL, WANT("@|localetc|/etc/", "~|etc/localpasswd|etc/passwd", "!|localetc/sub") },
	{ "SymlinkSlashEnded", NONE,
	  ENTS(ETC_PASSWD, { K_DIR, "localetc/", .mode = 0770 },
	       { K_HARDLINK, "/localetc/localpasswd", "/etc/passwd" }),
	  0, NULL, WANT("d|localetc", "~|localetc/localpasswd|etc/passwd") },
	{ "SymlinkOverrideDirectory",
	  ENTS({ K_DIR, "etc/" }, { K_FILE, "etc/passwd", "inside" }, { K_DIR, "localetc/" }),
	  ENTS({ K_SYMLINK, "localetc", "/etc" },
	       { K_HARDLINK, "/localetc/localpasswd", "/etc/passwd" }),
	  0, NULL, WANT("@|localetc|/etc", "~|etc/localpasswd|etc/passwd") },
	{ "SymlinkOverrideDirectoryRelative",
	  ENTS({ K_DIR, "etc/" }, { K_FILE, "etc/passwd", "inside" }, { K_DIR, "localetc/" }),
	  ENTS({ K_SYMLINK, "localetc", "../../etc" },
	       { K_HARDLINK, "/localetc/localpasswd", "/etc/passwd" }),
	  0, NULL, WANT("@|localetc|../../etc", "~|etc/localpasswd|etc/passwd") },
	{ "DirectoryOverrideSymlink",
	  ENTS({ K_DIR, "etc/" }, { K_FILE, "etc/passwd", "inside" },
	       { K_SYMLINK, "localetc", "/etc" }),
	  ENTS({ K_DIR, "/localetc/" }, { K_HARDLINK, "/localetc/localpasswd", "/etc/passwd" }),
	  0, NULL, WANT("d|localetc", "~|localetc/localpasswd|etc/passwd", "!|etc/localpasswd") },
	{ "DirectoryOverrideSymlinkAndHardlink",
	  ENTS({ K_DIR, "etc/" }, { K_FILE, "etc/passwd", "inside" },
	       { K_SYMLINK, "localetc", "etc" },
	       { K_HARDLINK, "/localetc/localpasswd", "/etc/passwd" }),
	  ENTS({ K_DIR, "/localetc/" }, { K_FILE, "/localetc/localpasswd", "different" }),
	  0, NULL,
	  WANT("d|localetc", "=|localetc/localpasswd|different", "=|etc/passwd|inside",
	       "#|localetc/localpasswd|etc/passwd", "~|etc/localpasswd|etc/passwd") },
	{ "WhiteoutRootParent", ENTS(ETC_ALL_USERS), ENTS({ K_FILE, ".wh...", "" }), -EBADMSG,
	  "malformed whiteout", NULL },
	{ "WhiteoutParent", ENTS(ETC_ALL_USERS), ENTS({ K_FILE, "etc/.wh...", "" }), -EBADMSG,
	  "malformed whiteout", NULL },
	{ "WhiteoutRoot", ENTS(ETC_ALL_USERS), ENTS({ K_FILE, ".wh..", "" }), -EBADMSG,
	  "malformed whiteout", NULL },
	{ "WhiteoutCurrentDirectory", ENTS(ETC_ALL_USERS), ENTS({ K_FILE, "etc/.wh..", "" }),
	  -EBADMSG, "malformed whiteout", NULL },
	{ "WhiteoutSymlink", ENTS(ETC_ALL_USERS, { K_SYMLINK, "localetc", "/etc" }),
	  ENTS({ K_FILE, ".wh.localetc", "" }), 0, NULL,
	  WANT("=|etc/passwd|all users", "!|localetc") },
	{ "WhiteoutSymlinkPath",
	  ENTS(ETC_ALL_USERS, { K_FILE, "etc/whitedout", "ahhhh whiteout" },
	       { K_SYMLINK, "localetc", "/etc" }),
	  ENTS({ K_FILE, "localetc/.wh.whitedout", "" }), 0, NULL,
	  WANT("=|etc/passwd|all users", "!|etc/whitedout", "@|localetc|/etc") },
	{ "WhiteoutDirectoryName",
	  ENTS(ETC_ALL_USERS, { K_FILE, "etc/whitedout", "ahhhh whiteout" },
	       { K_SYMLINK, "localetc", "/etc" }),
	  ENTS({ K_FILE, ".wh.etc/somefile", "non-empty" }), 0, NULL,
	  WANT("=|etc/passwd|all users", "=|.wh.etc/somefile|non-empty") },
	/* the whiteout's parent is a dangling symlink: nothing there to hide, a no-op */
	{ "WhiteoutDeadSymlinkParent", ENTS(ETC_ALL_USERS, { K_SYMLINK, "localetc", "/dne" }),
	  ENTS({ K_FILE, "localetc/.wh.etc", "" }), 0, NULL,
	  WANT("=|etc/passwd|all users", "@|localetc|/dne", "!|dne") },
	{ "WhiteoutRelativePath", ENTS(ETC_ALL_USERS, { K_SYMLINK, "localetc", "/dne" }),
	  ENTS({ K_FILE, "dne/../.wh.etc", "" }), 0, NULL,
	  WANT("!|etc/passwd", "!|etc", "!|dne") },
	{ "HardlinkSymlinkBeforeCreateTarget", NONE,
	  ENTS({ K_DIR, "etc", .mode = 0770 }, { K_SYMLINK, "localpasswd", "/etc/passwd" },
	       { K_HARDLINK, "localpasswd-dup", "localpasswd" },
	       { K_FILE, "/etc/passwd", "after" }),
	  0, NULL,
	  WANT("@|localpasswd-dup|/etc/passwd", "~|localpasswd-dup|localpasswd",
	       "=|etc/passwd|after") },
	{ "HardlinkSymlinkRelative", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "passwdlink", "../../../../../etc/passwd" },
	       { K_HARDLINK, "localpasswd", "/passwdlink" }),
	  0, NULL,
	  WANT("@|localpasswd|../../../../../etc/passwd", "~|localpasswd|passwdlink",
	       "=|etc/passwd|inside") },
	{ "HardlinkSymlinkAbsolute", NONE,
	  ENTS(ETC_PASSWD, { K_SYMLINK, "passwdlink", "/etc/passwd" },
	       { K_HARDLINK, "localpasswd", "/passwdlink" }),
	  0, NULL, WANT("@|localpasswd|/etc/passwd", "~|localpasswd|passwdlink") },
};

/* umoci's TestUnpackEntrySanitiseScoping and TestUnpackEntrySymlinkScoping */
#define SYMLINK_SCOPING(label, prefix)                                                             \
	{ "SymlinkScoping" label, ENTS({ K_SYMLINK, "link", prefix }),                             \
	  ENTS({ K_FILE, "link/file", "container content" }), 0, NULL,                           \
	  WANT("=|file|container content", "@|link|" prefix) }

static const struct bcase umoci[] = {
	/* umoci clamps both into the root; Tank refuses them (as test_escape_dotdot) */
	{ "SanitiseScopingGarbagePrefix", NONE, ENTS({ K_FILE, "/../file", "container content" }),
	  -EPERM, "leaves the layer root", NULL },
	{ "SanitiseScopingDotDotPrefix", NONE, ENTS({ K_FILE, "../file", "container content" }),
	  -EPERM, "leaves the layer root", NULL },
	SYMLINK_SCOPING("RootPrefix", "/"),
	SYMLINK_SCOPING("GarbagePrefix1", "/../"),
	SYMLINK_SCOPING("GarbagePrefix2", "/../../../../../../../../../../../../../../../"),
	SYMLINK_SCOPING("GarbagePrefix3", "/./.././.././.././.././.././.././.././.././../"),
	SYMLINK_SCOPING("DotDotPrefix", ".."),
	{ "EntryParentDir", NONE, ENTS({ K_FILE, "a/b/c/file", "creating parentdirs" }), 0, NULL,
	  WANT("=|a/b/c/file|creating parentdirs", "d|a/b/c") },
	/* hard links take neither owner nor mode from their entry; one to a symlink links the
	 * symlink itself */
	{ "Hardlink", NONE,
	  ENTS({ K_FILE, "regular", "some content" },
	       { K_HARDLINK, "hard link", "/regular", .uid = 1337, .gid = 2020 },
	       { K_SYMLINK, "link", "../../../regular" },
	       { K_HARDLINK, "hard link to symlink", "/link", .uid = 1337, .gid = 2020 }),
	  0, NULL,
	  WANT("~|hard link|regular", "~|hard link to symlink|link", "#|hard link|link",
	       "@|hard link to symlink|../../../regular", "=|regular|some content") },
	/* umoci's form of the last link, "../../../link", is refused here */
	{ "HardlinkDotDotTarget", NONE,
	  ENTS({ K_FILE, "regular", "some content" }, { K_SYMLINK, "link", "../../../regular" },
	       { K_HARDLINK, "hard link to symlink", "../../../link" }),
	  -EPERM, "hard link target \"../../../link\" leaves the layer root", NULL },
};

/* Tank's own: overlayfs lists a directory that is not merged as it is, so a whiteout that
 * hides nothing would show as a broken entry ("c?????????" in ls) */
static const struct bcase tank[] = {
	{ "WhiteoutNothingBelow", ENTS({ K_DIR, "etc" }, { K_FILE, "etc/a", "a" }),
	  ENTS({ K_DIR, "newdir" }, { K_FILE, "newdir/.wh.foo", "" },
	       { K_FILE, "etc/.wh.nothere", "" }, { K_FILE, "etc/.wh.a", "" },
	       { K_FILE, "gone/.wh.x", "" }),
	  0, NULL, WANT("d|newdir", "!|newdir/foo", "!|etc/nothere", "!|etc/a", "!|gone") },
	{ "WhiteoutsThenOpaque",
	  ENTS({ K_DIR, "d" }, { K_DIR, "d/sub" }, { K_FILE, "d/sub/x", "x" },
	       { K_FILE, "d/y", "y" }),
	  ENTS({ K_DIR, "d/sub" }, { K_FILE, "d/sub/.wh.x", "" }, { K_FILE, "d/.wh.y", "" },
	       { K_FILE, "d/sub/new", "n" }, { K_FILE, "d/.wh..wh..opq", "" }),
	  0, NULL, WANT("d|d/sub", "!|d/sub/x", "!|d/y", "=|d/sub/new|n") },
};

/* ---- running a case ---------------------------------------------------------------------- */

static const char *const host_paths[] = {
	"/etc/unbroken", "/localetc",	 "/localpasswd", "/breakouts", "/etc/localpasswd",
	"/dummy",	 "/passwdlink", "/.wh.etc",	"/dne",	      "/file",
	"/link",	 "/regular",
};

static const struct bcase *cur_case;

static int case_setup(void **state)
{
	cur_case = *state;
	return fx_setup(state);
}

/* The text after "ino=N " of path's line: file content or symlink target. */
static const char *merged_extra(const char *m, const char *path, char *line, size_t len)
{
	const char *p;

	if (!merged_get(m, path, line, len))
		fail_msg("%s: %s is not in the merged tree:%s", cur_case->name, path, m);
	p = strstr(line, " ino=");
	assert_non_null(p);
	p = strchr(p + 1, ' ');
	return p ? p + 1 : "";
}

static char merged_type(const char *m, const char *path)
{
	char line[512];

	if (!merged_get(m, path, line, sizeof(line)))
		fail_msg("%s: %s is not in the merged tree:%s", cur_case->name, path, m);
	return line[strlen(path) + 1];
}

static void check_want(const char *m, const char *w)
{
	char a[256], line[512];
	const char *b, *got;

	b = strchr(w + 2, '|');
	snprintf(a, sizeof(a), "%.*s", b ? (int)(b - (w + 2)) : (int)strlen(w + 2), w + 2);
	b = b ? b + 1 : "";
	switch (w[0]) {
	case '=':
		if (merged_type(m, a) != 'f')
			fail_msg("%s: %s is not a regular file", cur_case->name, a);
		got = merged_extra(m, a, line, sizeof(line));
		if (strcmp(got, b))
			fail_msg("%s: %s holds \"%s\", want \"%s\"", cur_case->name, a, got, b);
		break;
	case '@':
		if (merged_type(m, a) != 'l')
			fail_msg("%s: %s is not a symlink", cur_case->name, a);
		got = merged_extra(m, a, line, sizeof(line));
		if (strcmp(got, b))
			fail_msg("%s: %s -> \"%s\", want \"%s\"", cur_case->name, a, got, b);
		break;
	case 'd':
		if (merged_type(m, a) != 'd')
			fail_msg("%s: %s is not a directory", cur_case->name, a);
		break;
	case '!':
		if (merged_get(m, a, line, sizeof(line)))
			fail_msg("%s: %s should not be in the tree: %s", cur_case->name, a, line);
		break;
	case '~':
	case '#':
		if ((merged_ino(m, a) == merged_ino(m, b)) != (w[0] == '~'))
			fail_msg("%s: %s and %s: %s", cur_case->name, a, b,
				 w[0] == '~' ? "not the same file" : "the same file");
		break;
	default:
		fail_msg("bad expectation %s", w);
	}
}

static void run_case(void **state)
{
	struct fx *f = *state;
	const struct bcase *c = cur_case;
	struct layer ls[2];
	size_t n = 0;
	bool existed[ARRAY_SIZE(host_paths)];
	struct stat pw0, pw1;
	struct diag d = {};
	int r;

	if (!is_root("layer cases (mknod, chown, overlay mount)"))
		return;
	assert_int_equal(stat("/etc/passwd", &pw0), 0);
	for (size_t i = 0; i < ARRAY_SIZE(host_paths); i++)
		existed[i] = fs_exists(host_paths[i]);
	if (c->lower)
		ls[n++] = (struct layer){ c->lower, c->n_lower };
	ls[n++] = (struct layer){ c->e, c->n };
	r = unpack_stack(f, ls, n, &d);
	if (c->err) {
		if (r != c->err || !strstr(d.msg, c->msg))
			fail_msg("%s: got %d \"%s\", want %d containing \"%s\"", c->name, r,
				 d.msg, c->err, c->msg);
	} else if (r < 0) {
		fail_msg("%s: unpack: %s", c->name, diag_text(&d, r));
	}
	assert_stack_clean(f, n);
	for (size_t i = 0; i < ARRAY_SIZE(host_paths); i++)
		if (!existed[i] && fs_exists(host_paths[i]))
			fail_msg("%s: %s appeared on the host", c->name, host_paths[i]);
	assert_int_equal(stat("/etc/passwd", &pw1), 0);
	assert_true(pw0.st_ino == pw1.st_ino && pw0.st_size == pw1.st_size &&
		    pw0.st_mtim.tv_sec == pw1.st_mtim.tv_sec && pw0.st_nlink == pw1.st_nlink);
	if (c->want) {
		char *m = merged_listing(f, n);

		for (const char *const *w = c->want; *w; w++)
			check_want(m, *w);
		free(m);
	}
}

/* ---- cases that need host paths or many entries ---------------------------------------------- */

/* containerd HardlinkSymlinkChmod: a symlink (at an absolute host path name) to a 0400 host
 * file, then a 0777 hard link to it: neither host file changes, both land inside the root */
static void test_containerd_HardlinkSymlinkChmod(void **state)
{
	struct fx *f = *state;
	char perm400[192], outside[192];
	const struct ent e[] = {
		{ K_SYMLINK, outside, perm400 },
		{ K_HARDLINK, "sketchylink", outside, .mode = 0777 },
	};
	const struct layer ls[] = { { e, ARRAY_SIZE(e) } };
	struct stat st, st2;
	struct diag d = {};
	char *m;
	int r, fd;

	if (!is_root("layer cases (overlay mount)"))
		return;
	snprintf(perm400, sizeof(perm400), "%s/l0-perm400", f->parent);
	snprintf(outside, sizeof(outside), "%s/l0-also-exists-outside-root", f->parent);
	fd = open(perm400, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	assert_true(fd >= 0);
	close(fd);
	fd = open(outside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	assert_true(fd >= 0);
	close(fd);
	r = unpack_stack(f, ls, 1, &d);
	if (r < 0)
		fail_msg("unpack: %s", diag_text(&d, r));
	assert_int_equal(lstat(perm400, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(lstat(outside, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_nlink, 1);
	/* inside the root: the symlink at the host path's name, and its hard link */
	assert_true(S_ISLNK(stat_in(f, 0, outside + 1, &st)));
	assert_true(S_ISLNK(stat_in(f, 0, "sketchylink", &st2)));
	assert_int_equal(st.st_ino, st2.st_ino);
	m = merged_listing(f, 1);
	cur_case = &(struct bcase){ .name = "HardlinkSymlinkChmod" };
	{
		char w[512];

		snprintf(w, sizeof(w), "@|sketchylink|%s", perm400);
		check_want(m, w);
	}
	free(m);
	unlink(perm400);
	unlink(outside);
	assert_stack_clean(f, 1);
}

/* umoci TestUnpackEntryWhiteout: a file or a directory (with children), hidden or not, in the
 * root or deeper, whited out by the next layer: gone, and the parent's metadata (mode, owner,
 * mtime, atime) is the lower layer's */
static void test_umoci_EntryWhiteout(void **state)
{
	static const struct {
		const char *parent, *name;
		bool dir;
	} cs[] = {
		{ "", "rootpath", false },	       { "", ".hiddenroot", false },
		{ "some/path", "file", false },       { "another/path", ".hiddenfile", false },
		{ "", "rootpath", true },	       { "", ".hiddenroot", true },
		{ "some/path", "dir", true },	       { "another/path", ".hiddendir", true },
	};
	struct fx *f = *state;

	if (!is_root("whiteouts (mknod, overlay mount)"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(cs); i++) {
		char p[128], p1[128], p2[128], p3[128], p4[128], wh[128], top[64];
		struct ent l0[9] = {};
		struct ent l1[1] = {};
		size_t n = 0;
		struct layer ls[2];
		struct stat a, b;
		struct diag d = {};
		char *m;
		int r;

		snprintf(top, sizeof(top), "%.*s", (int)strcspn(cs[i].parent, "/"), cs[i].parent);
		if (*cs[i].parent) {
			l0[n++] = (struct ent){ K_DIR, top, .mode = 0751, .uid = 3, .mtime = 100 };
			l0[n++] = (struct ent){ K_DIR, cs[i].parent, .mode = 0700, .uid = 7,
						.gid = 8, .mtime = 123 };
		} else {
			l0[n++] = (struct ent){ K_DIR, "./", .mode = 0711, .mtime = 123 };
		}
		snprintf(p, sizeof(p), "%s%s%s", cs[i].parent, *cs[i].parent ? "/" : "",
			 cs[i].name);
		if (cs[i].dir) {
			snprintf(p1, sizeof(p1), "%s/file1", p);
			snprintf(p2, sizeof(p2), "%s/file2", p);
			snprintf(p3, sizeof(p3), "%s/.subdir", p);
			snprintf(p4, sizeof(p4), "%s/.subdir/file3", p);
			l0[n++] = (struct ent){ K_DIR, p };
			l0[n++] = (struct ent){ K_FILE, p1, "some value" };
			l0[n++] = (struct ent){ K_FILE, p2, "some value" };
			l0[n++] = (struct ent){ K_DIR, p3 };
			l0[n++] = (struct ent){ K_FILE, p4, "some value" };
		} else {
			l0[n++] = (struct ent){ K_FILE, p, "some value" };
		}
		snprintf(wh, sizeof(wh), "%s%s.wh.%s", cs[i].parent, *cs[i].parent ? "/" : "",
			 cs[i].name);
		l1[0] = (struct ent){ K_FILE, wh, "" };
		ls[0] = (struct layer){ l0, n };
		ls[1] = (struct layer){ l1, 1 };
		if (i > 0) {
			for (size_t k = 0; k < 2; k++) {
				char lp[192];

				layer_path(f, k, lp, sizeof(lp));
				assert_int_equal(fs_rm_rf(lp), 0);
			}
		}
		r = unpack_stack(f, ls, 2, &d);
		if (r < 0)
			fail_msg("case %zu: unpack: %s", i, diag_text(&d, r));
		/* before anything reads the directories (a read may move atime) */
		assert_true(S_ISDIR(stat_in(f, 0, *cs[i].parent ? cs[i].parent : ".", &a)));
		assert_true(S_ISDIR(stat_in(f, 1, *cs[i].parent ? cs[i].parent : ".", &b)));
		if (a.st_mode != b.st_mode || a.st_uid != b.st_uid || a.st_gid != b.st_gid ||
		    a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec ||
		    a.st_atim.tv_sec != b.st_atim.tv_sec || a.st_atim.tv_nsec != b.st_atim.tv_nsec)
			fail_msg("case %zu: the parent's metadata changed: %o %u:%u %lld/%lld, "
				 "lower %o %u:%u %lld/%lld",
				 i, b.st_mode, b.st_uid, b.st_gid, (long long)b.st_mtime,
				 (long long)b.st_atime, a.st_mode, a.st_uid, a.st_gid,
				 (long long)a.st_mtime, (long long)a.st_atime);
		assert_int_equal(a.st_mtime, 123);
		m = merged_listing(f, 2);
		assert_not_merged(m, p);
		if (cs[i].dir)
			assert_not_merged(m, p4);
		if (*cs[i].parent)
			assert_merged(m, cs[i].parent, "d 0700 7:8 123 ");
		else
			assert_merged(m, ".", "d 0711 0:0 123 ");
		free(m);
		assert_stack_clean(f, 2);
	}
}

/* umoci TestUnpackOpaqueWhiteout: entries of a lower layer and of the upper one in
 * test-subdir, then the upper layer's opaque marker for test-subdir after all its siblings:
 * the upper entries stay, the lower ones go */
struct pseudo {
	const char *path, *link;
	enum kind kind;
	bool upper;
};

struct opaque_case {
	const char *name;
	bool ignore_exist; /* lower ancestors of upper entries may stay */
	const struct pseudo *p;
	size_t n;
};

#define PS(...) (const struct pseudo[]){ __VA_ARGS__ }, ARRAY_SIZE(((const struct pseudo[]){ __VA_ARGS__ }))
#define F K_FILE
#define D K_DIR
#define L K_SYMLINK
#define BADLINK "../../../../../../../../../../../../etc/shadow"

static const struct opaque_case opaque_cases[] = {
	{ "EmptyDir", false, NULL, 0 },
	{ "OneLevel", false,
	  PS({ "file", NULL, F, false }, { "link", "..", L, true },
	     { "badlink", "./nothing", L, true }, { "fifo", NULL, K_FIFO, false }) },
	{ "OneLevelNoUpper", false,
	  PS({ "file", NULL, F, false }, { "link", "..", L, false },
	     { "badlink", "./nothing", L, false }, { "fifo", NULL, K_FIFO, false }) },
	{ "TwoLevel", false,
	  PS({ "file", NULL, F, true }, { "link", "..", L, false },
	     { "badlink", "./nothing", L, false }, { "dir", NULL, D, true },
	     { "dir/file", NULL, F, true }, { "dir/link", "../badlink", L, false },
	     { "dir/verybadlink", BADLINK, L, true }, { "dir/verybadlink2", "/" BADLINK, L, false }) },
	{ "TwoLevelNoUpper", false,
	  PS({ "file", NULL, F, false }, { "link", "..", L, false },
	     { "badlink", "./nothing", L, false }, { "dir", NULL, D, false },
	     { "dir/file", NULL, F, false }, { "dir/link", "../badlink", L, false },
	     { "dir/verybadlink", BADLINK, L, false },
	     { "dir/verybadlink2", "/" BADLINK, L, false }) },
	{ "MultiLevel", false,
	  PS({ "level1_file", NULL, F, true }, { "level1_link", "..", L, false },
	     { "level1a", NULL, D, true }, { "level1a/level2_file", NULL, F, false },
	     { "level1a/level2_link", "../../../", L, true }, { "level1a/level2a", NULL, D, false },
	     { "level1a/level2a/level3_fileA", NULL, F, false },
	     { "level1a/level2a/level3_fileB", NULL, F, false },
	     { "level1a/level2b", NULL, D, true },
	     { "level1a/level2b/level3_fileA", NULL, F, true },
	     { "level1a/level2b/level3_fileB", NULL, F, false },
	     { "level1a/level2b/level3", NULL, D, false },
	     { "level1a/level2b/level3/level4", NULL, D, false },
	     { "level1a/level2b/level3/level4", NULL, D, false },
	     { "level1a/level2b/level3_fileA", NULL, F, true }, { "level1b", NULL, D, false },
	     { "level1b/level2_fileA", NULL, F, false }, { "level1b/level2_fileB", NULL, F, false },
	     { "level1b/level2", NULL, D, false },
	     { "level1b/level2/level3_file", NULL, F, false }) },
	{ "MultiLevelNoUpper", false,
	  PS({ "level1_file", NULL, F, false }, { "level1_link", "..", L, false },
	     { "level1a", NULL, D, false }, { "level1a/level2_file", NULL, F, false },
	     { "level1a/level2_link", "../../../", L, false }, { "level1a/level2a", NULL, D, false },
	     { "level1a/level2a/level3_fileA", NULL, F, false },
	     { "level1a/level2a/level3_fileB", NULL, F, false },
	     { "level1a/level2b", NULL, D, false },
	     { "level1a/level2b/level3_fileA", NULL, F, false },
	     { "level1a/level2b/level3_fileB", NULL, F, false },
	     { "level1a/level2b/level3", NULL, D, false },
	     { "level1a/level2b/level3/level4", NULL, D, false },
	     { "level1a/level2b/level3/level4", NULL, D, false },
	     { "level1a/level2b/level3_fileA", NULL, F, false }, { "level1b", NULL, D, false },
	     { "level1b/level2_fileA", NULL, F, false }, { "level1b/level2_fileB", NULL, F, false },
	     { "level1b/level2", NULL, D, false },
	     { "level1b/level2/level3_file", NULL, F, false }) },
	{ "MissingUpperAncestor", true,
	  PS({ "some", NULL, D, false }, { "some/dir", NULL, D, false },
	     { "some/dir/somewhere", NULL, F, true }, { "another", NULL, D, false },
	     { "another/dir", NULL, D, false }, { "another/dir/somewhere", NULL, F, false }) },
	{ "UpperWhiteout", false,
	  PS({ ".wh.fileB", NULL, F, true }, { "fileA", NULL, F, true }, { "fileB", NULL, F, true },
	     { "fileC", NULL, F, false }, { ".wh.fileA", NULL, F, true },
	     { ".wh.fileC", NULL, F, true }) },
	{ "UpperDirWhiteout", false,
	  PS({ ".wh.dir2", NULL, F, true }, { "file", NULL, F, false }, { "dir1", NULL, D, true },
	     { "dir1/file", NULL, F, true }, { "dir1/link", "../badlink", L, false },
	     { "dir1/verybadlink", BADLINK, L, true },
	     { "dir1/verybadlink2", "/" BADLINK, L, false }, { ".wh.dir1", NULL, F, true },
	     { "dir2", NULL, D, true }, { "dir2/file", NULL, F, true },
	     { "dir2/link", "../badlink", L, false }) },
};

static void test_umoci_OpaqueWhiteout(void **state)
{
	struct fx *f = *state;

	if (!is_root("whiteouts (mknod, trusted xattrs, overlay mount)"))
		return;
	for (size_t c = 0; c < ARRAY_SIZE(opaque_cases); c++) {
		const struct opaque_case *oc = &opaque_cases[c];
		char paths[32][128];
		struct ent lo[33] = {}, up[33] = {};
		size_t nlo = 0, nup = 0, uppers = 0;
		struct layer ls[2];
		struct diag d = {};
		char *m;
		int r;

		lo[nlo++] = (struct ent){ K_DIR, "test-subdir" };
		for (size_t i = 0; i < oc->n; i++) {
			const struct pseudo *p = &oc->p[i];
			struct ent e = { p->kind, paths[i], p->link ? p->link : "x", .mode = 0777 };

			snprintf(paths[i], sizeof(paths[i]), "test-subdir/%s", p->path);
			if (p->kind == K_FILE && !p->link)
				e.data = p->upper ? "upper" : "lower";
			if (p->upper) {
				up[nup++] = e;
				uppers++;
			} else {
				lo[nlo++] = e;
			}
		}
		up[nup++] = (struct ent){ K_FILE, "test-subdir/.wh..wh..opq", "" };
		ls[0] = (struct layer){ lo, nlo };
		ls[1] = (struct layer){ up, nup };
		if (c > 0) {
			for (size_t k = 0; k < 2; k++) {
				char lp[192];

				layer_path(f, k, lp, sizeof(lp));
				assert_int_equal(fs_rm_rf(lp), 0);
			}
		}
		r = unpack_stack(f, ls, 2, &d);
		if (r < 0)
			fail_msg("%s: unpack: %s", oc->name, diag_text(&d, r));
		m = merged_listing(f, 2);
		assert_merged(m, "test-subdir", "d");
		for (size_t i = 0; i < oc->n; i++) {
			const struct pseudo *p = &oc->p[i];
			char line[512];
			bool there = merged_get(m, paths[i], line, sizeof(line)) != NULL;

			if (!strncmp(p->path, ".wh.", 4) || strstr(p->path, "/.wh."))
				continue; /* a whiteout entry is no file of the tree */
			if (p->upper && !there)
				fail_msg("%s: upper %s is missing:%s", oc->name, p->path, m);
			if (!p->upper && there && !oc->ignore_exist) {
				/* the upper layer may have the same name again (MultiLevel) */
				bool again = false;

				for (size_t k = 0; k < oc->n; k++)
					again |= oc->p[k].upper && !strcmp(oc->p[k].path, p->path);
				if (!again)
					fail_msg("%s: lower %s is still there: %s", oc->name, p->path,
						 line);
			}
			if (there && p->kind == K_FILE && !p->link && p->upper)
				assert_non_null(strstr(line, " upper"));
		}
		if (!uppers)
			assert_null(strstr(m, "\ntest-subdir/"));
		free(m);
		assert_stack_clean(f, 2);
	}
}

int main(void)
{
	struct CMUnitTest tests[ARRAY_SIZE(containerd) + ARRAY_SIZE(umoci) + ARRAY_SIZE(tank) + 3];
	char names[ARRAY_SIZE(tests)][96];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(containerd); i++, n++) {
		snprintf(names[n], sizeof(names[n]), "containerd_%s", containerd[i].name);
		tests[n] = (struct CMUnitTest){ names[n], run_case, case_setup, fx_teardown,
						(void *)&containerd[i] };
	}
	for (size_t i = 0; i < ARRAY_SIZE(umoci); i++, n++) {
		snprintf(names[n], sizeof(names[n]), "umoci_%s", umoci[i].name);
		tests[n] = (struct CMUnitTest){ names[n], run_case, case_setup, fx_teardown,
						(void *)&umoci[i] };
	}
	for (size_t i = 0; i < ARRAY_SIZE(tank); i++, n++) {
		snprintf(names[n], sizeof(names[n]), "tank_%s", tank[i].name);
		tests[n] = (struct CMUnitTest){ names[n], run_case, case_setup, fx_teardown,
						(void *)&tank[i] };
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
		test_containerd_HardlinkSymlinkChmod, fx_setup, fx_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(test_umoci_EntryWhiteout,
									 fx_setup, fx_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(test_umoci_OpaqueWhiteout,
									 fx_setup, fx_teardown);
	return _cmocka_run_group_tests("test_oci_unpack_cases", tests, n, NULL, NULL);
}
