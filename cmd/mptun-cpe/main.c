/* mptun-cpe: catch the LAN's TCP flows on a TUN device, terminate them in
 * lwIP and carry each over its own MPTCP connection to the concentrator.
 * args → config → sysctls → clean up a crashed run → TUN → paths → lwIP →
 * capture rules → run → teardown in reverse. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "cpe.h"
#include "cpe_client_source.h"
#include "cpe_ctl.h"
#include "cli.h"
#include "ctl.h"
#include "log.h"
#include "nft.h"
#include "nlroute.h"
#include "privdrop.h"
#include "sysctl.h"
#include "tun.h"
#include "webui.h"

#define DEFAULT_CONFIG "/etc/mptun/cpe.yaml"
#define NAT_LINGER_MS 25000 /* > lwIP's TIME_WAIT (2 * TCP_MSL) */


static const struct cli_info cli = {
	.prog = "mptun-cpe",
	.default_config = DEFAULT_CONFIG,
	.extra_help = "Signals: TERM/INT stop, HUP reloads, USR1 logs the counters.\n",
};

/* Forwarding carries LAN packets into the TUN and the answers back. */
static void need_sysctl(const struct cpe_config *c, const char *name, int want)
{
	int v, r;

	if ((r = sysctl_get_int(name, &v)) < 0)
		fatalx("cannot read %s: %s", name, strerror(-r));
	if (v == want)
		return;
	if (!c->set_ip_forward)
		fatalx("%s is %d, mptun-cpe needs %d: run 'sysctl -w %s=%d' or set "
		       "sysctl.ip_forward: set", name, v, want, name, want);
	if ((r = sysctl_set_int(name, want)) < 0)
		fatalx("cannot set %s to %d: %s", name, want, strerror(-r));
	log_info("set %s from %d to %d", name, v, want);
}

/* Answers leave the TUN with the server's address as source; strict
 * reverse-path filtering would drop them (the route to the server is a WAN
 * link), loose filtering keeps them. */
static void tun_rp_filter(const char *tun)
{
	char name[128];
	int all = 0, r;

	snprintf(name, sizeof(name), "net.ipv4.conf.%s.rp_filter", tun);
	if ((r = sysctl_set_int(name, 0)) < 0)
		fatalx("cannot set %s to 0: %s", name, strerror(-r));
	if (sysctl_get_int("net.ipv4.conf.all.rp_filter", &all) == 0 && all == 1)
		fatalx("net.ipv4.conf.all.rp_filter is 1 (strict): it would drop "
		       "the TUN's answers to the LAN; set it to 0 or 2 (loose)");
}

struct cpe_main {
	struct cpe c;
	const char *config_path;
	struct nlroute *nl;
	int tunfd;
	uint32_t table; /* the one installed: a reload may name another */
	struct ctl *ctl;
	struct ctl_self self;
};

static struct nlroute_capture capture_of(const struct cpe_config *c)
{
	return (struct nlroute_capture){ .tun = c->tun_name,
					 .lan_ifs = c->lan_interfaces,
					 .n_lan = c->n_lan_interfaces,
					 .bypass = &c->bypass,
					 .table = c->route_table,
					 .priority = c->rule_priority };
}

/* SIGHUP and POST /reload: false, with why in msg, when the file is
 * refused (the running configuration stays). */
static bool reload(struct cpe_main *m, char *msg, size_t len)
{
	char err[512];
	struct cpe_config *c = cpe_config_load_file(m->config_path, err, sizeof(err));
	bool paths_ok;

	if (!c) {
		m->self.reload_failures++;
		snprintf(msg, len, "reload: %s; keeping the running configuration", err);
		log_error("%s", msg);
		return false;
	}
	log_set_level(c->log_level);
	if (cpe_client_source_wanted(c) && !m->c.client_source)
		log_warnx("reload: carrier.source in transparent mode takes "
			  "effect at restart (its nftables table and routing are "
			  "installed at start)");
	if (!(paths_ok = cpe_paths_reload(m->c.paths, c)))
		log_error("reload: paths not managed until the next reload or restart");
	log_warnx("reload: tun, lan, capture, concentrator and control changes "
		  "take effect at restart; paths, health and flow settings apply now");
	cpe_config_unref(m->c.cfg);
	m->c.cfg = c;
	m->self.reloads++;
	snprintf(msg, len, "reloaded %s%s; tun, lan, capture, concentrator and "
		 "control changes take effect at restart", m->config_path,
		 paths_ok ? "" : " but the paths could not be set up (see the log)");
	log_info("reloaded %s", m->config_path);
	return true;
}

