/* test_bpf_cgroup.c - the cgroup_skb programs under BPF_PROG_RUN: IP packets without L2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "bpf/tank_cg.skel.h"
#include "netplane/netplane.h"

/*
 * np_bpf pins its maps under /sys/fs/bpf/tanktest-<pid>-cg; the test loads a second copy of the
 * cgroup object on those maps and runs its programs on built IPv4/IPv6 packets. BPF_PROG_RUN
 * wants an Ethernet header in front (it consumes it, as the stack has before a cgroup_skb hook),
 * so the programs see the packet from the IP header on, as they do for real traffic.
 *
 * BPF_PROG_RUN gives the packet a socket in the caller's v2 cgroup: the test moves itself into
 * /sys/fs/cgroup/unified/tanktest-<pid>-cg/ctr (the "pod" is tanktest-<pid>-cg, "ctr" a container
 * below it) and back at the end; nothing is attached to any cgroup. Addresses: 198.18.0.0/15,
 * 2001:db8::/32. Leftovers of dead runs (pins, cgroups) are removed at start.
 */

#define PREFIX "tanktest-"
#define CG_ROOT "/sys/fs/cgroup/unified"
#define SLOT 11
#define UID "tanktest-cg-uid"
#define POD4 "198.18.6.10"
#define PEER4 "198.18.6.1"
#define POD6 "2001:db8:6::10"
#define PEER6 "2001:db8:6::1"
#define PASS 1
#define DROP 0

static struct {
	bool ready, moved;
	char pin_dir[128], pod_cg[160], ctr_cg[192], orig_cg[512];
	uint64_t pod_id, ctr_id;
	struct np_bpf *bpf;
	struct tank_cg_bpf *skel;
} t;

/* ---- packets -------------------------------------------------------------------------------- */

struct pkt {
	unsigned char buf[256];
	size_t len; /* with the 14 bytes BPF_PROG_RUN consumes */
};

enum { EG = TANK_DIR_EGRESS, ING = TANK_DIR_INGRESS };

/* IPv4 TCP/UDP/ICMP echo request, pod <-> peer by direction */
static struct pkt ip4(int dir, uint8_t proto, uint16_t pod_port, uint16_t peer_port)
{
	struct pkt p = {};
	unsigned char *ip = p.buf + 14, *l4 = ip + 20;
	size_t l4len = proto == IPPROTO_TCP ? 20 : 8;

	p.buf[12] = 0x08;
	ip[0] = 0x45;
	ip[8] = 64;
	ip[9] = proto;
	assert_int_equal(inet_pton(AF_INET, dir == EG ? POD4 : PEER4, ip + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dir == EG ? PEER4 : POD4, ip + 16), 1);
	if (proto == IPPROTO_ICMP) {
		l4[0] = 8; /* echo request, id pod_port */
		l4[4] = (uint8_t)(pod_port >> 8), l4[5] = (uint8_t)pod_port;
	} else {
		uint16_t s = dir == EG ? pod_port : peer_port, d = dir == EG ? peer_port : pod_port;

		l4[0] = (uint8_t)(s >> 8), l4[1] = (uint8_t)s;
		l4[2] = (uint8_t)(d >> 8), l4[3] = (uint8_t)d;
		if (proto == IPPROTO_TCP) {
			l4[12] = 5 << 4;
			l4[13] = 0x02; /* SYN */
		} else {
			l4[5] = 8 + 12;
		}
	}
	l4len += 12; /* payload */
	ip[3] = (uint8_t)(20 + l4len);
	p.len = 14 + 20 + l4len;
	return p;
}

/* IPv6 TCP SYN with a hop-by-hop header first */
static struct pkt ip6_tcp_hbh(int dir, uint16_t pod_port, uint16_t peer_port)
{
	struct pkt p = {};
	unsigned char *ip = p.buf + 14, *hbh = ip + 40, *l4 = hbh + 8;
	uint16_t s = dir == EG ? pod_port : peer_port, d = dir == EG ? peer_port : pod_port;

	p.buf[12] = 0x86, p.buf[13] = 0xdd;
	ip[0] = 0x60;
	ip[5] = 8 + 20;
	ip[6] = 0; /* hop-by-hop */
	ip[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, dir == EG ? POD6 : PEER6, ip + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dir == EG ? PEER6 : POD6, ip + 24), 1);
	hbh[0] = IPPROTO_TCP;
	hbh[2] = 1, hbh[3] = 4; /* PadN */
	l4[0] = (uint8_t)(s >> 8), l4[1] = (uint8_t)s;
	l4[2] = (uint8_t)(d >> 8), l4[3] = (uint8_t)d;
	l4[12] = 5 << 4;
	l4[13] = 0x02;
	p.len = 14 + 40 + 8 + 20;
	return p;
}

