/* test_netplane_macvlan.c - macvlan pods, host shim, "auto" parent, drift monitor, netkit probe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "netplane/netplane.h"

/*
 * Topology, all in namespaces this test creates (the machine's interfaces are never touched; the
 * process itself lives in the test "host" netns while it calls netplane):
 *
 *   lan netns: lan0 198.18.20.1/24 2001:db8:20::1/64   (the LAN peer and gateway)
 *        | veth
 *   host netns: up0 198.18.20.3/24 2001:db8:20::3/64   (the uplink, with the host's own address)
 *        +-- macvlan tank0 198.18.20.2/24 2001:db8:20::2/64  (host shim)
 *        +-- macvlan eth0 -> pod1 netns 198.18.20.11  2001:db8:20::11
 *        +-- macvlan up0  -> pod2 netns 198.18.20.12  2001:db8:20::12
 *
 * Names: tanktest-<pid>-m*. Leftovers of this test's dead runs (those names only) are removed at
 * start; the group teardown
 * deletes this run's namespaces (and with them every link in them), also after a failure.
 */

#define PREFIX "tanktest-"

static struct {
	bool ready, pods_up;
	int orig_ns, host_ns, lan_ns, pod1_ns, pod2_ns;
	char host[64], lan[64], pod1[64], pod2[64];
	struct np_nic_state st1, st2;
} t = { .orig_ns = -1, .host_ns = -1, .lan_ns = -1, .pod1_ns = -1, .pod2_ns = -1 };

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

static void cleanup_leftovers(void)
{
	DIR *dp = opendir("/run/netns");
	struct dirent *de;

	if (!dp)
		return;
	while ((de = readdir(dp))) {
		char *end;
		long pid;

		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		pid = strtol(de->d_name + strlen(PREFIX), &end, 10);
		/* only what this test names: other tests' leftovers are theirs */
		if ((strcmp(end, "-mhost") && strcmp(end, "-mlan") && strcmp(end, "-mpod1") &&
		     strcmp(end, "-mpod2")) || pid_alive(pid))
			continue;
		sh(NULL, "ip netns del '%s' 2>/dev/null", de->d_name);
	}
	closedir(dp);
}

static int open_ns(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return np_netns_open(path);
}

static int group_setup(void **state _unused_)
{
	if (geteuid() != 0)
		return 0;
	cleanup_leftovers();
	snprintf(t.host, sizeof(t.host), PREFIX "%d-mhost", (int)getpid());
	snprintf(t.lan, sizeof(t.lan), PREFIX "%d-mlan", (int)getpid());
	snprintf(t.pod1, sizeof(t.pod1), PREFIX "%d-mpod1", (int)getpid());
	snprintf(t.pod2, sizeof(t.pod2), PREFIX "%d-mpod2", (int)getpid());
	if (sh(NULL,
	       "set -e; for n in %s %s %s %s; do ip netns add $n; ip -n $n link set lo up; done",
	       t.host, t.lan, t.pod1, t.pod2) != 0)
		return -1;
	if (sh(NULL,
	       "set -e;"
	       "ip -n %1$s link add up0 mtu 1400 type veth peer name lan0 mtu 1400 netns %2$s;"
	       "ip -n %2$s addr add 198.18.20.1/24 dev lan0;"
	       "ip -n %2$s addr add 2001:db8:20::1/64 dev lan0 nodad;"
	       "ip -n %2$s link set lan0 up;"
	       "ip -n %1$s addr add 198.18.20.3/24 dev up0;"
	       "ip -n %1$s addr add 2001:db8:20::3/64 dev up0 nodad;"
	       "ip -n %1$s link set up0 up",
	       t.host, t.lan) != 0)
		return -1;
	t.host_ns = open_ns(t.host);
	t.lan_ns = open_ns(t.lan);
	t.pod1_ns = open_ns(t.pod1);
	t.pod2_ns = open_ns(t.pod2);
	t.orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (t.host_ns < 0 || t.lan_ns < 0 || t.pod1_ns < 0 || t.pod2_ns < 0 || t.orig_ns < 0)
		return -1;
	if (setns(t.host_ns, CLONE_NEWNET) < 0)
		return -1;
	t.ready = true;
	return 0;
}

