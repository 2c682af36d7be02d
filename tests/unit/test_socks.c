#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socks.h"

/* Every parser behind one signature, so the truncation, pipelining and
 * "out untouched on failure" checks are written once. */
struct parser {
	enum socks_status (*fn)(const uint8_t *buf, size_t len, void *out,
				size_t *consumed, const char **reason);
	size_t out_size;
};

static uint8_t last_reply_code;

static enum socks_status p_greeting(const uint8_t *b, size_t l, void *o,
				    size_t *c, const char **r)
{
	return socks5_parse_greeting(b, l, o, c, r);
}

static enum socks_status p_userpass(const uint8_t *b, size_t l, void *o,
				    size_t *c, const char **r)
{
	return socks5_parse_userpass(b, l, o, c, r);
}

static enum socks_status p_req5(const uint8_t *b, size_t l, void *o, size_t *c,
				const char **r)
{
	last_reply_code = 0xee;
	return socks5_parse_request(b, l, o, c, r, &last_reply_code);
}

static enum socks_status p_req4(const uint8_t *b, size_t l, void *o, size_t *c,
				const char **r)
{
	return socks4_parse_request(b, l, o, c, r);
}

static const struct parser GREETING = {p_greeting,
				       sizeof(struct socks5_greeting)};
static const struct parser USERPASS = {p_userpass,
				       sizeof(struct socks5_userpass)};
static const struct parser REQ5 = {p_req5, sizeof(struct socks_request)};
static const struct parser REQ4 = {p_req4, sizeof(struct socks_request)};

#define SENTINEL 0xa5

static bool all_sentinel(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != SENTINEL)
			return false;
	return true;
}

/* Runs p over an exact-size heap copy of msg (so ASan sees any overread)
 * and checks that a failure leaves *out and *consumed alone. */
static enum socks_status run(const struct parser *p, const uint8_t *msg,
			     size_t len, void *out, size_t *consumed,
			     const char **reason)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum socks_status st;

	assert_non_null(copy);
	if (len)
		memcpy(copy, msg, len);
	memset(out, SENTINEL, p->out_size);
	*consumed = 0x5a5a;
	*reason = NULL;
	st = p->fn(copy, len, out, consumed, reason);
	free(copy);
	if (st != SOCKS_OK) {
		assert_true(all_sentinel(out, p->out_size));
		assert_int_equal(*consumed, 0x5a5a);
	}
	if (st == SOCKS_BAD) {
		assert_non_null(*reason);
		assert_true(strlen(*reason) > 0);
	}
	return st;
}

static void assert_ok(const struct parser *p, const uint8_t *msg, size_t len,
		      void *out)
{
	size_t consumed;
	const char *reason;

	assert_int_equal(run(p, msg, len, out, &consumed, &reason), SOCKS_OK);
	assert_int_equal(consumed, len);
}

static void assert_all_prefixes_short(const struct parser *p,
				      const uint8_t *msg, size_t len)
{
	uint8_t
	    out[sizeof(struct socks_request) + sizeof(struct socks5_userpass)];
	size_t consumed;
	const char *reason;

	for (size_t i = 0; i < len; i++)
		assert_int_equal(run(p, msg, i, out, &consumed, &reason),
				 SOCKS_SHORT);
}

/* What follows a message (data the client sent early) is not consumed. */
static void assert_pipelined(const struct parser *p, const uint8_t *msg,
			     size_t len)
{
	uint8_t
	    out[sizeof(struct socks_request) + sizeof(struct socks5_userpass)];
	uint8_t *buf = malloc(len + 5);
	size_t consumed;
	const char *reason;

	assert_non_null(buf);
	memcpy(buf, msg, len);
	memcpy(buf + len, "\x05GET ", 5);
	assert_int_equal(run(p, buf, len + 5, out, &consumed, &reason),
			 SOCKS_OK);
	assert_int_equal(consumed, len);
	free(buf);
}

static const char *assert_bad(const struct parser *p, const uint8_t *msg,
			      size_t len)
{
	uint8_t
	    out[sizeof(struct socks_request) + sizeof(struct socks5_userpass)];
	size_t consumed;
	const char *reason;

	assert_int_equal(run(p, msg, len, out, &consumed, &reason), SOCKS_BAD);
	return reason;
}

