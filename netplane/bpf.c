/* bpf.c - BPF datapath: load once, pinned maps, slots, migration of older layouts. */
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "netplane/bpf_int.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define NP_BPF_PIN_DEFAULT "/sys/fs/bpf/tank"
#define NP_BPFFS "/sys/fs/bpf"

/* ---- libbpf messages go to debug; the first warning is kept for the diag ----------------- */

static __thread char libbpf_last[512];

/* Called at the start of every operation that may fail inside libbpf. */
void npb_libbpf_reset(void)
{
	libbpf_last[0] = '\0';
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	/* the first warning names the cause; the ones after it say what failed in turn */
	if (level == LIBBPF_WARN && !libbpf_last[0])
		snprintf(libbpf_last, sizeof(libbpf_last), "%s",
			 strncmp(line, "libbpf: ", 8) == 0 ? line + 8 : line);
	log_debug("%s", line);
	return 0;
}

int npb_fail(struct diag *d, int err, const char *what)
{
	if (libbpf_last[0])
		return diag_fail(d, err, "%s: %s (libbpf: %s)", what, strerror(-err), libbpf_last);
	return diag_fail(d, err, "%s: %s", what, strerror(-err));
}

/* ---- paths ---------------------------------------------------------------------------- */

bool npb_pin_component_ok(const char *s, size_t max)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len >= max || s[0] == '.')
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

int npb_pin_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/* bpffs at /sys/fs/bpf if absent (when pin_dir lives there), then pin_dir and pin_dir/pods. */
static int bpffs_prepare(const char *pin_dir, struct diag *d)
{
	char pods[PATH_MAX];
	int r;

	if (strncmp(pin_dir, NP_BPFFS "/", strlen(NP_BPFFS) + 1) == 0 && !is_bpffs(NP_BPFFS)) {
		if (mount("bpf", NP_BPFFS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") <
		    0) {
			r = -errno;
			return diag_fail_at(d, r, NP_BPFFS, "mounting bpffs: %s", strerror(-r));
		}
	}
	r = npb_pin_path(pods, sizeof(pods), "%s/pods", pin_dir);
	if (r < 0)
		return diag_fail_at(d, r, pin_dir, "BPF pin directory: path too long");
	r = fs_mkdir_p(pods, 0700);
	if (r < 0)
		return diag_fail_at(d, r, pods, "creating the BPF pin directory: %s", strerror(-r));
	if (!is_bpffs(pin_dir))
		return diag_fail_at(d, -ENOTSUP, pin_dir, "BPF pin directory is not on bpffs");
	return 0;
}

/* ---- network namespaces ------------------------------------------------------------------- */

int npb_netns_cookie_here(uint64_t *ret)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(*ret);

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, ret, &len) < 0)
		return -errno;
	return 0;
}

struct netns_job {
	int netns_fd;
	int (*fn)(void *);
	void *arg;
	int ret;
};

static void *netns_thread(void *p)
{
	struct netns_job *j = p;

	/* a network namespace is per thread: only this one moves, and it ends here */
	if (setns(j->netns_fd, CLONE_NEWNET) < 0)
		j->ret = -errno;
	else
		j->ret = j->fn(j->arg);
	return NULL;
}

int npb_netns_run(int netns_fd, int (*fn)(void *), void *arg)
{
	struct netns_job j = { .netns_fd = netns_fd, .fn = fn, .arg = arg, .ret = -EINTR };
	pthread_t th;
	int r;

	if (netns_fd < 0)
		return -EBADF;
	/* signals stay blocked in the new thread as in its creator (tankd's signalfd) */
	r = pthread_create(&th, NULL, netns_thread, &j);
	if (r != 0)
		return -r;
	pthread_join(th, NULL);
	return j.ret;
}

static int cookie_job(void *arg)
{
	return npb_netns_cookie_here(arg);
}

int np_bpf_netns_cookie(int netns_fd, uint64_t *ret, struct diag *d)
{
	uint64_t c = 0;
	int r = netns_fd < 0 ? npb_netns_cookie_here(&c) : npb_netns_run(netns_fd, cookie_job, &c);

	if (r < 0)
		return diag_fail(d, r, "reading the netns cookie: %s", strerror(-r));
	*ret = c;
	return 0;
}

