/* images.c - image work off the event loop: pull workers with progress, tankctl pull/images/
 * rmi/prune/import, registry settings from tankd's config. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon/tankd.h"

#define PULL_LINE_MAX 4096

static char *store_dir(struct tankd *t)
{
	return strdup_printf("%s/images", t->cfg.data_dir);
}

/* ---- the worker --------------------------------------------------------------------------- */

#define THROTTLE_SLOTS 16

struct worker_ctx {
	int fd;
	const char *ref;
	struct {
		char digest[OCI_DIGEST_STR_MAX];
		uint64_t last_ms;
	} slot[THROTTLE_SLOTS]; /* per layer: downloads run in parallel */
	uint64_t download_ms, unpack_ms; /* from the last event */
	uint64_t bytes;			 /* blob bytes of the layers that are ready */
	unsigned n_layers;
};

/* Too soon since the last update of this layer's download? (at most ~10 a second each) */
static bool throttled(struct worker_ctx *c, const char *digest, uint64_t now)
{
	size_t i, free_i = THROTTLE_SLOTS, oldest = 0;

	for (i = 0; i < THROTTLE_SLOTS; i++) {
		if (!strcmp(c->slot[i].digest, digest))
			break;
		if (!c->slot[i].digest[0] && free_i == THROTTLE_SLOTS)
			free_i = i;
		if (c->slot[i].last_ms < c->slot[oldest].last_ms)
			oldest = i;
	}
	if (i == THROTTLE_SLOTS) {
		i = free_i < THROTTLE_SLOTS ? free_i : oldest;
		snprintf(c->slot[i].digest, sizeof(c->slot[i].digest), "%s", digest);
		c->slot[i].last_ms = now;
		return false;
	}
	if (now - c->slot[i].last_ms < 100)
		return true;
	c->slot[i].last_ms = now;
	return false;
}

static void emit_line(int fd, char kind, json_t *j)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	_cleanup_free_ char *line = s ? strdup_printf("%c %s\n", kind, s) : NULL;

	/* one write of < PIPE_BUF bytes: lines never interleave */
	if (line && strlen(line) < PULL_LINE_MAX && write(fd, line, strlen(line)) < 0)
		_exit(1);
}

static void on_progress(const struct oci_progress *ev, void *data)
{
	static const char *const phase[] = { "downloading", "verifying", "unpacking", "done",
					     "warning" };
	struct worker_ctx *c = data;
	uint64_t now = now_mono_ms();
	_cleanup_json_ json_t *j = NULL;

	c->download_ms = ev->download_ms;
	c->unpack_ms = ev->unpack_ms;
	if (ev->phase == OCI_PROGRESS_DONE && ev->digest) {
		c->bytes += ev->total;
		c->n_layers++;
	}
	/* at most ~10 updates a second per layer while bytes arrive (the first and the last
	 * always go out); every other event */
	if (ev->phase == OCI_PROGRESS_DOWNLOADING && ev->digest && ev->done && ev->done < ev->total &&
	    throttled(c, ev->digest, now))
		return;
	j = json_pack("{s:s,s:s,s:s?,s:I,s:I,s:I,s:I,s:s?}", "ref", c->ref, "phase",
		      phase[ev->phase], "digest", ev->digest, "done", (json_int_t)ev->done, "total",
		      (json_int_t)ev->total, "download_ms", (json_int_t)ev->download_ms,
		      "unpack_ms", (json_int_t)ev->unpack_ms, "message", ev->message);
	if (j)
		emit_line(c->fd, 'P', j);
}

static enum oci_pull_policy oci_policy(enum pull_policy p)
{
	return p == PULL_ALWAYS ? OCI_PULL_ALWAYS : p == PULL_NEVER ? OCI_PULL_NEVER
								  : OCI_PULL_IF_NOT_PRESENT;
}

/* The registries of tankd's config as oci/ wants them (built in the worker, never freed). */
static struct oci_registry_config *registries(struct tankd *t)
{
	struct oci_registry_config *r = calloc(t->cfg.n_registries + 1, sizeof(*r));

