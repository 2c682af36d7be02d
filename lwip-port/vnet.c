/* The virtio-net header of the TUN device: see vnet.h. */
#include "vnet.h"

#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>

#include "bytes.h"
#include "csum.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_URG 0x20

static uint16_t get16(const uint8_t *b)
{
	uint16_t v;

	memcpy(&v, b, 2);
	return v;
}

void vnet_hdr_get(const uint8_t *b, struct vnet_hdr *h)
{
	h->flags = b[0];
	h->gso_type = b[1];
	h->hdr_len = get16(b + 2);
	h->gso_size = get16(b + 4);
	h->csum_start = get16(b + 6);
	h->csum_offset = get16(b + 8);
}

void vnet_hdr_put(uint8_t *b, const struct vnet_hdr *h)
{
	b[0] = h->flags;
	b[1] = h->gso_type;
	memcpy(b + 2, &h->hdr_len, 2);
	memcpy(b + 4, &h->gso_size, 2);
	memcpy(b + 6, &h->csum_start, 2);
	memcpy(b + 8, &h->csum_offset, 2);
}

bool vnet_csum_complete(uint8_t *pkt, size_t len, const struct vnet_hdr *h)
{
	size_t start = h->csum_start, field = start + h->csum_offset;
	uint16_t c;

	if (field + 2 > len)
		return false;
	c = (uint16_t)~csum_fold(csum_add(0, pkt + start, len - start));
	memcpy(pkt + field, &c, 2);
	return true;
}

/* The IP and TCP header lengths of pkt; 0 when they do not fit. */
static size_t headers(const uint8_t *pkt, size_t len, size_t *l4_off)
{
	size_t l4;

	if (len < 1)
		return 0;
	l4 = pkt[0] >> 4 == 4 ? (pkt[0] & 0x0fu) * 4u : 40;
	if (l4 + 20 > len)
		return 0;
	*l4_off = l4;
	return l4 + (pkt[l4 + 12] >> 4) * 4u;
}

uint8_t *vnet_batch_room(struct vnet_batch *b)
{
	return b->buf + VNET_HDR_LEN;
}

void vnet_batch_start(struct vnet_batch *b, const uint8_t *raw, size_t len)
{
	size_t l4 = 0, hlen = headers(raw, len, &l4);
	const uint8_t *t = raw + l4;

	b->len = len;
	b->nseg = 1;
	b->closed = true;
	b->hlen = hlen <= len && hlen <= VNET_RAW_MAX ? hlen : 0;
	if (!b->hlen) /* not TCP as vnet_batch_finish knows it: as it is */
		return;
	memcpy(b->raw, raw, hlen);
	b->l4_off = l4;
	b->seg = len - hlen;
	b->next_seq = be32(t + 4) + (uint32_t)b->seg;
	b->closed =
	    !b->seg || (t[13] & (TCP_FIN | TCP_SYN | TCP_RST | TCP_URG));
}

/* Everything of the headers but the lengths, checksums, IPv4 ID, seq and
 * the flags a segment of the middle loses (PSH, FIN) is the same. */
static bool same_headers(const uint8_t *a, const uint8_t *b, size_t l4,
			 size_t hlen)
{
	const uint8_t *ta = a + l4, *tb = b + l4;

	if (a[0] >> 4 == 4) {
		if (memcmp(a, b, 2) || memcmp(a + 6, b + 6, 4) ||
		    memcmp(a + 12, b + 12, l4 - 12))
			return false;
	} else if (memcmp(a, b, 4) || memcmp(a + 6, b + 6, 34)) {
		return false;
	}
	return !memcmp(ta, tb, 4) && !memcmp(ta + 8, tb + 8, 5) &&
	       (ta[13] & ~(TCP_PSH | TCP_FIN)) ==
		   (tb[13] & ~(TCP_PSH | TCP_FIN)) &&
	       !memcmp(ta + 14, tb + 14, 2) &&
	       !memcmp(ta + 18, tb + 18, hlen - l4 - 18);
}

bool vnet_batch_append(struct vnet_batch *b, const uint8_t *raw, size_t len)
{
	uint8_t *head = b->buf + VNET_HDR_LEN;
	size_t l4 = 0, hlen = headers(raw, len, &l4), data = len - hlen;

	if (!b->len || b->closed || hlen != b->hlen || l4 != b->l4_off ||
	    hlen > len || !data || data > b->seg ||
	    b->len + data > VNET_PKT_MAX || be32(raw + l4 + 4) != b->next_seq ||
	    (raw[0] >> 4 == 4 && be16(raw + 2) != len) ||
	    (raw[0] >> 4 == 6 && be16(raw + 4) != len - 40) ||
	    !same_headers(b->raw, raw, l4, hlen))
		return false;
	memcpy(head + b->len, raw + hlen, data);
	b->len += data;
	b->next_seq += (uint32_t)data;
	b->nseg++;
	head[l4 + 13] |= raw[l4 + 13] & (TCP_PSH | TCP_FIN);
	b->closed = data < b->seg || (raw[l4 + 13] & TCP_FIN);
	return true;
}

/* The lengths the kernel segments from, and the checksums it expects: the
 * IPv4 header's whole, TCP's over the pseudo-header only (NEEDS_CSUM). */
static void fix_headers(uint8_t *pkt, size_t len, size_t l4)
{
	bool v4 = pkt[0] >> 4 == 4;
	size_t alen = v4 ? 4 : 16;
	uint16_t c;

	if (v4) {
		put_be16(pkt + 2, len);
		memset(pkt + 10, 0, 2);
		c = (uint16_t)~csum_fold(csum_add(0, pkt, l4));
		memcpy(pkt + 10, &c, 2);
	} else {
		put_be16(pkt + 4, len - 40);
	}
	c = csum_fold(
	    csum_pseudo(pkt + (v4 ? 12 : 8), alen, IPPROTO_TCP, len - l4));
	memcpy(pkt + l4 + 16, &c, 2);
}

size_t vnet_batch_finish(struct vnet_batch *b)
{
	uint8_t *pkt = b->buf + VNET_HDR_LEN;
	struct vnet_hdr h = {.gso_type = VIRTIO_NET_HDR_GSO_NONE};
	size_t n = b->len;

	if (!n)
		return 0;
	if (b->hlen) {
		fix_headers(pkt, n, b->l4_off);
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.hdr_len = (uint16_t)b->hlen;
		h.csum_start = (uint16_t)b->l4_off;
		h.csum_offset = 16;
	}
	if (b->nseg > 1) {
		h.gso_type = pkt[0] >> 4 == 4 ? VIRTIO_NET_HDR_GSO_TCPV4
					      : VIRTIO_NET_HDR_GSO_TCPV6;
		h.gso_size = (uint16_t)b->seg;
	}
	vnet_hdr_put(b->buf, &h);
	b->len = 0;
	return VNET_HDR_LEN + n;
}
