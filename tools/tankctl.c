/* tankctl.c - Tank's CLI: a thin table of commands over tankd's API socket. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/stat.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "daemon/api.h"
#include "lib/lib.h"
#include "tools/tankctl.h"

static const char *socket_path = TANK_DEFAULT_SOCKET;
const char *output = "";

struct cmd {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
	const char *help;
};

static const struct cmd *find_cmd(const char *name);

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tankctl [--socket PATH] COMMAND [ARGS]\n\n"
		"Commands:\n"
		"  apply -f FILE|DIR|- [-f ...]    create or update pods from JSON specs\n"
		"  get pods [-o json|wide]         list pods\n"
		"  get pod NAME [-o json]          show one pod\n"
		"  delete pod NAME [--wait]        delete a pod (and wait until it is gone)\n"
		"  exec [-i] [-t] POD [-c CTR] [-u USER] [-w DIR] [-e K=V] -- CMD [ARG]\n"
		"                                  run a command in a pod; exits with its code\n"
		"  attach POD [-c CTR]             attach to a tty container (Ctrl-P Ctrl-Q detaches)\n"
		"  logs [-f] [--tail N] [--since DUR] [--timestamps] POD [-c CTR]\n"
		"                                  a container's output, across rotations\n"
		"  describe pod NAME               spec summary, status, NICs, events, traffic\n"
		"  wait pod NAME --for STATE       STATE: running, terminated or deleted\n"
		"       [--timeout 30s]\n"
		"  restart pod NAME                restart now, back-off cleared\n"
		"  events [-w] [POD]               what happened (and, with -w, what happens)\n"
		"  traffic [POD] [--flows] [--deleted] [-w] [-o json]\n"
		"                                  packets, bytes, drops per pod from the BPF maps\n"
		"  policy test POD --from|--to ADDR [--port N/proto] [--direction ingress|egress]\n"
		"                                  the datapath's verdict and the rule that decided\n"
		"  pull IMAGE                      pull an image (progress per layer)\n"
		"  images [-o json]                images in tankd's store\n"
		"  rmi IMAGE                       forget an image (refused while a pod uses it)\n"
		"  image prune | image import PATH free unused blobs; import an OCI layout (dir or tar)\n"
		"  top [POD] [-o json]             CPU %%, memory, pids per pod\n"
		"  info [-o json]                  tankd's features and paths\n"
		"  version [-o json]               tankctl's and tankd's versions\n"
		"  completion bash                 a bash completion script\n\n"
		"'tankctl COMMAND --help' describes one command.\n\n"
		"Options:\n"
		"  --socket PATH   tankd's API socket (default %s, or $TANK_SOCKET)\n"
		"  -o FORMAT       json (every command), wide (get pods)\n\n"
		"Exit codes: 0 ok, 1 failed, 2 usage error.\n",
		TANK_DEFAULT_SOCKET);
}

int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "tankctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nRun 'tankctl --help' for usage.\n");
	return EXIT_USAGE;
}

/* Connect to tankd's socket; the error (who may use it, when refused) is printed here. */
int api_connect(void)
{
	int fd = ipc_connect(socket_path);
	struct stat st;

	if (fd == -EACCES && stat(socket_path, &st) == 0) {
		struct group *g = st.st_gid ? getgrgid(st.st_gid) : NULL;

		if (g)
			fprintf(stderr, "tankctl: permission denied: tankd's API at %s is for root "
					"and members of group %s\n",
				socket_path, g->gr_name);
		else
			fprintf(stderr, "tankctl: permission denied: tankd's API at %s is for root "
					"only (tankd's socket_group is not set up)\n",
				socket_path);
	} else if (fd < 0) {
		fprintf(stderr, "tankctl: cannot reach tankd at %s: %s (is tankd running? "
				"--socket or TANK_SOCKET select another)\n",
			socket_path, strerror(-fd));
	}
	return fd;
}

/* Send one request, wait for its reply. Errors are printed here. */
static int call(json_t *req, const int *fds, size_t nfds, json_t **ret)
{
	_cleanup_close_ int fd = api_connect();
	json_t *reply = NULL;
	int r;

	if (fd < 0)
		return -1;
	json_object_set_new(req, "version", json_integer(TANK_API_VERSION));
	r = ipc_send_json(fd, req, fds, nfds);
	/* a refused peer gets its error reply and a hang-up: read the reply even then */
	if (r >= 0 || r == -EPIPE || r == -ECONNRESET)
		r = ipc_recv_json(fd, &reply, NULL, 0, NULL);
	if (r < 0) {
		fprintf(stderr, "tankctl: talking to tankd: %s\n", strerror(-r));
		return -1;
	}
	*ret = reply;
	return 0;
}

int print_error(json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	json_t *details = json_object_get(e, "details"), *x;
	size_t i;

	if (!strcmp(output, "json")) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
		return EXIT_FAIL;
	}
	if (json_array_size(details)) {
		fprintf(stderr, "error: %s:\n",
			!strcmp(json_str(e, "code", ""), "unsupported") ? "unsupported spec"
									 : "invalid spec");
		json_array_foreach(details, i, x)
			fprintf(stderr, "  %s: %s\n", json_str(x, "path", ""),
				json_str(x, "message", ""));
	} else {
		fprintf(stderr, "error: %s\n", json_str(e, "message", "request failed"));
	}
	return EXIT_FAIL;
}

/* Run a request; print the error or hand the reply back. */
int request(json_t *req, json_t **ret)
{
	json_t *reply = NULL;
	int r = call(req, NULL, 0, &reply);

	json_decref(req);
	if (r < 0)
		return EXIT_FAIL;
	if (!json_bool(reply, "ok", false)) {
		r = print_error(reply);
		json_decref(reply);
		return r;
	}
	*ret = reply;
	return EXIT_OK;
}

void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
}

/* ---- apply --------------------------------------------------------------------------------- */

#define APPLY_INPUT_MAX (64u << 20) /* bytes of one file or stdin: many specs, each <= 1 MiB */

/* Apply one spec; errors name where it came from. */
static int apply_spec(json_t *spec, const char *where)
{
	_cleanup_json_ json_t *reply = NULL;
	int r;

	if (!json_is_object(spec)) {
		fprintf(stderr, "error: %s: a spec is a JSON object (or an array of them)\n", where);
		return EXIT_FAIL;
	}
	r = request(json_pack("{s:s,s:O}", "op", "apply", "spec", spec), &reply);
	if (r) {
		fprintf(stderr, "  (in %s)\n", where);
		return r;
	}
	if (!strcmp(output, "json"))
		print_json(reply);
	else
		printf("pod/%s %s\n", json_str(reply, "pod", "?"), json_str(reply, "result", "?"));
	return EXIT_OK;
}

/*
 * One file ("-" = stdin): a spec, a JSON array of specs, or several JSON documents one after
 * the other. Each pod is applied on its own (one line each); any failure makes the result 1.
 */
