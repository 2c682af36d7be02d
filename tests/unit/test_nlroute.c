/* lib/nlroute.c against the kernel, in a private network namespace made at
 * start (nothing on the host is touched). Needs root: exits 77 otherwise.
 *
 * Devices: mptun0 (a TUN, or a stand-in when /dev/net/tun is missing),
 * lan0 (the captured side) and wan0 (where the main table's routes go):
 * dummies, or empty bridges on kernels without the dummy driver. The
 * uplink tests make veth pairs of their own (both ends here) and delete
 * them at the end. Everything is read back through libnl, and the kernel
 * is asked which route a packet would take (RTM_GETROUTE with iif and
 * ipproto, or from a local source). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
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
	char gw[INET6_ADDRSTRLEN]; /* "": none */
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
	if (tb[RTA_GATEWAY])
		inet_ntop(rtm->rtm_family, nla_data(tb[RTA_GATEWAY]), l->gw,
			  sizeof(l->gw));
	return NL_OK;
}

/* iif 0: a packet of the host's own, from src. */
static struct lookup route_query(int family, const char *dst,
				 const char *src, int iif, uint8_t ipproto)
{
	/* Without RTM_F_LOOKUP_TABLE the answer says table main whatever
	 * table the route came from. */
	struct rtmsg rtm = { .rtm_family = (uint8_t)family,
			     .rtm_dst_len = family == AF_INET ? 32 : 128,
			     .rtm_flags = RTM_F_LOOKUP_TABLE };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	struct lookup l = { 0 };
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
	if (iif)
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

static struct lookup route_get(int family, const char *dst, int iif,
			       uint8_t ipproto)
{
	return route_query(family, dst, family == AF_INET ? CLIENT4 : CLIENT6,
			   iif, ipproto);
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

/* Uplinks. */

static void link_flags_set(const char *name, unsigned on, unsigned off)
{
	struct rtnl_link *link, *change = rtnl_link_alloc();

	assert_non_null(change);
	assert_int_equal(rtnl_link_get_kernel(sk, 0, name, &link), 0);
	if (on)
		rtnl_link_set_flags(change, on);
	if (off)
		rtnl_link_unset_flags(change, off);
	assert_int_equal(rtnl_link_change(sk, link, change, 0), 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
}

/* A veth pair, both down: name and name "p", its far end. */
static int veth_new(const char *name)
{
	char peer[IFNAMSIZ];

	snprintf(peer, sizeof(peer), "%sp", name);
	assert_int_equal(rtnl_link_veth_add(sk, name, peer, getpid()), 0);
	return (int)if_nametoindex(name);
}

/* A veth pair: name, up, and its far end, up when peer_up (name has a
 * carrier then). */
static int uplink_new(const char *name, bool peer_up)
{
	char peer[IFNAMSIZ];

	snprintf(peer, sizeof(peer), "%sp", name);
	veth_new(name);
	link_flags_set(name, IFF_UP, 0);
	if (peer_up)
		link_flags_set(peer, IFF_UP, 0);
	return (int)if_nametoindex(name);
}

/* Both ends go, and every address and route on them. */
static void uplink_del(const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();

	rtnl_link_set_name(l, name);
	assert_int_equal(rtnl_link_delete(sk, l), 0);
	rtnl_link_put(l);
}

static void ipv6_off(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 name);
	assert_int_equal(write_sysctl(path, "1\n"), 0);
}

/* s: "100.66.0.2/24"; IPv6 with IFA_F_NODAD unless dad. A deprecated one
 * has a preferred lifetime of 0. */
static void addr_put(int ifindex, const char *s, int scope, bool dad,
		     bool deprecated)
{
	int family = strchr(s, ':') ? AF_INET6 : AF_INET;
	struct nl_addr *local = parse(s, family);
	struct rtnl_addr *a = rtnl_addr_alloc();

	assert_non_null(local);
	assert_non_null(a);
	rtnl_addr_set_ifindex(a, ifindex);
	assert_int_equal(rtnl_addr_set_local(a, local), 0);
	rtnl_addr_set_prefixlen(a, (int)nl_addr_get_prefixlen(local));
	rtnl_addr_set_scope(a, scope);
	if (family == AF_INET6 && !dad)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	if (deprecated) {
		rtnl_addr_set_valid_lifetime(a, 0xffffffff);
		rtnl_addr_set_preferred_lifetime(a, 0);
	}
	assert_int_equal(rtnl_addr_add(sk, a, 0), 0);
	rtnl_addr_put(a);
	nl_addr_put(local);
}

/* The kernel's flags of address s on ifindex; -1: not there. */
static long addr_flags(int ifindex, const char *s)
{
	struct nl_addr *w = parse(s, strchr(s, ':') ? AF_INET6 : AF_INET);
	struct nl_cache *cache;
	struct nl_object *o;
	long flags = -1;

	assert_int_equal(rtnl_addr_alloc_cache(sk, &cache), 0);
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		if (rtnl_addr_get_ifindex(a) == ifindex && local &&
		    nl_addr_get_family(local) == nl_addr_get_family(w) &&
		    !memcmp(nl_addr_get_binary_addr(local),
			    nl_addr_get_binary_addr(w), nl_addr_get_len(w)))
			flags = rtnl_addr_get_flags(a);
	}
	nl_cache_free(cache);
	nl_addr_put(w);
	return flags;
}

/* "default [via gw] dev ifindex table T metric M proto static". */
static void default_put(int family, const char *gw, int ifindex,
			uint32_t table, uint32_t metric, int flags)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = parse(family == AF_INET ? "0.0.0.0/0" : "::/0",
				    family);
	struct nl_addr *g = gw ? parse(gw, family) : NULL;

	assert_true(rt && nh && dst && (g || !gw));
	rtnl_route_set_family(rt, (uint8_t)family);
	rtnl_route_set_table(rt, table);
	rtnl_route_set_protocol(rt, RTPROT_STATIC);
	rtnl_route_set_scope(rt, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_set_priority(rt, metric);
	assert_int_equal(rtnl_route_set_dst(rt, dst), 0);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (g)
		rtnl_route_nh_set_gateway(nh, g);
	rtnl_route_add_nexthop(rt, nh);
	if (rtnl_route_add(sk, rt, flags) < 0)
		fail_msg("default via %s dev %d table %u metric %u",
			 gw ? gw : "-", ifindex, table, metric);
	nl_addr_put(g);
	nl_addr_put(dst);
	rtnl_route_put(rt);
}

/* Address and scope id, or ss_family 0 when want is NULL. */
static void expect_sa(const struct sockaddr_storage *ss, const char *want,
		      uint32_t scope_id)
{
	char got[INET6_ADDRSTRLEN] = "";
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

	if (!want) {
		assert_int_equal(ss->ss_family, 0);
		return;
	}
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, got, sizeof(got));
		assert_int_equal(sin->sin_port, 0);
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, got, sizeof(got));
		assert_int_equal(sin6->sin6_port, 0);
		assert_int_equal(sin6->sin6_scope_id, scope_id);
	}
	assert_string_equal(got, want);
}

