#include "cpe_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgparse.h"
#include "cpe_client_source.h"
#include "conc_config.h"
#include "log.h"

_Static_assert(sizeof(enum cpe_protocol) == sizeof(int),
	       "CFG_ENUM stores an int");
_Static_assert(sizeof(enum cpe_carrier_mode) == sizeof(int),
	       "CFG_ENUM stores an int");
_Static_assert(sizeof(enum cpe_open_mode) == sizeof(int),
	       "CFG_ENUM stores an int");
_Static_assert(sizeof(enum cpe_path_role) == sizeof(int),
	       "CFG_ENUM stores an int");
_Static_assert(sizeof(enum cpe_fail_mode) == sizeof(int),
	       "CFG_ENUM stores an int");

/* Defaults: the only place they are written down. */
#define DEF_TUN_NAME       "mptun0"
#define DEF_TUN_MTU        1500
#define DEF_TUN_TXQLEN     1000
#define DEF_TUN_ADDRESS4   "198.18.0.1/32" /* RFC 2544 benchmarking range */
#define DEF_TABLE          7100
#define DEF_PRIORITY       7100
#define DEF_PATH_ROLE      CPE_PATH_ACTIVE
#define DEF_INTERVAL_MS    1000
#define DEF_PROBE_MS       1000
#define DEF_FAILURES       3
#define DEF_FAIL           CPE_FAIL_OPEN
#define DEF_MODE           CPE_MODE_PLAIN
#define DEF_PROTOCOL       CPE_PROTO_CONVERT /* in plain mode */
#define DEF_SOURCE         false
#define DEF_OPEN           CPE_OPEN_HOLD
#define DEF_FAST_WAIT_MS   10
#define DEF_MAX_PER_HOST 1024
#define DEF_PENDING_PER_HOST 256
#define DEF_MAX_FLOWS      4096
#define DEF_CONNECT_MS     (10 * 1000)
#define DEF_IDLE_MS        (5 * 60 * 1000)
#define DEF_SET_IP_FORWARD true
#define DEF_LOG_LEVEL      LOG_INFO

#define MIN_MTU         1280 /* IPv6 is switched off below it */
#define MAX_MTU         65535
#define MAX_LAN_IFS     64
/* Each bypass prefix is a policy rule per LAN interface, and the kernel
 * walks the rule list linearly for every packet from the LAN. */
#define MAX_BYPASS      256
#define MAX_TABLE       0xfffffffeu
#define MAX_PRIORITY    0xfffffffeu /* capture rules use priority + 1 */
#define MIN_INTERVAL_MS 100
#define MAX_INTERVAL_MS (60 * 60 * 1000)
#define MIN_PROBE_MS    50
#define MAX_PROBE_MS    (60 * 1000)
#define MAX_FAILURES    100
#define MAX_SOCKS_STR   255 /* RFC 1929: one length byte */
#define MAX_FAST_WAIT   1000
#define MAX_FLOWS       65000

/* The walker zeroes each paths[] element before filling it. */
_Static_assert(DEF_PATH_ROLE == 0, "paths[].role defaults to zero");

#define OFF(f)  offsetof(struct cpe_config, f)
#define POFF(f) offsetof(struct cpe_path_config, f)

static const char need_lan[] =
	"name the LAN interfaces whose TCP is captured";
static const char need_conc[] =
	"concentrator.address: missing: the mptun-concentrator to use, e.g. "
	"203.0.113.10:5124 (only carrier.mode: transparent works without one)";
static const char need_path_if[] = "the WAN interface of this path";
static const char auth_socks5[] =
	"auth needs carrier.protocol: convert (SOCKS has no Auth TLV; with "
	"socks5 use carrier.socks_user and socks_password)";
static const char auth_transparent[] =
	"auth does not apply with carrier.mode: transparent (no opening is "
	"sent, so there is nothing to sign); remove the auth section";

/* The kernel's dev_valid_name(), its isspace() counting 0xa0, plus '%':
 * no existing interface has one, as the kernel reads it as a pattern. */
static bool ifname_ok(const char *s, char *why, size_t len)
{
	size_t n = strlen(s);

	if (!n || n >= IFNAMSIZ) {
		snprintf(why, len, "an interface name has 1 to %d bytes",
			 IFNAMSIZ - 1);
		return false;
	}
	if (!strcmp(s, ".") || !strcmp(s, "..")) {
		snprintf(why, len, "\".\" and \"..\" are not interface names");
		return false;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '/' || c == ':' || c == '%' || isspace(c) ||
		    c == 0xa0) {
			snprintf(why, len, "an interface name has no '/', ':', "
				 "'%%' or white space");
			return false;
		}
	}
	return true;
}

