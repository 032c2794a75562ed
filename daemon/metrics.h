/* metrics.h - the optional Prometheus endpoint of tankd (metrics_listen). */
#ifndef TANK_METRICS_H
#define TANK_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/lib.h"

struct tankd;

/* Listen on cfg.metrics_listen (nothing when unset: 0; listening: 1). A non-loopback address
 * is refused (-EPERM) unless cfg.metrics_allow_remote. */
int metrics_open(struct tankd *t, struct diag *d);
/* The loop's W_METRICS: ptr NULL is the listener, else a client. */
void metrics_event(struct tankd *t, void *ptr, uint32_t events);
/* "127.0.0.1:9464", "[::1]:9464" -> sockaddr (-EINVAL otherwise). */
int metrics_addr_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);
bool metrics_addr_is_loopback(const struct sockaddr_storage *a);
/* The label of a drop reason ("policy", "flow_full"; "other" if unnamed): metrics labels and
 * the keys of `tankctl traffic -o json` drops. */
const char *metrics_reason_key(int reason);

#endif
