#include "conc_config.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgparse.h"
#include "log.h"

_Static_assert(sizeof(enum conc_tfo_policy) == sizeof(int),
	       "CFG_ENUM stores an int");
_Static_assert(sizeof(unsigned) == sizeof(uint32_t),
	       "CFG_UINT stores a uint32_t into workers");

/* Defaults: the only place they are written down. */
#define DEF_LISTEN           "[::]:5124"
#define DEF_WORKERS          0
#define DEF_TFO              CONC_TFO_SET
#define DEF_SOCKS_ENABLED    true
#define DEF_ALLOW_PRIVATE    false
#define DEF_HEADER_MS        (5 * 1000)
#define DEF_CONNECT_MS       (10 * 1000)
#define DEF_IDLE_MS          (5 * 60 * 1000)
#define DEF_DRAIN_MS         (10 * 1000)
#define DEF_MAX_FLOWS        65536
#define DEF_PENDING_PER_CLIENT 256
#define DEF_FLOWS_PER_CLIENT 4096
#define DEF_LOG_LEVEL        LOG_INFO
#define DEF_AUTH_REQUIRED    false
#define DEF_AUTH_WINDOW_MS   (30 * 1000)
#define DEF_AUTH_REPLAY      65536
#define DEF_TRANSPARENT      false
#define DEF_TRANSPARENT_PORT 5125
#define DEF_JOIN_PORT        5126
#define DEF_PRESERVE         false
#define DEF_TPROXY_TABLE     7124
#define DEF_TPROXY_PRIORITY  7124
#define DEF_TPROXY_MARK      0x7124

#define MAX_WORKERS     256
#define MAX_SOCKS_STR   255 /* RFC 1929: one length byte */
#define MAX_SOCKS_USERS 10000
#define MAX_AUTH_KEYS   10000 /* a 1 MiB file holds about 12000 */
#define MAX_AUTH_WINDOW_MS (60 * 60 * 1000)
#define MAX_TPROXY_IFS  256
/* Below the main table's rule (32766), above the local table's (0). */
#define MAX_TPROXY_PRIORITY 32765

#define OFF(f)  offsetof(struct conc_config, f)
#define UOFF(f) offsetof(struct conc_socks_user, f)
#define AOFF(f) offsetof(struct auth_policy, f)

static const char open_proxy[] =
	"list your CPEs' source prefixes in clients.allow; "
	"an open converter is an open proxy";

static bool check_listen(const void *base, char *why, size_t len)
{
	const struct conc_config *c = base;

	if (addr_port((const struct sockaddr *)&c->listen))
		return true;
	snprintf(why, len, "port 0 is not a listening port");
	return false;
}

static bool check_clients(const void *base, char *why, size_t len)
{
	const struct conc_config *c = base;

	if (c->clients_allow.n)
		return true;
	snprintf(why, len, "must not be empty: %s", open_proxy);
	return false;
}

/* Runs after each user: the new one is last. Quadratic, hence the cap on
 * the number of users. */
static bool check_user(const void *base, char *why, size_t len)
{
	const struct conc_config *c = base;
	const struct conc_socks_user *last =
		&c->socks_users[c->n_socks_users - 1];

	for (size_t i = 0; i + 1 < c->n_socks_users; i++) {
		if (!strcmp(c->socks_users[i].name, last->name)) {
			snprintf(why, len,
				 "duplicate user name, also socks.users[%zu]",
				 i);
			return false;
		}
	}
	return true;
}

static bool check_auth(const void *base, char *why, size_t len)
{
	const struct conc_config *c = base;

	if (!c->auth.required || c->auth.n_keys)
		return true;
	snprintf(why, len, "required needs at least one entry in keys");
	return false;
}

static bool check_auth_window(const void *base, char *why, size_t len)
{
	const struct auth_policy *p = base;

	if (p->window_ms % 1000 == 0)
		return true;
	snprintf(why, len, "whole seconds: timestamps are in seconds");
	return false;
}


/* Runs after each key: the new one is last. Quadratic, hence the cap. */
static bool check_auth_key(const void *base, char *why, size_t len)
{
	const struct auth_policy *p = base;
	const struct auth_key *last = &p->keys[p->n_keys - 1];

	if (!auth_secret_ok(&last->key, why, len))
		return false;
	for (size_t i = 0; i + 1 < p->n_keys; i++) {
		if (!strcmp(p->keys[i].id, last->id)) {
			snprintf(why, len, "duplicate id, also auth.keys[%zu]",
				 i);
			return false;
		}
	}
	return true;
}

