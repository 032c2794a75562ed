/* test_bpf_migrate.c - np_bpf_open on v1 pins: counters carried over, attachments moved, idempotent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "netplane/netplane.h"

/*
 * The process unshares its network namespace: the "old" program is attached (tcx) to that
 * namespace's loopback only. Pins live under /sys/fs/bpf/tanktest-<pid>-mig, removed at the end
 * and, for dead runs, at start.
 */

#define PREFIX "tanktest-"
#define SLOT 3
#define UID "tanktest-mig"
#define LO 1

static struct {
	bool ready;
	char pin_dir[128];
	int ncpus;
} t;

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

	if (geteuid() != 0)
		return 0;
	cleanup_leftovers();
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	self = np_netns_open("/proc/self/ns/net");
	if (self < 0 || np_netns_lo_up(self, NULL) < 0)
		return -1;
	t.ncpus = libbpf_num_possible_cpus();
	snprintf(t.pin_dir, sizeof(t.pin_dir), "/sys/fs/bpf/" PREFIX "%d-mig", (int)getpid());
	t.ready = true;
	return 0;
}

static int group_teardown(void **state _unused_)
{
	if (t.pin_dir[0]) {
		char dir[160];

		fs_rm_rf(t.pin_dir);
		snprintf(dir, sizeof(dir), "%s-v2", t.pin_dir);
		fs_rm_rf(dir);
		snprintf(dir, sizeof(dir), "%s-fc1", t.pin_dir);
		fs_rm_rf(dir);
	}
	return 0;
}

#define REQUIRE_READY()                                                                            \
	do {                                                                                       \
		if (!t.ready)                                                                      \
			skip();                                                                    \
	} while (0)

static void pin_new_at(int fd, const char *dir, const char *name)
{
	char path[256];

	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
}

static void pin_new(int fd, const char *name)
{
	pin_new_at(fd, t.pin_dir, name);
}

/* What an older tankd left: v1 counters and interfaces; first time also a slot and a tcx link
 * to its program. */
static void make_v1_pins(bool with_link)
{
	struct tank_pod_stats per[t.ncpus];
	struct { __u32 slot, dir; } ifi = { SLOT, TANK_DIR_EGRESS };
	struct tank_pod_info info = { .name = "web", .uid = UID };
	uint32_t key = SLOT, ifindex = LO;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, TANK_MAP_STATS_V1, 4, sizeof(per[0]),
			    TANK_MAX_PODS, NULL);
	for (int i = 0; i < t.ncpus; i++)
		per[i] = (struct tank_pod_stats){ .ingress = { 1, 100 }, .egress = { 2, 300 } };
	assert_int_equal(bpf_map_update_elem(fd, &key, per, 0), 0);
	pin_new(fd, TANK_MAP_STATS_V1);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, TANK_MAP_IFS_V1, 4, 8, TANK_MAX_IFS, NULL);
	assert_int_equal(bpf_map_update_elem(fd, &ifindex, &ifi, 0), 0);
	pin_new(fd, TANK_MAP_IFS_V1);
	if (with_link) {
		/* tank_pods_v1 keeps its layout: created once, reused by the new tankd */
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, TANK_MAP_PODS, 4, sizeof(info),
				    TANK_MAX_PODS, NULL);
		assert_int_equal(bpf_map_update_elem(fd, &key, &info, 0), 0);
		pin_new(fd, TANK_MAP_PODS);
		/* the old program: "return TCX_NEXT" */
		struct bpf_insn insns[] = {
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = -1 },
			{ .code = BPF_JMP | BPF_EXIT },
		};
		char path[256];
		int prog, link;

		prog = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tank_old_in", "GPL", insns, 2, NULL);
		assert_true(prog >= 0);
		link = bpf_link_create(prog, LO, (enum bpf_attach_type)46 /* TCX_INGRESS */, NULL);
		assert_true(link >= 0);
		snprintf(path, sizeof(path), "%s/pods/" UID, t.pin_dir);
		assert_int_equal(fs_mkdir_p(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/pods/" UID "/lo_in", t.pin_dir);
		assert_int_equal(bpf_obj_pin(link, path), 0);
		close(link);
		close(prog);
	}
}

