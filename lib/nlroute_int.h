/* Private to lib/nlroute*.c: what the capture (nlroute.c) and the uplink
 * paths (nlroute_path.c) share. Nothing else in mptun includes it. */
#ifndef MPTUN_NLROUTE_INT_H
#define MPTUN_NLROUTE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <netlink/addr.h>
#include <netlink/route/rule.h>
#include <netlink/socket.h>

struct nlroute {
	struct nl_sock *sk;
};

/* bytes as family's address with prefix length len; NULL when out of
 * memory. The caller puts it. */
struct nl_addr *nlroute_prefix_addr(int family, const uint8_t *bytes,
				    unsigned len);

/* A table of mptun's own: 1..0xfffffffe, none of the kernel's default
 * (253), main (254) or local (255). */
bool nlroute_table_valid(uint32_t table);

/* Consumes r. A rule equal to it already there is success. */
int nlroute_rule_add(struct nlroute *nr, struct rtnl_rule *r);

/* Delete the rules carrying MPTUN_RTPROT that look up table (any table
 * when all_rules), then every route in table, both families. Gone already
 * is success; otherwise the first -errno, after trying everything. */
int nlroute_sweep(struct nlroute *nr, uint32_t table, bool all_rules);

#endif
