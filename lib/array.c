/* array.c - growing arrays of fixed-size elements. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib.h"

int array_grow(void **items, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : first;
	if (ncap <= n || (size && ncap > SIZE_MAX / size))
		return -ENOMEM;
	p = realloc(*items, ncap * size);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}
