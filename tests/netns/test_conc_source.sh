#!/bin/bash
# Source preservation: a Convert opening's Source TLV (mptun private use
# 0xC1) inside source.prefixes makes the concentrator connect from that
# address and port (IP_TRANSPARENT); outside them, with another family or
# with preserve off, from its egress address. The server's namespace routes
# everything back through the concentrator (its default route), so the
# answers to a preserved address reach the concentrator, whose policy
# routing hands them to the socket. A malformed Source TLV is answered
# Malformed Message. In transparent mode the client's own address is kept
# the same way.
. "$(dirname "$0")/lib.sh"

TABLE=7124 MARK=0x7124
PREFIXES='"192.168.0.0/16", "2001:db8:100::/48", "10.1.0.0/24"'
topo_up
SOCK=$TMP/conc.sock
CFG="$(conc_config 5124 ctl_socket="$SOCK")
source: {preserve: true, prefixes: [$PREFIXES]}"

# whoami PORT: sends "PEER <address> <port>\n", then echoes to EOF.
cat >"$TMP/whoami.py" <<'EOF'
import socket, sys, threading
def handle(c, a):
    with c:
        c.sendall(("PEER %s %d\n" % (a[0].removeprefix("::ffff:"), a[1])).encode())
        while d := c.recv(1 << 16):
            c.sendall(d)
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(64)
while True:
    threading.Thread(target=handle, args=s.accept(), daemon=True).start()
EOF
bg "$SRV" whoami python3 "$TMP/whoami.py" 9100
wait_listen "$SRV" 9100 || finish
mkfile "$TMP/up.bin" 2M

counter() { # NAME [GROUP]: from /status over the control socket
	curl -sS -m 10 --unix-socket "$SOCK" http://mptun/status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[2]][sys.argv[1]])' \
			"$1" "${2:-counters}" 2>/dev/null || echo none
}
# via LABEL [testclient args...]: 2 MB up and echoed back through the
# concentrator; checks exit 0 and the hash; the server's PEER line in $PEER.
via() {
	local label=$1; shift
	ip netns exec "$CLI" "$TC" --timeout 20 "$@" <"$TMP/up.bin" >"$TMP/got" 2>"$TMP/err"
	RC=$? OUT="" ERR=$(head -c 2000 "$TMP/err")
	check_rc "$label: client exits 0" 0
	PEER=$(head -n 1 "$TMP/got")
	check_eq "$label: 2 MB echoed intact (sha256)" \
		"$(tail -n +2 "$TMP/got" | sha256sum | cut -d' ' -f1)" "$(sha "$TMP/up.bin")"
}
# refused LABEL CODE-REGEX [testclient args...]: a Convert error (exit 3)
refused() {
	local label=$1 want=$2; shift 2
	ip netns exec "$CLI" "$TC" --timeout 10 "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
	RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
	check_rc "$label" 3 "$want"
}
CV=10.1.0.1:5124

conc_start main 5124 "$CFG" || finish
check_eq "preserve alone: the nftables table (socket rule only)" \
	"$(ip netns exec "$CONC" nft list table inet mptun_tproxy 2>/dev/null | grep -c -e 'socket transparent' -e 'tproxy to')" 1
check_eq "preserve alone: fwmark rules (IPv4 and IPv6)" \
	"$({ ip -n "$CONC" -4 rule; ip -n "$CONC" -6 rule; } | grep -c "fwmark $MARK")" 2

# ---- inside a prefix: the server sees the client's own address ----
p0=$(counter source_preserved) n0=$(counter source_nat) s0=$(counter source_tlv)
via "Source 192.168.7.9:40000" --source 192.168.7.9:40000 "$CV" 10.2.0.2:9100
check_eq "Source in a prefix: the server sees 192.168.7.9 port 40000" "$PEER" "PEER 192.168.7.9 40000"
via "Source [2001:db8:100::7]:40002 (IPv6)" --source "[2001:db8:100::7]:40002" "$CV" "[fd00:2::2]:9100"
check_eq "IPv6 Source in a prefix: the server sees it" "$PEER" "PEER 2001:db8:100::7 40002"
check_eq "counted: source_tlv" $(($(counter source_tlv) - s0)) 2
check_eq "counted: source_preserved" $(($(counter source_preserved) - p0)) 2
check_eq "counted: no source_nat" $(($(counter source_nat) - n0)) 0

# ---- the client's port is taken: the address is kept, another port ----
mkfifo "$TMP/hold"
exec 7<>"$TMP/hold"
ip netns exec "$CLI" "$TC" --timeout 20 --source 192.168.7.10:40010 "$CV" 10.2.0.2:9100 \
	<"$TMP/hold" 7<&- >"$TMP/held" 2>&1 &