static int apply_file(const char *file)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, off = 0, ndoc = 0;
	int r, ret = EXIT_OK;

	r = fs_read_all(AT_FDCWD, !strcmp(file, "-") ? "/dev/stdin" : file, APPLY_INPUT_MAX, &buf,
			&len);
	if (r < 0) {
		fprintf(stderr, "error: %s: %s\n", file,
			r == -EFBIG ? "larger than 64 MiB" : strerror(-r));
		return EXIT_FAIL;
	}
	for (;;) {
		_cleanup_json_ json_t *doc = NULL;
		json_error_t err;
		size_t lines = 0;

		off += strspn(buf + off, " \t\r\n");
		if (off >= len)
			break;
		/* a stream of documents: jansson stops after one and says where (position) */
		doc = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK, &err);
		if (!doc) {
			for (size_t i = 0; i < off; i++)
				lines += buf[i] == '\n';
			fprintf(stderr, "error: %s: line %zu, column %d: %s\n", file,
				(size_t)err.line + lines, err.column, err.text);
			return EXIT_FAIL;
		}
		off += (size_t)err.position;
		ndoc++;
		if (json_is_array(doc)) {
			json_t *spec;
			size_t i;

			json_array_foreach(doc, i, spec) {
				_cleanup_free_ char *where = strdup_printf("%s, document %zu, item %zu",
									  file, ndoc, i);

				if (apply_spec(spec, where ? where : file) != EXIT_OK)
					ret = EXIT_FAIL;
			}
			continue;
		}
		if (ndoc == 1 && off + strspn(buf + off, " \t\r\n") >= len) {
			if (apply_spec(doc, file) != EXIT_OK)
				ret = EXIT_FAIL;
		} else {
			_cleanup_free_ char *where = strdup_printf("%s, document %zu", file, ndoc);

			if (apply_spec(doc, where ? where : file) != EXIT_OK)
				ret = EXIT_FAIL;
		}
	}
	if (ndoc == 0) {
		fprintf(stderr, "error: %s: no JSON document\n", file);
		return EXIT_FAIL;
	}
	return ret;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory: every *.json in it, in name order; one failure does not stop the others. */
static int apply_dir(const char *dir)
{
	_cleanup_strv_ char **files = calloc(1, sizeof(char *));
	DIR *dp = opendir(dir);
	struct dirent *e;
	size_t n;
	int ret = EXIT_OK;

	if (!dp || !files) {
		fprintf(stderr, "error: %s: %s\n", dir, strerror(errno));
		if (dp)
			closedir(dp);
		return EXIT_FAIL;
	}
	while ((e = readdir(dp))) {
		size_t l = strlen(e->d_name);

		if (e->d_name[0] != '.' && l > 5 && !strcmp(e->d_name + l - 5, ".json")) {
			_cleanup_free_ char *path = strdup_printf("%s/%s", dir, e->d_name);

			if (!path || strv_push(&files, path) < 0)
				break;
		}
	}
	closedir(dp);
	n = strv_length(files);
	if (n == 0) {
		fprintf(stderr, "error: %s: no *.json files\n", dir);
		return EXIT_FAIL;
	}
	qsort(files, n, sizeof(char *), name_cmp);
	for (size_t i = 0; i < n; i++)
		if (apply_file(files[i]) != EXIT_OK)
			ret = EXIT_FAIL;
	return ret;
}

/* apply -f A [-f B ...]: each a file, a directory or - (stdin), in the order given. */
static int cmd_apply(int argc, char **argv)
{
	_cleanup_strv_ char **srcs = NULL;
	int ret = EXIT_OK;
	struct stat st;

	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--filename")) && i + 1 < argc) {
			if (strv_push(&srcs, argv[++i]) < 0)
				return EXIT_FAIL;
		} else {
			return usage_error("apply: unexpected argument \"%s\" (use -f FILE)", argv[i]);
		}
	}
	if (!srcs)
		return usage_error("apply: %s", "-f FILE|DIR|- is required (- for stdin)");
	for (size_t i = 0; srcs[i]; i++) {
		int r;

		if (strcmp(srcs[i], "-") && stat(srcs[i], &st) == 0 && S_ISDIR(st.st_mode))
			r = apply_dir(srcs[i]);
		else
			r = apply_file(srcs[i]);
		if (r != EXIT_OK)
			ret = EXIT_FAIL;
	}
	return ret;
}

/* ---- get ----------------------------------------------------------------------------------- */

#define SGR_RESET "\033[0m"

/* Colour in tables: only on a terminal, not with NO_COLOR (no-color.org: set and not empty) or
 * TERM=dumb. -o json never goes through here. */
static bool use_colour(void)
{
	static int on = -1;

	if (on < 0) {
		const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

		on = isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
	}
	return on;
}

/* The SGR sequence for a pod phase in the STATUS column ("" when uncoloured). */
static const char *phase_colour(const char *phase)
{
	static const struct {
		const char *phase, *sgr;
	} map[] = {
		{ "running", "\033[32m" },    { "pending", "\033[33m" }, { "pulling", "\033[33m" },
		{ "starting", "\033[33m" },   { "stopping", "\033[33m" }, { "backoff", "\033[31m" },
		{ "failed", "\033[31m" },     { "damaged", "\033[31m" },  { "terminated", "\033[2m" },
	};

	if (!use_colour())
		return "";
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(phase, map[i].phase))
			return map[i].sgr;
	return "";
}

static void format_age(const char *rfc3339, char *out, size_t len)
{
	struct tm tm = { 0 };
	long long s;

	if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(out, len, "-");
		return;
	}
	s = (long long)(time(NULL) - timegm(&tm));
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, len, "%llds", s);
	else if (s < 7200)
		snprintf(out, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(out, len, "%lldh", s / 3600);
	else
		snprintf(out, len, "%lldd", s / 86400);
}

static void print_pod_row(json_t *p, bool wide)
{
	json_t *st = json_object_get(p, "status");
	json_t *ips = json_object_get(st, "ips");
	const char *phase = json_str(st, "phase", "?"), *sgr = phase_colour(phase);
	char age[16];

	format_age(json_str(p, "created_at", NULL), age, sizeof(age));
	/* the escape sequences go around the padded text, so the columns stay aligned */
	printf("%-24s %s%-11s%s %-8lld %-6s %-18s", json_str(p, "name", "?"), sgr, phase,
	       *sgr ? SGR_RESET : "", json_int(st, "restarts", 0), age,
	       json_array_size(ips) ? json_string_value(json_array_get(ips, 0)) : "<none>");
	if (wide) {
		json_t *ctr = json_array_get(json_object_get(p, "containers"), 0), *nic;
		size_t i;

		printf(" %-8lld ", json_int(st, "pid", 0));
		if (!json_array_size(json_object_get(p, "nics")))
			printf("%-22s", "lo");
		json_array_foreach(json_object_get(p, "nics"), i, nic)
			printf("%s%s:%s/%s", i ? "," : "", json_str(nic, "name", ""),
			       json_str(nic, "mode", ""), json_str(nic, "host_ifname", "-"));
		printf(" %s", json_str(ctr, "image", "-"));
	}
	putchar('\n');
}

