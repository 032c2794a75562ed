/* tankctl.h - what tankctl's source files share. */
#ifndef TANK_TANKCTL_H
#define TANK_TANKCTL_H

#include "lib/lib.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* tankctl.c: the -o value ("" for tables), and the helpers every command uses */
extern const char *output;
int usage_error(const char *fmt, const char *arg); /* prints, returns EXIT_USAGE */
int api_connect(void);           /* tankd's socket fd; on failure says why, returns < 0 */
int print_error(json_t *reply);  /* an error reply, as text or JSON; returns EXIT_FAIL */
int request(json_t *req, json_t **ret); /* takes req; EXIT_OK with *ret, or prints the error */
void print_json(json_t *j);

/* tankctl_images.c: the image commands */
int cmd_pull(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_image(int argc, char **argv);

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
