/* Unit tests for the RFC 8803 codec (lib/convert.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "convert.h"

#define SENTINEL 0xa5

/* Each test gets a fresh message and fault, filled with a pattern so that
 * a write where none is allowed shows. */
struct ctx {
	struct convert_msg msg;
	struct convert_fault fault;
	size_t consumed;
};

static struct ctx *ctx_new(void)
{
	static struct ctx c;

	memset(&c, SENTINEL, sizeof(c));
	return &c;
}

static bool msg_untouched(const struct convert_msg *m)
{
	const uint8_t *p = (const uint8_t *)m;

	for (size_t i = 0; i < sizeof(*m); i++)
		if (p[i] != SENTINEL)
			return false;
	return true;
}

static enum convert_status dec(struct ctx *c, const uint8_t *buf, size_t len)
{
	return convert_decode(buf, len, &c->msg, &c->consumed, &c->fault);
}

static struct ctx *decode_ok(const uint8_t *buf, size_t len, size_t want)
{
	struct ctx *c = ctx_new();

	assert_int_equal(dec(c, buf, len), CONVERT_OK);
	assert_int_equal(c->consumed, want);
	return c;
}

static struct ctx *decode_bad(const uint8_t *buf, size_t len, uint8_t code,
			      size_t offset)
{
	struct ctx *c = ctx_new();

	assert_int_equal(dec(c, buf, len), CONVERT_BAD);
	assert_int_equal(c->fault.code, code);
	assert_int_equal(c->fault.offset, offset);
	assert_non_null(c->fault.reason);
	assert_true(msg_untouched(&c->msg));
	return c;
}

static void assert_short(const uint8_t *buf, size_t len, size_t want)
{
	struct ctx *c = ctx_new();

	assert_int_equal(dec(c, buf, len), CONVERT_SHORT);
	assert_int_equal(c->consumed, want);
	assert_true(msg_untouched(&c->msg));
}

/* Every strict prefix of a valid message asks for more, and says how much
 * once the length byte is in. */
static void assert_prefixes_short(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		assert_short(buf, i, i >= 2 ? len : 0);
}

static struct convert_builder *builder_new(void)
{
	static struct convert_builder b;

	memset(&b, SENTINEL, sizeof(b));
	convert_begin(&b);
	return &b;
}

static struct ctx *round_trip(struct convert_builder *b)
{
	size_t n = convert_finish(b);

	assert_int_equal(n % 4, 0);
	assert_prefixes_short(b->buf, n);
	return decode_ok(b->buf, n, n);
}

static const struct in6_addr addr6 = {
	.s6_addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }
};

/* ---- builder and round trips ---- */

static void test_begin_finish_bare_header(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t want[] = { 0x01, 0x01, 0x22, 0x63 };
	struct ctx *c;

	assert_int_equal(convert_finish(b), 4);
	assert_memory_equal(b->buf, want, 4);
	c = round_trip(b);
	assert_int_equal(c->msg.present, 0);
}

static void test_info_round_trip(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t want[] = { 1, 2, 0x22, 0x63, 0x01, 1, 0, 0 };
	struct ctx *c;

	assert_int_equal(convert_put_info(b), 0);
	assert_int_equal(convert_finish(b), sizeof(want));
	assert_memory_equal(b->buf, want, sizeof(want));
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_INFO);
}

static void test_connect_v6_round_trip(void **state)
{
	struct convert_builder *b = builder_new();
	struct ctx *c;

	assert_int_equal(convert_put_connect(b, &addr6, 443, NULL, 0), 0);
	assert_int_equal(convert_finish(b), 24);
	assert_int_equal(b->buf[5], 5); /* base Connect is 5 words */
	assert_int_equal(b->buf[6], 443 >> 8);
	assert_int_equal(b->buf[7], 443 & 0xff);
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_CONNECT);
	assert_int_equal(c->msg.connect_port, 443);
	assert_memory_equal(&c->msg.connect_addr, &addr6, 16);
	assert_int_equal(c->msg.connect_opts_len, 0);
}

