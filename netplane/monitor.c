/* monitor.c - drift monitor: link and address notifications of a netns, for tankd's epoll. */
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/netplane.h"

struct np_monitor {
	struct np_nl *nl;
};

int np_monitor_open(int netns_fd, struct np_monitor **ret, struct diag *d)
{
	static const unsigned int groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
					       RTNLGRP_IPV6_IFADDR };
	struct np_monitor *m;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return diag_fail(d, -ENOMEM, "monitor: out of memory");
	r = np_nl_open_events(netns_fd, groups, ARRAY_SIZE(groups), &m->nl, d);
	if (r < 0) {
		free(m);
		diag_prefix(d, "monitor: ");
		return r;
	}
	*ret = m;
	return 0;
}

void np_monitor_close(struct np_monitor *m)
{
	if (!m)
		return;
	np_nl_close(m->nl);
	free(m);
}

int np_monitor_fd(const struct np_monitor *m)
{
	return np_nl_fd(m->nl);
}

int np_monitor_parse(const struct nlmsghdr *nlh, struct np_mon_event *ret)
{
	struct np_mon_event ev = {};
	int r;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		struct np_link l;

		r = np_msg_link_parse(nlh, &l);
		if (r < 0)
			return r;
		if (nlh->nlmsg_type == RTM_NEWLINK && (l.flags & IFF_UP))
			return 0;
		ev.type = nlh->nlmsg_type == RTM_DELLINK ? NP_MON_LINK_DEL : NP_MON_LINK_DOWN;
		ev.ifindex = l.ifindex;
		memcpy(ev.ifname, l.ifname, sizeof(ev.ifname));
		break;
	}
	case RTM_DELADDR: {
		struct np_ifaddr ia;

		r = np_msg_addr_parse(nlh, &ia);
		if (r < 0)
			return r;
		ev.type = NP_MON_ADDR_DEL;
		ev.ifindex = ia.ifindex;
		ev.addr = ia.addr;
		break;
	}
	default:
		return 0;
	}
	*ret = ev;
	return 1;
}

struct read_ctx {
	int (*cb)(const struct np_mon_event *, void *);
	void *data;
	int events;
};

static int monitor_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct read_ctx *c = data;
	struct np_mon_event ev;
	int r = np_monitor_parse(nlh, &ev);

	if (r <= 0)
		return 0; /* a message we cannot read is not an event */
	c->events++;
	return c->cb(&ev, c->data);
}

int np_monitor_read(struct np_monitor *m, int (*cb)(const struct np_mon_event *, void *),
		    void *data, struct diag *d)
{
	struct read_ctx c = { .cb = cb, .data = data };
	int r = np_nl_read_events(m->nl, monitor_msg_cb, &c, d);

	return r < 0 ? r : c.events;
}
