#include "socks.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"

/* Longest SOCKS4 user id or 4a host name, NUL excluded. More without a NUL
 * is refused: waiting for it would let a client make us buffer forever. */
#define SOCKS4_FIELD_MAX 255

#define SOCKS5_ATYP_IPV4 0x01
#define SOCKS5_ATYP_NAME 0x03
#define SOCKS5_ATYP_IPV6 0x04

static enum socks_status bad(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return SOCKS_BAD;
}

/* SOCKS5 requests also tell the server which reply code to answer with. */
static enum socks_status bad5(const char **reason, uint8_t *reply_code,
			      const char *why, uint8_t code)
{
	if (reply_code)
		*reply_code = code;
	return bad(reason, why);
}

static void set_v4mapped(struct in6_addr *a, const uint8_t v4[4])
{
	memset(a, 0, sizeof(*a));
	a->s6_addr[10] = 0xff;
	a->s6_addr[11] = 0xff;
	memcpy(&a->s6_addr[12], v4, 4);
}

/* Each field is checked as soon as its byte has arrived, so a client that
 * is not speaking SOCKS5 is refused at once rather than waited for. */
enum socks_status socks5_parse_greeting(const uint8_t *buf, size_t len,
					struct socks5_greeting *out,
					size_t *consumed, const char **reason)
{
	struct socks5_greeting g = {0};

	if (len >= 1 && buf[0] != 5)
		return bad(reason, "not SOCKS version 5");
	if (len >= 2 && buf[1] == 0)
		return bad(reason, "SOCKS5 greeting offers no method");
	if (len < 2 || len < 2 + (size_t)buf[1])
		return SOCKS_SHORT;
	g.n_methods = buf[1];
	memcpy(g.methods, buf + 2, g.n_methods);
	*out = g;
	*consumed = 2 + (size_t)g.n_methods;
	return SOCKS_OK;
}

bool socks5_greeting_offers(const struct socks5_greeting *g, uint8_t method)
{
	for (unsigned i = 0; i < g->n_methods; i++)
		if (g->methods[i] == method)
			return true;
	return false;
}

/* A NUL inside would make the C string differ from what the client sent
 * (and compare equal to a shorter credential), so it is refused. */