static void test_connect_sa_v4_mapped(void **state)
{
	struct convert_builder *b = builder_new();
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(8080) };
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff,
					    192, 0, 2, 7 };
	struct ctx *c;

	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	assert_int_equal(convert_put_connect_sa(b, (struct sockaddr *)&sin), 0);
	c = round_trip(b);
	assert_int_equal(c->msg.connect_port, 8080);
	assert_memory_equal(&c->msg.connect_addr, mapped, 16);
}

static void test_connect_sa_v6(void **state)
{
	struct convert_builder *b = builder_new();
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(22),
				     .sin6_addr = addr6 };
	struct ctx *c;

	assert_int_equal(convert_put_connect_sa(b, (struct sockaddr *)&sin6),
			 0);
	c = round_trip(b);
	assert_int_equal(c->msg.connect_port, 22);
	assert_memory_equal(&c->msg.connect_addr, &addr6, 16);
}

static void test_connect_sa_bad_family(void **state)
{
	struct convert_builder *b = builder_new();
	struct sockaddr sa = { .sa_family = AF_UNIX };

	assert_int_equal(convert_put_connect_sa(b, &sa), -EINVAL);
	assert_int_equal(convert_put_connect_sa(b, NULL), -EINVAL);
	assert_int_equal(b->len, CONVERT_HDR_LEN);
}

static void test_connect_ext_round_trip(void **state)
{
	struct convert_builder *b = builder_new();
	/* SACK permitted, window scale, MPTCP MP_CAPABLE, then padding */
	static const uint8_t opts[] = { 4, 2, 3, 3, 7, 30, 4, 0x01, 0x81, 0, 0 };
	struct ctx *c;

	assert_int_equal(convert_put_connect(b, &addr6, 80, opts, sizeof(opts)),
			 0);
	assert_int_equal(convert_finish(b), 4 + 20 + 12);
	c = round_trip(b);
	assert_int_equal(c->msg.connect_port, 80);
	assert_int_equal(c->msg.connect_opts_len, 9);
	assert_memory_equal(c->msg.connect_opts, opts, 9);
}

static void test_connect_bad_opts_rejected(void **state)
{
	static const uint8_t eol_mid[] = { 0, 4, 2 };
	static const uint8_t nop[] = { 1, 4, 2 };
	static const uint8_t short_len[] = { 4, 1 };
	static const uint8_t overrun[] = { 8, 10, 0, 0 };
	static const uint8_t lone_kind[] = { 4, 2, 3 };
	const uint8_t *bad[] = { eol_mid, nop, short_len, overrun, lone_kind };
	const size_t bad_len[] = { 3, 3, 2, 4, 3 };
	struct convert_builder *b = builder_new();

	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(convert_put_connect(b, &addr6, 1, bad[i],
						     bad_len[i]),
				 -EINVAL);
		assert_int_equal(convert_put_ext_tcp_hdr(b, bad[i], bad_len[i]),
				 -EINVAL);
	}
	assert_int_equal(convert_put_connect(b, NULL, 1, NULL, 0), -EINVAL);
	assert_int_equal(b->len, CONVERT_HDR_LEN);
}

static void test_ext_tcp_hdr_round_trip(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t opts[] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1,
					2,  3, 4, 5,    6,    7, 8 };
	struct ctx *c;

	assert_int_equal(convert_put_ext_tcp_hdr(b, opts, sizeof(opts)), 0);
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_EXT_TCP_HDR);
	assert_int_equal(c->msg.ext_opts_len, sizeof(opts));
	assert_memory_equal(c->msg.ext_opts, opts, sizeof(opts));
}

static void test_ext_tcp_hdr_empty(void **state)
{
	struct convert_builder *b = builder_new();
	struct ctx *c;

	assert_int_equal(convert_put_ext_tcp_hdr(b, NULL, 0), 0);
	assert_int_equal(convert_finish(b), 8);
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_EXT_TCP_HDR);
	assert_int_equal(c->msg.ext_opts_len, 0);
}

static void test_supported_ext_round_trip(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t kinds[] = { 30, 4, 8 };
	struct ctx *c;

	assert_int_equal(convert_put_supported_ext(b, kinds, sizeof(kinds)), 0);
	assert_int_equal(convert_finish(b), 12); /* one byte of padding */
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_SUPPORTED_EXT);
	assert_int_equal(c->msg.supported_len, sizeof(kinds));
	assert_memory_equal(c->msg.supported, kinds, sizeof(kinds));
}

