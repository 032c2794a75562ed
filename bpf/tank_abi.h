/* tank_abi.h - the BPF ABI shared by bpf/ programs and netplane/: map names, keys, values. */
#ifndef TANK_ABI_H
#define TANK_ABI_H

/*
 * Included from BPF programs (after vmlinux.h) and from user space (after <linux/types.h>), so
 * only __u8..__u64, __be16 and plain C here. Every map key and value is a named type and reaches
 * BTF, with enums for directions, families, protocols, verdicts and reasons, so
 * `bpftool map dump` prints field and enum names.
 *
 * Map names carry a layout version (tank_*_vN, at most 15 characters). A layout change gets a
 * new name; netplane migrates entries from the old pinned map instead of zeroing counters, then
 * removes the old pin (see "Migration" below).
 *
 * ---- Datapath design (DESIGN.md §4 policy, §6) ---------------------------------------------
 *
 * One object per attach type, each shared by all pods: tank_tc.bpf.c (tc/tcx on an interface)
 * and tank_cg.bpf.c (cgroup_skb on a pod's v2 cgroup). Both are built from the same code
 * (tank_dp.h) and use one set of maps (netplane loads the tc object, then hands its maps to the
 * cgroup object), so every kind of NIC has the same counters, policy, flows and events.
 * A packet finds its pod by a map lookup, never by per-pod compilation:
 *   tc         tank_ifs_v3 {netns cookie, ifindex} -> slot, NIC index, and the pod direction the
 *              interface's ingress hook sees (tank_if_info.ingress_dir; egress sees the other):
 *                host-side veth / netkit peer (tankd's netns): ingress = pod EGRESS;
 *                macvlan inside the pod netns (attached from a thread that entered it): ingress
 *                = pod INGRESS.
 *              An ifindex is only unique in its netns (every pod's first NIC is ifindex 2 in a
 *              fresh netns), hence the cookie: the device's own netns (skb->dev->nd_net, read
 *              through bpf_cast_to_kern_ctx). bpf_get_netns_cookie(skb) does not do: for tc it
 *              gives the netns of skb->sk, the sender's socket, which a packet keeps when it
 *              crosses into another netns over veth or macvlan (or init_net's without a socket).
 *              User space reads a netns cookie with SO_NETNS_COOKIE on a socket inside it.
 *   cgroup_skb tank_cgs_v1 {cgroup id} -> slot ("host" network pods: ingress/egress programs on
 *              the pod's v2 cgroup). The id is the socket's v2 cgroup (bpf_skb_cgroup_id; in user
 *              space the cgroup directory's file handle from name_to_handle_at, equal to its
 *              st_ino on 64-bit), else that of its ancestor at a level where a pod's cgroup is
 *              (tank_cg_info.level; container cgroups below the pod's). Only packets of sockets
 *              created inside the cgroup are seen; they start at the IP header, so bytes are
 *              counted from there (tc counts the Ethernet header too).
 * The tc object has two pairs of programs: tank_host_in/eg for interfaces of tankd's own netns
 * (host-side veth, netkit peer), which first try tank_ifh_v1, an array by ifindex holding the
 * same facts (see there), and tank_pod_in/eg for interfaces inside a pod's netns (macvlan),
 * which look tank_ifs_v3 up under their device's netns cookie.
 * Per packet:
 *
 *   parse (Ethernet, IPv4/IPv6 with extension headers, TCP/UDP/SCTP ports, ICMP type/id,
 *          fragments) -> flow lookup -> policy (on a miss, or when the cached verdict is from an
 *          older policy generation) -> verdict -> counters -> drop event (sampled, rate-limited)
 *
 * Before all that, the tc programs try the fast path: a TCP (no SYN, FIN or RST) or UDP packet
 * of IPv4 or IPv6 whose flow this CPU's flow cache (tank_fcache_v2) decided less than a second
 * ago passes, counted in the entry and in its tank_scell_v2 cell, and nothing else is done.
 *
 * Always allowed, before any policy: non-IP frames (ARP ...; counted as family "other") and
 * ICMPv6 neighbour discovery and MLD (types 130-137, 143), without which a pod breaks.
 *
 * Policy (tank_pol_v1): BPF_MAP_TYPE_ARRAY_OF_MAPS keyed by slot; each entry is that pod's own
 * LPM trie (named tank_pol_<slot>) holding three kinds of keys (struct tank_pol_key):
 *   PEER  {dir, family, peer address/prefix} -> {set, rule}: the rules that apply to peers that
 *         longest-match this prefix. Compiled with "push-down": every prefix carries the rules
 *         of all shorter prefixes covering it, minus rules whose `except` covers it, so the
 *         single longest match decides (an `except` prefix no other rule covers is an entry with
 *         set TANK_SET_NONE). set TANK_SET_ALL: `rule` allows every protocol and port (a rule
 *         without ports, or a direction without policy: rule TANK_RULE_NO_POLICY on 0/0, ::/0).
 *         set TANK_SET_INLINE: the rules' protocol/port ranges are in the value itself (at most
 *         TANK_POL_INLINE, scanned in order: the lowest rule first), no second lookup. Larger
 *         sets are looked up as PORT entries.
 *   PORT  {set, IP protocol, destination port/prefix} -> {set, rule}: the union of the
 *         protocol/port ranges of the rules in the set, each range split into port prefixes
 *         (Cilium's policy-map layout); a protocol-wide rule is a prefix without port bits.
 *         The port matched is the destination port of the packet that opens the connection.
 *   META  {dir} -> {rule}: TANK_RULE_NO_POLICY when the direction has no policy, else 0. Used
 *         only where no peer lookup is possible (malformed packets).
 * A policy update builds a whole new trie, then replaces the slot's entry in tank_pol_v1 with one
 * map update: that is the atomic swap (a packet sees the old or the new trie, never a mix, never
 * an empty one). No entry for a slot = no policy at all (everything allowed).
 *
 * Host prefixes (/32, /128) of a large policy (TANK_POLX_MIN of them or more) are not in the trie,
 * whose lookup time grows with its depth (with 10,000 /32s: ~80 ns more than with 10), but in an
 * exact-match hash (tank_pol_val values as in the trie, key struct tank_polx_key) held in
 * tank_polx_v1 at index slot * 2 + p, p alternating with the policy generation, so the hash of
 * the next policy never overwrites the one the installed trie names. The trie names it in every
 * PEER entry of a direction and family that has host prefixes (tank_pol_val.n_ranges bits 16-31:
 * p + 1; the trie then also has a 0/0 (::/0) entry, set TANK_SET_NONE where no rule covers it, so
 * some entry always matches). A lookup that finds such an entry looks the peer up in that hash:
 * a hit is the longest match (nothing is longer than a host prefix), else the trie's entry
 * stands. The hash is written before the trie that names it is swapped in, so a packet sees one
 * policy whole: the swap stays one map update.
 *
 * Per-slot configuration (tank_cfg_v1, written by user space only): audit flag (switchable at
 * runtime), policy generation (bumped after each swap: verdicts cached in flows of older
 * generations are recomputed on their next packet), owner epoch (bumped when the slot gets a new
 * pod: flows of older epochs are stale and ignored, so nothing is deleted on slot reuse), event
 * sampling and rate.
 *
 * Flows (tank_flows_v1, one LRU hash for all pods): key {slot, family, proto, pod port, peer
 * port, pod address, peer address}, the same for both directions of a connection. A packet in
 * the opening direction uses the verdict cached in the flow while its generation is current,
 * else it is evaluated again (so a policy change applies to established connections at their
 * next packet; a now-denied flow is deleted). A packet in the other direction is a reply and
 * passes. ICMP echo: the identifier is the pod port and the direction of the request the peer
 * port, so only replies to an allowed request pass. ICMP errors (unreachable, packet too big,
 * time exceeded, parameter problem) whose quoted packet belongs to a flow pass as "related".
 * Tracked: TCP, UDP, SCTP, ICMP echo, other IP protocols (ports 0). Timeouts per protocol (below);
 * TCP after FIN or RST uses the closing timeout. Times in the datapath are jiffies
 * (bpf_jiffies64, free, unlike a clock read) with HZ from the kernel config (CONFIG_HZ through
 * libbpf; 250 when the config is not readable). Evictions are counted by arithmetic: flows
 * created - flows deleted - entries present (np_bpf_global_stats()).
 *
 * Fragments: the first fragment is evaluated like any packet and its ports are remembered in
 * tank_frags_v1 under {slot, family, proto, IP id, addresses}; later fragments take those ports
 * and get the same treatment. A non-first fragment whose first fragment was not seen has no
 * ports: it passes only if a rule allows the peer for the whole protocol (or there is no policy),
 * else it is dropped with reason FRAGMENT (counted, not dropped, in audit mode).
 *
 * Accounting (all per-CPU, summed by readers; a packet is an skb: a GSO packet counts once, with
 * all its bytes, Ethernet header included):
 *   tank_stats_v2  {slot, nic, dir, family, proto, verdict, reason, rule} -> {packets, bytes}:
 *                  every packet once, so totals, per-protocol and family splits, drops by reason,
 *                  audit would-be drops and per-rule hits (entries with reason RULE: packets of
 *                  the opening direction a rule allowed; replies are not rule hits) are all sums
 *                  over it -- and over tank_scell_v2, the same keys in per-CPU cells where the
 *                  packets decided by the flow cache are counted (below).
 *   tank_gstat_v1  global: flows created/deleted/expired, events sent/lost/suppressed.
 * Drop events (tank_events_v1 ring buffer): drops and audit would-be drops, 1 in `ev_sample`,
 * then a per-slot token bucket (tank_evrl_v1; lock-free, so a few events over the limit are
 * possible under concurrency); the next event of a slot carries how many were suppressed before
 * it; a full ring buffer counts ev_lost.
 *
 * Explain (np_bpf_verdict_test): BPF_PROG_RUN of the real program on a built packet, on the
 * loopback ifindex with skb->mark = TANK_EXPLAIN_MAGIC | dir << 12 | slot. In that mode the
 * program takes slot and direction from the mark, computes the verdict exactly as for traffic
 * (and returns it), but changes nothing: no counters, flows, rule hits or events. The answer
 * goes to skb->cb[0..4] (verdict, reason, rule, TANK_EXPLAIN_DONE, low 32 bits of jiffies),
 * returned by BPF_PROG_RUN.
 * A real packet cannot use this to pick another pod's policy: tank programs are never attached
 * to loopback by tankd, and marks are cleared when a packet crosses network namespaces.
 *
 * Migration: when np_bpf_open finds pinned maps of an older layout (tank_stats_v1,
 * tank_ifs_v1, tank_ifs_v2), it copies interface entries into tank_ifs_v3 (their ifindexes are
 * of tankd's netns: keyed with its cookie; entries already in v3 win, so a copy repeated after a
 * crash changes nothing), moves every pinned attachment to the new programs (bpf_link_update for
 * tcx and cgroup links, filter replace for clsact), then writes the v1 totals into tank_stats_v2
 * under reason TANK_REASON_MIGRATED (nic 0, family and protocol "other"; set, not added, so a
 * repeated migration after a crash counts them once) and removes the old pins last.
 *
 * Tombstones: when a pod is unregistered its final totals (summed over NICs) are written to
 * tank_tomb_v1 (LRU hash by pod uid, never touched by BPF) with the deletion time; netplane
 * drops entries older than a configurable TTL whenever it reads or writes them.
 */

