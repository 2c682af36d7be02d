/* lib/conc_cpe: per-CPE counts, bytes of closed flows, the bound (the id
 * idle the longest goes first; ids with active flows stay), copies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conc_cpe.h"

static const struct conc_cpe_stat *find(const struct conc_cpe_stat *v, size_t n,
					const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

static void counts_and_bytes(void **state)
{
	struct conc_cpes t;
	struct conc_cpe_stat v[4];
	struct conc_cpe *a1, *a2, *b;
	bool ev;

	assert_int_equal(conc_cpes_init(&t, 4), 0);
	a1 = conc_cpe_open(&t, "cpe1", &ev);
	assert_false(ev);
	a2 = conc_cpe_open(&t, "cpe1", &ev);
	b = conc_cpe_open(&t, "10.1.0.2", &ev);
	assert_ptr_equal(a1, a2);
	assert_ptr_not_equal(a1, b);
	conc_cpe_close(&t, a1, 100, 2000);
	conc_cpe_close(&t, NULL, 1, 1); /* an unaccounted flow */
	assert_int_equal(conc_cpes_copy(&t, v), 2);
	const struct conc_cpe_stat *s = find(v, 2, "cpe1");
	assert_non_null(s);
	assert_int_equal(s->flows_active, 1);
	assert_int_equal(s->flows_total, 2);
	assert_int_equal(s->bytes_up, 100);
	assert_int_equal(s->bytes_down, 2000);
	assert_int_equal(v[a1->snap_idx].flows_total, 2);
	assert_int_equal(v[b->snap_idx].flows_total, 1);
	conc_cpes_destroy(&t);
}

static void longest_idle_evicted_first(void **state)
{
	struct conc_cpes t;
	struct conc_cpe *c[3], *busy;
	struct conc_cpe_stat v[3];
	char id[8];
	bool ev;

	assert_int_equal(conc_cpes_init(&t, 3), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "id%d", i);
		c[i] = conc_cpe_open(&t, id, &ev);
		assert_false(ev);
	}
	/* id1 idle first, then id0; id2 keeps its flow */
	conc_cpe_close(&t, c[1], 1, 1);
	conc_cpe_close(&t, c[0], 1, 1);
	busy = conc_cpe_open(&t, "new1", &ev);
	assert_true(ev);
	assert_non_null(busy);
	assert_int_equal(conc_cpes_copy(&t, v), 3);
	assert_null(find(v, 3, "id1"));
	assert_non_null(find(v, 3, "id0"));
	/* id0 back before it is evicted: it is active again, so new2 takes
	 * nothing (every id is active) and goes unaccounted */
	c[0] = conc_cpe_open(&t, "id0", &ev);
	assert_false(ev);
	assert_null(conc_cpe_open(&t, "new2", &ev));
	assert_false(ev);
	/* an id that comes back after its eviction starts from zero */
	conc_cpe_close(&t, c[0], 5, 5);
	c[1] = conc_cpe_open(&t, "id1", &ev);
	assert_true(ev);
	assert_int_equal(conc_cpes_copy(&t, v), 3);
	assert_null(find(v, 3, "id0"));
	assert_int_equal(find(v, 3, "id1")->flows_total, 1);
	assert_int_equal(find(v, 3, "id1")->bytes_up, 0);
	assert_int_equal(t.n, 3);
	conc_cpes_destroy(&t);
}

static void many_ids_stay_bounded(void **state)
{
	struct conc_cpes t;
	char id[32];
	bool ev;
	size_t evicted = 0;

	assert_int_equal(conc_cpes_init(&t, CONC_CPE_MAX), 0);
	for (int i = 0; i < 3 * CONC_CPE_MAX; i++) {
		snprintf(id, sizeof(id), "10.%d.%d.%d", i >> 16, (i >> 8) & 255,
			 i & 255);
		struct conc_cpe *c = conc_cpe_open(&t, id, &ev);
		assert_non_null(c);
		evicted += ev;
		conc_cpe_close(&t, c, 1, 1);
	}
	assert_int_equal(t.n, CONC_CPE_MAX);
	assert_int_equal(evicted, 2 * CONC_CPE_MAX);
	conc_cpes_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(counts_and_bytes),
	    cmocka_unit_test(longest_idle_evicted_first),
	    cmocka_unit_test(many_ids_stay_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