static int cmd_get(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	const char *what = argc > 1 ? argv[1] : NULL, *name = argc > 2 ? argv[2] : NULL;
	bool wide = !strcmp(output, "wide");
	json_t *p;
	size_t i;
	int r;

	if (!what || (strcmp(what, "pods") && strcmp(what, "pod")))
		return usage_error("get: expected \"pods\" or \"pod NAME\"%s", "");
	if (argc > 3)
		return usage_error("get: unexpected argument \"%s\"", argv[3]);
	r = request(name ? json_pack("{s:s,s:s}", "op", "get", "name", name)
			 : json_pack("{s:s}", "op", "get"),
		    &reply);
	if (r)
		return r;
	if (!strcmp(output, "json")) {
		print_json(name ? json_object_get(reply, "pod") : json_object_get(reply, "pods"));
		return EXIT_OK;
	}
	printf("%-24s %-11s %-8s %-6s %-18s%s\n", "NAME", "STATUS", "RESTARTS", "AGE", "IP",
	       wide ? " PID      NICS                   IMAGE" : "");
	if (name) {
		print_pod_row(json_object_get(reply, "pod"), wide);
		return EXIT_OK;
	}
	json_array_foreach(json_object_get(reply, "pods"), i, p)
		print_pod_row(p, wide);
	return EXIT_OK;
}

/* ---- delete --------------------------------------------------------------------------------- */

