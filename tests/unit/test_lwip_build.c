/*
 * lwIP as built by lwip-port/lwip.mk with lwip-port/lwipopts.h: a netif
 * without a link layer answers hand-made IPv4 and IPv6 SYNs to a listener
 * with SYN-ACKs that carry window scaling, SACK and the expected MSS, and
 * the final ACK hands over a pcb with the large windows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "bytes.h"

_Static_assert(TCP_WND >= 256 * 1024, "lwIP receive window below 256 KiB");
_Static_assert(TCP_SND_BUF >= 256 * 1024, "lwIP send buffer below 256 KiB");
_Static_assert(LWIP_WND_SCALE, "no window scaling");
_Static_assert(TCP_WND <= 0xffffu << TCP_RCV_SCALE, "TCP_RCV_SCALE too small");

#define LISTEN_PORT 1
#define CLIENT_ISN  1000u
#define TUN_MTU	    1500

#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

static struct netif tun;
static struct tcp_pcb *listener;
static struct tcp_pcb *accepted;

/* The last packet lwIP sent, and how many it sent. */
static uint8_t out[2048];
static size_t out_len;
static int out_count;

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += be16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Internet checksum of the TCP segment at ip+hlen, with the pseudo-header
 * of IPv4 (addresses at 12, 16) or IPv6 (addresses at 8, 24). */
static uint16_t tcp_sum(const uint8_t *ip, size_t hlen, size_t tcplen)
{
	bool v6 = (ip[0] >> 4) == 6;
	uint32_t sum = sum16(ip + (v6 ? 8 : 12), v6 ? 32 : 8, 0);

	sum += 6 + (uint32_t)tcplen;
	return fold(sum16(ip + hlen, tcplen, sum));
}

static err_t capture(struct pbuf *p)
{
	/* LWIP_NETIF_TX_SINGLE_PBUF: one flat buffer per packet. */
	assert_null(p->next);
	assert_true(p->tot_len <= sizeof(out));
	out_len = pbuf_copy_partial(p, out, sizeof(out), 0);
	out_count++;
	return ERR_OK;
}

static err_t tun_output4(struct netif *n, struct pbuf *p, const ip4_addr_t *a)
{
	return capture(p);
}

static err_t tun_output6(struct netif *n, struct pbuf *p, const ip6_addr_t *a)
{
	return capture(p);
}

static err_t tun_netif_init(struct netif *n)
{
	n->name[0] = 't';
	n->name[1] = 'u';
	n->mtu = TUN_MTU;
	n->output = tun_output4;
	n->output_ip6 = tun_output6;
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	assert_int_equal(err, ERR_OK);
	accepted = pcb;
	return ERR_OK;
}

static int setup(void **state)
{
	ip4_addr_t addr, mask;
	ip6_addr_t addr6;
	s8_t idx;
	struct tcp_pcb *pcb;

	lwip_init();
	IP4_ADDR(&addr, 10, 0, 0, 1);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	if (!netif_add(&tun, &addr, &mask, IP4_ADDR_ANY4, NULL, tun_netif_init,
		       ip_input))
		return -1;
	IP6_ADDR(&addr6, PP_HTONL(0xfd000000), 0, 0, PP_HTONL(1));
	if (netif_add_ip6_address(&tun, &addr6, &idx) != ERR_OK)
		return -1;
	/* No duplicate detection: the daemon declares its addresses valid. */
	netif_ip6_addr_set_state(&tun, idx, IP6_ADDR_VALID);
	netif_set_default(&tun);
	netif_set_link_up(&tun);
	netif_set_up(&tun);

	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb || tcp_bind(pcb, IP_ANY_TYPE, LISTEN_PORT) != ERR_OK)
		return -1;
	listener = tcp_listen(pcb);
	if (!listener)
		return -1;
	tcp_accept(listener, on_accept);
	return 0;
}

static int teardown(void **state)
{
	tcp_close(listener);
	netif_remove(&tun);
	return 0;
}

/* TCP header at seg with MSS 1460, SACK permitted and window scale 7, the
 * options of a Linux SYN without timestamps. Returns its length. */
static size_t put_tcp(uint8_t *seg, uint16_t sport, uint32_t seq, uint32_t ack,
		      uint8_t flags)
{
	static const uint8_t syn_opts[] = {2, 4, 0x05, 0xb4, 1, 3,
					   3, 7, 4,    2,    1, 1};
	size_t optlen = flags & TH_SYN ? sizeof(syn_opts) : 0;

	memset(seg, 0, 20);
	put_be16(seg, sport);
	put_be16(seg + 2, LISTEN_PORT);
	put_be32(seg + 4, seq);
	put_be32(seg + 8, ack);
	seg[12] = (uint8_t)((20 + optlen) / 4 << 4);
	seg[13] = flags;
	put_be16(seg + 14, 64240);
	memcpy(seg + 20, syn_opts, optlen);
	return 20 + optlen;
}

