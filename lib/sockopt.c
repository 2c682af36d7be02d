#include "sockopt.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <unistd.h>

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef TCP_FASTOPEN_NO_COOKIE
#define TCP_FASTOPEN_NO_COOKIE 34
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static int set_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

static int listener_opts(int fd, const struct sockaddr *addr, bool v6only,
			 const char **what)
{
	int r;

	*what = "SO_REUSEADDR";
	if ((r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
		return r;
	*what = "SO_REUSEPORT";
	if ((r = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
		return r;
	*what = "IPV6_V6ONLY";
	if (addr->sa_family == AF_INET6 &&
	    (r = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only)) < 0)
		return r;
	*what = "TCP_FASTOPEN";
	if ((r = set_int(fd, IPPROTO_TCP, TCP_FASTOPEN, 1024)) < 0)
		return r;
	*what = "TCP_FASTOPEN_NO_COOKIE";
	return set_int(fd, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, 1);
}

int sockopt_mptcp_listener(const struct sockaddr *addr, socklen_t len,
			   int backlog, const char **what)
{
	return sockopt_mptcp_listener_with(addr, len, backlog, false, NULL,
					   what);
}

int sockopt_mptcp_listener_with(const struct sockaddr *addr, socklen_t len,
				int backlog, bool v6only, sockopt_pre_fn pre,
				const char **what)
{
	int fd, r;

	*what = "socket(IPPROTO_MPTCP)";
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_MPTCP);
	if (fd < 0)
		return -errno;
	if ((pre && (r = pre(fd, addr->sa_family, what)) < 0) ||
	    (r = listener_opts(fd, addr, v6only, what)) < 0)
		goto fail;
	*what = "bind";
	if (bind(fd, addr, len) < 0)
		goto fail_errno;
	*what = "listen";
	if (listen(fd, backlog) < 0)
		goto fail_errno;
	return fd;
fail_errno:
	r = -errno;
fail:
	close(fd);
	return r;
}

int sockopt_connect(const struct sockaddr *dst, socklen_t dst_len,
		    const struct sockaddr *src, socklen_t src_len)
{
	int fd, r;

	fd = socket(dst->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (src) {
		/* Defer the port choice to connect() so one source address
		 * is not limited to 28k ports over all destinations. */
		set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
		if (bind(fd, src, src_len) < 0)
			goto fail;
	}
	if (connect(fd, dst, dst_len) < 0 && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int sockopt_so_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

void sockopt_nodelay(int fd)
{
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

void sockopt_notsent_lowat(int fd)
{
	set_int(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, SOCKOPT_NOTSENT_LOWAT);
}

void sockopt_abort_on_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void sockopt_linger_off(int fd)
{
	struct linger lg = { .l_onoff = 0, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

int sockopt_mptcp_client(int family, bool fastopen)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_MPTCP);

	if (fd < 0)
		return -errno;
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	/* The client needs nothing else for data in the SYN: the default
	 * net.ipv4.tcp_fastopen (0x1) enables the client side. */
	if (fastopen)
		set_int(fd, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, 1);
	/* A receiving side whose peer vanished without a word sends nothing
	 * that would draw a reset; keepalives ask. Unproven on MPTCP: with
	 * the peer's resets lost, flows outlived 40 s (README). */
	set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, SOCKOPT_KEEPIDLE_S);
	set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, 5);
	set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
	sockopt_notsent_lowat(fd);
	return fd;
}

int sockopt_bind_source(int fd, const struct sockaddr *src, socklen_t len)
{
	/* the port is chosen at connect(), so binds do not exhaust ports */
	set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
	return bind(fd, src, len) < 0 ? -errno : 0;
}

int sockopt_transparent(int fd, int family)
{
	/* one flag of the socket, whichever level sets it */
	if (family == AF_INET6)
		return set_int(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1);
	return set_int(fd, IPPROTO_IP, IP_TRANSPARENT, 1);
}
