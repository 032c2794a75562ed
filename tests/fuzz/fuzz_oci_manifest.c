/* fuzz_oci_manifest.c - libFuzzer target: manifests and indexes (Content-Type dispatch,
 * platform choice, nested indexes), image configs and docker config credentials. */
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EMPTY_DIGEST "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char *const types[] = {
	NULL,
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json; charset=utf-8",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"application/json",
};

struct input {
	const char *buf;
	size_t len;
};

/* Every child document is the input again: indexes nest until the depth limit. */
static int fetch(void *data, const struct oci_descriptor *desc, char **ret_buf, size_t *ret_len,
		 char **ret_media_type, struct diag *d)
{
	const struct input *in = data;

	(void)desc;
	(void)d;
	*ret_buf = malloc(in->len + 1);
	if (!*ret_buf)
		return -ENOMEM;
	memcpy(*ret_buf, in->buf, in->len);
	(*ret_buf)[in->len] = '\0';
	*ret_len = in->len;
	*ret_media_type = NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const plats[] = { NULL, "linux/arm/v7", "linux/arm64", "linux/amd64" };
	struct oci_manifest m = {};
	struct oci_platform p;
	struct input in;
	struct oci_image_config cfg = {};
	struct oci_credentials cred = {};
	char **diff_ids = NULL;

	if (size < 1)
		return 0;
	in.buf = (const char *)data + 1;
	in.len = size - 1;
	if (oci_platform_parse(plats[(data[0] >> 4) % 4], &p, NULL) < 0)
		return 0;
	if (oci_manifest_resolve(in.buf, in.len, EMPTY_DIGEST, types[(data[0] & 15) % 7], &p,
				 fetch, &in, &m, NULL) == 0) {
		if (!m.digest || !m.config.digest || m.n_layers > OCI_LAYERS_MAX)
			__builtin_trap();
		for (size_t i = 0; i < m.n_layers; i++)
			if (oci_digest_check(m.layers[i].digest, "x", NULL, NULL) < 0 ||
			    m.layers[i].size < 0)
				__builtin_trap();
		oci_manifest_clear(&m);
	}
	if (oci_config_parse(in.buf, in.len, data[0] % 4, &cfg, &diff_ids, NULL) == 0) {
		if (strv_length(diff_ids) != (size_t)(data[0] % 4))
			__builtin_trap();
		oci_image_config_clear(&cfg);
		strv_free(diff_ids);
	}
	if (oci_auth_config_parse(in.buf, in.len, "docker.io", &cred, NULL) == 0 &&
	    (!cred.user || !cred.password))
		__builtin_trap();
	oci_credentials_clear(&cred);
	return 0;
}