static int cmd_delete(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	bool wait = false;
	const char *name = NULL;
	int r;

	if (argc < 3 || (strcmp(argv[1], "pod") && strcmp(argv[1], "pods")))
		return usage_error("delete: expected \"pod NAME\"%s", "");
	name = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--wait"))
			wait = true;
		else
			return usage_error("delete: unexpected argument \"%s\"", argv[i]);
	}
	r = request(json_pack("{s:s,s:s}", "op", "delete", "name", name), &reply);
	if (r)
		return r;
	if (!strcmp(output, "json"))
		print_json(reply);
	else
		printf("pod/%s %s\n", name, json_str(reply, "result", "?"));
	/* gone = neither the store nor the runtime knows it: get says not_found */
	for (int i = 0; wait && i < 1200; i++) {
		_cleanup_json_ json_t *g = json_pack("{s:s,s:s}", "op", "get", "name", name);
		_cleanup_json_ json_t *gr = NULL;

		if (call(g, NULL, 0, &gr) < 0)
			return EXIT_FAIL;
		if (!json_bool(gr, "ok", false))
			return EXIT_OK;
		usleep(100000);
	}
	if (wait) {
		fprintf(stderr, "error: pod/%s still stopping after 120 s\n", name);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* ---- exec ----------------------------------------------------------------------------------- */

/* ---- exec, attach, logs: the caller's fds go to the pod's shim ------------------------------ */

static volatile sig_atomic_t winch;

static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

/*
 * Send a request with fds and wait for its reply; on a terminal, raw mode for the session and
 * a resize frame on every SIGWINCH (the shim reads the new size from the terminal itself).
 */
static int session(json_t *req, const int *fds, size_t nfds, bool tty, json_t **ret)
{
	_cleanup_close_ int fd = api_connect();
	struct termios saved, raw;
	bool restore = false;
	struct sigaction sa = { .sa_handler = on_winch };
	int r;

	if (fd < 0)
		return -1;
	if (tty) {
		struct winsize ws;

		if (ioctl(0, TIOCGWINSZ, &ws) == 0) {
			json_object_set_new(req, "rows", json_integer(ws.ws_row));
			json_object_set_new(req, "cols", json_integer(ws.ws_col));
		}
		if (tcgetattr(0, &saved) == 0) {
			raw = saved;
			cfmakeraw(&raw);
			restore = tcsetattr(0, TCSANOW, &raw) == 0;
		}
		sigaction(SIGWINCH, &sa, NULL);
	}
	json_object_set_new(req, "version", json_integer(TANK_API_VERSION));
	r = ipc_send_json(fd, req, fds, nfds);
	while (r >= 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (winch) {
			_cleanup_json_ json_t *rz = json_pack("{s:i,s:s}", "version",
							      TANK_API_VERSION, "op", "resize");

			winch = 0;
			ipc_send_json(fd, rz, NULL, 0);
		}
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		r = ipc_recv_json(fd, ret, NULL, 0, NULL);
		break;
	}
	if (restore)
		tcsetattr(0, TCSANOW, &saved);
	if (r < 0) {
		fprintf(stderr, "tankctl: talking to tankd: %s\n", strerror(-r));
		return -1;
	}
	return 0;
}

static int session_exit(json_t *reply, const char *what)
{
	if (!json_bool(reply, "ok", false))
		return print_error(reply);
	if (json_bool(reply, "detached", false)) {
		fprintf(stderr, "\r\ndetached from %s\r\n", what);
		return EXIT_OK;
	}
	if (json_object_get(reply, "signal"))
		return 128 + (int)json_int(reply, "signal", 0);
	return (int)json_int(reply, "exit_code", 1);
}

static int cmd_exec(int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL, *env = json_array();
	_cleanup_close_ int devnull = -1;
	const char *pod = NULL, *ctr = NULL, *user = NULL, *cwd = NULL, *keys = NULL;
	bool interactive = false, tty = false;
	int fds[3] = { 0, 1, 2 };
	json_t *args;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-c") && i + 1 < argc)
			ctr = argv[++i];
		else if (!strcmp(argv[i], "-u") && i + 1 < argc)
			user = argv[++i];
		else if (!strcmp(argv[i], "-w") && i + 1 < argc)
			cwd = argv[++i];
		else if (!strcmp(argv[i], "-e") && i + 1 < argc) {
			if (!strchr(argv[++i], '=') || argv[i][0] == '=')
				return usage_error("exec: -e takes KEY=VALUE, not \"%s\"", argv[i]);
			json_array_append_new(env, json_string(argv[i]));
		} else if (!strcmp(argv[i], "--detach-keys") && i + 1 < argc)
			keys = argv[++i];
		else if (!strcmp(argv[i], "-i"))
			interactive = true;
		else if (!strcmp(argv[i], "-t"))
			tty = true;
		else if (!strcmp(argv[i], "-it") || !strcmp(argv[i], "-ti"))
			interactive = tty = true;
		else if (argv[i][0] == '-')
			return usage_error("exec: unknown option \"%s\"", argv[i]);
		else if (!pod)
			pod = argv[i];
		else
			break;
	}
	if (!pod || i >= argc)
		return usage_error("exec: %s", "usage: tankctl exec [-i] [-t] POD [-c CTR] [-u USER] "
					       "[-w DIR] [-e K=V]... -- CMD [ARG...]");
	if (tty && !isatty(0)) {
		fprintf(stderr, "error: -t needs a terminal on stdin\n");
		return EXIT_USAGE;
	}
	if (!interactive) {
		/* no -i: the command reads nothing, like kubectl exec without -i */
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		fds[0] = devnull;
	}
	args = json_array();
	for (; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	req = json_pack("{s:s,s:s,s:o,s:b}", "op", "exec", "pod", pod, "args", args, "tty", tty);
	if (ctr)
		json_object_set_new(req, "container", json_string(ctr));
	if (user)
		json_object_set_new(req, "user", json_string(user));
	if (cwd)
		json_object_set_new(req, "cwd", json_string(cwd));
	if (keys)
		json_object_set_new(req, "detach_keys", json_string(keys));
	if (json_array_size(env))
		json_object_set(req, "env_add", env);
	if (session(req, fds, 3, tty, &reply) < 0)
		return EXIT_FAIL;
	return session_exit(reply, pod);
}

static int cmd_attach(int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	const char *pod = NULL, *ctr = NULL, *keys = NULL;
	int fds[3] = { 0, 1, 2 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-c") && i + 1 < argc)
			ctr = argv[++i];
		else if (!strcmp(argv[i], "--detach-keys") && i + 1 < argc)
			keys = argv[++i];
		else if (argv[i][0] == '-' || pod)
			return usage_error("attach: unexpected argument \"%s\"", argv[i]);
		else
			pod = argv[i];
	}
	if (!pod)
		return usage_error("attach: %s", "usage: tankctl attach POD [-c CTR]");
	req = json_pack("{s:s,s:s,s:b}", "op", "attach", "pod", pod, "stdin", 1);
	if (ctr)
		json_object_set_new(req, "container", json_string(ctr));
	if (keys)
		json_object_set_new(req, "detach_keys", json_string(keys));
	if (session(req, fds, 3, isatty(0), &reply) < 0)
		return EXIT_FAIL;
	return session_exit(reply, pod);
}

static int cmd_logs(int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	const char *pod = NULL, *ctr = NULL;
	bool follow = false, stamps = false;
	long long tail = -1;
	uint64_t since = 0;
	int fds[2] = { 1, 2 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
			follow = true;
		else if (!strcmp(argv[i], "--timestamps"))
			stamps = true;
		else if (!strcmp(argv[i], "--tail") && i + 1 < argc) {
			char *end;

			tail = strtoll(argv[++i], &end, 10);
			if (*end || tail < 0)
				return usage_error("logs: --tail takes a number, not \"%s\"", argv[i]);
		} else if (!strcmp(argv[i], "--since") && i + 1 < argc) {
			if (parse_duration_ms(argv[++i], &since) < 0)
				return usage_error("logs: --since takes a duration (10s, 5m, 1h), not "
						   "\"%s\"",
						   argv[i]);
		} else if (!strcmp(argv[i], "-c") && i + 1 < argc)
			ctr = argv[++i];
		else if (argv[i][0] == '-' || pod)
			return usage_error("logs: unexpected argument \"%s\"", argv[i]);
		else
			pod = argv[i];
	}
	if (!pod)
		return usage_error("logs: %s", "usage: tankctl logs [-f] [--tail N] [--since DUR] "
					       "[--timestamps] POD [-c CTR]");
	req = json_pack("{s:s,s:s,s:b,s:b}", "op", "logs", "pod", pod, "follow", follow,
			"timestamps", stamps);
	if (ctr)
		json_object_set_new(req, "container", json_string(ctr));
	if (tail >= 0)
		json_object_set_new(req, "tail", json_integer(tail));
	if (since)
		json_object_set_new(req, "since_ms", json_integer((json_int_t)(now_wall_ms() - since)));
	/* the shim writes to our stdout and stderr directly: no byte goes through tankd */
	if (session(req, fds, 2, false, &reply) < 0)
		return EXIT_FAIL;
	return json_bool(reply, "ok", false) ? EXIT_OK : print_error(reply);
}

/* ---- traffic, info ------------------------------------------------------------------------- */

static long long drops_of(json_t *dir)
{
	const char *k;
	json_t *v;
	long long n = 0;

	json_object_foreach(json_object_get(dir, "drops"), k, v)
		n += json_int(v, "packets", 0);
	return n;
}

static void print_traffic_table(json_t *pods, json_t *prev, double secs)
{
	json_t *p;
	size_t i;

	if (prev)
		printf("%-24s %12s %12s %12s %12s %10s\n", "POD", "RX-PKT/s", "RX-BYTE/s",
		       "TX-PKT/s", "TX-BYTE/s", "DROPS/s");
	else
		printf("%-24s %12s %14s %12s %14s %10s\n", "POD", "RX-PACKETS", "RX-BYTES",
		       "TX-PACKETS", "TX-BYTES", "DROPS");
	json_array_foreach(pods, i, p) {
		json_t *in = json_object_get(p, "ingress"), *eg = json_object_get(p, "egress");
		long long v[5] = { json_int(in, "packets", 0), json_int(in, "bytes", 0),
				   json_int(eg, "packets", 0), json_int(eg, "bytes", 0),
				   drops_of(in) + drops_of(eg) };

		if (prev) {
			json_t *q = NULL, *x;
			size_t k;

			json_array_foreach(prev, k, x)
				if (!strcmp(json_str(x, "name", ""), json_str(p, "name", "")))
					q = x;
			if (q) {
				json_t *qi = json_object_get(q, "ingress"), *qe = json_object_get(q, "egress");

				v[0] -= json_int(qi, "packets", 0);
				v[1] -= json_int(qi, "bytes", 0);
				v[2] -= json_int(qe, "packets", 0);
				v[3] -= json_int(qe, "bytes", 0);
				v[4] -= drops_of(qi) + drops_of(qe);
			}
			printf("%-24s %12.0f %12.0f %12.0f %12.0f %10.0f\n", json_str(p, "name", "?"),
			       v[0] / secs, v[1] / secs, v[2] / secs, v[3] / secs, v[4] / secs);
		} else {
			printf("%-24s %12lld %14lld %12lld %14lld %10lld\n", json_str(p, "name", "?"),
			       v[0], v[1], v[2], v[3], v[4]);
		}
	}
}

static void print_flows(json_t *pod)
{
	json_t *f;
	size_t i;

	printf("%-6s %-28s %-6s %-9s %10s %12s %10s %12s %8s\n", "PROTO", "PEER", "PORT", "OPENED",
	       "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "IDLE");
	json_array_foreach(json_object_get(pod, "flows"), i, f) {
		const char *opened = json_str(f, "opened", "");
		/* the peer's port is the service port when the pod opened the flow */
		long long port = !strcmp(opened, "egress") ? json_int(f, "peer_port", 0)
							   : json_int(f, "pod_port", 0);

		printf("%-6s %-28s %-6lld %-9s %10lld %12lld %10lld %12lld %7.1fs\n",
		       json_str(f, "proto", ""), json_str(f, "peer", ""), port, opened,
		       json_int(f, "rx_packets", 0), json_int(f, "rx_bytes", 0),
		       json_int(f, "tx_packets", 0), json_int(f, "tx_bytes", 0),
		       json_int(f, "idle_ms", 0) / 1000.0);
	}
}

static int cmd_traffic(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL, *prev = NULL;
	const char *name = NULL;
	bool flows = false, deleted = false, watch = false;
	json_t *req;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flows"))
			flows = true;
		else if (!strcmp(argv[i], "--deleted"))
			deleted = true;
		else if (!strcmp(argv[i], "-w") || !strcmp(argv[i], "--watch"))
			watch = true;
		else if (argv[i][0] == '-' || name)
			return usage_error("traffic: unexpected argument \"%s\"", argv[i]);
		else
			name = argv[i];
	}
	if (flows && !name)
		return usage_error("traffic: %s", "--flows needs a POD");
	for (;;) {
		req = json_pack("{s:s,s:b,s:b}", "op", "traffic", "flows", flows, "deleted", deleted);
		if (name)
			json_object_set_new(req, "name", json_string(name));
		r = request(req, &reply);
		if (r)
			return r;
		if (!strcmp(output, "json")) {
			json_object_del(reply, "ok");
			json_object_del(reply, "version");
			print_json(deleted ? reply : json_object_get(reply, "pods"));
		} else if (flows) {
			print_flows(json_array_get(json_object_get(reply, "pods"), 0));
		} else {
			if (watch)
				printf("\033[H\033[2J"); /* a fresh screen per sample */
			print_traffic_table(json_object_get(reply, "pods"), prev, 1.0);
			if (!watch)
				printf("(RX = received by the pod, TX = sent by the pod)\n");
			if (deleted && json_array_size(json_object_get(reply, "deleted"))) {
				printf("\nDeleted pods (final totals):\n");
				print_traffic_table(json_object_get(reply, "deleted"), NULL, 1.0);
			}
		}
		fflush(stdout);
		if (!watch)
			return EXIT_OK;
		json_decref(prev);
		prev = json_incref(json_object_get(reply, "pods"));
		json_decref(reply);
		reply = NULL;
		sleep(1);
	}
}

static int cmd_policy(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	const char *pod = NULL, *peer = NULL, *dir = NULL, *port = "0/tcp";
	unsigned long pnum = 0;
	char proto[16] = "tcp", *end;
	int r;

	if (argc < 3 || strcmp(argv[1], "test"))
		return usage_error("policy: %s", "usage: tankctl policy test POD --from|--to ADDR "
						 "[--port N/proto] [--direction ingress|egress]");
	pod = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--from") && i + 1 < argc) {
			peer = argv[++i];
			dir = dir ? dir : "ingress";
		} else if (!strcmp(argv[i], "--to") && i + 1 < argc) {
			peer = argv[++i];
			dir = dir ? dir : "egress";
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = argv[++i];
		else if (!strcmp(argv[i], "--direction") && i + 1 < argc)
			dir = argv[++i];
		else
			return usage_error("policy test: unexpected argument \"%s\"", argv[i]);
	}
	if (!peer)
		return usage_error("policy test: %s", "--from ADDR or --to ADDR is required");
	if (!strcmp(port, "icmp") || !strcmp(port, "icmpv6")) {
		snprintf(proto, sizeof(proto), "%s", port);
	} else {
		pnum = strtoul(port, &end, 10);
		if (end == port || pnum > 65535 || (*end && *end != '/'))
			return usage_error("policy test: --port \"%s\" (use e.g. 80/tcp, 53/udp, icmp)",
					   port);
		if (*end == '/')
			snprintf(proto, sizeof(proto), "%s", end + 1);
	}
	r = request(json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "op", "policy_test", "pod", pod, "peer",
			      peer, "direction", dir ? dir : "ingress", "port", (int)pnum, "proto",
			      proto),
		    &reply);
	if (r)
		return r;
	if (!strcmp(output, "json")) {
		json_object_del(reply, "ok");
		json_object_del(reply, "version");
		print_json(reply);
	} else {
		printf("%s (%s%s%s)\n", json_str(reply, "verdict", "?"),
		       json_str(reply, "reason", "?"), json_str(reply, "rule_text", NULL) ? ": " : "",
		       json_str(reply, "rule_text", ""));
	}
	/* like `kubectl auth can-i`: 0 allowed, 1 denied */
	return !strncmp(json_str(reply, "verdict", ""), "allow", 5) ? EXIT_OK : EXIT_FAIL;
}

