# Helpers of the mptun-cpe netns tests and bench/cpe. Source it instead of
# lib.sh (it sources lib.sh):  . "$(dirname "$0")/lib_cpe.sh"
#
# Topology, a hybrid-access deployment, names unique per run (mpt<PID>-*):
#
#   $LAN  eth0 192.168.10.2/24 fd10::2/64, default via the CPE
#    |
#   $CPE  lan0 192.168.10.1/24 fd10::1/64   (forwarding; mptun-cpe runs here)
#         wan1 100.64.1.2/24 fd64:1::2/64   default (v4 and v6) via $ISP1
#         wan2 100.64.2.2/24 fd64:2::2/64   no default route: the daemon's
#         paths (cpe_config) give each WAN its table, rule and MPTCP endpoint
#    |                 |
#   $ISP1 cpe0 .1.1   $ISP2 cpe0 .2.1       route the LAN prefixes to the CPE;
#         core0 10.11.0.1/30 fd11::1/64     nftables masquerade (v4 and v6) of
#         core0 10.12.0.1/30 fd12::1/64     all that leaves core0 (CGNAT/NAT66)
#    |                 |
#   $CONC isp1 10.11.0.2/30 fd11::2/64, isp2 10.12.0.2/30 fd12::2/64,
#         lo 198.51.100.1/32 2001:db8:c::1/128: the concentrator's address
#         (no dummy module here), reached through either ISP; srv0 203.0.113.1/24
#         2001:db8:5::1/64 (forwarding); 192.0.2.0/24 and 2001:db8:99::/64
#         are "unreachable" routes (host unreachable for tests)
#    |
#   $SRV  eth0 203.0.113.10, .11, .12/24, 2001:db8:5::10, ::11, ::12/64
#
# The ISPs masquerade, so the concentrator sees its clients as 10.11.0.1 and
# 10.12.0.1 (both on its own links: no extra routes). Without the daemon,
# lan -> srv works by plain forwarding via isp1 (v4 and v6): the baseline.
#
# MPTUN_CPE_DIRECT=1 runs the tests without the daemon (plain routing): the
# data-path checks then validate the topology, the daemon checks say SKIP.
# Without it a missing $BUILD/mptun-cpe is a FAIL.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CPED=$BUILD/mptun-cpe
LAN=$PFX-lan CPE=$PFX-cpe ISP1=$PFX-isp1 ISP2=$PFX-isp2
CLI=$LAN # lib.sh's tc() runs the test client here
CONC_ADDR=198.51.100.1 CONC_PORT=5124
SRV4=(203.0.113.10 203.0.113.11 203.0.113.12)
SRV6=(2001:db8:5::10 2001:db8:5::11 2001:db8:5::12)
UNREACH4=192.0.2.1 UNREACH6=2001:db8:99::1
CPE_DIRECT=${MPTUN_CPE_DIRECT:-0}
declare -A CPE_PID=() CPE_LOG=() CPE_CFG=() CPE_TUN=() CPE_TABLE=() CPE_PRIO=()

skip() { echo "SKIP: $*"; }
# daemon_checks DESC: true when the daemon runs; otherwise prints SKIP.
daemon_checks() {
	[ "$CPE_DIRECT" = 1 ] || return 0
	skip "$1 (MPTUN_CPE_DIRECT=1: no daemon)"
	return 1
}

