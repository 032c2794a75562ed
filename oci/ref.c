/* ref.c - parsing image references: "oci:/abs/layout[:tag]" and registry references. */
#include <string.h>

#include "oci/oci.h"

#define OCI_TAG_MAX 128

static bool is_path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("/._-+@%,=~", c);
}

/* Tag grammar of the distribution spec: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
static bool is_valid_tag(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > OCI_TAG_MAX || t[0] == '.' || t[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* An absolute path with no ".", ".." components and only ordinary characters. */
static int check_layout_path(const char *ref, const char *p, size_t n, struct diag *d)
{
	if (n == 0 || p[0] != '/')
		return diag_fail(d, -EINVAL,
				 "image \"%.200s\": the layout path must be absolute "
				 "(oci:/abs/dir[:tag])",
				 ref);
	if (n >= OCI_PATH_MAX)
		return diag_fail(d, -ENAMETOOLONG, "image \"%.200s\": layout path too long", ref);
	for (size_t i = 0; i < n; i++) {
		if (!is_path_char(p[i]))
			return diag_fail(
				d, -EINVAL,
				"image \"%.200s\": character 0x%02x in the layout path is not "
				"allowed (use letters, digits and /._-+@%%,=~)",
				ref, (unsigned char)p[i]);
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && p[j] != '/')
			j++;
		if ((j - i == 1 && p[i] == '.') || (j - i == 2 && p[i] == '.' && p[i + 1] == '.'))
			return diag_fail(d, -EINVAL,
					 "image \"%.200s\": the layout path must not contain \".\" "
					 "or \"..\" components",
					 ref);
		i = j + 1;
	}
	return 0;
}

