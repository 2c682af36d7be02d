/* Unit tests for the flow NAT (lwip-port/flownat.c).
 *
 * Packets are built here with checksums from a plain byte-by-byte RFC 1071
 * sum that shares no code with the NAT, and every packet the NAT rewrites
 * or builds is compared with a full recomputation: an incremental update
 * (RFC 1624) must give exactly the same bytes, 0x0000 and 0xffff included. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "flownat.h"

#define LPORT   7000
#define LINGER  1000
#define PKT_MAX 4096

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

static const char S4[] = "100.64.0.1", L4[] = "100.64.0.2";
static const char S6[] = "fd00:6d70::1", L6[] = "fd00:6d70::2";

static uint64_t now;

/* ---- packets, and checksums computed the slow, obvious way ---- */

struct spec {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	size_t ip_opts, tcp_opts; /* bytes of NOP options, multiples of 4 */
	uint16_t ip_id;
	const uint8_t *data;
	size_t data_len;
};

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

static bool is_v4(const uint8_t *b)
{
	return b[0] >> 4 == 4;
}

static size_t alen(const uint8_t *b)
{
	return is_v4(b) ? 4 : 16;
}

static size_t ip_hl(const uint8_t *b)
{
	return is_v4(b) ? (b[0] & 15u) * 4 : 40;
}

static size_t ip_total(const uint8_t *b)
{
	return is_v4(b) ? be16(b + 2) : 40u + be16(b + 4);
}

static const uint8_t *ip_src(const uint8_t *b)
{
	return b + (is_v4(b) ? 12 : 8);
}

static const uint8_t *ip_dst(const uint8_t *b)
{
	return ip_src(b) + alen(b);
}

static uint8_t proto(const uint8_t *b)
{
	return is_v4(b) ? b[9] : b[6];
}

static uint16_t ref_ip_csum(const uint8_t *b)
{
	uint8_t h[60];

	memcpy(h, b, ip_hl(b));
	h[10] = h[11] = 0;
	return (uint16_t)~fold(be_sum(h, ip_hl(b)));
}

/* The sum of the layer 4 part with its checksum field at `field` taken
 * as it is (keep) or as zero. ICMPv4 has no pseudo-header. */
static uint64_t l4_sum(const uint8_t *b, size_t field, bool keep)
{
	static uint8_t seg[70000];
	size_t len = ip_total(b) - ip_hl(b);
	uint64_t s = 0;

	memcpy(seg, b + ip_hl(b), len);
	if (!keep)
		seg[field] = seg[field + 1] = 0;
	if (proto(b) != IPPROTO_ICMP)
		s = be_sum(ip_src(b), 2 * alen(b)) + proto(b) + (len >> 16) +
		    (len & 0xffff);
	return s + be_sum(seg, len);
}

static uint16_t ref_l4_csum(const uint8_t *b, size_t field)
{
	return (uint16_t)~fold(l4_sum(b, field, false));
}

static bool tcp_valid(const uint8_t *b)
{
	return fold(l4_sum(b, 16, true)) == 0xffff;
}

static bool ip_valid(const uint8_t *b)
{
	return !is_v4(b) || fold(be_sum(b, ip_hl(b))) == 0xffff;
}

static void fix_ip(uint8_t *b)
{
	if (is_v4(b))
		put_be16(b + 10, ref_ip_csum(b));
}

static void fix_csums(uint8_t *b)
{
	fix_ip(b);
	put_be16(b + ip_hl(b) + 16, ref_l4_csum(b, 16));
}

/* The checksums are exactly what a full computation gives. */
static void assert_exact(const uint8_t *b)
{
	if (is_v4(b))
		assert_int_equal(be16(b + 10), ref_ip_csum(b));
	assert_int_equal(be16(b + ip_hl(b) + 16), ref_l4_csum(b, 16));
}

static size_t build(uint8_t *b, const struct spec *s)
{
	size_t hl = s->family == AF_INET ? 20 + s->ip_opts : 40;
	size_t thl = 20 + s->tcp_opts, seg = thl + s->data_len;
	uint8_t *t = b + hl;

	memset(b, 0, hl + seg);
	if (s->family == AF_INET) {
		b[0] = (uint8_t)(0x40 | hl / 4);
		put_be16(b + 2, (uint16_t)(hl + seg));
		put_be16(b + 4, s->ip_id);
		put_be16(b + 6, 0x4000);
		b[8] = 64;
		b[9] = IPPROTO_TCP;
		memcpy(b + 12, s->src, 4);
		memcpy(b + 16, s->dst, 4);
		memset(b + 20, 1, s->ip_opts);
	} else {
		b[0] = 0x60;
		put_be16(b + 4, (uint16_t)seg);
		b[6] = IPPROTO_TCP;
		b[7] = 64;
		memcpy(b + 8, s->src, 16);
		memcpy(b + 24, s->dst, 16);
	}
	put_be16(t, s->sport);
	put_be16(t + 2, s->dport);
	put_be32(t + 4, s->seq);
	put_be32(t + 8, s->ack);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = s->flags;
	put_be16(t + 14, 65535);
	memset(t + 20, 1, s->tcp_opts);
	if (s->data_len)
		memcpy(t + thl, s->data, s->data_len);
	fix_csums(b);
	return hl + seg;
}

static struct spec spec(const char *src, const char *dst, uint16_t sport,
			uint16_t dport, uint8_t flags)
{
	struct spec s = { .sport = sport, .dport = dport, .flags = flags,
			  .seq = 1000 };

	s.family = strchr(src, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(s.family, src, s.src), 1);
	assert_int_equal(inet_pton(s.family, dst, s.dst), 1);
	return s;
}

static void addr(int family, const char *str, uint8_t *out)
{
	assert_int_equal(inet_pton(family, str, out), 1);
}

/* ---- the NAT ---- */

static struct flownat_config config(uint32_t max)
{
	struct flownat_config c = { .lwip_port = LPORT, .max_entries = max,
				    .linger_ms = LINGER };

	addr(AF_INET, S4, (uint8_t *)&c.synth4);
	addr(AF_INET, L4, (uint8_t *)&c.lwip4);
	addr(AF_INET6, S6, c.synth6.s6_addr);
	addr(AF_INET6, L6, c.lwip6.s6_addr);
	return c;
}

static struct flownat *nat_new(uint32_t max)
{
	struct flownat_config c = config(max);
	struct flownat *nat = flownat_new(&c);

	assert_non_null(nat);
	return nat;
}

static enum flownat_verdict in(struct flownat *nat, uint8_t *b, size_t len,
			       struct flownat_entry **e)
{
	return flownat_in(nat, b, len, now, e);
}

static uint64_t drops(const struct flownat_counters *c)
{
	return c->drop_short + c->drop_bad_length + c->drop_bad_checksum +
	       c->drop_not_tcp + c->drop_bad_addr + c->drop_no_flow +
	       c->drop_full + c->drop_out_unknown;
}

/* Sends the SYN of s, which must create an entry; returns it. */
static struct flownat_entry *open_flow(struct flownat *nat,
				       const struct spec *s, bool open)
{
	uint8_t b[PKT_MAX];
	struct spec syn = *s;
	struct flownat_entry *e;

	syn.flags = SYN;
	assert_int_equal(in(nat, b, build(b, &syn), &e), FLOWNAT_NEW);
	assert_non_null(e);
	if (open)
		flownat_set_state(nat, e, FLOWNAT_OPEN, now);
	return e;
}

