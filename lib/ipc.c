/* ipc.c - length-prefixed JSON frames with SCM_RIGHTS on unix stream sockets. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "lib.h"

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, char *p, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPROTO; /* EOF inside a frame */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ipc_frame_json(json_t *msg, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *body = json_dumps(msg, JSON_COMPACT);
	size_t len;
	char *f;

	if (!body)
		return -ENOMEM;
	len = strlen(body);
	if (len > IPC_FRAME_MAX)
		return -EMSGSIZE;
	f = malloc(len + 4);
	if (!f)
		return -ENOMEM;
	f[0] = (char)(len >> 24);
	f[1] = (char)(len >> 16);
	f[2] = (char)(len >> 8);
	f[3] = (char)len;
	memcpy(f + 4, body, len);
	*ret = f;
	*ret_len = len + 4;
	return 0;
}

int ipc_send_json(int fd, json_t *msg, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_FDS_MAX)];
		struct cmsghdr align;
	} u;
	_cleanup_free_ char *frame = NULL;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t len;
	ssize_t n;
	int r;

	if (nfds > IPC_FDS_MAX)
		return -EMSGSIZE;
	r = ipc_frame_json(msg, &frame, &len);
	if (r < 0)
		return r;
	iov = (struct iovec){ .iov_base = frame, .iov_len = len };
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* the fds ride on the first bytes sent, i.e. on the header */
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return write_all(fd, frame + n, len - (size_t)n);
}

int ipc_recv_json(int fd, json_t **ret, int *ret_fds, size_t max_fds, size_t *ret_nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_FDS_MAX)];
		struct cmsghdr align;
	} u;
	unsigned char hdr[4];
	struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	int fds[IPC_FDS_MAX];
	size_t nfds = 0, len;
	_cleanup_free_ char *body = NULL;
	ssize_t n;
	int r;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k && nfds < IPC_FDS_MAX; i++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	r = n < (ssize_t)sizeof(hdr) ? read_all(fd, (char *)hdr + n, sizeof(hdr) - (size_t)n) : 0;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (r == 0 && (len > IPC_FRAME_MAX || (mh.msg_flags & MSG_CTRUNC) || (ret_fds && nfds > max_fds)))
		r = -EPROTO;
	if (r == 0 && !(body = malloc(len + 1)))
		r = -ENOMEM;
	if (r == 0)
		r = read_all(fd, body, len);
	if (r == 0)
		r = json_parse_buf(body, len, ret, NULL);
	if (r < 0 || !ret_fds) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		nfds = 0;
	} else {
		memcpy(ret_fds, fds, nfds * sizeof(int));
	}
	if (ret_nfds)
		*ret_nfds = nfds;
	return r;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int ipc_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, r = unix_addr(path, &sa);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int ipc_listen(const char *path, mode_t mode)
{
	struct sockaddr_un sa;
	int fd, r = unix_addr(path, &sa);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || fchmod(fd, mode) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* A whole frame at the front of the buffer: hand it out and shift the rest down. */
static int reader_take(struct ipc_reader *r, json_t **ret, int *ret_fds, size_t *ret_nfds)
{
	size_t len;
	int e;

	if (r->len < 4)
		return 0;
	len = (size_t)(unsigned char)r->buf[0] << 24 | (size_t)(unsigned char)r->buf[1] << 16 |
	      (size_t)(unsigned char)r->buf[2] << 8 | (unsigned char)r->buf[3];
	if (len > IPC_FRAME_MAX)
		return -EPROTO;
	if (r->len < 4 + len)
		return 0;
	e = json_parse_buf(r->buf + 4, len, ret, NULL);
	memmove(r->buf, r->buf + 4 + len, r->len - 4 - len);
	r->len -= 4 + len;
	if (r->len == 0 && r->cap > 65536) {
		/* a big frame is done with: do not keep megabytes per idle connection */
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	}
	if (e < 0)
		return -EPROTO;
	memcpy(ret_fds, r->fds, r->nfds * sizeof(int));
	*ret_nfds = r->nfds;
	r->nfds = 0;
	return 1;
}

int ipc_reader_next(struct ipc_reader *r, int fd, json_t **ret, int *ret_fds, size_t *ret_nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_FDS_MAX)];
		struct cmsghdr align;
	} u;

	*ret_nfds = 0;
	for (;;) {
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		int r1 = reader_take(r, ret, ret_fds, ret_nfds);
		size_t want;
		ssize_t n;

		if (r1 != 0)
			return r1;
		/* room for the frame being read (its header says how big), else for 1 KiB more:
		 * a connection of small frames (a shim's event stream) keeps a small buffer */
		want = r->len + 1024;
		if (r->len >= 4) {
			size_t flen = (size_t)(unsigned char)r->buf[0] << 24 |
				      (size_t)(unsigned char)r->buf[1] << 16 |
				      (size_t)(unsigned char)r->buf[2] << 8 | (unsigned char)r->buf[3];

			if (flen + 4 > want)
				want = flen + 4;
		}
		if (want > IPC_FRAME_MAX + 4 + 1024)
			want = IPC_FRAME_MAX + 4 + 1024;
		if (r->cap < want) {
			size_t ncap = r->cap ? r->cap : 1024;
			char *nb;

			while (ncap < want)
				ncap *= 2;
			if (ncap > IPC_FRAME_MAX + 4 + 1024)
				ncap = want; /* never more than one largest frame */
			if (ncap <= r->len)
				return -EPROTO;
			nb = realloc(r->buf, ncap);
			if (!nb)
				return -ENOMEM;
			r->buf = nb;
			r->cap = ncap;
		}
		iov.iov_base = r->buf + r->len;
		iov.iov_len = r->cap - r->len;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			return -EPIPE;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t k;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (r->nfds < IPC_FDS_MAX)
					r->fds[r->nfds++] = f;
				else
					close(f);
			}
		}
		r->len += (size_t)n;
	}
}

void ipc_reader_clear(struct ipc_reader *r)
{
	for (size_t i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}
