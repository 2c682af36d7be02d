/* lib/cpe_config.c (and the CFG_STRINGS, CFG_MAP_SEQ, CFG_HOST and nullable
 * CFG_SCALAR_FN parts of lib/cfgparse.c): the CPE's YAML config. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpe_config.h"
#include "cpe_client_source.h"
#include "log.h"

#define ERRLEN 512
/* The required keys, lines 1-4. */
#define REQ                     \
	"lan:\n"                \
	"  interfaces: [lan0]\n" \
	"concentrator:\n"       \
	"  address: 203.0.113.10\n"
#define CONC "concentrator:\n  address: 203.0.113.10\n" /* lines 1-2 */

static struct cpe_config *load(const char *yaml, char *err)
{
	return cpe_config_load_buf(yaml, strlen(yaml), "t.yaml", err, ERRLEN);
}

static struct cpe_config *load_ok(const char *yaml)
{
	char err[ERRLEN];
	struct cpe_config *c = load(yaml, err);

	if (!c)
		fail_msg("refused: %s", err);
	return c;
}

/* The load fails and the message starts with want. */
static void expect_error(const char *yaml, const char *want)
{
	char err[ERRLEN] = "";
	struct cpe_config *c = load(yaml, err);

	if (c) {
		cpe_config_unref(c);
		fail_msg("accepted:\n%s", yaml);
	}
	if (strncmp(err, want, strlen(want)))
		fail_msg("got  '%s'\nwant '%s'", err, want);
}

static void assert_prefix(const struct addr_prefix *p, int family,
			  const char *addr, unsigned len)
{
	uint8_t bytes[16] = { 0 };

	assert_int_equal(inet_pton(family, addr, bytes), 1);
	assert_int_equal(p->family, family);
	assert_int_equal(p->len, len);
	assert_memory_equal(p->bytes, bytes, sizeof(bytes));
}

static void assert_addr(const struct sockaddr_storage *ss, const char *s)
{
	char buf[ADDR_STRLEN];

	assert_string_equal(addr_str((const struct sockaddr *)ss, buf,
				     sizeof(buf)),
			    s);
}

static const char full[] =
	"tun:\n"
	"  name: cap0\n"
	"  mtu: 9000\n"
	"  txqueuelen: 500\n"
	"  offload: false\n"
	"  address4: 198.18.0.1/30\n"
	"  address6: \"fd00::1/64\"\n"
	"lan:\n"
	"  interfaces:\n"
	"    - br-lan\n"
	"    - eth1.100\n"
	"  bypass: [10.0.0.0/8, \"fc00::/7\", 192.0.2.7]\n"
	"routing:\n"
	"  table: 100\n"
	"  priority: 50\n"
	"concentrator:\n"
	"  address: \"[2001:db8::10]:6000\"\n"
	"carrier:\n"
	"  protocol: socks5\n"
	"  socks_user: cpe1\n"
	"  socks_password: \"\"\n"
	"flow:\n"
	"  open: fast\n"
	"  fast_wait: 25ms\n"
	"  max: 100\n"
	"  connect_timeout: 3s\n"
	"  idle_timeout: 1h\n"
	"sysctl:\n"
	"  ip_forward: require\n"
	"log:\n"
	"  level: debug\n"
	"paths:\n"
	"  - interface: wan1\n"
	"    source: \"2001:db8:1::2\"\n"
	"    gateway: \"fe80::1\"\n"
	"health:\n"
	"  interval: 1h\n"
	"  timeout: 1m\n"
	"  failures: 100\n"
	"  fail: closed\n";

static void test_full(void **state)
{
	struct cpe_config *c = load_ok(full);

	assert_int_equal(c->refs, 1);
	assert_string_equal(c->tun_name, "cap0");
	assert_int_equal(c->tun_mtu, 9000);
	assert_int_equal(c->tun_txqueuelen, 500);
	assert_false(c->tun_offload);
	assert_prefix(&c->tun_address4, AF_INET, "198.18.0.1", 30);
	assert_prefix(&c->tun_address6, AF_INET6, "fd00::1", 64);
	assert_int_equal(c->n_lan_interfaces, 2);
	assert_string_equal(c->lan_interfaces[0], "br-lan");
	assert_string_equal(c->lan_interfaces[1], "eth1.100");
	assert_int_equal(c->bypass.n, 3);
	assert_prefix(&c->bypass.v[0], AF_INET, "10.0.0.0", 8);
	assert_prefix(&c->bypass.v[1], AF_INET6, "fc00::", 7);
	assert_prefix(&c->bypass.v[2], AF_INET, "192.0.2.7", 32);
	assert_int_equal(c->route_table, 100);
	assert_int_equal(c->rule_priority, 50);
	assert_addr(&c->conc, "[2001:db8::10]:6000");
	assert_int_equal(c->conc_len, sizeof(struct sockaddr_in6));
	assert_int_equal(c->protocol, CPE_PROTO_SOCKS5);
	assert_string_equal(c->socks_user, "cpe1");
	assert_string_equal(c->socks_password, "");
	assert_int_equal(c->open_mode, CPE_OPEN_FAST);
	assert_int_equal(c->fast_wait_ms, 25);
	assert_int_equal(c->max_flows, 100);
	assert_int_equal(c->connect_timeout_ms, 3000);
	assert_int_equal(c->idle_timeout_ms, 3600000);
	assert_false(c->set_ip_forward);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->n_paths, 1);
	assert_string_equal(c->paths[0].interface, "wan1");
	assert_addr(&c->paths[0].source, "[2001:db8:1::2]:0");
	assert_addr(&c->paths[0].gateway, "[fe80::1]:0");
	assert_int_equal(c->paths[0].role, CPE_PATH_ACTIVE);
	assert_int_equal(c->health_interval_ms, 3600000);
	assert_int_equal(c->health_timeout_ms, 60000);
	assert_int_equal(c->health_failures, 100);
	assert_int_equal(c->fail_mode, CPE_FAIL_CLOSED);
	cpe_config_unref(c);
}

