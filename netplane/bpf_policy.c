/* bpf_policy.c - per-pod policy in the datapath: trie build and atomic swap, mode, explain. */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/btf.h>
#include <bpf/btf.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <string.h>

#include "netplane/bpf_int.h"

int npb_cfg_get(struct np_bpf *b, uint32_t slot, struct tank_pod_cfg *ret, struct diag *d)
{
	int r = bpf_map__lookup_elem(b->skel->maps.tank_cfg_v1, &slot, sizeof(slot), ret,
				     sizeof(*ret), 0);

	return r < 0 ? npb_fail(d, r, "reading the pod configuration") : 0;
}

int npb_cfg_put(struct np_bpf *b, uint32_t slot, const struct tank_pod_cfg *c, struct diag *d)
{
	int r = bpf_map__update_elem(b->skel->maps.tank_cfg_v1, &slot, sizeof(slot), c,
				     sizeof(*c), 0);

	return r < 0 ? npb_fail(d, r, "writing the pod configuration") : 0;
}

/* A new map of one pod's policy, BTF-typed (key and value types by name), filled with n entries. */
static int policy_map_build(struct np_bpf *b, enum bpf_map_type type, const char *name,
			    const char *key_type, size_t key_size, const void *keys,
			    const struct tank_pol_val *vals, size_t n, struct diag *d)
{
	struct btf *btf = bpf_object__btf(b->skel->obj);
	int key_id = btf ? btf__find_by_name_kind(btf, key_type, BTF_KIND_STRUCT) : -1;
	int val_id = btf ? btf__find_by_name_kind(btf, "tank_pol_val", BTF_KIND_STRUCT) : -1;
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	int fd, r;

	if (key_id > 0 && val_id > 0) {
		o.btf_fd = bpf_object__btf_fd(b->skel->obj);
		o.btf_key_type_id = (__u32)key_id;
		o.btf_value_type_id = (__u32)val_id;
	}
	fd = bpf_map_create(type, name, (__u32)key_size, sizeof(struct tank_pol_val),
			    n ? (__u32)n : 1, &o);
	if (fd < 0)
		return npb_fail(d, fd, "creating the policy map");
	if (n) {
		__u32 count = (__u32)n;

		r = bpf_map_update_batch(fd, keys, vals, &count, &bo);
		if (r < 0 && count == 0) {
			/* kernels without batch updates for tries: one by one */
			r = 0;
			for (size_t i = 0; i < n && r == 0; i++)
				r = bpf_map_update_elem(fd, (const char *)keys + i * key_size,
							&vals[i], BPF_ANY);
		}
		if (r < 0) {
			close(fd);
			return npb_fail(d, r, "filling the policy map");
		}
	}
	return fd;
}

static bool is_host_peer(const struct tank_pol_key *k)
{
	return k->kind == TANK_POL_PEER &&
	       k->prefixlen == TANK_POL_HDR_BITS + (k->family == TANK_FAM_IPV4 ? 32u : 128u);
}

/* bit of a direction and family in a mask */
static unsigned int dirfam_bit(enum tank_dir dir, enum tank_family f)
{
	return 1u << (dir * TANK_FAM_MAX + f);
}

/*
 * The trie of one pod's policy (named tank_pol_<slot>), filled with c. With TANK_POLX_MIN host
 * prefixes or more, those go to an exact-match hash instead (tank_polx_<slot>), installed at
 * tank_polx_v1[slot * 2 + parity] here, before the caller swaps in the trie that names it
 * (tank_abi.h). Returns the trie's fd.
 */
