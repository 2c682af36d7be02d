#include "conc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct conc_client {
	struct conc_client *next;
	uint8_t addr[16]; /* IPv4 as v4-mapped */
	uint32_t flows;
	uint32_t pending; /* of flows, those still opening */
};

#define LIMITS_BUCKETS 4096

static void client_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
}

static size_t client_hash(const uint8_t key[16], size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)(h % n);
}

int conc_limits_init(struct conc_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->buckets = calloc(LIMITS_BUCKETS, sizeof(*lim->buckets));
	if (!lim->buckets)
		return -ENOMEM;
	lim->n_buckets = LIMITS_BUCKETS;
	pthread_mutex_init(&lim->lock, NULL);
	return 0;
}

void conc_limits_destroy(struct conc_limits *lim)
{
	if (!lim->buckets)
		return;
	for (size_t i = 0; i < lim->n_buckets; i++) {
		struct conc_client *c = lim->buckets[i], *next;
		for (; c; c = next) {
			next = c->next;
			free(c);
		}
	}
	free(lim->buckets);
	lim->buckets = NULL;
	pthread_mutex_destroy(&lim->lock);
}

static struct conc_client **find(struct conc_limits *lim, const uint8_t key[16])
{
	struct conc_client **pp = &lim->buckets[client_hash(key, lim->n_buckets)];

	while (*pp && memcmp((*pp)->addr, key, 16))
		pp = &(*pp)->next;
	return pp;
}

/* Under the lock. An entry left with no flow goes, so that refused
 * clients leave nothing behind. */
static enum conc_limit_hit take(struct conc_limits *lim, const uint8_t key[16],
				const struct conc_limits_max *max, bool opening)
{
	struct conc_client **pp, *c;
	enum conc_limit_hit hit = CONC_LIMIT_NONE;

	if (lim->total >= max->total)
		return CONC_LIMIT_TOTAL;
	pp = find(lim, key);
	if (!(c = *pp)) {
		if (!(c = calloc(1, sizeof(*c))))
			return CONC_LIMIT_TOTAL; /* out of memory: full */
		memcpy(c->addr, key, 16);
		*pp = c;
	}
	if (c->flows >= max->per_client)
		hit = CONC_LIMIT_PER_CLIENT;
	else if (opening && c->pending >= max->pending)
		hit = CONC_LIMIT_PENDING;
	if (hit != CONC_LIMIT_NONE) {
		if (!c->flows) {
			*pp = c->next;
			free(c);
		}
		return hit;
	}
	c->flows++;
	c->pending += opening;
	lim->total++;
	return CONC_LIMIT_NONE;
}

bool conc_limits_acquire(struct conc_limits *lim, const struct sockaddr *client,
			 uint32_t max_total, uint32_t max_per_client)
{
	const struct conc_limits_max max = { max_total, max_per_client, 0 };
	uint8_t key[16];
	enum conc_limit_hit hit;

	client_key(client, key);
	pthread_mutex_lock(&lim->lock);
	hit = take(lim, key, &max, false);
	pthread_mutex_unlock(&lim->lock);
	return hit == CONC_LIMIT_NONE;
}

enum conc_limit_hit conc_limits_acquire_opening(struct conc_limits *lim,
						const struct sockaddr *client,
						const struct conc_limits_max *max)
{
	uint8_t key[16];
	enum conc_limit_hit hit;

	client_key(client, key);
	pthread_mutex_lock(&lim->lock);
	hit = take(lim, key, max, true);
	pthread_mutex_unlock(&lim->lock);
	return hit;
}

void conc_limits_opened(struct conc_limits *lim, const struct sockaddr *client)
{
	uint8_t key[16];
	struct conc_client *c;

	client_key(client, key);
	pthread_mutex_lock(&lim->lock);
	c = *find(lim, key);
	if (c && c->pending)
		c->pending--;
	pthread_mutex_unlock(&lim->lock);
}

void conc_limits_release(struct conc_limits *lim, const struct sockaddr *client)
{
	uint8_t key[16];
	struct conc_client **pp, *c;

	client_key(client, key);
	pthread_mutex_lock(&lim->lock);
	pp = find(lim, key);
	c = *pp;
	if (c && c->flows) {
		c->flows--;
		lim->total--;
		if (!c->flows) {
			*pp = c->next;
			free(c);
		}
	}
	pthread_mutex_unlock(&lim->lock);
}
