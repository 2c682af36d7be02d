/* The transparent, source and tproxy sections of lib/conc_config.c (the
 * Source TLV's decoder is tested in test_convert_source.c). */
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

#define ERRLEN 512
#define CLIENTS "clients:\n  allow: [192.0.2.0/24]\n"

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
	assert_int_equal(c->n_transparent_announce, 0);
	assert_int_equal(c->transparent_join_port, 5126);
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
		"transparent: {enabled: true, port: 6000, interfaces: [cpe0, ppp*],\n"
		"  announce: [198.51.100.1, \"2001:db8:c::1\"], join_port: 7000}\n"
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
	assert_int_equal(c->n_transparent_announce, 2);
	assert_string_equal(c->transparent_announce[1], "2001:db8:c::1");
	assert_int_equal(c->transparent_join_port, 7000);
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
#define T "transparent: {enabled: true, interfaces: [cpe0], "
	expect_error_has(CLIENTS "transparent: {announce: [198.51.100.1]}\n",
			 "transparent.announce: applies with transparent.enabled");
	expect_error_has(CLIENTS T "announce: [198.51.100.1], join_port: 5124}\n",
			 "transparent.join_port: must differ");
	expect_error_has(CLIENTS T "announce: [198.51.100.1], join_port: 5125}\n",
			 "transparent.join_port: must differ");
	expect_error_has(CLIENTS T "join_port: 0}\n", "t.yaml:3:");
	expect_error_has(CLIENTS T "announce: [\"198.51.100.1:5126\"]}\n",
			 "no port: join_port is the port");
	expect_error_has(CLIENTS T "announce: [example.com]}\n",
			 "not an IPv4 or IPv6 address");
	expect_error_has(CLIENTS T "announce: [127.0.0.1]}\n",
			 "not an address a CPE can reach");
	expect_error_has(CLIENTS T "announce: [\"::\"]}\n",
			 "not an address a CPE can reach");
	expect_error_has(CLIENTS T "announce: [\"ff02::1\"]}\n",
			 "not an address a CPE can reach");
	expect_error_has(CLIENTS T "announce: [198.51.100.1, 198.51.100.2, "
				 "198.51.100.1]}\n",
			 "duplicate address, also transparent.announce[0]");
	expect_error_has(CLIENTS T "announce: [1.0.0.1, 1.0.0.2, 1.0.0.3, 1.0.0.4, "
				 "1.0.0.5, 1.0.0.6, 1.0.0.7, 1.0.0.8, 1.0.0.9]}\n",
			 "t.yaml:3:");
#undef T
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
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_full),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