/* b (rewritten from orig) goes S:s -> L:l; all else is as it was. */
static void assert_rewritten_in(const uint8_t *b, const uint8_t *orig,
				const struct flownat_entry *e)
{
	int fam = is_v4(b) ? AF_INET : AF_INET6;
	uint8_t s[16], l[16];
	size_t hl = ip_hl(b), n = ip_total(b);

	addr(fam, fam == AF_INET ? S4 : S6, s);
	addr(fam, fam == AF_INET ? L4 : L6, l);
	assert_memory_equal(ip_src(b), s, alen(b));
	assert_memory_equal(ip_dst(b), l, alen(b));
	assert_int_equal(be16(b + hl), e->synth_port);
	assert_int_equal(be16(b + hl + 2), LPORT);
	assert_exact(b);
	for (size_t i = 0; i < n; i++) {
		bool changed = (i >= (size_t)(ip_src(b) - b) &&
				i < (size_t)(ip_dst(b) - b) + alen(b)) ||
			       (i >= hl && i < hl + 4) ||
			       i == hl + 16 || i == hl + 17 ||
			       (is_v4(b) && (i == 10 || i == 11));
		if (!changed)
			assert_int_equal(b[i], orig[i]);
	}
}

/* b goes D:d -> C:c of e, checksums exact. */
static void assert_rewritten_out(const uint8_t *b,
				 const struct flownat_entry *e)
{
	assert_memory_equal(ip_src(b), e->orig.dst, alen(b));
	assert_memory_equal(ip_dst(b), e->orig.client, alen(b));
	assert_int_equal(be16(b + ip_hl(b)), e->orig.dst_port);
	assert_int_equal(be16(b + ip_hl(b) + 2), e->orig.client_port);
	assert_exact(b);
}

/* lwIP's answer on e's synthetic connection. */
static size_t build_reply(uint8_t *b, const struct flownat_entry *e,
			  uint8_t flags, const uint8_t *data, size_t len)
{
	int fam = e->orig.family;
	struct spec s = spec(fam == AF_INET ? L4 : L6, fam == AF_INET ? S4 : S6,
			     LPORT, e->synth_port, flags);

	s.data = data;
	s.data_len = len;
	s.seq = 77;
	s.ack = 1001;
	return build(b, &s);
}

/* ---- random packets ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Random, but not one that flownat drops for its address (IPv4 0/8, 127/8,
 * 224/3; IPv6 multicast; the rest of its list is too unlikely to come up). */
static void rnd_addr(uint8_t *a, int family)
{
	rnd_bytes(a, family == AF_INET ? 4 : 16);
	if (family == AF_INET && (a[0] == 0 || a[0] == 127 || a[0] >= 224))
		a[0] = (uint8_t)(128 + a[0] % 96);
	if (family == AF_INET6 && a[0] == 0xff)
		a[0] = 0xfe;
}

static struct spec spec_random(int family, uint8_t *data)
{
	struct spec s = { .family = family };

	rnd_addr(s.src, family);
	rnd_addr(s.dst, family);
	s.sport = (uint16_t)rnd();
	s.dport = (uint16_t)rnd();
	s.seq = rnd();
	s.ack = rnd();
	s.ip_id = (uint16_t)rnd();
	s.ip_opts = family == AF_INET ? rnd() % 11 * 4 : 0;
	s.tcp_opts = rnd() % 11 * 4;
	s.data_len = rnd() % 5 == 0 ? rnd() % 8 : rnd() % 1400;
	rnd_bytes(data, s.data_len);
	s.data = data;
	return s;
}

/* ---- config ---- */

static void test_new_rejects_bad_config(void **state)
{
	struct flownat_config c = config(16);
	struct flownat *nat;

	assert_null(flownat_new(NULL));
	c.max_entries = 0;
	assert_null(flownat_new(&c));
	c.max_entries = 128001;
	assert_null(flownat_new(&c));
	c.max_entries = 16;
	c.lwip_port = 0;
	assert_null(flownat_new(&c));
	c = config(128000);
	nat = flownat_new(&c);
	assert_non_null(nat);
	assert_int_equal(flownat_count(nat), 0);
	flownat_free(nat);
	flownat_free(NULL);
}

/* ---- the way in ---- */

static void check_syn_new(const char *c, const char *d)
{
	struct flownat *nat = nat_new(16);
	struct spec s = spec(c, d, 40000, 443, SYN);
	uint8_t b[PKT_MAX], orig[PKT_MAX];
	size_t len = build(b, &s);
	struct flownat_entry *e;

	memcpy(orig, b, len);
	assert_int_equal(in(nat, b, len, &e), FLOWNAT_NEW);
	assert_int_equal(e->state, FLOWNAT_PENDING);
	assert_int_equal(e->orig.family, s.family);
	assert_memory_equal(e->orig.client, s.src, 16);
	assert_memory_equal(e->orig.dst, s.dst, 16);
	assert_int_equal(e->orig.client_port, 40000);
	assert_int_equal(e->orig.dst_port, 443);
	assert_in_range(e->synth_port, 1024, 65535);
	assert_null(e->owner);
	assert_rewritten_in(b, orig, e);
	assert_int_equal(flownat_count(nat), 1);
	assert_int_equal(flownat_counters(nat)->in_new, 1);
	assert_int_equal(flownat_counters(nat)->in_new_ipv6,
			 s.family == AF_INET6);
	flownat_free(nat);
}

static void test_syn_v4_new(void **state)
{
	check_syn_new("192.168.1.10", "198.51.100.7");
}

static void test_syn_v6_new(void **state)
{
	check_syn_new("2001:db8:1::10", "2001:db8:ffff::7");
}

/* A flow of random addresses, ports, options and payload: SYN, data,
 * the lwIP answer, all with exact checksums after rewriting. */
static void random_flow(struct flownat *nat, int family)
{
	static uint8_t data[1400], b[PKT_MAX], orig[PKT_MAX];
	struct spec s = spec_random(family, data);
	struct flownat_entry *e = open_flow(nat, &s, true);
	size_t len;

	s.flags = ACK | PSH;
	len = build(b, &s);
	memcpy(orig, b, len);
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_PASS);
	assert_rewritten_in(b, orig, e);
	assert_true(flownat_restore(nat, e, b, len));
	assert_memory_equal(b, orig, len);
	len = build_reply(b, e, ACK, data, rnd() % 1400);
	assert_int_equal(flownat_out(nat, b, len, orig, sizeof(orig)), len);
	assert_rewritten_out(orig, e);
	flownat_remove(nat, e);
}

static void test_random_checksums_v4(void **state)
{
	struct flownat *nat = nat_new(4);

	for (int i = 0; i < 3000; i++)
		random_flow(nat, AF_INET);
	assert_int_equal(flownat_count(nat), 0);
	flownat_free(nat);
}

static void test_random_checksums_v6(void **state)
{
	struct flownat *nat = nat_new(4);

	for (int i = 0; i < 3000; i++)
		random_flow(nat, AF_INET6);
	flownat_free(nat);
}

/* Translates b in one direction into out (PKT_MAX bytes). */
typedef size_t (*xlate_fn)(struct flownat *nat, const uint8_t *b, size_t len,
			   uint8_t *out);

static size_t xl_in(struct flownat *nat, const uint8_t *b, size_t len,
		    uint8_t *out)
{
	memcpy(out, b, len);
	assert_int_equal(in(nat, out, len, NULL), FLOWNAT_PASS);
	return len;
}

static size_t xl_out(struct flownat *nat, const uint8_t *b, size_t len,
		     uint8_t *out)
{
	assert_int_equal(flownat_out(nat, b, len, out, PKT_MAX), len);
	return len;
}

/* Sets the word at word_off so that the checksum at field_off is 0x0000,
 * either in b itself or once b is translated. */
static void force_zero(struct flownat *nat, xlate_fn xl, uint8_t *b,
		       size_t len, size_t word_off, size_t field_off,
		       bool after)
{
	uint8_t tmp[PKT_MAX];
	uint16_t c;

	put_be16(b + word_off, 0);
	fix_csums(b);
	c = be16(b + field_off);
	if (after) {
		xl(nat, b, len, tmp);
		c = be16(tmp + field_off);
	}
	put_be16(b + word_off, c);
	fix_csums(b);
	if (!after)
		assert_int_equal(be16(b + field_off), 0);
}

