/* libFuzzer target for the flow NAT (lwip-port/flownat.c).
 *
 * Each input is a sequence of records, each [op][length: 16 bits BE][bytes],
 * played against a fresh NAT (8 entries), so that state builds up within
 * an input and every input replays the same way. The op says:
 *   0x01 fix the IPv4 header checksum first, 0x02 fix the TCP checksum
 *        (random bytes would almost never get past either),
 *   0x04 hand the packet to flownat_out instead of flownat_in,
 *   0x08 out: aim it at the NAT (L:l -> S:s, s one of the first ports),
 *   0x30 in: then mark the entry OPEN (1), CLOSED (2) or remove it (3),
 *   0x40 advance the clock 600 ms and expire,
 *   0x80 also run the builders on the packet.
 *
 * Beyond "no crash" it checks, against its own checksum code:
 * - a dropped or held packet is not written;
 * - a rewritten packet carries S:s -> L:l and nothing else changed; valid
 *   checksums stay valid, and ones a full computation would give stay
 *   exactly that; flownat_restore gives the original back;
 * - lwIP's answer to it comes out as D:d -> C:c with exact checksums;
 * - the entries are exactly those the harness expects (count, lookups,
 *   what flownat_expire removes), and every packet is counted once;
 * - the builders answer exactly the SYNs that could create a flow, from
 *   D:d to C:c, with exact checksums. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "flownat.h"

#define MAX_ENTRIES 8
#define LINGER      1000
#define LPORT       7000
#define BUF         (65536 + 64)

struct shadow {
	struct flownat_entry *e;
	struct flownat_tuple t;
};

struct run {
	struct flownat *nat;
	uint64_t now, calls;
	struct shadow live[MAX_ENTRIES];
	size_t n_live;
	uint8_t s[2][16], l[2][16];
};

static uint8_t pkt[BUF], orig[BUF], out[BUF], tmp[BUF];

static void check(int ok)
{
	if (!ok)
		abort();
}

static uint64_t be_sum(const uint8_t *p, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Where things are, for packets whose lengths hold together. */
struct view {
	bool v4;
	size_t hl, total, alen, src, tcp;
};

static bool view(const uint8_t *b, size_t len, struct view *v)
{
	if (len < 1 || (b[0] >> 4 != 4 && b[0] >> 4 != 6))
		return false;
	v->v4 = b[0] >> 4 == 4;
	v->hl = v->v4 ? (b[0] & 15u) * 4 : 40;
	if (v->hl < 20 || len < v->hl)
		return false;
	v->total = v->v4 ? be16(b + 2) : 40u + be16(b + 4);
	v->alen = v->v4 ? 4 : 16;
	v->src = v->v4 ? 12 : 8;
	v->tcp = v->hl;
	return v->total >= v->hl && v->total <= len;
}

static bool ip_ok(const uint8_t *b, const struct view *v)
{
	return !v->v4 || fold(be_sum(b, v->hl)) == 0xffff;
}

static uint16_t ip_ref(const uint8_t *b, const struct view *v)
{
	return (uint16_t)~fold(be_sum(b, v->hl) + (uint16_t)~be16(b + 10));
}

/* The layer 4 sum, its checksum field at `field` zeroed unless keep. */
static uint64_t l4_sum(const uint8_t *b, const struct view *v, uint8_t proto,
		       size_t field, bool keep)
{
	size_t len = v->total - v->hl;
	uint64_t s = be_sum(b + v->hl, len);

	if (!keep)
		s += (uint16_t)~be16(b + v->hl + field);
	if (proto != IPPROTO_ICMP)
		s += be_sum(b + v->src, 2 * v->alen) + proto + (len >> 16) +
		     (len & 0xffff);
	return s;
}

static bool tcp_ok(const uint8_t *b, const struct view *v)
{
	return fold(l4_sum(b, v, IPPROTO_TCP, 16, true)) == 0xffff;
}

static uint16_t l4_ref(const uint8_t *b, const struct view *v, uint8_t proto,
		       size_t field)
{
	return (uint16_t)~fold(l4_sum(b, v, proto, field, false));
}

static bool tcp_exact(const uint8_t *b, const struct view *v)
{
	return be16(b + v->tcp + 16) == l4_ref(b, v, IPPROTO_TCP, 16);
}

static bool ip_exact(const uint8_t *b, const struct view *v)
{
	return !v->v4 || be16(b + 10) == ip_ref(b, v);
}

