/* strv.c - NULL-terminated string vectors. */
#include <string.h>

#include "lib.h"

size_t strv_length(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int strv_push(char ***v, const char *s)
{
	size_t n = strv_length(*v);
	char *copy = strdup(s);
	char **nv;

	if (!copy)
		return -ENOMEM;
	nv = realloc(*v, (n + 2) * sizeof(char *));
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	nv[n] = copy;
	nv[n + 1] = NULL;
	*v = nv;
	return 0;
}

char **strv_copy(char *const *v)
{
	char **r = calloc(1, sizeof(char *));

	if (!r)
		return NULL;
	for (size_t i = 0; v && v[i]; i++) {
		if (strv_push(&r, v[i]) < 0) {
			strv_free(r);
			return NULL;
		}
	}
	return r;
}

int strv_env_find(char *const *env, const char *key, size_t keylen)
{
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], key, keylen) == 0 && env[i][keylen] == '=')
			return (int)i;
	return -1;
}
