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
/* "198.18.0.10/24" (with_prefix) or "198.18.0.10"; buf of NP_ADDR_TEXT_MAX. -EINVAL/-ENOSPC. */
#define NP_ADDR_TEXT_MAX (INET6_ADDRSTRLEN + 4)
int np_addr_format(const struct np_addr *a, bool with_prefix, char *buf, size_t len);
/* A family we handle and a prefix length that fits it. */
bool np_addr_valid(const struct np_addr *a);
/* Whether a lies in the subnet net (same family, the first net->prefix bits equal). */
bool np_addr_in(const struct np_addr *net, const struct np_addr *a);
/* Clear the host bits of a (198.18.0.10/24 -> 198.18.0.0/24). */
void np_addr_mask(struct np_addr *a);

/* ---- network namespaces ------------------------------------------------------------------ */

/* Open a netns file (e.g. /run/netns/tank-web) as an O_CLOEXEC fd. */
int np_netns_open(const char *path);
/* Bring "lo" up inside the netns. */
int np_netns_lo_up(int netns_fd, struct diag *d);
/* Write a sysctl of the netns ("net/ipv4/ping_group_range" under /proc/sys). */
int np_netns_sysctl(int netns_fd, const char *key, const char *value, struct diag *d);

/* ---- links ----------------------------------------------------------------------------- */

/* A name the kernel accepts for a link: 1..15 chars, no '/', ':' or whitespace, not . or .. */
bool np_ifname_valid(const char *name);
/* ifindex of a link in the calling netns, or -ENODEV. */
int np_link_ifindex(const char *ifname);
/* Delete a link by name in the calling netns; a missing link is success (0). */
int np_link_delete(const char *ifname, struct diag *d);

/*
 * A routed veth NIC (DESIGN.md §4 mode "veth"): no bridge, no per-pod subnet.
 *  - one RTM_NEWLINK creates the pair, the peer directly inside the pod netns under its final
 *    name (pod_ifname), the host side already up;
 *  - the host side carries the link-local gateway 169.254.1.1/32 (and fe80::1/64 when the pod
 *    has IPv6), and a /32 (/128) route to each pod address (scope link, proto static);
 *  - the pod side gets the addresses (IPv6 with IFA_F_NODAD; all with IFA_F_NOPREFIXROUTE, so
 *    the pod's own subnet goes via the gateway too: a routed veth has no neighbours), is brought
 *    up, and gets default routes via 169.254.1.1 onlink (fe80::1) for the families it has.
 * Five netlink round trips (create; two ifindex lookups; host batch; pod batch on a socket opened
 * in the pod netns), no sleeps. On failure everything this call created is removed again.
 */
#define NP_VETH_GW4 "169.254.1.1"
#define NP_VETH_GW6 "fe80::1"
#define NP_ADDRS_MAX 8

/* A route in a pod: dst via gw (gw.family 0: a device route on the NIC). */
struct np_route_via {
	struct np_addr dst;
	struct np_addr gw;
};

#define NP_ROUTES_MAX 16

struct np_veth_spec {
	const char *host_ifname; /* <= 15 chars, unique on the host, e.g. "tk3f2a9c01" */
	const char *pod_ifname;  /* name inside the pod, e.g. "eth0" */
	int pod_netns_fd;
	const struct np_addr *addrs;
	size_t n_addrs;
	unsigned int mtu; /* 0: kernel default */
	/* Another NIC of the pod has the default route of that family: this one gets only a host
	 * route to the gateway and its own subnets via the gateway, at `metric` (distinct per
	 * NIC, so that two such NICs do not collide). */
	bool no_default4, no_default6;
	uint32_t metric;
	/* extra routes in the pod, all via the host's gateway (gw.family must be 0) */
	const struct np_route_via *routes;
	size_t n_routes; /* <= NP_ROUTES_MAX */
	/* netkit: drop everything both ways until BPF programs are attached (np_bpf_netkit_attach):
	 * fail-closed when the datapath enforces policy; without it, pass */
	bool blackhole;
};

struct np_nic_state {
	int host_ifindex; /* in the calling (tankd's) netns */
	int pod_ifindex;  /* in the pod netns */
	uint8_t pod_mac[6]; /* the pod side's MAC, as the kernel reported it */
};

int np_veth_setup(const struct np_veth_spec *s, struct np_nic_state *ret, struct diag *d);

/* ---- macvlan NICs, netkit probe, host shim ------------------------------------------------ */

/*
 * A macvlan NIC in bridge mode on `parent` (DESIGN.md §4 mode "macvlan"):
 *  - one RTM_NEWLINK creates it directly inside the pod netns (IFLA_LINK = the parent's ifindex
 *    in the calling netns, IFLA_NET_NS_FD) under its final name: the kernel allocates the device
 *    in the target netns (rtnl_create_link(dest_net)), so the name only has to be free there
 *    (checked on 6.18: "eth0" is created while the calling netns has an eth0). No temporary
 *    name and no rename are needed;
 *  - MTU: min(mtu, the parent's); 0 means the parent's;
 *  - MAC: s->mac if given, else np_mac_derive(pod_uid, pod_ifname) (stable across restarts);
 *  - pod side in one batch: up, addresses (IPv6 with IFA_F_NODAD, prefix routes kept: a
 *    macvlan has neighbours), a default route via each gateway, the extra routes. A gateway
 *    outside every address's prefix is used RTNH_F_ONLINK.
 * Four round trips: parent lookup and create (calling netns), ifindex lookup and the pod batch
 * (pod netns); no sleeps. On failure the link is deleted again. ret->host_ifindex is the
 * parent's ifindex, ret->pod_ifindex the NIC's.
 */
