/* lib/mptcp_pm.c against the kernel's in-kernel path manager, in a private
 * network namespace made at start (endpoints and limits are per namespace:
 * nothing on the host is touched). Needs root and a kernel with MPTCP:
 * exits 77 otherwise.
 *
 * Device: wan0, a veth (its peer wan0p) or, without veth, an empty bridge,
 * with an IPv4 and an IPv6 address. Every test starts from a flushed
 * endpoint table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "mptcp_pm.h"

#define WAN   "wan0"
#define WAN_P "wan0p"
#define WAN4  "192.0.2.1"
#define WAN6  "2001:db8::1"
#define MAX_EP 16

static struct mptcp_pm *pm;
static int wan_index;

/* Setup, outside cmocka: failures here skip or abort the whole program. */

static int link_create(struct nl_sock *sk)
{
	struct rtnl_link *l = rtnl_link_veth_alloc();
	struct rtnl_link *peer;
	int err;

	if (!l)
		return -NLE_NOMEM;
	rtnl_link_set_name(l, WAN);
	peer = rtnl_link_veth_get_peer(l); /* a reference of its own */
	rtnl_link_set_name(peer, WAN_P);
	rtnl_link_put(peer);
	rtnl_link_set_flags(l, IFF_UP);
	err = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_veth_release(l);
	if (err >= 0)
		return 0;
	l = rtnl_link_alloc();
	if (!l)
		return -NLE_NOMEM;
	rtnl_link_set_name(l, WAN);
	err = rtnl_link_set_type(l, "bridge");
	rtnl_link_set_flags(l, IFF_UP);
	if (!err)
		err = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(l);
	return err;
}

