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
 * Uplinks (lib/nlroute_path.c): nlroute_link_query() says what a WAN
 * interface looks like; a path sends what a subflow bound to the
 * interface's address sends out of that interface, whatever the main
 * table's default route:
 *   table T:        default [via GATEWAY] dev WAN          (a route)
 *   priority P:     from SOURCE lookup T                   (a rule)
 * A monitor socket says when links, addresses or routes changed, so that
 * the daemon queries again and moves its paths.
 *
 * Actions return 0 or -errno. The calls are synchronous (each waits for the
 * kernel's answer): use them at start, reload and exit, and on a monitor
 * event, not per packet. */
#ifndef MPTUN_NLROUTE_H
#define MPTUN_NLROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

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
 * -EACCES when IPv6 is off on the TUN (see ipv4_only). Idempotent: a rule
 * that exists already is kept and the routes are replaced, so installing
 * twice leaves one set. It does not remove rules of an older
 * configuration: call
 * nlroute_capture_remove() first. On failure, everything is removed as by
 * nlroute_capture_remove(c->table) before the error is returned. */
int nlroute_capture_install(struct nlroute *nr,
			    const struct nlroute_capture *c);

/* Delete every rule carrying MPTUN_RTPROT, the paths' rules included, and
 * every route in table, both families (the table is mptun's alone).
 * Idempotent: nothing to delete is success. */
int nlroute_capture_remove(struct nlroute *nr, uint32_t table);

/* A WAN interface as one family sees it. */
struct nlroute_link {
	int ifindex; /* 0: no such interface */
	/* IFF_UP and a carrier (IFF_LOWER_UP or IFF_RUNNING). */
	bool up;
	/* IFF_POINTOPOINT or IFF_NOARP: a route through it needs no
	 * gateway. */
	bool pointopoint;
	/* Its first address of the family with global scope
	 * (RT_SCOPE_UNIVERSE), in the kernel's order, skipping IPv6 ones
	 * that are tentative, failed duplicate address detection or are
	 * deprecated. Port 0. ss_family 0: none. */
	struct sockaddr_storage addr;
	/* The gateway of the main table's default route of the family
	 * through this interface; of several, the one with the lowest
	 * metric (its gateway or none, even when one with a higher metric
	 * has one). A multipath route counts through its nexthop on this
	 * interface; a source-specific IPv6 default route counts. A
	 * link-local IPv6 gateway has sin6_scope_id = ifindex. ss_family 0:
	 * none (no such route, or a device route). */
	struct sockaddr_storage gateway;
};

/* Fill *out for ifname and family (AF_INET or AF_INET6). A missing
 * interface is not an error: 0 with out->ifindex 0 and the rest zero.
 * -EINVAL for a name that cannot be an interface's (empty, IFNAMSIZ long
 * or longer) or another family; -errno on a netlink failure, *out
 * untouched then. */
int nlroute_link_query(struct nlroute *nr, const char *ifname, int family,
		       struct nlroute_link *out);

/* The byte counters of interface ifindex, as `ip -s link` shows them (the
 * kernel's 64-bit link statistics). -ENODEV when it is gone, -EINVAL for
 * ifindex <= 0; *tx_bytes and *rx_bytes untouched on failure. */
int nlroute_link_stats(struct nlroute *nr, int ifindex, uint64_t *tx_bytes,
		       uint64_t *rx_bytes);

/* One uplink's source routing; see the top of this file. */
struct nlroute_path {
	int family;     /* AF_INET or AF_INET6 */
	uint32_t table; /* the path's own: 1..0xfffffffe, not 253..255 */
	uint32_t priority; /* of its rule */
	int ifindex;       /* output device */
	/* The rule's "from", as a host prefix (/32 or /128); port and
	 * scope id are ignored. Of the family. */
	const struct sockaddr *source;
	/* NULL or sa_family 0: a device route (scope link), for
	 * point-to-point links. Else of the family; a link-local IPv6
	 * gateway is on the output device whatever its sin6_scope_id. */
	const struct sockaddr *gateway;
};

/* Replace table's default route with "default [via gateway] dev ifindex
 * proto MPTUN_RTPROT", then add the rule "from source lookup table
 * priority P proto MPTUN_RTPROT". Idempotent: an equal rule already there
 * is kept, so installing twice leaves one rule and one route. It does not
 * remove the rule of an older source: call nlroute_path_remove() first.
 * -EINVAL for a bad argument (family mismatch, table out of range, no
 * source, ifindex <= 0), -ENODEV for no such device. The kernel checks
 * the gateway: one it cannot reach through the device (no connected route
 * there) fails with -EIO (libnl folds ENETUNREACH and EHOSTUNREACH into
 * its generic failure). On failure, everything is removed as by
 * nlroute_path_remove(p->table) before the error is returned. */
int nlroute_path_install(struct nlroute *nr, const struct nlroute_path *p);

/* Delete every rule carrying MPTUN_RTPROT that looks up table, and every
 * route in table, both families; a capture's rules (other tables) stay.
 * -EINVAL for a table out of range. Idempotent. */
int nlroute_path_remove(struct nlroute *nr, uint32_t table);

/* A change monitor for the daemon's event loop. */
struct nlroute_monitor;

/* A non-blocking, close-on-exec NETLINK_ROUTE socket subscribed to link,
 * IPv4 and IPv6 address and IPv4 and IPv6 route changes, or NULL with
 * errno set. */
struct nlroute_monitor *nlroute_monitor_open(void);
/* For poll/epoll (EPOLLIN). Owned by m: do not close it. */
int nlroute_monitor_fd(const struct nlroute_monitor *m);
/* Read every pending notification without blocking: how many were read
 * (> 0: something changed; the caller queries again what it cares
 * about), 0 when none was pending, -errno on a socket error. An overrun
 * (the kernel dropped notifications for want of room: ENOBUFS) counts as
 * a change, never as an error. */
int nlroute_monitor_drain(struct nlroute_monitor *m);
void nlroute_monitor_close(struct nlroute_monitor *m); /* NULL ok */

/* libnl's error codes (negative NLE_*) as -errno; values >= 0 give 0.
 * Shared with the other netlink seam, lib/mptcp_pm.c. */
int nlroute_errno(int nle);

#endif