struct np_macvlan_spec {
	const char *parent;     /* in the calling netns; never the machine's real NIC in tests */
	const char *pod_ifname; /* final name in the pod */
	int pod_netns_fd;
	const char *pod_uid; /* with pod_ifname, derives the MAC when mac is NULL */
	const uint8_t *mac;  /* 6 bytes (unicast), or NULL */
	unsigned int mtu;
	const struct np_addr *addrs;
	size_t n_addrs; /* <= NP_ADDRS_MAX */
	const struct np_addr *gateways; /* at most one per family */
	size_t n_gateways;
	const struct np_route_via *routes;
	size_t n_routes; /* <= NP_ROUTES_MAX */
};

int np_macvlan_setup(const struct np_macvlan_spec *s, struct np_nic_state *ret, struct diag *d);

/* A locally administered unicast MAC from (pod uid, NIC name): FNV-1a 64 of "uid\0nic", the
 * first octet's low bits set to x2. Same inputs, same MAC, on every host and run. */
void np_mac_derive(const char *pod_uid, const char *nic, uint8_t out[6]);

/* The interface of the default route in the calling netns (IPv4 first, then IPv6; the lowest
 * metric wins): "auto" for a macvlan parent. -ENOENT (with a message) when there is none. */
int np_parent_auto(char out[16], struct diag *d);

/* netkit (DESIGN.md §4 mode "netkit"): probed once per process by asking the kernel to create a
 * netkit link under an invalid name (nothing is created either way; "Unknown device type"
 * means absent). */
bool np_netkit_supported(void);
/* A netkit pair, routed like np_veth_setup. Where the kernel lacks netkit (this machine):
 * -EOPNOTSUPP and a message saying so and pointing at mode "veth". */
int np_netkit_setup(const struct np_veth_spec *s, struct np_nic_state *ret, struct diag *d);
/* The RTM_NEWLINK np_netkit_setup sends for s (appended to m; NULL when it does not fit). */
struct np_msgs;
struct nlmsghdr;
struct nlmsghdr *np_netkit_create_msg(struct np_msgs *m, const struct np_veth_spec *s);

/*
 * Host shim: macvlan pods cannot reach their own host over the parent (the parent's frames go to
 * the wire, never to its macvlan children), so the host gets a macvlan child of its own, in
 * bridge mode, on each uplink that serves pods.
 *
 * np_hostshim_ensure() creates it (default name "tank0") or adopts an existing one: a link of
 * that name that is a bridge-mode macvlan on `parent` is kept (a link of that name that is
 * anything else is left alone: -EEXIST naming what it is). Then its addresses are made exactly
 * `addrs` (unlisted global addresses removed, missing ones added, IPv6 with IFA_F_NODAD) and it
 * is brought up. Its MAC is np_mac_derive("hostshim:<parent>", name), so LAN neighbour caches
 * stay right across re-creation. Returns the shim's ifindex.
 *
 * Route semantics: each address keeps its prefix route, at metric NP_HOSTSHIM_METRIC, so a
 * connected route of the host's own address on the parent (metric 0 for IPv4, 256 for IPv6)
 * still wins for the rest of the LAN, and a host without an address there reaches the LAN
 * through the shim. To reach a pod, the daemon adds its /32 and /128 through the shim with
 * np_hostshim_route_add() (more specific, so it wins; it also keeps strict rp_filter happy for
 * the pod's replies arriving on the shim) and removes them when the pod goes.
 */
#define NP_HOSTSHIM_NAME "tank0"
#define NP_HOSTSHIM_METRIC 1024

int np_hostshim_ensure(const char *parent, const char *name, const struct np_addr *addrs,
		       size_t n_addrs, struct diag *d);
/* Host routes to a pod's addresses (each as /32 or /128, whatever its prefix) via the shim, in
 * one batch; each replaces a route to the same destination, so the call is idempotent. */
int np_hostshim_route_add(const char *name, const struct np_addr *pod_addrs, size_t n,
			  struct diag *d);
/* Remove those routes; a missing route or shim is success. */
int np_hostshim_route_del(const char *name, const struct np_addr *pod_addrs, size_t n,
			  struct diag *d);

/* ---- IPAM (pure: no kernel, no files) --------------------------------------------------------
 *
 * A pool is configured in tankd. The daemon keeps the lease table (a struct np_lease_set,
 * persisted as JSON in its store); np_ipam_pick() reads it and never changes it.
 */
#define NP_IPAM_NAME_MAX 64
#define NP_IPAM_OWNER_MAX 128 /* "<pod uid>/<nic>" */
#define NP_IPAM_DNS_MAX 4
#define NP_IPAM_RESERVED_MAX 256
#define NP_LEASES_MAX 65536

struct np_ipam_reservation {
	struct np_addr addr;
	char owner[NP_IPAM_OWNER_MAX];
};

struct np_ipam_pool {
	char name[NP_IPAM_NAME_MAX];
	struct np_addr subnet;             /* network address and prefix, v4 or v6 */
	struct np_addr gateway;            /* family 0: none */
	struct np_addr range_start, range_end; /* family 0: the whole subnet */
	struct np_addr dns[NP_IPAM_DNS_MAX];
	size_t n_dns;
	char domain[254]; /* "" : the daemon's default (tank.internal) */
	struct np_ipam_reservation reserved[NP_IPAM_RESERVED_MAX];
	size_t n_reserved;
};

/* Start a pool: name, subnet "198.18.0.0/24" (host bits must be zero). */
int np_ipam_pool_init(struct np_ipam_pool *p, const char *name, const char *subnet,
		      struct diag *d);
