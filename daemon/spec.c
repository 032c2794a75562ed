/* spec.c - pod spec parsing and validation (DESIGN.md §4): every error with its JSON path. */
#include <ctype.h>
#include <string.h>

#define TANK_SPEC_INTERNAL
#include "daemon/spec.h"

/*
 * The walk: every object is checked against a table of known keys (document order, unknown
 * keys reported with the valid ones), every value against its type and syntax. Errors never
 * stop the walk; the result is built as we go and thrown away if there was any error. Only
 * known structure is descended into, so nesting depth is bounded by the spec, not the input.
 */

struct spec_ctx {
	json_t *errors;
	size_t n_errors;
	bool more;
	int oom;
	struct diag *d;
	char path[sizeof(((struct diag *)0)->path)];
	size_t plen;
	const json_t *volumes; /* the document's "volumes", to check mounts in any key order */
	const struct spec_host *host; /* NULL: no host checks */
	char quote[4][128];    /* ring of buffers for quoted values in messages */
	unsigned qi;
};

/* ---- text hygiene: everything that reaches an error must be valid UTF-8 --------------------- */

/* Replace bytes that are not part of a well-formed UTF-8 sequence, and control characters,
 * with '?' (jansson refuses to build strings from invalid UTF-8). */
static void utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		unsigned char b = *p;
		size_t need = 0;
		unsigned char lo = 0x80, hi = 0xbf;

		if (b < 0x20 || b == 0x7f) {
			*p++ = '?';
			continue;
		}
		if (b < 0x80) {
			p++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			lo = b == 0xe0 ? 0xa0 : 0x80;
			hi = b == 0xed ? 0x9f : 0xbf;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			lo = b == 0xf0 ? 0x90 : 0x80;
			hi = b == 0xf4 ? 0x8f : 0xbf;
		} else {
			*p++ = '?';
			continue;
		}
		bool ok = p[1] >= lo && p[1] <= hi;

		for (size_t i = 2; ok && i <= need; i++)
			ok = p[i] >= 0x80 && p[i] <= 0xbf;
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += need + 1;
	}
}

/* A value for a message: "abc", cut after 48 bytes with "...". */
const char *spec_quote(struct spec_ctx *c, const char *s)
{
	char *buf = c->quote[c->qi++ % ARRAY_SIZE(c->quote)];
	size_t n = strlen(s);

	if (n > 48)
		snprintf(buf, sizeof(c->quote[0]), "\"%.48s...\"", s);
	else
		snprintf(buf, sizeof(c->quote[0]), "\"%s\"", s);
	utf8_sanitize(buf);
	return buf;
}

/* ---- paths and errors ----------------------------------------------------------------------- */

static size_t path_key(struct spec_ctx *c, const char *key)
{
	size_t old = c->plen, n = strlen(key);
	bool ident = n > 0 && n <= 64 && !isdigit((unsigned char)key[0]);

	for (size_t i = 0; ident && i < n; i++)
		ident = isalnum((unsigned char)key[i]) || key[i] == '_';
	if (ident) {
		snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", key);
	} else {
		/* ["key"] with '"' and '\\' escaped, cut after 40 bytes */
		char q[100], *o = q;

		for (size_t i = 0; i < n && i < 40; i++) {
			if (key[i] == '"' || key[i] == '\\')
				*o++ = '\\';
			*o++ = key[i];
		}
		*o = '\0';
		snprintf(c->path + old, sizeof(c->path) - old, "[\"%s%s\"]", q,
			 n > 40 ? "..." : "");
	}
	c->plen = strlen(c->path);
	return old;
}

size_t spec_path_key(struct spec_ctx *c, const char *key)
{
	return path_key(c, key);
}

size_t spec_path_index(struct spec_ctx *c, size_t i)
{
	size_t old = c->plen;

	snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);
	c->plen = strlen(c->path);
	return old;
}

