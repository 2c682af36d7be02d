/* Relaying a flow's bytes, half-close and resets passed on, and the end of
 * every flow. A direction starts in copy mode: recv() into the worker's
 * buffer and send() at once, no pipe, no extra fds (most flows are short:
 * pipes cost two fds, four syscalls to open and close, and a splice each
 * way per chunk). The first read that fills the buffer, or a send the
 * destination cannot take whole, moves the direction to splice() through a
 * pipe of its own; what was read and not sent waits in a spill buffer. */
#include "conc_flow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "resolve.h"
#include "sockopt.h"

#define PIPE_SIZE (256 * 1024)
#define COPY_MAX  (64 * 1024) /* copy mode's read */
#define PUMP_ROUNDS 16 /* per wakeup and direction, so no flow hogs a worker */
#define FINISH_LINGER_MS 2000

bool flow_has_dst(const struct conc_flow *f)
{
	static const struct in6_addr any = IN6ADDR_ANY_INIT;

	/* a SOCKS request naming a host has :: until the name resolves */
	if (f->dst.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&f->dst)->sin6_addr,
			      &any, sizeof(any)) != 0;
	return f->dst.ss_family == AF_INET;
}

void flow_log(const struct conc_flow *f, const char *fmt, ...)
{
	char a[ADDR_STRLEN], b[ADDR_STRLEN], msg[512];
	va_list ap;

	if (log_get_level() < LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	addr_str((const struct sockaddr *)&f->peer, a, sizeof(a));
	if (flow_has_dst(f))
		log_debug("flow %llu %s -> %s: %s", (unsigned long long)f->id, a,
			  addr_str((const struct sockaddr *)&f->dst, b, sizeof(b)),
			  msg);
	else
		log_debug("flow %llu %s: %s", (unsigned long long)f->id, a, msg);
}

void flow_set_events(struct conc_flow *f, int fd, uint32_t events)
{
	if (fd >= 0)
		loop_mod_fd(f->w->loop, fd, events);
}

/* linger: SO_LINGER 0 was armed at connect (the server socket, see
 * sockopt.h), and an orderly close turns it off. */
static void close_fd(struct conc_worker *w, int *fd, bool abort, bool linger)
{
	if (*fd < 0)
		return;
	if (abort)
		sockopt_abort_on_close(*fd);
	else if (linger)
		sockopt_linger_off(*fd);
	loop_close_fd(w->loop, *fd);
	*fd = -1;
}

static void close_pipe(struct flow_dir *d)
{
	free(d->spill);
	d->spill = NULL;
	for (int i = 0; i < 2; i++)
		if (d->pipe[i] >= 0) {
			close(d->pipe[i]);
			d->pipe[i] = -1;
		}
}

/* The pending place in conc_limits is held from accept until the flow
 * relays, is answered or ends, whichever comes first. */
static void flow_opened(struct conc_flow *f)
{
	if (f->counted && f->state <= FLOW_CONNECTING)
		conc_limits_opened(&f->w->d->limits,
				   (struct sockaddr *)&f->peer);
}

static void count_close(struct conc_flow *f)
{
	struct conc_stats *s = &f->w->stats;

	CONC_STAT_DEC(s, active);
	if (f->state == FLOW_RELAY)
		CONC_STAT_DEC(s, relaying);
	/* Its request never came whole, so SOCKS4 or 4a was not counted. */
	if (f->state == FLOW_OPENING && f->proto == FLOW_SOCKS4)
		CONC_STAT_INC(s, socks4);
}

void flow_close(struct conc_flow *f, const char *reason, bool abort_client,
		bool abort_server)
{
	struct conc_worker *w = f->w;

	if (f->state == FLOW_DEAD)
		return;
	flow_account(f, NULL);
	flow_log(f, "closed (%s) after %.1f s; cpe %s, up %llu, down %llu bytes",
		 reason, (double)(loop_now_ms(w->loop) - f->start_ms) / 1000.0,
		 f->cpe ? f->cpe->st.id : "-", (unsigned long long)f->up.bytes,
		 (unsigned long long)f->down.bytes);
	conc_cpe_close(&w->cpes, f->cpe, f->up.bytes, f->down.bytes);
	resolver_cancel(f->req);
	f->req = NULL;
	close_fd(w, &f->cfd, abort_client, false);
	close_fd(w, &f->sfd, abort_server, true);
	close_pipe(&f->up);
	close_pipe(&f->down);
	flow_opened(f);
	count_close(f);
	if (f->counted)
		conc_limits_release(&w->d->limits, (struct sockaddr *)&f->peer);
	if (f->prev)
		f->prev->next = f->next;
	else
		w->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	w->n_flows--;
	f->state = FLOW_DEAD;
	f->next = w->dead;
	w->dead = f;
}

void conc_flow_reap(struct conc_worker *w)
{
	while (w->dead) {
		struct conc_flow *f = w->dead;
		w->dead = f->next;
		free(f);
	}
}

/* Relay. */

static int open_pipe(struct flow_dir *d)
{
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		d->pipe[0] = d->pipe[1] = -1;
		return -errno;
	}
	/* A bigger pipe means fewer wakeups per byte; the default is the
	 * fallback when the per-user pipe budget is spent. */
	(void)fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	int sz = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->pipe_cap = sz > 0 ? (size_t)sz : 65536;
	return 0;
}

