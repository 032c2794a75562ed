/* test_netplane_veth.c - routed veth NIC and tcx counting in throwaway "host" and "pod" netns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "netplane/netplane.h"

/*
 * Everything runs inside namespaces this test creates: the test process itself setns()es into
 * "tanktest-<pid>-vhost" before calling netplane, so the machine's interfaces and routes are never
 * touched. Addresses: 198.18.0.0/15 and 2001:db8::/32 only. Leftovers of this test's dead runs
 * (its own suffixes only: -vhost, -vpod, -vpins) are removed at start; the group teardown removes
 * this run's netns and pins, also after a failed assert.
 */

#define PREFIX "tanktest-"
#define SLOT 5

static struct {
	bool ready;
	int orig_ns, host_ns, pod_ns;
	char host_name[64], pod_name[64];
	char pin_dir[128];
	char host_if[16];
	char uid[40];
	struct np_bpf *bpf;
} t = { .orig_ns = -1, .host_ns = -1, .pod_ns = -1 };

/* Run a shell command, capture stdout (up to 64 KiB); returns the exit status or -1. */
static int sh(char **out, const char *fmt, ...) _printf_(2, 3);
static int sh(char **out, const char *fmt, ...)
{
	char cmd[1024], *buf = NULL;
	size_t len = 0, cap = 0;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "re");
	if (!f)
		return -1;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		size_t n = fread(buf + len, 1, cap - len, f);

		if (n == 0)
			break;
		len += n;
		if (len > 65536)
			break;
	}
	buf[len] = '\0';
	st = pclose(f);
	if (out)
		*out = buf;
	else
		free(buf);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static bool own_suffix(const char *s)
{
	return !strcmp(s, "-vhost") || !strcmp(s, "-vpod") || !strcmp(s, "-vpins");
}

/* Remove netns and pin dirs of this test (tanktest-<pid>-v*) whose pid is gone. */
static void cleanup_leftovers(void)
{
	const char *dirs[] = { "/run/netns", "/sys/fs/bpf" };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		DIR *dp = opendir(dirs[i]);
		struct dirent *de;

		if (!dp)
			continue;
		while ((de = readdir(dp))) {
			char *end;
			long pid;

			if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) != 0)
				continue;
			pid = strtol(de->d_name + strlen(PREFIX), &end, 10);
			/* only what this test names: other tests' leftovers are theirs */
			if (!own_suffix(end) || pid_alive(pid))
				continue;
			if (i == 0)
				sh(NULL, "ip netns del '%s' 2>/dev/null", de->d_name);
			else
				sh(NULL, "rm -rf '/sys/fs/bpf/%s'", de->d_name);
		}
		closedir(dp);
	}
}

static int group_setup(void **state _unused_)
{
	char path[128];
	int r;

	if (geteuid() != 0)
		return 0; /* tests skip */
	cleanup_leftovers();
	snprintf(t.host_name, sizeof(t.host_name), PREFIX "%d-vhost", (int)getpid());
	snprintf(t.pod_name, sizeof(t.pod_name), PREFIX "%d-vpod", (int)getpid());
	snprintf(t.pin_dir, sizeof(t.pin_dir), "/sys/fs/bpf/" PREFIX "%d-vpins", (int)getpid());
	snprintf(t.host_if, sizeof(t.host_if), "tkt%d", (int)getpid() % 1000000);
	snprintf(t.uid, sizeof(t.uid), "tanktest-uid-%d", (int)getpid());

	if (sh(NULL, "ip netns add %s && ip netns add %s", t.host_name, t.pod_name) != 0)
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%s", t.host_name);
	t.host_ns = np_netns_open(path);
	snprintf(path, sizeof(path), "/run/netns/%s", t.pod_name);
	t.pod_ns = np_netns_open(path);
	t.orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (t.host_ns < 0 || t.pod_ns < 0 || t.orig_ns < 0)
		return -1;
	/* from here on this process lives in the test "host" netns */
	if (setns(t.host_ns, CLONE_NEWNET) < 0)
		return -1;
	r = np_netns_lo_up(t.host_ns, NULL);
	if (r < 0)
		return -1;
	t.ready = true;
	return 0;
}

