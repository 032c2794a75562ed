/* datapath.c - tankd's side of the BPF datapath: policies from specs, drop events, traffic,
 * flows, verdict explanations and the totals of deleted pods. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include "daemon/metrics.h"
#include "daemon/tankd.h"

static const char *const reason_text[TANK_REASON_MAX] = {
	[TANK_REASON_RULE] = "rule",
	[TANK_REASON_NO_POLICY] = "no policy",
	[TANK_REASON_REPLY] = "reply of an allowed flow",
	[TANK_REASON_RELATED] = "ICMP error of an allowed flow",
	[TANK_REASON_ND] = "neighbour discovery",
	[TANK_REASON_NON_IP] = "not IP",
	[TANK_REASON_MIGRATED] = "migrated",
	[TANK_REASON_POLICY] = "no rule allows",
	[TANK_REASON_PARSE] = "malformed headers",
	[TANK_REASON_FRAGMENT] = "fragment without ports",
	[TANK_REASON_FLOW_FULL] = "flow table full",
};

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	case IPPROTO_SCTP:
		return "sctp";
	}
	return "ip";
}

static struct pod *pod_by_slot(struct tankd *t, uint32_t slot)
{
	for (struct pod *p = t->pods; p; p = p->next)
		if (p->slot == slot)
			return p;
	return NULL;
}

/* ---- policy ------------------------------------------------------------------------------ */

struct policy_buf {
	struct np_rule *rules;
	struct np_addr *addrs;
	struct np_port_range *ports;
};

static void policy_buf_free(struct policy_buf *b)
{
	free(b->rules);
	free(b->addrs);
	free(b->ports);
}

/* The spec's rules as netplane's: one np_rule per spec rule, rule ids index + 1 per direction. */
static int policy_from_spec(const struct spec_policy *sp, struct np_policy *out,
			    struct policy_buf *b)
{
	size_t nr = sp->n_ingress + sp->n_egress, na = 0, np = 0, ia = 0, ip = 0;
	const struct spec_rule *dirs[TANK_DIR_MAX] = { sp->ingress, sp->egress };
	size_t counts[TANK_DIR_MAX] = { sp->n_ingress, sp->n_egress };
	bool present[TANK_DIR_MAX] = { sp->has_ingress, sp->has_egress };

	for (int d = 0; d < TANK_DIR_MAX; d++)
		for (size_t i = 0; i < counts[d]; i++) {
			na += dirs[d][i].n_peers;
			np += dirs[d][i].n_ports;
		}
	b->rules = calloc(nr + 1, sizeof(*b->rules));
	b->addrs = calloc(na + 1, sizeof(*b->addrs));
	b->ports = calloc(np + 1, sizeof(*b->ports));
	if (!b->rules || !b->addrs || !b->ports)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	out->audit = sp->mode == POLICY_AUDIT;
	for (int d = 0, ir = 0; d < TANK_DIR_MAX; d++) {
		out->dir[d].present = present[d];
		out->dir[d].rules = &b->rules[ir];
		out->dir[d].n_rules = counts[d];
		for (size_t i = 0; i < counts[d]; i++, ir++) {
			const struct spec_rule *sr = &dirs[d][i];
			struct np_rule *r = &b->rules[ir];

			r->peers = &b->addrs[ia];
			for (size_t k = 0; k < sr->n_peers; k++) {
				struct np_addr *a = &b->addrs[ia++];

				a->family = sr->peers[k].family;
				a->prefix = sr->peers[k].prefix;
				memcpy(&a->v6, sr->peers[k].addr, a->family == AF_INET ? 4 : 16);
			}
			r->n_peers = sr->n_peers;
			r->ports = &b->ports[ip];
			for (size_t k = 0; k < sr->n_ports; k++, ip++) {
				b->ports[ip].proto = sr->ports[k].proto;
				b->ports[ip].lo = sr->ports[k].first;
				b->ports[ip].hi = sr->ports[k].last;
			}
			r->n_ports = sr->n_ports;
		}
	}
	return 0;
}

