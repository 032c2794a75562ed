/* nl.c - the one place that talks to a netlink socket: send a batch, collect ACKs and extack. */
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "netplane/netplane.h"

#define NP_NL_RCVBUF 32768 /* an RTM_NEWLINK reply with stats and AF_SPEC is a few KiB */

struct np_nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
	char buf[NP_NL_RCVBUF];
};

int np_nl_open(int netns_fd, struct np_nl **ret, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	struct np_nl *nl;
	int one = 1;

	if (netns_fd >= 0)
		fd = np_netns_socket(netns_fd, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE,
				     d);
	else
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 && netns_fd >= 0)
		return fd;
	if (fd < 0) {
		int r = -errno;

		return diag_fail(d, r, "netlink socket: %s", strerror(-r));
	}

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return diag_fail(d, -ENOMEM, "netlink socket: out of memory");
	nl->sock = mnl_socket_fdopen(fd);
	if (!nl->sock) {
		free(nl);
		return diag_fail(d, -ENOMEM, "netlink socket: out of memory");
	}
	TAKE_FD(fd); /* owned by nl->sock now */

	/* Error text from the kernel (extack) and no echo of our request in error messages. Both
	 * are best effort: a kernel without them still answers with an errno. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));

	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		np_nl_close(nl);
		return diag_fail(d, r, "netlink bind: %s", strerror(-r));
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	*ret = nl;
	return 0;
}

void np_nl_close(struct np_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

static const char *msg_type_name(uint16_t type)
{
	switch (type) {
	case RTM_NEWLINK:
		return "RTM_NEWLINK";
	case RTM_DELLINK:
		return "RTM_DELLINK";
	case RTM_GETLINK:
		return "RTM_GETLINK";
	case RTM_NEWADDR:
		return "RTM_NEWADDR";
	case RTM_DELADDR:
		return "RTM_DELADDR";
	case RTM_NEWROUTE:
		return "RTM_NEWROUTE";
	case RTM_DELROUTE:
		return "RTM_DELROUTE";
	default:
		return "netlink request";
	}
}

/* NLMSG_ERROR: 0 for an ACK, else -errno with "<request>: <strerror>[: <extack>]" into d. */
static int parse_error(const struct nlmsghdr *nlh, struct diag *d)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *ext = NULL;
	const struct nlattr *attr;
	size_t off;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
		return diag_fail(d, -EBADMSG, "netlink: truncated error message");
	if (e->error == 0)
		return 0;
	if (e->error > 0 || e->error < -4095)
		return diag_fail(d, -EPROTO, "netlink: bad error code %d", e->error);

	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += mnl_nlmsg_get_payload_len(&e->msg);
		if (mnl_nlmsg_size(off) <= nlh->nlmsg_len) {
			mnl_attr_for_each(attr, nlh, off) {
				if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
				    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
					ext = mnl_attr_get_str(attr);
			}
		}
	}
	return diag_fail(d, e->error, "%s: %s%s%s", msg_type_name(e->msg.nlmsg_type),
			 strerror(-e->error), ext ? ": " : "", ext ? ext : "");
}

int np_nl_talk(struct np_nl *nl, struct np_msgs *m, int (*cb)(const struct nlmsghdr *, void *),
	       void *data, struct diag *d)
{
	unsigned int first_seq = nl->seq + 1, pending = 0;
	int first_err = 0;
	size_t off = 0;

	if (m->count == 0)
		return 0;
	while (off < m->len) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(m->buf + off);

		nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
		nlh->nlmsg_seq = ++nl->seq;
		nlh->nlmsg_pid = 0;
		off += NLMSG_ALIGN(nlh->nlmsg_len);
		pending++;
	}

	for (;;) {
		ssize_t n = mnl_socket_sendto(nl->sock, m->buf, m->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			return diag_fail(d, r, "netlink send: %s", strerror(-r));
		}
		break;
	}

	while (pending > 0) {
		const struct nlmsghdr *nlh;
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		int len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			return diag_fail(d, r, "netlink receive: %s", strerror(-r));
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			int r = 0;

			/* answers to other (earlier, abandoned) requests are skipped */
			if (nlh->nlmsg_pid != nl->portid && nlh->nlmsg_pid != 0)
				continue;
			if (nlh->nlmsg_seq - first_seq >= m->count)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				r = parse_error(nlh, first_err ? NULL : d);
				pending--;
			} else if (nlh->nlmsg_type == NLMSG_DONE) {
				pending--;
			} else if (nlh->nlmsg_type >= NLMSG_MIN_TYPE && cb) {
				r = cb(nlh, data);
				if (r < 0 && !first_err)
					diag_fail(d, r, "%s: cannot parse the reply",
						  msg_type_name(nlh->nlmsg_type));
			}
			if (r < 0 && !first_err)
				first_err = r;
		}
	}
	return first_err;
}

