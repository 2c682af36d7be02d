/* The opening of a flow: tell Convert from SOCKS by the first byte, decode,
 * authorise, check the destination, connect, answer. */
#include "conc_flow.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "resolve.h"
#include "sockopt.h"
#include "socks.h"

#define RETRY_AFTER_S 5 /* value of Resource Exceeded / Network Failure */

static void flow_connect(struct conc_flow *f);

/* Answers. */

static uint8_t socks5_code(uint8_t convert_code, uint8_t value)
{
	switch (convert_code) {
	case CONVERT_E_CONNECTION_RESET:
		return SOCKS5_CONN_REFUSED;
	case CONVERT_E_DEST_UNREACHABLE:
		return value == 0 ? SOCKS5_NET_UNREACHABLE
				  : SOCKS5_HOST_UNREACHABLE;
	case CONVERT_E_NOT_AUTHORIZED:
	case CONVERT_E_MALFORMED:
		return SOCKS5_NOT_ALLOWED;
	case CONVERT_E_NETWORK_FAILURE:
		return SOCKS5_HOST_UNREACHABLE;
	default:
		return SOCKS5_GENERAL_FAILURE;
	}
}

/* Answer with an error in the flow's protocol, FIN, then drain. */
static void flow_refuse(struct conc_flow *f, uint8_t code, const uint8_t *value,
			size_t value_len, const char *why)
{
	struct convert_builder b;
	int n;

	if (f->proto == FLOW_TRANSPARENT) {
		/* No header, so no Error TLV: a reset says the connect
		 * failed, as it would without a concentrator on the path. */
		CONC_STAT_INC(&f->w->stats, transparent_reset);
		flow_log(f, "reset (%s): %s", convert_error_name(code), why);
		flow_close(f, why, true, false);
		return;
	}
	flow_log(f, "refused (%s): %s", convert_error_name(code), why);
	if (f->proto == FLOW_CONVERT) {
		conc_stats_convert_error(&f->w->stats, code);
		convert_begin(&b);
		if (convert_put_error(&b, code, value, value_len) < 0)
			convert_put_error(&b, code, NULL, 0);
		n = (int)convert_finish(&b);
		memcpy(f->reply, b.buf, (size_t)n);
	} else if (f->proto == FLOW_SOCKS5) {
		uint8_t s5 = socks5_code(code, value_len ? value[0] : 1);
		conc_stats_socks5_reply(&f->w->stats, s5);
		n = socks5_encode_reply(f->reply, sizeof(f->reply), s5, NULL);
	} else {
		CONC_STAT_INC(&f->w->stats, s4_rejected);
		n = socks4_encode_reply(f->reply, sizeof(f->reply),
					SOCKS4_REJECTED, NULL);
	}
	flow_finish(f, n > 0 ? (size_t)n : 0);
}

static void refuse_code(struct conc_flow *f, uint8_t code, uint8_t value,
			const char *why)
{
	flow_refuse(f, code, &value, 1, why);
}

/* The options of the server's SYN-ACK that TCP_INFO lets us know. */
static size_t synack_options(int fd, uint8_t *o)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	size_t n = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	o[n++] = 2, o[n++] = 4; /* MSS */
	o[n++] = (uint8_t)(ti.tcpi_snd_mss >> 8), o[n++] = (uint8_t)ti.tcpi_snd_mss;
	if (ti.tcpi_options & TCPI_OPT_SACK)
		o[n++] = 4, o[n++] = 2;
	if (ti.tcpi_options & TCPI_OPT_WSCALE)
		o[n++] = 3, o[n++] = 3, o[n++] = ti.tcpi_snd_wscale;
	return n;
}

