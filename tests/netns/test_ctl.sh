#!/bin/bash
# mptunctl against the real daemons (lib_cpe.sh topology: a CPE with two
# paths, wan1 and wan2, shaped to 20 Mbit/s, and a concentrator): status
# names each daemon and counts its flows; paths shows both paths up, then
# wan1 down once the daemon said so; flows lists a running download with its
# destination, on both daemons; metrics counts the flows; reload of a good
# file is applied and counted, of a broken one refused with the reason while
# the daemon keeps working; control.http serves the same and refuses reload.
. "$(dirname "$0")/lib_cpe.sh"

CTL=$BUILD/mptunctl
CS=$TMP/conc.sock PS=$TMP/cpe.sock
[ -x "$CTL" ] || { fail "no mptunctl at $CTL"; finish; }
cpe_topo_up
daemon_checks "mptunctl" || finish
cpe_conc_up ctl_socket="$CS" ctl_http=127.0.0.1:9470 || cpe_finish
cpe_start main "$(cpe_config ctl_socket="$PS" ctl_http=127.0.0.1:9471)" || cpe_finish

# ctl SOCKET ARGS...: mptunctl on a daemon's control socket (a file: any
# namespace reaches it); RC, OUT, ERR as lib.sh's run
ctl() { local s=$1; shift; run "$CPE" "$CTL" -s "$s" "$@"; }
# row COLUMN-1: the line of the last table whose first column is that
row() { awk -v k="$1" '$1 == k' <<<"$OUT"; }
# kv KEY of status (the summary's key, then the value)
skv() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' <<<"$OUT"; }
# st_get SOCKET EXPR: a value of the daemon's /status, e.g. '["flows"]["total"]'
st_get() {
	ctl "$1" --json status
	python3 -c "import json, sys; print(json.loads(sys.argv[1])$2)" "$OUT" 2>/dev/null
}
# wait_paths STATE1 STATE2: until `paths` shows wan1 and wan2 so (10 s)
wait_paths() {
	local i
	for ((i = 0; i < 50; i++)); do
		ctl "$PS" paths --no-rate
		[ "$(row wan1 | awk '{ print $4 }') $(row wan2 | awk '{ print $4 }')" = "$1 $2" ] &&
			return 0
		sleep 0.2
	done
	return 1
}

wan_unshape() { # N: undoes wan_shape N
	ip netns exec "$CPE" tc qdisc del dev "wan$1" root 2>/dev/null
	ip netns exec "$PFX-isp$1" tc qdisc del dev cpe0 root 2>/dev/null
}

mkdir "$TMP/www"
mkfile "$TMP/www/1M" 1M
mkfile "$TMP/www/30M" 30M
srv_http 8080 "$TMP/www"

# ---- status ----
ctl "$PS" status
check_rc "CPE status: exit 0" 0
check_eq "CPE status names the daemon" "$(skv daemon | cut -d' ' -f1)" mptun-cpe
check_eq "CPE status: no flow yet" "$(skv flows)" "0 active, 0 total"
check_eq "CPE status: its concentrator" "$(skv concentrator)" "$CONC_ADDR:$CONC_PORT"
ctl "$CS" status
check_rc "concentrator status: exit 0" 0
check_eq "concentrator status names the daemon" "$(skv daemon | cut -d' ' -f1)" \
	mptun-concentrator
check "concentrator status: its flows (the CPE's health probes are some)" \
	grep -Eq '^flows +[0-9]+ active, [0-9]+ total$' <<<"$OUT"

# ---- paths ----
if wait_paths up up; then pass "paths: wan1 and wan2 up"; else
	fail "paths: wan1 and wan2 not both up in 10 s; last:"; echo "$OUT$ERR" | sed 's/^/    | /'
fi
ctl "$PS" paths
check_rc "paths with rates: exit 0" 0 "TX-RATE +RX-RATE"
check "paths: wan1's interface, role and source" \
	grep -Eq '^wan1 +wan1 +active +up +[0-9hms]+ +100\.64\.1\.2 +100\.64\.1\.1 ' <<<"$OUT"
check "paths: wan2's configured gateway" \
	grep -Eq '^wan2 +wan2 +active +up +[0-9hms]+ +100\.64\.2\.2 +100\.64\.2\.1 ' <<<"$OUT"
PATHS_OUT=$OUT

# ---- a download: flows on both daemons while it runs ----
wan_shape 1 20mbit
wan_shape 2 20mbit
ip netns exec "$LAN" timeout 120 "$FETCH" "${SRV4[0]}" 8080 /30M >"$TMP/dl.out" 2>"$TMP/dl.err" &
dl=$!
seen_cpe=0 seen_conc=0
for ((i = 0; i < 100 && (seen_cpe == 0 || seen_conc == 0); i++)); do
	kill -0 $dl 2>/dev/null || break
	ctl "$PS" flows
	grep -Eq "^ *[0-9]+ +192\.168\.10\.2:[0-9]+ +${SRV4[0]}:8080 .* (wan1|wan2)$" <<<"$OUT" &&
		seen_cpe=1 CPE_FLOWS=$OUT
	ctl "$CS" flows
	grep -Eq "^ *[0-9]+ +10\.1[12]\.0\.1:[0-9]+ +${SRV4[0]}:8080 " <<<"$OUT" &&
		seen_conc=1 CONC_FLOWS=$OUT
	sleep 0.1