static struct nlroute_link query_ok(struct nlroute *nr, const char *name,
				    int family)
{
	struct nlroute_link l;

	memset(&l, 0xa5, sizeof(l));
	assert_int_equal(nlroute_link_query(nr, name, family, &l), 0);
	return l;
}

static void expect_gw(struct nlroute *nr, const char *name, int family,
		      const char *want, uint32_t scope_id)
{
	struct nlroute_link l = query_ok(nr, name, family);

	expect_sa(&l.gateway, want, scope_id);
}

static void test_link_query_missing(void **state)
{
	struct nlroute *nr = open_ok();
	struct nlroute_link l = query_ok(nr, "nosuch0", AF_INET6), z = { 0 };

	assert_memory_equal(&l, &z, sizeof(l));
	memset(&l, 0xa5, sizeof(l));
	assert_int_equal(nlroute_link_query(nr, WAN, AF_UNSPEC, &l), -EINVAL);
	assert_int_equal(nlroute_link_query(nr, "", AF_INET, &l), -EINVAL);
	assert_int_equal(nlroute_link_query(nr, NULL, AF_INET, &l), -EINVAL);
	assert_int_equal(nlroute_link_query(nr, "sixteen-bytes-xx", AF_INET,
					    &l),
			 -EINVAL);
	assert_int_equal(l.ifindex, (int)0xa5a5a5a5); /* untouched */
	nlroute_close(nr);
}