static uint32_t want(const struct flow_dir *rd, const struct flow_dir *wr)
{
	uint32_t ev = 0;

	if (!rd->eof && !rd->pend_len &&
	    (rd->pipe[0] < 0 || rd->in_pipe < rd->pipe_cap))
		ev |= EPOLLIN;
	if (wr->pend_len || wr->in_pipe)
		ev |= EPOLLOUT;
	return ev;
}

/* A socket with nothing left to read or write leaves the loop: epoll
 * reports EPOLLHUP whatever we ask, and level-triggered that would spin
 * while the other direction finishes. */
static void watch(struct conc_flow *f, int fd, const struct flow_dir *rd,
		  const struct flow_dir *wr)
{
	if (rd->eof && wr->shut)
		loop_del_fd(f->w->loop, fd);
	else
		flow_set_events(f, fd, want(rd, wr));
}

static void relay_update_events(struct conc_flow *f)
{
	watch(f, f->cfd, &f->up, &f->down);
	watch(f, f->sfd, &f->down, &f->up);
}

enum pump_result { PUMP_OK, PUMP_SRC_RESET, PUMP_DST_RESET, PUMP_NOMEM };

static bool soft_error(void)
{
	return errno == EAGAIN || errno == EINTR;
}

/* Move what can be moved from pend or the pipe to dst. relayed and
 * d->bytes count the bytes that came from the other side: all but our own
 * answer. */
