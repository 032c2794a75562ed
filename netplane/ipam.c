/* ipam.c - address pools, the lease set and the deterministic pick (pure: no kernel, no files). */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "netplane/netplane.h"

typedef unsigned __int128 u128;

/* RFC 2526: in a /64, interface ids fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff are reserved
 * subnet anycast addresses */
#define RFC2526_BLOCK 128
#define RFC2526_EUI64_LAST 0xfdffffffffffffffULL

/* ---- address arithmetic ---------------------------------------------------------------------- */

static unsigned int family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static u128 addr_to_u128(const struct np_addr *a)
{
	const uint8_t *b = (const uint8_t *)&a->v6;
	size_t len = a->family == AF_INET ? 4 : 16;
	u128 x = 0;

	for (size_t i = 0; i < len; i++)
		x = (x << 8) | b[i];
	return x;
}

static struct np_addr u128_to_addr(u128 x, int family, uint8_t prefix)
{
	struct np_addr a = { .family = family, .prefix = prefix };
	uint8_t *b = (uint8_t *)&a.v6;
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = len; i-- > 0;) {
		b[i] = (uint8_t)x;
		x >>= 8;
	}
	return a;
}

static u128 host_mask(unsigned int host_bits)
{
	return host_bits >= 128 ? ~(u128)0 : (((u128)1 << host_bits) - 1);
}

static bool addr_in_subnet(const struct np_addr *a, const struct np_addr *subnet)
{
	unsigned int hb = family_bits(subnet->family) - subnet->prefix;

	return a->family == subnet->family &&
	       (addr_to_u128(a) & ~host_mask(hb)) == (addr_to_u128(subnet) & ~host_mask(hb));
}

static bool addr_equal(const struct np_addr *a, const struct np_addr *b)
{
	return a->family == b->family && addr_to_u128(a) == addr_to_u128(b);
}

