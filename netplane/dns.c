/* dns.c - the embedded DNS server's message handling: parse a query, answer, or say "forward". */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "netplane/netplane.h"

/*
 * Written by hand: no listed library parses and builds DNS messages (c-ares and ldns are
 * resolvers/toolkits outside the project's list), and the subset needed is small: one question,
 * answers of three types, an OPT record. Every read is bounds-checked against the message length.
 */

#define DNS_HDR 12
#define DNS_NAME_MAX 255 /* wire form, with the root label */
#define DNS_LABELS_MAX 128
#define DNS_PTR_HOPS 16
#define DNS_UDP_PLAIN 512

#define T_A 1
#define T_PTR 12
#define T_AAAA 28
#define T_OPT 41
#define T_ANY 255
#define C_IN 1

#define F_QR 0x8000
#define F_AA 0x0400
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080
#define OPCODE(f) (((f) >> 11) & 0xf)

#define RC_NOERROR 0
#define RC_FORMERR 1
#define RC_SERVFAIL 2
#define RC_NXDOMAIN 3
#define RC_NOTIMP 4
#define RC_REFUSED 5

/* A name in wire form (labels as received, case kept) and where each label starts in it. */
struct dns_name {
	uint8_t wire[DNS_NAME_MAX];
	size_t len;
	uint8_t label[DNS_LABELS_MAX]; /* offsets of the length bytes, root excluded */
	size_t n_labels;
};

struct dns_query {
	uint16_t id, flags, qdcount, ancount, nscount, arcount;
	struct dns_name name;
	uint16_t qtype, qclass;
	size_t end; /* offset after the question */
	bool edns;
	uint16_t udp_size;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Read a name at off. Pointers must point backwards, at most DNS_PTR_HOPS of them; the name
 * must fit DNS_NAME_MAX. *next is the offset after the name where it started. */
static int read_name(const uint8_t *msg, size_t len, size_t off, struct dns_name *n, size_t *next)
{
	size_t pos = off, hops = 0;
	bool jumped = false;

	n->len = 0;
	n->n_labels = 0;
	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -EBADMSG;
		c = msg[pos];
		if (c == 0) {
			if (n->len + 1 > DNS_NAME_MAX)
				return -EBADMSG;
			n->wire[n->len++] = 0;
			if (!jumped)
				*next = pos + 1;
			return 0;
		}
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;

			if (pos + 1 >= len || ++hops > DNS_PTR_HOPS)
				return -EBADMSG;
			ptr = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
			if (ptr >= pos || ptr < DNS_HDR)
				return -EBADMSG;
			if (!jumped)
				*next = pos + 2;
			jumped = true;
			pos = ptr;
			continue;
		}
		if (c & 0xc0)
			return -EBADMSG; /* extended label types: obsolete */
		if (pos + 1 + c > len || n->len + 1 + c + 1 > DNS_NAME_MAX ||
		    n->n_labels == DNS_LABELS_MAX)
			return -EBADMSG;
		n->label[n->n_labels++] = (uint8_t)n->len;
		memcpy(n->wire + n->len, msg + pos, 1 + (size_t)c);
		n->len += 1 + (size_t)c;
		pos += 1 + (size_t)c;
	}
}

static bool label_eq(const uint8_t *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower((uint8_t)b[i]))
			return false;
	return true;
}

/* Does n end with the dotted name suffix (no trailing dot)? *ret_prefix: labels before it. */
static bool name_ends_with(const struct dns_name *n, const char *suffix, size_t *ret_prefix)
{
	size_t want = 1, i;
	const char *p;

	for (p = suffix; *p; p++)
		want += *p == '.';
	if (!*suffix || n->n_labels < want)
		return false;
	p = suffix;
	for (i = n->n_labels - want; i < n->n_labels; i++) {
		const uint8_t *l = n->wire + n->label[i];
		const char *dot = strchr(p, '.');
		size_t slen = dot ? (size_t)(dot - p) : strlen(p);

		if (!label_eq(l + 1, l[0], p, slen))
			return false;
		p = dot ? dot + 1 : p + slen;
	}
	*ret_prefix = n->n_labels - want;
	return true;
}

/* A domain we can serve: dotted labels of 1-63 bytes, no empty label, <= 253 characters. */
static bool domain_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || label > 63)
				return false;
			label = 0;
		} else {
			label++;
		}
	}
	return true;
}

