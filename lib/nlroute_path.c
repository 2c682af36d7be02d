/* The uplink side of lib/nlroute: what a WAN interface looks like, the
 * source routing that keeps each subflow on its own uplink, and the
 * socket that says when any of that may have changed. */
#include "nlroute.h"
#include "nlroute_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

/* Addresses a subflow must not be bound to: not (or not yet) the
 * interface's, or on their way out. */
#define ADDR6_UNUSABLE (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)

/* A dump is interrupted when the kernel's list changes under it. */
#define DUMP_TRIES 3

typedef void (*visit_fn)(struct nl_object *obj, void *arg);

struct visit {
	visit_fn fn;
	void *arg;
};

/* One link query under way. */
struct link_scan {
	int ifindex;
	int family;
	bool have_route;
	uint32_t metric; /* of the default route found */
	struct nlroute_link *out;
};

static int dump_valid(struct nl_msg *msg, void *arg)
{
	struct visit *v = arg;

	/* One that libnl cannot parse is nothing we are looking for. */
	nl_msg_parse(msg, v->fn, v->arg);
	return NL_OK;
}

/* Hand each of family's addresses or routes (type RTM_GETADDR or
 * RTM_GETROUTE) to fn, in the kernel's order. Not a libnl cache: a cache
 * keeps one of the routes that share family, table, tos, destination and
 * metric and drops the others (two uplinks' default routes with the same
 * metric). -EINTR when the kernel's list changed during the dump. */
static int dump(struct nlroute *nr, int type, int family, visit_fn fn,
		void *arg)
{
	struct rtmsg rtm = { .rtm_family = (uint8_t)family };
	struct ifaddrmsg ifa = { .ifa_family = (uint8_t)family };
	struct visit v = { fn, arg };
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int err;

	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, dump_valid, &v);
	if (type == RTM_GETROUTE)
		err = nl_send_simple(nr->sk, type, NLM_F_DUMP, &rtm,
				     sizeof(rtm));
	else
		err = nl_send_simple(nr->sk, type, NLM_F_DUMP, &ifa,
				     sizeof(ifa));
	if (err >= 0)
		err = nl_recvmsgs(nr->sk, cb);
	nl_cb_put(cb);
	return nlroute_errno(err);
}

/* a as a sockaddr, port 0; false for an address of neither family. A
 * link-local IPv6 address means nothing without its link: ifindex. */
static bool sockaddr_of(const struct nl_addr *a, int ifindex,
			struct sockaddr_storage *ss)
{
	int family = nl_addr_get_family(a);
	unsigned len = nl_addr_get_len(a);
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET && len == 4) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, nl_addr_get_binary_addr(a), 4);
		return true;
	}
	if (family != AF_INET6 || len != 16)
		return false;
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, nl_addr_get_binary_addr(a), 16);
	if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
		sin6->sin6_scope_id = (uint32_t)ifindex;
	return true;
}

static void addr_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct link_scan *s = arg;
	struct nl_addr *local = rtnl_addr_get_local(a);

	if (s->out->addr.ss_family || !local ||
	    rtnl_addr_get_ifindex(a) != s->ifindex ||
	    rtnl_addr_get_family(a) != s->family ||
	    rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE)
		return;
	if (s->family == AF_INET6 &&
	    (rtnl_addr_get_flags(a) & ADDR6_UNUSABLE))
		return;
	sockaddr_of(local, s->ifindex, &s->out->addr);
}

static struct rtnl_nexthop *nexthop_on(struct rtnl_route *rt, int ifindex)
{
	int n = rtnl_route_get_nnexthops(rt);

	for (int i = 0; i < n; i++) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, i);
		if (rtnl_route_nh_get_ifindex(nh) == ifindex)
			return nh;
	}
	return NULL;
}

static void route_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_route *rt = (struct rtnl_route *)obj;
	struct link_scan *s = arg;
	struct nl_addr *dst = rtnl_route_get_dst(rt), *gw;
	uint32_t metric = rtnl_route_get_priority(rt);
	struct rtnl_nexthop *nh;

	if (rtnl_route_get_family(rt) != s->family ||
	    rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
	    rtnl_route_get_type(rt) != RTN_UNICAST ||
	    (dst && nl_addr_get_prefixlen(dst) != 0) ||
	    (s->have_route && metric >= s->metric))
		return;
	nh = nexthop_on(rt, s->ifindex);
	if (!nh)
		return;
	s->have_route = true;
	s->metric = metric;
	gw = rtnl_route_nh_get_gateway(nh);
	if (!gw || !sockaddr_of(gw, s->ifindex, &s->out->gateway))
		memset(&s->out->gateway, 0, sizeof(s->out->gateway));
}

