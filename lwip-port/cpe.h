/* mptun-cpe internals: the daemon and its flows. Each LAN TCP flow is an
 * lwIP pcb on one side and an MPTCP socket to the concentrator on the other
 * (or, while no path is up and health.fail is open, a TCP socket straight to
 * the destination);
 * cpe_flow.c opens it (hold or fast), relays both ways with backpressure and
 * ends it in exactly one flow_close(). Single-threaded. */
#ifndef MPTUN_CPE_H
#define MPTUN_CPE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "convert.h"
#include "cpe_config.h"
#include "cpe_paths.h"
#include "hostcount.h"
#include "loop.h"
#include "metrics.h"
#include "stack.h"

struct cpe_flow;

/* The counters of the flows: the "flows:" line of the SIGUSR1 dump, and
 * (cpe_stats.c) /status "counters" and /metrics. They only grow. */
#define CPE_STATS_FLOWS(X)                                                     \
	X(total)          /* flows accepted from the LAN */                    \
	X(refused)        /* the server refused: RST to the LAN SYN */         \
	X(unreachable)    /* ICMP unreachable to the LAN SYN */                \
	X(failed)         /* anything else that kept a flow from opening */    \
	X(rejected_limit) /* over flow.max */                                  \
	X(rejected_host)  /* over flow.max_per_host / max_pending_per_host */  \
	X(direct)         /* health.fail open: no path was up */               \
	X(no_path)        /* health.fail closed: refused, no path up */        \
	X(bytes_up)       /* relayed LAN -> server */                          \
	X(bytes_down)     /* relayed server -> LAN */

/* RFC 8803 Error TLVs in the concentrator's answers to flows, by code: the
 * "errors:" line, /status "errors", mptun_convert_errors_total. */
#define CPE_STATS_ERRORS(X)                                                    \
	X(unsupported_version, CONVERT_E_UNSUPPORTED_VERSION)                  \
	X(malformed, CONVERT_E_MALFORMED)                                      \
	X(unsupported_message, CONVERT_E_UNSUPPORTED_MESSAGE)                  \
	X(missing_cookie, CONVERT_E_MISSING_COOKIE)                            \
	X(not_authorized, CONVERT_E_NOT_AUTHORIZED)                            \
	X(unsupported_tcp_option, CONVERT_E_UNSUPPORTED_TCP_OPTION)            \
	X(resource_exceeded, CONVERT_E_RESOURCE_EXCEEDED)                      \
	X(network_failure, CONVERT_E_NETWORK_FAILURE)                          \
	X(connection_reset, CONVERT_E_CONNECTION_RESET)                        \
	X(destination_unreachable, CONVERT_E_DEST_UNREACHABLE)

#define CPE_STATS_FIELD(name, ...) uint64_t name;

struct cpe_counters {
	CPE_STATS_FLOWS(CPE_STATS_FIELD)
};

struct cpe_errors {
	CPE_STATS_ERRORS(CPE_STATS_FIELD)
	uint64_t other; /* a code not in the list */
};

struct cpe {
	struct loop *loop;
	struct cpe_config *cfg;
	struct cpe_paths *paths; /* NULL: none managed */
	struct stack *stack;
	struct cpe_flow *flows; /* doubly linked, newest first */
	struct cpe_flow *dead;  /* closed, freed before sleeping */
	size_t n_flows;
	struct hostcount hosts; /* flows per LAN host */
	uint64_t next_id;
	struct loop_timer sweep;
	struct cpe_counters ctr;
	struct cpe_errors errors;
	struct metrics_hist connect; /* opening to the answer */
	/* Transparent mode with carrier.source, as set up at start: the
	 * nftables table and policy routing that deliver the answers to a
	 * socket bound to a LAN client's address are installed. */
	bool client_source;
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
/* The SIGUSR1 dump: a debug line per flow, the counters, the paths. */
void cpe_log_counters(struct cpe *c);

/* One open flow, as /flows shows it (docs/control.md). */
struct cpe_flow_info {
	uint64_t id;
	struct sockaddr_storage client, dst; /* client ss_family 0: unknown */
	const char *state;                   /* static */
	uint64_t age_ms;
	uint64_t bytes_up, bytes_down;
	uint32_t path; /* cpe_paths_name()'s id; 0: none */
	bool direct;
};

/* Call fn for each open flow, newest first, until it returns false. */
void cpe_flows_each(struct cpe *c,
		    bool (*fn)(void *arg, const struct cpe_flow_info *fi),
		    void *arg);
/* Add to v[i].subflows the MPTCP subflows of the open flows whose local
 * address is v[i].source: one getsockopt per flow (direct flows skipped),
 * so once per status request. */
void cpe_flows_subflows(struct cpe *c, struct cpe_path_info *v, size_t n);

/* Counters of every kind (cpe_stats.c): the flows', the flow NAT's, the
 * stack's, as one table for the log, /status and /metrics. */
struct cpe_stat_desc {
	const char *group; /* the SIGUSR1 line: "flows", "errors", ... */
	const char *name;  /* its key there */
	bool gauge;        /* goes up and down: not a _total */
	int code;          /* "errors": the RFC 8803 code; -1: other */
	unsigned src;      /* for cpe_stat_get: where it lives */
	size_t offset;
};

extern const struct cpe_stat_desc cpe_stat_descs[];
extern const size_t cpe_n_stat_descs;

/* The value of cpe_stat_descs[i], now. */
uint64_t cpe_stat_get(const struct cpe *c, size_t i);
/* The debug lines of the dump, one per flow (cpe_flow.c). */
void cpe_flows_log(const struct cpe *c);

#endif
