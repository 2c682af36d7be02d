#include "cfgparse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"

#define CFG_MAX_KEYS  64 /* keys of one mapping: bits of the seen mask */
#define QUOTE_MAX     64 /* bytes of a value shown in a message */
#define CFG_MAX_DEPTH 16 /* mappings and sequences, one inside another */

struct cfg_walk {
	yaml_document_t doc;
	const char *name;
	char *err;
	size_t errlen;
	char path[256];
	size_t plen;
};

struct quoted {
	char s[QUOTE_MAX * 4 + 8];
};

typedef bool (*cfg_setter)(struct cfg_walk *w, const struct cfg_key *k,
			   yaml_node_t *n, void *base);

static bool walk_map(struct cfg_walk *w, yaml_node_t *node,
		     const struct cfg_key *schema, void *base);

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool verror_at(struct cfg_walk *w, const yaml_mark_t *m,
		      const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	set_err(w->err, w->errlen, "%s:%zu:%zu: %s%s%s", w->name, m->line + 1,
		m->column + 1, w->path, w->plen ? ": " : "", msg);
	return false;
}

__attribute__((format(printf, 3, 4)))
static bool error_at(struct cfg_walk *w, const yaml_mark_t *m,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(w, m, fmt, ap);
	va_end(ap);
	return false;
}

bool cfg_error(struct cfg_walk *w, yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror_at(w, &node->start_mark, fmt, ap);
	va_end(ap);
	return false;
}

yaml_document_t *cfg_doc(struct cfg_walk *w)
{
	return &w->doc;
}

/* A value for a message: quoted, escaped, cut at QUOTE_MAX bytes. */
static const char *quote(const char *s, struct quoted *q)
{
	char *o = q->s;
	size_t i;

	*o++ = '"';
	for (i = 0; s[i] && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			o += sprintf(o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	if (s[i])
		o += sprintf(o, "...");
	*o++ = '"';
	*o = '\0';
	return q->s;
}

/* Append to the key path; returns the length to restore with path_pop. */
__attribute__((format(printf, 2, 3)))
static size_t path_add(struct cfg_walk *w, const char *fmt, ...)
{
	size_t old = w->plen, room = sizeof(w->path) - old;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w->path + old, room, fmt, ap);
	va_end(ap);
	w->plen = n < 0 || (size_t)n >= room ? sizeof(w->path) - 1 : old + n;
	return old;
}

static size_t path_push(struct cfg_walk *w, const char *key)
{
	return path_add(w, "%s%s", w->plen ? "." : "", key);
}

static void path_pop(struct cfg_walk *w, size_t old)
{
	w->plen = old;
	w->path[old] = '\0';
}

static yaml_node_t *node_get(struct cfg_walk *w, int id)
{
	return yaml_document_get_node(&w->doc, id);
}

static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") ||
	       !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static const char *node_kind(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	return is_null(n) ? "nothing" : "a scalar";
}

/* The node's string, or NULL after saying that `what` was expected. */
static const char *scalar_of(struct cfg_walk *w, yaml_node_t *n,
			     const char *what)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		cfg_error(w, n, "expected %s, got %s", what, node_kind(n));
		return NULL;
	}
	if (strlen(v) != n->data.scalar.length) {
		cfg_error(w, n, "contains a NUL byte");
		return NULL;
	}
	return v;
}

const char *cfg_scalar(struct cfg_walk *w, yaml_node_t *node)
{
	return scalar_of(w, node, "a scalar");
}

static bool run_check(struct cfg_walk *w, const struct cfg_key *k,
		      yaml_node_t *n, void *base)
{
	char why[256] = "";

	if (!k->check || k->check(base, why, sizeof(why)))
		return true;
	return cfg_error(w, n, "%s", why[0] ? why : "invalid value");
}

static bool in_range(struct cfg_walk *w, const struct cfg_key *k,
		     yaml_node_t *n, uint64_t v, const char *unit)
{
	uint64_t max = k->max ? k->max : UINT32_MAX;
	struct quoted q;

	if (v >= k->min && v <= max)
		return true;
	return cfg_error(w, n, "out of range (%u%s..%llu%s): %s", k->min, unit,
			 (unsigned long long)max, unit,
			 quote((const char *)n->data.scalar.value, &q));
}

