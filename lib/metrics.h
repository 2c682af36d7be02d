/* Prometheus text exposition (format 0.0.4) into a growing buffer, and a
 * latency histogram whose counts a single writer updates without locks.
 *
 *   struct metrics m;
 *   metrics_open(&m);
 *   metrics_family(&m, "mptun_flows_total", "counter", "Flows accepted.");
 *   metrics_u64(&m, "mptun_flows_total", n, NULL);
 *   metrics_u64(&m, "mptun_bytes_total", up, "direction", "up", NULL);
 *   body = metrics_close(&m, &len);   (malloc'd; NULL when out of memory)
 *
 * Label values are escaped; names are the caller's constants. */
#ifndef MPTUN_METRICS_H
#define MPTUN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct metrics {
	FILE *f;
	char *buf;
	size_t len;
};

int metrics_open(struct metrics *m); /* 0 or -ENOMEM */
char *metrics_close(struct metrics *m, size_t *len);

void metrics_family(struct metrics *m, const char *name, const char *type,
		    const char *help);
/* Labels: pairs of name, value, ended by NULL. */
void metrics_u64(struct metrics *m, const char *name, uint64_t v, ...)
	__attribute__((sentinel));
void metrics_f64(struct metrics *m, const char *name, double v, ...)
	__attribute__((sentinel));

/* Latency buckets, seconds: 1 ms .. 10 s (docs/control.md). */
#define METRICS_HIST_N 13
extern const double metrics_hist_bounds[METRICS_HIST_N];

/* One writer (its thread) observes; readers use metrics_hist_add. */
struct metrics_hist {
	uint64_t bucket[METRICS_HIST_N]; /* not cumulative */
	uint64_t count;
	uint64_t sum_us;
};

void metrics_hist_observe(struct metrics_hist *h, uint64_t us);
/* out += in, with atomic loads of in. */
void metrics_hist_add(struct metrics_hist *out, const struct metrics_hist *in);
/* The family header and its _bucket, _sum and _count samples. */
void metrics_hist_write(struct metrics *m, const char *name, const char *help,
			const struct metrics_hist *h);

#endif
