/* mptunctl: ask a running mptun daemon (CPE or concentrator) over its
 * control socket or its control.http (docs/control.md) and print the answer
 * as tables, or as the daemon's JSON.
 * Exit: 0 ok, 1 the daemon answered an error, 2 usage, 3 the daemon cannot
 * be reached. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mptunctl.h"

#define FLOWS_LIMIT 1000
#define FLOWS_MAX   100000 /* the daemons' own cap */
#define STATUS_CPES 20     /* rows of the CPE table in `status` */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mptunctl [-s SOCKET | -u URL] [--json] COMMAND [ARGS]\n"
		"Commands:\n"
		"  status             the daemon, its flows and bytes; the CPE's paths\n"
		"                     or the concentrator's CPEs\n"
		"  paths [--no-rate]  the CPE's paths, with their rates over 1 s\n"
		"  flows [-n N]       open flows (at most N, default %d)\n"
		"  cpes               the concentrator's CPEs\n"
		"  metrics            the Prometheus metrics as the daemon serves them\n"
		"  reload             the daemon re-reads its configuration (control\n"
		"                     socket only)\n"
		"Options:\n"
		"  -s SOCKET  the daemon's control socket (default: $MPTUN_SOCKET, else\n"
		"             " SOCK_CPE " or " SOCK_CONC ",\n"
		"             the one that exists)\n"
		"  -u URL     the daemon's control.http, e.g. http://127.0.0.1:9471\n"
		"  --json     print the daemon's JSON instead of tables\n"
		"Exit: 0 ok, 1 the daemon answered an error, 2 usage, 3 the daemon\n"
		"cannot be reached.\n",
		FLOWS_LIMIT);
}

/* ---- status ---- */

static const char *daemon_name(json_t *st)
{
	return fmt_str(st, "daemon");
}

static bool is_cpe(json_t *st)
{
	return !strcmp(daemon_name(st), "mptun-cpe") ||
	       json_is_array(json_object_get(st, "paths"));
}

static bool is_conc(json_t *st)
{
	return !strcmp(daemon_name(st), "mptun-concentrator") ||
	       json_is_array(json_object_get(st, "cpes"));
}

static void kv_uptime(struct table *t, json_t *st)
{
	double v = json_number_value(json_object_get(st, "started"));
	time_t when = v > 0 && v < 1e12 ? (time_t)v : 0; /* else not a time */
	char since[64] = "";
	struct tm tm;

	if (when && localtime_r(&when, &tm))
		strftime(since, sizeof(since), " (since %Y-%m-%d %H:%M:%S)", &tm);
	table_add(t, "uptime");
	table_addf(t, "%s%s", fmt_num(st, "uptime_s", fmt_dur).s, since);
}

/* The Error TLVs that are not 0; "none" when all are, "-" without any. */
static void kv_errors(struct table *t, json_t *st)
{
	json_t *v, *errs = json_object_get(st, "errors");
	const char *k;
	char b[1024] = "";
	size_t len = 0;

	json_object_foreach(errs, k, v) {
		if (json_is_number(v) && json_number_value(v) > 0 && len < sizeof(b))
			len += snprintf(b + len, sizeof(b) - len, "%s%s %s",
					len ? ", " : "", k, fmt_num(errs, k, fmt_count).s);
	}
	table_add(t, "errors");
	table_add(t, len ? b : json_is_object(errs) ? "none" : "-");
}

static void status_summary(json_t *st)
{
	struct table t = { .ncols = 2, .align = "ll" }; /* key, value */
	json_t *fl = json_object_get(st, "flows"), *by = json_object_get(st, "bytes");

	table_add(&t, "daemon");
	table_addf(&t, "%s %s, pid %s", daemon_name(st), fmt_str(st, "version"),
		   fmt_num(st, "pid", fmt_count).s);
	table_add(&t, "config");
	table_add(&t, fmt_str(st, "config"));
	kv_uptime(&t, st);
	table_add(&t, "flows");
	table_addf(&t, "%s active, %s total", fmt_num(fl, "active", fmt_count).s,
		   fmt_num(fl, "total", fmt_count).s);
	table_add(&t, "bytes");
	table_addf(&t, "%s up, %s down", fmt_num(by, "up", fmt_bytes).s,
		   fmt_num(by, "down", fmt_bytes).s);
	table_add(&t, "reloads");
	table_addf(&t, "%s ok, %s failed", fmt_num(st, "reloads", fmt_count).s,
		   fmt_num(st, "reload_failures", fmt_count).s);
	kv_errors(&t, st);
	if (is_cpe(st)) {
		table_add(&t, "concentrator");
		table_add(&t, fmt_str(st, "concentrator"));
		table_add(&t, "tun");
		table_add(&t, fmt_str(st, "tun"));
	}
	if (is_conc(st)) {
		table_add(&t, "listen");
		table_add(&t, fmt_str(st, "listen"));
		table_add(&t, "workers");
		table_add(&t, fmt_num(st, "workers", fmt_count).s);
	}
	table_print(&t);
}

