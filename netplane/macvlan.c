/* macvlan.c - macvlan NICs created inside the pod netns, stable MACs, the "auto" parent. */
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/netplane.h"

/* FNV-1a 64: tiny, stable across hosts, architectures and releases (no library offers one). */
static uint64_t fnv1a(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void np_mac_derive(const char *pod_uid, const char *nic, uint8_t out[6])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = fnv1a(h, pod_uid ? pod_uid : "", strlen(pod_uid ? pod_uid : "") + 1);
	h = fnv1a(h, nic ? nic : "", strlen(nic ? nic : ""));
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)(h >> (8 * i));
	/* locally administered (bit 1), unicast (bit 0 clear) */
	out[0] = (uint8_t)((out[0] & 0xfc) | 0x02);
}

static bool gw_is_onlink(const struct np_macvlan_spec *s, const struct np_addr *gw)
{
	if (gw->family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&gw->v6))
		return false; /* link-local gateways go with the oif */
	for (size_t i = 0; i < s->n_addrs; i++)
		if (np_addr_in(&s->addrs[i], gw))
			return false;
	return true;
}

static int macvlan_check(const struct np_macvlan_spec *s, struct diag *d)
{
	bool gw_family[2] = { false, false };

	if (!np_ifname_valid(s->parent))
		return diag_fail(d, -EINVAL, "invalid parent interface name");
	if (!np_ifname_valid(s->pod_ifname))
		return diag_fail(d, -EINVAL, "invalid pod interface name");
	if (s->pod_netns_fd < 0)
		return diag_fail(d, -EBADF, "no pod netns");
	if (s->mac && ((s->mac[0] & 1) || !memcmp(s->mac, "\0\0\0\0\0\0", 6)))
		return diag_fail(d, -EINVAL, "the MAC must be a non-zero unicast address");
	if (!s->mac && !s->pod_uid)
		return diag_fail(d, -EINVAL, "a pod uid is needed to derive the MAC");
	if (s->n_addrs > NP_ADDRS_MAX || (s->n_addrs && !s->addrs))
		return diag_fail(d, -E2BIG, "at most %d addresses", NP_ADDRS_MAX);
	if (s->n_routes > NP_ROUTES_MAX || (s->n_routes && !s->routes))
		return diag_fail(d, -E2BIG, "at most %d routes", NP_ROUTES_MAX);
	if (s->n_gateways > 2 || (s->n_gateways && !s->gateways))
		return diag_fail(d, -E2BIG, "at most one gateway per family");
	for (size_t i = 0; i < s->n_addrs; i++)
		if (!np_addr_valid(&s->addrs[i]))
			return diag_fail(d, -EINVAL, "address %zu is invalid", i);
	for (size_t i = 0; i < s->n_gateways; i++) {
		const struct np_addr *g = &s->gateways[i];
		int k = g->family == AF_INET6;

		if (!np_addr_valid(g))
			return diag_fail(d, -EINVAL, "gateway %zu is invalid", i);
		if (gw_family[k])
			return diag_fail(d, -EINVAL, "two %s gateways", k ? "IPv6" : "IPv4");
		gw_family[k] = true;
	}
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct np_route_via *r = &s->routes[i];

		if (!np_addr_valid(&r->dst) || (r->gw.family && (r->gw.family != r->dst.family ||
							      !np_addr_valid(&r->gw))))
			return diag_fail(d, -EINVAL, "route %zu is invalid", i);
	}
	return 0;
}

static int add_route(struct np_msgs *m, const struct np_macvlan_spec *s, int ifindex,
		     const struct np_addr *dst, const struct np_addr *gw)
{
	struct np_route r = {
		.dst = *dst,
		.oif = ifindex,
		.scope = RT_SCOPE_UNIVERSE,
		.protocol = RTPROT_STATIC,
	};

	if (gw && gw->family) {
		r.gw = *gw;
		if (gw_is_onlink(s, gw))
			r.nh_flags = RTNH_F_ONLINK;
	} else if (dst->family == AF_INET) {
		r.scope = RT_SCOPE_LINK; /* a device route; IPv6 routes have no scope */
	}
	return np_msg_route_new(m, &r) ? 0 : -errno;
}

/* Pod side, in order: up first (IPv4 prefix routes and gateway checks need a running link),
 * addresses, default routes, extra routes. */
static int build_pod(struct np_msgs *m, const struct np_macvlan_spec *s, int ifindex)
{
	if (!np_msg_link_up(m, ifindex, NULL))
		return -errno;
	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct np_addr *a = &s->addrs[i];

		if (!np_msg_addr_new(m, ifindex, a, RT_SCOPE_UNIVERSE,
				     a->family == AF_INET6 ? IFA_F_NODAD : 0))
			return -errno;
	}
	for (size_t i = 0; i < s->n_gateways; i++) {
		struct np_addr def = { .family = s->gateways[i].family };
		int r = add_route(m, s, ifindex, &def, &s->gateways[i]);

		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < s->n_routes; i++) {
		int r = add_route(m, s, ifindex, &s->routes[i].dst, &s->routes[i].gw);

		if (r < 0)
			return r;
	}
	return 0;
}

