/* layout.c - manifests and indexes (layouts, store and registries alike): platform choice,
 * nested indexes, media types; OCI image layouts: index.json and tags. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "oci/oci.h"

#define OCI_INDEX_DEPTH_MAX 4
#define ANNOT_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOT_REF_TYPE "vnd.docker.reference.type"

#define MK_UNKNOWN OCI_MK_UNKNOWN
#define MK_NONE OCI_MK_NONE
#define MK_INDEX OCI_MK_INDEX
#define MK_MANIFEST OCI_MK_MANIFEST
#define MK_SCHEMA1 OCI_MK_SCHEMA1
#define media_kind oci_media_kind

const char oci_manifest_accept[] = "application/vnd.oci.image.index.v1+json, "
				   "application/vnd.oci.image.manifest.v1+json, "
				   "application/vnd.docker.distribution.manifest.list.v2+json, "
				   "application/vnd.docker.distribution.manifest.v2+json";

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

enum oci_media_kind oci_media_kind(const char *mt)
{
	char buf[128];
	size_t n;

	if (!mt)
		return MK_NONE;
	/* a Content-Type may carry parameters ("; charset=utf-8") and surrounding blanks */
	while (*mt == ' ' || *mt == '\t')
		mt++;
	n = strcspn(mt, "; \t");
	if (n == 0)
		return MK_NONE;
	if (n >= sizeof(buf))
		return MK_UNKNOWN;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(mt[i] >= 'A' && mt[i] <= 'Z' ? mt[i] + 32 : mt[i]);
	buf[n] = '\0';
	if (str_in(buf, index_types, ARRAY_SIZE(index_types)))
		return MK_INDEX;
	if (str_in(buf, manifest_types, ARRAY_SIZE(manifest_types)))
		return MK_MANIFEST;
	if (str_in(buf, schema1_types, ARRAY_SIZE(schema1_types)))
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

/* "v7" on armv7l, "" elsewhere (arm64 is v8 and needs no variant). */
static const char *host_variant(void)
{
	struct utsname u;

	if (uname(&u) < 0 || strncmp(u.machine, "armv", 4) != 0)
		return "";
	if (u.machine[4] == '7')
		return "v7";
	if (u.machine[4] == '6')
		return "v6";
	return "";
}