/* The first usable global address, in the kernel's order: IPv4 by scope,
 * primaries before their secondaries; IPv6 global ones before link-local
 * ones, newest first. */
static void test_link_query_addresses(void **state)
{
	struct nlroute *nr = open_ok();
	/* Peer down: no carrier, so duplicate address detection waits and
	 * an address added with it stays tentative. */
	int ifindex = uplink_new("wa0", false);
	struct nlroute_link l;

	addr_put(ifindex, "169.254.7.2/16", RT_SCOPE_LINK, false, false);
	addr_put(ifindex, "100.66.0.2/24", RT_SCOPE_UNIVERSE, false, false);
	addr_put(ifindex, "100.66.0.3/24", RT_SCOPE_UNIVERSE, false, false);
	addr_put(ifindex, "fe80::2/64", 0, false, false);
	addr_put(ifindex, "2001:db8:66::2/64", 0, false, false);
	addr_put(ifindex, "2001:db8:66::3/64", 0, false, true);
	addr_put(ifindex, "2001:db8:66::4/64", 0, true, false);
	assert_true(addr_flags(ifindex, "2001:db8:66::3/64") &
		    IFA_F_DEPRECATED);
	if (!(addr_flags(ifindex, "2001:db8:66::4/64") & IFA_F_TENTATIVE))
		fprintf(stderr, "test_nlroute: no tentative address "
				"(accept_dad off?): that case is untested\n");
	l = query_ok(nr, "wa0", AF_INET);
	assert_int_equal(l.ifindex, ifindex);
	assert_false(l.up);
	assert_false(l.pointopoint);
	expect_sa(&l.addr, "100.66.0.2", 0);
	expect_sa(&l.gateway, NULL, 0);
	l = query_ok(nr, "wa0", AF_INET6);
	assert_int_equal(l.ifindex, ifindex);
	expect_sa(&l.addr, "2001:db8:66::2", 0);
	/* Only link-local ones left: none. */
	l = query_ok(nr, LAN, AF_INET6);
	assert_int_equal(l.ifindex, lan_index);
	expect_sa(&l.addr, NULL, 0);
	uplink_del("wa0");
	nlroute_close(nr);
}

static void test_link_query_state(void **state)
{
	struct nlroute *nr = open_ok();
	int ifindex = uplink_new("ws0", true);
	struct nlroute_link l;

	l = query_ok(nr, "ws0", AF_INET);
	assert_int_equal(l.ifindex, ifindex);
	assert_true(l.up);
	assert_false(l.pointopoint);
	expect_sa(&l.addr, NULL, 0);
	link_flags_set("ws0p", 0, IFF_UP); /* the cable's other end */
	assert_false(query_ok(nr, "ws0", AF_INET).up);
	link_flags_set("ws0p", IFF_UP, 0);
	assert_true(query_ok(nr, "ws0", AF_INET).up);
	link_flags_set("ws0", 0, IFF_UP);
	assert_false(query_ok(nr, "ws0", AF_INET6).up);
	link_flags_set("ws0", IFF_UP | IFF_NOARP, 0);
	l = query_ok(nr, "ws0", AF_INET6);
	assert_true(l.up && l.pointopoint);
	if (tun_fd >= 0) /* a TUN is IFF_POINTOPOINT, no carrier here */
		assert_true(query_ok(nr, TUN, AF_INET).pointopoint);
	uplink_del("ws0");
	nlroute_close(nr);
}

