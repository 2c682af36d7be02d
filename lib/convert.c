/* RFC 8803 (0-RTT TCP Convert) codec: see convert.h. */
#include "convert.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* A fault value is meant to be echoed in an Error TLV: header, type,
 * length and code leave 1013 bytes for it in a 1020-byte message. */
#define FAULT_VALUE_MAX (CONVERT_MAX_LEN - CONVERT_HDR_LEN - 3)

/* Where the TLV walk stands; the message being decoded is private until it
 * is complete. */
struct decoder {
	const uint8_t *buf;
	size_t avail; /* bytes we may read: min(len, total) */
	size_t total; /* message bytes according to the header */
	struct convert_msg msg;
	struct convert_fault *fault;
};

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static enum convert_status fault_set(struct convert_fault *f, uint8_t code,
				     const uint8_t *value, size_t len,
				     size_t offset, const char *reason)
{
	f->code = code;
	f->value_len = min_size(len, FAULT_VALUE_MAX);
	memcpy(f->value, value, f->value_len);
	f->offset = offset;
	f->reason = reason;
	return CONVERT_BAD;
}

static enum convert_status fault_version(struct convert_fault *f)
{
	static const uint8_t supported[] = { CONVERT_VERSION };

	return fault_set(f, CONVERT_E_UNSUPPORTED_VERSION, supported,
			 sizeof(supported), 0, "unsupported version");
}

static enum convert_status fault_header(const uint8_t *buf, size_t len,
					struct convert_fault *f,
					const char *reason)
{
	return fault_set(f, CONVERT_E_MALFORMED, buf,
			 min_size(len, CONVERT_HDR_LEN), 0, reason);
}

/* Checks each header byte as soon as it is there, so that a peer that is
 * not speaking Convert is refused without waiting for more. */
static enum convert_status header_check(const uint8_t *buf, size_t len,
					struct convert_fault *f)
{
	if (len < 1)
		return CONVERT_SHORT;
	if (buf[0] != CONVERT_VERSION)
		return fault_version(f);
	if (len < 2)
		return CONVERT_SHORT;
	if (buf[1] == 0)
		return fault_header(buf, len, f, "total length 0");
	if (len >= 3 && buf[2] != CONVERT_MAGIC >> 8)
		return fault_header(buf, len, f, "bad magic number");
	if (len >= 4 && buf[3] != (CONVERT_MAGIC & 0xff))
		return fault_header(buf, len, f, "bad magic number");
	return len < CONVERT_HDR_LEN ? CONVERT_SHORT : CONVERT_OK;
}

/* The offending TLV as far as it is known and present: its declared
 * length, or type and length alone when that is 0 or not yet read. */
static enum convert_status tlv_fault(struct decoder *d, size_t off,
				     uint8_t code, const char *reason)
{
	size_t tlv_len = off + 1 < d->avail ? d->buf[off + 1] * 4u : 0;
	size_t end = off + (tlv_len > 2 ? tlv_len : 2);

	return fault_set(d->fault, code, d->buf + off,
			 min_size(end, d->avail) - off, off, reason);
}

static uint32_t tlv_bit(uint8_t type)
{
	switch (type) {
	case CONVERT_TLV_INFO:
		return CONVERT_HAS_INFO;
	case CONVERT_TLV_CONNECT:
		return CONVERT_HAS_CONNECT;
	case CONVERT_TLV_EXT_TCP_HDR:
		return CONVERT_HAS_EXT_TCP_HDR;
	case CONVERT_TLV_SUPPORTED_EXT:
		return CONVERT_HAS_SUPPORTED_EXT;
	case CONVERT_TLV_COOKIE:
		return CONVERT_HAS_COOKIE;
	case CONVERT_TLV_ERROR:
		return CONVERT_HAS_ERROR;
	case CONVERT_TLV_AUTH:
		return CONVERT_HAS_AUTH;
	case CONVERT_TLV_SOURCE:
		return CONVERT_HAS_SOURCE;
	}
	return 0;
}

/* The type byte alone already condemns an unknown or repeated TLV. */
static enum convert_status tlv_type_check(struct decoder *d, size_t off)
{
	uint32_t bit = tlv_bit(d->buf[off]);

