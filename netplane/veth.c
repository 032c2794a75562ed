/* veth.c - the routed veth NIC: pair created into the pod netns, gateway, host routes, defaults. */
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/pair_int.h"

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

		if (!np_addr_valid(a))
			return diag_fail(d, -EINVAL, "%s %s: address %zu is invalid",
					 kind, s->host_ifname, i);
	}
	if (s->n_routes > NP_ROUTES_MAX || (s->n_routes && !s->routes))
		return diag_fail(d, -E2BIG, "%s %s: at most %d routes", kind, s->host_ifname,
				 NP_ROUTES_MAX);
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct np_route_via *r = &s->routes[i];
		struct np_addr gw = gw_addr(r->dst.family, r->dst.family == AF_INET ? 32 : 128);

		if (!np_addr_valid(&r->dst) ||
		    (r->gw.family && (r->gw.family != r->dst.family ||
				      memcmp(&r->gw.v6, &gw.v6, r->gw.family == AF_INET ? 4 : 16))))
			return diag_fail(d, -EINVAL, "%s %s: route %zu is invalid (a routed pair "
						     "routes only via its gateway %s)",
					 kind, s->host_ifname, i,
					 r->dst.family == AF_INET ? NP_VETH_GW4 : NP_VETH_GW6);
		if (!veth_has_family(s, r->dst.family))
			return diag_fail(d, -EINVAL, "%s %s: route %zu: the NIC has no address of "
						     "that family", kind, s->host_ifname, i);
	}
	return 0;
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

/* A route in the pod via the host's link-local gateway (onlink for IPv4). */
static int pod_route(struct np_msgs *m, int ifindex, const struct np_addr *dst, uint32_t metric)
{
	struct np_route r = {
		.dst = *dst,
		.gw = gw_addr(dst->family, dst->family == AF_INET ? 32 : 128),
		.oif = ifindex,
		.scope = RT_SCOPE_UNIVERSE,
		.protocol = RTPROT_STATIC,
		.nh_flags = dst->family == AF_INET ? RTNH_F_ONLINK : 0,
		.metric = metric,
	};

	return np_msg_route_new(m, &r) ? 0 : -errno;
}

/* No default route of this family here: the gateway itself, and the NIC's own subnets. */
static int pod_routes_nodefault(struct np_msgs *m, const struct np_veth_spec *s, int ifindex,
				int family)
{
	int r;

	if (family == AF_INET) {
		struct np_route gw = {
			.dst = gw_addr(AF_INET, 32),
			.oif = ifindex,
			.scope = RT_SCOPE_LINK,
			.protocol = RTPROT_STATIC,
			.metric = s->metric,
		};

		if (!np_msg_route_new(m, &gw))
			return -errno;
	}
	for (size_t i = 0; i < s->n_addrs; i++) {
		struct np_addr net = s->addrs[i];
		bool dup = false;

		if (net.family != family || net.prefix == (family == AF_INET ? 32 : 128))
			continue;
		np_addr_mask(&net);
		for (size_t k = 0; k < i && !dup; k++) {
			struct np_addr prev = s->addrs[k];

			np_addr_mask(&prev);
			dup = prev.family == net.family && prev.prefix == net.prefix &&
			      !memcmp(&prev.v6, &net.v6, family == AF_INET ? 4 : 16);
		}
		if (!dup && (r = pod_route(m, ifindex, &net, s->metric)) < 0)
			return r;
	}
	return 0;
}

/*
 * Pod side: addresses, up, default routes via the host's link-local gateway (or, where another
 * NIC has the default, the gateway and the NIC's own subnets), extra routes. The addresses
 * carry IFA_F_NOPREFIXROUTE: a routed veth has no neighbours, so everything, the pod's own
 * subnet included, goes through the gateway (the host routes between pods).
 */
static int build_pod(struct np_msgs *m, const struct np_veth_spec *s, int ifindex)
{
	static const int families[] = { AF_INET, AF_INET6 };
	int r;

	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct np_addr *a = &s->addrs[i];
		uint32_t flags = IFA_F_NOPREFIXROUTE | (a->family == AF_INET6 ? IFA_F_NODAD : 0);

		if (!np_msg_addr_new(m, ifindex, a, RT_SCOPE_UNIVERSE, flags))
			return -errno;
	}
	if (!np_msg_link_up(m, ifindex, NULL))
		return -errno;
	for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
		struct np_addr def = { .family = families[f] };
		bool nodef = families[f] == AF_INET ? s->no_default4 : s->no_default6;

		if (!veth_has_family(s, families[f]))
			continue;
		r = nodef ? pod_routes_nodefault(m, s, ifindex, families[f])
			  : pod_route(m, ifindex, &def, 0);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < s->n_routes; i++) {
		r = pod_route(m, ifindex, &s->routes[i].dst, s->metric);
		if (r < 0)
			return r;
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
	memcpy(ret->pod_mac, pl.mac, sizeof(ret->pod_mac));
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
