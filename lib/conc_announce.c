/* transparent.announce: where the CPEs' further subflows join. A join
 * (MP_JOIN SYN) sent to the intercepted destination reaches the
 * transparent listener, whose port is not the connection's, and the
 * kernel refuses it (MPTcpExtMismatchPortSynRx). So this host announces
 * addresses of its own with a port (ADD_ADDR): an MPTCP "signal" endpoint
 * with a port makes the kernel listen on that address and port for joins
 * of any of its connections, and announce it to every peer. A CPE in
 * transparent mode (fullmesh endpoints) joins there from each path. */
#include "conc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mptcp_pm.h"

static int endpoint_of(const char *s, uint16_t port, struct mptcp_pm_endpoint *e)
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

/* Add e (replacing a leftover with its address and port); its id in *id. */
static int add_one(struct mptcp_pm *pm, struct mptcp_pm_endpoint *e, uint8_t *id)
{
	int r = mptcp_pm_add(pm, e);
	uint8_t old;

	if (r == -EEXIST && (old = find(pm, e))) {
		mptcp_pm_del(pm, old);
		r = mptcp_pm_add(pm, e);
	}
	if (r < 0)
		return r;
	*id = find(pm, e);
	return *id ? 0 : -ENOENT;
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

int conc_announce_setup(const struct conc_config *c, struct conc_announce *a,
			char *err, size_t errlen)
{
	struct mptcp_pm *pm;
	int r = 0;

	memset(a, 0, sizeof(*a));
	if (!c->transparent_enabled || !c->n_transparent_announce)
		return 0;
	if (!(pm = mptcp_pm_open())) {
		r = -errno;
		snprintf(err, errlen, "transparent.announce: the kernel's MPTCP "
			 "path manager: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < c->n_transparent_announce && !r; i++) {
		const char *s = c->transparent_announce[i];
		struct mptcp_pm_endpoint e;

		r = endpoint_of(s, (uint16_t)c->transparent_join_port, &e);
		if (!r)
			r = add_one(pm, &e, &a->ids[a->n]);
		if (r < 0)
			snprintf(err, errlen, "transparent.announce: %s port %u: %s%s",
				 s, c->transparent_join_port, strerror(-r),
				 r == -EADDRNOTAVAIL ? " (not an address of this host)" :
				 r == -EADDRINUSE ? " (join_port is taken on it)" : "");
		else
			a->n++;
	}
	if (!r && (r = raise_limit(pm, a)) < 0)
		snprintf(err, errlen, "the MPTCP subflows limit: %s", strerror(-r));
	mptcp_pm_close(pm);
	if (r < 0)
		conc_announce_teardown(a, NULL, 0);
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
		if ((r2 = mptcp_pm_del(pm, a->ids[i])) < 0 && r2 != -ENOENT && !r) {
			r = r2;
			if (err)
				snprintf(err, errlen, "MPTCP endpoint id %u: %s",
					 a->ids[i], strerror(-r));
		}
	}
	a->n = 0;
	mptcp_pm_close(pm);
	return r;
}
