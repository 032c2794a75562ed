/* test_netplane_msg.c - address parsing and rtnetlink builders/parsers, checked by parsing back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <string.h>

#include "netplane/netplane.h"

/* ---- np_addr_parse ------------------------------------------------------------------------ */

static void test_addr_parse_ok(void **state _unused_)
{
	struct np_addr a;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(np_addr_parse("198.18.0.10/24", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.prefix, 24);
	assert_string_equal(inet_ntop(AF_INET, &a.v4, buf, sizeof(buf)), "198.18.0.10");

	assert_int_equal(np_addr_parse("198.18.0.10", &a), 0);
	assert_int_equal(a.prefix, 32);
	assert_int_equal(np_addr_parse("0.0.0.0/0", &a), 0);
	assert_int_equal(a.prefix, 0);

	assert_int_equal(np_addr_parse("2001:db8:1::10/64", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.prefix, 64);
	assert_string_equal(inet_ntop(AF_INET6, &a.v6, buf, sizeof(buf)), "2001:db8:1::10");

	assert_int_equal(np_addr_parse("2001:db8::1", &a), 0);
	assert_int_equal(a.prefix, 128);
	assert_int_equal(np_addr_parse("::/0", &a), 0);
	assert_int_equal(a.prefix, 0);
	assert_int_equal(np_addr_parse("fe80::1/128", &a), 0);
	assert_int_equal(a.prefix, 128);
}

static void test_addr_parse_bad(void **state _unused_)
{
	static const char *const bad[] = {
		"",
		"/24",
		"198.18.0.10/",
		"198.18.0.10/33",
		"198.18.0.10/-1",
		"198.18.0.10/+8",
		"198.18.0.10/ 8",
		"198.18.0.10/08",
		"198.18.0.10/1000",
		"198.18.0.10/24/1",
		"198.18.0",
		"198.18.0.256",
		"198.018.0.1",
		" 198.18.0.1",
		"2001:db8::1/129",
		"2001:db8:::1",
		"2001:db8::1%eth0",
		"eth0",
		"0123456789012345678901234567890123456789012345678901234567890123/8",
	};
	struct np_addr a = { .family = 1234 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (np_addr_parse(bad[i], &a) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(a.family, 1234); /* untouched on failure */
	assert_int_equal(np_addr_parse(NULL, &a), -EINVAL);
}

static void test_ifname_valid(void **state _unused_)
{
	assert_true(np_ifname_valid("eth0"));
	assert_true(np_ifname_valid("tk3f2a9c01"));
	assert_true(np_ifname_valid("abcdefghijklmno")); /* 15 */
	assert_false(np_ifname_valid("abcdefghijklmnop")); /* 16 */
	assert_false(np_ifname_valid(""));
	assert_false(np_ifname_valid(NULL));
	assert_false(np_ifname_valid("."));
	assert_false(np_ifname_valid(".."));
	assert_false(np_ifname_valid("a/b"));
	assert_false(np_ifname_valid("a:b"));
	assert_false(np_ifname_valid("a b"));
	assert_false(np_ifname_valid("a\tb"));
}

/* ---- builders, parsed back with libmnl ------------------------------------------------------ */

struct attrs {
	const struct nlattr *tb[64];
};

static int collect_cb(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type < ARRAY_SIZE(a->tb))
		a->tb[type] = attr;
	return MNL_CB_OK;
}

static const struct nlmsghdr *first_msg(const struct np_msgs *m)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)m->buf;

	assert_true(m->count >= 1);
	assert_true(mnl_nlmsg_ok(nlh, (int)m->len));
	return nlh;
}

static void test_veth_msg(void **state _unused_)
{
	const struct np_veth_spec s = {
		.host_ifname = "tk0123456789",
		.pod_ifname = "eth0",
		.pod_netns_fd = 42,
		.mtu = 1400,
	};
	struct attrs top = {}, info = {}, data = {}, peer = {};
	const struct ifinfomsg *ifm, *pifm;
	const struct nlattr *pa;
	const struct nlmsghdr *nlh;
	struct np_msgs m;

	np_msgs_init(&m);
	assert_non_null(np_msg_veth_new(&m, &s));
	assert_int_equal(m.count, 1);
	nlh = first_msg(&m);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
	assert_int_equal(m.len, NLMSG_ALIGN(nlh->nlmsg_len));

	ifm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(ifm->ifi_flags & IFF_UP, IFF_UP);
	assert_int_equal(ifm->ifi_change & IFF_UP, IFF_UP);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*ifm), collect_cb, &top), MNL_CB_OK);
	assert_string_equal(mnl_attr_get_str(top.tb[IFLA_IFNAME]), "tk0123456789");
	assert_int_equal(mnl_attr_get_u32(top.tb[IFLA_MTU]), 1400);
	assert_null(top.tb[IFLA_NET_NS_FD]); /* the host side stays in the calling netns */

	assert_non_null(top.tb[IFLA_LINKINFO]);
	assert_int_equal(mnl_attr_parse_nested(top.tb[IFLA_LINKINFO], collect_cb, &info),
			 MNL_CB_OK);
	assert_string_equal(mnl_attr_get_str(info.tb[IFLA_INFO_KIND]), "veth");
	assert_non_null(info.tb[IFLA_INFO_DATA]);
	assert_int_equal(mnl_attr_parse_nested(info.tb[IFLA_INFO_DATA], collect_cb, &data),
			 MNL_CB_OK);

	/* VETH_INFO_PEER: a struct ifinfomsg, then the peer's attributes */
	pa = data.tb[VETH_INFO_PEER];
	assert_non_null(pa);
	assert_true(mnl_attr_get_payload_len(pa) > sizeof(struct ifinfomsg));
	pifm = mnl_attr_get_payload(pa);
	assert_int_equal(pifm->ifi_family, AF_UNSPEC);
	assert_int_equal(pifm->ifi_index, 0);
	assert_int_equal(mnl_attr_parse_payload((const char *)pifm + sizeof(*pifm),
						mnl_attr_get_payload_len(pa) - sizeof(*pifm),
						collect_cb, &peer),
			 MNL_CB_OK);
	assert_string_equal(mnl_attr_get_str(peer.tb[IFLA_IFNAME]), "eth0");
	assert_int_equal(mnl_attr_get_u32(peer.tb[IFLA_NET_NS_FD]), 42);
	assert_int_equal(mnl_attr_get_u32(peer.tb[IFLA_MTU]), 1400);
}