/* One setting from tankd's config: "gateway" ADDR, "range" ADDR-ADDR, "dns" ADDR (repeatable),
 * "domain" NAME, "reserve" "ADDR OWNER" (repeatable). Each address must lie in the subnet. */
int np_ipam_pool_set(struct np_ipam_pool *p, const char *key, const char *value,
		     struct diag *d);
/* "<pod uid>/<nic>" into buf; -ENAMETOOLONG if it does not fit. */
int np_ipam_owner_key(const char *pod_uid, const char *nic, char *buf, size_t len);

struct np_lease {
	char pool[NP_IPAM_NAME_MAX];
	char owner[NP_IPAM_OWNER_MAX];
	struct np_addr addr; /* with the pool's prefix */
};

struct np_lease_set {
	struct np_lease *v;
	size_t n, cap;
};

void np_lease_set_init(struct np_lease_set *s);
void np_lease_set_free(struct np_lease_set *s);
/* Add a lease; the same (pool, owner, addr) again is success (0); an address held by another
 * owner in that pool is -EADDRINUSE; an owner holding another address in that pool -EEXIST;
 * more than NP_LEASES_MAX -ENOSPC. */
int np_lease_add(struct np_lease_set *s, const char *pool, const char *owner,
		 const struct np_addr *addr, struct diag *d);
/* Remove the owner's lease in pool (pool NULL: in every pool); returns how many went. */
int np_lease_remove(struct np_lease_set *s, const char *pool, const char *owner);
/* Remove every lease of a pod (owners "<pod uid>/..."); returns how many went. */
int np_lease_release_pod(struct np_lease_set *s, const char *pod_uid);
bool np_lease_contains(const struct np_lease_set *s, const char *pool, const struct np_addr *a);
/* The owner's lease in pool, or NULL. */
const struct np_lease *np_lease_find(const struct np_lease_set *s, const char *pool,
				    const char *owner);
/* [{"pool":"default","owner":"<uid>/eth0","addr":"198.18.0.7/24"}, ...]; NULL on ENOMEM. */
json_t *np_lease_set_to_json(const struct np_lease_set *s);
/* Replace *s with the leases in j (validated: names, addresses, duplicates, NP_LEASES_MAX). */
int np_lease_set_from_json(const json_t *j, struct np_lease_set *s, struct diag *d);

/*
 * The address for owner in pool, with the pool's prefix: the owner's existing lease; else its
 * reservation; else the first free address from a start derived from a hash of the owner key
 * (FNV-1a), probing upward and wrapping within the range. Never the network address, the IPv4
 * broadcast, the gateway, another owner's reservation, a leased address, or (IPv6 subnets of
 * /64 or larger) the RFC 2526 anycast ids ::fdff:ffff:ffff:ff80-ff. /31 and /127 use both
 * addresses. Same pool, owner and leases: same answer. A reservation leased to someone else is
 * -EADDRINUSE; an exhausted pool -ENOSPC ("pool X (subnet): no free address (N leased or
 * reserved)").
 */
int np_ipam_pick(const struct np_ipam_pool *p, const char *owner, const struct np_lease_set *used,
		 struct np_addr *ret, struct diag *d);
/* The same, with reservations matched on reserve_key instead of owner (tankd leases to
 * "<pod uid>/<nic>" but reservations name "<pod name>/<nic>", which survives a re-create). */
int np_ipam_pick_for(const struct np_ipam_pool *p, const char *owner, const char *reserve_key,
		     const struct np_lease_set *used, struct np_addr *ret, struct diag *d);

/* ---- embedded DNS (pure message handling: no sockets) ------------------------------------- */

#define NP_DNS_DOMAIN "tank.internal"
#define NP_DNS_UDP_MAX 1232 /* largest reply we build (EDNS); 512 without EDNS */

struct np_dns_name {
	const char *name; /* a pod name (one DNS label), answered as <name>.<domain> */
	const struct np_addr *addrs;
	size_t n_addrs;
	const char *domain; /* NULL: the zone's; else these addresses are <name>.<domain> (a pool's
			     * domain). Entries with the same name and domain are answered together;
			     * PTR names the first entry holding the address in its domain. */
};

struct np_dns_zone {
	const char *domain; /* NULL: NP_DNS_DOMAIN */
	const struct np_dns_name *names;
	size_t n_names;
	/* Prefixes whose reverse names (in-addr.arpa / ip6.arpa) this server owns: an address in
	 * one of them that no name has is NXDOMAIN; other reverse names are forwarded. */
	const struct np_addr *reverse;
	size_t n_reverse;
	uint32_t ttl; /* 0: 5 s */
};

enum np_dns_verdict {
	NP_DNS_DROP = 0,  /* not a query (a response, or shorter than a header): no reply */
	NP_DNS_REPLY = 1, /* *ret_len bytes of reply in out */
	NP_DNS_FORWARD = 2, /* a name outside the zone: relay the query to an upstream resolver */
};

/*
 * Answer one query (UDP payload, hostile): A, AAAA and ANY for <name>.<domain>, PTR for the
 * addresses of the names, NXDOMAIN for other names under <domain> (and in the reverse
 * prefixes), NODATA for other types, FORMERR/NOTIMP for malformed queries and other opcodes.
 * Compression pointers in the question are followed backwards only, at most 16 hops, names at
 * most 255 bytes. Replies fit 512 bytes, or the client's EDNS size up to NP_DNS_UDP_MAX, else
 * they are cut and flagged TC. out needs NP_DNS_UDP_MAX bytes. Returns the verdict.
 */
enum np_dns_verdict np_dns_answer(const struct np_dns_zone *z, const uint8_t *q, size_t qlen,
				  uint8_t *out, size_t cap, size_t *ret_len);
