/* bpf_attach.c - per-pod attachments: tcx (or clsact) on veth and macvlan NICs, netkit links,
 * cgroup_skb. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include "netplane/bpf_int.h"

/* clsact fallback: our filter's fixed handle ("tank") and priority on both hooks */
#define NP_TC_HANDLE 0x74616e6bu
#define NP_TC_PRIO 0x7a

#define NP_BPF_LINK_TYPE_CGROUP 3u

__u32 npb_prog_id(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0 ? info.id : 0;
}

/* ---- tcx and netkit links (both bpf_mprog hooks of a device) -------------------------------- */

bool npb_dev_link_info(int fd, struct bpf_link_info *info, __u32 *ret_ifindex, __u32 *ret_type)
{
	const char *u = (const char *)info + offsetof(struct bpf_link_info, raw_tracepoint);
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len) < 0 ||
	    (info->type != NP_BPF_LINK_TYPE_TCX && info->type != NP_BPF_LINK_TYPE_NETKIT))
		return false;
	/* the kernel's info.tcx and info.netkit: {ifindex, attach_type}, the union's start */
	memcpy(ret_ifindex, u, sizeof(*ret_ifindex));
	if (ret_type)
		memcpy(ret_type, u + sizeof(__u32), sizeof(*ret_type));
	return true;
}

/*
 * The programs (and, when link_ids is not NULL, the links) at a tcx or netkit hook of ifindex in
 * the calling thread's netns: BPF_PROG_QUERY. Its link_ids (kernel 6.6, with tcx) are neither in
 * Debian 12's uapi header nor in libbpf 1.1, hence the attr written out here (the kernel's
 * layout of attr.query). *count: room in, entries out.
 */
int npb_hook_query(int ifindex, enum bpf_attach_type type, __u32 *prog_ids, __u32 *link_ids,
		   __u32 *count)
{
	struct {
		__u32 target_ifindex;
		__u32 attach_type;
		__u32 query_flags;
		__u32 attach_flags;
		__aligned_u64 prog_ids;
		__u32 count;
		__u32 pad;
		__aligned_u64 prog_attach_flags;
		__aligned_u64 link_ids;
		__aligned_u64 link_attach_flags;
		__u64 revision;
	} q = {
		.target_ifindex = (__u32)ifindex,
		.attach_type = type,
		.prog_ids = (__u64)(uintptr_t)prog_ids,
		.count = *count,
		.link_ids = (__u64)(uintptr_t)link_ids,
	};

	if (syscall(__NR_bpf, BPF_PROG_QUERY, &q, sizeof(q)) < 0)
		return -errno;
	*count = q.count < *count ? q.count : *count;
	return 0;
}

/* Is link_id one of the links at this hook of ifindex in the calling thread's netns? A tcx
 * (or netkit) link's info has an ifindex but no netns, and the same ifindex exists in every
 * pod netns. */
static bool hook_link_is_here(__u32 link_id, int ifindex, enum bpf_attach_type type)
{
	__u32 prog_ids[64], link_ids[64], n = ARRAY_SIZE(prog_ids);

	if (npb_hook_query(ifindex, type, prog_ids, link_ids, &n) < 0)
		return false;
	for (__u32 i = 0; i < n; i++)
		if (link_ids[i] == link_id)
			return true;
	return false;
}

/* Keep a pinned tcx or netkit link if it is attached at this hook of ifindex in the calling
 * thread's netns (moved to prog_fd if it runs another program, e.g. the one of an older
 * tankd); else detach and unpin it. */
static bool hook_pin_current(const char *path, int ifindex, enum bpf_attach_type type, int prog_fd)
{
	struct bpf_link_info info;
	_cleanup_close_ int fd = bpf_obj_get(path);
	__u32 at;
	bool keep = false;

	if (fd < 0)
		return false;
	if (npb_dev_link_info(fd, &info, &at, NULL)) {
		/* a link whose device went away reports ifindex 0 */
		keep = at == (__u32)ifindex && hook_link_is_here(info.id, ifindex, type);
		if (keep && info.prog_id != npb_prog_id(prog_fd))
			keep = bpf_link_update(fd, prog_fd, NULL) == 0;
	}
	if (!keep) {
		/* detach now: the last reference going with the pin would detach only later, and
		 * until then attaching the same program again fails with EEXIST */
		bpf_link_detach(fd);
		unlink(path);
	}
	return keep;
}

static bool netkit_hook(__u32 type)
{
	return type == NP_BPF_NETKIT_PEER || type == NP_BPF_NETKIT_PRIMARY;
}

static int hook_attach(const char *path, int prog_fd, enum bpf_attach_type type, int ifindex,
		       struct diag *d)
{
	int fd, r;

