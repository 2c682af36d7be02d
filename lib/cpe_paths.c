#include "cpe_paths.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "mptcp_pm.h"
#include "nlroute.h"
#include "probe.h"

#define RESYNC_DELAY_MS 50 /* address and route events come in bursts */

struct path {
	struct cpe_paths *owner;
	const struct cpe_path_config *cfg; /* in owner->cfg */
	unsigned idx;
	uint32_t table;

	/* what the kernel has now, and what is installed */
	struct nlroute_link link;
	struct sockaddr_storage src, gw; /* effective: configured or found */
	socklen_t src_len;
	bool routed;          /* table and rule installed for src/gw */
	bool main_route;      /* the main table's default route is ours */
	bool endpoint;        /* MPTCP endpoint id idx + 1 installed */
	uint64_t endpoint_ms; /* when it was */
	char why[64];         /* why the path is unusable, for the log */

	/* health */
	bool up;
	bool confirmed; /* a probe has answered since the path came up */
	uint64_t since_ms; /* when up last changed */
	uint32_t misses;
	struct probe *probe;
	bool tick_missed; /* a tick came while the last probe still ran */
	struct loop_timer timer;
	bool rtt_known; /* a probe has answered since the path was installed */
	uint32_t rtt_us;
	uint64_t probes_sent, probes_ok, probes_failed, downs;
};

struct cpe_paths {
	struct loop *loop;
	struct nlroute *nr;
	struct mptcp_pm *pm;
	struct nlroute_monitor *mon;
	struct cpe_config *cfg;
	int family;
	uint32_t table, priority; /* as installed */
	struct path v[CPE_PATHS_MAX];
	size_t n;
	uint32_t gen; /* setups so far: part of a path id */
	struct loop_timer resync;
};

static const char *sa_str(const struct sockaddr_storage *ss, char *b, size_t n)
{
	struct sockaddr_storage h = *ss;

	if (!ss->ss_family)
		return "none";
	/* addr_str prints a port; a host has none */
	addr_str((struct sockaddr *)&h, b, n);
	char *colon = strrchr(b, ':');
	if (colon && colon != b)
		*colon = '\0';
	if (b[0] == '[') {
		memmove(b, b + 1, strlen(b));
		b[strlen(b) - 1] = '\0';
	}
	return b;
}

static socklen_t sa_len(int family)
{
	return family == AF_INET6 ? sizeof(struct sockaddr_in6)
				  : sizeof(struct sockaddr_in);
}

/* Endpoints. Ids are ours: path i is endpoint i + 1 (the namespace's
 * endpoints are flushed at start). */

static void endpoint_del(struct path *p)
{
	int r;

	if (!p->endpoint)
		return;
	p->endpoint = false;
	if ((r = mptcp_pm_del(p->owner->pm, (uint8_t)(p->idx + 1))) < 0 && r != -ENOENT)
		log_warnx("path %s: cannot remove its MPTCP endpoint: %s",
			  p->cfg->interface, strerror(-r));
}

/* In transparent mode a concentrator on the path refuses joins to the
 * intercepted destination (its kernel finds the join on the transparent
 * listener's port, not the connection's) and announces an address with a
 * port instead (ADD_ADDR, transparent.announce): fullmesh makes every path
 * join each announced address, and, when nobody announces anything (a
 * plain MPTCP server), behaves as a plain subflow endpoint towards the
 * destination's own address. */
static uint32_t endpoint_flags(const struct cpe_path_config *pc,
			       const struct cpe_config *c)
{
	return MPTCP_PM_ADDR_FLAG_SUBFLOW |
	       (c->mode == CPE_MODE_TRANSPARENT ? MPTCP_PM_ADDR_FLAG_FULLMESH : 0) |
	       (pc->role == CPE_PATH_BACKUP ? MPTCP_PM_ADDR_FLAG_BACKUP : 0);
}