# ---- topology ----
_veth() { # NS1 IF1 NS2 IF2
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}
_addr() { # NS IF ADDR...
	local ns=$1 dev=$2 a
	shift 2
	for a in "$@"; do
		case $a in
		*:*) ip -n "$ns" addr add "$a" dev "$dev" nodad ;;
		*) ip -n "$ns" addr add "$a" dev "$dev" ;;
		esac
	done
}
_isp_up() { # NS N (1 or 2)
	local ns=$1 n=$2
	_addr "$ns" cpe0 100.64.$n.1/24 fd64:$n::1/64
	_addr "$ns" core0 10.1$n.0.1/30 fd1$n::1/64
	ip -n "$ns" route add default via 10.1$n.0.2
	ip -n "$ns" -6 route add default via fd1$n::2
	ip -n "$ns" route add 192.168.10.0/24 via 100.64.$n.2
	ip -n "$ns" -6 route add fd10::/64 via fd64:$n::2
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0
	ip netns exec "$ns" nft -f - <<-EOF
	table inet cgnat {
		chain post {
			type nat hook postrouting priority srcnat; policy accept;
			oifname "core0" masquerade
		}
	}
	EOF
	# a CGNAT does not police TCP windows; iperf bursts stay NATed
	ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=1 2>/dev/null
}
_links_up() { # waits until every veth of every namespace is UP (IPv6 needs it)
	local i ns down
	for ((i = 0; i < 100; i++)); do
		down=0
		for ns in "$LAN" "$CPE" "$ISP1" "$ISP2" "$CONC" "$SRV"; do
			ip -n "$ns" -br link show type veth | grep -qv ' UP ' && down=1
		done
		[ $down = 0 ] && return 0
		sleep 0.05
	done
	echo "topology: links not up after 5 s" >&2
	return 1
}
# cpe_topo_up: the namespaces and links above, the second path, the
# unreachable routes; exits 1 unless lan reaches srv by plain routing.
cpe_topo_up() {
	local ns a
	for ns in "$LAN" "$CPE" "$ISP1" "$ISP2" "$CONC" "$SRV"; do ns_add "$ns"; done
	_veth "$LAN" eth0 "$CPE" lan0
	_veth "$CPE" wan1 "$ISP1" cpe0
	_veth "$CPE" wan2 "$ISP2" cpe0
	_veth "$ISP1" core0 "$CONC" isp1
	_veth "$ISP2" core0 "$CONC" isp2
	_veth "$CONC" srv0 "$SRV" eth0

	_addr "$LAN" eth0 192.168.10.2/24 fd10::2/64
	ip -n "$LAN" route add default via 192.168.10.1
	ip -n "$LAN" -6 route add default via fd10::1

	_addr "$CPE" lan0 192.168.10.1/24 fd10::1/64
	_addr "$CPE" wan1 100.64.1.2/24 fd64:1::2/64
	_addr "$CPE" wan2 100.64.2.2/24 fd64:2::2/64
	ip -n "$CPE" route add default via 100.64.1.1
	ip -n "$CPE" -6 route add default via fd64:1::1
	# loose reverse-path filtering, as Debian (systemd) sets it by default
	ip netns exec "$CPE" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=2 \
		net.ipv4.conf.default.rp_filter=2

	_isp_up "$ISP1" 1
	_isp_up "$ISP2" 2

	_addr "$CONC" lo $CONC_ADDR/32 2001:db8:c::1/128
	_addr "$CONC" isp1 10.11.0.2/30 fd11::2/64
	_addr "$CONC" isp2 10.12.0.2/30 fd12::2/64
	_addr "$CONC" srv0 203.0.113.1/24 2001:db8:5::1/64
	ip -n "$CONC" route add unreachable 192.0.2.0/24
	ip -n "$CONC" -6 route add unreachable 2001:db8:99::/64
	ip netns exec "$CONC" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.icmp_ratelimit=0 \
		net.ipv6.icmp.ratelimit=0
	ip -n "$CONC" mptcp limits set subflow 4 add_addr_accepted 0

	for a in "${SRV4[@]}"; do _addr "$SRV" eth0 "$a/24"; done
	for a in "${SRV6[@]}"; do _addr "$SRV" eth0 "$a/64"; done
	ip -n "$SRV" route add default via 203.0.113.1
	ip -n "$SRV" -6 route add default via 2001:db8:5::1

	_links_up || exit 1
	# a refused port (exit 4) proves routes, forwarding and NAT both ways
	for a in "${SRV4[0]}:1" "[${SRV6[0]}]:1"; do
		ip netns exec "$LAN" "$TC" --mode direct --tcp --timeout 3 - "$a" </dev/null 2>/dev/null
		[ $? = 4 ] || { echo "topology: $a unreachable from $LAN" >&2; exit 1; }
	done
	ip netns exec "$ISP2" "$TC" --mode direct --tcp --timeout 3 - "${SRV4[0]}:1" \
		</dev/null 2>/dev/null
	[ $? = 4 ] || { echo "topology: srv unreachable from $ISP2" >&2; exit 1; }
}

