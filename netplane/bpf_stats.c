/* bpf_stats.c - reading the datapath: counters, rule hits, flows, drop events, tombstones. */
#include <string.h>
#include <sys/socket.h>

#include "netplane/bpf_int.h"

/* ---- walking maps ---------------------------------------------------------------------------- */

static bool map_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* One CPU's value in what a per-CPU map returns: each rounded up to 8 bytes. */
const void *npb_percpu_at(const void *values, size_t vsz, int cpu)
{
	return (const char *)values + ((vsz + 7) & ~(size_t)7) * (size_t)cpu;
}

int npb_map_walk(struct np_bpf *b, struct bpf_map *m, npb_walk_cb cb, void *data)
{
	return npb_fd_walk(b, bpf_map__fd(m), bpf_map__key_size(m), bpf_map__value_size(m),
			   map_percpu(bpf_map__type(m)), cb, data);
}

int npb_fd_walk(struct np_bpf *b, int fd, size_t ksz, size_t vsz, bool percpu, npb_walk_cb cb,
		void *data)
{
	size_t vstride = percpu ? ((vsz + 7) & ~(size_t)7) * b->ncpus : vsz;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	_cleanup_free_ void *keys = NULL, *vals = NULL, *tok = NULL;
	__u32 count = 256;
	bool first = true;

	tok = calloc(1, ksz < 8 ? 8 : ksz);
	if (!tok)
		return -ENOMEM;
	for (;;) {
		__u32 n = count;
		int r;

		if (!keys) {
			keys = malloc(ksz * count);
			vals = malloc(vstride * count);
			if (!keys || !vals)
				return -ENOMEM;
		}
		r = bpf_map_lookup_batch(fd, first ? NULL : tok, tok, keys, vals, &n, &o);
		if (r < 0 && r != -ENOENT) {
			if (r == -ENOSPC && count < (1u << 16)) {
				/* a bucket with more entries than we asked for */
				count *= 4;
				free(keys);
				free(vals);
				keys = vals = NULL;
				continue;
			}
			return r;
		}
		for (__u32 i = 0; i < n; i++) {
			int e = cb((char *)keys + i * ksz, (char *)vals + i * vstride, data);

			if (e < 0)
				return e;
		}
		if (r == -ENOENT)
			return 0;
		first = false;
	}
}

/* ---- counters ------------------------------------------------------------------------------- */

struct totals_walk {
	struct np_bpf *b;
	uint32_t slot, epoch;
	struct tank_totals *pod;
	struct np_bpf_stats2 *s;
	size_t hits_cap;
};

static void totals_add(struct tank_totals *t, const struct tank_stat_key *k,
		       const struct tank_counter *c)
{
	if (k->family < TANK_FAM_MAX && k->proto < TANK_PROTO_MAX) {
		t->by[k->family][k->proto].packets += c->packets;
		t->by[k->family][k->proto].bytes += c->bytes;
	}
	if (k->reason < TANK_REASON_MAX && k->verdict == TANK_VERDICT_DROP) {
		t->drops[k->reason].packets += c->packets;
		t->drops[k->reason].bytes += c->bytes;
	} else if (k->reason < TANK_REASON_MAX && k->verdict == TANK_VERDICT_AUDIT) {
		t->audit[k->reason].packets += c->packets;
		t->audit[k->reason].bytes += c->bytes;
	}
}

/* Rule hits: the tank_stats_v2 entries with reason RULE, summed by direction and rule. */
static int hits_add(struct np_bpf_stats2 *s, size_t *cap, const struct tank_stat_key *k,
		    const struct tank_counter *c)
{
	for (size_t i = 0; i < s->n_hits; i++)
		if (s->hits[i].dir == k->dir && s->hits[i].rule == k->rule) {
			s->hits[i].count.packets += c->packets;
			s->hits[i].count.bytes += c->bytes;
			return 0;
		}
	if (array_grow((void **)&s->hits, cap, s->n_hits, sizeof(*s->hits), 16) < 0)
		return -ENOMEM;
	s->hits[s->n_hits++] = (struct np_rule_hit){ .dir = k->dir, .rule = k->rule, .count = *c };
	return 0;
}

static struct tank_counter percpu_sum(struct np_bpf *b, const void *value)
{
	const struct tank_counter *per = value;
	struct tank_counter sum = {};

