#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

const double metrics_hist_bounds[METRICS_HIST_N] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

int metrics_open(struct metrics *m)
{
	*m = (struct metrics){ 0 };
	m->f = open_memstream(&m->buf, &m->len);
	return m->f ? 0 : -ENOMEM;
}

char *metrics_close(struct metrics *m, size_t *len)
{
	bool bad = ferror(m->f);

	if (fclose(m->f) != 0 || bad) {
		free(m->buf);
		m->buf = NULL;
	}
	*len = m->buf ? m->len : 0;
	return m->buf;
}

void metrics_family(struct metrics *m, const char *name, const char *type,
		    const char *help)
{
	fprintf(m->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void put_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f), fputc(*v, f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void put_labels(FILE *f, va_list ap)
{
	const char *k = va_arg(ap, const char *);

	if (!k)
		return;
	fputc('{', f);
	for (bool first = true; k; k = va_arg(ap, const char *), first = false) {
		const char *v = va_arg(ap, const char *);
		fprintf(f, "%s%s=\"", first ? "" : ",", k);
		put_value(f, v ? v : "");
		fputc('"', f);
	}
	fputc('}', f);
}

void metrics_u64(struct metrics *m, const char *name, uint64_t v, ...)
{
	va_list ap;

	fputs(name, m->f);
	va_start(ap, v);
	put_labels(m->f, ap);
	va_end(ap);
	fprintf(m->f, " %llu\n", (unsigned long long)v);
}

void metrics_f64(struct metrics *m, const char *name, double v, ...)
{
	va_list ap;

	fputs(name, m->f);
	va_start(ap, v);
	put_labels(m->f, ap);
	va_end(ap);
	fprintf(m->f, " %.9g\n", v);
}

static void add_relaxed(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

void metrics_hist_observe(struct metrics_hist *h, uint64_t us)
{
	double s = (double)us / 1e6;
	size_t i = 0;

	while (i < METRICS_HIST_N && s > metrics_hist_bounds[i])
		i++;
	if (i < METRICS_HIST_N)
		add_relaxed(&h->bucket[i], 1);
	add_relaxed(&h->sum_us, us);
	add_relaxed(&h->count, 1);
}

void metrics_hist_add(struct metrics_hist *out, const struct metrics_hist *in)
{
	for (size_t i = 0; i < METRICS_HIST_N; i++)
		out->bucket[i] += __atomic_load_n(&in->bucket[i], __ATOMIC_RELAXED);
	out->count += __atomic_load_n(&in->count, __ATOMIC_RELAXED);
	out->sum_us += __atomic_load_n(&in->sum_us, __ATOMIC_RELAXED);
}

void metrics_hist_write(struct metrics *m, const char *name, const char *help,
			const struct metrics_hist *h)
{
	uint64_t cum = 0;
	char le[32];

	metrics_family(m, name, "histogram", help);
	for (size_t i = 0; i < METRICS_HIST_N; i++) {
		cum += h->bucket[i];
		snprintf(le, sizeof(le), "%g", metrics_hist_bounds[i]);
		fprintf(m->f, "%s_bucket{le=\"%s\"} %llu\n", name, le,
			(unsigned long long)cum);
	}
	/* +Inf is every observation, also those over the last bound; count
	 * is read after the buckets, so it is never below their sum. */
	fprintf(m->f, "%s_bucket{le=\"+Inf\"} %llu\n", name,
		(unsigned long long)(h->count > cum ? h->count : cum));
	fprintf(m->f, "%s_sum %.6f\n%s_count %llu\n", name,
		(double)h->sum_us / 1e6, name,
		(unsigned long long)(h->count > cum ? h->count : cum));
}
