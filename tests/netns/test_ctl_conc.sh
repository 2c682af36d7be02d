#!/bin/bash
# The concentrator's control interface (docs/control.md) with control.http
# and a control socket. Flows: a long one whose opening carries an Auth TLV
# (key id cpe-a) and echoes data until told to stop, short ones from the
# test client without Auth (so their CPE is the client's address), one to a
# refused port. Checks: /status counts; /flows lists the long flow (client,
# destination, state, CPE) with bytes that grow, limit and bad limits;
# /metrics passes mptun-promcheck and agrees with /status (flows, bytes,
# per CPE, the connect histogram's count); the log line of a flow's end;
# reload over the socket (a good file, then a broken one: 400 and the
# reason, flows still served); POST /reload over HTTP is 403; a second
# concentrator refuses the same socket path (and the same HTTP port); the
# socket file goes when the daemon stops.
. "$(dirname "$0")/lib.sh"

PROMCHECK=$NETNS_DIR/../tools/mptun-promcheck
topo_up
PORT=5124 CV=10.1.0.1:5124 HTTP=127.0.0.1:9470 SOCK=$TMP/ctl/conc.sock
KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
AUTH="{required: false, window: 30s, keys: [{id: cpe-a, key: \"$KEY\"}]}"
config() { conc_config $PORT ctl_http=$HTTP ctl_socket="$SOCK" auth="$AUTH" level=debug "$@"; }
conc_start main $PORT "$(config)" || finish
LOG=${CONC_LOG[main]}
srv_echo 9002

# ---- clients of the control interface ----
# get PATH [CURL-ARGS...]: over control.http; body in $TMP/body, status in $CODE
get() {
	local path=$1; shift
	CODE=$(ip netns exec "$CONC" curl -sS -m 10 -o "$TMP/body" -w '%{http_code}' \
		"$@" "http://$HTTP$path" 2>"$TMP/curl.err")
}
# sget METHOD PATH: over the control socket
sget() {
	CODE=$(curl -sS -m 10 -o "$TMP/body" -w '%{http_code}' -X "$1" \
		--unix-socket "$SOCK" "http://mptun$2" 2>"$TMP/curl.err")
}
# js EXPR [FILE]: a Python expression over the JSON (as d) of FILE or the body
js() { python3 -c 'import json, sys; d = json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' \
	"$1" "${2:-$TMP/body}" 2>&1; }
# metric 'NAME{LABELS}' [FILE]: the value of that sample
metric() { awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "none" }' \
	"${2:-$TMP/metrics}"; }
status() { get /status && cp "$TMP/body" "$TMP/status"; }
metrics() { get /metrics && cp "$TMP/body" "$TMP/metrics"; }

