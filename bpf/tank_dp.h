/* tank_dp.h - the datapath shared by tank_tc.bpf.c and tank_cg.bpf.c: maps, parsing, policy, flows. */
#ifndef TANK_DP_H
#define TANK_DP_H

/*
 * Included once by each program object (one object per attach type, DESIGN.md §6), after
 * vmlinux.h and after defining TANK_L2_LEN: the bytes in front of the IP header at skb->data
 * (14, Ethernet, for tc; 0 for cgroup_skb, which starts at the IP header). Every object defines
 * the same maps; netplane loads the tc object first and hands its maps to the others, so all
 * share one set. The design (maps, keys, verdict order, explain mode) is in tank_abi.h.
 */
#ifndef TANK_L2_LEN
#error "define TANK_L2_LEN before including tank_dp.h"
#endif

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "tank_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* from the kernel config through libbpf; 0 when it cannot be read */
extern unsigned int CONFIG_HZ __kconfig __weak;

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60
#define IPPROTO_SCTP 132

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Headers we read must be in the linear part: eth + IPv6 + two extension headers + ICMPv6 +
 * quoted IPv6 + 8 bytes of the quoted transport header fit. */
#define TANK_PULL_LEN 128

/* ---- maps ------------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TANK_STATS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tank_stat_key);
	__type(value, struct tank_counter);
} tank_stats_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TANK_MAX_PODS);
	__type(key, __u32);
	__type(value, struct tank_pod_info);
} tank_pods_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TANK_MAX_IFS);
	__type(key, struct tank_if_key);
	__type(value, struct tank_if_info);
} tank_ifs_v3 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TANK_IFH_SIZE);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tank_ifh);
} tank_ifh_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TANK_MAX_CGS);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct tank_cg_info);
} tank_cgs_v1 SEC(".maps");

struct tank_pol_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tank_pol_key);
	__type(value, struct tank_pol_val);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, TANK_MAX_PODS);
	__type(key, __u32);
	__array(values, struct tank_pol_inner);
} tank_pol_v1 SEC(".maps");

/* the host prefixes of large policies: two per slot, see tank_abi.h */
struct tank_polx_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tank_polx_key);
	__type(value, struct tank_pol_val);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, TANK_MAX_PODS * 2);
	__type(key, __u32);
	__array(values, struct tank_polx_inner);
} tank_polx_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TANK_MAX_PODS);
	__type(key, __u32);
	__type(value, struct tank_pod_cfg);
} tank_cfg_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TANK_FLOWS_MAX);
	__type(key, struct tank_flow_key);
	__type(value, struct tank_flow);
} tank_flows_v1 SEC(".maps");

/* one CPU's worth here: whoever loads the object sizes these for every possible CPU */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TANK_FCACHE_SIZE);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tank_fcache);
} tank_fcache_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TANK_SCELL_SIZE);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tank_scell);
} tank_scell_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TANK_FRAGS_MAX);
	__type(key, struct tank_frag_key);
	__type(value, struct tank_frag);
} tank_frags_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tank_gstat);
} tank_gstat_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TANK_EVENTS_BYTES);
} tank_events_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TANK_MAX_PODS);
	__type(key, __u32);
	__type(value, struct tank_evrl);
} tank_evrl_v1 SEC(".maps");

/* Not used by the programs: netplane writes a deleted pod's totals here (pinned with the rest). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TANK_TOMBS_MAX);
	__type(key, struct tank_tomb_key);
	__type(value, struct tank_tomb);
} tank_tomb_v1 SEC(".maps");

/*
 * Types the programs do not use in a map definition of their own still belong in BTF for
 * bpftool and for netplane (which creates the inner policy tries with these key/value types):
 * clang 14 emits only a forward declaration for the key of an inner-map template. This function
 * is never called (so never loaded); its prototype carries the full types.
 */
struct tank_btf_types {
	struct tank_pol_key pol_key;
	struct tank_pol_val pol_val;
	struct tank_polx_key polx_key;
	struct tank_event event;
};

__attribute__((used)) static __noinline int tank_btf_anchor(struct tank_btf_types *t)
{
	return t != 0;
}

/* ---- parsing ------------------------------------------------------------------------------ */

enum tk_parse { P_IP, P_NON_IP, P_BAD };

enum tk_icmp { IC_NONE, IC_ECHO_REQ, IC_ECHO_REP, IC_ERROR, IC_ND, IC_OTHER };

enum tk_frag { FR_NONE, FR_FIRST, FR_LATER };

struct tk_pkt {
	__u32 len;
	__u32 frag_id;
	enum tank_family family;
	__u8 proto;  /* IP protocol */
	__u8 pclass; /* enum tank_proto */
	__u8 frag;   /* enum tk_frag */
	__u8 tcp_flags;
	__u8 icmp;   /* enum tk_icmp */
	__u8 has_l4; /* l4a/l4b are known */
	/* TCP/UDP/SCTP: source and destination port; ICMP: identifier and type (host order) */
	__be16 l4a, l4b;
	/* aligned: copied a word at a time (fk_orient) */
	__u8 saddr[16] __attribute__((aligned(8)));
	__u8 daddr[16] __attribute__((aligned(8)));
	/* the packet quoted by an ICMP error (IC_ERROR with q_ok) */
	__u8 q_ok, q_proto, q_echo;
	__be16 q_l4a, q_l4b;
	__u8 q_saddr[16] __attribute__((aligned(8)));
	__u8 q_daddr[16] __attribute__((aligned(8)));
};

static __always_inline __u8 proto_class(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return TANK_PROTO_TCP;
	case IPPROTO_UDP:
		return TANK_PROTO_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return TANK_PROTO_ICMP;
	default:
		return TANK_PROTO_OTHER;
	}
}

static __always_inline bool has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* The packet quoted in an ICMP error: its addresses and the first 8 bytes of its transport
 * header (all an ICMP error is required to carry). */