static int trie_build(struct np_bpf *b, uint32_t slot, unsigned int parity,
		      const struct np_policy_compiled *c, struct diag *d)
{
	_cleanup_free_ struct tank_pol_key *tk = NULL;
	_cleanup_free_ struct tank_pol_val *tv = NULL, *xv = NULL;
	_cleanup_free_ struct tank_polx_key *xk = NULL;
	size_t hosts = 0, nt = 0, nx = 0;
	unsigned int mask = 0, covered = 0;
	uint32_t xi = slot * 2 + parity;
	char name[16];
	int fd, r;

	for (size_t i = 0; i < c->n; i++)
		hosts += is_host_peer(&c->keys[i]);
	snprintf(name, sizeof(name), "tank_pol_%u", slot);
	if (hosts < TANK_POLX_MIN)
		return policy_map_build(b, BPF_MAP_TYPE_LPM_TRIE, name, "tank_pol_key",
					sizeof(struct tank_pol_key), c->keys, c->vals, c->n, d);

	/* room for the trie's entries plus a 0/0 per direction and family */
	tk = calloc(c->n - hosts + TANK_DIR_MAX * 2, sizeof(*tk));
	tv = calloc(c->n - hosts + TANK_DIR_MAX * 2, sizeof(*tv));
	xk = calloc(hosts, sizeof(*xk));
	xv = calloc(hosts, sizeof(*xv));
	if (!tk || !tv || !xk || !xv)
		return diag_fail(d, -ENOMEM, "policy: out of memory");
	for (size_t i = 0; i < c->n; i++) {
		const struct tank_pol_key *k = &c->keys[i];

		if (is_host_peer(k)) {
			xk[nx] = (struct tank_polx_key){ .dir = k->dir, .family = k->family };
			memcpy(xk[nx].addr, k->addr, sizeof(xk[nx].addr));
			xv[nx++] = c->vals[i];
			mask |= dirfam_bit(k->dir, k->family);
			continue;
		}
		tk[nt] = *k;
		tv[nt++] = c->vals[i];
	}
	/* every PEER entry of a direction and family with host prefixes names the hash, and one
	 * always matches: a 0/0 where the policy has none (no rule covers it: TANK_SET_NONE) */
	for (size_t i = 0; i < nt; i++) {
		if (tk[i].kind != TANK_POL_PEER || !(mask & dirfam_bit(tk[i].dir, tk[i].family)))
			continue;
		tv[i].n_ranges |= (parity + 1) << TANK_POL_EXACT_SHIFT;
		if (tk[i].prefixlen == TANK_POL_HDR_BITS)
			covered |= dirfam_bit(tk[i].dir, tk[i].family);
	}
	for (int dir = 0; dir < TANK_DIR_MAX; dir++) {
		for (int f = TANK_FAM_IPV4; f <= TANK_FAM_IPV6; f++) {
			if (!(mask & dirfam_bit(dir, f)) || (covered & dirfam_bit(dir, f)))
				continue;
			tk[nt] = (struct tank_pol_key){ .prefixlen = TANK_POL_HDR_BITS,
							.kind = TANK_POL_PEER, .dir = dir,
							.family = f };
			tv[nt++] = (struct tank_pol_val){
				.rule = TANK_RULE_NONE, .set = TANK_SET_NONE,
				.n_ranges = (parity + 1) << TANK_POL_EXACT_SHIFT };
		}
	}

	snprintf(name, sizeof(name), "tank_polx_%u", slot);
	fd = policy_map_build(b, BPF_MAP_TYPE_HASH, name, "tank_polx_key", sizeof(*xk), xk, xv,
			      nx, d);
	if (fd < 0)
		return fd;
	r = bpf_map__update_elem(b->skel->maps.tank_polx_v1, &xi, sizeof(xi), &fd, sizeof(fd),
				 BPF_ANY);
	close(fd);
	if (r < 0)
		return npb_fail(d, r, "installing the policy's host prefixes");
	snprintf(name, sizeof(name), "tank_pol_%u", slot);
	return policy_map_build(b, BPF_MAP_TYPE_LPM_TRIE, name, "tank_pol_key", sizeof(*tk), tk,
				tv, nt, d);
}

int npb_policy_drop(struct np_bpf *b, uint32_t slot, struct diag *d)
{
	int r = bpf_map__delete_elem(b->skel->maps.tank_pol_v1, &slot, sizeof(slot), 0);

	if (r < 0 && r != -ENOENT)
		return npb_fail(d, r, "removing the pod policy");
	for (uint32_t xi = slot * 2; xi < slot * 2 + 2; xi++) {
		r = bpf_map__delete_elem(b->skel->maps.tank_polx_v1, &xi, sizeof(xi), 0);
		if (r < 0 && r != -ENOENT)
			return npb_fail(d, r, "removing the pod policy's host prefixes");
	}
	return 0;
}