#define TANK_MAX_PODS 4096      /* pod slots; slot 0 is never used (means "unknown") */
#define TANK_MAX_IFS 8192       /* interfaces carrying Tank programs */
#define TANK_MAX_CGS TANK_MAX_PODS /* cgroups carrying Tank programs (one per "host" pod) */
#define TANK_CG_LEVELS 64       /* a pod's cgroup is at most this deep (bits of a __u64) */
#define TANK_NICS_MAX 8         /* NICs of one pod (index in tank_if_info.nic) */
#define TANK_POD_NAME_MAX 64    /* DNS label (63) + NUL */
#define TANK_POD_UID_MAX 40
#define TANK_NIC_NAME_MAX 16    /* IFNAMSIZ */

#define TANK_STATS_MAX (1u << 18)  /* tank_stats_v2 entries (allocated on use) */
#define TANK_FLOWS_MAX (1u << 16)  /* tank_flows_v1 (LRU) */
#define TANK_FRAGS_MAX 4096        /* tank_frags_v1 (LRU) */
#define TANK_TOMBS_MAX 4096        /* tank_tomb_v1 (LRU) */
#define TANK_EVENTS_BYTES (256u * 1024) /* tank_events_v1 ring buffer */
#define TANK_POL_ENTRIES_MAX (1u << 20) /* entries of one pod's policy trie */

