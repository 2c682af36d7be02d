/* Unit tests for the TUN's virtio-net headers (lwip-port/vnet.c): partial
 * checksums completed, and lwIP's segments coalesced into GSO packets.
 * Checksums here come from a plain byte-by-byte RFC 1071 sum that shares no
 * code with vnet.c. */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <string.h>

#include "bytes.h"
#include "vnet.h"

#define ACK 0x10
#define PSH 0x08
#define FIN 0x01

static uint8_t gso[VNET_HDR_LEN + VNET_PKT_MAX];

static uint32_t sum(const uint8_t *p, size_t n, uint32_t acc)
{
	for (size_t i = 0; i < n; i++)
		acc += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The pseudo header of the TCP segment at l4 (addresses at src). */
static uint32_t pseudo(const uint8_t *b, size_t src, size_t alen, size_t seg)
{
	return sum(b + src, 2 * alen, 0) + 6 + (uint32_t)seg;
}

static bool tcp_ok(const uint8_t *b, size_t len)
{
	bool v4 = b[0] >> 4 == 4;
	size_t l4 = v4 ? 20 : 40;

	return fold(pseudo(b, v4 ? 12 : 8, v4 ? 4 : 16, len - l4) +
		    sum(b + l4, len - l4, 0)) == 0xffff;
}

/* lwIP's segment: IPv4 or IPv6, 198.51.100.1:80 -> 192.0.2.1:4000 (or
 * 2001:db8::1 -> 2001:db8::2), seq, data bytes of value seq, checksums
 * complete. Returns the length. */
static size_t seg(uint8_t *b, bool v4, uint32_t seq, size_t data, uint8_t flags)
{
	size_t l4 = v4 ? 20 : 40, len = l4 + 20 + data;
	uint8_t *t = b + l4;

	memset(b, 0, len);
	if (v4) {
		b[0] = 0x45;
		put_be16(b + 2, (uint16_t)len);
		b[8] = 64;
		b[9] = 6;
		memcpy(b + 12, "\xc6\x33\x64\x01\xc0\x00\x02\x01", 8);
		put_be16(b + 10, (uint16_t)~fold(sum(b, 20, 0)));
	} else {
		b[0] = 0x60;
		put_be16(b + 4, (uint16_t)(len - 40));
		b[6] = 6;
		b[7] = 64;
		b[8] = 0x20, b[9] = 0x01, b[10] = 0x0d, b[11] = 0xb8, b[23] = 1;
		b[24] = 0x20, b[25] = 0x01, b[26] = 0x0d, b[27] = 0xb8,
		b[39] = 2;
	}
	put_be16(t, 80);
	put_be16(t + 2, 4000);
	put_be32(t + 4, seq);
	put_be32(t + 8, 777);
	t[12] = 5 << 4;
	t[13] = flags;
	put_be16(t + 14, 1000);
	memset(t + 20, (int)(seq & 0xff), data);
	put_be16(t + 16,
	      (uint16_t)~fold(pseudo(b, v4 ? 12 : 8, v4 ? 4 : 16, len - l4) +
			      sum(t, len - l4, 0)));
	return len;
}

static void test_hdr_round_trip(void **state)
{
	struct vnet_hdr h = {1, 4, 74, 1428, 40, 16}, g;
	uint8_t b[VNET_HDR_LEN];

	vnet_hdr_put(b, &h);
	vnet_hdr_get(b, &g);
	assert_memory_equal(&h, &g, sizeof(h));
}

static void test_csum_complete(void **state)
{
	uint8_t b[2000], want[2000];
	struct vnet_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			     .csum_start = 20,
			     .csum_offset = 16};
	size_t n = seg(b, true, 5, 1001, ACK); /* odd: the last byte alone */

	memcpy(want, b, n);
	put_be16(b + 36,
	      fold(pseudo(b, 12, 4, n - 20))); /* as the kernel leaves it */
	assert_true(vnet_csum_complete(b, n, &h));
	assert_memory_equal(b, want, n);
	/* a field that is not in the packet: nothing written */
	h.csum_offset = (uint16_t)(n - 20 - 1);
	assert_false(vnet_csum_complete(b, n, &h));
	h.csum_start = 0xffff, h.csum_offset = 0xffff;
	assert_false(vnet_csum_complete(b, n, &h));
	assert_memory_equal(b, want, n);
}

/* Start a batch with p as the flow NAT would (here it rewrites nothing). */
static void start(struct vnet_batch *b, const uint8_t *p, size_t n)
{
	memcpy(vnet_batch_room(b), p, n);
	vnet_batch_start(b, p, n);
}

