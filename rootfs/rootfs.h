/* rootfs.h - a container's filesystem view and process setup, done inside its namespaces. */
#ifndef TANK_ROOTFS_H
#define TANK_ROOTFS_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "lib/lib.h"

/*
 * Mechanism only: no logging. These run in the container's first process (pid 1 of a fresh pid
 * namespace, in a fresh mount namespace, already inside the pod's net/uts/ipc namespaces),
 * between the shim's release and execve. They return -errno and say in diag which step failed
 * on which path ("mount proc on /proc: Operation not permitted").
 */

/* A volume: a host directory (or file) bound recursively, or a fresh tmpfs. */
struct rootfs_volume {
	const char *target;  /* absolute path inside the container (resolved in its root) */
	const char *source;  /* host path (trusted: the daemon made or checked it); NULL = tmpfs */
	uint64_t tmpfs_size; /* bytes, for a tmpfs; 0 = the kernel's default (half of RAM) */
	bool read_only;
};

struct rootfs_spec {
	char *const *lower_dirs; /* image layer dirs, bottom (first applied) first; at least one */
	const char *upper_dir;   /* per-container writable layer ... */
	const char *work_dir;    /* ... and overlay's work dir, on the same filesystem */
	const char *target;      /* existing empty dir where the root is assembled */
	const char *etc_hosts;   /* host files bind-mounted at /etc/hosts, /etc/hostname, */
	const char *etc_hostname; /* /etc/resolv.conf (the target files are created when missing; */
	const char *etc_resolv;   /* NULL skips one) */
	const struct rootfs_volume *volumes; /* mounted in order, after the /etc files */
	size_t n_volumes;
	bool console;            /* make a pty of the container's devpts its console (below) */
};

/* The container's console when spec.console: both fds O_CLOEXEC, -1 when none. */
struct rootfs_console {
	int master;              /* for the shim */
	int slave;               /* /dev/pts/0, also bound at /dev/console: the process's stdio */
};

/*
 * Make / rprivate; mount the overlay at target (nodev: device nodes of the image open nothing;
 * nosuid is left to the image); mount /proc (nosuid,noexec,nodev), /dev (tmpfs
 * with null, zero, full, random, urandom, tty, ptmx, fd/stdin/stdout/stderr links, /dev/pts
 * newinstance, /dev/shm 64 MiB, /dev/mqueue), /sys read-only with a read-only cgroup2 of the
 * caller's cgroup namespace at /sys/fs/cgroup; bind the /etc files; mount the volumes;
 * pivot_root and detach the old root. Mount points inside the rootfs are resolved with openat2
 * (RESOLVE_IN_ROOT), never by joining strings, so a symlink of the image cannot send a mount
 * to the host; a volume whose target resolves into /proc or /sys is refused. On success root
 * and cwd are the new root. Also: /proc/{bus,fs,irq,sys,sysrq-trigger} read-only and the usual
 * /proc and /sys entries masked (kcore, keys, timer_list, firmware, devices/virtual/tpm, ...);
 * /proc, /sys, /dev must not be symlinks in the image (ELOOP). One lower dir and no upper:
 * overlayfs refuses that, so the layer is bound read-only instead. The /etc files are bound
 * read-only. Uses the new mount API (kernel 6.8+ for "lowerdir+", older kernels get one
 * escaped "lowerdir"). ret_console may be NULL unless spec.console.
 */
int rootfs_setup(const struct rootfs_spec *s, struct rootfs_console *ret_console,
		 struct diag *d);

/*
 * Make the caller's root and cwd an empty read-only tmpfs (nosuid, nodev, noexec): / is made
 * rprivate, the tmpfs is attached on mountpoint (an existing host directory: the caller must
 * be in a mount namespace of its own, which this changes for good), pivot_root'ed into and
 * the old root detached. For a process that must see nothing of any filesystem.
 */
int rootfs_setup_empty(const char *mountpoint, struct diag *d);

/*
 * fs_open_in_root (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), retried on EAGAIN: the
 * kernel refuses to resolve ".." in the root when a rename or mount anywhere raced with the
 * lookup (openat2(2)); it succeeds on a retry unless that goes on (then -EAGAIN after 64).
 */
int rootfs_open(int rootfd, const char *path, int flags, mode_t mode);

/* ---- capabilities (caps.c) ---------------------------------------------------------------- */

/* The default set, as podman's: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE,
 * SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT (0x800405fb). */
#define ROOTFS_CAPS_DEFAULT 0x800405fbULL

/* "NET_ADMIN", "CAP_NET_ADMIN", "net_admin" -> the capability number, or -EINVAL. */
int rootfs_cap_from_name(const char *name);
/* "CAP_NET_ADMIN" for a known number, else NULL. */
const char *rootfs_cap_name(int cap);
/* The default set with `add` added and `drop` removed ("ALL" in either means every
 * capability; drop is applied after add, except that an explicit add survives drop "ALL").
 * Unknown names fail with the name in diag. Either list may be NULL. */
int rootfs_caps_compute(char *const *add, char *const *drop, uint64_t *ret, struct diag *d);

/* ---- seccomp (seccomp.c) ------------------------------------------------------------------ */

