/* registry_http.c - HTTP transfers over libcurl multi: limits, retries, redirects, blobs. */
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include "oci/registry_int.h"

/* ---- small helpers --------------------------------------------------------------------------- */

void oci_reg_emit(struct oci_registry *reg, enum oci_progress_phase ph, const char *digest,
		  uint64_t done, uint64_t total, const char *msg)
{
	uint64_t saved;

	if (!reg->sink)
		return;
	saved = reg->sink->download_ms;
	if (reg->dl_since)
		reg->sink->download_ms += now_mono_ms() - reg->dl_since;
	oci_progress_emit(reg->sink, ph, digest, done, total, msg);
	reg->sink->download_ms = saved;
}

/* Printable ASCII only, at most max bytes: registry text goes into messages and logs. */
static void sanitize(const char *in, size_t len, char *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < max; i++) {
		unsigned char c = (unsigned char)in[i];

		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : (c == '\n' || c == '\t' ? ' ' : '?');
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static bool is_loopback_host(const char *h, size_t n)
{
	if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) || (n == 3 && !strncmp(h, "::1", 3)) ||
	    (n == 5 && !strncmp(h, "[::1]", 5)))
		return true;
	if (n >= 7 && n <= 15 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") >= n)
		return true;
	return false;
}

/* The host part of "host[:port]" or "[v6]:port". */
static size_t host_len(const char *hostport)
{
	if (hostport[0] == '[') {
		const char *e = strchr(hostport, ']');

		return e ? (size_t)(e - hostport) + 1 : strlen(hostport);
	}
	return strcspn(hostport, ":");
}

const struct oci_registry_config *oci_reg_find_config(const struct oci_registry_config *regs,
						      const char *host)
{
	static const char *const hub[] = { "docker.io", "index.docker.io", "registry-1.docker.io" };
	bool is_hub = false;

	for (size_t i = 0; i < ARRAY_SIZE(hub); i++)
		is_hub |= strcasecmp(host, hub[i]) == 0;
	for (size_t i = 0; regs && regs[i].host; i++) {
		if (strcasecmp(regs[i].host, host) == 0)
			return &regs[i];
		for (size_t k = 0; is_hub && k < ARRAY_SIZE(hub); k++)
			if (strcasecmp(regs[i].host, hub[k]) == 0)
				return &regs[i];
	}
	return NULL;
}

bool oci_reg_allows_http(struct oci_registry *reg, const char *hostport)
{
	const struct oci_registry_config *c;

	if (is_loopback_host(hostport, host_len(hostport)))
		return true;
	c = oci_reg_find_config(reg->regs, hostport);
	return c && c->insecure_http;
}

