/* CPE flows: open the MPTCP connection with the carrier's opening in its
 * SYN (hold: before lwIP answers the LAN SYN; fast: with the client's first
 * bytes), or in transparent mode to the destination itself with no
 * opening, then relay with backpressure both ways:
 *   LAN -> socket: lwIP's pbufs are sent as they come; what the socket does
 *     not take stays queued and is not tcp_recved(), so the window closes.
 *   socket -> LAN: read only what tcp_sndbuf() has room for; when it is
 *     full, stop reading the socket until lwIP's sent callback. */
#include "cpe_flow_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "carrier.h"
#include "lwip/priv/tcp_priv.h" /* struct tcp_seg, TCP_SEQ_*: loss recovery */
#include "log.h"
#include "sockopt.h"

#define RELAY_BUF 65536
#define RELAY_ROUNDS 8
#define IOV_MAX_SEND 64
#define UNSENT_MAX (192 * 1024)
#define REFILL_MIN (16 * 1024)

static uint8_t relay_buf[RELAY_BUF];

static void on_sock(struct loop *l, int fd, uint32_t ev, void *arg);
static void relay(struct cpe_flow *f);
static void fast_open(struct cpe_flow *f);

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* It did not open, and not because the server said so. */
static void flow_failed(struct cpe_flow *f)
{
	f->cpe->ctr.failed++;
	f->failed = true;
}

/* The end of every flow. */

static void detach_pcb(struct cpe_flow *f, bool abort)
{
	struct tcp_pcb *pcb = f->pcb;

	if (!pcb)
		return;
	f->pcb = NULL;
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	if (abort || tcp_close(pcb) != ERR_OK) {
		tcp_abort(pcb);
		f->pcb_aborted = true;
	}
}

/* The flow is open both ways: it no longer counts as pending. */
static void flow_opened(struct cpe_flow *f)
{
	if (f->pending && f->host)
		f->host->pending--;
	f->pending = false;
}

static void flow_close(struct cpe_flow *f, const char *reason, bool abort_lan,
		       bool abort_sock)
{
	struct cpe *c = f->cpe;
	uint64_t ms = loop_now_ms(c->loop) - f->start_ms;

	if (f->state == CF_DEAD)
		return;
	cpe_flow_log(f, f->failed ? LOG_INFO : LOG_DEBUG,
		     "closed: %s (up %llu, down %llu bytes, %llu.%03llu s)",
		     reason, (unsigned long long)f->bytes_up,
		     (unsigned long long)f->bytes_down,
		     (unsigned long long)(ms / 1000),
		     (unsigned long long)(ms % 1000));
	flow_opened(f);
	if (f->host) {
		f->host->flows--;
		hostcount_put(&c->hosts, f->host);
		f->host = NULL;
	}
	detach_pcb(f, abort_lan);
	if (f->sfd >= 0) {
		if (abort_sock)
			sockopt_abort_on_close(f->sfd);
		loop_close_fd(c->loop, f->sfd);
		f->sfd = -1;
	}
	loop_timer_disarm(c->loop, &f->fast_timer);
	if (f->to_sock)
		pbuf_free(f->to_sock);
	f->to_sock = NULL;
	free(f->stash), free(f->syn), free(f->held), free(f->opening);
	f->stash = f->syn = f->held = f->opening = NULL;
	if (f->nat) {
		f->nat->owner = NULL;
		flownat_set_state(stack_nat(c->stack), f->nat, FLOWNAT_CLOSED,
				  loop_now_ms(c->loop));
	}
	if (f->prev)
		f->prev->next = f->next;
	else
		c->flows = f->next;
	if (f->next)
		f->next->prev = f->prev;
	c->n_flows--;
	f->state = CF_DEAD;
	f->next = c->dead;
	c->dead = f;
}

void cpe_flows_reap(struct cpe *c)
{
	while (c->dead) {
		struct cpe_flow *f = c->dead;
		c->dead = f->next;
		free(f);
	}
}

void cpe_flows_close_all(struct cpe *c)
{
	while (c->flows)
		flow_close(c->flows, "shutting down", true, true);
}

/* RFC 8803 carries the IPv4 ICMP code; an IPv6 client gets the ICMPv6
 * code that means the same (RFC 4443 3.1). */
static uint8_t icmp_code_for(const struct cpe_flow *f, uint8_t v4)
{
	if (f->dst.ss_family != AF_INET6)
		return v4;
	switch (v4) {
	case 0: /* net unreachable */
		return 0; /* no route to destination */
	case 9: case 10: case 13: /* administratively prohibited */
		return 1;
	default:
		return 3; /* address unreachable */
	}
}

/* Refusals of a held SYN: the LAN client sees what it would have seen
 * without the proxy. The NAT entry goes at once: lwIP never saw the flow. */