/* A reply with only the query's question and rcode (2 SERVFAIL when no upstream answered,
 * 5 REFUSED): -EBADMSG if the query is not one. */
int np_dns_error_reply(const uint8_t *q, size_t qlen, int rcode, uint8_t *out, size_t cap,
		       size_t *ret_len);

/* Forwarding helpers: the daemon gives each relayed query an id of its own (clients' ids may
 * collide), then matches the upstream's reply and puts the client's id back. */
int np_dns_msg_id(const uint8_t *msg, size_t len); /* the id, or -EBADMSG */
int np_dns_msg_set_id(uint8_t *msg, size_t len, uint16_t id);
/* true when reply is a response to query: QR set, same id, same question (name compared
 * case-insensitively, type, class). */
bool np_dns_reply_matches(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen);

/* ---- drift monitor ------------------------------------------------------------------------ */

struct nlmsghdr;

/*
 * A netlink socket subscribed to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR in a
 * netns (< 0: the calling thread's), non-blocking, for the daemon's epoll. Events are what the
 * kernel reports, not transitions: a link that is down is reported again on each change of it.
 * The daemon compares them with what it set up (it is level-triggered anyway).
 */
enum np_mon_type {
	NP_MON_LINK_DEL = 1, /* RTM_DELLINK (also a link moved to another netns) */
	NP_MON_LINK_DOWN,    /* RTM_NEWLINK without IFF_UP */
	NP_MON_ADDR_DEL,     /* RTM_DELADDR */
};

struct np_mon_event {
	enum np_mon_type type;
	int ifindex;
	char ifname[16]; /* "" for addr-del */
	struct np_addr addr; /* addr-del only */
};

struct np_monitor;

int np_monitor_open(int netns_fd, struct np_monitor **ret, struct diag *d);
void np_monitor_close(struct np_monitor *m);
int np_monitor_fd(const struct np_monitor *m);
/* Read everything pending (never blocks), calling cb per event; returns the number of events,
 * cb's first negative return, or -ENOBUFS when the kernel dropped events (socket overrun): the
 * caller must then resync from a full dump (its periodic pass). */
int np_monitor_read(struct np_monitor *m, int (*cb)(const struct np_mon_event *, void *),
		    void *data, struct diag *d);
/* The parser behind it: 1 with *ret filled for an event above, 0 for other messages,
 * -EBADMSG for a malformed one. */
int np_monitor_parse(const struct nlmsghdr *nlh, struct np_mon_event *ret);

/* ---- BPF datapath ---------------------------------------------------------------------- */

/*
 * One loaded copy of the programs, shared by all pods: tc programs for NICs (host-side veth,
 * macvlan inside the pod netns) and cgroup_skb programs for "host" network pods, on one set of
 * maps. Maps are pinned under pin_dir (default /sys/fs/bpf/tank; bpffs is mounted at /sys/fs/bpf
 * if it is not). Pinned maps that already exist are reused, so counters survive a tankd restart.
 * Per pod, links are pinned under <pin_dir>/pods/<uid>/: <nic>_{in,eg} (tcx) and
 * @cgroup_{in,eg}, so enforcement and counting continue while tankd is down. Kernels without tcx
 * fall back to clsact (libbpf bpf_tc_*), chosen by a probe at open. Not thread-safe: one caller
 * at a time (the attach calls may run a short-lived helper thread of their own).
 */
struct np_bpf;

/* pin_dir NULL: /sys/fs/bpf/tank. A pinned map of another layout under a current name fails
 * with -EINVAL (libbpf's reason in d). */
int np_bpf_open(const char *pin_dir, struct np_bpf **ret, struct diag *d);
/* Size a tank_tc or tank_cg object's tables that have a part per possible CPU (tank_fcache_v2,
 * tank_scell_v2) before it is loaded, as np_bpf_open does for its own: for another copy of the
 * programs on the same pinned maps (tests, benchmarks). */
struct bpf_object;
int np_bpf_obj_size(struct bpf_object *obj, struct diag *d);
void np_bpf_close(struct np_bpf *b);
/* "tcx" or "clsact". */
const char *np_bpf_attach_mode(const struct np_bpf *b);
/* Override the probe's choice for later attaches: "clsact" always works, "tcx" only where the
 * probe found it (-EOPNOTSUPP otherwise). For operators' configuration and for tests. */
int np_bpf_set_attach_mode(struct np_bpf *b, const char *mode);

/* Claim a slot for a pod: writes slot -> {name, uid}. If the slot was not already this uid's,
 * its counters, rule hits, policy and configuration are reset and its flows made stale (so a
 * reused slot starts clean, a re-adopted pod keeps counting and keeps its policy). */
int np_bpf_pod_register(struct np_bpf *b, uint32_t slot, const char *name, const char *uid,
			struct diag *d);
/* Attach the programs to a pod's host-side veth and record ifindex -> slot and NIC (the NIC gets
 * an index 0..TANK_NICS_MAX-1 in the pod, kept for its name; -ENOSPC beyond). Set the pod's
 * policy first (np_bpf_policy_set): the first packet is then already filtered. Idempotent: an
 * attachment already pinned for (uid, nic) is kept. */
int np_bpf_veth_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
		       int host_ifindex, struct diag *d);
/* The same for a macvlan NIC, on the interface inside the pod netns (its tc ingress is what the
 * pod receives): pod_ifindex is its ifindex there. The links are made and pinned from a
 * short-lived thread that entered pod_netns_fd (the caller's threads never change netns); the
 * interface is recorded under (pod netns cookie, pod_ifindex), so equal ifindexes in different
 * pods never mix. Idempotent: a pinned link still on that interface of that netns is kept. The
 * links go away with the interface (pod netns deleted) or with np_bpf_pod_unregister, in
 * either order. -ENODEV when pod_ifindex is not in the netns. */
