/* shim.c - tank-shim main: detach, read shim.json, create the pod namespaces, then serve. */
#include <fcntl.h>
#include <getopt.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "daemon/shim_int.h"

/* ---- shim.json ------------------------------------------------------------------------- */

/* A string member; absent or null gives NULL unless required. */
static int cfg_str(const json_t *o, const char *key, bool required, bool absolute, const char *path,
		   const char **ret, struct diag *d)
{
	json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return required ? diag_fail_at(d, -EINVAL, path, "%s.%s: missing", path, key) : 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= PATH_MAX)
		return diag_fail_at(d, -EINVAL, path, "%s.%s: not a non-empty string", path, key);
	if (absolute && json_string_value(v)[0] != '/')
		return diag_fail_at(d, -EINVAL, path, "%s.%s: not an absolute path", path, key);
	*ret = json_string_value(v);
	return 0;
}

/* An array of strings; absent gives an empty vector unless required (then non-empty). */
static int cfg_strv(const json_t *o, const char *key, bool required, bool absolute,
		    const char *path, char ***ret, struct diag *d)
{
	json_t *v = json_object_get(o, key);
	char **sv;

	if (!v || json_is_null(v)) {
		if (required)
			return diag_fail_at(d, -EINVAL, path, "%s.%s: missing", path, key);
		*ret = calloc(1, sizeof(char *));
		return *ret ? 0 : -ENOMEM;
	}
	sv = json_strv(v);
	if (!sv)
		return diag_fail_at(d, -EINVAL, path, "%s.%s: not an array of strings", path, key);
	if (required && !sv[0]) {
		strv_free(sv);
		return diag_fail_at(d, -EINVAL, path, "%s.%s: empty", path, key);
	}
	for (size_t i = 0; absolute && sv[i]; i++) {
		if (sv[i][0] != '/') {
			strv_free(sv);
			return diag_fail_at(d, -EINVAL, path, "%s.%s[%zu]: not an absolute path",
					    path, key, i);
		}
	}
	*ret = sv;
	return 0;
}

static int cfg_id(const json_t *o, const char *key, const char *path, unsigned int *ret,
		  struct diag *d)
{
	json_t *v = json_object_get(o, key);

	*ret = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) >= (json_int_t)UINT32_MAX)
		return diag_fail_at(d, -EINVAL, path, "%s.%s: not a uid/gid", path, key);
	*ret = (unsigned int)json_integer_value(v);
	return 0;
}

/* A container name becomes a log file name: keep it to a safe alphabet. */
static bool name_is_valid(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 63 || n[0] == '.')
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

/* process.rlimits: {"nofile": {"soft": N, "hard": N}, ...}; -1 = unlimited. Default NOFILE
 * 1024:1024 unless given. */
static int cfg_rlimits(const json_t *proc, const char *pp, struct ctr *c, struct diag *d)
{
	json_t *rl = json_object_get(proc, "rlimits"), *v;
	bool nofile = false;
	const char *key;

	if (rl && !json_is_object(rl))
		return diag_fail_at(d, -EINVAL, pp, "%s.rlimits: not an object", pp);
	json_object_foreach(rl, key, v) {
		int res = rootfs_rlimit_from_name(key);
		json_t *js = json_object_get(v, "soft"), *jh = json_object_get(v, "hard");
		rlim_t lim[2];

		if (res < 0)
			return diag_fail_at(d, -EINVAL, pp, "%s.rlimits.%s: unknown limit", pp,
					    key);
		if (c->n_rlimits >= SHIM_RLIMITS_MAX)
			return diag_fail_at(d, -EINVAL, pp, "%s.rlimits: too many", pp);
		for (int i = 0; i < 2; i++) {
			json_t *x = i ? jh : js;

			if (!json_is_integer(x) || json_integer_value(x) < -1)
				return diag_fail_at(d, -EINVAL, pp,
						    "%s.rlimits.%s: needs \"soft\" and \"hard\" "
						    "(integers, -1 = unlimited)",
						    pp, key);
			lim[i] = json_integer_value(x) < 0 ? RLIM_INFINITY
							   : (rlim_t)json_integer_value(x);
		}
		if (lim[0] > lim[1])
			return diag_fail_at(d, -EINVAL, pp, "%s.rlimits.%s: soft above hard", pp,
					    key);
		nofile |= res == RLIMIT_NOFILE;
		c->rlimits[c->n_rlimits++] = (struct rootfs_rlimit){ res, lim[0], lim[1] };
	}
	if (!nofile && c->n_rlimits < SHIM_RLIMITS_MAX)
		c->rlimits[c->n_rlimits++] = (struct rootfs_rlimit){ RLIMIT_NOFILE, 1024, 1024 };
	return 0;
}