/* ---- open / close ------------------------------------------------------------------------ */

/* tcx where the kernel has it: attach to loopback and let go at once; EINVAL/EOPNOTSUPP mean
 * this kernel does not know BPF_TCX_INGRESS, so clsact it is. */
static int probe_tcx(int prog_fd, bool *ret, struct diag *d)
{
	int fd = bpf_link_create(prog_fd, 1 /* lo */, NP_BPF_TCX_INGRESS, NULL);

	if (fd >= 0) {
		close(fd);
		*ret = true;
		return 0;
	}
	if (fd == -EINVAL || fd == -EOPNOTSUPP || fd == -524 /* ENOTSUPP */) {
		*ret = false;
		return 0;
	}
	return npb_fail(d, fd, "probing tcx");
}

/* The cgroup object runs on the tc object's maps: one set of maps for every attach type. */
static int cg_load(struct np_bpf *b, struct diag *d)
{
	struct bpf_map *m;
	int r;

	b->cg = tank_cg_bpf__open();
	if (!b->cg)
		return npb_fail(d, -errno, "opening the cgroup BPF object");
	bpf_object__for_each_map(m, b->cg->obj)
	{
		struct bpf_map *own;

		if (bpf_map__is_internal(m)) /* .bss, .kconfig: its own */
			continue;
		own = bpf_object__find_map_by_name(b->skel->obj, bpf_map__name(m));
		if (!own)
			return diag_fail(d, -EINVAL, "BPF: map %s of the cgroup object is unknown",
					 bpf_map__name(m));
		r = bpf_map__reuse_fd(m, bpf_map__fd(own));
		if (r < 0)
			return npb_fail(d, r, "sharing the maps with the cgroup object");
	}
	r = tank_cg_bpf__load(b->cg);
	if (r < 0)
		return npb_fail(d, r, "loading the cgroup BPF programs");
	return 0;
}

static int migrate(struct np_bpf *b, struct diag *d);

int np_bpf_obj_size(struct bpf_object *obj, struct diag *d)
{
	/* a flow cache and cells for every CPU, each CPU's in a row (tank_abi.h) */
	static const struct {
		const char *name;
		__u32 per_cpu;
	} t[] = { { TANK_MAP_FCACHE, TANK_FCACHE_SIZE }, { TANK_MAP_SCELL, TANK_SCELL_SIZE } };
	int ncpus = libbpf_num_possible_cpus();

	if (ncpus <= 0)
		return diag_fail(d, ncpus < 0 ? ncpus : -EINVAL, "BPF: cannot count CPUs");
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, t[i].name);
		int r = m ? bpf_map__set_max_entries(m, t[i].per_cpu * (__u32)ncpus) : -ENOENT;

		if (r < 0)
			return diag_fail(d, r, "BPF: sizing %s: %s", t[i].name, strerror(-r));
	}
	return 0;
}