int dp_policy_apply(struct tankd *t, struct pod *p, const struct pod_spec *spec, struct diag *d)
{
	struct policy_buf buf = { 0 };
	struct np_policy np;
	int r;

	if (!t->bpf || !p->slot)
		return 0;
	/* drop-event sampling and rate of the slot (config drop_events_*; 0: the defaults) */
	r = np_bpf_events_limit_set(t->bpf, p->slot, t->cfg.drop_events_sample,
				    t->cfg.drop_events_rate, t->cfg.drop_events_burst, d);
	if (r < 0)
		return r;
	if (!spec->has_policy)
		return np_bpf_policy_set(t->bpf, p->slot, NULL, d);
	r = policy_from_spec(&spec->policy, &np, &buf);
	if (r >= 0)
		r = np_bpf_policy_set(t->bpf, p->slot, &np, d);
	policy_buf_free(&buf);
	return r;
}

/* "ingress rule 2: from 198.18.0.0/24 ports 80/tcp, 8000-8100/tcp" */
static json_t *rule_describe(const struct pod_spec *s, enum tank_dir dir, uint32_t rule)
{
	const struct spec_rule *r;
	char buf[512];
	size_t n = 0;

	if (!s || !s->has_policy || rule == 0)
		return json_null();
	if (dir == TANK_DIR_INGRESS ? rule > s->policy.n_ingress : rule > s->policy.n_egress)
		return json_null();
	r = dir == TANK_DIR_INGRESS ? &s->policy.ingress[rule - 1] : &s->policy.egress[rule - 1];
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "network.policy.%s[%u]: %s",
			      dir == TANK_DIR_INGRESS ? "ingress" : "egress", rule - 1,
			      dir == TANK_DIR_INGRESS ? "from" : "to");
	for (size_t i = 0; i < r->n_peers && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %s", r->peers[i].text);
	if (!r->n_peers && n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, " anywhere");
	for (size_t i = 0; i < r->n_ports && n < sizeof(buf); i++) {
		const struct spec_port_range *pr = &r->ports[i];

		if (pr->proto != IPPROTO_TCP && pr->proto != IPPROTO_UDP && pr->proto != IPPROTO_SCTP)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %s", i ? "," : " ports",
					      proto_name(pr->proto));
		else if (pr->first == pr->last)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %u/%s",
					      i ? "," : " ports", pr->first, proto_name(pr->proto));
		else
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %u-%u/%s",
					      i ? "," : " ports", pr->first, pr->last,
					      proto_name(pr->proto));
	}
	return json_string(buf);
}

json_t *dp_verdict_test(struct tankd *t, struct pod *p, enum tank_dir dir, const char *peer,
			uint16_t port, uint8_t proto, struct diag *d)
{
	struct np_verdict v;
	struct np_addr a;
	const char *verdict;

	if (np_addr_parse(peer, &a) < 0) {
		diag_fail(d, -EINVAL, "\"%s\" is not an IPv4 or IPv6 address", peer);
		return NULL;
	}
	if (!p->slot || np_bpf_verdict_test(t->bpf, p->slot, dir, &a, port, proto, &v, d) < 0)
		return NULL;
	verdict = v.verdict == TANK_VERDICT_PASS ? "allow"
		: v.verdict == TANK_VERDICT_AUDIT ? "deny (audit mode: passed and counted)"
						   : "deny";
	return json_pack("{s:s,s:s,s:s,s:i,s:o}", "verdict", verdict, "reason",
			 v.reason < TANK_REASON_MAX ? reason_text[v.reason] : "?", "direction",
			 dir == TANK_DIR_INGRESS ? "ingress" : "egress", "rule",
			 (int)(v.rule == TANK_RULE_NONE || v.rule == TANK_RULE_NO_POLICY ? 0 : v.rule),
			 "rule_text",
			 v.rule == TANK_RULE_NONE || v.rule == TANK_RULE_NO_POLICY
				 ? json_null()
				 : rule_describe(p->spec, dir, v.rule));
}

/* ---- drop events ------------------------------------------------------------------------ */

static void ev_addr(enum tank_family f, const __u8 *raw, __be16 port, uint8_t proto, char *out,
		    size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	bool ports = proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;

	inet_ntop(f == TANK_FAM_IPV6 ? AF_INET6 : AF_INET, raw, ip, sizeof(ip));
	if (!ports)
		snprintf(out, len, "%s", ip);
	else if (f == TANK_FAM_IPV6)
		snprintf(out, len, "[%s]:%u", ip, ntohs(port));
	else
		snprintf(out, len, "%s:%u", ip, ntohs(port));
}

