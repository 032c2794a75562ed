/* tankd.h - tankd's internals shared between its files (config, pods, loop, API, runtime). */
#ifndef TANK_TANKD_H
#define TANK_TANKD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/plan.h"
#include "daemon/spec.h"
#include "daemon/store.h"
#include "lib/lib.h"
#include "netplane/netplane.h"
#include "oci/oci.h"

#define TANKD_DEFAULT_CONFIG "/etc/tank/tankd.conf"

struct tankd_registry {
	char *host;
	bool insecure;   /* plain HTTP allowed (loopback hosts always are) */
	char *ca_file;
	char **mirrors;
};

struct tankd_config {
	char *data_dir;    /* /var/lib/tank */
	char *run_dir;     /* /run/tank */
	char *socket_path; /* <run_dir>/tankd.sock */
	char *socket_group; /* "tank": its members may use the API ("" = root only) */
	char *bpf_dir;     /* /sys/fs/bpf/tank */
	char *netns_dir;   /* /run/netns */
	char *cgroup_root; /* /sys/fs/cgroup */
	char *cgroup_name; /* "tank": cgroups live at <root>/<ctrl>/<name>/<pod>/<ctr> */
	char *shim_path;   /* tank-shim; default: beside the tankd binary */
	char *seed_dir;    /* /etc/tank/pods.d: *.json applied at start when absent */
	uint64_t resync_ms;
	struct plan_config plan;
	enum log_level log_level;
	uint64_t log_max_size;  /* container logs rotate at this size ... */
	unsigned int log_max_files; /* ... keeping this many files */
	uint64_t log_max_line;  /* longer lines are cut into partial (P) CRI records */
	/* network */
	char *uplink;      /* parent of "auto" macvlan NICs; "" = the default route's interface */
	char *host_shim;   /* host-side macvlan child on the uplink ("tank0") */
	char *dns_domain;  /* pods answer as <pod>.<dns_domain> */
	bool dns;          /* run the embedded DNS server */
	char **dns_upstream; /* forwarders; NULL = the host's /etc/resolv.conf */
	char **dns_listen;   /* embedded DNS addresses; NULL = 169.254.1.1, the veth IPv6
			      * listener and the host shims' leases */
	struct np_ipam_pool *pools;
	size_t n_pools;
	/* images */
	struct tankd_registry *registries;
	size_t n_registries;
	char *auth_file;          /* NULL: /etc/tank/auth.json, then ~/.docker/config.json */
	unsigned int pull_parallel; /* blobs at once per pull */
	uint64_t image_max_unpacked; /* file bytes the layers of one image may write */
	/* BPF datapath (datapath.c) and the metrics endpoint (metrics.c) */
	char *metrics_listen;       /* "127.0.0.1:9464"; NULL: no endpoint */
	bool metrics_allow_remote;  /* a non-loopback metrics_listen is refused without it */
	uint64_t tombstone_ttl_ms;  /* a deleted pod's totals are kept this long */
	uint32_t drop_events_rate, drop_events_burst, drop_events_sample; /* 0: defaults */
};

const struct np_ipam_pool *config_pool(const struct tankd_config *c, const char *name);

/* Parse `key = value` lines ('#' comments); unknown keys are errors naming file and line. */
int config_load(const char *path, bool must_exist, struct tankd_config *c, struct diag *d);
void config_defaults(struct tankd_config *c);
void config_free(struct tankd_config *c);
int config_set(struct tankd_config *c, const char *key, const char *value, struct diag *d);

/* ---- cgroups ---------------------------------------------------------------------------- */

enum cgroup_mode { CGROUP_V1, CGROUP_HYBRID, CGROUP_V2 };
const char *cgroup_mode_name(enum cgroup_mode m);
int cgroup_detect(const char *root, enum cgroup_mode *ret);
/* Create the cgroup dirs of one container, its devices restricted to the standard nodes (v1
 * devices controller, a BPF device filter on v2); *ret_dirs (strv) lists every leaf to join. */
int cgroup_create(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		  const char *ctr, char ***ret_dirs, struct diag *d);
/* share_pid: the pause process's cgroups, <pod>/_pause (never a container's name), with its
 * devices restricted and one process, 16 MiB and 1% of a CPU at most. */
#define CGROUP_PAUSE "_pause"
int cgroup_create_pause(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
			char ***ret_dirs, struct diag *d);
/* Set memory, cpu and pids limits on a container's cgroups (0 = unlimited), through whichever
 * hierarchy holds each controller. Used at create and for in-place updates. */