static void test_supported_ext_forbidden_kinds(void **state)
{
	struct convert_builder *b = builder_new();

	for (uint8_t k = 0; k <= 2; k++) {
		const uint8_t kinds[] = { 30, k };

		assert_int_equal(convert_put_supported_ext(b, kinds, 2),
				 -EINVAL);
	}
	assert_int_equal(b->len, CONVERT_HDR_LEN);
}

static void test_cookie_round_trip(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t cookie[] = { 0xde, 0xad, 0xbe, 0xef, 0x42 };
	static const uint8_t zero[3];
	struct ctx *c;

	assert_int_equal(convert_put_cookie(b, cookie, sizeof(cookie)), 0);
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_COOKIE);
	/* padding is part of an opaque cookie */
	assert_int_equal(c->msg.cookie_len, 8);
	assert_memory_equal(c->msg.cookie, cookie, sizeof(cookie));
	assert_memory_equal(c->msg.cookie + 5, zero, 3);
}

static void test_error_round_trip(void **state)
{
	static const uint8_t codes[] = { 0, 1, 2, 3, 32, 33, 64, 65, 96, 97 };
	static const uint8_t value[] = { 7 };

	for (size_t i = 0; i < sizeof(codes); i++) {
		struct convert_builder *b = builder_new();
		struct ctx *c;

		assert_int_equal(convert_put_error(b, codes[i], value, 1), 0);
		assert_int_equal(convert_finish(b), 8);
		c = round_trip(b);
		assert_int_equal(c->msg.present, CONVERT_HAS_ERROR);
		assert_int_equal(c->msg.error_code, codes[i]);
		assert_int_equal(c->msg.error_value_len, 1);
		assert_int_equal(c->msg.error_value[0], 7);
	}
}

static void test_private_tlvs_round_trip(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t auth[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	static const uint8_t source[] = { 0xc0, 0xa8, 1, 2, 0x1f, 0x90 };
	struct ctx *c;

	assert_int_equal(convert_put_tlv(b, CONVERT_TLV_AUTH, auth, 10), 0);
	assert_int_equal(convert_put_tlv(b, CONVERT_TLV_SOURCE, source, 6), 0);
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_AUTH | CONVERT_HAS_SOURCE);
	assert_int_equal(c->msg.auth_len, 10);
	assert_memory_equal(c->msg.auth, auth, 10);
	assert_int_equal(c->msg.source_len, 6);
	assert_memory_equal(c->msg.source, source, 6);
}

static void test_put_auth(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t v[66] = { 1, 5, 'c', 'p', 'e', '-', 'a' };
	struct ctx *c;

	assert_int_equal(convert_put_connect(b, &addr6, 80, NULL, 0), 0);
	assert_int_equal(convert_put_auth(b, NULL, 1), -EINVAL);
	assert_int_equal(convert_put_auth(b, v, sizeof(v)), 0);
	assert_int_equal(b->len, 4 + 20 + 68); /* padded to a multiple of 4 */
	assert_int_equal(b->buf[24], CONVERT_TLV_AUTH);
	assert_int_equal(b->buf[25], 17);
	assert_memory_equal(b->buf + 26, v, sizeof(v));
	assert_int_equal(convert_put_auth(b, v, sizeof(v)), -EINVAL);
	assert_int_equal(b->len, 4 + 20 + 68);
	c = round_trip(b);
	assert_int_equal(c->msg.present, CONVERT_HAS_CONNECT | CONVERT_HAS_AUTH);
	assert_int_equal(c->msg.auth_len, 66);
	assert_memory_equal(c->msg.auth, v, 66);
}

/* The walker sees each TLV whole, as on the wire, and stops at the end or
 * at framing it cannot follow. */