/* "mounts": [{"target", "source" | "tmpfs": bytes, "read_only"}] */
static int cfg_mounts(const json_t *o, const char *p, struct ctr *c, struct diag *d)
{
	json_t *ms = json_object_get(o, "mounts"), *m;
	size_t i;

	if (!ms || json_is_null(ms))
		return 0;
	if (!json_is_array(ms) || json_array_size(ms) > SHIM_VOLUMES_MAX)
		return diag_fail_at(d, -EINVAL, p, "%s.mounts: not an array of at most %d", p,
				    SHIM_VOLUMES_MAX);
	c->volumes = calloc(json_array_size(ms) + 1, sizeof(*c->volumes));
	if (!c->volumes)
		return -ENOMEM;
	json_array_foreach(ms, i, m) {
		struct rootfs_volume *v = &c->volumes[i];
		json_t *tmpfs = json_object_get(m, "tmpfs"), *ro = json_object_get(m, "read_only");
		char pm[96];
		int r;

		snprintf(pm, sizeof(pm), "%s.mounts[%zu]", p, i);
		if (!json_is_object(m))
			return diag_fail_at(d, -EINVAL, pm, "%s: not an object", pm);
		if ((r = cfg_str(m, "target", true, true, pm, &v->target, d)) < 0 ||
		    (r = cfg_str(m, "source", false, true, pm, &v->source, d)) < 0)
			return r;
		if (!v->source == !tmpfs)
			return diag_fail_at(d, -EINVAL, pm, "%s: needs either source or tmpfs", pm);
		if (tmpfs && (!json_is_integer(tmpfs) || json_integer_value(tmpfs) < 0))
			return diag_fail_at(d, -EINVAL, pm, "%s.tmpfs: not a size in bytes", pm);
		if (ro && !json_is_boolean(ro))
			return diag_fail_at(d, -EINVAL, pm, "%s.read_only: not a boolean", pm);
		v->tmpfs_size = tmpfs ? (uint64_t)json_integer_value(tmpfs) : 0;
		v->read_only = json_is_true(ro);
		c->n_volumes = i + 1;
	}
	return 0;
}

/* "capabilities": {"add": [...], "drop": [...]}, "seccomp": "default" | "unconfined" */
static int cfg_security(const json_t *o, const char *p, struct ctr *c, struct diag *d)
{
	json_t *caps = json_object_get(o, "capabilities");
	_cleanup_strv_ char **add = NULL, **drop = NULL;
	const char *sc = json_str(o, "seccomp", "default");
	char pc[80];
	int r;

	snprintf(pc, sizeof(pc), "%s.capabilities", p);
	if (caps && !json_is_object(caps))
		return diag_fail_at(d, -EINVAL, pc, "%s: not an object", pc);
	if ((r = cfg_strv(caps, "add", false, false, pc, &add, d)) < 0 ||
	    (r = cfg_strv(caps, "drop", false, false, pc, &drop, d)) < 0)
		return r;
	r = rootfs_caps_compute(add, drop, &c->caps, d);
	if (r < 0) {
		diag_prefix(d, "%s.", p);
		return r;
	}
	/* a non-root user keeps only what was added explicitly */
	r = rootfs_caps_compute(add, (char *[]){ "ALL", NULL }, &c->user_caps, d);
	if (r < 0)
		return r;
	c->user_caps &= c->caps;
	if (strcmp(sc, "default") == 0)
		c->filter = 0; /* resolved to an index once every container is known */
	else if (strcmp(sc, "unconfined") == 0)
		c->filter = -1;
	else
		return diag_fail_at(d, -EINVAL, p, "%s.seccomp: \"default\" or \"unconfined\"", p);
	return 0;
}

