/* test_bpf_attach_kinds.c - the same counters and policy on macvlan NICs and "host" pod cgroups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "netplane/netplane.h"

/*
 * Everything lives in namespaces and cgroups this test creates (names tanktest-<pid>-ak*); the
 * machine's interfaces are never touched. The process itself enters the test "host" netns for
 * netplane's macvlan setup (the parent is looked up there), and leaves it at the end.
 *
 *   lan netns:  lan0 198.18.30.1/24                          (the LAN peer)
 *        | veth
 *   host netns: up0 (uplink, no address)
 *        +-- macvlan eth0 -> pod1 netns 198.18.30.11/24      slot 21
 *        +-- macvlan eth0 -> pod2 netns 198.18.30.12/24      slot 22
 *   Both eth0 are born in fresh netns: the same ifindex in each.
 *
 *   snd netns: s0 198.18.31.1/24 --veth-- rcv netns: r0 198.18.31.2/24
 *   cgroup v2: /sys/fs/cgroup/unified/tanktest-<pid>-ak (the "host" pod, slot 23) and ctr below
 *   it; the senders run in ctr, inside snd (nsenter).
 *
 * BPF pins: /sys/fs/bpf/tanktest-<pid>-ak. The group teardown unregisters the pods, deletes the
 * netns, removes the cgroups and the pins, also after a failure; leftovers of dead runs are
 * removed at start.
 */

#define PREFIX "tanktest-"
#define CG_ROOT "/sys/fs/cgroup/unified"
#define SLOT1 21
#define SLOT2 22
#define SLOT3 23
#define POD1_IP "198.18.30.11"
#define POD2_IP "198.18.30.12"
#define RCV_IP "198.18.31.2"
#define RCV_PORT 9999

static struct {
	bool ready, mv_attached, cg_attached, pod2_gone;
	int orig_ns, host_ns, lan_ns, pod1_ns, pod2_ns, rcv_ns;
	char host[64], lan[64], pod1[64], pod2[64], snd[64], rcv[64], pod3[64], pod4[64];
	char pin_dir[128], cg[160], ctr[192];
	char uid1[48], uid2[48], uid3[48];
	struct np_nic_state st1, st2;
	struct np_bpf *bpf;
} t = { .orig_ns = -1, .host_ns = -1, .lan_ns = -1, .pod1_ns = -1, .pod2_ns = -1, .rcv_ns = -1 };

static int sh(char **out, const char *fmt, ...) _printf_(2, 3);
static int sh(char **out, const char *fmt, ...)
{
	char cmd[2048], *buf = NULL;
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
			if (!buf)
				abort();
		}
		size_t n = fread(buf + len, 1, cap - len, f);

		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	st = pclose(f);
	if (out)
		*out = buf;
	else
		free(buf);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- leftovers, setup, teardown -------------------------------------------------------------- */

/* tanktest-<pid>-ak* of a run that is gone */
static bool leftover(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, PREFIX, strlen(PREFIX)) != 0)
		return false;
	pid = strtol(name + strlen(PREFIX), &end, 10);
	return strncmp(end, "-ak", 3) == 0 && pid > 0 && kill((pid_t)pid, 0) < 0 &&
	       errno == ESRCH;
}

static void cleanup_leftovers(void)
{
	struct dirent *de;
	DIR *dp;

	if ((dp = opendir("/run/netns"))) {
		while ((de = readdir(dp)))
			if (leftover(de->d_name))
				sh(NULL, "ip netns del '%s' 2>/dev/null", de->d_name);
		closedir(dp);
	}
	if ((dp = opendir("/sys/fs/bpf"))) {
		while ((de = readdir(dp))) {
			char path[300];

			if (!leftover(de->d_name))
				continue;
			snprintf(path, sizeof(path), "/sys/fs/bpf/%s", de->d_name);
			fs_rm_rf(path);
		}
		closedir(dp);
	}
	if ((dp = opendir(CG_ROOT))) {
		while ((de = readdir(dp))) {
			char path[600];

			if (!leftover(de->d_name))
				continue;
			snprintf(path, sizeof(path), CG_ROOT "/%s/ctr", de->d_name);
			rmdir(path);
			snprintf(path, sizeof(path), CG_ROOT "/%s", de->d_name);
			rmdir(path);
		}
		closedir(dp);
	}
}

static int open_ns(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return np_netns_open(path);
}

