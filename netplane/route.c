/* route.c - routes: RTM_*ROUTE builders (main table, unicast) and the parser. */
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/netplane.h"

#define ROUTE_MSG_MAX 128

static size_t addr_len(int family)
{
	return family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
}

static struct nlmsghdr *route_msg(struct np_msgs *m, uint16_t type, uint16_t flags,
				  const struct np_route *r)
{
	int family = r->dst.family;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if ((family != AF_INET && family != AF_INET6) ||
	    r->dst.prefix > (family == AF_INET ? 32 : 128) ||
	    (r->gw.family != 0 && r->gw.family != family) ||
	    (r->src.family != 0 && r->src.family != family) || r->oif < 0 ||
	    (type == RTM_NEWROUTE && r->gw.family == 0 && r->oif == 0)) {
		errno = EINVAL;
		return NULL;
	}
	nlh = np_msgs_put(m, type, flags, ROUTE_MSG_MAX);
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
	if (r->src.family)
		mnl_attr_put(nlh, RTA_PREFSRC, addr_len(family), &r->src.v6);
	if (r->metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, r->metric);
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_route_new(struct np_msgs *m, const struct np_route *r)
{
	return route_msg(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r);
}

struct nlmsghdr *np_msg_route_replace(struct np_msgs *m, const struct np_route *r)
{
	return route_msg(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r);
}

struct nlmsghdr *np_msg_route_del(struct np_msgs *m, const struct np_route *r)
{
	struct np_route del = *r;
	struct nlmsghdr *nlh;

	del.protocol = 0;
	del.nh_flags = 0;
	del.src.family = 0;
	nlh = route_msg(m, RTM_DELROUTE, 0, &del);
	if (nlh) {
		struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);

		rtm->rtm_scope = RT_SCOPE_NOWHERE; /* any scope */
	}
	return nlh;
}

struct nlmsghdr *np_msg_route_dump(struct np_msgs *m, int family)
{
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if (family != AF_INET && family != AF_INET6) {
		errno = EINVAL;
		return NULL;
	}
	nlh = np_msgs_put(m, RTM_GETROUTE, NLM_F_DUMP, ROUTE_MSG_MAX);
	if (!nlh)
		return NULL;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	return np_msgs_end(m, nlh);
}

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case RTA_OIF:
	case RTA_PRIORITY:
	case RTA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	default:
		break;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

int np_msg_route_parse(const struct nlmsghdr *nlh, struct np_route_info *ret)
{
	const struct nlattr *tb[RTA_MAX + 1] = {};
	const struct rtmsg *rtm;
	struct np_route_info r = {};
	uint32_t table;

	if ((nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE) ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return -EBADMSG;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return -EBADMSG;
	if (rtm->rtm_dst_len > (rtm->rtm_family == AF_INET ? 32 : 128))
		return -EBADMSG;
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) != MNL_CB_OK)
		return -EBADMSG;
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST)
		return -ENOENT;
	r.dst.family = rtm->rtm_family;
	r.dst.prefix = rtm->rtm_dst_len;
	if (tb[RTA_DST]) {
		if (mnl_attr_get_payload_len(tb[RTA_DST]) != addr_len(rtm->rtm_family))
			return -EBADMSG;
		memcpy(&r.dst.v6, mnl_attr_get_payload(tb[RTA_DST]), addr_len(rtm->rtm_family));
	}
	if (tb[RTA_OIF])
		r.oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	if (tb[RTA_PRIORITY])
		r.metric = mnl_attr_get_u32(tb[RTA_PRIORITY]);
	*ret = r;
	return 0;
}
