/* plan.h - the reconciler's plan: a pure function of (desired, observed, now). */
#ifndef TANK_PLAN_H
#define TANK_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/spec.h"

/* What users see as status.phase. EXITED is transient: the plan turns it into backoff or
 * terminated in the same pass, so it is shown as "terminated". */
enum pod_phase {
	PHASE_PENDING,
	PHASE_PULLING,
	PHASE_STARTING,
	PHASE_RUNNING,
	PHASE_EXITED,
	PHASE_BACKOFF,
	PHASE_TERMINATED,
	PHASE_STOPPING, /* being torn down (delete or replace) */
	PHASE_FAILED,   /* a start step failed; retried after backoff */
};

const char *pod_phase_name(enum pod_phase p);

struct plan_config {
	uint64_t backoff_base_ms;  /* 10 s */
	uint64_t backoff_max_ms;   /* 300 s */
	uint64_t backoff_reset_ms; /* 10 min of stable running resets the backoff */
};

/*
 * static_hash: a hash of the spec without what can change in place (limits, policy). A new
 * revision with the same static_hash is applied in place; anything else replaces the pod.
 */
struct plan_desired {
	const char *name;
	uint64_t revision;
	uint64_t static_hash;
	enum restart_policy restart;
};

/* A container's own lifecycle inside a live pod (the pod's phase is derived from these). */
enum ctr_phase {
	CPHASE_WAITING, /* not started yet */
	CPHASE_RUNNING,
	CPHASE_EXITED,  /* transient: the plan turns it into backoff or done in the same pass */
	CPHASE_BACKOFF, /* waits for its restart */
	CPHASE_DONE,    /* exited and not restarted (restart policy) */
};

const char *ctr_phase_name(enum ctr_phase p);

struct plan_ctr {
	enum ctr_phase phase;
	bool exit_failed;       /* its last exit: non-zero code, a signal, or a failed start */
	unsigned int backoff_n; /* its consecutive restarts since the last reset */
	uint64_t ran_ms;        /* how long its last run lasted (for the reset rule) */
	uint64_t next_start_at; /* monotonic ms, meaningful in CPHASE_BACKOFF */
};

/*
 * The phase of a live pod from its containers: running while any container runs (or has not
 * started yet); else exited while an exit awaits the plan; else backoff while any container
 * waits for its restart; else terminated (every container is done). Zero containers:
 * terminated.
 */
enum pod_phase plan_pod_phase(const struct plan_ctr *c, size_t n);

/*
 * phase: PENDING, PULLING, STARTING, STOPPING and FAILED are the pod's own; a live pod
 * (RUNNING, EXITED, BACKOFF, TERMINATED) is planned container by container from ctrs.
 * exit_failed, backoff_n, ran_ms and next_start_at are the pod's (its failed starts).
 */
struct plan_observed {
	const char *name;
	uint64_t revision;       /* the spec revision this runtime was started from */
	uint64_t static_hash;
	enum pod_phase phase;
	bool exit_failed;        /* last exit: non-zero code, a signal, or a failed start */
	unsigned int backoff_n;  /* consecutive restarts since the last reset */
	uint64_t ran_ms;         /* how long the last run lasted (for the reset rule) */
	uint64_t next_start_at;  /* monotonic ms, meaningful in FAILED */
	const struct plan_ctr *ctrs;
	size_t n_ctrs;
};

enum plan_op {
	PLAN_CREATE,    /* desired, not present: prepare image and start */
	PLAN_RESTART,   /* container ctr: backoff elapsed, start it again in the same pod */
	PLAN_BACKOFF,   /* container ctr exited and the policy restarts it: wait delay_ms */
	PLAN_TERMINATE, /* container ctr exited and the policy does not restart it */
	PLAN_RETRY,     /* a failed start whose backoff elapsed: tear down leftovers, create */
	PLAN_REPLACE,   /* spec revision changed: tear down, then create */
	PLAN_UPDATE,    /* only limits or policy changed: apply them to the running pod */
	PLAN_DELETE,    /* present, not desired: tear down */
};

struct plan_action {
	enum plan_op op;
	const char *name;
	size_t ctr;          /* PLAN_RESTART, PLAN_BACKOFF, PLAN_TERMINATE: index in ctrs */
	uint64_t delay_ms;   /* PLAN_BACKOFF */
	bool reset_backoff;  /* PLAN_BACKOFF: the run was stable, counting starts again */
};

/* min(base * 2^n, max) */
uint64_t plan_backoff_ms(const struct plan_config *c, unsigned int n);

/* How many actions plan_compute may write for these inputs (size out with it). */
size_t plan_actions_max(size_t n_desired, const struct plan_observed *observed,
			size_t n_observed);

/*
 * Compare desired with observed (each array sorted by name or not: matched by name) and write
 * at most plan_actions_max() actions into out. Pods in PULLING, STARTING or STOPPING are left
 * alone (work is under way). Returns the number of actions.
 */
size_t plan_compute(const struct plan_desired *desired, size_t n_desired,
		    const struct plan_observed *observed, size_t n_observed, uint64_t now_ms,
		    const struct plan_config *cfg, struct plan_action *out);

#endif