static void test_defaults(void **state)
{
	struct cpe_config *c = load_ok(REQ);

	assert_string_equal(c->tun_name, "mptun0");
	assert_int_equal(c->tun_mtu, 1500);
	assert_int_equal(c->tun_txqueuelen, 1000);
	assert_true(c->tun_offload);
	assert_prefix(&c->tun_address4, AF_INET, "198.18.0.1", 32);
	assert_int_equal(c->tun_address6.family, 0);
	assert_int_equal(c->tun_address6.len, 0);
	assert_int_equal(c->n_lan_interfaces, 1);
	assert_string_equal(c->lan_interfaces[0], "lan0");
	assert_int_equal(c->bypass.n, 0);
	assert_int_equal(c->route_table, 7100);
	assert_int_equal(c->rule_priority, 7100);
	assert_addr(&c->conc, "203.0.113.10:5124");
	assert_int_equal(c->conc_len, sizeof(struct sockaddr_in));
	assert_int_equal(c->protocol, CPE_PROTO_CONVERT);
	assert_int_equal(c->mode, CPE_MODE_PLAIN);
	assert_false(c->source);
	assert_null(c->socks_user);
	assert_null(c->socks_password);
	assert_int_equal(c->open_mode, CPE_OPEN_HOLD);
	assert_int_equal(c->fast_wait_ms, 10);
	assert_int_equal(c->max_flows, 4096);
	assert_int_equal(c->connect_timeout_ms, 10000);
	assert_int_equal(c->idle_timeout_ms, 300000);
	assert_true(c->set_ip_forward);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_null(c->paths);
	assert_int_equal(c->n_paths, 0);
	assert_int_equal(c->health_interval_ms, 1000);
	assert_int_equal(c->health_timeout_ms, 1000);
	assert_int_equal(c->health_failures, 3);
	assert_int_equal(c->fail_mode, CPE_FAIL_OPEN);
	assert_null(c->auth.id);
	cpe_config_unref(c);
}

/* Unit tests run from the repository root. The example states every
 * default, so it must load to the same values as the defaults. */
static void test_example_file(void **state)
{
	char err[ERRLEN];
	struct cpe_config *c =
		cpe_config_load_file("configs/cpe.yaml", err, ERRLEN);
	struct cpe_config *d = load_ok("lan:\n  interfaces: [lan0]\n"
				       CONC);

	if (!c)
		fail_msg("%s", err);
	assert_int_equal(c->n_lan_interfaces, 1);
	assert_string_equal(c->lan_interfaces[0], "lan0");
	assert_addr(&c->conc, "203.0.113.10:5124");
	assert_string_equal(c->tun_name, d->tun_name);
	assert_memory_equal(&c->tun_address4, &d->tun_address4,
			    sizeof(c->tun_address4));
	assert_int_equal(c->tun_address6.family, 0);
	assert_int_equal(c->bypass.n, 0);
	assert_int_equal(c->tun_mtu, d->tun_mtu);
	assert_int_equal(c->tun_txqueuelen, d->tun_txqueuelen);
	assert_int_equal(c->tun_offload, d->tun_offload);
	assert_int_equal(c->route_table, d->route_table);
	assert_int_equal(c->rule_priority, d->rule_priority);
	assert_int_equal(c->protocol, d->protocol);
	assert_null(c->socks_user);
	assert_int_equal(c->open_mode, d->open_mode);
	assert_int_equal(c->fast_wait_ms, d->fast_wait_ms);
	assert_int_equal(c->max_flows, d->max_flows);
	assert_int_equal(c->connect_timeout_ms, d->connect_timeout_ms);
	assert_int_equal(c->idle_timeout_ms, d->idle_timeout_ms);
	assert_int_equal(c->set_ip_forward, d->set_ip_forward);
	assert_int_equal(c->log_level, d->log_level);
	assert_int_equal(c->n_paths, 0);
	assert_int_equal(c->health_interval_ms, d->health_interval_ms);
	assert_int_equal(c->health_timeout_ms, d->health_timeout_ms);
	assert_int_equal(c->health_failures, d->health_failures);
	assert_int_equal(c->fail_mode, d->fail_mode);
	cpe_config_unref(c);
	cpe_config_unref(d);
}

static void test_load_file_errors(void **state)
{
	char err[ERRLEN];

	assert_null(cpe_config_load_file("/nonexistent/c.yaml", err, ERRLEN));
	assert_string_equal(err,
			    "/nonexistent/c.yaml: No such file or directory");
	assert_null(cpe_config_load_file("configs", err, ERRLEN));
	assert_string_equal(err, "configs: Is a directory");
	assert_null(cpe_config_load_buf(NULL, 0, NULL, NULL, 0));
	expect_error("", "t.yaml: empty configuration");
}

static void test_ref_unref(void **state)
{
	struct cpe_config *c = load_ok(REQ);

	assert_ptr_equal(cpe_config_ref(c), c);
	assert_int_equal(c->refs, 2);
	cpe_config_unref(c);
	assert_int_equal(c->refs, 1);
	cpe_config_unref(c); /* frees: ASan would see a leak otherwise */
	cpe_config_unref(NULL);
	assert_null(cpe_config_ref(NULL));
}

static void test_unknown_and_duplicate(void **state)
{
	expect_error(REQ "tun:\n  nmae: x\n",
		     "t.yaml:6:3: tun: unknown key \"nmae\"");
	expect_error(REQ "flow:\n  max: 1\n  max: 2\n",
		     "t.yaml:7:3: flow.max: duplicate key (first at line 6)");
}

static void test_missing_required(void **state)
{
	expect_error(CONC,
		     "t.yaml:1:1: lan: missing required key: name the LAN "
		     "interfaces whose TCP is captured");
	expect_error(CONC "lan:\n  bypass: []\n",
		     "t.yaml:4:3: lan.interfaces: missing required key: name "
		     "the LAN interfaces whose TCP is captured");
	expect_error("lan:\n  interfaces: [lan0]\n",
		     "t.yaml: concentrator.address: missing: the "
		     "mptun-concentrator to use, e.g. 203.0.113.10:5124 (only "
		     "carrier.mode: transparent works without one)");
	expect_error("lan:\n  interfaces: [lan0]\nconcentrator: {}\n",
		     "t.yaml: concentrator.address: missing");
	expect_error("lan:\n  interfaces: [lan0]\ncarrier: {mode: plain}\n",
		     "t.yaml: concentrator.address: missing");
}