static void edge_case(struct flownat *nat, xlate_fn xl, uint8_t *b,
		      size_t len, size_t word_off, size_t field_off, int kind)
{
	uint8_t out[PKT_MAX];

	force_zero(nat, xl, b, len, word_off, field_off, kind == 1);
	if (kind == 2) /* 0xffff: the other zero, still valid */
		put_be16(b + field_off, 0xffff);
	xl(nat, b, len, out);
	if (kind == 1)
		assert_int_equal(be16(out + field_off), 0);
	if (kind == 2) {
		assert_true(ip_valid(out));
		assert_true(tcp_valid(out));
	} else {
		assert_exact(out);
	}
}

/* Checksums of 0x0000 (and 0xffff) before and after rewriting, for the
 * TCP checksum (through a payload word) and the IPv4 header (IP ID), in
 * both directions. */
static void csum_edges(int family)
{
	struct flownat *nat = nat_new(4);
	static uint8_t data[1400], b[PKT_MAX];

	for (int i = 0; i < 500; i++) {
		struct spec s = spec_random(family, data);
		struct flownat_entry *e;
		size_t len, hl, kind = (size_t)i % 3;

		s.data_len = 2 + rnd() % 60;
		e = open_flow(nat, &s, true);
		s.flags = ACK;
		len = build(b, &s);
		hl = ip_hl(b);
		edge_case(nat, xl_in, b, len, hl + 20 + s.tcp_opts, hl + 16,
			  (int)kind);
		if (family == AF_INET)
			edge_case(nat, xl_in, b, len, 4, 10, (int)kind);
		len = build_reply(b, e, ACK, data, 2 + rnd() % 60);
		edge_case(nat, xl_out, b, len, ip_hl(b) + 20, ip_hl(b) + 16,
			  (int)kind);
		if (family == AF_INET)
			edge_case(nat, xl_out, b, len, 4, 10, (int)kind);
		flownat_remove(nat, e);
	}
	flownat_free(nat);
}

static void test_checksum_edges_v4(void **state)
{
	csum_edges(AF_INET);
}

static void test_checksum_edges_v6(void **state)
{
	csum_edges(AF_INET6);
}

static void test_ip_and_tcp_options(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.2", "203.0.113.9", 1234, 80, SYN);
	uint8_t b[PKT_MAX], orig[PKT_MAX];
	struct flownat_entry *e;
	size_t len;

	s.ip_opts = 40;
	s.tcp_opts = 40;
	len = build(b, &s);
	memcpy(orig, b, len);
	assert_int_equal(in(nat, b, len, &e), FLOWNAT_NEW);
	assert_rewritten_in(b, orig, e);
	flownat_free(nat);
}

/* NEW, then HELD (not rewritten) while PENDING, then PASS. */
static void transitions(const char *c, const char *d)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec(c, d, 5555, 80, SYN);
	uint8_t b[PKT_MAX], orig[PKT_MAX];
	struct flownat_entry *e, *e2;
	size_t len = build(b, &s);

	assert_int_equal(in(nat, b, len, &e), FLOWNAT_NEW);
	len = build(b, &s);
	memcpy(orig, b, len);
	assert_int_equal(in(nat, b, len, &e2), FLOWNAT_HELD);
	assert_ptr_equal(e, e2);
	assert_memory_equal(b, orig, len);
	s.flags = ACK;
	len = build(b, &s);
	memcpy(orig, b, len);
	assert_int_equal(in(nat, b, len, &e2), FLOWNAT_HELD);
	assert_memory_equal(b, orig, len);
	flownat_set_state(nat, e, FLOWNAT_OPEN, now);
	assert_int_equal(in(nat, b, len, &e2), FLOWNAT_PASS);
	assert_ptr_equal(e, e2);
	assert_rewritten_in(b, orig, e);
	flownat_set_state(nat, e, FLOWNAT_CLOSED, now);
	len = build(b, &s);
	assert_int_equal(in(nat, b, len, &e2), FLOWNAT_PASS);
	assert_int_equal(flownat_counters(nat)->in_new, 1);
	assert_int_equal(flownat_counters(nat)->in_held, 2);
	assert_int_equal(flownat_counters(nat)->in_pass, 2);
	assert_int_equal(drops(flownat_counters(nat)), 0);
	flownat_free(nat);
}

static void test_transitions_v4(void **state)
{
	transitions("192.168.1.10", "198.51.100.7");
}

static void test_transitions_v6(void **state)
{
	transitions("2001:db8::10", "2001:db8::7");
}

static void test_non_syn_unknown_dropped(void **state)
{
	struct flownat *nat = nat_new(4);
	const uint8_t flags[] = { ACK, ACK | PSH, FIN | ACK, RST, RST | ACK,
				  SYN | ACK, SYN | FIN, SYN | RST, 0 };
	uint8_t b[PKT_MAX], orig[PKT_MAX];
	struct flownat_entry *e = (void *)b;

	for (size_t i = 0; i < sizeof(flags); i++) {
		struct spec s = spec(i & 1 ? "10.0.0.1" : "fd00::1",
				     i & 1 ? "10.0.0.2" : "fd00::2", 1, 2,
				     flags[i]);
		size_t len = build(b, &s);

		memcpy(orig, b, len);
		assert_int_equal(in(nat, b, len, &e), FLOWNAT_DROP);
		assert_null(e);
		assert_memory_equal(b, orig, len);
	}
	assert_int_equal(flownat_counters(nat)->drop_no_flow, sizeof(flags));
	assert_int_equal(flownat_count(nat), 0);
	flownat_free(nat);
}

/* A SYN on the tuple of a flow that ended starts a new entry; on a live
 * flow it passes to lwIP. */
static void test_syn_reuses_closed_tuple(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.1.1.1", "192.0.2.1", 999, 25, SYN);
	uint8_t b[PKT_MAX];
	struct flownat_entry *e = open_flow(nat, &s, true), *e2;
	uint16_t old = e->synth_port;

	assert_int_equal(in(nat, b, build(b, &s), &e2), FLOWNAT_PASS);
	flownat_set_state(nat, e, FLOWNAT_CLOSED, now);
	s.flags = ACK;
	assert_int_equal(in(nat, b, build(b, &s), &e2), FLOWNAT_PASS);
	s.flags = SYN;
	assert_int_equal(in(nat, b, build(b, &s), &e2), FLOWNAT_NEW);
	assert_int_equal(e2->state, FLOWNAT_PENDING);
	assert_int_not_equal(e2->synth_port, old);
	assert_null(flownat_find_synth(nat, AF_INET, old));
	assert_int_equal(flownat_count(nat), 1);
	/* the old expiry is gone with the old entry */
	assert_int_equal(flownat_expire(nat, now + LINGER * 10), 0);
	flownat_free(nat);
}

/* Every strict prefix is dropped, counted, and left unwritten; the exact
 * size of the copy lets ASan catch any read past it. */
static void truncations(struct flownat *nat, const uint8_t *pkt, size_t len,
			bool out)
{
	uint64_t before = drops(flownat_counters(nat));
	size_t count = flownat_count(nat);
	uint8_t o[PKT_MAX];

	for (size_t n = 0; n < len; n++) {
		uint8_t *b = malloc(n ? n : 1);

		memcpy(b, pkt, n);
		if (out)
			assert_int_equal(flownat_out(nat, b, n, o, PKT_MAX), 0);
		else
			assert_int_equal(in(nat, b, n, NULL), FLOWNAT_DROP);
		assert_memory_equal(b, pkt, n);
		free(b);
	}
	assert_int_equal(drops(flownat_counters(nat)), before + len);
	assert_int_equal(flownat_count(nat), count);
}

static void truncated(const char *c, const char *d)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec(c, d, 4321, 443, SYN);
	uint8_t b[PKT_MAX], data[33] = "0123456789abcdef0123456789abcdef";
	struct flownat_entry *e;

	s.data = data;
	s.data_len = sizeof(data);
	s.tcp_opts = 12;
	s.ip_opts = 8;
	truncations(nat, b, build(b, &s), false);
	e = open_flow(nat, &s, true);
	s.flags = ACK;
	truncations(nat, b, build(b, &s), false);
	truncations(nat, b, build_reply(b, e, ACK, data, 9), true);
	flownat_free(nat);
}