/* An interface name goes into nftables rule text: letters, digits, '.',
 * '_' and '-' only (no quote can end the string), and a '*' at the end,
 * which nftables reads as a wildcard ("ppp*"). */
static bool check_tproxy_if(const void *base, char *why, size_t len)
{
	const struct conc_config *c = base;
	const char *s = c->transparent_ifs[c->n_transparent_ifs - 1];
	size_t n = strlen(s);

	if (!n || n >= IFNAMSIZ) {
		snprintf(why, len, "an interface name is 1 to %d bytes",
			 IFNAMSIZ - 1);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-' || (ch == '*' && i == n - 1 && i))
			continue;
		snprintf(why, len,
			 "letters, digits, '.', '_', '-' and a final '*' only");
		return false;
	}
	return true;
}

/* Addresses a CPE cannot reach this host at. */
static bool announceable(const struct sockaddr *sa)
{
	static const char *const no[] = {
		"0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3", "::/128", "::1/128",
		"ff00::/8",
	};
	struct addr_prefix p;

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (addr_prefix_parse(no[i], &p) && addr_prefix_match(&p, sa))
			return false;
	return true;
}

/* Runs after each address: the new one is last. An endpoint the kernel
 * listens on: a unicast address of this host (the kernel refuses one it
 * cannot bind at start). */
static bool check_announce(const void *base, char *why, size_t len)
{
	const struct conc_config *c = base;
	const char *s = c->transparent_announce[c->n_transparent_announce - 1];
	struct sockaddr_storage a, b;
	socklen_t alen;

	if (!addr_parse_host(s, &a, &alen)) {
		snprintf(why, len, "not an IPv4 or IPv6 address (no port: "
			 "join_port is the port)");
		return false;
	}
	if (!announceable((struct sockaddr *)&a)) {
		snprintf(why, len, "not an address a CPE can reach (loopback, "
			 "unspecified or multicast)");
		return false;
	}
	for (size_t i = 0; i + 1 < c->n_transparent_announce; i++) {
		if (addr_parse_host(c->transparent_announce[i], &b, &alen) &&
		    addr_equal_host((struct sockaddr *)&a, (struct sockaddr *)&b)) {
			snprintf(why, len, "duplicate address, also "
				 "transparent.announce[%zu]", i);
			return false;
		}
	}
	return true;
}

static bool check_tproxy_table(const void *base, char *why, size_t len)
{
	const struct conc_config *c = base;
	uint32_t t = c->tproxy_table;

	if (t < 253 || t > 255)
		return true;
	snprintf(why, len, "253, 254 and 255 are the kernel's tables");
	return false;
}

/* Decimal or 0x hexadecimal, non-zero: marks are usually written in hex. */
static bool parse_mark(const char *s, void *field, char *why, size_t len)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || !v ||
	    v > UINT32_MAX || (s[0] == '0' && s[1] && s[1] != 'x' && s[1] != 'X')) {
		snprintf(why, len, "expected 1 to 0xffffffff (decimal or 0x hex)");
		return false;
	}
	*(uint32_t *)field = (uint32_t)v;
	return true;
}

static const struct cfg_enum tfo_names[] = {
	{ "set", CONC_TFO_SET },
	{ "require", CONC_TFO_REQUIRE },
	{ NULL, 0 },
};

static const struct cfg_key clients_keys[] = {
	{ .name = "allow", .type = CFG_PREFIXES, .offset = OFF(clients_allow),
	  .required = true, .missing = open_proxy, .check = check_clients },
	{ 0 },
};

static const struct cfg_key user_keys[] = {
	{ .name = "user", .type = CFG_STRING, .offset = UOFF(name),
	  .required = true, .min = 1, .max = MAX_SOCKS_STR },
	{ .name = "password", .type = CFG_STRING, .offset = UOFF(password),
	  .required = true, .min = 0, .max = MAX_SOCKS_STR },
	{ 0 },
};

