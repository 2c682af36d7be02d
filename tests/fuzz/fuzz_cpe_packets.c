/* libFuzzer target for the CPE's packet path: bytes as if read from the TUN
 * device, through the flow NAT (flownat.c) into lwIP (stack.c) and the
 * CPE's flows (cpe_flow.c), and whatever the stack writes back.
 *
 * Found so far (regression inputs in corpus/cpe_packets): lwIP 2.1.3 reads
 * past the TCP header for a last option without its length byte (now
 * dropped by flownat), and aborts on its "insane offset" assertion for a
 * segment 2^31 from rcv_nxt (now dropped by stack.c); and cpe_flow.c sent
 * a second FIN when the handshake's ACK carried a FIN and the relay ran
 * inside lwIP's accept callback (now it starts on the next loop round).
 *
 * Each input builds a real stack (an event loop, one end of a datagram
 * socketpair as the TUN device, the hooks of cpe_flows_init() with a
 * configuration loaded from YAML) and tears it all down at its end, lwIP's
 * global state included, so that no state leaks from one input to the next.
 * Time and randomness are the fuzzer's: loop.c and sys_arch.c are built
 * for this target with clock_gettime and getrandom renamed to the functions
 * below (see the Makefile), so the loop's timers, lwIP's timers and the
 * flows' deadlines run on a clock that moves only when an input says so,
 * and lwIP's initial sequence number is the one the input chose.
 *
 * The concentrator: cpe_flow.c is built with sockopt_mptcp_client and
 * connect renamed too. By default they are the real ones and the
 * concentrator is 127.0.0.1:1: the MPTCP connection a flow opens (at the
 * SYN with flow.open hold, at the first bytes or fast_wait with fast) is
 * refused on loopback before the next round of the loop, and the flow ends
 * with a RST to the LAN. With mode 0x10 the input plays the concentrator
 * instead: each flow's "MPTCP socket" is one end of a stream socketpair
 * whose other end the input answers, feeds, shuts or closes, so that the
 * relay and lwIP's sending side run too. No real concentrator is involved.
 *
 * An input is one byte of mode, then records [op][length: 16 bits BE][bytes].
 * Mode: 0x01 flow.open fast (else hold),
 *       0x02 flow.max 4, max_per_host 2, max_pending_per_host 1 (else 16;
 *            flow.idle_timeout is 30s in both, the rest the defaults),
 *       0x0c lwIP's initial sequence number, one of isns[],
 *       0x10 the input plays the concentrator,
 *       0x60 the carrier: 0x00 Convert, 0x20 Convert with carrier.source,
 *            0x40 carrier.mode transparent (without 0x10 its connects
 *            fail at once: no packet leaves for a real destination),
 *            0x60 SOCKS4,
 *       0x80 the TUN carries virtio-net headers (offloads, vnet.h): each
 *            LAN packet's first 10 bytes are its header, as they are (a
 *            header that does not fit its packet is counted and dropped),
 *            and the stack's packets are checked through theirs.
 * Op, for a packet from the LAN (0x80 clear):
 *       0x01 fix the IP lengths (and a TCP data offset out of range),
 *       0x02 fix the IPv4 header and TCP checksums (after everything else),
 *       0x04 add to seq and ack what the stack last sent to this flow
 *            expects (so 0 and 0 are exactly the next ones),
 *       0x08 aim: the addresses become C -> D, the ports stay.
 *       With mode 0x80 and a header that says NEEDS_CSUM, 0x02 leaves the
 *       TCP checksum partial instead, where the header says it is.
 * Op, for the concentrator (0x80 set; bytes[0] picks the connection, in
 * the order the flows opened them), op & 7:
 *       0 the answer "connected" (Convert, or SOCKS4's 0x5A; transparent
 *       mode has none), then bytes[1..] as data,
 *       1 bytes[1..] as they are, 2 an Error TLV (code bytes[1], value
 *       bytes[2..]; SOCKS4: a reply with code bytes[1]), 3 shutdown (end
 *       of data), 4 close, 5 read what the
 *       CPE sent, 6 toggle reading it after every round, 7 bytes[1] KiB of
 *       data (to fill buffers).
 * Either: 0x70 then advance the clock by steps[op >> 4 & 7].
 *
 * Beyond "no crash, no leak" it checks:
 * - every packet the stack writes is IPv4 (20-byte header, no fragment) or
 *   IPv6 with exact lengths, valid checksums, at most the MTU (with mode
 *   0x80: a partial checksum where its virtio header says, and for a GSO
 *   packet each segment the kernel cuts at most the MTU), and either
 *   TCP from a destination to a client (address and port) that the LAN
 *   used, never a bare SYN, or an ICMP destination unreachable quoting a
 *   packet the LAN sent, addressed to its sender;
 * - what lwIP sends a flow is what its concentrator sent, at the same
 *   offset, never beyond it, and a FIN comes exactly after all of it, only
 *   once the concentrator ended its data;
 * - the CPE's first bytes to a concentrator are a Convert header (with
 *   carrier.source, whose Source TLV is the flow's LAN client) or a
 *   SOCKS4 CONNECT to the flow's destination port;
 * - the stack reads every packet written to the TUN (tun_in) and counts
 *   every packet it writes back (tun_out);
 * - at the end no flow, pcb, lwIP timer, lwIP memory or file descriptor
 *   is left. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lwip/memp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "bytes.h"
#include "convert.h"
#include "cpe.h"
#include "log.h"
#include "sockopt.h"

#define BUF	     (65536 + 64)
#define MAX_SEEN     256
#define MAX_TRACK    64
#define CLOCK_START  1000000 /* ms; anything but 0 */
#define TIME_BUDGET  (10 * 60 * 1000)
#define MAX_ROUNDS   256
#define NAT_LINGER   25000 /* as mptun-cpe */
#define OP_FIX_LEN   0x01
#define OP_FIX_SUM   0x02
#define OP_SEQ	     0x04
#define OP_AIM	     0x08
#define OP_CONC	     0x80
#define MODE_PLAY    0x10
#define MODE_CARRIER 0x60
#define MODE_VNET    0x80
#define VNET	     10 /* struct virtio_net_hdr */
#define CARRIER_SOURCE 0x20
#define CARRIER_TRANSPARENT 0x40
#define CARRIER_SOCKS4 0x60
#define MAX_CONC     16
#define CONC_LOG     65536
#define TCP_FIN_FLAG 0x01
#define TCP_SYN_FLAG 0x02
#define TCP_RST_FLAG 0x04
#define TCP_ACK_FLAG 0x10