static void test_truncated_v4(void **state)
{
	truncated("10.0.0.1", "10.9.9.9");
}

static void test_truncated_v6(void **state)
{
	truncated("fd00::1", "2001:db8::9");
}

/* Bytes past the IP length are not part of the packet. */
static void test_trailing_bytes_ignored(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX];
	struct flownat_entry *e;
	size_t len = build(b, &s);

	memset(b + len, 0xee, 7);
	assert_int_equal(in(nat, b, len + 7, &e), FLOWNAT_NEW);
	assert_exact(b);
	len = build_reply(b, e, SYN | ACK, NULL, 0);
	memset(b + len, 0xee, 9);
	assert_int_equal(flownat_out(nat, b, len + 9, o, sizeof(o)), len);
	assert_rewritten_out(o, e);
	flownat_free(nat);
}

/* Sends b after fix_ip (when the header fits) and expects a drop counted
 * in *counter. */
static void expect_drop(struct flownat *nat, uint8_t *b, size_t len,
			const uint64_t *counter, bool fix)
{
	uint64_t before = *counter;

	if (fix && is_v4(b) && ip_hl(b) <= len && ip_hl(b) >= 20)
		fix_ip(b);
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_DROP);
	assert_int_equal(*counter, before + 1);
	assert_int_equal(flownat_count(nat), 0);
}

/* An option running past the TCP header never reaches lwIP (2.1.3 reads
 * past the header for a last option without its length byte); good
 * options, NOPs and an end-of-options byte followed by junk do. */
static void test_tcp_options_checked(void **state)
{
	struct flownat *nat = nat_new(8);
	const struct flownat_counters *c = flownat_counters(nat);
	static const uint8_t bad[][8] = {
		{ 1, 1, 1, 1, 1, 1, 1, 0xfe }, /* kind with no length byte */
		{ 2, 4, 5, 0xb4, 8, 12 },     /* length past the header */
		{ 2, 0 },                     /* length 0 */
		{ 2, 1 },                     /* length 1 */
	};
	static const uint8_t good[][8] = {
		{ 2, 4, 5, 0xb4, 1, 1, 1, 0 },  /* MSS, NOPs, EOL */
		{ 0, 0xfe, 0xff, 7 },           /* EOL, then anything */
		{ 3, 3, 7, 1 },                 /* window scale, NOP */
	};
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1000, 80, SYN);
	uint8_t b[PKT_MAX];
	size_t len, hl;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.tcp_opts = 8, s.sport = (uint16_t)(1000 + i);
		len = build(b, &s);
		hl = ip_hl(b);
		memcpy(b + hl + 20, bad[i], 8);
		fix_csums(b);
		expect_drop(nat, b, len, &c->drop_bad_length, false);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		s.tcp_opts = 8, s.sport = (uint16_t)(2000 + i);
		len = build(b, &s);
		hl = ip_hl(b);
		memcpy(b + hl + 20, good[i], 8);
		fix_csums(b);
		assert_int_equal(in(nat, b, len, NULL), FLOWNAT_NEW);
	}
	flownat_free(nat);
}

static void test_lying_ip_lengths_v4(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	size_t len = build(b, &s);

	put_be16(b + 2, (uint16_t)(len + 1)); /* longer than the buffer */
	expect_drop(nat, b, len, &c->drop_bad_length, true);
	put_be16(b + 2, 19); /* shorter than the header */
	expect_drop(nat, b, len, &c->drop_bad_length, true);
	put_be16(b + 2, 30); /* no room for the TCP header */
	expect_drop(nat, b, len, &c->drop_short, true);
	len = build(b, &s);
	b[0] = 0x44; /* IHL 4 */
	expect_drop(nat, b, len, &c->drop_bad_length, false);
	b[0] = 0x40;
	expect_drop(nat, b, len, &c->drop_bad_length, false);
	b[0] = 0x4f; /* IHL 15: 60 bytes, more than 40 */
	expect_drop(nat, b, len, &c->drop_short, false);
	b[0] = 0x46; /* options eat into TCP: 24 + 20 > 40 */
	expect_drop(nat, b, len, &c->drop_short, true);
	expect_drop(nat, b, 19, &c->drop_short, false);
	flownat_free(nat);
}

static void test_lying_ip_lengths_v6(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("fd00::1", "fd00::9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	size_t len = build(b, &s);

	put_be16(b + 4, (uint16_t)(len - 40 + 1));
	expect_drop(nat, b, len, &c->drop_bad_length, false);
	put_be16(b + 4, 0xffff);
	expect_drop(nat, b, len, &c->drop_bad_length, false);
	put_be16(b + 4, 19);
	expect_drop(nat, b, len, &c->drop_short, false);
	put_be16(b + 4, 0);
	expect_drop(nat, b, len, &c->drop_short, false);
	expect_drop(nat, b, 39, &c->drop_short, false);
	flownat_free(nat);
}

static void test_lying_tcp_offset(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX], data[8] = { 0 };
	size_t len;

	s.data = data;
	s.data_len = sizeof(data);
	for (int fam = 0; fam < 2; fam++) {
		if (fam)
			s = spec("fd00::1", "fd00::9", 1, 2, SYN);
		len = build(b, &s);
		b[ip_hl(b) + 12] = 4 << 4;
		expect_drop(nat, b, len, &c->drop_bad_length, false);
		b[ip_hl(b) + 12] = 0;
		expect_drop(nat, b, len, &c->drop_bad_length, false);
		b[ip_hl(b) + 12] = (uint8_t)((len - ip_hl(b)) / 4 + 1) << 4;
		expect_drop(nat, b, len, &c->drop_short, false);
		b[ip_hl(b) + 12] = 15 << 4;
		expect_drop(nat, b, len, &c->drop_short, false);
	}
	flownat_free(nat);
}

static void test_bad_ip_checksum(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX];
	struct flownat_entry *e;
	size_t len = build(b, &s);

	b[10] ^= 0x01;
	expect_drop(nat, b, len, &c->drop_bad_checksum, false);
	len = build(b, &s);
	b[8] = 63; /* TTL changed, checksum not */
	expect_drop(nat, b, len, &c->drop_bad_checksum, false);
	e = open_flow(nat, &s, true);
	s.flags = ACK;
	len = build(b, &s);
	b[11] ^= 0x80;
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_DROP);
	assert_int_equal(c->drop_bad_checksum, 3);
	len = build_reply(b, e, ACK, NULL, 0);
	b[10] ^= 0x40;
	assert_int_equal(flownat_out(nat, b, len, o, sizeof(o)), 0);
	assert_int_equal(c->drop_bad_checksum, 4);
	flownat_free(nat);
}

/* A SYN creates state only with a valid TCP checksum. */
static void test_bad_syn_checksum(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	uint8_t b[PKT_MAX], data[5] = "hello";
	const char *addrs[][2] = { { "10.0.0.1", "10.0.0.9" },
				   { "fd00::1", "fd00::9" } };

	for (int i = 0; i < 2; i++) {
		struct spec s = spec(addrs[i][0], addrs[i][1], 1, 2, SYN);
		size_t len;

		s.data = data;
		s.data_len = sizeof(data);
		len = build(b, &s);
		b[len - 1] ^= 0x20;
		expect_drop(nat, b, len, &c->drop_bad_checksum, false);
		len = build(b, &s);
		b[ip_hl(b) + 16] ^= 0xff;
		expect_drop(nat, b, len, &c->drop_bad_checksum, false);
		len = build(b, &s);
		b[ip_src(b) - b] ^= 1; /* the pseudo-header counts */
		expect_drop(nat, b, len, &c->drop_bad_checksum, true);
	}
	flownat_free(nat);
}

/* Other segments are not verified (lwIP does it): a bad checksum stays
 * bad, by the same amount. */
static void test_bad_data_checksum_stays_bad(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	size_t len;
	uint16_t residue;

	open_flow(nat, &s, true);
	s.flags = ACK;
	len = build(b, &s);
	put_be16(b + 36, be16(b + 36) + 5);
	residue = fold(l4_sum(b, 16, true));
	assert_int_not_equal(residue, 0xffff);
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_PASS);
	assert_false(tcp_valid(b));
	assert_true(ip_valid(b));
	assert_int_equal(fold(l4_sum(b, 16, true)), residue);
	flownat_free(nat);
}

