/* lib/conc_config.c and lib/cfgparse.c: the concentrator's YAML config. */
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

#include "cfgparse.h"
#include "conc_config.h"
#include "log.h"

#define ERRLEN 512
#define CLIENTS "clients:\n  allow: [192.0.2.0/24]\n" /* lines 1-2 */

static struct conc_config *load(const char *yaml, char *err)
{
	return conc_config_load_buf(yaml, strlen(yaml), "t.yaml", err, ERRLEN);
}

static struct conc_config *load_ok(const char *yaml)
{
	char err[ERRLEN];
	struct conc_config *c = load(yaml, err);

	if (!c)
		fail_msg("refused: %s", err);
	return c;
}

/* The load fails and the message starts with want. */
static void expect_error(const char *yaml, const char *want)
{
	char err[ERRLEN] = "";
	struct conc_config *c = load(yaml, err);

	if (c) {
		conc_config_unref(c);
		fail_msg("accepted:\n%s", yaml);
	}
	if (strncmp(err, want, strlen(want)))
		fail_msg("got  '%s'\nwant '%s'", err, want);
}

static void expect_error_has(const char *yaml, const char *want)
{
	char err[ERRLEN] = "";
	struct conc_config *c = load(yaml, err);

	if (c) {
		conc_config_unref(c);
		fail_msg("accepted:\n%s", yaml);
	}
	if (!strstr(err, want))
		fail_msg("got '%s'\nwithout '%s'", err, want);
}

static void assert_prefix(const struct addr_prefix *p, const char *s)
{
	struct addr_prefix want;

	assert_true(addr_prefix_parse(s, &want));
	assert_int_equal(p->family, want.family);
	assert_int_equal(p->len, want.len);
	assert_memory_equal(p->bytes, want.bytes, sizeof(want.bytes));
}

static void assert_addr(const struct sockaddr_storage *ss, const char *s)
{
	char buf[ADDR_STRLEN];

	assert_string_equal(addr_str((const struct sockaddr *)ss, buf,
				     sizeof(buf)),
			    s);
}

static const char full[] =
	"listen: 192.0.2.10:6000\n"
	"workers: 4\n"
	"tcp_fastopen_sysctl: require\n"
	"clients:\n"
	"  allow: [192.0.2.0/24, \"2001:db8::/32\", 198.51.100.7]\n"
	"socks:\n"
	"  enabled: false\n"
	"  users:\n"
	"    - user: alice\n"
	"      password: s3cret\n"
	"    - {user: bob, password: \"\"}\n"
	"egress:\n"
	"  allow_private: true\n"
	"  allow:\n"
	"    - 10.1.0.0/16\n"
	"  deny: [203.0.113.0/24, \"2001:db8:dead::/48\"]\n"
	"  source4: 198.51.100.1\n"
	"  source6: \"2001:db8::5\"\n"
	"timeouts:\n"
	"  header: 250ms\n"
	"  connect: 3s\n"
	"  idle: 2m\n"
	"  drain: 1h\n"
	"limits:\n"
	"  flows: 1000\n"
	"  flows_per_client: 10\n"
	"log:\n"
	"  level: debug\n";

static void test_full(void **state)
{
	struct conc_config *c = load_ok(full);

	assert_int_equal(c->refs, 1);
	assert_addr(&c->listen, "192.0.2.10:6000");
	assert_int_equal(c->listen_len, sizeof(struct sockaddr_in));
	assert_int_equal(c->workers, 4);
	assert_int_equal(c->tfo, CONC_TFO_REQUIRE);
	assert_int_equal(c->clients_allow.n, 3);
	assert_prefix(&c->clients_allow.v[0], "192.0.2.0/24");
	assert_prefix(&c->clients_allow.v[1], "2001:db8::/32");
	assert_prefix(&c->clients_allow.v[2], "198.51.100.7/32");
	assert_false(c->socks_enabled);
	assert_int_equal(c->n_socks_users, 2);
	assert_string_equal(c->socks_users[0].name, "alice");
	assert_string_equal(c->socks_users[0].password, "s3cret");
	assert_string_equal(c->socks_users[1].name, "bob");
	assert_string_equal(c->socks_users[1].password, "");
	assert_true(c->egress_allow_private);
	assert_int_equal(c->egress_allow.n, 1);
	assert_prefix(&c->egress_allow.v[0], "10.1.0.0/16");
	assert_int_equal(c->egress_deny.n, 2);
	assert_prefix(&c->egress_deny.v[0], "203.0.113.0/24");
	assert_prefix(&c->egress_deny.v[1], "2001:db8:dead::/48");
	assert_addr(&c->egress_source4, "198.51.100.1:0");
	assert_addr(&c->egress_source6, "[2001:db8::5]:0");
	assert_int_equal(c->header_timeout_ms, 250);
	assert_int_equal(c->connect_timeout_ms, 3000);
	assert_int_equal(c->idle_timeout_ms, 120000);
	assert_int_equal(c->drain_timeout_ms, 3600000);
	assert_int_equal(c->max_flows, 1000);
	assert_int_equal(c->max_flows_per_client, 10);
	assert_int_equal(c->log_level, LOG_DEBUG);
	conc_config_unref(c);
}

