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

/* The cookie of tankd's netns, where the interfaces of tank_ifh_v1 are (netplane sets it). */
const volatile __u64 tank_host_netns;

/* Slot, NIC and ingress direction of an interface of tankd's netns from tank_ifh_v1. */
static __always_inline bool ifh_find(struct __sk_buff *skb, struct tk_state *s)
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
	s->slot = v.h.slot;
	s->nic = v.h.nic;
	s->dir = v.h.ingress_dir;
	return true;
}

static __always_inline int tank_run(struct __sk_buff *skb, bool at_ingress)
{
	struct tk_state s = {};

	if (skb->ifindex == LOOPBACK_IFINDEX &&
	    (skb->mark & TANK_EXPLAIN_MASK) == TANK_EXPLAIN_MAGIC) {
		s.explain = true;
		s.slot = skb->mark & 0xfff;
		s.dir = (skb->mark >> 12) & 1;
	} else {
		struct tank_if_key key = { .netns = dev_netns_cookie(skb), .ifindex = skb->ifindex };

		if (key.netns != tank_host_netns || !ifh_find(skb, &s)) {
			struct tank_if_info *ifi = bpf_map_lookup_elem(&tank_ifs_v3, &key);

			if (!ifi)
				return TCX_NEXT;
			s.slot = ifi->slot;
			s.nic = ifi->nic;
			s.dir = ifi->ingress_dir;
		}
		/* the pod direction this interface's ingress hook sees; egress is the other one */
		if (!at_ingress)
			s.dir = s.dir == TANK_DIR_INGRESS ? TANK_DIR_EGRESS : TANK_DIR_INGRESS;
	}
	/* TCX_NEXT (-1) is also TC_ACT_UNSPEC, TCX_DROP (2) is TC_ACT_SHOT: same under clsact */
	return tank_process(skb, &s) == TANK_VERDICT_DROP ? TCX_DROP : TCX_NEXT;
}

/*
 * The tc ingress and egress hooks of a pod's interface. On a host-side veth (or netkit peer)
 * ingress carries what the pod sent; on a macvlan inside the pod netns it carries what the pod
 * receives: tank_if_info.ingress_dir says which. (The names are from when only veth existed.)
 */
SEC("tc")
int tank_host_in(struct __sk_buff *skb)
{
	return tank_run(skb, true);
}

SEC("tc")
int tank_host_eg(struct __sk_buff *skb)
{
	return tank_run(skb, false);
}
