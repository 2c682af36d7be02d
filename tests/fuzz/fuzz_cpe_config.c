/* libFuzzer: the CPE's YAML config loader. */
#include <stddef.h>
#include <stdint.h>

#include "cpe_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct cpe_config *c;

	c = cpe_config_load_buf((const char *)data, size, "fuzz", err,
				sizeof(err));
	if (c) {
		cpe_config_ref(c);
		cpe_config_unref(c);
	}
	cpe_config_unref(c);
	return 0;
}
