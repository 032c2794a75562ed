/* bpf.c - BPF datapath: load once, pinned maps, v1 migration, per-pod tcx (or clsact) attach. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "netplane/bpf_int.h"

/* Debian 12's uapi headers predate tcx (kernel 6.6); the values are ABI. */
#define NP_BPF_TCX_INGRESS ((enum bpf_attach_type)46)
#define NP_BPF_TCX_EGRESS ((enum bpf_attach_type)47)
#define NP_BPF_LINK_TYPE_TCX 11u

/* clsact fallback: our filter's fixed handle ("tank") and priority on both hooks */
#define NP_TC_HANDLE 0x74616e6bu
#define NP_TC_PRIO 0x7a

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

/* uid and nic names become path components under the pin dir: keep them plain. */
static bool pin_component_ok(const char *s, size_t max)
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

static int pin_path(char *buf, size_t len, const char *fmt, ...) _printf_(3, 4);
static int pin_path(char *buf, size_t len, const char *fmt, ...)
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
	r = pin_path(pods, sizeof(pods), "%s/pods", pin_dir);
	if (r < 0)
		return diag_fail_at(d, r, pin_dir, "BPF pin directory: path too long");
	r = fs_mkdir_p(pods, 0700);
	if (r < 0)
		return diag_fail_at(d, r, pods, "creating the BPF pin directory: %s", strerror(-r));
	if (!is_bpffs(pin_dir))
		return diag_fail_at(d, -ENOTSUP, pin_dir, "BPF pin directory is not on bpffs");
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

static int migrate_v1(struct np_bpf *b, struct diag *d);
static void relink_all(struct np_bpf *b);

int np_bpf_open(const char *pin_dir, struct np_bpf **ret, struct diag *d)
{
	struct bpf_map *maps[10];
	struct np_bpf *b;
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
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus <= 0) {
		r = diag_fail(d, b->ncpus < 0 ? b->ncpus : -EINVAL, "BPF: cannot count CPUs");
		goto fail;
	}

	b->skel = tank_tc_bpf__open();
	if (!b->skel) {
		r = npb_fail(d, -errno, "opening the BPF object");
		goto fail;
	}
	/* every map is pinned: the datapath keeps its state while tankd is down */
	maps[0] = b->skel->maps.tank_stats_v2;
	maps[1] = b->skel->maps.tank_pods_v1;
	maps[2] = b->skel->maps.tank_ifs_v2;
	maps[3] = b->skel->maps.tank_pol_v1;
	maps[4] = b->skel->maps.tank_cfg_v1;
	maps[5] = b->skel->maps.tank_flows_v1;
	maps[6] = b->skel->maps.tank_frags_v1;
	maps[7] = b->skel->maps.tank_gstat_v1;
	maps[8] = b->skel->maps.tank_events_v1;
	maps[9] = b->skel->maps.tank_evrl_v1;
	for (size_t i = 0; i <= ARRAY_SIZE(maps); i++) {
		struct bpf_map *m = i < ARRAY_SIZE(maps) ? maps[i] : b->skel->maps.tank_tomb_v1;
		char path[PATH_MAX];

		r = pin_path(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(m));
		if (r >= 0)
			r = bpf_map__set_pin_path(m, path);
		if (r < 0) {
			r = npb_fail(d, r, "setting the pin path");
			goto fail;
		}
	}
	/* reuses the pinned maps where they are compatible, pins the others */
	r = tank_tc_bpf__load(b->skel);
	if (r < 0) {
		r = npb_fail(d, r, "loading the BPF programs");
		diag_prefix(d, "%s: ", pin_dir);
		goto fail;
	}
	r = probe_tcx(bpf_program__fd(b->skel->progs.tank_host_in), &b->tcx_available, d);
	if (r < 0)
		goto fail;
	b->tcx = b->tcx_available;
	/* interfaces of an older layout first, so the new programs know them; then every pinned
	 * attachment runs the programs just loaded; then the old counters are carried over */
	r = migrate_v1(b, d);
	if (r < 0)
		goto fail;
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
	/* pinned maps and links live on; unpinned program references go with the skeleton */
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
	r = bpf_map__delete_elem(b->skel->maps.tank_pol_v1, &slot, sizeof(slot), 0);
	if (r < 0 && r != -ENOENT)
		return npb_fail(d, r, "removing the pod policy");
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
	if (!name || strlen(name) >= sizeof(want.name) || !pin_component_ok(uid, sizeof(want.uid)))
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

