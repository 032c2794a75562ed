/* fs.c - file helpers: atomic writes, bounded reads, trees, and openat2 inside a root. */
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "lib.h"

static int write_replace(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
			 bool durable)
{
	char tmp[PATH_MAX];
	_cleanup_close_ int fd = -1;
	_cleanup_close_ int dfd = -1;
	const char *slash = strrchr(name, '/');
	const char *p = buf;
	size_t off = 0;

	static unsigned int seq;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d.%u", name, (int)getpid(), seq++) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* a leftover of a crashed writer with the same name is removed, never written through */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST && unlinkat(dirfd, tmp, 0) == 0)
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;

			unlinkat(dirfd, tmp, 0);
			return e;
		}
		off += (size_t)n;
	}
	if ((durable && fsync(fd) < 0) || renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = -errno;

		unlinkat(dirfd, tmp, 0);
		return e;
	}
	if (!durable)
		return 0;
	/* fsync the directory that holds the entry so the rename itself is durable */
	if (slash) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		dfd = openat(dirfd, dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}

int fs_write_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	return write_replace(dirfd, name, buf, len, mode, true);
}

int fs_write_runtime(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	return write_replace(dirfd, name, buf, len, mode, false);
}

int fs_read_all(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0, limit = max < SIZE_MAX - 1 ? max + 1 : max;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nb;

			if (ncap > limit)
				ncap = limit;
			if (ncap <= len)
				return -EFBIG;
			nb = realloc(buf, ncap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return -EFBIG;
	}
	if (!buf && !(buf = malloc(1)))
		return -ENOMEM;
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_one(const char *path, const struct stat *st _unused_, int flag, struct FTW *ftw _unused_)
{
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int fs_rm_rf(const char *path)
{
	int r;

	if (!fs_exists(path))
		return 0;
	/* rm_one's -errno comes back as is; nftw's own failure is -1 with errno set */
	r = nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (r == -1)
		return -errno;
	return r;
}

int fs_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		/* O_TMPFILE contains O_DIRECTORY's bit: test it whole */
		.mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

bool fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int fs_write_str(const char *path, const char *s)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = strlen(s);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

char *strdup_printf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}
