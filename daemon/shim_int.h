/* shim_int.h - tank-shim internals shared by daemon/shim*.c (not an interface of tankd). */
#ifndef TANK_SHIM_INT_H
#define TANK_SHIM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/shim_proto.h"
#include "lib/lib.h"
#include "rootfs/rootfs.h"

#define SHIM_CONFIG_MAX (1u << 20)     /* bytes of shim.json */
#define SHIM_CONTAINERS_MAX 64
#define SHIM_CONNS_MAX 64              /* open client connections; more are refused */
#define SHIM_REQ_MAX (128u << 10)      /* bytes of one request frame */
#define SHIM_REQ_TIMEOUT_MS 2000       /* a client has this long to send its whole request */
#define SHIM_GRACE_DEFAULT_MS 10000
#define SHIM_ERRTEXT_MAX 1024          /* diag text a child reports through its error pipe */
#define SHIM_VOLUMES_MAX 64            /* mounts of one container */
#define SHIM_RLIMITS_MAX 16
#define SHIM_FILTERS_MAX 16            /* distinct seccomp programs (one per capability set) */
#define SHIM_LOG_SIZE_DEFAULT (10u << 20)
#define SHIM_LOG_FILES_DEFAULT 5
#define SHIM_LOG_FILES_MAX 100
#define SHIM_LINE_DEFAULT 16384        /* CRI line cap: longer lines become P records */
#define SHIM_LINE_MIN 128
#define SHIM_LINE_MAX (256u << 10)
#define SHIM_PARTIAL_FLUSH_MS 1000     /* a line without newline is logged as P after this */
#define SHIM_TTY_CHUNK 4096            /* bytes moved per read between a pty and a client */
#define SHIM_TTY_BACKLOG (64u << 10)  /* output an attached client may be behind */
#define SHIM_EXEC_DRAIN_MS 2000        /* after a tty exec ended, wait this long for its output */

enum ctr_state { CTR_CREATED, CTR_STARTING, CTR_RUNNING, CTR_EXITED };

/* What an epoll event refers to. */
enum src_kind {
	SRC_LISTEN,
	SRC_SIGNAL,
	SRC_CONN,
	SRC_START_PIPE,
	SRC_OUTPUT,    /* a container's stdout/stderr pipe or console master (struct ostream) */
	SRC_EXEC_CHAN, /* a tty exec's channel: its pty master arrives there (struct execp) */
	SRC_TTY_IN,    /* a session's client input (struct session) */
	SRC_TTY_OUT,   /* a session's client output, when it would block (struct session) */
	SRC_TTY_MASTER /* a tty exec's pty master (struct session) */
};
struct src {
	enum src_kind kind;
	void *obj;
};

struct conn;
struct session;
struct shim;

/* One output stream of a running container: a pipe, or the console's pty master. */
struct ostream {
	int fd;                /* read end (non-blocking), -1 when closed */
	struct src src;
	struct ctr *ctr;
	const char *name;      /* "stdout" | "stderr" (CRI stream) */
	char *pend;            /* a line without its newline yet (SHIM line_max), or NULL */
	size_t plen;
	uint64_t pend_at;      /* monotonic ms when pend got its first byte */
	bool console;          /* the pty master: also feeds an attached session */
	uint32_t events;       /* what it is registered for (EPOLLOUT: input for the master) */
};

/* One container: configuration (borrowed from the parsed shim.json) and run state. */
struct ctr {
	const char *name;
	char **lower;          /* bottom first */
	const char *upper, *work, *target;
	const char *etc_hosts, *etc_hostname, *etc_resolv;
	char **args, **env;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	char **cgroups;        /* cgroup directories; the pid goes into each cgroup.procs */
	int stop_signal;
	int64_t stop_grace_ms; /* its own grace on destroy when asked for; -1: not given */
	const char *user;      /* process.user, resolved in the rootfs; NULL = uid/gid */
	uint64_t caps, user_caps;
	int filter;            /* index into shim.filters, -1 = unconfined */
	struct rootfs_rlimit rlimits[SHIM_RLIMITS_MAX];
	size_t n_rlimits;
	mode_t umask;
	bool tty;
	struct rootfs_volume *volumes;
	size_t n_volumes;

