/* Flow NAT between the TUN device and lwIP.
 *
 * Stock lwIP accepts TCP only to its own address and a listening port. A LAN
 * flow (client C:c -> destination D:d) is therefore rewritten on its way in
 * to (synthetic S:s -> lwIP L:l), where S is a fixed synthetic address of
 * the flow's family and s a port allocated per flow, and lwIP's answers
 * (L:l -> S:s) are rewritten back to (D:d -> C:c). Checksums are updated
 * incrementally (RFC 1624). Entries are found by the LAN 4-tuple on the way
 * in and by the synthetic port on the way out, both through hash tables.
 *
 * The NAT never keeps pointers into packets. It verifies what it reads
 * (lengths, IP header checksum, and the TCP checksum of SYNs, which create
 * state) and counts every drop. IPv4 and IPv6 (no extension headers: a
 * packet with one is dropped as unsupported). Packets from or to addresses
 * that never appear on a wire are dropped too: the kernel forwards an IPv6
 * packet to ::ffff:127.0.0.1, and a flow opened directly to that would
 * reach the CPE's own loopback. */
#ifndef MPTUN_FLOWNAT_H
#define MPTUN_FLOWNAT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flownat;

struct flownat_config {
	struct in_addr lwip4, synth4;   /* L and S for IPv4 */
	struct in6_addr lwip6, synth6;  /* L and S for IPv6 */
	uint16_t lwip_port;             /* l: lwIP's listening port */
	uint32_t max_entries;           /* table size limit (<= 64000 per family) */
	uint32_t linger_ms;             /* an entry outlives its flow by this
					   (longer than lwIP's TIME_WAIT) */
};

enum flownat_state {
	FLOWNAT_PENDING, /* SYN seen, held by the caller */
	FLOWNAT_OPEN,    /* packets pass */
	FLOWNAT_CLOSED,  /* flow ended; packets still pass until expiry */
};

/* The original flow. Addresses of either family in sockaddr_storage-free
 * form: family + 16 bytes (IPv4 in the first 4). */
struct flownat_tuple {
	int family; /* AF_INET or AF_INET6 */
	uint8_t client[16], dst[16];
	uint16_t client_port, dst_port; /* host byte order */
};

struct flownat_entry {
	struct flownat_tuple orig;
	uint16_t synth_port;     /* s, host byte order */
	enum flownat_state state;
	uint64_t expires_ms;     /* CLOSED only */
	void *owner;             /* the caller's flow; NULL when none */
};

enum flownat_verdict {
	FLOWNAT_PASS,      /* rewritten in place; give it to lwIP */
	FLOWNAT_NEW,       /* a SYN of a new flow: entry created (PENDING),
			      packet rewritten; the caller holds it */
	FLOWNAT_HELD,      /* for a PENDING entry (e.g. a SYN retransmit):
			      the caller absorbs it */
	FLOWNAT_DROP,      /* dropped; the reason was counted */
};

struct flownat_counters {
	uint64_t in_pass, in_new, in_held, out_pass;
	uint64_t in_new_ipv6;       /* of in_new: flows of IPv6 LAN clients */
	uint64_t drop_short;        /* truncated IP or TCP header */
	uint64_t drop_bad_length;   /* IP length fields inconsistent with the packet */
	uint64_t drop_bad_checksum; /* IP header, or a SYN's TCP checksum */
	uint64_t drop_not_tcp;      /* other protocols, fragments, IPv6 extension headers */
	uint64_t drop_bad_addr;     /* from or to an address never on a wire
				       (IPv4-mapped, loopback, multicast...) */
	uint64_t drop_no_flow;      /* non-SYN with no entry */
	uint64_t drop_full;         /* no entry or port left */
	uint64_t drop_out_unknown;  /* lwIP output for no entry */
	uint64_t expired;
	uint64_t reclaimed;         /* lingering entries given to a new flow
				       because the table was full */
};

struct flownat *flownat_new(const struct flownat_config *cfg);
void flownat_free(struct flownat *nat); /* NULL ok */

/* LAN -> lwIP. pkt is rewritten in place; *entry is set for PASS, NEW and
 * HELD. now_ms is a monotonic clock. */
enum flownat_verdict flownat_in(struct flownat *nat, uint8_t *pkt, size_t len,
				uint64_t now_ms, struct flownat_entry **entry);

/* lwIP -> LAN. Copies pkt into out (cap bytes) rewritten, because lwIP
 * keeps its segments for retransmission. Returns the length, or 0 when the
 * packet is dropped (counted). */
size_t flownat_out(struct flownat *nat, const uint8_t *pkt, size_t len,
		   uint8_t *out, size_t cap);

/* The entry whose synthetic endpoint is (family, synth_port): what lwIP's
 * accept callback sees as the remote end. */
struct flownat_entry *flownat_find_synth(struct flownat *nat, int family,
					 uint16_t synth_port);
void flownat_set_state(struct flownat *nat, struct flownat_entry *e,
		       enum flownat_state st, uint64_t now_ms);
/* Remove at once (e.g. a held SYN that was refused). */
void flownat_remove(struct flownat *nat, struct flownat_entry *e);
/* Drop CLOSED entries past their time; returns how many. */
size_t flownat_expire(struct flownat *nat, uint64_t now_ms);
size_t flownat_count(const struct flownat *nat);
const struct flownat_counters *flownat_counters(const struct flownat *nat);

/* Undo flownat_in's rewrite of a packet of e, in place: a held SYN, which
 * flownat_in returned rewritten, back into the LAN SYN that the builders
 * below answer. False, pkt untouched, if pkt is not rewritten for e. */
bool flownat_restore(const struct flownat *nat, const struct flownat_entry *e,
		     uint8_t *pkt, size_t len);

/* The TCP sequence number of pkt, which flownat_in() accepted (as sent or
 * rewritten: the header lengths are known good). */
uint32_t flownat_tcp_seq(const uint8_t *pkt);

/* Packets the CPE makes itself, answering a held LAN SYN (syn is the packet
 * as it came from the LAN, before rewriting). They return the length written
 * into out, or 0 if cap is too small or syn is not a valid TCP SYN.
 *   RST+ACK from D:d to C:c, acking the SYN: "connection refused".
 *   ICMP destination unreachable (IPv4 type 3 with code; IPv6 type 1 with
 *   code) quoting the SYN, from D to C. */
size_t flownat_make_rst(const uint8_t *syn, size_t len, uint8_t *out, size_t cap);
size_t flownat_make_unreach(const uint8_t *syn, size_t len, uint8_t code,
			    uint8_t *out, size_t cap);
/* RFC 793 "Reset Generation" for a segment of no known flow (pkt as it came
 * from the LAN, e.g. a flow of a daemon that was restarted): a RST from
 * D:d to C:c with seq = SEG.ACK when pkt has ACK, else RST+ACK acking it.
 * 0 for a RST, an invalid TCP packet, a bad checksum or a small cap. */
size_t flownat_make_rst_stray(const uint8_t *pkt, size_t len, uint8_t *out,
			      size_t cap);

#endif
