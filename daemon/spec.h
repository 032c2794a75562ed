/* spec.h - the pod spec (DESIGN.md §4): parsed, validated, with JSON-path errors. */
#ifndef TANK_SPEC_H
#define TANK_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/lib.h"

#define SPEC_DOC_MAX (1u << 20) /* bytes of one spec document */
#define SPEC_NAME_MAX 63
#define SPEC_CONTAINERS_MAX 16
#define SPEC_NICS_MAX 8
#define SPEC_ADDRS_MAX 8
#define SPEC_ROUTES_MAX 16       /* extra routes of one NIC (NP_ROUTES_MAX) */
#define SPEC_POOLS_MAX 4         /* IPAM pools of one NIC */
#define SPEC_VOLUMES_MAX 64
#define SPEC_RULES_MAX 16384      /* rules of one policy direction (a 10,000-rule policy: ~2 MiB of trie) */
#define SPEC_ERRORS_MAX 64
#define SPEC_STRING_MAX 4096     /* bytes of any string value (paths, image, env values...) */
#define SPEC_ARGV_MAX 1024       /* entries of command, args */
#define SPEC_ENV_MAX 1024        /* entries of env */
#define SPEC_MOUNTS_MAX 64       /* mounts of one container */
#define SPEC_DNS_MAX 3           /* resolvers read at most 3 nameservers */
#define SPEC_PEERS_MAX 256       /* CIDRs of one policy rule */
#define SPEC_PORTS_MAX 64        /* port entries of one policy rule */
#define SPEC_CPU_MAX_MILLI (1024u * 1000) /* 1024 CPUs */
#define SPEC_PIDS_MAX 4194304    /* PID_MAX_LIMIT */
#define SPEC_SIGNAL_MAX 64       /* _NSIG - 1 on Linux */
#define SPEC_STOP_GRACE_DEFAULT_MS 10000

enum restart_policy { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER };
enum net_mode { NET_NONE, NET_HOST, NET_NICS };
enum nic_mode { NIC_MACVLAN, NIC_VETH, NIC_NETKIT };
enum policy_mode { POLICY_ENFORCE, POLICY_AUDIT };
enum pull_policy { PULL_IF_NOT_PRESENT, PULL_ALWAYS, PULL_NEVER };

struct spec_cidr {
	int family; /* AF_INET, AF_INET6; 0 when absent */
	uint8_t prefix; /* 32 or 128 for a plain address */
	unsigned char addr[16]; /* network byte order; 4 bytes used for AF_INET */
	char text[64]; /* canonical "198.18.0.10/24"; a plain address (gateway, dns) has no "/N" */
};

struct spec_route {
	struct spec_cidr to;  /* a network CIDR (host bits clear) */
	struct spec_cidr via; /* a plain address of the same family; family 0: a device route */
};

struct spec_nic {
	char *name;
	enum nic_mode mode;
	char *parent;  /* macvlan: interface name or "auto"; NULL otherwise */
	char *ipam;    /* pool name when the NIC takes an address from IPAM ("default" for "ipam") */
	struct spec_cidr *addrs; /* static addresses */
	size_t n_addrs;
	struct spec_cidr gateway4, gateway6; /* family 0 when absent */
	char *mac;     /* optional, lowercase "aa:bb:cc:dd:ee:ff" */
	char **ipam_more; /* further pools after ipam, one address from each (NULL: none) */
	struct spec_route *routes; /* extra routes in the pod via this NIC */
	size_t n_routes;
};

struct spec_port_range {
	uint16_t first, last;
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_ICMPV6;
			* "tcp" alone is ports 0-65535; ICMP entries have first = last = 0 */
};

struct spec_rule {
	struct spec_cidr *peers; /* "from" (ingress) or "to" (egress) */
	size_t n_peers;
	struct spec_port_range *ports; /* empty: all ports and protocols */
	size_t n_ports;
};

struct spec_policy {
	bool has_ingress, has_egress; /* direction present: default deny + these allows */
	struct spec_rule *ingress, *egress;
	size_t n_ingress, n_egress;
	enum policy_mode mode;
};