	if (!bit)
		return tlv_fault(d, off, CONVERT_E_UNSUPPORTED_MESSAGE,
				 "unsupported TLV type");
	if (d->msg.present & bit)
		return tlv_fault(d, off, CONVERT_E_MALFORMED, "duplicate TLV");
	return CONVERT_OK;
}

/* Info has a fixed size and Connect a minimum one: the length byte is
 * enough to refuse them. */
static bool tlv_len_fits_type(uint8_t type, size_t tlv_len)
{
	if (type == CONVERT_TLV_INFO)
		return tlv_len == 4;
	if (type == CONVERT_TLV_CONNECT)
		return tlv_len >= 20;
	return true;
}

static enum convert_status tlv_len_check(struct decoder *d, size_t off)
{
	size_t tlv_len = d->buf[off + 1] * 4u;

	if (tlv_len == 0)
		return tlv_fault(d, off, CONVERT_E_MALFORMED, "TLV length 0");
	if (tlv_len > d->total - off)
		return tlv_fault(d, off, CONVERT_E_MALFORMED,
				 "TLV runs past total length");
	if (!tlv_len_fits_type(d->buf[off], tlv_len))
		return tlv_fault(d, off, CONVERT_E_MALFORMED,
				 "bad length for TLV type");
	return CONVERT_OK;
}

int convert_tcpopts_check(const uint8_t *opts, size_t len)
{
	size_t i = 0;

	if (len > CONVERT_OPT_MAX)
		return -1;
	while (i < len && opts[i] != 0) {
		if (opts[i] == 1 || len - i < 2 || opts[i + 1] < 2 ||
		    opts[i + 1] > len - i)
			return -1;
		i += opts[i + 1];
	}
	for (size_t pad = i; pad < len; pad++)
		if (opts[pad] != 0)
			return -1;
	return (int)i;
}

static bool opts_copy(uint8_t *dst, size_t *dst_len, const uint8_t *src,
		      size_t len)
{
	int n = convert_tcpopts_check(src, len);

	if (n < 0)
		return false;
	memcpy(dst, src, n);
	*dst_len = n;
	return true;
}

static bool connect_decode(struct convert_msg *m, const uint8_t *t, size_t len)
{
	m->connect_port = (uint16_t)(t[2] << 8 | t[3]);
	memcpy(&m->connect_addr, t + 4, 16);
	return opts_copy(m->connect_opts, &m->connect_opts_len, t + 20,
			 len - 20);
}

/* EOL, NOP and MSS are always supported, so listing them is an error;
 * zeros after the last kind are only padding. */
static bool supported_decode(struct convert_msg *m, const uint8_t *t,
			     size_t len)
{
	size_t n = len - 4;

	while (n > 0 && t[4 + n - 1] == 0)
		n--;
	for (size_t i = 0; i < n; i++)
		if (t[4 + i] <= 2)
			return false;
	memcpy(m->supported, t + 4, n);
	m->supported_len = n;
	return true;
}

static void bytes_copy(uint8_t *dst, size_t *dst_len, const uint8_t *src,
		       size_t len)
{
	memcpy(dst, src, len);
	*dst_len = len;
}

/* The TLV length was checked against its type. Unassigned and zero fields
 * are ignored on receipt, so that a peer giving them a meaning later is
 * still understood. */
static bool tlv_value_decode(struct convert_msg *m, const uint8_t *t,
			     size_t len)
{
	switch (t[0]) {
	case CONVERT_TLV_INFO:
		return true;
	case CONVERT_TLV_CONNECT:
		return connect_decode(m, t, len);
	case CONVERT_TLV_EXT_TCP_HDR:
		return opts_copy(m->ext_opts, &m->ext_opts_len, t + 4, len - 4);
	case CONVERT_TLV_SUPPORTED_EXT:
		return supported_decode(m, t, len);
	case CONVERT_TLV_COOKIE:
		bytes_copy(m->cookie, &m->cookie_len, t + 4, len - 4);
		return true;
	case CONVERT_TLV_ERROR:
		m->error_code = t[2];
		bytes_copy(m->error_value, &m->error_value_len, t + 3, len - 3);
		return true;
	case CONVERT_TLV_AUTH:
		bytes_copy(m->auth, &m->auth_len, t + 2, len - 2);
		return true;
	case CONVERT_TLV_SOURCE:
		bytes_copy(m->source, &m->source_len, t + 2, len - 2);
		return true;
	}
	return false;
}

