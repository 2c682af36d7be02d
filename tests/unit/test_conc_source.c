/* lib/conc_source.c (the Source TLV's value) and the transparent, source
 * and tproxy sections of lib/conc_config.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conc_config.h"
#include "conc_source.h"

#define ERRLEN 512
#define CLIENTS "clients:\n  allow: [192.0.2.0/24]\n"

/* The value of a Source TLV: port, then addr as IPv6 (IPv4 v4-mapped). */
static void value(uint8_t v[18], const char *addr, uint16_t port)
{
	struct in6_addr a;

	if (inet_pton(AF_INET6, addr, &a) != 1) {
		memset(&a, 0, sizeof(a));
		a.s6_addr[10] = a.s6_addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, addr, a.s6_addr + 12), 1);
	}
	v[0] = (uint8_t)(port >> 8);
	v[1] = (uint8_t)port;
	memcpy(v + 2, &a, 16);
}

static void test_parse_v4(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	uint8_t v[18];

	value(v, "192.168.7.9", 40000);
	assert_true(convert_source_parse(v, sizeof(v), &ss));
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 40000);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0a80709);
}

static void test_parse_v6(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct in6_addr want;
	uint8_t v[18];

	value(v, "2001:db8:100::7", 443);
	assert_true(convert_source_parse(v, sizeof(v), &ss));
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 443);
	inet_pton(AF_INET6, "2001:db8:100::7", &want);
	assert_memory_equal(&sin6->sin6_addr, &want, 16);
}

/* Refused: *out is left alone. */
static void expect_bad(const uint8_t *v, size_t len)
{
	struct sockaddr_storage ss;

	memset(&ss, 0xa5, sizeof(ss));
	assert_false(convert_source_parse(v, len, &ss));
	assert_int_equal(((uint8_t *)&ss)[0], 0xa5);
}

static void test_parse_length(void **state)
{
	uint8_t v[24] = { 0 };

	value(v, "192.168.7.9", 40000);
	expect_bad(v, 0);
	expect_bad(v, 17);
	expect_bad(v, 19);
	expect_bad(v, 22); /* a TLV of 6 words */
}

static void test_parse_bad_values(void **state)
{
	static const char *const bad[] = {
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.1", "239.1.2.3",
		"255.255.255.255", "::", "::1", "ff02::1", "::1.2.3.4",
	};
	uint8_t v[18];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		value(v, bad[i], 40000);
		expect_bad(v, sizeof(v));
	}
	value(v, "192.168.7.9", 0);
	expect_bad(v, sizeof(v));
}

static struct conc_config *load(const char *yaml, char *err)
{
	return conc_config_load_buf(yaml, strlen(yaml), "t.yaml", err, ERRLEN);
}

static void expect_error_has(const char *yaml, const char *want)
{
	char err[ERRLEN] = "";
	struct conc_config *c = load(yaml, err);

	if (c) {
		conc_config_unref(c);
		fail_msg("accepted:\n%s", yaml);
	}
	if (!strstr(err, want))
		fail_msg("got  '%s'\nwant '%s'", err, want);
}

static void test_config_defaults(void **state)
{
	char err[ERRLEN];
	struct conc_config *c = load(CLIENTS, err);

	assert_non_null(c);
	assert_false(c->transparent_enabled);
	assert_int_equal(c->transparent_port, 5125);
	assert_int_equal(c->n_transparent_ifs, 0);
	assert_false(c->source_preserve);
	assert_int_equal(c->source_prefixes.n, 0);
	assert_int_equal(c->tproxy_table, 7124);
	assert_int_equal(c->tproxy_priority, 7124);
	assert_int_equal(c->tproxy_mark, 0x7124);
	assert_false(conc_config_needs_tproxy(c));
	conc_config_unref(c);
}

static void test_config_full(void **state)
{
	char err[ERRLEN];
	struct conc_config *c = load(
		CLIENTS
		"transparent: {enabled: true, port: 6000, interfaces: [cpe0, ppp*]}\n"
		"source:\n  preserve: true\n"
		"  prefixes: [\"2001:db8:100::/48\", 192.168.0.0/16]\n"
		"tproxy: {table: 100, priority: 50, mark: 0x10}\n",
		err);

	if (!c)
		fail_msg("%s", err);
	assert_true(c->transparent_enabled);
	assert_int_equal(c->transparent_port, 6000);
	assert_int_equal(c->n_transparent_ifs, 2);
	assert_string_equal(c->transparent_ifs[1], "ppp*");
	assert_true(c->source_preserve);
	assert_int_equal(c->source_prefixes.n, 2);
	assert_int_equal(c->tproxy_table, 100);
	assert_int_equal(c->tproxy_priority, 50);
	assert_int_equal(c->tproxy_mark, 0x10);
	assert_true(conc_config_needs_tproxy(c));
	conc_config_unref(c);
}

static void test_config_errors(void **state)
{
	expect_error_has(CLIENTS "transparent: {enabled: true}\n",
			 "transparent.interfaces: list the interfaces");
	expect_error_has(CLIENTS "transparent: {enabled: true, port: 5124, "
				 "interfaces: [cpe0]}\n",
			 "transparent.port: must differ");
	expect_error_has(CLIENTS "transparent: {port: 0}\n", "t.yaml:3:");
	expect_error_has(CLIENTS "transparent: {interfaces: [\"a\\\"b\"]}\n",
			 "letters, digits");
	expect_error_has(CLIENTS "transparent: {interfaces: [\"*\"]}\n",
			 "letters, digits");
	expect_error_has(CLIENTS "transparent: {interfaces: [abcdefghijklmnop]}\n",
			 "1 to 15 bytes");
	expect_error_has(CLIENTS "socks: {enabled: false}\n"
				 "auth: {required: true, keys: [{id: a, key: "
				 "\"0101010101010101010101010101010101010101010101010101010101010101\"}]}\n"
				 "transparent: {enabled: true, interfaces: [cpe0]}\n",
			 "auth.required cannot hold");
	expect_error_has(CLIENTS "source: {preserve: true}\n",
			 "source.prefixes: preserve needs");
	expect_error_has(CLIENTS "source: {prefixes: [10.0.0.1/8]}\n", "t.yaml:3:");
	expect_error_has(CLIENTS "tproxy: {table: 254}\n", "kernel's tables");
	expect_error_has(CLIENTS "tproxy: {table: 0}\n", "t.yaml:3:");
	expect_error_has(CLIENTS "tproxy: {priority: 32766}\n", "t.yaml:3:");
	expect_error_has(CLIENTS "tproxy: {mark: 0}\n", "expected 1 to 0xffffffff");
	expect_error_has(CLIENTS "tproxy: {mark: 0x100000000}\n", "expected 1");
	expect_error_has(CLIENTS "tproxy: {mark: -1}\n", "expected 1");
	expect_error_has(CLIENTS "tproxy: {mark: 010}\n", "expected 1");
	expect_error_has(CLIENTS "tproxy: {mark: 12z}\n", "expected 1");
	expect_error_has(CLIENTS "tproxy: {nat: 1}\n", "t.yaml:3:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_length),
		cmocka_unit_test(test_parse_bad_values),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_full),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