/* Decimal digits at *sp, saturated just above UINT32_MAX. */
static bool parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			v = (uint64_t)UINT32_MAX + 1;
	}
	*sp = s;
	*out = v;
	return true;
}

static uint64_t unit_ms(const char **sp)
{
	const char *s = *sp;

	if (s[0] == 'm' && s[1] == 's') {
		*sp = s + 2;
		return 1;
	}
	*sp = s + 1;
	if (*s == 's')
		return 1000;
	if (*s == 'm')
		return 60 * 1000;
	if (*s == 'h')
		return 60 * 60 * 1000;
	*sp = s;
	return 0;
}

/* "250ms", "5s", "1m30s": milliseconds, saturated above UINT32_MAX. */
static bool parse_duration(const char *s, uint64_t *out)
{
	uint64_t total = 0, v, mult;

	if (!*s)
		return false;
	while (*s) {
		if (!parse_digits(&s, &v))
			return false;
		mult = unit_ms(&s);
		if (!mult)
			return false;
		total += v * mult;
		if (total > UINT32_MAX)
			total = (uint64_t)UINT32_MAX + 1;
	}
	*out = total;
	return true;
}

static bool set_bool(struct cfg_walk *w, const struct cfg_key *k,
		     yaml_node_t *n, void *base)
{
	const char *v = scalar_of(w, n, "true or false");
	struct quoted q;
	bool b;

	if (!v)
		return false;
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		b = true;
	else if (!strcmp(v, "false") || !strcmp(v, "False") ||
		 !strcmp(v, "FALSE"))
		b = false;
	else
		return cfg_error(w, n, "expected true or false, got %s",
				 quote(v, &q));
	*(bool *)((char *)base + k->offset) = b;
	return true;
}

static bool set_uint(struct cfg_walk *w, const struct cfg_key *k,
		     yaml_node_t *n, void *base)
{
	const char *v = scalar_of(w, n, "an unsigned integer"), *p = v;
	struct quoted q;
	uint64_t x;

	if (!v)
		return false;
	if (!parse_digits(&p, &x) || *p)
		return cfg_error(w, n, "expected an unsigned integer, got %s",
				 quote(v, &q));
	if (!in_range(w, k, n, x, ""))
		return false;
	*(uint32_t *)((char *)base + k->offset) = (uint32_t)x;
	return true;
}

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

static bool set_duration(struct cfg_walk *w, const struct cfg_key *k,
			 yaml_node_t *n, void *base)
{
	const char *v = scalar_of(w, n, "a duration");
	struct quoted q;
	uint64_t ms;

	if (!v)
		return false;
	if (all_digits(v))
		return cfg_error(w, n,
				 "a duration needs a unit (ms, s, m, h): %s",
				 quote(v, &q));
	if (!parse_duration(v, &ms))
		return cfg_error(w, n,
				 "not a duration (e.g. 250ms, 5s, 2m, 1h): %s",
				 quote(v, &q));
	if (!in_range(w, k, n, ms, "ms"))
		return false;
	*(uint32_t *)((char *)base + k->offset) = (uint32_t)ms;
	return true;
}

static void replace_string(void *field, char *s)
{
	char *old;

	memcpy(&old, field, sizeof(old));
	free(old);
	memcpy(field, &s, sizeof(s));
}

static bool set_string(struct cfg_walk *w, const struct cfg_key *k,
		       yaml_node_t *n, void *base)
{
	void *field = (char *)base + k->offset;
	size_t len, max = k->max ? k->max : SIZE_MAX;
	const char *v;
	char *s;

	if (k->nullable && is_null(n)) {
		replace_string(field, NULL);
		return true;
	}
	v = scalar_of(w, n, "a string");
	if (!v)
		return false;
	len = strlen(v);
	if (len < k->min || len > max)
		return cfg_error(w, n,
				 "length %zu out of range (%u..%zu bytes)",
				 len, k->min, max);
	s = strdup(v);
	if (!s)
		return cfg_error(w, n, "out of memory");
	replace_string(field, s);
	return true;
}