static void fix(uint8_t *b, size_t len, uint8_t op)
{
	struct view v;

	if ((op & 1) && len >= 20 && b[0] >> 4 == 4 && (b[0] & 15) >= 5 &&
	    (b[0] & 15u) * 4 <= len) {
		v.hl = (b[0] & 15u) * 4;
		v.v4 = true;
		put_be16(b + 10, ip_ref(b, &v));
	}
	if ((op & 2) && view(b, len, &v) && v.total - v.hl >= 18)
		put_be16(b + v.tcp + 16, l4_ref(b, &v, IPPROTO_TCP, 16));
}

static bool tuple_eq(const struct flownat_tuple *a,
		     const struct flownat_tuple *b)
{
	return a->family == b->family && a->client_port == b->client_port &&
	       a->dst_port == b->dst_port &&
	       !memcmp(a->client, b->client, 16) && !memcmp(a->dst, b->dst, 16);
}

static void shadow_drop(struct run *r, size_t i)
{
	r->live[i] = r->live[--r->n_live];
}

static void shadow_check(struct run *r)
{
	check(flownat_count(r->nat) == r->n_live);
	for (size_t i = 0; i < r->n_live; i++) {
		struct flownat_entry *e = r->live[i].e;

		check(tuple_eq(&e->orig, &r->live[i].t));
		check(e->synth_port >= 1024);
		check(flownat_find_synth(r->nat, e->orig.family,
					 e->synth_port) == e);
	}
}

static void shadow_new(struct run *r, struct flownat_entry *e)
{
	for (size_t i = 0; i < r->n_live; i++)
		if (r->live[i].e == e || tuple_eq(&r->live[i].t, &e->orig))
			shadow_drop(r, i--);
	check(r->n_live < MAX_ENTRIES);
	r->live[r->n_live].e = e;
	r->live[r->n_live++].t = e->orig;
}

static void expire(struct run *r)
{
	size_t want = 0;

	r->now += 600;
	for (size_t i = 0; i < r->n_live; i++) {
		struct flownat_entry *e = r->live[i].e;

		if (e->state == FLOWNAT_CLOSED && e->expires_ms <= r->now) {
			shadow_drop(r, i--);
			want++;
		}
	}
	check(flownat_expire(r->nat, r->now) == want);
}

static void act(struct run *r, struct flownat_entry *e, uint8_t op)
{
	switch (op >> 4 & 3) {
	case 1:
		flownat_set_state(r->nat, e, FLOWNAT_OPEN, r->now);
		break;
	case 2:
		flownat_set_state(r->nat, e, FLOWNAT_CLOSED, r->now);
		check(e->expires_ms == r->now + LINGER);
		break;
	case 3:
		for (size_t i = 0; i < r->n_live; i++)
			if (r->live[i].e == e)
				shadow_drop(r, i--);
		flownat_remove(r->nat, e);
		break;
	}
}

/* Only addresses, ports and checksums may differ; a checksum field of
 * 0xffff in the original may come back as 0x0000 (the same sum). */
static void check_same_but(const uint8_t *a, const uint8_t *b,
			   const struct view *v, bool fields)
{
	for (size_t i = 0; i < v->total; i++) {
		bool addr = i >= v->src && i < v->src + 2 * v->alen;
		bool port = i >= v->tcp && i < v->tcp + 4;
		bool ipc = v->v4 && (i == 10 || i == 11);
		bool tcpc = i == v->tcp + 16 || i == v->tcp + 17;

		if (fields && (addr || port))
			continue;
		if ((ipc || tcpc) && (fields || be16(a + (i & ~1u)) == 0xffff))
			continue;
		check(a[i] == b[i]);
	}
}

static void check_tuple(const struct flownat_tuple *t, const uint8_t *b,
			const struct view *v)
{
	check(t->family == (v->v4 ? AF_INET : AF_INET6));
	check(!memcmp(t->client, b + v->src, v->alen));
	check(!memcmp(t->dst, b + v->src + v->alen, v->alen));
	check(t->client_port == be16(b + v->tcp));
	check(t->dst_port == be16(b + v->tcp + 2));
}

