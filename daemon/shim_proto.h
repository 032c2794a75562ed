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
 *     "containers": [
 *       { "name": "app",
 *         "rootfs": { "lower": ["<layer dir>", ...],   (bottom first, as oci_image.layer_dirs)
 *                     "upper": "...", "work": "...", "target": "..." },
 *         "etc": { "hosts": "...", "hostname": "...", "resolv": "..." },
 *         "process": { "args": [...], "env": ["K=V", ...], "cwd": "/", "uid": 0, "gid": 0 },
 *         "cgroups": ["<cgroup dir>", ...],   (the shim writes the pid into each cgroup.procs
 *                                              before the process runs any code of the image)
 *         "stop_signal": 15 } ] }
 *
 * Namespaces. The shim unshares net, uts and ipc for itself (they are the pod's), sets the
 * hostname, and bind-mounts /proc/self/ns/net at netns_path (like `ip netns add`: the
 * directory made a shared mount point first), so `ip netns` sees it. Each container is
 * started with clone3(CLONE_NEWNS | CLONE_NEWPID) and unshares its cgroup namespace after
 * it was placed. stdout/stderr of a container are appended to <log_dir>/<container>.log,
 * stdin is /dev/null.
 *
 * Socket. DIR/shim.sock (0600), frames of lib/ipc (length-prefixed JSON + SCM_RIGHTS). Each
 * connection carries one request and its reply, except "watch". Replies are {"ok":true,...}
 * or {"ok":false,"error":"<text>"}.
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
 *       its uid/gid; replies when it ends: {"ok":true,"exit_code":N} or {"ok":true,"signal":S}.
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
 *     start failed. A start that failed after clone (setup or execve) leaves the container
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
