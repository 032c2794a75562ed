/* events.c - tankd's event ring: every transition and action, kept bounded, streamed to clients. */
#include <string.h>

#include "daemon/tankd.h"

#define EVENTS_MAX 2048

struct event {
	uint64_t seq;
	uint64_t time_ms;
	char pod[SPEC_NAME_MAX + 1];
	char type[8];     /* Normal | Warning */
	char reason[32];
	char message[512];
};

static struct event ring[EVENTS_MAX];
static uint64_t next_seq = 1;

json_t *event_json(uint64_t seq)
{
	const struct event *e;
	char ts[40];

	if (seq == 0 || seq >= next_seq || next_seq - seq > EVENTS_MAX)
		return NULL;
	e = &ring[seq % EVENTS_MAX];
	format_time_rfc3339(e->time_ms, ts, sizeof(ts));
	return json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)e->seq, "time", ts,
			 "time_ms", (json_int_t)e->time_ms, "pod", e->pod, "type", e->type,
			 "reason", e->reason, "message", e->message);
}

json_t *events_list(const char *pod, size_t max)
{
	uint64_t first = next_seq > EVENTS_MAX ? next_seq - EVENTS_MAX : 1;
	json_t *a = json_array();
	size_t n = 0;

	/* newest max events, oldest first */
	for (uint64_t s = next_seq - 1; s >= first && n < max; s--) {
		if (pod && strcmp(ring[s % EVENTS_MAX].pod, pod))
			continue;
		json_array_insert_new(a, 0, event_json(s));
		n++;
	}
	return a;
}

void event_emit(struct tankd *t, const char *pod, bool warning, const char *reason,
		const char *fmt, ...)
{
	struct event *e = &ring[next_seq % EVENTS_MAX];
	va_list ap;

	memset(e, 0, sizeof(*e));
	e->seq = next_seq++;
	e->time_ms = now_wall_ms();
	snprintf(e->pod, sizeof(e->pod), "%s", pod ? pod : "");
	snprintf(e->type, sizeof(e->type), "%s", warning ? "Warning" : "Normal");
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	log_msg(warning ? LOG_LVL_WARN : LOG_LVL_INFO, pod && *pod ? pod : NULL, "%s: %s", reason,
		e->message);
	api_broadcast_event(t, e->seq, e->pod);
}
