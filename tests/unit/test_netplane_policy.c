/* test_netplane_policy.c - policy compiler: trie entries, push-down, excepts, ports, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "netplane/netplane.h"

static struct np_addr A(const char *s)
{
	struct np_addr a;

	assert_int_equal(np_addr_parse(s, &a), 0);
	return a;
}

/* 1 allowed (rule in *rule), 0 denied */
static int eval(const struct np_policy_compiled *c, enum tank_dir dir, const char *peer,
		uint8_t proto, int port, uint32_t *rule)
{
	struct np_addr a = A(peer);
	uint32_t r = 12345;
	int v = np_policy_eval(c, dir, &a, proto, port, &r);

	if (rule)
		*rule = v == 1 ? r : TANK_RULE_NONE;
	return v;
}

static struct np_policy_compiled *compile(const struct np_policy *p)
{
	struct np_policy_compiled *c = NULL;
	struct diag d = {};

	if (np_policy_compile(p, &c, &d) < 0)
		fail_msg("compile: %s", diag_text(&d, d.err));
	return c;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_no_policy(void **state _unused_)
{
	struct np_policy p = {};
	struct np_policy_compiled *c = compile(&p);
	uint32_t rule;

	/* per direction: META + 0/0 + ::/0 */
	assert_int_equal(c->n, 6);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.1", IPPROTO_TCP, 80, &rule), 1);
	assert_int_equal(rule, TANK_RULE_NO_POLICY);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "2001:db8::1", IPPROTO_UDP, -1, &rule), 1);
	assert_int_equal(rule, TANK_RULE_NO_POLICY);
	np_policy_compiled_free(c);
}

static void test_present_empty_denies(void **state _unused_)
{
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { .present = true } };
	struct np_policy_compiled *c = compile(&p);

	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.1", IPPROTO_TCP, 80, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "2001:db8::1", IPPROTO_ICMPV6, 0, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "198.18.0.1", IPPROTO_TCP, 80, NULL), 1);
	np_policy_compiled_free(c);
}

/* The DESIGN.md §4 example. */
static void test_design_example(void **state _unused_)
{
	struct np_addr in_peers[] = { A("198.18.0.0/24") };
	struct np_port_range in_ports[] = { { IPPROTO_TCP, 80, 80 }, { IPPROTO_TCP, 8000, 8100 } };
	struct np_addr eg_peers[] = { A("0.0.0.0/0"), A("::/0") };
	struct np_port_range eg_ports[] = { { IPPROTO_UDP, 53, 53 }, { IPPROTO_TCP, 443, 443 } };
	struct np_rule in = { in_peers, 1, NULL, 0, in_ports, 2 };
	struct np_rule eg = { eg_peers, 2, NULL, 0, eg_ports, 2 };
	struct np_policy p = {
		.dir[TANK_DIR_INGRESS] = { true, &in, 1 },
		.dir[TANK_DIR_EGRESS] = { true, &eg, 1 },
	};
	struct np_policy_compiled *c = compile(&p);
	uint32_t rule;

	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.7", IPPROTO_TCP, 80, &rule), 1);
	assert_int_equal(rule, 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.7", IPPROTO_TCP, 8000, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.7", IPPROTO_TCP, 8100, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.7", IPPROTO_TCP, 8101, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.7", IPPROTO_TCP, 7999, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.7", IPPROTO_UDP, 80, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.1.7", IPPROTO_TCP, 80, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "2001:db8::7", IPPROTO_TCP, 80, NULL), 0);
	/* a later fragment: no port-less rule */
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.7", IPPROTO_TCP, -1, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "198.19.3.4", IPPROTO_UDP, 53, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "2001:db8:9::1", IPPROTO_TCP, 443, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "2001:db8:9::1", IPPROTO_TCP, 80, NULL), 0);
	/* both rules share one port set per direction */
	assert_int_equal(c->n_sets, 2);
	np_policy_compiled_free(c);
}

