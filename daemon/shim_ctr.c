/* shim_ctr.c - tank-shim's processes: a container's first process and exec'd commands. */
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "daemon/shim_int.h"
#include "rootfs/rootfs.h"

bool pipe_drain(int fd, char *buf, size_t cap, size_t *len)
{
	char sink[256];

	for (;;) {
		bool room = *len + 1 < cap;
		ssize_t n =
			room ? read(fd, buf + *len, cap - 1 - *len) : read(fd, sink, sizeof(sink));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN; /* a broken pipe counts as the end */
		if (n == 0)
			return true;
		if (room) {
			*len += (size_t)n;
			buf[*len] = '\0';
		}
	}
}

/* ---- in the child ----------------------------------------------------------------------- */

/* Undo what the shim set for itself: blocked signals (signalfd) and ignored SIGPIPE. */
static void child_reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void close_fds_except(int *keep, size_t n)
{
	unsigned int from = 3;

	for (size_t i = 1; i < n; i++) /* insertion sort: n is tiny */
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned int)keep[i] > from)
			close_range(from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

/* Report a failure to the shim through the error pipe and leave. */
static _Noreturn void child_fail(int err_fd, const struct diag *d, int r)
{
	const char *text = diag_text(d, r);
	size_t len = strlen(text);

	if (len == 0)
		text = "setup failed", len = strlen(text);
	if (write(err_fd, text, len) < 0) {
		/* nothing else to tell: the exit status still says it failed */
	}
	_exit(127);
}

static int join_cgroups(char *const *cgroups, pid_t pid, struct diag *d)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; cgroups && cgroups[i]; i++) {
		_cleanup_free_ char *path = strdup_printf("%s/cgroup.procs", cgroups[i]);
		int r;

		if (!path)
			return diag_fail(d, -ENOMEM, "out of memory");
		r = fs_write_str(path, buf);
		if (r < 0)
			return diag_fail(d, r, "join cgroup %s: %s", cgroups[i], strerror(-r));
	}
	return 0;
}

static _Noreturn void ctr_child(const struct shim *s, const struct ctr *c, int sync_fd, int err_fd)
{
	struct rootfs_spec spec = {
		.lower_dirs = c->lower,
		.upper_dir = c->upper,
		.work_dir = c->work,
		.target = c->target,
		.etc_hosts = c->etc_hosts,
		.etc_hostname = c->etc_hostname,
		.etc_resolv = c->etc_resolv,
	};
	/* a pod whose shim died is managed by no one: its processes die with the shim */
	struct rootfs_process proc = { .argv = c->args,
				       .env = c->env,
				       .cwd = c->cwd,
				       .uid = c->uid,
				       .gid = c->gid,
				       .parent_death_signal = SIGKILL };
	int keep[] = { sync_fd, err_fd };
	_cleanup_free_ char *log = NULL;
	struct diag d = { 0 };
	int fd, r;
	char b;
	ssize_t n;

	child_reset_signals();
	close_fds_except(keep, ARRAY_SIZE(keep));
	/* armed before the sync read: a shim that dies earlier leaves us EOF there */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(127);
	/* parked until the shim has put us into our cgroups; EOF means it gave up on us */
	do
		n = read(sync_fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(127);
	close(sync_fd);
	setsid();
	if (unshare(CLONE_NEWCGROUP) < 0)
		child_fail(err_fd, &d,
			   diag_fail(&d, -errno, "unshare cgroup ns: %s", strerror(errno)));

	fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || dup2(fd, 0) < 0)
		child_fail(err_fd, &d,
			   diag_fail(&d, -errno, "stdin /dev/null: %s", strerror(errno)));
	close(fd);
	log = strdup_printf("%s/%s.log", s->log_dir, c->name);
	if (!log)
		child_fail(err_fd, &d, diag_fail(&d, -ENOMEM, "out of memory"));
	fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		child_fail(err_fd, &d,
			   diag_fail(&d, -errno, "open log %s: %s", log, strerror(errno)));
	close(fd);

	r = rootfs_setup(&spec, &d);
	if (r < 0)
		child_fail(err_fd, &d, r);
	r = rootfs_exec(&proc, &d);
	child_fail(err_fd, &d, r);
}

/* ---- in the shim ------------------------------------------------------------------------ */