static bool pinned(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", t.pin_dir, name);
	return fs_exists(path);
}

static void link_prog_name(char *buf, size_t len)
{
	struct bpf_link_info li = {};
	struct bpf_prog_info pi = {};
	__u32 l1 = sizeof(li), l2 = sizeof(pi);
	char path[256];
	int fd, pfd;

	snprintf(path, sizeof(path), "%s/pods/" UID "/lo_in", t.pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &li, &l1), 0);
	close(fd);
	pfd = bpf_prog_get_fd_by_id(li.prog_id);
	assert_true(pfd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(pfd, &pi, &l2), 0);
	close(pfd);
	snprintf(buf, len, "%s", pi.name);
}

static void ping_lo(void)
{
	assert_int_equal(system("ping -c1 -W1 -q 127.0.0.1 >/dev/null 2>&1"), 0);
}

static void test_migrate_v1(void **state _unused_)
{
	struct np_bpf *b = NULL;
	struct tank_pod_stats s;
	struct np_bpf_stats2 s2;
	struct tank_pod_info info;
	struct diag d = {};
	uint64_t n = (uint64_t)t.ncpus;
	char name[32];

	REQUIRE_READY();
	assert_int_equal(fs_mkdir_p(t.pin_dir, 0700), 0);
	make_v1_pins(true);
	link_prog_name(name, sizeof(name));
	assert_string_equal(name, "tank_old_in");

	if (np_bpf_open(t.pin_dir, &b, &d) < 0)
		fail_msg("open: %s", diag_text(&d, d.err));
	/* old pins gone, new ones there */
	assert_false(pinned(TANK_MAP_STATS_V1));
	assert_false(pinned(TANK_MAP_IFS_V1));
	assert_true(pinned(TANK_MAP_STATS));
	assert_true(pinned(TANK_MAP_IFS));
	/* counters carried over, marked as such */
	assert_int_equal(np_bpf_pod_stats(b, SLOT, &s, NULL), 0);
	assert_int_equal(s.ingress.packets, n);
	assert_int_equal(s.ingress.bytes, 100 * n);
	assert_int_equal(s.egress.packets, 2 * n);
	assert_int_equal(s.egress.bytes, 300 * n);
	assert_int_equal(np_bpf_pod_stats2(b, SLOT, &s2, NULL), 0);
	assert_int_equal(s2.pod[TANK_DIR_EGRESS].by[TANK_FAM_OTHER][TANK_PROTO_OTHER].packets,
			 2 * n);
	/* the interface with its NIC name (from the link pin) */
	assert_int_equal(s2.n_nics, 1);
	assert_string_equal(s2.nic[0].name, "lo");
	np_bpf_stats2_free(&s2);
	/* the pod keeps its slot; the re-register of the same pod keeps its counters */
	assert_int_equal(np_bpf_pod_info(b, SLOT, &info), 0);
	assert_string_equal(info.uid, UID);
	assert_int_equal(np_bpf_pod_register(b, SLOT, "web", UID, NULL), 0);
	/* the pinned link runs the new program now, and counts */
	link_prog_name(name, sizeof(name));
	assert_string_equal(name, "tank_host_in");
	ping_lo();
	assert_int_equal(np_bpf_pod_stats(b, SLOT, &s, NULL), 0);
	assert_true(s.egress.packets >= 2 * n + 2); /* lo: request and reply both leave the pod */
	np_bpf_close(b);

	/* a crash before the old pins were removed: migrating again does not count twice */
	make_v1_pins(false);
	assert_int_equal(np_bpf_open(t.pin_dir, &b, &d), 0);
	assert_false(pinned(TANK_MAP_STATS_V1));
	{
		struct tank_pod_stats s3;

		assert_int_equal(np_bpf_pod_stats(b, SLOT, &s3, NULL), 0);
		assert_int_equal(s3.egress.packets, s.egress.packets);
		assert_int_equal(s3.ingress.bytes, s.ingress.bytes);
	}
	assert_int_equal(np_bpf_pod_unregister(b, UID, SLOT, (int[]){ LO }, 1, NULL), 0);
	np_bpf_close(b);
}