int np_bpf_open(const char *pin_dir, struct np_bpf **ret, struct diag *d)
{
	struct np_bpf *b;
	struct bpf_map *m;
	int r;

	if (!pin_dir)
		pin_dir = NP_BPF_PIN_DEFAULT;
	if (pin_dir[0] != '/' || strlen(pin_dir) > PATH_MAX - 64)
		return diag_fail_at(d, -EINVAL, pin_dir, "BPF pin directory must be absolute");
	libbpf_set_print(libbpf_print);
	npb_libbpf_reset();

	r = bpffs_prepare(pin_dir, d);
	if (r < 0)
		return r;

	b = calloc(1, sizeof(*b));
	if (!b || !(b->pin_dir = strdup(pin_dir))) {
		free(b);
		return diag_fail(d, -ENOMEM, "BPF: out of memory");
	}
	b->tomb_ttl_ms = NPB_TOMB_TTL_DEFAULT_MS;
	b->scell_v1 = -1;
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus <= 0) {
		r = diag_fail(d, b->ncpus < 0 ? b->ncpus : -EINVAL, "BPF: cannot count CPUs");
		goto fail;
	}
	r = npb_netns_cookie_here(&b->netns);
	if (r < 0) {
		r = diag_fail(d, r, "BPF: reading the netns cookie: %s", strerror(-r));
		goto fail;
	}

	b->skel = tank_tc_bpf__open();
	if (!b->skel) {
		r = npb_fail(d, -errno, "opening the BPF object");
		goto fail;
	}
	/* every map is pinned: the datapath keeps its state while tankd is down */
	bpf_object__for_each_map(m, b->skel->obj)
	{
		char path[PATH_MAX];

		if (bpf_map__is_internal(m)) /* .kconfig: per object, never pinned */
			continue;
		r = npb_pin_path(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(m));
		if (r >= 0)
			r = bpf_map__set_pin_path(m, path);
		if (r < 0) {
			r = npb_fail(d, r, "setting the pin path");
			goto fail;
		}
	}
	r = np_bpf_obj_size(b->skel->obj, d);
	if (r < 0)
		goto fail;
	/* reuses the pinned maps where they are compatible, pins the others */
	r = tank_tc_bpf__load(b->skel);
	if (r < 0) {
		r = npb_fail(d, r, "loading the BPF programs");
		diag_prefix(d, "%s: ", pin_dir);
		goto fail;
	}
	r = cg_load(b, d);
	if (r < 0) {
		diag_prefix(d, "%s: ", pin_dir);
		goto fail;
	}
	npb_cg_levels_update(b);
	r = probe_tcx(bpf_program__fd(b->skel->progs.tank_host_in), &b->tcx_available, d);
	if (r < 0)
		goto fail;
	b->tcx = b->tcx_available;
	/* interfaces of older layouts first, so the new programs know them; then every pinned
	 * attachment runs the programs just loaded; then the old counters are carried over */
	r = migrate(b, d);
	if (r < 0)
		goto fail;
	b->ifh = mmap(NULL, TANK_IFH_SIZE * sizeof(*b->ifh), PROT_READ | PROT_WRITE, MAP_SHARED,
		      bpf_map__fd(b->skel->maps.tank_ifh_v1), 0);
	if (b->ifh == MAP_FAILED) {
		b->ifh = NULL;
		r = diag_fail(d, -errno, "BPF: mapping %s: %s", TANK_MAP_IFH, strerror(errno));
		goto fail;
	}
	npb_ifh_sync(b);
	*ret = b;
	return 0;
fail:
	np_bpf_close(b);
	return r;
}

void np_bpf_close(struct np_bpf *b)
{
	if (!b)
		return;
	npb_events_close(b);
	if (b->ifh)
		munmap(b->ifh, TANK_IFH_SIZE * sizeof(*b->ifh));
	if (b->scell_v1 >= 0)
		close(b->scell_v1);
	/* pinned maps and links live on; unpinned program references go with the skeletons */
	tank_cg_bpf__destroy(b->cg);
	tank_tc_bpf__destroy(b->skel);
	free(b->pin_dir);
	free(b);
}

const char *np_bpf_attach_mode(const struct np_bpf *b)
{
	return b->tcx ? "tcx" : "clsact";
}

int np_bpf_set_attach_mode(struct np_bpf *b, const char *mode)
{
	if (strcmp(mode, "clsact") == 0)
		b->tcx = false;
	else if (strcmp(mode, "tcx") == 0 && b->tcx_available)
		b->tcx = true;
	else
		return strcmp(mode, "tcx") == 0 ? -EOPNOTSUPP : -EINVAL;
	return 0;
}

/* ---- pods ------------------------------------------------------------------------------ */

int npb_slot_check(uint32_t slot, struct diag *d)
{
	if (slot == 0 || slot >= TANK_MAX_PODS)
		return diag_fail(d, -ERANGE, "pod slot %u out of range 1..%u", slot,
				 TANK_MAX_PODS - 1);
	return 0;
}

