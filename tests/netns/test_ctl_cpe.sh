#!/bin/bash
# mptun-cpe's control interface (docs/control.md) on the lib_cpe.sh topology,
# two paths, control.http and control.socket on: /status shows both paths up
# with the namespace's sources and gateways, a probe RTT, subflows on both
# and growing interface counters during a download; /flows lists that
# download with growing bytes_down; the concentrator's Error TLVs are
# counted by name; /metrics is valid Prometheus text and agrees with
# /status; after wan1 is cut, /status and /metrics say it is down; POST
# /reload on the socket applies a good file, refuses a broken one, and is
# refused over TCP; SIGTERM removes the socket.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "control interface" || finish
cpe_conc_up || cpe_finish
HTTP=127.0.0.1:9471 SOCK=$TMP/run/cpe.sock
cpe_start main "$(cpe_config ctl_http=$HTTP ctl_socket=$SOCK level=${LEVEL:-info})" || cpe_finish
check "path wan1 up (logged)" cpe_wait_log main "path wan1 up" 10
check "path wan2 up (logged)" cpe_wait_log main "path wan2 up" 10

# api [CURL-ARGS...] PATH: a request over control.http from inside the CPE
# namespace; the body in $TMP/api.out, the HTTP status in $CODE.
api() {
	local path=${*: -1}
	CODE=$(ip netns exec "$CPE" curl -sS --max-time 5 -o "$TMP/api.out" \
		-w '%{http_code}' "${@:1:$#-1}" "http://$HTTP$path" 2>"$TMP/api.err")
}
# ctl [CURL-ARGS...] PATH: the same over control.socket.
ctl() {
	local path=${*: -1}
	CODE=$(ip netns exec "$CPE" curl -sS --max-time 5 -o "$TMP/api.out" \
		-w '%{http_code}' --unix-socket "$SOCK" "${@:1:$#-1}" \
		"http://localhost$path" 2>"$TMP/api.err")
}
js() { jq -r "$1" "$TMP/api.out" 2>/dev/null; } # FILTER on the last answer
path_js() { js ".paths[] | select(.name == \"$1\") | $2"; } # PATH FILTER
# metrics [CURL-ARGS...]: api /metrics, kept in $TMP/metrics.txt for prom
metrics() { api "$@" /metrics; cp "$TMP/api.out" "$TMP/metrics.txt"; }
# prom NAME-AND-LABELS: the value of one sample of the last metrics
prom() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/metrics.txt"; }
gt0() { awk -v x="$1" 'BEGIN { exit !(x > 0) }'; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# ---- /status: both paths up, as the namespace has them ----
api /status
check_eq "/status: HTTP 200" "$CODE" 200
check_eq "/status: daemon mptun-cpe" "$(js .daemon)" mptun-cpe
check_eq "/status: concentrator" "$(js .concentrator)" "$CONC_ADDR:$CONC_PORT"
check_eq "/status: tun" "$(js .tun)" mptun0
check_eq "/status: two paths, in file order" "$(js '[.paths[].name] | join(",")')" wan1,wan2
src1=$(ip -n "$CPE" -4 -o addr show dev wan1 scope global | awk '{ sub("/.*", "", $4); print $4 }')
src2=$(ip -n "$CPE" -4 -o addr show dev wan2 scope global | awk '{ sub("/.*", "", $4); print $4 }')
gw1=$(ip -n "$CPE" -4 route show default dev wan1 | awk '{ print $3; exit }')
gw2=$(ip -n "$ISP2" -4 -o addr show dev cpe0 | awk '{ sub("/.*", "", $4); print $4 }')
for p in "wan1 $src1 $gw1" "wan2 $src2 $gw2"; do
	read -r n s g <<<"$p"
	check_eq "/status $n: state up" "$(path_js "$n" .state)" up
	check_eq "/status $n: interface $n, role active" \
		"$(path_js "$n" '.interface + " " + .role')" "$n active"
	check_eq "/status $n: source $s (its address)" "$(path_js "$n" .source)" "$s"
	check_eq "/status $n: gateway $g" "$(path_js "$n" .gateway)" "$g"
	check "/status $n: rtt_ms > 0 ($(path_js "$n" .rtt_ms))" gt0 "$(path_js "$n" .rtt_ms)"
	check "/status $n: probes_ok > 0, <= probes_sent" \
		eval "[ $(path_js "$n" .probes_ok) -gt 0 ] && [ $(path_js "$n" .probes_ok) -le $(path_js "$n" .probes_sent) ]"
done

# ---- a download through both paths ----
mkdir "$TMP/www"
mkfile "$TMP/www/60M" 60M
mkfile "$TMP/www/5M" 5M
srv_http 8080 "$TMP/www"
wan_shape 1 20mbit
wan_shape 2 20mbit
ip netns exec "$LAN" timeout 120 "$FETCH" "${SRV4[0]}" 8080 /60M \
	>"$TMP/dl.out" 2>"$TMP/dl.err" &
dl=$!
PIDS+=($dl)
# the flow to srv:8080 in the last /flows answer
dlflow() { js ".flows[] | select(.destination == \"${SRV4[0]}:8080\") | $1"; }
for ((i = 0; i < 100; i++)); do
	api /flows
	[ "$(dlflow .state)" = relaying ] && break
	sleep 0.1
done
check_eq "/flows: the download, relaying" "$(dlflow .state)" relaying
check "/flows: its client is the LAN host ($(dlflow .client))" \
	eval "[[ '$(dlflow .client)' =~ ^192\.168\.10\.2:[0-9]+$ ]]"
check_eq "/flows: started on path wan1, not direct" "$(dlflow '.path + " " + (.direct | tostring)')" \
	"wan1 false"
check_eq "/flows: total equals the flows listed" "$(js .total)" "$(js '.flows | length')"
down0=$(dlflow .bytes_down)
for ((i = 0; i < 100; i++)); do # the MP_JOIN on wan2 follows the first subflow
	api /status
	[ "$(path_js wan1 .subflows)" -gt 0 ] && [ "$(path_js wan2 .subflows)" -gt 0 ] && break
	sleep 0.1
done
check "/status during the download: subflows on wan1 ($(path_js wan1 .subflows))" \
	gt0 "$(path_js wan1 .subflows)"
check "/status during the download: subflows on wan2 ($(path_js wan2 .subflows))" \
	gt0 "$(path_js wan2 .subflows)"
cp "$TMP/api.out" "$TMP/status0.json"
sleep 1
api /flows
check "/flows: bytes_down grows ($down0 -> $(dlflow .bytes_down))" gt "$(dlflow .bytes_down)" "$down0"
check "/flows: age_s > 0" gt0 "$(dlflow .age_s)"
api /status
for n in wan1 wan2; do
	for k in rx_bytes tx_bytes; do
		a=$(jq -r ".paths[] | select(.name == \"$n\") | .$k" "$TMP/status0.json")
		b=$(path_js $n .$k)
		check "/status $n: $k grows in 1 s of download ($a -> $b)" gt "$b" "$a"
	done
done
rx=$(ip netns exec "$CPE" cat /sys/class/net/wan1/statistics/rx_bytes)
check "/status wan1: rx_bytes is the interface's ($(path_js wan1 .rx_bytes) <= $rx)" \
	eval "[ $(path_js wan1 .rx_bytes) -le $rx ] && [ $(path_js wan1 .rx_bytes) -gt $((rx / 2)) ]"

# ---- /flows arguments ----
api '/flows?limit=0'
check_eq "/flows?limit=0: none listed, truncated" "$(js '(.flows | length | tostring) + " " + (.truncated | tostring)')" "0 true"
for bad in abc -1 100001 1x; do
	api "/flows?limit=$bad"
	check_eq "/flows?limit=$bad: HTTP 400" "$CODE" 400
done
api '/flows?limit=100000'
check_eq "/flows?limit=100000: HTTP 200" "$CODE" 200

# ---- /metrics: valid, and as /status says ----
metrics -D "$TMP/hdr"
check_eq "/metrics: HTTP 200" "$CODE" 200
check "/metrics: Content-Type text/plain; version=0.0.4" \
	grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/hdr"
if [ -x "$NETNS_DIR/../tools/mptun-promcheck" ]; then
	check "/metrics: mptun-promcheck accepts it" "$NETNS_DIR/../tools/mptun-promcheck" "$TMP/metrics.txt"
fi
# every line a HELP, a TYPE or a sample; every sample of a family whose
# TYPE came first; no family declared twice; no NaN
bad=$(awk '
	/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* ./ { help[$3] = 1; next }
	/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram)$/ {
		if ($3 in type) { print "TYPE twice: " $0; next }
		type[$3] = $4; next }
	/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? [0-9][0-9.e+-]*$/ {
		name = $0; sub(/[{ ].*/, "", name); fam = name
		if (!(fam in type)) sub(/_(bucket|sum|count)$/, "", fam)
		if (!(fam in type) || !(fam in help)) print "no HELP/TYPE: " $0
		else if (type[fam] != "histogram" && fam != name) print "suffix: " $0
		next }
	{ print "bad line: " $0 }' "$TMP/metrics.txt" | head -5)
check_eq "/metrics: every line well formed, every family with HELP and TYPE" "$bad" ""
for f in mptun_build_info mptun_start_time_seconds mptun_reloads_total mptun_flows_active \
	mptun_flows_total mptun_bytes_total mptun_convert_errors_total mptun_connect_seconds \
	mptun_counter_total mptun_path_up mptun_path_subflows mptun_path_bytes_total \
	mptun_path_rtt_seconds mptun_path_downs_total; do
	check "/metrics: family $f" grep -q "^# TYPE $f " "$TMP/metrics.txt"
done
check_eq "/metrics: wan1 up" "$(prom 'mptun_path_up{path="wan1",interface="wan1",role="active"}')" 1
check_eq "/metrics: wan2 up" "$(prom 'mptun_path_up{path="wan2",interface="wan2",role="active"}')" 1
check "/metrics: subflows on wan2" gt0 "$(prom 'mptun_path_subflows{path="wan2"}')"
check "/metrics: wan1 rx bytes" gt0 "$(prom 'mptun_path_bytes_total{path="wan1",direction="rx"}')"
check "/metrics: wan1 RTT" gt0 "$(prom 'mptun_path_rtt_seconds{path="wan1"}')"
cnt=$(prom mptun_connect_seconds_count)
check "/metrics: mptun_connect_seconds counted the download ($cnt)" gt0 "$cnt"
check_eq "/metrics: the +Inf bucket is the count" "$(prom 'mptun_connect_seconds_bucket{le="+Inf"}')" "$cnt"
api /status
check_eq "/metrics mptun_flows_total = /status flows.total" \
	"$(prom mptun_flows_total)" "$(js .flows.total)"
check_eq "/metrics mptun_flows_active = /status flows.active" \
	"$(prom mptun_flows_active)" "$(js .flows.active)"
check_eq "/metrics counter flows_refused = /status counters.flows_refused" \
	"$(prom 'mptun_counter_total{name="flows_refused"}')" "$(js .counters.flows_refused)"
check_eq "/metrics counter flownat_in_new = /status (no flow opened between)" \
	"$(prom 'mptun_counter_total{name="flownat_in_new"}')" "$(js .counters.flownat_in_new)"
check_eq "/status counters.flows_total = flows.total" "$(js .counters.flows_total)" "$(js .flows.total)"
usr1=$(cpe_counters main flows | awk '$1 == "total" { print $2 }')
check_eq "SIGUSR1 'flows: total=' = /status flows.total" "$usr1" "$(js .flows.total)"

wait "$dl"
check_eq "download: complete (exit 0)" "$?" 0
check_eq "download: sha256 equal" "$(tr ' ' '\n' <"$TMP/dl.out" | awk -F= '$1 == "sha256" { print $2 }')" \
	"$(sha "$TMP/www/60M")"
api /flows
check_eq "/flows after the download: it is gone" "$(dlflow .id)" ""

# ---- RFC 8803 errors, by name ----
api /status
e97=$(js .errors.destination_unreachable) e96=$(js .errors.connection_reset)
run "$LAN" curl --noproxy '*' -sS --max-time 5 "http://$UNREACH4/"
run "$LAN" curl --noproxy '*' -sS --max-time 5 "http://${SRV4[0]}:1/"
check_eq "curl to a closed port: refused as without mptun (exit 7)" "$RC" 7
api /status
check_eq "/status errors: destination_unreachable +1" "$(js .errors.destination_unreachable)" $((e97 + 1))
check_eq "/status errors: connection_reset +1" "$(js .errors.connection_reset)" $((e96 + 1))
check_eq "/status errors: every RFC 8803 code by name" \
	"$(js '.errors | keys | join(",")')" \
	connection_reset,destination_unreachable,malformed,missing_cookie,network_failure,not_authorized,other,resource_exceeded,unsupported_message,unsupported_tcp_option,unsupported_version
metrics
check_eq "/metrics: convert error 97 by code and name" \
	"$(prom 'mptun_convert_errors_total{code="97",name="destination_unreachable"}')" $((e97 + 1))

# ---- wan1 dead ----
from=$(cpe_log_lines main)
wan_cut 1
check "wan1 cut: 'path wan1 down' logged" cpe_wait_log main "path wan1 down" 10 "$from"
api /status
check_eq "/status wan1: state down" "$(path_js wan1 .state)" down
check_eq "/status wan2: still up" "$(path_js wan2 .state)" up
check "/status wan1: downs >= 1" gt0 "$(path_js wan1 .downs)"
check "/status wan1: since_s < 10" gt 10 "$(path_js wan1 .since_s)"
metrics
check_eq "/metrics: mptun_path_up{path=\"wan1\"} 0" \
	"$(prom 'mptun_path_up{path="wan1",interface="wan1",role="active"}')" 0
check "/metrics: mptun_path_downs_total{path=\"wan1\"} >= 1" gt0 "$(prom 'mptun_path_downs_total{path="wan1"}')"
wan_uncut 1
check "wan1 back: 'path wan1 up' logged" cpe_wait_log main "path wan1 up" 10 "$from"

# ---- endpoints, methods ----
api /nonesuch
check_eq "GET /nonesuch: 404" "$CODE" 404
api -X POST /status
check_eq "POST /status: 405" "$CODE" 405

# ---- reload over the socket ----
api -X POST /reload
check_eq "POST /reload over control.http: 403" "$CODE" 403
ctl -X POST /reload
check_eq "POST /reload over the socket: 200" "$CODE" 200
check_eq "POST /reload: ok true" "$(js .ok)" true
cp "${CPE_CFG[main]}" "$TMP/good.yaml"
printf 'tun: {name: mptun0\n' >"${CPE_CFG[main]}"
from=$(cpe_log_lines main)
ctl -X POST /reload
check_eq "POST /reload of a broken file: 400" "$CODE" 400
check_eq "POST /reload of a broken file: ok false" "$(js .ok)" false
check "POST /reload of a broken file: the message says it is kept ($(js .message | head -c 120))" \
	eval "js .message | grep -q 'keeping the running configuration'"
check "the log says the same" cpe_wait_log main "keeping the running configuration" 2 "$from"
cp "$TMP/good.yaml" "${CPE_CFG[main]}"
ctl /status
check_eq "GET /status over the socket: 200" "$CODE" 200
check_eq "/status: reloads 1, reload_failures 1" "$(js '"\(.reloads) \(.reload_failures)"')" "1 1"
check_eq "/status: both paths up after the reloads" "$(js '[.paths[].state] | join(",")')" up,up
metrics
check_eq "/metrics: mptun_reloads_total{result=\"failed\"} 1" \
	"$(prom 'mptun_reloads_total{result="failed"}')" 1
fetch 5M --timeout 60
check_rc "after the reloads: a new download completes" 0

cpe_alive main
cpe_stop main
check "after stop: the control socket is gone" eval "[ ! -e '$SOCK' ]"
cpe_check_clean main
cpe_finish