static void status_paths(json_t *paths)
{
	static const char *const h[] = { "PATH", "STATE", "ROLE", "SINCE", "RTT",
					 "SUBFLOWS" };
	struct table t = TABLE(h, "lllrrr");
	json_t *p;
	size_t i;

	json_array_foreach(paths, i, p) {
		table_add(&t, fmt_str(p, "name"));
		table_add(&t, fmt_str(p, "state"));
		table_add(&t, fmt_str(p, "role"));
		table_add(&t, fmt_num(p, "since_s", fmt_dur).s);
		table_add(&t, fmt_num(p, "rtt_ms", fmt_ms).s);
		table_add(&t, fmt_num(p, "subflows", fmt_count).s);
	}
	putchar('\n');
	if (json_array_size(paths))
		table_print(&t);
	else
		printf("no paths configured\n");
}

/* The CPE rows of status and cpes; at most max of them. */
static void cpes_table(json_t *cpes, size_t max)
{
	static const char *const h[] = { "CPE", "ACTIVE", "TOTAL", "UP", "DOWN" };
	struct table t = TABLE(h, "lrrrr");
	json_t *p;
	size_t i;

	json_array_foreach(cpes, i, p) {
		if (i == max)
			break;
		table_add(&t, fmt_str(p, "id"));
		table_add(&t, fmt_num(p, "flows_active", fmt_count).s);
		table_add(&t, fmt_num(p, "flows_total", fmt_count).s);
		table_add(&t, fmt_num(p, "bytes_up", fmt_bytes).s);
		table_add(&t, fmt_num(p, "bytes_down", fmt_bytes).s);
	}
	if (!json_array_size(cpes))
		printf("no CPEs\n");
	else
		table_print(&t);
	if (json_array_size(cpes) > max)
		printf("(%zu of %zu CPEs shown; mptunctl cpes lists all)\n", max,
		       json_array_size(cpes));
}

static int cmd_status(const struct ctl *c)
{
	int rc;
	json_t *st = http_get_json(c, "/status", &rc);

	if (!st)
		return rc;
	if (c->json) {
		fmt_json(st);
	} else {
		status_summary(st);
		if (json_is_array(json_object_get(st, "paths")))
			status_paths(json_object_get(st, "paths"));
		if (json_is_array(json_object_get(st, "cpes"))) {
			putchar('\n');
			cpes_table(json_object_get(st, "cpes"), STATUS_CPES);
		}
	}
	json_decref(st);
	return 0;
}

/* ---- paths, cpes ---- */

/* /status's array `key` in *arr (a reference owned by the caller's *st),
 * or an error: the daemon is not the one that has it (daemon), or it left
 * the array out. */