static void test_defaults(void **state)
{
	struct conc_config *c = load_ok(CLIENTS);
	const struct sockaddr_in6 *l6 = (struct sockaddr_in6 *)&c->listen;

	assert_int_equal(l6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr));
	assert_int_equal(ntohs(l6->sin6_port), CONC_DEFAULT_PORT);
	assert_int_equal(c->listen_len, sizeof(struct sockaddr_in6));
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->tfo, CONC_TFO_SET);
	assert_int_equal(c->clients_allow.n, 1);
	assert_true(c->socks_enabled);
	assert_int_equal(c->n_socks_users, 0);
	assert_null(c->socks_users);
	assert_int_equal(c->egress_source4.ss_family, AF_UNSPEC);
	assert_int_equal(c->egress_source6.ss_family, AF_UNSPEC);
	assert_false(c->egress_allow_private);
	assert_int_equal(c->egress_allow.n, 0);
	assert_int_equal(c->egress_deny.n, 0);
	assert_int_equal(c->header_timeout_ms, 5000);
	assert_int_equal(c->connect_timeout_ms, 10000);
	assert_int_equal(c->idle_timeout_ms, 300000);
	assert_int_equal(c->drain_timeout_ms, 10000);
	assert_int_equal(c->max_flows, 65536);
	assert_int_equal(c->max_flows_per_client, 4096);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_false(c->auth.required);
	assert_int_equal(c->auth.window_ms, 30000);
	assert_int_equal(c->auth.replay_cache, 65536);
	assert_int_equal(c->auth.n_keys, 0);
	assert_null(c->auth.keys);
	conc_config_unref(c);
}

/* Unit tests run from the repository root. */
static void test_example_file(void **state)
{
	char err[ERRLEN];
	struct conc_config *c =
		conc_config_load_file("configs/concentrator.yaml", err, ERRLEN);

	if (!c)
		fail_msg("%s", err);
	assert_addr(&c->listen, "[::]:5124");
	assert_int_equal(c->clients_allow.n, 2);
	assert_prefix(&c->clients_allow.v[0], "192.0.2.0/24");
	assert_prefix(&c->clients_allow.v[1], "2001:db8::/32");
	assert_int_equal(c->egress_source4.ss_family, AF_UNSPEC);
	assert_int_equal(c->idle_timeout_ms, 300000);
	conc_config_unref(c);
}

static void test_load_file_errors(void **state)
{
	char err[ERRLEN];

	assert_null(conc_config_load_file("/nonexistent/c.yaml", err, ERRLEN));
	assert_string_equal(err,
			    "/nonexistent/c.yaml: No such file or directory");
	assert_null(conc_config_load_file("configs", err, ERRLEN));
	assert_string_equal(err, "configs: Is a directory");
	assert_null(conc_config_load_file("/dev/zero", err, ERRLEN));
	assert_string_equal(err, "/dev/zero: File too large");
}

static void test_ref_unref(void **state)
{
	struct conc_config *c = load_ok(CLIENTS);

	assert_ptr_equal(conc_config_ref(c), c);
	assert_int_equal(c->refs, 2);
	conc_config_unref(c);
	assert_int_equal(c->refs, 1);
	conc_config_unref(c); /* frees: ASan would see a leak otherwise */
	conc_config_unref(NULL);
	assert_null(conc_config_ref(NULL));
}

static void test_unknown_key_top(void **state)
{
	expect_error(CLIENTS "frob: 1\n", "t.yaml:3:1: unknown key \"frob\"");
}

static void test_unknown_key_nested(void **state)
{
	expect_error(CLIENTS
		     "timeouts:\n"
		     "  header: 1s\n"
		     "  connect: 2s\n"
		     "egress:\n"
		     "  alow: [10.0.0.0/8]\n",
		     "t.yaml:7:3: egress: unknown key \"alow\"");
}

static void test_duplicate_key(void **state)
{
	expect_error("workers: 1\n" CLIENTS "workers: 2\n",
		     "t.yaml:4:1: workers: duplicate key (first at line 1)");
	expect_error(CLIENTS "log:\n  level: info\n  level: debug\n",
		     "t.yaml:5:3: log.level: duplicate key (first at line 4)");
}

static void test_missing_clients_allow(void **state)
{
	expect_error("clients:\n  deny: []\n",
		     "t.yaml:2:3: clients: unknown key \"deny\"");
	expect_error("workers: 2\nclients: {}\n",
		     "t.yaml:2:10: clients.allow: missing required key: "
		     "list your CPEs' source prefixes in clients.allow; an "
		     "open converter is an open proxy");
	expect_error("workers: 2\n",
		     "t.yaml:1:1: clients: missing required key: list your "
		     "CPEs' source prefixes in clients.allow; an open "
		     "converter is an open proxy");
}

