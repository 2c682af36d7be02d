/* The concentrator's part of the rtnetlink seam (libnl-route): the policy
 * routing TPROXY and IP_TRANSPARENT sockets need, so that packets to
 * addresses not of this host reach the sockets nftables marked
 * (lib/nft.h):
 *   table T:    local default dev lo                (IPv4 and IPv6)
 *   priority P: fwmark MARK lookup T                (IPv4 and IPv6)
 * Both carry MPTUN_RTPROT, like the CPE's (nlroute.h). Actions return 0
 * or -errno; synchronous, for start and exit. */
#ifndef MPTUN_NLROUTE_LOCAL_H
#define MPTUN_NLROUTE_LOCAL_H

#include <stdint.h>

#include "nlroute.h"

/* Install the routes, then the rules. A rule already there is kept and
 * the routes are replaced, so installing twice leaves one set. IPv6
 * switched off in the namespace leaves the IPv4 half. -EINVAL for a
 * table out of range or mark 0. On failure what was installed is
 * removed as by nlroute_local_remove(table). */
int nlroute_local_install(struct nlroute *nr, uint32_t table,
			  uint32_t priority, uint32_t mark);

/* Delete every rule carrying MPTUN_RTPROT that matches an fwmark (the
 * CPE's rules match none), whatever its table, so a crashed run's are
 * found after a change of table or mark; then every route in table and
 * in those rules' tables. Nothing to delete is success. */
int nlroute_local_remove(struct nlroute *nr, uint32_t table);

#endif
