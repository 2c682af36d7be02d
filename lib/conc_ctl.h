/* The concentrator's answers on the control interface (docs/control.md):
 * /status, /metrics and /flows. They run on the main thread; what the
 * workers own (flows, per-CPE tables) comes through conc_snap, the
 * counters and histograms through atomic reads. */
#ifndef MPTUN_CONC_CTL_H
#define MPTUN_CONC_CTL_H

#include "conc.h"
#include "ctl.h"

#define CONC_FLOWS_LIMIT_DEFAULT 1000
#define CONC_FLOWS_LIMIT_MAX	 100000

void conc_ctl_status(struct conc_daemon *d, const struct ctl_self *self,
		     struct ctl_reply *rp);
void conc_ctl_metrics(struct conc_daemon *d, const struct ctl_self *self,
		      struct ctl_reply *rp);
void conc_ctl_flows(struct conc_daemon *d, const struct ctl_req *rq,
		    struct ctl_reply *rp);

#endif