/* Past the 10 ms fast_wait, one lwIP tick, a retransmission, the 10 s
 * connect timeout, lwIP's 20 s TIME_WAIT and the NAT's 25 s linger. */
static const uint32_t steps[8] = {0, 10, 250, 1000, 3000, 11000, 26000, 60000};
/* Around the wraps of the sequence space. */
static const uint32_t isns[4] = {0x12345678, 0xfffffff0, 0x7ffffff0, 0};

/* A packet's addresses and ports as the LAN sends it (a -> b). */
struct tuple {
	bool v4;
	uint8_t a[16], b[16];
	uint16_t ap, bp;
};

/* What the LAN side of a flow sends next, from the stack's last packet,
 * and lwIP's initial sequence number from its SYN-ACK. */
struct track {
	struct tuple t;
	uint32_t seq, ack, isn;
	bool has_isn;
};

/* The concentrator's end of one flow's connection. */
struct conc {
	int fd;	    /* -1 once closed */
	bool known; /* t is the flow it serves */
	struct tuple t;
	bool answered;	 /* "connected" went out: data follows */
	bool raw;	 /* other bytes went first: the data is unknown */
	bool eof;	 /* shut down or closed: no more data */
	bool reading;	 /* read after every round */
	uint64_t n;	 /* bytes of data written */
	uint8_t *log;	 /* the first CONC_LOG of them */
	uint8_t head[64]; /* the first bytes the CPE sent */
	size_t n_read;
};

struct run {
	struct cpe c;
	struct loop_timer stop;
	int fd[2]; /* the stack's "TUN", the LAN's end */
	int free_fd;
	bool play;   /* mode 0x10 */
	bool vnet;   /* mode 0x80 */
	uint8_t carrier; /* mode & 0x60 */
	bool cur_ok; /* cur is the packet being processed */
	bool unsure; /* a connection opened for an unknown flow */
	bool busy;   /* the last round wrote or read something */
	struct tuple cur;
	uint64_t fed, got, elapsed;
	struct tuple seen[MAX_SEEN];
	size_t n_seen;
	bool seen_full;
	struct track track[MAX_TRACK];
	size_t n_track;
	struct conc conc[MAX_CONC];
	size_t n_conc;
};

static struct cpe_config *cfgs[16];
static uint64_t fake_ms = CLOCK_START;
static uint32_t rand_word;
static struct run *the_run;

/* Called instead of clock_gettime and getrandom by loop.c and sys_arch.c,
 * and of sockopt_mptcp_client and connect by cpe_flow.c. */
int fuzz_clock_gettime(clockid_t id, struct timespec *ts);
ssize_t fuzz_getrandom(void *buf, size_t len, unsigned int flags);
int fuzz_mptcp_client(int family, bool fastopen);
int fuzz_connect(int fd, const struct sockaddr *sa, socklen_t len);