static __always_inline void parse_quoted(struct tk_pkt *p, void *q, void *end)
{
	__u8 *l4;

	if (p->family == TANK_FAM_IPV4) {
		struct iphdr *ip = q;
		__u32 ihl;

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
			return;
		ihl = ip->ihl * 4;
		l4 = (__u8 *)ip + ihl;
		p->q_proto = ip->protocol;
		__builtin_memcpy(p->q_saddr, &ip->saddr, 4);
		__builtin_memcpy(p->q_daddr, &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = q;

		if ((void *)(ip6 + 1) > end)
			return;
		l4 = (__u8 *)(ip6 + 1);
		p->q_proto = ip6->nexthdr;
		__builtin_memcpy(p->q_saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->q_daddr, &ip6->daddr, 16);
	}
	if ((void *)(l4 + 8) > end)
		return;
	if (has_ports(p->q_proto)) {
		p->q_l4a = *(__be16 *)l4;
		p->q_l4b = *(__be16 *)(l4 + 2);
		p->q_ok = 1;
	} else if ((p->q_proto == IPPROTO_ICMP && l4[0] == 8) ||
		   (p->q_proto == IPPROTO_ICMPV6 && l4[0] == 128)) {
		p->q_l4a = *(__be16 *)(l4 + 4);
		p->q_echo = 1;
		p->q_ok = 1;
	}
}

static __always_inline void parse_icmp(struct tk_pkt *p, __u8 *l4, void *end)
{
	__u8 type = l4[0];

	p->l4a = *(__be16 *)(l4 + 4); /* echo identifier */
	p->l4b = type;
	if (p->proto == IPPROTO_ICMP) {
		if (type == 8)
			p->icmp = IC_ECHO_REQ;
		else if (type == 0)
			p->icmp = IC_ECHO_REP;
		else if (type == 3 || type == 11 || type == 12)
			p->icmp = IC_ERROR;
		else
			p->icmp = IC_OTHER;
	} else {
		if (type == 128)
			p->icmp = IC_ECHO_REQ;
		else if (type == 129)
			p->icmp = IC_ECHO_REP;
		else if (type >= 1 && type <= 4)
			p->icmp = IC_ERROR;
		else if ((type >= 130 && type <= 137) || type == 143)
			p->icmp = IC_ND;
		else
			p->icmp = IC_OTHER;
	}
	if (p->icmp == IC_ERROR && p->frag == FR_NONE)
		parse_quoted(p, l4 + 8, end);
}

/* Transport header at l4 (not for a later fragment). */
static __always_inline int parse_l4(struct tk_pkt *p, __u8 *l4, void *end)
{
	if (has_ports(p->proto)) {
		if ((void *)(l4 + 4) > end)
			return P_BAD;
		p->l4a = *(__be16 *)l4;
		p->l4b = *(__be16 *)(l4 + 2);
		if (p->proto == IPPROTO_TCP) {
			if ((void *)(l4 + 14) > end)
				return P_BAD;
			p->tcp_flags = l4[13];
		}
		p->has_l4 = 1;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		if ((void *)(l4 + 8) > end)
			return P_BAD;
		parse_icmp(p, l4, end);
		p->has_l4 = 1;
	} else {
		p->has_l4 = 1; /* no ports: l4a = l4b = 0 */
	}
	return P_IP;
}

static __always_inline int parse_ipv4(struct tk_pkt *p, void *data, void *end)
{
	struct iphdr *ip = data + TANK_L2_LEN;
	__u16 frag_off;

	p->family = TANK_FAM_IPV4;
	if ((void *)(ip + 1) > end)
		return P_BAD;
	/* known even for a malformed header: it is counted under its protocol */
	p->proto = ip->protocol;
	p->pclass = proto_class(p->proto);
	__builtin_memcpy(p->saddr, &ip->saddr, 4);
	__builtin_memcpy(p->daddr, &ip->daddr, 4);
	if (ip->version != 4 || ip->ihl < 5)
		return P_BAD;
	frag_off = bpf_ntohs(ip->frag_off);
	p->frag_id = bpf_ntohs(ip->id);
	if (frag_off & 0x1fff) {
		p->frag = FR_LATER;
		return P_IP;
	}
	if (frag_off & 0x2000)
		p->frag = FR_FIRST;
	return parse_l4(p, (__u8 *)ip + ip->ihl * 4, end);
}

/*
 * Walk the IPv6 extension headers (at most 6) from the fixed header on; sets p->proto,
 * p->frag, p->frag_id. Returns the offset of the transport header, or -1 when there are more
 * headers than we walk or they are truncated. Global, so its loop is verified once, alone.
 */
__noinline int tank_ipv6_ext(struct __sk_buff *skb, struct tk_pkt *p)
{
	__u32 off = TANK_L2_LEN + sizeof(struct ipv6hdr);
	__u8 nh, h[8];

	if (!p)
		return -1;
	if (bpf_skb_load_bytes(skb, TANK_L2_LEN + 6, &nh, 1) < 0)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
		    nh != IPPROTO_AH && nh != IPPROTO_FRAGMENT)
			break;
		if (off > TANK_PULL_LEN || bpf_skb_load_bytes(skb, off, h, 8) < 0)
			return -1;
		if (nh == IPPROTO_FRAGMENT) {
			__u16 fo = ((__u16)h[2] << 8) | h[3];

			p->frag_id = ((__u32)h[4] << 24) | ((__u32)h[5] << 16) |
				     ((__u32)h[6] << 8) | h[7];
			if (fo & 0xfff8)
				p->frag = FR_LATER;
			else if (fo & 1)
				p->frag = FR_FIRST;
			off += 8;
		} else if (nh == IPPROTO_AH) {
			off += ((__u32)h[1] + 2) * 4;
		} else {
			off += ((__u32)h[1] + 1) * 8;
		}
		nh = h[0];
		if (p->frag == FR_LATER)
			break;
	}
	p->proto = nh;
	if (p->frag != FR_LATER &&
	    (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	     nh == IPPROTO_AH || nh == IPPROTO_FRAGMENT))
		return -1;
	return off > TANK_PULL_LEN ? -1 : (int)off;
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct tk_pkt *p, void *data,
				      void *end)
{
	struct ipv6hdr *ip6 = data + TANK_L2_LEN;
	int off;

	p->family = TANK_FAM_IPV6;
	if ((void *)(ip6 + 1) > end || ip6->version != 6)
		return P_BAD;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	if (ip6->nexthdr == IPPROTO_TCP || ip6->nexthdr == IPPROTO_UDP ||
	    ip6->nexthdr == IPPROTO_ICMPV6) {
		/* the common case without extension headers */
		p->proto = ip6->nexthdr;
		off = TANK_L2_LEN + sizeof(*ip6);
	} else {
		off = tank_ipv6_ext(skb, p);
	}
	p->pclass = proto_class(p->proto);
	if (off < 0 || off > TANK_PULL_LEN)
		return P_BAD;
	if (p->frag == FR_LATER)
		return P_IP;
	/* the mask only tells the verifier what the test above already made sure of */
	return parse_l4(p, data + ((__u32)off & 0xff), end);
}