	if (hook_pin_current(path, ifindex, type, prog_fd))
		return 0;
	fd = bpf_link_create(prog_fd, ifindex, type, NULL);
	if (fd < 0)
		return npb_fail(d, fd, netkit_hook(type) ? "attaching the netkit link" : "attaching tcx");
	r = bpf_obj_pin(fd, path);
	close(fd); /* without the pin this detaches again */
	if (r < 0)
		return diag_fail_at(d, r, path, "pinning the link: %s", strerror(-r));
	return 0;
}

/* Read-only twin of hook_pin_current: the pin is a live link at this hook running prog_fd. */
static bool hook_pin_ok(const char *path, int ifindex, enum bpf_attach_type type, int prog_fd)
{
	struct bpf_link_info info;
	_cleanup_close_ int fd = bpf_obj_get(path);
	__u32 at;

	return fd >= 0 && npb_dev_link_info(fd, &info, &at, NULL) && at == (__u32)ifindex &&
	       hook_link_is_here(info.id, ifindex, type) && info.prog_id == npb_prog_id(prog_fd);
}

/* The tc program of a hook: tank_host_* for a device of tankd's netns (host), else tank_pod_*. */
static int tc_prog_fd(struct np_bpf *b, bool host, bool in)
{
	struct bpf_program *p;

	if (host)
		p = in ? b->skel->progs.tank_host_in : b->skel->progs.tank_host_eg;
	else
		p = in ? b->skel->progs.tank_pod_in : b->skel->progs.tank_pod_eg;
	return bpf_program__fd(p);
}

/*
 * The program of a netkit link. BPF_NETKIT_PEER programs run on what the pod sends, with the
 * primary (tankd's netns) as skb->dev: tank_host_in, as at a veth host side's tc ingress.
 * BPF_NETKIT_PRIMARY programs run on what the host sends the pod, with skb->dev already set
 * to the peer (the pod's netns): tank_pod_in, under the peer's own entry, whose ingress hook
 * this is in effect.
 */
static int netkit_prog_fd(struct np_bpf *b, enum bpf_attach_type type)
{
	return tc_prog_fd(b, type == NP_BPF_NETKIT_PEER, true);
}

/* clsact filters on ifindex of the calling thread's netns (libbpf talks netlink there). */
static int clsact_attach(struct np_bpf *b, int ifindex, bool host, struct diag *d)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int r;

	r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST)
		return npb_fail(d, r, "creating the clsact qdisc");
	for (int i = 0; i < 2; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = NP_TC_HANDLE, .priority = NP_TC_PRIO,
				    .prog_fd = tc_prog_fd(b, host, i == 0),
				    .flags = BPF_TC_F_REPLACE);

		hook.attach_point = i == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		r = bpf_tc_attach(&hook, &o);
		if (r < 0)
			return npb_fail(d, r, "attaching the tc filter");
	}
	return 0;
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

/* ---- NICs ------------------------------------------------------------------------------------ */

static bool if_key_eq(const struct tank_if_key *a, const struct tank_if_key *b)
{
	return a->netns == b->netns && a->ifindex == b->ifindex;
}

/* Is key one of the n in want? */
static bool if_key_in(const struct tank_if_key *key, const struct tank_if_key *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (if_key_eq(key, &want[i]))
			return true;
	return false;
}

/*
 * The NIC's index in the pod: the one its name already has (entries of the same name under
 * other keys than the n_want in want are of a deleted or moved link: removed), else the lowest
 * free one. (A netkit NIC has two entries: its primary's and its peer's.)
 */
static int nic_index(struct np_bpf *b, uint32_t slot, const char *nic,
		     const struct tank_if_key *want, size_t n_want, uint32_t *ret, struct diag *d)
{
	struct bpf_map *map = b->skel->maps.tank_ifs_v3;
	struct tank_if_key key, next, stale[TANK_NICS_MAX];
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
			if (same && !if_key_in(&key, want, n_want) && n_stale < ARRAY_SIZE(stale))
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

struct nic_attach {
	struct np_bpf *b;
	const char *uid, *nic;
	uint32_t slot;
	int ifindex;
	enum tank_dir ingress_dir;
	bool in_pod; /* the interface is in a pod netns: the caller is a thread inside it */
	struct diag *d;
};

/*
 * Record a NIC's interfaces (n entries: keys[i] with ingress direction dirs[i]; one, or two for
 * netkit) under one NIC index of the slot: identity first, so the first packet through the
 * programs is counted.
 */
static int nic_record(struct np_bpf *b, uint32_t slot, const char *nic,
		      const struct tank_if_key *keys, const enum tank_dir *dirs, size_t n,
		      struct diag *d)
{
	struct tank_if_info ifi = { .slot = slot };
	int r = nic_index(b, slot, nic, keys, n, &ifi.nic, d);

	snprintf(ifi.name, sizeof(ifi.name), "%s", nic);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		ifi.ingress_dir = dirs[i];
		r = bpf_map__update_elem(b->skel->maps.tank_ifs_v3, &keys[i], sizeof(keys[i]), &ifi,
					 sizeof(ifi), 0);
		if (r < 0)
			return npb_fail(d, r, "recording the interface");
	}
	return r;
}

