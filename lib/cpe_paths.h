/* The CPE's WAN paths (cpe.yaml `paths:`): each becomes an MPTCP endpoint
 * of the in-kernel path manager and gets source routing of its own (a table
 * with its default route, a rule for its source address), and a health
 * checker probes the concentrator through it.
 *
 *   address/route change (rtnetlink) --> resync: source, gateway, link
 *                                         state; routing reinstalled when
 *                                         they change
 *   probe every health.interval      --> up after one answer, down after
 *                                         health.failures misses or at
 *                                         once when the link goes down
 *   up: endpoint added (open connections gain a subflow on the path)
 *   down: endpoint removed (its subflows close, data moves to the others)
 *
 * New flows ask cpe_paths_pick() where to start: the first path (in file
 * order) that is up, active before backup. Single-threaded: everything runs
 * in the daemon's loop. */
#ifndef MPTUN_CPE_PATHS_H
#define MPTUN_CPE_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cpe_config.h"
#include "loop.h"

struct cpe_paths;
struct nlroute;

enum cpe_pick {
	CPE_PICK_UNMANAGED, /* no paths configured: follow the kernel's routes */
	CPE_PICK_PATH,      /* start from *src */
	CPE_PICK_NONE,      /* paths configured, none up: health.fail applies */
};

/* Take over the namespace's MPTCP endpoints and limits and install the
 * paths of cfg (none: an object that manages nothing). nr is the daemon's
 * route socket, used until cpe_paths_free(). NULL after logging why. */
struct cpe_paths *cpe_paths_new(struct loop *l, struct nlroute *nr,
				struct cpe_config *cfg);
/* Remove what was installed (endpoints, path tables and rules). NULL ok. */
void cpe_paths_free(struct cpe_paths *p);
/* Remove the path tables (and their rules) a crashed run with base table
 * `table` may have left. Its MPTCP endpoints go when cpe_paths_new() takes
 * over the namespace's endpoints (only when paths are configured: without
 * them the administrator's endpoints are left alone). */
void cpe_paths_cleanup(struct nlroute *nr, uint32_t table);

/* A reloaded configuration: health settings apply at once; a change of
 * paths, routing.table or routing.priority reinstalls every path.
 * Returns false (and keeps the old one) when the new paths cannot be set
 * up. */
bool cpe_paths_reload(struct cpe_paths *p, struct cpe_config *cfg);

enum cpe_pick cpe_paths_pick(const struct cpe_paths *p,
			     const struct sockaddr **src, socklen_t *len);

/* One log line per path: state, source, gateway, RTT, probe counts. */
void cpe_paths_log(const struct cpe_paths *p);

#endif