/* The success answer, queued before any relayed byte. */
static size_t success_reply(struct conc_flow *f)
{
	struct convert_builder b;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	uint8_t opts[16];
	int n;

	if (f->proto == FLOW_TRANSPARENT)
		return 0;
	if (f->proto == FLOW_CONVERT) {
		convert_begin(&b);
		convert_put_ext_tcp_hdr(&b, opts, synack_options(f->sfd, opts));
		n = (int)convert_finish(&b);
		memcpy(f->reply, b.buf, (size_t)n);
		return (size_t)n;
	}
	if (getsockname(f->sfd, (struct sockaddr *)&bound, &blen) < 0)
		bound.ss_family = AF_UNSPEC;
	if (f->proto == FLOW_SOCKS5)
		n = socks5_encode_reply(f->reply, sizeof(f->reply),
					SOCKS5_SUCCEEDED,
					bound.ss_family == AF_UNSPEC ? NULL : (struct sockaddr *)&bound);
	else
		n = socks4_encode_reply(f->reply, sizeof(f->reply), SOCKS4_GRANTED,
					bound.ss_family == AF_INET ? (struct sockaddr *)&bound : NULL);
	return n > 0 ? (size_t)n : 0;
}

/* Small answers during a SOCKS5 negotiation: the socket's buffer is empty
 * then, so a short write means the client is gone. */
static bool send_small(struct conc_flow *f, const uint8_t *buf, int n)
{
	if (n > 0 && send(f->cfd, buf, (size_t)n, MSG_NOSIGNAL) == n)
		return true;
	CONC_STAT_INC(&f->w->stats, header_closed);
	flow_close(f, "client gone during negotiation", true, false);
	return false;
}

/* Policy, then connect. Every request ends up here. */
static void flow_request(struct conc_flow *f)
{
	const struct conc_config *c = f->w->acl.cfg;
	int code;

	flow_account(f, NULL);
	if (!conc_acl_client_allowed(&f->w->acl, (struct sockaddr *)&f->peer)) {
		CONC_STAT_INC(&f->w->stats, refused_client);
		refuse_code(f, CONVERT_E_NOT_AUTHORIZED, 0, "client not in clients.allow");
		return;
	}
	if (!f->counted) {
		refuse_code(f, CONVERT_E_RESOURCE_EXCEEDED, RETRY_AFTER_S, "flow limit");
		return;
	}
	code = conc_acl_check(&f->w->acl, (struct sockaddr *)&f->dst);
	if (code) {
		refuse_code(f, (uint8_t)code, 0, "destination refused by egress policy");
		return;
	}
	f->deadline_ms = loop_now_ms(f->w->loop) + c->connect_timeout_ms;
	flow_connect(f);
}

/* dst = sa (v4-mapped becomes IPv4) with port. */
static void set_dst(struct conc_flow *f, const struct sockaddr *sa, uint16_t port)
{
	addr_unmap(sa, &f->dst, &f->dst_len);
	if (f->dst.ss_family == AF_INET)
		((struct sockaddr_in *)&f->dst)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&f->dst)->sin6_port = htons(port);
}

static void on_resolved(void *arg, int status, const struct sockaddr *sa,
			socklen_t len)
{
	struct conc_flow *f = arg;

	if (status) {
		refuse_code(f, CONVERT_E_DEST_UNREACHABLE, 1, "host name not resolved");
		return;
	}
	set_dst(f, sa, addr_port((struct sockaddr *)&f->dst));
	flow_request(f);
}

/* SOCKS requests: an address, or a name to resolve first. */
static void socks_request(struct conc_flow *f, const struct socks_request *rq)
{
	struct in6_addr any = IN6ADDR_ANY_INIT;

	if (rq->cmd != SOCKS_CMD_CONNECT) {
		uint8_t code = f->proto == FLOW_SOCKS5 ? SOCKS5_CMD_UNSUPPORTED
						       : SOCKS4_REJECTED;
		int n = f->proto == FLOW_SOCKS5
				? socks5_encode_reply(f->reply, sizeof(f->reply), code, NULL)
				: socks4_encode_reply(f->reply, sizeof(f->reply), code, NULL);
		if (f->proto == FLOW_SOCKS5)
			conc_stats_socks5_reply(&f->w->stats, code);
		else
			CONC_STAT_INC(&f->w->stats, s4_rejected);
		flow_finish(f, n > 0 ? (size_t)n : 0);
		return;
	}
	addr_from_in6(rq->is_name ? &any : &rq->addr, rq->port, &f->dst, &f->dst_len);
	if (!rq->is_name) {
		flow_request(f);
		return;
	}
	struct sockaddr_storage lit;
	socklen_t lit_len;
	if (addr_parse_host(rq->name, &lit, &lit_len)) {
		set_dst(f, (struct sockaddr *)&lit, rq->port);
		flow_request(f);
		return;
	}
	f->state = FLOW_RESOLVING;
	flow_set_events(f, f->cfd, 0);
	f->deadline_ms = loop_now_ms(f->w->loop) + f->w->acl.cfg->connect_timeout_ms;
	if (resolver_lookup(f->w->res, rq->name, on_resolved, f, &f->req) < 0)
		refuse_code(f, CONVERT_E_RESOURCE_EXCEEDED, RETRY_AFTER_S, "out of memory");
}

