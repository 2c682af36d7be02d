/* The subflows of an MPTCP socket, from the kernel (getsockopt SOL_MPTCP
 * MPTCP_SUBFLOW_ADDRS, Linux 5.16 and later): which local address each
 * one uses, so that the CPE can say how many subflows run on each path.
 * One call per socket; cheap (no netlink), but still a syscall: call it on
 * demand (a status request), not per packet. */
#ifndef MPTUN_MPTCP_SUBFLOWS_H
#define MPTUN_MPTCP_SUBFLOWS_H

#include <stddef.h>
#include <sys/socket.h>

/* Fill local[0..max) with the local addresses (port included) of fd's
 * subflows; returns how many subflows the connection has (it may be more
 * than max: only max are filled), or -errno: -EOPNOTSUPP for a socket that
 * is not MPTCP or fell back to TCP, -ENOPROTOOPT for a kernel without the
 * option. */
int mptcp_subflows_local(int fd, struct sockaddr_storage *local, size_t max);

#endif
