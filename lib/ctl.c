#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "metrics.h"

#define CTL_CONN_LIMIT 64
#define CTL_PER_IP_LIMIT 16
#define CTL_CONN_TIMEOUT_S 10

/* One libmicrohttpd daemon: the TCP listener or the unix one. */
struct ctl_srv {
	struct ctl *ctl;
	struct MHD_Daemon *mhd;
	int epfd;
	bool privileged;
	struct loop_timer timer;
};

struct ctl {
	struct loop *loop;
	const struct ctl_route *routes;
	size_t n_routes;
	void *arg;
	struct ctl_srv srv[2];
	size_t n_srv;
	char *socket_path;
	dev_t sock_dev;
	ino_t sock_ino;
};

/* ---- config ---- */

static bool parse_http(const char *s, void *field, char *why, size_t len)
{
	struct sockaddr_storage *ss = field;
	socklen_t sl;

	if (!strcmp(s, "off")) {
		memset(ss, 0, sizeof(*ss));
		return true;
	}
	if (addr_parse(s, -1, ss, &sl) && addr_port((struct sockaddr *)ss))
		return true;
	snprintf(why, len, "want ADDRESS:PORT ([v6]:PORT for IPv6) or off");
	return false;
}

static bool check_socket(const void *base, char *why, size_t len)
{
	const char *s = ((const struct ctl_config *)base)->socket;

	if (strcmp(s, "off") && s[0] != '/') {
		snprintf(why, len, "want an absolute path or off");
		return false;
	}
	if (strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(why, len, "longer than a unix socket path may be (%zu)",
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return false;
	}
	return true;
}

#define COFF(f) offsetof(struct ctl_config, f)
const struct cfg_key ctl_config_schema[] = {
	{ .name = "http", .type = CFG_SCALAR_FN, .offset = COFF(http),
	  .parse = parse_http },
	{ .name = "socket", .type = CFG_STRING, .offset = COFF(socket),
	  .min = 1, .check = check_socket },
	{ 0 },
};

void ctl_config_defaults(struct ctl_config *c, const char *http,
			 const char *socket)
{
	char why[64];

	parse_http(http, &c->http, why, sizeof(why));
	c->socket = strdup(socket);
}

bool ctl_config_has_socket(const struct ctl_config *c)
{
	return c->socket && strcmp(c->socket, "off");
}

/* ---- replies ---- */

const char *ctl_req_arg(const struct ctl_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void reply_reset(struct ctl_reply *rp)
{
	if (!rp->is_static)
		free(rp->body);
	*rp = (struct ctl_reply){ 0 };
}

void ctl_reply_text(struct ctl_reply *rp, const char *type, char *body,
		    size_t len)
{
	reply_reset(rp);
	*rp = (struct ctl_reply){ .status = 200, .type = type, .body = body,
				  .len = len };
}

void ctl_reply_static(struct ctl_reply *rp, const char *type, const void *body,
		      size_t len)
{
	reply_reset(rp);
	*rp = (struct ctl_reply){ .status = 200, .type = type,
				  .body = (char *)body, .len = len,
				  .is_static = true };
}

void ctl_reply_json(struct ctl_reply *rp, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(j);
	reply_reset(rp);
	if (!s) {
		static const char oom[] = "{\"error\":\"out of memory\"}\n";
		ctl_reply_static(rp, "application/json", oom, sizeof(oom) - 1);
		rp->status = 500;
		return;
	}
	ctl_reply_text(rp, "application/json", s, strlen(s));
	rp->status = status;
}

void ctl_reply_error(struct ctl_reply *rp, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_reply_json(rp, status, json_pack("{ss}", "error", msg));
}

/* ---- requests ---- */

static const struct ctl_route *route_find(const struct ctl *c, const char *path,
					  const char *method, bool *path_known)
{
	*path_known = false;
	for (size_t i = 0; i < c->n_routes; i++) {
		if (strcmp(c->routes[i].path, path))
			continue;
		*path_known = true;
		if (!strcmp(c->routes[i].method, method))
			return &c->routes[i];
	}
	return NULL;
}

static void dispatch(struct ctl_srv *s, struct MHD_Connection *conn,
		     const char *url, const char *method, struct ctl_reply *rp)
{
	struct ctl *c = s->ctl;
	struct ctl_req rq = { .method = method, .path = url,
			      .privileged = s->privileged, .conn = conn };
	bool known;
	const struct ctl_route *r = route_find(c, url, method, &known);

	if (!r && known)
		ctl_reply_error(rp, 405, "%s is not allowed on %s", method, url);
	else if (!r)
		ctl_reply_error(rp, 404, "no such endpoint: %s", url);
	else if (r->privileged && !s->privileged)
		ctl_reply_error(rp, 403, "%s %s is served on the control socket "
			       "only", method, url);
	else
		r->fn(c->arg, &rq, rp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	static int started;
	struct ctl_srv *s = cls;
	struct ctl_reply rp = { 0 };
	struct MHD_Response *resp;
	enum MHD_Result ret;

	/* The first call only announces the request; a body (none is
	 * expected) arrives in the calls after it and is dropped. */
	if (!*con_cls) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0;
		return MHD_YES;
	}
	dispatch(s, conn, url, method, &rp);
	resp = MHD_create_response_from_buffer(
		rp.len, rp.body,
		rp.is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		reply_reset(&rp);
		return MHD_NO;
	}
	if (rp.type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rp.type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* The status page loads only its own files and JSON; nothing here
	 * may be framed or sniffed into another type. */
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(conn, rp.status ? rp.status : 500, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("control: %s", msg);
}

/* ---- the loop's side of libmicrohttpd (its epoll fd and timeouts) ---- */

static int64_t on_timer(struct loop *l, void *arg);

static void srv_run(struct ctl_srv *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(s->mhd);
	if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
		loop_timer_arm(s->ctl->loop, &s->timer,
			       ms > 60000 ? 60000 : (int64_t)ms, on_timer, s);
	else
		loop_timer_disarm(s->ctl->loop, &s->timer);
}

static int64_t on_timer(struct loop *l, void *arg)
{
	srv_run(arg); /* re-arms the timer when libmicrohttpd wants it */
	return LOOP_TIMER_STOP;
}

static void on_epoll(struct loop *l, int fd, uint32_t ev, void *arg)
{
	srv_run(arg);
}

static int srv_start(struct ctl *c, int lfd, bool privileged, char *err,
		     size_t errlen, const char *what)
{
	struct ctl_srv *s = &c->srv[c->n_srv];
	const union MHD_DaemonInfo *info;

	*s = (struct ctl_srv){ .ctl = c, .epfd = -1, .privileged = privileged };
	s->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
		MHD_OPTION_LISTEN_SOCKET, lfd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)CTL_CONN_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(privileged ? 0 : CTL_PER_IP_LIMIT),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CTL_CONN_TIMEOUT_S,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
	if (!s->mhd) {
		close(lfd);
		snprintf(err, errlen, "control: cannot serve %s (libmicrohttpd)",
			 what);
		return -1;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || loop_add_fd(c->loop, info->epoll_fd, EPOLLIN, on_epoll, s) < 0) {
		MHD_stop_daemon(s->mhd);
		snprintf(err, errlen, "control: cannot watch %s", what);
		return -1;
	}
	s->epfd = info->epoll_fd;
	c->n_srv++;
	return 0;
}

static int listen_tcp(const struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char a[ADDR_STRLEN];
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    bind(fd, (const struct sockaddr *)ss, len) == 0 && listen(fd, 64) == 0)
		return fd;
	snprintf(err, errlen, "control.http: cannot listen on %s: %s",
		 addr_str((const struct sockaddr *)ss, a, sizeof(a)), strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A file at path: a live daemon's socket (refused), a stale one (removed)
 * or something else (refused). */
static int socket_path_free(const char *path, const struct sockaddr_un *sun,
			    char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control.socket: %s exists and is not a socket",
			 path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "control.socket: %s: another daemon is "
			 "serving on it; stop it or give this one another path", path);
		return -1;
	}
	if (errno == ECONNREFUSED && unlink(path) == 0) {
		log_info("control: removed the stale socket %s", path);
		return 0;
	}
fail:
	snprintf(err, errlen, "control.socket: %s: %s", path, strerror(errno));
	return -1;
}

static int listen_unix(struct ctl *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[sizeof(sun.sun_path)];
	char *slash;
	struct stat st;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	/* /run/mptun is made by systemd (RuntimeDirectory); by hand, here. */
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "control.socket: cannot create %s: %s",
				 dir, strerror(errno));
			return -1;
		}
	}
	if (socket_path_free(path, &sun, err, errlen) < 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, 0660) < 0 || listen(fd, 64) < 0 || stat(path, &st) < 0) {
		snprintf(err, errlen, "control.socket: cannot listen on %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	c->sock_dev = st.st_dev;
	c->sock_ino = st.st_ino;
	return fd;
}

struct ctl *ctl_start(struct loop *l, const struct ctl_config *cfg,
		      const struct ctl_route *routes, size_t n, void *arg,
		      char *err, size_t errlen)
{
	struct ctl *c = calloc(1, sizeof(*c));
	int fd;

	if (!c) {
		snprintf(err, errlen, "control: out of memory");
		return NULL;
	}
	*c = (struct ctl){ .loop = l, .routes = routes, .n_routes = n, .arg = arg };
	if (cfg->http.ss_family) {
		if ((fd = listen_tcp(&cfg->http, err, errlen)) < 0 ||
		    srv_start(c, fd, false, err, errlen, "control.http") < 0)
			goto fail;
	}
	if (ctl_config_has_socket(cfg)) {
		if (!(c->socket_path = strdup(cfg->socket))) {
			snprintf(err, errlen, "control: out of memory");
			goto fail;
		}
		if ((fd = listen_unix(c, cfg->socket, err, errlen)) < 0) {
			free(c->socket_path);
			c->socket_path = NULL;
			goto fail;
		}
		if (srv_start(c, fd, true, err, errlen, "control.socket") < 0)
			goto fail;
	}
	return c;
fail:
	ctl_stop(c);
	return NULL;
}

void ctl_stop(struct ctl *c)
{
	struct stat st;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_srv; i++) {
		loop_timer_disarm(c->loop, &c->srv[i].timer);
		loop_del_fd(c->loop, c->srv[i].epfd);
		MHD_stop_daemon(c->srv[i].mhd);
	}
	/* Only our own socket: another daemon may have taken the path. */
	if (c->socket_path && stat(c->socket_path, &st) == 0 &&
	    st.st_dev == c->sock_dev && st.st_ino == c->sock_ino)
		unlink(c->socket_path);
	free(c->socket_path);
	free(c);
}