static void test_fragments(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	const uint16_t frag[] = { 0x2000, 0x6000, 0x0001, 0x4001, 0x1fff,
				  0x3fff };
	size_t len = build(b, &s);

	for (size_t i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
		put_be16(b + 6, frag[i]);
		expect_drop(nat, b, len, &c->drop_not_tcp, true);
	}
	put_be16(b + 6, 0x8000); /* the reserved bit alone is no fragment */
	fix_ip(b);
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_NEW);
	flownat_free(nat);
}

static void test_not_tcp(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	size_t len = build(b, &s);

	b[9] = IPPROTO_UDP;
	expect_drop(nat, b, len, &c->drop_not_tcp, true);
	b[9] = IPPROTO_ICMP;
	expect_drop(nat, b, len, &c->drop_not_tcp, true);
	b[0] = 0x55;
	expect_drop(nat, b, len, &c->drop_not_tcp, false);
	b[0] = 0x05;
	expect_drop(nat, b, len, &c->drop_not_tcp, false);
	s = spec("fd00::1", "fd00::9", 1, 2, SYN);
	len = build(b, &s);
	b[6] = IPPROTO_UDP;
	expect_drop(nat, b, len, &c->drop_not_tcp, false);
	flownat_free(nat);
}

/* A hop-by-hop or destination options header before TCP: dropped. */
static void test_v6_extension_header(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("fd00::1", "fd00::9", 1, 2, SYN);
	uint8_t b[PKT_MAX], t[PKT_MAX];
	const uint8_t ext_type[] = { 0, 60, 43, 44 };
	size_t len = build(b, &s);

	memcpy(t, b + 40, len - 40);
	for (size_t i = 0; i < sizeof(ext_type); i++) {
		uint8_t ext[8] = { IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0 };

		len = build(b, &s);
		memcpy(b + 40, ext, 8);
		memcpy(b + 48, t, len - 40);
		b[6] = ext_type[i];
		put_be16(b + 4, (uint16_t)(len - 40 + 8));
		expect_drop(nat, b, len + 8, &c->drop_not_tcp, false);
	}
	flownat_free(nat);
}

/* Addresses no LAN packet carries never make an entry, from or to. */
static void test_bogus_addresses(void **state)
{
	static const char *const bogus[] = {
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.0.9", "224.0.0.1",
		"239.1.2.3", "240.0.0.1", "255.255.255.255", "::", "::1",
		"::ffff:127.0.0.1", "::ffff:198.51.100.7", "ff02::1", "ff0e::9",
	};
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	uint8_t b[PKT_MAX];
	struct spec s;
	size_t len;

	for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
		bool v6 = strchr(bogus[i], ':') != NULL;
		const char *good = v6 ? "fd00::1" : "10.0.0.1";

		s = spec(good, bogus[i], 1, 2, SYN);
		len = build(b, &s);
		expect_drop(nat, b, len, &c->drop_bad_addr, false);
		s = spec(bogus[i], good, 1, 2, SYN);
		len = build(b, &s);
		expect_drop(nat, b, len, &c->drop_bad_addr, false);
	}
	/* the neighbours of those ranges are fine */
	s = spec("1.0.0.1", "126.255.255.255", 1, 2, SYN);
	len = build(b, &s);
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_NEW);
	s = spec("::2", "::fffe:127.0.0.1", 1, 2, SYN);
	len = build(b, &s);
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_NEW);
	s = spec("fe80::1", "feff::1", 1, 2, SYN);
	len = build(b, &s);
	assert_int_equal(in(nat, b, len, NULL), FLOWNAT_NEW);
	flownat_free(nat);
}

/* ---- the way out ---- */

static void out_maps_back(const char *cl, const char *d)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec(cl, d, 33333, 8080, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX], data[301];
	struct flownat_entry *e = open_flow(nat, &s, false);
	size_t len;

	rnd_bytes(data, sizeof(data));
	/* lwIP answers before the caller marks the entry OPEN */
	len = build_reply(b, e, SYN | ACK, NULL, 0);
	assert_int_equal(flownat_out(nat, b, len, o, sizeof(o)), len);
	assert_rewritten_out(o, e);
	assert_int_equal(o[ip_hl(o) + 13], SYN | ACK);
	len = build_reply(b, e, ACK | PSH, data, sizeof(data));
	assert_int_equal(flownat_out(nat, b, len, o, sizeof(o)), len);
	assert_rewritten_out(o, e);
	assert_memory_equal(o + len - sizeof(data), data, sizeof(data));
	assert_int_equal(flownat_counters(nat)->out_pass, 2);
	flownat_free(nat);
}

static void test_out_maps_back_v4(void **state)
{
	out_maps_back("192.168.7.7", "93.184.216.34");
}

static void test_out_maps_back_v6(void **state)
{
	out_maps_back("2001:db8:7::7", "2606:2800:220:1::1");
}

static void test_out_unknown(void **state)
{
	struct flownat *nat = nat_new(4);
	const struct flownat_counters *c = flownat_counters(nat);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX];
	struct flownat_entry *e = open_flow(nat, &s, true);
	uint16_t p = e->synth_port;
	struct spec bad[] = {
		spec("100.64.0.3", S4, LPORT, p, ACK), /* not from L */
		spec(L4, "100.64.0.3", LPORT, p, ACK), /* not to S */
		spec(S4, L4, LPORT, p, ACK),           /* reversed */
		spec(L4, S4, LPORT + 1, p, ACK),       /* not from l */
		spec(L4, S4, LPORT, (uint16_t)(p + 1), ACK), /* no entry */
		spec(L6, S6, LPORT, p, ACK),           /* other family */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = build(b, &bad[i]);

		assert_int_equal(flownat_out(nat, b, len, o, sizeof(o)), 0);
		assert_int_equal(c->drop_out_unknown, i + 1);
	}
	assert_int_equal(c->out_pass, 0);
	flownat_free(nat);
}

static void test_out_cap(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("fd00::1", "fd00::9", 1, 2, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX];
	struct flownat_entry *e = open_flow(nat, &s, true);
	size_t len = build_reply(b, e, ACK, (const uint8_t *)"xyz", 3);

	memset(o, 0x5a, sizeof(o));
	assert_int_equal(flownat_out(nat, b, len, o, len - 1), 0);
	assert_int_equal(o[0], 0x5a);
	assert_int_equal(flownat_counters(nat)->drop_bad_length, 1);
	assert_int_equal(flownat_out(nat, b, len, o, len), len);
	assert_rewritten_out(o, e);
	flownat_free(nat);
}

static void test_out_in_place(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	struct flownat_entry *e = open_flow(nat, &s, true);
	size_t len = build_reply(b, e, FIN | ACK, NULL, 0);

	assert_int_equal(flownat_out(nat, b, len, b, sizeof(b)), len);
	assert_rewritten_out(b, e);
	flownat_free(nat);
}

/* ---- the tables ---- */

static void test_find_synth(void **state)
{
	struct flownat *nat = nat_new(8);
	struct spec s4 = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	struct spec s6 = spec("fd00::1", "fd00::9", 1, 2, SYN);
	struct flownat_entry *e4 = open_flow(nat, &s4, false);
	struct flownat_entry *e6 = open_flow(nat, &s6, false);

	/* each family has its own port space */
	assert_int_equal(e4->synth_port, e6->synth_port);
	assert_ptr_equal(flownat_find_synth(nat, AF_INET, e4->synth_port), e4);
	assert_ptr_equal(flownat_find_synth(nat, AF_INET6, e6->synth_port), e6);
	assert_null(flownat_find_synth(nat, AF_INET, e4->synth_port + 1));
	assert_null(flownat_find_synth(nat, AF_UNIX, e4->synth_port));
	assert_null(flownat_find_synth(nat, AF_INET, 0));
	flownat_remove(nat, e4);
	assert_null(flownat_find_synth(nat, AF_INET, e6->synth_port));
	assert_ptr_equal(flownat_find_synth(nat, AF_INET6, e6->synth_port), e6);
	flownat_free(nat);
}