static int run(int dir, const struct pkt *p)
{
	struct bpf_program *prog = dir == EG ? t.skel->progs.tank_cg_eg : t.skel->progs.tank_cg_in;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = (__u32)p->len,
		    .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &o), 0);
	return (int)o.retval;
}

/* ---- state ---------------------------------------------------------------------------------- */

static struct np_bpf_stats2 stats(void)
{
	struct np_bpf_stats2 s;

	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT, &s, NULL), 0);
	return s;
}

static uint64_t pkts(const struct tank_totals *tt)
{
	uint64_t n = 0;

	for (int f = 0; f < TANK_FAM_MAX; f++)
		for (int p = 0; p < TANK_PROTO_MAX; p++)
			n += tt->by[f][p].packets;
	return n;
}

static void cg_entry(uint64_t id, uint32_t level)
{
	struct tank_cg_info ci = { .slot = SLOT, .level = level, .name = "host" };

	assert_int_equal(bpf_map__update_elem(t.skel->maps.tank_cgs_v1, &id, sizeof(id), &ci,
					      sizeof(ci), 0),
			 0);
}

static void cg_entry_del(uint64_t id)
{
	bpf_map__delete_elem(t.skel->maps.tank_cgs_v1, &id, sizeof(id), 0);
}

static void policy(const struct np_policy *p)
{
	struct diag d = {};

	if (np_bpf_policy_set(t.bpf, SLOT, p, &d) < 0)
		fail_msg("policy_set: %s", diag_text(&d, d.err));
}

static struct np_addr A(const char *s)
{
	struct np_addr a;

	assert_int_equal(np_addr_parse(s, &a), 0);
	return a;
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* tanktest-<pid>-cg of a run that is gone */
static bool leftover(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, PREFIX, strlen(PREFIX)) != 0)
		return false;
	pid = strtol(name + strlen(PREFIX), &end, 10);
	return strcmp(end, "-cg") == 0 && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void cleanup_leftovers(void)
{
	struct dirent *de;
	DIR *dp;

	if ((dp = opendir("/sys/fs/bpf"))) {
		while ((de = readdir(dp))) {
			char path[300];

			if (!leftover(de->d_name))
				continue;
			snprintf(path, sizeof(path), "/sys/fs/bpf/%s", de->d_name);
			fs_rm_rf(path);
		}
		closedir(dp);
	}
	if ((dp = opendir(CG_ROOT))) {
		while ((de = readdir(dp))) {
			char path[600];

			if (!leftover(de->d_name))
				continue;
			/* a dead run's cgroups are empty: children first */
			snprintf(path, sizeof(path), CG_ROOT "/%s/ctr", de->d_name);
			rmdir(path);
			snprintf(path, sizeof(path), CG_ROOT "/%s", de->d_name);
			rmdir(path);
		}
		closedir(dp);
	}
}

static int cg_move_self(const char *dir)
{
	char path[600];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	r = fprintf(f, "%d\n", (int)getpid()) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static int stat_ino(const char *dir, uint64_t *ret)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return -errno;
	*ret = st.st_ino; /* = the cgroup id on 64-bit (netplane uses the file handle) */
	return 0;
}

static int group_setup(void **state _unused_)
{
	struct bpf_map *m;
	struct diag d = {};
	char line[600];
	FILE *f;

	if (geteuid() != 0)
		return 0; /* every test skips */
	cleanup_leftovers();
	/* where we are in the v2 hierarchy, to come back */
	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(t.orig_cg, sizeof(t.orig_cg), CG_ROOT "%s", line + 3);
		}
	fclose(f);
	if (!t.orig_cg[0])
		return -1;
	snprintf(t.pod_cg, sizeof(t.pod_cg), CG_ROOT "/" PREFIX "%d-cg", (int)getpid());
	snprintf(t.ctr_cg, sizeof(t.ctr_cg), "%s/ctr", t.pod_cg);
	if (mkdir(t.pod_cg, 0755) < 0 || mkdir(t.ctr_cg, 0755) < 0)
		return -1;
	if (stat_ino(t.pod_cg, &t.pod_id) < 0 || stat_ino(t.ctr_cg, &t.ctr_id) < 0)
		return -1;
	if (cg_move_self(t.ctr_cg) < 0)
		return -1;
	t.moved = true;

	snprintf(t.pin_dir, sizeof(t.pin_dir), "/sys/fs/bpf/" PREFIX "%d-cg", (int)getpid());
	if (np_bpf_open(t.pin_dir, &t.bpf, &d) < 0) {
		print_error("np_bpf_open: %s\n", diag_text(&d, d.err));
		return -1;
	}
	t.skel = tank_cg_bpf__open();
	if (!t.skel)
		return -1;
	bpf_object__for_each_map(m, t.skel->obj)
	{
		char path[256];

		if (bpf_map__is_internal(m)) /* .bss, .kconfig: its own */
			continue;
		snprintf(path, sizeof(path), "%s/%s", t.pin_dir, bpf_map__name(m));
		if (bpf_map__set_pin_path(m, path) < 0)
			return -1;
	}
	if (np_bpf_obj_size(t.skel->obj, NULL) < 0 || tank_cg_bpf__load(t.skel) < 0)
		return -1;
	t.ready = true;
	return 0;
}