static void refuse_held(struct cpe_flow *f, const struct carrier_answer *a)
{
	struct cpe *c = f->cpe;
	struct flownat_entry *e = f->nat;
	uint8_t pkt[1400];
	size_t n;

	if (!f->syn) {
		n = 0; /* out of memory when the SYN came: nothing to quote */
	} else if (a->result == CARRIER_UNREACHABLE) {
		n = flownat_make_unreach(f->syn, f->syn_len,
					 icmp_code_for(f, a->icmp_code), pkt, sizeof(pkt));
		c->ctr.unreachable++;
	} else {
		n = flownat_make_rst(f->syn, f->syn_len, pkt, sizeof(pkt));
		if (a->result == CARRIER_REFUSED)
			c->ctr.refused++;
		else
			flow_failed(f);
	}
	if (n)
		stack_send_lan(c->stack, pkt, n);
	flow_close(f, a->why, true, false);
	flownat_remove(stack_nat(c->stack), e);
	f->nat = NULL;
}

/* Opening the MPTCP connection. */

static void set_sock_events(struct cpe_flow *f, uint32_t ev)
{
	if (f->sfd >= 0)
		loop_mod_fd(f->cpe->loop, f->sfd, ev);
}

/* Send what is left of the opening; 0, or -errno when the socket failed. */
static int send_opening(struct cpe_flow *f)
{
	ssize_t n;

	while (f->opening_off < f->opening_len) {
		n = send(f->sfd, f->opening + f->opening_off,
			 f->opening_len - f->opening_off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINPROGRESS ? 0 : -errno;
		f->opening_off += (size_t)n;
	}
	return 0;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

/* Fail-open: no path reaches the concentrator, so the flow goes straight
 * to its destination from the CPE, and stays there until it ends. */
static int open_direct(struct cpe_flow *f)
{
	socklen_t len = sa_len(&f->dst);

	f->direct = true;
	f->cpe->ctr.direct++;
	cpe_flow_log(f, LOG_DEBUG, "opening directly: no path is up "
		     "(health.fail: open)");
	if ((f->sfd = sockopt_connect((struct sockaddr *)&f->dst, len, NULL, 0)) < 0)
		return f->sfd;
	sockopt_notsent_lowat(f->sfd); /* sockopt_connect set TCP_NODELAY */
	return loop_add_fd(f->cpe->loop, f->sfd, EPOLLOUT, on_sock, f);
}

/* Transparent mode with carrier.source: the first subflow leaves from the
 * LAN client's own address, so that a concentrator preserving sources (or
 * the destination itself) sees it. Its port is the kernel's: the client's
 * own would make this socket take the answers lwIP sends the client for
 * the same connection. Such a socket follows the main table (no path's
 * rule matches its source), so only when the path picked is the one the
 * main table's default route uses (or none is managed); else the
 * path's own source, as without carrier.source. */
static bool client_source(const struct cpe_flow *f, const struct sockaddr *src,
			  struct sockaddr_storage *out)
{
	const struct cpe *c = f->cpe;
	const struct flownat_tuple *t = &f->nat->orig;

	if (!f->transparent || !c->client_source || !c->cfg->source)
		return false;
	/* a path of the other family: the flow follows the routes anyway */
	if (src && src->sa_family == t->family &&
	    !cpe_paths_main_route(c->paths, f->path))
		return false;
	cpe_tuple_addr(t->family, t->client, 0, out);
	return true;
}

/* The MPTCP connection to to (the concentrator, or in transparent mode
 * the destination), from src when a path was picked: the opening (and
 * first bytes) go in the SYN with MSG_FASTOPEN; if the kernel cannot put
 * them there, they follow the handshake. An IPv6 flow cannot start from
 * an IPv4 path's source (transparent mode): it follows the routes. */
static int open_mptcp(struct cpe_flow *f, const struct sockaddr *to, socklen_t to_len,
		      const struct sockaddr *src, socklen_t src_len, uint32_t ev)
{
	struct sockaddr_storage client;
	ssize_t n;
	int r;

	if ((f->sfd = sockopt_mptcp_client(to->sa_family,
					   f->cpe->cfg->fastopen)) < 0)
		return f->sfd;
	if (client_source(f, src, &client)) {
		src = (struct sockaddr *)&client;
		src_len = sa_len(&client);
		if ((r = sockopt_transparent(f->sfd, client.ss_family)) < 0)
			return r;
	}
	if (src && src->sa_family == to->sa_family &&
	    (r = sockopt_bind_source(f->sfd, src, src_len)) < 0)
		return r;
	if (f->cpe->cfg->fastopen && f->opening_len)
		n = sendto(f->sfd, f->opening, f->opening_len,
			   MSG_FASTOPEN | MSG_NOSIGNAL, to, to_len);
	else
		n = connect(f->sfd, to, to_len);
	if (n < 0 && errno != EINPROGRESS)
		return -errno;
	f->opening_off = n > 0 ? (size_t)n : 0;
	if (f->opening_off < f->opening_len)
		ev |= EPOLLOUT;
	return loop_add_fd(f->cpe->loop, f->sfd, ev, on_sock, f);
}

/* The plain-mode opening for this flow, or none in transparent mode. */
static int opening_for(struct cpe_flow *f, uint8_t *head, size_t cap)
{
	const struct cpe_config *cfg = f->cpe->cfg;
	struct sockaddr_storage client;
	const struct flownat_tuple *t = &f->nat->orig;

	if (cfg->mode == CPE_MODE_TRANSPARENT)
		return 0;
	cpe_tuple_addr(t->family, t->client, t->client_port, &client);
	return carrier_opening(cfg, (struct sockaddr *)&f->dst,
			       (struct sockaddr *)&client, head, cap);
}

/* The connection starts on the path cpe_paths_pick() names. Transparent
 * mode connects to the destination and waits for the connect (EPOLLOUT)
 * as direct flows do; plain mode connects to the concentrator and waits
 * for its answer (EPOLLIN). */
static int open_carrier(struct cpe_flow *f, const uint8_t *data, size_t dlen)
{
	const struct cpe_config *cfg = f->cpe->cfg;
	uint8_t head[CARRIER_OPENING_MAX];
	const struct sockaddr *src = NULL;
	socklen_t src_len = 0;
	enum cpe_pick pick =
		cpe_paths_pick(f->cpe->paths, &src, &src_len, &f->path);
	int hl = 0;

	f->open_us = now_us();
	if (pick == CPE_PICK_NONE && cfg->fail_mode == CPE_FAIL_CLOSED) {
		f->cpe->ctr.no_path++;
		return -ENETUNREACH;
	}
	if (pick != CPE_PICK_NONE && (hl = opening_for(f, head, sizeof(head))) < 0)
		return hl;
	if (!(f->opening = malloc((size_t)hl + dlen + 1)))
		return -ENOMEM;
	memcpy(f->opening, head, (size_t)hl);
	if (dlen)
		memcpy(f->opening + hl, data, dlen);
	f->opening_len = (size_t)hl + dlen;
	if (pick == CPE_PICK_NONE)
		return open_direct(f);
	f->transparent = cfg->mode == CPE_MODE_TRANSPARENT;
	cpe_flow_log(f, LOG_DEBUG, "opening (%s%s) via %s",
		     f->state == CF_CONNECTING ? "hold" : "fast",
		     f->transparent ? ", transparent" : "",
		     pick == CPE_PICK_PATH ? cpe_paths_name(f->cpe->paths, f->path)
					   : "the main routing table");
	if (f->transparent)
		return open_mptcp(f, (struct sockaddr *)&f->dst, sa_len(&f->dst),
				  src, src_len, EPOLLOUT);
	return open_mptcp(f, (const struct sockaddr *)&cfg->conc, cfg->conc_len,
			  src, src_len, EPOLLIN);
}

/* The answer. */

#define ERROR_CASE(name, code)                                                 \
	case code:                                                             \
		e->name++;                                                     \
		return;

static void count_error(struct cpe_errors *e, uint8_t code)
{
	switch (code) {
		CPE_STATS_ERRORS(ERROR_CASE)
	}
	e->other++;
}

static void answer_ok(struct cpe_flow *f, size_t consumed)
{
	size_t extra = f->answer_len - consumed;
	uint64_t us = now_us() - f->open_us;

	metrics_hist_observe(&f->cpe->connect, us);
	cpe_flow_log(f, LOG_DEBUG, "connected%s in %llu.%03llu ms",
		     f->direct ? " directly" : f->transparent ? " (transparent)" : "",
		     (unsigned long long)(us / 1000),
		     (unsigned long long)(us % 1000));

	if (extra) { /* the server spoke first and fast */
		if (!(f->stash = malloc(extra))) {
			flow_close(f, "out of memory", true, true);
			return;
		}
		memcpy(f->stash, f->answer + consumed, extra);
		f->stash_len = extra;
	}
	flownat_set_state(stack_nat(f->cpe->stack), f->nat, FLOWNAT_OPEN,
			  loop_now_ms(f->cpe->loop));
	if (f->state == CF_CONNECTING) {
		f->state = CF_ACCEPTING;
		set_sock_events(f, 0);
		stack_inject(f->cpe->stack, f->held, f->held_len);
		free(f->held);
		f->held = NULL;
		return;
	}
	f->state = CF_RELAY;
	flow_opened(f);
	relay(f);
}

static void answer_failed(struct cpe_flow *f, const struct carrier_answer *a)
{
	if (f->state == CF_CONNECTING) {
		refuse_held(f, a);
		return;
	}
	flow_failed(f);
	flow_close(f, a->why, true, false);
}

static void read_answer(struct cpe_flow *f)
{
	struct carrier_answer a;
	ssize_t n = recv(f->sfd, f->answer + f->answer_len,
			 sizeof(f->answer) - f->answer_len, 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		a = (struct carrier_answer){ .result = CARRIER_FAILED,
					     .why = n ? strerror(errno)
						      : "concentrator closed" };
		answer_failed(f, &a);
		return;
	}
	f->answer_len += (size_t)n;
	carrier_answer(f->cpe->cfg, f->answer, f->answer_len, &a);
	if (a.convert_error >= 0)
		count_error(&f->cpe->errors, (uint8_t)a.convert_error);
	if (a.result == CARRIER_MORE && f->answer_len == sizeof(f->answer))
		a = (struct carrier_answer){ .result = CARRIER_FAILED,
					     .why = "answer too long" };
	if (a.result == CARRIER_OK)
		answer_ok(f, a.consumed);
	else if (a.result != CARRIER_MORE)
		answer_failed(f, &a);
}

/* Relay: LAN -> socket. */

/* The flow's socket failed with err: a reset both ways, err in the log. */
static void sock_failed(struct cpe_flow *f, int err)
{
	char why[80];

	snprintf(why, sizeof(why), "%s: %s",
		 f->direct ? "destination" : "concentrator", strerror(err));
	flow_close(f, why, true, true);
}

static size_t chain_iov(struct pbuf *p, struct iovec *iov, int *n)
{
	size_t total = 0;

	for (*n = 0; p && *n < IOV_MAX_SEND; p = p->next, (*n)++) {
		iov[*n].iov_base = p->payload;
		iov[*n].iov_len = p->len;
		total += p->len;
	}
	return total;
}

/* Give lwIP its window back and drop what was sent, in u16 steps. */
static void consumed_up(struct cpe_flow *f, size_t n)
{
	f->cpe->ctr.bytes_up += n;
	f->bytes_up += n;
	while (n) {
		u16_t step = n > 0xffff ? 0xffff : (u16_t)n;
		if (f->pcb)
			tcp_recved(f->pcb, step);
		f->to_sock = pbuf_free_header(f->to_sock, step);
		n -= step;
	}
}

/* 0, or -1 when the flow was closed. */
static int lan_to_sock(struct cpe_flow *f)
{
	struct iovec iov[IOV_MAX_SEND];
	struct msghdr mh = { .msg_iov = iov };
	int niov;
	ssize_t n;

	while (f->to_sock) {
		chain_iov(f->to_sock, iov, &niov);
		mh.msg_iovlen = (size_t)niov;
		n = sendmsg(f->sfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			sock_failed(f, errno);
			return -1;
		}
		f->active_ms = loop_now_ms(f->cpe->loop);
		consumed_up(f, (size_t)n);
	}
	if (!f->to_sock && f->lan_eof && !f->sock_shut) {
		shutdown(f->sfd, SHUT_WR);
		f->sock_shut = true;
	}
	return 0;
}

/* Relay: socket -> LAN. */

static bool lwip_take(struct cpe_flow *f, const uint8_t *buf, size_t len)
{
	if (tcp_write(f->pcb, buf, (u16_t)len, TCP_WRITE_FLAG_COPY) != ERR_OK)
		return false;
	f->cpe->ctr.bytes_down += len;
	f->bytes_down += len;
	return true;
}

/* What lwIP may take now, 0 below REFILL_MIN. lwIP's tcp_write walks the
 * whole unsent queue on every call, so the relay keeps that queue at most
 * UNSENT_MAX long and adds to it in steps of REFILL_MIN or more; the rest
 * waits in the socket, whose window then holds the concentrator back. */
static size_t room(struct cpe_flow *f)
{
	size_t r = tcp_sndbuf(f->pcb);
	uint32_t unsent = f->pcb->snd_lbb - f->pcb->snd_nxt;

	/* tcp_write also needs pbufs from a bounded queue. */
	if (tcp_sndqueuelen(f->pcb) + 8 >= TCP_SND_QUEUELEN || unsent >= UNSENT_MAX)
		return 0;
	if (r > UNSENT_MAX - unsent)
		r = UNSENT_MAX - unsent;
	if (r > 0xffff)
		r = 0xffff;
	return r < REFILL_MIN ? 0 : r;
}

static int flush_stash(struct cpe_flow *f)
{
	while (f->stash) {
		size_t n = f->stash_len - f->stash_off, r = room(f);
		if (n > r)
			n = r;
		if (!n || !lwip_take(f, f->stash + f->stash_off, n))
			return 0;
		f->stash_off += n;
		if (f->stash_off == f->stash_len) {
			free(f->stash);
			f->stash = NULL;
			f->stash_len = f->stash_off = 0;
		}
	}
	return 1;
}

static int stash(struct cpe_flow *f, const uint8_t *buf, size_t len)
{
	if (!(f->stash = malloc(len)))
		return -1;
	memcpy(f->stash, buf, len);
	f->stash_len = len;
	f->stash_off = 0;
	return 0;
}

/* 0, or -1 when the flow was closed. */
static int sock_to_lan(struct cpe_flow *f)
{
	for (int i = 0; i < RELAY_ROUNDS && flush_stash(f) && !f->sock_eof; i++) {
		size_t r = room(f);
		ssize_t n;
		if (!r || f->sock_dry)
			break;
		if (r > sizeof(relay_buf))
			r = sizeof(relay_buf);
		n = recv(f->sfd, relay_buf, r, 0);
		if (n < 0 && errno == EAGAIN)
			f->sock_dry = true;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0) {
			sock_failed(f, errno);
			return -1;
		}
		/* A short read emptied the socket (or nearly: EPOLLIN tells). */
		f->sock_dry = (size_t)n < r;
		if (n == 0) {
			f->sock_eof = true;
			break;
		}
		f->active_ms = loop_now_ms(f->cpe->loop);
		if (!lwip_take(f, relay_buf, (size_t)n) && stash(f, relay_buf, (size_t)n) < 0) {
			flow_close(f, "out of memory", true, true);
			return -1;
		}
	}
	if (f->sock_eof && !f->stash && !f->lan_shut) {
		tcp_shutdown(f->pcb, 0, 1);
		f->lan_shut = true;
	}
	tcp_output(f->pcb);
	return 0;
}

static void relay(struct cpe_flow *f)
{
	uint32_t ev = 0;

	if (!f->pcb || lan_to_sock(f) < 0 || sock_to_lan(f) < 0)
		return;
	if (f->lan_eof && f->sock_eof && f->lan_shut && f->sock_shut) {
		flow_close(f, "done", false, false);
		return;
	}
	if (!f->sock_eof && !f->stash && room(f))
		ev |= EPOLLIN;
	if (f->to_sock)
		ev |= EPOLLOUT;
	set_sock_events(f, ev);
}

/* Fail-open and transparent mode: the connection's outcome is its answer,
 * once the client's first bytes (fast) are all sent. */
static void direct_connected(struct cpe_flow *f)
{
	int err = sockopt_so_error(f->sfd), r;
	struct carrier_answer a = { .result = CARRIER_FAILED };

	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (!err && (r = send_opening(f)) < 0)
		err = -r;
	if (!err && f->opening_off < f->opening_len)
		return; /* the rest at the next EPOLLOUT */
	switch (err) {
	case 0:
		answer_ok(f, 0);
		return;
	case ECONNREFUSED:
		a.result = CARRIER_REFUSED;
		break;
	case ENETUNREACH:
	case EHOSTUNREACH:
		a.result = CARRIER_UNREACHABLE;
		a.icmp_code = err == ENETUNREACH ? 0 : 1;
		break;
	default:
		break;
	}
	a.why = strerror(err);
	answer_failed(f, &a);
}

/* Socket events. */

static void on_sock(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct cpe_flow *f = arg;
	int r;

	switch (f->state) {
	case CF_CONNECTING:
	case CF_FAST_CONNECTING:
		if (f->direct || f->transparent) {
			direct_connected(f);
			return;
		}
		if ((r = send_opening(f)) < 0) {
			struct carrier_answer a = { .result = CARRIER_FAILED,
						    .why = strerror(-r) };
			answer_failed(f, &a);
			return;
		}
		if (f->opening_off == f->opening_len)
			set_sock_events(f, EPOLLIN);
		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			read_answer(f);
		break;
	case CF_RELAY:
		/* Level-triggered: with EPOLLIN armed, bytes that came after
		 * a recv() found none are reported at the next turn. */
		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			f->sock_dry = false;
		relay(f);
		break;
	default:
		if (ev & (EPOLLERR | EPOLLHUP))
			flow_close(f, "concentrator gone", true, true);
		break;
	}
}

/* lwIP callbacks. Each returns ERR_ABRT when its pcb was aborted. */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct cpe_flow *f = arg;

	if (!p) {
		f->lan_eof = true;
	} else if (f->to_sock) {
		pbuf_cat(f->to_sock, p);
	} else {
		f->to_sock = p;
	}
	if (f->state == CF_FAST_WAIT) {
		loop_timer_disarm(f->cpe->loop, &f->fast_timer);
		fast_open(f);
	} else if (f->state == CF_RELAY) {
		relay(f);
	}
	return f->pcb_aborted ? ERR_ABRT : ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct cpe_flow *f = arg;

	if (f->state == CF_RELAY)
		relay(f);
	return f->pcb_aborted ? ERR_ABRT : ERR_OK;
}