static int parse_query(const uint8_t *q, size_t qlen, struct dns_query *r)
{
	memset(r, 0, sizeof(*r));
	if (qlen < DNS_HDR)
		return -EBADMSG;
	r->id = get16(q);
	r->flags = get16(q + 2);
	r->qdcount = get16(q + 4);
	r->ancount = get16(q + 6);
	r->nscount = get16(q + 8);
	r->arcount = get16(q + 10);
	if (r->qdcount != 1)
		return -EPROTO; /* a header, but not one question */
	if (read_name(q, qlen, DNS_HDR, &r->name, &r->end) < 0 || r->end + 4 > qlen)
		return -EPROTO;
	r->qtype = get16(q + r->end);
	r->qclass = get16(q + r->end + 2);
	r->end += 4;

	/* EDNS: only the plain form (one OPT record, nothing else) is looked at; anything else is
	 * answered as if it had no EDNS, which is always allowed. */
	if (r->ancount == 0 && r->nscount == 0 && r->arcount == 1 && r->end + 11 <= qlen &&
	    q[r->end] == 0 && get16(q + r->end + 1) == T_OPT) {
		r->edns = true;
		r->udp_size = get16(q + r->end + 3);
	}
	return 0;
}

/* ---- reply building ----------------------------------------------------------------------- */

struct reply {
	uint8_t *buf;
	size_t len, limit; /* limit: what the client takes, OPT room excluded */
	bool truncated;
	uint16_t ancount;
};

static void reply_start(struct reply *rp, const struct dns_query *q, uint16_t flags)
{
	put16(rp->buf, q->id);
	put16(rp->buf + 2, (uint16_t)(F_QR | (q->flags & (0xf << 11)) | (q->flags & F_RD) | F_RA |
				      flags));
	memset(rp->buf + 4, 0, DNS_HDR - 4);
	rp->len = DNS_HDR;
}

static void reply_question(struct reply *rp, const struct dns_query *q)
{
	memcpy(rp->buf + rp->len, q->name.wire, q->name.len);
	rp->len += q->name.len;
	put16(rp->buf + rp->len, q->qtype);
	put16(rp->buf + rp->len + 2, q->qclass);
	rp->len += 4;
	put16(rp->buf + 4, 1);
}

/* One answer record for the question's name (a pointer to offset 12). */
static bool reply_rr(struct reply *rp, uint16_t type, uint32_t ttl, const void *rdata,
		     size_t rdlen)
{
	uint8_t *p;

	if (rp->truncated || rp->len + 12 + rdlen > rp->limit) {
		rp->truncated = true;
		return false;
	}
	p = rp->buf + rp->len;
	put16(p, 0xc000 | DNS_HDR);
	put16(p + 2, type);
	put16(p + 4, C_IN);
	put16(p + 6, (uint16_t)(ttl >> 16));
	put16(p + 8, (uint16_t)ttl);
	put16(p + 10, (uint16_t)rdlen);
	memcpy(p + 12, rdata, rdlen);
	rp->len += 12 + rdlen;
	rp->ancount++;
	return true;
}

static void reply_finish(struct reply *rp, const struct dns_query *q, uint8_t rcode)
{
	uint16_t flags = get16(rp->buf + 2);

	flags = (uint16_t)((flags & ~0xf) | rcode | (rp->truncated ? F_TC : 0));
	put16(rp->buf + 2, flags);
	put16(rp->buf + 6, rp->ancount);
	if (q->edns) {
		uint8_t *p = rp->buf + rp->len; /* room kept out of rp->limit */

		p[0] = 0;
		put16(p + 1, T_OPT);
		put16(p + 3, NP_DNS_UDP_MAX);
		memset(p + 5, 0, 6); /* extended rcode, version 0, flags, no options */
		rp->len += 11;
		put16(rp->buf + 10, 1);
	}
}

/* ---- the zone ------------------------------------------------------------------------------ */

static bool addr_eq(const struct np_addr *a, const struct np_addr *b)
{
	return a->family == b->family &&
	       !memcmp(&a->v6, &b->v6, a->family == AF_INET ? sizeof(a->v4) : sizeof(a->v6));
}

static bool addr_in_prefix(const struct np_addr *a, const struct np_addr *p)
{
	const uint8_t *x = (const uint8_t *)&a->v6, *y = (const uint8_t *)&p->v6;
	unsigned int bits = p->prefix, i = 0;

	if (a->family != p->family || bits > (p->family == AF_INET ? 32u : 128u))
		return false;
	for (; bits >= 8; bits -= 8, i++)
		if (x[i] != y[i])
			return false;
	return bits == 0 || ((x[i] ^ y[i]) & (uint8_t)(0xff00 >> bits)) == 0;
}

static bool entry_ok(const struct np_dns_name *e)
{
	size_t len = e->name ? strlen(e->name) : 0;

	return len > 0 && len <= 63 && !strchr(e->name, '.') && (e->n_addrs == 0 || e->addrs);
}