static int status_array(const struct ctl *c, const char *key, const char *daemon,
			json_t **st, json_t **arr)
{
	const char *name;
	int rc;

	if (!(*st = http_get_json(c, "/status", &rc)))
		return rc;
	*arr = json_object_get(*st, key);
	if (json_is_array(*arr))
		return 0;
	name = daemon_name(*st);
	if (strcmp(name, daemon) && (!strcmp(name, "mptun-cpe") ||
				     !strcmp(name, "mptun-concentrator")))
		fprintf(stderr, "mptunctl: %s is %s, not %s: it has no %s\n",
			http_where(c), name, daemon, key);
	else
		fprintf(stderr, "mptunctl: %s: /status has no \"%s\" array\n",
			http_where(c), key);
	json_decref(*st);
	*st = NULL;
	return EXIT_DAEMON;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The rate of counter k of the path named like p in the older sample old,
 * dt seconds before; "-" when either lacks it or it went backwards. */
static struct fmt_num path_rate(json_t *p, json_t *old, const char *k, double dt)
{
	struct fmt_num r = { "-" };
	json_t *o;
	size_t i;
	double now = json_number_value(json_object_get(p, k)), then;

	json_array_foreach(old, i, o) {
		if (!json_equal(json_object_get(o, "name"), json_object_get(p, "name")))
			continue;
		then = json_number_value(json_object_get(o, k));
		if (json_is_number(json_object_get(p, k)) &&
		    json_is_number(json_object_get(o, k)) && then >= 0 &&
		    now >= then && dt > 0)
			fmt_rate(r.s, sizeof(r.s), (now - then) * 8 / dt);
		break;
	}
	return r;
}

static void paths_print(json_t *paths, json_t *old, double dt)
{
	static const char *const h[] = { "PATH",   "INTERFACE", "ROLE",   "STATE",
					 "SINCE",  "SOURCE",    "GATEWAY", "RTT",
					 "SUBFLOWS", "TX",      "RX",     "TX-RATE",
					 "RX-RATE" };
	struct table t = TABLE(h, "llllrllrrrrrr");
	json_t *p;
	size_t i;

	if (!old)
		t.ncols -= 2;
	json_array_foreach(paths, i, p) {
		table_add(&t, fmt_str(p, "name"));
		table_add(&t, fmt_str(p, "interface"));
		table_add(&t, fmt_str(p, "role"));
		table_add(&t, fmt_str(p, "state"));
		table_add(&t, fmt_num(p, "since_s", fmt_dur).s);
		table_add(&t, fmt_str(p, "source"));
		table_add(&t, fmt_str(p, "gateway"));
		table_add(&t, fmt_num(p, "rtt_ms", fmt_ms).s);
		table_add(&t, fmt_num(p, "subflows", fmt_count).s);
		table_add(&t, fmt_num(p, "tx_bytes", fmt_bytes).s);
		table_add(&t, fmt_num(p, "rx_bytes", fmt_bytes).s);
		if (old) {
			table_add(&t, path_rate(p, old, "tx_bytes", dt).s);
			table_add(&t, path_rate(p, old, "rx_bytes", dt).s);
		}
	}
	if (json_array_size(paths))
		table_print(&t);
	else
		printf("no paths configured\n");
}

/* The time between two samples: the daemon's own clock when both carry
 * it (it is read where the counters are), else ours. */
static double sample_dt(json_t *st1, json_t *st2, double t1, double t2)
{
	json_t *u1 = json_object_get(st1, "uptime_s"), *u2 = json_object_get(st2, "uptime_s");
	double d = json_number_value(u2) - json_number_value(u1);

	return json_is_number(u1) && json_is_number(u2) && d > 0.1 ? d : t2 - t1;
}

static int cmd_paths(const struct ctl *c)
{
	json_t *st1, *st2 = NULL, *p1, *p2;
	double t1, t2;
	int rc;

	if ((rc = status_array(c, "paths", "mptun-cpe", &st1, &p1)))
		return rc;
	t1 = mono_now();
	if (c->json) {
		fmt_json(p1);
	} else if (c->no_rate || !json_array_size(p1)) {
		paths_print(p1, NULL, 0);
	} else {
		usleep(1000000);
		if (!(rc = status_array(c, "paths", "mptun-cpe", &st2, &p2))) {
			t2 = mono_now();
			paths_print(p2, p1, sample_dt(st1, st2, t1, t2));
		}
	}
	json_decref(st1);
	json_decref(st2);
	return rc;
}

static int cmd_cpes(const struct ctl *c)
{
	json_t *st, *cpes;
	int rc;

	if ((rc = status_array(c, "cpes", "mptun-concentrator", &st, &cpes)))
		return rc;
	if (c->json)
		fmt_json(cpes);
	else
		cpes_table(cpes, SIZE_MAX);
	json_decref(st);
	return 0;
}

/* ---- flows ---- */

/* The CPE names the path a flow started on; a fail-open flow went
 * direct, not via the concentrator. */
static const char *flow_path(json_t *f)
{
	if (json_is_true(json_object_get(f, "direct")))
		return "direct";
	return fmt_str(f, "path");
}

/* The concentrator's flows carry their CPE and worker, the CPE's their
 * path: one more column for the concentrator. */
static void flows_print(json_t *ans)
{
	static const char *const h[] = { "ID",  "CLIENT", "DESTINATION", "STATE",
					 "AGE", "UP",     "DOWN",        "PATH" };
	static const char *const hc[] = { "ID",  "CLIENT", "DESTINATION", "STATE",
					  "AGE", "UP",     "DOWN",        "CPE",
					  "WORKER" };
	json_t *f, *flows = json_object_get(ans, "flows");
	bool conc = json_object_get(json_array_get(flows, 0), "cpe") != NULL;
	struct table t = TABLE(h, "rlllrrrl"), tc = TABLE(hc, "rlllrrrlr");
	size_t i;

	if (conc)
		t = tc;
	json_array_foreach(flows, i, f) {
		table_add(&t, fmt_num(f, "id", fmt_count).s);
		table_add(&t, fmt_str(f, "client"));
		table_add(&t, fmt_str(f, "destination"));
		table_add(&t, fmt_str(f, "state"));
		table_add(&t, fmt_num(f, "age_s", fmt_dur).s);
		table_add(&t, fmt_num(f, "bytes_up", fmt_bytes).s);
		table_add(&t, fmt_num(f, "bytes_down", fmt_bytes).s);
		table_add(&t, conc ? fmt_str(f, "cpe") : flow_path(f));
		if (conc)
			table_add(&t, fmt_num(f, "worker", fmt_count).s);
	}
	if (json_array_size(flows))
		table_print(&t);
	else
		printf("no open flows\n");
	if (json_is_true(json_object_get(ans, "truncated")))
		printf("(%zu of %s open flows shown; -n N shows more)\n",
		       json_array_size(flows), fmt_num(ans, "total", fmt_count).s);
}

static int cmd_flows(const struct ctl *c)
{
	char path[64];
	json_t *ans;
	int rc;

	snprintf(path, sizeof(path), "/flows?limit=%ld",
		 c->limit >= 0 ? c->limit : FLOWS_LIMIT);
	if (!(ans = http_get_json(c, path, &rc)))
		return rc;
	if (c->json)
		fmt_json(ans);
	else
		flows_print(ans);
	json_decref(ans);
	return 0;
}

/* ---- metrics, reload ---- */

static int cmd_metrics(const struct ctl *c)
{
	struct http_answer a = { 0 };
	int rc = http_call(c, false, "/metrics", &a);

	if (!rc && a.status / 100 != 2) {
		http_answer_error(c, "GET /metrics", &a, NULL);
		rc = EXIT_DAEMON;
	} else if (!rc && a.len) {
		fwrite(a.body, 1, a.len, stdout);
	}
	free(a.body);
	return rc;
}

/* 200 {"ok": true} applied; 400 {"ok": false} refused, the running
 * configuration stays; control.http answers 403 to any reload. */
static int cmd_reload(const struct ctl *c)
{
	struct http_answer a = { 0 };
	json_t *ans, *ok;
	char msg[1024];
	int rc;

	if ((rc = http_call(c, true, "/reload", &a)))
		return rc;
	ans = json_loadb(a.body ? a.body : "", a.len, 0, NULL);
	ok = json_object_get(ans, "ok");
	snprintf(msg, sizeof(msg), "%s", fmt_str(ans, "message"));
	fmt_clean(msg);
	if (ans && c->json)
		fmt_json(ans);
	if (a.status / 100 == 2 && json_is_true(ok)) {
		if (!c->json)
			printf("ok: %s\n", msg);
	} else if (json_is_false(ok)) {
		fprintf(stderr, "mptunctl: %s: reload refused: %s\n",
			http_where(c), msg);
		rc = EXIT_DAEMON;
	} else if (!ans && a.status / 100 == 2) {
		http_answer_error(c, "POST /reload: an answer that is not JSON",
				  &a, NULL);
		rc = EXIT_DAEMON;
	} else {
		http_answer_error(c, "POST /reload", &a, ans);
		rc = EXIT_DAEMON;
	}
	json_decref(ans);
	free(a.body);
	return rc;
}

/* ---- the command line ---- */

static const struct cmd {
	const char *name;
	int (*run)(const struct ctl *c);
} cmds[] = {
	{ "status", cmd_status }, { "paths", cmd_paths },     { "flows", cmd_flows },
	{ "cpes", cmd_cpes },     { "metrics", cmd_metrics }, { "reload", cmd_reload },
};

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mptunctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: mptunctl [-s SOCKET | -u URL] [--json] COMMAND "
		"[ARGS]; -h says more\n");
	return EXIT_USAGE;
}

