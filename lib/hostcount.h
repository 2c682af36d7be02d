/* Flows per LAN host, for the CPE's per-host limits: a hash table of the
 * hosts that have flows now, each with its count of flows and of flows
 * still opening. An entry exists while either count is non-zero, so the
 * table's size follows the flows, not the hosts ever seen. */
#ifndef MPTUN_HOSTCOUNT_H
#define MPTUN_HOSTCOUNT_H

#include <stddef.h>
#include <stdint.h>

struct host_entry {
	struct host_entry *next;
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint32_t flows, pending;
};

struct hostcount {
	struct host_entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t n;         /* entries */
};

/* 0 or -ENOMEM. */
int hostcount_init(struct hostcount *h, size_t buckets);
void hostcount_destroy(struct hostcount *h); /* frees every entry */
/* The entry of a host, created with zero counts when it has none; NULL
 * when out of memory. */
struct host_entry *hostcount_get(struct hostcount *h, int family,
				 const uint8_t *addr);
/* Call after lowering an entry's counts: frees it when both are zero. */
void hostcount_put(struct hostcount *h, struct host_entry *e);

#endif
