/* Concentrator workers: one thread, loop and SO_REUSEPORT listener each. The
 * main thread talks to them through a pipe of fixed-size messages. */
#include "conc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conc_flow.h"
#include "conc_snap.h"
#include "log.h"
#include "resolve.h"
#include "sockopt.h"

#define SWEEP_MS 250
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_BATCH 64

enum worker_msg_type { MSG_CONFIG, MSG_DRAIN, MSG_SNAPSHOT };

struct worker_msg {
	enum worker_msg_type type;
	struct conc_config *cfg; /* MSG_CONFIG: a reference for the worker */
	struct conc_snap *snap;  /* MSG_SNAPSHOT: a reference for the worker */
};

static void on_listener(struct loop *l, int fd, uint32_t ev, void *arg);

static int64_t on_accept_pause(struct loop *l, void *arg)
{
	struct conc_worker *w = arg;

	if (w->lfd >= 0)
		loop_mod_fd(l, w->lfd, EPOLLIN);
	for (int i = 0; i < 2; i++)
		if (w->tfd[i] >= 0)
			loop_mod_fd(l, w->tfd[i], EPOLLIN);
	return LOOP_TIMER_STOP;
}

/* Out of fds: stop accepting for a moment rather than spin on the
 * listener, which stays readable. Logged once per episode, not at every
 * retry. */
static void accept_pause(struct conc_worker *w, int err)
{
	if (!w->accept_paused)
		log_warnx("worker %u: accept: %s; pausing accept, retrying "
			  "every %d ms",
			  w->idx, strerror(err), ACCEPT_PAUSE_MS);
	w->accept_paused = true;
	CONC_STAT_INC(&w->stats, accept_pauses);
	loop_mod_fd(w->loop, w->lfd, 0);
	for (int i = 0; i < 2; i++)
		if (w->tfd[i] >= 0)
			loop_mod_fd(w->loop, w->tfd[i], 0);
	loop_timer_arm(w->loop, &w->accept_pause, ACCEPT_PAUSE_MS,
		       on_accept_pause, w);
}

static void accept_resumed(struct conc_worker *w)
{
	if (!w->accept_paused)
		return;
	w->accept_paused = false;
	log_info("worker %u: accepting again", w->idx);
}

static void accept_batch(struct conc_worker *w, int fd, bool transparent)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int cfd = accept4(fd, (struct sockaddr *)&peer, &len,
				  SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				accept_pause(w, errno);
			return;
		}
		accept_resumed(w);
		CONC_STAT_INC(&w->stats, accepted);
		conc_flow_accept(w, cfd, (struct sockaddr *)&peer, len,
				 transparent);
	}
}

static void on_listener(struct loop *l, int fd, uint32_t ev, void *arg)
{
	accept_batch(arg, fd, false);
}

static void on_transparent(struct loop *l, int fd, uint32_t ev, void *arg)
{
	accept_batch(arg, fd, true);
}

static void close_fd(struct conc_worker *w, int *fd)
{
	if (*fd < 0)
		return;
	loop_del_fd(w->loop, *fd);
	close(*fd);
	*fd = -1;
}

static void close_listener(struct conc_worker *w)
{
	close_fd(w, &w->lfd);
	close_fd(w, &w->tfd[0]);
	close_fd(w, &w->tfd[1]);
	loop_timer_disarm(w->loop, &w->accept_pause);
}

/* Bound before the privileges are dropped: IP_TRANSPARENT needs
 * CAP_NET_ADMIN. Without IPv6 in the namespace, IPv4 alone. */
static int transparent_init(struct conc_worker *w)
{
	static const int families[2] = { AF_INET, AF_INET6 };
	const char *what;
	int r;

	for (int i = 0; i < 2; i++) {
		w->tfd[i] = conc_tproxy_listener(
			families[i], (uint16_t)w->d->cfg->transparent_port, 4096,
			&what);
		r = w->tfd[i];
		if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) {
			if (!w->idx)
				log_warnx("transparent listener: no IPv6 "
					  "(%s: %s): IPv4 only", what, strerror(-r));
			continue;
		}
		if (r < 0) {
			log_error("transparent listener: %s: %s", what, strerror(-r));
			return r;
		}
		if ((r = loop_add_fd(w->loop, w->tfd[i], EPOLLIN, on_transparent,
				     w)) < 0)
			return r;
	}
	return 0;
}

static void swap_config(struct conc_worker *w, struct conc_config *cfg)
{
	struct conc_acl acl;
	int r = conc_acl_init(&acl, cfg);

	conc_config_unref(cfg); /* the message's reference; acl took its own */
	if (r < 0) {
		log_warnx("worker %u: reload failed: %s", w->idx, strerror(-r));
		return;
	}
	conc_acl_destroy(&w->acl);
	w->acl = acl;
}

static void on_ctl(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct conc_worker *w = arg;
	struct worker_msg m;

	while (read(fd, &m, sizeof(m)) == sizeof(m)) {
		switch (m.type) {
		case MSG_CONFIG:
			swap_config(w, m.cfg);
			break;
		case MSG_SNAPSHOT:
			conc_snap_fill(w, m.snap);
			break;
		case MSG_DRAIN:
			close_listener(w);
			w->draining = true;
			w->drain_deadline_ms =
				loop_now_ms(l) + w->acl.cfg->drain_timeout_ms;
			break;
		}
	}
}