	enum ctr_state state;
	pid_t pid;             /* > 0 once started (kept after exit for status) */
	int pidfd;             /* while the process is alive, else -1 */
	uint64_t started_at, finished_at; /* wall ms, 0 when unknown */
	int exit_code, signal; /* of the last run, -1 when not applicable */
	char *error;           /* why the last start failed, or NULL */

	/* a start in progress: the child's CLOEXEC error pipe (EOF without text = exec'd) */
	int err_fd;
	struct src err_src;
	char errbuf[SHIM_ERRTEXT_MAX];
	size_t errlen;
	bool start_killed;     /* killed by us before it was known to have exec'd */
	bool start_failed;     /* the start was answered with an error; reaping is silent */

	uint64_t kill_at;      /* monotonic ms when SIGKILL follows a stop signal, 0 if none */

	/* output: out[0] stdout (or the console master), out[1] stderr; the CRI log file */
	struct ostream out[2];
	int log_fd;
	uint64_t log_size;
	struct session *attach; /* the one attached client, or NULL */
};

/* An exec in progress: the intermediate process that waits for the command. */
struct execp {
	struct execp *next;
	pid_t pid;
	int err_fd;            /* channel: error text, or (tty) the pty master as SCM_RIGHTS */
	struct src chan_src;
	struct conn *conn;     /* where the reply goes; NULL once the client is gone */
	uint64_t kill_at;
	struct ctr *ctr;
	/* tty: the session moving bytes, and the end seen before its output was drained */
	struct session *sess;
	bool tty, reaped;
	bool dead;             /* finished: freed at the end of the loop iteration */
	int status;
	char errbuf[SHIM_ERRTEXT_MAX];
	size_t errlen;
	uint64_t drain_until;  /* tty: reply at the latest then, even with output pending */
};

/* A client connected to a pty: an attach to a console, or a tty exec. */
struct session {
	struct session *next_dead; /* ended: freed at the end of the loop iteration */
	bool dead;
	struct ctr *ctr;
	struct execp *exec;    /* NULL for an attach */
	struct conn *conn;
	int master;            /* exec: owned; attach: the console's (owned by ctr->out[0]) */
	int in_fd, out_fd;     /* the client's (own non-blocking descriptions), -1 when none */
	bool in_sock, out_sock;
	struct src in_src, out_src, master_src;
	bool in_reg, out_reg;  /* registered in epoll */
	uint32_t master_ev;    /* events the master is registered with (exec) */
	char *obuf;            /* output the client could not take yet (bounded: a client that
				* stays behind by SHIM_TTY_BACKLOG is dropped) */
	size_t olen, ooff;
	char ibuf[SHIM_TTY_CHUNK]; /* input the master could not take yet */
	size_t ilen, ioff;
	unsigned char keys[16];    /* detach sequence; nkeys == 0: none */
	size_t nkeys, matched;
	bool master_eof;
};

enum conn_state { CONN_READING, CONN_PENDING, CONN_WATCH, CONN_SESSION };
enum conn_wait { WAIT_NONE, WAIT_START, WAIT_STOP, WAIT_EXEC, WAIT_DESTROY };

struct conn {
	struct conn *next;
	int fd;
	enum conn_state st;
	enum conn_wait wait;
	struct ctr *ctr;       /* WAIT_START, WAIT_STOP */
	struct session *sess;  /* CONN_SESSION: frames are resize requests; EOF ends it */
	uint64_t deadline;     /* CONN_READING: monotonic ms after which it is dropped */
	struct ipc_reader rd;  /* CONN_READING: the request so far */
	struct src src;
	bool in_epoll;
	bool dead;             /* closed; freed at the end of the loop iteration */
};

