/* registry.c - a registry (and its mirrors) for one pull: probe, authorization, manifests and
 * blobs over the transfer engine of registry_http.c. */
#include <pthread.h>
#include <string.h>

#include "oci/registry_int.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- transfers: endpoints, auth ------------------------------------------------------------- */

static const char *ep_name(struct oci_registry *reg, size_t i)
{
	/* the origin goes by the registry's name ("docker.io") for credentials and messages */
	return i + 1 == reg->n_ep ? reg->registry : reg->ep[i].host;
}

static int ep_credentials(struct oci_registry *reg, size_t i, struct diag *d)
{
	struct endpoint *ep = &reg->ep[i];
	int r;

	if (ep->cred_done)
		return ep->cred.user ? 1 : 0;
	ep->cred_done = true;
	r = oci_auth_lookup(reg->auth_file, ep_name(reg, i), &ep->cred, &ep->cred_source, d);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

static char *basic_header(const struct oci_credentials *c)
{
	_cleanup_(oci_reg_free_secret) char *up = strdup_printf("%s:%s", c->user, c->password);
	_cleanup_(oci_reg_free_secret) char *b = up ? oci_reg_base64(up, strlen(up)) : NULL;

	return b ? strdup_printf("Authorization: Basic %s", b) : NULL;
}

void oci_reg_login_hint(struct oci_registry *reg, size_t i, char *buf, size_t len)
{
	struct endpoint *ep = &reg->ep[i];

	if (ep->cred_source)
		snprintf(buf, len, "check the credentials for %s in %s", ep_name(reg, i),
			 ep->cred_source);
	else
		snprintf(buf, len, "add credentials for %s to %s", ep_name(reg, i),
			 reg->auth_file ? reg->auth_file : "/etc/tank/auth.json");
}

/* A Bearer token for `scope` from the challenge's realm (cached per realm, service, scope
 * and user). */
static int ep_bearer(struct oci_registry *reg, size_t i, const char *scope, bool fresh,
		     struct diag *d)
{
	struct endpoint *ep = &reg->ep[i];
	_cleanup_(oci_reg_free_secret) char *token = NULL;
	_cleanup_(oci_reg_free_secret) char *basic = NULL;
	_cleanup_free_ char *key = NULL;
	_cleanup_free_ char *url = NULL;
	char who[OCI_DIGEST_STR_MAX] = "anonymous", hint[300];
	char *esc_service = NULL, *esc_scope = NULL;
	struct xfer x = {};
	uint64_t expires = 0;
	int r;

	r = ep_credentials(reg, i, d);
	if (r < 0)
		return r;
	if (r > 0) {
		_cleanup_(oci_reg_free_secret) char *up =
			strdup_printf("%s:%s", ep->cred.user, ep->cred.password);

		if (!up || oci_digest_buf(up, strlen(up), who) < 0)
			return -ENOMEM;
		basic = basic_header(&ep->cred);
		if (!basic)
			return -ENOMEM;
	}
	key = strdup_printf("%s|%s|%s|%s", ep->chal.realm, ep->chal.service ? ep->chal.service : "",
			    scope, who);
	if (!key)
		return -ENOMEM;
	if (!fresh && (token = oci_token_cache_get(key)))
		goto have;

	r = oci_reg_url_allowed(reg, ep->chal.realm, "token server", d);
	if (r < 0)
		return r;
	esc_service = ep->chal.service ? curl_easy_escape(NULL, ep->chal.service, 0) : NULL;
	esc_scope = curl_easy_escape(NULL, scope, 0);
	if (!esc_scope || (ep->chal.service && !esc_service)) {
		curl_free(esc_service);
		curl_free(esc_scope);
		return -ENOMEM;
	}
	url = strdup_printf("%s%s%s%s%sscope=%s", ep->chal.realm,
			    strchr(ep->chal.realm, '?') ? "&" : "?", esc_service ? "service=" : "",
			    esc_service ? esc_service : "", esc_service ? "&" : "", esc_scope);
	curl_free(esc_service);
	curl_free(esc_scope);
	if (!url)
		return -ENOMEM;

	x = (struct xfer){ .reg = reg, .kind = XF_MEM, .ep = NO_EP, .max = TOKEN_REPLY_MAX,
			   .abs_url = TAKE_PTR(url), .auth = basic, .fd = -1, .lock_fd = -1 };
	snprintf(x.what, sizeof(x.what), "token server of %s", ep_name(reg, i));
	r = oci_xfer_run_one(reg, &x, d);
	if (r == -EACCES) {
		oci_reg_login_hint(reg, i, hint, sizeof(hint));
		diag_clear(d);
		r = diag_fail(d, -EACCES, "%s refused a token (%s)", x.what, hint);
	}
	if (r >= 0)
		r = oci_token_parse(x.buf, x.len, &token, &expires, d);
	oci_xfer_clear(&x);
	if (r < 0)
		return r;
	oci_token_cache_put(key, token, expires);
have:
	oci_reg_free_secret(&ep->auth);
	ep->auth = strdup_printf("Authorization: Bearer %s", token);
	return ep->auth ? 0 : -ENOMEM;
}

/* Authorization for an endpoint after its challenge (the probe's or a 401's). */
int oci_reg_ep_authorize(struct oci_registry *reg, size_t i, const char *scope, bool fresh,
			 struct diag *d)
{
	struct endpoint *ep = &reg->ep[i];
	char hint[300];
	int r;

	switch (ep->chal.scheme) {
	case OCI_AUTH_NONE:
		return 0;
	case OCI_AUTH_BEARER:
		return ep_bearer(reg, i, scope ? scope : reg->scope, fresh, d);
	case OCI_AUTH_BASIC:
		r = ep_credentials(reg, i, d);
		if (r < 0)
			return r;
		if (r == 0) {
			oci_reg_login_hint(reg, i, hint, sizeof(hint));
			return diag_fail(d, -EACCES, "%s requires a login: %s", ep_name(reg, i),
					 hint);
		}
		oci_reg_free_secret(&ep->auth);
		ep->auth = basic_header(&ep->cred);
		return ep->auth ? 0 : -ENOMEM;
	}
	return 0;
}

/* Probe GET /v2/ (HTTPS first; plain HTTP where allowed) and authorize. */
int oci_reg_ep_ready(struct oci_registry *reg, size_t i, struct diag *d)
{
	struct endpoint *ep = &reg->ep[i];
	struct xfer x;
	int r;

	if (ep->dead) {
		if (d && !d->err)
			*d = ep->dead_why;
		return ep->dead_why.err ? ep->dead_why.err : -EHOSTUNREACH;
	}
	if (ep->scheme)
		return 0;
	x = (struct xfer){ .reg = reg, .kind = XF_PROBE, .ep = i, .fd = -1, .lock_fd = -1 };
	snprintf(x.what, sizeof(x.what), "registry %s", ep_name(reg, i));
	x.path = strdup("/v2/");
	if (!x.path)
		return -ENOMEM;
	ep->scheme = ep->http_only ? "http" : "https";
	r = oci_xfer_run_one(reg, &x, d);
	if (r >= 0 && x.status == 401) {
		r = oci_wwwauth_parse(x.www_auth, &ep->chal, d);
		if (r < 0)
			diag_prefix(d, "%s: ", x.what);
	}
	oci_xfer_clear(&x);
	if (r >= 0)
		r = oci_reg_ep_authorize(reg, i, NULL, false, d);
	if (r < 0) {
		ep->scheme = NULL;
		ep->dead = true;
		if (d)
			ep->dead_why = *d;
		ep->dead_why.err = r;
	}
	return r;
}

/* ---- the registry --------------------------------------------------------------------------- */

static int ep_add(struct oci_registry *reg, const char *host, const struct oci_registry_config *c,
		  struct diag *d)
{
	struct endpoint *ep = &reg->ep[reg->n_ep];
	bool http = false;

	if (strncasecmp(host, "https://", 8) == 0) {
		host += 8;
	} else if (strncasecmp(host, "http://", 7) == 0) {
		host += 7;
		http = true;
	}
	ep->host = strndup(host, strcspn(host, "/"));
	if (!ep->host)
		return -ENOMEM;
	for (const char *p = ep->host; !*ep->host || *p; p++)
		if (!*ep->host || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') || strchr(".-:[]", *p))) {
			free(ep->host);
			ep->host = NULL;
			return diag_fail(d, -EINVAL,
					 "registry mirror \"%.100s\" is not a host[:port]", host);
		}
	c = c ? c : oci_reg_find_config(reg->regs, ep->host);
	ep->ca_file = c ? c->ca_file : NULL;
	ep->http_ok = oci_reg_allows_http(reg, ep->host) || (c && c->insecure_http);
	ep->http_only = http;
	if (http && !ep->http_ok) {
		free(ep->host);
		ep->host = NULL;
		return diag_fail(d, -EPERM,
				 "registry mirror %.100s uses plain HTTP; allow it with "
				 "insecure_http in tankd's config",
				 host);
	}
	reg->n_ep++;
	return 0;
}

void oci_registry_close(struct oci_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_ep; i++) {
		free(r->ep[i].host);
		oci_auth_challenge_clear(&r->ep[i].chal);
		oci_credentials_clear(&r->ep[i].cred);
		free(r->ep[i].cred_source);
		oci_reg_free_secret(&r->ep[i].auth);
	}
	free(r->ep);
	for (size_t i = 0; i < r->n_warnings; i++)
		free(r->warnings[i]);
	if (r->multi)
		curl_multi_cleanup(r->multi);
	if (r->aux)
		curl_multi_cleanup(r->aux);
	free(r->registry);
	free(r->repository);
	free(r->scope);
	free(r);
}