static void test_lan_empty(void **state)
{
	expect_error(CONC "lan:\n  interfaces: []\n",
		     "t.yaml:4:15: lan.interfaces: must not be empty");
	expect_error(CONC "lan:\n  interfaces:\n",
		     "t.yaml:4:14: lan.interfaces: must not be empty");
	expect_error(CONC "lan:\n  interfaces: lan0\n",
		     "t.yaml:4:15: lan.interfaces: expected a sequence of "
		     "strings, got a scalar");
	expect_error(CONC "lan:\n  interfaces: [lan0, [lan1]]\n",
		     "t.yaml:4:22: lan.interfaces[1]: expected a string, got "
		     "a sequence");
	expect_error(CONC "lan:\n  interfaces: [lan0, ~]\n",
		     "t.yaml:4:22: lan.interfaces[1]: expected a string, got "
		     "nothing");
}

static void test_lan_names(void **state)
{
	static const char *const bad[] = { "\"\"", "sixteen-bytes-xx", "a/b",
					   "\"a b\"", "\"a\\tb\"", "eth0:1",
					   "eth%d", "\".\"", "\"..\"" };
	char yaml[256];
	struct cpe_config *c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 CONC "lan:\n  interfaces:\n    - ok0\n    - %s\n",
			 bad[i]);
		expect_error(yaml, "t.yaml:6:7: lan.interfaces[1]: ");
	}
	expect_error(CONC "lan:\n  interfaces: [sixteen-bytes-xx]\n",
		     "t.yaml:4:16: lan.interfaces[0]: an interface name has 1 "
		     "to 15 bytes");
	expect_error(CONC "lan:\n  interfaces: [a/b]\n",
		     "t.yaml:4:16: lan.interfaces[0]: an interface name has no "
		     "'/', ':', '%' or white space");
	c = load_ok(CONC "lan:\n  interfaces: [fifteen-bytes-x, lan.7, "
			 "\"wl-\xc3\xa9\"]\n");
	assert_int_equal(c->n_lan_interfaces, 3);
	assert_string_equal(c->lan_interfaces[0], "fifteen-bytes-x");
	cpe_config_unref(c);
}

static void test_lan_duplicate_and_max(void **state)
{
	char yaml[2048];
	size_t len;

	expect_error(CONC "lan:\n  interfaces:\n    - a\n    - b\n    - a\n",
		     "t.yaml:7:7: lan.interfaces[2]: duplicate interface, "
		     "also lan.interfaces[0]");
	len = (size_t)snprintf(yaml, sizeof(yaml),
			       CONC "lan:\n  interfaces: [");
	for (int i = 0; i < 65; i++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"%sl%d", i ? ", " : "", i);
	snprintf(yaml + len, sizeof(yaml) - len, "]\n");
	expect_error(yaml, "t.yaml:4:15: lan.interfaces: 65 entries, out of "
			   "range (1..64)");
}

static void test_tun_name(void **state)
{
	expect_error(CONC "lan:\n  interfaces: [lan0, mptun0]\n",
		     "t.yaml: lan.interfaces: lists tun.name: captured packets "
		     "would loop");
	expect_error("tun: {name: br0}\n" CONC "lan:\n  interfaces: [br0]\n",
		     "t.yaml: lan.interfaces: lists tun.name");
	expect_error(REQ "tun:\n  name: \"\"\n",
		     "t.yaml:6:9: tun.name: length 0 out of range (1..15 "
		     "bytes)");
	expect_error(REQ "tun:\n  name: mptun-sixteen-bb\n",
		     "t.yaml:6:9: tun.name: length 16 out of range (1..15 "
		     "bytes)");
	expect_error(REQ "tun:\n  name: \"tun%d\"\n",
		     "t.yaml:6:9: tun.name: an interface name has no '/', "
		     "':', '%' or white space");
	expect_error(REQ "tun:\n  name:\n",
		     "t.yaml:6:8: tun.name: expected a string, got nothing");
}

static void test_tun_mtu_txqlen(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "tun:\n  mtu: 1279\n",
		     "t.yaml:6:8: tun.mtu: out of range (1280..65535): "
		     "\"1279\"");
	expect_error(REQ "tun:\n  mtu: 65536\n",
		     "t.yaml:6:8: tun.mtu: out of range (1280..65535)");
	expect_error(REQ "tun:\n  txqueuelen: 0\n",
		     "t.yaml:6:15: tun.txqueuelen: out of range "
		     "(1..4294967295): \"0\"");
	c = load_ok(REQ "tun:\n  mtu: 1280\n  txqueuelen: 1\n");
	assert_int_equal(c->tun_mtu, 1280);
	assert_int_equal(c->tun_txqueuelen, 1);
	cpe_config_unref(c);
}

static void test_tun_address_forms(void **state)
{
	struct cpe_config *c;

	c = load_ok(REQ "tun:\n  address4: 100.64.0.1\n"
			"  address6: \"fd00::1\"\n");
	assert_prefix(&c->tun_address4, AF_INET, "100.64.0.1", 32);
	assert_prefix(&c->tun_address6, AF_INET6, "fd00::1", 128);
	cpe_config_unref(c);
	c = load_ok(REQ "tun:\n  address4: null\n  address6: ~\n");
	assert_int_equal(c->tun_address4.family, 0);
	assert_int_equal(c->tun_address4.len, 0);
	assert_int_equal(c->tun_address6.family, 0);
	cpe_config_unref(c);
}

static void test_tun_address_bad(void **state)
{
	static const char *const bad4[] = { "\"fd00::1\"", "198.18.0.1/0",
					    "198.18.0.1/33", "198.18.0.1/",
					    "198.18.0/24",
					    "198.18.0.1/+8", "x" };
	char yaml[256];

	for (size_t i = 0; i < sizeof(bad4) / sizeof(bad4[0]); i++) {
		snprintf(yaml, sizeof(yaml), REQ "tun:\n  address4: %s\n",
			 bad4[i]);
		expect_error(yaml, "t.yaml:6:13: tun.address4: not an IPv4 "
				   "address/length (e.g. 198.18.0.1/32): ");
	}
	expect_error(REQ "tun:\n  address6: 198.18.0.1/32\n",
		     "t.yaml:6:13: tun.address6: not an IPv6 address/length "
		     "(e.g. fd00::1/128): \"198.18.0.1/32\"");
	expect_error(REQ "tun:\n  address6: \"fd00::1/129\"\n",
		     "t.yaml:6:13: tun.address6: not an IPv6 address/length");
	expect_error(REQ "tun:\n  address4: [198.18.0.1]\n",
		     "t.yaml:6:13: tun.address4: expected a scalar, got a "
		     "sequence");
}