/* A shorter prefix's rules reach inside longer ones; an except cuts only its own rule. */
static void test_pushdown_and_except(void **state _unused_)
{
	struct np_addr p1[] = { A("198.18.0.0/16") }, e1[] = { A("198.18.5.0/24") };
	struct np_addr p2[] = { A("198.18.5.0/24") }, p3[] = { A("198.18.5.128/25") };
	struct np_port_range http[] = { { IPPROTO_TCP, 80, 80 } };
	struct np_port_range ssh[] = { { IPPROTO_TCP, 22, 22 } };
	struct np_port_range udp[] = { { IPPROTO_UDP, 0, 65535 } };
	struct np_rule rules[] = {
		{ p1, 1, e1, 1, http, 1 }, /* 1: /16 :80 except 5.0/24 */
		{ p2, 1, NULL, 0, ssh, 1 }, /* 2: 5.0/24 :22 */
		{ p3, 1, NULL, 0, udp, 1 }, /* 3: 5.128/25 udp */
	};
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, rules, 3 } };
	struct np_policy_compiled *c = compile(&p);
	uint32_t rule;

	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.6.1", IPPROTO_TCP, 80, &rule), 1);
	assert_int_equal(rule, 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.6.1", IPPROTO_TCP, 22, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.5.1", IPPROTO_TCP, 80, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.5.1", IPPROTO_TCP, 22, &rule), 1);
	assert_int_equal(rule, 2);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.5.200", IPPROTO_TCP, 22, &rule), 1);
	assert_int_equal(rule, 2);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.5.200", IPPROTO_UDP, 9, &rule), 1);
	assert_int_equal(rule, 3);
	/* the whole of UDP: a later fragment passes too */
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.5.200", IPPROTO_UDP, -1, &rule), 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.5.200", IPPROTO_TCP, 80, NULL), 0);
	np_policy_compiled_free(c);
}

/* No peers = any (both families); no ports = everything; excepts of the other family ignored. */
static void test_any_peer_any_port(void **state _unused_)
{
	struct np_addr ex[] = { A("2001:db8:bad::/48"), A("198.18.66.0/24") };
	struct np_rule rules[] = { { NULL, 0, ex, 2, NULL, 0 } };
	struct np_policy p = { .dir[TANK_DIR_EGRESS] = { true, rules, 1 } };
	struct np_policy_compiled *c = compile(&p);
	uint32_t rule;

	assert_int_equal(eval(c, TANK_DIR_EGRESS, "198.19.1.1", 47, -1, &rule), 1);
	assert_int_equal(rule, 1);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "2001:db8::1", IPPROTO_TCP, 1, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "2001:db8:bad::1", IPPROTO_TCP, 1, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_EGRESS, "198.18.66.9", IPPROTO_ICMP, 0, NULL), 0);
	np_policy_compiled_free(c);
}

static void test_icmp_and_protocols(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.0.0/15"), A("2001:db8::/32") };
	struct np_port_range ports[] = { { IPPROTO_ICMP, 0, 0 }, { IPPROTO_ICMPV6, 0, 0 },
					 { IPPROTO_SCTP, 9000, 9001 } };
	struct np_rule rules[] = { { peers, 2, NULL, 0, ports, 3 } };
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, rules, 1 } };
	struct np_policy_compiled *c = compile(&p);

	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.19.0.1", IPPROTO_ICMP, 0, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.19.0.1", IPPROTO_ICMP, -1, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "2001:db8::1", IPPROTO_ICMPV6, 0, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "2001:db8::1", IPPROTO_SCTP, 9001, NULL), 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "2001:db8::1", IPPROTO_SCTP, 9002, NULL), 0);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "2001:db8::1", IPPROTO_UDP, 9001, NULL), 0);
	np_policy_compiled_free(c);
}

/* Every port of a few awkward ranges, against the range itself. */
static void test_port_ranges_exhaustive(void **state _unused_)
{
	static const uint16_t ranges[][2] = { { 1, 1 },	    { 1, 65535 },   { 0, 65534 },
					      { 1023, 1025 }, { 8000, 8100 }, { 32768, 65535 },
					      { 12345, 54321 } };

	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		struct np_port_range pr = { IPPROTO_TCP, ranges[i][0], ranges[i][1] };
		struct np_rule rule = { NULL, 0, NULL, 0, &pr, 1 };
		struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, &rule, 1 } };
		struct np_policy_compiled *c = compile(&p);
		struct np_addr peer = A("198.18.0.1");

		/* at most 2 * 15 prefixes per range (+ META, peer entries) */
		assert_true(c->n <= 32 + 4);
		for (int port = 0; port <= 65535; port += (port % 97 == 0 ? 1 : 13)) {
			uint32_t r;
			int want = port >= ranges[i][0] && port <= ranges[i][1];

			assert_int_equal(np_policy_eval(c, TANK_DIR_INGRESS, &peer, IPPROTO_TCP,
							port, &r),
					 want);
		}
		for (int k = 0; k < 2; k++) {
			uint32_t r;
			int port = ranges[i][k];

			assert_int_equal(np_policy_eval(c, TANK_DIR_INGRESS, &peer, IPPROTO_TCP,
							port, &r), 1);
			if (port > 0 && k == 0)
				assert_int_equal(np_policy_eval(c, TANK_DIR_INGRESS, &peer,
								IPPROTO_TCP, port - 1, &r), 0);
			if (port < 65535 && k == 1)
				assert_int_equal(np_policy_eval(c, TANK_DIR_INGRESS, &peer,
								IPPROTO_TCP, port + 1, &r), 0);
		}
		np_policy_compiled_free(c);
	}
}