int cgroup_set_limits(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		      const char *ctr, const struct spec_limits *l, struct diag *d);
struct cgroup_stats {
	uint64_t cpu_ns;      /* CPU time used, cumulative */
	uint64_t memory, memory_peak;
	uint64_t pids;
};
int cgroup_stats(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		 const char *ctr, struct cgroup_stats *ret);
/* Number of OOM kills seen in the container's memory cgroup (0 when unknown). */
uint64_t cgroup_oom_kills(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
			  const char *ctr);
/* Remove a pod's cgroups (all controllers, all containers). Missing is fine; -EBUSY if a
 * process is still inside. */
int cgroup_remove_pod(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		      struct diag *d);

/* ---- pods as tankd sees them ------------------------------------------------------------- */

struct pod_nic {
	char *name;
	char *host_ifname;    /* veth/netkit: the host side */
	int host_ifindex;
	int pod_ifindex;      /* in the pod netns */
	char **ips;           /* "198.18.0.10/24": static and IPAM, as configured */
	struct np_addr addrs[NP_ADDRS_MAX];
	size_t n_addrs;
	char parent[16];      /* macvlan: the uplink */
	char shim[16];        /* macvlan: the host shim on that uplink */
	struct np_addr shim_addr; /* its address (family 0: none) */
	char mac[18];         /* the pod side's MAC from the kernel ("" until known) */
};

struct pod_ctr {
	char *name;
	char *image_ref;
	pid_t pid;
	struct plan_ctr st;    /* its own lifecycle: phase, back-off, last run */
	unsigned int restarts; /* of this container in this pod */
	json_t *last_exit;     /* as the pod's last_exit, for this container */
	uint64_t started_mono; /* of its last start */
	uint64_t oom_seen; /* OOM kills of its memory cgroup already reported */
	char *manifest_digest; /* of the image it runs (kept by image prune) */
};

#define POD_PULL_BUF 8192 /* longest line from an image worker */

struct pod {
	struct pod *next;
	char *name;
	char *uid;
	uint64_t revision;     /* spec revision this runtime runs */
	uint64_t static_hash;  /* spec_static_hash of that revision */
	json_t *record;        /* store record it was started from */
	struct pod_spec *spec;
	enum pod_phase phase;  /* live pods: derived from the containers (pod_phase_derive) */
	char *message;         /* why the phase is what it is (errors, backoff reason) */
	unsigned int restarts; /* container restarts and whole-pod restarts, all counted */
	unsigned int backoff_n;
	uint64_t started_at;   /* wall ms of the last start */
	uint64_t started_mono;
	uint64_t ran_ms;
	uint64_t next_start_at; /* mono ms: FAILED retry, or the soonest container restart */
	bool exit_failed;
	json_t *last_exit;     /* the most recent: {"code"} | {"signal"} | {"reason","message"} */
	uint32_t slot;
	pid_t shim_pid;
	pid_t pull_pid;        /* image worker while PULLING */
	int pull_fd;           /* its result pipe */
	char *pull_buf;        /* a partial line from it: POD_PULL_BUF bytes while a pull is
				* in flight, NULL otherwise */
	size_t pull_len;
	char *pull_error;
	int watch_fd;          /* the shim's event stream */
	struct ipc_reader watch_rd;
	int destroy_fd;        /* the shim's reply to destroy while STOPPING */
	uint64_t stop_deadline; /* mono ms: when STOPPING gives up waiting for the shim */
	bool delete_after_stop; /* STOPPING for delete (else for replace/retry) */
	struct pod_nic *nics;
	size_t n_nics;
	struct pod_ctr *ctrs;
	size_t n_ctrs;
	struct oci_image **images; /* per container, while starting */
	struct np_monitor *netmon;  /* drift: link/address events of the pod netns */
};

struct tankd {
	struct tankd_config cfg;
	struct store *store;
	struct np_bpf *bpf;
	enum cgroup_mode cgroups;
	int epfd, sigfd, timerfd, listenfd;
	gid_t api_gid;   /* socket_group's gid, or (gid_t)-1 when there is none: root only */
	bool nudged, quit;
	struct pod *pods;      /* linked by pod_link, removed by pod_unlink */
	json_t *pod_index;     /* name -> the pod's address (an integer): pod_find without a walk */
	bool pod_index_broken; /* an insert ran out of memory: pod_find walks the list */
	uint64_t pass_us;      /* how long the last reconcile pass took */
	json_t *damaged; /* name -> error: store records that cannot be read; their pods are held */
	uint8_t slots_used[TANK_MAX_PODS]; /* 1 = taken */
	struct np_lease_set leases; /* IPAM, persisted in <data_dir>/ipam-leases.json */
	int dns_fds[16];            /* embedded DNS listeners */
	struct np_addr dns_addrs[16];
	size_t n_dns_fds;
	int dns_up_fd;              /* towards the upstream resolvers */
	bool dns_warned;
	int argc;   /* kept for SIGHUP: the config is re-read and the flags applied again */
	char **argv;
};

