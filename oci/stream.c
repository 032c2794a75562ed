/* stream.c - a layer blob as a stream of tar bytes: magic sniffing, gzip, zstd, digests,
 * limits. */
#include <pthread.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "oci/oci.h"

#define IN_SIZE (64u << 10)
#define OUT_SIZE (128u << 10)
#define PIPE_BUFS 4
#define PIPE_BUF_SIZE (256u << 10)

/*
 * Compressed layers are inflated on a thread of their own (the producer) while the caller's
 * thread hashes the tar and writes the files: a ring of PIPE_BUFS buffers between them.
 * The producer owns the decompressor, the blob reads and the blob digest until it is joined;
 * the consumer owns the tar digest. The producer's failure travels in `err` and `d` and is
 * reported after the bytes it produced before it.
 */
struct pipeline {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *bufs[PIPE_BUFS];
	size_t lens[PIPE_BUFS];
	size_t head, count; /* filled buffers: head .. head+count-1 (mod PIPE_BUFS) */
	bool held;	    /* the consumer reads the buffer at head */
	bool done, stop;
	int err;
	struct diag d;
};

enum stream_kind { LS_PLAIN, LS_GZIP, LS_ZSTD };

struct oci_layer_stream {
	int fd;
	enum stream_kind kind;
	z_stream z;
	bool z_ready;	      /* inflateInit2 done */
	bool z_end;	      /* the current gzip member ended */
	bool in_eof;	      /* read() returned 0 */
	bool blob_final;      /* blob_h was finalised */
	int err;	      /* sticky failure */
	size_t plain_pending; /* LS_PLAIN, LS_ZSTD: sniffed bytes in `in` not handed out yet */
	struct archive *za;   /* LS_ZSTD: libarchive's zstd filter over the raw format */
	bool za_open;	      /* its one (raw) entry header was read */
	struct diag *za_d;    /* the diag of the read going on, for the blob callback */
	unsigned char *outp;  /* where gzip and zstd write: out, or a pipeline buffer */
	size_t out_cap;
	struct pipeline *pipe; /* NULL: no producer thread (plain tar, or it ended) */
	int pipe_err;	       /* the producer's failure, once the consumer reached it */
	struct oci_digest blob_h, tar_h;
	uint64_t blob_bytes, tar_bytes, max_tar;
	const char *blob_digest, *diff_id;
	int64_t blob_size;
	unsigned char in[IN_SIZE];
	unsigned char out[OUT_SIZE];
};

static int stream_fail(struct oci_layer_stream *s, struct diag *d, int err, const char *fmt, ...)
	_printf_(4, 5);
static void pipe_start(struct oci_layer_stream *s);
static void pipe_stop(struct oci_layer_stream *s);