#if TANK_L2_LEN
/*
 * How many bytes from skb->data on the parse reads, as far as the linear part tells: for TCP,
 * UDP and SCTP the IP header and the transport header up to the TCP flags or the ports; for
 * anything else TANK_PULL_LEN (IPv6 extension headers are walked, ICMP errors quote a packet).
 * A packet is pulled only when these bytes are not all linear: a GSO packet from a socket has
 * only its headers there, so pulling a fixed length cost every one of them a copy into the head
 * (often a reallocation of it), about 3/4 of its whole time in the program under iperf3.
 */
static __always_inline __u32 tank_pull_len(void *data, void *end)
{
	struct ethhdr *eth = data;
	__u32 l4;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return TANK_PULL_LEN;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return TANK_PULL_LEN;
		proto = ip->protocol;
		l4 = ETH_HLEN + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return TANK_PULL_LEN;
		proto = ip6->nexthdr;
		l4 = ETH_HLEN + sizeof(*ip6);
	} else {
		return ETH_HLEN; /* not IP (or a VLAN tag): nothing past the Ethernet header */
	}
	if (proto == IPPROTO_TCP)
		return l4 + 14;
	if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP)
		return l4 + 4;
	return TANK_PULL_LEN;
}
#endif

/*
 * Inlined: a call costs more than the parse itself on kernels with return thunks. What keeps the
 * verifier's states few is that tank_decide, which the parse feeds, is global (verified alone).
 */
static __always_inline int tank_parse(struct __sk_buff *skb, struct tk_pkt *p)
{
	void *data, *end;

	if (!p)
		return P_BAD;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
#if TANK_L2_LEN
	struct ethhdr *eth;
	__u32 want = tank_pull_len(data, end);
	__u16 proto;

	if (want > p->len)
		want = p->len;
	if (data + want > end) {
		/* headers in paged data: make them linear (pointers change) */
		bpf_skb_pull_data(skb, want);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	eth = data;
	if ((void *)(eth + 1) > end)
		return P_NON_IP;
	proto = bpf_ntohs(eth->h_proto);
	if (proto == ETH_P_IP)
		return parse_ipv4(p, data, end);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(skb, p, data, end);
	/* IP behind a VLAN tag would pass unseen: in a restricted direction it is malformed */
	if (proto == ETH_P_8021Q || proto == ETH_P_8021AD)
		return P_BAD;
	return P_NON_IP;
#else
	/* cgroup_skb: an inet socket's packet, from its IP header on. No pulling here, but the
	 * stack made the IP and transport headers linear on both paths before the hook. */
	if (data + 1 > end)
		return P_BAD;
	switch (*(__u8 *)data >> 4) {
	case 4:
		return parse_ipv4(p, data, end);
	case 6:
		return parse_ipv6(skb, p, data, end);
	default:
		return P_BAD;
	}
#endif
}

/* ---- policy ------------------------------------------------------------------------------ */

struct tk_state {
	__u32 slot, nic, dir, rule;
	__u32 verdict, reason;
	bool explain;
	struct tank_pod_cfg cfg; /* a copy: global functions take plain memory */
	struct tk_pkt p;
	struct tank_flow_key fk __attribute__((aligned(8))); /* read as __u64s by the flow cache */
};

/*
 * Is packet p allowed in s->dir by the slot's policy? portless: the ports are not known (a later
 * fragment): only rules covering the whole protocol match. Sets s->rule.
 */
static __always_inline bool policy_allows(struct tk_state *s, bool portless)
{
	struct tank_pol_key k = {};
	struct tank_pol_val *v;
	__u16 port;
	void *trie;

	trie = bpf_map_lookup_elem(&tank_pol_v1, &s->slot);
	if (!trie) {
		s->rule = TANK_RULE_NO_POLICY;
		return true;
	}
	k.kind = TANK_POL_PEER;
	k.dir = s->dir;
	k.family = s->p.family;
	k.prefixlen = TANK_POL_HDR_BITS + (s->p.family == TANK_FAM_IPV4 ? 32 : 128);
	__builtin_memcpy(k.addr, s->fk.peer_addr, 16);
	v = bpf_map_lookup_elem(trie, &k);
	if (v && TANK_POL_EXACT(v->n_ranges)) {
		/* a large policy: its host prefixes are in an exact-match hash, longer than any */
		__u32 xi = s->slot * 2 + TANK_POL_EXACT(v->n_ranges) - 1;
		struct tank_polx_key xk = { .dir = s->dir, .family = s->p.family };
		struct tank_pol_val *xv;
		void *exact;

		exact = bpf_map_lookup_elem(&tank_polx_v1, &xi);
		if (exact) {
			__builtin_memcpy(xk.addr, s->fk.peer_addr, 16);
			xv = bpf_map_lookup_elem(exact, &xk);
			if (xv)
				v = xv;
		}
	}
	s->rule = TANK_RULE_NONE;
	if (!v || v->set == TANK_SET_NONE)
		return false;
	if (v->set == TANK_SET_ALL) {
		s->rule = v->rule;
		return true;
	}
	port = bpf_ntohs(s->dir == TANK_DIR_EGRESS ? s->fk.peer_port : s->fk.pod_port);
	if (v->set == TANK_SET_INLINE) {
		/* a few ranges: scanned here, lowest rule first */
		for (int i = 0; i < TANK_POL_INLINE; i++) {
			const struct tank_pol_range *r = &v->ranges[i];

			if (i >= TANK_POL_RANGES(v->n_ranges))
				break;
			if (r->proto != s->p.proto)
				continue;
			if (portless ? r->lo == 0 && r->hi == 0xffff
				     : r->lo <= port && port <= r->hi) {
				s->rule = r->rule;
				return true;
			}
		}
		return false;
	}
	k.kind = TANK_POL_PORT;
	k.dir = 0;
	k.family = 0;
	__builtin_memset(k.addr, 0, sizeof(k.addr));
	k.port.set = v->set;
	k.port.proto = s->p.proto;
	/* the destination port of the packet */
	k.port.port = s->dir == TANK_DIR_EGRESS ? s->fk.peer_port : s->fk.pod_port;
	k.prefixlen = portless ? TANK_POL_PROTO_BITS : TANK_POL_PORT_BITS + 16;
	v = bpf_map_lookup_elem(trie, &k);
	if (!v)
		return false;
	s->rule = v->rule;
	return true;
}

/* Is s->dir (or the other direction) restricted by a policy? For packets without a peer. */
static __always_inline bool policy_restricts(struct tk_state *s, __u32 dir)
{
	struct tank_pol_key k = {};
	struct tank_pol_val *v;
	void *trie;

	trie = bpf_map_lookup_elem(&tank_pol_v1, &s->slot);
	if (!trie)
		return false;
	k.prefixlen = TANK_POL_HDR_BITS;
	k.kind = TANK_POL_META;
	k.dir = dir;
	v = bpf_map_lookup_elem(trie, &k);
	return !v || v->rule != TANK_RULE_NO_POLICY;
}

static __always_inline void set_pass(struct tk_state *s, __u32 reason)
{
	s->verdict = TANK_VERDICT_PASS;
	s->reason = reason;
}

/* The policy said no: drop, or count and pass in audit mode. */
static __always_inline void set_deny(struct tk_state *s, __u32 reason)
{
	s->verdict = s->cfg.audit ? TANK_VERDICT_AUDIT : TANK_VERDICT_DROP;
	s->reason = reason;
}

static __always_inline void set_allowed(struct tk_state *s)
{
	set_pass(s, s->rule == TANK_RULE_NO_POLICY ? TANK_REASON_NO_POLICY : TANK_REASON_RULE);
}

/* ---- counters ------------------------------------------------------------------------------ */

static __always_inline struct tank_gstat *gstat(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tank_gstat_v1, &zero);
}