static int cmd_top(int argc, char **argv)
{
	_cleanup_json_ json_t *r1 = NULL, *r2 = NULL;
	const char *name = argc > 1 ? argv[1] : NULL;
	json_t *p;
	size_t i;
	double secs;
	int r;

	if (argc > 2)
		return usage_error("top: unexpected argument \"%s\"", argv[2]);
	/* CPU % needs two samples of the cumulative CPU time */
	r = request(name ? json_pack("{s:s,s:s}", "op", "top", "name", name)
			 : json_pack("{s:s}", "op", "top"),
		    &r1);
	if (r)
		return r;
	usleep(500000);
	r = request(name ? json_pack("{s:s,s:s}", "op", "top", "name", name)
			 : json_pack("{s:s}", "op", "top"),
		    &r2);
	if (r)
		return r;
	secs = (double)(json_int(r2, "time_ms", 0) - json_int(r1, "time_ms", 0)) / 1000.0;
	if (secs <= 0)
		secs = 0.5;
	if (strcmp(output, "json"))
		printf("%-24s %7s %12s %12s %6s\n", "POD", "CPU%", "MEMORY", "PEAK", "PIDS");
	json_array_foreach(json_object_get(r2, "pods"), i, p) {
		json_t *q = NULL, *x;
		size_t k;
		double cpu;
		char m[32], pk[32];

		json_array_foreach(json_object_get(r1, "pods"), k, x)
			if (!strcmp(json_str(x, "name", ""), json_str(p, "name", "")))
				q = x;
		cpu = q ? (double)(json_int(p, "cpu_ns", 0) - json_int(q, "cpu_ns", 0)) / 1e9 / secs *
				  100.0
			: 0;
		json_object_set_new(p, "cpu_percent", json_real(cpu));
		if (!strcmp(output, "json"))
			continue;
		human_bytes((uint64_t)json_int(p, "memory", 0), m, sizeof(m));
		human_bytes((uint64_t)json_int(p, "memory_peak", 0), pk, sizeof(pk));
		printf("%-24s %6.1f%% %12s %12s %6lld\n", json_str(p, "name", "?"), cpu, m, pk,
		       json_int(p, "pids", 0));
	}
	if (!strcmp(output, "json"))
		print_json(json_object_get(r2, "pods"));
	return EXIT_OK;
}

static int cmd_info(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	const char *k;
	json_t *v;
	int r;

	(void)argv;
	if (argc > 1)
		return usage_error("info: unexpected argument \"%s\"", argv[1]);
	r = request(json_pack("{s:s}", "op", "info"), &reply);
	if (r)
		return r;
	json_object_del(reply, "ok");
	json_object_del(reply, "version");
	if (!strcmp(output, "json")) {
		print_json(reply);
		return EXIT_OK;
	}
	json_object_foreach(reply, k, v) {
		_cleanup_free_ char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);

		printf("%-14s %s\n", k, text ? text : json_string_value(v));
	}
	return EXIT_OK;
}

/* ---- describe, wait, restart ---------------------------------------------------------------- */

/* A Warning event's row is yellow on a terminal. */
static void print_event_row(json_t *e, bool with_pod)
{
	bool warn = use_colour() && !strcmp(json_str(e, "type", ""), "Warning");

	printf("%s%-20s ", warn ? "\033[33m" : "", json_str(e, "time", ""));
	if (with_pod)
		printf("%-16s ", json_str(e, "pod", ""));
	printf("%-7s %-18s %s%s\n", json_str(e, "type", ""), json_str(e, "reason", ""),
	       json_str(e, "message", ""), warn ? SGR_RESET : "");
}

/* A JSON array of strings as one line: "a b c" (at most len bytes). */
static void join_strings(json_t *a, char *out, size_t len)
{
	size_t off = 0, i;
	json_t *x;

	out[0] = '\0';
	json_array_foreach(a, i, x)
		if (off < len)
			off += (size_t)snprintf(out + off, len - off, "%s%s", i ? " " : "",
						json_is_string(x) ? json_string_value(x) : "?");
}