/* ---- event loop registrations -------------------------------------------------------------- */

enum watch_kind { W_LISTEN, W_SIGNAL, W_TIMER, W_CLIENT, W_SHIM_WATCH, W_SHIM_DESTROY,
		  W_PULL, W_EXEC, W_DNS, W_NETMON, W_BPFEV, W_IMGPULL, W_METRICS };

struct watch {
	enum watch_kind kind;
	int fd;
	void *ptr; /* struct pod * or struct client * */
};

int loop_add(struct tankd *t, int fd, enum watch_kind kind, void *ptr);
void loop_del(struct tankd *t, int fd);
/* "<netns_dir>/tank-<pod>": the pod netns bind mount (runtime.c); NULL when out of memory */
char *pod_netns_path(const struct tankd *t, const char *pod);
void tankd_nudge(struct tankd *t);

/* ---- reconciler and runtime ---------------------------------------------------------------- */

void reconcile_pass(struct tankd *t);
/* The pod named name, NULL if tankd has none: a hash lookup (jansson object), not a walk. */
struct pod *pod_find(struct tankd *t, const char *name);
/* Put a new pod on t->pods and in the index; pod_unlink takes it off both. */
void pod_link(struct tankd *t, struct pod *p);
void pod_unlink(struct tankd *t, struct pod *p);
json_t *pod_to_json(const struct tankd *t, const struct pod *p);

/* runtime.c: the executor. Each either completes or leaves the pod in a phase that the next
 * pass handles; failures are recorded in pod->message and logged once here. */
void runtime_create(struct tankd *t, struct pod *p);         /* PENDING -> PULLING */
void runtime_pull_event(struct tankd *t, struct pod *p);     /* the image worker finished */
void runtime_pull_done(struct tankd *t, struct pod *p);      /* PULLING -> STARTING -> RUNNING */
void runtime_restart(struct tankd *t, struct pod *p, size_t ctr); /* its backoff is over */
/* Container ctr exited: wait delay_ms before its restart, or (done) leave it exited. */
void runtime_ctr_backoff(struct tankd *t, struct pod *p, size_t ctr, uint64_t delay_ms,
			 bool reset);
void runtime_ctr_done(struct tankd *t, struct pod *p, size_t ctr);
/* A live pod's phase (running, exited, backoff, terminated) from its containers. */
void pod_phase_derive(struct pod *p);
void runtime_stop(struct tankd *t, struct pod *p, bool del); /* -> STOPPING */
/* STOPPING -> gone or PENDING; timed_out: the shim never answered destroy (it is killed) */
void runtime_stop_done(struct tankd *t, struct pod *p, bool timed_out);
void runtime_watch_event(struct tankd *t, struct pod *p);    /* shim pushed something */
void runtime_adopt_all(struct tankd *t);
void runtime_restart_request(struct tankd *t, struct pod *p); /* now, back-off cleared */
/* Apply a new revision that only changes limits (or policy) to the running pod. */
void runtime_update(struct tankd *t, struct pod *p, json_t *rec);
uint64_t spec_static_hash(const json_t *spec);                     /* at start: re-adopt live shims */
int runtime_relay(struct tankd *t, struct pod *p, json_t *req, int *fds, size_t nfds,
		  int *ret_shim_fd, struct diag *d);
int pod_init_from_spec(struct pod *p);
void pod_free(struct pod *p);

/* ---- network (network.c) ------------------------------------------------------------------ */

int net_init(struct tankd *t, struct diag *d);
/* Before anything is created: addresses (static + IPAM leases), parents, host shim names. */
int net_pod_plan(struct tankd *t, struct pod *p, struct diag *d);
/* Create the NICs in the pod netns (and the host shim for macvlan), attach BPF. */
int net_pod_setup(struct tankd *t, struct pod *p, int nsfd, struct diag *d);
int net_pod_setup_host(struct tankd *t, struct pod *p, struct diag *d);
int net_pod_watch(struct tankd *t, struct pod *p, int nsfd);
/* Host-side leftovers of a pod: veth, routes via the shim, the drift monitor. */
void net_pod_teardown(struct tankd *t, struct pod *p);
/* A deleted pod's IPAM leases go back to their pools. */
void net_pod_release(struct tankd *t, const char *uid);
void net_sweep(struct tankd *t, json_t *records);
char *net_resolv_conf(struct tankd *t, struct pod *p);
void net_dns_refresh(struct tankd *t);
void net_dns_event(struct tankd *t, int fd);
void net_dns_tick(struct tankd *t);
void net_monitor_event(struct tankd *t, struct pod *p);
void net_check(struct tankd *t);
void net_nic_describe(const struct pod *p, size_t i, char *buf, size_t len);