/* Flow timeouts, seconds since the last packet. */
#define TANK_FLOW_TCP_S 7200
#define TANK_FLOW_TCP_CLOSING_S 10
#define TANK_FLOW_UDP_S 60
#define TANK_FLOW_ICMP_S 30
#define TANK_FLOW_OTHER_S 60
#define TANK_FRAG_S 5
#define TANK_HZ_DEFAULT 250 /* when CONFIG_HZ cannot be read */

/* Drop events: defaults for tank_pod_cfg fields left 0. */
#define TANK_EV_RATE_DEFAULT 100  /* events per second per pod */
#define TANK_EV_BURST_DEFAULT 200

#define TANK_MAP_STATS "tank_stats_v2"
#define TANK_MAP_PODS "tank_pods_v1"
#define TANK_MAP_IFS "tank_ifs_v3"
#define TANK_MAP_IFH "tank_ifh_v1"
#define TANK_MAP_CGS "tank_cgs_v1"
#define TANK_MAP_POL "tank_pol_v1"
#define TANK_MAP_POLX "tank_polx_v1"
#define TANK_MAP_CFG "tank_cfg_v1"
#define TANK_MAP_FLOWS "tank_flows_v1"
#define TANK_MAP_FCACHE "tank_fcache_v2"
#define TANK_MAP_SCELL "tank_scell_v2"
#define TANK_MAP_FRAGS "tank_frags_v1"
#define TANK_MAP_GSTAT "tank_gstat_v1"
#define TANK_MAP_EVENTS "tank_events_v1"
#define TANK_MAP_EVRL "tank_evrl_v1"
#define TANK_MAP_TOMB "tank_tomb_v1"
/* older layouts, migrated and unpinned by np_bpf_open */
#define TANK_MAP_STATS_V1 "tank_stats_v1"
#define TANK_MAP_IFS_V1 "tank_ifs_v1"
#define TANK_MAP_IFS_V2 "tank_ifs_v2" /* key __u32 ifindex, value struct tank_if_info */
#define TANK_MAP_FCACHE_V1 "tank_fcache_v1" /* per-CPU array of struct tank_fcache_v1 */
#define TANK_MAP_SCELL_V1 "tank_scell_v1"   /* per-CPU array of struct tank_scell_v1 */