static int on_bpf_event(const struct tank_event *e, void *data)
{
	struct tankd *t = data;
	struct pod *p = pod_by_slot(t, e->slot);
	char src[64], dst[64], extra[48] = "";

	if (!p || e->family == TANK_FAM_OTHER)
		return 0;
	ev_addr(e->family, e->saddr, e->sport, e->proto, src, sizeof(src));
	ev_addr(e->family, e->daddr, e->dport, e->proto, dst, sizeof(dst));
	if (e->suppressed)
		snprintf(extra, sizeof(extra), "; %u more not reported", e->suppressed);
	event_emit(t, p->name, true, e->verdict == TANK_VERDICT_AUDIT ? "PolicyAudit" : "Dropped",
		   "%s %s → %s/%s %s (%s)%s",
		   e->verdict == TANK_VERDICT_AUDIT ? "would drop" : "dropped", src, dst,
		   proto_name(e->proto), e->dir == TANK_DIR_INGRESS ? "ingress" : "egress",
		   e->reason < TANK_REASON_MAX ? reason_text[e->reason] : "?", extra);
	return 0;
}

void dp_events(struct tankd *t)
{
	np_bpf_events_poll(t->bpf, on_bpf_event, t, 0);
}

/* ---- traffic -------------------------------------------------------------------------------- */

static json_t *totals_json(const struct tank_totals *tt)
{
	static const char *const fam[TANK_FAM_MAX] = { "other", "ipv4", "ipv6" };
	static const char *const pro[TANK_PROTO_MAX] = { "other", "tcp", "udp", "icmp" };
	json_t *o = json_object(), *by = json_object(), *drops = json_object(),
	       *audit = json_object();
	uint64_t pk = 0, by_ = 0;

	for (int f = 0; f < TANK_FAM_MAX; f++) {
		json_t *fo = json_object();

		for (int p = 0; p < TANK_PROTO_MAX; p++) {
			const struct tank_counter *c = &tt->by[f][p];

			pk += c->packets;
			by_ += c->bytes;
			if (c->packets)
				json_object_set_new(fo, pro[p],
						    json_pack("{s:I,s:I}", "packets",
							      (json_int_t)c->packets, "bytes",
							      (json_int_t)c->bytes));
		}
		if (json_object_size(fo))
			json_object_set_new(by, fam[f], fo);
		else
			json_decref(fo);
	}
	for (int r = 0; r < TANK_REASON_MAX; r++) {
		if (tt->drops[r].packets)
			json_object_set_new(drops, metrics_reason_key(r),
					    json_pack("{s:I,s:I}", "packets",
						      (json_int_t)tt->drops[r].packets, "bytes",
						      (json_int_t)tt->drops[r].bytes));
		if (tt->audit[r].packets)
			json_object_set_new(audit, metrics_reason_key(r),
					    json_pack("{s:I,s:I}", "packets",
						      (json_int_t)tt->audit[r].packets, "bytes",
						      (json_int_t)tt->audit[r].bytes));
	}
	json_object_set_new(o, "packets", json_integer((json_int_t)pk));
	json_object_set_new(o, "bytes", json_integer((json_int_t)by_));
	json_object_set_new(o, "by", by);
	json_object_set_new(o, "drops", drops);
	json_object_set_new(o, "audit", audit);
	return o;
}

json_t *dp_traffic(struct tankd *t, struct pod *p)
{
	struct np_bpf_stats2 st;
	json_t *o, *nics, *hits;

	if (!t->bpf || !p->slot || np_bpf_pod_stats2(t->bpf, p->slot, &st, NULL) < 0)
		return NULL;
	nics = json_array();
	for (unsigned int i = 0; i < st.n_nics; i++) {
		if (!st.nic[i].name[0])
			continue;
		json_array_append_new(nics, json_pack("{s:s,s:o,s:o}", "name", st.nic[i].name,
						      "ingress", totals_json(&st.nic[i].dir[0]),
						      "egress", totals_json(&st.nic[i].dir[1])));
	}
	hits = json_array();
	for (size_t i = 0; i < st.n_hits; i++)
		json_array_append_new(hits, json_pack("{s:s,s:i,s:I,s:I,s:o}", "direction",
						      st.hits[i].dir == TANK_DIR_INGRESS ? "ingress"
											 : "egress",
						      "rule", (int)st.hits[i].rule, "packets",
						      (json_int_t)st.hits[i].count.packets, "bytes",
						      (json_int_t)st.hits[i].count.bytes, "rule_text",
						      rule_describe(p->spec, st.hits[i].dir,
								    st.hits[i].rule)));
	o = json_pack("{s:s,s:s,s:i,s:o,s:o,s:o,s:o}", "name", p->name, "uid", p->uid, "slot",
		      (int)p->slot, "ingress", totals_json(&st.pod[0]), "egress",
		      totals_json(&st.pod[1]), "nics", nics, "rule_hits", hits);
	np_bpf_stats2_free(&st);
	return o;
}

