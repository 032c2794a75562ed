/* test_bpf_pins.c - np_bpf: pinned maps reused across opens, slots, tcx/clsact attach on a private lo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "netplane/netplane.h"

/*
 * The test process unshares its network namespace first: the attach tests use that private
 * namespace's loopback (ifindex 1) and ping 127.0.0.1 there; nothing outside is touched. Pins
 * live under /sys/fs/bpf/tanktest-<pid>-*, removed at the end and, for dead runs, at start.
 */

#define PREFIX "tanktest-"
#define SLOT 3
#define LO 1

static struct {
	bool ready;
	char pin_dir[128], bad_dir[128];
	struct np_bpf *bpf;
	int ncpus;
} t;

static int sh(char **out, const char *fmt, ...) _printf_(2, 3);
static int sh(char **out, const char *fmt, ...)
{
	char cmd[1024], *buf = malloc(65537);
	size_t len = 0, n;
	va_list ap;
	FILE *f;
	int st;

	assert_non_null(buf);
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "re");
	assert_non_null(f);
	while (len < 65536 && (n = fread(buf + len, 1, 65536 - len, f)) > 0)
		len += n;
	buf[len] = '\0';
	st = pclose(f);
	if (out)
		*out = buf;
	else
		free(buf);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cleanup_leftovers(void)
{
	DIR *dp = opendir("/sys/fs/bpf");
	struct dirent *de;

	if (!dp)
		return;
	while ((de = readdir(dp))) {
		char *end, path[300];
		long pid;

		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) != 0)
			continue;
		pid = strtol(de->d_name + strlen(PREFIX), &end, 10);
		if ((*end != '-' && *end != '\0') || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno == EPERM)
			continue;
		snprintf(path, sizeof(path), "/sys/fs/bpf/%s", de->d_name);
		fs_rm_rf(path);
	}
	closedir(dp);
}

static int group_setup(void **state _unused_)
{
	_cleanup_close_ int self = -1;
	struct diag d = {};

	if (geteuid() != 0)
		return 0;
	cleanup_leftovers();
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	self = np_netns_open("/proc/self/ns/net");
	if (self < 0 || np_netns_lo_up(self, &d) < 0)
		return -1;
	snprintf(t.pin_dir, sizeof(t.pin_dir), "/sys/fs/bpf/" PREFIX "%d-pins", (int)getpid());
	snprintf(t.bad_dir, sizeof(t.bad_dir), "/sys/fs/bpf/" PREFIX "%d-bad", (int)getpid());
	t.ncpus = libbpf_num_possible_cpus();
	if (np_bpf_open(t.pin_dir, &t.bpf, &d) < 0) {
		print_error("np_bpf_open: %s\n", diag_text(&d, d.err));
		return -1;
	}
	t.ready = true;
	return 0;
}

static int group_teardown(void **state _unused_)
{
	np_bpf_close(t.bpf);
	if (t.pin_dir[0])
		fs_rm_rf(t.pin_dir);
	if (t.bad_dir[0])
		fs_rm_rf(t.bad_dir);
	return 0;
}

/* each test leaves the slot unregistered and the mode tcx */
static int test_teardown(void **state _unused_)
{
	if (!t.ready)
		return 0;
	np_bpf_set_attach_mode(t.bpf, "tcx");
	np_bpf_pod_unregister(t.bpf, "uid-a", SLOT, (int[]){ LO }, 1, NULL);
	return 0;
}

#define REQUIRE_READY()                                                                            \
	do {                                                                                       \
		if (!t.ready)                                                                      \
			skip();                                                                    \
	} while (0)

static struct tank_pod_stats stats(void)
{
	struct tank_pod_stats s;

	assert_int_equal(np_bpf_pod_stats(t.bpf, SLOT, &s, NULL), 0);
	return s;
}

/* Bump the slot's counters behind np_bpf's back, through the pinned map: 1 packet per CPU in,
 * 2 out (one tank_stats_v2 entry per direction). */
static void bump_pinned(void)
{
	struct tank_counter per[t.ncpus];
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/" TANK_MAP_STATS, t.pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	for (int dir = 0; dir < TANK_DIR_MAX; dir++) {
		struct tank_stat_key k = { .slot = SLOT, .dir = dir, .family = TANK_FAM_IPV4,
					   .proto = TANK_PROTO_TCP };

		for (int i = 0; i < t.ncpus; i++)
			per[i] = dir == TANK_DIR_INGRESS ? (struct tank_counter){ 1, 100 } :
							  (struct tank_counter){ 2, 200 };
		assert_int_equal(bpf_map_update_elem(fd, &k, per, 0), 0);
	}
	close(fd);
}