/* Convert. */

/* TCP options a client may ask for in an extended Connect: the kernel
 * negotiates these itself. */
static bool option_ok(uint8_t kind)
{
	return kind == 2 || kind == 3 || kind == 4 || kind == 8 || kind == 30 ||
	       kind == 34;
}

static bool check_connect_opts(struct conc_flow *f, const struct convert_msg *m)
{
	uint8_t bad[CONVERT_OPT_MAX];
	size_t nbad = 0;

	for (size_t i = 0; i + 1 < m->connect_opts_len;) {
		uint8_t kind = m->connect_opts[i], len = m->connect_opts[i + 1];
		if (!kind)
			break; /* padding */
		if (!option_ok(kind))
			bad[nbad++] = kind;
		i += len;
	}
	if (!nbad)
		return true;
	flow_refuse(f, CONVERT_E_UNSUPPORTED_TCP_OPTION, bad, nbad,
		    "unsupported TCP option in Connect");
	return false;
}

/* Malformed Message, its value the offending TLV (RFC 8803 section 5). */
static void refuse_tlv(struct conc_flow *f, uint8_t type, const char *why)
{
	const uint8_t *tlv;
	size_t off = CONVERT_HDR_LEN, len;

	while (convert_tlv_next(f->in, f->in_used, &off, &tlv, &len))
		if (tlv[0] == type) {
			flow_refuse(f, CONVERT_E_MALFORMED, tlv, len, why);
			return;
		}
	flow_refuse(f, CONVERT_E_MALFORMED, NULL, 0, why);
}

static void convert_info_reply(struct conc_flow *f)
{
	static const uint8_t kinds[] = { 3, 4, 8, 30 };
	struct convert_builder b;

	CONC_STAT_INC(&f->w->stats, info);
	convert_begin(&b);
	convert_put_supported_ext(&b, kinds, sizeof(kinds));
	size_t n = convert_finish(&b);
	memcpy(f->reply, b.buf, n);
	flow_finish(f, n);
}

static void convert_message(struct conc_flow *f, const struct convert_msg *m)
{
	const uint32_t refused = CONVERT_HAS_EXT_TCP_HDR | CONVERT_HAS_SUPPORTED_EXT |
				 CONVERT_HAS_ERROR;
	char why[96 + AUTH_ID_STRLEN], id[AUTH_ID_STRLEN] = "";

	if (m->present & refused) {
		refuse_code(f, CONVERT_E_UNSUPPORTED_MESSAGE, 0,
			    "TLV a converter does not accept");
		return;
	}
	/* Before any connect, with the worker's config of the moment: a key
	 * removed by a reload is refused from then on. An Info request
	 * without Connect (the health probe) needs no Auth. */
	if ((m->present & (CONVERT_HAS_AUTH | CONVERT_HAS_CONNECT)) &&
	    !auth_opening_id(&f->w->acl.cfg->auth, f->in, f->in_used, id,
			     sizeof(id), why, sizeof(why))) {
		refuse_code(f, CONVERT_E_NOT_AUTHORIZED, 0, why);
		return;
	}
	flow_account(f, id);
	if (!(m->present & CONVERT_HAS_CONNECT)) {
		if (m->present & CONVERT_HAS_INFO)
			convert_info_reply(f);
		else
			refuse_code(f, CONVERT_E_MALFORMED, 0, "no Connect TLV");
		return;
	}
	if (!check_connect_opts(f, m))
		return;
	if ((m->present & CONVERT_HAS_SOURCE) &&
	    !flow_source_tlv(f, m)) {
		refuse_tlv(f, CONVERT_TLV_SOURCE, "bad Source TLV");
		return;
	}
	addr_from_in6(&m->connect_addr, m->connect_port, &f->dst, &f->dst_len);
	flow_request(f);
}