struct shim {
	const char *run_dir;
	int dirfd;             /* run dir */
	json_t *config;        /* parsed shim.json; containers borrow strings from it */
	const char *pod, *uid, *hostname, *netns_path, *log_dir;
	const char *seccomp_cache; /* directory of compiled seccomp programs shared by shims */
	struct ctr *ctrs;
	size_t n_ctrs;
	uint64_t log_max_size;
	unsigned int log_max_files;
	size_t line_max;
	char *rbuf;            /* one read buffer (line_max) for every output stream */
	uint64_t trim_at;      /* monotonic ms of the next idle trim (shim_loop.c), 0 if none */
	struct rootfs_seccomp filters[SHIM_FILTERS_MAX];
	size_t n_filters;
	bool share_pid;
	bool host_network; /* network "host": the pod keeps the host's netns */
	pid_t pause_pid;       /* share_pid: pid 1 of the pod's pid namespace */
	int pause_pidfd;
	int pause_filter;      /* share_pid: index into filters (capabilities 0) */
	char **pause_cgroups;  /* share_pid: the pause's cgroup directories (may be empty) */
	struct follower *followers;
	struct session *dead_sessions;
	struct execp *dead_execs;

	int epfd, sigfd, lfd;
	struct src listen_src, signal_src;
	struct conn *conns;
	size_t n_conns;
	struct execp *execs;

	bool netns_bound;
	bool destroying;
	bool done;             /* leave the loop and exit 0 */
};

/* A "logs" helper that follows a running container: told of the end by closing wfd. */
struct follower {
	struct follower *next;
	struct ctr *ctr;
	int wfd;
	pid_t pid;
};

/* shim_ctr.c: processes. */

/*
 * Start a container's first process: clone3(CLONE_NEWNS | CLONE_NEWPID | CLONE_PIDFD, and
 * CLONE_INTO_CGROUP of its v2 cgroup when it has one and the kernel takes it), place it in its
 * other cgroups while it waits on a sync pipe, then release it. On success c->pid and
 * c->pidfd are set and *ret_errfd is the read end of the child's error pipe (non-blocking):
 * diag text then EOF = setup or exec failed; EOF alone = execve succeeded.
 */
int ctr_spawn(const struct shim *s, struct ctr *c, int *ret_errfd, struct diag *d);

struct exec_req {
	char *const *args;
	char *const *env;
	const char *cwd;
	const char *user;      /* NULL: the container's */
	int fds[3];            /* stdin, stdout, stderr for the command (the caller keeps them) */
	bool tty;              /* a pty of the container's devpts instead of fds */
	unsigned short rows, cols;
};

/*
 * Run a command in a running container's namespaces and cgroups through an intermediate
 * process that waits for it and exits the same way. *ret_errfd (non-blocking) carries diag
 * text when the command could not be started.
 */
int exec_spawn(const struct shim *s, const struct ctr *c, const struct exec_req *r,
	       pid_t *ret_pid, int *ret_errfd, struct diag *d);

/* Close every fd >= 3 except those in keep (reordered); the shim's fds must not leak. */
void close_fds_except(int *keep, size_t n);

/* Read what is available from a non-blocking pipe or channel into buf (bounded); true at EOF.
 * A message carrying a file descriptor (a pty master) puts it in *ret_fd when ret_fd is not
 * NULL (it is closed otherwise) and adds nothing to buf. */
bool pipe_drain(int fd, char *buf, size_t cap, size_t *len, int *ret_fd);
/* share_pid: make pid 1 of the pod's pid namespace, confined (see shim_ctr.c). */
int pause_spawn(struct shim *s, struct diag *d);

/* shim_loop.c: the event loop and its connections. Init (epoll, signalfd) runs before the
 * ready line. */
int shim_loop_init(struct shim *s, struct diag *d);
/* Serve until destroyed; returns the exit code of the shim. */
int shim_loop(struct shim *s);
int shim_epoll_add(struct shim *s, int fd, uint32_t events, struct src *src);
/* Close a connection; it is freed at the end of the loop iteration. */
void conn_close(struct shim *s, struct conn *c);
/* Stop listening to a connection whose reply is pending (a hang-up would spin the loop). */
void conn_park(struct shim *s, struct conn *c, enum conn_wait wait, struct ctr *ctr);
/* Send a reply (consumed; NULL means out of memory) and close; c may be NULL or closed. */
void conn_reply(struct shim *s, struct conn *c, json_t *reply);
void conn_ok(struct shim *s, struct conn *c);
void conn_fail(struct shim *s, struct conn *c, const char *fmt, ...) _printf_(3, 4);
/* Push an event to every watcher; a watcher that cannot take it at once is dropped. */
void watchers_push(struct shim *s, json_t *ev);

