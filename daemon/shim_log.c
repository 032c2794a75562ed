/* shim_log.c - container output: pipes (or the console) into CRI-format log files, rotated. */
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "daemon/shim_int.h"

/*
 * Format (the CRI logging format of the kubelet, containerd and CRI-O): one record per line,
 *     2026-11-22T13:44:05.123456789Z stdout F the text
 * time in UTC with 9 fraction digits, stream stdout|stderr, tag F (a full line: its newline
 * was seen and is not written) or P (partial: the rest follows in the next records of that
 * stream; used when a line is longer than line_max, when its newline has not come after
 * SHIM_PARTIAL_FLUSH_MS, and at a stream's end without a newline... where the last piece is F).
 * <log_dir>/<container>.log is the current file; when a record would take it past max_size it
 * is renamed <container>.log.1 (.1 to .2, ...; max_files files in all) and a new one begun.
 * The shim holds no buffer per container but a partial line (allocated while one is pending).
 */

static void rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

static int log_dirfd(struct shim *s)
{
	return open(s->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* (Re)open <ctr>.log for appending. */
static int log_open_file(struct shim *s, struct ctr *c)
{
	_cleanup_free_ char *path = strdup_printf("%s/%s.log", s->log_dir, c->name);
	struct stat st;
	int fd;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	c->log_fd = fd;
	c->log_size = (uint64_t)st.st_size;
	return 0;
}

/* <ctr>.log -> .1 -> .2 ... (the oldest falls off), then a new <ctr>.log. */
static void log_rotate(struct shim *s, struct ctr *c)
{
	_cleanup_close_ int dfd = log_dirfd(s);
	char from[128], to[128];
	int r;

	if (c->log_fd >= 0)
		close(c->log_fd);
	c->log_fd = -1;
	if (dfd < 0) {
		log_pod(LOG_LVL_WARN, s->pod, "container %s: log rotation: %s", c->name,
			strerror(errno));
	} else if (s->log_max_files <= 1) {
		snprintf(from, sizeof(from), "%s.log", c->name);
		unlinkat(dfd, from, 0);
	} else {
		for (unsigned int i = s->log_max_files - 1; i >= 1; i--) {
			if (i == 1)
				snprintf(from, sizeof(from), "%s.log", c->name);
			else
				snprintf(from, sizeof(from), "%s.log.%u", c->name, i - 1);
			snprintf(to, sizeof(to), "%s.log.%u", c->name, i);
			if (renameat(dfd, from, dfd, to) < 0 && errno != ENOENT)
				log_pod(LOG_LVL_WARN, s->pod, "container %s: rename %s: %s",
					c->name, from, strerror(errno));
		}
	}
	r = log_open_file(s, c);
	if (r < 0)
		log_pod(LOG_LVL_WARN, s->pod, "container %s: reopen log: %s", c->name,
			strerror(-r));
}

/* Write one record. */
static void log_record(struct shim *s, struct ctr *c, const char *stream, char tag,
		       const char *text, size_t len)
{
	char hdr[64];
	int hl;
	struct iovec iov[3];
	ssize_t n;

	rfc3339_now(hdr, sizeof(hdr));
	hl = (int)strlen(hdr);
	hl += snprintf(hdr + hl, sizeof(hdr) - (size_t)hl, " %s %c ", stream, tag);
	iov[0] = (struct iovec){ hdr, (size_t)hl };
	iov[1] = (struct iovec){ (void *)text, len };
	iov[2] = (struct iovec){ "\n", 1 };
	if (c->log_fd >= 0 && c->log_size > 0 &&
	    c->log_size + (size_t)hl + len + 1 > s->log_max_size)
		log_rotate(s, c);
	if (c->log_fd < 0)
		return;
	do
		n = writev(c->log_fd, iov, 3);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		log_pod(LOG_LVL_WARN, s->pod, "container %s: write log: %s", c->name,
			strerror(errno));
	else
		c->log_size += (uint64_t)n;
}

static void pend_flush(struct shim *s, struct ostream *o, char tag)
{
	if (!o->pend)
		return;
	log_record(s, o->ctr, o->name, tag, o->pend, o->plen);
	free(o->pend);
	o->pend = NULL;
	o->plen = 0;
}

/* Add text without a newline to the pending line, logging full line_max pieces as P. */
static void pend_add(struct shim *s, struct ostream *o, const char *p, size_t len)
{
	while (len) {
		size_t take;

		if (!o->pend) {
			o->pend = malloc(s->line_max);
			if (!o->pend) {
				/* no memory for the rest: log what we have as partial */
				log_record(s, o->ctr, o->name, 'P', p, len);
				return;
			}
			o->plen = 0;
			o->pend_at = now_mono_ms();
		}
		take = s->line_max - o->plen < len ? s->line_max - o->plen : len;
		memcpy(o->pend + o->plen, p, take);
		o->plen += take;
		p += take;
		len -= take;
		if (o->plen == s->line_max && len)
			pend_flush(s, o, 'P');
	}
}

/* A chunk of a stream: complete lines are F records, long ones are cut into P pieces. */
static void log_chunk(struct shim *s, struct ostream *o, const char *buf, size_t n)
{
	while (n) {
		const char *nl = memchr(buf, '\n', n);
		size_t len = nl ? (size_t)(nl - buf) : n;

		if (!nl) {
			pend_add(s, o, buf, len);
			return;
		}
		if (o->pend) {
			/* the end of a pending line: P pieces of line_max, the rest F */
			pend_add(s, o, buf, len);
			pend_flush(s, o, 'F');
		} else {
			const char *p = buf;
			size_t left = len;

			while (left > s->line_max) {
				log_record(s, o->ctr, o->name, 'P', p, s->line_max);
				p += s->line_max;
				left -= s->line_max;
			}
			log_record(s, o->ctr, o->name, 'F', p, left);
		}
		buf += len + 1;
		n -= len + 1;
	}
}

static void stream_close(struct shim *s, struct ostream *o)
{
	if (o->fd < 0)
		return;
	pend_flush(s, o, 'F');
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, o->fd, NULL);
	close(o->fd);
	o->fd = -1;
	o->events = 0;
}

int output_open(struct shim *s, struct ctr *c, int ret_w[2], struct diag *d)
{
	static const char *const names[] = { "stdout", "stderr" };
	int r, p[2];

	ret_w[0] = ret_w[1] = -1;
	for (int i = 0; i < 2; i++)
		c->out[i] = (struct ostream){ .fd = -1, .ctr = c, .name = names[i] };
	r = fs_mkdir_p(s->log_dir, 0755);
	if (r < 0)
		return diag_fail(d, r, "mkdir %s: %s", s->log_dir, strerror(-r));
	if (c->log_fd < 0) {
		r = log_open_file(s, c);
		if (r < 0)
			return diag_fail(d, r, "open log %s/%s.log: %s", s->log_dir, c->name,
					 strerror(-r));
	}
	if (c->tty)
		return 0;
	for (int i = 0; i < 2; i++) {
		if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
			r = diag_fail(d, -errno, "pipe: %s", strerror(errno));
			if (i == 1) {
				close(ret_w[0]);
				ret_w[0] = -1;
			}
			output_close(s, c);
			return r;
		}
		c->out[i].fd = p[0];
		ret_w[i] = p[1];
	}
	return 0;
}