void spec_path_pop(struct spec_ctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

void spec_err(struct spec_ctx *c, const char *fmt, ...)
{
	char msg[600], path[sizeof(c->path)];
	json_t *e;
	va_list ap;

	if (c->n_errors >= SPEC_ERRORS_MAX) {
		if (!c->more) {
			e = json_pack("{s:s, s:s}", "path", "", "message",
				      "...more errors (only the first 64 are reported)");
			if (!e || json_array_append_new(c->errors, e) < 0)
				c->oom = -ENOMEM;
			c->more = true;
		}
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(msg);
	snprintf(path, sizeof(path), "%s", c->path);
	utf8_sanitize(path);
	e = json_pack("{s:s, s:s}", "path", path, "message", msg);
	if (!e || json_array_append_new(c->errors, e) < 0)
		c->oom = -ENOMEM;
	if (c->n_errors++ == 0) {
		if (path[0])
			diag_fail_at(c->d, -EINVAL, path, "%s: %s", path, msg);
		else
			diag_fail(c->d, -EINVAL, "%s", msg);
	}
}

/* An error about a key below the current path. */
void spec_err_key(struct spec_ctx *c, const char *key, const char *fmt, ...)
{
	size_t old = path_key(c, key);
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	spec_err(c, "%s", msg);
	spec_path_pop(c, old);
}

void spec_dup_check(struct spec_ctx *c, const void *arr, size_t stride, size_t off, size_t i,
		    const char *key, const char *what, const char *list)
{
	const char *mine = *(char *const *)((const char *)arr + i * stride + off);

	for (size_t j = 0; mine && j < i; j++) {
		const char *other = *(char *const *)((const char *)arr + j * stride + off);

		if (other && strcmp(other, mine) == 0) {
			spec_err_key(c, key, "duplicate %s %s (also %s[%zu])", what,
				     spec_quote(c, mine), list, j);
			return;
		}
	}
}

char *spec_strdup(struct spec_ctx *c, const char *s)
{
	char *r = strdup(s);

	if (!r)
		c->oom = -ENOMEM;
	return r;
}

void *spec_calloc(struct spec_ctx *c, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		c->oom = -ENOMEM;
	return p;
}

/* ---- types ---------------------------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

void spec_err_type(struct spec_ctx *c, const json_t *v, const char *expected)
{
	spec_err(c, "expected %s, got %s", expected, type_name(v));
}

/* A string value of at most SPEC_STRING_MAX bytes without NUL; NULL (reported) otherwise. */
const char *spec_get_str(struct spec_ctx *c, const json_t *v, const char *expected)
{
	const char *s;

	if (!json_is_string(v)) {
		spec_err_type(c, v, expected ? expected : "a string");
		return NULL;
	}
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s)) {
		spec_err(c, "contains a NUL character");
		return NULL;
	}
	if (json_string_length(v) > SPEC_STRING_MAX) {
		spec_err(c, "too long (%zu bytes; at most %u)", json_string_length(v),
			 SPEC_STRING_MAX);
		return NULL;
	}
	return s;
}

int spec_get_enum(struct spec_ctx *c, const json_t *v, const char *const *names, size_t n,
		  const char *what)
{
	char list[200] = "";
	const char *s;
	size_t len = 0;

	for (size_t i = 0; i < n && len < sizeof(list); i++) {
		const char *sep = i == 0 ? "" : i + 1 < n ? ", " : " or ";

		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", sep, names[i]);
	}
	if (!json_is_string(v)) {
		spec_err(c, "expected a string (%s), got %s", list, type_name(v));
		return -1;
	}
	s = json_string_value(v);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	spec_err(c, "%s: unknown %s (use %s)", spec_quote(c, s), what, list);
	return -1;
}

/* An array of at most max entries; false (reported) otherwise. */
bool spec_get_array(struct spec_ctx *c, const json_t *v, size_t max, const char *expected,
		    size_t *ret_n)
{
	if (!json_is_array(v)) {
		spec_err_type(c, v, expected);
		return false;
	}
	if (json_array_size(v) > max) {
		spec_err(c, "too many entries (%zu; at most %zu)", json_array_size(v), max);
		return false;
	}
	*ret_n = json_array_size(v);
	return true;
}

static bool get_bool(struct spec_ctx *c, const json_t *v, bool *ret)
{
	if (!json_is_boolean(v)) {
		spec_err_type(c, v, "true or false");
		return false;
	}
	*ret = json_is_true(v);
	return true;
}