/* The pin paths of a NIC's two links, pods/<uid>/<nic>_{in,eg} (dir: pods/<uid>, made). */
static int nic_pins(struct np_bpf *b, const char *uid, const char *nic, char dir[PATH_MAX],
		    char in[PATH_MAX], char eg[PATH_MAX], bool make, struct diag *d)
{
	if (npb_pin_path(dir, PATH_MAX, "%s/pods/%s", b->pin_dir, uid) < 0 ||
	    npb_pin_path(in, PATH_MAX, "%s/%s_in", dir, nic) < 0 ||
	    npb_pin_path(eg, PATH_MAX, "%s/%s_eg", dir, nic) < 0)
		return diag_fail(d, -ENAMETOOLONG, "BPF attach: pin path too long");
	if (make && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int r = -errno;

		return diag_fail_at(d, r, dir, "creating the pod pin directory: %s", strerror(-r));
	}
	return 0;
}

/* Record the interface, then hook it: in the calling thread's netns, where a->ifindex is. */
static int nic_attach(void *arg)
{
	struct nic_attach *a = arg;
	struct np_bpf *b = a->b;
	struct tank_if_key key = { .ifindex = (__u32)a->ifindex };
	char dir[PATH_MAX], in[PATH_MAX], eg[PATH_MAX], name[IF_NAMESIZE];
	int r;

	npb_libbpf_reset(); /* per thread */
	r = nic_pins(b, a->uid, a->nic, dir, in, eg, false, a->d);
	if (r < 0)
		return r;
	if (!a->in_pod) {
		key.netns = b->netns;
	} else {
		uint64_t cookie;

		r = npb_netns_cookie_here(&cookie);
		if (r < 0)
			return diag_fail(a->d, r, "reading the pod netns cookie: %s", strerror(-r));
		key.netns = cookie;
		if (!if_indextoname((unsigned int)a->ifindex, name))
			return diag_fail(a->d, -ENODEV, "no interface %d in the pod netns",
					 a->ifindex);
	}

	r = nic_record(b, a->slot, a->nic, &key, &a->ingress_dir, 1, a->d);
	if (r < 0)
		return r;
	if (!b->tcx)
		return clsact_attach(b, a->ifindex, !a->in_pod, a->d);
	r = nic_pins(b, a->uid, a->nic, dir, in, eg, true, a->d);
	if (r < 0)
		return r;
	r = hook_attach(in, tc_prog_fd(b, !a->in_pod, true), NP_BPF_TCX_INGRESS, a->ifindex,
			a->d);
	if (r >= 0)
		r = hook_attach(eg, tc_prog_fd(b, !a->in_pod, false), NP_BPF_TCX_EGRESS,
				a->ifindex, a->d);
	return r;
}

/* A pod uid and NIC name fit for pin paths, and an ifindex; what: "attach", "check". */
static int nic_names_check(const char *uid, const char *nic, int ifindex, const char *what,
			   struct diag *d)
{
	if (!npb_pin_component_ok(uid, TANK_POD_UID_MAX) ||
	    !npb_pin_component_ok(nic, TANK_NIC_NAME_MAX) || ifindex <= 0)
		return diag_fail(d, -EINVAL, "BPF %s: invalid uid, nic or ifindex", what);
	return 0;
}

static int nic_args_check(uint32_t slot, const char *uid, const char *nic, int ifindex,
			  struct diag *d)
{
	int r = npb_slot_check(slot, d);

	return r < 0 ? r : nic_names_check(uid, nic, ifindex, "attach", d);
}

int np_bpf_veth_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
		       int host_ifindex, struct diag *d)
{
	struct nic_attach a = { .b = b, .uid = uid, .nic = nic, .slot = slot,
				.ifindex = host_ifindex, .ingress_dir = TANK_DIR_EGRESS, .d = d };
	int r;

	npb_libbpf_reset();
	r = nic_args_check(slot, uid, nic, host_ifindex, d);
	if (r < 0)
		return r;
	r = nic_attach(&a);
	npb_ifh_sync(b);
	if (r < 0)
		diag_prefix(d, "pod %s nic %s (ifindex %d): ", uid, nic, host_ifindex);
	return r;
}

