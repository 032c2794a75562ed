/* log.c - leveled logging to stderr for tankd, tank-shim and tankctl. */
#include <string.h>
#include <time.h>

#include "lib.h"

static enum log_level log_threshold = LOG_LVL_INFO;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_set_level(enum log_level lvl)
{
	log_threshold = lvl;
}

int log_parse_level(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_msg(enum log_level lvl, const char *pod, const char *fmt, ...)
{
	char ts[40], line[2048];
	int saved = errno;
	va_list ap;

	if (lvl > log_threshold)
		return;
	format_time_rfc3339(now_wall_ms(), ts, sizeof(ts));
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (pod)
		fprintf(stderr, "%s %s pod=%s: %s\n", ts, level_names[lvl], pod, line);
	else
		fprintf(stderr, "%s %s: %s\n", ts, level_names[lvl], line);
	errno = saved;
}
