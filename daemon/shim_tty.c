/* shim_tty.c - sessions: bytes between a pty master and a client's terminal, detach keys. */
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>

#include "daemon/shim_int.h"

/*
 * A session joins a pty master (a tty container's console for "attach", a tty exec's own pty)
 * to the fds a client passed (its terminal; through tankd, untouched). The shim never sets
 * O_NONBLOCK on the client's open file descriptions: it opens its own through
 * /proc/self/fd/N (ttys, pipes) or uses MSG_DONTWAIT (sockets). Output the client cannot take
 * at once is kept up to SHIM_TTY_BACKLOG, then the client is dropped; input the pty cannot
 * take stops reading the client until it can. The detach sequence is held back while it
 * matches and ends the session when complete; a partial match that breaks is passed on.
 */

int detach_keys_parse(const char *spec, unsigned char *keys, size_t *n)
{
	const char *p = spec;

	*n = 0;
	if (!spec || !*spec)
		return 0;
	for (;;) {
		const char *end = strchrnul(p, ',');
		size_t len = (size_t)(end - p);
		int k = -1;

		if (len == 1) {
			k = (unsigned char)p[0];
		} else if (len == 6 && strncmp(p, "ctrl-", 5) == 0) {
			char ch = p[5];

			if (ch >= 'a' && ch <= 'z')
				k = ch - 'a' + 1;
			else if (ch == '@')
				k = 0;
			else if (ch >= '[' && ch <= '_')
				k = ch - '[' + 27;
		}
		if (k < 0 || *n >= 16)
			return -EINVAL;
		keys[(*n)++] = (unsigned char)k;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

/* Our own non-blocking description of a client's fd (or a dup of a socket). */
static int fd_reopen(int fd, int flags, bool *ret_sock)
{
	char path[64];
	struct stat st;

	*ret_sock = false;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISSOCK(st.st_mode)) {
		*ret_sock = true;
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int sess_master(const struct session *t)
{
	return t->exec ? t->master : t->ctr->out[0].fd;
}

/* Register the master for reading, and for writing while input is pending. */
static void master_watch(struct shim *s, struct session *t)
{
	uint32_t ev = EPOLLIN | (t->ilen > t->ioff ? EPOLLOUT : 0);
	int m = sess_master(t);

	if (m < 0)
		return;
	if (t->exec) {
		struct epoll_event e = { .events = ev, .data.ptr = &t->master_src };

		if (t->master_eof)
			return;
		if (epoll_ctl(s->epfd, t->master_ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, m, &e) == 0)
			t->master_ev = ev;
	} else {
		struct ostream *o = &t->ctr->out[0];
		struct epoll_event e = { .events = ev, .data.ptr = &o->src };

		if (o->events && o->events != ev && epoll_ctl(s->epfd, EPOLL_CTL_MOD, m, &e) == 0)
			o->events = ev;
	}
}

static void in_watch(struct shim *s, struct session *t, bool on)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &t->in_src };

	if (t->in_fd < 0 || t->in_reg == on)
		return;
	if (epoll_ctl(s->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, t->in_fd, &e) == 0)
		t->in_reg = on;
}

static void out_watch(struct shim *s, struct session *t, bool on)
{
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = &t->out_src };

	if (t->out_fd < 0 || t->out_reg == on)
		return;
	if (epoll_ctl(s->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, t->out_fd, &e) == 0)
		t->out_reg = on;
}

/* Drop the client: reply (consumed), close its fds. The session itself stays. */
static void session_drop_client(struct shim *s, struct session *t, json_t *reply)
{
	in_watch(s, t, false);
	out_watch(s, t, false);
	if (t->in_fd >= 0)
		close(t->in_fd);
	if (t->out_fd >= 0)
		close(t->out_fd);
	t->in_fd = t->out_fd = -1;
	free(t->obuf);
	t->obuf = NULL;
	t->olen = t->ooff = 0;
	t->ilen = t->ioff = 0;
	if (t->conn) {
		t->conn->sess = NULL;
		if (reply)
			conn_reply(s, t->conn, reply);
		else
			conn_close(s, t->conn);
		reply = NULL;
	}
	json_decref(reply);
	t->conn = NULL;
	if (t->exec)
		t->exec->conn = NULL;
	master_watch(s, t);
}

