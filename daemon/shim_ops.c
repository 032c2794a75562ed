/* shim_ops.c - tank-shim's operations: start, stop, kill, exec, attach, watch, destroy, status. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include "daemon/shim_int.h"

static const char *const state_names[] = {
	[CTR_CREATED] = "created",
	[CTR_STARTING] = "created", /* not running any code of the image yet */
	[CTR_RUNNING] = "running",
	[CTR_EXITED] = "exited",
};

int shim_pidfd_kill(int pidfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

static struct ctr *ctr_find(struct shim *s, const char *name)
{
	for (size_t i = 0; name && i < s->n_ctrs; i++)
		if (strcmp(s->ctrs[i].name, name) == 0)
			return &s->ctrs[i];
	return NULL;
}

static bool ctr_is_alive(const struct ctr *c)
{
	return c->state == CTR_STARTING || c->state == CTR_RUNNING;
}

/* exit_code or signal of a wait status, into a JSON object */
static void json_set_exit(json_t *o, int exit_code, int sig)
{
	if (sig > 0)
		json_object_set_new(o, "signal", json_integer(sig));
	else if (exit_code >= 0)
		json_object_set_new(o, "exit_code", json_integer(exit_code));
}

static json_t *status_json(struct shim *s)
{
	json_t *list = json_array(), *o = json_object();

	for (size_t i = 0; i < s->n_ctrs; i++) {
		struct ctr *c = &s->ctrs[i];
		json_t *e = json_pack("{s:s,s:s}", "name", c->name, "state", state_names[c->state]);

		if (!e)
			continue;
		if (c->pid > 0)
			json_object_set_new(e, "pid", json_integer(c->pid));
		if (c->started_at)
			json_object_set_new(e, "started_at",
					    json_integer((json_int_t)c->started_at));
		if (c->state == CTR_EXITED) {
			if (c->finished_at)
				json_object_set_new(e, "finished_at",
						    json_integer((json_int_t)c->finished_at));
			json_set_exit(e, c->exit_code, c->signal);
		}
		if (c->error)
			json_object_set_new(e, "error", json_string(c->error));
		if (c->tty)
			json_object_set_new(e, "tty", json_true());
		if (c->attach)
			json_object_set_new(e, "attached", json_true());
		json_array_append_new(list, e);
	}
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "shim_pid", json_integer(getpid()));
	json_object_set_new(o, "pod", json_string(s->pod));
	json_object_set_new(o, "containers", list);
	return o;
}

int shim_state_write(struct shim *s)
{
	_cleanup_json_ json_t *j = status_json(s);
	int r = json_write_runtime(s->dirfd, SHIM_STATE_FILE, j, 0644);

	if (r < 0)
		log_pod(LOG_LVL_WARN, s->pod, "write %s: %s", SHIM_STATE_FILE, strerror(-r));
	return r;
}

/* ---- destroy ---------------------------------------------------------------------------- */

void shim_destroy_begin(struct shim *s, uint64_t grace_ms, bool own_grace)
{
	uint64_t now = now_mono_ms(), kill_at = now + grace_ms;

	if (!s->destroying)
		log_pod(LOG_LVL_INFO, s->pod, "destroying the pod (grace %llu ms)",
			(unsigned long long)grace_ms);
	s->destroying = true;
	for (size_t i = 0; i < s->n_ctrs; i++) {
		struct ctr *c = &s->ctrs[i];

		if (c->state == CTR_STARTING && c->pidfd >= 0) {
			c->start_killed = true;
			shim_pidfd_kill(c->pidfd, SIGKILL);
		} else if (c->state == CTR_RUNNING && c->pidfd >= 0) {
			uint64_t g = own_grace && c->stop_grace_ms >= 0 ? (uint64_t)c->stop_grace_ms
									: grace_ms;

			shim_pidfd_kill(c->pidfd, g ? c->stop_signal : SIGKILL);
			if (!c->kill_at || c->kill_at > now + g)
				c->kill_at = now + g;
		}
	}
	/* exec'd commands die with their container's pid namespace; this is a backstop */
	for (struct execp *e = s->execs; e; e = e->next)
		if (!e->kill_at || e->kill_at > kill_at)
			e->kill_at = kill_at;
}