int np_bpf_macvlan_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
			  int pod_netns_fd, int pod_ifindex, struct diag *d);
/* The same for a netkit NIC (kernel 6.7+): two netkit links on the primary (host_ifindex, in
 * tankd's netns), which ends the blackhole np_netkit_setup created the pair with. The
 * BPF_NETKIT_PEER link sees what the pod sends (the device then is the primary: tank_host_in,
 * as on a veth's host side), the BPF_NETKIT_PRIMARY link what it receives (the device then is
 * already the peer, inside the pod netns: tank_pod_in, under the peer's entry of pod netns
 * cookie and pod_ifindex). Pinned as <nic>_in and <nic>_eg. Idempotent like the others. */
int np_bpf_netkit_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
			 int host_ifindex, int pod_netns_fd, int pod_ifindex, struct diag *d);
/* A "host" network pod: cgroup_skb ingress/egress links on its v2 cgroup directory (a path
 * under the cgroup2 mount, e.g. /sys/fs/cgroup/unified/tank/<pod>), recorded by cgroup id.
 * Sockets created in that cgroup or below it (a container's cgroup) are counted and filtered
 * like a NIC named "host" (NIC 0); packets are counted from the IP header. An earlier cgroup of
 * the same slot is forgotten. Idempotent like the NIC attaches; -EINVAL if the directory is not
 * a v2 cgroup below the root. */
int np_bpf_cgroup_attach(struct np_bpf *b, const char *uid, uint32_t slot,
			 const char *cgroup_v2_dir, struct diag *d);
/* Remove every attachment pinned for the pod (detached before this returns: tcx links in any
 * netns, cgroup links), its interface and cgroup entries, its policy and the slot entry, and
 * keep its final totals as a tombstone (below). host_ifindexes: the pod's host-side ifindexes
 * still known (may be empty): their clsact filters are removed too, unless the ifindex now
 * belongs to another slot. Entries of this slot not listed (macvlan NICs, cgroups, stale ones)
 * are swept. Counters stay until the slot is registered again. Missing pieces (a pod netns that
 * is already gone) are not errors. */
int np_bpf_pod_unregister(struct np_bpf *b, const char *uid, uint32_t slot,
			  const int *host_ifindexes, size_t n, struct diag *d);
/* After a restart, before re-attaching: 1 when our programs are on both hooks of ifindex (in
 * netns_fd, < 0: the caller's) as pods/<uid>/<nic>_{in,eg} pin them (tcx) or as our filter
 * (clsact), 0 when anything is missing (to be put back with the *_attach calls, which are
 * idempotent), -ENODEV when there is no such interface. Nothing is changed. */
int np_bpf_nic_check(struct np_bpf *b, const char *uid, const char *nic, int netns_fd,
		     int ifindex, struct diag *d);
/* The same for a netkit NIC's two links on its primary (host_ifindex, tankd's netns). */
int np_bpf_netkit_check(struct np_bpf *b, const char *uid, const char *nic, int host_ifindex,
			struct diag *d);
/* The same for a host-network pod's cgroup links. */
int np_bpf_cgroup_check(struct np_bpf *b, const char *uid, const char *cgroup_v2_dir,
			struct diag *d);

/* A program on a pod's hook that is not one of this datapath's. */
struct np_bpf_prog_ref {
	char hook[16];    /* "tcx ingress", "tc egress", "cgroup ingress", ... */
	uint32_t prog_id;
	char name[16];    /* the program's name (BPF_OBJ_NAME_LEN) */
};
/* Programs not ours on a device's tcx hooks and clsact filters (in netns_fd; < 0: the
 * caller's), or on a v2 cgroup. Never detached: for reporting. Returns how many were written to
 * out (at most max). */
int np_bpf_foreign_nic(struct np_bpf *b, int netns_fd, int ifindex, struct np_bpf_prog_ref *out,
		       size_t max, struct diag *d);
int np_bpf_foreign_cgroup(struct np_bpf *b, const char *cgroup_v2_dir,
			  struct np_bpf_prog_ref *out, size_t max, struct diag *d);

struct np_bpf_sweep_stats {
	unsigned int slots;    /* slots of unknown uids unregistered (totals kept as tombstones) */
	unsigned int pin_dirs; /* pods/<uid> directories of unknown uids removed */
	unsigned int ifs, cgs; /* tank_ifs/tank_cgs entries of slots no known pod owns */
};
/* Remove what belongs to no pod in uids (every pod the caller knows): slots (unregistered, so
 * their totals become tombstones), pin directories, interface and cgroup entries. */
int np_bpf_sweep(struct np_bpf *b, const char *const *uids, size_t n_uids,
		 struct np_bpf_sweep_stats *ret, struct diag *d);
/* v1 totals of a slot (every packet seen, by direction), summed over CPUs, NICs, protocols. */
int np_bpf_pod_stats(struct np_bpf *b, uint32_t slot, struct tank_pod_stats *ret,
		     struct diag *d);
/* Read slot -> pod info (for re-adoption after a restart); -ENOENT if the slot is free. */
int np_bpf_pod_info(struct np_bpf *b, uint32_t slot, struct tank_pod_info *ret);
/* The cookie of a netns (SO_NETNS_COOKIE, read from a helper thread inside it; netns_fd < 0:
 * the caller's), as tank_ifs_v3 keys interfaces. */
