/* shim_loop.c - tank-shim's event loop: connections, signals, timers (epoll + signalfd). */
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "daemon/shim_int.h"

/* ---- connections ------------------------------------------------------------------------ */

int shim_epoll_add(struct shim *s, int fd, uint32_t events, struct src *src)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void conn_close(struct shim *s, struct conn *c)
{
	if (c->dead)
		return;
	if (c->in_epoll)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	ipc_reader_clear(&c->rd);
	c->fd = -1;
	c->in_epoll = false;
	c->dead = true;
}

/* Stop listening to a connection whose reply is pending (a hang-up would spin the loop). */
void conn_park(struct shim *s, struct conn *c, enum conn_wait wait, struct ctr *ctr)
{
	if (c->in_epoll)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->in_epoll = false;
	c->st = CONN_PENDING;
	c->wait = wait;
	c->ctr = ctr;
}

/* Send a reply (consumed) and close the connection. */
void conn_reply(struct shim *s, struct conn *c, json_t *reply)
{
	int r;

	if (!c || c->dead) {
		json_decref(reply);
		return;
	}
	r = reply ? ipc_send_json(c->fd, reply, NULL, 0) : -ENOMEM;
	if (r < 0)
		log_pod(LOG_LVL_DEBUG, s->pod, "reply: %s", strerror(-r));
	json_decref(reply);
	conn_close(s, c);
}

void conn_ok(struct shim *s, struct conn *c)
{
	conn_reply(s, c, json_pack("{s:b}", "ok", 1));
}