static enum pump_result drain_to(struct flow_dir *d, int dst, bool *progress,
				 uint64_t *relayed, bool pend_is_answer)
{
	/* spill is relayed bytes; the answer is pend without a spill */
	bool answer = d->pend_len > 0 && pend_is_answer && !d->spill;
	ssize_t n;

	if (d->pend_len)
		n = send(dst, d->pend, d->pend_len, MSG_NOSIGNAL);
	else if (d->in_pipe)
		n = splice(d->pipe[0], NULL, dst, NULL, d->in_pipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	else
		return PUMP_OK;
	if (n < 0)
		return soft_error() ? PUMP_OK : PUMP_DST_RESET;
	if (d->pend_len) {
		d->pend += n;
		d->pend_len -= (size_t)n;
		if (!d->pend_len && d->spill) {
			free(d->spill);
			d->spill = NULL;
		}
	} else {
		d->in_pipe -= (size_t)n;
	}
	/* The daemon's and the flow's counts agree: both without the answer. */
	if (!answer) {
		conc_stat_add(relayed, (uint64_t)n);
		d->bytes += (uint64_t)n;
	}
	*progress = n > 0;
	return PUMP_OK;
}

/* Copy mode: one read, sent at once. What dst does not take waits in
 * spill, and the direction moves to a pipe (kept in copy mode, spill and
 * all, when no pipe can be had). */
static enum pump_result copy_through(struct conc_flow *f, struct flow_dir *d,
				     int src, int dst, bool *progress,
				     uint64_t *relayed)
{
	static __thread uint8_t buf[COPY_MAX];
	ssize_t n = recv(src, buf, sizeof(buf), 0), m;

	if (n < 0 && errno == EAGAIN)
		d->dry = true;
	if (n < 0)
		return soft_error() ? PUMP_OK : PUMP_SRC_RESET;
	/* A short read emptied the socket (or nearly: EPOLLIN tells). */
	d->dry = n < COPY_MAX;
	*progress = true;
	if (n == 0) {
		d->eof = true;
		return PUMP_OK;
	}
	m = send(dst, buf, (size_t)n, MSG_NOSIGNAL);
	if (m < 0 && !soft_error())
		return PUMP_DST_RESET;
	if (m < 0)
		m = 0;
	conc_stat_add(relayed, (uint64_t)m);
	d->bytes += (uint64_t)m;
	if (m < n) {
		if (!(d->spill = malloc((size_t)(n - m))))
			return PUMP_NOMEM;
		memcpy(d->spill, buf + m, (size_t)(n - m));
		d->pend = d->spill;
		d->pend_len = (size_t)(n - m);
		CONC_STAT_INC(&f->w->stats, relay_spills);
	}
	if ((m < n || n == COPY_MAX) && open_pipe(d) == 0)
		CONC_STAT_INC(&f->w->stats, relay_pipes);
	return PUMP_OK;
}

static enum pump_result fill_from(struct flow_dir *d, int src, bool *progress)
{
	ssize_t n;

	if (d->eof || d->dry || d->pend_len || d->in_pipe >= d->pipe_cap)
		return PUMP_OK;
	n = splice(src, NULL, d->pipe[1], NULL, d->pipe_cap - d->in_pipe,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0 && errno == EAGAIN)
		d->dry = true;
	if (n < 0)
		return soft_error() ? PUMP_OK : PUMP_SRC_RESET;
	if (n == 0)
		d->eof = true;
	d->in_pipe += (size_t)n;
	*progress = true;
	return PUMP_OK;
}

static enum pump_result pump(struct conc_flow *f, struct flow_dir *d,
			     int src, int dst, uint64_t *relayed,
			     bool pend_is_answer)
{
	enum pump_result r = PUMP_OK;

	for (int i = 0; i < PUMP_ROUNDS && r == PUMP_OK; i++) {
		bool moved = false, filled = false;
		r = drain_to(d, dst, &moved, relayed, pend_is_answer);
		if (r != PUMP_OK)
			break;
		if (d->pipe[0] >= 0)
			r = fill_from(d, src, &filled);
		else if (!d->eof && !d->dry && !d->pend_len)
			r = copy_through(f, d, src, dst, &filled, relayed);
		if (!moved && !filled)
			break;
	}
	if (r == PUMP_OK && d->eof && !d->pend_len && !d->in_pipe && !d->shut) {
		shutdown(dst, SHUT_WR);
		d->shut = true;
	}
	return r;
}

static void relay_pump(struct conc_flow *f)
{
	struct conc_stats *s = &f->w->stats;
	enum pump_result up =
		pump(f, &f->up, f->cfd, f->sfd, &s->bytes_up, false);
	enum pump_result down =
		up ? PUMP_OK
		   : pump(f, &f->down, f->sfd, f->cfd, &s->bytes_down, true);

	if (up == PUMP_NOMEM || down == PUMP_NOMEM) {
		/* bytes read could not be kept: both sides learn it */
		flow_close(f, "out of memory", true, true);
		return;
	}
	if (up == PUMP_SRC_RESET || down == PUMP_DST_RESET) {
		flow_close(f, "client reset", false, true);
		return;
	}
	if (up == PUMP_DST_RESET || down == PUMP_SRC_RESET) {
		flow_close(f, "server reset", true, false);
		return;
	}
	if (f->up.shut && f->down.shut) {
		flow_close(f, "done", false, false);
		return;
	}
	relay_update_events(f);
}

void relay_start(struct conc_flow *f)
{
	flow_opened(f);
	f->state = FLOW_RELAY;
	CONC_STAT_INC(&f->w->stats, relaying);
	f->deadline_ms = 0;
	f->active_ms = loop_now_ms(f->w->loop);
	relay_pump(f);
}

void relay_on_io(struct conc_flow *f, int fd, uint32_t events)
{
	uint64_t before = f->up.bytes + f->down.bytes;

	/* An error with no read or write pending would otherwise never be
	 * collected (and EPOLLERR would fire forever). */
	if ((events & EPOLLERR) && sockopt_so_error(fd)) {
		if (fd == f->cfd)
			flow_close(f, "client reset", false, true);
		else
			flow_close(f, "server reset", true, false);
		return;
	}
	/* Level-triggered: a dry source with EPOLLIN armed is reported at
	 * the next turn when bytes (or its FIN) come. */
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		if (fd == f->cfd)
			f->up.dry = false;
		else if (fd == f->sfd)
			f->down.dry = false;
	}
	relay_pump(f);
	if (f->state != FLOW_DEAD && f->up.bytes + f->down.bytes != before)
		f->active_ms = loop_now_ms(f->w->loop);
}