/* netkit: L3 pair, the peer into the pod netns, and both default policies a blackhole when the
 * datapath will attach its programs (fail-closed until then), a pass when it will not. */
static void test_netkit_msg(void **state _unused_)
{
	struct np_veth_spec s = { .host_ifname = "tk0123456789", .pod_ifname = "eth0",
				  .pod_netns_fd = 42, .blackhole = true };

	for (int pass = 0; pass < 2; pass++) {
		struct attrs top = {}, info = {}, data = {}, peer = {};
		const struct nlattr *pa;
		const struct nlmsghdr *nlh;
		uint32_t want = s.blackhole ? 2 /* NETKIT_DROP */ : 0 /* NETKIT_PASS */;
		struct np_msgs m;

		np_msgs_init(&m);
		assert_non_null(np_netkit_create_msg(&m, &s));
		nlh = first_msg(&m);
		assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
		assert_int_equal(mnl_attr_parse(nlh, sizeof(struct ifinfomsg), collect_cb, &top),
				 MNL_CB_OK);
		assert_string_equal(mnl_attr_get_str(top.tb[IFLA_IFNAME]), "tk0123456789");
		assert_int_equal(mnl_attr_parse_nested(top.tb[IFLA_LINKINFO], collect_cb, &info),
				 MNL_CB_OK);
		assert_string_equal(mnl_attr_get_str(info.tb[IFLA_INFO_KIND]), "netkit");
		assert_int_equal(mnl_attr_parse_nested(info.tb[IFLA_INFO_DATA], collect_cb, &data),
				 MNL_CB_OK);
		/* uapi IFLA_NETKIT_*: 3 POLICY, 4 PEER_POLICY, 5 MODE (1: L3), 1 PEER_INFO */
		assert_int_equal(mnl_attr_get_u32(data.tb[3]), want);
		assert_int_equal(mnl_attr_get_u32(data.tb[4]), want);
		assert_int_equal(mnl_attr_get_u32(data.tb[5]), 1);
		pa = data.tb[1];
		assert_non_null(pa);
		assert_int_equal(mnl_attr_parse_payload((const char *)mnl_attr_get_payload(pa) +
								sizeof(struct ifinfomsg),
							mnl_attr_get_payload_len(pa) -
								sizeof(struct ifinfomsg),
							collect_cb, &peer),
				 MNL_CB_OK);
		assert_string_equal(mnl_attr_get_str(peer.tb[IFLA_IFNAME]), "eth0");
		assert_int_equal(mnl_attr_get_u32(peer.tb[IFLA_NET_NS_FD]), 42);
		s.blackhole = false;
	}
}

