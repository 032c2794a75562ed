/* bpf_int.h - shared inside netplane's BPF files (bpf.c, bpf_policy.c, bpf_stats.c) only. */
#ifndef TANK_NETPLANE_BPF_INT_H
#define TANK_NETPLANE_BPF_INT_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/tank_tc.skel.h"
#include "netplane/netplane.h"

#define NPB_TOMB_TTL_DEFAULT_MS (3600ull * 1000)

struct np_bpf {
	struct tank_tc_bpf *skel;
	char *pin_dir;
	bool tcx;           /* attach with tcx links (else clsact filters) */
	bool tcx_available; /* what the probe found */
	int ncpus;
	uint64_t tomb_ttl_ms;
	/* drop events: opened on first use */
	struct ring_buffer *rb;
	int (*ev_cb)(const struct tank_event *, void *);
	void *ev_data;
	int ev_err;
};

/* libbpf's first warning of the current operation, for the diag. */
void npb_libbpf_reset(void);
int npb_fail(struct diag *d, int err, const char *what);
int npb_slot_check(uint32_t slot, struct diag *d);

/* Walk every entry of a map in batches; per-CPU values arrive as ncpus values, each rounded up
 * to 8 bytes. cb's negative return stops the walk and is returned. */
typedef int (*npb_walk_cb)(const void *key, const void *value, void *data);
int npb_map_walk(struct np_bpf *b, struct bpf_map *m, npb_walk_cb cb, void *data);

/* tank_cfg_v1 entry of a slot: read, and write back whole. */
int npb_cfg_get(struct np_bpf *b, uint32_t slot, struct tank_pod_cfg *ret, struct diag *d);
int npb_cfg_put(struct np_bpf *b, uint32_t slot, const struct tank_pod_cfg *c, struct diag *d);

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

#endif
