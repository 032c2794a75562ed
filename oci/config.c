/* config.c - the image config (run parameters, diff_ids) and merging it with a spec. */
#include <string.h>

#include "oci/oci.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void oci_image_config_clear(struct oci_image_config *c)
{
	if (!c)
		return;
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->env);
	free(c->working_dir);
	free(c->user);
	free(c->stop_signal);
	memset(c, 0, sizeof(*c));
}

/* An optional array of strings: absent or null gives NULL. */
static int get_strv(const json_t *o, const char *key, char ***ret, struct diag *d)
{
	const json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	*ret = json_strv(v);
	if (!*ret)
		return diag_fail(d, -EINVAL, "image config: config.%s must be an array of strings",
				 key);
	return 0;
}

/* An optional string: absent, null or "" gives NULL. */
static int get_str(const json_t *o, const char *key, char **ret, struct diag *d)
{
	const json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return diag_fail(d, -EINVAL, "image config: config.%s must be a string", key);
	if (json_string_length(v) == 0)
		return 0;
	if (strlen(json_string_value(v)) != json_string_length(v))
		return diag_fail(d, -EINVAL, "image config: config.%s contains a NUL byte", key);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

int oci_config_parse(const char *buf, size_t len, size_t n_layers, struct oci_image_config *ret_cfg,
		     char ***ret_diff_ids, struct diag *d)
{
	_cleanup_(oci_image_config_clear) struct oci_image_config c = {};
	_cleanup_strv_ char **diff_ids = NULL;
	_cleanup_json_ json_t *j = NULL;
	const json_t *cfg, *rootfs, *ids, *e;
	size_t i;
	int r;

	r = json_parse_buf(buf, len, &j, d);
	if (r < 0) {
		diag_prefix(d, "image config: ");
		return r;
	}
	if (!json_is_object(j))
		return diag_fail(d, -EINVAL, "image config: not a JSON object");
	cfg = json_object_get(j, "config");
	if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
		return diag_fail(d, -EINVAL, "image config: \"config\" must be an object");
	if ((r = get_strv(cfg, "Entrypoint", &c.entrypoint, d)) < 0 ||
	    (r = get_strv(cfg, "Cmd", &c.cmd, d)) < 0 ||
	    (r = get_strv(cfg, "Env", &c.env, d)) < 0 ||
	    (r = get_str(cfg, "WorkingDir", &c.working_dir, d)) < 0 ||
	    (r = get_str(cfg, "User", &c.user, d)) < 0 ||
	    (r = get_str(cfg, "StopSignal", &c.stop_signal, d)) < 0)
		return r;

	rootfs = json_object_get(j, "rootfs");
	if (!json_is_object(rootfs) || strcmp(json_str(rootfs, "type", ""), "layers") != 0)
		return diag_fail(d, -EINVAL,
				 "image config: rootfs must be an object with type \"layers\"");
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids))
		return diag_fail(d, -EINVAL, "image config: rootfs.diff_ids must be an array");
	if (json_array_size(ids) != n_layers)
		return diag_fail(d, -EINVAL,
				 "image config: rootfs.diff_ids lists %zu layers but the manifest "
				 "has %zu: the image is inconsistent; rebuild it",
				 json_array_size(ids), n_layers);
	diff_ids = calloc(1, sizeof(char *));
	if (!diff_ids)
		return -ENOMEM;
	json_array_foreach(ids, i, e) {
		char what[48];

		snprintf(what, sizeof(what), "image config: rootfs.diff_ids[%zu]", i);
		r = oci_digest_check(json_string_value(e), what, NULL, d);
		if (r < 0)
			return r;
		r = strv_push(&diff_ids, json_string_value(e));
		if (r < 0)
			return r;
	}
	*ret_cfg = c;
	memset(&c, 0, sizeof(c));
	if (ret_diff_ids)
		*ret_diff_ids = TAKE_PTR(diff_ids);
	return 0;
}

void oci_process_clear(struct oci_process *p)
{
	if (!p)
		return;
	strv_free(p->argv);
	strv_free(p->env);
	free(p->cwd);
	memset(p, 0, sizeof(*p));
}

static int push_all(char ***v, char *const *add)
{
	for (size_t i = 0; add && add[i]; i++) {
		int r = strv_push(v, add[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Set "K=V" in env: replace an entry with the same key in place, else append. */
static int env_set(char ***env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	int i = strv_env_find(*env, kv, (size_t)(eq - kv));
	char *copy;

	if (i < 0)
		return strv_push(env, kv);
	copy = strdup(kv);
	if (!copy)
		return -ENOMEM;
	free((*env)[i]);
	(*env)[i] = copy;
	return 0;
}

int oci_process_merge(const struct oci_image_config *img, char *const *command, char *const *args,
		      char *const *env, const char *working_dir, struct oci_process *ret,
		      struct diag *d)
{
	static const struct oci_image_config none = {};
	_cleanup_strv_ char **argv = calloc(1, sizeof(char *));
	_cleanup_strv_ char **envv = calloc(1, sizeof(char *));
	_cleanup_free_ char *cwd = NULL;
	const char *wd;
	int r;

	if (!argv || !envv)
		return -ENOMEM;
	if (!img)
		img = &none;

	/* command replaces Entrypoint and drops Cmd; args replaces Cmd */
	r = push_all(&argv, command ? command : img->entrypoint);
	if (r >= 0)
		r = push_all(&argv, args ? args : (command ? NULL : img->cmd));
	if (r < 0)
		return r;
	if (!argv[0])
		return diag_fail(d, -EINVAL,
				 "nothing to run: the image has no Entrypoint or Cmd and the spec "
				 "sets neither command nor args");
	if (!argv[0][0])
		return diag_fail(d, -EINVAL, "nothing to run: the program name is empty");

	/* image Env in order, then the spec's entries over it */
	for (size_t i = 0; img->env && img->env[i]; i++) {
		const char *eq = strchr(img->env[i], '=');

		if (!eq || eq == img->env[i])
			continue; /* not KEY=VALUE: an image quirk we do not pass on */
		r = env_set(&envv, img->env[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');

		if (!eq || eq == env[i])
			return diag_fail(d, -EINVAL, "env entry \"%.100s\" is not KEY=VALUE",
					 env[i]);
		r = env_set(&envv, env[i]);
		if (r < 0)
			return r;
	}
	if (strv_env_find(envv, "PATH", 4) < 0) {
		r = strv_push(&envv, DEFAULT_PATH);
		if (r < 0)
			return r;
	}

	wd = working_dir && *working_dir
		     ? working_dir
		     : (img->working_dir && *img->working_dir ? img->working_dir : "/");
	/* a relative image WorkingDir is taken from / (as other runtimes do) */
	cwd = wd[0] == '/' ? strdup(wd) : strdup_printf("/%s", wd);
	if (!cwd)
		return -ENOMEM;

	ret->argv = TAKE_PTR(argv);
	ret->env = TAKE_PTR(envv);
	ret->cwd = TAKE_PTR(cwd);
	return 0;
}