	for (int i = 0; i < b->ncpus; i++) {
		sum.packets += per[i].packets;
		sum.bytes += per[i].bytes;
	}
	return sum;
}

static int totals_count(struct totals_walk *w, const struct tank_stat_key *k,
			struct tank_counter c)
{
	if (k->dir >= TANK_DIR_MAX)
		return 0;
	totals_add(&w->pod[k->dir], k, &c);
	if (w->s && k->nic < TANK_NICS_MAX) {
		totals_add(&w->s->nic[k->nic].dir[k->dir], k, &c);
		if (k->nic + 1 > w->s->n_nics)
			w->s->n_nics = k->nic + 1;
	}
	if (w->s && k->reason == TANK_REASON_RULE && k->rule)
		return hits_add(w->s, &w->hits_cap, k, &c);
	return 0;
}

static int totals_one(const void *key, const void *value, void *data)
{
	const struct tank_stat_key *k = key;
	struct totals_walk *w = data;

	if (k->slot != w->slot)
		return 0;
	return totals_count(w, k, percpu_sum(w->b, value));
}

/* A cell counts if it is the slot's, of its current epoch. */
static int totals_cell(struct totals_walk *w, const struct tank_stat_key *k, __u32 epoch,
		       struct tank_counter c)
{
	if (k->slot != w->slot || epoch != w->epoch)
		return 0;
	return totals_count(w, k, c);
}

/* tank_scell_v2: one cell of one CPU */
static int totals_cells(const void *key _unused_, const void *value, void *data)
{
	const struct tank_scell *c = value;

	return totals_cell(data, &c->key, c->epoch, c->count);
}

/* tank_scell_v1 (an older tankd's, while one of its pods lives): that cell of every CPU */
static int totals_cells_v1(const void *key _unused_, const void *value, void *data)
{
	struct totals_walk *w = data;

	for (int cpu = 0; cpu < w->b->ncpus; cpu++) {
		const struct tank_scell_v1 *c = npb_percpu_at(value, sizeof(*c), cpu);
		int r = totals_cell(w, &c->key, c->epoch, c->count);

		if (r < 0)
			return r;
	}
	return 0;
}

int npb_slot_totals(struct np_bpf *b, uint32_t slot, struct tank_totals pod[TANK_DIR_MAX],
		    struct np_bpf_stats2 *s, struct diag *d)
{
	struct totals_walk w = { .b = b, .slot = slot, .pod = pod, .s = s };
	struct tank_pod_cfg cfg = { 0 };
	int r;

	memset(pod, 0, sizeof(*pod) * TANK_DIR_MAX);
	r = npb_cfg_get(b, slot, &cfg, NULL);
	w.epoch = cfg.epoch;
	if (r >= 0)
		r = npb_map_walk(b, b->skel->maps.tank_stats_v2, totals_one, &w);
	if (r >= 0)
		r = npb_map_walk(b, b->skel->maps.tank_scell_v2, totals_cells, &w);
	if (r >= 0 && b->scell_v1 >= 0)
		r = npb_fd_walk(b, b->scell_v1, sizeof(__u32), sizeof(struct tank_scell_v1), true,
				totals_cells_v1, &w);
	if (r < 0 && s) {
		free(s->hits);
		s->hits = NULL;
		s->n_hits = 0;
	}
	return r < 0 ? npb_fail(d, r, "reading the pod counters") : 0;
}

static uint64_t totals_dir_sum(const struct tank_totals *t, bool bytes)
{
	uint64_t sum = 0;

	for (int f = 0; f < TANK_FAM_MAX; f++)
		for (int p = 0; p < TANK_PROTO_MAX; p++)
			sum += bytes ? t->by[f][p].bytes : t->by[f][p].packets;
	return sum;
}