struct spec_volume {
	char *name;
	char *host_path;     /* NULL unless a host_path volume */
	uint64_t tmpfs_size; /* > 0 for a tmpfs volume */
};

struct spec_mount {
	char *volume;
	char *path;
	bool read_only;
};

struct spec_limits {
	uint64_t memory;      /* bytes, 0 = unlimited */
	uint64_t cpu_milli;   /* millicores, 0 = unlimited */
	uint64_t pids;        /* 0 = unlimited */
};

struct spec_container {
	char *name;
	char *image;       /* OCI reference or "oci:/abs[:tag]"; NULL when rootfs is set */
	char *rootfs;      /* {"rootfs": "/abs/dir"} */
	char **command;    /* NULL when absent */
	char **args;       /* NULL when absent */
	char **env;        /* "K=V", sorted by key; NULL when absent */
	char *working_dir; /* NULL when absent */
	char *user;        /* NULL when absent */
	bool tty;
	struct spec_mount *mounts;
	size_t n_mounts;
	struct spec_limits limits;
	int stop_signal;   /* 0 when absent (then the image's StopSignal, else SIGTERM) */
	uint64_t stop_grace_ms; /* default 10000 */
	char **cap_add;    /* capability names ("NET_RAW", "ALL"); NULL when absent */
	char **cap_drop;
	bool seccomp_unconfined; /* "seccomp": "unconfined" (default "default") */
	enum pull_policy pull;
};

struct pod_spec {
	char *name;
	enum restart_policy restart;
	enum net_mode net;
	struct spec_nic *nics;
	size_t n_nics;
	char **dns; /* canonical addresses; NULL when absent */
	struct spec_policy policy;
	bool has_policy;
	struct spec_volume *volumes;
	size_t n_volumes;
	struct spec_container *containers;
	size_t n_containers;
	bool share_pid; /* containers share one pid namespace */
};

/*
 * Parse and validate a spec document. Every problem is reported, not just the first: on
 * failure returns -EINVAL, *ret_errors (if not NULL) receives a JSON array of
 * {"path": "containers[0].limits.memory", "message": "\"12Q\": unknown unit (use Ki, Mi, Gi,
 * k, M, G)"} in document order (at most SPEC_ERRORS_MAX, then one "...more errors" entry),
 * and d gets the first one (path in d->path, "path: message" in d->msg). On success
 * *ret_errors is set to NULL. -ENOMEM when out of memory.
 * Unknown keys, wrong types, duplicates (containers, NICs, volumes, mount paths), mounts naming
 * a missing volume, relative paths, bad names, bad units are all errors.
 */
int spec_parse(const json_t *doc, struct pod_spec **ret, json_t **ret_errors, struct diag *d);

/*
 * Facts about the host that decide whether a valid spec can run here. Passed in, never probed
 * by the parser, so parsing stays a pure function of (document, facts).
 */
struct spec_host {
	bool netkit;              /* the kernel has netkit links */
	const char *const *pools; /* names of the configured IPAM pools, NULL-terminated
				   * (NULL: none configured) */
};

/*
 * spec_parse with the host's facts: a netkit NIC where the kernel has none and a pool name not
 * in host->pools are errors at their JSON path, reported with all the others in one pass.
 * host NULL: as spec_parse (no host checks).
 */
int spec_parse_host(const json_t *doc, const struct spec_host *host, struct pod_spec **ret,
		    json_t **ret_errors, struct diag *d);
void pod_spec_free(struct pod_spec *s);

/* DNS label check used for pod, container, volume names. */
bool spec_name_is_valid(const char *name);
/* Why a name is not a DNS label (static text), NULL when it is one. */
const char *spec_name_problem(const char *name);
const char *restart_policy_name(enum restart_policy p);
const char *nic_mode_name(enum nic_mode m);
/* "SIGTERM", "TERM", "15" -> 15; -EINVAL otherwise. */
int spec_signal_parse(const char *s);