static void assert_v4mapped(const struct in6_addr *a, const char *v4)
{
	struct in6_addr want;
	char s[64];

	snprintf(s, sizeof(s), "::ffff:%s", v4);
	assert_int_equal(inet_pton(AF_INET6, s, &want), 1);
	assert_memory_equal(a, &want, sizeof(want));
}

/* ---- SOCKS5 greeting ---- */

static const uint8_t greet2[] = {5, 2, 0, 2};

static void greeting_ok(void **state)
{
	struct socks5_greeting g;

	assert_ok(&GREETING, greet2, sizeof(greet2), &g);
	assert_int_equal(g.n_methods, 2);
	assert_int_equal(g.methods[0], SOCKS5_METHOD_NONE);
	assert_int_equal(g.methods[1], SOCKS5_METHOD_USERPASS);
	assert_true(socks5_greeting_offers(&g, SOCKS5_METHOD_NONE));
	assert_true(socks5_greeting_offers(&g, SOCKS5_METHOD_USERPASS));
	assert_false(socks5_greeting_offers(&g, 0x01));
	assert_false(socks5_greeting_offers(&g, SOCKS5_METHOD_UNACCEPTABLE));
}

static void greeting_255_methods(void **state)
{
	uint8_t msg[2 + 255];
	struct socks5_greeting g;

	msg[0] = 5;
	msg[1] = 255;
	for (int i = 0; i < 255; i++)
		msg[2 + i] = (uint8_t)(i + 1);
	assert_ok(&GREETING, msg, sizeof(msg), &g);
	assert_int_equal(g.n_methods, 255);
	assert_memory_equal(g.methods, msg + 2, 255);
	assert_true(socks5_greeting_offers(&g, 0xff));
	assert_false(socks5_greeting_offers(&g, 0x00));
	assert_all_prefixes_short(&GREETING, msg, sizeof(msg));
}

static void greeting_short(void **state)
{
	assert_all_prefixes_short(&GREETING, greet2, sizeof(greet2));
}

static void greeting_pipelined(void **state)
{
	assert_pipelined(&GREETING, greet2, sizeof(greet2));
}

static void greeting_bad_version(void **state)
{
	static const uint8_t v4[] = {4};

	assert_bad(&GREETING, v4, sizeof(v4));
}

static void greeting_bad_no_methods(void **state)
{
	static const uint8_t msg[] = {5, 0};

	assert_bad(&GREETING, msg, sizeof(msg));
}

/* ---- RFC 1929 username/password ---- */

static const uint8_t up_alice[] = {1,	5, 'a', 'l', 'i', 'c',
				   'e', 3, 'p', 'w', '!'};

static void userpass_ok(void **state)
{
	struct socks5_userpass up;

	assert_ok(&USERPASS, up_alice, sizeof(up_alice), &up);
	assert_string_equal(up.user, "alice");
	assert_string_equal(up.pass, "pw!");
	assert_int_equal(up.user_len, 5);
	assert_int_equal(up.pass_len, 3);
}

static void userpass_empty_password(void **state)
{
	static const uint8_t msg[] = {1, 1, 'u', 0};
	struct socks5_userpass up;

	assert_ok(&USERPASS, msg, sizeof(msg), &up);
	assert_string_equal(up.user, "u");
	assert_string_equal(up.pass, "");
	assert_int_equal(up.pass_len, 0);
}

static void userpass_max_lengths(void **state)
{
	uint8_t msg[3 + 255 + 255];
	struct socks5_userpass up;

	msg[0] = 1;
	msg[1] = 255;
	memset(msg + 2, 'u', 255);
	msg[2 + 255] = 255;
	memset(msg + 3 + 255, 'p', 255);
	assert_ok(&USERPASS, msg, sizeof(msg), &up);
	assert_int_equal(strlen(up.user), 255);
	assert_int_equal(strlen(up.pass), 255);
	assert_int_equal(up.user_len, 255);
	assert_int_equal(up.pass_len, 255);
	assert_all_prefixes_short(&USERPASS, msg, sizeof(msg));
}

