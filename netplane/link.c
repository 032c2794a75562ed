/* link.c - links: RTM_*LINK builders and parser, ifindex lookup, delete, observation. */
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <string.h>

#include "netplane/netplane.h"

/* Every link message built here fits easily: two names, a few u32, three nest headers. */
#define LINK_MSG_MAX 256

bool np_ifname_valid(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p; p++) {
		/* the kernel's dev_valid_name(): no '/', ':' or whitespace */
		if (*p == '/' || *p == ':' || *p == ' ' || (*p >= '\t' && *p <= '\r'))
			return false;
	}
	return true;
}

static struct nlmsghdr *link_msg(struct np_msgs *m, uint16_t type, uint16_t flags, int ifindex,
				 const char *ifname)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	if (ifindex < 0 || (ifindex == 0 && !np_ifname_valid(ifname))) {
		errno = EINVAL;
		return NULL;
	}
	nlh = np_msgs_put(m, type, flags, LINK_MSG_MAX);
	if (!nlh)
		return NULL;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	if (ifindex == 0)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	return nlh;
}

struct nlmsghdr *np_msg_veth_new(struct np_msgs *m, const struct np_veth_spec *s)
{
	struct nlattr *linkinfo, *data, *peer;
	struct ifinfomsg *ifm, *pifm;
	struct nlmsghdr *nlh;