/* Messages nobody will read: their references are let go. */
static void drop_messages(struct conc_worker *w)
{
	struct worker_msg m;

	while (read(w->ctl[0], &m, sizeof(m)) == sizeof(m)) {
		if (m.type == MSG_CONFIG)
			conc_config_unref(m.cfg);
		else if (m.type == MSG_SNAPSHOT)
			conc_snap_abandon(m.snap, w->idx, -ESHUTDOWN);
	}
}

static int64_t on_sweep(struct loop *l, void *arg)
{
	struct conc_worker *w = arg;
	uint64_t now = loop_now_ms(l);

	conc_flow_sweep(w, now);
	if (w->draining && now >= w->drain_deadline_ms)
		conc_flow_close_all(w);
	return SWEEP_MS;
}

static void before_sleep(struct loop *l, void *arg)
{
	struct conc_worker *w = arg;

	conc_flow_reap(w);
	if (w->draining && !w->n_flows)
		loop_stop(l);
}

static void *worker_main(void *arg)
{
	struct conc_worker *w = arg;
	int r = loop_run(w->loop);

	if (r < 0)
		log_error("worker %u: event loop failed: %s", w->idx, strerror(-r));
	conc_flow_close_all(w);
	conc_flow_reap(w);
	return NULL;
}

static int worker_init(struct conc_worker *w, struct conc_daemon *d, unsigned idx)
{
	const struct conc_config *c = d->cfg;
	const char *what;
	int r;

	w->d = d;
	w->idx = idx;
	w->lfd = w->tfd[0] = w->tfd[1] = -1;
	w->ctl[0] = w->ctl[1] = -1;
	if (!(w->loop = loop_new()))
		return -ENOMEM;
	if ((r = conc_acl_init(&w->acl, d->cfg)) < 0 ||
	    (r = conc_cpes_init(&w->cpes, CONC_CPE_MAX)) < 0)
		return r;
	if (!(w->res = resolver_new(w->loop)))
		return -ENOMEM;
	if (pipe2(w->ctl, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	w->lfd = sockopt_mptcp_listener((const struct sockaddr *)&c->listen,
					c->listen_len, 4096, &what);
	if (w->lfd < 0) {
		log_error("listener: %s: %s", what, strerror(-w->lfd));
		return w->lfd;
	}
	if ((r = loop_add_fd(w->loop, w->lfd, EPOLLIN, on_listener, w)) < 0 ||
	    (r = loop_add_fd(w->loop, w->ctl[0], EPOLLIN, on_ctl, w)) < 0)
		return r;
	if (d->transparent && (r = transparent_init(w)) < 0)
		return r;
	loop_timer_arm(w->loop, &w->sweep, SWEEP_MS, on_sweep, w);
	loop_set_before_sleep(w->loop, before_sleep, w);
	return 0;
}

static void worker_destroy(struct conc_worker *w)
{
	if (!w->loop)
		return;
	close_listener(w);
	if (w->ctl[0] >= 0)
		drop_messages(w);
	for (int i = 0; i < 2; i++)
		if (w->ctl[i] >= 0)
			close(w->ctl[i]);
	resolver_free(w->res);
	conc_acl_destroy(&w->acl);
	conc_cpes_destroy(&w->cpes);
	loop_free(w->loop);
	w->loop = NULL;
}

int conc_workers_init(struct conc_daemon *d)
{
	int r;

	d->workers = calloc(d->n_workers, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < d->n_workers; i++)
		if ((r = worker_init(&d->workers[i], d, i)) < 0)
			return r;
	return 0;
}

int conc_workers_run(struct conc_daemon *d)
{
	int r;

	for (unsigned i = 0; i < d->n_workers; i++) {
		struct conc_worker *w = &d->workers[i];
		if ((r = pthread_create(&w->thread, NULL, worker_main, w)))
			return -r;
		w->started = true;
	}
	return 0;
}

/* A pipe write of this size is atomic; the pipe holds thousands. */
static int post(struct conc_worker *w, const struct worker_msg *m)
{
	if (write(w->ctl[1], m, sizeof(*m)) == sizeof(*m))
		return 0;
	log_warn("worker %u: message lost", w->idx);
	return -EAGAIN;
}

int conc_worker_post_snap(struct conc_worker *w, struct conc_snap *s)
{
	struct worker_msg m = { .type = MSG_SNAPSHOT, .snap = s };

	return post(w, &m);
}

void conc_workers_reload(struct conc_daemon *d, struct conc_config *cfg)
{
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct worker_msg m = { .type = MSG_CONFIG,
					.cfg = conc_config_ref(cfg) };
		if (post(&d->workers[i], &m) < 0)
			conc_config_unref(cfg);
	}
}

void conc_workers_drain(struct conc_daemon *d)
{
	struct worker_msg m = { .type = MSG_DRAIN };

	for (unsigned i = 0; i < d->n_workers; i++)
		post(&d->workers[i], &m);
}

void conc_stats_sum(const struct conc_daemon *d, struct conc_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; d->workers && i < d->n_workers; i++)
		conc_stats_add(out, &d->workers[i].stats);
}

void conc_connect_hist_sum(const struct conc_daemon *d, struct metrics_hist *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; d->workers && i < d->n_workers; i++)
		metrics_hist_add(out, &d->workers[i].connect_hist);
}

/* Wait for the workers (after conc_workers_drain) and free them. Safe on
 * a half-started set. */
void conc_workers_join(struct conc_daemon *d)
{
	if (!d->workers)
		return;
	for (unsigned i = 0; i < d->n_workers; i++) {
		struct conc_worker *w = &d->workers[i];
		if (w->started)
			pthread_join(w->thread, NULL);
		worker_destroy(w);
	}
	free(d->workers);
	d->workers = NULL;
}
