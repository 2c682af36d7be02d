/* Concentrator counters: the table readers walk, summing and logging. */
#include "conc_stats.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

#define DESC(group, name, ...)                                                 \
	{ group, #name, offsetof(struct conc_stats, name) },
#define DESC_FLOW(name) DESC("counters", name)
#define DESC_ERROR(name, code) DESC("errors", name)
#define DESC_SOCKS(name, ...) DESC("socks", name)

const struct conc_stat_desc conc_stat_descs[] = {
	CONC_STATS_FLOWS(DESC_FLOW)
	CONC_STATS_ERRORS(DESC_ERROR)
	{ "errors", "other", offsetof(struct conc_stats, error_other) },
	CONC_STATS_SOCKS5(DESC_SOCKS)
	CONC_STATS_SOCKS(DESC_SOCKS)
	{ "socks", "s5_other", offsetof(struct conc_stats, s5_other) },
};

const size_t conc_n_stat_descs =
	sizeof(conc_stat_descs) / sizeof(conc_stat_descs[0]);

#define CASE(name, code)                                                       \
	case code:                                                             \
		CONC_STAT_INC(s, name);                                        \
		return;

void conc_stats_convert_error(struct conc_stats *s, uint8_t code)
{
	switch (code) {
		CONC_STATS_ERRORS(CASE)
	}
	CONC_STAT_INC(s, error_other);
}

void conc_stats_socks5_reply(struct conc_stats *s, uint8_t code)
{
	switch (code) {
		CONC_STATS_SOCKS5(CASE)
	}
	CONC_STAT_INC(s, s5_other);
}

/* The counter may be written by its worker meanwhile. */
static uint64_t get(const struct conc_stats *s, size_t i)
{
	const uint64_t *c = (const uint64_t *)((const char *)s +
					       conc_stat_descs[i].offset);

	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void conc_stats_add(struct conc_stats *out, const struct conc_stats *in)
{
	for (size_t i = 0; i < conc_n_stat_descs; i++) {
		uint64_t *c = (uint64_t *)((char *)out +
					   conc_stat_descs[i].offset);
		*c += get(in, i);
	}
}

/* Same format as the CPE's SIGUSR1 dump: "group: key=value ...". */
void conc_stats_log(const struct conc_stats *s)
{
	size_t i = 0;

	while (i < conc_n_stat_descs) {
		const char *group = conc_stat_descs[i].group;
		char line[960] = "";
		size_t len = 0;

		for (; i < conc_n_stat_descs &&
		       !strcmp(conc_stat_descs[i].group, group);
		     i++) {
			int n = snprintf(line + len, sizeof(line) - len,
					 " %s=%llu", conc_stat_descs[i].name,
					 (unsigned long long)get(s, i));
			if (n > 0 && (size_t)n < sizeof(line) - len)
				len += (size_t)n;
		}
		log_info("%s:%s", group, line);
	}
}