static int addr_add(struct nl_sock *sk, int family, const char *s)
{
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int err = nl_addr_parse(s, family, &local);

	if (!a || err < 0)
		goto out;
	rtnl_addr_set_ifindex(a, wan_index);
	rtnl_addr_set_local(a, local);
	if (family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	err = rtnl_addr_add(sk, a, 0);
out:
	nl_addr_put(local);
	rtnl_addr_put(a);
	return err;
}

static int setup_netns(void)
{
	struct nl_sock *sk;
	int err;

	if (geteuid() != 0) {
		fprintf(stderr, "test_mptcp_pm: not root, skipped\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_mptcp_pm: unshare: %s, skipped\n",
			strerror(errno));
		return 77;
	}
	pm = mptcp_pm_open();
	if (!pm) {
		fprintf(stderr, "test_mptcp_pm: kernel without MPTCP path "
			"manager (%s), skipped\n", strerror(errno));
		return 77;
	}
	sk = nl_socket_alloc();
	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
		return 1;
	err = link_create(sk);
	wan_index = (int)if_nametoindex(WAN);
	if (err >= 0 && wan_index > 0)
		err = addr_add(sk, AF_INET, WAN4 "/24");
	if (err >= 0)
		err = addr_add(sk, AF_INET6, WAN6 "/64");
	nl_socket_free(sk);
	if (err < 0 || wan_index <= 0) {
		fprintf(stderr, "test_mptcp_pm: no veth or bridge with "
			"addresses (%s), skipped\n", nl_geterror(err));
		return 77;
	}
	return 0;
}

/* Helpers. */

static struct mptcp_pm_endpoint ep(int family, const char *s, uint32_t flags)
{
	struct mptcp_pm_endpoint e = {
		.family = family, .flags = flags, .ifindex = wan_index,
	};

	assert_int_equal(inet_pton(family, s, e.addr), 1);
	return e;
}

/* The endpoint with address s, or NULL; v and *n are refreshed. */
static const struct mptcp_pm_endpoint *
find(struct mptcp_pm_endpoint *v, size_t *n, int family, const char *s)
{
	uint8_t a[16] = { 0 };
	size_t i, len = family == AF_INET ? 4 : 16;

	assert_int_equal(inet_pton(family, s, a), 1);
	assert_int_equal(mptcp_pm_dump(pm, v, MAX_EP, n), 0);
	for (i = 0; i < *n; i++)
		if (v[i].family == family && !memcmp(v[i].addr, a, len))
			return &v[i];
	return NULL;
}

static int flush(void **state)
{
	return mptcp_pm_flush(pm) ? -1 : 0;
}

/* Tests. */

static void test_limits(void **state)
{
	uint32_t sf = 99, aa = 99;

	assert_int_equal(mptcp_pm_set_limits(pm, 2, 3), 0);
	assert_int_equal(mptcp_pm_get_limits(pm, &sf, &aa), 0);
	assert_int_equal(sf, 2);
	assert_int_equal(aa, 3);
	assert_int_equal(mptcp_pm_set_limits(pm, 4, 0), 0);
	assert_int_equal(mptcp_pm_get_limits(pm, &sf, &aa), 0);
	assert_int_equal(sf, 4);
	assert_int_equal(aa, 0);
	/* Far above any kernel's cap. */
	assert_int_equal(mptcp_pm_set_limits(pm, 100000, 0), -EINVAL);
}

static void test_add_dump(void **state)
{
	struct mptcp_pm_endpoint v[MAX_EP];
	struct mptcp_pm_endpoint e =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	const struct mptcp_pm_endpoint *got;
	size_t n;

	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	got = find(v, &n, AF_INET, WAN4);
	assert_non_null(got);
	assert_int_equal(n, 1);
	assert_int_not_equal(got->id, 0); /* the kernel picked one */
	assert_int_equal(got->flags, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	assert_int_equal(got->ifindex, wan_index);
	assert_int_equal(got->port, 0);
}

static void test_add_twice(void **state)
{
	struct mptcp_pm_endpoint e =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SUBFLOW);

	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	assert_int_equal(mptcp_pm_add(pm, &e), -EEXIST);
	e.flags = MPTCP_PM_ADDR_FLAG_SIGNAL; /* other flags, same address */
	assert_int_equal(mptcp_pm_add(pm, &e), -EEXIST);
}

/* A given id: the same endpoint again is -EEXIST still; another address
 * under a taken id is -EBUSY. */
static void test_add_twice_with_id(void **state)
{
	struct mptcp_pm_endpoint e =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	struct mptcp_pm_endpoint other =
		ep(AF_INET6, WAN6, MPTCP_PM_ADDR_FLAG_SUBFLOW);

	e.id = other.id = 3;
	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	assert_int_equal(mptcp_pm_add(pm, &e), -EEXIST);
	assert_int_equal(mptcp_pm_add(pm, &other), -EBUSY);
}

static void test_set_backup(void **state)
{
	struct mptcp_pm_endpoint v[MAX_EP];
	struct mptcp_pm_endpoint e =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	const struct mptcp_pm_endpoint *got;
	uint8_t id;
	size_t n;

	e.id = 5;
	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	got = find(v, &n, AF_INET, WAN4);
	assert_non_null(got);
	assert_int_equal(got->id, 5);
	id = got->id;
	assert_int_equal(mptcp_pm_set_flags(pm, id, MPTCP_PM_ADDR_FLAG_BACKUP),
			 0);
	got = find(v, &n, AF_INET, WAN4);
	assert_non_null(got);
	assert_int_equal(got->flags,
			 MPTCP_PM_ADDR_FLAG_SUBFLOW | MPTCP_PM_ADDR_FLAG_BACKUP);
	/* And back: BACKUP cleared, SUBFLOW kept. */
	assert_int_equal(mptcp_pm_set_flags(pm, id, 0), 0);
	got = find(v, &n, AF_INET, WAN4);
	assert_non_null(got);
	assert_int_equal(got->flags, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	assert_true(mptcp_pm_set_flags(pm, 77, MPTCP_PM_ADDR_FLAG_BACKUP) < 0);
}

static void test_del(void **state)
{
	struct mptcp_pm_endpoint v[MAX_EP];
	struct mptcp_pm_endpoint e =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	const struct mptcp_pm_endpoint *got;
	size_t n;

	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	got = find(v, &n, AF_INET, WAN4);
	assert_non_null(got);
	assert_int_equal(mptcp_pm_del(pm, got->id), 0);
	assert_null(find(v, &n, AF_INET, WAN4));
	assert_int_equal(n, 0);
	assert_true(mptcp_pm_del(pm, 42) < 0); /* no such id */
	assert_int_equal(mptcp_pm_del(pm, 0), -EINVAL);
}

static void test_ipv6(void **state)
{
	struct mptcp_pm_endpoint v[MAX_EP];
	struct mptcp_pm_endpoint e = ep(AF_INET6, WAN6,
					MPTCP_PM_ADDR_FLAG_SUBFLOW |
					MPTCP_PM_ADDR_FLAG_BACKUP);
	const struct mptcp_pm_endpoint *got;
	size_t n;

	e.id = 10;
	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	got = find(v, &n, AF_INET6, WAN6);
	assert_non_null(got);
	assert_int_equal(got->family, AF_INET6);
	assert_int_equal(got->id, 10);
	assert_int_equal(got->flags, e.flags);
	assert_int_equal(got->ifindex, wan_index);
	assert_memory_equal(got->addr, e.addr, 16);
	assert_int_equal(mptcp_pm_add(pm, &e), -EEXIST);
}

static void test_signal_port(void **state)
{
	struct mptcp_pm_endpoint v[MAX_EP];
	struct mptcp_pm_endpoint e =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SIGNAL);
	const struct mptcp_pm_endpoint *got;
	size_t n;

	e.port = 10100;
	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	got = find(v, &n, AF_INET, WAN4);
	assert_non_null(got);
	assert_int_equal(got->port, 10100);
	assert_int_equal(got->flags, MPTCP_PM_ADDR_FLAG_SIGNAL);
}

static void test_flush_and_space(void **state)
{
	struct mptcp_pm_endpoint v[MAX_EP];
	struct mptcp_pm_endpoint e4 =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	struct mptcp_pm_endpoint e6 =
		ep(AF_INET6, WAN6, MPTCP_PM_ADDR_FLAG_SUBFLOW);
	size_t n;

	assert_int_equal(mptcp_pm_add(pm, &e4), 0);
	assert_int_equal(mptcp_pm_add(pm, &e6), 0);
	assert_int_equal(mptcp_pm_dump(pm, v, 1, &n), -ENOSPC);
	assert_int_equal(n, 1);
	/* The dump was drained: the socket still answers in step. */
	assert_int_equal(mptcp_pm_dump(pm, v, MAX_EP, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mptcp_pm_flush(pm), 0);
	assert_int_equal(mptcp_pm_dump(pm, v, MAX_EP, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mptcp_pm_flush(pm), 0); /* nothing left: fine */
}

static void test_bad_family(void **state)
{
	struct mptcp_pm_endpoint e = { .family = AF_UNIX };

	assert_int_equal(mptcp_pm_add(pm, &e), -EINVAL);
}

/* The same table as iproute2 sees it, when `ip mptcp` is there. */
static void test_iproute2_agrees(void **state)
{
	struct mptcp_pm_endpoint e =
		ep(AF_INET, WAN4, MPTCP_PM_ADDR_FLAG_SUBFLOW |
		   MPTCP_PM_ADDR_FLAG_BACKUP);
	char line[256] = "";
	FILE *p;

	e.id = 7;
	assert_int_equal(mptcp_pm_add(pm, &e), 0);
	p = popen("ip mptcp endpoint show 2>/dev/null", "re");
	if (!p || !fgets(line, sizeof(line), p)) {
		if (p)
			pclose(p);
		skip();
	}
	pclose(p);
	assert_non_null(strstr(line, WAN4 " id 7 "));
	assert_non_null(strstr(line, "subflow"));
	assert_non_null(strstr(line, "backup"));
	assert_non_null(strstr(line, "dev " WAN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_limits, flush),
		cmocka_unit_test_setup(test_add_dump, flush),
		cmocka_unit_test_setup(test_add_twice, flush),
		cmocka_unit_test_setup(test_add_twice_with_id, flush),
		cmocka_unit_test_setup(test_set_backup, flush),
		cmocka_unit_test_setup(test_del, flush),
		cmocka_unit_test_setup(test_ipv6, flush),
		cmocka_unit_test_setup(test_signal_port, flush),
		cmocka_unit_test_setup(test_flush_and_space, flush),
		cmocka_unit_test_setup(test_bad_family, flush),
		cmocka_unit_test_setup(test_iproute2_agrees, flush),
	};
	int rc = setup_netns();

	if (rc)
		return rc;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	mptcp_pm_close(pm);
	return rc;
}
