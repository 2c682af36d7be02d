/* lib/addr.c: prefix parsing and matching, address parsing and printing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "addr.h"

static struct sockaddr_storage sa4(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage sa6(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	return ss;
}

static bool match(const char *prefix, struct sockaddr_storage ss)
{
	struct addr_prefix p;

	assert_true(addr_prefix_parse(prefix, &p));
	return addr_prefix_match(&p, (struct sockaddr *)&ss);
}

static void test_prefix_parse_v4(void **state)
{
	struct addr_prefix p;
	const uint8_t want[4] = { 10, 0, 0, 0 };

	assert_true(addr_prefix_parse("10.0.0.0/8", &p));
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 8);
	assert_memory_equal(p.bytes, want, 4);
	assert_true(addr_prefix_parse("0.0.0.0/0", &p));
	assert_int_equal(p.len, 0);
}

static void test_prefix_parse_v6(void **state)
{
	struct addr_prefix p;
	const uint8_t want[4] = { 0x20, 0x01, 0x0d, 0xb8 };

	assert_true(addr_prefix_parse("2001:db8::/32", &p));
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.len, 32);
	assert_memory_equal(p.bytes, want, 4);
	assert_true(addr_prefix_parse("fc00::/7", &p));
	assert_int_equal(p.len, 7);
}

static void test_prefix_parse_bare_address(void **state)
{
	struct addr_prefix p;

	assert_true(addr_prefix_parse("192.0.2.7", &p));
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 32);
	assert_true(addr_prefix_parse("2001:db8::7", &p));
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.len, 128);
}

static void test_prefix_parse_host_bits_set(void **state)
{
	struct addr_prefix p = { .family = 99 };

	assert_false(addr_prefix_parse("10.0.0.1/8", &p));
	assert_false(addr_prefix_parse("172.16.0.0/11", &p));
	assert_false(addr_prefix_parse("2001:db8::1/64", &p));
	assert_false(addr_prefix_parse("fd00::/7", &p));
	assert_int_equal(p.family, 99); /* untouched on failure */
}

static void test_prefix_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",	       "/8",	      "10.0.0.0/",   "10.0.0.0/33",
		"10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x", "10.0.0.0/ 8",
		"::/129",      "10.0.0",      "example.com", "10.0.0.0/8/8",
		"1.2.3.4:80",  "[::1]",	      "2001:db8::/00321111111111111",
	};
	struct addr_prefix p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (addr_prefix_parse(bad[i], &p))
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void test_prefix_match_v4(void **state)
{
	assert_true(match("10.0.0.0/8", sa4("10.255.1.2")));
	assert_false(match("10.0.0.0/8", sa4("11.0.0.0")));
	assert_true(match("172.16.0.0/12", sa4("172.31.255.255")));
	assert_false(match("172.16.0.0/12", sa4("172.32.0.0")));
	assert_true(match("192.0.2.7", sa4("192.0.2.7")));
	assert_false(match("192.0.2.7", sa4("192.0.2.6")));
	assert_true(match("0.0.0.0/0", sa4("203.0.113.1")));
	assert_false(match("0.0.0.0/0", sa6("2001:db8::1")));
}

static void test_prefix_match_v6(void **state)
{
	assert_true(match("2001:db8::/32", sa6("2001:db8:ffff::1")));
	assert_false(match("2001:db8::/32", sa6("2001:db9::1")));
	assert_true(match("fc00::/7", sa6("fdff::1")));
	assert_false(match("fc00::/7", sa6("fe00::1")));
	assert_true(match("::/0", sa6("::1")));
	assert_false(match("::/0", sa4("127.0.0.1")));
}