static void userpass_short(void **state)
{
	assert_all_prefixes_short(&USERPASS, up_alice, sizeof(up_alice));
}

static void userpass_pipelined(void **state)
{
	assert_pipelined(&USERPASS, up_alice, sizeof(up_alice));
}

static void userpass_bad_version(void **state)
{
	static const uint8_t msg[] = {5, 1, 'u', 1, 'p'};

	assert_bad(&USERPASS, msg, sizeof(msg));
}

static void userpass_bad_empty_user(void **state)
{
	static const uint8_t msg[] = {1, 0};

	assert_bad(&USERPASS, msg, sizeof(msg));
}

static void userpass_bad_nul_in_user(void **state)
{
	static const uint8_t msg[] = {1, 3, 'a', 0, 'b', 1, 'p'};

	assert_bad(&USERPASS, msg, sizeof(msg));
}

static void userpass_bad_nul_in_pass(void **state)
{
	static const uint8_t msg[] = {1, 1, 'a', 2, 'p', 0};

	assert_bad(&USERPASS, msg, sizeof(msg));
}

/* ---- SOCKS5 request ---- */

static const uint8_t req5_v4[] = {5, 1, 0, 1, 192, 0, 2, 7, 0x01, 0xbb};
static const uint8_t req5_v6[] = {5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8,
				  0, 0, 0, 0, 0,    0,	  0,	0,
				  0, 0, 0, 1, 0x1f, 0x90};
static const uint8_t req5_name[] = {5,	 1,   0,   3,	11,  'e', 'x', 'a', 'm',
				    'p', 'l', 'e', '.', 'c', 'o', 'm', 0,   80};

static void req5_ipv4(void **state)
{
	struct socks_request r;

	assert_ok(&REQ5, req5_v4, sizeof(req5_v4), &r);
	assert_int_equal(r.version, 5);
	assert_int_equal(r.cmd, SOCKS_CMD_CONNECT);
	assert_false(r.is_name);
	assert_int_equal(r.atyp, 1);
	assert_int_equal(r.port, 443);
	assert_v4mapped(&r.addr, "192.0.2.7");
	assert_string_equal(r.user, "");
}

static void req5_ipv6(void **state)
{
	struct socks_request r;
	struct in6_addr want;

	assert_ok(&REQ5, req5_v6, sizeof(req5_v6), &r);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
	assert_memory_equal(&r.addr, &want, sizeof(want));
	assert_false(r.is_name);
	assert_int_equal(r.atyp, 4);
	assert_int_equal(r.port, 8080);
}

static void req5_name_ok(void **state)
{
	struct socks_request r;

	assert_ok(&REQ5, req5_name, sizeof(req5_name), &r);
	assert_true(r.is_name);
	assert_string_equal(r.name, "example.com");
	assert_int_equal(r.atyp, 3);
	assert_int_equal(r.port, 80);
}

static void req5_name_255(void **state)
{
	uint8_t msg[4 + 1 + 255 + 2];
	struct socks_request r;

	memcpy(msg, "\x05\x01\x00\x03\xff", 5);
	memset(msg + 5, 'h', 255);
	msg[5 + 255] = 0xff;
	msg[5 + 256] = 0xff;
	assert_ok(&REQ5, msg, sizeof(msg), &r);
	assert_int_equal(strlen(r.name), 255);
	assert_int_equal(r.port, 65535);
	assert_all_prefixes_short(&REQ5, msg, sizeof(msg));
}

/* The parser reports BIND and UDP ASSOCIATE; refusing them is the server's. */
static void req5_other_cmds(void **state)
{
	uint8_t msg[sizeof(req5_v4)];
	struct socks_request r;

	memcpy(msg, req5_v4, sizeof(msg));
	for (uint8_t cmd = SOCKS_CMD_BIND; cmd <= SOCKS_CMD_UDP_ASSOCIATE;
	     cmd++) {
		msg[1] = cmd;
		assert_ok(&REQ5, msg, sizeof(msg), &r);
		assert_int_equal(r.cmd, cmd);
	}
}

