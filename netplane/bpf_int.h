/* bpf_int.h - shared inside netplane's BPF files (bpf*.c) only. */
#ifndef TANK_NETPLANE_BPF_INT_H
#define TANK_NETPLANE_BPF_INT_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/tank_cg.skel.h"
#include "bpf/tank_tc.skel.h"
#include "netplane/netplane.h"

#define NPB_TOMB_TTL_DEFAULT_MS (3600ull * 1000)

/* Debian 12's uapi headers predate tcx (kernel 6.6); the values are ABI. */
#define NP_BPF_TCX_INGRESS ((enum bpf_attach_type)46)
#define NP_BPF_TCX_EGRESS ((enum bpf_attach_type)47)
#define NP_BPF_LINK_TYPE_TCX 11u
/* netkit (kernel 6.7), the same story */
#define NP_BPF_NETKIT_PRIMARY ((enum bpf_attach_type)54)
#define NP_BPF_NETKIT_PEER ((enum bpf_attach_type)55)
#define NP_BPF_LINK_TYPE_NETKIT 13u

/* BPF_PROG_QUERY of a tcx or netkit hook of ifindex in the calling thread's netns
 * (bpf_attach.c): program ids and, when link_ids is not NULL, link ids; *count: room in,
 * entries out. */
int npb_hook_query(int ifindex, enum bpf_attach_type type, __u32 *prog_ids, __u32 *link_ids,
		   __u32 *count);

/* Pin names of a "host" network pod's cgroup links under pods/<uid>/: a NIC's pins are
 * "<nic>_in" / "<nic>_eg" and a NIC name has no '@'. */
#define NPB_PIN_CG_IN "@cgroup_in"
#define NPB_PIN_CG_EG "@cgroup_eg"
#define NPB_CG_NIC_NAME "host"

struct np_bpf {
	struct tank_tc_bpf *skel; /* the maps and the tc programs */
	struct tank_cg_bpf *cg;   /* the cgroup_skb programs, on skel's maps */
	char *pin_dir;
	uint64_t netns;     /* cookie of tankd's netns (where host-side ifindexes are) */
	bool tcx;           /* attach with tcx links (else clsact filters) */
	bool tcx_available; /* what the probe found */
	int ncpus;
	uint64_t tomb_ttl_ms;
	uint64_t *ifh; /* tank_ifh_v1, mmapped: TANK_IFH_SIZE words */
	/* tank_scell_v1 of an older tankd while a pod that counted there lives (else -1): its
	 * cells are part of those pods' totals (npb_slot_totals) */
	int scell_v1;
	/* drop events: opened on first use */
	struct ring_buffer *rb;
	int (*ev_cb)(const struct tank_event *, void *);
	void *ev_data;
	int ev_err;
};

/* libbpf's first warning of the current operation (per thread), for the diag. */
void npb_libbpf_reset(void);
int npb_fail(struct diag *d, int err, const char *what);
int npb_slot_check(uint32_t slot, struct diag *d);

/* uid and NIC names as path components under the pin dir: [A-Za-z0-9._-], not leading '.'. */
bool npb_pin_component_ok(const char *s, size_t max);
int npb_pin_path(char *buf, size_t len, const char *fmt, ...) _printf_(3, 4);

/* Run fn(arg) in a short-lived thread that entered netns_fd (setns CLONE_NEWNET), so that
 * ifindexes, netlink and socket calls in fn are the netns's; the calling thread never moves.
 * Returns fn's return, or -errno when the thread could not start or enter the netns. */
int npb_netns_run(int netns_fd, int (*fn)(void *), void *arg);
/* The cookie of the calling thread's netns. */
int npb_netns_cookie_here(uint64_t *ret);

/* Walk every entry of a map in batches; per-CPU values arrive as ncpus values, each rounded up
 * to 8 bytes. cb's negative return stops the walk and is returned. */
typedef int (*npb_walk_cb)(const void *key, const void *value, void *data);
int npb_map_walk(struct np_bpf *b, struct bpf_map *m, npb_walk_cb cb, void *data);
/* The same over a map fd, e.g. of an older layout (percpu: values of every CPU, in a row). */
int npb_fd_walk(struct np_bpf *b, int fd, size_t ksz, size_t vsz, bool percpu, npb_walk_cb cb,
		void *data);
/* The value of CPU cpu in a per-CPU map's reply. */
const void *npb_percpu_at(const void *values, size_t vsz, int cpu);


/* Make tank_ifh_v1 what tank_ifs_v3 says (tank_abi.h); after every change of tank_ifs_v3. */
void npb_ifh_sync(struct np_bpf *b);

/* tank_cfg_v1 entry of a slot: read, and write back whole. */
int npb_cfg_get(struct np_bpf *b, uint32_t slot, struct tank_pod_cfg *ret, struct diag *d);
int npb_cfg_put(struct np_bpf *b, uint32_t slot, const struct tank_pod_cfg *c, struct diag *d);
/* Remove the slot's policy: the trie, then the exact-match hashes of its host prefixes. */
int npb_policy_drop(struct np_bpf *b, uint32_t slot, struct diag *d);

/* Sum a slot's tank_stats_v2 entries: into pod totals, and per NIC when s is given. */
int npb_slot_totals(struct np_bpf *b, uint32_t slot, struct tank_totals pod[TANK_DIR_MAX],
		    struct np_bpf_stats2 *s, struct diag *d);
/* Delete a slot's counters, rule hits included (a new owner). */
int npb_slot_forget(struct np_bpf *b, uint32_t slot, struct diag *d);
/* Write a tombstone for a pod being unregistered (and drop expired ones). */
int npb_tomb_put(struct np_bpf *b, uint32_t slot, const struct tank_pod_info *info,
		 struct diag *d);
/* The datapath's clock: jiffies (low 32 bits, from the program itself) and HZ. */
int npb_jiffies(struct np_bpf *b, uint32_t *ret);
unsigned int npb_hz(struct np_bpf *b);
/* Close the drop-event reader (np_bpf_close). */
void npb_events_close(struct np_bpf *b);

/* bpf_attach.c: every link pinned under pods/<uid>/: cb gets the link fd, the pin's base name
 * without "_in"/"_eg" (a NIC, or "@cgroup") and which of the two it is. */
void npb_pins_walk(struct np_bpf *b,
		   void (*cb)(struct np_bpf *, int fd, const char *nic, bool in, void *),
		   void *data);
/* A tcx or netkit link's ifindex (0: its device is gone) and attach type (ret_type may be
 * NULL); false if fd is neither. */
bool npb_dev_link_info(int fd, struct bpf_link_info *info, __u32 *ret_ifindex, __u32 *ret_type);
/* Every attachment runs the programs just loaded (tcx and cgroup links updated in place, our
 * clsact filters in tankd's netns replaced). Nothing is detached. */
void npb_relink_all(struct np_bpf *b);
/* The id of a loaded program (0 when unknown). */
__u32 npb_prog_id(int prog_fd);
/* Detach and unpin everything under pods/<uid>/, then remove the directory (missing: 0). */
int npb_pod_dir_remove(struct np_bpf *b, const char *uid, struct diag *d);
/* tank_cg_levels of the cgroup programs, from tank_cgs_v1. */
void npb_cg_levels_update(struct np_bpf *b);

#endif
