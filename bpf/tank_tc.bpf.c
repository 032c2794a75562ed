/* tank_tc.bpf.c - tc/tcx programs on a pod's interfaces: policy, flows, accounting, events. */
#include "vmlinux.h"

#define TANK_L2_LEN 14 /* tc sees the Ethernet header */
#include "tank_dp.h"

/* The design (maps, keys, verdict order, explain mode) is described in tank_abi.h. */

#define LOOPBACK_IFINDEX 1

/* kfunc (kernel 6.2+): the kernel's sk_buff behind the program's context, read-only here */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/*
 * The cookie of the network namespace the interface lives in. Not bpf_get_netns_cookie(skb):
 * for tc it answers the netns of skb->sk (the sending socket, kept across veth and macvlan
 * into another netns), or init_net's when there is no socket, so a packet from pod A would be
 * looked up with A's cookie on pod B's macvlan. The device's own netns is what tells two
 * interfaces with the same ifindex apart; its net_cookie never repeats.
 */
static __always_inline __u64 dev_netns_cookie(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device *dev = kskb->dev;

	if (!dev)
		return 0;
	return dev->nd_net.net->net_cookie;
}

/* A pod's interface: its slot, NIC and the pod direction its ingress hook sees. */
struct tk_id {
	__u32 slot, nic, dir;
};

/* From tank_ifs_v3, under the device's netns cookie and ifindex. */
static __always_inline bool ifs_find(struct __sk_buff *skb, struct tk_id *id)
{
	struct tank_if_key key = { .netns = dev_netns_cookie(skb), .ifindex = skb->ifindex };
	struct tank_if_info *ifi = bpf_map_lookup_elem(&tank_ifs_v3, &key);

	if (!ifi)
		return false;
	id->slot = ifi->slot;
	id->nic = ifi->nic;
	id->dir = ifi->ingress_dir;
	return true;
}

/* From tank_ifh_v1, for a device of tankd's netns (only tank_host_* run there). */
static __always_inline bool ifh_find(struct __sk_buff *skb, struct tk_id *id)
{
	union {
		__u64 word;
		struct tank_ifh h;
	} v;
	__u32 i = skb->ifindex & (TANK_IFH_SIZE - 1);
	__u64 *e = bpf_map_lookup_elem(&tank_ifh_v1, &i);

	if (!e)
		return false;
	v.word = *(volatile __u64 *)e; /* the whole entry in one load */
	if (v.h.ifindex != skb->ifindex || !v.h.slot)
		return false;
	id->slot = v.h.slot;
	id->nic = v.h.nic;
	id->dir = v.h.ingress_dir;
	return true;
}

/* Everything but the fast path, with the whole per-packet state (zeroed only here). */
static __always_inline int tank_slow(struct __sk_buff *skb, struct tk_state *s,
				     const struct tk_id *id, bool explain)
{
	__builtin_memset(s, 0, sizeof(*s));
	s->slot = id->slot;
	s->nic = id->nic;
	s->dir = id->dir;
	s->explain = explain;
	/* TCX_NEXT (-1) is also TC_ACT_UNSPEC, TCX_DROP (2) is TC_ACT_SHOT: same under clsact */
	return tank_process(skb, s) == TANK_VERDICT_DROP ? TCX_DROP : TCX_NEXT;
}

/* host: a device of tankd's netns (tank_host_*), else one inside a pod's netns (tank_pod_*). */
static __always_inline int tank_run(struct __sk_buff *skb, bool at_ingress, bool host)
{
	bool explain = host && skb->ifindex == LOOPBACK_IFINDEX &&
		       (skb->mark & TANK_EXPLAIN_MASK) == TANK_EXPLAIN_MAGIC;
	struct tk_state s; /* the fast path's flow key is in s.fk: one stack area for both */
	struct tk_id id;

	if (explain) {
		id.slot = skb->mark & 0xfff;
		id.nic = 0;
		id.dir = (skb->mark >> 12) & 1;
	} else {
		if (!(host && ifh_find(skb, &id)) && !ifs_find(skb, &id))
			return TCX_NEXT;
		/* the pod direction this interface's ingress hook sees; egress the other one */
		if (!at_ingress)
			id.dir = id.dir == TANK_DIR_INGRESS ? TANK_DIR_EGRESS : TANK_DIR_INGRESS;
		if (tank_fast(skb, &s.fk, id.slot, id.nic, id.dir))
			return TCX_NEXT;
	}
	/* one call: each inlined copy would have its own state on the stack */
	return tank_slow(skb, &s, &id, explain);
}

/*
 * The tc ingress and egress hooks of a pod's interface. On a host-side veth ingress carries what
 * the pod sent; on a macvlan inside the pod netns it carries what the pod receives:
 * tank_if_info.ingress_dir says which. (The names are from when only veth existed.)
 * tank_host_* are attached to the interfaces of tankd's netns, tank_pod_* to those inside a
 * pod's: the same datapath, but only the first may take an ifindex alone for the device. A
 * netkit pair runs tank_host_in and tank_pod_in from its two netkit links (netkit_prog_fd).
 */
SEC("tc")
int tank_host_in(struct __sk_buff *skb)
{
	return tank_run(skb, true, true);
}

SEC("tc")
int tank_host_eg(struct __sk_buff *skb)
{
	return tank_run(skb, false, true);
}

SEC("tc")
int tank_pod_in(struct __sk_buff *skb)
{
	return tank_run(skb, true, false);
}

SEC("tc")
int tank_pod_eg(struct __sk_buff *skb)
{
	return tank_run(skb, false, false);
}