static void req5_short(void **state)
{
	assert_all_prefixes_short(&REQ5, req5_v4, sizeof(req5_v4));
	assert_all_prefixes_short(&REQ5, req5_v6, sizeof(req5_v6));
	assert_all_prefixes_short(&REQ5, req5_name, sizeof(req5_name));
}

static void req5_pipelined(void **state)
{
	assert_pipelined(&REQ5, req5_v4, sizeof(req5_v4));
	assert_pipelined(&REQ5, req5_v6, sizeof(req5_v6));
	assert_pipelined(&REQ5, req5_name, sizeof(req5_name));
}

static void assert_bad5(const uint8_t *msg, size_t len, uint8_t code)
{
	assert_bad(&REQ5, msg, len);
	assert_int_equal(last_reply_code, code);
}

static void req5_bad_version(void **state)
{
	static const uint8_t msg[] = {4, 1, 0, 1, 1, 2, 3, 4, 0, 80};

	assert_bad5(msg, 1, SOCKS5_GENERAL_FAILURE);
	assert_bad5(msg, sizeof(msg), SOCKS5_GENERAL_FAILURE);
}

static void req5_bad_cmd(void **state)
{
	uint8_t msg[sizeof(req5_v4)];

	memcpy(msg, req5_v4, sizeof(msg));
	msg[1] = 0;
	assert_bad5(msg, sizeof(msg), SOCKS5_CMD_UNSUPPORTED);
	msg[1] = 4;
	assert_bad5(msg, 2, SOCKS5_CMD_UNSUPPORTED);
	msg[1] = 0xff;
	assert_bad5(msg, sizeof(msg), SOCKS5_CMD_UNSUPPORTED);
}

static void req5_bad_rsv(void **state)
{
	uint8_t msg[sizeof(req5_v4)];

	memcpy(msg, req5_v4, sizeof(msg));
	msg[2] = 1;
	assert_bad5(msg, sizeof(msg), SOCKS5_GENERAL_FAILURE);
	assert_bad5(msg, 3, SOCKS5_GENERAL_FAILURE);
}

static void req5_bad_atyp(void **state)
{
	uint8_t msg[sizeof(req5_v4)];
	static const uint8_t atyps[] = {0, 2, 5, 0xff};

	memcpy(msg, req5_v4, sizeof(msg));
	for (size_t i = 0; i < sizeof(atyps); i++) {
		msg[3] = atyps[i];
		assert_bad5(msg, sizeof(msg), SOCKS5_ATYP_UNSUPPORTED);
		assert_bad5(msg, 4, SOCKS5_ATYP_UNSUPPORTED);
	}
}

static void req5_bad_empty_name(void **state)
{
	static const uint8_t msg[] = {5, 1, 0, 3, 0, 0, 80};

	assert_bad5(msg, sizeof(msg), SOCKS5_GENERAL_FAILURE);
	assert_bad5(msg, 5, SOCKS5_GENERAL_FAILURE);
}

static void req5_bad_nul_in_name(void **state)
{
	static const uint8_t msg[] = {5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80};

	assert_bad5(msg, sizeof(msg), SOCKS5_GENERAL_FAILURE);
}

static void req5_null_reply_code(void **state)
{
	static const uint8_t msg[] = {5, 9};
	struct socks_request r;
	size_t consumed;
	const char *reason = NULL;

	assert_int_equal(socks5_parse_request(msg, sizeof(msg), &r, &consumed,
					      &reason, NULL),
			 SOCKS_BAD);
	assert_non_null(reason);
}

/* ---- SOCKS4 / 4a ---- */

static const uint8_t req4[] = {4, 1, 0x00, 0x50, 10, 1, 2, 3, 'b', 'o', 'b', 0};
static const uint8_t req4a[] = {4, 1,	0x1f, 0x90, 0,	 0,   0,   9, 'u',
				0, 'e', 'x',  '.',  'o', 'r', 'g', 0};

static void req4_ok(void **state)
{
	struct socks_request r;

	assert_ok(&REQ4, req4, sizeof(req4), &r);
	assert_int_equal(r.version, 4);
	assert_int_equal(r.cmd, SOCKS_CMD_CONNECT);
	assert_false(r.is_name);
	assert_int_equal(r.port, 80);
	assert_v4mapped(&r.addr, "10.1.2.3");
	assert_string_equal(r.user, "bob");
}