/* lwIP freed the pcb (a reset from the LAN, or retransmissions gave up). */
static void on_err(void *arg, err_t err)
{
	struct cpe_flow *f = arg;

	if (!f)
		return;
	f->pcb = NULL;
	flow_close(f, err == ERR_RST ? "LAN reset" : "LAN timeout", false, true);
}

/* Fast mode: the client's first bytes go in the MPTCP SYN with the opening. */

#define FAST_FIRST_MAX 1200 /* with the opening, about one MSS */

static void fast_open(struct cpe_flow *f)
{
	uint8_t first[FAST_FIRST_MAX];
	size_t n = 0;
	int r;

	if (f->to_sock)
		n = pbuf_copy_partial(f->to_sock, first, sizeof(first), 0);
	f->state = CF_FAST_CONNECTING;
	f->deadline_ms = loop_now_ms(f->cpe->loop) + f->cpe->cfg->connect_timeout_ms;
	if ((r = open_carrier(f, first, n)) < 0) {
		flow_failed(f);
		flow_close(f, strerror(-r), true, false);
		return;
	}
	if (n)
		consumed_up(f, n);
}

static int64_t on_fast_timer(struct loop *l, void *arg)
{
	struct cpe_flow *f = arg;

	if (f->state == CF_FAST_WAIT)
		fast_open(f); /* server-speaks-first protocols: open without data */
	return LOOP_TIMER_STOP;
}

