/* policy.c - compile a pod policy (struct np_policy) into the LPM trie entries of bpf/tank_abi.h. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "netplane/netplane.h"

/*
 * Per direction and family, every distinct peer and except prefix becomes a trie node. A node's
 * rules are those with a peer covering it and no except covering it ("push-down": the kernel's
 * LPM lookup returns one entry, the longest match, so that entry must carry every rule of the
 * shorter prefixes around it). Because prefixes are nested or disjoint, sorting them by
 * (address, length) puts the nodes inside a prefix right after it, so each peer and except
 * visits only the nodes it contains. Nodes with the same rule list share a port set.
 */

#define EXPAND_MAX (1u << 22) /* rule references over all nodes after push-down */

static const char *const dir_name[TANK_DIR_MAX] = { "ingress", "egress" };

struct node {
	uint8_t addr[16]; /* masked; IPv4 in the first 4 bytes */
	uint8_t len;
	uint32_t anyport; /* lowest port-less rule covering the node (0: none) */
	uint32_t cov, exc, added; /* stamps: rule id that last covered / excepted / added it */
	uint32_t *rules;  /* ascending rule ids with ports, when anyport is 0 */
	uint32_t n, cap;
	uint32_t set;
};

struct port_ent {
	struct tank_pol_key key;
	uint32_t rule;
};

struct compiler {
	struct np_policy_compiled *out;
	size_t cap;
	size_t expanded;
	/* sets: rule lists, deduplicated by a hash table of indexes */
	struct {
		const uint32_t *rules;
		uint32_t n;
		enum tank_dir dir;
		uint32_t n_ranges; /* > TANK_POL_INLINE: PORT entries instead */
		struct tank_pol_range ranges[TANK_POL_INLINE];
	} *sets;
	size_t n_sets, sets_cap;
	uint32_t *hash; /* 0 empty, else set index + 1 */
	size_t hash_cap;
	struct diag *d;
};

static int emit(struct compiler *c, const struct tank_pol_key *k, const struct tank_pol_val *v)
{
	struct np_policy_compiled *o = c->out;

	if (o->n >= TANK_POL_ENTRIES_MAX)
		return diag_fail(c->d, -E2BIG, "policy too large: more than %u trie entries",
				 TANK_POL_ENTRIES_MAX);
	if (o->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct tank_pol_key *keys = realloc(o->keys, cap * sizeof(*keys));
		struct tank_pol_val *vals;

		if (!keys)
			return -ENOMEM;
		o->keys = keys;
		vals = realloc(o->vals, cap * sizeof(*vals));
		if (!vals)
			return -ENOMEM;
		o->vals = vals;
		c->cap = cap;
	}
	o->keys[o->n] = *k;
	o->vals[o->n] = *v;
	o->n++;
	return 0;
}

static unsigned int fam_width(enum tank_family f)
{
	return f == TANK_FAM_IPV4 ? 32 : 128;
}

static enum tank_family fam_of(int af)
{
	return af == AF_INET ? TANK_FAM_IPV4 : af == AF_INET6 ? TANK_FAM_IPV6 : TANK_FAM_OTHER;
}

static void addr_bytes(const struct np_addr *a, uint8_t out[16])
{
	memset(out, 0, 16);
	if (a->family == AF_INET)
		memcpy(out, &a->v4, 4);
	else
		memcpy(out, &a->v6, 16);
}

static void addr_mask(uint8_t a[16], unsigned int len)
{
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int bits = len > i * 8 ? len - i * 8 : 0;

		if (bits < 8)
			a[i] &= (uint8_t)(0xff00u >> bits);
	}
}

/* The last address of a prefix, within the family's width (IPv4: the rest stays 0). */
static void addr_last(const uint8_t a[16], unsigned int len, unsigned int width, uint8_t out[16])
{
	memcpy(out, a, 16);
	for (unsigned int i = 0; i < width / 8; i++) {
		unsigned int bits = len > i * 8 ? len - i * 8 : 0;

		if (bits < 8)
			out[i] |= (uint8_t)(0xffu >> bits);
	}
}

static int node_cmp(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	int r = memcmp(x->addr, y->addr, 16);

	return r ? r : (int)x->len - (int)y->len;
}

