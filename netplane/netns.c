/* netns.c - network namespace handles: open, sockets created inside a netns, loopback up. */
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "netplane/netplane.h"

int np_netns_open(const char *path)
{
	_cleanup_close_ int fd = -1;
	int type;

	if (!path || !*path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* Refuse anything that is not a network namespace (a plain file, another ns type). */
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0)
		return errno == ENOTTY ? -EINVAL : -errno;
	if (type != CLONE_NEWNET)
		return -EINVAL;
	return TAKE_FD(fd);
}

int np_netns_socket(int netns_fd, int domain, int type, int protocol, struct diag *d)
{
	_cleanup_close_ int orig = -1;
	int fd, r = 0;

	/* setns() affects only the calling thread; other threads keep working in their netns. */
	orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0) {
		r = -errno;
		return diag_fail(d, r, "opening the current netns: %s", strerror(-r));
	}
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		r = -errno;
		return diag_fail(d, r, "entering the pod netns: %s", strerror(-r));
	}
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		r = -errno;
	if (setns(orig, CLONE_NEWNET) < 0) {
		/* Carrying on would create host links and routes inside a pod: stop here. This
		 * cannot fail for a privileged caller holding a valid fd of its own netns. */
		abort();
	}
	if (r < 0)
		return diag_fail(d, r, "socket in the pod netns: %s", strerror(-r));
	return fd;
}

int np_netns_lo_up(int netns_fd, struct diag *d)
{
	struct np_nl *nl = NULL;
	struct np_msgs m;
	int r;

	r = np_nl_open(netns_fd, &nl, d);
	if (r < 0)
		return r;
	np_msgs_init(&m);
	if (!np_msg_link_up(&m, 0, "lo"))
		r = diag_fail(d, -errno, "loopback up: cannot build the request");
	else
		r = np_nl_talk(nl, &m, NULL, NULL, d);
	if (r < 0)
		diag_prefix(d, "loopback up: ");
	np_nl_close(nl);
	return r;
}
