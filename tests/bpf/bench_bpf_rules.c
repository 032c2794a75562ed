/* bench_bpf_rules.c - per-packet time of the tc program (BPF_PROG_RUN) with 10, 1,000, 10,000 rules. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/filter.h>
#include <string.h>
#include <sys/socket.h>

#include "bpf/tank_tc.skel.h"
#include "netplane/netplane.h"

/*
 * Not a test: prints figures (no assertion on time). Root. Maps are pinned under
 * /sys/fs/bpf/tanktest-<pid>-bench and removed at the end; nothing is attached anywhere.
 *
 * Policy with N ingress rules, rule i: from 198.18.0.0 + i (/32), port 1000 + i % 1000 /tcp
 * (N distinct peer prefixes and N port sets; from TANK_POLX_MIN host prefixes on they are in the
 * policy's exact-match hash, not in its trie), one slot per N. The packets
 * come from the peer of rule N/2. Cases, each the in-kernel time per run reported by
 * BPF_PROG_RUN (median over rounds that interleave the sizes):
 *   established  the same allowed TCP ACK again and again: this CPU's flow cache decides it
 *                (interface from tank_ifh_v1, as for a host-side veth), counted in a cell
 *   policy       explain mode, a connection without flow: parse, flow miss, both trie lookups,
 *                nothing written
 *   denied       right peer, wrong port: both trie lookups, drop counters, rate-limited event
 *   new flow     a new source port each run (repeat 1): policy + flow creation + counters
 * The peer figure: an empty program ("return TCX_NEXT") under the same harness, i.e. what
 * BPF_PROG_RUN itself costs per run on this machine.
 */

#define REPEAT 1000000
#define NEWFLOWS 5000
#define ROUNDS 7

static struct tank_tc_bpf *skel;
static uint64_t netns;

static size_t frame(unsigned char *b, uint32_t src, uint16_t sport, uint16_t dport)
{
	memset(b, 0, 128);
	b[0] = 2, b[6] = 2, b[12] = 0x08;
	b[14] = 0x45, b[22] = 64, b[23] = IPPROTO_TCP;
	b[17] = 40;
	memcpy(b + 26, &src, 4);
	inet_pton(AF_INET, "198.19.0.10", b + 30);
	b[34] = (uint8_t)(sport >> 8), b[35] = (uint8_t)sport;
	b[36] = (uint8_t)(dport >> 8), b[37] = (uint8_t)dport;
	b[46] = 5 << 4, b[47] = 0x10; /* ACK: a packet of an established connection */
	return 14 + 40;
}

static double run(int prog, const unsigned char *pkt, size_t len, uint32_t mark, int repeat,
		  int *ret)
{
	struct __sk_buff ctx = { .ifindex = 1, .mark = mark };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog, &o) < 0) {
		perror("BPF_PROG_RUN");
		exit(1);
	}
	*ret = (int)o.retval;
	return o.duration;
}

struct result {
	double est, pol, deny, newf;
};

/* Slot `slot` gets the policy of n rules (none for n 0). */
static void setup(struct np_bpf *b, uint32_t slot, size_t n)
{
	struct np_addr *peers = calloc(n ? n : 1, sizeof(*peers));
	struct np_port_range *ports = calloc(n ? n : 1, sizeof(*ports));
	struct np_rule *rules = calloc(n ? n : 1, sizeof(*rules));
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, rules, n } };
	struct diag d = {};
	char uid[40];

	for (size_t i = 0; i < n; i++) {
		peers[i].family = AF_INET;
		peers[i].prefix = 32;
		peers[i].v4.s_addr = htonl(0xc6120000u + (uint32_t)i);
		ports[i] = (struct np_port_range){ IPPROTO_TCP, (uint16_t)(1000 + i % 1000),
						   (uint16_t)(1000 + i % 1000) };
		rules[i] = (struct np_rule){ &peers[i], 1, NULL, 0, &ports[i], 1 };
	}
	snprintf(uid, sizeof(uid), "tanktest-bench-%u", slot);
	if (np_bpf_pod_register(b, slot, "bench", uid, &d) < 0 ||
	    np_bpf_policy_set(b, slot, n ? &p : NULL, &d) < 0) {
		fprintf(stderr, "slot %u: %s\n", slot, diag_text(&d, d.err));
		exit(1);
	}
	/* drops would fill the ring buffer: keep the rate limiter on its normal path */
	np_bpf_events_limit_set(b, slot, 0, 1, 1, NULL);
	free(peers);
	free(ports);
	free(rules);
}

static struct result measure(uint32_t slot, size_t n, int round)
{
	int prog = bpf_program__fd(skel->progs.tank_host_eg); /* towards the pod: ingress */
	struct tank_if_info ifi = { .slot = slot, .ingress_dir = TANK_DIR_EGRESS, .name = "eth0" };
	struct tank_if_key one = { .netns = netns, .ifindex = 1 };
	uint32_t target = (uint32_t)n / 2, src = htonl(0xc6120000u + target);
	uint16_t port = (uint16_t)(1000 + target % 1000);
	unsigned char pkt[128];
	struct result r = {};
	size_t len;
	int ret;

	struct tank_ifh h = { .ifindex = 1, .slot = (__u16)slot, .ingress_dir = TANK_DIR_EGRESS };
	__u32 h_at = 1;