static size_t node_find(struct node *nodes, size_t n, const uint8_t addr[16], unsigned int len)
{
	struct node k = { .len = (uint8_t)len };
	struct node *f;

	memcpy(k.addr, addr, 16);
	f = bsearch(&k, nodes, n, sizeof(*nodes), node_cmp);
	return f ? (size_t)(f - nodes) : n;
}

/* A peer or except of the right family, checked and masked; 0 when of the other family. */
static int prefix_get(struct compiler *c, const struct np_addr *a, enum tank_family f,
		      const char *what, enum tank_dir dir, size_t ri, size_t ai, uint8_t out[16],
		      unsigned int *ret_len)
{
	char path[96];

	if (fam_of(a->family) == TANK_FAM_OTHER || a->prefix > fam_width(fam_of(a->family))) {
		snprintf(path, sizeof(path), "%s[%zu].%s[%zu]", dir_name[dir], ri, what, ai);
		return diag_fail_at(c->d, -EINVAL, path, "bad address family or prefix length");
	}
	if (fam_of(a->family) != f)
		return 0;
	addr_bytes(a, out);
	addr_mask(out, a->prefix);
	*ret_len = a->prefix;
	return 1;
}

static uint64_t hash_rules(const uint32_t *r, uint32_t n, enum tank_dir dir)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)dir;

	for (uint32_t i = 0; i < n; i++)
		h = (h ^ r[i]) * 1099511628211ull;
	return h;
}

/* The set id of a rule list (new sets numbered from 1). Returns 1 when the set is new: it then
 * keeps `rules`, else the caller still owns them. */
static int set_of(struct compiler *c, const uint32_t *rules, uint32_t n, enum tank_dir dir,
		  uint32_t *ret)
{
	size_t i;

	if ((c->n_sets + 1) * 2 > c->hash_cap) {
		size_t cap = c->hash_cap ? c->hash_cap * 2 : 256;
		uint32_t *h = calloc(cap, sizeof(*h));

		if (!h)
			return -ENOMEM;
		for (size_t s = 0; s < c->n_sets; s++) {
			i = hash_rules(c->sets[s].rules, c->sets[s].n, c->sets[s].dir) & (cap - 1);
			while (h[i])
				i = (i + 1) & (cap - 1);
			h[i] = (uint32_t)s + 1;
		}
		free(c->hash);
		c->hash = h;
		c->hash_cap = cap;
	}
	i = hash_rules(rules, n, dir) & (c->hash_cap - 1);
	while (c->hash[i]) {
		size_t s = c->hash[i] - 1;

		if (c->sets[s].n == n && c->sets[s].dir == dir &&
		    memcmp(c->sets[s].rules, rules, n * sizeof(*rules)) == 0) {
			*ret = (uint32_t)s + 1;
			return 0;
		}
		i = (i + 1) & (c->hash_cap - 1);
	}
	if (array_grow((void **)&c->sets, &c->sets_cap, c->n_sets, sizeof(*c->sets), 64) < 0)
		return -ENOMEM;
	memset(&c->sets[c->n_sets], 0, sizeof(c->sets[0]));
	c->sets[c->n_sets].rules = rules;
	c->sets[c->n_sets].n = n;
	c->sets[c->n_sets].dir = dir;
	c->hash[i] = (uint32_t)++c->n_sets;
	*ret = (uint32_t)c->n_sets;
	return 1;
}