void shim_destroy_check(struct shim *s)
{
	_cleanup_free_ char *sock = NULL;

	if (!s->destroying || s->done || s->execs)
		return;
	for (size_t i = 0; i < s->n_ctrs; i++)
		if (ctr_is_alive(&s->ctrs[i]))
			return;
	if (s->pause_pid > 0) {
		/* the pod's pid namespace goes last; its reap calls us again */
		shim_pidfd_kill(s->pause_pidfd, SIGKILL);
		return;
	}
	followers_end(s, NULL);
	shim_netns_release(s);
	/* the last write to the run dir comes before the reply: tankd removes the dir then */
	shim_state_write(s);
	for (struct conn *c = s->conns; c; c = c->next)
		if (!c->dead && c->st == CONN_PENDING && c->wait == WAIT_DESTROY)
			conn_ok(s, c);
	for (struct conn *c = s->conns; c; c = c->next)
		conn_close(s, c);
	sock = strdup_printf("%s/%s", s->run_dir, SHIM_SOCKET_FILE);
	if (sock)
		unlink(sock);
	if (s->lfd >= 0)
		close(s->lfd);
	s->lfd = -1;
	log_pod(LOG_LVL_INFO, s->pod, "pod destroyed");
	s->done = true;
}

/* ---- container lifecycle --------------------------------------------------------------- */

static struct conn *conn_waiting(struct shim *s, enum conn_wait wait, struct ctr *c)
{
	for (struct conn *k = s->conns; k; k = k->next)
		if (!k->dead && k->st == CONN_PENDING && k->wait == wait && k->ctr == c)
			return k;
	return NULL;
}

/* The start's error pipe reached EOF: exec'd (no text) or failed (text, or killed by us). */
void shim_start_finish(struct shim *s, struct ctr *c)
{
	struct conn *k = conn_waiting(s, WAIT_START, c);

	if (c->err_fd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->err_fd, NULL);
		close(c->err_fd);
		c->err_fd = -1;
	}
	if (c->errlen || c->start_killed) {
		const char *text = c->errlen ? c->errbuf : "killed before it started";

		free(c->error);
		c->error = strdup(text);
		c->start_failed = true;
		log_pod(LOG_LVL_WARN, s->pod, "container %s: start failed: %s", c->name, text);
		conn_fail(s, k, "%s", text);
		return; /* the state changes when the child is reaped */
	}
	c->state = CTR_RUNNING;
	c->started_at = now_wall_ms();
	log_pod(LOG_LVL_INFO, s->pod, "container %s: running, pid %d", c->name, (int)c->pid);
	conn_reply(s, k, json_pack("{s:b,s:i}", "ok", 1, "pid", (int)c->pid));
	shim_state_write(s);
}

/* share_pid: the container's main process is not pid 1 of its pid namespace, so what it
 * left behind does not die with it: kill the rest of its cgroup (v2 cgroup.kill). */
static void ctr_kill_leftovers(struct shim *s, struct ctr *c)
{
	for (size_t i = 0; s->share_pid && c->cgroups && c->cgroups[i]; i++) {
		_cleanup_free_ char *path = strdup_printf("%s/cgroup.kill", c->cgroups[i]);

		if (path && fs_exists(path))
			fs_write_str(path, "1");
	}
}