static int group_teardown(void **state _unused_)
{
	tank_cg_bpf__destroy(t.skel);
	np_bpf_close(t.bpf);
	if (t.pin_dir[0])
		fs_rm_rf(t.pin_dir);
	if (t.moved && cg_move_self(t.orig_cg) < 0)
		print_error("could not leave %s\n", t.ctr_cg);
	if (t.ctr_cg[0]) {
		rmdir(t.ctr_cg);
		rmdir(t.pod_cg);
	}
	return 0;
}

/* each test: the slot registered afresh (no policy, counters zero, flows stale); the socket's
 * cgroup (ctr) is the pod's */
static int test_setup(void **state _unused_)
{
	static int gen;
	char uid[40];

	if (!t.ready)
		return 0;
	snprintf(uid, sizeof(uid), UID "-%d", ++gen);
	if (np_bpf_pod_register(t.bpf, SLOT, "host-pod", uid, NULL) < 0)
		return -1;
	cg_entry_del(t.pod_id);
	cg_entry(t.ctr_id, 2);
	t.skel->bss->tank_cg_levels = 0;
	return 0;
}

#define REQUIRE_READY()                                                                            \
	do {                                                                                       \
		if (!t.ready)                                                                      \
			skip();                                                                    \
	} while (0)

/* ---- tests ---------------------------------------------------------------------------------- */

/* Counted from the IP header, by direction, family and protocol, as NIC 0 "host". */
static void test_count(void **state _unused_)
{
	struct pkt u = ip4(EG, IPPROTO_UDP, 5353, 53), t6 = ip6_tcp_hbh(ING, 443, 40000);
	struct np_bpf_stats2 s;

	REQUIRE_READY();
	assert_int_equal(run(EG, &u), PASS);
	assert_int_equal(run(EG, &u), PASS);
	assert_int_equal(run(ING, &t6), PASS);
	s = stats();
	assert_int_equal(s.pod[EG].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 2);
	assert_int_equal(s.pod[EG].by[TANK_FAM_IPV4][TANK_PROTO_UDP].bytes, 2 * (u.len - 14));
	/* the extension header walked from the IP header on: TCP, not "other" */
	assert_int_equal(s.pod[ING].by[TANK_FAM_IPV6][TANK_PROTO_TCP].packets, 1);
	assert_int_equal(s.pod[ING].by[TANK_FAM_IPV6][TANK_PROTO_TCP].bytes, t6.len - 14);
	assert_int_equal(pkts(&s.pod[ING]) + pkts(&s.pod[EG]), 3);
	assert_int_equal(s.n_nics, 1);
	assert_int_equal(pkts(&s.nic[0].dir[EG]), 2);
	np_bpf_stats2_free(&s);
}

/* Egress allowed to tcp/443 only, ingress closed: replies pass through the flow table, the
 * rest is dropped (0) and counted with its reason; the same schema as on a NIC. */
static void test_policy_and_flows(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.6.0/24"), A("2001:db8:6::/48") };
	struct np_port_range https = { IPPROTO_TCP, 443, 443 };
	struct np_rule rule = { peers, 2, NULL, 0, &https, 1 };
	struct np_policy p = { .dir[EG] = { true, &rule, 1 }, .dir[ING] = { true, NULL, 0 } };
	struct pkt syn = ip4(EG, IPPROTO_TCP, 40001, 443), reply = ip4(ING, IPPROTO_TCP, 40001, 443);
	struct pkt other = ip4(EG, IPPROTO_TCP, 40002, 80), in = ip4(ING, IPPROTO_TCP, 22, 50000);
	struct pkt syn6 = ip6_tcp_hbh(EG, 40003, 443), no6 = ip6_tcp_hbh(EG, 40004, 444);
	struct np_bpf_stats2 s;

	REQUIRE_READY();
	policy(&p);
	assert_int_equal(run(EG, &syn), PASS);
	reply.buf[14 + 20 + 13] = 0x12; /* SYN+ACK */
	assert_int_equal(run(ING, &reply), PASS);
	assert_int_equal(run(EG, &other), DROP);
	assert_int_equal(run(ING, &in), DROP);
	assert_int_equal(run(EG, &syn6), PASS);
	assert_int_equal(run(EG, &no6), DROP);
	s = stats();
	assert_int_equal(s.pod[EG].drops[TANK_REASON_POLICY].packets, 2);
	assert_int_equal(s.pod[ING].drops[TANK_REASON_POLICY].packets, 1);
	assert_int_equal(s.n_hits, 1); /* egress rule 1: the two SYNs */
	assert_int_equal(s.hits[0].dir, EG);
	assert_int_equal(s.hits[0].rule, 1);
	assert_int_equal(s.hits[0].count.packets, 2);
	np_bpf_stats2_free(&s);
	{
		struct np_verdict v;
		struct np_addr peer = A("198.18.6.1");

		/* explain (tc program) agrees: policy is per slot, not per attach type */
		assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, TANK_DIR_EGRESS, &peer, 80,
						     IPPROTO_TCP, &v, NULL),
				 0);
		assert_int_equal(v.verdict, TANK_VERDICT_DROP);
	}
	/* audit: counted as would-be drops, passed */
	assert_int_equal(np_bpf_policy_mode_set(t.bpf, SLOT, true, NULL), 0);
	assert_int_equal(run(EG, &other), PASS);
	s = stats();
	assert_int_equal(s.pod[EG].audit[TANK_REASON_POLICY].packets, 1);
	np_bpf_stats2_free(&s);
}

