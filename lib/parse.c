/* parse.c - units in specs and config: durations, sizes; clocks and time text. */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "lib.h"

int parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		uint64_t v = 0, mul;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			if (v > UINT64_MAX / 10 - 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*p++ - '0');
		}
		if (strncmp(p, "ms", 2) == 0) {
			mul = 1;
			p += 2;
		} else if (*p == 's' || *p == 'm' || *p == 'h') {
			mul = *p == 's' ? 1000 : *p == 'm' ? 60000 : 3600000;
			p++;
		} else {
			return -EINVAL;
		}
		if (v > UINT64_MAX / mul || total > UINT64_MAX - v * mul)
			return -ERANGE;
		total += v * mul;
	}
	*ret_ms = total;
	return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes)
{
	static const struct {
		const char *suffix;
		uint64_t mul;
	} units[] = {
		{ "", 1 },
		{ "k", 1000ULL },
		{ "K", 1000ULL },
		{ "M", 1000ULL * 1000 },
		{ "G", 1000ULL * 1000 * 1000 },
		{ "T", 1000ULL * 1000 * 1000 * 1000 },
		{ "Ki", 1ULL << 10 },
		{ "Mi", 1ULL << 20 },
		{ "Gi", 1ULL << 30 },
		{ "Ti", 1ULL << 40 },
	};
	uint64_t v = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		if (v > UINT64_MAX / 10 - 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].mul)
				return -ERANGE;
			*ret_bytes = v * units[i].mul;
			return 0;
		}
	}
	return -EINVAL;
}

uint64_t now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void format_time_rfc3339(uint64_t wall_ms, char *buf, size_t len)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