static void endpoint_add(struct path *p)
{
	struct mptcp_pm_endpoint e = {
		.family = p->src.ss_family,
		.ifindex = p->link.ifindex,
		.id = (uint8_t)(p->idx + 1),
		.flags = endpoint_flags(p->cfg, p->owner->cfg),
	};
	int r;

	if (p->endpoint)
		return;
	if (e.family == AF_INET)
		memcpy(e.addr, &((struct sockaddr_in *)&p->src)->sin_addr, 4);
	else
		memcpy(e.addr, &((struct sockaddr_in6 *)&p->src)->sin6_addr, 16);
	r = mptcp_pm_add(p->owner->pm, &e);
	if (r == -EEXIST || r == -EBUSY) { /* left by someone: ours now */
		mptcp_pm_del(p->owner->pm, e.id);
		r = mptcp_pm_add(p->owner->pm, &e);
	}
	if (r < 0) {
		log_warnx("path %s: cannot add its MPTCP endpoint: %s",
			  p->cfg->interface, strerror(-r));
		return;
	}
	p->endpoint = true;
	p->endpoint_ms = loop_now_ms(p->owner->loop);
}

/* State. */

static bool usable(const struct path *p)
{
	return p->routed && p->link.up;
}

/* Endpoints follow the paths' state, with one exception: removing a path's
 * endpoint closes its subflows, the connection's first one included, so a
 * dead path keeps its endpoint until another path is up and has had its
 * endpoint for a probe interval (its subflows have joined). Through an
 * outage of every path (the concentrator restarting, say) the connections
 * keep their subflows and resume when a path comes back. */
static void reconcile(struct cpe_paths *o)
{
	uint64_t now = loop_now_ms(o->loop);
	bool joined = false;

	for (size_t i = 0; i < o->n; i++) {
		struct path *p = &o->v[i];
		if (p->up && usable(p)) {
			endpoint_add(p);
			if (p->endpoint && now - p->endpoint_ms >= o->cfg->health_interval_ms)
				joined = true;
		}
	}
	for (size_t i = 0; joined && i < o->n; i++)
		if (!o->v[i].up || !usable(&o->v[i]))
			endpoint_del(&o->v[i]);
}

static void set_up(struct path *p, bool up, const char *why)
{
	char a[INET6_ADDRSTRLEN + 8];

	if (up == p->up && (!up || p->confirmed))
		return;
	if (up != p->up)
		p->since_ms = loop_now_ms(p->owner->loop);
	p->confirmed = up;
	p->up = up;
	if (up && !p->owner->cfg->conc.ss_family) {
		log_info("path %s up: source %s, link up (no concentrator to "
			 "probe)", p->cfg->interface, sa_str(&p->src, a, sizeof(a)));
	} else if (up) {
		log_info("path %s up: source %s, probe answered in %u.%03u ms",
			 p->cfg->interface, sa_str(&p->src, a, sizeof(a)),
			 p->rtt_us / 1000, p->rtt_us % 1000);
	} else {
		p->downs++;
		log_warnx("path %s down: %s", p->cfg->interface, why);
	}
	reconcile(p->owner);
}

/* Probes. */

static void probe_now(struct path *p);
static void probe_result(struct path *p, const struct probe_result *r);

static void probe_done(void *arg, const struct probe_result *r)
{
	struct path *p = arg;

	p->probe = NULL;
	probe_result(p, r);
	if (p->tick_missed) {
		p->tick_missed = false;
		probe_now(p);
	}
}

static void probe_result(struct path *p, const struct probe_result *r)
{
	const struct cpe_config *c = p->owner->cfg;
	char why[96];

	if (r->err == -EACCES) {
		/* The link works; the concentrator refuses this CPE. */
		log_warnx("path %s: the concentrator refuses the probe (Convert "
			  "error %u): check its clients.allow", p->cfg->interface,
			  r->error_code);
	}
	if (!r->err || r->err == -EACCES) {
		p->probes_ok++;
		p->misses = 0;
		p->rtt_us = r->connect_us;
		p->rtt_known = true;
		if (usable(p))
			set_up(p, true, NULL);
		return;
	}
	p->probes_failed++;
	p->misses++;
	log_debug("path %s: probe failed: %s", p->cfg->interface, strerror(-r->err));
	if (p->misses >= c->health_failures) {
		snprintf(why, sizeof(why), "%u probes failed, the last: %s",
			 p->misses, strerror(-r->err));
		set_up(p, false, why);
	}
}