static bool copy_counted(char *dst, const uint8_t *src, size_t n)
{
	if (memchr(src, 0, n))
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

enum socks_status socks5_parse_userpass(const uint8_t *buf, size_t len,
					struct socks5_userpass *out,
					size_t *consumed, const char **reason)
{
	struct socks5_userpass up = {0};
	size_t ulen, plen;

	if (len >= 1 && buf[0] != 1)
		return bad(reason, "not username/password version 1");
	if (len >= 2 && buf[1] == 0)
		return bad(reason, "empty user name");
	if (len < 2)
		return SOCKS_SHORT;
	ulen = buf[1];
	if (len < 3 + ulen)
		return SOCKS_SHORT;
	plen = buf[2 + ulen];
	if (len < 3 + ulen + plen)
		return SOCKS_SHORT;
	if (!copy_counted(up.user, buf + 2, ulen))
		return bad(reason, "NUL in user name");
	if (!copy_counted(up.pass, buf + 3 + ulen, plen))
		return bad(reason, "NUL in password");
	up.user_len = (uint8_t)ulen;
	up.pass_len = (uint8_t)plen;
	*out = up;
	*consumed = 3 + ulen + plen;
	return SOCKS_OK;
}

static bool s5_atyp_known(uint8_t atyp)
{
	return atyp == SOCKS5_ATYP_IPV4 || atyp == SOCKS5_ATYP_NAME ||
	       atyp == SOCKS5_ATYP_IPV6;
}

/* VER CMD RSV ATYP, each refused as soon as it arrives. */
static enum socks_status s5_req_head(const uint8_t *buf, size_t len,
				     const char **reason, uint8_t *reply_code)
{
	if (len >= 1 && buf[0] != 5)
		return bad5(reason, reply_code, "not SOCKS version 5",
			    SOCKS5_GENERAL_FAILURE);
	if (len >= 2 &&
	    (buf[1] < SOCKS_CMD_CONNECT || buf[1] > SOCKS_CMD_UDP_ASSOCIATE))
		return bad5(reason, reply_code, "unknown SOCKS5 command",
			    SOCKS5_CMD_UNSUPPORTED);
	if (len >= 3 && buf[2] != 0)
		return bad5(reason, reply_code, "SOCKS5 reserved byte not zero",
			    SOCKS5_GENERAL_FAILURE);
	if (len >= 4 && !s5_atyp_known(buf[3]))
		return bad5(reason, reply_code, "unknown SOCKS5 address type",
			    SOCKS5_ATYP_UNSUPPORTED);
	return len < 4 ? SOCKS_SHORT : SOCKS_OK;
}

/* DST.ADDR after a valid head; *wire_len is its size on the wire. */
static enum socks_status s5_req_addr(const uint8_t *buf, size_t len,
				     struct socks_request *req,
				     size_t *wire_len, const char **reason,
				     uint8_t *reply_code)
{
	size_t n;

	if (buf[3] == SOCKS5_ATYP_IPV4) {
		if (len < 4 + 4)
			return SOCKS_SHORT;
		set_v4mapped(&req->addr, buf + 4);
		*wire_len = 4;
		return SOCKS_OK;
	}
	if (buf[3] == SOCKS5_ATYP_IPV6) {
		if (len < 4 + 16)
			return SOCKS_SHORT;
		memcpy(req->addr.s6_addr, buf + 4, 16);
		*wire_len = 16;
		return SOCKS_OK;
	}
	if (len < 5)
		return SOCKS_SHORT;
	n = buf[4];
	if (n == 0)
		return bad5(reason, reply_code, "empty SOCKS5 host name",
			    SOCKS5_GENERAL_FAILURE);
	if (len < 5 + n)
		return SOCKS_SHORT;
	if (!copy_counted(req->name, buf + 5, n))
		return bad5(reason, reply_code, "NUL in SOCKS5 host name",
			    SOCKS5_GENERAL_FAILURE);
	req->is_name = true;
	*wire_len = 1 + n;
	return SOCKS_OK;
}

enum socks_status socks5_parse_request(const uint8_t *buf, size_t len,
				       struct socks_request *out,
				       size_t *consumed, const char **reason,
				       uint8_t *reply_code)
{
	struct socks_request req = {0};
	enum socks_status st;
	size_t alen, total;

	st = s5_req_head(buf, len, reason, reply_code);
	if (st != SOCKS_OK)
		return st;
	st = s5_req_addr(buf, len, &req, &alen, reason, reply_code);
	if (st != SOCKS_OK)
		return st;
	total = 4 + alen + 2;
	if (len < total)
		return SOCKS_SHORT;
	req.version = 5;
	req.cmd = buf[1];
	req.atyp = buf[3];
	req.port = be16(buf + 4 + alen);
	*out = req;
	*consumed = total;
	return SOCKS_OK;
}

/* SOCKS4a: DSTIP 0.0.0.x, x != 0, means "a host name follows". */
static bool s4_is_4a(const uint8_t ip[4])
{
	return !ip[0] && !ip[1] && !ip[2] && ip[3];
}

/* A NUL-terminated field at buf[off..]; *next is the offset past its NUL. */
static enum socks_status s4_field(const uint8_t *buf, size_t len, size_t off,
				  char dst[SOCKS4_FIELD_MAX + 1], size_t *next,
				  const char **reason, const char *too_long)
{
	size_t avail = len - off;
	size_t lim =
	    avail < SOCKS4_FIELD_MAX + 1 ? avail : SOCKS4_FIELD_MAX + 1;
	const uint8_t *nul = lim ? memchr(buf + off, 0, lim) : NULL;
	size_t n;

	if (!nul)
		return avail > SOCKS4_FIELD_MAX ? bad(reason, too_long)
						: SOCKS_SHORT;
	n = (size_t)(nul - (buf + off));
	memcpy(dst, buf + off, n + 1);
	*next = off + n + 1;
	return SOCKS_OK;
}

/* SOCKS4 has no address type: atyp stays 0. */
enum socks_status socks4_parse_request(const uint8_t *buf, size_t len,
				       struct socks_request *out,
				       size_t *consumed, const char **reason)
{
	struct socks_request req = {0};
	enum socks_status st;
	size_t off;

	if (len >= 1 && buf[0] != 4)
		return bad(reason, "not SOCKS version 4");
	if (len >= 2 && buf[1] != SOCKS_CMD_CONNECT && buf[1] != SOCKS_CMD_BIND)
		return bad(reason, "unknown SOCKS4 command");
	if (len < 8)
		return SOCKS_SHORT;
	st = s4_field(buf, len, 8, req.user, &off, reason,
		      "SOCKS4 user id too long");
	if (st != SOCKS_OK)
		return st;
	if (s4_is_4a(buf + 4)) {
		st = s4_field(buf, len, off, req.name, &off, reason,
			      "SOCKS4a host name too long");
		if (st != SOCKS_OK)
			return st;
		if (!req.name[0])
			return bad(reason, "empty SOCKS4a host name");
		req.is_name = true;
	} else {
		set_v4mapped(&req.addr, buf + 4);
	}
	req.version = 4;
	req.cmd = buf[1];
	req.port = be16(buf + 2);
	*out = req;
	*consumed = off;
	return SOCKS_OK;
}

int socks5_encode_method(uint8_t *out, size_t cap, uint8_t method)
{
	if (cap < 2)
		return -ENOSPC;
	out[0] = 5;
	out[1] = method;
	return 2;
}

int socks5_encode_userpass_status(uint8_t *out, size_t cap, bool ok)
{
	if (cap < 2)
		return -ENOSPC;
	out[0] = 1;
	out[1] = ok ? 0 : 1;
	return 2;
}

/* A bound address in wire order; v4-mapped IPv6 counts as IPv4 because
 * that is what a dual-stack socket reports for an IPv4 peer. */
struct socks_bound {
	bool v6;
	uint8_t addr[16];
	uint8_t port[2];
};

static int bound_get(const struct sockaddr *sa, struct socks_bound *b)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	memset(b, 0, sizeof(*b));
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(b->addr, &sin->sin_addr, 4);
		memcpy(b->port, &sin->sin_port, 2);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	memcpy(b->port, &sin6->sin6_port, 2);
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(b->addr, &sin6->sin6_addr.s6_addr[12], 4);
	} else {
		b->v6 = true;
		memcpy(b->addr, sin6->sin6_addr.s6_addr, 16);
	}
	return 0;
}

