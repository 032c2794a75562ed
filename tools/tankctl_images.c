/* tankctl_images.c - tankctl pull, images, rmi, image prune|import: the commands and the pull
 * display (per-layer bars on a tty, plain lines otherwise). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/api.h"
#include "tools/tankctl.h"

#define VIEW_LAYERS_MAX 128 /* OCI_LAYERS_MAX: more rows than an image can have */
#define BAR_WIDTH 24

enum row_state { ROW_WAITING, ROW_DOWNLOADING, ROW_VERIFYING, ROW_UNPACKING, ROW_UNPACKED,
		 ROW_PRESENT };

struct layer_row {
	char id[13]; /* 12 hex digits of the blob digest */
	enum row_state state;
	uint64_t done, total;
	uint64_t first_done; /* bytes already there when the download started (a resume) */
	uint64_t t_first, t_end; /* mono ms: first bytes event, download complete */
	bool downloaded;
};

struct pull_view {
	bool tty;
	size_t n, drawn;
	struct layer_row rows[VIEW_LAYERS_MAX];
};

void human_bytes(uint64_t b, char *out, size_t len)
{
	if (b >= 1ULL << 30)
		snprintf(out, len, "%.1f GiB", b / 1073741824.0);
	else if (b >= 1ULL << 20)
		snprintf(out, len, "%.1f MiB", b / 1048576.0);
	else if (b >= 1024)
		snprintf(out, len, "%.1f KiB", b / 1024.0);
	else
		snprintf(out, len, "%llu B", (unsigned long long)b);
}

struct pull_view *pull_view_new(bool tty)
{
	struct pull_view *v = calloc(1, sizeof(*v));

	if (v)
		v->tty = tty;
	return v;
}

void pull_view_free(struct pull_view *v)
{
	free(v);
}

static struct layer_row *row_of(struct pull_view *v, const char *digest)
{
	const char *hex = strchr(digest, ':') ? strchr(digest, ':') + 1 : digest;
	struct layer_row *r;

	for (size_t i = 0; i < v->n; i++)
		if (!strncmp(v->rows[i].id, hex, 12))
			return &v->rows[i];
	if (v->n == VIEW_LAYERS_MAX)
		return NULL;
	r = &v->rows[v->n++];
	memset(r, 0, sizeof(*r));
	/* keep the id printable whatever the daemon sent */
	for (size_t i = 0; i < 12 && hex[i]; i++)
		r->id[i] = (hex[i] >= 0x21 && hex[i] < 0x7f) ? hex[i] : '?';
	return r;
}

/* Bytes per second of this layer's own download (not since the command started). */
static double row_rate(const struct layer_row *r, uint64_t now)
{
	uint64_t end = r->t_end ? r->t_end : now;
	double secs = (double)(end - r->t_first) / 1000.0;

	if (!r->t_first || r->done <= r->first_done || secs <= 0.0)
		return 0.0;
	return (double)(r->done - r->first_done) / secs;
}

static void row_format(const struct layer_row *r, uint64_t now, char *out, size_t len)
{
	char a[32], b[32];
	double rate = row_rate(r, now);

	human_bytes(r->done, a, sizeof(a));
	human_bytes(r->total, b, sizeof(b));
	switch (r->state) {
	case ROW_WAITING:
	case ROW_DOWNLOADING: {
		int fill = r->total ? (int)(BAR_WIDTH * r->done / r->total) : 0;
		double eta = rate > 0 ? (double)(r->total - r->done) / rate : 0;

		if (r->state == ROW_WAITING || rate <= 0)
			snprintf(out, len, "%s [%*s] %9s / %-9s", r->id, BAR_WIDTH, "", a, b);
		else
			snprintf(out, len, "%s [%.*s%*s] %9s / %-9s %7.1f MiB/s  ETA %.0fs", r->id,
				 fill, "########################", BAR_WIDTH - fill, "", a, b,
				 rate / 1048576.0, eta);
		break;
	}
	case ROW_VERIFYING:
		if (rate > 0)
			snprintf(out, len, "%s verifying  %9s  %7.1f MiB/s", r->id, b,
				 rate / 1048576.0);
		else
			snprintf(out, len, "%s verifying  %9s", r->id, b);
		break;
	case ROW_UNPACKING:
		snprintf(out, len, "%s unpacking  %9s", r->id, b);
		break;
	case ROW_UNPACKED:
		snprintf(out, len, "%s unpacked   %9s", r->id, b);
		break;
	case ROW_PRESENT:
		snprintf(out, len, "%s already present", r->id);
		break;
	}
}

static void redraw(struct pull_view *v)
{
	uint64_t now = now_mono_ms();
	char line[160];

	if (v->drawn)
		printf("\033[%zuA", v->drawn);
	for (size_t i = 0; i < v->n; i++) {
		row_format(&v->rows[i], now, line, sizeof(line));
		printf("\r\033[2K%s\n", line);
	}
	v->drawn = v->n;
	fflush(stdout);
}