static void ping_lo(void)
{
	assert_int_equal(sh(NULL, "ping -c1 -W1 -q 127.0.0.1 >/dev/null 2>&1"), 0);
}

static uint32_t link_id(const char *path)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0;
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_open_pins(void **state _unused_)
{
	const char *maps[] = { TANK_MAP_STATS, TANK_MAP_PODS, TANK_MAP_IFS, "pods" };
	char path[256];

	REQUIRE_READY();
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		snprintf(path, sizeof(path), "%s/%s", t.pin_dir, maps[i]);
		assert_true(fs_exists(path));
	}
	assert_string_equal(np_bpf_attach_mode(t.bpf), "tcx");
	assert_int_equal(np_bpf_set_attach_mode(t.bpf, "xdp"), -EINVAL);
	assert_int_equal(np_bpf_set_attach_mode(t.bpf, "clsact"), 0);
	assert_string_equal(np_bpf_attach_mode(t.bpf), "clsact");
	assert_int_equal(np_bpf_set_attach_mode(t.bpf, "tcx"), 0);
}

static void test_slots(void **state _unused_)
{
	struct tank_pod_info info;
	struct tank_pod_stats s;
	struct diag d = {};

	REQUIRE_READY();
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), -ENOENT);
	assert_int_equal(np_bpf_pod_info(t.bpf, 0, &info), -ERANGE);
	assert_int_equal(np_bpf_pod_register(t.bpf, 0, "web", "uid-a", &d), -ERANGE);
	assert_non_null(strstr(d.msg, "slot"));
	assert_int_equal(np_bpf_pod_register(t.bpf, TANK_MAX_PODS, "web", "uid-a", NULL), -ERANGE);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "../etc", NULL), -EINVAL);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "", NULL), -EINVAL);
	assert_int_equal(np_bpf_pod_stats(t.bpf, TANK_MAX_PODS, &s, NULL), -ERANGE);

	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "uid-a", NULL), 0);
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), 0);
	assert_string_equal(info.name, "web");
	assert_string_equal(info.uid, "uid-a");
	s = stats();
	assert_int_equal(s.ingress.packets + s.egress.packets, 0);
}

/* Counters and slots survive a close/open (a tankd restart); a new owner starts from zero. */
static void test_reopen_keeps_counters(void **state _unused_)
{
	struct tank_pod_info info;
	struct tank_pod_stats s;
	struct diag d = {};

	struct np_addr peer;
	struct np_port_range port = { IPPROTO_TCP, 80, 80 };
	struct np_rule rule = { &peer, 1, NULL, 0, &port, 1 };
	struct np_policy pol = { .dir[TANK_DIR_INGRESS] = { true, &rule, 1 }, .audit = true };
	struct np_verdict v;

	REQUIRE_READY();
	assert_int_equal(np_addr_parse("198.18.0.0/24", &peer), 0);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "uid-a", NULL), 0);
	assert_int_equal(np_bpf_policy_set(t.bpf, SLOT, &pol, NULL), 0);
	bump_pinned();
	np_bpf_close(t.bpf);
	t.bpf = NULL;
	if (np_bpf_open(t.pin_dir, &t.bpf, &d) < 0) {
		t.ready = false;
		fail_msg("reopen: %s", diag_text(&d, d.err));
	}
	s = stats();
	assert_int_equal(s.ingress.packets, (uint64_t)t.ncpus);
	assert_int_equal(s.ingress.bytes, 100ull * (uint64_t)t.ncpus);
	assert_int_equal(s.egress.packets, 2ull * (uint64_t)t.ncpus);
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), 0);
	assert_string_equal(info.uid, "uid-a");
	/* the policy and its mode are pinned too */
	peer.prefix = 32;
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, TANK_DIR_INGRESS, &peer, 80, IPPROTO_TCP,
					     &v, NULL),
			 0);
	assert_int_equal(v.reason, TANK_REASON_RULE);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, TANK_DIR_INGRESS, &peer, 81, IPPROTO_TCP,
					     &v, NULL),
			 0);
	assert_int_equal(v.verdict, TANK_VERDICT_AUDIT);

	/* re-adoption by the same pod keeps counting (and its policy) */
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "uid-a", NULL), 0);
	assert_int_equal(stats().egress.packets, 2ull * (uint64_t)t.ncpus);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, TANK_DIR_INGRESS, &peer, 80, IPPROTO_TCP,
					     &v, NULL),
			 0);
	assert_int_equal(v.reason, TANK_REASON_RULE);
	/* the slot goes to another pod: zeroed, no policy */
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "db", "uid-b", NULL), 0);
	s = stats();
	assert_int_equal(s.ingress.packets + s.egress.packets + s.ingress.bytes, 0);
	assert_int_equal(np_bpf_verdict_test(t.bpf, SLOT, TANK_DIR_INGRESS, &peer, 81, IPPROTO_TCP,
					     &v, NULL),
			 0);
	assert_int_equal(v.reason, TANK_REASON_NO_POLICY);
	/* unregister frees the slot; counters stay until the next register */
	bump_pinned();
	assert_int_equal(np_bpf_pod_unregister(t.bpf, "uid-b", SLOT, NULL, 0, NULL), 0);
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), -ENOENT);
	assert_int_equal(stats().ingress.packets, (uint64_t)t.ncpus);
}