static void test_link_query_gateway(void **state)
{
	struct nlroute *nr = open_ok();
	int wg0 = uplink_new("wg0", true), wg1 = uplink_new("wg1", true);

	addr_put(wg0, "100.64.1.2/24", 0, false, false);
	addr_put(wg1, "100.64.2.2/24", 0, false, false);
	addr_put(wg0, "2001:db8:64:1::2/64", 0, false, false);
	expect_gw(nr, "wg0", AF_INET, NULL, 0);
	/* Another device's (lower metric) and another table's: not it. */
	default_put(AF_INET, "100.64.2.1", wg1, RT_TABLE_MAIN, 5, NLM_F_EXCL);
	default_put(AF_INET, "100.64.1.99", wg0, 100, 1, NLM_F_EXCL);
	default_put(AF_INET, "100.64.1.1", wg0, RT_TABLE_MAIN, 100,
		    NLM_F_EXCL);
	expect_gw(nr, "wg0", AF_INET, "100.64.1.1", 0);
	/* The lowest metric wins; this one has the same key (destination,
	 * tos, metric) as wg1's, which a libnl route cache would drop. */
	default_put(AF_INET, "100.64.1.254", wg0, RT_TABLE_MAIN, 5,
		    NLM_F_APPEND);
	expect_gw(nr, "wg0", AF_INET, "100.64.1.254", 0);
	expect_gw(nr, "wg1", AF_INET, "100.64.2.1", 0);
	/* A device route below: no gateway. */
	default_put(AF_INET, NULL, wg1, RT_TABLE_MAIN, 1, NLM_F_EXCL);
	expect_gw(nr, "wg1", AF_INET, NULL, 0);
	/* IPv6: two link-local gateways with one metric make one multipath
	 * route; each device finds its own nexthop. */
	expect_gw(nr, "wg0", AF_INET6, NULL, 0);
	default_put(AF_INET6, "fe80::1", wg0, RT_TABLE_MAIN, 1024,
		    NLM_F_EXCL);
	default_put(AF_INET6, "fe80::2", wg1, RT_TABLE_MAIN, 1024,
		    NLM_F_APPEND);
	expect_gw(nr, "wg0", AF_INET6, "fe80::1",
		  (uint32_t)wg0);
	expect_gw(nr, "wg1", AF_INET6, "fe80::2",
		  (uint32_t)wg1);
	default_put(AF_INET6, "2001:db8:64:1::1", wg0, RT_TABLE_MAIN, 10,
		    NLM_F_EXCL);
	expect_gw(nr, "wg0", AF_INET6, "2001:db8:64:1::1",
		  0);
	uplink_del("wg0");
	uplink_del("wg1");
	nlroute_close(nr);
}

/* Our rules that look up table; with src, exactly those from it at prio
 * must be all of them. */
struct path_rules {
	uint32_t table;
	int n;
	int from; /* of those: from src at prio */
	const char *src;
	uint32_t prio;
};

static void path_rule_match(struct nl_object *obj, void *arg)
{
	struct rtnl_rule *r = (struct rtnl_rule *)obj;
	struct path_rules *w = arg;
	uint8_t proto;

	if (rtnl_rule_get_protocol(r, &proto) < 0 || proto != MPTUN_RTPROT ||
	    rtnl_rule_get_table(r) != w->table)
		return;
	w->n++;
	if (w->src && rtnl_rule_get_prio(r) == w->prio &&
	    rtnl_rule_get_action(r) == FR_ACT_TO_TBL &&
	    dst_equal(rtnl_rule_get_src(r), w->src, rtnl_rule_get_family(r)))
		w->from++;
}