/* scheme://host:port of a URL, and the host[:port] part; -EINVAL for anything but http(s). */
static int url_origin(const char *url, char **ret_origin, char **ret_hostport)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0)
		goto out;
	for (char *c = scheme; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	for (char *c = host; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	r = -ENOMEM;
	if (ret_origin && !(*ret_origin = strdup_printf("%s://%s:%s", scheme, host, port)))
		goto out;
	if (ret_hostport) {
		bool def = (!strcmp(scheme, "https") && !strcmp(port, "443")) ||
			   (!strcmp(scheme, "http") && !strcmp(port, "80"));

		*ret_hostport = def ? strdup(host) : strdup_printf("%s:%s", host, port);
		if (!*ret_hostport) {
			if (ret_origin) {
				free(*ret_origin);
				*ret_origin = NULL;
			}
			goto out;
		}
	}
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return r;
}

/* May a request go to url: http(s) only, plain http only where allowed. */
int oci_reg_url_allowed(struct oci_registry *reg, const char *url, const char *what,
			struct diag *d)
{
	_cleanup_free_ char *hostport = NULL;
	int r = url_origin(url, NULL, &hostport);

	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return diag_fail(d, -EPROTO, "%s: refusing to follow %.200s: only http(s) URLs are "
				 "allowed", what, url);
	if (strncasecmp(url, "http:", 5) == 0 && !oci_reg_allows_http(reg, hostport))
		return diag_fail(d, -EPERM,
				 "%s: refusing plain HTTP to %.200s (allow it with insecure_http "
				 "for that registry in tankd's config)",
				 what, hostport);
	return 0;
}

char *oci_reg_base64(const void *buf, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return out;
}

void oci_reg_free_secret(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

/* ---- registry error bodies ------------------------------------------------------------------ */

/* "CODE: message" from {"errors":[...]} (first two), else the text itself, sanitised. */
static void error_text(const char *body, size_t len, char *out, size_t max)
{
	_cleanup_json_ json_t *j = NULL;
	const json_t *e;
	size_t i, n = 0;

	out[0] = '\0';
	if (!body || !len)
		return;
	if (json_parse_buf(body, len, &j, NULL) == 0 &&
	    json_is_array(json_object_get(j, "errors"))) {
		json_array_foreach(json_object_get(j, "errors"), i, e) {
			char code[64], msg[256];
			const char *c = json_str(e, "code", ""), *m = json_str(e, "message", "");

			if (i >= 2 || n + 8 >= max)
				break;
			sanitize(c, strlen(c), code, sizeof(code));
			sanitize(m, strlen(m), msg, sizeof(msg));
			n += (size_t)snprintf(out + n, max - n, "%s%s%s%s", n ? "; " : "", code,
					      code[0] && msg[0] ? ": " : "", msg);
			if (n >= max)
				break;
		}
		if (out[0])
			return;
	}
	sanitize(body, len < 300 ? len : 300, out, max);
}

/* ---- transfers: callbacks ------------------------------------------------------------------- */

static void response_reset(struct xfer *x)
{
	x->status = 0;
	x->hdr_bytes = 0;
	free(x->content_type);
	free(x->www_auth);
	free(x->retry_after);
	free(x->content_range);
	x->content_type = x->www_auth = x->retry_after = x->content_range = NULL;
	x->body_begun = false;
	free(x->err_body);
	x->err_body = NULL;
	x->err_len = 0;
	x->cb_err = 0;
	x->cb_msg[0] = '\0';
	x->len = 0;
}

static int cb_fail(struct xfer *x, int err, const char *fmt, ...) _printf_(3, 4);
static int cb_fail(struct xfer *x, int err, const char *fmt, ...)
{
	va_list ap;

	if (!x->cb_err) {
		x->cb_err = err;
		va_start(ap, fmt);
		vsnprintf(x->cb_msg, sizeof(x->cb_msg), fmt, ap);
		va_end(ap);
	}
	return 0;
}

static void add_warning(struct oci_registry *reg, const char *v, size_t n)
{
	char text[512];
	const char *q = memchr(v, '"', n), *e;

	/* Warning: 299 - "text" [date] */
	if (q && (e = memchr(q + 1, '"', n - (size_t)(q + 1 - v))))
		sanitize(q + 1, (size_t)(e - q - 1), text, sizeof(text));
	else
		sanitize(v, n, text, sizeof(text));
	if (!text[0])
		return;
	for (size_t i = 0; i < reg->n_warnings; i++)
		if (strcmp(reg->warnings[i], text) == 0)
			return;
	if (reg->n_warnings < WARNINGS_MAX && (reg->warnings[reg->n_warnings] = strdup(text)))
		reg->n_warnings++;
	oci_reg_emit(reg, OCI_PROGRESS_WARNING, NULL, 0, 0, text);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *data)
{
	struct xfer *x = data;
	size_t len = size * nitems, nl, vl;
	const char *colon, *v;
	char **slot = NULL;

	x->hdr_bytes += len;
	if (x->hdr_bytes > HEADERS_MAX)
		return cb_fail(x, -E2BIG, "the registry sent more than %u bytes of headers",
			       HEADERS_MAX);
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		size_t keep = x->hdr_bytes;

		/* a new response (after 1xx): start over; libcurl has parsed the status */
		response_reset(x);
		x->hdr_bytes = keep;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		return len;
	}
	colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	nl = (size_t)(colon - buf);
	v = colon + 1;
	vl = len - nl - 1;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
		vl--;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(buf, name, nl) == 0)
	if (IS("warning")) {
		add_warning(x->reg, v, vl);
		return len;
	}
	if (IS("content-type"))
		slot = &x->content_type;
	else if (IS("www-authenticate"))
		slot = &x->www_auth;
	else if (IS("retry-after"))
		slot = &x->retry_after;
	else if (IS("content-range"))
		slot = &x->content_range;
#undef IS
	if (!slot || vl > HEADER_VALUE_MAX)
		return len;
	if (*slot && slot == &x->www_auth) {
		/* several challenges in several headers: one list */
		char *n = strlen(*slot) + vl + 2 <= HEADER_VALUE_MAX
				  ? strdup_printf("%s, %.*s", *slot, (int)vl, v)
				  : NULL;

		if (n) {
			free(*slot);
			*slot = n;
		}
		return len;
	}
	free(*slot);
	*slot = strndup(v, vl);
	if (!*slot)
		return cb_fail(x, -ENOMEM, "out of memory");
	return len;
}