int np_bpf_pod_stats(struct np_bpf *b, uint32_t slot, struct tank_pod_stats *ret, struct diag *d)
{
	struct tank_totals pod[TANK_DIR_MAX];
	int r;

	npb_libbpf_reset();
	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	r = npb_slot_totals(b, slot, pod, NULL, d);
	if (r < 0)
		return r;
	ret->ingress.packets = totals_dir_sum(&pod[TANK_DIR_INGRESS], false);
	ret->ingress.bytes = totals_dir_sum(&pod[TANK_DIR_INGRESS], true);
	ret->egress.packets = totals_dir_sum(&pod[TANK_DIR_EGRESS], false);
	ret->egress.bytes = totals_dir_sum(&pod[TANK_DIR_EGRESS], true);
	return 0;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct np_rule_hit *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static void nic_name_set(struct np_bpf_stats2 *s, uint32_t nic, const char *name)
{
	if (nic >= TANK_NICS_MAX)
		return;
	memcpy(s->nic[nic].name, name, sizeof(s->nic[nic].name));
	s->nic[nic].name[TANK_NIC_NAME_MAX - 1] = '\0';
	if (nic + 1 > s->n_nics)
		s->n_nics = nic + 1;
}

int np_bpf_pod_stats2(struct np_bpf *b, uint32_t slot, struct np_bpf_stats2 *ret,
		      struct diag *d)
{
	struct np_bpf_stats2 s = {};
	struct bpf_map *ifs = b->skel->maps.tank_ifs_v3, *cgs = b->skel->maps.tank_cgs_v1;
	struct tank_if_key key, next;
	__u64 ckey, cnext;
	int r, g;

	npb_libbpf_reset();
	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	r = npb_slot_totals(b, slot, s.pod, &s, d);
	if (r < 0)
		return r;
	/* names of the NICs still attached (a "host" pod's cgroup counts as NIC "host") */
	g = bpf_map__get_next_key(ifs, NULL, &next, sizeof(next));
	while (g == 0) {
		struct tank_if_info ifi;

		key = next;
		if (bpf_map__lookup_elem(ifs, &key, sizeof(key), &ifi, sizeof(ifi), 0) == 0 &&
		    ifi.slot == slot)
			nic_name_set(&s, ifi.nic, ifi.name);
		g = bpf_map__get_next_key(ifs, &key, &next, sizeof(next));
	}
	g = bpf_map__get_next_key(cgs, NULL, &cnext, sizeof(cnext));
	while (g == 0) {
		struct tank_cg_info ci;

		ckey = cnext;
		if (bpf_map__lookup_elem(cgs, &ckey, sizeof(ckey), &ci, sizeof(ci), 0) == 0 &&
		    ci.slot == slot)
			nic_name_set(&s, ci.nic, ci.name);
		g = bpf_map__get_next_key(cgs, &ckey, &cnext, sizeof(cnext));
	}
	if (s.n_hits)
		qsort(s.hits, s.n_hits, sizeof(*s.hits), hit_cmp);
	*ret = s;
	return 0;
}

void np_bpf_stats2_free(struct np_bpf_stats2 *s)
{
	if (!s)
		return;
	free(s->hits);
	s->hits = NULL;
	s->n_hits = 0;
}

/* Keys of a slot in a hash map keyed by a struct starting with __u32 slot, deleted in rounds. */
struct keys_walk {
	uint32_t slot;
	size_t ksz;
	char *keys;
	size_t n, cap;
};

static int keys_one(const void *key, const void *value _unused_, void *data)
{
	struct keys_walk *w = data;

	if (*(const __u32 *)key != w->slot)
		return 0;
	if (array_grow((void **)&w->keys, &w->cap, w->n, w->ksz, 64) < 0)
		return -ENOMEM;
	memcpy(w->keys + w->n * w->ksz, key, w->ksz);
	w->n++;
	return 0;
}

static int slot_keys_delete(struct np_bpf *b, struct bpf_map *m, uint32_t slot)
{
	struct keys_walk w = { .slot = slot, .ksz = bpf_map__key_size(m) };
	int r = npb_map_walk(b, m, keys_one, &w);

	for (size_t i = 0; r >= 0 && i < w.n; i++)
		bpf_map__delete_elem(m, w.keys + i * w.ksz, w.ksz, 0);
	free(w.keys);
	return r;
}

int npb_slot_forget(struct np_bpf *b, uint32_t slot, struct diag *d)
{
	int r = slot_keys_delete(b, b->skel->maps.tank_stats_v2, slot);

	return r < 0 ? npb_fail(d, r, "zeroing the pod counters") : 0;
}

/* ---- flows and global counters -------------------------------------------------------------- */

/* The datapath's timeouts (tank_tc.bpf.c flow_timeout), in seconds. */
static uint32_t flow_timeout_s(uint8_t proto, uint32_t flags)
{
	if (proto == IPPROTO_TCP)
		return flags & TANK_FLOW_CLOSING ? TANK_FLOW_TCP_CLOSING_S : TANK_FLOW_TCP_S;
	if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP)
		return TANK_FLOW_UDP_S;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		return TANK_FLOW_ICMP_S;
	return TANK_FLOW_OTHER_S;
}