static const struct cfg_key socks_keys[] = {
	{ .name = "enabled", .type = CFG_BOOL, .offset = OFF(socks_enabled) },
	{ .name = "users", .type = CFG_MAP_SEQ, .offset = OFF(socks_users),
	  .count_offset = OFF(n_socks_users),
	  .elem_size = sizeof(struct conc_socks_user), .map = user_keys,
	  .max = MAX_SOCKS_USERS, .check = check_user },
	{ 0 },
};

static const struct cfg_key egress_keys[] = {
	{ .name = "allow_private", .type = CFG_BOOL,
	  .offset = OFF(egress_allow_private) },
	{ .name = "allow", .type = CFG_PREFIXES, .offset = OFF(egress_allow) },
	{ .name = "deny", .type = CFG_PREFIXES, .offset = OFF(egress_deny) },
	{ .name = "source4", .type = CFG_HOST, .offset = OFF(egress_source4),
	  .family = AF_INET, .nullable = true },
	{ .name = "source6", .type = CFG_HOST, .offset = OFF(egress_source6),
	  .family = AF_INET6, .nullable = true },
	{ .name = "allow_hairpin", .type = CFG_BOOL,
	  .offset = OFF(egress_allow_hairpin) },
	{ 0 },
};

static const struct cfg_key timeout_keys[] = {
	{ .name = "header", .type = CFG_DURATION,
	  .offset = OFF(header_timeout_ms), .min = 1 },
	{ .name = "connect", .type = CFG_DURATION,
	  .offset = OFF(connect_timeout_ms), .min = 1 },
	{ .name = "idle", .type = CFG_DURATION, .offset = OFF(idle_timeout_ms),
	  .min = 1 },
	{ .name = "drain", .type = CFG_DURATION,
	  .offset = OFF(drain_timeout_ms), .min = 1 },
	{ 0 },
};

static const struct cfg_key limit_keys[] = {
	{ .name = "flows", .type = CFG_UINT, .offset = OFF(max_flows),
	  .min = 1 },
	{ .name = "flows_per_client", .type = CFG_UINT,
	  .offset = OFF(max_flows_per_client), .min = 1 },
	{ .name = "pending_per_client", .type = CFG_UINT,
	  .offset = OFF(max_pending_per_client), .min = 1 },
	{ 0 },
};

static const struct cfg_key auth_keys[] = {
	{ .name = "required", .type = CFG_BOOL, .offset = AOFF(required) },
	{ .name = "window", .type = CFG_DURATION, .offset = AOFF(window_ms),
	  .min = 1000, .max = MAX_AUTH_WINDOW_MS, .check = check_auth_window },
	{ .name = "replay_cache", .type = CFG_UINT,
	  .offset = AOFF(replay_cache), .min = 1, .max = AUTH_REPLAY_MAX },
	{ .name = "keys", .type = CFG_MAP_SEQ, .offset = AOFF(keys),
	  .count_offset = AOFF(n_keys), .elem_size = sizeof(struct auth_key),
	  .map = auth_key_schema, .max = MAX_AUTH_KEYS, .check = check_auth_key },
	{ 0 },
};

static const struct cfg_key log_keys[] = {
	{ .name = "level", .type = CFG_SCALAR_FN, .offset = OFF(log_level),
	  .parse = cfg_parse_log_level },
	{ 0 },
};

static const struct cfg_key transparent_keys[] = {
	{ .name = "enabled", .type = CFG_BOOL, .offset = OFF(transparent_enabled) },
	{ .name = "port", .type = CFG_UINT, .offset = OFF(transparent_port),
	  .min = 1, .max = 65535 },
	{ .name = "interfaces", .type = CFG_STRINGS,
	  .offset = OFF(transparent_ifs), .count_offset = OFF(n_transparent_ifs),
	  .max = MAX_TPROXY_IFS, .check = check_tproxy_if },
	{ .name = "announce", .type = CFG_STRINGS,
	  .offset = OFF(transparent_announce),
	  .count_offset = OFF(n_transparent_announce), .max = CONC_ANNOUNCE_MAX,
	  .check = check_announce },
	{ .name = "join_port", .type = CFG_UINT,
	  .offset = OFF(transparent_join_port), .min = 1, .max = 65535 },
	{ 0 },
};