	/* as netplane records a host-side veth: in tank_ifs_v3 and in tank_ifh_v1 */
	bpf_map__update_elem(skel->maps.tank_ifs_v3, &one, sizeof(one), &ifi, sizeof(ifi), 0);
	bpf_map__update_elem(skel->maps.tank_ifh_v1, &h_at, sizeof(h_at), &h, sizeof(h), 0);
	len = frame(pkt, src, 40000, port);
	run(prog, pkt, len, 0, 1000, &ret); /* warm up, creates the flow */
	r.est = run(prog, pkt, len, 0, REPEAT, &ret);
	if (ret != -1)
		fprintf(stderr, "n=%zu: established packet not passed (%d)\n", n, ret);
	/* a connection without a flow: the verdict comes from the trie every time */
	len = frame(pkt, src, 39999, port);
	r.pol = run(prog, pkt, len, TANK_EXPLAIN_MAGIC | slot, REPEAT, &ret);
	if (n) {
		len = frame(pkt, src, 40000, (uint16_t)(port + 1));
		r.deny = run(prog, pkt, len, 0, REPEAT, &ret);
		if (ret != 2)
			fprintf(stderr, "n=%zu: denied packet not dropped (%d)\n", n, ret);
	}
	for (int i = 0; i < NEWFLOWS; i++) {
		/* source ports not used by earlier rounds: always a new flow */
		len = frame(pkt, src, (uint16_t)(1024 + round * NEWFLOWS + i), port);
		r.newf += run(prog, pkt, len, 0, 1, &ret);
	}
	r.newf /= NEWFLOWS;
	return r;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
	return v[n / 2];
}

int main(void)
{
	static const size_t sizes[] = { 0, 10, 1000, 10000 };
	enum { NS = ARRAY_SIZE(sizes) };
	double est[NS][ROUNDS], pol[NS][ROUNDS], deny[NS][ROUNDS], newf[NS][ROUNDS], floor[ROUNDS];
	struct bpf_insn nop[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = -1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	unsigned char pkt[128];
	int nop_fd, ret;
	struct result med[NS];
	char pin_dir[128];
	struct np_bpf *b = NULL;
	struct bpf_map *m;
	struct diag d = {};

	if (geteuid() != 0) {
		fprintf(stderr, "bench_bpf_rules: needs root\n");
		return 77;
	}
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/tanktest-%d-bench", (int)getpid());
	if (np_bpf_open(pin_dir, &b, &d) < 0) {
		fprintf(stderr, "np_bpf_open: %s\n", diag_text(&d, d.err));
		return 1;
	}
	np_bpf_netns_cookie(-1, &netns, NULL);
	skel = tank_tc_bpf__open();
	bpf_object__for_each_map(m, skel->obj)
	{
		char path[256];

		if (bpf_map__is_internal(m)) /* .kconfig: per object, never pinned */
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(m));
		bpf_map__set_pin_path(m, path);
	}
	if (np_bpf_obj_size(skel->obj, NULL) < 0 || tank_tc_bpf__load(skel) < 0) {
		fprintf(stderr, "loading the programs failed\n");
		fs_rm_rf(pin_dir);
		return 1;
	}
	for (size_t i = 0; i < NS; i++)
		setup(b, (uint32_t)i + 1, sizes[i]);
	nop_fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tank_bench_nop", "GPL", nop, 2, NULL);
	if (nop_fd < 0) {
		fprintf(stderr, "loading the empty program failed\n");
		return 1;
	}

	/* rounds interleave the sizes, medians over rounds: this VM's noise hits all alike */
	for (int round = 0; round < ROUNDS; round++) {
		floor[round] = run(nop_fd, pkt, frame(pkt, htonl(0xc6120001u), 1, 2), 0, REPEAT,
				   &ret);
		for (size_t i = 0; i < NS; i++) {
			struct result r = measure((uint32_t)i + 1, sizes[i], round);

			est[i][round] = r.est;
			pol[i][round] = r.pol;
			deny[i][round] = r.deny;
			newf[i][round] = r.newf;
		}
	}
	for (size_t i = 0; i < NS; i++)
		med[i] = (struct result){ median(est[i], ROUNDS), median(pol[i], ROUNDS),
					  median(deny[i], ROUNDS), median(newf[i], ROUNDS) };

	printf("tank_tc per-packet time, ns: median of %d rounds (BPF_PROG_RUN, %d runs each; new "
	       "flow: %d packets each)\n",
	       ROUNDS, REPEAT, NEWFLOWS);
	printf("%-12s %12s %12s %12s %12s\n", "rules", "established", "policy", "denied",
	       "new flow");
	for (size_t i = 0; i < NS; i++) {
		if (sizes[i])
			printf("%-12zu %12.1f %12.1f %12.1f %12.1f\n", sizes[i], med[i].est,
			       med[i].pol, med[i].deny, med[i].newf);
		else
			printf("%-12s %12.1f %12.1f %12s %12.1f\n", "no policy", med[i].est,
			       med[i].pol, "-", med[i].newf);
	}
	printf("%-12s %12.1f   (peer: BPF_PROG_RUN of an empty program, same harness)\n",
	       "empty prog", median(floor, ROUNDS));
	printf("10,000 vs 10 rules: established %+.1f%%, policy %+.1f%%, denied %+.1f%%, new flow "
	       "%+.1f%%\n",
	       100.0 * (med[3].est / med[1].est - 1), 100.0 * (med[3].pol / med[1].pol - 1),
	       100.0 * (med[3].deny / med[1].deny - 1), 100.0 * (med[3].newf / med[1].newf - 1));

	close(nop_fd);
	tank_tc_bpf__destroy(skel);
	for (size_t i = 0; i < NS; i++) {
		char uid[40];

		snprintf(uid, sizeof(uid), "tanktest-bench-%zu", i + 1);
		np_bpf_pod_unregister(b, uid, (uint32_t)i + 1, NULL, 0, NULL);
	}
	np_bpf_close(b);
	fs_rm_rf(pin_dir);
	return 0;
}