/* A new owner: counters (and rule hits), policy, configuration reset; flows made stale. */
static int slot_reset(struct np_bpf *b, uint32_t slot, struct diag *d)
{
	struct tank_pod_cfg cfg;
	struct tank_evrl rl = {};
	int r;

	r = npb_cfg_get(b, slot, &cfg, d);
	if (r < 0)
		return r;
	cfg = (struct tank_pod_cfg){ .gen = cfg.gen + 1, .epoch = cfg.epoch + 1 };
	r = npb_cfg_put(b, slot, &cfg, d);
	if (r < 0)
		return r;
	r = npb_policy_drop(b, slot, d);
	if (r < 0)
		return r;
	r = bpf_map__update_elem(b->skel->maps.tank_evrl_v1, &slot, sizeof(slot), &rl, sizeof(rl),
				 0);
	if (r < 0)
		return npb_fail(d, r, "resetting the event rate limit");
	return npb_slot_forget(b, slot, d);
}

int np_bpf_pod_register(struct np_bpf *b, uint32_t slot, const char *name, const char *uid,
			struct diag *d)
{
	struct tank_pod_info cur = {}, want = {};
	int r;

	npb_libbpf_reset();

	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	if (!name || strlen(name) >= sizeof(want.name) ||
	    !npb_pin_component_ok(uid, sizeof(want.uid)))
		return diag_fail(d, -EINVAL, "pod slot %u: invalid name or uid", slot);
	strcpy(want.name, name);
	strcpy(want.uid, uid);

	r = bpf_map__lookup_elem(b->skel->maps.tank_pods_v1, &slot, sizeof(slot), &cur,
				 sizeof(cur), 0);
	if (r < 0)
		return npb_fail(d, r, "reading the pod slot");
	/* Reset first, then claim: a crash in between leaves the old uid, so the next register
	 * resets again instead of handing over stale counters. */
	if (strncmp(cur.uid, want.uid, sizeof(cur.uid)) != 0) {
		r = slot_reset(b, slot, d);
		if (r < 0)
			return r;
	}
	r = bpf_map__update_elem(b->skel->maps.tank_pods_v1, &slot, sizeof(slot), &want,
				 sizeof(want), 0);
	if (r < 0)
		return npb_fail(d, r, "writing the pod slot");
	return 0;
}

int np_bpf_pod_info(struct np_bpf *b, uint32_t slot, struct tank_pod_info *ret)
{
	struct tank_pod_info info = {};
	int r;

	if (slot == 0 || slot >= TANK_MAX_PODS)
		return -ERANGE;
	r = bpf_map__lookup_elem(b->skel->maps.tank_pods_v1, &slot, sizeof(slot), &info,
				 sizeof(info), 0);
	if (r < 0)
		return r;
	if (!info.uid[0] && !info.name[0])
		return -ENOENT;
	info.name[sizeof(info.name) - 1] = '\0';
	info.uid[sizeof(info.uid) - 1] = '\0';
	*ret = info;
	return 0;
}

/* ---- older layouts ----------------------------------------------------------------------- */

struct nic_names {
	size_t n;
	struct {
		__u32 ifindex;
		char nic[TANK_NIC_NAME_MAX];
	} e[TANK_MAX_IFS];
};

static void nic_name_one(struct np_bpf *b _unused_, int fd, const char *nic, bool in, void *data)
{
	struct nic_names *nn = data;
	struct bpf_link_info info;
	__u32 ifindex;

	if (in && nn->n < ARRAY_SIZE(nn->e) && npb_dev_link_info(fd, &info, &ifindex, NULL) &&
	    ifindex) {
		nn->e[nn->n].ifindex = ifindex;
		snprintf(nn->e[nn->n].nic, sizeof(nn->e[nn->n].nic), "%s", nic);
		nn->n++;
	}
}

/* An older entry for ifindex (of tankd's netns) into tank_ifs_v3. Entries already there win:
 * they are newer, and a copy repeated after a crash changes nothing. */
static int ifs_v3_put(struct np_bpf *b, __u32 ifindex, const struct tank_if_info *ifi,
		      const char *from, struct diag *d)
{
	struct tank_if_key key = { .netns = b->netns, .ifindex = ifindex };
	int r = bpf_map__update_elem(b->skel->maps.tank_ifs_v3, &key, sizeof(key), ifi,
				     sizeof(*ifi), BPF_NOEXIST);

	if (r < 0 && r != -EEXIST) {
		diag_prefix(d, "migrating %s: ", from);
		return npb_fail(d, r, "writing " TANK_MAP_IFS);
	}
	return 0;
}