static void opening_convert(struct conc_flow *f)
{
	struct convert_msg *m = malloc(sizeof(*m));
	struct convert_fault fault;
	size_t used;

	if (!m) {
		flow_close(f, "out of memory", true, false);
		return;
	}
	switch (convert_decode(f->in, f->in_len, m, &used, &fault)) {
	case CONVERT_SHORT:
		break;
	case CONVERT_BAD:
		flow_refuse(f, fault.code, fault.value, fault.value_len, fault.reason);
		break;
	case CONVERT_OK:
		f->in_used = used;
		convert_message(f, m);
		break;
	}
	free(m);
}

/* SOCKS. */

static bool socks_user_ok(const struct conc_config *c,
			  const struct socks5_userpass *up)
{
	bool ok = false;

	for (size_t i = 0; i < c->n_socks_users; i++) {
		const struct conc_socks_user *u = &c->socks_users[i];
		size_t plen = strlen(u->password);
		unsigned diff = (unsigned)(plen ^ up->pass_len);
		/* Same time whatever the password: compare all bytes. */
		for (size_t j = 0; j < up->pass_len; j++)
			diff |= (unsigned)(up->pass[j] ^ (j < plen ? u->password[j] : 0));
		if (!strcmp(u->name, up->user) && !diff)
			ok = true;
	}
	return ok;
}

static void consume(struct conc_flow *f, size_t n)
{
	memmove(f->in, f->in + n, f->in_len - n);
	f->in_len -= n;
}

/* The next SOCKS5 step; bytes the client pipelined are looked at now. */
static void s5_next(struct conc_flow *f, enum flow_state st)
{
	f->state = st;
	if (f->in_len)
		flow_opening_on_io(f, -1, 0);
}

static void s5_greeting(struct conc_flow *f)
{
	const struct conc_config *c = f->w->acl.cfg;
	struct socks5_greeting g;
	const char *why;
	size_t used;
	uint8_t method;
	uint8_t buf[2];

	switch (socks5_parse_greeting(f->in, f->in_len, &g, &used, &why)) {
	case SOCKS_SHORT:
		return;
	case SOCKS_BAD:
		CONC_STAT_INC(&f->w->stats, s5_bad_opening);
		flow_close(f, why, false, false);
		return;
	case SOCKS_OK:
		break;
	}
	consume(f, used);
	method = c->n_socks_users ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	if (!c->socks_enabled || !socks5_greeting_offers(&g, method)) {
		CONC_STAT_INC(&f->w->stats, s5_no_method);
		flow_finish(f, (size_t)socks5_encode_method(f->reply, sizeof(f->reply),
							    SOCKS5_METHOD_UNACCEPTABLE));
		return;
	}
	if (!send_small(f, buf, socks5_encode_method(buf, sizeof(buf), method)))
		return;
	s5_next(f, method == SOCKS5_METHOD_USERPASS ? FLOW_S5_AUTH : FLOW_S5_REQUEST);
}

