/* Flow NAT between the TUN device and lwIP: see flownat.h.
 *
 * Entries live in one array allocated by flownat_new, so nothing is
 * allocated per packet and an entry pointer stays valid until the entry is
 * removed. Two chained hash tables index them: by LAN 4-tuple, with a keyed
 * hash because LAN hosts choose the tuples, and by (family, synthetic port).
 * CLOSED entries also sit on a list ordered by expiry, so expiring costs
 * O(expired), not O(entries).
 *
 * Checksums are one's complement sums, which do not depend on byte order
 * (RFC 1071 2.(B)): this file adds 16- and 32-bit words as loaded in host
 * order and stores results the same way. A flow's rewrite always replaces
 * the same words by the same words, so its checksum adjustment (RFC 1624
 * eqn. 3, ~(~HC + ~m + m')) is computed once, when the entry is made; the
 * other direction adds its one's complement negation. What a TCP or IPv4
 * header checksum covers never sums to 0 (the protocol number or version
 * is in it), so eqn. 3 gives exactly what a full recomputation gives. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "bytes.h"
#include "csum.h"
#include "flownat.h"

#define PORT_MIN     1024
#define PORT_SPAN    (65536 - PORT_MIN)
#define ENTRIES_MAX  (2 * 64000)
#define V6_MIN_MTU   1280

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

struct node {
	struct flownat_entry e;     /* first: callers hold &node->e */
	struct node *tnext;         /* tuple chain; the free list when unused */
	struct node *snext;         /* synthetic port chain */
	struct node *cprev, *cnext; /* CLOSED entries, by expiry */
	uint32_t thash;
	uint16_t ip_delta, tcp_delta; /* checksum adjustments LAN -> lwIP */
};

struct ports {
	uint64_t used[65536 / 64]; /* ports below PORT_MIN are marked used */
	uint32_t next;             /* where the next search starts */
	uint32_t n;
};

struct flownat {
	struct flownat_config cfg;
	uint8_t synth[2][16], lwip[2][16]; /* S and L by family index */
	uint16_t sl_sum[2];                /* S + L address words */
	uint64_t seed;
	struct node *nodes, *free;
	struct node **tbucket, **sbucket;
	uint32_t mask;
	size_t count;
	struct node *closed_head, *closed_tail;
	struct ports ports[2];
	struct flownat_counters ctr;
};

/* What parse() found; offsets are from the IP header. */
struct pkt {
	int family;
	unsigned fi;        /* family index: 0 IPv4, 1 IPv6 */
	size_t alen;        /* address length */
	size_t src_off;     /* dst follows src */
	size_t l4_off;      /* IP header length */
	size_t ip_len;      /* IP total length, trailing bytes excluded */
	uint16_t sport, dport;
	uint8_t flags;
};

enum parse_err {
	PARSE_OK,
	PARSE_SHORT,
	PARSE_BAD_LENGTH,
	PARSE_BAD_CSUM,
	PARSE_NOT_TCP,
	PARSE_BAD_ADDR,
};

static uint16_t neg16(uint16_t x)
{
	return (uint16_t)~x;
}

static bool tcp_csum_ok(const uint8_t *b, const struct pkt *p)
{
	size_t seg = p->ip_len - p->l4_off;
	uint64_t acc = csum_pseudo(b + p->src_off, p->alen, IPPROTO_TCP, seg);

	return csum_fold(csum_add(acc, b + p->l4_off, seg)) == 0xffff;
}

static void csum_adjust(uint8_t *field, uint16_t delta)
{
	uint16_t c;

	memcpy(&c, field, 2);
	c = neg16(csum_fold((uint64_t)neg16(c) + delta));
	memcpy(field, &c, 2);
}

static enum parse_err parse_v4(const uint8_t *b, size_t len, struct pkt *p)
{
	size_t hl = (b[0] & 0x0fu) * 4;
	size_t tot;

