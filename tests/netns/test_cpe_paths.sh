#!/bin/bash
# mptun-cpe paths (lib_cpe.sh topology, both WAN links shaped to 20 Mbit/s
# each way): the daemon installs endpoints, tables and rules; one flow
# aggregates both links; a 60 MB download survives wan1 going dead (every
# packet dropped) and wan2 losing carrier, with the longest stall reported;
# wan1 is used again when it comes back; new connections succeed while the
# default-route link is dead; SIGTERM removes everything.
. "$(dirname "$0")/lib_cpe.sh"

RATE=20 # Mbit/s per link
cpe_topo_up
daemon_checks "paths" || finish
cpe_conc_up || cpe_finish
cpe_start main "$(cpe_config)" || cpe_finish
ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- what the daemon installed ----
eps=$(ip -n "$CPE" mptcp endpoint show)
check "MPTCP endpoint 100.64.1.2 dev wan1 (subflow)" \
	eval "echo '$eps' | grep -Eq '^100\.64\.1\.2 id 1 subflow dev wan1'"
check "MPTCP endpoint 100.64.2.2 dev wan2 (subflow)" \
	eval "echo '$eps' | grep -Eq '^100\.64\.2\.2 id 2 subflow dev wan2'"
check "MPTCP limits: 2 subflows" \
	eval "ip -n $CPE mptcp limits show | grep -q 'subflows 2'"
check_eq "table 7101: default via the main table's gateway of wan1" \
	"$(ip -n "$CPE" route show table 7101)" "default via 100.64.1.1 dev wan1 proto 254 "
check_eq "table 7102: default via the configured gateway of wan2" \
	"$(ip -n "$CPE" route show table 7102)" "default via 100.64.2.1 dev wan2 proto 254 "
check "rule: from 100.64.2.2 lookup 7102 at priority 7102" \
	eval "ip -n $CPE rule show pref 7102 | grep -q 'from 100.64.2.2 lookup 7102'"
check_eq "path wan1 is up" "$(cpe_path_state main wan1)" up
check_eq "path wan2 is up" "$(cpe_path_state main wan2)" up

mkdir "$TMP/www"
mkfile "$TMP/www/30M" 30M
mkfile "$TMP/www/60M" 60M
mkfile "$TMP/www/1M" 1M
srv_http 8080 "$TMP/www"
wan_shape 1 ${RATE}mbit
wan_shape 2 ${RATE}mbit

# ---- aggregation ----
wan_snap
fetch 30M
check_rc "30 MB over two ${RATE} Mbit/s links: complete" 0
check_eq "30 MB: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/30M")"
mbit=$(kv mbit)
ratio=$(awk -v m="$mbit" -v r=$RATE 'BEGIN { printf "%.2f", m / r }')
read -r d1 d2 < <(wan_delta)
echo "aggregation: one flow ${mbit} Mbit/s over 2 x $RATE Mbit/s = ${ratio} x one link" \
	"(wan1 $((d1 / 1000000)) MB, wan2 $((d2 / 1000000)) MB)"
check "aggregation: goodput ${ratio} x one link > 1.4" \
	awk -v x="$ratio" 'BEGIN { exit !(x > 1.4) }'

