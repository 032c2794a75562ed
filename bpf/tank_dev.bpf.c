/* tank_dev.bpf.c - cgroup device filter of a container's v2 cgroup: runc's and crun's allowlist. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* uapi <linux/bpf.h> defines, not in vmlinux.h: ctx->access_type is type | access << 16 */
#define TANK_DEVCG_DEV_BLOCK 1
#define TANK_DEVCG_DEV_CHAR 2

/*
 * The same allowlist as the v1 devices cgroup (daemon/cgroup.c), for read, write and mknod:
 * c 1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom, 5:0 tty, 5:1 console, 5:2 ptmx,
 * 136:* pts. Everything else, every block device included, is refused (EPERM).
 */
SEC("cgroup/dev")
int tank_dev(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff, major = ctx->major, minor = ctx->minor;

	if (type != TANK_DEVCG_DEV_CHAR)
		return 0;
	switch (major) {
	case 1:
		return minor == 3 || minor == 5 || minor == 7 || minor == 8 || minor == 9;
	case 5:
		return minor <= 2;
	case 136:
		return 1;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
