/* test_lib_ipc.c - unit tests of lib/ipc.c: JSON frames with fds over unix stream sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lib/lib.h"

static int setup(void **state)
{
	int *sv = calloc(2, sizeof(int));

	if (!sv || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	*state = sv;
	return 0;
}

static int teardown(void **state)
{
	int *sv = *state;

	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(sv);
	return 0;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_round_trip(void **state)
{
	int *sv = *state;
	json_t *msg = json_pack("{s:s, s:i, s:[s, s]}", "op", "exec", "version", 1, "argv", "sh",
				"-c"), *got = NULL;
	int p1[2], p2[2], fds[IPC_FDS_MAX];
	size_t nfds = 99;
	char c = 0;

	assert_int_equal(pipe2(p1, O_CLOEXEC), 0);
	assert_int_equal(pipe2(p2, O_CLOEXEC), 0);
	int send_fds[2] = { p1[1], p2[0] };

	/* with fds */
	assert_int_equal(ipc_send_json(sv[0], msg, send_fds, 2), 0);
	assert_int_equal(ipc_recv_json(sv[1], &got, fds, IPC_FDS_MAX, &nfds), 0);
	assert_true(json_equal(msg, got));
	json_decref(got);
	assert_int_equal(nfds, 2);
	/* the received fds are new descriptors for the same pipes, close-on-exec */
	assert_int_not_equal(fds[0], p1[1]);
	assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(fds[0], "a", 1), 1);
	assert_int_equal(read(p1[0], &c, 1), 1);
	assert_int_equal(c, 'a');
	assert_int_equal(write(p2[1], "b", 1), 1);
	assert_int_equal(read(fds[1], &c, 1), 1);
	assert_int_equal(c, 'b');
	close(fds[0]);
	close(fds[1]);

	/* without fds, several frames back to back */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_send_json(sv[0], msg, NULL, 0), 0);
	for (int i = 0; i < 3; i++) {
		nfds = 99;
		assert_int_equal(ipc_recv_json(sv[1], &got, fds, IPC_FDS_MAX, &nfds), 0);
		assert_int_equal(nfds, 0);
		assert_true(json_equal(msg, got));
		json_decref(got);
	}

	/* the other direction */
	assert_int_equal(ipc_send_json(sv[1], msg, NULL, 0), 0);
	assert_int_equal(ipc_recv_json(sv[0], &got, NULL, 0, NULL), 0);
	json_decref(got);

	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	json_decref(msg);
}

/* ret_fds NULL: "received fds are then closed" - the frame itself is still delivered. */
static void test_fds_unwanted(void **state)
{
	int *sv = *state;
	json_t *msg = json_pack("{s:s}", "a", "b"), *got = NULL;
	int p[2];
	size_t nfds = 99;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(ipc_send_json(sv[0], msg, &p[1], 1), 0);
	close(p[1]);
	assert_int_equal(ipc_recv_json(sv[1], &got, NULL, 0, &nfds), 0);
	assert_int_equal(nfds, 0);
	json_decref(got);
	/* the write end was closed by the receiver: the pipe sees EOF */
	{
		char c;

		assert_int_equal(read(p[0], &c, 1), 0);
	}
	close(p[0]);
	json_decref(msg);
}