/* tank_ifs_v1 ({slot, dir} per ifindex): the NIC's name from its link pin, indexes in order of
 * appearance per slot. */
static int migrate_ifs_v1(struct np_bpf *b, int old_fd, struct diag *d)
{
	_cleanup_free_ struct nic_names *nn = calloc(1, sizeof(*nn));
	_cleanup_free_ uint8_t *next_nic = calloc(TANK_MAX_PODS, 1);
	struct {
		__u32 slot;
		__u32 dir;
	} old;
	__u32 key, next;
	int g, r;

	if (!nn || !next_nic)
		return diag_fail(d, -ENOMEM, "BPF: out of memory");
	npb_pins_walk(b, nic_name_one, nn);
	g = bpf_map_get_next_key(old_fd, NULL, &next);
	while (g == 0) {
		struct tank_if_info ifi = {};

		key = next;
		if (bpf_map_lookup_elem(old_fd, &key, &old) == 0 && old.slot &&
		    old.slot < TANK_MAX_PODS && next_nic[old.slot] < TANK_NICS_MAX) {
			ifi.slot = old.slot;
			ifi.ingress_dir = old.dir ? TANK_DIR_EGRESS : TANK_DIR_INGRESS;
			ifi.nic = next_nic[old.slot]++;
			for (size_t i = 0; i < nn->n; i++)
				if (nn->e[i].ifindex == key)
					memcpy(ifi.name, nn->e[i].nic, sizeof(ifi.name));
			r = ifs_v3_put(b, key, &ifi, TANK_MAP_IFS_V1, d);
			if (r < 0)
				return r;
		}
		g = bpf_map_get_next_key(old_fd, &key, &next);
	}
	return 0;
}

/* tank_ifs_v2 (the v3 value under the ifindex alone) */
static int migrate_ifs_v2(struct np_bpf *b, int old_fd, struct diag *d)
{
	__u32 key, next;
	int g, r;

	g = bpf_map_get_next_key(old_fd, NULL, &next);
	while (g == 0) {
		struct tank_if_info ifi;

		key = next;
		if (bpf_map_lookup_elem(old_fd, &key, &ifi) == 0 && ifi.slot &&
		    ifi.slot < TANK_MAX_PODS) {
			r = ifs_v3_put(b, key, &ifi, TANK_MAP_IFS_V2, d);
			if (r < 0)
				return r;
		}
		g = bpf_map_get_next_key(old_fd, &key, &next);
	}
	return 0;
}

/* tank_stats_v1 (per-CPU {ingress, egress} per slot) into tank_stats_v2 under reason MIGRATED.
 * Set, not added: a migration repeated after a crash before the unpin counts them once. */
static int migrate_stats(struct np_bpf *b, int old_fd, struct diag *d)
{
	size_t n = (size_t)b->ncpus;
	_cleanup_free_ struct tank_pod_stats *per = calloc(n, sizeof(*per));
	_cleanup_free_ struct tank_counter *val = calloc(n, sizeof(*val));
	int r;

	if (!per || !val)
		return diag_fail(d, -ENOMEM, "BPF: out of memory");
	for (__u32 slot = 1; slot < TANK_MAX_PODS; slot++) {
		struct tank_pod_stats sum = {};

		if (bpf_map_lookup_elem(old_fd, &slot, per) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			sum.ingress.packets += per[i].ingress.packets;
			sum.ingress.bytes += per[i].ingress.bytes;
			sum.egress.packets += per[i].egress.packets;
			sum.egress.bytes += per[i].egress.bytes;
		}
		for (int dir = 0; dir < TANK_DIR_MAX; dir++) {
			struct tank_counter *c =
				dir == TANK_DIR_INGRESS ? &sum.ingress : &sum.egress;
			struct tank_stat_key k = {
				.slot = slot, .dir = dir, .family = TANK_FAM_OTHER,
				.proto = TANK_PROTO_OTHER, .verdict = TANK_VERDICT_PASS,
				.reason = TANK_REASON_MIGRATED,
			};

			if (!c->packets && !c->bytes)
				continue;
			memset(val, 0, n * sizeof(*val));
			val[0] = *c;
			r = bpf_map__update_elem(b->skel->maps.tank_stats_v2, &k, sizeof(k), val,
						 n * sizeof(*val), BPF_ANY);
			if (r < 0)
				return npb_fail(d, r, "migrating " TANK_MAP_STATS_V1);
		}
	}
	return 0;
}