static void test_veth_msg_bad(void **state _unused_)
{
	struct np_veth_spec s = { .host_ifname = "ok", .pod_ifname = "eth0", .pod_netns_fd = 3 };
	struct np_msgs m;

	np_msgs_init(&m);
	s.host_ifname = "much-too-long-name";
	assert_null(np_msg_veth_new(&m, &s));
	assert_int_equal(errno, EINVAL);
	s.host_ifname = "ok";
	s.pod_netns_fd = -1;
	assert_null(np_msg_veth_new(&m, &s));
	assert_int_equal(m.count, 0);
	assert_int_equal(m.len, 0);
}

static void test_addr_msg(void **state _unused_)
{
	struct attrs at = {};
	const struct ifaddrmsg *ifa;
	const struct nlmsghdr *nlh;
	struct np_addr a;
	struct np_msgs m;

	assert_int_equal(np_addr_parse("2001:db8:5::10/64", &a), 0);
	np_msgs_init(&m);
	assert_non_null(np_msg_addr_new(&m, 7, &a, RT_SCOPE_UNIVERSE,
					IFA_F_NODAD | IFA_F_NOPREFIXROUTE));
	nlh = first_msg(&m);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWADDR);
	ifa = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(ifa->ifa_family, AF_INET6);
	assert_int_equal(ifa->ifa_prefixlen, 64);
	assert_int_equal(ifa->ifa_index, 7);
	assert_int_equal(ifa->ifa_flags, IFA_F_NODAD); /* the 8 bits that fit */
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*ifa), collect_cb, &at), MNL_CB_OK);
	assert_int_equal(mnl_attr_get_u32(at.tb[IFA_FLAGS]), IFA_F_NODAD | IFA_F_NOPREFIXROUTE);
	assert_int_equal(mnl_attr_get_payload_len(at.tb[IFA_LOCAL]), 16);
	assert_memory_equal(mnl_attr_get_payload(at.tb[IFA_LOCAL]), &a.v6, 16);
	assert_memory_equal(mnl_attr_get_payload(at.tb[IFA_ADDRESS]), &a.v6, 16);

	a.prefix = 129;
	assert_null(np_msg_addr_new(&m, 7, &a, 0, 0));
	assert_int_equal(m.count, 1);
}

