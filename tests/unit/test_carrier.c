/* lib/carrier: the CPE's openings (Convert, pipelined SOCKS5) and the
 * decoding of every kind of answer, against the codecs of the other side. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "carrier.h"
#include "convert.h"
#include "socks.h"

static struct sockaddr_storage dst(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_true(addr_parse(s, -1, &ss, &len));
	return ss;
}

static void convert_opening_is_header_and_connect(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_CONVERT };
	struct sockaddr_storage d = dst("203.0.113.10:8080");
	uint8_t out[CARRIER_OPENING_MAX];
	struct convert_msg m;
	struct convert_fault f;
	size_t used;
	int n = carrier_opening(&c, (struct sockaddr *)&d, out, sizeof(out));

	assert_int_equal(n, 24);
	assert_int_equal(convert_decode(out, (size_t)n, &m, &used, &f), CONVERT_OK);
	assert_int_equal(used, 24);
	assert_int_equal(m.present, CONVERT_HAS_CONNECT);
	assert_int_equal(m.connect_port, 8080);
	assert_true(IN6_IS_ADDR_V4MAPPED(&m.connect_addr));
	assert_memory_equal(&m.connect_addr.s6_addr[12], "\xcb\x00\x71\x0a", 4);
}

/* With auth: header, Connect, then an Auth TLV that the concentrator's
 * verifier accepts, with a fresh nonce per opening. */
static void convert_opening_with_auth(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_CONVERT,
				.auth = { .id = "cpe-0001" } };
	struct auth_key k = { .id = "cpe-0001" };
	struct auth_policy p = { .required = true, .window_ms = 30000,
				 .keys = &k, .n_keys = 1 };
	struct auth_replay *r = auth_replay_new(16);
	struct sockaddr_storage d = dst("[2001:db8::7]:443");
	uint8_t out[CARRIER_OPENING_MAX], out2[CARRIER_OPENING_MAX];
	static struct convert_msg m;
	struct convert_fault f;
	char who[AUTH_ID_STRLEN];
	size_t used;
	int n, n2;

	for (int i = 0; i < AUTH_KEY_LEN; i++)
		c.auth.key.bytes[i] = k.key.bytes[i] = (uint8_t)(7 * i + 1);
	n = carrier_opening(&c, (struct sockaddr *)&d, out, sizeof(out));
	assert_int_equal(n, 24 + 68);
	assert_int_equal(convert_decode(out, (size_t)n, &m, &used, &f), CONVERT_OK);
	assert_int_equal(used, (size_t)n);
	assert_int_equal(m.present, CONVERT_HAS_CONNECT | CONVERT_HAS_AUTH);
	assert_int_equal(m.connect_port, 443);
	assert_int_equal(out[24], CONVERT_TLV_AUTH);
	assert_int_equal(auth_verify(&p, r, out, used, (int64_t)time(NULL), who,
				     sizeof(who)), AUTH_OK);
	assert_string_equal(who, "cpe-0001");
	assert_int_equal(auth_verify(&p, r, out, used, (int64_t)time(NULL), who,
				     sizeof(who)), AUTH_REPLAY);
	n2 = carrier_opening(&c, (struct sockaddr *)&d, out2, sizeof(out2));
	assert_int_equal(n2, n);
	assert_memory_not_equal(out + 24 + 17, out2 + 24 + 17, AUTH_NONCE_LEN);
	assert_int_equal(auth_verify(&p, r, out2, (size_t)n2, (int64_t)time(NULL),
				     who, sizeof(who)), AUTH_OK);
	/* another CPE's key does not make it */
	k.key.bytes[0] ^= 1;
	n = carrier_opening(&c, (struct sockaddr *)&d, out, sizeof(out));
	assert_int_equal(auth_verify(&p, r, out, (size_t)n, (int64_t)time(NULL),
				     who, sizeof(who)), AUTH_BAD_MAC);
	/* too small a buffer */
	assert_int_equal(carrier_opening(&c, (struct sockaddr *)&d, out, 91),
			 -ENOSPC);
	auth_replay_free(r);
}

static void socks5_opening_parses_as_three_messages(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_SOCKS5, .socks_user = "alice",
				.socks_password = "secret" };
	struct sockaddr_storage d = dst("[2001:db8::7]:443");
	uint8_t out[CARRIER_OPENING_MAX];
	struct socks5_greeting g;
	struct socks5_userpass up;
	struct socks_request rq;
	const char *why;
	size_t used, off = 0;
	uint8_t code;
	int n = carrier_opening(&c, (struct sockaddr *)&d, out, sizeof(out));

	assert_true(n > 0);
	assert_int_equal(socks5_parse_greeting(out, (size_t)n, &g, &used, &why), SOCKS_OK);
	assert_true(socks5_greeting_offers(&g, SOCKS5_METHOD_USERPASS));
	off += used;
	assert_int_equal(socks5_parse_userpass(out + off, (size_t)n - off, &up, &used, &why), SOCKS_OK);
	assert_string_equal(up.user, "alice");
	assert_string_equal(up.pass, "secret");
	off += used;
	assert_int_equal(socks5_parse_request(out + off, (size_t)n - off, &rq, &used, &why, &code), SOCKS_OK);
	assert_int_equal(rq.port, 443);
	assert_int_equal(rq.cmd, SOCKS_CMD_CONNECT);
	assert_int_equal(off + used, (size_t)n);
}