static void test_bypass(void **state)
{
	char *yaml;
	size_t len;

	expect_error(CONC "lan:\n  interfaces: [a]\n"
			  "  bypass: [10.0.0.0/8, 10.0.0.1/8]\n",
		     "t.yaml:5:24: lan.bypass[1]: host bits set in IP prefix: "
		     "\"10.0.0.1/8\"");
	yaml = malloc(16384);
	assert_non_null(yaml);
	len = (size_t)snprintf(yaml, 16384,
			       CONC "lan:\n  interfaces: [a]\n  bypass:\n");
	for (int i = 0; i < 257; i++)
		len += (size_t)snprintf(yaml + len, 16384 - len,
					"    - 10.%d.%d.0/24\n", i / 256,
					i % 256);
	expect_error(yaml, "t.yaml:6:5: lan.bypass: 257 prefixes, at most 256 "
			   "(each is a policy rule per LAN interface)");
	free(yaml);
}

static void test_routing_range(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "routing:\n  table: 0\n",
		     "t.yaml:6:10: routing.table: out of range "
		     "(1..4294967294): \"0\"");
	expect_error(REQ "routing:\n  table: 4294967295\n",
		     "t.yaml:6:10: routing.table: out of range");
	for (int t = 253; t <= 255; t++) {
		char yaml[128];
		snprintf(yaml, sizeof(yaml), REQ "routing:\n  table: %d\n", t);
		expect_error(yaml, "t.yaml:6:10: routing.table: 253, 254 and "
				   "255 are the kernel's default, main and "
				   "local tables");
	}
	expect_error(REQ "routing:\n  priority: 0\n",
		     "t.yaml:6:13: routing.priority: out of range "
		     "(1..4294967294): \"0\"");
	expect_error(REQ "routing:\n  priority: 4294967295\n",
		     "t.yaml:6:13: routing.priority: out of range");
	c = load_ok(REQ "routing:\n  table: 4294967294\n"
			"  priority: 4294967294\n");
	assert_int_equal(c->route_table, 0xfffffffeu);
	assert_int_equal(c->rule_priority, 0xfffffffeu);
	cpe_config_unref(c);
}

static void test_concentrator_address(void **state)
{
	struct cpe_config *c;

	c = load_ok("lan:\n  interfaces: [a]\n"
		    "concentrator:\n  address: 192.0.2.1:443\n");
	assert_addr(&c->conc, "192.0.2.1:443");
	cpe_config_unref(c);
	c = load_ok("lan:\n  interfaces: [a]\n"
		    "concentrator:\n  address: \"2001:db8::1\"\n");
	assert_addr(&c->conc, "[2001:db8::1]:5124");
	assert_int_equal(c->conc_len, sizeof(struct sockaddr_in6));
	cpe_config_unref(c);
	expect_error("concentrator:\n  address: conc.example.net:5124\n",
		     "t.yaml:2:12: concentrator.address: not an address (e.g. "
		     "192.0.2.1:5124, [2001:db8::1]:5124, or without the "
		     "port): \"conc.example.net:5124\"");
	expect_error("concentrator:\n  address: \"[::]:5124\"\n",
		     "t.yaml:2:12: concentrator.address: the unspecified "
		     "address is not a concentrator");
	expect_error("concentrator:\n  address: 0.0.0.0\n",
		     "t.yaml:2:12: concentrator.address: the unspecified "
		     "address is not a concentrator");
	expect_error("concentrator:\n  address: 192.0.2.1:0\n",
		     "t.yaml:2:12: concentrator.address: port 0 is not a "
		     "concentrator port");
}

static void test_carrier(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "carrier:\n  protocol: http\n",
		     "t.yaml:6:13: carrier.protocol: expected one of convert, "
		     "socks4, socks5; got \"http\"");
	expect_error(REQ "carrier:\n  protocol: socks4\n  socks_user: u\n"
			 "  socks_password: p\n",
		     "t.yaml:6:3: carrier: socks_user and socks_password need "
		     "protocol: socks5");
	expect_error(REQ "carrier:\n  protocol: socks5\n  socks_user: u\n",
		     "t.yaml:6:3: carrier: socks_user and socks_password go "
		     "together: set both or neither");
	expect_error(REQ "carrier:\n  socks_password: p\n",
		     "t.yaml:6:3: carrier: socks_user and socks_password go "
		     "together");
	expect_error(REQ "carrier:\n  socks_user: u\n  socks_password: p\n",
		     "t.yaml:6:3: carrier: socks_user and socks_password need "
		     "protocol: socks5");
	expect_error(REQ "carrier:\n  protocol: socks5\n  socks_user: \"\"\n"
			 "  socks_password: p\n",
		     "t.yaml:7:15: carrier.socks_user: length 0 out of range "
		     "(1..255 bytes)");
	c = load_ok(REQ "carrier:\n  protocol: socks5\n");
	assert_int_equal(c->protocol, CPE_PROTO_SOCKS5);
	assert_null(c->socks_user);
	cpe_config_unref(c);
}

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void test_auth(void **state)
{
	char path[64] = "/tmp/mptun-test-key.XXXXXX", yaml[512];
	struct cpe_config *c;
	int fd;

	c = load_ok(REQ "auth:\n  id: cpe-0001\n  key: \"" KEY_HEX "\"\n");
	assert_string_equal(c->auth.id, "cpe-0001");
	for (int i = 0; i < AUTH_KEY_LEN; i++)
		assert_int_equal(c->auth.key.bytes[i], i);
	cpe_config_unref(c);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, KEY_HEX "\n", 65), 65);
	close(fd);
	snprintf(yaml, sizeof(yaml), REQ "auth: {id: a, key_file: %s}\n", path);
	c = load_ok(yaml);
	assert_int_equal(c->auth.key.bytes[31], 31);
	assert_int_equal(c->auth.key.from, AUTH_FROM_FILE);
	cpe_config_unref(c);
	chmod(path, 0604);
	expect_error(yaml, "t.yaml:5:25: auth.key_file: /tmp/mptun-test-key.");
	unlink(path);

	expect_error(REQ "auth:\n  id: cpe-0001\n",
		     "t.yaml:6:3: auth: one of key or key_file is required");
	expect_error(REQ "auth:\n  key: " KEY_HEX "\n",
		     "t.yaml:6:3: auth.id: missing required key");
	expect_error(REQ "auth:\n  id: \"a b\"\n  key: " KEY_HEX "\n",
		     "t.yaml:6:7: auth.id: an id is printable ASCII without "
		     "spaces");
	expect_error(REQ "auth:\n  id: a\n  key: 0011\n",
		     "t.yaml:7:8: auth.key: expected a 32-byte key as 64 hex "
		     "digits or 44 base64 characters (openssl rand -hex 32), "
		     "got 4 characters");
	expect_error(REQ "auth:\n  id: a\n  key: " KEY_HEX "\n  key_file: /k\n",
		     "t.yaml:8:13: auth.key_file: key and key_file exclude each "
		     "other");
}