static void ctr_reaped(struct shim *s, struct ctr *c, int status)
{
	struct conn *k;

	if (c->err_fd >= 0) {
		/* the child is gone, so the pipe holds all it will ever say */
		int con = -1;

		pipe_drain(c->err_fd, c->errbuf, sizeof(c->errbuf), &c->errlen, &con);
		if (con >= 0)
			close(con);
		shim_start_finish(s, c);
	}
	ctr_kill_leftovers(s, c);
	close(c->pidfd);
	c->pidfd = -1;
	c->kill_at = 0;
	c->state = CTR_EXITED;
	c->finished_at = now_wall_ms();
	c->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	c->signal = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
	/* all its output is logged before anyone hears of the exit */
	output_close(s, c);
	followers_end(s, c);
	if (c->attach) {
		json_t *rep = json_pack("{s:b}", "ok", 1);

		if (rep)
			json_set_exit(rep, c->exit_code, c->signal);
		session_end(s, c->attach, rep);
	}
	if (c->start_failed) {
		/* the start was answered with the error: no exit event */
		c->started_at = 0;
	} else {
		json_t *ev =
			json_pack("{s:s,s:s,s:i,s:I}", "event", "exited", "container", c->name,
				  "pid", (int)c->pid, "finished_at", (json_int_t)c->finished_at);

		log_pod(LOG_LVL_INFO, s->pod, "container %s: exited, %s %d", c->name,
			c->signal > 0 ? "signal" : "code",
			c->signal > 0 ? c->signal : c->exit_code);
		if (ev) {
			json_set_exit(ev, c->exit_code, c->signal);
			watchers_push(s, ev);
			json_decref(ev);
		}
	}
	while ((k = conn_waiting(s, WAIT_STOP, c))) {
		json_t *rep = json_pack("{s:b}", "ok", 1);

		if (rep)
			json_set_exit(rep, c->exit_code, c->signal);
		conn_reply(s, k, rep);
	}
	shim_state_write(s);
}

/* Reply to a finished exec (its error, or how it ended) and free it. */
static void exec_finish(struct shim *s, struct execp *e)
{
	json_t *rep;

	for (struct execp **pp = &s->execs; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	if (e->err_fd >= 0) {
		int fd = -1;

		pipe_drain(e->err_fd, e->errbuf, sizeof(e->errbuf), &e->errlen, &fd);
		if (fd >= 0)
			close(fd);
		close(e->err_fd); /* also leaves epoll */
	}
	if (e->errlen) {
		rep = json_pack("{s:b,s:s}", "ok", 0, "error", e->errbuf);
	} else {
		rep = json_pack("{s:b}", "ok", 1);
		if (rep)
			json_set_exit(rep, WIFEXITED(e->status) ? WEXITSTATUS(e->status) : -1,
				      WIFSIGNALED(e->status) ? WTERMSIG(e->status) : -1);
	}
	if (e->sess)
		session_end(s, e->sess, rep);
	else
		conn_reply(s, e->conn, rep);
	e->err_fd = -1;
	e->dead = true;
	e->next = s->dead_execs;
	s->dead_execs = e;
}

void exec_check_done(struct shim *s, struct execp *e)
{
	struct session *t = e->sess;

	if (!e->reaped)
		return;
	/* a tty exec: its last output is still in the pty until the master reads EOF */
	if (!e->errlen && t && t->master >= 0 && (!t->master_eof || t->olen > t->ooff) &&
	    (!e->drain_until || now_mono_ms() < e->drain_until)) {
		if (!e->drain_until)
			e->drain_until = now_mono_ms() + SHIM_EXEC_DRAIN_MS;
		return;
	}
	exec_finish(s, e);
}

/* Timers of tty execs waiting for their output; returns the next deadline (or max). */
uint64_t exec_timers(struct shim *s, uint64_t now)
{
	uint64_t next = UINT64_MAX;

again:
	for (struct execp *e = s->execs; e; e = e->next) {
		if (!e->reaped || !e->drain_until)
			continue;
		if (e->drain_until <= now) {
			exec_finish(s, e);
			goto again;
		}
		if (e->drain_until < next)
			next = e->drain_until;
	}
	return next;
}

/* A tty exec's channel: the pty master, error text, or its end. */
void exec_chan_readable(struct shim *s, struct execp *e)
{
	int fd = -1;
	bool eof;

	if (e->dead || e->err_fd < 0)
		return;
	eof = pipe_drain(e->err_fd, e->errbuf, sizeof(e->errbuf), &e->errlen, &fd);

	if (fd >= 0)
		exec_session_begin(s, e, fd);
	if (eof) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, e->err_fd, NULL);
		close(e->err_fd);
		e->err_fd = -1;
	}
}

