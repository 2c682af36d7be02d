/* lib/carrier: the CPE's openings (Convert with Source and Auth, SOCKS4/4a,
 * pipelined SOCKS5) and the
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

#include "addr.h"
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
	int n = carrier_opening(&c, (struct sockaddr *)&d, NULL, out, sizeof(out));

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
	n = carrier_opening(&c, (struct sockaddr *)&d, NULL, out, sizeof(out));
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
	n2 = carrier_opening(&c, (struct sockaddr *)&d, NULL, out2, sizeof(out2));
	assert_int_equal(n2, n);
	assert_memory_not_equal(out + 24 + 17, out2 + 24 + 17, AUTH_NONCE_LEN);
	assert_int_equal(auth_verify(&p, r, out2, (size_t)n2, (int64_t)time(NULL),
				     who, sizeof(who)), AUTH_OK);
	/* another CPE's key does not make it */
	k.key.bytes[0] ^= 1;
	n = carrier_opening(&c, (struct sockaddr *)&d, NULL, out, sizeof(out));
	assert_int_equal(auth_verify(&p, r, out, (size_t)n, (int64_t)time(NULL),
				     who, sizeof(who)), AUTH_BAD_MAC);
	/* too small a buffer */
	assert_int_equal(carrier_opening(&c, (struct sockaddr *)&d, NULL, out, 91),
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
	int n = carrier_opening(&c, (struct sockaddr *)&d, NULL, out, sizeof(out));

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

/* carrier.source: Source after Connect, before Auth, whose MAC covers it;
 * the decoder gives back the client's address and port. */
static void convert_opening_with_source(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_CONVERT, .source = true };
	struct auth_key k = { .id = "cpe-0001" };
	struct auth_policy p = { .window_ms = 30000, .keys = &k, .n_keys = 1 };
	struct auth_replay *r = auth_replay_new(16);
	struct sockaddr_storage d = dst("198.51.100.7:80"), s4 = dst("192.168.1.10:40000"),
				s6 = dst("[2001:db8:1::10]:51000"), got;
	uint8_t out[CARRIER_OPENING_MAX];
	static struct convert_msg m;
	struct convert_fault f;
	char who[AUTH_ID_STRLEN];
	const char *why;
	socklen_t glen;
	size_t used;
	int n = carrier_opening(&c, (struct sockaddr *)&d, (struct sockaddr *)&s4,
			       out, sizeof(out));

	assert_int_equal(n, 4 + 20 + 20);
	assert_int_equal(convert_decode(out, (size_t)n, &m, &used, &f), CONVERT_OK);
	assert_int_equal(m.present, CONVERT_HAS_CONNECT | CONVERT_HAS_SOURCE);
	assert_memory_equal(out + 24, "\xc1\x05\x9c\x40\0\0\0\0\0\0\0\0\0\0\xff\xff"
				      "\xc0\xa8\x01\x0a", 20);
	assert_true(convert_source_parse(&m, &got, &glen, &why));
	assert_int_equal(glen, sizeof(struct sockaddr_in));
	assert_true(addr_equal_host((struct sockaddr *)&got, (struct sockaddr *)&s4));
	assert_int_equal(addr_port((struct sockaddr *)&got), 40000);

	/* IPv6 client, signed: Auth last, and the MAC breaks if Source changes */
	c.auth.id = "cpe-0001";
	for (int i = 0; i < AUTH_KEY_LEN; i++)
		c.auth.key.bytes[i] = k.key.bytes[i] = (uint8_t)(3 * i + 5);
	n = carrier_opening(&c, (struct sockaddr *)&d, (struct sockaddr *)&s6, out,
			    sizeof(out));
	assert_int_equal(n, 4 + 20 + 20 + 68);
	assert_int_equal(out[24], CONVERT_TLV_SOURCE);
	assert_int_equal(out[44], CONVERT_TLV_AUTH);
	assert_int_equal(convert_decode(out, (size_t)n, &m, &used, &f), CONVERT_OK);
	assert_true(convert_source_parse(&m, &got, &glen, &why));
	assert_int_equal(got.ss_family, AF_INET6);
	assert_true(addr_equal_host((struct sockaddr *)&got, (struct sockaddr *)&s6));
	assert_int_equal(addr_port((struct sockaddr *)&got), 51000);
	out[27] ^= 1; /* the client's port */
	assert_int_equal(auth_verify(&p, r, out, used, (int64_t)time(NULL), who,
				     sizeof(who)), AUTH_BAD_MAC);
	out[27] ^= 1;
	assert_int_equal(auth_verify(&p, r, out, used, (int64_t)time(NULL), who,
				     sizeof(who)), AUTH_OK);
	/* source needs the client: none, or not IP, is refused */
	assert_int_equal(carrier_opening(&c, (struct sockaddr *)&d, NULL, out,
					 sizeof(out)), -EINVAL);
	auth_replay_free(r);
}

