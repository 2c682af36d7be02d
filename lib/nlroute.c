#include "nlroute.h"
#include "nlroute_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

/* A sweep of the kernel's rules or routes, deleting mptun's. */
struct sweep {
	struct nl_sock *sk;
	uint32_t table;
	bool all_rules; /* every rule of ours, not only those to table */
	int err;        /* the first failure, -errno */
};

static const int families[] = { AF_INET, AF_INET6 }; /* IPv4 first */

/* libnl folds the kernel's errno into its own codes (nl_syserr2nlerr):
 * unfold them for the -errno convention. */
int nlroute_errno(int nle)
{
	static const int map[] = {
		[NLE_INTR] = EINTR,           [NLE_BAD_SOCK] = EBADF,
		[NLE_AGAIN] = EAGAIN,         [NLE_NOMEM] = ENOMEM,
		[NLE_EXIST] = EEXIST,         [NLE_INVAL] = EINVAL,
		[NLE_RANGE] = ERANGE,         [NLE_MSGSIZE] = EMSGSIZE,
		[NLE_OPNOTSUPP] = EOPNOTSUPP, [NLE_AF_NOSUPPORT] = EAFNOSUPPORT,
		[NLE_OBJ_NOTFOUND] = ENOENT,  [NLE_NOADDR] = EADDRNOTAVAIL,
		[NLE_BUSY] = EBUSY,           [NLE_PROTO_MISMATCH] = EPROTONOSUPPORT,
		[NLE_NOACCESS] = EACCES,      [NLE_PERM] = EPERM,
		[NLE_NODEV] = ENODEV,         [NLE_DUMP_INTR] = EINTR,
	};
	size_t e;

	if (nle >= 0)
		return 0;
	e = (size_t)-(long)nle;
	if (e < sizeof(map) / sizeof(map[0]) && map[e])
		return -map[e];
	return -EIO;
}

struct nlroute *nlroute_open(void)
{
	struct nlroute *nr = calloc(1, sizeof(*nr));
	int err = -ENOMEM;

	if (!nr)
		return NULL;
	nr->sk = nl_socket_alloc();
	if (!nr->sk)
		goto err_free;
	/* libnl opens it SOCK_CLOEXEC. */
	err = nlroute_errno(nl_connect(nr->sk, NETLINK_ROUTE));
	if (err)
		goto err_sock;
	return nr;
err_sock:
	nl_socket_free(nr->sk);
err_free:
	free(nr);
	errno = -err;
	return NULL;
}

void nlroute_close(struct nlroute *nr)
{
	if (!nr)
		return;
	nl_socket_free(nr->sk);
	free(nr);
}

struct nl_addr *nlroute_prefix_addr(int family, const uint8_t *bytes,
				    unsigned len)
{
	struct nl_addr *a =
		nl_addr_build(family, bytes, family == AF_INET ? 4 : 16);

	if (a)
		nl_addr_set_prefixlen(a, (int)len);
	return a;
}

/* The ifindex of name, or -errno (-ENODEV when there is none). */
static int link_index(struct nlroute *nr, const char *name,
		      struct rtnl_link **linkp)
{
	struct rtnl_link *link;
	int err, ifindex;

	err = nlroute_errno(rtnl_link_get_kernel(nr->sk, 0, name, &link));
	if (err)
		return err;
	ifindex = rtnl_link_get_ifindex(link);
	if (linkp)
		*linkp = link;
	else
		rtnl_link_put(link);
	return ifindex;
}

