/* bench_netsetup.c - pod network setup time (p50/p99 over 200 pods): Tank's veth and dual-stack
 * macvlan NICs against the CNI reference plugins (ptp, macvlan with host-local), same host, same
 * run. Not a test: it prints figures and never judges them. Root. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "netplane/netplane.h"

/*
 * Everything lives in namespaces made here: a "host" netns (this process enters it) with an
 * uplink veth up0 whose peer lan0 sits in a "lan" netns, both named tanktest-<pid>-b*; each pod
 * netns is anonymous (unshare + an fd), so it goes when its fd closes, whatever happens. Addresses:
 * 198.18.0.0/15 and 2001:db8::/32 only. Timed per pod: what tankd does for one NIC (IPAM pick and
 * lease in memory, then netplane setup) against one CNI ADD (plugin exec, host-local IPAM with its
 * files, setup); netns creation is outside both, as CNI is handed an existing netns.
 */

#define PODS 200
#define WARMUP 5
#define CNI_DIR "/usr/lib/cni"

static char host_ns_name[64], lan_ns_name[64], tmpdir[128];
static int host_ns = -1, orig_ns = -1;
extern char **environ;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, size_t n, int failed)
{
	if (n == 0) {
		printf("%-46s no samples (%d failed)\n", what, failed);
		return;
	}
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%-46s p50 %7.2f ms   p99 %7.2f ms   (%zu pods%s)\n", what, v[n / 2],
	       v[(n * 99 + 99) / 100 - 1], n, failed ? ", some failed" : "");
	fflush(stdout);
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return st == 0 ? 0 : -1;
}

/* A fresh anonymous netns as an fd; the calling thread stays in the host netns. no_dad: IPv6
 * duplicate address detection off for its new links (what Tank's IFA_F_NODAD does per address). */
static int pod_netns(bool no_dad)
{
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	/* /proc/sys/net belongs to the netns of whoever opens it: this thread, now */
	if (fd >= 0 && no_dad) {
		int r = fs_write_str("/proc/sys/net/ipv6/conf/default/accept_dad", "0");

		if (r < 0)
			fprintf(stderr, "accept_dad: %s\n", strerror(-r));
	}
	if (setns(host_ns, CLONE_NEWNET) < 0)
		abort(); /* never carry on in a pod netns */
	return fd;
}

static void cleanup(void)
{
	char cmd[512];

	if (orig_ns >= 0 && setns(orig_ns, CLONE_NEWNET) < 0)
		abort();
	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null",
		 host_ns_name, lan_ns_name);
	if (host_ns_name[0] && system(cmd) < 0)
		perror("cleanup");
	if (tmpdir[0])
		fs_rm_rf(tmpdir);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int topology(void)
{
	char cmd[1024], path[128];

	snprintf(host_ns_name, sizeof(host_ns_name), "tanktest-%d-bhost", (int)getpid());
	snprintf(lan_ns_name, sizeof(lan_ns_name), "tanktest-%d-blan", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "set -e; ip netns add %1$s; ip netns add %2$s;"
		 "ip -n %1$s link set lo up; ip -n %2$s link set lo up;"
		 "ip -n %1$s link add up0 type veth peer name lan0 netns %2$s;"
		 "ip -n %2$s addr add 198.18.0.1/16 dev lan0;"
		 "ip -n %2$s addr add 2001:db8:64::1/64 dev lan0 nodad;"
		 "ip -n %2$s link set lan0 up; ip -n %1$s link set up0 up",
		 host_ns_name, lan_ns_name);
	if (run(cmd) < 0)
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%s", host_ns_name);
	host_ns = np_netns_open(path);
	orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0 || orig_ns < 0 || setns(host_ns, CLONE_NEWNET) < 0)
		return -1;
	return 0;
}

/* ---- Tank ------------------------------------------------------------------------------------ */

static struct np_ipam_pool pool4, pool6, pool_veth;
static struct np_lease_set leases;

static void pools(void)
{
	np_ipam_pool_init(&pool4, "lan4", "198.18.0.0/16", NULL);
	np_ipam_pool_set(&pool4, "gateway", "198.18.0.1", NULL);
	np_ipam_pool_init(&pool6, "lan6", "2001:db8:64::/64", NULL);
	np_ipam_pool_set(&pool6, "gateway", "2001:db8:64::1", NULL);
	np_ipam_pool_init(&pool_veth, "veth", "198.19.0.0/16", NULL);
	np_lease_set_init(&leases);
}

