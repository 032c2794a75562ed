/* cgroup.c - per-pod cgroups on v1, hybrid and v2 hosts: create, place (via the shim), remove. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "daemon/tankd.h"

/* v1 controllers Tank uses; each is its own hierarchy on v1/hybrid hosts. */
static const char *const v1_controllers[] = { "memory", "cpu", "pids" };

const char *cgroup_mode_name(enum cgroup_mode m)
{
	return m == CGROUP_V2 ? "v2" : m == CGROUP_HYBRID ? "hybrid" : "v1";
}

int cgroup_detect(const char *root, enum cgroup_mode *ret)
{
	struct statfs sf;
	_cleanup_free_ char *unified = strdup_printf("%s/unified", root);

	if (statfs(root, &sf) < 0)
		return -errno;
	if (sf.f_type == CGROUP2_SUPER_MAGIC) {
		*ret = CGROUP_V2;
		return 0;
	}
	if (unified && statfs(unified, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		*ret = CGROUP_HYBRID;
	else
		*ret = CGROUP_V1;
	return 0;
}

/* The v2 directory that holds Tank's cgroups, or NULL on a v1-only host. */
static char *v2_base(const struct tankd_config *c, enum cgroup_mode m)
{
	if (m == CGROUP_V2)
		return strdup_printf("%s/%s", c->cgroup_root, c->cgroup_name);
	if (m == CGROUP_HYBRID)
		return strdup_printf("%s/unified/%s", c->cgroup_root, c->cgroup_name);
	return NULL;
}

/* On v2, controllers must be enabled in every ancestor's subtree_control. */
static void v2_enable_controllers(const char *dir)
{
	_cleanup_free_ char *p = strdup_printf("%s/cgroup.subtree_control", dir);

	if (!p)
		return;
	/* best effort: a controller the parent lacks is just not available for limits */
	fs_write_str(p, "+memory");
	fs_write_str(p, "+cpu");
	fs_write_str(p, "+pids");
}

static int mkdir_cg(const char *path, struct diag *d)
{
	int r = fs_mkdir_p(path, 0755);

	return r < 0 ? diag_fail(d, r, "create cgroup %s: %s", path, strerror(-r)) : 0;
}

int cgroup_create(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		  const char *ctr, char ***ret_dirs, struct diag *d)
{
	_cleanup_strv_ char **dirs = calloc(1, sizeof(char *));
	_cleanup_free_ char *base = v2_base(c, m);
	int r;

	if (!dirs)
		return -ENOMEM;
	if (m != CGROUP_V2) {
		for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
			_cleanup_free_ char *ctl = strdup_printf("%s/%s", c->cgroup_root,
								  v1_controllers[i]);
			_cleanup_free_ char *dir = NULL;
			struct statfs sf;

			if (!ctl)
				return -ENOMEM;
			if (statfs(ctl, &sf) < 0 || sf.f_type != CGROUP_SUPER_MAGIC)
				continue; /* controller not mounted on this host */
			dir = strdup_printf("%s/%s/%s/%s", ctl, c->cgroup_name, pod, ctr);
			if (!dir)
				return -ENOMEM;
			r = mkdir_cg(dir, d);
			if (r < 0)
				return r;
			if (strv_push(&dirs, dir) < 0)
				return -ENOMEM;
		}
	}
	if (base) {
		_cleanup_free_ char *podd = strdup_printf("%s/%s", base, pod);
		_cleanup_free_ char *dir = strdup_printf("%s/%s/%s", base, pod, ctr);

		if (!podd || !dir)
			return -ENOMEM;
		r = mkdir_cg(dir, d);
		if (r < 0)
			return r;
		if (m == CGROUP_V2) {
			v2_enable_controllers(base);
			v2_enable_controllers(podd);
		}
		if (strv_push(&dirs, dir) < 0)
			return -ENOMEM;
	}
	*ret_dirs = TAKE_PTR(dirs);
	return 0;
}

/* rmdir the leaves below dir, then dir itself. cgroupfs dirs hold only files, never data. */
static int rmdir_tree(const char *dir, struct diag *d)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dp;
	struct dirent *e;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	dp = fdopendir(TAKE_FD(fd));
	if (!dp)
		return -errno;
	while ((e = readdir(dp))) {
		_cleanup_free_ char *sub = NULL;

		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = strdup_printf("%s/%s", dir, e->d_name);
		if (sub)
			rmdir_tree(sub, d);
	}
	closedir(dp);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return diag_fail(d, -errno, "remove cgroup %s: %s", dir, strerror(errno));
	return 0;
}

int cgroup_remove_pod(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		      struct diag *d)
{
	_cleanup_free_ char *base = v2_base(c, m);
	int ret = 0, r;

	if (m != CGROUP_V2) {
		for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
			_cleanup_free_ char *dir = strdup_printf("%s/%s/%s/%s", c->cgroup_root,
								  v1_controllers[i],
								  c->cgroup_name, pod);

			if (!dir)
				return -ENOMEM;
			r = rmdir_tree(dir, d);
			if (r < 0 && ret == 0)
				ret = r;
		}
	}
	if (base) {
		_cleanup_free_ char *dir = strdup_printf("%s/%s", base, pod);

		if (!dir)
			return -ENOMEM;
		r = rmdir_tree(dir, d);
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}