/* ---- the object walk ------------------------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static void err_unknown_key(struct spec_ctx *c, const char *key, const struct spec_field *f,
			    size_t nf)
{
	char valid[400] = "", hint[120] = "";
	size_t len = 0, best = 3;

	for (size_t i = 0; i < nf; i++) {
		size_t dist = edit_distance(key, f[i].key);

		len += (size_t)snprintf(valid + len, len < sizeof(valid) ? sizeof(valid) - len : 0,
					"%s%s", i ? ", " : "", f[i].key);
		if (len >= sizeof(valid))
			len = sizeof(valid) - 1;
		if (dist < best && dist < strlen(key)) {
			best = dist;
			snprintf(hint, sizeof(hint), "did you mean \"%s\"? ", f[i].key);
		}
	}
	spec_err(c, "unknown key (%svalid: %s)", hint, valid);
}

void spec_walk(struct spec_ctx *c, const json_t *obj, const struct spec_field *f, size_t nf,
	       void *target)
{
	bool seen[32] = { false };
	json_t *o = (json_t *)obj; /* jansson's iterators are not const-correct */

	for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
		const char *key = json_object_iter_key(it);
		const json_t *v = json_object_iter_value(it);
		size_t i, old;

		for (i = 0; i < nf; i++)
			if (json_object_iter_key_len(it) == strlen(key) &&
			    strcmp(key, f[i].key) == 0)
				break;
		old = path_key(c, key);
		if (i == nf) {
			err_unknown_key(c, key, f, nf);
		} else {
			seen[i] = true;
			f[i].parse(c, v, target);
		}
		spec_path_pop(c, old);
	}
	for (size_t i = 0; i < nf && i < ARRAY_SIZE(seen); i++)
		if (f[i].required && !seen[i])
			spec_err_key(c, f[i].key, "%s", f[i].required);
}

/* ---- names, paths, units (the syntax of each is in spec_net.c) ------------------------------ */

/* A DNS-label name; NULL (reported) otherwise. */
static char *get_name(struct spec_ctx *c, const json_t *v)
{
	const char *s = spec_get_str(c, v, "a string (a DNS label, e.g. \"web\")");
	const char *problem;

	if (!s)
		return NULL;
	problem = spec_name_problem(s);
	if (problem) {
		if (strlen(s) > SPEC_NAME_MAX)
			spec_err(c, "%s: %zu characters; a name has at most 63 (a DNS label)",
				 spec_quote(c, s), strlen(s));
		else
			spec_err(c, "%s: %s", spec_quote(c, s), problem);
		return NULL;
	}
	return spec_strdup(c, s);
}

/* An absolute path without ".." components, normalised ("//a/./b/" -> "/a/b"). */
static char *get_abs_path(struct spec_ctx *c, const json_t *v)
{
	const char *s = spec_get_str(c, v, "a string (an absolute path)");
	char *out, *o;

	if (!s)
		return NULL;
	if (s[0] != '/') {
		spec_err(c, "%s: must be an absolute path (starting with \"/\")", spec_quote(c, s));
		return NULL;
	}
	if (strlen(s) >= PATH_MAX) {
		spec_err(c, "path too long (at most %d bytes)", PATH_MAX - 1);
		return NULL;
	}
	out = o = malloc(strlen(s) + 2);
	if (!out) {
		c->oom = -ENOMEM;
		return NULL;
	}
	for (const char *p = s; *p;) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			spec_err(c, "%s: must not contain \"..\" components", spec_quote(c, s));
			free(out);
			return NULL;
		}
		if (!(n == 1 && p[0] == '.')) {
			*o++ = '/';
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

static void err_size(struct spec_ctx *c, const char *s, int r)
{
	const char *p = s;

	while (isdigit((unsigned char)*p))
		p++;
	if (r == -ERANGE)
		spec_err(c, "%s: too large", spec_quote(c, s));
	else if (p == s)
		spec_err(c, "%s: not a size (e.g. \"256Mi\", \"1G\", \"64Ki\")", spec_quote(c, s));
	else if (*p == '.')
		spec_err(c, "%s: fractions are not supported; use a smaller unit (e.g. \"1536Mi\")",
			 spec_quote(c, s));
	else
		spec_err(c, "%s: unknown unit (use Ki, Mi, Gi, Ti or k, M, G, T)",
			 spec_quote(c, s));
}

/* A size: "256Mi" or an integer of bytes; > 0. */
static bool get_size(struct spec_ctx *c, const json_t *v, uint64_t *ret)
{
	const char *s;
	int r;

	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0) {
			spec_err(c, "must be greater than 0 (omit it for no limit)");
			return false;
		}
		*ret = (uint64_t)json_integer_value(v);
		return true;
	}
	s = spec_get_str(c, v, "a size string (e.g. \"256Mi\")");
	if (!s)
		return false;
	r = parse_size(s, ret);
	if (r < 0) {
		err_size(c, s, r);
		return false;
	}
	if (*ret == 0) {
		spec_err(c, "%s: must be greater than 0 (omit it for no limit)", spec_quote(c, s));
		return false;
	}
	return true;
}

/* ---- volumes -------------------------------------------------------------------------------- */

static void p_vol_name(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_volume *)t)->name = get_name(c, v);
}

static void p_vol_host_path(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_volume *)t)->host_path = get_abs_path(c, v);
}

static void p_vol_tmpfs(struct spec_ctx *c, const json_t *v, void *t)
{
	get_size(c, v, &((struct spec_volume *)t)->tmpfs_size);
}