struct flow_got {
	struct tank_flow_key key;
	struct np_flow fl;
};

/* What a CPU's flow cache counted for a flow and not yet added to the flow (tank_fcache_v2). */
struct fc_pending {
	struct tank_flow_key key;
	enum tank_dir dir;
	struct tank_counter count;
};

struct flows_walk {
	struct np_bpf *b;
	uint32_t slot; /* 0: count only */
	uint32_t epoch;
	uint32_t now; /* jiffies, low 32 bits (differences wrap correctly) */
	unsigned int hz;
	int (*cb)(const struct np_flow *, void *);
	void *data;
	uint64_t entries;
	struct fc_pending *pend; /* sorted by key */
	size_t n_pend, cap_pend;
	struct flow_got *got; /* the slot's flows, read before the caches */
	size_t n_got, cap_got;
};

static int fc_pending_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct fc_pending *)a)->key, &((const struct fc_pending *)b)->key,
		      sizeof(struct tank_flow_key));
}

static int fc_one(const void *key _unused_, const void *value, void *data)
{
	const struct tank_fcache *e = value;
	struct flows_walk *w = data;

	if (e->key.slot != w->slot || e->epoch != w->epoch || !e->pending.packets ||
	    e->dir >= TANK_DIR_MAX)
		return 0;
	if (array_grow((void **)&w->pend, &w->cap_pend, w->n_pend, sizeof(*w->pend), 64) < 0)
		return -ENOMEM;
	w->pend[w->n_pend++] = (struct fc_pending){ .key = e->key, .dir = e->dir,
						    .count = e->pending };
	return 0;
}

/* Add what the CPUs' flow caches counted for flow k and not yet added to it. */
static void fc_add(const struct flows_walk *w, const struct tank_flow_key *k,
		   struct tank_counter count[TANK_DIR_MAX])
{
	size_t lo = 0, hi = w->n_pend;

	while (lo < hi) { /* the first entry not below k */
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(&w->pend[mid].key, k, sizeof(*k)) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < w->n_pend && memcmp(&w->pend[lo].key, k, sizeof(*k)) == 0; lo++) {
		count[w->pend[lo].dir].packets += w->pend[lo].count.packets;
		count[w->pend[lo].dir].bytes += w->pend[lo].count.bytes;
	}
}

static void addr_set(struct np_addr *a, enum tank_family f, const __u8 *bytes)
{
	memset(a, 0, sizeof(*a));
	a->family = f == TANK_FAM_IPV4 ? AF_INET : AF_INET6;
	a->prefix = f == TANK_FAM_IPV4 ? 32 : 128;
	if (f == TANK_FAM_IPV4)
		memcpy(&a->v4, bytes, 4);
	else
		memcpy(&a->v6, bytes, 16);
}

static int flows_one(const void *key, const void *value, void *data)
{
	const struct tank_flow_key *k = key;
	const struct tank_flow *f = value;
	struct flows_walk *w = data;
	struct np_flow fl = {};
	bool icmp = k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6;

	uint64_t idle = (uint32_t)(w->now - (uint32_t)f->last);
	uint64_t age = (uint32_t)(w->now - (uint32_t)f->created);

	w->entries++;
	if (!w->cb || k->slot != w->slot || f->epoch != w->epoch ||
	    idle > (uint64_t)flow_timeout_s(k->proto, f->flags) * w->hz)
		return 0;
	fl.family = k->family;
	fl.proto = k->proto;
	addr_set(&fl.pod, k->family, k->pod_addr);
	addr_set(&fl.peer, k->family, k->peer_addr);
	fl.pod_port = ntohs(k->pod_port);
	fl.peer_port = icmp ? 0 : ntohs(k->peer_port);
	fl.dir = f->dir;
	fl.verdict = f->verdict;
	fl.rule = f->rule;
	fl.nic = f->nic;
	memcpy(fl.count, f->count, sizeof(fl.count));
	fl.idle_ms = idle * 1000 / w->hz;
	fl.age_ms = age * 1000 / w->hz;
	if (array_grow((void **)&w->got, &w->cap_got, w->n_got, sizeof(*w->got), 64) < 0)
		return -ENOMEM;
	w->got[w->n_got++] = (struct flow_got){ .key = *k, .fl = fl };
	return 0;
}