/* SOCKS5 has no Auth TLV: refused in either order of the sections. */
static void test_auth_socks5(void **state)
{
	expect_error(REQ "carrier: {protocol: socks5}\n"
			 "auth: {id: a, key: " KEY_HEX "}\n",
		     "t.yaml:6:7: auth: auth needs carrier.protocol: convert "
		     "(SOCKS has no Auth TLV; with socks5 use carrier.socks_user "
		     "and socks_password)");
	expect_error(REQ "carrier: {protocol: socks4}\n"
			 "auth: {id: a, key: " KEY_HEX "}\n",
		     "t.yaml:6:7: auth: auth needs carrier.protocol: convert");
	expect_error(REQ "auth: {id: a, key: " KEY_HEX "}\n"
			 "carrier: {protocol: socks4}\n",
		     "t.yaml:6:10: carrier: auth needs carrier.protocol: "
		     "convert");
	expect_error(REQ "auth: {id: a, key: " KEY_HEX "}\n"
			 "carrier: {protocol: socks5}\n",
		     "t.yaml:6:10: carrier: auth needs carrier.protocol: "
		     "convert");
	cpe_config_unref(load_ok(REQ "carrier: {protocol: convert}\n"
				     "auth: {id: a, key: " KEY_HEX "}\n"));
}

static void test_socks4(void **state)
{
	struct cpe_config *c = load_ok(REQ "carrier:\n  protocol: socks4\n"
					   "  fastopen: true\n");

	assert_int_equal(c->protocol, CPE_PROTO_SOCKS4);
	assert_int_equal(c->mode, CPE_MODE_PLAIN);
	assert_true(c->fastopen);
	cpe_config_unref(c);
}

static void test_source(void **state)
{
	struct cpe_config *c = load_ok(REQ "carrier:\n  source: true\n");

	assert_true(c->source);
	assert_int_equal(c->protocol, CPE_PROTO_CONVERT);
	cpe_config_unref(c);
	c = load_ok(REQ "carrier: {protocol: convert, source: true}\n"
			"auth: {id: a, key: " KEY_HEX "}\n");
	assert_true(c->source);
	cpe_config_unref(c);
	c = load_ok(REQ "carrier: {protocol: socks5, source: false}\n");
	assert_false(c->source);
	cpe_config_unref(c);
	expect_error(REQ "carrier:\n  protocol: socks4\n  source: true\n",
		     "t.yaml:6:3: carrier: source: true needs protocol: convert "
		     "(the client's address travels in a Convert TLV; SOCKS has "
		     "no field for it)");
	expect_error(REQ "carrier: {source: true, protocol: socks5}\n",
		     "t.yaml:5:10: carrier: source: true needs protocol: convert");
	expect_error(REQ "carrier: {source: yes}\n",
		     "t.yaml:5:19: carrier.source: expected true or false");
}

static void test_transparent(void **state)
{
	struct cpe_config *c;

	/* no concentrator needed; the protocol stays convert, unused */
	c = load_ok("lan:\n  interfaces: [lan0]\ncarrier:\n  mode: transparent\n");
	assert_int_equal(c->mode, CPE_MODE_TRANSPARENT);
	assert_int_equal(c->conc.ss_family, AF_UNSPEC);
	assert_int_equal(c->protocol, CPE_PROTO_CONVERT);
	assert_int_equal(cpe_config_paths_family(c), AF_INET);
	cpe_config_unref(c);
	/* with one: health probes use it; fastopen and flow.open apply */
	c = load_ok(REQ "carrier: {mode: transparent, fastopen: true, source: false}\n"
			"flow: {open: fast}\n");
	assert_int_equal(c->mode, CPE_MODE_TRANSPARENT);
	assert_int_equal(c->conc.ss_family, AF_INET);
	assert_true(c->fastopen);
	cpe_config_unref(c);
	expect_error(REQ "carrier: {mode: tunnel}\n",
		     "t.yaml:5:17: carrier.mode: expected one of plain, "
		     "transparent; got \"tunnel\"");
	expect_error(REQ "carrier: {mode: transparent, protocol: socks4}\n",
		     "t.yaml:5:10: carrier: protocol does not apply with mode: "
		     "transparent (no opening is sent: the concentrator takes "
		     "the destination from the connection itself); remove it");
	expect_error(REQ "carrier: {protocol: convert, mode: transparent}\n",
		     "t.yaml:5:10: carrier: protocol does not apply with mode: "
		     "transparent");
	/* source: the connection starts from the LAN client's address */
	c = load_ok(REQ "carrier: {mode: transparent, source: true}\n");
	assert_true(c->source);
	assert_true(cpe_client_source_wanted(c));
	assert_int_equal(cpe_client_source_table(c->route_table), 7109);
	cpe_config_unref(c);
	expect_error(REQ "tun: {name: \"mp+0\"}\n"
			 "carrier: {mode: transparent, source: true}\n",
		     "t.yaml: tun.name: with carrier.source in transparent mode it goes "
		     "into an nftables rule");
	expect_error(REQ "routing: {table: 244}\n"
			 "carrier: {mode: transparent, source: true}\n",
		     "t.yaml: routing.table: with carrier.source in transparent mode "
		     "table + 9");
	c = load_ok(REQ "routing: {table: 244}\ncarrier: {mode: transparent}\n");
	cpe_config_unref(c);
	expect_error(REQ "carrier: {mode: transparent, socks_user: u, "
			 "socks_password: p}\n",
		     "t.yaml:5:10: carrier: socks_user does not apply with "
		     "mode: transparent");
	expect_error(REQ "carrier: {mode: transparent, socks_password: p}\n",
		     "t.yaml:5:10: carrier: socks_password does not apply with "
		     "mode: transparent");
	expect_error(REQ "carrier: {mode: transparent}\n"
			 "auth: {id: a, key: " KEY_HEX "}\n",
		     "t.yaml:6:7: auth: auth does not apply with carrier.mode: "
		     "transparent (no opening is sent, so there is nothing to "
		     "sign); remove the auth section");
	expect_error(REQ "auth: {id: a, key: " KEY_HEX "}\n"
			 "carrier: {mode: transparent}\n",
		     "t.yaml:6:10: carrier: auth does not apply with "
		     "carrier.mode: transparent");
}

