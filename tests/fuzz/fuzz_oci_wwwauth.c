/* fuzz_oci_wwwauth.c - libFuzzer target: WWW-Authenticate values and token server replies. */
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_auth_challenge c = {};
	char *s = malloc(size + 1), *token = NULL;
	uint64_t exp = 0;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (oci_wwwauth_parse(s, &c, NULL) == 0) {
		if (c.scheme == OCI_AUTH_BEARER && (!c.realm || !*c.realm))
			__builtin_trap();
		if (c.scheme != OCI_AUTH_BEARER && c.scheme != OCI_AUTH_BASIC)
			__builtin_trap();
	}
	oci_auth_challenge_clear(&c);
	/* the same bytes as a token server reply: a token never carries blanks or controls */
	if (oci_token_parse(s, size, &token, &exp, NULL) == 0) {
		for (const char *p = token; *p; p++)
			if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
				__builtin_trap();
		if (exp == 0)
			__builtin_trap();
		free(token);
	}
	free(s);
	return 0;
}
