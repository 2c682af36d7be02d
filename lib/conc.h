/* mptun-concentrator internals: the daemon, its workers (one thread and
 * one epoll loop each, sharing the port with SO_REUSEPORT) and their flows. */
#ifndef MPTUN_CONC_H
#define MPTUN_CONC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "conc_config.h"
#include "conc_cpe.h"
#include "conc_stats.h"
#include "loop.h"
#include "metrics.h"

struct conc_flow;
struct conc_snap;
struct resolver;

/* Flow counts per client address and in all, shared by the workers; per
 * client also the flows still opening (request or connect under way). */
struct conc_limits {
	pthread_mutex_t lock;
	struct conc_client **buckets;
	size_t n_buckets;
	uint32_t total;
};

struct conc_limits_max {
	uint32_t total;      /* limits.flows */
	uint32_t per_client; /* limits.flows_per_client */
	uint32_t pending;    /* limits.pending_per_client */
};

/* The limit a new flow would pass, if any. */
enum conc_limit_hit {
	CONC_LIMIT_NONE,
	CONC_LIMIT_TOTAL,
	CONC_LIMIT_PER_CLIENT,
	CONC_LIMIT_PENDING,
};

int conc_limits_init(struct conc_limits *lim);
void conc_limits_destroy(struct conc_limits *lim);
/* Count one flow of client; false (and nothing counted) when max_total or
 * max_per_client would be passed. */
bool conc_limits_acquire(struct conc_limits *lim, const struct sockaddr *client,
			 uint32_t max_total, uint32_t max_per_client);
/* Count one flow of client that is opening: a place among the flows and
 * one among the client's pending ones, or (at a limit) nothing at all. The
 * pending place is given back with conc_limits_opened, the flow's with
 * conc_limits_release. */
enum conc_limit_hit conc_limits_acquire_opening(struct conc_limits *lim,
						const struct sockaddr *client,
						const struct conc_limits_max *max);
void conc_limits_opened(struct conc_limits *lim, const struct sockaddr *client);
void conc_limits_release(struct conc_limits *lim, const struct sockaddr *client);

/* Destination policy: the config's egress rules plus this host's addresses. */
struct conc_acl {
	struct conc_config *cfg; /* a reference */
	struct addr_prefix_list own;
};

int conc_acl_init(struct conc_acl *acl, struct conc_config *cfg);
void conc_acl_destroy(struct conc_acl *acl);
/* 0 when dst may be connected to, else the RFC 8803 error code to answer:
 * CONVERT_E_MALFORMED for addresses no host can have (loopback, multicast,
 * broadcast, unspecified, port 0), CONVERT_E_NOT_AUTHORIZED for policy. */
int conc_acl_check(const struct conc_acl *acl, const struct sockaddr *dst);
bool conc_acl_client_allowed(const struct conc_acl *acl,
			     const struct sockaddr *client);

struct conc_daemon;

struct conc_worker {
	struct conc_daemon *d;
	unsigned idx;
	pthread_t thread;
	bool started;
	struct loop *loop;
	int lfd;    /* listener, -1 once closed */
	int tfd[2]; /* transparent listeners, IPv4 and IPv6; -1: none */
	int ctl[2]; /* main → worker messages */
	struct conc_acl acl;
	struct resolver *res;
	struct conc_flow *flows; /* doubly linked */
	size_t n_flows;
	struct conc_flow *dead;  /* closed, to free before sleeping */
	struct loop_timer sweep;
	struct loop_timer accept_pause;
	bool accept_paused; /* since the last accept that worked */
	bool draining;
	uint64_t drain_deadline_ms;
	struct conc_stats stats; /* written by this worker only */
	struct metrics_hist connect_hist; /* upstream connects; this worker's */
	struct conc_cpes cpes;   /* per-CPE accounting; this worker's only */
};

struct conc_daemon {
	struct conc_config *cfg;
	struct conc_limits limits;
	struct conc_worker *workers;
	unsigned n_workers;
	uint64_t next_flow_id; /* atomic */
	/* Decided at start, kept over reloads: what nftables and the policy
	 * routing were installed for (conc_tproxy.c). */
	bool transparent; /* transparent.enabled: a transparent listener */
	bool preserve;    /* source.preserve */
};