/* What a tankd with the v2 interface map left: tank_ifs_v2 (ifindex -> tank_if_info), a slot and
 * a tcx link on lo running its program. */
static void make_v2_pins(const char *dir, uint32_t slot, bool with_link)
{
	struct tank_if_info ifi = { .slot = slot, .ingress_dir = TANK_DIR_EGRESS, .nic = 0,
				    .name = "lo" };
	struct tank_pod_info info = { .name = "web2", .uid = UID "2" };
	uint32_t ifindex = LO, key = SLOT + 1;
	char path[256];
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, TANK_MAP_IFS_V2, 4, sizeof(ifi), TANK_MAX_IFS,
			    NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &ifindex, &ifi, 0), 0);
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS_V2, dir);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	if (!with_link)
		return;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, TANK_MAP_PODS, 4, sizeof(info), TANK_MAX_PODS,
			    NULL);
	assert_int_equal(bpf_map_update_elem(fd, &key, &info, 0), 0);
	snprintf(path, sizeof(path), "%s/" TANK_MAP_PODS, dir);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	{
		struct bpf_insn insns[] = {
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = -1 },
			{ .code = BPF_JMP | BPF_EXIT },
		};
		int prog = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tank_old_in", "GPL", insns, 2,
					 NULL);
		int link;

		assert_true(prog >= 0);
		link = bpf_link_create(prog, LO, (enum bpf_attach_type)46 /* TCX_INGRESS */, NULL);
		assert_true(link >= 0);
		snprintf(path, sizeof(path), "%s/pods/" UID "2", dir);
		assert_int_equal(fs_mkdir_p(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/pods/" UID "2/lo_in", dir);
		assert_int_equal(bpf_obj_pin(link, path), 0);
		close(link);
		close(prog);
	}
}

/* v2 -> v3: entries keyed by tankd's netns cookie, the link moved to the new program and
 * counting for the same slot, the old pin gone; a repeated migration (crash before the unpin)
 * does not overwrite what v3 has. */
static void test_migrate_v2(void **state _unused_)
{
	const uint32_t slot = SLOT + 1;
	struct tank_if_key key = { .ifindex = LO };
	struct tank_if_info ifi;
	struct tank_pod_stats s0, s1;
	struct np_bpf_stats2 s2;
	struct np_bpf *b = NULL;
	struct diag d = {};
	char dir[160], path[256], name[32];
	uint64_t cookie;
	int fd;

	REQUIRE_READY();
	snprintf(dir, sizeof(dir), "%s-v2", t.pin_dir);
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	make_v2_pins(dir, slot, true);
	assert_int_equal(np_bpf_netns_cookie(-1, &cookie, NULL), 0);
	key.netns = cookie;

	if (np_bpf_open(dir, &b, &d) < 0)
		fail_msg("open: %s", diag_text(&d, d.err));
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS_V2, dir);
	assert_false(fs_exists(path));
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS, dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	assert_int_equal(ifi.slot, slot);
	assert_int_equal(ifi.ingress_dir, TANK_DIR_EGRESS);
	assert_string_equal(ifi.name, "lo");
	/* the link runs the new program and counts for the slot (lo: both ways are egress) */
	{
		struct bpf_link_info li = {};
		struct bpf_prog_info pi = {};
		__u32 l1 = sizeof(li), l2 = sizeof(pi);
		int lfd, pfd;

		snprintf(path, sizeof(path), "%s/pods/" UID "2/lo_in", dir);
		lfd = bpf_obj_get(path);
		assert_true(lfd >= 0);
		assert_int_equal(bpf_obj_get_info_by_fd(lfd, &li, &l1), 0);
		close(lfd);
		pfd = bpf_prog_get_fd_by_id(li.prog_id);
		assert_true(pfd >= 0);
		assert_int_equal(bpf_obj_get_info_by_fd(pfd, &pi, &l2), 0);
		close(pfd);
		snprintf(name, sizeof(name), "%s", pi.name);
		assert_string_equal(name, "tank_host_in");
	}
	assert_int_equal(np_bpf_pod_stats(b, slot, &s0, NULL), 0);
	ping_lo();
	assert_int_equal(np_bpf_pod_stats(b, slot, &s1, NULL), 0);
	assert_true(s1.egress.packets >= s0.egress.packets + 2);
	assert_int_equal(np_bpf_pod_stats2(b, slot, &s2, NULL), 0);
	assert_string_equal(s2.nic[0].name, "lo");
	np_bpf_stats2_free(&s2);
	np_bpf_close(b);

	/* a crash before the unpin: v2 is there again (here with another slot); v3 wins */
	make_v2_pins(dir, slot + 1, false);
	assert_int_equal(np_bpf_open(dir, &b, &d), 0);
	snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS_V2, dir);
	assert_false(fs_exists(path));
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	assert_int_equal(ifi.slot, slot);
	assert_int_equal(np_bpf_pod_unregister(b, UID "2", slot, (int[]){ LO }, 1, NULL), 0);
	assert_int_not_equal(bpf_map_lookup_elem(fd, &key, &ifi), 0);
	close(fd);
	np_bpf_close(b);
	fs_rm_rf(dir);
}