/* The spec summary of describe: network, volumes, policy, and per container what it runs. */
static void describe_spec(json_t *spec)
{
	json_t *net = json_object_get(spec, "network"), *pol = json_object_get(net, "policy");
	json_t *c, *x;
	char buf[512];
	size_t i, k;

	if (!spec)
		return;
	if (json_is_object(net))
		printf("Network:     %zu NIC%s\n", json_array_size(json_object_get(net, "nics")),
		       json_array_size(json_object_get(net, "nics")) == 1 ? "" : "s");
	else
		printf("Network:     %s\n", json_is_string(net) ? json_string_value(net) : "none");
	if (json_is_object(pol)) {
		const char *dirs[] = { "ingress", "egress" };

		printf("Policy:      %s", json_str(pol, "mode", "enforce"));
		for (k = 0; k < ARRAY_SIZE(dirs); k++) {
			x = json_object_get(pol, dirs[k]);
			if (x)
				printf("; %s %zu rule%s", dirs[k], json_array_size(x),
				       json_array_size(x) == 1 ? "" : "s");
			else
				printf("; %s allow all", dirs[k]);
		}
		putchar('\n');
	}
	if (json_array_size(json_object_get(spec, "volumes")))
		printf("Volumes:\n");
	json_array_foreach(json_object_get(spec, "volumes"), i, x) {
		if (json_str(x, "host_path", NULL))
			printf("  %-10s host %s\n", json_str(x, "name", ""),
			       json_str(x, "host_path", ""));
		else if (json_str(x, "tmpfs", NULL))
			printf("  %-10s tmpfs %s\n", json_str(x, "name", ""), json_str(x, "tmpfs", ""));
		else
			printf("  %-10s pod-local\n", json_str(x, "name", ""));
	}
	json_array_foreach(json_object_get(spec, "containers"), i, c) {
		json_t *lim = json_object_get(c, "limits"), *img = json_object_get(c, "image");

		printf("Container %s:\n", json_str(c, "name", ""));
		printf("  Image:     %s\n", json_is_string(img) ? json_string_value(img)
						 : json_str(img, "rootfs", "-"));
		if (json_object_get(c, "command") || json_object_get(c, "args")) {
			char args[256];

			join_strings(json_object_get(c, "command"), buf, sizeof(buf));
			join_strings(json_object_get(c, "args"), args, sizeof(args));
			printf("  Command:   %s%s%s\n", *buf ? buf : "(image entrypoint)",
			       *args ? " " : "", args);
		}
		if (json_is_object(lim))
			printf("  Limits:    memory %s, cpu %s, pids %lld\n",
			       json_is_string(json_object_get(lim, "memory"))
				       ? json_str(lim, "memory", "") : "-",
			       json_is_string(json_object_get(lim, "cpu")) ? json_str(lim, "cpu", "")
									  : "-",
			       json_int(lim, "pids", 0));
		json_array_foreach(json_object_get(c, "mounts"), k, x)
			printf("  Mount:     %s -> %s%s\n", json_str(x, "volume", ""),
			       json_str(x, "path", ""), json_bool(x, "read_only", false) ? " (ro)" : "");
	}
}

static int cmd_describe(int argc, char **argv)
{
	_cleanup_json_ json_t *pod = NULL, *ev = NULL, *tr = NULL;
	json_t *p, *st, *x, *spec;
	const char *name;
	size_t i;
	int r;

	if (argc != 3 || strcmp(argv[1], "pod"))
		return usage_error("describe: expected \"pod NAME\"%s", "");
	name = argv[2];
	r = request(json_pack("{s:s,s:s}", "op", "get", "name", name), &pod);
	if (r)
		return r;
	/* events and traffic are extras: a pod that has none still describes */
	if (request(json_pack("{s:s,s:s,s:i}", "op", "events", "pod", name, "max", 20), &ev))
		ev = NULL;
	if (call(json_pack("{s:s,s:s}", "op", "traffic", "name", name), NULL, 0, &tr) < 0)
		tr = NULL;
	p = json_object_get(pod, "pod");
	if (!strcmp(output, "json")) {
		_cleanup_json_ json_t *o = json_pack("{s:O,s:O?,s:O?}", "pod", p, "events",
						     json_object_get(ev, "events"), "traffic",
						     json_array_get(json_object_get(tr, "pods"), 0));

		print_json(o);
		return EXIT_OK;
	}
	st = json_object_get(p, "status");
	spec = json_object_get(p, "spec");
	printf("Name:        %s\n", json_str(p, "name", ""));
	printf("UID:         %s\n", json_str(p, "uid", ""));
	printf("Revision:    %lld\n", json_int(p, "revision", 0));
	printf("Created:     %s\n", json_str(p, "created_at", "-"));
	printf("Restart:     %s\n", json_str(spec, "restart", "always"));
	describe_spec(spec);
	printf("Status:      %s\n", json_str(st, "phase", "?"));
	if (json_str(p, "error", NULL))
		printf("Error:       %s\n", json_str(p, "error", ""));
	printf("Restarts:    %lld\n", json_int(st, "restarts", 0));
	printf("Started:     %s\n", json_str(st, "started_at", "-"));
	x = json_object_get(st, "last_exit");
	if (json_is_object(x)) {
		if (json_object_get(x, "signal"))
			printf("Last exit:   signal %lld", json_int(x, "signal", 0));
		else if (json_object_get(x, "code"))
			printf("Last exit:   code %lld", json_int(x, "code", 0));
		else
			printf("Last exit:   %s", json_str(x, "reason", "?"));
		if (json_str(x, "message", NULL))
			printf(": %s", json_str(x, "message", ""));
		putchar('\n');
	}
	if (json_str(st, "message", NULL))
		printf("Message:     %s\n", json_str(st, "message", ""));
	printf("Containers:\n");
	json_array_foreach(json_object_get(p, "containers"), i, x)
		printf("  %-10s %-10s pid %-8lld %s\n", json_str(x, "name", ""),
		       json_str(x, "state", ""), json_int(x, "pid", 0), json_str(x, "image", ""));
	printf("NICs:\n");
	if (!json_array_size(json_object_get(p, "nics")))
		printf("  (loopback only)\n");
	json_array_foreach(json_object_get(p, "nics"), i, x) {
		json_t *ip;
		size_t k;

		/* eth0   macvlan  02:..:0a  on up0 (shim tank0)       198.18.0.10/24 ...
		 * eth1   veth     02:..:0b  host side tk12ab34cd   198.18.1.5/32 */
		printf("  %-6s %-8s %-17s ", json_str(x, "name", ""), json_str(x, "mode", ""),
		       json_str(x, "mac", "-"));
		if (json_str(x, "parent", NULL))
			printf("on %s (shim %s)", json_str(x, "parent", ""),
			       json_str(x, "host_shim", "-"));
		else
			printf("host side %s", json_str(x, "host_ifname", "-"));
		json_array_foreach(json_object_get(x, "ips"), k, ip)
			printf(" %s", json_string_value(ip));
		putchar('\n');
	}
	x = json_array_get(json_object_get(tr, "pods"), 0);
	if (x) {
		json_t *in = json_object_get(x, "ingress"), *eg = json_object_get(x, "egress");

		printf("Traffic:     received %lld packets, %lld bytes; sent %lld packets, %lld bytes\n",
		       json_int(in, "packets", 0), json_int(in, "bytes", 0),
		       json_int(eg, "packets", 0), json_int(eg, "bytes", 0));
	}
	printf("Events:\n");
	json_array_foreach(json_object_get(ev, "events"), i, x) {
		printf("  ");
		print_event_row(x, false);
	}
	return EXIT_OK;
}