static int node_add_rule(struct compiler *c, struct node *nd, uint32_t id, bool portless)
{
	if (nd->added == id)
		return 0;
	nd->added = id;
	if (nd->anyport)
		return 0; /* already allows every port: more rules change nothing */
	if (portless) {
		nd->anyport = id;
		return 0;
	}
	if (++c->expanded > EXPAND_MAX)
		return diag_fail(c->d, -E2BIG,
				 "policy too large: rules overlap more than %u times (use fewer, "
				 "wider peers)",
				 EXPAND_MAX);
	if (nd->n == nd->cap) {
		uint32_t cap = nd->cap ? nd->cap * 2 : 4;
		uint32_t *r = realloc(nd->rules, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		nd->rules = r;
		nd->cap = cap;
	}
	nd->rules[nd->n++] = id;
	return 0;
}

/* Stamp nodes inside prefix (addr, len) with id (in *field); when add: add the rule to nodes
 * covered and not excepted. */
static int visit(struct compiler *c, struct node *nodes, size_t n, const uint8_t addr[16],
		 unsigned int len, unsigned int width, uint32_t id, int what, bool portless)
{
	uint8_t last[16];
	size_t j = node_find(nodes, n, addr, len);

	addr_last(addr, len, width, last);
	for (; j < n && memcmp(nodes[j].addr, last, 16) <= 0; j++) {
		int r;

		if (what == 0) {
			nodes[j].cov = id;
		} else if (what == 1) {
			nodes[j].exc = id;
		} else if (nodes[j].cov == id && nodes[j].exc != id) {
			r = node_add_rule(c, &nodes[j], id, portless);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int compile_family(struct compiler *c, const struct np_policy_dir *pd, enum tank_dir dir,
			  enum tank_family f)
{
	unsigned int width = fam_width(f);
	struct node *nodes = NULL;
	size_t n = 0, cap = 0;
	uint8_t any[16] = { 0 };
	int r = 0;

	/* the nodes: every peer and except of this family (no peers: any = 0/0) */
	for (size_t i = 0; i < pd->n_rules; i++) {
		const struct np_rule *ru = &pd->rules[i];
		size_t total = (ru->n_peers ? ru->n_peers : 1) + ru->n_excepts;

		if (n + total > cap) {
			size_t ncap = (n + total) * 2;
			struct node *p = realloc(nodes, ncap * sizeof(*p));

			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			nodes = p;
			cap = ncap;
		}
		if (!ru->n_peers)
			nodes[n++] = (struct node){ .len = 0 };
		for (size_t j = 0; j < ru->n_peers + ru->n_excepts; j++) {
			bool ex = j >= ru->n_peers;
			const struct np_addr *a =
				ex ? &ru->excepts[j - ru->n_peers] : &ru->peers[j];
			struct node nd = { 0 };
			unsigned int len;

			r = prefix_get(c, a, f, ex ? "except" : "peers", dir, i,
				       ex ? j - ru->n_peers : j, nd.addr, &len);
			if (r < 0)
				goto out;
			if (r == 0)
				continue;
			nd.len = (uint8_t)len;
			nodes[n++] = nd;
		}
	}
	if (n == 0)
		goto out;
	qsort(nodes, n, sizeof(*nodes), node_cmp);
	{
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (k == 0 || node_cmp(&nodes[k - 1], &nodes[i]) != 0)
				nodes[k++] = nodes[i];
		n = k;
	}

	/* push-down, rule by rule in id order (so rule lists come out ascending) */
	for (size_t i = 0; i < pd->n_rules; i++) {
		const struct np_rule *ru = &pd->rules[i];
		uint32_t id = (uint32_t)i + 1;
		bool portless = ru->n_ports == 0;

		for (int what = 0; what < 3; what++) {
			size_t count = what == 1 ? ru->n_excepts : ru->n_peers ? ru->n_peers : 1;

			for (size_t j = 0; j < count; j++) {
				const struct np_addr *a = what == 1 ? &ru->excepts[j] :
							  ru->n_peers ? &ru->peers[j] : NULL;
				uint8_t addr[16];
				unsigned int len = 0;

				if (a) {
					r = prefix_get(c, a, f, what == 1 ? "except" : "peers", dir,
						       i, j, addr, &len);
					if (r < 0)
						goto out;
					if (r == 0)
						continue;
				} else {
					memcpy(addr, any, 16);
				}
				r = visit(c, nodes, n, addr, len, width, id, what, portless);
				if (r < 0)
					goto out;
			}
		}
	}

	for (size_t i = 0; i < n; i++) {
		struct tank_pol_key k = { .kind = TANK_POL_PEER, .dir = dir, .family = f };
		struct tank_pol_val v = { 0 };

		k.prefixlen = TANK_POL_HDR_BITS + nodes[i].len;
		memcpy(k.addr, nodes[i].addr, 16);
		if (nodes[i].anyport) {
			v = (struct tank_pol_val){ .rule = nodes[i].anyport, .set = TANK_SET_ALL };
		} else if (nodes[i].n == 0) {
			v = (struct tank_pol_val){ .rule = TANK_RULE_NONE, .set = TANK_SET_NONE };
		} else {
			r = set_of(c, nodes[i].rules, nodes[i].n, dir, &v.set);
			if (r < 0)
				goto out;
			v.rule = nodes[i].rules[0];
			if (r == 1)
				nodes[i].rules = NULL; /* owned by the new set */
		}
		r = emit(c, &k, &v);
		if (r < 0)
			goto out;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(nodes[i].rules);
	free(nodes);
	return r < 0 ? r : 0;
}

static bool proto_has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

static int port_ent_cmp(const void *a, const void *b)
{
	const struct port_ent *x = a, *y = b;
	int r = memcmp(&x->key, &y->key, sizeof(x->key));

	return r ? r : x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int port_push(struct port_ent **pe, size_t *n, size_t *cap, uint32_t set, uint8_t proto,
		     uint32_t base, unsigned int plen, uint32_t rule)
{
	struct port_ent e = { 0 };

	if (*n >= TANK_POL_ENTRIES_MAX)
		return -E2BIG;
	if (array_grow((void **)pe, cap, *n, sizeof(**pe), 64) < 0)
		return -ENOMEM;
	e.key.kind = TANK_POL_PORT;
	e.key.port.set = set;
	e.key.port.proto = proto;
	if (plen == (unsigned int)-1) {
		e.key.prefixlen = TANK_POL_PROTO_BITS;
	} else {
		e.key.prefixlen = TANK_POL_PORT_BITS + plen;
		e.key.port.port = htons((uint16_t)base);
	}
	e.rule = rule;
	(*pe)[(*n)++] = e;
	return 0;
}

/* A set's distinct (protocol, range) pairs, lowest rule first; more than TANK_POL_INLINE: counted
 * only. */
static void set_ranges(struct compiler *c, const struct np_policy *p, size_t s)
{
	const struct np_policy_dir *pd = &p->dir[c->sets[s].dir];
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->sets[s].n && n <= TANK_POL_INLINE; i++) {
		uint32_t id = c->sets[s].rules[i];
		const struct np_rule *ru = &pd->rules[id - 1];

		for (size_t j = 0; j < ru->n_ports && n <= TANK_POL_INLINE; j++) {
			const struct np_port_range *pr = &ru->ports[j];
			struct tank_pol_range r = { .rule = id, .proto = pr->proto, .lo = 0,
						    .hi = 0xffff };
			bool dup = false;

			if (proto_has_ports(pr->proto)) {
				r.lo = pr->lo;
				r.hi = pr->hi;
			}
			for (uint32_t k = 0; k < n && k < TANK_POL_INLINE && !dup; k++)
				dup = c->sets[s].ranges[k].proto == r.proto &&
				      c->sets[s].ranges[k].lo == r.lo &&
				      c->sets[s].ranges[k].hi == r.hi;
			if (dup)
				continue;
			if (n < TANK_POL_INLINE)
				c->sets[s].ranges[n] = r;
			n++;
		}
	}
	c->sets[s].n_ranges = n;
}

/* Sets of at most TANK_POL_INLINE ranges go inline into their PEER entries; the others become
 * PORT entries: each rule's ranges as port prefixes, the lowest rule kept where two rules give
 * the same prefix. */
static int compile_ports(struct compiler *c, const struct np_policy *p)
{
	struct port_ent *pe = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t s = 0; s < c->n_sets; s++) {
		const struct np_policy_dir *pd = &p->dir[c->sets[s].dir];

		set_ranges(c, p, s);
		if (c->sets[s].n_ranges <= TANK_POL_INLINE)
			continue;
		for (uint32_t i = 0; i < c->sets[s].n; i++) {
			uint32_t id = c->sets[s].rules[i];
			const struct np_rule *ru = &pd->rules[id - 1];

			for (size_t j = 0; j < ru->n_ports; j++) {
				const struct np_port_range *pr = &ru->ports[j];
				uint32_t lo = pr->lo, hi = pr->hi;

				if (!proto_has_ports(pr->proto) || (lo == 0 && hi == 65535)) {
					r = port_push(&pe, &n, &cap, (uint32_t)s + 1, pr->proto, 0,
						      (unsigned int)-1, id);
					if (r < 0)
						goto out;
					continue;
				}
				while (lo <= hi) {
					unsigned int k = 0;

					while (k < 16 && (lo & ((2u << k) - 1)) == 0 &&
					       lo + (2u << k) - 1 <= hi)
						k++;
					r = port_push(&pe, &n, &cap, (uint32_t)s + 1, pr->proto, lo,
						      16 - k, id);
					if (r < 0)
						goto out;
					lo += 1u << k;
				}
			}
		}
	}
	/* the PEER entries of inline sets carry their ranges */
	for (size_t i = 0; i < c->out->n; i++) {
		struct tank_pol_val *v = &c->out->vals[i];
		size_t s = v->set - 1;

		if (c->out->keys[i].kind != TANK_POL_PEER || v->set == TANK_SET_ALL ||
		    v->set == TANK_SET_NONE || c->sets[s].n_ranges > TANK_POL_INLINE)
			continue;
		v->set = TANK_SET_INLINE;
		v->n_ranges = c->sets[s].n_ranges;
		memcpy(v->ranges, c->sets[s].ranges, sizeof(v->ranges));
	}
	qsort(pe, n, sizeof(*pe), port_ent_cmp);
	for (size_t i = 0; i < n; i++) {
		struct tank_pol_val v = { .rule = pe[i].rule, .set = pe[i].key.port.set };

		if (i > 0 && memcmp(&pe[i - 1].key, &pe[i].key, sizeof(pe[i].key)) == 0)
			continue; /* same prefix of a higher rule */
		r = emit(c, &pe[i].key, &v);
		if (r < 0)
			goto out;
	}
out:
	free(pe);
	if (r == -E2BIG)
		return diag_fail(c->d, r, "policy too large: more than %u trie entries",
				 TANK_POL_ENTRIES_MAX);
	return r;
}

static int check_rules(const struct np_policy *p, struct diag *d)
{
	for (int dir = 0; dir < TANK_DIR_MAX; dir++) {
		const struct np_policy_dir *pd = &p->dir[dir];

		if (!pd->present)
			continue;
		if (pd->n_rules > NP_POLICY_RULES_MAX)
			return diag_fail_at(d, -E2BIG, dir_name[dir],
					    "%zu rules: at most %d per direction", pd->n_rules,
					    NP_POLICY_RULES_MAX);
		if (pd->n_rules && !pd->rules)
			return diag_fail_at(d, -EINVAL, dir_name[dir], "no rule array");
		for (size_t i = 0; i < pd->n_rules; i++) {
			const struct np_rule *ru = &pd->rules[i];
			char path[64];

			snprintf(path, sizeof(path), "%s[%zu]", dir_name[dir], i);
			if ((ru->n_peers && !ru->peers) || (ru->n_excepts && !ru->excepts) ||
			    (ru->n_ports && !ru->ports))
				return diag_fail_at(d, -EINVAL, path, "a count without its array");
			for (size_t j = 0; j < ru->n_ports; j++)
				if (proto_has_ports(ru->ports[j].proto) &&
				    ru->ports[j].lo > ru->ports[j].hi)
					return diag_fail_at(d, -EINVAL, path,
							    "port range %u-%u is reversed",
							    ru->ports[j].lo, ru->ports[j].hi);
		}
	}
	return 0;
}

void np_policy_compiled_free(struct np_policy_compiled *c)
{
	if (!c)
		return;
	free(c->keys);
	free(c->vals);
	free(c);
}

int np_policy_compile(const struct np_policy *p, struct np_policy_compiled **ret, struct diag *d)
{
	struct compiler c = { .d = d };
	int r;

	if (!p)
		return diag_fail(d, -EINVAL, "no policy");
	r = check_rules(p, d);
	if (r < 0)
		return r;
	c.out = calloc(1, sizeof(*c.out));
	if (!c.out)
		return diag_fail(d, -ENOMEM, "policy: out of memory");

	for (int dir = 0; dir < TANK_DIR_MAX && r >= 0; dir++) {
		const struct np_policy_dir *pd = &p->dir[dir];
		struct tank_pol_key meta = { .prefixlen = TANK_POL_HDR_BITS, .kind = TANK_POL_META,
					     .dir = dir };
		struct tank_pol_val mv = {.rule = pd->present ? TANK_RULE_NONE
							      : TANK_RULE_NO_POLICY,
					  .set = TANK_SET_NONE};

		r = emit(&c, &meta, &mv);
		for (int f = TANK_FAM_IPV4; f <= TANK_FAM_IPV6 && r >= 0; f++) {
			if (!pd->present) {
				/* not restricted: everything matches 0/0 (::/0) */
				struct tank_pol_key k = { .prefixlen = TANK_POL_HDR_BITS,
							  .kind = TANK_POL_PEER, .dir = dir,
							  .family = f };
				struct tank_pol_val v = { .rule = TANK_RULE_NO_POLICY,
							  .set = TANK_SET_ALL };

				r = emit(&c, &k, &v);
			} else {
				r = compile_family(&c, pd, dir, f);
			}
		}
	}
	if (r >= 0)
		r = compile_ports(&c, p);
	for (size_t s = 0; s < c.n_sets; s++)
		free((void *)c.sets[s].rules);
	free(c.sets);
	free(c.hash);
	if (r < 0) {
		np_policy_compiled_free(c.out);
		return r == -ENOMEM ? diag_fail(d, r, "policy: out of memory") : r;
	}
	c.out->n_sets = (uint32_t)c.n_sets;
	*ret = c.out;
	return 0;
}

/* ---- the datapath's lookups, in user space ------------------------------------------------- */

/* Longest entry matching key bits [0, qlen) of q, as the kernel's LPM trie does. */
static const struct tank_pol_val *lpm(const struct np_policy_compiled *c,
				      const struct tank_pol_key *q)
{
	const uint8_t *qd = (const uint8_t *)q + sizeof(q->prefixlen);
	const struct tank_pol_val *best = NULL;
	uint32_t best_len = 0;

	for (size_t i = 0; i < c->n; i++) {
		const uint8_t *kd = (const uint8_t *)&c->keys[i] + sizeof(q->prefixlen);
		uint32_t len = c->keys[i].prefixlen;
		bool match = len <= q->prefixlen;

		for (uint32_t b = 0; match && b < len; b++)
			match = ((kd[b / 8] ^ qd[b / 8]) & (0x80u >> (b % 8))) == 0;
		if (match && (!best || len > best_len)) {
			best = &c->vals[i];
			best_len = len;
		}
	}
	return best;
}

int np_policy_eval(const struct np_policy_compiled *c, enum tank_dir dir,
		   const struct np_addr *peer, uint8_t proto, int port, uint32_t *ret_rule)
{
	enum tank_family f = fam_of(peer->family);
	struct tank_pol_key q = { .kind = TANK_POL_PEER, .dir = dir, .family = f };
	const struct tank_pol_val *v;

	if (f == TANK_FAM_OTHER)
		return -EINVAL;
	q.prefixlen = TANK_POL_HDR_BITS + fam_width(f);
	addr_bytes(peer, q.addr);
	v = lpm(c, &q);
	if (!v || v->set == TANK_SET_NONE)
		return 0;
	if (v->set == TANK_SET_ALL) {
		*ret_rule = v->rule;
		return 1;
	}
	if (v->set == TANK_SET_INLINE) {
		for (uint32_t i = 0; i < v->n_ranges && i < TANK_POL_INLINE; i++) {
			const struct tank_pol_range *r = &v->ranges[i];

			if (r->proto == proto && (port < 0 ? r->lo == 0 && r->hi == 0xffff
							   : r->lo <= port && port <= r->hi)) {
				*ret_rule = r->rule;
				return 1;
			}
		}
		return 0;
	}
	memset(&q, 0, sizeof(q));
	q.kind = TANK_POL_PORT;
	q.port.set = v->set;
	q.port.proto = proto;
	q.port.port = htons((uint16_t)(port < 0 ? 0 : port));
	q.prefixlen = port < 0 ? TANK_POL_PROTO_BITS : TANK_POL_PORT_BITS + 16;
	v = lpm(c, &q);
	if (!v)
		return 0;
	*ret_rule = v->rule;
	return 1;
}