static const struct cfg_key source_keys[] = {
	{ .name = "preserve", .type = CFG_BOOL, .offset = OFF(source_preserve) },
	{ .name = "prefixes", .type = CFG_PREFIXES, .offset = OFF(source_prefixes) },
	{ 0 },
};

static const struct cfg_key tproxy_keys[] = {
	{ .name = "table", .type = CFG_UINT, .offset = OFF(tproxy_table),
	  .min = 1, .max = 0xfffffffe, .check = check_tproxy_table },
	{ .name = "priority", .type = CFG_UINT, .offset = OFF(tproxy_priority),
	  .min = 1, .max = MAX_TPROXY_PRIORITY },
	{ .name = "mark", .type = CFG_SCALAR_FN, .offset = OFF(tproxy_mark),
	  .parse = parse_mark },
	{ 0 },
};

static const struct cfg_key conc_keys[] = {
	{ .name = "listen", .type = CFG_SOCKADDR, .offset = OFF(listen),
	  .len_offset = OFF(listen_len), .port = CONC_DEFAULT_PORT,
	  .check = check_listen },
	{ .name = "workers", .type = CFG_UINT, .offset = OFF(workers),
	  .max = MAX_WORKERS },
	{ .name = "tcp_fastopen_sysctl", .type = CFG_ENUM, .offset = OFF(tfo),
	  .names = tfo_names },
	{ .name = "clients", .type = CFG_MAP, .map = clients_keys,
	  .required = true, .missing = open_proxy },
	{ .name = "socks", .type = CFG_MAP, .map = socks_keys },
	{ .name = "egress", .type = CFG_MAP, .map = egress_keys },
	{ .name = "timeouts", .type = CFG_MAP, .map = timeout_keys },
	{ .name = "limits", .type = CFG_MAP, .map = limit_keys },
	{ .name = "log", .type = CFG_MAP, .map = log_keys },
	{ .name = "user", .type = CFG_STRING, .offset = OFF(user), .min = 1,
	  .max = 32, .nullable = true },
	{ .name = "auth", .type = CFG_MAP, .offset = OFF(auth), .map = auth_keys,
	  .check = check_auth },
	{ .name = "control", .type = CFG_MAP, .offset = OFF(control),
	  .map = ctl_config_schema },
	{ .name = "transparent", .type = CFG_MAP, .map = transparent_keys },
	{ .name = "source", .type = CFG_MAP, .map = source_keys },
	{ .name = "tproxy", .type = CFG_MAP, .map = tproxy_keys },
	{ 0 },
};

static bool set_defaults(struct conc_config *c)
{
	c->refs = 1;
	if (!addr_parse(DEF_LISTEN, CONC_DEFAULT_PORT, &c->listen,
			&c->listen_len))
		return false;
	c->workers = DEF_WORKERS;
	c->tfo = DEF_TFO;
	c->socks_enabled = DEF_SOCKS_ENABLED;
	c->egress_source4.ss_family = AF_UNSPEC;
	c->egress_source6.ss_family = AF_UNSPEC;
	c->egress_allow_private = DEF_ALLOW_PRIVATE;
	c->header_timeout_ms = DEF_HEADER_MS;
	c->connect_timeout_ms = DEF_CONNECT_MS;
	c->idle_timeout_ms = DEF_IDLE_MS;
	c->drain_timeout_ms = DEF_DRAIN_MS;
	c->max_flows = DEF_MAX_FLOWS;
	c->max_flows_per_client = DEF_FLOWS_PER_CLIENT;
	c->max_pending_per_client = DEF_PENDING_PER_CLIENT;
	c->log_level = DEF_LOG_LEVEL;
	c->auth.required = DEF_AUTH_REQUIRED;
	c->auth.window_ms = DEF_AUTH_WINDOW_MS;
	c->auth.replay_cache = DEF_AUTH_REPLAY;
	c->transparent_enabled = DEF_TRANSPARENT;
	c->transparent_port = DEF_TRANSPARENT_PORT;
	c->transparent_join_port = DEF_JOIN_PORT;
	c->source_preserve = DEF_PRESERVE;
	c->tproxy_table = DEF_TPROXY_TABLE;
	c->tproxy_priority = DEF_TPROXY_PRIORITY;
	c->tproxy_mark = DEF_TPROXY_MARK;
	ctl_config_defaults(&c->control, "127.0.0.1:9470",
			    "/run/mptun/concentrator.sock");
	return c->control.socket != NULL;
}