static void test_route_msg(void **state _unused_)
{
	struct np_route r = {
		.dst = { .family = AF_INET },
		.oif = 9,
		.scope = RT_SCOPE_UNIVERSE,
		.protocol = RTPROT_STATIC,
		.nh_flags = RTNH_F_ONLINK,
	};
	struct attrs at = {};
	const struct nlmsghdr *nlh;
	const struct rtmsg *rtm;
	struct np_msgs m;

	assert_int_equal(np_addr_parse("169.254.1.1", &r.gw), 0);
	np_msgs_init(&m);
	assert_non_null(np_msg_route_new(&m, &r));
	nlh = first_msg(&m);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWROUTE);
	rtm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(rtm->rtm_family, AF_INET);
	assert_int_equal(rtm->rtm_dst_len, 0);
	assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
	assert_int_equal(rtm->rtm_protocol, RTPROT_STATIC);
	assert_int_equal(rtm->rtm_type, RTN_UNICAST);
	assert_int_equal(rtm->rtm_flags, RTNH_F_ONLINK);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*rtm), collect_cb, &at), MNL_CB_OK);
	assert_null(at.tb[RTA_DST]); /* default route: no destination */
	assert_int_equal(mnl_attr_get_u32(at.tb[RTA_OIF]), 9);
	assert_memory_equal(mnl_attr_get_payload(at.tb[RTA_GATEWAY]), &r.gw.v4, 4);

	/* a host route */
	struct np_route h = { .oif = 3, .scope = RT_SCOPE_LINK, .protocol = RTPROT_STATIC };
	struct attrs hat = {};

	assert_int_equal(np_addr_parse("198.18.5.10/32", &h.dst), 0);
	assert_non_null(np_msg_route_new(&m, &h));
	assert_int_equal(m.count, 2);
	nlh = mnl_nlmsg_next(first_msg(&m), &(int){ (int)m.len });
	rtm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(rtm->rtm_dst_len, 32);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_LINK);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*rtm), collect_cb, &hat), MNL_CB_OK);
	assert_memory_equal(mnl_attr_get_payload(hat.tb[RTA_DST]), &h.dst.v4, 4);
	assert_null(hat.tb[RTA_GATEWAY]);

	/* mixed families and routes without gateway or device are refused */
	assert_int_equal(np_addr_parse("2001:db8::1", &h.gw), 0);
	assert_null(np_msg_route_new(&m, &h));
	h.gw.family = 0;
	h.oif = 0;
	assert_null(np_msg_route_new(&m, &h));
}

/* a preferred source (the host shim's address in the pod's subnet) and a metric */
static void test_route_src_metric(void **state _unused_)
{
	struct np_route r = { .oif = 3, .scope = RT_SCOPE_LINK, .metric = 1100 };
	struct attrs at = {};
	const struct nlmsghdr *nlh;
	struct np_msgs m;

	assert_int_equal(np_addr_parse("198.18.13.152/32", &r.dst), 0);
	assert_int_equal(np_addr_parse("198.18.13.133/24", &r.src), 0);
	np_msgs_init(&m);
	assert_non_null(np_msg_route_replace(&m, &r));
	nlh = first_msg(&m);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(struct rtmsg), collect_cb, &at), MNL_CB_OK);
	assert_memory_equal(mnl_attr_get_payload(at.tb[RTA_PREFSRC]), &r.src.v4, 4);
	assert_int_equal(mnl_attr_get_u32(at.tb[RTA_PRIORITY]), 1100);
	/* a source of the other family is refused */
	assert_int_equal(np_addr_parse("2001:db8::1", &r.src), 0);
	assert_null(np_msg_route_replace(&m, &r));
}

static void test_addr_in(void **state _unused_)
{
	struct np_addr net, a;

	assert_int_equal(np_addr_parse("198.18.13.0/24", &net), 0);
	assert_int_equal(np_addr_parse("198.18.13.77", &a), 0);
	assert_true(np_addr_in(&net, &a));
	assert_int_equal(np_addr_parse("198.18.10.77", &a), 0);
	assert_false(np_addr_in(&net, &a));
	assert_int_equal(np_addr_parse("2001:db8:10::/61", &net), 0);
	assert_int_equal(np_addr_parse("2001:db8:10:7::1", &a), 0);
	assert_true(np_addr_in(&net, &a));
	assert_int_equal(np_addr_parse("2001:db8:10:8::1", &a), 0);
	assert_false(np_addr_in(&net, &a));
	assert_int_equal(np_addr_parse("198.18.13.77", &a), 0);
	assert_false(np_addr_in(&net, &a)); /* other family */
}

