#include "carrier.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "convert.h"
#include "socks.h"

/* With auth, the Auth TLV goes last: its MAC covers Connect and Source. */
static int convert_opening(const struct cpe_config *c, const struct sockaddr *dst,
			   const struct sockaddr *src, uint8_t *out, size_t cap)
{
	struct convert_builder b;
	size_t n;
	int r;

	convert_begin(&b);
	if ((r = convert_put_connect_sa(&b, dst)) < 0)
		return r;
	if (c->source && (r = convert_put_source_sa(&b, src)) < 0)
		return r;
	if (c->auth.id && (r = auth_put(&b, c->auth.id, c->auth.key.bytes,
					(uint64_t)time(NULL))) < 0)
		return r;
	n = convert_finish(&b);
	if (n > cap)
		return -ENOSPC;
	memcpy(out, b.buf, n);
	return (int)n;
}

/* SOCKS5 with every message pipelined, so it all rides in the SYN: greeting,
 * sub-negotiation if configured, CONNECT. */
static int socks5_opening(const struct cpe_config *c, const struct sockaddr *dst,
			  uint8_t *out, size_t cap)
{
	size_t n = 0, ul, pl;
	bool auth = c->socks_user != NULL;

	if (cap < 3 + 3 + 2 * 255 + 22)
		return -ENOSPC;
	out[n++] = 5, out[n++] = 1;
	out[n++] = auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NONE;
	if (auth) {
		ul = strlen(c->socks_user);
		pl = c->socks_password ? strlen(c->socks_password) : 0;
		if (ul > 255 || pl > 255)
			return -EINVAL;
		out[n++] = 1, out[n++] = (uint8_t)ul;
		memcpy(out + n, c->socks_user, ul), n += ul;
		out[n++] = (uint8_t)pl;
		memcpy(out + n, c->socks_password, pl), n += pl;
	}
	out[n++] = 5, out[n++] = SOCKS_CMD_CONNECT, out[n++] = 0;
	if (dst->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)dst;
		out[n++] = 1;
		memcpy(out + n, &s->sin_addr, 4), n += 4;
		memcpy(out + n, &s->sin_port, 2), n += 2;
	} else if (dst->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)dst;
		out[n++] = 4;
		memcpy(out + n, &s->sin6_addr, 16), n += 16;
		memcpy(out + n, &s->sin6_port, 2), n += 2;
	} else {
		return -EINVAL;
	}
	return (int)n;
}

/* VN 4, CD 1 (CONNECT), port, IPv4 address, user id "" and its NUL. An
 * IPv6 address goes as SOCKS4a: address 0.0.0.1, then the host name, which
 * the concentrator takes as an address literal without resolving it. */
static int socks4_opening(const struct sockaddr *dst, uint8_t *out, size_t cap)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)dst;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)dst;
	char host[INET6_ADDRSTRLEN];
	size_t n = 0, hl;

	if (cap < 9 + sizeof(host))
		return -ENOSPC;
	out[n++] = 4, out[n++] = SOCKS_CMD_CONNECT;
	if (dst->sa_family == AF_INET) {
		memcpy(out + n, &s4->sin_port, 2), n += 2;
		memcpy(out + n, &s4->sin_addr, 4), n += 4;
		out[n++] = 0;
		return (int)n;
	}
	if (dst->sa_family != AF_INET6 ||
	    !inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host)))
		return -EINVAL;
	memcpy(out + n, &s6->sin6_port, 2), n += 2;
	out[n++] = 0, out[n++] = 0, out[n++] = 0, out[n++] = 1;
	out[n++] = 0;
	hl = strlen(host) + 1;
	memcpy(out + n, host, hl), n += hl;
	return (int)n;
}

int carrier_opening(const struct cpe_config *c, const struct sockaddr *dst,
		    const struct sockaddr *src, uint8_t *out, size_t cap)
{
	switch (c->protocol) {
	case CPE_PROTO_SOCKS5:
		return socks5_opening(c, dst, out, cap);
	case CPE_PROTO_SOCKS4:
		return socks4_opening(dst, out, cap);
	default:
		return convert_opening(c, dst, src, out, cap);
	}
}

static void set(struct carrier_answer *a, enum carrier_result r, const char *why)
{
	a->result = r;
	a->why = why;
}

static void convert_error(const struct convert_msg *m, struct carrier_answer *a)
{
	a->convert_error = m->error_code;
	switch (m->error_code) {
	case CONVERT_E_CONNECTION_RESET:
		set(a, CARRIER_REFUSED, "Connection Reset");
		break;
	case CONVERT_E_DEST_UNREACHABLE:
		a->icmp_code = m->error_value_len ? m->error_value[0] : 1;
		set(a, CARRIER_UNREACHABLE, "Destination Unreachable");
		break;
	default:
		set(a, CARRIER_FAILED, convert_error_name(m->error_code));
		break;
	}
}

