/*
 * What lwIP 2.1.3 needs from the system with NO_SYS=1 (see arch/cc.h and
 * lwipopts.h): a millisecond clock for its timers, randomness, and where
 * its diagnostics and failed assertions go. No threads, no locks.
 */
#include "lwip/opt.h"
#include "lwip/sys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "csum.h"

/* Milliseconds on the monotonic clock. lwIP compares times by difference,
 * so the wrap every 49.7 days is harmless; wall-clock steps never move it. */
u32_t sys_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* getrandom() only blocks before the kernel's pool is first initialised,
 * which is over long before a daemon starts. */
static void rand_fill(void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			lwip_port_assert("getrandom() failed", __FILE__,
					 __LINE__);
	}
}

/* Kernel randomness, fetched 64 values at a time to spare a system call
 * per connection. */
uint32_t lwip_port_rand(void)
{
	static uint32_t pool[64];
	static size_t left;

	if (left == 0) {
		rand_fill(pool, sizeof(pool));
		left = sizeof(pool) / sizeof(pool[0]);
	}
	return pool[--left];
}

void lwip_port_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void lwip_port_assert(const char *msg, const char *file, int line)
{
	fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", msg, file,
		line);
	fflush(NULL);
	abort();
}

/* The sum in memory order, the last odd byte as the high one of a word:
 * what lwip_standard_chksum returns, so inet_chksum.c's byte swapping for
 * odd pieces stays right. */
uint16_t lwip_port_chksum(const void *data, int len)
{
	return len > 0 ? csum_fold(csum_add(0, data, (size_t)len)) : 0;
}