/* Without a concentrator address the paths set their own family. */
static void test_transparent_paths(void **state)
{
	struct cpe_config *c;

	c = load_ok("lan: {interfaces: [lan0]}\ncarrier: {mode: transparent}\n"
		    "paths:\n  - interface: wan1\n  - interface: wan2\n"
		    "    gateway: \"fe80::1\"\n");
	assert_int_equal(cpe_config_paths_family(c), AF_INET6);
	cpe_config_unref(c);
	expect_error("lan: {interfaces: [lan0]}\ncarrier: {mode: transparent}\n"
		     "paths:\n  - interface: wan1\n    source: 192.0.2.2\n"
		     "  - interface: wan2\n    gateway: \"fe80::1\"\n",
		     "t.yaml: paths[1].gateway is not an IPv4 address: without "
		     "a concentrator address, the paths' sources and gateways "
		     "are of one family, the first one named");
	/* with one, its family rules as before */
	c = load_ok(REQ "carrier: {mode: transparent}\n"
			"paths:\n  - interface: wan1\n");
	assert_int_equal(cpe_config_paths_family(c), AF_INET);
	cpe_config_unref(c);
}

static void test_flow_open(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "flow:\n  open: eager\n",
		     "t.yaml:6:9: flow.open: expected one of hold, fast; got "
		     "\"eager\"");
	c = load_ok(REQ "flow:\n  open: hold\n  fast_wait: 1s\n");
	assert_int_equal(c->open_mode, CPE_OPEN_HOLD);
	assert_int_equal(c->fast_wait_ms, 1000);
	cpe_config_unref(c);
}

static void test_fast_wait_range(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "flow:\n  fast_wait: 0ms\n",
		     "t.yaml:6:14: flow.fast_wait: out of range (1ms..1000ms): "
		     "\"0ms\"");
	expect_error(REQ "flow:\n  fast_wait: 1s1ms\n",
		     "t.yaml:6:14: flow.fast_wait: out of range (1ms..1000ms): "
		     "\"1s1ms\"");
	expect_error(REQ "flow:\n  fast_wait: 10\n",
		     "t.yaml:6:14: flow.fast_wait: a duration needs a unit (ms, "
		     "s, m, h): \"10\"");
	c = load_ok(REQ "flow:\n  fast_wait: 1ms\n");
	assert_int_equal(c->fast_wait_ms, 1);
	cpe_config_unref(c);
}

static void test_flow_max_and_timeouts(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "flow:\n  max: 0\n",
		     "t.yaml:6:8: flow.max: out of range (1..65000): \"0\"");
	expect_error(REQ "flow:\n  max: 65001\n",
		     "t.yaml:6:8: flow.max: out of range (1..65000): "
		     "\"65001\"");
	expect_error(REQ "flow:\n  connect_timeout: 0s\n",
		     "t.yaml:6:20: flow.connect_timeout: out of range "
		     "(1ms..4294967295ms): \"0s\"");
	expect_error(REQ "flow:\n  idle_timeout: forever\n",
		     "t.yaml:6:17: flow.idle_timeout: not a duration (e.g. "
		     "250ms, 5s, 2m, 1h): \"forever\"");
	c = load_ok(REQ "flow:\n  max: 65000\n  connect_timeout: 1m30s\n"
			"  idle_timeout: 1ms\n");
	assert_int_equal(c->max_flows, 65000);
	assert_int_equal(c->connect_timeout_ms, 90000);
	assert_int_equal(c->idle_timeout_ms, 1);
	cpe_config_unref(c);
}

static void test_ip_forward(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "sysctl:\n  ip_forward: true\n",
		     "t.yaml:6:15: sysctl.ip_forward: expected set or require: "
		     "\"true\"");
	expect_error(REQ "sysctl:\n  ip_forward:\n",
		     "t.yaml:6:14: sysctl.ip_forward: expected a scalar, got "
		     "nothing");
	c = load_ok(REQ "sysctl:\n  ip_forward: set\n");
	assert_true(c->set_ip_forward);
	cpe_config_unref(c);
}

static void test_log_level(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "log:\n  level: loud\n",
		     "t.yaml:6:10: log.level: expected error, warn, info or "
		     "debug: \"loud\"");
	c = load_ok(REQ "log:\n  level: warn\n");
	assert_int_equal(c->log_level, LOG_WARNING);
	cpe_config_unref(c);
}

static void test_wrong_shapes(void **state)
{
	expect_error("- lan\n",
		     "t.yaml:1:1: expected a mapping of keys, got a sequence");
	expect_error(REQ "flow: fast\n",
		     "t.yaml:5:7: flow: expected a mapping, got a scalar");
	expect_error(REQ "carrier: [socks5]\n",
		     "t.yaml:5:10: carrier: expected a mapping, got a sequence");
	expect_error(REQ "lan:\n",
		     "t.yaml:5:1: lan: duplicate key (first at line 1)");
}

/* Paths from line 5, after the required keys. */
static const char two_paths[] =
	REQ
	"paths:\n"
	"  - interface: wan1\n"
	"    source: 192.0.2.2\n"
	"    gateway: 192.0.2.1\n"
	"    role: active\n"
	"  - interface: lte0\n"
	"    source: null\n"
	"    gateway: ~\n"
	"    role: backup\n"
	"health:\n"
	"  interval: 2s\n"
	"  timeout: 500ms\n"
	"  failures: 5\n"
	"  fail: closed\n";