static int group_setup(void **state _unused_)
{
	int pid = (int)getpid();
	struct diag d = {};

	if (geteuid() != 0)
		return 0;
	cleanup_leftovers();
	snprintf(t.host, sizeof(t.host), PREFIX "%d-akhost", pid);
	snprintf(t.lan, sizeof(t.lan), PREFIX "%d-aklan", pid);
	snprintf(t.pod1, sizeof(t.pod1), PREFIX "%d-akpod1", pid);
	snprintf(t.pod2, sizeof(t.pod2), PREFIX "%d-akpod2", pid);
	snprintf(t.snd, sizeof(t.snd), PREFIX "%d-aksnd", pid);
	snprintf(t.rcv, sizeof(t.rcv), PREFIX "%d-akrcv", pid);
	snprintf(t.pod3, sizeof(t.pod3), PREFIX "%d-akpod3", pid);
	snprintf(t.pod4, sizeof(t.pod4), PREFIX "%d-akpod4", pid);
	snprintf(t.uid1, sizeof(t.uid1), PREFIX "%d-ak-uid1", pid);
	snprintf(t.uid2, sizeof(t.uid2), PREFIX "%d-ak-uid2", pid);
	snprintf(t.uid3, sizeof(t.uid3), PREFIX "%d-ak-uid3", pid);
	snprintf(t.pin_dir, sizeof(t.pin_dir), "/sys/fs/bpf/" PREFIX "%d-ak", pid);
	snprintf(t.cg, sizeof(t.cg), CG_ROOT "/" PREFIX "%d-ak", pid);
	snprintf(t.ctr, sizeof(t.ctr), "%s/ctr", t.cg);
	if (sh(NULL,
	       "set -e; for n in %s %s %s %s %s %s %s %s; do ip netns add $n;"
	       " ip -n $n link set lo up; done",
	       t.host, t.lan, t.pod1, t.pod2, t.snd, t.rcv, t.pod3, t.pod4) != 0)
		return -1;
	if (sh(NULL,
	       "set -e;"
	       "ip -n %1$s link add up0 type veth peer name lan0 netns %2$s;"
	       "ip -n %2$s addr add 198.18.30.1/24 dev lan0;"
	       "ip -n %2$s link set lan0 up;"
	       "ip -n %1$s link set up0 up;"
	       "ip -n %3$s link add s0 type veth peer name r0 netns %4$s;"
	       "ip -n %3$s addr add 198.18.31.1/24 dev s0;"
	       "ip -n %3$s link set s0 up;"
	       "ip -n %4$s addr add " RCV_IP "/24 dev r0;"
	       "ip -n %4$s link set r0 up",
	       t.host, t.lan, t.snd, t.rcv) != 0)
		return -1;
	if (mkdir(t.cg, 0755) < 0 || mkdir(t.ctr, 0755) < 0)
		return -1;
	t.host_ns = open_ns(t.host);
	t.lan_ns = open_ns(t.lan);
	t.pod1_ns = open_ns(t.pod1);
	t.pod2_ns = open_ns(t.pod2);
	t.rcv_ns = open_ns(t.rcv);
	t.orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (t.host_ns < 0 || t.lan_ns < 0 || t.pod1_ns < 0 || t.pod2_ns < 0 || t.rcv_ns < 0 ||
	    t.orig_ns < 0)
		return -1;
	if (setns(t.host_ns, CLONE_NEWNET) < 0)
		return -1;
	if (np_bpf_open(t.pin_dir, &t.bpf, &d) < 0) {
		print_error("np_bpf_open: %s\n", diag_text(&d, d.err));
		return -1;
	}
	t.ready = true;
	return 0;
}

static int group_teardown(void **state _unused_)
{
	int fds[] = { t.host_ns, t.lan_ns, t.pod1_ns, t.pod2_ns, t.rcv_ns };

	if (t.bpf) {
		np_bpf_pod_unregister(t.bpf, t.uid1, SLOT1, NULL, 0, NULL);
		np_bpf_pod_unregister(t.bpf, t.uid2, SLOT2, NULL, 0, NULL);
		np_bpf_pod_unregister(t.bpf, t.uid3, SLOT3, NULL, 0, NULL);
		np_bpf_close(t.bpf);
	}
	if (t.pin_dir[0])
		fs_rm_rf(t.pin_dir);
	if (t.orig_ns >= 0) {
		if (setns(t.orig_ns, CLONE_NEWNET) < 0)
			abort();
		close(t.orig_ns);
	}
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (t.host[0])
		sh(NULL, "for n in %s %s %s %s %s %s %s %s; do ip netns del $n 2>/dev/null; done",
		   t.host, t.lan, t.pod1, t.pod2, t.snd, t.rcv, t.pod3, t.pod4);
	/* the senders have exited (system() waited for them): the cgroups are empty */
	if (t.ctr[0]) {
		rmdir(t.ctr);
		rmdir(t.cg);
	}
	return 0;
}

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			skip();                                                                    \
	} while (0)