/* Finishing: answer, FIN, wait for the client's FIN (closing with unread
 * bytes would send RST and could destroy the answer in flight). */

void flow_finish(struct conc_flow *f, size_t len)
{
	struct conc_worker *w = f->w;

	resolver_cancel(f->req);
	f->req = NULL;
	close_fd(w, &f->sfd, false, true);
	flow_opened(f);
	f->state = FLOW_FINISHING;
	f->down.pend = f->reply;
	f->down.pend_len = len;
	f->deadline_ms = loop_now_ms(w->loop) + FINISH_LINGER_MS;
	flow_set_events(f, f->cfd, EPOLLIN | EPOLLOUT);
}

void flow_finish_on_io(struct conc_flow *f, int fd, uint32_t events)
{
	uint8_t sink[4096];
	ssize_t n;

	if (f->down.pend_len) {
		n = send(f->cfd, f->down.pend, f->down.pend_len, MSG_NOSIGNAL);
		if (n < 0 && !soft_error()) {
			flow_close(f, "client gone before the answer", false, false);
			return;
		}
		if (n > 0) {
			f->down.pend += n;
			f->down.pend_len -= (size_t)n;
		}
		if (f->down.pend_len)
			return;
	}
	if (!f->down.shut) {
		shutdown(f->cfd, SHUT_WR);
		f->down.shut = true;
		flow_set_events(f, f->cfd, EPOLLIN);
	}
	while ((n = recv(f->cfd, sink, sizeof(sink), 0)) > 0)
		;
	if (n == 0 || !soft_error())
		flow_close(f, "answered", false, false);
}

void flow_on_io(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct conc_flow *f = arg;

	switch (f->state) {
	case FLOW_OPENING:
	case FLOW_S5_AUTH:
	case FLOW_S5_REQUEST:
		flow_opening_on_io(f, fd, events);
		break;
	case FLOW_RESOLVING:
		if (events & (EPOLLERR | EPOLLHUP))
			flow_close(f, "client gone while resolving", true, false);
		break;
	case FLOW_CONNECTING:
		flow_connecting_on_io(f, fd, events);
		break;
	case FLOW_RELAY:
		relay_on_io(f, fd, events);
		break;
	case FLOW_FINISHING:
		flow_finish_on_io(f, fd, events);
		break;
	case FLOW_DEAD:
		break;
	}
}

static void header_timeout(struct conc_flow *f)
{
	CONC_STAT_INC(&f->w->stats, header_timeouts);
	flow_close(f, "header timeout", false, false);
}

/* Timeouts: header, connect, idle, linger after an answer. */
void conc_flow_sweep(struct conc_worker *w, uint64_t now)
{
	uint32_t idle = w->acl.cfg->idle_timeout_ms;
	struct conc_flow *f, *next;

	for (f = w->flows; f; f = next) {
		next = f->next;
		if (f->state == FLOW_RELAY) {
			if (now - f->active_ms >= idle)
				flow_close(f, "idle timeout", true, true);
		} else if (f->deadline_ms && now >= f->deadline_ms) {
			if (f->state == FLOW_CONNECTING || f->state == FLOW_RESOLVING)
				flow_refuse_timeout(f);
			else if (f->state <= FLOW_S5_REQUEST)
				header_timeout(f);
			else
				flow_close(f, "client did not close", false,
					   false);
		}
	}
}

void conc_flow_close_all(struct conc_worker *w)
{
	while (w->flows)
		flow_close(w->flows, "shutting down", true, true);
}
