/* test_netplane_dns.c - the embedded DNS server: answers, forward verdicts, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "netplane/netplane.h"

#define T_A 1
#define T_PTR 12
#define T_MX 15
#define T_AAAA 28
#define T_ANY 255

/* ---- a zone ------------------------------------------------------------------------------- */

static struct np_addr web_addrs[2], db_addrs[1], big_addrs[40], reverse[2];
static struct np_dns_name names[3];
static struct np_dns_zone zone;

static int setup(void **state _unused_)
{
	assert_int_equal(np_addr_parse("198.18.0.11/24", &web_addrs[0]), 0);
	assert_int_equal(np_addr_parse("2001:db8:1::11/64", &web_addrs[1]), 0);
	assert_int_equal(np_addr_parse("198.18.0.12/24", &db_addrs[0]), 0);
	for (size_t i = 0; i < ARRAY_SIZE(big_addrs); i++) {
		char text[64];

		snprintf(text, sizeof(text), "2001:db8:2::%zx/64", i + 1);
		assert_int_equal(np_addr_parse(text, &big_addrs[i]), 0);
	}
	assert_int_equal(np_addr_parse("198.18.0.0/24", &reverse[0]), 0);
	assert_int_equal(np_addr_parse("2001:db8:1::/64", &reverse[1]), 0);
	names[0] = (struct np_dns_name){ "web", web_addrs, 2 };
	names[1] = (struct np_dns_name){ "db", db_addrs, 1 };
	names[2] = (struct np_dns_name){ "big", big_addrs, ARRAY_SIZE(big_addrs) };
	zone = (struct np_dns_zone){
		.names = names, .n_names = 3, .reverse = reverse, .n_reverse = 2, .ttl = 30,
	};
	return 0;
}

/* ---- building queries ---------------------------------------------------------------------- */

struct msg {
	uint8_t b[1500];
	size_t len;
};

static void put16(struct msg *m, uint16_t v)
{
	m->b[m->len++] = (uint8_t)(v >> 8);
	m->b[m->len++] = (uint8_t)v;
}

static void put_name(struct msg *m, const char *name)
{
	const char *p = name;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		m->b[m->len++] = (uint8_t)l;
		memcpy(m->b + m->len, p, l);
		m->len += l;
		p = dot ? dot + 1 : p + l;
	}
	m->b[m->len++] = 0;
}

static struct msg query(uint16_t id, const char *name, uint16_t qtype, int edns_size)
{
	struct msg m = {};

	put16(&m, id);
	put16(&m, 0x0100); /* RD */
	put16(&m, 1);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, edns_size ? 1 : 0);
	put_name(&m, name);
	put16(&m, qtype);
	put16(&m, 1);
	if (edns_size) {
		m.b[m.len++] = 0;
		put16(&m, 41);
		put16(&m, (uint16_t)edns_size);
		put16(&m, 0);
		put16(&m, 0);
		put16(&m, 0);
	}
	return m;
}

/* ---- reading replies ------------------------------------------------------------------------ */

struct reply {
	uint8_t b[NP_DNS_UDP_MAX];
	size_t len;
	uint16_t id, flags, qd, an, ns, ar;
	size_t answers_at;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static enum np_dns_verdict ask(const struct msg *q, struct reply *r)
{
	enum np_dns_verdict v;

	memset(r, 0, sizeof(*r));
	v = np_dns_answer(&zone, q->b, q->len, r->b, sizeof(r->b), &r->len);
	if (v != NP_DNS_REPLY)
		return v;
	assert_true(r->len >= 12 && r->len <= sizeof(r->b));
	r->id = get16(r->b);
	r->flags = get16(r->b + 2);
	r->qd = get16(r->b + 4);
	r->an = get16(r->b + 6);
	r->ns = get16(r->b + 8);
	r->ar = get16(r->b + 10);
	if (r->qd == 1) {
		size_t p = 12;

		while (r->b[p])
			p += 1 + r->b[p];
		r->answers_at = p + 1 + 4;
	}
	return v;
}

static int rcode(const struct reply *r)
{
	return r->flags & 0xf;
}

/* The i-th answer's type and rdata. */
static const uint8_t *answer(const struct reply *r, unsigned int i, uint16_t *type,
			     uint16_t *rdlen)
{
	size_t p = r->answers_at;

	assert_true(i < r->an);
	for (unsigned int k = 0;; k++) {
		assert_int_equal(get16(r->b + p), 0xc00c); /* the question's name */
		*type = get16(r->b + p + 2);
		assert_int_equal(get16(r->b + p + 4), 1);
		*rdlen = get16(r->b + p + 10);
		if (k == i)
			return r->b + p + 12;
		p += 12 + *rdlen;
	}
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_a_aaaa_any(void **state _unused_)
{
	struct msg q = query(0x1234, "web.tank.internal", T_A, 0);
	struct reply r;
	uint16_t type, len;
	const uint8_t *rd;

	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.id, 0x1234);
	assert_int_equal(r.flags & 0x8000, 0x8000); /* QR */
	assert_int_equal(r.flags & 0x0400, 0x0400); /* AA */
	assert_int_equal(r.flags & 0x0100, 0x0100); /* RD copied */
	assert_int_equal(r.flags & 0x0080, 0x0080); /* RA */
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.qd, 1);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ar, 0);
	assert_memory_equal(r.b + 12, q.b + 12, q.len - 12); /* question echoed */
	rd = answer(&r, 0, &type, &len);
	assert_int_equal(type, T_A);
	assert_int_equal(len, 4);
	assert_memory_equal(rd, &web_addrs[0].v4, 4);
	/* TTL */
	assert_int_equal(get16(r.b + r.answers_at + 8), 30);

	q = query(2, "web.tank.internal", T_AAAA, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 1);
	rd = answer(&r, 0, &type, &len);
	assert_int_equal(type, T_AAAA);
	assert_int_equal(len, 16);
	assert_memory_equal(rd, &web_addrs[1].v6, 16);

	q = query(3, "web.tank.internal", T_ANY, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 2);

	/* no AAAA for db: NOERROR, no answer (NODATA) */
	q = query(4, "db.tank.internal", T_AAAA, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.an, 0);
	q = query(5, "web.tank.internal", T_MX, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.an, 0);
}

