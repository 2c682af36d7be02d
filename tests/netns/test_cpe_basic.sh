#!/bin/bash
# mptun-cpe end to end on the hybrid-access topology (lib_cpe.sh): HTTP by
# address (v4, v6), 100 MB each way with hashes over both WAN links, iperf3
# both directions, a refused port and an unreachable destination look as
# without a proxy, UDP bypasses the TUN, half-close, and SIGTERM leaves no
# TUN, rule, route or process.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
cpe_conc_up || cpe_finish
cpe_start main "$(cpe_config)" || cpe_finish
S4=${SRV4[0]} S6=${SRV6[0]}
ms() { echo $(($(date +%s%N) / 1000000)); }
# lan CMD...: CMD in $LAN with a time limit; stdout in $OUT, stderr in $ERR
lan() { run "$LAN" timeout 120 "$@"; }

if daemon_checks "capture rules and TUN"; then
	check "IPv6 capture rule (priority 7101, lookup 7100) installed" \
		eval "ip -n $CPE -6 rule show pref 7101 | grep -q 'lookup 7100'"
	check "TUN mptun0 is up" \
		eval "ip -n $CPE link show mptun0 | grep -q ',UP'"
fi

# ---- HTTP by address, IPv4 and IPv6 ----
mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 10M
srv_http 8080 "$TMP/www"
for url in "http://$S4:8080/f.bin" "http://[$S6]:8080/f.bin"; do
	t0=$(tun_packets) mpc0=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX)
	rm -f "$TMP/get.bin"
	lan curl --noproxy '*' -sS --max-time 30 -o "$TMP/get.bin" "$url"
	check_rc "curl $url: exit 0" 0
	check_eq "curl $url: 10 MB, sha256 equal" "$(sha "$TMP/get.bin" 2>/dev/null)" \
		"$(sha "$TMP/www/f.bin")"
	if daemon_checks "curl $url went through the TUN and the concentrator"; then
		check_range "curl $url went through the TUN (TUN packets)" \
			$(($(tun_packets) - t0)) 100 100000000
		check_range "curl $url reached the concentrator over MPTCP (MPCapableSYNRX)" \
			$(($(nstat_get "$CONC" MPTcpExtMPCapableSYNRX) - mpc0)) 1 1
	fi
done

# ---- 100 MB up and 100 MB down, both WAN links used ----
mkfile "$TMP/up.bin" 100M
mkfile "$TMP/down.bin" 100M
bg "$SRV" sink socat -u TCP-LISTEN:9000,reuseaddr "OPEN:$TMP/srv-up.bin,creat,trunc"
sink=$BGPID
bg "$SRV" source socat -u "OPEN:$TMP/down.bin" TCP-LISTEN:9001,reuseaddr
source=$BGPID
wait_listen "$SRV" 9000 && wait_listen "$SRV" 9001
# both_wans DESC: checks that wan1 and wan2 each carried >= 1 MB since
# wan_snap. Not more: the second subflow joins some round trips into the
# transfer (10 MB was a near miss). Each WAN is held to 400 Mbit/s, as
# real uplinks are slower than the CPU: unshaped, 100 MB passed in 0.36 s
# and the scheduler had no reason to leave wan1 (wan2 carried 80 KB).
both_wans() {
	local d1 d2
	read -r d1 d2 < <(wan_delta)
	daemon_checks "$1: both WAN links" || return 0
	check_range "$1: wan1 carried >= 1 MB (bytes)" "$d1" 1000000 1000000000
	check_range "$1: wan2 carried >= 1 MB (bytes)" "$d2" 1000000 1000000000
}
wan_shape 1 400mbit
wan_shape 2 400mbit
wan_snap
j0=$(mp_joins)
t=$(ms)
lan socat -u "OPEN:$TMP/up.bin" "TCP:$S4:9000"
check_rc "100 MB upload: socat in lan exits 0 ($(($(ms) - t)) ms)" 0
timeout 20 tail --pid="$sink" -f /dev/null
check_eq "100 MB upload: sha256 at the server equals the client's" \
	"$(sha "$TMP/srv-up.bin" 2>/dev/null)" "$(sha "$TMP/up.bin")"
both_wans "100 MB upload"
if daemon_checks "MP_JOIN at the concentrator"; then
	check_range "the second subflow joined (MPTcpExtMPJoinSynRx delta in conc ns)" \
		$(($(mp_joins) - j0)) 1 10
fi
wan_snap
t=$(ms)
lan socat -u "TCP:$S4:9001" "CREATE:$TMP/cli-down.bin"
check_rc "100 MB download: socat in lan exits 0 ($(($(ms) - t)) ms)" 0
check_eq "100 MB download: sha256 at the client equals the server's" \
	"$(sha "$TMP/cli-down.bin" 2>/dev/null)" "$(sha "$TMP/down.bin")"
