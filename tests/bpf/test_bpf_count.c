/* test_bpf_count.c - tank_tc programs under BPF_PROG_RUN: per-pod packet/byte counters by direction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#include "bpf/tank_abi.h"
#include "bpf/tank_tc.skel.h"
#include "lib/lib.h"
#include "netplane/netplane.h"

#define SLOT 7
#define LO_IFINDEX 1

static struct tank_tc_bpf *skel;
static int ncpus;
static uint64_t netns; /* this process's netns cookie: BPF_PROG_RUN's device lives there */

/* ---- frames --------------------------------------------------------------------------------- */

struct frame {
	unsigned char buf[256];
	size_t len;
};

static size_t put_eth(unsigned char *p, uint16_t proto)
{
	static const unsigned char dst[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const unsigned char src[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	struct ethhdr *eth = (struct ethhdr *)p;

	memcpy(eth->h_dest, dst, 6);
	memcpy(eth->h_source, src, 6);
	eth->h_proto = htons(proto);
	return sizeof(*eth);
}

/* IPv4/TCP SYN 198.18.5.10:40000 -> 198.18.0.1:80 with a few payload bytes */
static struct frame frame_ipv4_tcp(void)
{
	struct frame f = {};
	size_t off = put_eth(f.buf, ETH_P_IP);
	struct iphdr *ip = (struct iphdr *)(f.buf + off);
	struct tcphdr *tcp = (struct tcphdr *)(f.buf + off + sizeof(*ip));
	const size_t payload = 10;

	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*tcp) + payload);
	inet_pton(AF_INET, "198.18.5.10", &ip->saddr);
	inet_pton(AF_INET, "198.18.0.1", &ip->daddr);
	tcp->source = htons(40000);
	tcp->dest = htons(80);
	tcp->doff = 5;
	tcp->syn = 1;
	f.len = off + sizeof(*ip) + sizeof(*tcp) + payload;
	return f;
}

/* IPv6/UDP 2001:db8:5::10:5353 -> 2001:db8::1:53 */
static struct frame frame_ipv6_udp(void)
{
	struct frame f = {};
	size_t off = put_eth(f.buf, ETH_P_IPV6);
	struct ip6_hdr *ip6 = (struct ip6_hdr *)(f.buf + off);
	struct udphdr *udp = (struct udphdr *)(f.buf + off + sizeof(*ip6));
	const size_t payload = 33;

	ip6->ip6_flow = htonl(6u << 28);
	ip6->ip6_plen = htons(sizeof(*udp) + payload);
	ip6->ip6_nxt = IPPROTO_UDP;
	ip6->ip6_hlim = 64;
	inet_pton(AF_INET6, "2001:db8:5::10", &ip6->ip6_src);
	inet_pton(AF_INET6, "2001:db8::1", &ip6->ip6_dst);
	udp->source = htons(5353);
	udp->dest = htons(53);
	udp->len = htons(sizeof(*udp) + payload);
	f.len = off + sizeof(*ip6) + sizeof(*udp) + payload;
	return f;
}

/* ARP request: not IP, still the pod's traffic */
static struct frame frame_arp(void)
{
	struct frame f = {};

	f.len = put_eth(f.buf, ETH_P_ARP) + 28;
	return f;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static int run(struct bpf_program *prog, const struct frame *f, int repeat)
{
	struct __sk_buff ctx = { .ifindex = LO_IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf, .data_size_in = (__u32)f->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &o), 0);
	return (int)o.retval;
}

/* Sum the slot's tank_stats_v2 entries by direction (every entry is one packet class). */
static struct tank_pod_stats stats(uint32_t slot)
{
	struct tank_counter per[ncpus];
	struct tank_pod_stats sum = {};
	struct tank_stat_key k, next;
	int g;

	g = bpf_map__get_next_key(skel->maps.tank_stats_v2, NULL, &next, sizeof(next));
	while (g == 0) {
		k = next;
		assert_int_equal(bpf_map__lookup_elem(skel->maps.tank_stats_v2, &k, sizeof(k), per,
						      sizeof(per), 0),
				 0);
		for (int i = 0; i < ncpus && k.slot == slot; i++) {
			struct tank_counter *c =
				k.dir == TANK_DIR_INGRESS ? &sum.ingress : &sum.egress;

			c->packets += per[i].packets;
			c->bytes += per[i].bytes;
		}
		g = bpf_map__get_next_key(skel->maps.tank_stats_v2, &k, &next, sizeof(next));
	}
	/* and the packets the flow cache counted in tank_scell_v2 (cleared by test_setup) */
	for (__u32 i = 0; i < bpf_map__max_entries(skel->maps.tank_scell_v2); i++) {
		struct tank_scell c;
		struct tank_counter *to;

		assert_int_equal(bpf_map__lookup_elem(skel->maps.tank_scell_v2, &i, sizeof(i), &c,
						      sizeof(c), 0),
				 0);
		if (c.key.slot != slot)
			continue;
		to = c.key.dir == TANK_DIR_INGRESS ? &sum.ingress : &sum.egress;
		to->packets += c.count.packets;
		to->bytes += c.count.bytes;
	}
	return sum;
}

