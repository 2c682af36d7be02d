#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_convert into tests/fuzz/corpus/convert/.

Run from the repository root: python3 tests/fuzz/gen_convert_corpus.py
"""
import ipaddress
import os
import struct

OUT = "tests/fuzz/corpus/convert"


def tlv(t, value, words=None):
    body = bytes([t, 0]) + value
    body += bytes(-len(body) % 4)
    n = len(body) // 4 if words is None else words
    return bytes([t, n]) + body[2:]


def msg(*tlvs, total=None):
    body = b"".join(tlvs)
    n = 1 + len(body) // 4 if total is None else total
    return bytes([1, n, 0x22, 0x63]) + body


def connect(addr, port, opts=b""):
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        ip = ipaddress.IPv6Address("::ffff:" + addr)
    return tlv(0x0A, struct.pack("!H", port) + ip.packed + opts)


def source(addr, port):
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        ip = ipaddress.IPv6Address("::ffff:" + addr)
    return tlv(0xC1, struct.pack("!H", port) + ip.packed)


INFO = tlv(0x01, b"\0\0")
V4 = connect("192.0.2.1", 80)
V6 = connect("2001:db8::1", 443)
# SACK permitted, window scale 7, MP_CAPABLE v1, then padding
EXT_OPTS = bytes([4, 2, 3, 3, 7, 30, 4, 0x01, 0x81, 0, 0, 0])
# MSS 1460, SACK permitted, timestamps, window scale 7
SYNACK_OPTS = bytes([2, 4, 0x05, 0xB4, 4, 2, 8, 10]) + bytes(range(1, 9)) + bytes([3, 3, 7])
EXT_HDR = tlv(0x14, b"\0\0" + SYNACK_OPTS)
SUPPORTED = tlv(0x15, b"\0\0" + bytes([30, 4, 8, 3]))
COOKIE = tlv(0x16, b"\0\0" + bytes.fromhex("deadbeef42"))
AUTH = tlv(0xC0, bytes(range(40)))
SOURCE = source("192.168.1.10", 50000)
HTTP = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"

SEEDS = {
    "ok_bare_header": msg(),
    "ok_info": msg(INFO),
    "ok_connect_v4": msg(V4),
    "ok_connect_v6": msg(V6),
    "ok_connect_ext_opts": msg(connect("2001:db8::2", 8080, EXT_OPTS)),
    "ok_connect_cookie_data": msg(V4, COOKIE) + HTTP,
    "ok_ext_tcp_hdr": msg(EXT_HDR),
    "ok_ext_tcp_hdr_empty": msg(tlv(0x14, b"\0\0")),
    "ok_supported_ext": msg(SUPPORTED),
    "ok_error_version": msg(tlv(0x1E, bytes([0, 1]))),
    "ok_error_malformed": msg(tlv(0x1E, bytes([1]) + tlv(0x0A, b"\0\0", 7))),
    "ok_error_unreachable": msg(tlv(0x1E, bytes([97, 1]))),
    "ok_error_resource": msg(tlv(0x1E, bytes([64, 0]))),
    "ok_auth_source": msg(V6, AUTH, SOURCE) + b"data",
    "ok_all_tlvs": msg(V4, INFO, EXT_HDR, SUPPORTED, COOKIE,
                       tlv(0x1E, bytes([96])), AUTH, SOURCE),
    "ok_max_len": msg(V6, tlv(0xC0, bytes(1020 - 4 - 20 - 2))),
    # Source TLVs convert_source_parse accepts, and ones it refuses
    # (convert_decode keeps any value raw)
    "ok_source_v4": msg(V4, SOURCE),
    "ok_source_v6": msg(V6, source("2001:db8:1::10", 51000)),
    "ok_source_port0": msg(V4, source("192.168.1.10", 0)),
    "ok_source_loopback": msg(V4, source("::1", 80)),
    "ok_source_mcast4": msg(V4, source("224.0.0.1", 80)),
    "ok_source_short": msg(V4, tlv(0xC1, bytes([10, 0, 0, 2, 0xC3, 0x50]))),
    "ok_source_long": msg(tlv(0xC1, bytes(22))),
    "bad_version": bytes([2, 1, 0x22, 0x63]),
    "bad_socks5_greeting": bytes([5, 1, 0]),
    "bad_total_zero": bytes([1, 0, 0x22, 0x63]),
    "bad_magic": bytes([1, 1, 0x63, 0x22]),
    "bad_tlv_len_zero": msg(tlv(0x16, b"\0\0", 0), total=3) + bytes(4),
    "bad_total_smaller": msg(V4, total=3) + bytes(12),
    "bad_total_bigger": msg(INFO, total=4) + HTTP,
    "bad_unknown_type": msg(tlv(0x42, bytes(6))),
    "bad_type_zero": msg(tlv(0x00, b"\0\0")),
    "bad_duplicate": msg(COOKIE, INFO, COOKIE),
    "bad_connect_nop": msg(connect("192.0.2.1", 80, bytes([1, 1, 4, 2]))),
    "bad_supported_kind": msg(tlv(0x15, b"\0\0" + bytes([30, 2]))),
    "bad_info_length": msg(tlv(0x01, bytes(6))),
    "short_connect": msg(V6)[:10],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        assert len(data) <= 1100, name
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
