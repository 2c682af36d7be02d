#!/bin/bash
# Every RFC 8803 error the concentrator can answer, provoked for real, plus
# the matching SOCKS replies, the header and idle timeouts, -n, and
# tcp_fastopen_sysctl: require.
. "$(dirname "$0")/lib.sh"

topo_up
E=10.1.0.1:5124
conc_start e 5124 "$(conc_config 5124 clients='"10.1.0.2/32", "fd00:1::2/128"' \
	allow='"10.2.0.0/24", "fd00:2::/64", "10.9.0.0/16"' deny='"10.2.0.128/25"' \
	header=1s connect=1s)" || finish
conc_start lim 5126 "$(conc_config 5126 flows=3 per_client=2)" || finish
conc_start idle 5127 "$(conc_config 5127 idle=1s)" || finish
srv_echo 7
for a in 10.1.0.3 10.1.0.4 10.1.0.99; do ip -n "$CLI" addr add $a/24 dev eth0; done
ip -n "$CLI" addr add fd00:1::99/64 dev eth0 nodad
ip -n "$CONC" route add unreachable 10.9.0.0/24 # 10.9.2.0/24: no route at all
# The kernel rate-limits ICMP errors per peer (1 s for ICMPv6): several
# provoked back to back would otherwise be dropped and end as timeouts.
ip netns exec "$SRV" sysctl -qw net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_ratelimit=0
ip netns exec "$SRV" nft -f - <<-EOF
	table inet mptuntest {
		chain input {
			type filter hook input priority 0; policy accept;
			tcp dport 9998 reject with icmpx type host-unreachable
			tcp dport 9996 drop
		}
	}
EOF
mkfifo "$TMP/fifo"
exec 7<>"$TMP/fifo" # stdin of held flows: never EOF
ms() { echo $(($(date +%s%N) / 1000000)); }

check "tcp_fastopen_sysctl: set turned on bit 0x2 in the conc namespace" \
	test $(($(ip netns exec "$CONC" sysctl -n net.ipv4.tcp_fastopen) & 2)) = 2
echo ok | ip netns exec "$CLI" "$TC" "$E" 10.2.0.2:7 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "control: an allowed Convert flow works" 0 '^ok$'

# cerr DESC CODE TC-ARGS...: Convert must answer Error CODE.
cerr() {
	local d=$1 code=$2
	shift 2
	tc "$@"
	check_rc "$d: Convert error $code" 3 "convert error $code( |\$)"
}
# serr DESC REPLY TC-ARGS...: SOCKS must answer REPLY (0xNN).
serr() {
	local d=$1 r=$2
	shift 2
	tc "$@"
	check_rc "$d: SOCKS reply $r" 6 "socks reply $r"
}
hex4() { local IFS=.; set -- $1; printf '%02x%02x%02x%02x' "$@"; }
conn4() { printf '0a05%04x00000000000000000000ffff%s' "$2" "$(hex4 "$1")"; } # IP PORT
C7=$(conn4 10.2.0.2 7)

# ---- 96 Connection Reset ----
cerr "closed port 10.2.0.2:9" 96 "$E" 10.2.0.2:9
check_rc "the Error TLV is followed by FIN" 3 'then FIN'
cerr "closed port over IPv6" 96 --bind fd00:1::2 "[fd00:1::1]:5124" "[fd00:2::2]:9"
serr "SOCKS5 to a closed port" 0x05 --mode socks5 "$E" 10.2.0.2:9
tc --mode socks4 "$E" 10.2.0.2:9
check_rc "SOCKS4 to a closed port: rejected (0x5b)" 6 'socks reply 0x5b'

# ---- 97 Destination Unreachable, value = ICMP code ----
cerr "unreachable route 10.9.0.0/24" 97 "$E" 10.9.0.5:80
check_rc "unreachable route: value 1 (host unreachable)" 3 'convert error 97 value 01'
cerr "no route to 10.9.2.5" 97 "$E" 10.9.2.5:80
check_rc "no route: value 0 (net unreachable)" 3 'convert error 97 value 00'
# On veths the ICMP error can arrive while connect() still holds the socket
# lock; the kernel then keeps it as a soft error and only the SYN sent again
# after 1 s ends the connect. The concentrator with a 2 s connect timeout
# leaves room for that second SYN (E's 1 s would race it).
cerr "ICMP host-unreachable from the server side (nft reject)" 97 10.1.0.1:5126 10.2.0.2:9998
cerr "ICMPv6 address-unreachable from the server side" 97 10.1.0.1:5126 "[fd00:2::2]:9998"
serr "SOCKS5 to an unreachable route" 0x04 --mode socks5 "$E" 10.9.0.5:80
serr "SOCKS5 with no route" 0x03 --mode socks5 "$E" 10.9.2.5:80

