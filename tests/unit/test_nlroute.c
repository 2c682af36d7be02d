/* lib/nlroute.c against the kernel, in a private network namespace made at
 * start (nothing on the host is touched). Needs root: exits 77 otherwise.
 *
 * Devices: mptun0 (a TUN, or a stand-in when /dev/net/tun is missing),
 * lan0 (the captured side) and wan0 (where the main table's routes go):
 * dummies, or empty bridges on kernels without the dummy driver. Everything is read back through libnl, and the kernel is asked
 * which route a packet would take (RTM_GETROUTE with iif and ipproto). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

#include "nlroute.h"

#define TUN   "mptun0"
#define LAN   "lan0"
#define LAN2  "lan1" /* never created: rules match by name */
#define WAN   "wan0"
#define LAN_NET4 "172.16.0.0/12"
#define LAN_NET6 "2001:db8:1::/48"
#define CLIENT4  "172.16.0.10"
#define CLIENT6  "2001:db8:1::10"
#define DISABLE_IPV6 "/proc/sys/net/ipv6/conf/" TUN "/disable_ipv6"
#define TABLE 7100
#define PRIO  7100

static struct nl_sock *sk; /* the test's own view */
static int tun_fd = -1;
static int tun_index, lan_index, wan_index;

static char *lans[] = { LAN, LAN2 };
static struct addr_prefix bypass_v[3];
static struct addr_prefix_list bypass = { bypass_v, 3 };

static const struct nlroute_capture capture = {
	.tun = TUN,
	.lan_ifs = lans,
	.n_lan = 2,
	.bypass = &bypass,
	.table = TABLE,
	.priority = PRIO,
};

/* Setup, outside cmocka: failures here skip or abort the whole program. */

static int tun_create(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TUN);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int link_create(const char *name, const char *type)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int err;

	if (!l)
		return -NLE_NOMEM;
	rtnl_link_set_name(l, name);
	err = rtnl_link_set_type(l, type);
	rtnl_link_set_flags(l, IFF_UP);
	if (!err)
		err = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(l);
	return err;
}

static int stub_create(const char *name)
{
	if (link_create(name, "dummy") < 0)
		return link_create(name, "bridge");
	return 0;
}

static int write_sysctl(const char *path, const char *value)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	fputs(value, f);
	return fclose(f);
}

static struct nl_addr *parse(const char *s, int family)
{
	struct nl_addr *a = NULL;

	if (nl_addr_parse(s, family, &a) < 0)
		return NULL;
	return a;
}

/* A route in table of family, dst dev ifindex, proto static: not ours. */
static int foreign_route(int family, const char *dst, uint32_t table,
			 int ifindex)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *a = parse(dst, family);
	int err;

	rtnl_route_set_family(rt, (uint8_t)family);
	rtnl_route_set_table(rt, table);
	rtnl_route_set_protocol(rt, RTPROT_STATIC);
	rtnl_route_set_scope(rt, RT_SCOPE_LINK);
	rtnl_route_set_dst(rt, a);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(rt, nh);
	err = rtnl_route_add(sk, rt, NLM_F_EXCL);
	nl_addr_put(a);
	rtnl_route_put(rt);
	return err;
}

