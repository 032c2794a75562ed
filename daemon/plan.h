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

struct plan_observed {
	const char *name;
	uint64_t revision;       /* the spec revision this runtime was started from */
	uint64_t static_hash;
	enum pod_phase phase;
	bool exit_failed;        /* last exit: non-zero code, a signal, or a failed start */
	unsigned int backoff_n;  /* consecutive restarts since the last reset */
	uint64_t ran_ms;         /* how long the last run lasted (for the reset rule) */
	uint64_t next_start_at;  /* monotonic ms, meaningful in BACKOFF/FAILED */
};

enum plan_op {
	PLAN_CREATE,    /* desired, not present: prepare image and start */
	PLAN_RESTART,   /* backoff elapsed: start the containers again in the same pod */
	PLAN_BACKOFF,   /* exited and the policy restarts it: wait delay_ms */
	PLAN_TERMINATE, /* exited and the policy does not restart it */
	PLAN_RETRY,     /* a failed start whose backoff elapsed: tear down leftovers, create */
	PLAN_REPLACE,   /* spec revision changed: tear down, then create */
	PLAN_UPDATE,    /* only limits or policy changed: apply them to the running pod */
	PLAN_DELETE,    /* present, not desired: tear down */
};

struct plan_action {
	enum plan_op op;
	const char *name;
	uint64_t delay_ms;   /* PLAN_BACKOFF */
	bool reset_backoff;  /* PLAN_BACKOFF: the run was stable, counting starts again */
};

/* min(base * 2^n, max) */
uint64_t plan_backoff_ms(const struct plan_config *c, unsigned int n);

/*
 * Compare desired with observed (each array sorted by name or not: matched by name) and write
 * at most n_desired + n_observed actions into out (the caller sizes it so). Pods in PULLING,
 * STARTING or STOPPING are left alone (work is under way). Returns the number of actions.
 */
size_t plan_compute(const struct plan_desired *desired, size_t n_desired,
		    const struct plan_observed *observed, size_t n_observed, uint64_t now_ms,
		    const struct plan_config *cfg, struct plan_action *out);

#endif
