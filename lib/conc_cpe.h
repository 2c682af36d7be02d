/* Per-CPE accounting of the concentrator: flows and bytes by the CPE's
 * identity, its Auth key id when the opening carried a verified Auth TLV,
 * else the client's address without the port. Each worker owns one table
 * and is its only user (no locks); the control interface reads copies of
 * it made on the worker's own thread (conc_snap.c) and sums them per id.
 *
 * The table is bounded: when it is full, the id that has been without an
 * active flow the longest is forgotten (its counters start again from zero
 * if it comes back), so a scan from many client addresses cannot grow it
 * without limit. When every id in it has active flows, a new flow is not
 * accounted to any id. */
#ifndef MPTUN_CONC_CPE_H
#define MPTUN_CONC_CPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

#define CONC_CPE_ID_LEN (AUTH_ID_MAX + 1) /* an id or an address, NUL */
#define CONC_CPE_MAX	4096		  /* ids per worker */

/* What the control interface sees of one id. */
struct conc_cpe_stat {
	char id[CONC_CPE_ID_LEN];
	uint64_t flows_active, flows_total, bytes_up, bytes_down;
};

struct conc_cpe {
	struct conc_cpe *hnext;		/* hash chain */
	struct conc_cpe *iprev, *inext; /* idle list, while no flow is active */
	size_t snap_idx;		/* its place in the last copy */
	struct conc_cpe_stat st;	/* bytes: of the closed flows */
};

struct conc_cpes {
	struct conc_cpe **buckets;
	struct conc_cpe *idle_head, *idle_tail; /* idle the longest first */
	size_t n, max;
};

int conc_cpes_init(struct conc_cpes *t, size_t max); /* 0 or -ENOMEM */
void conc_cpes_destroy(struct conc_cpes *t);

/* One more flow of id (shorter than CONC_CPE_ID_LEN): its entry, created if
 * need be. evicted is set when an idle id was forgotten to make room. NULL when
 * every id has active flows (or out of memory): the flow goes unaccounted. */
struct conc_cpe *conc_cpe_open(struct conc_cpes *t, const char *id,
			       bool *evicted);
/* The flow of c ended after relaying up and down bytes. */
void conc_cpe_close(struct conc_cpes *t, struct conc_cpe *c, uint64_t up,
		    uint64_t down);

/* Copy every entry to out (room for t->n), noting each one's index in it
 * (snap_idx) so that live flows can add their bytes. Returns the count. */
size_t conc_cpes_copy(struct conc_cpes *t, struct conc_cpe_stat *out);

#endif