static void s5_auth(struct conc_flow *f)
{
	struct socks5_userpass up;
	const char *why;
	size_t used;
	uint8_t buf[2];
	bool ok;

	switch (socks5_parse_userpass(f->in, f->in_len, &up, &used, &why)) {
	case SOCKS_SHORT:
		return;
	case SOCKS_BAD:
		CONC_STAT_INC(&f->w->stats, s5_bad_opening);
		flow_close(f, why, false, false);
		return;
	case SOCKS_OK:
		break;
	}
	consume(f, used);
	ok = socks_user_ok(f->w->acl.cfg, &up);
	explicit_bzero(&up, sizeof(up));
	if (!ok) {
		CONC_STAT_INC(&f->w->stats, s5_auth_failed);
		flow_finish(f, (size_t)socks5_encode_userpass_status(
				       f->reply, sizeof(f->reply), false));
		return;
	}
	if (!send_small(f, buf, socks5_encode_userpass_status(buf, sizeof(buf), true)))
		return;
	s5_next(f, FLOW_S5_REQUEST);
}

static void s5_request(struct conc_flow *f)
{
	struct socks_request rq;
	const char *why;
	size_t used;
	uint8_t code = SOCKS5_GENERAL_FAILURE;

	switch (socks5_parse_request(f->in, f->in_len, &rq, &used, &why, &code)) {
	case SOCKS_SHORT:
		return;
	case SOCKS_BAD:
		conc_stats_socks5_reply(&f->w->stats, code);
		flow_finish(f, (size_t)socks5_encode_reply(f->reply, sizeof(f->reply),
							   code, NULL));
		return;
	case SOCKS_OK:
		break;
	}
	f->in_used = used;
	socks_request(f, &rq);
}

static void s4_request(struct conc_flow *f)
{
	const struct conc_config *c = f->w->acl.cfg;
	struct socks_request rq;
	const char *why;
	size_t used;

	switch (socks4_parse_request(f->in, f->in_len, &rq, &used, &why)) {
	case SOCKS_SHORT:
		return;
	case SOCKS_BAD:
		CONC_STAT_INC(&f->w->stats, socks4);
		refuse_code(f, CONVERT_E_MALFORMED, 0, why);
		return;
	case SOCKS_OK:
		break;
	}
	if (rq.is_name)
		CONC_STAT_INC(&f->w->stats, socks4a);
	else
		CONC_STAT_INC(&f->w->stats, socks4);
	f->in_used = used;
	if (!c->socks_enabled || c->n_socks_users) {
		refuse_code(f, CONVERT_E_NOT_AUTHORIZED, 0,
			    "SOCKS4 disabled (socks.enabled off, or users configured)");
		return;
	}
	socks_request(f, &rq);
}

static void opening_dispatch(struct conc_flow *f)
{
	if (f->state == FLOW_S5_AUTH) {
		s5_auth(f);
		return;
	}
	if (f->state == FLOW_S5_REQUEST) {
		s5_request(f);
		return;
	}
	switch (f->in[0]) {
	case CONVERT_VERSION:
		opening_convert(f);
		break;
	case 4:
		f->proto = FLOW_SOCKS4;
		s4_request(f);
		break;
	case 5:
		f->proto = FLOW_SOCKS5;
		s5_greeting(f);
		break;
	default:
		/* Not ours: answer as a converter would to another version. */
		opening_convert(f);
		break;
	}
}

/* By the first byte; SOCKS4 waits for its request to tell 4 from 4a. */
static void count_protocol(struct conc_flow *f)
{
	struct conc_stats *s = &f->w->stats;

	switch (f->in[0]) {
	case CONVERT_VERSION:
		CONC_STAT_INC(s, convert);
		break;
	case 4:
		break;
	case 5:
		CONC_STAT_INC(s, socks5);
		break;
	default:
		CONC_STAT_INC(s, unknown);
		break;
	}
}

/* fd -1: bytes already buffered need another look. */
void flow_opening_on_io(struct conc_flow *f, int fd, uint32_t events)
{
	if (fd >= 0) {
		bool first = f->state == FLOW_OPENING && !f->in_len;
		ssize_t n = recv(f->cfd, f->in + f->in_len,
				 sizeof(f->in) - f->in_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			CONC_STAT_INC(&f->w->stats, header_closed);
			flow_close(f, n ? "client error during opening"
					: "client closed during opening",
				   n < 0, false);
			return;
		}
		f->in_len += (size_t)n;
		if (first)
			count_protocol(f);
	}
	if (f->in_len)
		opening_dispatch(f);
	if (f->state <= FLOW_S5_REQUEST && f->in_len == sizeof(f->in))
		flow_close(f, "opening too long", false, false);
}

