/* cgroup.c - per-pod cgroups on v1, hybrid and v2 hosts: create, place (via the shim), remove. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/tank_dev.skel.h"
#include "daemon/tankd.h"

/* v1 controllers Tank uses; each is its own hierarchy on v1/hybrid hosts. */
static const char *const v1_controllers[] = { "memory", "cpu", "cpuacct", "pids", "devices" };

/*
 * The devices a container may use (read, write, mknod), as runc and crun allow by default:
 * null, zero, full, random, urandom, tty, console, ptmx and the pts. Everything else (kvm,
 * block devices, ...) is refused even when a node of it reaches the container. v1: the devices
 * controller; v2: the BPF program of bpf/tank_dev.bpf.c with the same list. On a hybrid host
 * both apply (the kernel checks the v2 programs and the v1 controller).
 */
static const char *const devices_allow[] = {
	"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",   "c 1:9 rwm",
	"c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
};

static int devices_v1_restrict(const char *dir, struct diag *d)
{
	_cleanup_free_ char *deny = strdup_printf("%s/devices.deny", dir);
	_cleanup_free_ char *allow = strdup_printf("%s/devices.allow", dir);
	int r;

	if (!deny || !allow)
		return -ENOMEM;
	r = fs_write_str(deny, "a");
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(devices_allow); i++)
		r = fs_write_str(allow, devices_allow[i]);
	return r < 0 ? diag_fail(d, r, "restrict devices of %s: %s", dir, strerror(-r)) : 0;
}

/* The loaded device program, shared by every container (loaded on first use). */
static int dev_prog_fd = -1;

/* Is a program named like ours already attached to the cgroup (a restarted container)? */
static bool devices_bpf_attached(int cgfd)
{
	__u32 ids[64], n = ARRAY_SIZE(ids);

	if (bpf_prog_query(cgfd, BPF_CGROUP_DEVICE, 0, NULL, ids, &n) < 0)
		return false;
	for (__u32 i = 0; i < n && i < ARRAY_SIZE(ids); i++) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		_cleanup_close_ int fd = bpf_prog_get_fd_by_id(ids[i]);

		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    strcmp(info.name, "tank_dev") == 0)
			return true;
	}
	return false;
}

/* Attach the device allowlist to a v2 cgroup. Attached without a link: it stays with the
 * cgroup (across tankd restarts) and goes when the cgroup is removed. */
static int devices_bpf_restrict(const char *dir, struct diag *d)
{
	_cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (cgfd < 0)
		return diag_fail(d, -errno, "open cgroup %s: %s", dir, strerror(errno));
	if (dev_prog_fd < 0) {
		struct tank_dev_bpf *sk = tank_dev_bpf__open_and_load();
		int fd;

		if (!sk)
			return diag_fail(d, -errno, "load the device filter (tank_dev): %s",
					 strerror(errno));
		fd = fcntl(bpf_program__fd(sk->progs.tank_dev), F_DUPFD_CLOEXEC, 3);
		tank_dev_bpf__destroy(sk);
		if (fd < 0)
			return diag_fail(d, -errno, "device filter: %s", strerror(errno));
		dev_prog_fd = fd;
	}
	if (devices_bpf_attached(cgfd))
		return 0;
	if (bpf_prog_attach(dev_prog_fd, cgfd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) < 0)
		return diag_fail(d, -errno, "attach the device filter to %s: %s", dir,
				 strerror(errno));
	return 0;
}

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
			if (r >= 0 && strcmp(v1_controllers[i], "devices") == 0)
				r = devices_v1_restrict(dir, d);
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
		if (r >= 0)
			r = devices_bpf_restrict(dir, d);
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

/* The directory of controller ctl for a container: v1 hierarchy, or the v2 one. */
static char *ctl_dir(const struct tankd_config *c, enum cgroup_mode m, const char *ctl,
		     const char *pod, const char *ctr)
{
	struct statfs sf;
	_cleanup_free_ char *v1 = strdup_printf("%s/%s", c->cgroup_root, ctl);
	_cleanup_free_ char *base = NULL;

	if (m != CGROUP_V2 && v1 && statfs(v1, &sf) == 0 && sf.f_type == CGROUP_SUPER_MAGIC)
		return strdup_printf("%s/%s/%s/%s", v1, c->cgroup_name, pod, ctr);
	base = v2_base(c, m);
	return base ? strdup_printf("%s/%s/%s", base, pod, ctr) : NULL;
}

