/* test_bpf_policy.c - the datapath under BPF_PROG_RUN: verdicts, flows, fragments, audit, events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/if_ether.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "bpf/tank_tc.skel.h"
#include "netplane/netplane.h"

/*
 * np_bpf pins its maps under /sys/fs/bpf/tanktest-<pid>-pol; the test loads a second copy of the
 * same object on those pinned maps and runs its programs with BPF_PROG_RUN on built frames, on
 * loopback's ifindex, recorded in tank_ifs_v3 as NIC 0 of SLOT (host ingress = pod egress, so
 * tank_host_in sees what the pod sends and tank_host_eg what it receives). Nothing is attached
 * to any interface. Addresses: 198.18.0.0/15 and 2001:db8::/32. Pins are removed at the end.
 */

#define PREFIX "tanktest-"
#define SLOT 9
#define UID "tanktest-pol-uid"
#define POD4 "198.18.5.10"
#define POD6 "2001:db8:5::10"
#define PASS (-1) /* TCX_NEXT */
#define DROP 2    /* TCX_DROP */

#define ING TANK_DIR_INGRESS
#define EG TANK_DIR_EGRESS

static struct {
	bool ready;
	char pin_dir[128];
	struct np_bpf *bpf;
	struct tank_tc_bpf *skel;
	int ncpus;
} t;

/* ---- frames --------------------------------------------------------------------------------- */

struct pk {
	int af;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t flags; /* TCP */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id;
	int frag; /* 0 none, 1 first, 2 later */
	uint32_t frag_id;
	bool hbh;  /* IPv6 hop-by-hop header first */
	bool vlan; /* 802.1Q tag before the IP header */
	bool bad_ihl; /* IPv4 header length field 4 (16 bytes) */
	size_t cut; /* keep only this many bytes of the frame */
	const struct pk *quote; /* ICMP error: the packet it quotes */
};

struct frame {
	unsigned char buf[512];
	size_t len;
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static size_t build_ip(const struct pk *p, unsigned char *b)
{
	size_t off, l4len = 0;
	unsigned char *l4;

	if (p->af == AF_INET) {
		b[0] = p->bad_ihl ? 0x44 : 0x45;
		b[8] = 64;
		b[9] = p->proto;
		assert_int_equal(inet_pton(AF_INET, p->src, b + 12), 1);
		assert_int_equal(inet_pton(AF_INET, p->dst, b + 16), 1);
		b[4] = (uint8_t)(p->frag_id >> 8);
		b[5] = (uint8_t)p->frag_id;
		if (p->frag == 1)
			b[6] = 0x20; /* MF, offset 0 */
		else if (p->frag == 2)
			b[7] = 185; /* offset 1480 */
		off = 20;
	} else {
		uint8_t *nh = b + 6;

		b[0] = 0x60;
		b[7] = 64;
		assert_int_equal(inet_pton(AF_INET6, p->src, b + 8), 1);
		assert_int_equal(inet_pton(AF_INET6, p->dst, b + 24), 1);
		off = 40;
		if (p->hbh) {
			*nh = 0;
			nh = b + off;
			b[off + 2] = 1; /* PadN */
			b[off + 3] = 4;
			off += 8;
		}
		if (p->frag) {
			uint16_t fo = p->frag == 2 ? (uint16_t)(185 << 3) : 1;

			*nh = 44;
			nh = b + off;
			b[off + 2] = (uint8_t)(fo >> 8);
			b[off + 3] = (uint8_t)fo;
			b[off + 4] = (uint8_t)(p->frag_id >> 24);
			b[off + 5] = (uint8_t)(p->frag_id >> 16);
			b[off + 6] = (uint8_t)(p->frag_id >> 8);
			b[off + 7] = (uint8_t)p->frag_id;
			off += 8;
		}
		*nh = p->proto;
	}
	l4 = b + off;
	if (p->frag == 2) {
		l4len = 16; /* payload only */
	} else if (p->proto == IPPROTO_TCP) {
		l4[0] = (uint8_t)(p->sport >> 8), l4[1] = (uint8_t)p->sport;
		l4[2] = (uint8_t)(p->dport >> 8), l4[3] = (uint8_t)p->dport;
		l4[12] = 5 << 4;
		l4[13] = p->flags;
		l4len = 20 + 10;
	} else if (p->proto == IPPROTO_UDP || p->proto == IPPROTO_SCTP) {
		l4[0] = (uint8_t)(p->sport >> 8), l4[1] = (uint8_t)p->sport;
		l4[2] = (uint8_t)(p->dport >> 8), l4[3] = (uint8_t)p->dport;
		l4len = p->proto == IPPROTO_UDP ? 8 + 20 : 12 + 20;
		if (p->proto == IPPROTO_UDP)
			l4[5] = (uint8_t)l4len;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		l4[0] = p->icmp_type;
		l4[1] = p->icmp_code;
		l4[4] = (uint8_t)(p->icmp_id >> 8), l4[5] = (uint8_t)p->icmp_id;
		l4len = 8;
		if (p->quote) {
			unsigned char q[256] = { 0 };
			size_t ql = build_ip(p->quote, q);
			size_t keep = (p->quote->af == AF_INET ? 20 : 40) + 8;

			memcpy(l4 + 8, q, ql < keep ? ql : keep);
			l4len += keep;
		} else {
			l4len += 32; /* echo payload */
		}
	} else {
		l4len = 24;
	}
	if (p->af == AF_INET) {
		b[2] = (uint8_t)((off + l4len) >> 8);
		b[3] = (uint8_t)(off + l4len);
	} else {
		b[4] = (uint8_t)((off + l4len - 40) >> 8);
		b[5] = (uint8_t)(off + l4len - 40);
	}
	return off + l4len;
}

static struct frame mk(const struct pk *p)
{
	struct frame f = {};
	size_t off = 12;

	f.buf[0] = 0x02, f.buf[5] = 1, f.buf[6] = 0x02, f.buf[11] = 2;
	if (p->vlan) {
		f.buf[12] = 0x81, f.buf[13] = 0x00, f.buf[15] = 7;
		off += 4;
	}
	f.buf[off] = p->af == AF_INET ? 0x08 : 0x86;
	f.buf[off + 1] = p->af == AF_INET ? 0x00 : 0xdd;
	off += 2;
	f.len = off + build_ip(p, f.buf + off);
	if (p->cut)
		f.len = p->cut;
	return f;
}

static struct frame mk_arp(void)
{
	struct frame f = { .len = 42 };

	f.buf[0] = 0xff, f.buf[12] = 0x08, f.buf[13] = 0x06;
	return f;
}

/* A packet of the pod's: egress from POD to peer, ingress from peer to POD. */
static struct pk tcp4(int dir, const char *peer, uint16_t pod_port, uint16_t peer_port,
		      uint8_t flags)
{
	return (struct pk){ .af = AF_INET, .src = dir == EG ? POD4 : peer,
			    .dst = dir == EG ? peer : POD4, .proto = IPPROTO_TCP,
			    .sport = dir == EG ? pod_port : peer_port,
			    .dport = dir == EG ? peer_port : pod_port, .flags = flags };
}

static struct pk udp(int af, int dir, const char *peer, uint16_t pod_port, uint16_t peer_port)
{
	const char *pod = af == AF_INET ? POD4 : POD6;

	return (struct pk){ .af = af, .src = dir == EG ? pod : peer, .dst = dir == EG ? peer : pod,
			    .proto = IPPROTO_UDP, .sport = dir == EG ? pod_port : peer_port,
			    .dport = dir == EG ? peer_port : pod_port };
}

static struct pk icmp(int af, int dir, const char *peer, uint8_t type, uint16_t id)
{
	const char *pod = af == AF_INET ? POD4 : POD6;

	return (struct pk){ .af = af, .src = dir == EG ? pod : peer, .dst = dir == EG ? peer : pod,
			    .proto = af == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6,
			    .icmp_type = type, .icmp_id = id };
}

/* ---- running and counting ------------------------------------------------------------------- */

static int run_n(int dir, const struct frame *f, int repeat)
{
	struct bpf_program *prog =
		dir == EG ? t.skel->progs.tank_host_in : t.skel->progs.tank_host_eg;
	struct __sk_buff ctx = { .ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf, .data_size_in = (__u32)f->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &o), 0);
	return (int)o.retval;
}

static int run(int dir, const struct pk *p)
{
	struct frame f = mk(p);

	return run_n(dir, &f, 1);
}

/* Call cb with every entry of an array (tank_fcache_v2, tank_scell_v2: every CPU's part). */
static void array_each(struct bpf_map *m, void (*cb)(const void *v, void *data), void *data)
{
	_cleanup_free_ char *v = malloc(bpf_map__value_size(m));

	assert_non_null(v);
	for (__u32 i = 0; i < bpf_map__max_entries(m); i++) {
		assert_int_equal(bpf_map__lookup_elem(m, &i, sizeof(i), v, bpf_map__value_size(m), 0),
				 0);
		cb(v, data);
	}
}

struct cells_want {
	int dir, fam, proto, verdict, reason;
	uint32_t epoch;
	uint64_t sum;
};

static void cell_match(const void *v, void *data)
{
	const struct tank_scell *e = v;
	const struct tank_stat_key *k = &e->key;
	struct cells_want *w = data;

	if (k->slot == SLOT && e->epoch == w->epoch && k->nic == 0 && (int)k->dir == w->dir &&
	    (int)k->family == w->fam && (int)k->proto == w->proto && (int)k->verdict == w->verdict &&
	    (int)k->reason == w->reason)
		w->sum += e->count.packets;
}

/* Packets of the flow cache counted in the slot's tank_scell_v2 cells under this class. */
static uint64_t cells_of(int dir, int fam, int proto, int verdict, int reason)
{
	struct cells_want w = { dir, fam, proto, verdict, reason, 0, 0 };
	struct tank_pod_cfg cfg;
	__u32 slot = SLOT;

	assert_int_equal(bpf_map__lookup_elem(t.skel->maps.tank_cfg_v1, &slot, sizeof(slot), &cfg,
					      sizeof(cfg), 0),
			 0);
	w.epoch = cfg.epoch;
	array_each(t.skel->maps.tank_scell_v2, cell_match, &w);
	return w.sum;
}