int ctr_spawn(const struct shim *s, struct ctr *c, int *ret_errfd, struct diag *d)
{
	_cleanup_close_ int sync_r = -1, sync_w = -1, err_r = -1, err_w = -1;
	int p[2], pidfd = -1, r;
	struct clone_args ca = {
		.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	long pid;

	r = fs_mkdir_p(s->log_dir, 0755);
	if (r < 0)
		return diag_fail(d, r, "mkdir %s: %s", s->log_dir, strerror(-r));
	r = fs_mkdir_p(c->target, 0755);
	if (r < 0)
		return diag_fail(d, r, "mkdir %s: %s", c->target, strerror(-r));
	if (pipe2(p, O_CLOEXEC) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	sync_r = p[0], sync_w = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	err_r = p[0], err_w = p[1];
	if (fcntl(err_r, F_SETFL, O_NONBLOCK) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));

	/* raw clone3 with no stack: fork semantics, and the child is pid 1 of a new pid ns */
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return diag_fail(d, -errno, "clone3: %s", strerror(errno));
	if (pid == 0)
		ctr_child(s, c, sync_r, err_w);

	r = join_cgroups(c->cgroups, (pid_t)pid, d);
	if (r >= 0 && write(sync_w, "1", 1) != 1)
		r = diag_fail(d, -errno, "release container process: %s", strerror(errno));
	if (r < 0) {
		/* abandoned before it ran any code of the image: kill and reap it here */
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(pidfd);
		return r;
	}
	c->pid = (pid_t)pid;
	c->pidfd = pidfd;
	*ret_errfd = TAKE_FD(err_r);
	return 0;
}

static _Noreturn void exec_intermediate(const struct ctr *c, const struct exec_req *req, int err_fd)
{
	struct rootfs_process proc = {
		.argv = req->args, .env = req->env, .cwd = req->cwd, .uid = c->uid, .gid = c->gid
	};
	int keep[] = { req->fds[0], req->fds[1], req->fds[2], err_fd, c->pidfd };
	struct diag d = { 0 };
	struct rlimit no_core = { 0, 0 };
	pid_t pid;
	int st, r;

	child_reset_signals();
	close_fds_except(keep, ARRAY_SIZE(keep));
	/* not ptrace-able or inspectable from inside the container until execve */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	r = join_cgroups(c->cgroups, getpid(), &d);
	if (r < 0)
		child_fail(err_fd, &d, r);
	/* all namespaces at once through the pidfd: atomic, and no /proc/<pid> race */
	if (setns(c->pidfd, CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET |
				    CLONE_NEWPID | CLONE_NEWNS) < 0)
		child_fail(err_fd, &d,
			   diag_fail(&d, -errno, "setns into container %s: %s", c->name,
				     strerror(errno)));
	close(c->pidfd);
	if (chdir("/") < 0)
		child_fail(err_fd, &d, diag_fail(&d, -errno, "chdir /: %s", strerror(errno)));

	/* setns(CLONE_NEWPID) only applies to children: fork once more */
	pid = fork();
	if (pid < 0)
		child_fail(err_fd, &d, diag_fail(&d, -errno, "fork: %s", strerror(errno)));
	if (pid == 0) {
		for (int i = 0; i < 3; i++)
			if (dup2(req->fds[i], i) < 0)
				child_fail(err_fd, &d,
					   diag_fail(&d, -errno, "dup2: %s", strerror(errno)));
		for (int i = 0; i < 3; i++)
			if (req->fds[i] > 2)
				close(req->fds[i]);
		r = rootfs_exec(&proc, &d);
		child_fail(err_fd, &d, r);
	}
	close(err_fd);
	for (int i = 0; i < 3; i++)
		close(req->fds[i]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			_exit(127);
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	/* die the same way, without leaving a core of our own */
	setrlimit(RLIMIT_CORE, &no_core);
	signal(WTERMSIG(st), SIG_DFL);
	kill(getpid(), WTERMSIG(st));
	_exit(128 + WTERMSIG(st));
}

int exec_spawn(const struct ctr *c, const struct exec_req *req, pid_t *ret_pid, int *ret_errfd,
	       struct diag *d)
{
	_cleanup_close_ int err_r = -1, err_w = -1;
	int p[2];
	pid_t pid;

	if (c->pidfd < 0)
		return diag_fail(d, -ESRCH, "container %s is not running", c->name);
	if (pipe2(p, O_CLOEXEC) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	err_r = p[0], err_w = p[1];
	/* read once the intermediate is gone, when the command may still hold the write end */
	if (fcntl(err_r, F_SETFL, O_NONBLOCK) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return diag_fail(d, -errno, "fork: %s", strerror(errno));
	if (pid == 0)
		exec_intermediate(c, req, err_w);
	*ret_pid = pid;
	*ret_errfd = TAKE_FD(err_r);
	return 0;
}
