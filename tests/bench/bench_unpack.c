/* bench_unpack.c - one layer blob three ways, for tests/bench/bench_pull.sh (issue 4):
 *
 *   bench_unpack inflate BLOB              raw zlib inflate loop, output discarded (the floor)
 *   bench_unpack stream BLOB               Tank's layer stream: inflate + sha256 of blob and tar
 *   bench_unpack unpack BLOB DEST [DIGEST DIFF_ID]
 *                                          Tank's unpack (oci_layer_unpack_opts) into DEST, an
 *                                          empty directory, with the checks a pull makes
 *
 * Prints one line: "<mode> in=<blob bytes> out=<tar bytes or 0> sec=<wall seconds>".
 * Exit status: 0, or 1 with "error: ..." on stderr.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "oci/oci.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Same buffer sizes as oci/stream.c, so the floor differs from Tank only by what Tank adds. */
#define IN_SIZE (64u << 10)
#define OUT_SIZE (128u << 10)

static int raw_inflate(int fd, unsigned long long *ret_in, unsigned long long *ret_out)
{
	static unsigned char in[IN_SIZE], out[OUT_SIZE];
	unsigned long long tin = 0, tout = 0;
	z_stream z = { 0 };
	int zr = Z_OK;
	ssize_t n;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -1;
	for (;;) {
		if (z.avail_in == 0) {
			n = read(fd, in, IN_SIZE);
			if (n < 0) {
				inflateEnd(&z);
				return -1;
			}
			if (n == 0)
				break;
			tin += (unsigned long long)n;
			z.next_in = in;
			z.avail_in = (uInt)n;
		}
		if (zr == Z_STREAM_END && inflateReset(&z) != Z_OK) /* next gzip member */
			break;
		z.next_out = out;
		z.avail_out = OUT_SIZE;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			fprintf(stderr, "error: inflate: %s\n", z.msg ? z.msg : zError(zr));
			inflateEnd(&z);
			return -1;
		}
		tout += OUT_SIZE - z.avail_out;
	}
	inflateEnd(&z);
	*ret_in = tin;
	*ret_out = tout;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long in = 0, out = 0;
	struct diag d = { 0 };
	struct stat st;
	double t0, t1;
	int fd, r = 0;

	if (argc < 3 || (strcmp(argv[1], "unpack") == 0 && argc != 4 && argc != 6)) {
		fprintf(stderr, "usage: bench_unpack inflate|stream BLOB | unpack BLOB DEST "
				"[DIGEST DIFF_ID]\n");
		return 2;
	}
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[2]);
		return 1;
	}
	t0 = now_s();
	if (!strcmp(argv[1], "inflate")) {
		r = raw_inflate(fd, &in, &out);
	} else if (!strcmp(argv[1], "stream")) {
		struct oci_unpack_opts o = { .blob_size = -1 };
		struct oci_layer_stream *s = NULL;
		const void *buf;
		ssize_t n = 0;

		r = oci_layer_stream_new(fd, &o, &s, &d);
		while (r >= 0 && (n = oci_layer_stream_read(s, &buf, &d)) > 0)
			out += (unsigned long long)n;
		if (r >= 0 && n < 0)
			r = (int)n;
		if (r >= 0)
			r = oci_layer_stream_finish(s, &d);
		oci_layer_stream_free(s);
		in = (unsigned long long)st.st_size;
	} else if (!strcmp(argv[1], "unpack")) {
		struct oci_unpack_opts o = {
			.blob_digest = argc == 6 ? argv[4] : NULL,
			.blob_size = argc == 6 ? (int64_t)st.st_size : -1,
			.diff_id = argc == 6 ? argv[5] : NULL,
		};

		r = oci_layer_unpack_opts(fd, argv[3], &o, &d);
		in = (unsigned long long)st.st_size;
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	t1 = now_s();
	close(fd);
	if (r < 0) {
		fprintf(stderr, "error: %s\n", diag_text(&d, r));
		return 1;
	}
	printf("%s in=%llu out=%llu sec=%.4f\n", argv[1], in, out, t1 - t0);
	return 0;
}
