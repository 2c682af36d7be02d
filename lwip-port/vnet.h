/* The virtio-net header of a TUN device opened with IFF_VNET_HDR and
 * offloads (tun.c): it lets the kernel hand over and accept TCP packets of
 * up to 64 KiB with their checksum left partial, which it segments and
 * completes itself. Pure functions over byte buffers: no device here.
 *
 * Read side: a packet may arrive with VIRTIO_NET_HDR_F_NEEDS_CSUM, its TCP
 * checksum field holding only the pseudo-header sum (the kernel made it, or
 * GRO verified what it merged); vnet_csum_complete() finishes it.
 * Write side: lwIP's segments of one flow are coalesced into one packet
 * with a GSO header (vnet_batch_*), its checksum left partial. */
#ifndef MPTUN_VNET_H
#define MPTUN_VNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_LEN 10	   /* struct virtio_net_hdr */
#define VNET_PKT_MAX 65535 /* an IPv4 total length */

/* Host byte order, as a TUN device on a little-endian host uses it. */
struct vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

void vnet_hdr_get(const uint8_t *b, struct vnet_hdr *h);
void vnet_hdr_put(uint8_t *b, const struct vnet_hdr *h);

/* Complete the partial checksum h describes (NEEDS_CSUM) over pkt[0, len).
 * False, pkt untouched, when the field lies outside the packet. */
bool vnet_csum_complete(uint8_t *pkt, size_t len, const struct vnet_hdr *h);

/* lwIP's output towards the LAN, coalesced: consecutive full segments of
 * one flow (same headers but for seq and the IP ID, in sequence, all but
 * the last of one size) become one packet that the kernel segments again
 * (VIRTIO_NET_HDR_GSO_TCPV4/6 with gso_size the first one's payload).
 * buf is the caller's, VNET_HDR_LEN + VNET_PKT_MAX bytes. The flow NAT
 * rewrites a batch's first packet only: those that join it are compared,
 * as lwIP sent them, with the first as lwIP sent it. */
#define VNET_RAW_MAX 120 /* IPv4 and TCP headers with all options */

struct vnet_batch {
	uint8_t *buf;
	size_t len;	     /* packet bytes after the header; 0: empty */
	size_t l4_off, hlen; /* TCP header offset; IP + TCP header length */
	size_t seg;	     /* the first segment's payload: gso_size */
	uint32_t next_seq;
	unsigned nseg;
	bool closed; /* nothing may follow: short, FIN, SYN, RST... */
	uint8_t raw[VNET_RAW_MAX]; /* the first packet's headers from lwIP */
};

/* Where the first packet goes: VNET_PKT_MAX bytes. */
uint8_t *vnet_batch_room(struct vnet_batch *b);
/* Start an empty batch with the len bytes at vnet_batch_room(): raw
 * rewritten (the same length), its checksum to be left partial. raw's
 * headers must be valid (lwIP made them; the flow NAT checked them). */
void vnet_batch_start(struct vnet_batch *b, const uint8_t *raw, size_t len);
/* Add raw, a packet as lwIP sent it, to the batch. False when it does not
 * belong: finish the batch and start anew. */
bool vnet_batch_append(struct vnet_batch *b, const uint8_t *raw, size_t len);
/* Make the batch one packet (lengths, IPv4 header checksum, the partial TCP
 * checksum, the virtio header in front) and empty it. Returns the bytes to
 * write from b->buf, 0 when it was empty. */
size_t vnet_batch_finish(struct vnet_batch *b);

#endif
