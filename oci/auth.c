/* auth.c - registry authentication: WWW-Authenticate, docker config credentials, tokens. */
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <string.h>

#include <openssl/evp.h>

#include "oci/oci.h"

#define WWWAUTH_MAX (8u << 10)	/* a WWW-Authenticate value */
#define AUTH_PARAM_MAX (2u << 10) /* one parameter value */
#define AUTH_PARAMS_MAX 64	/* parameters and challenges in one value */
#define AUTH_FILE_MAX (1u << 20)
#define CRED_MAX 4096		/* decoded user:password */
#define TOKEN_MAX (16u << 10)	/* a token goes into a header line */
#define TOKEN_CACHE_SIZE 64
#define TOKEN_DEFAULT_EXPIRY_S 60
#define TOKEN_MAX_EXPIRY_S 86400
#define DEFAULT_AUTH_FILE "/etc/tank/auth.json"

/* ---- WWW-Authenticate (RFC 7235), by hand: no listed library parses it ------------------- */

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token68_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~+/", c));
}

static void skip_sp(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static size_t token_len(const char *p)
{
	size_t n = 0;

	while (is_tchar(p[n]))
		n++;
	return n;
}

/* A quoted-string at *p (which is '"'): unescaped into a new string. */
static int read_quoted(const char **p, char **ret)
{
	const char *q = *p + 1;
	_cleanup_free_ char *out = malloc(AUTH_PARAM_MAX + 1);
	size_t n = 0;

	if (!out)
		return -ENOMEM;
	for (;; q++) {
		char c = *q;

		if (c == '\0')
			return -EINVAL; /* unterminated */
		if (c == '"')
			break;
		if (c == '\\') {
			c = *++q;
			if (c == '\0')
				return -EINVAL;
		}
		if ((unsigned char)c < 0x20 && c != '\t')
			return -EINVAL;
		if (n >= AUTH_PARAM_MAX)
			return -E2BIG;
		out[n++] = c;
	}
	out[n] = '\0';
	*p = q + 1;
	*ret = TAKE_PTR(out);
	return 0;
}

void oci_auth_challenge_clear(struct oci_auth_challenge *c)
{
	if (!c)
		return;
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

static enum oci_auth_scheme scheme_of(const char *s, size_t n)
{
	if (n == 6 && strncasecmp(s, "bearer", 6) == 0)
		return OCI_AUTH_BEARER;
	if (n == 5 && strncasecmp(s, "basic", 5) == 0)
		return OCI_AUTH_BASIC;
	return OCI_AUTH_NONE;
}

/* Keep the first value of the parameters we use. */
static int set_param(struct oci_auth_challenge *c, const char *name, size_t n, char **value)
{
	static const struct {
		const char *name;
		size_t off;
	} known[] = {
		{ "realm", offsetof(struct oci_auth_challenge, realm) },
		{ "service", offsetof(struct oci_auth_challenge, service) },
		{ "scope", offsetof(struct oci_auth_challenge, scope) },
		{ "error", offsetof(struct oci_auth_challenge, error) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		char **slot = (char **)((char *)c + known[i].off);

		if (strlen(known[i].name) == n && strncasecmp(known[i].name, name, n) == 0) {
			if (!*slot)
				*slot = TAKE_PTR(*value);
			return 0;
		}
	}
	return 0;
}

int oci_wwwauth_parse(const char *value, struct oci_auth_challenge *ret, struct diag *d)
{
	struct oci_auth_challenge bearer = {}, basic = {};
	const char *p = value;
	unsigned items = 0;
	int r = 0;

	if (!value)
		return diag_fail(d, -EINVAL, "registry sent no WWW-Authenticate challenge");
	if (strlen(value) > WWWAUTH_MAX)
		return diag_fail(d, -E2BIG, "registry's WWW-Authenticate header is too long");
	for (;;) {
		struct oci_auth_challenge cur = {};
		enum oci_auth_scheme scheme;
		bool first = true;
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		n = token_len(p);
		if (n == 0) {
			r = -EINVAL;
			break;
		}
		scheme = scheme_of(p, n);
		cur.scheme = scheme;
		p += n;
		/* parameters (or one token68) up to the next challenge */
		for (;;) {
			_cleanup_free_ char *v = NULL;
			const char *name, *q;
			size_t nl;

			skip_sp(&p);
			if (!*p)
				break;
			if (++items > AUTH_PARAMS_MAX) {
				r = -E2BIG;
				break;
			}
			q = p;
			if (first && *q != ',' && !is_tchar(*q) && !is_token68_char(*q)) {
				r = -EINVAL;
				break;
			}
			name = q;
			nl = token_len(q);
			q += nl;
			skip_sp(&q);
			if (nl > 0 && *q == '=' && q[1] != '=') {
				q++;
				skip_sp(&q);
				if (*q == '"') {
					r = read_quoted(&q, &v);
					if (r < 0)
						break;
				} else {
					size_t vl = token_len(q);

					if (vl > AUTH_PARAM_MAX) {
						r = -E2BIG;
						break;
					}
					v = strndup(q, vl);
					if (!v) {
						r = -ENOMEM;
						break;
					}
					q += vl;
				}
				r = set_param(&cur, name, nl, &v);
				if (r < 0)
					break;
				p = q;
				skip_sp(&p);
				if (*p == ',') {
					p++;
					while (*p == ' ' || *p == '\t' || *p == ',')
						p++;
				} else if (*p) {
					r = -EINVAL;
					break;
				}
				first = false;
				continue;
			}
			if (first && nl > 0) {
				/* token68 (e.g. Negotiate data): skip it */
				while (is_token68_char(*p))
					p++;
				while (*p == '=')
					p++;
				skip_sp(&p);
				if (*p && *p != ',') {
					r = -EINVAL;
					break;
				}
				first = false;
				continue;
			}
			break; /* the next challenge starts at p */
		}
		if (r < 0) {
			oci_auth_challenge_clear(&cur);
			break;
		}
		if (scheme == OCI_AUTH_BEARER && bearer.scheme == OCI_AUTH_NONE)
			bearer = cur;
		else if (scheme == OCI_AUTH_BASIC && basic.scheme == OCI_AUTH_NONE)
			basic = cur;
		else
			oci_auth_challenge_clear(&cur);
	}
	if (r < 0) {
		oci_auth_challenge_clear(&bearer);
		oci_auth_challenge_clear(&basic);
		return diag_fail(d, r == -ENOMEM ? r : -EINVAL,
				 "registry sent a malformed WWW-Authenticate header");
	}
	if (bearer.scheme == OCI_AUTH_BEARER) {
		oci_auth_challenge_clear(&basic);
		if (!bearer.realm || !*bearer.realm) {
			oci_auth_challenge_clear(&bearer);
			return diag_fail(d, -EINVAL,
					 "registry sent a Bearer challenge without a realm");
		}
		*ret = bearer;
		return 0;
	}
	if (basic.scheme == OCI_AUTH_BASIC) {
		*ret = basic;
		return 0;
	}
	return diag_fail(d, -EPROTONOSUPPORT,
			 "registry asks for an authentication scheme other than Bearer or Basic");
}

/* ---- credentials from a docker config file -------------------------------------------------- */

void oci_credentials_clear(struct oci_credentials *c)
{
	if (!c)
		return;
	if (c->user) {
		explicit_bzero(c->user, strlen(c->user));
		free(c->user);
	}
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	c->user = c->password = NULL;
}

static bool is_docker_hub(const char *host, size_t n)
{
	static const char *const names[] = { "docker.io", "index.docker.io",
					     "registry-1.docker.io" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == n && strncasecmp(host, names[i], n) == 0)
			return true;
	return false;
}

/* An "auths" key ("https://index.docker.io/v1/", "host:5000", "http://host") names registry. */
static bool key_matches(const char *key, const char *registry)
{
	size_t n;

	if (strncasecmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncasecmp(key, "http://", 7) == 0)
		key += 7;
	n = strcspn(key, "/");
	if (strlen(registry) == n && strncasecmp(key, registry, n) == 0)
		return true;
	return is_docker_hub(registry, strlen(registry)) && is_docker_hub(key, n);
}

static int decode_auth(const char *b64, struct oci_credentials *ret)
{
	_cleanup_free_ unsigned char *out = NULL;
	_cleanup_free_ char *in = NULL;
	size_t len = strlen(b64), pad = 0;
	char *colon;
	int n;

	while (len && (b64[len - 1] == '\n' || b64[len - 1] == ' '))
		len--;
	if (len == 0 || len > CRED_MAX * 2)
		return -EINVAL;
	in = malloc(len + 4);
	out = malloc(len + 4);
	if (!in || !out)
		return -ENOMEM;
	memcpy(in, b64, len);
	while (len % 4) /* tolerate missing padding */
		in[len++] = '=';
	in[len] = '\0';
	for (size_t i = len; i > 0 && in[i - 1] == '='; i--)
		pad++;
	n = EVP_DecodeBlock(out, (unsigned char *)in, (int)len);
	explicit_bzero(in, len);
	if (n < 0 || pad > 2 || (size_t)n < pad)
		return -EINVAL;
	n -= (int)pad;
	out[n] = '\0';
	if (strlen((char *)out) != (size_t)n) {
		explicit_bzero(out, (size_t)n);
		return -EINVAL;
	}
	colon = strchr((char *)out, ':');
	if (!colon || colon == (char *)out) {
		explicit_bzero(out, (size_t)n);
		return -EINVAL;
	}
	ret->user = strndup((char *)out, (size_t)(colon - (char *)out));
	ret->password = strdup(colon + 1);
	explicit_bzero(out, (size_t)n);
	if (!ret->user || !ret->password) {
		oci_credentials_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

int oci_auth_config_parse(const char *buf, size_t len, const char *registry,
			  struct oci_credentials *ret, struct diag *d)
{
	_cleanup_json_ json_t *j = NULL;
	const json_t *auths, *e;
	const char *key;
	int r;

	r = json_parse_buf(buf, len, &j, d);
	if (r < 0)
		return r;
	if (!json_is_object(j))
		return diag_fail(d, -EINVAL, "not a JSON object");
	auths = json_object_get(j, "auths");
	if (!auths)
		return -ENOENT;
	if (!json_is_object(auths))
		return diag_fail(d, -EINVAL, "\"auths\" is not an object");
	json_object_foreach((json_t *)auths, key, e) {
		const char *a = json_str(e, "auth", NULL);
		const char *u = json_str(e, "username", NULL);
		const char *p = json_str(e, "password", NULL);

		if (!key_matches(key, registry))
			continue;
		if (!json_is_object(e))
			return diag_fail(d, -EINVAL, "auths.\"%.100s\" is not an object", key);
		if (a && *a) {
			r = decode_auth(a, ret);
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				return diag_fail(d, -EINVAL,
						 "auths.\"%.100s\".auth is not base64 of "
						 "\"user:password\"",
						 key);
			return 0;
		}
		if (u && *u && p) {
			ret->user = strdup(u);
			ret->password = strdup(p);
			if (!ret->user || !ret->password) {
				oci_credentials_clear(ret);
				return -ENOMEM;
			}
			return 0;
		}
	}
	return -ENOENT;
}

static int lookup_file(const char *path, const char *registry, struct oci_credentials *ret,
		       struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = fs_read_all(AT_FDCWD, path, AUTH_FILE_MAX, &buf, &len);
	if (r == -ENOENT || r == -ENOTDIR)
		return -ENOENT;
	if (r < 0)
		return diag_fail_at(d, r, path, "credentials file %s: %s", path, strerror(-r));
	r = oci_auth_config_parse(buf, len, registry, ret, d);
	explicit_bzero(buf, len);
	if (r < 0 && r != -ENOENT)
		diag_prefix(d, "credentials file %s: ", path);
	return r;
}

int oci_auth_lookup(const char *auth_file, const char *registry, struct oci_credentials *ret,
		    char **ret_source, struct diag *d)
{
	_cleanup_free_ char *home_file = NULL;
	const char *files[2] = { auth_file, NULL };
	int r = -ENOENT;

	if (!auth_file) {
		const char *home = getenv("HOME");
		struct passwd *pw;

		if (!home || home[0] != '/') {
			pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		files[0] = DEFAULT_AUTH_FILE;
		if (home && home[0] == '/')
			files[1] = home_file = strdup_printf("%s/.docker/config.json", home);
	}
	for (size_t i = 0; i < ARRAY_SIZE(files) && r == -ENOENT; i++) {
		if (!files[i])
			continue;
		r = lookup_file(files[i], registry, ret, d);
		if (r == 0 && ret_source) {
			*ret_source = strdup(files[i]);
			if (!*ret_source) {
				oci_credentials_clear(ret);
				return -ENOMEM;
			}
		}
	}
	return r;
}

/* ---- tokens -------------------------------------------------------------------------------- */

int oci_token_parse(const char *buf, size_t len, char **ret_token, uint64_t *ret_expires_s,
		    struct diag *d)
{
	_cleanup_json_ json_t *j = NULL;
	const char *t;
	long long exp;
	int r;

	r = json_parse_buf(buf, len, &j, d);
	if (r < 0) {
		diag_prefix(d, "token server reply: ");
		return r;
	}
	t = json_str(j, "token", NULL);
	if (!t || !*t)
		t = json_str(j, "access_token", NULL);
	if (!t || !*t)
		return diag_fail(d, -EINVAL, "token server reply has no token");
	if (strlen(t) > TOKEN_MAX)
		return diag_fail(d, -E2BIG, "token server sent a token longer than %u bytes",
				 TOKEN_MAX);
	/* it goes into an Authorization header: visible ASCII only */
	for (const char *c = t; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return diag_fail(d, -EINVAL,
					 "token server sent a token with invalid characters");
	exp = json_int(j, "expires_in", TOKEN_DEFAULT_EXPIRY_S);
	if (exp <= 0)
		exp = TOKEN_DEFAULT_EXPIRY_S;
	if (exp > TOKEN_MAX_EXPIRY_S)
		exp = TOKEN_MAX_EXPIRY_S;
	*ret_token = strdup(t);
	if (!*ret_token)
		return -ENOMEM;
	if (ret_expires_s)
		*ret_expires_s = (uint64_t)exp;
	return 0;
}

struct token_entry {
	char *key;
	char *token;
	uint64_t expires_ms; /* monotonic */
};

static struct token_entry token_cache[TOKEN_CACHE_SIZE];
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;

static void entry_clear(struct token_entry *e)
{
	free(e->key);
	if (e->token) {
		explicit_bzero(e->token, strlen(e->token));
		free(e->token);
	}
	memset(e, 0, sizeof(*e));
}

char *oci_token_cache_get(const char *key)
{
	uint64_t now = now_mono_ms();
	char *out = NULL;

	pthread_mutex_lock(&token_lock);
	for (size_t i = 0; i < TOKEN_CACHE_SIZE; i++) {
		struct token_entry *e = &token_cache[i];

		if (!e->key || strcmp(e->key, key) != 0)
			continue;
		/* a token about to expire is as good as expired */
		if (e->expires_ms > now + 5000)
			out = strdup(e->token);
		else
			entry_clear(e);
		break;
	}
	pthread_mutex_unlock(&token_lock);
	return out;
}

void oci_token_cache_put(const char *key, const char *token, uint64_t expires_s)
{
	uint64_t now = now_mono_ms();
	struct token_entry *slot = NULL;

	pthread_mutex_lock(&token_lock);
	for (size_t i = 0; i < TOKEN_CACHE_SIZE; i++) {
		struct token_entry *e = &token_cache[i];

		if (e->key && strcmp(e->key, key) == 0) {
			slot = e;
			break;
		}
		if (!e->key || e->expires_ms <= now) {
			if (!slot || slot->key)
				slot = e;
		} else if (!slot || (slot->key && e->expires_ms < slot->expires_ms)) {
			slot = e;
		}
	}
	entry_clear(slot);
	slot->key = strdup(key);
	slot->token = strdup(token);
	slot->expires_ms = now + expires_s * 1000;
	if (!slot->key || !slot->token)
		entry_clear(slot);
	pthread_mutex_unlock(&token_lock);
}
