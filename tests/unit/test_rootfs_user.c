/* test_rootfs_user.c - unit tests of rootfs/: user resolution, capability sets, rlimit names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "rootfs/rootfs.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "# a comment\n"
			     "broken line without fields\n"
			     "bad:x:notanumber:1::/:/bin/sh\n"
			     "app:x:1500:1500:App:/home/app:/bin/sh\n"
			     "other:x:1600:1601::/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\n"
			    "app:x:1500:\n"
			    "audio:x:29:app,other\n"
			    "video:x:44:other,app\n"
			    "staff:x:50:other\n"
			    "dup:x:29:app\n"
			    "weird:x:nan:app\n";

static void test_by_name(void **state)
{
	struct rootfs_user u;

	(void)state;
	assert_int_equal(rootfs_user_lookup(passwd, group, "app", &u, NULL), 0);
	assert_int_equal(u.uid, 1500);
	assert_int_equal(u.gid, 1500);
	assert_string_equal(u.home, "/home/app");
	/* primary first, then memberships, each once, unparsable entries skipped */
	assert_int_equal(u.n_groups, 3);
	assert_int_equal(u.groups[0], 1500);
	assert_int_equal(u.groups[1], 29);
	assert_int_equal(u.groups[2], 44);
}

static void test_numeric(void **state)
{
	struct rootfs_user u;

	(void)state;
	/* a uid in passwd gets its primary group and memberships */
	assert_int_equal(rootfs_user_lookup(passwd, group, "1600", &u, NULL), 0);
	assert_int_equal(u.uid, 1600);
	assert_int_equal(u.gid, 1601);
	assert_int_equal(u.n_groups, 4); /* 1601, audio, video, staff */
	/* one that is not needs no entry: gid 0, no home */
	assert_int_equal(rootfs_user_lookup(passwd, group, "4242", &u, NULL), 0);
	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.gid, 0);
	assert_int_equal(u.n_groups, 1);
	assert_string_equal(u.home, "");
	/* no files at all: numbers still work */
	assert_int_equal(rootfs_user_lookup(NULL, NULL, "7:8", &u, NULL), 0);
	assert_int_equal(u.uid, 7);
	assert_int_equal(u.gid, 8);
	/* empty means root */
	assert_int_equal(rootfs_user_lookup(passwd, group, "", &u, NULL), 0);
	assert_int_equal(u.uid, 0);
	assert_string_equal(u.home, "/root");
}

static void test_explicit_group(void **state)
{
	struct rootfs_user u;

	(void)state;
	/* a given group replaces the primary one and adds no memberships (podman) */
	assert_int_equal(rootfs_user_lookup(passwd, group, "app:video", &u, NULL), 0);
	assert_int_equal(u.uid, 1500);
	assert_int_equal(u.gid, 44);
	assert_int_equal(u.n_groups, 1);
	assert_int_equal(u.groups[0], 44);
	assert_int_equal(rootfs_user_lookup(passwd, group, "app:123", &u, NULL), 0);
	assert_int_equal(u.gid, 123);
}

static void test_errors(void **state)
{
	struct rootfs_user u;
	struct diag d = { 0 };

	(void)state;
	assert_int_equal(rootfs_user_lookup(passwd, group, "ghost", &u, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "no user \"ghost\" in /etc/passwd"));
	diag_clear(&d);
	assert_int_equal(rootfs_user_lookup(passwd, group, "app:nogroup", &u, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "no group \"nogroup\""));
	assert_int_equal(rootfs_user_lookup(passwd, group, "app:", &u, NULL), -EINVAL);
	assert_int_equal(rootfs_user_lookup(passwd, group, ":1", &u, NULL), -EINVAL);
	assert_int_equal(rootfs_user_lookup(NULL, NULL, "app", &u, NULL), -ENOENT);
	/* -1 (4294967295) is not an id */
	assert_int_equal(rootfs_user_lookup(NULL, NULL, "4294967295", &u, NULL), -ENOENT);
}

static void test_resolve_in_root(void **state)
{
	char dir[] = "/tmp/tank-user-test-XXXXXX", path[PATH_MAX], outside[PATH_MAX + 16],
	     link[PATH_MAX + 32];
	struct rootfs_user u;
	int rootfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/etc", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	/* /etc/passwd is a symlink out of the root to a real file: it resolves inside, to a
	 * missing file, so "app" is not found */
	snprintf(outside, sizeof(outside), "%s.passwd", dir);
	assert_int_equal(fs_write_atomic(AT_FDCWD, outside, passwd, strlen(passwd), 0644), 0);
	snprintf(link, sizeof(link), "../../../../../..%s", outside);
	snprintf(path, sizeof(path), "%s/etc/passwd", dir);
	assert_int_equal(symlink(link, path), 0);
	rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	assert_int_equal(rootfs_user_resolve(rootfd, "app", &u, NULL), -ENOENT);
	unlink(path);
	unlink(outside);
	snprintf(path, sizeof(path), "%s/etc/passwd", dir);
	assert_int_equal(fs_write_atomic(AT_FDCWD, path, passwd, strlen(passwd), 0644), 0);
	assert_int_equal(rootfs_user_resolve(rootfd, "app", &u, NULL), 0);
	assert_int_equal(u.uid, 1500);
	/* /etc/group is a FIFO: refused, never opened for a blocking read */
	snprintf(path, sizeof(path), "%s/etc/group", dir);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(rootfs_user_resolve(rootfd, "app", &u, NULL), -EINVAL);
	close(rootfd);
	fs_rm_rf(dir);
}

static void test_caps(void **state)
{
	uint64_t caps;
	struct diag d = { 0 };

	(void)state;
	assert_int_equal(rootfs_caps_compute(NULL, NULL, &caps, NULL), 0);
	assert_int_equal(caps, ROOTFS_CAPS_DEFAULT);
	assert_int_equal(caps, 0x800405fbULL);
	assert_int_equal(rootfs_caps_compute((char *[]){ "NET_RAW", "sys_admin", NULL },
					     (char *[]){ "CAP_CHOWN", NULL }, &caps, NULL),
			 0);
	assert_int_equal(caps, 0x802425faULL);
	assert_int_equal(rootfs_caps_compute((char *[]){ "NET_ADMIN", NULL },
					     (char *[]){ "ALL", NULL }, &caps, NULL),
			 0);
	assert_int_equal(caps, 1ULL << 12);
	assert_int_equal(rootfs_caps_compute((char *[]){ "ALL", NULL }, NULL, &caps, NULL), 0);
	assert_int_equal(caps, (1ULL << 41) - 1);
	assert_int_equal(rootfs_caps_compute((char *[]){ "NET_FLY", NULL }, NULL, &caps, &d),
			 -EINVAL);
	assert_non_null(strstr(d.msg, "capabilities.add[0]: unknown capability \"NET_FLY\""));
	assert_int_equal(rootfs_cap_from_name("cap_sys_chroot"), 18);
	assert_string_equal(rootfs_cap_name(31), "CAP_SETFCAP");
	assert_null(rootfs_cap_name(64));
}

static void test_rlimit_names(void **state)
{
	(void)state;
	assert_int_equal(rootfs_rlimit_from_name("nofile"), RLIMIT_NOFILE);
	assert_int_equal(rootfs_rlimit_from_name("RLIMIT_NPROC"), RLIMIT_NPROC);
	assert_int_equal(rootfs_rlimit_from_name("CORE"), RLIMIT_CORE);
	assert_int_equal(rootfs_rlimit_from_name("files"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_name),	       cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_explicit_group), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_resolve_in_root), cmocka_unit_test(test_caps),
		cmocka_unit_test(test_rlimit_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