static void test_paths_two(void **state)
{
	struct cpe_config *c = load_ok(two_paths);

	assert_int_equal(c->n_paths, 2);
	assert_string_equal(c->paths[0].interface, "wan1");
	assert_addr(&c->paths[0].source, "192.0.2.2:0");
	assert_addr(&c->paths[0].gateway, "192.0.2.1:0");
	assert_int_equal(c->paths[0].role, CPE_PATH_ACTIVE);
	assert_string_equal(c->paths[1].interface, "lte0");
	assert_int_equal(c->paths[1].source.ss_family, 0);
	assert_int_equal(c->paths[1].gateway.ss_family, 0);
	assert_int_equal(c->paths[1].role, CPE_PATH_BACKUP);
	assert_int_equal(c->health_interval_ms, 2000);
	assert_int_equal(c->health_timeout_ms, 500);
	assert_int_equal(c->health_failures, 5);
	assert_int_equal(c->fail_mode, CPE_FAIL_CLOSED);
	cpe_config_unref(c);
}

/* Only interface is required; the rest defaults per path. */
static void test_paths_minimal(void **state)
{
	struct cpe_config *c;

	c = load_ok(REQ "paths:\n  - interface: ppp0\n"
			"  - {interface: wwan0}\n");
	assert_int_equal(c->n_paths, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(c->paths[i].source.ss_family, 0);
		assert_int_equal(c->paths[i].gateway.ss_family, 0);
		assert_int_equal(c->paths[i].role, CPE_PATH_ACTIVE);
	}
	cpe_config_unref(c);
	c = load_ok(REQ "paths: []\n");
	assert_int_equal(c->n_paths, 0);
	assert_null(c->paths);
	cpe_config_unref(c);
	c = load_ok(REQ "paths:\nhealth:\n");
	assert_int_equal(c->n_paths, 0);
	assert_int_equal(c->health_interval_ms, 1000);
	cpe_config_unref(c);
}

static void test_paths_shape(void **state)
{
	char yaml[1024];
	size_t len;

	expect_error(REQ "paths: wan1\n",
		     "t.yaml:5:8: paths: expected a sequence of mappings, got "
		     "a scalar");
	expect_error(REQ "paths: [wan1]\n",
		     "t.yaml:5:9: paths[0]: expected a mapping, got a scalar");
	expect_error(REQ "paths:\n  - interface: wan1\n    metric: 10\n",
		     "t.yaml:7:5: paths[0]: unknown key \"metric\"");
	expect_error(REQ "paths:\n  - role: backup\n",
		     "t.yaml:6:5: paths[0].interface: missing required key: "
		     "the WAN interface of this path");
	expect_error(REQ "paths:\n  - interface: wan1\n    role: primary\n",
		     "t.yaml:7:11: paths[0].role: expected one of active, "
		     "backup; got \"primary\"");
	len = (size_t)snprintf(yaml, sizeof(yaml), REQ "paths: [");
	for (int i = 0; i < CPE_PATHS_MAX + 1; i++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"%s{interface: w%d}", i ? ", " : "", i);
	snprintf(yaml + len, sizeof(yaml) - len, "]\n");
	expect_error(yaml, "t.yaml:5:8: paths: 9 entries, out of range "
			   "(0..8)");
}

static void test_paths_interface(void **state)
{
	expect_error(REQ "paths:\n  - interface: wan1\n  - interface: wan2\n"
			 "  - interface: wan1\n",
		     "t.yaml:8:5: paths[2]: duplicate interface, also "
		     "paths[0]");
	expect_error(REQ "paths:\n  - interface: sixteen-bytes-xx\n",
		     "t.yaml:6:16: paths[0].interface: length 16 out of range "
		     "(1..15 bytes)");
	expect_error(REQ "paths:\n  - interface: \"ppp%d\"\n",
		     "t.yaml:6:16: paths[0].interface: an interface name has "
		     "no '/', ':', '%' or white space");
	expect_error(REQ "paths:\n  - interface: \"..\"\n",
		     "t.yaml:6:16: paths[0].interface: \".\" and \"..\" are "
		     "not interface names");
	expect_error(REQ "paths:\n  - interface:\n",
		     "t.yaml:6:15: paths[0].interface: expected a string, got "
		     "nothing");
}

static void test_paths_addresses(void **state)
{
	expect_error(REQ "paths:\n  - interface: wan1\n    source: 192.0.2.2\n"
			 "  - interface: wan2\n    source: 192.0.2.2\n",
		     "t.yaml:8:5: paths[1]: duplicate source, also paths[0]");
	expect_error(REQ "paths:\n  - interface: wan1\n"
			 "    source: 192.0.2.2:80\n",
		     "t.yaml:7:13: paths[0].source: not an IP address: "
		     "\"192.0.2.2:80\"");
	expect_error(REQ "paths:\n  - interface: wan1\n"
			 "    gateway: router.lan\n",
		     "t.yaml:7:14: paths[0].gateway: not an IP address: "
		     "\"router.lan\"");
	expect_error(REQ "paths:\n  - interface: wan1\n    source: 0.0.0.0\n",
		     "t.yaml:7:13: paths[0].source: the unspecified address; "
		     "null discovers it");
	expect_error(REQ "paths:\n  - interface: wan1\n    gateway: \"::\"\n",
		     "t.yaml:7:14: paths[0].gateway: the unspecified address; "
		     "null discovers it");
}

/* Reported at whichever of concentrator and paths comes last. */
static void test_paths_family(void **state)
{
	expect_error(REQ "paths:\n  - interface: wan1\n"
			 "    source: \"2001:db8::2\"\n",
		     "t.yaml:6:5: paths[0]: source is not an IPv4 address: a "
		     "path's source and gateway are of the concentrator "
		     "address's family");
	expect_error(REQ "paths:\n  - interface: wan1\n  - interface: wan2\n"
			 "    source: 192.0.2.2\n    gateway: \"fe80::1\"\n",
		     "t.yaml:7:5: paths[1]: gateway is not an IPv4 address");
	expect_error("lan:\n  interfaces: [lan0]\n"
		     "paths:\n  - interface: wan1\n  - interface: wan2\n"
		     "    gateway: 192.0.2.1\n"
		     "concentrator:\n  address: \"[2001:db8::10]:5124\"\n",
		     "t.yaml:8:12: concentrator.address: paths[1].gateway is "
		     "not an IPv6 address: a path's source and gateway are of "
		     "the concentrator address's family");
}

