/* test_daemon_plan.c - the reconciler's plan: every transition, without a kernel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "daemon/plan.h"

static const struct plan_config cfg = {
	.backoff_base_ms = 10000, .backoff_max_ms = 300000, .backoff_reset_ms = 600000
};

/* One desired pod vs one observed pod: the single action (or none). */
static size_t plan1(const struct plan_desired *d, const struct plan_observed *o, uint64_t now,
		    struct plan_action *out)
{
	return plan_compute(d, d ? 1 : 0, o, o ? 1 : 0, now, &cfg, out);
}

static void test_backoff_formula(void **state)
{
	(void)state;
	assert_int_equal(plan_backoff_ms(&cfg, 0), 10000);
	assert_int_equal(plan_backoff_ms(&cfg, 1), 20000);
	assert_int_equal(plan_backoff_ms(&cfg, 4), 160000);
	assert_int_equal(plan_backoff_ms(&cfg, 5), 300000);
	assert_int_equal(plan_backoff_ms(&cfg, 200), 300000);
}

static void test_create_and_delete(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 1 };
	struct plan_observed o = { .name = "old", .revision = 1, .phase = PHASE_RUNNING };
	struct plan_action a[4];
	size_t n;

	(void)state;
	assert_int_equal(plan1(&d, NULL, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_CREATE);
	assert_string_equal(a[0].name, "web");
	assert_int_equal(plan1(NULL, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_DELETE);
	n = plan_compute(&d, 1, &o, 1, 0, &cfg, a);
	assert_int_equal(n, 2);
}

static void test_steady_states_do_nothing(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 3 };
	struct plan_observed o = { .name = "web", .revision = 3 };
	enum pod_phase idle[] = { PHASE_RUNNING, PHASE_TERMINATED, PHASE_PULLING, PHASE_STARTING,
				  PHASE_STOPPING };
	struct plan_action a[2];

	(void)state;
	for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++) {
		o.phase = idle[i];
		assert_int_equal(plan1(&d, &o, 0, a), 0);
	}
	/* a stopping pod that is no longer desired is not deleted twice */
	o.phase = PHASE_STOPPING;
	assert_int_equal(plan1(NULL, &o, 0, a), 0);
}

static void test_replace_on_revision_change(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 4, .static_hash = 1 };
	struct plan_observed o = { .name = "web", .revision = 3, .static_hash = 2,
				   .phase = PHASE_RUNNING };
	struct plan_action a[2];

	(void)state;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_REPLACE);
	/* but not while a start is under way */
	o.phase = PHASE_STARTING;
	assert_int_equal(plan1(&d, &o, 0, a), 0);
}

static void test_in_place_update(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 5, .static_hash = 42 };
	struct plan_observed o = { .name = "web", .revision = 4, .static_hash = 42,
				   .phase = PHASE_RUNNING };
	struct plan_action a[2];

	(void)state;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_UPDATE);
	/* something else changed too: replace */
	d.static_hash = 43;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_REPLACE);
	/* a pod that never started is created afresh, not updated */
	d.static_hash = 42;
	o.phase = PHASE_FAILED;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_REPLACE);
}

/* A one-container pod whose container is in c. */
static struct plan_observed live1(struct plan_ctr *c)
{
	return (struct plan_observed){ .name = "web", .revision = 1, .phase = PHASE_RUNNING,
				       .ctrs = c, .n_ctrs = 1 };
}

static void test_restart_policies(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 1 };
	struct plan_ctr c = { .phase = CPHASE_EXITED };
	struct plan_observed o = live1(&c);
	struct plan_action a[2];

	(void)state;
	/* always: clean exit restarts too */
	d.restart = RESTART_ALWAYS;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_BACKOFF);
	assert_int_equal(a[0].ctr, 0);
	assert_int_equal(a[0].delay_ms, 10000);
	/* on_failure: clean exit terminates, failure restarts */
	d.restart = RESTART_ON_FAILURE;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_TERMINATE);
	c.exit_failed = true;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_BACKOFF);
	/* never: never restarts */
	d.restart = RESTART_NEVER;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_TERMINATE);
}

static void test_backoff_grows_and_resets(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 1, .restart = RESTART_ALWAYS };
	struct plan_ctr c = { .phase = CPHASE_EXITED, .backoff_n = 3, .ran_ms = 5000 };
	struct plan_observed o = live1(&c);
	struct plan_action a[2];

	(void)state;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].delay_ms, 80000);
	assert_false(a[0].reset_backoff);
	c.ran_ms = 600000; /* ran 10 minutes: counting starts again */
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].delay_ms, 10000);
	assert_true(a[0].reset_backoff);
}

static void test_backoff_waits_then_restarts(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 1 };
	struct plan_ctr c = { .phase = CPHASE_BACKOFF, .next_start_at = 5000 };
	struct plan_observed o = live1(&c);
	struct plan_action a[2];

	(void)state;
	o.phase = PHASE_BACKOFF;
	assert_int_equal(plan1(&d, &o, 4999, a), 0);
	assert_int_equal(plan1(&d, &o, 5000, a), 1);
	assert_int_equal(a[0].op, PLAN_RESTART);
	assert_int_equal(a[0].ctr, 0);
	/* a failed start is the pod's: retried as a whole */
	o = (struct plan_observed){ .name = "web", .revision = 1, .phase = PHASE_FAILED,
				    .next_start_at = 5000 };
	assert_int_equal(plan1(&d, &o, 4999, a), 0);
	assert_int_equal(plan1(&d, &o, 6000, a), 1);
	assert_int_equal(a[0].op, PLAN_RETRY);
}

