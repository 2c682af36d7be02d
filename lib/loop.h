/* One epoll loop per thread: fds, timers, signals (signalfd) and a
 * before-sleep hook. Level-triggered. A callback may add, change or remove
 * any registration, its own included; events already fetched for an fd that
 * was removed in the same round are dropped; a new fd that reuses the number
 * in that round may see one spurious wakeup, so handlers expect EAGAIN. */
#ifndef MPTUN_LOOP_H
#define MPTUN_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;

typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *arg);
/* Return the delay in ms until the next run, or LOOP_TIMER_STOP. */
typedef int64_t (*loop_timer_cb)(struct loop *l, void *arg);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *arg);
typedef void (*loop_hook_cb)(struct loop *l, void *arg);

#define LOOP_TIMER_STOP (-1)

/* Caller-owned timer; zero-initialise before first use. */
struct loop_timer {
	uint64_t deadline_ms;
	size_t heap_idx; /* 0 = not armed */
	loop_timer_cb cb;
	void *arg;
};

struct loop *loop_new(void);
void loop_free(struct loop *l); /* NULL ok; closes only its own fds */

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb,
		void *arg);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
int loop_del_fd(struct loop *l, int fd);
/* Forget fd (watched or not) and close it. Closing the last descriptor of
 * a file ends its epoll registration, so this saves loop_del_fd's system
 * call; only for descriptors nothing shares (no dup(), no fork()). */
void loop_close_fd(struct loop *l, int fd);

/* Arm (or re-arm) t to fire after ms. */
void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ms,
		    loop_timer_cb cb, void *arg);
void loop_timer_disarm(struct loop *l, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

/* Block sigs in the calling thread and deliver them through a signalfd. */
int loop_add_signals(struct loop *l, const int *sigs, int n, loop_signal_cb cb,
		     void *arg);
void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *arg);

uint64_t loop_now_ms(struct loop *l); /* CLOCK_MONOTONIC, cached per round */
uint64_t loop_clock_ms(void);         /* CLOCK_MONOTONIC, fresh */

int loop_run(struct loop *l); /* until loop_stop; 0 or -errno */
void loop_stop(struct loop *l);

#endif