static void test_paths_no_active(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "paths:\n  - interface: wan1\n    role: backup\n"
			 "  - interface: lte0\n    role: backup\n",
		     "t.yaml: paths: no path has role active: a backup path "
		     "carries data only while no active path is up");
	c = load_ok(REQ "paths:\n  - {interface: lte0, role: backup}\n"
			"  - {interface: wan1, role: active}\n");
	assert_int_equal(c->paths[0].role, CPE_PATH_BACKUP);
	assert_int_equal(c->paths[1].role, CPE_PATH_ACTIVE);
	cpe_config_unref(c);
}

/* Path i uses table routing.table + 1 + i and rule priority
 * routing.priority + 2; reported at whichever comes last. */
static void test_paths_tables(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "routing:\n  table: 250\n" "paths:\n"
			 "  - interface: a\n  - interface: b\n"
			 "  - interface: c\n",
		     "t.yaml:10:5: paths[2]: the paths' tables (routing.table "
		     "+ 1 + index) 251 to 253 collide with the kernel's "
		     "default, main and local tables 253, 254 and 255");
	expect_error(REQ "paths: [{interface: a}]\nrouting:\n  table: 252\n",
		     "t.yaml:7:10: routing.table: the paths' tables "
		     "(routing.table + 1 + index) 253 to 253 collide with the "
		     "kernel's default, main and local tables 253, 254 and "
		     "255");
	expect_error(REQ "paths: [{interface: a}, {interface: b}]\n"
			 "routing:\n  table: 4294967293\n",
		     "t.yaml:7:10: routing.table: the paths' tables "
		     "(routing.table + 1 + index) 4294967294 to 4294967295 go "
		     "beyond 4294967294");
	expect_error(REQ "routing:\n  priority: 4294967294\n"
			 "paths: [{interface: a}]\n",
		     "t.yaml:7:9: paths[0]: the paths' rules (routing.priority "
		     "+ 2) go beyond 4294967295");
	expect_error(REQ "paths: [{interface: a}]\n"
			 "routing:\n  priority: 4294967294\n",
		     "t.yaml:7:13: routing.priority: the paths' rules "
		     "(routing.priority + 2) go beyond 4294967295");
	c = load_ok(REQ "routing:\n  table: 4294967291\n"
			"  priority: 4294967293\n"
			"paths: [{interface: a}, {interface: b}, "
			"{interface: c}]\n");
	assert_int_equal(c->n_paths, 3);
	cpe_config_unref(c);
	c = load_ok(REQ "paths: [{interface: a}, {interface: b}, "
			"{interface: c}]\nrouting:\n  table: 249\n");
	cpe_config_unref(c);
	c = load_ok(REQ "routing:\n  table: 256\n  priority: 4294967294\n"
			"paths: []\n");
	cpe_config_unref(c);
}

static void test_health(void **state)
{
	struct cpe_config *c;

	expect_error(REQ "health:\n  interval: 99ms\n  timeout: 50ms\n",
		     "t.yaml:6:13: health.interval: out of range "
		     "(100ms..3600000ms): \"99ms\"");
	expect_error(REQ "health:\n  interval: 1h1ms\n",
		     "t.yaml:6:13: health.interval: out of range");
	expect_error(REQ "health:\n  timeout: 49ms\n",
		     "t.yaml:6:12: health.timeout: out of range "
		     "(50ms..60000ms): \"49ms\"");
	expect_error(REQ "health:\n  timeout: 1m1ms\n",
		     "t.yaml:6:12: health.timeout: out of range");
	expect_error(REQ "health:\n  failures: 0\n",
		     "t.yaml:6:13: health.failures: out of range (1..100): "
		     "\"0\"");
	expect_error(REQ "health:\n  failures: 101\n",
		     "t.yaml:6:13: health.failures: out of range (1..100)");
	expect_error(REQ "health:\n  fail: half\n",
		     "t.yaml:6:9: health.fail: expected one of open, closed; "
		     "got \"half\"");
	expect_error(REQ "health:\n  interval: 1s\n  timeout: 1001ms\n",
		     "t.yaml:6:3: health: timeout (1001ms) must not exceed "
		     "interval (1000ms): a probe ends before the next one "
		     "starts");
	expect_error(REQ "health:\n  interval: 500ms\n",
		     "t.yaml:6:3: health: timeout (1000ms) must not exceed "
		     "interval (500ms)");
	expect_error(REQ "health:\n  fail: open\n  fail: closed\n",
		     "t.yaml:7:3: health.fail: duplicate key (first at line "
		     "6)");
	c = load_ok(REQ "health:\n  interval: 100ms\n  timeout: 50ms\n"
			"  failures: 1\n  fail: open\n");
	assert_int_equal(c->health_interval_ms, 100);
	assert_int_equal(c->health_timeout_ms, 50);
	assert_int_equal(c->health_failures, 1);
	assert_int_equal(c->fail_mode, CPE_FAIL_OPEN);
	cpe_config_unref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_ref_unref),
		cmocka_unit_test(test_unknown_and_duplicate),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_lan_empty),
		cmocka_unit_test(test_lan_names),
		cmocka_unit_test(test_lan_duplicate_and_max),
		cmocka_unit_test(test_tun_name),
		cmocka_unit_test(test_tun_mtu_txqlen),
		cmocka_unit_test(test_tun_address_forms),
		cmocka_unit_test(test_tun_address_bad),
		cmocka_unit_test(test_bypass),
		cmocka_unit_test(test_routing_range),
		cmocka_unit_test(test_concentrator_address),
		cmocka_unit_test(test_carrier),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_auth_socks5),
		cmocka_unit_test(test_socks4),
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_transparent),
		cmocka_unit_test(test_transparent_paths),
		cmocka_unit_test(test_flow_open),
		cmocka_unit_test(test_fast_wait_range),
		cmocka_unit_test(test_flow_max_and_timeouts),
		cmocka_unit_test(test_ip_forward),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_wrong_shapes),
		cmocka_unit_test(test_paths_two),
		cmocka_unit_test(test_paths_minimal),
		cmocka_unit_test(test_paths_shape),
		cmocka_unit_test(test_paths_interface),
		cmocka_unit_test(test_paths_addresses),
		cmocka_unit_test(test_paths_family),
		cmocka_unit_test(test_paths_no_active),
		cmocka_unit_test(test_paths_tables),
		cmocka_unit_test(test_health),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