static void test_case_insensitive(void **state _unused_)
{
	struct msg q = query(7, "WeB.TANK.Internal", T_A, 0);
	struct reply r;

	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 1);
	assert_memory_equal(r.b + 12, q.b + 12, q.len - 12); /* case kept */
}

static void test_nxdomain_and_apex(void **state _unused_)
{
	struct msg q = query(8, "nope.tank.internal", T_A, 0);
	struct reply r;

	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 3);
	assert_int_equal(r.flags & 0x0400, 0x0400);
	assert_int_equal(r.an, 0);
	q = query(9, "x.web.tank.internal", T_A, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 3);
	q = query(10, "tank.internal", T_A, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.an, 0);
}

static void test_forward(void **state _unused_)
{
	struct msg q = query(11, "deb.debian.org", T_A, 0);
	struct reply r;

	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
	q = query(12, "web", T_A, 0); /* a bare name is not ours */
	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
	q = query(13, "tank.internal.example", T_A, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
	q = query(14, "internal", T_A, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
	/* reverse outside our prefixes */
	q = query(15, "1.0.19.198.in-addr.arpa", T_PTR, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
	q = query(16, "0.19.198.in-addr.arpa", T_PTR, 0); /* partial */
	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
}

static void test_ptr(void **state _unused_)
{
	static const uint8_t want[] = "\003web\004tank\010internal";
	struct msg q = query(20, "11.0.18.198.in-addr.arpa", T_PTR, 0);
	struct reply r;
	uint16_t type, len;
	const uint8_t *rd;

	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.an, 1);
	rd = answer(&r, 0, &type, &len);
	assert_int_equal(type, T_PTR);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(rd, want, sizeof(want));

	q = query(21, "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
		  T_PTR, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 1);
	rd = answer(&r, 0, &type, &len);
	assert_memory_equal(rd, want, sizeof(want));
	/* upper-case nibbles are the same name */
	q = query(22, "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.B.D.0.1.0.0.2.IP6.ARPA",
		  T_PTR, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 1);

	/* in our prefix but nobody's: NXDOMAIN; leading zeros are not an address */
	q = query(23, "99.0.18.198.in-addr.arpa", T_PTR, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 3);
	q = query(24, "011.0.18.198.in-addr.arpa", T_PTR, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
	q = query(25, "11.0.18.198.in-addr.arpa", T_A, 0); /* NODATA */
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.an, 0);
}

/* A pool's domain: <pod>.<pool domain> for that pool's addresses, entries of one name and
 * domain answered together (a pod with several NICs), the most specific domain wins, and PTR
 * names the address in its pool's domain. */
static void test_pool_domains(void **state _unused_)
{
	static const uint8_t want[] = "\003app\003lan\007example";
	struct np_addr a4, a6, b4;
	struct np_dns_name n[4];
	struct np_dns_zone z;
	uint16_t type, len;
	struct reply r;
	struct msg q;

	assert_int_equal(np_addr_parse("198.18.13.5/24", &a4), 0);
	assert_int_equal(np_addr_parse("2001:db8:13::5/64", &a6), 0);
	assert_int_equal(np_addr_parse("198.18.20.5/24", &b4), 0);
	n[0] = (struct np_dns_name){ "app", &a4, 1, "lan.example" };
	n[1] = (struct np_dns_name){ "app", &a6, 1, "lan.example" };
	n[2] = (struct np_dns_name){ "app", &a4, 1, NULL };
	n[3] = (struct np_dns_name){ "app", &b4, 1, "sub.tank.internal" };
	z = (struct np_dns_zone){ .names = n, .n_names = 4, .reverse = reverse, .n_reverse = 2 };
	memcpy(&zone, &z, sizeof(z));

	q = query(40, "app.lan.example", T_ANY, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.an, 2); /* A from n[0], AAAA from n[1] */
	q = query(41, "app.tank.internal", T_A, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 1);
	assert_memory_equal(answer(&r, 0, &type, &len), &a4.v4, 4);
	q = query(42, "app.sub.tank.internal", T_A, 0); /* not "app.sub" under tank.internal */
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 0);
	assert_int_equal(r.an, 1);
	assert_memory_equal(answer(&r, 0, &type, &len), &b4.v4, 4);
	q = query(43, "nope.lan.example", T_A, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 3);
	q = query(44, "5.13.18.198.in-addr.arpa", T_PTR, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 1);
	assert_memory_equal(answer(&r, 0, &type, &len), want, sizeof(want));
	q = query(45, "host.example", T_A, 0);
	assert_int_equal(ask(&q, &r), NP_DNS_FORWARD);
	setup(NULL);
}

static void test_truncation_and_edns(void **state _unused_)
{
	struct msg q = query(30, "big.tank.internal", T_AAAA, 0);
	struct reply r;

	/* 40 AAAA records (28 bytes each) do not fit 512 bytes */
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.flags & 0x0200, 0x0200); /* TC */
	assert_true(r.len <= 512);
	assert_true(r.an > 0 && r.an < 40);

	q = query(31, "big.tank.internal", T_AAAA, 4096);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.flags & 0x0200, 0);
	assert_int_equal(r.an, 40);
	assert_int_equal(r.ar, 1);
	assert_true(r.len <= NP_DNS_UDP_MAX);
	/* the OPT record at the end: root name, type 41, our size */
	assert_int_equal(r.b[r.len - 11], 0);
	assert_int_equal(get16(r.b + r.len - 10), 41);
	assert_int_equal(get16(r.b + r.len - 8), NP_DNS_UDP_MAX);

	/* an EDNS size below 512 means 512 */
	q = query(32, "web.tank.internal", T_A, 100);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ar, 1);
}

