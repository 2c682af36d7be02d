/* lib/loop: timers in order, re-arming, fds, removal inside callbacks,
 * signals through signalfd, the before-sleep hook. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop.h"

struct rec {
	int order[64];
	int n;
	int repeats;
	struct loop_timer *other;
};

static int64_t record(struct loop *l, void *arg)
{
	struct rec *r = arg;

	r->order[r->n++] = (int)(intptr_t)r->other; /* reused as an id below */
	return LOOP_TIMER_STOP;
}

struct idrec {
	struct rec *r;
	int id;
};

static int64_t record_id(struct loop *l, void *arg)
{
	struct idrec *ir = arg;

	ir->r->order[ir->r->n++] = ir->id;
	if (ir->r->n == 3)
		loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void timers_fire_in_deadline_order(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer t[3] = { 0 };
	struct rec r = { 0 };
	struct idrec ids[3] = { { &r, 30 }, { &r, 10 }, { &r, 20 } };
	int64_t delay[3] = { 30, 10, 20 };

	for (int i = 0; i < 3; i++)
		loop_timer_arm(l, &t[i], delay[i], record_id, &ids[i]);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.order[0], 10);
	assert_int_equal(r.order[1], 20);
	assert_int_equal(r.order[2], 30);
	loop_free(l);
}

static int64_t repeat(struct loop *l, void *arg)
{
	struct rec *r = arg;

	if (++r->repeats == 4) {
		loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	return 1;
}

static void timer_rearms_from_return_value(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer t = { 0 };
	struct rec r = { 0 };

	loop_timer_arm(l, &t, 1, repeat, &r);
	loop_run(l);
	assert_int_equal(r.repeats, 4);
	assert_false(loop_timer_armed(&t));
	loop_free(l);
}

static int64_t stop_loop(struct loop *l, void *arg)
{
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void disarmed_timer_never_fires(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer t[40] = { 0 }, end = { 0 };
	struct rec r = { 0 };

	/* Many timers, every other one disarmed: exercises heap removal
	 * from the middle. */
	for (int i = 0; i < 40; i++)
		loop_timer_arm(l, &t[i], 1 + (i * 7) % 13, record, &r);
	for (int i = 0; i < 40; i += 2)
		loop_timer_disarm(l, &t[i]);
	loop_timer_arm(l, &end, 40, stop_loop, NULL);
	loop_run(l);
	assert_int_equal(r.n, 20);
	for (int i = 0; i < 40; i++)
		assert_false(loop_timer_armed(&t[i]));
	loop_free(l);
}

struct fdrec {
	int reads;
	int pipe2_fd;
};

static void on_read_and_remove(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct fdrec *fr = arg;
	char c;

	fr->reads++;
	assert_int_equal(read(fd, &c, 1), 1);
	/* Removing another fd whose event is in the same batch must drop
	 * that event. */
	loop_del_fd(l, fr->pipe2_fd);
	loop_del_fd(l, fd);
}

static void removed_fd_event_is_dropped(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer end = { 0 };
	int a[2], b[2];
	struct fdrec fr = { 0 };

	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "y", 1), 1);
	fr.pipe2_fd = b[0];
	struct fdrec fr2 = { 0, a[0] };
	assert_int_equal(loop_add_fd(l, a[0], EPOLLIN, on_read_and_remove, &fr), 0);
	assert_int_equal(loop_add_fd(l, b[0], EPOLLIN, on_read_and_remove, &fr2), 0);
	loop_timer_arm(l, &end, 20, stop_loop, NULL);
	loop_run(l);
	assert_int_equal(fr.reads + fr2.reads, 1);
	assert_int_equal(loop_mod_fd(l, a[0], EPOLLOUT), -ENOENT);
	loop_free(l);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

static void on_sig(struct loop *l, int signo, void *arg)
{
	*(int *)arg = signo;
	loop_stop(l);
}

static void signal_arrives_through_loop(void **state)
{
	struct loop *l = loop_new();
	static const int sigs[] = { SIGUSR1 };
	int got = 0;

	assert_int_equal(loop_add_signals(l, sigs, 1, on_sig, &got), 0);
	kill(getpid(), SIGUSR1);
	loop_run(l);
	assert_int_equal(got, SIGUSR1);
	loop_free(l);
}

static void hook(struct loop *l, void *arg)
{
	if (++*(int *)arg == 3)
		loop_stop(l);
}

static int64_t tick(struct loop *l, void *arg)
{
	return 1;
}

static void before_sleep_runs_each_round(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer t = { 0 };
	int n = 0;

	loop_timer_arm(l, &t, 1, tick, NULL);
	loop_set_before_sleep(l, hook, &n);
	loop_run(l);
	assert_int_equal(n, 3);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timers_fire_in_deadline_order),
		cmocka_unit_test(timer_rearms_from_return_value),
		cmocka_unit_test(disarmed_timer_never_fires),
		cmocka_unit_test(removed_fd_event_is_dropped),
		cmocka_unit_test(signal_arrives_through_loop),
		cmocka_unit_test(before_sleep_runs_each_round),
	};
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