static void test_remove(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	struct flownat_entry *e = open_flow(nat, &s, true);

	flownat_set_state(nat, e, FLOWNAT_CLOSED, now);
	flownat_remove(nat, e);
	flownat_remove(nat, NULL);
	assert_int_equal(flownat_count(nat), 0);
	s.flags = ACK;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_DROP);
	assert_int_equal(flownat_counters(nat)->drop_no_flow, 1);
	assert_int_equal(flownat_expire(nat, UINT64_MAX), 0);
	assert_int_equal(flownat_counters(nat)->expired, 0);
	flownat_free(nat);
}

static void test_expiry(void **state)
{
	struct flownat *nat = nat_new(8);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	struct flownat_entry *live, *closed, *reopened;

	now = 5000;
	live = open_flow(nat, &s, true);
	s.sport = 2;
	closed = open_flow(nat, &s, true);
	s.sport = 3;
	reopened = open_flow(nat, &s, true);
	flownat_set_state(nat, closed, FLOWNAT_CLOSED, now);
	assert_int_equal(closed->expires_ms, now + LINGER);
	flownat_set_state(nat, reopened, FLOWNAT_CLOSED, now);
	flownat_set_state(nat, reopened, FLOWNAT_OPEN, now);
	assert_int_equal(reopened->expires_ms, 0);
	assert_int_equal(flownat_expire(nat, now + LINGER - 1), 0);
	assert_int_equal(flownat_expire(nat, now + LINGER), 1);
	assert_int_equal(flownat_count(nat), 2);
	assert_int_equal(flownat_counters(nat)->expired, 1);
	s.sport = 2;
	s.flags = ACK;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_DROP);
	assert_int_equal(flownat_expire(nat, UINT64_MAX), 0);
	assert_int_equal(live->state, FLOWNAT_OPEN);
	now = 0;
	flownat_free(nat);
}

/* Closing times that step back still expire in order. */
static void test_expiry_order(void **state)
{
	struct flownat *nat = nat_new(8);
	struct spec s = spec("fd00::1", "fd00::9", 1, 2, SYN);
	const uint64_t at[] = { 0, 100, 50, 50, UINT64_MAX - 10, 20 };
	struct flownat_entry *e[6];

	for (int i = 0; i < 6; i++) {
		s.sport = (uint16_t)(i + 1);
		e[i] = open_flow(nat, &s, true);
		flownat_set_state(nat, e[i], FLOWNAT_CLOSED, at[i]);
	}
	assert_int_equal(e[4]->expires_ms, UINT64_MAX); /* saturated */
	assert_int_equal(flownat_expire(nat, LINGER + 49), 2);
	assert_int_equal(flownat_expire(nat, LINGER + 50), 2);
	assert_int_equal(e[1]->state, FLOWNAT_CLOSED);
	assert_int_equal(flownat_expire(nat, LINGER + 100), 1);
	assert_int_equal(flownat_expire(nat, UINT64_MAX - 1), 0);
	assert_int_equal(flownat_expire(nat, UINT64_MAX), 1);
	assert_int_equal(flownat_count(nat), 0);
	flownat_free(nat);
}

static void test_full_table(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	struct spec s6 = spec("fd00::1", "fd00::9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	struct flownat_entry *e[4];

	for (int i = 0; i < 4; i++) {
		s.sport = (uint16_t)(100 + i);
		e[i] = open_flow(nat, &s, false);
	}
	s.sport = 200;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_DROP);
	assert_int_equal(in(nat, b, build(b, &s6), NULL), FLOWNAT_DROP);
	assert_int_equal(flownat_counters(nat)->drop_full, 2);
	/* existing flows still work */
	s.sport = 101;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_HELD);
	flownat_remove(nat, e[2]);
	assert_int_equal(in(nat, b, build(b, &s6), NULL), FLOWNAT_NEW);
	assert_int_equal(flownat_count(nat), 4);
	flownat_free(nat);
}

/* Full, with lingering (CLOSED) entries: a new SYN takes the place of the
 * one that ended first, instead of being dropped. */
static void test_full_table_reclaims(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX];
	struct flownat_entry *e[4];

	for (int i = 0; i < 4; i++) {
		s.sport = (uint16_t)(100 + i);
		e[i] = open_flow(nat, &s, false);
	}
	flownat_set_state(nat, e[1], FLOWNAT_CLOSED, 1000);
	flownat_set_state(nat, e[3], FLOWNAT_CLOSED, 2000);
	s.sport = 200;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_NEW);
	assert_int_equal(flownat_counters(nat)->reclaimed, 1);
	assert_int_equal(flownat_counters(nat)->drop_full, 0);
	assert_int_equal(flownat_count(nat), 4);
	/* e[1] (ended first) is gone: its next packet has no entry */
	s.sport = 101;
	s.flags = ACK;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_DROP);
	/* e[3] lingers on */
	s.sport = 103;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_PASS);
	/* the next one takes e[3]'s place; then, with none lingering, drop */
	s.sport = 201;
	s.flags = SYN;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_NEW);
	s.sport = 202;
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_DROP);
	assert_int_equal(flownat_counters(nat)->reclaimed, 2);
	assert_int_equal(flownat_counters(nat)->drop_full, 1);
	flownat_free(nat);
}

static struct spec numbered(int family, uint32_t i)
{
	struct spec s = spec(family == AF_INET ? "10.0.0.0" : "fd00::",
			     family == AF_INET ? "192.0.2.1" : "2001:db8::1",
			     (uint16_t)i, 80, SYN);

	s.src[family == AF_INET ? 2 : 14] = (uint8_t)(i >> 16);
	s.src[family == AF_INET ? 3 : 15] = (uint8_t)(i >> 8);
	return s;
}

/* A family runs out of ports at 64512 flows; the other still has all. */
static void test_port_space_exhausted(void **state)
{
	struct flownat *nat = nat_new(128000);
	static uint8_t seen[65536];
	uint8_t b[PKT_MAX];
	struct spec s;
	struct flownat_entry *e;

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < 65536 - 1024; i++) {
		s = numbered(AF_INET, i);
		assert_int_equal(in(nat, b, build(b, &s), &e), FLOWNAT_NEW);
		assert_in_range(e->synth_port, 1024, 65535);
		assert_int_equal(seen[e->synth_port]++, 0);
	}
	s = numbered(AF_INET, 70000);
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_DROP);
	assert_int_equal(flownat_counters(nat)->drop_full, 1);
	s = numbered(AF_INET6, 1);
	assert_int_equal(in(nat, b, build(b, &s), NULL), FLOWNAT_NEW);
	assert_int_equal(flownat_count(nat), 65536 - 1024 + 1);
	flownat_free(nat);
}

/* A CLOSED entry keeps its port through a whole turn of the cursor;
 * once expired, the port comes back. */
static void test_port_reuse_after_expiry(void **state)
{
	struct flownat *nat = nat_new(8);
	struct spec s = numbered(AF_INET, 0);
	struct flownat_entry *keep = open_flow(nat, &s, true), *e;
	uint16_t port = keep->synth_port;
	uint32_t i;

	flownat_set_state(nat, keep, FLOWNAT_CLOSED, 0);
	for (i = 1; i < 2 * 65536; i++) {
		s = numbered(AF_INET, i);
		e = open_flow(nat, &s, false);
		assert_int_not_equal(e->synth_port, port);
		flownat_remove(nat, e);
	}
	assert_int_equal(flownat_expire(nat, LINGER), 1);
	for (i = 1; i < 65536; i++) {
		uint16_t got;

		s = numbered(AF_INET, i);
		e = open_flow(nat, &s, false);
		got = e->synth_port;
		flownat_remove(nat, e);
		if (got == port)
			break;
	}
	assert_true(i < 65536);
	flownat_free(nat);
}