static void test_hostile(void **state _unused_)
{
	struct msg q;
	struct reply r;
	uint8_t out[NP_DNS_UDP_MAX];
	size_t len;

	/* shorter than a header, a response: dropped */
	q = query(40, "web.tank.internal", T_A, 0);
	assert_int_equal(np_dns_answer(&zone, q.b, 11, out, sizeof(out), &len), NP_DNS_DROP);
	q.b[2] |= 0x80;
	assert_int_equal(ask(&q, &r), NP_DNS_DROP);

	/* two questions: FORMERR, header only */
	q = query(41, "web.tank.internal", T_A, 0);
	q.b[5] = 2;
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 1);
	assert_int_equal(r.id, 41);
	assert_int_equal(r.len, 12);

	/* a name cut short */
	q = query(42, "web.tank.internal", T_A, 0);
	assert_int_equal(np_dns_answer(&zone, q.b, 20, out, sizeof(out), &len), NP_DNS_REPLY);
	assert_int_equal(out[3] & 0xf, 1);

	/* a pointer to itself, forwards, into the header: FORMERR */
	q = (struct msg){};
	put16(&q, 43);
	put16(&q, 0);
	put16(&q, 1);
	put16(&q, 0);
	put16(&q, 0);
	put16(&q, 0);
	put16(&q, 0xc00c); /* at 12, pointing at 12 */
	put16(&q, T_A);
	put16(&q, 1);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 1);
	q.b[13] = 14; /* forwards */
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 1);
	q.b[13] = 2; /* into the header */
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 1);

	/* a label with the reserved 0x40 type */
	q = query(44, "web.tank.internal", T_A, 0);
	q.b[12] = 0x43;
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 1);

	/* a name longer than 255 bytes */
	q = (struct msg){};
	for (int i = 0; i < 6; i++)
		put16(&q, i == 2 ? 1 : 0);
	for (int i = 0; i < 5; i++) {
		q.b[q.len++] = 63;
		memset(q.b + q.len, 'a', 63);
		q.len += 63;
	}
	q.b[q.len++] = 0;
	put16(&q, T_A);
	put16(&q, 1);
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 1);

	/* another opcode (STATUS): NOTIMP */
	q = query(45, "web.tank.internal", T_A, 0);
	q.b[2] |= 2 << 3;
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 4);

	/* a class other than IN in our zone: REFUSED */
	q = query(46, "web.tank.internal", T_A, 0);
	q.b[q.len - 1] = 3; /* CHAOS */
	assert_int_equal(ask(&q, &r), NP_DNS_REPLY);
	assert_int_equal(rcode(&r), 5);

	/* no room to answer in: dropped rather than overrun */
	q = query(47, "web.tank.internal", T_A, 0);
	assert_int_equal(np_dns_answer(&zone, q.b, q.len, out, 100, &len), NP_DNS_DROP);
}