/* More fds than the caller can take: refused, and none leak. */
static void test_fds_too_many(void **state)
{
	int *sv = *state;
	json_t *msg = json_pack("{s:s}", "a", "b"), *got = NULL;
	int p[2], fds[1] = { -1 };
	size_t nfds = 99;
	int send_fds[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	send_fds[0] = p[1];
	send_fds[1] = p[1];
	assert_int_equal(ipc_send_json(sv[0], msg, send_fds, 2), 0);
	close(p[1]);
	assert_int_equal(ipc_recv_json(sv[1], &got, fds, 1, &nfds), -EPROTO);
	assert_int_equal(nfds, 0);
	{
		char c;

		assert_int_equal(read(p[0], &c, 1), 0); /* every copy of the write end closed */
	}
	close(p[0]);
	/* more than IPC_FDS_MAX cannot even be sent */
	{
		int many[IPC_FDS_MAX + 1];

		for (size_t i = 0; i < ARRAY_SIZE(many); i++)
			many[i] = 0;
		assert_int_equal(ipc_send_json(sv[0], msg, many, ARRAY_SIZE(many)), -EMSGSIZE);
	}
	json_decref(msg);
}

struct sender {
	int fd;
	json_t *msg;
	int r;
};

static void *send_thread(void *arg)
{
	struct sender *s = arg;

	s->r = ipc_send_json(s->fd, s->msg, NULL, 0);
	return NULL;
}

static void test_frame_sizes(void **state)
{
	int *sv = *state;
	size_t n = IPC_FRAME_MAX - 100;
	char *big = malloc(IPC_FRAME_MAX + 10);
	json_t *got = NULL;
	struct sender s = { .fd = sv[0] };
	pthread_t t;

	assert_non_null(big);
	/* a frame just under the limit goes through (the sender needs a reader: a thread) */
	memset(big, 'x', n);
	big[n] = '\0';
	s.msg = json_pack("{s:s}", "blob", big);
	assert_int_equal(pthread_create(&t, NULL, send_thread, &s), 0);
	assert_int_equal(ipc_recv_json(sv[1], &got, NULL, 0, NULL), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.r, 0);
	assert_int_equal(strlen(json_string_value(json_object_get(got, "blob"))), n);
	json_decref(got);
	json_decref(s.msg);

	/* one over the limit is refused by the sender */
	memset(big, 'x', IPC_FRAME_MAX);
	big[IPC_FRAME_MAX] = '\0';
	s.msg = json_pack("{s:s}", "blob", big);
	assert_int_equal(ipc_send_json(sv[0], s.msg, NULL, 0), -EMSGSIZE);
	json_decref(s.msg);
	free(big);

	/* and by the receiver, from the header alone */
	{
		uint32_t len = IPC_FRAME_MAX + 1;
		unsigned char hdr[4] = { len >> 24, len >> 16, len >> 8, len };

		assert_int_equal(write(sv[0], hdr, 4), 4);
		assert_int_equal(ipc_recv_json(sv[1], &got, NULL, 0, NULL), -EPROTO);
	}
}

static void test_truncated(void **state)
{
	int *sv = *state;
	json_t *got = NULL;
	unsigned char hdr[4] = { 0, 0, 0, 100 };

	/* header says 100 bytes, 10 arrive, then EOF */
	assert_int_equal(write(sv[0], hdr, 4), 4);
	assert_int_equal(write(sv[0], "{\"a\":\"bbbb", 10), 10);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(ipc_recv_json(sv[1], &got, NULL, 0, NULL), -EPROTO);
	assert_null(got);
}

static void test_truncated_header(void **state)
{
	int *sv = *state;
	json_t *got = NULL;

	assert_int_equal(write(sv[0], "\0\0", 2), 2);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(ipc_recv_json(sv[1], &got, NULL, 0, NULL), -EPROTO);
}

static void test_eof_and_garbage(void **state)
{
	int *sv = *state;
	json_t *got = NULL;
	unsigned char hdr[4] = { 0, 0, 0, 5 };

	/* a complete frame that is not JSON */
	assert_int_equal(write(sv[0], hdr, 4), 4);
	assert_int_equal(write(sv[0], "nope!", 5), 5);
	assert_true(ipc_recv_json(sv[1], &got, NULL, 0, NULL) < 0);
	assert_null(got);
	/* an orderly EOF between frames */
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(ipc_recv_json(sv[1], &got, NULL, 0, NULL), -EPIPE);
	/* a closed peer: send fails with EPIPE, no SIGPIPE */
	close(sv[1]);
	sv[1] = -1;
	json_t *msg = json_pack("{s:i}", "a", 1);
	assert_int_equal(ipc_send_json(sv[0], msg, NULL, 0), -EPIPE);
	json_decref(msg);
}

static void test_listen_connect(void **state)
{
	char dir[] = "/tmp/tank-ipc-test-XXXXXX", path[64];
	int l, c, a;
	struct stat st;
	json_t *msg = json_pack("{s:s}", "hello", "world"), *got = NULL;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	assert_int_equal(ipc_connect(path), -ENOENT);
	l = ipc_listen(path, 0660);
	assert_true(l >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	/* a stale socket is replaced */
	close(l);
	l = ipc_listen(path, 0600);
	assert_true(l >= 0);
	c = ipc_connect(path);
	assert_true(c >= 0);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	assert_int_equal(ipc_send_json(c, msg, NULL, 0), 0);
	assert_int_equal(ipc_recv_json(a, &got, NULL, 0, NULL), 0);
	assert_true(json_equal(msg, got));
	json_decref(got);
	json_decref(msg);
	close(a);
	close(c);
	close(l);
	/* a path longer than sun_path */
	{
		char longp[200];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		assert_int_equal(ipc_connect(longp), -ENAMETOOLONG);
		assert_int_equal(ipc_listen(longp, 0600), -ENAMETOOLONG);
	}
	assert_false(fd_is_open(a));
	fs_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds_unwanted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fds_too_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_and_garbage, setup, teardown),
		cmocka_unit_test(test_listen_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
