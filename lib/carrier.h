/* The CPE's side of the carrier protocol in plain mode: the opening bytes
 * that ride in the MPTCP SYN and the decoding of the concentrator's answer.
 * The openings, by carrier.protocol:
 *   convert: Convert header + Connect TLV (+ Source TLV with
 *            carrier.source, + Auth TLV with auth: last, its MAC covers the
 *            others)
 *   socks4:  a SOCKS4 CONNECT with an empty user id; an IPv6 destination,
 *            which SOCKS4 cannot carry, goes as SOCKS4a with the address
 *            in text as the host name (0.0.0.1, "", "2001:db8::1")
 *   socks5:  greeting, username/password if configured, and CONNECT, all
 *            pipelined
 * Transparent mode has no opening: these are not called. */
#ifndef MPTUN_CARRIER_H
#define MPTUN_CARRIER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cpe_config.h"

#define CARRIER_OPENING_MAX 1100

enum carrier_result {
	CARRIER_MORE,        /* need more bytes */
	CARRIER_OK,          /* connected; *consumed bytes were the answer */
	CARRIER_REFUSED,     /* the server refused: RST to the LAN SYN */
	CARRIER_UNREACHABLE, /* ICMP unreachable with *icmp_code */
	CARRIER_FAILED,      /* anything else: RST */
};

struct carrier_answer {
	enum carrier_result result;
	size_t consumed;   /* CARRIER_OK: bytes of answer before relayed data */
	uint8_t icmp_code; /* CARRIER_UNREACHABLE */
	const char *why;   /* static text for logs */
	int convert_error; /* the code of a Convert Error TLV received, -1: none */
};

/* Write the opening for a flow from the LAN client src to dst into out;
 * returns its length, or -ENOSPC / -EINVAL (dst, or src when
 * carrier.source needs it, neither IPv4 nor IPv6). src is used only with
 * carrier.source and may otherwise be NULL. Each call with auth signs
 * anew: its own timestamp (now) and nonce, so build one per connection
 * and do not reuse it for another. */
int carrier_opening(const struct cpe_config *c, const struct sockaddr *dst,
		    const struct sockaddr *src, uint8_t *out, size_t cap);
/* Decode the answer in buf (all bytes received so far). SOCKS4's one
 * failure code cannot tell a refused port from an unreachable host: both
 * are CARRIER_REFUSED (a RST to the LAN client). */
void carrier_answer(const struct cpe_config *c, const uint8_t *buf, size_t len,
		    struct carrier_answer *a);

#endif