/* Hooks from the stack. */


static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n);

	if (d)
		memcpy(d, p, n);
	return d;
}

static void reject_syn(struct cpe *c, struct flownat_entry *e,
		       const uint8_t *syn, size_t len)
{
	uint8_t pkt[128];
	size_t n = flownat_make_rst(syn, len, pkt, sizeof(pkt));

	if (n)
		stack_send_lan(c->stack, pkt, n);
	flownat_remove(stack_nat(c->stack), e);
}

static struct cpe_flow *flow_new(struct cpe *c, struct flownat_entry *e,
				 struct host_entry *h)
{
	struct cpe_flow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->host = h;
	f->pending = true;
	h->flows++;
	h->pending++;
	f->cpe = c;
	f->id = c->next_id++;
	f->sfd = -1;
	f->nat = e;
	e->owner = f;
	cpe_tuple_addr(e->orig.family, e->orig.dst, e->orig.dst_port, &f->dst);
	f->start_ms = f->active_ms = loop_now_ms(c->loop);
	f->deadline_ms = f->active_ms + c->cfg->connect_timeout_ms;
	f->next = c->flows;
	if (c->flows)
		c->flows->prev = f;
	c->flows = f;
	c->n_flows++;
	c->ctr.total++;
	return f;
}

static void on_new_flow(void *arg, struct flownat_entry *e, const uint8_t *syn,
			size_t syn_len, const uint8_t *rw, size_t rw_len)
{
	struct cpe *c = arg;
	struct carrier_answer fail = { .result = CARRIER_FAILED };
	struct cpe_flow *f;
	int r = 0;

	struct host_entry *h;

	if (c->n_flows >= c->cfg->max_flows) {
		c->ctr.rejected_limit++;
		reject_syn(c, e, syn, syn_len);
		return;
	}
	/* one LAN host must not starve the others (a SYN flood, a scanner) */
	if (!(h = hostcount_get(&c->hosts, e->orig.family, e->orig.client))) {
		reject_syn(c, e, syn, syn_len);
		return;
	}
	if (h->flows >= c->cfg->max_flows_per_host ||
	    h->pending >= c->cfg->max_pending_per_host) {
		c->ctr.rejected_host++;
		reject_syn(c, e, syn, syn_len);
		return;
	}
	if (!(f = flow_new(c, e, h))) {
		hostcount_put(&c->hosts, h);
		reject_syn(c, e, syn, syn_len);
		return;
	}
	f->syn = dup_bytes(syn, syn_len);
	f->syn_len = syn_len;
	if (c->cfg->open_mode == CPE_OPEN_FAST) {
		f->state = CF_FAST_ACCEPTING;
		flownat_set_state(stack_nat(c->stack), e, FLOWNAT_OPEN, f->active_ms);
		stack_inject(c->stack, rw, rw_len);
		return;
	}
	f->state = CF_CONNECTING;
	f->held = dup_bytes(rw, rw_len);
	f->held_len = rw_len;
	if (!f->syn || !f->held || (r = open_carrier(f, NULL, 0)) < 0) {
		fail.why = r == -ENETUNREACH ? "no path is up (health.fail: closed)"
					     : "cannot open the MPTCP connection";
		refuse_held(f, &fail);
	}
}

