/* tank_abi.h - the BPF ABI shared by bpf/ programs and netplane/: map names, keys, values. */
#ifndef TANK_ABI_H
#define TANK_ABI_H

/*
 * Included from BPF programs (after vmlinux.h) and from user space (after <linux/types.h>), so
 * only __u32/__u64 and plain C here. Every type below reaches BTF (the programs reference
 * them), so `bpftool map dump` prints field names.
 *
 * Map names carry a layout version (tank_*_vN, at most 15 characters). A layout change gets a
 * new name; netplane migrates entries from the old pinned map instead of zeroing counters.
 */

#define TANK_MAX_PODS 4096      /* pod slots; slot 0 is never used (means "unknown") */
#define TANK_MAX_IFS 8192       /* interfaces carrying Tank programs */
#define TANK_POD_NAME_MAX 64    /* DNS label (63) + NUL */
#define TANK_POD_UID_MAX 40

#define TANK_MAP_STATS "tank_stats_v1"
#define TANK_MAP_PODS "tank_pods_v1"
#define TANK_MAP_IFS "tank_ifs_v1"

/* Direction as seen from the pod. */
enum tank_dir {
	TANK_DIR_INGRESS = 0, /* towards the pod */
	TANK_DIR_EGRESS = 1,  /* sent by the pod */
	TANK_DIR_MAX = 2,
};

struct tank_counter {
	__u64 packets;
	__u64 bytes;
};

/* tank_stats_v1: BPF_MAP_TYPE_PERCPU_ARRAY, key __u32 pod slot; readers sum the CPUs. */
struct tank_pod_stats {
	struct tank_counter ingress;
	struct tank_counter egress;
};

/* tank_pods_v1: BPF_MAP_TYPE_ARRAY, key __u32 pod slot -> who the slot belongs to. */
struct tank_pod_info {
	char name[TANK_POD_NAME_MAX];
	char uid[TANK_POD_UID_MAX];
};

/*
 * tank_ifs_v1: BPF_MAP_TYPE_HASH, key __u32 ifindex (in tankd's netns) -> pod slot and the
 * pod direction that the host's tc ingress hook of this interface sees.
 */
struct tank_if_info {
	__u32 slot;
	/* 4 bytes like __u32 (an int-sized enum on both sides); typed so bpftool prints the name.
	 * For a host-side veth the host's ingress is the pod's egress. */
	enum tank_dir host_ingress_dir;
};
_Static_assert(sizeof(struct tank_if_info) == 8, "tank_if_info layout");

#endif