/* ---- what every daemon says about itself ---- */

void ctl_self_init(struct ctl_self *s, const char *daemon, const char *config)
{
	*s = (struct ctl_self){ .daemon = daemon, .config = config,
				.started = time(NULL),
				.started_ms = loop_clock_ms() };
}

json_t *ctl_self_json(const struct ctl_self *s)
{
	return json_pack("{ss ss sI ss sI sf sI sI}", "daemon", s->daemon,
			 "version", MPTUN_VERSION, "pid", (json_int_t)getpid(),
			 "config", s->config, "started", (json_int_t)s->started,
			 "uptime_s",
			 (double)(loop_clock_ms() - s->started_ms) / 1000.0,
			 "reloads", (json_int_t)s->reloads, "reload_failures",
			 (json_int_t)s->reload_failures);
}

void ctl_self_metrics(struct metrics *x, const struct ctl_self *self)
{
	metrics_family(x, "mptun_build_info", "gauge", "Always 1.");
	metrics_u64(x, "mptun_build_info", 1, "daemon", self->daemon, "version",
		    MPTUN_VERSION, NULL);
	metrics_family(x, "mptun_start_time_seconds", "gauge",
		       "Unix time the daemon started.");
	metrics_u64(x, "mptun_start_time_seconds", (uint64_t)self->started,
		    NULL);
	metrics_family(x, "mptun_reloads_total", "counter",
		       "Configuration reloads, by result.");
	metrics_u64(x, "mptun_reloads_total", self->reloads, "result", "ok",
		    NULL);
	metrics_u64(x, "mptun_reloads_total", self->reload_failures, "result",
		    "failed", NULL);
}

void ctl_reply_reload(struct ctl_reply *rp, bool ok, const char *msg)
{
	ctl_reply_json(rp, ok ? 200 : 400,
		       json_pack("{sbss}", "ok", ok, "message", msg));
}

json_t *ctl_json_addr(const struct sockaddr *sa)
{
	char a[ADDR_STRLEN];

	if (!sa || !sa->sa_family)
		return json_null();
	return json_string(addr_str(sa, a, sizeof(a)));
}

json_t *ctl_json_host(const struct sockaddr *sa)
{
	char a[ADDR_STRLEN];

	if (!sa || !sa->sa_family)
		return json_null();
	return json_string(addr_host_str(sa, a, sizeof(a)));
}
