#include "stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "bytes.h"
#include "csum.h"
#include "tun.h"
#include "vnet.h"

#define TUN_BATCH 64
#define PKT_MAX	  65536

struct stack {
	struct loop *loop;
	int tunfd;
	struct netif netif;
	struct tcp_pcb *listener;
	struct flownat *nat;
	struct stack_hooks hooks;
	struct loop_timer timer;
	struct stack_counters ctr;
	bool vnet;
	struct vnet_batch batch; /* vnet: lwIP's output, coalesced */
	uint8_t flat[PKT_MAX];
	uint8_t out[PKT_MAX];
	uint8_t in[VNET_HDR_LEN + PKT_MAX];
	uint8_t syn[PKT_MAX];
	uint8_t gso[VNET_HDR_LEN + VNET_PKT_MAX];
};

/* With virtio headers lwIP leaves TCP checksums to the kernel (partial,
 * completed where a device needs them), and trusts those the kernel left
 * partial on the way in. */
#define CSUM_VNET	  (NETIF_CHECKSUM_ENABLE_ALL & ~NETIF_CHECKSUM_GEN_TCP)
#define CSUM_VNET_TRUSTED (CSUM_VNET & ~NETIF_CHECKSUM_CHECK_TCP)

/* lwIP's state is global: one stack per process. */
static struct stack *the_stack;

void stack_default_nat_config(struct flownat_config *c, uint16_t port,
			      uint32_t max_entries, uint32_t linger_ms)
{
	/* Inside lwIP only, never on a wire: the benchmarking range and a
	 * ULA of mptun's own. */
	memset(c, 0, sizeof(*c));
	inet_pton(AF_INET, "198.18.255.254", &c->lwip4);
	inet_pton(AF_INET, "198.18.255.253", &c->synth4);
	inet_pton(AF_INET6, "fd6d:7074:756e::1", &c->lwip6);
	inet_pton(AF_INET6, "fd6d:7074:756e::2", &c->synth6);
	c->lwip_port = port;
	c->max_entries = max_entries;
	c->linger_ms = linger_ms;
}

static bool lan_write(struct stack *s, const void *pkt, size_t len)
{
	if (tun_write(s->tunfd, pkt, len) < 0) {
		s->ctr.tun_out_dropped++;
		return false;
	}
	s->ctr.tun_out++;
	return true;
}

void stack_flush(struct stack *s)
{
	unsigned nseg = s->batch.nseg;
	size_t n = vnet_batch_finish(&s->batch);

	if (n && lan_write(s, s->gso, n) && nseg > 1)
		s->ctr.tun_out_gso++;
}

/* A segment that joins the batch was the flow NAT's business already, as
 * the batch's first (vnet.h). */
static err_t output_vnet(struct stack *s, const uint8_t *pkt, size_t len)
{
	size_t n;

	if (vnet_batch_append(&s->batch, pkt, len))
		return ERR_OK;
	stack_flush(s);
	n = flownat_out(s->nat, pkt, len, vnet_batch_room(&s->batch),
			VNET_PKT_MAX);
	if (n)
		vnet_batch_start(&s->batch, pkt, n);
	return ERR_OK;
}

/* lwIP -> NAT -> TUN. lwIP keeps p for retransmission: copy. */
static err_t output(struct netif *n, struct pbuf *p)
{
	struct stack *s = n->state;
	const uint8_t *pkt = p->payload;
	size_t len;

	if (p->next) {
		pkt = s->flat;
		pbuf_copy_partial(p, s->flat, p->tot_len, 0);
	}
	if (s->vnet)
		return output_vnet(s, pkt, p->tot_len);
	len = flownat_out(s->nat, pkt, p->tot_len, s->out, sizeof(s->out));
	if (len)
		lan_write(s, s->out, len);
	return ERR_OK;
}

static err_t output4(struct netif *n, struct pbuf *p, const ip4_addr_t *a)
{
	return output(n, p);
}

static err_t output6(struct netif *n, struct pbuf *p, const ip6_addr_t *a)
{
	return output(n, p);
}

static err_t netif_setup(struct netif *n)
{
	n->output = output4;
	n->output_ip6 = output6;
	n->name[0] = 'm';
	n->name[1] = 't';
	return ERR_OK;
}

