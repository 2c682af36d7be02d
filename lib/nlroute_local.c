#include "nlroute_local.h"
#include "nlroute_int.h"

#include <errno.h>
#include <netinet/in.h>

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

#define MAX_TABLES 16 /* of leftover rules, at one removal */

static const int families[] = { AF_INET, AF_INET6 };

struct mark_sweep {
	struct nl_sock *sk;
	uint32_t tables[MAX_TABLES];
	size_t n_tables;
	int err; /* the first failure */
};

/* IPv6 off in this namespace, or on lo. */
static bool no_ipv6(int family, int err)
{
	return family == AF_INET6 &&
	       (err == -EAFNOSUPPORT || err == -EACCES || err == -EOPNOTSUPP);
}

static int lo_index(struct nlroute *nr)
{
	struct rtnl_link *link;
	int err = nlroute_errno(rtnl_link_get_kernel(nr->sk, 0, "lo", &link));

	if (err)
		return err;
	err = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return err;
}

/* "local default dev lo table T": every address is this host's for the
 * packets the rule sends here. */
static int local_route_add(struct nlroute *nr, int family, uint32_t table)
{
	static const uint8_t any[16];
	struct rtnl_nexthop *nh;
	struct rtnl_route *rt = rtnl_route_alloc();
	struct nl_addr *dst = nlroute_prefix_addr(family, any, 0);
	int lo, err = -ENOMEM;

	if (!rt || !dst)
		goto out;
	if ((lo = lo_index(nr)) < 0) {
		err = lo;
		goto out;
	}
	rtnl_route_set_family(rt, (uint8_t)family);
	rtnl_route_set_table(rt, table);
	rtnl_route_set_protocol(rt, MPTUN_RTPROT);
	rtnl_route_set_scope(rt, RT_SCOPE_HOST);
	rtnl_route_set_type(rt, RTN_LOCAL);
	err = nlroute_errno(rtnl_route_set_dst(rt, dst));
	if (err)
		goto out;
	err = -ENOMEM;
	if (!(nh = rtnl_route_nh_alloc()))
		goto out;
	rtnl_route_nh_set_ifindex(nh, lo);
	rtnl_route_add_nexthop(rt, nh); /* rt owns nh from here */
	err = nlroute_errno(rtnl_route_add(nr->sk, rt, NLM_F_REPLACE));
out:
	rtnl_route_put(rt);
	nl_addr_put(dst);
	return err;
}

static int mark_rule_add(struct nlroute *nr, int family, uint32_t table,
			 uint32_t priority, uint32_t mark)
{
	struct rtnl_rule *r = rtnl_rule_alloc();

	if (!r)
		return -ENOMEM;
	rtnl_rule_set_family(r, family);
	rtnl_rule_set_prio(r, priority);
	rtnl_rule_set_table(r, table);
	rtnl_rule_set_action(r, FR_ACT_TO_TBL);
	rtnl_rule_set_mark(r, mark);
	rtnl_rule_set_mask(r, UINT32_MAX);
	if (rtnl_rule_set_protocol(r, MPTUN_RTPROT) < 0) {
		rtnl_rule_put(r);
		return -ENOMEM;
	}
	return nlroute_rule_add(nr, r);
}

static int family_install(struct nlroute *nr, int family, uint32_t table,
			  uint32_t priority, uint32_t mark)
{
	int err = local_route_add(nr, family, table);

	if (!err)
		err = mark_rule_add(nr, family, table, priority, mark);
	return no_ipv6(family, err) ? 0 : err;
}

int nlroute_local_install(struct nlroute *nr, uint32_t table,
			  uint32_t priority, uint32_t mark)
{
	int err = 0;

	if (!nlroute_table_valid(table) || !mark || priority == UINT32_MAX)
		return -EINVAL;
	for (size_t i = 0; !err && i < 2; i++)
		err = family_install(nr, families[i], table, priority, mark);
	if (err)
		nlroute_local_remove(nr, table);
	return err;
}

static void note(struct mark_sweep *s, int nle)
{
	int err = nlroute_errno(nle);

	if (err && err != -ENOENT && !s->err)
		s->err = err;
}

static void remember_table(struct mark_sweep *s, uint32_t table)
{
	for (size_t i = 0; i < s->n_tables; i++)
		if (s->tables[i] == table)
			return;
	if (s->n_tables < MAX_TABLES && nlroute_table_valid(table))
		s->tables[s->n_tables++] = table;
}

/* libnl says "no mark" with all ones. */
static void rule_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_rule *r = (struct rtnl_rule *)obj;
	struct mark_sweep *s = arg;
	uint32_t mark = rtnl_rule_get_mark(r);
	uint8_t proto;

	if (rtnl_rule_get_protocol(r, &proto) < 0 || proto != MPTUN_RTPROT ||
	    !mark || mark == UINT32_MAX)
		return;
	remember_table(s, rtnl_rule_get_table(r));
	note(s, rtnl_rule_delete(s->sk, r, 0));
}

int nlroute_local_remove(struct nlroute *nr, uint32_t table)
{
	struct mark_sweep s = { .sk = nr->sk };
	struct nl_cache *cache;
	int err;

	if (!nlroute_table_valid(table))
		return -EINVAL;
	err = nlroute_errno(rtnl_rule_alloc_cache(nr->sk, AF_UNSPEC, &cache));
	if (err)
		return err;
	remember_table(&s, table);
	nl_cache_foreach(cache, rule_visit, &s);
	nl_cache_free(cache);
	/* No rule of ours is left pointing at these tables: empty them. */
	for (size_t i = 0; i < s.n_tables; i++) {
		err = nlroute_sweep(nr, s.tables[i], false);
		if (err && !s.err)
			s.err = err;
	}
	return s.err;
}