/* Add a packet to a per-CPU counter, creating it on first use. */
static __always_inline void count(void *map, void *key, __u32 len)
{
	struct tank_counter *c = bpf_map_lookup_elem(map, key);

	if (!c) {
		struct tank_counter zero = {};

		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(map, key);
		if (!c)
			return;
	}
	c->packets++;
	c->bytes += len;
}

/* ---- flows --------------------------------------------------------------------------------- */

static __always_inline __u64 hz(void)
{
	return CONFIG_HZ ? CONFIG_HZ : TANK_HZ_DEFAULT;
}

static __always_inline __u64 flow_timeout(__u8 proto, __u32 flags)
{
	__u64 s;

	if (proto == IPPROTO_TCP)
		s = flags & TANK_FLOW_CLOSING ? TANK_FLOW_TCP_CLOSING_S : TANK_FLOW_TCP_S;
	else if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP)
		s = TANK_FLOW_UDP_S;
	else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		s = TANK_FLOW_ICMP_S;
	else
		s = TANK_FLOW_OTHER_S;
	return s * hz();
}

/* A flow entry that is still this pod's and not timed out. */
static __always_inline bool flow_live(const struct tank_flow *f, const struct tank_pod_cfg *cfg,
				      __u8 proto, __u64 now)
{
	return f->epoch == cfg->epoch && now - f->last <= flow_timeout(proto, f->flags);
}

static __always_inline void flow_touch(struct tk_state *s, struct tank_flow *f, __u64 now)
{
	if (s->explain)
		return;
	/* Plain adds, not atomic ones (~7 ns less a packet, bench_bpf_rules): the two directions
	 * update different fields, and one direction of a flow runs on one CPU at a time (one
	 * queue per flow hash), so a lost update needs the same flow and direction on two CPUs at
	 * once. These are top-talker figures; the totals (tank_stats_v2) are per-CPU and exact. */
	/* The timeouts need the time of the last packet only to about a second: storing it once a
	 * second leaves the line to the counters of this direction (the other direction of the flow
	 * often runs on another CPU), and a flow may time out up to a second early. */
	if (now - f->last >= hz())
		f->last = now;
	f->count[s->dir & 1].packets++;
	f->count[s->dir & 1].bytes += s->p.len;
	if (s->p.tcp_flags & (TCP_FIN | TCP_RST))
		f->flags |= TANK_FLOW_CLOSING;
}

/* Record an opened flow. false: it could not be recorded. */
static __always_inline bool flow_create(struct tk_state *s, bool existed, __u64 now)
{
	struct tank_flow f = {};
	struct tank_gstat *g;

	if (s->explain)
		return true;
	f.created = now;
	f.last = now;
	f.count[s->dir & 1].packets = 1;
	f.count[s->dir & 1].bytes = s->p.len;
	f.rule = s->rule;
	f.gen = s->cfg.gen;
	f.epoch = s->cfg.epoch;
	f.nic = s->nic;
	f.dir = s->dir;
	f.verdict = s->verdict;
	if (s->p.tcp_flags & (TCP_FIN | TCP_RST))
		f.flags = TANK_FLOW_CLOSING;
	if (bpf_map_update_elem(&tank_flows_v1, &s->fk, &f, BPF_ANY) < 0)
		return false;
	g = gstat();
	if (g) {
		if (existed)
			g->flow_expired++;
		else
			g->flow_new++;
	}
	return true;
}

