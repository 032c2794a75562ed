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
 *   layers/sha256/<chain_id hex>/  one unpacked layer, in overlay lowerdir form: whiteouts
 *                                  are 0:0 character devices, opaque directories carry the
 *                                  xattr trusted.overlay.opaque=y. Layer N is unpacked over a
 *                                  read-only view of layers 0..N-1 (parents it does not list
 *                                  are copies of theirs, paths follow their symlinks inside
 *                                  the root, hard links to their files copy those up), so its
 *                                  content depends on what is below: the key is the OCI
 *                                  chain id (ChainID(L0) = DiffID(L0), ChainID(Ln) =
 *                                  sha256(ChainID(Ln-1) + " " + DiffID(Ln))). The image's
 *                                  rootfs is the overlay of these dirs, layer 0 lowest. Written
 *                                  to a temp dir and renamed into place, so a layer dir that
 *                                  exists is complete.
 *   tmp/                           work space for unpacking and partial blob downloads
 *   blobs/sha256/<hex>             content store: manifests, configs and layer blobs pulled
 *                                  from registries, each verified and written atomically
 *   refs/<encoded ref>.json        reference -> digest records of pulled images
 *   locks/                         flock files: one per digest being downloaded, and
 *                                  store.lock (shared by pulls, exclusive for pruning)
 */

/* Limits on untrusted input. */
#define OCI_MANIFEST_MAX (4u << 20)  /* index, manifest, config bytes */
#define OCI_LAYERS_MAX 128
#define OCI_LAYER_ENTRIES_MAX 1000000
#define OCI_PATH_MAX 4096
#define OCI_UNPACKED_MAX (16ULL << 30)	     /* file bytes written for one layer */
#define OCI_IMAGE_UNPACKED_MAX (16ULL << 30) /* ... for all layers of one image (default) */

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
	uint64_t unpacked;     /* file bytes this call unpacked (layers already there: 0) */
};

/*
 * Make an image ready to run. Supported references:
 *   oci:/abs/layout[:tag]   an OCI image layout (index.json, blobs/sha256/); tag matched against
 *                           org.opencontainers.image.ref.name, default "latest", or the only
 *                           manifest when the index has exactly one.
 * Nested indexes and platform selection (linux/<host arch>) are followed. Every blob is checked
 * against its descriptor's digest and size; each layer is unpacked once (keyed by chain id,
 * its diff_id verified while decompressing; gzip, zstd and uncompressed tar, sniffed by magic
 * whatever the media type says). Safe to call from several processes at once.
 *   [registry/]repo[:tag][@digest]  pulled from a registry with the default options of
 *                           oci_image_prepare_opts() (policy if_not_present).
 */
int oci_image_prepare(const char *store_dir, const char *ref, struct oci_image **ret,
		      struct diag *d);
void oci_image_free(struct oci_image *img);

/*
 * A parsed image reference.
 *  "oci:/abs/layout[:tag]": layout is an absolute, normalised path; tag is NULL when none was
 *      given (selection then uses "latest" or the only manifest); registry fields are NULL.
 *  "[registry/]repo[:tag][@digest]": Docker Hub defaults ("busybox" is
 *      docker.io/library/busybox:latest); layout is NULL; tag is "latest" when neither a tag
 *      nor a digest is given, and is informational when a digest is (the digest is pulled).
 * Anything else is -EINVAL (-EOPNOTSUPP for a digest algorithm other than sha256).
 */
struct oci_ref {
	char *layout;
	char *tag;
	char *registry;	  /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
	char *repository; /* "library/busybox" */
	char *digest;	  /* "sha256:<hex>" or NULL */
};
int oci_ref_parse(const char *ref, struct oci_ref *ret, struct diag *d);
/* Whether the first component p[0..n) of a name is a registry host ("localhost", or with a
 * '.', a ':' or an upper-case letter), as the reference grammar says. */
bool oci_ref_names_registry(const char *p, size_t n);
void oci_ref_clear(struct oci_ref *r);
/* "docker.io/library/busybox:latest", "host:5000/a@sha256:...", "oci:/dir[:tag]"; NULL on
 * ENOMEM. */
char *oci_ref_canonical(const struct oci_ref *r);
/* The host the registry API is served from ("registry-1.docker.io" for "docker.io"). */
const char *oci_ref_api_host(const char *registry);

/* ---- registry pulls ------------------------------------------------------------------------ */

enum oci_pull_policy {
	OCI_PULL_IF_NOT_PRESENT, /* default: use the local store when it has the image */
	OCI_PULL_ALWAYS,	 /* ask the registry for the manifest each time; reuse blobs */
	OCI_PULL_NEVER,		 /* offline: only the local store */
};

/* Per-registry settings (tankd's config). An array of these ends with an entry whose host is
 * NULL. Loopback hosts (localhost, 127.0.0.0/8, [::1]) may always use plain HTTP. */