# ---- 32 Not Authorized ----
cerr "client source 10.1.0.99 not in clients.allow" 32 --bind 10.1.0.99 "$E" 10.2.0.2:7
check_rc "the Error TLV is followed by FIN" 3 'then FIN'
cerr "client source fd00:1::99 not in clients.allow" 32 --bind fd00:1::99 "[fd00:1::1]:5124" 10.2.0.2:7
serr "SOCKS5 from an unallowed source" 0x02 --mode socks5 --bind 10.1.0.99 "$E" 10.2.0.2:7
cerr "destination is the concentrator's own address 10.2.0.1" 32 "$E" 10.2.0.1:7
cerr "destination is the concentrator's listener itself" 32 "$E" 10.1.0.1:5124
cerr "destination is the concentrator's own IPv6 address" 32 "$E" "[fd00:2::1]:7"
cerr "private destination 10.3.0.5 not in egress.allow" 32 "$E" 10.3.0.5:80
cerr "private destination 192.168.1.1" 32 "$E" 192.168.1.1:80
cerr "destination in egress.deny (10.2.0.128/25)" 32 "$E" 10.2.0.200:7
serr "SOCKS5 to a private destination" 0x02 --mode socks5 "$E" 10.3.0.5:80

# ---- 1 Malformed Message ----
cerr "Connect to 127.0.0.1" 1 "$E" 127.0.0.1:7
cerr "Connect to ::1" 1 "$E" "[::1]:7"
cerr "Connect to multicast 224.0.0.1" 1 "$E" 224.0.0.1:7
cerr "Connect to broadcast 255.255.255.255" 1 "$E" 255.255.255.255:7
cerr "Connect to unspecified 0.0.0.0" 1 "$E" 0.0.0.0:7
cerr "duplicate Connect TLV" 1 --raw "010b2263$C7$C7" "$E" 0.0.0.0:0
cerr "Total Length 0" 1 --raw 01002263 "$E" 0.0.0.0:0
cerr "TLV longer than Total Length" 1 --raw "01032263$C7" "$E" 0.0.0.0:0
cerr "bad magic number" 1 --raw "01062264$C7" "$E" 0.0.0.0:0
# ---- 2 Unsupported Message, 0 Unsupported Version ----
cerr "unknown TLV type 0x50" 2 --raw "01072263${C7}50010000" "$E" 0.0.0.0:0
cerr "version 2" 0 --raw "02062263$C7" "$E" 0.0.0.0:0
cerr "an HTTP request instead of Convert" 0 --raw "$(printf 'GET / HTTP/1.0\r\n\r\n' | od -An -tx1 | tr -d ' \n')" "$E" 0.0.0.0:0
check_rc "version error value lists version 1" 3 'convert error 0 value 01'

# ---- 65 Network Failure: the server's SYNs are dropped, timeouts.connect 1s ----
t0=$(ms)
cerr "connect timeout (SYN dropped)" 65 "$E" 10.2.0.2:9996
check_range "Network Failure after about timeouts.connect (ms)" $(($(ms) - t0)) 800 3000
serr "SOCKS5 connect timeout" 0x04 --mode socks5 "$E" 10.2.0.2:9996

# ---- header timeout: half a header, then silence -> FIN after ~1 s ----
tc --stall 2 "$E" 10.2.0.2:7
check_rc "half a Convert header: closed by FIN with no reply" 0
check_range "half a Convert header: closed after about timeouts.header (ms)" "$OUT" 800 3000
tc --stall 10 --no-tfo "$E" 10.2.0.2:7
check_rc "header and half a TLV (after connect): closed by FIN with no reply" 0
check_range "header and half a TLV: closed after about timeouts.header (ms)" "$OUT" 800 3000
tc --mode socks5 --stall 1 "$E" 10.2.0.2:7
check_rc "half a SOCKS5 greeting: closed by FIN with no reply" 0
check_range "half a SOCKS5 greeting: closed after about timeouts.header (ms)" "$OUT" 800 3000

