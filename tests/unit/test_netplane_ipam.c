/* test_netplane_ipam.c - pools, the lease set and the deterministic pick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "netplane/netplane.h"

static const char *fmt(const struct np_addr *a)
{
	static char buf[4][NP_ADDR_TEXT_MAX];
	static int i;

	i = (i + 1) % 4;
	assert_int_equal(np_addr_format(a, false, buf[i], sizeof(buf[i])), 0);
	return buf[i];
}

static void pool(struct np_ipam_pool *p, const char *name, const char *subnet)
{
	struct diag d = {};

	if (np_ipam_pool_init(p, name, subnet, &d) < 0)
		fail_msg("pool_init %s: %s", subnet, d.msg);
}

static void set(struct np_ipam_pool *p, const char *key, const char *value)
{
	struct diag d = {};

	if (np_ipam_pool_set(p, key, value, &d) < 0)
		fail_msg("pool_set %s=%s: %s", key, value, d.msg);
}

static struct np_addr pick(const struct np_ipam_pool *p, const char *owner,
			   const struct np_lease_set *s)
{
	struct np_addr a;
	struct diag d = {};

	if (np_ipam_pick(p, owner, s, &a, &d) < 0)
		fail_msg("pick %s: %s", owner, d.msg);
	return a;
}

/* pick and lease */
static struct np_addr take(const struct np_ipam_pool *p, const char *owner, struct np_lease_set *s)
{
	struct np_addr a = pick(p, owner, s);

	assert_int_equal(np_lease_add(s, p->name, owner, &a, NULL), 0);
	return a;
}

