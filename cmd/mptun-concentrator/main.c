/* mptun-concentrator: an RFC 8803 Transport Converter (and SOCKS4/5 server)
 * over Multipath TCP. args → config → checks → workers → signals → teardown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth.h"
#include "conc.h"
#include "conc_ctl.h"
#include "cli.h"
#include "ctl.h"
#include "log.h"
#include "loop.h"
#include "mptcp_pm.h"
#include "nft.h"
#include "privdrop.h"
#include "sockopt.h"
#include "sysctl.h"

#define DEFAULT_CONFIG "/etc/mptun/concentrator.yaml"


struct main_ctx {
	struct conc_daemon d;
	const char *config_path;
	bool draining;
	struct ctl *ctl;
	struct ctl_self self;
	struct conc_config *tproxy; /* what nftables and routing were set for */
	struct conc_announce announce; /* transparent.announce, as added */
	struct loop_timer announce_timer; /* while some wait for their port */
	bool announce_logged[CONC_ANNOUNCE_MAX];
	unsigned announce_tries; /* of the pending ones, one a second */
};

static const struct cli_info cli = {
	.prog = "mptun-concentrator",
	.default_config = DEFAULT_CONFIG,
	.extra_help = "Signals: TERM/INT drain and stop, HUP reloads, USR1 "
		      "logs the counters.\n",
};

/* Bit 0x2 of net.ipv4.tcp_fastopen lets the kernel hand SYN data to a
 * listener; without it the Convert message waits a round trip. */
static void check_tfo_sysctl(const struct conc_config *c)
{
	int v, r;

	if ((r = sysctl_get_int(SOCKOPT_TFO_SYSCTL, &v)) < 0)
		fatalx("cannot read net.ipv4.tcp_fastopen: %s", strerror(-r));
	if (v & SOCKOPT_TFO_SERVER)
		return;
	if (c->tfo == CONC_TFO_REQUIRE)
		fatalx("net.ipv4.tcp_fastopen is %d: the server bit 0x2 is not set, so "
		       "Convert messages in the SYN would wait a round trip; run "
		       "'sysctl -w net.ipv4.tcp_fastopen=%d' or set "
		       "tcp_fastopen_sysctl: set", v, v | SOCKOPT_TFO_SERVER);
	if ((r = sysctl_set_int(SOCKOPT_TFO_SYSCTL, v | SOCKOPT_TFO_SERVER)) < 0)
		fatalx("cannot set net.ipv4.tcp_fastopen to %d: %s", v | SOCKOPT_TFO_SERVER,
		       strerror(-r));
	log_info("set net.ipv4.tcp_fastopen from %d to %d (server side of TCP Fast Open)",
		 v, v | SOCKOPT_TFO_SERVER);
}

/* What nftables and the policy routing were installed for at start. */
static bool tproxy_changed(const struct conc_config *c,
			   const struct conc_config *o)
{
	bool ifs = c->n_transparent_ifs != o->n_transparent_ifs;
	bool ann = c->n_transparent_announce != o->n_transparent_announce;

	for (size_t i = 0; !ifs && i < c->n_transparent_ifs; i++)
		ifs = strcmp(c->transparent_ifs[i], o->transparent_ifs[i]) != 0;
	for (size_t i = 0; !ann && i < c->n_transparent_announce; i++)
		ann = strcmp(c->transparent_announce[i],
			     o->transparent_announce[i]) != 0;
	return ifs || ann || c->transparent_enabled != o->transparent_enabled ||
	       c->transparent_port != o->transparent_port ||
	       c->transparent_join_port != o->transparent_join_port ||
	       c->source_preserve != o->source_preserve ||
	       c->tproxy_table != o->tproxy_table ||
	       c->tproxy_priority != o->tproxy_priority ||
	       c->tproxy_mark != o->tproxy_mark;
}

/* SIGHUP and POST /reload: false, with why in msg, when the file is
 * refused (the running configuration stays). */
static bool reload(struct main_ctx *m, char *msg, size_t len)
{
	char err[512];
	struct conc_config *c = conc_config_load_file(m->config_path, err, sizeof(err));
	const struct conc_config *o = m->d.cfg;
	bool later;

	if (!c) {
		m->self.reload_failures++;
		snprintf(msg, len, "reload: %s; keeping the running configuration", err);
		log_error("%s", msg);
		return false;
	}
	later = !addr_equal_host((struct sockaddr *)&c->listen,
				 (struct sockaddr *)&o->listen) ||
		addr_port((struct sockaddr *)&c->listen) !=
			addr_port((struct sockaddr *)&o->listen) ||
		c->workers != o->workers ||
		memcmp(&c->control.http, &o->control.http, sizeof(c->control.http)) ||
		strcmp(c->control.socket, o->control.socket) ||
		tproxy_changed(c, o);
	if (later)
		log_warnx("reload: listen, workers, control, transparent, "
			  "source.preserve and tproxy changes take effect at restart");
	log_set_level(c->log_level);
	conc_workers_reload(&m->d, c);
	conc_config_unref(m->d.cfg);
	m->d.cfg = c;
	m->self.reloads++;
	snprintf(msg, len, "reloaded %s%s", m->config_path,
		 later ? "; listen, workers, control, transparent, source.preserve "
			 "and tproxy changes take effect at restart" : "");
	log_info("reloaded %s", m->config_path);
	return true;
}

