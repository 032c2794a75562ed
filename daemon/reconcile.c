/* reconcile.c - the level-triggered pass: read desired state, plan, hand actions to runtime. */
#include <string.h>

#include "daemon/tankd.h"

/*
 * The pod index: a jansson object (the hash table the tree already has) from name to the pod's
 * address, so that a pass over 1,000 pods does 1,000 lookups, not 500,000 string compares.
 * Should an insert fail for memory, pod_find falls back to walking the list for good.
 */
struct pod *pod_find(struct tankd *t, const char *name)
{
	json_t *v;

	if (t->pod_index_broken) {
		for (struct pod *p = t->pods; p; p = p->next)
			if (!strcmp(p->name, name))
				return p;
		return NULL;
	}
	v = json_object_get(t->pod_index, name);
	return v ? (struct pod *)(intptr_t)json_integer_value(v) : NULL;
}

void pod_link(struct tankd *t, struct pod *p)
{
	p->next = t->pods;
	t->pods = p;
	if (!t->pod_index && !(t->pod_index = json_object()))
		t->pod_index_broken = true;
	if (!t->pod_index_broken &&
	    json_object_set_new(t->pod_index, p->name, json_integer((json_int_t)(intptr_t)p)) < 0)
		t->pod_index_broken = true;
}