static __u32 prog_id(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0 ? info.id : 0;
}

/* Keep a pinned tcx link if it is attached to this ifindex at this hook (moved to prog_fd if
 * it runs another program, e.g. the one of an older tankd); else unpin it. */
static bool tcx_pin_current(const char *path, int ifindex, enum bpf_attach_type type, int prog_fd)
{
	struct bpf_link_info info = {};
	struct {
		__u32 ifindex;
		__u32 attach_type;
	} tcx; /* the kernel's info.tcx, at the start of the union */
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);
	bool keep = false;

	if (fd < 0)
		return false;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == NP_BPF_LINK_TYPE_TCX) {
		memcpy(&tcx, (const char *)&info + offsetof(struct bpf_link_info, raw_tracepoint),
		       sizeof(tcx));
		/* a link whose device went away reports ifindex 0 */
		keep = tcx.ifindex == (__u32)ifindex && tcx.attach_type == (__u32)type;
		if (keep && info.prog_id != prog_id(prog_fd))
			keep = bpf_link_update(fd, prog_fd, NULL) == 0;
	}
	if (!keep) {
		/* detach now: the last reference going with the pin would detach only later, and
		 * until then attaching the same program again fails with EEXIST */
		bpf_link_detach(fd);
		unlink(path);
	}
	close(fd);
	return keep;
}

static int tcx_attach(const char *path, int prog_fd, enum bpf_attach_type type,
		      int ifindex, struct diag *d)
{
	int fd, r;

	if (tcx_pin_current(path, ifindex, type, prog_fd))
		return 0;
	fd = bpf_link_create(prog_fd, ifindex, type, NULL);
	if (fd < 0)
		return npb_fail(d, fd, "attaching tcx");
	r = bpf_obj_pin(fd, path);
	close(fd); /* without the pin this detaches again */
	if (r < 0)
		return diag_fail_at(d, r, path, "pinning the tcx link: %s", strerror(-r));
	return 0;
}

static int clsact_attach(struct np_bpf *b, int ifindex, struct diag *d)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int r;

	r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST)
		return npb_fail(d, r, "creating the clsact qdisc");
	for (int i = 0; i < 2; i++) {
		struct bpf_program *p = i == 0 ? b->skel->progs.tank_host_in :
						 b->skel->progs.tank_host_eg;
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = NP_TC_HANDLE, .priority = NP_TC_PRIO,
				    .prog_fd = bpf_program__fd(p), .flags = BPF_TC_F_REPLACE);

		hook.attach_point = i == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		r = bpf_tc_attach(&hook, &o);
		if (r < 0)
			return npb_fail(d, r, "attaching the tc filter");
	}
	return 0;
}

/*
 * The NIC's index in the pod: the one its name already has (entries of the same name under
 * another ifindex are of a deleted link: removed), else the lowest free one.
 */
static int nic_index(struct np_bpf *b, uint32_t slot, const char *nic, int ifindex,
		     uint32_t *ret, struct diag *d)
{
	struct bpf_map *map = b->skel->maps.tank_ifs_v2;
	__u32 key, next, stale[TANK_NICS_MAX];
	unsigned int used = 0, n_stale = 0;
	int found = -1, g;
	struct tank_if_info ifi;

	g = bpf_map__get_next_key(map, NULL, &next, sizeof(next));
	while (g == 0) {
		key = next;
		if (bpf_map__lookup_elem(map, &key, sizeof(key), &ifi, sizeof(ifi), 0) == 0 &&
		    ifi.slot == slot && ifi.nic < TANK_NICS_MAX) {
			bool same = strncmp(ifi.name, nic, sizeof(ifi.name)) == 0;

			if (same)
				found = (int)ifi.nic;
			if (same && key != (__u32)ifindex && n_stale < ARRAY_SIZE(stale))
				stale[n_stale++] = key;
			else
				used |= 1u << ifi.nic;
		}
		g = bpf_map__get_next_key(map, &key, &next, sizeof(next));
	}
	for (unsigned int i = 0; i < n_stale; i++)
		bpf_map__delete_elem(map, &stale[i], sizeof(stale[i]), 0);
	if (found < 0) {
		for (unsigned int i = 0; i < TANK_NICS_MAX && found < 0; i++)
			if (!(used & (1u << i)))
				found = (int)i;
	}
	if (found < 0)
		return diag_fail(d, -ENOSPC, "pod slot %u: more than %d NICs", slot, TANK_NICS_MAX);
	*ret = (uint32_t)found;
	return 0;
}

