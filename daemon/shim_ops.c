/* shim_ops.c - tank-shim's operations: start, stop, kill, exec, watch, destroy, status. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

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
	int r = json_write_atomic(s->dirfd, SHIM_STATE_FILE, j, 0644);

	if (r < 0)
		log_pod(LOG_LVL_WARN, s->pod, "write %s: %s", SHIM_STATE_FILE, strerror(-r));
	return r;
}

/* ---- destroy ---------------------------------------------------------------------------- */

void shim_destroy_begin(struct shim *s, uint64_t grace_ms)
{
	uint64_t kill_at = now_mono_ms() + grace_ms;

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
			shim_pidfd_kill(c->pidfd, grace_ms ? c->stop_signal : SIGKILL);
			if (!c->kill_at || c->kill_at > kill_at)
				c->kill_at = kill_at;
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
	shim_netns_release(s);
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
	shim_state_write(s);
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

static void ctr_reaped(struct shim *s, struct ctr *c, int status)
{
	struct conn *k;

	if (c->err_fd >= 0) {
		/* the child is gone, so the pipe holds all it will ever say */
		pipe_drain(c->err_fd, c->errbuf, sizeof(c->errbuf), &c->errlen);
		shim_start_finish(s, c);
	}
	close(c->pidfd);
	c->pidfd = -1;
	c->kill_at = 0;
	c->state = CTR_EXITED;
	c->finished_at = now_wall_ms();
	c->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	c->signal = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
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

static void exec_reaped(struct shim *s, struct execp *e, int status)
{
	char text[SHIM_ERRTEXT_MAX] = "";
	size_t len = 0;

	pipe_drain(e->err_fd, text, sizeof(text), &len);
	close(e->err_fd);
	if (len) {
		conn_fail(s, e->conn, "%s", text);
	} else {
		json_t *rep = json_pack("{s:b}", "ok", 1);

		if (rep)
			json_set_exit(rep, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				      WIFSIGNALED(status) ? WTERMSIG(status) : -1);
		conn_reply(s, e->conn, rep);
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
		for (struct execp **pp = &s->execs; *pp && !found;) {
			struct execp *e = *pp;

			if (e->pid != pid) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			exec_reaped(s, e, status);
			free(e);
			found = true;
		}
		/* anything else is an orphan handed to us as subreaper: reaped, nothing more */
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

static void op_exec(struct shim *s, struct conn *k, struct ctr *c, const json_t *req,
		    const int *fds, size_t nfds)
{
	_cleanup_strv_ char **args = json_strv(json_object_get(req, "args"));
	_cleanup_strv_ char **env = NULL;
	json_t *jenv = json_object_get(req, "env");
	const char *cwd = json_str(req, "cwd", c->cwd);
	struct exec_req er = { 0 };
	struct execp *e;
	struct diag d = { 0 };
	int r;

	if (c->state != CTR_RUNNING) {
		conn_fail(s, k, "container %s is not running", c->name);
		return;
	}
	if (nfds != 3) {
		conn_fail(s, k, "exec needs 3 fds (stdin, stdout, stderr), got %zu", nfds);
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
	if (!cwd || cwd[0] != '/') {
		conn_fail(s, k, "cwd: not an absolute path");
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		conn_fail(s, k, "out of memory");
		return;
	}
	er.args = args;
	er.env = env ? env : c->env;
	er.cwd = cwd;
	memcpy(er.fds, fds, sizeof(er.fds));
	r = exec_spawn(c, &er, &e->pid, &e->err_fd, &d);
	if (r < 0) {
		free(e);
		conn_fail(s, k, "%s", diag_text(&d, r));
		return;
	}
	log_pod(LOG_LVL_DEBUG, s->pod, "container %s: exec %s (pid %d)", c->name, args[0],
		(int)e->pid);
	e->conn = k;
	e->next = s->execs;
	s->execs = e;
	conn_park(s, k, WAIT_EXEC, c);
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
		shim_destroy_begin(s, grace);
		shim_destroy_check(s);
	} else if (strcmp(op, "start") && strcmp(op, "stop") && strcmp(op, "kill") &&
		   strcmp(op, "exec")) {
		conn_fail(s, k, "op: unknown operation \"%s\"", op);
	} else if (!c) {
		conn_fail(s, k, "container: %s%s%s", name ? "no container \"" : "missing",
			  name ? name : "", name ? "\"" : "");
	} else if (s->destroying && (strcmp(op, "start") == 0 || strcmp(op, "exec") == 0)) {
		conn_fail(s, k, "the pod is being destroyed");
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
