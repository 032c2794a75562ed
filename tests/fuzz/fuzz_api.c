/* fuzz_api.c - libFuzzer target: API request decoding and dispatch (daemon/api.c), stub tankd. */
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/*
 * api.c is compiled into this target as is; what it calls outside itself (runtime, datapath,
 * images, events, the event loop) is stubbed below, and the store is an in-memory one, so no
 * tankd, kernel object or file is involved. Input: the first byte picks the mode. Even: the
 * rest is one request body, framed here (reaches the ops quickly). Odd: the rest is the raw
 * byte stream of a connection (frame headers included), closed after it.
 */
#include "daemon/api.c"

/* ---- stubs of tankd's other parts ------------------------------------------------------------ */

int loop_add(struct tankd *t, int fd, enum watch_kind kind, void *ptr)
{
	(void)t, (void)fd, (void)kind, (void)ptr;
	return 0;
}

int loop_mod(struct tankd *t, int fd, bool want_write)
{
	(void)t, (void)fd, (void)want_write;
	return 0;
}

int loop_mod_events(struct tankd *t, int fd, uint32_t events)
{
	(void)t, (void)fd, (void)events;
	return 0;
}

void loop_del(struct tankd *t, int fd)
{
	(void)t, (void)fd;
}

struct pod *pod_find(struct tankd *t, const char *name)
{
	(void)t, (void)name;
	return NULL; /* nothing runs: every op sees stored pods only */
}

json_t *pod_to_json(const struct tankd *t, const struct pod *p)
{
	(void)t, (void)p;
	return json_object();
}

int runtime_relay(struct tankd *t, struct pod *p, json_t *req, int *fds, size_t nfds,
		  int *ret_shim_fd, struct diag *d)
{
	(void)t, (void)p, (void)req, (void)fds, (void)nfds, (void)ret_shim_fd;
	return diag_fail(d, -ESRCH, "not running");
}

void runtime_restart_request(struct tankd *t, struct pod *p)
{
	(void)t, (void)p;
}

json_t *dp_traffic(struct tankd *t, struct pod *p)
{
	(void)t, (void)p;
	return NULL;
}

json_t *dp_flows(struct tankd *t, struct pod *p, size_t max)
{
	(void)t, (void)p, (void)max;
	return json_array();
}

json_t *dp_info(struct tankd *t)
{
	(void)t;
	return json_object();
}

json_t *dp_deleted_traffic(struct tankd *t)
{
	(void)t;
	return json_array();
}

json_t *dp_verdict_test(struct tankd *t, struct pod *p, enum tank_dir dir, const char *peer,
			uint16_t port, uint8_t proto, struct diag *d)
{
	(void)t, (void)p, (void)dir, (void)peer, (void)port, (void)proto;
	diag_fail(d, -EINVAL, "stub");
	return NULL;
}

int cgroup_stats(const struct tankd_config *c, enum cgroup_mode m, const char *pod,
		 const char *ctr, struct cgroup_stats *ret)
{
	(void)c, (void)m, (void)pod, (void)ctr, (void)ret;
	return -ENOENT;
}

const char *cgroup_mode_name(enum cgroup_mode m)
{
	(void)m;
	return "v1";
}

const struct np_ipam_pool *config_pool(const struct tankd_config *c, const char *name)
{
	(void)c, (void)name;
	return NULL;
}

bool np_netkit_supported(void)
{
	return false;
}

const char *np_bpf_attach_mode(const struct np_bpf *b)
{
	(void)b;
	return "tcx";
}

struct pull_job *images_pull_start(struct tankd *t, void *client, json_t *req, json_t **ret_err)
{
	(void)t, (void)client, (void)req;
	*ret_err = api_error("invalid", "stub", NULL, NULL);
	return NULL;
}

void images_job_free(struct tankd *t, struct pull_job *j)
{
	(void)t, (void)j;
}

json_t *images_list(struct tankd *t, struct diag *d)
{
	(void)t, (void)d;
	return json_array();
}

int images_remove(struct tankd *t, const char *ref, struct diag *d)
{
	(void)t, (void)ref;
	return diag_fail(d, -ENOENT, "no such image");
}