static void probe_now(struct path *p)
{
	const struct cpe_config *c = p->owner->cfg;
	struct probe_result r = { .err = -ENETUNREACH };

	if (p->probe) {
		p->tick_missed = true; /* timeout == interval: run it at the end */
		return;
	}
	if (!usable(p)) {
		probe_done(p, &r);
		return;
	}
	if (!c->conc.ss_family) {
		/* transparent mode without a concentrator address: nothing to
		 * probe, the path is up while its link is */
		set_up(p, true, NULL);
		return;
	}
	p->probe = probe_start(p->owner->loop, (struct sockaddr *)&c->conc, c->conc_len,
			       (struct sockaddr *)&p->src, p->src_len,
			       p->cfg->interface, c->health_timeout_ms, probe_done, p);
	if (!p->probe) {
		r.err = -errno;
		probe_done(p, &r);
		return;
	}
	p->probes_sent++;
}

static int64_t on_probe_timer(struct loop *l, void *arg)
{
	struct path *p = arg;

	reconcile(p->owner); /* a dead path's endpoint may go now */
	probe_now(p);
	return p->owner->cfg->health_interval_ms;
}

/* Routing: what the kernel has, against what is installed. */

static void unroute(struct path *p)
{
	if (p->routed)
		nlroute_path_remove(p->owner->nr, p->table);
	p->routed = false;
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	return !a->ss_family || addr_equal_host((struct sockaddr *)a, (struct sockaddr *)b);
}

static void resync_path(struct path *p)
{
	struct cpe_paths *o = p->owner;
	struct nlroute_link k;
	struct sockaddr_storage src, gw;
	bool was_up = p->link.up;
	char a[INET6_ADDRSTRLEN + 8], g[INET6_ADDRSTRLEN + 8];
	int r;

	if ((r = nlroute_link_query(o->nr, p->cfg->interface, o->family, &k)) < 0) {
		log_warnx("path %s: cannot read its state: %s", p->cfg->interface,
			  strerror(-r));
		return;
	}
	src = p->cfg->source.ss_family ? p->cfg->source : k.addr;
	gw = p->cfg->gateway.ss_family ? p->cfg->gateway : k.gateway;
	p->main_route = k.gateway.ss_family != 0;
	if (p->routed && k.ifindex == p->link.ifindex && k.up == was_up &&
	    same_host(&src, &p->src) && same_host(&gw, &p->gw))
		return;
	if (!same_host(&src, &p->src))
		endpoint_del(p); /* its address is gone or changed */
	unroute(p);
	p->link = k, p->src = src, p->gw = gw;
	p->src_len = src.ss_family ? sa_len(src.ss_family) : 0;
	if (!k.ifindex)
		snprintf(p->why, sizeof(p->why), "no such interface");
	else if (!src.ss_family)
		snprintf(p->why, sizeof(p->why), "no %s address",
			 o->family == AF_INET ? "IPv4" : "IPv6");
	else if (!gw.ss_family && !k.pointopoint)
		snprintf(p->why, sizeof(p->why), "no gateway (set paths[].gateway)");
	else
		p->why[0] = '\0';
	if (!p->why[0]) {
		struct nlroute_path np = {
			.family = o->family, .table = p->table,
			.priority = o->priority, .ifindex = k.ifindex,
			.source = (struct sockaddr *)&p->src,
			.gateway = gw.ss_family ? (struct sockaddr *)&p->gw : NULL,
		};
		if ((r = nlroute_path_install(o->nr, &np)) < 0)
			snprintf(p->why, sizeof(p->why), "routing: %s", strerror(-r));
		else
			p->routed = true;
	}
	if (p->why[0]) {
		log_warnx("path %s unusable: %s", p->cfg->interface, p->why);
		set_up(p, false, p->why);
		return;
	}
	log_info("path %s: source %s via %s dev %s, table %u, link %s",
		 p->cfg->interface, sa_str(&p->src, a, sizeof(a)),
		 gw.ss_family ? sa_str(&p->gw, g, sizeof(g)) : "(point-to-point)",
		 p->cfg->interface, p->table, k.up ? "up" : "down");
	if (!k.up) {
		set_up(p, false, "link down");
	} else if (!was_up || !p->up) {
		/* back (or new): probe now rather than at the next tick */
		loop_timer_arm(o->loop, &p->timer, 0, on_probe_timer, p);
	} else if (p->up) {
		reconcile(o); /* a new address while up */
	}
}