static int path_rules(uint32_t table)
{
	struct path_rules w = { .table = table };
	struct nl_cache *cache;

	assert_int_equal(rtnl_rule_alloc_cache(sk, AF_UNSPEC, &cache), 0);
	nl_cache_foreach(cache, path_rule_match, &w);
	nl_cache_free(cache);
	return w.n;
}

static void expect_one_rule(uint32_t table, const char *src, uint32_t prio)
{
	struct path_rules w = { table, 0, 0, src, prio };
	struct nl_cache *cache;

	assert_int_equal(rtnl_rule_alloc_cache(sk, AF_UNSPEC, &cache), 0);
	nl_cache_foreach(cache, path_rule_match, &w);
	nl_cache_free(cache);
	if (w.n != 1 || w.from != 1)
		fail_msg("table %u: %d rules, %d from %s prio %u", table, w.n,
			 w.from, src, prio);
}

static struct sockaddr_storage sa_of(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_true(addr_parse_host(s, &ss, &len));
	return ss;
}

/* A packet of the host's own from src to dst leaves through oif via gw
 * ("" for none), as table said. */
static void expect_out(int family, const char *src, const char *dst,
		       uint32_t table, int oif, const char *gw)
{
	struct lookup l = route_query(family, dst, src, 0, IPPROTO_TCP);

	if (l.err < 0 || l.table != table || l.oif != oif ||
	    strcmp(l.gw, gw))
		fail_msg("%s from %s: err %d table %u oif %d via %s, want "
			 "table %u oif %d via %s",
			 dst, src, l.err, l.table, l.oif, l.gw, table, oif, gw);
}

#define PATH_TABLE 7200
#define PATH_PRIO  7200

static void test_path_install(void **state)
{
	struct nlroute *nr = open_ok();
	int ifindex = uplink_new("wp0", true);
	struct sockaddr_storage src = sa_of("100.65.0.2");
	struct sockaddr_storage gw = sa_of("100.65.0.1");
	struct nlroute_path p = { AF_INET, PATH_TABLE, PATH_PRIO, ifindex,
				  (struct sockaddr *)&src,
				  (struct sockaddr *)&gw };
	struct lookup l;

	addr_put(ifindex, "100.65.0.2/24", 0, false, false);
	addr_put(ifindex, "100.65.1.2/24", 0, false, false);
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	expect_one_rule(PATH_TABLE, "100.65.0.2/32", PATH_PRIO);
	assert_int_equal(routes_in(PATH_TABLE).n[0], 1);
	expect_out(AF_INET, "100.65.0.2", "192.0.2.77", PATH_TABLE, ifindex,
		   "100.65.0.1");
	/* Another source keeps the main table (no default route there). */
	l = route_query(AF_INET, "192.0.2.77", "100.65.1.2", 0, IPPROTO_TCP);
	assert_true(l.err < 0 || l.table != PATH_TABLE);
	/* Twice: one rule, one route; a new gateway replaces the route. */
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	gw = sa_of("100.65.0.254");
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	expect_one_rule(PATH_TABLE, "100.65.0.2/32", PATH_PRIO);
	assert_int_equal(routes_in(PATH_TABLE).n[0], 1);
	expect_out(AF_INET, "100.65.0.2", "192.0.2.77", PATH_TABLE, ifindex,
		   "100.65.0.254");
	assert_int_equal(nlroute_path_remove(nr, PATH_TABLE), 0);
	assert_int_equal(path_rules(PATH_TABLE), 0);
	assert_int_equal(routes_in(PATH_TABLE).n[0], 0);
	assert_int_equal(nlroute_path_remove(nr, PATH_TABLE), 0);
	uplink_del("wp0");
	nlroute_close(nr);
}

/* A point-to-point link: the route has no gateway, with gateway NULL or
 * of family 0. */