/* PATH, HOSTNAME and (tty) TERM when the environment has none. */
static int env_defaults(const struct shim *s, struct ctr *c)
{
	_cleanup_free_ char *host = strdup_printf("HOSTNAME=%s", s->hostname);
	static const char path[] =
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

	if (!host)
		return -ENOMEM;
	if (strv_env_find(c->env, "PATH", 4) < 0 && strv_push(&c->env, path) < 0)
		return -ENOMEM;
	if (strv_env_find(c->env, "HOSTNAME", 8) < 0 && strv_push(&c->env, host) < 0)
		return -ENOMEM;
	if (c->tty && strv_env_find(c->env, "TERM", 4) < 0 && strv_push(&c->env, "TERM=xterm") < 0)
		return -ENOMEM;
	return 0;
}

static int cfg_container(struct shim *s, const json_t *o, size_t idx, struct ctr *c, struct diag *d)
{
	char p[64], pr[80], pe[80], pp[80];
	json_t *rootfs, *etc, *proc, *sig;
	unsigned int id;
	int r;

	snprintf(p, sizeof(p), "containers[%zu]", idx);
	snprintf(pr, sizeof(pr), "%s.rootfs", p);
	snprintf(pe, sizeof(pe), "%s.etc", p);
	snprintf(pp, sizeof(pp), "%s.process", p);
	memset(c, 0, sizeof(*c));
	c->pidfd = c->err_fd = c->log_fd = -1;
	c->out[0].fd = c->out[1].fd = -1;
	c->exit_code = c->signal = -1;
	if (!json_is_object(o))
		return diag_fail_at(d, -EINVAL, p, "%s: not an object", p);
	r = cfg_str(o, "name", true, false, p, &c->name, d);
	if (r < 0)
		return r;
	if (!name_is_valid(c->name))
		return diag_fail_at(d, -EINVAL, p, "%s.name: \"%s\" is not a valid name", p,
				    c->name);
	for (size_t i = 0; i < idx; i++)
		if (strcmp(s->ctrs[i].name, c->name) == 0)
			return diag_fail_at(d, -EINVAL, p, "%s.name: duplicate \"%s\"", p, c->name);

	rootfs = json_object_get(o, "rootfs");
	etc = json_object_get(o, "etc");
	proc = json_object_get(o, "process");
	if (!json_is_object(rootfs))
		return diag_fail_at(d, -EINVAL, pr, "%s: missing or not an object", pr);
	if (!json_is_object(proc))
		return diag_fail_at(d, -EINVAL, pp, "%s: missing or not an object", pp);
	if (etc && !json_is_object(etc))
		return diag_fail_at(d, -EINVAL, pe, "%s: not an object", pe);
	if ((r = cfg_strv(rootfs, "lower", true, true, pr, &c->lower, d)) < 0 ||
	    (r = cfg_str(rootfs, "upper", false, true, pr, &c->upper, d)) < 0 ||
	    (r = cfg_str(rootfs, "work", false, true, pr, &c->work, d)) < 0 ||
	    (r = cfg_str(rootfs, "target", true, true, pr, &c->target, d)) < 0 ||
	    (r = cfg_str(etc, "hosts", false, true, pe, &c->etc_hosts, d)) < 0 ||
	    (r = cfg_str(etc, "hostname", false, true, pe, &c->etc_hostname, d)) < 0 ||
	    (r = cfg_str(etc, "resolv", false, true, pe, &c->etc_resolv, d)) < 0 ||
	    (r = cfg_strv(proc, "args", true, false, pp, &c->args, d)) < 0 ||
	    (r = cfg_strv(proc, "env", false, false, pp, &c->env, d)) < 0 ||
	    (r = cfg_str(proc, "cwd", false, true, pp, &c->cwd, d)) < 0 ||
	    (r = cfg_str(proc, "user", false, false, pp, &c->user, d)) < 0 ||
	    (r = cfg_strv(o, "cgroups", false, true, p, &c->cgroups, d)) < 0 ||
	    (r = cfg_rlimits(proc, pp, c, d)) < 0 || (r = cfg_mounts(o, p, c, d)) < 0 ||
	    (r = cfg_security(o, p, c, d)) < 0)
		return r;
	{
		json_t *um = json_object_get(proc, "umask"), *tty = json_object_get(o, "tty");

		if (um && (!json_is_integer(um) || json_integer_value(um) < 0 ||
			   json_integer_value(um) > 0777))
			return diag_fail_at(d, -EINVAL, pp, "%s.umask: not a mode (0 to 0777)", pp);
		c->umask = um ? (mode_t)json_integer_value(um) : 022;
		if (tty && !json_is_boolean(tty))
			return diag_fail_at(d, -EINVAL, p, "%s.tty: not a boolean", p);
		c->tty = json_is_true(tty);
	}
	if (env_defaults(s, c) < 0)
		return -ENOMEM;
	if (c->upper && !c->work)
		return diag_fail_at(d, -EINVAL, pr, "%s.work: missing (upper needs it)", pr);
	if (!c->cwd)
		c->cwd = "/";
	if ((r = cfg_id(proc, "uid", pp, &id, d)) < 0)
		return r;
	c->uid = id;
	if ((r = cfg_id(proc, "gid", pp, &id, d)) < 0)
		return r;
	c->gid = id;
	c->stop_signal = SIGTERM;
	sig = json_object_get(o, "stop_signal");
	if (sig) {
		if (!json_is_integer(sig) || json_integer_value(sig) < 1 ||
		    json_integer_value(sig) > SIGRTMAX)
			return diag_fail_at(d, -EINVAL, p, "%s.stop_signal: not a signal number",
					    p);
		c->stop_signal = (int)json_integer_value(sig);
	}
	c->stop_grace_ms = -1;
	sig = json_object_get(o, "stop_grace_ms");
	if (sig) {
		if (!json_is_integer(sig) || json_integer_value(sig) < 0 ||
		    json_integer_value(sig) > 24LL * 3600 * 1000)
			return diag_fail_at(d, -EINVAL, p,
					    "%s.stop_grace_ms: not a duration in ms (0 to 1 day)", p);
		c->stop_grace_ms = json_integer_value(sig);
	}
	return 0;
}