/* A name nftables rule text holds without quoting trouble. */
static bool nft_name_ok(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

static bool check_tun_name(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;

	return ifname_ok(c->tun_name, why, len);
}

/* Runs after each interface: the new one is last. */
static bool check_lan_if(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;
	size_t last = c->n_lan_interfaces - 1;

	if (!ifname_ok(c->lan_interfaces[last], why, len))
		return false;
	for (size_t i = 0; i < last; i++) {
		if (!strcmp(c->lan_interfaces[i], c->lan_interfaces[last])) {
			snprintf(why, len,
				 "duplicate interface, also lan.interfaces[%zu]",
				 i);
			return false;
		}
	}
	return true;
}

static bool check_bypass(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;

	if (c->bypass.n <= MAX_BYPASS)
		return true;
	snprintf(why, len,
		 "%zu prefixes, at most %d (each is a policy rule per LAN "
		 "interface)",
		 c->bypass.n, MAX_BYPASS);
	return false;
}

/* Path i routes by table routing.table + 1 + i, its rule has priority
 * routing.priority + 2. Whichever of routing and paths comes last in the
 * file reports it. */
static bool check_path_numbers(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;
	unsigned long long first = c->route_table + 1ull;
	unsigned long long last = first - 1 + c->n_paths;

	if (!c->n_paths)
		return true;
	if (last > MAX_TABLE)
		snprintf(why, len, "the paths' tables (routing.table + 1 + "
			 "index) %llu to %llu go beyond %u", first, last,
			 MAX_TABLE);
	else if (first <= 255 && last >= 253)
		snprintf(why, len, "the paths' tables (routing.table + 1 + "
			 "index) %llu to %llu collide with the kernel's "
			 "default, main and local tables 253, 254 and 255",
			 first, last);
	else if (c->rule_priority > MAX_PRIORITY - 1)
		snprintf(why, len, "the paths' rules (routing.priority + 2) go "
			 "beyond 4294967295");
	else
		return true;
	return false;
}

static bool check_table(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;

	if (c->route_table < 253 || c->route_table > 255)
		return check_path_numbers(base, why, len);
	snprintf(why, len, "253, 254 and 255 are the kernel's default, main "
		 "and local tables");
	return false;
}

static bool is_unspecified(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* A path's addresses are of the concentrator's family. Whichever of
 * concentrator and paths comes last in the file reports it; named puts
 * "paths[i]." before the key. */
static bool path_family_ok(const struct cpe_config *c, size_t i, bool named,
			   char *why, size_t len)
{
	const struct cpe_path_config *p = &c->paths[i];
	int family = c->conc.ss_family;
	const char *key = NULL;
	char pre[32] = "";

	if (family != AF_INET && family != AF_INET6)
		return true; /* not parsed yet */
	if (p->source.ss_family && p->source.ss_family != family)
		key = "source";
	else if (p->gateway.ss_family && p->gateway.ss_family != family)
		key = "gateway";
	if (!key)
		return true;
	if (named)
		snprintf(pre, sizeof(pre), "paths[%zu].", i);
	snprintf(why, len, "%s%s is not an %s address: a path's source and "
		 "gateway are of the concentrator address's family", pre, key,
		 family == AF_INET ? "IPv4" : "IPv6");
	return false;
}

static bool check_conc(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;

	if (is_unspecified(&c->conc)) {
		snprintf(why, len, "the unspecified address is not a "
			 "concentrator");
		return false;
	}
	if (!addr_port((const struct sockaddr *)&c->conc)) {
		snprintf(why, len, "port 0 is not a concentrator port");
		return false;
	}
	for (size_t i = 0; i < c->n_paths; i++)
		if (!path_family_ok(c, i, true, why, len))
			return false;
	return true;
}

static bool check_path_if(const void *base, char *why, size_t len)
{
	const struct cpe_path_config *p = base;

	return ifname_ok(p->interface, why, len);
}

/* 0.0.0.0 or :: would make "from SOURCE" match every source. */
static bool specified(const struct sockaddr_storage *ss, char *why,
		      size_t len)
{
	if (ss->ss_family == AF_UNSPEC || !is_unspecified(ss))
		return true;
	snprintf(why, len, "the unspecified address; null discovers it");
	return false;
}

static bool check_source(const void *base, char *why, size_t len)
{
	const struct cpe_path_config *p = base;

	return specified(&p->source, why, len);
}

static bool check_gateway(const void *base, char *why, size_t len)
{
	const struct cpe_path_config *p = base;

	return specified(&p->gateway, why, len);
}

/* Runs after each path: the new one is last. */
static bool check_path(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;
	size_t last = c->n_paths - 1;
	const struct cpe_path_config *p = &c->paths[last];

	for (size_t i = 0; i < last; i++) {
		const struct cpe_path_config *q = &c->paths[i];
		if (!strcmp(q->interface, p->interface)) {
			snprintf(why, len,
				 "duplicate interface, also paths[%zu]", i);
			return false;
		}
		if (addr_equal_host((const struct sockaddr *)&q->source,
				    (const struct sockaddr *)&p->source)) {
			snprintf(why, len,
				 "duplicate source, also paths[%zu]", i);
			return false;
		}
	}
	return path_family_ok(c, last, false, why, len) &&
	       check_path_numbers(base, why, len);
}

static bool check_health(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;

	if (c->health_timeout_ms <= c->health_interval_ms)
		return true;
	snprintf(why, len, "timeout (%ums) must not exceed interval (%ums): a "
		 "probe ends before the next one starts",
		 c->health_timeout_ms, c->health_interval_ms);
	return false;
}

/* The protocol a plain-mode config uses: convert unless the file names
 * another. */
static enum cpe_protocol protocol_of(const struct cpe_config *c)
{
	return c->protocol == CPE_PROTO_UNSET ? DEF_PROTOCOL : c->protocol;
}

/* Transparent mode sends no opening: whatever shapes one is refused
 * rather than silently ignored. */
static bool transparent_ok(const struct cpe_config *c, char *why, size_t len)
{
	const char *key = NULL;

	if (c->protocol != CPE_PROTO_UNSET)
		key = "protocol";
	else if (c->socks_user || c->socks_password)
		key = c->socks_user ? "socks_user" : "socks_password";
	if (!key && c->auth.id) {
		snprintf(why, len, "%s", auth_transparent);
		return false;
	}
	if (!key)
		return true;
	snprintf(why, len, "%s does not apply with mode: transparent (no "
		 "opening is sent: the concentrator takes the destination from "
		 "the connection itself); remove it", key);
	return false;
}

/* On the carrier mapping, once all its keys are in. */
static bool check_carrier(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;
	bool user = c->socks_user, password = c->socks_password;

	if (c->mode == CPE_MODE_TRANSPARENT)
		return transparent_ok(c, why, len);
	if (user != password) {
		snprintf(why, len, "socks_user and socks_password go together: "
			 "set both or neither");
		return false;
	}
	if (user && protocol_of(c) != CPE_PROTO_SOCKS5) {
		snprintf(why, len, "socks_user and socks_password need "
			 "protocol: socks5");
		return false;
	}
	if (c->source && protocol_of(c) != CPE_PROTO_CONVERT) {
		snprintf(why, len, "source: true needs protocol: convert (the "
			 "client's address travels in a Convert TLV; SOCKS has "
			 "no field for it)");
		return false;
	}
	if (c->auth.id && protocol_of(c) != CPE_PROTO_CONVERT) {
		snprintf(why, len, "%s", auth_socks5);
		return false;
	}
	return true;
}


/* Whichever of auth and carrier comes last in the file reports a SOCKS
 * or transparent carrier (mode, protocol and auth.id are unset before
 * their sections). */
static bool check_auth(const void *base, char *why, size_t len)
{
	const struct cpe_config *c = base;

	if (c->mode == CPE_MODE_TRANSPARENT)
		snprintf(why, len, "%s", auth_transparent);
	else if (protocol_of(c) != CPE_PROTO_CONVERT)
		snprintf(why, len, "%s", auth_socks5);
	else
		return auth_secret_ok(&c->auth.key, why, len);
	return false;
}

/* "/len" after an address: 1..max decimal. */
static bool parse_bits(const char *s, unsigned max, uint8_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9' || strlen(s) > 3)
		return false;
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > max)
		return false;
	*out = (uint8_t)v;
	return true;
}

/* An interface address as `ip address add` takes it: host bits may be set
 * ("198.18.0.1/30"); a bare address is a host prefix. NULL unsets. */
static bool parse_ifaddr(const char *s, void *field, int family, char *why,
			 size_t len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	struct addr_prefix p;
	size_t hlen;

	if (!s) {
		memset(field, 0, sizeof(p));
		return true;
	}
	slash = strchr(s, '/');
	hlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (!addr_prefix_parse(host, &p) || p.family != family)
		goto bad;
	if (slash && !parse_bits(slash + 1, p.len, &p.len))
		goto bad;
	memcpy(field, &p, sizeof(p));
	return true;
bad:
	snprintf(why, len, "not an %s address/length (e.g. %s)",
		 family == AF_INET ? "IPv4" : "IPv6",
		 family == AF_INET ? "198.18.0.1/32" : "fd00::1/128");
	return false;
}

static bool parse_ifaddr4(const char *s, void *field, char *why, size_t len)
{
	return parse_ifaddr(s, field, AF_INET, why, len);
}

static bool parse_ifaddr6(const char *s, void *field, char *why, size_t len)
{
	return parse_ifaddr(s, field, AF_INET6, why, len);
}

static bool parse_ip_forward(const char *s, void *field, char *why,
			     size_t len)
{
	if (!strcmp(s, "set") || !strcmp(s, "require")) {
		*(bool *)field = !strcmp(s, "set");
		return true;
	}
	snprintf(why, len, "expected set or require");
	return false;
}

static const struct cfg_enum protocol_names[] = {
	{ "convert", CPE_PROTO_CONVERT },
	{ "socks4", CPE_PROTO_SOCKS4 },
	{ "socks5", CPE_PROTO_SOCKS5 },
	{ NULL, 0 },
};

static const struct cfg_enum mode_names[] = {
	{ "plain", CPE_MODE_PLAIN },
	{ "transparent", CPE_MODE_TRANSPARENT },
	{ NULL, 0 },
};

static const struct cfg_enum open_names[] = {
	{ "hold", CPE_OPEN_HOLD },
	{ "fast", CPE_OPEN_FAST },
	{ NULL, 0 },
};

static const struct cfg_enum role_names[] = {
	{ "active", CPE_PATH_ACTIVE },
	{ "backup", CPE_PATH_BACKUP },
	{ NULL, 0 },
};

static const struct cfg_enum fail_names[] = {
	{ "open", CPE_FAIL_OPEN },
	{ "closed", CPE_FAIL_CLOSED },
	{ NULL, 0 },
};

static const struct cfg_key tun_keys[] = {
	{ .name = "name", .type = CFG_STRING, .offset = OFF(tun_name),
	  .min = 1, .max = IFNAMSIZ - 1, .check = check_tun_name },
	{ .name = "mtu", .type = CFG_UINT, .offset = OFF(tun_mtu),
	  .min = MIN_MTU, .max = MAX_MTU },
	{ .name = "txqueuelen", .type = CFG_UINT,
	  .offset = OFF(tun_txqueuelen), .min = 1 },
	{ .name = "offload", .type = CFG_BOOL, .offset = OFF(tun_offload) },
	{ .name = "address4", .type = CFG_SCALAR_FN,
	  .offset = OFF(tun_address4), .nullable = true,
	  .parse = parse_ifaddr4 },
	{ .name = "address6", .type = CFG_SCALAR_FN,
	  .offset = OFF(tun_address6), .nullable = true,
	  .parse = parse_ifaddr6 },
	{ 0 },
};

static const struct cfg_key lan_keys[] = {
	{ .name = "interfaces", .type = CFG_STRINGS,
	  .offset = OFF(lan_interfaces), .count_offset = OFF(n_lan_interfaces),
	  .required = true, .missing = need_lan, .min = 1, .max = MAX_LAN_IFS,
	  .check = check_lan_if },
	{ .name = "bypass", .type = CFG_PREFIXES, .offset = OFF(bypass),
	  .check = check_bypass },
	{ 0 },
};

static const struct cfg_key routing_keys[] = {
	{ .name = "table", .type = CFG_UINT, .offset = OFF(route_table),
	  .min = 1, .max = MAX_TABLE, .check = check_table },
	{ .name = "priority", .type = CFG_UINT, .offset = OFF(rule_priority),
	  .min = 1, .max = MAX_PRIORITY, .check = check_path_numbers },
	{ 0 },
};

static const struct cfg_key conc_keys[] = {
	{ .name = "address", .type = CFG_SOCKADDR, .offset = OFF(conc),
	  .len_offset = OFF(conc_len), .port = CONC_DEFAULT_PORT,
	  .check = check_conc },
	{ 0 },
};

static const struct cfg_key path_keys[] = {
	{ .name = "interface", .type = CFG_STRING, .offset = POFF(interface),
	  .required = true, .missing = need_path_if, .min = 1,
	  .max = IFNAMSIZ - 1, .check = check_path_if },
	{ .name = "source", .type = CFG_HOST, .offset = POFF(source),
	  .nullable = true, .check = check_source },
	{ .name = "gateway", .type = CFG_HOST, .offset = POFF(gateway),
	  .nullable = true, .check = check_gateway },
	{ .name = "role", .type = CFG_ENUM, .offset = POFF(role),
	  .names = role_names },
	{ 0 },
};

static const struct cfg_key health_keys[] = {
	{ .name = "interval", .type = CFG_DURATION,
	  .offset = OFF(health_interval_ms), .min = MIN_INTERVAL_MS,
	  .max = MAX_INTERVAL_MS },
	{ .name = "timeout", .type = CFG_DURATION,
	  .offset = OFF(health_timeout_ms), .min = MIN_PROBE_MS,
	  .max = MAX_PROBE_MS },
	{ .name = "failures", .type = CFG_UINT, .offset = OFF(health_failures),
	  .min = 1, .max = MAX_FAILURES },
	{ .name = "fail", .type = CFG_ENUM, .offset = OFF(fail_mode),
	  .names = fail_names },
	{ 0 },
};

static const struct cfg_key carrier_keys[] = {
	{ .name = "mode", .type = CFG_ENUM, .offset = OFF(mode),
	  .names = mode_names },
	{ .name = "protocol", .type = CFG_ENUM, .offset = OFF(protocol),
	  .names = protocol_names },
	{ .name = "source", .type = CFG_BOOL, .offset = OFF(source) },
	{ .name = "socks_user", .type = CFG_STRING, .offset = OFF(socks_user),
	  .min = 1, .max = MAX_SOCKS_STR },
	{ .name = "socks_password", .type = CFG_STRING,
	  .offset = OFF(socks_password), .min = 0, .max = MAX_SOCKS_STR },
	{ .name = "fastopen", .type = CFG_BOOL, .offset = OFF(fastopen) },
	{ 0 },
};

static const struct cfg_key flow_keys[] = {
	{ .name = "open", .type = CFG_ENUM, .offset = OFF(open_mode),
	  .names = open_names },
	{ .name = "fast_wait", .type = CFG_DURATION,
	  .offset = OFF(fast_wait_ms), .min = 1, .max = MAX_FAST_WAIT },
	{ .name = "max", .type = CFG_UINT, .offset = OFF(max_flows), .min = 1,
	  .max = MAX_FLOWS },
	{ .name = "max_per_host", .type = CFG_UINT,
	  .offset = OFF(max_flows_per_host), .min = 1, .max = MAX_FLOWS },
	{ .name = "max_pending_per_host", .type = CFG_UINT,
	  .offset = OFF(max_pending_per_host), .min = 1, .max = MAX_FLOWS },
	{ .name = "connect_timeout", .type = CFG_DURATION,
	  .offset = OFF(connect_timeout_ms), .min = 1 },
	{ .name = "idle_timeout", .type = CFG_DURATION,
	  .offset = OFF(idle_timeout_ms), .min = 1 },
	{ 0 },
};

static const struct cfg_key sysctl_keys[] = {
	{ .name = "ip_forward", .type = CFG_SCALAR_FN,
	  .offset = OFF(set_ip_forward), .parse = parse_ip_forward },
	{ 0 },
};

static const struct cfg_key log_keys[] = {
	{ .name = "level", .type = CFG_SCALAR_FN, .offset = OFF(log_level),
	  .parse = cfg_parse_log_level },
	{ 0 },
};

static const struct cfg_key cpe_keys[] = {
	{ .name = "tun", .type = CFG_MAP, .map = tun_keys },
	{ .name = "lan", .type = CFG_MAP, .map = lan_keys, .required = true,
	  .missing = need_lan },
	{ .name = "routing", .type = CFG_MAP, .map = routing_keys },
	{ .name = "concentrator", .type = CFG_MAP, .map = conc_keys },
	{ .name = "paths", .type = CFG_MAP_SEQ, .offset = OFF(paths),
	  .count_offset = OFF(n_paths),
	  .elem_size = sizeof(struct cpe_path_config), .map = path_keys,
	  .max = CPE_PATHS_MAX, .check = check_path },
	{ .name = "health", .type = CFG_MAP, .map = health_keys,
	  .check = check_health },
	{ .name = "carrier", .type = CFG_MAP, .map = carrier_keys,
	  .check = check_carrier },
	{ .name = "flow", .type = CFG_MAP, .map = flow_keys },
	{ .name = "sysctl", .type = CFG_MAP, .map = sysctl_keys },
	{ .name = "log", .type = CFG_MAP, .map = log_keys },
	{ .name = "user", .type = CFG_STRING, .offset = OFF(user), .min = 1,
	  .max = 32, .nullable = true },
	{ .name = "auth", .type = CFG_MAP, .offset = OFF(auth),
	  .map = auth_key_schema, .check = check_auth },
	{ .name = "control", .type = CFG_MAP, .offset = OFF(control),
	  .map = ctl_config_schema },
	{ 0 },
};

static bool set_defaults(struct cpe_config *c)
{
	c->refs = 1;
	c->tun_name = strdup(DEF_TUN_NAME);
	if (!c->tun_name || !addr_prefix_parse(DEF_TUN_ADDRESS4,
					       &c->tun_address4))
		return false;
	c->tun_mtu = DEF_TUN_MTU;
	c->tun_txqueuelen = DEF_TUN_TXQLEN;
	c->tun_offload = true;
	c->route_table = DEF_TABLE;
	c->rule_priority = DEF_PRIORITY;
	c->conc.ss_family = AF_UNSPEC;
	c->health_interval_ms = DEF_INTERVAL_MS;
	c->health_timeout_ms = DEF_PROBE_MS;
	c->health_failures = DEF_FAILURES;
	c->fail_mode = DEF_FAIL;
	c->mode = DEF_MODE;
	c->protocol = CPE_PROTO_UNSET; /* load_buf resolves it */
	c->source = DEF_SOURCE;
	c->fastopen = false; /* see configs/cpe.yaml: kernel issues */
	c->open_mode = DEF_OPEN;
	c->fast_wait_ms = DEF_FAST_WAIT_MS;
	c->max_flows = DEF_MAX_FLOWS;
	c->max_flows_per_host = DEF_MAX_PER_HOST;
	c->max_pending_per_host = DEF_PENDING_PER_HOST;
	c->connect_timeout_ms = DEF_CONNECT_MS;
	c->idle_timeout_ms = DEF_IDLE_MS;
	c->set_ip_forward = DEF_SET_IP_FORWARD;
	c->log_level = DEF_LOG_LEVEL;
	ctl_config_defaults(&c->control, "127.0.0.1:9471", "/run/mptun/cpe.sock");
	return c->control.socket != NULL;
}

static bool lan_has(const struct cpe_config *c, const char *ifname)
{
	for (size_t i = 0; i < c->n_lan_interfaces; i++)
		if (!strcmp(c->lan_interfaces[i], ifname))
			return true;
	return false;
}

static bool any_active(const struct cpe_config *c)
{
	for (size_t i = 0; i < c->n_paths; i++)
		if (c->paths[i].role == CPE_PATH_ACTIVE)
			return true;
	return false;
}

/* The family of a path's source, else its gateway; 0 when it names none. */
static int path_family(const struct cpe_path_config *p)
{
	return p->source.ss_family ? p->source.ss_family : p->gateway.ss_family;
}

int cpe_config_paths_family(const struct cpe_config *c)
{
	if (c->conc.ss_family)
		return c->conc.ss_family;
	for (size_t i = 0; i < c->n_paths; i++)
		if (path_family(&c->paths[i]))
			return path_family(&c->paths[i]);
	return AF_INET;
}

/* Without a concentrator address (transparent mode) nothing sets the
 * paths' family but the paths themselves: they must agree. */
static bool paths_one_family(const struct cpe_config *c, char *why, size_t len)
{
	int family = cpe_config_paths_family(c);

	for (size_t i = 0; i < c->n_paths; i++) {
		const struct cpe_path_config *p = &c->paths[i];
		const char *key = NULL;
		if (p->source.ss_family && p->source.ss_family != family)
			key = "source";
		else if (p->gateway.ss_family && p->gateway.ss_family != family)
			key = "gateway";
		if (!key)
			continue;
		snprintf(why, len, "paths[%zu].%s is not an %s address: without "
			 "a concentrator address, the paths' sources and gateways "
			 "are of one family, the first one named", i, key,
			 family == AF_INET ? "IPv4" : "IPv6");
		return false;
	}
	return true;
}

/* Transparent mode with carrier.source (lib/cpe_client_source.h): NULL
 * when its table and the TUN's name fit. */
static const char *client_source_why(const struct cpe_config *c)
{
	unsigned long long t = c->route_table + CPE_PATHS_MAX + 1ull;

	if (!nft_name_ok(c->tun_name))
		return "tun.name: with carrier.source in transparent mode it "
		       "goes into an nftables rule: letters, digits, '.', '_' "
		       "and '-' only";
	if (t > MAX_TABLE || (t >= 253 && t <= 255))
		return "routing.table: with carrier.source in transparent mode "
		       "table + 9 is the answers' local table: not beyond "
		       "4294967294, nor 253 to 255";
	return NULL;
}

/* What spans sections (their order in the file is free) or a whole
 * sequence (the walker checks each element as it comes), then invariants
 * the daemon relies on whatever the schema says. */
static bool validate(const struct cpe_config *c, const char *name, char *err,
		     size_t errlen)
{
	const char *why = NULL;
	char buf[256];

	if (c->tun_name && lan_has(c, c->tun_name))
		why = "lan.interfaces: lists tun.name: captured packets would "
		      "loop";
	else if (!c->n_lan_interfaces)
		why = "lan.interfaces: must not be empty";
	else if (!c->tun_name)
		why = "tun.name: missing";
	else if (c->conc.ss_family != AF_INET && c->conc.ss_family != AF_INET6 &&
		 (c->conc.ss_family || c->mode != CPE_MODE_TRANSPARENT))
		why = need_conc;
	else if (c->tun_address4.len && c->tun_address4.family != AF_INET)
		why = "tun.address4: not an IPv4 address";
	else if (c->tun_address6.len && c->tun_address6.family != AF_INET6)
		why = "tun.address6: not an IPv6 address";
	else if (!c->route_table || c->route_table > MAX_TABLE ||
		 !c->rule_priority || c->rule_priority > MAX_PRIORITY)
		why = "routing: table or priority out of range";
	else if (!c->socks_user != !c->socks_password)
		why = "carrier: socks_user without socks_password";
	else if (c->n_paths && !any_active(c))
		why = "paths: no path has role active: a backup path carries "
		      "data only while no active path is up";
	else if (c->auth.id && protocol_of(c) != CPE_PROTO_CONVERT)
		why = auth_socks5;
	else if (!c->conc.ss_family && !paths_one_family(c, buf, sizeof(buf)))
		why = buf;
	else if (cpe_client_source_wanted(c))
		why = client_source_why(c);
	if (why && err && errlen)
		snprintf(err, errlen, "%s: %s", name, why);
	return !why;
}

static void cpe_config_free(struct cpe_config *c)
{
	if (!c)
		return;
	auth_secret_wipe(&c->auth.key);
	cfg_free(cpe_keys, c);
	free(c);
}

struct cpe_config *cpe_config_load_buf(const char *buf, size_t len,
				       const char *name, char *err,
				       size_t errlen)
{
	struct cpe_config *c = calloc(1, sizeof(*c));

	if (!name)
		name = "config";
	if (!c || !set_defaults(c)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		goto err_free;
	}
	if (!cfg_parse_buf(cpe_keys, c, buf, len, name, err, errlen))
		goto err_free;
	if (!validate(c, name, err, errlen))
		goto err_free;
	c->protocol = protocol_of(c);
	return c;
err_free:
	cpe_config_free(c);
	return NULL;
}

struct cpe_config *cpe_config_load_file(const char *path, char *err,
					size_t errlen)
{
	struct cpe_config *c;
	char *buf;
	size_t len;

	if (!cfg_read_file(path, &buf, &len, err, errlen))
		return NULL;
	c = cpe_config_load_buf(buf, len, path, err, errlen);
	free(buf);
	return c;
}

struct cpe_config *cpe_config_ref(struct cpe_config *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void cpe_config_unref(struct cpe_config *c)
{
	if (c && !__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		cpe_config_free(c);
}