int np_bpf_macvlan_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
			  int pod_netns_fd, int pod_ifindex, struct diag *d)
{
	struct nic_attach a = { .b = b, .uid = uid, .nic = nic, .slot = slot,
				.ifindex = pod_ifindex, .ingress_dir = TANK_DIR_INGRESS,
				.in_pod = true, .d = d };
	int r;

	npb_libbpf_reset();
	r = nic_args_check(slot, uid, nic, pod_ifindex, d);
	if (r < 0)
		return r;
	if (pod_netns_fd < 0)
		return diag_fail(d, -EBADF, "BPF attach: no pod netns");
	/* tcx links (and clsact filters) go on an ifindex of the caller's netns: a helper thread
	 * enters the pod's, tankd's own threads never move */
	r = npb_netns_run(pod_netns_fd, nic_attach, &a);
	npb_ifh_sync(b); /* nic_index may have dropped an entry of tankd's netns */
	if (r < 0 && d && !d->err)
		diag_fail(d, r, "entering the pod netns: %s", strerror(-r));
	if (r < 0)
		diag_prefix(d, "pod %s nic %s (pod ifindex %d): ", uid, nic, pod_ifindex);
	return r;
}

int np_bpf_netkit_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
			 int host_ifindex, int pod_netns_fd, int pod_ifindex, struct diag *d)
{
	/* the primary as a veth's host side, the peer as a NIC inside the pod (netkit_prog_fd) */
	struct tank_if_key keys[2] = { { .netns = b->netns, .ifindex = (__u32)host_ifindex },
				       { .ifindex = (__u32)pod_ifindex } };
	const enum tank_dir dirs[2] = { TANK_DIR_EGRESS, TANK_DIR_INGRESS };
	char dir[PATH_MAX], in[PATH_MAX], eg[PATH_MAX];
	uint64_t cookie = 0;
	int r;

	npb_libbpf_reset();
	r = nic_args_check(slot, uid, nic, host_ifindex, d);
	if (r < 0)
		return r;
	if (pod_netns_fd < 0 || pod_ifindex <= 0)
		return diag_fail(d, -EINVAL, "BPF attach: netkit %s needs its pod netns and peer",
				 nic);
	r = np_bpf_netns_cookie(pod_netns_fd, &cookie, d);
	keys[1].netns = cookie;
	if (r >= 0)
		r = nic_record(b, slot, nic, keys, dirs, ARRAY_SIZE(keys), d);
	if (r >= 0)
		r = nic_pins(b, uid, nic, dir, in, eg, true, d);
	if (r >= 0)
		r = hook_attach(in, netkit_prog_fd(b, NP_BPF_NETKIT_PEER), NP_BPF_NETKIT_PEER,
				host_ifindex, d);
	if (r >= 0)
		r = hook_attach(eg, netkit_prog_fd(b, NP_BPF_NETKIT_PRIMARY), NP_BPF_NETKIT_PRIMARY,
				host_ifindex, d);
	npb_ifh_sync(b);
	if (r < 0)
		diag_prefix(d, "pod %s netkit nic %s (ifindex %d): ", uid, nic, host_ifindex);
	return r;
}

int np_bpf_netkit_check(struct np_bpf *b, const char *uid, const char *nic, int host_ifindex,
			struct diag *d)
{
	char dir[PATH_MAX], in[PATH_MAX], eg[PATH_MAX], name[IF_NAMESIZE];
	int r;

	r = nic_names_check(uid, nic, host_ifindex, "check", d);
	if (r < 0)
		return r;
	if (!if_indextoname((unsigned int)host_ifindex, name))
		return diag_fail(d, -ENODEV, "pod %s netkit nic %s: no interface %d", uid, nic,
				 host_ifindex);
	r = nic_pins(b, uid, nic, dir, in, eg, false, d);
	if (r < 0)
		return r;
	return hook_pin_ok(in, host_ifindex, NP_BPF_NETKIT_PEER,
			   netkit_prog_fd(b, NP_BPF_NETKIT_PEER)) &&
	       hook_pin_ok(eg, host_ifindex, NP_BPF_NETKIT_PRIMARY,
			   netkit_prog_fd(b, NP_BPF_NETKIT_PRIMARY));
}

struct nic_check {
	struct np_bpf *b;
	const char *uid, *nic;
	int ifindex;
	bool host; /* the interface is in tankd's netns */
};