static void convert_answer(const uint8_t *buf, size_t len, struct carrier_answer *a)
{
	static struct convert_msg m; /* large; the CPE is single-threaded */
	struct convert_fault f;
	size_t used;

	switch (convert_decode(buf, len, &m, &used, &f)) {
	case CONVERT_SHORT:
		set(a, CARRIER_MORE, "short");
		return;
	case CONVERT_BAD:
		set(a, CARRIER_FAILED, f.reason);
		return;
	case CONVERT_OK:
		break;
	}
	if (m.present & CONVERT_HAS_ERROR) {
		convert_error(&m, a);
		return;
	}
	a->consumed = used;
	set(a, CARRIER_OK, "connected");
}

static void socks5_reply_code(uint8_t rep, struct carrier_answer *a)
{
	switch (rep) {
	case SOCKS5_CONN_REFUSED:
		set(a, CARRIER_REFUSED, "SOCKS5 connection refused");
		break;
	case SOCKS5_NET_UNREACHABLE:
		a->icmp_code = 0;
		set(a, CARRIER_UNREACHABLE, "SOCKS5 network unreachable");
		break;
	case SOCKS5_HOST_UNREACHABLE:
		a->icmp_code = 1;
		set(a, CARRIER_UNREACHABLE, "SOCKS5 host unreachable");
		break;
	default:
		set(a, CARRIER_FAILED, "SOCKS5 failure reply");
		break;
	}
}

/* Bytes of a SOCKS5 reply with its bound address, or 0 if not yet known. */
static size_t socks5_reply_len(const uint8_t *p, size_t len)
{
	if (len < 5)
		return 0;
	switch (p[3]) {
	case 1: return 10;
	case 4: return 22;
	case 3: return 7 + (size_t)p[4];
	default: return (size_t)-1;
	}
}

/* The pipelined answers: method choice, sub-negotiation status if any,
 * then the CONNECT reply. Returns the static reason of a failure, or NULL
 * with a->result set. */
static const char *socks5_check(const struct cpe_config *c, const uint8_t *buf,
				size_t len, struct carrier_answer *a)
{
	size_t off = c->socks_user ? 4 : 2, rlen;

	a->result = CARRIER_MORE;
	if (len >= 2 && (buf[0] != 5 || buf[1] != (c->socks_user ? SOCKS5_METHOD_USERPASS
								  : SOCKS5_METHOD_NONE)))
		return "SOCKS5 method refused";
	if (c->socks_user && len >= 4 && (buf[2] != 1 || buf[3] != 0))
		return "SOCKS5 authentication failed";
	if (len < off + 2)
		return NULL;
	if (buf[off] != 5)
		return "SOCKS5 malformed reply";
	if (buf[off + 1] != SOCKS5_SUCCEEDED) {
		socks5_reply_code(buf[off + 1], a);
		return NULL;
	}
	rlen = socks5_reply_len(buf + off, len - off);
	if (rlen == (size_t)-1)
		return "SOCKS5 malformed reply";
	if (rlen && len - off >= rlen) {
		a->consumed = off + rlen;
		set(a, CARRIER_OK, "connected");
	}
	return NULL;
}

static void socks5_answer(const struct cpe_config *c, const uint8_t *buf,
			  size_t len, struct carrier_answer *a)
{
	const char *bad = socks5_check(c, buf, len, a);

	if (bad)
		set(a, CARRIER_FAILED, bad);
	else if (a->result == CARRIER_MORE)
		a->why = "short";
}

/* VN 0 (some servers write 4), CD, port, address: 8 bytes. 0x5B is
 * SOCKS4's only failure of the connection itself, whatever the cause, so
 * a refused port and an unreachable host both become a RST. 0x5C and 0x5D
 * concern identd, which the empty user id does not use. */
static void socks4_answer(const uint8_t *buf, size_t len, struct carrier_answer *a)
{
	if (len >= 1 && buf[0] != 0 && buf[0] != 4) {
		set(a, CARRIER_FAILED, "SOCKS4 malformed reply");
		return;
	}
	if (len < 2) {
		set(a, CARRIER_MORE, "short");
		return;
	}
	switch (buf[1]) {
	case SOCKS4_GRANTED:
		break;
	case SOCKS4_REJECTED:
		set(a, CARRIER_REFUSED, "SOCKS4 request rejected or failed");
		return;
	default:
		set(a, CARRIER_FAILED, "SOCKS4 failure reply");
		return;
	}
	if (len < 8) {
		set(a, CARRIER_MORE, "short");
		return;
	}
	a->consumed = 8;
	set(a, CARRIER_OK, "connected");
}

void carrier_answer(const struct cpe_config *c, const uint8_t *buf, size_t len,
		    struct carrier_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->convert_error = -1;
	switch (c->protocol) {
	case CPE_PROTO_SOCKS5:
		socks5_answer(c, buf, len, a);
		break;
	case CPE_PROTO_SOCKS4:
		socks4_answer(buf, len, a);
		break;
	default:
		convert_answer(buf, len, a);
		break;
	}
}