int np_bpf_netns_cookie(int netns_fd, uint64_t *ret, struct diag *d);

/* ---- BPF policy (DESIGN.md §4; layout and semantics in bpf/tank_abi.h) ------------------- */

#define NP_POLICY_RULES_MAX 65535 /* per direction */

struct np_port_range {
	uint8_t proto;     /* IPPROTO_TCP, _UDP, _SCTP (ports), _ICMP, _ICMPV6, or any IP protocol */
	uint16_t lo, hi;   /* destination ports, TCP/UDP/SCTP only (0-65535: all); else ignored */
};

struct np_rule {
	const struct np_addr *peers;   /* n_peers 0: any peer, IPv4 and IPv6; host bits ignored */
	size_t n_peers;
	const struct np_addr *excepts; /* addresses inside peers this rule does not cover */
	size_t n_excepts;
	const struct np_port_range *ports; /* n_ports 0: every protocol and port */
	size_t n_ports;
};

struct np_policy_dir {
	bool present;                /* false: not restricted; true: deny all but the rules */
	const struct np_rule *rules; /* union of allows; rule ids are index + 1 */
	size_t n_rules;
};

struct np_policy {
	struct np_policy_dir dir[TANK_DIR_MAX]; /* indexed by enum tank_dir (pod's view) */
	bool audit;                             /* count would-be drops, pass the packets */
};

/* A policy compiled into trie entries (what np_bpf_policy_set loads; exposed for the tests). */
struct np_policy_compiled {
	size_t n;
	struct tank_pol_key *keys;
	struct tank_pol_val *vals;
	uint32_t n_sets;
};

/* Compile p (pure, no kernel): -EINVAL (bad family/prefix/range), -E2BIG (too many rules or
 * entries), with the rule's place in d. Free the result with np_policy_compiled_free(). */
int np_policy_compile(const struct np_policy *p, struct np_policy_compiled **ret, struct diag *d);
void np_policy_compiled_free(struct np_policy_compiled *c);
/* The datapath's two lookups done in user space on the compiled entries: 1 allowed (rule id in
 * *ret_rule, TANK_RULE_NO_POLICY for an unrestricted direction), 0 denied. port < 0: unknown
 * (a later fragment). For tests and for checking the compiler. */
int np_policy_eval(const struct np_policy_compiled *c, enum tank_dir dir,
		   const struct np_addr *peer, uint8_t proto, int port, uint32_t *ret_rule);

/* Install p as the slot's policy: compiled, loaded into a new trie, then swapped in with one
 * map update (no instant with an empty or half policy); flows re-check their cached verdicts at
 * their next packet. Call it after np_bpf_pod_register (a register that changes the slot's owner
 * resets it) and before np_bpf_veth_attach. p NULL: no policy (allow all). Mode changes are
 * ordered around the swap so no instant is stricter than both policies. A swap waits for an RCU
 * grace period in the kernel (~10-25 ms here): not for a per-packet path. */
int np_bpf_policy_set(struct np_bpf *b, uint32_t slot, const struct np_policy *p,
		      struct diag *d);
/* Switch enforce/audit at runtime (one map write, nothing reloaded). */
int np_bpf_policy_mode_set(struct np_bpf *b, uint32_t slot, bool audit, struct diag *d);
/* Drop events of a slot: 1 in `sample` drops is a candidate, at most `rate` per second with
 * bursts of `burst` (0: defaults TANK_EV_RATE_DEFAULT, TANK_EV_BURST_DEFAULT). */
int np_bpf_events_limit_set(struct np_bpf *b, uint32_t slot, uint32_t sample, uint32_t rate,
			    uint32_t burst, struct diag *d);

struct np_verdict {
	enum tank_verdict verdict; /* PASS, DROP, or AUDIT (denied, passed by audit mode) */
	enum tank_reason reason;
	uint32_t rule;             /* allowing rule id, TANK_RULE_NO_POLICY, or TANK_RULE_NONE */
};

/* Explain: what the datapath does with a new connection of the pod's in `dir` with `peer`
 * (proto, destination port; ICMP: an echo request). Runs the loaded program on a built packet
 * (BPF_PROG_RUN in explain mode: nothing is counted or recorded), so the answer is the
 * datapath's. */
int np_bpf_verdict_test(struct np_bpf *b, uint32_t slot, enum tank_dir dir,
			const struct np_addr *peer, uint16_t port, uint8_t proto,
			struct np_verdict *ret, struct diag *d);

/* ---- BPF accounting, flows, events, tombstones ------------------------------------------- */

struct np_rule_hit {
	enum tank_dir dir;
	uint32_t rule;
	struct tank_counter count;
};

struct np_bpf_stats2 {
	struct tank_totals pod[TANK_DIR_MAX];  /* all NICs */
	unsigned int n_nics;                   /* nic[] entries used (highest index seen + 1) */
	struct {
		char name[TANK_NIC_NAME_MAX];  /* "" when the NIC is no longer attached */
		struct tank_totals dir[TANK_DIR_MAX];
	} nic[TANK_NICS_MAX];
	struct np_rule_hit *hits; /* sorted by dir, rule; owned, np_bpf_stats2_free() */
	size_t n_hits;
};

/* Everything counted for a slot, summed over CPUs. */
int np_bpf_pod_stats2(struct np_bpf *b, uint32_t slot, struct np_bpf_stats2 *ret,
		      struct diag *d);
void np_bpf_stats2_free(struct np_bpf_stats2 *s);