/* An IPv4 (v6 false) or IPv6 packet from the client (10.0.0.2 or fd00::2)
 * to the netif's address, with correct checksums. */
static size_t build(uint8_t *pkt, bool v6, uint16_t sport, uint32_t seq,
		    uint32_t ack, uint8_t flags)
{
	size_t hlen = v6 ? 40 : 20;
	size_t tcplen = put_tcp(pkt + hlen, sport, seq, ack, flags);

	memset(pkt, 0, hlen);
	if (v6) {
		pkt[0] = 0x60;
		put_be16(pkt + 4, (uint16_t)tcplen);
		pkt[6] = 6;
		pkt[7] = 64;
		pkt[8] = 0xfd;
		pkt[23] = 2;
		pkt[24] = 0xfd;
		pkt[39] = 1;
	} else {
		pkt[0] = 0x45;
		put_be16(pkt + 2, (uint16_t)(hlen + tcplen));
		pkt[6] = 0x40; /* DF */
		pkt[8] = 64;
		pkt[9] = 6;
		memcpy(pkt + 12, (uint8_t[]){10, 0, 0, 2, 10, 0, 0, 1}, 8);
		put_be16(pkt + 10, fold(sum16(pkt, hlen, 0)));
	}
	put_be16(pkt + hlen + 16, tcp_sum(pkt, hlen, tcplen));
	return hlen + tcplen;
}

static void inject(const uint8_t *pkt, size_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);

	assert_non_null(p);
	assert_int_equal(pbuf_take(p, pkt, (u16_t)len), ERR_OK);
	assert_int_equal(tun.input(p, &tun), ERR_OK);
}

/* Checks lwIP's last packet is a valid TCP segment from the listener to
 * sport with these flags; returns the TCP header. */
static const uint8_t *check_reply(bool v6, uint16_t sport, uint8_t flags)
{
	size_t hlen = v6 ? 40 : 20;
	const uint8_t *tcp = out + hlen;

	assert_true(out_len >= hlen + 20);
	if (v6) {
		assert_int_equal(out[0] >> 4, 6);
		assert_int_equal(out[6], 6);
		assert_int_equal(be16(out + 4), out_len - hlen);
	} else {
		assert_int_equal(out[0], 0x45);
		assert_int_equal(out[9], 6);
		assert_int_equal(be16(out + 2), out_len);
		assert_int_equal(fold(sum16(out, hlen, 0)), 0);
	}
	assert_int_equal(tcp_sum(out, hlen, out_len - hlen), 0);
	assert_int_equal(be16(tcp), LISTEN_PORT);
	assert_int_equal(be16(tcp + 2), sport);
	assert_int_equal(tcp[13], flags);
	return tcp;
}

/* Value of TCP option kind in the header tcp (length len), or -1 if absent;
 * options of two bytes (SACK permitted) give 0. */
static long tcp_option(const uint8_t *tcp, uint8_t kind, uint8_t len)
{
	size_t end = (size_t)(tcp[12] >> 4) * 4;

	for (size_t i = 20; i < end && tcp[i] != 0;) {
		if (tcp[i] == 1) {
			i++;
			continue;
		}
		assert_true(i + 1 < end && tcp[i + 1] >= 2);
		if (tcp[i] == kind) {
			assert_int_equal(tcp[i + 1], len);
			return len == 4	  ? be16(tcp + i + 2)
			       : len == 3 ? tcp[i + 2]
					  : 0;
		}
		i += tcp[i + 1];
	}
	return -1;
}

/* SYN in, SYN-ACK out; then ACK in, and the accepted pcb has the
 * configured windows. Stores lwIP's ISN in *isn. */
static struct tcp_pcb *handshake(bool v6, uint16_t sport, long mss,
				 uint32_t *isn)
{
	uint8_t pkt[128];
	const uint8_t *tcp;
	int sent = out_count;

	accepted = NULL;
	inject(pkt, build(pkt, v6, sport, CLIENT_ISN, 0, TH_SYN));
	assert_int_equal(out_count, sent + 1);
	tcp = check_reply(v6, sport, TH_SYN | TH_ACK);
	assert_int_equal(get32(tcp + 8), CLIENT_ISN + 1);
	assert_int_equal(tcp_option(tcp, 2, 4), mss);
	assert_int_equal(tcp_option(tcp, 3, 3), TCP_RCV_SCALE);
	assert_int_equal(tcp_option(tcp, 4, 2), 0);
	/* A SYN's window is never scaled: the largest unscaled one. */
	assert_int_equal(be16(tcp + 14), 0xffff);
	*isn = get32(tcp + 4);

	inject(pkt, build(pkt, v6, sport, CLIENT_ISN + 1, *isn + 1, TH_ACK));
	assert_non_null(accepted);
	assert_int_equal(accepted->state, ESTABLISHED);
	assert_int_equal(accepted->rcv_scale, TCP_RCV_SCALE);
	assert_int_equal(accepted->snd_scale, 7);
	assert_int_equal(accepted->rcv_wnd, TCP_WND);
	/* tcp_sndbuf() saturates at 0xffff (tcp_write() takes a u16_t). */
	assert_int_equal(accepted->snd_buf, TCP_SND_BUF);
	assert_int_equal(tcp_sndbuf(accepted), 0xffff);
	assert_int_equal(tcp_mss(accepted), mss);
	return accepted;
}