/* ---- helpers --------------------------------------------------------------------------------- */

static struct np_addr A(const char *text)
{
	struct np_addr a;

	assert_int_equal(np_addr_parse(text, &a), 0);
	return a;
}

static int ping_from(const char *ns, const char *dst, int count)
{
	return sh(NULL, "nsenter --net=/run/netns/%s ping -c%d -i0.2 -W1 -q %s >/dev/null 2>&1", ns,
		  count, dst);
}

struct icmp4 {
	uint64_t in, eg, in_drop;
};

/* The slot's IPv4 ICMP packets by direction (ARP and IPv6 housekeeping left out). */
static struct icmp4 icmp4(uint32_t slot)
{
	struct np_bpf_stats2 s;
	struct icmp4 r;

	assert_int_equal(np_bpf_pod_stats2(t.bpf, slot, &s, NULL), 0);
	r.in = s.pod[TANK_DIR_INGRESS].by[TANK_FAM_IPV4][TANK_PROTO_ICMP].packets;
	r.eg = s.pod[TANK_DIR_EGRESS].by[TANK_FAM_IPV4][TANK_PROTO_ICMP].packets;
	r.in_drop = s.pod[TANK_DIR_INGRESS].drops[TANK_REASON_POLICY].packets;
	np_bpf_stats2_free(&s);
	return r;
}

static uint32_t pinned_link_id(const char *uid, const char *name)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/pods/%s/%s", t.pin_dir, uid, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

