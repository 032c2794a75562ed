/* diag.c - recording failure detail that an errno cannot carry. */
#include <string.h>

#include "lib.h"

static int diag_vset(struct diag *d, int err, const char *path, const char *fmt, va_list ap)
{
	if (!d || d->err)
		return err;
	d->err = err;
	snprintf(d->path, sizeof(d->path), "%s", path ? path : "");
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	return err;
}

int diag_fail(struct diag *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vset(d, err, NULL, fmt, ap);
	va_end(ap);
	return err;
}

int diag_fail_at(struct diag *d, int err, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vset(d, err, path, fmt, ap);
	va_end(ap);
	return err;
}

void diag_prefix(struct diag *d, const char *fmt, ...)
{
	char pre[512], old[sizeof(d->msg)];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", d->msg[0] ? d->msg : strerror(d->err ? -d->err : EIO));
	snprintf(d->msg, sizeof(d->msg), "%s%s", pre, old);
}

const char *diag_text(const struct diag *d, int err)
{
	if (d && d->msg[0])
		return d->msg;
	return strerror(err < 0 ? -err : err);
}

void diag_clear(struct diag *d)
{
	if (d)
		memset(d, 0, sizeof(*d));
}