/* A flow lwIP closed first leaves its pcb in TIME_WAIT for 2 MSL, on a
 * list tcp_input walks, whole, for every segment that matches no open pcb
 * (each SYN): at a few thousand connections per second that walk was three
 * quarters of the daemon's time. TIME_WAIT is there to answer a FIN sent
 * again; on the LAN the flow NAT keeps the flow's mapping, so such a FIN
 * draws a reset from lwIP, which ends the client's LAST_ACK all the same.
 * So each TIME_WAIT pcb goes once the segment that made it has been
 * answered: its last ACK is out (tcp_input sends it before returning). */
static void drop_time_wait(struct stack *s)
{
	while (tcp_tw_pcbs) {
		tcp_abandon(tcp_tw_pcbs, 0);
		s->ctr.time_wait_dropped++;
	}
}

/* trusted: its TCP checksum is partial (vnet_packet) and goes unchecked. */
static void inject(struct stack *s, const uint8_t *pkt, size_t len,
		   bool trusted)
{
	struct pbuf *p;

	if (len > 0xffff || !(p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM))) {
		s->ctr.lwip_in_dropped++;
		return;
	}
	pbuf_take(p, pkt, (u16_t)len);
	if (trusted)
		NETIF_SET_CHECKSUM_CTRL(&s->netif, CSUM_VNET_TRUSTED);
	if (s->netif.input(p, &s->netif) != ERR_OK) {
		pbuf_free(p);
		s->ctr.lwip_in_dropped++;
	}
	if (trusted)
		NETIF_SET_CHECKSUM_CTRL(&s->netif, CSUM_VNET);
	drop_time_wait(s);
}

void stack_inject(struct stack *s, const uint8_t *pkt, size_t len)
{
	inject(s, pkt, len, false);
}

/* After what lwIP sent before it, as a packet of its own: its checksums
 * are complete, so its virtio header says nothing. */
void stack_send_lan(struct stack *s, const uint8_t *pkt, size_t len)
{
	uint8_t none[VNET_HDR_LEN] = {0};
	struct iovec iov[2] = {{none, sizeof(none)}, {(void *)pkt, len}};
	ssize_t n;

	if (!s->vnet) {
		lan_write(s, pkt, len);
		return;
	}
	stack_flush(s);
	n = writev(s->tunfd, iov, 2);
	if (n == (ssize_t)(sizeof(none) + len))
		s->ctr.tun_out++;
	else
		s->ctr.tun_out_dropped++;
}

/* A segment of no flow (its daemon restarted, its entry expired): a reset
 * ends the client's connection at once, as a TCP stack would. */
static void stray_rst(struct stack *s, const uint8_t *pkt, size_t len)
{
	uint8_t rst[64];
	size_t n = flownat_make_rst_stray(pkt, len, rst, sizeof(rst));

	if (n)
		stack_send_lan(s, rst, n);
}

/* lwIP 2.1.3 compares sequence numbers as signed 32-bit differences: a
 * segment exactly 2^31 from rcv_nxt passes its window test and trips its
 * "insane offset" assertion in tcp_receive (a LAN host could stop the
 * daemon; found by fuzzing). No real segment is anywhere near that far:
 * anything 2^30 or more away is dropped before lwIP sees it. */
static bool wild_seq(struct stack *s, struct flownat_entry *e,
		     const uint8_t *pkt)
{
	uint32_t nxt, d;

	if (!s->hooks.rcv_nxt || !s->hooks.rcv_nxt(s->hooks.arg, e, &nxt))
		return false;
	d = flownat_tcp_seq(pkt) - nxt;
	return d >= 0x40000000u && d <= 0xc0000000u;
}

/* A flow NAT-checked TCP packet that is a pure ACK (no data, no SYN, FIN
 * or RST) with a SACK option and a good checksum (trusted: partial, see
 * keep_partial): its hook gets its fields. */