	if (!np_ifname_valid(s->host_ifname) || !np_ifname_valid(s->pod_ifname) ||
	    s->pod_netns_fd < 0) {
		errno = EINVAL;
		return NULL;
	}
	nlh = np_msgs_put(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, LINK_MSG_MAX);
	if (!nlh)
		return NULL;
	/* the host side comes up with the pair; the pod side once it has its addresses */
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, s->host_ifname);
	if (s->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, s->mtu);

	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* VETH_INFO_PEER carries a struct ifinfomsg and then the peer's IFLA_* attributes */
	pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, s->pod_ifname);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)s->pod_netns_fd);
	if (s->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, s->mtu);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_link_get(struct np_msgs *m, const char *ifname)
{
	struct nlmsghdr *nlh = link_msg(m, RTM_GETLINK, 0, 0, ifname);

	if (!nlh)
		return NULL;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_link_get_index(struct np_msgs *m, int ifindex)
{
	struct nlmsghdr *nlh;

	if (ifindex <= 0) {
		errno = EINVAL;
		return NULL;
	}
	nlh = link_msg(m, RTM_GETLINK, 0, ifindex, NULL);
	if (!nlh)
		return NULL;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_macvlan_new(struct np_msgs *m, const char *ifname, int netns_fd,
				    int parent_ifindex, const uint8_t *mac, unsigned int mtu)
{
	struct nlattr *linkinfo, *data;
	struct nlmsghdr *nlh;

	if (!np_ifname_valid(ifname) || parent_ifindex <= 0 || !mac || (mac[0] & 1)) {
		errno = EINVAL;
		return NULL;
	}
	nlh = link_msg(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, ifname);
	if (!nlh)
		return NULL;
	mnl_attr_put_u32(nlh, IFLA_LINK, (uint32_t)parent_ifindex);
	if (netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macvlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_link_up(struct np_msgs *m, int ifindex, const char *ifname)
{
	struct nlmsghdr *nlh = link_msg(m, RTM_NEWLINK, 0, ifindex, ifname);
	struct ifinfomsg *ifm;

	if (!nlh)
		return NULL;
	ifm = mnl_nlmsg_get_payload(nlh);
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_link_del(struct np_msgs *m, int ifindex, const char *ifname)
{
	struct nlmsghdr *nlh = link_msg(m, RTM_DELLINK, 0, ifindex, ifname);

	return nlh ? np_msgs_end(m, nlh) : NULL;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
		return MNL_CB_OK; /* newer than our headers: not ours to read */
	switch (type) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		break;
	case IFLA_MTU:
	case IFLA_LINK:
	case IFLA_LINK_NETNSID:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		break;
	default:
		break;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

struct info_tb {
	const struct nlattr *kind, *data;
};

static int info_attr_cb(const struct nlattr *attr, void *data)
{
	struct info_tb *tb = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_INFO_KIND:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		tb->kind = attr;
		break;
	case IFLA_INFO_DATA:
		tb->data = attr;
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

static int macvlan_attr_cb(const struct nlattr *attr, void *data)
{
	struct np_link *l = data;

	if (mnl_attr_get_type(attr) == IFLA_MACVLAN_MODE) {
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		l->macvlan_mode = mnl_attr_get_u32(attr);
	}
	return MNL_CB_OK;
}

/* IFLA_LINKINFO: the kind, and for a macvlan its mode. */
static int link_info_parse(const struct nlattr *linkinfo, struct np_link *l)
{
	struct info_tb tb = {};
	const char *kind;

	if (mnl_attr_parse_nested(linkinfo, info_attr_cb, &tb) != MNL_CB_OK)
		return -EBADMSG;
	if (!tb.kind)
		return 0;
	kind = mnl_attr_get_str(tb.kind);
	if (strlen(kind) >= sizeof(l->kind))
		return -EBADMSG;
	strcpy(l->kind, kind);
	if (strcmp(kind, "macvlan") == 0 && tb.data &&
	    mnl_attr_parse_nested(tb.data, macvlan_attr_cb, l) != MNL_CB_OK)
		return -EBADMSG;
	return 0;
}

int np_msg_link_parse(const struct nlmsghdr *nlh, struct np_link *ret)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {};
	const struct ifinfomsg *ifm;
	struct np_link l = {};

	if ((nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return -EBADMSG;
	ifm = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb) != MNL_CB_OK)
		return -EBADMSG;
	l.ifindex = ifm->ifi_index;
	l.flags = ifm->ifi_flags;
	if (tb[IFLA_MTU])
		l.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_IFNAME]) {
		const char *name = mnl_attr_get_str(tb[IFLA_IFNAME]);

		if (strlen(name) >= sizeof(l.ifname))
			return -EBADMSG;
		strcpy(l.ifname, name);
	}
	l.link_netnsid = -1;
	if (tb[IFLA_LINK])
		l.link = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
	if (tb[IFLA_LINK_NETNSID])
		l.link_netnsid = (int)mnl_attr_get_u32(tb[IFLA_LINK_NETNSID]);
	if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == sizeof(l.mac))
		memcpy(l.mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), sizeof(l.mac));
	if (tb[IFLA_LINKINFO] && link_info_parse(tb[IFLA_LINKINFO], &l) < 0)
		return -EBADMSG;
	if (l.ifindex <= 0)
		return -EBADMSG;
	*ret = l;
	return 0;
}

static int link_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	return nlh->nlmsg_type == RTM_NEWLINK ? np_msg_link_parse(nlh, data) : 0;
}

int np_link_get(struct np_nl *nl, const char *ifname, struct np_link *ret, struct diag *d)
{
	struct np_link l = {};
	struct np_msgs m;
	int r;

	np_msgs_init(&m);
	if (!np_msg_link_get(&m, ifname))
		return diag_fail(d, -errno, "link %s: cannot build the request", ifname);
	r = np_nl_talk(nl, &m, link_reply_cb, &l, d);
	if (r < 0)
		return r;
	if (l.ifindex <= 0)
		return diag_fail(d, -ENODEV, "link %s: no RTM_NEWLINK in the reply", ifname);
	*ret = l;
	return 0;
}

int np_link_ifindex(const char *ifname)
{
	struct np_nl *nl = NULL;
	struct np_link l;
	int r;

	if (!np_ifname_valid(ifname))
		return -EINVAL;
	r = np_nl_open(-1, &nl, NULL);
	if (r < 0)
		return r;
	r = np_link_get(nl, ifname, &l, NULL);
	np_nl_close(nl);
	return r < 0 ? r : l.ifindex;
}

int np_link_delete(const char *ifname, struct diag *d)
{
	struct np_nl *nl = NULL;
	struct diag local = {};
	struct np_msgs m;
	int r;

	if (!np_ifname_valid(ifname))
		return diag_fail(d, -EINVAL, "link delete: invalid interface name");
	r = np_nl_open(-1, &nl, d);
	if (r < 0)
		return r;
	np_msgs_init(&m);
	if (!np_msg_link_del(&m, 0, ifname))
		r = diag_fail(&local, -errno, "cannot build the request");
	else
		r = np_nl_talk(nl, &m, NULL, NULL, &local);
	np_nl_close(nl);
	if (r == -ENODEV)
		return 0; /* already gone */
	if (r < 0)
		return diag_fail(d, r, "deleting link %s: %s", ifname, diag_text(&local, r));
	return 0;
}

int np_addr_ensure(const char *ifname, const struct np_addr *a, struct diag *d)
{
	struct np_nl *nl = NULL;
	struct np_link l = {};
	struct np_msgs m;
	int r;

	if (!np_ifname_valid(ifname) || !a ||
	    (a->family != AF_INET && a->family != AF_INET6) ||
	    a->prefix > (a->family == AF_INET ? 32 : 128))
		return diag_fail(d, -EINVAL, "invalid interface or address");
	r = np_nl_open(-1, &nl, d);
	if (r < 0)
		return r;
	r = np_link_get(nl, ifname, &l, d);
	if (r >= 0) {
		np_msgs_init(&m);
		if (!np_msg_addr_replace(&m, l.ifindex, a, RT_SCOPE_UNIVERSE,
					 a->family == AF_INET6 ? IFA_F_NODAD : 0, 0))
			r = diag_fail(d, -errno, "%s: cannot build the request", ifname);
		else
			r = np_nl_talk(nl, &m, NULL, NULL, d);
	}
	np_nl_close(nl);
	return r;
}

struct seen_ctx {
	struct np_nic_seen *seen;
	const struct np_addr *want;
	size_t n;
};

static int seen_addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct seen_ctx *c = data;
	struct np_ifaddr ia;

	if (nlh->nlmsg_type != RTM_NEWADDR || np_msg_addr_parse(nlh, &ia) < 0 ||
	    ia.ifindex != c->seen->ifindex)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->want[i].family == ia.addr.family && c->want[i].prefix == ia.addr.prefix &&
		    !memcmp(&c->want[i].v6, &ia.addr.v6, ia.addr.family == AF_INET ? 4 : 16))
			c->seen->missing &= ~(1u << i);
	return 0;
}