/* What the sections say together. */
static const char *validate_tproxy(const struct conc_config *c)
{
	if (c->transparent_enabled && !c->n_transparent_ifs)
		return "transparent.interfaces: list the interfaces the CPEs' "
		       "MPTCP connections arrive on (never the Internet side)";
	if (c->transparent_enabled &&
	    c->transparent_port == addr_port((const struct sockaddr *)&c->listen))
		return "transparent.port: must differ from the port of listen";
	if (!c->transparent_enabled && c->n_transparent_announce)
		return "transparent.announce: applies with transparent.enabled "
		       "only; remove it or enable transparent mode";
	if (c->n_transparent_announce &&
	    (c->transparent_join_port == addr_port((const struct sockaddr *)&c->listen) ||
	     c->transparent_join_port == c->transparent_port))
		return "transparent.join_port: must differ from the port of "
		       "listen and from transparent.port";
	if (c->transparent_enabled && c->auth.required)
		return "transparent.enabled: intercepted connections carry no "
		       "Auth TLV, so auth.required cannot hold for them; turn "
		       "one of the two off";
	if (c->source_preserve && !c->source_prefixes.n)
		return "source.prefixes: preserve needs the prefixes whose "
		       "addresses may be kept (the CPEs' LAN prefixes)";
	return NULL;
}

/* Invariants the loader relies on whatever the schema says; a failure here
 * is a bug in the schema, reported rather than trusted. */
static bool validate(const struct conc_config *c, const char *name, char *err,
		     size_t errlen)
{
	const char *why = NULL;

	if (!c->clients_allow.n)
		why = "clients.allow: must not be empty";
	else if (c->egress_source4.ss_family != AF_UNSPEC &&
		 c->egress_source4.ss_family != AF_INET)
		why = "egress.source4: not an IPv4 address";
	else if (c->egress_source6.ss_family != AF_UNSPEC &&
		 c->egress_source6.ss_family != AF_INET6)
		why = "egress.source6: not an IPv6 address";
	else if (!c->header_timeout_ms || !c->connect_timeout_ms ||
		 !c->idle_timeout_ms || !c->drain_timeout_ms)
		why = "timeouts: must be greater than zero";
	else if (c->workers > MAX_WORKERS)
		why = "workers: more than 256";
	else if (c->auth.required && c->socks_enabled && !c->n_socks_users)
		why = "auth.required: SOCKS has no Auth TLV; set socks.enabled: "
		      "false, or socks.users to make SOCKS5 clients give a "
		      "username and password";
	else
		why = validate_tproxy(c);
	if (why && err && errlen)
		snprintf(err, errlen, "%s: %s", name, why);
	return !why;
}

static void conc_config_free(struct conc_config *c)
{
	if (!c)
		return;
	auth_policy_wipe(&c->auth);
	cfg_free(conc_keys, c);
	free(c);
}

struct conc_config *conc_config_load_buf(const char *buf, size_t len,
					 const char *name, char *err,
					 size_t errlen)
{
	struct conc_config *c = calloc(1, sizeof(*c));

	if (!name)
		name = "config";
	if (!c) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	if (!set_defaults(c)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: bad default listen address",
				 name);
		goto err_free;
	}
	if (!cfg_parse_buf(conc_keys, c, buf, len, name, err, errlen))
		goto err_free;
	if (!validate(c, name, err, errlen))
		goto err_free;
	auth_policy_sort(&c->auth);
	return c;
err_free:
	conc_config_free(c);
	return NULL;
}

struct conc_config *conc_config_load_file(const char *path, char *err,
					  size_t errlen)
{
	struct conc_config *c;
	char *buf;
	size_t len;

	if (!cfg_read_file(path, &buf, &len, err, errlen))
		return NULL;
	c = conc_config_load_buf(buf, len, path, err, errlen);
	free(buf);
	return c;
}

bool conc_config_needs_tproxy(const struct conc_config *c)
{
	return c->transparent_enabled || c->source_preserve;
}

struct conc_config *conc_config_ref(struct conc_config *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void conc_config_unref(struct conc_config *c)
{
	if (c && !__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		conc_config_free(c);
}