static void check_gso(const uint8_t *out, size_t n, bool v4, size_t gso_size,
		      size_t data)
{
	struct vnet_hdr h;
	const uint8_t *p = out + VNET_HDR_LEN;
	size_t l4 = v4 ? 20 : 40, len = n - VNET_HDR_LEN;
	uint8_t c[VNET_PKT_MAX];

	vnet_hdr_get(out, &h);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, gso_size ? (v4 ? VIRTIO_NET_HDR_GSO_TCPV4
						    : VIRTIO_NET_HDR_GSO_TCPV6)
					      : VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(h.gso_size, gso_size);
	assert_int_equal(h.csum_start, l4);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(h.hdr_len, l4 + 20);
	assert_int_equal(len, l4 + 20 + data);
	if (v4) {
		assert_int_equal(be16(p + 2), len);
		assert_int_equal(fold(sum(p, 20, 0)), 0xffff);
	} else {
		assert_int_equal(be16(p + 4), len - 40);
	}
	/* the partial sum is the pseudo header's: completed, it is valid */
	assert_int_equal(be16(p + l4 + 16),
			 fold(pseudo(p, v4 ? 12 : 8, v4 ? 4 : 16, len - l4)));
	memcpy(c, p, len);
	put_be16(c + l4 + 16, (uint16_t)~fold(sum(c + l4, len - l4, 0)));
	assert_true(tcp_ok(c, len));
}

static void coalesce(bool v4)
{
	struct vnet_batch b = {.buf = gso};
	uint8_t p[2000];
	size_t n, out;

	n = seg(p, v4, 1000, 1000, ACK);
	start(&b, p, n);
	n = seg(p, v4, 2000, 1000, ACK);
	assert_true(vnet_batch_append(&b, p, n));
	n = seg(p, v4, 3000, 500, ACK | PSH);
	assert_true(vnet_batch_append(&b, p, n));
	/* short: nothing may follow */
	n = seg(p, v4, 3500, 500, ACK);
	assert_false(vnet_batch_append(&b, p, n));
	out = vnet_batch_finish(&b);
	check_gso(gso, out, v4, 1000, 2500);
	/* the data in order, PSH on the packet (the kernel gives it the last)
	 */
	assert_int_equal(gso[VNET_HDR_LEN + (v4 ? 20 : 40) + 13], ACK | PSH);
	assert_int_equal(gso[VNET_HDR_LEN + (v4 ? 20 : 40) + 20], 1000 & 0xff);
	assert_int_equal(gso[VNET_HDR_LEN + (v4 ? 20 : 40) + 20 + 1000],
			 2000 & 0xff);
	assert_int_equal(gso[VNET_HDR_LEN + (v4 ? 20 : 40) + 20 + 2000],
			 3000 & 0xff);
	assert_int_equal(b.len, 0);
	assert_int_equal(vnet_batch_finish(&b), 0);
}

static void test_coalesce_v4(void **state)
{
	coalesce(true);
}

static void test_coalesce_v6(void **state)
{
	coalesce(false);
}

static void test_single(void **state)
{
	struct vnet_batch b = {.buf = gso};
	uint8_t p[200];
	size_t n = seg(p, true, 1, 0, ACK);

	start(&b, p, n); /* a pure ACK: alone */
	assert_false(vnet_batch_append(&b, p, n));
	check_gso(gso, vnet_batch_finish(&b), true, 0, 0);
}

/* What must not join: a gap, another flow, another ack, more data than the
 * first, no data, or anything after a FIN. */
static void test_refused(void **state)
{
	struct vnet_batch b = {.buf = gso};
	uint8_t p[2000], q[2000];
	size_t n = seg(p, true, 1000, 1000, ACK), m;

	start(&b, p, n);
	m = seg(q, true, 2001, 1000, ACK);
	assert_false(vnet_batch_append(&b, q, m));
	m = seg(q, true, 2000, 1000, ACK);
	put_be16(q + 22, 4001);
	assert_false(vnet_batch_append(&b, q, m));
	m = seg(q, true, 2000, 1000, ACK);
	put_be32(q + 28, 778);
	assert_false(vnet_batch_append(&b, q, m));
	m = seg(q, true, 2000, 1001, ACK);
	assert_false(vnet_batch_append(&b, q, m));
	m = seg(q, true, 2000, 0, ACK);
	assert_false(vnet_batch_append(&b, q, m));
	m = seg(q, false, 2000, 1000, ACK);
	assert_false(vnet_batch_append(&b, q, m));
	m = seg(q, true, 2000, 1000, ACK | FIN);
	assert_true(vnet_batch_append(&b, q, m));
	m = seg(q, true, 3001, 1000, ACK);
	assert_false(vnet_batch_append(&b, q, m));
	check_gso(gso, vnet_batch_finish(&b), true, 1000, 2000);
	assert_int_equal(gso[VNET_HDR_LEN + 33], ACK | FIN);
}

/* No more than an IPv4 packet holds. */
static void test_full(void **state)
{
	struct vnet_batch b = {.buf = gso};
	uint8_t p[2000];
	uint32_t seq = 0;
	size_t n = seg(p, true, seq, 1400, ACK), k = 1;

	start(&b, p, n);
	for (seq = 1400;
	     vnet_batch_append(&b, p, n = seg(p, true, seq, 1400, ACK));
	     seq += 1400)
		k++;
	assert_int_equal(k, (VNET_PKT_MAX - 40) / 1400);
	check_gso(gso, vnet_batch_finish(&b), true, 1400, k * 1400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdr_round_trip),
	    cmocka_unit_test(test_csum_complete),
	    cmocka_unit_test(test_coalesce_v4),
	    cmocka_unit_test(test_coalesce_v6),
	    cmocka_unit_test(test_single),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