#define OCI_NAME_MAX 255 /* registry + "/" + repository, as in distribution/reference */
#define OCI_REF_MAX 1024
#define DEFAULT_REGISTRY "docker.io"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool is_valid_component(const char *p, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum(p[0]) || !is_lower_alnum(p[n - 1]))
		return false;
	while (i < n) {
		if (is_lower_alnum(p[i])) {
			i++;
			continue;
		}
		if (p[i] == '.' || (p[i] == '_' && p[i + 1] != '_')) {
			i++;
		} else if (p[i] == '_') {
			i += 2;
		} else if (p[i] == '-') {
			while (i < n && p[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= n || !is_lower_alnum(p[i]))
			return false;
	}
	return true;
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

/* host[:port] with DNS-style labels, or [ipv6][:port]. */
static bool is_valid_registry(const char *p, size_t n)
{
	size_t i = 0, port_at;

	if (n == 0)
		return false;
	if (p[0] == '[') {
		const char *close = memchr(p, ']', n);

		if (!close || close == p + 1)
			return false;
		for (const char *q = p + 1; q < close; q++)
			if (!strchr("0123456789abcdefABCDEF:.", *q))
				return false;
		i = (size_t)(close - p) + 1;
	} else {
		size_t label = 0;

		for (; i < n && p[i] != ':'; i++) {
			if (!is_host_char(p[i]))
				return false;
			if (p[i] == '.') {
				if (label == 0 || p[i - 1] == '-')
					return false;
				label = 0;
				continue;
			}
			if (label == 0 && p[i] == '-')
				return false;
			label++;
		}
		if (label == 0 || p[i - 1] == '-')
			return false;
	}
	if (i == n)
		return true;
	if (p[i] != ':')
		return false;
	port_at = ++i;
	if (n - port_at == 0 || n - port_at > 5)
		return false;
	for (; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return atoi(p + port_at) > 0 && atoi(p + port_at) <= 65535;
}

/* The part before the first '/' names a registry when it has '.' or ':', is "localhost", or
 * has upper case letters (which a repository cannot); otherwise Docker Hub is meant. */
bool oci_ref_names_registry(const char *p, size_t n)
{
	if (n == 9 && strncmp(p, "localhost", 9) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '.' || p[i] == ':' || (p[i] >= 'A' && p[i] <= 'Z'))
			return true;
	return false;
}

static int parse_registry_ref(const char *ref, struct oci_ref *ret, struct diag *d)
{
	_cleanup_free_ char *registry = NULL;
	_cleanup_free_ char *repository = NULL;
	_cleanup_free_ char *tag = NULL;
	_cleanup_free_ char *digest = NULL;
	const char *at = strchr(ref, '@'), *name = ref, *slash, *colon, *repo;
	size_t name_len = at ? (size_t)(at - ref) : strlen(ref), repo_len;
	int r;

	if (at) {
		if (strchr(at + 1, '@'))
			return diag_fail(d, -EINVAL, "image \"%.200s\": more than one '@'", ref);
		r = oci_digest_check(at + 1, "image reference", NULL, NULL);
		if (r == -EOPNOTSUPP)
			return diag_fail(d, r, "image \"%.200s\": only sha256 digests are "
					 "supported", ref);
		if (r < 0)
			return diag_fail(d, r,
					 "image \"%.200s\": invalid digest (want @sha256: and 64 "
					 "lowercase hex characters)",
					 ref);
		digest = strdup(at + 1);
		if (!digest)
			return -ENOMEM;
	}
	/* a tag is a ':' after the last '/' */
	slash = memrchr(name, '/', name_len);
	colon = memchr(slash ? slash : name, ':', name_len - (size_t)(slash ? slash - name : 0));
	if (colon) {
		tag = strndup(colon + 1, name_len - (size_t)(colon + 1 - name));
		if (!tag)
			return -ENOMEM;
		if (!is_valid_tag(tag))
			return diag_fail(d, -EINVAL,
					 "image \"%.200s\": invalid tag \"%.200s\" (want "
					 "[A-Za-z0-9_][A-Za-z0-9._-]*, at most %d characters)",
					 ref, tag, OCI_TAG_MAX);
		name_len = (size_t)(colon - name);
	}
	if (name_len == 0)
		return diag_fail(d, -EINVAL, "image \"%.200s\": the repository name is empty", ref);

	slash = memchr(name, '/', name_len);
	if (slash && oci_ref_names_registry(name, (size_t)(slash - name))) {
		size_t n = (size_t)(slash - name);

		if (!is_valid_registry(name, n))
			return diag_fail(d, -EINVAL,
					 "image \"%.200s\": invalid registry host \"%.*s\"", ref,
					 (int)(n > 200 ? 200 : n), name);
		if (n == 15 && strncmp(name, "index.docker.io", 15) == 0)
			registry = strdup(DEFAULT_REGISTRY);
		else
			registry = strndup(name, n);
		repo = slash + 1;
		repo_len = name_len - n - 1;
	} else {
		registry = strdup(DEFAULT_REGISTRY);
		repo = name;
		repo_len = name_len;
	}
	if (!registry)
		return -ENOMEM;
	if (strcmp(registry, DEFAULT_REGISTRY) == 0 && !memchr(repo, '/', repo_len))
		repository = strdup_printf("library/%.*s", (int)repo_len, repo);
	else
		repository = strndup(repo, repo_len);
	if (!repository)
		return -ENOMEM;

	for (const char *c = repository;;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);

		if (!is_valid_component(c, n)) {
			for (size_t i = 0; i < n; i++)
				if (c[i] >= 'A' && c[i] <= 'Z')
					return diag_fail(d, -EINVAL,
							 "image \"%.200s\": repository names must "
							 "be lowercase",
							 ref);
			return diag_fail(d, -EINVAL,
					 "image \"%.200s\": invalid repository name component "
					 "\"%.*s\" (want lowercase letters and digits, separated "
					 "by '.', '_', '__' or '-')",
					 ref, (int)(n > 100 ? 100 : n), c);
		}
		if (!e)
			break;
		c = e + 1;
	}
	if (strlen(registry) + 1 + strlen(repository) > OCI_NAME_MAX)
		return diag_fail(d, -ENAMETOOLONG,
				 "image \"%.200s\": the name is longer than %d characters", ref,
				 OCI_NAME_MAX);
	if (!tag && !digest && !(tag = strdup("latest")))
		return -ENOMEM;
	ret->layout = NULL;
	ret->registry = TAKE_PTR(registry);
	ret->repository = TAKE_PTR(repository);
	ret->tag = TAKE_PTR(tag);
	ret->digest = TAKE_PTR(digest);
	return 0;
}

int oci_ref_parse(const char *ref, struct oci_ref *ret, struct diag *d)
{
	_cleanup_free_ char *layout = NULL;
	_cleanup_free_ char *tag = NULL;
	const char *p, *colon;
	size_t n;
	int r;

	if (!ref || !*ref)
		return diag_fail(d, -EINVAL, "image reference is empty");
	if (strncmp(ref, "oci:", 4) != 0) {
		for (p = ref; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				return diag_fail(
					d, -EINVAL,
					"image \"%.200s\": reference contains whitespace or "
					"control characters",
					ref);
		if (p - ref > OCI_REF_MAX)
			return diag_fail(d, -ENAMETOOLONG,
					 "image reference is longer than %d bytes", OCI_REF_MAX);
		return parse_registry_ref(ref, ret, d);
	}
	p = ref + 4;
	colon = strchr(p, ':');
	n = colon ? (size_t)(colon - p) : strlen(p);
	r = check_layout_path(ref, p, n, d);
	if (r < 0)
		return r;
	/* drop trailing slashes, but keep "/" itself */
	while (n > 1 && p[n - 1] == '/')
		n--;
	layout = strndup(p, n);
	if (!layout)
		return -ENOMEM;
	if (colon) {
		if (!is_valid_tag(colon + 1))
			return diag_fail(d, -EINVAL,
					 "image \"%.200s\": invalid tag \"%.200s\" (want "
					 "[A-Za-z0-9_][A-Za-z0-9._-]*, at most %d characters)",
					 ref, colon + 1, OCI_TAG_MAX);
		tag = strdup(colon + 1);
		if (!tag)
			return -ENOMEM;
	}
	ret->layout = TAKE_PTR(layout);
	ret->tag = TAKE_PTR(tag);
	ret->registry = ret->repository = ret->digest = NULL;
	return 0;
}

void oci_ref_clear(struct oci_ref *r)
{
	if (!r)
		return;
	free(r->layout);
	free(r->tag);
	free(r->registry);
	free(r->repository);
	free(r->digest);
	r->layout = r->tag = r->registry = r->repository = r->digest = NULL;
}

char *oci_ref_canonical(const struct oci_ref *r)
{
	if (r->layout)
		return r->tag ? strdup_printf("oci:%s:%s", r->layout, r->tag)
			      : strdup_printf("oci:%s", r->layout);
	if (r->digest)
		return strdup_printf("%s/%s@%s", r->registry, r->repository, r->digest);
	return strdup_printf("%s/%s:%s", r->registry, r->repository, r->tag);
}

const char *oci_ref_api_host(const char *registry)
{
	return strcmp(registry, DEFAULT_REGISTRY) == 0 ? "registry-1.docker.io" : registry;
}
