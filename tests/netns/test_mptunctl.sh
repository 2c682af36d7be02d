#!/bin/bash
# mptunctl against a stand-in daemon (tests/tools/mptun-fakectl: canned
# answers on a unix socket and on 127.0.0.1:9471 in a namespace of its own):
# every command's table, exact; units; "-" for fields missing or of another
# type; --json parses; exit codes: 3 when no daemon answers (no socket, a
# stale one, no permission, a refused port), 1 for an error answer, a
# refused reload or an answer that is not JSON, 2 for bad usage; the choice
# of the default socket. test_ctl.sh does the same against the real daemons.
. "$(dirname "$0")/lib.sh"

CTL=$BUILD/mptunctl
FAKE=$NETNS_DIR/../tools/mptun-fakectl
NS=$PFX-ctl
[ -x "$CTL" ] || { fail "no mptunctl at $CTL"; finish; }
ns_add "$NS"

# fake MODE NAME [--tcp PORT]: a stand-in on $TMP/NAME.sock in $NS
fake() {
	local i
	bg "$NS" "fake-$2" "$FAKE" ${3:+"$3" "$4"} "$TMP/$2.sock" "$1"
	for ((i = 0; i < 100; i++)); do
		[ -S "$TMP/$2.sock" ] && return 0
		sleep 0.05
	done
	fail "the stand-in $2 did not start"
	finish
}
# ctl ARGS...: mptunctl in $NS, in UTC (status prints a local time)
ctl() {
	run "$NS" env TZ=UTC "$CTL" "$@"
	cat "$TMP/err" >>"$TMP/all.err"
}
# check_out DESC: the last run's stdout equals stdin, exactly
check_out() {
	local want
	want=$(cat)
	if [ "$RC" = 0 ] && [ "$OUT" = "$want" ]; then pass "$1"; return; fi
	fail "$1 (exit $RC; stderr: ${ERR:0:300}); got / expected:"
	diff <(echo "$OUT") <(echo "$want") | sed 's/^/    | /'
}
check_json() { # DESC PYTHON-EXPR-ON-d [EXIT]: stdout is JSON, EXPR holds
	if [ "$RC" = "${3:-0}" ] && python3 -c "import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if ($2) else 1)" "$OUT" 2>/dev/null; then
		pass "$1"
	else fail "$1 (exit $RC; stdout: ${OUT:0:200})"; fi
}

fake cpe cpe --tcp 9471
fake conc conc
fake weird weird
fake badjson bad
C=$TMP/cpe.sock

# ---- the CPE ----
ctl -s "$C" status
check_out "status of a CPE" <<'EOF'
daemon        mptun-cpe 0.6.0, pid 4242
config        /etc/mptun/cpe.yaml
uptime        2h05m (since 2025-11-29 15:26:40)
flows         3 active, 120 total
bytes         1.5 KiB up, 23.4 MiB down
reloads       0 ok, 0 failed
errors        network_failure 2
concentrator  198.51.100.1:5124
tun           mptun0

PATH  STATE  ROLE    SINCE      RTT  SUBFLOWS
wan1  up     active  3m12s  20.8 ms         3
wan2  down   backup    45s        -         0
EOF
ctl -s "$C" paths
check_out "paths: rates from two samples 1 s apart (10 and 80 Mbit/s on wan1)" <<'EOF'
PATH  INTERFACE  ROLE    STATE  SINCE  SOURCE      GATEWAY         RTT  SUBFLOWS       TX       RX      TX-RATE      RX-RATE
wan1  wan1       active  up     3m12s  100.64.1.2  100.64.1.1  20.8 ms         3  1.2 TiB  5.0 TiB  10.0 Mbit/s  80.0 Mbit/s
wan2  wan2       backup  down     45s  -           -                 -         0  1.2 GiB  1.0 GiB      0 bit/s      0 bit/s
EOF
t0=$(date +%s%N)
ctl -s "$C" paths --no-rate
t1=$(date +%s%N)
check_out "paths --no-rate" <<'EOF'
PATH  INTERFACE  ROLE    STATE  SINCE  SOURCE      GATEWAY         RTT  SUBFLOWS       TX       RX
wan1  wan1       active  up     3m12s  100.64.1.2  100.64.1.1  20.8 ms         3  1.2 TiB  5.0 TiB
wan2  wan2       backup  down     45s  -           -                 -         0  1.2 GiB  1.0 GiB
EOF
check "paths --no-rate does not wait a second ($(((t1 - t0) / 1000000)) ms)" \
	[ $(((t1 - t0) / 1000000)) -lt 900 ]
ctl -s "$C" flows
check_out "flows of a CPE: path, direct, units, durations" <<'EOF'
  ID  CLIENT              DESTINATION           STATE         AGE       UP     DOWN  PATH
   7  192.168.10.2:50000  203.0.113.10:8080     relaying       3s    100 B  2.0 KiB  wan1
  12  [fd10::2]:50002     [2001:db8:5::10]:443  connecting     0s      0 B      0 B  -
