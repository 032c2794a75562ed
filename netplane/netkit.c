/* netkit.c - netkit NICs: a probe for kernel support and the routed pair where it exists. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/netplane.h"

/* uapi of Linux 6.7+ (linux/if_link.h); Debian 12's headers predate netkit */
#define NK_IFLA_NETKIT_PEER_INFO 1
#define NK_IFLA_NETKIT_POLICY 3
#define NK_IFLA_NETKIT_PEER_POLICY 4
#define NK_IFLA_NETKIT_MODE 5
#define NK_NETKIT_PASS 0
#define NK_NETKIT_L3 1

#define NETKIT_MSG_MAX 256

/*
 * RTM_NEWLINK kind "netkit": primary `host` in the calling netns, peer `pod` in netns_fd, L3
 * mode. mode_override != 0 puts that raw value in IFLA_NETKIT_MODE (the probe's invalid one).
 */
static struct nlmsghdr *netkit_msg(struct np_msgs *m, const char *host, const char *pod,
				   int netns_fd, unsigned int mtu, uint32_t mode)
{
	struct nlattr *linkinfo, *data, *peer;
	struct ifinfomsg *ifm, *pifm;
	struct nlmsghdr *nlh;

	nlh = np_msgs_put(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, NETKIT_MSG_MAX);
	if (!nlh)
		return NULL;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "netkit");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, NK_IFLA_NETKIT_MODE, mode);
	/* forward until tankd attaches netkit programs: DESIGN §6's blackhole default needs the
	 * BPF side to fill the policy before the pod starts */
	mnl_attr_put_u32(nlh, NK_IFLA_NETKIT_POLICY, NK_NETKIT_PASS);
	mnl_attr_put_u32(nlh, NK_IFLA_NETKIT_PEER_POLICY, NK_NETKIT_PASS);
	peer = mnl_attr_nest_start(nlh, NK_IFLA_NETKIT_PEER_INFO);
	pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, pod);
	if (netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return np_msgs_end(m, nlh);
}

/*
 * The probe creates nothing: the mode is out of range (netkit's policy rejects it before any
 * device exists) and both names are invalid (so a kernel that did not check the mode fails at
 * registration). A kernel without netkit answers "Unknown device type" (-EOPNOTSUPP) first.
 */
static bool netkit_probe(void)
{
	struct np_nl *nl = NULL;
	struct np_msgs m;
	int r;

	if (np_nl_open(-1, &nl, NULL) < 0)
		return false;
	np_msgs_init(&m);
	if (!netkit_msg(&m, "tank/probe", "tank/probe", -1, 0, 0xff)) {
		np_nl_close(nl);
		return false;
	}
	r = np_nl_talk(nl, &m, NULL, NULL, NULL);
	np_nl_close(nl);
	return r != -EOPNOTSUPP && r != -EAFNOSUPPORT;
}

bool np_netkit_supported(void)
{
	static int cached = -1; /* -1 unknown, 0 no, 1 yes; a racing second probe is harmless */
	int v = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);

	if (v < 0) {
		v = netkit_probe() ? 1 : 0;
		__atomic_store_n(&cached, v, __ATOMIC_RELEASE);
	}
	return v == 1;
}

/* ---- the routed pair (same addressing as np_veth_setup) --------------------------------------
 * Not exercised on the development kernel (6.18 built without netkit): on such hosts the call
 * stops at the probe. */

static struct np_addr gw_addr(int family, uint8_t prefix)
{
	struct np_addr a = { .family = family, .prefix = prefix };

	if (family == AF_INET)
		inet_pton(AF_INET, NP_VETH_GW4, &a.v4);
	else
		inet_pton(AF_INET6, NP_VETH_GW6, &a.v6);
	return a;
}

static bool has_family(const struct np_veth_spec *s, int family)
{
	for (size_t i = 0; i < s->n_addrs; i++)
		if (s->addrs[i].family == family)
			return true;
	return false;
}

static int build_host(struct np_msgs *m, const struct np_veth_spec *s, int ifindex)
{
	struct np_addr gw4 = gw_addr(AF_INET, 32), gw6 = gw_addr(AF_INET6, 64);

	if (!np_msg_addr_new(m, ifindex, &gw4, RT_SCOPE_LINK, 0))
		return -errno;
	if (has_family(s, AF_INET6) &&
	    !np_msg_addr_new(m, ifindex, &gw6, RT_SCOPE_LINK, IFA_F_NODAD))
		return -errno;
	for (size_t i = 0; i < s->n_addrs; i++) {
		struct np_route r = {
			.dst = s->addrs[i],
			.oif = ifindex,
			.scope = s->addrs[i].family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
			.protocol = RTPROT_STATIC,
		};

		r.dst.prefix = r.dst.family == AF_INET ? 32 : 128;
		if (!np_msg_route_new(m, &r))
			return -errno;
	}
	return 0;
}