static __always_inline void flow_delete(struct tk_state *s)
{
	struct tank_gstat *g;

	if (s->explain)
		return;
	if (bpf_map_delete_elem(&tank_flows_v1, &s->fk) == 0) {
		g = gstat();
		if (g)
			g->flow_deleted++;
	}
}

/*
 * A flow key's addresses and ports from a packet's source and destination, oriented as pod/peer:
 * `words` 32-bit words of each address (1: IPv4, whose other words stay as they were, zero; 4:
 * IPv6), read as words. Not a memcpy from a pointer chosen by eg: of such a source clang knows no
 * alignment and copies byte by byte, ~200 instructions for an IPv6 key.
 */
static __always_inline void fk_orient(struct tank_flow_key *k, bool eg, const __u32 *saddr,
				      const __u32 *daddr, const int words, __be16 sport,
				      __be16 dport)
{
	__u32 *pod = (__u32 *)k->pod_addr, *peer = (__u32 *)k->peer_addr;

	for (int i = 0; i < words; i++) {
		__u32 a = saddr[i], b = daddr[i];

		pod[i] = eg ? a : b;
		peer[i] = eg ? b : a;
	}
	k->pod_port = eg ? sport : dport;
	k->peer_port = eg ? dport : sport;
}

/* Orient the packet as pod/peer into s->fk (ports from l4a/l4b). */
static __always_inline void flow_key(struct tk_state *s)
{
	struct tk_pkt *p = &s->p;
	bool eg = s->dir == TANK_DIR_EGRESS;

	s->fk.slot = s->slot;
	s->fk.family = p->family;
	s->fk.proto = p->proto;
	fk_orient(&s->fk, eg, (const __u32 *)p->saddr, (const __u32 *)p->daddr, 4, p->l4a, p->l4b);
	if (p->icmp == IC_ECHO_REQ || p->icmp == IC_ECHO_REP) {
		/* identifier, and the direction the request went */
		s->fk.pod_port = p->l4a;
		s->fk.peer_port = p->icmp == IC_ECHO_REQ ? s->dir : !s->dir;
	} else if (!has_ports(p->proto)) {
		s->fk.pod_port = 0;
		s->fk.peer_port = 0;
	}
}

/* An ICMP error quoting a packet of a live flow passes as related. */
static __always_inline bool related(struct tk_state *s, __u64 now)
{
	struct tank_flow_key k = {};
	struct tk_pkt *p = &s->p;
	struct tank_flow *f;
	/* the quoted packet went the other way: sent by the pod if the error comes to it */
	bool pod_sent = s->dir == TANK_DIR_INGRESS;

	if (p->icmp != IC_ERROR || !p->q_ok)
		return false;
	k.slot = s->slot;
	k.family = p->family;
	k.proto = p->q_proto;
	fk_orient(&k, pod_sent, (const __u32 *)p->q_saddr, (const __u32 *)p->q_daddr, 4, p->q_l4a,
		  p->q_l4b);
	if (p->q_echo) {
		k.pod_port = p->q_l4a;
		k.peer_port = pod_sent ? TANK_DIR_EGRESS : TANK_DIR_INGRESS;
	}
	f = bpf_map_lookup_elem(&tank_flows_v1, &k);
	if (!f || !flow_live(f, &s->cfg, k.proto, now))
		return false;
	s->rule = f->rule;
	return true;
}

/* Later fragments take the ports of their first fragment; first fragments record them. */
static __always_inline void frag_ports(struct tk_state *s, __u64 now)
{
	struct tank_frag_key k = {};
	struct tk_pkt *p = &s->p;
	struct tank_frag *f;

	k.slot = s->slot;
	k.family = p->family;
	k.id = p->frag_id;
	k.proto = p->proto;
	__builtin_memcpy(k.saddr, p->saddr, 16);
	__builtin_memcpy(k.daddr, p->daddr, 16);
	if (p->frag == FR_FIRST) {
		struct tank_frag v = { .seen = now, .sport = p->l4a, .dport = p->l4b };

		if (!s->explain)
			bpf_map_update_elem(&tank_frags_v1, &k, &v, BPF_ANY);
		return;
	}
	f = bpf_map_lookup_elem(&tank_frags_v1, &k);
	if (!f || now - f->seen > TANK_FRAG_S * hz())
		return;
	p->l4a = f->sport;
	p->l4b = f->dport;
	p->has_l4 = 1;
	if (p->proto == IPPROTO_ICMP)
		p->icmp = f->dport == 8 ? IC_ECHO_REQ : f->dport == 0 ? IC_ECHO_REP : IC_OTHER;
	else if (p->proto == IPPROTO_ICMPV6)
		p->icmp = f->dport == 128 ? IC_ECHO_REQ : f->dport == 129 ? IC_ECHO_REP : IC_OTHER;
}

/* ---- each CPU's flow cache (tank_abi.h: tank_fcache_v2) and the fast path ---------------------- */