static int setup_netns(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_nlroute: not root, skipped\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_nlroute: unshare: %s, skipped\n",
			strerror(errno));
		return 77;
	}
	sk = nl_socket_alloc();
	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
		return 1;
	tun_fd = tun_create();
	if ((tun_fd < 0 && stub_create(TUN) < 0) || stub_create(LAN) < 0 ||
	    stub_create(WAN) < 0) {
		fprintf(stderr, "test_nlroute: no dummy or bridge devices, "
			"skipped\n");
		return 77;
	}
	tun_index = (int)if_nametoindex(TUN);
	lan_index = (int)if_nametoindex(LAN);
	wan_index = (int)if_nametoindex(WAN);
	/* Forwarded packets: route lookups with an iif need forwarding. */
	write_sysctl("/proc/sys/net/ipv4/ip_forward", "1\n");
	write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1\n");
	if (!addr_prefix_parse("10.0.0.0/8", &bypass_v[0]) ||
	    !addr_prefix_parse("fc00::/7", &bypass_v[1]) ||
	    !addr_prefix_parse("192.168.0.0/16", &bypass_v[2]))
		return 1;
	/* Where bypassed traffic goes, and the LAN clients' own prefixes
	 * (a lookup from a source with no route back is a martian). */
	if (foreign_route(AF_INET, "10.0.0.0/8", RT_TABLE_MAIN, wan_index) < 0 ||
	    foreign_route(AF_INET6, "fc00::/7", RT_TABLE_MAIN, wan_index) < 0 ||
	    foreign_route(AF_INET, LAN_NET4, RT_TABLE_MAIN, lan_index) < 0 ||
	    foreign_route(AF_INET6, LAN_NET6, RT_TABLE_MAIN, lan_index) < 0)
		return 1;
	return 0;
}

/* Reading back. */

struct rule_want {
	int family;
	const char *iif;
	uint32_t prio;
	uint32_t table;
	int ipproto; /* -1: none */
	const char *dst; /* NULL: none */
	int found;
	int ours; /* rules with MPTUN_RTPROT seen */
};

static bool dst_equal(struct nl_addr *got, const char *want, int family)
{
	struct nl_addr *w;
	bool eq;

	if (!got || !want)
		return !got && !want;
	w = parse(want, family);
	eq = w && nl_addr_get_family(got) == family &&
	     nl_addr_get_prefixlen(got) == nl_addr_get_prefixlen(w) &&
	     !memcmp(nl_addr_get_binary_addr(got), nl_addr_get_binary_addr(w),
		     nl_addr_get_len(w));
	nl_addr_put(w);
	return eq;
}

static void rule_match(struct nl_object *obj, void *arg)
{
	struct rtnl_rule *r = (struct rtnl_rule *)obj;
	struct rule_want *w = arg;
	uint8_t proto, ipproto;
	int have_ipproto;
	const char *iif;

	if (rtnl_rule_get_protocol(r, &proto) < 0 || proto != MPTUN_RTPROT)
		return;
	w->ours++;
	have_ipproto = rtnl_rule_get_ipproto(r, &ipproto) == 0;
	iif = rtnl_rule_get_iif(r);
	if (rtnl_rule_get_family(r) == w->family && iif && w->iif &&
	    !strcmp(iif, w->iif) && rtnl_rule_get_prio(r) == w->prio &&
	    rtnl_rule_get_table(r) == w->table &&
	    rtnl_rule_get_action(r) == FR_ACT_TO_TBL &&
	    (w->ipproto < 0 ? !have_ipproto
			    : have_ipproto && ipproto == w->ipproto) &&
	    dst_equal(rtnl_rule_get_dst(r), w->dst, w->family))
		w->found++;
}

static void rules_scan(struct rule_want *w)
{
	struct nl_cache *cache;

	assert_int_equal(rtnl_rule_alloc_cache(sk, AF_UNSPEC, &cache), 0);
	nl_cache_foreach(cache, rule_match, w);
	nl_cache_free(cache);
}

static int ours_rules(void)
{
	struct rule_want w = { .family = -1 };

	rules_scan(&w);
	return w.ours;
}

/* Exactly one of ours matches. */
static void expect_rule(int family, const char *iif, uint32_t prio,
			uint32_t table, int ipproto, const char *dst)
{
	struct rule_want w = { family, iif, prio, table, ipproto, dst, 0, 0 };

	rules_scan(&w);
	if (w.found != 1)
		fail_msg("%d rules family %d iif %s prio %u table %u ipproto "
			 "%d dst %s",
			 w.found, family, iif, prio, table, ipproto,
			 dst ? dst : "-");
}

/* A rule that is not ours, with a protocol of its own. */
static struct rtnl_rule *foreign_rule(void)
{
	struct rtnl_rule *r = rtnl_rule_alloc();