/* Packets counted for the slot under this class, whatever the rule (rule hits are in the key),
 * in tank_stats_v2 and in the flow cache's cells. */
static uint64_t count_of(int dir, int fam, int proto, int verdict, int reason)
{
	struct tank_counter per[t.ncpus];
	struct tank_stat_key k, next;
	uint64_t sum = 0;
	int g;

	g = bpf_map__get_next_key(t.skel->maps.tank_stats_v2, NULL, &next, sizeof(next));
	while (g == 0) {
		k = next;
		if (k.slot == SLOT && k.nic == 0 && (int)k.dir == dir && (int)k.family == fam &&
		    (int)k.proto == proto && (int)k.verdict == verdict && (int)k.reason == reason &&
		    bpf_map__lookup_elem(t.skel->maps.tank_stats_v2, &k, sizeof(k), per,
					 sizeof(per), 0) == 0)
			for (int i = 0; i < t.ncpus; i++)
				sum += per[i].packets;
		g = bpf_map__get_next_key(t.skel->maps.tank_stats_v2, &k, &next, sizeof(next));
	}
	return sum + cells_of(dir, fam, proto, verdict, reason);
}

static int fam_of(const struct pk *p)
{
	return p->af == AF_INET ? TANK_FAM_IPV4 : TANK_FAM_IPV6;
}

static int pclass(uint8_t proto)
{
	return proto == IPPROTO_TCP ? TANK_PROTO_TCP :
	       proto == IPPROTO_UDP ? TANK_PROTO_UDP :
	       proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 ? TANK_PROTO_ICMP :
								  TANK_PROTO_OTHER;
}

static const char *reason_name(int r)
{
	static const char *const n[] = { "rule",	"no_policy", "reply", "related",
					  "nd",		"non_ip",    "migrated", "policy",
					  "parse",	"fragment",  "flow_full" };

	return r >= 0 && r < (int)ARRAY_SIZE(n) ? n[r] : "?";
}

/* Run one packet; it must get this return value and be counted under verdict and reason. */
#define EXPECT(dir, p, want_ret, verdict, reason)                                                  \
	expect_(__LINE__, dir, p, want_ret, verdict, reason)
static void expect_(int line, int dir, const struct pk *p, int want_ret, int verdict, int reason)
{
	uint64_t before = count_of(dir, fam_of(p), pclass(p->proto), verdict, reason), after;
	int ret = run(dir, p);

	after = count_of(dir, fam_of(p), pclass(p->proto), verdict, reason);
	if (ret != want_ret || after != before + 1)
		fail_msg("line %d: ret %d (want %d), %s count %llu -> %llu", line, ret, want_ret,
			 reason_name(reason), (unsigned long long)before,
			 (unsigned long long)after);
}

static void set_if(uint32_t nic, const char *name)
{
	struct tank_if_info ifi = { .slot = SLOT, .ingress_dir = TANK_DIR_EGRESS, .nic = nic };
	struct tank_if_key key = { .ifindex = 1 };
	uint64_t cookie;

	assert_int_equal(np_bpf_netns_cookie(-1, &cookie, NULL), 0);
	key.netns = cookie;
	snprintf(ifi.name, sizeof(ifi.name), "%s", name);
	assert_int_equal(bpf_map__update_elem(t.skel->maps.tank_ifs_v3, &key, sizeof(key), &ifi,
					      sizeof(ifi), 0),
			 0);
}

static void map_clear(struct bpf_map *m)
{
	size_t ksz = bpf_map__key_size(m);
	unsigned char k[64];

	assert_true(ksz <= sizeof(k));
	while (bpf_map__get_next_key(m, NULL, k, ksz) == 0)
		assert_int_equal(bpf_map__delete_elem(m, k, ksz, 0), 0);
}

static int drain_cb(const struct tank_event *e _unused_, void *data)
{
	(*(int *)data)++;
	return 0;
}

static int drain(void)
{
	int n = 0;

	while (np_bpf_events_poll(t.bpf, drain_cb, &n, 0) > 0)
		;
	return n;
}

static struct tank_gstat gstat(void)
{
	struct tank_gstat per[t.ncpus], sum = {};
	uint32_t zero = 0;

	assert_int_equal(bpf_map__lookup_elem(t.skel->maps.tank_gstat_v1, &zero, sizeof(zero), per,
					      sizeof(per), 0),
			 0);
	for (int i = 0; i < t.ncpus; i++) {
		sum.flow_new += per[i].flow_new;
		sum.ev_sent += per[i].ev_sent;
		sum.ev_lost += per[i].ev_lost;
		sum.ev_suppressed += per[i].ev_suppressed;
	}
	return sum;
}

static void gstat_zero(void)
{
	struct tank_gstat per[t.ncpus];
	uint32_t zero = 0;

	memset(per, 0, sizeof(per));
	assert_int_equal(bpf_map__update_elem(t.skel->maps.tank_gstat_v1, &zero, sizeof(zero), per,
					      sizeof(per), 0),
			 0);
}

/* ---- policies ------------------------------------------------------------------------------- */

static struct np_addr A(const char *s)
{
	struct np_addr a;

	assert_int_equal(np_addr_parse(s, &a), 0);
	return a;
}

static void policy(const struct np_policy *p)
{
	struct diag d = {};

	if (np_bpf_policy_set(t.bpf, SLOT, p, &d) < 0)
		fail_msg("policy_set: %s", diag_text(&d, d.err));
}

