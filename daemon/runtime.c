/* runtime.c - the executor: pull worker, shim spawn, network and BPF, start, stop, adopt. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>

#include "daemon/shim_proto.h"
#include "daemon/tankd.h"

#define SHIM_READY_TIMEOUT_MS 10000
#define SHIM_CALL_TIMEOUT_MS 10000
#define TANKD_STATE_FILE "tankd.json"

/* ---- small helpers ------------------------------------------------------------------------ */

static char *pod_run_dir(const struct tankd *t, const char *pod)
{
	return strdup_printf("%s/pods/%s", t->cfg.run_dir, pod);
}

char *pod_netns_path(const struct tankd *t, const char *pod)
{
	return strdup_printf("%s/tank-%s", t->cfg.netns_dir, pod);
}

static void set_message(struct pod *p, const char *fmt, ...) _printf_(2, 3);
static void set_message(struct pod *p, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(p->message);
	p->message = m;
}

/* Host-side interface name: stable for (pod uid, nic), 10 chars. */
static void host_ifname(const char *uid, const char *nic, char out[16])
{
	uint32_t h = 2166136261u;

	for (const char *s = uid; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *s = nic; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	snprintf(out, 16, "tk%08x", h);
}

static uint32_t slot_alloc(struct tankd *t)
{
	for (uint32_t i = 1; i < TANK_MAX_PODS; i++) {
		if (!t->slots_used[i]) {
			t->slots_used[i] = 1;
			return i;
		}
	}
	return 0;
}

/* One request/reply with the shim, blocking with a timeout. */
static int shim_call(const struct tankd *t, const char *pod, json_t *req, const int *fds,
		     size_t nfds, json_t **ret, struct diag *d)
{
	_cleanup_free_ char *dir = pod_run_dir(t, pod);
	_cleanup_free_ char *sock = strdup_printf("%s/%s", dir, SHIM_SOCKET_FILE);
	struct timeval tv = { .tv_sec = SHIM_CALL_TIMEOUT_MS / 1000 };
	_cleanup_close_ int fd = -1;
	json_t *reply = NULL;
	int r;

	if (!sock)
		return -ENOMEM;
	fd = ipc_connect(sock);
	if (fd < 0)
		return diag_fail(d, fd, "connect to shim %s: %s", sock, strerror(-fd));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r = ipc_send_json(fd, req, fds, nfds);
	if (r >= 0)
		r = ipc_recv_json(fd, &reply, NULL, 0, NULL);
	if (r < 0)
		return diag_fail(d, r, "shim %s: %s", json_str(req, "op", "?"), strerror(-r));
	if (!json_bool(reply, "ok", false)) {
		r = diag_fail(d, -EIO, "%s", json_str(reply, "error", "shim reported an error"));
		json_decref(reply);
		return r;
	}
	if (ret)
		*ret = reply;
	else
		json_decref(reply);
	return 0;
}

/* ---- tankd's own record of a running pod (for adoption after a restart) ------------------- */

static void state_save(struct tankd *t, struct pod *p)
{
	_cleanup_free_ char *dir = pod_run_dir(t, p->name);
	_cleanup_close_ int dfd = -1;
	_cleanup_json_ json_t *nics = json_array();
	_cleanup_json_ json_t *st = NULL;

	for (size_t i = 0; nics && i < p->n_nics; i++)
		json_array_append_new(nics, json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:o}", "name",
						      p->nics[i].name, "host_ifname",
						      p->nics[i].host_ifname, "host_ifindex",
						      p->nics[i].host_ifindex, "pod_ifindex",
						      p->nics[i].pod_ifindex, "parent",
						      p->nics[i].parent, "shim", p->nics[i].shim,
						      "ips", json_from_strv(p->nics[i].ips)));
	st = json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:I,s:O}", "name", p->name, "uid", p->uid,
		       "revision", (json_int_t)p->revision, "slot", (json_int_t)p->slot,
		       "restarts", (int)p->restarts, "shim_pid", (int)p->shim_pid, "started_at",
		       (json_int_t)p->started_at, "nics", nics);
	if (!dir || !st)
		return;
	/* what prune must keep for this pod, also after a tankd restart */
	{
		json_t *dg = json_array();

		for (size_t i = 0; dg && i < p->n_ctrs; i++)
			json_array_append_new(dg, p->ctrs[i].manifest_digest
							  ? json_string(p->ctrs[i].manifest_digest)
							  : json_null());
		json_object_set_new(st, "digests", dg);
	}
	/* each container's own counters, and whether the policy is done with it */
	{
		json_t *cs = json_array();

		for (size_t i = 0; cs && i < p->n_ctrs; i++)
			json_array_append_new(
				cs, json_pack("{s:s,s:i,s:i,s:b,s:O?,s:I}", "name", p->ctrs[i].name,
					      "restarts", (int)p->ctrs[i].restarts, "backoff_n",
					      (int)p->ctrs[i].st.backoff_n, "done",
					      p->ctrs[i].st.phase == CPHASE_DONE, "last_exit",
					      p->ctrs[i].last_exit, "oom_seen",
					      (json_int_t)p->ctrs[i].oom_seen));
		json_object_set_new(st, "containers", cs);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || json_write_runtime(dfd, TANKD_STATE_FILE, st, 0600) < 0)
		log_pod(LOG_LVL_WARN, p->name, "cannot save runtime state in %s", dir);
}

/* (Re)build the runtime view of containers and NICs from p->spec. */
static void pod_clear_parts(struct pod *p)
{
	for (size_t i = 0; i < p->n_ctrs; i++) {
		free(p->ctrs[i].name);
		free(p->ctrs[i].image_ref);
		json_decref(p->ctrs[i].last_exit);
		free(p->ctrs[i].manifest_digest);
	}
	free(p->ctrs);
	p->ctrs = NULL;
	p->n_ctrs = 0;
	for (size_t i = 0; i < p->n_nics; i++) {
		free(p->nics[i].name);
		free(p->nics[i].host_ifname);
		strv_free(p->nics[i].ips);
	}
	free(p->nics);
	p->nics = NULL;
	p->n_nics = 0;
}

int pod_init_from_spec(struct pod *p)
{
	pod_clear_parts(p);
	p->n_ctrs = p->spec->n_containers;
	p->ctrs = calloc(p->n_ctrs ? p->n_ctrs : 1, sizeof(*p->ctrs));
	p->n_nics = p->spec->net == NET_NICS ? p->spec->n_nics : 0;
	p->nics = calloc(p->n_nics ? p->n_nics : 1, sizeof(*p->nics));
	if (!p->ctrs || !p->nics)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_ctrs; i++) {
		const struct spec_container *c = &p->spec->containers[i];

		p->ctrs[i].name = strdup(c->name);
		p->ctrs[i].image_ref = strdup(c->image ? c->image : c->rootfs);
	}
	for (size_t i = 0; i < p->n_nics; i++) {
		const struct spec_nic *n = &p->spec->nics[i];
		char hn[16];

		host_ifname(p->uid, n->name, hn);
		p->nics[i].name = strdup(n->name);
		p->nics[i].host_ifname = strdup(hn);
		p->nics[i].ips = calloc(1, sizeof(char *));
		for (size_t k = 0; p->nics[i].ips && k < n->n_addrs; k++)
			strv_push(&p->nics[i].ips, n->addrs[k].text);
	}
	return 0;
}