static const struct spec_field volume_fields[] = {
	{ "name", p_vol_name, "required (a DNS label, e.g. \"data\")" },
	{ "host_path", p_vol_host_path, NULL },
	{ "tmpfs", p_vol_tmpfs, NULL },
};

static void p_volumes(struct spec_ctx *c, const json_t *v, void *t)
{
	struct pod_spec *s = t;
	size_t n;

	if (!spec_get_array(c, v, SPEC_VOLUMES_MAX, "an array of volume objects", &n))
		return;
	if (!(s->volumes = spec_calloc(c, n, sizeof(*s->volumes))))
		return;
	s->n_volumes = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		struct spec_volume *vol = &s->volumes[i];
		size_t old = spec_path_index(c, i);

		if (!json_is_object(e)) {
			spec_err_type(c, e, "an object {name, host_path | tmpfs}");
			spec_path_pop(c, old);
			continue;
		}
		SPEC_WALK(c, e, volume_fields, vol);
		if (json_object_get(e, "host_path") && json_object_get(e, "tmpfs"))
			spec_err(c,
				 "host_path and tmpfs exclude each other (omit both for a volume "
				 "managed by tank)");
		SPEC_DUP_CHECK(c, s->volumes, i, name, "name", "volume name", "volumes");
		spec_path_pop(c, old);
	}
}

/* ---- containers ----------------------------------------------------------------------------- */

static void p_ctr_name(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_container *)t)->name = get_name(c, v);
}

static void p_ctr_rootfs(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_container *)t)->rootfs = get_abs_path(c, v);
}

static const struct spec_field image_fields[] = {
	{ "rootfs", p_ctr_rootfs,
	  "required (an absolute directory, e.g. {\"rootfs\": \"/srv/root\"})" },
};

static void p_ctr_image(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_container *ctr = t;
	const char *s;

	if (json_is_object(v)) {
		SPEC_WALK(c, v, image_fields, ctr);
		return;
	}
	s = spec_get_str(c, v, "an image reference string or {\"rootfs\": \"/abs/dir\"}");
	if (!s)
		return;
	if (!*s) {
		spec_err(c, "empty image reference (e.g. \"127.0.0.1:5000/web:1.0\" or "
			    "\"oci:/srv/images/web:1.0\")");
		return;
	}
	if (strncmp(s, "oci:", 4) == 0 && s[4] != '/') {
		spec_err(c,
			 "%s: an OCI layout path must be absolute (e.g. "
			 "\"oci:/srv/images/web:1.0\")",
			 spec_quote(c, s));
		return;
	}
	for (const char *p = s; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("._-/:@+", *p)) {
			spec_err(c, "%s: not an image reference (allowed: a-z, A-Z, 0-9, ._-/:@)",
				 spec_quote(c, s));
			return;
		}
	}
	ctr->image = spec_strdup(c, s);
}

static char **get_strv(struct spec_ctx *c, const json_t *v, bool allow_empty, const char *empty_msg)
{
	char **r;
	size_t n;

	if (!spec_get_array(c, v, SPEC_ARGV_MAX, "an array of strings", &n))
		return NULL;
	if (n == 0 && !allow_empty) {
		spec_err(c, "%s", empty_msg);
		return NULL;
	}
	if (!(r = spec_calloc(c, n + 1, sizeof(char *))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t old = spec_path_index(c, i);
		const char *s = spec_get_str(c, json_array_get(v, i), NULL);

		if (s)
			r[i] = spec_strdup(c, s);
		spec_path_pop(c, old);
		if (!r[i]) { /* keep the vector NULL-terminated at the first hole */
			for (size_t j = i + 1; j < n; j++) {
				old = spec_path_index(c, j);
				spec_get_str(c, json_array_get(v, j), NULL);
				spec_path_pop(c, old);
			}
			break;
		}
	}
	return r;
}

static void p_ctr_command(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_container *)t)->command =
		get_strv(c, v, false, "empty command; omit it to use the image's entrypoint");
}

static void p_ctr_args(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_container *)t)->args = get_strv(c, v, true, NULL);
}

/* "K=V" ordered by K ('=' ends a key). */
static int env_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	for (;; x++, y++) {
		unsigned char cx = *x == '=' ? 0 : (unsigned char)*x;
		unsigned char cy = *y == '=' ? 0 : (unsigned char)*y;

		if (cx != cy || cx == 0)
			return (int)cx - (int)cy;
	}
}

