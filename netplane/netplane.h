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

/* pin_dir NULL: /sys/fs/bpf/tank. A pinned map of another layout under a current name fails
 * with -EINVAL (libbpf's reason in d). */
int np_bpf_open(const char *pin_dir, struct np_bpf **ret, struct diag *d);
void np_bpf_close(struct np_bpf *b);
/* "tcx" or "clsact". */
const char *np_bpf_attach_mode(const struct np_bpf *b);
/* Override the probe's choice for later attaches: "clsact" always works, "tcx" only where the
 * probe found it (-EOPNOTSUPP otherwise). For operators' configuration and for tests. */
int np_bpf_set_attach_mode(struct np_bpf *b, const char *mode);

/* Claim a slot for a pod: writes slot -> {name, uid}; zeroes its counters if the slot was
 * not already this uid's (so a reused slot starts clean, a re-adopted pod keeps counting). */
int np_bpf_pod_register(struct np_bpf *b, uint32_t slot, const char *name, const char *uid,
			struct diag *d);
/* Attach the counting programs to a pod's host-side veth and record ifindex -> slot.
 * Idempotent: an attachment already pinned for (uid, nic) is kept. */
int np_bpf_veth_attach(struct np_bpf *b, const char *uid, const char *nic, uint32_t slot,
		       int host_ifindex, struct diag *d);
/* Remove every attachment pinned for the pod (detached before this returns), its ifindex
 * entries and the slot entry. host_ifindexes: the pod's host-side ifindexes still known (may be
 * empty): their clsact filters are removed too, unless the ifindex now belongs to another slot.
 * Entries of this slot for unlisted ifindexes are swept. Counters stay until the slot is
 * registered again. Missing pieces are not errors. */
int np_bpf_pod_unregister(struct np_bpf *b, const char *uid, uint32_t slot,
			  const int *host_ifindexes, size_t n, struct diag *d);
/* Counters of a slot, summed over CPUs. */
int np_bpf_pod_stats(struct np_bpf *b, uint32_t slot, struct tank_pod_stats *ret,
		     struct diag *d);
/* Read slot -> pod info (for re-adoption after a restart); -ENOENT if the slot is free. */
int np_bpf_pod_info(struct np_bpf *b, uint32_t slot, struct tank_pod_info *ret);

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
};

/* A link as RTM_NEWLINK describes it (reply to RTM_GETLINK). */
struct np_link {
	int ifindex;
	unsigned int flags; /* IFF_* */
	unsigned int mtu;
	char ifname[16];
};

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
/* Parse an RTM_NEWLINK message. */
int np_msg_link_parse(const struct nlmsghdr *nlh, struct np_link *ret);

/* RTM_GETLINK by name on nl's netns (-ENODEV when missing). */
int np_link_get(struct np_nl *nl, const char *ifname, struct np_link *ret, struct diag *d);

/* A NETLINK_ROUTE socket in netns_fd (< 0: the calling thread's netns). */
int np_nl_open(int netns_fd, struct np_nl **ret, struct diag *d);
void np_nl_close(struct np_nl *nl);
/* Send the batch, call cb for every reply message that is not an ACK (may be NULL); returns the
 * first error (its request type and extack text in d) after all answers are in, or cb's first
 * negative return. */
int np_nl_talk(struct np_nl *nl, struct np_msgs *m, int (*cb)(const struct nlmsghdr *, void *),
	       void *data, struct diag *d);
/* For the builders: start a message of at most `need` bytes at the end of the batch (NULL and
 * errno ENOBUFS when it does not fit), then close it with np_msgs_end(). */
struct nlmsghdr *np_msgs_put(struct np_msgs *m, uint16_t type, uint16_t flags, size_t need);
struct nlmsghdr *np_msgs_end(struct np_msgs *m, struct nlmsghdr *nlh);
/* A socket created inside netns_fd: the calling thread setns()es in and back (and aborts if it
 * cannot get back: going on in the pod's netns would configure it as if it were the host). */
int np_netns_socket(int netns_fd, int domain, int type, int protocol, struct diag *d);

#endif