static void enum_choices(const struct cfg_enum *e, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; e->name && used < len; e++) {
		int n = snprintf(buf + used, len - used, "%s%s",
				 used ? ", " : "", e->name);
		if (n < 0)
			return;
		used += (size_t)n;
	}
}

static bool set_enum(struct cfg_walk *w, const struct cfg_key *k,
		     yaml_node_t *n, void *base)
{
	const char *v = scalar_of(w, n, "a name");
	const struct cfg_enum *e;
	char choices[256];
	struct quoted q;

	if (!v)
		return false;
	for (e = k->names; e->name; e++) {
		if (!strcmp(v, e->name)) {
			*(int *)((char *)base + k->offset) = e->value;
			return true;
		}
	}
	enum_choices(k->names, choices, sizeof(choices));
	return cfg_error(w, n, "expected one of %s; got %s", choices,
			 quote(v, &q));
}

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

static bool store_addr(struct cfg_walk *w, const struct cfg_key *k,
		       yaml_node_t *n, void *base,
		       const struct sockaddr_storage *ss, socklen_t len)
{
	struct quoted q;

	if (k->family && ss->ss_family != AF_UNSPEC &&
	    ss->ss_family != k->family)
		return cfg_error(w, n, "not an %s address: %s",
				 family_name(k->family),
				 quote((const char *)n->data.scalar.value, &q));
	memcpy((char *)base + k->offset, ss, sizeof(*ss));
	if (k->len_offset)
		memcpy((char *)base + k->len_offset, &len, sizeof(len));
	return true;
}

/* A nullable address set to null: AF_UNSPEC, length 0. */
static bool unset_addr(struct cfg_walk *w, const struct cfg_key *k,
		       yaml_node_t *n, void *base)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };

	return store_addr(w, k, n, base, &ss, 0);
}

static bool set_addr(struct cfg_walk *w, const struct cfg_key *k,
		     yaml_node_t *n, void *base)
{
	bool host = k->type == CFG_HOST;
	struct sockaddr_storage ss;
	socklen_t len;
	struct quoted q;
	const char *v;

	if (k->nullable && is_null(n))
		return unset_addr(w, k, n, base);
	v = scalar_of(w, n, host ? "an IP address" : "an address");
	if (!v)
		return false;
	if (host && !addr_parse_host(v, &ss, &len))
		return cfg_error(w, n, "not an IP address: %s", quote(v, &q));
	if (!host && !addr_parse(v, k->port ? k->port : -1, &ss, &len))
		return cfg_error(w, n, "not an address (e.g. 192.0.2.1:%d, "
				 "[2001:db8::1]:%d%s): %s",
				 k->port ? k->port : 80, k->port ? k->port : 80,
				 k->port ? ", or without the port" : "",
				 quote(v, &q));
	return store_addr(w, k, n, base, &ss, len);
}

/* addr_prefix_parse() said no: tell a typo from host bits being set. */
static const char *prefix_problem(const char *s)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	uint8_t bytes[16];
	const char *p;
	char *slash;
	uint64_t len, max;

	if (strlen(s) >= sizeof(tmp) || !strchr(s, '/'))
		return "not an IP prefix";
	strcpy(tmp, s);
	slash = strchr(tmp, '/');
	*slash = '\0';
	if (inet_pton(AF_INET, tmp, bytes) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, tmp, bytes) == 1)
		max = 128;
	else
		return "not an IP prefix";
	p = slash + 1;
	if (!parse_digits(&p, &len) || *p || len > max)
		return "not an IP prefix";
	return "host bits set in IP prefix";
}

/* Into l->v[l->n], allocated for the whole sequence by set_prefixes. */
static bool add_prefix(struct cfg_walk *w, yaml_node_t *n,
		       struct addr_prefix_list *l)
{
	const char *v = scalar_of(w, n, "an IP prefix");
	struct quoted q;

	if (!v)
		return false;
	if (!addr_prefix_parse(v, &l->v[l->n]))
		return cfg_error(w, n, "%s: %s", prefix_problem(v),
				 quote(v, &q));
	l->n++;
	return true;
}