int fuzz_clock_gettime(clockid_t id, struct timespec *ts)
{
	ts->tv_sec = (time_t)(fake_ms / 1000);
	ts->tv_nsec = (long)(fake_ms % 1000) * 1000000;
	return 0;
}

/* Every 32-bit word is rand_word: lwIP's pool of random numbers gives the
 * same value whatever it held before. */
ssize_t fuzz_getrandom(void *buf, size_t len, unsigned int flags)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rand_word >> (8 * (i % 4)));
	return (ssize_t)len;
}

static void check_at(int ok, int line)
{
	if (!ok) {
		fprintf(stderr, "fuzz_cpe_packets.c:%d: invariant broken\n", line);
		abort();
	}
}
#define check(ok) check_at((ok), __LINE__)

/* A connection to the concentrator: the CPE's end of a socketpair. The
 * flow is the packet being processed, unless the loop's timers opened it
 * (fast_wait): then no flow's data can be checked any more. */
int fuzz_mptcp_client(int family, bool fastopen)
{
	struct run *r = the_run;
	struct conc *k;
	int sv[2];

	if (!r->play)
		return sockopt_mptcp_client(family, fastopen);
	if (r->n_conc == MAX_CONC)
		return -EMFILE;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return -errno;
	k = &r->conc[r->n_conc++];
	memset(k, 0, sizeof(*k));
	k->fd = sv[1];
	k->known = r->cur_ok;
	k->t = r->cur;
	k->answered = r->carrier == CARRIER_TRANSPARENT; /* all is data */
	r->unsure |= !r->cur_ok;
	check((k->log = malloc(CONC_LOG)) != NULL);
	return sv[0];
}

int fuzz_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!the_run->play && the_run->carrier == CARRIER_TRANSPARENT) {
		errno = ENETUNREACH;
		return -1;
	}
	if (!the_run->play)
		return connect(fd, sa, len);
	errno = EINPROGRESS;
	return -1;
}

static uint64_t be_sum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Where things are in an IP packet; view() also wants its length field to
 * hold together. */
struct view {
	bool v4;
	uint8_t proto;
	size_t hl, total, alen, src;
};

static bool head(const uint8_t *b, size_t len, struct view *v)
{
	if (len < 1 || (b[0] >> 4 != 4 && b[0] >> 4 != 6))
		return false;
	v->v4 = b[0] >> 4 == 4;
	v->hl = v->v4 ? (b[0] & 15u) * 4 : 40;
	if (v->hl < 20 || len < v->hl)
		return false;
	v->alen = v->v4 ? 4 : 16;
	v->src = v->v4 ? 12 : 8;
	v->proto = b[v->v4 ? 9 : 6];
	v->total = v->v4 ? be16(b + 2) : 40u + be16(b + 4);
	return true;
}

static bool view(const uint8_t *b, size_t len, struct view *v)
{
	return head(b, len, v) && v->total >= v->hl && v->total <= len;
}

/* The layer 4 sum over the segment as it is, pseudo header included
 * (but for ICMPv4): 0xffff when the checksum is valid. */
static uint16_t l4_sum(const uint8_t *b, const struct view *v)
{
	size_t len = v->total - v->hl;
	uint64_t s = be_sum(b + v->hl, len);

	if (v->proto != IPPROTO_ICMP)
		s += be_sum(b + v->src, 2 * v->alen) + v->proto + len;
	return fold(s);
}

/* The TCP ports may be cut short in a quoted packet: only 4 bytes needed. */
static bool tuple_of(const uint8_t *b, size_t len, struct tuple *t)
{
	struct view v;

	if (!head(b, len, &v) || v.proto != IPPROTO_TCP || len < v.hl + 4)
		return false;
	memset(t, 0, sizeof(*t));
	t->v4 = v.v4;
	memcpy(t->a, b + v.src, v.alen);
	memcpy(t->b, b + v.src + v.alen, v.alen);
	t->ap = be16(b + v.hl);
	t->bp = be16(b + v.hl + 2);
	return true;
}

static void reverse(struct tuple *t)
{
	struct tuple r = *t;

	memcpy(r.a, t->b, 16);
	memcpy(r.b, t->a, 16);
	r.ap = t->bp;
	r.bp = t->ap;
	*t = r;
}

static bool seen(const struct run *r, const struct tuple *t)
{
	if (r->seen_full)
		return true;
	for (size_t i = 0; i < r->n_seen; i++)
		if (!memcmp(&r->seen[i], t, sizeof(*t)))
			return true;
	return false;
}

static void remember(struct run *r, const struct tuple *t)
{
	if (seen(r, t))
		return;
	if (r->n_seen == MAX_SEEN)
		r->seen_full = true;
	else
		r->seen[r->n_seen++] = *t;
}