/* Shared by the builders (link.c, addr.c, route.c): start a message at the end of the batch. */
struct nlmsghdr *np_msgs_put(struct np_msgs *m, uint16_t type, uint16_t flags, size_t need)
{
	struct nlmsghdr *nlh;

	if (m->len + NLMSG_ALIGN(need) > sizeof(m->buf)) {
		errno = ENOBUFS;
		return NULL;
	}
	/* libmnl 1.0.4 leaves attribute padding as it finds it: start from zeroes */
	memset(m->buf + m->len, 0, NLMSG_ALIGN(need));
	nlh = mnl_nlmsg_put_header(m->buf + m->len);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* Close the message opened by np_msgs_put(). */
struct nlmsghdr *np_msgs_end(struct np_msgs *m, struct nlmsghdr *nlh)
{
	m->len += NLMSG_ALIGN(nlh->nlmsg_len);
	m->count++;
	return nlh;
}

#define NP_NL_EVENTS_RCVBUF (4 << 20) /* a burst of link/address changes on a busy host */

int np_nl_open_events(int netns_fd, const unsigned int *groups, size_t n_groups,
		      struct np_nl **ret, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	int rcvbuf = NP_NL_EVENTS_RCVBUF;
	struct np_nl *nl;

	if (netns_fd >= 0)
		fd = np_netns_socket(netns_fd, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
				     NETLINK_ROUTE, d);
	else
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 && netns_fd >= 0)
		return fd;
	if (fd < 0) {
		int r = -errno;

		return diag_fail(d, r, "netlink socket: %s", strerror(-r));
	}
	/* SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the plain (capped) size will do */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return diag_fail(d, -ENOMEM, "netlink socket: out of memory");
	nl->sock = mnl_socket_fdopen(fd);
	if (!nl->sock) {
		free(nl);
		return diag_fail(d, -ENOMEM, "netlink socket: out of memory");
	}
	TAKE_FD(fd);
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		np_nl_close(nl);
		return diag_fail(d, r, "netlink bind: %s", strerror(-r));
	}
	for (size_t i = 0; i < n_groups; i++) {
		unsigned int g = groups[i];

		if (mnl_socket_setsockopt(nl->sock, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0) {
			int r = -errno;

			np_nl_close(nl);
			return diag_fail(d, r, "netlink group %u: %s", g, strerror(-r));
		}
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	*ret = nl;
	return 0;
}

int np_nl_fd(const struct np_nl *nl)
{
	return mnl_socket_get_fd(nl->sock);
}

int np_nl_read_events(struct np_nl *nl, int (*cb)(const struct nlmsghdr *, void *), void *data,
		      struct diag *d)
{
	int fd = mnl_socket_get_fd(nl->sock);
	bool overrun = false;

	for (;;) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		n = recvfrom(fd, nl->buf, sizeof(nl->buf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == ENOBUFS) {
				overrun = true; /* events were lost; what is queued is still read */
				continue;
			}
			return diag_fail(d, -errno, "netlink events: %s", strerror(errno));
		}
		if ((size_t)n > sizeof(nl->buf)) {
			overrun = true; /* a datagram larger than the buffer: treat as lost */
			continue;
		}
		if (fromlen != sizeof(from) || from.nl_pid != 0)
			continue; /* only the kernel speaks on these groups */
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			int r;

			if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			r = cb(nlh, data);
			if (r < 0)
				return r;
		}
	}
	if (overrun)
		return diag_fail(d, -ENOBUFS,
				 "netlink events: the kernel dropped events (receive buffer full)");
	return 0;
}
