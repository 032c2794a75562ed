/* layout.c - OCI image layouts: index.json, nested indexes, platform choice, manifests. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "oci/oci.h"

#define OCI_INDEX_DEPTH_MAX 4
#define ANNOT_REF_NAME "org.opencontainers.image.ref.name"

enum media_kind { MK_UNKNOWN, MK_NONE, MK_INDEX, MK_MANIFEST, MK_SCHEMA1 };

static const char *const index_types[] = {
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
};
static const char *const manifest_types[] = {
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
};
static const char *const schema1_types[] = {
	"application/vnd.docker.distribution.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
};
static const char *const config_types[] = {
	"application/vnd.oci.image.config.v1+json",
	"application/vnd.docker.container.image.v1+json",
};
static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

static bool str_in(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static enum media_kind media_kind(const char *mt)
{
	if (!mt)
		return MK_NONE;
	if (str_in(mt, index_types, ARRAY_SIZE(index_types)))
		return MK_INDEX;
	if (str_in(mt, manifest_types, ARRAY_SIZE(manifest_types)))
		return MK_MANIFEST;
	if (str_in(mt, schema1_types, ARRAY_SIZE(schema1_types)))
		return MK_SCHEMA1;
	return MK_UNKNOWN;
}

const char *oci_host_arch(void)
{
	static const struct {
		const char *machine, *arch;
	} map[] = {
		{ "x86_64", "amd64" },	  { "aarch64", "arm64" }, { "armv7l", "arm" },
		{ "armv6l", "arm" },	  { "i686", "386" },	  { "i386", "386" },
		{ "ppc64le", "ppc64le" }, { "s390x", "s390x" },	  { "riscv64", "riscv64" },
	};
	static char machine[65];
	struct utsname u;

	if (uname(&u) < 0)
		return "amd64";
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(u.machine, map[i].machine) == 0)
			return map[i].arch;
	snprintf(machine, sizeof(machine), "%s", u.machine);
	return machine;
}

static void descriptor_clear(struct oci_descriptor *x)
{
	free(x->media_type);
	free(x->digest);
	x->media_type = x->digest = NULL;
}

void oci_manifest_clear(struct oci_manifest *m)
{
	if (!m)
		return;
	free(m->digest);
	descriptor_clear(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_clear(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

/* Validate a descriptor object; with ret, copy it out. */
static int descriptor_parse(const json_t *j, const char *what, struct oci_descriptor *ret,
			    struct diag *d)
{
	const json_t *mt = json_object_get(j, "mediaType");
	const json_t *size = json_object_get(j, "size");
	int r;