/* lwIP's answer: the rewritten packet turned around, checksums fresh. */
static void check_reply(struct run *r, const struct flownat_entry *e,
			const uint8_t *b, const struct view *v)
{
	uint8_t *t = tmp + v->tcp;
	struct view w;

	memcpy(tmp, b, v->total);
	memcpy(tmp + v->src, b + v->src + v->alen, v->alen);
	memcpy(tmp + v->src + v->alen, b + v->src, v->alen);
	put_be16(t, be16(b + v->tcp + 2));
	put_be16(t + 2, be16(b + v->tcp));
	fix(tmp, v->total, 3);
	r->calls++;
	check(flownat_out(r->nat, tmp, v->total, out, BUF) == v->total);
	check(view(out, v->total, &w));
	check(!memcmp(out + v->src, e->orig.dst, v->alen));
	check(!memcmp(out + v->src + v->alen, e->orig.client, v->alen));
	check(be16(out + v->tcp) == e->orig.dst_port);
	check(be16(out + v->tcp + 2) == e->orig.client_port);
	check(ip_exact(out, &w) && tcp_exact(out, &w));
}

static void check_rewritten(struct run *r, struct flownat_entry *e,
			    size_t len)
{
	unsigned fi;
	struct view v;

	check(view(orig, len, &v));
	fi = !v.v4;
	check(ip_ok(pkt, &v));
	check(!tcp_ok(orig, &v) || tcp_ok(pkt, &v));
	check(!ip_exact(orig, &v) || ip_exact(pkt, &v));
	check(!tcp_exact(orig, &v) || tcp_exact(pkt, &v));
	check(!memcmp(pkt + v.src, r->s[fi], v.alen));
	check(!memcmp(pkt + v.src + v.alen, r->l[fi], v.alen));
	check(be16(pkt + v.tcp) == e->synth_port);
	check(be16(pkt + v.tcp + 2) == LPORT);
	check_same_but(orig, pkt, &v, true);
	check_tuple(&e->orig, orig, &v);
	check_reply(r, e, pkt, &v);
	memcpy(tmp, pkt, len);
	check(flownat_restore(r->nat, e, tmp, len));
	check_same_but(orig, tmp, &v, false);
}

static void in(struct run *r, size_t len, uint8_t op, bool *made)
{
	struct flownat_entry *e = (void *)pkt;
	enum flownat_verdict v;

	memcpy(orig, pkt, len);
	r->calls++;
	v = flownat_in(r->nat, pkt, len, r->now, &e);
	*made = v == FLOWNAT_NEW;
	check(v <= FLOWNAT_DROP);
	check((e == NULL) == (v == FLOWNAT_DROP));
	if (v == FLOWNAT_DROP || v == FLOWNAT_HELD) {
		check(!memcmp(orig, pkt, len));
		check(!e || e->state == FLOWNAT_PENDING);
	}
	if (v == FLOWNAT_NEW) {
		check(e->state == FLOWNAT_PENDING && !e->owner);
		shadow_new(r, e);
	}
	if (v == FLOWNAT_PASS)
		check(e->state != FLOWNAT_PENDING);
	shadow_check(r);
	if (v == FLOWNAT_NEW || v == FLOWNAT_PASS)
		check_rewritten(r, e, len);
	if (e)
		act(r, e, op);
}

static void aim(struct run *r, size_t len)
{
	struct view v;
	unsigned fi;

	if (!view(pkt, len, &v) || v.total - v.hl < 4)
		return;
	fi = !v.v4;
	memcpy(pkt + v.src, r->l[fi], v.alen);
	memcpy(pkt + v.src + v.alen, r->s[fi], v.alen);
	put_be16(pkt + v.tcp, LPORT);
	put_be16(pkt + v.tcp + 2, 1024 + be16(pkt + v.tcp + 2) % 16);
}

static void out_dir(struct run *r, size_t len)
{
	struct flownat_entry *e;
	struct view v;
	size_t n;

	r->calls++;
	n = flownat_out(r->nat, pkt, len, out, BUF);
	if (!n)
		return;
	check(view(pkt, len, &v) && n == v.total);
	check(be16(pkt + v.tcp) == LPORT);
	e = flownat_find_synth(r->nat, v.v4 ? AF_INET : AF_INET6,
			       be16(pkt + v.tcp + 2));
	check(e != NULL);
	check(!memcmp(out + v.src, e->orig.dst, v.alen));
	check(!memcmp(out + v.src + v.alen, e->orig.client, v.alen));
	check(be16(out + v.tcp) == e->orig.dst_port);
	check(be16(out + v.tcp + 2) == e->orig.client_port);
	check(ip_ok(out, &v));
	check(!tcp_ok(pkt, &v) || tcp_ok(out, &v));
	check(!tcp_exact(pkt, &v) || tcp_exact(out, &v));
	check(!ip_exact(pkt, &v) || ip_exact(out, &v));
}