/* A pinned map with another layout under the same name is refused, with libbpf's reason. */
static void test_incompatible_pin(void **state _unused_)
{
	struct np_bpf *b = NULL;
	char path[256];
	struct diag d = {};
	int fd;

	REQUIRE_READY();
	assert_int_equal(fs_mkdir_p(t.bad_dir, 0700), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, TANK_MAP_STATS, 4, 8, 16, NULL);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/" TANK_MAP_STATS, t.bad_dir);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	assert_int_equal(np_bpf_open(t.bad_dir, &b, &d), -EINVAL);
	assert_null(b);
	assert_non_null(strstr(d.msg, "loading"));
	print_message("diag: %s\n", d.msg);
}

/* The slot tank_ifh_v1 (pinned) gives ifindex LO of this netns; 0: no entry. */
static unsigned int ifh_slot(void)
{
	char path[300];
	struct tank_ifh h = { 0 };
	__u32 i = LO & (TANK_IFH_SIZE - 1);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", t.pin_dir, TANK_MAP_IFH);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &i, &h), 0);
	close(fd);
	return h.ifindex == LO ? h.slot : 0;
}

static void test_tcx_attach_lo(void **state _unused_)
{
	char in[256], eg[256], dir[256];
	struct tank_pod_stats s0, s1;
	uint32_t id_in, id_eg;
	struct diag d = {};
	int fd;

	REQUIRE_READY();
	snprintf(dir, sizeof(dir), "%s/pods/uid-a", t.pin_dir);
	snprintf(in, sizeof(in), "%s/lo_in", dir);
	snprintf(eg, sizeof(eg), "%s/lo_eg", dir);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "uid-a", NULL), 0);
	assert_int_equal(np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, 0, &d), -EINVAL);
	assert_int_equal(np_bpf_veth_attach(t.bpf, "uid-a", "../x", SLOT, LO, NULL), -EINVAL);
	if (np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, &d) < 0)
		fail_msg("attach: %s", diag_text(&d, d.err));
	id_in = link_id(in);
	id_eg = link_id(eg);
	assert_true(id_in && id_eg && id_in != id_eg);
	assert_int_equal(ifh_slot(), SLOT); /* an interface of this netns: in the array too */

	/* on lo each packet passes egress (counted towards the pod) and ingress (from it) */
	s0 = stats();
	ping_lo();
	s1 = stats();
	assert_true(s1.ingress.packets - s0.ingress.packets >= 2);
	assert_true(s1.egress.packets - s0.egress.packets >= 2);
	assert_true(s1.ingress.bytes - s0.ingress.bytes >= 2 * 98);

	/* again: kept */
	assert_int_equal(np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, NULL), 0);
	assert_int_equal(link_id(in), id_in);
	assert_int_equal(link_id(eg), id_eg);

	/* a pinned link that no longer hooks anything (as after its device went away) is
	 * replaced; the good one next to it is kept */
	fd = bpf_obj_get(in);
	assert_true(fd >= 0);
	assert_int_equal(bpf_link_detach(fd), 0);
	close(fd);
	assert_int_equal(np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, NULL), 0);
	assert_int_not_equal(link_id(in), id_in);
	assert_int_equal(link_id(eg), id_eg);
	assert_int_not_equal(sh(NULL, "bpftool link show id %u >/dev/null 2>&1", id_in), 0);
	id_in = link_id(in);
	s0 = stats();
	ping_lo();
	s1 = stats();
	assert_true(s1.egress.packets - s0.egress.packets >= 2);

	/* unregister: pins gone, links detached, traffic no longer counted */
	assert_int_equal(np_bpf_pod_unregister(t.bpf, "uid-a", SLOT, NULL, 0, NULL), 0);
	assert_false(fs_exists(dir));
	assert_int_equal(ifh_slot(), 0);
	assert_int_not_equal(sh(NULL, "bpftool link show id %u >/dev/null 2>&1", id_in), 0);
	assert_int_not_equal(sh(NULL, "bpftool link show id %u >/dev/null 2>&1", id_eg), 0);
	s0 = stats();
	ping_lo();
	s1 = stats();
	assert_int_equal(s1.ingress.packets, s0.ingress.packets);
	assert_int_equal(s1.egress.packets, s0.egress.packets);
}

