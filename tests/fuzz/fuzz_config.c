/* libFuzzer: the concentrator's YAML config loader. */
#include <stddef.h>
#include <stdint.h>

#include "conc_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct conc_config *c;

	c = conc_config_load_buf((const char *)data, size, "fuzz", err,
				 sizeof(err));
	if (c) {
		conc_config_ref(c);
		conc_config_unref(c);
	}
	conc_config_unref(c);
	return 0;
}
