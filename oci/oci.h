/* oci.h - OCI images: references, layouts on disk, verified blobs, layer store, run params. */
#ifndef TANK_OCI_H
#define TANK_OCI_H

#include "lib/lib.h"

/*
 * Mechanism only: no logging above debug. Every function returns >= 0 or -errno with detail
 * in the optional diag. Every byte read from an image is untrusted: sizes are bounded, digests
 * verified, paths resolved inside the target with openat2(RESOLVE_IN_ROOT).
 *
 * Store layout under store_dir (e.g. /var/lib/tank/images):
 *   layers/sha256/<diff_id hex>/   one unpacked layer, in overlay lowerdir form: whiteouts
 *                                  are 0:0 character devices, opaque directories carry the
 *                                  xattr trusted.overlay.opaque=y. Written to a temp dir and
 *                                  renamed into place, so a layer dir that exists is complete.
 *   tmp/                           work space for unpacking
 */

/* Limits on untrusted input. */
#define OCI_MANIFEST_MAX (4u << 20)  /* index, manifest, config bytes */
#define OCI_LAYERS_MAX 128
#define OCI_LAYER_ENTRIES_MAX 1000000
#define OCI_PATH_MAX 4096
#define OCI_UNPACKED_MAX (64ULL << 30) /* total bytes written for one layer */

/* Run parameters from the image config. All fields may be NULL. */
struct oci_image_config {
	char **entrypoint;
	char **cmd;
	char **env; /* "KEY=VALUE" */
	char *working_dir;
	char *user;
	char *stop_signal;
};

struct oci_image {
	char *ref;             /* as given */
	char *manifest_digest; /* "sha256:<hex>" */
	char *config_digest;
	char **layer_dirs;     /* absolute paths of unpacked layers, bottom (first applied) first */
	struct oci_image_config config;
};

/*
 * Make an image ready to run. Supported references:
 *   oci:/abs/layout[:tag]   an OCI image layout (index.json, blobs/sha256/); tag matched against
 *                           org.opencontainers.image.ref.name, default "latest", or the only
 *                           manifest when the index has exactly one.
 * Nested indexes and platform selection (linux/<host arch>) are followed. Every blob is checked
 * against its descriptor's digest and size; each layer is unpacked once (keyed by diff_id,
 * verified while decompressing; gzip and uncompressed tar, sniffed by magic). Safe to call
 * from several processes at once. Registry references fail with -EPROTONOSUPPORT for now.
 */
int oci_image_prepare(const char *store_dir, const char *ref, struct oci_image **ret,
		      struct diag *d);
void oci_image_free(struct oci_image *img);

/*
 * A parsed image reference. Only "oci:/abs/layout[:tag]" is supported for now: layout is an
 * absolute, normalised path; tag is NULL when none was given (selection then uses "latest" or
 * the only manifest). Registry references fail with -EPROTONOSUPPORT, anything else -EINVAL.
 */
struct oci_ref {
	char *layout;
	char *tag;
};
int oci_ref_parse(const char *ref, struct oci_ref *ret, struct diag *d);
void oci_ref_clear(struct oci_ref *r);

/* Unpack one layer blob (fd positioned at 0) into dest_dir (which must exist and be empty) in
 * overlay lowerdir form. expected_diff_id ("sha256:<hex>") may be NULL to skip the check. */
int oci_layer_unpack(int blob_fd, const char *dest_dir, const char *expected_diff_id,
		     struct diag *d);

/* What runs: argv, env, cwd. */
struct oci_process {
	char **argv;
	char **env;
	char *cwd;
};

/*
 * Merge image config and spec per DESIGN.md §4: `command` (may be NULL) replaces Entrypoint and
 * drops Cmd; `args` (may be NULL) replaces Cmd; `env` ("K=V", may be NULL) is merged over the
 * image Env (spec wins; PATH defaults to the usual value when neither sets it); `working_dir`
 * overrides the image's (default "/"). -EINVAL with a message when no argv results.
 */
int oci_process_merge(const struct oci_image_config *img, char *const *command,
		      char *const *args, char *const *env, const char *working_dir,
		      struct oci_process *ret, struct diag *d);
void oci_process_clear(struct oci_process *p);

/* ---- internal to oci/ (shared between its files; tests use them too) --------------------- */

/* "sha256:" + 64 hex + NUL */
#define OCI_DIGEST_STR_MAX 72