static int64_t on_relay_start(struct loop *l, void *arg)
{
	struct cpe_flow *f = arg;

	if (f->state == CF_RELAY)
		relay(f);
	return LOOP_TIMER_STOP;
}

static int on_accept(void *arg, struct tcp_pcb *pcb, struct flownat_entry *e)
{
	struct cpe_flow *f = e->owner;
	uint32_t mss_max;

	if (f->state != CF_ACCEPTING && f->state != CF_FAST_ACCEPTING) {
		tcp_abort(pcb);
		return -1;
	}
	f->pcb = pcb;
	tcp_arg(pcb, f);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb);
	/* No segment larger than the TUN's MTU: lwIP lowers the MSS to its
	 * route's MTU, but not always (fuzz_cpe_packets found an IPv6 flow
	 * sending 1,460-byte segments at MTU 1500; corpus crash-mss-ipv6). */
	mss_max = f->cpe->cfg->tun_mtu - (IP_IS_V6(&pcb->remote_ip) ? 60u : 40u);
	if (pcb->mss > mss_max)
		pcb->mss = (u16_t)mss_max;
	/* lwIP starts a pcb's retransmission timeout at 3 s and brings it down
	 * with each round trip it times; RFC 6298 starts at 1 s. */
	pcb->rto = pcb->sv = 1000 / TCP_SLOW_INTERVAL;
	if (f->state == CF_FAST_ACCEPTING) {
		f->state = CF_FAST_WAIT;
		loop_timer_arm(f->cpe->loop, &f->fast_timer, f->cpe->cfg->fast_wait_ms,
			       on_fast_timer, f);
		return 0;
	}
	f->state = CF_RELAY;
	flow_opened(f);
	/* Not from inside lwIP's accept: the handshake's ACK may carry a FIN,
	 * and lwIP sets CLOSE_WAIT after this callback, over the FIN_WAIT_1 of
	 * a tcp_shutdown() done here; a second FIN followed (found by
	 * fuzz_cpe_packets). The relay starts on the loop's next round. */
	loop_timer_arm(f->cpe->loop, &f->fast_timer, 0, on_relay_start, f);
	return 0;
}