static bool set_prefixes(struct cfg_walk *w, const struct cfg_key *k,
			 yaml_node_t *n, void *base)
{
	struct addr_prefix_list *l =
		(struct addr_prefix_list *)((char *)base + k->offset);
	yaml_node_item_t *it;
	bool ok = true;

	addr_prefix_list_clear(l);
	if (is_null(n))
		return true;
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_error(w, n,
				 "expected a sequence of IP prefixes, got %s",
				 node_kind(n));
	/* One allocation: addr_prefix_list_add() grows by one each time. */
	l->v = calloc((size_t)(n->data.sequence.items.top -
			       n->data.sequence.items.start) + 1,
		      sizeof(*l->v));
	if (!l->v)
		return cfg_error(w, n, "out of memory");
	for (it = n->data.sequence.items.start;
	     ok && it < n->data.sequence.items.top; it++) {
		size_t i = (size_t)(it - n->data.sequence.items.start);
		size_t old = path_add(w, "[%zu]", i);
		ok = add_prefix(w, node_get(w, *it), l);
		path_pop(w, old);
	}
	return ok;
}

static bool set_scalar_fn(struct cfg_walk *w, const struct cfg_key *k,
			  yaml_node_t *n, void *base)
{
	void *field = (char *)base + k->offset;
	char why[256] = "";
	struct quoted q;
	const char *v;

	if (k->nullable && is_null(n))
		return k->parse(NULL, field, why, sizeof(why)) ||
		       cfg_error(w, n, "%s", why[0] ? why : "invalid value");
	v = scalar_of(w, n, "a scalar");
	if (!v)
		return false;
	if (k->parse(v, field, why, sizeof(why)))
		return true;
	return cfg_error(w, n, "%s: %s", why[0] ? why : "invalid value",
			 quote(v, &q));
}

static bool set_map(struct cfg_walk *w, const struct cfg_key *k,
		    yaml_node_t *n, void *base)
{
	if (n->type != YAML_MAPPING_NODE && !is_null(n))
		return cfg_error(w, n, "expected a mapping, got %s",
				 node_kind(n));
	return walk_map(w, n, k->map, (char *)base + k->offset);
}

static void free_seq(const struct cfg_key *k, void *base)
{
	void *field = (char *)base + k->offset;
	size_t *count = (size_t *)((char *)base + k->count_offset);
	char *arr;

	memcpy(&arr, field, sizeof(arr));
	for (size_t i = 0; arr && i < *count; i++)
		cfg_free(k->map, arr + i * k->elem_size);
	free(arr);
	memset(field, 0, sizeof(arr)); /* NULL is all zero bits here */
	*count = 0;
}

/* One element: counted before it is filled, so cfg_free() sees it. */
static bool seq_elem(struct cfg_walk *w, const struct cfg_key *k,
		     yaml_node_t *n, void *base, char *arr)
{
	size_t *count = (size_t *)((char *)base + k->count_offset);
	size_t old = path_add(w, "[%zu]", *count);
	char *elem = arr + *count * k->elem_size;
	bool ok;

	++*count;
	if (n->type != YAML_MAPPING_NODE && !is_null(n))
		ok = cfg_error(w, n, "expected a mapping, got %s",
			       node_kind(n));
	else
		ok = walk_map(w, n, k->map, elem) && run_check(w, k, n, base);
	path_pop(w, old);
	return ok;
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top -
			n->data.sequence.items.start);
}

static bool seq_count_ok(struct cfg_walk *w, const struct cfg_key *k,
			 yaml_node_t *n, size_t len)
{
	uint64_t max = k->max ? k->max : SIZE_MAX;

	if (len >= k->min && len <= max)
		return true;
	if (!len)
		return cfg_error(w, n, "must not be empty");
	return cfg_error(w, n, "%zu entries, out of range (%u..%llu)", len,
			 k->min, (unsigned long long)max);
}