void conn_fail(struct shim *s, struct conn *c, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_reply(s, c, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

static void conns_sweep(struct shim *s)
{
	while (s->dead_sessions) {
		struct session *t = s->dead_sessions;

		s->dead_sessions = t->next_dead;
		free(t);
	}
	while (s->dead_execs) {
		struct execp *e = s->dead_execs;

		s->dead_execs = e->next;
		free(e);
	}
	for (struct conn **pp = &s->conns; *pp;) {
		struct conn *c = *pp;

		if (c->dead) {
			*pp = c->next;
			s->n_conns--;
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

/* Push an event to every watcher; a watcher that cannot take it is dropped. */
void watchers_push(struct shim *s, json_t *ev)
{
	for (struct conn *c = s->conns; c; c = c->next) {
		int r;

		if (c->dead || c->st != CONN_WATCH)
			continue;
		r = ipc_send_json(c->fd, ev, NULL, 0);
		if (r < 0) {
			log_pod(LOG_LVL_WARN, s->pod, "dropping a watcher: %s", strerror(-r));
			conn_close(s, c);
		}
	}
}

/* ---- events ----------------------------------------------------------------------------- */

static void on_listen(struct shim *s)
{
	for (;;) {
		struct timeval tv = { .tv_sec = SHIM_REQ_TIMEOUT_MS / 1000,
				      .tv_usec = (SHIM_REQ_TIMEOUT_MS % 1000) * 1000 };
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *k;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_pod(LOG_LVL_WARN, s->pod, "accept: %s", strerror(errno));
			return;
		}
		if (s->n_conns >= SHIM_CONNS_MAX || !(k = calloc(1, sizeof(*k)))) {
			log_pod(LOG_LVL_WARN, s->pod, "refusing a connection: too many");
			close(fd);
			continue;
		}
		/* blocking socket, but no read or write on it may take longer than this */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		k->fd = fd;
		k->st = CONN_READING;
		k->deadline = now_mono_ms() + SHIM_REQ_TIMEOUT_MS;
		k->src = (struct src){ SRC_CONN, k };
		if (shim_epoll_add(s, fd, EPOLLIN | EPOLLRDHUP, &k->src) < 0) {
			close(fd);
			free(k);
			continue;
		}
		k->in_epoll = true;
		k->next = s->conns;
		s->conns = k;
		s->n_conns++;
	}
}

/* Requests are read with lib's non-blocking ipc_reader: a slow client never holds the loop,
 * and one that has not sent its request within SHIM_REQ_TIMEOUT_MS is dropped by the timer. */
static void on_conn_readable(struct shim *s, struct conn *k)
{
	int fds[IPC_FDS_MAX];
	size_t nfds = 0;
	json_t *req = NULL;
	int r;

	if (k->st == CONN_SESSION) {
		/* frames from an attached or tty exec client: resize; its end ends the session */
		for (;;) {
			r = ipc_reader_next(&k->rd, k->fd, &req, fds, &nfds);
			for (size_t i = 0; i < nfds; i++)
				close(fds[i]);
			nfds = 0;
			if (r == 0)
				return;
			if (r < 0) {
				if (k->sess)
					session_end(s, k->sess, NULL);
				conn_close(s, k);
				return;
			}
			if (k->sess)
				session_frame(s, k->sess, req);
			json_decref(req);
			req = NULL;
		}
	}
	if (k->st == CONN_WATCH) {
		char sink[256];
		ssize_t n = recv(k->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(s, k);
		return;
	}
	r = ipc_reader_next(&k->rd, k->fd, &req, fds, &nfds);
	if ((r == 0 || r == -EPROTO) && k->rd.len >= 4) {
		const unsigned char *h = (const unsigned char *)k->rd.buf;
		uint32_t len =
			(uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];

		if (len > SHIM_REQ_MAX) {
			conn_fail(s, k, "request of %u bytes is larger than the limit of %u", len,
				  SHIM_REQ_MAX);
			return;
		}
	}
	if (r == 0)
		return;
	if (r == -EPIPE) {
		conn_close(s, k);
		return;
	}
	if (r < 0) {
		conn_fail(s, k, "bad request: %s",
			  r == -EPROTO ? "malformed or oversized frame" : strerror(-r));
		return;
	}
	if (!json_is_object(req) || nfds > 3) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		json_decref(req);
		conn_fail(s, k, "bad request: %s",
			  nfds > 3 ? "more than 3 fds" : "not a JSON object");
		return;
	}
	shim_request(s, k, req, fds, nfds);
	json_decref(req);
}

static void on_signal(struct shim *s)
{
	struct signalfd_siginfo si;
	bool chld = false;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			chld = true;
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			/* tankd's way of saying destroy when it cannot talk to us */
			log_pod(LOG_LVL_INFO, s->pod, "signal %u: destroying", si.ssi_signo);
			shim_destroy_begin(s, SHIM_GRACE_DEFAULT_MS, true);
		}
	}
	if (chld)
		shim_reap(s);
	else
		shim_destroy_check(s);
}

static void on_start_pipe(struct shim *s, struct ctr *c)
{
	int con = -1;
	bool eof;

	if (c->err_fd < 0)
		return;
	eof = pipe_drain(c->err_fd, c->errbuf, sizeof(c->errbuf), &c->errlen, &con);
	/* a tty container's console master comes first, before its execve */
	if (con >= 0)
		output_start(s, c, con);
	if (eof)
		shim_start_finish(s, c);
}

/* ---- idle trim ---------------------------------------------------------------------------- */

/* a shim idle this long gives back what its setup and its last requests left mapped */
#define SHIM_TRIM_IDLE_MS 1000

/*
 * The read-only segments of the shim's own (static) binary: never written, so dropping their
 * page table entries loses nothing, and a later access maps the page again from the page
 * cache (a minor fault). The kernel maps text around every fault (fault-around) and setup
 * runs most of it once, so a pod that sleeps kept ~1 MiB mapped it never touches again.
 * Only whole pages inside a segment; the first object is the program itself.
 */
static int trim_segments(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);

	(void)size;
	(void)data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr, e = a + ph->p_memsz;

		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
			continue;
		a = (a + pg - 1) & ~(pg - 1);
		e &= ~(pg - 1);
		if (e > a)
			madvise((void *)a, e - a, MADV_DONTNEED);
	}
	return 1;
}

/* Give back memory after a burst of work: free heap pages, and the mapped read-only pages. */
static void shim_trim(void)
{
	malloc_trim(0);
	dl_iterate_phdr(trim_segments, NULL);
}