	for (size_t i = 0; r && i < t->cfg.n_registries; i++) {
		r[i].host = t->cfg.registries[i].host;
		r[i].insecure_http = t->cfg.registries[i].insecure;
		r[i].ca_file = t->cfg.registries[i].ca_file;
		r[i].mirrors = (const char *const *)t->cfg.registries[i].mirrors;
	}
	return r;
}

/* Fork a worker running child(); its pipe's read end (non-blocking) goes to *ret_fd. */
static int worker_fork(struct tankd *t, void (*child)(struct tankd *t, int fd, void *arg),
		       void *arg, pid_t *ret_pid, int *ret_fd)
{
	int pfd[2];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = -errno;

		close(pfd[0]);
		close(pfd[1]);
		return e;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		child(t, pfd[1], arg);
		_exit(0);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	*ret_pid = pid;
	*ret_fd = pfd[0];
	return 0;
}

static void worker_opts(struct tankd *t, struct oci_pull_opts *o)
{
	*o = (struct oci_pull_opts){ .registries = registries(t),
				     .auth_file = t->cfg.auth_file,
				     .progress = on_progress,
				     .max_parallel = t->cfg.pull_parallel,
				     .max_unpacked = t->cfg.image_max_unpacked };
}

static void worker_error(int fd, size_t i, const struct diag *d, int r)
{
	char msg[1400];
	/* the limit on unpacked bytes is tankd's to set: name the knob */
	int n = snprintf(msg, sizeof(msg), "E %zu %s%s\n", i, diag_text(d, r),
			 r == -EFBIG ? " (raise image_max_unpacked in tankd's config to allow it)"
				     : "");

	if (write(fd, msg, (size_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1)) < 0)
		_exit(1);
	_exit(1);
}

struct prepare_args {
	char *const *refs;
	const enum pull_policy *policies;
};

static void prepare_child(struct tankd *t, int fd, void *arg)
{
	struct prepare_args *a = arg;
	_cleanup_free_ char *store = store_dir(t);
	struct oci_pull_opts o;

	worker_opts(t, &o);
	for (size_t i = 0; a->refs[i]; i++) {
		struct worker_ctx c = { .fd = fd, .ref = a->refs[i] };
		struct oci_image *img = NULL;
		struct diag d = { 0 };
		_cleanup_json_ json_t *res = NULL;
		int r;

		o.policy = oci_policy(a->policies ? a->policies[i] : PULL_IF_NOT_PRESENT);
		o.progress_data = &c;
		r = oci_image_prepare_opts(store, a->refs[i], &o, &img, &d);
		if (r < 0)
			worker_error(fd, i, &d, r);
		res = json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I}", "ref", a->refs[i], "manifest_digest",
				img->manifest_digest, "layers",
				(json_int_t)strv_length(img->layer_dirs), "size", (json_int_t)c.bytes,
				"download_ms", (json_int_t)c.download_ms, "unpack_ms",
				(json_int_t)c.unpack_ms);
		emit_line(fd, 'D', res);
		oci_image_free(img);
	}
}

/*
 * Fork a worker that prepares each image (hostile input is parsed there, never in tankd) and
 * reports on a pipe, one line each: "P <progress json>", then "D <result json>" per image, or
 * "E <index> <message>" and exit 1.
 */
int images_worker_spawn(struct tankd *t, char *const *refs, const enum pull_policy *policies,
			pid_t *ret_pid, int *ret_fd)
{
	struct prepare_args a = { refs, policies };

	return worker_fork(t, prepare_child, &a, ret_pid, ret_fd);
}

struct import_args {
	const char *path, *tag, *name;
};

/* tankctl image import: one "D" line {"ref", "imported": [{ref, manifest_digest, layers, size}]} */
static void import_child(struct tankd *t, int fd, void *arg)
{
	struct import_args *a = arg;
	_cleanup_free_ char *store = store_dir(t);
	_cleanup_json_ json_t *res = NULL;
	struct worker_ctx c = { .fd = fd, .ref = a->path };
	struct oci_import_result *v = NULL;
	struct oci_pull_opts o;
	struct diag d = { 0 };
	json_t *list;
	size_t n = 0;
	int r;

	worker_opts(t, &o);
	o.progress_data = &c;
	r = oci_image_import(store, a->path, a->tag, a->name, &o, &v, &n, &d);
	if (r < 0)
		worker_error(fd, 0, &d, r);
	list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:I,s:I}", "ref", v[i].ref,
						      "manifest_digest", v[i].manifest_digest,
						      "layers", (json_int_t)v[i].layers, "size",
						      (json_int_t)v[i].size));
	res = json_pack("{s:s,s:o,s:I}", "ref", a->path, "imported", list, "unpack_ms",
			(json_int_t)c.unpack_ms);
	emit_line(fd, 'D', res);
	oci_import_results_free(v, n);
}

