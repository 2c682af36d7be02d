#!/bin/bash
# mptun-cpe's carriers on the hybrid-access topology (lib_cpe.sh):
# - plain mode with each framing (carrier.protocol convert, socks4, socks5):
#   downloads by IPv4 and IPv6 address through the concentrator, sha256
#   checked, the concentrator counting the framing it parsed (SOCKS4a for
#   IPv6), and a refused port refused; with carrier.fastopen each opening
#   rides in the SYN;
# - carrier.source: true: a converter in Python in place of the concentrator
#   (srcconv.py) decodes the Source TLV of each opening: the LAN client's
#   own address and port (curl --local-port), IPv4 and IPv6;
# - carrier.mode: transparent with no concentrator on the path: the server's
#   own MPTCP listener gets the flows (MPCapableSYNRX in its namespace), the
#   second path joins, a refused port is refused, an unreachable host gets
#   an ICMP unreachable; and with a concentrator address that does not
#   answer probes, the paths go down and flows go direct (health.fail open).
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
CTL=127.0.0.1:9480
cpe_conc_up ctl_http=$CTL || cpe_finish
S4=${SRV4[0]} S6=${SRV6[0]}
# lan CMD...: CMD in $LAN with a time limit; stdout in $OUT, stderr in $ERR
lan() { run "$LAN" timeout 60 "$@"; }
# conc_ctr NAME: the concentrator's counter NAME (its /metrics)
conc_ctr() {
	ip netns exec "$CONC" curl -s --max-time 5 "http://$CTL/metrics" |
		awk -v k="mptun_counter_total{name=\"$1\"}" '$1 == k { print $2 }'
}
# get URL DESC [CURL-ARGS...]: downloads f.bin, checks exit 0 and sha256
get() {
	local url=$1 desc=$2
	shift 2
	rm -f "$TMP/get.bin"
	lan curl --noproxy '*' -sS --max-time 30 -o "$TMP/get.bin" "$@" "$url"
	check_rc "$desc: curl exit 0" 0
	check_eq "$desc: 4 MB, sha256 equal" "$(sha "$TMP/get.bin" 2>/dev/null)" \
		"$(sha "$TMP/www/f.bin")"
}
# refused DST DESC: a closed port looks closed (curl exit 7)
refused() {
	lan curl --noproxy '*' -sSv --max-time 5 "http://$1:1/"
	check_rc "$2: closed port $1:1: curl exit 7 (connection refused)" 7 \
		'Connection refused|Couldn.t connect'
}

mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 4M
srv_http 8080 "$TMP/www"

daemon_checks "carriers (the daemon is what is tested)" || cpe_finish

# ---- plain mode: convert, socks4, socks5 through the concentrator ----
# No paths: health probes (Convert Info) would count as Convert requests.
# counter name for IPv4 and IPv6 destinations, by framing
declare -A C4=([convert]=convert [socks4]=socks4 [socks5]=socks5)
declare -A C6=([convert]=convert [socks4]=socks4a [socks5]=socks5)
for proto in convert socks4 socks5; do
	cpe_start "$proto" "$(cpe_config proto=$proto paths=none)" || cpe_finish
	for dst in 4 6; do
		if [ $dst = 4 ]; then url="http://$S4:8080/f.bin" ctr=${C4[$proto]}
		else url="http://[$S6]:8080/f.bin" ctr=${C6[$proto]}; fi
		n0=$(conc_ctr "$ctr") mpc0=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX)
		get "$url" "$proto IPv$dst"
		check_eq "$proto IPv$dst: the concentrator parsed one $ctr request" \
			"$(($(conc_ctr "$ctr") - n0))" 1
		check_eq "$proto IPv$dst: over MPTCP (MPCapableSYNRX in conc ns)" \
			"$(($(nstat_get "$CONC" MPTcpExtMPCapableSYNRX) - mpc0))" 1
	done
	refused "$S4" "$proto"
	refused "[$S6]" "$proto"
	cpe_alive "$proto"
	cpe_stop "$proto"
done
# with carrier.fastopen every framing rides in the MPTCP SYN (small
# files, no second path: see cpe_config's note on tfo)
mkfile "$TMP/www/s.bin" 64K
for proto in convert socks4 socks5; do
	cpe_start "tfo-$proto" "$(cpe_config proto=$proto paths=none tfo=true)" || cpe_finish
	for dst in "$S4" "[$S6]"; do
		tfo0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
		lan curl --noproxy '*' -sS --max-time 30 -o "$TMP/s.out" "http://$dst:8080/s.bin"
		check_rc "$proto with fastopen $dst: curl exit 0" 0
		check_eq "$proto with fastopen $dst: sha256 equal" "$(sha "$TMP/s.out" 2>/dev/null)" \
			"$(sha "$TMP/www/s.bin")"
		check_eq "$proto with fastopen $dst: the opening was SYN data (TCPFastOpenPassive in conc ns)" \
			"$(($(nstat_get "$CONC" TcpExtTCPFastOpenPassive) - tfo0))" 1
	done
	cpe_stop "tfo-$proto"