/* Streaming SHA-256 over OpenSSL EVP; the one digest helper of oci/. */
struct evp_md_ctx_st;
struct oci_digest {
	struct evp_md_ctx_st *ctx;
};
int oci_digest_init(struct oci_digest *h);
void oci_digest_update(struct oci_digest *h, const void *buf, size_t len);
/* Writes "sha256:<hex>" into ret (OCI_DIGEST_STR_MAX bytes); the context can be reused after
 * oci_digest_init() again. */
int oci_digest_final(struct oci_digest *h, char *ret);
void oci_digest_done(struct oci_digest *h);
#define _cleanup_digest_ _cleanup_(oci_digest_done)
/* Digest of a buffer in one call. */
int oci_digest_buf(const void *buf, size_t len, char *ret);
/* Check "sha256:<64 lowercase hex>" (which also makes it safe as a file name); *ret_hex points
 * into digest. `what` names the thing in the message ("layer 2", "manifest"). */
int oci_digest_check(const char *digest, const char *what, const char **ret_hex, struct diag *d);

/* Blobs of a layout (layout_fd: the layout directory). Resolved inside the layout, regular
 * files only. oci_blob_read reads a whole blob of at most max bytes and verifies size and
 * digest; oci_blob_open checks the size only (the caller verifies the digest while streaming). */
int oci_blob_read(int layout_fd, const char *digest, int64_t size, size_t max, const char *what,
		  char **ret_buf, size_t *ret_len, struct diag *d);
int oci_blob_open(int layout_fd, const char *digest, int64_t size, const char *what, int *ret_fd,
		  struct diag *d);

/* The manifest picked from a layout: digests and sizes, layers bottom first. */
struct oci_descriptor {
	char *media_type;
	char *digest;
	int64_t size;
};
struct oci_manifest {
	char *digest;
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	size_t n_layers;
};
/* Walk index.json (nested indexes, platform linux/<host arch>) to the manifest for `tag`
 * (NULL: "latest" or the only one) and parse it. */
int oci_layout_resolve(int layout_fd, const char *tag, struct oci_manifest *ret, struct diag *d);
void oci_manifest_clear(struct oci_manifest *m);
/* The host's OCI architecture name ("amd64", "arm64", ...). */
const char *oci_host_arch(void);

/* Parse an image config blob: run parameters and rootfs.diff_ids (must be n_layers long). */
int oci_config_parse(const char *buf, size_t len, size_t n_layers, struct oci_image_config *ret_cfg,
		     char ***ret_diff_ids, struct diag *d);
void oci_image_config_clear(struct oci_image_config *c);

/* ---- for tests (and oci_image_prepare): unpack with explicit checks and limits ---------- */
struct oci_unpack_opts {
	const char *blob_digest; /* digest of the blob as stored, NULL: not checked */
	int64_t blob_size;	 /* size of the blob as stored, -1: not checked */
	const char *diff_id;	 /* digest of the uncompressed tar, NULL: not checked */
	uint64_t max_entries;	 /* 0: OCI_LAYER_ENTRIES_MAX */
	uint64_t max_bytes;	 /* 0: OCI_UNPACKED_MAX */
	size_t max_path;	 /* 0: OCI_PATH_MAX */
};
int oci_layer_unpack_opts(int blob_fd, const char *dest_dir, const struct oci_unpack_opts *o,
			  struct diag *d);

/* The uncompressed byte stream of a layer blob: sniffs gzip/zstd/plain by magic, inflates,
 * hashes the blob and the tar, enforces the size limits. */
struct oci_layer_stream;
int oci_layer_stream_new(int blob_fd, const struct oci_unpack_opts *o,
			 struct oci_layer_stream **ret, struct diag *d);
/* Next chunk of tar bytes: > 0 bytes at *ret_buf (valid until the next call), 0 at the end. */
ssize_t oci_layer_stream_read(struct oci_layer_stream *s, const void **ret_buf, struct diag *d);
/* Read what the tar reader left, then check blob size, blob digest and diff_id. */
int oci_layer_stream_finish(struct oci_layer_stream *s, struct diag *d);
/* After a failure `err`: if the blob's digest is known and the blob does not match it, that
 * is the real cause; the diag is replaced with the digest mismatch and -EBADMSG returned. */
int oci_layer_stream_blame_blob(struct oci_layer_stream *s, int err, struct diag *d);
void oci_layer_stream_free(struct oci_layer_stream *s);

#endif
