/* transparent.announce: where the CPEs' further subflows join. A join
 * (MP_JOIN SYN) sent to the intercepted destination reaches the
 * transparent listener, whose port is not the connection's, and the
 * kernel refuses it (MPTcpExtMismatchPortSynRx). So this host announces
 * addresses of its own with a port (ADD_ADDR): an MPTCP "signal" endpoint
 * with a port makes the kernel listen on that address and port for joins
 * of any of its connections, and announce it to every peer. A CPE in
 * transparent mode (fullmesh endpoints) joins there from each path.
 *
 * The kernel's listener does not set SO_REUSEADDR: after a restart, the
 * joins of the previous run that this host closed first hold the port in
 * TIME_WAIT for up to a minute, and adding the endpoint fails with
 * EADDRINUSE (as it would for a port taken for good: the two cannot be
 * told apart, since those sockets did not allow reuse either). Those
 * addresses are left pending and tried again (conc_announce_retry). */
#include "conc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mptcp_pm.h"

static int endpoint_of(const char *s, uint16_t port,
		       struct mptcp_pm_endpoint *e)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!addr_parse_host(s, &ss, &len))
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->family = ss.ss_family;
	if (ss.ss_family == AF_INET)
		memcpy(e->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(e->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	e->flags = MPTCP_PM_ADDR_FLAG_SIGNAL;
	e->port = port;
	return 0;
}

/* The id of the endpoint with e's address and port (a crashed run's), or
 * 0 when there is none. */
static uint8_t find(struct mptcp_pm *pm, const struct mptcp_pm_endpoint *e)
{
	struct mptcp_pm_endpoint v[CONC_ANNOUNCE_MAX * 4];
	size_t n;
	int len = e->family == AF_INET ? 4 : 16;

	if (mptcp_pm_dump(pm, v, sizeof(v) / sizeof(v[0]), &n) < 0 && !n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].family == e->family && v[i].port == e->port &&
		    !memcmp(v[i].addr, e->addr, (size_t)len))
			return v[i].id;
	return 0;
}

/* Add address i (replacing a leftover with its address and port). 0 when
 * added, 1 when left pending (its port in use, unless final), or -errno. */
static int add_one(struct mptcp_pm *pm, const struct conc_config *c,
		   struct conc_announce *a, size_t i, bool final)
{
	struct mptcp_pm_endpoint e;
	uint8_t old;
	int r = endpoint_of(c->transparent_announce[i],
			    (uint16_t)c->transparent_join_port, &e);

	if (r < 0)
		return r;
	r = mptcp_pm_add(pm, &e);
	if (r == -EEXIST && (old = find(pm, &e))) {
		mptcp_pm_del(pm, old);
		r = mptcp_pm_add(pm, &e);
	}
	if (r == -EADDRINUSE && !final)
		return 1;
	if (r < 0)
		return r;
	a->ids[i] = find(pm, &e);
	return a->ids[i] ? 0 : -ENOENT;
}

static void add_error(const struct conc_config *c, size_t i, int r, char *err,
		      size_t errlen)
{
	snprintf(err, errlen, "transparent.announce: %s port %u: %s%s",
		 c->transparent_announce[i], c->transparent_join_port,
		 strerror(-r),
		 r == -EADDRNOTAVAIL ? " (not an address of this host)" :
		 r == -EADDRINUSE ? " (join_port is taken on it)" : "");
}

/* Each connection accepts as many joins as the subflows limit says; a
 * CPE's every path joins each announced address. */
static int raise_limit(struct mptcp_pm *pm, struct conc_announce *a)
{
	uint32_t subflows, add_addr;
	int r = mptcp_pm_get_limits(pm, &subflows, &add_addr);

	if (r < 0 || subflows >= MPTCP_PM_LIMIT_MAX)
		return r;
	a->subflows_was = subflows;
	return mptcp_pm_set_limits(pm, MPTCP_PM_LIMIT_MAX, add_addr);
}

/* Add the pending addresses; stop at the first error. */
static int add_pending(struct mptcp_pm *pm, const struct conc_config *c,
		       struct conc_announce *a, bool final, char *err,
		       size_t errlen)
{
	int r;

	a->pending = 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->ids[i])
			continue;
		if ((r = add_one(pm, c, a, i, final)) < 0) {
			add_error(c, i, r, err, errlen);
			return r;
		}
		a->pending += (size_t)r;
	}
	return 0;
}

int conc_announce_setup(const struct conc_config *c, struct conc_announce *a,
			char *err, size_t errlen)
{
	struct mptcp_pm *pm;
	int r;

	memset(a, 0, sizeof(*a));
	if (!c->transparent_enabled || !c->n_transparent_announce)
		return 0;
	if (!(pm = mptcp_pm_open())) {
		r = -errno;
		snprintf(err, errlen, "transparent.announce: the kernel's MPTCP "
			 "path manager: %s", strerror(-r));
		return r;
	}
	a->n = c->n_transparent_announce;
	r = add_pending(pm, c, a, false, err, errlen);
	if (!r && (r = raise_limit(pm, a)) < 0)
		snprintf(err, errlen, "the MPTCP subflows limit: %s", strerror(-r));
	mptcp_pm_close(pm);
	if (r < 0)
		conc_announce_teardown(a, NULL, 0);
	return r;
}

int conc_announce_retry(const struct conc_config *c, struct conc_announce *a,
			bool final, char *err, size_t errlen)
{
	struct mptcp_pm *pm;
	int r;

	if (!a->pending)
		return 0;
	if (!(pm = mptcp_pm_open())) {
		r = -errno;
		snprintf(err, errlen, "the kernel's MPTCP path manager: %s",
			 strerror(-r));
		return r;
	}
	r = add_pending(pm, c, a, final, err, errlen);
	mptcp_pm_close(pm);
	return r;
}

int conc_announce_teardown(struct conc_announce *a, char *err, size_t errlen)
{
	struct mptcp_pm *pm;
	int r = 0, r2;

	if (!a->n)
		return 0;
	if (!(pm = mptcp_pm_open())) {
		r = -errno;
		if (err)
			snprintf(err, errlen, "the kernel's MPTCP path manager: %s",
				 strerror(-r));
		return r;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (!a->ids[i])
			continue;
		if ((r2 = mptcp_pm_del(pm, a->ids[i])) < 0 && r2 != -ENOENT && !r) {
			r = r2;
			if (err)
				snprintf(err, errlen, "MPTCP endpoint id %u: %s",
					 a->ids[i], strerror(-r));
		}
		a->ids[i] = 0;
	}
	a->n = a->pending = 0;
	mptcp_pm_close(pm);
	return r;
}