static void test_empty_clients_allow(void **state)
{
	expect_error("clients:\n  allow: []\n",
		     "t.yaml:2:10: clients.allow: must not be empty: list "
		     "your CPEs' source prefixes in clients.allow; an open "
		     "converter is an open proxy");
	expect_error_has("clients:\n  allow:\n",
			 "open converter is an open proxy");
}

static void test_wrong_type(void **state)
{
	expect_error(CLIENTS "socks: yes\n",
		     "t.yaml:3:8: socks: expected a mapping, got a scalar");
	expect_error(CLIENTS "workers: [1]\n",
		     "t.yaml:3:10: workers: expected an unsigned integer, got "
		     "a sequence");
	expect_error(CLIENTS "egress:\n  allow: 10.0.0.0/8\n",
		     "t.yaml:4:10: egress.allow: expected a sequence of IP "
		     "prefixes, got a scalar");
	expect_error("clients:\n  allow: [[192.0.2.0/24]]\n",
		     "t.yaml:2:11: clients.allow[0]: expected an IP prefix, "
		     "got a sequence");
}

static void test_null_value(void **state)
{
	expect_error(CLIENTS "workers:\n",
		     "t.yaml:3:9: workers: expected an unsigned integer, got "
		     "nothing");
	expect_error(CLIENTS "log:\n  level: ~\n",
		     "t.yaml:4:10: log.level: expected a scalar, got nothing");
}

static void test_bool_bad(void **state)
{
	expect_error(CLIENTS "socks:\n  enabled: yes\n",
		     "t.yaml:4:12: socks.enabled: expected true or false, got "
		     "\"yes\"");
}

static void test_uint_bad(void **state)
{
	expect_error(CLIENTS "workers: -1\n",
		     "t.yaml:3:10: workers: expected an unsigned integer, got "
		     "\"-1\"");
	expect_error(CLIENTS "workers: 0x10\n",
		     "t.yaml:3:10: workers: expected an unsigned integer");
	expect_error(CLIENTS "workers: \" 4\"\n",
		     "t.yaml:3:10: workers: expected an unsigned integer");
}

static void test_uint_range(void **state)
{
	struct conc_config *c;

	expect_error(CLIENTS "workers: 257\n",
		     "t.yaml:3:10: workers: out of range (0..256): \"257\"");
	expect_error(CLIENTS "limits:\n  flows: 0\n",
		     "t.yaml:4:10: limits.flows: out of range (1..4294967295): "
		     "\"0\"");
	expect_error(CLIENTS "limits:\n  flows_per_client: "
			     "184467440737095516160\n",
		     "t.yaml:4:21: limits.flows_per_client: out of range");
	c = load_ok(CLIENTS "workers: 256\nlimits:\n  flows: 4294967295\n");
	assert_int_equal(c->workers, 256);
	assert_int_equal(c->max_flows, UINT32_MAX);
	conc_config_unref(c);
}

static void test_duration_forms(void **state)
{
	struct conc_config *c = load_ok(CLIENTS "timeouts:\n"
						"  header: 1m30s\n"
						"  connect: \"1ms\"\n"
						"  idle: 1h1m1s1ms\n"
						"  drain: 1193h\n");

	assert_int_equal(c->header_timeout_ms, 90000);
	assert_int_equal(c->connect_timeout_ms, 1);
	assert_int_equal(c->idle_timeout_ms, 3661001);
	assert_int_equal(c->drain_timeout_ms, 1193u * 3600 * 1000);
	conc_config_unref(c);
}

static void test_duration_needs_unit(void **state)
{
	expect_error(CLIENTS "timeouts:\n  idle: 300\n",
		     "t.yaml:4:9: timeouts.idle: a duration needs a unit (ms, "
		     "s, m, h): \"300\"");
}

static void test_duration_bad(void **state)
{
	static const char *const bad[] = { "5x", "1.5s", "s", "5 s", "-5s",
					   "5sm", "5ms5", "1d" };
	char yaml[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 CLIENTS "timeouts:\n  drain: \"%s\"\n", bad[i]);
		expect_error(yaml, "t.yaml:4:10: timeouts.drain: not a "
				   "duration (e.g. 250ms, 5s, 2m, 1h): \"");
	}
}

static void test_duration_range(void **state)
{
	expect_error(CLIENTS "timeouts:\n  header: 0s\n",
		     "t.yaml:4:11: timeouts.header: out of range "
		     "(1ms..4294967295ms): \"0s\"");
	expect_error(CLIENTS "timeouts:\n  connect: 1194h\n",
		     "t.yaml:4:12: timeouts.connect: out of range");
	expect_error(CLIENTS "timeouts:\n  connect: 99999999999999999999h\n",
		     "t.yaml:4:12: timeouts.connect: out of range");
}

