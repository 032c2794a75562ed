/* fuzz_ipc.c - libFuzzer target: arbitrary bytes on an API connection, through tankd's frame
 * reader (lengths, partial frames, bad JSON), in chunks whose sizes the input also decides. */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/lib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_reader rd = { 0 };
	int sv[2];
	size_t off = 0;

	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	while (off < size) {
		/* first byte of each round: how many bytes to send in this chunk */
		size_t chunk = (size_t)data[off++] * 37 + 1;
		int r;

		if (chunk > size - off)
			chunk = size - off;
		if (chunk && send(sv[0], data + off, chunk, MSG_DONTWAIT) < 0)
			break;
		off += chunk;
		do {
			int fds[IPC_FDS_MAX];
			size_t nfds = 0;
			json_t *msg = NULL;

			r = ipc_reader_next(&rd, sv[1], &msg, fds, &nfds);
			for (size_t i = 0; r > 0 && i < nfds; i++)
				close(fds[i]);
			json_decref(msg);
		} while (r > 0);
		if (r < 0)
			break;
	}
	ipc_reader_clear(&rd);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