struct flows_ctx {
	json_t *list;
	size_t n;
};

static int on_flow(const struct np_flow *f, void *data)
{
	struct flows_ctx *c = data;
	char pod[64], peer[64];

	if (c->n >= 100000)
		return 0;
	inet_ntop(f->pod.family, &f->pod.v6, pod, sizeof(pod));
	inet_ntop(f->peer.family, &f->peer.v6, peer, sizeof(peer));
	json_array_append_new(
		c->list,
		json_pack("{s:s,s:s,s:i,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:i}", "proto",
			  proto_name(f->proto), "peer", peer, "peer_port", f->peer_port, "pod", pod,
			  "pod_port", f->pod_port, "opened", f->dir == TANK_DIR_INGRESS ? "ingress" : "egress",
			  "rx_packets", (json_int_t)f->count[TANK_DIR_INGRESS].packets, "rx_bytes",
			  (json_int_t)f->count[TANK_DIR_INGRESS].bytes, "tx_packets",
			  (json_int_t)f->count[TANK_DIR_EGRESS].packets, "tx_bytes",
			  (json_int_t)f->count[TANK_DIR_EGRESS].bytes, "idle_ms",
			  (json_int_t)f->idle_ms, "age_ms", (json_int_t)f->age_ms, "rule",
			  (int)f->rule));
	c->n++;
	return 0;
}

static int flow_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	long long bx = json_int(x, "rx_bytes", 0) + json_int(x, "tx_bytes", 0);
	long long by = json_int(y, "rx_bytes", 0) + json_int(y, "tx_bytes", 0);

	return bx < by ? 1 : bx > by ? -1 : 0;
}