# ---- the long flow: Convert with Auth, echoes 16 KB chunks until $TMP/stop ----
cat >"$TMP/sign.py" <<'PY'
# sign.py KEY-HEX ID DST PORT: a Convert opening (Connect, then Auth) in hex,
# the Auth TLV as lib/auth.h describes it.
import hashlib, hmac, ipaddress, os, struct, sys, time
key, cid, dst, port = bytes.fromhex(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
a16 = ipaddress.IPv6Address("::ffff:" + dst).packed
connect = bytes([0x0A, 5]) + struct.pack(">H", port) + a16
head = bytes([1, len(cid)]) + cid.encode() + struct.pack(">Q", int(time.time())) + os.urandom(16)
mac = hmac.new(key, b"mptun auth v1" + head + connect, hashlib.sha256).digest()
auth = bytes([0xC0, 0]) + head + mac
auth += b"\0" * (-len(auth) % 4)
auth = bytes([0xC0, len(auth) // 4]) + auth[2:]
body = connect + auth
print((bytes([1, (4 + len(body)) // 4, 0x22, 0x63]) + body).hex())
PY
cat >"$TMP/long.py" <<'PY'
# long.py HOST PORT OPENING-HEX STOPFILE: a Convert flow over MPTCP that
# echoes 16 KB chunks until STOPFILE exists, then half-closes. Prints
# "intact SENT" when every byte came back in order, exits 1 otherwise.
import hashlib, os, socket, sys, time
host, port, opening, stop = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.settimeout(20)
s.connect((host, port))
s.sendall(opening)
def read(n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            sys.exit("EOF after %d of %d bytes" % (len(b), n))
        b += d
    return b
h = read(4)
body = read(h[1] * 4 - 4)
off = 0
while off + 2 <= len(body) and body[off + 1]:
    if body[off] == 0x1E:
        sys.exit("convert error %d" % body[off + 2])
    off += body[off + 1] * 4
print("connected", flush=True)
sent = hashlib.sha256(); got = hashlib.sha256(); n = 0
while not os.path.exists(stop):
    chunk = os.urandom(16384)
    s.sendall(chunk); sent.update(chunk); n += len(chunk)
    got.update(read(len(chunk)))
    time.sleep(0.05)
s.shutdown(socket.SHUT_WR)
if s.recv(1):
    sys.exit("bytes after the echo")
print("intact" if sent.digest() == got.digest() else "damaged", n, flush=True)
sys.exit(0 if sent.digest() == got.digest() else 1)
PY
OPENING=$(python3 "$TMP/sign.py" "$KEY" cpe-a 10.2.0.2 9002)
bg "$CLI" long python3 "$TMP/long.py" 10.1.0.1 $PORT "$OPENING" "$TMP/stop"
LONG=$BGPID
for ((i = 0; i < 100; i++)); do
	grep -q connected "$TMP/long.log" && break
	kill -0 $LONG 2>/dev/null || break
	sleep 0.1
done
check "the long flow (Convert with Auth of cpe-a) is connected" grep -q connected "$TMP/long.log"

# ---- short flows: 5 echoes of 200 KB, one refused port ----
mkfile "$TMP/short.bin" 200K
SHORT_OK=0
for i in 1 2 3 4 5; do
	ip netns exec "$CLI" "$TC" "$CV" 10.2.0.2:9002 <"$TMP/short.bin" >"$TMP/short.out" 2>"$TMP/err"
	[ $? = 0 ] && [ "$(sha "$TMP/short.out")" = "$(sha "$TMP/short.bin")" ] &&
		SHORT_OK=$((SHORT_OK + 1))
done
check_eq "5 short flows echoed intact" $SHORT_OK 5
tc --timeout 5 "$CV" 10.2.0.2:1 </dev/null
check_rc "a flow to a refused port: Convert error" 3

# ---- /status while the long flow runs ----
status
check_eq "GET /status over control.http: 200" "$CODE" 200
check_eq "/status: daemon" "$(js 'd["daemon"]')" mptun-concentrator
check_eq "/status: flows.total (1 long, 5 short, 1 refused)" "$(js 'd["flows"]["total"]')" 7
check_eq "/status: flows.active (the long one)" "$(js 'd["flows"]["active"]')" 1
check_eq "/status: workers" "$(js 'd["workers"]')" 2
check_eq "/status: cpe-a has the long flow" \
	"$(js '[(c["flows_active"], c["flows_total"]) for c in d["cpes"] if c["id"] == "cpe-a"]')" \
	"[(1, 1)]"
check_eq "/status: the short flows' CPE is the client's address" \
	"$(js '[(c["flows_active"], c["flows_total"], c["bytes_up"]) for c in d["cpes"] if c["id"] == "10.1.0.2"]')" \
	"[(0, 6, $((5 * 200 * 1024)))]"
check_eq "/status: the same over the control socket" \
	"$(sget GET /status; echo "$CODE $(js 'd["flows"]["total"]')")" "200 7"

# ---- /flows ----
get /flows
check_eq "GET /flows: 200" "$CODE" 200
check_eq "/flows: the long flow, its client, destination, state, CPE" \
	"$(js '[(f["client"].split(":")[0], f["destination"], f["state"], f["cpe"]) for f in d["flows"]]')" \
	"[('10.1.0.2', '10.2.0.2:9002', 'relaying', 'cpe-a')]"
check_eq "/flows: total 1, not truncated" "$(js '(d["total"], d["truncated"])')" "(1, False)"
LONG_ID=$(js 'd["flows"][0]["id"]')
b1=$(js 'd["flows"][0]["bytes_up"]')
c1=$(js '[c["bytes_up"] for c in d["cpes"] if c["id"] == "cpe-a"][0]' "$TMP/status")
grew=0
for ((i = 0; i < 100; i++)); do
	get /flows
	b2=$(js 'd["flows"][0]["bytes_up"] if d["flows"] else -1')
	[[ "$b2" =~ ^[0-9]+$ ]] && [ "$b2" -gt "$b1" ] && [ "$b1" -gt 0 ] && { grew=1; break; }
	sleep 0.1
done
check_eq "/flows: the long flow's bytes_up grows ($b1 -> $b2)" $grew 1
check_range "/flows: its bytes_down follows" "$(js 'd["flows"][0]["bytes_down"]')" 1 999999999999
status
c2=$(js '[c["bytes_up"] for c in d["cpes"] if c["id"] == "cpe-a"][0]')
check "/status: cpe-a's bytes_up counts the live flow and grows ($c1 -> $c2)" \
	eval '[ "$c1" -gt 0 ] && [ "$c2" -gt "$c1" ]'
get '/flows?limit=0'
check_eq "/flows?limit=0: no flows, total 1, truncated" \
	"$CODE $(js '(len(d["flows"]), d["total"], d["truncated"])')" "200 (0, 1, True)"
for bad in abc -1 100001 1x ''; do
	get "/flows?limit=$bad"
	check_eq "/flows?limit=$bad: 400" "$CODE $(js '"error" in d')" "400 True"
done
get '/flows?limit=100000'
check_eq "/flows?limit=100000: 200" "$CODE" 200
get /nothing
check_eq "GET /nothing: 404" "$CODE" 404
get /flows -X DELETE
check_eq "DELETE /flows: 405" "$CODE" 405

# ---- /metrics ----
metrics
check_eq "GET /metrics: 200" "$CODE" 200
run "$CONC" "$PROMCHECK" --require mptun_connect_seconds --require mptun_cpe_flows_total \
	--require mptun_cpe_bytes_total --require mptun_cpe_flows_active "$TMP/metrics"
check_rc "/metrics passes mptun-promcheck" 0
check_eq "/metrics: cpe-a active" "$(metric 'mptun_cpe_flows_active{cpe="cpe-a"}')" 1
check_eq "/metrics: the address's flows" "$(metric 'mptun_cpe_flows_total{cpe="10.1.0.2"}')" 6

# ---- the long flow ends; then everything is quiet and must agree ----
touch "$TMP/stop"
wait $LONG
RC=$? OUT=$(cat "$TMP/long.log") ERR=""
check_rc "the long flow: every byte echoed in order" 0 '^intact [0-9]+$'
LONG_BYTES=$(awk '/^intact/ { print $2 }' "$TMP/long.log")
for ((i = 0; i < 50; i++)); do
	status
	[ "$(js 'd["flows"]["active"]')" = 0 ] && break
	sleep 0.1
done
check_eq "/status: no flow active at the end" "$(js 'd["flows"]["active"]')" 0
metrics
run "$CONC" "$PROMCHECK" "$TMP/metrics"
check_rc "/metrics passes mptun-promcheck at the end" 0
S=$TMP/status
check_eq "mptun_flows_total equals /status flows.total" \
	"$(metric mptun_flows_total)" "$(js 'd["flows"]["total"]' "$S")"
check_eq "mptun_bytes_total up equals /status bytes.up" \
	"$(metric 'mptun_bytes_total{direction="up"}')" "$(js 'd["bytes"]["up"]' "$S")"
check_eq "mptun_bytes_total down equals /status bytes.down" \
	"$(metric 'mptun_bytes_total{direction="down"}')" "$(js 'd["bytes"]["down"]' "$S")"
check_eq "bytes up: the long flow's and the short ones', exactly" \
	"$(js 'd["bytes"]["up"]' "$S")" $((LONG_BYTES + 5 * 200 * 1024))
check_eq "cpe-a: 1 flow, its bytes both ways, exactly" \
	"$(js '[(c["flows_active"], c["flows_total"], c["bytes_up"], c["bytes_down"]) for c in d["cpes"] if c["id"] == "cpe-a"]' "$S")" \
	"[(0, 1, $LONG_BYTES, $LONG_BYTES)]"
check_eq "per-CPE bytes add up to the daemon's" \
	"$(js '(sum(c["bytes_up"] for c in d["cpes"]), sum(c["bytes_down"] for c in d["cpes"]))' "$S")" \
	"$(js '(d["bytes"]["up"], d["bytes"]["down"])' "$S")"
check_eq "mptun_cpe_bytes_total of cpe-a equals /status" \
	"$(metric 'mptun_cpe_bytes_total{cpe="cpe-a",direction="up"}') $(metric 'mptun_cpe_flows_total{cpe="cpe-a"}')" \
	"$LONG_BYTES 1"
check_eq "mptun_connect_seconds_count equals connect_ok + connect_failed" \
	"$(metric mptun_connect_seconds_count)" \
	"$(js 'd["counters"]["connect_ok"] + d["counters"]["connect_failed"]' "$S")"
check_eq "... which is 7, one failed" \
	"$(js '(d["counters"]["connect_ok"], d["counters"]["connect_failed"])' "$S")" "(6, 1)"
check "the long flow's end is logged with its id, client and destination" \
	grep -Eq "flow $LONG_ID 10\.1\.0\.2:[0-9]+ -> 10\.2\.0\.2:9002: closed \(done\).*cpe cpe-a, up $LONG_BYTES, down $LONG_BYTES bytes" "$LOG"
check "the refused flow's answer is logged the same way" \
	grep -Eq "flow [0-9]+ 10\.1\.0\.2:[0-9]+ -> 10\.2\.0\.2:1: refused \(Connection Reset\)" "$LOG"

# ---- reload ----
config idle=90s >"${CONC_CFG[main]}"
sget POST /reload
check_eq "POST /reload over the socket, a good file: 200 ok" "$CODE $(js 'd["ok"]')" "200 True"
printf 'workers: [\n' >>"${CONC_CFG[main]}"
sget POST /reload
check_eq "POST /reload, a broken file: 400, ok false" "$CODE $(js 'd["ok"]')" "400 False"
check "... with the reason and the file in the message" \
	grep -q "conc-main.yaml:.*keeping the running configuration" "$TMP/body"
echo hello | ip netns exec "$CLI" "$TC" "$CV" 10.2.0.2:9002 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "after the refused reload, flows are still served" 0 '^hello$'
status
check_eq "/status: reloads 1, reload_failures 1" \
	"$(js '(d["reloads"], d["reload_failures"])')" "(1, 1)"
get /reload -X POST
check_eq "POST /reload over control.http: 403" "$CODE" 403
check_eq "... and nothing was reloaded" "$(status; js 'd["reloads"] + d["reload_failures"]')" 2
get /reload
check_eq "GET /reload: 405" "$CODE" 405

# ---- a second concentrator: the same socket path, then the same HTTP port ----
config ctl_http=off >"$TMP/second.yaml"
sed -i "s/\[::\]:$PORT/[::]:5125/" "$TMP/second.yaml"
run "$CONC" timeout 20 "$CONCD" -f -c "$TMP/second.yaml"
check_rc "a second concentrator on the same socket path refuses to start" 1 \
	"control.socket: $SOCK: another daemon is serving on it"
conc_config 5126 ctl_http=$HTTP ctl_socket="$TMP/ctl/other.sock" >"$TMP/third.yaml"
run "$CONC" timeout 20 "$CONCD" -f -c "$TMP/third.yaml"
check_rc "a second concentrator on the same HTTP port refuses to start" 1 \
	"control.http: cannot listen on $HTTP"
check "... and leaves no socket file of its own" eval '[ ! -e "$TMP/ctl/other.sock" ]'
check_eq "the first one still answers on its socket" "$(sget GET /status; echo "$CODE")" 200

check "concentrator still running" kill -0 "${CONC_PID[main]}"
conc_stop main
check "its socket file is gone after it stopped" eval '[ ! -e "$SOCK" ]'
finish
