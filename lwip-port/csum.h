/* The Internet checksum (RFC 1071) for the flow NAT and the TUN's virtio
 * headers: sums of 16- and 32-bit words as loaded in host order, which a
 * one's complement sum does not care about (RFC 1071 2.(B)). */
#ifndef MPTUN_CSUM_H
#define MPTUN_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Callers pass pieces of even length, except the last of a sum. */
static inline uint64_t csum_add(uint64_t acc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t w;
	uint32_t v;
	uint16_t h;

	/* 64-bit words, their halves added: no carry is lost below 2^32
	 * words, far beyond any packet */
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		acc += (w & 0xffffffff) + (w >> 32);
	}
	if (len >= 4) {
		memcpy(&v, p, 4);
		acc += v;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = {*p, 0};

		memcpy(&h, last, 2);
		acc += h;
	}
	return acc;
}

/* End-around carry folding never turns a nonzero sum into 0. */
static inline uint16_t csum_fold(uint64_t acc)
{
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The TCP/ICMPv6 pseudo-header in its IPv6 form, which sums to the same as
 * the IPv4 one for lengths below 65536. addrs is src followed by dst. */
static inline uint64_t csum_pseudo(const uint8_t *addrs, size_t alen,
				   uint8_t proto, size_t l4_len)
{
	uint8_t tail[8] = {0};

	tail[0] = (uint8_t)(l4_len >> 24);
	tail[1] = (uint8_t)(l4_len >> 16);
	tail[2] = (uint8_t)(l4_len >> 8);
	tail[3] = (uint8_t)l4_len;
	tail[7] = proto;
	return csum_add(csum_add(0, addrs, 2 * alen), tail, sizeof(tail));
}

#endif
