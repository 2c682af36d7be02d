/* Snapshots of the workers' flows and per-CPE tables (see conc_snap.h). */
#include "conc_snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conc.h"
#include "conc_flow.h"

/* ---- the request ---- */

static void snap_free(struct conc_snap *s)
{
	for (unsigned i = 0; i < s->n_parts; i++) {
		free(s->part[i].flows);
		free(s->part[i].cpes);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void conc_snap_unref(struct conc_snap *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		snap_free(s);
}

static struct conc_snap *snap_new(unsigned n, unsigned what, size_t limit)
{
	struct conc_snap *s = calloc(1, sizeof(*s) + n * sizeof(s->part[0]));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	s->refs = 1 + (int)n;
	s->what = what;
	s->limit = limit;
	s->n_parts = n;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	return s;
}

/* The worker's last touch of s. */
static void part_done(struct conc_snap *s, unsigned idx, int err)
{
	pthread_mutex_lock(&s->lock);
	s->part[idx].err = err;
	s->part[idx].done = true;
	s->n_done++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	conc_snap_unref(s);
}

void conc_snap_abandon(struct conc_snap *s, unsigned idx, int err)
{
	part_done(s, idx, err);
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* 0 when every part is there and whole. */
static int snap_wait(struct conc_snap *s, int timeout_ms)
{
	struct timespec until;
	int r = 0;

	deadline_in(&until, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (s->n_done < s->n_parts && r == 0)
		r = pthread_cond_timedwait(&s->cond, &s->lock, &until);
	r = s->n_done < s->n_parts ? -ETIMEDOUT : 0;
	for (unsigned i = 0; r == 0 && i < s->n_parts; i++)
		r = s->part[i].err;
	pthread_mutex_unlock(&s->lock);
	return r;
}

struct conc_snap *conc_snap_take(struct conc_daemon *d, unsigned what,
				 size_t limit, int timeout_ms, int *err)
{
	struct conc_snap *s = snap_new(d->n_workers, what, limit);

	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	/* A message that cannot be posted is a part that never comes. */
	for (unsigned i = 0; i < d->n_workers; i++)
		if (conc_worker_post_snap(&d->workers[i], s) < 0)
			conc_snap_abandon(s, i, -EAGAIN);
	if ((*err = snap_wait(s, timeout_ms)) < 0) {
		conc_snap_unref(s);
		return NULL;
	}
	return s;
}

/* ---- the worker's side ---- */

static const char *const state_names[] = {
    [FLOW_OPENING] = "opening",		  [FLOW_S5_AUTH] = "socks5_auth",
    [FLOW_S5_REQUEST] = "socks5_request", [FLOW_RESOLVING] = "resolving",
    [FLOW_CONNECTING] = "connecting",	  [FLOW_RELAY] = "relaying",
    [FLOW_FINISHING] = "finishing",	  [FLOW_DEAD] = "closed",
};

static void copy_addr(union conc_snap_addr *to,
		      const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		memcpy(&to->in, ss, sizeof(to->in));
	else if (ss->ss_family == AF_INET6)
		memcpy(&to->in6, ss, sizeof(to->in6));
}

/* o is zeroed. */
static void copy_flow(struct conc_snap_flow *o, const struct conc_flow *f,
		      uint64_t now)
{
	o->id = f->id;
	copy_addr(&o->client, &f->peer);
	if (flow_has_dst(f))
		copy_addr(&o->dst, &f->dst);
	o->state = state_names[f->state];
	o->age_ms = now - f->start_ms;
	o->bytes_up = f->up.bytes;
	o->bytes_down = f->down.bytes;
	if (f->cpe) /* else it stays "" */
		memcpy(o->cpe, f->cpe->st.id, sizeof(o->cpe));
	o->worker = f->w->idx;
}

/* The oldest flows: the list has the newest first. */
static bool fill_flows(struct conc_worker *w, struct conc_snap_part *p,
		       size_t limit)
{
	size_t k = w->n_flows < limit ? w->n_flows : limit;
	size_t skip = w->n_flows - k, i = 0;
	uint64_t now = loop_clock_ms();
	struct conc_flow *f;

	p->flows_open = w->n_flows;
	if (!k)
		return true;
	if (!(p->flows = calloc(k, sizeof(*p->flows))))
		return false;
	for (f = w->flows; f && skip; f = f->next)
		skip--;
	for (; f && i < k; f = f->next)
		copy_flow(&p->flows[i++], f, now);
	p->n_flows = i;
	return true;
}

/* Closed flows' bytes are in the table; the live ones' are added here, so
 * the sums only grow. */
static bool fill_cpes(struct conc_worker *w, struct conc_snap_part *p)
{
	if (!w->cpes.n)
		return true;
	if (!(p->cpes = calloc(w->cpes.n, sizeof(*p->cpes))))
		return false;
	p->n_cpes = conc_cpes_copy(&w->cpes, p->cpes);
	for (struct conc_flow *f = w->flows; f; f = f->next) {
		if (!f->cpe)
			continue;
		p->cpes[f->cpe->snap_idx].bytes_up += f->up.bytes;
		p->cpes[f->cpe->snap_idx].bytes_down += f->down.bytes;
	}
	return true;
}

void conc_snap_fill(struct conc_worker *w, struct conc_snap *s)
{
	struct conc_snap_part *p = &s->part[w->idx];
	bool ok = true;

	if (s->what & CONC_SNAP_FLOWS)
		ok = fill_flows(w, p, s->limit);
	if (ok && (s->what & CONC_SNAP_CPES))
		ok = fill_cpes(w, p);
	part_done(s, w->idx, ok ? 0 : -ENOMEM);
}

/* ---- merging the parts ---- */

static int by_flow_id(const void *a, const void *b)
{
	uint64_t x = ((const struct conc_snap_flow *)a)->id;
	uint64_t y = ((const struct conc_snap_flow *)b)->id;

	return x < y ? -1 : x > y;
}

struct conc_snap_flow *conc_snap_flows(const struct conc_snap *s, size_t limit,
				       size_t *n, size_t *total)
{
	struct conc_snap_flow *all;
	size_t k = 0;

	*total = 0;
	for (unsigned i = 0; i < s->n_parts; i++) {
		*total += s->part[i].flows_open;
		k += s->part[i].n_flows;
	}
	if (!(all = malloc((k ? k : 1) * sizeof(*all))))
		return NULL;
	k = 0;
	for (unsigned i = 0; i < s->n_parts; i++) {
		if (s->part[i].n_flows)
			memcpy(all + k, s->part[i].flows,
			       s->part[i].n_flows * sizeof(*all));
		k += s->part[i].n_flows;
	}
	qsort(all, k, sizeof(*all), by_flow_id);
	*n = k < limit ? k : limit;
	return all;
}

static int by_cpe_id(const void *a, const void *b)
{
	return strcmp(((const struct conc_cpe_stat *)a)->id,
		      ((const struct conc_cpe_stat *)b)->id);
}

struct conc_cpe_stat *conc_snap_cpes(const struct conc_snap *s, size_t *n)
{
	struct conc_cpe_stat *all;
	size_t k = 0, out = 0;

	for (unsigned i = 0; i < s->n_parts; i++)
		k += s->part[i].n_cpes;
	if (!(all = malloc((k ? k : 1) * sizeof(*all))))
		return NULL;
	k = 0;
	for (unsigned i = 0; i < s->n_parts; i++) {
		if (s->part[i].n_cpes)
			memcpy(all + k, s->part[i].cpes,
			       s->part[i].n_cpes * sizeof(*all));
		k += s->part[i].n_cpes;
	}
	qsort(all, k, sizeof(*all), by_cpe_id);
	for (size_t i = 0; i < k; i++) {
		struct conc_cpe_stat *o;
		if (!out || by_cpe_id(&all[out - 1], &all[i])) {
			all[out++] = all[i];
			continue;
		}
		o = &all[out - 1];
		o->flows_active += all[i].flows_active;
		o->flows_total += all[i].flows_total;
		o->bytes_up += all[i].bytes_up;
		o->bytes_down += all[i].bytes_down;
	}
	*n = out;
	return all;
}