static int group_teardown(void **state _unused_)
{
	np_bpf_close(t.bpf);
	t.bpf = NULL;
	if (t.orig_ns >= 0) {
		if (setns(t.orig_ns, CLONE_NEWNET) < 0)
			abort();
		close(t.orig_ns);
	}
	if (t.host_ns >= 0)
		close(t.host_ns);
	if (t.pod_ns >= 0)
		close(t.pod_ns);
	if (t.host_name[0])
		sh(NULL, "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", t.host_name,
		   t.pod_name);
	if (t.pin_dir[0])
		fs_rm_rf(t.pin_dir);
	return 0;
}

/* After each veth test: whatever it left (it may have failed half-way). */
static int veth_teardown(void **state _unused_)
{
	if (!t.ready)
		return 0;
	if (t.bpf)
		np_bpf_pod_unregister(t.bpf, t.uid, SLOT, NULL, 0, NULL);
	np_link_delete(t.host_if, NULL);
	return 0;
}

#define REQUIRE_READY()                                                                            \
	do {                                                                                       \
		if (!t.ready)                                                                      \
			skip();                                                                    \
	} while (0)

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static void parse(const char *text, struct np_addr *a)
{
	assert_int_equal(np_addr_parse(text, a), 0);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_netns_open(void **state _unused_)
{
	REQUIRE_READY();
	assert_int_equal(np_netns_open("/etc/hostname"), -EINVAL);
	assert_int_equal(np_netns_open("/run/netns/" PREFIX "does-not-exist"), -ENOENT);
	assert_int_equal(np_netns_open("/proc/self/ns/uts"), -EINVAL);
}

static void test_lo_up(void **state _unused_)
{
	_cleanup_free_ char *out = NULL;

	REQUIRE_READY();
	assert_int_equal(np_netns_lo_up(t.pod_ns, NULL), 0);
	assert_int_equal(sh(&out, "ip -n %s -o link show lo", t.pod_name), 0);
	assert_contains(out, "UP");
	/* we are still in the host netns */
	assert_int_equal(np_link_ifindex("lo"), 1);
	assert_int_equal(np_link_ifindex("eth0"), -ENODEV);
}

/* The peer name is taken in the pod: nothing is created on the host. */
static void test_veth_exists(void **state _unused_)
{
	struct np_veth_spec s = {
		.host_ifname = t.host_if, .pod_ifname = "lo", .pod_netns_fd = t.pod_ns,
	};
	struct np_nic_state st = { .host_ifindex = -7 };
	struct diag d = {};

	REQUIRE_READY();
	assert_int_equal(np_veth_setup(&s, &st, &d), -EEXIST);
	assert_int_equal(st.host_ifindex, -7);
	assert_contains(d.msg, "RTM_NEWLINK");
	assert_int_equal(np_link_ifindex(t.host_if), -ENODEV);
}

/* A failure after the pair exists (second host route collides) removes the pair again. */
static void test_veth_rollback(void **state _unused_)
{
	struct np_addr addrs[2];
	struct np_veth_spec s = {
		.host_ifname = t.host_if, .pod_ifname = "eth0", .pod_netns_fd = t.pod_ns,
		.addrs = addrs, .n_addrs = 2,
	};
	_cleanup_free_ char *out = NULL;
	struct np_nic_state st;
	struct diag d = {};

	REQUIRE_READY();
	parse("198.18.5.20/24", &addrs[0]);
	addrs[1] = addrs[0];
	assert_int_equal(np_veth_setup(&s, &st, &d), -EEXIST);
	assert_contains(d.msg, "RTM_NEWROUTE");
	assert_contains(d.msg, t.host_if);
	assert_int_equal(np_link_ifindex(t.host_if), -ENODEV);
	assert_int_not_equal(sh(&out, "ip -n %s -o link show eth0 2>/dev/null", t.pod_name), 0);
}

static void test_veth_bad_spec(void **state _unused_)
{
	struct np_veth_spec s = {
		.host_ifname = "much-too-long-ifname", .pod_ifname = "eth0",
		.pod_netns_fd = t.pod_ns,
	};
	struct np_nic_state st;
	struct diag d = {};

	REQUIRE_READY();
	assert_int_equal(np_veth_setup(&s, &st, &d), -EINVAL);
	s.host_ifname = t.host_if;
	s.n_addrs = NP_ADDRS_MAX + 1;
	assert_int_equal(np_veth_setup(&s, &st, NULL), -E2BIG);
}

static struct tank_pod_stats stats(void)
{
	struct tank_pod_stats s;

	assert_int_equal(np_bpf_pod_stats(t.bpf, SLOT, &s, NULL), 0);
	return s;
}

static uint32_t pinned_link_id(const char *path)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

static void test_veth_and_bpf(void **state _unused_)
{
	struct np_addr addrs[2];
	struct np_veth_spec s = {
		.host_ifname = t.host_if, .pod_ifname = "eth0", .pod_netns_fd = t.pod_ns,
		.addrs = addrs, .n_addrs = 2, .mtu = 1400,
	};
	char in_pin[256], eg_pin[256], pod_dir[256];
	struct np_nic_state st = {};
	struct tank_pod_stats s0, s1;
	struct tank_pod_info info;
	struct diag d = {};
	uint32_t id_in;
	char *out;

	REQUIRE_READY();
	parse("198.18.5.10/24", &addrs[0]);
	parse("2001:db8:5::10/64", &addrs[1]);
	if (np_veth_setup(&s, &st, &d) < 0)
		fail_msg("np_veth_setup: %s", diag_text(&d, d.err));
	assert_true(st.host_ifindex > 1);
	assert_true(st.pod_ifindex > 1);
	assert_int_equal(np_link_ifindex(t.host_if), st.host_ifindex);

	/* pod side: addresses, up, default routes via the link-local gateway */
	assert_int_equal(sh(&out, "ip -n %s -o addr show dev eth0", t.pod_name), 0);
	assert_contains(out, "inet 198.18.5.10/24");
	assert_contains(out, "inet6 2001:db8:5::10/64");
	assert_contains(out, "noprefixroute");
	free(out);
	assert_int_equal(sh(&out, "ip -n %s -o link show eth0", t.pod_name), 0);
	assert_contains(out, "mtu 1400");
	assert_contains(out, "state UP");
	free(out);
	assert_int_equal(sh(&out, "ip -n %s -4 route show default", t.pod_name), 0);
	assert_contains(out, "default via 169.254.1.1 dev eth0 proto static onlink");
	free(out);
	assert_int_equal(sh(&out, "ip -n %s -6 route show default", t.pod_name), 0);
	assert_contains(out, "default via fe80::1 dev eth0 proto static");
	free(out);

	/* host side: gateway addresses, /32 and /128 routes */
	assert_int_equal(sh(&out, "ip -n %s -o addr show dev %s", t.host_name, t.host_if), 0);
	assert_contains(out, "inet 169.254.1.1/32 scope link");
	assert_contains(out, "inet6 fe80::1/64 scope link");
	free(out);
	assert_int_equal(sh(&out, "ip -n %s -4 route show 198.18.5.10/32", t.host_name), 0);
	assert_contains(out, "dev ");
	assert_contains(out, t.host_if);
	assert_contains(out, "proto static scope link");
	free(out);
	assert_int_equal(sh(&out, "ip -n %s -6 route show 2001:db8:5::10/128", t.host_name), 0);
	assert_contains(out, t.host_if);
	assert_contains(out, "proto static");
	free(out);

	/* BPF: maps pinned under the per-run dir, tcx links pinned per pod */
	if (np_bpf_open(t.pin_dir, &t.bpf, &d) < 0)
		fail_msg("np_bpf_open: %s", diag_text(&d, d.err));
	assert_string_equal(np_bpf_attach_mode(t.bpf), "tcx");
	if (np_bpf_pod_register(t.bpf, SLOT, "web", t.uid, &d) < 0)
		fail_msg("register: %s", diag_text(&d, d.err));
	if (np_bpf_veth_attach(t.bpf, t.uid, "eth0", SLOT, st.host_ifindex, &d) < 0)
		fail_msg("attach: %s", diag_text(&d, d.err));
	snprintf(pod_dir, sizeof(pod_dir), "%s/pods/%s", t.pin_dir, t.uid);
	snprintf(in_pin, sizeof(in_pin), "%s/eth0_in", pod_dir);
	snprintf(eg_pin, sizeof(eg_pin), "%s/eth0_eg", pod_dir);
	assert_true(fs_exists(in_pin));
	assert_true(fs_exists(eg_pin));
	id_in = pinned_link_id(in_pin);
	/* idempotent: the pinned link is kept */
	assert_int_equal(np_bpf_veth_attach(t.bpf, t.uid, "eth0", SLOT, st.host_ifindex, NULL), 0);
	assert_int_equal(pinned_link_id(in_pin), id_in);

	/* bpftool 7.1 lists tcx links by number (BPF_LINK_TYPE_TCX = 11) */
	assert_int_equal(sh(&out, "bpftool link show id %u", id_in), 0);
	assert_contains(out, "type 11");
	free(out);
	assert_int_equal(sh(&out, "bpftool link show"), 0);
	print_message("bpftool link show:\n%.600s\n", out);
	free(out);

	s0 = stats();
	assert_int_equal(sh(NULL, "nsenter --net=/run/netns/%s ping -c1 -W1 -q 198.18.5.10 >/dev/null",
			    t.host_name),
			 0);
	assert_int_equal(sh(NULL,
			    "nsenter --net=/run/netns/%s ping -6 -c1 -W1 -q 2001:db8:5::10 >/dev/null",
			    t.host_name),
			 0);
	s1 = stats();
	/* each echo is 98 (v4) / 118 (v6) bytes with the Ethernet header */
	assert_true(s1.ingress.packets - s0.ingress.packets >= 2);
	assert_true(s1.egress.packets - s0.egress.packets >= 2);
	assert_true(s1.ingress.bytes - s0.ingress.bytes >= 98 + 118);
	assert_true(s1.egress.bytes - s0.egress.bytes >= 98 + 118);
	print_message("slot %d: ingress %llu pkts %llu bytes, egress %llu pkts %llu bytes\n", SLOT,
		      (unsigned long long)s1.ingress.packets, (unsigned long long)s1.ingress.bytes,
		      (unsigned long long)s1.egress.packets, (unsigned long long)s1.egress.bytes);

	/* one entry per slot, NIC, direction, family, protocol, verdict, reason; enums by name */
	assert_int_equal(sh(&out, "bpftool map dump pinned %s/" TANK_MAP_STATS, t.pin_dir), 0);
	assert_contains(out, "\"slot\": 5");
	assert_contains(out, "\"dir\": \"TANK_DIR_INGRESS\"");
	assert_contains(out, "\"family\": \"TANK_FAM_IPV6\"");
	assert_contains(out, "\"proto\": \"TANK_PROTO_ICMP\"");
	assert_contains(out, "\"packets\"");
	print_message("bpftool map dump (excerpt):\n%.600s\n", out);
	free(out);
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), 0);
	assert_string_equal(info.name, "web");
	assert_string_equal(info.uid, t.uid);

	/* unregister: links unpinned and detached, interface entry and slot gone */
	assert_int_equal(np_bpf_pod_unregister(t.bpf, t.uid, SLOT, &st.host_ifindex, 1, &d), 0);
	assert_false(fs_exists(pod_dir));
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), -ENOENT);
	assert_int_not_equal(sh(NULL, "bpftool link show id %u >/dev/null 2>&1", id_in), 0);
	s0 = stats();
	assert_int_equal(sh(NULL, "nsenter --net=/run/netns/%s ping -c1 -W1 -q 198.18.5.10 >/dev/null",
			    t.host_name),
			 0);
	s1 = stats();
	assert_int_equal(s1.ingress.packets, s0.ingress.packets); /* no longer counted */
	/* missing pieces are fine */
	assert_int_equal(np_bpf_pod_unregister(t.bpf, t.uid, SLOT, NULL, 0, NULL), 0);

	/* delete: the pair goes, nothing left in either netns */
	assert_int_equal(np_link_delete(t.host_if, &d), 0);
	assert_int_equal(np_link_ifindex(t.host_if), -ENODEV);
	assert_int_not_equal(sh(NULL, "ip -n %s link show eth0 2>/dev/null", t.pod_name), 0);
	assert_int_equal(sh(&out, "ip -n %s -4 route show 198.18.5.10/32", t.host_name), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(np_link_delete(t.host_if, NULL), 0); /* missing = success */
}