struct oci_registry_config {
	const char *host;	    /* as in references: "registry.lan:5000", "docker.io" */
	bool insecure_http;	    /* plain HTTP allowed (HTTPS is tried first) */
	const char *ca_file;	    /* PEM bundle that verifies the registry's certificate */
	const char *const *mirrors; /* NULL-terminated hosts tried first, in order; a mirror's
				       own settings are looked up in the same array */
};

enum oci_progress_phase {
	OCI_PROGRESS_DOWNLOADING, /* bytes of a blob arriving (done/total) */
	OCI_PROGRESS_VERIFYING,	  /* a blob is complete; its digest is being checked */
	OCI_PROGRESS_UNPACKING,	  /* a layer is being unpacked */
	OCI_PROGRESS_DONE,	  /* a layer is ready (also: was already there); digest NULL: the
				     whole image is ready */
	OCI_PROGRESS_WARNING,	  /* a registry Warning header: message */
};

struct oci_progress {
	enum oci_progress_phase phase;
	const char *digest;    /* the layer blob, or NULL */
	uint64_t done, total;  /* bytes of that blob */
	uint64_t download_ms;  /* time spent downloading so far in this call */
	uint64_t unpack_ms;    /* time spent unpacking so far in this call */
	const char *message;   /* OCI_PROGRESS_WARNING only */
};
/* Called on the caller's thread, from inside oci_image_prepare_opts(). */
typedef void (*oci_progress_fn)(const struct oci_progress *ev, void *data);

struct oci_pull_opts {
	enum oci_pull_policy policy;
	const struct oci_registry_config *registries; /* may be NULL */
	const char *auth_file;	  /* docker config.json format; NULL: /etc/tank/auth.json,
				     then ~/.docker/config.json */
	oci_progress_fn progress; /* may be NULL */
	void *progress_data;
	unsigned max_parallel;	  /* blobs downloaded at once; 0: 3 */
	const char *platform;	  /* "os/arch[/variant]"; NULL: linux/<host arch> */
	uint64_t max_unpacked;	  /* file bytes the layers of the image may write together (a
				     bound on decompression bombs); 0: OCI_IMAGE_UNPACKED_MAX */
};

/*
 * oci_image_prepare() with options. Registry pulls: GET /v2/ probe, Bearer or Basic auth
 * (credentials from the auth file), mirrors first, manifests verified (by digest) or digested
 * (by tag), blobs downloaded in parallel into the content store, each checked against its
 * size and sha256 (a mismatch discards the blob and fails the pull), interrupted downloads
 * resumed, transient failures retried with backoff; then layers unpacked once as for layouts
 * and the tag -> digest record written. Errors: -ENOENT (no such image or not in the store
 * with policy never), -EACCES (authentication), -EBADMSG (digest or size mismatch), -EIO and
 * friends for the network, -EPROTONOSUPPORT (schema1), with the registry's message in d.
 */
int oci_image_prepare_opts(const char *store_dir, const char *ref, const struct oci_pull_opts *o,
			   struct oci_image **ret, struct diag *d);

/* ---- importing a layout ------------------------------------------------------------------ */

#define OCI_IMPORT_ENTRIES_MAX 100000u	    /* tar entries */
#define OCI_IMPORT_BYTES_MAX (64ULL << 30) /* blob bytes copied from one layout or tar */
#define OCI_IMPORT_MANIFESTS_MAX 128u	    /* images listed by one index.json */

struct oci_import_result {
	char *ref;	       /* canonical reference recorded */
	char *manifest_digest; /* the image manifest chosen for this machine */
	size_t layers;
	uint64_t size; /* config and layer blobs */
};
/*
 * Import an OCI image layout: a directory, or a tar of one (plain, gzip or zstd: what
 * `skopeo copy ... oci-archive:FILE` and `podman save --format oci-archive` write). Every
 * manifest index.json lists (only_tag, may be NULL: only the one whose
 * org.opencontainers.image.ref.name is that) is resolved for this machine as in pulls, its
 * blobs are copied into the content store (verified; from a tar straight out of the archive,
 * which is never extracted: only "index.json" and "blobs/sha256/<hex>" entries are read), its
 * layers unpacked, and a reference record written, so it is listed, usable with pull policy
 * never and kept by pruning. The reference is the manifest's io.containerd.image.name or
 * org.opencontainers.image.ref.name annotation named as `podman load` does: a name without a
 * registry part gets "localhost/", one without a tag ":latest" ("busybox:1.0" is
 * localhost/busybox:1.0). name (may be NULL) names an unnamed image, or adds a reference, when
 * exactly one image is imported. *ret: *ret_n results (free with oci_import_results_free).
 */