static void test_tlv_next(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t cookie[] = { 7, 7, 7 };
	const uint8_t *tlv;
	size_t off = CONVERT_HDR_LEN, len, n;

	assert_int_equal(convert_put_connect(b, &addr6, 80, NULL, 0), 0);
	assert_int_equal(convert_put_cookie(b, cookie, 3), 0);
	assert_int_equal(convert_put_info(b), 0);
	n = convert_finish(b);
	assert_true(convert_tlv_next(b->buf, n, &off, &tlv, &len));
	assert_ptr_equal(tlv, b->buf + 4);
	assert_int_equal(len, 20);
	assert_true(convert_tlv_next(b->buf, n, &off, &tlv, &len));
	assert_int_equal(tlv[0], CONVERT_TLV_COOKIE);
	assert_int_equal(len, 8); /* 2 + 2 zero + 3, padded */
	assert_true(convert_tlv_next(b->buf, n, &off, &tlv, &len));
	assert_int_equal(tlv[0], CONVERT_TLV_INFO);
	assert_int_equal(off, n);
	assert_false(convert_tlv_next(b->buf, n, &off, &tlv, &len));
	/* a TLV running past len, a length of 0, a lone type byte */
	off = CONVERT_HDR_LEN;
	assert_false(convert_tlv_next(b->buf, 23, &off, &tlv, &len));
	assert_int_equal(off, CONVERT_HDR_LEN);
	b->buf[5] = 0;
	assert_false(convert_tlv_next(b->buf, n, &off, &tlv, &len));
	assert_false(convert_tlv_next(b->buf, 5, &off, &tlv, &len));
	off = n;
	assert_false(convert_tlv_next(b->buf, n, &off, &tlv, &len));
}

static void test_all_tlvs_with_user_data(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t kinds[] = { 30 }, cookie[] = { 9, 9, 9, 9 };
	static const uint8_t data[] = "GET / HTTP/1.1\r\n";
	uint8_t wire[CONVERT_MAX_LEN + sizeof(data)];
	struct ctx *c;
	size_t n;

	assert_int_equal(convert_put_connect(b, &addr6, 80, NULL, 0), 0);
	assert_int_equal(convert_put_info(b), 0);
	assert_int_equal(convert_put_ext_tcp_hdr(b, NULL, 0), 0);
	assert_int_equal(convert_put_supported_ext(b, kinds, 1), 0);
	assert_int_equal(convert_put_cookie(b, cookie, 4), 0);
	assert_int_equal(convert_put_error(b, 96, NULL, 0), 0);
	assert_int_equal(convert_put_tlv(b, CONVERT_TLV_AUTH, cookie, 4), 0);
	assert_int_equal(convert_put_tlv(b, CONVERT_TLV_SOURCE, NULL, 0), 0);
	n = convert_finish(b);
	memcpy(wire, b->buf, n);
	memcpy(wire + n, data, sizeof(data));
	c = decode_ok(wire, n + sizeof(data), n);
	assert_int_equal(c->msg.present, 0xff);
	assert_int_equal(c->msg.error_code, 96);
	assert_int_equal(c->msg.source_len, 2);
}

static void test_builder_overflow(void **state)
{
	struct convert_builder *b = builder_new();
	static uint8_t big[CONVERT_MAX_LEN];
	uint8_t before[CONVERT_MAX_LEN];

	/* 4 header + 4 (type, length, zero) + 1013 = 1021 */
	assert_int_equal(convert_put_cookie(b, big, 1013), -ENOSPC);
	assert_int_equal(b->len, CONVERT_HDR_LEN);
	assert_int_equal(convert_put_cookie(b, big, 1012), 0);
	memcpy(before, b->buf, sizeof(before));
	assert_int_equal(convert_put_info(b), -ENOSPC);
	assert_int_equal(convert_put_tlv(b, 0xc0, NULL, 0), -ENOSPC);
	assert_int_equal(b->len, CONVERT_MAX_LEN);
	assert_memory_equal(before, b->buf, sizeof(before));
	assert_int_equal(convert_finish(b), CONVERT_MAX_LEN);
	assert_int_equal(b->buf[1], 255);
	assert_int_equal(round_trip(b)->msg.cookie_len, 1012);
}

static void test_builder_huge_length(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t v[4];

	assert_int_equal(convert_put_tlv(b, 0xc0, v, SIZE_MAX), -ENOSPC);
	assert_int_equal(convert_put_tlv(b, 0xc0, v, SIZE_MAX - 1), -ENOSPC);
	assert_int_equal(convert_put_cookie(b, v, SIZE_MAX - 2), -ENOSPC);
	assert_int_equal(convert_put_ext_tcp_hdr(b, v, SIZE_MAX), -EINVAL);
	assert_int_equal(b->len, CONVERT_HDR_LEN);
}

