/* netplane.h - pod networking mechanism: netlink (netns, links, addresses, routes) and BPF. */
#ifndef TANK_NETPLANE_H
#define TANK_NETPLANE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "bpf/tank_abi.h"
#include "lib/lib.h"

/*
 * Mechanism only: nothing here logs above debug or decides policy. Every call returns >= 0 on
 * success or -errno, with netlink extack text / the failing step in the optional diag.
 * Names and addresses come from the daemon, already validated.
 */

/* ---- addresses ------------------------------------------------------------------------- */

struct np_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t prefix;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

/* "198.18.0.10/24", "2001:db8::1/64", or without prefix (then /32 or /128). */
int np_addr_parse(const char *text, struct np_addr *ret);

/* ---- network namespaces ------------------------------------------------------------------ */

/* Open a netns file (e.g. /run/netns/tank-web) as an O_CLOEXEC fd. */
int np_netns_open(const char *path);
/* Bring "lo" up inside the netns. */
int np_netns_lo_up(int netns_fd, struct diag *d);

/* ---- links ----------------------------------------------------------------------------- */

/* ifindex of a link in the calling netns, or -ENODEV. */
int np_link_ifindex(const char *ifname);
/* Delete a link by name in the calling netns; a missing link is success (0). */
int np_link_delete(const char *ifname, struct diag *d);

/*
 * A routed veth NIC (DESIGN.md §4 mode "veth"): no bridge, no per-pod subnet.
 *  - one RTM_NEWLINK creates the pair, the peer directly inside the pod netns under its final
 *    name (pod_ifname);
 *  - the host side carries the link-local gateway 169.254.1.1/32 (and fe80::1/64 when the pod
 *    has IPv6), and a /32 (/128) route to each pod address;
 *  - the pod side gets the addresses (IPv6 with IFA_F_NODAD), is brought up, and gets default
 *    routes via 169.254.1.1 (fe80::1) onlink.
 * On failure everything this call created is removed again.
 */
#define NP_VETH_GW4 "169.254.1.1"
#define NP_VETH_GW6 "fe80::1"
#define NP_ADDRS_MAX 8

struct np_veth_spec {
	const char *host_ifname; /* <= 15 chars, unique on the host, e.g. "tk3f2a9c01" */
	const char *pod_ifname;  /* name inside the pod, e.g. "eth0" */
	int pod_netns_fd;
	const struct np_addr *addrs;
	size_t n_addrs;
	unsigned int mtu; /* 0: kernel default */
};

struct np_nic_state {
	int host_ifindex; /* in the calling (tankd's) netns */
	int pod_ifindex;  /* in the pod netns */
};

int np_veth_setup(const struct np_veth_spec *s, struct np_nic_state *ret, struct diag *d);

/* ---- BPF datapath ---------------------------------------------------------------------- */

/*
 * One loaded copy of the programs, shared by all pods. Maps are pinned under pin_dir
 * (default /sys/fs/bpf/tank; bpffs is mounted at /sys/fs/bpf if it is not). Pinned maps that
 * already exist are reused, so counters survive a tankd restart. Per pod, tcx links are pinned
 * under <pin_dir>/pods/<uid>/<nic>_{in,eg}, so enforcement and counting continue while tankd
 * is down. Kernels without tcx fall back to clsact (libbpf bpf_tc_*), chosen by a probe at open.
 */
struct np_bpf;

int np_bpf_open(const char *pin_dir, struct np_bpf **ret, struct diag *d);
void np_bpf_close(struct np_bpf *b);
/* "tcx" or "clsact". */
const char *np_bpf_attach_mode(const struct np_bpf *b);

/* Claim a slot for a pod: writes slot -> {name, uid}; zeroes its counters if the slot was
 * not already this uid's (so a reused slot starts clean, a re-adopted pod keeps counting). */
int np_bpf_pod_register(struct np_bpf *b, uint32_t slot, const char *name, const char *uid,
			struct diag *d);
/* Attach the counting programs to a pod's host-side veth and record ifindex -> slot.
 * Idempotent: an attachment already pinned for (uid, nic) is kept. */
int np_bpf_veth_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
		       int host_ifindex, struct diag *d);
/* Remove every attachment pinned for the pod, its ifindex entries and the slot entry.
 * host_ifindexes: the pod's host-side ifindexes still known (may be empty). Counters stay
 * until the slot is registered again. Missing pieces are not errors. */
int np_bpf_pod_unregister(struct np_bpf *b, const char *uid, uint32_t slot,
			  const int *host_ifindexes, size_t n, struct diag *d);
/* Counters of a slot, summed over CPUs. */
int np_bpf_pod_stats(struct np_bpf *b, uint32_t slot, struct tank_pod_stats *ret,
		     struct diag *d);
/* Read slot -> pod info (for re-adoption after a restart); -ENOENT if the slot is free. */
int np_bpf_pod_info(struct np_bpf *b, uint32_t slot, struct tank_pod_info *ret);

#endif