static bool is_platform_word(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

int oci_platform_parse(const char *s, struct oci_platform *ret, struct diag *d)
{
	struct oci_platform p = {};
	const char *a, *v;

	if (!s || !*s) {
		snprintf(p.os, sizeof(p.os), "linux");
		snprintf(p.architecture, sizeof(p.architecture), "%s", oci_host_arch());
		snprintf(p.variant, sizeof(p.variant), "%s", host_variant());
		*ret = p;
		return 0;
	}
	a = strchr(s, '/');
	v = a ? strchr(a + 1, '/') : NULL;
	if (!a || !is_platform_word(s, (size_t)(a - s)) ||
	    !is_platform_word(a + 1, v ? (size_t)(v - a - 1) : strlen(a + 1)) ||
	    (v && !is_platform_word(v + 1, strlen(v + 1))) || (size_t)(a - s) >= sizeof(p.os) ||
	    (v ? (size_t)(v - a - 1) : strlen(a + 1)) >= sizeof(p.architecture) ||
	    (v && strlen(v + 1) >= sizeof(p.variant)))
		return diag_fail(d, -EINVAL,
				 "platform \"%.100s\": want os/architecture[/variant], e.g. "
				 "linux/arm64 or linux/arm/v7",
				 s);
	snprintf(p.os, sizeof(p.os), "%.*s", (int)(a - s), s);
	snprintf(p.architecture, sizeof(p.architecture), "%.*s",
		 (int)(v ? (size_t)(v - a - 1) : strlen(a + 1)), a + 1);
	if (v)
		snprintf(p.variant, sizeof(p.variant), "%s", v + 1);
	*ret = p;
	return 0;
}

static void platform_text(const struct oci_platform *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s", p->os, p->architecture, p->variant[0] ? "/" : "",
		 p->variant);
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

/*
 * How well an index entry's platform fits: 0 not at all; higher is better. The variant:
 * an exact match, then none given, then (32-bit arm) an older variant the CPU runs too.
 * arm64 treats "v8" and none as the same.
 */
static int platform_score(const json_t *p, const struct oci_platform *want)
{
	const char *variant = json_str(p, "variant", "");
	const char *arch = want->architecture;

	if (strcmp(json_str(p, "os", ""), want->os) != 0 ||
	    strcmp(json_str(p, "architecture", ""), arch) != 0)
		return 0;
	if (strcmp(arch, "arm64") == 0) {
		const char *w = want->variant[0] ? want->variant : "v8";

		return strcmp(variant[0] ? variant : "v8", w) == 0 ? 3 : 0;
	}
	if (strcmp(variant, want->variant) == 0)
		return 3;
	if (!variant[0])
		return 2;
	if (strcmp(arch, "arm") == 0 && want->variant[0] == 'v' && variant[0] == 'v' &&
	    atoi(variant + 1) > 0 && atoi(variant + 1) < atoi(want->variant + 1))
		return 1;
	return want->variant[0] ? 0 : 1;
}

static bool is_attestation(const json_t *e, const json_t *p)
{
	const char *type = json_str(json_object_get(e, "annotations"), ANNOT_REF_TYPE, NULL);

	if (type && strcmp(type, "attestation-manifest") == 0)
		return true;
	return p && strcmp(json_str(p, "os", ""), "unknown") == 0 &&
	       strcmp(json_str(p, "architecture", ""), "unknown") == 0;
}

/*
 * Choose among index entries: known media types only, attestations skipped; the entry whose
 * platform fits `want` best, else an entry without a platform. *ret is borrowed from `list`.
 */
static int select_platform(const json_t *list, const char *what, const struct oci_platform *want,
			   const json_t **ret, struct diag *d)
{
	const json_t *match = NULL, *plain = NULL, *e;
	char avail[512] = "", wtext[96];
	size_t i, known = 0;
	int best = 0;

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
		p = json_object_get(e, "platform");
		if (is_attestation(e, json_is_object(p) ? p : NULL))
			continue;
		known++;
		if (!json_is_object(p)) {
			if (!plain)
				plain = e;
			continue;
		}
		if (platform_score(p, want) > best) {
			best = platform_score(p, want);
			match = e;
			continue;
		}
		if (strlen(avail) < sizeof(avail) - 64)
			snprintf(avail + strlen(avail), sizeof(avail) - strlen(avail),
				 "%s%.20s/%.20s%s%.10s", avail[0] ? ", " : "",
				 json_str(p, "os", "?"), json_str(p, "architecture", "?"),
				 json_str(p, "variant", NULL) ? "/" : "",
				 json_str(p, "variant", ""));
	}
	if (!match)
		match = plain;
	if (!match && !known)
		return diag_fail(d, -ENOENT, "%s: no manifest of a supported media type", what);
	platform_text(want, wtext, sizeof(wtext));
	if (!match)
		return diag_fail(d, -ENOENT,
				 "%s: no manifest for %s (the image has: %s); use an image "
				 "built for this machine",
				 what, wtext, avail);
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

/* A document's kind: Content-Type or descriptor first, then its own mediaType, then shape. */
static enum media_kind doc_kind(const json_t *j, const char *media_type)
{
	enum media_kind k = media_kind(media_type);

	if (k == MK_INDEX || k == MK_MANIFEST || k == MK_SCHEMA1)
		return k;
	if (json_int(j, "schemaVersion", -1) == 1)
		return MK_SCHEMA1;
	k = media_kind(json_str(j, "mediaType", NULL));
	if (k == MK_INDEX || k == MK_MANIFEST || k == MK_SCHEMA1)
		return k;
	return json_object_get(j, "manifests") ? MK_INDEX : MK_MANIFEST;
}

/* The media type the body is checked against: the descriptor's or Content-Type's, when known. */
static const char *known_type(const char *media_type)
{
	enum media_kind k = media_kind(media_type);

	return k == MK_INDEX || k == MK_MANIFEST ? media_type : NULL;
}

int oci_manifest_resolve(const char *buf, size_t len, const char *digest, const char *media_type,
			 const struct oci_platform *plat, oci_fetch_fn fetch, void *data,
			 struct oci_manifest *ret, struct diag *d)
{
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *cur_digest = strdup(digest);
	_cleanup_free_ char *cur_mt = media_type ? strndup(media_type, strcspn(media_type, "; \t"))
						 : NULL;
	struct oci_platform host;
	int r;

	if (!cur_digest || (media_type && !cur_mt))
		return -ENOMEM;
	if (!plat) {
		r = oci_platform_parse(NULL, &host, d);
		if (r < 0)
			return r;
		plat = &host;
	}
	if (len > OCI_MANIFEST_MAX)
		return diag_fail(d, -EFBIG, "manifest %s: %zu bytes is larger than the limit of %u",
				 digest, len, OCI_MANIFEST_MAX);
	r = json_parse_buf(buf, len, &j, d);
	if (r < 0) {
		diag_prefix(d, "manifest %s: ", digest);
		return r;
	}

	for (int depth = 0;; depth++) {
		_cleanup_free_ char *child = NULL;
		_cleanup_free_ char *child_ct = NULL;
		struct oci_descriptor desc = {};
		const json_t *pick;
		enum media_kind k;
		size_t child_len = 0;

		if (!json_is_object(j))
			return diag_fail(d, -EINVAL, "manifest %s: not a JSON object", cur_digest);
		k = doc_kind(j, cur_mt);
		if (k == MK_SCHEMA1)
			return diag_fail(d, -EPROTONOSUPPORT,
					 "manifest %s: Docker schema1 manifests are not supported; "
					 "convert the image (skopeo copy --format v2s2)",
					 cur_digest);
		if (k == MK_MANIFEST)
			return manifest_parse(j, cur_digest, known_type(cur_mt), ret, d);

		r = check_header(j, "image index", known_type(cur_mt), MK_INDEX, d);
		if (r >= 0 && depth + 1 >= OCI_INDEX_DEPTH_MAX)
			r = diag_fail(d, -ELOOP, "image index %s: indexes nested deeper than %d",
				      cur_digest, OCI_INDEX_DEPTH_MAX);
		if (r >= 0 && !json_is_array(json_object_get(j, "manifests")))
			r = diag_fail(d, -EINVAL,
				      "image index %s: \"manifests\" is missing or not an array",
				      cur_digest);
		if (r >= 0)
			r = select_platform(json_object_get(j, "manifests"), "image index", plat,
					    &pick, d);
		if (r >= 0)
			r = descriptor_parse(pick, "manifest", &desc, d);
		if (r < 0)
			return r;
		/* select_platform() only lets index and manifest types through */
		r = fetch(data, &desc, &child, &child_len, &child_ct, d);
		if (r >= 0) {
			json_decref(j);
			j = NULL;
			r = json_parse_buf(child, child_len, &j, d);
			if (r < 0)
				diag_prefix(d, "manifest %s: ", desc.digest);
		}
		free(cur_digest);
		cur_digest = TAKE_PTR(desc.digest);
		free(cur_mt);
		/* the descriptor's media type wins over what the transport said */
		cur_mt = desc.media_type ? TAKE_PTR(desc.media_type)
					 : (child_ct ? strndup(child_ct, strcspn(child_ct, "; \t"))
						     : NULL);
		descriptor_clear(&desc);
		if (r < 0)
			return r;
	}
}

static int layout_fetch(void *data, const struct oci_descriptor *desc, char **ret_buf,
			size_t *ret_len, char **ret_media_type, struct diag *d)
{
	*ret_media_type = NULL;
	return oci_blob_read(*(int *)data, desc->digest, desc->size, OCI_MANIFEST_MAX, "manifest",
			     ret_buf, ret_len, d);
}

int oci_layout_resolve(int layout_fd, const char *tag, struct oci_manifest *ret, struct diag *d)
{
	_cleanup_json_ json_t *index = NULL;
	_cleanup_json_ json_t *cands = NULL;
	_cleanup_free_ char *buf = NULL;
	struct oci_descriptor desc = {};
	struct oci_platform host;
	const json_t *pick;
	size_t len = 0;
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
	r = oci_platform_parse(NULL, &host, d);
	if (r < 0)
		return r;
	r = select_platform(cands, "index.json", &host, &pick, d);
	if (r < 0)
		return r;
	r = descriptor_parse(pick, "manifest", &desc, d);
	if (r < 0)
		return r;
	r = oci_blob_read(layout_fd, desc.digest, desc.size, OCI_MANIFEST_MAX, "manifest", &buf,
			  &len, d);
	if (r >= 0)
		r = oci_manifest_resolve(buf, len, desc.digest, desc.media_type, &host,
					 layout_fetch, &layout_fd, ret, d);
	descriptor_clear(&desc);
	return r;
}
