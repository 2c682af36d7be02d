/* What the CPE says about its flows: the log lines of a flow, /flows,
 * the subflows per path, the SIGUSR1 dump's line per flow. Reads only. */
#include "cpe_flow_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "mptcp_subflows.h"

void cpe_tuple_addr(int family, const uint8_t *a, uint16_t port,
		    struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a, 4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a, 16);
	}
}

void cpe_flow_log(const struct cpe_flow *f, int level, const char *fmt, ...)
{
	struct sockaddr_storage cl;
	char a[ADDR_STRLEN] = "?", d[ADDR_STRLEN], what[320];
	va_list ap;

	if (level > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (f->nat) {
		cpe_tuple_addr(f->nat->orig.family, f->nat->orig.client,
			       f->nat->orig.client_port, &cl);
		addr_str((struct sockaddr *)&cl, a, sizeof(a));
	}
	addr_str((const struct sockaddr *)&f->dst, d, sizeof(d));
	if (level == LOG_INFO)
		log_info("flow %llu %s -> %s %s", (unsigned long long)f->id, a,
			 d, what);
	else
		log_debug("flow %llu %s -> %s %s", (unsigned long long)f->id, a,
			  d, what);
}

/* The state names of /flows. */
static const char *state_name(const struct cpe_flow *f)
{
	switch (f->state) {
	case CF_CONNECTING:
	case CF_FAST_CONNECTING:
		return "connecting"; /* waiting for the concentrator's answer */
	case CF_ACCEPTING:
	case CF_FAST_ACCEPTING:
		return "accepting"; /* lwIP finishing the LAN handshake */
	case CF_FAST_WAIT:
		return "waiting"; /* fast: for the client's first bytes */
	case CF_RELAY:
		return f->lan_eof || f->sock_eof ? "closing" : "relaying";
	default:
		return "closed";
	}
}

static void flow_info(const struct cpe_flow *f, uint64_t now,
		      struct cpe_flow_info *fi)
{
	*fi = (struct cpe_flow_info){
	    .id = f->id,
	    .dst = f->dst,
	    .state = state_name(f),
	    .age_ms = now - f->start_ms,
	    .bytes_up = f->bytes_up,
	    .bytes_down = f->bytes_down,
	    .path = f->path,
	    .direct = f->direct,
	};
	if (f->nat)
		cpe_tuple_addr(f->nat->orig.family, f->nat->orig.client,
			       f->nat->orig.client_port, &fi->client);
}

void cpe_flows_each(struct cpe *c,
		    bool (*fn)(void *arg, const struct cpe_flow_info *fi),
		    void *arg)
{
	uint64_t now = loop_now_ms(c->loop);
	struct cpe_flow_info fi;

	for (struct cpe_flow *f = c->flows; f; f = f->next) {
		flow_info(f, now, &fi);
		if (!fn(arg, &fi))
			return;
	}
}

void cpe_flows_subflows(struct cpe *c, struct cpe_path_info *v, size_t n)
{
	struct sockaddr_storage local[CPE_PATHS_MAX * 2];

	for (struct cpe_flow *f = c->flows; n && f; f = f->next) {
		int k;
		if (f->sfd < 0 || f->direct)
			continue;
		k = mptcp_subflows_local(f->sfd, local,
					 sizeof(local) / sizeof(local[0]));
		if (k > (int)(sizeof(local) / sizeof(local[0])))
			k = (int)(sizeof(local) / sizeof(local[0]));
		for (int j = 0; j < k; j++)
			for (size_t i = 0; i < n; i++)
				if (v[i].source.ss_family &&
				    addr_equal_host(
					(struct sockaddr *)&local[j],
					(struct sockaddr *)&v[i].source))
					v[i].subflows++;
	}
}

void cpe_flows_log(const struct cpe *c)
{
	for (const struct cpe_flow *f = c->flows; f; f = f->next)
		cpe_flow_log(
		    f, LOG_DEBUG,
		    "%s: state %d lan_eof %d sock_eof %d "
		    "lan_shut %d sock_shut %d to_sock %u stash %zu sndbuf %u "
		    "queuelen %u pcb_state %d",
		    state_name(f), f->state, f->lan_eof, f->sock_eof,
		    f->lan_shut, f->sock_shut,
		    f->to_sock ? f->to_sock->tot_len : 0,
		    f->stash ? f->stash_len - f->stash_off : 0,
		    f->pcb ? (unsigned)tcp_sndbuf(f->pcb) : 0,
		    f->pcb ? (unsigned)tcp_sndqueuelen(f->pcb) : 0,
		    f->pcb ? (int)f->pcb->state : -1);
}