int np_bpf_flows(struct np_bpf *b, uint32_t slot, int (*cb)(const struct np_flow *, void *),
		 void *data)
{
	struct flows_walk w = { .b = b, .slot = slot, .cb = cb, .data = data };
	struct tank_pod_cfg cfg;
	int r;

	r = npb_slot_check(slot, NULL);
	if (r < 0 || !cb)
		return r < 0 ? r : -EINVAL;
	r = npb_cfg_get(b, slot, &cfg, NULL);
	if (r < 0)
		return r;
	w.epoch = cfg.epoch;
	w.hz = npb_hz(b);
	r = npb_jiffies(b, &w.now);
	if (r < 0)
		return r;
	/* the flow table before the caches: a count the program moves from a cache to its flow
	 * in between is missed by this reading, never counted twice */
	r = npb_map_walk(b, b->skel->maps.tank_flows_v1, flows_one, &w);
	if (r >= 0)
		r = npb_map_walk(b, b->skel->maps.tank_fcache_v2, fc_one, &w);
	if (r >= 0)
		qsort(w.pend, w.n_pend, sizeof(*w.pend), fc_pending_cmp);
	for (size_t i = 0; r >= 0 && i < w.n_got; i++) {
		fc_add(&w, &w.got[i].key, w.got[i].fl.count);
		r = cb(&w.got[i].fl, data);
	}
	free(w.pend);
	free(w.got);
	return r;
}

int np_bpf_global_stats(struct np_bpf *b, struct np_bpf_global *ret, struct diag *d)
{
	_cleanup_free_ struct tank_gstat *per = calloc((size_t)b->ncpus, sizeof(*per));
	struct flows_walk w = { .b = b };
	struct tank_gstat sum = {};
	__u32 zero = 0;
	int r;

	npb_libbpf_reset();
	if (!per)
		return diag_fail(d, -ENOMEM, "BPF: out of memory");
	r = bpf_map__lookup_elem(b->skel->maps.tank_gstat_v1, &zero, sizeof(zero), per,
				 (size_t)b->ncpus * sizeof(*per), 0);
	if (r < 0)
		return npb_fail(d, r, "reading the global counters");
	for (int i = 0; i < b->ncpus; i++) {
		sum.flow_new += per[i].flow_new;
		sum.flow_deleted += per[i].flow_deleted;
		sum.flow_expired += per[i].flow_expired;
		sum.ev_sent += per[i].ev_sent;
		sum.ev_lost += per[i].ev_lost;
		sum.ev_suppressed += per[i].ev_suppressed;
	}
	r = npb_map_walk(b, b->skel->maps.tank_flows_v1, flows_one, &w);
	if (r < 0)
		return npb_fail(d, r, "counting the flows");
	*ret = (struct np_bpf_global){
		.flows_live = w.entries,
		.flows_new = sum.flow_new,
		.flows_deleted = sum.flow_deleted,
		.flows_expired = sum.flow_expired,
		/* an LRU evicts silently: what was created and is neither deleted nor present */
		.flows_evicted = sum.flow_new > sum.flow_deleted + w.entries ?
					 sum.flow_new - sum.flow_deleted - w.entries :
					 0,
		.ev_sent = sum.ev_sent,
		.ev_lost = sum.ev_lost,
		.ev_suppressed = sum.ev_suppressed,
	};
	return 0;
}

/* ---- drop events ---------------------------------------------------------------------------- */

static int event_one(void *ctx, void *data, size_t size)
{
	struct np_bpf *b = ctx;
	struct tank_event ev = {};

	if (!b->ev_cb)
		return 0;
	memcpy(&ev, data, size < sizeof(ev) ? size : sizeof(ev));
	return b->ev_cb(&ev, b->ev_data);
}

static int events_open(struct np_bpf *b)
{
	if (b->rb)
		return 0;
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.tank_events_v1), event_one, b, NULL);
	return b->rb ? 0 : -errno;
}

void npb_events_close(struct np_bpf *b)
{
	ring_buffer__free(b->rb);
	b->rb = NULL;
}

int np_bpf_events_fd(struct np_bpf *b)
{
	int r = events_open(b);

	return r < 0 ? r : ring_buffer__epoll_fd(b->rb);
}