/* "share_pid": bool, "host_network": bool,
 * "logs": {"max_size": bytes, "max_files": N, "line_max": bytes} */
static int cfg_pod(struct shim *s, struct diag *d)
{
	json_t *sp = json_object_get(s->config, "share_pid");
	json_t *hn = json_object_get(s->config, "host_network");
	json_t *lg = json_object_get(s->config, "logs");
	json_int_t size = json_int(lg, "max_size", SHIM_LOG_SIZE_DEFAULT),
		   files = json_int(lg, "max_files", SHIM_LOG_FILES_DEFAULT),
		   line = json_int(lg, "line_max", SHIM_LINE_DEFAULT);

	if (sp && !json_is_boolean(sp))
		return diag_fail_at(d, -EINVAL, "share_pid", "share_pid: not a boolean");
	s->share_pid = json_is_true(sp);
	if (hn && !json_is_boolean(hn))
		return diag_fail_at(d, -EINVAL, "host_network", "host_network: not a boolean");
	s->host_network = json_is_true(hn);
	if (lg && !json_is_object(lg))
		return diag_fail_at(d, -EINVAL, "logs", "logs: not an object");
	if (files < 1 || files > SHIM_LOG_FILES_MAX)
		return diag_fail_at(d, -EINVAL, "logs", "logs.max_files: 1 to %d",
				    SHIM_LOG_FILES_MAX);
	if (line < SHIM_LINE_MIN || line > SHIM_LINE_MAX)
		return diag_fail_at(d, -EINVAL, "logs", "logs.line_max: %d to %u bytes",
				    SHIM_LINE_MIN, SHIM_LINE_MAX);
	if (size < 4096)
		return diag_fail_at(d, -EINVAL, "logs", "logs.max_size: at least 4096 bytes");
	s->log_max_size = (uint64_t)size;
	s->log_max_files = (unsigned int)files;
	s->line_max = (size_t)line;
	s->rbuf = malloc(s->line_max);
	return s->rbuf ? 0 : -ENOMEM;
}