static void test_pod_phase_from_containers(void **state)
{
	struct plan_ctr c[2] = { { .phase = CPHASE_RUNNING }, { .phase = CPHASE_DONE } };

	(void)state;
	assert_int_equal(plan_pod_phase(c, 2), PHASE_RUNNING);
	c[0].phase = CPHASE_BACKOFF;
	assert_int_equal(plan_pod_phase(c, 2), PHASE_BACKOFF);
	c[1].phase = CPHASE_EXITED;
	assert_int_equal(plan_pod_phase(c, 2), PHASE_EXITED);
	c[0].phase = CPHASE_DONE;
	c[1].phase = CPHASE_DONE;
	assert_int_equal(plan_pod_phase(c, 2), PHASE_TERMINATED);
	c[1].phase = CPHASE_WAITING;
	assert_int_equal(plan_pod_phase(c, 2), PHASE_RUNNING);
	assert_int_equal(plan_pod_phase(c, 0), PHASE_TERMINATED);
	assert_string_equal(ctr_phase_name(CPHASE_BACKOFF), "backoff");
	assert_string_equal(ctr_phase_name(CPHASE_DONE), "terminated");
}

/* Two containers: one exits, the other keeps running and is never touched. */
static void test_containers_are_planned_apart(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 1, .restart = RESTART_ON_FAILURE };
	struct plan_ctr c[2] = { { .phase = CPHASE_RUNNING },
				 { .phase = CPHASE_EXITED, .exit_failed = true, .backoff_n = 1 } };
	struct plan_observed o = { .name = "web", .revision = 1, .phase = PHASE_RUNNING,
				   .ctrs = c, .n_ctrs = 2 };
	struct plan_action a[4];

	(void)state;
	assert_int_equal(plan_actions_max(1, &o, 1), 4);
	/* on_failure: only the failed container backs off, with its own count */
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_BACKOFF);
	assert_int_equal(a[0].ctr, 1);
	assert_int_equal(a[0].delay_ms, 20000);
	/* then restarts when its own delay is over; the running one is left alone */
	c[1].phase = CPHASE_BACKOFF;
	c[1].next_start_at = 20000;
	assert_int_equal(plan1(&d, &o, 19999, a), 0);
	assert_int_equal(plan1(&d, &o, 20000, a), 1);
	assert_int_equal(a[0].op, PLAN_RESTART);
	assert_int_equal(a[0].ctr, 1);
	/* never: the exited one is done, the pod runs on while the other runs */
	d.restart = RESTART_NEVER;
	c[1].phase = CPHASE_EXITED;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_TERMINATE);
	assert_int_equal(a[0].ctr, 1);
	c[1].phase = CPHASE_DONE;
	assert_int_equal(plan1(&d, &o, 0, a), 0);
	assert_int_equal(plan_pod_phase(c, 2), PHASE_RUNNING);
	/* both exit in the same pass: two actions */
	c[0].phase = CPHASE_EXITED;
	c[1].phase = CPHASE_EXITED;
	d.restart = RESTART_ALWAYS;
	assert_int_equal(plan1(&d, &o, 0, a), 2);
	assert_int_equal(a[0].ctr, 0);
	assert_int_equal(a[1].ctr, 1);
	assert_int_equal(a[0].delay_ms, 10000);
	assert_int_equal(a[1].delay_ms, 20000);
	/* a revision change replaces the whole pod, whatever its containers do */
	d.revision = 2;
	d.static_hash = 9;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_REPLACE);
}

static void test_pending_is_created(void **state)
{
	struct plan_desired d = { .name = "web", .revision = 2 };
	struct plan_observed o = { .name = "web", .revision = 1, .phase = PHASE_PENDING };
	struct plan_action a[2];

	(void)state;
	/* a pod stopped for replacement comes back as pending with the old revision: it is
	 * created from the current spec, not replaced again */
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_CREATE);
	o.revision = 2;
	assert_int_equal(plan1(&d, &o, 0, a), 1);
	assert_int_equal(a[0].op, PLAN_CREATE);
}

static void test_many_pods(void **state)
{
	static struct plan_desired d[1000];
	static struct plan_observed o[1000];
	static struct plan_action a[2000];
	static char names[1000][16];
	struct plan_ctr exited = { .phase = CPHASE_EXITED };

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "pod-%d", i);
		d[i] = (struct plan_desired){ .name = names[i], .revision = 1 };
		o[i] = (struct plan_observed){ .name = names[i], .revision = 1,
					       .phase = PHASE_RUNNING };
	}
	o[500].ctrs = &exited;
	o[500].n_ctrs = 1;
	assert_int_equal(plan_compute(d, 1000, o, 1000, 0, &cfg, a), 1);
	assert_string_equal(a[0].name, "pod-500");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_formula),
		cmocka_unit_test(test_create_and_delete),
		cmocka_unit_test(test_steady_states_do_nothing),
		cmocka_unit_test(test_replace_on_revision_change),
		cmocka_unit_test(test_restart_policies),
		cmocka_unit_test(test_in_place_update),
		cmocka_unit_test(test_backoff_grows_and_resets),
		cmocka_unit_test(test_backoff_waits_then_restarts),
		cmocka_unit_test(test_pod_phase_from_containers),
		cmocka_unit_test(test_containers_are_planned_apart),
		cmocka_unit_test(test_pending_is_created),
		cmocka_unit_test(test_many_pods),
	};

	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