static void test_enum_bad(void **state)
{
	expect_error(CLIENTS "tcp_fastopen_sysctl: maybe\n",
		     "t.yaml:3:22: tcp_fastopen_sysctl: expected one of set, "
		     "require; got \"maybe\"");
}

static void test_log_level_bad(void **state)
{
	expect_error(CLIENTS "log:\n  level: loud\n",
		     "t.yaml:4:10: log.level: expected error, warn, info or "
		     "debug: \"loud\"");
}

static void test_listen_forms(void **state)
{
	struct conc_config *c = load_ok(CLIENTS "listen: 192.0.2.1\n");

	assert_addr(&c->listen, "192.0.2.1:5124");
	conc_config_unref(c);
	c = load_ok(CLIENTS "listen: \"*:6000\"\n");
	assert_addr(&c->listen, "[::]:6000");
	conc_config_unref(c);
	c = load_ok(CLIENTS "listen: \"[2001:db8::1]:443\"\n");
	assert_addr(&c->listen, "[2001:db8::1]:443");
	assert_int_equal(c->listen_len, sizeof(struct sockaddr_in6));
	conc_config_unref(c);
}

static void test_listen_bad(void **state)
{
	expect_error(CLIENTS "listen: 192.0.2.1:65536\n",
		     "t.yaml:3:9: listen: not an address (e.g. 192.0.2.1:5124, "
		     "[2001:db8::1]:5124, or without the port): "
		     "\"192.0.2.1:65536\"");
	expect_error(CLIENTS "listen: localhost:80\n",
		     "t.yaml:3:9: listen: not an address");
	expect_error(CLIENTS "listen: \"[::1]:0\"\n",
		     "t.yaml:3:9: listen: port 0 is not a listening port");
}

static void test_prefix_bad(void **state)
{
	expect_error("clients:\n"
		     "  allow:\n"
		     "    - 192.0.2.0/24\n"
		     "    - 2001:db8::/32\n"
		     "    - 10.0.0.1/33\n",
		     "t.yaml:5:7: clients.allow[2]: not an IP prefix: "
		     "\"10.0.0.1/33\"");
	expect_error(CLIENTS "egress:\n  allow: [10.0.0.0/8, 10.0.0.1/33]\n",
		     "t.yaml:4:23: egress.allow[1]: not an IP prefix: "
		     "\"10.0.0.1/33\"");
}

static void test_prefix_host_bits(void **state)
{
	expect_error(CLIENTS "egress:\n  deny:\n    - 10.0.0.1/24\n",
		     "t.yaml:5:7: egress.deny[0]: host bits set in IP prefix: "
		     "\"10.0.0.1/24\"");
}

static void test_source_family(void **state)
{
	struct conc_config *c;

	expect_error(CLIENTS "egress:\n  source4: \"2001:db8::1\"\n",
		     "t.yaml:4:12: egress.source4: not an IPv4 address: "
		     "\"2001:db8::1\"");
	expect_error(CLIENTS "egress:\n  source6: 192.0.2.1\n",
		     "t.yaml:4:12: egress.source6: not an IPv6 address: "
		     "\"192.0.2.1\"");
	expect_error(CLIENTS "egress:\n  source4: 192.0.2.1:80\n",
		     "t.yaml:4:12: egress.source4: not an IP address: "
		     "\"192.0.2.1:80\"");
	c = load_ok(CLIENTS "egress:\n  source4: null\n  source6: \n");
	assert_int_equal(c->egress_source4.ss_family, AF_UNSPEC);
	assert_int_equal(c->egress_source6.ss_family, AF_UNSPEC);
	conc_config_unref(c);
}

static void test_socks_user_lengths(void **state)
{
	char yaml[1024], name[300];

	expect_error(CLIENTS "socks:\n  users:\n"
			     "    - {user: \"\", password: x}\n",
		     "t.yaml:5:14: socks.users[0].user: length 0 out of range "
		     "(1..255 bytes)");
	memset(name, 'a', 256);
	name[256] = '\0';
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "socks:\n  users:\n"
			 "    - user: u\n      password: %s\n",
		 name);
	expect_error(yaml, "t.yaml:6:17: socks.users[0].password: length 256 "
			   "out of range (0..255 bytes)");
	name[255] = '\0';
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "socks:\n  users:\n"
			 "    - user: %s\n      password: %s\n",
		 name, name);
	conc_config_unref(load_ok(yaml));
}

static void test_socks_user_duplicate(void **state)
{
	expect_error(CLIENTS "socks:\n"
			     "  users:\n"
			     "    - {user: alice, password: a}\n"
			     "    - {user: bob, password: b}\n"
			     "    - {user: alice, password: c}\n",
		     "t.yaml:7:7: socks.users[2]: duplicate user name, also "
		     "socks.users[0]");
}

