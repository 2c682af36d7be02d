#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_cpe_packets into tests/fuzz/corpus/cpe_packets/.

Run from the repository root: python3 tests/fuzz/gen_cpe_packets_corpus.py

An input is one mode byte, then records [op][length: 16 bits BE][packet];
see the head of fuzz_cpe_packets.c for what the bits do. The packets here
carry correct lengths and checksums already; the segments after a SYN take
their numbers from the stack's last packet (SEQ), as the ISN is lwIP's.

regress_* are inputs that found bugs: they fail until the bug is fixed.
"""
import ipaddress
import os
import struct

OUT = "tests/fuzz/corpus/cpe_packets"

HOLD, FAST, SMALL, ISN_WRAP, PLAY, VNET = 0x00, 0x01, 0x02, 0x04, 0x10, 0x80
SOURCE, TRANSPARENT, SOCKS4 = 0x20, 0x40, 0x60
FIX_LEN, FIX_SUM, SEQ, AIM, CONC = 0x01, 0x02, 0x04, 0x08, 0x80
ANSWER, DATA, ERROR, SHUT, CLOSE, READ, READING, FLOOD = range(8)
T10MS, T250MS, T1S, T3S, T11S, T26S, T60S = (i << 4 for i in range(1, 8))
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

C4, D4 = "192.168.1.10", "198.51.100.7"
C6, D6 = "2001:db8:1::10", "2001:db8:2::7"
MSS = bytes([2, 4, 0x05, 0xB4])
WSCALE = bytes([1, 3, 3, 7])
SACK_OK = bytes([1, 1, 4, 2])


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(flags, data=b"", seq=1000, ack=0, sport=40000, dport=80, v6=False,
        opts=b"", win=65535, src=None, dst=None):
    """A TCP packet from a client (C) to the destination, checksums correct."""
    a = ipaddress.ip_address(src or (C6 if v6 else C4))
    b = ipaddress.ip_address(dst or (D6 if v6 else D4))
    opts += bytes(-len(opts) % 4)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack,
                      (5 + len(opts) // 4) << 4, flags, win, 0, 0)
    seg = hdr + opts + data
    if v6:
        pseudo = a.packed + b.packed + struct.pack("!IxxxB", len(seg), 6)
    else:
        pseudo = a.packed + b.packed + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
    if v6:
        return (struct.pack("!IHBB", 6 << 28, len(seg), 6, 64) + a.packed +
                b.packed + seg)
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(seg), 1, 0x4000, 64, 6, 0)
    ip += a.packed + b.packed
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + seg


def syn(**kw):
    return tcp(SYN, opts=MSS + WSCALE + SACK_OK, **kw)


def rec(op, pkt):
    return bytes([op]) + struct.pack("!H", len(pkt)) + pkt


def inp(mode, *records):
    return bytes([mode]) + b"".join(records)


def conc(action, payload=b"", k=0, op=0):
    """An action of the concentrator on connection k."""
    return rec(CONC | action | op, bytes([k]) + payload)


def nxt(flags, data=b"", op=0, seq=0, ack=0, **kw):
    """The flow's next segment: SEQ adds the stack's numbers to seq and ack."""
    return rec(SEQ | FIX_SUM | op, tcp(flags, data, seq=seq, ack=ack, **kw))


FLOW = [rec(0, syn()),
        nxt(ACK),
        nxt(PSH | ACK, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        nxt(FIN | ACK)]
FLOW6 = [rec(0, syn(v6=True)),
         nxt(ACK, v6=True),
         nxt(PSH | ACK, b"hello", v6=True),
         nxt(FIN | ACK, v6=True)]


def fragment():
    """The first fragment of a SYN (MF set) and a later one."""
    p = bytearray(syn())
    p[6:8] = struct.pack("!H", 0x2000)
    q = bytearray(syn())
    q[6:8] = struct.pack("!H", 0x0003)
    return rec(FIX_SUM, bytes(p)), rec(FIX_SUM, bytes(q))


# The input plays the concentrator: hold answers before lwIP sees the SYN.
def relay_hold(**kw):
    return [rec(0, syn(**kw)), conc(READING), conc(ANSWER),
            nxt(ACK, **kw), nxt(PSH | ACK, b"GET / HTTP/1.1\r\n\r\n", **kw),
            conc(DATA, b"HTTP/1.1 200 OK\r\n\r\nhello"), nxt(ACK, **kw),
            conc(SHUT), nxt(FIN | ACK, **kw), nxt(ACK, op=T26S, **kw)]


RELAY_HOLD = relay_hold()


def dual_stack():
    """An IPv4 and an IPv6 flow of one LAN host relaying at the same time
    (hold): both answered, data both ways interleaved, both ended."""
    f4, f6 = {}, {"v6": True, "sport": 40001}
    return [rec(0, syn(**f4)), rec(0, syn(**f6)), conc(READING),
            conc(ANSWER, k=0), conc(ANSWER, k=1),
            nxt(ACK, **f4), nxt(ACK, **f6),
            nxt(PSH | ACK, b"GET /4 HTTP/1.1\r\n\r\n", **f4),
            nxt(PSH | ACK, b"GET /6 HTTP/1.1\r\n\r\n", **f6),
            conc(DATA, b"six", k=1), conc(DATA, b"four", k=0),
            conc(FLOOD, bytes([16]), k=1), nxt(ACK, **f6), nxt(ACK, **f4),
            conc(SHUT, k=0), conc(SHUT, k=1), nxt(ACK, **f6, op=T10MS),
            nxt(FIN | ACK, **f4), nxt(FIN | ACK, **f6), nxt(ACK, **f6, op=T26S)]


def hop_by_hop():
    """An IPv6 SYN behind a Hop-by-Hop Options header (PadN only)."""
    p = syn(v6=True)
    ext = bytes([6, 0, 1, 4, 0, 0, 0, 0])
    plen = struct.unpack("!H", p[4:6])[0] + len(ext)
    return p[:4] + struct.pack("!HB", plen, 0) + p[7:40] + ext + p[40:]


def vhdr(flags=0, gso_type=0, hdr_len=0, gso_size=0, start=0, offset=0):
    """A virtio-net header (host order: little-endian)."""
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, start, offset)


NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6 = 1, 1, 4


def vnet(records, hdr=None):
    """The LAN's records with a virtio header in front of each packet: by
    default none of its offloads; hdr(op, pkt) may say more."""
    out = []
    for r in records:
        if r[0] & CONC:
            out.append(r)
        else:
            pkt = r[3:]
            out.append(rec(r[0], (hdr(r[0], pkt) if hdr else vhdr()) + pkt))
    return out


def partial(op, pkt):
    """NEEDS_CSUM where a kernel puts it when FIX_SUM leaves the sum
    partial; a segment of more than 1400 bytes as GSO."""
    if not op & FIX_SUM:
        return vhdr()
    l4 = 20 if pkt[0] >> 4 == 4 else 40
    hl = l4 + (pkt[l4 + 12] >> 4) * 4
    big = len(pkt) - hl > 1400
    gso = (GSO_TCPV4 if l4 == 20 else GSO_TCPV6) if big else 0
    return vhdr(NEEDS_CSUM, gso, hl, 1400 if big else 0, l4, 16)


def upload_gso(v6=False):
    return [rec(FIX_SUM, syn(v6=v6)), conc(ANSWER), nxt(ACK, v6=v6),
            *(nxt(PSH | ACK, bytes(range(256)) * 60, v6=v6) for _ in range(3)),
            conc(READ), nxt(ACK, v6=v6), conc(SHUT), nxt(FIN | ACK, v6=v6)]


RELAY_FAST = [rec(0, syn(v6=True)), nxt(ACK, v6=True),
              nxt(PSH | ACK, b"first bytes", v6=True), conc(READ),
              conc(ANSWER, b"answer and data at once"), nxt(ACK, v6=True),
              nxt(FIN | ACK, v6=True), conc(READ), conc(SHUT),
              nxt(ACK, v6=True, op=T1S)]


SEEDS = {
    "syn_hold_v4": inp(HOLD, rec(0, syn())),
    "syn_hold_v6": inp(HOLD, rec(0, syn(v6=True))),
    "syn_retransmit_hold": inp(HOLD | PLAY, rec(0, syn()), rec(T1S, syn())),
    "syn_fast_v4": inp(FAST, rec(T250MS, syn())),
    "syn_fast_v6": inp(FAST, rec(0, syn(v6=True))),
    "flow_fast_v4": inp(FAST, *FLOW),
    "flow_fast_v6": inp(FAST | ISN_WRAP, *FLOW6),
    "flow_fast_isn_wrap": inp(FAST | ISN_WRAP, *FLOW),
    "flow_hold_v4": inp(HOLD, *FLOW),
    "fast_wait_expires": inp(FAST, rec(0, syn()), nxt(ACK, op=T10MS)),
    "synack_retransmits": inp(FAST, rec(T11S, syn()), rec(T26S, syn(sport=40001))),
    "rst_after_syn": inp(FAST, rec(0, syn()), nxt(RST | ACK)),
    "rst_unknown": inp(FAST, rec(0, tcp(RST, seq=5))),
    "ack_unknown_v6": inp(FAST, rec(0, tcp(ACK, seq=5, ack=7, v6=True))),
    "fragments": inp(FAST, *fragment()),
    "bad_lengths": inp(FAST, rec(0, syn()[:30]), rec(0, syn() + b"\0" * 9),
                       rec(0, b"\x45"), rec(0, b"\x60" + bytes(20)),
                       rec(FIX_LEN | FIX_SUM, syn()[:20] + bytes(8))),
    "bad_checksum": inp(FAST, rec(0, syn()[:-1] + b"\x01")),
    "relay_hold": inp(HOLD | PLAY, *RELAY_HOLD),
    "relay_fast_v6": inp(FAST | PLAY, *RELAY_FAST),
    "relay_isn_wrap": inp(HOLD | PLAY | ISN_WRAP, *RELAY_HOLD),
    "refused": inp(HOLD | PLAY, rec(0, syn()), conc(ERROR, bytes([96]))),
    "unreachable_v4": inp(HOLD | PLAY, rec(0, syn()), conc(ERROR, bytes([97, 3]))),
    "unreachable_v6": inp(HOLD | PLAY, rec(0, syn(v6=True)), conc(ERROR, bytes([97, 13]))),
    "fast_refused": inp(FAST | PLAY, rec(0, syn()), nxt(ACK), nxt(PSH | ACK, b"x"),
                        conc(ERROR, bytes([96]))),
    "connect_timeout": inp(HOLD | PLAY, rec(T11S, syn())),
    "server_first": inp(FAST | PLAY, rec(0, syn()), nxt(ACK, op=T10MS),
                        conc(ANSWER, b"220 hello\r\n"), nxt(ACK)),
    "flood": inp(HOLD | PLAY, rec(0, syn()), conc(ANSWER), nxt(ACK),
                 conc(FLOOD, bytes([200])), nxt(ACK), nxt(ACK, op=T1S),
                 nxt(ACK, win=0, op=T3S), nxt(ACK), conc(SHUT, op=T3S), nxt(ACK)),
    "upload_backpressure": inp(HOLD | PLAY, rec(0, syn()), conc(ANSWER), nxt(ACK),
                               *(nxt(PSH | ACK, bytes(1400)) for _ in range(8)),
                               conc(READ), nxt(PSH | ACK, bytes(1400)), conc(CLOSE)),
    "idle_timeout": inp(FAST | PLAY, rec(0, syn()), nxt(ACK), nxt(PSH | ACK, b"x"),
                        conc(ANSWER, op=T26S), nxt(ACK, op=T26S)),
    # The concentrator ended before the LAN's ACK, which carries a FIN: the
    # relay shuts lwIP's side down inside the accept callback (FIN_WAIT_1),
    # then lwIP 2.1.3's SYN_RCVD code sets CLOSE_WAIT over it and a second
    # FIN goes out one sequence number later.
    "regress_double_fin": inp(HOLD | PLAY, rec(0, syn()), conc(ANSWER), conc(SHUT),
                              nxt(FIN | ACK)),
    # lwIP 2.1.3's tcp_parseopt reads an option's length byte without
    # checking that it is inside the header: an unknown kind as the last
    # byte of a SYN without data reads one byte past the pbuf.
    "regress_lwip_optlen": inp(FAST, rec(0, tcp(SYN, opts=MSS + bytes([1, 1, 1, 0xfe])))),
    "regress_lwip_optlen_v6": inp(HOLD | PLAY,
                                  rec(0, tcp(SYN, v6=True, opts=bytes([1, 1, 1, 0xfe]))),
                                  conc(ANSWER)),
    # A segment 2^31 before rcv_nxt passes lwIP 2.1.3's TCP_SEQ_BETWEEN in
    # tcp_receive (the signed distance is -2^31 both ways) and trips its
    # "insane offset!" assertion: one packet from a LAN host aborts the CPE.
    "regress_lwip_half_space": inp(FAST, rec(0, syn()), nxt(ACK),
                                   nxt(FIN | ACK, seq=0x80000000)),
    "lan_reset_relay": inp(HOLD | PLAY, rec(0, syn()), conc(ANSWER), nxt(ACK),
                           conc(DATA, b"data"), nxt(RST | ACK)),
    "needs_fix": inp(FAST, rec(FIX_LEN | FIX_SUM | AIM, bytes([0x45]) + bytes(39))),
    "host_limit": inp(FAST | SMALL, *(rec(0, syn(sport=40000 + i)) for i in range(3))),
    "flow_limit": inp(FAST | SMALL, *(rec(0, syn(src="192.168.1.%d" % (20 + i)))
                                      for i in range(6))),
    "time_wait": inp(FAST, *FLOW, nxt(ACK, op=T26S)),
    "out_of_order": inp(FAST, rec(0, syn()), nxt(ACK),
                        nxt(PSH | ACK, b"later", seq=100),
                        nxt(PSH | ACK, b"again", seq=200, op=T250MS),
                        nxt(PSH | ACK, b"zero window", seq=300, win=0, op=T3S)),
    "relay_hold_v6": inp(HOLD | PLAY, *relay_hold(v6=True)),
    "refused_v6": inp(HOLD | PLAY, rec(0, syn(v6=True)), conc(ERROR, bytes([96]))),
    "upload_backpressure_v6": inp(HOLD | PLAY, rec(0, syn(v6=True)), conc(ANSWER),
                                  nxt(ACK, v6=True),
                                  *(nxt(PSH | ACK, bytes(1400), v6=True) for _ in range(8)),
                                  conc(READ), nxt(PSH | ACK, bytes(1400), v6=True),
                                  conc(CLOSE)),
    "dual_stack_relay": inp(HOLD | PLAY, *dual_stack()),
    "hop_by_hop_v6": inp(HOLD, rec(0, hop_by_hop())),
    # never a flow: the kernel forwards IPv6 to IPv4-mapped addresses
    "mapped_v6": inp(FAST, rec(0, syn(v6=True, dst="::ffff:127.0.0.1")),
                     rec(0, syn(v6=True, src="::ffff:192.168.1.10"))),
    # the carriers: Convert with Source, transparent, SOCKS4
    "source_hold": inp(HOLD | PLAY | SOURCE, *RELAY_HOLD),
    "source_fast_v6": inp(FAST | PLAY | SOURCE, *RELAY_FAST),
    "transparent_hold": inp(HOLD | PLAY | TRANSPARENT, *RELAY_HOLD),
    "transparent_fast_v6": inp(FAST | PLAY | TRANSPARENT, *RELAY_FAST),
    "transparent_unplayed": inp(HOLD | TRANSPARENT, *FLOW),
    "transparent_reset": inp(HOLD | PLAY | TRANSPARENT, rec(0, syn()), conc(CLOSE)),
    "socks4_hold": inp(HOLD | PLAY | SOCKS4, *RELAY_HOLD),
    "socks4_fast_v6": inp(FAST | PLAY | SOCKS4, *RELAY_FAST),
    "socks4_rejected": inp(HOLD | PLAY | SOCKS4, rec(0, syn()), conc(ERROR, bytes([0x5B]))),
    "socks4_identd": inp(FAST | PLAY | SOCKS4, rec(0, syn()), nxt(ACK), nxt(PSH | ACK, b"x"),
                         conc(ERROR, bytes([0x5C]))),
    # the TUN with virtio headers: none of their offloads, partial checksums
    # and GSO segments from the LAN, lwIP's output coalesced (flood), and
    # headers that do not fit their packets
    "vnet_relay_hold": inp(HOLD | PLAY | VNET, *vnet(RELAY_HOLD)),
    "vnet_relay_partial": inp(HOLD | PLAY | VNET, *vnet(RELAY_HOLD, partial)),
    "vnet_upload_gso": inp(HOLD | PLAY | VNET, *vnet(upload_gso(), partial)),
    "vnet_upload_gso_v6": inp(HOLD | PLAY | VNET, *vnet(upload_gso(True), partial)),
    "vnet_flood": inp(HOLD | PLAY | VNET, *vnet([
        rec(0, syn()), conc(ANSWER), nxt(ACK), conc(FLOOD, bytes([200])), nxt(ACK),
        nxt(ACK, op=T1S), conc(SHUT, op=T3S), nxt(ACK)])),
    "vnet_flood_v6": inp(FAST | PLAY | VNET, *vnet([
        rec(0, syn(v6=True)), nxt(ACK, v6=True), nxt(PSH | ACK, b"x", v6=True),
        conc(ANSWER), conc(FLOOD, bytes([100])), nxt(ACK, v6=True),
        nxt(FIN | ACK, v6=True), conc(SHUT), nxt(ACK, v6=True)], partial)),
    "vnet_bad_headers": inp(FAST | VNET,
                            rec(0, vhdr(NEEDS_CSUM, 0, 0, 0, 60, 0) + syn()),
                            rec(0, vhdr(NEEDS_CSUM, 0, 0, 0, 0, 0xffff) + syn()),
                            rec(0, vhdr(NEEDS_CSUM, GSO_TCPV4, 0, 0, 20, 16) + syn()),
                            rec(0, vhdr()[:5]),
                            rec(0, vhdr(NEEDS_CSUM, GSO_TCPV4, 40, 1400, 20, 16)
                                + tcp(ACK, bytes(3000), seq=5, ack=7))),
    "two_flows": inp(FAST, rec(0, syn()), rec(0, syn(sport=40001, v6=True)),
                     rec(0, syn(sport=40002)),
                     nxt(ACK, sport=40001, v6=True, op=T1S)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