held=$!
PIDS+=($held)
for ((i = 0; i < 100; i++)); do [ -s "$TMP/held" ] && break; sleep 0.05; done
check_eq "first flow from 192.168.7.10:40010 is open" "$(head -n 1 "$TMP/held")" "PEER 192.168.7.10 40010"
c0=$(counter source_port_changed)
via "second flow, same Source port" --source 192.168.7.10:40010 "$CV" 10.2.0.2:9100
check "port taken: the server sees 192.168.7.10 from another port" \
	bash -c '[[ "$1" =~ ^PEER\ 192\.168\.7\.10\ [0-9]+$ && "$1" != "PEER 192.168.7.10 40010" ]]' _ "$PEER"
check_eq "counted: source_port_changed" $(($(counter source_port_changed) - c0)) 1
exec 7>&-
wait "$held"
check_eq "the held flow ends cleanly" $? 0

# ---- outside the prefixes, or another family: per-flow NAT ----
n0=$(counter source_nat)
via "Source 172.20.0.5:40001 (no prefix)" --source 172.20.0.5:40001 "$CV" 10.2.0.2:9100
check_eq "Source outside the prefixes: the server sees the egress address" "${PEER% *}" "PEER 10.2.0.1"
via "IPv6 Source, IPv4 destination" --source "[2001:db8:100::7]:40003" "$CV" 10.2.0.2:9100
check_eq "Source of another family: the egress address" "${PEER% *}" "PEER 10.2.0.1"
check_eq "counted: source_nat" $(($(counter source_nat) - n0)) 2

# ---- malformed Source TLVs: Malformed Message, the daemon carries on ----
m0=$(counter malformed errors)
refused "Source TLV of 6 words: Malformed Message with the TLV as value" \
	'convert error 1 value c106' --source 192.168.7.9:40000 --source-words 6 "$CV" 10.2.0.2:9100
refused "Source TLV of 4 words: Malformed Message" \
	'convert error 1 ' --source 192.168.7.9:40000 --source-words 4 "$CV" 10.2.0.2:9100
refused "Source port 0: Malformed Message" 'convert error 1 value c105' \
	--source 192.168.7.9:0 "$CV" 10.2.0.2:9100
refused "Source 0.0.0.0: Malformed Message" 'convert error 1 value c105' \
	--source 0.0.0.0:40000 "$CV" 10.2.0.2:9100
refused "Source 224.0.0.1 (multicast): Malformed Message" 'convert error 1 ' \
	--source 224.0.0.1:40000 "$CV" 10.2.0.2:9100
check_eq "counted: 5 Malformed Message" $(($(counter malformed errors) - m0)) 5
via "after the bad ones, a good one" --source 192.168.7.9:40004 "$CV" 10.2.0.2:9100
check_eq "still preserved" "$PEER" "PEER 192.168.7.9 40004"
conc_stop main
check_eq "after SIGTERM: no nftables table" \
	"$(ip netns exec "$CONC" nft list table inet mptun_tproxy >/dev/null 2>&1 && echo yes || echo no)" no
check_eq "after SIGTERM: no fwmark rule, no route in table $TABLE" \
	"$({ ip -n "$CONC" -4 rule; ip -n "$CONC" -6 rule; ip -n "$CONC" route show table $TABLE
	     ip -n "$CONC" -6 route show table $TABLE; } 2>/dev/null | grep -c -e "fwmark $MARK" -e 'local default')" 0

# ---- preserve off: the Source TLV is accepted and the egress address used ----
conc_start off 5124 "$(conc_config 5124 ctl_socket="$SOCK")" || finish
check_eq "preserve off: no nftables table" \
	"$(ip netns exec "$CONC" nft list table inet mptun_tproxy >/dev/null 2>&1 && echo yes || echo no)" no
n0=$(counter source_nat)
via "preserve off, Source 192.168.7.9:40005" --source 192.168.7.9:40005 "$CV" 10.2.0.2:9100
check_eq "preserve off: the server sees the egress address" "${PEER% *}" "PEER 10.2.0.1"
check_eq "preserve off: counted in source_nat" $(($(counter source_nat) - n0)) 1
conc_stop off

# ---- transparent mode keeps the client's own address too ----
conc_start both 5124 "$CFG
transparent: {enabled: true, interfaces: [cli0]}" || finish
t0=$(counter transparent) p0=$(counter source_preserved)
via "transparent MPTCP from 10.1.0.2 (in a prefix)" --mode direct - 10.2.0.2:9100
check "transparent + preserve: the server sees 10.1.0.2" \
	bash -c '[[ "$1" =~ ^PEER\ 10\.1\.0\.2\ [0-9]+$ ]]' _ "$PEER"
check_eq "transparent + preserve: counted transparent" $(($(counter transparent) - t0)) 1
check_eq "transparent + preserve: counted source_preserved" $(($(counter source_preserved) - p0)) 1
conc_stop both
finish