static int group_teardown(void **state _unused_)
{
	if (t.orig_ns >= 0) {
		if (setns(t.orig_ns, CLONE_NEWNET) < 0)
			abort();
		close(t.orig_ns);
	}
	int fds[] = { t.host_ns, t.lan_ns, t.pod1_ns, t.pod2_ns };

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (t.host[0])
		sh(NULL, "for n in %s %s %s %s; do ip netns del $n 2>/dev/null; done", t.host,
		   t.lan, t.pod1, t.pod2);
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

static void assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		fail_msg("did not expect \"%s\" in:\n%s", needle, hay);
}

static struct np_addr A(const char *text)
{
	struct np_addr a;

	assert_int_equal(np_addr_parse(text, &a), 0);
	return a;
}

static int ping_from(const char *ns, const char *dst)
{
	return sh(NULL, "nsenter --net=/run/netns/%s ping %s -c1 -W1 -q %s >/dev/null 2>&1", ns,
		  strchr(dst, ':') ? "-6" : "-4", dst);
}

static void expect_ping(const char *ns, const char *dst)
{
	if (ping_from(ns, dst) != 0)
		fail_msg("%s cannot ping %s", ns, dst);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_parent_auto(void **state _unused_)
{
	struct diag d = {};
	char name[16] = "";

	REQUIRE_READY();
	assert_int_equal(np_parent_auto(name, &d), -ENOENT);
	assert_contains(d.msg, "no default route");
	assert_int_equal(
		sh(NULL, "ip -n %s -6 route add default via 2001:db8:20::1 dev up0", t.host), 0);
	assert_int_equal(np_parent_auto(name, NULL), 0); /* IPv6 only */
	assert_string_equal(name, "up0");
	assert_int_equal(sh(NULL, "ip -n %s route add default via 198.18.20.1 dev up0", t.host), 0);
	memset(name, 0, sizeof(name));
	assert_int_equal(np_parent_auto(name, NULL), 0);
	assert_string_equal(name, "up0");
}

static void test_macvlan_pods(void **state _unused_)
{
	struct np_addr a1[] = { A("198.18.20.11/24"), A("2001:db8:20::11/64") };
	struct np_addr a2[] = { A("198.18.20.12/24"), A("2001:db8:20::12/64") };
	struct np_addr gws[] = { A("198.18.20.1"), A("2001:db8:20::1") };
	struct np_route_via extra[] = {
		{ .dst = A("198.19.99.0/24"), .gw = A("198.18.20.1") },
		{ .dst = A("2001:db8:99::/48"), .gw = A("2001:db8:20::1") },
		{ .dst = A("198.19.98.0/24") }, /* device route */
	};
	static const uint8_t fixed_mac[6] = { 0x0a, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct np_macvlan_spec s1 = {
		.parent = "up0", .pod_ifname = "eth0", .pod_netns_fd = t.pod1_ns,
		.pod_uid = "uid-pod1", .mtu = 9000, .addrs = a1, .n_addrs = 2,
		.gateways = gws, .n_gateways = 2, .routes = extra, .n_routes = 3,
	};
	/* the pod NIC is named like the parent: it is born in the pod netns, no clash */
	struct np_macvlan_spec s2 = {
		.parent = "up0", .pod_ifname = "up0", .pod_netns_fd = t.pod2_ns,
		.mac = fixed_mac, .mtu = 1300, .addrs = a2, .n_addrs = 2,
		.gateways = gws, .n_gateways = 2,
	};
	uint8_t mac[6];
	char want[64], *out;
	struct diag d = {};

	REQUIRE_READY();
	if (np_macvlan_setup(&s1, &t.st1, &d) < 0)
		fail_msg("pod1: %s", diag_text(&d, d.err));
	if (np_macvlan_setup(&s2, &t.st2, &d) < 0)
		fail_msg("pod2: %s", diag_text(&d, d.err));
	t.pods_up = true;
	assert_int_equal(t.st1.host_ifindex, np_link_ifindex("up0"));
	assert_true(t.st1.pod_ifindex > 1 && t.st2.pod_ifindex > 1);

	/* pod1: macvlan bridge on up0, derived MAC, MTU clamped to the parent's 1400 */
	np_mac_derive("uid-pod1", "eth0", mac);
	snprintf(want, sizeof(want), "link/ether %02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	assert_int_equal(sh(&out, "ip -n %s -d link show eth0", t.pod1), 0);
	assert_contains(out, "mtu 1400");
	assert_contains(out, "state UP");
	assert_contains(out, "macvlan mode bridge");
	assert_contains(out, want);
	free(out);
	assert_int_equal(sh(&out, "ip -n %s -o addr show dev eth0 scope global", t.pod1), 0);
	assert_contains(out, "inet 198.18.20.11/24");
	assert_contains(out, "inet6 2001:db8:20::11/64");
	assert_lacks(out, "tentative");
	free(out);
	assert_int_equal(sh(&out, "ip -n %s route; ip -n %s -6 route", t.pod1, t.pod1), 0);
	assert_contains(out, "default via 198.18.20.1 dev eth0 proto static");
	assert_contains(out, "198.19.99.0/24 via 198.18.20.1 dev eth0 proto static");
	assert_contains(out, "198.19.98.0/24 dev eth0 proto static scope link");
	assert_contains(out, "198.18.20.0/24 dev eth0 proto kernel");
	assert_contains(out, "2001:db8:99::/48 via 2001:db8:20::1 dev eth0 proto static");
	assert_contains(out, "default via 2001:db8:20::1 dev eth0 proto static");
	free(out);

	/* pod2: fixed MAC, MTU below the parent's kept */
	assert_int_equal(sh(&out, "ip -n %s -d link show up0", t.pod2), 0);
	assert_contains(out, "link/ether 0a:11:22:33:44:55");
	assert_contains(out, "mtu 1300");
	free(out);
	/* nothing appeared in the host netns besides up0 */
	assert_int_equal(sh(&out, "ip -n %s -o link show", t.host), 0);
	assert_lacks(out, "eth0");
	free(out);

	/* the LAN peer and each other, both families */
	expect_ping(t.pod1, "198.18.20.1");
	expect_ping(t.pod1, "2001:db8:20::1");
	expect_ping(t.pod1, "198.18.20.12");
	expect_ping(t.pod2, "2001:db8:20::11");
	expect_ping(t.lan, "198.18.20.12");
}

static void test_macvlan_errors(void **state _unused_)
{
	struct np_addr a = A("198.18.20.13/24");
	struct np_addr gw = A("198.18.20.1");
	struct np_route_via dup = { .dst = A("0.0.0.0/0"), .gw = A("198.18.20.1") };
	static const uint8_t mcast[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	struct np_macvlan_spec s = {
		.parent = "nosuchlink", .pod_ifname = "eth9", .pod_netns_fd = t.pod1_ns,
		.pod_uid = "uid-x", .addrs = &a, .n_addrs = 1,
	};
	struct np_nic_state st = { .pod_ifindex = -7 };
	struct diag d = {};
	char *out;

	REQUIRE_READY();
	assert_int_equal(np_macvlan_setup(&s, &st, &d), -ENODEV);
	assert_contains(d.msg, "parent nosuchlink");
	assert_int_equal(st.pod_ifindex, -7);

	/* the name is taken in the pod (lo): nothing is created */
	diag_clear(&d);
	s.parent = "up0";
	s.pod_ifname = "lo";
	assert_int_equal(np_macvlan_setup(&s, &st, &d), -EEXIST);
	assert_contains(d.msg, "RTM_NEWLINK");

	s.pod_ifname = "eth9";
	s.mac = mcast;
	assert_int_equal(np_macvlan_setup(&s, &st, NULL), -EINVAL);
	s.mac = NULL;

	/* a failure in the pod batch (the default route twice) removes the NIC again */
	diag_clear(&d);
	s.gateways = &gw;
	s.n_gateways = 1;
	s.routes = &dup;
	s.n_routes = 1;
	assert_int_equal(np_macvlan_setup(&s, &st, &d), -EEXIST);
	assert_contains(d.msg, "RTM_NEWROUTE");
	assert_contains(d.msg, "macvlan eth9 on up0");
	assert_int_not_equal(sh(&out, "ip -n %s link show eth9 2>/dev/null", t.pod1), 0);
	free(out);
}

static void test_hostshim(void **state _unused_)
{
	struct np_addr shim[] = { A("198.18.20.2/24"), A("2001:db8:20::2/64") };
	struct np_addr other = A("198.18.20.4/24");
	struct np_addr pod1[] = { A("198.18.20.11/24"), A("2001:db8:20::11/64") };
	struct np_addr pod2[] = { A("198.18.20.12/24"), A("2001:db8:20::12/64") };
	int idx, idx2;
	struct diag d = {};
	char *out;

	REQUIRE_READY();
	if (!t.pods_up)
		skip();
	/* the host's own connected routes on up0 win: the pod is out of reach over the parent */
	assert_int_not_equal(ping_from(t.host, "198.18.20.11"), 0);

	idx = np_hostshim_ensure("up0", NP_HOSTSHIM_NAME, shim, 2, &d);
	if (idx < 0)
		fail_msg("shim: %s", diag_text(&d, idx));
	idx2 = np_hostshim_ensure("up0", NP_HOSTSHIM_NAME, shim, 2, &d); /* adopted */
	assert_int_equal(idx2, idx);
	assert_int_equal(sh(&out, "ip -n %s -d link show tank0", t.host), 0);
	assert_contains(out, "macvlan mode bridge");
	assert_contains(out, "state UP");
	free(out);
	assert_int_equal(sh(&out, "ip -n %s route; ip -n %s -6 route", t.host, t.host), 0);
	assert_contains(out, "198.18.20.0/24 dev tank0 proto kernel scope link src 198.18.20.2 "
			     "metric 1024");
	assert_contains(out, "2001:db8:20::/64 dev tank0 proto kernel metric 1024");
	free(out);

	if (np_hostshim_route_add(NP_HOSTSHIM_NAME, pod1, 2, &d) < 0)
		fail_msg("route add: %s", diag_text(&d, d.err));
	assert_int_equal(np_hostshim_route_add(NP_HOSTSHIM_NAME, pod1, 2, NULL), 0); /* again */
	expect_ping(t.host, "198.18.20.11");
	expect_ping(t.host, "2001:db8:20::11");
	/* the pods reach the shim (tankd's DNS listens there): replies need the pod's route too */
	assert_int_not_equal(ping_from(t.pod2, "198.18.20.2"), 0);
	assert_int_equal(np_hostshim_route_add(NP_HOSTSHIM_NAME, pod2, 2, NULL), 0);
	expect_ping(t.pod2, "198.18.20.2");
	expect_ping(t.pod2, "2001:db8:20::2");

	/* another address list: the shim ends up with exactly that */
	assert_int_equal(np_hostshim_ensure("up0", NP_HOSTSHIM_NAME, &other, 1, NULL), idx);
	assert_int_equal(sh(&out, "ip -n %s -o addr show dev tank0 scope global", t.host), 0);
	assert_contains(out, "198.18.20.4/24");
	assert_lacks(out, "198.18.20.2/");
	assert_lacks(out, "2001:db8:20::2");
	free(out);
	assert_int_equal(np_hostshim_ensure("up0", NP_HOSTSHIM_NAME, shim, 2, NULL), idx);

	/* routes go, twice is fine, a missing shim is fine */
	assert_int_equal(np_hostshim_route_del(NP_HOSTSHIM_NAME, pod1, 2, &d), 0);
	assert_int_equal(np_hostshim_route_del(NP_HOSTSHIM_NAME, pod1, 2, &d), 0);
	assert_int_equal(np_hostshim_route_del("nosuchshim", pod1, 2, &d), 0);
	assert_int_equal(sh(&out, "ip -n %s route show 198.18.20.11/32", t.host), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(np_hostshim_route_add(NP_HOSTSHIM_NAME, pod1, 2, NULL), 0);

	/* a link of that name that is not ours is left alone */
	assert_int_equal(sh(NULL, "ip -n %s link add shimbad type veth peer name shimbad1", t.host),
			 0);
	diag_clear(&d);
	assert_int_equal(np_hostshim_ensure("up0", "shimbad", shim, 2, &d), -EEXIST);
	assert_contains(d.msg, "veth");
	assert_int_equal(sh(NULL, "ip -n %s link add link up0 name shimvepa type macvlan mode vepa",
			    t.host),
			 0);
	diag_clear(&d);
	assert_int_equal(np_hostshim_ensure("up0", "shimvepa", shim, 2, &d), -EEXIST);
	assert_contains(d.msg, "vepa");
	assert_int_equal(np_hostshim_ensure("nosuchlink", "tank1", shim, 2, NULL), -ENODEV);
	sh(NULL, "ip -n %s link del shimbad; ip -n %s link del shimvepa", t.host, t.host);
}

struct seen {
	struct np_mon_event ev[32];
	size_t n;
};

static int seen_cb(const struct np_mon_event *ev, void *data)
{
	struct seen *s = data;

	if (s->n < ARRAY_SIZE(s->ev))
		s->ev[s->n++] = *ev;
	return 0;
}

/* Wait (poll, no sleeps) until the monitor has an event of that type, at most 2 s. */
static const struct np_mon_event *wait_event(struct np_monitor *m, struct seen *s,
					     enum np_mon_type type)
{
	for (int round = 0; round < 20; round++) {
		struct pollfd p = { .fd = np_monitor_fd(m), .events = POLLIN };

		for (size_t i = 0; i < s->n; i++)
			if (s->ev[i].type == type)
				return &s->ev[i];
		if (poll(&p, 1, 100) < 0)
			break;
		assert_true(np_monitor_read(m, seen_cb, s, NULL) >= 0);
	}
	return NULL;
}

static void test_monitor(void **state _unused_)
{
	const struct np_mon_event *ev;
	struct np_monitor *m = NULL;
	struct np_addr want = A("198.18.20.11/24");
	struct seen s = {};
	struct diag d = {};

	REQUIRE_READY();
	if (!t.pods_up)
		skip();
	if (np_monitor_open(t.pod1_ns, &m, &d) < 0)
		fail_msg("monitor: %s", diag_text(&d, d.err));
	assert_true(np_monitor_fd(m) >= 0);
	assert_int_equal(np_monitor_read(m, seen_cb, &s, NULL), 0); /* nothing yet, no block */

	/* from outside: an address removed, the NIC set down, then deleted */
	assert_int_equal(sh(NULL, "ip -n %s addr del 198.18.20.11/24 dev eth0", t.pod1), 0);
	ev = wait_event(m, &s, NP_MON_ADDR_DEL);
	assert_non_null(ev);
	assert_int_equal(ev->ifindex, t.st1.pod_ifindex);
	assert_int_equal(ev->addr.family, AF_INET);
	assert_int_equal(ev->addr.prefix, 24);
	assert_memory_equal(&ev->addr.v4, &want.v4, 4);

	assert_int_equal(sh(NULL, "ip -n %s link set eth0 down", t.pod1), 0);
	ev = wait_event(m, &s, NP_MON_LINK_DOWN);
	assert_non_null(ev);
	assert_int_equal(ev->ifindex, t.st1.pod_ifindex);
	assert_string_equal(ev->ifname, "eth0");

	assert_int_equal(sh(NULL, "ip -n %s link del eth0", t.pod1), 0);
	ev = wait_event(m, &s, NP_MON_LINK_DEL);
	assert_non_null(ev);
	assert_int_equal(ev->ifindex, t.st1.pod_ifindex);
	assert_string_equal(ev->ifname, "eth0");
	print_message("monitor: %zu events (addr-del, link-down, link-del among them)\n", s.n);
	np_monitor_close(m);
}

static void test_netkit(void **state _unused_)
{
	struct np_veth_spec s = {
		.host_ifname = "tknk0", .pod_ifname = "eth5", .pod_netns_fd = t.pod1_ns,
	};
	struct np_nic_state st;
	struct diag d = {};

	REQUIRE_READY();
	if (np_netkit_supported()) {
		print_message("netkit present: its links are tested by test_netplane_veth\n");
		skip();
	}
	assert_int_equal(np_netkit_setup(&s, &st, &d), -EOPNOTSUPP);
	assert_contains(d.msg, "no netkit");
	assert_contains(d.msg, "veth");
	assert_int_equal(np_link_ifindex("tknk0"), -ENODEV);
	print_message("netkit: absent from this kernel (%s); netkit NIC setup skipped\n", d.msg);
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parent_auto),
		cmocka_unit_test(test_macvlan_pods),
		cmocka_unit_test(test_macvlan_errors),
		cmocka_unit_test(test_hostshim),
		cmocka_unit_test(test_monitor),
		cmocka_unit_test(test_netkit),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