static void test_socks_user_shape(void **state)
{
	expect_error(CLIENTS "socks:\n  users:\n    - user: alice\n",
		     "t.yaml:5:7: socks.users[0].password: missing required "
		     "key");
	expect_error(CLIENTS "socks:\n  users: alice\n",
		     "t.yaml:4:10: socks.users: expected a sequence of "
		     "mappings, got a scalar");
	expect_error(CLIENTS "socks:\n  users: [alice]\n",
		     "t.yaml:4:11: socks.users[0]: expected a mapping, got a "
		     "scalar");
	expect_error(CLIENTS "socks:\n  users:\n    - user: a\n      pass: b\n",
		     "t.yaml:6:7: socks.users[0]: unknown key \"pass\"");
}

/* ---- auth ---- */

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B64 "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8="  /* a0..bf */
#define NO_SOCKS "socks: {enabled: false}\n"

/* A key file with the given text and mode; its path in path. */
static void key_file(char *path, const char *text, mode_t mode)
{
	int fd;

	strcpy(path, "/tmp/mptun-test-key.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_auth_full(void **state)
{
	char path[64], yaml[1024];
	struct conc_config *c;

	key_file(path, "  " KEY_B64 "\n", 0600);
	snprintf(yaml, sizeof(yaml), CLIENTS NO_SOCKS
		 "auth:\n"
		 "  required: true\n"
		 "  window: 1m\n"
		 "  replay_cache: 1000\n"
		 "  keys:\n"
		 "    - {id: cpe-0002, key_file: \"%s\"}\n"
		 "    - id: cpe-0001\n"
		 "      key: \"" KEY_HEX "\"\n"
		 "    - {id: a, key: " KEY_B64 "}\n",
		 path);
	c = load_ok(yaml);
	unlink(path);
	assert_true(c->auth.required);
	assert_int_equal(c->auth.window_ms, 60000);
	assert_int_equal(c->auth.replay_cache, 1000);
	assert_int_equal(c->auth.n_keys, 3);
	/* sorted by id for the lookup */
	assert_string_equal(c->auth.keys[0].id, "a");
	assert_string_equal(c->auth.keys[1].id, "cpe-0001");
	assert_string_equal(c->auth.keys[2].id, "cpe-0002");
	for (int i = 0; i < AUTH_KEY_LEN; i++) {
		assert_int_equal(c->auth.keys[0].key.bytes[i], 0xa0 + i);
		assert_int_equal(c->auth.keys[1].key.bytes[i], i);
		assert_int_equal(c->auth.keys[2].key.bytes[i], 0xa0 + i);
	}
	assert_int_equal(c->auth.keys[1].key.from, AUTH_FROM_TEXT);
	assert_int_equal(c->auth.keys[2].key.from, AUTH_FROM_FILE);
	conc_config_unref(c);
	/* not required: keys optional; SOCKS may stay open */
	c = load_ok(CLIENTS "auth: {required: false}\n");
	assert_int_equal(c->auth.n_keys, 0);
	conc_config_unref(c);
	c = load_ok(CLIENTS "auth:\n");
	conc_config_unref(c);
}

/* The text of a refused key never appears in the message. */
static void expect_key_error(const char *key, const char *want)
{
	char yaml[512], err[ERRLEN] = "";
	struct conc_config *c;

	snprintf(yaml, sizeof(yaml), CLIENTS "auth:\n  keys:\n"
		 "    - {id: cpe-0001, key: \"%s\"}\n", key);
	c = load(yaml, err);
	if (c) {
		conc_config_unref(c);
		fail_msg("accepted key '%s'", key);
	}
	if (!strstr(err, want))
		fail_msg("got '%s'\nwithout '%s'", err, want);
	if (strlen(key) > 8 && strstr(err, key))
		fail_msg("the key is in the message: %s", err);
}

static void test_auth_key_bad(void **state)
{
	expect_key_error(KEY_HEX "0", "t.yaml:5:27: auth.keys[0].key: expected "
			 "a 32-byte key as 64 hex digits or 44 base64 "
			 "characters (openssl rand -hex 32), got 65 characters");
	expect_key_error("0102", "got 4 characters");
	expect_key_error("zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			 "64 hex digits");
	expect_key_error("oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8", "got 43");
	expect_key_error("oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr!=", "base64");
	expect_key_error("0000000000000000000000000000000000000000000000000000000000000000",
			 "a key of zeros is no secret");
	expect_key_error("", "got 0 characters");
	expect_error_has(CLIENTS "auth: {keys: [{id: a, key: [1]}]}\n",
			 "auth.keys[0].key: expected a scalar");
}

static void test_auth_key_source(void **state)
{
	expect_error(CLIENTS "auth:\n  keys:\n    - {id: cpe-0001}\n",
		     "t.yaml:5:7: auth.keys[0]: one of key or key_file is "
		     "required");
	expect_error(CLIENTS "auth:\n  keys:\n"
			     "    - {id: a, key: " KEY_HEX ", key_file: /x}\n",
		     "t.yaml:5:96: auth.keys[0].key_file: key and key_file "
		     "exclude each other");
	expect_error_has(CLIENTS "auth:\n  keys:\n"
				 "    - {key_file: /x, key: " KEY_HEX ", id: a}\n",
			 "auth.keys[0].key_file: /x: No such file");
	expect_error(CLIENTS "auth:\n  keys:\n    - {key: " KEY_HEX "}\n",
		     "t.yaml:5:7: auth.keys[0].id: missing required key");
}

static void test_auth_key_file_bad(void **state)
{
	char path[64], yaml[512], want[128];

	expect_error_has(CLIENTS "auth: {keys: [{id: a, key_file: "
				 "/nonexistent/k}]}\n",
			 "auth.keys[0].key_file: /nonexistent/k: No such file "
			 "or directory");
	expect_error_has(CLIENTS "auth: {keys: [{id: a, key_file: /tmp}]}\n",
			 "/tmp: not a regular file");
	expect_error_has(CLIENTS "auth: {keys: [{id: a, key_file: \"\"}]}\n",
			 "auth.keys[0].key_file: an empty path");
	key_file(path, KEY_HEX "\n", 0644);
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "auth: {keys: [{id: a, key_file: %s}]}\n", path);
	snprintf(want, sizeof(want), "%s: readable or writable by every "
		 "user: chmod o-rw", path);
	expect_error_has(yaml, want);
	unlink(path);
	key_file(path, "not a key\n", 0600);
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "auth: {keys: [{id: a, key_file: %s}]}\n", path);
	expect_error_has(yaml, "got 9 characters");
	unlink(path);
	key_file(path, KEY_HEX KEY_HEX KEY_HEX KEY_HEX "\n", 0600);
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "auth: {keys: [{id: a, key_file: %s}]}\n", path);
	expect_error_has(yaml, "more than 256 bytes");
	unlink(path);
}