static void test_path_device_route(void **state)
{
	struct nlroute *nr = open_ok();
	int ifindex = uplink_new("wp1", true);
	struct sockaddr_storage src = sa_of("100.65.2.2"), none = { 0 };
	struct nlroute_path p = { AF_INET, PATH_TABLE + 1, PATH_PRIO + 1,
				  ifindex, (struct sockaddr *)&src, NULL };

	link_flags_set("wp1", IFF_NOARP, 0);
	addr_put(ifindex, "100.65.2.2/32", 0, false, false);
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	expect_out(AF_INET, "100.65.2.2", "192.0.2.78", PATH_TABLE + 1,
		   ifindex, "");
	p.gateway = (struct sockaddr *)&none;
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	assert_int_equal(routes_in(PATH_TABLE + 1).n[0], 1);
	expect_one_rule(PATH_TABLE + 1, "100.65.2.2/32", PATH_PRIO + 1);
	expect_out(AF_INET, "100.65.2.2", "192.0.2.78", PATH_TABLE + 1,
		   ifindex, "");
	assert_int_equal(nlroute_path_remove(nr, PATH_TABLE + 1), 0);
	assert_int_equal(path_rules(PATH_TABLE + 1), 0);
	uplink_del("wp1");
	nlroute_close(nr);
}

/* IPv6 through a link-local gateway, then a global one; an IPv4 path in
 * the same table; one remove takes both families. */
static void test_path_ipv6(void **state)
{
	struct nlroute *nr = open_ok();
	int ifindex = uplink_new("wp2", true);
	struct sockaddr_storage src = sa_of("2001:db8:65::2");
	struct sockaddr_storage gw = sa_of("fe80::1");
	struct sockaddr_storage src4 = sa_of("100.65.3.2");
	struct sockaddr_storage gw4 = sa_of("100.65.3.1");
	struct nlroute_path p = { AF_INET6, PATH_TABLE + 2, PATH_PRIO + 2,
				  ifindex, (struct sockaddr *)&src,
				  (struct sockaddr *)&gw };
	struct nlroute_path p4 = { AF_INET, PATH_TABLE + 2, PATH_PRIO + 2,
				   ifindex, (struct sockaddr *)&src4,
				   (struct sockaddr *)&gw4 };
	struct route_count rc;

	addr_put(ifindex, "2001:db8:65::2/64", 0, false, false);
	addr_put(ifindex, "100.65.3.2/24", 0, false, false);
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	expect_out(AF_INET6, "2001:db8:65::2", "2001:db8:ffff::1",
		   PATH_TABLE + 2, ifindex, "fe80::1");
	gw = sa_of("2001:db8:65::1");
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	expect_out(AF_INET6, "2001:db8:65::2", "2001:db8:ffff::1",
		   PATH_TABLE + 2, ifindex, "2001:db8:65::1");
	expect_one_rule(PATH_TABLE + 2, "2001:db8:65::2/128", PATH_PRIO + 2);
	assert_int_equal(nlroute_path_install(nr, &p4), 0);
	expect_out(AF_INET, "100.65.3.2", "192.0.2.79", PATH_TABLE + 2,
		   ifindex, "100.65.3.1");
	rc = routes_in(PATH_TABLE + 2);
	assert_int_equal(rc.n[0], 1);
	assert_int_equal(rc.n[1], 1);
	assert_int_equal(path_rules(PATH_TABLE + 2), 2);
	assert_int_equal(nlroute_path_remove(nr, PATH_TABLE + 2), 0);
	rc = routes_in(PATH_TABLE + 2);
	assert_int_equal(rc.n[0] + rc.n[1], 0);
	assert_int_equal(path_rules(PATH_TABLE + 2), 0);
	uplink_del("wp2");
	nlroute_close(nr);
}