/* wait reached its state: a line, or with -o json the pod as the API shows it (null when
 * deleted). */
static int wait_done(const char *name, const char *state, json_t *pod)
{
	if (!strcmp(output, "json")) {
		_cleanup_json_ json_t *j = json_pack("{s:s,s:s,s:O?}", "pod", name, "state", state,
						     "object", pod);

		print_json(j);
	} else {
		printf("pod/%s %s\n", name, state);
	}
	return EXIT_OK;
}

/* An error of tankctl's own in the API's shape, for print_error. */
static json_t *api_error_json(const char *code, const char *message)
{
	return json_pack("{s:i,s:b,s:{s:s,s:s}}", "version", TANK_API_VERSION, "ok", 0, "error",
			 "code", code, "message", message);
}

static int cmd_wait(int argc, char **argv)
{
	const char *name = NULL, *state = NULL;
	uint64_t timeout_ms = 30000, deadline;
	int i;

	if (argc < 3 || strcmp(argv[1], "pod"))
		return usage_error("wait: expected \"pod NAME --for STATE\"%s", "");
	name = argv[2];
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--for") && i + 1 < argc)
			state = argv[++i];
		else if (!strncmp(argv[i], "--for=", 6))
			state = argv[i] + 6;
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (parse_duration_ms(argv[++i], &timeout_ms) < 0)
				return usage_error("wait: --timeout \"%s\" is not a duration (30s, 2m)",
						   argv[i]);
		} else
			return usage_error("wait: unexpected argument \"%s\"", argv[i]);
	}
	if (!state || (strcmp(state, "running") && strcmp(state, "terminated") &&
		       strcmp(state, "deleted")))
		return usage_error("wait: --for %s", "running, terminated or deleted");
	deadline = now_mono_ms() + timeout_ms;
	for (;;) {
		_cleanup_json_ json_t *reply = NULL;
		json_t *st;
		const char *phase;

		if (call(json_pack("{s:s,s:s}", "op", "get", "name", name), NULL, 0, &reply) < 0)
			return EXIT_FAIL;
		st = json_object_get(json_object_get(reply, "pod"), "status");
		phase = json_str(st, "phase", "");
		if (!json_bool(reply, "ok", false)) {
			if (!strcmp(state, "deleted") &&
			    !strcmp(json_str(json_object_get(reply, "error"), "code", ""), "not_found"))
				return wait_done(name, state, NULL);
			if (strcmp(state, "deleted"))
				return print_error(reply);
		} else if (!strcmp(phase, state)) {
			return wait_done(name, state, json_object_get(reply, "pod"));
		}
		if (now_mono_ms() >= deadline) {
			_cleanup_free_ char *msg = strdup_printf(
				"timed out after %llu ms waiting for pod/%s to be %s (it is %s%s%s)",
				(unsigned long long)timeout_ms, name, state, *phase ? phase : "absent",
				json_str(st, "message", NULL) ? ": " : "", json_str(st, "message", ""));
			_cleanup_json_ json_t *e =
				api_error_json("timeout", msg ? msg : "timed out");

			return print_error(e);
		}
		usleep(100000);
	}
}

static int cmd_restart(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	int r;

	if (argc != 3 || strcmp(argv[1], "pod"))
		return usage_error("restart: expected \"pod NAME\"%s", "");
	r = request(json_pack("{s:s,s:s}", "op", "restart", "name", argv[2]), &reply);
	if (r)
		return r;
	if (!strcmp(output, "json"))
		print_json(reply);
	else
		printf("pod/%s restarting\n", argv[2]);
	return EXIT_OK;
}

/* ---- events ------------------------------------------------------------------------------- */

static void emit_event(json_t *e)
{
	if (!strcmp(output, "json")) {
		json_dumpf(e, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		print_event_row(e, true);
	}
	fflush(stdout);
}

static int cmd_events(int argc, char **argv)
{
	_cleanup_close_ int fd = -1;
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	const char *pod = NULL;
	bool watch = false;
	json_t *e;
	size_t i;
	int r;

	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "-w") || !strcmp(argv[i], "--watch"))
			watch = true;
		else if (argv[i][0] == '-')
			return usage_error("events: unknown option \"%s\"", argv[i]);
		else if (!pod)
			pod = argv[i];
		else
			return usage_error("events: unexpected argument \"%s\"", argv[i]);
	}
	fd = api_connect();
	if (fd < 0)
		return EXIT_FAIL;
	req = json_pack("{s:i,s:s,s:b}", "version", TANK_API_VERSION, "op", "events", "watch",
			watch);
	if (pod)
		json_object_set_new(req, "pod", json_string(pod));
	r = ipc_send_json(fd, req, NULL, 0);
	if (r >= 0)
		r = ipc_recv_json(fd, &reply, NULL, 0, NULL);
	if (r < 0) {
		fprintf(stderr, "tankctl: talking to tankd: %s\n", strerror(-r));
		return EXIT_FAIL;
	}
	if (!json_bool(reply, "ok", false))
		return print_error(reply);
	if (strcmp(output, "json"))
		printf("%-20s %-16s %-7s %-18s %s\n", "TIME", "POD", "TYPE", "REASON", "MESSAGE");
	json_array_foreach(json_object_get(reply, "events"), i, e)
		emit_event(e);
	while (watch) {
		json_t *msg = NULL;

		r = ipc_recv_json(fd, &msg, NULL, 0, NULL);
		if (r < 0) {
			fprintf(stderr, "tankctl: tankd closed the event stream\n");
			return EXIT_FAIL;
		}
		if (json_object_get(msg, "event"))
			emit_event(json_object_get(msg, "event"));
		json_decref(msg);
	}
	return EXIT_OK;
}

/* ---- version, completion ----------------------------------------------------------------- */

static int cmd_version(int argc, char **argv)
{
	json_t *reply = NULL;
	const char *server = NULL;

	(void)argv;
	if (argc > 1)
		return usage_error("version: unexpected argument \"%s\"", argv[1]);
	/* the daemon's version is a bonus: tankctl version works without tankd */
	if (call(json_pack("{s:s}", "op", "info"), NULL, 0, &reply) == 0)
		server = json_str(reply, "tankd_version", NULL);
	if (!strcmp(output, "json")) {
		_cleanup_json_ json_t *o = json_pack("{s:s,s:s?,s:i}", "tankctl", TANK_VERSION,
						     "tankd", server, "api", TANK_API_VERSION);

		print_json(o);
	} else {
		printf("tankctl %s\ntankd   %s\napi     %d\n", TANK_VERSION,
		       server ? server : "(not reachable)", TANK_API_VERSION);
	}
	json_decref(reply);
	return EXIT_OK;
}