/*
 * Value syntax (spec_net.c), for the spec and for anything else that reads these values
 * (config, tankctl). Each returns 0 or -EINVAL with the reason (without path or value) in why,
 * e.g. "prefix length 33 is out of range (0-32 for IPv4)".
 */
enum spec_cidr_kind {
	SPEC_CIDR_IFADDR, /* interface address: prefix required (1-32/128), host bits kept,
			   * unicast, not loopback */
	SPEC_CIDR_PEER,   /* policy peer: prefix optional (plain address = /32, /128), host bits
			   * must be zero */
	SPEC_CIDR_ADDR,   /* plain address (gateway, dns): no prefix, not unspecified/multicast */
};
int spec_cidr_parse(const char *s, enum spec_cidr_kind kind, struct spec_cidr *ret, char *why,
		    size_t whylen);
/* "80/tcp", "8000-8100/tcp", "53/udp", "tcp", "icmp", "icmpv6". */
int spec_port_parse(const char *s, struct spec_port_range *ret, char *why, size_t whylen);
/* "aa:bb:cc:dd:ee:ff", unicast and not all zero. */
int spec_mac_parse(const char *s, unsigned char ret[6], char *why, size_t whylen);
/* A CPU amount: "500m", "0.5", "2" -> millicores (1 to SPEC_CPU_MAX_MILLI). */
int spec_cpu_parse(const char *s, uint64_t *ret_milli, char *why, size_t whylen);
/* Why s is not a usable interface name (static text), NULL when it is one. */
const char *spec_ifname_problem(const char *s);

#ifdef TANK_SPEC_INTERNAL
/*
 * Internal to spec.c and spec_net.c: the validating walk. A spec_field table lists the keys of
 * one object; spec_walk() reports unknown and missing keys and calls parse for the others with
 * the path extended. Errors accumulate in the context and never stop the walk.
 */
struct spec_ctx;
struct spec_field {
	const char *key;
	void (*parse)(struct spec_ctx *c, const json_t *v, void *target);
	const char *required; /* message when missing, NULL when optional */
};
void spec_walk(struct spec_ctx *c, const json_t *obj, const struct spec_field *f, size_t nf,
	       void *target);
#define SPEC_WALK(c, obj, table, target) spec_walk(c, obj, table, ARRAY_SIZE(table), target)
void spec_err(struct spec_ctx *c, const char *fmt, ...) _printf_(2, 3);
void spec_err_key(struct spec_ctx *c, const char *key, const char *fmt, ...) _printf_(3, 4);
void spec_err_type(struct spec_ctx *c, const json_t *v, const char *expected);
const char *spec_get_str(struct spec_ctx *c, const json_t *v, const char *expected);
bool spec_get_array(struct spec_ctx *c, const json_t *v, size_t max, const char *expected,
		    size_t *ret_n);
/* The index of v in names, or -1 (reported: "unknown <what> (use a, b or c)"). */
int spec_get_enum(struct spec_ctx *c, const json_t *v, const char *const *names, size_t n,
		  const char *what);
/* Entry i of arr repeats the string `field` of an earlier entry: report it at `key`. */
void spec_dup_check(struct spec_ctx *c, const void *arr, size_t stride, size_t off, size_t i,
		    const char *key, const char *what, const char *list);
#define SPEC_DUP_CHECK(c, arr, i, field, key, what, list)                                          \
	spec_dup_check(c, arr, sizeof(*(arr)), offsetof(__typeof__(*(arr)), field), i, key, what,  \
		       list)
size_t spec_path_index(struct spec_ctx *c, size_t i);
size_t spec_path_key(struct spec_ctx *c, const char *key); /* push ".key"; pop with spec_path_pop */
void spec_path_pop(struct spec_ctx *c, size_t old);
char *spec_strdup(struct spec_ctx *c, const char *s);
void *spec_calloc(struct spec_ctx *c, size_t n, size_t size);
const char *spec_quote(struct spec_ctx *c, const char *s);
void spec_parse_network(struct spec_ctx *c, const json_t *v, void *target); /* spec_net.c */
const struct spec_host *spec_host(struct spec_ctx *c); /* NULL: no host checks */
#endif

#endif