void pod_unlink(struct tankd *t, struct pod *p)
{
	json_t *v = json_object_get(t->pod_index, p->name);

	if (v && json_integer_value(v) == (json_int_t)(intptr_t)p)
		json_object_del(t->pod_index, p->name);
	for (struct pod **pp = &t->pods; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static enum restart_policy record_restart(json_t *rec)
{
	const char *r = json_str(json_object_get(rec, "spec"), "restart", "always");

	if (!strcmp(r, "never"))
		return RESTART_NEVER;
	if (!strcmp(r, "on_failure"))
		return RESTART_ON_FAILURE;
	return RESTART_ALWAYS;
}

/* FNV-1a over the canonical spec without the parts that change in place (limits, policy). */
uint64_t spec_static_hash(const json_t *spec)
{
	_cleanup_json_ json_t *copy = json_deep_copy(spec);
	_cleanup_free_ char *text = NULL;
	uint64_t h = 14695981039346656037ULL;
	json_t *c;
	size_t i;

	if (!copy)
		return 0;
	json_object_del(json_object_get(copy, "network"), "policy");
	json_array_foreach(json_object_get(copy, "containers"), i, c)
		json_object_del(c, "limits");
	text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
	for (const char *p = text; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static json_t *record_find(json_t *records, const char *name)
{
	size_t i;
	json_t *r;

	json_array_foreach(records, i, r)
		if (!strcmp(json_str(r, "name", ""), name))
			return r;
	return NULL;
}

/* Take the spec of a (new or replaced) pod from its record and hand it to the runtime. */
static void pod_create(struct tankd *t, struct pod *p, json_t *rec)
{
	_cleanup_json_ json_t *errors = NULL;
	struct pod_spec *spec = NULL;
	struct diag d = { 0 };
	int r;

	r = spec_parse(json_object_get(rec, "spec"), &spec, &errors, &d);
	json_decref(p->record);
	p->record = json_incref(rec);
	p->revision = (uint64_t)json_int(rec, "revision", 0);
	p->static_hash = spec_static_hash(json_object_get(rec, "spec"));
	if (r < 0) {
		/* stored before a validation rule existed: say so, retry only when re-applied */
		p->phase = PHASE_FAILED;
		p->next_start_at = UINT64_MAX;
		free(p->message);
		p->message = strdup_printf("stored spec is invalid: %s; re-apply a fixed spec",
					   diag_text(&d, r));
		event_emit(t, p->name, true, "InvalidSpec", "%s", p->message);
		return;
	}
	pod_spec_free(p->spec);
	p->spec = spec;
	free(p->uid);
	p->uid = strdup(json_str(rec, "uid", ""));
	if (!p->uid || pod_init_from_spec(p) < 0) {
		p->phase = PHASE_FAILED;
		p->next_start_at = now_mono_ms() + t->cfg.plan.backoff_base_ms;
		return;
	}
	runtime_create(t, p);
}

static struct pod *pod_new(struct tankd *t, const char *name)
{
	struct pod *p = calloc(1, sizeof(*p));

	if (!p || !(p->name = strdup(name))) {
		free(p);
		return NULL;
	}
	p->pull_fd = p->watch_fd = p->destroy_fd = -1;
	p->phase = PHASE_PENDING;
	pod_link(t, p);
	return p;
}

/*
 * Damaged store records are held: the pod (running or not) is neither desired nor observed for
 * the plan, so nothing starts, stops or deletes it until its spec is re-applied (which rewrites
 * the record) or it is deleted. Each damage is reported once, as a Warning event.
 */
static void hold_damaged(struct tankd *t, json_t *damaged)
{
	const char *name;
	json_t *rec, *v;
	size_t i;
	void *tmp;

	if (!t->damaged && !(t->damaged = json_object()))
		return;
	json_object_foreach_safe(t->damaged, tmp, name, v) {
		bool still = false;

		json_array_foreach(damaged, i, rec)
			if (!strcmp(json_str(rec, "name", ""), name))
				still = true;
		if (!still) {
			log_pod(LOG_LVL_INFO, name, "store: its record is readable again");
			json_object_del(t->damaged, name);
		}
	}
	json_array_foreach(damaged, i, rec) {
		const char *pod = json_str(rec, "name", "?"), *err = json_str(rec, "error", "?");
		const char *seen = json_string_value(json_object_get(t->damaged, pod));

		if (seen && !strcmp(seen, err))
			continue;
		json_object_set_new(t->damaged, pod, json_string(err));
		event_emit(t, pod, true, "StoreDamaged",
			   "%s (tankctl apply -f SPEC, or tankctl delete pod %s); until then the "
			   "pod is held as it is: nothing starts, stops or deletes it",
			   err, pod);
	}
}

void reconcile_pass(struct tankd *t)
{
	_cleanup_json_ json_t *records = NULL, *damaged = NULL;
	_cleanup_free_ struct plan_desired *des = NULL;
	_cleanup_free_ struct plan_observed *obs = NULL;
	_cleanup_free_ struct plan_action *acts = NULL;
	_cleanup_free_ struct plan_ctr *ctrs = NULL;
	struct diag d = { 0 };
	size_t nd, no = 0, nc = 0, na, i;
	uint64_t now = now_mono_ms();
	json_t *rec;

	if (t->store->ops->list(t->store, &records, &damaged, &d) < 0) {
		log_error("store: %s; keeping pods as they are", diag_text(&d, d.err));
		return;
	}
	hold_damaged(t, damaged);
	nd = json_array_size(records);
	for (struct pod *p = t->pods; p; p = p->next) {
		no++;
		nc += p->n_ctrs;
	}
	des = calloc(nd + 1, sizeof(*des));
	obs = calloc(no + 1, sizeof(*obs));
	ctrs = calloc(nc + 1, sizeof(*ctrs));
	if (!des || !obs || !ctrs)
		return;
	json_array_foreach(records, i, rec) {
		struct pod *p = pod_find(t, json_str(rec, "name", ""));

		/* a pod adopted after a restart gets its record (and spec) back here */
		if (p && !p->record && p->revision == (uint64_t)json_int(rec, "revision", 0)) {
			p->record = json_incref(rec);
			p->static_hash = spec_static_hash(json_object_get(rec, "spec"));
			if (spec_parse(json_object_get(rec, "spec"), &p->spec, NULL, NULL) < 0)
				p->spec = NULL;
			for (size_t k = 0; p->spec && k < p->n_ctrs && k < p->spec->n_containers; k++)
				if (!p->ctrs[k].image_ref && p->spec->containers[k].image)
					p->ctrs[k].image_ref = strdup(p->spec->containers[k].image);
		}
		des[i].name = json_str(rec, "name", "");
		des[i].revision = (uint64_t)json_int(rec, "revision", 0);
		/* the store hands out the same record while its file is unchanged: a pod started
		 * from (or updated to) this very record already has its hash */
		des[i].static_hash = p && p->record == rec && p->static_hash
					     ? p->static_hash
					     : spec_static_hash(json_object_get(rec, "spec"));
		des[i].restart = record_restart(rec);
	}
	no = 0;
	nc = 0;
	for (struct pod *p = t->pods; p; p = p->next) {
		/* held: neither desired nor observed, so the plan leaves it exactly as it is */
		if (json_object_get(t->damaged, p->name))
			continue;
		for (size_t k = 0; k < p->n_ctrs; k++)
			ctrs[nc + k] = p->ctrs[k].st;
		obs[no++] = (struct plan_observed){
			.name = p->name,
			.revision = p->revision,
			.static_hash = p->static_hash,
			.phase = p->phase,
			.exit_failed = p->exit_failed,
			.backoff_n = p->backoff_n,
			.ran_ms = p->ran_ms,
			.next_start_at = p->next_start_at,
			.ctrs = &ctrs[nc],
			.n_ctrs = p->n_ctrs,
		};
		nc += p->n_ctrs;
	}
	acts = calloc(plan_actions_max(nd, obs, no) + 1, sizeof(*acts));
	if (!acts)
		return;
	na = plan_compute(des, nd, obs, no, now, &t->cfg.plan, acts);
	for (i = 0; i < na; i++) {
		struct plan_action *a = &acts[i];
		struct pod *p = pod_find(t, a->name);

		switch (a->op) {
		case PLAN_CREATE:
			if (!p && !(p = pod_new(t, a->name)))
				break;
			pod_create(t, p, record_find(records, a->name));
			break;
		case PLAN_BACKOFF:
			runtime_ctr_backoff(t, p, a->ctr, a->delay_ms, a->reset_backoff);
			break;
		case PLAN_RESTART:
			runtime_restart(t, p, a->ctr);
			break;
		case PLAN_TERMINATE:
			runtime_ctr_done(t, p, a->ctr);
			break;
		case PLAN_UPDATE:
			runtime_update(t, p, record_find(records, a->name));
			break;
		case PLAN_RETRY:
		case PLAN_REPLACE:
			event_emit(t, p->name, false, a->op == PLAN_RETRY ? "Retrying" : "Replacing",
				   "%s", a->op == PLAN_RETRY ? "retrying a failed start"
							     : "spec changed: replacing the pod");
			runtime_stop(t, p, false);
			break;
		case PLAN_DELETE:
			event_emit(t, p->name, false, "Deleting", "no longer desired");
			runtime_stop(t, p, true);
			break;
		}
	}
	net_sweep(t, records);
	net_dns_tick(t);
	net_check(t);
	/* stops whose shim did not answer in time */
	for (struct pod *p = t->pods, *next; p; p = next) {
		next = p->next;
		if (p->phase == PHASE_STOPPING && p->destroy_fd >= 0 && now >= p->stop_deadline)
			runtime_stop_done(t, p, true);
	}
}

/* ---- how a pod is shown --------------------------------------------------------------------- */

static json_t *time_json(uint64_t wall_ms)
{
	char buf[40];

	if (!wall_ms)
		return json_null();
	format_time_rfc3339(wall_ms, buf, sizeof(buf));
	return json_string(buf);
}

json_t *pod_to_json(const struct tankd *t, const struct pod *p)
{
	json_t *ips = json_array(), *ctrs = json_array(), *nics = json_array(), *st, *o;
	json_t *sctrs = json_array();
	pid_t pid = 0;

	(void)t;
	for (size_t i = 0; i < p->n_nics; i++) {
		json_t *nips = json_from_strv(p->nics[i].ips);

		for (size_t k = 0; p->nics[i].ips && p->nics[i].ips[k]; k++)
			json_array_append_new(ips, json_string(p->nics[i].ips[k]));
		const char *mode = p->spec && i < p->spec->n_nics ? nic_mode_name(p->spec->nics[i].mode)
			: p->nics[i].parent[0] ? "macvlan" : "veth";
		json_t *nj = json_pack("{s:s,s:s,s:o}", "name", p->nics[i].name, "mode", mode, "ips",
				       nips);

		if (p->nics[i].parent[0]) {
			uint8_t mac[6];
			char m[18];

			json_object_set_new(nj, "parent", json_string(p->nics[i].parent));
			json_object_set_new(nj, "host_shim", json_string(p->nics[i].shim));
			np_mac_derive(p->uid, p->nics[i].name, mac);
			snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
				 mac[2], mac[3], mac[4], mac[5]);
			json_object_set_new(nj, "mac", json_string(p->spec && p->spec->nics[i].mac
									? p->spec->nics[i].mac
									: m));
		} else {
			json_object_set_new(nj, "host_ifname", json_string(p->nics[i].host_ifname));
			json_object_set_new(nj, "host_ifindex", json_integer(p->nics[i].host_ifindex));
		}
		if (p->nics[i].mac[0]) /* what the kernel has, for every kind */
			json_object_set_new(nj, "mac", json_string(p->nics[i].mac));
		json_array_append_new(nics, nj);
	}
	for (size_t i = 0; i < p->n_ctrs; i++) {
		const struct pod_ctr *c = &p->ctrs[i];
		/* containers[].state: as the shim says it (waiting, running, exited) */
		const char *state = c->st.phase == CPHASE_WAITING   ? "waiting"
				    : c->st.phase == CPHASE_RUNNING ? "running"
								    : "exited";

		if (!pid && c->pid)
			pid = c->pid;
		json_array_append_new(ctrs, json_pack("{s:s,s:s?,s:s,s:i}", "name", c->name,
						      "image", c->image_ref, "state", state, "pid",
						      (int)c->pid));
		/* status.containers[].state: its lifecycle (running, backoff, terminated...) */
		json_array_append_new(sctrs, json_pack("{s:s,s:s,s:i,s:O?,s:i}", "name", c->name,
						       "state", ctr_phase_name(c->st.phase),
						       "restarts", (int)c->restarts, "last_exit",
						       c->last_exit, "pid", (int)c->pid));
	}
	st = json_pack("{s:s,s:i,s:i,s:o,s:O?,s:o,s:s?,s:i}", "phase", pod_phase_name(p->phase),
		       "restarts", (int)p->restarts, "pid", (int)pid, "ips", ips, "last_exit",
		       p->last_exit, "started_at", time_json(p->started_at), "message",
		       p->message, "shim_pid", (int)p->shim_pid);
	if (st)
		json_object_set_new(st, "containers", sctrs);
	else
		json_decref(sctrs);
	o = json_pack("{s:s,s:s?,s:I,s:o,s:o,s:o}", "name", p->name, "uid", p->uid, "revision",
		      (json_int_t)p->revision, "status", st, "containers", ctrs, "nics", nics);
	if (o && p->record) {
		json_object_set(o, "spec", json_object_get(p->record, "spec"));
		json_object_set_new(o, "created_at",
				    time_json((uint64_t)json_int(p->record, "created_at", 0)));
	}
	if (o && p->slot)
		json_object_set_new(o, "slot", json_integer(p->slot));
	return o;
}
