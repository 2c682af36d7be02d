/* The MPTCP/TCP socket seam: constants newer than the installed kernel
 * headers, listener and connector setup, the TFO sysctl. */
#ifndef MPTUN_SOCKOPT_H
#define MPTUN_SOCKOPT_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/socket.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef TCP_FASTOPEN_NO_COOKIE
#define TCP_FASTOPEN_NO_COOKIE 34
#endif
#ifndef TCP_IS_MPTCP
#define TCP_IS_MPTCP 43
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SOCKOPT_TFO_SYSCTL "/proc/sys/net/ipv4/tcp_fastopen"
#define SOCKOPT_TFO_SERVER 0x2

/* An MPTCP listener (IPPROTO_MPTCP; TCP clients fall back) on addr with
 * SO_REUSEPORT, TCP_FASTOPEN and TCP_FASTOPEN_NO_COOKIE. Returns the fd or
 * -errno; *what names the step that failed. */
int sockopt_mptcp_listener(const struct sockaddr *addr, socklen_t len,
			   int backlog, const char **what);
/* Start a non-blocking TCP connect to dst, from src when src is not NULL.
 * Returns the fd (connect in progress or done) or -errno. */
int sockopt_connect(const struct sockaddr *dst, socklen_t dst_len,
		    const struct sockaddr *src, socklen_t src_len);
int sockopt_so_error(int fd); /* pending error as a positive errno, or 0 */
void sockopt_abort_on_close(int fd); /* SO_LINGER 0: close sends RST */

/* Read net.ipv4.tcp_fastopen into *val; 0 or -errno. */
int sockopt_tfo_sysctl_get(int *val);
int sockopt_tfo_sysctl_set(int val);

#endif