static void test_link_msgs(void **state _unused_)
{
	struct attrs at = {};
	const struct ifinfomsg *ifm;
	const struct nlmsghdr *nlh;
	struct np_msgs m;
	int len;

	np_msgs_init(&m);
	assert_non_null(np_msg_link_up(&m, 0, "lo"));
	assert_non_null(np_msg_link_del(&m, 12, NULL));
	assert_non_null(np_msg_link_get(&m, "eth0"));
	assert_null(np_msg_link_up(&m, 0, NULL));
	assert_int_equal(m.count, 3);

	len = (int)m.len;
	nlh = first_msg(&m);
	ifm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(nlh->nlmsg_flags & NLM_F_CREATE, 0);
	assert_int_equal(ifm->ifi_index, 0);
	assert_int_equal(ifm->ifi_flags, IFF_UP);
	assert_int_equal(ifm->ifi_change, IFF_UP);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*ifm), collect_cb, &at), MNL_CB_OK);
	assert_string_equal(mnl_attr_get_str(at.tb[IFLA_IFNAME]), "lo");

	nlh = mnl_nlmsg_next(nlh, &len);
	assert_true(mnl_nlmsg_ok(nlh, len));
	ifm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(nlh->nlmsg_type, RTM_DELLINK);
	assert_int_equal(ifm->ifi_index, 12);
	assert_int_equal(nlh->nlmsg_len, NLMSG_LENGTH(sizeof(*ifm))); /* no name by index */

	nlh = mnl_nlmsg_next(nlh, &len);
	assert_true(mnl_nlmsg_ok(nlh, len));
	assert_int_equal(nlh->nlmsg_type, RTM_GETLINK);
	nlh = mnl_nlmsg_next(nlh, &len);
	assert_false(mnl_nlmsg_ok(nlh, len));
}

static void test_link_parse(void **state _unused_)
{
	_Alignas(8) char buf[512] = {};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;
	struct np_link l;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = 17;
	ifm->ifi_flags = IFF_UP | IFF_LOWER_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "tk0001");
	mnl_attr_put_u32(nlh, IFLA_MTU, 1500);
	mnl_attr_put_u32(nlh, 60000, 1); /* unknown to us: ignored */
	assert_int_equal(np_msg_link_parse(nlh, &l), 0);
	assert_int_equal(l.ifindex, 17);
	assert_int_equal(l.mtu, 1500);
	assert_true(l.flags & IFF_UP);
	assert_string_equal(l.ifname, "tk0001");

	nlh->nlmsg_type = RTM_NEWADDR;
	assert_int_equal(np_msg_link_parse(nlh, &l), -EBADMSG);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_len = NLMSG_LENGTH(2); /* shorter than struct ifinfomsg */
	assert_int_equal(np_msg_link_parse(nlh, &l), -EBADMSG);
}

