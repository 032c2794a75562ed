/* test_oci_registry.c - registry references, WWW-Authenticate, media type dispatch, platform
 * choice, docker config credentials and token replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "oci/oci.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG "sha256:" HEX64

/* ---- references ---------------------------------------------------------------------------- */

static void test_ref_docker_hub(void **state)
{
	static const struct {
		const char *in, *registry, *repository, *tag, *digest, *canonical;
	} cases[] = {
		{ "busybox", "docker.io", "library/busybox", "latest", NULL,
		  "docker.io/library/busybox:latest" },
		{ "busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
		  "docker.io/library/busybox:1.36" },
		{ "library/busybox", "docker.io", "library/busybox", "latest", NULL,
		  "docker.io/library/busybox:latest" },
		{ "docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
		  "docker.io/library/busybox:latest" },
		{ "index.docker.io/library/busybox:1", "docker.io", "library/busybox", "1", NULL,
		  "docker.io/library/busybox:1" },
		{ "user/app", "docker.io", "user/app", "latest", NULL,
		  "docker.io/user/app:latest" },
		{ "busybox@" DG, "docker.io", "library/busybox", NULL, DG,
		  "docker.io/library/busybox@" DG },
		{ "busybox:1.36@" DG, "docker.io", "library/busybox", "1.36", DG,
		  "docker.io/library/busybox@" DG },
		{ "127.0.0.1:5000/web:1.0", "127.0.0.1:5000", "web", "1.0", NULL,
		  "127.0.0.1:5000/web:1.0" },
		{ "localhost/web", "localhost", "web", "latest", NULL, "localhost/web:latest" },
		{ "localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", NULL,
		  "localhost:5000/a/b/c:latest" },
		{ "[::1]:5000/web:x", "[::1]:5000", "web", "x", NULL, "[::1]:5000/web:x" },
		{ "ghcr.io/owner/repo-name_x.y__z:v1.2.3-rc_1", "ghcr.io", "owner/repo-name_x.y__z",
		  "v1.2.3-rc_1", NULL, "ghcr.io/owner/repo-name_x.y__z:v1.2.3-rc_1" },
		{ "quay.io/a---b/c", "quay.io", "a---b/c", "latest", NULL,
		  "quay.io/a---b/c:latest" },
		{ "Registry.Example.COM/x", "Registry.Example.COM", "x", "latest", NULL,
		  "Registry.Example.COM/x:latest" },
		/* no dot or colon: a Docker Hub user, not a registry */
		{ "myregistry/x", "docker.io", "myregistry/x", "latest", NULL,
		  "docker.io/myregistry/x:latest" },
		/* a port-looking thing without a slash is a tag */
		{ "foo:5000", "docker.io", "library/foo", "5000", NULL,
		  "docker.io/library/foo:5000" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_ref r = {};
		struct diag d = {};
		char *canon;
		int ret = oci_ref_parse(cases[i].in, &r, &d);

		if (ret < 0)
			fail_msg("\"%s\": %s", cases[i].in, d.msg);
		assert_null(r.layout);
		assert_string_equal(r.registry, cases[i].registry);
		assert_string_equal(r.repository, cases[i].repository);
		if (cases[i].tag)
			assert_string_equal(r.tag, cases[i].tag);
		else
			assert_null(r.tag);
		if (cases[i].digest)
			assert_string_equal(r.digest, cases[i].digest);
		else
			assert_null(r.digest);
		canon = oci_ref_canonical(&r);
		assert_string_equal(canon, cases[i].canonical);
		free(canon);
		oci_ref_clear(&r);
	}
	assert_string_equal(oci_ref_api_host("docker.io"), "registry-1.docker.io");
	assert_string_equal(oci_ref_api_host("127.0.0.1:5000"), "127.0.0.1:5000");
}

static void test_ref_registry_bad(void **state)
{
	static const struct {
		const char *in;
		int err;
		const char *msg;
	} cases[] = {
		{ "BusyBox", -EINVAL, "lowercase" },
		{ "docker.io/Library/busybox", -EINVAL, "lowercase" },
		{ ":tag", -EINVAL, "empty" },
		{ "a//b", -EINVAL, "component \"\"" },
		{ "a/", -EINVAL, "component" },
		{ "-a", -EINVAL, "component \"-a\"" },
		{ "a_", -EINVAL, "component" },
		{ "a..b", -EINVAL, "component" },
		{ "a___b", -EINVAL, "component" },
		{ "a:", -EINVAL, "invalid tag" },
		{ "a:-x", -EINVAL, "invalid tag" },
		{ "a:b:c", -EINVAL, "invalid tag" },
		{ "a@", -EINVAL, "invalid digest" },
		{ "a@sha256:abc", -EINVAL, "invalid digest" },
		{ "a@sha256:" HEX64 "@" DG, -EINVAL, "more than one" },
		{ "a@sha512:" HEX64 HEX64, -EOPNOTSUPP, "only sha256" },
		{ "host:99999/a", -EINVAL, "invalid registry host" },
		{ "host:/a", -EINVAL, "invalid registry host" },
		{ "-host.com/a", -EINVAL, "invalid registry host" },
		{ "ho_st.com/a", -EINVAL, "invalid registry host" },
		{ "[zz]:5000/a", -EINVAL, "invalid registry host" },
		{ "a b", -EINVAL, "whitespace" },
		{ "a\tb", -EINVAL, "whitespace" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_ref r = {};
		struct diag d = {};
		int ret = oci_ref_parse(cases[i].in, &r, &d);

		if (ret != cases[i].err || !strstr(d.msg, cases[i].msg))
			fail_msg("\"%s\": got %d \"%s\", want %d containing \"%s\"", cases[i].in,
				 ret, d.msg, cases[i].err, cases[i].msg);
		assert_null(r.registry);
		assert_null(r.repository);
	}
	/* names longer than 255 characters; references longer than 1024 bytes */
	{
		char buf[1100];
		struct oci_ref r = {};

		memset(buf, 'a', 300);
		buf[300] = '\0';
		assert_int_equal(oci_ref_parse(buf, &r, NULL), -ENAMETOOLONG);
		memset(buf, 'a', 1050);
		buf[1050] = '\0';
		assert_int_equal(oci_ref_parse(buf, &r, NULL), -ENAMETOOLONG);
	}
}

/* ---- WWW-Authenticate ---------------------------------------------------------------------- */

static void test_wwwauth(void **state)
{
	static const struct {
		const char *in;
		enum oci_auth_scheme scheme;
		const char *realm, *service, *scope, *error;
	} good[] = {
		{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\"",
		  OCI_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io", NULL,
		  NULL },
		{ "Bearer realm=\"https://r/t\",service=\"s\",scope=\"repository:a/b:pull\","
		  "error=\"insufficient_scope\"",
		  OCI_AUTH_BEARER, "https://r/t", "s", "repository:a/b:pull",
		  "insufficient_scope" },
		{ "bearer  REALM = \"https://r/t\" , Service=plain-token", OCI_AUTH_BEARER,
		  "https://r/t", "plain-token", NULL, NULL },
		{ "Basic realm=\"Registry Realm\"", OCI_AUTH_BASIC, "Registry Realm", NULL, NULL,
		  NULL },
		{ "Basic", OCI_AUTH_BASIC, NULL, NULL, NULL, NULL },
		/* several challenges: Bearer wins wherever it is */
		{ "Basic realm=\"x\", Bearer realm=\"https://t\", service=\"s\"", OCI_AUTH_BEARER,
		  "https://t", "s", NULL, NULL },
		{ "Negotiate abc123==, Bearer realm=\"https://t\"", OCI_AUTH_BEARER, "https://t",
		  NULL, NULL, NULL },
		{ "Foo a=b, Basic realm=\"r\"", OCI_AUTH_BASIC, "r", NULL, NULL, NULL },
		/* escapes in quoted strings; the first of duplicate parameters wins */
		{ "Bearer realm=\"https://t/\\\"q\\\\\",realm=\"https://evil\"", OCI_AUTH_BEARER,
		  "https://t/\"q\\", NULL, NULL, NULL },
		{ ",,Bearer realm=\"https://t\",,", OCI_AUTH_BEARER, "https://t", NULL, NULL,
		  NULL },
	};
	static const struct {
		const char *in;
		int err;
	} bad[] = {
		{ "", -EPROTONOSUPPORT },
		{ "Negotiate abc==", -EPROTONOSUPPORT },
		{ "Bearer service=\"s\"", -EINVAL },	 /* no realm */
		{ "Bearer realm=\"\"", -EINVAL },	 /* empty realm */
		{ "Bearer realm=\"https://t", -EINVAL }, /* unterminated */
		{ "Bearer realm=\"a\" junk", -EINVAL },
		{ "Bearer realm=\"a\x01\"", -EINVAL },
		{ "=Bearer", -EINVAL },
		{ "Bearer \"x\"", -EINVAL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct oci_auth_challenge c = {};
		struct diag d = {};

		if (oci_wwwauth_parse(good[i].in, &c, &d) < 0)
			fail_msg("\"%s\": %s", good[i].in, d.msg);
		assert_int_equal(c.scheme, good[i].scheme);
#define STR_EQ(a, b)                                                                               \
	do {                                                                                       \
		if (b)                                                                             \
			assert_string_equal(a, b);                                                 \
		else                                                                               \
			assert_null(a);                                                            \
	} while (0)
		STR_EQ(c.realm, good[i].realm);
		STR_EQ(c.service, good[i].service);
		STR_EQ(c.scope, good[i].scope);
		STR_EQ(c.error, good[i].error);
		oci_auth_challenge_clear(&c);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct oci_auth_challenge c = {};
		struct diag d = {};
		int r = oci_wwwauth_parse(bad[i].in, &c, &d);

		if (r != bad[i].err)
			fail_msg("\"%s\": got %d (%s), want %d", bad[i].in, r, d.msg, bad[i].err);
		assert_true(d.msg[0] != '\0');
		assert_null(c.realm);
	}
	assert_int_equal(oci_wwwauth_parse(NULL, &(struct oci_auth_challenge){}, NULL), -EINVAL);
	/* bounded: a huge header and a huge parameter */
	{
		size_t n = 20000;
		char *big = malloc(n + 32);
		struct oci_auth_challenge c = {};

		strcpy(big, "Bearer realm=\"");
		memset(big + 14, 'a', n);
		strcpy(big + 14 + n, "\"");
		assert_int_equal(oci_wwwauth_parse(big, &c, NULL), -E2BIG);
		strcpy(big + 14 + 3000, "\"");
		assert_int_equal(oci_wwwauth_parse(big, &c, NULL), -EINVAL);
		free(big);
	}
}

/* ---- media types, Accept and Content-Type dispatch ------------------------------------------- */

static void test_media_kind(void **state)
{
	(void)state;
	assert_int_equal(oci_media_kind(MT_OCI_INDEX), OCI_MK_INDEX);
	assert_int_equal(oci_media_kind(MT_DOCKER_LIST), OCI_MK_INDEX);
	assert_int_equal(oci_media_kind(MT_OCI_MANIFEST), OCI_MK_MANIFEST);
	assert_int_equal(oci_media_kind(MT_DOCKER_MANIFEST), OCI_MK_MANIFEST);
	assert_int_equal(oci_media_kind(MT_SCHEMA1), OCI_MK_SCHEMA1);
	assert_int_equal(oci_media_kind("application/vnd.docker.distribution.manifest.v1+json"),
			 OCI_MK_SCHEMA1);
	/* Content-Type values: parameters, case, blanks */
	assert_int_equal(oci_media_kind(MT_OCI_MANIFEST "; charset=utf-8"), OCI_MK_MANIFEST);
	assert_int_equal(oci_media_kind(" Application/VND.OCI.image.index.v1+JSON ;x=y"),
			 OCI_MK_INDEX);
	assert_int_equal(oci_media_kind("application/json"), OCI_MK_UNKNOWN);
	assert_int_equal(oci_media_kind("application/vnd.oci.image.index.v1+jsonx"),
			 OCI_MK_UNKNOWN);
	assert_int_equal(oci_media_kind(""), OCI_MK_NONE);
	assert_int_equal(oci_media_kind(NULL), OCI_MK_NONE);

	/* one Accept header with the four types we take, and never schema1 */
	assert_non_null(strstr(oci_manifest_accept, MT_OCI_INDEX));
	assert_non_null(strstr(oci_manifest_accept, MT_OCI_MANIFEST));
	assert_non_null(strstr(oci_manifest_accept, MT_DOCKER_LIST));
	assert_non_null(strstr(oci_manifest_accept, MT_DOCKER_MANIFEST));
	assert_null(strstr(oci_manifest_accept, "distribution.manifest.v1"));
	assert_null(strchr(oci_manifest_accept, '\n'));
}

/* documents by digest for the fetcher */
struct docs {
	size_t n;
	char *digest[16];
	char *body[16];
	const char *mt[16];
	unsigned fetched;
};

static const char *doc_add(struct docs *ds, const char *mt, json_t *j)
{
	char dg[OCI_DIGEST_STR_MAX];
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	assert_int_equal(oci_digest_buf(s, strlen(s), dg), 0);
	ds->digest[ds->n] = strdup(dg);
	ds->body[ds->n] = s;
	ds->mt[ds->n] = mt;
	return ds->digest[ds->n++];
}

static void docs_clear(struct docs *ds)
{
	for (size_t i = 0; i < ds->n; i++) {
		free(ds->digest[i]);
		free(ds->body[i]);
	}
	memset(ds, 0, sizeof(*ds));
}

static int doc_fetch(void *data, const struct oci_descriptor *desc, char **ret_buf,
		     size_t *ret_len, char **ret_mt, struct diag *d)
{
	struct docs *ds = data;

	ds->fetched++;
	for (size_t i = 0; i < ds->n; i++) {
		if (strcmp(ds->digest[i], desc->digest) != 0)
			continue;
		*ret_buf = strdup(ds->body[i]);
		*ret_len = strlen(ds->body[i]);
		*ret_mt = ds->mt[i] ? strdup(ds->mt[i]) : NULL;
		return 0;
	}
	return diag_fail(d, -ENOENT, "no document %s", desc->digest);
}

static json_t *manifest_json(const char *mt, const char *tag)
{
	char cfg[OCI_DIGEST_STR_MAX], layer[OCI_DIGEST_STR_MAX];

	oci_digest_buf(tag, strlen(tag), cfg);
	oci_digest_buf("layer", 5, layer);
	return json_pack("{s:i, s:s?, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:i}]}", "schemaVersion", 2,
			 "mediaType", mt, "config", "mediaType",
			 "application/vnd.oci.image.config.v1+json", "digest", cfg, "size", 10,
			 "layers", "mediaType", "application/vnd.oci.image.layer.v1.tar+gzip",
			 "digest", layer, "size", 5);
}

/* The config digest says which manifest was picked. */
static void assert_picked(struct oci_manifest *m, const char *tag)
{
	char cfg[OCI_DIGEST_STR_MAX];

	oci_digest_buf(tag, strlen(tag), cfg);
	if (strcmp(m->config.digest, cfg) != 0)
		fail_msg("picked the wrong manifest (wanted %s)", tag);
}

static int resolve_str(struct docs *ds, const char *body_digest, const char *ct,
		       const char *platform, struct oci_manifest *m, struct diag *d)
{
	struct oci_platform p;
	size_t i;

	for (i = 0; i < ds->n && strcmp(ds->digest[i], body_digest); i++)
		;
	assert_true(i < ds->n);
	assert_int_equal(oci_platform_parse(platform, &p, NULL), 0);
	return oci_manifest_resolve(ds->body[i], strlen(ds->body[i]), body_digest, ct, &p,
				    doc_fetch, ds, m, d);
}

static json_t *entry(const char *mt, const char *digest, const char *os, const char *arch,
		     const char *variant)
{
	json_t *e = json_pack("{s:s, s:s, s:i}", "mediaType", mt, "digest", digest, "size", 1);

	/* sizes are not checked by this fetcher; the registry code checks them */
	if (os)
		json_object_set_new(e, "platform",
				    json_pack("{s:s, s:s, s:s?}", "os", os, "architecture", arch,
					      "variant", variant));
	return e;
}

static void test_content_type_dispatch(void **state)
{
	struct docs ds = {};
	struct oci_manifest m = {};
	struct diag d = {};
	const char *om, *dm, *bare, *lst;

	(void)state;
	om = doc_add(&ds, NULL, manifest_json(MT_OCI_MANIFEST, "oci"));
	dm = doc_add(&ds, NULL, manifest_json(MT_DOCKER_MANIFEST, "docker"));
	bare = doc_add(&ds, NULL, manifest_json(NULL, "bare"));

	/* Content-Type decides, with parameters */
	assert_int_equal(resolve_str(&ds, om, MT_OCI_MANIFEST "; charset=utf-8", NULL, &m, &d), 0);
	assert_picked(&m, "oci");
	assert_string_equal(m.digest, om);
	oci_manifest_clear(&m);
	assert_int_equal(resolve_str(&ds, dm, MT_DOCKER_MANIFEST, NULL, &m, &d), 0);
	assert_picked(&m, "docker");
	oci_manifest_clear(&m);
	/* unknown or missing Content-Type: the document says */
	assert_int_equal(resolve_str(&ds, om, "application/json", NULL, &m, &d), 0);
	oci_manifest_clear(&m);
	assert_int_equal(resolve_str(&ds, bare, NULL, NULL, &m, &d), 0);
	assert_picked(&m, "bare");
	oci_manifest_clear(&m);
	/* Content-Type and body disagree */
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, om, MT_DOCKER_MANIFEST, NULL, &m, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "differs"));
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, om, MT_OCI_INDEX, NULL, &m, &d), -EINVAL);
	/* schema1, by Content-Type or by body */
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, om, MT_SCHEMA1, NULL, &m, &d), -EPROTONOSUPPORT);
	assert_non_null(strstr(d.msg, "schema1"));
	{
		const char *s1 = doc_add(&ds, NULL, json_pack("{s:i, s:s}", "schemaVersion", 1,
							      "name", "x"));

		diag_clear(&d);
		assert_int_equal(resolve_str(&ds, s1, "application/json", NULL, &m, &d),
				 -EPROTONOSUPPORT);
		assert_non_null(strstr(d.msg, "schema1"));
	}
	/* a Docker list served as such leads to a Docker manifest */
	lst = doc_add(&ds, MT_DOCKER_LIST,
		      json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType",
				MT_DOCKER_LIST, "manifests",
				entry(MT_DOCKER_MANIFEST, dm, "linux", oci_host_arch(), NULL)));
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, lst, MT_DOCKER_LIST, NULL, &m, &d), 0);
	assert_picked(&m, "docker");
	oci_manifest_clear(&m);
	/* not JSON */
	{
		struct oci_platform p;

		oci_platform_parse(NULL, &p, NULL);
		diag_clear(&d);
		assert_int_equal(oci_manifest_resolve("<html>", 6, DG, MT_OCI_MANIFEST, &p,
						      doc_fetch, &ds, &m, &d),
				 -EINVAL);
		assert_int_equal(oci_manifest_resolve("[]", 2, DG, NULL, &p, doc_fetch, &ds, &m,
						      NULL),
				 -EINVAL);
	}
	docs_clear(&ds);
}