static void check_sack_ack(struct stack *s, struct flownat_entry *e,
			   const uint8_t *pkt, size_t len, bool trusted)
{
	bool v4 = pkt[0] >> 4 == 4;
	size_t hl, thl, total, o;
	const uint8_t *t;

	if (v4) {
		hl = (pkt[0] & 0x0fu) * 4u;
		total = be16(pkt + 2);
	} else {
		hl = 40;
		total = 40u + be16(pkt + 4);
	}
	if (total > len || hl + 20 > total)
		return;
	t = pkt + hl;
	thl = (t[12] >> 4) * 4u;
	if ((t[13] & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) != TCP_ACK ||
	    thl < 20 || hl + thl != total)
		return;
	for (o = 20; o < thl && t[o] != 0;) { /* kind 0: end of options */
		if (t[o] == 1) { /* NOP */
			o++;
			continue;
		}
		if (o + 1 >= thl || t[o + 1] < 2)
			return;
		if (t[o] == 5) { /* SACK: blocks of left and right edges */
			uint64_t acc = csum_pseudo(pkt + (v4 ? 12 : 8), v4 ? 4 : 16,
						   IPPROTO_TCP, thl);
			uint32_t ack = be32(t + 8), end = ack, sacked = 0;
			if (!trusted && csum_fold(csum_add(acc, t, thl)) != 0xffff)
				return;
			if (o + t[o + 1] > thl)
				return;
			for (size_t b = o + 2; b + 8 <= o + t[o + 1]; b += 8) {
				uint32_t left = be32(t + b), right = be32(t + b + 4);
				if ((int32_t)(left - ack) > 0 &&
				    (end == ack || (int32_t)(left - end) < 0))
					end = left;
				if ((int32_t)(left - ack) < 0)
					left = ack;
				if ((int32_t)(right - left) > 0 &&
				    right - left < 0x40000000u)
					sacked += right - left;
			}
			s->ctr.sack_acks++;
			if (s->hooks.sack_ack)
				s->hooks.sack_ack(s->hooks.arg, e, be32(t + 4), ack,
						  be16(t + 14), end, sacked);
			return;
		}
		o += t[o + 1];
	}
}

/* partial: pkt's TCP checksum is partial as it says (vnet_packet). */
static void tun_packet(struct stack *s, uint8_t *pkt, size_t len,
		       const struct vnet_hdr *partial)
{
	struct flownat_entry *e;
	uint64_t no_flow = flownat_counters(s->nat)->drop_no_flow;

	switch (flownat_in(s->nat, pkt, len, loop_now_ms(s->loop), &e)) {
	case FLOWNAT_PASS:
		if (wild_seq(s, e, pkt)) {
			s->ctr.drop_wild_seq++;
			break;
		}
		check_sack_ack(s, e, pkt, len, partial != NULL);
		inject(s, pkt, len, partial != NULL);
		if (s->hooks.lan_input_done &&
		    s->hooks.lan_input_done(s->hooks.arg, e))
			s->ctr.hole_rexmits++;
		break;
	case FLOWNAT_NEW:
		/* The hook needs the SYN as the LAN sent it, for a RST or an
		 * ICMP error quoting it. */
		memcpy(s->syn, pkt, len);
		if (flownat_restore(s->nat, e, s->syn, len))
			s->hooks.new_flow(s->hooks.arg, e, s->syn, len, pkt,
					  len);
		else
			flownat_remove(s->nat, e);
		break;
	case FLOWNAT_DROP: /* pkt is as it came */
		if (flownat_counters(s->nat)->drop_no_flow == no_flow)
			break;
		if (!partial || vnet_csum_complete(pkt, len, partial))
			stray_rst(s, pkt, len);
		break;
	case FLOWNAT_HELD:
		break;
	}
}

/* NEEDS_CSUM marks a checksum the kernel left partial: its own stack made
 * the packet, or GRO verified what it merged, so it is as good as verified.
 * A TCP segment goes to lwIP unverified (summing up to 64 KiB for
 * nothing), but for a SYN: the flow NAT checks those, and keeps them to
 * answer. Its offsets are checked against the packet all the same. */
static bool keep_partial(const uint8_t *pkt, const struct vnet_hdr *h)
{
	return h->csum_offset == 16 && !(pkt[h->csum_start + 13] & TCP_SYN);
}

static void vnet_packet(struct stack *s, uint8_t *buf, size_t n)
{
	uint8_t *pkt = buf + VNET_HDR_LEN;
	struct vnet_hdr h;
	size_t len;

	if (n < VNET_HDR_LEN) {
		s->ctr.tun_in_bad_vnet++;
		return;
	}
	vnet_hdr_get(buf, &h);
	len = n - VNET_HDR_LEN;
	if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
		tun_packet(s, pkt, len, NULL);
	} else if ((size_t)h.csum_start + h.csum_offset + 2 > len) {
		s->ctr.tun_in_bad_vnet++;
	} else if (keep_partial(pkt, &h)) {
		tun_packet(s, pkt, len, &h);
	} else {
		vnet_csum_complete(pkt, len, &h);
		tun_packet(s, pkt, len, NULL);
	}
}