static void test_builder_duplicate(void **state)
{
	struct convert_builder *b = builder_new();

	assert_int_equal(convert_put_info(b), 0);
	assert_int_equal(convert_put_cookie(b, NULL, 0), 0);
	assert_int_equal(convert_put_info(b), -EINVAL);
	assert_int_equal(convert_put_cookie(b, NULL, 0), -EINVAL);
	assert_int_equal(b->len, 12);
}

static void test_builder_null_with_length(void **state)
{
	struct convert_builder *b = builder_new();

	assert_int_equal(convert_put_connect(b, &addr6, 1, NULL, 4), -EINVAL);
	assert_int_equal(convert_put_ext_tcp_hdr(b, NULL, 4), -EINVAL);
	assert_int_equal(convert_put_supported_ext(b, NULL, 1), -EINVAL);
	assert_int_equal(convert_put_cookie(b, NULL, 1), -EINVAL);
	assert_int_equal(convert_put_error(b, 1, NULL, 1), -EINVAL);
	assert_int_equal(convert_put_tlv(b, 0xc0, NULL, 1), -EINVAL);
	assert_int_equal(b->len, CONVERT_HDR_LEN);
}

/* ---- convert_tcpopts_check ---- */

static void test_tcpopts_check(void **state)
{
	static const uint8_t ok[] = { 2, 4, 5, 0xb4, 4, 2 };
	static const uint8_t padded[] = { 4, 2, 0, 0 };
	static const uint8_t eol_then_data[] = { 4, 2, 0, 3 };
	static const uint8_t nop[] = { 4, 2, 1, 0 };
	static const uint8_t zero_len[] = { 5, 0, 0, 0 };
	static const uint8_t one_len[] = { 5, 1, 0, 0 };
	static const uint8_t overrun[] = { 4, 2, 3, 3 };

	assert_int_equal(convert_tcpopts_check(NULL, 0), 0);
	assert_int_equal(convert_tcpopts_check(ok, sizeof(ok)), 6);
	assert_int_equal(convert_tcpopts_check(padded, 4), 2);
	assert_int_equal(convert_tcpopts_check(padded + 2, 2), 0);
	assert_int_equal(convert_tcpopts_check(eol_then_data, 4), -1);
	assert_int_equal(convert_tcpopts_check(nop, 4), -1);
	assert_int_equal(convert_tcpopts_check(zero_len, 4), -1);
	assert_int_equal(convert_tcpopts_check(one_len, 4), -1);
	assert_int_equal(convert_tcpopts_check(overrun, 4), -1);
	assert_int_equal(convert_tcpopts_check(ok, 1), -1);
	assert_int_equal(convert_tcpopts_check(ok, CONVERT_OPT_MAX + 1), -1);
}

static void test_error_names(void **state)
{
	assert_string_equal(convert_error_name(0), "Unsupported Version");
	assert_string_equal(convert_error_name(1), "Malformed Message");
	assert_string_equal(convert_error_name(2), "Unsupported Message");
	assert_string_equal(convert_error_name(3), "Missing Cookie");
	assert_string_equal(convert_error_name(32), "Not Authorized");
	assert_string_equal(convert_error_name(33), "Unsupported TCP Option");
	assert_string_equal(convert_error_name(64), "Resource Exceeded");
	assert_string_equal(convert_error_name(65), "Network Failure");
	assert_string_equal(convert_error_name(96), "Connection Reset");
	assert_string_equal(convert_error_name(97), "Destination Unreachable");
	assert_string_equal(convert_error_name(4), "unknown");
	assert_string_equal(convert_error_name(255), "unknown");
}

/* ---- decoder: short input ---- */

static void test_short_empty_and_one_byte(void **state)
{
	static const uint8_t one[] = { 1 };

	assert_short(one, 0, 0);
	assert_short(one, 1, 0);
}

static void test_short_reports_needed(void **state)
{
	/* header says 3 words: needs 12 bytes whatever is there */
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 0x01, 1, 0, 0 };

	assert_short(m, 2, 12);
	assert_short(m, 4, 12);
	assert_short(m, 8, 12);
}

