/* RFC 8803 (0-RTT TCP Convert) message codec.
 *
 * Wire layout, network byte order:
 *   header  : version(8)=1 | total length(8, 32-bit words, header included) |
 *             magic(16)=0x2263
 *   TLV     : type(8) | length(8, 32-bit words, type+length+value) | value,
 *             zero padded to a multiple of 4 bytes
 * At most 255 words (1020 bytes) of Convert messages; user data follows.
 *
 * The decoder never keeps pointers into its input: everything it returns is
 * copied into struct convert_msg, which is written only on success. */
#ifndef MPTUN_CONVERT_H
#define MPTUN_CONVERT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONVERT_VERSION 1
#define CONVERT_MAGIC 0x2263
#define CONVERT_HDR_LEN 4
#define CONVERT_MAX_LEN 1020 /* 255 words */
#define CONVERT_OPT_MAX 1016 /* bytes of options / opaque values a TLV can hold */

enum convert_tlv_type {
	CONVERT_TLV_INFO = 0x01,
	CONVERT_TLV_CONNECT = 0x0a,
	CONVERT_TLV_EXT_TCP_HDR = 0x14,
	CONVERT_TLV_SUPPORTED_EXT = 0x15,
	CONVERT_TLV_COOKIE = 0x16,
	CONVERT_TLV_ERROR = 0x1e,
	CONVERT_TLV_AUTH = 0xc0,   /* mptun private use */
	CONVERT_TLV_SOURCE = 0xc1, /* mptun private use */
};

/* Bits of convert_msg.present, one per TLV type seen. */
#define CONVERT_HAS_INFO (1u << 0)
#define CONVERT_HAS_CONNECT (1u << 1)
#define CONVERT_HAS_EXT_TCP_HDR (1u << 2)
#define CONVERT_HAS_SUPPORTED_EXT (1u << 3)
#define CONVERT_HAS_COOKIE (1u << 4)
#define CONVERT_HAS_ERROR (1u << 5)
#define CONVERT_HAS_AUTH (1u << 6)
#define CONVERT_HAS_SOURCE (1u << 7)

enum convert_error_code {
	CONVERT_E_UNSUPPORTED_VERSION = 0,
	CONVERT_E_MALFORMED = 1,
	CONVERT_E_UNSUPPORTED_MESSAGE = 2,
	CONVERT_E_MISSING_COOKIE = 3,
	CONVERT_E_NOT_AUTHORIZED = 32,
	CONVERT_E_UNSUPPORTED_TCP_OPTION = 33,
	CONVERT_E_RESOURCE_EXCEEDED = 64,
	CONVERT_E_NETWORK_FAILURE = 65,
	CONVERT_E_CONNECTION_RESET = 96,
	CONVERT_E_DEST_UNREACHABLE = 97,
};

struct convert_msg {
	uint32_t present; /* CONVERT_HAS_* */

	/* Connect: IPv4 destinations are v4-mapped. opts holds the TCP options
	 * of the extended form, validated (kind, len >= 2, no EOL/NOP). */
	struct in6_addr connect_addr;
	uint16_t connect_port; /* host byte order */
	uint8_t connect_opts[CONVERT_OPT_MAX];
	size_t connect_opts_len;

	/* Extended TCP Header: the server's SYN-ACK options, validated. */
	uint8_t ext_opts[CONVERT_OPT_MAX];
	size_t ext_opts_len;

	/* Supported TCP Extensions: one option kind per byte (0, 1, 2
	 * forbidden); trailing zero padding is not included. */
	uint8_t supported[CONVERT_OPT_MAX];
	size_t supported_len;

	/* Cookie: opaque bytes as sent (padding included). */
	uint8_t cookie[CONVERT_OPT_MAX];
	size_t cookie_len;

	/* Error: code and its raw value bytes (padding included). */
	uint8_t error_code;
	uint8_t error_value[CONVERT_OPT_MAX];
	size_t error_value_len;

	/* Private-use TLVs, opaque value bytes (after type and length). */
	uint8_t auth[CONVERT_OPT_MAX];
	size_t auth_len;
	uint8_t source[CONVERT_OPT_MAX];
	size_t source_len;
};

enum convert_status {
	CONVERT_OK = 0,    /* *msg and *consumed written */
	CONVERT_SHORT = 1, /* need more bytes: *consumed = total bytes needed, if known, else 0 */
	CONVERT_BAD = 2,   /* *fault written: what to answer */
};

/* What the peer did wrong, ready to be sent back in an Error TLV. */
struct convert_fault {
	uint8_t code;             /* enum convert_error_code */
	uint8_t value[CONVERT_OPT_MAX];
	size_t value_len;         /* for MALFORMED/UNSUPPORTED_MESSAGE: the offending
	                             TLV bytes (truncated to fit); for
	                             UNSUPPORTED_VERSION: the supported versions (1) */
	size_t offset;            /* byte offset of the offending part in the input */
	const char *reason;       /* static English text for logs */
};