static void p_ctr_env(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_container *ctr = t;
	json_t *o = (json_t *)v;
	size_t n = 0;
	char **env;

	if (!json_is_object(v)) {
		spec_err_type(c, v, "an object {\"NAME\": \"value\"}");
		return;
	}
	if (json_object_size(v) > SPEC_ENV_MAX) {
		spec_err(c, "too many variables (%zu; at most %u)", json_object_size(v),
			 SPEC_ENV_MAX);
		return;
	}
	if (!(env = spec_calloc(c, json_object_size(v) + 1, sizeof(char *))))
		return;
	for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
		const char *key = json_object_iter_key(it);
		size_t old = path_key(c, key);
		const char *val;

		if (!*key || strchr(key, '=') || json_object_iter_key_len(it) != strlen(key) ||
		    strlen(key) > SPEC_STRING_MAX) {
			spec_err(c, "a variable name must be non-empty and cannot contain '='");
		} else if ((val = spec_get_str(c, json_object_iter_value(it),
					       "a string (numbers and booleans must be quoted)"))) {
			if (!(env[n] = strdup_printf("%s=%s", key, val)))
				c->oom = -ENOMEM;
			else
				n++;
		}
		spec_path_pop(c, old);
	}
	qsort(env, n, sizeof(char *), env_cmp);
	ctr->env = env;
}

static void p_ctr_working_dir(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_container *)t)->working_dir = get_abs_path(c, v);
}

static void p_ctr_user(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_container *ctr = t;
	const char *s = spec_get_str(c, v,
				     "a string (name|uid[:group|gid], e.g. \"www-data\" or "
				     "\"1000:1000\")");
	const char *colon;

	if (!s)
		return;
	colon = strchr(s, ':');
	for (const char *p = s; *p; p++) {
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) || *p == '/' ||
		    (*p == ':' && p != colon)) {
			colon = s; /* force the error below */
			break;
		}
	}
	if (!*s || colon == s || (colon && !colon[1]))
		spec_err(c,
			 "%s: expected name|uid[:group|gid] (e.g. \"www-data\", \"1000\", "
			 "\"1000:1000\")",
			 spec_quote(c, s));
	else
		ctr->user = spec_strdup(c, s);
}

static void p_ctr_tty(struct spec_ctx *c, const json_t *v, void *t)
{
	get_bool(c, v, &((struct spec_container *)t)->tty);
}

static bool volume_declared(const struct spec_ctx *c, const char *name)
{
	size_t i;
	const json_t *e;

	if (!json_is_array(c->volumes))
		return false;
	json_array_foreach(c->volumes, i, e)
		if (json_is_string(json_object_get(e, "name")) &&
		    strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
			return true;
	return false;
}

static void p_mnt_volume(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_mount *m = t;
	const char *s = spec_get_str(c, v, "a string (the name of a volume in \"volumes\")");
	char names[300] = "";
	size_t len = 0, i;
	const json_t *e;

	if (!s)
		return;
	if (volume_declared(c, s)) {
		m->volume = spec_strdup(c, s);
		return;
	}
	if (c->volumes && !json_is_array(c->volumes))
		return; /* "volumes" itself is wrong and reported */
	json_array_foreach(c->volumes, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));

		if (n && len < sizeof(names))
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
						len ? ", " : "", n);
	}
	if (len)
		spec_err(c, "%s: no such volume (declared: %s)", spec_quote(c, s), names);
	else
		spec_err(c, "%s: no such volume (declare it in \"volumes\", e.g. {\"name\": %s})",
			 spec_quote(c, s), spec_quote(c, s));
}

static void p_mnt_path(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_mount *m = t;
	char *p = get_abs_path(c, v);

	if (p && strcmp(p, "/") == 0) {
		spec_err(c, "cannot mount a volume over \"/\"");
		free(p);
		return;
	}
	m->path = p;
}

static void p_mnt_read_only(struct spec_ctx *c, const json_t *v, void *t)
{
	get_bool(c, v, &((struct spec_mount *)t)->read_only);
}

static const struct spec_field mount_fields[] = {
	{ "volume", p_mnt_volume, "required (the name of a volume in \"volumes\")" },
	{ "path", p_mnt_path, "required (where the volume appears, an absolute path)" },
	{ "read_only", p_mnt_read_only, NULL },
};

static void p_ctr_mounts(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_container *ctr = t;
	size_t n;

	if (!spec_get_array(c, v, SPEC_MOUNTS_MAX, "an array of mount objects", &n))
		return;
	if (!(ctr->mounts = spec_calloc(c, n, sizeof(*ctr->mounts))))
		return;
	ctr->n_mounts = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		struct spec_mount *m = &ctr->mounts[i];
		size_t old = spec_path_index(c, i);

		if (!json_is_object(e)) {
			spec_err_type(c, e, "an object {volume, path, read_only}");
			spec_path_pop(c, old);
			continue;
		}
		SPEC_WALK(c, e, mount_fields, m);
		SPEC_DUP_CHECK(c, ctr->mounts, i, path, "path", "mount path", "mounts");
		spec_path_pop(c, old);
	}
}