static bool set_map_seq(struct cfg_walk *w, const struct cfg_key *k,
			yaml_node_t *n, void *base)
{
	yaml_node_item_t *it;
	size_t len;
	char *arr;

	free_seq(k, base);
	if (is_null(n))
		return true;
	if (n->type != YAML_SEQUENCE_NODE)
		return cfg_error(w, n,
				 "expected a sequence of mappings, got %s",
				 node_kind(n));
	len = seq_len(n);
	if (!seq_count_ok(w, k, n, len))
		return false;
	if (!len)
		return true;
	arr = calloc(len, k->elem_size);
	if (!arr)
		return cfg_error(w, n, "out of memory");
	memcpy((char *)base + k->offset, &arr, sizeof(arr));
	for (it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++)
		if (!seq_elem(w, k, node_get(w, *it), base, arr))
			return false;
	return true;
}

static void free_strings(const struct cfg_key *k, void *base)
{
	void *field = (char *)base + k->offset;
	size_t *count = (size_t *)((char *)base + k->count_offset);
	char **arr;

	memcpy(&arr, field, sizeof(arr));
	for (size_t i = 0; arr && i < *count; i++)
		free(arr[i]);
	free(arr);
	memset(field, 0, sizeof(arr));
	*count = 0;
}

/* One element: counted once stored, so cfg_free() frees exactly those. */
static bool strings_elem(struct cfg_walk *w, const struct cfg_key *k,
			 yaml_node_t *n, void *base, char **arr)
{
	size_t *count = (size_t *)((char *)base + k->count_offset);
	size_t old = path_add(w, "[%zu]", *count);
	const char *v = scalar_of(w, n, "a string");
	bool ok = false;

	if (v) {
		arr[*count] = strdup(v);
		if (arr[*count]) {
			++*count;
			ok = run_check(w, k, n, base);
		} else {
			cfg_error(w, n, "out of memory");
		}
	}
	path_pop(w, old);
	return ok;
}

/* Unlike CFG_MAP_SEQ, a null is checked against min: "interfaces:" with
 * nothing after it is as empty as "interfaces: []". */
static bool set_strings(struct cfg_walk *w, const struct cfg_key *k,
			yaml_node_t *n, void *base)
{
	yaml_node_item_t *it;
	size_t len = 0;
	char **arr;

	free_strings(k, base);
	if (n->type != YAML_SEQUENCE_NODE && !is_null(n))
		return cfg_error(w, n, "expected a sequence of strings, got %s",
				 node_kind(n));
	if (n->type == YAML_SEQUENCE_NODE)
		len = seq_len(n);
	if (!seq_count_ok(w, k, n, len))
		return false;
	if (!len)
		return true;
	arr = calloc(len, sizeof(*arr));
	if (!arr)
		return cfg_error(w, n, "out of memory");
	memcpy((char *)base + k->offset, &arr, sizeof(arr));
	for (it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++)
		if (!strings_elem(w, k, node_get(w, *it), base, arr))
			return false;
	return true;
}

static bool set_custom(struct cfg_walk *w, const struct cfg_key *k,
		       yaml_node_t *n, void *base)
{
	return k->custom(w, n, (char *)base + k->offset);
}

static const cfg_setter setters[] = {
	[CFG_BOOL] = set_bool,         [CFG_UINT] = set_uint,
	[CFG_DURATION] = set_duration, [CFG_STRING] = set_string,
	[CFG_ENUM] = set_enum,         [CFG_SOCKADDR] = set_addr,
	[CFG_HOST] = set_addr,         [CFG_PREFIXES] = set_prefixes,
	[CFG_SCALAR_FN] = set_scalar_fn, [CFG_MAP] = set_map,
	[CFG_MAP_SEQ] = set_map_seq,   [CFG_STRINGS] = set_strings,
	[CFG_CUSTOM] = set_custom,
};

static int find_key(const struct cfg_key *schema, const char *name)
{
	for (int i = 0; schema[i].name; i++)
		if (!strcmp(schema[i].name, name))
			return i;
	return -1;
}

/* The line of the first key called name in the mapping. */
static size_t first_line(struct cfg_walk *w, yaml_node_t *map,
			 const char *name)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node_get(w, p->key);
		if (kn->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)kn->data.scalar.value, name))
			return kn->start_mark.line + 1;
	}
	return 0;
}

