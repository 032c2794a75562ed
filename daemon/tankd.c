/* tankd.c - the daemon: flags and config, the event loop (epoll + signalfd), startup, shutdown. */
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#ifndef TANK_SHIM_DEFAULT
#define TANK_SHIM_DEFAULT "/usr/local/libexec/tank/tank-shim"
#endif

#include "daemon/api.h"
#include "daemon/metrics.h"
#include "daemon/tankd.h"

/*
 * Registrations are kept by fd; the epoll cookie carries fd and a generation, so an event
 * queued for an fd that a handler earlier in the same batch closed (and maybe reused) is
 * recognised and dropped.
 */
#define LOOP_FDS_MAX 65536
static struct watch **watches; /* by fd; grown to the highest fd seen (doubling) */
static uint32_t *watch_gen;
static size_t n_watches;

static int watches_grow(int fd)
{
	size_t n = n_watches ? n_watches : 64;
	struct watch **w;
	uint32_t *g;

	while (n <= (size_t)fd)
		n *= 2;
	w = realloc(watches, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	watches = w;
	g = realloc(watch_gen, n * sizeof(*g));
	if (!g)
		return -ENOMEM;
	watch_gen = g;
	memset(watches + n_watches, 0, (n - n_watches) * sizeof(*w));
	memset(watch_gen + n_watches, 0, (n - n_watches) * sizeof(*g));
	n_watches = n;
	return 0;
}

int loop_add(struct tankd *t, int fd, enum watch_kind kind, void *ptr)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct watch *w;

	if (fd < 0 || fd >= LOOP_FDS_MAX)
		return -EMFILE;
	if ((size_t)fd >= n_watches && watches_grow(fd) < 0)
		return -ENOMEM;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct watch){ .kind = kind, .fd = fd, .ptr = ptr };
	watch_gen[fd]++;
	ev.data.u64 = (uint64_t)watch_gen[fd] << 32 | (uint32_t)fd;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return -errno;
	}
	free(watches[fd]);
	watches[fd] = w;
	return 0;
}

int loop_mod(struct tankd *t, int fd, bool want_write)
{
	return loop_mod_events(t, fd, EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0));
}

int loop_mod_events(struct tankd *t, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || (size_t)fd >= n_watches || !watches[fd])
		return -EBADF;
	ev.data.u64 = (uint64_t)watch_gen[fd] << 32 | (uint32_t)fd;
	return epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct tankd *t, int fd)
{
	if (fd < 0 || (size_t)fd >= n_watches)
		return;
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
	free(watches[fd]);
	watches[fd] = NULL;
	watch_gen[fd]++;
}

void tankd_nudge(struct tankd *t)
{
	t->nudged = true;
}