/* "<a>.<b>.<c>.<d>.in-addr.arpa" (4 prefix labels) or 32 nibbles ".ip6.arpa" -> address. */
static bool reverse_addr(const struct dns_name *n, size_t prefix, int family, struct np_addr *ret)
{
	struct np_addr a = { .family = family, .prefix = family == AF_INET ? 32 : 128 };
	uint8_t *b = (uint8_t *)&a.v6;

	if (family == AF_INET) {
		if (prefix != 4)
			return false;
		for (size_t i = 0; i < 4; i++) {
			const uint8_t *l = n->wire + n->label[i];
			unsigned int v = 0;

			if (l[0] < 1 || l[0] > 3 || (l[0] > 1 && l[1] == '0'))
				return false;
			for (size_t k = 1; k <= l[0]; k++) {
				if (l[k] < '0' || l[k] > '9')
					return false;
				v = v * 10 + (unsigned int)(l[k] - '0');
			}
			if (v > 255)
				return false;
			b[3 - i] = (uint8_t)v;
		}
	} else {
		if (prefix != 32)
			return false;
		for (size_t i = 0; i < 32; i++) {
			const uint8_t *l = n->wire + n->label[i];
			uint8_t c = lower(l[1]), v;

			if (l[0] != 1)
				return false;
			if (c >= '0' && c <= '9')
				v = (uint8_t)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = (uint8_t)(c - 'a' + 10);
			else
				return false;
			/* label 0 is the lowest nibble of the last byte */
			b[15 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
		}
	}
	*ret = a;
	return true;
}

/* <name>.<domain> in wire form into out (>= DNS_NAME_MAX); its length, or 0 if too long. */
static size_t encode_fqdn(const char *name, const char *domain, uint8_t *out)
{
	size_t len = 0, nlen = strlen(name);
	const char *p = domain;

	if (nlen + 1 + strlen(domain) + 2 > DNS_NAME_MAX)
		return 0;
	out[len++] = (uint8_t)nlen;
	memcpy(out + len, name, nlen);
	len += nlen;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		out[len++] = (uint8_t)l;
		memcpy(out + len, p, l);
		len += l;
		p = dot ? dot + 1 : p + l;
	}
	out[len++] = 0;
	return len;
}

static void answer_addrs(struct reply *rp, const struct np_dns_name *e, uint16_t qtype,
			 uint32_t ttl)
{
	for (size_t i = 0; i < e->n_addrs; i++) {
		const struct np_addr *a = &e->addrs[i];

		if (a->family == AF_INET && (qtype == T_A || qtype == T_ANY))
			reply_rr(rp, T_A, ttl, &a->v4, 4);
		else if (a->family == AF_INET6 && (qtype == T_AAAA || qtype == T_ANY))
			reply_rr(rp, T_AAAA, ttl, &a->v6, 16);
	}
}

