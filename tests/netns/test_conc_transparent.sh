#!/bin/bash
# Transparent mode of the concentrator: MPTCP connections from the client
# namespace to the server's own address, routed through the concentrator's
# namespace, are intercepted (nftables TPROXY on cli0) and re-originated
# from the concentrator's egress address; plain TCP on the same path, and
# MPTCP to the concentrator's own Convert listener, are not. The daemon's
# nftables table, rules and routes exist while it runs and are gone after
# SIGTERM, also after a crashed run; without CAP_NET_ADMIN it refuses to
# start, saying so. A second path joins through an address the
# concentrator announces (transparent.announce; the kernel refuses joins to
# the intercepted destination itself); the endpoint goes at exit.
. "$(dirname "$0")/lib.sh"

TABLE=7124 MARK=0x7124
topo_up
SOCK=$TMP/conc.sock
CFG="$(conc_config 5124 ctl_socket="$SOCK")
transparent: {enabled: true, port: 5125, interfaces: [cli0]}"

# whoami PORT FILE: sends "PEER <client address>\n", then FILE, then closes.
cat >"$TMP/whoami.py" <<'EOF'
import socket, sys, threading
def handle(c, a):
    with c:
        c.sendall(("PEER %s\n" % a[0].removeprefix("::ffff:")).encode())
        with open(sys.argv[2], "rb") as f:
            while b := f.read(1 << 16):
                c.sendall(b)
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(64)
while True:
    threading.Thread(target=handle, args=s.accept(), daemon=True).start()
EOF
mkfile "$TMP/file.bin" 20M
bg "$SRV" whoami python3 "$TMP/whoami.py" 9100 "$TMP/file.bin"
wait_listen "$SRV" 9100 || finish

# counter NAME: from /status over the control socket
counter() {
	curl -sS -m 10 --unix-socket "$SOCK" http://mptun/status 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1" 2>/dev/null ||
		echo none
}
# fetch LABEL [testclient args...]: runs the client in $CLI; checks exit 0
# and the file's hash; the first line (PEER ...) in $PEER.
fetch() {
	local label=$1; shift
	ip netns exec "$CLI" "$TC" --timeout 20 "$@" </dev/null >"$TMP/got" 2>"$TMP/err"
	RC=$? OUT="" ERR=$(head -c 2000 "$TMP/err")
	check_rc "$label: client exits 0" 0
	PEER=$(head -n 1 "$TMP/got")
	check_eq "$label: 20 MB intact (sha256)" "$(tail -n +2 "$TMP/got" | sha256sum | cut -d' ' -f1)" \
		"$(sha "$TMP/file.bin")"
}
# what the daemon installed, in the concentrator's namespace
nft_table() { ip netns exec "$CONC" nft list table inet mptun_tproxy >/dev/null 2>&1 && echo yes || echo no; }
mark_rules() { { ip -n "$CONC" -4 rule; ip -n "$CONC" -6 rule; } | grep -c "fwmark $MARK"; }
table_routes() { { ip -n "$CONC" -4 route show table $TABLE; ip -n "$CONC" -6 route show table $TABLE; } 2>/dev/null | grep -c .; }
check_clean() { # LABEL
	check_eq "$1: no nftables table inet mptun_tproxy" "$(nft_table)" no
	check_eq "$1: no fwmark rule" "$(mark_rules)" 0
	check_eq "$1: table $TABLE empty" "$(table_routes)" 0
}

# ---- without CAP_NET_ADMIN: a clear refusal ----
printf '%s\n' "$CFG" >"$TMP/nocap.yaml"
ip netns exec "$CONC" setpriv --bounding-set=-net_admin --inh-caps=-net_admin \
	"$CONCD" -f -c "$TMP/nocap.yaml" >"$TMP/nocap.log" 2>&1
RC=$? OUT="" ERR=$(cat "$TMP/nocap.log")
check_rc "without CAP_NET_ADMIN the daemon refuses to start, naming it" 1 \
	'transparent.enabled needs CAP_NET_ADMIN'
check_clean "after the refusal"