/* Checks in the order the bytes arrive, so a truncated message fails the
 * same way as the whole one would, only sooner. */
static enum convert_status tlv_frame_check(struct decoder *d, size_t off)
{
	enum convert_status st = tlv_type_check(d, off);

	if (st != CONVERT_OK)
		return st;
	if (off + 2 > d->avail)
		return CONVERT_SHORT;
	st = tlv_len_check(d, off);
	if (st != CONVERT_OK)
		return st;
	return d->buf[off + 1] * 4u > d->avail - off ? CONVERT_SHORT
						     : CONVERT_OK;
}

static enum convert_status tlv_decode(struct decoder *d, size_t *off)
{
	enum convert_status st = tlv_frame_check(d, *off);
	size_t tlv_len;

	if (st != CONVERT_OK)
		return st;
	tlv_len = d->buf[*off + 1] * 4u;
	if (!tlv_value_decode(&d->msg, d->buf + *off, tlv_len))
		return tlv_fault(d, *off, CONVERT_E_MALFORMED, "bad TLV value");
	d->msg.present |= tlv_bit(d->buf[*off]);
	*off += tlv_len;
	return CONVERT_OK;
}

static enum convert_status tlvs_decode(struct decoder *d)
{
	enum convert_status st = CONVERT_OK;
	size_t off = CONVERT_HDR_LEN;

	while (st == CONVERT_OK && off < d->total) {
		if (off >= d->avail)
			return CONVERT_SHORT;
		st = tlv_decode(d, &off);
	}
	return st;
}

enum convert_status convert_decode(const uint8_t *buf, size_t len,
				   struct convert_msg *msg, size_t *consumed,
				   struct convert_fault *fault)
{
	struct decoder d = { 0 };
	enum convert_status st = header_check(buf, len, fault);

	if (st == CONVERT_OK) {
		d.buf = buf;
		d.total = buf[1] * 4u;
		d.avail = min_size(len, d.total);
		d.fault = fault;
		st = tlvs_decode(&d);
	}
	if (st == CONVERT_SHORT)
		*consumed = len >= 2 ? buf[1] * 4u : 0;
	if (st == CONVERT_OK) {
		*msg = d.msg;
		*consumed = d.total;
	}
	return st;
}

/* Appends type, length, head, body and zero padding, or nothing at all. */
static int tlv_append(struct convert_builder *b, uint8_t type,
		      const uint8_t *head, size_t head_len, const uint8_t *body,
		      size_t body_len)
{
	size_t used = 2 + head_len + body_len;
	size_t padded = (used + 3) & ~(size_t)3;
	uint8_t *p = b->buf + b->len;

	if (body_len > CONVERT_MAX_LEN || padded > CONVERT_MAX_LEN - b->len)
		return -ENOSPC;
	p[0] = type;
	p[1] = (uint8_t)(padded / 4);
	if (head_len)
		memcpy(p + 2, head, head_len);
	if (body_len)
		memcpy(p + 2 + head_len, body, body_len);
	memset(p + used, 0, padded - used);
	b->len += padded;
	return 0;
}

static bool builder_has(const struct convert_builder *b, uint8_t type)
{
	size_t off = CONVERT_HDR_LEN;

	while (off + 2 <= b->len && b->buf[off + 1]) {
		if (b->buf[off] == type)
			return true;
		off += b->buf[off + 1] * 4u;
	}
	return false;
}

/* The typed puts refuse a second TLV of a type, which the peer would
 * reject as malformed; convert_put_tlv stays raw so tests can craft one. */
static int tlv_put_once(struct convert_builder *b, uint8_t type,
			const uint8_t *head, size_t head_len,
			const uint8_t *body, size_t body_len)
{
	if (builder_has(b, type))
		return -EINVAL;
	return tlv_append(b, type, head, head_len, body, body_len);
}