static void test_prefix_match_v4_mapped(void **state)
{
	/* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
	assert_true(match("192.0.2.0/24", sa6("::ffff:192.0.2.9")));
	assert_false(match("192.0.2.0/24", sa6("::ffff:198.51.100.9")));
	assert_false(match("::ffff:0:0/96", sa6("::ffff:192.0.2.9")));
}

static void test_prefix_list(void **state)
{
	struct addr_prefix_list l = { 0 };
	struct addr_prefix p;
	struct sockaddr_storage a = sa4("198.51.100.3"), b = sa6("2001:db8::3");

	assert_false(addr_prefix_list_match(&l, (struct sockaddr *)&a));
	assert_true(addr_prefix_parse("198.51.100.0/24", &p));
	assert_int_equal(addr_prefix_list_add(&l, &p), 0);
	assert_true(addr_prefix_parse("2001:db8::/32", &p));
	assert_int_equal(addr_prefix_list_add(&l, &p), 0);
	assert_int_equal(l.n, 2);
	assert_true(addr_prefix_list_match(&l, (struct sockaddr *)&a));
	assert_true(addr_prefix_list_match(&l, (struct sockaddr *)&b));
	addr_prefix_list_clear(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	assert_false(addr_prefix_list_match(&l, (struct sockaddr *)&a));
}

static void test_parse_v4_port(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len;

	assert_true(addr_parse("1.2.3.4:80", -1, &ss, &len));
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 80);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x01020304);
	assert_true(addr_parse("1.2.3.4", 5124, &ss, &len));
	assert_int_equal(addr_port((struct sockaddr *)&ss), 5124);
	assert_false(addr_parse("1.2.3.4", -1, &ss, &len));
}

static void test_parse_v6_port(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	assert_true(addr_parse("[::1]:80", -1, &ss, &len));
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 80);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_true(addr_parse("2001:db8::1", 443, &ss, &len));
	assert_int_equal(addr_port((struct sockaddr *)&ss), 443);
	assert_true(addr_parse("[2001:db8::1]", 443, &ss, &len));
	assert_int_equal(addr_port((struct sockaddr *)&ss), 443);
}

static void test_parse_any(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	assert_true(addr_parse("*:5124", -1, &ss, &len));
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	assert_int_equal(ntohs(sin6->sin6_port), 5124);
	assert_true(addr_parse("[::]:5124", -1, &ss, &len));
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	assert_true(addr_parse("*", 7, &ss, &len));
	assert_int_equal(addr_port((struct sockaddr *)&ss), 7);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"1.2.3.4:65536", "1.2.3.4:",	   "1.2.3.4:-1", "1.2.3.4:80x",
		"1.2.3.4: 80",	 "1.2.3.4:+80",	   "[::1]80",	 "[::1",
		"[::1]:",	 "[::1]:99999",	   "host:80",	 "",
		":80",		 "1.2.3.4.5:80",   "[1.2.3.4]x", "[]:80",
	};
	struct sockaddr_storage ss;
	socklen_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (addr_parse(bad[i], 5124, &ss, &len))
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void test_parse_host(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_true(addr_parse_host("198.51.100.1", &ss, &len));
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(addr_port((struct sockaddr *)&ss), 0);
	assert_true(addr_parse_host("2001:db8::5", &ss, &len));
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_false(addr_parse_host("*", &ss, &len));
	assert_false(addr_parse_host("198.51.100.1:80", &ss, &len));
	assert_false(addr_parse_host("[2001:db8::5]", &ss, &len));
	assert_false(addr_parse_host("", &ss, &len));
}

static void test_unmap_equal_str(void **state)
{
	struct sockaddr_storage m = sa6("::ffff:192.0.2.1");
	struct sockaddr_storage v4 = sa4("192.0.2.1");
	struct sockaddr_storage out;
	char buf[ADDR_STRLEN];
	socklen_t len;

	((struct sockaddr_in6 *)&m)->sin6_port = htons(443);
	addr_unmap((struct sockaddr *)&m, &out, &len);
	assert_int_equal(out.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_string_equal(addr_str((struct sockaddr *)&out, buf, sizeof(buf)),
			    "192.0.2.1:443");
	assert_true(addr_equal_host((struct sockaddr *)&m,
				    (struct sockaddr *)&v4));
	m = sa6("2001:db8::1");
	((struct sockaddr_in6 *)&m)->sin6_port = htons(80);
	assert_string_equal(addr_str((struct sockaddr *)&m, buf, sizeof(buf)),
			    "[2001:db8::1]:80");
	assert_false(addr_equal_host((struct sockaddr *)&m,
				     (struct sockaddr *)&v4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse_v4),
		cmocka_unit_test(test_prefix_parse_v6),
		cmocka_unit_test(test_prefix_parse_bare_address),
		cmocka_unit_test(test_prefix_parse_host_bits_set),
		cmocka_unit_test(test_prefix_parse_bad),
		cmocka_unit_test(test_prefix_match_v4),
		cmocka_unit_test(test_prefix_match_v6),
		cmocka_unit_test(test_prefix_match_v4_mapped),
		cmocka_unit_test(test_prefix_list),
		cmocka_unit_test(test_parse_v4_port),
		cmocka_unit_test(test_parse_v6_port),
		cmocka_unit_test(test_parse_any),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_host),
		cmocka_unit_test(test_unmap_equal_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