static struct track *track_find(struct run *r, const struct tuple *t)
{
	for (size_t i = 0; i < r->n_track; i++)
		if (!memcmp(&r->track[i].t, t, sizeof(*t)))
			return &r->track[i];
	return NULL;
}

/* t is the flow as the LAN sends it; b the stack's TCP packet to it. */
static void track_update(struct run *r, const struct tuple *t, const uint8_t *b,
			 const struct view *v)
{
	const uint8_t *h = b + v->hl;
	struct track *k = track_find(r, t);
	uint32_t len = (uint32_t)(v->total - v->hl - (h[12] >> 4) * 4u);

	if (!k && r->n_track == MAX_TRACK)
		return;
	if (!k) {
		k = &r->track[r->n_track++];
		k->t = *t;
	}
	if (h[13] & TCP_ACK_FLAG)
		k->seq = be32(h + 8);
	k->ack = be32(h + 4) + len + !!(h[13] & TCP_SYN_FLAG) +
		 !!(h[13] & TCP_FIN_FLAG);
	if ((h[13] & (TCP_SYN_FLAG | TCP_RST_FLAG)) == TCP_SYN_FLAG) {
		k->isn = be32(h + 4);
		k->has_isn = true;
	}
}

/* The latest connection opened for the flow t. */
static struct conc *conc_of(struct run *r, const struct tuple *t)
{
	for (size_t i = r->n_conc; i-- > 0;)
		if (r->conc[i].known && !memcmp(&r->conc[i].t, t, sizeof(*t)))
			return &r->conc[i];
	return NULL;
}

/* lwIP's data to the LAN at offset off of its stream is the concentrator's
 * data at the same offset. A pure ACK after a FIN is one beyond. */
static void check_data(struct run *r, const struct tuple *t, const uint8_t *h,
		       size_t len)
{
	struct track *k = track_find(r, t);
	struct conc *c = conc_of(r, t);
	uint32_t off;

	if (r->unsure || !k || !k->has_isn || !c || !c->answered || c->raw ||
	    (h[13] & (TCP_SYN_FLAG | TCP_RST_FLAG)))
		return;
	off = be32(h + 4) - k->isn - 1;
	check((uint64_t)off + len <= c->n + c->eof);
	if (len && off + len <= CONC_LOG)
		check(!memcmp(h + (h[12] >> 4) * 4u, c->log + off, len));
	if (h[13] & TCP_FIN_FLAG)
		check(c->eof && off + len == c->n);
}

/* The stack's packets. */

static void check_tcp(struct run *r, const uint8_t *b, const struct view *v)
{
	const uint8_t *h = b + v->hl;
	size_t len = v->total - v->hl, off;
	struct tuple t;

	check(len >= 20);
	off = (h[12] >> 4) * 4u;
	check(off >= 20 && off <= len);
	check(l4_sum(b, v) == 0xffff);
	/* lwIP only answers: a bare SYN would be an active open */
	check(!(h[13] & TCP_SYN_FLAG) || (h[13] & TCP_ACK_FLAG));
	check(tuple_of(b, v->total, &t));
	reverse(&t);
	check(seen(r, &t));
	check_data(r, &t, h, len - off);
	track_update(r, &t, b, v);
}