static void test_auth_ids(void **state)
{
	char yaml[512], id[80];

	expect_error(CLIENTS "auth:\n  keys:\n"
			     "    - {id: cpe-0001, key: " KEY_HEX "}\n"
			     "    - {id: cpe-0002, key: " KEY_HEX "}\n"
			     "    - {id: cpe-0001, key: " KEY_B64 "}\n",
		     "t.yaml:7:7: auth.keys[2]: duplicate id, also "
		     "auth.keys[0]");
	expect_error_has(CLIENTS "auth: {keys: [{id: \"cpe 1\", key: "
				 KEY_HEX "}]}\n",
			 "auth.keys[0].id: an id is printable ASCII without "
			 "spaces");
	expect_error_has(CLIENTS "auth: {keys: [{id: \"\", key: " KEY_HEX "}]}\n",
			 "auth.keys[0].id: length 0 out of range (1..64 bytes)");
	memset(id, 'x', 65);
	id[65] = '\0';
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "auth: {keys: [{id: %s, key: " KEY_HEX "}]}\n", id);
	expect_error_has(yaml, "length 65 out of range (1..64 bytes)");
	id[64] = '\0';
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "auth: {keys: [{id: %s, key: " KEY_HEX "}]}\n", id);
	conc_config_unref(load_ok(yaml));
}

static void test_auth_policy_errors(void **state)
{
	expect_error(CLIENTS NO_SOCKS "auth: {required: true}\n",
		     "t.yaml:4:7: auth: required needs at least one entry in "
		     "keys");
	expect_error(CLIENTS NO_SOCKS "auth: {required: true, keys: []}\n",
		     "t.yaml:4:7: auth: required needs at least one entry in "
		     "keys");
	expect_error_has(CLIENTS "auth: {window: 1500ms}\n",
			 "auth.window: whole seconds");
	expect_error_has(CLIENTS "auth: {window: 0s}\n",
			 "auth.window: out of range");
	expect_error_has(CLIENTS "auth: {window: 2h}\n",
			 "auth.window: out of range");
	expect_error_has(CLIENTS "auth: {replay_cache: 0}\n",
			 "auth.replay_cache: out of range");
	expect_error_has(CLIENTS "auth: {replay_cache: 4194305}\n",
			 "auth.replay_cache: out of range");
	expect_error_has(CLIENTS "auth: {require: true}\n",
			 "auth: unknown key \"require\"");
}

/* SOCKS has no Auth TLV: with auth.required it must be off, or ask for a
 * password; the order of the sections does not matter. */
static void test_auth_required_socks(void **state)
{
	const char *auth = "auth: {required: true, keys: [{id: a, key: "
			   KEY_HEX "}]}\n";
	char yaml[512];

	snprintf(yaml, sizeof(yaml), CLIENTS "%s", auth);
	expect_error(yaml, "t.yaml: auth.required: SOCKS has no Auth TLV; set "
			   "socks.enabled: false, or socks.users to make SOCKS5 "
			   "clients give a username and password");
	snprintf(yaml, sizeof(yaml), CLIENTS "%s" NO_SOCKS, auth);
	conc_config_unref(load_ok(yaml));
	snprintf(yaml, sizeof(yaml), CLIENTS NO_SOCKS "%s", auth);
	conc_config_unref(load_ok(yaml));
	snprintf(yaml, sizeof(yaml),
		 CLIENTS "%ssocks: {users: [{user: u, password: p}]}\n", auth);
	conc_config_unref(load_ok(yaml));
}