static void reap_children(void)
{
	/* pull workers and the shim's intermediate; the shims themselves are not our children */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int parse_args(int argc, char **argv, struct tankd_config *c, bool *ret_version);

/*
 * SIGHUP: read the config file again (flags still win). Timing and log level apply at once;
 * paths, the socket and the cgroup name need a restart, which is said, not done.
 */
static void reload_config(struct tankd *t)
{
	struct tankd_config n;
	bool version = false;
	const struct {
		const char *key;
		const char *old, *new;
	} fixed[] = {
		{ "data_dir", t->cfg.data_dir, NULL },	   { "run_dir", t->cfg.run_dir, NULL },
		{ "socket", t->cfg.socket_path, NULL },	   { "bpf_dir", t->cfg.bpf_dir, NULL },
		{ "cgroup_name", t->cfg.cgroup_name, NULL },
	};

	config_defaults(&n);
	if (parse_args(t->argc, t->argv, &n, &version) != 0) {
		log_error("SIGHUP: config not reloaded (see above); keeping the running one");
		config_free(&n);
		return;
	}
	{
		const char *now[] = { n.data_dir, n.run_dir, n.socket_path, n.bpf_dir,
				      n.cgroup_name };

		for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
			if (strcmp(fixed[i].old, now[i]))
				log_warn("SIGHUP: %s changed to %s; it applies after a restart of "
					 "tankd",
					 fixed[i].key, now[i]);
	}
	t->cfg.resync_ms = n.resync_ms;
	t->cfg.plan = n.plan;
	t->cfg.log_level = n.log_level;
	log_set_level(n.log_level);
	free(t->cfg.shim_path);
	t->cfg.shim_path = TAKE_PTR(n.shim_path);
	free(t->cfg.seed_dir);
	t->cfg.seed_dir = TAKE_PTR(n.seed_dir);
	config_free(&n);
	log_info("SIGHUP: config reloaded (resync %llu ms, back-off %llu..%llu ms)",
		 (unsigned long long)t->cfg.resync_ms,
		 (unsigned long long)t->cfg.plan.backoff_base_ms,
		 (unsigned long long)t->cfg.plan.backoff_max_ms);
}

static void on_signal(struct tankd *t)
{
	struct signalfd_siginfo si;

	while (read(t->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap_children();
			break;
		case SIGTERM:
		case SIGINT:
			log_info("signal %s: stopping; pods keep running under their shims",
				 strsignal((int)si.ssi_signo));
			t->quit = true;
			break;
		case SIGHUP:
			reload_config(t);
			tankd_nudge(t);
			break;
		}
	}
}

static void dispatch(struct tankd *t, struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct watch *w = fd >= 0 && (size_t)fd < n_watches ? watches[fd] : NULL;
	struct pod *p;

	if (!w || watch_gen[fd] != gen)
		return;
	p = w->ptr;
	switch (w->kind) {
	case W_LISTEN:
		api_accept(t);
		break;
	case W_SIGNAL:
		on_signal(t);
		break;
	case W_TIMER:
		break;
	case W_CLIENT:
		api_client_event(t, w->ptr, ev->events);
		break;
	case W_EXEC:
		api_exec_event(t, w->ptr);
		break;
	case W_PULL:
		runtime_pull_event(t, p);
		tankd_nudge(t);
		break;
	case W_SHIM_WATCH:
		runtime_watch_event(t, p);
		break;
	case W_DNS:
		net_dns_event(t, fd);
		break;
	case W_NETMON:
		net_monitor_event(t, p);
		break;
	case W_BPFEV:
		dp_events(t);
		break;
	case W_IMGPULL:
		images_pull_event(t, w->ptr);
		break;
	case W_SHIM_DESTROY:
		runtime_stop_done(t, p, false);
		break;
	case W_METRICS:
		metrics_event(t, w->ptr, ev->events);
		break;
	}
}

/*
 * An image worker's result leads to a pod start, which blocks the loop (shim spawn and setup,
 * up to the shim's ready signal). At most one such event is handled per loop iteration, after
 * everything else in the batch, so API requests (an apply is answered as soon as its record is
 * stored) wait for one start at most, not for a whole batch of them. The others stay ready
 * (level-triggered) and come back with the next epoll_wait.
 */
static bool event_is_slow(const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;

	return fd >= 0 && (size_t)fd < n_watches && watches[fd] && watches[fd]->kind == W_PULL;
}

/* The soonest moment a pass is needed: periodic resync, a backoff or a stop deadline. */
static int next_timeout_ms(struct tankd *t, uint64_t last_pass)
{
	uint64_t now = now_mono_ms(), due = last_pass + t->cfg.resync_ms;

	if (t->nudged)
		return 0;
	for (struct pod *p = t->pods; p; p = p->next) {
		/* a running pod may have a container waiting for its restart */
		if ((p->phase == PHASE_BACKOFF || p->phase == PHASE_FAILED ||
		     (p->phase == PHASE_RUNNING && p->next_start_at)) && p->next_start_at < due)
			due = p->next_start_at;
		if (p->phase == PHASE_STOPPING && p->stop_deadline && p->stop_deadline < due)
			due = p->stop_deadline;
	}
	return due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tankd [OPTIONS]\n"
		"Tank's daemon: keeps the pods declared with `tankctl apply` running.\n\n"
		"  --config PATH       config file (default " TANKD_DEFAULT_CONFIG ")\n"
		"  --data-dir DIR      state: store, images, volumes, logs (default /var/lib/tank)\n"
		"  --run-dir DIR       runtime files, pod dirs (default /run/tank)\n"
		"  --socket PATH       API socket (default <run-dir>/tankd.sock)\n"
		"  --bpf-dir DIR       BPF pins (default /sys/fs/bpf/tank)\n"
		"  --cgroup-name NAME  cgroup subtree for pods (default tank)\n"
		"  --shim PATH         tank-shim binary (default: beside tankd)\n"
		"  --backoff-base DUR  first restart delay (default 10s)\n"
		"  --log-level LEVEL   error, warn, info, debug (default info)\n"
		"  --version           print version and kernel features\n"
		"  --help              this text\n\n"
		"Every option can also be set in the config file as `key = value`\n"
		"(data_dir, run_dir, socket, socket_group, bpf_dir, netns_dir, cgroup_root,\n"
		"cgroup_name, shim, resync_interval, backoff_base, backoff_max, backoff_reset,\n"
		"log_level). socket_group (default tank): its members may use the API.\n");
}

static char *default_shim_path(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return strdup(TANK_SHIM_DEFAULT);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	{
		_cleanup_free_ char *beside = strdup_printf("%s/tank-shim", exe);

		if (beside && access(beside, X_OK) == 0)
			return TAKE_PTR(beside);
	}
	return strdup(TANK_SHIM_DEFAULT);
}