/* Connecting. */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Every connect started ends here once (unless the client leaves first):
 * the counters and mptun_connect_seconds agree. */
static void connect_done(struct conc_flow *f, bool ok)
{
	uint64_t us = mono_us() - f->connect_us;

	if (ok)
		CONC_STAT_INC(&f->w->stats, connect_ok);
	else
		CONC_STAT_INC(&f->w->stats, connect_failed);
	metrics_hist_observe(&f->w->connect_hist, us);
	if (ok)
		flow_log(f, "connected in %.1f ms", (double)us / 1000.0);
}

static void connect_failed(struct conc_flow *f, int err)
{
	connect_done(f, false);
	switch (err) {
	case ECONNREFUSED:
		refuse_code(f, CONVERT_E_CONNECTION_RESET, 0, "connection refused");
		break;
	case ENETUNREACH:
		refuse_code(f, CONVERT_E_DEST_UNREACHABLE, 0, "network unreachable");
		break;
	case EHOSTUNREACH:
		refuse_code(f, CONVERT_E_DEST_UNREACHABLE, 1, "host unreachable");
		break;
	case EACCES:
	case EPERM:
		refuse_code(f, CONVERT_E_DEST_UNREACHABLE, 13,
			    "communication administratively prohibited");
		break;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		/* Our shortage, not the network's. */
		refuse_code(f, CONVERT_E_RESOURCE_EXCEEDED, RETRY_AFTER_S,
			    strerror(err));
		break;
	default:
		refuse_code(f, CONVERT_E_NETWORK_FAILURE, RETRY_AFTER_S, strerror(err));
		break;
	}
}

void flow_refuse_timeout(struct conc_flow *f)
{
	if (f->state == FLOW_CONNECTING)
		connect_done(f, false);
	refuse_code(f, CONVERT_E_NETWORK_FAILURE, RETRY_AFTER_S,
		    f->state == FLOW_RESOLVING ? "lookup timeout" : "connect timeout");
}

static void flow_connect(struct conc_flow *f)
{
	int fd, r;

	CONC_STAT_INC(&f->w->stats, connect_started);
	f->connect_us = mono_us();
	fd = flow_upstream_connect(f);
	if (fd < 0) {
		connect_failed(f, -fd);
		return;
	}
	f->sfd = fd;
	/* If this process dies, the kernel resets the server's connection, so
	 * a truncated upload does not look complete; orderly closes turn it
	 * off. Not on the client's MPTCP socket: a reset lost on the way there
	 * is never repeated, the CPE's flow would hang, while the FIN the
	 * kernel sends instead is retransmitted until it arrives. */
	sockopt_abort_on_close(fd);
	sockopt_notsent_lowat(fd);
	f->state = FLOW_CONNECTING;
	flow_set_events(f, f->cfd, 0);
	if ((r = loop_add_fd(f->w->loop, fd, EPOLLOUT, flow_on_io, f)) < 0) {
		close(fd);
		f->sfd = -1;
		connect_done(f, false);
		refuse_code(f, CONVERT_E_RESOURCE_EXCEEDED, RETRY_AFTER_S, strerror(-r));
	}
}

void flow_connecting_on_io(struct conc_flow *f, int fd, uint32_t events)
{
	int err;

	if (fd == f->cfd) {
		if (events & (EPOLLERR | EPOLLHUP))
			flow_close(f, "client gone while connecting", true, true);
		return;
	}
	err = sockopt_so_error(f->sfd);
	if (err) {
		loop_close_fd(f->w->loop, f->sfd);
		f->sfd = -1;
		connect_failed(f, err);
		return;
	}
	if (!(events & EPOLLOUT))
		return;
	connect_done(f, true);
	f->down.pend = f->reply;
	f->down.pend_len = success_reply(f);
	f->up.pend = f->in + f->in_used;
	f->up.pend_len = f->in_len - f->in_used;
	relay_start(f);
}