static void p_lim_memory(struct spec_ctx *c, const json_t *v, void *t)
{
	get_size(c, v, &((struct spec_limits *)t)->memory);
}

/* "500m", "0.5", "2" or a JSON number of CPUs -> millicores. */
static void p_lim_cpu(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_limits *l = t;
	const char *s;
	char why[200];

	if (json_is_integer(v) || json_is_real(v)) {
		double x = json_number_value(v);
		uint64_t milli = (uint64_t)(x * 1000 + 0.5);

		if (!(x > 0) || x > SPEC_CPU_MAX_MILLI / 1000)
			spec_err(c, "%g: out of range (more than 0, at most %u CPUs)", x,
				 SPEC_CPU_MAX_MILLI / 1000);
		else if (milli == 0 || (double)milli - x * 1000 > 1e-6 ||
			 x * 1000 - (double)milli > 1e-6)
			spec_err(c, "%g: finer than a millicore (use e.g. \"500m\" or 0.5)", x);
		else
			l->cpu_milli = milli;
		return;
	}
	s = spec_get_str(c, v, "a string (e.g. \"500m\", \"0.5\", \"2\")");
	if (s && spec_cpu_parse(s, &l->cpu_milli, why, sizeof(why)) < 0)
		spec_err(c, "%s: %s", spec_quote(c, s), why);
}

static void p_lim_pids(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_limits *l = t;

	if (!json_is_integer(v)) {
		spec_err_type(c, v, "an integer (e.g. 128)");
		return;
	}
	if (json_integer_value(v) < 1 || json_integer_value(v) > SPEC_PIDS_MAX) {
		spec_err(c, "%lld: out of range (1-%u)", json_integer_value(v), SPEC_PIDS_MAX);
		return;
	}
	l->pids = (uint64_t)json_integer_value(v);
}

static const struct spec_field limits_fields[] = {
	{ "memory", p_lim_memory, NULL },
	{ "cpu", p_lim_cpu, NULL },
	{ "pids", p_lim_pids, NULL },
};

static void p_ctr_limits(struct spec_ctx *c, const json_t *v, void *t)
{
	if (!json_is_object(v)) {
		spec_err_type(c, v, "an object {memory, cpu, pids}");
		return;
	}
	SPEC_WALK(c, v, limits_fields, &((struct spec_container *)t)->limits);
}

static void p_ctr_stop_signal(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_container *ctr = t;
	const char *s;
	int sig;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > SPEC_SIGNAL_MAX)
			spec_err(c, "%lld: not a signal number (1-%d)", json_integer_value(v),
				 SPEC_SIGNAL_MAX);
		else
			ctr->stop_signal = (int)json_integer_value(v);
		return;
	}
	s = spec_get_str(c, v, "a signal name or number (e.g. \"SIGTERM\", \"TERM\", 15)");
	if (!s)
		return;
	sig = spec_signal_parse(s);
	if (sig < 0)
		spec_err(c,
			 "%s: unknown signal (use a name like \"SIGTERM\" or \"TERM\", or a number "
			 "1-%d)",
			 spec_quote(c, s), SPEC_SIGNAL_MAX);
	else
		ctr->stop_signal = sig;
}

static void p_ctr_stop_grace(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_container *ctr = t;
	const char *s = spec_get_str(c, v, "a duration string (e.g. \"10s\", \"500ms\", \"2m\")");
	const char *p;
	int r;

	if (!s)
		return;
	r = parse_duration_ms(s, &ctr->stop_grace_ms);
	if (r == 0)
		return;
	for (p = s; isdigit((unsigned char)*p); p++)
		;
	if (r == -ERANGE)
		spec_err(c, "%s: too large", spec_quote(c, s));
	else if (p != s && !*p)
		spec_err(c, "%s: missing unit (e.g. \"%s\")", spec_quote(c, s), "10s");
	else
		spec_err(c,
			 "%s: not a duration (use a number with ms, s, m or h, e.g. \"10s\", "
			 "\"1m30s\")",
			 spec_quote(c, s));
}

