/* test_daemon_store.c - unit tests of the embedded file store (daemon/store.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "daemon/store.h"

struct fixture {
	char dir[64];
	struct store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct diag d = { 0 };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/tank-store-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	/* a store below a directory that does not exist yet: open creates it */
	strcat(f->dir, "/store");
	if (store_file_open(f->dir, &f->st, &d) < 0) {
		fprintf(stderr, "store_file_open: %s\n", d.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *slash;

	if (f->st)
		f->st->ops->close(f->st);
	slash = strrchr(f->dir, '/');
	*slash = '\0';
	fs_rm_rf(f->dir);
	free(f);
	return 0;
}

static json_t *spec_with_image(const char *name, const char *image)
{
	return json_pack("{s:s, s:[{s:s, s:s}]}", "name", name, "containers", "name", "app",
			 "image", image);
}

static const char *put(struct store *st, const char *name, json_t *spec, int64_t expect,
		       json_t **ret_record, int *ret_r)
{
	const char *result = NULL;
	struct diag d = { 0 };
	int r = st->ops->put(st, name, spec, expect, &result, ret_record, &d);

	if (ret_r)
		*ret_r = r;
	else if (r < 0)
		fail_msg("put %s: %d %s", name, r, d.msg);
	return result;
}

static void reopen(struct fixture *f)
{
	struct diag d = { 0 };

	f->st->ops->close(f->st);
	f->st = NULL;
	if (store_file_open(f->dir, &f->st, &d) < 0)
		fail_msg("reopen: %s", d.msg);
}

static void test_put_results(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	json_t *spec = spec_with_image("web", "busybox:1");
	json_t *rec = NULL, *got = NULL;
	char uid[33];
	struct diag d = { 0 };

	assert_int_equal(st->ops->revision(st), 0);
	assert_string_equal(put(st, "web", spec, -1, &rec, NULL), "created");
	assert_string_equal(json_string_value(json_object_get(rec, "name")), "web");
	assert_int_equal(json_integer_value(json_object_get(rec, "revision")), 1);
	assert_int_equal(strlen(json_string_value(json_object_get(rec, "uid"))), 32);
	assert_int_equal(strspn(json_string_value(json_object_get(rec, "uid")), "0123456789abcdef"), 32);
	assert_true(json_equal(json_object_get(rec, "spec"), spec));
	assert_null(json_object_get(rec, "sum"));
	assert_true(json_integer_value(json_object_get(rec, "created_at")) > 0);
	snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(rec, "uid")));
	json_decref(rec);
	assert_int_equal(st->ops->revision(st), 1);

	/* same spec, other key order: unchanged, nothing written */
	json_t *same = json_pack("{s:[{s:s, s:s}], s:s}", "containers", "image", "busybox:1", "name",
				 "app", "name", "web");
	assert_string_equal(put(st, "web", same, -1, &rec, NULL), "unchanged");
	assert_int_equal(json_integer_value(json_object_get(rec, "revision")), 1);
	json_decref(rec);
	json_decref(same);
	assert_int_equal(st->ops->revision(st), 1);

	/* changed: configured, revision +1, uid and created_at kept */
	json_t *changed = spec_with_image("web", "busybox:2");
	assert_string_equal(put(st, "web", changed, -1, &rec, NULL), "configured");
	assert_int_equal(json_integer_value(json_object_get(rec, "revision")), 2);
	assert_string_equal(json_string_value(json_object_get(rec, "uid")), uid);
	json_decref(rec);
	assert_int_equal(st->ops->revision(st), 2);

	/* the stored record is a copy: changing the caller's spec does not change it */
	json_object_set_new(changed, "restart", json_string("never"));
	assert_int_equal(st->ops->get(st, "web", &got, &d), 0);
	assert_null(json_object_get(json_object_get(got, "spec"), "restart"));
	assert_int_equal(json_integer_value(json_object_get(got, "revision")), 2);
	assert_string_equal(json_string_value(json_object_get(got, "uid")), uid);
	assert_null(json_object_get(got, "sum"));
	json_decref(got);

	/* a second pod: its own revision 1, store revision 3 */
	json_t *other = spec_with_image("db", "postgres:16");
	assert_string_equal(put(st, "db", other, -1, &rec, NULL), "created");
	assert_int_equal(json_integer_value(json_object_get(rec, "revision")), 1);
	assert_string_not_equal(json_string_value(json_object_get(rec, "uid")), uid);
	json_decref(rec);
	assert_int_equal(st->ops->revision(st), 3);

	/* ret_result and ret_record may be NULL */
	assert_int_equal(st->ops->put(st, "db", changed, -1, NULL, NULL, NULL), -EINVAL);
	json_object_set_new(changed, "name", json_string("db"));
	assert_int_equal(st->ops->put(st, "db", changed, -1, NULL, NULL, NULL), 0);
	assert_int_equal(st->ops->revision(st), 4);

	json_decref(spec);
	json_decref(changed);
	json_decref(other);
}