void shim_reap(struct shim *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		bool found = false;

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		for (size_t i = 0; i < s->n_ctrs && !found; i++) {
			if (s->ctrs[i].pid == pid && s->ctrs[i].pidfd >= 0) {
				ctr_reaped(s, &s->ctrs[i], status);
				found = true;
			}
		}
		for (struct execp *e = s->execs; e && !found; e = e->next) {
			if (e->pid != pid || e->reaped)
				continue;
			e->reaped = true;
			e->status = status;
			found = true;
			exec_check_done(s, e);
			break;
		}
		if (!found && pid == s->pause_pid) {
			if (!s->destroying)
				log_pod(LOG_LVL_WARN, s->pod,
					"the pod's pid namespace init died; its containers too");
			close(s->pause_pidfd);
			s->pause_pidfd = -1;
			s->pause_pid = 0;
		}
		for (struct follower **pp = &s->followers; *pp && !found; pp = &(*pp)->next) {
			struct follower *f = *pp;

			if (f->pid != pid)
				continue;
			/* a following logs helper whose client left */
			close(f->wfd);
			*pp = f->next;
			free(f);
			found = true;
			break;
		}
		/* anything else is an orphan handed to us as subreaper, or a logs helper */
	}
	shim_destroy_check(s);
}

/* ---- operations ------------------------------------------------------------------------- */

/* "signal" / "grace_ms" members with defaults; false (and a reply sent) when invalid. */
static bool req_signal(struct shim *s, struct conn *k, const json_t *req, int def, int *ret)
{
	json_t *v = json_object_get(req, "signal");

	*ret = def;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > SIGRTMAX) {
		conn_fail(s, k, "signal: not a signal number");
		return false;
	}
	*ret = (int)json_integer_value(v);
	return true;
}

static bool req_grace(struct shim *s, struct conn *k, const json_t *req, uint64_t *ret)
{
	json_t *v = json_object_get(req, "grace_ms");

	*ret = SHIM_GRACE_DEFAULT_MS;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 24LL * 3600 * 1000) {
		conn_fail(s, k, "grace_ms: not a duration in ms (0 to 1 day)");
		return false;
	}
	*ret = (uint64_t)json_integer_value(v);
	return true;
}

static void op_start(struct shim *s, struct conn *k, struct ctr *c)
{
	struct diag d = { 0 };
	int errfd, r;

	if (ctr_is_alive(c)) {
		conn_fail(s, k, "container %s is %s", c->name,
			  c->state == CTR_RUNNING ? "running" : "starting");
		return;
	}
	c->errlen = 0;
	c->errbuf[0] = '\0';
	c->start_killed = c->start_failed = false;
	free(c->error);
	c->error = NULL;
	r = ctr_spawn(s, c, &errfd, &d);
	if (r < 0) {
		const char *text = diag_text(&d, r);

		c->error = strdup(text);
		log_pod(LOG_LVL_WARN, s->pod, "container %s: start failed: %s", c->name, text);
		conn_fail(s, k, "%s", text);
		shim_state_write(s);
		return;
	}
	if (!c->tty)
		output_start(s, c, -1);
	c->state = CTR_STARTING;
	c->err_fd = errfd;
	c->err_src = (struct src){ SRC_START_PIPE, c };
	conn_park(s, k, WAIT_START, c);
	if (shim_epoll_add(s, errfd, EPOLLIN, &c->err_src) < 0) {
		/* cannot learn how the start went: abandon it; the reap answers the client */
		snprintf(c->errbuf, sizeof(c->errbuf), "watch start pipe: %s", strerror(errno));
		c->errlen = strlen(c->errbuf);
		c->start_killed = true;
		shim_pidfd_kill(c->pidfd, SIGKILL);
	}
}