static bool link_exists(uint32_t id)
{
	int fd = bpf_link_get_fd_by_id(id);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Programs at a tcx hook of ifindex inside a netns (this thread visits it). */
static unsigned int tcx_progs(int netns_fd, int ifindex, int attach_type)
{
	__u32 ids[8], n = ARRAY_SIZE(ids);

	assert_int_equal(setns(netns_fd, CLONE_NEWNET), 0);
	if (bpf_prog_query(ifindex, (enum bpf_attach_type)attach_type, 0, NULL, ids, &n) < 0)
		n = 0;
	if (setns(t.host_ns, CLONE_NEWNET) < 0)
		abort();
	return n;
}

/* The name of the first program at a tcx hook of ifindex in netns_fd ("" without one). */
static const char *tcx_prog_name(int netns_fd, int ifindex, int attach_type)
{
	static struct bpf_prog_info info;
	__u32 ids[8], n = ARRAY_SIZE(ids), len = sizeof(info);
	int fd;

	memset(&info, 0, sizeof(info));
	assert_int_equal(setns(netns_fd, CLONE_NEWNET), 0);
	if (bpf_prog_query(ifindex, (enum bpf_attach_type)attach_type, 0, NULL, ids, &n) < 0)
		n = 0;
	if (setns(t.host_ns, CLONE_NEWNET) < 0)
		abort();
	if (n && (fd = bpf_prog_get_fd_by_id(ids[0])) >= 0) {
		bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
	}
	return info.name;
}

static void policy_ingress_deny(uint32_t slot, bool deny)
{
	struct np_policy p = { .dir[TANK_DIR_INGRESS] = { true, NULL, 0 } };

	assert_int_equal(np_bpf_policy_set(t.bpf, slot, deny ? &p : NULL, NULL), 0);
}

/* n UDP datagrams to the receiver from a process in the ctr cgroup, inside the snd netns; each
 * one a new socket (bash /dev/udp). */
static void send_udp(int n)
{
	char cmds[256] = "";

	for (int i = 0; i < n && strlen(cmds) + 64 < sizeof(cmds); i++)
		snprintf(cmds + strlen(cmds), sizeof(cmds) - strlen(cmds),
			 "echo tank >/dev/udp/" RCV_IP "/%d; ", RCV_PORT);
	sh(NULL,
	   "sh -c 'echo $$ > %s/cgroup.procs && exec nsenter --net=/run/netns/%s bash -c "
	   "\"%s\"' 2>/dev/null",
	   t.ctr, t.snd, cmds);
}

static int received(int fd)
{
	char buf[64];
	int n = 0;

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* ---- (a) macvlan NICs with the same ifindex in two pods ------------------------------------ */

static void test_macvlan_same_ifindex(void **state _unused_)
{
	struct np_addr a1 = A(POD1_IP "/24"), a2 = A(POD2_IP "/24");
	struct np_macvlan_spec s1 = { .parent = "up0", .pod_ifname = "eth0",
				      .pod_netns_fd = t.pod1_ns, .pod_uid = t.uid1,
				      .addrs = &a1, .n_addrs = 1 };
	struct np_macvlan_spec s2 = { .parent = "up0", .pod_ifname = "eth0",
				      .pod_netns_fd = t.pod2_ns, .pod_uid = t.uid2,
				      .addrs = &a2, .n_addrs = 1 };
	struct tank_if_key key = {};
	struct tank_if_info ifi;
	struct icmp4 p1, p2, q1, q2;
	uint64_t c1, c2;
	uint32_t id_in, id_eg;
	struct diag d = {};
	char path[256];
	int fd;

	REQUIRE(t.ready);
	if (np_macvlan_setup(&s1, &t.st1, &d) < 0 || np_macvlan_setup(&s2, &t.st2, &d) < 0)
		fail_msg("macvlan: %s", diag_text(&d, d.err));
	/* the premise: one ifindex, two interfaces */
	assert_int_equal(t.st1.pod_ifindex, t.st2.pod_ifindex);

	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT1, "pod1", t.uid1, NULL), 0);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT2, "pod2", t.uid2, NULL), 0);
	if (np_bpf_macvlan_attach(t.bpf, t.uid1, "eth0", SLOT1, t.pod1_ns, t.st1.pod_ifindex,
				  &d) < 0 ||
	    np_bpf_macvlan_attach(t.bpf, t.uid2, "eth0", SLOT2, t.pod2_ns, t.st2.pod_ifindex,
				  &d) < 0)
		fail_msg("attach: %s", diag_text(&d, d.err));
	t.mv_attached = true;
	/* errors: a wrong ifindex in the pod netns, no netns */
	assert_int_equal(np_bpf_macvlan_attach(t.bpf, t.uid1, "eth1", SLOT1, t.pod1_ns, 999, &d),
			 -ENODEV);
	assert_int_equal(np_bpf_macvlan_attach(t.bpf, t.uid1, "eth1", SLOT1, -1, 2, NULL), -EBADF);

	/* two entries, one per netns cookie, ingress hook = pod ingress */
	assert_int_equal(np_bpf_netns_cookie(t.pod1_ns, &c1, NULL), 0);
	assert_int_equal(np_bpf_netns_cookie(t.pod2_ns, &c2, NULL), 0);
	assert_true(c1 != c2);
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS, t.pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	key.ifindex = (__u32)t.st1.pod_ifindex;
	key.netns = c1;
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	assert_int_equal(ifi.slot, SLOT1);
	assert_int_equal(ifi.ingress_dir, TANK_DIR_INGRESS);
	assert_string_equal(ifi.name, "eth0");
	key.netns = c2;
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	assert_int_equal(ifi.slot, SLOT2);
	close(fd);

	/* the programs sit on the pods' own eth0, in their netns */
	assert_int_equal(tcx_progs(t.pod1_ns, t.st1.pod_ifindex, 46 /* TCX_INGRESS */), 1);
	assert_int_equal(tcx_progs(t.pod1_ns, t.st1.pod_ifindex, 47 /* TCX_EGRESS */), 1);
	assert_int_equal(tcx_progs(t.pod2_ns, t.st2.pod_ifindex, 46), 1);

	/* idempotent: the pinned links are kept */
	id_in = pinned_link_id(t.uid1, "eth0_in");
	id_eg = pinned_link_id(t.uid1, "eth0_eg");
	assert_true(id_in && id_eg);
	assert_int_equal(np_bpf_macvlan_attach(t.bpf, t.uid1, "eth0", SLOT1, t.pod1_ns,
					       t.st1.pod_ifindex, NULL),
			 0);
	assert_int_equal(pinned_link_id(t.uid1, "eth0_in"), id_in);
	assert_int_equal(pinned_link_id(t.uid1, "eth0_eg"), id_eg);
	/* pod1's pins were made in pod1: pod2's interface of the same ifindex is not "it" */
	assert_int_not_equal(pinned_link_id(t.uid2, "eth0_in"), id_in);

	/* the LAN peer pings each pod: requests in, replies out, each in its own slot */
	p1 = icmp4(SLOT1);
	p2 = icmp4(SLOT2);
	assert_int_equal(ping_from(t.lan, POD1_IP, 3), 0);
	q1 = icmp4(SLOT1);
	q2 = icmp4(SLOT2);
	assert_int_equal(q1.in - p1.in, 3);
	assert_int_equal(q1.eg - p1.eg, 3);
	assert_int_equal(q2.in - p2.in + q2.eg - p2.eg, 0);
	assert_int_equal(ping_from(t.lan, POD2_IP, 2), 0);
	p1 = icmp4(SLOT1);
	p2 = icmp4(SLOT2);
	assert_int_equal(p2.in - q2.in, 2);
	assert_int_equal(p2.eg - q2.eg, 2);
	assert_int_equal(p1.in - q1.in + p1.eg - q1.eg, 0);

	/* pod to pod (bridge mode): each packet carries the sender's socket into the other
	 * netns; still counted on the interface it crosses */
	assert_int_equal(ping_from(t.pod2, POD1_IP, 2), 0);
	q1 = icmp4(SLOT1);
	q2 = icmp4(SLOT2);
	assert_int_equal(q1.in - p1.in, 2);
	assert_int_equal(q1.eg - p1.eg, 2);
	assert_int_equal(q2.in - p2.in, 2);
	assert_int_equal(q2.eg - p2.eg, 2);

	/* a deny-all ingress policy for pod1: its pings fail and are counted as drops; pod2 is
	 * not affected */
	policy_ingress_deny(SLOT1, true);
	assert_int_not_equal(ping_from(t.lan, POD1_IP, 1), 0);
	assert_int_equal(ping_from(t.lan, POD2_IP, 1), 0);
	assert_int_not_equal(ping_from(t.pod2, POD1_IP, 1), 0);
	p1 = icmp4(SLOT1);
	p2 = icmp4(SLOT2);
	assert_int_equal(p1.in_drop - q1.in_drop, 2);
	assert_int_equal(p2.in_drop, 0);
	policy_ingress_deny(SLOT1, false);
	assert_int_equal(ping_from(t.lan, POD1_IP, 1), 0);
}