/* Top talkers: the busiest flows first, at most max. */
json_t *dp_flows(struct tankd *t, struct pod *p, size_t max)
{
	struct flows_ctx c = { .list = json_array() };
	json_t **v, *out = json_array();
	size_t n;

	if (!p->slot || !t->bpf)
		return out;
	np_bpf_flows(t->bpf, p->slot, on_flow, &c);
	n = json_array_size(c.list);
	v = calloc(n + 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(c.list, i);
	if (v)
		qsort(v, n, sizeof(*v), flow_cmp);
	for (size_t i = 0; v && i < n && i < max; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(c.list);
	return out;
}

/* ---- deleted pods ------------------------------------------------------------------------ */

static int on_tomb(const char *uid, const struct tank_tomb *tomb, void *data)
{
	json_t *a = data;
	char ts[40];

	if (json_array_size(a) >= TANK_TOMBS_MAX)
		return 0;
	format_time_rfc3339(tomb->deleted_ms, ts, sizeof(ts));
	json_array_append_new(a, json_pack("{s:s%,s:s,s:s,s:I,s:o,s:o}", "name", tomb->name,
					   strnlen(tomb->name, sizeof(tomb->name)), "uid", uid,
					   "deleted_at", ts, "deleted_ms",
					   (json_int_t)tomb->deleted_ms, "ingress",
					   totals_json(&tomb->dir[0]), "egress",
					   totals_json(&tomb->dir[1])));
	return 0;
}

static int tomb_cmp(const void *a, const void *b)
{
	long long x = json_int(*(json_t *const *)a, "deleted_ms", 0);
	long long y = json_int(*(json_t *const *)b, "deleted_ms", 0);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* From the pinned tombstone map, so a restart loses none; the newest deletion first. */
json_t *dp_deleted_traffic(struct tankd *t)
{
	json_t *all = json_array(), *out = json_array(), **v;
	size_t n;

	if (!t->bpf || !all || !out)
		goto done;
	np_bpf_tombstones(t->bpf, on_tomb, all);
	n = json_array_size(all);
	v = calloc(n + 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(all, i);
	if (v)
		qsort(v, n, sizeof(*v), tomb_cmp);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
done:
	json_decref(all);
	return out;
}

/* ---- configuration and global state ----------------------------------------------------- */

void dp_config_apply(struct tankd *t)
{
	if (t->bpf)
		np_bpf_tombstone_ttl_set(t->bpf, t->cfg.tombstone_ttl_ms);
}

/* For `tankctl info`: the datapath's global counters and settings. */
json_t *dp_info(struct tankd *t)
{
	struct np_bpf_global g = { 0 };

	if (!t->bpf || np_bpf_global_stats(t->bpf, &g, NULL) < 0)
		return json_null();
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I}", "flows_live",
			 (json_int_t)g.flows_live, "flow_evictions", (json_int_t)g.flows_evicted,
			 "flows_expired", (json_int_t)g.flows_expired, "events_sent",
			 (json_int_t)g.ev_sent, "events_lost", (json_int_t)g.ev_lost,
			 "events_suppressed", (json_int_t)g.ev_suppressed, "metrics",
			 t->cfg.metrics_listen ? t->cfg.metrics_listen : "off", "tombstone_ttl_s",
			 (json_int_t)(t->cfg.tombstone_ttl_ms / 1000));
}

/* ---- after a restart: attachments put back, stale state swept, foreign programs reported -- */

/* A host-network pod's v2 cgroup (where its cgroup_skb links are), as net_pod_setup_host
 * makes it; NULL when this host has no v2 hierarchy. */
static char *pod_cgroup_v2(struct tankd *t, const char *pod)
{
	if (t->cgroups == CGROUP_V1)
		return NULL;
	return strdup_printf(t->cgroups == CGROUP_V2 ? "%s/%s/%s" : "%s/unified/%s/%s",
			     t->cfg.cgroup_root, t->cfg.cgroup_name, pod);
}

/* Is the pod's NIC i a netkit pair (hooked with netkit links on its primary)? */
static bool nic_netkit(const struct pod_spec *spec, size_t i)
{
	return i < spec->n_nics && spec->nics[i].mode == NIC_NETKIT;
}

static void foreign_report(struct tankd *t, struct pod *p, const char *where,
			   const struct np_bpf_prog_ref *f, int n)
{
	for (int i = 0; i < n; i++)
		event_emit(t, p->name, true, "ForeignProgram",
			   "%s: %s has BPF program id %u (%s) that is not tank's; left in place",
			   where, f[i].hook, f[i].prog_id, f[i].name[0] ? f[i].name : "no name");
}

/* What the pod's spec says, from the store (adoption runs before the first pass gives the
 * pod its record); NULL when it has none (deleted while tankd was down: torn down soon). */
static struct pod_spec *stored_spec(struct tankd *t, const char *name)
{
	_cleanup_json_ json_t *rec = NULL;
	struct pod_spec *spec = NULL;

	if (t->store->ops->get(t->store, name, &rec, NULL) < 0 ||
	    spec_parse(json_object_get(rec, "spec"), &spec, NULL, NULL) < 0)
		return NULL;
	return spec;
}

void dp_pod_adopt(struct tankd *t, struct pod *p)
{
	_cleanup_free_ char *netns = NULL, *cg = NULL;
	_cleanup_close_ int nsfd = -1;
	struct np_bpf_prog_ref f[8];
	struct pod_spec *spec;
	char missing[256] = "";
	size_t len = 0;
	struct diag d = { 0 };
	bool host;
	int r;

	if (!t->bpf || !p->slot || p->phase != PHASE_RUNNING || !(spec = stored_spec(t, p->name)))
		return;
	host = spec->net == NET_HOST;
	/* the drop_events_* settings of this tankd's config */
	np_bpf_events_limit_set(t->bpf, p->slot, t->cfg.drop_events_sample, t->cfg.drop_events_rate,
				t->cfg.drop_events_burst, NULL);
	netns = pod_netns_path(t, p->name);
	nsfd = netns && p->n_nics ? np_netns_open(netns) : -1;
	cg = host ? pod_cgroup_v2(t, p->name) : NULL;
	/* what is missing, and programs not ours on the pod's hooks */
	for (size_t i = 0; i < p->n_nics; i++) {
		struct pod_nic *n = &p->nics[i];
		bool in_pod = n->parent[0] != '\0'; /* macvlan: hooked inside the pod netns */
		int ifindex = in_pod ? n->pod_ifindex : (int)if_nametoindex(n->host_ifname);

		if (ifindex <= 0 || (in_pod && nsfd < 0))
			continue; /* the device is gone: the drift monitor and the next pass see to it */
		n->host_ifindex = in_pod ? 0 : ifindex;
		r = nic_netkit(spec, i)
			    ? np_bpf_netkit_check(t->bpf, p->uid, n->name, ifindex, NULL)
			    : np_bpf_nic_check(t->bpf, p->uid, n->name, in_pod ? nsfd : -1, ifindex,
					       NULL);
		if (r == 0 && len < sizeof(missing))
			len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s",
						len ? ", " : "", n->name);
		r = np_bpf_foreign_nic(t->bpf, in_pod ? nsfd : -1, ifindex, f, ARRAY_SIZE(f), NULL);
		if (r > 0) {
			_cleanup_free_ char *where = strdup_printf(
				"nic %s (%s%s)", n->name, in_pod ? "in the pod netns: " : "host side ",
				in_pod ? n->name : n->host_ifname);

			foreign_report(t, p, where ? where : n->name, f, r);
		}
	}
	if (cg) {
		if (np_bpf_cgroup_check(t->bpf, p->uid, cg, NULL) == 0)
			snprintf(missing, sizeof(missing), "cgroup %s", cg);
		r = np_bpf_foreign_cgroup(t->bpf, cg, f, ARRAY_SIZE(f), NULL);
		if (r > 0)
			foreign_report(t, p, cg, f, r);
	}
	if (!missing[0])
		goto out;
	/* the policy first, then the links (each attach keeps what is still in place) */
	r = np_bpf_pod_register(t->bpf, p->slot, p->name, p->uid, &d);
	if (r >= 0)
		r = dp_policy_apply(t, p, spec, &d);
	for (size_t i = 0; r >= 0 && i < p->n_nics; i++) {
		struct pod_nic *n = &p->nics[i];

		if (n->parent[0] && nsfd >= 0 && n->pod_ifindex > 0)
			r = np_bpf_macvlan_attach(t->bpf, p->uid, n->name, p->slot, nsfd,
						  n->pod_ifindex, &d);
		else if (nic_netkit(spec, i) && n->host_ifindex > 0)
			r = np_bpf_netkit_attach(t->bpf, p->uid, n->name, p->slot, n->host_ifindex,
						 nsfd, n->pod_ifindex, &d);
		else if (!n->parent[0] && n->host_ifindex > 0)
			r = np_bpf_veth_attach(t->bpf, p->uid, n->name, p->slot, n->host_ifindex,
					       &d);
	}
	if (r >= 0 && cg)
		r = np_bpf_cgroup_attach(t->bpf, p->uid, p->slot, cg, &d);
	if (r < 0)
		event_emit(t, p->name, true, "DatapathRepairFailed",
			   "BPF programs missing on %s; putting them back failed: %s", missing,
			   diag_text(&d, r));
	else
		event_emit(t, p->name, true, "DatapathRepaired",
			   "BPF programs were missing on %s (enforcement was off); re-attached with "
			   "the pod's policy",
			   missing);
out:
	pod_spec_free(spec);
}

void dp_sweep(struct tankd *t)
{
	struct np_bpf_sweep_stats st;
	const char **uids;
	struct diag d = { 0 };
	size_t n = 0;

	if (!t->bpf)
		return;
	for (struct pod *p = t->pods; p; p = p->next)
		n++;
	uids = calloc(n + 1, sizeof(*uids));
	if (!uids)
		return;
	n = 0;
	for (struct pod *p = t->pods; p; p = p->next)
		if (p->uid && p->uid[0])
			uids[n++] = p->uid;
	if (np_bpf_sweep(t->bpf, uids, n, &st, &d) < 0)
		log_warn("BPF: sweeping stale state: %s", diag_text(&d, d.err));
	if (st.slots || st.pin_dirs || st.ifs || st.cgs)
		log_info("BPF: swept state of pods tankd no longer knows: %u slots (totals kept as "
			 "tombstones), %u pin directories, %u interface and %u cgroup entries",
			 st.slots, st.pin_dirs, st.ifs, st.cgs);
	free(uids);
}
