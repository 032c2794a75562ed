/* json.c - small conveniences over jansson: bounded reads, atomic writes, typed getters. */
#include <fcntl.h>
#include <string.h>

#include "lib.h"

int json_parse_buf(const char *buf, size_t len, json_t **ret, struct diag *d)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

	if (!j)
		return diag_fail(d, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	*ret = j;
	return 0;
}

int json_read_file(int dirfd, const char *path, size_t max, json_t **ret, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = fs_read_all(dirfd, path, max, &buf, &len);

	if (r == -EFBIG)
		return diag_fail_at(d, r, path, "%s: larger than the limit of %zu bytes", path, max);
	if (r < 0)
		return diag_fail_at(d, r, path, "%s: %s", path, strerror(-r));
	r = json_parse_buf(buf, len, ret, d);
	if (r < 0)
		diag_prefix(d, "%s: ", path);
	return r;
}

static int json_write(int dirfd, const char *name, json_t *j, mode_t mode, bool durable)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	_cleanup_free_ char *line = NULL;

	if (!s || !(line = strdup_printf("%s\n", s)))
		return -ENOMEM;
	return durable ? fs_write_atomic(dirfd, name, line, strlen(line), mode)
		       : fs_write_runtime(dirfd, name, line, strlen(line), mode);
}

int json_write_atomic(int dirfd, const char *name, json_t *j, mode_t mode)
{
	return json_write(dirfd, name, j, mode, true);
}

int json_write_runtime(int dirfd, const char *name, json_t *j, mode_t mode)
{
	return json_write(dirfd, name, j, mode, false);
}

const char *json_str(const json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : def;
}

long long json_int(const json_t *o, const char *key, long long def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

bool json_bool(const json_t *o, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

char **json_strv(const json_t *a)
{
	char **v;
	size_t i;
	json_t *e;

	if (!json_is_array(a))
		return NULL;
	v = calloc(1, sizeof(char *));
	if (!v)
		return NULL;
	json_array_foreach(a, i, e) {
		if (!json_is_string(e) || strv_push(&v, json_string_value(e)) < 0) {
			strv_free(v);
			return NULL;
		}
	}
	return v;
}

json_t *json_from_strv(char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}