static void op_stop(struct shim *s, struct conn *k, struct ctr *c, const json_t *req)
{
	uint64_t grace, kill_at;
	int sig;

	if (!req_signal(s, k, req, c->stop_signal, &sig) || !req_grace(s, k, req, &grace))
		return;
	if (!ctr_is_alive(c) || c->pidfd < 0) {
		json_t *rep = json_pack("{s:b}", "ok", 1);

		if (rep && c->state == CTR_EXITED)
			json_set_exit(rep, c->exit_code, c->signal);
		conn_reply(s, k, rep);
		return;
	}
	conn_park(s, k, WAIT_STOP, c);
	if (c->state == CTR_STARTING) {
		c->start_killed = true;
		shim_pidfd_kill(c->pidfd, SIGKILL);
		return;
	}
	log_pod(LOG_LVL_INFO, s->pod, "container %s: stopping with signal %d, grace %llu ms",
		c->name, sig, (unsigned long long)grace);
	shim_pidfd_kill(c->pidfd, grace ? sig : SIGKILL);
	kill_at = now_mono_ms() + grace;
	if (grace && (!c->kill_at || c->kill_at > kill_at))
		c->kill_at = kill_at;
}

/* base with "K=V" entries of add replacing the same keys (a new vector). */
static char **env_merge(char *const *base, char *const *add)
{
	char **v = strv_copy(base);

	for (size_t i = 0; v && add && add[i]; i++) {
		const char *eq = strchr(add[i], '=');
		size_t klen = eq ? (size_t)(eq - add[i]) : strlen(add[i]);
		int j = strv_env_find(v, add[i], klen);

		if (j >= 0) {
			char *n = strdup(add[i]);

			if (!n) {
				strv_free(v);
				return NULL;
			}
			free(v[j]);
			v[j] = n;
		} else if (strv_push(&v, add[i]) < 0) {
			strv_free(v);
			return NULL;
		}
	}
	return v;
}

/* The client's terminal size, when it passed one. */
static void client_winsize(const int *fds, size_t nfds, unsigned short *rows, unsigned short *cols)
{
	for (size_t i = 0; i < nfds && i < 2; i++) {
		struct winsize ws;

		if (ioctl(fds[nfds > 1 ? 1 - i : 0], TIOCGWINSZ, &ws) == 0 && ws.ws_row) {
			*rows = ws.ws_row;
			*cols = ws.ws_col;
			return;
		}
	}
}