/* One seccomp program per distinct capability set, compiled now, used by every start/exec. */
static int filters_compile(struct shim *s, struct diag *d)
{
	uint64_t caps[SHIM_FILTERS_MAX];
	size_t n = 0;
	int r;

	for (size_t i = 0; i < s->n_ctrs; i++) {
		struct ctr *c = &s->ctrs[i];
		size_t j;

		if (c->filter < 0)
			continue;
		for (j = 0; j < n && caps[j] != c->caps; j++)
			;
		if (j == n) {
			if (n == SHIM_FILTERS_MAX)
				return diag_fail(d, -E2BIG, "more than %d capability sets",
						 SHIM_FILTERS_MAX);
			caps[n++] = c->caps;
		}
		c->filter = (int)j;
	}
	/* the pause process of a shared pid namespace: no capabilities, the default profile */
	s->pause_filter = -1;
	if (s->share_pid) {
		size_t j;

		for (j = 0; j < n && caps[j] != 0; j++)
			;
		if (j == n) {
			if (n == SHIM_FILTERS_MAX)
				return diag_fail(d, -E2BIG, "more than %d capability sets",
						 SHIM_FILTERS_MAX);
			caps[n++] = 0;
		}
		s->pause_filter = (int)j;
	}
	if (n == 0)
		return 0;
	s->n_filters = n;
	r = rootfs_seccomp_get(s->seccomp_cache, caps, n, s->filters, d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		log_pod(LOG_LVL_DEBUG, s->pod, "seccomp program %zu (caps %#llx): %u instructions",
			i, (unsigned long long)caps[i], s->filters[i].len);
	return 0;
}

static int cfg_load(struct shim *s, struct diag *d)
{
	json_t *ctrs, *e;
	size_t i;
	int r;

	r = json_read_file(s->dirfd, SHIM_CONFIG_FILE, SHIM_CONFIG_MAX, &s->config, d);
	if (r < 0)
		return r;
	if (!json_is_object(s->config))
		return diag_fail(d, -EINVAL, "%s: not a JSON object", SHIM_CONFIG_FILE);
	if ((r = cfg_str(s->config, "pod", true, false, "$", &s->pod, d)) < 0 ||
	    (r = cfg_str(s->config, "uid", false, false, "$", &s->uid, d)) < 0 ||
	    (r = cfg_str(s->config, "hostname", false, false, "$", &s->hostname, d)) < 0 ||
	    (r = cfg_str(s->config, "netns_path", true, true, "$", &s->netns_path, d)) < 0 ||
	    (r = cfg_str(s->config, "log_dir", true, true, "$", &s->log_dir, d)) < 0 ||
	    (r = cfg_str(s->config, "seccomp_cache", false, true, "$", &s->seccomp_cache, d)) < 0 ||
	    (r = cfg_strv(s->config, "pause_cgroups", false, true, "$", &s->pause_cgroups, d)) < 0)
		goto fail;
	if (!s->hostname)
		s->hostname = s->pod;
	if (strlen(s->hostname) > 64) {
		r = diag_fail_at(d, -EINVAL, "hostname", "hostname: longer than 64 bytes");
		goto fail;
	}
	r = cfg_pod(s, d);
	if (r < 0)
		goto fail;
	ctrs = json_object_get(s->config, "containers");
	if (!json_is_array(ctrs) || json_array_size(ctrs) > SHIM_CONTAINERS_MAX) {
		r = diag_fail_at(d, -EINVAL, "containers",
				 "containers: not an array of at most %d entries",
				 SHIM_CONTAINERS_MAX);
		goto fail;
	}
	s->ctrs = calloc(json_array_size(ctrs) + 1, sizeof(*s->ctrs));
	if (!s->ctrs)
		return -ENOMEM;
	json_array_foreach(ctrs, i, e) {
		r = cfg_container(s, e, i, &s->ctrs[i], d);
		s->n_ctrs = i + 1;
		if (r < 0)
			goto fail;
	}
	return filters_compile(s, d);
fail:
	diag_prefix(d, "%s: ", SHIM_CONFIG_FILE);
	return r;
}

/* ---- pod namespaces -------------------------------------------------------------------- */

static int loopback_up(struct diag *d)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return diag_fail(d, -errno, "loopback: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return diag_fail(d, -errno, "loopback up: %s", strerror(errno));
	return 0;
}

/* Bind our netns at netns_path the way `ip netns add` does, so `ip netns` lists it. */
static int netns_bind(struct shim *s, struct diag *d)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(s->netns_path, '/');
	struct statfs sf;
	int fd, r;

	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - s->netns_path), s->netns_path);
	if (dir[0]) {
		r = fs_mkdir_p(dir, 0755);
		if (r < 0)
			return diag_fail(d, r, "mkdir %s: %s", dir, strerror(-r));
		/* a shared mount point, so a netns bound here shows in every mount namespace */
		if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0) {
			if (errno != EINVAL ||
			    mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0 ||
			    mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
				return diag_fail(d, -errno, "make %s a shared mount: %s", dir,
						 strerror(errno));
		}
	}
	fd = open(s->netns_path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0 && errno == EEXIST) {
		/* a leftover file of a dead shim is reused; a live netns there is not ours */
		if (statfs(s->netns_path, &sf) == 0 && sf.f_type == NSFS_MAGIC)
			return diag_fail(d, -EEXIST, "netns %s: in use by another namespace",
					 s->netns_path);
	} else if (fd < 0) {
		return diag_fail(d, -errno, "create %s: %s", s->netns_path, strerror(errno));
	} else {
		close(fd);
	}
	if (mount("/proc/self/ns/net", s->netns_path, "none", MS_BIND, NULL) < 0) {
		r = -errno;
		unlink(s->netns_path);
		return diag_fail(d, r, "bind netns at %s: %s", s->netns_path, strerror(-r));
	}
	s->netns_bound = true;
	return 0;
}

