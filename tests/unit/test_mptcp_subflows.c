/* lib/mptcp_subflows: the local addresses of an MPTCP connection's
 * subflows, on loopback (one subflow: no endpoints there), and the errors
 * for a socket that is not MPTCP. Skips (77) on a kernel without MPTCP or
 * without MPTCP_SUBFLOW_ADDRS (before 5.16). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mptcp_subflows.h"
#include "sockopt.h"

static int lfd = -1, cfd = -1, afd = -1;

/* An MPTCP connection over 127.0.0.1: cfd to afd. */
static int setup(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&sin, len) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0 ||
	    connect(cfd, (struct sockaddr *)&sin, len) < 0 ||
	    (afd = accept(lfd, NULL, NULL)) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	close(afd), close(cfd), close(lfd);
	return 0;
}

static void one_subflow_from_loopback(void **state)
{
	struct sockaddr_storage local[4], self;
	socklen_t len = sizeof(self);
	int n = mptcp_subflows_local(cfd, local, 4);

	assert_int_equal(n, 1);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&self, &len), 0);
	assert_int_equal(local[0].ss_family, AF_INET);
	assert_memory_equal(&((struct sockaddr_in *)&local[0])->sin_addr,
			    &((struct sockaddr_in *)&self)->sin_addr, 4);
	assert_int_equal(((struct sockaddr_in *)&local[0])->sin_port,
			 ((struct sockaddr_in *)&self)->sin_port);
	/* room for none: still counted */
	assert_int_equal(mptcp_subflows_local(afd, local, 0), 1);
}

static void not_mptcp(void **state)
{
	struct sockaddr_storage local[1];
	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(tcp >= 0);
	assert_true(mptcp_subflows_local(tcp, local, 1) < 0);
	close(tcp);
	assert_int_equal(mptcp_subflows_local(-1, local, 1), -EBADF);
}

int main(void)
{
	struct sockaddr_storage local[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(one_subflow_from_loopback),
	    cmocka_unit_test(not_mptcp),
	};

	if (setup(NULL) < 0) {
		printf("SKIP: no MPTCP connection on loopback: %s\n",
		       strerror(errno));
		teardown(NULL);
		return 77;
	}
	if (mptcp_subflows_local(cfd, local, 1) == -EOPNOTSUPP ||
	    mptcp_subflows_local(cfd, local, 1) == -ENOPROTOOPT) {
		printf("SKIP: the kernel lacks MPTCP_SUBFLOW_ADDRS (Linux "
		       "5.16)\n");
		teardown(NULL);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, teardown);
}