static void abort_flow(struct tcp_pcb *pcb, bool v6, uint16_t sport)
{
	tcp_abort(pcb);
	check_reply(v6, sport, TH_RST | TH_ACK);
}

static uint32_t isn4, isn6;

static void test_syn_ipv4(void **state)
{
	abort_flow(handshake(false, 40000, TCP_MSS, &isn4), false, 40000);
}

/* The effective MSS follows the netif MTU: 1500 - 40 - 20 over IPv6. */
static void test_syn_ipv6(void **state)
{
	long mss = LWIP_MIN(TCP_MSS, TUN_MTU - 60);

	abort_flow(handshake(true, 40001, mss, &isn6), true, 40001);
}

/* The whole send buffer fits in the send queue (TCP_SND_QUEUELEN), and
 * what goes out is full-sized segments. */
static void test_send_buffer_fills(void **state)
{
	static uint8_t chunk[0xffff];
	uint32_t isn;
	struct tcp_pcb *pcb = handshake(false, 40004, TCP_MSS, &isn);
	size_t total = 0;
	int sent = out_count;

	while (tcp_sndbuf(pcb) > 0) {
		u16_t n = tcp_sndbuf(pcb);

		assert_int_equal(tcp_write(pcb, chunk, n, TCP_WRITE_FLAG_COPY),
				 ERR_OK);
		total += n;
	}
	assert_int_equal(total, TCP_SND_BUF);
	assert_true(tcp_sndqueuelen(pcb) <= TCP_SND_QUEUELEN);
	assert_int_equal(tcp_output(pcb), ERR_OK);
	assert_true(out_count > sent);
	check_reply(false, 40004, TH_ACK);
	assert_int_equal(out_len, 20 + 20 + TCP_MSS);
	abort_flow(pcb, false, 40004);
}

/* Without LWIP_HOOK_TCP_ISN both would be lwIP's tick counter (no tick
 * has passed). 1 in 2^32 to fail by chance. */
static void test_isn_random(void **state)
{
	assert_int_not_equal(isn4, isn6);
}

static void test_no_listener_rst(void **state)
{
	uint8_t pkt[128];
	size_t len = build(pkt, false, 40002, CLIENT_ISN, 0, TH_SYN);

	put_be16(pkt + 20 + 2, 2); /* port 2: nobody listens */
	put_be16(pkt + 20 + 16, 0);
	put_be16(pkt + 20 + 16, tcp_sum(pkt, 20, len - 20));
	inject(pkt, len);
	assert_int_equal(out[20 + 13], TH_RST | TH_ACK);
	assert_int_equal(get32(out + 20 + 8), CLIENT_ISN + 1);
}

static void test_bad_checksum_dropped(void **state)
{
	uint8_t pkt[128];
	size_t len = build(pkt, true, 40003, CLIENT_ISN, 0, TH_SYN);
	int sent = out_count;

	pkt[40 + 16] ^= 0x01;
	inject(pkt, len);
	assert_int_equal(out_count, sent);
	assert_true(lwip_stats.tcp.chkerr >= 1);
}

static void test_timers_and_stats(void **state)
{
	u32_t t0 = sys_now();

	sys_check_timeouts();
	assert_true(sys_now() - t0 < 1000);
	assert_true(lwip_stats.tcp.recv >= 4);
	assert_true(lwip_stats.tcp.xmit >= 4);
	assert_true(lwip_stats.ip.recv >= 3);
	assert_true(lwip_stats.ip6.recv >= 3);
	assert_int_equal(lwip_stats.memp[MEMP_TCP_PCB]->used, 0);
	assert_true(lwip_stats.memp[MEMP_TCP_PCB]->max >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syn_ipv4),
	    cmocka_unit_test(test_syn_ipv6),
	    cmocka_unit_test(test_isn_random),
	    cmocka_unit_test(test_send_buffer_fills),
	    cmocka_unit_test(test_no_listener_rst),
	    cmocka_unit_test(test_bad_checksum_dropped),
	    cmocka_unit_test(test_timers_and_stats),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
