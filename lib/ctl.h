/* The control interface of both daemons (docs/control.md): a small HTTP
 * API served by libmicrohttpd on a TCP address (control.http, read-only,
 * for Prometheus and the status page) and on a unix socket
 * (control.socket, for mptunctl, which may also reload). Both run inside
 * the daemon's own loop, so handlers read the daemon's state without locks.
 *
 * A handler fills a struct ctl_reply; the helpers below do it for JSON,
 * text and errors. Requests are answered at once: a handler must not block
 * for long (it stalls the loop that carries the flows). */
#ifndef MPTUN_CTL_H
#define MPTUN_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "cfgparse.h"
#include "loop.h"

#define MPTUN_VERSION "0.6.0"

/* cfg `control:` of either daemon. */
struct ctl_config {
	struct sockaddr_storage http; /* AF_UNSPEC: off */
	char *socket;                 /* a path or "off" */
};

/* The keys of `control:`; set the defaults with ctl_config_defaults. */
extern const struct cfg_key ctl_config_schema[];
void ctl_config_defaults(struct ctl_config *c, const char *http,
			 const char *socket);
bool ctl_config_has_socket(const struct ctl_config *c);

struct ctl_req {
	const char *method; /* "GET", "POST" */
	const char *path;   /* without the query */
	bool privileged;    /* came through the unix socket */
	void *conn;         /* for ctl_req_arg */
};

/* A query argument, or NULL. */
const char *ctl_req_arg(const struct ctl_req *rq, const char *name);

struct ctl_reply {
	unsigned status;
	const char *type; /* Content-Type */
	char *body;       /* malloc'd, or static when is_static */
	size_t len;
	bool is_static;
};

/* Fill the reply. ctl_reply_json takes the reference to j. */
void ctl_reply_json(struct ctl_reply *rp, unsigned status, json_t *j);
void ctl_reply_text(struct ctl_reply *rp, const char *type, char *body,
		    size_t len);
void ctl_reply_static(struct ctl_reply *rp, const char *type, const void *body,
		      size_t len);
void ctl_reply_error(struct ctl_reply *rp, unsigned status, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

typedef void (*ctl_fn)(void *arg, const struct ctl_req *rq,
		       struct ctl_reply *rp);

struct ctl_route {
	const char *method;
	const char *path;
	ctl_fn fn;
	bool privileged; /* only on the unix socket: 403 over TCP */
};

struct ctl;

/* Start serving routes (n of them) on what cfg names; NULL (with why in
 * err) when an address cannot be bound, or the socket path is taken by a
 * daemon that answers on it. A stale socket file is replaced. */
struct ctl *ctl_start(struct loop *l, const struct ctl_config *cfg,
		      const struct ctl_route *routes, size_t n, void *arg,
		      char *err, size_t errlen);
/* Stop serving; removes the socket file. NULL ok. */
void ctl_stop(struct ctl *c);

/* What every daemon reports about itself. */
struct ctl_self {
	const char *daemon; /* "mptun-cpe" */
	const char *config; /* its file */
	time_t started;
	uint64_t started_ms; /* loop_clock_ms() at start */
	uint64_t reloads, reload_failures;
};

void ctl_self_init(struct ctl_self *s, const char *daemon, const char *config);
/* A /status object with the fields every daemon has (docs/control.md). */
json_t *ctl_self_json(const struct ctl_self *s);
struct metrics;
/* The metric families every daemon has: build info, start time, reloads. */
void ctl_self_metrics(struct metrics *x, const struct ctl_self *self);
/* The answer to POST /reload: 200 or 400, {"ok": ok, "message": msg}. */
void ctl_reply_reload(struct ctl_reply *rp, bool ok, const char *msg);

/* "addr:port" as a JSON string, null for AF_UNSPEC. */
json_t *ctl_json_addr(const struct sockaddr *sa);
/* The host only, null for AF_UNSPEC. */
json_t *ctl_json_host(const struct sockaddr *sa);

#endif
