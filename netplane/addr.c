/* addr.c - addresses: CIDR text parsing and the RTM_NEWADDR builder. */
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