void session_end(struct shim *s, struct session *t, json_t *reply)
{
	session_drop_client(s, t, reply);
	if (t->exec) {
		if (t->master >= 0) {
			if (t->master_ev && !t->master_eof)
				epoll_ctl(s->epfd, EPOLL_CTL_DEL, t->master, NULL);
			close(t->master); /* the command's terminal hangs up */
		}
		t->exec->sess = NULL;
	} else {
		t->ctr->attach = NULL;
	}
	/* events of this loop iteration may still name it */
	t->dead = true;
	t->next_dead = s->dead_sessions;
	s->dead_sessions = t;
}

int session_new(struct shim *s, struct conn *k, struct ctr *c, struct execp *e, int master,
		int in_fd, int out_fd, const char *keys, struct session **ret, struct diag *d)
{
	struct session *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->ctr = c;
	t->exec = e;
	t->master = master;
	t->in_fd = t->out_fd = -1;
	t->in_src = (struct src){ SRC_TTY_IN, t };
	t->out_src = (struct src){ SRC_TTY_OUT, t };
	t->master_src = (struct src){ SRC_TTY_MASTER, t };
	if (detach_keys_parse(keys, t->keys, &t->nkeys) < 0) {
		free(t);
		return diag_fail(d, -EINVAL,
				 "detach_keys: \"%s\" is not a list like \"ctrl-p,ctrl-q\"", keys);
	}
	r = out_fd >= 0 ? fd_reopen(out_fd, O_WRONLY, &t->out_sock) : -1;
	if (out_fd >= 0 && r < 0) {
		free(t);
		return diag_fail(d, r, "client output: %s", strerror(-r));
	}
	t->out_fd = r;
	r = in_fd >= 0 ? fd_reopen(in_fd, O_RDONLY, &t->in_sock) : -1;
	if (in_fd >= 0 && r < 0) {
		session_end(s, t, NULL);
		return diag_fail(d, r, "client input: %s", strerror(-r));
	}
	t->in_fd = r;
	in_watch(s, t, true);
	if (t->in_fd >= 0 && !t->in_reg) {
		r = -errno;
		session_end(s, t, NULL);
		return diag_fail(d, r, "client input cannot be watched: %s", strerror(-r));
	}
	/* the connection stays readable: resize frames, and its end is the client's */
	t->conn = k;
	k->st = CONN_SESSION;
	k->sess = t;
	*ret = t;
	return 0;
}

static ssize_t client_write(struct session *t, const char *p, size_t len)
{
	return t->out_sock ? send(t->out_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL)
			   : write(t->out_fd, p, len);
}

void session_output(struct shim *s, struct session *t, const char *buf, size_t len)
{
	ssize_t n = 0;

	if (t->out_fd < 0 || len == 0)
		return;
	if (t->olen == t->ooff) {
		n = client_write(t, buf, len);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			session_drop_client(s, t, NULL); /* the client is gone */
			if (!t->exec)
				session_end(s, t, NULL);
			return;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return;
	}
	buf += n;
	len -= (size_t)n;
	if (t->olen - t->ooff + len > SHIM_TTY_BACKLOG) {
		log_pod(LOG_LVL_INFO, s->pod, "container %s: dropping a client that does not read",
			t->ctr->name);
		session_drop_client(s, t,
				    json_pack("{s:b,s:s}", "ok", 0, "error",
					      "dropped: the client did not read its output"));
		if (!t->exec)
			session_end(s, t, NULL);
		return;
	}
	if (t->ooff) {
		memmove(t->obuf, t->obuf + t->ooff, t->olen - t->ooff);
		t->olen -= t->ooff;
		t->ooff = 0;
	}
	{
		char *nb = realloc(t->obuf, t->olen + len);

		if (!nb)
			return; /* lose this piece rather than the session */
		t->obuf = nb;
	}
	memcpy(t->obuf + t->olen, buf, len);
	t->olen += len;
	out_watch(s, t, true);
}

static void out_writable(struct shim *s, struct session *t)
{
	while (t->ooff < t->olen) {
		ssize_t n = client_write(t, t->obuf + t->ooff, t->olen - t->ooff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			session_drop_client(s, t, NULL);
			if (!t->exec)
				session_end(s, t, NULL);
			return;
		}
		t->ooff += (size_t)n;
	}
	free(t->obuf);
	t->obuf = NULL;
	t->olen = t->ooff = 0;
	out_watch(s, t, false);
	if (t->exec && t->exec->reaped)
		exec_check_done(s, t->exec);
}