int oci_image_import(const char *store_dir, const char *path, const char *only_tag,
		     const char *name, const struct oci_pull_opts *o,
		     struct oci_import_result **ret, size_t *ret_n, struct diag *d);
void oci_import_results_free(struct oci_import_result *v, size_t n);
/* The canonical reference an imported image gets for a name (see above); NULL on error. */
char *oci_import_name(const char *name, struct diag *d);

/* ---- the local image store ----------------------------------------------------------------- */

struct oci_store_image {
	char *ref;		/* canonical: "docker.io/library/busybox:latest" */
	char *digest;		/* what the reference resolved to (index or manifest) */
	char *manifest_digest;	/* the image manifest chosen for this machine */
	char *config_digest;
	uint64_t size;		/* config and layer blobs, as downloaded */
	uint64_t pulled_ms;	/* wall clock */
};
/* Images with a reference record, sorted by reference. */
int oci_store_list_images(const char *store_dir, struct oci_store_image **ret, size_t *ret_n,
			  struct diag *d);
void oci_store_images_free(struct oci_store_image *v, size_t n);
/* Forget a reference (normalised as for a pull: "busybox" is docker.io/library/busybox:latest).
 * Blobs and layers stay until oci_store_prune(). -ENOENT when the store has no such ref. */
int oci_store_remove_image(const char *store_dir, const char *ref, struct diag *d);

struct oci_prune_stats {
	size_t blobs, layers; /* removed */
	uint64_t bytes;	      /* blob bytes removed (unpacked layers are not counted) */
};
/*
 * Remove every blob and unpacked layer that neither a reference record nor one of
 * in_use_digests (NULL-terminated; manifest, index or config digests of images pods use, e.g.
 * oci_image.manifest_digest) reaches, plus leftovers in tmp/ and locks/. Fails without removing
 * anything if what is in use cannot be fully read. -EBUSY while a pull holds the store.
 * ret may be NULL.
 */
int oci_store_prune(const char *store_dir, const char *const *in_use_digests,
		    struct oci_prune_stats *ret, struct diag *d);

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
	uint64_t max_bytes;	 /* file bytes written; 0: OCI_UNPACKED_MAX */
	size_t max_path;	 /* 0: OCI_PATH_MAX */
	const char *const *lower_dirs; /* NULL-terminated, bottom first: the unpacked layers this
					  one applies to (read only); NULL: none */
	uint64_t *ret_bytes;	 /* may be NULL: file bytes written, also on failure */
};
int oci_layer_unpack_opts(int blob_fd, const char *dest_dir, const struct oci_unpack_opts *o,
			  struct diag *d);
/* The entries of an opened libarchive tar reader instead of a blob (no digests, no stream
 * limits; the entry, byte and path limits of o apply). For the fuzzer. */
struct archive;
int oci_layer_unpack_archive(struct archive *a, const char *dest_dir,
			     const struct oci_unpack_opts *o, struct diag *d);

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

/* ---- internal: media types, platforms, one manifest walk for layouts, store and registries -- */

enum oci_media_kind { OCI_MK_UNKNOWN, OCI_MK_NONE, OCI_MK_INDEX, OCI_MK_MANIFEST, OCI_MK_SCHEMA1 };
/* Kind of a media type or Content-Type value (parameters after ';' and case are ignored). */
enum oci_media_kind oci_media_kind(const char *media_type);
/* Accept header value for manifests: OCI index, OCI manifest, Docker list, Docker schema2. */
extern const char oci_manifest_accept[];

struct oci_platform {
	char os[32];
	char architecture[32];
	char variant[16]; /* "" when none */
};
/* "os/arch[/variant]"; NULL or "" gives linux/<host arch>[/<host variant>]. */
int oci_platform_parse(const char *s, struct oci_platform *ret, struct diag *d);

/* Fetch the manifest or index that desc names; must check its digest and size. The media type
 * returned (may be NULL) is what the transport said (Content-Type). */
typedef int (*oci_fetch_fn)(void *data, const struct oci_descriptor *desc, char **ret_buf,
			    size_t *ret_len, char **ret_media_type, struct diag *d);
/*
 * From a manifest or index document (buf, whose digest is `digest`) of media type media_type
 * (descriptor or Content-Type; NULL or unknown: go by the document), follow indexes to the
 * manifest for plat (NULL: the host), fetching children with fetch, and parse it. Index
 * entries of unknown media types and attestations (unknown/unknown) are skipped.
 */
int oci_manifest_resolve(const char *buf, size_t len, const char *digest, const char *media_type,
			 const struct oci_platform *plat, oci_fetch_fn fetch, void *data,
			 struct oci_manifest *ret, struct diag *d);

/* ---- internal: authentication ------------------------------------------------------------- */