/* Options may come before and after the command (`flows -n 5 --json`),
 * whatever POSIXLY_CORRECT says: two passes that stop at a word. */
static int parse_opts(int argc, char **argv, struct ctl *c)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-rate", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int o;

	opterr = 0; /* getopt would name the command, not mptunctl */
	while ((o = getopt_long(argc, argv, "+s:u:n:h", lo, NULL)) != -1) {
		switch (o) {
		case 's': c->socket = optarg; break;
		case 'u': c->url = optarg; break;
		case 'j': c->json = true; break;
		case 'R': c->no_rate = true; break;
		case 'n':
			errno = 0;
			c->limit = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || c->limit < 0 ||
			    c->limit > FLOWS_MAX)
				return bad_usage("-n: expected a number 0..100000, got "
						 "'%s'", optarg);
			break;
		case 'h': usage(stdout); exit(0);
		default:
			return bad_usage("unknown option or missing argument: %s",
					 argv[optind - 1]);
		}
	}
	return 0;
}

static int check_usage(struct ctl *c, const struct cmd *cmd)
{
	if (c->socket && c->url)
		return bad_usage("-s and -u: give one");
	if (c->socket && !*c->socket)
		return bad_usage("-s: an empty path");
	if (c->limit >= 0 && strcmp(cmd->name, "flows"))
		return bad_usage("-n is an option of flows, not of %s", cmd->name);
	if (c->no_rate && strcmp(cmd->name, "paths"))
		return bad_usage("--no-rate is an option of paths, not of %s", cmd->name);
	if (c->json && !strcmp(cmd->name, "metrics"))
		return bad_usage("metrics is Prometheus text: it has no --json");
	if (c->url && strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))
		return bad_usage("-u: expected an http:// or https:// URL, got '%s'",
				 c->url);
	return 0;
}

