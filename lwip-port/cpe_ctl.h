/* The CPE's answers on the control interface (docs/control.md): /status,
 * /metrics and /flows, from the daemon's own state. Each reads what it
 * needs once per request: the flows, the paths (a netlink request per
 * path for its interface's counters) and one getsockopt per flow for the
 * subflows. */
#ifndef MPTUN_CPE_CTL_H
#define MPTUN_CPE_CTL_H

#include "cpe.h"
#include "ctl.h"

void cpe_ctl_status(struct cpe *c, const struct ctl_self *self,
		    struct ctl_reply *rp);
void cpe_ctl_metrics(struct cpe *c, const struct ctl_self *self,
		     struct ctl_reply *rp);
/* ?limit=N: at most N flows, newest first (default 1000, at most 100000;
 * anything else is a 400). */
void cpe_ctl_flows(struct cpe *c, const struct ctl_req *rq,
		   struct ctl_reply *rp);

#endif