static void test_expected_revision(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	json_t *a = spec_with_image("web", "a"), *b = spec_with_image("web", "b");
	json_t *c = spec_with_image("web", "c");
	struct diag d = { 0 };
	int r;

	/* N on a missing pod */
	put(st, "web", a, 3, NULL, &r);
	assert_int_equal(r, -ESTALE);
	/* 0: must not exist */
	assert_string_equal(put(st, "web", a, 0, NULL, NULL), "created");
	put(st, "web", a, 0, NULL, &r);
	assert_int_equal(r, -ESTALE);
	assert_int_equal(st->ops->put(st, "web", b, 0, NULL, NULL, &d), -ESTALE);
	assert_non_null(strstr(d.msg, "already exists"));
	/* N: must be at N */
	assert_string_equal(put(st, "web", b, 1, NULL, NULL), "configured");
	diag_clear(&d);
	assert_int_equal(st->ops->put(st, "web", c, 1, NULL, NULL, &d), -ESTALE);
	assert_non_null(strstr(d.msg, "is at revision 2, not 1"));
	/* a stale expectation fails even when nothing would change */
	put(st, "web", b, 1, NULL, &r);
	assert_int_equal(r, -ESTALE);
	assert_string_equal(put(st, "web", c, 2, NULL, NULL), "configured");
	assert_string_equal(put(st, "web", c, 3, NULL, NULL), "unchanged");
	assert_int_equal(st->ops->revision(st), 3);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_bad_names(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	json_t *spec = json_object(), *rec = NULL;
	struct diag d = { 0 };
	bool existed = true;
	const char *bad[] = { "", "../x", "Web", "a/b", "-a", ".", "a.json" };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		diag_clear(&d);
		assert_int_equal(st->ops->put(st, bad[i], spec, -1, NULL, NULL, &d), -EINVAL);
		assert_int_equal(d.err, -EINVAL);
		assert_int_equal(st->ops->get(st, bad[i], &rec, NULL), -EINVAL);
		assert_int_equal(st->ops->del(st, bad[i], &existed, NULL), -EINVAL);
	}
	assert_int_equal(st->ops->put(st, NULL, spec, -1, NULL, NULL, NULL), -EINVAL);
	/* a spec that is not an object */
	json_t *arr = json_array();
	assert_int_equal(st->ops->put(st, "ok", arr, -1, NULL, NULL, NULL), -EINVAL);
	json_decref(arr);
	assert_int_equal(st->ops->revision(st), 0);
	json_decref(spec);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	json_t *spec = spec_with_image("web", "a"), *rec = NULL;
	bool existed = true;
	struct diag d = { 0 };
	char uid[33];

	assert_int_equal(st->ops->del(st, "web", &existed, &d), 0);
	assert_false(existed);
	assert_int_equal(st->ops->revision(st), 0);
	assert_int_equal(st->ops->del(st, "web", NULL, NULL), 0);

	put(st, "web", spec, -1, &rec, NULL);
	snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(rec, "uid")));
	json_decref(rec);
	assert_int_equal(st->ops->del(st, "web", &existed, &d), 0);
	assert_true(existed);
	assert_int_equal(st->ops->revision(st), 2);
	assert_int_equal(st->ops->get(st, "web", &rec, &d), -ENOENT);

	/* re-created: a new pod, a new uid, revision 1 */
	assert_string_equal(put(st, "web", spec, -1, &rec, NULL), "created");
	assert_int_equal(json_integer_value(json_object_get(rec, "revision")), 1);
	assert_string_not_equal(json_string_value(json_object_get(rec, "uid")), uid);
	json_decref(rec);
	json_decref(spec);
}