int np_bpf_policy_set(struct np_bpf *b, uint32_t slot, const struct np_policy *p,
		      struct diag *d)
{
	struct np_policy_compiled *c = NULL;
	struct tank_pod_cfg cfg;
	_cleanup_close_ int fd = -1;
	int r;

	npb_libbpf_reset();
	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	r = npb_cfg_get(b, slot, &cfg, d);
	if (r < 0)
		return r;
	if (!p) {
		r = npb_policy_drop(b, slot, d);
		if (r < 0)
			return r;
		cfg.gen++;
		cfg.audit = 0;
		return npb_cfg_put(b, slot, &cfg, d);
	}
	r = np_policy_compile(p, &c, d);
	if (r < 0)
		return r;
	/* the host prefixes' hash at the parity the installed trie does not name: that one is at
	 * cfg.gen & 1 (the generation is bumped after each swap, and whatever else bumps it has
	 * removed the policy first) */
	fd = trie_build(b, slot, (cfg.gen + 1) & 1, c, d);
	np_policy_compiled_free(c);
	if (fd < 0)
		return fd;
	/* towards audit: audit first, then the new rules; towards enforce: the other way round.
	 * So no instant enforces a policy that is audited on both sides of the change. */
	if (p->audit && !cfg.audit) {
		cfg.audit = 1;
		r = npb_cfg_put(b, slot, &cfg, d);
		if (r < 0)
			return r;
	}
	/* the swap: one pointer in the outer array; packets see the old trie or the new one */
	r = bpf_map__update_elem(b->skel->maps.tank_pol_v1, &slot, sizeof(slot), &fd, sizeof(fd),
				 BPF_ANY);
	if (r < 0)
		return npb_fail(d, r, "installing the pod policy");
	/* after the swap: verdicts cached in flows under older generations are re-checked */
	cfg.gen++;
	cfg.audit = p->audit;
	return npb_cfg_put(b, slot, &cfg, d);
}

int np_bpf_policy_mode_set(struct np_bpf *b, uint32_t slot, bool audit, struct diag *d)
{
	struct tank_pod_cfg cfg;
	int r;

	npb_libbpf_reset();
	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	r = npb_cfg_get(b, slot, &cfg, d);
	if (r < 0)
		return r;
	cfg.audit = audit;
	return npb_cfg_put(b, slot, &cfg, d);
}

int np_bpf_events_limit_set(struct np_bpf *b, uint32_t slot, uint32_t sample, uint32_t rate,
			    uint32_t burst, struct diag *d)
{
	struct tank_pod_cfg cfg;
	int r;

	npb_libbpf_reset();
	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	r = npb_cfg_get(b, slot, &cfg, d);
	if (r < 0)
		return r;
	cfg.ev_sample = sample;
	cfg.ev_rate = rate;
	cfg.ev_burst = burst;
	return npb_cfg_put(b, slot, &cfg, d);
}

/* ---- explain ------------------------------------------------------------------------------- */

/* An Ethernet frame opening a connection: pod side address unspecified, ports 40000 -> port
 * (egress) or peer 40000 -> pod port (ingress). */