/* ---- BPF datapath, tankd's side (datapath.c) --------------------------------------------- */

/* Install the spec's policy (or none) for the pod's slot: before attach, and in place later. */
int dp_policy_apply(struct tankd *t, struct pod *p, const struct pod_spec *spec, struct diag *d);
json_t *dp_verdict_test(struct tankd *t, struct pod *p, enum tank_dir dir, const char *peer,
			uint16_t port, uint8_t proto, struct diag *d);
void dp_events(struct tankd *t); /* drain the drop ring buffer into events */
json_t *dp_traffic(struct tankd *t, struct pod *p);
json_t *dp_flows(struct tankd *t, struct pod *p, size_t max);
/* Final totals of deleted pods (tombstones, newest first). */
json_t *dp_deleted_traffic(struct tankd *t);
/* tombstone_ttl (at start; drop_events_* apply with each pod's policy). */
void dp_config_apply(struct tankd *t);
/* The datapath's global counters for `tankctl info`. */
json_t *dp_info(struct tankd *t);
/* An adopted pod: put back missing BPF attachments (policy first), report programs not ours. */
void dp_pod_adopt(struct tankd *t, struct pod *p);
/* After adoption: pins and map entries of pods tankd no longer knows go (totals kept). */
void dp_sweep(struct tankd *t);

/* ---- images (images.c) ---------------------------------------------------------------------- */

struct pull_job;
int images_worker_spawn(struct tankd *t, char *const *refs, const enum pull_policy *policies,
			pid_t *ret_pid, int *ret_fd);
int images_worker_read(int fd, char *buf, size_t *len, size_t cap,
		       void (*on_line)(char kind, const char *rest, void *data), void *data);
struct pull_job *images_pull_start(struct tankd *t, void *client, json_t *req, json_t **ret_err);
void images_pull_event(struct tankd *t, struct pull_job *j);
void images_job_free(struct tankd *t, struct pull_job *j);
json_t *images_list(struct tankd *t, struct diag *d);
int images_remove(struct tankd *t, const char *ref, struct diag *d);
int images_prune(struct tankd *t, struct oci_prune_stats *st, struct diag *d);

/* ---- events ------------------------------------------------------------------------------- */

/* Record an event (and log it once, at info or warn) and push it to watching clients. */
void event_emit(struct tankd *t, const char *pod, bool warning, const char *reason,
		const char *fmt, ...) _printf_(5, 6);
/* The newest `max` events (of one pod when pod is not NULL), oldest first. */
json_t *events_list(const char *pod, size_t max);
json_t *event_json(uint64_t seq);

/* The host facts a spec is checked against at apply and seed (netkit probe, configured IPAM
 * pools): ret->h.pools points into ret->pools, whose names point into t->cfg. */
struct tankd_spec_host {
	struct spec_host h;
	const char *pools[65]; /* config.c allows 64 pools */
};
void tankd_spec_host(struct tankd *t, struct tankd_spec_host *ret);
/* Apply the *.json files of seed_dir that the store lacks (once per seed content). */
void seed_apply(struct tankd *t);

/* ---- API ------------------------------------------------------------------------------------- */

void api_accept(struct tankd *t);
void api_client_event(struct tankd *t, void *client, uint32_t events);
void api_exec_event(struct tankd *t, void *client);
json_t *api_error(const char *code, const char *message, const char *path, json_t *details);
/* Queue event seq to every client watching events (of that pod or of all pods). */
void api_broadcast_event(struct tankd *t, uint64_t seq, const char *pod);
/* Queue a frame to a client (< 0: the client is gone or too slow). */
int api_client_send(struct tankd *t, void *client, json_t *msg);
/* A tankctl pull finished: send the reply, forget the job. */
void api_pull_done(struct tankd *t, void *client, json_t *reply);
int loop_mod(struct tankd *t, int fd, bool want_write);
/* The same with the epoll events given (EPOLLOUT alone: a peer that closed its side). */
int loop_mod_events(struct tankd *t, int fd, uint32_t events);

#endif