static void flip_byte(const char *file, const char *needle)
{
	char *buf = NULL, *p;
	size_t len;

	assert_int_equal(fs_read_all(AT_FDCWD, file, 1 << 20, &buf, &len), 0);
	p = strstr(buf, needle);
	assert_non_null(p);
	*p ^= 0x01;
	assert_int_equal(fs_write_atomic(AT_FDCWD, file, buf, len, 0600), 0);
	free(buf);
}

static void test_damaged(void **state)
{
	struct fixture *f = *state;
	struct store *st = f->st;
	json_t *a = spec_with_image("alpha", "img-alpha"), *b = spec_with_image("beta", "img-beta");
	json_t *rec = NULL, *list = NULL, *damaged = NULL;
	struct diag d = { 0 };
	char file[PATH_MAX];
	int r;

	put(st, "beta", b, -1, NULL, NULL);
	put(st, "alpha", a, -1, NULL, NULL);
	snprintf(file, sizeof(file), "%s/pods/beta.json", f->dir);
	flip_byte(file, "img-beta"); /* "img-beta" -> "hmg-beta": still valid JSON */

	assert_int_equal(st->ops->get(st, "beta", &rec, &d), -EBADMSG);
	assert_null(rec);
	assert_non_null(strstr(d.msg, file));
	assert_non_null(strstr(d.msg, "checksum mismatch"));
	assert_non_null(strstr(d.msg, "re-apply the pod's spec or delete the pod"));
	assert_string_equal(d.path, file);

	assert_int_equal(st->ops->list(st, &list, &damaged, &d), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			    "alpha");
	assert_int_equal(json_array_size(damaged), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(damaged, 0), "name")),
			    "beta");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(damaged, 0), "error")),
			       "beta.json"));
	json_decref(list);
	json_decref(damaged);

	/* list without ret_damaged */
	assert_int_equal(st->ops->list(st, &list, NULL, NULL), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);

	/* not JSON at all */
	assert_int_equal(fs_write_atomic(AT_FDCWD, file, "{\"na", 4, 0600), 0);
	diag_clear(&d);
	assert_int_equal(st->ops->get(st, "beta", &rec, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "re-apply the pod's spec or delete the pod"));

	/* a record whose sum matches but that names another pod */
	assert_int_equal(st->ops->get(st, "alpha", &rec, NULL), 0);
	json_decref(rec);
	{
		char src[PATH_MAX], *buf = NULL;
		size_t len;

		snprintf(src, sizeof(src), "%s/pods/alpha.json", f->dir);
		assert_int_equal(fs_read_all(AT_FDCWD, src, 1 << 20, &buf, &len), 0);
		assert_int_equal(fs_write_atomic(AT_FDCWD, file, buf, len, 0600), 0);
		free(buf);
	}
	diag_clear(&d);
	assert_int_equal(st->ops->get(st, "beta", &rec, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "not a pod record for \"beta\""));

	/* re-applying the pod repairs it */
	diag_clear(&d);
	assert_string_equal(put(st, "beta", b, -1, NULL, &r), "created");
	assert_int_equal(r, 0);
	assert_int_equal(st->ops->get(st, "beta", &rec, &d), 0);
	json_decref(rec);

	/* a stray file with a name that is not a pod name is reported, not loaded */
	{
		char stray[PATH_MAX];

		snprintf(stray, sizeof(stray), "%s/pods/Bad_Name.json", f->dir);
		assert_int_equal(fs_write_atomic(AT_FDCWD, stray, "{}", 2, 0600), 0);
	}
	assert_int_equal(st->ops->list(st, &list, &damaged, NULL), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_array_size(damaged), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(damaged, 0), "name")),
			    "Bad_Name");
	json_decref(list);
	json_decref(damaged);
	json_decref(a);
	json_decref(b);
}

/* One byte appended to a record: damaged; re-applying the same spec rewrites it and keeps the
 * pod's identity (uid, created_at), at the next revision. */
