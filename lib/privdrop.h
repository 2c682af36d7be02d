/* Dropping root after setup: the daemons open what needs privileges (TUN,
 * netlink, listeners, sysctls) as root, then become a configured user and
 * keep only the capabilities their running work needs (libcap). */
#ifndef MPTUN_PRIVDROP_H
#define MPTUN_PRIVDROP_H

#include <stddef.h>
#include <sys/capability.h>

/* Become user (its uid, primary gid and supplementary groups), keeping the
 * n capabilities of keep permitted and effective, nothing else, and set
 * no_new_privs. With n > 0 call it while the process has one thread:
 * capabilities belong to threads. With n == 0 threads may exist: glibc
 * changes the ids of every thread and the kernel then clears their
 * capabilities. Returns 0, or -1 with a message in err. */
int privdrop(const char *user, const cap_value_t *keep, int n, char *err,
	     size_t errlen);

#endif
