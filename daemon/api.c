/* api.c - the API socket: peer check, framing, request dispatch, exec relay. */
#include <grp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "daemon/api.h"
#include "daemon/tankd.h"

#define CLIENT_OUT_MAX (8u << 20) /* queued reply bytes before a slow client is dropped */

struct client {
	struct client *next;
	int fd;
	struct ipc_reader rd;
	int exec_fd; /* the shim connection of an exec in flight, -1 if none */
	struct ipc_reader exec_rd;
	char *out;   /* frames not yet written (the socket is non-blocking) */
	size_t out_len, out_cap;
	bool watching;       /* streams events */
	char *watch_pod;     /* ... of this pod only, when set */
	bool closing;        /* free once out is flushed */
	struct pull_job *pull; /* a tankctl pull in progress */
};

static struct client *clients;

json_t *api_error(const char *code, const char *message, const char *path, json_t *details)
{
	json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);

	if (e && path && *path)
		json_object_set_new(e, "path", json_string(path));
	if (e && details)
		json_object_set(e, "details", details);
	return json_pack("{s:i,s:b,s:o}", "version", TANK_API_VERSION, "ok", 0, "error", e);
}

static json_t *ok_reply(void)
{
	return json_pack("{s:i,s:b}", "version", TANK_API_VERSION, "ok", 1);
}

static bool gid_listed(const gid_t *v, socklen_t len, gid_t gid)
{
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (v[i] == gid)
			return true;
	return false;
}

/* Root, or a member of socket_group: as primary group or as a supplementary one. */
static bool peer_allowed(struct tankd *t, int fd)
{
	gid_t groups[256];
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	if (cr.uid == 0)
		return true;
	if (t->api_gid == (gid_t)-1)
		return false;
	if (cr.gid == t->api_gid)
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		return gid_listed(groups, len, t->api_gid);
	/* more than 256 supplementary groups (directory accounts): the kernel said how many;
	 * NGROUPS_MAX (65536) bounds it */
	if (errno == ERANGE && len > sizeof(groups) && len <= 65536 * sizeof(gid_t)) {
		_cleanup_free_ gid_t *v = malloc(len);

		if (v && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, v, &len) == 0)
			return gid_listed(v, len, t->api_gid);
	}
	return false;
}