/* Direction as seen from the pod. */
enum tank_dir {
	TANK_DIR_INGRESS = 0, /* towards the pod */
	TANK_DIR_EGRESS = 1,  /* sent by the pod */
	TANK_DIR_MAX = 2,
};

enum tank_family {
	TANK_FAM_OTHER = 0, /* not IP (ARP ...) */
	TANK_FAM_IPV4 = 1,
	TANK_FAM_IPV6 = 2,
	TANK_FAM_MAX = 3,
};

/* Protocol class for counters (the policy and flows use the IP protocol number). */
enum tank_proto {
	TANK_PROTO_OTHER = 0,
	TANK_PROTO_TCP = 1,
	TANK_PROTO_UDP = 2,
	TANK_PROTO_ICMP = 3, /* ICMP and ICMPv6 */
	TANK_PROTO_MAX = 4,
};

enum tank_verdict {
	TANK_VERDICT_PASS = 0,
	TANK_VERDICT_DROP = 1,
	TANK_VERDICT_AUDIT = 2, /* the policy denies it; passed because the pod is in audit mode */
	TANK_VERDICT_MAX = 3,
};

/* Why a packet passed (first group) or was (or would have been) dropped (second group). */
enum tank_reason {
	TANK_REASON_RULE = 0,      /* allowed by a rule (the stats key says which) */
	TANK_REASON_NO_POLICY = 1, /* the direction has no policy */
	TANK_REASON_REPLY = 2,     /* reply of an allowed flow */
	TANK_REASON_RELATED = 3,   /* ICMP error about an allowed flow */
	TANK_REASON_ND = 4,        /* ICMPv6 neighbour discovery / MLD: always allowed */
	TANK_REASON_NON_IP = 5,    /* not IP (ARP ...): always allowed */
	TANK_REASON_MIGRATED = 6,  /* totals carried over from tank_stats_v1 (no split known) */
	TANK_REASON_POLICY = 7,    /* drop: no rule allows it */
	TANK_REASON_PARSE = 8,     /* drop: malformed or truncated headers */
	TANK_REASON_FRAGMENT = 9,  /* drop: non-first fragment without ports, no port-less rule */
	TANK_REASON_FLOW_FULL = 10, /* drop: allowed, but the flow could not be recorded */
	TANK_REASON_MAX = 11,
};

#define TANK_REASON_IS_DROP(r) ((r) >= TANK_REASON_POLICY)

/* Rule ids: 1..n, the position of the rule in its direction's list (+1). */
#define TANK_RULE_NONE 0u
#define TANK_RULE_NO_POLICY 0xffffffffu

struct tank_counter {
	__u64 packets;
	__u64 bytes;
};

/* v1 totals of a slot (tank_stats_v1 layout; np_bpf_pod_stats() still returns it). */
struct tank_pod_stats {
	struct tank_counter ingress;
	struct tank_counter egress;
};