/* A re-created veth gets a new ifindex: the stale pinned links are replaced, not kept. */
static void test_reattach_new_ifindex(void **state _unused_)
{
	struct np_addr a;
	struct np_veth_spec s = {
		.host_ifname = t.host_if, .pod_ifname = "eth0", .pod_netns_fd = t.pod_ns,
		.addrs = &a, .n_addrs = 1,
	};
	struct np_nic_state st1, st2;
	struct tank_pod_stats s0, s1;
	struct diag d = {};

	REQUIRE_READY();
	if (!t.bpf && np_bpf_open(t.pin_dir, &t.bpf, &d) < 0)
		fail_msg("np_bpf_open: %s", diag_text(&d, d.err));
	parse("198.18.5.11/32", &a);
	assert_int_equal(np_veth_setup(&s, &st1, NULL), 0);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", t.uid, NULL), 0);
	assert_int_equal(np_bpf_veth_attach(t.bpf, t.uid, "eth0", SLOT, st1.host_ifindex, NULL), 0);
	assert_int_equal(np_link_delete(t.host_if, NULL), 0);
	assert_int_equal(np_veth_setup(&s, &st2, NULL), 0);
	assert_int_not_equal(st1.host_ifindex, st2.host_ifindex);
	assert_int_equal(np_bpf_veth_attach(t.bpf, t.uid, "eth0", SLOT, st2.host_ifindex, NULL), 0);
	s0 = stats();
	assert_int_equal(sh(NULL, "nsenter --net=/run/netns/%s ping -c1 -W1 -q 198.18.5.11 >/dev/null",
			    t.host_name),
			 0);
	s1 = stats();
	assert_true(s1.ingress.packets > s0.ingress.packets);
	assert_true(s1.egress.packets > s0.egress.packets);
	assert_int_equal(np_bpf_pod_unregister(t.bpf, t.uid, SLOT, &st2.host_ifindex, 1, NULL), 0);
	assert_int_equal(np_link_delete(t.host_if, NULL), 0);
}