static void test_short_every_prefix_of_max_message(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t opts[] = { 30, 4, 0x01, 0x81 };
	static uint8_t auth[900];

	memset(auth, 0x5a, sizeof(auth));
	assert_int_equal(convert_put_connect(b, &addr6, 80, opts, 4), 0);
	assert_int_equal(convert_put_tlv(b, CONVERT_TLV_AUTH, auth, 900), 0);
	assert_int_equal(convert_put_tlv(b, 0xc1, auth, 1020 - b->len - 2), 0);
	assert_int_equal(convert_finish(b), CONVERT_MAX_LEN);
	round_trip(b); /* walks every prefix */
}

/* ---- decoder: header errors ---- */

static void test_bad_version(void **state)
{
	static const uint8_t m[] = { 2, 1, 0x22, 0x63 };
	struct ctx *c = decode_bad(m, sizeof(m), 0, 0);

	assert_int_equal(c->fault.value_len, 1);
	assert_int_equal(c->fault.value[0], CONVERT_VERSION);
}

static void test_bad_version_first_byte_only(void **state)
{
	static const uint8_t zero[] = { 0 }, socks5[] = { 5 };

	decode_bad(zero, 1, CONVERT_E_UNSUPPORTED_VERSION, 0);
	decode_bad(socks5, 1, CONVERT_E_UNSUPPORTED_VERSION, 0);
}

static void test_total_length_zero(void **state)
{
	static const uint8_t m[] = { 1, 0, 0x22, 0x63 };

	decode_bad(m, 2, CONVERT_E_MALFORMED, 0);
	decode_bad(m, 4, CONVERT_E_MALFORMED, 0);
}

static void test_bad_magic_high_byte(void **state)
{
	static const uint8_t m[] = { 1, 1, 0x63, 0x22 };
	struct ctx *c = decode_bad(m, 3, CONVERT_E_MALFORMED, 0);

	assert_int_equal(c->fault.value_len, 3);
}

static void test_bad_magic_low_byte(void **state)
{
	static const uint8_t m[] = { 1, 1, 0x22, 0x64 };
	struct ctx *c;

	assert_short(m, 3, 4);
	c = decode_bad(m, 4, CONVERT_E_MALFORMED, 0);
	assert_int_equal(c->fault.value_len, 4);
	assert_memory_equal(c->fault.value, m, 4);
}

/* ---- decoder: TLV framing errors ---- */

static void test_tlv_length_zero(void **state)
{
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 0x16, 0, 0, 0, 0, 0, 0, 0 };
	struct ctx *c = decode_bad(m, sizeof(m), CONVERT_E_MALFORMED, 4);

	assert_int_equal(c->fault.value_len, 2);
	decode_bad(m, 6, CONVERT_E_MALFORMED, 4); /* known from 6 bytes */
}

static void test_total_smaller_than_tlvs(void **state)
{
	/* Connect says 5 words, header says the message is 3 */
	static const uint8_t m[24] = { 1, 3, 0x22, 0x63, 0x0a, 5 };
	struct ctx *c = decode_bad(m, sizeof(m), CONVERT_E_MALFORMED, 4);

	assert_int_equal(c->fault.value_len, 8); /* up to total length */
}

static void test_total_bigger_than_tlvs(void **state)
{
	/* Info TLV then "GET " taken as a TLV of type 'G' */
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 1, 1, 0, 0,
				     'G', 'E', 'T', ' ', '/' };
	struct ctx *c;

	assert_short(m, 8, 12);
	c = decode_bad(m, sizeof(m), CONVERT_E_UNSUPPORTED_MESSAGE, 8);
	assert_int_equal(c->fault.value_len, 4);
}

static void test_total_bigger_than_tlvs_zero_data(void **state)
{
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 1, 1, 0, 0, 0, 0, 0, 0 };

	decode_bad(m, sizeof(m), CONVERT_E_UNSUPPORTED_MESSAGE, 8);
}

