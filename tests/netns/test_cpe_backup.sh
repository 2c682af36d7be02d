#!/bin/bash
# mptun-cpe with wan2 as a backup path (both links shaped to 20 Mbit/s):
# the backup link stays idle while wan1 is up, carries a running download
# after wan1 goes dead, and new flows start on it while wan1 is down.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "backup path" || finish
cpe_conc_up || cpe_finish
cpe_start main "$(cpe_config role2=backup)" || cpe_finish

check "MPTCP endpoint 100.64.2.2 is subflow backup" \
	eval "ip -n $CPE mptcp endpoint show | grep -Eq '^100\.64\.2\.2 id 2 subflow backup dev wan2'"
mkdir "$TMP/www"
mkfile "$TMP/www/30M" 30M
mkfile "$TMP/www/1M" 1M
srv_http 8080 "$TMP/www"
wan_shape 1 20mbit
wan_shape 2 20mbit

# ---- idle backup ----
wan_snap
fetch 30M
check_rc "30 MB with wan1 up: complete" 0
check_eq "30 MB with wan1 up: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/30M")"
read -r d1 d2 < <(wan_delta)
echo "wan1 up: wan1 carried $d1 bytes, the backup wan2 $d2 bytes"
check_range "wan1 up: wan1 carried the 30 MB (bytes)" "$d1" 30000000 100000000
check_range "wan1 up: backup wan2 idle (< 200 kB: handshakes, probes)" "$d2" 0 200000

# ---- wan1 dies during a download: the backup takes it ----
from=$(cpe_log_lines main)
ip netns exec "$LAN" timeout 120 "$FETCH" "${SRV4[0]}" 8080 /30M >"$TMP/bk.out" 2>"$TMP/bk.err" &
pid=$!
sleep 2
wan_cut 1
wan_snap
cpe_wait_log main "path wan1 down" 10 "$from"
check_eq "wan1 dead: path wan1 down" "$(cpe_path_state main wan1)" down
wait "$pid"
rc=$?
OUT=$(cat "$TMP/bk.out")
read -r d1 d2 < <(wan_delta)
check_eq "wan1 dead mid-download: 30 MB complete (exit)" "$rc" 0
check_eq "wan1 dead mid-download: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/30M")"
echo "wan1 dead: the backup wan2 carried $d2 bytes; longest stall $(kv max_gap_ms) ms"
check_range "wan1 dead: the backup wan2 carried the rest (bytes)" "$d2" 5000000 100000000

# ---- new flows start on the backup while wan1 is down ----
ok=0
for i in 1 2 3; do
	fetch 1M --timeout 10
	[ "$RC" = 0 ] && [ "$(kv sha256)" = "$(sha "$TMP/www/1M")" ] && ok=$((ok + 1))
done
check_eq "wan1 dead: 3 new connections over the backup, 3 complete" "$ok" 3
from=$(cpe_log_lines main)
wan_uncut 1
check "wan1 back: path wan1 up within 5 s" cpe_wait_log main "path wan1 up" 5 "$from"

# ---- reload: wan2 becomes active; a broken file changes nothing ----
cpe_config role2=active >"${CPE_CFG[main]}"
kill -HUP "${CPE_PID[main]}"
for ((i = 0; i < 100; i++)); do
	ip -n "$CPE" mptcp endpoint show | grep -Eq '^100\.64\.2\.2 id 2 subflow dev wan2' && break
	sleep 0.05
done
check "reload with wan2 active: its endpoint loses the backup flag" \
	eval "ip -n $CPE mptcp endpoint show | grep -Eq '^100\.64\.2\.2 id 2 subflow dev wan2'"
echo "paths: [{interface: wan1, role: sideways}]" >>"${CPE_CFG[main]}"
from=$(cpe_log_lines main)
kill -HUP "${CPE_PID[main]}"
check "reload of a broken file: refused with its reason" \
	cpe_wait_log main "reload: .*keeping the running configuration" 5 "$from"
check_eq "reload of a broken file: both endpoints still there" \
	"$(ip -n "$CPE" mptcp endpoint show | grep -c ' subflow ')" 2

cpe_alive main
cpe_stop main
cpe_check_clean main
cpe_finish