/* A reply from D to C, checksums exact. */
static void check_answer(const uint8_t *syn, const struct view *sv,
			 const uint8_t *o, size_t n, uint8_t proto)
{
	struct view v;

	check(view(o, n, &v) && v.total == n && v.v4 == sv->v4);
	check(v.hl == (v.v4 ? 20 : 40) && o[v.v4 ? 9 : 6] == proto);
	check(o[v.v4 ? 8 : 7] == 64 && ip_exact(o, &v));
	check(!memcmp(o + v.src, syn + sv->src + sv->alen, v.alen));
	check(!memcmp(o + v.src + v.alen, syn + sv->src, v.alen));
	if (proto == IPPROTO_TCP)
		check(tcp_exact(o, &v));
	else
		check(be16(o + v.hl + 2) == l4_ref(o, &v, proto, 2));
}

static void builders(const uint8_t *b, size_t len, uint8_t code, bool made)
{
	struct view v;
	size_t n = flownat_make_rst(b, len, out, BUF);
	size_t u = flownat_make_unreach(b, len, code, tmp, BUF);
	const uint8_t *t, *o;
	size_t hl;

	check((n != 0) == (u != 0));
	check(!made || n);
	if (!n)
		return;
	check(view(b, len, &v));
	t = b + v.tcp;
	hl = v.v4 ? 20 : 40;
	o = out + hl;
	check(n == hl + 20);
	check_answer(b, &v, out, n, IPPROTO_TCP);
	check(be16(o) == be16(t + 2) && be16(o + 2) == be16(t));
	check(be32(o + 4) == 0 && o[13] == 0x14 && be16(o + 14) == 0);
	check(be32(o + 8) ==
	      be32(t + 4) + 1 + (uint32_t)(v.total - v.hl - (t[12] >> 4) * 4u));
	check_answer(b, &v, tmp, u, v.v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	check(u <= (v.v4 ? 20 + 8 + 60 + 8u : 1280u));
	check(tmp[hl] == (v.v4 ? 3 : 1) && tmp[hl + 1] == code);
	check(!memcmp(tmp + hl + 8, b, u - hl - 8));
	check(flownat_make_unreach(b, len, code, tmp, u - 1) == 0);
}

static void setup(struct run *r)
{
	struct flownat_config c = { .lwip_port = LPORT,
				    .max_entries = MAX_ENTRIES,
				    .linger_ms = LINGER };

	inet_pton(AF_INET, "100.64.0.1", &c.synth4);
	inet_pton(AF_INET, "100.64.0.2", &c.lwip4);
	inet_pton(AF_INET6, "fd00:6d70::1", &c.synth6);
	inet_pton(AF_INET6, "fd00:6d70::2", &c.lwip6);
	memset(r, 0, sizeof(*r));
	memcpy(r->s[0], &c.synth4, 4);
	memcpy(r->l[0], &c.lwip4, 4);
	memcpy(r->s[1], &c.synth6, 16);
	memcpy(r->l[1], &c.lwip6, 16);
	r->nat = flownat_new(&c);
	check(r->nat != NULL);
}

static void counted(struct run *r)
{
	const struct flownat_counters *c = flownat_counters(r->nat);

	check(c->in_pass + c->in_new + c->in_held + c->out_pass +
		      c->drop_short + c->drop_bad_length +
		      c->drop_bad_checksum + c->drop_not_tcp +
		      c->drop_bad_addr + c->drop_no_flow +
		      c->drop_full + c->drop_out_unknown ==
	      r->calls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;

	setup(&r);
	while (size >= 3) {
		uint8_t op = data[0];
		size_t len = be16(data + 1);
		bool made = false;

		data += 3;
		size -= 3;
		len = len < size ? len : size;
		memcpy(pkt, data, len);
		data += len;
		size -= len;
		if ((op & 0x0c) == 0x0c)
			aim(&r, len);
		fix(pkt, len, op);
		if (op & 4) {
			out_dir(&r, len);
		} else {
			in(&r, len, op, &made);
			if (op & 0x80)
				builders(orig, len, op, made);
		}
		if (op & 0x40)
			expire(&r);
		shadow_check(&r);
		counted(&r);
	}
	flownat_free(r.nat);
	return 0;
}