void shim_netns_release(struct shim *s)
{
	if (!s->netns_bound)
		return;
	if (umount2(s->netns_path, MNT_DETACH) < 0)
		log_pod(LOG_LVL_WARN, s->pod, "umount %s: %s", s->netns_path, strerror(errno));
	if (unlink(s->netns_path) < 0 && errno != ENOENT)
		log_pod(LOG_LVL_WARN, s->pod, "remove %s: %s", s->netns_path, strerror(errno));
	s->netns_bound = false;
}

static int pod_create(struct shim *s, struct diag *d)
{
	_cleanup_free_ char *sock = NULL;
	int r;

	/* a host-network pod keeps the host's netns; uts and ipc are still its own */
	if (unshare((s->host_network ? 0 : CLONE_NEWNET) | CLONE_NEWUTS | CLONE_NEWIPC) < 0)
		return diag_fail(d, -errno, "unshare net, uts, ipc: %s", strerror(errno));
	if (sethostname(s->hostname, strlen(s->hostname)) < 0)
		return diag_fail(d, -errno, "sethostname %s: %s", s->hostname, strerror(errno));
	if (!s->host_network) {
		r = loopback_up(d);
		if (r < 0)
			return r;
		r = netns_bind(s, d);
		if (r < 0)
			return r;
	}
	if (s->share_pid) {
		r = pause_spawn(s, d);
		if (r < 0)
			return r;
	}
	sock = strdup_printf("%s/%s", s->run_dir, SHIM_SOCKET_FILE);
	if (!sock)
		return -ENOMEM;
	s->lfd = ipc_listen(sock, 0600);
	if (s->lfd < 0)
		return diag_fail(d, s->lfd, "listen on %s: %s", sock, strerror(-s->lfd));
	return 0;
}

/* ---- process setup --------------------------------------------------------------------- */

static void ready_write(int fd, bool ok, const char *error)
{
	_cleanup_json_ json_t *j = ok ? json_pack("{s:b,s:i}", "ok", 1, "pid", (int)getpid())
				      : json_pack("{s:b,s:s}", "ok", 0, "error", error);
	_cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	_cleanup_free_ char *line = s ? strdup_printf("%s\n", s) : NULL;

	if (fd < 0 || !line)
		return;
	if (write(fd, line, strlen(line)) < 0)
		log_warn("write ready line: %s", strerror(errno));
}

/* stdin/stdout to /dev/null, stderr to DIR/shim.log; every other fd but `keep` closed. */
static int detach(struct shim *s, int keep, struct diag *d)
{
	int fd;

	if (chdir("/") < 0)
		return diag_fail(d, -errno, "chdir /: %s", strerror(errno));
	umask(022);
	signal(SIGPIPE, SIG_IGN);
	/* orphans of exec'd commands come back to us and are reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	close_fds_except(&keep, 1);
	s->dirfd = open(s->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return diag_fail(d, -errno, "open run dir %s: %s", s->run_dir, strerror(errno));
	/* F_DUPFD_CLOEXEC to >= 3 first: 0..2 may be closed, and then open() would reuse them */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0 && fd <= 2)
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		return diag_fail(d, -errno, "/dev/null: %s", strerror(errno));
	close(fd);
	fd = openat(s->dirfd, "shim.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		    0640);
	if (fd >= 0 && fd <= 2)
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || dup2(fd, 2) < 0)
		return diag_fail(d, -errno, "open %s/shim.log: %s", s->run_dir, strerror(errno));
	close(fd);
	setvbuf(stderr, NULL, _IOLBF, 0);
	return 0;
}

