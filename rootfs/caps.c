/* caps.c - capability names, the default set with add/drop, and applying a set. */
#include <linux/capability.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "rootfs/rootfs.h"
#include "rootfs/rootfs_int.h"

static const char *const cap_names[] = {
	[CAP_CHOWN] = "CHOWN",
	[CAP_DAC_OVERRIDE] = "DAC_OVERRIDE",
	[CAP_DAC_READ_SEARCH] = "DAC_READ_SEARCH",
	[CAP_FOWNER] = "FOWNER",
	[CAP_FSETID] = "FSETID",
	[CAP_KILL] = "KILL",
	[CAP_SETGID] = "SETGID",
	[CAP_SETUID] = "SETUID",
	[CAP_SETPCAP] = "SETPCAP",
	[CAP_LINUX_IMMUTABLE] = "LINUX_IMMUTABLE",
	[CAP_NET_BIND_SERVICE] = "NET_BIND_SERVICE",
	[CAP_NET_BROADCAST] = "NET_BROADCAST",
	[CAP_NET_ADMIN] = "NET_ADMIN",
	[CAP_NET_RAW] = "NET_RAW",
	[CAP_IPC_LOCK] = "IPC_LOCK",
	[CAP_IPC_OWNER] = "IPC_OWNER",
	[CAP_SYS_MODULE] = "SYS_MODULE",
	[CAP_SYS_RAWIO] = "SYS_RAWIO",
	[CAP_SYS_CHROOT] = "SYS_CHROOT",
	[CAP_SYS_PTRACE] = "SYS_PTRACE",
	[CAP_SYS_PACCT] = "SYS_PACCT",
	[CAP_SYS_ADMIN] = "SYS_ADMIN",
	[CAP_SYS_BOOT] = "SYS_BOOT",
	[CAP_SYS_NICE] = "SYS_NICE",
	[CAP_SYS_RESOURCE] = "SYS_RESOURCE",
	[CAP_SYS_TIME] = "SYS_TIME",
	[CAP_SYS_TTY_CONFIG] = "SYS_TTY_CONFIG",
	[CAP_MKNOD] = "MKNOD",
	[CAP_LEASE] = "LEASE",
	[CAP_AUDIT_WRITE] = "AUDIT_WRITE",
	[CAP_AUDIT_CONTROL] = "AUDIT_CONTROL",
	[CAP_SETFCAP] = "SETFCAP",
	[CAP_MAC_OVERRIDE] = "MAC_OVERRIDE",
	[CAP_MAC_ADMIN] = "MAC_ADMIN",
	[CAP_SYSLOG] = "SYSLOG",
	[CAP_WAKE_ALARM] = "WAKE_ALARM",
	[CAP_BLOCK_SUSPEND] = "BLOCK_SUSPEND",
	[CAP_AUDIT_READ] = "AUDIT_READ",
	[CAP_PERFMON] = "PERFMON",
	[CAP_BPF] = "BPF",
	[CAP_CHECKPOINT_RESTORE] = "CHECKPOINT_RESTORE",
};

#define CAPS_ALL ((1ULL << ARRAY_SIZE(cap_names)) - 1)

int rootfs_cap_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	if (strncasecmp(name, "CAP_", 4) == 0)
		name += 4;
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (cap_names[i] && strcasecmp(name, cap_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *rootfs_cap_name(int cap)
{
	static char buf[32];

	if (cap < 0 || (size_t)cap >= ARRAY_SIZE(cap_names) || !cap_names[cap])
		return NULL;
	snprintf(buf, sizeof(buf), "CAP_%s", cap_names[cap]);
	return buf;
}

/* Fold a list of names into a mask; "ALL" means every capability. */
static int caps_mask(char *const *names, const char *what, uint64_t *ret, struct diag *d)
{
	uint64_t m = 0;

	for (size_t i = 0; names && names[i]; i++) {
		int cap;

		if (strcasecmp(names[i], "ALL") == 0) {
			m = CAPS_ALL;
			continue;
		}
		cap = rootfs_cap_from_name(names[i]);
		if (cap < 0)
			return diag_fail(d, -EINVAL,
					 "capabilities.%s[%zu]: unknown capability \"%s\"", what, i,
					 names[i]);
		m |= 1ULL << cap;
	}
	*ret = m;
	return 0;
}

int rootfs_caps_compute(char *const *add, char *const *drop, uint64_t *ret, struct diag *d)
{
	uint64_t a, r;
	bool drop_all = false;
	int rc;

	if ((rc = caps_mask(add, "add", &a, d)) < 0 || (rc = caps_mask(drop, "drop", &r, d)) < 0)
		return rc;
	for (size_t i = 0; drop && drop[i]; i++)
		if (strcasecmp(drop[i], "ALL") == 0)
			drop_all = true;
	/* as podman: drop ALL then add X keeps X; otherwise drop wins over add */
	if (drop_all)
		*ret = a;
	else
		*ret = (ROOTFS_CAPS_DEFAULT | a) & ~r;
	return 0;
}

/* ---- applying ------------------------------------------------------------------------------ */

int caps_bound(uint64_t caps, struct diag *d)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return diag_fail(d, -errno, "clear ambient capabilities: %s", strerror(errno));
	for (int cap = 0; cap < 64; cap++) {
		if (caps & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL) /* past the kernel's last capability */
				break;
			return diag_fail(d, -errno, "drop capability %d from the bounding set: %s",
					 cap, strerror(errno));
		}
	}
	return 0;
}

int caps_set(uint64_t caps, uint64_t inheritable, struct diag *d)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct v[2] = { 0 };

	v[0].effective = v[0].permitted = (uint32_t)caps;
	v[1].effective = v[1].permitted = (uint32_t)(caps >> 32);
	/* inheritable only for the ambient set of a non-root user (CVE-2022-27649) */
	v[0].inheritable = (uint32_t)inheritable;
	v[1].inheritable = (uint32_t)(inheritable >> 32);
	if (syscall(SYS_capset, &h, v) < 0)
		return diag_fail(d, -errno, "set capabilities %#llx: %s", (unsigned long long)caps,
				 strerror(errno));
	return 0;
}