/* ---- random policies against the definition ------------------------------------------------ */

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Addresses from a small pool so that prefixes nest often. */
static struct np_addr rnd_prefix(bool v6)
{
	struct np_addr a = {};

	if (!v6) {
		uint32_t x = 0xc6120000u | (rnd(4) << 8) | (rnd(4) << 4) | rnd(4); /* 198.18.x.y */
		static const uint8_t lens[] = { 15, 16, 20, 24, 26, 28, 30, 32, 0 };

		a.family = AF_INET;
		a.prefix = lens[rnd(ARRAY_SIZE(lens))];
		a.v4.s_addr = htonl(x);
	} else {
		static const uint8_t lens[] = { 32, 48, 64, 120, 124, 128, 0 };

		a.family = AF_INET6;
		a.prefix = lens[rnd(ARRAY_SIZE(lens))];
		inet_pton(AF_INET6, "2001:db8::", &a.v6);
		a.v6.s6_addr[5] = (uint8_t)rnd(3);
		a.v6.s6_addr[15] = (uint8_t)rnd(64);
	}
	return a;
}

static bool in_prefix(const struct np_addr *p, const struct np_addr *a)
{
	const uint8_t *x = p->family == AF_INET ? (const uint8_t *)&p->v4 : p->v6.s6_addr;
	const uint8_t *y = a->family == AF_INET ? (const uint8_t *)&a->v4 : a->v6.s6_addr;

	if (p->family != a->family)
		return false;
	for (unsigned int b = 0; b < p->prefix; b++)
		if ((x[b / 8] ^ y[b / 8]) & (0x80 >> (b % 8)))
			return false;
	return true;
}

static bool rule_matches(const struct np_rule *r, const struct np_addr *a, uint8_t proto,
			 int port)
{
	bool peer = r->n_peers == 0, ports = r->n_ports == 0;

	for (size_t i = 0; i < r->n_peers; i++)
		peer |= in_prefix(&r->peers[i], a);
	for (size_t i = 0; i < r->n_excepts; i++)
		peer &= !in_prefix(&r->excepts[i], a);
	for (size_t i = 0; i < r->n_ports; i++) {
		const struct np_port_range *pr = &r->ports[i];
		bool has_ports = pr->proto == IPPROTO_TCP || pr->proto == IPPROTO_UDP;

		if (pr->proto != proto)
			continue;
		if (!has_ports || (pr->lo == 0 && pr->hi == 65535))
			ports = true;
		else if (port >= 0 && port >= pr->lo && port <= pr->hi)
			ports = true;
	}
	return peer && ports;
}

static void test_random_against_definition(void **state _unused_)
{
	for (int round = 0; round < 60; round++) {
		struct np_addr peers[40][3], excepts[40][2];
		struct np_port_range ports[40][3];
		struct np_rule rules[40];
		size_t n = 1 + rnd(40);
		struct np_policy p = { .dir[TANK_DIR_EGRESS] = { true, rules, n } };
		struct np_policy_compiled *c;

		for (size_t i = 0; i < n; i++) {
			rules[i] = (struct np_rule){ peers[i], rnd(4), excepts[i], rnd(3),
						     ports[i], rnd(4) };
			for (size_t j = 0; j < 3; j++)
				peers[i][j] = rnd_prefix(rnd(3) == 0);
			for (size_t j = 0; j < 2; j++)
				excepts[i][j] = rnd_prefix(rnd(3) == 0);
			for (size_t j = 0; j < 3; j++) {
				uint16_t lo = (uint16_t)rnd(120), hi = (uint16_t)(lo + rnd(40));
				static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP,
								  IPPROTO_ICMP };

				ports[i][j] = (struct np_port_range){ protos[rnd(3)], lo, hi };
				if (rnd(8) == 0)
					ports[i][j].hi = 65535, ports[i][j].lo = 0;
			}
		}
		c = compile(&p);
		for (int k = 0; k < 3000; k++) {
			struct np_addr a = rnd_prefix(rnd(2));
			static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP };
			uint8_t proto = protos[rnd(3)];
			int port = rnd(10) == 0 ? -1 : (int)rnd(170);
			bool want = false;
			uint32_t rule = 0;
			int got;

			a.prefix = a.family == AF_INET ? 32 : 128;
			for (size_t i = 0; i < n; i++)
				want |= rule_matches(&rules[i], &a, proto, port);
			got = np_policy_eval(c, TANK_DIR_EGRESS, &a, proto, port, &rule);
			if (got != (int)want) {
				char buf[64];

				np_addr_format(&a, false, buf, sizeof(buf));
				fail_msg("round %d: %s proto %u port %d: want %d got %d", round,
					 buf, proto, port, want, got);
			}
			/* the rule reported is one that allows it */
			if (got == 1)
				assert_true(rule >= 1 && rule <= n &&
					    rule_matches(&rules[rule - 1], &a, proto, port));
		}
		np_policy_compiled_free(c);
	}
}

