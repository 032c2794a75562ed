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

#endif
