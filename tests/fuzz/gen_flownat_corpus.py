#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_flownat into tests/fuzz/corpus/flownat/.

Run from the repository root: python3 tests/fuzz/gen_flownat_corpus.py

An input is a sequence of records [op][length: 16 bits BE][packet]; see the
head of fuzz_flownat.c for what the op bits do.
"""
import ipaddress
import os
import struct

OUT = "tests/fuzz/corpus/flownat"

FIX_IP, FIX_TCP, OUT_DIR, AIM = 0x01, 0x02, 0x04, 0x08
OPEN, CLOSE, REMOVE, EXPIRE, BUILD = 0x10, 0x20, 0x30, 0x40, 0x80
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

C4, D4, L4, S4 = "192.168.1.10", "198.51.100.7", "100.64.0.2", "100.64.0.1"
C6, D6, L6, S6 = "2001:db8:1::10", "2001:db8:2::7", "fd00:6d70::2", "fd00:6d70::1"
LPORT = 7000


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(src, dst, sport, dport, flags, seq=1000, ack=0, data=b"", opts=b""):
    """An IPv4 or IPv6 TCP packet with correct checksums."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    opts += bytes(-len(opts) % 4)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack,
                      (5 + len(opts) // 4) << 4, flags, 65535, 0, 0)
    seg = hdr + opts + data
    if a.version == 4:
        pseudo = a.packed + b.packed + struct.pack("!BBH", 0, 6, len(seg))
    else:
        pseudo = a.packed + b.packed + struct.pack("!IxxxB", len(seg), 6)
    seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
    if a.version == 6:
        return struct.pack("!IHBB", 6 << 28, len(seg), 6, 64) + a.packed + b.packed + seg
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(seg), 0, 0x4000, 64, 6, 0)
    ip += a.packed + b.packed
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + seg


def ip_opts(pkt, opts):
    """Adds IPv4 options (a multiple of 4 bytes) and fixes the header."""
    hl = 20 + len(opts)
    ip = bytes([0x40 | hl // 4]) + pkt[1:2] + struct.pack("!H", len(pkt) + len(opts))
    ip += pkt[4:10] + b"\0\0" + pkt[12:20] + opts
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + pkt[20:]


def refix_v4(pkt):
    ip = pkt[:10] + b"\0\0" + pkt[12:20]
    return ip[:10] + struct.pack("!H", csum(ip)) + pkt[12:]


def zero_csums(pkt):
    """What the fuzzer's fix-up ops complete."""
    return pkt[:10] + b"\0\0" + pkt[12:36] + b"\0\0" + pkt[38:]


def rec(op, pkt):
    return bytes([op]) + struct.pack("!H", len(pkt)) + pkt


def flow(c, d, l, s, data=b"hello"):
    syn = tcp(c, d, 40000, 443, SYN, seq=100)
    return (rec(BUILD | OPEN, syn) +
            rec(0, tcp(c, d, 40000, 443, ACK | PSH, seq=101, ack=5001, data=data)) +
            rec(OUT_DIR | AIM | FIX_IP | FIX_TCP,
                tcp(l, s, LPORT, 1024, ACK, seq=5001, ack=106, data=b"world")) +
            rec(CLOSE, tcp(c, d, 40000, 443, FIN | ACK, seq=106, ack=5006)) +
            rec(EXPIRE, b"") + rec(EXPIRE, b""))


def ext_header_v6():
    p = tcp(C6, D6, 1, 2, SYN)
    hbh = bytes([6, 0, 1, 4, 0, 0, 0, 0])
    return p[:4] + struct.pack("!HBB", len(p) - 40 + 8, 0, 64) + p[8:40] + hbh + p[40:]


def fragment_v4():
    p = bytearray(tcp(C4, D4, 1, 2, SYN))
    p[6:8] = struct.pack("!H", 0x2000)
    return refix_v4(bytes(p))


SEEDS = {
    "syn_v4": rec(BUILD, tcp(C4, D4, 40000, 80, SYN)),
    "syn_v6": rec(BUILD, tcp(C6, D6, 40000, 80, SYN)),
    "syn_data_v4": rec(BUILD, tcp(C4, D4, 1, 80, SYN, data=b"GET / HTTP/1.1\r\n\r\n")),
    "syn_big_v6": rec(BUILD, tcp(C6, D6, 1, 80, SYN, data=bytes(range(256)) * 5)),
    "syn_opts_v4": rec(BUILD | OPEN, ip_opts(tcp(C4, D4, 5, 6, SYN,
                                                opts=bytes([2, 4, 5, 180, 4, 2, 1, 3, 3, 7])),
                                            bytes([1, 1, 1, 0]))),
    "flow_v4": flow(C4, D4, L4, S4),
    "flow_v6": flow(C6, D6, L6, S6, data=bytes(1000)),
    "held_retransmit": rec(0, tcp(C4, D4, 9, 9, SYN)) * 3 + rec(REMOVE, tcp(C4, D4, 9, 9, SYN)),
    "closed_reuse": (rec(CLOSE, tcp(C6, D6, 7, 7, SYN)) + rec(0, tcp(C6, D6, 7, 7, ACK)) +
                     rec(BUILD, tcp(C6, D6, 7, 7, SYN))),
    "full_table": b"".join(rec(0, tcp(C4, D4, 100 + i, 80, SYN)) for i in range(9)),
    "rst_unknown": rec(BUILD, tcp(C4, D4, 1, 2, RST | ACK)),
    "fin_unknown_v6": rec(0, tcp(C6, D6, 1, 2, FIN | ACK)),
    "truncated": rec(0, tcp(C4, D4, 1, 2, SYN)[:30]) + rec(0, tcp(C6, D6, 1, 2, SYN)[:50]),
    "fragment": rec(0, fragment_v4()),
    "ext_header_v6": rec(0, ext_header_v6()),
    "bad_syn_checksum": rec(BUILD, tcp(C4, D4, 1, 2, SYN)[:-1] + b"\x55"),
    "needs_fix": rec(FIX_IP | FIX_TCP | BUILD, zero_csums(tcp(C4, D4, 1, 2, SYN))),
    "out_raw_v4": (rec(OPEN, tcp(C4, D4, 3, 4, SYN)) +
                   rec(OUT_DIR, tcp(L4, S4, LPORT, 1024, SYN | ACK))),
    "udp_v4": rec(0, refix_v4(tcp(C4, D4, 53, 53, 0)[:9] + b"\x11" + tcp(C4, D4, 53, 53, 0)[10:])),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
