/* /status, /metrics and /flows of mptun-cpe (docs/control.md). */
#include "cpe_ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define FLOWS_DEFAULT 1000
#define FLOWS_MAX     100000
#define PROM_TYPE     "text/plain; version=0.0.4; charset=utf-8"

/* The name a counter has outside the log: "group_key" (unique: the
 * groups share keys such as "in"). */
static const char *stat_name(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s_%s", cpe_stat_descs[i].group,
		 cpe_stat_descs[i].name);
	return buf;
}

static bool is_error(size_t i)
{
	return !strcmp(cpe_stat_descs[i].group, "errors");
}

/* The paths with their subflows: what both /status and /metrics show. */
static size_t paths_now(struct cpe *c, struct cpe_path_info *v)
{
	size_t n = cpe_paths_info(c->paths, v, CPE_PATHS_MAX);

	cpe_flows_subflows(c, v, n);
	return n;
}

/* ---- /status ---- */

static json_t *json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *counters_json(const struct cpe *c, bool errors)
{
	json_t *o = json_object();
	char name[64];

	for (size_t i = 0; o && i < cpe_n_stat_descs; i++) {
		if (is_error(i) != errors)
			continue;
		json_object_set_new(o,
				    errors ? cpe_stat_descs[i].name
					   : stat_name(i, name, sizeof(name)),
				    json_u64(cpe_stat_get(c, i)));
	}
	return o;
}

static json_t *path_json(const struct cpe_path_info *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "interface", json_string(p->interface));
	json_object_set_new(o, "role",
			    json_string(p->backup ? "backup" : "active"));
	json_object_set_new(o, "state", json_string(p->up ? "up" : "down"));
	json_object_set_new(o, "since_s",
			    json_real((double)p->state_ms / 1000.0));
	json_object_set_new(o, "source",
			    ctl_json_host((const struct sockaddr *)&p->source));
	json_object_set_new(
	    o, "gateway", ctl_json_host((const struct sockaddr *)&p->gateway));
	json_object_set_new(o, "rtt_ms",
			    p->rtt_known ? json_real(p->rtt_us / 1000.0)
					 : json_null());
	json_object_set_new(o, "subflows", json_u64(p->subflows));
	json_object_set_new(o, "tx_bytes",
			    p->stats ? json_u64(p->tx_bytes) : json_null());
	json_object_set_new(o, "rx_bytes",
			    p->stats ? json_u64(p->rx_bytes) : json_null());
	json_object_set_new(o, "probes_sent", json_u64(p->probes_sent));
	json_object_set_new(o, "probes_ok", json_u64(p->probes_ok));
	json_object_set_new(o, "downs", json_u64(p->downs));
	return o;
}

void cpe_ctl_status(struct cpe *c, const struct ctl_self *self,
		    struct ctl_reply *rp)
{
	struct cpe_path_info v[CPE_PATHS_MAX];
	size_t n = paths_now(c, v);
	json_t *j = ctl_self_json(self), *paths = json_array();