static void req4_empty_user(void **state)
{
	static const uint8_t msg[] = {4, 2, 0, 21, 192, 0, 2, 1, 0};
	struct socks_request r;

	assert_ok(&REQ4, msg, sizeof(msg), &r);
	assert_int_equal(r.cmd, SOCKS_CMD_BIND);
	assert_string_equal(r.user, "");
	assert_int_equal(r.port, 21);
}

/* 0.0.0.0 is not 4a (x must be non-zero): no host name is expected. */
static void req4_zero_ip_is_not_4a(void **state)
{
	static const uint8_t msg[] = {4, 1, 0, 80, 0, 0, 0, 0, 0};
	struct socks_request r;

	assert_ok(&REQ4, msg, sizeof(msg), &r);
	assert_false(r.is_name);
	assert_v4mapped(&r.addr, "0.0.0.0");
}

static void req4a_ok(void **state)
{
	struct socks_request r;

	assert_ok(&REQ4, req4a, sizeof(req4a), &r);
	assert_true(r.is_name);
	assert_string_equal(r.name, "ex.org");
	assert_string_equal(r.user, "u");
	assert_int_equal(r.port, 8080);
}

static void req4_max_fields(void **state)
{
	uint8_t msg[8 + 256 + 256];
	struct socks_request r;

	memcpy(msg, "\x04\x01\x00\x50\x00\x00\x00\x01", 8);
	memset(msg + 8, 'u', 255);
	msg[8 + 255] = 0;
	memset(msg + 8 + 256, 'h', 255);
	msg[8 + 256 + 255] = 0;
	assert_ok(&REQ4, msg, sizeof(msg), &r);
	assert_int_equal(strlen(r.user), 255);
	assert_int_equal(strlen(r.name), 255);
	assert_all_prefixes_short(&REQ4, msg, sizeof(msg));
}

static void req4_short(void **state)
{
	assert_all_prefixes_short(&REQ4, req4, sizeof(req4));
	assert_all_prefixes_short(&REQ4, req4a, sizeof(req4a));
}

static void req4_pipelined(void **state)
{
	assert_pipelined(&REQ4, req4, sizeof(req4));
	assert_pipelined(&REQ4, req4a, sizeof(req4a));
}

static void req4_bad_version(void **state)
{
	assert_bad(&REQ4, (const uint8_t *)"\x05", 1);
}

static void req4_bad_cmd(void **state)
{
	uint8_t msg[sizeof(req4)];

	memcpy(msg, req4, sizeof(msg));
	msg[1] = SOCKS_CMD_UDP_ASSOCIATE;
	assert_bad(&REQ4, msg, sizeof(msg));
	msg[1] = 0;
	assert_bad(&REQ4, msg, 2);
}

static void req4_bad_user_too_long(void **state)
{
	uint8_t msg[8 + 256];

	memcpy(msg, req4, 8);
	memset(msg + 8, 'u', 256);
	assert_bad(&REQ4, msg, sizeof(msg));
}

static void req4a_bad_name_too_long(void **state)
{
	uint8_t msg[10 + 256];

	memcpy(msg, req4a, 10);
	memset(msg + 10, 'h', 256);
	assert_bad(&REQ4, msg, sizeof(msg));
}

static void req4a_bad_empty_name(void **state)
{
	static const uint8_t msg[] = {4, 1, 0, 80, 0, 0, 0, 1, 'u', 0, 0};

	assert_bad(&REQ4, msg, sizeof(msg));
}

/* ---- encoders ---- */

static void enc_method(void **state)
{
	uint8_t out[4];

	assert_int_equal(socks5_encode_method(out, 2, SOCKS5_METHOD_USERPASS),
			 2);
	assert_memory_equal(out, "\x05\x02", 2);
	assert_int_equal(socks5_encode_method(out, 2, 0xff), 2);
	assert_memory_equal(out, "\x05\xff", 2);
	assert_int_equal(socks5_encode_method(out, 1, 0), -ENOSPC);
	assert_int_equal(socks5_encode_method(NULL, 0, 0), -ENOSPC);
}

