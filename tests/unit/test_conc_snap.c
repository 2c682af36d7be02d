/* lib/conc_snap: the request's life (every part there; a worker that
 * answers after the timeout writes into a request still alive and frees
 * it last; a message that could not be posted), what a worker copies of
 * its flows (the oldest, up to the limit) and per-CPE table (live bytes
 * added), and the merges (flows by id, CPEs summed per id). Workers are
 * played by this file: its conc_worker_post_snap replaces the library's
 * and answers at once, later, or never. ASan checks the memory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conc_flow.h"
#include "conc_snap.h"

enum answer { PROMPT, LATE, UNPOSTABLE };

static enum answer how[4];
static struct conc_snap *late[4];

int conc_worker_post_snap(struct conc_worker *w, struct conc_snap *s)
{
	switch (how[w->idx]) {
	case PROMPT:
		conc_snap_fill(w, s);
		return 0;
	case LATE:
		late[w->idx] = s;
		return 0;
	case UNPOSTABLE:
		break;
	}
	return -EAGAIN;
}

/* ---- a fake daemon: workers with flows and CPE tables ---- */

struct fake {
	struct conc_daemon d;
	struct conc_worker w[2];
	struct conc_flow f[6];
};

static void add_flow(struct fake *x, unsigned wi, unsigned fi, uint64_t id,
		     const char *cpe, uint64_t up, uint64_t down)
{
	struct conc_worker *w = &x->w[wi];
	struct conc_flow *f = &x->f[fi];
	struct sockaddr_in *p = (struct sockaddr_in *)&f->peer;
	bool ev;

	f->w = w;
	f->id = id;
	f->state = FLOW_RELAY;
	p->sin_family = AF_INET;
	p->sin_addr.s_addr = htonl(0x0a010002);
	p->sin_port = htons((uint16_t)(40000 + id));
	f->start_ms = loop_clock_ms();
	f->up.bytes = up;
	f->down.bytes = down;
	f->cpe = conc_cpe_open(&w->cpes, cpe, &ev);
	f->accounted = true;
	/* newest first, as conc_flow_accept links them */
	f->next = w->flows;
	w->flows = f;
	w->n_flows++;
}

static int setup(void **state)
{
	struct fake *x = calloc(1, sizeof(*x));
	struct conc_cpe *gone;
	bool ev;

	x->d.workers = x->w;
	x->d.n_workers = 2;
	for (unsigned i = 0; i < 2; i++) {
		x->w[i].d = &x->d;
		x->w[i].idx = i;
		conc_cpes_init(&x->w[i].cpes, 16);
	}
	/* worker 0: flows 1, 3, 5 of cpe-a, cpe-b, cpe-a; worker 1: 2, 4 */
	add_flow(x, 0, 0, 1, "cpe-a", 10, 100);
	add_flow(x, 1, 1, 2, "cpe-a", 20, 200);
	add_flow(x, 0, 2, 3, "cpe-b", 30, 300);
	add_flow(x, 1, 3, 4, "10.1.0.2", 40, 400);
	add_flow(x, 0, 4, 5, "cpe-a", 50, 500);
	/* a closed flow of cpe-b on worker 1: only its table has it */
	gone = conc_cpe_open(&x->w[1].cpes, "cpe-b", &ev);
	conc_cpe_close(&x->w[1].cpes, gone, 1000, 2000);
	memset(how, 0, sizeof(how));
	memset(late, 0, sizeof(late));
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fake *x = *state;

	for (unsigned i = 0; i < 2; i++)
		conc_cpes_destroy(&x->w[i].cpes);
	free(x);
	return 0;
}

static void flows_oldest_first_and_limited(void **state)
{
	struct fake *x = *state;
	struct conc_snap_flow *v;
	struct conc_snap *s;
	size_t n, total;
	int err;

	s = conc_snap_take(&x->d, CONC_SNAP_FLOWS, 100, 1000, &err);
	assert_non_null(s);
	v = conc_snap_flows(s, 100, &n, &total);
	assert_int_equal(n, 5);
	assert_int_equal(total, 5);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].id, i + 1);
	assert_string_equal(v[0].state, "relaying");
	assert_string_equal(v[0].cpe, "cpe-a");
	assert_int_equal(v[3].bytes_up, 40);
	assert_int_equal(v[3].worker, 1);
	assert_int_equal(v[0].client.sa.sa_family, AF_INET);
	assert_int_equal(v[0].dst.sa.sa_family, AF_UNSPEC);
	free(v);
	conc_snap_unref(s);

	/* limit 2: each worker gives its 2 oldest, the merge keeps 1 and 2 */
	s = conc_snap_take(&x->d, CONC_SNAP_FLOWS, 2, 1000, &err);
	assert_non_null(s);
	assert_int_equal(s->part[0].n_flows, 2);
	assert_int_equal(s->part[0].flows_open, 3);
	v = conc_snap_flows(s, 2, &n, &total);
	assert_int_equal(n, 2);
	assert_int_equal(total, 5);
	assert_int_equal(v[0].id, 1);
	assert_int_equal(v[1].id, 2);
	free(v);
	conc_snap_unref(s);
}

static void cpes_summed_with_live_bytes(void **state)
{
	struct fake *x = *state;
	struct conc_cpe_stat *v;
	struct conc_snap *s;
	size_t n;
	int err;

	s = conc_snap_take(&x->d, CONC_SNAP_CPES, 0, 1000, &err);
	assert_non_null(s);
	v = conc_snap_cpes(s, &n);
	conc_snap_unref(s);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].id, "10.1.0.2");
	assert_string_equal(v[1].id, "cpe-a");
	assert_int_equal(v[1].flows_active, 3);
	assert_int_equal(v[1].flows_total, 3);
	assert_int_equal(v[1].bytes_up, 10 + 20 + 50);
	assert_int_equal(v[1].bytes_down, 100 + 200 + 500);
	assert_string_equal(v[2].id, "cpe-b");
	assert_int_equal(v[2].flows_active, 1);
	assert_int_equal(v[2].flows_total, 2);
	assert_int_equal(v[2].bytes_up, 30 + 1000);
	free(v);
}

/* The main thread gives up; the worker's copy arrives afterwards into
 * the request, which it then frees. */
static void late_worker(void **state)
{
	struct fake *x = *state;
	int err = 0;

	how[1] = LATE;
	assert_null(conc_snap_take(&x->d, CONC_SNAP_FLOWS | CONC_SNAP_CPES, 10,
				   50, &err));
	assert_int_equal(err, -ETIMEDOUT);
	assert_non_null(late[1]);
	assert_int_equal(late[1]->refs, 1);
	conc_snap_fill(&x->w[1], late[1]); /* frees it */
}

static void unpostable_worker(void **state)
{
	struct fake *x = *state;
	int err = 0;

	how[0] = UNPOSTABLE;
	assert_null(conc_snap_take(&x->d, CONC_SNAP_FLOWS, 10, 1000, &err));
	assert_int_equal(err, -EAGAIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(flows_oldest_first_and_limited,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(cpes_summed_with_live_bytes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(late_worker, setup, teardown),
	    cmocka_unit_test_setup_teardown(unpostable_worker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
