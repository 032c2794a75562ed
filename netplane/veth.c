/* veth.c - the routed veth NIC: pair created into the pod netns, gateway, host routes, defaults. */
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/pair_int.h"

static int pair_check(const struct np_veth_spec *s, const char *kind, struct diag *d)
{
	if (!np_ifname_valid(s->host_ifname))
		return diag_fail(d, -EINVAL, "%s: invalid host interface name", kind);
	if (!np_ifname_valid(s->pod_ifname))
		return diag_fail(d, -EINVAL, "%s: invalid pod interface name", kind);
	if (s->pod_netns_fd < 0)
		return diag_fail(d, -EBADF, "%s %s: no pod netns", kind, s->host_ifname);
	if (s->n_addrs > NP_ADDRS_MAX || (s->n_addrs && !s->addrs))
		return diag_fail(d, -E2BIG, "%s %s: at most %d addresses", kind, s->host_ifname,
				 NP_ADDRS_MAX);
	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct np_addr *a = &s->addrs[i];

		if ((a->family != AF_INET && a->family != AF_INET6) ||
		    a->prefix > (a->family == AF_INET ? 32 : 128))
			return diag_fail(d, -EINVAL, "%s %s: address %zu is invalid",
					 kind, s->host_ifname, i);
	}
	return 0;
}

static bool veth_has_family(const struct np_veth_spec *s, int family)
{
	for (size_t i = 0; i < s->n_addrs; i++)
		if (s->addrs[i].family == family)
			return true;
	return false;
}

static struct np_addr gw_addr(int family, uint8_t prefix)
{
	struct np_addr a = { .family = family, .prefix = prefix };

	if (family == AF_INET)
		inet_pton(AF_INET, NP_VETH_GW4, &a.v4);
	else
		inet_pton(AF_INET6, NP_VETH_GW6, &a.v6);
	return a;
}

/* Host side (already up): link-local gateway addresses, a /32 (/128) route to each pod address. */
static int build_host(struct np_msgs *m, const struct np_veth_spec *s, int ifindex)
{
	struct np_addr gw4 = gw_addr(AF_INET, 32), gw6 = gw_addr(AF_INET6, 64);

	if (!np_msg_addr_new(m, ifindex, &gw4, RT_SCOPE_LINK, 0))
		return -errno;
	if (veth_has_family(s, AF_INET6) &&
	    !np_msg_addr_new(m, ifindex, &gw6, RT_SCOPE_LINK, IFA_F_NODAD))
		return -errno;
	for (size_t i = 0; i < s->n_addrs; i++) {
		struct np_route r = {
			.dst = s->addrs[i],
			.oif = ifindex,
			/* IPv6 routes have no scope; the kernel wants universe there */
			.scope = s->addrs[i].family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
			.protocol = RTPROT_STATIC,
		};

		r.dst.prefix = r.dst.family == AF_INET ? 32 : 128;
		if (!np_msg_route_new(m, &r))
			return -errno;
	}
	return 0;
}

/*
 * Pod side: addresses, up, default routes via the host's link-local gateway. The addresses
 * carry IFA_F_NOPREFIXROUTE: a routed veth has no neighbours, so everything, the pod's own
 * subnet included, goes through the gateway (the host routes between pods).
 */
static int build_pod(struct np_msgs *m, const struct np_veth_spec *s, int ifindex)
{
	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct np_addr *a = &s->addrs[i];
		uint32_t flags = IFA_F_NOPREFIXROUTE | (a->family == AF_INET6 ? IFA_F_NODAD : 0);

		if (!np_msg_addr_new(m, ifindex, a, RT_SCOPE_UNIVERSE, flags))
			return -errno;
	}
	if (!np_msg_link_up(m, ifindex, NULL))
		return -errno;
	if (veth_has_family(s, AF_INET)) {
		struct np_route r = {
			.dst = { .family = AF_INET },
			.gw = gw_addr(AF_INET, 32),
			.oif = ifindex,
			.scope = RT_SCOPE_UNIVERSE,
			.protocol = RTPROT_STATIC,
			.nh_flags = RTNH_F_ONLINK,
		};

		if (!np_msg_route_new(m, &r))
			return -errno;
	}
	if (veth_has_family(s, AF_INET6)) {
		struct np_route r = {
			.dst = { .family = AF_INET6 },
			.gw = gw_addr(AF_INET6, 128),
			.oif = ifindex,
			.scope = RT_SCOPE_UNIVERSE,
			.protocol = RTPROT_STATIC,
		};

		if (!np_msg_route_new(m, &r))
			return -errno;
	}
	return 0;
}