	rtnl_rule_set_family(r, AF_INET);
	rtnl_rule_set_prio(r, 100);
	rtnl_rule_set_table(r, TABLE);
	rtnl_rule_set_action(r, FR_ACT_TO_TBL);
	rtnl_rule_set_iif(r, LAN);
	rtnl_rule_set_protocol(r, RTPROT_STATIC);
	return r;
}

static void foreign_match(struct nl_object *obj, void *arg)
{
	struct rtnl_rule *r = (struct rtnl_rule *)obj;
	uint8_t proto;

	if (rtnl_rule_get_protocol(r, &proto) == 0 &&
	    proto == RTPROT_STATIC && rtnl_rule_get_prio(r) == 100 &&
	    rtnl_rule_get_table(r) == TABLE)
		++*(int *)arg;
}

static int foreign_rules(void)
{
	struct nl_cache *cache;
	int n = 0;

	assert_int_equal(rtnl_rule_alloc_cache(sk, AF_UNSPEC, &cache), 0);
	nl_cache_foreach(cache, foreign_match, &n);
	nl_cache_free(cache);
	return n;
}

struct route_count {
	uint32_t table;
	int n[2]; /* IPv4, IPv6 */
	int ours_to_tun[2];
};

static void route_match(struct nl_object *obj, void *arg)
{
	struct rtnl_route *rt = (struct rtnl_route *)obj;
	struct route_count *rc = arg;
	int v6 = rtnl_route_get_family(rt) == AF_INET6;
	struct nl_addr *dst = rtnl_route_get_dst(rt);
	struct rtnl_nexthop *nh;

	if (rtnl_route_get_table(rt) != rc->table)
		return;
	rc->n[v6]++;
	if (rtnl_route_get_nnexthops(rt) != 1)
		return;
	nh = rtnl_route_nexthop_n(rt, 0);
	if (rtnl_route_get_protocol(rt) == MPTUN_RTPROT &&
	    rtnl_route_get_type(rt) == RTN_UNICAST && dst &&
	    nl_addr_get_prefixlen(dst) == 0 &&
	    rtnl_route_nh_get_ifindex(nh) == tun_index)
		rc->ours_to_tun[v6]++;
}

static struct route_count routes_in(uint32_t table)
{
	struct route_count rc = { .table = table };
	struct nl_cache *cache;

	assert_int_equal(rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &cache), 0);
	nl_cache_foreach(cache, route_match, &rc);
	nl_cache_free(cache);
	return rc;
}

/* What the kernel would do with a packet from a LAN client arriving on
 * iif: RTM_GETROUTE, as `ip route get DST from CLIENT iif IIF ipproto P`. */
struct lookup {
	int err;
	uint32_t table;
	int oif;
};

static int lookup_reply(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct rtmsg *rtm = nlmsg_data(h);
	struct lookup *l = arg;
	struct nlattr *tb[RTA_MAX + 1];

	if (h->nlmsg_type != RTM_NEWROUTE ||
	    nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return NL_SKIP;
	l->table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	l->oif = tb[RTA_OIF] ? (int)nla_get_u32(tb[RTA_OIF]) : 0;
	return NL_OK;
}

static struct lookup route_get(int family, const char *dst, int iif,
			       uint8_t ipproto)
{
	/* Without RTM_F_LOOKUP_TABLE the answer says table main whatever
	 * table the route came from. */
	struct rtmsg rtm = { .rtm_family = (uint8_t)family,
			     .rtm_dst_len = family == AF_INET ? 32 : 128,
			     .rtm_flags = RTM_F_LOOKUP_TABLE };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	struct lookup l = { 0 };
	const char *src = family == AF_INET ? CLIENT4 : CLIENT6;
	int alen = family == AF_INET ? 4 : 16;
	uint8_t d[16], s[16];

	assert_non_null(msg);
	assert_non_null(cb);
	assert_int_equal(inet_pton(family, dst, d), 1);
	assert_int_equal(inet_pton(family, src, s), 1);
	rtm.rtm_src_len = rtm.rtm_dst_len;
	assert_int_equal(nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO),
			 0);
	nla_put(msg, RTA_DST, alen, d);
	nla_put(msg, RTA_SRC, alen, s);
	nla_put_u32(msg, RTA_IIF, (uint32_t)iif);
	nla_put_u8(msg, RTA_IP_PROTO, ipproto);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, lookup_reply, &l);
	l.err = nl_send_auto(sk, msg);
	if (l.err >= 0)
		l.err = nl_recvmsgs(sk, cb);
	/* libnl asked for an ACK too; an error answer was the ACK. */
	if (l.err >= 0)
		l.err = nl_wait_for_ack(sk);
	nl_cb_put(cb);
	nlmsg_free(msg);
	return l;
}