/* SIGKILL after a stop grace, dropped slow clients; returns the epoll timeout in ms. */
static int timers_run(struct shim *s)
{
	uint64_t now = now_mono_ms(), next = UINT64_MAX;

	for (size_t i = 0; i < s->n_ctrs; i++) {
		struct ctr *c = &s->ctrs[i];

		if (!c->kill_at)
			continue;
		if (c->kill_at <= now && c->pidfd >= 0) {
			log_pod(LOG_LVL_INFO, s->pod, "container %s: grace over, SIGKILL", c->name);
			shim_pidfd_kill(c->pidfd, SIGKILL);
			c->kill_at = 0;
		} else if (c->kill_at < next) {
			next = c->kill_at;
		}
	}
	for (struct execp *e = s->execs; e; e = e->next) {
		if (!e->kill_at || e->reaped)
			continue;
		if (e->kill_at <= now) {
			kill(e->pid, SIGKILL); /* not reaped yet, so the pid is still ours */
			e->kill_at = 0;
		} else if (e->kill_at < next) {
			next = e->kill_at;
		}
	}
	{
		uint64_t o = output_timers(s, now), x = exec_timers(s, now);

		if (o < next)
			next = o;
		if (x < next)
			next = x;
	}
	for (struct conn *k = s->conns; k; k = k->next) {
		if (k->dead || k->st != CONN_READING)
			continue;
		if (k->deadline <= now) {
			log_pod(LOG_LVL_DEBUG, s->pod,
				"dropping a client that did not send a request");
			conn_close(s, k);
		} else if (k->deadline < next) {
			next = k->deadline;
		}
	}
	if (s->trim_at && s->trim_at <= now) {
		shim_trim();
		s->trim_at = 0;
	} else if (s->trim_at && s->trim_at < next) {
		next = s->trim_at;
	}
	if (next == UINT64_MAX)
		return -1;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

int shim_loop_init(struct shim *s, struct diag *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	s->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return diag_fail(d, -errno, "signalfd: %s", strerror(errno));
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return diag_fail(d, -errno, "epoll: %s", strerror(errno));
	s->listen_src = (struct src){ SRC_LISTEN, s };
	s->signal_src = (struct src){ SRC_SIGNAL, s };
	if (shim_epoll_add(s, s->lfd, EPOLLIN, &s->listen_src) < 0 ||
	    shim_epoll_add(s, s->sigfd, EPOLLIN, &s->signal_src) < 0)
		return diag_fail(d, -errno, "epoll_ctl: %s", strerror(errno));
	return 0;
}

int shim_loop(struct shim *s)
{
	struct epoll_event evs[32];

	s->trim_at = now_mono_ms() + SHIM_TRIM_IDLE_MS;
	while (!s->done) {
		int timeout = timers_run(s);
		int n;

		conns_sweep(s);
		n = epoll_wait(s->epfd, evs, (int)ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR) {
			log_pod(LOG_LVL_ERROR, s->pod, "epoll_wait: %s", strerror(errno));
			return 1;
		}
		if (n > 0)
			s->trim_at = now_mono_ms() + SHIM_TRIM_IDLE_MS;
		for (int i = 0; i < n && !s->done; i++) {
			struct src *src = evs[i].data.ptr;

			switch (src->kind) {
			case SRC_LISTEN:
				if (s->lfd >= 0)
					on_listen(s);
				break;
			case SRC_SIGNAL:
				on_signal(s);
				break;
			case SRC_CONN: {
				struct conn *k = src->obj;

				if (!k->dead)
					on_conn_readable(s, k);
				break;
			}
			case SRC_START_PIPE:
				on_start_pipe(s, src->obj);
				break;
			case SRC_OUTPUT: {
				struct ostream *o = src->obj;

				if ((evs[i].events & EPOLLOUT) && o->console && o->ctr->attach)
					session_master_writable(s, o->ctr->attach);
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					output_readable(s, o);
				break;
			}
			case SRC_EXEC_CHAN:
				exec_chan_readable(s, src->obj);
				break;
			case SRC_TTY_IN:
			case SRC_TTY_OUT:
			case SRC_TTY_MASTER:
				session_event(s, src, evs[i].events);
				break;
			}
		}
	}
	conns_sweep(s);
	return 0;
}