# ---- a crashed run's leftovers are replaced at start ----
conc_start crash 5124 "$CFG" || finish
check_eq "running: nftables table inet mptun_tproxy" "$(nft_table)" yes
check_eq "running: fwmark rules (IPv4 and IPv6)" "$(mark_rules)" 2
check_eq "running: local routes in table $TABLE (IPv4 and IPv6)" "$(table_routes)" 2
kill -9 "${CONC_PID[crash]}"; wait "${CONC_PID[crash]}" 2>/dev/null
check_eq "after kill -9 the table is left" "$(nft_table)" yes
conc_start main 5124 "$CFG" || finish
check_eq "restarted over the leftovers: one set of fwmark rules" "$(mark_rules)" 2
check_eq "restarted: local routes in table $TABLE" "$(table_routes)" 2

# ---- MPTCP to the server's own address: intercepted ----
t0=$(counter transparent) a0=$(counter accepted)
fetch "MPTCP to 10.2.0.2 through the concentrator" --mode direct - 10.2.0.2:9100
check_eq "MPTCP: the server sees the concentrator's egress address" "$PEER" "PEER 10.2.0.1"
check_eq "MPTCP: counted as transparent" $(($(counter transparent) - t0)) 1

# IPv6: egress.source6 unset, the kernel picks srv0's address
fetch "MPTCP to [fd00:2::2] (IPv6)" --mode direct - "[fd00:2::2]:9100"
check_eq "MPTCP over IPv6: the server sees the concentrator's address" "$PEER" "PEER fd00:2::1"
check_eq "MPTCP over IPv6: counted as transparent" $(($(counter transparent) - t0)) 2

# ---- a second path ----
# cli eth1 10.1.1.2 -- cli1 10.1.1.1 on the concentrator. A join to the
# intercepted destination itself is refused by the kernel: it reaches the
# listener on transparent.port, not the connection's port
# (MPTcpExtMismatchPortSynRx). The concentrator announces 10.1.1.1 port
# 5126 instead (transparent.announce: an MPTCP "signal" endpoint with a
# port, added by the daemon), and the client's fullmesh endpoint joins
# there.
ip -n "$CLI" link add eth1 type veth peer name cli1 netns "$CONC"
ip -n "$CLI" addr add 10.1.1.2/24 dev eth1
ip -n "$CONC" addr add 10.1.1.1/24 dev cli1
ip -n "$CLI" link set eth1 up; ip -n "$CONC" link set cli1 up
ip -n "$CLI" rule add from 10.1.1.2 table 100
ip -n "$CLI" route add default via 10.1.1.1 dev eth1 table 100
ip -n "$CLI" mptcp limits set subflows 2 add_addr_accepted 2
ip -n "$CLI" mptcp endpoint add 10.1.1.2 dev eth1 subflow fullmesh
ip -n "$CONC" mptcp limits set subflows 2
conc_stop main
conc_start main 5124 "$(conc_config 5124 ctl_socket="$SOCK")
transparent: {enabled: true, port: 5125, interfaces: [cli0, cli1],
  announce: [10.1.1.1], join_port: 5126}" || finish
check "the daemon added the endpoint 10.1.1.1 port 5126 (signal)" \
	eval "ip -n $CONC mptcp endpoint show | grep -Eq '^10.1.1.1 port 5126 id [0-9]+ signal'"
check_eq "the daemon raised the subflows limit to 8" \
	"$(ip -n "$CONC" mptcp limits show | grep -o 'subflows [0-9]*')" "subflows 8"
srv_eofecho 9002
j0=$(nstat_get "$CONC" MPTcpExtMPJoinPortAckRx) m0=$(nstat_get "$CONC" MPTcpExtMismatchPortSynRx)
# the first byte a second late, so the subflows are made while it lasts
{ sleep 1; cat "$TMP/file.bin"; } |
	ip netns exec "$CLI" "$TC" --timeout 20 --mode direct - 10.2.0.2:9002 >"$TMP/got" 2>"$TMP/err"