static void on_tun(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct stack *s = arg;

	for (int i = 0; i < TUN_BATCH; i++) {
		ssize_t n = read(fd, s->in, sizeof(s->in));
		if (n <= 0)
			break;
		s->ctr.tun_in++;
		if (s->vnet)
			vnet_packet(s, s->in, (size_t)n);
		else
			tun_packet(s, s->in, (size_t)n, NULL);
	}
}

static int64_t on_timer(struct loop *l, void *arg)
{
	u32_t next;

	sys_check_timeouts();
	next = sys_timeouts_sleeptime();
	return next == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? 250 : (int64_t)next;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct stack *s = arg;
	struct flownat_entry *e;

	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	e = flownat_find_synth(s->nat,
			       IP_IS_V6(&pcb->remote_ip) ? AF_INET6 : AF_INET,
			       pcb->remote_port);
	if (!e || !e->owner) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	return s->hooks.accept(s->hooks.arg, pcb, e) < 0 ? ERR_ABRT : ERR_OK;
}

static int listen_setup(struct stack *s, uint16_t port)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);

	if (!pcb)
		return -ENOMEM;
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		tcp_close(pcb);
		return -EADDRINUSE;
	}
	s->listener = tcp_listen_with_backlog(pcb, 255);
	if (!s->listener) {
		tcp_close(pcb);
		return -ENOMEM;
	}
	tcp_arg(s->listener, s);
	tcp_accept(s->listener, on_accept);
	return 0;
}

static void netif_addresses(struct stack *s, const struct flownat_config *c,
			    uint32_t mtu)
{
	ip4_addr_t a, mask, gw;
	ip6_addr_t a6;

	memcpy(&a.addr, &c->lwip4, 4);
	IP4_ADDR(&mask, 255, 255, 255, 255);
	ip4_addr_set_zero(&gw);
	netif_add(&s->netif, &a, &mask, &gw, s, netif_setup, ip_input);
	memcpy(&a6.addr, &c->lwip6, 16);
	ip6_addr_clear_zone(&a6);
	netif_ip6_addr_set(&s->netif, 0, &a6);
	netif_ip6_addr_set_state(&s->netif, 0, IP6_ADDR_VALID);
	s->netif.mtu = (u16_t)mtu;
	if (s->vnet)
		NETIF_SET_CHECKSUM_CTRL(&s->netif, CSUM_VNET);
	netif_set_default(&s->netif);
	netif_set_link_up(&s->netif);
	netif_set_up(&s->netif);
}

struct stack *stack_new(struct loop *l, int tunfd, bool vnet, uint32_t mtu,
			const struct flownat_config *nat,
			const struct stack_hooks *hooks)
{
	struct stack *s;

	if (the_stack || !(s = calloc(1, sizeof(*s))))
		return NULL;
	s->loop = l;
	s->tunfd = tunfd;
	s->vnet = vnet;
	s->batch.buf = s->gso;
	s->hooks = *hooks;
	if (!(s->nat = flownat_new(nat)))
		goto fail;
	the_stack = s;
	lwip_init();
	netif_addresses(s, nat, mtu);
	if (listen_setup(s, nat->lwip_port) < 0)
		goto fail;
	if (loop_add_fd(l, tunfd, EPOLLIN, on_tun, s) < 0)
		goto fail;
	loop_timer_arm(l, &s->timer, 0, on_timer, s);
	return s;
fail:
	stack_free(s);
	return NULL;
}

void stack_free(struct stack *s)
{
	if (!s)
		return;
	stack_flush(s);
	loop_timer_disarm(s->loop, &s->timer);
	loop_del_fd(s->loop, s->tunfd);
	if (s->listener)
		tcp_close(s->listener);
	if (the_stack == s) {
		netif_remove(&s->netif);
		the_stack = NULL;
	}
	flownat_free(s->nat);
	free(s);
}

struct flownat *stack_nat(struct stack *s)
{
	return s->nat;
}

const struct stack_counters *stack_counters(const struct stack *s)
{
	return &s->ctr;
}