int np_macvlan_setup(const struct np_macvlan_spec *s, struct np_nic_state *ret, struct diag *d)
{
	struct np_nl *host = NULL, *pod = NULL;
	struct np_link parent = {}, pl = {};
	bool created = false;
	unsigned int mtu = 0;
	struct np_msgs m;
	uint8_t mac[6];
	int r;

	r = macvlan_check(s, d);
	if (r < 0)
		goto out;
	if (s->mac)
		memcpy(mac, s->mac, sizeof(mac));
	else
		np_mac_derive(s->pod_uid, s->pod_ifname, mac);

	r = np_nl_open(-1, &host, d);
	if (r < 0)
		goto out;
	r = np_nl_open(s->pod_netns_fd, &pod, d);
	if (r < 0)
		goto out;

	/* 1. the parent: its ifindex, and its MTU, which a macvlan may not exceed */
	r = np_link_get(host, s->parent, &parent, d);
	if (r < 0) {
		diag_prefix(d, "parent %s: ", s->parent);
		goto out;
	}
	if (s->mtu)
		mtu = s->mtu < parent.mtu || !parent.mtu ? s->mtu : parent.mtu;

	/* 2. the NIC, born inside the pod netns under its final name */
	np_msgs_init(&m);
	if (!np_msg_macvlan_new(&m, s->pod_ifname, s->pod_netns_fd, parent.ifindex, mac, mtu)) {
		r = diag_fail(d, -errno, "cannot build the request");
		goto out;
	}
	r = np_nl_talk(host, &m, NULL, NULL, d);
	if (r < 0)
		goto out;
	created = true;

	/* 3. its ifindex in the pod netns */
	r = np_link_get(pod, s->pod_ifname, &pl, d);
	if (r < 0) {
		diag_prefix(d, "pod side: ");
		goto out;
	}

	/* 4. everything else in one batch on the pod netns socket */
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
	ret->host_ifindex = parent.ifindex;
	ret->pod_ifindex = pl.ifindex;
	memcpy(ret->pod_mac, pl.mac, sizeof(ret->pod_mac));
out:
	if (r < 0) {
		if (created) {
			/* deleting the link takes its addresses and routes with it */
			np_msgs_init(&m);
			if (np_msg_link_del(&m, pl.ifindex, s->pod_ifname))
				np_nl_talk(pod, &m, NULL, NULL, NULL);
		}
		diag_prefix(d, "macvlan %s on %s: ", s->pod_ifname ? s->pod_ifname : "?",
			    s->parent ? s->parent : "?");
	}
	np_nl_close(pod);
	np_nl_close(host);
	return r;
}

/* ---- "auto" parent: the interface of the default route ------------------------------------- */

struct default_pick {
	int oif;
	uint32_t metric;
};

static int default_route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct default_pick *p = data;
	struct np_route_info ri;

	if (nlh->nlmsg_type != RTM_NEWROUTE || np_msg_route_parse(nlh, &ri) < 0)
		return 0; /* other tables, types, multipath without one oif: not candidates */
	if (ri.dst.prefix != 0 || ri.oif <= 0)
		return 0;
	if (p->oif == 0 || ri.metric < p->metric) {
		p->oif = ri.oif;
		p->metric = ri.metric;
	}
	return 0;
}

static int link_by_index_cb(const struct nlmsghdr *nlh, void *data)
{
	return nlh->nlmsg_type == RTM_NEWLINK ? np_msg_link_parse(nlh, data) : 0;
}

int np_parent_auto(char out[16], struct diag *d)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct default_pick pick = {};
	struct np_nl *nl = NULL;
	struct np_link l = {};
	struct np_msgs m;
	int r;

	r = np_nl_open(-1, &nl, d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(families) && pick.oif == 0; i++) {
		np_msgs_init(&m);
		if (!np_msg_route_dump(&m, families[i])) {
			r = diag_fail(d, -errno, "cannot build the request");
			goto out;
		}
		r = np_nl_talk(nl, &m, default_route_cb, &pick, d);
		if (r < 0)
			goto out;
	}
	if (pick.oif == 0) {
		r = diag_fail(d, -ENOENT, "no default route with an interface: set the uplink in "
					  "tankd's configuration or give the NIC a parent");
		goto out;
	}
	np_msgs_init(&m);
	if (!np_msg_link_get_index(&m, pick.oif)) {
		r = diag_fail(d, -errno, "cannot build the request");
		goto out;
	}
	r = np_nl_talk(nl, &m, link_by_index_cb, &l, d);
	if (r >= 0 && l.ifindex != pick.oif)
		r = diag_fail(d, -ENODEV, "interface %d of the default route is gone", pick.oif);
	if (r >= 0)
		memcpy(out, l.ifname, sizeof(l.ifname));
out:
	if (r < 0)
		diag_prefix(d, "parent \"auto\": ");
	np_nl_close(nl);
	return r < 0 ? r : 0;
}