static int unpin(const char *path, struct diag *d)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return diag_fail_at(d, -errno, path, "unpinning: %s", strerror(errno));
	return 0;
}

/*
 * tank_fcache_v1: what its entries counted and had not yet added to their flows goes there, then
 * is zeroed in the old map, so a migration repeated after a crash adds at most one entry's again
 * (flow counts are top-talker figures: the programs add to them without atomics too).
 */
static int migrate_fcache(struct np_bpf *b, int old_fd, struct diag *d)
{
	size_t n = (size_t)b->ncpus;
	_cleanup_free_ struct tank_fcache_v1 *per = calloc(n, sizeof(*per));
	int flows = bpf_map__fd(b->skel->maps.tank_flows_v1), r;

	if (!per)
		return diag_fail(d, -ENOMEM, "BPF: out of memory");
	for (__u32 i = 0; i < TANK_FCACHE_SIZE; i++) {
		bool moved = false;

		if (bpf_map_lookup_elem(old_fd, &i, per) < 0)
			continue;
		for (size_t c = 0; c < n; c++) {
			struct tank_fcache_v1 *e = &per[c];
			struct tank_flow f;

			if (!e->key.slot || !e->pending.packets)
				continue;
			if (bpf_map_lookup_elem(flows, &e->key, &f) == 0 && f.epoch == e->epoch) {
				f.count[e->dir & 1].packets += e->pending.packets;
				f.count[e->dir & 1].bytes += e->pending.bytes;
				bpf_map_update_elem(flows, &e->key, &f, BPF_EXIST); /* or it just went */
			}
			e->pending = (struct tank_counter){ 0 };
			moved = true;
		}
		if (moved && (r = bpf_map_update_elem(old_fd, &i, per, BPF_ANY)) < 0)
			return npb_fail(d, r, "migrating " TANK_MAP_FCACHE_V1);
	}
	return 0;
}

/*
 * tank_scell_v1: a live cell (its slot still in the epoch it was taken in) is part of its pod's
 * totals, so the map stays pinned and readers add its cells (npb_slot_totals) while such a pod
 * lives; a start after the last one is gone unpins it. Nothing is moved, so nothing can be
 * counted twice or lost, whenever tankd stops. old_fd is the caller's until this succeeds.
 */
static int scell_v1_keep(struct np_bpf *b, int *old_fd, const char *path, struct diag *d)
{
	size_t n = (size_t)b->ncpus;
	_cleanup_free_ struct tank_scell_v1 *per = calloc(n, sizeof(*per));

	if (!per)
		return diag_fail(d, -ENOMEM, "BPF: out of memory");
	for (__u32 i = 0; i < TANK_SCELL_SIZE; i++) {
		if (bpf_map_lookup_elem(*old_fd, &i, per) < 0)
			continue;
		for (size_t c = 0; c < n; c++) {
			struct tank_pod_cfg cfg;

			if (per[c].key.slot && per[c].count.packets &&
			    npb_cfg_get(b, per[c].key.slot, &cfg, NULL) == 0 &&
			    cfg.epoch == per[c].epoch) {
				b->scell_v1 = *old_fd;
				*old_fd = -1;
				return 0;
			}
		}
	}
	return unpin(path, d);
}

/* A pinned map of an older layout: -ENOENT when there is none, -EINVAL (with its path) when it
 * is not what that layout was. */