1003  192.168.10.2:50004  203.0.113.11:22       relaying    1h02m  5.0 MiB    700 B  direct
EOF
ctl -s "$C" flows -n 1
check_out "flows -n 1: one row, and how many there are" <<'EOF'
ID  CLIENT              DESTINATION        STATE     AGE     UP     DOWN  PATH
 7  192.168.10.2:50000  203.0.113.10:8080  relaying   3s  100 B  2.0 KiB  wan1
(1 of 3 open flows shown; -n N shows more)
EOF
ctl -s "$C" metrics
check_out "metrics: the daemon's text as it is" <<'EOF'
# HELP mptun_flows_total Flows accepted since the start.
# TYPE mptun_flows_total counter
mptun_flows_total 120
EOF
ctl -s "$C" --json status
check_json "--json status parses" 'd["daemon"] == "mptun-cpe" and len(d["paths"]) == 2'
ctl -s "$C" paths --json
check_json "paths --json: the paths array" 'd[1]["name"] == "wan2" and d[1]["gateway"] is None'
ctl -s "$C" flows --json -n 2
check_json "flows --json -n 2 parses" 'len(d["flows"]) == 2 and d["truncated"] is True'
ctl -s "$C" cpes
check_rc "cpes on a CPE: exit 1, says why" 1 "is mptun-cpe, not mptun-concentrator: it has no cpes"

# ---- reload ----
ctl -s "$C" reload
check_rc "reload applied: exit 0 with the daemon's message" 0 "^ok: reloaded /etc/mptun/cpe.yaml$"
echo "/etc/mptun/cpe.yaml:3:7: unknown key 'bogus'" >"$C.refuse"
ctl -s "$C" reload
check_rc "reload refused: exit 1 with the daemon's reason" 1 \
	"reload refused: /etc/mptun/cpe.yaml:3:7: unknown key 'bogus'"
ctl -s "$C" --json reload
check_json "--json reload refused: exit 1, the daemon's JSON" 'd["ok"] is False' 1
rm "$C.refuse"
ctl -s "$C" status
check_rc "status counts the reloads: 1 ok, 2 failed" 0 "^reloads +1 ok, 2 failed$"

# ---- control.http ----
ctl -u http://127.0.0.1:9471/ paths --no-rate
check_rc "-u URL (trailing /): paths" 0 "^wan1 +wan1 +active +up "
run "$NS" env http_proxy=http://127.0.0.1:1 HTTP_PROXY=http://127.0.0.1:1 \
	"$CTL" -u http://127.0.0.1:9471 flows
check_rc "-u URL ignores http_proxy of the environment" 0 "^1003 "
ctl -u http://127.0.0.1:9471 reload
check_rc "reload over control.http: refused by the daemon (exit 1, HTTP 403)" 1 \
	"HTTP 403: reload is refused on control.http"
ctl -u http://127.0.0.1:9 status
check_rc "-u to a closed port: exit 3, says which URL and why" 3 \
	"cannot reach the daemon at http://127.0.0.1:9: .*Connection refused"

# ---- the concentrator ----
ctl -s "$TMP/conc.sock" status
check_out "status of a concentrator" <<'EOF'
daemon   mptun-concentrator 0.6.0, pid 77
config   /etc/mptun/concentrator.yaml
uptime   3d4h (since 2025-11-29 15:26:40)
flows    2 active, 5 total
bytes    10 B up, 20 B down
reloads  0 ok, 0 failed
errors   none
listen   0.0.0.0:5124
workers  2

CPE        ACTIVE  TOTAL      UP     DOWN
cpe1            2      4  1023 B  1.0 KiB
10.12.0.1       0      1     0 B  3.0 GiB
EOF
ctl -s "$TMP/conc.sock" cpes
check_out "cpes" <<'EOF'
CPE        ACTIVE  TOTAL      UP     DOWN
cpe1            2      4  1023 B  1.0 KiB
10.12.0.1       0      1     0 B  3.0 GiB
EOF
ctl -s "$TMP/conc.sock" flows
check_out "flows of a concentrator: the CPE and worker columns" <<'EOF'
ID  CLIENT           DESTINATION        STATE       AGE    UP  DOWN  CPE   WORKER
 1  10.11.0.1:40000  203.0.113.10:8080  relaying  1m01s  10 B  20 B  cpe1       0
 2  10.11.0.1:40002  203.0.113.12:80    draining     2s   0 B   0 B  cpe1       1
EOF
ctl -s "$TMP/conc.sock" paths
check_rc "paths on a concentrator: exit 1, says why" 1 \
	"is mptun-concentrator, not mptun-cpe: it has no paths"

# ---- fields missing or of other types ----
ctl -s "$TMP/weird.sock" status
check_rc "weird status: exit 0" 0 "^flows +- active, - total$"
check "weird status: the paths table has '-' cells" grep -Eq '^- +- +- +- +- +-$' <<<"$OUT"
ctl -s "$TMP/weird.sock" paths
check_rc "weird paths: exit 0" 0 "^- +- +- +- +- +- +- +- +- +- +- +- +-$"
check "weird paths: no rate from counters that are not numbers or negative" \
	eval "! grep -q bit/s <<<\"\$OUT\""