/* A map of this test's pin dir, by name (-1: none). */
static int pin_get(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bpf_obj_get(path);
}

static bool pin_there(const char *dir, const char *name)
{
	int fd = pin_get(dir, name);

	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* A slot's current owner epoch, from its pinned tank_cfg_v1. */
static uint32_t slot_epoch(const char *dir, uint32_t slot)
{
	struct tank_pod_cfg cfg;
	int fd = pin_get(dir, TANK_MAP_CFG);

	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &slot, &cfg), 0);
	close(fd);
	return cfg.epoch;
}

/*
 * What the per-CPU flow cache and cells of the stop-11 layout (tank_fcache_v1, tank_scell_v1)
 * held: the pending counts go to their flows once (then the old cache is unpinned), the live
 * cells stay part of their pod's totals until the pod is gone (then a start unpins them).
 */
static void test_migrate_fcache_scell_v1(void **state _unused_)
{
	const uint32_t slot = SLOT + 2;
	uint64_t n = (uint64_t)t.ncpus;
	struct tank_flow_key fk = { .slot = slot, .family = TANK_FAM_IPV4, .proto = 17,
				    .pod_port = htons(53), .peer_port = htons(40000),
				    .pod_addr = { 198, 18, 0, 10 }, .peer_addr = { 198, 18, 9, 1 } };
	struct tank_stat_key sk = { .slot = slot, .dir = TANK_DIR_INGRESS,
				    .family = TANK_FAM_IPV4, .proto = TANK_PROTO_UDP,
				    .verdict = TANK_VERDICT_PASS, .reason = TANK_REASON_NO_POLICY };
	struct tank_fcache_v1 fc[t.ncpus];
	struct tank_scell_v1 sc[t.ncpus];
	struct np_bpf_stats2 s2;
	struct np_bpf *b = NULL;
	struct diag d = {};
	char dir[160];
	uint32_t epoch, idx = 5;
	int fd;

	REQUIRE_READY();
	snprintf(dir, sizeof(dir), "%s-fc1", t.pin_dir);
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	/* the current maps with a pod and one flow of it (what the old programs shared) */
	if (np_bpf_open(dir, &b, &d) < 0)
		fail_msg("open: %s", diag_text(&d, d.err));
	assert_int_equal(np_bpf_pod_register(b, slot, "web3", UID "3", NULL), 0);
	np_bpf_close(b);
	epoch = slot_epoch(dir, slot);
	{
		struct tank_flow f = { .epoch = epoch, .dir = TANK_DIR_INGRESS,
				       .verdict = TANK_VERDICT_PASS };

		f.count[TANK_DIR_INGRESS] = (struct tank_counter){ 1, 100 };
		fd = pin_get(dir, TANK_MAP_FLOWS);
		assert_true(fd >= 0);
		assert_int_equal(bpf_map_update_elem(fd, &fk, &f, 0), 0);
		close(fd);
	}
	/* the old layouts: an entry with counts pending and a cell, on every CPU */
	for (int c = 0; c < t.ncpus; c++) {
		fc[c] = (struct tank_fcache_v1){ .key = fk, .epoch = epoch, .dir = TANK_DIR_INGRESS,
						 .pending = { 3, 300 } };
		sc[c] = (struct tank_scell_v1){ .key = sk, .epoch = epoch, .count = { 10, 1000 } };
	}
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, TANK_MAP_FCACHE_V1, 4, sizeof(fc[0]),
			    TANK_FCACHE_SIZE, NULL);
	assert_int_equal(bpf_map_update_elem(fd, &idx, fc, 0), 0);
	pin_new_at(fd, dir, TANK_MAP_FCACHE_V1);
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, TANK_MAP_SCELL_V1, 4, sizeof(sc[0]),
			    TANK_SCELL_SIZE, NULL);
	assert_int_equal(bpf_map_update_elem(fd, &idx, sc, 0), 0);
	pin_new_at(fd, dir, TANK_MAP_SCELL_V1);

	for (int round = 0; round < 2; round++) { /* the second: opened again, nothing twice */
		if (np_bpf_open(dir, &b, &d) < 0)
			fail_msg("open: %s", diag_text(&d, d.err));
		assert_false(pin_there(dir, TANK_MAP_FCACHE_V1));
		assert_true(pin_there(dir, TANK_MAP_SCELL_V1)); /* its pod lives */
		fd = pin_get(dir, TANK_MAP_FLOWS);
		{
			struct tank_flow f;

			assert_int_equal(bpf_map_lookup_elem(fd, &fk, &f), 0);
			assert_int_equal(f.count[TANK_DIR_INGRESS].packets, 1 + 3 * n);
			assert_int_equal(f.count[TANK_DIR_INGRESS].bytes, 100 + 300 * n);
		}
		close(fd);
		assert_int_equal(np_bpf_pod_stats2(b, slot, &s2, NULL), 0);
		assert_int_equal(s2.pod[TANK_DIR_INGRESS].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets,
				 10 * n);
		assert_int_equal(s2.pod[TANK_DIR_INGRESS].by[TANK_FAM_IPV4][TANK_PROTO_UDP].bytes,
				 1000 * n);
		np_bpf_stats2_free(&s2);
		np_bpf_close(b);
	}

	/* another pod in the slot: the old cells are no one's now, and the next start unpins them */
	assert_int_equal(np_bpf_open(dir, &b, &d), 0);
	assert_int_equal(np_bpf_pod_unregister(b, UID "3", slot, NULL, 0, NULL), 0);
	assert_int_equal(np_bpf_pod_register(b, slot, "web4", UID "4", NULL), 0);
	assert_int_equal(np_bpf_pod_stats2(b, slot, &s2, NULL), 0);
	assert_int_equal(s2.pod[TANK_DIR_INGRESS].by[TANK_FAM_IPV4][TANK_PROTO_UDP].packets, 0);
	np_bpf_stats2_free(&s2);
	np_bpf_close(b);
	assert_int_equal(np_bpf_open(dir, &b, &d), 0);
	assert_false(pin_there(dir, TANK_MAP_SCELL_V1));
	assert_int_equal(np_bpf_pod_unregister(b, UID "4", slot, NULL, 0, NULL), 0);
	np_bpf_close(b);
	fs_rm_rf(dir);
}

/* A pinned v1 map of an unexpected layout is refused, with the path. */
static void test_migrate_bad_layout(void **state _unused_)
{
	struct np_bpf *b = NULL;
	struct diag d = {};
	char dir[160];
	int fd;

	REQUIRE_READY();
	snprintf(dir, sizeof(dir), "%s-bad", t.pin_dir);
	assert_int_equal(fs_mkdir_p(dir, 0700), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, TANK_MAP_IFS_V1, 4, 16, 16, NULL);
	assert_true(fd >= 0);
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/" TANK_MAP_IFS_V1, dir);
		assert_int_equal(bpf_obj_pin(fd, path), 0);
	}
	close(fd);
	assert_int_equal(np_bpf_open(dir, &b, &d), -EINVAL);
	assert_non_null(strstr(d.path, TANK_MAP_IFS_V1));
	fs_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_v1),
		cmocka_unit_test(test_migrate_v2),
		cmocka_unit_test(test_migrate_fcache_scell_v1),
		cmocka_unit_test(test_migrate_bad_layout),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