/* Timeouts. */

static void flow_timeout(struct cpe_flow *f)
{
	struct carrier_answer a = { .result = CARRIER_FAILED,
				    .why = "connect timeout" };

	switch (f->state) {
	case CF_CONNECTING:
		refuse_held(f, &a);
		break;
	case CF_RELAY:
		flow_close(f, "idle timeout", true, true);
		break;
	default:
		flow_failed(f);
		flow_close(f, "timeout while opening", true, true);
		break;
	}
}

static int64_t on_sweep(struct loop *l, void *arg)
{
	struct cpe *c = arg;
	uint64_t now = loop_now_ms(l);
	struct cpe_flow *f, *next;

	for (f = c->flows; f; f = next) {
		next = f->next;
		if (f->state == CF_RELAY ? now - f->active_ms >= c->cfg->idle_timeout_ms
					 : now >= f->deadline_ms)
			flow_timeout(f);
	}
	flownat_expire(stack_nat(c->stack), now);
	return 250;
}

/* What lwIP expects next from the client: its pcb's rcv_nxt, or before
 * lwIP has handed the pcb over (the handshake), the LAN SYN's seq + 1. */
static bool flow_rcv_nxt(void *arg, struct flownat_entry *e, uint32_t *seq)
{
	struct cpe_flow *f = e->owner;

	if (!f)
		return false;
	if (f->pcb) {
		*seq = f->pcb->rcv_nxt;
		return true;
	}
	if (!f->syn) /* out of memory when the SYN came */
		return false;
	*seq = flownat_tcp_seq(f->syn) + 1;
	return true;
}

