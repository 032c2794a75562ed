/* shim_proto.h - the contract between tankd and tank-shim (files, socket, messages). */
#ifndef TANK_SHIM_PROTO_H
#define TANK_SHIM_PROTO_H

/*
 * One tank-shim per pod owns the pod: its namespaces, its processes, their exit status.
 *
 * Start. tankd writes <pod run dir>/shim.json and runs
 *     tank-shim --run-dir DIR --ready-fd N
 * in its own session (double fork: the shim is not tankd's child and survives tankd). fd N is
 * the write end of a pipe; the shim writes exactly one JSON line to it and closes it:
 *     {"ok":true,"pid":<shim pid>}  once the pod namespaces exist, the netns is bound at
 *                                   netns_path and shim.sock is listening;
 *     {"ok":false,"error":"..."}     and exits 1 when that failed (it cleans up what it made).
 *
 * shim.json (written by tankd; the shim trusts it as it trusts tankd):
 *   { "pod": "web", "uid": "<pod uid>", "hostname": "web",
 *     "netns_path": "/run/netns/tank-web",
 *     "log_dir": "/var/lib/tank/logs/web",
 *     "share_pid": false,                  (optional; true: one pid namespace for the pod)
 *     "host_network": false,               (optional; true: the pod keeps the host netns, nothing
 *                                           is bound at netns_path)
 *     "logs": { "max_size": 10485760,      (optional; bytes per file, >= 4096)
 *               "max_files": 5,            (files in all, current included; 1..100)
 *               "line_max": 16384 },       (CRI line cap in bytes, 128..262144)
 *     "containers": [
 *       { "name": "app",
 *         "rootfs": { "lower": ["<layer dir>", ...],   (bottom first, as oci_image.layer_dirs)
 *                     "upper": "...", "work": "...", "target": "..." },
 *         "etc": { "hosts": "...", "hostname": "...", "resolv": "..." },
 *         "process": { "args": [...], "env": ["K=V", ...], "cwd": "/", "uid": 0, "gid": 0,
 *                      "user": "www-data",     (optional: name|uid[:group|gid], resolved in
 *                                               the rootfs; replaces uid/gid when present)
 *                      "umask": 18,            (optional, default 0022 = 18)
 *                      "rlimits": { "nofile": { "soft": 1024, "hard": 1024 } } },
 *                                              (optional; any RLIMIT_* name, lower case or
 *                                               not, with or without RLIMIT_; -1 =
 *                                               unlimited; NOFILE is 1024:1024 unless given)
 *         "cgroups": ["<cgroup dir>", ...],   (the shim writes the pid into each cgroup.procs
 *                                              before the process runs any code of the image)
 *         "stop_signal": 15,
 *         "tty": false,                       (optional; true: a pty is its stdio, see attach)
 *         "capabilities": { "add": ["NET_RAW"], "drop": ["CHOWN"] },
 *                                             (optional; names with or without CAP_, any case,
 *                                              "ALL"; applied to the 11 defaults)
 *         "seccomp": "default",               (optional; or "unconfined")
 *         "mounts": [ { "target": "/var/lib/web", "source": "<host dir or file>",
 *                       "read_only": false },
 *                     { "target": "/scratch", "tmpfs": 67108864, "read_only": false } ] } ] }
 *                                             (optional, in order; source and tmpfs (bytes,
 *                                              0 = kernel default) exclude each other)
 *
 * What each container gets (rootfs/rootfs.h has the details):
 *   - Capabilities: the default set CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL,
 *     NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT (0x800405fb) with
 *     capabilities.add/drop applied is the bounding set, and the effective/permitted set of uid
 *     0. Another uid has only the ones named in "add" (effective, permitted, ambient), as
 *     podman. Inheritable is empty for uid 0. no_new_privs always.
 *   - seccomp "default": Docker's default allowlist (EPERM otherwise; clone with namespace flags
 *     refused, clone3 ENOSYS, no AF_VSOCK, the capability-tied syscalls allowed when the
 *     capability is in the set). Compiled once per distinct capability set at shim start (in a
 *     short-lived child; only the BPF is kept), loaded last before execve in every start and
 *     exec. A shim.json whose profile cannot be compiled fails the shim's start.
 *   - "user": supplementary groups are the user's /etc/group memberships when no group is
 *     given; HOME comes from /etc/passwd when env has none. An unknown name fails the start:
 *     {"ok":false,"error":"user \"x\": no user \"x\" in /etc/passwd"}.
 *   - Env defaults added by the shim when missing: PATH (the usual default), HOSTNAME (the
 *     pod's hostname), TERM=xterm (tty containers and tty execs), HOME (from /etc/passwd).
 *   - Mounts: /proc nosuid,nodev,noexec; /dev tmpfs with null, zero, full, random, urandom,
 *     tty, ptmx, fd, stdin, stdout, stderr, pts (newinstance), shm (64 MiB), mqueue; /sys
 *     read-only with a read-only cgroup2 at /sys/fs/cgroup (the container's cgroup namespace
 *     root: its v2 cgroup); masked /proc/{acpi,asound,interrupts,kcore,keys,latency_stats,
 *     sched_debug,scsi,timer_list,timer_stats}, /sys/{firmware,devices/virtual/powercap,
 *     devices/virtual/tpm,fs/selinux,dev/block}; read-only /proc/{bus,fs,irq,sys,
 *     sysrq-trigger}. Volume targets are resolved inside the rootfs (openat2 RESOLVE_IN_ROOT;
 *     missing directories, also behind a dangling symlink, are made inside it); a target that
 *     resolves into /proc or /sys is refused. Binds are recursive, nosuid,nodev; tmpfs mode 1777.
 *   - tty: a pty of the container's own devpts; the slave (/dev/pts/0, also bound at
 *     /dev/console) is stdin/stdout/stderr and controlling terminal; the shim keeps the master,
 *     logs what comes out of it as "stdout", and serves "attach". Not tty: stdin is the
 *     container's /dev/null, stdout/stderr are pipes held by the shim.
 *
 * Logs. The shim reads every container's stdout/stderr (or console) and writes
 * <log_dir>/<container>.log in the CRI format, one record per line:
 *     2026-11-22T13:44:05.123456789Z stdout F the text
 * (UTC, 9 fraction digits; stream stdout|stderr; F = the end of a line, whose newline is not
 * written; P = a piece of a longer line, continued by the next records of the same stream:
 * lines longer than line_max are cut, a line without newline after 1 s is written as P, the
 * last piece at the end of a stream is F). Before a record would take the file past max_size
 * it is rotated: <c>.log -> <c>.log.1 -> ... -> <c>.log.<max_files-1> (the oldest dropped).
 * The files survive container restarts (appended to) until the pod's log_dir is removed.
 *
 * Socket. DIR/shim.sock (0600), frames of lib/ipc (length-prefixed JSON + SCM_RIGHTS). Each
 * connection carries one request and its reply, except "watch", "logs" (record frames before
 * the reply) and tty "exec"/"attach" (resize frames from the client before the reply).
 * Replies are {"ok":true,...} or {"ok":false,"error":"<text>"}.
 *   {"op":"start","container":"app"}
 *       clone, place in cgroups, release; replies once execve succeeded:
 *       {"ok":true,"pid":<host pid>} or {"ok":false,"error":"exec /bin/x: No such file ..."}.
 *       Starting a container that is running is an error; one that exited starts again (same
 *       upper dir, same pod namespaces).
 *   {"op":"status"}
 *       {"ok":true,"shim_pid":N,"containers":[{"name","state":"created|running|exited",
 *        "pid","started_at","finished_at", "exit_code" | "signal"}]}   (times: wall ms)
 *   {"op":"kill","container":"app","signal":15}
 *   {"op":"stop","container":"app","signal":15,"grace_ms":10000}
 *       signal, then SIGKILL after grace; replies when the process is gone.
 *   {"op":"exec","container":"app","args":[...],"env":[...],"cwd":"/"}  + 3 fds (stdin,
 *       stdout, stderr): runs the command in all the container's namespaces and cgroups, with
 *       its user, capabilities, no_new_privs, seccomp filter, rlimits and umask; replies when
 *       it ends: {"ok":true,"exit_code":N} or {"ok":true,"signal":S}. Optional members:
 *         "user": "name|uid[:group|gid]"   (tankctl exec -u; default: the container's)
 *         "env_add": ["K=V", ...]          (tankctl exec -e; merged over "env", or over the
 *                                            container's env when "env" is absent)
 *         "tty": true                      (tankctl exec -t; see below)
 *         "detach_keys": "ctrl-p,ctrl-q"   (tty only; "" = none; keys: ctrl-a..ctrl-z,
 *                                            ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_,
 *                                            or one character, comma separated, at most 16)
 *         "rows": R, "cols": C             (tty only; default: the size of the passed
 *                                            terminal, else 24x80)
 *       With "tty": true the fds are [stdout] or [stdin, stdout] or [stdin, stdout, stderr]
 *       (stderr unused: a pty has one stream); the command gets a pty of the container's
 *       devpts as stdin/stdout/stderr and controlling terminal, and the shim moves bytes
 *       between its master and the passed fds (it opens its own non-blocking descriptions of
 *       them through /proc/self/fd, or uses MSG_DONTWAIT for sockets: the client's are left as
 *       they are; the client puts its terminal in raw mode itself). While it runs the client
 *       may send frames on the same connection:
 *         {"op":"resize","rows":R,"cols":C}   (no reply; without rows/cols the shim reads the
 *                                              size of the passed terminal, so a client can
 *                                              just send {"op":"resize"} on SIGWINCH)
 *       The reply ends the session: {"ok":true,"exit_code":N} (after the command's output was
 *       written, or 2 s after it ended), {"ok":true,"detached":true} when the detach keys were
 *       typed (the command runs on, its output is discarded), {"ok":false,"error":...}. If the
 *       client closes the connection, the pty hangs up (SIGHUP to the command).
 *   {"op":"attach","container":"app","detach_keys":"ctrl-p,ctrl-q","stdin":true,
 *    "rows":R,"cols":C}  + fds [stdout] | [stdin, stdout] | [stdin, stdout, stderr]
 *       only for a running "tty": true container; one attached client at a time (else
 *       {"ok":false,"error":"container app already has an attached client (one at a time)"}).
 *       Output of the console goes to the client (and to the log as always), input to the
 *       console; resize frames as for a tty exec; the window is resized to rows/cols or the
 *       client's terminal at once. The reply ends it: {"ok":true,"detached":true} (detach
 *       keys), {"ok":true,"exit_code":N | "signal":S} (the container exited), or
 *       {"ok":false,"error":...} (e.g. a client that stays 64 KiB behind is dropped). A
 *       connection closed by the client detaches silently.
 *   {"op":"resize","container":"app","rows":R,"cols":C}
 *       resizes a tty container's console from anywhere; {"ok":true}.
 *   {"op":"logs","container":"app","follow":false,"tail":-1,"since_ms":0,"timestamps":false}
 *       + 0, 1 or 2 fds. A helper process (forked; it owns the connection from then on, the
 *       shim's loop never blocks on a slow reader) reads <c>.log.<max_files-1> ... <c>.log:
 *         tail: the last N lines (-1 = all); since_ms: records at or after this wall time (ms);
 *         timestamps: prefix each line with its RFC 3339 time and a space;
 *         follow: then follow the current file (across rotations) until the container has
 *                 exited and its last output is written, or the client hangs up.
 *       With fds the text is written raw: records of stdout to fd 0, of stderr to fd 1 (or fd
 *       0 when only one was passed); P records are joined with what follows, F records end a
 *       line. Without fds each record comes as a frame:
 *         {"time":"2026-...Z","stream":"stdout","tag":"F","text":"..."}   (text not UTF-8:
 *                                                                          bytes >= 0x80 -> ?)
 *       Either way the last frame is {"ok":true} (or {"ok":false,"error":...}); a client that
 *       hung up gets nothing.
 *   {"op":"watch"}
 *       the shim pushes {"event":"exited","container":"app","pid":N,"exit_code":N | "signal":S,
 *       "finished_at":ms} for every container exit, until the connection closes.
 *   {"op":"destroy","grace_ms":10000}
 *       stop every container (its stop_signal, then SIGKILL after grace), unmount and remove
 *       netns_path, reply {"ok":true}, remove shim.sock and exit 0.
 *
 * State. DIR/state.json is rewritten atomically on every change with the "status" reply, so
 * an exit that happened while tankd was down is still known when it comes back.
 *
 * Details of the implementation (daemon/shim*.c), all compatible with the above:
 *   - Options: also --log-level error|warn|info|debug (default info). The shim logs to
 *     DIR/shim.log; its stdin/stdout are /dev/null. It brings the pod's loopback up.
 *   - Requests are at most 128 KiB and must arrive within 2 s of connecting; replies to a
 *     refused request are {"ok":false,"error":...}. At most 64 connections at once.
 *   - "status" (and state.json) also carry "pod", and per container "error" when its last
 *     start failed, "tty": true for tty containers and "attached": true while a client is.
 *     A start that failed after clone (setup or execve) leaves the container
 *     "exited" with exit_code 127 and that error, and sends NO "exited" event (the start
 *     reply carried it). "pid" stays the last pid after an exit.
 *   - "watch" is acknowledged at once with the status reply ({"ok":true,"shim_pid",...,
 *     "containers":[...]}), then events follow: a snapshot with no gap. A watcher that does
 *     not read its events is dropped (connection closed).
 *   - "stop" replies {"ok":true,"exit_code":N} or {"ok":true,"signal":S} (the exit it waited
 *     for); stopping a container that is not running replies {"ok":true} at once. "signal"
 *     defaults to the container's stop_signal, "grace_ms" (also for destroy) to 10000; 0 means
 *     SIGKILL at once. "kill" defaults to signal 15. NB: the first process is pid 1 of its pid
 *     namespace, so it only receives signals it has a handler for (SIGKILL always works).
 *   - "exec": "env" defaults to the container's env, "cwd" to the container's cwd; a command
 *     that cannot be started (not found, setns failed) replies {"ok":false,"error":"exec x:
 *     not found in PATH=..."}. Namespaces are joined with setns(pidfd) (atomic).
 *   - "destroy" while destroying waits for the same end; start/exec are refused meanwhile.
 *     SIGTERM or SIGINT to the shim = destroy with the default grace.
 *   - Container processes get PR_SET_PDEATHSIG(SIGKILL): if the shim dies (SIGKILL, crash),
 *     its pod's processes die too, and netns_path stays bound (tankd removes it).
 */

#define SHIM_CONFIG_FILE "shim.json"
#define SHIM_SOCKET_FILE "shim.sock"
#define SHIM_STATE_FILE "state.json"

#endif
