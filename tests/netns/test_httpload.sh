#!/bin/bash
# mptun-httpload (bench/paths' connections-per-second tool), by plain
# routing cli -> conc -> srv: its server answers 200 with --size bytes (v4
# and v6); its client counts complete answers as ok and everything else as
# a failure of the right kind: a refused port, a 404, a body shorter than
# Content-Length, a server that never answers. SIGTERM ends the server with
# exit 0.
. "$(dirname "$0")/lib.sh"

CL=$BUILD/mptun-httpload
[ -x "$CL" ] || { echo "$TNAME: no $CL (make tools)" >&2; exit 1; }
topo_up
kv() { echo "$OUT" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }
# load ADDR:PORT [ARGS...]: the client for 1 s, 4 in flight
load() {
	local dst=$1
	shift
	run "$CLI" timeout 30 "$CL" --seconds 1 --concurrency 4 "$@" "$dst" /x
}

bg "$SRV" httpload "$CL" --serve "[::]:8090" --size 1000
sv=$BGPID
wait_listen "$SRV" 8090 || finish
run "$CLI" curl -sS -m 5 -D "$TMP/head" -o "$TMP/body" http://10.2.0.2:8090/any
check_rc "server: curl GET exits 0" 0
check "server: status 200" grep -q '^HTTP/1.0 200' "$TMP/head"
check_eq "server: body of --size bytes" "$(stat -c %s "$TMP/body")" 1000

for dst in 10.2.0.2:8090 "[fd00:2::2]:8090"; do
	load "$dst"
	check_rc "client to $dst: exit 0" 0 '^ok='
	check_range "client to $dst: connections ok in 1 s" "$(kv ok)" 20 10000000
	check_eq "client to $dst: none failed" "$(kv failed)" 0
	check_eq "client to $dst: cps = ok / seconds" "$(kv cps)" "$(kv ok).0"
done

load 10.2.0.2:1
check_rc "closed port: exit 1" 1
check_eq "closed port: no ok" "$(kv ok)" 0
check_range "closed port: counted as refused" "$(kv refused)" 1 10000000
check_eq "closed port: failed = refused" "$(kv failed)" "$(kv refused)"

# bad.py MODE PORT: 404 answers, short bodies, or a listener that never
# accepts (the handshake completes in its backlog)
cat >"$TMP/bad.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.listen(64)
if sys.argv[1] == "mute":
    time.sleep(60)
while True:
    c, _ = s.accept()
    c.recv(4096)
    if sys.argv[1] == "404":
        c.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n")
    else:
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 60)
    c.close()
EOF
port=9100
for mode in 404 short; do
	bg "$SRV" "bad-$mode" python3 "$TMP/bad.py" "$mode" $port
	wait_listen "$SRV" $port || finish
	load "10.2.0.2:$port"
	check_rc "$mode answers: exit 1" 1
	check_eq "$mode answers: no ok" "$(kv ok)" 0
	check_range "$mode answers: counted as bad" "$(kv bad)" 1 10000000
	port=$((port + 1))
done
bg "$SRV" bad-mute python3 "$TMP/bad.py" mute $port
wait_listen "$SRV" $port || finish
load "10.2.0.2:$port" --timeout 300
check_rc "a server that never answers: exit 1" 1
check_range "a server that never answers: timeouts" "$(kv timeout)" 4 10000000

stop_daemon "mptun-httpload --serve" "$sv" 5
check "server: no sanitizer report" eval \
	"! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' '$TMP/httpload.log'"
finish
