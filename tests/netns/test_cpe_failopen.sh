#!/bin/bash
# health.fail: with the concentrator unreachable through every path, new
# flows go direct (open) or are refused at once (closed); flows opened
# direct survive the paths' return; a flow through the concentrator survives
# the outage of every path; new flows use the concentrator again.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "fail open/closed" || finish
cpe_conc_up || cpe_finish
mkdir "$TMP/www"
mkfile "$TMP/www/20M" 20M
mkfile "$TMP/www/1M" 1M
srv_http 8080 "$TMP/www"
ms() { echo $(($(date +%s%N) / 1000000)); }
# conc_block / conc_unblock: the concentrator's port drops everything
conc_block() {
	ip netns exec "$CONC" nft -f - <<-EOF2
	table inet block {
		chain blk {
			type filter hook input priority -10; policy accept;
			tcp dport $CONC_PORT drop
		}
	}
	EOF2
}
conc_unblock() { ip netns exec "$CONC" nft delete table inet block; }
CUR=main
counter() { cpe_counters $CUR flows | awk -v k="$1" '$1 == k { print $2 }'; }
both_down() {
	cpe_wait_log $CUR "path wan1 down" 10 "$1" && cpe_wait_log $CUR "path wan2 down" 10 "$1"
}

# ---- fail: open ----
cpe_start main "$(cpe_config fail=open)" || cpe_finish
wan_shape 1 20mbit
wan_shape 2 20mbit
# a download through the concentrator that lives through the outage
ip netns exec "$LAN" timeout 90 "$FETCH" "${SRV4[0]}" 8080 /20M >"$TMP/s.out" 2>"$TMP/s.err" &
survivor=$!
sleep 1
from=$(cpe_log_lines main)
t0=$(ms)
conc_block
check "concentrator unreachable: both paths down" both_down "$from"
echo "both paths down $(($(ms) - t0)) ms after the concentrator became unreachable"
d0=$(counter direct)
fetch 1M --timeout 10
check_rc "fail open: a new flow completes" 0
check_eq "fail open: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/1M")"
check_eq "fail open: it went direct (direct counter +1)" "$(($(counter direct) - d0))" 1

# a direct flow outlives the paths' return
from=$(cpe_log_lines main)
ip netns exec "$LAN" timeout 60 "$FETCH" "${SRV4[0]}" 8080 /20M >"$TMP/d.out" 2>"$TMP/d.err" &
pid=$!
sleep 2
conc_unblock
check "concentrator back: path wan1 up" cpe_wait_log main "path wan1 up" 10 "$from"
wait "$pid"
rc=$?
OUT=$(cat "$TMP/d.out")
check_eq "a direct 20 MB download across the paths' return completes (exit)" "$rc" 0
check_eq "a direct 20 MB download across the paths' return: sha256 equal" \
	"$(kv sha256)" "$(sha "$TMP/www/20M")"
wait "$survivor"
rc=$?
OUT=$(cat "$TMP/s.out")
check_eq "a download through the concentrator during the outage of every path completes (exit)" "$rc" 0
check_eq "a download through the concentrator during the outage: sha256 equal" \
	"$(kv sha256)" "$(sha "$TMP/www/20M")"
echo "the download through the concentrator stalled $(kv max_gap_ms) ms at most"
d0=$(counter direct) m0=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX)
fetch 1M --timeout 10
check_rc "paths back: a new flow completes" 0
check_eq "paths back: it went through the concentrator (direct +0)" "$(($(counter direct) - d0))" 0
check_range "paths back: MPTCP connection at the concentrator (MPCapableSYNRX)" \
	$(($(nstat_get "$CONC" MPTcpExtMPCapableSYNRX) - m0)) 1 1
cpe_stop main

# ---- fail: closed ----
cpe_start closed "$(cpe_config fail=closed)" || cpe_finish
CUR=closed
from=$(cpe_log_lines closed)
conc_block
check "fail closed, concentrator unreachable: both paths down" both_down "$from"
t0=$(ms)
run "$LAN" curl --noproxy '*' -sS --max-time 10 -o /dev/null "http://${SRV4[0]}:8080/1M"
check_rc "fail closed: curl is refused (exit 7)" 7
check_range "fail closed: refused at once (ms)" $(($(ms) - t0)) 0 2000
check_range "fail closed: no_path counter" "$(counter no_path)" 1 1
from=$(cpe_log_lines closed)
conc_unblock
cpe_wait_log closed "path wan1 up" 10 "$from"
fetch 1M --timeout 10
check_rc "fail closed, concentrator back: a new flow completes" 0
cpe_alive closed
cpe_stop closed
cpe_check_clean closed
cpe_finish
