/* fuzz_dns.c - libFuzzer target: hostile DNS queries through the embedded server's answer path,
 * its error replies and the forwarding matcher; checks that every reply stays in bounds and
 * answers the question it was asked. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netplane/netplane.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct np_addr addrs[3], rev[2];
static struct np_dns_name names[3];
static struct np_dns_zone zone;

/* the Makefile links dns.c alone: no np_addr_parse() here */
static struct np_addr addr(int family, const char *text, uint8_t prefix)
{
	struct np_addr a = { .family = family, .prefix = prefix };

	inet_pton(family, text, &a.v6);
	return a;
}

static void zone_init(void)
{
	if (zone.names)
		return;
	addrs[0] = addr(AF_INET, "198.18.0.11", 24);
	addrs[1] = addr(AF_INET6, "2001:db8:1::11", 64);
	addrs[2] = addr(AF_INET, "198.18.0.12", 24);
	rev[0] = addr(AF_INET, "198.18.0.0", 24);
	rev[1] = addr(AF_INET6, "2001:db8:1::", 64);
	names[0] = (struct np_dns_name){ "web", addrs, 2 };
	names[1] = (struct np_dns_name){ "db", addrs + 2, 1 };
	names[2] = (struct np_dns_name){ "a.b", addrs, 1 }; /* never matches */
	zone = (struct np_dns_zone){ .names = names, .n_names = 3, .reverse = rev, .n_reverse = 2 };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[NP_DNS_UDP_MAX];
	size_t len = 0, half;
	enum np_dns_verdict v;

	zone_init();
	v = np_dns_answer(&zone, data, size, out, sizeof(out), &len);
	if (v == NP_DNS_REPLY) {
		if (len < 12 || len > sizeof(out))
			__builtin_trap();
		/* a reply carrying the question must be recognised as this query's answer */
		if (out[5] == 1 && !np_dns_reply_matches(data, size, out, len))
			__builtin_trap();
	}
	if (np_dns_error_reply(data, size, 2, out, sizeof(out), &len) == 0 &&
	    (len < 12 || len > sizeof(out) || !np_dns_reply_matches(data, size, out, len)))
		__builtin_trap();

	/* the forwarding matcher on two halves of the input (query, upstream reply) */
	half = size / 2;
	np_dns_reply_matches(data, half, data + half, size - half);
	(void)np_dns_msg_id(data, size);
	return 0;
}