static void enc_userpass_status(void **state)
{
	uint8_t out[2];

	assert_int_equal(socks5_encode_userpass_status(out, 2, true), 2);
	assert_memory_equal(out, "\x01\x00", 2);
	assert_int_equal(socks5_encode_userpass_status(out, 2, false), 2);
	assert_memory_equal(out, "\x01\x01", 2);
	assert_int_equal(socks5_encode_userpass_status(out, 1, true), -ENOSPC);
}

static struct sockaddr_in sin4(const char *a, uint16_t port)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(port)};

	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6 sin6(const char *a, uint16_t port)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6,
				 .sin6_port = htons(port)};

	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return s;
}

static void enc5_reply_null(void **state)
{
	uint8_t out[32];

	memset(out, 0xcc, sizeof(out));
	assert_int_equal(
	    socks5_encode_reply(out, sizeof(out), SOCKS5_CONN_REFUSED, NULL),
	    10);
	assert_memory_equal(out, "\x05\x05\x00\x01\0\0\0\0\0\0", 10);
	assert_int_equal(out[10], 0xcc);
}

static void enc5_reply_v4(void **state)
{
	struct sockaddr_in s = sin4("198.51.100.9", 40000);
	uint8_t out[10];

	assert_int_equal(socks5_encode_reply(out, sizeof(out), SOCKS5_SUCCEEDED,
					     (struct sockaddr *)&s),
			 10);
	assert_memory_equal(out, "\x05\x00\x00\x01\xc6\x33\x64\x09\x9c\x40",
			    10);
}

static void enc5_reply_v6(void **state)
{
	struct sockaddr_in6 s = sin6("2001:db8::42", 5124);
	uint8_t out[22];

	assert_int_equal(socks5_encode_reply(out, sizeof(out), SOCKS5_SUCCEEDED,
					     (struct sockaddr *)&s),
			 22);
	assert_memory_equal(out,
			    "\x05\x00\x00\x04\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0"
			    "\0\0\0\x42\x14\x04",
			    22);
}

static void enc5_reply_v4mapped(void **state)
{
	struct sockaddr_in6 s = sin6("::ffff:192.0.2.1", 443);
	uint8_t out[10];

	assert_int_equal(socks5_encode_reply(out, sizeof(out),
					     SOCKS5_HOST_UNREACHABLE,
					     (struct sockaddr *)&s),
			 10);
	assert_memory_equal(out, "\x05\x04\x00\x01\xc0\x00\x02\x01\x01\xbb",
			    10);
}

static void enc5_reply_enospc(void **state)
{
	struct sockaddr_in s4 = sin4("192.0.2.1", 1);
	struct sockaddr_in6 s6 = sin6("2001:db8::1", 1);
	uint8_t out[22];

	assert_int_equal(socks5_encode_reply(out, 9, 0, NULL), -ENOSPC);
	assert_int_equal(socks5_encode_reply(out, 9, 0, (struct sockaddr *)&s4),
			 -ENOSPC);
	assert_int_equal(
	    socks5_encode_reply(out, 21, 0, (struct sockaddr *)&s6), -ENOSPC);
	assert_int_equal(socks5_encode_reply(out, 0, 0, NULL), -ENOSPC);
}

static void enc_reply_bad_family(void **state)
{
	struct sockaddr_storage ss = {.ss_family = AF_UNIX};
	uint8_t out[32];

	assert_int_equal(
	    socks5_encode_reply(out, sizeof(out), 0, (struct sockaddr *)&ss),
	    -EAFNOSUPPORT);
	assert_int_equal(
	    socks4_encode_reply(out, sizeof(out), 0, (struct sockaddr *)&ss),
	    -EAFNOSUPPORT);
}