/* A pure ACK with SACK blocks reports a hole; two things keep lwIP from
 * taking it as a duplicate ACK towards fast retransmit:
 * - lwIP counts a duplicate ACK only while the window stays the same (RFC
 *   5681's definition), and Linux grows its window as the application
 *   reads while it waits for the lost segment: the window update is made
 *   here, as lwIP itself makes it, so lwIP then sees it unchanged;
 * - lwIP waits for three, and the LAN host answers a 64 KiB offload write
 *   with one ACK, not 45: with three segments or more named by the SACK
 *   blocks the ACK counts as the third (RFC 6675's DupThresh in bytes).
 * Without them every segment lost towards the LAN cost a retransmission
 * timeout. */
static void flow_sack_ack(void *arg, struct flownat_entry *e, uint32_t seq,
			  uint32_t ack, uint16_t wnd, uint32_t hole_end,
			  uint32_t sacked)
{
	struct cpe_flow *f = e->owner;
	struct tcp_pcb *pcb;
	tcpwnd_size_t w;

	if (f)
		f->hole_end = hole_end;
	if (!f || !(pcb = f->pcb) ||
	    (pcb->state != ESTABLISHED && pcb->state != CLOSE_WAIT) ||
	    ack != pcb->lastack || ack != pcb->snd_wl2 ||
	    TCP_SEQ_LT(seq, pcb->snd_wl1))
		return;
	w = SND_WND_SCALE(pcb, (tcpwnd_size_t)wnd);
	if (w > pcb->snd_wnd) {
		pcb->snd_wnd = w;
		if (pcb->snd_wnd_max < w)
			pcb->snd_wnd_max = w;
		pcb->snd_wl1 = seq;
	}
	if (!(pcb->flags & TF_INFR) && sacked >= 3u * pcb->mss && pcb->dupacks < 2)
		pcb->dupacks = 2;
}