/* Every entry of an array zeroed. */
static int array_zero(struct bpf_map *m)
{
	_cleanup_free_ void *zero = calloc(1, bpf_map__value_size(m));

	for (__u32 i = 0; zero && i < bpf_map__max_entries(m); i++)
		if (bpf_map__update_elem(m, &i, sizeof(i), zero, bpf_map__value_size(m), 0) < 0)
			return -1;
	return zero ? 0 : -1;
}

static void set_if_ns(uint64_t cookie, uint32_t ifindex, uint32_t slot, uint32_t ingress_dir)
{
	struct tank_if_info ifi = { .slot = slot, .ingress_dir = ingress_dir, .name = "eth0" };
	struct tank_if_key key = { .netns = cookie, .ifindex = ifindex };

	assert_int_equal(bpf_map__update_elem(skel->maps.tank_ifs_v3, &key, sizeof(key), &ifi,
					      sizeof(ifi), 0),
			 0);
}

static void set_if(uint32_t ifindex, uint32_t slot, uint32_t ingress_dir)
{
	set_if_ns(netns, ifindex, slot, ingress_dir);
}

static void del_if(uint64_t cookie, uint32_t ifindex)
{
	struct tank_if_key key = { .netns = cookie, .ifindex = ifindex };

	bpf_map__delete_elem(skel->maps.tank_ifs_v3, &key, sizeof(key), 0);
}

static int group_setup(void **state _unused_)
{
	if (geteuid() != 0)
		return 0; /* every test skips */
	ncpus = libbpf_num_possible_cpus();
	{
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		socklen_t len = sizeof(netns);

		if (fd < 0 || getsockopt(fd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &netns, &len) < 0)
			return -1;
		close(fd);
	}
	skel = tank_tc_bpf__open(); /* not pinned: nothing to clean up but the fds */
	if (!skel)
		return -1;
	if (np_bpf_obj_size(skel->obj, NULL) < 0 || tank_tc_bpf__load(skel) < 0) {
		tank_tc_bpf__destroy(skel);
		skel = NULL;
		return -1;
	}
	return ncpus > 0 ? 0 : -1;
}

static int group_teardown(void **state _unused_)
{
	tank_tc_bpf__destroy(skel);
	return 0;
}

/* every test starts with lo -> SLOT (host ingress = pod egress) and no counters */
static int test_setup(void **state _unused_)
{
	struct tank_stat_key k;

	if (!skel)
		return 0;
	set_if(LO_IFINDEX, SLOT, TANK_DIR_EGRESS);
	while (bpf_map__get_next_key(skel->maps.tank_stats_v2, NULL, &k, sizeof(k)) == 0)
		if (bpf_map__delete_elem(skel->maps.tank_stats_v2, &k, sizeof(k), 0) < 0)
			return -1;
	return array_zero(skel->maps.tank_scell_v2) < 0 || array_zero(skel->maps.tank_fcache_v2) < 0
		       ? -1
		       : 0;
}

#define REQUIRE_ROOT()                                                                             \
	do {                                                                                       \
		if (!skel)                                                                         \
			skip();                                                                    \
	} while (0)

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_ipv4_tcp(void **state _unused_)
{
	struct frame f = frame_ipv4_tcp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	assert_int_equal(f.len, 64);
	assert_int_equal(run(skel->progs.tank_host_in, &f, 1), -1); /* TCX_NEXT */
	s = stats(SLOT);
	assert_int_equal(s.egress.packets, 1);
	assert_int_equal(s.egress.bytes, f.len);
	assert_int_equal(s.ingress.packets, 0);
	assert_int_equal(s.ingress.bytes, 0);

	assert_int_equal(run(skel->progs.tank_host_eg, &f, 1), -1);
	s = stats(SLOT);
	assert_int_equal(s.ingress.packets, 1);
	assert_int_equal(s.ingress.bytes, f.len);
	assert_int_equal(s.egress.packets, 1);
}