/*
 * Read what the worker wrote; call on_line for each complete line. Returns 1 at EOF, 0 when
 * more may come, < 0 on a read error. buf keeps a partial line between calls.
 */
int images_worker_read(int fd, char *buf, size_t *len, size_t cap,
		       void (*on_line)(char kind, const char *rest, void *data), void *data)
{
	for (;;) {
		ssize_t n = read(fd, buf + *len, cap - 1 - *len);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		*len += (size_t)n;
		buf[*len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (nl > buf + 1)
				on_line(buf[0], buf + 2, data);
			memmove(buf, nl + 1, *len - (size_t)(nl + 1 - buf) + 1);
			*len -= (size_t)(nl + 1 - buf);
		}
		if (*len >= cap - 1) /* a line longer than any the worker writes: drop it */
			*len = 0;
		if (n == 0) {
			if (*len)
				on_line(buf[0], *len > 2 ? buf + 2 : "", data);
			*len = 0;
			return 1;
		}
	}
}

/* ---- tankctl pull ------------------------------------------------------------------------- */

struct pull_job {
	struct tankd *t;
	void *client;
	pid_t pid;
	int fd;
	char buf[PULL_LINE_MAX * 2];
	size_t len;
	json_t *result; /* the D line */
	char *error;    /* the E line */
};

static void job_line(char kind, const char *rest, void *data)
{
	struct pull_job *j = data;
	json_t *x = NULL;

	if (kind == 'E') {
		const char *sp = strchr(rest, ' ');

		free(j->error);
		j->error = strdup(sp ? sp + 1 : rest);
		return;
	}
	if (json_parse_buf(rest, strlen(rest), &x, NULL) < 0)
		return;
	if (kind == 'D') {
		json_decref(j->result);
		j->result = x;
		return;
	}
	if (kind == 'P') {
		json_t *msg = json_pack("{s:i,s:b,s:o}", "version", 1, "ok", 1, "progress", x);

		if (msg && api_client_send(j->t, j->client, msg) < 0)
			kill(j->pid, SIGKILL);
		json_decref(msg);
		return;
	}
	json_decref(x);
}

void images_job_free(struct tankd *t, struct pull_job *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		loop_del(t, j->fd);
		close(j->fd);
	}
	if (j->pid > 0)
		kill(j->pid, SIGKILL); /* the client went away: stop the work it asked for */
	json_decref(j->result);
	free(j->error);
	free(j);
}

struct pull_job *images_pull_start(struct tankd *t, void *client, json_t *req, json_t **ret_err)
{
	const char *imp = json_str(req, "import", NULL);
	const char *ref = imp ? imp : json_str(req, "image", NULL);
	const char *pol = json_str(req, "pull", "always");
	char *refs[2] = { (char *)ref, NULL };
	enum pull_policy policy = !strcmp(pol, "never") ? PULL_NEVER
				  : !strcmp(pol, "if_not_present") ? PULL_IF_NOT_PRESENT
								   : PULL_ALWAYS;
	struct pull_job *j;
	int r;