static size_t convert_error(uint8_t *buf, uint8_t code, uint8_t value)
{
	struct convert_builder b;

	convert_begin(&b);
	assert_int_equal(convert_put_error(&b, code, &value, 1), 0);
	size_t n = convert_finish(&b);
	memcpy(buf, b.buf, n);
	return n;
}

static void convert_answers(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_CONVERT };
	struct carrier_answer a;
	struct convert_builder b;
	uint8_t buf[64];
	static const uint8_t mss[] = { 2, 4, 5, 0xb4 };
	size_t n;

	convert_begin(&b);
	assert_int_equal(convert_put_ext_tcp_hdr(&b, mss, sizeof(mss)), 0);
	n = convert_finish(&b);
	memcpy(buf, b.buf, n);
	memcpy(buf + n, "HELLO", 5);
	for (size_t i = 0; i < n; i++) {
		carrier_answer(&c, buf, i, &a);
		assert_int_equal(a.result, CARRIER_MORE);
	}
	carrier_answer(&c, buf, n + 5, &a);
	assert_int_equal(a.result, CARRIER_OK);
	assert_int_equal(a.consumed, n); /* server bytes that followed are not eaten */
	assert_int_equal(a.convert_error, -1);

	carrier_answer(&c, buf, convert_error(buf, CONVERT_E_CONNECTION_RESET, 0), &a);
	assert_int_equal(a.result, CARRIER_REFUSED);
	assert_int_equal(a.convert_error, CONVERT_E_CONNECTION_RESET);
	carrier_answer(&c, buf, convert_error(buf, CONVERT_E_DEST_UNREACHABLE, 3), &a);
	assert_int_equal(a.result, CARRIER_UNREACHABLE);
	assert_int_equal(a.icmp_code, 3);
	assert_int_equal(a.convert_error, CONVERT_E_DEST_UNREACHABLE);
	carrier_answer(&c, buf, convert_error(buf, CONVERT_E_NOT_AUTHORIZED, 0), &a);
	assert_int_equal(a.result, CARRIER_FAILED);
	assert_int_equal(a.convert_error, CONVERT_E_NOT_AUTHORIZED);
	carrier_answer(&c, buf, convert_error(buf, CONVERT_E_UNSUPPORTED_VERSION, 0), &a);
	assert_int_equal(a.convert_error, 0); /* code 0 is an error too */
	carrier_answer(&c, (const uint8_t *)"HTTP/1.1", 8, &a);
	assert_int_equal(a.result, CARRIER_FAILED);
	assert_int_equal(a.convert_error, -1); /* not an Error TLV */
}

static void socks5_answers(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_SOCKS5 };
	struct cpe_config cu = { .protocol = CPE_PROTO_SOCKS5, .socks_user = "u",
				 .socks_password = "p" };
	struct carrier_answer a;
	static const uint8_t ok[] = { 5, 0, 5, 0, 0, 1, 10, 0, 0, 1, 0x13, 0x88, 'X' };
	static const uint8_t ok6[] = { 5, 2, 1, 0, 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 0, 0, 0, 0, 1, 0, 80 };
	static const uint8_t refused[] = { 5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t net[] = { 5, 0, 5, 3, 0, 1 };
	static const uint8_t host[] = { 5, 0, 5, 4, 0 };
	static const uint8_t nomethod[] = { 5, 0xff };
	static const uint8_t badauth[] = { 5, 2, 1, 1 };

	for (size_t i = 0; i < sizeof(ok) - 1; i++) {
		carrier_answer(&c, ok, i, &a);
		assert_int_equal(a.result, CARRIER_MORE);
	}
	carrier_answer(&c, ok, sizeof(ok), &a);
	assert_int_equal(a.result, CARRIER_OK);
	assert_int_equal(a.consumed, sizeof(ok) - 1);
	carrier_answer(&cu, ok6, sizeof(ok6), &a);
	assert_int_equal(a.result, CARRIER_OK);
	assert_int_equal(a.consumed, sizeof(ok6));
	carrier_answer(&c, refused, sizeof(refused), &a);
	assert_int_equal(a.result, CARRIER_REFUSED);
	carrier_answer(&c, net, sizeof(net), &a);
	assert_int_equal(a.result, CARRIER_UNREACHABLE);
	assert_int_equal(a.icmp_code, 0);
	carrier_answer(&c, host, sizeof(host), &a);
	assert_int_equal(a.result, CARRIER_UNREACHABLE);
	assert_int_equal(a.icmp_code, 1);
	carrier_answer(&c, nomethod, sizeof(nomethod), &a);
	assert_int_equal(a.result, CARRIER_FAILED);
	carrier_answer(&cu, badauth, sizeof(badauth), &a);
	assert_int_equal(a.result, CARRIER_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(convert_opening_is_header_and_connect),
		cmocka_unit_test(convert_opening_with_auth),
		cmocka_unit_test(socks5_opening_parses_as_three_messages),
		cmocka_unit_test(convert_answers),
		cmocka_unit_test(socks5_answers),
	};
	if (auth_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("carrier", tests, NULL, NULL);
}
