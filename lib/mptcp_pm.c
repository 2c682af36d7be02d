#include "mptcp_pm.h"
#include "nlroute.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/errno.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

/* Names the 6.1 uapi header may lack. */
#ifndef MPTCP_PM_NAME
#define MPTCP_PM_NAME "mptcp_pm"
#endif
#ifndef MPTCP_PM_VER
#define MPTCP_PM_VER 1
#endif

/* Enough for the kernel's endpoints: ids are 8 bits, 0 is not one. */
#define MPTCP_PM_DUMP_MAX 255

struct mptcp_pm {
	struct nl_sock *sk;
	int family; /* the family's generic netlink id */
};

/* One request's answer. libnl turns the kernel's errno into its own codes,
 * which lose detail (EEXIST and ENOENT survive, many others do not), so the
 * error callback keeps the kernel's errno as it came. */
struct pm_req {
	int (*parse)(struct nlattr **tb, void *arg); /* NULL: no reply */
	void *arg;
	int err;   /* the kernel's -errno, or the first parse failure */
	bool done; /* ack, error or end of dump seen */
};

/* For errors that are libnl's own (no kernel errno behind them). */

struct mptcp_pm *mptcp_pm_open(void)
{
	struct mptcp_pm *pm = calloc(1, sizeof(*pm));
	int err = -ENOMEM;

	if (!pm)
		goto err_out;
	pm->sk = nl_socket_alloc();
	if (!pm->sk)
		goto err_free;
	/* libnl opens it SOCK_CLOEXEC. */
	err = nlroute_errno(genl_connect(pm->sk));
	if (err)
		goto err_sock;
	pm->family = genl_ctrl_resolve(pm->sk, MPTCP_PM_NAME);
	if (pm->family < 0) {
		err = nlroute_errno(pm->family);
		goto err_sock;
	}
	return pm;
err_sock:
	nl_socket_free(pm->sk);
err_free:
	free(pm);
err_out:
	errno = -err;
	return NULL;
}

void mptcp_pm_close(struct mptcp_pm *pm)
{
	if (!pm)
		return;
	nl_socket_free(pm->sk);
	free(pm);
}

/* Callbacks of one request. */

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct pm_req *req = arg;
	struct nlattr *tb[MPTCP_PM_ATTR_MAX + 1];
	int err;

	if (!req->parse)
		return NL_OK;
	err = nlroute_errno(genlmsg_parse(nlmsg_hdr(msg), 0, tb, MPTCP_PM_ATTR_MAX,
				     NULL));
	if (!err)
		err = req->parse(tb, req->arg);
	/* Keep reading after a failure: the rest of a dump must be drained
	 * or it would answer the next request. */
	if (err && !req->err)
		req->err = err;
	return NL_OK;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct pm_req *req = arg;

	req->err = e->error < 0 ? e->error : -EIO;
	req->done = true;
	return NL_STOP;
}

static int on_done(struct nl_msg *msg, void *arg)
{
	struct pm_req *req = arg;

	req->done = true;
	return NL_STOP;
}

/* A request of cmd with no attributes yet, or NULL. */
static struct nl_msg *pm_msg(struct mptcp_pm *pm, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, pm->family, 0, flags,
			 cmd, MPTCP_PM_VER)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Send msg (freed here, whatever happens) and read until the kernel's ack,
 * error or end of dump. libnl asks for an ack on every request; a dump
 * ends with NLMSG_DONE instead. */
static int pm_run(struct mptcp_pm *pm, struct nl_msg *msg,
		  struct pm_req *req)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int err = -ENOMEM;

	if (!cb)
		goto out_msg;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, req);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_done, req);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, req);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, req);
	err = nl_send_auto(pm->sk, msg);
	err = err < 0 ? nlroute_errno(err) : 0;
	while (!err && !req->done) {
		int rc = nl_recvmsgs(pm->sk, cb);

		/* NL_STOP after a kernel error comes back as rc < 0 too:
		 * req->err has the true errno then. */
		if (rc < 0 && !req->done)
			err = nlroute_errno(rc);
	}
	if (!err)
		err = req->err;
	nl_cb_put(cb);
out_msg:
	nlmsg_free(msg);
	return err;
}

/* A request whose only answer is the ack (msg freed here). */
static int pm_simple(struct mptcp_pm *pm, struct nl_msg *msg)
{
	struct pm_req req = { 0 };

	return pm_run(pm, msg, &req);
}

/* Endpoint attributes. */

static int addr_len(int family)
{
	if (family == AF_INET)
		return 4;
	if (family == AF_INET6)
		return 16;
	return -EINVAL;
}