ctl -s "$TMP/weird.sock" flows
check_rc "weird flows: exit 0, a control character printed as '?'" 0 "a\?\[31mred"
ctl -s "$TMP/weird.sock" cpes
check_rc "weird cpes: exit 0" 0 "^CPE +ACTIVE"
ctl -s "$TMP/weird.sock" reload
check_rc "reload answer without \"ok\": exit 1" 1 "POST /reload: HTTP 200"

# ---- answers that are not JSON, HTTP errors ----
ctl -s "$TMP/bad.sock" status
check_rc "status not JSON: exit 1, says so" 1 "the answer to GET /status is not JSON"
ctl -s "$TMP/bad.sock" --json paths
check_rc "--json paths not JSON: exit 1" 1 "is not JSON"
ctl -s "$TMP/bad.sock" flows
check_rc "flows HTTP 500: exit 1 with the daemon's error" 1 "HTTP 500: flows table busy"
ctl -s "$TMP/bad.sock" metrics
check_rc "metrics HTTP 404 (text): exit 1, its first line" 1 "HTTP 404: not here$"
ctl -s "$TMP/bad.sock" reload
check_rc "reload answered with text: exit 1" 1 "not JSON"

# ---- no daemon ----
ctl -s "$TMP/none.sock" status
check_rc "no socket: exit 3, names it" 3 "cannot reach the daemon at $TMP/none.sock: no such socket"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/stale.sock"
ctl -s "$TMP/stale.sock" status
check_rc "stale socket: exit 3, connection refused" 3 "at $TMP/stale.sock: connection refused"
ctl -s "$TMP" status
check_rc "a directory: exit 3, not a socket" 3 "not a socket"
chmod 755 "$TMP"
chmod 600 "$C"
run "$NS" setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" -s "$C" status
check_rc "no permission on the socket: exit 3, says so" 3 "permission denied"
chmod 700 "$TMP"
run "$NS" env MPTUN_SOCKET="$TMP/none.sock" "$CTL" flows
check_rc "\$MPTUN_SOCKET names the socket" 3 "at $TMP/none.sock"
run "$NS" env MPTUN_SOCKET="$C" "$CTL" flows -n 1
check_rc "\$MPTUN_SOCKET reaches the daemon" 0 "^ 7 "

# ---- the default socket, in a mount namespace with /run of its own ----
cat >"$TMP/defaults.sh" <<'EOF'
ctl=$1 fake=$2
mount -t tmpfs tmpfs /run && mkdir /run/mptun || exit 9
echo "== none"; "$ctl" status; echo "rc=$?"
"$fake" /run/mptun/cpe.sock cpe & pid=$!
for i in $(seq 100); do [ -S /run/mptun/cpe.sock ] && break; sleep 0.05; done
echo "== cpe"; "$ctl" flows -n 1; echo "rc=$?"
touch /run/mptun/concentrator.sock
echo "== both"; "$ctl" status; echo "rc=$?"
echo "== both -s"; "$ctl" -s /run/mptun/cpe.sock flows -n 1; echo "rc=$?"
kill $pid
EOF
OUT=$(unshare -m --propagation private bash "$TMP/defaults.sh" "$CTL" "$FAKE" 2>&1)
sect() { awk -v s="== $1" '$0 == s { on = 1; next } /^== / { on = 0 } on' <<<"$OUT"; }
check "default, no daemon: exit 3 naming both sockets" \
	grep -q "neither /run/mptun/cpe.sock nor /run/mptun/concentrator.sock exists" <<<"$(sect none)"
check "default, no daemon: exit 3" grep -q '^rc=3$' <<<"$(sect none)"
check "default: /run/mptun/cpe.sock when it alone exists" \
	eval '[ "$(sect cpe | grep -c "^ 7 \|^rc=0$")" = 2 ]'
check "default: both sockets exist: asks for -s" grep -q \
	"both /run/mptun/cpe.sock and /run/mptun/concentrator.sock exist: .*-s SOCKET" <<<"$(sect both)"
check "default: both sockets exist: exit 2" grep -q '^rc=2$' <<<"$(sect both)"
check "both sockets exist, -s given: exit 0" grep -q '^rc=0$' <<<"$(sect "both -s")"

# ---- usage ----
for args in "" "bogus" "status extra" "-n 5 status" "paths -n 5" "flows --no-rate" \
	"flows -n -1" "flows -n 100001" "flows -n 5x" "--json metrics" \
	"-s $C -u http://127.0.0.1:9471 status" "-u ftp://127.0.0.1/ status" "-x status" "flows -n"; do
	ctl $args
	check_rc "usage error: mptunctl $args: exit 2" 2 "^usage: mptunctl"
done
ctl -h
check_rc "-h: exit 0, the usage on stdout" 0 "^Exit: 0 ok"
ctl --json status --no-rate
check_rc "options after the command are checked too" 2 "--no-rate is an option of paths"

check "no sanitizer report" eval "! grep -Eq 'Sanitizer|runtime error' $TMP/all.err"
finish
