/* registry_int.h - private to oci/registry*.c: registry endpoints, transfers and their engine. */
#ifndef TANK_OCI_REGISTRY_INT_H
#define TANK_OCI_REGISTRY_INT_H

#include <curl/curl.h>

#include "oci/oci.h"

/*
 * Every reply is hostile: header bytes, bodies, tokens and error texts are bounded; content is
 * digest-checked; redirects are followed by hand so that the scheme is checked and
 * Authorization is only ever sent to the origin it was meant for.
 */

#define HEADERS_MAX (64u << 10)	     /* all header lines of one response */
#define HEADER_VALUE_MAX (8u << 10)  /* one kept header value */
#define ERROR_BODY_MAX (16u << 10)   /* a non-2xx body kept for the message */
#define TOKEN_REPLY_MAX (256u << 10) /* a token server reply */
#define REDIRECTS_MAX 5
#define ATTEMPTS_MAX 5
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_MS 60000
#define CONNECT_TIMEOUT_S 15
#define STALL_TIME_S 30		/* below 1 byte/s for this long: the transfer failed */
#define SMALL_TIMEOUT_S 120	/* manifests, configs, tokens, probes */
#define LOCK_POLL_MS 100
#define PROGRESS_EVERY_MS 200
#define DEFAULT_PARALLEL 3
#define PARALLEL_MAX 16
#define WARNINGS_MAX 8
#define BLOB_SIZE_MAX OCI_UNPACKED_MAX
#define USER_AGENT "tank/" TANK_VERSION
#define NO_EP ((size_t)-1)

struct endpoint {
	char *host;	     /* host[:port] as it goes into URLs */
	const char *ca_file; /* borrowed from the config */
	bool http_ok;	     /* plain HTTP allowed */
	bool http_only;	     /* a mirror given as http:// */
	const char *scheme;  /* "https" or "http" once probed */
	bool dead;	     /* the probe failed: skipped for the rest of the pull */
	struct diag dead_why;
	struct oci_auth_challenge chal;
	bool cred_done;	     /* credentials looked up */
	struct oci_credentials cred;
	char *cred_source;
	char *auth; /* "Authorization: ..." header line, or NULL */
};

struct oci_registry {
	char *registry, *repository, *scope;
	const struct oci_registry_config *regs;
	const char *auth_file;
	struct endpoint *ep;
	size_t n_ep, cur; /* cur: the endpoint that served the manifest */
	CURLM *multi;	  /* blobs and manifests (keeps connections) */
	CURLM *aux;	  /* probes and tokens while a transfer on `multi` waits */
	bool in_run;
	unsigned parallel;
	struct oci_progress_sink *sink;
	char *warnings[WARNINGS_MAX];
	size_t n_warnings;
	uint64_t dl_since; /* download_ms accounting: start of the current blob run */
};

enum xfer_kind { XF_MEM, XF_BLOB, XF_PROBE };
enum xfer_state { XS_PENDING, XS_ACTIVE, XS_DONE, XS_FAILED };

struct xfer {
	struct oci_registry *reg;
	enum xfer_kind kind;
	enum xfer_state state;
	char what[200];
	char *path;	   /* below the endpoint: "/v2/..." */
	char *abs_url;	   /* or an absolute URL (token server) */
	const char *auth;  /* explicit Authorization line for abs_url (token server) */
	size_t ep;	   /* endpoint index, NO_EP for abs_url */
	const char *accept;
	/* XF_MEM, XF_PROBE */
	size_t max;
	char *buf;
	size_t len, cap;
	/* XF_BLOB */
	int store_fd;
	const char *digest;
	int64_t size;
	int fd, lock_fd;
	uint64_t off;
	struct oci_digest h;
	bool from_partial, restarted;
	uint64_t last_progress;
	char partial[128];
	/* the current attempt */
	CURL *easy;
	struct curl_slist *hdrs;
	char *url;
	char *origin; /* scheme://host:port that `auth` belongs to */
	bool on_origin;
	int redirects, attempts;
	bool auth_retried;
	uint64_t not_before;
	/* the response */
	long status;
	size_t hdr_bytes;
	char *content_type, *www_auth, *retry_after, *content_range;
	bool body_begun;
	char *err_body;
	size_t err_len;
	int cb_err;
	char cb_msg[200];
	/* the outcome */
	int err;
	struct diag d;
};

/* registry.c: one repository on a registry (and its mirrors) for the duration of a pull */
int oci_registry_open(const struct oci_ref *ref, const struct oci_pull_opts *o,
		      struct oci_progress_sink *sink, struct oci_registry **ret, struct diag *d);
void oci_registry_close(struct oci_registry *r);
/* GET a manifest by tag or digest (Accept: every type we take). With desc (by digest) the body
 * must match its digest and size; ret_digest (OCI_DIGEST_STR_MAX) gets the body's digest. */
int oci_registry_get_manifest(struct oci_registry *r, const char *reference,
			      const struct oci_descriptor *desc, char **ret_buf, size_t *ret_len,
			      char **ret_content_type, char *ret_digest, struct diag *d);
/* GET a small blob (config) into memory, verified. */
int oci_registry_get_blob(struct oci_registry *r, const struct oci_descriptor *desc, size_t max,
			  char **ret_buf, size_t *ret_len, struct diag *d);
/* Download blobs into the store, verified, in parallel; present ones are skipped; a lock file
 * per digest makes concurrent pulls of one blob download it once. */
int oci_registry_fetch_blobs(struct oci_registry *r, int store_fd,
			     const struct oci_descriptor *blobs, size_t n, struct diag *d);

/* registry_http.c: the transfer engine and what it shares */
void oci_reg_emit(struct oci_registry *reg, enum oci_progress_phase ph, const char *digest,
		  uint64_t done, uint64_t total, const char *msg);
const struct oci_registry_config *oci_reg_find_config(const struct oci_registry_config *regs,
						      const char *host);
/* Plain HTTP allowed to host[:port]: loopback, or insecure_http in the config. */
bool oci_reg_allows_http(struct oci_registry *reg, const char *hostport);
/* May a request go to url: http(s) only, plain HTTP only where allowed. */
int oci_reg_url_allowed(struct oci_registry *reg, const char *url, const char *what,
			struct diag *d);
char *oci_reg_base64(const void *buf, size_t len);
/* Wipe and free a string holding a secret. */
void oci_reg_free_secret(char **s);
/* Run transfers, at most `parallel` at once, until all are done or one failed for good. */
int oci_xfers_run(struct oci_registry *reg, struct xfer **xs, size_t n, unsigned parallel,
		  struct diag *d);
int oci_xfer_run_one(struct oci_registry *reg, struct xfer *x, struct diag *d);
void oci_xfer_clear(struct xfer *x);

/* registry.c: endpoints and authorization */
/* Probe endpoint i (GET /v2/, HTTPS first, plain HTTP where allowed) and authorize. */
int oci_reg_ep_ready(struct oci_registry *reg, size_t i, struct diag *d);
/* Authorization after a challenge: a (fresh) Bearer token for scope, or Basic. */
int oci_reg_ep_authorize(struct oci_registry *reg, size_t i, const char *scope, bool fresh,
			 struct diag *d);
/* "check the credentials for X in FILE" / "add credentials for X to FILE" */
void oci_reg_login_hint(struct oci_registry *reg, size_t i, char *buf, size_t len);

#endif