static void registry_closep(struct oci_registry **r)
{
	oci_registry_close(*r);
}

int oci_registry_open(const struct oci_ref *ref, const struct oci_pull_opts *o,
		      struct oci_progress_sink *sink, struct oci_registry **ret, struct diag *d)
{
	_cleanup_(registry_closep) struct oci_registry *reg = NULL;
	const struct oci_registry_config *c;
	size_t n_mirrors = 0;
	int r;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return diag_fail(d, -EIO, "initialising libcurl failed");
	if (!ref->registry || !ref->repository)
		return diag_fail(d, -EINVAL, "not a registry reference");
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	reg->regs = o ? o->registries : NULL;
	reg->auth_file = o ? o->auth_file : NULL;
	reg->sink = sink;
	reg->parallel = o && o->max_parallel ? o->max_parallel : DEFAULT_PARALLEL;
	if (reg->parallel > PARALLEL_MAX)
		reg->parallel = PARALLEL_MAX;
	reg->registry = strdup(ref->registry);
	reg->repository = strdup(ref->repository);
	reg->scope = strdup_printf("repository:%s:pull", ref->repository);
	reg->multi = curl_multi_init();
	reg->aux = curl_multi_init();
	if (!reg->registry || !reg->repository || !reg->scope || !reg->multi || !reg->aux)
		return -ENOMEM;
	curl_multi_setopt(reg->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)reg->parallel);

	c = oci_reg_find_config(reg->regs, ref->registry);
	while (c && c->mirrors && c->mirrors[n_mirrors])
		n_mirrors++;
	reg->ep = calloc(n_mirrors + 1, sizeof(*reg->ep));
	if (!reg->ep)
		return -ENOMEM;
	for (size_t i = 0; i < n_mirrors; i++) {
		r = ep_add(reg, c->mirrors[i], NULL, d);
		if (r < 0)
			return r;
	}
	r = ep_add(reg, oci_ref_api_host(ref->registry), c, d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(reg);
	return 0;
}