/* tank_pods_v1: BPF_MAP_TYPE_ARRAY, key __u32 pod slot -> who the slot belongs to. */
struct tank_pod_info {
	char name[TANK_POD_NAME_MAX];
	char uid[TANK_POD_UID_MAX];
};

/* tank_ifs_v3 key: an interface, by the netns it lives in and its ifindex there. */
struct tank_if_key {
	__u64 netns; /* net_cookie of the interface's netns (SO_NETNS_COOKIE) */
	__u32 ifindex;
	__u32 pad;   /* 0 */
};
_Static_assert(sizeof(struct tank_if_key) == 16, "tank_if_key layout");

/*
 * tank_ifs_v3: BPF_MAP_TYPE_HASH, struct tank_if_key -> pod slot, the pod direction that the tc
 * ingress hook of this interface sees, and which NIC of the pod it is. (tank_ifs_v2 had the same
 * value under a __u32 ifindex of tankd's netns; the field was named host_ingress_dir.)
 */
struct tank_if_info {
	__u32 slot;
	/* 4 bytes like __u32 (an int-sized enum on both sides); typed so bpftool prints the name.
	 * Host-side veth: the host's ingress is the pod's EGRESS; a NIC inside the pod: INGRESS. */
	enum tank_dir ingress_dir;
	__u32 nic;                    /* 0..TANK_NICS_MAX-1: index of the NIC in the pod */
	char name[TANK_NIC_NAME_MAX]; /* the NIC's name in the pod ("eth0") */
};
_Static_assert(sizeof(struct tank_if_info) == 28, "tank_if_info layout");

/*
 * tank_ifh_v1: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE) of TANK_IFH_SIZE, at index
 * ifindex & (TANK_IFH_SIZE - 1): the interfaces of tankd's own netns (host-side veth, netkit peer)
 * that have a tank_ifs_v3 entry, with the same facts. A hash lookup is the largest part of a
 * packet's time (~35 ns on a 2-core VM: the bucket and the entry are cache misses), an array
 * lookup is inlined; tank_host_in/eg (attached only to devices of tankd's netns) try this
 * array first and fall back to tank_ifs_v3 when the ifindex there is not the packet's. Reading
 * the device's netns cookie is left to that fallback: it costs two more cache misses a packet. netplane derives it from tank_ifs_v3 after every change of that map and at start
 * (npb_ifh_sync); two ifindexes on one index: the lower one gets it. Each value is one 8-byte
 * word that netplane stores atomically through mmap and the program loads with one instruction,
 * so a packet sees an entry whole, never half of an old and half of a new one.
 */
#define TANK_IFH_SIZE 16384 /* a power of two */

struct tank_ifh {
	__u32 ifindex;                  /* 0: empty */
	__u16 slot;                     /* < TANK_MAX_PODS */
	__u8 nic;                       /* < TANK_NICS_MAX */
	enum tank_dir ingress_dir : 8;  /* as tank_if_info.ingress_dir */
};
_Static_assert(sizeof(struct tank_ifh) == 8, "tank_ifh layout");

/* tank_cgs_v1: BPF_MAP_TYPE_HASH, key __u64 cgroup v2 id -> the "host" network pod it is. */
struct tank_cg_info {
	__u32 slot;
	__u32 nic;                    /* counters' NIC index: 0 (the pod has no NIC of its own) */
	__u32 level;                  /* depth of the cgroup below the v2 root (1..63) */
	char name[TANK_NIC_NAME_MAX]; /* what the counters' NIC is called: "host" */
};
_Static_assert(sizeof(struct tank_cg_info) == 28, "tank_cg_info layout");

/* tank_stats_v2: BPF_MAP_TYPE_PERCPU_HASH -> struct tank_counter; readers sum the CPUs. */
struct tank_stat_key {
	__u32 slot;
	__u32 nic;
	enum tank_dir dir;
	enum tank_family family;
	enum tank_proto proto;
	enum tank_verdict verdict;
	enum tank_reason reason;
	__u32 rule; /* reason RULE: the allowing rule (a rule hit); else 0 */
};
_Static_assert(sizeof(struct tank_stat_key) == 32, "tank_stat_key layout");

/* tank_cfg_v1: BPF_MAP_TYPE_ARRAY, key __u32 slot. Written by user space only. */
struct tank_pod_cfg {
	__u32 gen;       /* policy generation, bumped after every policy swap */
	__u32 epoch;     /* owner epoch, bumped when the slot gets a new pod */
	__u32 audit;     /* 1: count would-be drops and pass the packets */
	__u32 ev_sample; /* 1 in ev_sample drops may become an event (0 or 1: every drop) */
	__u32 ev_rate;   /* events per second (0: TANK_EV_RATE_DEFAULT) */
	__u32 ev_burst;  /* token bucket depth (0: TANK_EV_BURST_DEFAULT) */
};