/* shim_ops.c: what the loop's events mean. */
int shim_pidfd_kill(int pidfd, int sig);
/* Handle one request (fds: passed descriptors, always consumed). */
void shim_request(struct shim *s, struct conn *k, json_t *req, int *fds, size_t nfds);
/* Reap every exited child: container exits, exec replies. */
void shim_reap(struct shim *s);
/* The start pipe of c reached EOF: answer the start. */
void shim_start_finish(struct shim *s, struct ctr *c);
/* Stop everything (stop signal, SIGKILL after grace); the end comes from shim_destroy_check. */
/* own_grace: a container with its own stop_grace_ms (shim.json) gets it, not grace_ms */
void shim_destroy_begin(struct shim *s, uint64_t grace_ms, bool own_grace);
/* When destroying and nothing is left: release the netns, answer, remove the socket, done. */
void shim_destroy_check(struct shim *s);
/* Rewrite state.json with the status reply. */
int shim_state_write(struct shim *s);

/* shim.c: unmount and remove netns_path (destroy). */
void shim_netns_release(struct shim *s);

/* shim_log.c: container output into CRI log files. */
/* Open the log file and, when the container has no tty, make its stdout/stderr pipes:
 * ret_w[2] are the write ends for the child (-1 for a tty container). */
int output_open(struct shim *s, struct ctr *c, int ret_w[2], struct diag *d);
/* Watch the read ends (and the console master, given as master when tty). */
int output_start(struct shim *s, struct ctr *c, int master);
/* One read of the stream: 1 data, 0 nothing now, -1 closed (at EOF: a pending partial line
 * is logged as F). */
int output_readable(struct shim *s, struct ostream *o);
/* The container is gone: read what is left, close the streams and the log file. */
void output_close(struct shim *s, struct ctr *c);
/* Log partial lines older than SHIM_PARTIAL_FLUSH_MS; returns the next deadline (or max). */
uint64_t output_timers(struct shim *s, uint64_t now);

/* shim_logs.c: the "logs" operation (a helper process streams the files to the client). */
void op_logs(struct shim *s, struct conn *k, struct ctr *c, const json_t *req, int *fds,
	     size_t nfds);
/* The container exited: tell its followers (after output_close). */
void followers_end(struct shim *s, struct ctr *c);

/* shim_tty.c: sessions between a pty master and a client's fds. */
/* Parse "ctrl-p,ctrl-q" into keys (at most 16); "" = none. */
int detach_keys_parse(const char *spec, unsigned char *keys, size_t *n);
/* A new session on master for the client's fds (in may be -1); fds are duplicated into own
 * non-blocking descriptions, the caller keeps its. */
int session_new(struct shim *s, struct conn *k, struct ctr *c, struct execp *e, int master,
		int in_fd, int out_fd, const char *keys, struct session **ret, struct diag *d);
/* End a session: reply (consumed; NULL = no reply) and free it. */
void session_end(struct shim *s, struct session *t, json_t *reply);
void session_event(struct shim *s, struct src *src, uint32_t events);
/* Console output for an attached client (already logged). */
void session_output(struct shim *s, struct session *t, const char *buf, size_t len);
/* A frame from the session's client (resize). */
void session_frame(struct shim *s, struct session *t, json_t *msg);
/* Resize a pty from "rows"/"cols" of msg, or from the client's terminal. */
int session_resize(int master, const json_t *msg, int client_fd);
/* The master of a session can take input again (EPOLLOUT). */
void session_master_writable(struct shim *s, struct session *t);
/* shim_ops.c: tty exec deadlines (returns the next one or max) and its channel. */
uint64_t exec_timers(struct shim *s, uint64_t now);
void exec_chan_readable(struct shim *s, struct execp *e);
/* The exec's pty master arrived: start moving bytes. */
void exec_session_begin(struct shim *s, struct execp *e, int master);
/* A tty exec whose command ended: reply once its output is out (or at drain_until). */
void exec_check_done(struct shim *s, struct execp *e);

#endif