/* FNV-1a 64 (stable everywhere; no listed library has a small non-cryptographic hash) */
static uint64_t fnv1a(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- names ---------------------------------------------------------------------------------- */

static bool pool_name_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len >= NP_IPAM_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static bool owner_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len >= NP_IPAM_OWNER_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/* A DNS domain: dot-separated labels of [a-z0-9-] (1-63, no leading/trailing '-'), <= 253. */
static bool domain_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253 || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

int np_ipam_owner_key(const char *pod_uid, const char *nic, char *buf, size_t len)
{
	int n;

	if (!pod_uid || !nic || !*pod_uid || !*nic)
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s", pod_uid, nic);
	if (n < 0 || (size_t)n >= len || (size_t)n >= NP_IPAM_OWNER_MAX)
		return -ENAMETOOLONG;
	return owner_valid(buf) ? 0 : -EINVAL;
}

/* ---- pools ---------------------------------------------------------------------------------- */

int np_ipam_pool_init(struct np_ipam_pool *p, const char *name, const char *subnet,
		      struct diag *d)
{
	struct np_addr net;

	memset(p, 0, sizeof(*p));
	if (!pool_name_valid(name))
		return diag_fail(d, -EINVAL, "pool name: 1-63 characters from a-z, A-Z, 0-9, "
					     "'-', '_', '.'");
	if (np_addr_parse(subnet, &net) < 0 || !strchr(subnet, '/'))
		return diag_fail(d, -EINVAL, "pool %s: subnet \"%s\" is not a CIDR (e.g. "
					     "198.18.0.0/24, 2001:db8:1::/64)",
				 name, subnet);
	if (net.prefix == 0)
		return diag_fail(d, -EINVAL, "pool %s: subnet \"%s\" is everything", name, subnet);
	if (addr_to_u128(&net) & host_mask(family_bits(net.family) - net.prefix))
		return diag_fail(d, -EINVAL, "pool %s: subnet \"%s\" has host bits set", name,
				 subnet);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->subnet = net;
	return 0;
}

/* An address of the pool's family: "ADDR" (or "ADDR/<prefix>" with the subnet's prefix). */
static int pool_addr(const struct np_ipam_pool *p, const char *key, const char *text,
		     bool in_subnet, struct np_addr *ret, struct diag *d)
{
	struct np_addr a;

	if (np_addr_parse(text, &a) < 0)
		return diag_fail(d, -EINVAL, "pool %s: %s: \"%s\" is not an IP address", p->name,
				 key, text);
	if (strchr(text, '/') && a.prefix != p->subnet.prefix)
		return diag_fail(d, -EINVAL, "pool %s: %s: \"%s\": give the address alone",
				 p->name, key, text);
	if (in_subnet && !addr_in_subnet(&a, &p->subnet))
		return diag_fail(d, -EINVAL, "pool %s: %s: %s is outside the subnet", p->name, key,
				 text);
	a.prefix = p->subnet.prefix;
	*ret = a;
	return 0;
}

int np_ipam_pool_set(struct np_ipam_pool *p, const char *key, const char *value,
		     struct diag *d)
{
	char buf[NP_ADDR_TEXT_MAX * 2 + NP_IPAM_OWNER_MAX + 8];
	int r;

	if (!key || !value)
		return diag_fail(d, -EINVAL, "pool %s: missing key or value", p->name);
	if (strlen(value) >= sizeof(buf))
		return diag_fail(d, -EINVAL, "pool %s: %s: value too long", p->name, key);
	strcpy(buf, value);

	if (!strcmp(key, "gateway"))
		return pool_addr(p, key, value, true, &p->gateway, d);
	if (!strcmp(key, "dns")) {
		if (p->n_dns == NP_IPAM_DNS_MAX)
			return diag_fail(d, -E2BIG, "pool %s: at most %d dns servers", p->name,
					 NP_IPAM_DNS_MAX);
		if (np_addr_parse(value, &p->dns[p->n_dns]) < 0 || strchr(value, '/'))
			return diag_fail(d, -EINVAL, "pool %s: dns: \"%s\" is not an IP address",
					 p->name, value);
		p->n_dns++;
		return 0;
	}
	if (!strcmp(key, "domain")) {
		for (char *c = buf; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!domain_valid(buf) || strlen(buf) >= sizeof(p->domain))
			return diag_fail(d, -EINVAL, "pool %s: domain: \"%s\" is not a DNS name",
					 p->name, value);
		strcpy(p->domain, buf);
		return 0;
	}
	if (!strcmp(key, "range")) {
		char *dash = strchr(buf, '-');
		struct np_addr lo, hi;

		if (!dash)
			return diag_fail(d, -EINVAL, "pool %s: range: \"%s\" is not FIRST-LAST",
					 p->name, value);
		*dash = '\0';
		r = pool_addr(p, key, buf, true, &lo, d);
		if (r >= 0)
			r = pool_addr(p, key, dash + 1, true, &hi, d);
		if (r < 0)
			return r;
		if (addr_to_u128(&lo) > addr_to_u128(&hi))
			return diag_fail(d, -EINVAL, "pool %s: range: first %s after last %s",
					 p->name, buf, dash + 1);
		p->range_start = lo;
		p->range_end = hi;
		return 0;
	}
	if (!strcmp(key, "reserve")) {
		char *sp = strchr(buf, ' ');
		struct np_ipam_reservation *res;
		struct np_addr a;

		if (!sp)
			return diag_fail(d, -EINVAL,
					 "pool %s: reserve: \"%s\" is not \"ADDR OWNER\"", p->name,
					 value);
		*sp++ = '\0';
		while (*sp == ' ')
			sp++;
		r = pool_addr(p, key, buf, true, &a, d);
		if (r < 0)
			return r;
		if (!owner_valid(sp))
			return diag_fail(d, -EINVAL, "pool %s: reserve: owner \"%s\" must be 1-%d "
						     "printable characters without spaces",
					 p->name, sp, NP_IPAM_OWNER_MAX - 1);
		for (size_t i = 0; i < p->n_reserved; i++) {
			if (addr_equal(&p->reserved[i].addr, &a))
				return diag_fail(d, -EEXIST,
						 "pool %s: reserve: %s is reserved twice", p->name,
						 buf);
			if (!strcmp(p->reserved[i].owner, sp))
				return diag_fail(d, -EEXIST, "pool %s: reserve: %s has two "
							     "reservations",
						 p->name, sp);
		}
		if (p->n_reserved == NP_IPAM_RESERVED_MAX)
			return diag_fail(d, -E2BIG, "pool %s: at most %d reservations", p->name,
					 NP_IPAM_RESERVED_MAX);
		res = &p->reserved[p->n_reserved++];
		res->addr = a;
		snprintf(res->owner, sizeof(res->owner), "%s", sp);
		return 0;
	}
	return diag_fail(d, -EINVAL, "pool %s: unknown setting \"%s\" (gateway, range, dns, "
				     "domain, reserve)",
			 p->name, key);
}

/* ---- the lease set -------------------------------------------------------------------------- */

void np_lease_set_init(struct np_lease_set *s)
{
	memset(s, 0, sizeof(*s));
}

void np_lease_set_free(struct np_lease_set *s)
{
	free(s->v);
	np_lease_set_init(s);
}

static bool lease_in_pool(const struct np_lease *l, const char *pool)
{
	return !pool || !strcmp(l->pool, pool);
}

const struct np_lease *np_lease_find(const struct np_lease_set *s, const char *pool,
				    const char *owner)
{
	for (size_t i = 0; i < s->n; i++)
		if (lease_in_pool(&s->v[i], pool) && !strcmp(s->v[i].owner, owner))
			return &s->v[i];
	return NULL;
}

static const struct np_lease *lease_by_addr(const struct np_lease_set *s, const char *pool,
					    const struct np_addr *a)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].pool, pool) && addr_equal(&s->v[i].addr, a))
			return &s->v[i];
	return NULL;
}