static void enc4_reply(void **state)
{
	struct sockaddr_in s4 = sin4("203.0.113.5", 8080);
	struct sockaddr_in6 m = sin6("::ffff:203.0.113.5", 8080);
	struct sockaddr_in6 s6 = sin6("2001:db8::1", 8080);
	uint8_t out[8];

	assert_int_equal(socks4_encode_reply(out, 8, SOCKS4_REJECTED, NULL), 8);
	assert_memory_equal(out, "\x00\x5b\0\0\0\0\0\0", 8);
	assert_int_equal(
	    socks4_encode_reply(out, 8, SOCKS4_GRANTED, (struct sockaddr *)&s4),
	    8);
	assert_memory_equal(out, "\x00\x5a\x1f\x90\xcb\x00\x71\x05", 8);
	memset(out, 0, sizeof(out));
	assert_int_equal(
	    socks4_encode_reply(out, 8, SOCKS4_GRANTED, (struct sockaddr *)&m),
	    8);
	assert_memory_equal(out, "\x00\x5a\x1f\x90\xcb\x00\x71\x05", 8);
	/* SOCKS4 cannot say IPv6: zeros, like NULL. */
	assert_int_equal(
	    socks4_encode_reply(out, 8, SOCKS4_GRANTED, (struct sockaddr *)&s6),
	    8);
	assert_memory_equal(out, "\x00\x5a\0\0\0\0\0\0", 8);
}

static void enc4_reply_enospc(void **state)
{
	uint8_t out[8];

	assert_int_equal(socks4_encode_reply(out, 7, SOCKS4_GRANTED, NULL),
			 -ENOSPC);
	assert_int_equal(socks4_encode_reply(NULL, 0, SOCKS4_GRANTED, NULL),
			 -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(greeting_ok),
	    cmocka_unit_test(greeting_255_methods),
	    cmocka_unit_test(greeting_short),
	    cmocka_unit_test(greeting_pipelined),
	    cmocka_unit_test(greeting_bad_version),
	    cmocka_unit_test(greeting_bad_no_methods),
	    cmocka_unit_test(userpass_ok),
	    cmocka_unit_test(userpass_empty_password),
	    cmocka_unit_test(userpass_max_lengths),
	    cmocka_unit_test(userpass_short),
	    cmocka_unit_test(userpass_pipelined),
	    cmocka_unit_test(userpass_bad_version),
	    cmocka_unit_test(userpass_bad_empty_user),
	    cmocka_unit_test(userpass_bad_nul_in_user),
	    cmocka_unit_test(userpass_bad_nul_in_pass),
	    cmocka_unit_test(req5_ipv4),
	    cmocka_unit_test(req5_ipv6),
	    cmocka_unit_test(req5_name_ok),
	    cmocka_unit_test(req5_name_255),
	    cmocka_unit_test(req5_other_cmds),
	    cmocka_unit_test(req5_short),
	    cmocka_unit_test(req5_pipelined),
	    cmocka_unit_test(req5_bad_version),
	    cmocka_unit_test(req5_bad_cmd),
	    cmocka_unit_test(req5_bad_rsv),
	    cmocka_unit_test(req5_bad_atyp),
	    cmocka_unit_test(req5_bad_empty_name),
	    cmocka_unit_test(req5_bad_nul_in_name),
	    cmocka_unit_test(req5_null_reply_code),
	    cmocka_unit_test(req4_ok),
	    cmocka_unit_test(req4_empty_user),
	    cmocka_unit_test(req4_zero_ip_is_not_4a),
	    cmocka_unit_test(req4a_ok),
	    cmocka_unit_test(req4_max_fields),
	    cmocka_unit_test(req4_short),
	    cmocka_unit_test(req4_pipelined),
	    cmocka_unit_test(req4_bad_version),
	    cmocka_unit_test(req4_bad_cmd),
	    cmocka_unit_test(req4_bad_user_too_long),
	    cmocka_unit_test(req4a_bad_name_too_long),
	    cmocka_unit_test(req4a_bad_empty_name),
	    cmocka_unit_test(enc_method),
	    cmocka_unit_test(enc_userpass_status),
	    cmocka_unit_test(enc5_reply_null),
	    cmocka_unit_test(enc5_reply_v4),
	    cmocka_unit_test(enc5_reply_v6),
	    cmocka_unit_test(enc5_reply_v4mapped),
	    cmocka_unit_test(enc5_reply_enospc),
	    cmocka_unit_test(enc_reply_bad_family),
	    cmocka_unit_test(enc4_reply),
	    cmocka_unit_test(enc4_reply_enospc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