/* out->ifindex stays 0 when there is no such link. */
static int link_flags(struct nlroute *nr, const char *ifname,
		      struct nlroute_link *out)
{
	struct rtnl_link *link;
	unsigned flags;
	int err;

	err = nlroute_errno(rtnl_link_get_kernel(nr->sk, 0, ifname, &link));
	if (err == -ENODEV)
		return 0;
	if (err)
		return err;
	flags = rtnl_link_get_flags(link);
	out->ifindex = rtnl_link_get_ifindex(link);
	out->up = (flags & IFF_UP) && (flags & (IFF_LOWER_UP | IFF_RUNNING));
	out->pointopoint = flags & (IFF_POINTOPOINT | IFF_NOARP);
	rtnl_link_put(link);
	return 0;
}

static int link_query_once(struct nlroute *nr, const char *ifname,
			   int family, struct nlroute_link *out)
{
	struct link_scan s = { .family = family, .out = out };
	int err;

	memset(out, 0, sizeof(*out));
	err = link_flags(nr, ifname, out);
	if (err || !out->ifindex)
		return err;
	s.ifindex = out->ifindex;
	err = dump(nr, RTM_GETADDR, family, addr_visit, &s);
	if (!err)
		err = dump(nr, RTM_GETROUTE, family, route_visit, &s);
	return err;
}

int nlroute_link_query(struct nlroute *nr, const char *ifname, int family,
		       struct nlroute_link *out)
{
	size_t len = ifname ? strnlen(ifname, IFNAMSIZ) : 0;
	struct nlroute_link l;
	int err = -EINTR;

	if (!len || len >= IFNAMSIZ ||
	    (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	for (int i = 0; i < DUMP_TRIES && err == -EINTR; i++)
		err = link_query_once(nr, ifname, family, &l);
	if (!err)
		*out = l;
	return err;
}

int nlroute_link_stats(struct nlroute *nr, int ifindex, uint64_t *tx_bytes,
		       uint64_t *rx_bytes)
{
	struct rtnl_link *link;
	int err;

	if (ifindex <= 0)
		return -EINVAL;
	err = nlroute_errno(rtnl_link_get_kernel(nr->sk, ifindex, NULL, &link));
	if (err)
		return err;
	*tx_bytes = rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES);
	*rx_bytes = rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES);
	rtnl_link_put(link);
	return 0;
}

/* sa's address as a host prefix (/32 or /128); NULL when out of memory. */
static struct nl_addr *host_addr(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

	if (sa->sa_family == AF_INET)
		return nlroute_prefix_addr(AF_INET,
					   (const uint8_t *)&sin->sin_addr, 32);
	return nlroute_prefix_addr(AF_INET6, sin6->sin6_addr.s6_addr, 128);
}

static bool path_valid(const struct nlroute_path *p)
{
	const struct sockaddr *gw = p->gateway;

	return (p->family == AF_INET || p->family == AF_INET6) &&
	       nlroute_table_valid(p->table) && p->ifindex > 0 && p->source &&
	       p->source->sa_family == p->family &&
	       (!gw || !gw->sa_family || gw->sa_family == p->family);
}

/* Without a gateway the route reaches the whole Internet on the link
 * (scope link); with one, the gateway is a hop away (scope universe: the
 * kernel refuses a link-scope route through a gateway). */
static struct rtnl_route *path_route_new(const struct nlroute_path *p,
					 struct nl_addr *dst,
					 struct nl_addr *gw)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();

	if (!rt || !nh || rtnl_route_set_dst(rt, dst) < 0) {
		if (nh)
			rtnl_route_nh_free(nh);
		rtnl_route_put(rt);
		return NULL;
	}
	rtnl_route_set_family(rt, (uint8_t)p->family);
	rtnl_route_set_table(rt, p->table);
	rtnl_route_set_protocol(rt, MPTUN_RTPROT);
	rtnl_route_set_scope(rt, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_set_type(rt, RTN_UNICAST);
	rtnl_route_nh_set_ifindex(nh, p->ifindex);
	if (gw)
		rtnl_route_nh_set_gateway(nh, gw); /* takes a reference */
	rtnl_route_add_nexthop(rt, nh);            /* rt owns nh */
	return rt;
}