static void expect_path(int family, const char *dst, uint8_t ipproto,
			uint32_t table, int oif)
{
	struct lookup l = route_get(family, dst, lan_index, ipproto);

	if (l.err < 0 || l.table != table || l.oif != oif)
		fail_msg("%s proto %u: err %d table %u oif %d, want table %u "
			 "oif %d",
			 dst, ipproto, l.err, l.table, l.oif, table, oif);
}

static struct nlroute *open_ok(void)
{
	struct nlroute *nr = nlroute_open();

	assert_non_null(nr);
	return nr;
}

/* The tests: they run in order and share the namespace. */

static void test_open_close(void **state)
{
	nlroute_close(open_ok());
	nlroute_close(NULL);
}

static bool has_addr(int ifindex, const char *want, int family)
{
	struct nl_cache *cache;
	struct nl_object *o;
	bool found = false;

	assert_int_equal(rtnl_addr_alloc_cache(sk, &cache), 0);
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		struct nl_addr *w = parse(want, family);
		if (rtnl_addr_get_ifindex(a) == ifindex && local && w &&
		    nl_addr_get_family(local) == family &&
		    !memcmp(nl_addr_get_binary_addr(local),
			    nl_addr_get_binary_addr(w), nl_addr_get_len(w)) &&
		    (unsigned)rtnl_addr_get_prefixlen(a) ==
			    nl_addr_get_prefixlen(w))
			found = true;
		nl_addr_put(w);
	}
	nl_cache_free(cache);
	return found;
}

static void test_link_setup(void **state)
{
	struct nlroute *nr = open_ok();
	struct addr_prefix a4 = { AF_INET, 30, { 198, 18, 0, 1 } };
	struct addr_prefix a6 = { AF_INET6, 64, { 0xfd, 0, [15] = 1 } };
	struct rtnl_link *link;

	assert_int_equal(nlroute_link_setup(nr, TUN, 1400, 500, &a4, &a6), 0);
	assert_int_equal(rtnl_link_get_kernel(sk, 0, TUN, &link), 0);
	assert_int_equal(rtnl_link_get_mtu(link), 1400);
	assert_int_equal(rtnl_link_get_txqlen(link), 500);
	assert_true(rtnl_link_get_flags(link) & IFF_UP);
	rtnl_link_put(link);
	assert_true(has_addr(tun_index, "198.18.0.1/30", AF_INET));
	assert_true(has_addr(tun_index, "fd00::1/64", AF_INET6));
	/* Again, as after a restart: the addresses are there already. */
	assert_int_equal(nlroute_link_setup(nr, TUN, 1500, 1000, &a4, &a6), 0);
	assert_int_equal(rtnl_link_get_kernel(sk, 0, TUN, &link), 0);
	assert_int_equal(rtnl_link_get_mtu(link), 1500);
	rtnl_link_put(link);
	nlroute_close(nr);
}

static void test_link_setup_no_address(void **state)
{
	struct nlroute *nr = open_ok();
	struct addr_prefix none = { 0 };
	struct rtnl_link *link;

	assert_int_equal(nlroute_link_setup(nr, LAN, 1500, 1000, &none, NULL),
			 0);
	assert_int_equal(rtnl_link_get_kernel(sk, 0, LAN, &link), 0);
	assert_true(rtnl_link_get_flags(link) & IFF_UP);
	rtnl_link_put(link);
	assert_int_equal(nlroute_link_setup(nr, "nosuch0", 1500, 1000, NULL,
					    NULL),
			 -ENODEV);
	/* Below the minimum MTU of a TUN (68): the kernel says no. */
	assert_int_equal(nlroute_link_setup(nr, TUN, 20, 1000, NULL, NULL),
			 -EINVAL);
	nlroute_close(nr);
}