static bool walk_pair(struct cfg_walk *w, yaml_node_t *map,
		      const struct cfg_key *schema, void *base,
		      yaml_node_pair_t *pair, uint64_t *seen)
{
	yaml_node_t *kn = node_get(w, pair->key);
	yaml_node_t *vn = node_get(w, pair->value);
	const char *name = scalar_of(w, kn, "a key name");
	const struct cfg_key *k;
	struct quoted q;
	size_t old;
	bool ok;
	int i;

	if (!name)
		return false;
	i = find_key(schema, name);
	if (i < 0)
		return cfg_error(w, kn, "unknown key %s", quote(name, &q));
	k = &schema[i];
	old = path_push(w, k->name);
	if (*seen & (1ull << i))
		ok = cfg_error(w, kn, "duplicate key (first at line %zu)",
			       first_line(w, map, k->name));
	else
		ok = setters[k->type](w, k, vn, base) &&
		     (k->type == CFG_MAP_SEQ || k->type == CFG_STRINGS ||
		      run_check(w, k, vn, base));
	*seen |= 1ull << i;
	path_pop(w, old);
	return ok;
}

/* Reported at the mapping that lacks the key. */
static bool missing_key(struct cfg_walk *w, yaml_node_t *map,
			const struct cfg_key *k)
{
	size_t old = path_push(w, k->name);

	cfg_error(w, map, "missing required key%s%s", k->missing ? ": " : "",
		  k->missing ? k->missing : "");
	path_pop(w, old);
	return false;
}

static bool check_required(struct cfg_walk *w, yaml_node_t *map,
			   const struct cfg_key *schema, uint64_t seen)
{
	for (int i = 0; schema[i].name; i++)
		if (schema[i].required && !(seen & (1ull << i)))
			return missing_key(w, map, &schema[i]);
	return true;
}

static bool schema_fits(const struct cfg_key *schema)
{
	int n = 0;

	while (schema[n].name)
		n++;
	return n <= CFG_MAX_KEYS;
}

/* node is a mapping or a null (an empty mapping). */
static bool walk_map(struct cfg_walk *w, yaml_node_t *node,
		     const struct cfg_key *schema, void *base)
{
	yaml_node_pair_t *p;
	uint64_t seen = 0;

	if (!schema_fits(schema))
		return cfg_error(w, node, "schema has over %d keys",
				 CFG_MAX_KEYS);
	if (node->type == YAML_MAPPING_NODE) {
		for (p = node->data.mapping.pairs.start;
		     p < node->data.mapping.pairs.top; p++)
			if (!walk_pair(w, node, schema, base, p, &seen))
				return false;
	}
	return check_required(w, node, schema, seen);
}

/* Reader errors carry a byte offset only: count lines and characters
 * (UTF-8 lead bytes) up to it. */
static yaml_mark_t offset_mark(const char *buf, size_t len, size_t off)
{
	yaml_mark_t m = { .index = off };

	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if ((buf[i] & 0xc0) != 0x80) {
			m.column++;
		}
	}
	return m;
}

static bool syntax_error(struct cfg_walk *w, const yaml_parser_t *p,
			 const char *buf, size_t len)
{
	yaml_mark_t m = p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR) {
		set_err(w->err, w->errlen, "%s: out of memory", w->name);
		return false;
	}
	if (p->error == YAML_READER_ERROR) {
		m = offset_mark(buf, len, p->problem_offset);
		return error_at(w, &m, "invalid input: %s", p->problem);
	}
	if (p->context)
		return error_at(w, &m, "syntax error: %s (%s at line %zu)",
				p->problem ? p->problem : "?", p->context,
				p->context_mark.line + 1);
	return error_at(w, &m, "syntax error: %s",
			p->problem ? p->problem : "?");
}

struct scan {
	int docs;
	int depth;
};

/* What the document API hides: aliases, a second document. And nesting:
 * libyaml's scanner slows down quadratically with depth, so stop early. */
static bool check_event(struct cfg_walk *w, const yaml_event_t *ev,
			struct scan *sc)
{
	const yaml_mark_t *m = &ev->start_mark;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return error_at(w, m, "aliases are not supported");
	case YAML_DOCUMENT_START_EVENT:
		return ++sc->docs == 1 ||
		       error_at(w, m, "only one YAML document is allowed");
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return ++sc->depth <= CFG_MAX_DEPTH ||
		       error_at(w, m, "nested deeper than %d levels",
				CFG_MAX_DEPTH);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		sc->depth--;
		return true;
	case YAML_STREAM_END_EVENT:
		if (sc->docs)
			return true;
		set_err(w->err, w->errlen, "%s: empty configuration", w->name);
		return false;
	default:
		return true;
	}
}

