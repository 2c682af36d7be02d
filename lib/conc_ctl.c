/* /status, /metrics and /flows of the concentrator (see conc_ctl.h). */
#include "conc_ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conc_snap.h"
#include "log.h"
#include "metrics.h"

static uint64_t stat_get(const struct conc_stats *s,
			 const struct conc_stat_desc *d)
{
	return *(const uint64_t *)((const char *)s + d->offset);
}

/* The per-CPE sums, or NULL (logged) when a worker did not answer. */
static struct conc_cpe_stat *cpes_get(struct conc_daemon *d, size_t *n)
{
	struct conc_cpe_stat *v = NULL;
	int err;
	struct conc_snap *s =
	    conc_snap_take(d, CONC_SNAP_CPES, 0, CONC_SNAP_TIMEOUT_MS, &err);

	if (s && !(v = conc_snap_cpes(s, n)))
		err = -ENOMEM;
	conc_snap_unref(s);
	if (!v)
		log_warnx("control: per-CPE counters left out: %s",
			  strerror(-err));
	return v;
}

/* ---- /status ---- */

static json_t *stats_json(const struct conc_stats *s, const char *group)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < conc_n_stat_descs; i++) {
		const struct conc_stat_desc *d = &conc_stat_descs[i];
		if (!strcmp(d->group, group))
			json_object_set_new(
			    o, d->name,
			    json_integer((json_int_t)stat_get(s, d)));
	}
	return o;
}

static json_t *cpes_json(struct conc_daemon *d)
{
	size_t n;
	struct conc_cpe_stat *v = cpes_get(d, &n);
	json_t *a;

	if (!v)
		return json_null();
	a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(
		    a, json_pack("{sssIsIsIsI}", "id", v[i].id, "flows_active",
				 (json_int_t)v[i].flows_active, "flows_total",
				 (json_int_t)v[i].flows_total, "bytes_up",
				 (json_int_t)v[i].bytes_up, "bytes_down",
				 (json_int_t)v[i].bytes_down));
	free(v);
	return a;
}

void conc_ctl_status(struct conc_daemon *d, const struct ctl_self *self,
		     struct ctl_reply *rp)
{
	struct conc_stats s;
	json_t *j = ctl_self_json(self);

	conc_stats_sum(d, &s);
	json_object_set_new(j, "flows",
			    json_pack("{sIsI}", "active", (json_int_t)s.active,
				      "total", (json_int_t)s.accepted));
	json_object_set_new(j, "bytes",
			    json_pack("{sIsI}", "up", (json_int_t)s.bytes_up,
				      "down", (json_int_t)s.bytes_down));
	json_object_set_new(j, "counters", stats_json(&s, "counters"));
	json_object_set_new(j, "errors", stats_json(&s, "errors"));
	json_object_set_new(j, "socks", stats_json(&s, "socks"));
	json_object_set_new(j, "listen",
			    ctl_json_addr((struct sockaddr *)&d->cfg->listen));
	json_object_set_new(j, "workers", json_integer(d->n_workers));
	json_object_set_new(j, "cpes", cpes_json(d));
	ctl_reply_json(rp, 200, j);
}

/* ---- /metrics ---- */

