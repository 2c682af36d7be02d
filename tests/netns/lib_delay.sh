# A delay line for the netns tests: mptun-delayline in a routed middle
# namespace gives a link its own one-way delay and random loss (no
# sch_netem here; rate still comes from tbf). Source it after lib.sh:
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib_delay.sh"
#
# delay_link MID A A_IF B B_IF N builds, for N in 1..250:
#   A    A_IF  100.80.N.2/24 fd80:N::2/64, route to B's side via MID
#    |
#   MID  to-a  100.80.N.1/24 fd80:N::1/64   (forwarding, rp_filter off)
#        to-b  100.81.N.1/24 fd81:N::1/64
#    |
#   B    B_IF  100.81.N.2/24 fd81:N::2/64, route to A's side via MID
# Without the tool MID forwards plainly (the baseline). delay_start then
# sends every forwarded packet through the TUN pair of the tool:
#   iif to-a -> table 101 (default dev dl-a) -> tool -> out of dl-b -> to-b
#   iif to-b -> table 102 (default dev dl-b) -> tool -> out of dl-a -> to-a
# Packets coming out of the TUNs use the main table. MID must not NAT: a
# packet crosses its conntrack twice, and NAT is decided on the first pass.

DELAYD=$BUILD/mptun-delayline
declare -A DELAY_PID=() DELAY_LOG=()

delay_link() { # MID A A_IF B B_IF N
	local mid=$1 a=$2 aif=$3 b=$4 bif=$5 n=$6 i up
	ns_add "$mid"
	ip netns exec "$mid" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0
	ip -n "$a" link add "$aif" type veth peer name to-a netns "$mid"
	ip -n "$b" link add "$bif" type veth peer name to-b netns "$mid"
	ip -n "$a" addr add "100.80.$n.2/24" dev "$aif"
	ip -n "$a" addr add "fd80:$n::2/64" dev "$aif" nodad
	ip -n "$mid" addr add "100.80.$n.1/24" dev to-a
	ip -n "$mid" addr add "fd80:$n::1/64" dev to-a nodad
	ip -n "$mid" addr add "100.81.$n.1/24" dev to-b
	ip -n "$mid" addr add "fd81:$n::1/64" dev to-b nodad
	ip -n "$b" addr add "100.81.$n.2/24" dev "$bif"
	ip -n "$b" addr add "fd81:$n::2/64" dev "$bif" nodad
	ip -n "$a" link set "$aif" up; ip -n "$b" link set "$bif" up
	ip -n "$mid" link set to-a up; ip -n "$mid" link set to-b up
	ip -n "$a" route add "100.81.$n.0/24" via "100.80.$n.1"
	ip -n "$a" -6 route add "fd81:$n::/64" via "fd80:$n::1"
	ip -n "$b" route add "100.80.$n.0/24" via "100.81.$n.1"
	ip -n "$b" -6 route add "fd80:$n::/64" via "fd81:$n::1"
	# IPv6 drops packets until linkwatch reports the veths up
	for ((i = 0; i < 60; i++)); do
		up=$( (ip -n "$a" -br link show dev "$aif"; ip -n "$b" -br link show dev "$bif"
			ip -n "$mid" -br link show dev to-a; ip -n "$mid" -br link show dev to-b) |
			grep -c ' UP ')
		[ "$up" = 4 ] && return 0
		sleep 0.05
	done
	echo "delay_link: links in $mid not up" >&2
	return 1
}

# delay_start MID DELAY_MS [LOSS [MORE-TOOL-ARGS...]]: start the tool in MID
# (pid in DELAY_PID[MID], also in PIDS for cleanup) and route through it.
# Returns 1 (after a FAIL line) if it does not come up.
delay_start() {
	local mid=$1 ms=$2 loss=${3:-0} i
	shift; shift; shift 2>/dev/null
	[ -x "$DELAYD" ] || { fail "no delay line binary at $DELAYD"; return 1; }
	DELAY_LOG[$mid]=$TMP/delay-$mid.log
	ip netns exec "$mid" "$DELAYD" --tun-a dl-a --tun-b dl-b --delay-ms "$ms" \
		--loss "$loss" "$@" >"${DELAY_LOG[$mid]}" 2>&1 &
	DELAY_PID[$mid]=$!
	PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		[ "$(ip -n "$mid" -br link show up 2>/dev/null | grep -c '^dl-[ab] ')" = 2 ] && break
		kill -0 "${DELAY_PID[$mid]}" 2>/dev/null || break
		sleep 0.05
	done
	if ! kill -0 "${DELAY_PID[$mid]}" 2>/dev/null || [ "$i" = 100 ]; then
		fail "delay line in $mid did not start; log:"
		tail -n 10 "${DELAY_LOG[$mid]}"
		return 1
	fi
	_delay_route "$mid" add
}
_delay_route() { # MID add|del
	local f
	for f in -4 -6; do
		ip -n "$1" "$f" rule "$2" iif to-a table 101 pref 1001
		ip -n "$1" "$f" rule "$2" iif to-b table 102 pref 1002
		[ "$2" = add ] || continue
		ip -n "$1" "$f" route add default dev dl-a table 101
		ip -n "$1" "$f" route add default dev dl-b table 102
	done
}

# delay_stop MID [SECONDS]: back to plain forwarding; SIGTERM the tool and
# check that it exits 0 (its routes go with its TUNs).
delay_stop() {
	_delay_route "$1" del
	stop_daemon "delay line in $1" "${DELAY_PID[$1]}" "${2:-5}"
}

# udp_ping A B DST COUNT [INTERVAL_S]: COUNT UDP probes from A to an echo in
# B (started here, port 7007, v4 or v6 by DST); prints "SENT RECV MIN_MS".
udp_ping() {
	local a=$1 b=$2 dst=$3 n=$4 iv=${5:-0.02} pid
	cat >"$TMP/udpecho.py" <<-'EOF'
	import socket
	s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
	s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
	s.bind(("::", 7007))
	while True:
	    d, peer = s.recvfrom(2048)
	    s.sendto(d, peer)
	EOF
	cat >"$TMP/udpping.py" <<-'EOF'
	import select, socket, struct, sys, time
	dst, n, iv = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
	fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
	s = socket.socket(fam, socket.SOCK_DGRAM)
	s.connect((dst, 7007))
	s.setblocking(False)
	rtts = {}
	def wait_until(end):  # receive replies as they come, until end
	    while len(rtts) < n and (left := end - time.monotonic()) > 0:
	        if not select.select([s], [], [], left)[0]:
	            continue
	        try:
	            d = s.recv(2048)
	        except BlockingIOError:
	            continue
	        seq, t = struct.unpack("!Id", d[:12])
	        rtts.setdefault(seq, time.monotonic() - t)
	for i in range(n):
	    s.send(struct.pack("!Id", i, time.monotonic()) + b"x" * 52)
	    wait_until(time.monotonic() + iv)
	wait_until(time.monotonic() + 1.0)
	low = min(rtts.values()) * 1000 if rtts else -1
	print(n, len(rtts), int(low))
	EOF
	ip netns exec "$b" python3 "$TMP/udpecho.py" >/dev/null 2>&1 &
	pid=$!
	sleep 0.3
	ip netns exec "$a" python3 "$TMP/udpping.py" "$dst" "$n" "$iv"
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
