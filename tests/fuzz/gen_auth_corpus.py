#!/usr/bin/env python3
# Seeds for tests/fuzz/fuzz_auth.c, written from lib/auth.h's description
# (HMAC-SHA-256 from Python's standard library, not lib/auth.c).
import hashlib, hmac, ipaddress, os, struct, sys

NOW = 1700000000
KEYS = {b"cpe-0001": bytes(range(0x00, 0x20)),
        b"cpe-fuzz": bytes(range(0x40, 0x60)),
        b"x" * 64: bytes(range(0x80, 0xa0))}

def pad(b):
    return b + b"\0" * (-len(b) % 4)

def tlv(t, value):
    body = pad(bytes([t, 0]) + value)
    return bytes([t, len(body) // 4]) + body[2:]

def connect(addr, port, opts=b""):
    a = ipaddress.ip_address(addr)
    a16 = (ipaddress.IPv6Address("::ffff:" + addr).packed if a.version == 4 else a.packed)
    return tlv(0x0A, struct.pack(">H", port) + a16 + opts)

def msg(*tlvs):
    body = b"".join(tlvs)
    return bytes([1, (4 + len(body)) // 4, 0x22, 0x63]) + body

def auth(others, cid=b"cpe-0001", key=None, ts=NOW, nonce=None, version=1):
    key = KEYS.get(cid, bytes(32)) if key is None else key
    nonce = nonce or hashlib.sha256(cid + struct.pack(">Q", ts)).digest()[:16]
    head = bytes([version, len(cid)]) + cid + struct.pack(">Q", ts) + nonce
    mac = hmac.new(key, b"mptun auth v1" + head + b"".join(others), hashlib.sha256).digest()
    return tlv(0xC0, head + mac)

def signed(*others, **kw):
    return msg(*others, auth(others, **kw))

c4 = connect("203.0.113.10", 443)
c6 = connect("2001:db8::7", 80)
c_opts = connect("198.51.100.1", 22, bytes([2, 4, 5, 0xb4, 4, 2]))
cookie = tlv(0x16, b"\0\0" + b"cookie!")
info = tlv(0x01, b"\0\0")

seeds = {
    "ok_v4": signed(c4),
    "ok_v6_fuzz_id": signed(c6, cid=b"cpe-fuzz"),
    "ok_id64": signed(c4, cid=b"x" * 64),
    "ok_cookie": signed(c4, cookie),
    "ok_connect_opts": signed(c_opts),
    "ok_window_edges": signed(c4, ts=NOW - 30),
    "ok_future_edge": signed(c4, ts=NOW + 30),
    "ok_auth_first": msg(auth([c4]), c4),
    "ok_with_data": signed(c4) + b"GET / HTTP/1.1\r\n\r\n",
    "bad_mac": signed(c4, key=bytes(range(1, 33))),
    "bad_unknown_id": signed(c4, cid=b"cpe-9999"),
    "bad_stale": signed(c4, ts=NOW - 31),
    "bad_future": signed(c4, ts=NOW + 31),
    "bad_version": signed(c4, version=2),
    "bad_other_connect": msg(c6, auth([c4])),
    "bad_padding": (lambda m: m[:-1] + b"\x01")(signed(c4, cid=b"cpe-1")),
    "bad_short_auth": msg(c4, tlv(0xC0, b"\x01\x08cpe-0001")),
    "bad_id_len_zero": msg(c4, tlv(0xC0, b"\x01\x00" + bytes(56))),
    "sign_connect": msg(c4),
    "sign_info": msg(info),
    "sign_cookie_opts": msg(c_opts, cookie),
    "sign_bare": msg(),
}
out = sys.argv[1]
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