static void test_ipv6_udp(void **state _unused_)
{
	struct frame f = frame_ipv6_udp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	assert_int_equal(f.len, 14 + 40 + 8 + 33);
	assert_int_equal(run(skel->progs.tank_host_eg, &f, 3), -1);
	s = stats(SLOT);
	assert_int_equal(s.ingress.packets, 3);
	assert_int_equal(s.ingress.bytes, 3 * f.len);
	assert_int_equal(s.egress.packets, 0);

	assert_int_equal(run(skel->progs.tank_host_in, &f, 2), -1);
	s = stats(SLOT);
	assert_int_equal(s.egress.packets, 2);
	assert_int_equal(s.egress.bytes, 2 * f.len);
}

static void test_non_ip(void **state _unused_)
{
	struct frame f = frame_arp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	assert_int_equal(run(skel->progs.tank_host_in, &f, 1), -1);
	assert_int_equal(run(skel->progs.tank_host_eg, &f, 1), -1);
	s = stats(SLOT);
	assert_int_equal(s.egress.packets, 1);
	assert_int_equal(s.egress.bytes, 42);
	assert_int_equal(s.ingress.packets, 1);
	assert_int_equal(s.ingress.bytes, 42);
}

static void test_mixed_totals(void **state _unused_)
{
	struct frame v4 = frame_ipv4_tcp(), v6 = frame_ipv6_udp(), arp = frame_arp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	run(skel->progs.tank_host_in, &v4, 1);
	run(skel->progs.tank_host_in, &v6, 1);
	run(skel->progs.tank_host_in, &arp, 1);
	run(skel->progs.tank_host_eg, &v4, 2);
	s = stats(SLOT);
	assert_int_equal(s.egress.packets, 3);
	assert_int_equal(s.egress.bytes, v4.len + v6.len + arp.len);
	assert_int_equal(s.ingress.packets, 2);
	assert_int_equal(s.ingress.bytes, 2 * v4.len);
}

/* An interface Tank does not know is not counted, and the packet still passes. */
static void test_unknown_ifindex(void **state _unused_)
{
	struct frame f = frame_ipv4_tcp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	set_if(4242, SLOT, TANK_DIR_EGRESS); /* some other interface belongs to the slot */
	del_if(netns, LO_IFINDEX);
	assert_int_equal(run(skel->progs.tank_host_in, &f, 1), -1);
	assert_int_equal(run(skel->progs.tank_host_eg, &f, 1), -1);
	s = stats(SLOT);
	assert_int_equal(s.egress.packets + s.ingress.packets, 0);
	assert_int_equal(s.egress.bytes + s.ingress.bytes, 0);
	del_if(netns, 4242);
}

/* The same ifindex in another netns is another interface (another pod's): the cookie of the
 * device's own netns picks the entry. */
static void test_same_ifindex_other_netns(void **state _unused_)
{
	struct frame f = frame_ipv4_tcp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	set_if_ns(netns + 1, LO_IFINDEX, SLOT + 1, TANK_DIR_EGRESS);
	set_if_ns(netns - 1, LO_IFINDEX, SLOT + 2, TANK_DIR_EGRESS);
	assert_int_equal(run(skel->progs.tank_host_in, &f, 2), -1);
	s = stats(SLOT);
	assert_int_equal(s.egress.packets, 2);
	s = stats(SLOT + 1);
	assert_int_equal(s.egress.packets + s.ingress.packets, 0);
	s = stats(SLOT + 2);
	assert_int_equal(s.egress.packets + s.ingress.packets, 0);
	/* without this netns's entry, nothing is counted for anyone */
	del_if(netns, LO_IFINDEX);
	assert_int_equal(run(skel->progs.tank_host_in, &f, 1), -1);
	assert_int_equal(stats(SLOT + 1).egress.packets + stats(SLOT + 2).egress.packets, 0);
	del_if(netns + 1, LO_IFINDEX);
	del_if(netns - 1, LO_IFINDEX);
}

static void set_ifh(uint32_t ifindex, uint32_t slot, enum tank_dir ingress_dir)
{
	struct tank_ifh h = { .ifindex = ifindex, .slot = (__u16)slot, .ingress_dir = ingress_dir };
	__u32 i = LO_IFINDEX & (TANK_IFH_SIZE - 1);

	assert_int_equal(bpf_map__update_elem(skel->maps.tank_ifh_v1, &i, sizeof(i), &h, sizeof(h),
					      0),
			 0);
}

