/* The CPE's rtnetlink seam (libnl-route): the TUN device's link settings and
 * the policy routing that sends the LAN's TCP into it.
 *
 * Capture, for IPv4 and IPv6 alike:
 *   table T:        default dev TUN                       (a route)
 *   priority P:     iif LAN to PREFIX lookup main          (per bypass
 *                                                           prefix and LAN)
 *   priority P + 1: iif LAN ipproto tcp lookup T           (per LAN)
 * Bypass rules come first, so a bypassed destination is routed as if mptun
 * were not there (but one the main table has no route for falls through to
 * the capture rule). The CPE's own traffic (no iif) and every non-TCP
 * packet keep the normal routes.
 *
 * Every rule and route carries MPTUN_RTPROT as its protocol: the mark by
 * which nlroute_capture_remove() finds the rules after a crash, whatever
 * the configuration was then. One mptun-cpe per network namespace, then.
 *
 * Actions return 0 or -errno. The calls are synchronous (each waits for the
 * kernel's answer): use them at start, reload and exit, not per packet. */
#ifndef MPTUN_NLROUTE_H
#define MPTUN_NLROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* rtm_protocol / FRA_PROTOCOL of mptun's routes and rules: above
 * RTPROT_STATIC (4), the kernel does not interpret it; unassigned in
 * linux/rtnetlink.h and iproute2's rt_protos (as of 2024). `ip rule` and
 * `ip route` show it as "proto 254". */
#define MPTUN_RTPROT 254

struct nlroute;

struct nlroute_capture {
	const char *tun;        /* device of the default routes; must exist */
	char *const *lan_ifs;   /* iif names; need not exist yet */
	size_t n_lan;
	const struct addr_prefix_list *bypass; /* NULL: none */
	uint32_t table;         /* T: 1..0xfffffffe, not 253..255 */
	uint32_t priority;      /* P: bypass; capture at P + 1 */
	/* IPv6 switched off on this host or on the TUN (the kernel refuses
	 * IPv6 routes through it): install the IPv4 half only. */
	bool ipv4_only;
};

/* A NETLINK_ROUTE socket (close-on-exec, blocking), or NULL with errno
 * set. */
struct nlroute *nlroute_open(void);
void nlroute_close(struct nlroute *nr); /* NULL ok */

/* Set ifname's MTU and transmit queue length, add the addresses (family 0:
 * none; IPv6 without duplicate address detection, as nothing else is on a
 * TUN link) and bring it up. An address already there is fine. */
int nlroute_link_setup(struct nlroute *nr, const char *ifname, uint32_t mtu,
		       uint32_t txqlen, const struct addr_prefix *a4,
		       const struct addr_prefix *a6);

/* Install the capture above; -EINVAL for a table or priority out of range
 * or a LAN name that cannot be one, -ENODEV when the TUN is missing,
 * -EACCES when IPv6 is off on the TUN (see ipv4_only). Idempotent: a rule that exists already is
 * kept and the routes are replaced, so installing twice leaves one set.
 * It does not remove rules of an older configuration: call
 * nlroute_capture_remove() first. On failure, everything is removed as by
 * nlroute_capture_remove(c->table) before the error is returned. */
int nlroute_capture_install(struct nlroute *nr,
			    const struct nlroute_capture *c);

/* Delete every rule carrying MPTUN_RTPROT and every route in table, both
 * families (the table is mptun's alone). Idempotent: nothing to delete is
 * success. */
int nlroute_capture_remove(struct nlroute *nr, uint32_t table);

/* libnl's error codes (negative NLE_*) as -errno; values >= 0 give 0.
 * Shared with the other netlink seam, lib/mptcp_pm.c. */
int nlroute_errno(int nle);

#endif