/* The MPTCP_PM_ATTR_ADDR nest of e. An id of 0 is left out (the kernel
 * picks one), as are a family of 0 (lookup by id), ifindex 0 and port 0. */
static int put_endpoint(struct nl_msg *msg, const struct mptcp_pm_endpoint *e)
{
	struct nlattr *nest = nla_nest_start(msg,
					     MPTCP_PM_ATTR_ADDR | NLA_F_NESTED);
	int len = addr_len(e->family);
	int err = 0;

	if (!nest)
		return -EMSGSIZE;
	if (e->family && len > 0) {
		err |= nla_put_u16(msg, MPTCP_PM_ADDR_ATTR_FAMILY,
				   (uint16_t)e->family);
		err |= nla_put(msg, len == 4 ? MPTCP_PM_ADDR_ATTR_ADDR4 :
			       MPTCP_PM_ADDR_ATTR_ADDR6, len, e->addr);
	}
	if (e->id)
		err |= nla_put_u8(msg, MPTCP_PM_ADDR_ATTR_ID, e->id);
	err |= nla_put_u32(msg, MPTCP_PM_ADDR_ATTR_FLAGS, e->flags);
	if (e->ifindex)
		err |= nla_put_s32(msg, MPTCP_PM_ADDR_ATTR_IF_IDX, e->ifindex);
	if (e->port)
		err |= nla_put_u16(msg, MPTCP_PM_ADDR_ATTR_PORT, e->port);
	if (err)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

/* Decode the nest into a local; *e is written only on success. */
static int get_endpoint(struct nlattr *nest, struct mptcp_pm_endpoint *e)
{
	struct nlattr *tb[MPTCP_PM_ADDR_ATTR_MAX + 1];
	struct nlattr *a;
	struct mptcp_pm_endpoint r = { 0 };
	int len;

	if (!nest || nla_parse_nested(tb, MPTCP_PM_ADDR_ATTR_MAX, nest, NULL))
		return -EBADMSG;
	if (!tb[MPTCP_PM_ADDR_ATTR_FAMILY] || !tb[MPTCP_PM_ADDR_ATTR_ID] ||
	    nla_len(tb[MPTCP_PM_ADDR_ATTR_FAMILY]) < 2 ||
	    nla_len(tb[MPTCP_PM_ADDR_ATTR_ID]) < 1)
		return -EBADMSG;
	r.family = nla_get_u16(tb[MPTCP_PM_ADDR_ATTR_FAMILY]);
	r.id = nla_get_u8(tb[MPTCP_PM_ADDR_ATTR_ID]);
	len = addr_len(r.family);
	a = tb[len == 4 ? MPTCP_PM_ADDR_ATTR_ADDR4 : MPTCP_PM_ADDR_ATTR_ADDR6];
	if (len < 0 || !a || nla_len(a) != len)
		return -EBADMSG;
	memcpy(r.addr, nla_data(a), (size_t)len);
	if ((a = tb[MPTCP_PM_ADDR_ATTR_FLAGS]) && nla_len(a) >= 4)
		r.flags = nla_get_u32(a);
	if ((a = tb[MPTCP_PM_ADDR_ATTR_IF_IDX]) && nla_len(a) >= 4)
		r.ifindex = nla_get_s32(a);
	if ((a = tb[MPTCP_PM_ADDR_ATTR_PORT]) && nla_len(a) >= 2)
		r.port = nla_get_u16(a);
	*e = r;
	return 0;
}

/* Endpoints. */

static bool endpoint_same(const struct mptcp_pm_endpoint *a,
			  const struct mptcp_pm_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, (size_t)addr_len(a->family));
}

/* Whether e's address (and port) is an endpoint already: 1, 0 or -errno. */
static int pm_has(struct mptcp_pm *pm, const struct mptcp_pm_endpoint *e)
{
	struct mptcp_pm_endpoint v[MPTCP_PM_DUMP_MAX];
	size_t i, n;
	int err = mptcp_pm_dump(pm, v, MPTCP_PM_DUMP_MAX, &n);

	if (err && err != -ENOSPC)
		return err;
	for (i = 0; i < n; i++)
		if (endpoint_same(&v[i], e))
			return 1;
	return 0;
}

int mptcp_pm_add(struct mptcp_pm *pm, const struct mptcp_pm_endpoint *e)
{
	struct nl_msg *msg;
	int err;

	if (addr_len(e->family) < 0)
		return -EINVAL;
	msg = pm_msg(pm, MPTCP_PM_CMD_ADD_ADDR, 0);
	if (!msg)
		return -ENOMEM;
	err = put_endpoint(msg, e);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	err = pm_simple(pm, msg);
	/* Kernels check a given id before the address: the same endpoint
	 * added twice with its id is -EBUSY, not -EEXIST, there. */
	if (err == -EBUSY && e->id && pm_has(pm, e) == 1)
		err = -EEXIST;
	return err;
}

