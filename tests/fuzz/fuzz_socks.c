/* Feeds arbitrary bytes to every SOCKS parser and fuzzed values to every
 * encoder. Beyond what ASan/UBSan catch, it checks the contract of
 * lib/socks.h: out and consumed untouched unless OK, consumed <= len, names
 * NUL-terminated within their arrays, a message parses the same with
 * nothing after it, every shorter prefix of a message is SHORT, and a
 * SOCKS5 reply re-parses as the address that was encoded. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "socks.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

#define SENTINEL	  0xa5
#define CONSUMED_SENTINEL ((size_t)0x5a5a5a5a)

union any_out {
	struct socks5_greeting g;
	struct socks5_userpass up;
	struct socks_request r;
};

typedef enum socks_status (*parse_fn)(const uint8_t *buf, size_t len,
				      union any_out *out, size_t *consumed,
				      const char **reason);
typedef void (*check_fn)(const union any_out *out, const uint8_t *buf,
			 size_t consumed);
typedef bool (*short_ok_fn)(const uint8_t *buf, size_t len);

static enum socks_status p_greeting(const uint8_t *b, size_t l,
				    union any_out *o, size_t *c, const char **r)
{
	return socks5_parse_greeting(b, l, &o->g, c, r);
}

static enum socks_status p_userpass(const uint8_t *b, size_t l,
				    union any_out *o, size_t *c, const char **r)
{
	return socks5_parse_userpass(b, l, &o->up, c, r);
}

static enum socks_status p_req5(const uint8_t *b, size_t l, union any_out *o,
				size_t *c, const char **r)
{
	uint8_t code = 0xee;
	enum socks_status st = socks5_parse_request(b, l, &o->r, c, r, &code);

	if (st == SOCKS_BAD)
		CHECK(code == SOCKS5_GENERAL_FAILURE ||
		      code == SOCKS5_CMD_UNSUPPORTED ||
		      code == SOCKS5_ATYP_UNSUPPORTED);
	else
		CHECK(code == 0xee);
	return st;
}

static enum socks_status p_req4(const uint8_t *b, size_t l, union any_out *o,
				size_t *c, const char **r)
{
	return socks4_parse_request(b, l, &o->r, c, r);
}

static bool all_sentinel(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != SENTINEL)
			return false;
	return true;
}

static void check_cstr(const char *s, size_t cap, size_t min, size_t max)
{
	const char *nul = memchr(s, 0, cap);
	size_t n;

	CHECK(nul);
	n = (size_t)(nul - s);
	CHECK(n >= min && n <= max);
}

static void check_greeting(const union any_out *o, const uint8_t *buf,
			   size_t consumed)
{
	CHECK(o->g.n_methods >= 1);
	CHECK(consumed == 2 + (size_t)o->g.n_methods);
	CHECK(!memcmp(o->g.methods, buf + 2, o->g.n_methods));
	CHECK(socks5_greeting_offers(&o->g, buf[2]));
}

static void check_userpass(const union any_out *o, const uint8_t *buf,
			   size_t consumed)
{
	check_cstr(o->up.user, sizeof(o->up.user), 1, 255);
	check_cstr(o->up.pass, sizeof(o->up.pass), 0, 255);
	CHECK(strlen(o->up.user) == o->up.user_len);
	CHECK(strlen(o->up.pass) == o->up.pass_len);
	CHECK(consumed == 3 + (size_t)o->up.user_len + o->up.pass_len);
}

static void check_request(const union any_out *o, const uint8_t *buf,
			  size_t consumed)
{
	const struct socks_request *r = &o->r;

	CHECK(r->version == buf[0]);
	CHECK(r->cmd >= SOCKS_CMD_CONNECT && r->cmd <= SOCKS_CMD_UDP_ASSOCIATE);
	check_cstr(r->user, sizeof(r->user), 0, 255);
	if (r->is_name)
		check_cstr(r->name, sizeof(r->name), 1, 255);
	if (r->version == 5) {
		CHECK(r->atyp == 1 || r->atyp == 3 || r->atyp == 4);
		CHECK(r->is_name == (r->atyp == 3));
		CHECK(!r->user[0]);
	} else {
		CHECK(r->version == 4 && r->atyp == 0);
		CHECK(r->cmd != SOCKS_CMD_UDP_ASSOCIATE);
	}
	if (r->version == 4 || r->atyp == 1)
		CHECK(r->is_name || IN6_IS_ADDR_V4MAPPED(&r->addr));
}

/* Oracles for SHORT: the longest message each parser may wait for is
 * bounded, so a client cannot make the server buffer without end. */