static void test_repair_keeps_identity(void **state)
{
	struct fixture *f = *state;
	json_t *s = spec_with_image("web", "x"), *rec = NULL, *rec2 = NULL;
	char file[PATH_MAX];
	int fd;

	put(f->st, "web", s, -1, NULL, NULL);
	put(f->st, "web", s, -1, NULL, NULL);
	assert_string_equal(put(f->st, "web", s, -1, &rec, NULL), "unchanged");
	snprintf(file, sizeof(file), "%s/pods/web.json", f->dir);
	fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(f->st->ops->get(f->st, "web", &rec2, NULL), -EBADMSG);
	/* the same spec: not "unchanged", the file is rewritten */
	assert_string_equal(put(f->st, "web", s, -1, &rec2, NULL), "configured");
	assert_string_equal(json_string_value(json_object_get(rec2, "uid")),
			    json_string_value(json_object_get(rec, "uid")));
	assert_int_equal(json_integer_value(json_object_get(rec2, "created_at")),
			 json_integer_value(json_object_get(rec, "created_at")));
	assert_int_equal(json_integer_value(json_object_get(rec2, "revision")),
			 json_integer_value(json_object_get(rec, "revision")) + 1);
	json_decref(rec2);
	assert_int_equal(f->st->ops->get(f->st, "web", &rec2, NULL), 0);
	json_decref(rec2);
	json_decref(rec);
	json_decref(s);
}