int socks5_encode_reply(uint8_t *out, size_t cap, uint8_t code,
			const struct sockaddr *bound)
{
	struct socks_bound b;
	size_t alen, n;
	int err;

	err = bound_get(bound, &b);
	if (err)
		return err;
	alen = b.v6 ? 16 : 4;
	n = 4 + alen + 2;
	if (cap < n)
		return -ENOSPC;
	out[0] = 5;
	out[1] = code;
	out[2] = 0;
	out[3] = b.v6 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4;
	memcpy(out + 4, b.addr, alen);
	memcpy(out + 4 + alen, b.port, 2);
	return (int)n;
}

/* SOCKS4 cannot carry an IPv6 address; clients ignore these fields after a
 * CONNECT anyway, so a non-mapped IPv6 bound address is sent as 0.0.0.0:0. */
int socks4_encode_reply(uint8_t *out, size_t cap, uint8_t code,
			const struct sockaddr *bound)
{
	struct socks_bound b;
	int err;

	err = bound_get(bound, &b);
	if (err)
		return err;
	if (b.v6)
		memset(&b, 0, sizeof(b));
	if (cap < 8)
		return -ENOSPC;
	out[0] = 0;
	out[1] = code;
	memcpy(out + 2, b.port, 2);
	memcpy(out + 4, b.addr, 4);
	return 8;
}