/* Thousands of flows of both families, each found both ways, and the
 * survivors still found after half are removed. */
static void test_many_flows(void **state)
{
	enum { N = 6000 };
	struct flownat *nat = nat_new(N);
	static struct flownat_entry *e[N];
	uint8_t b[PKT_MAX];
	struct spec s;

	for (uint32_t i = 0; i < N; i++) {
		s = numbered(i & 1 ? AF_INET6 : AF_INET, i);
		e[i] = open_flow(nat, &s, true);
	}
	for (uint32_t i = 0; i < N; i += 2)
		flownat_remove(nat, e[i]);
	for (uint32_t i = 0; i < N; i++) {
		struct flownat_entry *got;

		s = numbered(i & 1 ? AF_INET6 : AF_INET, i);
		s.flags = ACK;
		assert_int_equal(in(nat, b, build(b, &s), &got),
				 i & 1 ? FLOWNAT_PASS : FLOWNAT_DROP);
		if (i & 1) {
			assert_ptr_equal(got, e[i]);
			assert_ptr_equal(flownat_find_synth(nat, AF_INET6,
							    got->synth_port),
					 got);
		}
	}
	assert_int_equal(flownat_count(nat), N / 2);
	flownat_free(nat);
}

/* A held SYN goes back to the bytes the LAN sent. */
static void test_restore(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	struct spec s2 = spec("10.0.0.1", "10.0.0.9", 3, 2, SYN);
	uint8_t b[PKT_MAX], orig[PKT_MAX], b2[PKT_MAX];
	struct flownat_entry *e, *e2;
	size_t len = build(b, &s), len2 = build(b2, &s2);

	memcpy(orig, b, len);
	assert_int_equal(in(nat, b, len, &e), FLOWNAT_NEW);
	assert_int_equal(in(nat, b2, len2, &e2), FLOWNAT_NEW);
	assert_false(flownat_restore(nat, e2, b, len));
	assert_false(flownat_restore(nat, e, orig, len));
	assert_false(flownat_restore(nat, e, b, len - 1));
	assert_true(flownat_restore(nat, e, b, len));
	assert_memory_equal(b, orig, len);
	assert_true(flownat_restore(nat, e2, b2, len2));
	flownat_free(nat);
}

/* ---- the packets the CPE makes ---- */

static void assert_reply_addrs(const uint8_t *o, const uint8_t *syn)
{
	assert_int_equal(o[0] >> 4, syn[0] >> 4);
	assert_memory_equal(ip_src(o), ip_dst(syn), alen(syn));
	assert_memory_equal(ip_dst(o), ip_src(syn), alen(syn));
	if (is_v4(o)) {
		assert_int_equal(o[0], 0x45);
		assert_int_equal(o[8], 64);
		assert_int_equal(be16(o + 4), 0);
		assert_int_equal(be16(o + 6), 0x4000);
		assert_int_equal(be16(o + 10), ref_ip_csum(o));
	} else {
		assert_int_equal(o[7], 64);
		assert_int_equal(be32(o), 0x60000000);
	}
}

static void check_rst(const char *c, const char *d, uint32_t seq,
		      size_t data_len, uint32_t want_ack)
{
	struct spec s = spec(c, d, 51000, 22, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX], data[200] = { 7 };
	size_t len, n, want = s.family == AF_INET ? 40 : 60;
	const uint8_t *t;

	s.seq = seq;
	s.data = data;
	s.data_len = data_len;
	s.tcp_opts = 8;
	len = build(b, &s);
	assert_int_equal(flownat_make_rst(b, len, o, want - 1), 0);
	n = flownat_make_rst(b, len, o, sizeof(o));
	assert_int_equal(n, want);
	assert_int_equal(ip_total(o), n);
	assert_int_equal(proto(o), IPPROTO_TCP);
	assert_reply_addrs(o, b);
	t = o + ip_hl(o);
	assert_int_equal(be16(t), 22);
	assert_int_equal(be16(t + 2), 51000);
	assert_int_equal(be32(t + 4), 0);
	assert_int_equal(be32(t + 8), want_ack);
	assert_int_equal(t[12], 5 << 4);
	assert_int_equal(t[13], RST | ACK);
	assert_int_equal(be16(t + 14), 0);
	assert_int_equal(be16(t + 18), 0);
	assert_exact(o);
}

static void test_make_rst_v4(void **state)
{
	check_rst("192.168.1.2", "198.51.100.1", 0x12345678, 0, 0x12345679);
}

static void test_make_rst_v6(void **state)
{
	check_rst("2001:db8::2", "2001:db8:1::1", 0xfffffffe, 0, 0xffffffff);
}

/* A SYN's data is acknowledged too (RFC 793: SEG.SEQ + SEG.LEN). */
static void test_make_rst_syn_with_data(void **state)
{
	check_rst("10.0.0.1", "10.0.0.2", 0xffffffff, 100, 100);
	check_rst("fd00::1", "fd00::2", 1, 199, 201);
}

/* A stray segment (no flow): with ACK, a RST at SEG.ACK; without, RST+ACK
 * acking it; never an answer to a RST or a damaged packet. */
static void check_stray(const char *c, const char *d, uint8_t flags,
			size_t data_len, uint8_t want_flags, uint32_t want_seq,
			uint32_t want_ack)
{
	struct spec s = spec(c, d, 51000, 443, flags);
	uint8_t b[PKT_MAX], o[PKT_MAX], data[100] = { 3 };
	size_t len, n, want = s.family == AF_INET ? 40 : 60;
	const uint8_t *t;

	s.seq = 1000, s.ack = 0xabcdef01;
	s.data = data, s.data_len = data_len;
	len = build(b, &s);
	assert_int_equal(flownat_make_rst_stray(b, len, o, want - 1), 0);
	n = flownat_make_rst_stray(b, len, o, sizeof(o));
	assert_int_equal(n, want);
	assert_reply_addrs(o, b);
	t = o + ip_hl(o);
	assert_int_equal(be16(t), 443);
	assert_int_equal(be16(t + 2), 51000);
	assert_int_equal(be32(t + 4), want_seq);
	assert_int_equal(be32(t + 8), want_ack);
	assert_int_equal(t[13], want_flags);
	assert_exact(o);
}

static void test_make_rst_stray(void **state)
{
	uint8_t b[PKT_MAX], o[PKT_MAX];
	struct spec s = spec("10.0.0.1", "10.0.0.2", 1, 2, RST | ACK);
	size_t len;

	check_stray("192.168.1.2", "198.51.100.1", ACK, 0, RST, 0xabcdef01, 0);
	check_stray("fd00::1", "2001:db8::1", ACK | FIN, 50, RST, 0xabcdef01, 0);
	check_stray("10.0.0.1", "10.0.0.2", FIN, 10, RST | ACK, 0, 1011);
	check_stray("10.0.0.1", "10.0.0.2", 0, 100, RST | ACK, 0, 1100);
	len = build(b, &s);
	assert_int_equal(flownat_make_rst_stray(b, len, o, sizeof(o)), 0);
	s.flags = ACK;
	len = build(b, &s);
	b[len - 1] ^= 1; /* bad checksum */
	assert_int_equal(flownat_make_rst_stray(b, len, o, sizeof(o)), 0);
}

/* The builders answer only a verified pure SYN. */
static void test_builders_reject(void **state)
{
	const uint8_t flags[] = { ACK, SYN | ACK, RST, SYN | RST, SYN | FIN,
				  FIN };
	uint8_t b[PKT_MAX], o[PKT_MAX];
	struct spec s = spec("10.0.0.1", "10.0.0.2", 1, 2, SYN);
	size_t len;

	for (size_t i = 0; i < sizeof(flags); i++) {
		s.flags = flags[i];
		len = build(b, &s);
		assert_int_equal(flownat_make_rst(b, len, o, sizeof(o)), 0);
		assert_int_equal(flownat_make_unreach(b, len, 1, o, sizeof(o)),
				 0);
	}
	s.flags = SYN;
	len = build(b, &s);
	b[len - 1] ^= 1;
	assert_int_equal(flownat_make_rst(b, len, o, sizeof(o)), 0);
	assert_int_equal(flownat_make_unreach(b, len, 1, o, sizeof(o)), 0);
	len = build(b, &s);
	assert_int_equal(flownat_make_rst(b, len - 1, o, sizeof(o)), 0);
	assert_int_equal(flownat_make_unreach(b, 0, 1, o, sizeof(o)), 0);
	assert_int_equal(flownat_make_unreach(b, len, 1, o, 20 + 8 + 28 - 1),
			 0);
	assert_int_equal(flownat_make_unreach(b, len, 1, o, 20 + 8 + 28),
			 20 + 8 + 28);
}

