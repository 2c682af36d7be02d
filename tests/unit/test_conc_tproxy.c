/* lib/nft.c and lib/nlroute_local.c against the kernel, in a private
 * network namespace made at start (nothing on the host is touched). Needs
 * root and nftables' tproxy and socket expressions: exits 77 otherwise.
 * What the kernel holds is read back with ip(8) and nft(8). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nft.h"
#include "nlroute_local.h"

#define TABLE 7124
#define PRIO 7124
#define MARK 0x7124

static struct nlroute *nr;

/* The output of cmd (run by sh in this namespace), at most 8 KiB. */
static const char *sh(const char *cmd)
{
	static char out[8192];
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	out[0] = '\0';
	if (!p)
		return out;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

static int count(const char *cmd)
{
	return atoi(sh(cmd));
}

#define RULES(mark) \
	"{ ip -4 rule; ip -6 rule; } | grep -c 'fwmark " mark " lookup'"
#define ROUTES(table) \
	"{ ip -4 route show table " table "; ip -6 route show table " table \
	"; } 2>/dev/null | grep -c '^local default dev lo'"

static void test_local_install_twice(void **state)
{
	assert_int_equal(nlroute_local_install(nr, TABLE, PRIO, MARK), 0);
	assert_int_equal(nlroute_local_install(nr, TABLE, PRIO, MARK), 0);
	assert_int_equal(count(RULES("0x7124")), 2);
	assert_int_equal(count(ROUTES("7124")), 2);
	assert_int_equal(nlroute_local_remove(nr, TABLE), 0);
	assert_int_equal(count(RULES("0x7124")), 0);
	assert_int_equal(count(ROUTES("7124")), 0);
	assert_int_equal(nlroute_local_remove(nr, TABLE), 0); /* idempotent */
}

/* A crashed run with another table and mark is found by its fwmark rule;
 * rules of others stay. */
static void test_local_remove_leftovers(void **state)
{
	system("ip rule add fwmark 0x99 lookup 300 priority 300");
	assert_int_equal(nlroute_local_install(nr, 200, 200, 0x55), 0);
	assert_int_equal(nlroute_local_remove(nr, TABLE), 0);
	assert_int_equal(count(RULES("0x55")), 0);
	assert_int_equal(count(ROUTES("200")), 0);
	assert_int_equal(count(RULES("0x99")), 1); /* not ours */
	system("ip rule del fwmark 0x99 lookup 300 priority 300");
}

static void test_local_invalid(void **state)
{
	assert_int_equal(nlroute_local_install(nr, 254, PRIO, MARK), -EINVAL);
	assert_int_equal(nlroute_local_install(nr, 0, PRIO, MARK), -EINVAL);
	assert_int_equal(nlroute_local_install(nr, TABLE, PRIO, 0), -EINVAL);
	assert_int_equal(nlroute_local_remove(nr, 255), -EINVAL);
}

static void test_nft_install_remove(void **state)
{
	char *ifs[] = { "cpe0", "ppp*" };
	struct nft_tproxy t = { .ifs = ifs, .n_ifs = 2, .port = 5125,
				.mark = MARK };
	char err[256] = "";
	const char *list;

	assert_false(nft_tproxy_present());
	if (nft_tproxy_install(&t, err, sizeof(err)))
		fail_msg("install: %s", err);
	/* a second install replaces the table, a leftover included */
	if (nft_tproxy_install(&t, err, sizeof(err)))
		fail_msg("install again: %s", err);
	assert_true(nft_tproxy_present());
	list = sh("nft list table inet " NFT_TPROXY_TABLE);
	assert_non_null(strstr(list, "socket transparent 1 meta mark set 0x00007124 accept"));
	assert_non_null(strstr(list, "tproxy ip to 127.0.0.1:5125"));
	assert_non_null(strstr(list, "tproxy ip6 to [::1]:5125"));
	assert_non_null(strstr(list, "iifname { \"cpe0\", \"ppp*\" }"));
	assert_non_null(strstr(list, "tcp option mptcp exists"));
	assert_int_equal(count("nft list table inet " NFT_TPROXY_TABLE
			       " | grep -c 'tproxy ip'"), 2);
	assert_int_equal(nft_tproxy_remove(err, sizeof(err)), 0);
	assert_false(nft_tproxy_present());
	assert_int_equal(nft_tproxy_remove(err, sizeof(err)), 0); /* none: fine */
}

/* Source preservation alone: the socket rule, no TPROXY. */
static void test_nft_socket_rule_only(void **state)
{
	struct nft_tproxy t = { .port = 5125, .mark = 0x10 };
	char err[256] = "";

	if (nft_tproxy_install(&t, err, sizeof(err)))
		fail_msg("install: %s", err);
	assert_int_equal(count("nft list table inet " NFT_TPROXY_TABLE
			       " | grep -c -e 'socket transparent' -e 'tproxy ip'"), 1);
	assert_int_equal(nft_tproxy_remove(err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_install_twice),
		cmocka_unit_test(test_local_remove_leftovers),
		cmocka_unit_test(test_local_invalid),
		cmocka_unit_test(test_nft_install_remove),
		cmocka_unit_test(test_nft_socket_rule_only),
	};

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_conc_tproxy: needs root (a network "
				"namespace of its own), skipped\n");
		return 77;
	}
	system("ip link set lo up");
	if (system("nft -c -f - >/dev/null 2>&1 <<'EOF'\n"
		   "table inet t {\n chain c {\n  type filter hook prerouting "
		   "priority mangle;\n  socket transparent 1 meta nfproto ipv4 meta l4proto tcp "
		   "tproxy ip to 127.0.0.1:1\n }\n}\nEOF") != 0) {
		fprintf(stderr, "test_conc_tproxy: no nft, or no tproxy and "
				"socket expressions, skipped\n");
		return 77;
	}
	if (!(nr = nlroute_open()))
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	nlroute_close(nr);
	return r;
}