# ---- 64 Resource Exceeded: flows_per_client 2, flows 3 ----
HELD=()
hold() { # SOURCE: a flow that stays open
	ip netns exec "$CLI" "$TC" --bind "$1" 10.1.0.1:5126 10.2.0.2:7 <&7 >/dev/null 2>&1 &
	PIDS+=($!) HELD+=($!)
}
relayed() { ip netns exec "$CONC" ss -Htn state established '( dst 10.2.0.2 and dport = :7 )' | wc -l; }
wait_relayed() { # N
	local i
	for ((i = 0; i < 50; i++)); do [ "$(relayed)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}
hold 10.1.0.2; hold 10.1.0.2
check "two held flows from 10.1.0.2 are relayed" wait_relayed 2
cerr "third flow from the same client (flows_per_client 2)" 64 --bind 10.1.0.2 10.1.0.1:5126 10.2.0.2:7
serr "SOCKS5 third flow from the same client" 0x01 --mode socks5 --bind 10.1.0.2 10.1.0.1:5126 10.2.0.2:7
hold 10.1.0.3
check "a flow from another client 10.1.0.3 is relayed" wait_relayed 3
cerr "fourth flow overall from 10.1.0.4 (flows 3)" 64 --bind 10.1.0.4 10.1.0.1:5126 10.2.0.2:7
kill "${HELD[@]}" 2>/dev/null
wait "${HELD[@]}" 2>/dev/null
for ((i = 0; i < 30; i++)); do
	echo again | ip netns exec "$CLI" "$TC" --bind 10.1.0.4 10.1.0.1:5126 10.2.0.2:7 >"$TMP/out" 2>"$TMP/err"
	RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
	[ $RC = 0 ] && break
	sleep 0.1
done
check_rc "after the held flows close, new flows are accepted again" 0 '^again$'

# ---- idle timeout 1 s ----
t0=$(ms)
ip netns exec "$CLI" "$TC" --timeout 10 10.1.0.1:5127 10.2.0.2:7 <&7 >/dev/null 2>"$TMP/err"
RC=$?
check "idle flow is closed by the concentrator (client exit 0 or 4, got $RC)" test $RC = 0 -o $RC = 4
check_range "idle flow closed after about timeouts.idle (ms)" $(($(ms) - t0)) 800 4000

# ---- -n / --check-config ----
conc_config 5124 >"$TMP/good.yaml"
run "$CONC" "$CONCD" -n -c "$TMP/good.yaml"
check_rc "-n on a good config: configuration OK, exit 0" 0 'configuration OK'
run "$CONC" "$CONCD" --check-config -c "$TMP/good.yaml"
check_rc "--check-config on a good config" 0 'configuration OK'
printf 'listen: "[::]:5124"\nclients:\n  alow: ["10.1.0.0/24"]\n' >"$TMP/bad.yaml"
run "$CONC" "$CONCD" -n -c "$TMP/bad.yaml"
check_rc "-n on an unknown key: file:line:column, exit 1" 1 'bad.yaml:3:3'
printf 'clients:\n  allow: ["10.1.0.0/24"]\ntimeouts:\n  header: 5\n' >"$TMP/bad2.yaml"
run "$CONC" "$CONCD" -n -c "$TMP/bad2.yaml"
check_rc "-n on a duration without unit: file:line:column, exit 1" 1 'bad2.yaml:4:[0-9]+'

# ---- tcp_fastopen_sysctl: require, in a fresh namespace ----
X=$PFX-x
ns_add "$X"
ip netns exec "$X" sysctl -qw net.ipv4.tcp_fastopen=1
conc_config 5124 tfo=require source4=null >"$TMP/req.yaml"
run "$X" timeout 10 "$CONCD" -f -c "$TMP/req.yaml"
check_rc "require with bit 0x2 clear: refuses to start (exit 1), names the sysctl" 1 \
	'net\.ipv4\.tcp_fastopen'
check_eq "require does not touch the sysctl" "$(ip netns exec "$X" sysctl -n net.ipv4.tcp_fastopen)" 1
ip netns exec "$X" sysctl -qw net.ipv4.tcp_fastopen=3
if conc_start req 5124 "$(cat "$TMP/req.yaml")" "$X"; then
	pass "require with bit 0x2 set: starts and listens"
	conc_stop req
fi

for n in e lim idle; do conc_stop "$n"; done
finish