static void test_path_install_errors(void **state)
{
	static const uint32_t bad_tables[] = { 0, 253, 254, 255, 0xffffffff };
	struct nlroute *nr = open_ok();
	int ifindex = uplink_new("wp3", true);
	struct sockaddr_storage src = sa_of("100.65.4.2");
	struct sockaddr_storage gw = sa_of("100.65.4.1");
	struct sockaddr_storage src6 = sa_of("2001:db8:65::2");
	struct nlroute_path ok = { AF_INET, PATH_TABLE + 3, PATH_PRIO + 3,
				   ifindex, (struct sockaddr *)&src,
				   (struct sockaddr *)&gw };
	struct nlroute_path p;
	struct route_count rc;

	addr_put(ifindex, "100.65.4.2/24", 0, false, false);
	for (size_t i = 0; i < sizeof(bad_tables) / sizeof(bad_tables[0]);
	     i++) {
		p = ok;
		p.table = bad_tables[i];
		assert_int_equal(nlroute_path_install(nr, &p), -EINVAL);
		assert_int_equal(nlroute_path_remove(nr, bad_tables[i]),
				 -EINVAL);
	}
	p = ok;
	p.family = AF_INET6; /* source and gateway are IPv4 */
	assert_int_equal(nlroute_path_install(nr, &p), -EINVAL);
	p.source = (struct sockaddr *)&src6; /* the gateway still is */
	assert_int_equal(nlroute_path_install(nr, &p), -EINVAL);
	p = ok;
	p.source = NULL;
	assert_int_equal(nlroute_path_install(nr, &p), -EINVAL);
	p = ok;
	p.ifindex = 0;
	assert_int_equal(nlroute_path_install(nr, &p), -EINVAL);
	assert_int_equal(nlroute_path_install(nr, NULL), -EINVAL);
	assert_int_equal(path_rules(PATH_TABLE + 3), 0);
	/* The kernel refuses a gateway off the link: what was installed
	 * goes too. */
	assert_int_equal(nlroute_path_install(nr, &ok), 0);
	gw = sa_of("100.99.0.1");
	assert_true(nlroute_path_install(nr, &ok) < 0);
	assert_int_equal(path_rules(PATH_TABLE + 3), 0);
	rc = routes_in(PATH_TABLE + 3);
	assert_int_equal(rc.n[0] + rc.n[1], 0);
	uplink_del("wp3");
	nlroute_close(nr);
}

/* A path's remove leaves the capture alone; the capture's remove takes
 * every rule of ours, the paths' too (what a restart after a crash
 * needs). */
static void test_path_remove_keeps_capture(void **state)
{
	struct nlroute *nr = open_ok();
	int ifindex = uplink_new("wp4", true);
	struct sockaddr_storage src = sa_of("100.65.5.2");
	struct sockaddr_storage gw = sa_of("100.65.5.1");
	struct nlroute_path p = { AF_INET, PATH_TABLE + 4, PATH_PRIO + 4,
				  ifindex, (struct sockaddr *)&src,
				  (struct sockaddr *)&gw };
	struct route_count rc;
	int capture_rules;

	addr_put(ifindex, "100.65.5.2/24", 0, false, false);
	assert_int_equal(nlroute_capture_install(nr, &capture), 0);
	capture_rules = ours_rules();
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	assert_int_equal(ours_rules(), capture_rules + 1);
	assert_int_equal(nlroute_path_remove(nr, PATH_TABLE + 4), 0);
	assert_int_equal(ours_rules(), capture_rules);
	rc = routes_in(TABLE);
	assert_int_equal(rc.ours_to_tun[0] + rc.ours_to_tun[1], 2);
	rc = routes_in(PATH_TABLE + 4);
	assert_int_equal(rc.n[0] + rc.n[1], 0);
	expect_path(AF_INET, "192.0.2.1", IPPROTO_TCP, TABLE, tun_index);
	assert_int_equal(nlroute_path_install(nr, &p), 0);
	assert_int_equal(nlroute_capture_remove(nr, TABLE), 0);
	assert_int_equal(ours_rules(), 0);
	assert_int_equal(nlroute_path_remove(nr, PATH_TABLE + 4), 0);
	rc = routes_in(PATH_TABLE + 4);
	assert_int_equal(rc.n[0] + rc.n[1], 0);
	uplink_del("wp4");
	nlroute_close(nr);
}

