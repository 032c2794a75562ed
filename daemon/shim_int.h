/* shim_int.h - tank-shim internals shared by daemon/shim*.c (not an interface of tankd). */
#ifndef TANK_SHIM_INT_H
#define TANK_SHIM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/shim_proto.h"
#include "lib/lib.h"

#define SHIM_CONFIG_MAX (1u << 20)     /* bytes of shim.json */
#define SHIM_CONTAINERS_MAX 64
#define SHIM_CONNS_MAX 64              /* open client connections; more are refused */
#define SHIM_REQ_MAX (128u << 10)      /* bytes of one request frame */
#define SHIM_REQ_TIMEOUT_MS 2000       /* a client has this long to send its whole request */
#define SHIM_GRACE_DEFAULT_MS 10000
#define SHIM_ERRTEXT_MAX 1024          /* diag text a child reports through its error pipe */

enum ctr_state { CTR_CREATED, CTR_STARTING, CTR_RUNNING, CTR_EXITED };

/* What an epoll event refers to. */
enum src_kind { SRC_LISTEN, SRC_SIGNAL, SRC_CONN, SRC_START_PIPE };
struct src {
	enum src_kind kind;
	void *obj;
};

struct conn;

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
};

/* An exec in progress: the intermediate process that waits for the command. */
struct execp {
	struct execp *next;
	pid_t pid;
	int err_fd;
	struct conn *conn;     /* where the reply goes; NULL once the client is gone */
	uint64_t kill_at;
};

enum conn_state { CONN_READING, CONN_PENDING, CONN_WATCH };
enum conn_wait { WAIT_NONE, WAIT_START, WAIT_STOP, WAIT_EXEC, WAIT_DESTROY };

struct conn {
	struct conn *next;
	int fd;
	enum conn_state st;
	enum conn_wait wait;
	struct ctr *ctr;       /* WAIT_START, WAIT_STOP */
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
	struct ctr *ctrs;
	size_t n_ctrs;

	int epfd, sigfd, lfd;
	struct src listen_src, signal_src;
	struct conn *conns;
	size_t n_conns;
	struct execp *execs;

	bool netns_bound;
	bool destroying;
	bool done;             /* leave the loop and exit 0 */
};

/* shim_ctr.c: processes. */

/*
 * Start a container's first process: clone3(CLONE_NEWNS | CLONE_NEWPID | CLONE_PIDFD), place
 * it in its cgroups while it waits on a sync pipe, then release it. On success c->pid and
 * c->pidfd are set and *ret_errfd is the read end of the child's error pipe (non-blocking):
 * diag text then EOF = setup or exec failed; EOF alone = execve succeeded.
 */
int ctr_spawn(const struct shim *s, struct ctr *c, int *ret_errfd, struct diag *d);

struct exec_req {
	char *const *args;
	char *const *env;
	const char *cwd;
	int fds[3];            /* stdin, stdout, stderr for the command (the caller keeps them) */
};

/*
 * Run a command in a running container's namespaces and cgroups through an intermediate
 * process that waits for it and exits the same way. *ret_errfd (non-blocking) carries diag
 * text when the command could not be started.
 */
int exec_spawn(const struct ctr *c, const struct exec_req *r, pid_t *ret_pid, int *ret_errfd,
	       struct diag *d);

/* Close every fd >= 3 except those in keep (reordered); the shim's fds must not leak. */
void close_fds_except(int *keep, size_t n);

/* Read what is available from a non-blocking pipe into buf (bounded); true at EOF. */
bool pipe_drain(int fd, char *buf, size_t cap, size_t *len);

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
void shim_destroy_begin(struct shim *s, uint64_t grace_ms);
/* When destroying and nothing is left: release the netns, answer, remove the socket, done. */
void shim_destroy_check(struct shim *s);
/* Rewrite state.json with the status reply. */
int shim_state_write(struct shim *s);

/* shim.c: unmount and remove netns_path (destroy). */
void shim_netns_release(struct shim *s);

#endif
