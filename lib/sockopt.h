/* The MPTCP/TCP socket seam: constants newer than the installed kernel
 * headers, listener and connector setup, the TFO sysctl. */
#ifndef MPTUN_SOCKOPT_H
#define MPTUN_SOCKOPT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

/* No <netinet/tcp.h> here: lwIP's headers define TCP_MSS too, and the
 * CPE's lwIP glue includes this file. The TCP option numbers live in
 * sockopt.c. */
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

/* Unsent bytes a relay socket queues beyond what is in flight. */
#define SOCKOPT_NOTSENT_LOWAT (256 * 1024)

#define SOCKOPT_TFO_SYSCTL "net.ipv4.tcp_fastopen"
#define SOCKOPT_TFO_SERVER 0x2

/* An MPTCP listener (IPPROTO_MPTCP; TCP clients fall back) on addr with
 * SO_REUSEPORT, TCP_FASTOPEN and TCP_FASTOPEN_NO_COOKIE. Returns the fd or
 * -errno; *what names the step that failed. */
int sockopt_mptcp_listener(const struct sockaddr *addr, socklen_t len,
			   int backlog, const char **what);
/* The same with IPV6_V6ONLY set to v6only and, before the rest, the
 * caller's own options: pre(fd, family, what), 0 or -errno (NULL: none). */
typedef int (*sockopt_pre_fn)(int fd, int family, const char **what);
int sockopt_mptcp_listener_with(const struct sockaddr *addr, socklen_t len,
				int backlog, bool v6only, sockopt_pre_fn pre,
				const char **what);
/* Start a non-blocking TCP connect to dst, from src when src is not NULL.
 * Returns the fd (connect in progress or done) or -errno. */
int sockopt_connect(const struct sockaddr *dst, socklen_t dst_len,
		    const struct sockaddr *src, socklen_t src_len);
int sockopt_so_error(int fd); /* pending error as a positive errno, or 0 */
void sockopt_abort_on_close(int fd); /* SO_LINGER 0: close sends RST */
/* SO_LINGER off again: close() ends the connection with a FIN. The
 * concentrator arms abort_on_close on its server sockets so that if the
 * process dies, the kernel resets them (a truncated upload must not look
 * complete), and turns it off before each orderly close. */
void sockopt_linger_off(int fd);
/* TCP_NODELAY: a relay forwards what it has at once; Nagle would hold a
 * small relayed write behind the unacknowledged answer for a round trip. */
void sockopt_nodelay(int fd);
/* Bound the kernel's unsent queue to SOCKOPT_NOTSENT_LOWAT: the socket
 * reports writable, and takes more, only below it. */
void sockopt_notsent_lowat(int fd);
#define SOCKOPT_KEEPIDLE_S 20
/* A non-blocking MPTCP client socket with TCP_NODELAY, keepalive
 * (SOCKOPT_KEEPIDLE_S idle, then every 5 s, 3 probes) and
 * sockopt_notsent_lowat(); fastopen: also TCP_FASTOPEN_NO_COOKIE, ready
 * for sendto(MSG_FASTOPEN). fd or -errno. */
int sockopt_mptcp_client(int family, bool fastopen);
/* Bind a client socket to a source address (port 0, picked at connect()
 * with IP_BIND_ADDRESS_NO_PORT). 0 or -errno. */
int sockopt_bind_source(int fd, const struct sockaddr *src, socklen_t len);
/* IP_TRANSPARENT or IPV6_TRANSPARENT: the socket may bind an address
 * that is not this host's (needs CAP_NET_ADMIN). 0 or -errno. */
int sockopt_transparent(int fd, int family);

#endif
