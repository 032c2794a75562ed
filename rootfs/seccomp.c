/* seccomp.c - the default seccomp profile (Docker's allowlist), compiled once per host (cached). */
#include <fcntl.h>
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

static int cache_produce(const char *cache_dir, const uint64_t *caps, size_t n, const int *fds);

/* A compiled program from fd (st: its fstat): a whole number of instructions, at most
 * BPF_MAXINSNS. -EBADMSG when the size is not that of a program. */
static int prog_read(int fd, const struct stat *st, struct rootfs_seccomp *ret)
{
	void *prog;

	if (st->st_size <= 0 || st->st_size % sizeof(struct sock_filter) ||
	    st->st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -EBADMSG;
	prog = malloc((size_t)st->st_size);
	if (!prog)
		return -ENOMEM;
	if (pread(fd, prog, (size_t)st->st_size, 0) != st->st_size) {
		free(prog);
		return -EIO;
	}
	ret->prog = prog;
	ret->len = (unsigned short)(st->st_size / sizeof(struct sock_filter));
	return 0;
}

/* In a child: each program from the cache, or compiled, into fds[i]; only the BPF comes back,
 * so neither libseccomp's nor libcrypto's state ever lives in the caller. */
static int programs_get(const char *cache_dir, const uint64_t *caps, size_t n,
			struct rootfs_seccomp *ret, struct diag *d)
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
	if (pid == 0)
		_exit(cache_produce(cache_dir, caps, n, fds) < 0 ? 1 : 0);
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

		if (fstat(fds[i], &sb) < 0) {
			r = diag_fail(d, -errno, "seccomp: program: %s", strerror(errno));
			goto out;
		}
		r = prog_read(fds[i], &sb, &ret[i]);
		if (r < 0) {
			diag_fail(d, r == -ENOMEM ? r : -EIO, "seccomp: bad program of %lld bytes",
				  (long long)sb.st_size);
			r = r == -ENOMEM ? r : -EIO;
			goto out;
		}
	}
out:
	for (size_t i = 0; i < made; i++)
		close(fds[i]);
	if (r < 0)
		for (size_t i = 0; i < n; i++)
			rootfs_seccomp_clear(&ret[i]);
	return r;
}

int rootfs_seccomp_compile(const uint64_t *caps, size_t n, struct rootfs_seccomp *ret,
			   struct diag *d)
{
	return programs_get(NULL, caps, n, ret, d);
}

static int cache_key(uint64_t caps, char *buf, size_t len);
static int cache_dir_open(const char *dir);
static int cache_load(int dirfd, const char *name, struct rootfs_seccomp *ret);

/* Every program straight from the cache, in this process (the usual case: no fork, and none of
 * libseccomp runs but its version and arch getters); -ENOENT when one is missing. */
static int programs_cached(const char *cache_dir, const uint64_t *caps, size_t n,
			   struct rootfs_seccomp *ret)
{
	_cleanup_close_ int dirfd = cache_dir_open(cache_dir);

	if (dirfd < 0)
		return dirfd;
	memset(ret, 0, n * sizeof(*ret));
	for (size_t i = 0; i < n; i++) {
		char name[200];

		if (cache_key(caps[i], name, sizeof(name)) < 0 ||
		    cache_load(dirfd, name, &ret[i]) < 0) {
			for (size_t k = 0; k < i; k++)
				rootfs_seccomp_clear(&ret[k]);
			return -ENOENT;
		}
	}
	return 0;
}

int rootfs_seccomp_get(const char *cache_dir, const uint64_t *caps, size_t n,
		       struct rootfs_seccomp *ret, struct diag *d)
{
	if (cache_dir && programs_cached(cache_dir, caps, n, ret) == 0)
		return 0;
	return programs_get(cache_dir, caps, n, ret, d);
}

void rootfs_seccomp_clear(struct rootfs_seccomp *f)
{
	free(f->prog);
	f->prog = NULL;
	f->len = 0;
}

/* ---- the cache of compiled programs -------------------------------------------------------- */

/* Bump when the layout of a cache entry changes. */
#define CACHE_REV "1"

/*
 * The cache key, as a file name that spells out everything a program depends on: the
 * capability set, the native architecture, the libseccomp version, and the identity of the
 * executable doing the compiling (device, inode, size, mtime), which carries the profile's
 * tables and rules: a rebuilt or upgraded binary never uses an older program. Plain values
 * rather than a digest: no collision to fear, readable with ls, and no crypto library mapped
 * into every shim for it.
 */
static int cache_key(uint64_t caps, char *buf, size_t len)
{
	const struct scmp_version *v = seccomp_version();
	struct stat exe;
	int n;

	if (!v || stat("/proc/self/exe", &exe) < 0)
		return -EIO;
	n = snprintf(buf, len,
		     "v%s-caps%016llx-arch%08x-libseccomp%u.%u.%u-exe%llx.%llx.%llx.%lld.%09ld.bpf",
		     CACHE_REV, (unsigned long long)caps, seccomp_arch_native(), v->major, v->minor,
		     v->micro, (unsigned long long)exe.st_dev, (unsigned long long)exe.st_ino,
		     (unsigned long long)exe.st_size, (long long)exe.st_mtim.tv_sec,
		     exe.st_mtim.tv_nsec);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* The cache directory (created 0700): ours and writable by no one else, or -EPERM. */
static int cache_dir_open(const char *dir)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	return TAKE_FD(fd);
}

/*
 * A cached program: a regular file of ours, mode 0600, a whole number of instructions, at most
 * BPF_MAXINSNS. Anything else is removed (it is rewritten after compiling) and -ENOENT.
 */
static int cache_load(int dirfd, const char *name, struct rootfs_seccomp *ret)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		unlinkat(dirfd, name, 0);
		return -ENOENT;
	}
	r = prog_read(fd, &st, ret);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		unlinkat(dirfd, name, 0);
		return -ENOENT;
	}
	return 0;
}

/* Write a program under name, atomically (a private temporary file renamed over it). */
static int cache_store(int dirfd, const char *name, const struct rootfs_seccomp *f)
{
	return fs_write_runtime(dirfd, name, f->prog, (size_t)f->len * sizeof(struct sock_filter),
				0600);
}

/* Write all of buf to fd. */
static int write_all(int fd, const void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, (const char *)buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		off += (size_t)w;
	}
	return 0;
}

/* In the child: each program into fds[i], from the cache when it has it, else compiled (and
 * then stored). A cache we cannot use safely is no cache. */
static int cache_produce(const char *cache_dir, const uint64_t *caps, size_t n, const int *fds)
{
	_cleanup_close_ int dirfd = cache_dir ? cache_dir_open(cache_dir) : -EBADF;

	for (size_t i = 0; i < n; i++) {
		struct rootfs_seccomp f = { 0 };
		char name[200];
		struct stat sb;
		bool cacheable = dirfd >= 0 && cache_key(caps[i], name, sizeof(name)) == 0;
		int r;

		if (cacheable) {
			if (cache_load(dirfd, name, &f) == 0) {
				r = write_all(fds[i], f.prog, (size_t)f.len * sizeof(struct sock_filter));
				rootfs_seccomp_clear(&f);
				if (r < 0)
					return r;
				continue;
			}
		}
		r = compile_one(caps[i], fds[i]);
		if (r < 0)
			return r;
		if (!cacheable || fstat(fds[i], &sb) < 0)
			continue;
		/* best effort: the next start compiles again when this fails */
		if (prog_read(fds[i], &sb, &f) == 0)
			cache_store(dirfd, name, &f);
		rootfs_seccomp_clear(&f);
	}
	return 0;
}
