#!/usr/bin/env python3
"""A minimal RFC 8803 converter for tests/netns/test_cpe_framing.sh.

It stands where the concentrator would, to show the bytes a CPE with
carrier.source sends: for each connection it reads the Convert message,
appends one line to LOG

    DST-ADDRESS DST-PORT SOURCE

where SOURCE is "none" without a Source TLV (0xC1), else
"LEN ADDRESS PORT" decoded from it (LEN: the TLV's bytes, 20 when well
formed; an IPv4 client as its v4-mapped IPv4 address), then connects to
the Connect TLV's destination, answers a bare Convert header ("connected")
and relays both ways with half-close. A malformed opening is logged as
"malformed WHY" and the connection closed.

usage: srcconv.py PORT LOG
"""
import ipaddress
import socket
import struct
import sys
import threading


def recv_n(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise ValueError("short opening")
        b += d
    return b


def tlvs(body):
    """{type: value} of a Convert message body (after its header)."""
    out, off = {}, 0
    while off < len(body):
        t, words = body[off], body[off + 1]
        if words == 0 or off + 4 * words > len(body):
            raise ValueError("bad TLV length")
        out[t] = body[off + 2:off + 4 * words]
        off += 4 * words
    return out


def addr_port(v):
    """port (2 bytes) and 16-byte address, as in Connect and Source."""
    port = struct.unpack("!H", v[:2])[0]
    a = ipaddress.IPv6Address(v[2:18])
    return str(a.ipv4_mapped or a), port


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(c, log, lock):
    try:
        hdr = recv_n(c, 4)
        if hdr[0] != 1 or hdr[2:] != b"\x22\x63":
            raise ValueError("not a Convert header")
        t = tlvs(recv_n(c, 4 * hdr[1] - 4))
        dst, dport = addr_port(t[0x0A])
        src = "none"
        if 0xC1 in t:
            sa, sp = addr_port(t[0xC1])
            src = "%d %s %d" % (len(t[0xC1]) + 2, sa, sp)
        with lock:
            with open(log, "a") as f:
                f.write("%s %d %s\n" % (dst, dport, src))
        u = socket.create_connection((dst, dport), timeout=5)
        u.settimeout(None)
        c.sendall(b"\x01\x01\x22\x63")
    except (ValueError, KeyError, OSError) as e:
        with lock:
            with open(log, "a") as f:
                f.write("malformed %s\n" % e)
        c.close()
        return
    up = threading.Thread(target=pipe, args=(c, u))
    up.start()
    pipe(u, c)
    up.join()
    c.close()
    u.close()


def main():
    port, log = int(sys.argv[1]), sys.argv[2]
    lock = threading.Lock()
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind(("::", port))
    ls.listen(64)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, log, lock), daemon=True).start()


if __name__ == "__main__":
    main()