/* Accept. */

void flow_account(struct conc_flow *f, const char *auth_id)
{
	char host[ADDR_STRLEN];
	bool evicted;

	if (f->accounted)
		return;
	f->accounted = true;
	if (!auth_id || !auth_id[0])
		auth_id = addr_host_str((struct sockaddr *)&f->peer, host,
					sizeof(host));
	f->cpe = conc_cpe_open(&f->w->cpes, auth_id, &evicted);
	if (evicted)
		CONC_STAT_INC(&f->w->stats, cpe_evicted);
	if (!f->cpe)
		CONC_STAT_INC(&f->w->stats, cpe_untracked);
}

static void count_limit(struct conc_worker *w, enum conc_limit_hit hit)
{
	switch (hit) {
	case CONC_LIMIT_NONE:
		break;
	case CONC_LIMIT_TOTAL:
		CONC_STAT_INC(&w->stats, refused_limit_total);
		break;
	case CONC_LIMIT_PER_CLIENT:
		CONC_STAT_INC(&w->stats, refused_limit_client);
		break;
	case CONC_LIMIT_PENDING:
		CONC_STAT_INC(&w->stats, refused_limit_pending);
		break;
	}
}

/* Intercepted: the destination is where the client thought it connected
 * to, the client's own address the peer's (a CPE's, or a host's behind
 * it). Nothing to read: the policy, then the connect. */
static void transparent_start(struct conc_flow *f)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	f->proto = FLOW_TRANSPARENT;
	CONC_STAT_INC(&f->w->stats, transparent);
	if (getsockname(f->cfd, (struct sockaddr *)&local, &len) < 0) {
		flow_close(f, "getsockname failed", true, false);
		return;
	}
	addr_unmap((struct sockaddr *)&local, &f->dst, &f->dst_len);
	addr_unmap((struct sockaddr *)&f->peer, &f->src, &len);
	flow_request(f);
}

/* Owns fd from here: every path ends in flow_close or close(fd). A flow
 * over a limit is still read, to be refused in its own protocol. */
void conc_flow_accept(struct conc_worker *w, int fd,
		      const struct sockaddr *peer, socklen_t peer_len,
		      bool transparent)
{
	const struct conc_config *c = w->acl.cfg;
	const struct conc_limits_max max = { c->max_flows,
					     c->max_flows_per_client,
					     c->max_pending_per_client };
	struct conc_flow *f = calloc(1, sizeof(*f));
	enum conc_limit_hit hit;

	if (!f) {
		close(fd);
		return;
	}
	sockopt_nodelay(fd);
	sockopt_notsent_lowat(fd);
	f->w = w;
	f->id = __atomic_fetch_add(&w->d->next_flow_id, 1, __ATOMIC_RELAXED);
	f->cfd = fd;
	f->sfd = -1;
	f->up.pipe[0] = f->up.pipe[1] = f->down.pipe[0] = f->down.pipe[1] = -1;
	memcpy(&f->peer, peer, peer_len);
	f->peer_len = peer_len;
	/* a client outside clients.allow takes no place: it is refused once
	 * its request is read */
	if (conc_acl_client_allowed(&w->acl, peer)) {
		hit = conc_limits_acquire_opening(&w->d->limits, peer, &max);
		count_limit(w, hit);
		f->counted = hit == CONC_LIMIT_NONE;
	}
	f->start_ms = f->active_ms = loop_now_ms(w->loop);
	f->deadline_ms = f->active_ms + c->header_timeout_ms;
	f->next = w->flows;
	if (w->flows)
		w->flows->prev = f;
	w->flows = f;
	w->n_flows++;
	CONC_STAT_INC(&w->stats, active);
	if (loop_add_fd(w->loop, fd, transparent ? 0 : EPOLLIN, flow_on_io, f) < 0)
		flow_close(f, "cannot watch socket", true, false);
	else if (transparent)
		transparent_start(f);
}