	if (!json_is_object(j))
		return diag_fail(d, -EINVAL, "%s: descriptor is not a JSON object", what);
	if (mt && !json_is_string(mt))
		return diag_fail(d, -EINVAL, "%s: mediaType is not a string", what);
	r = oci_digest_check(json_str(j, "digest", NULL), what, NULL, d);
	if (r < 0)
		return r;
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return diag_fail(d, -EINVAL, "%s %s: size is missing or negative", what,
				 json_str(j, "digest", ""));
	if (!ret)
		return 0;
	ret->digest = strdup(json_str(j, "digest", ""));
	ret->media_type = mt ? strdup(json_string_value(mt)) : NULL;
	ret->size = json_integer_value(size);
	if (!ret->digest || (mt && !ret->media_type)) {
		descriptor_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

static bool platform_matches(const json_t *p)
{
	const char *arch = oci_host_arch();
	const char *variant = json_str(p, "variant", NULL);

	if (strcmp(json_str(p, "os", ""), "linux") != 0 ||
	    strcmp(json_str(p, "architecture", ""), arch) != 0)
		return false;
	if (variant && strcmp(arch, "arm64") == 0)
		return strcmp(variant, "v8") == 0;
	return true;
}

/*
 * Choose among index entries: known media types only; an entry whose platform is
 * linux/<host arch> first, else an entry without a platform. *ret is borrowed from `list`.
 */
static int select_platform(const json_t *list, const char *what, const json_t **ret, struct diag *d)
{
	const json_t *match = NULL, *plain = NULL, *e;
	char avail[512] = "";
	size_t i, known = 0;

	json_array_foreach(list, i, e) {
		const json_t *p;
		enum media_kind k;

		if (!json_is_object(e))
			return diag_fail(d, -EINVAL, "%s: manifests[%zu] is not an object", what,
					 i);
		k = media_kind(json_str(e, "mediaType", NULL));
		if (k == MK_UNKNOWN)
			continue; /* artifacts, attestations, future types */
		if (k == MK_SCHEMA1)
			return diag_fail(d, -EPROTONOSUPPORT,
					 "%s: Docker schema1 manifests are not supported; convert "
					 "the image (skopeo copy --format v2s2)",
					 what);
		known++;
		p = json_object_get(e, "platform");
		if (!json_is_object(p)) {
			if (!plain)
				plain = e;
			continue;
		}
		if (platform_matches(p)) {
			match = e;
			break;
		}
		if (strlen(avail) < sizeof(avail) - 64)
			snprintf(avail + strlen(avail), sizeof(avail) - strlen(avail),
				 "%s%.20s/%.20s", avail[0] ? ", " : "", json_str(p, "os", "?"),
				 json_str(p, "architecture", "?"));
	}
	if (!match)
		match = plain;
	if (!match && !known)
		return diag_fail(d, -ENOENT, "%s: no manifest of a supported media type", what);
	if (!match)
		return diag_fail(d, -ENOENT,
				 "%s: no manifest for linux/%s (the image has: %s); use an image "
				 "built for this machine",
				 what, oci_host_arch(), avail);
	*ret = match;
	return 0;
}

/* The descriptors of index.json that the tag names (a new array of borrowed references). */
static int select_tag(const json_t *manifests, const char *tag, json_t **ret, struct diag *d)
{
	_cleanup_json_ json_t *out = json_array();
	const char *want = tag ? tag : "latest";
	char tags[512] = "";
	const json_t *e;
	size_t i;

	if (!out)
		return -ENOMEM;
	json_array_foreach(manifests, i, e) {
		const char *name =
			json_str(json_object_get(e, "annotations"), ANNOT_REF_NAME, NULL);

		if (name && strcmp(name, want) == 0)
			json_array_append(out, (json_t *)e);
		else if (name && strlen(tags) < sizeof(tags) - 64)
			snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s%.40s",
				 tags[0] ? ", " : "", name);
	}
	if (json_array_size(out) == 0 && !tag && json_array_size(manifests) == 1)
		json_array_append(out, json_array_get(manifests, 0));
	if (json_array_size(out) == 0)
		return diag_fail(
			d, -ENOENT,
			"index.json: no image tagged \"%s\" (tags in the layout: %s); name "
			"one as oci:/dir:TAG",
			want, tags[0] ? tags : "none");
	*ret = TAKE_PTR(out);
	return 0;
}

/* Read and parse a small JSON file of the layout (resolved inside it, regular files only). */
static int read_layout_json(int layout_fd, const char *name, size_t max, json_t **ret,
			    struct diag *d)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	fd = fs_open_in_root(layout_fd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return diag_fail_at(d, -errno, name, "%s: fstat: %m", name);
	if (!S_ISREG(st.st_mode))
		return diag_fail_at(d, -EINVAL, name, "%s: not a regular file", name);
	if ((uint64_t)st.st_size > max)
		return diag_fail_at(d, -EFBIG, name,
				    "%s: %lld bytes is larger than the limit of %zu bytes", name,
				    (long long)st.st_size, max);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return diag_fail_at(d, -errno, name, "%s: read: %m", name);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = json_parse_buf(buf, len, ret, d);
	if (r < 0)
		diag_prefix(d, "%s: ", name);
	return r;
}

static int check_layout_file(int layout_fd, struct diag *d)
{
	_cleanup_json_ json_t *j = NULL;
	const char *v;
	int r;

	r = read_layout_json(layout_fd, "oci-layout", 4096, &j, d);
	if (r == -ENOENT)
		return diag_fail_at(d, r, "oci-layout",
				    "not an OCI image layout (no oci-layout file); create one with "
				    "umoci init or skopeo copy ... oci:DIR");
	if (r < 0)
		return diag_fail_at(d, r, "oci-layout", "oci-layout: %s", strerror(-r));
	v = json_str(j, "imageLayoutVersion", NULL);
	if (!v || strncmp(v, "1.", 2) != 0)
		return diag_fail_at(d, -EPROTONOSUPPORT, "oci-layout",
				    "oci-layout: imageLayoutVersion \"%.40s\" is not supported "
				    "(want 1.x)",
				    v ? v : "(missing)");
	return 0;
}

/* Check the schemaVersion and, when both say, that a blob's mediaType agrees with its
 * descriptor's. */
static int check_header(const json_t *j, const char *what, const char *desc_mt,
			enum media_kind want, struct diag *d)
{
	const char *mt = json_str(j, "mediaType", NULL);
	long long sv = json_int(j, "schemaVersion", -1);