/* A request about endpoint id alone: family 0 makes the kernel look the
 * endpoint up by its id. */
static int pm_by_id(struct mptcp_pm *pm, uint8_t cmd, uint8_t id,
		    uint32_t flags)
{
	struct mptcp_pm_endpoint e = { .id = id, .flags = flags };
	struct nl_msg *msg;
	int err;

	if (!id)
		return -EINVAL;
	msg = pm_msg(pm, cmd, 0);
	if (!msg)
		return -ENOMEM;
	err = put_endpoint(msg, &e);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return pm_simple(pm, msg);
}

int mptcp_pm_del(struct mptcp_pm *pm, uint8_t id)
{
	return pm_by_id(pm, MPTCP_PM_CMD_DEL_ADDR, id, 0);
}

int mptcp_pm_set_flags(struct mptcp_pm *pm, uint8_t id, uint32_t flags)
{
	return pm_by_id(pm, MPTCP_PM_CMD_SET_FLAGS, id, flags);
}

int mptcp_pm_flush(struct mptcp_pm *pm)
{
	struct nl_msg *msg = pm_msg(pm, MPTCP_PM_CMD_FLUSH_ADDRS, 0);

	if (!msg)
		return -ENOMEM;
	return pm_simple(pm, msg);
}

struct dump_ctx {
	struct mptcp_pm_endpoint *out;
	size_t cap;
	size_t n;
};

static int dump_one(struct nlattr **tb, void *arg)
{
	struct dump_ctx *d = arg;
	struct mptcp_pm_endpoint e;
	int err = get_endpoint(tb[MPTCP_PM_ATTR_ADDR], &e);

	if (err)
		return err;
	if (d->n == d->cap)
		return -ENOSPC;
	d->out[d->n++] = e;
	return 0;
}

int mptcp_pm_dump(struct mptcp_pm *pm, struct mptcp_pm_endpoint *out,
		  size_t cap, size_t *n)
{
	struct dump_ctx d = { .out = out, .cap = cap };
	struct pm_req req = { .parse = dump_one, .arg = &d };
	struct nl_msg *msg = pm_msg(pm, MPTCP_PM_CMD_GET_ADDR, NLM_F_DUMP);
	int err;

	*n = 0;
	if (!msg)
		return -ENOMEM;
	err = pm_run(pm, msg, &req);
	if (!err || err == -ENOSPC)
		*n = d.n;
	return err;
}

/* Limits. */

int mptcp_pm_set_limits(struct mptcp_pm *pm, uint32_t subflows,
			uint32_t add_addr_accepted)
{
	struct nl_msg *msg = pm_msg(pm, MPTCP_PM_CMD_SET_LIMITS, 0);

	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, MPTCP_PM_ATTR_RCV_ADD_ADDRS, add_addr_accepted) ||
	    nla_put_u32(msg, MPTCP_PM_ATTR_SUBFLOWS, subflows)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return pm_simple(pm, msg);
}

struct limits {
	uint32_t subflows;
	uint32_t add_addr_accepted;
	bool seen;
};

static int limits_parse(struct nlattr **tb, void *arg)
{
	struct limits *l = arg;
	struct nlattr *s = tb[MPTCP_PM_ATTR_SUBFLOWS];
	struct nlattr *r = tb[MPTCP_PM_ATTR_RCV_ADD_ADDRS];

	if (!s || !r || nla_len(s) < 4 || nla_len(r) < 4)
		return -EBADMSG;
	l->subflows = nla_get_u32(s);
	l->add_addr_accepted = nla_get_u32(r);
	l->seen = true;
	return 0;
}

int mptcp_pm_get_limits(struct mptcp_pm *pm, uint32_t *subflows,
			uint32_t *add_addr_accepted)
{
	struct limits l = { 0 };
	struct pm_req req = { .parse = limits_parse, .arg = &l };
	struct nl_msg *msg = pm_msg(pm, MPTCP_PM_CMD_GET_LIMITS, 0);
	int err;

	if (!msg)
		return -ENOMEM;
	err = pm_run(pm, msg, &req);
	if (!err && !l.seen)
		err = -EBADMSG;
	if (err)
		return err;
	*subflows = l.subflows;
	*add_addr_accepted = l.add_addr_accepted;
	return 0;
}