/* tank_evrl_v1: BPF_MAP_TYPE_ARRAY, key __u32 slot: the drop-event token bucket. */
struct tank_evrl {
	__u64 last;       /* last refill, jiffies */
	__u64 tokens;     /* scaled by 1000 */
	__u64 suppressed; /* events not sent since the last one that was */
};

/* ---- policy trie (inner maps of tank_pol_v1) ---------------------------------------------- */

enum tank_pol_kind {
	TANK_POL_PEER = 1,
	TANK_POL_PORT = 2,
	TANK_POL_META = 3,
};

struct tank_pol_port {
	__u32 set;
	__u8 proto; /* IP protocol number */
	__u8 pad;
	__be16 port; /* destination port, network order */
};

/*
 * BPF_MAP_TYPE_LPM_TRIE key. prefixlen counts bits from `kind`:
 *   PEER: TANK_POL_HDR_BITS + CIDR prefix (addr: IPv4 in the first 4 bytes, rest zero)
 *   PORT: TANK_POL_HDR_BITS + 32 (set) + 8 (proto) for every port of a protocol, or
 *         TANK_POL_HDR_BITS + 48 + port prefix (0..16) for a port range piece
 *   META: TANK_POL_HDR_BITS
 */
struct tank_pol_key {
	__u32 prefixlen;
	enum tank_pol_kind kind;
	enum tank_dir dir;       /* PEER, META; 0 for PORT */
	enum tank_family family; /* PEER; 0 otherwise */
	union {
		__u8 addr[16];
		struct tank_pol_port port;
	};
};
_Static_assert(sizeof(struct tank_pol_key) == 32, "tank_pol_key layout");

#define TANK_POL_HDR_BITS 96u
#define TANK_POL_PROTO_BITS (TANK_POL_HDR_BITS + 40u)  /* set + proto: every port */
#define TANK_POL_PORT_BITS (TANK_POL_HDR_BITS + 48u)   /* + port prefix bits */

#define TANK_SET_ALL 0u           /* PEER value: `rule` allows every protocol and port */
#define TANK_SET_NONE 0xffffffffu /* PEER value: no rule covers this prefix (an except) */

#define TANK_SET_INLINE 0xfffffffeu /* PEER value: the ranges are in `ranges` */
#define TANK_POL_INLINE 4

/* Host prefixes of a policy from which they go to an exact-match hash in tank_polx_v1. */
#define TANK_POLX_MIN 64
/* tank_pol_val.n_ranges: ranges used (TANK_SET_INLINE), and which tank_polx_v1 hash of the slot
 * holds the host prefixes of the entry's direction and family (0: none; n: slot * 2 + n - 1). */
#define TANK_POL_RANGES(n) ((n) & 0xffffu)
#define TANK_POL_EXACT(n) ((n) >> 16)
#define TANK_POL_EXACT_SHIFT 16

/* Key of a tank_polx_v1 hash: a host address of the pod's policy. */
struct tank_polx_key {
	enum tank_dir dir;
	enum tank_family family;
	__u8 addr[16]; /* IPv4 in the first 4 bytes, rest zero */
};
_Static_assert(sizeof(struct tank_polx_key) == 24, "tank_polx_key layout");

/* A protocol and destination port range (host order; 0-65535 for every port or no ports). */
struct tank_pol_range {
	__u32 rule;
	__u16 lo;
	__u16 hi;
	__u8 proto;
	__u8 pad[3];
};

struct tank_pol_val {
	__u32 rule;     /* PEER, TANK_SET_ALL and PORT: the allowing rule; else the set's lowest */
	__u32 set;      /* PEER: port set to look up (or TANK_SET_ALL/NONE/INLINE); PORT: its set */
	__u32 n_ranges; /* TANK_SET_INLINE: ranges used; PEER: exact hash (TANK_POL_RANGES/EXACT) */
	struct tank_pol_range ranges[TANK_POL_INLINE];
};
_Static_assert(sizeof(struct tank_pol_val) == 60, "tank_pol_val layout");

/* ---- flows ------------------------------------------------------------------------------- */