/* ---- the control interface (docs/control.md; lib/conc_ctl.c) ---- */

static void on_status(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	struct main_ctx *m = arg;

	conc_ctl_status(&m->d, &m->self, rp);
}

static void on_metrics(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	struct main_ctx *m = arg;

	conc_ctl_metrics(&m->d, &m->self, rp);
}

static void on_flows(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	struct main_ctx *m = arg;

	conc_ctl_flows(&m->d, rq, rp);
}

static void on_reload(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	char msg[768];
	bool ok = reload(arg, msg, sizeof(msg));

	ctl_reply_reload(rp, ok, msg);
}

static const struct ctl_route routes[] = {
	{ "GET", "/status", on_status, false },
	{ "GET", "/metrics", on_metrics, false },
	{ "GET", "/flows", on_flows, false },
	{ "POST", "/reload", on_reload, true },
};

static void log_counters(const struct conc_daemon *d)
{
	struct conc_stats s;

	conc_stats_sum(d, &s);
	conc_stats_log(&s);
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	struct main_ctx *m = arg;

	if (signo == SIGHUP) {
		char msg[768];
		reload(m, msg, sizeof(msg));
		return;
	}
	if (signo == SIGUSR1) {
		log_counters(&m->d);
		return;
	}
	if (m->draining)
		return;
	m->draining = true;
	log_info("%s: no new flows; draining for up to %u ms",
		 strsignal(signo), m->d.cfg->drain_timeout_ms);
	conc_workers_drain(&m->d);
	loop_stop(l);
}

/* Transparent sockets and the removal of the rules at exit need
 * CAP_NET_ADMIN; nothing else does. */
static int drop_privileges(struct main_ctx *m)
{
	static const cap_value_t net_admin[] = { CAP_NET_ADMIN };
	bool keep = m->d.transparent || m->d.preserve;
	char err[512];

	if (privdrop(m->d.cfg->user, net_admin, keep ? 1 : 0, err,
		     sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	log_info("running as %s %s", m->d.cfg->user,
		 keep ? "with CAP_NET_ADMIN only" : "without capabilities");
	return 0;
}

/* The addresses added since the last call. */
static void announce_log(struct main_ctx *m)
{
	const struct conc_config *c = m->tproxy;

	for (size_t i = 0; i < m->announce.n; i++) {
		if (!m->announce.ids[i] || m->announce_logged[i])
			continue;
		m->announce_logged[i] = true;
		log_info("announcing %s port %u to MPTCP peers (MPTCP endpoint "
			 "id %u, signal): further subflows join there",
			 c->transparent_announce[i], c->transparent_join_port,
			 m->announce.ids[i]);
	}
}

static int64_t on_announce_timer(struct loop *l, void *arg)
{
	struct main_ctx *m = arg;
	bool final = ++m->announce_tries >= CONC_ANNOUNCE_WAIT_S;
	char err[512];

	if (conc_announce_retry(m->tproxy, &m->announce, final, err,
				sizeof(err)) < 0) {
		log_error("%s; not announcing it: connections use their first "
			  "path only", err);
		return LOOP_TIMER_STOP;
	}
	announce_log(m);
	return m->announce.pending ? 1000 : LOOP_TIMER_STOP;
}

/* Where the CPEs' further subflows join (lib/conc_announce.c). */
static void announce_setup(struct main_ctx *m)
{
	const struct conc_config *c = m->tproxy;
	char err[512], err2[512];

	if (!c->transparent_enabled)
		return;
	if (!c->n_transparent_announce) {
		log_warnx("transparent.announce is empty: the CPEs' further "
			  "subflows cannot join (the kernel refuses joins sent "
			  "to the intercepted destination), so each connection "
			  "uses its first path only");
		return;
	}
	if (conc_announce_setup(c, &m->announce, err, sizeof(err)) < 0) {
		conc_tproxy_teardown(c, err2, sizeof(err2));
		fatalx("%s", err);
	}
	announce_log(m);
	if (m->announce.pending)
		log_warnx("transparent.announce: port %u is in use, as the "
			  "joins of a previous run hold it (TIME_WAIT) for up to "
			  "a minute: trying again every second for %u s; until "
			  "then connections use their first path only",
			  c->transparent_join_port, CONC_ANNOUNCE_WAIT_S);
	if (m->announce.subflows_was)
		log_info("raised the MPTCP subflows limit from %u to %u (joins "
			 "accepted per connection)", m->announce.subflows_was,
			 MPTCP_PM_LIMIT_MAX);
}

/* Transparent mode and source preservation: the nftables table and the
 * policy routing, installed for the start configuration (kept in
 * m->tproxy until they are removed). */
static void tproxy_setup(struct main_ctx *m)
{
	char err[512];

	if (!conc_config_needs_tproxy(m->d.cfg))
		return;
	if (conc_tproxy_setup(m->d.cfg, err, sizeof(err)) < 0)
		fatalx("%s", err);
	m->tproxy = conc_config_ref(m->d.cfg);
	m->d.transparent = m->tproxy->transparent_enabled;
	m->d.preserve = m->tproxy->source_preserve;
	log_info("nftables table inet %s and fwmark 0x%x lookup %u installed%s%s",
		 NFT_TPROXY_TABLE, m->tproxy->tproxy_mark, m->tproxy->tproxy_table,
		 m->d.transparent ? "; transparent listener" : "",
		 m->d.preserve ? "; source preservation" : "");
	announce_setup(m);
}

static void tproxy_teardown(struct main_ctx *m)
{
	char err[512];

	if (!m->tproxy)
		return;
	if (conc_announce_teardown(&m->announce, err, sizeof(err)) < 0)
		log_error("removing the announced MPTCP endpoints: %s", err);
	if (conc_tproxy_teardown(m->tproxy, err, sizeof(err)) < 0)
		log_error("removing the nftables table or the policy routing: "
			  "%s (the next start removes them)", err);
	conc_config_unref(m->tproxy);
	m->tproxy = NULL;
}

static unsigned worker_count(const struct conc_config *c)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->workers)
		return c->workers;
	return n > 0 ? (unsigned)n : 1;
}

