/* metrics.c - the optional Prometheus endpoint: GET /metrics, served from tankd's event loop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "daemon/metrics.h"
#include "daemon/tankd.h"

/*
 * None of our libraries serves HTTP (libcurl is a client only), and all this needs is one
 * request line and a Connection: close answer, so it is written here by hand: HTTP/1.0 replies,
 * requests bounded in size, every socket non-blocking on tankd's epoll loop, so a slow or
 * silent client holds one of a few slots and never tankd.
 */

#define METRICS_CLIENTS_MAX 16
#define METRICS_REQ_MAX 4096           /* request line and headers */
#define METRICS_CLIENT_TIMEOUT_MS 10000

struct mclient {
	int fd;
	uint64_t deadline; /* mono ms */
	char req[METRICS_REQ_MAX + 1];
	size_t rlen;
	char *out; /* the whole response, once the request is in */
	size_t olen, off;
};

static int listen_fd = -1;
static struct mclient *clients[METRICS_CLIENTS_MAX];

static const char *const fam_key[TANK_FAM_MAX] = { "other", "ipv4", "ipv6" };
static const char *const proto_key[TANK_PROTO_MAX] = { "other", "tcp", "udp", "icmp" };
static const char *const dir_key[TANK_DIR_MAX] = { "ingress", "egress" };

/* ---- address --------------------------------------------------------------------------------- */

/* "127.0.0.1:9464" or "[::1]:9464" */
int metrics_addr_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long port;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || !colon[1] || port == 0 || port > 65535)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (*s != '[') {
		struct sockaddr_in *a = (struct sockaddr_in *)ret;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ret;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*a);
	}
	return 0;
}

bool metrics_addr_is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	return a->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

/* ---- rendering ------------------------------------------------------------------------------- */

/* A label value: \ " and newline escaped (pod and NIC names never have them; still). */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

const char *metrics_reason_key(int r)
{
	static const char *const k[TANK_REASON_MAX] = {
		[TANK_REASON_RULE] = "rule",	     [TANK_REASON_NO_POLICY] = "no_policy",
		[TANK_REASON_REPLY] = "reply",	     [TANK_REASON_RELATED] = "related",
		[TANK_REASON_ND] = "nd",	     [TANK_REASON_NON_IP] = "non_ip",
		[TANK_REASON_MIGRATED] = "migrated", [TANK_REASON_POLICY] = "policy",
		[TANK_REASON_PARSE] = "parse",	     [TANK_REASON_FRAGMENT] = "fragment",
		[TANK_REASON_FLOW_FULL] = "flow_full",
	};

	return r >= 0 && r < TANK_REASON_MAX && k[r] ? k[r] : "other";
}

static void help(FILE *f, const char *name, const char *type, const char *text)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

struct pod_stats {
	struct pod *p;
	struct np_bpf_stats2 st;
};

static void render_counters(FILE *f, struct pod_stats *ps, size_t n, bool bytes)
{
	const char *name = bytes ? "tank_pod_bytes_total" : "tank_pod_packets_total";

	help(f, name, "counter",
	     bytes ? "Bytes seen by a pod's NIC (L2 length), by direction, family and protocol."
		   : "Packets seen by a pod's NIC, by direction, family and protocol.");
	for (size_t i = 0; i < n; i++)
		for (unsigned int k = 0; k < ps[i].st.n_nics; k++) {
			if (!ps[i].st.nic[k].name[0])
				continue;
			for (int d = 0; d < TANK_DIR_MAX; d++)
				for (int fa = 0; fa < TANK_FAM_MAX; fa++)
					for (int pr = 0; pr < TANK_PROTO_MAX; pr++) {
						const struct tank_counter *c =
							&ps[i].st.nic[k].dir[d].by[fa][pr];

						if (!c->packets)
							continue;
						fprintf(f, "%s{pod=\"", name);
						label(f, ps[i].p->name);
						fputs("\",nic=\"", f);
						label(f, ps[i].st.nic[k].name);
						fprintf(f,
							"\",direction=\"%s\",family=\"%s\",proto=\"%s\"} %llu\n",
							dir_key[d], fam_key[fa], proto_key[pr],
							(unsigned long long)(bytes ? c->bytes : c->packets));
					}
		}
}