void pod_free(struct pod *p)
{
	if (!p)
		return;
	pod_spec_free(p->spec);
	pod_clear_parts(p);
	ipc_reader_clear(&p->watch_rd);
	free(p->pull_error);
	free(p->pull_buf);
	json_decref(p->record);
	json_decref(p->last_exit);
	free(p->message);
	free(p->name);
	free(p->uid);
	free(p);
}

/* ---- image preparation in a worker process (hostile input never parsed in the loop) ------- */

/* The pull's line buffer goes when the pull does: 8 KiB per pod only while pulling. */
static void pull_buf_drop(struct pod *p)
{
	free(p->pull_buf);
	p->pull_buf = NULL;
	p->pull_len = 0;
}

void runtime_create(struct tankd *t, struct pod *p)
{
	_cleanup_free_ char **refs = calloc(p->spec->n_containers + 1, sizeof(char *));
	_cleanup_free_ enum pull_policy *pol = calloc(p->spec->n_containers + 1, sizeof(*pol));
	size_t n = 0;
	int r;

	p->phase = PHASE_PULLING;
	free(p->pull_error);
	p->pull_error = NULL;
	p->pull_len = 0;
	free(p->pull_buf);
	p->pull_buf = malloc(POD_PULL_BUF); /* only while the pull is in flight */
	set_message(p, "preparing images");
	for (size_t i = 0; refs && pol && i < p->spec->n_containers; i++) {
		if (!p->spec->containers[i].image)
			continue;
		refs[n] = p->spec->containers[i].image;
		pol[n++] = p->spec->containers[i].pull;
	}
	r = refs && pol && p->pull_buf
		    ? images_worker_spawn(t, refs, pol, &p->pull_pid, &p->pull_fd)
		    : -ENOMEM;
	if (r >= 0 && (r = loop_add(t, p->pull_fd, W_PULL, p)) < 0) {
		close(p->pull_fd);
		p->pull_fd = -1;
	}
	if (r < 0) {
		pull_buf_drop(p);
		p->phase = PHASE_FAILED;
		set_message(p, "cannot start an image worker: %s", strerror(-r));
		return;
	}
	event_emit(t, p->name, false, "Pulling", "preparing %zu image%s (worker pid %d)", n,
		   n == 1 ? "" : "s", (int)p->pull_pid);
}

/* ---- start -------------------------------------------------------------------------------- */

static int write_etc_files(struct tankd *t, struct pod *p, const char *dir, struct diag *d)
{
	_cleanup_free_ char *hosts = NULL, *hostname = NULL, *resolv = NULL;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t len = 0;
	FILE *f;
	int r;

	if (dfd < 0)
		return diag_fail(d, -errno, "open %s: %s", dir, strerror(errno));
	f = open_memstream(&hosts, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	for (size_t i = 0; i < p->n_nics; i++)
		for (size_t k = 0; p->nics[i].ips && p->nics[i].ips[k]; k++)
			fprintf(f, "%.*s\t%s\n", (int)strcspn(p->nics[i].ips[k], "/"),
				p->nics[i].ips[k], p->name);
	fclose(f);
	hostname = strdup_printf("%s\n", p->name);
	resolv = net_resolv_conf(t, p);
	if (!hosts || !hostname || !resolv)
		return -ENOMEM;
	r = fs_write_runtime(dfd, "hosts", hosts, strlen(hosts), 0644);
	if (r >= 0)
		r = fs_write_runtime(dfd, "hostname", hostname, strlen(hostname), 0644);
	if (r >= 0)
		r = fs_write_runtime(dfd, "resolv.conf", resolv, strlen(resolv), 0644);
	return r < 0 ? diag_fail(d, r, "write /etc files in %s: %s", dir, strerror(-r)) : 0;
}

/* The volumes a container mounts, for shim.json: managed dirs are created here, host paths
 * must exist, tmpfs sizes pass through. Targets are resolved inside the rootfs by the shim. */
static json_t *mounts_json(struct tankd *t, const struct pod_spec *ps,
			   const struct spec_container *c, size_t ci, struct diag *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < c->n_mounts; i++) {
		const struct spec_mount *m = &c->mounts[i];
		const struct spec_volume *v = NULL;
		_cleanup_free_ char *dir = NULL;
		json_t *e;

		for (size_t k = 0; k < ps->n_volumes && !v; k++)
			if (!strcmp(ps->volumes[k].name, m->volume))
				v = &ps->volumes[k];
		if (!v) {
			json_decref(a);
			diag_fail(d, -ENOENT, "containers[%zu].mounts[%zu]: no volume \"%s\"", ci, i,
				  m->volume);
			return NULL;
		}
		if (v->tmpfs_size) {
			e = json_pack("{s:s,s:I,s:b}", "target", m->path, "tmpfs",
				      (json_int_t)v->tmpfs_size, "read_only", m->read_only);
		} else {
			if (v->host_path) {
				dir = strdup(v->host_path);
				if (dir && !fs_exists(dir)) {
					json_decref(a);
					diag_fail(d, -ENOENT,
						  "volume %s: host_path %s does not exist (create it, or "
						  "use a managed volume without host_path)",
						  v->name, dir);
					return NULL;
				}
			} else {
				/* managed: kept across pod deletion, like a named podman volume */
				dir = strdup_printf("%s/volumes/%s", t->cfg.data_dir, v->name);
				if (dir && fs_mkdir_p(dir, 0755) < 0) {
					json_decref(a);
					diag_fail(d, -errno, "create volume %s: %s", dir, strerror(errno));
					return NULL;
				}
			}
			e = json_pack("{s:s,s:s?,s:b}", "target", m->path, "source", dir, "read_only",
				      m->read_only);
		}
		json_array_append_new(a, e);
	}
	return a;
}

static json_t *container_json(struct tankd *t, struct pod *p, size_t i, const char *dir,
			      struct diag *d)
{
	const struct spec_container *c = &p->spec->containers[i];
	struct oci_image_config empty = { 0 };
	struct oci_image *img = p->images ? p->images[i] : NULL;
	struct oci_process proc = { 0 };
	_cleanup_free_ char *ctrdir = strdup_printf("%s/pods/%s/%s", t->cfg.data_dir, p->name,
						     c->name);
	_cleanup_free_ char *upper = strdup_printf("%s/upper", ctrdir ? ctrdir : "");
	_cleanup_free_ char *work = strdup_printf("%s/work", ctrdir ? ctrdir : "");
	_cleanup_free_ char *target = strdup_printf("%s/%s/rootfs", dir, c->name);
	_cleanup_free_ char *h = strdup_printf("%s/hosts", dir);
	_cleanup_free_ char *hn = strdup_printf("%s/hostname", dir);
	_cleanup_free_ char *rs = strdup_printf("%s/resolv.conf", dir);
	_cleanup_strv_ char **cgroups = NULL;
	const char *user = c->user ? c->user : img && img->config.user ? img->config.user : NULL;
	json_t *lower, *j, *mounts, *proc_j;
	int r, stop_signal = c->stop_signal;