static void test_pool_init(void **state _unused_)
{
	struct np_ipam_pool *p = malloc(sizeof(*p));
	struct diag d = {};

	pool(p, "default", "198.18.0.0/24");
	assert_string_equal(p->name, "default");
	assert_int_equal(p->subnet.family, AF_INET);
	assert_int_equal(p->subnet.prefix, 24);
	pool(p, "v6", "2001:db8:1::/64");
	assert_int_equal(p->subnet.family, AF_INET6);

	assert_int_equal(np_ipam_pool_init(p, "x", "198.18.0.1/24", &d), -EINVAL);
	assert_non_null(strstr(d.msg, "host bits"));
	assert_int_equal(np_ipam_pool_init(p, "x", "198.18.0.0", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_init(p, "x", "0.0.0.0/0", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_init(p, "x", "nonsense", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_init(p, "bad name", "198.18.0.0/24", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_init(p, "", "198.18.0.0/24", NULL), -EINVAL);
	free(p);
}

static void test_pool_set(void **state _unused_)
{
	struct np_ipam_pool *p = malloc(sizeof(*p));
	struct diag d = {};

	pool(p, "lan", "198.18.0.0/24");
	set(p, "gateway", "198.18.0.1");
	assert_string_equal(fmt(&p->gateway), "198.18.0.1");
	assert_int_equal(p->gateway.prefix, 24);
	set(p, "range", "198.18.0.100-198.18.0.199");
	assert_string_equal(fmt(&p->range_start), "198.18.0.100");
	assert_string_equal(fmt(&p->range_end), "198.18.0.199");
	set(p, "dns", "198.18.0.2");
	set(p, "dns", "2001:db8::53");
	assert_int_equal(p->n_dns, 2);
	set(p, "domain", "Lab.Example");
	assert_string_equal(p->domain, "lab.example");
	set(p, "reserve", "198.18.0.150 uid-fixed/eth0");
	assert_int_equal(p->n_reserved, 1);
	assert_string_equal(p->reserved[0].owner, "uid-fixed/eth0");

	assert_int_equal(np_ipam_pool_set(p, "gateway", "198.18.1.1", &d), -EINVAL);
	assert_non_null(strstr(d.msg, "outside the subnet"));
	assert_int_equal(np_ipam_pool_set(p, "gateway", "2001:db8::1", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_set(p, "gateway", "198.18.0.1/16", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_set(p, "range", "198.18.0.9-198.18.0.8", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_set(p, "range", "198.18.0.9", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_set(p, "domain", "-bad.example", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_set(p, "domain", "a..b", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_set(p, "domain", "under_score.x", NULL), -EINVAL);
	assert_int_equal(np_ipam_pool_set(p, "reserve", "198.18.0.150 other/eth0", NULL), -EEXIST);
	assert_int_equal(np_ipam_pool_set(p, "reserve", "198.18.0.151 uid-fixed/eth0", NULL),
			 -EEXIST);
	assert_int_equal(np_ipam_pool_set(p, "reserve", "198.18.0.151", NULL), -EINVAL);
	set(p, "dns", "198.18.0.3");
	set(p, "dns", "198.18.0.4");
	assert_int_equal(np_ipam_pool_set(p, "dns", "198.18.0.5", NULL), -E2BIG);
	diag_clear(&d);
	assert_int_equal(np_ipam_pool_set(p, "subnet", "198.18.0.0/24", &d), -EINVAL);
	assert_non_null(strstr(d.msg, "unknown setting"));
	free(p);
}

static void test_owner_key(void **state _unused_)
{
	char buf[NP_IPAM_OWNER_MAX], small[8];

	assert_int_equal(np_ipam_owner_key("0b9e-uid", "eth0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0b9e-uid/eth0");
	assert_int_equal(np_ipam_owner_key("0b9e-uid", "eth0", small, sizeof(small)),
			 -ENAMETOOLONG);
	assert_int_equal(np_ipam_owner_key("", "eth0", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(np_ipam_owner_key("a b", "eth0", buf, sizeof(buf)), -EINVAL);
}

static void test_pick_deterministic(void **state _unused_)
{
	struct np_ipam_pool *p = malloc(sizeof(*p));
	struct np_lease_set s, s2;
	struct np_addr a, b, c;
	json_t *j;

	np_lease_set_init(&s);
	np_lease_set_init(&s2);
	pool(p, "default", "198.18.0.0/24");
	set(p, "gateway", "198.18.0.1");

	a = pick(p, "uid-1/eth0", &s);
	assert_int_equal(a.prefix, 24);
	/* pinned: the hash start must not change between releases */
	assert_string_equal(fmt(&a), "198.18.0.112");
	b = pick(p, "uid-1/eth0", &s);
	assert_string_equal(fmt(&a), fmt(&b));
	c = pick(p, "uid-2/eth0", &s);
	assert_string_not_equal(fmt(&a), fmt(&c));

	/* leased: the owner gets its lease back; another owner hashing there moves on */
	assert_int_equal(np_lease_add(&s, "default", "uid-1/eth0", &a, NULL), 0);
	assert_true(np_lease_contains(&s, "default", &a));
	b = pick(p, "uid-1/eth0", &s);
	assert_string_equal(fmt(&a), fmt(&b));

	/* after a restart: the lease table from JSON gives the same answers */
	take(p, "uid-2/eth0", &s);
	take(p, "uid-2/eth1", &s);
	j = np_lease_set_to_json(&s);
	assert_non_null(j);
	assert_int_equal(np_lease_set_from_json(j, &s2, NULL), 0);
	json_decref(j);
	assert_int_equal(s2.n, 3);
	for (size_t i = 0; i < s.n; i++) {
		b = pick(p, s.v[i].owner, &s2);
		assert_string_equal(fmt(&s.v[i].addr), fmt(&b));
	}
	np_lease_set_free(&s);
	np_lease_set_free(&s2);
	free(p);
}

/* Two owners whose hashes start at the same spot: the second probes to the next free one. */
static void test_pick_collision(void **state _unused_)
{
	struct np_ipam_pool *p = malloc(sizeof(*p));
	struct np_lease_set s, empty;
	struct np_addr first, a;
	char owner[32];
	bool found = false;

	np_lease_set_init(&s);
	np_lease_set_init(&empty);
	pool(p, "tiny", "198.18.0.0/28"); /* .1 - .14 */
	first = take(p, "uid-a/eth0", &s);
	for (int i = 0; i < 1000 && !found; i++) {
		uint32_t want = ntohl(first.v4.s_addr) + 1;

		snprintf(owner, sizeof(owner), "uid-%d/eth0", i);
		a = pick(p, owner, &empty);
		if (a.v4.s_addr != first.v4.s_addr)
			continue;
		found = true;
		a = pick(p, owner, &s);
		if ((want & 0xf) == 15)
			want -= 14; /* wrapped past the broadcast and the network address */
		assert_int_equal(ntohl(a.v4.s_addr), want);
	}
	assert_true(found);
	np_lease_set_free(&s);
	free(p);
}

static void test_pick_skips_and_exhaustion(void **state _unused_)
{
	struct np_ipam_pool *p = malloc(sizeof(*p));
	struct np_lease_set s;
	char owner[32], seen[8] = {};
	struct np_addr a;
	struct diag d = {};

	np_lease_set_init(&s);
	pool(p, "small", "198.18.0.8/29"); /* .8 net, .15 broadcast */
	set(p, "gateway", "198.18.0.9");
	set(p, "reserve", "198.18.0.10 uid-res/eth0");
	/* .11 .. .14 are left for everyone else */
	for (int i = 0; i < 4; i++) {
		snprintf(owner, sizeof(owner), "uid-%d/eth0", i);
		a = take(p, owner, &s);
		uint8_t last = ((uint8_t *)&a.v4)[3];

		assert_true(last >= 11 && last <= 14);
		assert_false(seen[last - 8]);
		seen[last - 8] = 1;
	}
	assert_int_equal(np_ipam_pick(p, "uid-9/eth0", &s, &a, &d), -ENOSPC);
	assert_non_null(strstr(d.msg, "pool small (198.18.0.8/29): no free address"));
	/* the reservation still works for its owner */
	a = pick(p, "uid-res/eth0", &s);
	assert_string_equal(fmt(&a), "198.18.0.10");
	/* and is refused when someone else holds it */
	a = (struct np_addr){ .family = AF_INET, .prefix = 29 };
	inet_pton(AF_INET, "198.18.0.10", &a.v4);
	assert_int_equal(np_lease_add(&s, "small", "uid-squat/eth0", &a, NULL), 0);
	diag_clear(&d);
	assert_int_equal(np_ipam_pick(p, "uid-res/eth0", &s, &a, &d), -EADDRINUSE);
	assert_non_null(strstr(d.msg, "uid-squat/eth0"));

	/* released pod: its address is free again */
	assert_int_equal(np_lease_release_pod(&s, "uid-2"), 1);
	a = pick(p, "uid-9/eth0", &s);

	/* reservations by pod name: any incarnation (uid) of the pod gets the address */
	set(p, "reserve", "198.18.0.14 web/eth0");
	np_lease_remove(&s, "small", "uid-3/eth0");
	np_lease_remove(&s, "small", "uid-1/eth0");
	np_lease_remove(&s, "small", "uid-0/eth0");
	np_lease_remove(&s, "small", "uid-9/eth0");
	assert_int_equal(np_ipam_pick_for(p, "uid-web1/eth0", "web/eth0", &s, &a, NULL), 0);
	assert_string_equal(fmt(&a), "198.18.0.14");
	assert_int_equal(np_ipam_pick_for(p, "uid-web2/eth0", "web/eth0", &s, &a, NULL), 0);
	assert_string_equal(fmt(&a), "198.18.0.14");
	/* and nobody else gets it, also when the pool runs out */
	int picked = 0;

	for (int i = 0; i < 8; i++) {
		snprintf(owner, sizeof(owner), "uid-x%d/eth0", i);
		if (np_ipam_pick_for(p, owner, owner, &s, &a, NULL) < 0)
			break;
		picked++;
		assert_string_not_equal(fmt(&a), "198.18.0.14");
		assert_int_equal(np_lease_add(&s, "small", owner, &a, NULL), 0);
	}
	assert_true(picked > 0);
	np_lease_set_free(&s);
	free(p);
}

static void test_pick_small_prefixes_and_range(void **state _unused_)
{
	struct np_ipam_pool *p = malloc(sizeof(*p));
	struct np_lease_set s;
	struct np_addr a, b;

	np_lease_set_init(&s);
	pool(p, "p2p", "198.18.0.0/31"); /* RFC 3021: both usable */
	a = take(p, "uid-1/eth0", &s);
	b = take(p, "uid-2/eth0", &s);
	assert_string_not_equal(fmt(&a), fmt(&b));
	assert_int_equal(np_ipam_pick(p, "uid-3/eth0", &s, &a, NULL), -ENOSPC);
	np_lease_set_free(&s);

	pool(p, "one", "198.18.0.7/32");
	a = take(p, "uid-1/eth0", &s);
	assert_string_equal(fmt(&a), "198.18.0.7");
	np_lease_set_free(&s);

	pool(p, "ranged", "198.18.0.0/16");
	set(p, "range", "198.18.3.250-198.18.4.2");
	for (int i = 0; i < 9; i++) {
		char owner[32];

		snprintf(owner, sizeof(owner), "uid-%d/eth0", i);
		a = take(p, owner, &s);
		uint32_t v = ntohl(a.v4.s_addr);

		assert_true(v >= 0xc61203fa && v <= 0xc6120402);
	}
	assert_int_equal(np_ipam_pick(p, "uid-x/eth0", &s, &a, NULL), -ENOSPC);
	np_lease_set_free(&s);
	free(p);
}

static void test_pick_v6(void **state _unused_)
{
	struct np_ipam_pool *p = malloc(sizeof(*p));
	struct np_lease_set s;
	struct np_addr a, b;
	struct diag d = {};

	np_lease_set_init(&s);
	pool(p, "v6", "2001:db8:7::/64");
	set(p, "gateway", "2001:db8:7::1");
	a = take(p, "uid-1/eth0", &s);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.prefix, 64);
	b = take(p, "uid-2/eth0", &s);
	assert_string_not_equal(fmt(&a), fmt(&b));
	assert_string_not_equal(fmt(&a), "2001:db8:7::");
	assert_string_not_equal(fmt(&a), "2001:db8:7::1");
	np_lease_set_free(&s);

	/* the RFC 2526 block: only ..ff7e and ..ff7f are left in this range */
	set(p, "range", "2001:db8:7:0:fdff:ffff:ffff:ff7e-2001:db8:7:0:fdff:ffff:ffff:ffff");
	a = take(p, "uid-1/eth0", &s);
	b = take(p, "uid-2/eth0", &s);
	assert_true(!strcmp(fmt(&a), "2001:db8:7:0:fdff:ffff:ffff:ff7e") ||
		    !strcmp(fmt(&a), "2001:db8:7:0:fdff:ffff:ffff:ff7f"));
	assert_string_not_equal(fmt(&a), fmt(&b));
	assert_int_equal(np_ipam_pick(p, "uid-3/eth0", &s, &a, &d), -ENOSPC);
	np_lease_set_free(&s);
	free(p);
}

static void test_lease_set(void **state _unused_)
{
	struct np_lease_set s;
	struct np_addr a, b;
	struct diag d = {};
	json_t *j;
	char *text;

	np_lease_set_init(&s);
	assert_int_equal(np_addr_parse("198.18.0.5/24", &a), 0);
	assert_int_equal(np_addr_parse("198.18.0.6/24", &b), 0);
	assert_int_equal(np_lease_add(&s, "p", "uid-1/eth0", &a, NULL), 0);
	assert_int_equal(np_lease_add(&s, "p", "uid-1/eth0", &a, NULL), 0); /* same: fine */
	assert_int_equal(np_lease_add(&s, "p", "uid-2/eth0", &a, &d), -EADDRINUSE);
	assert_non_null(strstr(d.msg, "leased to uid-1/eth0"));
	assert_int_equal(np_lease_add(&s, "p", "uid-1/eth0", &b, NULL), -EEXIST);
	assert_int_equal(np_lease_add(&s, "q", "uid-1/eth0", &b, NULL), 0); /* other pool */
	assert_int_equal(np_lease_add(&s, "p", "uid-1/eth1", &b, NULL), 0);
	assert_int_equal(np_lease_add(&s, "p", "uid-10/eth0", &(struct np_addr){ .family = AF_INET,
			 .prefix = 24, .v4 = { htonl(0xc6120007) } }, NULL), 0);
	assert_int_equal(np_lease_add(&s, "bad pool", "o", &a, NULL), -EINVAL);
	assert_int_equal(np_lease_add(&s, "p", "has space", &a, NULL), -EINVAL);
	assert_int_equal(s.n, 4);

	assert_non_null(np_lease_find(&s, "p", "uid-1/eth1"));
	assert_null(np_lease_find(&s, "p", "uid-3/eth0"));
	assert_non_null(np_lease_find(&s, NULL, "uid-1/eth0"));

	j = np_lease_set_to_json(&s);
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(strstr(text, "{\"pool\":\"p\",\"owner\":\"uid-1/eth0\",\"addr\":"
				     "\"198.18.0.5/24\"}"));
	free(text);
	json_decref(j);

	/* uid-1 goes: both NICs, both pools; uid-10 stays */
	assert_int_equal(np_lease_release_pod(&s, "uid-1"), 3);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0].owner, "uid-10/eth0");
	assert_int_equal(np_lease_remove(&s, "p", "uid-10/eth0"), 1);
	assert_int_equal(np_lease_remove(&s, "p", "uid-10/eth0"), 0);
	np_lease_set_free(&s);
}

static void test_lease_json_bad(void **state _unused_)
{
	static const char *const bad[] = {
		"{}",
		"[1]",
		"[{\"pool\":\"p\",\"owner\":\"o\"}]",
		"[{\"pool\":\"p\",\"owner\":\"o\",\"addr\":\"nope\"}]",
		"[{\"pool\":\"p p\",\"owner\":\"o\",\"addr\":\"198.18.0.1/24\"}]",
		"[{\"pool\":\"p\",\"owner\":\"o\",\"addr\":\"198.18.0.1/24\"},"
		" {\"pool\":\"p\",\"owner\":\"o2\",\"addr\":\"198.18.0.1/24\"}]",
	};
	struct np_lease_set s;
	struct np_addr a;

	np_lease_set_init(&s);
	assert_int_equal(np_addr_parse("198.18.0.9/24", &a), 0);
	assert_int_equal(np_lease_add(&s, "keep", "me/eth0", &a, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		struct diag d = {};

		assert_non_null(j);
		if (np_lease_set_from_json(j, &s, &d) >= 0)
			fail_msg("accepted %s", bad[i]);
		assert_true(d.msg[0] != '\0');
		json_decref(j);
	}
	assert_int_equal(s.n, 1); /* untouched on failure */
	np_lease_set_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_init),
		cmocka_unit_test(test_pool_set),
		cmocka_unit_test(test_owner_key),
		cmocka_unit_test(test_pick_deterministic),
		cmocka_unit_test(test_pick_collision),
		cmocka_unit_test(test_pick_skips_and_exhaustion),
		cmocka_unit_test(test_pick_small_prefixes_and_range),
		cmocka_unit_test(test_pick_v6),
		cmocka_unit_test(test_lease_set),
		cmocka_unit_test(test_lease_json_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