int np_bpf_veth_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
		       int host_ifindex, struct diag *d)
{
	struct tank_if_info ifi = { .slot = slot, .host_ingress_dir = TANK_DIR_EGRESS };
	__u32 key = (__u32)host_ifindex;
	char dir[PATH_MAX], in[PATH_MAX], eg[PATH_MAX];
	int r;

	npb_libbpf_reset();

	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	if (!pin_component_ok(uid, TANK_POD_UID_MAX) || !pin_component_ok(nic, 16) ||
	    host_ifindex <= 0)
		return diag_fail(d, -EINVAL, "BPF attach: invalid uid, nic or ifindex");
	if (pin_path(dir, sizeof(dir), "%s/pods/%s", b->pin_dir, uid) < 0 ||
	    pin_path(in, sizeof(in), "%s/%s_in", dir, nic) < 0 ||
	    pin_path(eg, sizeof(eg), "%s/%s_eg", dir, nic) < 0)
		return diag_fail(d, -ENAMETOOLONG, "BPF attach: pin path too long");

	/* identity first, so the first packet through the programs is counted */
	r = nic_index(b, slot, nic, host_ifindex, &ifi.nic, d);
	if (r < 0)
		return r;
	snprintf(ifi.name, sizeof(ifi.name), "%s", nic);
	r = bpf_map__update_elem(b->skel->maps.tank_ifs_v2, &key, sizeof(key), &ifi, sizeof(ifi),
				 0);
	if (r < 0)
		return npb_fail(d, r, "recording the interface");

	if (!b->tcx) {
		r = clsact_attach(b, host_ifindex, d);
	} else {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			return diag_fail_at(d, r, dir, "creating the pod pin directory: %s",
					    strerror(-r));
		}
		r = tcx_attach(in, bpf_program__fd(b->skel->progs.tank_host_in),
			       NP_BPF_TCX_INGRESS, host_ifindex, d);
		if (r >= 0)
			r = tcx_attach(eg, bpf_program__fd(b->skel->progs.tank_host_eg),
				       NP_BPF_TCX_EGRESS, host_ifindex, d);
	}
	if (r < 0)
		diag_prefix(d, "pod %s nic %s (ifindex %d): ", uid, nic, host_ifindex);
	return r;
}

/* Unpin everything under pods/<uid> (each link detaches with its last reference), rmdir it. */
static int pod_dir_remove(struct np_bpf *b, const char *uid, struct diag *d)
{
	char dir[PATH_MAX], pin[PATH_MAX];
	struct dirent *de;
	DIR *dp;
	int r = 0;

	if (pin_path(dir, sizeof(dir), "%s/pods/%s", b->pin_dir, uid) < 0)
		return diag_fail(d, -ENAMETOOLONG, "BPF: pin path too long");
	dp = opendir(dir);
	if (!dp) {
		r = -errno;
		return r == -ENOENT ? 0 : diag_fail_at(d, r, dir, "opening: %s", strerror(-r));
	}
	while ((de = readdir(dp))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* detach at once: unpinning alone lets go of a link only asynchronously */
		if (pin_path(pin, sizeof(pin), "%s/%s", dir, de->d_name) == 0) {
			int fd = bpf_obj_get(pin);

			if (fd >= 0) {
				bpf_link_detach(fd);
				close(fd);
			}
		}
		if (unlinkat(dirfd(dp), de->d_name, 0) < 0 && errno != ENOENT && r == 0) {
			r = -errno;
			diag_fail_at(d, r, dir, "unpinning %s: %s", de->d_name, strerror(-r));
		}
	}
	closedir(dp);
	if (r == 0 && rmdir(dir) < 0 && errno != ENOENT) {
		r = -errno;
		diag_fail_at(d, r, dir, "removing: %s", strerror(-r));
	}
	return r;
}