int np_bpf_events_poll(struct np_bpf *b, int (*cb)(const struct tank_event *, void *),
		       void *data, int timeout_ms)
{
	int r = events_open(b);

	if (r < 0)
		return r;
	b->ev_cb = cb;
	b->ev_data = data;
	r = timeout_ms == 0 ? ring_buffer__consume(b->rb) : ring_buffer__poll(b->rb, timeout_ms);
	b->ev_cb = NULL;
	b->ev_data = NULL;
	return r;
}

/* ---- tombstones ----------------------------------------------------------------------------- */

void np_bpf_tombstone_ttl_set(struct np_bpf *b, uint64_t ttl_ms)
{
	b->tomb_ttl_ms = ttl_ms;
}

struct tomb_walk {
	uint64_t cutoff;
	struct tank_tomb_key keys[64];
	size_t n;
};

static int tomb_old(const void *key, const void *value, void *data)
{
	const struct tank_tomb *t = value;
	struct tomb_walk *w = data;

	if (t->deleted_ms < w->cutoff && w->n < ARRAY_SIZE(w->keys))
		memcpy(&w->keys[w->n++], key, sizeof(w->keys[0]));
	return 0;
}

static void tombs_expire(struct np_bpf *b)
{
	struct bpf_map *m = b->skel->maps.tank_tomb_v1;
	uint64_t now = now_wall_ms();
	struct tomb_walk w;

	do {
		w.cutoff = now > b->tomb_ttl_ms ? now - b->tomb_ttl_ms : 0;
		w.n = 0;
		if (npb_map_walk(b, m, tomb_old, &w) < 0)
			return;
		for (size_t i = 0; i < w.n; i++)
			bpf_map__delete_elem(m, &w.keys[i], sizeof(w.keys[i]), 0);
	} while (w.n == ARRAY_SIZE(w.keys));
}

int npb_tomb_put(struct np_bpf *b, uint32_t slot, const struct tank_pod_info *info,
		 struct diag *d)
{
	struct tank_tomb t = { .slot = slot, .deleted_ms = now_wall_ms() };
	struct tank_tomb_key k = {};
	int r;

	tombs_expire(b);
	memcpy(k.uid, info->uid, sizeof(k.uid));
	k.uid[sizeof(k.uid) - 1] = '\0';
	memcpy(t.name, info->name, sizeof(t.name));
	t.name[sizeof(t.name) - 1] = '\0';
	r = npb_slot_totals(b, slot, t.dir, NULL, d);
	if (r < 0)
		return r;
	r = bpf_map__update_elem(b->skel->maps.tank_tomb_v1, &k, sizeof(k), &t, sizeof(t), 0);
	return r < 0 ? npb_fail(d, r, "writing the tombstone") : 0;
}

int np_bpf_tombstone_get(struct np_bpf *b, const char *uid, bool remove, struct tank_tomb *ret)
{
	struct tank_tomb_key k = {};
	struct tank_tomb t;
	int r;

	if (!uid || strlen(uid) >= sizeof(k.uid))
		return -EINVAL;
	tombs_expire(b);
	strcpy(k.uid, uid);
	r = bpf_map__lookup_elem(b->skel->maps.tank_tomb_v1, &k, sizeof(k), &t, sizeof(t), 0);
	if (r < 0)
		return r;
	if (remove)
		bpf_map__delete_elem(b->skel->maps.tank_tomb_v1, &k, sizeof(k), 0);
	*ret = t;
	return 0;
}

struct tomb_list {
	int (*cb)(const char *uid, const struct tank_tomb *t, void *data);
	void *data;
};

static int tomb_one(const void *key, const void *value, void *data)
{
	const struct tank_tomb_key *k = key;
	struct tomb_list *l = data;
	char uid[TANK_POD_UID_MAX];

	memcpy(uid, k->uid, sizeof(uid));
	uid[sizeof(uid) - 1] = '\0';
	return l->cb(uid, value, l->data);
}

int np_bpf_tombstones(struct np_bpf *b,
		      int (*cb)(const char *uid, const struct tank_tomb *t, void *data), void *data)
{
	struct tomb_list l = { .cb = cb, .data = data };

	npb_libbpf_reset();
	tombs_expire(b);
	return npb_map_walk(b, b->skel->maps.tank_tomb_v1, tomb_one, &l);
}