/* SOCKS4 for IPv4, SOCKS4a with the address in text for IPv6: what the
 * concentrator's parser reads back. */
static void socks4_openings(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_SOCKS4 };
	struct sockaddr_storage d4 = dst("198.51.100.7:8080"),
				d6 = dst("[2001:db8:2::7]:443"), lit;
	static const uint8_t want4[] = { 4, 1, 0x1f, 0x90, 198, 51, 100, 7, 0 };
	static const uint8_t want6[] = "\x04\x01\x01\xbb\0\0\0\x01\0" "2001:db8:2::7";
	uint8_t out[CARRIER_OPENING_MAX];
	struct socks_request rq;
	const char *why;
	socklen_t len;
	size_t used;
	int n = carrier_opening(&c, (struct sockaddr *)&d4, NULL, out, sizeof(out));

	assert_int_equal(n, sizeof(want4));
	assert_memory_equal(out, want4, sizeof(want4));
	assert_int_equal(socks4_parse_request(out, (size_t)n, &rq, &used, &why), SOCKS_OK);
	assert_int_equal(used, (size_t)n);
	assert_false(rq.is_name);
	assert_string_equal(rq.user, "");
	n = carrier_opening(&c, (struct sockaddr *)&d6, NULL, out, sizeof(out));
	assert_int_equal(n, sizeof(want6)); /* with the host name's NUL */
	assert_memory_equal(out, want6, sizeof(want6));
	assert_int_equal(socks4_parse_request(out, (size_t)n, &rq, &used, &why), SOCKS_OK);
	assert_int_equal(used, (size_t)n);
	assert_true(rq.is_name);
	assert_int_equal(rq.port, 443);
	/* the concentrator takes the name as a literal, no lookup */
	assert_true(addr_parse_host(rq.name, &lit, &len));
	assert_true(addr_equal_host((struct sockaddr *)&lit, (struct sockaddr *)&d6));
	/* the longest IPv6 text fits; too small a buffer does not */
	assert_int_equal(carrier_opening(&c, (struct sockaddr *)&d6, NULL, out, 20),
			 -ENOSPC);
	d6.ss_family = AF_UNIX;
	assert_int_equal(carrier_opening(&c, (struct sockaddr *)&d6, NULL, out,
					 sizeof(out)), -EINVAL);
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

/* The 8-byte reply: 0x5A connects, 0x5B (refused or unreachable alike)
 * refuses, identd codes and bad versions fail. */
static void socks4_answers(void **state)
{
	struct cpe_config c = { .protocol = CPE_PROTO_SOCKS4 };
	struct carrier_answer a;
	static const uint8_t ok[] = { 0, 0x5a, 0, 0, 0, 0, 0, 0, 'H', 'I' };
	static const uint8_t ok4[] = { 4, 0x5a, 0, 80, 10, 0, 0, 1 };
	static const uint8_t rejected[] = { 0, 0x5b, 0, 0, 0, 0, 0, 0 };
	static const uint8_t identd[] = { 0, 0x5c };
	static const uint8_t badver[] = { 5, 0x5a, 0, 0, 0, 0, 0, 0 };
	static const uint8_t badcode[] = { 0, 0x00, 0, 0, 0, 0, 0, 0 };

	for (size_t i = 0; i < 8; i++) {
		carrier_answer(&c, ok, i, &a);
		assert_int_equal(a.result, CARRIER_MORE);
	}
	carrier_answer(&c, ok, sizeof(ok), &a);
	assert_int_equal(a.result, CARRIER_OK);
	assert_int_equal(a.consumed, 8); /* the server's first bytes stay */
	assert_int_equal(a.convert_error, -1);
	carrier_answer(&c, ok4, sizeof(ok4), &a);
	assert_int_equal(a.result, CARRIER_OK);
	carrier_answer(&c, rejected, 2, &a);
	assert_int_equal(a.result, CARRIER_REFUSED);
	carrier_answer(&c, rejected, sizeof(rejected), &a);
	assert_int_equal(a.result, CARRIER_REFUSED);
	carrier_answer(&c, identd, sizeof(identd), &a);
	assert_int_equal(a.result, CARRIER_FAILED);
	carrier_answer(&c, badver, 1, &a);
	assert_int_equal(a.result, CARRIER_FAILED);
	carrier_answer(&c, badcode, sizeof(badcode), &a);
	assert_int_equal(a.result, CARRIER_FAILED);
	/* a Convert error is no SOCKS4 reply */
	carrier_answer(&c, (const uint8_t *)"\x01\x02\x22\x63\x1e\x01", 6, &a);
	assert_int_equal(a.result, CARRIER_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(convert_opening_with_source),
		cmocka_unit_test(socks4_openings),
		cmocka_unit_test(socks4_answers),
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
