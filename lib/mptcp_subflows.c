#include "mptcp_subflows.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* A CPE has at most 8 paths: one subflow each, and a spare for each
 * being replaced. */
#define SUBFLOWS_MAX 16

/* From the kernel's include/uapi/linux/mptcp.h, spelt out here: build
 * hosts' headers may predate them (Linux 5.16), and that header clashes
 * with <netinet/in.h>. The layout is the kernel's ABI. */
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#define MPTUN_MPTCP_SUBFLOW_ADDRS 3

struct mptun_subflow_data {
	uint32_t size_subflow_data; /* of this header, set by us */
	uint32_t num_subflows;	    /* set by the kernel */
	uint32_t size_kernel;	    /* of one element, set by the kernel */
	uint32_t size_user;	    /* of one element, set by us */
} __attribute__((aligned(8)));

struct mptun_subflow_addrs {
	struct sockaddr_storage local, remote;
};

struct subflow_req {
	struct mptun_subflow_data h;
	struct mptun_subflow_addrs a[SUBFLOWS_MAX];
};

int mptcp_subflows_local(int fd, struct sockaddr_storage *local, size_t max)
{
	struct subflow_req r;
	socklen_t len = sizeof(r);
	size_t n;

	memset(&r.h, 0, sizeof(r.h));
	r.h.size_subflow_data = sizeof(r.h);
	r.h.size_user = sizeof(r.a[0]);
	if (getsockopt(fd, SOL_MPTCP, MPTUN_MPTCP_SUBFLOW_ADDRS, &r, &len) < 0)
		return -errno;
	/* The kernel copies what fits of what it has, and says how many. */
	if (len < sizeof(r.h) || r.h.size_user != sizeof(r.a[0]))
		return -EPROTO;
	n = (len - sizeof(r.h)) / sizeof(r.a[0]);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		local[i] = r.a[i].local;
	return (int)r.h.num_subflows;
}