/* One pod: IPAM (pick + lease in memory) and the NIC. */
static int tank_pod(bool macvlan, int i, int netns, double *ms)
{
	char uid[32], owner[NP_IPAM_OWNER_MAX], host_if[16];
	struct np_addr addrs[2], gws[2] = { pool4.gateway, pool6.gateway };
	struct np_nic_state st;
	struct diag d = {};
	double t0;
	int r;

	snprintf(uid, sizeof(uid), "bench-%c%d", macvlan ? 'm' : 'v', i);
	snprintf(host_if, sizeof(host_if), "tkb%d", i);
	t0 = now_ms();
	np_ipam_owner_key(uid, "eth0", owner, sizeof(owner));
	if (macvlan) {
		struct np_macvlan_spec s = {
			.parent = "up0", .pod_ifname = "eth0", .pod_netns_fd = netns,
			.pod_uid = uid, .addrs = addrs, .n_addrs = 2,
			.gateways = gws, .n_gateways = 2,
		};

		r = np_ipam_pick(&pool4, owner, &leases, &addrs[0], &d);
		if (r >= 0)
			r = np_lease_add(&leases, pool4.name, owner, &addrs[0], &d);
		if (r >= 0)
			r = np_ipam_pick(&pool6, owner, &leases, &addrs[1], &d);
		if (r >= 0)
			r = np_lease_add(&leases, pool6.name, owner, &addrs[1], &d);
		if (r >= 0)
			r = np_macvlan_setup(&s, &st, &d);
	} else {
		struct np_veth_spec s = {
			.host_ifname = host_if, .pod_ifname = "eth0", .pod_netns_fd = netns,
			.addrs = addrs, .n_addrs = 1,
		};

		r = np_ipam_pick(&pool_veth, owner, &leases, &addrs[0], &d);
		if (r >= 0)
			r = np_lease_add(&leases, pool_veth.name, owner, &addrs[0], &d);
		addrs[0].prefix = 32;
		if (r >= 0)
			r = np_veth_setup(&s, &st, &d);
	}
	*ms = now_ms() - t0;
	if (r < 0)
		fprintf(stderr, "tank %s pod %d: %s\n", macvlan ? "macvlan" : "veth", i,
			diag_text(&d, r));
	return r;
}

/* ---- CNI ------------------------------------------------------------------------------------- */

/* One CNI ADD: the plugin run directly with CNI_* variables and the config on stdin. */
static int cni_add(const char *plugin, const char *conf, int i, int netns, double *ms)
{
	char *env[16], e_cmd[] = "CNI_COMMAND=ADD", e_id[64], e_ns[64], e_if[] = "CNI_IFNAME=eth0";
	char e_path[] = "CNI_PATH=" CNI_DIR, e_ppath[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	char path[128], *argv[] = { (char *)plugin, NULL };
	posix_spawn_file_actions_t fa;
	int in[2], devnull, st = 0;
	size_t len = strlen(conf);
	double t0;
	pid_t pid;

	snprintf(e_id, sizeof(e_id), "CNI_CONTAINERID=bench-%s-%d", plugin, i);
	/* the plugin opens our fd through /proc: CNI takes a path, not an fd */
	snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=/proc/%d/fd/%d", (int)getpid(), netns);
	env[0] = e_cmd, env[1] = e_id, env[2] = e_ns, env[3] = e_if, env[4] = e_path;
	env[5] = e_ppath, env[6] = NULL;
	snprintf(path, sizeof(path), CNI_DIR "/%s", plugin);

	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, devnull, 1);
	t0 = now_ms();
	if (posix_spawn(&pid, path, &fa, NULL, argv, env) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(in[0]), close(in[1]), close(devnull);
		return -ENOEXEC;
	}
	close(in[0]);
	if (write(in[1], conf, len) != (ssize_t)len)
		st = -1;
	close(in[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*ms = now_ms() - t0;
	posix_spawn_file_actions_destroy(&fa);
	close(devnull);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "CNI %s pod %d failed (status %d)\n", plugin, i, st);
		return -EIO;
	}
	return 0;
}

/* ---- driver --------------------------------------------------------------------------------- */

enum kind { TANK_VETH, TANK_MACVLAN, CNI_PTP, CNI_MACVLAN, CNI_MACVLAN4 };

