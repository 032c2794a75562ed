/* shim_ctr.c - tank-shim's processes: a container's first process and exec'd commands. */
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#include "daemon/shim_int.h"
#include "rootfs/rootfs.h"

bool pipe_drain(int fd, char *buf, size_t cap, size_t *len, int *ret_fd)
{
	char sink[256];

	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cm;
		bool room = *len + 1 < cap;
		struct iovec iov = { room ? buf + *len : sink,
				     room ? cap - 1 - *len : sizeof(sink) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
				     .msg_controllen = sizeof(cm.b) };
		struct cmsghdr *c;
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		int got = -1;

		if (n < 0 && errno == ENOTSOCK)
			n = read(fd, iov.iov_base, iov.iov_len), mh.msg_controllen = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno != EAGAIN; /* a broken pipe counts as the end */
		for (c = mh.msg_controllen ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
			    c->cmsg_len >= CMSG_LEN(sizeof(int)))
				memcpy(&got, CMSG_DATA(c), sizeof(int));
		if (got >= 0) {
			/* a passed fd: its message is a marker, not text */
			if (ret_fd && *ret_fd < 0)
				*ret_fd = got;
			else
				close(got);
			if (room)
				buf[*len] = '\0';
			continue;
		}
		if (n == 0)
			return true;
		if (room) {
			*len += (size_t)n;
			buf[*len] = '\0';
		}
	}
}

/* Send fd over a channel as a one-byte marker message. */
static int chan_send_fd(int chan, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm = { 0 };
	char mark = 'M';
	struct iovec iov = { &mark, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof(cm.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(chan, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* A SOCK_SEQPACKET pair: [0] for the shim (non-blocking), [1] for the child. */
static int chan_pair(int ret[2], struct diag *d)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ret) < 0)
		return diag_fail(d, -errno, "socketpair: %s", strerror(errno));
	if (fcntl(ret[0], F_SETFL, O_NONBLOCK) < 0) {
		int r = -errno;

		close(ret[0]);
		close(ret[1]);
		return diag_fail(d, r, "socketpair: %s", strerror(-r));
	}
	return 0;
}

/* ---- in the child ----------------------------------------------------------------------- */

/*
 * Undo what the shim set or inherited: blocked signals (signalfd), ignored SIGPIPE, and any
 * disposition left ignored by whoever started tankd (a shell's background job ignores SIGINT
 * and SIGQUIT; execve keeps SIG_IGN, and a shell cannot trap a signal ignored on entry). The
 * workload starts with every signal at its default, as under runc or crun.
 */
static void child_reset_signals(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&none);
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

/*
 * Move the calling process (single-threaded: a fresh child of the shim) into each cgroup but
 * skip (the one it was cloned into). A v1 hierarchy is joined through its "tasks" file with
 * "0": a thread that moves itself skips the global threadgroup lock, whose write side waits
 * for an RCU grace period (8-20 ms per join on this kind of host, the largest cost of a start
 * when the shim wrote the child's pid into cgroup.procs). v2 has no "tasks": cgroup.procs.
 * No allocation: this runs in the children of the shim.
 */
static int join_cgroups_self(char *const *cgroups, const char *skip, struct diag *d)
{
	for (size_t i = 0; cgroups && cgroups[i]; i++) {
		char path[PATH_MAX];
		int fd, e;
		ssize_t n;

		if (cgroups[i] == skip)
			continue;
		if (snprintf(path, sizeof(path), "%s/tasks", cgroups[i]) >= (int)sizeof(path))
			return diag_fail(d, -ENAMETOOLONG, "join cgroup %s: path too long",
					 cgroups[i]);
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && errno == ENOENT) {
			snprintf(path, sizeof(path), "%s/cgroup.procs", cgroups[i]);
			fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		}
		if (fd < 0)
			return diag_fail(d, -errno, "join cgroup %s: %s", cgroups[i],
					 strerror(errno));
		n = write(fd, "0", 1);
		e = errno;
		close(fd);
		if (n != 1)
			return diag_fail(d, n < 0 ? -e : -EIO, "join cgroup %s: %s", cgroups[i],
					 strerror(n < 0 ? e : EIO));
	}
	return 0;
}

