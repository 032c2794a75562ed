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
#define SPEC_VOLUMES_MAX 64
#define SPEC_RULES_MAX 1024
#define SPEC_ERRORS_MAX 64

enum restart_policy { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER };
enum net_mode { NET_NONE, NET_HOST, NET_NICS };
enum nic_mode { NIC_MACVLAN, NIC_VETH, NIC_NETKIT };
enum policy_mode { POLICY_ENFORCE, POLICY_AUDIT };

struct spec_cidr {
	int family; /* AF_INET, AF_INET6 */
	uint8_t prefix;
	unsigned char addr[16];
	char text[64]; /* canonical "198.18.0.10/24" */
};

struct spec_nic {
	char *name;
	enum nic_mode mode;
	char *parent;  /* macvlan: interface name or "auto"; NULL otherwise */
	char *ipam;    /* pool name when the NIC takes an address from IPAM ("default" for "ipam") */
	struct spec_cidr *addrs; /* static addresses */
	size_t n_addrs;
	struct spec_cidr gateway4, gateway6; /* family 0 when absent */
	char *mac;     /* optional, "aa:bb:.." */
};

struct spec_port_range {
	uint16_t first, last;
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP... 0 = any */
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
	char **env;        /* "K=V", in key order; NULL when absent */
	char *working_dir; /* NULL when absent */
	char *user;        /* NULL when absent */
	bool tty;
	struct spec_mount *mounts;
	size_t n_mounts;
	struct spec_limits limits;
	int stop_signal;   /* 0 when absent */
	uint64_t stop_grace_ms; /* default 10000 */
};

struct pod_spec {
	char *name;
	enum restart_policy restart;
	enum net_mode net;
	struct spec_nic *nics;
	size_t n_nics;
	char **dns; /* NULL when absent */
	struct spec_policy policy;
	bool has_policy;
	struct spec_volume *volumes;
	size_t n_volumes;
	struct spec_container *containers;
	size_t n_containers;
};

/*
 * Parse and validate a spec document. Every problem is reported, not just the first: on
 * failure returns -EINVAL, *ret_errors (if not NULL) receives a JSON array of
 * {"path": "containers[0].limits.memory", "message": "\"12Q\": unknown unit (use Ki, Mi, Gi,
 * k, M, G)"} in document order (at most SPEC_ERRORS_MAX, then one "...more errors" entry),
 * and d gets the first one (path in d->path, "path: message" in d->msg).
 * Unknown keys, wrong types, duplicates (containers, NICs, volumes, mount paths), mounts naming
 * a missing volume, relative paths, bad names, bad units are all errors.
 */
int spec_parse(const json_t *doc, struct pod_spec **ret, json_t **ret_errors, struct diag *d);
void pod_spec_free(struct pod_spec *s);

/* DNS label check used for pod, container, volume names. */
bool spec_name_is_valid(const char *name);
const char *restart_policy_name(enum restart_policy p);
const char *nic_mode_name(enum nic_mode m);
/* "SIGTERM", "TERM", "15" -> 15; -EINVAL otherwise. */
int spec_signal_parse(const char *s);

#endif