static void op_exec(struct shim *s, struct conn *k, struct ctr *c, const json_t *req,
		    const int *fds, size_t nfds)
{
	_cleanup_strv_ char **args = json_strv(json_object_get(req, "args"));
	_cleanup_strv_ char **env = NULL, **add = NULL, **merged = NULL;
	json_t *jenv = json_object_get(req, "env"), *jadd = json_object_get(req, "env_add");
	const char *cwd = json_str(req, "cwd", c->cwd), *user = json_str(req, "user", NULL);
	bool tty = json_bool(req, "tty", false);
	json_int_t rows = json_int(req, "rows", 0), cols = json_int(req, "cols", 0);
	struct exec_req er = { .fds = { -1, -1, -1 } };
	struct execp *e;
	struct diag d = { 0 };
	int r;

	if (c->state != CTR_RUNNING) {
		conn_fail(s, k, "container %s is not running", c->name);
		return;
	}
	if (!tty && nfds != 3) {
		conn_fail(s, k, "exec needs 3 fds (stdin, stdout, stderr), got %zu", nfds);
		return;
	}
	if (tty && (nfds < 1 || nfds > 3)) {
		conn_fail(s, k, "a tty exec needs 1 to 3 fds (stdout; stdin, stdout[, stderr])");
		return;
	}
	if (!args || !args[0]) {
		conn_fail(s, k, "args: missing or not a non-empty array of strings");
		return;
	}
	if (jenv && !json_is_null(jenv) && !(env = json_strv(jenv))) {
		conn_fail(s, k, "env: not an array of strings");
		return;
	}
	if (jadd && !json_is_null(jadd) && !(add = json_strv(jadd))) {
		conn_fail(s, k, "env_add: not an array of strings");
		return;
	}
	if (!cwd || cwd[0] != '/') {
		conn_fail(s, k, "cwd: not an absolute path");
		return;
	}
	if (json_object_get(req, "user") && (!user || !*user)) {
		conn_fail(s, k, "user: not a name|uid[:group|gid] string");
		return;
	}
	if (rows < 0 || rows > 10000 || cols < 0 || cols > 10000) {
		conn_fail(s, k, "rows, cols: out of range");
		return;
	}
	merged = env_merge(env ? env : c->env, add);
	if (!merged || (tty && strv_env_find(merged, "TERM", 4) < 0 &&
			strv_push(&merged, "TERM=xterm") < 0)) {
		conn_fail(s, k, "out of memory");
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		conn_fail(s, k, "out of memory");
		return;
	}
	e->err_fd = -1;
	e->ctr = c;
	e->tty = tty;
	er.args = args;
	er.env = merged;
	er.cwd = cwd;
	er.user = user;
	er.tty = tty;
	if (tty) {
		er.rows = (unsigned short)rows;
		er.cols = (unsigned short)cols;
		if (!rows || !cols)
			client_winsize(fds, nfds, &er.rows, &er.cols);
	} else {
		memcpy(er.fds, fds, sizeof(er.fds));
	}
	if (tty) {
		/* the client's fds: [stdout] or [stdin, stdout(, stderr: a pty has one stream)] */
		r = session_new(s, k, c, e, -1, nfds > 1 ? fds[0] : -1, fds[nfds > 1 ? 1 : 0],
				json_str(req, "detach_keys", "ctrl-p,ctrl-q"), &e->sess, &d);
		if (r < 0) {
			free(e);
			conn_fail(s, k, "%s", diag_text(&d, r));
			return;
		}
	}
	r = exec_spawn(s, c, &er, &e->pid, &e->err_fd, &d);
	if (r < 0) {
		if (e->sess)
			session_end(s, e->sess, json_pack("{s:b,s:s}", "ok", 0, "error",
							  diag_text(&d, r)));
		else
			conn_fail(s, k, "%s", diag_text(&d, r));
		free(e);
		return;
	}
	log_pod(LOG_LVL_DEBUG, s->pod, "container %s: exec %s (pid %d%s)", c->name, args[0],
		(int)e->pid, tty ? ", tty" : "");
	e->conn = k;
	e->next = s->execs;
	s->execs = e;
	if (tty) {
		e->chan_src = (struct src){ SRC_EXEC_CHAN, e };
		if (shim_epoll_add(s, e->err_fd, EPOLLIN, &e->chan_src) < 0)
			kill(e->pid, SIGKILL); /* no pty, no session: the reap answers */
	} else {
		conn_park(s, k, WAIT_EXEC, c);
	}
}

static void op_attach(struct shim *s, struct conn *k, struct ctr *c, const json_t *req,
		      const int *fds, size_t nfds)
{
	struct session *t;
	struct diag d = { 0 };
	int r;

	if (!c->tty) {
		conn_fail(s, k, "container %s has no tty (tty: false): its output is in the logs",
			  c->name);
		return;
	}
	if (c->state != CTR_RUNNING || c->out[0].fd < 0) {
		conn_fail(s, k, "container %s is not running", c->name);
		return;
	}
	if (c->attach) {
		conn_fail(s, k, "container %s already has an attached client (one at a time)",
			  c->name);
		return;
	}
	if (nfds < 1 || nfds > 3) {
		conn_fail(s, k, "attach needs 1 to 3 fds (stdout; stdin, stdout[, stderr])");
		return;
	}
	r = session_new(s, k, c, NULL, -1,
			nfds > 1 && json_bool(req, "stdin", true) ? fds[0] : -1,
			fds[nfds > 1 ? 1 : 0], json_str(req, "detach_keys", "ctrl-p,ctrl-q"), &t,
			&d);
	if (r < 0) {
		conn_fail(s, k, "%s", diag_text(&d, r));
		return;
	}
	c->attach = t;
	session_resize(c->out[0].fd, req, t->out_fd);
	log_pod(LOG_LVL_DEBUG, s->pod, "container %s: client attached", c->name);
}