# conc_config_cpe [key=value...]: the concentrator config for this topology
# (clients: the ISPs' NAT addresses; egress: srv's public prefixes), with
# conc_config's keys as overrides.
conc_config_cpe() {
	conc_config $CONC_PORT clients='"10.11.0.0/30", "10.12.0.0/30"' allow='' \
		source4=null "$@"
}
# cpe_conc_up: the concentrator of this topology, started as "main".
cpe_conc_up() { conc_start main $CONC_PORT "$(conc_config_cpe "$@")"; }

# ---- the CPE daemon ----
# cpe_config [key=value...]: prints a config. Keys: tun lan bypass (YAML
# flow list items, e.g. bypass='"203.0.113.12/32"') table prio conc proto
# open fast_wait max connect idle forward level tfo, and for the paths:
# paths (YAML flow list items; default wan1 with its gateway found from the
# main table, and wan2 with gateway 100.64.2.1 (IPv6: fd64:2::1), both
# active; paths=none: no paths), role2 (wan2's role), interval timeout
# failures fail (the health section); user (run as), per_host and
# pending_host (flow.max_per_host, flow.max_pending_per_host), auth (the
# auth section as a YAML flow mapping, e.g. auth='{id: a, key: "..."}');
# ctl_http (control.http, default off), ctl_socket (control.socket, default
# $TMP/cpe-TUN-PID.sock: one per call); mode (carrier.mode: plain, or
# transparent, which leaves carrier.protocol out), source (carrier.source,
# default false; in transparent mode: flows start from the LAN client's
# address); conc=none leaves concentrator.address out; mtu (tun.mtu) and
# offload (tun.offload), left out when empty: the daemon's defaults.
# tfo (carrier.fastopen) is false, as the daemon's default: on kernel 6.18
# MPTCP mishandles SYN data (README, "Known kernel issues"); with a second
# subflow bulk transfers intermittently crawl. test_cpe_fast sets tfo=true:
# it checks the data in the SYN, with small transfers on undelayed veths.
cpe_config() {
	local kv tun=mptun0 lan=lan0 bypass='' table=7100 prio=7100 tfo=false \
		conc=$CONC_ADDR:$CONC_PORT proto=convert open=hold fast_wait=10ms \
		max=4096 connect=10s idle=5m forward=set level=info paths='' \
		role2=active interval=300ms timeout=300ms failures=3 fail=open gw2 \
		user='' per_host=1024 pending_host=256 auth='' ctl_http=off ctl_socket='' \
		mode=plain source=false carrier conc_yaml mtu='' offload=''
	for kv in "$@"; do local "${kv%%=*}=${kv#*=}"; done
	carrier="  protocol: $proto"$'\n'"  source: $source"
	[ "$mode" = plain ] || carrier="  mode: $mode"$'\n'"  source: $source"
	conc_yaml="concentrator:"$'\n'"  address: \"$conc\""
	[ "$conc" = none ] && conc_yaml="concentrator: {}"
	[ -n "$ctl_socket" ] || ctl_socket=$TMP/cpe-$tun-$BASHPID.sock
	case $conc in
	\[*) gw2='"fd64:2::1"' ;;
	*) gw2=100.64.2.1 ;;
	esac
	[ -n "$paths" ] || paths="{interface: wan1}, {interface: wan2, gateway: $gw2, role: $role2}"
	[ "$paths" = none ] && paths=
	cat <<-EOF
	tun:
	  name: $tun
	EOF
	[ -n "$mtu" ] && echo "  mtu: $mtu"
	[ -n "$offload" ] && echo "  offload: $offload"
	cat <<-EOF
	lan:
	  interfaces: [$lan]
	EOF
	[ -n "$bypass" ] && echo "  bypass: [$bypass]"
	cat <<-EOF
	routing:
	  table: $table
	  priority: $prio
	$conc_yaml
	carrier:
	$carrier
	  fastopen: $tfo
	flow:
	  open: $open
	  fast_wait: $fast_wait
	  max: $max
	  max_per_host: $per_host
	  max_pending_per_host: $pending_host
	  connect_timeout: $connect
	  idle_timeout: $idle
	paths: [$paths]
	health:
	  interval: $interval
	  timeout: $timeout
	  failures: $failures
	  fail: $fail
	sysctl:
	  ip_forward: $forward
	log:
	  level: $level
	control:
	  http: "$ctl_http"
	  socket: "$ctl_socket"
	EOF
	[ -n "$user" ] && echo "user: $user"
	[ -n "$auth" ] && echo "auth: $auth"
	return 0
}
_yaml_get() { # FILE SECTION KEY: a scalar of the generated config
	awk -v s="$2:" -v k="$3:" '$1 == s && !/^ / { in_s = 1; next }
		/^[^ ]/ { in_s = 0 } in_s && $1 == k { print $2; exit }' "$1"
}
# cpe_start NAME CONFIG-TEXT: start mptun-cpe -f in $CPE; wait until its TUN
# exists and its IPv4 capture rule (priority + 1, lookup table) is in place.
# Returns 1 after a FAIL line if not. With MPTUN_CPE_DIRECT=1: does nothing.
cpe_start() {
	local name=$1 i pid
	if [ "$CPE_DIRECT" = 1 ]; then
		skip "mptun-cpe $name not started (MPTUN_CPE_DIRECT=1: plain routing)"
		return 0
	fi
	[ -x "$CPED" ] || { fail "no mptun-cpe binary at $CPED"; return 1; }
	CPE_CFG[$name]=$TMP/cpe-$name.yaml CPE_LOG[$name]=$TMP/cpe-$name.log
	printf '%s\n' "$2" >"${CPE_CFG[$name]}"
	CPE_TUN[$name]=$(_yaml_get "${CPE_CFG[$name]}" tun name)
	CPE_TABLE[$name]=$(_yaml_get "${CPE_CFG[$name]}" routing table)
	CPE_PRIO[$name]=$(_yaml_get "${CPE_CFG[$name]}" routing priority)
	ip netns exec "$CPE" "$CPED" -f -c "${CPE_CFG[$name]}" >"${CPE_LOG[$name]}" 2>&1 &
	pid=$!
	CPE_PID[$name]=$pid
	PIDS+=($pid)
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		if ip -n "$CPE" link show "${CPE_TUN[$name]}" >/dev/null 2>&1 &&
			ip -n "$CPE" rule show pref $((CPE_PRIO[$name] + 1)) |
			grep -q "lookup ${CPE_TABLE[$name]}"; then
			return 0
		fi
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "mptun-cpe $name: no TUN ${CPE_TUN[$name]} or capture rule after 10 s; log:"
	else
		wait "$pid"
		fail "mptun-cpe $name exited (status $?) during start; log:"
	fi
	cpe_log_tail "$name" 20
	return 1
}
cpe_log_tail() { tail -n "${2:-15}" "${CPE_LOG[$1]}" | sed 's/^/    | /'; }
# cpe_alive NAME: a check that the daemon is still running.
cpe_alive() {
	[ "$CPE_DIRECT" = 1 ] && return 0
	if kill -0 "${CPE_PID[$1]}" 2>/dev/null; then
		pass "mptun-cpe $1 still running"
		return 0
	fi
	fail "mptun-cpe $1 is not running; log:"
	cpe_log_tail "$1" 30
	return 1
}
# cpe_stop NAME [SECONDS]: SIGTERM, wait; a check that it exited 0.
cpe_stop() {
	local name=$1 pid=${CPE_PID[$1]:-}
	[ "$CPE_DIRECT" = 1 ] && return 0
	[ -n "$pid" ] || return 1
	stop_daemon "mptun-cpe $name" "$pid" "${2:-10}" || { cpe_log_tail "$name" 20; return 1; }
}
# cpe_check_clean NAME: after cpe_stop, checks that no TUN, no rule of the
# daemon's priorities or table, no route in its table or its path tables, no
# MPTCP endpoint and no mptun-cpe is left.
cpe_check_clean() {
	local name=$1 t=${CPE_TABLE[$1]} p=${CPE_PRIO[$1]} left f
	check "after stop: no TUN ${CPE_TUN[$name]} in the cpe namespace" \
		eval "! ip -n $CPE link show ${CPE_TUN[$name]} >/dev/null 2>&1"
	for f in -4 -6; do
		left=$(ip -n "$CPE" $f rule show | awk -v p="$p:" -v q="$((p + 1)):" \
			-v r="$((p + 2)):" -v t="$t" '$1 == p || $1 == q || $1 == r ||
			$0 ~ ("lookup " t "( |$)")')
		check_eq "after stop: no ip $f rule at priority $p..$((p + 2)) or to table $t" \
			"$left" ""
		left=$(ip -n "$CPE" $f route show table "$t" 2>/dev/null)
		check_eq "after stop: ip $f route show table $t is empty" "$left" ""
	done
	for ((f = t + 1; f <= t + 8; f++)); do
		left=$(ip -n "$CPE" route show table $f 2>/dev/null; ip -n "$CPE" -6 route show table $f 2>/dev/null)
		[ -z "$left" ] || break
	done
	check_eq "after stop: path tables $((t + 1))..$((t + 8)) are empty" "$left" ""
	left=$(ip -n "$CPE" route show table $((t + 9)) 2>/dev/null
		ip -n "$CPE" -6 route show table $((t + 9)) 2>/dev/null
		ip netns exec "$CPE" nft list table inet mptun_tproxy 2>/dev/null)
	check_eq "after stop: no client-source table $((t + 9)) or nftables table" "$left" ""
	check_eq "after stop: no MPTCP endpoint left" "$(ip -n "$CPE" mptcp endpoint show)" ""
	left=$(for f in $(ip netns pids "$CPE"); do cat /proc/$f/comm; done 2>/dev/null |
		grep -c mptun)
	check_eq "after stop: no mptun process in the cpe namespace" "$left" 0
}
# cpe_counters NAME [TAG]: SIGUSR1, then prints the last counter dump of
# the log as "key value" lines. The daemon logs on SIGUSR1 lines
#   ... flows: active=N total=N ... direct=N no_path=N ...
#   ... flownat: entries=N in_pass=N ... drop_short=N drop_bad_checksum=N ...
# TAG (default flownat) picks the line. Prints nothing if no dump appears in
# 3 s.
cpe_counters() {
	local log=${CPE_LOG[$1]} tag=${2:-flownat} n0 i
	n0=$(grep -c " $tag:.*=" "$log")
	kill -USR1 "${CPE_PID[$1]}" 2>/dev/null || return 1
	for ((i = 0; i < 60; i++)); do
		[ "$(grep -c " $tag:.*=" "$log")" -gt "$n0" ] && break
		sleep 0.05
	done
	grep " $tag:.*=" "$log" | tail -n 1 | sed "s/.* $tag://" | tr ' ' '\n' |
		awk -F= 'NF == 2 && $2 ~ /^[0-9]+$/ { print $1, $2 }'
}
# cpe_finish: a check for sanitizer reports in the CPE logs, then finish.
cpe_finish() {
	local n
	for n in "${!CPE_PID[@]}"; do
		if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "${CPE_LOG[$n]}"; then
			fail "sanitizer report in mptun-cpe $n log:"
			grep -E -A12 'Sanitizer|runtime error:' "${CPE_LOG[$n]}" | head -40
		fi
	done
	finish
}

# ---- counters ----
# if_stat NS IF KEY: /sys/class/net/IF/statistics/KEY in NS (0 if none)
if_stat() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0
}
# wan_bytes IF: rx + tx bytes of the CPE's WAN interface IF
wan_bytes() {
	echo $(($(if_stat "$CPE" "$1" rx_bytes) + $(if_stat "$CPE" "$1" tx_bytes)))
}
# tun_packets [NAME]: rx + tx packets of the daemon's TUN (0 if none)
tun_packets() {
	local t=${CPE_TUN[${1:-main}]:-mptun0}
	echo $(($(if_stat "$CPE" "$t" rx_packets) + $(if_stat "$CPE" "$t" tx_packets)))
}
# files_both DST WHAT: $TMP/up.bin from the lan host to a socat on srv port
# 9000 and $TMP/down.bin from one on port 9001 (DST an IPv4 or IPv6 address
# of srv), each checked for exit 0 and an equal sha256; the checks begin
# with WHAT
files_both() {
	local a=$1 sink source
	[[ $a == *:* ]] && a="[$a]"
	bg "$SRV" sink socat -u TCP6-LISTEN:9000,reuseaddr,ipv6only=0 "OPEN:$TMP/srv-up.bin,creat,trunc"
	sink=$BGPID
	bg "$SRV" source socat -u "OPEN:$TMP/down.bin" TCP6-LISTEN:9001,reuseaddr,ipv6only=0
	source=$BGPID
	wait_listen "$SRV" 9000 && wait_listen "$SRV" 9001
	run "$LAN" timeout 120 socat -u "OPEN:$TMP/up.bin" "TCP:$a:9000"
	check_rc "$2 upload: socat exits 0" 0
	timeout 20 tail --pid="$sink" -f /dev/null
	check_eq "$2 upload: sha256 at the server equals the client's" \
		"$(sha "$TMP/srv-up.bin" 2>/dev/null)" "$(sha "$TMP/up.bin")"
	run "$LAN" timeout 120 socat -u "TCP:$a:9001" "CREATE:$TMP/cli-down.bin"
	check_rc "$2 download: socat exits 0" 0
	check_eq "$2 download: sha256 at the client equals the server's" \
		"$(sha "$TMP/cli-down.bin" 2>/dev/null)" "$(sha "$TMP/down.bin")"
	kill "$sink" "$source" 2>/dev/null
	wait "$sink" "$source" 2>/dev/null
	rm -f "$TMP/srv-up.bin" "$TMP/cli-down.bin"
}
# iperf_both DST SECS: iperf3 from the lan host to DST port 5201 (srv_iperf
# 5201 runs) up, then down, each checked for exit 0 and bytes received
iperf_both() {
	local dir b
	for dir in "" -R; do
		run "$LAN" timeout 120 iperf3 -c "$1" -p 5201 -t "$2" --json $dir
		check_rc "iperf3 ${dir:-(upload)}: exit 0" 0
		b=$(python3 -c 'import json, sys
print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"]))' "$TMP/out" 2>/dev/null)
		check_range "iperf3 ${dir:-(upload)}: bytes received in $2 s" "${b:-x}" 1 100000000000
	done
}
mp_joins() { nstat_get "$CONC" MPTcpExtMPJoinSynRx; } # MP_JOIN SYNs at conc
# conc_subflows: established TCP subflows on the concentrator's port
conc_subflows() {
	ip netns exec "$CONC" ss -Htn state established "( sport = :$CONC_PORT )" | wc -l
}
# wan_snap / wan_delta: "wan1 wan2" byte deltas since the last snapshot
wan_snap() { _W1=$(wan_bytes wan1) _W2=$(wan_bytes wan2); }
wan_delta() { echo "$(($(wan_bytes wan1) - _W1)) $(($(wan_bytes wan2) - _W2))"; }

# ---- servers in $SRV (besides lib.sh's) ----
# srv_udpecho PORT: a UDP echo on every srv address (v4 and v6), one socket
# per address so that replies leave from the address asked (the ISPs' NAT
# drops replies from another one)
srv_udpecho() {
	cat >"$TMP/udpecho.py" <<-'EOF'
	import selectors, socket, sys
	sel = selectors.DefaultSelector()
	for a in sys.argv[2:]:
	    s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
	    s.bind((a, int(sys.argv[1])))
	    sel.register(s, selectors.EVENT_READ)
	while True:
	    for k, _ in sel.select():
	        d, a = k.fileobj.recvfrom(65536)
	        k.fileobj.sendto(d, a)
	EOF
	bg "$SRV" "udpecho$1" python3 "$TMP/udpecho.py" "$1" "${SRV4[@]}" "${SRV6[@]}"
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(ip netns exec "$SRV" ss -Hlun "sport = :$1")" ] && return 0
		sleep 0.05
	done
	return 1
}

# ---- WAN links: rate, cuts, path state ----
FETCH=$(cd "$NETNS_DIR/../tools" && pwd)/mptun-fetch
# wan_shape N RATE: tbf at RATE (e.g. 20mbit) on link N both ways: the CPE's
# wanN egress (upload) and the ISP's cpe0 egress (download).
wan_shape() {
	local n=$1 rate=$2 ns dev ns_dev
	for ns_dev in "$CPE:wan$n" "$PFX-isp$n:cpe0"; do
		ns=${ns_dev%%:*} dev=${ns_dev#*:}
		ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" \
			burst 32kb latency 40ms
	done
}
# wan_cut N / wan_uncut N: the ISP of link N drops everything it would
# forward (a dead line: no carrier loss, no reset, nothing comes back).
wan_cut() {
	ip netns exec "$PFX-isp$1" nft -f - <<-EOF2
	table inet cut {
		chain cutfwd { type filter hook forward priority -10; policy drop; }
	}
	EOF2
}
wan_uncut() { ip netns exec "$PFX-isp$1" nft delete table inet cut 2>/dev/null; }
# wan_down N / wan_up N: the ISP side of link N goes down (the CPE's wanN
# loses carrier), and comes back.
wan_down() { ip -n "$PFX-isp$1" link set cpe0 down; }
wan_up() {
	ip -n "$PFX-isp$1" link set cpe0 up
	local i
	for ((i = 0; i < 100; i++)); do
		ip -n "$CPE" -br link show wan$1 | grep -q ' UP ' && return 0
		sleep 0.05
	done
}
# cpe_wait_log NAME REGEX SECONDS [FROM-LINE]: waits until the daemon's log
# has a line matching REGEX (after line FROM-LINE); 1 on timeout.
cpe_wait_log() {
	local log=${CPE_LOG[$1]} from=${4:-0} i
	for ((i = 0; i < $3 * 20; i++)); do
		tail -n +"$((from + 1))" "$log" | grep -Eq "$2" && return 0
		sleep 0.05
	done
	return 1
}
cpe_log_lines() { wc -l <"${CPE_LOG[$1]}"; }
# cpe_path_state NAME IF: "up" or "down" from a fresh SIGUSR1 dump
cpe_path_state() {
	local log=${CPE_LOG[$1]} n0 i
	n0=$(grep -c "path: name=$2 " "$log")
	kill -USR1 "${CPE_PID[$1]}" 2>/dev/null || return 1
	for ((i = 0; i < 60; i++)); do
		[ "$(grep -c "path: name=$2 " "$log")" -gt "$n0" ] && break
		sleep 0.05
	done
	grep "path: name=$2 " "$log" | tail -n 1 | sed 's/.* state=\([a-z]*\) .*/\1/'
}
# fetch FILE [ARGS...]: mptun-fetch of http://SRV4[0]:8080/FILE from $LAN;
# its line in $OUT (key=value), exit status in $RC.
fetch() {
	local f=$1
	shift
	run "$LAN" timeout 180 "$FETCH" "$@" "${SRV4[0]}" 8080 "/$f"
}
# kv KEY: the value of KEY in $OUT's key=value line
kv() { echo "$OUT" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }
