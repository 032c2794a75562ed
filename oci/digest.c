/* digest.c - SHA-256 (OpenSSL EVP), digest strings, and verified reads of layout blobs. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "oci/oci.h"

int oci_digest_init(struct oci_digest *h)
{
	if (!h->ctx && !(h->ctx = EVP_MD_CTX_new()))
		return -ENOMEM;
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		return -EIO;
	return 0;
}

void oci_digest_update(struct oci_digest *h, const void *buf, size_t len)
{
	/* EVP_DigestUpdate cannot fail for an initialised software SHA-256 context */
	if (len)
		EVP_DigestUpdate(h->ctx, buf, len);
}

int oci_digest_final(struct oci_digest *h, char *ret)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *p;

	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
		return -EIO;
	p = stpcpy(ret, "sha256:");
	for (unsigned int i = 0; i < n; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 0xf];
	}
	*p = '\0';
	return 0;
}

void oci_digest_done(struct oci_digest *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int oci_digest_buf(const void *buf, size_t len, char *ret)
{
	_cleanup_digest_ struct oci_digest h = {};
	int r = oci_digest_init(&h);

	if (r < 0)
		return r;
	oci_digest_update(&h, buf, len);
	return oci_digest_final(&h, ret);
}

int oci_digest_check(const char *digest, const char *what, const char **ret_hex, struct diag *d)
{
	const char *colon, *hex;
	size_t n;

	if (!digest)
		return diag_fail(d, -EINVAL, "%s: descriptor has no digest", what);
	colon = strchr(digest, ':');
	if (!colon || colon == digest)
		return diag_fail(d, -EINVAL, "%s: malformed digest \"%.80s\" (want sha256:<hex>)",
				 what, digest);
	if ((size_t)(colon - digest) != 6 || strncmp(digest, "sha256", 6) != 0)
		return diag_fail(d, -EOPNOTSUPP,
				 "%s: digest algorithm \"%.*s\" is not supported (only sha256); "
				 "re-create the image with sha256 digests",
				 what, (int)(colon - digest > 32 ? 32 : colon - digest), digest);
	hex = colon + 1;
	n = strspn(hex, "0123456789abcdef");
	if (n != 64 || hex[n] != '\0')
		return diag_fail(d, -EINVAL,
				 "%s: malformed digest \"%.80s\" (want sha256: and 64 lowercase "
				 "hex characters): the image layout is corrupt",
				 what, digest);
	if (ret_hex)
		*ret_hex = hex;
	return 0;
}

/* Open blobs/sha256/<hex> inside the layout: a regular file whose size matches. */
int oci_blob_open(int layout_fd, const char *digest, int64_t size, const char *what, int *ret_fd,
		  struct diag *d)
{
	char path[96];
	const char *hex;
	struct stat st;
	_cleanup_close_ int fd = -1;
	int r;

	r = oci_digest_check(digest, what, &hex, d);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
	/* O_NONBLOCK: a FIFO planted in the layout must not hang us; it fails the S_ISREG test */
	fd = fs_open_in_root(layout_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -ENOENT)
		return diag_fail_at(d, fd, path,
				    "%s %s: blob missing from the image layout (%s); re-create "
				    "or re-copy the layout",
				    what, digest, path);
	if (fd < 0)
		return diag_fail_at(d, fd, path, "%s %s: opening %s: %s", what, digest, path,
				    strerror(-fd));
	if (fstat(fd, &st) < 0)
		return diag_fail_at(d, -errno, path, "%s: fstat %s: %m", what, path);
	if (!S_ISREG(st.st_mode))
		return diag_fail_at(d, -EINVAL, path,
				    "%s %s: %s is not a regular file: the image layout is corrupt",
				    what, digest, path);
	if (size >= 0 && st.st_size != size)
		return diag_fail_at(d, -EBADMSG, path,
				    "%s %s: size mismatch (descriptor says %lld bytes, blob has "
				    "%lld): the image layout is corrupt; re-create or re-copy it",
				    what, digest, (long long)size, (long long)st.st_size);
	/* back to blocking reads for the regular file */
	if (fcntl(fd, F_SETFL, 0) < 0)
		return diag_fail_at(d, -errno, path, "%s: fcntl %s: %m", what, path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int oci_blob_read(int layout_fd, const char *digest, int64_t size, size_t max, const char *what,
		  char **ret_buf, size_t *ret_len, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	char got[OCI_DIGEST_STR_MAX];
	size_t len;
	int r;

	if (size < 0)
		return diag_fail(d, -EINVAL, "%s %s: descriptor has no valid size", what, digest);
	if ((uint64_t)size > max)
		return diag_fail(d, -EFBIG,
				 "%s %s: %lld bytes is larger than the limit of %zu bytes", what,
				 digest, (long long)size, max);
	r = oci_blob_open(layout_fd, digest, size, what, &fd, d);
	if (r < 0)
		return r;
	/* read one byte more than announced to notice a blob that grew since the fstat */
	buf = malloc((size_t)size + 1);
	if (!buf)
		return -ENOMEM;
	len = 0;
	while (len < (size_t)size + 1) {
		ssize_t n = read(fd, buf + len, (size_t)size + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return diag_fail(d, -errno, "%s %s: reading blob: %m", what, digest);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != (size_t)size)
		return diag_fail(d, -EBADMSG,
				 "%s %s: size changed while reading (descriptor says %lld bytes): "
				 "the image layout is corrupt",
				 what, digest, (long long)size);
	buf[len] = '\0';
	r = oci_digest_buf(buf, len, got);
	if (r < 0)
		return diag_fail(d, r, "%s: computing sha256 failed", what);
	if (strcmp(got, digest) != 0)
		return diag_fail(d, -EBADMSG,
				 "%s %s: digest mismatch (got %s): the image layout is corrupt; "
				 "re-create or re-copy it",
				 what, digest, got);
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}