static void veth_undo(struct np_nl *host, const struct np_veth_spec *s, int host_ifindex)
{
	struct np_msgs m;

	/* deleting one end deletes the pair, addresses and routes with it */
	np_msgs_init(&m);
	if (np_msg_link_del(&m, host_ifindex, s->host_ifname))
		np_nl_talk(host, &m, NULL, NULL, NULL);
}

/*
 * A routed pair of any kind (veth, netkit): `create` appends the one RTM_NEWLINK that makes the
 * pair with its peer born in the pod netns; the addressing is the same for every kind.
 */
int np_routed_pair_setup(const struct np_veth_spec *s, const char *kind,
			 struct nlmsghdr *(*create)(struct np_msgs *, const struct np_veth_spec *),
			 struct np_nic_state *ret, struct diag *d)
{
	struct np_nl *host = NULL, *pod = NULL;
	struct np_link hl = {}, pl = {};
	bool created = false;
	struct np_msgs m;
	int r;

	r = pair_check(s, kind, d);
	if (r < 0)
		return r;

	r = np_nl_open(-1, &host, d);
	if (r < 0)
		goto out;
	r = np_nl_open(s->pod_netns_fd, &pod, d);
	if (r < 0)
		goto out;

	/* 1. the pair, its peer born inside the pod netns under its final name */
	np_msgs_init(&m);
	if (!create(&m, s)) {
		r = diag_fail(d, -errno, "cannot build the request");
		goto out;
	}
	r = np_nl_talk(host, &m, NULL, NULL, d);
	if (r < 0)
		goto out;
	created = true;

	/* 2. both ifindexes (needed by every address and route message) */
	r = np_link_get(host, s->host_ifname, &hl, d);
	if (r < 0)
		goto out;
	r = np_link_get(pod, s->pod_ifname, &pl, d);
	if (r < 0) {
		diag_prefix(d, "pod side: ");
		goto out;
	}

	/* 3. host side in one batch */
	np_msgs_init(&m);
	r = build_host(&m, s, hl.ifindex);
	if (r < 0) {
		diag_fail(d, r, "host side: cannot build the requests");
		goto out;
	}
	r = np_nl_talk(host, &m, NULL, NULL, d);
	if (r < 0) {
		diag_prefix(d, "host side: ");
		goto out;
	}

	/* 4. pod side in one batch, on the socket opened inside the pod netns */
	np_msgs_init(&m);
	r = build_pod(&m, s, pl.ifindex);
	if (r < 0) {
		diag_fail(d, r, "pod side: cannot build the requests");
		goto out;
	}
	r = np_nl_talk(pod, &m, NULL, NULL, d);
	if (r < 0) {
		diag_prefix(d, "pod side: ");
		goto out;
	}

	ret->host_ifindex = hl.ifindex;
	ret->pod_ifindex = pl.ifindex;
out:
	if (r < 0) {
		if (created)
			veth_undo(host, s, hl.ifindex);
		diag_prefix(d, "%s %s/%s: ", kind, s->host_ifname, s->pod_ifname);
	}
	np_nl_close(pod);
	np_nl_close(host);
	return r;
}

static struct nlmsghdr *veth_create(struct np_msgs *m, const struct np_veth_spec *s)
{
	return np_msg_veth_new(m, s);
}

int np_veth_setup(const struct np_veth_spec *s, struct np_nic_state *ret, struct diag *d)
{
	return np_routed_pair_setup(s, "veth", veth_create, ret, d);
}
