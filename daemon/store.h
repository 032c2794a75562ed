/* store.h - desired state: one record per pod, behind a small backend vtable. */
#ifndef TANK_STORE_H
#define TANK_STORE_H

#include <stdint.h>

#include "lib/lib.h"

/*
 * A record is the pod's spec document plus bookkeeping kept with it:
 *   { "name": "web", "uid": "<32 hex, fixed for the pod's life>", "revision": N,
 *     "created_at": ms, "updated_at": ms, "spec": { ...as applied... } }
 * The embedded file store keeps each record at <dir>/pods/<name>.json, written atomically
 * (temp, fsync, rename, fsync dir) with a sha256 checksum field ("sum") over the canonical
 * record, so a damaged file is reported (-EBADMSG with the file named) and never loaded.
 * A store-wide revision (<dir>/revision) increases with every put/delete.
 */
struct store;

/*
 * Called after every change that this store saw committed: record is the new record, or NULL
 * for a delete. A backend shared by several tankd (etcd) calls it for their changes too.
 */
typedef void (*store_watch_fn)(void *data, const char *name, const json_t *record);

struct store_ops {
	/* *ret is a new reference (records never carry the on-disk "sum"); -ENOENT when absent,
	 * -EBADMSG when damaged (d names the file and the fix); -EINVAL for a bad name. */
	int (*get)(struct store *s, const char *name, json_t **ret, struct diag *d);
	/* JSON array of records (damaged ones are skipped and listed in *ret_damaged, a JSON
	 * array of {"name","error"}; ret_damaged may be NULL). The records are shared with the
	 * store's cache (unchanged files are not read again): treat them as read-only. */
	int (*list)(struct store *s, json_t **ret, json_t **ret_damaged, struct diag *d);
	/*
	 * Create or replace the spec of a pod. expected_revision: -1 = any, 0 = must not exist,
	 * N = must be at revision N (else -ESTALE). Keeps uid/created_at of an existing record.
	 * *ret_result: "created", "configured" or "unchanged" (spec equal: nothing written).
	 * *ret_record (may be NULL): new reference to the stored record.
	 * Any precondition failure (also 0 when the pod exists) is -ESTALE with the reason in d.
	 * A damaged record is always rewritten: re-applying repairs it. When the damaged file
	 * still holds this pod's uid, created_at and revision they are kept ("configured",
	 * revision + 1); otherwise it is replaced as if absent ("created", new uid).
	 * A "name" in spec must equal name (else -EINVAL).
	 */
	int (*put)(struct store *s, const char *name, json_t *spec, int64_t expected_revision,
		   const char **ret_result, json_t **ret_record, struct diag *d);
	/* Missing is 0 (and *ret_existed false). */
	int (*del)(struct store *s, const char *name, bool *ret_existed, struct diag *d);
	uint64_t (*revision)(struct store *s);
	/* One watcher per store (tankd's reconciler); fn NULL removes it. */
	int (*watch)(struct store *s, store_watch_fn fn, void *data);
	void (*close)(struct store *s);
};

struct store {
	const struct store_ops *ops;
};

/* Open (creating dirs as needed) the embedded file store rooted at dir. Not thread-safe: one
 * event loop owns it. A missing or damaged <dir>/revision is recounted from the records (the
 * sum of their revisions or the store revision each was written at, whichever is larger), so
 * it never goes backwards; a damaged one is rewritten and logged. */
int store_file_open(const char *dir, struct store **ret, struct diag *d);

#endif
