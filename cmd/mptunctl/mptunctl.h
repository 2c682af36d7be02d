/* mptunctl's parts: main.c the commands, http.c asks the daemon, fmt.c
 * prints for people. Every function that fails says why on stderr and
 * returns an exit code (below), or NULL with the code in *rc. */
#ifndef MPTUNCTL_H
#define MPTUNCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SOCK_CPE  "/run/mptun/cpe.sock"
#define SOCK_CONC "/run/mptun/concentrator.sock"

enum { EXIT_DAEMON = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

struct ctl {
	const char *socket; /* exactly one of socket and url once chosen */
	const char *url;
	bool guessed; /* socket is the default and neither default exists */
	bool json, no_rate;
	long limit; /* -n; -1 when not given */
};

/* ---- http.c ---- */

struct http_answer {
	long status;
	char *body; /* NUL-terminated; NULL while empty; the caller frees */
	size_t len, cap;
};

const char *http_where(const struct ctl *c); /* the socket or the URL */
/* One request; the answer, whatever its HTTP status, in *a. 0 or an exit
 * code. */
int http_call(const struct ctl *c, bool post, const char *path,
	      struct http_answer *a);
/* Says what an error answer says: its JSON's "error" or "message" (j may
 * be NULL), else the start of its body. */
void http_answer_error(const struct ctl *c, const char *what,
		       const struct http_answer *a, json_t *j);
/* GET path: its JSON (a new reference), or NULL when the daemon cannot be
 * reached, the status is not 2xx or the body is not JSON. */
json_t *http_get_json(const struct ctl *c, const char *path, int *rc);

/* ---- fmt.c ---- */

void *fmt_realloc(void *p, size_t n); /* exits when out of memory */
void fmt_clean(char *s);              /* control characters become '?' */
void fmt_json(json_t *j);             /* pretty, on stdout */

typedef void fmt_fn(char *b, size_t n, double v);
fmt_fn fmt_count, fmt_bytes, fmt_rate, fmt_dur, fmt_ms;

/* A number of o[k] for people; "-" when it is missing, of another type or
 * out of range (negative, beyond 2^62). The array lives until the end of
 * the full expression that called fmt_num(), so fmt_num(...).s can be an
 * argument. */
struct fmt_num {
	char s[48];
};
struct fmt_num fmt_num(json_t *o, const char *k, fmt_fn *f);
const char *fmt_str(json_t *o, const char *k); /* o[k] if a string, else "-" */

struct table {
	size_t ncols, n, cap;
	const char *const *head; /* ncols names, or NULL: no header line */
	const char *align;       /* ncols of 'l' or 'r' */
	char **cells;            /* row-major, n of them */
};

#define TABLE_MAX_COLS 16
#define TABLE(h, a) { .ncols = sizeof(h) / sizeof(*(h)), .head = (h), .align = (a) }

void table_add(struct table *t, const char *s); /* the next cell, a copy */
void table_addf(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints the complete rows, each column as wide as its widest cell, and
 * empties the table. */
void table_print(struct table *t);

#endif
