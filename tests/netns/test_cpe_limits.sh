#!/bin/bash
# Hardening: the concentrator runs as nobody without capabilities;
# mptun-cpe: per-LAN-host limits (one host cannot take every
# flow; a SYN flood from it costs bounded memory and leaves other hosts
# served), and running as an unprivileged user with CAP_NET_ADMIN and
# CAP_NET_RAW only (paths still follow link changes, cleanup still works).
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "limits and privileges" || finish
cpe_conc_up user=nobody || cpe_finish
cpid=${CONC_PID[main]}
for ((i = 0; i < 100; i++)); do
	grep -q "running as nobody" "${CONC_LOG[main]}" && break
	sleep 0.05
done
check_eq "the concentrator runs as nobody" \
	"$(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/$cpid/status)" "65534 65534 65534 65534"
check_eq "the concentrator has no capabilities" \
	"$(awk '/^CapEff:/ { print $2 }' /proc/$cpid/status)" "0000000000000000"
check_eq "the concentrator's worker threads have none either" \
	"$(cat /proc/$cpid/task/*/status | awk '/^CapEff:/ { print $2 }' | sort -u)" "0000000000000000"
# a second LAN host: another address on the LAN namespace's link
ip -n "$LAN" addr add 192.168.10.3/24 dev eth0
cpe_start main "$(cpe_config per_host=20 pending_host=8 user=nobody)" || cpe_finish
pid=${CPE_PID[main]}
counter() { cpe_counters main flows | awk -v k="$1" '$1 == k { print $2 }'; }

# ---- privileges ----
check_eq "runs as nobody (uid 65534)" \
	"$(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/$pid/status)" "65534 65534 65534 65534"
check_eq "effective capabilities: CAP_NET_ADMIN and CAP_NET_RAW only (0x3000)" \
	"$(awk '/^CapEff:/ { print $2 }' /proc/$pid/status)" "0000000000003000"
check_eq "no_new_privs set" "$(awk '/^NoNewPrivs:/ { print $2 }' /proc/$pid/status)" 1

mkdir "$TMP/www"
mkfile "$TMP/www/5M" 5M
srv_http 8080 "$TMP/www"
fetch 5M
check_rc "as nobody: a 5 MB download completes" 0
check_eq "as nobody: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/5M")"
from=$(cpe_log_lines main)
wan_down 2
check "as nobody: wan2 losing carrier takes its path down" \
	cpe_wait_log main "path wan2 down" 5 "$from"
check_eq "as nobody: the wan2 endpoint is removed" \
	"$(ip -n "$CPE" mptcp endpoint show | grep -c '^100\.64\.2\.2 ')" 0
wan_up 2
check "as nobody: wan2 back up" cpe_wait_log main "path wan2 up" 5 "$from"
check "as nobody: the wan2 endpoint is back" \
	eval "ip -n $CPE mptcp endpoint show | grep -q '^100\.64\.2\.2 '"

# ---- per-host limits: 192.168.10.2 floods SYNs to a silent server ----
# a blackholed destination keeps the flows pending (connect timeout 10 s)
ip -n "$CONC" route add blackhole 203.0.113.99/32
rss0=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status)
cat >"$TMP/flood.py" <<'PY'
import socket, sys, time
socks = []
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((sys.argv[2], 0))
    try:
        s.connect((sys.argv[3], 80))
    except BlockingIOError:
        pass
    socks.append(s)
time.sleep(float(sys.argv[4]))
PY
ip netns exec "$LAN" python3 "$TMP/flood.py" 300 192.168.10.2 203.0.113.99 6 &
flood=$!
sleep 2
rh=$(counter rejected_host)
check_range "SYN flood of 300 from one host: rejected by max_pending_per_host (rejected_host)" \
	"$rh" 250 300
active=$(cpe_counters main flows | awk '$1 == "active" { print $2 }')
check_range "SYN flood: at most 8 flows of that host open" "$active" 0 8
fetch 5M --bind 192.168.10.3 --timeout 10
check_rc "during the flood another LAN host is served" 0
check_eq "during the flood another LAN host: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/5M")"
rss1=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status)
echo "RSS before the flood ${rss0} kB, during ${rss1} kB"
check_range "SYN flood: RSS growth bounded (kB)" $((rss1 - rss0)) -100000 20000
wait "$flood"

# ---- per-host flow cap: 25 concurrent slow downloads from one host ----
wan_shape 1 5mbit
wan_shape 2 5mbit
r0=$(counter rejected_host)
curls=()
for i in $(seq 25); do
	ip netns exec "$LAN" curl --noproxy '*' -s -o /dev/null --max-time 20 \
		--interface 192.168.10.2 "http://${SRV4[0]}:8080/5M" &
	curls+=($!)
	sleep 0.05 # under max_pending_per_host: only the flow cap applies
done
sleep 2
check_range "25 downloads from one host: 5 over max_per_host 20 refused (rejected_host)" \
	$(($(counter rejected_host) - r0)) 5 5
fetch 5M --bind 192.168.10.3 --timeout 30
check_rc "another host still gets a flow while the first one is at its cap" 0
kill "${curls[@]}" 2>/dev/null
wait "${curls[@]}" 2>/dev/null

cpe_alive main
cpe_stop main
cpe_check_clean main
cpe_finish