struct tank_flow_key {
	__u32 slot;
	enum tank_family family;
	__u8 proto; /* IP protocol number */
	__u8 pad[3];
	__be16 pod_port;  /* TCP/UDP/SCTP: the pod's port; ICMP echo: the identifier; other: 0 */
	__be16 peer_port; /* TCP/UDP/SCTP: the peer's port; ICMP echo: the request's tank_dir */
	__u8 pod_addr[16];  /* IPv4 in the first 4 bytes */
	__u8 peer_addr[16];
};
_Static_assert(sizeof(struct tank_flow_key) == 48, "tank_flow_key layout");

#define TANK_FLOW_CLOSING 1u /* TCP FIN or RST seen */

/* tank_flows_v1: BPF_MAP_TYPE_LRU_HASH value. */
struct tank_flow {
	__u64 created;  /* jiffies */
	__u64 last;     /* jiffies of the last packet (stored at most once a second) */
	struct tank_counter count[TANK_DIR_MAX]; /* by pod direction */
	__u32 rule;     /* the rule that allowed the opening direction (or TANK_RULE_*) */
	__u32 gen;      /* policy generation of the cached verdict */
	__u32 epoch;    /* owner epoch of the slot when created */
	__u32 nic;
	enum tank_dir dir;         /* pod direction of the packet that opened the flow */
	enum tank_verdict verdict; /* PASS, or AUDIT: the policy denies it, audit mode let it */
	__u32 flags;               /* TANK_FLOW_* */
	__u32 pad;
};

/*
 * tank_fcache_v2: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE) of TANK_FCACHE_SIZE entries per possible
 * CPU (netplane sizes it at load), CPU c's at c * TANK_FCACHE_SIZE + index: each CPU's cache of
 * flow decisions in front of tank_flows_v1 (a microflow cache, like Open vSwitch's exact-match
 * cache). Used by the tc programs only (they never nest on a CPU; a cgroup_skb egress program
 * can be interrupted by an ingress one, which could see an entry half written).
 * Looking a flow up in the shared LRU hash and adding the packet to its counters is most of a
 * packet's time (the two directions of a connection run on different CPUs and pull the entry's
 * cache line back and forth), so a packet of an established flow whose decision this CPU cached
 * less than a second ago is decided from the cache alone: same flow key and direction, the slot's
 * current epoch and policy generation, no TCP SYN, FIN or RST. Index: a multiplicative hash of
 * the flow key and direction (words_index); a collision only replaces the entry.
 * A plain array, not a per-CPU one: its values are contiguous and page-aligned, so an entry is
 * exactly two cache lines (what a hit checks is in the first), and finding it reads no per-CPU
 * pointer table (each of those is one more cache miss a packet, ~10 ns on a 2-core VM).
 * Only passes are cached (reason REPLY, RULE or NO_POLICY) of flows whose cached verdict is PASS:
 * such a flow is deleted only by a new policy generation or epoch (which invalidate the cache) or
 * by LRU eviction (its replies then still pass for up to a second, as the flow was allowed).
 * The packets counted while cached wait in `pending` and are added to the flow's count[dir] when
 * the entry is refreshed (at most a second later) or replaced; readers of flows add what is
 * pending (np_bpf_flows). The pod totals count them in tank_scell_v2.
 */
#define TANK_FCACHE_SIZE 1024 /* entries per CPU, a power of two */

struct tank_fcache {
	/* the first cache line: what a hit compares */
	struct tank_flow_key key; /* slot 0: empty */
	__u64 expires;            /* jiffies: the decision holds until then (a second after the
				   * flow entry was last looked at) */
	__u32 gen;                /* policy generation and slot epoch of the decision */
	__u32 epoch;
	/* the second: written by a hit */
	enum tank_dir dir;         /* pod direction of the packets this entry decides */
	__u32 nic;
	__u32 cell;                /* tank_scell_v2 index + 1 of the packets' counter; 0: none */
	enum tank_reason reason;   /* REPLY, RULE or NO_POLICY (verdict PASS) */
	__u32 rule;
	__u32 pad;
	struct tank_counter pending; /* counted here, not yet in the flow's count[dir] */
	__u8 pad2[24];
};
_Static_assert(sizeof(struct tank_fcache) == 128, "tank_fcache layout");

