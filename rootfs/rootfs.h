/* rootfs.h - a container's filesystem view and process setup, done inside its namespaces. */
#ifndef TANK_ROOTFS_H
#define TANK_ROOTFS_H

#include <sys/types.h>

#include "lib/lib.h"

/*
 * Mechanism only: no logging. These run in the container's first process (pid 1 of a fresh pid
 * namespace, in a fresh mount namespace, already inside the pod's net/uts/ipc namespaces),
 * between the shim's release and execve. They return -errno and say in diag which step failed
 * on which path ("mount proc on /proc: Operation not permitted").
 */

struct rootfs_spec {
	char *const *lower_dirs; /* image layer dirs, bottom (first applied) first; at least one */
	const char *upper_dir;   /* per-container writable layer ... */
	const char *work_dir;    /* ... and overlay's work dir, on the same filesystem */
	const char *target;      /* existing empty dir where the root is assembled */
	const char *etc_hosts;   /* host files bind-mounted at /etc/hosts, /etc/hostname, */
	const char *etc_hostname; /* /etc/resolv.conf (the target files are created when missing; */
	const char *etc_resolv;   /* NULL skips one) */
};

/*
 * Make / rprivate; mount the overlay at target; mount /proc (nosuid,noexec,nodev), /dev (tmpfs
 * with null, zero, full, random, urandom, tty, ptmx, fd/stdin/stdout/stderr links, /dev/pts
 * newinstance, /dev/shm, /dev/mqueue), /sys read-only; bind the /etc files; pivot_root and
 * detach the old root. Mount points inside the rootfs are resolved with openat2
 * (RESOLVE_IN_ROOT), never by joining strings. On success root and cwd are the new root.
 * Also: /proc/{bus,fs,irq,sys,sysrq-trigger} read-only and the usual /proc and /sys entries
 * masked (kcore, keys, timer_list, firmware, ...); /proc, /sys, /dev must not be symlinks in
 * the image (ELOOP). One lower dir and no upper: overlayfs refuses that, so the layer is bound
 * read-only instead. The /etc files are bound read-only. Uses the new mount API (kernel 6.8+
 * for "lowerdir+", older kernels get one escaped "lowerdir").
 */
int rootfs_setup(const struct rootfs_spec *s, struct diag *d);

struct rootfs_process {
	char *const *argv;
	char *const *env;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	int parent_death_signal; /* armed again after setuid (which clears it); 0 = none */
};

/*
 * Final steps before the workload: umask 022, chdir(cwd), setgroups/setgid/setuid, the parent
 * death signal, no_new_privs, environment replaced, execve with argv[0] looked up in the
 * container's PATH (env's PATH, else the usual default). Returns only on failure, with diag
 * "exec <argv0>: <strerror>" or "exec <argv0>: not found in PATH=<path>".
 */
int rootfs_exec(const struct rootfs_process *p, struct diag *d);

#endif