/* Options go out without their trailing padding: the TLV pads anyway. */
static int opts_len_checked(const uint8_t *opts, size_t len)
{
	if (!opts && len)
		return -1;
	return convert_tcpopts_check(opts, len);
}

void convert_begin(struct convert_builder *b)
{
	b->buf[0] = CONVERT_VERSION;
	b->buf[1] = 0; /* convert_finish knows the length */
	b->buf[2] = CONVERT_MAGIC >> 8;
	b->buf[3] = CONVERT_MAGIC & 0xff;
	b->len = CONVERT_HDR_LEN;
}

int convert_put_info(struct convert_builder *b)
{
	static const uint8_t zero[2];

	return tlv_put_once(b, CONVERT_TLV_INFO, zero, sizeof(zero), NULL, 0);
}

int convert_put_connect(struct convert_builder *b, const struct in6_addr *addr,
			uint16_t port, const uint8_t *opts, size_t opts_len)
{
	int n = opts_len_checked(opts, opts_len);
	uint8_t head[18];

	if (n < 0 || !addr)
		return -EINVAL;
	head[0] = port >> 8;
	head[1] = port & 0xff;
	memcpy(head + 2, addr, 16);
	return tlv_put_once(b, CONVERT_TLV_CONNECT, head, sizeof(head), opts,
			    n);
}

int convert_put_connect_sa(struct convert_builder *b, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	const struct sockaddr_in *sin = (const void *)sa;
	struct in6_addr mapped = { 0 };

	if (sa && sa->sa_family == AF_INET6)
		return convert_put_connect(b, &sin6->sin6_addr,
					   ntohs(sin6->sin6_port), NULL, 0);
	if (!sa || sa->sa_family != AF_INET)
		return -EINVAL;
	mapped.s6_addr[10] = 0xff;
	mapped.s6_addr[11] = 0xff;
	memcpy(mapped.s6_addr + 12, &sin->sin_addr, 4);
	return convert_put_connect(b, &mapped, ntohs(sin->sin_port), NULL, 0);
}

int convert_put_ext_tcp_hdr(struct convert_builder *b, const uint8_t *opts,
			    size_t opts_len)
{
	static const uint8_t unassigned[2];
	int n = opts_len_checked(opts, opts_len);

	if (n < 0)
		return -EINVAL;
	return tlv_put_once(b, CONVERT_TLV_EXT_TCP_HDR, unassigned,
			    sizeof(unassigned), opts, n);
}