static void test_empty(void **state)
{
	expect_error("", "t.yaml: empty configuration");
	expect_error("# only a comment\n\n", "t.yaml: empty configuration");
	expect_error("---\n", "t.yaml: empty configuration");
	expect_error("~\n", "t.yaml: empty configuration");
	assert_null(conc_config_load_buf(NULL, 0, NULL, NULL, 0));
}

static void test_not_a_mapping(void **state)
{
	expect_error("- clients\n",
		     "t.yaml:1:1: expected a mapping of keys, got a sequence");
	expect_error("hello\n",
		     "t.yaml:1:1: expected a mapping of keys, got a scalar");
}

static void test_syntax_error(void **state)
{
	expect_error(CLIENTS "workers: 1\n  bad: indent\n",
		     "t.yaml:4:6: syntax error: mapping values are not allowed "
		     "in this context");
	expect_error(CLIENTS "listen: \"[::]:5124\n",
		     "t.yaml:4:1: syntax error: found unexpected end of stream "
		     "(while scanning a quoted scalar at line 3)");
}

static void test_invalid_utf8(void **state)
{
	expect_error(CLIENTS "log:\n  level: \xff\n",
		     "t.yaml:4:10: invalid input: invalid leading UTF-8 octet");
	expect_error(CLIENTS "log:\n  level: \"\xc3\xa9\xff\"\n",
		     "t.yaml:4:12: invalid input: invalid leading UTF-8 octet");
}

static void test_nul_byte(void **state)
{
	expect_error(CLIENTS "socks:\n"
			     "  users: [{user: \"a\\0b\", password: x}]\n",
		     "t.yaml:4:18: socks.users[0].user: contains a NUL byte");
}

static void test_multiple_documents(void **state)
{
	expect_error(CLIENTS "---\n" CLIENTS,
		     "t.yaml:3:1: only one YAML document is allowed");
}

static void test_alias(void **state)
{
	expect_error("clients:\n  allow: &p [192.0.2.0/24]\n"
		     "egress:\n  allow: *p\n",
		     "t.yaml:4:10: aliases are not supported");
}

