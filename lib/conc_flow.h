/* One flow of the concentrator: private to conc_flow.c (the opening:
 * Convert or SOCKS, policy, connect) and conc_relay.c (bytes both ways). */
#ifndef MPTUN_CONC_FLOW_H
#define MPTUN_CONC_FLOW_H

#include "conc.h"
#include "convert.h"

enum flow_state {
	FLOW_OPENING,     /* reading the first message */
	FLOW_S5_AUTH,     /* SOCKS5: waiting for username/password */
	FLOW_S5_REQUEST,  /* SOCKS5: waiting for the request */
	FLOW_RESOLVING,   /* SOCKS4a/5 host name lookup */
	FLOW_CONNECTING,  /* connect to the destination in progress */
	FLOW_RELAY,       /* splicing both ways */
	FLOW_FINISHING,   /* final answer queued; FIN after it, then drain */
	FLOW_DEAD,        /* closed; freed by the worker before it sleeps */
};

/* FLOW_TRANSPARENT: intercepted by TPROXY, no request and no answer. */
enum flow_proto { FLOW_CONVERT, FLOW_SOCKS4, FLOW_SOCKS5, FLOW_TRANSPARENT };

/* One direction of the relay. Bytes in pend go out before the pipe is used:
 * the reply to the client, or the client's early data for the server. */
struct flow_dir {
	int pipe[2]; /* -1 until the direction carries bulk (copy mode) */
	size_t in_pipe, pipe_cap;
	const uint8_t *pend;
	size_t pend_len;
	uint8_t *spill; /* pend's buffer when it is ours: copy mode's rest */
	uint64_t bytes;
	bool eof;  /* the source sent FIN */
	bool shut; /* FIN passed on to the destination */
	bool dry;  /* the source had nothing: read it again after EPOLLIN */
};

#define FLOW_IN_MAX 4096

struct conc_flow {
	struct conc_flow *prev, *next;
	struct conc_worker *w;
	uint64_t id;
	enum flow_state state;
	enum flow_proto proto;
	int cfd, sfd;
	struct sockaddr_storage peer, dst;
	socklen_t peer_len, dst_len;
	/* The client's own address, to preserve when policy allows: the
	 * Source TLV's, or a transparent flow's peer. AF_UNSPEC: none. */
	struct sockaddr_storage src;
	bool counted;    /* holds a place in conc_limits */
	bool accounted;  /* its CPE is decided (cpe may still be NULL) */
	struct conc_cpe *cpe; /* its entry in w->cpes; NULL: none */
	uint64_t start_ms;    /* accepted */
	uint64_t connect_us;  /* the upstream connect began (monotonic) */
	uint64_t deadline_ms; /* of the current state; 0 = none */
	uint64_t active_ms;   /* last byte relayed */
	struct resolve_req *req;
	struct flow_dir up;   /* client → server */
	struct flow_dir down; /* server → client */
	size_t in_len, in_used;
	uint8_t in[FLOW_IN_MAX];   /* the client's opening bytes */
	uint8_t reply[CONVERT_MAX_LEN + 32];
};

/* conc_relay.c */
/* One line at debug level about an event of f, in the one format of flow
 * lines: "flow ID CLIENT -> DESTINATION: what" (no destination while it
 * is unknown). */
void flow_log(const struct conc_flow *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool flow_has_dst(const struct conc_flow *f);
void relay_start(struct conc_flow *f);
void relay_on_io(struct conc_flow *f, int fd, uint32_t events);
void flow_finish_on_io(struct conc_flow *f, int fd, uint32_t events);
/* Queue reply (already in f->reply, len bytes), FIN after it, then wait
 * for the client's FIN. */
void flow_finish(struct conc_flow *f, size_t len);
/* The one end of every flow. abort_* sends RST on that side. The flow
 * becomes FLOW_DEAD and is freed later (conc_flow_reap), so a caller may
 * still look at f->state after any call that can close it. */
void flow_close(struct conc_flow *f, const char *reason, bool abort_client,
		bool abort_server);
void flow_set_events(struct conc_flow *f, int fd, uint32_t events);
void flow_on_io(struct loop *l, int fd, uint32_t events, void *arg);

/* conc_flow.c */
void flow_opening_on_io(struct conc_flow *f, int fd, uint32_t events);
void flow_connecting_on_io(struct conc_flow *f, int fd, uint32_t events);
void flow_refuse_timeout(struct conc_flow *f); /* connect or lookup too slow */
/* conc_source.c */
/* Start f's upstream connect to f->dst: from f->src with IP_TRANSPARENT
 * when source.preserve allows it, else from egress.source4/6 (per-flow
 * NAT). Counts which. The fd (connect in progress or done) or -errno. */
int flow_upstream_connect(struct conc_flow *f);
/* Check a Source TLV's value into f->src. false: malformed. */
bool flow_source_tlv(struct conc_flow *f, const struct convert_msg *m);

/* Count f for its CPE, once: auth_id when its Auth TLV proved one (not
 * NULL or ""), else its client's address. */
void flow_account(struct conc_flow *f, const char *auth_id);

#endif
