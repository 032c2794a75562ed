/* fuzz_spec.c - libFuzzer target: arbitrary bytes as a pod spec (JSON parse + validation). */
#include <stddef.h>
#include <stdint.h>

#include "daemon/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL, *errs = NULL;
	struct pod_spec *s = NULL;

	if (size > SPEC_DOC_MAX || json_parse_buf((const char *)data, size, &doc, NULL) < 0)
		return 0;
	if (spec_parse(doc, &s, &errs, NULL) == 0)
		pod_spec_free(s);
	json_decref(errs);
	json_decref(doc);
	return 0;
}