static void test_platform_select(void **state)
{
	struct docs ds = {};
	struct oci_manifest m = {};
	struct diag d = {};
	const char *amd, *arm64, *v6, *v7, *armnv, *att, *idx, *inner, *outer;
	const char *mt = MT_OCI_MANIFEST;
	json_t *att_e;

	(void)state;
	amd = doc_add(&ds, NULL, manifest_json(mt, "amd64"));
	arm64 = doc_add(&ds, NULL, manifest_json(mt, "arm64"));
	v6 = doc_add(&ds, NULL, manifest_json(mt, "v6"));
	v7 = doc_add(&ds, NULL, manifest_json(mt, "v7"));
	armnv = doc_add(&ds, NULL, manifest_json(mt, "arm"));
	att = doc_add(&ds, NULL, manifest_json(mt, "att"));
	att_e = entry(mt, att, "unknown", "unknown", NULL);
	json_object_set_new(att_e, "annotations",
			    json_pack("{s:s}", "vnd.docker.reference.type",
				      "attestation-manifest"));
	idx = doc_add(&ds, MT_OCI_INDEX,
		      json_pack("{s:i, s:s, s:[o,o,o,o,o,o,o]}", "schemaVersion", 2, "mediaType",
				MT_OCI_INDEX, "manifests",
				entry("application/vnd.example.sbom", amd, "linux", "amd64", NULL),
				att_e, entry(mt, v6, "linux", "arm", "v6"),
				entry(mt, armnv, "linux", "arm", NULL),
				entry(mt, v7, "linux", "arm", "v7"),
				entry(mt, arm64, "linux", "arm64", "v8"),
				entry(mt, amd, "linux", "amd64", NULL)));

	static const struct {
		const char *platform, *want;
	} cases[] = {
		{ "linux/amd64", "amd64" }, { "linux/arm64", "arm64" },
		{ "linux/arm64/v8", "arm64" }, { "linux/arm/v7", "v7" },
		{ "linux/arm/v6", "v6" },   { "linux/arm", "arm" },
		{ "linux/arm/v8", "arm" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		diag_clear(&d);
		if (resolve_str(&ds, idx, MT_OCI_INDEX, cases[i].platform, &m, &d) < 0)
			fail_msg("%s: %s", cases[i].platform, d.msg);
		assert_picked(&m, cases[i].want);
		oci_manifest_clear(&m);
	}
	/* no match: the message lists platforms, without the attestation */
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, idx, MT_OCI_INDEX, "linux/s390x", &m, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "no manifest for linux/s390x"));
	assert_non_null(strstr(d.msg, "linux/arm/v6"));
	assert_null(strstr(d.msg, "unknown"));
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, idx, MT_OCI_INDEX, "windows/amd64", &m, &d), -ENOENT);

	/* nested: index -> index -> manifest */
	inner = doc_add(&ds, NULL,
			json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests",
				  entry(MT_OCI_INDEX, idx, NULL, NULL, NULL)));
	outer = doc_add(&ds, NULL,
			json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType",
				  MT_OCI_INDEX, "manifests",
				  entry(MT_OCI_INDEX, inner, NULL, NULL, NULL)));
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, outer, NULL, "linux/arm64", &m, &d), 0);
	assert_picked(&m, "arm64");
	oci_manifest_clear(&m);
	/* an index of only attestations and unknown types */
	idx = doc_add(&ds, NULL,
		      json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests",
				entry(mt, att, "unknown", "unknown", NULL)));
	diag_clear(&d);
	assert_int_equal(resolve_str(&ds, idx, NULL, "linux/amd64", &m, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "no manifest of a supported media type"));
	docs_clear(&ds);
}