static int build_pod(struct np_msgs *m, const struct np_veth_spec *s, int ifindex)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < s->n_addrs; i++) {
		const struct np_addr *a = &s->addrs[i];
		uint32_t flags = IFA_F_NOPREFIXROUTE | (a->family == AF_INET6 ? IFA_F_NODAD : 0);

		if (!np_msg_addr_new(m, ifindex, a, RT_SCOPE_UNIVERSE, flags))
			return -errno;
	}
	if (!np_msg_link_up(m, ifindex, NULL))
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		struct np_route r = {
			.dst = { .family = families[i] },
			.gw = gw_addr(families[i], families[i] == AF_INET ? 32 : 128),
			.oif = ifindex,
			.scope = RT_SCOPE_UNIVERSE,
			.protocol = RTPROT_STATIC,
			.nh_flags = families[i] == AF_INET ? RTNH_F_ONLINK : 0,
		};

		if (has_family(s, families[i]) && !np_msg_route_new(m, &r))
			return -errno;
	}
	return 0;
}

int np_netkit_setup(const struct np_veth_spec *s, struct np_nic_state *ret, struct diag *d)
{
	struct np_nl *host = NULL, *pod = NULL;
	struct np_link hl = {}, pl = {};
	bool created = false;
	struct np_msgs m;
	int r;

	if (!np_ifname_valid(s->host_ifname) || !np_ifname_valid(s->pod_ifname))
		return diag_fail(d, -EINVAL, "netkit: invalid interface name");
	if (s->pod_netns_fd < 0)
		return diag_fail(d, -EBADF, "netkit %s: no pod netns", s->host_ifname);
	if (s->n_addrs > NP_ADDRS_MAX || (s->n_addrs && !s->addrs))
		return diag_fail(d, -E2BIG, "netkit %s: at most %d addresses", s->host_ifname,
				 NP_ADDRS_MAX);
	if (!np_netkit_supported())
		return diag_fail(d, -EOPNOTSUPP,
				 "netkit %s: this kernel has no netkit links (Linux 6.7 or later "
				 "with CONFIG_NETKIT); use \"mode\": \"veth\" instead",
				 s->host_ifname);

	r = np_nl_open(-1, &host, d);
	if (r < 0)
		goto out;
	r = np_nl_open(s->pod_netns_fd, &pod, d);
	if (r < 0)
		goto out;
	np_msgs_init(&m);
	if (!netkit_msg(&m, s->host_ifname, s->pod_ifname, s->pod_netns_fd, s->mtu, NK_NETKIT_L3)) {
		r = diag_fail(d, -errno, "cannot build the request");
		goto out;
	}
	r = np_nl_talk(host, &m, NULL, NULL, d);
	if (r < 0)
		goto out;
	created = true;
	r = np_link_get(host, s->host_ifname, &hl, d);
	if (r < 0)
		goto out;
	r = np_link_get(pod, s->pod_ifname, &pl, d);
	if (r < 0)
		goto out;
	np_msgs_init(&m);
	r = build_host(&m, s, hl.ifindex);
	if (r >= 0)
		r = np_nl_talk(host, &m, NULL, NULL, d);
	if (r < 0) {
		diag_fail(d, r, "cannot build the requests");
		diag_prefix(d, "host side: ");
		goto out;
	}
	np_msgs_init(&m);
	r = build_pod(&m, s, pl.ifindex);
	if (r >= 0)
		r = np_nl_talk(pod, &m, NULL, NULL, d);
	if (r < 0) {
		diag_fail(d, r, "cannot build the requests");
		diag_prefix(d, "pod side: ");
		goto out;
	}
	ret->host_ifindex = hl.ifindex;
	ret->pod_ifindex = pl.ifindex;
out:
	if (r < 0) {
		if (created) {
			np_msgs_init(&m);
			if (np_msg_link_del(&m, hl.ifindex, s->host_ifname))
				np_nl_talk(host, &m, NULL, NULL, NULL);
		}
		diag_prefix(d, "netkit %s/%s: ", s->host_ifname, s->pod_ifname);
	}
	np_nl_close(pod);
	np_nl_close(host);
	return r;
}