/*
 * A netkit pair (where the kernel has netkit; this test says so and skips where it does not):
 * created as a blackhole, nothing passes until the netkit links are attached on its primary;
 * then the pod answers and both directions are counted under the slot; the check sees the
 * links, and unregister takes them away.
 */
static void test_netkit_links(void **state _unused_)
{
	struct np_addr a;
	struct np_veth_spec s = {
		.host_ifname = t.host_if, .pod_ifname = "eth0", .pod_netns_fd = t.pod_ns,
		.addrs = &a, .n_addrs = 1, .blackhole = true,
	};
	struct np_nic_state st;
	struct tank_pod_stats s0, s1;
	struct diag d = {};

	REQUIRE_READY();
	if (!np_netkit_supported()) {
		print_message("netkit: absent from this kernel; netkit links not tested here\n");
		skip();
	}
	if (!t.bpf && np_bpf_open(t.pin_dir, &t.bpf, &d) < 0)
		fail_msg("np_bpf_open: %s", diag_text(&d, d.err));
	parse("198.18.5.12/32", &a);
	if (np_netkit_setup(&s, &st, &d) < 0)
		fail_msg("netkit setup: %s", diag_text(&d, d.err));
	assert_int_not_equal(sh(NULL, "nsenter --net=/run/netns/%s ping -c1 -W1 -q 198.18.5.12 "
				      ">/dev/null",
				t.host_name),
			     0); /* the blackhole */
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "nk", t.uid, NULL), 0);
	assert_int_equal(np_bpf_netkit_check(t.bpf, t.uid, "eth0", st.host_ifindex, NULL), 0);
	if (np_bpf_netkit_attach(t.bpf, t.uid, "eth0", SLOT, st.host_ifindex, t.pod_ns,
				 st.pod_ifindex, &d) < 0)
		fail_msg("netkit attach: %s", diag_text(&d, d.err));
	assert_int_equal(np_bpf_netkit_check(t.bpf, t.uid, "eth0", st.host_ifindex, NULL), 1);
	s0 = stats();
	assert_int_equal(sh(NULL, "nsenter --net=/run/netns/%s ping -c2 -W1 -q 198.18.5.12 >/dev/null",
			    t.host_name),
			 0);
	s1 = stats();
	assert_true(s1.ingress.packets - s0.ingress.packets >= 2);
	assert_true(s1.egress.packets - s0.egress.packets >= 2);
	/* idempotent */
	assert_int_equal(np_bpf_netkit_attach(t.bpf, t.uid, "eth0", SLOT, st.host_ifindex, t.pod_ns,
					      st.pod_ifindex, NULL),
			 0);
	assert_int_equal(np_bpf_pod_unregister(t.bpf, t.uid, SLOT, &st.host_ifindex, 1, NULL), 0);
	assert_int_equal(np_bpf_netkit_check(t.bpf, t.uid, "eth0", st.host_ifindex, NULL), 0);
	assert_int_not_equal(sh(NULL, "nsenter --net=/run/netns/%s ping -c1 -W1 -q 198.18.5.12 "
				      ">/dev/null",
				t.host_name),
			     0); /* the links gone: a blackhole again */
	assert_int_equal(np_link_delete(t.host_if, NULL), 0);
}

