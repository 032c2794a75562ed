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

/*
 * Run fn inside the netns on the calling thread, then come back. setns() affects only the
 * calling thread; other threads keep working in their netns.
 */
static int in_netns(int netns_fd, int (*fn)(void *), void *data, struct diag *d)
{
	_cleanup_close_ int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	if (orig < 0)
		return diag_fail(d, -errno, "opening the current netns: %s", strerror(errno));
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return diag_fail(d, -errno, "entering the pod netns: %s", strerror(errno));
	r = fn(data);
	if (setns(orig, CLONE_NEWNET) < 0) {
		/* Carrying on would create host links and routes inside a pod: stop here. This
		 * cannot fail for a privileged caller holding a valid fd of its own netns. */
		abort();
	}
	return r;
}

struct sock_args {
	int domain, type, protocol;
};

static int make_socket(void *data)
{
	struct sock_args *a = data;
	int fd = socket(a->domain, a->type | SOCK_CLOEXEC, a->protocol);

	return fd < 0 ? -errno : fd;
}

int np_netns_socket(int netns_fd, int domain, int type, int protocol, struct diag *d)
{
	struct sock_args a = { domain, type, protocol };
	int r = in_netns(netns_fd, make_socket, &a, d);

	if (r < 0 && d && !d->err)
		return diag_fail(d, r, "socket in the pod netns: %s", strerror(-r));
	return r;
}

static int open_sysctl(void *data)
{
	/* /proc/sys/net belongs to the netns of the task that opens it */
	int fd = open(data, O_WRONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int np_netns_sysctl(int netns_fd, const char *key, const char *value, struct diag *d)
{
	char path[256];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (strstr(key, "..") || snprintf(path, sizeof(path), "/proc/sys/%s", key) >= (int)sizeof(path))
		return diag_fail(d, -EINVAL, "sysctl %s: bad name", key);
	fd = in_netns(netns_fd, open_sysctl, path, d);
	if (fd < 0)
		return d && d->err ? fd : diag_fail(d, fd, "sysctl %s: %s", key, strerror(-fd));
	n = write(fd, value, strlen(value));
	if (n < 0)
		return diag_fail(d, -errno, "sysctl %s = %s: %s", key, value, strerror(errno));
	return 0;
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