both_wans "100 MB download"
kill "$sink" "$source" 2>/dev/null
rm -f "$TMP/up.bin" "$TMP/down.bin" "$TMP/srv-up.bin" "$TMP/cli-down.bin"

# ---- iperf3 both directions ----
srv_iperf 5201
iperf_both "$S4" 3

# ---- a refused port is refused, an unreachable host unreachable ----
for dst in "$S4" "[$S6]"; do
	t=$(ms)
	lan curl --noproxy '*' -sSv --max-time 5 "http://$dst:1/"
	t=$(($(ms) - t))
	check_rc "closed port $dst:1: curl exit 7 (connection refused)" 7 \
		'Connection refused|Couldn.t connect'
	check_range "closed port $dst:1: refused quickly (ms)" "$t" 0 1999
done
# conc's connect fails at once (an "unreachable" route there); the CPE
# answers the held SYN with an ICMP (v4: host unreachable; v6: address
# unreachable or no route, not "administratively prohibited")
lan curl --noproxy '*' -sSv --max-time 5 "http://$UNREACH4/"
check_rc "unreachable $UNREACH4: curl exit 7 (No route to host)" 7 'No route to host'
lan curl --noproxy '*' -sSv --max-time 5 "http://[$UNREACH6]/"
check_rc "unreachable [$UNREACH6]: curl exit 7 (No route to host or Network is unreachable)" 7 \
	'No route to host|Network is unreachable'

# ---- UDP keeps the normal routes and never enters the TUN ----
srv_udpecho 5300
cat >"$TMP/udp.py" <<'EOF'
import socket, sys
host, n, ok = sys.argv[1], int(sys.argv[2]), 0
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i in range(n):
    msg = b"udp %d " % i + bytes(200)
    s.sendto(msg, (host, 5300))
    try:
        ok += s.recvfrom(2048)[0] == msg
    except socket.timeout:
        pass
print("echoed %d/%d" % (ok, n))
EOF
# UDP counted by interface in the cpe namespace (the TUN's packet counters
# also see the kernel's own IPv6 router solicitations and MLD reports)
ip netns exec "$CPE" nft -f - <<-'EOF'
	table inet mptuntest {
		counter udp_tun {}
		counter udp_wan1 {}
		chain forward_udp {
			type filter hook forward priority 0; policy accept;
			meta l4proto udp oifname "mptun0" counter name "udp_tun"
			meta l4proto udp iifname "mptun0" counter name "udp_tun"
			meta l4proto udp oifname "wan1" counter name "udp_wan1"
		}
		chain output_udp {
			type filter hook output priority 0; policy accept;
			meta l4proto udp oifname "mptun0" counter name "udp_tun"
		}
	}
EOF
udp_ctr() { ip netns exec "$CPE" nft list counter inet mptuntest "$1" |
	sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
for dst in "$S4" "$S6"; do
	lan python3 "$TMP/udp.py" "$dst" 50
	check_rc "UDP echo $dst from lan: 50 datagrams echoed" 0 '^echoed 50/50$'
done
check_eq "UDP from lan left by wan1 as usual (nft counter in cpe ns)" "$(udp_ctr udp_wan1)" 100
if daemon_checks "UDP did not enter the TUN"; then
	check_eq "UDP did not enter or leave the TUN (nft counter in cpe ns)" \
		"$(udp_ctr udp_tun)" 0
fi
ip netns exec "$CPE" nft delete table inet mptuntest

# ---- half-close: the client shuts its write side, the server replies ----
srv_eofecho 9002
mkfile "$TMP/half.bin" 5M
for dst in "$S4:9002" "[$S6]:9002"; do
	ip netns exec "$LAN" timeout 60 "$TC" --mode direct --tcp - "$dst" \
		<"$TMP/half.bin" >"$TMP/half.out" 2>"$TMP/err"
	RC=$? OUT="" ERR=$(cat "$TMP/err")
	check_rc "half-close $dst: client exits 0" 0
	check_eq "half-close $dst: server read to EOF, then its full 5 MB reply arrived" \
		"$(sha "$TMP/half.out")" "$(sha "$TMP/half.bin")"
done

# ---- flows whose server closed first left no lwIP TIME_WAIT behind ----
if daemon_checks "lwIP TIME_WAIT freed"; then
	check_range "servers closed first (the downloads): lwIP's TIME_WAIT pcbs freed (tun time_wait_dropped)" \
		"$(cpe_counters main tun | awk '$1 == "time_wait_dropped" { print $2 }')" 1 1000
fi

# ---- SIGTERM: exit 0, nothing left behind ----
if daemon_checks "teardown on SIGTERM"; then
	cpe_alive main
	cpe_stop main
	cpe_check_clean main
	lan curl --noproxy '*' -sS --max-time 10 -o "$TMP/get.bin" "http://$S4:8080/f.bin"
	check_rc "after stop: lan reaches srv by plain routing again" 0
fi
conc_stop main
cpe_finish
