/* lwIP on the TUN device: one netif, the flow NAT in front of it, a
 * dual-stack listener, lwIP's timers in the event loop. The CPE's flows plug
 * in through two hooks. Single-threaded: everything runs in the loop. */
#ifndef MPTUN_STACK_H
#define MPTUN_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flownat.h"
#include "loop.h"

struct tcp_pcb;

struct stack_hooks {
	/* A LAN SYN of a new flow. syn is the packet as the LAN sent it, rw
	 * the same rewritten for lwIP; both are only valid during the call.
	 * e is PENDING: the hook holds it (keeps rw) or releases it with
	 * stack_inject(). */
	void (*new_flow)(void *arg, struct flownat_entry *e, const uint8_t *syn,
			 size_t syn_len, const uint8_t *rw, size_t rw_len);
	/* lwIP accepted the flow of e. Return 0, or -1 after tcp_abort(pcb). */
	int (*accept)(void *arg, struct tcp_pcb *pcb, struct flownat_entry *e);
	/* The next sequence number lwIP expects from the LAN on e's flow, when
	 * the flow knows it; false when it does not (no check then). */
	bool (*rcv_nxt)(void *arg, struct flownat_entry *e, uint32_t *seq);
	/* A pure ACK from the LAN on e's flow that carries SACK blocks (the
	 * client is missing a segment), just before lwIP gets it: its
	 * sequence and acknowledgment numbers, raw window field, where the
	 * hole at ack ends (the lowest SACK left edge above ack; ack when the
	 * blocks name none), and how many bytes above ack the blocks name. */
	void (*sack_ack)(void *arg, struct flownat_entry *e, uint32_t seq,
			 uint32_t ack, uint16_t wnd, uint32_t hole_end,
			 uint32_t sacked);
	/* lwIP has taken a LAN segment of e's flow (callbacks and all).
	 * true: the hook queued a hole's segments again (counted). */
	bool (*lan_input_done)(void *arg, struct flownat_entry *e);
	void *arg;
};

struct stack_counters {
	uint64_t tun_in, tun_out, tun_out_dropped, lwip_in_dropped;
	uint64_t drop_wild_seq; /* segments 2^30 or more from rcv_nxt */
	uint64_t tun_in_bad_vnet; /* a virtio header that does not fit its packet */
	uint64_t tun_out_gso;     /* of tun_out: writes of several segments */
	uint64_t time_wait_dropped; /* lwIP TIME_WAIT pcbs freed at once */
	uint64_t sack_acks; /* pure ACKs with SACK blocks: LAN segments lost */
	uint64_t hole_rexmits; /* a hole's segments queued again (requeue_hole) */
};

struct stack;

/* tunfd is non-blocking and stays the caller's; vnet: it carries virtio
 * headers and offloads (tun_open). */
struct stack *stack_new(struct loop *l, int tunfd, bool vnet, uint32_t mtu,
			const struct flownat_config *nat,
			const struct stack_hooks *hooks);
void stack_free(struct stack *s); /* NULL ok */

/* A packet for lwIP (a held SYN, rewritten), copied. */
void stack_inject(struct stack *s, const uint8_t *pkt, size_t len);
/* A packet the CPE made itself (RST, ICMP), straight to the LAN. */
void stack_send_lan(struct stack *s, const uint8_t *pkt, size_t len);
/* Write what lwIP's output left coalesced (vnet only): before the loop
 * sleeps, so that nothing waits in the batch. */
void stack_flush(struct stack *s);

struct flownat *stack_nat(struct stack *s);
const struct stack_counters *stack_counters(const struct stack *s);
/* The flow NAT's synthetic/lwIP addresses used by the CPE. */
void stack_default_nat_config(struct flownat_config *c, uint16_t port,
			      uint32_t max_entries, uint32_t linger_ms);

#endif