static void test_unknown_type(void **state)
{
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 0x42, 2, 1, 2, 3, 4, 5, 6 };
	struct ctx *c = decode_bad(m, sizeof(m), CONVERT_E_UNSUPPORTED_MESSAGE,
				   4);

	assert_int_equal(c->fault.value_len, 8);
	assert_memory_equal(c->fault.value, m + 4, 8);
	decode_bad(m, 5, CONVERT_E_UNSUPPORTED_MESSAGE, 4); /* type byte only */
}

static void test_type_zero(void **state)
{
	static const uint8_t m[] = { 1, 2, 0x22, 0x63, 0, 1, 0, 0 };

	decode_bad(m, sizeof(m), CONVERT_E_UNSUPPORTED_MESSAGE, 4);
}

static void test_private_type_unknown(void **state)
{
	static const uint8_t m[] = { 1, 2, 0x22, 0x63, 0xc2, 1, 0, 0 };

	decode_bad(m, sizeof(m), CONVERT_E_UNSUPPORTED_MESSAGE, 4);
}

static void test_duplicate_tlv(void **state)
{
	static const uint8_t m[] = { 1, 4, 0x22, 0x63, 0x16, 1, 0, 0,
				     0x01, 1, 0, 0, 0x16, 1, 0, 0 };
	struct ctx *c = decode_bad(m, sizeof(m), CONVERT_E_MALFORMED, 12);

	assert_memory_equal(c->fault.value, m + 12, 4);
	decode_bad(m, 13, CONVERT_E_MALFORMED, 12);
}

static void test_fault_value_truncated(void **state)
{
	/* a 254-word TLV of unknown type: 1016 bytes, echoed as 1013 */
	static const uint8_t head[] = { 1, 255, 0x22, 0x63, 0x99, 254 };
	static uint8_t m[CONVERT_MAX_LEN];
	struct convert_builder *b = builder_new();
	struct ctx *c;

	memcpy(m, head, sizeof(head));
	c = decode_bad(m, sizeof(m), CONVERT_E_UNSUPPORTED_MESSAGE, 4);
	assert_int_equal(c->fault.value_len, 1013);
	assert_memory_equal(c->fault.value, m + 4, 1013);
	/* ... so that it fits an Error TLV */
	assert_int_equal(convert_put_error(b, c->fault.code, c->fault.value,
					   c->fault.value_len),
			 0);
	assert_int_equal(convert_finish(b), CONVERT_MAX_LEN);
}

/* ---- decoder: TLV value errors ---- */

static void test_info_bad_length(void **state)
{
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 1, 2, 0, 0, 0, 0, 0, 0 };
	struct ctx *c = decode_bad(m, sizeof(m), CONVERT_E_MALFORMED, 4);

	assert_int_equal(c->fault.value_len, 8);
	assert_short(m, 5, 12);
	decode_bad(m, 6, CONVERT_E_MALFORMED, 4); /* known from the length */
}

static void test_connect_too_short(void **state)
{
	static const uint8_t m[20] = { 1, 5, 0x22, 0x63, 0x0a, 4, 0, 80 };

	decode_bad(m, sizeof(m), CONVERT_E_MALFORMED, 4);
	decode_bad(m, 6, CONVERT_E_MALFORMED, 4);
}

static void test_connect_bad_option(void **state)
{
	struct convert_builder *b = builder_new();
	/* zero port and address, then NOPs where options go */
	static const uint8_t v[22] = { [18] = 1, 1, 1, 1 };
	struct ctx *c;
	size_t n;

	assert_int_equal(convert_put_tlv(b, CONVERT_TLV_CONNECT, v, 22), 0);
	n = convert_finish(b);
	c = decode_bad(b->buf, n, CONVERT_E_MALFORMED, 4);
	assert_int_equal(c->fault.value_len, 24);
	assert_short(b->buf, n - 1, n);
}

static void test_connect_option_overrun(void **state)
{
	struct convert_builder *b = builder_new();
	static const uint8_t v[22] = { [18] = 8, [19] = 10 };

	assert_int_equal(convert_put_tlv(b, CONVERT_TLV_CONNECT, v, 22), 0);
	decode_bad(b->buf, convert_finish(b), CONVERT_E_MALFORMED, 4);
}

static void test_ext_tcp_hdr_bad_option(void **state)
{
	/* EOL followed by something that is not padding */
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 0x14, 2, 0, 0,
				     4, 2, 0, 4 };

	decode_bad(m, sizeof(m), CONVERT_E_MALFORMED, 4);
}