/* Run one small GET below /v2/<repo>/, mirrors first; the serving endpoint becomes current. */
static int get_small(struct oci_registry *reg, const char *kind, const char *reference,
		     const char *accept, size_t max, const char *what, struct xfer *x,
		     struct diag *d)
{
	struct diag pd = {};
	int r;

	/* probe first, outside the transfer, so the probe's connection is reused */
	while (oci_reg_ep_ready(reg, reg->cur, &pd) < 0 && reg->cur + 1 < reg->n_ep) {
		diag_clear(&pd);
		reg->cur++;
	}
	*x = (struct xfer){ .reg = reg, .kind = XF_MEM, .ep = reg->cur, .max = max,
			    .accept = accept, .fd = -1, .lock_fd = -1 };
	snprintf(x->what, sizeof(x->what), "%s", what);
	x->path = strdup_printf("/v2/%s/%s/%s", reg->repository, kind, reference);
	if (!x->path)
		return -ENOMEM;
	r = oci_xfer_run_one(reg, x, d);
	if (r >= 0)
		reg->cur = x->ep;
	return r;
}

int oci_registry_get_manifest(struct oci_registry *r, const char *reference,
			      const struct oci_descriptor *desc, char **ret_buf, size_t *ret_len,
			      char **ret_content_type, char *ret_digest, struct diag *d)
{
	_cleanup_(oci_xfer_clear) struct xfer x = {};
	char what[200], got[OCI_DIGEST_STR_MAX];
	const char *want = desc ? desc->digest : NULL;
	int rc;

	if (!want && strncmp(reference, "sha256:", 7) == 0)
		want = reference;
	snprintf(what, sizeof(what), "manifest %s/%s%s%s", r->registry, r->repository,
		 want ? "@" : ":", reference);
	rc = get_small(r, "manifests", reference, oci_manifest_accept, OCI_MANIFEST_MAX, what, &x,
		       d);
	if (rc < 0)
		return rc;
	if (oci_media_kind(x.content_type) == OCI_MK_SCHEMA1)
		return diag_fail(d, -EPROTONOSUPPORT,
				 "%s: the registry sent a Docker schema1 manifest, which is not "
				 "supported; push the image again as Docker schema2 or OCI (e.g. "
				 "skopeo copy --format v2s2)",
				 what);
	rc = oci_digest_buf(x.buf ? x.buf : "", x.len, got);
	if (rc < 0)
		return diag_fail(d, rc, "computing sha256 failed");
	if (want && strcmp(got, want) != 0)
		return diag_fail(d, -EBADMSG, "%s: digest mismatch (the registry sent %s)", what,
				 got);
	if (desc && desc->size >= 0 && (uint64_t)desc->size != x.len)
		return diag_fail(d, -EBADMSG, "%s: size mismatch (%zu bytes, the index says %lld)",
				 what, x.len, (long long)desc->size);
	if (!x.buf && !(x.buf = strdup("")))
		return -ENOMEM;
	*ret_buf = TAKE_PTR(x.buf);
	*ret_len = x.len;
	if (ret_content_type)
		*ret_content_type = TAKE_PTR(x.content_type);
	if (ret_digest)
		memcpy(ret_digest, got, sizeof(got));
	return 0;
}