# failover DESC CUT UNCUT N: a 60 MB download; link N cut with CUT after 3 s,
# restored with UNCUT 5 s later; checks the hashes, the path's down and up,
# and that link N carries data again before the end.
failover() {
	local desc=$1 cut=$2 uncut=$3 n=$4 from pid t0 rc b0 b1 left
	from=$(cpe_log_lines main)
	ip netns exec "$LAN" timeout 120 "$FETCH" "${SRV4[0]}" 8080 /60M \
		>"$TMP/fo.out" 2>"$TMP/fo.err" &
	pid=$!
	sleep 3
	t0=$(ms)
	$cut "$n"
	if cpe_wait_log main "path wan$n down" 10 "$from"; then
		pass "$desc: path wan$n declared down after $(($(ms) - t0)) ms"
	else
		fail "$desc: path wan$n not declared down in 10 s"
	fi
	left=$((5000 - ($(ms) - t0)))
	[ $left -gt 0 ] && sleep "$(awk -v l=$left 'BEGIN { print l / 1000 }')"
	from=$(cpe_log_lines main)
	$uncut "$n"
	t0=$(ms)
	if cpe_wait_log main "path wan$n up" 10 "$from"; then
		pass "$desc: path wan$n up again after $(($(ms) - t0)) ms"
	else
		fail "$desc: path wan$n not up again in 10 s"
	fi
	b0=$(wan_bytes wan$n)
	sleep 1.5
	b1=$(wan_bytes wan$n)
	check_range "$desc: wan$n carries the transfer again (bytes in 1.5 s after up)" \
		$((b1 - b0)) 1000000 1000000000
	wait "$pid"
	rc=$?
	OUT=$(cat "$TMP/fo.out")
	check_eq "$desc: 60 MB download completes (exit)" "$rc" 0
	check_eq "$desc: 60 MB sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/60M")"
	echo "$desc: longest stall $(kv max_gap_ms) ms (ended at $(kv gap_at) s), $(kv mbit) Mbit/s overall"
	[ "$rc" = 0 ] || sed 's/^/    | /' "$TMP/fo.err"
}

failover "wan1 dead (all packets dropped)" wan_cut wan_uncut 1
failover "wan2 carrier lost" wan_down wan_up 2

# ---- new connections while the default-route link is dead ----
from=$(cpe_log_lines main)
wan_cut 1
t0=$(ms)
cpe_wait_log main "path wan1 down" 10 "$from"
check_eq "wan1 (the default route) dead: path wan1 down" "$(cpe_path_state main wan1)" down
ok=0
for i in 1 2 3 4 5; do
	fetch 1M --timeout 10
	[ "$RC" = 0 ] && [ "$(kv sha256)" = "$(sha "$TMP/www/1M")" ] && ok=$((ok + 1))
done
check_eq "wan1 dead: 5 new connections, 5 complete with sha256 equal" "$ok" 5
wan_uncut 1
cpe_wait_log main "path wan1 up" 10 "$from"

# ---- DHCP gives wan2 a new address ----
ip -n "$CPE" addr del 100.64.2.2/24 dev wan2
ip -n "$CPE" addr add 100.64.2.3/24 dev wan2
t0=$(ms)
for ((i = 0; i < 100; i++)); do
	ip -n "$CPE" mptcp endpoint show | grep -q '^100\.64\.2\.3 ' && break
	sleep 0.05
done
check "wan2 renumbered to 100.64.2.3: its endpoint follows ($(($(ms) - t0)) ms)" \
	eval "ip -n $CPE mptcp endpoint show | grep -Eq '^100\.64\.2\.3 id 2 subflow dev wan2'"
check_eq "wan2 renumbered: no endpoint for the old address" \
	"$(ip -n "$CPE" mptcp endpoint show | grep -c '^100\.64\.2\.2 ')" 0
check "wan2 renumbered: rule from 100.64.2.3 lookup 7102" \
	eval "ip -n $CPE rule show pref 7102 | grep -q 'from 100.64.2.3 lookup 7102'"
check_eq "wan2 renumbered: no rule for the old address" \
	"$(ip -n "$CPE" rule show pref 7102 | grep -c 'from 100.64.2.2 ')" 0
check_eq "wan2 renumbered: table 7102 routes again" \
	"$(ip -n "$CPE" route show table 7102)" "default via 100.64.2.1 dev wan2 proto 254 "
wan_snap
fetch 30M
check_rc "wan2 renumbered: 30 MB complete" 0
read -r d1 d2 < <(wan_delta)
check_range "wan2 renumbered: wan2 carries its share (bytes)" "$d2" 5000000 100000000

cpe_alive main
cpe_stop main
cpe_check_clean main
cpe_finish