static int parse_args(int argc, char **argv, struct tankd_config *c, bool *ret_version)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'D' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ "socket", required_argument, NULL, 'S' },
		{ "bpf-dir", required_argument, NULL, 'B' },
		{ "cgroup-name", required_argument, NULL, 'G' },
		{ "shim", required_argument, NULL, 'H' },
		{ "backoff-base", required_argument, NULL, 'b' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const struct {
		int opt;
		const char *key;
	} keys[] = { { 'D', "data_dir" },    { 'R', "run_dir" },     { 'S', "socket" },
		     { 'B', "bpf_dir" },     { 'G', "cgroup_name" }, { 'H', "shim" },
		     { 'b', "backoff_base" }, { 'l', "log_level" } };
	const char *config = NULL;
	struct diag d = { 0 };
	int o, r;

	/* first pass: the config file, so flags override it */
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (o == 'c')
			config = optarg;
	r = config_load(config ? config : TANKD_DEFAULT_CONFIG, config != NULL, c, &d);
	if (r < 0) {
		fprintf(stderr, "tankd: %s\n", diag_text(&d, r));
		return 1;
	}
	optind = 1;
	opterr = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			break;
		case 'V':
			*ret_version = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case '?':
			usage(stderr);
			return 2;
		default:
			for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
				if (keys[i].opt != o)
					continue;
				r = config_set(c, keys[i].key, optarg, &d);
				if (r < 0) {
					fprintf(stderr, "tankd: %s\n", diag_text(&d, r));
					return 2;
				}
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tankd: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!c->socket_path)
		c->socket_path = strdup_printf("%s/tankd.sock", c->run_dir);
	if (!c->shim_path)
		c->shim_path = default_shim_path();
	return c->socket_path && c->shim_path ? 0 : 1;
}

/* Desired state changed: the reconciler looks again (level-triggered, so no detail needed). */
static void on_store_change(void *data, const char *name, const json_t *record)
{
	(void)name;
	(void)record;
	tankd_nudge(data);
}

/* The API socket belongs to socket_group (when that group exists), so its members reach it. */
static void socket_group_apply(struct tankd *t)
{
	struct group *g = *t->cfg.socket_group ? getgrnam(t->cfg.socket_group) : NULL;

	t->api_gid = (gid_t)-1;
	if (!g) {
		if (*t->cfg.socket_group && strcmp(t->cfg.socket_group, "tank"))
			log_warn("socket_group %s: no such group; the API is for root only",
				 t->cfg.socket_group);
		return;
	}
	if (chown(t->cfg.socket_path, 0, g->gr_gid) < 0) {
		log_warn("chown %s to group %s: %s; the API is for root only", t->cfg.socket_path,
			 t->cfg.socket_group, strerror(errno));
		return;
	}
	t->api_gid = g->gr_gid;
}

static int setup(struct tankd *t)
{
	_cleanup_free_ char *storedir = strdup_printf("%s/store", t->cfg.data_dir);
	_cleanup_free_ char *pods = strdup_printf("%s/pods", t->cfg.run_dir);
	struct diag d = { 0 };
	sigset_t mask;
	int r, probe;

	if (geteuid() != 0) {
		log_error("tankd must run as root (it creates namespaces, links and BPF programs)");
		return -EPERM;
	}
	if (!storedir || !pods)
		return -ENOMEM;
	if ((r = fs_mkdir_p(t->cfg.data_dir, 0711)) < 0 || (r = fs_mkdir_p(pods, 0700)) < 0 ||
	    (r = fs_mkdir_p(t->cfg.netns_dir, 0755)) < 0) {
		log_error("create state directories under %s and %s: %s", t->cfg.data_dir,
			  t->cfg.run_dir, strerror(-r));
		return r;
	}
	/* a live socket means another tankd owns this run dir */
	probe = ipc_connect(t->cfg.socket_path);
	if (probe >= 0) {
		close(probe);
		log_error("another tankd is listening on %s; stop it or use --socket/--run-dir",
			  t->cfg.socket_path);
		return -EADDRINUSE;
	}
	r = store_file_open(storedir, &t->store, &d);
	if (r < 0) {
		log_error("store %s: %s", storedir, diag_text(&d, r));
		return r;
	}
	t->store->ops->watch(t->store, on_store_change, t);
	r = cgroup_detect(t->cfg.cgroup_root, &t->cgroups);
	if (r < 0) {
		log_error("cgroups at %s: %s", t->cfg.cgroup_root, strerror(-r));
		return r;
	}
	r = np_bpf_open(t->cfg.bpf_dir, &t->bpf, &d);
	if (r < 0) {
		log_error("BPF datapath (%s): %s", t->cfg.bpf_dir, diag_text(&d, r));
		return r;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	t->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->sigfd < 0 || t->epfd < 0)
		return -errno;
	r = fs_mkdir_p(t->cfg.run_dir, 0711);
	t->listenfd = r < 0 ? r : ipc_listen(t->cfg.socket_path, 0660);
	if (t->listenfd < 0) {
		log_error("listen on %s: %s", t->cfg.socket_path, strerror(-t->listenfd));
		return t->listenfd;
	}
	socket_group_apply(t);
	if ((r = loop_add(t, t->sigfd, W_SIGNAL, NULL)) < 0 ||
	    (r = loop_add(t, t->listenfd, W_LISTEN, NULL)) < 0)
		return r;
	r = net_init(t, &d);
	if (r < 0) {
		log_error("network: %s", diag_text(&d, r));
		return r;
	}
	if (np_bpf_events_fd(t->bpf) >= 0 && loop_add(t, np_bpf_events_fd(t->bpf), W_BPFEV, NULL) < 0)
		log_warn("BPF drop events will not be reported (cannot watch the ring buffer)");
	dp_config_apply(t);
	r = metrics_open(t, &d);
	if (r < 0) {
		log_error("%s", diag_text(&d, r));
		return r;
	}
	if (r > 0)
		log_info("metrics: http://%s/metrics", t->cfg.metrics_listen);
	log_info("tankd %s: data %s, run %s, socket %s, cgroups %s, BPF %s at %s", TANK_VERSION,
		 t->cfg.data_dir, t->cfg.run_dir, t->cfg.socket_path, cgroup_mode_name(t->cgroups),
		 np_bpf_attach_mode(t->bpf), t->cfg.bpf_dir);
	return 0;
}