/* 1: our programs are on both hooks of a->ifindex (calling thread's netns), 0: not. */
static int nic_check(void *arg)
{
	struct nic_check *a = arg;
	struct np_bpf *b = a->b;
	int in_fd = tc_prog_fd(b, a->host, true), eg_fd = tc_prog_fd(b, a->host, false);
	char dir[PATH_MAX], in[PATH_MAX], eg[PATH_MAX], name[IF_NAMESIZE];

	if (!if_indextoname((unsigned int)a->ifindex, name))
		return -ENODEV;
	if (!b->tcx) {
		for (int i = 0; i < 2; i++) {
			DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
					    .attach_point = i ? BPF_TC_EGRESS : BPF_TC_INGRESS);
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = NP_TC_HANDLE,
					    .priority = NP_TC_PRIO);

			if (bpf_tc_query(&hook, &q) < 0 || q.prog_id != npb_prog_id(i ? eg_fd : in_fd))
				return 0;
		}
		return 1;
	}
	if (nic_pins(b, a->uid, a->nic, dir, in, eg, false, NULL) < 0)
		return -ENAMETOOLONG;
	return hook_pin_ok(in, a->ifindex, NP_BPF_TCX_INGRESS, in_fd) &&
	       hook_pin_ok(eg, a->ifindex, NP_BPF_TCX_EGRESS, eg_fd);
}

int np_bpf_nic_check(struct np_bpf *b, const char *uid, const char *nic, int netns_fd,
		     int ifindex, struct diag *d)
{
	struct nic_check a = { .b = b, .uid = uid, .nic = nic, .ifindex = ifindex,
			       .host = netns_fd < 0 };
	int r;

	r = nic_names_check(uid, nic, ifindex, "check", d);
	if (r < 0)
		return r;
	r = netns_fd < 0 ? nic_check(&a) : npb_netns_run(netns_fd, nic_check, &a);
	if (r < 0)
		diag_fail(d, r, "pod %s nic %s (ifindex %d): %s", uid, nic, ifindex, strerror(-r));
	return r;
}

/* ---- cgroups --------------------------------------------------------------------------------- */

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The v2 cgroup id of a cgroup directory: its kernfs id, which name_to_handle_at returns as
 * the 8-byte handle (also its st_ino on 64-bit); bpf_skb_cgroup_id gives the same number. */
static int cgroup_id(int fd, uint64_t *ret)
{
	_Alignas(struct file_handle) unsigned char buf[sizeof(struct file_handle) + 8];
	struct file_handle *fh = (struct file_handle *)buf;
	int mount_id;

	fh->handle_bytes = sizeof(uint64_t);
	if (name_to_handle_at(fd, "", fh, &mount_id, AT_EMPTY_PATH) < 0)
		return -errno;
	if (fh->handle_bytes != sizeof(uint64_t))
		return -EINVAL;
	memcpy(ret, fh->f_handle, sizeof(*ret));
	return 0;
}

/* Depth of a cgroup below the v2 root (ino 1), as bpf_skb_ancestor_cgroup_id counts levels. */
static int cgroup_level(int fd, uint32_t *ret)
{
	_cleanup_close_ int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (cur < 0)
		return -errno;
	for (uint32_t level = 0; level < TANK_CG_LEVELS; level++) {
		struct statfs sf;
		struct stat st;
		int up;

		if (fstatfs(cur, &sf) < 0 || fstat(cur, &st) < 0)
			return -errno;
		if (sf.f_type != CGROUP2_SUPER_MAGIC)
			return -EXDEV; /* left the hierarchy without meeting its root */
		if (st.st_ino == 1) {
			*ret = level;
			return 0;
		}
		up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0)
			return -errno;
		close(cur);
		cur = up;
	}
	return -E2BIG;
}

void npb_cg_levels_update(struct np_bpf *b)
{
	struct bpf_map *m = b->skel->maps.tank_cgs_v1;
	__u64 key, next, levels = 0;
	struct tank_cg_info ci;
	int g;

	g = bpf_map__get_next_key(m, NULL, &next, sizeof(next));
	while (g == 0) {
		key = next;
		if (bpf_map__lookup_elem(m, &key, sizeof(key), &ci, sizeof(ci), 0) == 0 &&
		    ci.level < TANK_CG_LEVELS)
			levels |= 1ull << ci.level;
		g = bpf_map__get_next_key(m, &key, &next, sizeof(next));
	}
	b->cg->bss->tank_cg_levels = levels;
}

/* Remove a slot's cgroup entries except `keep` (0: all); in rounds, as for interfaces. */
static int cgs_sweep(struct np_bpf *b, uint32_t slot, uint64_t keep, struct diag *d)
{
	struct bpf_map *map = b->skel->maps.tank_cgs_v1;
	__u64 keys[64], key, next;
	struct tank_cg_info ci;
	bool more = true;
	int r = 0;

	while (more) {
		size_t nk = 0;
		int g = bpf_map__get_next_key(map, NULL, &next, sizeof(next));

		more = false;
		while (g == 0) {
			key = next;
			if (key != keep &&
			    bpf_map__lookup_elem(map, &key, sizeof(key), &ci, sizeof(ci), 0) == 0 &&
			    ci.slot == slot) {
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
				more = false;
				if (r == 0)
					r = npb_fail(d, e, "removing a cgroup entry");
			}
		}
	}
	return r;
}

/* Keep a pinned cgroup link if it still hooks this cgroup at this attach type (moved to prog_fd
 * if it runs another program); else detach and unpin it. */