/* Keys of 8-byte multiples, 8-byte aligned: compared and hashed a word at a time. */
static __always_inline bool words_equal(const void *a, const void *b, const int n)
{
	const __u64 *x = a, *y = b;
	__u64 diff = 0;

	for (int i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/*
 * An index of a table of `size` (a power of two), for a packet: the words folded with XOR, then
 * multiplied (one multiply: the fold's XORs run in parallel). Good for flow keys, whose words
 * differ in addresses and ports; a fold of keys that differ in a few small fields (stat keys)
 * lands on a few values: words_mix is for those.
 */
static __always_inline __u32 words_index(const void *a, const int n, __u64 seed, __u32 size)
{
	const __u64 *x = a;

	for (int i = 0; i < n; i++)
		seed ^= x[i];
	return (__u32)((seed * 0x9e3779b97f4a7c15ull) >> 40) & (size - 1);
}

/* The same with each word mixed in by a multiply and a shift (a chain of them: not for every
 * packet). A fold put a pod's stat keys for ICMP replies out and TCP in without a policy in one
 * cell. */
static __always_inline __u32 words_mix(const void *a, const int n, __u64 seed, __u32 size)
{
	const __u64 *x = a;

	for (int i = 0; i < n; i++) {
		seed = (seed ^ x[i]) * 0x9e3779b97f4a7c15ull;
		seed ^= seed >> 29;
	}
	return (__u32)(seed >> 40) & (size - 1);
}

#define FK_WORDS (sizeof(struct tank_flow_key) / 8)
#define SK_WORDS (sizeof(struct tank_stat_key) / 8)

static __always_inline bool fk_equal(const struct tank_flow_key *a, const struct tank_flow_key *b)
{
	return words_equal(a, b, FK_WORDS);
}

/* This CPU's flow cache entry for flow key k in pod direction dir. */
static __always_inline struct tank_fcache *fcache_entry(const struct tank_flow_key *k, __u32 dir)
{
	__u32 i = bpf_get_smp_processor_id() * TANK_FCACHE_SIZE +
		  words_index(k, FK_WORDS, dir, TANK_FCACHE_SIZE);

	return bpf_map_lookup_elem(&tank_fcache_v2, &i);
}

/* The tank_stats_v2 key of the packet's verdict. */
static __always_inline void stat_key(const struct tk_state *s, struct tank_stat_key *sk)
{
	sk->slot = s->slot;
	sk->nic = s->nic;
	sk->dir = s->dir;
	sk->family = s->p.family;
	sk->proto = s->p.pclass;
	sk->verdict = s->verdict;
	sk->reason = s->reason;
	/* a rule hit: counted with the packet, no second map update */
	sk->rule = s->reason == TANK_REASON_RULE ? s->rule : 0;
}

#define SCELL_WAYS 2 /* cells a stat key may take: its index and the next ones */

/*
 * This CPU's cell for the packet's stat key: the one it holds among its SCELL_WAYS places, else
 * the first of them that is free or whose slot's epoch has moved on, taken. Its index + 1, or 0
 * when live cells of other keys fill them all (the packets then go to tank_stats_v2).
 */
static __always_inline __u32 scell_take(struct tk_state *s)
{
	struct tank_stat_key sk __attribute__((aligned(8)));
	struct tank_scell *c, *take = NULL;
	__u32 base = bpf_get_smp_processor_id() * TANK_SCELL_SIZE, h, i, at = 0;

	stat_key(s, &sk);
	h = words_mix(&sk, SK_WORDS, 0, TANK_SCELL_SIZE);
	for (int w = 0; w < SCELL_WAYS; w++) {
		i = base + ((h + w) & (TANK_SCELL_SIZE - 1));
		c = bpf_map_lookup_elem(&tank_scell_v2, &i);
		if (!c)
			return 0;
		if (words_equal(&c->key, &sk, SK_WORDS) && c->epoch == s->cfg.epoch)
			return i + 1;
		if (!take) {
			struct tank_pod_cfg *owner = c->key.slot ?
				bpf_map_lookup_elem(&tank_cfg_v1, &c->key.slot) : NULL;

			if (!owner || owner->epoch != c->epoch) {
				take = c;
				at = i;
			}
		}
	}
	if (!take)
		return 0;
	/* the count first: a reader (user space copies the cell while this CPU writes it) that
	 * sees the new key sees the new count, never the old owner's */
	take->count.packets = 0;
	take->count.bytes = 0;
	asm volatile("" ::: "memory");
	take->key = sk;
	take->epoch = s->cfg.epoch;
	return at + 1;
}

/* What an entry counted goes to its flow f (NULL: nowhere), and the entry starts over. */
static __always_inline void fcache_give(struct tank_fcache *e, struct tank_flow *f)
{
	if (f) {
		f->count[e->dir & 1].packets += e->pending.packets;
		f->count[e->dir & 1].bytes += e->pending.bytes;
	}
	e->pending.packets = 0;
	e->pending.bytes = 0;
}

/* The same for an entry of another flow than the packet's: its flow looked up. */
static __always_inline void fcache_flush(struct tank_fcache *e)
{
	struct tank_flow *f = bpf_map_lookup_elem(&tank_flows_v1, &e->key);

	fcache_give(e, f && f->epoch == e->epoch ? f : NULL);
}

/*
 * After flow f decided the packet (flow_hit): cache the decision if it may be (a pass of a flow
 * whose verdict is PASS, not closing, no SYN/FIN/RST), else take the packet's flow out of the
 * cache. Either way what the entry counted for this flow goes to f.
 */
static __always_inline void fcache_fill(struct tk_state *s, struct tank_fcache *e,
					struct tank_flow *f, __u64 now)
{
	bool same = fk_equal(&e->key, &s->fk) && e->dir == s->dir && e->epoch == f->epoch;
	bool cacheable = s->verdict == TANK_VERDICT_PASS && f->verdict == TANK_VERDICT_PASS &&
			 !(f->flags & TANK_FLOW_CLOSING) &&
			 !(s->p.tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST));

	if (same) {
		fcache_give(e, f); /* same: e->dir is the packet's */
		if (!cacheable) {
			e->key.slot = 0;
			return;
		}
	} else {
		if (!cacheable)
			return;
		if (e->key.slot && e->pending.packets)
			fcache_flush(e);
		asm volatile("" ::: "memory"); /* as in scell_take: what was pending first */
		e->key = s->fk;
		e->dir = s->dir;
	}
	e->nic = s->nic;
	e->cell = scell_take(s);
	e->expires = now + hz();
	e->gen = s->cfg.gen;
	e->epoch = s->cfg.epoch;
	e->reason = s->reason;
	e->rule = s->rule;
}

#if TANK_L2_LEN
/*
 * The fast path (tc): a packet of an established TCP or UDP flow of IPv4 or IPv6 whose pass this
 * CPU's flow cache holds (fcache_fill) is counted in the entry and in its cell, and passes;
 * nothing else is looked at. Its flow key is built straight from the headers, the one flow_key()
 * makes of the whole parse for such a packet. false: anything else (not such a packet, headers
 * not linear, no valid entry or no cell), which takes the whole datapath (tank_process).
 * Kept apart and small: under load the program's code and data are mostly out of the CPU's
 * caches when a packet comes (the stack ran in between), so its time is the cache lines it
 * touches: the packet's headers, tank_ifh_v1 (tank_host_*), tank_cfg_v1, one flow cache entry
 * (two lines) and one cell. key: where the flow key is built (the caller's stack, shared with
 * the whole datapath's state).
 */
static __always_inline bool tank_fast(struct __sk_buff *skb, struct tank_flow_key *key, __u32 slot,
				      __u32 nic, __u32 dir)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	bool eg = dir == TANK_DIR_EGRESS;
	struct tank_pod_cfg *cfg;
	struct tank_fcache *e;
	struct tank_scell *c;
	__u8 *l4;
	__u32 i;

	if ((void *)(eth + 1) > end)
		return false;
	/* zeroed a word at a time: key is 8-byte aligned, as words_equal needs anyway */
	for (int w = 0; w < (int)FK_WORDS; w++)
		((__u64 *)key)[w] = 0;
	key->slot = slot;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		/* not a fragment, a valid header */
		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5 ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return false;
		key->family = TANK_FAM_IPV4;
		key->proto = ip->protocol;
		l4 = (__u8 *)ip + ip->ihl * 4;
		if ((void *)(l4 + 4) > end)
			return false;
		fk_orient(key, eg, &ip->saddr, &ip->daddr, 1, *(__be16 *)l4, *(__be16 *)(l4 + 2));
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		l4 = (__u8 *)(ip6 + 1);
		if ((void *)(l4 + 4) > end || ip6->version != 6)
			return false;
		key->family = TANK_FAM_IPV6;
		key->proto = ip6->nexthdr; /* an extension header is none of the two below */
		fk_orient(key, eg, ip6->saddr.in6_u.u6_addr32, ip6->daddr.in6_u.u6_addr32, 4,
			  *(__be16 *)l4, *(__be16 *)(l4 + 2));
	} else {
		return false;
	}
	if (key->proto == IPPROTO_TCP) {
		if ((void *)(l4 + 14) > end || (l4[13] & (TCP_SYN | TCP_FIN | TCP_RST)))
			return false;
	} else if (key->proto != IPPROTO_UDP) {
		return false;
	}

	cfg = bpf_map_lookup_elem(&tank_cfg_v1, &slot);
	e = fcache_entry(key, dir);
	if (!cfg || !e)
		return false;
	/* what a hit compares is in the entry's first cache line; then the second */
	if (!fk_equal(&e->key, key) || e->gen != cfg->gen || e->epoch != cfg->epoch ||
	    (__s64)(e->expires - bpf_jiffies64()) <= 0 || e->dir != dir || e->nic != nic ||
	    !e->cell)
		return false;
	i = e->cell - 1;
	c = bpf_map_lookup_elem(&tank_scell_v2, &i);
	if (!c)
		return false;
	e->pending.packets++;
	e->pending.bytes += skb->len;
	c->count.packets++;
	c->count.bytes += skb->len;
	return true;
}
#endif