/* tank_ifh_v1, the array of tankd's netns by ifindex, is asked first; an entry of another
 * ifindex at the same index, or an empty one, sends the program to tank_ifs_v3. */
static void test_host_array(void **state _unused_)
{
	struct frame f = frame_ipv4_tcp();

	REQUIRE_ROOT();
	set_ifh(LO_IFINDEX, SLOT + 3, TANK_DIR_INGRESS); /* tank_ifs_v3 says SLOT, EGRESS */
	assert_int_equal(run(skel->progs.tank_host_in, &f, 2), -1);
	assert_int_equal(stats(SLOT + 3).ingress.packets, 2);
	assert_int_equal(stats(SLOT).egress.packets + stats(SLOT).ingress.packets, 0);

	set_ifh(LO_IFINDEX + TANK_IFH_SIZE, SLOT + 3, TANK_DIR_INGRESS);
	assert_int_equal(run(skel->progs.tank_host_in, &f, 1), -1);
	assert_int_equal(stats(SLOT).egress.packets, 1);
	set_ifh(LO_IFINDEX, 0, TANK_DIR_INGRESS); /* slot 0: not an entry */
	assert_int_equal(run(skel->progs.tank_host_in, &f, 1), -1);
	assert_int_equal(stats(SLOT).egress.packets, 2);
	assert_int_equal(stats(SLOT + 3).ingress.packets, 2);
	set_ifh(0, 0, TANK_DIR_INGRESS);
}

/* tank_pod_* (on devices inside a pod's netns) never take tank_ifh_v1, tankd's netns's: the same
 * ifindex there is another device, found in tank_ifs_v3 under its own netns. */
static void test_pod_programs(void **state _unused_)
{
	struct frame f = frame_ipv4_tcp();

	REQUIRE_ROOT();
	set_ifh(LO_IFINDEX, SLOT + 3, TANK_DIR_INGRESS); /* tank_ifs_v3 says SLOT, EGRESS */
	assert_int_equal(run(skel->progs.tank_pod_in, &f, 2), -1);
	assert_int_equal(run(skel->progs.tank_pod_eg, &f, 1), -1);
	assert_int_equal(stats(SLOT).egress.packets, 2);
	assert_int_equal(stats(SLOT).ingress.packets, 1);
	assert_int_equal(stats(SLOT + 3).ingress.packets + stats(SLOT + 3).egress.packets, 0);
	/* and one of another netns is not theirs either */
	del_if(netns, LO_IFINDEX);
	set_if_ns(netns + 1, LO_IFINDEX, SLOT + 1, TANK_DIR_EGRESS);
	assert_int_equal(run(skel->progs.tank_pod_in, &f, 1), -1);
	assert_int_equal(stats(SLOT + 1).egress.packets, 0);
	del_if(netns + 1, LO_IFINDEX);
	set_ifh(0, 0, TANK_DIR_INGRESS);
}

/* An interface whose tc ingress sees the pod's ingress (macvlan inside the pod) flips both. */
static void test_direction_flip(void **state _unused_)
{
	struct frame f = frame_ipv4_tcp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	set_if(LO_IFINDEX, SLOT, TANK_DIR_INGRESS);
	run(skel->progs.tank_host_in, &f, 1);
	s = stats(SLOT);
	assert_int_equal(s.ingress.packets, 1);
	assert_int_equal(s.egress.packets, 0);
	run(skel->progs.tank_host_eg, &f, 1);
	s = stats(SLOT);
	assert_int_equal(s.egress.packets, 1);
}

/* Other slots are untouched. */
static void test_other_slot_untouched(void **state _unused_)
{
	struct frame f = frame_ipv4_tcp();
	struct tank_pod_stats s;

	REQUIRE_ROOT();
	run(skel->progs.tank_host_in, &f, 1);
	s = stats(SLOT + 1);
	assert_int_equal(s.egress.packets + s.ingress.packets, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_ipv4_tcp, test_setup),
		cmocka_unit_test_setup(test_ipv6_udp, test_setup),
		cmocka_unit_test_setup(test_non_ip, test_setup),
		cmocka_unit_test_setup(test_mixed_totals, test_setup),
		cmocka_unit_test_setup(test_unknown_ifindex, test_setup),
		cmocka_unit_test_setup(test_same_ifindex_other_netns, test_setup),
		cmocka_unit_test_setup(test_host_array, test_setup),
		cmocka_unit_test_setup(test_pod_programs, test_setup),
		cmocka_unit_test_setup(test_direction_flip, test_setup),
		cmocka_unit_test_setup(test_other_slot_untouched, test_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