/* $MPTUN_SOCKET, else the socket of the one daemon that runs here. */
static int pick_socket(struct ctl *c)
{
	const char *env = getenv("MPTUN_SOCKET");
	bool cpe, conc;

	if (c->socket || c->url)
		return 0;
	if (env && *env) {
		c->socket = env;
		return 0;
	}
	cpe = access(SOCK_CPE, F_OK) == 0;
	conc = access(SOCK_CONC, F_OK) == 0;
	if (cpe && conc) {
		fprintf(stderr, "mptunctl: both %s and %s exist: say which daemon "
			"with -s SOCKET\n", SOCK_CPE, SOCK_CONC);
		return EXIT_USAGE;
	}
	c->socket = cpe ? SOCK_CPE : SOCK_CONC;
	c->guessed = !cpe && !conc;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { .limit = -1 };
	const struct cmd *cmd = NULL;
	size_t i;
	int rc;

	if ((rc = parse_opts(argc, argv, &c)))
		return rc;
	if (optind == argc)
		return bad_usage("no command");
	for (i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
		if (!strcmp(argv[optind], cmds[i].name))
			cmd = &cmds[i];
	if (!cmd)
		return bad_usage("unknown command '%s'", argv[optind]);
	/* the command's word stands in for argv[0] of the second pass */
	argv += optind;
	argc -= optind;
	optind = 0;
	if ((rc = parse_opts(argc, argv, &c)))
		return rc;
	if (optind != argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if ((rc = check_usage(&c, cmd)) || (rc = pick_socket(&c)))
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "mptunctl: libcurl cannot start\n");
		return EXIT_DAEMON;
	}
	rc = cmd->run(&c);
	curl_global_cleanup();
	if (fflush(stdout) == EOF && !rc) {
		fprintf(stderr, "mptunctl: writing the output: %s\n", strerror(errno));
		rc = EXIT_DAEMON;
	}
	return rc;
}