static void test_macvlan_msg(void **state _unused_)
{
	static const uint8_t mac[6] = { 0x0a, 1, 2, 3, 4, 5 };
	struct attrs top = {}, info = {}, data = {};
	const struct ifinfomsg *ifm;
	const struct nlmsghdr *nlh;
	struct np_msgs m;

	np_msgs_init(&m);
	assert_non_null(np_msg_macvlan_new(&m, "eth0", 42, 7, mac, 1400));
	nlh = first_msg(&m);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
	ifm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(ifm->ifi_index, 0);
	assert_int_equal(ifm->ifi_flags & IFF_UP, 0); /* up once configured, in the pod batch */
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*ifm), collect_cb, &top), MNL_CB_OK);
	assert_string_equal(mnl_attr_get_str(top.tb[IFLA_IFNAME]), "eth0");
	assert_int_equal(mnl_attr_get_u32(top.tb[IFLA_LINK]), 7);
	assert_int_equal(mnl_attr_get_u32(top.tb[IFLA_NET_NS_FD]), 42);
	assert_int_equal(mnl_attr_get_u32(top.tb[IFLA_MTU]), 1400);
	assert_int_equal(mnl_attr_get_payload_len(top.tb[IFLA_ADDRESS]), 6);
	assert_memory_equal(mnl_attr_get_payload(top.tb[IFLA_ADDRESS]), mac, 6);
	assert_int_equal(mnl_attr_parse_nested(top.tb[IFLA_LINKINFO], collect_cb, &info),
			 MNL_CB_OK);
	assert_string_equal(mnl_attr_get_str(info.tb[IFLA_INFO_KIND]), "macvlan");
	assert_int_equal(mnl_attr_parse_nested(info.tb[IFLA_INFO_DATA], collect_cb, &data),
			 MNL_CB_OK);
	assert_int_equal(mnl_attr_get_u32(data.tb[IFLA_MACVLAN_MODE]), MACVLAN_MODE_BRIDGE);

	/* the host shim: no netns, no MTU */
	np_msgs_init(&m);
	assert_non_null(np_msg_macvlan_new(&m, "tank0", -1, 7, mac, 0));
	memset(&top, 0, sizeof(top));
	assert_int_equal(mnl_attr_parse(first_msg(&m), sizeof(*ifm), collect_cb, &top), MNL_CB_OK);
	assert_null(top.tb[IFLA_NET_NS_FD]);
	assert_null(top.tb[IFLA_MTU]);

	/* no parent, a multicast MAC, a bad name */
	assert_null(np_msg_macvlan_new(&m, "eth0", 42, 0, mac, 0));
	assert_null(np_msg_macvlan_new(&m, "eth0", 42, 7, (const uint8_t[6]){ 1, 0, 0x5e }, 0));
	assert_null(np_msg_macvlan_new(&m, "much-too-long-ifname", 42, 7, mac, 0));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(m.count, 1);
}

/* What the kernel sends for a macvlan: IFLA_LINK, IFLA_LINKINFO, IFLA_ADDRESS. */
static void test_link_parse_info(void **state _unused_)
{
	static const uint8_t mac[6] = { 0x0a, 1, 2, 3, 4, 5 };
	_Alignas(8) char buf[512] = {};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *li, *data;
	struct ifinfomsg *ifm;
	struct np_link l;

	nlh->nlmsg_type = RTM_DELLINK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = 9;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "tank0");
	mnl_attr_put_u32(nlh, IFLA_LINK, 3);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macvlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, MACVLAN_MODE_VEPA);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	assert_int_equal(np_msg_link_parse(nlh, &l), 0);
	assert_int_equal(l.ifindex, 9);
	assert_int_equal(l.link, 3);
	assert_int_equal(l.link_netnsid, -1);
	assert_string_equal(l.kind, "macvlan");
	assert_int_equal(l.macvlan_mode, MACVLAN_MODE_VEPA);
	assert_memory_equal(l.mac, mac, 6);
}

static void test_addr_replace_del_parse(void **state _unused_)
{
	struct attrs at = {};
	const struct nlmsghdr *nlh;
	struct np_ifaddr ia;
	struct np_addr a;
	struct np_msgs m;
	int len;

	assert_int_equal(np_addr_parse("198.18.0.2/24", &a), 0);
	np_msgs_init(&m);
	assert_non_null(np_msg_addr_replace(&m, 5, &a, RT_SCOPE_UNIVERSE, IFA_F_NODAD, 1024));
	assert_non_null(np_msg_addr_del(&m, 5, &a));
	assert_non_null(np_msg_addr_dump(&m, AF_UNSPEC));
	assert_null(np_msg_addr_dump(&m, 99));
	assert_int_equal(m.count, 3);

	len = (int)m.len;
	nlh = first_msg(&m);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWADDR);
	assert_int_equal(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_REPLACE | NLM_F_EXCL),
			 NLM_F_CREATE | NLM_F_REPLACE);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(struct ifaddrmsg), collect_cb, &at), MNL_CB_OK);
	assert_int_equal(mnl_attr_get_u32(at.tb[IFA_RT_PRIORITY]), 1024);
	assert_int_equal(mnl_attr_get_u32(at.tb[IFA_FLAGS]), IFA_F_NODAD);
	assert_int_equal(np_msg_addr_parse(nlh, &ia), 0);
	assert_int_equal(ia.ifindex, 5);
	assert_int_equal(ia.flags, IFA_F_NODAD);
	assert_int_equal(ia.addr.prefix, 24);
	assert_memory_equal(&ia.addr.v4, &a.v4, 4);

	nlh = mnl_nlmsg_next(nlh, &len);
	assert_int_equal(nlh->nlmsg_type, RTM_DELADDR);
	assert_int_equal(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), 0);
	assert_int_equal(np_msg_addr_parse(nlh, &ia), 0); /* a deletion parses too */
	nlh = mnl_nlmsg_next(nlh, &len);
	assert_int_equal(nlh->nlmsg_type, RTM_GETADDR);
	assert_int_equal(nlh->nlmsg_flags & NLM_F_DUMP, NLM_F_DUMP);
	assert_int_equal(np_msg_addr_parse(nlh, &ia), -EBADMSG);
}