/* Registry text reaches the terminal: printable ASCII only. */
static void print_warning(struct pull_view *v, const char *ref, const char *msg)
{
	char clean[512];
	size_t n = 0;

	for (; *msg && n + 1 < sizeof(clean); msg++)
		clean[n++] = (*msg >= 0x20 && *msg < 0x7f) ? *msg : '?';
	clean[n] = '\0';
	fflush(stdout);
	fprintf(stderr, "warning: %s: %s\n", ref, clean);
	fflush(stderr);
	if (v->tty && v->drawn) {
		/* the bars move below the warning */
		v->drawn = 0;
		redraw(v);
	}
}

void pull_view_event(struct pull_view *v, json_t *pr)
{
	const char *phase = json_str(pr, "phase", ""), *dg = json_str(pr, "digest", NULL);
	uint64_t done = (uint64_t)json_int(pr, "done", 0), total = (uint64_t)json_int(pr, "total", 0);
	uint64_t now = now_mono_ms();
	enum row_state before;
	struct layer_row *r;
	char a[32], line[160];

	if (!strcmp(phase, "warning")) {
		print_warning(v, json_str(pr, "ref", "?"), json_str(pr, "message", ""));
		return;
	}
	if (!dg || !(r = row_of(v, dg)))
		return; /* the whole image is ready: the summary says it */
	before = r->state;
	r->total = total ? total : r->total;
	if (!strcmp(phase, "downloading")) {
		if (r->state == ROW_WAITING) {
			r->state = ROW_DOWNLOADING;
			r->first_done = done;
		}
		if (!r->t_first && done > r->first_done) {
			/* the clock of this layer starts with its first bytes, not at the request */
			r->t_first = now;
			r->first_done = r->done;
		}
		r->done = done;
		if (total && done >= total && !r->t_end)
			r->t_end = now;
	} else if (!strcmp(phase, "verifying")) {
		r->done = done;
		r->t_end = r->t_end ? r->t_end : now;
		r->state = ROW_VERIFYING;
		r->downloaded = true;
	} else if (!strcmp(phase, "unpacking")) {
		r->state = ROW_UNPACKING;
	} else if (!strcmp(phase, "done")) {
		r->done = r->total;
		r->state = before == ROW_UNPACKING ? ROW_UNPACKED : ROW_PRESENT;
	}
	if (v->tty) {
		redraw(v);
		return;
	}
	if (r->state == before)
		return; /* plain output: one line per layer event, not per chunk */
	human_bytes(r->total, a, sizeof(a));
	switch (r->state) {
	case ROW_DOWNLOADING:
		printf("%s downloading %s\n", r->id, a);
		break;
	case ROW_VERIFYING:
		/* a layer that arrived in one piece has no rate of its own */
		if (row_rate(r, now) > 0)
			printf("%s downloaded %s in %.2f s (%.1f MiB/s)\n", r->id, a,
			       (double)(r->t_end - r->t_first) / 1000.0, row_rate(r, now) / 1048576.0);
		else
			printf("%s downloaded %s\n", r->id, a);
		break;
	default:
		row_format(r, now, line, sizeof(line));
		puts(line);
		break;
	}
	fflush(stdout);
}

void pull_view_finish(struct pull_view *v, json_t *img)
{
	long long layers = json_int(img, "layers", 0);
	const char *dg = json_str(img, "manifest_digest", "sha256:?");
	char sz[32];

	if (v->tty && v->drawn)
		redraw(v); /* the final state of every row */
	if (json_is_array(json_object_get(img, "imported"))) {
		json_t *i;
		size_t k;

		json_array_foreach(json_object_get(img, "imported"), k, i) {
			layers = json_int(i, "layers", 0);
			human_bytes((uint64_t)json_int(i, "size", 0), sz, sizeof(sz));
			printf("imported %s (%.19s) %lld layer%s, %s\n", json_str(i, "ref", "?"),
			       json_str(i, "manifest_digest", "sha256:?"), layers,
			       layers == 1 ? "" : "s", sz);
		}
		printf("unpack %.2f s\n", (double)json_int(img, "unpack_ms", 0) / 1000.0);
		fflush(stdout);
		return;
	}
	human_bytes((uint64_t)json_int(img, "size", 0), sz, sizeof(sz));
	printf("pulled %s (%.19s) %lld layer%s, %s: download %.2f s, unpack %.2f s\n",
	       json_str(img, "ref", "?"), dg, layers, layers == 1 ? "" : "s", sz,
	       (double)json_int(img, "download_ms", 0) / 1000.0,
	       (double)json_int(img, "unpack_ms", 0) / 1000.0);
	fflush(stdout);
}

/* ---- images ---------------------------------------------------------------------------- */

