/* mptun-cpe internals: the daemon and its flows. Each LAN TCP flow is an
 * lwIP pcb on one side and an MPTCP socket to the concentrator on the other
 * (or, while no path is up and health.fail is open, a TCP socket straight to
 * the destination);
 * cpe_flow.c opens it (hold or fast), relays both ways with backpressure and
 * ends it in exactly one flow_close(). Single-threaded. */
#ifndef MPTUN_CPE_H
#define MPTUN_CPE_H

#include <stdint.h>

#include "cpe_config.h"
#include "cpe_paths.h"
#include "hostcount.h"
#include "loop.h"
#include "stack.h"

struct cpe_flow;

struct cpe_counters {
	uint64_t flows_total, flows_refused, flows_unreachable, flows_failed;
	uint64_t flows_rejected_limit, bytes_up, bytes_down;
	uint64_t flows_direct;  /* health.fail open: no path was up */
	uint64_t flows_no_path; /* health.fail closed: refused, no path up */
	uint64_t flows_rejected_host; /* flow.max_per_host / max_pending_per_host */
};

struct cpe {
	struct loop *loop;
	struct cpe_config *cfg;
	struct cpe_paths *paths; /* NULL: none managed */
	struct stack *stack;
	struct cpe_flow *flows; /* doubly linked */
	struct cpe_flow *dead;  /* closed, freed before sleeping */
	size_t n_flows;
	struct hostcount hosts; /* flows per LAN host */
	uint64_t next_id;
	struct loop_timer sweep;
	struct cpe_counters ctr;
};

/* The flow NAT's view of lwIP's listening port. */
#define CPE_LWIP_PORT 1

/* Set up flows on an existing stack-less cpe: returns the hooks to give
 * stack_new(), and starts the sweep timer. 0 or -ENOMEM. */
int cpe_flows_init(struct cpe *c, struct stack_hooks *hooks);
/* After cpe_flows_close_all(): frees the per-host table. */
void cpe_flows_destroy(struct cpe *c);
void cpe_flows_close_all(struct cpe *c);
void cpe_flows_reap(struct cpe *c);
void cpe_log_counters(struct cpe *c);

#endif