/* ---- the control interface (docs/control.md) ---- */

static void on_status(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	struct cpe_main *m = arg;

	cpe_ctl_status(&m->c, &m->self, rp);
}

static void on_metrics(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	struct cpe_main *m = arg;

	cpe_ctl_metrics(&m->c, &m->self, rp);
}

static void on_flows(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	struct cpe_main *m = arg;

	cpe_ctl_flows(&m->c, rq, rp);
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
	{ "GET", "/", webui_serve, false },
	{ "GET", "/app.js", webui_serve, false },
	{ "GET", "/style.css", webui_serve, false },
};

static void on_signal(struct loop *l, int signo, void *arg)
{
	struct cpe_main *m = arg;

	char msg[768];

	if (signo == SIGHUP)
		reload(m, msg, sizeof(msg));
	else if (signo == SIGUSR1)
		cpe_log_counters(&m->c);
	else
		loop_stop(l);
}

static void before_sleep(struct loop *l, void *arg)
{
	struct cpe *c = arg;

	cpe_flows_reap(c);
	if (c->stack)
		stack_flush(c->stack);
}

/* What runs after setup: routes, rules and MPTCP endpoints change with the
 * paths (CAP_NET_ADMIN), health probes bind to their interface
 * (SO_BINDTODEVICE: CAP_NET_RAW). */
static void drop_privileges(const struct cpe_config *c)
{
	static const cap_value_t keep[] = { CAP_NET_ADMIN, CAP_NET_RAW };
	char err[256];

	if (!c->user)
		return;
	if (privdrop(c->user, keep, 2, err, sizeof(err)) < 0)
		fatalx("%s", err);
	log_info("running as %s with CAP_NET_ADMIN and CAP_NET_RAW only", c->user);
}

static void teardown(struct cpe_main *m);

/* Transparent mode with carrier.source (lib/cpe_client_source.h), or the
 * leftovers of a run that had it. */
static void client_source_setup(struct cpe_main *m)
{
	char err[512];
	int r;

	if (!cpe_client_source_wanted(m->c.cfg)) {
		cpe_client_source_remove(m->nl, m->table, err, sizeof(err));
		return;
	}
	if ((r = cpe_client_source_install(m->nl, m->c.cfg, err, sizeof(err))) < 0)
		fatalx("carrier.source in transparent mode: %s", err);
	m->c.client_source = true;
	log_info("transparent mode with carrier.source: flows start from the "
		 "LAN client's address; nftables table inet %s and fwmark 0x%x "
		 "lookup %u installed", NFT_TPROXY_TABLE,
		 cpe_client_source_table(m->table), cpe_client_source_table(m->table));
}

/* With IPv6 switched off (disable_ipv6, which the TUN inherits, or a
 * kernel without IPv6) the kernel refuses IPv6 routes through the TUN; no
 * LAN IPv6 is forwarded then anyway, so IPv4 alone is captured. */
static int capture_install(struct nlroute *nl, struct nlroute_capture *cap)
{
	int r = nlroute_capture_install(nl, cap);

	if (r != -EACCES && r != -EAFNOSUPPORT)
		return r;
	log_warnx("IPv6 is switched off on %s: capturing IPv4 TCP only", cap->tun);
	cap->ipv4_only = true;
	return nlroute_capture_install(nl, cap);
}

