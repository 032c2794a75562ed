/* lib.h - Tank's shared basics: cleanup, diagnostics, logging, files, JSON, parsing, IPC frames. */
#ifndef TANK_LIB_H
#define TANK_LIB_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#define TANK_VERSION "0.1.0"

/* ---- cleanup helpers ------------------------------------------------------------------- */

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_json_ _cleanup_(json_decrefp) /* json_decrefp comes with jansson */
#define _cleanup_strv_ _cleanup_(strv_freep)
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* Move ownership out of a cleanup variable: the variable is left empty. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p = (p);                                                            \
		(p) = NULL;                                                                        \
		_p;                                                                                \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_fd;                                                                               \
	})

/* ---- diagnostics ------------------------------------------------------------------------- */

/*
 * Detail an errno cannot carry. Functions that can fail take an optional `struct diag *` as
 * their last argument (NULL is allowed) and return -errno; the first failure recorded wins
 * unless a caller adds context with diag_prefix().
 */
struct diag {
	int err;        /* -errno of the recorded failure, 0 if none */
	char path[256]; /* JSON path (spec errors) or file path the failure refers to; "" if none */
	char msg[1024]; /* human text: what failed and, where possible, how to fix it */
};

/* Record `err` (a negative errno) with a message unless one is recorded; returns err. */
int diag_fail(struct diag *d, int err, const char *fmt, ...) _printf_(3, 4);
/* Same, with the JSON/file path the error is about. */
int diag_fail_at(struct diag *d, int err, const char *path, const char *fmt, ...) _printf_(4, 5);
/* Put context in front of the recorded message ("pulling x: " + msg). */
void diag_prefix(struct diag *d, const char *fmt, ...) _printf_(2, 3);
/* The message, or strerror(-err) when no text was recorded. */
const char *diag_text(const struct diag *d, int err);
void diag_clear(struct diag *d);

/* ---- logging (daemon and CLI only; mechanism folders use log_debug at most) -------------- */

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *ret);
void log_msg(enum log_level lvl, const char *pod, const char *fmt, ...) _printf_(3, 4);
#define log_error(...) log_msg(LOG_LVL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, NULL, __VA_ARGS__)
/* A log line about a pod names it. */
#define log_pod(lvl, pod, ...) log_msg(lvl, pod, __VA_ARGS__)
/*
 * Where log lines go: stderr as "<RFC 3339 time> <level>[ pod=NAME]: text", or, when stderr is
 * the journal (systemd sets JOURNAL_STREAM to stderr's "DEV:INO"), as "<P>[pod=NAME: ]text"
 * with the sd-daemon priority P (3 error, 4 warn, 6 info, 7 debug) and no time of our own
 * (the journal stamps each line). Decided at the first line; log_init() decides again.
 */
struct stat;
/* journal_stream (the JOURNAL_STREAM value, may be NULL) names the file st describes. */
bool log_is_journal_stream(const char *journal_stream, const struct stat *st);
/* The prefix a line of lvl starts with in each mode: "<6>" for the journal, "info" otherwise. */
const char *log_level_prefix(enum log_level lvl, bool journal);
void log_init(void);

/* ---- growing arrays ---------------------------------------------------------------------- */

/* Room for element n (n used) in *items, an array of *cap elements of size bytes: doubled
 * (first elements the first time) when full. 0, or -ENOMEM with the array as it was. Pass the
 * array's pointer cast to void ** (the build has -fno-strict-aliasing). */
int array_grow(void **items, size_t *cap, size_t n, size_t size, size_t first);

/* ---- string vectors (NULL-terminated char **) ------------------------------------------ */

size_t strv_length(char *const *v);
void strv_free(char **v);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
/* Append a copy of s; returns 0 or -ENOMEM. *v may be NULL. */
int strv_push(char ***v, const char *s);
char **strv_copy(char *const *v);
/* Find "KEY=" in an environment vector; returns the index or -1. */
int strv_env_find(char *const *env, const char *key, size_t keylen);

/* ---- files ---------------------------------------------------------------------------- */

/* Write buf to dirfd/name atomically: temp file, fsync, rename, fsync dir. */
int fs_write_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);
/* The same without the fsyncs, for runtime files (run_dir, a tmpfs such as /run) that never
 * outlive a boot: readers still see the old or the new content, never a mix. */