/* A compiled classic-BPF seccomp program (struct sock_filter[len]). */
struct rootfs_seccomp {
	void *prog;
	unsigned short len;
};

/*
 * Compile the default profile (Docker's allowlist: EPERM for everything else, clone without
 * namespace flags, clone3 ENOSYS, no AF_VSOCK sockets, personality limited; the syscalls its
 * profile ties to a capability are allowed when caps has it) for each of n capability sets,
 * into ret[n]. libseccomp runs in a short-lived child process, so the caller's heap never holds
 * its state; only the BPF comes back. Architectures: native, plus x86 and x32 on x86_64.
 */
int rootfs_seccomp_compile(const uint64_t *caps, size_t n, struct rootfs_seccomp *ret,
			   struct diag *d);
/*
 * The same programs through a cache of compiled programs in cache_dir (NULL: no cache, as
 * rootfs_seccomp_compile): created 0700 when missing and used only when it belongs to us and
 * nobody else may write it. A program is looked up by a key naming its inputs (capability set,
 * architecture, libseccomp version, this executable, which carries the profile) in a 0600
 * file of whole instructions (at most BPF_MAXINSNS; anything else is removed); those missing
 * are compiled and written atomically. Lookup and compile run in one child. Cache errors only
 * cost the compile.
 */
int rootfs_seccomp_get(const char *cache_dir, const uint64_t *caps, size_t n,
		       struct rootfs_seccomp *ret, struct diag *d);
void rootfs_seccomp_clear(struct rootfs_seccomp *f);

/* ---- users (user.c) ----------------------------------------------------------------------- */

#define ROOTFS_GROUPS_MAX 256
#define ROOTFS_ETC_FILE_MAX (4u << 20) /* bytes of /etc/passwd or /etc/group we read */

struct rootfs_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[ROOTFS_GROUPS_MAX]; /* supplementary groups, gid first */
	size_t n_groups;
	char home[256];                  /* from /etc/passwd, "" when unknown */
};

/*
 * Resolve "name|uid[:group|gid]" (as podman): a name must be in /etc/passwd, a number need not
 * be (its gid is then 0 unless given); the group defaults to the user's primary group; without
 * an explicit group, every /etc/group entry listing the user name adds a supplementary group.
 * passwd and group are the files' contents (NULL = missing file).
 */
int rootfs_user_lookup(const char *passwd, const char *group, const char *spec,
		       struct rootfs_user *ret, struct diag *d);
/* The same with /etc/passwd and /etc/group of the root at rootfd, opened with openat2
 * RESOLVE_IN_ROOT, regular files of at most ROOTFS_ETC_FILE_MAX bytes. */
int rootfs_user_resolve(int rootfd, const char *spec, struct rootfs_user *ret, struct diag *d);

/* ---- the process (exec.c) ----------------------------------------------------------------- */

struct rootfs_rlimit {
	int resource; /* RLIMIT_* */
	rlim_t soft, hard;
};

/* "nofile", "NOFILE", "RLIMIT_NOFILE" -> RLIMIT_NOFILE; -EINVAL when unknown. */
int rootfs_rlimit_from_name(const char *name);

struct rootfs_process {
	char *const *argv;
	char *const *env;
	const char *cwd;
	const char *user;        /* "name|uid[:group|gid]", resolved in the current root; NULL: */
	uid_t uid;               /* uid:gid below (then also looked up for HOME) */
	gid_t gid;
	uint64_t caps;           /* bounding set; also effective/permitted when the uid is 0 */
	uint64_t user_caps;      /* for another uid: these (of caps) stay effective, permitted,
				  * inheritable and ambient (podman: only --cap-add for users) */
	const struct rootfs_seccomp *seccomp; /* NULL = unconfined */
	const struct rootfs_rlimit *rlimits;
	size_t n_rlimits;
	mode_t umask;
	int parent_death_signal; /* armed again after setuid (which clears it); 0 = none */
};

/*
 * Final steps before the workload: resolve the user, rlimits, umask, chdir(cwd), clear the
 * ambient set and drop the bounding set to caps, setgroups/setresgid/setresuid, capabilities
 * (effective = permitted = caps for uid 0; only user_caps, also ambient, for any other uid, as
 * podman), the parent death
 * signal, no_new_privs, the seccomp filter, HOME from /etc/passwd when env has none, and execve
 * with argv[0] looked up in the container's PATH (env's PATH, else the usual default). Returns
 * only on failure, with diag "exec <argv0>: <strerror>" or "exec <argv0>: not found in
 * PATH=<path>" (or the step that failed).
 */
int rootfs_exec(const struct rootfs_process *p, struct diag *d);

/* Install a compiled seccomp filter on the caller (no_new_privs must be set, or CAP_SYS_ADMIN
 * held). */
int rootfs_seccomp_install(const struct rootfs_seccomp *f, struct diag *d);

/*
 * Become uid:gid with no supplementary groups and every capability set empty (bounding,
 * effective, permitted, inheritable, ambient), then set no_new_privs: nothing the caller
 * executes afterwards can gain a privilege.
 */
int rootfs_drop_privileges(uid_t uid, gid_t gid, struct diag *d);

#endif
