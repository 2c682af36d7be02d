#!/bin/bash
# flow.open: fast. The CPE answers the LAN SYN at once and sends the
# client's first bytes in the MPTCP SYN, with the Convert message. Checked
# against flow.open: hold on the same flows: TcpExtTCPFastOpenPassive in the
# conc namespace grows by one per flow in both modes (Convert always rides in
# the SYN), but only in fast mode do SYNs reaching the concentrator carry
# the 400-byte request (an nftables counter of SYNs by IP length), and the
# server accepts only after the client's connect() returned (causal order,
# same CLOCK_MONOTONIC in every namespace). Errors arrive after connect.
. "$(dirname "$0")/lib_cpe.sh"

N=20 S4=${SRV4[0]} S6=${SRV6[0]}
cpe_topo_up
cpe_conc_up || cpe_finish
# SYNs to the concentrator: all of them, and those whose IP packet is
# large enough that the payload must hold more than a Convert message
# (20 IP + 60 max TCP header + 24 Convert + 400 request >= 444 bytes)
ip netns exec "$CONC" nft -f - <<EOF
table inet mptuntest {
	counter syn {}
	counter bigsyn {}
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport $CONC_PORT tcp flags & (syn | ack) == syn tcp option mptcp subtype 0 counter name "syn"
		tcp dport $CONC_PORT tcp flags & (syn | ack) == syn ip length >= 424 counter name "bigsyn"
	}
}
EOF
nft_packets() { ip netns exec "$CONC" nft list counter inet mptuntest "$1" |
	sed -n 's/.*packets \([0-9]*\).*/\1/p'; }

# reqsrv.py PORT: reads a 400-byte request, answers "T_ACCEPT T_FIRST\n" (ns,
# CLOCK_MONOTONIC: accept() returned, first request byte read) + the request.
cat >"$TMP/reqsrv.py" <<'EOF'
import socket, sys, threading, time
def handle(c, t_acc):
    buf, t_first = b"", 0
    while len(buf) < 400:
        d = c.recv(4096)
        if not d:
            break
        t_first = t_first or time.monotonic_ns()
        buf += d
    c.sendall(b"%d %d\n" % (t_acc, t_first) + buf)
    c.close()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(128)
while True:
    c = s.accept()[0]
    threading.Thread(target=handle, args=(c, time.monotonic_ns()), daemon=True).start()
EOF
# reqcli.py HOST PORT N: N sequential flows; each sends a 400-byte request
# right after connect(). Prints "ok K/N", "accept_after_connect K/N" (the
# server's accept() returned after the client's connect() did) and medians
# in microseconds from the start of connect(): connect done, server accept,
# server's first request byte.
cat >"$TMP/reqcli.py" <<'EOF'
import socket, statistics, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = after = 0
conn, acc, first = [], [], []
for i in range(n):
    req = (b"request %d " % i).ljust(400, b"x")
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(10)
    try:
        t0 = time.monotonic_ns()
        s.connect((host, port))
        t1 = time.monotonic_ns()
        s.sendall(req)
        rep = b""
        while d := s.recv(4096):
            rep += d
    except OSError as e:
        print("flow %d: %s" % (i, e))
        continue
    finally:
        s.close()
    line, _, body = rep.partition(b"\n")
    t_acc, t_first = map(int, line.split())
    if body != req:
        print("flow %d: request arrived damaged (%d bytes)" % (i, len(body)))
        continue
    ok += 1
    after += t_acc > t1
    conn.append((t1 - t0) / 1000); acc.append((t_acc - t0) / 1000)
    first.append((t_first - t0) / 1000)
print("ok %d/%d" % (ok, n))
print("accept_after_connect %d/%d" % (after, n))
if ok:
    print("median_us connect %.0f server_accept %.0f server_first_byte %.0f" %
          (statistics.median(conn), statistics.median(acc), statistics.median(first)))
EOF
bg "$SRV" reqsrv python3 "$TMP/reqsrv.py" 9200
wait_listen "$SRV" 9200

# flows MODE: N flows through the CPE; sets the deltas TFO, SYN, BIG
flows() {
	local t0 s0 b0
	t0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive) s0=$(nft_packets syn) b0=$(nft_packets bigsyn)
	run "$LAN" timeout 120 python3 "$TMP/reqcli.py" "$S4" 9200 $N
	check_rc "$1: $N flows, each server got its 400-byte request intact" 0 "^ok $N/$N\$"
	TFO=$(($(nstat_get "$CONC" TcpExtTCPFastOpenPassive) - t0))
	SYN=$(($(nft_packets syn) - s0)) BIG=$(($(nft_packets bigsyn) - b0))
	echo "INFO: $1: $(grep median "$TMP/out") (TFO +$TFO, SYNs +$SYN, with request +$BIG)"
}

# ---- control: hold ----
if daemon_checks "flow.open: hold control"; then
	cpe_start hold "$(cpe_config open=hold tfo=true)" || cpe_finish
	flows "hold"
	check_eq "hold: Convert in every MPTCP SYN (TcpExtTCPFastOpenPassive +$N)" "$TFO" $N
	check_eq "hold: no SYN carries the request (bigsyn counter +0)" "$BIG" 0
	cpe_stop hold
fi

# ---- fast ----
cpe_start fast "$(cpe_config open=fast fast_wait=20ms tfo=true)" || cpe_finish
flows "fast"
if daemon_checks "fast: counters"; then
	check_eq "fast: one SYN with data per flow (TcpExtTCPFastOpenPassive +$N)" "$TFO" $N
	check_eq "fast: one MPTCP SYN per flow at the concentrator" "$SYN" $N
	check_eq "fast: the 400-byte request rode in every SYN (bigsyn counter +$N)" "$BIG" $N
	check_rc "fast: every server accept came after the client's connect() returned" 0 \
		"^accept_after_connect $N/$N\$"
fi

# IPv6 destination, and a server that speaks first (no client bytes: the
# CPE sends the SYN with only the Convert message after fast_wait)
run "$LAN" timeout 20 python3 "$TMP/reqcli.py" "$S6" 9200 3
check_rc "fast: IPv6 destination, 3 flows intact" 0 "^ok 3/3\$"
bg "$SRV" greeter socat TCP6-LISTEN:9201,fork,reuseaddr,ipv6only=0 SYSTEM:'echo server-first'
wait_listen "$SRV" 9201
cat >"$TMP/greet.py" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], 9201), timeout=5)
print(s.makefile().readline().strip())
EOF
t0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
run "$LAN" timeout 20 python3 "$TMP/greet.py" "$S4"
check_rc "fast: a server-first protocol works (client sends nothing)" 0 '^server-first$'
if daemon_checks "fast: server-first SYN"; then
	check_eq "fast: its Convert still rode in the SYN (TcpExtTCPFastOpenPassive +1)" \
		$(($(nstat_get "$CONC" TcpExtTCPFastOpenPassive) - t0)) 1
fi

# a refused port: connect succeeds, the error arrives as a reset after it
if daemon_checks "fast: refused port after connect"; then
	run "$LAN" curl --noproxy '*' -sS --max-time 5 "http://$S4:1/"
	check_rc "fast: closed port: connected, then reset (curl exit 56)" 56
fi
cpe_alive fast
cpe_stop fast
conc_stop main
cpe_finish