/* Workers: conc_workers_init binds the listeners, conc_workers_run
 * starts their threads (so the privileges can be dropped in between, while
 * the process has one thread). Each takes its own references to cfg. */
int conc_workers_init(struct conc_daemon *d);
int conc_workers_run(struct conc_daemon *d);
/* Hand a new config to every worker (each takes a reference). */
void conc_workers_reload(struct conc_daemon *d, struct conc_config *cfg);
/* Stop accepting; flows get cfg->drain_timeout_ms, then all are closed. */
void conc_workers_drain(struct conc_daemon *d);
void conc_workers_join(struct conc_daemon *d);
/* The workers' counters added up, while they run. */
void conc_stats_sum(const struct conc_daemon *d, struct conc_stats *out);
/* The same for the connect latency histogram. */
void conc_connect_hist_sum(const struct conc_daemon *d, struct metrics_hist *out);
/* Ask w for its part of s (conc_snap.c): 0, or -errno when the message
 * could not be posted (the caller still holds w's reference then). */
int conc_worker_post_snap(struct conc_worker *w, struct conc_snap *s);

/* Transparent mode and source preservation (conc_tproxy.c). */
bool conc_has_net_admin(void); /* effective, this thread */
/* Check CAP_NET_ADMIN, remove what a crashed run left, install the
 * nftables table and the policy routing for c (lib/nft.h,
 * lib/nlroute_local.h). 0, or -errno with why in err. */
int conc_tproxy_setup(const struct conc_config *c, char *err, size_t errlen);
/* Remove them: c is the configuration they were installed for. */
int conc_tproxy_teardown(const struct conc_config *c, char *err,
			 size_t errlen);
/* A transparent listener: IPPROTO_MPTCP, IP(V6)_TRANSPARENT, on
 * 127.0.0.1:port or [::1]:port (family), where nftables sends the SYNs;
 * SO_REUSEPORT, TCP_FASTOPEN. fd or -errno; *what names the step that
 * failed. */
int conc_tproxy_listener(int family, uint16_t port, int backlog,
			 const char **what);
/* IP_TRANSPARENT or IPV6_TRANSPARENT on fd (needs CAP_NET_ADMIN). */
int conc_set_transparent(int fd, int family);

/* transparent.announce (conc_announce.c): MPTCP "signal" endpoints with
 * transparent.join_port, where the CPEs' further subflows join. */
struct conc_announce {
	uint8_t ids[CONC_ANNOUNCE_MAX]; /* per address; 0: not added (yet) */
	size_t n;       /* addresses: transparent.announce's */
	size_t pending; /* of those, waiting for their port (TIME_WAIT) */
	uint32_t subflows_was; /* the subflows limit, when raised; else 0 */
};
/* Add one endpoint per address (replacing what a crashed run left with
 * that address and port) and raise the namespace's subflows limit to
 * MPTCP_PM_LIMIT_MAX if lower (it is left so at exit). An address whose
 * port is in use (after a restart: the joins of the previous run, in
 * TIME_WAIT for up to CONC_ANNOUNCE_WAIT_S) is left pending: see
 * conc_announce_retry. Nothing when transparent mode or announce is off.
 * 0, or -errno with why in err and nothing left added. */
int conc_announce_setup(const struct conc_config *c, struct conc_announce *a,
			char *err, size_t errlen);
#define CONC_ANNOUNCE_WAIT_S 65 /* the kernel's TIME_WAIT is 60 s */
/* Try the pending addresses again (a timer, every second or so); final:
 * a port still in use is an error. 0 (a->pending says what is left), or
 * -errno with why in err. */
int conc_announce_retry(const struct conc_config *c, struct conc_announce *a,
			bool final, char *err, size_t errlen);
/* Remove the endpoints a holds. err may be NULL. */
int conc_announce_teardown(struct conc_announce *a, char *err, size_t errlen);

/* Flows (conc_flow.c, conc_relay.c). transparent: accepted by the
 * transparent listener; its destination is its local address. */
void conc_flow_accept(struct conc_worker *w, int fd,
		      const struct sockaddr *peer, socklen_t peer_len,
		      bool transparent);
void conc_flow_sweep(struct conc_worker *w, uint64_t now_ms);
void conc_flow_close_all(struct conc_worker *w);
void conc_flow_reap(struct conc_worker *w);

#endif
