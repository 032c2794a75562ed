/* user.c - "name|uid[:group|gid]" resolved with the container's /etc/passwd and /etc/group. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "rootfs/rootfs.h"

/*
 * Written by hand: getpwnam(3) and friends read the host's files (and NSS modules), never a
 * container's. The formats are the classic colon-separated ones; lines that do not parse are
 * skipped, as glibc's files backend does.
 */

/* Split one line into at most max colon-separated fields (in place); returns the count. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

/* A decimal id (uid_t/gid_t range without -1); false when s is not one. */
static bool parse_id(const char *s, unsigned int *ret)
{
	unsigned long v;
	char *end;

	if (!s || !*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= 0xffffffffUL)
		return false;
	*ret = (unsigned int)v;
	return true;
}

/* Walk the lines of a copy of text; cb returns true to stop. */
typedef bool (*line_cb)(char **f, size_t n, void *arg);
static int each_entry(const char *text, size_t nfields, line_cb cb, void *arg)
{
	_cleanup_free_ char *copy = text ? strdup(text) : NULL;
	char *save = NULL, *f[8];

	if (!text)
		return 0;
	if (!copy)
		return -ENOMEM;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '+' || line[0] == '-')
			continue;
		if (split_fields(line, f, nfields) != nfields)
			continue;
		if (cb(f, nfields, arg))
			return 1;
	}
	return 0;
}

struct pw_query {
	const char *name; /* match by name, or */
	unsigned int uid; /* by uid when name is NULL */
	bool found;
	char user[256];
	unsigned int ruid, rgid;
	char home[256];
};

static bool pw_match(char **f, size_t n _unused_, void *arg)
{
	struct pw_query *q = arg;
	unsigned int uid, gid;

	/* name:password:uid:gid:gecos:home:shell */
	if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return false;
	if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
		return false;
	q->found = true;
	q->ruid = uid;
	q->rgid = gid;
	snprintf(q->user, sizeof(q->user), "%s", f[0]);
	snprintf(q->home, sizeof(q->home), "%s", f[5]);
	return true;
}

struct gr_query {
	const char *name; /* the group asked for by name */
	bool found;
	unsigned int gid;
	const char *member; /* collect groups listing this user */
	struct rootfs_user *u;
	int err;
};

static bool gr_match(char **f, size_t n _unused_, void *arg)
{
	struct gr_query *q = arg;
	unsigned int gid;
	char *save = NULL;

	/* name:password:gid:member,member */
	if (!parse_id(f[2], &gid))
		return false;
	if (q->name) {
		if (strcmp(f[0], q->name) != 0)
			return false;
		q->found = true;
		q->gid = gid;
		return true;
	}
	for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		bool dup = false;

		if (strcmp(m, q->member) != 0)
			continue;
		for (size_t i = 0; i < q->u->n_groups; i++)
			dup |= q->u->groups[i] == gid;
		if (dup)
			break;
		if (q->u->n_groups >= ROOTFS_GROUPS_MAX) {
			q->err = -E2BIG;
			return true;
		}
		q->u->groups[q->u->n_groups++] = gid;
		break;
	}
	return false;
}

int rootfs_user_lookup(const char *passwd, const char *group, const char *spec,
		       struct rootfs_user *ret, struct diag *d)
{
	char user[256], *grp;
	struct pw_query pw = { 0 };
	struct gr_query gq = { 0 };
	unsigned int id;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!spec || !*spec)
		spec = "0";
	if (strlen(spec) >= sizeof(user))
		return diag_fail(d, -EINVAL, "user \"%.32s...\": too long", spec);
	snprintf(user, sizeof(user), "%s", spec);
	grp = strchr(user, ':');
	if (grp)
		*grp++ = '\0';
	if (!user[0] || (grp && !*grp))
		return diag_fail(d, -EINVAL, "user \"%s\": expected name|uid[:group|gid]", spec);

	if (parse_id(user, &id)) {
		pw.uid = id;
		if ((r = each_entry(passwd, 7, pw_match, &pw)) < 0)
			return r;
		ret->uid = id;
		ret->gid = pw.found ? pw.rgid : 0;
	} else {
		pw.name = user;
		if ((r = each_entry(passwd, 7, pw_match, &pw)) < 0)
			return r;
		if (!pw.found)
			return diag_fail(d, -ENOENT, "user \"%s\": no user \"%s\" in /etc/passwd",
					 spec, user);
		ret->uid = pw.ruid;
		ret->gid = pw.rgid;
	}
	if (pw.found)
		snprintf(ret->home, sizeof(ret->home), "%s", pw.home);

	if (grp) {
		if (parse_id(grp, &id)) {
			ret->gid = id;
		} else {
			gq.name = grp;
			if ((r = each_entry(group, 4, gr_match, &gq)) < 0)
				return r;
			if (!gq.found)
				return diag_fail(d, -ENOENT,
						 "user \"%s\": no group \"%s\" in /etc/group", spec,
						 grp);
			ret->gid = gq.gid;
		}
	}
	ret->groups[ret->n_groups++] = ret->gid;
	/* as podman: the user's memberships only when no group was given */
	if (!grp && pw.found) {
		gq = (struct gr_query){ .member = pw.user, .u = ret };
		if ((r = each_entry(group, 4, gr_match, &gq)) < 0)
			return r;
		if (gq.err)
			return diag_fail(d, gq.err, "user \"%s\": more than %d groups", spec,
					 ROOTFS_GROUPS_MAX);
	}
	return 0;
}

/* Read a small regular file of the container root; *ret = NULL when it does not exist. */
static int read_etc(int rootfd, const char *path, char **ret, struct diag *d)
{
	_cleanup_close_ int fd = rootfs_open(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;

	*ret = NULL;
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return diag_fail(d, fd, "open %s: %s", path, strerror(-fd));
	if (fstat(fd, &st) < 0)
		return diag_fail(d, -errno, "stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return diag_fail(d, -EINVAL, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > ROOTFS_ETC_FILE_MAX)
		return diag_fail(d, -EFBIG, "%s: larger than %u bytes", path, ROOTFS_ETC_FILE_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return diag_fail(d, -errno, "read %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int rootfs_user_resolve(int rootfd, const char *spec, struct rootfs_user *ret, struct diag *d)
{
	_cleanup_free_ char *passwd = NULL, *group = NULL;
	int r;

	if ((r = read_etc(rootfd, "/etc/passwd", &passwd, d)) < 0 ||
	    (r = read_etc(rootfd, "/etc/group", &group, d)) < 0)
		return r;
	return rootfs_user_lookup(passwd, group, spec, ret, d);
}