struct np_flow {
	enum tank_family family;
	uint8_t proto;
	struct np_addr pod, peer;  /* full-length prefixes */
	uint16_t pod_port, peer_port; /* host order; ICMP echo: identifier, 0 */
	enum tank_dir dir;         /* who opened it */
	enum tank_verdict verdict; /* PASS, or AUDIT */
	uint32_t rule, nic;
	struct tank_counter count[TANK_DIR_MAX];
	uint64_t idle_ms, age_ms;  /* since the last packet, since creation */
};

/* Call cb for every live flow of the slot (in no particular order; sort for top talkers). */
int np_bpf_flows(struct np_bpf *b, uint32_t slot, int (*cb)(const struct np_flow *, void *),
		 void *data);

struct np_bpf_global {
	uint64_t flows_live, flows_new, flows_deleted, flows_expired, flows_evicted;
	uint64_t ev_sent, ev_lost, ev_suppressed;
};

int np_bpf_global_stats(struct np_bpf *b, struct np_bpf_global *ret, struct diag *d);

/* Drop events: an fd for epoll (readable when events wait), and a poll that calls cb for each
 * (timeout_ms 0: do not wait). Returns the number of events, or -errno / cb's negative return. */
int np_bpf_events_fd(struct np_bpf *b);
int np_bpf_events_poll(struct np_bpf *b, int (*cb)(const struct tank_event *, void *),
		       void *data, int timeout_ms);

/* Tombstones: kept ttl_ms after the pod's unregister (default 1 h); expired ones are removed
 * whenever tombstones are written or read. get: -ENOENT when there is none; remove: read once. */
void np_bpf_tombstone_ttl_set(struct np_bpf *b, uint64_t ttl_ms);
int np_bpf_tombstone_get(struct np_bpf *b, const char *uid, bool remove, struct tank_tomb *ret);
/* Every unexpired tombstone (kept in the pinned map, so also those of pods deleted before a
 * restart), in no particular order; cb's negative return stops the walk and is returned. */
int np_bpf_tombstones(struct np_bpf *b,
		      int (*cb)(const char *uid, const struct tank_tomb *t, void *data), void *data);

/* ---- netlink layer (inside netplane/; declared here for the unit tests) ----------------------
 *
 * Builders turn a plain struct into one rtnetlink message appended to a struct np_msgs;
 * np_nl_talk() is the one place that sends them (as one batch) and reads the answers: it sets
 * sequence numbers and NLM_F_ACK, waits for every ACK and copies the kernel's extack text of the
 * first failure into the diag. Builders return the message, or NULL (-ENOBUFS/-EINVAL in errno)
 * when there is no room or an argument is out of range.
 */
struct nlmsghdr;
struct np_nl;

#define NP_MSGS_BUF 8192 /* a batch: ~40 of the messages below */

struct np_msgs {
	size_t len;
	unsigned int count;
	_Alignas(8) char buf[NP_MSGS_BUF];
};

static inline void np_msgs_init(struct np_msgs *m)
{
	m->len = 0;
	m->count = 0;
}

struct np_route {
	struct np_addr dst; /* family and prefix; 0.0.0.0/0 (::/0) is the default route */
	struct np_addr gw;  /* gw.family == 0: no gateway */
	int oif;
	uint8_t scope;     /* RT_SCOPE_* */
	uint8_t protocol;  /* RTPROT_* */
	uint32_t nh_flags; /* RTNH_F_ONLINK */
	struct np_addr src; /* RTA_PREFSRC; src.family == 0: none */
	uint32_t metric;    /* RTA_PRIORITY; 0: the kernel's default */
};

/* A link as RTM_NEWLINK describes it (reply to RTM_GETLINK). */
struct np_link {
	int ifindex;
	unsigned int flags; /* IFF_* */
	unsigned int mtu;
	char ifname[16];
	/* filled where the reply has them (zero / "" otherwise): */
	int link;                  /* IFLA_LINK: the parent's ifindex (macvlan, veth peer) */
	int link_netnsid;          /* IFLA_LINK_NETNSID, -1 when absent (parent in this netns) */
	char kind[16];             /* IFLA_INFO_KIND: "macvlan", "veth", ... */
	uint32_t macvlan_mode;     /* IFLA_MACVLAN_MODE (MACVLAN_MODE_BRIDGE = 4) */
	uint8_t mac[6];            /* IFLA_ADDRESS when it is 6 bytes */
};

/* RTM_NEWLINK (create, exclusive): macvlan in bridge mode, s->pod_ifname created inside
 * s->pod_netns_fd on parent_ifindex (of the calling netns), with mac (6 bytes) and mtu (0: the
 * parent's). With pod_netns_fd < 0 it stays in the calling netns (the host shim). */
struct nlmsghdr *np_msg_macvlan_new(struct np_msgs *m, const char *ifname, int netns_fd,
				    int parent_ifindex, const uint8_t *mac, unsigned int mtu);
/* RTM_GETLINK by ifindex. */
struct nlmsghdr *np_msg_link_get_index(struct np_msgs *m, int ifindex);
/* RTM_NEWADDR with NLM_F_CREATE | NLM_F_REPLACE (idempotent); rt_priority: the metric of the
 * prefix route (IFA_RT_PRIORITY), 0 for the kernel's default. */
struct nlmsghdr *np_msg_addr_replace(struct np_msgs *m, int ifindex, const struct np_addr *a,
				     uint8_t scope, uint32_t flags, uint32_t rt_priority);