static bool scan_events(struct cfg_walk *w, const char *buf, size_t len)
{
	struct scan sc = { 0 };
	yaml_parser_t p;
	yaml_event_t ev;
	bool ok = true, end = false;

	if (!yaml_parser_initialize(&p)) {
		set_err(w->err, w->errlen, "%s: out of memory", w->name);
		return false;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (ok && !end) {
		if (!yaml_parser_parse(&p, &ev)) {
			ok = syntax_error(w, &p, buf, len);
			break;
		}
		ok = check_event(w, &ev, &sc);
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return ok;
}

static bool load_doc(struct cfg_walk *w, const char *buf, size_t len)
{
	yaml_parser_t p;
	bool ok = true;

	if (!yaml_parser_initialize(&p)) {
		set_err(w->err, w->errlen, "%s: out of memory", w->name);
		return false;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &w->doc))
		ok = syntax_error(w, &p, buf, len);
	yaml_parser_delete(&p);
	return ok;
}

static bool walk_root(struct cfg_walk *w, const struct cfg_key *schema,
		      void *base)
{
	yaml_node_t *root = yaml_document_get_root_node(&w->doc);

	if (!root || is_null(root)) {
		set_err(w->err, w->errlen, "%s: empty configuration", w->name);
		return false;
	}
	if (root->type != YAML_MAPPING_NODE)
		return cfg_error(w, root, "expected a mapping of keys, got %s",
				 node_kind(root));
	return walk_map(w, root, schema, base);
}

bool cfg_parse_buf(const struct cfg_key *schema, void *base, const char *buf,
		   size_t len, const char *name, char *err, size_t errlen)
{
	struct cfg_walk w = { .name = name ? name : "config",
			      .err = err,
			      .errlen = errlen };
	bool ok;

	set_err(err, errlen, "%s", "");
	if (!buf)
		buf = "";
	if (!scan_events(&w, buf, len) || !load_doc(&w, buf, len))
		return false;
	ok = walk_root(&w, schema, base);
	yaml_document_delete(&w.doc);
	return ok;
}

bool cfg_read_file(const char *path, char **bufp, size_t *lenp, char *err,
		   size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len;
	int e;

	if (!f)
		goto err;
	buf = malloc(CFG_MAX_FILE + 1);
	errno = ENOMEM;
	if (!buf)
		goto err_close;
	len = fread(buf, 1, CFG_MAX_FILE + 1, f);
	if (ferror(f))
		goto err_close;
	errno = EFBIG;
	if (len > CFG_MAX_FILE)
		goto err_close;
	fclose(f);
	*bufp = buf;
	*lenp = len;
	return true;
err_close:
	e = errno;
	free(buf);
	fclose(f);
	errno = e;
err:
	set_err(err, errlen, "%s: %s", path, strerror(errno));
	return false;
}

static void free_key(const struct cfg_key *k, void *base)
{
	void *field = (char *)base + k->offset;

	switch (k->type) {
	case CFG_STRING:
		replace_string(field, NULL);
		break;
	case CFG_PREFIXES:
		addr_prefix_list_clear(field);
		break;
	case CFG_MAP:
		cfg_free(k->map, field);
		break;
	case CFG_MAP_SEQ:
		free_seq(k, base);
		break;
	case CFG_STRINGS:
		free_strings(k, base);
		break;
	case CFG_CUSTOM:
		if (k->free)
			k->free(field);
		break;
	default:
		break;
	}
}

void cfg_free(const struct cfg_key *schema, void *base)
{
	if (!base)
		return;
	for (const struct cfg_key *k = schema; k->name; k++)
		free_key(k, base);
}

bool cfg_parse_log_level(const char *s, void *field, char *why, size_t len)
{
	int level = log_level_parse(s);

	if (level < 0) {
		snprintf(why, len, "expected error, warn, info or debug");
		return false;
	}
	*(int *)field = level;
	return true;
}