int images_prune(struct tankd *t, struct oci_prune_stats *st, struct diag *d)
{
	(void)t, (void)st, (void)d;
	return 0;
}

void event_emit(struct tankd *t, const char *pod, bool warning, const char *reason,
		const char *fmt, ...)
{
	(void)t, (void)pod, (void)warning, (void)reason, (void)fmt;
}

json_t *events_list(const char *pod, size_t max)
{
	(void)pod, (void)max;
	return json_array();
}

json_t *event_json(uint64_t seq)
{
	(void)seq;
	return NULL;
}

/* ---- an in-memory store: name -> record ------------------------------------------------------ */

static json_t *mem;

static int mem_get(struct store *s, const char *name, json_t **ret, struct diag *d)
{
	json_t *r = json_object_get(mem, name);

	(void)s;
	if (!r)
		return diag_fail(d, -ENOENT, "no pod named \"%s\"", name);
	*ret = json_incref(r);
	return 0;
}

static int mem_list(struct store *s, json_t **ret, json_t **ret_damaged, struct diag *d)
{
	const char *k;
	json_t *v, *a = json_array();

	(void)s, (void)d;
	json_object_foreach(mem, k, v)
		json_array_append(a, v);
	*ret = a;
	if (ret_damaged)
		*ret_damaged = json_pack("[{s:s,s:s}]", "name", "broken", "error", "damaged");
	return 0;
}

static int mem_put(struct store *s, const char *name, json_t *spec, int64_t expected_revision,
		   const char **ret_result, json_t **ret_record, struct diag *d)
{
	json_t *old = json_object_get(mem, name), *rec;
	json_int_t rev = old ? json_int(old, "revision", 0) : 0;

	(void)s, (void)expected_revision, (void)d;
	rec = json_pack("{s:s,s:s,s:I,s:I,s:I,s:O}", "name", name, "uid",
			"0123456789abcdef0123456789abcdef", "revision", rev + 1, "created_at",
			(json_int_t)1, "updated_at", (json_int_t)2, "spec", spec);
	if (!rec)
		return -ENOMEM;
	json_object_set_new(mem, name, rec);
	*ret_result = old ? "configured" : "created";
	if (ret_record)
		*ret_record = json_incref(rec);
	return 0;
}

static int mem_del(struct store *s, const char *name, bool *ret_existed, struct diag *d)
{
	(void)s, (void)d;
	*ret_existed = json_object_del(mem, name) == 0;
	return 0;
}

static const struct store_ops mem_ops = { .get = mem_get, .list = mem_list, .put = mem_put,
					  .del = mem_del };
static struct store mem_store = { .ops = &mem_ops };

/* ---- the target ----------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tankd t;
	static char group[] = "tank", dir[] = "/nonexistent";
	struct client *c;
	char sink[65536];
	int sv[2];

	if (size < 1 || size > 65536)
		return 0;
	if (!mem) {
		log_set_level(LOG_LVL_ERROR);
		mem = json_object();
		t.store = &mem_store;
		t.api_gid = (gid_t)-1;
		t.cfg.socket_group = group;
		t.cfg.bpf_dir = t.cfg.data_dir = t.cfg.run_dir = t.cfg.uplink = dir;
		t.cfg.dns_domain = dir;
	}
	json_object_clear(mem);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	c->fd = sv[0];
	c->exec_fd = -1;
	c->next = clients;
	clients = c;
	if (data[0] & 1) {
		if (send(sv[1], data + 1, size - 1, MSG_DONTWAIT) < 0)
			goto out;
	} else {
		unsigned char hdr[4] = { (size - 1) >> 24, (size - 1) >> 16, (size - 1) >> 8,
					 size - 1 };

		if (send(sv[1], hdr, 4, MSG_DONTWAIT) < 0 ||
		    send(sv[1], data + 1, size - 1, MSG_DONTWAIT) < 0)
			goto out;
	}
	shutdown(sv[1], SHUT_WR);
	/* reads every frame, answers each, and frees the client at the end of the stream */
	api_client_event(&t, c, EPOLLIN);
out:
	while (clients)
		client_free(&t, clients);
	while (recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	close(sv[1]);
	return 0;
}