/* NLM_F_REPLACE: an address already there is updated, not an error. */
static int addr_add(struct nlroute *nr, int ifindex,
		    const struct addr_prefix *p)
{
	struct rtnl_addr *a = NULL;
	struct nl_addr *local;
	int err = -ENOMEM;

	if (!p || !p->family)
		return 0;
	local = nlroute_prefix_addr(p->family, p->bytes, p->len);
	if (!local)
		return -ENOMEM;
	a = rtnl_addr_alloc();
	if (!a)
		goto out;
	rtnl_addr_set_ifindex(a, ifindex);
	err = nlroute_errno(rtnl_addr_set_local(a, local));
	if (err)
		goto out;
	rtnl_addr_set_prefixlen(a, p->len);
	/* Nobody else is on a TUN link: skip the DAD delay. */
	if (p->family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	err = nlroute_errno(rtnl_addr_add(nr->sk, a, NLM_F_REPLACE));
out:
	rtnl_addr_put(a);
	nl_addr_put(local);
	return err;
}

int nlroute_link_setup(struct nlroute *nr, const char *ifname, uint32_t mtu,
		       uint32_t txqlen, const struct addr_prefix *a4,
		       const struct addr_prefix *a6)
{
	struct rtnl_link *link = NULL, *change;
	int ifindex, err;

	ifindex = link_index(nr, ifname, &link);
	if (ifindex < 0)
		return ifindex;
	change = rtnl_link_alloc();
	err = -ENOMEM;
	if (!change)
		goto out;
	rtnl_link_set_mtu(change, mtu);
	rtnl_link_set_txqlen(change, txqlen);
	rtnl_link_set_flags(change, IFF_UP);
	err = nlroute_errno(rtnl_link_change(nr->sk, link, change, 0));
	if (!err)
		err = addr_add(nr, ifindex, a4);
	if (!err)
		err = addr_add(nr, ifindex, a6);
out:
	rtnl_link_put(change);
	rtnl_link_put(link);
	return err;
}

/* NLM_F_REPLACE: a default route left by a crashed run is taken over. */
static int route_add(struct nlroute *nr, int family, uint32_t table,
		     int ifindex)
{
	static const uint8_t any[16];
	struct rtnl_nexthop *nh = NULL;
	struct rtnl_route *rt;
	struct nl_addr *dst;
	int err = -ENOMEM;

	dst = nlroute_prefix_addr(family, any, 0);
	rt = rtnl_route_alloc();
	if (!dst || !rt)
		goto out;
	rtnl_route_set_family(rt, (uint8_t)family);
	rtnl_route_set_table(rt, table);
	rtnl_route_set_protocol(rt, MPTUN_RTPROT);
	rtnl_route_set_scope(rt, RT_SCOPE_LINK);
	rtnl_route_set_type(rt, RTN_UNICAST);
	err = nlroute_errno(rtnl_route_set_dst(rt, dst));
	if (err)
		goto out;
	nh = rtnl_route_nh_alloc();
	err = -ENOMEM;
	if (!nh)
		goto out;
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(rt, nh); /* rt owns nh from here */
	err = nlroute_errno(rtnl_route_add(nr->sk, rt, NLM_F_REPLACE));
out:
	rtnl_route_put(rt);
	nl_addr_put(dst);
	return err;
}

/* "iif lan lookup table" at prio, mptun's; NULL when out of memory (the
 * names were checked by capture_valid()). */
static struct rtnl_rule *rule_new(int family, const char *lan, uint32_t prio,
				  uint32_t table)
{
	struct rtnl_rule *r = rtnl_rule_alloc();

	if (!r)
		return NULL;
	rtnl_rule_set_family(r, family);
	rtnl_rule_set_prio(r, prio);
	rtnl_rule_set_table(r, table);
	rtnl_rule_set_action(r, FR_ACT_TO_TBL);
	if (rtnl_rule_set_iif(r, lan) < 0 ||
	    rtnl_rule_set_protocol(r, MPTUN_RTPROT) < 0) {
		rtnl_rule_put(r);
		return NULL;
	}
	return r;
}

/* Consumes r. The kernel allows duplicate rules unless NLM_F_EXCL; with
 * it, an equal rule already there means this one is installed. */
int nlroute_rule_add(struct nlroute *nr, struct rtnl_rule *r)
{
	int err = nlroute_errno(rtnl_rule_add(nr->sk, r, NLM_F_EXCL));

	rtnl_rule_put(r);
	return err == -EEXIST ? 0 : err;
}

static int capture_rule(struct nlroute *nr, const struct nlroute_capture *c,
			int family, const char *lan)
{
	struct rtnl_rule *r = rule_new(family, lan, c->priority + 1, c->table);

	if (!r || rtnl_rule_set_ipproto(r, IPPROTO_TCP) < 0) {
		rtnl_rule_put(r);
		return -ENOMEM;
	}
	return nlroute_rule_add(nr, r);
}

static int bypass_rule(struct nlroute *nr, const struct nlroute_capture *c,
		       const char *lan, const struct addr_prefix *p)
{
	struct rtnl_rule *r = rule_new(p->family, lan, c->priority,
				       RT_TABLE_MAIN);
	struct nl_addr *dst = nlroute_prefix_addr(p->family, p->bytes, p->len);
	int err = -ENOMEM;

	if (r && dst && !rtnl_rule_set_dst(r, dst)) {
		err = nlroute_rule_add(nr, r);
		r = NULL;
	}
	rtnl_rule_put(r);
	nl_addr_put(dst);
	return err;
}

/* Bypass rules before the capture rule: at no moment is a bypassed
 * destination captured. */
static int rules_add(struct nlroute *nr, const struct nlroute_capture *c,
		     int family, const char *lan)
{
	size_t n = c->bypass ? c->bypass->n : 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		if (c->bypass->v[i].family != family)
			continue;
		err = bypass_rule(nr, c, lan, &c->bypass->v[i]);
		if (err)
			return err;
	}
	return capture_rule(nr, c, family, lan);
}

