/* plan.c - the reconciler's diff: desired vs observed -> actions, with no side effects. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/plan.h"

const char *pod_phase_name(enum pod_phase p)
{
	switch (p) {
	case PHASE_PENDING:
		return "pending";
	case PHASE_PULLING:
		return "pulling";
	case PHASE_STARTING:
		return "starting";
	case PHASE_RUNNING:
		return "running";
	case PHASE_BACKOFF:
	case PHASE_FAILED:
		return "backoff";
	case PHASE_EXITED:
	case PHASE_TERMINATED:
		return "terminated";
	case PHASE_STOPPING:
		return "stopping";
	}
	return "unknown";
}

const char *ctr_phase_name(enum ctr_phase p)
{
	switch (p) {
	case CPHASE_WAITING:
		return "waiting";
	case CPHASE_RUNNING:
		return "running";
	case CPHASE_BACKOFF:
		return "backoff";
	case CPHASE_EXITED:
	case CPHASE_DONE:
		return "terminated";
	}
	return "unknown";
}

enum pod_phase plan_pod_phase(const struct plan_ctr *c, size_t n)
{
	bool exited = false, backoff = false;

	for (size_t i = 0; i < n; i++) {
		if (c[i].phase == CPHASE_RUNNING || c[i].phase == CPHASE_WAITING)
			return PHASE_RUNNING;
		exited |= c[i].phase == CPHASE_EXITED;
		backoff |= c[i].phase == CPHASE_BACKOFF;
	}
	return exited ? PHASE_EXITED : backoff ? PHASE_BACKOFF : PHASE_TERMINATED;
}

size_t plan_actions_max(size_t n_desired, const struct plan_observed *observed,
			size_t n_observed)
{
	size_t n = n_desired + n_observed;

	for (size_t i = 0; i < n_observed; i++)
		n += observed[i].n_ctrs;
	return n;
}

uint64_t plan_backoff_ms(const struct plan_config *c, unsigned int n)
{
	uint64_t d = c->backoff_base_ms;

	for (unsigned int i = 0; i < n && d < c->backoff_max_ms; i++)
		d *= 2;
	return d < c->backoff_max_ms ? d : c->backoff_max_ms;
}

static bool wants_restart(enum restart_policy p, bool failed)
{
	return p == RESTART_ALWAYS || (p == RESTART_ON_FAILURE && failed);
}

/*
 * Lookups by name go through arrays of pointers sorted by name (name is each struct's first
 * member), so a plan is O(n log n); when memory for them is short, a linear scan does it.
 */
_Static_assert(offsetof(struct plan_desired, name) == 0, "name first");
_Static_assert(offsetof(struct plan_observed, name) == 0, "name first");

static int by_name(const void *a, const void *b)
{
	return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

static const void *sorted_find(const void *const *sorted, size_t n, const char *name)
{
	const char *const key = name, *const *kp = &key;
	const void *const *hit = bsearch(&kp, sorted, n, sizeof(*sorted), by_name);

	return hit ? *hit : NULL;
}

static const struct plan_observed *find_observed(const struct plan_observed *const *sorted,
						  const struct plan_observed *o, size_t n,
						  const char *name)
{
	if (sorted)
		return sorted_find((const void *const *)sorted, n, name);
	for (size_t i = 0; i < n; i++)
		if (strcmp(o[i].name, name) == 0)
			return &o[i];
	return NULL;
}

static bool is_desired(const struct plan_desired *const *sorted, const struct plan_desired *d,
		       size_t n, const char *name)
{
	if (sorted)
		return sorted_find((const void *const *)sorted, n, name) != NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].name, name) == 0)
			return true;
	return false;
}

/* The action for container i of a live pod, if any (written to *out; returns 0 or 1). */
static size_t plan_ctr(const struct plan_desired *d, const struct plan_ctr *c, size_t i,
		       uint64_t now_ms, const struct plan_config *cfg, struct plan_action *out)
{
	struct plan_action a = { .name = d->name, .ctr = i };

	switch (c->phase) {
	case CPHASE_EXITED:
		if (wants_restart(d->restart, c->exit_failed)) {
			a.op = PLAN_BACKOFF;
			a.reset_backoff = c->ran_ms >= cfg->backoff_reset_ms;
			a.delay_ms = plan_backoff_ms(cfg, a.reset_backoff ? 0 : c->backoff_n);
		} else {
			a.op = PLAN_TERMINATE;
		}
		break;
	case CPHASE_BACKOFF:
		if (now_ms < c->next_start_at)
			return 0;
		a.op = PLAN_RESTART;
		break;
	default:
		return 0; /* waiting, running, done: nothing to do */
	}
	*out = a;
	return 1;
}

/* Pointers to the n elements (of size sz) of arr, sorted by name; NULL when out of memory. */
static void *sort_by_name(const void *arr, size_t n, size_t sz)
{
	const char **v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = (const char *)arr + i * sz;
	qsort(v, n, sizeof(*v), by_name);
	return v;
}

size_t plan_compute(const struct plan_desired *desired, size_t n_desired,
		    const struct plan_observed *observed, size_t n_observed, uint64_t now_ms,
		    const struct plan_config *cfg, struct plan_action *out)
{
	const struct plan_desired **dsorted = sort_by_name(desired, n_desired, sizeof(*desired));
	const struct plan_observed **osorted = sort_by_name(observed, n_observed,
							    sizeof(*observed));
	size_t k = 0;

	for (size_t i = 0; i < n_observed; i++) {
		if (observed[i].phase != PHASE_STOPPING &&
		    !is_desired(dsorted, desired, n_desired, observed[i].name))
			out[k++] = (struct plan_action){ .op = PLAN_DELETE, .name = observed[i].name };
	}
	for (size_t i = 0; i < n_desired; i++) {
		const struct plan_desired *d = &desired[i];
		const struct plan_observed *o = find_observed(osorted, observed, n_observed,
							      d->name);
		struct plan_action a = { .name = d->name };

		if (!o) {
			a.op = PLAN_CREATE;
			out[k++] = a;
			continue;
		}
		switch (o->phase) {
		case PHASE_PULLING:
		case PHASE_STARTING:
		case PHASE_STOPPING:
			continue; /* work under way; look again when it completes */
		case PHASE_PENDING:
			/* nothing runs (new, or torn down for a replacement): start the current spec */
			a.op = PLAN_CREATE;
			out[k++] = a;
			continue;
		default:
			break;
		}
		if (o->revision != d->revision) {
			bool live = o->phase == PHASE_RUNNING || o->phase == PHASE_BACKOFF ||
				    o->phase == PHASE_EXITED || o->phase == PHASE_TERMINATED;

			a.op = live && o->static_hash == d->static_hash ? PLAN_UPDATE : PLAN_REPLACE;
			out[k++] = a;
			continue;
		}
		if (o->phase == PHASE_FAILED) {
			if (now_ms >= o->next_start_at) {
				a.op = PLAN_RETRY;
				out[k++] = a;
			}
			continue;
		}
		/* a live pod: each container by itself, the others keep running */
		for (size_t c = 0; c < o->n_ctrs; c++)
			k += plan_ctr(d, &o->ctrs[c], c, now_ms, cfg, &out[k]);
	}
	free(dsorted);
	free(osorted);
	return k;
}