	if (len < 20)
		return PARSE_SHORT;
	if (hl < 20)
		return PARSE_BAD_LENGTH;
	if (hl > len)
		return PARSE_SHORT;
	if (csum_fold(csum_add(0, b, hl)) != 0xffff)
		return PARSE_BAD_CSUM;
	tot = be16(b + 2);
	if (tot < hl || tot > len)
		return PARSE_BAD_LENGTH;
	/* a fragment's ports are not where they seem, or not there */
	if ((be16(b + 6) & 0x3fff) || b[9] != IPPROTO_TCP)
		return PARSE_NOT_TCP;
	*p = (struct pkt){ .family = AF_INET, .fi = 0, .alen = 4,
			   .src_off = 12, .l4_off = hl, .ip_len = tot };
	return PARSE_OK;
}

static enum parse_err parse_v6(const uint8_t *b, size_t len, struct pkt *p)
{
	size_t tot;

	if (len < 40)
		return PARSE_SHORT;
	tot = 40 + (size_t)be16(b + 4);
	if (tot > len)
		return PARSE_BAD_LENGTH;
	/* extension headers would need a walk; TCP must come first */
	if (b[6] != IPPROTO_TCP)
		return PARSE_NOT_TCP;
	*p = (struct pkt){ .family = AF_INET6, .fi = 1, .alen = 16,
			   .src_off = 8, .l4_off = 40, .ip_len = tot };
	return PARSE_OK;
}

/* Every option ends inside the header: lwIP 2.1.3's tcp_parseopt reads a
 * byte past the header for a last option without its length byte (found by
 * fuzz_cpe_packets), so such headers never reach it. */
static bool tcp_options_ok(const uint8_t *t, size_t doff)
{
	size_t i = 20;

	while (i < doff) {
		if (t[i] == 0) /* end of options */
			return true;
		if (t[i] == 1) { /* no-op */
			i++;
			continue;
		}
		if (i + 1 >= doff || t[i + 1] < 2 || t[i + 1] > doff - i)
			return false;
		i += t[i + 1];
	}
	return true;
}

static enum parse_err parse_tcp(const uint8_t *b, struct pkt *p)
{
	const uint8_t *t = b + p->l4_off;
	size_t seg = p->ip_len - p->l4_off;
	size_t doff;

	if (seg < 20)
		return PARSE_SHORT;
	doff = (t[12] >> 4) * 4u;
	if (doff < 20)
		return PARSE_BAD_LENGTH;
	if (doff > seg)
		return PARSE_SHORT;
	if (!tcp_options_ok(t, doff))
		return PARSE_BAD_LENGTH;
	p->sport = be16(t);
	p->dport = be16(t + 2);
	p->flags = t[13];
	return PARSE_OK;
}

/* Reads nothing outside b[0..len); *p means something only on success. */
static enum parse_err parse(const uint8_t *b, size_t len, struct pkt *p)
{
	enum parse_err err;

	if (len == 0)
		return PARSE_SHORT;
	if (b[0] >> 4 == 4)
		err = parse_v4(b, len, p);
	else if (b[0] >> 4 == 6)
		err = parse_v6(b, len, p);
	else
		err = PARSE_NOT_TCP;
	return err == PARSE_OK ? parse_tcp(b, p) : err;
}

/* Unspecified, loopback, multicast (IPv4: also 0/8 and class E), and
 * IPv6's IPv4-mapped form, which RFC 4291 2.5.5.2 keeps off the wire:
 * Linux drops IPv4 martians before forwarding, but forwards IPv6 packets
 * to ::ffff:0:0/96, and a flow to ::ffff:127.0.0.1 opened directly
 * (health.fail: open) would reach the CPE's own loopback. */
static bool addr_bogus(const uint8_t *a, unsigned fi)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zero[15];

	if (!fi)
		return a[0] == 0 || a[0] == 127 || a[0] >= 224;
	return a[0] == 0xff || !memcmp(a, mapped, sizeof(mapped)) ||
	       (!memcmp(a, zero, sizeof(zero)) && a[15] <= 1);
}

static bool addrs_ok(const uint8_t *b, const struct pkt *p)
{
	return !addr_bogus(b + p->src_off, p->fi) &&
	       !addr_bogus(b + p->src_off + p->alen, p->fi);
}

