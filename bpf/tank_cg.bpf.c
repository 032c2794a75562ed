/* tank_cg.bpf.c - cgroup_skb programs for "host" network pods: policy, flows, accounting, events. */
#include "vmlinux.h"

#define TANK_L2_LEN 0 /* cgroup_skb starts at the IP header */
#include "tank_dp.h"

/* The design (maps, keys, verdict order) is described in tank_abi.h. */

/*
 * Levels (depth below the v2 root) at which tank_cgs_v1 has a pod's cgroup: bit n for level n.
 * Written by netplane (from tank_cgs_v1 at open, then at each attach) before a link can run the
 * program; a stale bit only costs a lookup.
 */
__u64 tank_cg_levels = 0;

/*
 * The pod of the packet's socket: its cgroup is the pod's, or below it (a container's), so the
 * socket's own cgroup first, then its ancestors at the levels where pods' cgroups are, deepest
 * first. The programs run only for sockets under a cgroup they are attached to.
 */
static __always_inline struct tank_cg_info *cg_pod(struct __sk_buff *skb)
{
	__u64 id = bpf_skb_cgroup_id(skb), levels = tank_cg_levels;
	struct tank_cg_info *ci;

	ci = bpf_map_lookup_elem(&tank_cgs_v1, &id);
	if (ci)
		return ci;
	for (int l = TANK_CG_LEVELS - 1; l > 0; l--) {
		if (!(levels & (1ull << l)))
			continue;
		id = bpf_skb_ancestor_cgroup_id(skb, l);
		if (!id)
			continue; /* the socket's cgroup is not that deep */
		ci = bpf_map_lookup_elem(&tank_cgs_v1, &id);
		if (ci)
			return ci;
	}
	return NULL;
}

static __always_inline int tank_cg_run(struct __sk_buff *skb, enum tank_dir dir)
{
	struct tk_state s = {};
	struct tank_cg_info *ci = cg_pod(skb);

	if (!ci)
		return 1;
	s.slot = ci->slot;
	s.nic = ci->nic;
	s.dir = dir;
	/* 1: let it go on, 0: drop (an egress drop fails the send with EPERM) */
	return tank_process(skb, &s) == TANK_VERDICT_DROP ? 0 : 1;
}

SEC("cgroup_skb/ingress")
int tank_cg_in(struct __sk_buff *skb)
{
	return tank_cg_run(skb, TANK_DIR_INGRESS);
}

SEC("cgroup_skb/egress")
int tank_cg_eg(struct __sk_buff *skb)
{
	return tank_cg_run(skb, TANK_DIR_EGRESS);
}