/*
 * The container's v2 cgroup, for clone3(CLONE_INTO_CGROUP): the process is born there, with
 * no window in the shim's cgroup and one write less. *ret_dir is its entry in cgroups; -1 when
 * it has none (a v1-only host), and then every cgroup is joined through cgroup.procs.
 */
static int v2_cgroup_open(char *const *cgroups, const char **ret_dir)
{
	*ret_dir = NULL;
	for (size_t i = 0; cgroups && cgroups[i]; i++) {
		struct statfs sf;
		int fd = open(cgroups[i], O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (fstatfs(fd, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
			*ret_dir = cgroups[i];
			return fd;
		}
		close(fd);
	}
	return -1;
}

/* clone3 into cgfd when >= 0; without CLONE_INTO_CGROUP when the kernel refuses it (before
 * 5.7, or a cgroup it cannot take a process into directly): *into says which it was. */
static long clone3_into(struct clone_args *ca, int cgfd, bool *into)
{
	long pid;

	*into = false;
	if (cgfd >= 0) {
		ca->flags |= CLONE_INTO_CGROUP;
		ca->cgroup = (uint64_t)cgfd;
		pid = syscall(SYS_clone3, ca, sizeof(*ca));
		if (pid >= 0 || (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
				 errno != EBUSY && errno != E2BIG)) {
			*into = pid >= 0;
			return pid;
		}
		ca->flags &= ~(uint64_t)CLONE_INTO_CGROUP;
		ca->cgroup = 0;
	}
	return syscall(SYS_clone3, ca, sizeof(*ca));
}

/* The process settings of a container (or of an exec in it, with user and env overrides). */
static struct rootfs_process ctr_process(const struct shim *s, const struct ctr *c)
{
	return (struct rootfs_process){
		.argv = c->args,
		.env = c->env,
		.cwd = c->cwd,
		.user = c->user,
		.uid = c->uid,
		.gid = c->gid,
		.caps = c->caps,
		.user_caps = c->user_caps,
		.seccomp = c->filter >= 0 ? &s->filters[c->filter] : NULL,
		.rlimits = c->rlimits,
		.n_rlimits = c->n_rlimits,
		.umask = c->umask,
	};
}

static _Noreturn void ctr_child(const struct shim *s, const struct ctr *c, const char *cg_skip,
				int sync_fd, int err_fd, int out_w, int err_w)
{
	struct rootfs_spec spec = {
		.lower_dirs = c->lower,
		.upper_dir = c->upper,
		.work_dir = c->work,
		.target = c->target,
		.etc_hosts = c->etc_hosts,
		.etc_hostname = c->etc_hostname,
		.etc_resolv = c->etc_resolv,
		.volumes = c->volumes,
		.n_volumes = c->n_volumes,
		.console = c->tty,
	};
	/* a pod whose shim died is managed by no one: its processes die with the shim */
	struct rootfs_process proc = ctr_process(s, c);
	struct rootfs_console con;
	int keep[] = { sync_fd, err_fd, out_w, err_w };
	struct diag d = { 0 };
	int fd, r;
	char b;
	ssize_t n;

	proc.parent_death_signal = SIGKILL;
	child_reset_signals();
	close_fds_except(keep, ARRAY_SIZE(keep));
	/* armed before the sync read: a shim that dies earlier leaves us EOF there */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(127);
	/* into our cgroups (limits) before anything else, by ourselves: see join_cgroups_self */
	r = join_cgroups_self(c->cgroups, cg_skip, &d);
	if (r < 0)
		child_fail(err_fd, &d, r);
	/* parked until the shim is done with the clone; EOF means it gave up on us */
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

	if (!c->tty) {
		/* stdout and stderr are pipes the shim reads: nothing in the container can find
		 * the log file through them */
		if (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
			child_fail(err_fd, &d,
				   diag_fail(&d, -errno, "stdio: %s", strerror(errno)));
		close(out_w);
		close(err_w);
	}
	r = rootfs_setup(&spec, c->tty ? &con : NULL, &d);
	if (r < 0)
		child_fail(err_fd, &d, r);
	if (!c->tty) {
		/* stdin: the container's own /dev/null (our fresh /dev, after pivot_root) */
		fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
		if (fd < 0 || dup2(fd, 0) < 0)
			child_fail(err_fd, &d,
				   diag_fail(&d, -errno, "stdin /dev/null: %s", strerror(errno)));
		close(fd);
	} else {
		r = chan_send_fd(err_fd, con.master);
		if (r < 0)
			child_fail(err_fd, &d,
				   diag_fail(&d, r, "pass the console to the shim: %s",
					     strerror(-r)));
		close(con.master);
		if (dup2(con.slave, 0) < 0 || dup2(con.slave, 1) < 0 || dup2(con.slave, 2) < 0 ||
		    ioctl(0, TIOCSCTTY, 0) < 0)
			child_fail(err_fd, &d,
				   diag_fail(&d, -errno, "console as stdio: %s", strerror(errno)));
		if (con.slave > 2)
			close(con.slave);
	}
	r = rootfs_exec(&proc, &d);
	child_fail(err_fd, &d, r);
}

/* ---- in the shim ------------------------------------------------------------------------ */

/*
 * share_pid: the container joins the pause process's pid namespace. setns(CLONE_NEWPID) only
 * applies to the caller's children, so an intermediate process joins and clones the container
 * with CLONE_PARENT: the container is still the shim's child (SIGCHLD, waitpid, pidfd_open).
 */
static long clone_into_pod_pidns(const struct shim *s, const struct ctr *c, int sync_r,
				 int err_w, int out_w, int errp_w, int cgfd, const char *cgdir,
				 bool *ret_into, struct diag *d)
{
	_cleanup_close_ int rep_r = -1, rep_w = -1;
	struct {
		long pid;
		bool into;
	} rep = { -1, false };
	int p[2], st;
	pid_t ip;
	ssize_t n;

	if (s->pause_pidfd < 0)
		return diag_fail(d, -ESRCH, "the pod's pid namespace is gone");
	if (pipe2(p, O_CLOEXEC) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	rep_r = p[0], rep_w = p[1];
	ip = fork();
	if (ip < 0)
		return diag_fail(d, -errno, "fork: %s", strerror(errno));
	if (ip == 0) {
		struct clone_args ca = { .flags = CLONE_NEWNS | CLONE_PARENT };

		if (setns(s->pause_pidfd, CLONE_NEWPID) < 0)
			_exit(1);
		rep.pid = clone3_into(&ca, cgfd, &rep.into);
		if (rep.pid == 0)
			ctr_child(s, c, rep.into ? cgdir : NULL, sync_r, err_w, out_w, errp_w);
		if (rep.pid < 0 || write(rep_w, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
			_exit(1);
		_exit(0);
	}
	close(TAKE_FD(rep_w));
	do
		n = read(rep_r, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	while (waitpid(ip, &st, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rep) || rep.pid <= 0)
		return diag_fail(d, -EIO, "join the pod's pid namespace: failed");
	*ret_into = rep.into;
	return rep.pid;
}

int ctr_spawn(const struct shim *s, struct ctr *c, int *ret_errfd, struct diag *d)
{
	_cleanup_close_ int sync_r = -1, sync_w = -1, err_r = -1, err_w = -1, cgfd = -1;
	int p[2], outw[2] = { -1, -1 }, pidfd = -1, r;
	const char *cgdir = NULL;
	bool into = false;
	struct clone_args ca = {
		.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	long pid;

	r = fs_mkdir_p(c->target, 0755);
	if (r < 0)
		return diag_fail(d, r, "mkdir %s: %s", c->target, strerror(-r));
	if (pipe2(p, O_CLOEXEC) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	sync_r = p[0], sync_w = p[1];
	r = chan_pair(p, d);
	if (r < 0)
		return r;
	err_r = p[0], err_w = p[1];
	r = output_open((struct shim *)s, c, outw, d);
	if (r < 0)
		return r;

	cgfd = v2_cgroup_open(c->cgroups, &cgdir);
	if (s->share_pid) {
		pid = clone_into_pod_pidns(s, c, sync_r, err_w, outw[0], outw[1], cgfd, cgdir,
					   &into, d);
		if (pid > 0) {
			pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
			if (pidfd < 0) {
				r = diag_fail(d, -errno, "pidfd_open: %s", strerror(errno));
				kill((pid_t)pid, SIGKILL);
				while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
					;
				pid = r;
			}
		}
	} else {
		/* raw clone3 with no stack: fork semantics, the child is pid 1 of a new pid ns */
		pid = clone3_into(&ca, cgfd, &into);
		if (pid < 0)
			pid = diag_fail(d, -errno, "clone3: %s", strerror(errno));
		else if (pid == 0)
			ctr_child(s, c, into ? cgdir : NULL, sync_r, err_w, outw[0], outw[1]);
	}
	for (int i = 0; i < 2; i++)
		if (outw[i] >= 0)
			close(outw[i]);
	if (pid < 0) {
		output_close((struct shim *)s, c);
		return (int)pid;
	}

	if (into)
		log_pod(LOG_LVL_DEBUG, s->pod, "container %s: cloned into cgroup %s", c->name,
			cgdir);
	/* it joins its other cgroups itself, before it reads this */
	r = 0;
	if (write(sync_w, "1", 1) != 1)
		r = diag_fail(d, -errno, "release container process: %s", strerror(errno));
	if (r < 0) {
		/* abandoned before it ran any code of the image: kill and reap it here */
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(pidfd);
		output_close((struct shim *)s, c);
		return r;
	}
	c->pid = (pid_t)pid;
	c->pidfd = pidfd;
	*ret_errfd = TAKE_FD(err_r);
	return 0;
}

/* ---- the pause process (share_pid) ---------------------------------------------------- */

/* daemon/pause/pause.c, built freestanding (a few hundred bytes of static ELF) */
static const unsigned char pause_elf[] = {
#include "daemon/pause/tank-pause.inc"
};

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3; glibc 2.36 lacks it */
#endif

#define PAUSE_UID 65534 /* nobody */
#define PAUSE_GID 65534

/* The pause program in a sealed memfd, to be executed by fd: no host path leads to it. */
static int pause_memfd(struct diag *d)
{
	_cleanup_close_ int fd = memfd_create("pause", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	size_t off = 0;

	if (fd < 0 && errno == EINVAL) /* before Linux 6.3: no MFD_EXEC, memfds are executable */
		fd = memfd_create("pause", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return diag_fail(d, -errno, "pause: memfd: %s", strerror(errno));
	while (off < sizeof(pause_elf)) {
		ssize_t n = write(fd, pause_elf + off, sizeof(pause_elf) - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return diag_fail(d, -EIO, "pause: write memfd: %s", strerror(errno));
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return diag_fail(d, -errno, "pause: seal memfd: %s", strerror(errno));
	return TAKE_FD(fd);
}

/*
 * In the pause child (pid 1 of the new pid namespace, in a new mount namespace): put it in
 * its cgroups (tankd limits them), confine it to nothing, then exec the pause program. It
 * must not hand the pod anything of the host: its root is an empty read-only tmpfs, it is
 * nobody without any capability, no_new_privs, under the default seccomp profile, with an
 * empty environment and argv "pause"; executing from the memfd leaves no copy of the shim's
 * memory (its config, paths, environment) in the process a container with SYS_PTRACE can
 * inspect.
 */
static _Noreturn void pause_child(const struct shim *s, int memfd, int err_fd)
{
	static char *const argv[] = { "pause", NULL };
	static char *const envp[] = { NULL };
	int keep[] = { memfd, err_fd };
	struct diag d = { 0 };
	int r;

	close_fds_except(keep, ARRAY_SIZE(keep));
	signal(SIGPIPE, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(127);
	/* its own cgroups (limits that bind whoever would take it over), then a cgroup
	 * namespace rooted there */
	r = join_cgroups_self(s->pause_cgroups, NULL, &d);
	if (r < 0)
		child_fail(err_fd, &d, r);
	if (unshare(CLONE_NEWCGROUP) < 0)
		child_fail(err_fd, &d,
			   diag_fail(&d, -errno, "unshare cgroup ns: %s", strerror(errno)));
	/* any host directory serves as the mount point: this mount namespace is ours alone */
	r = rootfs_setup_empty(s->run_dir, &d);
	if (r < 0)
		child_fail(err_fd, &d, r);
	r = rootfs_drop_privileges(PAUSE_UID, PAUSE_GID, &d);
	if (r < 0)
		child_fail(err_fd, &d, r);
	if (s->pause_filter >= 0) {
		r = rootfs_seccomp_install(&s->filters[s->pause_filter], &d);
		if (r < 0)
			child_fail(err_fd, &d, r);
	}
	syscall(SYS_execveat, memfd, "", argv, envp, AT_EMPTY_PATH);
	child_fail(err_fd, &d, diag_fail(&d, -errno, "exec pause: %s", strerror(errno)));
}

/* share_pid: pid 1 of the pod's pid namespace, reaping what is orphaned there. */
int pause_spawn(struct shim *s, struct diag *d)
{
	_cleanup_close_ int memfd = -1, err_r = -1, err_w = -1;
	int pidfd = -1, p[2];
	struct clone_args ca = {
		.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)&pidfd,
		.exit_signal = SIGCHLD,
	};
	char buf[SHIM_ERRTEXT_MAX];
	size_t len = 0;
	long pid;

	memfd = pause_memfd(d);
	if (memfd < 0)
		return memfd;
	if (pipe2(p, O_CLOEXEC) < 0)
		return diag_fail(d, -errno, "pipe: %s", strerror(errno));
	err_r = p[0], err_w = p[1];
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		return diag_fail(d, -errno, "clone3 (pod pid namespace): %s", strerror(errno));
	if (pid == 0)
		pause_child(s, memfd, err_w);
	close(TAKE_FD(err_w));
	/* EOF alone: it exec'd; text: why it could not */
	for (;;) {
		ssize_t n = read(err_r, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (len > 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
			;
		close(pidfd);
		return diag_fail(d, -EPERM, "pause process: %s", buf);
	}
	s->pause_pid = (pid_t)pid;
	s->pause_pidfd = pidfd;
	return 0;
}

/* Open a pty of the container's devpts (we are in its mount namespace, at its root). */
static int exec_pty(const struct exec_req *req, int *ret_slave, struct diag *d)
{
	_cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), master = -1;
	struct winsize ws = { .ws_row = req->rows ? req->rows : 24,
			      .ws_col = req->cols ? req->cols : 80 };
	struct statfs sf;
	struct stat st;
	int unlock = 0, slave;

	if (rootfd < 0)
		return diag_fail(d, -errno, "open /: %s", strerror(errno));
	/* the container may have changed its /dev: accept only a real devpts ptmx */
	master = rootfs_open(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY, 0);
	if (master < 0)
		return diag_fail(d, master, "open /dev/pts/ptmx: %s", strerror(-master));
	if (fstatfs(master, &sf) < 0 || sf.f_type != DEVPTS_SUPER_MAGIC || fstat(master, &st) < 0 ||
	    !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
		return diag_fail(d, -EPERM, "/dev/pts/ptmx of the container is not a devpts ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return diag_fail(d, -errno, "unlock pty: %s", strerror(errno));
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return diag_fail(d, -errno, "open pty slave: %s", strerror(errno));
	ioctl(master, TIOCSWINSZ, &ws);
	*ret_slave = slave;
	return TAKE_FD(master);
}

/*
 * An exec whose command cannot be started ends like podman's: 127 when it is not found, 126
 * when it cannot be executed, with the reason on the command's own stderr (already the
 * caller's, or the pty). rootfs_exec names its execve step "exec CMD: ..."; a failure before
 * it (an unknown user, a missing working directory) is the request's error as before.
 */
static _Noreturn void exec_fail(int err_fd, const struct diag *d, int r)
{
	bool at_execve = strncmp(d->msg, "exec ", 5) == 0;
	int code = !at_execve			      ? 0
		   : r == -ENOENT || r == -ENOTDIR ? 127
		   : r == -EACCES || r == -EPERM || r == -ENOEXEC || r == -EISDIR ? 126
										   : 0;
	char line[512];
	int n;

	if (!code)
		child_fail(err_fd, d, r);
	n = snprintf(line, sizeof(line), "error: %s\n", diag_text(d, r));
	if (n > 0 && write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0) {
		/* the exit status still says it */
	}
	_exit(code);
}

static _Noreturn void exec_intermediate(const struct shim *s, const struct ctr *c,
					const struct exec_req *req, const char *cg_skip, int err_fd)
{
	struct rootfs_process proc = ctr_process(s, c);
	int keep[] = { req->fds[0], req->fds[1], req->fds[2], err_fd, c->pidfd };
	struct diag d = { 0 };
	struct rlimit no_core = { 0, 0 };
	int st, r, slave = -1, master = -1;
	pid_t pid;

	proc.argv = req->args;
	proc.env = req->env;
	proc.cwd = req->cwd;
	if (req->user)
		proc.user = req->user;
	child_reset_signals();
	close_fds_except(keep, ARRAY_SIZE(keep));
	/* not ptrace-able or inspectable from inside the container until execve */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* born in the v2 cgroup (cg_skip) when clone3 took it there; the v1 ones by itself */
	r = join_cgroups_self(c->cgroups, cg_skip, &d);
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
	if (req->tty) {
		master = exec_pty(req, &slave, &d);
		if (master < 0)
			child_fail(err_fd, &d, master);
		r = chan_send_fd(err_fd, master);
		if (r < 0)
			child_fail(err_fd, &d,
				   diag_fail(&d, r, "pass the pty to the shim: %s", strerror(-r)));
		close(master);
	}

	/* setns(CLONE_NEWPID) only applies to children: fork once more */
	pid = fork();
	if (pid < 0)
		child_fail(err_fd, &d, diag_fail(&d, -errno, "fork: %s", strerror(errno)));
	if (pid == 0) {
		if (req->tty) {
			if (setsid() < 0 || dup2(slave, 0) < 0 || dup2(slave, 1) < 0 ||
			    dup2(slave, 2) < 0 || ioctl(0, TIOCSCTTY, 0) < 0)
				child_fail(err_fd, &d,
					   diag_fail(&d, -errno, "pty as stdio: %s",
						     strerror(errno)));
			if (slave > 2)
				close(slave);
		} else {
			for (int i = 0; i < 3; i++)
				if (dup2(req->fds[i], i) < 0)
					child_fail(err_fd, &d,
						   diag_fail(&d, -errno, "dup2: %s",
							     strerror(errno)));
			for (int i = 0; i < 3; i++)
				if (req->fds[i] > 2)
					close(req->fds[i]);
		}
		r = rootfs_exec(&proc, &d);
		exec_fail(err_fd, &d, r);
	}
	close(err_fd);
	if (slave >= 0)
		close(slave);
	for (int i = 0; i < 3; i++)
		if (req->fds[i] >= 0)
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

int exec_spawn(const struct shim *s, const struct ctr *c, const struct exec_req *req,
	       pid_t *ret_pid, int *ret_errfd, struct diag *d)
{
	_cleanup_close_ int err_r = -1, err_w = -1, cgfd = -1;
	struct clone_args ca = { .exit_signal = SIGCHLD };
	const char *cgdir = NULL;
	bool into = false;
	int p[2], r;
	pid_t pid;

	if (c->pidfd < 0)
		return diag_fail(d, -ESRCH, "container %s is not running", c->name);
	/* read once the intermediate is gone, when the command may still hold the write end;
	 * a tty exec's pty master comes through it earlier */
	r = chan_pair(p, d);
	if (r < 0)
		return r;
	err_r = p[0], err_w = p[1];
	/* as the container itself: on v2 the exec is born in its cgroup (CLONE_INTO_CGROUP) */
	cgfd = v2_cgroup_open(c->cgroups, &cgdir);
	pid = (pid_t)clone3_into(&ca, cgfd, &into);
	if (pid < 0)
		return diag_fail(d, -errno, "clone3: %s", strerror(errno));
	if (pid == 0)
		exec_intermediate(s, c, req, into ? cgdir : NULL, err_w);
	if (into)
		log_pod(LOG_LVL_DEBUG, s->pod, "container %s: exec cloned into cgroup %s", c->name,
			cgdir);
	*ret_pid = pid;
	*ret_errfd = TAKE_FD(err_r);
	return 0;
}
