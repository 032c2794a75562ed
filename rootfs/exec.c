/* exec.c - the last steps before the workload: identity, limits, caps, seccomp, PATH, execve. */
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "rootfs/rootfs.h"
#include "rootfs/rootfs_int.h"

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

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "as", RLIMIT_AS },
	{ "core", RLIMIT_CORE },
	{ "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA },
	{ "fsize", RLIMIT_FSIZE },
	{ "locks", RLIMIT_LOCKS },
	{ "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE },
	{ "nice", RLIMIT_NICE },
	{ "nofile", RLIMIT_NOFILE },
	{ "nproc", RLIMIT_NPROC },
	{ "rss", RLIMIT_RSS },
	{ "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME },
	{ "sigpending", RLIMIT_SIGPENDING },
	{ "stack", RLIMIT_STACK },
};

int rootfs_rlimit_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	if (strncasecmp(name, "RLIMIT_", 7) == 0)
		name += 7;
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (strcasecmp(name, rlimit_names[i].name) == 0)
			return rlimit_names[i].resource;
	return -EINVAL;
}

/* Here, not in seccomp.c: loading needs no libseccomp, so what links exec.c alone does not
 * pull it in. */
int rootfs_seccomp_install(const struct rootfs_seccomp *f, struct diag *d)
{
	struct sock_fprog prog = { .len = f->len, .filter = f->prog };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return diag_fail(d, -errno, "seccomp filter: %s", strerror(errno));
	return 0;
}

/* env with HOME=home appended when it has no HOME (a new vector, or env itself). */
static char **env_with_home(char *const *env, const char *home)
{
	size_t n = strv_length(env);
	char **v;

	if (strv_env_find(env, "HOME", 4) >= 0)
		return (char **)env;
	v = calloc(n + 2, sizeof(char *));
	if (!v)
		return (char **)env;
	memcpy(v, env, n * sizeof(char *));
	v[n] = strdup_printf("HOME=%s", home && home[0] ? home : "/");
	return v[n] ? v : (char **)env;
}

int rootfs_exec(const struct rootfs_process *proc, struct diag *d)
{
	static char *const no_env[] = { NULL };
	struct rootfs_process q = *proc, *p = &q;
	const char *cwd = p->cwd && p->cwd[0] ? p->cwd : "/";
	struct rootfs_user u;
	char idspec[32];
	int r;

	if (!p->env)
		q.env = no_env;
	if (!p->argv || !p->argv[0] || !p->argv[0][0])
		return diag_fail(d, -EINVAL, "exec: empty command");
	/* the current root is the container's: its /etc/passwd and /etc/group */
	{
		_cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (!p->user)
			snprintf(idspec, sizeof(idspec), "%u:%u", (unsigned)p->uid,
				 (unsigned)p->gid);
		if (rootfd < 0)
			return diag_fail(d, -errno, "open /: %s", strerror(errno));
		r = rootfs_user_resolve(rootfd, p->user ? p->user : idspec, &u, d);
		if (r < 0)
			return r;
	}
	q.env = env_with_home(q.env, u.home);
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };

		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return diag_fail(d, -errno, "rlimit %d %llu:%llu: %s",
					 p->rlimits[i].resource, (unsigned long long)rl.rlim_cur,
					 (unsigned long long)rl.rlim_max, strerror(errno));
	}
	umask(p->umask & 0777);
	if (chdir(cwd) < 0)
		return diag_fail(d, -errno, "chdir %s: %s", cwd, strerror(errno));
	r = caps_bound(p->caps, d);
	if (r < 0)
		return r;
	if (setgroups(u.n_groups, u.groups) < 0)
		return diag_fail(d, -errno, "setgroups: %s", strerror(errno));
	if (setresgid(u.gid, u.gid, u.gid) < 0)
		return diag_fail(d, -errno, "setgid %u: %s", (unsigned)u.gid, strerror(errno));
	/* a uid other than 0 loses every capability here, as in podman, but for the ones added
	 * explicitly (user_caps), which it keeps through KEEPCAPS and the ambient set */
	if (u.uid != 0 && (p->user_caps & p->caps) && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return diag_fail(d, -errno, "keep capabilities: %s", strerror(errno));
	if (setresuid(u.uid, u.uid, u.uid) < 0)
		return diag_fail(d, -errno, "setuid %u: %s", (unsigned)u.uid, strerror(errno));
	if (u.uid == 0)
		r = caps_set(p->caps, 0, d);
	else
		r = caps_set(p->user_caps & p->caps, p->user_caps & p->caps, d);
	if (r < 0)
		return r;
	for (int cap = 0; u.uid != 0 && cap < 64; cap++)
		if ((p->user_caps & p->caps & (1ULL << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return diag_fail(d, -errno, "ambient capability %d: %s", cap,
					 strerror(errno));
	if (p->parent_death_signal &&
	    prctl(PR_SET_PDEATHSIG, (unsigned long)p->parent_death_signal, 0, 0, 0) < 0)
		return diag_fail(d, -errno, "parent death signal: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return diag_fail(d, -errno, "no_new_privs: %s", strerror(errno));
	/* the last step: from here on only execve (allowed by every profile) runs */
	if (p->seccomp && p->seccomp->len) {
		r = rootfs_seccomp_install(p->seccomp, d);
		if (r < 0)
			return r;
	}
	if (strchr(p->argv[0], '/')) {
		execve(p->argv[0], p->argv, p->env);
		return diag_fail(d, -errno, "exec %s: %s", p->argv[0], strerror(errno));
	}
	return exec_path_search(p, d);
}

int rootfs_drop_privileges(uid_t uid, gid_t gid, struct diag *d)
{
	int r = caps_bound(0, d);

	if (r < 0)
		return r;
	if (setgroups(0, NULL) < 0)
		return diag_fail(d, -errno, "setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		return diag_fail(d, -errno, "setgid %u: %s", (unsigned)gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		return diag_fail(d, -errno, "setuid %u: %s", (unsigned)uid, strerror(errno));
	/* setuid to 0 keeps the sets, and no uid change clears the inheritable one */
	r = caps_set(0, 0, d);
	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return diag_fail(d, -errno, "no_new_privs: %s", strerror(errno));
	return 0;
}
