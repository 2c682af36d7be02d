/* Concentrator policy: the egress ACL (default deny, private ranges,
 * allow/deny lists, own addresses), the client allow-list, flow limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "conc.h"
#include "convert.h"

static struct conc_config *load(const char *yaml)
{
	char err[256];
	struct conc_config *c = conc_config_load_buf(yaml, strlen(yaml), "t.yaml",
						     err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	return c;
}

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_true(addr_parse(s, -1, &ss, &len));
	return ss;
}

static int check(struct conc_acl *acl, const char *dst)
{
	struct sockaddr_storage d = sa(dst);

	return conc_acl_check(acl, (struct sockaddr *)&d);
}

static const char *base = "clients:\n  allow: [\"10.1.0.0/24\"]\n";

static void default_deny(void **state)
{
	struct conc_config *c = load(base);
	struct conc_acl acl;

	assert_int_equal(conc_acl_init(&acl, c), 0);
	assert_int_equal(check(&acl, "127.0.0.1:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "[::1]:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "[::ffff:127.0.0.1]:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "224.0.0.1:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "[ff02::1]:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "255.255.255.255:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "0.0.0.0:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "[::]:80"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "198.51.100.1:0"), CONVERT_E_MALFORMED);
	assert_int_equal(check(&acl, "169.254.1.1:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "[fe80::1]:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "10.2.0.2:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "172.20.0.1:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "192.168.1.1:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "100.64.0.1:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "[fd00::1]:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "198.51.100.1:80"), 0);
	assert_int_equal(check(&acl, "[2001:db8::1]:443"), 0);
	conc_acl_destroy(&acl);
	conc_config_unref(c);
}

static void allow_and_deny_lists(void **state)
{
	struct conc_config *c = load("clients:\n  allow: [\"10.1.0.0/24\"]\n"
				     "egress:\n  allow: [\"10.2.0.0/24\"]\n"
				     "  deny: [\"198.51.100.0/24\"]\n");
	struct conc_acl acl;

	assert_int_equal(conc_acl_init(&acl, c), 0);
	assert_int_equal(check(&acl, "10.2.0.2:80"), 0);
	assert_int_equal(check(&acl, "10.3.0.2:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "198.51.100.7:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "203.0.113.7:80"), 0);
	conc_acl_destroy(&acl);
	conc_config_unref(c);
}

static void allow_private(void **state)
{
	struct conc_config *c = load("clients:\n  allow: [\"10.1.0.0/24\"]\n"
				     "egress:\n  allow_private: true\n");
	struct conc_acl acl;

	assert_int_equal(conc_acl_init(&acl, c), 0);
	assert_int_equal(check(&acl, "10.9.9.9:80"), 0);
	assert_int_equal(check(&acl, "[fd00::1]:80"), 0);
	assert_int_equal(check(&acl, "127.0.0.1:80"), CONVERT_E_MALFORMED);
	conc_acl_destroy(&acl);
	conc_config_unref(c);
}

static void own_address_refused(void **state)
{
	struct conc_config *c = load("clients:\n  allow: [\"10.1.0.0/24\"]\n"
				     "egress:\n  allow_private: true\n");
	struct conc_acl acl;
	struct addr_prefix p;

	assert_int_equal(conc_acl_init(&acl, c), 0);
	/* Pretend this host has 10.7.7.7, as getifaddrs would report. */
	assert_true(addr_prefix_parse("10.7.7.7", &p));
	assert_int_equal(addr_prefix_list_add(&acl.own, &p), 0);
	assert_int_equal(check(&acl, "10.7.7.7:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "[::ffff:10.7.7.7]:80"), CONVERT_E_NOT_AUTHORIZED);
	assert_int_equal(check(&acl, "10.7.7.8:80"), 0);
	conc_acl_destroy(&acl);
	conc_config_unref(c);
}

static void client_allow_list(void **state)
{
	struct conc_config *c = load(base);
	struct conc_acl acl;
	struct sockaddr_storage in = sa("10.1.0.2:1"), mapped = sa("[::ffff:10.1.0.9]:1"),
				out = sa("10.1.1.2:1"), v6 = sa("[fd00:1::2]:1");

	assert_int_equal(conc_acl_init(&acl, c), 0);
	assert_true(conc_acl_client_allowed(&acl, (struct sockaddr *)&in));
	assert_true(conc_acl_client_allowed(&acl, (struct sockaddr *)&mapped));
	assert_false(conc_acl_client_allowed(&acl, (struct sockaddr *)&out));
	assert_false(conc_acl_client_allowed(&acl, (struct sockaddr *)&v6));
	conc_acl_destroy(&acl);
	conc_config_unref(c);
}

static void limits_per_client_and_total(void **state)
{
	struct conc_limits lim;
	struct sockaddr_storage a = sa("10.1.0.2:1"), a6 = sa("[::ffff:10.1.0.2]:2"),
				b = sa("10.1.0.3:1"), c = sa("10.1.0.4:1");

	assert_int_equal(conc_limits_init(&lim), 0);
	assert_true(conc_limits_acquire(&lim, (struct sockaddr *)&a, 3, 2));
	/* The v4-mapped form is the same client. */
	assert_true(conc_limits_acquire(&lim, (struct sockaddr *)&a6, 3, 2));
	assert_false(conc_limits_acquire(&lim, (struct sockaddr *)&a, 3, 2));
	assert_true(conc_limits_acquire(&lim, (struct sockaddr *)&b, 3, 2));
	assert_false(conc_limits_acquire(&lim, (struct sockaddr *)&c, 3, 2));
	assert_int_equal(lim.total, 3);
	conc_limits_release(&lim, (struct sockaddr *)&a);
	assert_true(conc_limits_acquire(&lim, (struct sockaddr *)&c, 3, 2));
	conc_limits_release(&lim, (struct sockaddr *)&a);
	conc_limits_release(&lim, (struct sockaddr *)&b);
	conc_limits_release(&lim, (struct sockaddr *)&c);
	/* Releasing a client that holds nothing changes nothing. */
	conc_limits_release(&lim, (struct sockaddr *)&c);
	assert_int_equal(lim.total, 0);
	assert_false(conc_limits_acquire(&lim, (struct sockaddr *)&a, 3, 0));
	assert_int_equal(lim.total, 0);
	conc_limits_destroy(&lim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_deny),
		cmocka_unit_test(allow_and_deny_lists),
		cmocka_unit_test(allow_private),
		cmocka_unit_test(own_address_refused),
		cmocka_unit_test(client_allow_list),
		cmocka_unit_test(limits_per_client_and_total),
	};
	return cmocka_run_group_tests_name("conc_policy", tests, NULL, NULL);
}