static void test_errors(void **state _unused_)
{
	struct np_addr bad = A("198.18.0.0/24");
	struct np_port_range rev = { IPPROTO_TCP, 90, 80 };
	struct np_rule r1 = { &bad, 1, NULL, 0, NULL, 0 };
	struct np_rule r2 = { NULL, 0, NULL, 0, &rev, 1 };
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, &r1, 1 } };
	struct np_policy_compiled *c = NULL;
	struct diag d = {};

	bad.prefix = 33;
	assert_int_equal(np_policy_compile(&p, &c, &d), -EINVAL);
	assert_string_equal(d.path, "ingress[0].peers[0]");
	assert_null(c);
	diag_clear(&d);
	bad.prefix = 24;
	bad.family = AF_UNIX;
	assert_int_equal(np_policy_compile(&p, &c, &d), -EINVAL);
	diag_clear(&d);
	p.dir[TANK_DIR_INGRESS].rules = &r2;
	assert_int_equal(np_policy_compile(&p, &c, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "reversed"));
	diag_clear(&d);
	p.dir[TANK_DIR_INGRESS].n_rules = NP_POLICY_RULES_MAX + 1;
	assert_int_equal(np_policy_compile(&p, &c, &d), -E2BIG);
	assert_int_equal(np_policy_compile(NULL, &c, NULL), -EINVAL);
}

/* Host bits of a peer are ignored; duplicate peers make one entry. */
static void test_host_bits_and_duplicates(void **state _unused_)
{
	struct np_addr peers[] = { A("198.18.0.77/24"), A("198.18.0.0/24"), A("198.18.0.1/24") };
	struct np_rule r = { peers, 3, NULL, 0, NULL, 0 };
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, &r, 1 } };
	struct np_policy_compiled *c = compile(&p);
	size_t peer_entries = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->keys[i].kind == TANK_POL_PEER && c->keys[i].dir == TANK_DIR_INGRESS) {
			peer_entries++;
			assert_int_equal(c->keys[i].prefixlen, TANK_POL_HDR_BITS + 24);
			assert_int_equal(c->keys[i].addr[3], 0);
		}
	assert_int_equal(peer_entries, 1);
	assert_int_equal(eval(c, TANK_DIR_INGRESS, "198.18.0.200", IPPROTO_TCP, 1, NULL), 1);
	np_policy_compiled_free(c);
}

/* 10,000 rules with distinct /32 peers, and 10,000 rules on one prefix: sizes and time. */
static void test_large(void **state _unused_)
{
	enum { N = 10000 };
	struct np_addr *peers = calloc(N, sizeof(*peers));
	struct np_port_range *ports = calloc(N, sizeof(*ports));
	struct np_rule *rules = calloc(N, sizeof(*rules));
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, rules, N } };
	struct np_policy_compiled *c;
	struct timespec t0, t1;

	assert_non_null(peers);
	assert_non_null(ports);
	assert_non_null(rules);
	for (int i = 0; i < N; i++) {
		peers[i].family = AF_INET;
		peers[i].prefix = 32;
		peers[i].v4.s_addr = htonl(0xc6120000u + (uint32_t)i);
		ports[i] = (struct np_port_range){ IPPROTO_TCP, (uint16_t)(1000 + i % 1000),
						   (uint16_t)(1000 + i % 1000) };
		rules[i] = (struct np_rule){ &peers[i], 1, NULL, 0, &ports[i], 1 };
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = compile(&p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("10k distinct peers: %zu entries, %u sets, %.1f ms\n", c->n, c->n_sets,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			      (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_int_equal(c->n_sets, N);
	np_policy_compiled_free(c);

	/* all on one prefix: one set holding 10k rules, 1000 distinct ports */
	for (int i = 0; i < N; i++)
		peers[i] = A("198.18.0.0/16");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = compile(&p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("10k rules on one peer: %zu entries, %u sets, %.1f ms\n", c->n, c->n_sets,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			      (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_int_equal(c->n_sets, 1);
	np_policy_compiled_free(c);
	free(peers);
	free(ports);
	free(rules);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_policy),
		cmocka_unit_test(test_present_empty_denies),
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_pushdown_and_except),
		cmocka_unit_test(test_any_peer_any_port),
		cmocka_unit_test(test_icmp_and_protocols),
		cmocka_unit_test(test_port_ranges_exhaustive),
		cmocka_unit_test(test_random_against_definition),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_host_bits_and_duplicates),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