static void metrics_flows(struct metrics *x, const struct conc_stats *s)
{
	metrics_family(x, "mptun_flows_active", "gauge", "Flows open.");
	metrics_u64(x, "mptun_flows_active", s->active, NULL);
	metrics_family(x, "mptun_flows_total", "counter", "Flows accepted.");
	metrics_u64(x, "mptun_flows_total", s->accepted, NULL);
	metrics_family(x, "mptun_bytes_total", "counter",
		       "Bytes relayed; up is client to server.");
	metrics_u64(x, "mptun_bytes_total", s->bytes_up, "direction", "up",
		    NULL);
	metrics_u64(x, "mptun_bytes_total", s->bytes_down, "direction", "down",
		    NULL);
	metrics_family(x, "mptun_convert_errors_total", "counter",
		       "RFC 8803 Error TLVs sent, by code.");
#define ERR_SAMPLE(name, code)                                                 \
	metrics_u64(x, "mptun_convert_errors_total", s->name, "code", #code,   \
		    "name", #name, NULL);
	CONC_STATS_ERRORS(ERR_SAMPLE)
#undef ERR_SAMPLE
}

static void metrics_counters(struct metrics *x, const struct conc_stats *s)
{
	metrics_family(x, "mptun_flows_relaying", "gauge",
		       "Flows relaying bytes (the rest of the active ones are "
		       "still opening or closing).");
	metrics_u64(x, "mptun_flows_relaying", s->relaying, NULL);
	/* active and relaying are gauges: a counter family must only grow. */
	metrics_family(x, "mptun_counter_total", "counter",
		       "Every other counter of the SIGUSR1 dump, by name.");
	for (size_t i = 0; i < conc_n_stat_descs; i++) {
		const struct conc_stat_desc *d = &conc_stat_descs[i];
		if (strcmp(d->group, "errors") && strcmp(d->name, "active") &&
		    strcmp(d->name, "relaying"))
			metrics_u64(x, "mptun_counter_total", stat_get(s, d),
				    "name", d->name, NULL);
	}
}

/* Left out whole when a worker did not answer: a missing series is
 * better than a counter that seems to go back. */
static void metrics_cpes(struct metrics *x, struct conc_daemon *d)
{
	size_t n;
	struct conc_cpe_stat *v = cpes_get(d, &n);

	if (!v)
		return;
	metrics_family(x, "mptun_cpe_flows_active", "gauge",
		       "Flows open, by CPE (Auth key id, else address).");
	for (size_t i = 0; i < n; i++)
		metrics_u64(x, "mptun_cpe_flows_active", v[i].flows_active,
			    "cpe", v[i].id, NULL);
	metrics_family(x, "mptun_cpe_flows_total", "counter",
		       "Flows, by CPE (Auth key id, else address).");
	for (size_t i = 0; i < n; i++)
		metrics_u64(x, "mptun_cpe_flows_total", v[i].flows_total, "cpe",
			    v[i].id, NULL);
	metrics_family(x, "mptun_cpe_bytes_total", "counter",
		       "Bytes relayed, by CPE; up is client to server.");
	for (size_t i = 0; i < n; i++) {
		metrics_u64(x, "mptun_cpe_bytes_total", v[i].bytes_up, "cpe",
			    v[i].id, "direction", "up", NULL);
		metrics_u64(x, "mptun_cpe_bytes_total", v[i].bytes_down, "cpe",
			    v[i].id, "direction", "down", NULL);
	}
	free(v);
}

void conc_ctl_metrics(struct conc_daemon *d, const struct ctl_self *self,
		      struct ctl_reply *rp)
{
	struct metrics_hist h;
	struct conc_stats s;
	struct metrics x;
	char *body;
	size_t len;

	if (metrics_open(&x) < 0) {
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	/* The histogram before the counters: a connect is counted before it
	 * is observed, so the count is never above connect_ok + connect_failed.
	 */
	conc_connect_hist_sum(d, &h);
	conc_stats_sum(d, &s);
	ctl_self_metrics(&x, self);
	metrics_flows(&x, &s);
	metrics_hist_write(
	    &x, "mptun_connect_seconds",
	    "Upstream connects, from start to success or failure.", &h);
	metrics_counters(&x, &s);
	metrics_cpes(&x, d);
	if (!(body = metrics_close(&x, &len))) {
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	ctl_reply_text(rp, "text/plain; version=0.0.4; charset=utf-8", body,
		       len);
}

/* ---- /flows ---- */

/* limit=N: 0..CONC_FLOWS_LIMIT_MAX; false when it is anything else. */
static bool parse_limit(const char *s, size_t *limit)
{
	char *end;
	unsigned long v;

	*limit = CONC_FLOWS_LIMIT_DEFAULT;
	if (!s)
		return true;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > CONC_FLOWS_LIMIT_MAX)
		return false;
	*limit = v;
	return true;
}

static json_t *flow_json(const struct conc_snap_flow *f)
{
	return json_pack("{sIsososssfsIsIsosi}", "id", (json_int_t)f->id,
			 "client", ctl_json_addr(&f->client.sa), "destination",
			 ctl_json_addr(&f->dst.sa), "state", f->state, "age_s",
			 (double)f->age_ms / 1000.0, "bytes_up",
			 (json_int_t)f->bytes_up, "bytes_down",
			 (json_int_t)f->bytes_down, "cpe",
			 f->cpe[0] ? json_string(f->cpe) : json_null(),
			 "worker", (int)f->worker);
}

static json_t *flows_json(const struct conc_snap_flow *v, size_t n,
			  size_t total)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, flow_json(&v[i]));
	return json_pack("{sosIsb}", "flows", a, "total", (json_int_t)total,
			 "truncated", total > n);
}

void conc_ctl_flows(struct conc_daemon *d, const struct ctl_req *rq,
		    struct ctl_reply *rp)
{
	struct conc_snap_flow *v;
	struct conc_snap *s;
	size_t limit, n, total;
	int err;

	if (!parse_limit(ctl_req_arg(rq, "limit"), &limit)) {
		ctl_reply_error(rp, 400,
				"limit: want a whole number from 0 to %d",
				CONC_FLOWS_LIMIT_MAX);
		return;
	}
	if (!(s = conc_snap_take(d, CONC_SNAP_FLOWS, limit,
				 CONC_SNAP_TIMEOUT_MS, &err))) {
		ctl_reply_error(rp, err == -ETIMEDOUT ? 503 : 500,
				"the workers' flows: %s", strerror(-err));
		return;
	}
	v = conc_snap_flows(s, limit, &n, &total);
	conc_snap_unref(s);
	if (!v) {
		ctl_reply_error(rp, 500, "out of memory");
		return;
	}
	ctl_reply_json(rp, 200, flows_json(v, n, total));
	free(v);
}
