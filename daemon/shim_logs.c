/* shim_logs.c - the "logs" operation: a helper process reads the CRI files for one client. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "daemon/shim_int.h"

/*
 * The shim's loop never reads log files or writes to a client that may be slow: each "logs"
 * request gets a forked helper that owns the connection (and the client's fds) from then on,
 * reads the rotated files oldest first, then follows the current one (inotify on log_dir;
 * rotation is seen as a new inode under the name, after the old file was read to its end).
 * A following helper ends when the shim closes its end pipe (the container's output was all
 * logged) or when the client hangs up. Memory of the helper is its own, not the shim's.
 */

struct logq {
	bool follow, timestamps, frames;
	long long tail;           /* lines, -1 = all */
	uint64_t since_ms;        /* 0 = all */
	int conn, out[2];         /* out[0] stdout records, out[1] stderr records (frames: -1) */
	bool line_start[2];
	size_t line_max;
};

/* A buffered record reader over one file. */
struct reader {
	int fd;
	char *buf;
	size_t cap, len, off;
	uint64_t pos, limit;      /* bytes consumed from the file; stop at limit (UINT64_MAX) */
};

/* "2026-11-22T13:44:05.123456789Z" -> wall ms; 0 when it does not parse. */
static uint64_t rfc3339_ms(const char *t, size_t len)
{
	struct tm tm = { 0 };
	unsigned long frac = 0;
	int digits = 0;
	const char *p;
	time_t sec;

	if (len < 20)
		return 0;
	if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	sec = timegm(&tm);
	if (sec < 0)
		return 0;
	p = t + 19;
	if (*p == '.')
		for (p++; p < t + len && *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac = frac * 10 + (unsigned long)(*p - '0');
	while (digits > 0 && digits < 3)
		frac *= 10, digits++;
	return (uint64_t)sec * 1000 + frac;
}

/* The next complete line (without '\n') or NULL; an over-long line is skipped. */
static char *reader_line(struct reader *r, size_t *ret_len)
{
	for (;;) {
		char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
		ssize_t n;
		size_t want;

		if (nl) {
			char *line = r->buf + r->off;

			*ret_len = (size_t)(nl - line);
			r->off += *ret_len + 1;
			return line;
		}
		if (r->off) {
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		if (r->len == r->cap)
			r->len = 0; /* longer than any record we write: drop it */
		want = r->cap - r->len;
		if (r->limit != UINT64_MAX && r->limit - r->pos < want)
			want = (size_t)(r->limit - r->pos);
		if (want == 0)
			return NULL;
		do
			n = read(r->fd, r->buf + r->len, want);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return NULL;
		r->len += (size_t)n;
		r->pos += (uint64_t)n;
	}
}

/* Split "TIME STREAM TAG TEXT" in place; false when the line is not a record. */
static bool record_parse(char *line, size_t len, char **time, size_t *tlen, int *stream,
			 char *tag, char **text, size_t *xlen)
{
	char *sp1 = memchr(line, ' ', len), *sp2, *sp3;

	if (!sp1)
		return false;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
	if (!sp2)
		return false;
	if (sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "stdout", 6) == 0)
		*stream = 0;
	else if (sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "stderr", 6) == 0)
		*stream = 1;
	else
		return false;
	sp3 = sp2 + 2;
	if (sp3 > line + len || (sp2[1] != 'F' && sp2[1] != 'P'))
		return false;
	*tag = sp2[1];
	*time = line;
	*tlen = (size_t)(sp1 - line);
	if (sp3 == line + len) {
		*text = sp3;
		*xlen = 0;
	} else if (*sp3 == ' ') {
		*text = sp3 + 1;
		*xlen = len - (size_t)(sp3 + 1 - line);
	} else {
		return false;
	}
	return true;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Emit one record to the client; < 0 when the client is gone. */
static int emit(struct logq *q, const char *time, size_t tlen, int stream, char tag,
		const char *text, size_t xlen)
{
	int fd = q->out[stream] >= 0 ? q->out[stream] : q->out[0], r = 0;

	if (q->frames) {
		_cleanup_json_ json_t *m = NULL;
		json_t *t = json_stringn(text, xlen);

		if (!t) {
			/* not UTF-8: keep the ASCII, mark the rest */
			_cleanup_free_ char *copy = malloc(xlen + 1);

			if (!copy)
				return -ENOMEM;
			for (size_t i = 0; i < xlen; i++)
				copy[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
			t = json_stringn(copy, xlen);
		}
		m = json_pack("{s:s%,s:s,s:s%,s:o}", "time", time, tlen, "stream",
			      stream ? "stderr" : "stdout", "tag", &tag, (size_t)1, "text", t);
		return m ? ipc_send_json(q->conn, m, NULL, 0) : -ENOMEM;
	}
	if (q->timestamps && q->line_start[stream]) {
		if ((r = write_all(fd, time, tlen)) < 0 || (r = write_all(fd, " ", 1)) < 0)
			return r;
	}
	if ((r = write_all(fd, text, xlen)) < 0)
		return r;
	if (tag == 'F' && (r = write_all(fd, "\n", 1)) < 0)
		return r;
	q->line_start[stream] = tag == 'F';
	return 0;
}

/*
 * Read records from r. count: only count full lines (into *lines); otherwise emit, first
 * skipping *skip full lines. Returns < 0 when the client is gone.
 */
static int pass(struct logq *q, struct reader *r, bool count, uint64_t *lines, uint64_t *skip)
{
	char *line, *time, *text, tag;
	size_t len, tlen, xlen;
	int stream, rc;

	while ((line = reader_line(r, &len))) {
		if (!record_parse(line, len, &time, &tlen, &stream, &tag, &text, &xlen))
			continue;
		if (q->since_ms && rfc3339_ms(time, tlen) < q->since_ms)
			continue;
		if (count) {
			*lines += tag == 'F';
			continue;
		}
		if (skip && *skip) {
			*skip -= tag == 'F';
			continue;
		}
		rc = emit(q, time, tlen, stream, tag, text, xlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void reader_init(struct reader *r, int fd, char *buf, size_t cap, uint64_t limit)
{
	*r = (struct reader){ .fd = fd, .buf = buf, .cap = cap, .limit = limit };
	lseek(fd, 0, SEEK_SET);
}

/* Is the file at dirfd/name another inode than fd? (false when it is missing) */
static bool rotated(int dirfd, const char *name, int fd)
{
	struct stat a, b;

	if (fstatat(dirfd, name, &a, 0) < 0 || fstat(fd, &b) < 0)
		return false;
	return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static int logs_run(const struct shim *s, const struct ctr *c, struct logq *q, int end_fd)
{
	_cleanup_close_ int dirfd = open(s->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t cap = q->line_max + 256;
	_cleanup_free_ char *buf = malloc(cap);
	int fds[SHIM_LOG_FILES_MAX];
	uint64_t sizes[SHIM_LOG_FILES_MAX], lines = 0, skip = 0;
	char cur_name[128];
	size_t n = 0;
	struct reader r;
	int rc = 0, ifd = -1;

	if (dirfd < 0 || !buf)
		return 0; /* no logs yet */
	snprintf(cur_name, sizeof(cur_name), "%s.log", c->name);
	for (unsigned int i = s->log_max_files; i-- > 0;) {
		char name[128];
		struct stat st;
		int fd;

		if (i)
			snprintf(name, sizeof(name), "%s.log.%u", c->name, i);
		else
			snprintf(name, sizeof(name), "%s", cur_name);
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		fds[n] = fd;
		sizes[n++] = (uint64_t)st.st_size;
	}
	/* follow needs a watch set up before the files are read: nothing written after the
	 * read can be missed */
	if (q->follow) {
		ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		uint32_t mask = IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM;

		if (ifd >= 0 && inotify_add_watch(ifd, s->log_dir, mask) < 0) {
			close(ifd);
			ifd = -1;
		}
	}
	if (q->tail >= 0) {
		for (size_t i = 0; i < n; i++) {
			reader_init(&r, fds[i], buf, cap, sizes[i]);
			pass(q, &r, true, &lines, NULL);
		}
		skip = lines > (uint64_t)q->tail ? lines - (uint64_t)q->tail : 0;
	}
	for (size_t i = 0; i < n && rc >= 0; i++) {
		bool last = i + 1 == n;

		reader_init(&r, fds[i], buf, cap, q->follow && last ? UINT64_MAX : sizes[i]);
		rc = pass(q, &r, false, NULL, &skip);
		if (!last)
			close(fds[i]);
	}
	if (n == 0) {
		r = (struct reader){ .fd = -1, .buf = buf, .cap = cap, .limit = UINT64_MAX };
	}
	while (rc >= 0 && q->follow && end_fd >= 0) {
		struct pollfd pf[3] = { { ifd, POLLIN, 0 },
					{ end_fd, POLLIN, 0 },
					{ q->conn, POLLIN | POLLRDHUP, 0 } };
		bool ending;
		char ev[4096];

		if (poll(pf, 3, ifd >= 0 ? 1000 : 250) < 0 && errno != EINTR)
			break;
		if (pf[2].revents)
			return -EPIPE; /* the client hung up (or sent what it must not) */
		ending = pf[1].revents != 0;
		while (ifd >= 0 && read(ifd, ev, sizeof(ev)) > 0)
			;
		if (r.fd >= 0)
			rc = pass(q, &r, false, NULL, NULL);
		/* a new file under the name: the old one has all it will get */
		while (rc >= 0 && (r.fd < 0 || rotated(dirfd, cur_name, r.fd))) {
			int fd = openat(dirfd, cur_name,
					O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

			if (fd < 0)
				break;
			if (r.fd >= 0) {
				rc = pass(q, &r, false, NULL, NULL);
				close(r.fd);
			}
			reader_init(&r, fd, buf, cap, UINT64_MAX);
			if (rc >= 0)
				rc = pass(q, &r, false, NULL, NULL);
		}
		if (ending)
			break;
	}
	if (r.fd >= 0)
		close(r.fd);
	if (ifd >= 0)
		close(ifd);
	return rc;
}

static _Noreturn void logs_helper(const struct shim *s, const struct ctr *c, struct logq *q,
				  int end_fd)
{
	struct timeval none = { 0 };
	sigset_t all;
	int keep[] = { q->conn, q->out[0], q->out[1], end_fd }, r;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed client shows as EPIPE */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	close_fds_except(keep, ARRAY_SIZE(keep));
	/* the shim's short request timeouts do not apply to a stream */
	setsockopt(q->conn, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	setsockopt(q->conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	r = logs_run(s, c, q, end_fd);
	if (r != -EPIPE) {
		json_t *rep = r < 0 ? json_pack("{s:b,s:s}", "ok", 0, "error", strerror(-r))
				    : json_pack("{s:b}", "ok", 1);

		if (rep)
			ipc_send_json(q->conn, rep, NULL, 0);
		json_decref(rep);
	}
	_exit(0);
}

void op_logs(struct shim *s, struct conn *k, struct ctr *c, const json_t *req, int *fds,
	     size_t nfds)
{
	struct logq q = { .follow = json_bool(req, "follow", false),
			  .timestamps = json_bool(req, "timestamps", false),
			  .tail = json_int(req, "tail", -1),
			  .conn = k->fd,
			  .out = { -1, -1 },
			  .line_start = { true, true },
			  .line_max = s->line_max };
	json_t *since = json_object_get(req, "since_ms");
	struct follower *f = NULL;
	int p[2] = { -1, -1 };
	pid_t pid;

	if (nfds > 2) {
		conn_fail(s, k, "logs takes 0 fds (frames), 1 (stdout) or 2 (stdout, stderr)");
		return;
	}
	if (since && (!json_is_integer(since) || json_integer_value(since) < 0)) {
		conn_fail(s, k, "since_ms: not a wall-clock time in ms");
		return;
	}
	q.since_ms = since ? (uint64_t)json_integer_value(since) : 0;
	if (q.tail < -1) {
		conn_fail(s, k, "tail: not a number of lines (-1 = all)");
		return;
	}
	q.frames = nfds == 0;
	for (size_t i = 0; i < nfds; i++)
		q.out[i] = fds[i];
	/* following a container that runs: the helper learns of its end through a pipe */
	if (q.follow && (c->state == CTR_RUNNING || c->state == CTR_STARTING)) {
		f = calloc(1, sizeof(*f));
		if (!f || pipe2(p, O_CLOEXEC) < 0) {
			free(f);
			conn_fail(s, k, "logs: %s", strerror(errno ? errno : ENOMEM));
			return;
		}
	}
	pid = fork();
	if (pid < 0) {
		conn_fail(s, k, "logs: fork: %s", strerror(errno));
		free(f);
		if (p[0] >= 0)
			close(p[0]), close(p[1]);
		return;
	}
	if (pid == 0) {
		if (p[1] >= 0)
			close(p[1]);
		logs_helper(s, c, &q, p[0]);
	}
	/* the helper owns the connection now */
	conn_close(s, k);
	if (f) {
		close(p[0]);
		f->ctr = c;
		f->wfd = p[1];
		f->pid = pid;
		f->next = s->followers;
		s->followers = f;
	}
}

void followers_end(struct shim *s, struct ctr *c)
{
	for (struct follower **pp = &s->followers; *pp;) {
		struct follower *f = *pp;

		if (c && f->ctr != c) {
			pp = &f->next;
			continue;
		}
		close(f->wfd);
		*pp = f->next;
		free(f);
	}
}