static void test_capture_install(void **state)
{
	struct nlroute *nr = open_ok();
	struct route_count rc;

	assert_int_equal(nlroute_capture_remove(nr, TABLE), 0);
	assert_int_equal(nlroute_capture_install(nr, &capture), 0);
	/* Per family and LAN: the capture rule and one per bypass prefix of
	 * that family (IPv4 2, IPv6 1). */
	assert_int_equal(ours_rules(), 2 * (1 + 2) + 2 * (1 + 1));
	for (size_t i = 0; i < 2; i++) {
		const char *lan = lans[i];
		expect_rule(AF_INET, lan, PRIO + 1, TABLE, IPPROTO_TCP, NULL);
		expect_rule(AF_INET6, lan, PRIO + 1, TABLE, IPPROTO_TCP, NULL);
		expect_rule(AF_INET, lan, PRIO, RT_TABLE_MAIN, -1,
			    "10.0.0.0/8");
		expect_rule(AF_INET, lan, PRIO, RT_TABLE_MAIN, -1,
			    "192.168.0.0/16");
		expect_rule(AF_INET6, lan, PRIO, RT_TABLE_MAIN, -1,
			    "fc00::/7");
	}
	rc = routes_in(TABLE);
	assert_int_equal(rc.n[0], 1);
	assert_int_equal(rc.n[1], 1);
	assert_int_equal(rc.ours_to_tun[0], 1);
	assert_int_equal(rc.ours_to_tun[1], 1);
	nlroute_close(nr);
}

/* The kernel's own answer: TCP from the LAN goes to the TUN, other
 * protocols and bypassed destinations do not. */
static void test_capture_paths(void **state)
{
	expect_path(AF_INET, "192.0.2.1", IPPROTO_TCP, TABLE, tun_index);
	expect_path(AF_INET6, "2001:db8::1", IPPROTO_TCP, TABLE, tun_index);
	expect_path(AF_INET, "10.1.2.3", IPPROTO_TCP, RT_TABLE_MAIN,
		    wan_index);
	expect_path(AF_INET6, "fd00:1::1", IPPROTO_TCP, RT_TABLE_MAIN,
		    wan_index);
	expect_path(AF_INET, "10.1.2.3", IPPROTO_UDP, RT_TABLE_MAIN,
		    wan_index);
	/* UDP to elsewhere: the main table, which has no default here. */
	assert_true(route_get(AF_INET, "192.0.2.1", lan_index, IPPROTO_UDP)
			    .err < 0);
	/* From another interface: not captured. */
	assert_true(route_get(AF_INET, "192.0.2.1", wan_index, IPPROTO_TCP)
			    .err < 0);
}

static void test_capture_install_twice(void **state)
{
	struct nlroute *nr = open_ok();
	struct route_count rc;
	int before = ours_rules();

	assert_int_equal(nlroute_capture_install(nr, &capture), 0);
	assert_int_equal(ours_rules(), before);
	rc = routes_in(TABLE);
	assert_int_equal(rc.n[0] + rc.n[1], 2);
	nlroute_close(nr);
}

static void test_capture_remove(void **state)
{
	struct nlroute *nr = open_ok();
	struct rtnl_rule *r = foreign_rule();
	struct route_count rc;

	assert_int_equal(rtnl_rule_add(sk, r, NLM_F_EXCL), 0);
	rtnl_rule_put(r);
	assert_int_equal(foreign_route(AF_INET, "0.0.0.0/0", 100, wan_index),
			 0);
	assert_int_equal(nlroute_capture_remove(nr, TABLE), 0);
	assert_int_equal(ours_rules(), 0);
	rc = routes_in(TABLE);
	assert_int_equal(rc.n[0] + rc.n[1], 0);
	/* Not ours: still there. */
	assert_int_equal(foreign_rules(), 1);
	rc = routes_in(100);
	assert_int_equal(rc.n[0], 1);
	rc = routes_in(RT_TABLE_MAIN);
	assert_true(rc.n[0] >= 1 && rc.n[1] >= 1);
	/* Nothing left to remove is fine. */
	assert_int_equal(nlroute_capture_remove(nr, TABLE), 0);
	nlroute_close(nr);
}