static bool is_2xx(long s)
{
	return s >= 200 && s < 300;
}

/* "bytes <start>-<end>/<total>" starts at off. */
static bool range_starts_at(const char *cr, uint64_t off)
{
	unsigned long long start;
	char *end;

	if (!cr || strncasecmp(cr, "bytes ", 6) != 0)
		return false;
	errno = 0;
	start = strtoull(cr + 6, &end, 10);
	return errno == 0 && end != cr + 6 && *end == '-' && start == off;
}

static int blob_restart(struct xfer *x)
{
	if (ftruncate(x->fd, 0) < 0)
		return -errno;
	x->off = 0;
	return oci_digest_init(&x->h);
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *data)
{
	struct xfer *x = data;
	size_t len = size * nitems;
	uint64_t now;

	if (!is_2xx(x->status) || x->kind == XF_PROBE) {
		size_t room = ERROR_BODY_MAX - x->err_len;
		char *n;

		if (len < room)
			room = len;
		if (!room)
			return len;
		n = realloc(x->err_body, x->err_len + room + 1);
		if (!n)
			return cb_fail(x, -ENOMEM, "out of memory");
		memcpy(n + x->err_len, buf, room);
		x->err_body = n;
		x->err_len += room;
		x->err_body[x->err_len] = '\0';
		return len;
	}
	if (x->kind == XF_MEM) {
		if (x->len + len > x->max)
			return cb_fail(x, -EFBIG, "the reply is larger than the limit of %zu bytes",
				       x->max);
		if (x->len + len + 1 > x->cap) {
			size_t cap = x->cap ? x->cap : 16384;
			char *n;

			while (cap < x->len + len + 1)
				cap *= 2;
			n = realloc(x->buf, cap);
			if (!n)
				return cb_fail(x, -ENOMEM, "out of memory");
			x->buf = n;
			x->cap = cap;
		}
		memcpy(x->buf + x->len, buf, len);
		x->len += len;
		x->buf[x->len] = '\0';
		return len;
	}
	/* XF_BLOB */
	if (!x->body_begun) {
		x->body_begun = true;
		if (x->status == 206 && !range_starts_at(x->content_range, x->off))
			return cb_fail(x, -ERANGE, "the registry answered a range request with "
				       "another range");
		if (x->status != 206 && x->off > 0) {
			int r = blob_restart(x); /* a full reply: start over */

			if (r < 0)
				return cb_fail(x, r, "truncating %s: %s", x->partial, strerror(-r));
		}
	}
	if (x->off + len > (uint64_t)x->size)
		return cb_fail(x, -EBADMSG,
			       "the registry sent more than the %lld bytes the manifest gives",
			       (long long)x->size);
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(x->fd, buf + done, len - done, (off_t)(x->off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cb_fail(x, -errno, "writing %s: %s", x->partial, strerror(errno));
		done += (size_t)n;
	}
	oci_digest_update(&x->h, buf, len);
	x->off += len;
	now = now_mono_ms();
	/* the first bytes too: a per-layer rate is measured from there */
	if (!x->last_progress || now - x->last_progress >= PROGRESS_EVERY_MS ||
	    x->off == (uint64_t)x->size) {
		x->last_progress = now;
		oci_reg_emit(x->reg, OCI_PROGRESS_DOWNLOADING, x->digest, x->off, (uint64_t)x->size,
			     NULL);
	}
	return len;
}

/* ---- transfers: the state machine ----------------------------------------------------------- */

void oci_xfer_clear(struct xfer *x)
{
	response_reset(x);
	free(x->path);
	free(x->abs_url);
	free(x->url);
	free(x->origin);
	free(x->buf);
	x->path = x->abs_url = x->url = x->origin = x->buf = NULL;
	if (x->hdrs)
		curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (x->easy)
		curl_easy_cleanup(x->easy);
	x->easy = NULL;
	if (x->fd >= 0)
		close(x->fd);
	if (x->lock_fd >= 0)
		close(x->lock_fd);
	x->fd = x->lock_fd = -1;
	oci_digest_done(&x->h);
}

static void xfer_failed(struct xfer *x, int err, const char *fmt, ...) _printf_(3, 4);
static void xfer_failed(struct xfer *x, int err, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_fail(&x->d, err, "%s: %s", x->what, msg);
	x->err = err;
	x->state = XS_FAILED;
	/* the partial file stays for a later resume; the lock goes */
	if (x->lock_fd >= 0)
		close(x->lock_fd);
	if (x->fd >= 0)
		close(x->fd);
	x->fd = x->lock_fd = -1;
}

/* Where a request goes: the endpoint's URL, or the token server's. */
static int xfer_url(struct xfer *x)
{
	struct endpoint *ep;

	if (x->url)
		return 0;
	if (x->ep == NO_EP) {
		x->url = strdup(x->abs_url);
	} else {
		ep = &x->reg->ep[x->ep];
		x->url = strdup_printf("%s://%s%s", ep->scheme, ep->host, x->path);
	}
	if (!x->url)
		return -ENOMEM;
	free(x->origin);
	x->origin = NULL;
	x->on_origin = true;
	return url_origin(x->url, &x->origin, NULL);
}

/* Blobs: present already, or take the per-digest lock and open the partial download. 1: done,
 * 0: go ahead, -EAGAIN: another download of this digest is running. */
static int blob_prepare(struct xfer *x)
{
	const char *hex = x->digest + 7;
	struct stat st;
	char buf[65536];
	int r;

	if (x->fd >= 0)
		return 0;
	if (oci_store_has_blob(x->store_fd, x->digest, x->size))
		return 1;
	r = oci_store_blob_lock(x->store_fd, x->digest, false, &x->lock_fd);
	if (r < 0)
		return r;
	if (oci_store_has_blob(x->store_fd, x->digest, x->size)) {
		close(x->lock_fd);
		x->lock_fd = -1;
		return 1;
	}
	snprintf(x->partial, sizeof(x->partial), "tmp/blob-%s.partial", hex);
	x->fd = openat(x->store_fd, x->partial,
		       O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (x->fd < 0 || fstat(x->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = oci_digest_init(&x->h);
	if (r < 0)
		return r;
	x->off = 0;
	if (st.st_size > x->size && ftruncate(x->fd, 0) < 0)
		return -errno;
	/* resume: what an interrupted download left counts once it is hashed again */
	while (st.st_size <= x->size && x->off < (uint64_t)st.st_size) {
		ssize_t n = pread(x->fd, buf, sizeof(buf), (off_t)x->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		oci_digest_update(&x->h, buf, (size_t)n);
		x->off += (uint64_t)n;
	}
	x->from_partial = x->off > 0;
	return 0;
}

static void xfer_finish_blob(struct xfer *x);

static int xfer_start(struct xfer *x, CURLM *multi)
{
	struct oci_registry *reg = x->reg;
	struct endpoint *ep = x->ep == NO_EP ? NULL : &reg->ep[x->ep];
	char range[64];
	int r;

	if (x->kind == XF_BLOB) {
		r = blob_prepare(x);
		if (r == -EAGAIN) {
			x->not_before = now_mono_ms() + LOCK_POLL_MS;
			return 0;
		}
		if (r < 0) {
			xfer_failed(x, r, "preparing the download: %s", strerror(-r));
			return 0;
		}
		if (r == 1) {
			x->state = XS_DONE;
			return 0;
		}
		if (x->off == (uint64_t)x->size) { /* a complete partial: just verify it */
			xfer_finish_blob(x);
			return 0;
		}
	}
	/* the endpoint: probed and authorized; a dead mirror hands over to the next one */
	while (ep) {
		struct diag pd = {};

		r = oci_reg_ep_ready(reg, x->ep, &pd);
		if (r >= 0)
			break;
		if (x->ep + 1 < reg->n_ep) {
			x->ep++;
			ep = &reg->ep[x->ep];
			free(x->url);
			x->url = NULL;
			continue;
		}
		x->d = pd;
		x->err = r;
		x->state = XS_FAILED;
		if (x->lock_fd >= 0)
			close(x->lock_fd);
		x->lock_fd = -1;
		return 0;
	}
	r = xfer_url(x);
	if (r < 0) {
		xfer_failed(x, r, "invalid URL");
		return 0;
	}
	if (!x->easy && !(x->easy = curl_easy_init()))
		return -ENOMEM;
	curl_easy_reset(x->easy);
	response_reset(x);
	if (x->hdrs)
		curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (x->accept) {
		_cleanup_free_ char *a = strdup_printf("Accept: %s", x->accept);

		if (!a || !(x->hdrs = curl_slist_append(x->hdrs, a)))
			return -ENOMEM;
	}
	if (x->on_origin) {
		const char *auth = ep ? ep->auth : x->auth;

		if (auth && !(x->hdrs = curl_slist_append(x->hdrs, auth)))
			return -ENOMEM;
	}
	if (x->kind == XF_BLOB && x->off > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)x->off);
		if (!(x->hdrs = curl_slist_append(x->hdrs, range)))
			return -ENOMEM;
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_TIME, (long)STALL_TIME_S);
	if (x->kind != XF_BLOB)
		curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, (long)SMALL_TIMEOUT_S);
	if (ep && ep->ca_file && x->on_origin)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, ep->ca_file);
	if (curl_multi_add_handle(multi, x->easy) != CURLM_OK)
		return -ENOMEM;
	x->state = XS_ACTIVE;
	log_debug("oci: GET %s (%s)", x->url, x->what);
	return 0;
}

/* Try again later: after delay_ms, or with backoff and jitter when 0. */
static void xfer_retry(struct xfer *x, uint64_t delay_ms, int err, const char *why)
{
	uint32_t rnd = 0;
	/* a mirror that does not answer is not worth a long wait: the registry is next */
	int max = x->kind == XF_PROBE && x->ep + 1 < x->reg->n_ep ? 2 : ATTEMPTS_MAX;

	if (++x->attempts >= max) {
		xfer_failed(x, err, "%s (gave up after %d attempts)", why, x->attempts);
		return;
	}
	if (!delay_ms) {
		delay_ms = (uint64_t)BACKOFF_BASE_MS << (x->attempts - 1);
		if (delay_ms > BACKOFF_MAX_MS)
			delay_ms = BACKOFF_MAX_MS;
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = (uint32_t)now_mono_ms() * 2654435761u;
		delay_ms = delay_ms / 2 + rnd % (delay_ms / 2 + 1);
	}
	log_debug("oci: %s: %s; retrying in %llu ms", x->what, why, (unsigned long long)delay_ms);
	x->not_before = now_mono_ms() + delay_ms;
	/* back to the origin: a redirect target (a signed CDN URL) may have expired */
	free(x->url);
	x->url = NULL;
	x->redirects = 0;
	x->state = XS_PENDING;
}

static uint64_t retry_after_ms(const char *v)
{
	char *end;
	unsigned long long s;
	time_t t;

	if (!v)
		return 0;
	errno = 0;
	s = strtoull(v, &end, 10);
	if (errno == 0 && end != v && *end == '\0')
		return s * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : s * 1000 + 1;
	t = curl_getdate(v, NULL);
	if (t > 0) {
		time_t now = time(NULL);

		if (t <= now)
			return 1;
		return (uint64_t)(t - now) * 1000 > RETRY_AFTER_MAX_MS
			       ? RETRY_AFTER_MAX_MS
			       : (uint64_t)(t - now) * 1000;
	}
	return 0;
}

static void xfer_finish_blob(struct xfer *x)
{
	char got[OCI_DIGEST_STR_MAX], dst[128];
	int r;

	if (x->off != (uint64_t)x->size) {
		/* a clean end short of the size: the registry's content is not what the manifest
		 * says (unless an earlier run's partial file misled us) */
		unlinkat(x->store_fd, x->partial, 0);
		if (x->from_partial && !x->restarted) {
			x->restarted = true;
			x->from_partial = false;
			close(x->fd);
			close(x->lock_fd);
			x->fd = x->lock_fd = -1;
			x->state = XS_PENDING;
			return;
		}
		xfer_failed(x, -EBADMSG,
			    "size mismatch: the registry sent %llu bytes, the manifest says %lld; "
			    "the blob was discarded",
			    (unsigned long long)x->off, (long long)x->size);
		return;
	}
	oci_reg_emit(x->reg, OCI_PROGRESS_VERIFYING, x->digest, x->off, (uint64_t)x->size, NULL);
	r = oci_digest_final(&x->h, got);
	if (r < 0) {
		xfer_failed(x, r, "computing sha256 failed");
		return;
	}
	if (strcmp(got, x->digest) != 0) {
		unlinkat(x->store_fd, x->partial, 0);
		if (x->from_partial && !x->restarted) {
			/* what an earlier run left may be at fault: once more from the start */
			x->restarted = true;
			x->from_partial = false;
			if (blob_restart(x) < 0) {
				xfer_failed(x, -EIO, "restarting the download failed");
				return;
			}
			close(x->fd);
			x->fd = -1;
			close(x->lock_fd);
			x->lock_fd = -1;
			x->state = XS_PENDING;
			return;
		}
		xfer_failed(x, -EBADMSG,
			    "digest mismatch: the registry sent content with digest %s; the blob "
			    "was discarded",
			    got);
		return;
	}
	snprintf(dst, sizeof(dst), "blobs/sha256/%s", x->digest + 7);
	if (fchmod(x->fd, 0644) < 0 || fsync(x->fd) < 0 ||
	    renameat(x->store_fd, x->partial, x->store_fd, dst) < 0) {
		r = -errno;
		xfer_failed(x, r, "storing the blob: %s", strerror(-r));
		return;
	}
	{
		_cleanup_close_ int dfd =
			openat(x->store_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0)
			fsync(dfd);
	}
	/* the lock file goes while still held: whoever waits on it or creates it anew finds the
	 * blob present once they hold a lock (only ever removed after a success) */
	snprintf(dst, sizeof(dst), "locks/sha256-%s.lock", x->digest + 7);
	unlinkat(x->store_fd, dst, 0);
	close(x->fd);
	close(x->lock_fd);
	x->fd = x->lock_fd = -1;
	x->state = XS_DONE;
}

static bool is_transient_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_COULDNT_RESOLVE_HOST:
		return true;
	default:
		return false;
	}
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void xfer_redirect(struct xfer *x)
{
	char *target = NULL;
	_cleanup_free_ char *origin = NULL;
	int r;

	curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &target);
	if (!target) {
		xfer_failed(x, -EPROTO, "HTTP %ld redirect without a Location", x->status);
		return;
	}
	if (++x->redirects > REDIRECTS_MAX) {
		xfer_failed(x, -ELOOP, "more than %d redirects", REDIRECTS_MAX);
		return;
	}
	r = oci_reg_url_allowed(x->reg, target, x->what, &x->d);
	if (r < 0) {
		x->err = r;
		x->state = XS_FAILED;
		if (x->lock_fd >= 0)
			close(x->lock_fd);
		x->lock_fd = -1;
		return;
	}
	r = url_origin(target, &origin, NULL);
	if (r < 0 || !(target = strdup(target))) {
		xfer_failed(x, -ENOMEM, "out of memory");
		return;
	}
	free(x->url);
	x->url = target;
	/* Authorization only ever goes to the origin it was made for */
	x->on_origin = x->on_origin && strcmp(origin, x->origin) == 0;
	x->state = XS_PENDING;
	x->not_before = 0;
}