int oci_registry_get_blob(struct oci_registry *r, const struct oci_descriptor *desc, size_t max,
			  char **ret_buf, size_t *ret_len, struct diag *d)
{
	_cleanup_(oci_xfer_clear) struct xfer x = {};
	char what[200], got[OCI_DIGEST_STR_MAX];
	int rc;

	if (desc->size < 0 || (uint64_t)desc->size > max)
		return diag_fail(d, -EFBIG, "blob %s: %lld bytes is larger than the limit of %zu",
				 desc->digest, (long long)desc->size, max);
	snprintf(what, sizeof(what), "blob %s of %s/%s", desc->digest, r->registry,
		 r->repository);
	rc = get_small(r, "blobs", desc->digest, NULL, (size_t)desc->size, what, &x, d);
	if (rc < 0)
		return rc;
	rc = oci_digest_buf(x.buf ? x.buf : "", x.len, got);
	if (rc < 0)
		return diag_fail(d, rc, "computing sha256 failed");
	if (x.len != (size_t)desc->size || strcmp(got, desc->digest) != 0)
		return diag_fail(d, -EBADMSG,
				 "%s: digest mismatch (the registry sent %zu bytes with digest "
				 "%s)",
				 what, x.len, got);
	if (!x.buf && !(x.buf = strdup("")))
		return -ENOMEM;
	*ret_buf = TAKE_PTR(x.buf);
	*ret_len = x.len;
	return 0;
}

int oci_registry_fetch_blobs(struct oci_registry *r, int store_fd,
			     const struct oci_descriptor *blobs, size_t n, struct diag *d)
{
	_cleanup_free_ struct xfer *xs = calloc(n + 1, sizeof(*xs));
	_cleanup_free_ struct xfer **ps = calloc(n + 1, sizeof(*ps));
	uint64_t t0 = now_mono_ms();
	int rc = 0;

	if (!xs || !ps)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct xfer *x = &xs[i];

		rc = oci_digest_check(blobs[i].digest, "layer", NULL, d);
		if (rc < 0)
			break;
		if (blobs[i].size < 0 || (uint64_t)blobs[i].size > BLOB_SIZE_MAX) {
			rc = diag_fail(d, -EFBIG, "layer %s: size %lld is out of range",
				       blobs[i].digest, (long long)blobs[i].size);
			break;
		}
		*x = (struct xfer){ .reg = r, .kind = XF_BLOB, .ep = r->cur, .fd = -1,
				    .lock_fd = -1, .store_fd = store_fd,
				    .digest = blobs[i].digest, .size = blobs[i].size };
		snprintf(x->what, sizeof(x->what), "layer %s of %s/%s", blobs[i].digest,
			 r->registry, r->repository);
		x->path = strdup_printf("/v2/%s/blobs/%s", r->repository, blobs[i].digest);
		if (!x->path) {
			rc = -ENOMEM;
			break;
		}
		ps[i] = x;
	}
	if (rc >= 0) {
		r->dl_since = t0;
		rc = oci_xfers_run(r, ps, n, r->parallel, d);
		r->dl_since = 0;
	}
	for (size_t i = 0; i < n; i++)
		oci_xfer_clear(&xs[i]);
	if (r->sink)
		r->sink->download_ms += now_mono_ms() - t0;
	return rc;
}
