/* addr.c - addresses: CIDR text parsing, RTM_*ADDR builders and parser. */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/netplane.h"

#define ADDR_MSG_MAX 128

int np_addr_parse(const char *text, struct np_addr *ret)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct np_addr a = {};
	const char *slash;
	unsigned int max, prefix = 0;
	size_t len;

	if (!text || !ret)
		return -EINVAL;
	len = strlen(text);
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, len + 1);

	slash = strchr(text, '/');
	if (slash)
		buf[slash - text] = '\0';
	if (inet_pton(AF_INET, buf, &a.v4) == 1) {
		a.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, &a.v6) == 1) {
		a.family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}

	if (!slash) {
		prefix = max;
	} else {
		const char *p = slash + 1;

		/* 1 to 3 decimal digits, no sign, no spaces, no leading zero */
		if (*p == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0'))
			return -EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			prefix = prefix * 10 + (unsigned int)(*p - '0');
		}
		if (prefix > max)
			return -EINVAL;
	}
	a.prefix = (uint8_t)prefix;
	*ret = a;
	return 0;
}

void np_addr_mask(struct np_addr *a)
{
	uint8_t *b = (uint8_t *)&a->v6;
	unsigned int len = a->family == AF_INET ? 4 : 16, bits = a->prefix;

	for (unsigned int i = 0; i < len; i++) {
		unsigned int keep = bits >= 8 ? 8 : bits;

		b[i] &= (uint8_t)(0xff00 >> keep);
		bits -= keep;
	}
}

bool np_addr_valid(const struct np_addr *a)
{
	return (a->family == AF_INET || a->family == AF_INET6) &&
	       a->prefix <= (a->family == AF_INET ? 32 : 128);
}

bool np_addr_in(const struct np_addr *net, const struct np_addr *a)
{
	const uint8_t *n = (const uint8_t *)&net->v6, *x = (const uint8_t *)&a->v6;
	unsigned int bits = net->prefix;

	if (net->family != a->family || bits > (net->family == AF_INET ? 32u : 128u))
		return false;
	for (unsigned int i = 0; bits; i++) {
		unsigned int take = bits >= 8 ? 8 : bits;
		uint8_t mask = (uint8_t)(0xff << (8 - take));

		if ((n[i] & mask) != (x[i] & mask))
			return false;
		bits -= take;
	}
	return true;
}

int np_addr_format(const struct np_addr *a, bool with_prefix, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	int n;

	if (!a || (a->family != AF_INET && a->family != AF_INET6) ||
	    a->prefix > (a->family == AF_INET ? 32 : 128))
		return -EINVAL;
	if (!inet_ntop(a->family, &a->v6, text, sizeof(text)))
		return -EINVAL;
	if (with_prefix)
		n = snprintf(buf, len, "%s/%u", text, a->prefix);
	else
		n = snprintf(buf, len, "%s", text);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

struct nlmsghdr *np_msg_addr_new(struct np_msgs *m, int ifindex, const struct np_addr *a,
				 uint8_t scope, uint32_t flags)
{
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	size_t alen;

	if (ifindex <= 0 || (a->family != AF_INET && a->family != AF_INET6) ||
	    a->prefix > (a->family == AF_INET ? 32 : 128)) {
		errno = EINVAL;
		return NULL;
	}
	alen = a->family == AF_INET ? sizeof(a->v4) : sizeof(a->v6);
	nlh = np_msgs_put(m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ADDR_MSG_MAX);
	if (!nlh)
		return NULL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)a->family;
	ifa->ifa_prefixlen = a->prefix;
	ifa->ifa_scope = scope;
	ifa->ifa_index = (uint32_t)ifindex;
	ifa->ifa_flags = (uint8_t)(flags & 0xff); /* the rest only fits in IFA_FLAGS */
	/* as iproute2 does: IFA_LOCAL is the interface's address, IFA_ADDRESS the same when the
	 * link is not point-to-point */
	mnl_attr_put(nlh, IFA_LOCAL, alen, &a->v6);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, &a->v6);
	if (flags)
		mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_addr_replace(struct np_msgs *m, int ifindex, const struct np_addr *a,
				     uint8_t scope, uint32_t flags, uint32_t rt_priority)
{
	struct nlmsghdr *nlh = np_msg_addr_new(m, ifindex, a, scope, flags);

	if (!nlh)
		return NULL;
	/* np_msg_addr_new closed the message: reopen it to change flags and append */
	m->len -= NLMSG_ALIGN(nlh->nlmsg_len);
	m->count--;
	nlh->nlmsg_flags = (uint16_t)((nlh->nlmsg_flags & ~NLM_F_EXCL) | NLM_F_REPLACE);
	if (rt_priority)
		mnl_attr_put_u32(nlh, IFA_RT_PRIORITY, rt_priority);
	return np_msgs_end(m, nlh);
}

struct nlmsghdr *np_msg_addr_del(struct np_msgs *m, int ifindex, const struct np_addr *a)
{
	struct nlmsghdr *nlh = np_msg_addr_new(m, ifindex, a, 0, 0);

	if (!nlh)
		return NULL;
	nlh->nlmsg_type = RTM_DELADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	return nlh;
}

struct nlmsghdr *np_msg_addr_dump(struct np_msgs *m, int family)
{
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;

	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
		errno = EINVAL;
		return NULL;
	}
	nlh = np_msgs_put(m, RTM_GETADDR, NLM_F_DUMP, ADDR_MSG_MAX);
	if (!nlh)
		return NULL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	return np_msgs_end(m, nlh);
}

static int ifaddr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
		return MNL_CB_OK;
	if (type == IFA_FLAGS && mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	tb[type] = attr;
	return MNL_CB_OK;
}

int np_msg_addr_parse(const struct nlmsghdr *nlh, struct np_ifaddr *ret)
{
	const struct nlattr *tb[IFA_MAX + 1] = {};
	const struct ifaddrmsg *ifa;
	const struct nlattr *at;
	struct np_ifaddr r = {};
	size_t alen;

	if ((nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR) ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return -EBADMSG;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return -EBADMSG;
	if (mnl_attr_parse(nlh, sizeof(*ifa), ifaddr_attr_cb, tb) != MNL_CB_OK)
		return -EBADMSG;
	alen = ifa->ifa_family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
	at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!at || mnl_attr_get_payload_len(at) != alen)
		return -EBADMSG;
	if (ifa->ifa_prefixlen > (ifa->ifa_family == AF_INET ? 32 : 128) || ifa->ifa_index == 0)
		return -EBADMSG;
	r.ifindex = (int)ifa->ifa_index;
	r.scope = ifa->ifa_scope;
	r.flags = tb[IFA_FLAGS] ? mnl_attr_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	r.addr.family = ifa->ifa_family;
	r.addr.prefix = ifa->ifa_prefixlen;
	memcpy(&r.addr.v6, mnl_attr_get_payload(at), alen);
	*ret = r;
	return 0;
}