static int cmd_completion(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "bash"))
		return usage_error("completion: only \"bash\" is supported%s", "");
	fputs("# tankctl bash completion: source <(tankctl completion bash)\n"
	      "_tankctl() {\n"
	      "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "  local cmds='apply get describe delete wait restart exec attach logs events traffic policy top pull images rmi image info version completion'\n"
	      "  case $prev in\n"
	      "    tankctl) COMPREPLY=($(compgen -W \"$cmds\" -- \"$cur\")); return;;\n"
	      "    get) COMPREPLY=($(compgen -W 'pods pod' -- \"$cur\")); return;;\n"
	      "    describe|delete|wait|restart) COMPREPLY=($(compgen -W 'pod' -- \"$cur\")); return;;\n"
	      "    -o) COMPREPLY=($(compgen -W 'json wide' -- \"$cur\")); return;;\n"
	      "    -f) COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n"
	      "    --for) COMPREPLY=($(compgen -W 'running terminated deleted' -- \"$cur\")); return;;\n"
	      "    pod|exec|attach|logs|traffic|events)\n"
	      "      COMPREPLY=($(compgen -W \"$(tankctl get pods -o json 2>/dev/null | "
	      "sed -n 's/^    \"name\": \"\\(.*\\)\",$/\\1/p')\" -- \"$cur\")); return;;\n"
	      "  esac\n"
	      "}\n"
	      "complete -F _tankctl tankctl\n",
	      stdout);
	return EXIT_OK;
}

static const struct cmd cmds[] = {
	{ "apply", cmd_apply, "apply -f FILE|DIR|- [-f ...]",
	  "Create or update pods from JSON specs (DESIGN.md §4): a file, every *.json of a\n"
	  "directory, or stdin; -f may be repeated. A file may hold one spec, a JSON array of\n"
	  "specs, or several specs one after the other. Prints created, configured or unchanged\n"
	  "per pod and exits 1 if any failed. Every problem in a spec is reported with its JSON\n"
	  "path." },
	{ "get", cmd_get, "get pods [-o json|wide] | get pod NAME [-o json]",
	  "List pods (NAME STATUS RESTARTS AGE IP), or show one. -o json prints the API objects." },
	{ "describe", cmd_describe, "describe pod NAME [-o json]",
	  "Spec summary, status, containers, NICs with addresses, traffic totals and recent events." },
	{ "delete", cmd_delete, "delete pod NAME [--wait]",
	  "Remove a pod from the desired state; --wait returns once it is gone. Deleting a pod\n"
	  "that does not exist is not an error." },
	{ "wait", cmd_wait, "wait pod NAME --for running|terminated|deleted [--timeout 30s]",
	  "Block until the pod reaches the state; exit 1 on timeout." },
	{ "restart", cmd_restart, "restart pod NAME", "Restart the pod now, with its back-off cleared." },
	{ "exec", cmd_exec,
	  "exec [-i] [-t] POD [-c CTR] [-u USER] [-w DIR] [-e K=V]... [--detach-keys K] -- CMD...",
	  "Run a command in a container's namespaces and cgroups, with its capabilities, seccomp\n"
	  "and no_new_privs. tankctl's stdout and stderr (and stdin with -i) are handed to it, so\n"
	  "no byte goes through tankd; -t gives it a pty (window size follows, Ctrl-P Ctrl-Q\n"
	  "detaches). Its exit code is tankctl's." },
	{ "attach", cmd_attach, "attach POD [-c CTR] [--detach-keys K]",
	  "Attach the terminal to a tty: true container's main process (one attacher at a time);\n"
	  "Ctrl-P Ctrl-Q detaches. Exits with the container's code if it ends meanwhile." },
	{ "logs", cmd_logs, "logs [-f] [--tail N] [--since DUR] [--timestamps] POD [-c CTR]",
	  "A container's stdout and stderr as the shim recorded them (CRI format on disk, across\n"
	  "rotated files); -f follows." },
	{ "events", cmd_events, "events [-w] [POD] [-o json]",
	  "Recent events (transitions and actions) of all pods or one; -w keeps streaming." },
	{ "traffic", cmd_traffic, "traffic [POD] [--flows] [--deleted] [-w] [-o json]",
	  "Packets and bytes each pod received (RX) and sent (TX), and drops, read from the BPF\n"
	  "maps (-o json adds the split by family, protocol, drop reason and rule). --flows lists a\n"
	  "pod's busiest flows (top talkers); --deleted adds the final totals of deleted pods; -w\n"
	  "shows live rates." },
	{ "policy", cmd_policy,
	  "policy test POD --from|--to ADDR [--port N/proto] [--direction ingress|egress]",
	  "Ask the datapath what it does with a new connection: the real program runs on a built\n"
	  "packet (BPF_PROG_RUN). Prints allow or deny and the rule that decided; exits 0 on\n"
	  "allow, 1 on deny." },
	{ "pull", cmd_pull, "pull IMAGE [-o json]",
	  "Pull an image into tankd's store (registry references with Docker Hub defaults, or\n"
	  "oci:/abs/layout[:tag]): per-layer progress bars on a terminal, plain lines otherwise." },
	{ "images", cmd_images, "images [-o json]", "The images in tankd's store." },
	{ "rmi", cmd_rmi, "rmi IMAGE",
	  "Forget an image reference (refused while a pod uses it); prune frees the space." },
	{ "image", cmd_image, "image prune | image import DIR|TAR[:TAG] [NAME[:TAG]]",
	  "prune: remove blobs and layers nothing references and no pod uses.\n"
	  "import: add the images of an OCI layout (a directory or an oci-archive tar) to the\n"
	  "store, named by their org.opencontainers.image.ref.name annotation as podman load\n"
	  "does (\"busybox:1.0\" becomes localhost/busybox:1.0), or by NAME; :TAG picks one." },
	{ "top", cmd_top, "top [POD] [-o json]",
	  "CPU use (over half a second), memory (current and peak) and pids per pod, from its\n"
	  "cgroups." },
	{ "info", cmd_info, "info [-o json]", "tankd's version, kernel features in use and paths." },
	{ "version", cmd_version, "version [-o json]", "tankctl's and tankd's versions." },
	{ "completion", cmd_completion, "completion bash",
	  "Print a bash completion script: source <(tankctl completion bash)." },
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t k = 0; k < ARRAY_SIZE(cmds); k++)
		if (!strcmp(name, cmds[k].name))
			return &cmds[k];
	return NULL;
}

int main(int argc, char **argv)
{
	char *args[256];
	int n = 0, i;

	if (getenv("TANK_SOCKET"))
		socket_path = getenv("TANK_SOCKET");
	/* global options, and -o anywhere before "--" */
	for (i = 1; i < argc && n < (int)ARRAY_SIZE(args); i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc && n < (int)ARRAY_SIZE(args))
				args[n++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			socket_path = argv[++i];
		else if (!strncmp(argv[i], "--socket=", 9))
			socket_path = argv[i] + 9;
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			output = argv[++i];
		else if (!strncmp(argv[i], "-o", 2) && argv[i][2])
			output = argv[i] + 2;
		else if (n == 0 && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
			usage(stdout);
			return EXIT_OK;
		} else
			args[n++] = argv[i];
	}
	if (*output && strcmp(output, "json") && strcmp(output, "wide"))
		return usage_error("-o: unknown format \"%s\" (use json or wide)", output);
	if (n == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	{
		const struct cmd *c = find_cmd(args[0]);

		if (!c)
			return usage_error("unknown command \"%s\"", args[0]);
		if (wants_help(n, args)) {
			printf("Usage: tankctl %s\n\n%s\n", c->usage, c->help);
			return EXIT_OK;
		}
		return c->fn(n, args);
	}
}
