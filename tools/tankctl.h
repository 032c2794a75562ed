/* tankctl.h - what tankctl's source files share. */
#ifndef TANK_TANKCTL_H
#define TANK_TANKCTL_H

#include "lib/lib.h"

/*
 * The display of one `tankctl pull`: on a terminal, one progress line per layer (short digest,
 * bar, bytes done/total, that layer's rate and ETA, then "unpacked"), redrawn in place; off a
 * terminal, one plain line per layer event and no control characters. Warnings go to stderr.
 */
struct pull_view;
struct pull_view *pull_view_new(bool tty);
/* One "progress" object of the pull stream (see daemon/images.c). */
void pull_view_event(struct pull_view *v, json_t *progress);
/* The closing line from the reply's "image" object: reference, manifest digest, layer count,
 * size, download and unpack times. */
void pull_view_finish(struct pull_view *v, json_t *image);
void pull_view_free(struct pull_view *v);

/* "1.5 MiB": b bytes in binary units, into out. */
void human_bytes(uint64_t b, char *out, size_t len);

#endif