bool np_lease_contains(const struct np_lease_set *s, const char *pool, const struct np_addr *a)
{
	return lease_by_addr(s, pool, a) != NULL;
}

int np_lease_add(struct np_lease_set *s, const char *pool, const char *owner,
		 const struct np_addr *addr, struct diag *d)
{
	const struct np_lease *held;
	char text[NP_ADDR_TEXT_MAX];
	struct np_lease *l;

	if (!pool_name_valid(pool))
		return diag_fail(d, -EINVAL, "lease: invalid pool name");
	if (!owner_valid(owner))
		return diag_fail(d, -EINVAL, "lease: invalid owner");
	if (np_addr_format(addr, true, text, sizeof(text)) < 0)
		return diag_fail(d, -EINVAL, "lease: invalid address");
	held = lease_by_addr(s, pool, addr);
	if (held && strcmp(held->owner, owner) != 0)
		return diag_fail(d, -EADDRINUSE, "pool %s: %s is leased to %s", pool, text,
				 held->owner);
	if (held)
		return 0;
	if (np_lease_find(s, pool, owner))
		return diag_fail(d, -EEXIST, "pool %s: %s already holds another address", pool,
				 owner);
	if (s->n >= NP_LEASES_MAX)
		return diag_fail(d, -ENOSPC, "lease table full (%d leases)", NP_LEASES_MAX);
	if (array_grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v), 64) < 0)
		return diag_fail(d, -ENOMEM, "lease: out of memory");
	l = &s->v[s->n++];
	memset(l, 0, sizeof(*l));
	strcpy(l->pool, pool);
	strcpy(l->owner, owner);
	l->addr = *addr;
	return 0;
}

static int lease_remove_if(struct np_lease_set *s, bool (*match)(const struct np_lease *,
								 const void *, const void *),
			   const void *a, const void *b)
{
	size_t out = 0;
	int removed = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (match(&s->v[i], a, b)) {
			removed++;
			continue;
		}
		if (out != i)
			s->v[out] = s->v[i];
		out++;
	}
	s->n = out;
	return removed;
}

static bool match_owner(const struct np_lease *l, const void *pool, const void *owner)
{
	return lease_in_pool(l, pool) && !strcmp(l->owner, owner);
}

static bool match_pod(const struct np_lease *l, const void *uid, const void *len)
{
	size_t n = *(const size_t *)len;

	return !strncmp(l->owner, uid, n) && l->owner[n] == '/';
}

int np_lease_remove(struct np_lease_set *s, const char *pool, const char *owner)
{
	return owner ? lease_remove_if(s, match_owner, pool, owner) : 0;
}

int np_lease_release_pod(struct np_lease_set *s, const char *pod_uid)
{
	size_t len = pod_uid ? strlen(pod_uid) : 0;

	return len ? lease_remove_if(s, match_pod, pod_uid, &len) : 0;
}

json_t *np_lease_set_to_json(const struct np_lease_set *s)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		char text[NP_ADDR_TEXT_MAX];
		json_t *o;

		if (np_addr_format(&s->v[i].addr, true, text, sizeof(text)) < 0)
			continue; /* cannot happen: np_lease_add validated it */
		o = json_pack("{s:s, s:s, s:s}", "pool", s->v[i].pool, "owner", s->v[i].owner,
			      "addr", text);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int np_lease_set_from_json(const json_t *j, struct np_lease_set *s, struct diag *d)
{
	struct np_lease_set n;
	size_t i;
	json_t *e;
	int r;

	if (!json_is_array(j))
		return diag_fail(d, -EINVAL, "leases: not a JSON array");
	if (json_array_size(j) > NP_LEASES_MAX)
		return diag_fail(d, -E2BIG, "leases: more than %d", NP_LEASES_MAX);
	np_lease_set_init(&n);
	json_array_foreach(j, i, e) {
		const char *pool = json_str(e, "pool", NULL), *owner = json_str(e, "owner", NULL);
		const char *text = json_str(e, "addr", NULL);
		struct np_addr a;

		if (!json_is_object(e) || !pool || !owner || !text ||
		    np_addr_parse(text, &a) < 0) {
			np_lease_set_free(&n);
			return diag_fail(d, -EINVAL, "leases[%zu]: needs \"pool\", \"owner\" and "
						     "\"addr\" (a CIDR)",
					 i);
		}
		r = np_lease_add(&n, pool, owner, &a, d);
		if (r < 0) {
			np_lease_set_free(&n);
			diag_prefix(d, "leases[%zu]: ", i);
			return r;
		}
	}
	np_lease_set_free(s);
	*s = n;
	return 0;
}