static int old_map_open(struct np_bpf *b, const char *name, enum bpf_map_type type,
			__u32 key_size, __u32 value_size, char *path, size_t len, struct diag *d)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);
	int fd;

	if (npb_pin_path(path, len, "%s/%s", b->pin_dir, name) < 0)
		return diag_fail(d, -ENAMETOOLONG, "BPF: pin path too long");
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0 || info.type != type ||
	    info.key_size != key_size || info.value_size != value_size) {
		close(fd);
		return diag_fail_at(d, -EINVAL, path, "not a pinned %s of the old layout", name);
	}
	return fd;
}

static int migrate_pinned(struct np_bpf *b, int fd[], char path[][PATH_MAX], struct diag *d);

/* The older layouts migrate() knows, by name, type, key and value size. */
enum { OLD_IFS1, OLD_IFS2, OLD_STATS1, OLD_FC1, OLD_SC1, OLD_N };
static const struct {
	const char *name;
	enum bpf_map_type type;
	__u32 key_size, value_size;
} old_layouts[OLD_N] = {
	[OLD_IFS1] = { TANK_MAP_IFS_V1, BPF_MAP_TYPE_HASH, 4, 8 },
	[OLD_IFS2] = { TANK_MAP_IFS_V2, BPF_MAP_TYPE_HASH, 4, sizeof(struct tank_if_info) },
	[OLD_STATS1] = { TANK_MAP_STATS_V1, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
			 sizeof(struct tank_pod_stats) },
	[OLD_FC1] = { TANK_MAP_FCACHE_V1, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
		      sizeof(struct tank_fcache_v1) },
	[OLD_SC1] = { TANK_MAP_SCELL_V1, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
		      sizeof(struct tank_scell_v1) },
};

static int migrate(struct np_bpf *b, struct diag *d)
{
	char path[OLD_N][PATH_MAX];
	int fd[OLD_N], r = 0;

	for (int i = 0; i < OLD_N; i++) {
		fd[i] = r < 0 ? -ENOENT
			      : old_map_open(b, old_layouts[i].name, old_layouts[i].type,
					     old_layouts[i].key_size, old_layouts[i].value_size,
					     path[i], sizeof(path[i]), d);
		if (fd[i] < 0 && fd[i] != -ENOENT)
			r = fd[i];
	}
	if (r >= 0)
		r = migrate_pinned(b, fd, path, d);
	for (int i = 0; i < OLD_N; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return r;
}

/*
 * migrate() with the old maps open (fd[i] < 0: not pinned). Crash-safe in this order: entries
 * are copied into tank_ifs_v3 before any attachment moves to the programs that read it; the old
 * pins go last, so a crash anywhere before leaves them for the next open to migrate again
 * (copies do not overwrite, the v1 totals are set, not added, pending flow counts are zeroed
 * once added, v1 cells are only read).
 */
static int migrate_pinned(struct np_bpf *b, int fd[], char path[][PATH_MAX], struct diag *d)
{
	int r;

	/* v2 first: its entries are newer than v1's for the same ifindex */
	if (fd[OLD_IFS2] >= 0 && (r = migrate_ifs_v2(b, fd[OLD_IFS2], d)) < 0)
		return r;
	if (fd[OLD_IFS1] >= 0 && (r = migrate_ifs_v1(b, fd[OLD_IFS1], d)) < 0)
		return r;
	npb_relink_all(b);
	/* the old programs no longer run: their counters are final */
	if (fd[OLD_STATS1] >= 0 && ((r = migrate_stats(b, fd[OLD_STATS1], d)) < 0 ||
				    (r = unpin(path[OLD_STATS1], d)) < 0))
		return r;
	if (fd[OLD_FC1] >= 0 && ((r = migrate_fcache(b, fd[OLD_FC1], d)) < 0 ||
				 (r = unpin(path[OLD_FC1], d)) < 0))
		return r;
	if (fd[OLD_SC1] >= 0 && (r = scell_v1_keep(b, &fd[OLD_SC1], path[OLD_SC1], d)) < 0)
		return r;
	if (fd[OLD_IFS2] >= 0 && (r = unpin(path[OLD_IFS2], d)) < 0)
		return r;
	if (fd[OLD_IFS1] >= 0 && (r = unpin(path[OLD_IFS1], d)) < 0)
		return r;
	return 0;
}