static void test_clsact_attach_lo(void **state _unused_)
{
	struct tank_pod_stats s0, s1;
	struct diag d = {};
	char *out;

	REQUIRE_READY();
	assert_int_equal(np_bpf_set_attach_mode(t.bpf, "clsact"), 0);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "uid-a", NULL), 0);
	if (np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, &d) < 0)
		fail_msg("attach: %s", diag_text(&d, d.err));
	/* idempotent: replaced in place, not stacked */
	assert_int_equal(np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, NULL), 0);
	assert_int_equal(sh(&out, "tc filter show dev lo ingress"), 0);
	print_message("tc filter show dev lo ingress:\n%s", out);
	assert_non_null(strstr(out, "tank_host_in"));
	assert_non_null(strstr(out, "direct-action"));
	assert_null(strstr(strstr(out, "direct-action") + 1, "direct-action"));
	free(out);
	assert_int_equal(sh(&out, "tc filter show dev lo egress"), 0);
	assert_non_null(strstr(out, "tank_host_eg"));
	free(out);

	s0 = stats();
	ping_lo();
	s1 = stats();
	assert_true(s1.ingress.packets - s0.ingress.packets >= 2);
	assert_true(s1.egress.packets - s0.egress.packets >= 2);

	assert_int_equal(np_bpf_pod_unregister(t.bpf, "uid-a", SLOT, (int[]){ LO }, 1, NULL), 0);
	assert_int_equal(sh(&out, "tc filter show dev lo ingress"), 0);
	assert_null(strstr(out, "tank_host_in"));
	free(out);
	assert_int_equal(sh(&out, "tc filter show dev lo egress"), 0);
	assert_null(strstr(out, "tank_host_eg"));
	free(out);
}

/* An ifindex now recorded for another slot is not touched by this slot's unregister. */
static void test_unregister_spares_reused_ifindex(void **state _unused_)
{
	struct tank_if_info ifi;
	struct tank_if_key key = { .ifindex = 77 };
	char path[256];
	uint64_t cookie;
	int fd;

	REQUIRE_READY();
	assert_int_equal(np_bpf_netns_cookie(-1, &cookie, NULL), 0);
	key.netns = cookie;
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS, t.pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	ifi = (struct tank_if_info){ .slot = SLOT + 1, .ingress_dir = TANK_DIR_EGRESS };
	assert_int_equal(bpf_map_update_elem(fd, &key, &ifi, 0), 0);
	key.ifindex = 78;
	ifi.slot = SLOT;
	assert_int_equal(bpf_map_update_elem(fd, &key, &ifi, 0), 0);
	/* an interface of this slot in another netns (a macvlan in the pod) */
	key.netns = cookie + 1;
	key.ifindex = 77;
	assert_int_equal(bpf_map_update_elem(fd, &key, &ifi, 0), 0);

	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "uid-a", NULL), 0);
	assert_int_equal(np_bpf_pod_unregister(t.bpf, "uid-a", SLOT, (int[]){ 77 }, 1, NULL), 0);
	key.netns = cookie;
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0); /* another pod's: kept */
	assert_int_equal(ifi.slot, SLOT + 1);
	key.ifindex = 78; /* not listed but ours: swept */
	assert_int_not_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	key.netns = cookie + 1; /* ours in the pod netns: swept */
	key.ifindex = 77;
	assert_int_not_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	key.netns = cookie;
	bpf_map_delete_elem(fd, &key);
	close(fd);
}

