/* log.c - leveled logging for tankd, tank-shim and tankctl: to stderr, or to the journal. */
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib.h"

static enum log_level log_threshold = LOG_LVL_INFO;
static int log_journal = -1; /* -1: not decided yet */

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/* sd-daemon(3) prefixes: SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG */
static const char *const journal_prefixes[] = {
	[LOG_LVL_ERROR] = "<3>",
	[LOG_LVL_WARN] = "<4>",
	[LOG_LVL_INFO] = "<6>",
	[LOG_LVL_DEBUG] = "<7>",
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

/* A decimal number of 1-20 digits ending at one of `ends`; *p moves past it. */
static bool parse_dec(const char **p, const char *ends, unsigned long long *ret)
{
	const char *s = *p;
	unsigned long long v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (v > (~0ULL - 9) / 10)
			return false;
		v = v * 10 + (unsigned long long)(s[n] - '0');
		n++;
	}
	if (n == 0 || !strchr(ends, s[n]))
		return false;
	*ret = v;
	*p = s + n;
	return true;
}

/* systemd.exec(5): "JOURNAL_STREAM contains the device and inode numbers of the connection
 * [...] formatted in decimal, separated by a colon"; a service compares them with fstat(2) of
 * stderr, so that a redirected stderr is not mistaken for the journal. */
bool log_is_journal_stream(const char *journal_stream, const struct stat *st)
{
	const char *p = journal_stream;
	unsigned long long dev, ino;

	if (!p || !st || !parse_dec(&p, ":", &dev) || *p++ != ':' || !parse_dec(&p, "", &ino))
		return false;
	return (unsigned long long)st->st_dev == dev && (unsigned long long)st->st_ino == ino;
}

const char *log_level_prefix(enum log_level lvl, bool journal)
{
	if ((size_t)lvl >= ARRAY_SIZE(level_names))
		lvl = LOG_LVL_ERROR;
	return journal ? journal_prefixes[lvl] : level_names[lvl];
}

void log_init(void)
{
	struct stat st;

	log_journal = fstat(STDERR_FILENO, &st) == 0 &&
		      log_is_journal_stream(getenv("JOURNAL_STREAM"), &st);
}

void log_msg(enum log_level lvl, const char *pod, const char *fmt, ...)
{
	char ts[40], line[2048];
	int saved = errno;
	va_list ap;

	if (lvl > log_threshold)
		return;
	if (log_journal < 0)
		log_init();
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_journal) {
		const char *pfx = log_level_prefix(lvl, true);

		/* the journal reads one entry per line: keep a message on one line */
		for (char *c = line; (c = strchr(c, '\n'));)
			*c = ' ';
		if (pod)
			fprintf(stderr, "%spod=%s: %s\n", pfx, pod, line);
		else
			fprintf(stderr, "%s%s\n", pfx, line);
	} else {
		const char *name = log_level_prefix(lvl, false);

		format_time_rfc3339(now_wall_ms(), ts, sizeof(ts));
		if (pod)
			fprintf(stderr, "%s %s pod=%s: %s\n", ts, name, pod, line);
		else
			fprintf(stderr, "%s %s: %s\n", ts, name, line);
	}
	errno = saved;
}