static void clsact_detach(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = NP_TC_HANDLE, .priority = NP_TC_PRIO);

	/* a gone device or filter is fine: there is nothing left to detach */
	hook.attach_point = BPF_TC_INGRESS;
	bpf_tc_detach(&hook, &o);
	hook.attach_point = BPF_TC_EGRESS;
	bpf_tc_detach(&hook, &o);
}

/* Sweep tank_ifs_v2 for entries of this slot the caller did not list (deleting while walking
 * would restart the walk, so in rounds of collected keys). */
static int ifs_sweep(struct np_bpf *b, uint32_t slot, struct diag *d)
{
	struct bpf_map *map = b->skel->maps.tank_ifs_v2;
	__u32 keys[64], key, next;
	struct tank_if_info ifi;
	bool more = true;
	int r = 0;

	while (more) {
		size_t nk = 0;
		int g = bpf_map__get_next_key(map, NULL, &next, sizeof(next));

		more = false;
		while (g == 0) {
			key = next;
			if (bpf_map__lookup_elem(map, &key, sizeof(key), &ifi, sizeof(ifi), 0) ==
				    0 &&
			    ifi.slot == slot) {
				if (nk == ARRAY_SIZE(keys)) {
					more = true;
					break;
				}
				keys[nk++] = key;
			}
			g = bpf_map__get_next_key(map, &key, &next, sizeof(next));
		}
		for (size_t i = 0; i < nk; i++) {
			int e = bpf_map__delete_elem(map, &keys[i], sizeof(keys[i]), 0);

			if (e < 0 && e != -ENOENT) {
				more = false; /* do not spin on an entry that will not go */
				if (r == 0)
					r = npb_fail(d, e, "removing an interface entry");
			}
		}
	}
	return r;
}