#define HOLE_SEGS_MAX 64

static uint32_t seg_seq(const struct tcp_seg *s)
{
	return lwip_ntohl(s->tcphdr->seqno);
}

/* Queue again what the LAN is missing and was not sent again yet in this
 * recovery: the unacknowledged segments from lastack or rexmit_end on
 * that lie in the hole the LAN's last SACK shows (the one at lastack
 * always), at most HOLE_SEGS_MAX. What lwIP's tcp_rexmit() does for one
 * segment, for the run (unacked is in sequence order; unsent stays so): a
 * 64 KiB offload write lost whole is a hole of 45 segments, which one
 * segment per round trip took long to fill. true when something was
 * queued. */
static bool requeue_hole(struct cpe_flow *f, struct tcp_pcb *pcb)
{
	uint32_t from = pcb->lastack;
	struct tcp_seg *first, *last = NULL, *s, **at;
	int n = 0;

	if (TCP_SEQ_GT(f->rexmit_end, from))
		from = f->rexmit_end;
	for (at = &pcb->unacked; *at && TCP_SEQ_LT(seg_seq(*at), from);)
		at = &(*at)->next;
	first = *at;
	for (s = first; s && n < HOLE_SEGS_MAX && s->p->ref == 1; s = s->next, n++) {
		if (seg_seq(s) != pcb->lastack &&
		    TCP_SEQ_GT(seg_seq(s) + TCP_TCPLEN(s), f->hole_end))
			break;
		last = s;
	}
	if (!last)
		return false;
	f->rexmit_end = seg_seq(last) + TCP_TCPLEN(last);
	*at = last->next;
	at = &pcb->unsent;
	while (*at && TCP_SEQ_LT(seg_seq(*at), seg_seq(first)))
		at = &(*at)->next;
	last->next = *at;
	*at = first;
#if TCP_OVERSIZE
	if (!last->next)
		pcb->unsent_oversize = 0;
#endif
	pcb->rttest = 0;
	return true;
}

/* lwIP's fast recovery is Reno's: the first ACK of new data ends it, so
 * when a window lost two segments the second waited for the retransmission
 * timeout (no more duplicate ACKs come: what was in flight has been
 * acknowledged twice already). NewReno's rule (RFC 6582) instead: an ACK
 * short of what was sent when recovery began keeps recovery going and
 * sends the next hole at once. Each time, the whole hole the LAN's SACK
 * blocks show goes (requeue_hole), not only its first segment; at
 * recovery's start lwIP's fast retransmit has sent that one already. true
 * when segments were queued again. */
static bool flow_lan_input_done(void *arg, struct flownat_entry *e)
{
	struct cpe_flow *f = e->owner;
	struct tcp_pcb *pcb;
	bool sent;

	if (!f || !(pcb = f->pcb))
		return false;
	if (pcb->flags & TF_INFR) {
		if (f->recovering)
			return false;
		f->recovering = true;
		f->recover = pcb->snd_nxt;
		f->rexmit_end = pcb->lastack;
		if (pcb->unacked && seg_seq(pcb->unacked) == pcb->lastack)
			f->rexmit_end += TCP_TCPLEN(pcb->unacked);
		if ((pcb->flags & TF_RTO) || !requeue_hole(f, pcb))
			return false;
		tcp_output(pcb);
		return true;
	}
	if (!f->recovering)
		return false;
	if ((pcb->flags & TF_RTO) || !pcb->unacked ||
	    TCP_SEQ_GEQ(pcb->lastack, f->recover)) {
		f->recovering = false;
		return false;
	}
	tcp_set_flags(pcb, TF_INFR);
	pcb->rtime = 0;
	sent = requeue_hole(f, pcb);
	if (sent)
		tcp_output(pcb);
	return sent;
}

int cpe_flows_init(struct cpe *c, struct stack_hooks *hooks)
{
	hooks->new_flow = on_new_flow;
	hooks->accept = on_accept;
	hooks->rcv_nxt = flow_rcv_nxt;
	hooks->sack_ack = flow_sack_ack;
	hooks->lan_input_done = flow_lan_input_done;
	hooks->arg = c;
	if (hostcount_init(&c->hosts, c->cfg->max_flows / 4) < 0)
		return -ENOMEM;
	loop_timer_arm(c->loop, &c->sweep, 250, on_sweep, c);
	return 0;
}

void cpe_flows_destroy(struct cpe *c)
{
	hostcount_destroy(&c->hosts);
}
