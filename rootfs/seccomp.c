/* seccomp.c - the default seccomp profile (Docker's allowlist), compiled once per shim. */
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rootfs/rootfs.h"
#include "rootfs/rootfs_int.h"

/*
 * The profile follows moby's profiles/seccomp/default.json (the allowlist podman's
 * containers/common also ships): everything not listed fails with EPERM. libseccomp knows the
 * numbers of each architecture; names it does not know (newer than the library) are added by
 * their x86_64 number where we know it, else skipped (and so refused with EPERM).
 */
static const char *const allow_always[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
	"capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
	"clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
	"clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
	"copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
	"epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
	"eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
	"faccessat2",
	"fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
	"fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
	"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
	"fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
	"futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
	"getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
	"geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
	"getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
	"getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
	"getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
	"getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
	"lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
	"membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
	"mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
	"mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd",
	"msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
	"_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
	"pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
	"ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
	"pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
	"readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
	"recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
	"restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
	"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
	"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
	"sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
	"setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
	"setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
	"setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
	"sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64",
	"statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
	"sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
	"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
	"tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
	"utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
	"waitpid", "write", "writev",
	/* moby: allowed from kernel 4.8 on, where they no longer bypass seccomp */
	"ptrace", "process_vm_readv", "process_vm_writev",
	/* x86 only (others: unknown names, skipped) */
	"arch_prctl", "modify_ldt",
};

/* Syscalls moby's profile allows only with a capability. */
static const struct {
	int cap;
	const char *names[20];
} allow_with_cap[] = {
	{ CAP_SYS_ADMIN,
	  { "bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
	    "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl",
	    "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
	    "umount2" } },
	{ CAP_SYS_ADMIN, { "unshare" } },
	{ CAP_DAC_READ_SEARCH, { "open_by_handle_at" } },
	{ CAP_SYS_BOOT, { "reboot" } },
	{ CAP_SYS_CHROOT, { "chroot" } },
	{ CAP_SYS_MODULE, { "delete_module", "init_module", "finit_module" } },
	{ CAP_SYS_PACCT, { "acct" } },
	{ CAP_SYS_PTRACE, { "kcmp", "pidfd_getfd", "process_madvise" } },
	{ CAP_SYS_RAWIO, { "iopl", "ioperm" } },
	{ CAP_SYS_TIME, { "settimeofday", "stime", "clock_settime", "clock_settime64" } },
	{ CAP_SYS_TTY_CONFIG, { "vhangup" } },
	{ CAP_SYS_NICE, { "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node" } },
	{ CAP_SYSLOG, { "syslog" } },
	{ CAP_BPF, { "bpf" } },
	{ CAP_PERFMON, { "perf_event_open" } },
};

#if defined(__x86_64__)
/* x86_64 numbers of syscalls newer than libseccomp 2.5.4 knows */
static const struct {
	const char *name;
	int nr;
} x86_64_new[] = {
	{ "set_mempolicy_home_node", 450 }, { "cachestat", 451 }, { "fchmodat2", 452 },
	{ "map_shadow_stack", 453 },        { "futex_wake", 454 }, { "futex_wait", 455 },
	{ "futex_requeue", 456 },
};
#endif

/* The syscall number of name for rules (libseccomp's, or our table), or __NR_SCMP_ERROR. */
static int sys_nr(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

#if defined(__x86_64__)
	if (nr == __NR_SCMP_ERROR)
		for (size_t i = 0; i < ARRAY_SIZE(x86_64_new); i++)
			if (strcmp(x86_64_new[i].name, name) == 0)
				return x86_64_new[i].nr;
#endif
	return nr;
}

/* Allow a syscall unconditionally; names unknown here are skipped, duplicates are fine. */
static int allow(scmp_filter_ctx ctx, const char *name)
{
	int nr = sys_nr(name), r;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	return r == -EEXIST || r == -EDOM || r == -EFAULT ? 0 : r;
}