static void render(struct tankd *t, FILE *f)
{
	struct np_bpf_global g;
	struct pod_stats *ps;
	size_t n = 0, np = 0;
	unsigned int phases[PHASE_FAILED + 1] = { 0 };
	static const enum pod_phase shown[] = { PHASE_PENDING, PHASE_PULLING,  PHASE_STARTING,
						PHASE_RUNNING, PHASE_BACKOFF,  PHASE_TERMINATED,
						PHASE_STOPPING };

	for (struct pod *p = t->pods; p; p = p->next)
		np++;
	ps = calloc(np + 1, sizeof(*ps));
	for (struct pod *p = t->pods; ps && p; p = p->next) {
		if ((unsigned int)p->phase <= PHASE_FAILED)
			phases[p->phase]++;
		if (t->bpf && p->slot && np_bpf_pod_stats2(t->bpf, p->slot, &ps[n].st, NULL) == 0)
			ps[n++].p = p;
	}
	/* pod_phase_name folds some phases together: count by name */
	help(f, "tank_pods", "gauge", "Pods tankd runs, by phase.");
	for (size_t i = 0; i < ARRAY_SIZE(shown); i++) {
		unsigned int c = 0;

		for (int k = 0; k <= PHASE_FAILED; k++)
			if (!strcmp(pod_phase_name((enum pod_phase)k), pod_phase_name(shown[i])))
				c += phases[k];
		fprintf(f, "tank_pods{phase=\"%s\"} %u\n", pod_phase_name(shown[i]), c);
	}
	render_counters(f, ps, n, false);
	render_counters(f, ps, n, true);
	help(f, "tank_pod_drops_total", "counter",
	     "Packets a pod's policy dropped (reason \"policy\": no rule allows), by NIC and direction.");
	for (size_t i = 0; i < n; i++)
		for (unsigned int k = 0; k < ps[i].st.n_nics; k++)
			for (int d = 0; ps[i].st.nic[k].name[0] && d < TANK_DIR_MAX; d++)
				for (int r = 0; r < TANK_REASON_MAX; r++) {
					const struct tank_counter *c = &ps[i].st.nic[k].dir[d].drops[r];

					if (!c->packets)
						continue;
					fputs("tank_pod_drops_total{pod=\"", f);
					label(f, ps[i].p->name);
					fputs("\",nic=\"", f);
					label(f, ps[i].st.nic[k].name);
					fprintf(f, "\",direction=\"%s\",reason=\"%s\"} %llu\n", dir_key[d],
						metrics_reason_key(r), (unsigned long long)c->packets);
				}
	help(f, "tank_policy_rule_hits_total", "counter",
	     "Packets of the opening direction a policy rule allowed (rule: its index + 1 in the direction's list).");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ps[i].st.n_hits; k++) {
			fputs("tank_policy_rule_hits_total{pod=\"", f);
			label(f, ps[i].p->name);
			fprintf(f, "\",direction=\"%s\",rule=\"%u\"} %llu\n",
				dir_key[ps[i].st.hits[k].dir == TANK_DIR_EGRESS],
				ps[i].st.hits[k].rule,
				(unsigned long long)ps[i].st.hits[k].count.packets);
		}
	if (t->bpf && np_bpf_global_stats(t->bpf, &g, NULL) == 0) {
		help(f, "tank_flow_evictions_total", "counter",
		     "Flows the full flow table evicted before they ended.");
		fprintf(f, "tank_flow_evictions_total %llu\n", (unsigned long long)g.flows_evicted);
		help(f, "tank_events_lost_total", "counter",
		     "Drop events lost because the ring buffer was full.");
		fprintf(f, "tank_events_lost_total %llu\n", (unsigned long long)g.ev_lost);
	}
	for (size_t i = 0; i < n; i++)
		np_bpf_stats2_free(&ps[i].st);
	free(ps);
}

/* ---- connections ----------------------------------------------------------------------------- */

static void client_close(struct tankd *t, struct mclient *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(clients); i++)
		if (clients[i] == c)
			clients[i] = NULL;
	loop_del(t, c->fd);
	close(c->fd);
	free(c->out);
	free(c);
}

static void respond(struct mclient *c, const char *status, const char *type, const char *body,
		    size_t blen)
{
	char *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);

	if (!f)
		return;
	fprintf(f,
		"HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		status, type, blen);
	fwrite(body, 1, blen, f);
	if (fclose(f) != 0) {
		free(out);
		return;
	}
	c->out = out;
	c->olen = olen;
}

/* The request is complete (headers ended): build the whole answer. */
static void handle(struct tankd *t, struct mclient *c)
{
	char *sp = strchr(c->req, ' '), *path, *end;

	if (!sp || (size_t)(sp - c->req) != 3 || strncmp(c->req, "GET", 3)) {
		static const char m[] = "only GET\n";

		respond(c, "405 Method Not Allowed", "text/plain", m, sizeof(m) - 1);
		return;
	}
	path = sp + 1;
	end = strpbrk(path, " \r\n");
	if (end)
		*end = '\0';
	if (strcmp(path, "/metrics") && strncmp(path, "/metrics?", 9)) {
		static const char m[] = "not found: try /metrics\n";

		respond(c, "404 Not Found", "text/plain", m, sizeof(m) - 1);
		return;
	}
	{
		char *body = NULL;
		size_t blen = 0;
		FILE *f = open_memstream(&body, &blen);

		if (!f)
			return;
		render(t, f);
		if (fclose(f) == 0)
			respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, blen);
		free(body);
	}
}

