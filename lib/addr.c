#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool host_bits_zero(const struct addr_prefix *p)
{
	size_t total = p->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < total; i++) {
		unsigned keep = p->len >= (i + 1) * 8 ? 8
				: p->len > i * 8   ? p->len - i * 8
						   : 0;
		uint8_t mask = keep ? (uint8_t)(0xff << (8 - keep)) : 0;
		if (p->bytes[i] & ~mask)
			return false;
	}
	return true;
}

bool addr_prefix_parse(const char *s, struct addr_prefix *out)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	struct addr_prefix p = { 0 };
	char *slash;
	unsigned long len;

	if (strlen(s) >= sizeof(tmp))
		return false;
	strcpy(tmp, s);
	slash = strchr(tmp, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, tmp, p.bytes) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, p.bytes) == 1)
		p.family = AF_INET6;
	else
		return false;
	len = p.family == AF_INET ? 32 : 128;
	if (slash && !parse_uint(slash + 1, len, &len))
		return false;
	p.len = (uint8_t)len;
	if (!host_bits_zero(&p))
		return false;
	*out = p;
	return true;
}

static const uint8_t *sa_bytes(const struct sockaddr *sa, int *family)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		*family = AF_INET;
		return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b =
			((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (!memcmp(b, mapped, sizeof(mapped))) {
			*family = AF_INET;
			return b + 12;
		}
		*family = AF_INET6;
		return b;
	}
	*family = AF_UNSPEC;
	return NULL;
}

bool addr_prefix_match(const struct addr_prefix *p, const struct sockaddr *sa)
{
	int family;
	const uint8_t *b = sa_bytes(sa, &family);
	unsigned full = p->len / 8, rest = p->len % 8;

	if (!b || family != p->family)
		return false;
	if (memcmp(b, p->bytes, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((b[full] & mask) != (p->bytes[full] & mask))
			return false;
	}
	return true;
}

bool addr_prefix_list_match(const struct addr_prefix_list *l,
			    const struct sockaddr *sa)
{
	for (size_t i = 0; i < l->n; i++)
		if (addr_prefix_match(&l->v[i], sa))
			return true;
	return false;
}

int addr_prefix_list_add(struct addr_prefix_list *l, const struct addr_prefix *p)
{
	struct addr_prefix *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	v[l->n++] = *p;
	l->v = v;
	return 0;
}

void addr_prefix_list_clear(struct addr_prefix_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool fill_host(const char *host, unsigned long port,
		      struct sockaddr_storage *out, socklen_t *out_len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	if (!strcmp(host, "*"))
		host = "::";
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
		sin.sin_port = htons((uint16_t)port);
		memset(out, 0, sizeof(*out));
		memcpy(out, &sin, sizeof(sin));
		*out_len = sizeof(sin);
		return true;
	}
	if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
		sin6.sin6_port = htons((uint16_t)port);
		memset(out, 0, sizeof(*out));
		memcpy(out, &sin6, sizeof(sin6));
		*out_len = sizeof(sin6);
		return true;
	}
	return false;
}

bool addr_parse(const char *s, int default_port, struct sockaddr_storage *out,
		socklen_t *out_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s = NULL;
	unsigned long port = default_port >= 0 ? (unsigned long)default_port : 0;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return false;
		hlen = (size_t)(close - s - 1);
		if (hlen >= sizeof(host))
			return false;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1])
			return false;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 without brackets: no port */
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (hlen >= sizeof(host))
			return false;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon)
			port_s = colon + 1;
	}
	if (port_s && !parse_uint(port_s, 65535, &port))
		return false;
	if (!port_s && default_port < 0)
		return false;
	return fill_host(host, port, out, out_len);
}

bool addr_parse_host(const char *s, struct sockaddr_storage *out,
		     socklen_t *out_len)
{
	if (!strcmp(s, "*"))
		return false;
	return fill_host(s, 0, out, out_len);
}

void addr_from_in6(const struct in6_addr *a, uint16_t port,
		   struct sockaddr_storage *out, socklen_t *out_len)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(port),
				     .sin6_addr = *a };

	addr_unmap((struct sockaddr *)&sin6, out, out_len);
}

void addr_unmap(const struct sockaddr *in, struct sockaddr_storage *out,
		socklen_t *out_len)
{
	int family;
	const uint8_t *b = sa_bytes(in, &family);

	memset(out, 0, sizeof(*out));
	if (in->sa_family == AF_INET6 && family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		sin->sin_port = ((const struct sockaddr_in6 *)in)->sin6_port;
		memcpy(&sin->sin_addr, b, 4);
		*out_len = sizeof(*sin);
	} else if (in->sa_family == AF_INET6) {
		memcpy(out, in, sizeof(struct sockaddr_in6));
		*out_len = sizeof(struct sockaddr_in6);
	} else {
		memcpy(out, in, sizeof(struct sockaddr_in));
		*out_len = sizeof(struct sockaddr_in);
	}
}

bool addr_equal_host(const struct sockaddr *a, const struct sockaddr *b)
{
	int fa, fb;
	const uint8_t *ba = sa_bytes(a, &fa), *bb = sa_bytes(b, &fb);

	if (!ba || !bb || fa != fb)
		return false;
	return !memcmp(ba, bb, fa == AF_INET ? 4 : 16);
}

uint16_t addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

const char *addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int family;
	const uint8_t *b = sa_bytes(sa, &family);

	if (!b || !inet_ntop(family, b, host, sizeof(host))) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 addr_port(sa));
	return buf;
}

const char *addr_host_str(const struct sockaddr *sa, char *buf, size_t len)
{
	int family;
	const uint8_t *b = sa_bytes(sa, &family);

	if (!b || !inet_ntop(family, b, buf, len))
		snprintf(buf, len, "?");
	return buf;
}
