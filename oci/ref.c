/* ref.c - parsing image references ("oci:/abs/layout[:tag]"; registry references later). */
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
		return diag_fail(d, -EPROTONOSUPPORT,
				 "image \"%.200s\": registry pulls are not supported yet; use "
				 "oci:/path",
				 ref);
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
	return 0;
}

void oci_ref_clear(struct oci_ref *r)
{
	if (!r)
		return;
	free(r->layout);
	free(r->tag);
	r->layout = r->tag = NULL;
}
