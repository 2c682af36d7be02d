/* The CPE's seam to the kernel's in-kernel MPTCP path manager: generic
 * netlink family "mptcp_pm" (libnl-genl). The WAN interfaces become
 * endpoints (subflow / backup / signal), and the per-namespace limits say
 * how many extra subflows a connection may open.
 *
 * Actions return 0 or -errno: the kernel's own errno where it answered
 * (-EEXIST, -ENOENT, -EINVAL, -EPERM...). The calls are synchronous (each
 * waits for the kernel's answer): use them at start, reload, on a path's
 * state change and at exit, not per packet. The kernel holds endpoints and
 * limits per network namespace, not per socket: what mptcp_pm_add() did
 * outlives mptcp_pm_close() and the process. */
#ifndef MPTUN_MPTCP_PM_H
#define MPTUN_MPTCP_PM_H

#include <stddef.h>
#include <stdint.h>

#include <linux/mptcp.h>

struct mptcp_pm;

/* One endpoint, as `ip mptcp endpoint` shows it. */
struct mptcp_pm_endpoint {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	int ifindex;      /* 0: none (the kernel's routing picks the device) */
	uint8_t id;       /* 0 on add: the kernel picks one */
	uint32_t flags;   /* MPTCP_PM_ADDR_FLAG_SIGNAL/SUBFLOW/BACKUP/FULLMESH */
	uint16_t port;    /* host order; 0: none (only with SIGNAL) */
};

/* A generic netlink socket (close-on-exec, blocking) bound to the family,
 * or NULL with errno set: ENOENT when the kernel has no "mptcp_pm" family
 * (no MPTCP, or a kernel too old), EPROTONOSUPPORT when it has no generic
 * netlink at all. */
struct mptcp_pm *mptcp_pm_open(void);
void mptcp_pm_close(struct mptcp_pm *pm); /* NULL ok */

/* -EEXIST when the address (and port) is already an endpoint, whatever its
 * id; -EBUSY when e->id is taken by another address; -EINVAL for a family
 * that is neither IPv4 nor IPv6. */
int mptcp_pm_add(struct mptcp_pm *pm, const struct mptcp_pm_endpoint *e);

/* -ENOENT (or -EINVAL on some kernels) when no endpoint has that id. Id 0
 * is the kernel's name for "the address of the initial subflow", not an
 * endpoint: -EINVAL. */
int mptcp_pm_del(struct mptcp_pm *pm, uint8_t id);

/* Fill out[0..cap) with the endpoints, in the kernel's order, and set *n to
 * how many were written. -ENOSPC when there were more than cap (out and *n
 * then hold the first cap). On any other error *n is 0. */
int mptcp_pm_dump(struct mptcp_pm *pm, struct mptcp_pm_endpoint *out,
		  size_t cap, size_t *n);

/* Change the flags of endpoint id. The kernel changes only BACKUP and
 * FULLMESH (and says -EINVAL for FULLMESH with SIGNAL); other bits of flags
 * are ignored by it. Existing connections learn of BACKUP through MP_PRIO. */
int mptcp_pm_set_flags(struct mptcp_pm *pm, uint8_t id, uint32_t flags);

/* The namespace's limits: extra subflows per connection, and ADD_ADDRs
 * accepted from the peer. The kernel caps both (MPTCP_PM_LIMIT_MAX; newer
 * kernels may allow more): -EINVAL above the cap. */
#define MPTCP_PM_LIMIT_MAX 8
int mptcp_pm_set_limits(struct mptcp_pm *pm, uint32_t subflows,
			uint32_t add_addr_accepted);
int mptcp_pm_get_limits(struct mptcp_pm *pm, uint32_t *subflows,
			uint32_t *add_addr_accepted);

/* Delete every endpoint of the namespace (mptun owns the namespace's
 * endpoints, as it owns its routing table). Nothing to delete is success. */
int mptcp_pm_flush(struct mptcp_pm *pm);

#endif