int output_start(struct shim *s, struct ctr *c, int master)
{
	if (master >= 0) {
		if (c->out[0].fd >= 0)
			close(master); /* one console per run */
		else
			c->out[0].fd = master, c->out[0].console = true;
		fcntl(c->out[0].fd, F_SETFL, fcntl(c->out[0].fd, F_GETFL) | O_NONBLOCK);
	}
	for (int i = 0; i < 2; i++) {
		struct ostream *o = &c->out[i];

		if (o->fd < 0 || o->events)
			continue;
		o->src = (struct src){ SRC_OUTPUT, o };
		o->events = EPOLLIN;
		if (shim_epoll_add(s, o->fd, EPOLLIN, &o->src) < 0) {
			log_pod(LOG_LVL_WARN, s->pod, "container %s: watch %s: %s", c->name,
				o->name, strerror(errno));
			stream_close(s, o);
		}
	}
	return 0;
}

int output_readable(struct shim *s, struct ostream *o)
{
	ssize_t n;

	if (o->fd < 0)
		return -1;
	do
		n = read(o->fd, s->rbuf, s->line_max);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0) {
		/* EOF, or EIO from a console whose last slave closed; an attached client gets
		 * its reply when the container is reaped */
		stream_close(s, o);
		return -1;
	}
	log_chunk(s, o, s->rbuf, (size_t)n);
	if (o->console && o->ctr->attach)
		session_output(s, o->ctr->attach, s->rbuf, (size_t)n);
	return 1;
}

void output_close(struct shim *s, struct ctr *c)
{
	for (int i = 0; i < 2; i++) {
		struct ostream *o = &c->out[i];

		/* the container's processes are gone: whatever is in the pipe is all there is
		 * (bounded: a writer that survived, e.g. with share_pid, cannot keep us here) */
		for (int guard = 0; guard < 1024 && output_readable(s, o) > 0; guard++)
			;
		stream_close(s, o);
	}
	if (c->log_fd >= 0)
		close(c->log_fd);
	c->log_fd = -1;
}

uint64_t output_timers(struct shim *s, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < s->n_ctrs; i++)
		for (int j = 0; j < 2; j++) {
			struct ostream *o = &s->ctrs[i].out[j];
			uint64_t due = o->pend_at + SHIM_PARTIAL_FLUSH_MS;

			if (!o->pend)
				continue;
			if (due <= now)
				pend_flush(s, o, 'P');
			else if (due < next)
				next = due;
		}
	return next;
}