static void check_icmp(struct run *r, const uint8_t *b, const struct view *v)
{
	const uint8_t *ic = b + v->hl;
	size_t len = v->total - v->hl;
	struct tuple q;

	check(v->proto == (v->v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6));
	check(len >= 8 && ic[0] == (v->v4 ? 3 : 1));
	check(l4_sum(b, v) == 0xffff);
	check(tuple_of(ic + 8, len - 8, &q) && q.v4 == v->v4);
	check(seen(r, &q));
	check(!memcmp(b + v->src, q.b, v->alen));
	check(!memcmp(b + v->src + v->alen, q.a, v->alen));
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

/* A TCP packet's headers and the partial checksum's place; a GSO packet
 * cut into segments of gso_size fits the MTU; then the checksum completed,
 * as the kernel would, in place. Returns the largest segment's size. */
static size_t check_vnet(struct run *r, uint8_t *b, size_t n)
{
	const uint8_t *h = b - VNET;
	struct view v;
	size_t hlen, seg = n;
	uint16_t c;

	check(h[0] == 0 || h[0] == 1); /* nothing or NEEDS_CSUM */
	if (h[0] == 0) {
		check(h[1] == 0);
		return n;
	}
	check(view(b, n, &v) && v.total == n && v.proto == IPPROTO_TCP);
	check(n >= v.hl + 20);
	hlen = v.hl + (b[v.hl + 12] >> 4) * 4u;
	check(le16(h + 6) == v.hl && le16(h + 8) == 16 && le16(h + 2) == hlen);
	if (h[1] != 0) {
		check(h[1] == (v.v4 ? 1 : 4)); /* GSO_TCPV4, GSO_TCPV6 */
		check(le16(h + 4) > 0 && n > hlen + le16(h + 4));
		seg = hlen + le16(h + 4);
	} else {
		check(le16(h + 4) == 0);
	}
	/* the field holds the pseudo-header sum: the kernel adds the rest */
	c = (uint16_t)~fold(be_sum(b + v.hl, n - v.hl));
	put_be16(b + v.hl + 16, c);
	return seg;
}

static void check_out(struct run *r, uint8_t *b, size_t n)
{
	struct view v;
	size_t seg = n;

	if (r->vnet) {
		check(n > VNET);
		b += VNET;
		n -= VNET;
		seg = check_vnet(r, b, n);
	}
	check(seg <= r->c.cfg->tun_mtu);
	check(view(b, n, &v) && v.total == n);
	if (v.v4) {
		check(v.hl == 20 && fold(be_sum(b, 20)) == 0xffff);
		check((be16(b + 6) & 0x3fff) == 0);
	}
	if (v.proto == IPPROTO_TCP)
		check_tcp(r, b, &v);
	else
		check_icmp(r, b, &v);
}

static void drain(struct run *r)
{
	static uint8_t buf[BUF];
	ssize_t n;

	while ((n = recv(r->fd[1], buf, sizeof(buf), 0)) >= 0) {
		check(n > 0);
		r->got++;
		check_out(r, buf, (size_t)n);
	}
	check(errno == EAGAIN);
}

/* The concentrator's side. */

/* With carrier.source, the whole opening: its Source TLV is the client. */
static void check_source(const struct conc *k)
{
	static struct convert_msg m;
	struct convert_fault f;
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const char *why;
	socklen_t len;
	size_t used, need = k->head[1] * 4u;

	if (!k->known || need > sizeof(k->head) || k->n_read < need)
		return;
	check(convert_decode(k->head, need, &m, &used, &f) == CONVERT_OK);
	check(convert_source_parse(&m, &ss, &len, &why));
	check(ss.ss_family == (k->t.v4 ? AF_INET : AF_INET6));
	if (k->t.v4)
		check(!memcmp(&s4->sin_addr, k->t.a, 4) &&
		      ntohs(s4->sin_port) == k->t.ap);
	else
		check(!memcmp(&s6->sin6_addr, k->t.a, 16) &&
		      ntohs(s6->sin6_port) == k->t.ap);
}

/* VN 4, CONNECT, the destination port. */
static void check_socks4(const struct conc *k)
{
	check(k->head[0] == 4 && k->head[1] == 1);
	if (k->known)
		check(be16(k->head + 2) == k->t.bp);
}

static void conc_read(struct run *r, struct conc *k)
{
	static uint8_t buf[BUF];
	ssize_t n;

	while (k->fd >= 0 && (n = recv(k->fd, buf, sizeof(buf), 0)) > 0) {
		for (size_t i = 0; i < (size_t)n && k->n_read + i < sizeof(k->head); i++)
			k->head[k->n_read + i] = buf[i];
		k->n_read += (size_t)n;
		r->busy = true;
	}
	if (k->n_read < 4 || r->carrier == CARRIER_TRANSPARENT)
		return; /* transparent: the client's own bytes */
	if (r->carrier == CARRIER_SOCKS4) {
		check_socks4(k);
		return;
	}
	check(k->head[0] == CONVERT_VERSION && k->head[2] == 0x22 &&
	      k->head[3] == 0x63);
	if (r->carrier == CARRIER_SOURCE)
		check_source(k);
}

/* data: bytes of the flow's data stream (else part of an answer). Returns
 * the bytes written. */
static size_t conc_write(struct conc *k, const uint8_t *p, size_t len,
			 bool data)
{
	ssize_t n;

	if (k->fd < 0 || k->eof || !len)
		return 0;
	n = send(k->fd, p, len, MSG_NOSIGNAL);
	if (n <= 0)
		return 0;
	if (!data || !k->answered) {
		k->raw |= data || (size_t)n != len;
		return (size_t)n;
	}
	if (k->n < CONC_LOG)
		memcpy(k->log + k->n, p,
		       CONC_LOG - k->n < (size_t)n ? CONC_LOG - k->n
						   : (size_t)n);
	k->n += (size_t)n;
	return (size_t)n;
}

static void conc_answer(struct conc *k, uint8_t code, const uint8_t *v,
			size_t len, bool ok)
{
	struct convert_builder b;
	size_t n;

	if (k->answered || k->raw)
		return;
	if (the_run->carrier == CARRIER_SOCKS4) {
		uint8_t reply[8] = { 0, ok ? 0x5a : code };
		memcpy(b.buf, reply, sizeof(reply));
		n = sizeof(reply);
	} else {
		convert_begin(&b);
		if (!ok && convert_put_error(&b, code, v, len) < 0)
			return;
		n = convert_finish(&b);
	}
	if (conc_write(k, b.buf, n, false)) {
		k->answered = ok && !k->raw;
		k->raw |= !ok;
	}
}

static void conc_flood(struct conc *k, size_t kib)
{
	uint8_t buf[1024];

	for (size_t i = 0; i < kib; i++) {
		for (size_t j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)(i * 7 + j);
		conc_write(k, buf, sizeof(buf), true);
	}
}

static void conc_end(struct conc *k, bool close_it)
{
	if (k->fd < 0)
		return;
	k->eof = true;
	if (!close_it) {
		shutdown(k->fd, SHUT_WR);
		return;
	}
	close(k->fd);
	k->fd = -1;
}

static void conc_act(struct run *r, uint8_t op, const uint8_t *p, size_t len)
{
	struct conc *k;

	if (!r->n_conc || !len)
		return;
	k = &r->conc[p[0] % r->n_conc];
	p++, len--;
	switch (op & 7) {
	case 0:
		conc_answer(k, 0, NULL, 0, true);
		conc_write(k, p, len, true);
		break;
	case 1:
		conc_write(k, p, len, true);
		break;
	case 2:
		if (len)
			conc_answer(k, p[0], p + 1, len - 1, false);
		break;
	case 3:
	case 4:
		conc_end(k, (op & 7) == 4);
		break;
	case 5:
		conc_read(r, k);
		break;
	case 6:
		k->reading = !k->reading;
		break;
	case 7:
		if (len)
			conc_flood(k, p[0]);
		break;
	}
}

/* Running the loop: one round is every ready fd and every due timer. */

static int64_t on_stop(struct loop *l, void *arg)
{
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void before_sleep(struct loop *l, void *arg)
{
	struct cpe *c = arg;

	cpe_flows_reap(c);
	stack_flush(c->stack);
}

static void round_once(struct run *r)
{
	uint64_t got = r->got;

	r->busy = false;
	loop_timer_arm(r->c.loop, &r->stop, 0, on_stop, r);
	check(loop_run(r->c.loop) == 0);
	drain(r);
	for (size_t i = 0; i < r->n_conc; i++)
		if (r->conc[i].reading)
			conc_read(r, &r->conc[i]);
	r->busy |= r->got != got;
}

/* Until the stack has read every packet, then until nothing moves (at
 * least two rounds: a refused connection's event comes in the second). */
static void pump(struct run *r)
{
	const struct stack_counters *s = stack_counters(r->c.stack);

	for (int i = 0; s->tun_in < r->fed && i < MAX_ROUNDS; i++)
		round_once(r);
	for (int i = 0; i < 2 || (r->busy && i < 16); i++)
		round_once(r);
	check(s->tun_in == r->fed);
	check(s->tun_out == r->got);
}

/* In steps of one lwIP tick, as the daemon's loop would see it. */
static void advance(struct run *r, uint32_t ms)
{
	uint64_t end;

	if (!ms || r->elapsed + ms > TIME_BUDGET)
		return;
	r->elapsed += ms;
	end = fake_ms + ms;
	while (fake_ms < end) {
		fake_ms += end - fake_ms < 250 ? end - fake_ms : 250;
		round_once(r);
	}
	pump(r);
}

/* The LAN's packets. */

static void fix_lengths(uint8_t *b, size_t len)
{
	struct view v;
	uint8_t *h;

	if (len >= 20 && b[0] >> 4 == 4) {
		if ((b[0] & 15) < 5)
			b[0] = 0x45;
		put_be16(b + 2, (uint16_t)len);
	} else if (len >= 40 && b[0] >> 4 == 6) {
		put_be16(b + 4, (uint16_t)(len - 40));
	}
	if (!view(b, len, &v) || v.proto != IPPROTO_TCP || v.total - v.hl < 20)
		return;
	h = b + v.hl;
	if (h[12] >> 4 < 5 || (h[12] >> 4) * 4u > v.total - v.hl)
		h[12] = (uint8_t)(0x50 | (h[12] & 15));
}

static void fix_sums(uint8_t *b, size_t len)
{
	struct view v;

	if (len >= 20 && b[0] >> 4 == 4 && (b[0] & 15u) * 4 >= 20 &&
	    (b[0] & 15u) * 4 <= len) {
		put_be16(b + 10, 0);
		put_be16(b + 10, (uint16_t)~fold(be_sum(b, (b[0] & 15u) * 4)));
	}
	if (view(b, len, &v) && v.proto == IPPROTO_TCP &&
	    v.total - v.hl >= 18) {
		put_be16(b + v.hl + 16, 0);
		put_be16(b + v.hl + 16, (uint16_t)~l4_sum(b, &v));
	}
}

static void aim(uint8_t *b, size_t len)
{
	/* 192.168.1.10 -> 198.51.100.7, 2001:db8:1::10 -> 2001:db8:2::7 */
	static const uint8_t c4[4] = {192, 168, 1, 10};
	static const uint8_t d4[4] = {198, 51, 100, 7};
	static const uint8_t c6[16] = {0x20, 1, 0x0d, 0xb8, 0, 1, 0, 0,
				       0,    0, 0,    0,    0, 0, 0, 0x10};
	static const uint8_t d6[16] = {0x20, 1, 0x0d, 0xb8, 0, 2, 0, 0,
				       0,    0, 0,    0,    0, 0, 0, 7};
	struct view v;

	if (!head(b, len, &v))
		return;
	memcpy(b + v.src, v.v4 ? c4 : c6, v.alen);
	memcpy(b + v.src + v.alen, v.v4 ? d4 : d6, v.alen);
}

/* The packet's own numbers become offsets: 0 is exactly the next one. */
static void take_seq(struct run *r, uint8_t *b, size_t len)
{
	struct view v;
	struct tuple t;
	struct track *k;
	uint8_t *h;

	if (!view(b, len, &v) || v.proto != IPPROTO_TCP ||
	    v.total - v.hl < 20 || !tuple_of(b, len, &t) ||
	    !(k = track_find(r, &t)))
		return;
	h = b + v.hl;
	put_be32(h + 4, k->seq + be32(h + 4));
	put_be32(h + 8, k->ack + be32(h + 8));
}

/* The partial checksum a kernel leaves: the pseudo-header sum alone, in
 * the field the header names (here always TCP's). */
static void partial_sum(uint8_t *hdr, uint8_t *b, size_t len)
{
	struct view v;

	if (!(hdr[0] & 1) || !view(b, len, &v) || v.proto != IPPROTO_TCP ||
	    v.total - v.hl < 20)
		return;
	put_le16(hdr + 6, (uint16_t)v.hl);
	put_le16(hdr + 8, 16);
	put_be16(b + v.hl + 16, fold(be_sum(b + v.src, 2 * v.alen) + v.proto +
				  v.total - v.hl));
}

/* In vnet mode pkt starts with the virtio header (the caller's bytes). */
static void feed(struct run *r, uint8_t *pkt, size_t len, uint8_t op)
{
	struct tuple t;
	int tries = 0;
	uint8_t *hdr = NULL;
	size_t full = len;

	if (r->vnet) {
		if (len < VNET)
			return;
		hdr = pkt;
		pkt += VNET;
		len -= VNET;
	}
	if (op & OP_AIM)
		aim(pkt, len);
	if (op & OP_FIX_LEN)
		fix_lengths(pkt, len);
	if (op & OP_SEQ)
		take_seq(r, pkt, len);
	if (op & OP_FIX_SUM)
		fix_sums(pkt, len);
	if ((op & OP_FIX_SUM) && hdr)
		partial_sum(hdr, pkt, len);
	if ((r->cur_ok = tuple_of(pkt, len, &t))) {
		remember(r, &t);
		r->cur = t;
	}
	if (hdr)
		pkt = hdr;
	if (!full) /* a TUN device never gives an empty read */
		return;
	while (send(r->fd[1], pkt, full, 0) < 0) {
		check(errno == EAGAIN && tries++ < MAX_ROUNDS);
		round_once(r);
	}
	r->fed++;
}

/* A stack per input. */

static int lowest_free_fd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	check(fd >= 0);
	close(fd);
	return fd;
}

static void setup(struct run *r, uint8_t mode)
{
	struct flownat_config nat;
	struct stack_hooks hooks;
	int buf = 4 << 20;

	memset(r, 0, sizeof(*r));
	the_run = r;
	r->free_fd = lowest_free_fd();
	r->c.cfg = cfgs[(mode & 3) | (mode & MODE_CARRIER) >> 3];
	r->play = mode & MODE_PLAY;
	r->carrier = mode & MODE_CARRIER;
	r->vnet = mode & MODE_VNET;
	fake_ms = CLOCK_START;
	/* Flush lwIP's pool of random numbers: every value is the ISN now. */
	rand_word = isns[mode >> 2 & 3];
	for (int i = 0; i < 65; i++)
		lwip_port_rand();
	check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			 r->fd) == 0);
	setsockopt(r->fd[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(r->fd[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	check((r->c.loop = loop_new()) != NULL);
	check(cpe_flows_init(&r->c, &hooks) == 0);
	loop_set_before_sleep(r->c.loop, before_sleep, &r->c);
	stack_default_nat_config(&nat, CPE_LWIP_PORT, r->c.cfg->max_flows * 2,
				 NAT_LINGER);
	r->c.stack =
	    stack_new(r->c.loop, r->fd[0], r->vnet, r->c.cfg->tun_mtu, &nat, &hooks);
	check(r->c.stack != NULL);
}

/* lwIP keeps its state in globals, and stack_free() leaves its timers (and
 * pcbs, which teardown() aborts first): let the TCP timer see no pcbs and
 * stop, undo lwip_init()'s cyclic timers, put the TCP tick counters back. */
static void lwip_reset(void)
{
	u32_t ticks;

	check(!tcp_listen_pcbs.listen_pcbs && !tcp_bound_pcbs);
	fake_ms += 1000;
	sys_check_timeouts();
	for (int i = 1; i < lwip_num_cyclic_timers; i++)
		sys_untimeout(lwip_cyclic_timer,
			      (void *)&lwip_cyclic_timers[i]);
	check(*sys_timeouts_get_next_timeout() == NULL);
	/* tcp_tmr() runs the slow timer every second call */
	ticks = tcp_ticks;
	tcp_tmr();
	if (tcp_ticks != ticks)
		tcp_tmr();
	tcp_ticks = 0;
	/* nothing lwIP allocated is left: no pbuf, segment or pcb */
	check(lwip_stats.mem.used == 0);
	for (int i = 0; i < MEMP_MAX; i++)
		check(lwip_stats.memp[i]->used == 0);
}

/* As mptun-cpe's teardown, then what lwIP keeps after stack_free(): the
 * pcbs of closed flows (TIME_WAIT, FIN_WAIT) and of handshakes. */
static void teardown(struct run *r)
{
	cpe_flows_close_all(&r->c);
	cpe_flows_reap(&r->c);
	check(!r->c.flows && !r->c.n_flows);
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	drain(r);
	check(stack_counters(r->c.stack)->tun_out == r->got);
	stack_free(r->c.stack);
	cpe_flows_destroy(&r->c);
	loop_free(r->c.loop);
	close(r->fd[0]);
	close(r->fd[1]);
	for (size_t i = 0; i < r->n_conc; i++) {
		conc_end(&r->conc[i], true);
		free(r->conc[i].log);
	}
	lwip_reset();
	check(lowest_free_fd() == r->free_fd);
}

static struct cpe_config *load(bool fast, bool small, uint8_t carrier)
{
	char yaml[512], err[256];
	struct cpe_config *c;
	const char *car = carrier == CARRIER_SOURCE	 ? "{source: true}"
			  : carrier == CARRIER_TRANSPARENT ? "{mode: transparent}"
			  : carrier == CARRIER_SOCKS4	 ? "{protocol: socks4}"
							 : "{}";
	int n = snprintf(yaml, sizeof(yaml),
			 "lan:\n  interfaces:\n    - lan0\n"
			 "concentrator:\n  address: \"127.0.0.1:1\"\n"
			 "carrier: %s\n"
			 "flow:\n  open: %s\n  idle_timeout: 30s\n  max: %u\n"
			 "  max_per_host: %u\n  max_pending_per_host: %u\n",
			 car, fast ? "fast" : "hold", small ? 4 : 16, small ? 2 : 16,
			 small ? 1 : 16);

	c = cpe_config_load_buf(yaml, (size_t)n, "fuzz", err, sizeof(err));
	if (!c) {
		fprintf(stderr, "fuzz_cpe_packets: %s\n", err);
		abort();
	}
	return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_cpe_packets", true, LOG_ERR);
	for (unsigned i = 0; i < 16; i++)
		cfgs[i] = load(i & 1, i & 2, (uint8_t)(i << 3 & MODE_CARRIER));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	static uint8_t pkt[BUF];

	if (!size)
		return 0;
	setup(&r, data[0]);
	data++, size--;
	while (size >= 3) {
		uint8_t op = data[0];
		size_t len = be16(data + 1);

		data += 3, size -= 3;
		len = len < size ? len : size;
		memcpy(pkt, data, len);
		data += len, size -= len;
		if (op & OP_CONC)
			conc_act(&r, op, pkt, len);
		else
			feed(&r, pkt, len, op);
		pump(&r);
		r.cur_ok = false;
		advance(&r, steps[op >> 4 & 7]);
	}
	pump(&r);
	teardown(&r);
	return 0;
}