	if (!j || !paths) {
		json_decref(j), json_decref(paths);
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(paths, path_json(&v[i]));
	json_object_set_new(j, "flows",
			    json_pack("{sIsI}", "active",
				      (json_int_t)c->n_flows, "total",
				      (json_int_t)c->ctr.total));
	json_object_set_new(j, "bytes",
			    json_pack("{sIsI}", "up",
				      (json_int_t)c->ctr.bytes_up, "down",
				      (json_int_t)c->ctr.bytes_down));
	json_object_set_new(j, "counters", counters_json(c, false));
	json_object_set_new(j, "errors", counters_json(c, true));
	json_object_set_new(j, "concentrator",
			    ctl_json_addr((struct sockaddr *)&c->cfg->conc));
	json_object_set_new(j, "tun", json_string(c->cfg->tun_name));
	json_object_set_new(j, "paths", paths);
	ctl_reply_json(rp, 200, j);
}

/* ---- /metrics ---- */

static void metrics_flows(struct metrics *x, const struct cpe *c)
{
	metrics_family(x, "mptun_flows_active", "gauge", "Flows open.");
	metrics_u64(x, "mptun_flows_active", c->n_flows, NULL);
	metrics_family(x, "mptun_flows_total", "counter",
		       "Flows accepted from the LAN.");
	metrics_u64(x, "mptun_flows_total", c->ctr.total, NULL);
	metrics_family(x, "mptun_bytes_total", "counter",
		       "Bytes relayed; up is LAN to server.");
	metrics_u64(x, "mptun_bytes_total", c->ctr.bytes_up, "direction", "up",
		    NULL);
	metrics_u64(x, "mptun_bytes_total", c->ctr.bytes_down, "direction",
		    "down", NULL);
}

static void metrics_counters(struct metrics *x, const struct cpe *c)
{
	char name[64], code[16];

	metrics_family(x, "mptun_convert_errors_total", "counter",
		       "RFC 8803 Error TLVs received from the concentrator in "
		       "answers to flows, by code.");
	for (size_t i = 0; i < cpe_n_stat_descs; i++) {
		if (!is_error(i) || cpe_stat_descs[i].code < 0)
			continue;
		snprintf(code, sizeof(code), "%d", cpe_stat_descs[i].code);
		metrics_u64(x, "mptun_convert_errors_total", cpe_stat_get(c, i),
			    "code", code, "name", cpe_stat_descs[i].name, NULL);
	}
	metrics_family(
	    x, "mptun_counter_total", "counter",
	    "Every other counter of the SIGUSR1 dump, as group_key.");
	for (size_t i = 0; i < cpe_n_stat_descs; i++) {
		if (is_error(i) || cpe_stat_descs[i].gauge)
			continue;
		metrics_u64(x, "mptun_counter_total", cpe_stat_get(c, i),
			    "name", stat_name(i, name, sizeof(name)), NULL);
	}
	metrics_hist_write(x, "mptun_connect_seconds",
			   "Seconds from opening a flow's MPTCP connection "
			   "(hold: at the LAN SYN; fast: at the client's first "
			   "bytes or flow.fast_wait) to the concentrator's "
			   "answer that the server connected; fail-open direct "
			   "flows: to the destination's handshake.",
			   &c->connect);
}

static void metrics_paths(struct metrics *x, const struct cpe_path_info *v,
			  size_t n)
{
	bool rtt = false;

	if (!n)
		return;
	metrics_family(x, "mptun_path_up", "gauge",
		       "1 when the path is up (its probes answer).");
	for (size_t i = 0; i < n; i++)
		metrics_u64(x, "mptun_path_up", v[i].up, "path", v[i].name,
			    "interface", v[i].interface, "role",
			    v[i].backup ? "backup" : "active", NULL);
	metrics_family(x, "mptun_path_subflows", "gauge",
		       "MPTCP subflows of open flows on the path.");
	for (size_t i = 0; i < n; i++)
		metrics_u64(x, "mptun_path_subflows", v[i].subflows, "path",
			    v[i].name, NULL);
	metrics_family(
	    x, "mptun_path_bytes_total", "counter",
	    "Bytes the path's interface sent (tx) and received (rx).");
	for (size_t i = 0; i < n; i++) {
		if (!v[i].stats)
			continue;
		metrics_u64(x, "mptun_path_bytes_total", v[i].tx_bytes, "path",
			    v[i].name, "direction", "tx", NULL);
		metrics_u64(x, "mptun_path_bytes_total", v[i].rx_bytes, "path",
			    v[i].name, "direction", "rx", NULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (!v[i].rtt_known)
			continue;
		if (!rtt)
			metrics_family(
			    x, "mptun_path_rtt_seconds", "gauge",
			    "The last health probe's handshake time.");
		rtt = true;
		metrics_f64(x, "mptun_path_rtt_seconds", v[i].rtt_us / 1e6,
			    "path", v[i].name, NULL);
	}
	metrics_family(x, "mptun_path_downs_total", "counter",
		       "Times the path went down.");
	for (size_t i = 0; i < n; i++)
		metrics_u64(x, "mptun_path_downs_total", v[i].downs, "path",
			    v[i].name, NULL);
}

void cpe_ctl_metrics(struct cpe *c, const struct ctl_self *self,
		     struct ctl_reply *rp)
{
	struct cpe_path_info v[CPE_PATHS_MAX];
	size_t n = paths_now(c, v), len;
	struct metrics x;
	char *body;

	if (metrics_open(&x) < 0) {
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	ctl_self_metrics(&x, self);
	metrics_flows(&x, c);
	metrics_counters(&x, c);
	metrics_paths(&x, v, n);
	if (!(body = metrics_close(&x, &len))) {
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	ctl_reply_text(rp, PROM_TYPE, body, len);
}

/* ---- /flows ---- */

/* Written flow by flow: one small JSON object at a time, not the whole
 * list as jansson objects (100000 flows would take tens of MB). */
struct flows_out {
	struct cpe *c;
	FILE *f;
	size_t limit, n;
	bool truncated, failed;
};

static bool flow_out(void *arg, const struct cpe_flow_info *fi)
{
	struct flows_out *o = arg;
	const char *path = cpe_paths_name(o->c->paths, fi->path);
	json_t *j;

	if (o->n == o->limit) {
		o->truncated = true;
		return false;
	}
	j = json_pack(
	    "{sI so so ss sf sI sI so sb}", "id", (json_int_t)fi->id, "client",
	    ctl_json_addr((const struct sockaddr *)&fi->client), "destination",
	    ctl_json_addr((const struct sockaddr *)&fi->dst), "state",
	    fi->state, "age_s", (double)fi->age_ms / 1000.0, "bytes_up",
	    (json_int_t)fi->bytes_up, "bytes_down", (json_int_t)fi->bytes_down,
	    "path", path ? json_string(path) : json_null(), "direct",
	    fi->direct);
	if (!j || (o->n && fputc(',', o->f) == EOF) ||
	    json_dumpf(j, o->f, JSON_COMPACT | JSON_ENSURE_ASCII) < 0)
		o->failed = true;
	json_decref(j);
	o->n++;
	return !o->failed;
}

/* limit: absent, or digits only, 0..FLOWS_MAX. */
static bool parse_limit(const char *s, size_t *limit)
{
	unsigned long v;
	char *end;

	if (!s) {
		*limit = FLOWS_DEFAULT;
		return true;
	}
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > FLOWS_MAX)
		return false;
	*limit = v;
	return true;
}

void cpe_ctl_flows(struct cpe *c, const struct ctl_req *rq,
		   struct ctl_reply *rp)
{
	struct flows_out o = {.c = c};
	char *buf = NULL;
	size_t len = 0;

	if (!parse_limit(ctl_req_arg(rq, "limit"), &o.limit)) {
		ctl_reply_error(rp, 400, "limit: want a number from 0 to %d",
				FLOWS_MAX);
		return;
	}
	if (!(o.f = open_memstream(&buf, &len))) {
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	fputs("{\"flows\":[", o.f);
	cpe_flows_each(c, flow_out, &o);
	fprintf(o.f, "],\"total\":%zu,\"truncated\":%s}\n", c->n_flows,
		o.truncated ? "true" : "false");
	if (ferror(o.f))
		o.failed = true;
	if (fclose(o.f) != 0 || o.failed) {
		free(buf);
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	ctl_reply_text(rp, "application/json", buf, len);
}
