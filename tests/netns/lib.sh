# Shared helpers of the netns tests, the demo and the benchmark. Source it:
#   . "$(dirname "$0")/lib.sh"        ($1 of the caller is the build dir)
#
# Topology, names unique per run (mpt<PID>-*), all removed on exit:
#   $CLI  eth0 10.1.0.2/24 fd00:1::2/64
#    |
#   $CONC cli0 10.1.0.1/24 fd00:1::1/64, srv0 10.2.0.1/24 fd00:2::1/64 (forwarding)
#    |
#   $SRV  eth0 10.2.0.2/24 fd00:2::2/64
# Each check prints one PASS:/FAIL: line; `finish` prints the tally and exits.

set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no build dir $1" >&2; exit 2; }
NETNS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONCD=$BUILD/mptun-concentrator
TC=$BUILD/mptun-testclient
PFX=mpt$$
CLI=$PFX-cli CONC=$PFX-conc SRV=$PFX-srv
TNAME=$(basename "$0" .sh)
NSS=() PIDS=()
declare -A CONC_PID=() CONC_LOG=() CONC_CFG=()
NPASS=0 NFAIL=0 _CLEANED=0

[ "$(id -u)" = 0 ] || { echo "SKIP $TNAME: needs root"; exit 77; }
[ "$(sysctl -n net.mptcp.enabled 2>/dev/null)" = 1 ] ||
	{ echo "SKIP $TNAME: kernel without MPTCP (net.mptcp.enabled)"; exit 77; }
