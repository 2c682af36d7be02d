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
 * Endpoints are "subflow"; in transparent mode "subflow fullmesh", with
 * the limits at the kernel's maximum, so that each path also joins every
 * address the far end announces (a concentrator on the path announces
 * where joins are accepted: see cpe_paths.c's endpoint_flags).
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

/* *id names the path picked (0 for the other answers) for
 * cpe_paths_name(). */
enum cpe_pick cpe_paths_pick(const struct cpe_paths *p,
			     const struct sockaddr **src, socklen_t *len,
			     uint32_t *id);
/* The name of the path a pick's id named, or NULL: no path (0), or the
 * paths were reinstalled since (a reload that changed them). Valid until
 * the next reload. */
const char *cpe_paths_name(const struct cpe_paths *p, uint32_t id);

/* Whether a connection that follows the main table (bound to no path's
 * source) leaves through the path id names: the main table's default
 * route goes out of its interface through a gateway (a device route, as
 * on point-to-point links, is not known: false). True when no paths are
 * managed. */
bool cpe_paths_main_route(const struct cpe_paths *p, uint32_t id);

/* A path as /status shows it (docs/control.md). */
struct cpe_path_info {
	const char *name, *interface; /* valid until the next reload */
	bool backup;
	bool up;
	uint64_t state_ms; /* how long it has been in this state */
	struct sockaddr_storage source, gateway; /* ss_family 0: none known */
	bool rtt_known;  /* a probe has answered */
	uint32_t rtt_us; /* the last answer's handshake */
	uint64_t probes_sent, probes_ok, downs;
	bool stats; /* tx_bytes and rx_bytes known: the interface exists */
	uint64_t tx_bytes, rx_bytes; /* the interface's counters */
	uint32_t subflows; /* not filled here: cpe_flows_subflows() */
};

/* Fill v with up to max paths, in file order; returns how many. Reads
 * each interface's counters from the kernel (one netlink request per
 * path): once per status request, not more often. */
size_t cpe_paths_info(const struct cpe_paths *p, struct cpe_path_info *v,
		      size_t max);

/* One log line per path: state, source, gateway, RTT, probe counts. */
void cpe_paths_log(const struct cpe_paths *p);

#endif
