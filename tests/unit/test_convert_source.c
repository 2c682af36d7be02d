/* lib/convert.c's Source TLV (mptun private use 0xC1): the encoder, and
 * the decoder the concentrator uses, with one test per refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "addr.h"
#include "convert.h"

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_true(addr_parse(s, -1, &ss, &len));
	return ss;
}

/* A message holding one Source TLV with this value, decoded. */
static void decode_value(const uint8_t *v, size_t len, struct convert_msg *m)
{
	struct convert_builder b;
	struct convert_fault f;
	size_t used;

	convert_begin(&b);
	assert_int_equal(convert_put_tlv(&b, CONVERT_TLV_SOURCE, v, len), 0);
	assert_int_equal(convert_decode(b.buf, convert_finish(&b), m, &used, &f),
			 CONVERT_OK);
}

/* Port and a 16-byte address, as on the wire. */
static void value(uint8_t v[18], uint16_t port, const char *addr6)
{
	v[0] = port >> 8;
	v[1] = port & 0xff;
	assert_int_equal(inet_pton(AF_INET6, addr6, v + 2), 1);
}

static void round_trip(void **state)
{
	static const char *const cases[] = { "192.168.1.10:40000",
					     "[2001:db8:1::10]:51000",
					     "[fe80::1]:1", "10.0.0.1:65535" };
	static struct convert_msg m;
	struct convert_builder b;
	struct convert_fault f;
	struct sockaddr_storage in, out;
	const char *why;
	socklen_t len;
	size_t used, n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in = sa(cases[i]);
		convert_begin(&b);
		assert_int_equal(convert_put_source_sa(&b, (struct sockaddr *)&in), 0);
		n = convert_finish(&b);
		assert_int_equal(n, 4 + CONVERT_SOURCE_TLV_LEN);
		assert_int_equal(b.buf[4], 0xc1);
		assert_int_equal(b.buf[5], 5);
		assert_int_equal(convert_decode(b.buf, n, &m, &used, &f), CONVERT_OK);
		assert_int_equal(m.present, CONVERT_HAS_SOURCE);
		assert_true(convert_source_parse(&m, &out, &len, &why));
		assert_int_equal(out.ss_family, in.ss_family);
		assert_int_equal(len, in.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6));
		assert_true(addr_equal_host((struct sockaddr *)&in, (struct sockaddr *)&out));
		assert_int_equal(addr_port((struct sockaddr *)&in),
				 addr_port((struct sockaddr *)&out));
	}
}

static void put_refusals(void **state)
{
	struct sockaddr_storage in = sa("192.0.2.1:80");
	struct sockaddr un = { .sa_family = AF_UNIX };
	struct convert_builder b;

	convert_begin(&b);
	assert_int_equal(convert_put_source_sa(&b, NULL), -EINVAL);
	assert_int_equal(convert_put_source_sa(&b, &un), -EINVAL);
	assert_int_equal(convert_put_source_sa(&b, (struct sockaddr *)&in), 0);
	assert_int_equal(convert_put_source_sa(&b, (struct sockaddr *)&in), -EINVAL);
	assert_int_equal(b.len, 4 + CONVERT_SOURCE_TLV_LEN);
}

/* Each refusal leaves *out as it was. */
static void expect_refused(const struct convert_msg *m, const char *want)
{
	struct sockaddr_storage out;
	socklen_t len = 7;
	const char *why = NULL;

	memset(&out, 0xa5, sizeof(out));
	assert_false(convert_source_parse(m, &out, &len, &why));
	assert_non_null(why);
	assert_non_null(strstr(why, want));
	assert_int_equal(len, 7);
	assert_int_equal(((uint8_t *)&out)[0], 0xa5);
}

static void parse_refusals(void **state)
{
	static struct convert_msg m;
	uint8_t v[24] = { 0 };
	static const char *const bad_addrs[] = {
		"::", "::1", "ff02::1", "::ffff:0.0.0.0", "::ffff:0.1.2.3",
		"::ffff:127.0.0.1", "::ffff:224.0.0.1", "::ffff:239.1.2.3",
		"::ffff:255.255.255.255",
	};

	memset(&m, 0, sizeof(m));
	expect_refused(&m, "no Source TLV");
	/* 6 words (a padded value) and 4 words (too short) */
	value(v, 80, "2001:db8::1");
	decode_value(v, 22, &m);
	expect_refused(&m, "length");
	decode_value(v, 14, &m);
	expect_refused(&m, "length");
	value(v, 0, "2001:db8::1");
	decode_value(v, 18, &m);
	expect_refused(&m, "port 0");
	for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		value(v, 80, bad_addrs[i]);
		decode_value(v, 18, &m);
		expect_refused(&m, "address");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(put_refusals),
		cmocka_unit_test(parse_refusals),
	};
	return cmocka_run_group_tests_name("convert_source", tests, NULL, NULL);
}
