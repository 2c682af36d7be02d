#include "hostcount.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static size_t alen(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

static size_t slot(const struct hostcount *h, int family, const uint8_t *addr)
{
	uint64_t x = 1469598103934665603ull ^ (uint64_t)family; /* FNV-1a */

	for (size_t i = 0; i < alen(family); i++)
		x = (x ^ addr[i]) * 1099511628211ull;
	return (size_t)(x ^ (x >> 29)) & (h->n_buckets - 1);
}

int hostcount_init(struct hostcount *h, size_t buckets)
{
	size_t n = 16;

	while (n < buckets)
		n <<= 1;
	memset(h, 0, sizeof(*h));
	if (!(h->buckets = calloc(n, sizeof(*h->buckets))))
		return -ENOMEM;
	h->n_buckets = n;
	return 0;
}

void hostcount_destroy(struct hostcount *h)
{
	for (size_t i = 0; h->buckets && i < h->n_buckets; i++) {
		while (h->buckets[i]) {
			struct host_entry *e = h->buckets[i];
			h->buckets[i] = e->next;
			free(e);
		}
	}
	free(h->buckets);
	h->buckets = NULL;
	h->n = 0;
}

struct host_entry *hostcount_get(struct hostcount *h, int family,
				 const uint8_t *addr)
{
	size_t s = slot(h, family, addr);
	struct host_entry *e;

	for (e = h->buckets[s]; e; e = e->next)
		if (e->family == family && !memcmp(e->addr, addr, alen(family)))
			return e;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->family = family;
	memcpy(e->addr, addr, alen(family));
	e->next = h->buckets[s];
	h->buckets[s] = e;
	h->n++;
	return e;
}

void hostcount_put(struct hostcount *h, struct host_entry *e)
{
	struct host_entry **pp;

	if (e->flows || e->pending)
		return;
	for (pp = &h->buckets[slot(h, e->family, e->addr)]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			free(e);
			h->n--;
			return;
		}
	}
}