/* Decode the Convert messages at the start of buf. On CONVERT_OK *consumed
 * is the number of bytes of Convert messages (user data starts there). */
enum convert_status convert_decode(const uint8_t *buf, size_t len,
				   struct convert_msg *msg, size_t *consumed,
				   struct convert_fault *fault);

/* Validate a TCP options block as RFC 8803 requires in Connect and
 * Extended TCP Header TLVs: each option kind, len >= 2 fitting the block; EOL
 * and NOP forbidden, except zero bytes as trailing padding. Returns the
 * length without padding, or -1. */
int convert_tcpopts_check(const uint8_t *opts, size_t len);

/* Builder: convert_begin, then convert_put_* in any order, then
 * convert_finish. Every put returns 0, or -ENOSPC when the 1020-byte limit
 * would be passed (the builder is then unchanged), or -EINVAL for a value the
 * RFC forbids. */
struct convert_builder {
	uint8_t buf[CONVERT_MAX_LEN];
	size_t len;
};

void convert_begin(struct convert_builder *b);
int convert_put_info(struct convert_builder *b);
int convert_put_connect(struct convert_builder *b, const struct in6_addr *addr,
			uint16_t port, const uint8_t *opts, size_t opts_len);
int convert_put_connect_sa(struct convert_builder *b,
			   const struct sockaddr *sa); /* AF_INET or AF_INET6 */
int convert_put_ext_tcp_hdr(struct convert_builder *b, const uint8_t *opts,
			    size_t opts_len);
int convert_put_supported_ext(struct convert_builder *b, const uint8_t *kinds,
			      size_t n);
int convert_put_cookie(struct convert_builder *b, const uint8_t *cookie,
		       size_t len);
int convert_put_error(struct convert_builder *b, uint8_t code,
		      const uint8_t *value, size_t value_len);
/* mptun's Auth TLV (auth.h builds its value), at most one. */
int convert_put_auth(struct convert_builder *b, const uint8_t *value,
		     size_t value_len);
/* mptun's Source TLV (type 0xC1, private use): the LAN client's own
 * address and port, so that a concentrator configured for it can keep them
 * (address preservation). Sent CPE -> concentrator only, in the opening
 * with the Connect TLV, and only when the CPE's carrier.source is true.
 * Laid out like the Connect TLV without its options:
 *
 *   offset  size  field
 *   0       1     type = 0xC1
 *   1       1     length = 5 (32-bit words, type and length included)
 *   2       2     the client's TCP port, network byte order
 *   4       16    the client's address: IPv6, or IPv4 as v4-mapped
 *                 (::ffff:a.b.c.d)
 *
 * 20 bytes, no padding, no extended form: any other length is malformed.
 * The CPE puts it before the Auth TLV, whose MAC covers every other TLV
 * (auth.h), so a signed opening's source cannot be changed on the way. A
 * concentrator that does not preserve addresses may ignore it; one that
 * does decides by its own policy (a prefix delegated to that CPE) whether
 * to bind to it. */
#define CONVERT_SOURCE_TLV_LEN 20
/* The client's address and port: AF_INET (put as v4-mapped) or AF_INET6.
 * -EINVAL for another family or a second Source TLV. */
int convert_put_source_sa(struct convert_builder *b, const struct sockaddr *sa);
/* Decode the Source TLV of m (a message convert_decode accepted) into *out
 * and *out_len: v4-mapped becomes AF_INET, the port is in sin_port /
 * sin6_port. false, *out untouched, with *why (static text for logs) when
 * m has no Source TLV or its value is malformed: a length other than 5
 * words, port 0, or an address no TCP client can have (unspecified,
 * loopback, multicast, IPv4 broadcast or 0.0.0.0/8). Answer a malformed
 * one with Malformed Message. */
bool convert_source_parse(const struct convert_msg *m,
			  struct sockaddr_storage *out, socklen_t *out_len,
			  const char **why);
/* Any TLV, for private types and tests. value is padded with zeros. */
int convert_put_tlv(struct convert_builder *b, uint8_t type,
		    const uint8_t *value, size_t value_len);
/* Writes the total length into the header; returns the message length. */
size_t convert_finish(struct convert_builder *b);

const char *convert_error_name(uint8_t code);

/* Walk the TLVs of an encoded message: one convert_decode accepted (len =
 * the bytes it consumed) or a builder's buf and len. *off starts at
 * CONVERT_HDR_LEN. Returns true with the whole TLV (type, length, value,
 * padding) in *tlv and *tlv_len and *off past it; false at the end, or at
 * a TLV of length 0 or running past len. */
bool convert_tlv_next(const uint8_t *msg, size_t len, size_t *off,
		      const uint8_t **tlv, size_t *tlv_len);

#endif