/* list reuses what it parsed for files that did not change, and sees every change. */
static void test_list_cache(void **state)
{
	struct fixture *f = *state;
	json_t *a = spec_with_image("a", "x"), *b = spec_with_image("b", "x");
	json_t *l1 = NULL, *l2 = NULL, *dmg = NULL;
	char file[PATH_MAX];
	int fd;

	put(f->st, "a", a, -1, NULL, NULL);
	put(f->st, "b", b, -1, NULL, NULL);
	for (const char *const *n = (const char *const[]){ "c", "d", "e", "f", "g", NULL }; *n; n++) {
		json_t *x = spec_with_image(*n, "x");

		put(f->st, *n, x, -1, NULL, NULL);
		json_decref(x);
	}
	assert_int_equal(f->st->ops->list(f->st, &l1, NULL, NULL), 0);
	assert_int_equal(f->st->ops->list(f->st, &l2, &dmg, NULL), 0);
	assert_int_equal(json_array_size(l2), 7);
	assert_int_equal(json_array_size(dmg), 0);
	/* unchanged files: the very same parsed records */
	assert_ptr_equal(json_array_get(l1, 0), json_array_get(l2, 0));
	assert_ptr_equal(json_array_get(l1, 1), json_array_get(l2, 1));
	json_decref(l2);
	json_decref(dmg);

	/* a put replaces the file: read again */
	json_object_set_new(json_array_get(json_object_get(b, "containers"), 0), "image",
			    json_string("y"));
	put(f->st, "b", b, -1, NULL, NULL);
	assert_int_equal(f->st->ops->list(f->st, &l2, NULL, NULL), 0);
	assert_ptr_equal(json_array_get(l1, 0), json_array_get(l2, 0));
	assert_ptr_not_equal(json_array_get(l1, 1), json_array_get(l2, 1));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l2, 1), "revision")), 2);
	json_decref(l2);

	/* changed behind tankd's back (one byte appended): damaged, also when cached before */
	snprintf(file, sizeof(file), "%s/pods/a.json", f->dir);
	fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, " ", 1), 1);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(f->st->ops->list(f->st, &l2, &dmg, NULL), 0);
	assert_int_equal(json_array_size(l2), 6);
	assert_int_equal(json_array_size(dmg), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(dmg, 0), "name")), "a");
	json_decref(l2);
	json_decref(dmg);
	/* removed behind tankd's back: gone from the list */
	assert_int_equal(unlink(file), 0);
	assert_int_equal(f->st->ops->list(f->st, &l2, &dmg, NULL), 0);
	assert_int_equal(json_array_size(l2), 6);
	assert_int_equal(json_array_size(dmg), 0);
	json_decref(l2);
	json_decref(dmg);
	json_decref(l1);
	json_decref(a);
	json_decref(b);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	json_t *rec = NULL, *list = NULL;
	char uid[33], path[PATH_MAX];
	const char *names[] = { "c", "a", "b", "d" };
	struct diag d = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		json_t *s = spec_with_image(names[i], "x");

		put(f->st, names[i], s, -1, NULL, NULL);
		json_decref(s);
	}
	{
		json_t *s = spec_with_image("a", "y");

		put(f->st, "a", s, -1, &rec, NULL);
		snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(rec, "uid")));
		json_decref(rec);
		json_decref(s);
	}
	assert_int_equal(f->st->ops->del(f->st, "d", NULL, NULL), 0);
	assert_int_equal(f->st->ops->revision(f->st), 6);

	/* a temp file left by a crash is cleaned up on open */
	snprintf(path, sizeof(path), "%s/pods/a.json.tmp.99999", f->dir);
	assert_int_equal(fs_write_atomic(AT_FDCWD, path, "x", 1, 0600), 0);

	reopen(f);
	assert_false(fs_exists(path));
	assert_int_equal(f->st->ops->revision(f->st), 6);
	assert_int_equal(f->st->ops->list(f->st, &list, NULL, &d), 0);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "a");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "name")), "b");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "name")), "c");
	rec = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "uid")), uid);
	assert_int_equal(json_integer_value(json_object_get(rec, "revision")), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(json_object_get(rec, "spec"),
								   "containers"),
						   0),
				    "image")),
			    "y");
	json_decref(list);

	/* the revision file is plain text; a missing one is recounted from the records */
	snprintf(path, sizeof(path), "%s/revision", f->dir);
	{
		char *buf = NULL;

		assert_int_equal(fs_read_all(AT_FDCWD, path, 64, &buf, NULL), 0);
		assert_string_equal(buf, "6\n");
		free(buf);
	}
	assert_int_equal(unlink(path), 0);
	reopen(f);
	/* the sum a:2 + b:1 + c:1 = 4 is less than the store revision "a" was written at (5) */
	assert_int_equal(f->st->ops->revision(f->st), 5);

	/* a damaged revision file is recounted (and rewritten), not refused */
	assert_int_equal(fs_write_atomic(AT_FDCWD, path, "x7\n", 3, 0600), 0);
	reopen(f);
	assert_int_equal(f->st->ops->revision(f->st), 5);
	{
		char *buf = NULL;

		assert_int_equal(fs_read_all(AT_FDCWD, path, 64, &buf, NULL), 0);
		assert_string_equal(buf, "5\n");
		free(buf);
	}
	/* never backwards: the store revision kept in each record is a high-water mark (deletes
	 * and replaced revisions make the sum of record revisions smaller than it) */
	{
		json_t *s = spec_with_image("e", "x");

		for (int i = 0; i < 5; i++) {
			put(f->st, "e", s, -1, NULL, NULL);
			json_object_set_new(json_array_get(json_object_get(s, "containers"), 0),
					    "image", json_integer(i));
		}
		assert_int_equal(f->st->ops->del(f->st, "c", NULL, NULL), 0);
		assert_int_equal(f->st->ops->del(f->st, "b", NULL, NULL), 0);
		json_decref(s);
		s = spec_with_image("b", "z");
		put(f->st, "b", s, -1, NULL, NULL);
		json_decref(s);
	}
	/* 5 + 5 puts of e + 2 deletes + 1 put of b = 13; the records sum to a:2 + b:1 + e:5 = 8 */
	assert_int_equal(f->st->ops->revision(f->st), 13);
	assert_int_equal(fs_write_atomic(AT_FDCWD, path, "garbage\n", 8, 0600), 0);
	reopen(f);
	assert_int_equal(f->st->ops->revision(f->st), 13);
	/* a number a damaged file still starts with counts too */
	assert_int_equal(fs_write_atomic(AT_FDCWD, path, "40x\n", 4, 0600), 0);
	reopen(f);
	assert_int_equal(f->st->ops->revision(f->st), 40);
	(void)d;
}

static void test_file_format(void **state)
{
	struct fixture *f = *state;
	json_t *s = spec_with_image("web", "x"), *j = NULL;
	char path[PATH_MAX], *buf = NULL;
	size_t len;
	struct stat st;

	put(f->st, "web", s, -1, NULL, NULL);
	snprintf(path, sizeof(path), "%s/pods/web.json", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fs_read_all(AT_FDCWD, path, 1 << 20, &buf, &len), 0);
	/* compact, sorted keys, a sum, one line */
	assert_true(len > 0 && buf[len - 1] == '\n');
	assert_null(strchr(buf, ' '));
	assert_ptr_equal(strstr(buf, "{\"created_at\":"), buf);
	assert_non_null(strstr(buf, "\"sum\":\"sha256:"));
	assert_int_equal(json_parse_buf(buf, len, &j, NULL), 0);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "sum"))), 7 + 64);
	json_decref(j);
	free(buf);
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expected_revision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_keeps_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
