/* lib/metrics: family headers, label escaping, number formats, histogram
 * bucket edges (an observation on a bound falls in that bound's bucket),
 * cumulative buckets, +Inf and _count, summing histograms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *render(void (*fill)(struct metrics *m, void *arg), void *arg)
{
	struct metrics m;
	size_t len;
	char *s;

	assert_int_equal(metrics_open(&m), 0);
	fill(&m, arg);
	s = metrics_close(&m, &len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

static void fill_family(struct metrics *m, void *arg)
{
	metrics_family(m, "mptun_flows_total", "counter", "Flows accepted.");
	metrics_u64(m, "mptun_flows_total", 18446744073709551615ull, NULL);
	metrics_f64(m, "mptun_x", 0.25, "a", "b", NULL);
}

static void family_and_numbers(void **state)
{
	char *s = render(fill_family, NULL);

	assert_string_equal(s, "# HELP mptun_flows_total Flows accepted.\n"
			       "# TYPE mptun_flows_total counter\n"
			       "mptun_flows_total 18446744073709551615\n"
			       "mptun_x{a=\"b\"} 0.25\n");
	free(s);
}

static void fill_labels(struct metrics *m, void *arg)
{
	metrics_u64(m, "m", 1, "cpe", "a\\b\"c\nd", "direction", "up", NULL);
	metrics_u64(m, "m", 2, "cpe", "", NULL);
	metrics_u64(m, "m", 3, "cpe", NULL, NULL);
}

/* Backslash, double quote and newline are escaped; nothing else is. */
static void label_values_are_escaped(void **state)
{
	char *s = render(fill_labels, NULL);

	assert_string_equal(s, "m{cpe=\"a\\\\b\\\"c\\nd\",direction=\"up\"} 1\n"
			       "m{cpe=\"\"} 2\n"
			       "m{cpe=\"\"} 3\n");
	free(s);
}

static void fill_hist(struct metrics *m, void *arg)
{
	metrics_hist_write(m, "h_seconds", "Latency.", arg);
}

/* The value of the line that starts with prefix, or -1. */
static double sample(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while (p && *p) {
		if (!strncmp(p, prefix, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

static void bucket_edges(void **state)
{
	struct metrics_hist h = {0};

	metrics_hist_observe(&h, 0);	    /* 0 s: the first bucket */
	metrics_hist_observe(&h, 1000);	    /* 0.001 s exactly: le="0.001" */
	metrics_hist_observe(&h, 1001);	    /* just over: le="0.0025" */
	metrics_hist_observe(&h, 2500);	    /* on 0.0025 */
	metrics_hist_observe(&h, 10000000); /* 10 s: the last bound */
	metrics_hist_observe(&h, 10000001); /* over every bound: +Inf only */
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 2);
	assert_int_equal(h.bucket[METRICS_HIST_N - 1], 1);
	assert_int_equal(h.count, 6);
	assert_int_equal(h.sum_us,
			 0 + 1000 + 1001 + 2500 + 10000000 + 10000001);
}

static void buckets_are_cumulative(void **state)
{
	struct metrics_hist h = {0};
	char *s;

	metrics_hist_observe(&h, 500);	    /* 0.001 */
	metrics_hist_observe(&h, 3000);	    /* 0.005 */
	metrics_hist_observe(&h, 3000);	    /* 0.005 */
	metrics_hist_observe(&h, 700000);   /* 1 */
	metrics_hist_observe(&h, 60000000); /* +Inf */
	s = render(fill_hist, &h);
	assert_non_null(strstr(s, "# HELP h_seconds Latency.\n"
				  "# TYPE h_seconds histogram\n"
				  "h_seconds_bucket{le=\"0.001\"} 1\n"
				  "h_seconds_bucket{le=\"0.0025\"} 1\n"
				  "h_seconds_bucket{le=\"0.005\"} 3\n"));
	assert_true(sample(s, "h_seconds_bucket{le=\"0.5\"}") == 3);
	assert_true(sample(s, "h_seconds_bucket{le=\"1\"}") == 4);
	assert_true(sample(s, "h_seconds_bucket{le=\"10\"}") == 4);
	assert_true(sample(s, "h_seconds_bucket{le=\"+Inf\"}") == 5);
	assert_true(sample(s, "h_seconds_count") == 5);
	assert_true(sample(s, "h_seconds_sum") == 60.7065);
	/* 13 bounds, +Inf, _sum and _count after the two header lines */
	size_t lines = 0;
	for (const char *p = s; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2 + METRICS_HIST_N + 3);
	free(s);
}

static void empty_histogram(void **state)
{
	struct metrics_hist h = {0};
	char *s = render(fill_hist, &h);

	assert_true(sample(s, "h_seconds_bucket{le=\"0.001\"}") == 0);
	assert_true(sample(s, "h_seconds_bucket{le=\"+Inf\"}") == 0);
	assert_true(sample(s, "h_seconds_count") == 0);
	assert_true(sample(s, "h_seconds_sum") == 0);
	free(s);
}

static void histograms_add_up(void **state)
{
	struct metrics_hist a = {0}, b = {0}, sum = {0};

	metrics_hist_observe(&a, 100);
	metrics_hist_observe(&b, 100);
	metrics_hist_observe(&b, 20000);
	metrics_hist_add(&sum, &a);
	metrics_hist_add(&sum, &b);
	assert_int_equal(sum.count, 3);
	assert_int_equal(sum.sum_us, 20200);
	assert_int_equal(sum.bucket[0], 2);
	assert_int_equal(sum.bucket[4], 1); /* 0.02 s: le="0.025" */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(family_and_numbers),
	    cmocka_unit_test(label_values_are_escaped),
	    cmocka_unit_test(bucket_edges),
	    cmocka_unit_test(buckets_are_cumulative),
	    cmocka_unit_test(empty_histogram),
	    cmocka_unit_test(histograms_add_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
