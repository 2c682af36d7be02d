/* Private to lwip-port/cpe_flow*.c: one CPE flow, shared by the code that
 * runs it (cpe_flow.c) and the code that reports on it (cpe_flow_view.c:
 * /flows, subflow counts, log lines). Nothing else includes it. */
#ifndef MPTUN_CPE_FLOW_INT_H
#define MPTUN_CPE_FLOW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lwip/tcp.h"

#include "cpe.h"

#define ANSWER_MAX 1100

enum cf_state {
	CF_CONNECTING,	    /* hold: waiting for the answer; LAN SYN held */
	CF_ACCEPTING,	    /* hold: SYN given to lwIP, waiting for accept */
	CF_FAST_ACCEPTING,  /* fast: SYN given to lwIP at once */
	CF_FAST_WAIT,	    /* fast: accepted, waiting for the first bytes */
	CF_FAST_CONNECTING, /* fast: waiting for the answer, pcb open */
	CF_RELAY,
	CF_DEAD,
};

struct cpe_flow {
	struct cpe_flow *prev, *next;
	struct cpe *cpe;
	uint64_t id;
	enum cf_state state;
	struct flownat_entry *nat;
	int sfd;
	struct tcp_pcb *pcb;
	bool pcb_aborted; /* tcp_abort()ed inside an lwIP callback */
	bool direct;	  /* fail-open: sfd is TCP to dst itself, no opening */
	bool transparent; /* carrier.mode transparent: sfd is MPTCP to dst
			     itself, no opening; its connect is the answer */
	bool pending;	  /* still opening: counted in host->pending */
	struct host_entry *host; /* its LAN host's counts */
	struct sockaddr_storage dst;
	uint8_t *syn, *held; /* the LAN SYN as sent, and rewritten for lwIP */
	size_t syn_len, held_len;
	uint8_t *opening; /* bytes for the socket before the relay */
	size_t opening_len, opening_off;
	uint8_t answer[ANSWER_MAX];
	size_t answer_len;
	uint8_t *stash; /* socket bytes lwIP did not take yet */
	size_t stash_len, stash_off;
	struct pbuf *to_sock; /* LAN bytes the socket did not take yet */
	bool lan_eof, sock_eof, lan_shut, sock_shut;
	bool sock_dry; /* recv() found nothing: wait for EPOLLIN to read */
	bool recovering;  /* lwIP is in fast recovery towards the LAN ... */
	uint32_t recover; /* ... until the LAN acknowledges this (snd_nxt) */
	uint32_t hole_end; /* the LAN's last SACK: the hole at its ACK ends here */
	uint32_t rexmit_end; /* sent again in this recovery up to here */
	bool failed;	   /* counted in failed: its close is logged at info */
	uint32_t path;	   /* cpe_paths_name()'s id of the path it started on */
	uint64_t start_ms; /* the LAN SYN */
	uint64_t open_us;  /* the connection to the concentrator opened */
	uint64_t deadline_ms, active_ms;
	uint64_t bytes_up, bytes_down;
	struct loop_timer fast_timer;
};

/* Every line about a flow: "flow N CLIENT -> DESTINATION what", at level
 * LOG_INFO or LOG_DEBUG. */
void cpe_flow_log(const struct cpe_flow *f, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One end of a flow NAT tuple (port in host order) as a sockaddr. */
void cpe_tuple_addr(int family, const uint8_t *a, uint16_t port,
		    struct sockaddr_storage *ss);

#endif