/* Send a pull (or import) request and show its progress stream and result. */
static int pull_stream(json_t *req)
{
	_cleanup_close_ int fd = -1;
	struct pull_view *view = NULL;
	bool json_out = !strcmp(output, "json");
	int r, ret;

	fd = api_connect();
	if (fd < 0)
		return EXIT_FAIL;
	view = pull_view_new(isatty(1) && !json_out);
	if (!view)
		return EXIT_FAIL;
	r = ipc_send_json(fd, req, NULL, 0);
	while (r >= 0) {
		json_t *msg = NULL;

		r = ipc_recv_json(fd, &msg, NULL, 0, NULL);
		if (r < 0)
			break;
		if (!json_bool(msg, "ok", false)) {
			ret = print_error(msg);
			json_decref(msg);
			pull_view_free(view);
			return ret;
		}
		if (json_object_get(msg, "progress")) {
			if (json_out) {
				json_dumpf(json_object_get(msg, "progress"), stdout, JSON_COMPACT);
				putchar('\n');
			} else {
				pull_view_event(view, json_object_get(msg, "progress"));
			}
			json_decref(msg);
			continue;
		}
		if (json_out)
			print_json(json_object_get(msg, "image"));
		else
			pull_view_finish(view, json_object_get(msg, "image"));
		json_decref(msg);
		pull_view_free(view);
		return EXIT_OK;
	}
	pull_view_free(view);
	fprintf(stderr, "tankctl: talking to tankd: %s\n", strerror(-r));
	return EXIT_FAIL;
}

int cmd_pull(int argc, char **argv)
{
	_cleanup_json_ json_t *req = NULL;

	if (argc != 2)
		return usage_error("pull: %s", "usage: tankctl pull IMAGE");
	req = json_pack("{s:i,s:s,s:s}", "version", TANK_API_VERSION, "op", "pull", "image", argv[1]);
	return req ? pull_stream(req) : EXIT_FAIL;
}

int cmd_images(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	json_t *i;
	size_t k;
	int r;

	if (argc > 1)
		return usage_error("images: unexpected argument \"%s\"", argv[1]);
	r = request(json_pack("{s:s}", "op", "images"), &reply);
	if (r)
		return r;
	if (!strcmp(output, "json")) {
		print_json(json_object_get(reply, "images"));
		return EXIT_OK;
	}
	printf("%-50s %-19s %10s  %s\n", "IMAGE", "MANIFEST", "SIZE", "PULLED");
	json_array_foreach(json_object_get(reply, "images"), k, i) {
		char sz[32];

		human_bytes((uint64_t)json_int(i, "size", 0), sz, sizeof(sz));
		printf("%-50s %-19.19s %10s  %s\n", json_str(i, "ref", "?"),
		       json_str(i, "manifest_digest", "sha256:?") + 7, sz, json_str(i, "pulled_at", ""));
	}
	return EXIT_OK;
}

int cmd_rmi(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	int r;

	if (argc != 2)
		return usage_error("rmi: %s", "usage: tankctl rmi IMAGE");
	r = request(json_pack("{s:s,s:s}", "op", "rmi", "image", argv[1]), &reply);
	if (r)
		return r;
	printf("%s removed (its blobs go at the next `tankctl image prune`)\n", argv[1]);
	return EXIT_OK;
}

int cmd_image(int argc, char **argv)
{
	_cleanup_json_ json_t *reply = NULL;
	char sz[32];
	int r;

	if (argc == 2 && !strcmp(argv[1], "prune")) {
		r = request(json_pack("{s:s}", "op", "image_prune"), &reply);
		if (r)
			return r;
		human_bytes((uint64_t)json_int(reply, "bytes", 0), sz, sizeof(sz));
		printf("removed %lld blobs (%s) and %lld unpacked layers\n", json_int(reply, "blobs", 0),
		       sz, json_int(reply, "layers", 0));
		return EXIT_OK;
	}
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "import")) {
		/* PATH, or PATH:TAG for the one manifest of that ref.name */
		char path[PATH_MAX], abs[PATH_MAX];
		const char *colon = strrchr(argv[2], ':'), *tag = NULL;
		_cleanup_json_ json_t *req = NULL;
		struct stat st;

		snprintf(path, sizeof(path), "%s", argv[2]);
		if (stat(path, &st) < 0 && colon) {
			snprintf(path, sizeof(path), "%.*s", (int)(colon - argv[2]), argv[2]);
			tag = colon + 1;
		}
		if (!realpath(path, abs)) {
			fprintf(stderr, "error: %s: %s\n", path, strerror(errno));
			return EXIT_FAIL;
		}
		req = json_pack("{s:i,s:s,s:s,s:s?,s:s?}", "version", TANK_API_VERSION, "op", "pull",
				"import", abs, "tag", tag, "name", argc == 4 ? argv[3] : NULL);
		return req ? pull_stream(req) : EXIT_FAIL;
	}
	return usage_error("image: %s", "usage: tankctl image prune | tankctl image import "
					"DIR|TAR[:TAG] [NAME[:TAG]]");
}