static void xfer_finish(struct xfer *x, CURLcode res)
{
	struct oci_registry *reg = x->reg;
	char etext[400], why[512];
	const char *sep;
	int r;

	x->state = XS_PENDING;
	if (x->cb_err == -ERANGE) { /* a bad 206: start over without a range */
		if (blob_restart(x) < 0) {
			xfer_failed(x, -EIO, "restarting the download failed");
			return;
		}
		xfer_retry(x, 1, -EIO, x->cb_msg);
		return;
	}
	if (x->cb_err == -EBADMSG) {
		unlinkat(x->store_fd, x->partial, 0);
		xfer_failed(x, -EBADMSG, "%s; the blob was discarded", x->cb_msg);
		return;
	}
	if (x->cb_err) {
		xfer_failed(x, x->cb_err, "%s", x->cb_msg);
		return;
	}
	if (res == CURLE_FILESIZE_EXCEEDED) {
		xfer_failed(x, -EFBIG, "the reply is larger than the limit of %zu bytes", x->max);
		return;
	}
	if (res != CURLE_OK) {
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(res));
		/* a plain HTTP registry answers a TLS hello with garbage: try HTTP where allowed */
		if (x->kind == XF_PROBE && x->ep != NO_EP &&
		    !strcmp(reg->ep[x->ep].scheme, "https") && reg->ep[x->ep].http_ok &&
		    (res == CURLE_SSL_CONNECT_ERROR || res == CURLE_RECV_ERROR ||
		     res == CURLE_GOT_NOTHING || res == CURLE_COULDNT_CONNECT)) {
			reg->ep[x->ep].scheme = "http";
			free(x->url);
			x->url = NULL;
			return;
		}
		if (is_transient_curl(res))
			xfer_retry(x, 0, curl_errno(res), why);
		else
			xfer_failed(x, curl_errno(res), "%s%s", why,
				    curl_errno(res) == -EPROTO
					    ? " (TLS: set ca_file for this registry in tankd's "
					      "config, or insecure_http if it only speaks HTTP)"
					    : "");
		return;
	}

	error_text(x->err_body, x->err_len, etext, sizeof(etext));
	sep = etext[0] ? ": " : "";
	if (x->kind == XF_PROBE) {
		if (x->status == 200 || x->status == 401) {
			x->state = XS_DONE;
			return;
		}
		if (x->status >= 300 && x->status < 400) {
			xfer_redirect(x);
			return;
		}
		if (x->status == 429 || x->status >= 500) {
			snprintf(why, sizeof(why), "HTTP %ld%s%s", x->status, sep, etext);
			xfer_retry(x, x->status == 429 ? retry_after_ms(x->retry_after) : 0, -EIO,
				   why);
			return;
		}
		xfer_failed(x, -EPROTO, "not a registry: GET /v2/ gave HTTP %ld%s%s", x->status,
			    sep, etext);
		return;
	}
	if (is_2xx(x->status)) {
		if (x->kind == XF_BLOB) {
			xfer_finish_blob(x);
			return;
		}
		if (x->status == 206) {
			xfer_failed(x, -EPROTO, "unexpected partial reply");
			return;
		}
		x->state = XS_DONE;
		return;
	}
	switch (x->status) {
	case 301:
	case 302:
	case 303:
	case 307:
	case 308:
		xfer_redirect(x);
		return;
	case 401:
		if (x->ep != NO_EP && x->on_origin && !x->auth_retried) {
			struct oci_auth_challenge ch = {};
			struct endpoint *ep = &reg->ep[x->ep];

			/* one more try with fresh authorization, never a loop */
			x->auth_retried = true;
			r = oci_wwwauth_parse(x->www_auth, &ch, NULL);
			if (r >= 0) {
				oci_auth_challenge_clear(&ep->chal);
				ep->chal = ch;
				r = oci_reg_ep_authorize(reg, x->ep, ch.scope, true, &x->d);
				if (r < 0) {
					x->err = r;
					x->state = XS_FAILED;
					return;
				}
				free(x->url);
				x->url = NULL;
				return;
			}
		}
		if (x->ep != NO_EP) {
			oci_reg_login_hint(reg, x->ep, why, sizeof(why));
			xfer_failed(x, -EACCES,
				    "access denied (HTTP 401%s%s): the repository does not exist "
				    "or needs a login; %s",
				    sep, etext, why);
		} else {
			xfer_failed(x, -EACCES, "access denied (HTTP 401%s%s)", sep, etext);
		}
		return;
	case 403:
		xfer_failed(x, -EACCES, "access denied (HTTP 403%s%s)", sep, etext);
		return;
	case 404:
		xfer_failed(x, -ENOENT, "not found (HTTP 404%s%s)", sep, etext);
		return;
	case 416:
		if (x->kind == XF_BLOB && x->off > 0 && blob_restart(x) >= 0) {
			xfer_retry(x, 1, -EIO, "the registry refused to resume the download");
			return;
		}
		break;
	case 408:
	case 429:
		snprintf(why, sizeof(why), "HTTP %ld%s%s", x->status, sep, etext);
		xfer_retry(x, retry_after_ms(x->retry_after), -EIO, why);
		return;
	default:
		if (x->status >= 500 && x->status != 501 && x->status != 505) {
			snprintf(why, sizeof(why), "HTTP %ld%s%s", x->status, sep, etext);
			xfer_retry(x, retry_after_ms(x->retry_after), -EIO, why);
			return;
		}
		break;
	}
	xfer_failed(x, x->status >= 500 ? -EIO : -EPROTO, "HTTP %ld%s%s", x->status, sep, etext);
}

