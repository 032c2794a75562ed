/* oci_pull.c - drive the oci/ pull client from shell tests (tests/integration/test_registry.sh).
 *
 *   oci_pull [options] pull REF     prepare REF; print manifest, config and layer dirs as JSON
 *   oci_pull [options] list         the store's images as JSON lines
 *   oci_pull [options] rm REF       forget a reference
 *   oci_pull [options] prune [DIGEST...]   prune, keeping what DIGESTs reach
 * options: --store DIR (required) --policy always|never|if_not_present --auth FILE
 *          --platform os/arch[/variant] --parallel N --progress --debug
 *          --insecure HOST --ca HOST=FILE --mirror HOST=MIRROR (repeatable)
 * On failure: "error: <text>" on stderr and the exit status is the errno.
 */
#include <getopt.h>
#include <string.h>

#include "oci/oci.h"

#define CFG_MAX 16

static struct oci_registry_config cfgs[CFG_MAX + 1];
static const char *mirrors[CFG_MAX][CFG_MAX + 1];

static struct oci_registry_config *cfg_for(const char *host)
{
	size_t i;

	for (i = 0; i < CFG_MAX && cfgs[i].host; i++)
		if (strcmp(cfgs[i].host, host) == 0)
			return &cfgs[i];
	if (i == CFG_MAX) {
		fprintf(stderr, "too many registries\n");
		exit(2);
	}
	cfgs[i].host = host;
	cfgs[i].mirrors = mirrors[i];
	return &cfgs[i];
}

static char *split_eq(char *s)
{
	char *eq = strchr(s, '=');

	if (!eq) {
		fprintf(stderr, "want HOST=VALUE: %s\n", s);
		exit(2);
	}
	*eq = '\0';
	return eq + 1;
}

static const char *phase_name(enum oci_progress_phase p)
{
	static const char *const n[] = { "downloading", "verifying", "unpacking", "done",
					 "warning" };

	return (size_t)p < ARRAY_SIZE(n) ? n[p] : "?";
}

static void on_progress(const struct oci_progress *ev, void *data)
{
	(void)data;
	/* one line per event except the many downloading ones: first and last only */
	if (ev->phase == OCI_PROGRESS_DOWNLOADING && ev->done != 0 && ev->done != ev->total)
		return;
	fprintf(stderr, "progress %s %s %llu/%llu dl=%llums unpack=%llums%s%s\n",
		phase_name(ev->phase), ev->digest ? ev->digest : "-",
		(unsigned long long)ev->done, (unsigned long long)ev->total,
		(unsigned long long)ev->download_ms, (unsigned long long)ev->unpack_ms,
		ev->message ? " " : "", ev->message ? ev->message : "");
}

static int fail(int r, const struct diag *d)
{
	fprintf(stderr, "error: %s\n", diag_text(d, r));
	return -r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "auth", required_argument, NULL, 'a' },
		{ "platform", required_argument, NULL, 'P' },
		{ "parallel", required_argument, NULL, 'j' },
		{ "progress", no_argument, NULL, 'v' },
		{ "debug", no_argument, NULL, 'D' },
		{ "insecure", required_argument, NULL, 'i' },
		{ "ca", required_argument, NULL, 'c' },
		{ "mirror", required_argument, NULL, 'm' },
		{},
	};
	struct oci_pull_opts o = { .registries = cfgs };
	const char *store = NULL;
	struct diag d = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		struct oci_registry_config *rc;
		char *v;
		size_t n;

		switch (c) {
		case 's':
			store = optarg;
			break;
		case 'p':
			o.policy = !strcmp(optarg, "always") ? OCI_PULL_ALWAYS
				   : !strcmp(optarg, "never") ? OCI_PULL_NEVER
							      : OCI_PULL_IF_NOT_PRESENT;
			break;
		case 'a':
			o.auth_file = optarg;
			break;
		case 'P':
			o.platform = optarg;
			break;
		case 'j':
			o.max_parallel = (unsigned)atoi(optarg);
			break;
		case 'v':
			o.progress = on_progress;
			break;
		case 'D':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'i':
			cfg_for(optarg)->insecure_http = true;
			break;
		case 'c':
			v = split_eq(optarg);
			cfg_for(optarg)->ca_file = v;
			break;
		case 'm':
			v = split_eq(optarg);
			rc = cfg_for(optarg);
			for (n = 0; rc->mirrors[n]; n++)
				;
			if (n < CFG_MAX)
				((const char **)rc->mirrors)[n] = v;
			break;
		default:
			return 2;
		}
	}
	if (!store || optind >= argc) {
		fprintf(stderr, "usage: oci_pull --store DIR [options] pull|list|rm|prune ...\n");
		return 2;
	}
	if (!strcmp(argv[optind], "pull") && optind + 1 < argc) {
		struct oci_image *img = NULL;
		json_t *j;
		char *s;

		r = oci_image_prepare_opts(store, argv[optind + 1], &o, &img, &d);
		if (r < 0)
			return fail(r, &d);
		j = json_pack("{s:s, s:s, s:o}", "manifest", img->manifest_digest, "config",
			      img->config_digest, "layers", json_from_strv(img->layer_dirs));
		s = json_dumps(j, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(j);
		oci_image_free(img);
		return 0;
	}
	if (!strcmp(argv[optind], "list")) {
		struct oci_store_image *v = NULL;
		size_t n = 0;

		r = oci_store_list_images(store, &v, &n, &d);
		if (r < 0)
			return fail(r, &d);
		for (size_t i = 0; i < n; i++)
			printf("{\"ref\":\"%s\",\"digest\":\"%s\",\"manifest\":\"%s\","
			       "\"size\":%llu}\n",
			       v[i].ref, v[i].digest,
			       v[i].manifest_digest ? v[i].manifest_digest : "",
			       (unsigned long long)v[i].size);
		oci_store_images_free(v, n);
		return 0;
	}
	if (!strcmp(argv[optind], "rm") && optind + 1 < argc) {
		r = oci_store_remove_image(store, argv[optind + 1], &d);
		return r < 0 ? fail(r, &d) : 0;
	}
	if (!strcmp(argv[optind], "prune")) {
		struct oci_prune_stats st = {};

		r = oci_store_prune(store, (const char *const *)argv + optind + 1, &st, &d);
		if (r < 0)
			return fail(r, &d);
		printf("{\"blobs\":%zu,\"layers\":%zu,\"bytes\":%llu}\n", st.blobs, st.layers,
		       (unsigned long long)st.bytes);
		return 0;
	}
	fprintf(stderr, "unknown command %s\n", argv[optind]);
	return 2;
}