/* ---- verdict ------------------------------------------------------------------------------- */

/*
 * A live flow of a tracked packet (not a fragment, not an ICMP error or ND message): decide from
 * what the flow remembers if that is enough, i.e. a reply, or the opening direction under the
 * policy generation that cached its verdict. false: the policy must be asked again.
 */
static __always_inline bool flow_hit(struct tk_state *s, struct tank_flow *f, __u64 now)
{
	if (f->dir != s->dir) {
		s->rule = f->rule;
		set_pass(s, TANK_REASON_REPLY);
		flow_touch(s, f, now);
		return true;
	}
	if (f->gen != s->cfg.gen)
		return false;
	if (s->p.tcp_flags & TCP_SYN && !(s->p.tcp_flags & TCP_ACK))
		f->flags &= ~TANK_FLOW_CLOSING;
	s->rule = f->rule;
	if (f->verdict == TANK_VERDICT_PASS)
		set_allowed(s);
	else
		set_deny(s, TANK_REASON_POLICY);
	if (s->verdict == TANK_VERDICT_DROP)
		flow_delete(s); /* its replies stop too */
	else
		flow_touch(s, f, now);
	return true;
}

/*
 * Everything but an established flow's packet (tank_process handles those inline): global, so
 * the verifier goes through it once on its own and forgets what it knew about *s after the
 * call, which keeps the number of states it explores small. no_flow: the caller looked the
 * flow up already and there was no entry. Sets s->verdict, s->reason, s->rule.
 */
__noinline int tank_decide(struct tk_state *s, __u64 now, int no_flow)
{
	struct tk_pkt *p;
	struct tank_flow *f = NULL;
	bool existed = false, track;

	if (!s)
		return 0;
	p = &s->p;

	if (p->frag != FR_NONE)
		frag_ports(s, now);
	flow_key(s);

	if (p->icmp == IC_ND) {
		set_pass(s, TANK_REASON_ND);
		return 0;
	}
	if (!p->has_l4) {
		/* a later fragment whose first fragment we did not see */
		if (policy_allows(s, true))
			set_allowed(s);
		else
			set_deny(s, TANK_REASON_FRAGMENT);
		return 0;
	}
	if (related(s, now)) {
		set_pass(s, TANK_REASON_RELATED);
		return 0;
	}

	/* echo requests open ICMP flows, echo replies only answer them */
	track = p->icmp == IC_NONE || p->icmp == IC_ECHO_REQ || p->icmp == IC_ECHO_REP;
	if (track && !no_flow) {
		f = bpf_map_lookup_elem(&tank_flows_v1, &s->fk);
		if (f && !flow_live(f, &s->cfg, p->proto, now)) {
			f = NULL;
			existed = true;
		}
	}
	if (f && flow_hit(s, f, now))
		return 0;
	if (f) {
		/* the opening direction under an older policy: the verdict is computed again */
		if (p->tcp_flags & TCP_SYN && !(p->tcp_flags & TCP_ACK))
			f->flags &= ~TANK_FLOW_CLOSING;
		if (policy_allows(s, false)) {
			set_allowed(s);
			if (!s->explain) {
				f->rule = s->rule;
				f->verdict = TANK_VERDICT_PASS;
				f->gen = s->cfg.gen;
			}
		} else {
			set_deny(s, TANK_REASON_POLICY);
			if (!s->explain) {
				f->rule = TANK_RULE_NONE;
				f->verdict = TANK_VERDICT_AUDIT;
				f->gen = s->cfg.gen;
			}
		}
		if (s->verdict == TANK_VERDICT_DROP)
			flow_delete(s); /* its replies stop too */
		else
			flow_touch(s, f, now);
		return 0;
	}

	if (policy_allows(s, false))
		set_allowed(s);
	else
		set_deny(s, TANK_REASON_POLICY);
	if (!track || p->icmp == IC_ECHO_REP || s->verdict == TANK_VERDICT_DROP)
		return 0;
	/* opened (or let through by audit): record it so that replies pass */
	if (!flow_create(s, existed, now)) {
		/* replies would be dropped: say why now, unless nothing would check them */
		if (s->rule != TANK_RULE_NO_POLICY || policy_restricts(s, !s->dir))
			set_deny(s, TANK_REASON_FLOW_FULL);
	}
	return 0;
}