static void test_capture_install_errors(void **state)
{
	struct nlroute *nr = open_ok();
	struct nlroute_capture c = capture;
	char *bad_lans[] = { LAN, "sixteen-bytes-xx" };

	c.tun = "nosuch0";
	assert_int_equal(nlroute_capture_install(nr, &c), -ENODEV);
	c = capture;
	c.table = RT_TABLE_MAIN;
	assert_int_equal(nlroute_capture_install(nr, &c), -EINVAL);
	c = capture;
	c.priority = UINT32_MAX;
	assert_int_equal(nlroute_capture_install(nr, &c), -EINVAL);
	c = capture;
	c.lan_ifs = bad_lans;
	assert_int_equal(nlroute_capture_install(nr, &c), -EINVAL);
	assert_int_equal(ours_rules(), 0);
	nlroute_close(nr);
}

/* IPv6 off on the TUN: the kernel refuses the IPv6 route after the IPv4
 * half is in, and all of it is taken away again. ipv4_only then works. */
static void test_capture_no_ipv6(void **state)
{
	struct nlroute *nr = open_ok();
	struct nlroute_capture c = capture;
	struct route_count rc;

	assert_int_equal(write_sysctl(DISABLE_IPV6, "1\n"), 0);
	assert_int_equal(nlroute_capture_install(nr, &c), -EACCES);
	assert_int_equal(ours_rules(), 0);
	rc = routes_in(TABLE);
	assert_int_equal(rc.n[0] + rc.n[1], 0);
	c.ipv4_only = true;
	assert_int_equal(nlroute_capture_install(nr, &c), 0);
	assert_int_equal(ours_rules(), 2 * (1 + 2));
	rc = routes_in(TABLE);
	assert_int_equal(rc.ours_to_tun[0], 1);
	assert_int_equal(rc.n[1], 0);
	expect_path(AF_INET, "192.0.2.1", IPPROTO_TCP, TABLE, tun_index);
	assert_int_equal(nlroute_capture_remove(nr, TABLE), 0);
	assert_int_equal(ours_rules(), 0);
	assert_int_equal(write_sysctl(DISABLE_IPV6, "0\n"), 0);
	nlroute_close(nr);
}

/* Installed with no bypass list and one LAN, then removed at exit. */
static void test_capture_minimal(void **state)
{
	struct nlroute *nr = open_ok();
	struct nlroute_capture c = capture;

	c.bypass = NULL;
	c.n_lan = 1;
	assert_int_equal(nlroute_capture_install(nr, &c), 0);
	assert_int_equal(ours_rules(), 2);
	expect_path(AF_INET, "10.1.2.3", IPPROTO_TCP, TABLE, tun_index);
	assert_int_equal(nlroute_capture_remove(nr, TABLE), 0);
	assert_int_equal(ours_rules(), 0);
	nlroute_close(nr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_close),
		cmocka_unit_test(test_link_setup),
		cmocka_unit_test(test_link_setup_no_address),
		cmocka_unit_test(test_capture_install),
		cmocka_unit_test(test_capture_paths),
		cmocka_unit_test(test_capture_install_twice),
		cmocka_unit_test(test_capture_remove),
		cmocka_unit_test(test_capture_install_errors),
		cmocka_unit_test(test_capture_no_ipv6),
		cmocka_unit_test(test_capture_minimal),
	};
	int rc = setup_netns();

	if (rc)
		return rc;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (tun_fd >= 0)
		close(tun_fd);
	nl_socket_free(sk);
	return rc;
}
