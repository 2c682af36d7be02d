/* Transparent mode and source preservation, the daemon's side: the
 * nftables table (lib/nft.c) and policy routing (lib/nlroute_local.c)
 * installed at start and removed at exit, and the transparent listener. */
#include "conc.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <unistd.h>

#include "nft.h"
#include "nlroute_local.h"
#include "sockopt.h"

#ifndef TCP_FASTOPEN_NO_COOKIE
#define TCP_FASTOPEN_NO_COOKIE 34
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

bool conc_has_net_admin(void)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (!caps)
		return false;
	if (cap_get_flag(caps, CAP_NET_ADMIN, CAP_EFFECTIVE, &v) < 0)
		v = CAP_CLEAR;
	cap_free(caps);
	return v == CAP_SET;
}

/* The routes and rules, then (on success) the nftables table. */
static int install(const struct conc_config *c, char *err, size_t errlen)
{
	const struct nft_tproxy t = {
		.ifs = c->transparent_enabled ? c->transparent_ifs : NULL,
		.n_ifs = c->transparent_enabled ? c->n_transparent_ifs : 0,
		.port = (uint16_t)c->transparent_port,
		.mark = c->tproxy_mark,
	};
	struct nlroute *nr = nlroute_open();
	int r;

	if (!nr) {
		r = -errno;
		snprintf(err, errlen, "netlink: %s", strerror(-r));
		return r;
	}
	nlroute_local_remove(nr, c->tproxy_table);
	r = nlroute_local_install(nr, c->tproxy_table, c->tproxy_priority,
				  c->tproxy_mark);
	if (r < 0)
		snprintf(err, errlen,
			 "policy routing (fwmark 0x%x lookup %u, priority %u): %s",
			 c->tproxy_mark, c->tproxy_table, c->tproxy_priority,
			 strerror(-r));
	else if ((r = nft_tproxy_install(&t, err, errlen)) < 0)
		nlroute_local_remove(nr, c->tproxy_table);
	nlroute_close(nr);
	return r;
}

int conc_tproxy_setup(const struct conc_config *c, char *err, size_t errlen)
{
	if (!conc_has_net_admin()) {
		snprintf(err, errlen,
			 "%s needs CAP_NET_ADMIN (IP_TRANSPARENT sockets, "
			 "nftables, policy routing); under systemd add it with a "
			 "drop-in: AmbientCapabilities=CAP_NET_ADMIN and "
			 "CapabilityBoundingSet=CAP_NET_ADMIN",
			 c->transparent_enabled ? "transparent.enabled"
						: "source.preserve");
		return -EPERM;
	}
	return install(c, err, errlen);
}

int conc_tproxy_teardown(const struct conc_config *c, char *err, size_t errlen)
{
	struct nlroute *nr = nlroute_open();
	int r = nft_tproxy_remove(err, errlen), r2;

	if (!nr) {
		r2 = -errno;
		snprintf(err, errlen, "netlink: %s", strerror(-r2));
		return r2;
	}
	r2 = nlroute_local_remove(nr, c->tproxy_table);
	nlroute_close(nr);
	if (r2 < 0 && !r) {
		snprintf(err, errlen, "policy routing: %s", strerror(-r2));
		r = r2;
	}
	return r;
}

static int set_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

/* IPV6_TRANSPARENT and IP_TRANSPARENT set the same flag of the socket. */
int conc_set_transparent(int fd, int family)
{
	if (family == AF_INET6)
		return set_int(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1);
	return set_int(fd, IPPROTO_IP, IP_TRANSPARENT, 1);
}

static int tproxy_opts(int fd, int family, const char **what)
{
	*what = family == AF_INET6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT";
	return conc_set_transparent(fd, family);
}

static socklen_t loopback(int family, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*sin);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = in6addr_loopback;
	return sizeof(*sin6);
}

int conc_tproxy_listener(int family, uint16_t port, int backlog,
			 const char **what)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);

	/* A CPE may put the first bytes in its SYN: the listener takes them. */
	return sockopt_mptcp_listener_with((struct sockaddr *)&ss, len, backlog,
					   true, tproxy_opts, what);
}