done
# SOCKS4 has one failure code: an unreachable host is refused, not ICMP
cpe_start socks4u "$(cpe_config proto=socks4 paths=none)" || cpe_finish
lan curl --noproxy '*' -sSv --max-time 5 "http://$UNREACH4/"
check_rc "socks4: unreachable $UNREACH4 is refused (a RST: SOCKS4 cannot say more)" 7 \
	'Connection refused|Couldn.t connect'
cpe_stop socks4u

# ---- carrier.source: the Source TLV is the LAN client's address and port ----
# No paths: their health probes (Convert Info, no Connect) would reach
# srcconv.py too.
SC_PORT=5125
bg "$CONC" srcconv python3 "$NETNS_DIR/srcconv.py" $SC_PORT "$TMP/srcconv.log"
wait_listen "$CONC" $SC_PORT || cpe_finish
cpe_start source "$(cpe_config source=true conc=$CONC_ADDR:$SC_PORT paths=none)" || cpe_finish
get "http://$S4:8080/f.bin" "source IPv4" --local-port 40123
get "http://[$S6]:8080/f.bin" "source IPv6" --local-port 40124
check_eq "source: the converter decoded the Source TLV of each opening" \
	"$(cat "$TMP/srcconv.log")" \
	"$S4 8080 20 192.168.10.2 40123"$'\n'"$S6 8080 20 fd10::2 40124"
cpe_stop source
: >"$TMP/srcconv.log"
cpe_start nosource "$(cpe_config conc=$CONC_ADDR:$SC_PORT paths=none)" || cpe_finish
get "http://$S4:8080/f.bin" "source: false"
check_eq "source: false: no Source TLV" "$(cat "$TMP/srcconv.log")" "$S4 8080 none"
cpe_stop nosource

# ---- transparent mode, no concentrator on the path ----
# The server's own MPTCP listener (mptcpize: python's sockets become MPTCP).
if ! command -v mptcpize >/dev/null; then
	fail "no mptcpize (scripts/debian-packages) for the MPTCP server"
	cpe_finish
fi
ip -n "$SRV" mptcp limits set subflow 4 add_addr_accepted 0
bg "$SRV" mphttp mptcpize run python3 -m http.server 8081 --bind :: --directory "$TMP/www"
wait_listen "$SRV" 8081 || cpe_finish
mpsrv() { nstat_get "$SRV" "$1"; }
cpe_start transparent "$(cpe_config mode=transparent conc=none)" || cpe_finish
check "transparent: paths up without probes (no concentrator address)" \
	cpe_wait_log transparent 'path wan2 up: .*no concentrator to probe' 5
for dst in "$S4" "[$S6]"; do
	mpc0=$(mpsrv MPTcpExtMPCapableSYNRX) j0=$(mpsrv MPTcpExtMPJoinSynRx)
	t0=$(tun_packets transparent) conc0=$(conc_ctr convert)
	get "http://$dst:8081/f.bin" "transparent $dst"
	check_range "transparent $dst: through the CPE's TUN (packets)" \
		$(($(tun_packets transparent) - t0)) 100 100000000
	check_eq "transparent $dst: the server got one MPTCP connection (MPCapableSYNRX in srv ns)" \
		"$(($(mpsrv MPTcpExtMPCapableSYNRX) - mpc0))" 1
	check_eq "transparent $dst: no opening reached the concentrator" \
		"$(($(conc_ctr convert) - conc0))" 0
	[ "$dst" = "$S4" ] && check_range "transparent $dst: the second path joined (MPJoinSynRx in srv ns)" \
		"$(($(mpsrv MPTcpExtMPJoinSynRx) - j0))" 1 10
done
refused "$S4" transparent
refused "[$S6]" transparent
lan curl --noproxy '*' -sSv --max-time 5 "http://$UNREACH4/"
check_rc "transparent: unreachable $UNREACH4: curl exit 7 (No route to host)" 7 'No route to host'
lan curl --noproxy '*' -sSv --max-time 5 "http://[$UNREACH6]/"
check_rc "transparent: unreachable [$UNREACH6]: curl exit 7 (no route)" 7 \
	'No route to host|Network is unreachable'
cpe_alive transparent
cpe_stop transparent
cpe_check_clean transparent

# ---- transparent, probes to a concentrator address nobody answers:
# paths down, flows direct (health.fail: open), still intact ----
cpe_start tdirect "$(cpe_config mode=transparent conc=$CONC_ADDR:5199)" || cpe_finish
check "transparent: both paths down, probes unanswered" \
	cpe_wait_log tdirect 'path wan1 down: .*probes failed' 10
cpe_wait_log tdirect 'path wan2 down' 10
mpc0=$(mpsrv MPTcpExtMPCapableSYNRX)
get "http://$S4:8081/f.bin" "transparent, no path up"
check_eq "transparent, no path up: plain TCP, no MPTCP at the server" \
	"$(($(mpsrv MPTcpExtMPCapableSYNRX) - mpc0))" 0
check_range "transparent, no path up: counted as direct" \
	"$(cpe_counters tdirect flows | awk '$1 == "direct" { print $2 }')" 1 1
cpe_stop tdirect

conc_stop main
cpe_finish