static void client_free(struct tankd *t, struct client *c)
{
	for (struct client **pp = &clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	loop_del(t, c->fd);
	close(c->fd);
	if (c->exec_fd >= 0) {
		loop_del(t, c->exec_fd);
		close(c->exec_fd);
	}
	images_job_free(t, c->pull);
	ipc_reader_clear(&c->rd);
	ipc_reader_clear(&c->exec_rd);
	free(c->out);
	free(c->watch_pod);
	free(c);
}

/* Write what the socket takes now; ask for EPOLLOUT when something is left. */
static int client_flush(struct tankd *t, struct client *c)
{
	size_t off = 0;

	while (off < c->out_len) {
		ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	return loop_mod(t, c->fd, c->out_len > 0);
}

/* Queue one frame. A client that lets CLIENT_OUT_MAX pile up is too slow and is dropped. */
static int client_send(struct tankd *t, struct client *c, json_t *msg)
{
	_cleanup_free_ char *frame = NULL;
	size_t len;
	int r = ipc_frame_json(msg, &frame, &len);

	if (r < 0)
		return r;
	if (c->out_len + len > CLIENT_OUT_MAX)
		return -ENOBUFS;
	if (c->out_cap < c->out_len + len) {
		size_t ncap = c->out_cap ? c->out_cap : 4096;
		char *nb;

		while (ncap < c->out_len + len)
			ncap *= 2;
		nb = realloc(c->out, ncap);
		if (!nb)
			return -ENOMEM;
		c->out = nb;
		c->out_cap = ncap;
	}
	memcpy(c->out + c->out_len, frame, len);
	c->out_len += len;
	return client_flush(t, c);
}

int api_client_send(struct tankd *t, void *client, json_t *msg)
{
	return client_send(t, client, msg);
}

void api_pull_done(struct tankd *t, void *client, json_t *reply)
{
	struct client *c = client;

	images_job_free(t, c->pull);
	c->pull = NULL;
	if (client_send(t, c, reply) < 0)
		client_free(t, c);
}

void api_broadcast_event(struct tankd *t, uint64_t seq, const char *pod)
{
	for (struct client *c = clients, *next; c; c = next) {
		json_t *msg;

		next = c->next;
		if (!c->watching || (c->watch_pod && strcmp(c->watch_pod, pod)))
			continue;
		msg = json_pack("{s:i,s:b,s:o}", "version", TANK_API_VERSION, "ok", 1, "event",
				event_json(seq));
		if (!msg || client_send(t, c, msg) < 0) {
			log_warn("dropping an events client that does not keep up");
			client_free(t, c);
		}
		json_decref(msg);
	}
}

void api_accept(struct tankd *t)
{
	for (;;) {
		struct client *c;
		int fd = accept4(t->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		if (!peer_allowed(t, fd)) {
			_cleanup_free_ char *msg =
				t->api_gid == (gid_t)-1
					? strdup_printf("permission denied: tankd's API is for "
							"root only (socket_group is not set)")
					: strdup_printf("permission denied: tankd's API is for "
							"root and members of group %s",
							t->cfg.socket_group);
			_cleanup_json_ json_t *e =
				api_error("permission", msg ? msg : "permission denied", NULL, NULL);

			ipc_send_json(fd, e, NULL, 0);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->exec_fd = -1;
		if (loop_add(t, fd, W_CLIENT, c) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = clients;
		clients = c;
	}
}

/* ---- ops ------------------------------------------------------------------------------------- */

void tankd_spec_host(struct tankd *t, struct tankd_spec_host *ret)
{
	size_t n = 0;

	memset(ret, 0, sizeof(*ret));
	ret->h.netkit = np_netkit_supported();
	for (size_t i = 0; i < t->cfg.n_pools && n + 1 < ARRAY_SIZE(ret->pools); i++)
		ret->pools[n++] = t->cfg.pools[i].name;
	ret->h.pools = ret->pools;
}

static json_t *invalid_reply(json_t *errs)
{
	json_t *first = json_array_get(errs, 0);
	_cleanup_free_ char *msg = NULL;

	msg = strdup_printf("%zu problem%s in the spec; first: %s: %s", json_array_size(errs),
			    json_array_size(errs) == 1 ? "" : "s", json_str(first, "path", ""),
			    json_str(first, "message", ""));
	return api_error("invalid", msg ? msg : "invalid spec", json_str(first, "path", NULL),
			 errs);
}

/* json_dump_callback sink that counts bytes and stops past the spec limit. */
static int count_until_limit(const char *buf, size_t size, void *data)
{
	size_t *n = data;

	(void)buf;
	*n += size;
	return *n > SPEC_DOC_MAX ? -1 : 0;
}

/*
 * The spec with its unit-bearing values in one form (cpu in millicores, sizes in bytes,
 * durations in ms) and its defaults filled in, so that "0.5" and "500m" compare equal. ps is
 * the parse of spec (same order of containers and volumes).
 */
static json_t *spec_normalised(const json_t *spec, const struct pod_spec *ps)
{
	json_t *n = json_deep_copy(spec), *c, *v;
	size_t i;

	if (!n)
		return NULL;
	json_object_set_new(n, "restart", json_string(restart_policy_name(ps->restart)));
	if (!json_object_get(n, "network"))
		json_object_set_new(n, "network", json_string("none"));
	json_array_foreach(json_object_get(n, "containers"), i, c) {
		const struct spec_container *sc = i < ps->n_containers ? &ps->containers[i] : NULL;
		json_t *lim = json_object_get(c, "limits");

		if (!sc)
			break;
		if (json_object_get(lim, "cpu"))
			json_object_set_new(lim, "cpu", json_integer((json_int_t)sc->limits.cpu_milli));
		if (json_object_get(lim, "memory"))
			json_object_set_new(lim, "memory", json_integer((json_int_t)sc->limits.memory));
		json_object_set_new(c, "stop_grace", json_integer((json_int_t)sc->stop_grace_ms));
	}
	json_array_foreach(json_object_get(n, "volumes"), i, v)
		if (i < ps->n_volumes && json_object_get(v, "tmpfs"))
			json_object_set_new(v, "tmpfs",
					    json_integer((json_int_t)ps->volumes[i].tmpfs_size));
	return n;
}

/* The stored spec of pod name means the same as spec (parsed as ps): nothing to write. */
static bool spec_is_stored(struct tankd *t, const json_t *spec, const struct pod_spec *ps,
			   json_t **ret_record)
{
	_cleanup_json_ json_t *rec = NULL, *a = NULL, *b = NULL;
	struct pod_spec *old = NULL;
	bool same;

	if (t->store->ops->get(t->store, ps->name, &rec, NULL) < 0)
		return false; /* absent, or damaged: a put (re)writes it */
	if (spec_parse(json_object_get(rec, "spec"), &old, NULL, NULL) < 0)
		return false;
	a = spec_normalised(json_object_get(rec, "spec"), old);
	b = spec_normalised(spec, ps);
	pod_spec_free(old);
	same = a && b && json_equal(a, b);
	if (same)
		*ret_record = TAKE_PTR(rec);
	return same;
}

static json_t *op_apply(struct tankd *t, json_t *req)
{
	json_t *spec = json_object_get(req, "spec");
	_cleanup_json_ json_t *errs = NULL, *rec = NULL;
	struct pod_spec *ps = NULL;
	const char *result = NULL;
	struct tankd_spec_host host;
	struct diag d = { 0 };
	size_t spec_len = 0;
	json_t *reply;
	int r;

	if (!json_is_object(spec))
		return api_error("invalid", "apply: \"spec\" must be a JSON object (the pod spec)",
				 NULL, NULL);
	/* the same limit as for a spec file (tankctl, seed): counted on its compact form */
	if (json_dump_callback(spec, count_until_limit, &spec_len, JSON_COMPACT) < 0)
		return api_error("invalid",
				 spec_len > SPEC_DOC_MAX
					 ? "apply: the spec is larger than the limit of 1 MiB "
					   "(compact JSON); split it or shorten it"
					 : "apply: the spec cannot be encoded",
				 NULL, NULL);
	tankd_spec_host(t, &host);
	r = spec_parse_host(spec, &host.h, &ps, &errs, &d);
	if (r < 0)
		return errs ? invalid_reply(errs)
			    : api_error("invalid", diag_text(&d, r), d.path, NULL);
	if (spec_is_stored(t, spec, ps, &rec)) {
		result = "unchanged"; /* the same spec in other words (e.g. cpu "0.5" vs "500m") */
		r = 0;
	} else {
		r = t->store->ops->put(t->store, ps->name, spec, -1, &result, &rec, &d);
	}
	if (r < 0) {
		pod_spec_free(ps);
		return api_error("internal", diag_text(&d, r), NULL, NULL);
	}
	event_emit(t, ps->name, false, "Applied", "%s (revision %lld)", result,
		json_int(rec, "revision", 0));
	reply = ok_reply();
	json_object_set_new(reply, "pod", json_string(ps->name));
	json_object_set_new(reply, "result", json_string(result));
	pod_spec_free(ps);
	return reply;
}

/* A stored pod the reconciler has not picked up yet is shown as pending. */
static json_t *pending_json(json_t *rec)
{
	char created[40];

	format_time_rfc3339((uint64_t)json_int(rec, "created_at", 0), created, sizeof(created));
	return json_pack("{s:s,s:s,s:s,s:I,s:{s:s,s:i,s:i,s:[],s:n,s:n},s:[],s:[],s:O}",
			 "created_at", created, "name",
			 json_str(rec, "name", ""), "uid", json_str(rec, "uid", ""), "revision",
			 json_int(rec, "revision", 0), "status", "phase", "pending", "restarts", 0,
			 "pid", 0, "ips", "last_exit", "started_at", "containers", "nics", "spec",
			 json_object_get(rec, "spec"));
}

static json_t *pod_view(struct tankd *t, json_t *rec)
{
	struct pod *p = pod_find(t, json_str(rec, "name", ""));

	return p ? pod_to_json(t, p) : pending_json(rec);
}

/* A pod whose store record is damaged: what runs (if anything) with phase "damaged" and why. */
static json_t *damaged_view(struct tankd *t, const char *name, const char *error)
{
	struct pod *p = pod_find(t, name);
	json_t *o;

	if (p) {
		o = pod_to_json(t, p);
		json_object_set_new(json_object_get(o, "status"), "phase", json_string("damaged"));
	} else {
		o = json_pack("{s:s,s:{s:s,s:i,s:i,s:[],s:n,s:n},s:[],s:[]}", "name", name, "status",
			      "phase", "damaged", "restarts", 0, "pid", 0, "ips", "last_exit",
			      "started_at", "containers", "nics");
	}
	if (o)
		json_object_set_new(o, "error", json_string(error));
	return o;
}

static json_t *op_get(struct tankd *t, json_t *req)
{
	const char *name = json_str(req, "name", NULL);
	_cleanup_json_ json_t *records = NULL, *damaged = NULL;
	struct diag d = { 0 };
	json_t *reply, *pods, *rec;
	size_t i;
	int r;

	if (name) {
		struct pod *p = pod_find(t, name);

		r = t->store->ops->get(t->store, name, &records, &d);
		if (r == -ENOENT && p) {
			/* deleted from the store, still being torn down */
			reply = ok_reply();
			json_object_set_new(reply, "pod", pod_to_json(t, p));
			return reply;
		}
		if (r == -ENOENT)
			return api_error("not_found", "no such pod", NULL, NULL);
		if (r == -EBADMSG) {
			reply = ok_reply();
			json_object_set_new(reply, "pod", damaged_view(t, name, diag_text(&d, r)));
			return reply;
		}
		if (r < 0)
			return api_error("internal", diag_text(&d, r), NULL, NULL);
		reply = ok_reply();
		json_object_set_new(reply, "pod", pod_view(t, records));
		return reply;
	}
	r = t->store->ops->list(t->store, &records, &damaged, &d);
	if (r < 0)
		return api_error("internal", diag_text(&d, r), NULL, NULL);
	pods = json_array();
	json_array_foreach(records, i, rec)
		json_array_append_new(pods, pod_view(t, rec));
	json_array_foreach(damaged, i, rec)
		json_array_append_new(pods, damaged_view(t, json_str(rec, "name", "?"),
							 json_str(rec, "error", "damaged")));
	reply = ok_reply();
	json_object_set_new(reply, "pods", pods);
	return reply;
}

static json_t *op_delete(struct tankd *t, json_t *req)
{
	const char *name = json_str(req, "name", NULL);
	struct diag d = { 0 };
	bool existed = false;
	json_t *reply;
	int r;

	if (!name || !spec_name_is_valid(name))
		return api_error("invalid", "delete: \"name\" must be a pod name", NULL, NULL);
	r = t->store->ops->del(t->store, name, &existed, &d);
	if (r < 0)
		return api_error("internal", diag_text(&d, r), NULL, NULL);
	if (existed)
		event_emit(t, name, false, "DeleteRequested", "removed from the store");
	reply = ok_reply();
	json_object_set_new(reply, "result", json_string(existed ? "deleted" : "not found"));
	return reply;
}

static json_t *op_traffic(struct tankd *t, json_t *req)
{
	const char *name = json_str(req, "name", NULL);
	json_int_t top = json_int(req, "top", 20);
	json_t *pods = json_array(), *reply;

	if (name && !pod_find(t, name)) {
		json_decref(pods);
		return api_error("not_found", "no such pod running", NULL, NULL);
	}
	for (struct pod *p = t->pods; p; p = p->next) {
		json_t *j;

		if (name && strcmp(name, p->name))
			continue;
		j = dp_traffic(t, p);
		if (!j)
			continue;
		if (json_bool(req, "flows", false))
			json_object_set_new(j, "flows",
					    dp_flows(t, p, top > 0 && top <= 10000 ? (size_t)top : 20));
		json_array_append_new(pods, j);
	}
	reply = ok_reply();
	json_object_set_new(reply, "pods", pods);
	if (json_bool(req, "deleted", false))
		json_object_set_new(reply, "deleted", dp_deleted_traffic(t));
	return reply;
}

/* policy_test {pod, direction, peer, port, proto}: the datapath's own verdict. */
static json_t *op_policy_test(struct tankd *t, json_t *req)
{
	const char *name = json_str(req, "pod", NULL), *dir = json_str(req, "direction", "ingress");
	const char *proto = json_str(req, "proto", "tcp");
	struct pod *p = name ? pod_find(t, name) : NULL;
	json_int_t port = json_int(req, "port", 0);
	struct diag d = { 0 };
	uint8_t pr;
	json_t *v, *reply;

	if (!p)
		return api_error("not_found", "no such pod running", NULL, NULL);
	if (strcmp(dir, "ingress") && strcmp(dir, "egress"))
		return api_error("invalid", "direction: ingress or egress", NULL, NULL);
	if (port < 0 || port > 65535)
		return api_error("invalid", "port: 0-65535", NULL, NULL);
	if (!strcmp(proto, "tcp"))
		pr = IPPROTO_TCP;
	else if (!strcmp(proto, "udp"))
		pr = IPPROTO_UDP;
	else if (!strcmp(proto, "sctp"))
		pr = IPPROTO_SCTP;
	else if (!strcmp(proto, "icmp"))
		pr = IPPROTO_ICMP;
	else if (!strcmp(proto, "icmpv6"))
		pr = IPPROTO_ICMPV6;
	else
		return api_error("invalid", "proto: tcp, udp, sctp, icmp or icmpv6", NULL, NULL);
	if (!p->n_nics)
		return api_error("invalid", "the pod has no NICs, so no datapath to ask", NULL, NULL);
	v = dp_verdict_test(t, p, strcmp(dir, "ingress") ? TANK_DIR_EGRESS : TANK_DIR_INGRESS,
			    json_str(req, "peer", ""), (uint16_t)port, pr, &d);
	if (!v)
		return api_error("invalid", diag_text(&d, d.err ? d.err : -EINVAL), NULL, NULL);
	reply = ok_reply();
	json_object_update(reply, v);
	json_decref(v);
	return reply;
}

/* top: cumulative CPU time, memory and pids per container, read from the cgroups. */
static json_t *op_top(struct tankd *t, json_t *req)
{
	const char *name = json_str(req, "name", NULL);
	json_t *pods = json_array(), *reply;

	if (name && !pod_find(t, name)) {
		json_decref(pods);
		return api_error("not_found", "no such pod running", NULL, NULL);
	}
	for (struct pod *p = t->pods; p; p = p->next) {
		json_t *ctrs = json_array();
		struct cgroup_stats sum = { 0 };

		if (name && strcmp(name, p->name))
			continue;
		for (size_t i = 0; i < p->n_ctrs; i++) {
			struct cgroup_stats st;

			if (cgroup_stats(&t->cfg, t->cgroups, p->name, p->ctrs[i].name, &st) < 0)
				continue;
			sum.cpu_ns += st.cpu_ns;
			sum.memory += st.memory;
			sum.memory_peak += st.memory_peak;
			sum.pids += st.pids;
			json_array_append_new(ctrs, json_pack("{s:s,s:I,s:I,s:I,s:I}", "name",
							      p->ctrs[i].name, "cpu_ns",
							      (json_int_t)st.cpu_ns, "memory",
							      (json_int_t)st.memory, "memory_peak",
							      (json_int_t)st.memory_peak, "pids",
							      (json_int_t)st.pids));
		}
		json_array_append_new(pods, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "name", p->name,
						      "cpu_ns", (json_int_t)sum.cpu_ns, "memory",
						      (json_int_t)sum.memory, "memory_peak",
						      (json_int_t)sum.memory_peak, "pids",
						      (json_int_t)sum.pids, "containers", ctrs));
	}
	reply = ok_reply();
	json_object_set_new(reply, "time_ms", json_integer((json_int_t)now_mono_ms()));
	json_object_set_new(reply, "pods", pods);
	return reply;
}

static json_t *op_info(struct tankd *t)
{
	json_t *reply = ok_reply();

	json_object_set_new(reply, "tankd_version", json_string(TANK_VERSION));
	json_object_set_new(reply, "bpf_attach", json_string(np_bpf_attach_mode(t->bpf)));
	json_object_set_new(reply, "bpf_dir", json_string(t->cfg.bpf_dir));
	json_object_set_new(reply, "cgroups", json_string(cgroup_mode_name(t->cgroups)));
	json_object_set_new(reply, "store", json_string("file"));
	json_object_set_new(reply, "netkit", json_string(np_netkit_supported() ? "yes" : "no (veth instead)"));
	json_object_set_new(reply, "bpffs", json_string(fs_exists("/sys/fs/bpf") ? "/sys/fs/bpf" : "absent"));
	json_object_set_new(reply, "uplink", json_string(*t->cfg.uplink ? t->cfg.uplink : "(default route)"));
	json_object_set_new(reply, "dns", json_string(t->cfg.dns ? t->cfg.dns_domain : "off"));
	json_object_set_new(reply, "pods", json_integer((json_int_t)({
		size_t n = 0;
		for (struct pod *p = t->pods; p; p = p->next)
			n++;
		n;
	})));
	json_object_set_new(reply, "reconcile_pass_us", json_integer((json_int_t)t->pass_us));
	json_object_set_new(reply, "data_dir", json_string(t->cfg.data_dir));
	json_object_set_new(reply, "run_dir", json_string(t->cfg.run_dir));
	json_object_set_new(reply, "datapath", dp_info(t));
	return reply;
}

/* exec: hand the caller's fds to the shim; the reply comes later through api_exec_event. */
static json_t *op_exec(struct tankd *t, struct client *c, json_t *req, int *fds, size_t nfds)
{
	const char *name = json_str(req, "pod", NULL);
	struct pod *p = name ? pod_find(t, name) : NULL;
	struct diag d = { 0 };
	int r, sfd = -1;

	if (!p)
		return api_error("not_found", "no such pod running", NULL, NULL);
	if (c->exec_fd >= 0)
		return api_error("invalid", "one exec, attach or logs at a time per connection", NULL,
				 NULL);
	r = runtime_relay(t, p, req, fds, nfds, &sfd, &d);
	if (r < 0)
		return api_error(r == -ESRCH ? "not_running" : "invalid", diag_text(&d, r), NULL,
				 NULL);
	c->exec_fd = sfd;
	if (loop_add(t, sfd, W_EXEC, c) < 0) {
		close(sfd);
		c->exec_fd = -1;
		return api_error("internal", "cannot watch the exec", NULL, NULL);
	}
	return NULL;
}

static json_t *op_events(struct client *c, json_t *req)
{
	const char *pod = json_str(req, "pod", NULL);
	json_int_t max = json_int(req, "max", 500);
	json_t *reply = ok_reply();

	if (pod && !spec_name_is_valid(pod)) {
		json_decref(reply);
		return api_error("invalid", "events: \"pod\" must be a pod name", NULL, NULL);
	}
	json_object_set_new(reply, "events", events_list(pod, max > 0 && max <= 5000 ? (size_t)max : 500));
	if (json_bool(req, "watch", false)) {
		c->watching = true;
		free(c->watch_pod);
		c->watch_pod = pod ? strdup(pod) : NULL;
	}
	return reply;
}

static json_t *op_restart(struct tankd *t, json_t *req)
{
	const char *name = json_str(req, "name", NULL);
	struct pod *p = name ? pod_find(t, name) : NULL;
	json_t *reply;

	if (!p)
		return api_error("not_found", "no such pod running", NULL, NULL);
	if (p->phase == PHASE_PULLING || p->phase == PHASE_STARTING || p->phase == PHASE_STOPPING)
		return api_error("busy",
				 "the pod is being pulled, started or stopped; try again when it "
				 "settles (tankctl wait pod NAME --for running)",
				 NULL, NULL);
	runtime_restart_request(t, p);
	reply = ok_reply();
	json_object_set_new(reply, "result", json_string("restarting"));
	return reply;
}

static json_t *op_images(struct tankd *t, struct client *c, const char *op, json_t *req)
{
	struct diag d = { 0 };
	json_t *reply, *err = NULL;

	if (!strcmp(op, "pull")) {
		if (c->pull)
			return api_error("invalid", "one pull at a time per connection", NULL, NULL);
		c->pull = images_pull_start(t, c, req, &err);
		return c->pull ? NULL : err;
	}
	if (!strcmp(op, "images")) {
		json_t *list = images_list(t, &d);

		if (!list)
			return api_error("internal", diag_text(&d, d.err ? d.err : -EIO), NULL, NULL);
		reply = ok_reply();
		json_object_set_new(reply, "images", list);
		return reply;
	}
	if (!strcmp(op, "rmi")) {
		const char *ref = json_str(req, "image", "");
		int r = images_remove(t, ref, &d);

		if (r < 0)
			return api_error(r == -ENOENT ? "not_found" : r == -EBUSY ? "busy" : "internal",
					 diag_text(&d, r), NULL, NULL);
		reply = ok_reply();
		json_object_set_new(reply, "result", json_string("removed"));
		return reply;
	}
	/* image_prune */
	{
		struct oci_prune_stats st = { 0 };
		int r = images_prune(t, &st, &d);

		if (r < 0)
			return api_error(r == -EBUSY ? "busy" : "internal", diag_text(&d, r), NULL,
					 NULL);
		reply = ok_reply();
		json_object_set_new(reply, "blobs", json_integer((json_int_t)st.blobs));
		json_object_set_new(reply, "layers", json_integer((json_int_t)st.layers));
		json_object_set_new(reply, "bytes", json_integer((json_int_t)st.bytes));
		return reply;
	}
}

static json_t *handle(struct tankd *t, struct client *c, json_t *req, int *fds, size_t nfds)
{
	const char *op = json_str(req, "op", "");
	json_int_t v = json_int(req, "version", 0);

	if (!json_is_object(req))
		return api_error("invalid", "a request is a JSON object", NULL, NULL);
	if (!json_is_integer(json_object_get(req, "version")))
		return api_error("invalid",
				 "a request needs \"version\": 1 (the API version it speaks)",
				 NULL, NULL);
	if (v != TANK_API_VERSION)
		return api_error("version", "unsupported API version (this tankd speaks 1)", NULL,
				 NULL);
	if (!strcmp(op, "apply"))
		return op_apply(t, req);
	if (!strcmp(op, "get"))
		return op_get(t, req);
	if (!strcmp(op, "delete"))
		return op_delete(t, req);
	if (!strcmp(op, "traffic"))
		return op_traffic(t, req);
	if (!strcmp(op, "info"))
		return op_info(t);
	if (!strcmp(op, "exec") || !strcmp(op, "attach") || !strcmp(op, "logs"))
		return op_exec(t, c, req, fds, nfds);
	if (!strcmp(op, "resize")) {
		/* a terminal changed size during exec/attach: tell the shim, no reply */
		if (c->exec_fd >= 0)
			ipc_send_json(c->exec_fd, req, NULL, 0);
		return NULL;
	}
	if (!strcmp(op, "events"))
		return op_events(c, req);
	if (!strcmp(op, "policy_test"))
		return op_policy_test(t, req);
	if (!strcmp(op, "top"))
		return op_top(t, req);
	if (!strcmp(op, "pull") || !strcmp(op, "images") || !strcmp(op, "rmi") ||
	    !strcmp(op, "image_prune"))
		return op_images(t, c, op, req);
	if (!strcmp(op, "restart"))
		return op_restart(t, req);
	return api_error("invalid",
			 "unknown op (valid: apply, get, delete, exec, attach, logs, resize, "
			 "traffic, policy_test, top, info, events, restart, pull, images, rmi, "
			 "image_prune)",
			 NULL, NULL);
}

void api_client_event(struct tankd *t, void *client, uint32_t events)
{
	struct client *c = client;

	if ((events & EPOLLOUT) && client_flush(t, c) < 0) {
		client_free(t, c);
		return;
	}
	if (c->closing) {
		if (c->out_len == 0 || (events & (EPOLLHUP | EPOLLERR)))
			client_free(t, c);
		return;
	}
	for (;;) {
		int fds[IPC_FDS_MAX];
		size_t nfds = 0;
		json_t *req = NULL, *reply;
		int r = ipc_reader_next(&c->rd, c->fd, &req, fds, &nfds);

		if (r == 0)
			return;
		if (r == -EPROTO) {
			/* say why, then hang up once that is written */
			_cleanup_json_ json_t *e = api_error(
				"invalid", "bad frame (not JSON, or larger than 4 MiB)", NULL, NULL);

			c->closing = true;
			if (client_send(t, c, e) < 0 || c->out_len == 0)
				client_free(t, c);
			return;
		}
		if (r < 0) {
			client_free(t, c);
			return;
		}
		reply = handle(t, c, req, fds, nfds);
		json_decref(req);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]); /* the shim has its own copies now */
		if (reply) {
			r = client_send(t, c, reply);
			json_decref(reply);
			if (r < 0) {
				client_free(t, c);
				return;
			}
		}
	}
}

void api_exec_event(struct tankd *t, void *client)
{
	struct client *c = client;
	int fds[IPC_FDS_MAX];
	size_t nfds = 0;
	json_t *res = NULL, *reply;
	int r = ipc_reader_next(&c->exec_rd, c->exec_fd, &res, fds, &nfds);

	if (r == 0)
		return;
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	loop_del(t, c->exec_fd);
	close(c->exec_fd);
	c->exec_fd = -1;
	ipc_reader_clear(&c->exec_rd);
	if (r < 0) {
		reply = api_error("internal", "the shim closed the exec without a result", NULL,
				  NULL);
	} else if (!json_bool(res, "ok", false)) {
		reply = api_error("exec", json_str(res, "error", "exec failed"), NULL, NULL);
	} else {
		const char *keys[] = { "signal", "exit_code", "detached" };

		reply = ok_reply();
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			if (json_object_get(res, keys[i]))
				json_object_set(reply, keys[i], json_object_get(res, keys[i]));
	}
	json_decref(res);
	if (client_send(t, c, reply) < 0)
		client_free(t, c);
	json_decref(reply);
}