int np_bpf_pod_unregister(struct np_bpf *b, const char *uid, uint32_t slot,
			  const int *host_ifindexes, size_t n, struct diag *d)
{
	struct bpf_map *ifs = b->skel->maps.tank_ifs_v2;
	struct tank_pod_info none = {}, cur = {};
	bool ours;
	int r, first = 0;

	npb_libbpf_reset();

	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	if (!pin_component_ok(uid, TANK_POD_UID_MAX))
		return diag_fail(d, -EINVAL, "BPF unregister: invalid uid");
	if (n && !host_ifindexes)
		return diag_fail(d, -EINVAL, "BPF unregister: no ifindex list");

	/* the slot still this pod's: keep its totals, then no policy, flows stale */
	ours = bpf_map__lookup_elem(b->skel->maps.tank_pods_v1, &slot, sizeof(slot), &cur,
				    sizeof(cur), 0) == 0 &&
	       strncmp(cur.uid, uid, sizeof(cur.uid)) == 0;
	if (ours) {
		struct tank_pod_cfg cfg;

		r = npb_tomb_put(b, slot, &cur, d);
		if (r < 0 && !first)
			first = r;
		r = bpf_map__delete_elem(b->skel->maps.tank_pol_v1, &slot, sizeof(slot), 0);
		if (r < 0 && r != -ENOENT && !first)
			first = npb_fail(d, r, "removing the pod policy");
		r = npb_cfg_get(b, slot, &cfg, d);
		if (r >= 0) {
			cfg.epoch++;
			cfg.gen++;
			r = npb_cfg_put(b, slot, &cfg, d);
		}
		if (r < 0 && !first)
			first = r;
	}

	/* tcx: unpinning drops the last reference, the links detach */
	r = pod_dir_remove(b, uid, d);
	if (r < 0 && !first)
		first = r;
	/* clsact filters (whatever the current mode) and entries of interfaces still ours; an
	 * ifindex now recorded for another slot was reused by another pod: leave it alone */
	for (size_t i = 0; i < n; i++) {
		__u32 key = (__u32)host_ifindexes[i];
		struct tank_if_info ifi;

		if (bpf_map__lookup_elem(ifs, &key, sizeof(key), &ifi, sizeof(ifi), 0) < 0 ||
		    ifi.slot != slot)
			continue;
		clsact_detach(host_ifindexes[i]);
		bpf_map__delete_elem(ifs, &key, sizeof(key), 0);
	}
	r = ifs_sweep(b, slot, d);
	if (r < 0 && !first)
		first = r;
	/* an array entry cannot be deleted: an empty name and uid mark the slot free */
	r = bpf_map__update_elem(b->skel->maps.tank_pods_v1, &slot, sizeof(slot), &none,
				 sizeof(none), 0);
	if (r < 0 && !first)
		first = npb_fail(d, r, "freeing the pod slot");
	if (first < 0)
		diag_prefix(d, "pod %s: ", uid);
	return first;
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

/* ---- older layouts and older programs -------------------------------------------------------- */

/* Call cb for every link pinned under pods/<uid>/<nic>_{in,eg}. */
static void pins_walk(struct np_bpf *b,
		      void (*cb)(struct np_bpf *, int fd, const char *nic, bool in, void *),
		      void *data)
{
	char pods[PATH_MAX], dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de, *le;
	DIR *dp, *lp;

	if (pin_path(pods, sizeof(pods), "%s/pods", b->pin_dir) < 0 || !(dp = opendir(pods)))
		return;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.' ||
		    pin_path(dir, sizeof(dir), "%s/%s", pods, de->d_name) < 0 ||
		    !(lp = opendir(dir)))
			continue;
		while ((le = readdir(lp))) {
			size_t len = strlen(le->d_name);
			char nic[TANK_NIC_NAME_MAX];
			bool in;
			int fd;

			if (len < 4 || len - 3 >= sizeof(nic) ||
			    (strcmp(le->d_name + len - 3, "_in") != 0 &&
			     strcmp(le->d_name + len - 3, "_eg") != 0))
				continue;
			in = le->d_name[len - 2] == 'i';
			memcpy(nic, le->d_name, len - 3);
			nic[len - 3] = '\0';
			if (pin_path(path, sizeof(path), "%s/%s", dir, le->d_name) < 0)
				continue;
			fd = bpf_obj_get(path);
			if (fd < 0)
				continue;
			cb(b, fd, nic, in, data);
			close(fd);
		}
		closedir(lp);
	}
	closedir(dp);
}

static bool tcx_link_info(int fd, struct bpf_link_info *info, __u32 *ret_ifindex)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len) < 0 || info->type != NP_BPF_LINK_TYPE_TCX)
		return false;
	memcpy(ret_ifindex, (const char *)info + offsetof(struct bpf_link_info, raw_tracepoint),
	       sizeof(*ret_ifindex));
	return true;
}

/* A pinned tcx link running another program (an older tankd's) moves to ours, atomically. */
static void relink_one(struct np_bpf *b, int fd, const char *nic _unused_, bool in,
		       void *data _unused_)
{
	int prog_fd =
		bpf_program__fd(in ? b->skel->progs.tank_host_in : b->skel->progs.tank_host_eg);
	struct bpf_link_info info;
	__u32 ifindex;

	if (tcx_link_info(fd, &info, &ifindex) && ifindex && info.prog_id != prog_id(prog_fd) &&
	    bpf_link_update(fd, prog_fd, NULL) < 0)
		log_debug("BPF: moving tcx link %u to the new program failed", info.id);
}

/* Every attachment runs the programs just loaded: tcx links by bpf_link_update, our clsact
 * filters (found by handle and priority) replaced in place. Nothing is detached. */