/* A pod's NIC again, in a new netns with the same ifindex (the pod started over): the pinned
 * links of the old netns are not "already attached", they are replaced, and the old entry goes.
 * Then the clsact fallback, attached from inside a pod netns too. */
static void test_macvlan_moved_and_clsact(void **state _unused_)
{
	struct np_addr a3 = A("198.18.30.13/24"), a4 = A("198.18.30.14/24");
	struct np_macvlan_spec s3 = { .parent = "up0", .pod_ifname = "eth0",
				      .pod_netns_fd = -1, .pod_uid = "tanktest-ak-moved", /* MAC */
				      .addrs = &a3, .n_addrs = 1 };
	struct np_macvlan_spec s4 = { .parent = "up0", .pod_ifname = "eth0",
				      .pod_netns_fd = -1, .pod_uid = "tanktest-ak-clsact",
				      .addrs = &a4, .n_addrs = 1 };
	struct np_nic_state st3, st4;
	struct tank_if_key key = {};
	struct tank_if_info ifi;
	_cleanup_close_ int ns3 = -1, ns4 = -1;
	uint32_t id_in;
	uint64_t c1, c3;
	struct icmp4 p, q;
	char path[256], *out;
	struct diag d = {};
	int fd;

	REQUIRE(t.ready && t.mv_attached);
	ns3 = open_ns(t.pod3);
	ns4 = open_ns(t.pod4);
	assert_true(ns3 >= 0 && ns4 >= 0);
	s3.pod_netns_fd = ns3;
	s4.pod_netns_fd = ns4;
	if (np_macvlan_setup(&s3, &st3, &d) < 0 || np_macvlan_setup(&s4, &st4, &d) < 0)
		fail_msg("macvlan: %s", diag_text(&d, d.err));
	assert_int_equal(st3.pod_ifindex, t.st1.pod_ifindex);

	id_in = pinned_link_id(t.uid1, "eth0_in");
	assert_int_equal(np_bpf_macvlan_attach(t.bpf, t.uid1, "eth0", SLOT1, ns3, st3.pod_ifindex,
					       &d),
			 0);
	assert_int_not_equal(pinned_link_id(t.uid1, "eth0_in"), id_in);
	assert_false(link_exists(id_in));
	assert_int_equal(tcx_progs(t.pod1_ns, t.st1.pod_ifindex, 46), 0);
	assert_int_equal(tcx_progs(ns3, st3.pod_ifindex, 46), 1);
	assert_int_equal(np_bpf_netns_cookie(t.pod1_ns, &c1, NULL), 0);
	assert_int_equal(np_bpf_netns_cookie(ns3, &c3, NULL), 0);
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS, t.pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	key.ifindex = (__u32)st3.pod_ifindex;
	key.netns = c1;
	assert_int_not_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	key.netns = c3;
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	assert_int_equal(ifi.slot, SLOT1);
	assert_int_equal(ifi.nic, 0); /* the NIC keeps its index */
	close(fd);
	p = icmp4(SLOT1);
	assert_int_equal(ping_from(t.lan, "198.18.30.13", 2), 0);
	q = icmp4(SLOT1);
	assert_int_equal(q.in - p.in, 2);
	/* back to the first netns, for the tests after this one */
	assert_int_equal(np_bpf_macvlan_attach(t.bpf, t.uid1, "eth0", SLOT1, t.pod1_ns,
					       t.st1.pod_ifindex, NULL),
			 0);
	assert_int_equal(tcx_progs(ns3, st3.pod_ifindex, 46), 0);
	assert_int_equal(tcx_progs(t.pod1_ns, t.st1.pod_ifindex, 46), 1);
	/* a device inside a pod's netns runs tank_pod_*, which never take an ifindex alone */
	assert_string_equal(tcx_prog_name(t.pod1_ns, t.st1.pod_ifindex, 46), "tank_pod_in");
	assert_string_equal(tcx_prog_name(t.pod1_ns, t.st1.pod_ifindex, 47), "tank_pod_eg");

	/* clsact: filters made by libbpf's netlink inside the pod netns */
	assert_int_equal(np_bpf_set_attach_mode(t.bpf, "clsact"), 0);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT1 + 3, "pod4", "tanktest-ak-clsact", NULL),
			 0);
	d = (struct diag){};
	if (np_bpf_macvlan_attach(t.bpf, "tanktest-ak-clsact", "eth0", SLOT1 + 3, ns4,
				  st4.pod_ifindex, &d) < 0)
		fail_msg("clsact attach: %s", diag_text(&d, d.err));
	assert_int_equal(np_bpf_set_attach_mode(t.bpf, "tcx"), 0);
	assert_int_equal(sh(&out, "ip netns exec %s tc filter show dev eth0 ingress", t.pod4), 0);
	assert_non_null(strstr(out, "tank_pod_in"));
	free(out);
	p = icmp4(SLOT1 + 3);
	assert_int_equal(ping_from(t.lan, "198.18.30.14", 2), 0);
	q = icmp4(SLOT1 + 3);
	assert_int_equal(q.in - p.in, 2);
	assert_int_equal(q.eg - p.eg, 2);
	assert_int_equal(np_bpf_pod_unregister(t.bpf, "tanktest-ak-clsact", SLOT1 + 3, NULL, 0,
					       NULL),
			 0);
}