static void test_nesting_limit(void **state)
{
	char yaml[256];

	snprintf(yaml, sizeof(yaml), CLIENTS "egress:\n  allow: %.*s\n", 40,
		 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
	expect_error(yaml, "t.yaml:4:24: nested deeper than 16 levels");
}

static void test_many_prefixes(void **state)
{
	size_t n = 20000, len = 0, cap = 32 + n * 24;
	char *yaml = malloc(cap);
	struct conc_config *c;

	assert_non_null(yaml);
	len += (size_t)snprintf(yaml, cap, "clients:\n  allow:\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(yaml + len, cap - len,
					"    - 10.%zu.%zu.0/24\n", i / 256,
					i % 256);
	c = load_ok(yaml);
	assert_int_equal(c->clients_allow.n, n);
	assert_prefix(&c->clients_allow.v[n - 1], "10.78.31.0/24");
	conc_config_unref(c);
	free(yaml);
}

static void test_message_quoting(void **state)
{
	char yaml[512], want[256];

	expect_error(CLIENTS "log:\n  level: \"a\\\"b\\tc\"\n",
		     "t.yaml:4:10: log.level: expected error, warn, info or "
		     "debug: \"a\\\"b\\x09c\"");
	snprintf(yaml, sizeof(yaml), CLIENTS "log:\n  level: %0100d\n", 0);
	snprintf(want, sizeof(want),
		 "t.yaml:4:10: log.level: expected error, warn, info or debug: "
		 "\"%064d...\"",
		 0);
	expect_error(yaml, want);
}

/* The walker on its own: a custom type, CFG_MAP_SEQ, cfg_free of a
 * half-filled struct (ASan reports a leak if it misses something). */
struct demo_item {
	char *name;
	uint32_t weight;
};

struct demo {
	char *title;
	uint32_t ports[4];
	size_t n_ports;
	struct demo_item *items;
	size_t n_items;
};

static bool parse_ports(struct cfg_walk *w, yaml_node_t *node, void *field)
{
	struct demo *d = (struct demo *)((char *)field -
					 offsetof(struct demo, ports));
	yaml_node_item_t *it;

	if (node->type != YAML_SEQUENCE_NODE)
		return cfg_error(w, node, "expected a list of ports");
	for (it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(cfg_doc(w), *it);
		const char *s = cfg_scalar(w, n);
		if (!s)
			return false;
		if (d->n_ports == 4 || (strcmp(s, "80") && strcmp(s, "443")))
			return cfg_error(w, n, "not a web port: %s", s);
		d->ports[d->n_ports++] = (uint32_t)atoi(s);
	}
	return true;
}

static const struct cfg_key demo_item_keys[] = {
	{ .name = "name", .type = CFG_STRING,
	  .offset = offsetof(struct demo_item, name), .required = true },
	{ .name = "weight", .type = CFG_UINT,
	  .offset = offsetof(struct demo_item, weight), .max = 10 },
	{ 0 },
};

static const struct cfg_key demo_keys[] = {
	{ .name = "title", .type = CFG_STRING,
	  .offset = offsetof(struct demo, title) },
	{ .name = "ports", .type = CFG_CUSTOM,
	  .offset = offsetof(struct demo, ports), .custom = parse_ports },
	{ .name = "items", .type = CFG_MAP_SEQ,
	  .offset = offsetof(struct demo, items),
	  .count_offset = offsetof(struct demo, n_items),
	  .elem_size = sizeof(struct demo_item), .map = demo_item_keys,
	  .max = 2 },
	{ 0 },
};

static bool demo_parse(struct demo *d, const char *yaml, char *err)
{
	memset(d, 0, sizeof(*d));
	return cfg_parse_buf(demo_keys, d, yaml, strlen(yaml), "d.yaml", err,
			     ERRLEN);
}

static void test_walker_custom(void **state)
{
	char err[ERRLEN];
	struct demo d;

	assert_true(demo_parse(&d, "title: t\nports: [80, 443]\n"
				   "items:\n  - {name: a, weight: 3}\n"
				   "  - name: b\n", err));
	assert_string_equal(d.title, "t");
	assert_int_equal(d.n_ports, 2);
	assert_int_equal(d.ports[1], 443);
	assert_int_equal(d.n_items, 2);
	assert_string_equal(d.items[1].name, "b");
	assert_int_equal(d.items[0].weight, 3);
	cfg_free(demo_keys, &d);
	assert_null(d.title);
	assert_null(d.items);
	assert_false(demo_parse(&d, "title: t\nports: [80, 22]\n", err));
	assert_string_equal(err, "d.yaml:2:13: ports: not a web port: 22");
	cfg_free(demo_keys, &d);
}

static void test_walker_half_built(void **state)
{
	char err[ERRLEN];
	struct demo d;

	assert_false(demo_parse(&d, "title: t\n"
				    "items:\n"
				    "  - {name: a}\n"
				    "  - {name: b, weight: 11}\n",
				err));
	assert_string_equal(err, "d.yaml:4:23: items[1].weight: out of range "
				 "(0..10): \"11\"");
	assert_int_equal(d.n_items, 2);
	cfg_free(demo_keys, &d);
	assert_false(demo_parse(&d, "items: [{name: a}, {name: b}, "
				    "{name: c}]\n",
				err));
	assert_string_equal(err, "d.yaml:1:8: items: 3 entries, out of range "
				 "(0..2)");
	cfg_free(demo_keys, &d);
	assert_false(demo_parse(&d, "title: a\ntitle: b\n", err));
	cfg_free(demo_keys, &d);
	cfg_free(demo_keys, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_ref_unref),
		cmocka_unit_test(test_unknown_key_top),
		cmocka_unit_test(test_unknown_key_nested),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_missing_clients_allow),
		cmocka_unit_test(test_empty_clients_allow),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_null_value),
		cmocka_unit_test(test_bool_bad),
		cmocka_unit_test(test_uint_bad),
		cmocka_unit_test(test_uint_range),
		cmocka_unit_test(test_duration_forms),
		cmocka_unit_test(test_duration_needs_unit),
		cmocka_unit_test(test_duration_bad),
		cmocka_unit_test(test_duration_range),
		cmocka_unit_test(test_enum_bad),
		cmocka_unit_test(test_log_level_bad),
		cmocka_unit_test(test_listen_forms),
		cmocka_unit_test(test_listen_bad),
		cmocka_unit_test(test_prefix_bad),
		cmocka_unit_test(test_prefix_host_bits),
		cmocka_unit_test(test_source_family),
		cmocka_unit_test(test_socks_user_lengths),
		cmocka_unit_test(test_socks_user_duplicate),
		cmocka_unit_test(test_socks_user_shape),
		cmocka_unit_test(test_auth_full),
		cmocka_unit_test(test_auth_key_bad),
		cmocka_unit_test(test_auth_key_source),
		cmocka_unit_test(test_auth_key_file_bad),
		cmocka_unit_test(test_auth_ids),
		cmocka_unit_test(test_auth_policy_errors),
		cmocka_unit_test(test_auth_required_socks),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_not_a_mapping),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_multiple_documents),
		cmocka_unit_test(test_alias),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_many_prefixes),
		cmocka_unit_test(test_message_quoting),
		cmocka_unit_test(test_walker_custom),
		cmocka_unit_test(test_walker_half_built),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