static int64_t on_resync(struct loop *l, void *arg)
{
	struct cpe_paths *o = arg;

	for (size_t i = 0; i < o->n; i++)
		resync_path(&o->v[i]);
	return LOOP_TIMER_STOP;
}

static void on_monitor(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct cpe_paths *o = arg;
	int r = nlroute_monitor_drain(o->mon);

	if (r < 0)
		log_warnx("route monitor: %s", strerror(-r));
	if (r != 0 && !loop_timer_armed(&o->resync))
		loop_timer_arm(l, &o->resync, RESYNC_DELAY_MS, on_resync, o);
}

/* Setup and teardown. */

void cpe_paths_cleanup(struct nlroute *nr, uint32_t table)
{
	for (uint32_t i = 1; i <= CPE_PATHS_MAX; i++) {
		uint32_t t = table + i;
		if (t < table || t > 0xfffffffeu || (t >= 253 && t <= 255))
			continue; /* not a table a valid configuration gives paths */
		nlroute_path_remove(nr, t);
	}
}

static void teardown(struct cpe_paths *o)
{
	for (size_t i = 0; i < o->n; i++) {
		struct path *p = &o->v[i];
		probe_cancel(p->probe);
		p->probe = NULL;
		loop_timer_disarm(o->loop, &p->timer);
		endpoint_del(p);
		unroute(p);
	}
	o->n = 0;
	loop_timer_disarm(o->loop, &o->resync);
	if (o->mon) {
		loop_del_fd(o->loop, nlroute_monitor_fd(o->mon));
		nlroute_monitor_close(o->mon);
		o->mon = NULL;
	}
	cpe_config_unref(o->cfg);
	o->cfg = NULL;
}