static void test_route_replace_del_parse(void **state _unused_)
{
	struct np_route r = { .oif = 4, .scope = RT_SCOPE_LINK, .protocol = RTPROT_STATIC };
	const struct nlmsghdr *nlh;
	const struct rtmsg *rtm;
	struct np_route_info ri;
	struct np_msgs m;
	int len;

	assert_int_equal(np_addr_parse("198.18.0.11/32", &r.dst), 0);
	np_msgs_init(&m);
	assert_non_null(np_msg_route_replace(&m, &r));
	assert_non_null(np_msg_route_del(&m, &r));
	assert_non_null(np_msg_route_dump(&m, AF_INET6));
	assert_null(np_msg_route_dump(&m, AF_UNSPEC));
	len = (int)m.len;
	nlh = first_msg(&m);
	assert_int_equal(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_REPLACE | NLM_F_EXCL),
			 NLM_F_CREATE | NLM_F_REPLACE);
	assert_int_equal(np_msg_route_parse(nlh, &ri), 0);
	assert_int_equal(ri.oif, 4);
	assert_int_equal(ri.dst.prefix, 32);
	assert_memory_equal(&ri.dst.v4, &r.dst.v4, 4);
	nlh = mnl_nlmsg_next(nlh, &len);
	assert_int_equal(nlh->nlmsg_type, RTM_DELROUTE);
	rtm = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_NOWHERE);
	assert_int_equal(rtm->rtm_protocol, 0);
	nlh = mnl_nlmsg_next(nlh, &len);
	assert_int_equal(nlh->nlmsg_type, RTM_GETROUTE);
	assert_int_equal(nlh->nlmsg_flags & NLM_F_DUMP, NLM_F_DUMP);

	/* a route of another table is not a candidate */
	_Alignas(8) char buf[256] = {};
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	struct rtmsg *t;

	h->nlmsg_type = RTM_NEWROUTE;
	t = mnl_nlmsg_put_extra_header(h, sizeof(*t));
	t->rtm_family = AF_INET;
	t->rtm_table = RT_TABLE_LOCAL;
	t->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(h, RTA_PRIORITY, 7);
	assert_int_equal(np_msg_route_parse(h, &ri), -ENOENT);
	t->rtm_table = RT_TABLE_MAIN;
	mnl_attr_put_u32(h, RTA_OIF, 2);
	assert_int_equal(np_msg_route_parse(h, &ri), 0);
	assert_int_equal(ri.metric, 7);
	assert_int_equal(ri.dst.prefix, 0);
	t->rtm_dst_len = 33;
	assert_int_equal(np_msg_route_parse(h, &ri), -EBADMSG);
}

