#include "resolve.h"

#include <ares.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct resolver {
	struct loop *loop;
	ares_channel ch;
	struct loop_timer timer;
};

struct resolve_req {
	resolve_cb cb; /* NULL once cancelled */
	void *arg;
	struct resolve_req **slot; /* the caller's handle, cleared at the end */
};

static int64_t on_timer(struct loop *l, void *arg);

static void rearm(struct resolver *r)
{
	struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);

	if (!tvp) {
		loop_timer_disarm(r->loop, &r->timer);
		return;
	}
	loop_timer_arm(r->loop, &r->timer,
		       (int64_t)tvp->tv_sec * 1000 + tvp->tv_usec / 1000 + 1,
		       on_timer, r);
}

static int64_t on_timer(struct loop *l, void *arg)
{
	struct resolver *r = arg;

	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(r); /* a timer re-armed by its own callback stays armed */
	return LOOP_TIMER_STOP;
}

static void on_fd(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct resolver *r = arg;

	ares_process_fd(r->ch, (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD,
			(ev & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
	rearm(r);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	if (!ev) {
		loop_del_fd(r->loop, fd);
		return;
	}
	if (loop_mod_fd(r->loop, fd, ev) == -ENOENT)
		loop_add_fd(r->loop, fd, ev, on_fd, r);
}

struct resolver *resolver_new(struct loop *l)
{
	struct resolver *r = calloc(1, sizeof(*r));
	struct ares_options o = { .sock_state_cb = sock_state,
				  .timeout = 2000,
				  .tries = 2 };

	if (!r)
		return NULL;
	r->loop = l;
	o.sock_state_cb_data = r;
	if (ares_init_options(&r->ch, &o,
			      ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
				      ARES_OPT_TRIES) != ARES_SUCCESS) {
		free(r);
		return NULL;
	}
	return r;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	loop_timer_disarm(r->loop, &r->timer);
	ares_destroy(r->ch); /* calls every pending callback, which frees */
	free(r);
}

static int map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
		return -ENOENT;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

static void on_result(void *arg, int status, int timeouts,
		      struct ares_addrinfo *res)
{
	struct resolve_req *q = arg;
	struct ares_addrinfo_node *n = res ? res->nodes : NULL;
	int st = map_status(status);

	if (!st && !n)
		st = -ENOENT;
	if (q->slot)
		*q->slot = NULL;
	if (q->cb)
		q->cb(q->arg, st, st ? NULL : n->ai_addr,
		      st ? 0 : (socklen_t)n->ai_addrlen);
	if (res)
		ares_freeaddrinfo(res);
	free(q);
}

int resolver_lookup(struct resolver *r, const char *name, resolve_cb cb,
		    void *arg, struct resolve_req **handle)
{
	struct resolve_req *q = calloc(1, sizeof(*q));
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC,
					     .ai_socktype = SOCK_STREAM };

	if (!q)
		return -ENOMEM;
	q->cb = cb;
	q->arg = arg;
	q->slot = handle;
	*handle = q;
	/* May call on_result at once (e.g. from /etc/hosts). */
	ares_getaddrinfo(r->ch, name, NULL, &hints, on_result, q);
	rearm(r);
	return 0;
}

void resolver_cancel(struct resolve_req *q)
{
	if (!q)
		return;
	q->cb = NULL;
	q->slot = NULL;
}