/* Only `rules` in one direction, the other direction deny-all (present, no rules) or open. */
static void policy1(int dir, const struct np_rule *rules, size_t n, bool other_deny, bool audit)
{
	struct np_policy p = { .audit = audit };

	p.dir[dir] = (struct np_policy_dir){ true, rules, n };
	p.dir[!dir] = (struct np_policy_dir){ other_deny, NULL, 0 };
	policy(&p);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static void cleanup_leftovers(void)
{
	DIR *dp = opendir("/sys/fs/bpf");
	struct dirent *de;

	if (!dp)
		return;
	while ((de = readdir(dp))) {
		char *end, path[300];
		long pid;

		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		pid = strtol(de->d_name + strlen(PREFIX), &end, 10);
		if ((*end != '-' && *end != '\0') || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno == EPERM)
			continue;
		snprintf(path, sizeof(path), "/sys/fs/bpf/%s", de->d_name);
		fs_rm_rf(path);
	}
	closedir(dp);
}

static int group_setup(void **state _unused_)
{
	struct bpf_map *m;
	struct diag d = {};

	if (geteuid() != 0)
		return 0; /* every test skips */
	cleanup_leftovers();
	t.ncpus = libbpf_num_possible_cpus();
	snprintf(t.pin_dir, sizeof(t.pin_dir), "/sys/fs/bpf/" PREFIX "%d-pol", (int)getpid());
	if (np_bpf_open(t.pin_dir, &t.bpf, &d) < 0) {
		print_error("np_bpf_open: %s\n", diag_text(&d, d.err));
		return -1;
	}
	/* a second copy of the programs on np_bpf's pinned maps, to run them ourselves */
	t.skel = tank_tc_bpf__open();
	if (!t.skel)
		return -1;
	bpf_object__for_each_map(m, t.skel->obj)
	{
		char path[256];

		if (bpf_map__is_internal(m)) /* .kconfig: per object, never pinned */
			continue;
		snprintf(path, sizeof(path), "%s/%s", t.pin_dir, bpf_map__name(m));
		if (bpf_map__set_pin_path(m, path) < 0)
			return -1;
	}
	if (np_bpf_obj_size(t.skel->obj, NULL) < 0 || tank_tc_bpf__load(t.skel) < 0)
		return -1;
	t.ready = true;
	return 0;
}

static int group_teardown(void **state _unused_)
{
	tank_tc_bpf__destroy(t.skel);
	np_bpf_close(t.bpf);
	if (t.pin_dir[0])
		fs_rm_rf(t.pin_dir);
	return 0;
}

/* each test: the slot registered afresh, no policy, no flows, counters, events */
static int test_setup(void **state _unused_)
{
	static int gen;
	char uid[40];

	if (!t.ready)
		return 0;
	snprintf(uid, sizeof(uid), UID "-%d", ++gen);
	if (np_bpf_pod_register(t.bpf, SLOT, "web", uid, NULL) < 0 ||
	    np_bpf_policy_set(t.bpf, SLOT, NULL, NULL) < 0)
		return -1;
	set_if(0, "eth0");
	map_clear(t.skel->maps.tank_flows_v1);
	map_clear(t.skel->maps.tank_frags_v1);
	gstat_zero();
	drain();
	return 0;
}

#define REQUIRE_READY()                                                                            \
	do {                                                                                       \
		if (!t.ready)                                                                      \
			skip();                                                                    \
	} while (0)

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_no_policy(void **state _unused_)
{
	struct pk a = tcp4(EG, "198.18.9.1", 40000, 443, TCP_SYN);
	struct pk b = udp(AF_INET6, ING, "2001:db8:9::1", 53, 5353);
	struct frame arp = mk_arp();
	struct np_bpf_stats2 s;

	REQUIRE_READY();
	EXPECT(EG, &a, PASS, TANK_VERDICT_PASS, TANK_REASON_NO_POLICY);
	EXPECT(ING, &b, PASS, TANK_VERDICT_PASS, TANK_REASON_NO_POLICY);
	assert_int_equal(run_n(EG, &arp, 3), PASS);
	assert_int_equal(count_of(EG, TANK_FAM_OTHER, TANK_PROTO_OTHER, TANK_VERDICT_PASS,
				  TANK_REASON_NON_IP),
			 3);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	assert_int_equal(s.n_nics, 1);
	assert_string_equal(s.nic[0].name, "eth0");
	assert_int_equal(s.pod[EG].by[TANK_FAM_IPV4][TANK_PROTO_TCP].packets, 1);
	assert_int_equal(s.pod[EG].by[TANK_FAM_IPV4][TANK_PROTO_TCP].bytes, mk(&a).len);
	assert_int_equal(s.pod[ING].by[TANK_FAM_IPV6][TANK_PROTO_UDP].packets, 1);
	assert_int_equal(s.pod[EG].by[TANK_FAM_OTHER][TANK_PROTO_OTHER].packets, 3);
	assert_int_equal(s.pod[EG].by[TANK_FAM_OTHER][TANK_PROTO_OTHER].bytes, 3 * 42);
	assert_int_equal(s.n_hits, 0);
	np_bpf_stats2_free(&s);
}

static void test_ingress_rules_v4(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.0.0/24") };
	struct np_port_range ports[] = { { IPPROTO_TCP, 80, 80 }, { IPPROTO_TCP, 8000, 8100 } };
	struct np_rule r = { peers, 1, NULL, 0, ports, 2 };
	struct pk ok = tcp4(ING, "198.18.0.7", 80, 40000, TCP_SYN);
	struct pk ok2 = tcp4(ING, "198.18.0.7", 8100, 40001, TCP_SYN);
	struct pk port = tcp4(ING, "198.18.0.7", 22, 40002, TCP_SYN);
	struct pk peer = tcp4(ING, "198.18.1.7", 80, 40003, TCP_SYN);
	struct pk out = tcp4(EG, "198.18.77.1", 40004, 22, TCP_SYN);
	struct np_bpf_stats2 s;

	REQUIRE_READY();
	policy1(ING, &r, 1, false, false);
	EXPECT(ING, &ok, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &ok, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE); /* cached in the flow */
	EXPECT(ING, &ok2, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &port, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(ING, &peer, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(EG, &out, PASS, TANK_VERDICT_PASS, TANK_REASON_NO_POLICY);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	assert_int_equal(s.pod[ING].drops[TANK_REASON_POLICY].packets, 2);
	assert_int_equal(s.pod[ING].drops[TANK_REASON_POLICY].bytes, 2 * mk(&port).len);
	assert_int_equal(s.pod[ING].by[TANK_FAM_IPV4][TANK_PROTO_TCP].packets, 5);
	assert_int_equal(s.n_hits, 1);
	assert_int_equal(s.hits[0].dir, ING);
	assert_int_equal(s.hits[0].rule, 1);
	assert_int_equal(s.hits[0].count.packets, 3);
	np_bpf_stats2_free(&s);
}

struct flow_find {
	int n;
	struct np_flow last;
};

static int flow_cb(const struct np_flow *f, void *data)
{
	struct flow_find *ff = data;

	ff->n++;
	ff->last = *f;
	return 0;
}

/* Replies of an allowed flow pass a deny-all direction; top talkers see the flow. */
static void test_replies_and_flows(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.0/24") };
	struct np_port_range ports[] = { { IPPROTO_UDP, 53, 53 } };
	struct np_rule r = { peers, 1, NULL, 0, ports, 1 };
	struct pk q = udp(AF_INET, EG, "198.18.9.1", 40000, 53);
	struct pk reply = udp(AF_INET, ING, "198.18.9.1", 40000, 53);
	struct pk other = udp(AF_INET, ING, "198.18.9.1", 40001, 53);
	struct np_bpf_global g;
	struct flow_find ff = {};
	char buf[64];

	REQUIRE_READY();
	policy1(EG, &r, 1, true, false);
	EXPECT(ING, &reply, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY); /* before the query */
	EXPECT(EG, &q, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &reply, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(ING, &reply, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(ING, &other, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);

	assert_int_equal(np_bpf_flows(t.bpf, SLOT, flow_cb, &ff), 0);
	assert_int_equal(ff.n, 1);
	assert_int_equal(ff.last.proto, IPPROTO_UDP);
	assert_int_equal(ff.last.dir, EG);
	assert_int_equal(ff.last.rule, 1);
	assert_int_equal(ff.last.pod_port, 40000);
	assert_int_equal(ff.last.peer_port, 53);
	np_addr_format(&ff.last.peer, false, buf, sizeof(buf));
	assert_string_equal(buf, "198.18.9.1");
	np_addr_format(&ff.last.pod, false, buf, sizeof(buf));
	assert_string_equal(buf, POD4);
	assert_int_equal(ff.last.count[EG].packets, 1);
	assert_int_equal(ff.last.count[ING].packets, 2);
	assert_int_equal(ff.last.count[ING].bytes, 2 * mk(&reply).len);
	assert_true(ff.last.idle_ms < 5000);
	assert_int_equal(np_bpf_global_stats(t.bpf, &g, NULL), 0);
	assert_int_equal(g.flows_new, 1);
	assert_int_equal(g.flows_live, 1);
	assert_int_equal(g.flows_evicted, 0);
}

struct fc_seen {
	int dir, n;
	uint64_t pending, cells;
};

static void fc_match(const void *v, void *data)
{
	const struct tank_fcache *e = v;
	struct fc_seen *w = data;

	if (e->key.slot == SLOT && (int)e->dir == w->dir) {
		w->n++;
		w->pending += e->pending.packets;
	}
}

static void cell_any(const void *v, void *data)
{
	const struct tank_scell *e = v;

	if (e->key.slot == SLOT)
		((struct fc_seen *)data)->cells += e->count.packets;
}

/* What the CPUs' flow caches hold for the slot: entries in dir, their pending packets summed. */
static int fcache_entries(int dir, uint64_t *pending)
{
	struct fc_seen w = { .dir = dir };

	array_each(t.skel->maps.tank_fcache_v2, fc_match, &w);
	*pending = w.pending;
	return w.n;
}

/* Packets of the slot counted in tank_scell_v2 cells (any epoch). */
static uint64_t cell_packets(void)
{
	struct fc_seen w = { 0 };

	array_each(t.skel->maps.tank_scell_v2, cell_any, &w);
	return w.cells;
}

/*
 * The per-CPU flow cache: replies of an established flow are decided from it and counted in a
 * cell, and every reader still sees every packet (pod totals, flows); a new policy generation
 * empties it, so a flow the new policy deletes gets no reply through.
 */
static void test_flow_cache(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.0/24") };
	struct np_port_range ports[] = { { IPPROTO_UDP, 53, 53 } };
	struct np_rule r = { peers, 1, NULL, 0, ports, 1 };
	struct pk q = udp(AF_INET, EG, "198.18.9.1", 40000, 53);
	struct pk reply = udp(AF_INET, ING, "198.18.9.1", 40000, 53);
	struct frame rf = mk(&reply);
	struct np_bpf_stats2 s;
	struct flow_find ff = {};
	uint64_t pending;

	REQUIRE_READY();
	policy1(EG, &r, 1, true, false);
	EXPECT(EG, &q, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &reply, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY); /* fills the cache */
	assert_int_equal(run_n(ING, &rf, 100), PASS);
	/* (a run that moved to another CPU missed that CPU's cache once: most were cached) */
	assert_true(fcache_entries(ING, &pending) >= 1);
	assert_true(pending + cell_packets() >= 2 * 90);

	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	assert_int_equal(s.pod[ING].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 101);
	assert_int_equal(s.pod[ING].by[TANK_FAM_IPV4][TANK_PROTO_UDP].bytes, 101 * rf.len);
	assert_int_equal(s.pod[EG].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 1);
	assert_int_equal(s.n_hits, 1); /* the request; replies are not rule hits */
	assert_int_equal(s.hits[0].count.packets, 1);
	np_bpf_stats2_free(&s);
	assert_int_equal(np_bpf_flows(t.bpf, SLOT, flow_cb, &ff), 0);
	assert_int_equal(ff.n, 1);
	assert_int_equal(ff.last.count[ING].packets, 101);
	assert_int_equal(ff.last.count[ING].bytes, 101 * rf.len);
	assert_int_equal(ff.last.count[EG].packets, 1);

	/* deny-all: the cached replies are stale at once; the request deletes the flow */
	policy1(EG, NULL, 0, true, false);
	EXPECT(EG, &q, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(ING, &reply, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	assert_int_equal(run_n(ING, &rf, 10), DROP);
}

/*
 * The fast path: replies of established TCP and UDP flows, IPv4 and IPv6, pass from this CPU's
 * flow cache and are counted in its cells; a FIN or a fragment of such a flow takes the whole
 * datapath (counted in tank_stats_v2, not in a cell).
 */
static void test_fast_path(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.0/24"), A("2001:db8:9::/64") };
	struct np_port_range ports[] = { { IPPROTO_UDP, 53, 53 }, { IPPROTO_TCP, 443, 443 } };
	struct np_rule r = { peers, 2, NULL, 0, ports, 2 };
	struct {
		struct pk q, a;
		int fam, proto;
	} c[] = {
		{ udp(AF_INET, EG, "198.18.9.1", 40000, 53), udp(AF_INET, ING, "198.18.9.1", 40000, 53),
		  TANK_FAM_IPV4, TANK_PROTO_UDP },
		{ udp(AF_INET6, EG, "2001:db8:9::1", 40000, 53),
		  udp(AF_INET6, ING, "2001:db8:9::1", 40000, 53), TANK_FAM_IPV6, TANK_PROTO_UDP },
		{ tcp4(EG, "198.18.9.1", 40001, 443, TCP_ACK), tcp4(ING, "198.18.9.1", 40001, 443, TCP_ACK),
		  TANK_FAM_IPV4, TANK_PROTO_TCP },
	};
	struct pk fin = tcp4(ING, "198.18.9.1", 40001, 443, TCP_ACK | TCP_FIN);
	struct pk frag = udp(AF_INET, ING, "198.18.9.1", 40000, 53);
	cpu_set_t one, was;
	uint64_t before;

	REQUIRE_READY();
	/* one CPU: its cache is the one filled */
	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	policy1(EG, &r, 1, true, false);
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct frame f = mk(&c[i].a);

		EXPECT(EG, &c[i].q, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
		EXPECT(ING, &c[i].a, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY); /* fills */
		before = cells_of(ING, c[i].fam, c[i].proto, TANK_VERDICT_PASS, TANK_REASON_REPLY);
		assert_int_equal(run_n(ING, &f, 20), PASS);
		assert_int_equal(cells_of(ING, c[i].fam, c[i].proto, TANK_VERDICT_PASS,
					  TANK_REASON_REPLY),
				 before + 20);
	}
	before = cells_of(ING, TANK_FAM_IPV4, TANK_PROTO_TCP, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(ING, &fin, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	assert_int_equal(cells_of(ING, TANK_FAM_IPV4, TANK_PROTO_TCP, TANK_VERDICT_PASS,
				  TANK_REASON_REPLY),
			 before);
	frag.frag = 1; /* a first fragment: its ports are there, but it is not for the cache */
	frag.frag_id = 77;
	before = cells_of(ING, TANK_FAM_IPV4, TANK_PROTO_UDP, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(ING, &frag, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	assert_int_equal(cells_of(ING, TANK_FAM_IPV4, TANK_PROTO_UDP, TANK_VERDICT_PASS,
				  TANK_REASON_REPLY),
			 before);
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

/* The flow key the program builds for a UDP/IPv4 packet of the pod with a peer. */
static struct tank_flow_key udp4_key(const char *peer, uint16_t pod_port, uint16_t peer_port)
{
	struct tank_flow_key k = { .slot = SLOT, .family = TANK_FAM_IPV4, .proto = IPPROTO_UDP,
				   .pod_port = htons(pod_port), .peer_port = htons(peer_port) };

	inet_pton(AF_INET, POD4, k.pod_addr);
	inet_pton(AF_INET, peer, k.peer_addr);
	return k;
}

/* tank_dp.h's words_index (mix false) and words_mix: the index of n words in a table of size. */
static uint32_t words_index(const void *k, size_t n, uint64_t seed, uint32_t size, bool mix)
{
	uint64_t w[8];

	assert_true(n <= ARRAY_SIZE(w));
	memcpy(w, k, n * 8);
	for (size_t i = 0; i < n; i++) {
		if (!mix) {
			seed ^= w[i];
			continue;
		}
		seed = (seed ^ w[i]) * 0x9e3779b97f4a7c15ull;
		seed ^= seed >> 29;
	}
	if (!mix)
		seed *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(seed >> 40) & (size - 1);
}

/* The program's fcache_entry index of a flow key and direction (within a CPU's part). */
static uint32_t fc_index(const struct tank_flow_key *k, int dir)
{
	return words_index(k, sizeof(*k) / 8, (uint64_t)dir, TANK_FCACHE_SIZE, false);
}

/* The first place of a stat key's cell (within a CPU's part; scell_take tries the next too). */
static uint32_t cell_index(const struct tank_stat_key *k)
{
	return words_index(k, sizeof(*k) / 8, 0, TANK_SCELL_SIZE, true);
}

/* A flow whose cache entry another flow takes over: what the entry counted goes to its flow
 * (the flow table's own entry, read here without any reader adding pending counts). */
static void test_flow_cache_takeover(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.0/24") };
	struct np_port_range ports[] = { { IPPROTO_UDP, 53, 53 } };
	struct np_rule r = { peers, 1, NULL, 0, ports, 1 };
	struct tank_flow_key k1 = udp4_key("198.18.9.1", 40000, 53), k2;
	uint16_t p2 = 40001;
	struct tank_flow f1;
	struct np_bpf_stats2 s;
	cpu_set_t one, was;

	REQUIRE_READY();
	/* a second pod port whose replies land on the same entry as the first one's */
	for (k2 = udp4_key("198.18.9.1", p2, 53); fc_index(&k2, ING) != fc_index(&k1, ING);
	     k2 = udp4_key("198.18.9.1", ++p2, 53))
		assert_true(p2 < 60000);
	/* one CPU: both flows' replies meet in its cache */
	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);

	policy1(EG, &r, 1, true, false);
	{
		struct pk q1 = udp(AF_INET, EG, "198.18.9.1", 40000, 53);
		struct pk a1 = udp(AF_INET, ING, "198.18.9.1", 40000, 53);
		struct pk q2 = udp(AF_INET, EG, "198.18.9.1", p2, 53);
		struct pk a2 = udp(AF_INET, ING, "198.18.9.1", p2, 53);
		struct frame f = mk(&a1);

		EXPECT(EG, &q1, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
		EXPECT(ING, &a1, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY); /* fills the entry */
		assert_int_equal(run_n(ING, &f, 50), PASS);                  /* counted in it */
		assert_int_equal(bpf_map__lookup_elem(t.skel->maps.tank_flows_v1, &k1, sizeof(k1),
						      &f1, sizeof(f1), 0),
				 0);
		assert_int_equal(f1.count[ING].packets, 1); /* the 50 wait in the cache */
		EXPECT(EG, &q2, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
		EXPECT(ING, &a2, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY); /* takes the entry */
	}
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
	assert_int_equal(bpf_map__lookup_elem(t.skel->maps.tank_flows_v1, &k1, sizeof(k1), &f1,
					      sizeof(f1), 0),
			 0);
	assert_int_equal(f1.count[ING].packets, 51);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	assert_int_equal(s.pod[ING].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 52);
	np_bpf_stats2_free(&s);
}

/*
 * Two stat keys of a pod whose cells have the same first place (found with the program's hash):
 * both get a cell, the second in the next place, so the fast path counts both flows.
 */
static void test_cell_collision(void **state _unused_)
{
	enum { N = 200 };
	struct np_addr peers[] = { A("198.18.9.0/24") };
	struct np_port_range ports[N][2];
	struct np_rule rules[N];
	uint32_t udp_at[N + 1], tcp_at[N + 1];
	int j = 0, k = 0;
	cpu_set_t one, was;

	REQUIRE_READY();
	/* rule r (from 1) allows UDP and TCP port 1000 + r: its packets' stat keys have rule r;
	 * a UDP key and a TCP key whose first places meet (rule ids in a row never do) */
	for (int r = 1; r <= N; r++) {
		struct tank_stat_key sk = { .slot = SLOT, .dir = EG, .family = TANK_FAM_IPV4,
					    .proto = TANK_PROTO_UDP, .verdict = TANK_VERDICT_PASS,
					    .reason = TANK_REASON_RULE, .rule = (uint32_t)r };

		udp_at[r] = cell_index(&sk);
		sk.proto = TANK_PROTO_TCP;
		tcp_at[r] = cell_index(&sk);
	}
	for (int a = 1; a <= N && !k; a++)
		for (int b = 1; b <= N && !k; b++)
			if (udp_at[a] == tcp_at[b]) {
				j = a;
				k = b;
			}
	assert_true(k > 0); /* 40,000 pairs over 1,024 places: dozens meet */
	for (int r = 0; r < N; r++) {
		uint16_t port = (uint16_t)(1001 + r);

		ports[r][0] = (struct np_port_range){ IPPROTO_UDP, port, port };
		ports[r][1] = (struct np_port_range){ IPPROTO_TCP, port, port };
		rules[r] = (struct np_rule){ peers, 1, NULL, 0, ports[r], 2 };
	}
	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	policy1(EG, rules, N, true, false);
	for (int x = 0; x < 2; x++) {
		struct pk q = x ? tcp4(EG, "198.18.9.1", 40000, (uint16_t)(1000 + k), TCP_ACK)
				: udp(AF_INET, EG, "198.18.9.1", 40000, (uint16_t)(1000 + j));
		struct frame f = mk(&q);

		EXPECT(EG, &q, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE); /* opens the flow */
		EXPECT(EG, &q, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE); /* fills the cache */
		assert_int_equal(run_n(EG, &f, 3), PASS);                   /* the fast path */
	}
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
	assert_int_equal(cells_of(EG, TANK_FAM_IPV4, TANK_PROTO_UDP, TANK_VERDICT_PASS,
				  TANK_REASON_RULE),
			 3);
	assert_int_equal(cells_of(EG, TANK_FAM_IPV4, TANK_PROTO_TCP, TANK_VERDICT_PASS,
				  TANK_REASON_RULE),
			 3);
}

/* TCP: an allowed connection, its replies, a FIN; a policy change reaches it at the next packet. */
static void test_policy_change_reaches_flows(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.1/32") };
	struct np_port_range ports[] = { { IPPROTO_TCP, 443, 443 } };
	struct np_rule r = { peers, 1, NULL, 0, ports, 1 };
	struct pk syn = tcp4(EG, "198.18.9.1", 40000, 443, TCP_SYN);
	struct pk synack = tcp4(ING, "198.18.9.1", 40000, 443, TCP_SYN | TCP_ACK);
	struct pk ack = tcp4(EG, "198.18.9.1", 40000, 443, TCP_ACK);

	REQUIRE_READY();
	policy1(EG, &r, 1, true, false);
	EXPECT(EG, &syn, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &synack, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(EG, &ack, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	/* the same policy again: verdicts re-checked, still allowed */
	policy1(EG, &r, 1, true, false);
	EXPECT(EG, &ack, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	/* now deny-all both ways: the next packet is dropped and the flow is gone */
	policy1(EG, NULL, 0, true, false);
	EXPECT(EG, &ack, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(ING, &synack, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
}

static void test_icmp_echo(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.0/24"), A("2001:db8:9::/64") };
	struct np_port_range ports[] = { { IPPROTO_ICMP, 0, 0 }, { IPPROTO_ICMPV6, 0, 0 } };
	struct np_rule r = { peers, 2, NULL, 0, ports, 2 };
	struct pk req = icmp(AF_INET, EG, "198.18.9.1", 8, 7);
	struct pk rep = icmp(AF_INET, ING, "198.18.9.1", 0, 7);
	struct pk rep_other = icmp(AF_INET, ING, "198.18.9.1", 0, 8);
	struct pk req_in = icmp(AF_INET, ING, "198.18.9.1", 8, 7);
	struct pk req6 = icmp(AF_INET6, EG, "2001:db8:9::1", 128, 7);
	struct pk rep6 = icmp(AF_INET6, ING, "2001:db8:9::1", 129, 7);
	struct pk req6_in = icmp(AF_INET6, ING, "2001:db8:9::1", 128, 7);

	REQUIRE_READY();
	policy1(EG, &r, 1, true, false);
	EXPECT(EG, &req, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &rep, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(ING, &rep_other, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	/* a request from the peer with the same identifier is not a reply */
	EXPECT(ING, &req_in, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(EG, &req6, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &rep6, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(ING, &req6_in, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
}

/* Neighbour discovery, MLD and ARP pass whatever the policy. */
static void test_nd_arp_always(void **state _unused_)
{
	static const uint8_t nd[] = { 133, 134, 135, 136, 137, 130, 143 };
	struct frame arp = mk_arp();

	REQUIRE_READY();
	policy1(ING, NULL, 0, true, false);
	for (size_t i = 0; i < ARRAY_SIZE(nd); i++) {
		struct pk in = icmp(AF_INET6, ING, "fe80::1", nd[i], 0);
		struct pk out = icmp(AF_INET6, EG, "ff02::1:ff00:1", nd[i], 0);

		in.dst = out.src = "fe80::2";
		EXPECT(ING, &in, PASS, TANK_VERDICT_PASS, TANK_REASON_ND);
		EXPECT(EG, &out, PASS, TANK_VERDICT_PASS, TANK_REASON_ND);
	}
	assert_int_equal(run_n(ING, &arp, 1), PASS);
	assert_int_equal(run_n(EG, &arp, 1), PASS);
	assert_int_equal(count_of(ING, TANK_FAM_OTHER, TANK_PROTO_OTHER, TANK_VERDICT_PASS,
				  TANK_REASON_NON_IP),
			 1);
	{
		struct pk ping = icmp(AF_INET6, ING, "2001:db8:9::1", 128, 1);

		EXPECT(ING, &ping, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	}
}

static void test_ipv6_except(void **state _unused_)
{
	struct np_addr peers[] = { A("2001:db8:1::/48") }, ex[] = { A("2001:db8:1:5::/64") };
	struct np_port_range ports[] = { { IPPROTO_TCP, 443, 443 } };
	struct np_rule r = { peers, 1, ex, 1, ports, 1 };
	struct pk ok = { .af = AF_INET6, .src = "2001:db8:1:6::1", .dst = POD6,
			 .proto = IPPROTO_TCP, .sport = 40000, .dport = 443, .flags = TCP_SYN };
	struct pk ex_pk = ok, out = ok, port = ok;

	REQUIRE_READY();
	ex_pk.src = "2001:db8:1:5::1";
	out.src = "2001:db8:2::1";
	port.dport = 444;
	policy1(ING, &r, 1, false, false);
	EXPECT(ING, &ok, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &ex_pk, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(ING, &out, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(ING, &port, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	ok.hbh = true; /* an extension header before TCP */
	ok.sport = 40001;
	EXPECT(ING, &ok, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
}

static void fragments(int af)
{
	const char *peer = af == AF_INET ? "198.18.0.7" : "2001:db8:1::7";
	struct np_addr peers[] = { A(af == AF_INET ? "198.18.0.0/24" : "2001:db8:1::/64") };
	struct np_port_range ports[] = { { IPPROTO_UDP, 5000, 5000 } };
	struct np_port_range all_udp[] = { { IPPROTO_UDP, 0, 65535 } };
	struct np_rule r = { peers, 1, NULL, 0, ports, 1 };
	struct np_rule r_all = { peers, 1, NULL, 0, all_udp, 1 };
	struct pk first = udp(af, ING, peer, 5000, 40000), later, stray, bad_first, bad_later;

	first.frag = 1;
	first.frag_id = 99;
	later = first;
	later.frag = 2;
	stray = later;
	stray.frag_id = 100;
	bad_first = udp(af, ING, peer, 6000, 40000);
	bad_first.frag = 1;
	bad_first.frag_id = 101;
	bad_later = bad_first;
	bad_later.frag = 2;

	policy1(ING, &r, 1, false, false);
	EXPECT(ING, &first, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	/* the ports of its first fragment */
	EXPECT(ING, &later, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	/* no first fragment seen, and only a port rule */
	EXPECT(ING, &stray, DROP, TANK_VERDICT_DROP, TANK_REASON_FRAGMENT);
	EXPECT(ING, &bad_first, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(ING, &bad_later, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	/* a rule for all of UDP matches without ports */
	policy1(ING, &r_all, 1, false, false);
	stray.frag_id = 102;
	EXPECT(ING, &stray, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	/* unrestricted: anything */
	policy(NULL);
	stray.frag_id = 103;
	EXPECT(ING, &stray, PASS, TANK_VERDICT_PASS, TANK_REASON_NO_POLICY);
}

static void test_fragments_v4(void **state _unused_)
{
	REQUIRE_READY();
	fragments(AF_INET);
}

static void test_fragments_v6(void **state _unused_)
{
	REQUIRE_READY();
	fragments(AF_INET6);
}

static void test_parse_errors(void **state _unused_)
{
	struct pk p = tcp4(ING, "198.18.0.7", 80, 40000, TCP_SYN), q;

	REQUIRE_READY();
	policy1(ING, NULL, 0, false, false);
	/* (BPF_PROG_RUN refuses frames shorter than an IP header, so no cut inside it) */
	q = p;
	q.bad_ihl = true; /* IPv4 header length 16 */
	EXPECT(ING, &q, DROP, TANK_VERDICT_DROP, TANK_REASON_PARSE);
	q = p;
	q.cut = 14 + 20 + 6; /* ports, but no TCP flags */
	EXPECT(ING, &q, DROP, TANK_VERDICT_DROP, TANK_REASON_PARSE);
	q = p;
	q.af = AF_INET6;
	q.src = "2001:db8::7";
	q.dst = POD6;
	q.cut = 14 + 40 + 2; /* half the ports */
	EXPECT(ING, &q, DROP, TANK_VERDICT_DROP, TANK_REASON_PARSE);
	q.cut = 0;
	q.hbh = true;
	q.frag = 1; /* first fragment, but its transport header cut */
	q.cut = 14 + 40 + 8 + 8 + 3;
	EXPECT(ING, &q, DROP, TANK_VERDICT_DROP, TANK_REASON_PARSE);
	/* IP behind a VLAN tag would slip past the policy */
	q = p;
	q.vlan = true;
	{
		struct frame f = mk(&q);
		uint64_t before = count_of(ING, TANK_FAM_OTHER, TANK_PROTO_OTHER, TANK_VERDICT_DROP,
					   TANK_REASON_PARSE);

		assert_int_equal(run_n(ING, &f, 1), DROP);
		assert_int_equal(count_of(ING, TANK_FAM_OTHER, TANK_PROTO_OTHER, TANK_VERDICT_DROP,
					  TANK_REASON_PARSE),
				 before + 1);
	}
	/* the unrestricted direction lets them be */
	q = tcp4(EG, "198.18.0.7", 40000, 80, TCP_SYN);
	q.bad_ihl = true;
	EXPECT(EG, &q, PASS, TANK_VERDICT_PASS, TANK_REASON_NO_POLICY);
}

/* ICMP errors about an allowed flow pass as related; others need a rule. */
static void test_related_icmp_errors(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.0/24"), A("2001:db8:9::/64") };
	struct np_port_range ports[] = { { IPPROTO_UDP, 53, 53 } };
	struct np_rule r = { peers, 2, NULL, 0, ports, 1 };
	struct pk q4 = udp(AF_INET, EG, "198.18.9.1", 40000, 53);
	struct pk q6 = udp(AF_INET6, EG, "2001:db8:9::1", 40000, 53);
	struct pk unknown = udp(AF_INET, EG, "198.18.9.1", 40999, 53);
	struct pk err4 = icmp(AF_INET, ING, "198.18.9.254", 3, 0);
	struct pk err6 = icmp(AF_INET6, ING, "2001:db8:9::fe", 2, 0); /* packet too big */
	struct pk err_unknown = err4;

	REQUIRE_READY();
	err4.icmp_code = 3;
	err4.quote = &q4;
	err6.quote = &q6;
	err_unknown.quote = &unknown;
	policy1(EG, &r, 1, true, false);
	EXPECT(EG, &q4, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(EG, &q6, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &err4, PASS, TANK_VERDICT_PASS, TANK_REASON_RELATED);
	EXPECT(ING, &err6, PASS, TANK_VERDICT_PASS, TANK_REASON_RELATED);
	EXPECT(ING, &err_unknown, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
}

struct ev_seen {
	int n;
	struct tank_event last, first;
};

static int ev_cb(const struct tank_event *e, void *data)
{
	struct ev_seen *s = data;

	if (s->n++ == 0)
		s->first = *e;
	s->last = *e;
	return 0;
}

static struct ev_seen events(void)
{
	struct ev_seen s = {};

	while (np_bpf_events_poll(t.bpf, ev_cb, &s, 0) > 0)
		;
	return s;
}

/* Audit counts would-be drops and passes them; the mode switches at runtime. */
static void test_audit_runtime(void **state _unused_)
{
	struct pk in = tcp4(ING, "198.18.0.7", 22, 40000, TCP_SYN);
	struct pk in2 = tcp4(ING, "198.18.0.7", 22, 40001, TCP_SYN);
	struct pk reply = tcp4(EG, "198.18.0.7", 22, 40000, TCP_SYN | TCP_ACK);
	struct np_bpf_stats2 s;
	struct ev_seen ev;

	REQUIRE_READY();
	policy1(ING, NULL, 0, true, true);
	EXPECT(ING, &in, PASS, TANK_VERDICT_AUDIT, TANK_REASON_POLICY);
	/* the audited flow is recorded: its reply passes as such, the next packet audited again */
	EXPECT(EG, &reply, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	EXPECT(ING, &in, PASS, TANK_VERDICT_AUDIT, TANK_REASON_POLICY);
	ev = events();
	assert_int_equal(ev.n, 2);
	assert_int_equal(ev.first.verdict, TANK_VERDICT_AUDIT);
	assert_int_equal(ev.first.reason, TANK_REASON_POLICY);
	assert_int_equal(ev.first.slot, SLOT);
	assert_int_equal(ev.first.dir, ING);
	assert_int_equal(ev.first.proto, IPPROTO_TCP);
	assert_int_equal(ntohs(ev.first.dport), 22);
	assert_int_equal(ntohs(ev.first.sport), 40000);
	assert_int_equal(ev.first.family, TANK_FAM_IPV4);
	assert_int_equal(ev.first.saddr[0], 198);
	assert_int_equal(ev.first.len, mk(&in).len);

	/* enforce, without touching the policy */
	assert_int_equal(np_bpf_policy_mode_set(t.bpf, SLOT, false, NULL), 0);
	EXPECT(ING, &in, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	EXPECT(ING, &in2, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
	assert_int_equal(np_bpf_policy_mode_set(t.bpf, SLOT, true, NULL), 0);
	EXPECT(ING, &in2, PASS, TANK_VERDICT_AUDIT, TANK_REASON_POLICY);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	assert_int_equal(s.pod[ING].audit[TANK_REASON_POLICY].packets, 3);
	assert_int_equal(s.pod[ING].drops[TANK_REASON_POLICY].packets, 2);
	np_bpf_stats2_free(&s);
	ev = events();
	assert_int_equal(ev.n, 3);
	assert_int_equal(ev.first.verdict, TANK_VERDICT_DROP);
	assert_int_equal(ev.last.verdict, TANK_VERDICT_AUDIT);
}

static void test_events_rate_limit(void **state _unused_)
{
	struct pk in = tcp4(ING, "198.18.0.7", 22, 40000, TCP_SYN);
	struct frame f = mk(&in);
	struct tank_gstat g;
	struct ev_seen ev;

	REQUIRE_READY();
	policy1(ING, NULL, 0, false, false);
	assert_int_equal(np_bpf_events_limit_set(t.bpf, SLOT, 0, 10, 5, NULL), 0);
	assert_int_equal(run_n(ING, &f, 50), DROP);
	ev = events();
	g = gstat();
	assert_int_equal(ev.n, 5); /* the burst */
	assert_int_equal(g.ev_sent, 5);
	assert_int_equal(g.ev_suppressed, 45);
	assert_int_equal(count_of(ING, TANK_FAM_IPV4, TANK_PROTO_TCP, TANK_VERDICT_DROP,
				  TANK_REASON_POLICY),
			 50);
	/* 10 per second: a token after 100 ms; that event reports what was suppressed */
	usleep(250 * 1000);
	assert_int_equal(run_n(ING, &f, 1), DROP);
	ev = events();
	assert_int_equal(ev.n, 1);
	assert_int_equal(ev.first.suppressed, 45);

	/* sampling: 1 in a million drops is a candidate */
	assert_int_equal(np_bpf_events_limit_set(t.bpf, SLOT, 1000000, 100000, 100000, NULL), 0);
	assert_int_equal(run_n(ING, &f, 200), DROP);
	ev = events();
	assert_true(ev.n <= 1);
	assert_true(gstat().ev_suppressed >= 45 + 199);
}

static void test_events_lost(void **state _unused_)
{
	struct pk in = tcp4(ING, "198.18.0.7", 22, 40000, TCP_SYN);
	struct frame f = mk(&in);
	struct np_bpf_global g;
	int n;

	REQUIRE_READY();
	policy1(ING, NULL, 0, false, false);
	assert_int_equal(np_bpf_events_limit_set(t.bpf, SLOT, 0, 1000000, 1000000, NULL), 0);
	/* the ring holds about 2,900 records of 88 bytes */
	assert_int_equal(run_n(ING, &f, 5000), DROP);
	assert_int_equal(np_bpf_global_stats(t.bpf, &g, NULL), 0);
	print_message("events: %llu sent, %llu lost\n", (unsigned long long)g.ev_sent,
		      (unsigned long long)g.ev_lost);
	assert_true(g.ev_lost > 0);
	assert_int_equal(g.ev_sent + g.ev_lost, 5000);
	n = drain();
	assert_int_equal((uint64_t)n, g.ev_sent);
}

/* Explain runs the real program: the same answers, nothing recorded. */
static void test_explain(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.0.0/24"), A("2001:db8:1::/64") };
	struct np_port_range ports[] = { { IPPROTO_TCP, 80, 80 }, { IPPROTO_ICMP, 0, 0 } };
	struct np_rule r = { peers, 2, NULL, 0, ports, 2 };
	struct np_addr in = A("198.18.0.7"), out = A("198.18.1.7"), in6 = A("2001:db8:1::7");
	struct np_bpf_global g0, g1;
	struct np_bpf_stats2 s;
	struct np_verdict v;
	struct diag d = {};

	REQUIRE_READY();
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &in, 80, IPPROTO_TCP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_PASS);
	assert_int_equal(v.reason, TANK_REASON_NO_POLICY);
	assert_int_equal(v.rule, TANK_RULE_NO_POLICY);

	policy1(ING, &r, 1, false, false);
	assert_int_equal(np_bpf_global_stats(t.bpf, &g0, NULL), 0);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &in, 80, IPPROTO_TCP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_PASS);
	assert_int_equal(v.reason, TANK_REASON_RULE);
	assert_int_equal(v.rule, 1);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &in6, 80, IPPROTO_TCP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_PASS);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &in, 81, IPPROTO_TCP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_DROP);
	assert_int_equal(v.reason, TANK_REASON_POLICY);
	assert_int_equal(v.rule, TANK_RULE_NONE);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &out, 80, IPPROTO_TCP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_DROP);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &in, 0, IPPROTO_ICMP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_PASS);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &in, 53, IPPROTO_UDP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_DROP);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, EG, &out, 1, IPPROTO_UDP, &v, &d), 0);
	assert_int_equal(v.reason, TANK_REASON_NO_POLICY);
	assert_int_equal(np_bpf_policy_mode_set(t.bpf, SLOT, true, NULL), 0);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &out, 80, IPPROTO_TCP, &v, &d), 0);
	assert_int_equal(v.verdict, TANK_VERDICT_AUDIT);

	/* nothing counted, no flow, no event */
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	for (int dir = 0; dir < TANK_DIR_MAX; dir++)
		for (int f = 0; f < TANK_FAM_MAX; f++)
			for (int p = 0; p < TANK_PROTO_MAX; p++)
				assert_int_equal(s.pod[dir].by[f][p].packets, 0);
	assert_int_equal(s.n_hits, 0);
	np_bpf_stats2_free(&s);
	assert_int_equal(np_bpf_global_stats(t.bpf, &g1, NULL), 0);
	assert_int_equal(g1.flows_live, g0.flows_live);
	assert_int_equal(g1.ev_sent + g1.ev_suppressed, g0.ev_sent + g0.ev_suppressed);
	assert_int_equal(np_bpf_verdict_test(t.bpf, 0, ING, &in, 80, IPPROTO_TCP, &v, &d), -ERANGE);
}

/* The kernel's answer equals the compiler's for random peers of a random-ish policy. */
static void test_explain_matches_compiler(void **state _unused_)
{
	struct np_addr p1[] = { A("198.18.0.0/16"), A("2001:db8::/40") };
	struct np_addr e1[] = { A("198.18.128.0/17"), A("2001:db8:80::/41") };
	struct np_addr p2[] = { A("198.18.200.0/24"), A("2001:db8:99::/48") };
	struct np_addr p3[] = { A("198.18.200.128/25") };
	struct np_port_range r1[] = { { IPPROTO_TCP, 1, 1023 } };
	struct np_port_range r2[] = { { IPPROTO_UDP, 53, 53 }, { IPPROTO_TCP, 8080, 8090 } };
	struct np_rule rules[] = { { p1, 2, e1, 2, r1, 1 }, { p2, 2, NULL, 0, r2, 2 },
				   { p3, 1, NULL, 0, NULL, 0 } };
	struct np_policy p = { .dir[EG] = { true, rules, 3 } };
	struct np_policy_compiled *c = NULL;
	uint64_t x = 12345;

	REQUIRE_READY();
	policy(&p);
	assert_int_equal(np_policy_compile(&p, &c, NULL), 0);
	for (int i = 0; i < 2000; i++) {
		struct np_addr a = {};
		struct np_verdict v;
		uint32_t rule = 0;
		uint8_t proto;
		uint16_t port;
		int want;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		proto = (x >> 60) & 1 ? IPPROTO_TCP : IPPROTO_UDP;
		port = (uint16_t)((x >> 20) % 9000);
		if ((x >> 59) & 1) {
			a.family = AF_INET;
			a.prefix = 32;
			a.v4.s_addr = htonl(0xc6120000u | (uint32_t)((x >> 24) & 0xffff));
		} else {
			a.family = AF_INET6;
			a.prefix = 128;
			inet_pton(AF_INET6, "2001:db8::", &a.v6);
			a.v6.s6_addr[5] = (uint8_t)(x >> 32);
			a.v6.s6_addr[15] = (uint8_t)(x >> 40);
		}
		want = np_policy_eval(c, EG, &a, proto, port, &rule);
		assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, EG, &a, port, proto, &v, NULL),
				 0);
		assert_int_equal(v.verdict == TANK_VERDICT_PASS, want);
		if (want)
			assert_int_equal(v.rule, rule);
	}
	np_policy_compiled_free(c);
}

/* ---- large policies: host prefixes in an exact-match hash --------------------------------- */

/* A policy with n host peers (/32 and /128, TANK_POLX_MIN or more: they go to tank_polx_v1),
 * inside and beside CIDRs, some excepted; rules with inline ports, with more than
 * TANK_POL_INLINE ranges (PORT entries) and without ports. `salt` varies the ports. */
struct big_policy {
	struct np_addr *peers, *excepts;
	struct np_port_range *ports;
	struct np_rule *rules;
	struct np_policy p;
};

static void big_policy_make(struct big_policy *b, size_t n, int dir, unsigned int salt)
{
	size_t nr = n + 3;

	b->peers = calloc(nr, sizeof(*b->peers));
	b->excepts = calloc(2, sizeof(*b->excepts));
	b->ports = calloc(nr * 6, sizeof(*b->ports));
	b->rules = calloc(nr, sizeof(*b->rules));
	assert_non_null(b->peers);
	assert_non_null(b->excepts);
	assert_non_null(b->ports);
	assert_non_null(b->rules);
	/* rule 1: 198.18.32.0/20 on 1-1023/tcp, except a /32 and a /26 inside it */
	b->peers[0] = (struct np_addr)A("198.18.32.0/20");
	b->excepts[0] = (struct np_addr)A("198.18.33.7/32");
	b->excepts[1] = (struct np_addr)A("198.18.34.64/26");
	b->ports[0] = (struct np_port_range){ IPPROTO_TCP, 1, 1023 };
	b->rules[0] = (struct np_rule){ &b->peers[0], 1, b->excepts, 2, &b->ports[0], 1 };
	/* rule 2: 2001:db8:40::/44, every port */
	b->peers[1] = (struct np_addr)A("2001:db8:40::/44");
	b->rules[1] = (struct np_rule){ &b->peers[1], 1, NULL, 0, NULL, 0 };
	/* rule 3: 198.18.36.0/24, six ranges (PORT entries) */
	b->peers[2] = (struct np_addr)A("198.18.36.0/24");
	for (int k = 0; k < 6; k++)
		b->ports[1 + k] = (struct np_port_range){ k % 2 ? IPPROTO_UDP : IPPROTO_TCP,
							  (uint16_t)(2000 + 100 * k + salt),
							  (uint16_t)(2050 + 100 * k + salt) };
	b->rules[2] = (struct np_rule){ &b->peers[2], 1, NULL, 0, &b->ports[1], 6 };
	/* hosts: IPv4 in 198.18.32.0-198.18.39.255 (some inside the CIDRs above, some excepted),
	 * IPv6 in 2001:db8:40::/43 (half inside rule 2's /44) */
	for (size_t i = 0; i < n; i++) {
		struct np_addr *a = &b->peers[3 + i];
		struct np_port_range *pr = &b->ports[7 + i * 6];
		size_t np = i % 7 == 0 ? 5 : i % 5 == 0 ? 0 : 1 + i % 3;

		if (i % 3 == 2) {
			a->family = AF_INET6;
			a->prefix = 128;
			inet_pton(AF_INET6, "2001:db8:40::", &a->v6);
			a->v6.s6_addr[5] = (uint8_t)((i & 1) << 4);
			a->v6.s6_addr[14] = (uint8_t)(i >> 8);
			a->v6.s6_addr[15] = (uint8_t)i;
		} else {
			a->family = AF_INET;
			a->prefix = 32;
			a->v4.s_addr = htonl(0xc6122000u + (uint32_t)((i * 37 + salt) % 2048));
		}
		for (size_t k = 0; k < np; k++)
			pr[k] = (struct np_port_range){ k % 2 ? IPPROTO_UDP : IPPROTO_TCP,
							(uint16_t)(1 + (i * 13 + k * 101 + salt) % 3000),
							(uint16_t)(1 + (i * 13 + k * 101 + salt) % 3000 +
								   k * 40) };
		b->rules[3 + i] = (struct np_rule){ a, 1, NULL, 0, np ? pr : NULL, np };
	}
	memset(&b->p, 0, sizeof(b->p));
	b->p.dir[dir] = (struct np_policy_dir){ true, b->rules, nr };
}

static void big_policy_free(struct big_policy *b)
{
	free(b->peers);
	free(b->excepts);
	free(b->ports);
	free(b->rules);
}

/* The program's verdicts (explain mode) against the compiler's reference for random packets
 * and for every host peer of the policy. */
static void verdicts_match(const struct big_policy *b, int dir, uint64_t seed, int n)
{
	struct np_policy_compiled *c = NULL;
	size_t nr = b->p.dir[dir].n_rules;

	assert_int_equal(np_policy_compile(&b->p, &c, NULL), 0);
	for (int i = 0; i < n + (int)nr; i++) {
		struct np_addr a = {};
		struct np_verdict v;
		uint32_t rule = 0;
		uint8_t proto;
		uint16_t port;
		int want;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		proto = (seed >> 60) & 1 ? IPPROTO_TCP : IPPROTO_UDP;
		port = (uint16_t)((seed >> 20) % 3200);
		if (i >= n) {
			a = b->rules[i - n].peers[0]; /* every peer itself: hosts hit the hash */
			if (a.family == AF_INET)
				a.prefix = 32;
			else
				a.prefix = 128;
		} else if ((seed >> 59) & 1) {
			a.family = AF_INET;
			a.prefix = 32;
			a.v4.s_addr = htonl(0xc6122000u | (uint32_t)((seed >> 24) & 0x7ff));
		} else {
			a.family = AF_INET6;
			a.prefix = 128;
			inet_pton(AF_INET6, "2001:db8:40::", &a.v6);
			a.v6.s6_addr[5] = (uint8_t)((seed >> 32) & 0x10);
			a.v6.s6_addr[14] = (uint8_t)((seed >> 40) & 1);
			a.v6.s6_addr[15] = (uint8_t)(seed >> 48);
		}
		want = np_policy_eval(c, dir, &a, proto, port, &rule);
		assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, dir, &a, port, proto, &v, NULL),
				 0);
		if ((v.verdict == TANK_VERDICT_PASS) != want || (want && v.rule != rule)) {
			char buf[64];

			np_addr_format(&a, false, buf, sizeof(buf));
			fail_msg("%s %u/%u: program %d rule %u, compiler %d rule %u", buf, port,
				 proto, v.verdict, v.rule, want, rule);
		}
	}
	np_policy_compiled_free(c);
}

static bool polx_present(uint32_t xi)
{
	uint32_t id;

	return bpf_map__lookup_elem(t.skel->maps.tank_polx_v1, &xi, sizeof(xi), &id, sizeof(id),
				    0) == 0;
}

static void test_large_policy_exact_hash(void **state _unused_)
{
	struct big_policy b1, b2, small;
	struct np_verdict v;
	struct np_addr host;
	bool found = false;
	char buf[64];

	REQUIRE_READY();
	big_policy_make(&b1, 300, ING, 0);
	big_policy_make(&b2, 400, EG, 7);
	big_policy_make(&small, 20, ING, 3);

	policy(&b1.p);
	assert_true(polx_present(SLOT * 2) || polx_present(SLOT * 2 + 1));
	verdicts_match(&b1, ING, 1, 1500);
	/* a real packet from a host peer with a port of its rule passes under that rule */
	for (size_t i = 3; i < 3 + 300; i++) {
		if (b1.rules[i].peers[0].family != AF_INET || b1.rules[i].n_ports != 1 ||
		    b1.rules[i].ports[0].proto != IPPROTO_TCP)
			continue;
		host = b1.rules[i].peers[0];
		np_addr_format(&host, false, buf, sizeof(buf));
		assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &host,
						     b1.rules[i].ports[0].lo, IPPROTO_TCP, &v,
						     NULL),
				 0);
		if (v.verdict == TANK_VERDICT_PASS) {
			struct pk p = tcp4(ING, buf, b1.rules[i].ports[0].lo, 40000, TCP_SYN);

			found = true;
			EXPECT(ING, &p, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
			p.dport = 65000; /* no rule has that port */
			p.sport = 40001;
			EXPECT(ING, &p, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);
			break;
		}
	}
	assert_true(found); /* some host rule allowed its peer and port */

	/* swapped for another large policy (the other hash), then a small one, then back */
	policy(&b2.p);
	assert_true(polx_present(SLOT * 2) && polx_present(SLOT * 2 + 1));
	verdicts_match(&b2, EG, 2, 1500);
	policy(&small.p);
	verdicts_match(&small, ING, 3, 500);
	policy(&b1.p);
	verdicts_match(&b1, ING, 4, 500);

	/* no policy: the trie and both hashes go */
	policy(NULL);
	assert_false(polx_present(SLOT * 2));
	assert_false(polx_present(SLOT * 2 + 1));
	big_policy_free(&b1);
	big_policy_free(&b2);
	big_policy_free(&small);
}

/* ---- atomic swap ---------------------------------------------------------------------------- */

static atomic_bool swap_stop;
static atomic_long swaps;

static void *swapper(void *arg _unused_)
{
	struct np_addr pa[] = { A("198.18.0.0/16") }, pb[] = { A("198.18.7.0/24") };
	struct np_addr pb2[] = { A("2001:db8::/32") };
	struct np_port_range ra[] = { { IPPROTO_TCP, 80, 80 } };
	struct np_port_range rb[] = { { IPPROTO_UDP, 53, 53 }, { IPPROTO_TCP, 1, 1000 } };
	struct np_rule a = { pa, 1, NULL, 0, ra, 1 };
	struct np_rule b[] = { { pb2, 1, NULL, 0, NULL, 0 }, { pb, 1, NULL, 0, rb, 2 } };
	struct np_policy P1 = { .dir[ING] = { true, &a, 1 }, .dir[EG] = { true, NULL, 0 } };
	struct np_policy P2 = { .dir[ING] = { true, b, 2 } };

	while (!atomic_load(&swap_stop)) {
		long n = atomic_fetch_add(&swaps, 1);

		if (np_bpf_policy_set(t.bpf, SLOT, n % 2 ? &P2 : &P1, NULL) < 0)
			return (void *)1;
	}
	return NULL;
}

/* Two policies that both allow a packet, swapped in a tight loop: it is never dropped. */
static void test_atomic_swap(void **state _unused_)
{
	struct pk p = tcp4(ING, "198.18.7.7", 80, 40000, TCP_SYN);
	struct frame same = mk(&p);
	struct np_addr peer = A("198.18.7.7");
	struct timespec t0, now;
	pthread_t th;
	long runs = 0, drops = 0;
	void *res;

	REQUIRE_READY();
	atomic_store(&swap_stop, false);
	atomic_store(&swaps, 0);
	assert_int_equal(pthread_create(&th, NULL, swapper, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct np_verdict v;
		struct frame f;

		/* an established flow (cached verdict re-checked after each swap) */
		drops += run_n(ING, &same, 1) != PASS;
		/* a new flow each time */
		p.sport = (uint16_t)(1024 + runs % 60000);
		f = mk(&p);
		drops += run_n(ING, &f, 1) != PASS;
		/* explain */
		assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, ING, &peer, 80, IPPROTO_TCP, &v,
						     NULL),
				 0);
		drops += v.verdict != TANK_VERDICT_PASS;
		runs += 3;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 2);
	atomic_store(&swap_stop, true);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_null(res);
	print_message("%ld swaps, %ld packets, %ld dropped\n", atomic_load(&swaps), runs, drops);
	/* each swap waits for an RCU grace period in the kernel (map-in-map update) */
	assert_true(atomic_load(&swaps) > 20);
	assert_int_equal(drops, 0);
	assert_int_equal(count_of(ING, TANK_FAM_IPV4, TANK_PROTO_TCP, TANK_VERDICT_DROP,
				  TANK_REASON_POLICY),
			 0);
}

/* ---- per NIC, slot reuse, tombstones ------------------------------------------------------- */

static void test_per_nic_counters(void **state _unused_)
{
	struct pk a = udp(AF_INET, EG, "198.18.9.1", 40000, 53);
	struct np_bpf_stats2 s;

	REQUIRE_READY();
	assert_int_equal(run(EG, &a), PASS);
	set_if(1, "eth1"); /* the same ifindex now plays the pod's second NIC */
	assert_int_equal(run(EG, &a), PASS);
	assert_int_equal(run(EG, &a), PASS);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	assert_int_equal(s.n_nics, 2);
	assert_string_equal(s.nic[1].name, "eth1");
	assert_int_equal(s.nic[0].dir[EG].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 1);
	assert_int_equal(s.nic[1].dir[EG].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 2);
	assert_int_equal(s.pod[EG].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 3);
	np_bpf_stats2_free(&s);
}

static void test_unregister_tombstone_reuse(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.9.0/24") };
	struct np_rule r = { peers, 1, NULL, 0, NULL, 0 };
	struct pk q = udp(AF_INET, EG, "198.18.9.1", 40000, 53);
	struct pk reply = udp(AF_INET, ING, "198.18.9.1", 40000, 53);
	struct tank_pod_info info;
	struct tank_pod_stats v1;
	struct tank_tomb tomb;
	struct np_verdict v;
	struct np_addr peer = A("198.18.9.1");

	REQUIRE_READY();
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), 0);
	policy1(EG, &r, 1, true, false);
	EXPECT(EG, &q, PASS, TANK_VERDICT_PASS, TANK_REASON_RULE);
	EXPECT(ING, &reply, PASS, TANK_VERDICT_PASS, TANK_REASON_REPLY);
	q.sport = 40001;
	EXPECT(ING, &q, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);

	assert_int_equal(np_bpf_pod_unregister(t.bpf, info.uid, SLOT, NULL, 0, NULL), 0);
	assert_int_equal(np_bpf_tombstone_get(t.bpf, info.uid, false, &tomb), 0);
	assert_string_equal(tomb.name, "web");
	assert_int_equal(tomb.slot, SLOT);
	assert_int_equal(tomb.dir[EG].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 1);
	assert_int_equal(tomb.dir[ING].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 2);
	assert_int_equal(tomb.dir[ING].drops[TANK_REASON_POLICY].packets, 1);
	assert_true(now_wall_ms() - tomb.deleted_ms < 10000);
	/* counters stay readable until the slot is registered again */
	assert_int_equal(np_bpf_pod_stats(t.bpf, SLOT, &v1, NULL), 0);
	assert_int_equal(v1.ingress.packets, 2);
	assert_int_equal(v1.egress.packets, 1);
	/* read once */
	assert_int_equal(np_bpf_tombstone_get(t.bpf, info.uid, true, &tomb), 0);
	assert_int_equal(np_bpf_tombstone_get(t.bpf, info.uid, false, &tomb), -ENOENT);

	/* a new pod in the slot: clean counters, no policy, the old flows are not its */
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "db", "tanktest-other", NULL), 0);
	set_if(0, "eth0");
	assert_int_equal(np_bpf_pod_stats(t.bpf, SLOT, &v1, NULL), 0);
	assert_int_equal(v1.ingress.packets + v1.egress.packets, 0);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, EG, &peer, 1, IPPROTO_UDP, &v, NULL), 0);
	assert_int_equal(v.reason, TANK_REASON_NO_POLICY);
	policy1(ING, NULL, 0, false, false);
	EXPECT(ING, &reply, DROP, TANK_VERDICT_DROP, TANK_REASON_POLICY);

	/* expiry */
	assert_int_equal(np_bpf_pod_unregister(t.bpf, "tanktest-other", SLOT, NULL, 0, NULL), 0);
	assert_int_equal(np_bpf_tombstone_get(t.bpf, "tanktest-other", false, &tomb), 0);
	np_bpf_tombstone_ttl_set(t.bpf, 1);
	usleep(20 * 1000);
	assert_int_equal(np_bpf_tombstone_get(t.bpf, "tanktest-other", false, &tomb), -ENOENT);
	np_bpf_tombstone_ttl_set(t.bpf, 3600 * 1000);
}

/* ---- bpftool alone -------------------------------------------------------------------------- */

static int sh(char **out, const char *fmt, ...) _printf_(2, 3);
static int sh(char **out, const char *fmt, ...)
{
	char cmd[1024], *buf = malloc(1 << 20);
	size_t len = 0, n;
	va_list ap;
	FILE *f;
	int st;

	assert_non_null(buf);
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "re");
	assert_non_null(f);
	while (len < (1 << 20) - 1 && (n = fread(buf + len, 1, (1 << 20) - 1 - len, f)) > 0)
		len += n;
	buf[len] = '\0';
	st = pclose(f);
	if (out)
		*out = buf;
	else
		free(buf);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%.3000s", needle, hay);
}

static void test_bpftool_inspect(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.0.0/24") }, peers2[] = { A("2001:db8:1::/64") };
	struct np_port_range ports[] = { { IPPROTO_TCP, 80, 80 } };
	/* more ranges than fit inline: PORT entries */
	struct np_port_range many[] = { { IPPROTO_TCP, 1, 1 }, { IPPROTO_TCP, 3, 3 },
					{ IPPROTO_TCP, 5, 5 }, { IPPROTO_UDP, 7, 7 },
					{ IPPROTO_UDP, 9, 9 } };
	struct np_rule r[] = { { peers, 1, NULL, 0, ports, 1 }, { peers2, 1, NULL, 0, many, 5 } };
	struct pk p = tcp4(ING, "198.18.0.7", 80, 40000, TCP_SYN);
	char *out, *id;
	unsigned int inner;

	REQUIRE_READY();
	policy1(ING, r, 2, false, false);
	assert_int_equal(run(ING, &p), PASS);
	/* names <= 15 characters, all tank_* */
	assert_int_equal(sh(&out, "ls %s", t.pin_dir), 0);
	for (char *s = strtok(out, "\n"); s; s = strtok(NULL, "\n"))
		if (strcmp(s, "pods") != 0) {
			assert_true(strncmp(s, "tank_", 5) == 0);
			assert_true(strlen(s) <= 15);
		}
	free(out);
	/* the slot's inner trie, by id, with named fields and enums */
	assert_int_equal(sh(&out, "bpftool map lookup pinned %s/" TANK_MAP_POL " key %d 0 0 0",
			    t.pin_dir, SLOT),
			 0);
	/* "key: 09 00 00 00  value: bf 02 00 00": the inner map's id, little endian */
	id = strstr(out, "value:");
	if (!id)
		fail_msg("no inner map id in:\n%s", out);
	inner = 0;
	for (int i = 0; i < 4; i++)
		inner |= (unsigned int)strtoul(id + 7 + 3 * i, NULL, 16) << (8 * i);
	free(out);
	assert_int_equal(sh(&out, "bpftool map show id %u", inner), 0);
	assert_contains(out, "name tank_pol_9");
	assert_contains(out, "lpm_trie");
	free(out);
	assert_int_equal(sh(&out, "bpftool map dump id %u", inner), 0);
	assert_contains(out, "\"kind\": \"TANK_POL_PEER\"");
	assert_contains(out, "\"kind\": \"TANK_POL_PORT\"");
	assert_contains(out, "\"dir\": \"TANK_DIR_INGRESS\"");
	assert_contains(out, "\"family\": \"TANK_FAM_IPV6\"");
	assert_contains(out, "\"n_ranges\": 1");
	assert_contains(out, "\"lo\": 80");
	assert_contains(out, "\"rule\": 2");
	free(out);
	assert_int_equal(sh(&out, "bpftool map dump pinned %s/" TANK_MAP_STATS, t.pin_dir), 0);
	assert_contains(out, "\"reason\": \"TANK_REASON_RULE\"");
	assert_contains(out, "\"rule\": 1");
	free(out);
	assert_int_equal(sh(&out, "bpftool map dump pinned %s/" TANK_MAP_FLOWS, t.pin_dir), 0);
	assert_contains(out, "\"pod_port\"");
	assert_contains(out, "\"verdict\": \"TANK_VERDICT_PASS\"");
	free(out);
	assert_int_equal(sh(&out, "bpftool map lookup pinned %s/" TANK_MAP_CFG " key %d 0 0 0",
			    t.pin_dir, SLOT),
			 0);
	assert_contains(out, "\"audit\": 0");
	free(out);
	assert_int_equal(sh(&out, "bpftool map lookup pinned %s/" TANK_MAP_PODS " key %d 0 0 0",
			    t.pin_dir, SLOT),
			 0);
	assert_contains(out, "\"name\": \"web\"");
	free(out);
	assert_int_equal(sh(&out, "bpftool prog show name tank_host_in"), 0);
	assert_contains(out, "tank_host_in");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_no_policy, test_setup),
		cmocka_unit_test_setup(test_ingress_rules_v4, test_setup),
		cmocka_unit_test_setup(test_replies_and_flows, test_setup),
		cmocka_unit_test_setup(test_flow_cache, test_setup),
		cmocka_unit_test_setup(test_flow_cache_takeover, test_setup),
		cmocka_unit_test_setup(test_fast_path, test_setup),
		cmocka_unit_test_setup(test_cell_collision, test_setup),
		cmocka_unit_test_setup(test_policy_change_reaches_flows, test_setup),
		cmocka_unit_test_setup(test_icmp_echo, test_setup),
		cmocka_unit_test_setup(test_nd_arp_always, test_setup),
		cmocka_unit_test_setup(test_ipv6_except, test_setup),
		cmocka_unit_test_setup(test_fragments_v4, test_setup),
		cmocka_unit_test_setup(test_fragments_v6, test_setup),
		cmocka_unit_test_setup(test_parse_errors, test_setup),
		cmocka_unit_test_setup(test_related_icmp_errors, test_setup),
		cmocka_unit_test_setup(test_audit_runtime, test_setup),
		cmocka_unit_test_setup(test_events_rate_limit, test_setup),
		cmocka_unit_test_setup(test_events_lost, test_setup),
		cmocka_unit_test_setup(test_explain, test_setup),
		cmocka_unit_test_setup(test_explain_matches_compiler, test_setup),
		cmocka_unit_test_setup(test_large_policy_exact_hash, test_setup),
		cmocka_unit_test_setup(test_atomic_swap, test_setup),
		cmocka_unit_test_setup(test_per_nic_counters, test_setup),
		cmocka_unit_test_setup(test_unregister_tombstone_reuse, test_setup),
		cmocka_unit_test_setup(test_bpftool_inspect, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