	if (!ref || !*ref || strlen(ref) > 1024) {
		*ret_err = api_error("invalid", "pull: \"image\" must be an image reference", NULL,
				     NULL);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->t = t;
	j->client = client;
	if (imp) {
		struct import_args a = { imp, json_str(req, "tag", NULL), json_str(req, "name", NULL) };

		if (imp[0] != '/') {
			free(j);
			*ret_err = api_error("invalid", "import: the path must be absolute", NULL,
					     NULL);
			return NULL;
		}
		r = worker_fork(t, import_child, &a, &j->pid, &j->fd);
	} else {
		r = images_worker_spawn(t, refs, &policy, &j->pid, &j->fd);
	}
	if (r < 0 || loop_add(t, j->fd, W_IMGPULL, j) < 0) {
		*ret_err = api_error("internal", "cannot start a pull worker", NULL, NULL);
		if (r >= 0)
			close(j->fd);
		free(j);
		return NULL;
	}
	log_info("%s %s (worker pid %d)", imp ? "importing" : "pulling", ref, (int)j->pid);
	return j;
}

/* The worker wrote something: relay progress; at the end, the reply. */
void images_pull_event(struct tankd *t, struct pull_job *j)
{
	json_t *reply;
	int r = images_worker_read(j->fd, j->buf, &j->len, sizeof(j->buf), job_line, j);

	if (r == 0)
		return;
	loop_del(t, j->fd);
	close(j->fd);
	j->fd = -1;
	j->pid = 0; /* it has exited (or will); the SIGCHLD handler reaps it */
	if (j->result && !j->error) {
		reply = json_pack("{s:i,s:b,s:O}", "version", 1, "ok", 1, "image", j->result);
		log_info("pulled %s", json_str(j->result, "ref", "?"));
	} else {
		reply = api_error("pull", j->error ? j->error : "the pull worker died", NULL, NULL);
	}
	api_pull_done(t, j->client, reply);
	json_decref(reply);
}

/* ---- images, rmi, prune ---------------------------------------------------------------------- */

json_t *images_list(struct tankd *t, struct diag *d)
{
	_cleanup_free_ char *store = store_dir(t);
	struct oci_store_image *v = NULL;
	size_t n = 0;
	json_t *a;

	if (oci_store_list_images(store, &v, &n, d) < 0)
		return NULL;
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		char ts[40];

		format_time_rfc3339(v[i].pulled_ms, ts, sizeof(ts));
		json_array_append_new(a, json_pack("{s:s,s:s?,s:s?,s:s?,s:I,s:s}", "ref", v[i].ref,
						   "digest", v[i].digest, "manifest_digest",
						   v[i].manifest_digest, "config_digest",
						   v[i].config_digest, "size", (json_int_t)v[i].size,
						   "pulled_at", ts));
	}
	oci_store_images_free(v, n);
	return a;
}

/* Is the reference (as given in a spec or normalised) used by a desired or running pod? */
static const char *ref_user(struct tankd *t, const char *ref)
{
	_cleanup_free_ char *want = NULL;
	struct oci_ref r = { 0 };

	if (oci_ref_parse(ref, &r, NULL) == 0)
		want = oci_ref_canonical(&r);
	oci_ref_clear(&r);
	for (struct pod *p = t->pods; p; p = p->next) {
		for (size_t i = 0; i < p->n_ctrs; i++) {
			_cleanup_free_ char *have = NULL;
			struct oci_ref pr = { 0 };

			if (!p->ctrs[i].image_ref)
				continue;
			if (!strcmp(p->ctrs[i].image_ref, ref))
				return p->name;
			if (oci_ref_parse(p->ctrs[i].image_ref, &pr, NULL) == 0)
				have = oci_ref_canonical(&pr);
			oci_ref_clear(&pr);
			if (have && want && !strcmp(have, want))
				return p->name;
		}
	}
	return NULL;
}

int images_remove(struct tankd *t, const char *ref, struct diag *d)
{
	_cleanup_free_ char *store = store_dir(t);
	const char *user = ref_user(t, ref);

	if (user)
		return diag_fail(d, -EBUSY, "%s is used by pod %s; delete the pod first", ref, user);
	return oci_store_remove_image(store, ref, d);
}

int images_prune(struct tankd *t, struct oci_prune_stats *st, struct diag *d)
{
	_cleanup_free_ char *store = store_dir(t);
	_cleanup_strv_ char **in_use = calloc(1, sizeof(char *));

	if (!in_use)
		return -ENOMEM;
	for (struct pod *p = t->pods; p; p = p->next)
		for (size_t i = 0; i < p->n_ctrs; i++)
			if (p->ctrs[i].manifest_digest)
				strv_push(&in_use, p->ctrs[i].manifest_digest);
	return oci_store_prune(store, (const char *const *)in_use, st, d);
}