void session_master_writable(struct shim *s, struct session *t)
{
	int m = sess_master(t);

	while (m >= 0 && t->ioff < t->ilen) {
		ssize_t n = write(m, t->ibuf + t->ioff, t->ilen - t->ioff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			t->ioff = t->ilen; /* the terminal is gone: input has nowhere to go */
			break;
		}
		t->ioff += (size_t)n;
	}
	if (t->ioff == t->ilen) {
		t->ioff = t->ilen = 0;
		in_watch(s, t, true);
	} else {
		in_watch(s, t, false);
	}
	master_watch(s, t);
}

/* Client input: hold back a detach sequence while it matches, pass the rest to the pty. */
static void in_readable(struct shim *s, struct session *t)
{
	unsigned char buf[SHIM_TTY_CHUNK - 32];
	ssize_t n;

	do
		n = t->in_sock ? recv(t->in_fd, buf, sizeof(buf), MSG_DONTWAIT)
			       : read(t->in_fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		/* end of the client's input: the session goes on for its output */
		in_watch(s, t, false);
		close(t->in_fd);
		t->in_fd = -1;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		unsigned char b = buf[i];

		if (t->nkeys && b == t->keys[t->matched]) {
			if (++t->matched == t->nkeys) {
				t->matched = 0;
				session_master_writable(s, t); /* what came before the keys */
				session_drop_client(s, t,
						    json_pack("{s:b,s:b}", "ok", 1, "detached", 1));
				if (!t->exec)
					session_end(s, t, NULL);
				return;
			}
			continue;
		}
		if (t->matched) {
			/* not the sequence after all: its held prefix is input */
			memcpy(t->ibuf + t->ilen, t->keys, t->matched);
			t->ilen += t->matched;
			t->matched = 0;
			if (t->nkeys && b == t->keys[0]) {
				t->matched = 1;
				continue;
			}
		}
		t->ibuf[t->ilen++] = (char)b;
	}
	session_master_writable(s, t);
}

/* A tty exec's master: output for the client; EIO when the command's side is all closed. */
static void master_readable(struct shim *s, struct session *t)
{
	ssize_t n;

	do
		n = read(t->master, s->rbuf, s->line_max < SHIM_TTY_CHUNK ? s->line_max
									  : SHIM_TTY_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, t->master, NULL);
		t->master_eof = true;
		if (t->exec->reaped)
			exec_check_done(s, t->exec);
		return;
	}
	session_output(s, t, s->rbuf, (size_t)n);
}

void session_event(struct shim *s, struct src *src, uint32_t events)
{
	struct session *t = src->obj;

	if (t->dead)
		return;
	switch (src->kind) {
	case SRC_TTY_IN:
		in_readable(s, t);
		break;
	case SRC_TTY_OUT:
		out_writable(s, t);
		break;
	case SRC_TTY_MASTER:
		if (events & EPOLLOUT)
			session_master_writable(s, t);
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			master_readable(s, t);
		break;
	default:
		break;
	}
}

int session_resize(int master, const json_t *msg, int client_fd)
{
	struct winsize ws = { 0 };
	json_int_t rows = json_int(msg, "rows", 0), cols = json_int(msg, "cols", 0);

	if (master < 0)
		return -EBADF;
	if (rows > 0 && cols > 0 && rows <= 10000 && cols <= 10000) {
		ws.ws_row = (unsigned short)rows;
		ws.ws_col = (unsigned short)cols;
	} else if (client_fd < 0 || ioctl(client_fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row) {
		return -EINVAL; /* nothing to go by */
	}
	/* the kernel sends SIGWINCH to the terminal's foreground process group */
	return ioctl(master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

void session_frame(struct shim *s _unused_, struct session *t, json_t *msg)
{
	const char *op = json_str(msg, "op", "");

	if (strcmp(op, "resize") == 0)
		session_resize(sess_master(t), msg, t->out_fd >= 0 ? t->out_fd : t->in_fd);
}

void exec_session_begin(struct shim *s, struct execp *e, int master)
{
	struct session *t = e->sess;

	if (!t) {
		close(master); /* the client is gone already: hang up on the command */
		return;
	}
	if (t->master >= 0) {
		close(master);
		return;
	}
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	t->master = master;
	master_watch(s, t);
	session_master_writable(s, t); /* input typed before the pty existed */
}