[ -x "$TC" ] || { echo "$TNAME: no test client at $TC (make tools)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/mptun-$TNAME.XXXXXX)

cleanup() {
	local rc=$? ns p pids
	[ $_CLEANED = 1 ] && return
	_CLEANED=1
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for ns in "${NSS[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill $pids 2>/dev/null
	done
	sleep 0.2
	for ns in "${NSS[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
	exit $rc
}
trap cleanup EXIT
trap 'echo "$TNAME: interrupted" >&2; exit 130' INT
trap 'echo "$TNAME: terminated" >&2; exit 143' TERM

# ---- checks ----
pass() { NPASS=$((NPASS + 1)); echo "PASS: $*"; }
fail() { NFAIL=$((NFAIL + 1)); echo "FAIL: $*"; }
# check DESC CMD...: passes when CMD exits 0.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
check_eq() { # DESC GOT EXPECTED
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$3', got '$2')"; fi
}
# check_range DESC VALUE MIN MAX (integers)
check_range() {
	if [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then
		pass "$1 ($2)"
	else fail "$1 (expected $3..$4, got '$2')"; fi
}
# run NS CMD...: runs CMD in NS; stdout in $OUT, stderr in $ERR, exit code in $RC.
run() {
	local ns=$1; shift
	ip netns exec "$ns" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(head -c 4000 "$TMP/out") ERR=$(head -c 4000 "$TMP/err")
}
# check_rc DESC RC [GREP-PATTERN-ON-STDERR+STDOUT]: checks the last `run`.
check_rc() {
	local why=""
	[ "$RC" = "$2" ] || why="exit $RC, expected $2"
	if [ -z "$why" ] && [ -n "${3:-}" ] && ! grep -Eq -- "$3" <<<"$OUT"$'\n'"$ERR"; then
		why="output lacks /$3/"
	fi
	if [ -z "$why" ]; then pass "$1"; return 0; fi
	fail "$1 ($why; stdout: ${OUT:0:200}; stderr: ${ERR:0:300})"
	return 1
}
# tc ARGS...: the test client in the client namespace (sets RC/OUT/ERR).
tc() { run "$CLI" "$TC" "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
mkfile() { head -c "$2" /dev/urandom >"$1"; } # PATH BYTES (e.g. 100M)
nstat_get() { # NS COUNTER
	ip netns exec "$1" nstat -asz "$2" | awk -v c="$2" '$1 == c { v = $2 } END { print v + 0 }'
}

finish() {
	local n
	for n in "${!CONC_PID[@]}"; do
		if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "${CONC_LOG[$n]}"; then
			fail "sanitizer report in concentrator $n log:"
			grep -E -A12 'Sanitizer|runtime error:' "${CONC_LOG[$n]}" | head -40
		fi
	done
	echo "$TNAME: $NPASS checks passed, $NFAIL failed"
	[ $NFAIL = 0 ] || exit 1
	exit 0
}

# ---- topology ----
ns_add() { # NAME: a namespace with lo up, removed by cleanup
	ip netns add "$1" || { echo "cannot create namespace $1" >&2; exit 1; }
	NSS+=("$1")
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
}
topo_up() {
	local ns
	for ns in "$CLI" "$CONC" "$SRV"; do ns_add "$ns"; done
	ip -n "$CLI" link add eth0 type veth peer name cli0 netns "$CONC"
	ip -n "$SRV" link add eth0 type veth peer name srv0 netns "$CONC"
	ip -n "$CLI" addr add 10.1.0.2/24 dev eth0
	ip -n "$CLI" addr add fd00:1::2/64 dev eth0 nodad
	ip -n "$CONC" addr add 10.1.0.1/24 dev cli0
	ip -n "$CONC" addr add fd00:1::1/64 dev cli0 nodad
	ip -n "$CONC" addr add 10.2.0.1/24 dev srv0
	ip -n "$CONC" addr add fd00:2::1/64 dev srv0 nodad
	ip -n "$SRV" addr add 10.2.0.2/24 dev eth0
	ip -n "$SRV" addr add fd00:2::2/64 dev eth0 nodad
	ip -n "$CLI" link set eth0 up; ip -n "$SRV" link set eth0 up
	ip -n "$CONC" link set cli0 up; ip -n "$CONC" link set srv0 up
	ip -n "$CLI" route add default via 10.1.0.1
	ip -n "$CLI" -6 route add default via fd00:1::1
	ip -n "$SRV" route add default via 10.2.0.1
	ip -n "$SRV" -6 route add default via fd00:2::1
	ip netns exec "$CONC" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# names for SOCKS4a / SOCKS5-hostname, seen by processes in $CONC only
	mkdir -p "/etc/netns/$CONC"
	printf '10.2.0.2 srv.mptun.test\nfd00:2::2 srv6.mptun.test\n127.0.0.1 localhost\n' \
		>"/etc/netns/$CONC/hosts"
	echo 'nameserver 127.0.0.1' >"/etc/netns/$CONC/resolv.conf"
	# IPv6 drops packets until linkwatch reports the veths up (up to 1 s)
	local i up
	for ((i = 0; i < 60; i++)); do
		up=$( (ip -n "$CLI" -br link show dev eth0; ip -n "$SRV" -br link show dev eth0
			ip -n "$CONC" -br link show dev cli0; ip -n "$CONC" -br link show dev srv0) |
			grep -c ' UP ')
		[ "$up" = 4 ] && break
		sleep 0.05
	done
	# a refused port (exit 4) proves the route and the forwarding work
	ip netns exec "$CLI" "$TC" --mode direct --tcp --timeout 3 - 10.2.0.2:1 </dev/null 2>/dev/null
	[ $? = 4 ] || { echo "topology: 10.2.0.2 unreachable from $CLI" >&2; exit 1; }
}

# wait_listen NS PORT [SECONDS]: until something listens on PORT in NS.
wait_listen() {
	local i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		[ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2")" ] && return 0
		sleep 0.05
	done
	echo "nothing listens on port $2 in $1" >&2
	return 1
}
# bg NS LOGNAME CMD...: start CMD in NS in the background; pid in $BGPID.
bg() {
	local ns=$1 log=$2; shift 2
	ip netns exec "$ns" "$@" >"$TMP/$log.log" 2>&1 &
	BGPID=$!
	PIDS+=("$BGPID")
}

# ---- the concentrator ----
# conc_config PORT [key=value...]: prints a config. Keys: clients allow deny
# users private header connect idle drain flows per_client tfo workers level
# source4 (quoted address or null); optional, left out when empty: pending
# (limits.pending_per_client), auth (the auth section as a YAML flow
# mapping, e.g. auth='{required: true, keys: [...]}'); ctl_http (control.http,
# default off) and ctl_socket (control.socket, default $TMP/conc-PORT-PID.sock: one per call).
conc_config() {
	local port=$1 kv clients='"10.1.0.0/24", "fd00:1::/64"' users='' deny='' \
		allow='"10.2.0.0/24", "fd00:2::/64"' private=false header=2s connect=2s \
		idle=60s drain=5s flows=4096 per_client=2048 tfo=set workers=2 level=info \
		source4='"10.2.0.1"' pending='' auth='' user='' ctl_http=off \
		ctl_socket=$TMP/conc-$1-$BASHPID.sock
	shift
	for kv in "$@"; do local "${kv%%=*}=${kv#*=}"; done
	cat <<-EOF
	listen: "[::]:$port"
	workers: $workers
	tcp_fastopen_sysctl: $tfo
	clients:
	  allow: [$clients]
	socks:
	  enabled: true
	EOF
	[ -n "$users" ] && echo "  users: [$users]"
	cat <<-EOF
	egress:
	  allow_private: $private
	  allow: [$allow]
	EOF
	[ -n "$deny" ] && echo "  deny: [$deny]"
	cat <<-EOF
	  source4: $source4
	timeouts: {header: $header, connect: $connect, idle: $idle, drain: $drain}
	limits: {flows: $flows, flows_per_client: $per_client${pending:+, pending_per_client: $pending}}
	log: {level: $level}
	control: {http: "$ctl_http", socket: "$ctl_socket"}
	EOF
	if [ -n "$auth" ]; then echo "auth: $auth"; fi
	if [ -n "$user" ]; then echo "user: $user"; fi
}
# conc_start NAME PORT CONFIG-TEXT [NS]: start it in $CONC (or NS), wait
# until it listens. Returns 1 (after a FAIL line) if it does not.
conc_start() {
	local name=$1 port=$2 ns=${4:-$CONC}
	[ -x "$CONCD" ] || { fail "no concentrator binary at $CONCD"; return 1; }
	CONC_CFG[$name]=$TMP/conc-$name.yaml CONC_LOG[$name]=$TMP/conc-$name.log
	printf '%s\n' "$3" >"${CONC_CFG[$name]}"
	ip netns exec "$ns" "$CONCD" -f -c "${CONC_CFG[$name]}" >"${CONC_LOG[$name]}" 2>&1 &
	CONC_PID[$name]=$!
	PIDS+=($!)
	if wait_listen "$ns" "$port" 10 2>/dev/null && kill -0 "${CONC_PID[$name]}" 2>/dev/null; then
		return 0
	fi
	fail "concentrator $name did not start listening on port $port; log:"
	tail -n 20 "${CONC_LOG[$name]}"
	return 1
}
# stop_daemon LABEL PID [SECONDS]: SIGTERM, wait up to SECONDS (10); a
# check that it exited 0. Returns its exit status (1 if it had to be killed).
stop_daemon() {
	local label=$1 pid=$2 secs=${3:-10} i rc
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "$label still running ${secs}s after SIGTERM"
		kill -9 "$pid"; wait "$pid" 2>/dev/null
		return 1
	fi
	wait "$pid"; rc=$?
	check_eq "$label exits 0 on SIGTERM" "$rc" 0
	return "$rc"
}
# conc_stop NAME [SECONDS]: SIGTERM, wait; a check that it exited 0.
conc_stop() { stop_daemon "concentrator $1" "${CONC_PID[$1]}" "${2:-10}"; }
conc_log_tail() { tail -n "${2:-15}" "${CONC_LOG[$1]}" | sed 's/^/    | /'; }

# conc_counters NAME: SIGUSR1, then the dump as "key value" lines (the
# "counters:", "errors:" and "socks:" lines; socks comes last).
conc_counters() {
	local log=${CONC_LOG[$1]} n0 i g
	n0=$(grep -c ' socks: ' "$log")
	kill -USR1 "${CONC_PID[$1]}" 2>/dev/null || return 1
	for ((i = 0; i < 60; i++)); do
		[ "$(grep -c ' socks: ' "$log")" -gt "$n0" ] && break
		sleep 0.05
	done
	for g in counters errors socks; do
		grep "^info: $g: " "$log" | tail -n 1 | sed "s/^info: $g: //" | tr ' ' '\n' |
			awk -F= -v g=$g 'NF == 2 { print (g == "errors" && $1 == "other" ? "error_other" : $1), $2 }'
	done
}

# ---- servers in $SRV (and their Python sources) ----
srv_echo() { # PORT: echoes while reading; its EOF after the client's EOF
	cat >"$TMP/echo.py" <<-'EOF'
	import asyncio, socket, sys
	async def echo(r, w):
	    try:
	        while data := await r.read(65536):
	            w.write(data)
	            await w.drain()
	        w.write_eof()
	        await w.drain()
	    except (ConnectionError, OSError):
	        pass
	    w.close()
	async def main():
	    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
	    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
	    s.bind(("::", int(sys.argv[1])))
	    srv = await asyncio.start_server(echo, sock=s, backlog=2048)
	    await srv.serve_forever()
	asyncio.run(main())
	EOF
	bg "$SRV" "echo$1" python3 "$TMP/echo.py" "$1"
	wait_listen "$SRV" "$1"
}
# srv_eofecho PORT: reads to EOF, then sends everything back and closes (a
# half-close check). If the data starts with "RST\n" it resets instead.
srv_eofecho() {
	cat >"$TMP/eofecho.py" <<-'EOF'
	import socket, struct, sys, threading
	def handle(c):
	    buf = bytearray()
	    while d := c.recv(1 << 16):
	        buf += d
	        if buf.startswith(b"RST\n"):
	            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	            c.close()
	            return
	    c.sendall(buf)
	    c.close()
	s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
	s.bind(("::", int(sys.argv[1])))
	s.listen(128)
	while True:
	    threading.Thread(target=handle, args=(s.accept()[0],), daemon=True).start()
	EOF
	bg "$SRV" "eofecho$1" python3 "$TMP/eofecho.py" "$1"
	wait_listen "$SRV" "$1"
}
srv_http() { # PORT DIR
	bg "$SRV" "http$1" python3 -m http.server "$1" --bind :: --directory "$2"
	wait_listen "$SRV" "$1"
}
srv_iperf() { # PORT
	bg "$SRV" "iperf$1" iperf3 -s -p "$1"
	wait_listen "$SRV" "$1"
}