static bool cg_pin_current(const char *path, uint64_t cgid, enum bpf_attach_type type,
			   int prog_fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	_cleanup_close_ int fd = bpf_obj_get(path);
	bool keep = false;

	if (fd < 0)
		return false;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	    info.type == NP_BPF_LINK_TYPE_CGROUP) {
		/* a link whose cgroup was removed reports cgroup id 0 */
		keep = info.cgroup.cgroup_id == cgid && info.cgroup.attach_type == (__u32)type;
		if (keep && info.prog_id != npb_prog_id(prog_fd))
			keep = bpf_link_update(fd, prog_fd, NULL) == 0;
	}
	if (!keep) {
		bpf_link_detach(fd);
		unlink(path);
	}
	return keep;
}

/* Read-only twin of cg_pin_current. */
static bool cg_pin_ok(const char *path, uint64_t cgid, enum bpf_attach_type type, int prog_fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	_cleanup_close_ int fd = bpf_obj_get(path);

	return fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	       info.type == NP_BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cgid &&
	       info.cgroup.attach_type == (__u32)type && info.prog_id == npb_prog_id(prog_fd);
}

static int cg_link(const char *path, int prog_fd, int cg_fd, uint64_t cgid,
		   enum bpf_attach_type type, struct diag *d)
{
	int fd, r;

	if (cg_pin_current(path, cgid, type, prog_fd))
		return 0;
	fd = bpf_link_create(prog_fd, cg_fd, type, NULL);
	if (fd < 0)
		return npb_fail(d, fd, "attaching to the cgroup");
	r = bpf_obj_pin(fd, path);
	close(fd);
	if (r < 0)
		return diag_fail_at(d, r, path, "pinning the cgroup link: %s", strerror(-r));
	return 0;
}