static size_t packet_build(unsigned char *buf, enum tank_dir dir, const struct np_addr *peer,
			   uint16_t port, uint8_t proto)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	size_t off = sizeof(*eth), l4len;
	unsigned char *l4;

	memset(buf, 0, 256);
	eth->h_dest[0] = eth->h_source[0] = 0x02;
	eth->h_source[5] = 1;
	switch (proto) {
	case IPPROTO_TCP:
		l4len = sizeof(struct tcphdr);
		break;
	case IPPROTO_UDP:
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		l4len = 8;
		break;
	case IPPROTO_SCTP:
		l4len = 12;
		break;
	default:
		l4len = 0;
	}
	if (peer->family == AF_INET) {
		struct iphdr *ip = (struct iphdr *)(buf + off);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = proto;
		ip->tot_len = htons((uint16_t)(sizeof(*ip) + l4len));
		if (dir == TANK_DIR_EGRESS)
			ip->daddr = peer->v4.s_addr;
		else
			ip->saddr = peer->v4.s_addr;
		off += sizeof(*ip);
	} else {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)(buf + off);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->ip6_flow = htonl(6u << 28);
		ip6->ip6_plen = htons((uint16_t)l4len);
		ip6->ip6_nxt = proto;
		ip6->ip6_hlim = 64;
		if (dir == TANK_DIR_EGRESS)
			ip6->ip6_dst = peer->v6;
		else
			ip6->ip6_src = peer->v6;
		off += sizeof(*ip6);
	}
	l4 = buf + off;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *t = (struct tcphdr *)l4;

		t->source = htons(40000);
		t->dest = htons(port);
		t->doff = 5;
		t->syn = 1;
	} else if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
		uint16_t ports[2] = { htons(40000), htons(port) };

		memcpy(l4, ports, sizeof(ports));
		if (proto == IPPROTO_UDP)
			((struct udphdr *)l4)->len = htons(8);
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		l4[0] = proto == IPPROTO_ICMP ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
		l4[5] = 1; /* identifier */
	}
	return off + l4len;
}

int np_bpf_verdict_test(struct np_bpf *b, uint32_t slot, enum tank_dir dir,
			const struct np_addr *peer, uint16_t port, uint8_t proto,
			struct np_verdict *ret, struct diag *d)
{
	unsigned char pkt[256];
	struct __sk_buff ctx = {}, out = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &out, .ctx_size_out = sizeof(out),
		    .repeat = 1);
	int r;

	npb_libbpf_reset();
	r = npb_slot_check(slot, d);
	if (r < 0)
		return r;
	if (!peer || (peer->family != AF_INET && peer->family != AF_INET6) ||
	    (dir != TANK_DIR_INGRESS && dir != TANK_DIR_EGRESS))
		return diag_fail(d, -EINVAL, "explain: bad peer or direction");
	o.data_size_in = (__u32)packet_build(pkt, dir, peer, port, proto);
	/* explain mode: slot and direction from the mark, on loopback; nothing is recorded */
	ctx.mark = TANK_EXPLAIN_MAGIC | (uint32_t)dir << 12 | slot;
	r = bpf_prog_test_run_opts(bpf_program__fd(b->skel->progs.tank_host_in), &o);
	if (r < 0)
		return npb_fail(d, r, "running the program on a test packet");
	if (out.cb[3] != TANK_EXPLAIN_DONE)
		return diag_fail(d, -EPROTO,
				 "explain: the program did not answer (an older program?)");
	ret->verdict = (enum tank_verdict)out.cb[0];
	ret->reason = (enum tank_reason)out.cb[1];
	ret->rule = out.cb[2];
	return 0;
}

/* ---- the datapath's clock -------------------------------------------------------------------- */

unsigned int npb_hz(struct np_bpf *b)
{
	unsigned int hz = b->skel->kconfig ? b->skel->kconfig->CONFIG_HZ : 0;

	return hz ? hz : TANK_HZ_DEFAULT;
}

/* Flows carry jiffies, which user space cannot read: the program tells (explain mode on an
 * ARP frame, slot 0: nothing recorded). */
int npb_jiffies(struct np_bpf *b, uint32_t *ret)
{
	unsigned char arp[60] = { [0] = 0xff, [12] = 0x08, [13] = 0x06 };
	struct __sk_buff ctx = { .mark = TANK_EXPLAIN_MAGIC }, out = {};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = arp, .data_size_in = sizeof(arp),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &out,
		    .ctx_size_out = sizeof(out), .repeat = 1);
	int r = bpf_prog_test_run_opts(bpf_program__fd(b->skel->progs.tank_host_in), &o);

	if (r < 0)
		return r;
	if (out.cb[3] != TANK_EXPLAIN_DONE)
		return -EPROTO;
	*ret = out.cb[4];
	return 0;
}