RC=$? OUT="" ERR=$(head -c 2000 "$TMP/err")
check_rc "MPTCP over two paths: client exits 0" 0
check_eq "two paths: 20 MB echoed intact (sha256)" "$(sha "$TMP/got")" "$(sha "$TMP/file.bin")"
check_range "two paths: a subflow joined at the announced 10.1.1.1:5126 (MPTcpExtMPJoinPortAckRx)" \
	$(($(nstat_get "$CONC" MPTcpExtMPJoinPortAckRx) - j0)) 1 1
echo "note: joins to the intercepted destination refused by the kernel:" \
	"$(($(nstat_get "$CONC" MPTcpExtMismatchPortSynRx) - m0)) (MPTcpExtMismatchPortSynRx)"
ip -n "$CLI" mptcp endpoint flush

# ---- plain TCP on the same path: untouched ----
t1=$(counter transparent) a1=$(counter accepted)
fetch "plain TCP to 10.2.0.2" --mode direct --tcp - 10.2.0.2:9100
check_eq "plain TCP: the server sees the client's own address" "$PEER" "PEER 10.1.0.2"
fetch "plain TCP to [fd00:2::2]" --mode direct --tcp - "[fd00:2::2]:9100"
check_eq "plain TCP over IPv6: the server sees the client's own address" "$PEER" "PEER fd00:1::2"
check_eq "plain TCP: the concentrator accepted nothing" "$(counter accepted)" "$a1"
check_eq "plain TCP: transparent counter unchanged" "$(counter transparent)" "$t1"

# ---- MPTCP to the concentrator's own listener stays Convert ----
srv_eofecho 9002
echo convert | ip netns exec "$CLI" "$TC" 10.1.0.1:5124 10.2.0.2:9002 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "Convert to the concentrator's own address is not intercepted" 0 '^convert$'
check_eq "Convert: transparent counter unchanged" "$(counter transparent)" "$t1"

# ---- a refused port: the MPTCP connection is reset ----
r0=$(counter transparent_reset)
ip netns exec "$CLI" "$TC" --timeout 10 --mode direct - 10.2.0.2:1 </dev/null >/dev/null 2>"$TMP/err"
RC=$? OUT="" ERR=$(cat "$TMP/err")
check_rc "MPTCP to a closed port: reset (exit 4), as without a concentrator" 4
check_eq "closed port: counted in transparent_reset" $(($(counter transparent_reset) - r0)) 1
# a destination the egress policy refuses (10.3/16: private, not in
# egress.allow): reset, and no connect made
c0=$(counter connect_started)
ip netns exec "$CLI" "$TC" --timeout 10 --mode direct - 10.3.0.1:80 </dev/null >/dev/null 2>"$TMP/err"
RC=$? OUT="" ERR=$(cat "$TMP/err")
check_rc "MPTCP to a destination egress refuses: reset (exit 4)" 4
check_eq "refused destination: no upstream connect" "$(counter connect_started)" "$c0"
check_eq "refused destination: counted in transparent_reset" $(($(counter transparent_reset) - r0)) 2

check_eq "concentrator still running" "$(kill -0 "${CONC_PID[main]}" 2>&1 && echo yes)" yes
conc_stop main
check_clean "after SIGTERM"
check_eq "after SIGTERM: the announced endpoint is gone" \
	"$(ip -n "$CONC" mptcp endpoint show)" ""

# ---- user: the daemon keeps CAP_NET_ADMIN to remove its rules at exit ----
chmod 755 "$TMP"
conc_start nobody 5124 "$CFG
user: nobody" || finish
check_eq "as nobody: fwmark rules installed" "$(mark_rules)" 2
fetch "MPTCP through a concentrator running as nobody" --mode direct - 10.2.0.2:9100
check_eq "as nobody: the server sees the egress address" "$PEER" "PEER 10.2.0.1"
grep -q "running as nobody with CAP_NET_ADMIN only" "${CONC_LOG[nobody]}"
check "as nobody: logs that it kept CAP_NET_ADMIN only" test $? = 0
conc_stop nobody
check_clean "as nobody, after SIGTERM"
finish