/* NLM_F_REPLACE: the gateway of the route there already changes. */
static int path_route(struct nlroute *nr, const struct nlroute_path *p)
{
	static const uint8_t any[16];
	bool via = p->gateway && p->gateway->sa_family;
	struct nl_addr *dst = nlroute_prefix_addr(p->family, any, 0);
	struct nl_addr *gw = via ? host_addr(p->gateway) : NULL;
	struct rtnl_route *rt = NULL;
	int err = -ENOMEM;

	if (dst && (gw || !via))
		rt = path_route_new(p, dst, gw);
	if (rt)
		err = nlroute_errno(rtnl_route_add(nr->sk, rt, NLM_F_REPLACE));
	rtnl_route_put(rt);
	nl_addr_put(gw);
	nl_addr_put(dst);
	return err;
}

static int path_rule(struct nlroute *nr, const struct nlroute_path *p)
{
	struct rtnl_rule *r = rtnl_rule_alloc();
	struct nl_addr *src = host_addr(p->source);
	int err = -ENOMEM;

	if (r && src) {
		rtnl_rule_set_family(r, p->family);
		rtnl_rule_set_prio(r, p->priority);
		rtnl_rule_set_table(r, p->table);
		rtnl_rule_set_action(r, FR_ACT_TO_TBL);
		if (rtnl_rule_set_src(r, src) == 0 &&
		    rtnl_rule_set_protocol(r, MPTUN_RTPROT) == 0) {
			err = nlroute_rule_add(nr, r);
			r = NULL;
		}
	}
	rtnl_rule_put(r);
	nl_addr_put(src);
	return err;
}

/* The table before the rule that sends packets to it. */
int nlroute_path_install(struct nlroute *nr, const struct nlroute_path *p)
{
	int err;

	if (!p || !path_valid(p))
		return -EINVAL;
	err = path_route(nr, p);
	if (!err)
		err = path_rule(nr, p);
	if (err)
		nlroute_sweep(nr, p->table, false);
	return err;
}

int nlroute_path_remove(struct nlroute *nr, uint32_t table)
{
	if (!nlroute_table_valid(table))
		return -EINVAL;
	return nlroute_sweep(nr, table, false);
}

/* A raw socket rather than libnl's: nothing here is parsed, and libnl
 * would report an overrun as -NLE_NOMEM, like a failed allocation. */
struct nlroute_monitor {
	int fd;
	/* One datagram; a notification is one object, far smaller. */
	_Alignas(struct nlmsghdr) char buf[16384];
};

static const unsigned monitor_groups[] = {
	RTNLGRP_LINK,       RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
	RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
};

static int monitor_subscribe(int fd)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	size_t n = sizeof(monitor_groups) / sizeof(monitor_groups[0]);

	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (size_t i = 0; i < n; i++)
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
			       &monitor_groups[i], sizeof(unsigned)) < 0)
			return -errno;
	return 0;
}

struct nlroute_monitor *nlroute_monitor_open(void)
{
	struct nlroute_monitor *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return NULL;
	m->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       NETLINK_ROUTE);
	err = m->fd < 0 ? -errno : monitor_subscribe(m->fd);
	if (err) {
		nlroute_monitor_close(m);
		errno = -err;
		return NULL;
	}
	return m;
}

int nlroute_monitor_fd(const struct nlroute_monitor *m)
{
	return m->fd;
}

/* The notifications in a datagram of len bytes; at least 1, as one cut
 * short (longer than buf) still says that something changed. */
static int datagram_count(const struct nlroute_monitor *m, size_t len)
{
	const struct nlmsghdr *h;
	size_t off = 0;
	int n = 0;

	/* Not NLMSG_NEXT: on a last message of unaligned length it takes
	 * more than is left. */
	while (off + sizeof(*h) <= len) {
		h = (const struct nlmsghdr *)(m->buf + off);
		if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > len - off)
			break;
		if (h->nlmsg_type >= NLMSG_MIN_TYPE)
			n++;
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	return n ? n : 1;
}

int nlroute_monitor_drain(struct nlroute_monitor *m)
{
	int count = 0;

	for (;;) {
		struct sockaddr_nl from = { 0 };
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(m->fd, m->buf, sizeof(m->buf),
				     MSG_DONTWAIT, (struct sockaddr *)&from,
				     &fromlen);

		if (n >= 0 && from.nl_pid == 0) /* the kernel's, not a peer's */
			count += datagram_count(m, (size_t)n);
		else if (n >= 0 || errno == EINTR)
			continue;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return count;
		else if (errno == ENOBUFS) /* lost some: what, we cannot tell */
			count++;
		else
			return -errno;
	}
}

void nlroute_monitor_close(struct nlroute_monitor *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}