/* RTM_DELADDR. */
struct nlmsghdr *np_msg_addr_del(struct np_msgs *m, int ifindex, const struct np_addr *a);
/* RTM_GETADDR dump of one family (AF_UNSPEC: both). */
struct nlmsghdr *np_msg_addr_dump(struct np_msgs *m, int family);
/* RTM_NEWROUTE with NLM_F_CREATE | NLM_F_REPLACE, main table. */
struct nlmsghdr *np_msg_route_replace(struct np_msgs *m, const struct np_route *r);
/* RTM_DELROUTE of dst (with oif when non-zero), main table. */
struct nlmsghdr *np_msg_route_del(struct np_msgs *m, const struct np_route *r);
/* RTM_GETROUTE dump of one family. */
struct nlmsghdr *np_msg_route_dump(struct np_msgs *m, int family);

/* An address as RTM_NEWADDR / RTM_DELADDR describe it. */
struct np_ifaddr {
	int ifindex;
	uint8_t scope;
	uint32_t flags; /* IFA_FLAGS, or ifa_flags */
	struct np_addr addr; /* IFA_LOCAL, else IFA_ADDRESS */
};
int np_msg_addr_parse(const struct nlmsghdr *nlh, struct np_ifaddr *ret);

/* A main-table unicast route as RTM_NEWROUTE describes it (other tables/types: -ENOENT). */
struct np_route_info {
	struct np_addr dst;
	int oif;
	uint32_t metric; /* RTA_PRIORITY */
};
int np_msg_route_parse(const struct nlmsghdr *nlh, struct np_route_info *ret);

/* RTM_NEWLINK (create, exclusive): veth s->host_ifname with its peer s->pod_ifname created
 * inside s->pod_netns_fd (IFLA_INFO_DATA / VETH_INFO_PEER / IFLA_NET_NS_FD). */
struct nlmsghdr *np_msg_veth_new(struct np_msgs *m, const struct np_veth_spec *s);
/* RTM_GETLINK by name. */
struct nlmsghdr *np_msg_link_get(struct np_msgs *m, const char *ifname);
/* RTM_NEWLINK setting IFF_UP, by ifindex (or by name when ifindex is 0). */
struct nlmsghdr *np_msg_link_up(struct np_msgs *m, int ifindex, const char *ifname);
/* RTM_DELLINK by ifindex (or by name when ifindex is 0). */
struct nlmsghdr *np_msg_link_del(struct np_msgs *m, int ifindex, const char *ifname);
/* RTM_NEWADDR (create, exclusive) with IFA_FLAGS (IFA_F_NODAD, IFA_F_NOPREFIXROUTE ...). */
struct nlmsghdr *np_msg_addr_new(struct np_msgs *m, int ifindex, const struct np_addr *a,
				 uint8_t scope, uint32_t flags);
/* RTM_NEWROUTE (create, exclusive) in the main table. */
struct nlmsghdr *np_msg_route_new(struct np_msgs *m, const struct np_route *r);
/* Parse an RTM_NEWLINK (or RTM_DELLINK) message. */
int np_msg_link_parse(const struct nlmsghdr *nlh, struct np_link *ret);

/* RTM_GETLINK by name on nl's netns (-ENODEV when missing). */
int np_link_get(struct np_nl *nl, const char *ifname, struct np_link *ret, struct diag *d);

/* What the kernel has of a NIC: the link ifname in netns_fd (< 0: the calling netns), whether
 * it is up, its kind and MAC, and which of the `want` addresses (n <= 32) it lacks (bit i of
 * missing: want[i], compared with its prefix). A missing link is not an error (exists false). */
struct np_nic_seen {
	bool exists, up;
	int ifindex;
	uint8_t mac[6];
	char kind[16];
	uint32_t missing;
};
int np_nic_observe(int netns_fd, const char *ifname, const struct np_addr *want, size_t n,
		   struct np_nic_seen *ret, struct diag *d);
/* Put address a on the link ifname of the calling netns (replace: idempotent; IPv6 without
 * DAD). */
int np_addr_ensure(const char *ifname, const struct np_addr *a, struct diag *d);

/* A NETLINK_ROUTE socket in netns_fd (< 0: the calling thread's netns). */
int np_nl_open(int netns_fd, struct np_nl **ret, struct diag *d);
void np_nl_close(struct np_nl *nl);
/* Send the batch, call cb for every reply message that is not an ACK (may be NULL); returns the
 * first error (its request type and extack text in d) after all answers are in, or cb's first
 * negative return. */
int np_nl_talk(struct np_nl *nl, struct np_msgs *m, int (*cb)(const struct nlmsghdr *, void *),
	       void *data, struct diag *d);
/* An event socket in netns_fd (< 0: the calling thread's): non-blocking, subscribed to the
 * RTNLGRP_* groups listed, with a large receive buffer. Not for np_nl_talk(). */
int np_nl_open_events(int netns_fd, const unsigned int *groups, size_t n_groups,
		      struct np_nl **ret, struct diag *d);
int np_nl_fd(const struct np_nl *nl);
/* Read every pending datagram of an event socket without blocking, calling cb per message from
 * the kernel; returns cb's first negative return, -ENOBUFS after an overrun (the rest is still
 * read), or 0. */
int np_nl_read_events(struct np_nl *nl, int (*cb)(const struct nlmsghdr *, void *), void *data,
		      struct diag *d);
/* For the builders: start a message of at most `need` bytes at the end of the batch (NULL and
 * errno ENOBUFS when it does not fit), then close it with np_msgs_end(). */
struct nlmsghdr *np_msgs_put(struct np_msgs *m, uint16_t type, uint16_t flags, size_t need);
struct nlmsghdr *np_msgs_end(struct np_msgs *m, struct nlmsghdr *nlh);
/* A socket created inside netns_fd: the calling thread setns()es in and back (and aborts if it
 * cannot get back: going on in the pod's netns would configure it as if it were the host). */
int np_netns_socket(int netns_fd, int domain, int type, int protocol, struct diag *d);

#endif