/* The table before the rules that send packets to it. */
static int family_install(struct nlroute *nr, const struct nlroute_capture *c,
			  int family, int ifindex)
{
	int err = route_add(nr, family, c->table, ifindex);

	for (size_t i = 0; !err && i < c->n_lan; i++)
		err = rules_add(nr, c, family, c->lan_ifs[i]);
	return err;
}

bool nlroute_table_valid(uint32_t table)
{
	return table && (table < RT_TABLE_DEFAULT || table > RT_TABLE_LOCAL) &&
	       table != RT_TABLE_MAX;
}

/* Checked before anything is installed, so that a failure half way is the
 * kernel's doing. */
static bool capture_valid(const struct nlroute_capture *c)
{
	if (!c->tun || (c->n_lan && !c->lan_ifs) ||
	    !nlroute_table_valid(c->table) || c->priority == UINT32_MAX)
		return false;
	for (size_t i = 0; i < c->n_lan; i++) {
		size_t len = c->lan_ifs[i] ? strlen(c->lan_ifs[i]) : 0;
		if (!len || len >= IFNAMSIZ)
			return false;
	}
	return true;
}

int nlroute_capture_install(struct nlroute *nr,
			    const struct nlroute_capture *c)
{
	int ifindex, err = 0;

	if (!capture_valid(c))
		return -EINVAL;
	ifindex = link_index(nr, c->tun, NULL);
	if (ifindex < 0)
		return ifindex;
	for (size_t i = 0; !err && i < (c->ipv4_only ? 1 : 2); i++)
		err = family_install(nr, c, families[i], ifindex);
	if (err)
		nlroute_capture_remove(nr, c->table);
	return err;
}

/* Gone already (another sweep, the device's removal) is what we wanted. */
static void sweep_note(struct sweep *s, int nle)
{
	int err = nlroute_errno(nle);

	if (err && err != -ENOENT && !s->err)
		s->err = err;
}

static void rule_sweep(struct nl_object *obj, void *arg)
{
	struct rtnl_rule *r = (struct rtnl_rule *)obj;
	struct sweep *s = arg;
	uint8_t proto;

	if (rtnl_rule_get_protocol(r, &proto) < 0 || proto != MPTUN_RTPROT ||
	    (!s->all_rules && rtnl_rule_get_table(r) != s->table))
		return;
	sweep_note(s, rtnl_rule_delete(s->sk, r, 0));
}

static void route_sweep(struct nl_object *obj, void *arg)
{
	struct rtnl_route *rt = (struct rtnl_route *)obj;
	struct sweep *s = arg;

	if (rtnl_route_get_table(rt) != s->table)
		return;
	sweep_note(s, rtnl_route_delete(s->sk, rt, 0));
}

/* Rules first: no rule is left pointing at an emptied table. */
int nlroute_sweep(struct nlroute *nr, uint32_t table, bool all_rules)
{
	struct sweep s = { .sk = nr->sk, .table = table,
			   .all_rules = all_rules };
	struct nl_cache *cache;
	int err;

	err = nlroute_errno(rtnl_rule_alloc_cache(nr->sk, AF_UNSPEC, &cache));
	if (err)
		return err;
	nl_cache_foreach(cache, rule_sweep, &s);
	nl_cache_free(cache);
	err = nlroute_errno(rtnl_route_alloc_cache(nr->sk, AF_UNSPEC, 0, &cache));
	if (err)
		return s.err ? s.err : err;
	nl_cache_foreach(cache, route_sweep, &s);
	nl_cache_free(cache);
	return s.err;
}

int nlroute_capture_remove(struct nlroute *nr, uint32_t table)
{
	return nlroute_sweep(nr, table, true);
}