/* Capability names as capabilities(7) spells them, with or without CAP_, any case; or ALL. */
static char **get_caps(struct spec_ctx *c, const json_t *v)
{
	static const char *const known[] = {
		"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
		"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
		"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
		"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
		"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
		"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
		"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE", "ALL",
	};
	char **r = get_strv(c, v, true, NULL);

	for (size_t i = 0; r && r[i]; i++) {
		const char *name = r[i];
		bool ok = false;

		if (!strncasecmp(name, "CAP_", 4))
			name += 4;
		for (size_t k = 0; k < ARRAY_SIZE(known) && !ok; k++)
			ok = !strcasecmp(name, known[k]);
		if (!ok) {
			size_t old = spec_path_index(c, i);

			spec_err(c, "%s: unknown capability (e.g. \"NET_RAW\", \"NET_ADMIN\"; see "
				    "capabilities(7))",
				 spec_quote(c, r[i]));
			spec_path_pop(c, old);
		}
	}
	return r;
}

static void p_cap_add(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_container *)t)->cap_add = get_caps(c, v);
}

static void p_cap_drop(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct spec_container *)t)->cap_drop = get_caps(c, v);
}

static const struct spec_field caps_fields[] = {
	{ "add", p_cap_add, NULL },
	{ "drop", p_cap_drop, NULL },
};

static void p_ctr_caps(struct spec_ctx *c, const json_t *v, void *t)
{
	if (!json_is_object(v)) {
		spec_err_type(c, v, "an object {\"add\": [...], \"drop\": [...]}");
		return;
	}
	SPEC_WALK(c, v, caps_fields, t);
}

static void p_ctr_seccomp(struct spec_ctx *c, const json_t *v, void *t)
{
	const char *s = spec_get_str(c, v, "\"default\" or \"unconfined\"");

	if (!s)
		return;
	if (strcmp(s, "default") && strcmp(s, "unconfined"))
		spec_err(c, "%s: use \"default\" (Docker's allowlist) or \"unconfined\"",
			 spec_quote(c, s));
	((struct spec_container *)t)->seccomp_unconfined = !strcmp(s, "unconfined");
}

static void p_ctr_pull(struct spec_ctx *c, const json_t *v, void *t)
{
	const char *s = spec_get_str(c, v, "\"if_not_present\", \"always\" or \"never\"");
	struct spec_container *ctr = t;

	if (!s)
		return;
	if (!strcmp(s, "if_not_present"))
		ctr->pull = PULL_IF_NOT_PRESENT;
	else if (!strcmp(s, "always"))
		ctr->pull = PULL_ALWAYS;
	else if (!strcmp(s, "never"))
		ctr->pull = PULL_NEVER;
	else
		spec_err(c, "%s: unknown pull policy (use if_not_present, always or never)",
			 spec_quote(c, s));
}

static const struct spec_field container_fields[] = {
	{ "name", p_ctr_name, "required (a DNS label, e.g. \"app\")" },
	{ "image", p_ctr_image,
	  "required (an image reference, \"oci:/abs/layout[:tag]\" or {\"rootfs\": \"/abs\"})" },
	{ "command", p_ctr_command, NULL },
	{ "args", p_ctr_args, NULL },
	{ "env", p_ctr_env, NULL },
	{ "working_dir", p_ctr_working_dir, NULL },
	{ "user", p_ctr_user, NULL },
	{ "tty", p_ctr_tty, NULL },
	{ "mounts", p_ctr_mounts, NULL },
	{ "limits", p_ctr_limits, NULL },
	{ "stop_signal", p_ctr_stop_signal, NULL },
	{ "stop_grace", p_ctr_stop_grace, NULL },
	{ "capabilities", p_ctr_caps, NULL },
	{ "seccomp", p_ctr_seccomp, NULL },
	{ "pull", p_ctr_pull, NULL },
};

static void p_containers(struct spec_ctx *c, const json_t *v, void *t)
{
	struct pod_spec *s = t;
	size_t n;

	if (!spec_get_array(c, v, SPEC_CONTAINERS_MAX, "an array of container objects", &n))
		return;
	if (n == 0) {
		spec_err(c, "a pod needs at least one container");
		return;
	}
	if (!(s->containers = spec_calloc(c, n, sizeof(*s->containers))))
		return;
	s->n_containers = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		struct spec_container *ctr = &s->containers[i];
		size_t old = spec_path_index(c, i);

		ctr->stop_grace_ms = SPEC_STOP_GRACE_DEFAULT_MS;
		if (!json_is_object(e)) {
			spec_err_type(c, e, "an object {name, image, ...}");
			spec_path_pop(c, old);
			continue;
		}
		SPEC_WALK(c, e, container_fields, ctr);
		SPEC_DUP_CHECK(c, s->containers, i, name, "name", "container name", "containers");
		spec_path_pop(c, old);
	}
}