static void client_event(struct tankd *t, struct mclient *c, uint32_t events)
{
	bool parsed = false;

	if (!c->out && (events & EPOLLIN)) {
		ssize_t n = read(c->fd, c->req + c->rlen, METRICS_REQ_MAX - c->rlen);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(t, c);
			return;
		}
		c->rlen += (size_t)n;
		c->req[c->rlen] = '\0';
		if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
			handle(t, c);
		} else if (c->rlen == METRICS_REQ_MAX) {
			static const char m[] = "request too large\n";

			respond(c, "431 Request Header Fields Too Large", "text/plain", m,
				sizeof(m) - 1);
		} else {
			return;
		}
		if (!c->out || loop_mod(t, c->fd, true) < 0) {
			client_close(t, c);
			return;
		}
		parsed = true; /* the first send is tried at once, below */
	}
	if (c->out && !parsed && (events & EPOLLIN) && !(events & EPOLLOUT)) {
		/* more bytes while an answer larger than the socket buffer waits for room: read and
		 * dropped (the watch is level-triggered). A client that closed its side (nc, or
		 * curl's --no-buffer shutdown) still reads: from now on only room to write is
		 * watched, and the answer goes on; an error ends it */
		char scratch[512];
		ssize_t n = read(c->fd, scratch, sizeof(scratch));

		if (n == 0 && loop_mod_events(t, c->fd, EPOLLOUT) == 0)
			return;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_close(t, c);
			return;
		}
	}
	if (c->out && c->off < c->olen) {
		ssize_t n = send(c->fd, c->out + c->off, c->olen - c->off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			client_close(t, c);
			return;
		}
		c->off += (size_t)n;
	}
	if (c->out && c->off >= c->olen) {
		/* what the client sent beyond the request is read first: closing a socket with
		 * unread input resets the connection, which can cost the client our answer */
		char scratch[4096];

		for (int i = 0; i < 16 && read(c->fd, scratch, sizeof(scratch)) > 0; i++)
			;
		client_close(t, c);
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		client_close(t, c);
	}
}

static void accept_one(struct tankd *t)
{
	uint64_t now = now_mono_ms();
	struct mclient *c;
	size_t slot = ARRAY_SIZE(clients), oldest = 0;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* clients past their time go; when all slots are busy the oldest makes room */
	for (size_t i = 0; i < ARRAY_SIZE(clients); i++) {
		if (clients[i] && clients[i]->deadline <= now)
			client_close(t, clients[i]);
		if (!clients[i] && slot == ARRAY_SIZE(clients))
			slot = i;
		if (clients[i] && clients[oldest] && clients[i]->deadline < clients[oldest]->deadline)
			oldest = i;
	}
	if (slot == ARRAY_SIZE(clients)) {
		client_close(t, clients[oldest]);
		slot = oldest;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->deadline = now + METRICS_CLIENT_TIMEOUT_MS;
	if (loop_add(t, fd, W_METRICS, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	clients[slot] = c;
}

void metrics_event(struct tankd *t, void *ptr, uint32_t events)
{
	if (ptr)
		client_event(t, ptr, events);
	else
		accept_one(t);
}

int metrics_open(struct tankd *t, struct diag *d)
{
	const char *addr = t->cfg.metrics_listen;
	struct sockaddr_storage sa;
	socklen_t len;
	int one = 1, r;

	if (!addr || !*addr)
		return 0;
	if (metrics_addr_parse(addr, &sa, &len) < 0)
		return diag_fail(d, -EINVAL,
				 "metrics_listen: \"%s\" (use ADDRESS:PORT, e.g. 127.0.0.1:9464)",
				 addr);
	if (!metrics_addr_is_loopback(&sa) && !t->cfg.metrics_allow_remote)
		return diag_fail(d, -EPERM,
				 "metrics_listen: %s is not a loopback address; the metrics name "
				 "every pod: set metrics_allow_remote = true to serve them there",
				 addr);
	listen_fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		return diag_fail(d, -errno, "metrics socket: %s", strerror(errno));
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&sa, len) < 0 || listen(listen_fd, 16) < 0) {
		r = -errno;
		close(listen_fd);
		listen_fd = -1;
		return diag_fail(d, r, "metrics_listen %s: %s", addr, strerror(-r));
	}
	r = loop_add(t, listen_fd, W_METRICS, NULL);
	if (r < 0) {
		close(listen_fd);
		listen_fd = -1;
		return diag_fail(d, r, "metrics: %s", strerror(-r));
	}
	return 1;
}