int convert_put_supported_ext(struct convert_builder *b, const uint8_t *kinds,
			      size_t n)
{
	static const uint8_t unassigned[2];

	if (!kinds && n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (kinds[i] <= 2)
			return -EINVAL;
	return tlv_put_once(b, CONVERT_TLV_SUPPORTED_EXT, unassigned,
			    sizeof(unassigned), kinds, n);
}

int convert_put_cookie(struct convert_builder *b, const uint8_t *cookie,
		       size_t len)
{
	static const uint8_t zero[2];

	if (!cookie && len)
		return -EINVAL;
	return tlv_put_once(b, CONVERT_TLV_COOKIE, zero, sizeof(zero), cookie,
			    len);
}

int convert_put_error(struct convert_builder *b, uint8_t code,
		      const uint8_t *value, size_t value_len)
{
	if (!value && value_len)
		return -EINVAL;
	return tlv_put_once(b, CONVERT_TLV_ERROR, &code, 1, value, value_len);
}

int convert_put_auth(struct convert_builder *b, const uint8_t *value,
		     size_t value_len)
{
	if (!value && value_len)
		return -EINVAL;
	return tlv_put_once(b, CONVERT_TLV_AUTH, NULL, 0, value, value_len);
}

int convert_put_source_sa(struct convert_builder *b, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	const struct sockaddr_in *sin = (const void *)sa;
	uint8_t v[CONVERT_SOURCE_TLV_LEN - 2] = { 0 };

	if (sa && sa->sa_family == AF_INET6) {
		memcpy(v, &sin6->sin6_port, 2);
		memcpy(v + 2, &sin6->sin6_addr, 16);
	} else if (sa && sa->sa_family == AF_INET) {
		memcpy(v, &sin->sin_port, 2);
		v[12] = v[13] = 0xff;
		memcpy(v + 14, &sin->sin_addr, 4);
	} else {
		return -EINVAL;
	}
	return tlv_put_once(b, CONVERT_TLV_SOURCE, v, sizeof(v), NULL, 0);
}

/* Addresses that never open a TCP connection from a LAN. */
static bool source_v4_ok(const uint8_t *a)
{
	static const uint8_t bcast[4] = { 255, 255, 255, 255 };

	return a[0] != 0 && a[0] != 127 && (a[0] & 0xf0) != 0xe0 &&
	       memcmp(a, bcast, 4) != 0;
}

static bool source_v6_ok(const struct in6_addr *a)
{
	return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LOOPBACK(a) &&
	       !IN6_IS_ADDR_MULTICAST(a);
}

bool convert_source_parse(const struct convert_msg *m,
			  struct sockaddr_storage *out, socklen_t *out_len,
			  const char **why)
{
	struct sockaddr_storage ss = { 0 };
	struct in6_addr a;
	uint16_t port;
	bool v4;

	*why = NULL;
	if (!(m->present & CONVERT_HAS_SOURCE))
		*why = "no Source TLV";
	else if (m->source_len != CONVERT_SOURCE_TLV_LEN - 2)
		*why = "Source TLV length is not 5 words";
	if (*why)
		return false;
	port = (uint16_t)(m->source[0] << 8 | m->source[1]);
	memcpy(&a, m->source + 2, 16);
	v4 = IN6_IS_ADDR_V4MAPPED(&a);
	if (!port)
		*why = "Source TLV port 0";
	else if (v4 ? !source_v4_ok(a.s6_addr + 12) : !source_v6_ok(&a))
		*why = "Source TLV address no client can have";
	if (*why)
		return false;
	if (v4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a.s6_addr + 12, 4);
		*out_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = a;
		*out_len = sizeof(*sin6);
	}
	*out = ss;
	return true;
}

int convert_put_tlv(struct convert_builder *b, uint8_t type,
		    const uint8_t *value, size_t value_len)
{
	if (!value && value_len)
		return -EINVAL;
	return tlv_append(b, type, NULL, 0, value, value_len);
}

size_t convert_finish(struct convert_builder *b)
{
	b->buf[1] = (uint8_t)(b->len / 4);
	return b->len;
}

static const struct {
	uint8_t code;
	const char *name;
} error_names[] = {
	{ CONVERT_E_UNSUPPORTED_VERSION, "Unsupported Version" },
	{ CONVERT_E_MALFORMED, "Malformed Message" },
	{ CONVERT_E_UNSUPPORTED_MESSAGE, "Unsupported Message" },
	{ CONVERT_E_MISSING_COOKIE, "Missing Cookie" },
	{ CONVERT_E_NOT_AUTHORIZED, "Not Authorized" },
	{ CONVERT_E_UNSUPPORTED_TCP_OPTION, "Unsupported TCP Option" },
	{ CONVERT_E_RESOURCE_EXCEEDED, "Resource Exceeded" },
	{ CONVERT_E_NETWORK_FAILURE, "Network Failure" },
	{ CONVERT_E_CONNECTION_RESET, "Connection Reset" },
	{ CONVERT_E_DEST_UNREACHABLE, "Destination Unreachable" },
};

const char *convert_error_name(uint8_t code)
{
	for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]);
	     i++)
		if (error_names[i].code == code)
			return error_names[i].name;
	return "unknown";
}

bool convert_tlv_next(const uint8_t *msg, size_t len, size_t *off,
		      const uint8_t **tlv, size_t *tlv_len)
{
	size_t n;

	if (*off + 2 > len)
		return false;
	n = msg[*off + 1] * 4u;
	if (n == 0 || n > len - *off)
		return false;
	*tlv = msg + *off;
	*tlv_len = n;
	*off += n;
	return true;
}