/* Monitor. */

static void expect_change(struct nlroute_monitor *m)
{
	struct pollfd pfd = { .fd = nlroute_monitor_fd(m), .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_true(nlroute_monitor_drain(m) > 0);
	assert_int_equal(nlroute_monitor_drain(m), 0);
}

/* IPv6 off on the device, its peer down: nothing happens later on its
 * own (no link-local address, no duplicate address detection, no carrier
 * change), so every notification is the test's doing. */
static void test_monitor(void **state)
{
	struct nlroute_monitor *m;
	int fd, ifindex = veth_new("wm0");

	ipv6_off("wm0");
	m = nlroute_monitor_open();
	assert_non_null(m);
	fd = nlroute_monitor_fd(m);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(nlroute_monitor_drain(m) >= 0);
	assert_int_equal(nlroute_monitor_drain(m), 0);
	addr_put(ifindex, "100.67.0.2/24", 0, false, false);
	expect_change(m);
	link_flags_set("wm0", IFF_UP, 0);
	expect_change(m);
	assert_int_equal(foreign_route(AF_INET, "198.51.100.0/24", 7300,
				       ifindex),
			 0);
	expect_change(m);
	assert_int_equal(foreign_route(AF_INET6, "2001:db8:67::/64", 7300,
				       wan_index),
			 0);
	expect_change(m);
	uplink_del("wm0");
	expect_change(m);
	nlroute_monitor_close(m);
	nlroute_monitor_close(NULL);
}

/* The kernel's count of what it could not queue on the socket of inode. */
static long netlink_drops(unsigned long inode)
{
	FILE *f = fopen("/proc/net/netlink", "re");
	char line[256];
	long drops = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long ino;
		long d;
		if (sscanf(line, "%*s %*d %*u %*x %*d %*d %*d %*d %ld %lu", &d,
			   &ino) == 2 &&
		    ino == inode)
			drops = d;
	}
	fclose(f);
	return drops;
}

/* More notifications than the socket holds: a change, not an error. */
static void test_monitor_overrun(void **state)
{
	struct nlroute_monitor *m = nlroute_monitor_open();
	int ifindex = uplink_new("wo0", false), small = 1;
	struct stat st;
	char dst[32];

	assert_non_null(m);
	assert_int_equal(setsockopt(nlroute_monitor_fd(m), SOL_SOCKET,
				    SO_RCVBUF, &small, sizeof(small)),
			 0);
	assert_int_equal(fstat(nlroute_monitor_fd(m), &st), 0);
	assert_true(nlroute_monitor_drain(m) >= 0);
	for (int i = 0; i < 64; i++) {
		snprintf(dst, sizeof(dst), "198.51.100.%d/32", i);
		assert_int_equal(foreign_route(AF_INET, dst, 7301, ifindex),
				 0);
	}
	assert_true(netlink_drops(st.st_ino) > 0);
	assert_true(nlroute_monitor_drain(m) > 0);
	assert_int_equal(nlroute_monitor_drain(m), 0);
	uplink_del("wo0");
	nlroute_monitor_close(m);
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
		cmocka_unit_test(test_link_query_missing),
		cmocka_unit_test(test_link_query_addresses),
		cmocka_unit_test(test_link_query_state),
		cmocka_unit_test(test_link_query_gateway),
		cmocka_unit_test(test_path_install),
		cmocka_unit_test(test_path_device_route),
		cmocka_unit_test(test_path_ipv6),
		cmocka_unit_test(test_path_install_errors),
		cmocka_unit_test(test_path_remove_keeps_capture),
		cmocka_unit_test(test_monitor),
		cmocka_unit_test(test_monitor_overrun),
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