static void test_zone_edges(void **state _unused_)
{
	struct np_dns_name bad[] = { { "a.b", web_addrs, 2 }, { "", web_addrs, 2 } };
	struct np_dns_zone z = { .domain = "lab.example", .names = bad, .n_names = 2 };
	struct msg q = query(50, "a.b.lab.example", T_A, 0);
	uint8_t out[NP_DNS_UDP_MAX];
	size_t len;

	/* names that are not one label never match */
	assert_int_equal(np_dns_answer(&z, q.b, q.len, out, sizeof(out), &len), NP_DNS_REPLY);
	assert_int_equal(out[3] & 0xf, 3);
	/* an unusable domain: nothing is ours */
	z.domain = "bad..domain";
	q = query(51, "x.bad..domain", T_A, 0);
	assert_int_equal(np_dns_answer(&z, q.b, q.len, out, sizeof(out), &len), NP_DNS_FORWARD);
	/* default TTL 5 s */
	z = (struct np_dns_zone){ .names = names, .n_names = 1 };
	q = query(52, "web.tank.internal", T_A, 0);
	assert_int_equal(np_dns_answer(&z, q.b, q.len, out, sizeof(out), &len), NP_DNS_REPLY);
	assert_int_equal(get16(out + q.len + 8), 5);
}

static void test_error_reply_and_forwarding(void **state _unused_)
{
	struct msg q = query(0xabcd, "Deb.Debian.org", T_A, 1232);
	struct msg reply;
	uint8_t out[NP_DNS_UDP_MAX];
	size_t len;

	assert_int_equal(np_dns_error_reply(q.b, q.len, 2, out, sizeof(out), &len), 0);
	assert_int_equal(get16(out), 0xabcd);
	assert_int_equal(get16(out + 2) & 0x800f, 0x8002); /* response, SERVFAIL */
	assert_int_equal(get16(out + 4), 1);
	assert_int_equal(get16(out + 10), 1); /* OPT kept */
	assert_int_equal(np_dns_error_reply(q.b, 5, 2, out, sizeof(out), &len), -EBADMSG);

	/* relay: own id out, the upstream's reply matched and given the client's id back */
	assert_int_equal(np_dns_msg_id(q.b, q.len), 0xabcd);
	assert_int_equal(np_dns_msg_id(q.b, 3), -EBADMSG);
	assert_int_equal(np_dns_msg_set_id(q.b, q.len, 0x0101), 0);
	assert_int_equal(np_dns_msg_id(q.b, q.len), 0x0101);

	reply = query(0x0101, "dEB.debian.ORG", T_A, 0); /* 0x20-randomised case */
	reply.b[2] |= 0x80;
	assert_true(np_dns_reply_matches(q.b, q.len, reply.b, reply.len));
	reply.b[1] = 2;
	assert_false(np_dns_reply_matches(q.b, q.len, reply.b, reply.len)); /* other id */
	reply.b[1] = 1;
	reply.b[2] &= 0x7f;
	assert_false(np_dns_reply_matches(q.b, q.len, reply.b, reply.len)); /* not a response */
	reply = query(0x0101, "deb.debian.org", T_AAAA, 0);
	reply.b[2] |= 0x80;
	assert_false(np_dns_reply_matches(q.b, q.len, reply.b, reply.len)); /* other type */
	reply = query(0x0101, "deb.debian.net", T_A, 0);
	reply.b[2] |= 0x80;
	assert_false(np_dns_reply_matches(q.b, q.len, reply.b, reply.len)); /* other name */
	assert_false(np_dns_reply_matches(q.b, q.len, reply.b, 7));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_aaaa_any),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_nxdomain_and_apex),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_pool_domains),
		cmocka_unit_test(test_truncation_and_edns),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_zone_edges),
		cmocka_unit_test(test_error_reply_and_forwarding),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