/* ---- (b) a "host" network pod: cgroup_skb on its v2 cgroup -------------------------------- */

static void test_cgroup_udp(void **state _unused_)
{
	struct np_policy deny_eg = { .dir[TANK_DIR_EGRESS] = { true, NULL, 0 } };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(RCV_PORT) };
	struct np_bpf_stats2 s;
	struct stat st;
	_cleanup_close_ int rfd = -1;
	uint32_t id_in;
	struct diag d = {};
	char *out;

	REQUIRE(t.ready);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT3, "hostpod", t.uid3, NULL), 0);
	/* not a v2 cgroup / the root: refused */
	assert_int_equal(np_bpf_cgroup_attach(t.bpf, t.uid3, SLOT3, "/sys/fs/cgroup/memory", &d),
			 -EINVAL);
	assert_int_equal(np_bpf_cgroup_attach(t.bpf, t.uid3, SLOT3, CG_ROOT, NULL), -EINVAL);
	if (np_bpf_cgroup_attach(t.bpf, t.uid3, SLOT3, t.cg, &d) < 0)
		fail_msg("cgroup attach: %s", diag_text(&d, d.err));
	t.cg_attached = true;
	id_in = pinned_link_id(t.uid3, "@cgroup_in");
	assert_true(id_in && pinned_link_id(t.uid3, "@cgroup_eg"));
	assert_int_equal(np_bpf_cgroup_attach(t.bpf, t.uid3, SLOT3, t.cg, NULL), 0);
	assert_int_equal(pinned_link_id(t.uid3, "@cgroup_in"), id_in);
	/* keyed by the cgroup id = st_ino of its directory */
	{
		char path[256];
		struct tank_cg_info ci;
		__u64 id;
		int fd;

		assert_int_equal(stat(t.cg, &st), 0);
		id = st.st_ino;
		snprintf(path, sizeof(path), "%s/" TANK_MAP_CGS, t.pin_dir);
		fd = bpf_obj_get(path);
		assert_true(fd >= 0);
		assert_int_equal(bpf_map_lookup_elem(fd, &id, &ci), 0);
		assert_int_equal(ci.slot, SLOT3);
		assert_int_equal(ci.level, 1);
		close(fd);
	}
	assert_int_equal(sh(&out, "bpftool cgroup show %s", t.cg), 0);
	print_message("bpftool cgroup show:\n%s", out);
	assert_non_null(strstr(out, "tank_cg_in"));
	assert_non_null(strstr(out, "tank_cg_eg"));
	free(out);

	rfd = np_netns_socket(t.rcv_ns, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, NULL);
	assert_true(rfd >= 0);
	inet_pton(AF_INET, RCV_IP, &sa.sin_addr);
	assert_int_equal(bind(rfd, (struct sockaddr *)&sa, sizeof(sa)), 0);

	/* a process in the container cgroup below the pod's: its datagrams are the pod's */
	send_udp(3);
	usleep(100 * 1000);
	assert_int_equal(received(rfd), 3);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT3, &s, NULL), 0);
	assert_int_equal(s.pod[TANK_DIR_EGRESS].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 3);
	/* from the IP header: 20 + 8 + "tank\n" */
	assert_int_equal(s.pod[TANK_DIR_EGRESS].by[TANK_FAM_IPV4][TANK_PROTO_UDP].bytes, 3 * 33);
	assert_string_equal(s.nic[0].name, "host");
	np_bpf_stats2_free(&s);

	/* ping from inside: the requests out and the replies in */
	assert_int_equal(sh(NULL,
			    "sh -c 'echo $$ > %s/cgroup.procs && exec nsenter --net=/run/netns/%s "
			    "ping -c2 -i0.2 -W1 -q " RCV_IP "' >/dev/null 2>&1",
			    t.ctr, t.snd),
			 0);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT3, &s, NULL), 0);
	assert_int_equal(s.pod[TANK_DIR_EGRESS].by[TANK_FAM_IPV4][TANK_PROTO_ICMP].packets, 2);
	assert_int_equal(s.pod[TANK_DIR_INGRESS].by[TANK_FAM_IPV4][TANK_PROTO_ICMP].packets, 2);
	np_bpf_stats2_free(&s);

	/* a deny-all egress policy: the sends fail (EPERM), nothing arrives, drops counted */
	assert_int_equal(np_bpf_policy_set(t.bpf, SLOT3, &deny_eg, NULL), 0);
	send_udp(2);
	usleep(100 * 1000);
	assert_int_equal(received(rfd), 0);
	assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT3, &s, NULL), 0);
	assert_int_equal(s.pod[TANK_DIR_EGRESS].drops[TANK_REASON_POLICY].packets, 2);
	np_bpf_stats2_free(&s);
	/* another process outside the cgroup, same netns: not the pod's, not filtered */
	assert_int_equal(sh(NULL,
			    "nsenter --net=/run/netns/%s bash -c 'echo tank > /dev/udp/" RCV_IP
			    "/%d'",
			    t.snd, RCV_PORT),
			 0);
	usleep(100 * 1000);
	assert_int_equal(received(rfd), 1);
	assert_int_equal(np_bpf_policy_set(t.bpf, SLOT3, NULL, NULL), 0);
}