/* The socket in a container's cgroup below the pod's: found through the ancestor at the pod
 * cgroup's level, when that level is known; without it (or an entry) nothing is counted and
 * the packet passes. */
static void test_ancestor(void **state _unused_)
{
	struct pkt u = ip4(EG, IPPROTO_UDP, 5353, 53);
	struct np_bpf_stats2 s;

	REQUIRE_READY();
	cg_entry_del(t.ctr_id);
	cg_entry(t.pod_id, 1);
	assert_int_equal(run(EG, &u), PASS);
	s = stats();
	assert_int_equal(pkts(&s.pod[EG]), 0);
	np_bpf_stats2_free(&s);
	t.skel->bss->tank_cg_levels = 1ull << 1 | 1ull << 5; /* 5: deeper than the socket */
	assert_int_equal(run(EG, &u), PASS);
	s = stats();
	assert_int_equal(pkts(&s.pod[EG]), 1);
	np_bpf_stats2_free(&s);
	/* a policy applies the same way */
	{
		struct np_policy deny = { .dir[EG] = { true, NULL, 0 } };

		policy(&deny);
		assert_int_equal(run(EG, &u), DROP);
	}
	cg_entry_del(t.pod_id);
	assert_int_equal(run(EG, &u), PASS); /* unknown cgroup: not ours */
}

/* Garbage after the cgroup hook (no IP version) is malformed: dropped where a policy
 * restricts the direction, passed uncounted-as-drop where none does. */
static void test_malformed(void **state _unused_)
{
	struct pkt u = ip4(EG, IPPROTO_UDP, 5353, 53);
	struct np_policy deny = { .dir[EG] = { true, NULL, 0 } };
	struct np_bpf_stats2 s;

	REQUIRE_READY();
	u.buf[14] = 0x00;
	assert_int_equal(run(EG, &u), PASS);
	policy(&deny);
	assert_int_equal(run(EG, &u), DROP);
	s = stats();
	assert_int_equal(s.pod[EG].drops[TANK_REASON_PARSE].packets, 1);
	np_bpf_stats2_free(&s);
}

static int ev_cb(const struct tank_event *e, void *data)
{
	*(struct tank_event *)data = *e;
	return 0;
}

/* A drop is an event like on a NIC: slot, direction, addresses. */
static void test_event(void **state _unused_)
{
	struct np_policy deny = { .dir[EG] = { true, NULL, 0 } };
	struct pkt u = ip4(EG, IPPROTO_UDP, 5353, 53);
	struct tank_event e = {};
	unsigned char want[4];

	REQUIRE_READY();
	while (np_bpf_events_poll(t.bpf, ev_cb, &e, 0) > 0)
		;
	policy(&deny);
	assert_int_equal(run(EG, &u), DROP);
	memset(&e, 0, sizeof(e));
	assert_int_equal(np_bpf_events_poll(t.bpf, ev_cb, &e, 100), 1);
	assert_int_equal(e.slot, SLOT);
	assert_int_equal(e.dir, EG);
	assert_int_equal(e.reason, TANK_REASON_POLICY);
	assert_int_equal(e.proto, IPPROTO_UDP);
	assert_int_equal(e.len, u.len - 14);
	assert_int_equal(inet_pton(AF_INET, PEER4, want), 1);
	assert_memory_equal(e.daddr, want, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_count, test_setup),
		cmocka_unit_test_setup(test_policy_and_flows, test_setup),
		cmocka_unit_test_setup(test_ancestor, test_setup),
		cmocka_unit_test_setup(test_malformed, test_setup),
		cmocka_unit_test_setup(test_event, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
