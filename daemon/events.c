/* events.c - tankd's event ring: every transition and action, kept bounded, streamed to clients. */
#include <string.h>

#include "daemon/tankd.h"

#define EVENTS_MAX 2048   /* events kept; older ones are dropped */
#define EVENT_MSG_MAX 512 /* bytes of one message */

/* Strings are allocated to their size and the ring grows as events come (an idle tankd with a
 * few pods keeps a few KiB, not EVENTS_MAX full-size slots). */
struct event {
	uint64_t seq;
	uint64_t time_ms;
	bool warning;
	char reason[32];
	char *pod;
	char *message;
};

static struct event *ring;
static size_t ring_cap; /* slots allocated: grows by doubling up to EVENTS_MAX */
static uint64_t next_seq = 1;

/* The slot of seq: while the ring is still growing, seqs are dense from 1, so seq - 1 < cap. */
static struct event *slot_of(uint64_t seq)
{
	return &ring[(seq - 1) % ring_cap];
}

json_t *event_json(uint64_t seq)
{
	const struct event *e;
	char ts[40];

	if (seq == 0 || seq >= next_seq || next_seq - seq > ring_cap)
		return NULL;
	e = slot_of(seq);
	format_time_rfc3339(e->time_ms, ts, sizeof(ts));
	return json_pack("{s:I,s:s,s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)e->seq, "time", ts,
			 "time_ms", (json_int_t)e->time_ms, "pod", e->pod ? e->pod : "", "type",
			 e->warning ? "Warning" : "Normal", "reason", e->reason, "message",
			 e->message ? e->message : "");
}

json_t *events_list(const char *pod, size_t max)
{
	uint64_t first = next_seq > ring_cap ? next_seq - ring_cap : 1;
	json_t *a = json_array();
	size_t n = 0;

	/* newest max events, oldest first */
	for (uint64_t s = next_seq - 1; s >= first && n < max; s--) {
		if (pod && strcmp(slot_of(s)->pod ? slot_of(s)->pod : "", pod))
			continue;
		json_array_insert_new(a, 0, event_json(s));
		n++;
	}
	return a;
}

/* Room for one more event: grow while below EVENTS_MAX (keeping seq -> slot), else reuse. */
static struct event *event_slot(void)
{
	if (next_seq - 1 >= ring_cap && ring_cap < EVENTS_MAX) {
		size_t ncap = ring_cap ? ring_cap * 2 : 64;
		struct event *n = realloc(ring, ncap * sizeof(*n));

		if (n) {
			/* seqs 1..next_seq-1 sit at index seq-1 while the ring has never wrapped */
			memset(n + ring_cap, 0, (ncap - ring_cap) * sizeof(*n));
			ring = n;
			ring_cap = ncap;
		} else if (!ring_cap) {
			return NULL;
		}
	}
	return slot_of(next_seq);
}

void event_emit(struct tankd *t, const char *pod, bool warning, const char *reason,
		const char *fmt, ...)
{
	struct event *e = event_slot();
	char msg[EVENT_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(warning ? LOG_LVL_WARN : LOG_LVL_INFO, pod && *pod ? pod : NULL, "%s: %s", reason,
		msg);
	if (!e)
		return;
	free(e->pod);
	free(e->message);
	*e = (struct event){ .seq = next_seq++, .time_ms = now_wall_ms(), .warning = warning,
			     .pod = strdup(pod ? pod : ""), .message = strdup(msg) };
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	api_broadcast_event(t, e->seq, e->pod ? e->pod : "");
}