static bool setup(struct cpe_paths *o, struct cpe_config *cfg)
{
	uint32_t subflows, add_addr;
	int r;

	o->cfg = cpe_config_ref(cfg);
	o->gen++;
	o->family = cpe_config_paths_family(cfg);
	o->table = cfg->route_table;
	o->priority = cfg->rule_priority + 2;
	if (!cfg->n_paths)
		return true;
	if (!o->pm && !(o->pm = mptcp_pm_open())) {
		log_error("paths: cannot reach the kernel's MPTCP path manager: %s",
			  strerror(errno));
		return false;
	}
	if ((r = mptcp_pm_flush(o->pm)) < 0 ||
	    (r = mptcp_pm_get_limits(o->pm, &subflows, &add_addr)) < 0)
		goto err_pm;
	subflows = (uint32_t)cfg->n_paths;
	if (cfg->mode == CPE_MODE_TRANSPARENT) {
		/* Each path joins each address the destination (or a
		 * concentrator on the way) announces, and how many it
		 * announces is not known here: the kernel's maximum. */
		subflows = MPTCP_PM_LIMIT_MAX;
		add_addr = MPTCP_PM_LIMIT_MAX;
	}
	if ((r = mptcp_pm_set_limits(o->pm, subflows, add_addr)) < 0) {
err_pm:
		log_error("paths: cannot set the MPTCP endpoints and limits: %s",
			  strerror(-r));
		return false;
	}
	if (!(o->mon = nlroute_monitor_open()) ||
	    loop_add_fd(o->loop, nlroute_monitor_fd(o->mon), EPOLLIN, on_monitor, o) < 0) {
		log_error("paths: cannot watch address and route changes: %s",
			  strerror(errno));
		return false;
	}
	for (size_t i = 0; i < cfg->n_paths; i++) {
		struct path *p = &o->v[i];
		memset(p, 0, sizeof(*p));
		p->owner = o;
		p->cfg = &cfg->paths[i];
		p->idx = (unsigned)i;
		p->table = o->table + 1 + (uint32_t)i;
		p->up = true; /* until probes say otherwise: start at once */
		p->since_ms = loop_now_ms(o->loop);
		nlroute_path_remove(o->nr, p->table);
		o->n = i + 1;
		resync_path(p);
		if (p->up)
			endpoint_add(p);
		if (!loop_timer_armed(&p->timer))
			loop_timer_arm(o->loop, &p->timer, 0, on_probe_timer, p);
	}
	return true;
}

struct cpe_paths *cpe_paths_new(struct loop *l, struct nlroute *nr,
				struct cpe_config *cfg)
{
	struct cpe_paths *o = calloc(1, sizeof(*o));

	if (!o) {
		log_error("paths: out of memory");
		return NULL;
	}
	o->loop = l;
	o->nr = nr;
	if (!setup(o, cfg)) {
		cpe_paths_free(o);
		return NULL;
	}
	return o;
}

void cpe_paths_free(struct cpe_paths *o)
{
	if (!o)
		return;
	bool managed = o->n > 0;
	teardown(o);
	if (managed && o->pm)
		mptcp_pm_flush(o->pm);
	mptcp_pm_close(o->pm);
	free(o);
}

/* Same paths, maybe with other roles. */
static bool same_paths(const struct cpe_config *a, const struct cpe_config *b)
{
	if (a->n_paths != b->n_paths || a->route_table != b->route_table ||
	    a->rule_priority != b->rule_priority || a->mode != b->mode ||
	    cpe_config_paths_family(a) != cpe_config_paths_family(b))
		return false;
	for (size_t i = 0; i < a->n_paths; i++) {
		const struct cpe_path_config *x = &a->paths[i], *y = &b->paths[i];
		if (strcmp(x->interface, y->interface) ||
		    !same_host(&x->source, &y->source) ||
		    !same_host(&x->gateway, &y->gateway))
			return false;
	}
	return true;
}

bool cpe_paths_reload(struct cpe_paths *o, struct cpe_config *cfg)
{
	if (same_paths(o->cfg, cfg)) {
		/* paths point into the old config: repoint them; a new role is
		 * a flag change (MP_PRIO to open connections), not a reinstall */
		for (size_t i = 0; i < o->n; i++) {
			struct path *p = &o->v[i];
			bool backup = cfg->paths[i].role == CPE_PATH_BACKUP;
			int r;
			/* the kernel changes BACKUP and FULLMESH: both given */
			if (p->cfg->role != cfg->paths[i].role && p->endpoint &&
			    (r = mptcp_pm_set_flags(o->pm, (uint8_t)(p->idx + 1),
						    endpoint_flags(&cfg->paths[i], cfg))) < 0)
				log_warnx("path %s: cannot change its role: %s",
					  p->cfg->interface, strerror(-r));
			else if (p->cfg->role != cfg->paths[i].role)
				log_info("path %s is now %s", p->cfg->interface,
					 backup ? "backup" : "active");
			p->cfg = &cfg->paths[i];
		}
		cpe_config_unref(o->cfg);
		o->cfg = cpe_config_ref(cfg);
		return true;
	}
	log_info("paths changed: reinstalling them");
	teardown(o);
	if (o->pm)
		mptcp_pm_flush(o->pm);
	if (setup(o, cfg))
		return true;
	log_error("paths: the new paths could not be set up; none is managed now");
	return false;
}