static void relink_all(struct np_bpf *b)
{
	struct bpf_map *ifs = b->skel->maps.tank_ifs_v2;
	__u32 key, next;
	int g;

	pins_walk(b, relink_one, NULL);
	g = bpf_map__get_next_key(ifs, NULL, &next, sizeof(next));
	while (g == 0) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)next,
				    .attach_point = BPF_TC_INGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = NP_TC_HANDLE, .priority = NP_TC_PRIO);

		key = next;
		if (bpf_tc_query(&hook, &q) == 0 &&
		    q.prog_id != prog_id(bpf_program__fd(b->skel->progs.tank_host_in)))
			clsact_attach(b, (int)key, NULL);
		g = bpf_map__get_next_key(ifs, &key, &next, sizeof(next));
	}
}

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

	if (in && nn->n < ARRAY_SIZE(nn->e) && tcx_link_info(fd, &info, &ifindex) && ifindex) {
		nn->e[nn->n].ifindex = ifindex;
		snprintf(nn->e[nn->n].nic, sizeof(nn->e[nn->n].nic), "%s", nic);
		nn->n++;
	}
}

/* tank_ifs_v1 ({slot, dir} per ifindex) into tank_ifs_v2: the NIC's name from its link pin,
 * indexes in order of appearance per slot. Entries already in v2 win. */
static int migrate_ifs(struct np_bpf *b, int old_fd, struct diag *d)
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
	pins_walk(b, nic_name_one, nn);
	g = bpf_map_get_next_key(old_fd, NULL, &next);
	while (g == 0) {
		struct tank_if_info ifi = {};

		key = next;
		if (bpf_map_lookup_elem(old_fd, &key, &old) == 0 && old.slot &&
		    old.slot < TANK_MAX_PODS && next_nic[old.slot] < TANK_NICS_MAX) {
			ifi.slot = old.slot;
			ifi.host_ingress_dir = old.dir ? TANK_DIR_EGRESS : TANK_DIR_INGRESS;
			ifi.nic = next_nic[old.slot]++;
			for (size_t i = 0; i < nn->n; i++)
				if (nn->e[i].ifindex == key)
					memcpy(ifi.name, nn->e[i].nic, sizeof(ifi.name));
			r = bpf_map__update_elem(b->skel->maps.tank_ifs_v2, &key, sizeof(key), &ifi,
						 sizeof(ifi), BPF_NOEXIST);
			if (r < 0 && r != -EEXIST)
				return npb_fail(d, r, "migrating " TANK_MAP_IFS_V1);
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

static int migrate_v1(struct np_bpf *b, struct diag *d)
{
	char ifs_path[PATH_MAX], stats_path[PATH_MAX];
	_cleanup_close_ int ifs_fd = -1, stats_fd = -1;
	int r;

	if (pin_path(ifs_path, sizeof(ifs_path), "%s/" TANK_MAP_IFS_V1, b->pin_dir) < 0 ||
	    pin_path(stats_path, sizeof(stats_path), "%s/" TANK_MAP_STATS_V1, b->pin_dir) < 0)
		return diag_fail(d, -ENAMETOOLONG, "BPF: pin path too long");
	ifs_fd = bpf_obj_get(ifs_path);
	stats_fd = bpf_obj_get(stats_path);
	if (ifs_fd >= 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(ifs_fd, &info, &len) < 0 ||
		    info.type != BPF_MAP_TYPE_HASH || info.key_size != 4 || info.value_size != 8)
			return diag_fail_at(d, -EINVAL, ifs_path, "not a v1 interface map");
		r = migrate_ifs(b, ifs_fd, d);
		if (r < 0)
			return r;
	}
	relink_all(b);
	/* the old programs no longer run: their counters are final */
	if (stats_fd >= 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(stats_fd, &info, &len) < 0 ||
		    info.type != BPF_MAP_TYPE_PERCPU_ARRAY ||
		    info.value_size != sizeof(struct tank_pod_stats) || info.key_size != 4)
			return diag_fail_at(d, -EINVAL, stats_path, "not a v1 stats map");
		r = migrate_stats(b, stats_fd, d);
		if (r < 0)
			return r;
		if (unlink(stats_path) < 0 && errno != ENOENT)
			return diag_fail_at(d, -errno, stats_path, "unpinning: %s",
					    strerror(errno));
	}
	if (ifs_fd >= 0 && unlink(ifs_path) < 0 && errno != ENOENT)
		return diag_fail_at(d, -errno, ifs_path, "unpinning: %s", strerror(errno));
	return 0;
}
