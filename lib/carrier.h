/* The CPE's side of the carrier protocol: the opening bytes that ride in
 * the MPTCP SYN (Convert header + Connect TLV, + Auth TLV when the config
 * has auth, or a pipelined SOCKS5 exchange) and the decoding of the
 * concentrator's answer. */
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

/* Write the opening for dst into out; returns its length, or -ENOSPC /
 * -EINVAL (dst neither IPv4 nor IPv6). Each call with auth signs anew:
 * its own timestamp (now) and nonce, so build one per connection and do
 * not reuse it for another. */
int carrier_opening(const struct cpe_config *c, const struct sockaddr *dst,
		    uint8_t *out, size_t cap);
/* Decode the answer in buf (all bytes received so far). */
void carrier_answer(const struct cpe_config *c, const uint8_t *buf, size_t len,
		    struct carrier_answer *a);

#endif