static void test_platform_parse(void **state)
{
	struct oci_platform p;

	(void)state;
	assert_int_equal(oci_platform_parse(NULL, &p, NULL), 0);
	assert_string_equal(p.os, "linux");
	assert_string_equal(p.architecture, oci_host_arch());
	assert_int_equal(oci_platform_parse("linux/arm/v7", &p, NULL), 0);
	assert_string_equal(p.architecture, "arm");
	assert_string_equal(p.variant, "v7");
	assert_int_equal(oci_platform_parse("linux/amd64", &p, NULL), 0);
	assert_string_equal(p.variant, "");
	assert_int_equal(oci_platform_parse("linux", &p, NULL), -EINVAL);
	assert_int_equal(oci_platform_parse("linux/", &p, NULL), -EINVAL);
	assert_int_equal(oci_platform_parse("/amd64", &p, NULL), -EINVAL);
	assert_int_equal(oci_platform_parse("linux/amd64/", &p, NULL), -EINVAL);
	assert_int_equal(oci_platform_parse("linux/amd64/v1/x", &p, NULL), -EINVAL);
	assert_int_equal(oci_platform_parse("Linux/amd64", &p, NULL), -EINVAL);
	assert_int_equal(oci_platform_parse("linux/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &p,
					    NULL),
			 -EINVAL);
}

