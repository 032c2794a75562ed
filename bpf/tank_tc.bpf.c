/* tank_tc.bpf.c - tc/tcx programs on a pod's host-side veth: per-pod packet and byte counters. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "tank_abi.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TANK_MAX_PODS);
	__type(key, __u32);
	__type(value, struct tank_pod_stats);
} tank_stats_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TANK_MAX_PODS);
	__type(key, __u32);
	__type(value, struct tank_pod_info);
} tank_pods_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TANK_MAX_IFS);
	__type(key, __u32);
	__type(value, struct tank_if_info);
} tank_ifs_v1 SEC(".maps");

/* Count skb against the pod that owns skb->ifindex; at_ingress: this is the tc ingress hook. */
static __always_inline int tank_count(struct __sk_buff *skb, bool at_ingress)
{
	__u32 ifindex = skb->ifindex;
	struct tank_if_info *ifi;
	struct tank_pod_stats *st;
	struct tank_counter *c;
	__u32 slot, dir;

	ifi = bpf_map_lookup_elem(&tank_ifs_v1, &ifindex);
	if (!ifi)
		return TCX_NEXT;
	slot = ifi->slot;
	st = bpf_map_lookup_elem(&tank_stats_v1, &slot);
	if (!st)
		return TCX_NEXT;
	dir = ifi->host_ingress_dir;
	if (!at_ingress)
		dir = dir == TANK_DIR_INGRESS ? TANK_DIR_EGRESS : TANK_DIR_INGRESS;
	c = dir == TANK_DIR_INGRESS ? &st->ingress : &st->egress;
	/* per-CPU value: plain increments, readers sum the CPUs */
	c->packets++;
	c->bytes += skb->len;
	/* TCX_NEXT (-1) is also TC_ACT_UNSPEC: under clsact the next filter or the default runs */
	return TCX_NEXT;
}

/* Host-side tc ingress of a pod's veth: what the pod sent. */
SEC("tc")
int tank_host_in(struct __sk_buff *skb)
{
	return tank_count(skb, true);
}

/* Host-side tc egress of a pod's veth: what goes to the pod. */
SEC("tc")
int tank_host_eg(struct __sk_buff *skb)
{
	return tank_count(skb, false);
}
