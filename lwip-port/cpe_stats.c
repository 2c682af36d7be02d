/* The CPE's counters as one table: the SIGUSR1 dump, /status "counters"
 * and "errors", and /metrics all walk it, so a counter is named once. The
 * flow NAT's and the stack's counters are their structs' fields, listed
 * here; a field added there and not here fails the build. */
#include "cpe.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

enum src { SRC_CTR, SRC_ERR, SRC_NAT, SRC_TUN, SRC_GAUGE };
enum gauge { G_ACTIVE, G_HOSTS, G_ENTRIES };

/* "flownat:" line: struct flownat_counters, in its order. */
#define CPE_STATS_FLOWNAT(X)                                                   \
	X(in_pass)                                                             \
	X(in_new)                                                              \
	X(in_held)                                                             \
	X(out_pass)                                                            \
	X(in_new_ipv6)                                                         \
	X(drop_short)                                                          \
	X(drop_bad_length)                                                     \
	X(drop_bad_checksum)                                                   \
	X(drop_not_tcp)                                                        \
	X(drop_bad_addr)                                                       \
	X(drop_no_flow)                                                        \
	X(drop_full)                                                           \
	X(drop_out_unknown)                                                    \
	X(expired)                                                             \
	X(reclaimed)
#define N_FLOWNAT 15
_Static_assert(sizeof(struct flownat_counters) == N_FLOWNAT * sizeof(uint64_t),
	       "a flownat counter is missing from CPE_STATS_FLOWNAT");

/* "tun:" line: struct stack_counters; key, field. */
#define CPE_STATS_TUN(X)                                                       \
	X(in, tun_in)                                                          \
	X(out, tun_out)                                                        \
	X(out_dropped, tun_out_dropped)                                        \
	X(lwip_in_dropped, lwip_in_dropped)                                    \
	X(drop_wild_seq, drop_wild_seq)                                        \
	X(in_bad_vnet, tun_in_bad_vnet)                                        \
	X(out_gso, tun_out_gso)                                                \
	X(time_wait_dropped, time_wait_dropped)                                \
	X(sack_acks, sack_acks)                                                \
	X(hole_rexmits, hole_rexmits)
#define N_TUN 10
_Static_assert(sizeof(struct stack_counters) == N_TUN * sizeof(uint64_t),
	       "a stack counter is missing from CPE_STATS_TUN");

/* The table's rows: group, key, gauge, code, where. */
#define ROW(group, name, gauge, code, src, off)                                \
	{group, name, gauge, code, src, off},
#define D_CTR(name)                                                            \
	ROW("flows", #name, false, 0, SRC_CTR,                                 \
	    offsetof(struct cpe_counters, name))
#define D_ERR(name, code)                                                      \
	ROW("errors", #name, false, code, SRC_ERR,                             \
	    offsetof(struct cpe_errors, name))
#define D_NAT(name)                                                            \
	ROW("flownat", #name, false, 0, SRC_NAT,                               \
	    offsetof(struct flownat_counters, name))
#define D_TUN(key, field)                                                      \
	ROW("tun", #key, false, 0, SRC_TUN,                                    \
	    offsetof(struct stack_counters, field))

/* clang-format off */
const struct cpe_stat_desc cpe_stat_descs[] = {
	ROW("flows", "active", true, 0, SRC_GAUGE, G_ACTIVE)
	ROW("flows", "hosts", true, 0, SRC_GAUGE, G_HOSTS)
	CPE_STATS_FLOWS(D_CTR)
	CPE_STATS_ERRORS(D_ERR)
	ROW("errors", "other", false, -1, SRC_ERR, offsetof(struct cpe_errors, other))
	ROW("flownat", "entries", true, 0, SRC_GAUGE, G_ENTRIES)
	CPE_STATS_FLOWNAT(D_NAT)
	CPE_STATS_TUN(D_TUN)
};
/* clang-format on */

const size_t cpe_n_stat_descs =
    sizeof(cpe_stat_descs) / sizeof(cpe_stat_descs[0]);

static uint64_t gauge(const struct cpe *c, size_t which)
{
	switch (which) {
	case G_ACTIVE:
		return c->n_flows;
	case G_HOSTS:
		return c->hosts.n;
	default:
		return c->stack ? flownat_count(stack_nat(c->stack)) : 0;
	}
}

static uint64_t field(const void *base, size_t offset)
{
	return base ? *(const uint64_t *)((const char *)base + offset) : 0;
}

uint64_t cpe_stat_get(const struct cpe *c, size_t i)
{
	const struct cpe_stat_desc *d = &cpe_stat_descs[i];

	switch (d->src) {
	case SRC_CTR:
		return field(&c->ctr, d->offset);
	case SRC_ERR:
		return field(&c->errors, d->offset);
	case SRC_NAT:
		return field(c->stack ? flownat_counters(stack_nat(c->stack))
				      : NULL,
			     d->offset);
	case SRC_TUN:
		return field(c->stack ? stack_counters(c->stack) : NULL,
			     d->offset);
	default:
		return gauge(c, d->offset);
	}
}

/* One line per group: "group: key=value ..." (the tests read it). */
void cpe_log_counters(struct cpe *c)
{
	size_t i = 0;

	cpe_flows_log(c);
	while (i < cpe_n_stat_descs) {
		const char *group = cpe_stat_descs[i].group;
		char line[900];
		size_t len = 0;

		for (; i < cpe_n_stat_descs &&
		       !strcmp(cpe_stat_descs[i].group, group);
		     i++) {
			int n =
			    snprintf(line + len, sizeof(line) - len, " %s=%llu",
				     cpe_stat_descs[i].name,
				     (unsigned long long)cpe_stat_get(c, i));
			if (n > 0 && (size_t)n < sizeof(line) - len)
				len += (size_t)n;
		}
		line[len] = '\0';
		log_info("%s:%s", group, line);
	}
	cpe_paths_log(c->paths);
}