	if (!ctrdir || !upper || !work || !target || !h || !hn || !rs)
		return NULL;
	if (!stop_signal && img && img->config.stop_signal)
		stop_signal = spec_signal_parse(img->config.stop_signal);
	if (stop_signal <= 0)
		stop_signal = SIGTERM;
	mounts = mounts_json(t, p->spec, c, i, d);
	if (!mounts)
		return NULL;
	r = oci_process_merge(img ? &img->config : &empty, c->command, c->args, c->env,
			      c->working_dir, &proc, d);
	if (r < 0) {
		json_decref(mounts);
		return NULL;
	}
	if (fs_mkdir_p(upper, 0755) < 0 || fs_mkdir_p(work, 0700) < 0 ||
	    fs_mkdir_p(target, 0755) < 0) {
		diag_fail(d, -errno, "create container dirs under %s: %s", ctrdir, strerror(errno));
		oci_process_clear(&proc);
		json_decref(mounts);
		return NULL;
	}
	r = cgroup_create(&t->cfg, t->cgroups, p->name, c->name, &cgroups, d);
	if (r >= 0)
		r = cgroup_set_limits(&t->cfg, t->cgroups, p->name, c->name, &c->limits, d);
	if (r < 0) {
		oci_process_clear(&proc);
		json_decref(mounts);
		return NULL;
	}
	if (img) {
		lower = json_from_strv(img->layer_dirs);
	} else {
		lower = json_array();
		json_array_append_new(lower, json_string(c->rootfs));
	}
	/* a user name is resolved by the shim in the container's own /etc/passwd */
	proc_j = json_pack("{s:o,s:o,s:s,s:i,s:i}", "args", json_from_strv(proc.argv), "env",
			   json_from_strv(proc.env), "cwd", proc.cwd ? proc.cwd : "/", "uid", 0,
			   "gid", 0);
	if (proc_j && user && *user)
		json_object_set_new(proc_j, "user", json_string(user));
	j = json_pack("{s:s,s:{s:o,s:s,s:s,s:s},s:{s:s,s:s,s:s},s:o,s:o,s:i,s:b,s:s,s:{s:o,s:o},"
		      "s:o}",
		      "name", c->name, "rootfs", "lower", lower, "upper", upper, "work", work,
		      "target", target, "etc", "hosts", h, "hostname", hn, "resolv", rs,
		      "process", proc_j, "cgroups", json_from_strv(cgroups), "stop_signal",
		      stop_signal, "tty", c->tty, "seccomp",
		      c->seccomp_unconfined ? "unconfined" : "default", "capabilities", "add",
		      json_from_strv(c->cap_add), "drop", json_from_strv(c->cap_drop), "mounts",
		      mounts);
	oci_process_clear(&proc);
	if (j)
		json_object_set_new(j, "stop_grace_ms", json_integer((json_int_t)c->stop_grace_ms));
	return j;
}

