/* netkit.c - netkit NICs: a probe for kernel support and the routed pair where it exists. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/pair_int.h"

/* uapi of Linux 6.7+ (linux/if_link.h); Debian 12's headers predate netkit */
#define NK_IFLA_NETKIT_PEER_INFO 1
#define NK_IFLA_NETKIT_POLICY 3
#define NK_IFLA_NETKIT_PEER_POLICY 4
#define NK_IFLA_NETKIT_MODE 5
#define NK_NETKIT_PASS 0
#define NK_NETKIT_DROP 2
#define NK_NETKIT_L3 1

#define NETKIT_MSG_MAX 256

/*
 * RTM_NEWLINK kind "netkit": primary `host` in the calling netns, peer `pod` in netns_fd, in
 * `mode` (L3; the probe's is invalid). policy: what both devices do with a packet while no
 * program is attached to them (NK_NETKIT_DROP: the blackhole until tankd's links are in).
 */
static struct nlmsghdr *netkit_msg(struct np_msgs *m, const char *host, const char *pod,
				   int netns_fd, unsigned int mtu, uint32_t mode, uint32_t policy)
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
	/* the primary's default acts on what the host sends the pod, the peer's on what the pod
	 * sends; a program attached there decides instead (its "next" passes) */
	mnl_attr_put_u32(nlh, NK_IFLA_NETKIT_POLICY, policy);
	mnl_attr_put_u32(nlh, NK_IFLA_NETKIT_PEER_POLICY, policy);
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
	if (!netkit_msg(&m, "tank/probe", "tank/probe", -1, 0, 0xff, NK_NETKIT_PASS)) {
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

/* ---- the routed pair: the same addressing as a routed veth ----------------------------------
 * Not exercised on the development kernel (6.18 built without netkit): on such hosts the call
 * stops at the probe. */

struct nlmsghdr *np_netkit_create_msg(struct np_msgs *m, const struct np_veth_spec *s)
{
	return netkit_msg(m, s->host_ifname, s->pod_ifname, s->pod_netns_fd, s->mtu, NK_NETKIT_L3,
			  s->blackhole ? NK_NETKIT_DROP : NK_NETKIT_PASS);
}

int np_netkit_setup(const struct np_veth_spec *s, struct np_nic_state *ret, struct diag *d)
{
	if (!np_netkit_supported())
		return diag_fail(d, -EOPNOTSUPP,
				 "netkit %s: this kernel has no netkit links (Linux 6.7 or later "
				 "with CONFIG_NETKIT); use \"mode\": \"veth\" instead",
				 s->host_ifname ? s->host_ifname : "?");
	return np_routed_pair_setup(s, "netkit", np_netkit_create_msg, ret, d);
}