/* Standalone resize of a tty container's console. */
static void op_resize(struct shim *s, struct conn *k, struct ctr *c, const json_t *req)
{
	int r;

	if (!c->tty || c->out[0].fd < 0) {
		conn_fail(s, k, "container %s has no running console", c->name);
		return;
	}
	r = session_resize(c->out[0].fd, req, -1);
	if (r < 0)
		conn_fail(s, k, "resize: %s", r == -EINVAL ? "rows and cols (1 to 10000) needed"
							 : strerror(-r));
	else
		conn_ok(s, k);
}

static void op_watch(struct shim *s, struct conn *k)
{
	_cleanup_json_ json_t *ack = status_json(s);
	int r = ack ? ipc_send_json(k->fd, ack, NULL, 0) : -ENOMEM;

	if (r < 0) {
		conn_close(s, k);
		return;
	}
	/* from now on a push never blocks the loop: a watcher that does not read is dropped */
	fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK);
	k->st = CONN_WATCH;
}

void shim_request(struct shim *s, struct conn *k, json_t *req, int *fds, size_t nfds)
{
	const char *op = json_str(req, "op", NULL);
	const char *name = json_str(req, "container", NULL);
	struct ctr *c = ctr_find(s, name);
	int sig;

	if (!op) {
		conn_fail(s, k, "op: missing");
	} else if (strcmp(op, "status") == 0) {
		conn_reply(s, k, status_json(s));
	} else if (strcmp(op, "watch") == 0) {
		op_watch(s, k);
	} else if (strcmp(op, "destroy") == 0) {
		uint64_t grace;

		if (!req_grace(s, k, req, &grace))
			goto out;
		conn_park(s, k, WAIT_DESTROY, NULL);
		shim_destroy_begin(s, grace, json_bool(req, "own_grace", false));
		shim_destroy_check(s);
	} else if (strcmp(op, "start") && strcmp(op, "stop") && strcmp(op, "kill") &&
		   strcmp(op, "exec") && strcmp(op, "attach") && strcmp(op, "resize") &&
		   strcmp(op, "logs")) {
		conn_fail(s, k, "op: unknown operation \"%s\"", op);
	} else if (!c) {
		conn_fail(s, k, "container: %s%s%s", name ? "no container \"" : "missing",
			  name ? name : "", name ? "\"" : "");
	} else if (s->destroying && (strcmp(op, "start") == 0 || strcmp(op, "exec") == 0 ||
				     strcmp(op, "attach") == 0)) {
		conn_fail(s, k, "the pod is being destroyed");
	} else if (strcmp(op, "attach") == 0) {
		op_attach(s, k, c, req, fds, nfds);
	} else if (strcmp(op, "resize") == 0) {
		op_resize(s, k, c, req);
	} else if (strcmp(op, "logs") == 0) {
		op_logs(s, k, c, req, fds, nfds);
	} else if (strcmp(op, "start") == 0) {
		op_start(s, k, c);
	} else if (strcmp(op, "stop") == 0) {
		op_stop(s, k, c, req);
	} else if (strcmp(op, "exec") == 0) {
		op_exec(s, k, c, req, fds, nfds);
	} else if (req_signal(s, k, req, SIGTERM, &sig)) { /* kill */
		int r = c->state == CTR_RUNNING && c->pidfd >= 0 ? shim_pidfd_kill(c->pidfd, sig)
								 : -ESRCH;

		if (r == -ESRCH)
			conn_fail(s, k, "container %s is not running", c->name);
		else if (r < 0)
			conn_fail(s, k, "kill %s: %s", c->name, strerror(-r));
		else
			conn_ok(s, k);
	}
out:
	/* the exec child has its own copies; nothing else keeps passed fds */
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}