enum np_dns_verdict np_dns_answer(const struct np_dns_zone *z, const uint8_t *q, size_t qlen,
				  uint8_t *out, size_t cap, size_t *ret_len)
{
	const char *domain = z->domain ? z->domain : NP_DNS_DOMAIN, *qdomain = NULL;
	uint32_t ttl = z->ttl ? z->ttl : 5;
	struct reply rp = { .buf = out };
	struct dns_query qq;
	size_t prefix, limit;
	uint8_t rcode = RC_NOERROR;
	int r;

	if (!out || cap < DNS_UDP_PLAIN || qlen < DNS_HDR || (get16(q + 2) & F_QR))
		return NP_DNS_DROP;
	r = parse_query(q, qlen, &qq);
	if (r < 0 || OPCODE(qq.flags) != 0) {
		/* header only: FORMERR for a broken question, NOTIMP for other opcodes */
		qq.edns = false;
		rp.limit = cap;
		reply_start(&rp, &qq, 0);
		reply_finish(&rp, &qq, r < 0 ? RC_FORMERR : RC_NOTIMP);
		*ret_len = rp.len;
		return NP_DNS_REPLY;
	}

	limit = qq.edns ? (qq.udp_size < DNS_UDP_PLAIN ? DNS_UDP_PLAIN : qq.udp_size)
			: DNS_UDP_PLAIN;
	if (limit > NP_DNS_UDP_MAX)
		limit = NP_DNS_UDP_MAX;
	if (limit > cap)
		limit = cap;
	rp.limit = limit - (qq.edns ? 11 : 0);
	if (DNS_HDR + qq.name.len + 4 > rp.limit)
		return NP_DNS_DROP; /* cannot happen: 12 + 255 + 4 < 512 - 11 */

	/* the most specific domain served (the zone's, or a name's own) that holds the name */
	prefix = SIZE_MAX;
	for (size_t i = 0; i <= z->n_names; i++) {
		const char *dom = i == z->n_names ? domain : z->names[i].domain;
		size_t pre;

		if (dom && domain_ok(dom) && name_ends_with(&qq.name, dom, &pre) && pre < prefix) {
			qdomain = dom;
			prefix = pre;
		}
	}
	/* forward names and reverse addresses outside the zone */
	if (qdomain) {
		reply_start(&rp, &qq, F_AA);
		reply_question(&rp, &qq);
		if (qq.qclass != C_IN && qq.qclass != T_ANY) {
			rcode = RC_REFUSED;
		} else if (prefix == 0) {
			rcode = RC_NOERROR; /* the domain itself: no records of its own */
		} else {
			const uint8_t *l = qq.name.wire + qq.name.label[0];
			bool hit = false;

			/* every entry of the name in that domain (a pod with several NICs) */
			for (size_t i = 0; prefix == 1 && i < z->n_names; i++) {
				const struct np_dns_name *e = &z->names[i];

				if (!entry_ok(e) || !label_eq(l + 1, l[0], e->name, strlen(e->name)) ||
				    strcasecmp(e->domain ? e->domain : domain, qdomain))
					continue;
				hit = true;
				answer_addrs(&rp, e, qq.qtype, ttl);
			}
			if (!hit)
				rcode = RC_NXDOMAIN;
		}
	} else {
		bool v4 = name_ends_with(&qq.name, "in-addr.arpa", &prefix);
		bool v6 = !v4 && name_ends_with(&qq.name, "ip6.arpa", &prefix);
		const struct np_dns_name *hit = NULL;
		bool owned = false;
		struct np_addr a;

		if ((!v4 && !v6) || !reverse_addr(&qq.name, prefix, v4 ? AF_INET : AF_INET6, &a))
			return NP_DNS_FORWARD;
		for (size_t i = 0; i < z->n_names && !hit; i++) {
			const struct np_dns_name *e = &z->names[i];

			for (size_t k = 0; entry_ok(e) && k < e->n_addrs && !hit; k++)
				if (addr_eq(&e->addrs[k], &a))
					hit = e;
		}
		for (size_t i = 0; i < z->n_reverse && !owned; i++)
			owned = addr_in_prefix(&a, &z->reverse[i]);
		if (!hit && !owned)
			return NP_DNS_FORWARD;
		if (hit && hit->domain)
			domain = hit->domain; /* named in its own domain */
		if (!domain_ok(domain) && hit)
			return NP_DNS_FORWARD; /* no zone to name it in */
		reply_start(&rp, &qq, F_AA);
		reply_question(&rp, &qq);
		if (qq.qclass != C_IN && qq.qclass != T_ANY) {
			rcode = RC_REFUSED;
		} else if (!hit) {
			rcode = RC_NXDOMAIN;
		} else if (qq.qtype == T_PTR || qq.qtype == T_ANY) {
			uint8_t target[DNS_NAME_MAX];
			size_t tlen = encode_fqdn(hit->name, domain, target);

			if (tlen)
				reply_rr(&rp, T_PTR, ttl, target, tlen);
		}
	}
	reply_finish(&rp, &qq, rcode);
	*ret_len = rp.len;
	return NP_DNS_REPLY;
}

int np_dns_error_reply(const uint8_t *q, size_t qlen, int rcode, uint8_t *out, size_t cap,
		       size_t *ret_len)
{
	struct reply rp = { .buf = out };
	struct dns_query qq;

	if (rcode < 0 || rcode > 15 || !out)
		return -EINVAL;
	if (parse_query(q, qlen, &qq) < 0 || (qq.flags & F_QR))
		return -EBADMSG;
	if (DNS_HDR + qq.name.len + 4 + (qq.edns ? 11 : 0) > cap)
		return -ENOSPC;
	rp.limit = cap;
	reply_start(&rp, &qq, 0);
	reply_question(&rp, &qq);
	reply_finish(&rp, &qq, (uint8_t)rcode);
	*ret_len = rp.len;
	return 0;
}

/* ---- forwarding helpers ---------------------------------------------------------------------- */

int np_dns_msg_id(const uint8_t *msg, size_t len)
{
	return msg && len >= DNS_HDR ? get16(msg) : -EBADMSG;
}

int np_dns_msg_set_id(uint8_t *msg, size_t len, uint16_t id)
{
	if (!msg || len < DNS_HDR)
		return -EBADMSG;
	put16(msg, id);
	return 0;
}

bool np_dns_reply_matches(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen)
{
	struct dns_query a, b;

	if (!query || !reply || parse_query(query, qlen, &a) < 0 ||
	    parse_query(reply, rlen, &b) < 0)
		return false;
	if ((a.flags & F_QR) || !(b.flags & F_QR) || a.id != b.id || a.qtype != b.qtype ||
	    a.qclass != b.qclass || a.name.len != b.name.len)
		return false;
	/* same labels at the same places; letters compared without case (0x20 randomisation) */
	for (size_t i = 0; i < a.name.len; i++)
		if (lower(a.name.wire[i]) != lower(b.name.wire[i]))
			return false;
	return true;
}