static int shim_spawn(struct tankd *t, struct pod *p, const char *dir, struct diag *d)
{
	_cleanup_free_ char *netns = pod_netns_path(t, p->name);
	_cleanup_free_ char *logs = strdup_printf("%s/logs/%s", t->cfg.data_dir, p->name);
	_cleanup_json_ json_t *cfg = NULL, *ctrs = json_array(), *ready = NULL;
	_cleanup_close_ int dfd = -1, rfd = -1;
	char buf[1024];
	struct pollfd pfd;
	size_t len = 0;
	int rp[2], r, status;
	pid_t c;

	if (!netns || !logs || !ctrs)
		return -ENOMEM;
	for (size_t i = 0; i < p->spec->n_containers; i++) {
		json_t *cj = container_json(t, p, i, dir, d);

		if (!cj)
			return d && d->err ? d->err : -ENOMEM;
		json_array_append_new(ctrs, cj);
	}
	cfg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:b,s:{s:I,s:i,s:I}}", "pod", p->name, "uid",
			p->uid, "hostname", p->name, "netns_path", netns, "log_dir", logs,
			"containers", ctrs, "share_pid", p->spec->share_pid, "logs", "max_size",
			(json_int_t)t->cfg.log_max_size, "max_files", (int)t->cfg.log_max_files,
			"line_max", (json_int_t)t->cfg.log_max_line);
	if (cfg && p->spec->net == NET_HOST)
		json_object_set_new(cfg, "host_network", json_true());
	if (cfg && p->spec->share_pid) {
		char **pcg = NULL;

		r = cgroup_create_pause(&t->cfg, t->cgroups, p->name, &pcg, d);
		if (r < 0)
			return r;
		json_object_set_new(cfg, "pause_cgroups", json_from_strv(pcg));
		strv_free(pcg);
	}
	/* compiled seccomp programs, shared by every shim of this tankd */
	if (cfg)
		json_object_set_new(cfg, "seccomp_cache",
				    json_sprintf("%s/seccomp", t->cfg.run_dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!cfg || dfd < 0)
		return diag_fail(d, -EIO, "prepare %s/%s", dir, SHIM_CONFIG_FILE);
	r = json_write_runtime(dfd, SHIM_CONFIG_FILE, cfg, 0600);
	if (r < 0)
		return diag_fail(d, r, "write %s/%s: %s", dir, SHIM_CONFIG_FILE, strerror(-r));
	if (pipe2(rp, O_CLOEXEC) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	c = fork();
	if (c < 0) {
		close(rp[0]);
		close(rp[1]);
		return diag_fail(d, -errno, "fork: %s", strerror(errno));
	}
	if (c == 0) {
		sigset_t none;

		/* its own session, and not our child: the shim outlives tankd */
		setsid();
		if (fork() != 0)
			_exit(0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (rp[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(rp[1], 3) < 0)
			_exit(127);
		execl(t->cfg.shim_path, "tank-shim", "--run-dir", dir, "--ready-fd", "3",
		      (char *)NULL);
		_exit(127);
	}
	close(rp[1]);
	rfd = rp[0];
	while (waitpid(c, &status, 0) < 0 && errno == EINTR)
		;
	pfd = (struct pollfd){ .fd = rfd, .events = POLLIN };
	while (len < sizeof(buf) - 1) {
		ssize_t n;

		r = poll(&pfd, 1, SHIM_READY_TIMEOUT_MS);
		if (r == 0)
			return diag_fail(d, -ETIMEDOUT, "tank-shim (%s) did not report ready in %d s",
					 t->cfg.shim_path, SHIM_READY_TIMEOUT_MS / 1000);
		if (r < 0 && errno == EINTR)
			continue;
		n = read(rfd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (json_parse_buf(buf, len, &ready, NULL) < 0)
		return diag_fail(d, -EIO,
				 "tank-shim (%s) exited without reporting; see %s/shim.log",
				 t->cfg.shim_path, dir);
	if (!json_bool(ready, "ok", false))
		return diag_fail(d, -EIO, "tank-shim: %s", json_str(ready, "error", "failed"));
	p->shim_pid = (pid_t)json_int(ready, "pid", 0);
	return 0;
}

static int setup_network(struct tankd *t, struct pod *p, struct diag *d)
{
	_cleanup_free_ char *netns = pod_netns_path(t, p->name);
	_cleanup_close_ int nsfd = -1;
	int r;

	if (!netns)
		return -ENOMEM;
	if (p->spec->net == NET_HOST)
		return net_pod_setup_host(t, p, d); /* the host's netns: nothing to create */
	nsfd = np_netns_open(netns);
	if (nsfd < 0)
		return diag_fail(d, nsfd, "open netns %s: %s", netns, strerror(-nsfd));
	r = net_pod_setup(t, p, nsfd, d);
	if (r < 0)
		return r;
	net_dns_refresh(t);
	if (net_pod_watch(t, p, nsfd) < 0)
		log_pod(LOG_LVL_WARN, p->name, "cannot watch its netns for drift");
	return 0;
}

static int watch_connect(struct tankd *t, struct pod *p)
{
	_cleanup_free_ char *dir = pod_run_dir(t, p->name);
	_cleanup_free_ char *sock = strdup_printf("%s/%s", dir, SHIM_SOCKET_FILE);
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "watch");
	int fd, r;

	if (!sock || !req)
		return -ENOMEM;
	fd = ipc_connect(sock);
	if (fd < 0)
		return fd;
	r = ipc_send_json(fd, req, NULL, 0);
	if (r < 0) {
		close(fd);
		return r;
	}
	p->watch_fd = fd;
	return loop_add(t, fd, W_SHIM_WATCH, p);
}

static int start_ctr(struct tankd *t, struct pod *p, size_t i, struct diag *d)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	struct pod_ctr *c = &p->ctrs[i];
	int r;

	req = json_pack("{s:s,s:s}", "op", "start", "container", c->name);
	r = req ? shim_call(t, p->name, req, NULL, 0, &reply, d) : -ENOMEM;
	if (r < 0) {
		diag_prefix(d, "container %s: ", c->name);
		return r;
	}
	c->pid = (pid_t)json_int(reply, "pid", 0);
	c->st.phase = CPHASE_RUNNING;
	c->started_mono = now_mono_ms();
	return 0;
}

static int start_containers(struct tankd *t, struct pod *p, struct diag *d)
{
	for (size_t i = 0; i < p->n_ctrs; i++) {
		int r;

		if (p->ctrs[i].st.phase == CPHASE_RUNNING)
			continue;
		r = start_ctr(t, p, i, d);
		if (r < 0)
			return r;
	}
	p->started_at = now_wall_ms();
	p->started_mono = now_mono_ms();
	return 0;
}

void pod_phase_derive(struct pod *p)
{
	struct plan_ctr c[SPEC_CONTAINERS_MAX];
	size_t n = p->n_ctrs < SPEC_CONTAINERS_MAX ? p->n_ctrs : SPEC_CONTAINERS_MAX;
	uint64_t due = 0;

	if (p->phase != PHASE_RUNNING && p->phase != PHASE_EXITED && p->phase != PHASE_BACKOFF &&
	    p->phase != PHASE_TERMINATED)
		return; /* the pod's own phases: pulling, starting, stopping, failed, pending */
	for (size_t i = 0; i < n; i++) {
		c[i] = p->ctrs[i].st;
		if (c[i].phase == CPHASE_BACKOFF && (!due || c[i].next_start_at < due))
			due = c[i].next_start_at;
	}
	p->phase = plan_pod_phase(c, n);
	p->next_start_at = due;
}

static void start_failed(struct tankd *t, struct pod *p, int r, struct diag *d)
{
	p->phase = PHASE_FAILED;
	p->exit_failed = true;
	p->next_start_at = now_mono_ms() + plan_backoff_ms(&t->cfg.plan, p->backoff_n);
	p->backoff_n++;
	set_message(p, "start failed: %s", diag_text(d, r));
	json_decref(p->last_exit);
	p->last_exit = json_pack("{s:s,s:s}", "reason", "StartError", "message", p->message);
	event_emit(t, p->name, true, "StartFailed", "%s", p->message);
}

/* "PolicyApplied: ingress 2 rules, egress all allowed, enforce (before the first packet)" */
static void policy_event(struct tankd *t, struct pod *p, const struct pod_spec *s,
			 const char *reason, const char *when)
{
	const struct spec_policy *pol = &s->policy;
	char in[32] = "all allowed", eg[32] = "all allowed";

	if (pol->has_ingress)
		snprintf(in, sizeof(in), "%zu rule%s", pol->n_ingress, pol->n_ingress == 1 ? "" : "s");
	if (pol->has_egress)
		snprintf(eg, sizeof(eg), "%zu rule%s", pol->n_egress, pol->n_egress == 1 ? "" : "s");
	event_emit(t, p->name, false, reason, "ingress %s, egress %s, %s (%s)", in, eg,
		   pol->mode == POLICY_AUDIT ? "audit" : "enforce", when);
}

void runtime_pull_done(struct tankd *t, struct pod *p)
{
	_cleanup_free_ char *store = strdup_printf("%s/images", t->cfg.data_dir);
	_cleanup_free_ char *dir = pod_run_dir(t, p->name);
	struct diag d = { 0 };
	int r = 0;

	p->phase = PHASE_STARTING;
	set_message(p, "starting");
	p->images = calloc(p->spec->n_containers, sizeof(*p->images));
	if (!store || !dir || !p->images) {
		start_failed(t, p, -ENOMEM, &d);
		return;
	}
	for (size_t i = 0; i < p->spec->n_containers && r >= 0; i++) {
		/* the worker put everything in the store: never the network from the loop */
		struct oci_pull_opts o = { .policy = OCI_PULL_NEVER };

		if (!p->spec->containers[i].image)
			continue;
		r = oci_image_prepare_opts(store, p->spec->containers[i].image, &o, &p->images[i], &d);
		if (r >= 0 && i < p->n_ctrs) {
			free(p->ctrs[i].manifest_digest);
			p->ctrs[i].manifest_digest = strdup(p->images[i]->manifest_digest);
		}
	}
	if (r >= 0 && !p->slot && !(p->slot = slot_alloc(t)))
		r = diag_fail(&d, -ENOSPC, "no free pod slot (%d pods at most)", TANK_MAX_PODS - 1);
	if (r >= 0)
		r = net_pod_plan(t, p, &d);
	if (r >= 0 && (r = fs_mkdir_p(dir, 0700)) < 0)
		diag_fail(&d, r, "create %s: %s", dir, strerror(-r));
	if (r >= 0)
		r = write_etc_files(t, p, dir, &d);
	if (r >= 0)
		r = shim_spawn(t, p, dir, &d);
	if (r >= 0)
		r = setup_network(t, p, &d);
	/* watch before starting: an exit right after the start is then an event we receive */
	if (r >= 0 && (r = watch_connect(t, p)) < 0)
		diag_fail(&d, r, "watch shim: %s", strerror(-r));
	if (r >= 0)
		r = start_containers(t, p, &d);
	for (size_t i = 0; p->images && i < p->spec->n_containers; i++)
		oci_image_free(p->images[i]);
	free(p->images);
	p->images = NULL;
	if (r < 0) {
		state_save(t, p);
		start_failed(t, p, r, &d);
		return;
	}
	p->phase = PHASE_RUNNING;
	free(p->message);
	p->message = NULL;
	state_save(t, p);
	for (size_t i = 0; i < p->n_nics; i++) {
		char nic[256];

		net_nic_describe(p, i, nic, sizeof(nic));
		event_emit(t, p->name, false, "NetworkConfigured", "nic %s (%s)", p->nics[i].name,
			   nic);
	}
	if (p->spec->has_policy)
		policy_event(t, p, p->spec, "PolicyApplied", "before the first packet");
	event_emit(t, p->name, false, "Started", "running (shim pid %d, pid %d)", (int)p->shim_pid,
		p->n_ctrs ? (int)p->ctrs[0].pid : 0);
}

struct pull_ctx {
	struct tankd *t;
	struct pod *p;
};

static void pull_line(char kind, const char *rest, void *data)
{
	struct pull_ctx *ctx = data;
	struct pod *p = ctx->p;
	json_t *x = NULL;

	if (kind == 'E') {
		/* "E <container image index> <message>" */
		const char *sp = strchr(rest, ' ');

		free(p->pull_error);
		p->pull_error = strdup(sp ? sp + 1 : rest);
		return;
	}
	if (kind != 'P' || json_parse_buf(rest, strlen(rest), &x, NULL) < 0)
		return;
	/* the pod shows where its pull is */
	if (!strcmp(json_str(x, "phase", ""), "downloading"))
		set_message(p, "pulling %s: layer %.19s %lld/%lld bytes", json_str(x, "ref", "?"),
			    json_str(x, "digest", "?"), json_int(x, "done", 0), json_int(x, "total", 0));
	else if (!strcmp(json_str(x, "phase", ""), "unpacking"))
		set_message(p, "unpacking %s: layer %.19s", json_str(x, "ref", "?"),
			    json_str(x, "digest", "?"));
	else if (!strcmp(json_str(x, "phase", ""), "warning")) /* the registry's Warning header */
		event_emit(ctx->t, p->name, true, "PullWarning", "%s: %s", json_str(x, "ref", "?"),
			   json_str(x, "message", ""));
	json_decref(x);
}

void runtime_pull_event(struct tankd *t, struct pod *p)
{
	struct diag d = { 0 };
	struct pull_ctx ctx = { t, p };
	int r = images_worker_read(p->pull_fd, p->pull_buf, &p->pull_len, POD_PULL_BUF, pull_line,
				   &ctx);

	if (r == 0)
		return;
	loop_del(t, p->pull_fd);
	close(p->pull_fd);
	p->pull_fd = -1;
	pull_buf_drop(p);
	p->pull_pid = 0; /* reaped by the SIGCHLD handler */
	if (!p->pull_error) {
		event_emit(t, p->name, false, "Pulled", "images ready");
		runtime_pull_done(t, p);
		return;
	}
	diag_fail(&d, -EIO, "image: %s", p->pull_error);
	start_failed(t, p, -EIO, &d);
	json_object_set_new(p->last_exit, "reason", json_string("ImagePullError"));
}

void runtime_restart(struct tankd *t, struct pod *p, size_t ctr)
{
	struct pod_ctr *c = &p->ctrs[ctr];
	struct diag d = { 0 };
	int r = start_ctr(t, p, ctr, &d);

	if (r < 0) {
		/* the container's failure: its policy decides, the other containers run on */
		c->st.phase = CPHASE_EXITED;
		c->st.exit_failed = p->exit_failed = true;
		c->st.ran_ms = 0;
		json_decref(c->last_exit);
		c->last_exit = json_pack("{s:s,s:s}", "reason", "StartError", "message",
					 diag_text(&d, r));
		json_decref(p->last_exit);
		p->last_exit = json_incref(c->last_exit);
		event_emit(t, p->name, true, "StartFailed", "container %s: %s", c->name,
			   diag_text(&d, r));
		pod_phase_derive(p);
		tankd_nudge(t);
		return;
	}
	c->restarts++;
	p->restarts++;
	pod_phase_derive(p);
	if (p->phase == PHASE_RUNNING && !p->next_start_at) {
		free(p->message);
		p->message = NULL;
	}
	state_save(t, p);
	event_emit(t, p->name, false, "Restarted", "container %s: restart %u, pid %d", c->name,
		   c->restarts, (int)c->pid);
}

void runtime_ctr_backoff(struct tankd *t, struct pod *p, size_t ctr, uint64_t delay_ms,
			 bool reset)
{
	struct pod_ctr *c = &p->ctrs[ctr];

	if (reset)
		c->st.backoff_n = 0;
	c->st.backoff_n++;
	c->st.phase = CPHASE_BACKOFF;
	c->st.next_start_at = now_mono_ms() + delay_ms;
	pod_phase_derive(p);
	set_message(p, "container %s restarting in %llu ms", c->name,
		    (unsigned long long)delay_ms);
	state_save(t, p);
	event_emit(t, p->name, false, "BackOff", "container %s restarting in %llu ms", c->name,
		   (unsigned long long)delay_ms);
}

void runtime_ctr_done(struct tankd *t, struct pod *p, size_t ctr)
{
	p->ctrs[ctr].st.phase = CPHASE_DONE;
	pod_phase_derive(p);
	state_save(t, p);
	if (p->phase != PHASE_TERMINATED) {
		event_emit(t, p->name, false, "ContainerTerminated",
			   "container %s not restarted (restart policy)", p->ctrs[ctr].name);
		return;
	}
	free(p->message);
	p->message = NULL;
	event_emit(t, p->name, false, "Terminated", "not restarted (restart policy %s)",
		   restart_policy_name(p->spec ? p->spec->restart : RESTART_ALWAYS));
}

void runtime_restart_request(struct tankd *t, struct pod *p)
{
	p->backoff_n = 0;
	event_emit(t, p->name, false, "RestartRequested", "restart requested; back-off cleared");
	if (p->phase == PHASE_BACKOFF) {
		/* nothing runs: the waiting containers start now (each restart is counted) */
		for (size_t i = 0; i < p->n_ctrs; i++) {
			if (p->ctrs[i].st.phase != CPHASE_BACKOFF)
				continue;
			p->ctrs[i].st.backoff_n = 0;
			p->ctrs[i].st.next_start_at = 0;
		}
		tankd_nudge(t);
		return;
	}
	p->restarts++;
	if (p->phase == PHASE_FAILED) {
		p->next_start_at = 0;
		tankd_nudge(t);
		return;
	}
	/* a full stop and start from the current spec, as a replacement does */
	runtime_stop(t, p, false);
}

void runtime_update(struct tankd *t, struct pod *p, json_t *rec)
{
	_cleanup_json_ json_t *errs = NULL;
	struct pod_spec *spec = NULL;
	struct diag d = { 0 };
	int r = spec_parse(json_object_get(rec, "spec"), &spec, &errs, &d);

	for (size_t i = 0; r >= 0 && i < spec->n_containers; i++)
		r = cgroup_set_limits(&t->cfg, t->cgroups, p->name, spec->containers[i].name,
				      &spec->containers[i].limits, &d);
	if (r >= 0 && (p->n_nics || spec->net == NET_HOST))
		r = dp_policy_apply(t, p, spec, &d);
	if (r < 0) {
		/* the old limits may be half replaced: a full replacement makes it whole */
		event_emit(t, p->name, true, "UpdateFailed", "in-place update failed (%s); replacing",
			   diag_text(&d, r));
		pod_spec_free(spec);
		p->static_hash = 0;
		return;
	}
	pod_spec_free(p->spec);
	p->spec = spec;
	json_decref(p->record);
	p->record = json_incref(rec);
	p->revision = (uint64_t)json_int(rec, "revision", 0);
	state_save(t, p);
	event_emit(t, p->name, false, "Updated", "limits and policy applied in place (revision %llu)",
		   (unsigned long long)p->revision);
	if (spec->has_policy)
		policy_event(t, p, spec, "PolicyApplied", "swapped in place");
}

/* ---- shim events ---------------------------------------------------------------------------- */

static struct pod_ctr *ctr_find(struct pod *p, const char *name)
{
	for (size_t i = 0; name && i < p->n_ctrs; i++)
		if (!strcmp(p->ctrs[i].name, name))
			return &p->ctrs[i];
	return NULL;
}

/* ev: an "exited" event ("container") or a container of a status snapshot ("name") */
static void on_exited(struct tankd *t, struct pod *p, json_t *ev)
{
	struct pod_ctr *c = ctr_find(p, json_str(ev, "container", json_str(ev, "name", NULL)));
	uint64_t oom;
	json_t *code = json_object_get(ev, "exit_code");
	json_t *sig = json_object_get(ev, "signal");

	if (!c)
		return;
	c->pid = 0;
	json_decref(c->last_exit);
	oom = cgroup_oom_kills(&t->cfg, t->cgroups, p->name, c->name);
	if (json_is_integer(sig) && json_integer_value(sig) == SIGKILL && oom > c->oom_seen) {
		c->last_exit = json_pack("{s:s,s:I,s:s}", "reason", "OOMKilled", "signal",
					 (json_int_t)SIGKILL, "message",
					 "the container reached its memory limit and was killed");
		c->st.exit_failed = true;
	} else if (json_is_integer(sig)) {
		c->last_exit = json_pack("{s:I}", "signal", json_integer_value(sig));
		c->st.exit_failed = true;
	} else {
		c->last_exit = json_pack("{s:I}", "code", json_integer_value(code));
		c->st.exit_failed = json_integer_value(code) != 0;
	}
	/* the pod shows the most recent exit of any of its containers */
	json_decref(p->last_exit);
	p->last_exit = json_incref(c->last_exit);
	p->exit_failed = c->st.exit_failed;
	if (c->st.phase == CPHASE_RUNNING) {
		c->st.phase = CPHASE_EXITED;
		c->st.ran_ms = now_mono_ms() - c->started_mono;
		p->ran_ms = c->st.ran_ms;
	}
	pod_phase_derive(p);
	if (oom > c->oom_seen) {
		c->oom_seen = oom;
		event_emit(t, p->name, true, "OOMKilled", "container %s was killed at its memory limit",
			   c->name);
	}
	event_emit(t, p->name, p->exit_failed, "Exited", "container %s exited (%s %lld)", c->name,
		   json_is_integer(sig) ? "signal" : "code",
		   (long long)json_integer_value(json_is_integer(sig) ? sig : code));
}

static void watch_reader_release(struct pod *p)
{
	ipc_reader_clear(&p->watch_rd);
}

/* The watch's first reply is a status snapshot: exits before it are reported only there. */
static void on_snapshot(struct tankd *t, struct pod *p, json_t *st)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(st, "containers"), i, e) {
		struct pod_ctr *c = ctr_find(p, json_str(e, "name", NULL));

		/* only an exit we have not seen yet: we still think it runs */
		if (c && c->st.phase == CPHASE_RUNNING &&
		    !strcmp(json_str(e, "state", ""), "exited"))
			on_exited(t, p, e);
	}
}

void runtime_watch_event(struct tankd *t, struct pod *p)
{
	struct ipc_reader *rd = &p->watch_rd;
	int fds[IPC_FDS_MAX];
	size_t nfds;

	for (;;) {
		json_t *ev = NULL;
		int r = ipc_reader_next(rd, p->watch_fd, &ev, fds, &nfds);

		for (size_t i = 0; r > 0 && i < nfds; i++)
			close(fds[i]);
		if (r == 0)
			return;
		if (r < 0) {
			/* the shim is gone: nothing owns the pod's processes any more */
			loop_del(t, p->watch_fd);
			close(p->watch_fd);
			p->watch_fd = -1;
			watch_reader_release(p);
			if (p->phase == PHASE_RUNNING || p->phase == PHASE_EXITED ||
			    p->phase == PHASE_BACKOFF || p->phase == PHASE_TERMINATED) {
				struct diag d = { 0 };

				p->shim_pid = 0;
				diag_fail(&d, -EPIPE, "tank-shim of the pod exited");
				start_failed(t, p, -EPIPE, &d);
				tankd_nudge(t);
			}
			return;
		}
		if (!strcmp(json_str(ev, "event", ""), "exited")) {
			on_exited(t, p, ev);
			tankd_nudge(t);
		} else if (!json_object_get(ev, "event") && json_object_get(ev, "containers")) {
			on_snapshot(t, p, ev);
			tankd_nudge(t);
		}
		json_decref(ev);
	}
}

/* ---- stop and teardown ---------------------------------------------------------------------- */

void runtime_stop(struct tankd *t, struct pod *p, bool del)
{
	_cleanup_json_ json_t *req = NULL;
	_cleanup_free_ char *dir = pod_run_dir(t, p->name);
	_cleanup_free_ char *sock = strdup_printf("%s/%s", dir, SHIM_SOCKET_FILE);
	uint64_t grace = 0;
	int fd;

	p->phase = PHASE_STOPPING;
	p->delete_after_stop = del;
	set_message(p, del ? "deleting" : "stopping for replacement");
	if (p->pull_pid > 0) {
		kill(p->pull_pid, SIGKILL);
		p->pull_pid = 0;
	}
	if (p->pull_fd >= 0) {
		loop_del(t, p->pull_fd);
		close(p->pull_fd);
		p->pull_fd = -1;
	}
	pull_buf_drop(p);
	for (size_t i = 0; p->spec && i < p->spec->n_containers; i++)
		if (p->spec->containers[i].stop_grace_ms > grace)
			grace = p->spec->containers[i].stop_grace_ms;
	/* each container gets its own stop_grace (own_grace); grace_ms bounds the wait and is
	 * what a shim started before per-container graces applies to all */
	req = json_pack("{s:s,s:I,s:b}", "op", "destroy", "grace_ms", (json_int_t)grace,
			"own_grace", 1);
	fd = sock && req ? ipc_connect(sock) : -ENOMEM;
	if (fd >= 0 && ipc_send_json(fd, req, NULL, 0) >= 0) {
		p->destroy_fd = fd;
		p->stop_deadline = now_mono_ms() + grace + 5000;
		loop_add(t, fd, W_SHIM_DESTROY, p);
		event_emit(t, p->name, false, "Stopping", "grace %llu ms",
			(unsigned long long)grace);
		return;
	}
	if (fd >= 0)
		close(fd);
	runtime_stop_done(t, p, false);
}

/* Is pid a tank-shim? (so a recycled pid is never killed) */
static bool pid_is_shim(pid_t pid)
{
	_cleanup_free_ char *path = strdup_printf("/proc/%d/cmdline", (int)pid);
	_cleanup_free_ char *buf = NULL;

	if (pid <= 0 || !path || fs_read_all(AT_FDCWD, path, 4096, &buf, NULL) < 0)
		return false;
	return strstr(buf, "tank-shim") != NULL;
}

void runtime_stop_done(struct tankd *t, struct pod *p, bool timed_out)
{
	_cleanup_free_ char *dir = pod_run_dir(t, p->name);
	_cleanup_free_ char *netns = pod_netns_path(t, p->name);
	_cleanup_free_ char *data = strdup_printf("%s/pods/%s", t->cfg.data_dir, p->name);
	_cleanup_free_ char *logs = strdup_printf("%s/logs/%s", t->cfg.data_dir, p->name);
	int ifindexes[SPEC_NICS_MAX];
	struct diag d = { 0 };
	size_t n = 0;

	if (p->destroy_fd >= 0) {
		loop_del(t, p->destroy_fd);
		close(p->destroy_fd);
		p->destroy_fd = -1;
	}
	if (p->watch_fd >= 0) {
		loop_del(t, p->watch_fd);
		close(p->watch_fd);
		p->watch_fd = -1;
		watch_reader_release(p);
	}
	/* a shim that answered destroy exits by itself; one that did not is killed */
	if (timed_out && p->shim_pid > 0 && pid_is_shim(p->shim_pid)) {
		log_pod(LOG_LVL_WARN, p->name, "shim %d did not stop in time; killing it",
			(int)p->shim_pid);
		kill(p->shim_pid, SIGKILL);
	}
	p->shim_pid = 0;
	for (size_t i = 0; i < p->n_nics; i++)
		if (p->nics[i].host_ifindex > 0 && n < ARRAY_SIZE(ifindexes))
			ifindexes[n++] = p->nics[i].host_ifindex;
	net_pod_teardown(t, p);
	if (t->bpf && p->slot && np_bpf_pod_unregister(t->bpf, p->uid, p->slot, ifindexes, n, &d) < 0)
		log_pod(LOG_LVL_WARN, p->name, "BPF cleanup: %s", diag_text(&d, d.err));
	/* the shim unbinds the netns; do it here too when the shim died before it could */
	if (netns && fs_exists(netns)) {
		umount2(netns, MNT_DETACH);
		unlink(netns);
	}
	diag_clear(&d);
	if (cgroup_remove_pod(&t->cfg, t->cgroups, p->name, &d) < 0)
		log_pod(LOG_LVL_WARN, p->name, "%s", diag_text(&d, d.err));
	if (dir)
		fs_rm_rf(dir);
	if (p->delete_after_stop) {
		net_pod_release(t, p->uid);
		if (data)
			fs_rm_rf(data);
		if (logs)
			fs_rm_rf(logs);
		if (p->slot)
			t->slots_used[p->slot] = 0;
		event_emit(t, p->name, false, "Deleted", "pod, netns, NICs and cgroups removed");
		pod_unlink(t, p);
		pod_free(p);
	} else {
		/* replaced or retried: the next pass creates it from the current spec */
		for (size_t i = 0; i < p->n_ctrs; i++) {
			p->ctrs[i].st = (struct plan_ctr){ 0 };
			p->ctrs[i].pid = 0;
		}
		p->phase = PHASE_PENDING;
		event_emit(t, p->name, false, "Stopped", "torn down; starting again from the current spec");
	}
	tankd_nudge(t);
}

/* ---- exec ------------------------------------------------------------------------------------ */

/*
 * exec, attach and logs go to the pod's shim with the caller's fds; the reply comes back on
 * the returned connection (relayed by the API). Only the keys each op knows are forwarded.
 */
int runtime_relay(struct tankd *t, struct pod *p, json_t *req, int *fds, size_t nfds,
		  int *ret_shim_fd, struct diag *d)
{
	static const struct {
		const char *op;
		size_t min_fds, max_fds;
		bool needs_running;
		const char *keys[10];
	} ops[] = {
		{ "exec", 1, 3, true,
		  { "args", "env", "env_add", "cwd", "user", "tty", "detach_keys", "rows", "cols" } },
		{ "attach", 1, 3, true, { "detach_keys", "stdin", "rows", "cols" } },
		{ "logs", 0, 2, false, { "follow", "tail", "since_ms", "timestamps" } },
	};
	_cleanup_free_ char *dir = pod_run_dir(t, p->name);
	_cleanup_free_ char *sock = strdup_printf("%s/%s", dir, SHIM_SOCKET_FILE);
	_cleanup_json_ json_t *fwd = NULL;
	const char *op = json_str(req, "op", ""), *cname = json_str(req, "container", NULL);
	struct pod_ctr *c = cname ? ctr_find(p, cname) : p->n_ctrs ? &p->ctrs[0] : NULL;
	size_t k;
	int fd, r;

	for (k = 0; k < ARRAY_SIZE(ops) && strcmp(ops[k].op, op); k++)
		;
	if (k == ARRAY_SIZE(ops))
		return diag_fail(d, -EINVAL, "%s: not a shim operation", op);
	if (!c)
		return diag_fail(d, -ENOENT, "pod %s has no container %s", p->name,
				 cname ? cname : "");
	/* the container's own state: its sibling may be waiting for a restart */
	if (ops[k].needs_running && c->st.phase != CPHASE_RUNNING)
		return diag_fail(d, -ESRCH, "container %s of pod %s is not running (%s)", c->name,
				 p->name, ctr_phase_name(c->st.phase));
	if (!p->shim_pid)
		return diag_fail(d, -ESRCH, "pod %s has no shim (phase %s)", p->name,
				 pod_phase_name(p->phase));
	if (nfds < ops[k].min_fds || nfds > ops[k].max_fds)
		return diag_fail(d, -EINVAL, "%s: expected %zu to %zu file descriptors, got %zu", op,
				 ops[k].min_fds, ops[k].max_fds, nfds);
	if (!strcmp(op, "exec")) {
		json_t *args = json_object_get(req, "args");

		if (!json_is_array(args) || json_array_size(args) == 0)
			return diag_fail(d, -EINVAL, "exec: args must be a non-empty list of strings");
	}
	fwd = json_pack("{s:s,s:s}", "op", op, "container", c->name);
	if (!fwd || !sock)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(ops[k].keys) && ops[k].keys[i]; i++)
		if (json_object_get(req, ops[k].keys[i]))
			json_object_set(fwd, ops[k].keys[i], json_object_get(req, ops[k].keys[i]));
	fd = ipc_connect(sock);
	if (fd < 0)
		return diag_fail(d, fd, "connect to the pod's shim: %s", strerror(-fd));
	r = ipc_send_json(fd, fwd, fds, nfds);
	if (r < 0) {
		close(fd);
		return diag_fail(d, r, "send %s to the shim: %s", op, strerror(-r));
	}
	*ret_shim_fd = fd;
	return 0;
}

