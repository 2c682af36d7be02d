#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_conc_source into tests/fuzz/corpus/conc_source/.

Run from the repository root: python3 tests/fuzz/gen_conc_source_corpus.py
"""
import ipaddress
import os
import struct

OUT = "tests/fuzz/corpus/conc_source"


def tlv(t, value):
    body = bytes([t, 0]) + value
    body += bytes(-len(body) % 4)
    return bytes([t, len(body) // 4]) + body[2:]


def msg(*tlvs):
    body = b"".join(tlvs)
    return bytes([1, 1 + len(body) // 4, 0x22, 0x63]) + body


def port_addr(addr, port):
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        ip = ipaddress.IPv6Address("::ffff:" + addr)
    return struct.pack("!H", port) + ip.packed


CONNECT = tlv(0x0A, port_addr("192.0.2.1", 80))
SEEDS = {
    "ok_v4": msg(CONNECT, tlv(0xC1, port_addr("192.168.7.9", 40000))),
    "ok_v6": msg(tlv(0x0A, port_addr("2001:db8::1", 443)),
                 tlv(0xC1, port_addr("2001:db8:100::7", 40002))),
    "bad_port0": msg(CONNECT, tlv(0xC1, port_addr("192.168.7.9", 0))),
    "bad_any": msg(CONNECT, tlv(0xC1, port_addr("0.0.0.0", 1))),
    "bad_multicast6": msg(CONNECT, tlv(0xC1, port_addr("ff02::1", 1))),
    "bad_long": msg(CONNECT, tlv(0xC1, port_addr("192.168.7.9", 1) + bytes(4))),
    "bad_short": msg(CONNECT, tlv(0xC1, port_addr("192.168.7.9", 1)[:12])),
    "value_only": port_addr("10.1.0.2", 5000),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