int np_bpf_cgroup_attach(struct np_bpf *b, const char *uid, uint32_t slot,
			 const char *cgroup_v2_dir, struct diag *d)
{
	struct tank_cg_info ci = { .slot = slot, .nic = 0, .name = NPB_CG_NIC_NAME };
	char dir[PATH_MAX], in[PATH_MAX], eg[PATH_MAX];
	_cleanup_close_ int fd = -1;
	struct statfs sf;
	uint64_t id;
	int r;

	npb_libbpf_reset();
	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	if (!npb_pin_component_ok(uid, TANK_POD_UID_MAX) || !cgroup_v2_dir)
		return diag_fail(d, -EINVAL, "BPF cgroup attach: invalid uid or cgroup");
	if (npb_pin_path(dir, sizeof(dir), "%s/pods/%s", b->pin_dir, uid) < 0 ||
	    npb_pin_path(in, sizeof(in), "%s/" NPB_PIN_CG_IN, dir) < 0 ||
	    npb_pin_path(eg, sizeof(eg), "%s/" NPB_PIN_CG_EG, dir) < 0)
		return diag_fail(d, -ENAMETOOLONG, "BPF cgroup attach: pin path too long");
	fd = open(cgroup_v2_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return diag_fail_at(d, r, cgroup_v2_dir, "opening the cgroup: %s", strerror(-r));
	}
	if (fstatfs(fd, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
		return diag_fail_at(d, -EINVAL, cgroup_v2_dir, "not a cgroup v2 directory");
	r = cgroup_id(fd, &id);
	if (r < 0)
		return diag_fail_at(d, r, cgroup_v2_dir, "reading the cgroup id: %s",
				    strerror(-r));
	r = cgroup_level(fd, &ci.level);
	if (r < 0 || ci.level == 0)
		return diag_fail_at(d, r < 0 ? r : -EINVAL, cgroup_v2_dir,
				    "cgroup depth below the v2 root: %s",
				    r < 0 ? strerror(-r) : "the root itself");

	/* identity first (entry, then the level the program looks at), then the links */
	r = bpf_map__update_elem(b->skel->maps.tank_cgs_v1, &id, sizeof(id), &ci, sizeof(ci), 0);
	if (r < 0)
		return npb_fail(d, r, "recording the cgroup");
	b->cg->bss->tank_cg_levels |= 1ull << ci.level;
	/* a pod has one cgroup: entries of an earlier one go */
	cgs_sweep(b, slot, id, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		return diag_fail_at(d, r, dir, "creating the pod pin directory: %s", strerror(-r));
	}
	r = cg_link(in, bpf_program__fd(b->cg->progs.tank_cg_in), fd, id,
		    BPF_CGROUP_INET_INGRESS, d);
	if (r >= 0)
		r = cg_link(eg, bpf_program__fd(b->cg->progs.tank_cg_eg), fd, id,
			    BPF_CGROUP_INET_EGRESS, d);
	if (r < 0)
		diag_prefix(d, "pod %s cgroup %s: ", uid, cgroup_v2_dir);
	return r;
}

int np_bpf_cgroup_check(struct np_bpf *b, const char *uid, const char *cgroup_v2_dir,
			struct diag *d)
{
	char in[PATH_MAX], eg[PATH_MAX];
	_cleanup_close_ int fd = -1;
	uint64_t id;
	int r;

	if (!npb_pin_component_ok(uid, TANK_POD_UID_MAX) || !cgroup_v2_dir)
		return diag_fail(d, -EINVAL, "BPF cgroup check: invalid uid or cgroup");
	if (npb_pin_path(in, sizeof(in), "%s/pods/%s/" NPB_PIN_CG_IN, b->pin_dir, uid) < 0 ||
	    npb_pin_path(eg, sizeof(eg), "%s/pods/%s/" NPB_PIN_CG_EG, b->pin_dir, uid) < 0)
		return diag_fail(d, -ENAMETOOLONG, "BPF cgroup check: pin path too long");
	fd = open(cgroup_v2_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return diag_fail_at(d, r, cgroup_v2_dir, "opening the cgroup: %s", strerror(-r));
	}
	r = cgroup_id(fd, &id);
	if (r < 0)
		return diag_fail_at(d, r, cgroup_v2_dir, "reading the cgroup id: %s",
				    strerror(-r));
	return cg_pin_ok(in, id, BPF_CGROUP_INET_INGRESS, bpf_program__fd(b->cg->progs.tank_cg_in)) &&
	       cg_pin_ok(eg, id, BPF_CGROUP_INET_EGRESS, bpf_program__fd(b->cg->progs.tank_cg_eg));
}

/* ---- unregister ------------------------------------------------------------------------------- */

/* Unpin everything under pods/<uid> (each link detached first), rmdir it. A link whose device
 * or cgroup is already gone (a pod netns that died first) is just unpinned. */
int npb_pod_dir_remove(struct np_bpf *b, const char *uid, struct diag *d)
{
	char dir[PATH_MAX], pin[PATH_MAX];
	struct dirent *de;
	DIR *dp;
	int r = 0;

	if (npb_pin_path(dir, sizeof(dir), "%s/pods/%s", b->pin_dir, uid) < 0)
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
		if (npb_pin_path(pin, sizeof(pin), "%s/%s", dir, de->d_name) == 0) {
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

/* ---- tank_ifh_v1 ------------------------------------------------------------------------------ */

union ifh_word {
	uint64_t word;
	struct tank_ifh h;
};

static int ifh_want(const void *key, const void *value, void *data)
{
	const struct tank_if_key *k = key;
	const struct tank_if_info *ifi = value;
	struct np_bpf *b = ((void **)data)[0];
	union ifh_word *want = ((void **)data)[1], v = { 0 };
	union ifh_word *w = &want[k->ifindex & (TANK_IFH_SIZE - 1)];

	if (k->netns != b->netns || !k->ifindex || !ifi->slot || ifi->slot >= TANK_MAX_PODS ||
	    ifi->nic >= TANK_NICS_MAX || ifi->ingress_dir >= TANK_DIR_MAX)
		return 0;
	v.h.ifindex = k->ifindex;
	v.h.slot = (__u16)ifi->slot;
	v.h.nic = (__u8)ifi->nic;
	v.h.ingress_dir = ifi->ingress_dir;
	if (!w->word || k->ifindex < w->h.ifindex)
		*w = v;
	return 0;
}

void npb_ifh_sync(struct np_bpf *b)
{
	_cleanup_free_ union ifh_word *want = calloc(TANK_IFH_SIZE, sizeof(*want));
	void *data[2] = { b, want };

	if (!b->ifh)
		return;
	/* when tank_ifs_v3 cannot be read every entry goes: the program then asks tank_ifs_v3 */
	if (want && npb_map_walk(b, b->skel->maps.tank_ifs_v3, ifh_want, data) < 0)
		memset(want, 0, TANK_IFH_SIZE * sizeof(*want));
	for (size_t i = 0; i < TANK_IFH_SIZE; i++) {
		uint64_t w = want ? want[i].word : 0;

		if (__atomic_load_n(&b->ifh[i], __ATOMIC_RELAXED) != w)
			__atomic_store_n(&b->ifh[i], w, __ATOMIC_RELEASE);
	}
}

/* Sweep tank_ifs_v3 for entries of this slot the caller did not list, in any netns (deleting
 * while walking would restart the walk, so in rounds of collected keys). */
static int ifs_sweep(struct np_bpf *b, uint32_t slot, struct diag *d)
{
	struct bpf_map *map = b->skel->maps.tank_ifs_v3;
	struct tank_if_key keys[64], key, next;
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
	struct bpf_map *ifs = b->skel->maps.tank_ifs_v3;
	struct tank_pod_info none = {}, cur = {};
	bool ours;
	int r, first = 0;

	npb_libbpf_reset();

	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	if (!npb_pin_component_ok(uid, TANK_POD_UID_MAX))
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
		r = npb_policy_drop(b, slot, d);
		if (r < 0 && !first)
			first = r;
		r = npb_cfg_get(b, slot, &cfg, d);
		if (r >= 0) {
			cfg.epoch++;
			cfg.gen++;
			r = npb_cfg_put(b, slot, &cfg, d);
		}
		if (r < 0 && !first)
			first = r;
	}

	/* tcx and netkit links wherever they are (tankd's netns, pod netns) and cgroup links:
	 * detached */
	r = npb_pod_dir_remove(b, uid, d);
	if (r < 0 && !first)
		first = r;
	/* clsact filters (whatever the current mode) and entries of host-side interfaces still
	 * ours; an ifindex now recorded for another slot was reused by another pod: leave it
	 * alone. A clsact filter inside a pod netns goes with the pod's NIC. */
	for (size_t i = 0; i < n; i++) {
		struct tank_if_key key = { .netns = b->netns, .ifindex = (__u32)host_ifindexes[i] };
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
	npb_ifh_sync(b);
	r = cgs_sweep(b, slot, 0, d);
	if (r < 0 && !first)
		first = r;
	npb_cg_levels_update(b);
	/* an array entry cannot be deleted: an empty name and uid mark the slot free */
	r = bpf_map__update_elem(b->skel->maps.tank_pods_v1, &slot, sizeof(slot), &none,
				 sizeof(none), 0);
	if (r < 0 && !first)
		first = npb_fail(d, r, "freeing the pod slot");
	if (first < 0)
		diag_prefix(d, "pod %s: ", uid);
	return first;
}

/* ---- older programs ------------------------------------------------------------------------- */

void npb_pins_walk(struct np_bpf *b,
		   void (*cb)(struct np_bpf *, int fd, const char *nic, bool in, void *),
		   void *data)
{
	char pods[PATH_MAX], dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de, *le;
	DIR *dp, *lp;

	if (npb_pin_path(pods, sizeof(pods), "%s/pods", b->pin_dir) < 0 || !(dp = opendir(pods)))
		return;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.' ||
		    npb_pin_path(dir, sizeof(dir), "%s/%s", pods, de->d_name) < 0 ||
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
			if (npb_pin_path(path, sizeof(path), "%s/%s", dir, le->d_name) < 0)
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

/* A pinned link running another program (an older tankd's) moves to ours, atomically. */
static void relink_one(struct np_bpf *b, int fd, const char *nic _unused_, bool in,
		       void *data _unused_)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info), ifindex, type;
	int prog_fd;

	if (npb_dev_link_info(fd, &info, &ifindex, &type)) {
		if (!ifindex)
			return;
		if (netkit_hook(type))
			prog_fd = netkit_prog_fd(b, type);
		else /* a tcx link not at this ifindex of tankd's netns is on a device in a pod's */
			prog_fd = tc_prog_fd(b,
					     hook_link_is_here(info.id, (int)ifindex,
							       in ? NP_BPF_TCX_INGRESS :
								    NP_BPF_TCX_EGRESS),
					     in);
	} else if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		   info.type == NP_BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id) {
		prog_fd = bpf_program__fd(info.cgroup.attach_type == BPF_CGROUP_INET_INGRESS ?
						  b->cg->progs.tank_cg_in :
						  b->cg->progs.tank_cg_eg);
	} else {
		return;
	}
	if (info.prog_id != npb_prog_id(prog_fd) && bpf_link_update(fd, prog_fd, NULL) < 0)
		log_debug("BPF: moving link %u to the new program failed", info.id);
}

void npb_relink_all(struct np_bpf *b)
{
	struct bpf_map *ifs = b->skel->maps.tank_ifs_v3;
	struct tank_if_key key, next;
	int g;

	npb_pins_walk(b, relink_one, NULL);
	/* clsact filters in tankd's netns; those inside pod netns (kernels without tcx) keep
	 * their program until the pod's NIC is attached again */
	g = bpf_map__get_next_key(ifs, NULL, &next, sizeof(next));
	while (g == 0) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)next.ifindex,
				    .attach_point = BPF_TC_INGRESS);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = NP_TC_HANDLE, .priority = NP_TC_PRIO);

		key = next;
		if (key.netns == b->netns && bpf_tc_query(&hook, &q) == 0 &&
		    q.prog_id != npb_prog_id(tc_prog_fd(b, true, true)))
			clsact_attach(b, (int)key.ifindex, true, NULL);
		g = bpf_map__get_next_key(ifs, &key, &next, sizeof(next));
	}
}
