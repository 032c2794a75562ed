/* fuzz_oci_ref.c - libFuzzer target: image reference parsing and what is derived from it. */
#include <string.h>

#include "oci/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_ref r = {};
	struct diag d = {};
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (oci_ref_parse(s, &r, &d) == 0) {
		char *canon = oci_ref_canonical(&r);
		char *file = canon ? oci_store_ref_filename(canon) : NULL;
		struct oci_ref again = {};

		/* the canonical form parses to the same reference */
		if (canon && !r.layout && oci_ref_parse(canon, &again, NULL) != 0)
			__builtin_trap();
		if (again.registry && (strcmp(again.registry, r.registry) != 0 ||
				       strcmp(again.repository, r.repository) != 0))
			__builtin_trap();
		if (file && (strchr(file, '/') || file[0] == '.'))
			__builtin_trap();
		if (r.registry)
			(void)oci_ref_api_host(r.registry);
		oci_ref_clear(&again);
		free(file);
		free(canon);
	} else if (r.registry || r.layout || r.tag || r.digest || r.repository) {
		__builtin_trap(); /* nothing is returned on failure */
	}
	oci_ref_clear(&r);
	free(s);
	return 0;
}