static bool is_v2_dir(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

static int write_knob(const char *dir, const char *file, const char *val, struct diag *d)
{
	_cleanup_free_ char *p = strdup_printf("%s/%s", dir, file);
	int r;

	if (!p)
		return -ENOMEM;
	r = fs_write_str(p, val);
	return r < 0 ? diag_fail(d, r, "set %s = %s: %s (is the controller enabled?)", p, val,
				 strerror(-r))
		     : 0;
}

#define CPU_PERIOD_US 100000

int cgroup_set_limits(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		      const char *ctr, const struct spec_limits *l, struct diag *d)
{
	_cleanup_free_ char *mem = ctl_dir(c, m, "memory", pod, ctr);
	_cleanup_free_ char *cpu = ctl_dir(c, m, "cpu", pod, ctr);
	_cleanup_free_ char *pids = ctl_dir(c, m, "pids", pod, ctr);
	char v[64];
	int r;

	if (!mem || !cpu || !pids)
		return -ENOMEM;
	if (is_v2_dir(mem)) {
		snprintf(v, sizeof(v), l->memory ? "%llu" : "max", (unsigned long long)l->memory);
		r = write_knob(mem, "memory.max", v, d);
		/* best effort: swap accounting may be off */
		if (r >= 0)
			write_knob(mem, "memory.swap.max", l->memory ? "0" : "max", NULL);
	} else {
		/*
		 * v1: -1 is unlimited; swap is limited with memsw where the kernel has it, and
		 * memsw must stay >= the limit: raise it first (may fail when lowering), set the
		 * limit, then set memsw again.
		 */
		snprintf(v, sizeof(v), "%lld", l->memory ? (long long)l->memory : -1LL);
		write_knob(mem, "memory.memsw.limit_in_bytes", v, NULL);
		r = write_knob(mem, "memory.limit_in_bytes", v, d);
		if (r >= 0)
			write_knob(mem, "memory.memsw.limit_in_bytes", v, NULL);
	}
	if (r < 0)
		return r;
	if (is_v2_dir(cpu)) {
		if (l->cpu_milli)
			snprintf(v, sizeof(v), "%llu %d",
				 (unsigned long long)(l->cpu_milli * CPU_PERIOD_US / 1000),
				 CPU_PERIOD_US);
		else
			snprintf(v, sizeof(v), "max %d", CPU_PERIOD_US);
		r = write_knob(cpu, "cpu.max", v, d);
	} else {
		r = write_knob(cpu, "cpu.cfs_period_us", "100000", d);
		snprintf(v, sizeof(v), "%lld",
			 l->cpu_milli ? (long long)(l->cpu_milli * CPU_PERIOD_US / 1000) : -1LL);
		if (r >= 0)
			r = write_knob(cpu, "cpu.cfs_quota_us", v, d);
	}
	if (r < 0)
		return r;
	snprintf(v, sizeof(v), l->pids ? "%llu" : "max", (unsigned long long)l->pids);
	return write_knob(pids, "pids.max", v, d);
}

int cgroup_create_pause(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
			char ***ret_dirs, struct diag *d)
{
	/* the pause never forks and sleeps in a few pages; a process that took it over (ptrace
	 * from a container with SYS_PTRACE) gets no more than that */
	static const struct spec_limits lim = { .memory = 16u << 20, .cpu_milli = 10, .pids = 1 };
	char **dirs = NULL;
	int r = cgroup_create(c, m, pod, CGROUP_PAUSE, &dirs, d);

	if (r >= 0)
		r = cgroup_set_limits(c, m, pod, CGROUP_PAUSE, &lim, d);
	if (r < 0) {
		strv_free(dirs);
		return r;
	}
	*ret_dirs = dirs;
	return 0;
}

uint64_t cgroup_oom_kills(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
			  const char *ctr)
{
	_cleanup_free_ char *mem = ctl_dir(c, m, "memory", pod, ctr);
	_cleanup_free_ char *path = NULL, *buf = NULL;
	const char *k;

	if (!mem)
		return 0;
	/* v2: memory.events "oom_kill N"; v1: memory.oom_control "oom_kill N" */
	path = strdup_printf("%s/%s", mem, is_v2_dir(mem) ? "memory.events" : "memory.oom_control");
	if (!path || fs_read_all(AT_FDCWD, path, 4096, &buf, NULL) < 0)
		return 0;
	k = strstr(buf, "oom_kill ");
	return k ? strtoull(k + 9, NULL, 10) : 0;
}

static uint64_t read_u64(const char *dir, const char *file, const char *key)
{
	_cleanup_free_ char *p = strdup_printf("%s/%s", dir, file), *buf = NULL;
	const char *v;

	if (!p || fs_read_all(AT_FDCWD, p, 65536, &buf, NULL) < 0)
		return 0;
	if (!key)
		return strtoull(buf, NULL, 10);
	v = strstr(buf, key);
	return v ? strtoull(v + strlen(key), NULL, 10) : 0;
}

int cgroup_stats(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		 const char *ctr, struct cgroup_stats *ret)
{
	_cleanup_free_ char *mem = ctl_dir(c, m, "memory", pod, ctr);
	_cleanup_free_ char *acct = ctl_dir(c, m, "cpuacct", pod, ctr);
	_cleanup_free_ char *pids = ctl_dir(c, m, "pids", pod, ctr);

	if (!mem || !acct || !pids)
		return -ENOMEM;
	memset(ret, 0, sizeof(*ret));
	if (is_v2_dir(mem)) {
		ret->memory = read_u64(mem, "memory.current", NULL);
		ret->memory_peak = read_u64(mem, "memory.peak", NULL);
	} else {
		ret->memory = read_u64(mem, "memory.usage_in_bytes", NULL);
		ret->memory_peak = read_u64(mem, "memory.max_usage_in_bytes", NULL);
	}
	if (is_v2_dir(acct))
		ret->cpu_ns = read_u64(acct, "cpu.stat", "usage_usec ") * 1000;
	else
		ret->cpu_ns = read_u64(acct, "cpuacct.usage", NULL);
	ret->pids = read_u64(pids, "pids.current", NULL);
	return fs_exists(mem) ? 0 : -ENOENT;
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