static void setup(struct cpe_main *m)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	const struct cpe_config *c = m->c.cfg;
	struct flownat_config nat;
	struct stack_hooks hooks;
	struct nlroute_capture cap = capture_of(c);
	uint32_t entries = c->max_flows * 2 > 64000 ? 64000 : c->max_flows * 2;
	char err[512];
	bool vnet;
	int r, v;

	need_sysctl(c, "net.ipv4.ip_forward", 1);
	/* none without IPv6 in the kernel (ipv6.disable=1) */
	if (sysctl_get_int("net.ipv6.conf.all.forwarding", &v) != -ENOENT)
		need_sysctl(c, "net.ipv6.conf.all.forwarding", 1);
	if (!(m->nl = nlroute_open()))
		fatalx("cannot open a netlink route socket");
	/* A run that crashed left its rules and routes: they go first. */
	m->table = c->route_table;
	nlroute_capture_remove(m->nl, m->table);
	cpe_paths_cleanup(m->nl, m->table);
	client_source_setup(m);
	if ((m->tunfd = tun_open(c->tun_name, c->tun_offload, &vnet)) < 0)
		fatalx("cannot create TUN device %s: %s", c->tun_name, strerror(-m->tunfd));
	if (!vnet && c->tun_offload)
		log_warnx("%s: no checksum and segmentation offloads: every "
			  "packet is read and written on its own", c->tun_name);
	if ((r = nlroute_link_setup(m->nl, c->tun_name, c->tun_mtu, c->tun_txqueuelen,
				    &c->tun_address4, &c->tun_address6)) < 0)
		fatalx("cannot configure %s: %s", c->tun_name, strerror(-r));
	tun_rp_filter(c->tun_name);
	if (!(m->c.loop = loop_new()) || loop_add_signals(m->c.loop, sigs, 4, on_signal, m) < 0)
		fatal("event loop");
	loop_set_before_sleep(m->c.loop, before_sleep, &m->c);
	if (!(m->c.paths = cpe_paths_new(m->c.loop, m->nl, m->c.cfg)))
		fatalx("cannot set up the paths");
	if (cpe_flows_init(&m->c, &hooks) < 0)
		fatalx("out of memory");
	stack_default_nat_config(&nat, CPE_LWIP_PORT, entries, NAT_LINGER_MS);
	if (!(m->c.stack = stack_new(m->c.loop, m->tunfd, vnet, c->tun_mtu, &nat, &hooks)))
		fatalx("cannot start lwIP on %s", c->tun_name);
	if ((r = capture_install(m->nl, &cap)) < 0)
		fatalx("cannot install the capture rules: %s", strerror(-r));
	if (!(m->ctl = ctl_start(m->c.loop, &c->control, routes,
				 sizeof(routes) / sizeof(routes[0]), m, err,
				 sizeof(err)))) {
		log_error("%s", err);
		teardown(m);
		exit(1);
	}
	drop_privileges(c);
}

/* Reverse order; safe on a half-done setup. */
static void teardown(struct cpe_main *m)
{
	ctl_stop(m->ctl);
	m->ctl = NULL;
	if (m->nl)
		nlroute_capture_remove(m->nl, m->table);
	if (m->nl && m->c.client_source) {
		char err[512];
		if (cpe_client_source_remove(m->nl, m->table, err, sizeof(err)) < 0)
			log_error("removing the client source's nftables table or "
				  "routing: %s", err);
		m->c.client_source = false;
	}
	if (m->c.loop) {
		cpe_flows_close_all(&m->c);
		cpe_flows_reap(&m->c);
		cpe_flows_destroy(&m->c);
	}
	cpe_paths_free(m->c.paths);
	m->c.paths = NULL;
	stack_free(m->c.stack);
	if (m->tunfd >= 0)
		close(m->tunfd);
	nlroute_close(m->nl);
	loop_free(m->c.loop);
}

int main(int argc, char **argv)
{
	struct cpe_main m = { .tunfd = -1 };
	struct cli_opts o;
	char err[512];
	int r;

	if (!cli_parse(argc, argv, &cli, &o))
		return 2;
	if (auth_init() < 0) {
		fprintf(stderr, "mptun-cpe: libsodium cannot start\n");
		return 1;
	}
	if (!(m.c.cfg = cpe_config_load_file(o.config, err, sizeof(err)))) {
		fprintf(stderr, "mptun-cpe: %s\n", err);
		return 1;
	}
	if (o.check) {
		printf("configuration OK\n");
		cpe_config_unref(m.c.cfg);
		return 0;
	}
	log_init("mptun-cpe", o.foreground, o.debug ? LOG_DEBUG : m.c.cfg->log_level);
	if (!o.foreground && daemon(0, 0) < 0)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	cli_raise_nofile(); /* a flow holds one fd: its MPTCP socket */
	m.config_path = o.config;
	ctl_self_init(&m.self, "mptun-cpe", o.config);
	setup(&m);
	char a[ADDR_STRLEN];
	log_info("capturing TCP from %zu LAN interface(s) into %s; %sconcentrator %s",
		 m.c.cfg->n_lan_interfaces, m.c.cfg->tun_name,
		 m.c.cfg->mode == CPE_MODE_TRANSPARENT ? "transparent mode, " : "",
		 m.c.cfg->conc.ss_family
			 ? addr_str((struct sockaddr *)&m.c.cfg->conc, a, sizeof(a))
			 : "none (paths are not probed)");
	r = loop_run(m.c.loop);
	if (r < 0)
		log_error("event loop: %s", strerror(-r));
	log_info("stopping: removing capture rules, closing %zu flows", m.c.n_flows);
	teardown(&m);
	cpe_config_unref(m.c.cfg);
	log_info("stopped");
	return r < 0 ? 1 : 0;
}