enum oci_auth_scheme { OCI_AUTH_NONE, OCI_AUTH_BASIC, OCI_AUTH_BEARER };
struct oci_auth_challenge {
	enum oci_auth_scheme scheme;
	char *realm, *service, *scope, *error; /* NULL when absent */
};
/* Parse a WWW-Authenticate value (several challenges allowed; Bearer wins over Basic).
 * -EPROTONOSUPPORT when it offers neither Bearer nor Basic, -EINVAL when malformed. */
int oci_wwwauth_parse(const char *value, struct oci_auth_challenge *ret, struct diag *d);
void oci_auth_challenge_clear(struct oci_auth_challenge *c);

struct oci_credentials {
	char *user;
	char *password;
};
/* Credentials for a registry from a docker-config-style document ("auths": {"<host or URL>":
 * {"auth": base64("user:pass")} or {"username", "password"}}). -ENOENT when none match. */
int oci_auth_config_parse(const char *buf, size_t len, const char *registry,
			  struct oci_credentials *ret, struct diag *d);
/* Same, from auth_file, or when NULL from /etc/tank/auth.json then ~/.docker/config.json
 * (missing files are skipped). *ret_source (may be NULL) names the file used. */
int oci_auth_lookup(const char *auth_file, const char *registry, struct oci_credentials *ret,
		    char **ret_source, struct diag *d);
/* Wipes and frees. */
void oci_credentials_clear(struct oci_credentials *c);
/* A token server reply: "token" or "access_token", "expires_in" (default 60 s). */
int oci_token_parse(const char *buf, size_t len, char **ret_token, uint64_t *ret_expires_s,
		    struct diag *d);
/* Process-wide token cache keyed by realm, service, scope and user; entries expire. */
char *oci_token_cache_get(const char *key);
void oci_token_cache_put(const char *key, const char *token, uint64_t expires_s);

/* ---- internal: the content store ---------------------------------------------------------- */

/* Open (creating) store_dir and its blobs/sha256, refs, locks and tmp directories. */
int oci_store_open(const char *store_dir, int *ret_fd, struct diag *d);
/* flock locks/store.lock: shared for pulls and unpacks, exclusive for pruning. -EBUSY when
 * !wait and it is held. */
int oci_store_lock(int store_fd, bool exclusive, bool wait, int *ret_fd, struct diag *d);
/* flock locks/sha256-<hex>.lock exclusively; -EAGAIN when !wait and another holder has it. */
int oci_store_blob_lock(int store_fd, const char *digest, bool wait, int *ret_fd);
/* blobs/sha256/<hex> exists as a regular file (of `size` bytes when size >= 0). */
bool oci_store_has_blob(int store_fd, const char *digest, int64_t size);
/* Check buf against digest and write it as blobs/sha256/<hex> atomically. */
int oci_store_put_blob(int store_fd, const char *digest, const void *buf, size_t len,
		       struct diag *d);
/* Read and verify a whole blob of at most max bytes. */
int oci_store_read_blob(int store_fd, const char *digest, size_t max, char **ret_buf,
			size_t *ret_len, struct diag *d);
/* The record of a canonical reference (-ENOENT when none), and writing one atomically. */
int oci_store_ref_get(int store_fd, const char *canonical, struct oci_store_image *ret,
		      struct diag *d);
int oci_store_ref_put(int store_fd, const struct oci_store_image *rec, struct diag *d);
void oci_store_image_clear(struct oci_store_image *i);
/* File name under refs/ for a canonical reference: percent-encoded, or hashed when long. */
char *oci_store_ref_filename(const char *canonical);

/* ---- internal: registry client and pulls --------------------------------------------------- */

struct oci_progress_sink {
	oci_progress_fn fn; /* may be NULL */
	void *data;
	uint64_t download_ms, unpack_ms;
};
void oci_progress_emit(struct oci_progress_sink *s, enum oci_progress_phase phase,
		       const char *digest, uint64_t done, uint64_t total, const char *message);

/* Pull (as the policy says) and assemble a registry image. */
int oci_registry_prepare(const char *store_dir, const struct oci_ref *ref, const char *ref_text,
			 const struct oci_pull_opts *o, struct oci_image **ret, struct diag *d);
/* Second half of every prepare: config from blobs_fd (a layout or the store), layers unpacked
 * once into the store (at most max_unpacked file bytes written in all, 0: the default), the
 * image record. sink may be NULL. */
int oci_image_assemble(const char *store_dir, int blobs_fd, const char *ref,
		       const struct oci_manifest *m, uint64_t max_unpacked,
		       struct oci_progress_sink *sink, struct oci_image **ret, struct diag *d);
/* ChainID of a layer from its parent's (NULL for the bottom layer) and its diff_id, into ret
 * (OCI_DIGEST_STR_MAX bytes). */
int oci_chain_id(const char *parent, const char *diff_id, char *ret);

#endif
