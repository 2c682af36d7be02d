#!/usr/bin/env python3
"""An HTTP file server that says who asked, for the netns tests.

Serves DIR on [::]:PORT (IPv4 too), like python3 -m http.server, and for
each request appends one line to LOG

    PEER-ADDRESS PEER-PORT PATH

(an IPv4 peer as its IPv4 address), and sends the same address and port
in the header X-Peer. Tests compare it with the address the server should
see: the LAN client's, a NAT's, or the concentrator's.

usage: peerhttp.py PORT DIR LOG
"""
import functools
import http.server
import socket
import sys
import threading

LOCK = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    def peer(self):
        a, p = self.client_address[0], self.client_address[1]
        return a.removeprefix("::ffff:"), p

    def end_headers(self):
        self.send_header("X-Peer", "%s %d" % self.peer())
        super().end_headers()

    def do_GET(self):
        with LOCK, open(sys.argv[3], "a") as f:
            f.write("%s %d %s\n" % (*self.peer(), self.path))
        super().do_GET()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    handler = functools.partial(Handler, directory=sys.argv[2])
    Server(("::", int(sys.argv[1])), handler).serve_forever()


if __name__ == "__main__":
    main()