static int build(scmp_filter_ctx ctx, uint64_t caps)
{
	static const uint64_t personas[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
	bool admin = caps & (1ULL << CAP_SYS_ADMIN);
	int r = 0;

#if defined(__x86_64__)
	if ((r = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0 && r != -EEXIST)
		return r;
	if ((r = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0 && r != -EEXIST)
		return r;
#endif
	for (size_t i = 0; i < ARRAY_SIZE(allow_always); i++)
		if ((r = allow(ctx, allow_always[i])) < 0)
			return r;
	for (size_t i = 0; i < ARRAY_SIZE(allow_with_cap); i++) {
		if (!(caps & (1ULL << allow_with_cap[i].cap)))
			continue;
		for (size_t j = 0; j < ARRAY_SIZE(allow_with_cap[i].names); j++)
			if (allow_with_cap[i].names[j] &&
			    (r = allow(ctx, allow_with_cap[i].names[j])) < 0)
				return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(personas); i++)
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
					  SCMP_A0(SCMP_CMP_EQ, personas[i]))) < 0)
			return r;
	/* no AF_VSOCK sockets */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				  SCMP_A0(SCMP_CMP_NE, 40))) < 0)
		return r;
	if (admin) {
		if ((r = allow(ctx, "clone")) < 0 || (r = allow(ctx, "clone3")) < 0)
			return r;
	} else {
		/* clone without namespace flags; clone3 (flags behind a pointer) says ENOSYS so
		 * that libc falls back to clone */
		uint64_t ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
			      CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
					  SCMP_A0(SCMP_CMP_MASKED_EQ, ns, 0))) < 0)
			return r;
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0 &&
		    r != -EEXIST)
			return r;
	}
	return 0;
}

/* In the compile child: one filter into memfd fd. */
static int compile_one(uint64_t caps, int fd)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r;

	if (!ctx)
		return -ENOMEM;
	/* we set no_new_privs ourselves; a binary tree keeps the filter fast for ~400 rules */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	r = build(ctx, caps);
	if (r >= 0)
		r = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	return r;
}

int rootfs_seccomp_compile(const uint64_t *caps, size_t n, struct rootfs_seccomp *ret,
			   struct diag *d)
{
	int fds[16], st, r = 0;
	size_t made = 0;
	pid_t pid;

	if (n > ARRAY_SIZE(fds))
		return diag_fail(d, -E2BIG, "seccomp: more than %zu filters", ARRAY_SIZE(fds));
	memset(ret, 0, n * sizeof(*ret));
	for (; made < n; made++) {
		fds[made] = memfd_create("tank-seccomp", MFD_CLOEXEC);
		if (fds[made] < 0) {
			r = diag_fail(d, -errno, "seccomp: memfd: %s", strerror(errno));
			goto out;
		}
	}
	pid = fork();
	if (pid < 0) {
		r = diag_fail(d, -errno, "seccomp: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		for (size_t i = 0; i < n; i++)
			if (compile_one(caps[i], fds[i]) < 0)
				_exit(1);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			r = diag_fail(d, -errno, "seccomp: wait: %s", strerror(errno));
			goto out;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		r = diag_fail(d, -EIO, "seccomp: compiling the default profile failed");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		size_t len;

		if (fstat(fds[i], &sb) < 0 || sb.st_size <= 0 ||
		    sb.st_size % sizeof(struct sock_filter) ||
		    sb.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
			r = diag_fail(d, -EIO, "seccomp: bad program of %lld bytes",
				      (long long)sb.st_size);
			goto out;
		}
		len = (size_t)sb.st_size;
		ret[i].prog = malloc(len);
		if (!ret[i].prog || pread(fds[i], ret[i].prog, len, 0) != (ssize_t)len) {
			r = diag_fail(d, -EIO, "seccomp: read program: %s", strerror(errno));
			goto out;
		}
		ret[i].len = (unsigned short)(len / sizeof(struct sock_filter));
	}
out:
	for (size_t i = 0; i < made; i++)
		close(fds[i]);
	if (r < 0)
		for (size_t i = 0; i < n; i++)
			rootfs_seccomp_clear(&ret[i]);
	return r;
}

void rootfs_seccomp_clear(struct rootfs_seccomp *f)
{
	free(f->prog);
	f->prog = NULL;
	f->len = 0;
}