/*
 * tank_scell_v2: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE) of TANK_SCELL_SIZE cells per possible CPU,
 * CPU c's at c * TANK_SCELL_SIZE + index (plain, as tank_fcache_v2, and one cache line each):
 * where the packets decided from the flow cache are counted, in place of their tank_stats_v2
 * entry (whose hash lookup costs as much as the rest of such a packet). A cell holds one stat key
 * of one slot's epoch; a CPU takes one of its own when it fills a flow cache entry (at the key's
 * hash or the place after it, scell_take) if it is free or its slot has moved to another epoch,
 * else those packets go on to tank_stats_v2. A taken cell keeps its key as long as its pod lives, so a
 * packet is counted in exactly one place and every counter only grows: a pod's totals are its
 * tank_stats_v2 entries plus its cells of the slot's current epoch (npb_slot_totals).
 */
#define TANK_SCELL_SIZE 1024 /* cells per CPU, a power of two */

struct tank_scell {
	struct tank_stat_key key; /* slot 0: free */
	__u32 epoch;              /* the slot's epoch when the cell was taken */
	__u32 pad;
	struct tank_counter count;
	__u8 pad2[8];
};
_Static_assert(sizeof(struct tank_scell) == 64, "tank_scell layout");

/* The per-CPU layouts of tank_fcache_v1 and tank_scell_v1 (one entry per CPU at each index), of
 * an older tankd: np_bpf_open adds what v1 entries had pending to their flows and unpins the map;
 * it keeps v1 cells, whose packets are part of their pods' totals, while such a pod lives. */
struct tank_fcache_v1 {
	struct tank_flow_key key;
	__u64 checked;
	__u32 gen, epoch;
	enum tank_dir dir;
	enum tank_reason reason;
	__u32 rule, nic, cell, pad;
	struct tank_counter pending;
};
_Static_assert(sizeof(struct tank_fcache_v1) == 104, "tank_fcache_v1 layout");

struct tank_scell_v1 {
	struct tank_stat_key key;
	__u32 epoch, pad;
	struct tank_counter count;
};
_Static_assert(sizeof(struct tank_scell_v1) == 56, "tank_scell_v1 layout");

/* tank_frags_v1: BPF_MAP_TYPE_LRU_HASH, the ports of a fragmented packet's first fragment. */
struct tank_frag_key {
	__u32 slot;
	enum tank_family family;
	__u32 id; /* IPv4 id or IPv6 fragment identification */
	__u8 proto;
	__u8 pad[3];
	__u8 saddr[16];
	__u8 daddr[16];
};

struct tank_frag {
	__u64 seen; /* jiffies */
	__be16 sport;
	__be16 dport;
	__u32 pad;
};

/* ---- global counters, events, tombstones --------------------------------------------------- */

/* tank_gstat_v1: BPF_MAP_TYPE_PERCPU_ARRAY, one entry (key 0). */
struct tank_gstat {
	__u64 flow_new;      /* flows created for a key that had no entry */
	__u64 flow_deleted;  /* flows deleted by the program (forward packet now denied) */
	__u64 flow_expired;  /* expired or stale entries reused in place */
	__u64 ev_sent;       /* drop events written to the ring buffer */
	__u64 ev_lost;       /* drop events lost: ring buffer full */
	__u64 ev_suppressed; /* drop events not sent: sampling or rate limit */
};

/* A record in tank_events_v1. */
struct tank_event {
	__u64 ts_ns; /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 slot;
	__u32 nic;
	enum tank_dir dir;
	enum tank_verdict verdict; /* DROP, or AUDIT (would have been dropped) */
	enum tank_reason reason;
	enum tank_family family;
	__u32 len;        /* skb length */
	__u32 suppressed; /* this slot's events not sent since the previous one */
	__u8 proto;
	__u8 pad[3];
	__be16 sport;
	__be16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* Pod totals by direction: every packet by family/protocol; drops and audit by reason. */
struct tank_totals {
	struct tank_counter by[TANK_FAM_MAX][TANK_PROTO_MAX];
	struct tank_counter drops[TANK_REASON_MAX]; /* dropped (verdict DROP) */
	struct tank_counter audit[TANK_REASON_MAX]; /* would have been dropped (verdict AUDIT) */
};

struct tank_tomb_key {
	char uid[TANK_POD_UID_MAX];
};

/* tank_tomb_v1: BPF_MAP_TYPE_LRU_HASH value: a deleted pod's final totals. */
struct tank_tomb {
	char name[TANK_POD_NAME_MAX];
	__u32 slot;
	__u32 pad;
	__u64 deleted_ms; /* wall clock, ms since the epoch */
	struct tank_totals dir[TANK_DIR_MAX];
};

/* Explain mode (see above). */
#define TANK_EXPLAIN_MAGIC 0x7a6b0000u
#define TANK_EXPLAIN_MASK 0xffff0000u
#define TANK_EXPLAIN_DONE 0x7a6b0001u

#endif