/* A path id: the setup it belongs to and its index, never 0, so that a
 * flow's id outlives a reinstall without naming another path. */
static uint32_t path_id(const struct cpe_paths *o, size_t i)
{
	return o->gen << 4 | (uint32_t)(i + 1);
}

enum cpe_pick cpe_paths_pick(const struct cpe_paths *o,
			     const struct sockaddr **src, socklen_t *len,
			     uint32_t *id)
{
	*id = 0;
	if (!o || !o->n)
		return CPE_PICK_UNMANAGED;
	for (int role = CPE_PATH_ACTIVE; role <= CPE_PATH_BACKUP; role++) {
		for (size_t i = 0; i < o->n; i++) {
			const struct path *p = &o->v[i];
			if ((int)p->cfg->role == role && p->up && usable(p)) {
				*src = (const struct sockaddr *)&p->src;
				*len = p->src_len;
				*id = path_id(o, i);
				return CPE_PICK_PATH;
			}
		}
	}
	return CPE_PICK_NONE;
}

bool cpe_paths_main_route(const struct cpe_paths *o, uint32_t id)
{
	size_t i = (id & 0xf) - 1;

	if (!o || !o->n)
		return true; /* nothing managed: the main table is the route */
	if (!id || i >= o->n || path_id(o, i) != id)
		return false;
	return o->v[i].main_route;
}

const char *cpe_paths_name(const struct cpe_paths *o, uint32_t id)
{
	size_t i = (id & 0xf) - 1;

	if (!o || !id || i >= o->n || path_id(o, i) != id)
		return NULL;
	return o->v[i].cfg->interface;
}

static void path_info(const struct path *p, struct cpe_path_info *out)
{
	const struct cpe_paths *o = p->owner;

	*out = (struct cpe_path_info){
		.name = p->cfg->interface,
		.interface = p->cfg->interface,
		.backup = p->cfg->role == CPE_PATH_BACKUP,
		.up = p->up && usable(p),
		.state_ms = loop_now_ms(o->loop) - p->since_ms,
		.source = p->src,
		.gateway = p->gw,
		.rtt_known = p->rtt_known,
		.rtt_us = p->rtt_us,
		.probes_sent = p->probes_sent,
		.probes_ok = p->probes_ok,
		.downs = p->downs,
	};
	out->stats = p->link.ifindex > 0 &&
		     nlroute_link_stats(o->nr, p->link.ifindex, &out->tx_bytes,
					&out->rx_bytes) == 0;
}

size_t cpe_paths_info(const struct cpe_paths *o, struct cpe_path_info *v,
		      size_t max)
{
	size_t n = 0;

	for (; o && n < o->n && n < max; n++)
		path_info(&o->v[n], &v[n]);
	return n;
}

void cpe_paths_log(const struct cpe_paths *o)
{
	char a[INET6_ADDRSTRLEN + 8], g[INET6_ADDRSTRLEN + 8];

	for (size_t i = 0; o && i < o->n; i++) {
		const struct path *p = &o->v[i];
		log_info("path: name=%s state=%s role=%s source=%s gateway=%s "
			 "table=%u endpoint=%d rtt_us=%u probes_ok=%llu "
			 "probes_failed=%llu downs=%llu",
			 p->cfg->interface, p->up && usable(p) ? "up" : "down",
			 p->cfg->role == CPE_PATH_BACKUP ? "backup" : "active",
			 sa_str(&p->src, a, sizeof(a)), sa_str(&p->gw, g, sizeof(g)),
			 p->table, p->endpoint, p->rtt_us,
			 (unsigned long long)p->probes_ok,
			 (unsigned long long)p->probes_failed,
			 (unsigned long long)p->downs);
	}
}