int np_nic_observe(int netns_fd, const char *ifname, const struct np_addr *want, size_t n,
		   struct np_nic_seen *ret, struct diag *d)
{
	struct np_nic_seen seen = {};
	struct seen_ctx c = { .seen = &seen, .want = want, .n = n };
	struct np_nl *nl = NULL;
	struct np_link l = {};
	struct np_msgs m;
	int r;

	if (!np_ifname_valid(ifname))
		return diag_fail(d, -EINVAL, "invalid interface name");
	if (n > 32 || (n && !want))
		return diag_fail(d, -E2BIG, "%s: at most 32 addresses", ifname);
	r = np_nl_open(netns_fd, &nl, d);
	if (r < 0)
		return r;
	r = np_link_get(nl, ifname, &l, NULL);
	if (r == -ENODEV) {
		*ret = seen; /* not there: nothing else to see */
		r = 0;
		goto out;
	}
	if (r < 0) {
		diag_fail(d, r, "link %s: %s", ifname, strerror(-r));
		goto out;
	}
	seen.exists = true;
	seen.up = l.flags & IFF_UP;
	seen.ifindex = l.ifindex;
	memcpy(seen.mac, l.mac, sizeof(seen.mac));
	snprintf(seen.kind, sizeof(seen.kind), "%s", l.kind);
	seen.missing = n == 32 ? ~0u : (1u << n) - 1;
	np_msgs_init(&m);
	if (!np_msg_addr_dump(&m, AF_UNSPEC)) {
		r = diag_fail(d, -errno, "%s: cannot build the request", ifname);
		goto out;
	}
	r = np_nl_talk(nl, &m, seen_addr_cb, &c, d);
	if (r >= 0)
		*ret = seen;
out:
	np_nl_close(nl);
	return r;
}
