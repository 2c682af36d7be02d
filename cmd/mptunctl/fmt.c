/* Printing for people: numbers with units, aligned tables, JSON. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mptunctl.h"

void *fmt_realloc(void *p, size_t n)
{
	if (!(p = realloc(p, n))) {
		fprintf(stderr, "mptunctl: out of memory\n");
		exit(EXIT_DAEMON);
	}
	return p;
}

/* What the daemon says goes to a terminal: no control characters. */
void fmt_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void fmt_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}


void fmt_count(char *b, size_t n, double v)
{
	snprintf(b, n, v == floor(v) ? "%.0f" : "%.1f", v);
}

/* 1024-based steps; a value that would print as 1024.0 moves up a unit. */
void fmt_bytes(char *b, size_t n, double v)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t u = 0;

	if (v < 1024) {
		snprintf(b, n, "%.0f B", v);
		return;
	}
	for (v /= 1024; v >= 1023.95 && u + 1 < sizeof(unit) / sizeof(*unit); u++)
		v /= 1024;
	snprintf(b, n, "%.1f %s", v, unit[u]);
}

void fmt_rate(char *b, size_t n, double v)
{
	static const char *const unit[] = { "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s" };
	size_t u = 0;

	if (v < 999.5) {
		snprintf(b, n, "%.0f bit/s", v);
		return;
	}
	for (v /= 1000; v >= 999.95 && u + 1 < sizeof(unit) / sizeof(*unit); u++)
		v /= 1000;
	snprintf(b, n, "%.1f %s", v, unit[u]);
}

/* 45s, 3m12s, 2h05m, 3d4h */
void fmt_dur(char *b, size_t n, double v)
{
	long long s = (long long)v;

	if (s < 60)
		snprintf(b, n, "%llds", s);
	else if (s < 3600)
		snprintf(b, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(b, n, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(b, n, "%lldd%lldh", s / 86400, s / 3600 % 24);
}

void fmt_ms(char *b, size_t n, double v)
{
	snprintf(b, n, "%.1f ms", v);
}

struct fmt_num fmt_num(json_t *o, const char *k, fmt_fn *f)
{
	json_t *j = json_object_get(o, k);
	struct fmt_num r = { "-" };
	double v = json_number_value(j);

	if (json_is_number(j) && v >= 0 && v < 0x1p62)
		f(r.s, sizeof(r.s), v);
	return r;
}

const char *fmt_str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

/* ---- tables ---- */

void table_add(struct table *t, const char *s)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->cells = fmt_realloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->n] = fmt_realloc(NULL, strlen(s) + 1);
	strcpy(t->cells[t->n], s);
	fmt_clean(t->cells[t->n++]);
}

void table_addf(struct table *t, const char *fmt, ...)
{
	char b[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	table_add(t, b);
}

static void table_row(const struct table *t, const char *const *row,
		      const size_t *w)
{
	size_t c;

	for (c = 0; c < t->ncols; c++) {
		const char *sep = c ? "  " : "";

		if (t->align[c] == 'r')
			printf("%s%*s", sep, (int)w[c], row[c]);
		else if (c + 1 == t->ncols) /* no trailing blanks */
			printf("%s%s", sep, row[c]);
		else
			printf("%s%-*s", sep, (int)w[c], row[c]);
	}
	putchar('\n');
}

void table_print(struct table *t)
{
	size_t w[TABLE_MAX_COLS] = { 0 }, i;

	for (i = 0; t->head && i < t->ncols; i++)
		w[i] = strlen(t->head[i]);
	for (i = 0; i < t->n; i++)
		if (strlen(t->cells[i]) > w[i % t->ncols])
			w[i % t->ncols] = strlen(t->cells[i]);
	if (t->head)
		table_row(t, t->head, w);
	for (i = 0; i + t->ncols <= t->n; i += t->ncols)
		table_row(t, (const char *const *)t->cells + i, w);
	for (i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n = t->cap = 0;
}