/* After a restart: a check that says what is missing, the sweep of unknown pods (totals kept
 * as a tombstone), and programs not ours listed but left alone. */
static void test_check_sweep_foreign(void **state _unused_)
{
	char in[256], dir[256], path[256];
	struct np_bpf_prog_ref f[4];
	struct np_bpf_sweep_stats st;
	struct tank_if_key key = { .ifindex = 79 };
	struct tank_if_info ifi = { .slot = SLOT + 2 };
	struct tank_pod_info info;
	struct tank_tomb tomb;
	const char *known[] = { "uid-b" };
	struct diag d = {};
	char *out;
	int fd;

	REQUIRE_READY();
	snprintf(dir, sizeof(dir), "%s/pods/uid-a", t.pin_dir);
	snprintf(in, sizeof(in), "%s/lo_in", dir);
	assert_int_equal(np_bpf_pod_register(t.bpf, SLOT, "web", "uid-a", NULL), 0);
	assert_int_equal(np_bpf_nic_check(t.bpf, "uid-a", "lo", -1, LO, NULL), 0);
	if (np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, &d) < 0)
		fail_msg("attach: %s", diag_text(&d, d.err));
	assert_int_equal(np_bpf_nic_check(t.bpf, "uid-a", "lo", -1, LO, NULL), 1);
	assert_int_equal(np_bpf_nic_check(t.bpf, "uid-a", "lo", -1, 999, NULL), -ENODEV);
	/* only ours on lo */
	assert_int_equal(np_bpf_foreign_nic(t.bpf, -1, LO, f, ARRAY_SIZE(f), NULL), 0);
	/* a link detached behind our back: missing, and put back by the attach */
	fd = bpf_obj_get(in);
	assert_true(fd >= 0);
	assert_int_equal(bpf_link_detach(fd), 0);
	close(fd);
	assert_int_equal(np_bpf_nic_check(t.bpf, "uid-a", "lo", -1, LO, NULL), 0);
	assert_int_equal(np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, NULL), 0);
	assert_int_equal(np_bpf_nic_check(t.bpf, "uid-a", "lo", -1, LO, NULL), 1);
	/* in clsact mode our filter is ours, and its absence is seen */
	assert_int_equal(np_bpf_set_attach_mode(t.bpf, "clsact"), 0);
	assert_int_equal(np_bpf_nic_check(t.bpf, "uid-a", "lo", -1, LO, NULL), 0);
	assert_int_equal(np_bpf_veth_attach(t.bpf, "uid-a", "lo", SLOT, LO, NULL), 0);
	assert_int_equal(np_bpf_nic_check(t.bpf, "uid-a", "lo", -1, LO, NULL), 1);
	assert_int_equal(np_bpf_foreign_nic(t.bpf, -1, LO, f, ARRAY_SIZE(f), NULL), 0);
	np_bpf_set_attach_mode(t.bpf, "tcx");

	/* an interface entry of a slot nobody owns, then the sweep: uid-a is unknown */
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS, t.pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &key, &ifi, 0), 0);
	assert_int_equal(np_bpf_sweep(t.bpf, known, 1, &st, NULL), 0);
	assert_int_equal(st.slots, 1);
	assert_true(st.ifs >= 1);
	assert_int_not_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	close(fd);
	assert_false(fs_exists(dir));
	assert_int_equal(np_bpf_pod_info(t.bpf, SLOT, &info), -ENOENT);
	assert_int_equal(np_bpf_tombstone_get(t.bpf, "uid-a", true, &tomb), 0);
	assert_string_equal(tomb.name, "web");
	/* our clsact filter on lo went with the swept slot */
	assert_int_equal(sh(&out, "tc filter show dev lo ingress"), 0);
	assert_null(strstr(out, "tank_host_in"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_open_pins, test_teardown),
		cmocka_unit_test_teardown(test_slots, test_teardown),
		cmocka_unit_test_teardown(test_reopen_keeps_counters, test_teardown),
		cmocka_unit_test_teardown(test_incompatible_pin, test_teardown),
		cmocka_unit_test_teardown(test_tcx_attach_lo, test_teardown),
		cmocka_unit_test_teardown(test_clsact_attach_lo, test_teardown),
		cmocka_unit_test_teardown(test_unregister_spares_reused_ifindex, test_teardown),
		cmocka_unit_test_teardown(test_check_sweep_foreign, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