static bool short_greeting(const uint8_t *buf, size_t len)
{
	return len < 2 + 255;
}

static bool short_userpass(const uint8_t *buf, size_t len)
{
	return len < 3 + 255 + 255;
}

static bool short_req5(const uint8_t *buf, size_t len)
{
	return len < 4 + 1 + 255 + 2;
}

/* A NUL-terminated SOCKS4 field at buf[off..len) that has no NUL yet may
 * still be waited for only while it is at most 255 bytes long. */
static bool s4_field_pending(const uint8_t *buf, size_t len, size_t off,
			     size_t *next)
{
	const uint8_t *nul = memchr(buf + off, 0, len - off);

	if (nul) {
		*next = (size_t)(nul - buf) + 1;
		return false;
	}
	return true;
}

static bool short_req4(const uint8_t *buf, size_t len)
{
	size_t next;

	if (len < 8)
		return true;
	if (s4_field_pending(buf, len, 8, &next))
		return len - 8 <= 255;
	CHECK(!buf[4] && !buf[5] && !buf[6] && buf[7]);
	CHECK(s4_field_pending(buf, len, next, &next));
	return len - next <= 255;
}

/* Runs fn over an exact-size heap copy, so any overread is caught. */
static enum socks_status run(parse_fn fn, const uint8_t *data, size_t len,
			     union any_out *out, size_t *consumed)
{
	uint8_t *copy = malloc(len ? len : 1);
	const char *reason = NULL;
	enum socks_status st;

	CHECK(copy);
	if (len)
		memcpy(copy, data, len);
	memset(out, SENTINEL, sizeof(*out));
	*consumed = CONSUMED_SENTINEL;
	st = fn(copy, len, out, consumed, &reason);
	free(copy);
	CHECK(st == SOCKS_OK || st == SOCKS_SHORT || st == SOCKS_BAD);
	if (st != SOCKS_OK) {
		CHECK(all_sentinel(out, sizeof(*out)));
		CHECK(*consumed == CONSUMED_SENTINEL);
	}
	if (st == SOCKS_BAD)
		CHECK(reason && reason[0]);
	return st;
}

static void fuzz_parser(parse_fn fn, check_fn check, short_ok_fn short_ok,
			const uint8_t *data, size_t len)
{
	union any_out out, again;
	size_t consumed, c2;
	enum socks_status st;

	st = run(fn, data, len, &out, &consumed);
	if (st == SOCKS_SHORT && len > 0) {
		CHECK(short_ok(data, len));
		/* Less of a message cannot be more decided. */
		CHECK(run(fn, data, len - 1, &again, &c2) == SOCKS_SHORT);
		return;
	}
	if (st != SOCKS_OK)
		return;
	CHECK(consumed >= 1 && consumed <= len);
	check(&out, data, consumed);
	CHECK(run(fn, data, consumed, &again, &c2) == SOCKS_OK);
	CHECK(c2 == consumed && !memcmp(&out, &again, sizeof(out)));
	CHECK(run(fn, data, consumed - 1, &again, &c2) == SOCKS_SHORT);
	CHECK(run(fn, data, consumed / 2, &again, &c2) == SOCKS_SHORT);
}

static void fuzz_enc_simple(const uint8_t *d, size_t len)
{
	uint8_t cap = len > 0 ? d[0] % 4 : 0;
	uint8_t v = len > 1 ? d[1] : 0;
	uint8_t *out = malloc(cap ? cap : 1);
	int n;

	CHECK(out);
	n = socks5_encode_method(out, cap, v);
	CHECK(cap < 2 ? n == -ENOSPC : n == 2 && out[0] == 5 && out[1] == v);
	n = socks5_encode_userpass_status(out, cap, v & 1);
	CHECK(cap < 2 ? n == -ENOSPC
		      : n == 2 && out[0] == 1 && out[1] == !(v & 1));
	free(out);
}

