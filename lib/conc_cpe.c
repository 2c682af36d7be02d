/* Per-CPE accounting: a hash table of ids with an idle list for eviction. */
#include "conc_cpe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* a power of two; chains of ~4 at CONC_CPE_MAX */

int conc_cpes_init(struct conc_cpes *t, size_t max)
{
	*t = (struct conc_cpes){.max = max};
	t->buckets = calloc(BUCKETS, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

void conc_cpes_destroy(struct conc_cpes *t)
{
	for (size_t i = 0; t->buckets && i < BUCKETS; i++) {
		struct conc_cpe *c = t->buckets[i], *next;
		for (; c; c = next) {
			next = c->hnext;
			free(c);
		}
	}
	free(t->buckets);
	*t = (struct conc_cpes){0};
}

/* FNV-1a */
static size_t bucket_of(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h & (BUCKETS - 1);
}

static void idle_del(struct conc_cpes *t, struct conc_cpe *c)
{
	if (c->iprev)
		c->iprev->inext = c->inext;
	else if (t->idle_head == c)
		t->idle_head = c->inext;
	if (c->inext)
		c->inext->iprev = c->iprev;
	else if (t->idle_tail == c)
		t->idle_tail = c->iprev;
	c->iprev = c->inext = NULL;
}

static void idle_add(struct conc_cpes *t, struct conc_cpe *c)
{
	c->iprev = t->idle_tail;
	c->inext = NULL;
	if (t->idle_tail)
		t->idle_tail->inext = c;
	else
		t->idle_head = c;
	t->idle_tail = c;
}

static void entry_del(struct conc_cpes *t, struct conc_cpe *c)
{
	struct conc_cpe **p = &t->buckets[bucket_of(c->st.id)];

	while (*p != c)
		p = &(*p)->hnext;
	*p = c->hnext;
	idle_del(t, c);
	t->n--;
	free(c);
}

static struct conc_cpe *entry_new(struct conc_cpes *t, const char *id,
				  bool *evicted)
{
	struct conc_cpe *c;
	size_t b;

	if (t->n >= t->max) {
		if (!t->idle_head)
			return NULL;
		entry_del(t, t->idle_head);
		*evicted = true;
	}
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	snprintf(c->st.id, sizeof(c->st.id), "%s", id);
	b = bucket_of(c->st.id);
	c->hnext = t->buckets[b];
	t->buckets[b] = c;
	t->n++;
	return c;
}

struct conc_cpe *conc_cpe_open(struct conc_cpes *t, const char *id,
			       bool *evicted)
{
	struct conc_cpe *c = t->buckets[bucket_of(id)];

	*evicted = false;
	while (c && strcmp(c->st.id, id))
		c = c->hnext;
	if (!c && !(c = entry_new(t, id, evicted)))
		return NULL;
	if (!c->st.flows_active++)
		idle_del(t, c);
	c->st.flows_total++;
	return c;
}

void conc_cpe_close(struct conc_cpes *t, struct conc_cpe *c, uint64_t up,
		    uint64_t down)
{
	if (!c)
		return;
	c->st.bytes_up += up;
	c->st.bytes_down += down;
	if (!--c->st.flows_active)
		idle_add(t, c);
}

size_t conc_cpes_copy(struct conc_cpes *t, struct conc_cpe_stat *out)
{
	size_t n = 0;

	for (size_t i = 0; i < BUCKETS; i++)
		for (struct conc_cpe *c = t->buckets[i]; c; c = c->hnext) {
			c->snap_idx = n;
			out[n++] = c->st;
		}
	return n;
}