/* ---- credentials ---------------------------------------------------------------------------- */

static void test_docker_config(void **state)
{
	/* "dXNlcjpwYTpzcw==" is base64("user:pa:ss"); "aHViOmh1YnB3" is "hub:hubpw" */
	const char *cfg = "{\"auths\": {"
			  "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"
			  "\"reg.example:5000\": {\"auth\": \"dXNlcjpwYTpzcw==\"},"
			  "\"http://plain.example\": {\"auth\": \"dXNlcjpwYTpzcw\"},"
			  "\"up.example\": {\"username\": \"u\", \"password\": \"p\"},"
			  "\"bad.example\": {\"auth\": \"!!!\"},"
			  "\"nocolon.example\": {\"auth\": \"bm9jb2xvbg==\"},"
			  "\"token.example\": {\"identitytoken\": \"x\"}"
			  "}, \"credsStore\": \"desktop\"}";
	static const struct {
		const char *registry;
		int err;
		const char *user, *password;
	} cases[] = {
		{ "docker.io", 0, "hub", "hubpw" },
		{ "registry-1.docker.io", 0, "hub", "hubpw" },
		{ "reg.example:5000", 0, "user", "pa:ss" },
		{ "REG.example:5000", 0, "user", "pa:ss" },
		{ "reg.example", -ENOENT, NULL, NULL },
		{ "plain.example", 0, "user", "pa:ss" }, /* missing padding tolerated */
		{ "up.example", 0, "u", "p" },
		{ "bad.example", -EINVAL, NULL, NULL },
		{ "nocolon.example", -EINVAL, NULL, NULL },
		{ "token.example", -ENOENT, NULL, NULL },
		{ "other.example", -ENOENT, NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct oci_credentials c = {};
		struct diag d = {};
		int r = oci_auth_config_parse(cfg, strlen(cfg), cases[i].registry, &c, &d);

		if (r != cases[i].err)
			fail_msg("%s: got %d (%s), want %d", cases[i].registry, r, d.msg,
				 cases[i].err);
		if (r == 0) {
			assert_string_equal(c.user, cases[i].user);
			assert_string_equal(c.password, cases[i].password);
		} else {
			assert_null(c.user);
			assert_null(c.password);
		}
		/* the message never carries the secret */
		assert_null(strstr(d.msg, "pa:ss"));
		oci_credentials_clear(&c);
		assert_null(c.user);
	}
	{
		struct oci_credentials c = {};

		assert_int_equal(oci_auth_config_parse("{}", 2, "x", &c, NULL), -ENOENT);
		assert_int_equal(oci_auth_config_parse("[]", 2, "x", &c, NULL), -EINVAL);
		assert_int_equal(oci_auth_config_parse("{\"auths\": 1}", 12, "x", &c, NULL),
				 -EINVAL);
		assert_int_equal(oci_auth_config_parse("{", 1, "x", &c, NULL), -EINVAL);
	}
}

static void test_auth_lookup_files(void **state)
{
	char dir[] = "/tmp/test_oci_registry.XXXXXX", path[128], home[128], *src = NULL;
	struct oci_credentials c = {};
	const char *body = "{\"auths\": {\"h.example\": {\"auth\": \"YTpi\"}}}";
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/auth.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
	assert_int_equal(oci_auth_lookup(path, "h.example", &c, &src, NULL), 0);
	assert_string_equal(c.user, "a");
	assert_string_equal(c.password, "b");
	assert_string_equal(src, path);
	free(src);
	oci_credentials_clear(&c);
	assert_int_equal(oci_auth_lookup(path, "other", &c, NULL, NULL), -ENOENT);
	/* a missing file is no credentials, not an error */
	snprintf(path, sizeof(path), "%s/none.json", dir);
	assert_int_equal(oci_auth_lookup(path, "h.example", &c, NULL, NULL), -ENOENT);
	/* the default: ~/.docker/config.json after /etc/tank/auth.json */
	snprintf(home, sizeof(home), "%s/.docker", dir);
	assert_int_equal(mkdir(home, 0700), 0);
	snprintf(path, sizeof(path), "%s/.docker/config.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
	setenv("HOME", dir, 1);
	if (!fs_exists("/etc/tank/auth.json")) {
		assert_int_equal(oci_auth_lookup(NULL, "h.example", &c, &src, NULL), 0);
		assert_string_equal(src, path);
		free(src);
		oci_credentials_clear(&c);
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

static void test_token_parse(void **state)
{
	static const struct {
		const char *in;
		int err;
		const char *token;
		uint64_t expires;
	} cases[] = {
		{ "{\"token\":\"abc.def\",\"expires_in\":300}", 0, "abc.def", 300 },
		{ "{\"access_token\":\"xyz\"}", 0, "xyz", 60 },
		{ "{\"token\":\"\",\"access_token\":\"xyz\",\"expires_in\":-5}", 0, "xyz", 60 },
		{ "{\"token\":\"t\",\"expires_in\":999999999}", 0, "t", 86400 },
		{ "{\"token\":\"a b\"}", -EINVAL, NULL, 0 },
		{ "{\"token\":\"a\\r\\nX-Evil: 1\"}", -EINVAL, NULL, 0 },
		{ "{\"token\":1}", -EINVAL, NULL, 0 },
		{ "{}", -EINVAL, NULL, 0 },
		{ "not json", -EINVAL, NULL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *t = NULL;
		uint64_t exp = 0;
		int r = oci_token_parse(cases[i].in, strlen(cases[i].in), &t, &exp, NULL);

		if (r != cases[i].err)
			fail_msg("%s: got %d want %d", cases[i].in, r, cases[i].err);
		if (r == 0) {
			assert_string_equal(t, cases[i].token);
			assert_int_equal(exp, cases[i].expires);
		}
		free(t);
	}
}

static void test_token_cache(void **state)
{
	char key[32], *t;

	(void)state;
	oci_token_cache_put("a", "ta", 300);
	t = oci_token_cache_get("a");
	assert_string_equal(t, "ta");
	free(t);
	oci_token_cache_put("a", "ta2", 300);
	t = oci_token_cache_get("a");
	assert_string_equal(t, "ta2");
	free(t);
	assert_null(oci_token_cache_get("b"));
	/* about to expire counts as expired */
	oci_token_cache_put("short", "ts", 1);
	assert_null(oci_token_cache_get("short"));
	/* more entries than the cache holds: the newest stay */
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		oci_token_cache_put(key, key, 100 + (uint64_t)i);
	}
	t = oci_token_cache_get("k199");
	assert_string_equal(t, "k199");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_docker_hub),
		cmocka_unit_test(test_ref_registry_bad),
		cmocka_unit_test(test_wwwauth),
		cmocka_unit_test(test_media_kind),
		cmocka_unit_test(test_content_type_dispatch),
		cmocka_unit_test(test_platform_select),
		cmocka_unit_test(test_platform_parse),
		cmocka_unit_test(test_docker_config),
		cmocka_unit_test(test_auth_lookup_files),
		cmocka_unit_test(test_token_parse),
		cmocka_unit_test(test_token_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
