/* exec.c - the last steps before the workload: identity, no_new_privs, PATH lookup, execve. */
#include <grp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "rootfs/rootfs.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The value of PATH in the container's environment, or the usual default. */
static const char *env_path(char *const *env)
{
	int i = strv_env_find(env, "PATH", 4);

	return i >= 0 ? env[i] + 5 : DEFAULT_PATH;
}

/*
 * execve argv[0] from each PATH entry in turn, as execvpe does, but with the container's PATH
 * rather than ours. Returns -errno only when every candidate failed.
 */
static int exec_path_search(const struct rootfs_process *p, struct diag *d)
{
	const char *name = p->argv[0], *path = env_path(p->env);
	size_t nlen = strlen(name);
	bool eacces = false;

	for (const char *dir = path;; dir++) {
		const char *end = strchrnul(dir, ':');
		size_t dlen = (size_t)(end - dir);
		char buf[PATH_MAX];

		/* an empty entry means the current directory, as in POSIX */
		if (dlen + 1 + nlen < sizeof(buf)) {
			if (dlen == 0)
				snprintf(buf, sizeof(buf), "%s", name);
			else
				snprintf(buf, sizeof(buf), "%.*s/%s", (int)dlen, dir, name);
			execve(buf, p->argv, p->env);
			switch (errno) {
			case EACCES:
				eacces = true;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return diag_fail(d, -errno, "exec %s (%s): %s", name, buf,
						 strerror(errno));
			}
		}
		if (*end == '\0')
			break;
		dir = end;
	}
	if (eacces)
		return diag_fail(d, -EACCES, "exec %s: %s", name, strerror(EACCES));
	return diag_fail(d, -ENOENT, "exec %s: not found in PATH=%s", name, path);
}

int rootfs_exec(const struct rootfs_process *proc, struct diag *d)
{
	static char *const no_env[] = { NULL };
	struct rootfs_process q = *proc, *p = &q;
	const char *cwd = p->cwd && p->cwd[0] ? p->cwd : "/";

	if (!p->env)
		q.env = no_env;
	if (!p->argv || !p->argv[0] || !p->argv[0][0])
		return diag_fail(d, -EINVAL, "exec: empty command");
	umask(022);
	if (chdir(cwd) < 0)
		return diag_fail(d, -errno, "chdir %s: %s", cwd, strerror(errno));
	if (setgroups(0, NULL) < 0)
		return diag_fail(d, -errno, "setgroups: %s", strerror(errno));
	if (setgid(p->gid) < 0)
		return diag_fail(d, -errno, "setgid %u: %s", (unsigned)p->gid, strerror(errno));
	if (setuid(p->uid) < 0)
		return diag_fail(d, -errno, "setuid %u: %s", (unsigned)p->uid, strerror(errno));
	if (p->parent_death_signal &&
	    prctl(PR_SET_PDEATHSIG, (unsigned long)p->parent_death_signal, 0, 0, 0) < 0)
		return diag_fail(d, -errno, "parent death signal: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return diag_fail(d, -errno, "no_new_privs: %s", strerror(errno));
	if (strchr(p->argv[0], '/')) {
		execve(p->argv[0], p->argv, p->env);
		return diag_fail(d, -errno, "exec %s: %s", p->argv[0], strerror(errno));
	}
	return exec_path_search(p, d);
}