	if (sv == 1 || media_kind(mt) == MK_SCHEMA1)
		return diag_fail(d, -EPROTONOSUPPORT,
				 "%s: Docker schema1 manifests are not supported; convert the "
				 "image (skopeo copy --format v2s2)",
				 what);
	if (sv != 2)
		return diag_fail(d, -EINVAL, "%s: schemaVersion must be 2", what);
	if (mt && media_kind(mt) != want)
		return diag_fail(d, -EINVAL, "%s: unexpected mediaType \"%.100s\"", what, mt);
	if (mt && desc_mt && strcmp(mt, desc_mt) != 0)
		return diag_fail(
			d, -EINVAL,
			"%s: mediaType \"%.100s\" differs from its descriptor's \"%.100s\"", what,
			mt, desc_mt);
	return 0;
}

static int manifest_parse(const json_t *j, const char *digest, const char *desc_mt,
			  struct oci_manifest *ret, struct diag *d)
{
	_cleanup_(oci_manifest_clear) struct oci_manifest m = {};
	const json_t *layers = json_object_get(j, "layers"), *e;
	char what[64];
	size_t i;
	int r;

	r = check_header(j, "manifest", desc_mt, MK_MANIFEST, d);
	if (r < 0)
		return r;
	r = descriptor_parse(json_object_get(j, "config"), "manifest config", &m.config, d);
	if (r < 0)
		return r;
	if (m.config.media_type &&
	    !str_in(m.config.media_type, config_types, ARRAY_SIZE(config_types)))
		return diag_fail(d, -EPROTONOSUPPORT,
				 "manifest %s: config media type \"%.100s\" is not an image config "
				 "(is this an artifact rather than a container image?)",
				 digest, m.config.media_type);
	if (!json_is_array(layers))
		return diag_fail(d, -EINVAL, "manifest %s: \"layers\" is missing or not an array",
				 digest);
	if (json_array_size(layers) > OCI_LAYERS_MAX)
		return diag_fail(d, -E2BIG, "manifest %s: %zu layers is more than the limit of %d",
				 digest, json_array_size(layers), OCI_LAYERS_MAX);
	m.layers = calloc(json_array_size(layers) + 1, sizeof(*m.layers));
	if (!m.layers)
		return -ENOMEM;
	json_array_foreach(layers, i, e) {
		snprintf(what, sizeof(what), "layer %zu", i);
		r = descriptor_parse(e, what, &m.layers[i], d);
		if (r < 0)
			return r;
		m.n_layers++;
		if (!str_in(m.layers[i].media_type, layer_types, ARRAY_SIZE(layer_types)))
			return diag_fail(d, -EPROTONOSUPPORT,
					 "manifest %s: layer %zu has unsupported media type "
					 "\"%.100s\"",
					 digest, i,
					 m.layers[i].media_type ? m.layers[i].media_type
								: "(none)");
	}
	m.digest = strdup(digest);
	if (!m.digest)
		return -ENOMEM;
	*ret = m;
	memset(&m, 0, sizeof(m));
	return 0;
}

int oci_layout_resolve(int layout_fd, const char *tag, struct oci_manifest *ret, struct diag *d)
{
	_cleanup_json_ json_t *index = NULL;
	_cleanup_json_ json_t *cands = NULL;
	_cleanup_json_ json_t *cur = NULL; /* the descriptor being followed (own reference) */
	const json_t *pick;
	int r;

	r = check_layout_file(layout_fd, d);
	if (r < 0)
		return r;
	r = read_layout_json(layout_fd, "index.json", OCI_MANIFEST_MAX, &index, d);
	if (r == -ENOENT)
		return diag_fail_at(d, r, "index.json", "not an OCI image layout (no index.json)");
	if (r < 0)
		return diag_fail_at(d, r, "index.json", "index.json: %s", strerror(-r));
	r = check_header(index, "index.json", NULL, MK_INDEX, d);
	if (r < 0)
		return r;
	if (!json_is_array(json_object_get(index, "manifests")))
		return diag_fail_at(d, -EINVAL, "index.json",
				    "index.json: \"manifests\" is missing or not an array");
	r = select_tag(json_object_get(index, "manifests"), tag, &cands, d);
	if (r < 0)
		return r;
	r = select_platform(cands, "index.json", &pick, d);
	if (r < 0)
		return r;
	cur = json_incref((json_t *)pick);

	for (int depth = 0;; depth++) {
		_cleanup_free_ char *buf = NULL;
		_cleanup_json_ json_t *j = NULL;
		struct oci_descriptor desc = {};
		enum media_kind k;
		size_t len;

		r = descriptor_parse(cur, "manifest", &desc, d);
		if (r < 0)
			return r;
		r = oci_blob_read(layout_fd, desc.digest, desc.size, OCI_MANIFEST_MAX, "manifest",
				  &buf, &len, d);
		if (r >= 0) {
			r = json_parse_buf(buf, len, &j, d);
			if (r < 0)
				diag_prefix(d, "manifest %s: ", desc.digest);
		}
		if (r < 0) {
			descriptor_clear(&desc);
			return r;
		}
		k = media_kind(desc.media_type);
		if (k == MK_NONE) /* a descriptor without mediaType: go by the content */
			k = json_object_get(j, "manifests") ? MK_INDEX : MK_MANIFEST;
		if (k == MK_MANIFEST) {
			r = manifest_parse(j, desc.digest, desc.media_type, ret, d);
			descriptor_clear(&desc);
			return r;
		}
		/* k == MK_INDEX: select_platform() only lets index and manifest types through */
		r = check_header(j, "image index", desc.media_type, MK_INDEX, d);
		if (r >= 0 && depth + 1 >= OCI_INDEX_DEPTH_MAX)
			r = diag_fail(d, -ELOOP, "image index %s: indexes nested deeper than %d",
				      desc.digest, OCI_INDEX_DEPTH_MAX);
		if (r >= 0 && !json_is_array(json_object_get(j, "manifests")))
			r = diag_fail(d, -EINVAL,
				      "image index %s: \"manifests\" is missing or not an array",
				      desc.digest);
		if (r >= 0)
			r = select_platform(json_object_get(j, "manifests"), "image index", &pick,
					    d);
		descriptor_clear(&desc);
		if (r < 0)
			return r;
		json_decref(cur);
		cur = json_incref((json_t *)pick);
	}
}