/* RFC 792: the SYN's IP header, options included, and 8 bytes of TCP. */
static void test_make_unreach_v4(void **state)
{
	struct spec s = spec("192.168.1.2", "198.51.100.1", 4000, 80, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX], data[50] = { 1 };
	size_t len, n;

	s.ip_opts = 4;
	s.data = data;
	s.data_len = sizeof(data);
	len = build(b, &s);
	n = flownat_make_unreach(b, len, 3, o, sizeof(o));
	assert_int_equal(n, 20 + 8 + 24 + 8);
	assert_int_equal(ip_total(o), n);
	assert_int_equal(proto(o), IPPROTO_ICMP);
	assert_reply_addrs(o, b);
	assert_int_equal(o[20], 3);
	assert_int_equal(o[21], 3);
	assert_int_equal(be32(o + 24), 0);
	assert_memory_equal(o + 28, b, 24 + 8);
	assert_int_equal(be16(o + 22), ref_l4_csum(o, 2));
}

static void check_unreach_v6(size_t data_len, size_t want_quote)
{
	struct spec s = spec("2001:db8::2", "2001:db8:1::1", 4000, 80, SYN);
	static uint8_t data[1400];
	uint8_t b[PKT_MAX], o[PKT_MAX];
	size_t len, n;

	rnd_bytes(data, sizeof(data));
	s.data = data;
	s.data_len = data_len;
	len = build(b, &s);
	n = flownat_make_unreach(b, len, 4, o, sizeof(o));
	assert_int_equal(n, 48 + want_quote);
	assert_true(n <= 1280);
	assert_int_equal(ip_total(o), n);
	assert_int_equal(proto(o), IPPROTO_ICMPV6);
	assert_reply_addrs(o, b);
	assert_int_equal(o[40], 1);
	assert_int_equal(o[41], 4);
	assert_int_equal(be32(o + 44), 0);
	assert_memory_equal(o + 48, b, want_quote);
	assert_int_equal(be16(o + 42), ref_l4_csum(o, 2));
	assert_int_equal(flownat_make_unreach(b, len, 4, o, n - 1), 0);
}

/* RFC 4443: as much of the SYN as fits in 1280 bytes. */
static void test_make_unreach_v6(void **state)
{
	check_unreach_v6(0, 60);
	check_unreach_v6(100, 160);
	check_unreach_v6(1172, 1232);
	check_unreach_v6(1200, 1232);
	check_unreach_v6(1400, 1232);
}

/* The held SYN, restored, is what the builders answer. */
static void test_rst_for_held_syn(void **state)
{
	struct flownat *nat = nat_new(4);
	struct spec s = spec("10.0.0.1", "10.0.0.9", 1, 2, SYN);
	uint8_t b[PKT_MAX], o[PKT_MAX];
	struct flownat_entry *e;
	size_t len = build(b, &s);

	assert_int_equal(in(nat, b, len, &e), FLOWNAT_NEW);
	assert_true(flownat_restore(nat, e, b, len));
	assert_int_equal(flownat_make_rst(b, len, o, sizeof(o)), 40);
	assert_memory_equal(ip_dst(o), e->orig.client, 4);
	assert_int_equal(be16(o + 22), e->orig.client_port);
	flownat_remove(nat, e);
	flownat_free(nat);
}

/* Every packet handed in is counted exactly once. */
static void test_counters_add_up(void **state)
{
	struct flownat *nat = nat_new(8);
	const struct flownat_counters *c = flownat_counters(nat);
	static uint8_t data[1400];
	uint8_t b[PKT_MAX], o[PKT_MAX];
	uint64_t calls_in = 0, calls_out = 0;

	for (int i = 0; i < 4000; i++) {
		struct spec s = spec_random(i & 1 ? AF_INET6 : AF_INET, data);
		struct flownat_entry *e;
		size_t len;

		s.flags = rnd() % 3 ? SYN : (uint8_t)rnd();
		len = build(b, &s);
		if (rnd() % 4 == 0)
			b[rnd() % len] ^= (uint8_t)(1u << rnd() % 8);
		calls_in++;
		if (in(nat, b, len - rnd() % 3 * (rnd() % len), &e) ==
		    FLOWNAT_NEW) {
			len = build_reply(b, e, ACK, NULL, 0);
			calls_out++;
			flownat_out(nat, b, len, o, sizeof(o));
		}
		if (e && rnd() % 2)
			flownat_set_state(nat, e, FLOWNAT_CLOSED, now);
		now += rnd() % 100;
		flownat_expire(nat, now);
	}
	assert_int_equal(c->in_new + c->in_held + c->in_pass + c->out_pass +
				 drops(c),
			 calls_in + calls_out);
	/* a SYN that replaces a CLOSED entry removes one uncounted */
	assert_true(flownat_count(nat) <= c->in_new - c->expired);
	assert_true(flownat_count(nat) <= 8);
	assert_true(c->in_new > 8 && c->drop_full > 0 && c->expired > 0);
	now = 0;
	flownat_free(nat);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_config),
		cmocka_unit_test(test_syn_v4_new),
		cmocka_unit_test(test_syn_v6_new),
		cmocka_unit_test(test_bogus_addresses),
		cmocka_unit_test(test_random_checksums_v4),
		cmocka_unit_test(test_random_checksums_v6),
		cmocka_unit_test(test_checksum_edges_v4),
		cmocka_unit_test(test_checksum_edges_v6),
		cmocka_unit_test(test_ip_and_tcp_options),
		cmocka_unit_test(test_transitions_v4),
		cmocka_unit_test(test_transitions_v6),
		cmocka_unit_test(test_non_syn_unknown_dropped),
		cmocka_unit_test(test_syn_reuses_closed_tuple),
		cmocka_unit_test(test_truncated_v4),
		cmocka_unit_test(test_truncated_v6),
		cmocka_unit_test(test_trailing_bytes_ignored),
		cmocka_unit_test(test_lying_ip_lengths_v4),
		cmocka_unit_test(test_lying_ip_lengths_v6),
		cmocka_unit_test(test_lying_tcp_offset),
		cmocka_unit_test(test_bad_ip_checksum),
		cmocka_unit_test(test_bad_syn_checksum),
		cmocka_unit_test(test_bad_data_checksum_stays_bad),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_not_tcp),
		cmocka_unit_test(test_v6_extension_header),
		cmocka_unit_test(test_out_maps_back_v4),
		cmocka_unit_test(test_out_maps_back_v6),
		cmocka_unit_test(test_out_unknown),
		cmocka_unit_test(test_out_cap),
		cmocka_unit_test(test_out_in_place),
		cmocka_unit_test(test_find_synth),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_expiry_order),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_full_table_reclaims),
		cmocka_unit_test(test_port_space_exhausted),
		cmocka_unit_test(test_port_reuse_after_expiry),
		cmocka_unit_test(test_many_flows),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_make_rst_v4),
		cmocka_unit_test(test_make_rst_stray),
		cmocka_unit_test(test_tcp_options_checked),
		cmocka_unit_test(test_make_rst_v6),
		cmocka_unit_test(test_make_rst_syn_with_data),
		cmocka_unit_test(test_builders_reject),
		cmocka_unit_test(test_make_unreach_v4),
		cmocka_unit_test(test_make_unreach_v6),
		cmocka_unit_test(test_rst_for_held_syn),
		cmocka_unit_test(test_counters_add_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