/* A SYN that may create state; SYN+FIN and SYN+RST never do. */
static bool pure_syn(const struct pkt *p)
{
	return (p->flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN;
}

static bool checked_syn(const struct pkt *p)
{
	return (p->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

static enum flownat_verdict drop(struct flownat *nat, enum parse_err err)
{
	uint64_t *c[] = {
		[PARSE_SHORT] = &nat->ctr.drop_short,
		[PARSE_BAD_LENGTH] = &nat->ctr.drop_bad_length,
		[PARSE_BAD_CSUM] = &nat->ctr.drop_bad_checksum,
		[PARSE_NOT_TCP] = &nat->ctr.drop_not_tcp,
		[PARSE_BAD_ADDR] = &nat->ctr.drop_bad_addr,
	};

	if (err != PARSE_OK)
		(*c[err])++;
	return FLOWNAT_DROP;
}

/* The addresses, ports and checksum adjustments are those of the new
 * header; sport and dport in host order. */
static void rewrite(uint8_t *b, const struct pkt *p, const uint8_t *src,
		    const uint8_t *dst, uint16_t sport, uint16_t dport,
		    uint16_t ip_delta, uint16_t tcp_delta)
{
	uint8_t *t = b + p->l4_off;

	/* constant sizes, so that the copies are inlined */
	if (p->family == AF_INET) {
		memcpy(b + 12, src, 4);
		memcpy(b + 16, dst, 4);
		csum_adjust(b + 10, ip_delta);
	} else {
		memcpy(b + 8, src, 16);
		memcpy(b + 24, dst, 16);
	}
	put_be16(t, sport);
	put_be16(t + 2, dport);
	csum_adjust(t + 16, tcp_delta);
}

static void tuple_from(const uint8_t *b, const struct pkt *p,
		       struct flownat_tuple *t)
{
	memset(t, 0, sizeof(*t));
	t->family = p->family;
	memcpy(t->client, b + p->src_off, p->alen);
	memcpy(t->dst, b + p->src_off + p->alen, p->alen);
	t->client_port = p->sport;
	t->dst_port = p->dport;
}

static bool tuple_eq(const struct flownat_tuple *a,
		     const struct flownat_tuple *b)
{
	return a->family == b->family && a->client_port == b->client_port &&
	       a->dst_port == b->dst_port &&
	       !memcmp(a->client, b->client, 16) && !memcmp(a->dst, b->dst, 16);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static uint32_t tuple_hash(const struct flownat *nat,
			   const struct flownat_tuple *t)
{
	uint64_t w[4], h = nat->seed;

	if (t->family == AF_INET) {
		h = mix(h, (uint64_t)be32(t->client) << 32 | be32(t->dst));
	} else {
		memcpy(w, t->client, 16);
		memcpy(w + 2, t->dst, 16);
		for (int i = 0; i < 4; i++)
			h = mix(h, w[i]);
	}
	h = mix(h, (uint64_t)t->client_port << 32 | (uint32_t)t->dst_port << 8 |
			   (t->family == AF_INET6));
	return (uint32_t)(h >> 32);
}

/* Ports are handed out in turn, so a sequence of them spreads evenly. */
static uint32_t synth_bucket(const struct flownat *nat, unsigned fi,
			     uint16_t port)
{
	return ((uint32_t)port << 1 | fi) & nat->mask;
}

static struct node *find_tuple(struct flownat *nat,
			       const struct flownat_tuple *t, uint32_t h)
{
	struct node *n = nat->tbucket[h & nat->mask];

	while (n && (n->thash != h || !tuple_eq(&n->e.orig, t)))
		n = n->tnext;
	return n;
}

static struct node *find_synth(struct flownat *nat, unsigned fi,
			       uint16_t port)
{
	struct node *n = nat->sbucket[synth_bucket(nat, fi, port)];
	int family = fi ? AF_INET6 : AF_INET;

	while (n && (n->e.synth_port != port || n->e.orig.family != family))
		n = n->snext;
	return n;
}

/* A rotating cursor, so that a freed port is the last to come back: lwIP
 * may still remember it (TIME_WAIT) when a CLOSED entry is replaced. */
static uint16_t port_alloc(struct ports *pt)
{
	uint32_t i = pt->next;
	uint64_t avail;

	if (pt->n == PORT_SPAN)
		return 0;
	for (;;) {
		avail = ~pt->used[i / 64] & (~0ull << (i % 64));
		if (avail)
			break;
		i = (i / 64 + 1) * 64;
		if (i >= 65536)
			i = PORT_MIN;
	}
	i = (i & ~63u) + (uint32_t)__builtin_ctzll(avail);
	pt->used[i / 64] |= 1ull << (i % 64);
	pt->n++;
	pt->next = i + 1 < 65536 ? i + 1 : PORT_MIN;
	return (uint16_t)i;
}

static void port_free(struct ports *pt, uint16_t port)
{
	pt->used[port / 64] &= ~(1ull << (port % 64));
	pt->n--;
}

/* RFC 1624: what replacing C, D, c, d by S, L, s, l adds to the sums. */
static void set_deltas(struct flownat *nat, struct node *n, unsigned fi)
{
	const struct flownat_tuple *t = &n->e.orig;
	size_t alen = fi ? 16 : 4;
	uint16_t old = csum_fold(csum_add(csum_add(0, t->client, alen),
					  t->dst, alen));
	uint64_t acc;

	n->ip_delta = csum_fold((uint64_t)nat->sl_sum[fi] + neg16(old));
	acc = (uint64_t)n->ip_delta + htons(n->e.synth_port) +
	      htons(nat->cfg.lwip_port) + neg16(htons(t->client_port)) +
	      neg16(htons(t->dst_port));
	n->tcp_delta = csum_fold(acc);
}

static void node_remove(struct flownat *nat, struct node *n);

static struct node *entry_add(struct flownat *nat,
			      const struct flownat_tuple *t, uint32_t h)
{
	unsigned fi = t->family == AF_INET6;
	struct node *n = nat->free;
	uint16_t port;

	/* Full: the entry whose flow ended longest ago gives way. It only
	 * lingers for stray packets of a finished flow (lwIP's TIME_WAIT),
	 * and lwIP itself recycles its oldest TIME_WAIT pcb when out of
	 * pcbs; without this, a LAN opening connections faster than
	 * max_entries / linger per second would have its SYNs dropped. */
	if ((!n || nat->count >= nat->cfg.max_entries) && nat->closed_head) {
		node_remove(nat, nat->closed_head);
		nat->ctr.reclaimed++;
		n = nat->free;
	}
	if (!n || nat->count >= nat->cfg.max_entries)
		return NULL;
	port = port_alloc(&nat->ports[fi]);
	if (!port)
		return NULL;
	nat->free = n->tnext;
	memset(n, 0, sizeof(*n));
	n->e.orig = *t;
	n->e.synth_port = port;
	n->e.state = FLOWNAT_PENDING;
	n->thash = h;
	set_deltas(nat, n, fi);
	n->tnext = nat->tbucket[h & nat->mask];
	nat->tbucket[h & nat->mask] = n;
	n->snext = nat->sbucket[synth_bucket(nat, fi, port)];
	nat->sbucket[synth_bucket(nat, fi, port)] = n;
	nat->count++;
	return n;
}

static void closed_unlink(struct flownat *nat, struct node *n)
{
	*(n->cprev ? &n->cprev->cnext : &nat->closed_head) = n->cnext;
	*(n->cnext ? &n->cnext->cprev : &nat->closed_tail) = n->cprev;
	n->cprev = n->cnext = NULL;
}

/* Expiry times mostly arrive in order, so the walk from the tail is short;
 * it keeps the list sorted should the caller's clock ever step back. */
static void closed_insert(struct flownat *nat, struct node *n)
{
	struct node *prev = nat->closed_tail;

	while (prev && prev->e.expires_ms > n->e.expires_ms)
		prev = prev->cprev;
	n->cprev = prev;
	n->cnext = prev ? prev->cnext : nat->closed_head;
	*(prev ? &prev->cnext : &nat->closed_head) = n;
	*(n->cnext ? &n->cnext->cprev : &nat->closed_tail) = n;
}

static void node_remove(struct flownat *nat, struct node *n)
{
	unsigned fi = n->e.orig.family == AF_INET6;
	struct node **pp = &nat->tbucket[n->thash & nat->mask];

	while (*pp != n)
		pp = &(*pp)->tnext;
	*pp = n->tnext;
	pp = &nat->sbucket[synth_bucket(nat, fi, n->e.synth_port)];
	while (*pp != n)
		pp = &(*pp)->snext;
	*pp = n->snext;
	if (n->e.state == FLOWNAT_CLOSED)
		closed_unlink(nat, n);
	port_free(&nat->ports[fi], n->e.synth_port);
	memset(n, 0, sizeof(*n));
	n->tnext = nat->free;
	nat->free = n;
	nat->count--;
}

static struct node *node_of(struct flownat_entry *e)
{
	return (struct node *)((char *)e - offsetof(struct node, e));
}

static uint32_t bucket_count(uint32_t max_entries)
{
	uint32_t n = 16;

	while (n < max_entries)
		n <<= 1;
	return n;
}

static void init_addrs(struct flownat *nat)
{
	const struct flownat_config *c = &nat->cfg;

	memcpy(nat->synth[0], &c->synth4, 4);
	memcpy(nat->lwip[0], &c->lwip4, 4);
	memcpy(nat->synth[1], &c->synth6, 16);
	memcpy(nat->lwip[1], &c->lwip6, 16);
	for (unsigned fi = 0; fi < 2; fi++) {
		size_t alen = fi ? 16 : 4;
		uint64_t acc = csum_add(0, nat->synth[fi], alen);

		nat->sl_sum[fi] = csum_fold(csum_add(acc, nat->lwip[fi], alen));
	}
}

static void init_ports(struct flownat *nat)
{
	for (unsigned fi = 0; fi < 2; fi++) {
		memset(nat->ports[fi].used, 0xff, PORT_MIN / 8);
		nat->ports[fi].next = PORT_MIN;
	}
}

/* The seed only needs to be unknown to LAN hosts; without getrandom the
 * table still works, just without that protection. */
static uint64_t hash_seed(const struct flownat *nat)
{
	uint64_t s;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s))
		s = (uint64_t)(uintptr_t)nat ^ 0x6a09e667f3bcc908ull;
	return s;
}

/* max_entries bounds both families together; each family also has only
 * PORT_SPAN synthetic ports. */
struct flownat *flownat_new(const struct flownat_config *cfg)
{
	struct flownat *nat;
	uint32_t nb;

	if (!cfg || !cfg->max_entries || cfg->max_entries > ENTRIES_MAX ||
	    !cfg->lwip_port) {
		errno = EINVAL;
		return NULL;
	}
	nat = calloc(1, sizeof(*nat));
	if (!nat)
		return NULL;
	nat->cfg = *cfg;
	nb = bucket_count(cfg->max_entries);
	nat->mask = nb - 1;
	nat->nodes = calloc(cfg->max_entries, sizeof(*nat->nodes));
	nat->tbucket = calloc(nb, sizeof(*nat->tbucket));
	nat->sbucket = calloc(nb, sizeof(*nat->sbucket));
	if (!nat->nodes || !nat->tbucket || !nat->sbucket) {
		flownat_free(nat);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = cfg->max_entries; i-- > 0;) {
		nat->nodes[i].tnext = nat->free;
		nat->free = &nat->nodes[i];
	}
	init_addrs(nat);
	init_ports(nat);
	nat->seed = hash_seed(nat);
	return nat;
}

void flownat_free(struct flownat *nat)
{
	if (!nat)
		return;
	free(nat->sbucket);
	free(nat->tbucket);
	free(nat->nodes);
	free(nat);
}

/* The caller's SYN check comes first: only a verified SYN reaches the
 * tables, so corrupted bytes can neither create nor replace an entry. */
static enum flownat_verdict in_lookup(struct flownat *nat, const uint8_t *pkt,
				      const struct pkt *p, struct node **np)
{
	struct flownat_tuple t;
	uint32_t h;
	struct node *n;

	tuple_from(pkt, p, &t);
	h = tuple_hash(nat, &t);
	n = find_tuple(nat, &t, h);
	/* a new connection on the tuple of one that has ended */
	if (n && n->e.state == FLOWNAT_CLOSED && pure_syn(p)) {
		node_remove(nat, n);
		n = NULL;
	}
	*np = n;
	if (n)
		return n->e.state == FLOWNAT_PENDING ? FLOWNAT_HELD :
						       FLOWNAT_PASS;
	if (!pure_syn(p)) {
		nat->ctr.drop_no_flow++;
		return FLOWNAT_DROP;
	}
	*np = entry_add(nat, &t, h);
	if (!*np) {
		nat->ctr.drop_full++;
		return FLOWNAT_DROP;
	}
	return FLOWNAT_NEW;
}

enum flownat_verdict flownat_in(struct flownat *nat, uint8_t *pkt, size_t len,
				uint64_t now_ms, struct flownat_entry **entry)
{
	struct pkt p;
	struct node *n;
	enum parse_err err;
	enum flownat_verdict v;

	if (entry)
		*entry = NULL;
	err = parse(pkt, len, &p);
	if (err == PARSE_OK && !addrs_ok(pkt, &p))
		err = PARSE_BAD_ADDR;
	if (err == PARSE_OK && checked_syn(&p) && !tcp_csum_ok(pkt, &p))
		err = PARSE_BAD_CSUM;
	if (err != PARSE_OK)
		return drop(nat, err);
	v = in_lookup(nat, pkt, &p, &n);
	if (v == FLOWNAT_DROP)
		return v;
	if (entry)
		*entry = &n->e;
	if (v == FLOWNAT_HELD) {
		nat->ctr.in_held++;
		return v;
	}
	rewrite(pkt, &p, nat->synth[p.fi], nat->lwip[p.fi], n->e.synth_port,
		nat->cfg.lwip_port, n->ip_delta, n->tcp_delta);
	if (v == FLOWNAT_NEW) {
		nat->ctr.in_new++;
		nat->ctr.in_new_ipv6 += p.fi;
	} else {
		nat->ctr.in_pass++;
	}
	return v;
}

/* lwIP's packets go out even for a PENDING entry: the caller may hand the
 * held SYN to lwIP before it marks the entry OPEN. A cap too small for the
 * packet is counted as drop_bad_length. */
size_t flownat_out(struct flownat *nat, const uint8_t *pkt, size_t len,
		   uint8_t *out, size_t cap)
{
	struct pkt p;
	struct node *n;
	enum parse_err err = parse(pkt, len, &p);

	if (err != PARSE_OK) {
		drop(nat, err);
		return 0;
	}
	if (memcmp(pkt + p.src_off, nat->lwip[p.fi], p.alen) ||
	    memcmp(pkt + p.src_off + p.alen, nat->synth[p.fi], p.alen) ||
	    p.sport != nat->cfg.lwip_port ||
	    !(n = find_synth(nat, p.fi, p.dport))) {
		nat->ctr.drop_out_unknown++;
		return 0;
	}
	if (p.ip_len > cap) {
		drop(nat, PARSE_BAD_LENGTH);
		return 0;
	}
	memmove(out, pkt, p.ip_len);
	rewrite(out, &p, n->e.orig.dst, n->e.orig.client, n->e.orig.dst_port,
		n->e.orig.client_port, neg16(n->ip_delta), neg16(n->tcp_delta));
	nat->ctr.out_pass++;
	return p.ip_len;
}

bool flownat_restore(const struct flownat *nat, const struct flownat_entry *e,
		     uint8_t *pkt, size_t len)
{
	const struct node *n = node_of((struct flownat_entry *)e);
	struct pkt p;

	if (parse(pkt, len, &p) != PARSE_OK || p.family != e->orig.family ||
	    memcmp(pkt + p.src_off, nat->synth[p.fi], p.alen) ||
	    memcmp(pkt + p.src_off + p.alen, nat->lwip[p.fi], p.alen) ||
	    p.sport != e->synth_port || p.dport != nat->cfg.lwip_port)
		return false;
	rewrite(pkt, &p, e->orig.client, e->orig.dst, e->orig.client_port,
		e->orig.dst_port, neg16(n->ip_delta), neg16(n->tcp_delta));
	return true;
}

struct flownat_entry *flownat_find_synth(struct flownat *nat, int family,
					 uint16_t synth_port)
{
	struct node *n;

	if (family != AF_INET && family != AF_INET6)
		return NULL;
	n = find_synth(nat, family == AF_INET6, synth_port);
	return n ? &n->e : NULL;
}

void flownat_set_state(struct flownat *nat, struct flownat_entry *e,
		       enum flownat_state st, uint64_t now_ms)
{
	struct node *n = node_of(e);

	if (e->state == FLOWNAT_CLOSED)
		closed_unlink(nat, n);
	e->state = st;
	e->expires_ms = 0;
	if (st != FLOWNAT_CLOSED)
		return;
	e->expires_ms = now_ms + nat->cfg.linger_ms;
	if (e->expires_ms < now_ms)
		e->expires_ms = UINT64_MAX;
	closed_insert(nat, n);
}

void flownat_remove(struct flownat *nat, struct flownat_entry *e)
{
	if (e)
		node_remove(nat, node_of(e));
}

size_t flownat_expire(struct flownat *nat, uint64_t now_ms)
{
	size_t k = 0;

	while (nat->closed_head && nat->closed_head->e.expires_ms <= now_ms) {
		node_remove(nat, nat->closed_head);
		k++;
	}
	nat->ctr.expired += k;
	return k;
}

size_t flownat_count(const struct flownat *nat)
{
	return nat->count;
}

const struct flownat_counters *flownat_counters(const struct flownat *nat)
{
	return &nat->ctr;
}

/* Builders. Only a verified pure SYN is answered: a RST must never answer
 * a RST, and a forged packet must not make the CPE speak for D. */
static bool valid_syn(const uint8_t *syn, size_t len, struct pkt *p)
{
	return parse(syn, len, p) == PARSE_OK && pure_syn(p) &&
	       tcp_csum_ok(syn, p);
}

/* An IP header from D to C, as the SYN's destination would send it. */
static size_t put_ip(uint8_t *o, const uint8_t *syn, const struct pkt *p,
		     uint8_t proto, size_t l4_len)
{
	const uint8_t *src = syn + p->src_off;
	size_t hl = p->family == AF_INET ? 20 : 40;

	memset(o, 0, hl);
	if (p->family == AF_INET) {
		o[0] = 0x45;
		put_be16(o + 2, (uint16_t)(20 + l4_len));
		put_be16(o + 6, 0x4000); /* DF */
		o[8] = 64;
		o[9] = proto;
	} else {
		o[0] = 0x60;
		put_be16(o + 4, (uint16_t)l4_len);
		o[6] = proto;
		o[7] = 64;
	}
	memcpy(o + p->src_off, src + p->alen, p->alen);
	memcpy(o + p->src_off + p->alen, src, p->alen);
	if (p->family == AF_INET) {
		uint16_t c = neg16(csum_fold(csum_add(0, o, 20)));

		memcpy(o + 10, &c, 2);
	}
	return hl;
}

/* The checksum of the l4_len bytes at o + hl, over the pseudo-header when
 * the protocol has one. */
static void put_l4_csum(uint8_t *o, const struct pkt *p, size_t hl,
			size_t l4_len, uint8_t proto, size_t field)
{
	uint64_t acc = 0;
	uint16_t c;

	if (proto != IPPROTO_ICMP)
		acc = csum_pseudo(o + p->src_off, p->alen, proto, l4_len);
	c = neg16(csum_fold(csum_add(acc, o + hl, l4_len)));
	memcpy(o + hl + field, &c, 2);
}

/* RFC 793 "Reset Generation": no ACK in the SYN, so seq 0 and an ack of
 * SEG.SEQ + SEG.LEN, which counts the SYN and any data it carries. */
size_t flownat_make_rst(const uint8_t *syn, size_t len, uint8_t *out,
			size_t cap)
{
	struct pkt p;
	const uint8_t *t;
	uint8_t *o;
	size_t hl, data;

	if (!valid_syn(syn, len, &p) || cap < (p.family == AF_INET ? 40 : 60))
		return 0;
	t = syn + p.l4_off;
	data = p.ip_len - p.l4_off - (t[12] >> 4) * 4u;
	hl = put_ip(out, syn, &p, IPPROTO_TCP, 20);
	o = out + hl;
	memset(o, 0, 20);
	put_be16(o, p.dport);
	put_be16(o + 2, p.sport);
	put_be32(o + 8, be32(t + 4) + 1 + (uint32_t)data);
	o[12] = 5 << 4;
	o[13] = TCP_RST | TCP_ACK;
	put_l4_csum(out, &p, hl, 20, IPPROTO_TCP, 16);
	return hl + 20;
}

uint32_t flownat_tcp_seq(const uint8_t *pkt)
{
	size_t hl = pkt[0] >> 4 == 4 ? (pkt[0] & 0x0fu) * 4u : 40;

	return be32(pkt + hl + 4);
}

size_t flownat_make_rst_stray(const uint8_t *pkt, size_t len, uint8_t *out,
			      size_t cap)
{
	struct pkt p;
	const uint8_t *t;
	uint8_t *o;
	size_t hl, data;

	if (parse(pkt, len, &p) != PARSE_OK || (p.flags & TCP_RST) ||
	    !tcp_csum_ok(pkt, &p) || cap < (p.family == AF_INET ? 40 : 60))
		return 0;
	t = pkt + p.l4_off;
	hl = put_ip(out, pkt, &p, IPPROTO_TCP, 20);
	o = out + hl;
	memset(o, 0, 20);
	put_be16(o, p.dport);
	put_be16(o + 2, p.sport);
	if (p.flags & TCP_ACK) {
		memcpy(o + 4, t + 8, 4); /* seq = SEG.ACK */
		o[13] = TCP_RST;
	} else {
		data = p.ip_len - p.l4_off - (t[12] >> 4) * 4u;
		put_be32(o + 8, be32(t + 4) + (uint32_t)data +
			       !!(p.flags & TCP_SYN) + !!(p.flags & TCP_FIN));
		o[13] = TCP_RST | TCP_ACK;
	}
	o[12] = 5 << 4;
	put_l4_csum(out, &p, hl, 20, IPPROTO_TCP, 16);
	return hl + 20;
}

/* RFC 792 quotes the IP header and 8 bytes of the datagram; RFC 4443 as
 * much of the packet as keeps the error within the minimum IPv6 MTU. */
size_t flownat_make_unreach(const uint8_t *syn, size_t len, uint8_t code,
			    uint8_t *out, size_t cap)
{
	struct pkt p;
	size_t hl, quote, need;
	uint8_t proto;

	if (!valid_syn(syn, len, &p))
		return 0;
	if (p.family == AF_INET) {
		quote = p.l4_off + 8;
		need = 20 + 8 + quote;
		proto = IPPROTO_ICMP;
	} else {
		quote = p.ip_len;
		if (quote > V6_MIN_MTU - 48)
			quote = V6_MIN_MTU - 48;
		need = 40 + 8 + quote;
		proto = IPPROTO_ICMPV6;
	}
	if (cap < need)
		return 0;
	hl = put_ip(out, syn, &p, proto, 8 + quote);
	memset(out + hl, 0, 8);
	out[hl] = p.family == AF_INET ? 3 : 1; /* destination unreachable */
	out[hl + 1] = code;
	memcpy(out + hl + 8, syn, quote);
	put_l4_csum(out, &p, hl, 8 + quote, proto, 2);
	return need;
}