static void print_version(struct tankd *t)
{
	enum cgroup_mode m = CGROUP_V1;
	struct np_bpf *b = NULL;

	printf("tankd %s\n", TANK_VERSION);
	if (cgroup_detect(t->cfg.cgroup_root, &m) == 0)
		printf("cgroups: %s\n", cgroup_mode_name(m));
	/* probe in a scratch pin dir: --version must not create or touch the real pins (bpffs
	 * refuses names that start with a dot) */
	if (geteuid() == 0) {
		_cleanup_free_ char *probe = strdup_printf("/sys/fs/bpf/tank-probe-%d", (int)getpid());

		if (probe && np_bpf_open(probe, &b, NULL) == 0) {
			printf("bpf attach: %s\n", np_bpf_attach_mode(b));
			np_bpf_close(b);
		}
		if (probe)
			fs_rm_rf(probe);
	}
}

int main(int argc, char **argv)
{
	struct tankd t = { .epfd = -1, .sigfd = -1, .timerfd = -1, .listenfd = -1 };
	uint64_t last_pass = 0;
	bool version = false;
	int r;

	config_defaults(&t.cfg);
	t.argc = argc;
	t.argv = argv;
	r = parse_args(argc, argv, &t.cfg, &version);
	if (r)
		return r;
	log_init(); /* stderr or the journal */
	log_set_level(t.cfg.log_level);
	if (version) {
		print_version(&t);
		return 0;
	}
	if (setup(&t) < 0)
		return 1;
	runtime_adopt_all(&t);
	dp_sweep(&t);
	seed_apply(&t);
	tankd_nudge(&t);
	while (!t.quit) {
		struct epoll_event evs[64];
		int n = epoll_wait(t.epfd, evs, ARRAY_SIZE(evs), next_timeout_ms(&t, last_pass));

		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		int slow = -1;

		for (int i = 0; i < n; i++) {
			if (!event_is_slow(&evs[i]))
				dispatch(&t, &evs[i]);
			else if (slow < 0)
				slow = i;
		}
		if (slow >= 0)
			dispatch(&t, &evs[slow]);
		if (t.nudged || now_mono_ms() >= last_pass + t.cfg.resync_ms || next_timeout_ms(&t, last_pass) == 0) {
			t.nudged = false;
			struct timespec a, b;

			last_pass = now_mono_ms();
			clock_gettime(CLOCK_MONOTONIC, &a);
			reconcile_pass(&t);
			clock_gettime(CLOCK_MONOTONIC, &b);
			t.pass_us = (uint64_t)(((int64_t)(b.tv_sec - a.tv_sec) * 1000000000 +
						(b.tv_nsec - a.tv_nsec)) / 1000);
		}
	}
	/* leave pods, shims, links and pins in place: a new tankd adopts them */
	unlink(t.cfg.socket_path);
	np_bpf_close(t.bpf);
	t.store->ops->close(t.store);
	config_free(&t.cfg);
	return 0;
}