static void test_supported_ext_bad_kind(void **state)
{
	static const uint8_t forbidden[][12] = {
		{ 1, 3, 0x22, 0x63, 0x15, 2, 0, 0, 30, 2, 0, 0 },
		{ 1, 3, 0x22, 0x63, 0x15, 2, 0, 0, 1, 30, 0, 0 },
		{ 1, 3, 0x22, 0x63, 0x15, 2, 0, 0, 30, 0, 8, 0 },
	};

	for (size_t i = 0; i < 3; i++)
		decode_bad(forbidden[i], 12, CONVERT_E_MALFORMED, 4);
}

static void test_supported_ext_padding_ok(void **state)
{
	static const uint8_t m[] = { 1, 3, 0x22, 0x63, 0x15, 2, 0, 0,
				     30, 0, 0, 0 };
	struct ctx *c = decode_ok(m, sizeof(m), 12);

	assert_int_equal(c->msg.supported_len, 1);
	assert_int_equal(c->msg.supported[0], 30);
}

static void test_bad_after_good_leaves_msg(void **state)
{
	/* a valid Connect, then an unknown TLV: nothing of Connect leaks */
	struct convert_builder *b = builder_new();

	convert_put_connect(b, &addr6, 80, NULL, 0);
	convert_put_tlv(b, 0x7f, NULL, 0);
	decode_bad(b->buf, convert_finish(b), CONVERT_E_UNSUPPORTED_MESSAGE,
		   24);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_begin_finish_bare_header),
		cmocka_unit_test(test_info_round_trip),
		cmocka_unit_test(test_connect_v6_round_trip),
		cmocka_unit_test(test_connect_sa_v4_mapped),
		cmocka_unit_test(test_connect_sa_v6),
		cmocka_unit_test(test_connect_sa_bad_family),
		cmocka_unit_test(test_connect_ext_round_trip),
		cmocka_unit_test(test_connect_bad_opts_rejected),
		cmocka_unit_test(test_ext_tcp_hdr_round_trip),
		cmocka_unit_test(test_ext_tcp_hdr_empty),
		cmocka_unit_test(test_supported_ext_round_trip),
		cmocka_unit_test(test_supported_ext_forbidden_kinds),
		cmocka_unit_test(test_cookie_round_trip),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_private_tlvs_round_trip),
		cmocka_unit_test(test_put_auth),
		cmocka_unit_test(test_tlv_next),
		cmocka_unit_test(test_all_tlvs_with_user_data),
		cmocka_unit_test(test_builder_overflow),
		cmocka_unit_test(test_builder_huge_length),
		cmocka_unit_test(test_builder_duplicate),
		cmocka_unit_test(test_builder_null_with_length),
		cmocka_unit_test(test_tcpopts_check),
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_short_empty_and_one_byte),
		cmocka_unit_test(test_short_reports_needed),
		cmocka_unit_test(test_short_every_prefix_of_max_message),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_version_first_byte_only),
		cmocka_unit_test(test_total_length_zero),
		cmocka_unit_test(test_bad_magic_high_byte),
		cmocka_unit_test(test_bad_magic_low_byte),
		cmocka_unit_test(test_tlv_length_zero),
		cmocka_unit_test(test_total_smaller_than_tlvs),
		cmocka_unit_test(test_total_bigger_than_tlvs),
		cmocka_unit_test(test_total_bigger_than_tlvs_zero_data),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_type_zero),
		cmocka_unit_test(test_private_type_unknown),
		cmocka_unit_test(test_duplicate_tlv),
		cmocka_unit_test(test_fault_value_truncated),
		cmocka_unit_test(test_info_bad_length),
		cmocka_unit_test(test_connect_too_short),
		cmocka_unit_test(test_connect_bad_option),
		cmocka_unit_test(test_connect_option_overrun),
		cmocka_unit_test(test_ext_tcp_hdr_bad_option),
		cmocka_unit_test(test_supported_ext_bad_kind),
		cmocka_unit_test(test_supported_ext_padding_ok),
		cmocka_unit_test(test_bad_after_good_leaves_msg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
