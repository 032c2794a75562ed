/* route.c - routes: the RTM_NEWROUTE builder (main table, unicast). */
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "netplane/netplane.h"

#define ROUTE_MSG_MAX 128

static size_t addr_len(int family)
{
	return family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
}

struct nlmsghdr *np_msg_route_new(struct np_msgs *m, const struct np_route *r)
{
	int family = r->dst.family;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if ((family != AF_INET && family != AF_INET6) ||
	    r->dst.prefix > (family == AF_INET ? 32 : 128) ||
	    (r->gw.family != 0 && r->gw.family != family) || r->oif < 0 ||
	    (r->gw.family == 0 && r->oif == 0)) {
		errno = EINVAL;
		return NULL;
	}
	nlh = np_msgs_put(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ROUTE_MSG_MAX);
	if (!nlh)
		return NULL;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = r->dst.prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = r->protocol;
	rtm->rtm_scope = r->scope;
	rtm->rtm_type = RTN_UNICAST;
	rtm->rtm_flags = r->nh_flags;
	if (r->dst.prefix > 0)
		mnl_attr_put(nlh, RTA_DST, addr_len(family), &r->dst.v6);
	if (r->gw.family)
		mnl_attr_put(nlh, RTA_GATEWAY, addr_len(family), &r->gw.v6);
	if (r->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->oif);
	return np_msgs_end(m, nlh);
}