done
check_eq "flows on the CPE: the download (LAN client, its destination, a path)" $seen_cpe 1
check_eq "flows on the concentrator: the download (its destination)" $seen_conc 1
[ $seen_cpe = 1 ] || echo "$OUT$ERR" | sed 's/^/    | /'
ctl "$PS" status
check "CPE status while it runs: 1 active flow" grep -Eq '^flows +1 active, 1 total$' <<<"$OUT"
STATUS_OUT=$OUT
# the rates of `paths` while it runs (2 x 20 Mbit/s); only when the
# download outlived the sample
if kill -0 $dl 2>/dev/null; then
	ctl "$PS" paths
	if kill -0 $dl 2>/dev/null; then
		PATHS_DL=$OUT
		rx=$(awk '$1 ~ /^wan[12]$/ { u = $NF; v = $(NF - 1)
			m = u == "Mbit/s" ? 1e6 : u == "kbit/s" ? 1e3 : u == "Gbit/s" ? 1e9 : 1
			s += v * m } END { printf "%d", s / 1e6 }' <<<"$OUT")
		check_range "paths during the download: RX-RATE of wan1 + wan2 in Mbit/s" \
			"$rx" 2 45
	fi
fi
wait $dl
rc=$?
OUT=$(cat "$TMP/dl.out")
check_eq "download complete" $rc 0
check_eq "download: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/30M")"
wan_unshape 1
wan_unshape 2
check_eq "CPE: flows.total 1 after the download" "$(st_get "$PS" '["flows"]["total"]')" 1
check_range "CPE: bytes.down after the download: 30 MiB and its headers" \
	"$(st_get "$PS" '["bytes"]["down"]')" 31457280 31461376
check_range "concentrator: bytes.down after the download: 30 MiB and a little" \
	"$(st_get "$CS" '["bytes"]["down"]')" 31457280 33554432

# ---- metrics ----
for s in "$PS" "$CS"; do
	ctl "$s" metrics
	n=$(awk '$1 == "mptun_flows_total" { print $2 }' <<<"$OUT")
	check_range "metrics of $(basename "$s" .sock): mptun_flows_total > 0" "$n" 1 1000000
done

# ---- wan1 dead: paths shows it down ----
from=$(cpe_log_lines main)
wan_cut 1
if cpe_wait_log main "path wan1 down" 10 "$from"; then
	ctl "$PS" paths --no-rate
	check "after the daemon's 'path wan1 down': paths shows wan1 down, wan2 up" \
		eval '[ "$(row wan1 | awk "{ print \$4 }") $(row wan2 | awk "{ print \$4 }")" = "down up" ]'
	[ "$(row wan1 | awk '{ print $4 }')" = down ] || echo "$OUT" | sed 's/^/    | /'
	ctl "$PS" status
	check "status: wan1 down in its paths table" grep -Eq '^wan1 +down ' <<<"$OUT"
	STATUS_DOWN=$OUT
else
	fail "wan1 cut: the daemon did not log 'path wan1 down' in 10 s"
fi
wan_uncut 1
if wait_paths up up; then pass "wan1 back: paths shows it up"; else fail "wan1 not up again in 10 s"; fi

# ---- control.http ----
run "$CPE" "$CTL" -u http://127.0.0.1:9471 status
check_rc "CPE control.http: status" 0 "^daemon +mptun-cpe "
run "$CPE" "$CTL" -u http://127.0.0.1:9471 reload
check_rc "CPE control.http: reload refused (exit 1, HTTP 403)" 1 "HTTP 403"
run "$CONC" "$CTL" -u http://127.0.0.1:9470 status
check_rc "concentrator control.http: status" 0 "^daemon +mptun-concentrator "

# ---- reload ----
# reload_checks NAME SOCKET CONFIG: a good file, a broken one, then the
# good one again; the counters of status follow.
reload_checks() {
	local name=$1 s=$2 cfg=$3
	ctl "$s" reload
	check_rc "$name: reload of a good file: exit 0" 0 "^ok: reloaded "
	ctl "$s" status
	check_eq "$name: status counts it" "$(skv reloads)" "1 ok, 0 failed"
	cp "$cfg" "$cfg.good"
	printf 'no_such_key: 1\n' >>"$cfg"
	ctl "$s" reload
	check_rc "$name: reload of a broken file: exit 1 with the reason" 1 \
		"reload refused: .*no_such_key"
	ctl "$s" status
	check_eq "$name: status counts the failure" "$(skv reloads)" "1 ok, 1 failed"
	mv "$cfg.good" "$cfg"
}
reload_checks CPE "$PS" "${CPE_CFG[main]}"
reload_checks concentrator "$CS" "${CONC_CFG[main]}"
fetch 1M
check_rc "after the refused reloads: a new download works" 0
check_eq "after the refused reloads: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/1M")"
check_eq "CPE: flows.total 2" "$(st_get "$PS" '["flows"]["total"]')" 2

# what a run looks like (the report shows it)
echo "---- mptunctl status (CPE, during the download) ----"; echo "$STATUS_OUT"
echo "---- mptunctl paths (CPE) ----"; echo "$PATHS_OUT"
echo "---- mptunctl paths (CPE, during the download) ----"; echo "${PATHS_DL:-}"
echo "---- mptunctl status (CPE, wan1 cut) ----"; echo "${STATUS_DOWN:-}"
echo "---- mptunctl flows (CPE, during the download) ----"; echo "${CPE_FLOWS:-}"
echo "---- mptunctl flows (concentrator) ----"; echo "${CONC_FLOWS:-}"
ctl "$CS" status
echo "---- mptunctl status (concentrator) ----"; echo "$OUT"

cpe_alive main
cpe_stop main
conc_stop main
check "after stop: the control sockets are gone" eval "[ ! -e $PS ] && [ ! -e $CS ]"
cpe_finish
