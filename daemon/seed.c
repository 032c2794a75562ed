/* seed.c - boot seed: pods from *.json in seed_dir are created when the store lacks them. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>

#include "daemon/tankd.h"

#define SEEDED_FILE "seeded.json" /* name -> sha256 of the seed text already applied */
#define SEED_FILES_MAX 1024

static void text_sum(const char *buf, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < n && i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

/*
 * A seed is applied once per content: a pod deleted or changed at runtime is not brought back
 * or overwritten by the same seed file at the next boot; an edited seed file applies when the
 * store has no such pod.
 */
static void seed_one(struct tankd *t, int dfd, const char *file, json_t *seeded)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *doc = NULL, *errs = NULL, *rec = NULL;
	struct tankd_spec_host host;
	struct pod_spec *ps = NULL;
	struct diag d = { 0 };
	const char *result;
	char sum[65];
	size_t len, i;
	json_t *e;
	int r;

	r = fs_read_all(dfd, file, SPEC_DOC_MAX, &buf, &len);
	if (r >= 0)
		r = json_parse_buf(buf, len, &doc, &d);
	if (r < 0) {
		log_error("seed %s/%s: %s", t->cfg.seed_dir, file, diag_text(&d, r));
		return;
	}
	tankd_spec_host(t, &host);
	r = spec_parse_host(doc, &host.h, &ps, &errs, &d);
	if (r == -ENOMEM) {
		log_error("seed %s/%s: %s", t->cfg.seed_dir, file, diag_text(&d, r));
		return;
	}
	if (json_array_size(errs)) {
		json_array_foreach(errs, i, e)
			log_error("seed %s/%s: %s: %s", t->cfg.seed_dir, file, json_str(e, "path", ""),
				  json_str(e, "message", ""));
		pod_spec_free(ps);
		return;
	}
	text_sum(buf, len, sum);
	if (!strcmp(json_str(seeded, ps->name, ""), sum)) {
		pod_spec_free(ps);
		return; /* applied before: runtime changes win */
	}
	r = t->store->ops->put(t->store, ps->name, doc, 0, &result, &rec, &d);
	if (r == -ESTALE) {
		log_pod(LOG_LVL_INFO, ps->name, "seed %s/%s: the pod exists; left as it is",
			t->cfg.seed_dir, file);
	} else if (r < 0) {
		log_pod(LOG_LVL_ERROR, ps->name, "seed %s/%s: %s", t->cfg.seed_dir, file,
			diag_text(&d, r));
		pod_spec_free(ps);
		return;
	} else {
		event_emit(t, ps->name, false, "Seeded", "created from %s/%s", t->cfg.seed_dir, file);
	}
	json_object_set_new(seeded, ps->name, json_string(sum));
	pod_spec_free(ps);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void seed_apply(struct tankd *t)
{
	_cleanup_close_ int dfd = open(t->cfg.seed_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int datafd = open(t->cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_json_ json_t *seeded = NULL;
	_cleanup_strv_ char **files = calloc(1, sizeof(char *));
	size_t n;
	DIR *dp;
	struct dirent *de;

	if (dfd < 0 || datafd < 0 || !files)
		return; /* no seed dir: nothing to seed */
	if (json_read_file(datafd, SEEDED_FILE, 1 << 20, &seeded, NULL) < 0 ||
	    !json_is_object(seeded)) {
		json_decref(seeded);
		seeded = json_object();
	}
	dp = fdopendir(dup(dfd));
	if (!dp)
		return;
	while ((de = readdir(dp)) && strv_length(files) < SEED_FILES_MAX) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] != '.' && l > 5 && !strcmp(de->d_name + l - 5, ".json"))
			strv_push(&files, de->d_name);
	}
	closedir(dp);
	n = strv_length(files);
	qsort(files, n, sizeof(char *), name_cmp);
	for (size_t i = 0; i < n; i++)
		seed_one(t, dfd, files[i], seeded);
	if (json_write_atomic(datafd, SEEDED_FILE, seeded, 0600) < 0)
		log_warn("cannot record applied seeds in %s/%s", t->cfg.data_dir, SEEDED_FILE);
}