/* Builds a bound address from fuzz bytes: NULL, AF_INET, AF_INET6 (often
 * v4-mapped), or a bogus family. */
static const struct sockaddr *fuzz_bound(const uint8_t *d, size_t len,
					 struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	uint8_t kind = len > 0 ? d[0] % 5 : 0;
	uint8_t bytes[18] = {0};

	memcpy(bytes, d + (len > 0), len > 19 ? 18 : len > 1 ? len - 1 : 0);
	memset(ss, 0, sizeof(*ss));
	switch (kind) {
	case 0:
		return NULL;
	case 1:
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_port, bytes, 2);
		memcpy(&sin->sin_addr, bytes + 2, 4);
		break;
	case 2:
		memset(&bytes[2 + 10], 0xff, 2);
		memset(&bytes[2], 0, 10);
		/* fall through */
	case 3:
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_port, bytes, 2);
		memcpy(&sin6->sin6_addr, bytes + 2, 16);
		break;
	default:
		ss->ss_family = (sa_family_t)(bytes[0] | 0x100);
	}
	return (const struct sockaddr *)ss;
}

/* A SOCKS5 reply is a request with REP in place of CMD: parse it back. */
static void check_reply5_roundtrip(const uint8_t *out, int n,
				   const struct sockaddr *sa)
{
	uint8_t req[22];
	struct socks_request r;
	size_t consumed;
	const char *reason;
	uint16_t port = 0;

	memcpy(req, out, (size_t)n);
	req[1] = SOCKS_CMD_CONNECT;
	CHECK(socks5_parse_request(req, (size_t)n, &r, &consumed, &reason,
				   NULL) == SOCKS_OK);
	CHECK(consumed == (size_t)n && !r.is_name);
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		port = ntohs(sin->sin_port);
		CHECK(!memcmp(&r.addr.s6_addr[12], &sin->sin_addr, 4));
	} else if (sa) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		port = ntohs(sin6->sin6_port);
		CHECK(!memcmp(&r.addr, &sin6->sin6_addr, 16));
		CHECK((r.atyp == 1) ==
		      !!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr));
	} else {
		CHECK(IN6_IS_ADDR_V4MAPPED(&r.addr) &&
		      r.addr.s6_addr32[3] == 0);
	}
	CHECK(r.port == port);
}

static void fuzz_enc_reply(const uint8_t *d, size_t len)
{
	struct sockaddr_storage ss;
	const struct sockaddr *sa = fuzz_bound(d, len, &ss);
	size_t cap = len > 20 ? d[20] % 24 : 22;
	uint8_t code = len > 21 ? d[21] : 0;
	bool fam_ok =
	    !sa || sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
	uint8_t *out = malloc(cap ? cap : 1);
	int n;

	CHECK(out);
	n = socks5_encode_reply(out, cap, code, sa);
	if (!fam_ok) {
		CHECK(n == -EAFNOSUPPORT);
	} else if (n == -ENOSPC) {
		CHECK(cap < 22);
	} else {
		CHECK((n == 10 || n == 22) && (size_t)n <= cap);
		CHECK(out[0] == 5 && out[1] == code && out[2] == 0);
		check_reply5_roundtrip(out, n, sa);
	}
	n = socks4_encode_reply(out, cap, code, sa);
	if (!fam_ok)
		CHECK(n == -EAFNOSUPPORT);
	else
		CHECK(cap < 8 ? n == -ENOSPC
			      : n == 8 && out[0] == 0 && out[1] == code);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const parse_fn fns[] = {p_greeting, p_userpass, p_req5, p_req4};
	static const check_fn checks[] = {check_greeting, check_userpass,
					  check_request, check_request};
	static const short_ok_fn shorts[] = {short_greeting, short_userpass,
					     short_req5, short_req4};

	/* Whole input through every parser, so seeds stay plain messages. */
	for (size_t i = 0; i < 4; i++)
		fuzz_parser(fns[i], checks[i], shorts[i], data, size);
	fuzz_enc_simple(data, size);
	fuzz_enc_reply(data, size);
	return 0;
}