/* ---- (c) pins survive a close/reopen; unregister leaves no link ---------------------------- */

static void test_pins_reopen_unregister(void **state _unused_)
{
	uint32_t ids1[2], ids2[2], ids3[2];
	struct icmp4 p2, q2;
	struct diag d = {};
	char path[256], *out;

	REQUIRE(t.ready && t.mv_attached && t.cg_attached);
	ids1[0] = pinned_link_id(t.uid1, "eth0_in");
	ids1[1] = pinned_link_id(t.uid1, "eth0_eg");
	ids2[0] = pinned_link_id(t.uid2, "eth0_in");
	ids2[1] = pinned_link_id(t.uid2, "eth0_eg");
	ids3[0] = pinned_link_id(t.uid3, "@cgroup_in");
	ids3[1] = pinned_link_id(t.uid3, "@cgroup_eg");

	/* tankd away: enforcement and counting go on through the pins */
	p2 = icmp4(SLOT2);
	np_bpf_close(t.bpf);
	t.bpf = NULL;
	assert_int_equal(ping_from(t.lan, POD2_IP, 2), 0);
	if (np_bpf_open(t.pin_dir, &t.bpf, &d) < 0)
		fail_msg("reopen: %s", diag_text(&d, d.err));
	q2 = icmp4(SLOT2);
	assert_int_equal(q2.in - p2.in, 2);
	/* the same links, now running the programs just loaded, still counting */
	assert_int_equal(pinned_link_id(t.uid2, "eth0_in"), ids2[0]);
	assert_int_equal(pinned_link_id(t.uid3, "@cgroup_eg"), ids3[1]);
	assert_int_equal(np_bpf_macvlan_attach(t.bpf, t.uid2, "eth0", SLOT2, t.pod2_ns,
					       t.st2.pod_ifindex, NULL),
			 0);
	assert_int_equal(np_bpf_cgroup_attach(t.bpf, t.uid3, SLOT3, t.cg, NULL), 0);
	assert_int_equal(pinned_link_id(t.uid2, "eth0_in"), ids2[0]);
	assert_int_equal(pinned_link_id(t.uid3, "@cgroup_in"), ids3[0]);
	assert_int_equal(ping_from(t.lan, POD2_IP, 1), 0);
	p2 = icmp4(SLOT2);
	assert_int_equal(p2.in - q2.in, 1);
	/* the new cgroup programs know the pod cgroup's level: the container's sends count */
	{
		struct np_bpf_stats2 s0, s1;

		assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT3, &s0, NULL), 0);
		send_udp(1);
		assert_int_equal(np_bpf_pod_stats2(t.bpf, SLOT3, &s1, NULL), 0);
		assert_int_equal(s1.pod[TANK_DIR_EGRESS].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets -
					 s0.pod[TANK_DIR_EGRESS].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets,
				 1);
		np_bpf_stats2_free(&s0);
		np_bpf_stats2_free(&s1);
	}

	/* pod1 unregistered while its netns lives: links detached there, pins gone */
	assert_int_equal(np_bpf_pod_unregister(t.bpf, t.uid1, SLOT1, NULL, 0, &d), 0);
	snprintf(path, sizeof(path), "%s/pods/%s", t.pin_dir, t.uid1);
	assert_false(fs_exists(path));
	assert_false(link_exists(ids1[0]));
	assert_false(link_exists(ids1[1]));
	assert_int_equal(tcx_progs(t.pod1_ns, t.st1.pod_ifindex, 46), 0);
	assert_int_equal(tcx_progs(t.pod1_ns, t.st1.pod_ifindex, 47), 0);

	/* pod2: the netns goes first (its links lose their device), then the unregister */
	assert_int_equal(sh(NULL, "ip netns del %s", t.pod2), 0);
	t.pod2_gone = true;
	assert_int_equal(np_bpf_pod_unregister(t.bpf, t.uid2, SLOT2, NULL, 0, &d), 0);
	snprintf(path, sizeof(path), "%s/pods/%s", t.pin_dir, t.uid2);
	assert_false(fs_exists(path));
	assert_false(link_exists(ids2[0]));
	assert_false(link_exists(ids2[1]));

	/* the cgroup pod: nothing left on the cgroup */
	assert_int_equal(np_bpf_pod_unregister(t.bpf, t.uid3, SLOT3, NULL, 0, &d), 0);
	assert_false(link_exists(ids3[0]));
	assert_false(link_exists(ids3[1]));
	assert_int_equal(sh(&out, "bpftool cgroup show %s", t.cg), 0);
	assert_null(strstr(out, "tank_cg"));
	free(out);
	{
		struct tank_cg_info ci;
		struct stat st;
		__u64 id;
		int fd;

		assert_int_equal(stat(t.cg, &st), 0);
		id = st.st_ino;
		snprintf(path, sizeof(path), "%s/" TANK_MAP_CGS, t.pin_dir);
		fd = bpf_obj_get(path);
		assert_true(fd >= 0);
		assert_int_not_equal(bpf_map_lookup_elem(fd, &id, &ci), 0);
		close(fd);
	}
	t.mv_attached = t.cg_attached = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_macvlan_same_ifindex),
		cmocka_unit_test(test_macvlan_moved_and_clsact),
		cmocka_unit_test(test_cgroup_udp),
		cmocka_unit_test(test_pins_reopen_unregister),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
