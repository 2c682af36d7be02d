#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 256

struct loop_fdent {
	loop_fd_cb cb;
	void *arg;
	uint32_t events;
};

struct loop {
	int epfd;
	bool stop;
	uint64_t now_ms;

	struct loop_fdent *fds; /* indexed by fd */
	int n_fds;

	struct loop_timer **heap; /* 1-based binary min-heap */
	size_t heap_len, heap_cap;

	int sigfd;
	loop_signal_cb sig_cb;
	void *sig_arg;

	loop_hook_cb before_sleep;
	void *before_sleep_arg;
};

uint64_t loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->sigfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	l->now_ms = loop_clock_ms();
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l->fds);
	free(l->heap);
	free(l);
}

static int grow_fds(struct loop *l, int fd)
{
	int n = l->n_fds ? l->n_fds : 64;
	struct loop_fdent *v;

	while (n <= fd)
		n *= 2;
	v = realloc(l->fds, (size_t)n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(v + l->n_fds, 0, (size_t)(n - l->n_fds) * sizeof(*v));
	l->fds = v;
	l->n_fds = n;
	return 0;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb,
		void *arg)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int r;

	if (fd >= l->n_fds && (r = grow_fds(l, fd)) < 0)
		return r;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->fds[fd] = (struct loop_fdent){ .cb = cb, .arg = arg, .events = events };
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (fd >= l->n_fds || !l->fds[fd].cb)
		return -ENOENT;
	if (l->fds[fd].events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	l->fds[fd].events = events;
	return 0;
}

int loop_del_fd(struct loop *l, int fd)
{
	if (fd >= l->n_fds || !l->fds[fd].cb)
		return -ENOENT;
	l->fds[fd].cb = NULL;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		return -errno;
	return 0;
}

void loop_close_fd(struct loop *l, int fd)
{
	if (fd >= 0 && fd < l->n_fds)
		l->fds[fd].cb = NULL;
	close(fd);
}

/* Timer heap. */

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 1 && l->heap[i / 2]->deadline_ms > t->deadline_ms) {
		heap_set(l, i, l->heap[i / 2]);
		i /= 2;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t c = i * 2;
		if (c > l->heap_len)
			break;
		if (c < l->heap_len &&
		    l->heap[c + 1]->deadline_ms < l->heap[c]->deadline_ms)
			c++;
		if (l->heap[c]->deadline_ms >= t->deadline_ms)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_idx;
	struct loop_timer *moved;

	if (!i)
		return;
	t->heap_idx = 0;
	if (i == l->heap_len--)
		return;
	moved = l->heap[l->heap_len + 1];
	heap_set(l, i, moved);
	heap_down(l, i);
	heap_up(l, moved->heap_idx);
}

bool loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_idx != 0;
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t ms,
		    loop_timer_cb cb, void *arg)
{
	loop_timer_disarm(l, t);
	t->cb = cb;
	t->arg = arg;
	t->deadline_ms = loop_clock_ms() + (uint64_t)(ms < 0 ? 0 : ms);
	if (l->heap_len + 1 >= l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			abort(); /* a timer that silently never fires is worse */
		l->heap = h;
		l->heap_cap = cap;
	}
	heap_set(l, ++l->heap_len, t);
	heap_up(l, l->heap_len);
}

static void run_timers(struct loop *l)
{
	l->now_ms = loop_clock_ms();
	while (l->heap_len && l->heap[1]->deadline_ms <= l->now_ms) {
		struct loop_timer *t = l->heap[1];
		int64_t next;

		loop_timer_disarm(l, t);
		next = t->cb(l, t->arg);
		if (next != LOOP_TIMER_STOP && !t->heap_idx)
			loop_timer_arm(l, t, next, t->cb, t->arg);
	}
}

static int next_timeout(struct loop *l)
{
	uint64_t now;

	if (!l->heap_len)
		return -1;
	now = loop_clock_ms();
	if (l->heap[1]->deadline_ms <= now)
		return 0;
	return (int)(l->heap[1]->deadline_ms - now);
}

/* Signals. */

static void on_signalfd(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		l->sig_cb(l, (int)si.ssi_signo, l->sig_arg);
}

int loop_add_signals(struct loop *l, const int *sigs, int n, loop_signal_cb cb,
		     void *arg)
{
	sigset_t set;
	int r;

	sigemptyset(&set);
	for (int i = 0; i < n; i++)
		sigaddset(&set, sigs[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd < 0)
		return -errno;
	l->sig_cb = cb;
	l->sig_arg = arg;
	r = loop_add_fd(l, l->sigfd, EPOLLIN, on_signalfd, NULL);
	return r;
}

void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *arg)
{
	l->before_sleep = cb;
	l->before_sleep_arg = arg;
}

uint64_t loop_now_ms(struct loop *l)
{
	return l->now_ms;
}

static void dispatch(struct loop *l, struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd;
		struct loop_fdent *e;

		if (fd >= l->n_fds)
			continue;
		e = &l->fds[fd];
		if (e->cb)
			e->cb(l, fd, ev[i].events, e->arg);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event ev[LOOP_BATCH];

	l->stop = false;
	while (!l->stop) {
		int n;

		if (l->before_sleep)
			l->before_sleep(l, l->before_sleep_arg);
		if (l->stop)
			break;
		n = epoll_wait(l->epfd, ev, LOOP_BATCH, next_timeout(l));
		if (n < 0 && errno != EINTR)
			return -errno;
		l->now_ms = loop_clock_ms();
		if (n > 0)
			dispatch(l, ev, n);
		run_timers(l);
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
