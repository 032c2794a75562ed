/* test_netplane_mac.c - stable, locally administered unicast MACs derived from pod and NIC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "netplane/netplane.h"

static void test_mac_stable(void **state _unused_)
{
	uint8_t a[6], b[6];
	char text[18];

	np_mac_derive("4f1c9a52-uid", "eth0", a);
	np_mac_derive("4f1c9a52-uid", "eth0", b);
	assert_memory_equal(a, b, 6);
	/* pinned: a MAC must not change between releases (neighbour caches, DHCP, firewalls) */
	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4],
		 a[5]);
	assert_string_equal(text, "1a:9c:82:8c:1c:72");
}

static void test_mac_bits(void **state _unused_)
{
	char uid[32];
	uint8_t m[6];

	for (int i = 0; i < 2000; i++) {
		snprintf(uid, sizeof(uid), "uid-%d", i);
		np_mac_derive(uid, i % 2 ? "eth0" : "eth1", m);
		assert_int_equal(m[0] & 0x01, 0); /* unicast */
		assert_int_equal(m[0] & 0x02, 0x02); /* locally administered */
	}
}

static void test_mac_distinct(void **state _unused_)
{
	uint8_t a[6], b[6], c[6], e[6];

	np_mac_derive("uid-1", "eth0", a);
	np_mac_derive("uid-1", "eth1", b);
	np_mac_derive("uid-2", "eth0", c);
	assert_memory_not_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	/* the pod/NIC boundary counts: ("ab", "c") is not ("a", "bc") */
	np_mac_derive("ab", "c", a);
	np_mac_derive("a", "bc", e);
	assert_memory_not_equal(a, e, 6);
	/* NULL inputs do not crash */
	np_mac_derive(NULL, NULL, e);
	assert_int_equal(e[0] & 0x03, 0x02);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_stable),
		cmocka_unit_test(test_mac_bits),
		cmocka_unit_test(test_mac_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
