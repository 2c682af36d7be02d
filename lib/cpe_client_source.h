/* Transparent mode with carrier.source: each flow's MPTCP connection
 * starts from the LAN client's own address (IP_TRANSPARENT,
 * lwip-port/cpe_flow.c), so the server or a concentrator preserving
 * sources sees the client. The answers come back to an address that is
 * not this host's and would be forwarded to the LAN; the nftables table of
 * lib/nft.h (its socket rule, leaving the TUN's packets alone) marks those
 * of such sockets, and policy routing (lib/nlroute_local.h) delivers the
 * marked packets here:
 *   table  routing.table + CPE_PATHS_MAX + 1:  local default dev lo
 *   rule   fwmark <that table's number> lookup <it>, priority
 *          routing.priority + 2 (with the paths' rules)
 * Installed at start, removed at exit; what a crashed run left is removed
 * at start. One mptun-cpe per network namespace (as for its rules), and no
 * mptun-concentrator in it: they would share the nftables table. */
#ifndef MPTUN_CPE_CLIENT_SOURCE_H
#define MPTUN_CPE_CLIENT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpe_config.h"
#include "nlroute.h"

/* Whether c asks for it: mode transparent and source true. */
bool cpe_client_source_wanted(const struct cpe_config *c);
/* The table (and mark) for base table routing.table. */
uint32_t cpe_client_source_table(uint32_t route_table);

/* Remove leftovers, then install for c. 0, or -errno with why in err
 * (nothing left installed then). */
int cpe_client_source_install(struct nlroute *nr, const struct cpe_config *c,
			      char *err, size_t errlen);
/* Remove the rule, the table's routes and the nftables table; for a
 * crashed run's leftovers too. Nothing to remove is success. */
int cpe_client_source_remove(struct nlroute *nr, uint32_t route_table,
			     char *err, size_t errlen);

#endif