/* ---- the pod -------------------------------------------------------------------------------- */

static void p_pod_name(struct spec_ctx *c, const json_t *v, void *t)
{
	((struct pod_spec *)t)->name = get_name(c, v);
}

static void p_share_pid(struct spec_ctx *c, const json_t *v, void *t)
{
	get_bool(c, v, &((struct pod_spec *)t)->share_pid);
}

static void p_restart(struct spec_ctx *c, const json_t *v, void *t)
{
	static const char *const names[] = {
		[RESTART_ALWAYS] = "always",
		[RESTART_ON_FAILURE] = "on_failure",
		[RESTART_NEVER] = "never",
	};
	int r = spec_get_enum(c, v, names, ARRAY_SIZE(names), "restart policy");

	if (r >= 0)
		((struct pod_spec *)t)->restart = (enum restart_policy)r;
}

static const struct spec_field pod_fields[] = {
	{ "name", p_pod_name, "required (a DNS label, e.g. \"web\")" },
	{ "restart", p_restart, NULL },
	{ "network", spec_parse_network, NULL },
	{ "volumes", p_volumes, NULL },
	{ "share_pid", p_share_pid, NULL },
	{ "containers", p_containers, "required (at least one container)" },
};

static void spec_rule_array_free(struct spec_rule *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].peers);
		free(r[i].ports);
	}
	free(r);
}

void pod_spec_free(struct pod_spec *s)
{
	if (!s)
		return;
	free(s->name);
	for (size_t i = 0; s->nics && i < s->n_nics; i++) {
		free(s->nics[i].name);
		free(s->nics[i].parent);
		free(s->nics[i].ipam);
		strv_free(s->nics[i].ipam_more);
		free(s->nics[i].routes);
		free(s->nics[i].addrs);
		free(s->nics[i].mac);
	}
	free(s->nics);
	strv_free(s->dns);
	spec_rule_array_free(s->policy.ingress, s->policy.n_ingress);
	spec_rule_array_free(s->policy.egress, s->policy.n_egress);
	for (size_t i = 0; s->volumes && i < s->n_volumes; i++) {
		free(s->volumes[i].name);
		free(s->volumes[i].host_path);
	}
	free(s->volumes);
	for (size_t i = 0; s->containers && i < s->n_containers; i++) {
		struct spec_container *ctr = &s->containers[i];

		free(ctr->name);
		free(ctr->image);
		free(ctr->rootfs);
		strv_free(ctr->command);
		strv_free(ctr->args);
		strv_free(ctr->cap_add);
		strv_free(ctr->cap_drop);
		strv_free(ctr->env);
		free(ctr->working_dir);
		free(ctr->user);
		for (size_t j = 0; ctr->mounts && j < ctr->n_mounts; j++) {
			free(ctr->mounts[j].volume);
			free(ctr->mounts[j].path);
		}
		free(ctr->mounts);
	}
	free(s->containers);
	free(s);
}

const struct spec_host *spec_host(struct spec_ctx *c)
{
	return c->host;
}

int spec_parse(const json_t *doc, struct pod_spec **ret, json_t **ret_errors, struct diag *d)
{
	return spec_parse_host(doc, NULL, ret, ret_errors, d);
}

int spec_parse_host(const json_t *doc, const struct spec_host *host, struct pod_spec **ret,
		    json_t **ret_errors, struct diag *d)
{
	struct spec_ctx *c;
	struct pod_spec *s;
	int r;

	c = calloc(1, sizeof(*c));
	s = calloc(1, sizeof(*s));
	if (!c || !s || !(c->errors = json_array())) {
		free(c);
		free(s);
		return diag_fail(d, -ENOMEM, "out of memory parsing the pod spec");
	}
	c->d = d;
	c->host = host;
	if (!doc || !json_is_object(doc)) {
		spec_err(c,
			 "a pod spec is a JSON object {name, restart, network, volumes, "
			 "containers}, "
			 "got %s",
			 doc ? type_name(doc) : "nothing");
	} else {
		c->volumes = json_object_get(doc, "volumes");
		SPEC_WALK(c, doc, pod_fields, s);
	}

	if (c->oom) {
		r = diag_fail(d, -ENOMEM, "out of memory parsing the pod spec");
	} else if (c->n_errors) {
		r = -EINVAL;
		if (ret_errors)
			*ret_errors = json_incref(c->errors);
	} else {
		*ret = TAKE_PTR(s);
		if (ret_errors)
			*ret_errors = NULL;
		r = 0;
	}
	json_decref(c->errors);
	free(c);
	pod_spec_free(s);
	return r;
}