static void bench(enum kind k, const char *label)
{
	static int fds[PODS + WARMUP];
	static double samples[PODS];
	char conf[1024];
	size_t n = 0;
	int failed = 0;

	switch (k) {
	case CNI_PTP:
		snprintf(conf, sizeof(conf),
			 "{\"cniVersion\":\"1.0.0\",\"name\":\"benchptp\",\"type\":\"ptp\","
			 "\"ipMasq\":false,\"ipam\":{\"type\":\"host-local\",\"ranges\":"
			 "[[{\"subnet\":\"198.19.0.0/16\"}]],\"dataDir\":\"%s/ptp\"}}",
			 tmpdir);
		break;
	case CNI_MACVLAN:
	case CNI_MACVLAN4:
		snprintf(conf, sizeof(conf),
			 "{\"cniVersion\":\"1.0.0\",\"name\":\"benchmv%d\",\"type\":\"macvlan\","
			 "\"master\":\"up0\",\"mode\":\"bridge\",\"ipam\":{\"type\":\"host-local\","
			 "\"ranges\":[[{\"subnet\":\"198.18.0.0/16\","
			 "\"gateway\":\"198.18.0.1\"}]%s],"
			 "\"routes\":[{\"dst\":\"0.0.0.0/0\"}%s],\"dataDir\":\"%s/mv%d\"}}",
			 k, k == CNI_MACVLAN ? ",[{\"subnet\":\"2001:db8:64::/64\",\"gateway\":"
					       "\"2001:db8:64::1\"}]"
					     : "",
			 k == CNI_MACVLAN ? ",{\"dst\":\"::/0\"}" : "", tmpdir, k);
		break;
	default:
		break;
	}
	for (int i = 0; i < PODS + WARMUP; i++) {
		double ms = 0;
		int r;

		fds[i] = pod_netns(k == CNI_MACVLAN);
		if (fds[i] < 0) {
			fprintf(stderr, "netns: %s\n", strerror(-fds[i]));
			failed++;
			continue;
		}
		if (k == TANK_VETH || k == TANK_MACVLAN)
			r = tank_pod(k == TANK_MACVLAN, i, fds[i], &ms);
		else
			r = cni_add(k == CNI_PTP ? "ptp" : "macvlan", conf, i, fds[i], &ms);
		if (r < 0)
			failed++;
		else if (i >= WARMUP)
			samples[n++] = ms;
	}
	report(label, samples, n, failed);
	/* the pods go with their netns: veth pairs, macvlans, addresses, routes */
	for (int i = 0; i < PODS + WARMUP; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	np_lease_set_free(&leases);
}

int main(void)
{
	bool cni;

	if (geteuid() != 0) {
		fprintf(stderr, "bench_netsetup: needs root (network namespaces)\n");
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tanktest-%d-bench", (int)getpid());
	if (mkdir(tmpdir, 0700) < 0) {
		perror(tmpdir);
		return 1;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (topology() < 0) {
		fprintf(stderr, "bench_netsetup: cannot build the test topology\n");
		return 1;
	}
	pools();
	cni = access(CNI_DIR "/ptp", X_OK) == 0 && access(CNI_DIR "/macvlan", X_OK) == 0 &&
	      access(CNI_DIR "/host-local", X_OK) == 0;

	printf("== pod network setup, one NIC per pod, %d pods each (after %d warm-up); "
	       "targets p50 < 5 ms, p99 < 20 ms\n", PODS, WARMUP);
	bench(TANK_VETH, "tank veth (IPv4, ipam)");
	if (cni)
		bench(CNI_PTP, "CNI ptp + host-local (IPv4)");
	bench(TANK_MACVLAN, "tank macvlan (IPv4+IPv6, ipam)");
	if (cni) {
		bench(CNI_MACVLAN, "CNI macvlan + host-local (IPv4+IPv6, no DAD)");
		bench(CNI_MACVLAN4, "CNI macvlan + host-local (IPv4)");
	} else {
		printf("CNI: skipped, " CNI_DIR " lacks ptp/macvlan/host-local "
		       "(apt-get install containernetworking-plugins)\n");
	}
	if (cni)
		printf("(CNI's IPv6 waits for duplicate address detection, ~1.8 s a pod here, "
		       "unless the netns has accept_dad=0 as above; Tank adds its addresses "
		       "IFA_F_NODAD)\n");
	return 0;
}
