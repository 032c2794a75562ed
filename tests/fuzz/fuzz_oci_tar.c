/* fuzz_oci_tar.c - libFuzzer target: tar entries unpacked over a lower layer, never writing
 * outside the layer directories. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: 2 bytes (little endian) giving the length of the lower layer's tar, the lower tar,
 * then the upper tar. Both are unpacked (the upper over the lower, as for an image) into
 * <scratch>/l0 and <scratch>/l1; <scratch>/outside holds a canary. After each input the
 * scratch dir must hold l0, l1 and outside only, and the canary must be untouched.
 */
static char scratch[64], l0[96], l1[96], outside[96], canary[128];

static void cleanup(void)
{
	fs_rm_rf(scratch);
}

static void setup(void)
{
	FILE *f;

	snprintf(scratch, sizeof(scratch), "/tmp/fuzz_oci_tar.XXXXXX");
	if (!mkdtemp(scratch))
		abort();
	snprintf(l0, sizeof(l0), "%s/l0", scratch);
	snprintf(l1, sizeof(l1), "%s/l1", scratch);
	snprintf(outside, sizeof(outside), "%s/outside", scratch);
	snprintf(canary, sizeof(canary), "%s/canary", outside);
	if (mkdir(outside, 0755) < 0 || !(f = fopen(canary, "we")))
		abort();
	fputs("canary", f);
	fclose(f);
	atexit(cleanup);
}

static void unpack(const uint8_t *buf, size_t len, const char *dest, const char *lower)
{
	const char *lowers[2] = { lower, NULL };
	struct oci_unpack_opts o = {
		.blob_size = -1,
		.max_entries = 256,
		.max_bytes = 1 << 20,
		.lower_dirs = lowers,
	};
	struct archive *a = archive_read_new();

	if (!a)
		abort();
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, buf, len) == ARCHIVE_OK)
		(void)oci_layer_unpack_archive(a, dest, &o, NULL);
	archive_read_free(a);
}

/* Nothing but the layer dirs and the untouched canary. */
static void check_outside(void)
{
	DIR *dir = opendir(scratch);
	struct dirent *de;
	struct stat st;
	char buf[16] = "";
	FILE *f;

	if (!dir)
		abort();
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "l0") || !strcmp(de->d_name, "l1") ||
		    !strcmp(de->d_name, "outside"))
			continue;
		fprintf(stderr, "escape: %s/%s was created\n", scratch, de->d_name);
		abort();
	}
	closedir(dir);
	dir = opendir(outside);
	if (!dir)
		abort();
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "canary")) {
			fprintf(stderr, "escape: %s/%s was created\n", outside, de->d_name);
			abort();
		}
	closedir(dir);
	if (lstat(canary, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_mode & 07777) != 0644 || !(f = fopen(canary, "re"))) {
		fprintf(stderr, "escape: the canary was changed\n");
		abort();
	}
	if (!fgets(buf, sizeof(buf), f) || strcmp(buf, "canary") != 0) {
		fprintf(stderr, "escape: the canary was written\n");
		abort();
	}
	fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n0;

	if (!scratch[0]) {
		umask(022);
		setup();
	}
	if (size < 2)
		return 0;
	n0 = (size_t)(data[0] | data[1] << 8);
	if (n0 > size - 2)
		n0 = size - 2;
	if (mkdir(l0, 0755) < 0 || mkdir(l1, 0755) < 0)
		abort();
	unpack(data + 2, n0, l0, NULL);
	unpack(data + 2 + n0, size - 2 - n0, l1, l0);
	check_outside();
	if (fs_rm_rf(l0) < 0 || fs_rm_rf(l1) < 0)
		abort();
	return 0;
}