static void shim_free(struct shim *s)
{
	for (size_t i = 0; s->ctrs && i < s->n_ctrs; i++) {
		struct ctr *c = &s->ctrs[i];

		strv_free(c->lower);
		strv_free(c->args);
		strv_free(c->env);
		strv_free(c->cgroups);
		free(c->volumes);
		free(c->error);
		for (int j = 0; j < 2; j++) {
			if (c->out[j].fd >= 0)
				close(c->out[j].fd);
			free(c->out[j].pend);
		}
		if (c->log_fd >= 0)
			close(c->log_fd);
		if (c->pidfd >= 0)
			close(c->pidfd);
		if (c->err_fd >= 0)
			close(c->err_fd);
	}
	free(s->ctrs);
	strv_free(s->pause_cgroups);
	for (size_t i = 0; i < s->n_filters; i++)
		rootfs_seccomp_clear(&s->filters[i]);
	free(s->rbuf);
	if (s->pause_pidfd >= 0)
		close(s->pause_pidfd);
	json_decref(s->config);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tank-shim --run-dir DIR --ready-fd N [--log-level LEVEL]\n"
		"  Owns one pod: reads DIR/%s, serves DIR/%s (see daemon/shim_proto.h).\n",
		SHIM_CONFIG_FILE, SHIM_SOCKET_FILE);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run-dir", required_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct shim s = { .dirfd = -1, .epfd = -1, .sigfd = -1, .lfd = -1, .pause_pidfd = -1,
			  .pause_filter = -1 };
	enum log_level lvl = LOG_LVL_INFO;
	struct diag d = { 0 };
	int ready = -1, o, r;
	sigset_t mask;
	char *end;

	/* before anything else: these arrive through the signalfd of the loop */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			s.run_dir = optarg;
			break;
		case 'r':
			errno = 0;
			ready = (int)strtol(optarg, &end, 10);
			if (errno || *end || ready < 0 || fcntl(ready, F_GETFD) < 0) {
				fprintf(stderr, "tank-shim: --ready-fd %s: not an open fd\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
			if (log_parse_level(optarg, &lvl) < 0) {
				fprintf(stderr, "tank-shim: --log-level %s: unknown level\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tank-shim %s\n", TANK_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!s.run_dir || s.run_dir[0] != '/' || ready < 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	log_set_level(lvl);
	/* keep the ready fd out of 0..2, which are about to be replaced */
	if (ready <= 2) {
		int fd = fcntl(ready, F_DUPFD_CLOEXEC, 3);

		if (fd < 0) {
			fprintf(stderr, "tank-shim: ready fd: %s\n", strerror(errno));
			return 2;
		}
		ready = fd;
	} else if (fcntl(ready, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "tank-shim: ready fd: %s\n", strerror(errno));
		return 2;
	}

	r = detach(&s, ready, &d);
	if (r >= 0)
		r = cfg_load(&s, &d);
	if (r >= 0)
		r = pod_create(&s, &d);
	if (r >= 0)
		r = shim_loop_init(&s, &d);
	if (r >= 0)
		r = shim_state_write(&s);
	if (r < 0) {
		const char *text = diag_text(&d, r);

		log_pod(LOG_LVL_ERROR, s.pod, "shim setup failed: %s", text);
		ready_write(ready, false, text);
		if (s.lfd >= 0) {
			_cleanup_free_ char *sock =
				strdup_printf("%s/%s", s.run_dir, SHIM_SOCKET_FILE);

			if (sock)
				unlink(sock);
		}
		shim_netns_release(&s);
		if (s.pause_pid > 0) {
			kill(s.pause_pid, SIGKILL);
			waitpid(s.pause_pid, NULL, 0);
		}
		shim_free(&s);
		return 1;
	}
	log_pod(LOG_LVL_INFO, s.pod, "shim ready: pid %d, netns %s, %zu containers", (int)getpid(),
		s.netns_path, s.n_ctrs);
	ready_write(ready, true, NULL);
	close(ready);
	r = shim_loop(&s);
	shim_free(&s);
	return r;
}