/* Two routed NICs in one pod: only the first has the default routes; the second has its
 * gateway, its subnets and an extra route, at its own metric; both answer the host. */
static void test_two_nics(void **state _unused_)
{
	char host2[16];
	struct np_addr a1[2], a2[2];
	struct np_route_via rt = {};
	struct np_veth_spec s1 = {
		.host_ifname = t.host_if, .pod_ifname = "eth0", .pod_netns_fd = t.pod_ns,
		.addrs = a1, .n_addrs = 2,
	};
	struct np_veth_spec s2 = {
		.host_ifname = host2, .pod_ifname = "eth1", .pod_netns_fd = t.pod_ns,
		.addrs = a2, .n_addrs = 2, .no_default4 = true, .no_default6 = true,
		.metric = 101, .routes = &rt, .n_routes = 1,
	};
	struct np_nic_state st;
	struct diag d = {};
	char *out = NULL;

	REQUIRE_READY();
	snprintf(host2, sizeof(host2), "%.13s2", t.host_if);
	parse("198.18.6.10/24", &a1[0]);
	parse("2001:db8:6::10/64", &a1[1]);
	parse("198.18.7.10/24", &a2[0]);
	parse("2001:db8:7::10/64", &a2[1]);
	parse("198.18.8.0/24", &rt.dst);
	if (np_veth_setup(&s1, &st, &d) < 0)
		fail_msg("eth0: %s", diag_text(&d, d.err));
	if (np_veth_setup(&s2, &st, &d) < 0) {
		np_link_delete(host2, NULL);
		fail_msg("eth1: %s", diag_text(&d, d.err));
	}
	assert_int_equal(sh(&out, "ip -n %s -4 route; ip -n %s -6 route", t.pod_name, t.pod_name),
			 0);
	assert_contains(out, "default via 169.254.1.1 dev eth0");
	assert_contains(out, "default via fe80::1 dev eth0");
	assert_null(strstr(out, "default via 169.254.1.1 dev eth1"));
	assert_null(strstr(out, "default via fe80::1 dev eth1"));
	assert_contains(out, "169.254.1.1 dev eth1 proto static scope link metric 101");
	assert_contains(out, "198.18.7.0/24 via 169.254.1.1 dev eth1 proto static metric 101 onlink");
	assert_contains(out, "198.18.8.0/24 via 169.254.1.1 dev eth1 proto static metric 101 onlink");
	assert_contains(out, "2001:db8:7::/64 via fe80::1 dev eth1 proto static metric 101");
	free(out);
	assert_int_equal(sh(NULL, "nsenter --net=/run/netns/%s ping -c1 -W1 -q 198.18.6.10 >/dev/null"
			    " && nsenter --net=/run/netns/%s ping -c1 -W1 -q 198.18.7.10 >/dev/null",
			    t.host_name, t.host_name),
			 0);
	/* a route via anything but the gateway is refused (a routed pair has no neighbours) */
	np_link_delete(host2, NULL);
	parse("198.18.7.1", &rt.gw);
	assert_int_equal(np_veth_setup(&s2, &st, NULL), -EINVAL);
	assert_int_not_equal(sh(NULL, "ip link show %s >/dev/null 2>&1", host2), 0);
	assert_int_equal(np_link_delete(t.host_if, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netns_open),
		cmocka_unit_test(test_lo_up),
		cmocka_unit_test_teardown(test_veth_exists, veth_teardown),
		cmocka_unit_test_teardown(test_veth_rollback, veth_teardown),
		cmocka_unit_test_teardown(test_veth_bad_spec, veth_teardown),
		cmocka_unit_test_teardown(test_veth_and_bpf, veth_teardown),
		cmocka_unit_test_teardown(test_reattach_new_ifindex, veth_teardown),
		cmocka_unit_test_teardown(test_two_nics, veth_teardown),
		cmocka_unit_test_teardown(test_netkit_links, veth_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