static int run(struct main_ctx *m)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	char a[ADDR_STRLEN], err[512];
	struct loop *l;
	int r;

	/* Block the signals before the workers exist so they inherit it. */
	if (!(l = loop_new()) ||
	    loop_add_signals(l, sigs, sizeof(sigs) / sizeof(sigs[0]), on_signal,
			     m) < 0)
		fatal("event loop");
	if ((r = conc_limits_init(&m->d.limits)) < 0)
		fatalx("out of memory");
	if (m->announce.pending)
		loop_timer_arm(l, &m->announce_timer, 1000, on_announce_timer, m);
	m->d.n_workers = worker_count(m->d.cfg);
	if ((r = conc_workers_init(&m->d)) < 0) {
		log_error("cannot start workers: %s", strerror(-r));
		conc_workers_drain(&m->d);
		goto out;
	}
	m->ctl = ctl_start(l, &m->d.cfg->control, routes,
			   sizeof(routes) / sizeof(routes[0]), m, err, sizeof(err));
	if (!m->ctl) {
		log_error("%s", err);
		conc_workers_drain(&m->d);
		r = -EADDRINUSE;
		goto out;
	}
	/* The listeners are bound: nothing left needs root. One thread
	 * yet, so a capability can be kept for all (see privdrop.h). */
	if (m->d.cfg->user && drop_privileges(m) < 0) {
		conc_workers_drain(&m->d);
		r = -EPERM;
		goto out;
	}
	if ((r = conc_workers_run(&m->d)) < 0) {
		log_error("cannot start workers: %s", strerror(-r));
		conc_workers_drain(&m->d);
		goto out;
	}
	log_info("listening on %s with %u workers",
		 addr_str((struct sockaddr *)&m->d.cfg->listen, a, sizeof(a)),
		 m->d.n_workers);
	if ((r = loop_run(l)) < 0)
		log_error("event loop: %s", strerror(-r));
out:
	loop_timer_disarm(l, &m->announce_timer);
	ctl_stop(m->ctl);
	conc_workers_join(&m->d);
	conc_limits_destroy(&m->d.limits);
	loop_free(l);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct main_ctx m = { 0 };
	struct cli_opts o;
	char err[512];
	int rc;

	if (!cli_parse(argc, argv, &cli, &o))
		return 2;
	if (auth_init() < 0) {
		fprintf(stderr, "mptun-concentrator: libsodium cannot start\n");
		return 1;
	}
	m.d.cfg = conc_config_load_file(o.config, err, sizeof(err));
	if (!m.d.cfg) {
		fprintf(stderr, "mptun-concentrator: %s\n", err);
		return 1;
	}
	if (o.check) {
		printf("configuration OK\n");
		conc_config_unref(m.d.cfg);
		return 0;
	}
	log_init("mptun-concentrator", o.foreground,
		 o.debug ? LOG_DEBUG : m.d.cfg->log_level);
	if (!o.foreground && daemon(0, 0) < 0)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	cli_raise_nofile(); /* a flow holds up to six fds: two sockets, two pipes */
	check_tfo_sysctl(m.d.cfg);
	tproxy_setup(&m);
	m.config_path = o.config;
	ctl_self_init(&m.self, "mptun-concentrator", o.config);
	rc = run(&m);
	tproxy_teardown(&m);
	conc_config_unref(m.d.cfg);
	log_info("stopped");
	return rc;
}