/* ---- drop events ---------------------------------------------------------------------------- */

static __always_inline void drop_event(struct tk_state *s, __u64 now)
{
	struct tank_pod_cfg *cfg = &s->cfg;
	struct tank_gstat *g = gstat();
	struct tank_evrl *rl;
	struct tank_event *e;
	__u64 rate, cap, tokens, elapsed;

	rl = bpf_map_lookup_elem(&tank_evrl_v1, &s->slot);
	if (!rl || !g)
		return;
	if (cfg->ev_sample > 1 && bpf_get_prandom_u32() % cfg->ev_sample != 0)
		goto suppress;
	rate = cfg->ev_rate ? cfg->ev_rate : TANK_EV_RATE_DEFAULT;
	cap = (cfg->ev_burst ? cfg->ev_burst : TANK_EV_BURST_DEFAULT) * 1000ull;
	elapsed = now - rl->last;
	tokens = rl->tokens;
	if (elapsed >= 100 * hz())
		tokens = cap;
	else
		tokens += elapsed * rate * 1000 / hz(); /* milli-tokens per jiffy */
	if (tokens > cap)
		tokens = cap;
	rl->last = now;
	if (tokens < 1000) {
		rl->tokens = tokens;
		goto suppress;
	}
	rl->tokens = tokens - 1000;

	e = bpf_ringbuf_reserve(&tank_events_v1, sizeof(*e), 0);
	if (!e) {
		g->ev_lost++;
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->slot = s->slot;
	e->nic = s->nic;
	e->dir = s->dir;
	e->verdict = s->verdict;
	e->reason = s->reason;
	e->family = s->p.family;
	e->len = s->p.len;
	/* lock-free: a concurrent suppression may be reported one event late or not at all */
	e->suppressed = rl->suppressed;
	rl->suppressed = 0;
	e->proto = s->p.proto;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->sport = s->p.icmp ? 0 : s->p.l4a;
	e->dport = s->p.icmp ? 0 : s->p.l4b;
	__builtin_memcpy(e->saddr, s->p.saddr, 16);
	__builtin_memcpy(e->daddr, s->p.daddr, 16);
	bpf_ringbuf_submit(e, 0);
	g->ev_sent++;
	return;
suppress:
	rl->suppressed++;
	g->ev_suppressed++;
}

/* ---- a packet --------------------------------------------------------------------------------- */

/*
 * The whole datapath for one packet of s->slot seen in pod direction s->dir on NIC s->nic (the
 * caller found them): verdict, counters, drop event. Returns the verdict; with s->explain the
 * answer goes to skb->cb and nothing is recorded.
 */
static __always_inline __u32 tank_process(struct __sk_buff *skb, struct tk_state *s)
{
	struct tank_pod_cfg *cfg;
	__u64 now;
	int r;

	cfg = bpf_map_lookup_elem(&tank_cfg_v1, &s->slot);
	if (!cfg)
		return TANK_VERDICT_PASS;
	s->cfg = *cfg;
	s->p.len = skb->len;
	now = bpf_jiffies64();

	r = tank_parse(skb, &s->p);
	if (r == P_NON_IP) {
		set_pass(s, TANK_REASON_NON_IP);
	} else if (r == P_BAD) {
		if (policy_restricts(s, s->dir))
			set_deny(s, TANK_REASON_PARSE);
		else
			set_pass(s, TANK_REASON_NO_POLICY);
	} else if (s->p.frag == FR_NONE && (s->p.icmp == IC_NONE || s->p.icmp == IC_ECHO_REQ ||
					     s->p.icmp == IC_ECHO_REP)) {
		/* a packet of an established flow is decided here, without a call, from the flow
		 * table; then kept in this CPU's flow cache for the fast path if it may be */
		struct tank_fcache *e;
		struct tank_flow *f;

		flow_key(s);
		f = bpf_map_lookup_elem(&tank_flows_v1, &s->fk);
		if (!f || !flow_live(f, &s->cfg, s->p.proto, now) || !flow_hit(s, f, now)) {
			tank_decide(s, now, !f);
		} else if (!s->explain && TANK_L2_LEN != 0 && s->verdict != TANK_VERDICT_DROP) {
			/* tc only (a drop deleted f): its programs never nest on a CPU (egress runs
			 * with softirqs off, ingress in one), so a CPU's entry is never seen half
			 * written by itself. A cgroup_skb egress program runs with softirqs on, so its
			 * ingress program could interrupt it. */
			e = fcache_entry(&s->fk, s->dir);
			if (e)
				fcache_fill(s, e, f, now);
		}
	} else {
		tank_decide(s, now, 0);
	}

	if (s->explain) {
		skb->cb[0] = s->verdict;
		skb->cb[1] = s->reason;
		skb->cb[2] = s->rule;
		skb->cb[3] = TANK_EXPLAIN_DONE;
		skb->cb[4] = (__u32)now;
	} else {
		struct tank_stat_key sk;

		stat_key(s, &sk);
		count(&tank_stats_v2, &sk, s->p.len);
		if (s->verdict != TANK_VERDICT_PASS)
			drop_event(s, now);
	}
	return s->verdict;
}

#endif