static int stream_fail(struct oci_layer_stream *s, struct diag *d, int err, const char *fmt, ...)
{
	char msg[sizeof(d->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!s->err)
		s->err = err;
	return diag_fail(d, err, "%s", msg);
}

/* Read more blob bytes into `in` (from offset off); hashes them. Returns bytes, 0 at EOF. */
static ssize_t fill(struct oci_layer_stream *s, size_t off, struct diag *d)
{
	ssize_t n;

	do
		n = read(s->fd, s->in + off, IN_SIZE - off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return stream_fail(s, d, -errno, "reading the layer blob: %s", strerror(errno));
	if (n == 0) {
		s->in_eof = true;
		return 0;
	}
	s->blob_bytes += (uint64_t)n;
	if (s->blob_size >= 0 && s->blob_bytes > (uint64_t)s->blob_size)
		return stream_fail(s, d, -EBADMSG,
				   "blob is larger than its descriptor's size of %lld bytes: the "
				   "image layout is corrupt; re-create or re-copy it",
				   (long long)s->blob_size);
	oci_digest_update(&s->blob_h, s->in + off, (size_t)n);
	return n;
}

/* Count and hash tar bytes handed to the reader. */
static int account(struct oci_layer_stream *s, const void *buf, size_t n, struct diag *d)
{
	s->tar_bytes += n;
	if (s->tar_bytes > s->max_tar)
		return stream_fail(s, d, -EFBIG,
				   "layer expands to more than %llu bytes (a decompression bomb?); "
				   "refusing to unpack it",
				   (unsigned long long)s->max_tar);
	if (!s->pipe) /* else the consumer hashes what it takes */
		oci_digest_update(&s->tar_h, buf, n);
	return 0;
}

void oci_layer_stream_free(struct oci_layer_stream *s)
{
	if (!s)
		return;
	pipe_stop(s);
	if (s->z_ready)
		inflateEnd(&s->z);
	if (s->za)
		archive_read_free(s->za);
	oci_digest_done(&s->blob_h);
	oci_digest_done(&s->tar_h);
	free(s);
}

static void streamp_free(struct oci_layer_stream **s)
{
	oci_layer_stream_free(*s);
}

/* libarchive pulls blob bytes: the sniffed ones first, then the rest (hashed by fill). */
static la_ssize_t zstd_read_cb(struct archive *a, void *data, const void **buf)
{
	struct oci_layer_stream *s = data;
	ssize_t n;

	*buf = s->in;
	if (s->plain_pending) {
		n = (ssize_t)s->plain_pending;
		s->plain_pending = 0;
		return n;
	}
	if (s->in_eof)
		return 0;
	n = fill(s, 0, s->za_d);
	if (n < 0) {
		archive_set_error(a, (int)-n, "reading the layer blob failed");
		return -1;
	}
	return n;
}

/* zstd through libarchive's filter (libzstd): the raw format hands out the decompressed
 * bytes of its single entry. */
static int zstd_open(struct oci_layer_stream *s, struct diag *d)
{
	s->za = archive_read_new();
	if (!s->za)
		return -ENOMEM;
	if (archive_read_support_filter_zstd(s->za) != ARCHIVE_OK)
		return diag_fail(d, -ENOTSUP,
				 "this libarchive cannot decompress zstd itself (built without "
				 "libzstd); re-create the image with gzip layers");
	if (archive_read_support_format_raw(s->za) != ARCHIVE_OK)
		return diag_fail(d, -ENOTSUP, "libarchive: no raw format");
	return 0;
}

int oci_layer_stream_new(int blob_fd, const struct oci_unpack_opts *o,
			 struct oci_layer_stream **ret, struct diag *d)
{
	_cleanup_(streamp_free) struct oci_layer_stream *s = calloc(1, sizeof(*s));
	uint64_t max_bytes = o->max_bytes ? o->max_bytes : OCI_UNPACKED_MAX;
	uint64_t max_entries = o->max_entries ? o->max_entries : OCI_LAYER_ENTRIES_MAX;
	size_t have = 0;
	int r;

	if (!s)
		return -ENOMEM;
	s->fd = blob_fd;
	s->outp = s->out;
	s->out_cap = OUT_SIZE;
	s->blob_digest = o->blob_digest;
	s->blob_size = o->blob_size;
	s->diff_id = o->diff_id;
	/* file bytes plus tar headers, pax records and padding: at most ~2 KiB per entry */
	if (__builtin_mul_overflow(max_entries, 2048, &s->max_tar) ||
	    __builtin_add_overflow(s->max_tar, max_bytes + (1u << 20), &s->max_tar))
		s->max_tar = UINT64_MAX;
	if ((r = oci_digest_init(&s->blob_h)) < 0 || (r = oci_digest_init(&s->tar_h)) < 0)
		return diag_fail(d, r, "initialising sha256 failed");

	/* sniff the magic: gather up to 4 bytes */
	while (have < 4 && !s->in_eof) {
		ssize_t n = fill(s, have, d);

		if (n < 0)
			return (int)n;
		have += (size_t)n;
	}
	/* the magic decides, whatever the media type says (registries mislabel layers) */
	if (have >= 4 && memcmp(s->in, "\x28\xb5\x2f\xfd", 4) == 0) {
		s->kind = LS_ZSTD;
		s->plain_pending = have;
		r = zstd_open(s, d);
		if (r < 0)
			return r;
	} else if (have >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
		s->kind = LS_GZIP;
		if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
			return diag_fail(d, -ENOMEM, "initialising zlib failed");
		s->z_ready = true;
		s->z.next_in = s->in;
		s->z.avail_in = (uInt)have;
	} else {
		s->kind = LS_PLAIN;
		s->plain_pending = have;
	}
	if (s->kind != LS_PLAIN)
		pipe_start(s);
	*ret = TAKE_PTR(s);
	return 0;
}

static ssize_t read_plain(struct oci_layer_stream *s, const void **ret_buf, struct diag *d)
{
	ssize_t n;

	if (s->plain_pending) {
		n = (ssize_t)s->plain_pending;
		s->plain_pending = 0;
	} else {
		if (s->in_eof)
			return 0;
		n = fill(s, 0, d);
		if (n <= 0)
			return n;
	}
	if (account(s, s->in, (size_t)n, d) < 0)
		return s->err;
	*ret_buf = s->in;
	return n;
}

static ssize_t read_gzip(struct oci_layer_stream *s, const void **ret_buf, struct diag *d)
{
	for (;;) {
		size_t produced;
		int zr;

		if (s->z.avail_in == 0 && !s->in_eof) {
			ssize_t n = fill(s, 0, d);

			if (n < 0)
				return n;
			s->z.next_in = s->in;
			s->z.avail_in = (uInt)n;
			continue;
		}
		if (s->z_end) {
			if (s->z.avail_in == 0)
				return 0; /* and in_eof: the blob is consumed */
			/* another gzip member follows (pigz and friends write several) */
			if (inflateReset(&s->z) != Z_OK)
				return stream_fail(s, d, -EIO, "zlib reset failed");
			s->z_end = false;
		}
		if (s->z.avail_in == 0)
			return stream_fail(s, d, -EBADMSG,
					   "gzip stream is truncated: the image layout is corrupt; "
					   "re-create or re-copy it");
		s->z.next_out = s->outp;
		s->z.avail_out = (uInt)s->out_cap;
		zr = inflate(&s->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			s->z_end = true;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return stream_fail(s, d, -EBADMSG,
					   "gzip data is corrupt (%s): the image layout is "
					   "corrupt; re-create or re-copy it",
					   s->z.msg ? s->z.msg : zError(zr));
		produced = s->out_cap - s->z.avail_out;
		if (!produced && zr == Z_BUF_ERROR && s->z.avail_in > 0)
			return stream_fail(s, d, -EBADMSG, "gzip data is corrupt (no progress)");
		if (produced) {
			if (account(s, s->outp, produced, d) < 0)
				return s->err;
			*ret_buf = s->outp;
			return (ssize_t)produced;
		}
	}
}

static int zstd_fail(struct oci_layer_stream *s, struct diag *d)
{
	const char *why = archive_error_string(s->za);

	if (s->err)
		return s->err; /* reading the blob failed; fill() said why */
	return stream_fail(s, d, -EBADMSG,
			   "zstd data is corrupt (%s): the image layout is corrupt; re-create or "
			   "re-copy it",
			   why ? why : "unknown error");
}

static ssize_t read_zstd(struct oci_layer_stream *s, const void **ret_buf, struct diag *d)
{
	struct archive_entry *e;
	la_ssize_t n;

	s->za_d = d;
	if (!s->za_open) {
		if (archive_read_open(s->za, s, NULL, zstd_read_cb, NULL) != ARCHIVE_OK ||
		    archive_read_next_header(s->za, &e) != ARCHIVE_OK)
			return zstd_fail(s, d);
		s->za_open = true;
	}
	n = archive_read_data(s->za, s->outp, s->out_cap);
	if (n < 0)
		return zstd_fail(s, d);
	if (n == 0)
		return 0;
	if (account(s, s->outp, (size_t)n, d) < 0)
		return s->err;
	*ret_buf = s->outp;
	return n;
}

static ssize_t read_direct(struct oci_layer_stream *s, const void **ret_buf, struct diag *d)
{
	if (s->err)
		return s->err;
	switch (s->kind) {
	case LS_GZIP:
		return read_gzip(s, ret_buf, d);
	case LS_ZSTD:
		return read_zstd(s, ret_buf, d);
	default:
		return read_plain(s, ret_buf, d);
	}
}

/* The producer: fill free buffers with inflated bytes until the end, a failure or stop. */
static void *pipe_produce(void *arg)
{
	struct oci_layer_stream *s = arg;
	struct pipeline *p = s->pipe;

	for (;;) {
		bool end = false;
		size_t slot, len = 0;
		int err = 0;

		pthread_mutex_lock(&p->mu);
		while (p->count == PIPE_BUFS && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		slot = (p->head + p->count) % PIPE_BUFS;
		end = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (end)
			return NULL;
		while (len < PIPE_BUF_SIZE) {
			const void *out;
			ssize_t n;

			s->outp = p->bufs[slot] + len;
			s->out_cap = PIPE_BUF_SIZE - len;
			n = read_direct(s, &out, &p->d);
			if (n <= 0) {
				err = (int)n;
				end = true;
				break;
			}
			len += (size_t)n; /* gzip and zstd write at outp */
		}
		pthread_mutex_lock(&p->mu);
		if (len) {
			p->lens[slot] = len;
			p->count++;
		}
		if (end) {
			p->err = err;
			p->done = true;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (end)
			return NULL;
	}
}

/* Stop and join the producer (if any); the stream is single-threaded again. */
static void pipe_stop(struct oci_layer_stream *s)
{
	struct pipeline *p = s->pipe;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	for (size_t i = 0; i < PIPE_BUFS; i++)
		free(p->bufs[i]);
	free(p);
	s->pipe = NULL;
	s->outp = s->out;
	s->out_cap = OUT_SIZE;
}

/* Start the producer; without one (no memory, no thread) the stream works on the caller's
 * thread as for plain tar. */
static void pipe_start(struct oci_layer_stream *s)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return;
	for (size_t i = 0; i < PIPE_BUFS; i++)
		if (!(p->bufs[i] = malloc(PIPE_BUF_SIZE)))
			goto fail;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		goto fail;
	}
	s->pipe = p;
	if (pthread_create(&p->thread, NULL, pipe_produce, s) == 0)
		return;
	s->pipe = NULL;
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
fail:
	for (size_t i = 0; i < PIPE_BUFS; i++)
		free(p->bufs[i]);
	free(p);
}

static ssize_t pipe_read(struct oci_layer_stream *s, const void **ret_buf, struct diag *d)
{
	struct pipeline *p = s->pipe;
	unsigned char *buf;
	size_t len;
	int err;

	pthread_mutex_lock(&p->mu);
	if (p->held) { /* the caller is done with the last buffer */
		p->held = false;
		p->head = (p->head + 1) % PIPE_BUFS;
		p->count--;
		pthread_cond_broadcast(&p->cv);
	}
	while (!p->count && !p->done)
		pthread_cond_wait(&p->cv, &p->mu);
	if (!p->count) {
		err = p->err;
		pthread_mutex_unlock(&p->mu);
		if (err) {
			diag_fail(d, err, "%s", p->d.msg);
			s->pipe_err = err;
		}
		pipe_stop(s);
		return err;
	}
	buf = p->bufs[p->head];
	len = p->lens[p->head];
	p->held = true;
	pthread_mutex_unlock(&p->mu);
	oci_digest_update(&s->tar_h, buf, len);
	*ret_buf = buf;
	return (ssize_t)len;
}

ssize_t oci_layer_stream_read(struct oci_layer_stream *s, const void **ret_buf, struct diag *d)
{
	if (s->pipe)
		return pipe_read(s, ret_buf, d);
	if (s->pipe_err)
		return s->pipe_err;
	return read_direct(s, ret_buf, d);
}

int oci_layer_stream_finish(struct oci_layer_stream *s, struct diag *d)
{
	char got[OCI_DIGEST_STR_MAX];
	const void *buf;
	ssize_t n;
	int r;

	/* the tar reader stops at the end-of-archive blocks; the digests cover every byte */
	while ((n = oci_layer_stream_read(s, &buf, d)) > 0)
		;
	if (n < 0)
		return (int)n;
	if (s->blob_size >= 0 && s->blob_bytes != (uint64_t)s->blob_size)
		return stream_fail(s, d, -EBADMSG,
				   "blob has %llu bytes but its descriptor says %lld: the image "
				   "layout is corrupt; re-create or re-copy it",
				   (unsigned long long)s->blob_bytes, (long long)s->blob_size);
	if (s->blob_digest) {
		s->blob_final = true;
		r = oci_digest_final(&s->blob_h, got);
		if (r < 0)
			return stream_fail(s, d, r, "computing sha256 failed");
		if (strcmp(got, s->blob_digest) != 0)
			return stream_fail(s, d, -EBADMSG,
					   "digest mismatch (got %s): the image layout is "
					   "corrupt; re-create or re-copy it",
					   got);
	}
	if (s->diff_id) {
		r = oci_digest_final(&s->tar_h, got);
		if (r < 0)
			return stream_fail(s, d, r, "computing sha256 failed");
		if (strcmp(got, s->diff_id) != 0)
			return stream_fail(s, d, -EBADMSG,
					   "uncompressed content does not match diff_id %s (got "
					   "%s): the image is corrupt; re-create it",
					   s->diff_id, got);
	}
	return 0;
}

int oci_layer_stream_blame_blob(struct oci_layer_stream *s, int err, struct diag *d)
{
	char got[OCI_DIGEST_STR_MAX];
	ssize_t n;

	pipe_stop(s);
	if (!s->blob_digest || s->blob_final)
		return err;
	/* hash the rest of the blob as stored; a corrupt blob explains any failure above */
	while (!s->in_eof) {
		n = fill(s, 0, NULL);
		if (n < 0)
			return err;
	}
	s->blob_final = true;
	if (oci_digest_final(&s->blob_h, got) < 0 || strcmp(got, s->blob_digest) == 0)
		return err;
	diag_clear(d);
	return diag_fail(d, -EBADMSG,
			 "digest mismatch (got %s): the image layout is corrupt; re-create or "
			 "re-copy it",
			 got);
}
