/* test_lib_fs.c - unit tests of lib/fs.c: atomic writes, bounded reads, rm -rf, openat2 in a root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lib/lib.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/tank-fs-test-XXXXXX");

	if (!dir || !mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	char *dir = *state;

	fs_rm_rf(dir);
	free(dir);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	assert_int_equal(fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0644), 0);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_write_read(void **state)
{
	const char *dir = *state;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *buf = NULL;
	size_t len = 99;
	struct stat st;
	char path[PATH_MAX];

	/* relative to a dirfd; replaces; leaves no temp file */
	assert_true(dfd >= 0);
	assert_int_equal(fs_write_atomic(dfd, "f", "hello", 5, 0600), 0);
	assert_int_equal(fs_write_atomic(dfd, "f", "hi", 2, 0600), 0);
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(fstatat(dfd, "f", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fs_read_all(dfd, "f", 100, &buf, &len), 0);
	assert_int_equal(len, 2);
	assert_string_equal(buf, "hi");
	free(buf);

	/* an absolute path with AT_FDCWD; a path inside a subdirectory of the dirfd */
	snprintf(path, sizeof(path), "%s/abs", dir);
	write_file(path, "x");
	assert_int_equal(mkdirat(dfd, "sub", 0755), 0);
	assert_int_equal(fs_write_atomic(dfd, "sub/g", "yz", 2, 0644), 0);
	assert_int_equal(fs_read_all(dfd, "sub/g", 2, &buf, NULL), 0);
	assert_string_equal(buf, "yz");
	free(buf);

	/* an empty file reads as "" */
	assert_int_equal(fs_write_atomic(dfd, "empty", "", 0, 0644), 0);
	assert_int_equal(fs_read_all(dfd, "empty", 0, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);

	/* missing: -ENOENT; a missing directory for the write: an error, nothing left */
	buf = NULL;
	assert_int_equal(fs_read_all(dfd, "nope", 10, &buf, &len), -ENOENT);
	assert_null(buf);
	assert_int_equal(fs_write_atomic(dfd, "nodir/f", "x", 1, 0644), -ENOENT);
}

static void test_write_runtime(void **state)
{
	const char *dir = *state;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_json_ json_t *j = json_pack("{s:i}", "a", 1);
	char *buf = NULL;
	size_t len = 0;
	struct stat st;

	/* run_dir files: the same replace (mode, content, no temp file left), without fsync */
	assert_true(dfd >= 0 && j);
	assert_int_equal(fs_write_runtime(dfd, "r", "first", 5, 0644), 0);
	assert_int_equal(fs_write_runtime(dfd, "r", "2nd", 3, 0600), 0);
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(fstatat(dfd, "r", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fs_read_all(dfd, "r", 100, &buf, &len), 0);
	assert_string_equal(buf, "2nd");
	free(buf);
	assert_int_equal(json_write_runtime(dfd, "j.json", j, 0600), 0);
	assert_int_equal(fs_read_all(dfd, "j.json", 100, &buf, &len), 0);
	assert_string_equal(buf, "{\"a\":1}\n");
	free(buf);
	assert_int_equal(count_entries(dir), 2);
	assert_int_equal(fs_write_runtime(dfd, "nodir/f", "x", 1, 0644), -ENOENT);
}

static void test_read_limits(void **state)
{
	const char *dir = *state;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t big = 100000;
	char *data = malloc(big), *buf = NULL;
	size_t len = 0;

	assert_non_null(data);
	memset(data, 'a', big);
	assert_int_equal(fs_write_atomic(dfd, "big", data, big, 0644), 0);

	assert_int_equal(fs_read_all(dfd, "big", big, &buf, &len), 0);
	assert_int_equal(len, big);
	assert_int_equal(buf[big], '\0');
	free(buf);
	buf = NULL;
	assert_int_equal(fs_read_all(dfd, "big", big - 1, &buf, &len), -EFBIG);
	assert_null(buf);
	assert_int_equal(fs_read_all(dfd, "big", 10, &buf, &len), -EFBIG);
	assert_int_equal(fs_read_all(dfd, "big", 0, &buf, &len), -EFBIG);
	free(data);

	/* reads from a file that does not say its size (procfs) */
	assert_int_equal(fs_read_all(AT_FDCWD, "/proc/self/status", 1 << 20, &buf, &len), 0);
	assert_true(len > 0 && strstr(buf, "Pid:"));
	free(buf);
}

/* "no limit" must not be refused (max + 1 overflowed in fs_read_all) */
static void test_read_no_limit(void **state)
{
	const char *dir = *state;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *buf = NULL;

	assert_int_equal(fs_write_atomic(dfd, "f", "abc", 3, 0644), 0);
	assert_int_equal(fs_read_all(dfd, "f", SIZE_MAX, &buf, NULL), 0);
	assert_string_equal(buf, "abc");
	free(buf);
}

static void test_mkdir_p(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX], file[PATH_MAX + 8];
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b//c/", dir);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(fs_mkdir_p("", 0755), -EINVAL);
	/* a file in the way */
	snprintf(file, sizeof(file), "%s/a/file", dir);
	write_file(file, "x");
	strcat(file, "/d");
	assert_int_equal(fs_mkdir_p(file, 0755), -ENOTDIR);
}

static void test_rm_rf(void **state)
{
	const char *dir = *state;
	char tree[PATH_MAX], outside[PATH_MAX], p[PATH_MAX + 64];

	snprintf(outside, sizeof(outside), "%s/outside", dir);
	assert_int_equal(fs_mkdir_p(outside, 0755), 0);
	snprintf(p, sizeof(p), "%s/keep", outside);
	write_file(p, "precious");

	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(p, sizeof(p), "%s/x/y/z", tree);
	assert_int_equal(fs_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/x/y/z/f", tree);
	write_file(p, "f");
	/* symlinks to a directory and to a file outside, and a dangling one */
	snprintf(p, sizeof(p), "%s/x/dirlink", tree);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/x/y/filelink", tree);
	assert_int_equal(symlink("../../../outside/keep", p), 0);
	snprintf(p, sizeof(p), "%s/dangling", tree);
	assert_int_equal(symlink("/nonexistent/tank", p), 0);
	/* an unreadable directory is still removed (root) */
	snprintf(p, sizeof(p), "%s/x/locked", tree);
	assert_int_equal(mkdir(p, 0), 0);

	assert_int_equal(fs_rm_rf(tree), 0);
	assert_false(fs_exists(tree));
	snprintf(p, sizeof(p), "%s/keep", outside);
	assert_true(fs_exists(p));
	assert_int_equal(count_entries(outside), 1);

	/* missing is fine; a symlink as the top is removed, not followed */
	assert_int_equal(fs_rm_rf(tree), 0);
	snprintf(p, sizeof(p), "%s/toplink", dir);
	assert_int_equal(symlink(outside, p), 0);
	assert_int_equal(fs_rm_rf(p), 0);
	assert_false(fs_exists(p));
	assert_int_equal(count_entries(outside), 1);
	/* a plain file */
	snprintf(p, sizeof(p), "%s/keep", outside);
	assert_int_equal(fs_rm_rf(p), 0);
	assert_false(fs_exists(p));
}

static void test_open_in_root(void **state)
{
	const char *dir = *state;
	char root[PATH_MAX], p[PATH_MAX + 64];
	_cleanup_close_ int rfd = -1;
	int fd;

	/* host side: <dir>/secret; root side: <dir>/root/secret and <dir>/root/etc/x */
	snprintf(p, sizeof(p), "%s/secret", dir);
	write_file(p, "host");
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(p, sizeof(p), "%s/etc", root);
	assert_int_equal(fs_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/secret", root);
	write_file(p, "inside");
	snprintf(p, sizeof(p), "%s/etc/x", root);
	write_file(p, "x");
	/* links that would escape if followed on the host */
	snprintf(p, sizeof(p), "%s/etc/abs", root);
	assert_int_equal(symlink("/secret", p), 0);
	snprintf(p, sizeof(p), "%s/etc/up", root);
	assert_int_equal(symlink("../../../../../../secret", p), 0);
	snprintf(p, sizeof(p), "%s/etc/hostabs", root);
	{
		char target[PATH_MAX + 16];

		snprintf(target, sizeof(target), "%s/secret", dir);
		assert_int_equal(symlink(target, p), 0);
	}
	snprintf(p, sizeof(p), "%s/etc/magic", root);
	assert_int_equal(symlink("/proc/self/root/etc/hostname", p), 0);

	rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(rfd >= 0);

#define READ_IN_ROOT(path, want)                                                                   \
	do {                                                                                       \
		char tmp[32] = "";                                                                 \
		ssize_t n;                                                                         \
		fd = fs_open_in_root(rfd, path, O_RDONLY, 0);                                      \
		assert_true(fd >= 0);                                                              \
		n = read(fd, tmp, sizeof(tmp) - 1);                                                \
		assert_true(n >= 0);                                                               \
		tmp[n] = '\0';                                                                     \
		assert_string_equal(tmp, want);                                                    \
		close(fd);                                                                         \
	} while (0)

	READ_IN_ROOT("etc/x", "x");
	READ_IN_ROOT("/etc/x", "x");
	READ_IN_ROOT("../../../secret", "inside");
	READ_IN_ROOT("/../secret", "inside");
	READ_IN_ROOT("etc/abs", "inside");
	READ_IN_ROOT("etc/up", "inside");
	/* a link to the host path of the secret resolves inside the root: not there */
	assert_int_equal(fs_open_in_root(rfd, "etc/hostabs", O_RDONLY, 0), -ENOENT);
	/* magic links are refused */
	fd = fs_open_in_root(rfd, "etc/magic", O_RDONLY, 0);
	assert_true(fd == -ELOOP || fd == -ENOENT || fd == -EXDEV);

	/* creating inside the root through an escaping path lands inside */
	fd = fs_open_in_root(rfd, "../new", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/new", root);
	assert_true(fs_exists(p));
	snprintf(p, sizeof(p), "%s/new", dir);
	assert_false(fs_exists(p));
	/* the fd is O_CLOEXEC */
	fd = fs_open_in_root(rfd, "etc/x", O_RDONLY, 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

/* A directory opened with a mode: openat2 rejects a mode without O_CREAT/O_TMPFILE, and
 * O_TMPFILE contains the O_DIRECTORY bit. */
static void test_open_in_root_directory(void **state)
{
	const char *dir = *state;
	_cleanup_close_ int rfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd;

	assert_int_equal(mkdirat(rfd, "d", 0755), 0);
	fd = fs_open_in_root(rfd, "d", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	close(fd);
	fd = fs_open_in_root(rfd, "d", O_RDONLY | O_DIRECTORY, 0755);
	assert_true(fd >= 0);
	close(fd);
}

static void test_write_str_exists(void **state)
{
	const char *dir = *state;
	char p[PATH_MAX + 16], *buf = NULL;

	snprintf(p, sizeof(p), "%s/s", dir);
	assert_int_equal(fs_write_str(p, "x"), -ENOENT); /* must exist */
	write_file(p, "old");
	assert_int_equal(fs_write_str(p, "new"), 0);
	assert_int_equal(fs_read_all(AT_FDCWD, p, 10, &buf, NULL), 0);
	assert_string_equal(buf, "new");
	free(buf);
	assert_true(fs_exists(p));
	assert_true(fs_exists(dir));
	snprintf(p, sizeof(p), "%s/none", dir);
	assert_false(fs_exists(p));

	buf = strdup_printf("%s-%d", "a", 7);
	assert_string_equal(buf, "a-7");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_no_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_rf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_in_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_in_root_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_str_exists, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
