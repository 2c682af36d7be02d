/* Snapshots of what the concentrator's workers own (their flows, their
 * per-CPE tables) for the control interface, which runs on the main
 * thread. The main thread posts one request to every worker; each worker
 * copies its part on its own thread, between two events, and says it is
 * done; the main thread waits a bounded time for all of them.
 *
 * A worker may answer after the main thread gave up: the request is
 * reference counted (one reference for the main thread, one per worker),
 * so whoever lets go of it last frees it. */
#ifndef MPTUN_CONC_SNAP_H
#define MPTUN_CONC_SNAP_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conc_cpe.h"

struct conc_daemon;
struct conc_worker;

#define CONC_SNAP_FLOWS	     1u
#define CONC_SNAP_CPES	     2u
#define CONC_SNAP_TIMEOUT_MS 1000

union conc_snap_addr {
	struct sockaddr sa; /* AF_UNSPEC: none */
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct conc_snap_flow {
	uint64_t id;
	union conc_snap_addr client, dst;
	const char *state; /* a constant */
	uint64_t age_ms, bytes_up, bytes_down;
	char cpe[CONC_CPE_ID_LEN]; /* "": not known (yet) */
	unsigned worker;
};

/* One worker's copy; written by that worker until done is set. */
struct conc_snap_part {
	bool done;
	int err; /* 0, or why the part is missing (-errno) */
	size_t flows_open;	      /* all its flows */
	struct conc_snap_flow *flows; /* its oldest ones, up to the limit */
	size_t n_flows;
	struct conc_cpe_stat *cpes; /* bytes: live flows' included */
	size_t n_cpes;
};

struct conc_snap {
	int refs; /* atomic */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned what; /* CONC_SNAP_* */
	size_t limit;  /* flows per worker */
	unsigned n_parts, n_done;
	struct conc_snap_part part[];
};

/* Main thread: ask every worker for what (CONC_SNAP_* bits), at most
 * limit flows each; wait up to timeout_ms. NULL with -errno in *err when
 * out of memory, or when a worker did not answer in time or could not
 * copy its part (-ETIMEDOUT, -ENOMEM, ...). Release with conc_snap_unref. */
struct conc_snap *conc_snap_take(struct conc_daemon *d, unsigned what,
				 size_t limit, int timeout_ms, int *err);
void conc_snap_unref(struct conc_snap *s); /* NULL ok */

/* The flows of all parts, oldest first, at most limit of them (malloc'd;
 * NULL when out of memory). *total: the flows open in all. */
struct conc_snap_flow *conc_snap_flows(const struct conc_snap *s, size_t limit,
				       size_t *n, size_t *total);
/* The per-CPE copies summed per id, sorted by id (malloc'd; NULL when out
 * of memory). */
struct conc_cpe_stat *conc_snap_cpes(const struct conc_snap *s, size_t *n);

/* Worker thread: copy this worker's part of s, then let go of s. */
void conc_snap_fill(struct conc_worker *w, struct conc_snap *s);
/* No part from worker idx, for reason err (-errno); lets go of s. */
void conc_snap_abandon(struct conc_snap *s, unsigned idx, int err);

#endif