/* ---- adoption after a tankd restart ------------------------------------------------------ */

static void adopt_one(struct tankd *t, const char *name)
{
	_cleanup_free_ char *dir = pod_run_dir(t, name);
	_cleanup_free_ char *stf = strdup_printf("%s/" TANKD_STATE_FILE, dir ? dir : "");
	_cleanup_json_ json_t *st = NULL, *status = NULL, *req = json_pack("{s:s}", "op", "status");
	struct diag d = { 0 };
	struct pod *p;
	json_t *nics, *ctrs, *e;
	size_t i;

	if (!dir || !stf || !req || json_read_file(AT_FDCWD, stf, 1 << 20, &st, &d) < 0)
		return;
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->name = strdup(name);
	p->uid = strdup(json_str(st, "uid", ""));
	p->revision = (uint64_t)json_int(st, "revision", 0);
	p->slot = (uint32_t)json_int(st, "slot", 0);
	p->restarts = (unsigned int)json_int(st, "restarts", 0);
	p->started_at = (uint64_t)json_int(st, "started_at", 0);
	p->started_mono = now_mono_ms();
	p->pull_fd = p->watch_fd = p->destroy_fd = -1;
	if (p->slot && p->slot < TANK_MAX_PODS)
		t->slots_used[p->slot] = 1;
	else
		p->slot = 0;
	nics = json_object_get(st, "nics");
	p->n_nics = json_array_size(nics) <= SPEC_NICS_MAX ? json_array_size(nics) : 0;
	p->nics = calloc(p->n_nics ? p->n_nics : 1, sizeof(*p->nics));
	json_array_foreach(nics, i, e) {
		if (i >= p->n_nics || !p->nics)
			break;
		p->nics[i].name = strdup(json_str(e, "name", ""));
		p->nics[i].host_ifname = strdup(json_str(e, "host_ifname", ""));
		p->nics[i].host_ifindex = (int)json_int(e, "host_ifindex", 0);
		p->nics[i].pod_ifindex = (int)json_int(e, "pod_ifindex", 0);
		snprintf(p->nics[i].parent, sizeof(p->nics[i].parent), "%s", json_str(e, "parent", ""));
		snprintf(p->nics[i].shim, sizeof(p->nics[i].shim), "%s", json_str(e, "shim", ""));
		p->nics[i].ips = json_strv(json_object_get(e, "ips"));
		for (size_t k = 0; p->nics[i].ips && p->nics[i].ips[k] && k < NP_ADDRS_MAX; k++)
			if (np_addr_parse(p->nics[i].ips[k], &p->nics[i].addrs[p->nics[i].n_addrs]) == 0)
				p->nics[i].n_addrs++;
	}
	pod_link(t, p);
	if (shim_call(t, name, req, NULL, 0, &status, &d) < 0) {
		/* shim gone: leftovers get torn down (and the pod re-created if still desired) */
		p->phase = PHASE_FAILED;
		set_message(p, "shim gone while tankd was down: %s", diag_text(&d, d.err));
		event_emit(t, name, true, "ShimLost", "%s", p->message);
		return;
	}
	p->shim_pid = (pid_t)json_int(status, "shim_pid", 0);
	ctrs = json_object_get(status, "containers");
	p->n_ctrs = json_array_size(ctrs);
	p->ctrs = calloc(p->n_ctrs ? p->n_ctrs : 1, sizeof(*p->ctrs));
	p->phase = PHASE_RUNNING;
	json_array_foreach(ctrs, i, e) {
		json_t *saved = json_array_get(json_object_get(st, "containers"), i);
		struct pod_ctr *c;

		if (!p->ctrs)
			break;
		c = &p->ctrs[i];
		c->name = strdup(json_str(e, "name", ""));
		c->pid = (pid_t)json_int(e, "pid", 0);
		c->st.phase = CPHASE_RUNNING;
		c->started_mono = now_mono_ms();
		if (json_is_string(json_array_get(json_object_get(st, "digests"), i)))
			c->manifest_digest = strdup(
				json_string_value(json_array_get(json_object_get(st, "digests"), i)));
		if (!strcmp(json_str(saved, "name", ""), json_str(e, "name", ""))) {
			c->restarts = (unsigned int)json_int(saved, "restarts", 0);
			c->st.backoff_n = (unsigned int)json_int(saved, "backoff_n", 0);
			/* the OOM kills already reported: without it, the next SIGKILL of a
			 * container that was OOM-killed before would read as one more */
			if (json_is_integer(json_object_get(saved, "oom_seen")))
				c->oom_seen = (uint64_t)json_int(saved, "oom_seen", 0);
			else if (!strcmp(json_str(e, "state", ""), "running"))
				c->oom_seen = cgroup_oom_kills(&t->cfg, t->cgroups, name, c->name);
			c->last_exit = json_incref(json_object_get(saved, "last_exit"));
			if (json_is_null(c->last_exit)) {
				json_decref(c->last_exit);
				c->last_exit = NULL;
			}
			if (json_bool(saved, "done", false) &&
			    strcmp(json_str(e, "state", "exited"), "running")) {
				c->st.phase = CPHASE_DONE; /* the policy was done with it */
				c->pid = 0;
				continue;
			}
		}
		if (!strcmp(json_str(e, "state", ""), "created")) {
			/* tankd stopped before it started it: a failed start, the policy applies */
			c->st.phase = CPHASE_EXITED;
			c->st.exit_failed = p->exit_failed = true;
			json_decref(c->last_exit);
			c->last_exit = json_pack("{s:s,s:s}", "reason", "StartError", "message",
						 "never started: tankd stopped before starting it");
			json_decref(p->last_exit);
			p->last_exit = json_incref(c->last_exit);
		} else if (strcmp(json_str(e, "state", "exited"), "running")) {
			/* it ended while tankd was down: report it now, the policy applies */
			on_exited(t, p, e);
		}
	}
	pod_phase_derive(p);
	if (watch_connect(t, p) < 0)
		log_pod(LOG_LVL_WARN, name, "cannot watch the shim");
	{
		_cleanup_free_ char *netns = pod_netns_path(t, name);
		_cleanup_close_ int nsfd = netns ? np_netns_open(netns) : -1;

		if (nsfd >= 0 && net_pod_watch(t, p, nsfd) < 0)
			log_pod(LOG_LVL_WARN, name, "cannot watch its netns for drift");
	}
	dp_pod_adopt(t, p);
	event_emit(t, name, false, "Adopted", "shim pid %d, %s", (int)p->shim_pid,
		pod_phase_name(p->phase));
}

void runtime_adopt_all(struct tankd *t)
{
	_cleanup_free_ char *pods = strdup_printf("%s/pods", t->cfg.run_dir);
	DIR *dp = pods ? opendir(pods) : NULL;
	struct dirent *e;

	if (!dp)
		return;
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.' && spec_name_is_valid(e->d_name))
			adopt_one(t, e->d_name);
	closedir(dp);
}
