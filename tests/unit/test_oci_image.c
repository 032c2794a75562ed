/* test_oci_image.c - end to end: a busybox layout built by umoci (tools/mkimage-busybox.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "oci/oci.h"

struct fx {
	char tmp[128];
	char layout[160];
	char store[160];
	char ref[200];
};

static bool have_umoci(void)
{
	return system("command -v umoci >/dev/null 2>&1") == 0;
}

/* tools/mkimage-busybox.sh: $TANK_SRCDIR, next to build/tests/, or from the cwd. */
static int find_script(char *out, size_t len)
{
	char exe[PATH_MAX] = "";
	const char *src = getenv("TANK_SRCDIR");
	ssize_t n;

	if (src) {
		snprintf(out, len, "%s/tools/mkimage-busybox.sh", src);
		if (access(out, X_OK) == 0)
			return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		/* <repo>/build/tests/test_oci_image */
		snprintf(out, len, "%s/../../tools/mkimage-busybox.sh", dirname(exe));
		if (access(out, X_OK) == 0)
			return 0;
	}
	snprintf(out, len, "tools/mkimage-busybox.sh");
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char script[PATH_MAX], cmd[PATH_MAX * 2], *out = NULL, path[200];

	snprintf(f->tmp, sizeof(f->tmp), "/tmp/test_oci_image.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->layout, sizeof(f->layout), "%s/bb", f->tmp);
	snprintf(f->store, sizeof(f->store), "%s/store", f->tmp);
	snprintf(f->ref, sizeof(f->ref), "oci:%s:1.0", f->layout);
	*state = f;
	if (!have_umoci())
		return 0;
	if (find_script(script, sizeof(script)) < 0) {
		print_error("tools/mkimage-busybox.sh not found (set TANK_SRCDIR)\n");
		fs_rm_rf(f->tmp);
		free(f);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "'%s' '%s' >'%s/out' 2>&1", script, f->layout, f->tmp);
	snprintf(path, sizeof(path), "%s/out", f->tmp);
	if (system(cmd) != 0) {
		fs_read_all(AT_FDCWD, path, 1 << 16, &out, NULL);
		print_error("%s failed:\n%s\n", script, out ? out : "");
		free(out);
		fs_rm_rf(f->tmp); /* teardown does not run when setup fails */
		free(f);
		return -1;
	}
	/* it prints the layout path last */
	assert_int_equal(fs_read_all(AT_FDCWD, path, 1 << 16, &out, NULL), 0);
	assert_non_null(strstr(out, f->layout));
	free(out);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	fs_rm_rf(f->tmp);
	free(f);
	return 0;
}

#define NEED_UMOCI()                                                                               \
	do {                                                                                       \
		if (!have_umoci()) {                                                               \
			print_message(                                                             \
				"skipping: umoci is not installed (apt-get install umoci)\n");     \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static struct oci_image *prepare_ok(const char *store, const char *ref)
{
	struct oci_image *img = NULL;
	struct diag d = {};
	int r = oci_image_prepare(store, ref, &img, &d);

	if (r < 0)
		fail_msg("prepare %s: %s", ref, diag_text(&d, r));
	return img;
}

static void assert_dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fail_msg("left over in %s: %s", path, de->d_name);
	closedir(d);
}

static void test_busybox(void **state)
{
	struct fx *f = *state;
	struct oci_image *img, *again;
	struct oci_process p = {};
	struct stat st, bb, st2;
	char path[512], target[32] = "", *buf = NULL;

	NEED_UMOCI();
	img = prepare_ok(f->store, f->ref);
	assert_int_equal(strv_length(img->layer_dirs), 1);
	assert_int_equal(strncmp(img->layer_dirs[0], f->store, strlen(f->store)), 0);

	snprintf(path, sizeof(path), "%s/bin/busybox", img->layer_dirs[0]);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(stat("/bin/busybox", &bb), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, bb.st_size);
	assert_int_equal(st.st_mode & 0111, 0111);
	snprintf(path, sizeof(path), "%s/bin/sh", img->layer_dirs[0]);
	assert_int_equal(readlink(path, target, sizeof(target) - 1), 7);
	assert_string_equal(target, "busybox");
	snprintf(path, sizeof(path), "%s/etc/passwd", img->layer_dirs[0]);
	assert_int_equal(fs_read_all(AT_FDCWD, path, 4096, &buf, NULL), 0);
	assert_string_equal(buf, "root:x:0:0:root:/root:/bin/sh\n");
	free(buf);
	snprintf(path, sizeof(path), "%s/tmp", img->layer_dirs[0]);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);

	assert_string_equal(img->config.entrypoint[0], "/bin/sh");
	assert_null(img->config.entrypoint[1]);
	assert_string_equal(img->config.cmd[0], "-c");
	assert_string_equal(img->config.cmd[1], "echo hello");
	assert_null(img->config.cmd[2]);
	assert_string_equal(img->config.env[0], "PATH=/bin");
	assert_int_equal(strncmp(img->manifest_digest, "sha256:", 7), 0);

	assert_int_equal(oci_process_merge(&img->config, NULL, NULL, NULL, NULL, &p, NULL), 0);
	assert_string_equal(p.argv[0], "/bin/sh");
	assert_string_equal(p.argv[2], "echo hello");
	assert_string_equal(p.env[0], "PATH=/bin");
	assert_null(p.env[1]);
	assert_string_equal(p.cwd, "/");
	oci_process_clear(&p);

	/* the layer is a usable root filesystem */
	if (geteuid() == 0) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "chroot '%s' /bin/sh -c 'echo hello' >'%s/chroot.out'",
			 img->layer_dirs[0], f->tmp);
		assert_int_equal(system(cmd), 0);
		snprintf(path, sizeof(path), "%s/chroot.out", f->tmp);
		assert_int_equal(fs_read_all(AT_FDCWD, path, 4096, &buf, NULL), 0);
		assert_string_equal(buf, "hello\n");
		free(buf);
	}

	/* again: the layer is reused, nothing is left in tmp; no tag = the only manifest */
	snprintf(path, sizeof(path), "oci:%s", f->layout);
	again = prepare_ok(f->store, path);
	assert_string_equal(again->layer_dirs[0], img->layer_dirs[0]);
	assert_string_equal(again->manifest_digest, img->manifest_digest);
	assert_int_equal(stat(img->layer_dirs[0], &st), 0);
	assert_int_equal(stat(again->layer_dirs[0], &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	snprintf(path, sizeof(path), "%s/tmp", f->store);
	assert_dir_empty(path);
	oci_image_free(again);
	oci_image_free(img);
}

/* Copy the layout, flip one byte in its largest (or smallest) blob, prepare into a new store. */
static void corrupt_and_check(struct fx *f, const char *name, bool largest, const char *want)
{
	char copy[200], store[200], ref[220], cmd[600], blob[400] = "";
	struct oci_image *img = NULL;
	struct diag d = {};
	off_t best = largest ? -1 : INT64_MAX;
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, r;
	unsigned char c;

	snprintf(copy, sizeof(copy), "%s/%s", f->tmp, name);
	snprintf(store, sizeof(store), "%s/store-%s", f->tmp, name);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", f->layout, copy);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/blobs/sha256", copy);
	dir = opendir(cmd);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		char p[400];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", cmd, de->d_name);
		assert_int_equal(stat(p, &st), 0);
		if (largest ? st.st_size > best : st.st_size < best) {
			best = st.st_size;
			snprintf(blob, sizeof(blob), "%s", p);
		}
	}
	closedir(dir);
	fd = open(blob, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, best / 2), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, best / 2), 1);
	close(fd);

	snprintf(ref, sizeof(ref), "oci:%s:1.0", copy);
	r = oci_image_prepare(store, ref, &img, &d);
	if (r != -EBADMSG || !strstr(d.msg, want))
		fail_msg("corrupt %s: got %d \"%s\", want -EBADMSG with \"%s\"", name, r, d.msg,
			 want);
	assert_null(img);
	snprintf(cmd, sizeof(cmd), "%s/tmp", store);
	assert_dir_empty(cmd);
	snprintf(cmd, sizeof(cmd), "%s/layers/sha256", store);
	assert_dir_empty(cmd);
}

static void test_corrupt_layer(void **state)
{
	NEED_UMOCI();
	/* the layer is the largest blob */
	corrupt_and_check(*state, "bad-layer", true, "digest mismatch (got sha256:");
}

static void test_corrupt_small_blob(void **state)
{
	NEED_UMOCI();
	/* the smallest blob is the manifest or the config: either fails the same way */
	corrupt_and_check(*state, "bad-json", false, "digest mismatch (got sha256:");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_busybox),
		T(test_corrupt_layer),
		T(test_corrupt_small_blob),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