/* ---- the pick ------------------------------------------------------------------------------- */

static int cmp_u128(const void *a, const void *b)
{
	u128 x = *(const u128 *)a, y = *(const u128 *)b;

	return x < y ? -1 : x > y;
}

static bool taken(const u128 *v, size_t n, u128 x)
{
	return bsearch(&x, v, n, sizeof(*v), cmp_u128) != NULL;
}

int np_ipam_pick(const struct np_ipam_pool *p, const char *owner, const struct np_lease_set *used,
		 struct np_addr *ret, struct diag *d)
{
	return np_ipam_pick_for(p, owner, owner, used, ret, d);
}

int np_ipam_pick_for(const struct np_ipam_pool *p, const char *owner, const char *reserve_key,
		     const struct np_lease_set *used, struct np_addr *ret, struct diag *d)
{
	int family = p->subnet.family;
	unsigned int hb = family_bits(family) - p->subnet.prefix;
	u128 base = addr_to_u128(&p->subnet), size_m1 = host_mask(hb), lo = 0, hi = size_m1;
	u128 count, start, steps, limit;
	_cleanup_free_ u128 *busy = NULL;
	const struct np_lease *mine;
	size_t n_busy = 0, cap;
	char text[NP_ADDR_TEXT_MAX];

	if (!owner_valid(owner) || !reserve_key)
		return diag_fail(d, -EINVAL, "pool %s: invalid owner key", p->name);
	if (family != AF_INET && family != AF_INET6)
		return diag_fail(d, -EINVAL, "pool %s: not initialised", p->name);

	/* 1. the owner's lease stands */
	mine = np_lease_find(used, p->name, owner);
	if (mine) {
		*ret = mine->addr;
		return 0;
	}
	/* 2. its reservation */
	for (size_t i = 0; i < p->n_reserved; i++) {
		const struct np_lease *l;

		if (strcmp(p->reserved[i].owner, reserve_key) != 0)
			continue;
		l = lease_by_addr(used, p->name, &p->reserved[i].addr);
		if (l) {
			np_addr_format(&p->reserved[i].addr, false, text, sizeof(text));
			return diag_fail(d, -EADDRINUSE, "pool %s: %s is reserved for %s but "
							 "leased to %s",
					 p->name, text, reserve_key, l->owner);
		}
		*ret = p->reserved[i].addr;
		return 0;
	}

	/* 3. hash start, linear probe over [lo, hi], offsets from the network address */
	if (p->range_start.family == family && p->range_end.family == family) {
		lo = addr_to_u128(&p->range_start) - base;
		hi = addr_to_u128(&p->range_end) - base;
	}
	count = hi - lo + 1; /* hb <= 127 (prefix >= 1): no overflow */

	cap = used->n + p->n_reserved + 1;
	busy = calloc(cap, sizeof(*busy));
	if (!busy)
		return diag_fail(d, -ENOMEM, "pool %s: out of memory", p->name);
	for (size_t i = 0; i < used->n; i++)
		if (!strcmp(used->v[i].pool, p->name) &&
		    addr_in_subnet(&used->v[i].addr, &p->subnet))
			busy[n_busy++] = addr_to_u128(&used->v[i].addr) - base;
	for (size_t i = 0; i < p->n_reserved; i++)
		busy[n_busy++] = addr_to_u128(&p->reserved[i].addr) - base;
	if (p->gateway.family == family)
		busy[n_busy++] = addr_to_u128(&p->gateway) - base;
	qsort(busy, n_busy, sizeof(*busy), cmp_u128);

	start = ((u128)fnv1a(owner, 0) << 64 | fnv1a(owner, 0x9e3779b97f4a7c15ULL)) % count;
	/* Every excluded offset is passed at most once, so n_busy + the fixed exclusions + 1
	 * steps find a free one whenever there is one. */
	limit = (u128)n_busy + 2 + RFC2526_BLOCK + 1;
	if (limit > count)
		limit = count;
	for (steps = 0; steps < limit; steps++) {
		u128 off = lo + (start + steps) % count;

		if (hb >= 2 && off == 0)
			continue; /* network address; IPv6 subnet-router anycast */
		if (family == AF_INET && hb >= 2 && off == size_m1)
			continue; /* broadcast */
		if (family == AF_INET6 && hb >= 64 &&
		    ((uint64_t)off | (RFC2526_BLOCK - 1)) == RFC2526_EUI64_LAST)
			continue; /* RFC 2526 subnet anycast */
		if (taken(busy, n_busy, off))
			continue;
		*ret = u128_to_addr(base + off, family, p->subnet.prefix);
		return 0;
	}
	np_addr_format(&p->subnet, true, text, sizeof(text));
	return diag_fail(d, -ENOSPC, "pool %s (%s): no free address (%zu leased or reserved)",
			 p->name, text, n_busy);
}