int fs_write_runtime(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);
/* Read a whole file (at most max bytes, else -EFBIG). *ret_buf is NUL-terminated. */
int fs_read_all(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len);
/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode);
/* Remove a tree; does not cross mount points and does not follow symlinks. Missing is fine. */
int fs_rm_rf(const char *path);
/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `path` is resolved as if rootfd were /. */
int fs_open_in_root(int rootfd, const char *path, int flags, mode_t mode);
/* true if path names an existing file of any kind. */
bool fs_exists(const char *path);
/* Write a small string to a file that exists (sysfs, cgroupfs, procfs). */
int fs_write_str(const char *path, const char *s);
/* asprintf that returns NULL on failure and never leaves garbage. */
char *strdup_printf(const char *fmt, ...) _printf_(1, 2);

/* ---- JSON helpers over jansson --------------------------------------------------------- */

/* Parse JSON from memory; rejects duplicate keys; on error fills d with line/column. */
int json_parse_buf(const char *buf, size_t len, json_t **ret, struct diag *d);
/* Read and parse a file of at most max bytes. */
int json_read_file(int dirfd, const char *path, size_t max, json_t **ret, struct diag *d);
/* Serialize and write atomically (compact, trailing newline). */
int json_write_atomic(int dirfd, const char *name, json_t *j, mode_t mode);
/* ... and without the fsyncs (fs_write_runtime). */
int json_write_runtime(int dirfd, const char *name, json_t *j, mode_t mode);
/* Getters that return a default when the key is absent or of another type. */
const char *json_str(const json_t *o, const char *key, const char *def);
long long json_int(const json_t *o, const char *key, long long def);
bool json_bool(const json_t *o, const char *key, bool def);
/* A JSON array of strings as a strv (NULL when absent or not an array of strings). */
char **json_strv(const json_t *a);
json_t *json_from_strv(char *const *v);

/* ---- parsing of units ----------------------------------------------------------------- */

/* "10s", "500ms", "2m", "1h", "1h30m" -> milliseconds. */
int parse_duration_ms(const char *s, uint64_t *ret_ms);
/* "256Mi", "1G", "512k", "1024" -> bytes. */
int parse_size(const char *s, uint64_t *ret_bytes);
/* Monotonic and wall-clock time in milliseconds. */
uint64_t now_mono_ms(void);
uint64_t now_wall_ms(void);
/* RFC 3339 UTC time text for a wall-clock ms value ("2026-11-22T13:44:05Z"). */
void format_time_rfc3339(uint64_t wall_ms, char *buf, size_t len);

/* ---- IPC frames ----------------------------------------------------------------------- */

/*
 * Frames on a unix SOCK_STREAM socket: a 4-byte big-endian length, then that many bytes of
 * JSON. File descriptors travel as SCM_RIGHTS on the first byte of the length header. Frames
 * larger than IPC_FRAME_MAX are refused on both sides. These calls block (use them from the
 * CLI and the shim, or on sockets known to be readable/writable).
 */
#define IPC_FRAME_MAX (4u << 20)
#define IPC_FDS_MAX 8

int ipc_send_json(int fd, json_t *msg, const int *fds, size_t nfds);
/* The bytes of one frame (header + JSON), for callers that queue output themselves. */
int ipc_frame_json(json_t *msg, char **ret, size_t *ret_len);
/* Receive one frame. ret_fds may be NULL (received fds are then closed). Returns 0, or -EPIPE
 * on orderly EOF before a header, -EPROTO on a bad frame. */
int ipc_recv_json(int fd, json_t **ret, int *ret_fds, size_t max_fds, size_t *ret_nfds);
/*
 * Incremental reader for non-blocking sockets (tankd's event loop): call when the fd is
 * readable. Returns 1 with a frame in *ret (and its fds) when one is complete, 0 when more
 * bytes are needed (EAGAIN), -EPIPE on EOF, another -errno (-EPROTO: oversized or bad frame)
 * on error. Call again after 1: several frames may be buffered.
 */
struct ipc_reader {
	char *buf;
	size_t len, cap;
	int fds[IPC_FDS_MAX];
	size_t nfds;
};
int ipc_reader_next(struct ipc_reader *r, int fd, json_t **ret, int *ret_fds, size_t *ret_nfds);
void ipc_reader_clear(struct ipc_reader *r);

/* Connect to a unix socket path (SOCK_STREAM | SOCK_CLOEXEC). */
int ipc_connect(const char *path);
/* Create a listening unix socket at path (removing a stale one), mode applied with fchmod. */
int ipc_listen(const char *path, mode_t mode);

#endif