static void test_monitor_parse(void **state _unused_)
{
	_Alignas(8) char buf[512] = {};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct np_mon_event ev;
	struct ifinfomsg *ifm;
	struct ifaddrmsg *ifa;
	struct in6_addr a6;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = 4;
	ifm->ifi_flags = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
	assert_int_equal(np_monitor_parse(nlh, &ev), 0); /* up: not drift */
	ifm->ifi_flags = 0;
	assert_int_equal(np_monitor_parse(nlh, &ev), 1);
	assert_int_equal(ev.type, NP_MON_LINK_DOWN);
	assert_int_equal(ev.ifindex, 4);
	assert_string_equal(ev.ifname, "eth0");
	nlh->nlmsg_type = RTM_DELLINK;
	ifm->ifi_flags = IFF_UP;
	assert_int_equal(np_monitor_parse(nlh, &ev), 1);
	assert_int_equal(ev.type, NP_MON_LINK_DEL);

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_DELADDR;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = 64;
	ifa->ifa_index = 4;
	inet_pton(AF_INET6, "2001:db8::11", &a6);
	mnl_attr_put(nlh, IFA_ADDRESS, 16, &a6);
	assert_int_equal(np_monitor_parse(nlh, &ev), 1);
	assert_int_equal(ev.type, NP_MON_ADDR_DEL);
	assert_int_equal(ev.ifindex, 4);
	assert_int_equal(ev.addr.family, AF_INET6);
	assert_int_equal(ev.addr.prefix, 64);
	assert_memory_equal(&ev.addr.v6, &a6, 16);
	nlh->nlmsg_type = RTM_NEWADDR;
	assert_int_equal(np_monitor_parse(nlh, &ev), 0);
	nlh->nlmsg_type = RTM_DELADDR;
	ifa->ifa_prefixlen = 200;
	assert_int_equal(np_monitor_parse(nlh, &ev), -EBADMSG);
	nlh->nlmsg_type = RTM_NEWROUTE;
	assert_int_equal(np_monitor_parse(nlh, &ev), 0);
}

static void test_addr_format(void **state _unused_)
{
	char buf[NP_ADDR_TEXT_MAX], small[8];
	struct np_addr a;

	assert_int_equal(np_addr_parse("2001:db8:1::10/64", &a), 0);
	assert_int_equal(np_addr_format(&a, true, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8:1::10/64");
	assert_int_equal(np_addr_format(&a, false, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8:1::10");
	assert_int_equal(np_addr_format(&a, true, small, sizeof(small)), -ENOSPC);
	assert_int_equal(np_addr_parse("255.255.255.255/32", &a), 0);
	assert_int_equal(np_addr_format(&a, true, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "255.255.255.255/32");
	a.family = 0;
	assert_int_equal(np_addr_format(&a, true, buf, sizeof(buf)), -EINVAL);
}

static void test_msgs_full(void **state _unused_)
{
	struct np_addr a;
	struct np_msgs m;
	unsigned int n = 0;

	assert_int_equal(np_addr_parse("198.18.0.1/32", &a), 0);
	np_msgs_init(&m);
	while (np_msg_addr_new(&m, 1, &a, 0, 0))
		n++;
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(m.count, n);
	assert_true(n > 40);
	assert_true(m.len <= sizeof(m.buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse_ok),
		cmocka_unit_test(test_addr_parse_bad),
		cmocka_unit_test(test_ifname_valid),
		cmocka_unit_test(test_veth_msg),
		cmocka_unit_test(test_veth_msg_bad),
		cmocka_unit_test(test_netkit_msg),
		cmocka_unit_test(test_addr_msg),
		cmocka_unit_test(test_route_msg),
		cmocka_unit_test(test_route_src_metric),
		cmocka_unit_test(test_addr_in),
		cmocka_unit_test(test_link_msgs),
		cmocka_unit_test(test_link_parse),
		cmocka_unit_test(test_macvlan_msg),
		cmocka_unit_test(test_link_parse_info),
		cmocka_unit_test(test_addr_replace_del_parse),
		cmocka_unit_test(test_route_replace_del_parse),
		cmocka_unit_test(test_monitor_parse),
		cmocka_unit_test(test_addr_format),
		cmocka_unit_test(test_msgs_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