/*
 * Run transfers, at most `parallel` at once, until all are done or one failed (the others are
 * then stopped; their partial downloads stay). A permanent failure on a mirror moves that
 * transfer to the next endpoint.
 */
int oci_xfers_run(struct oci_registry *reg, struct xfer **xs, size_t n, unsigned parallel,
		  struct diag *d)
{
	CURLM *multi = reg->in_run ? reg->aux : reg->multi;
	bool outer = !reg->in_run;
	size_t active = 0;
	int failed = 0, r = 0;

	reg->in_run = true;
	for (;;) {
		uint64_t now = now_mono_ms(), wake = now + 1000;
		size_t left = 0;
		CURLMsg *msg;
		int running, q;

		for (size_t i = 0; i < n && !failed; i++) {
			struct xfer *x = xs[i];

			if (x->state != XS_PENDING)
				continue;
			if (x->not_before > now) {
				if (x->not_before < wake)
					wake = x->not_before;
				continue;
			}
			if (active >= parallel)
				continue;
			r = xfer_start(x, multi);
			if (r < 0)
				goto out;
			if (x->state == XS_ACTIVE)
				active++;
			else if (x->state == XS_PENDING && x->not_before && x->not_before < wake)
				wake = x->not_before;
		}
		for (size_t i = 0; i < n; i++) {
			if (xs[i]->state == XS_FAILED && !failed) {
				struct xfer *x = xs[i];

				/* a mirror that failed for good hands over to the next endpoint */
				if (x->ep != NO_EP && x->ep + 1 < reg->n_ep && x->err != -EBADMSG &&
				    x->kind != XF_PROBE) {
					x->ep++;
					x->attempts = 0;
					x->auth_retried = false;
					x->err = 0;
					diag_clear(&x->d);
					free(x->url);
					x->url = NULL;
					x->state = XS_PENDING;
					left++;
					continue;
				}
				failed = x->err;
			}
			if (xs[i]->state == XS_PENDING || xs[i]->state == XS_ACTIVE)
				left++;
		}
		if (failed && !active)
			break;
		if (!left)
			break;
		if (failed) { /* stop the others */
			for (size_t i = 0; i < n; i++) {
				if (xs[i]->state != XS_ACTIVE)
					continue;
				curl_multi_remove_handle(multi, xs[i]->easy);
				active--;
				xs[i]->state = XS_PENDING;
				/* what arrived stays for a resume; an empty file is no use */
				if (xs[i]->kind == XF_BLOB && xs[i]->off == 0)
					unlinkat(xs[i]->store_fd, xs[i]->partial, 0);
				if (xs[i]->lock_fd >= 0)
					close(xs[i]->lock_fd);
				xs[i]->lock_fd = -1;
			}
			break;
		}
		if (curl_multi_perform(multi, &running) != CURLM_OK) {
			r = diag_fail(d, -EIO, "libcurl failed");
			goto out;
		}
		while ((msg = curl_multi_info_read(multi, &q))) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(multi, msg->easy_handle);
			active--;
			xfer_finish(x, msg->data.result);
		}
		/* wait for the network, or for the next retry or lock poll; not when a transfer
		 * can start now or nothing is left */
		now = now_mono_ms();
		if (wake > now) {
			bool ready = false, waiting = false;

			for (size_t i = 0; i < n; i++) {
				if (xs[i]->state != XS_PENDING)
					continue;
				if (xs[i]->not_before <= now && active < parallel)
					ready = true;
				else if (xs[i]->not_before > now && xs[i]->not_before < wake)
					wake = xs[i]->not_before;
				waiting = true;
			}
			if (!ready && (active || waiting))
				curl_multi_poll(multi, NULL, 0, (int)(wake - now), NULL);
		}
	}
	r = 0;
	if (failed) {
		for (size_t i = 0; i < n; i++)
			if (xs[i]->state == XS_FAILED && xs[i]->err == failed) {
				if (d && !d->err)
					*d = xs[i]->d;
				break;
			}
		r = failed;
	}
out:
	for (size_t i = 0; i < n && r < 0; i++)
		if (xs[i]->state == XS_ACTIVE) {
			curl_multi_remove_handle(multi, xs[i]->easy);
			xs[i]->state = XS_FAILED;
		}
	if (outer)
		reg->in_run = false;
	return r;
}

int oci_xfer_run_one(struct oci_registry *reg, struct xfer *x, struct diag *d)
{
	return oci_xfers_run(reg, &x, 1, 1, d);
}
