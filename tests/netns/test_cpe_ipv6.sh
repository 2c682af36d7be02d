#!/bin/bash
# IPv6 end to end through mptun-cpe (lib_cpe.sh's topology; the LAN host
# has an IPv4 and an IPv6 address). Twice: with the concentrator reached
# over IPv4 WAN paths, then over IPv6 WAN paths with the ISPs forwarding no
# IPv4 at all (an IPv6-only WAN: IPv4 destinations are then reachable only
# through the concentrator). Each time:
# - a 24 MB download from an IPv6 and one from an IPv4 server at the same
#   time (the server makes each wait for the other, so they overlap by
#   construction), both sha256-checked; while both are open the CPE's
#   /flows and the concentrator's /flows list them, and the server sees
#   them come from the concentrator, not from the ISPs' NAT;
# - a 24 MB upload to each family at the same time, sha256-checked;
# - a refused IPv6 port is refused (RST: curl exit 7), an unreachable IPv6
#   destination gets an ICMPv6 unreachable (curl "No route to host" at
#   once, not a timeout), and /status counts all of it;
# - lwIP's MSS is the TUN's MTU less 40 (IPv4) or 60 (IPv6) bytes;
# - the throughput of one IPv4 and one IPv6 download, printed (not checked).
# Also: a LAN SYN to an IPv4-mapped address (::ffff:127.0.0.1) is dropped
# and counted, never a flow; and with IPv6 switched off on the CPE the
# daemon still starts and captures IPv4.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "IPv6 through the CPE" || finish
S4=${SRV4[0]} S6=${SRV6[0]}
ms() { echo $(($(date +%s%N) / 1000000)); }
lan() { run "$LAN" timeout 60 "$@"; }
# jpy FILE EXPR: EXPR (Python, the JSON as j) over the JSON in FILE
jpy() {
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
# cpe_get PATH / conc_get PATH: a control HTTP answer into $TMP/PATH.json
cpe_get() { ip netns exec "$CPE" curl -sS --max-time 5 -o "$TMP/$1.json" "http://127.0.0.1:9471/$1"; }
conc_get() { ip netns exec "$CONC" curl -sS --max-time 5 -o "$TMP/conc-$1.json" "http://127.0.0.1:9470/$1"; }
# ctr NAME: a counter of the CPE's /status
ctr() { cpe_get status && jpy "$TMP/status.json" "j['counters']['$1']"; }

mkdir "$TMP/www"
mkfile "$TMP/www/24M" 24M
mkfile "$TMP/www/48M" 48M
mkfile "$TMP/up6.bin" 24M
mkfile "$TMP/up4.bin" 24M
srv_http 8080 "$TMP/www"

# srv_gate PORT: HTTP GETs of $TMP/www that run in lockstep: each answer
# waits until two downloads are connected and $TMP/gate exists, sends half
# its file, waits until the other did too, then sends the rest. Every
# request's peer address is logged to $TMP/gate-PORT.log.
cat >"$TMP/gate.py" <<'EOF'
import http.server, os, socket, sys, threading, time
port, root, gate, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
barrier = threading.Barrier(2, timeout=60)
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = open(os.path.join(root, self.path.lstrip("/")), "rb").read()
        with lock, open(log, "a") as f:
            f.write(self.client_address[0] + "\n")
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            barrier.wait()
            t = time.monotonic() + 60
            while not os.path.exists(gate) and time.monotonic() < t:
                time.sleep(0.05)
            self.wfile.write(data[:len(data) // 2])
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        self.wfile.write(data[len(data) // 2:])
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
S(("::", port), H).serve_forever()
EOF
srv_gate() {
	bg "$SRV" "gate$1" python3 "$TMP/gate.py" "$1" "$TMP/www" "$TMP/gate" "$TMP/gate-$1.log"
	wait_listen "$SRV" "$1"
}
# srv_sink PORT ADDR FILE: takes one upload on ADDR:PORT into FILE, logs
# its peer address to FILE.peer
cat >"$TMP/sink.py" <<'EOF'
import socket, sys
port, addr, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(1)
c, peer = s.accept()
with open(path + ".peer", "w") as f:
    f.write(peer[0] + "\n")
with open(path, "wb") as f:
    while d := c.recv(1 << 16):
        f.write(d)
EOF
srv_sink() {
	bg "$SRV" "sink$1" python3 "$TMP/sink.py" "$1" "$2" "$3"
	wait_listen "$SRV" "$1"
}
# flows_open N FILE: until /flows lists N flows relaying (10 s); saved in FILE
flows_open() {
	local i
	for ((i = 0; i < 200; i++)); do
		cpe_get flows && [ "$(jpy "$TMP/flows.json" \
			"sum(f['state'] == 'relaying' for f in j['flows'])")" = "$1" ] && break
		sleep 0.05
	done
	cp "$TMP/flows.json" "$2"
}
# has_flow FILE CLIENT-PREFIX DESTINATION: a flow of FILE (/flows) matches
has_flow() {
	[ "$(jpy "$1" "any(f['client'].startswith('$2') and f['destination'] == '$3'
		for f in j['flows'])")" = True ]
}

# client_mss ADDR PORT: the LAN client's send MSS (what lwIP's SYN-ACK
# allowed) on its open connection to ADDR:PORT
client_mss() {
	ip netns exec "$LAN" ss -Htin state established "( dport = :$2 )" dst "$1" |
		grep -o ' mss:[0-9]*' | head -n 1 | cut -d: -f2
}

# round TAG PORT CONC-CLIENT-PREFIX MSS4 MSS6: the checks above, once; MSS4
# and MSS6 the MSS lwIP must give LAN clients (the TUN's MTU less 40 and 60)
round() {
	local tag=$1 port=$2 cc=$3 mss4=$4 mss6=$5 t0 n6 r0 u0 p4 p6 rc4 rc6 t
	t0=$(ctr flows_total) n6=$(ctr flownat_in_new_ipv6)
	r0=$(ctr flows_refused) u0=$(ctr flows_unreachable)

	# ---- downloads, IPv6 and IPv4 at the same time ----
	rm -f "$TMP/gate"
	srv_gate "$port"
	ip netns exec "$LAN" timeout 120 "$FETCH" "$S6" "$port" /24M >"$TMP/f6.out" 2>&1 &
	p6=$!
	ip netns exec "$LAN" timeout 120 "$FETCH" "$S4" "$port" /24M >"$TMP/f4.out" 2>&1 &
	p4=$!
	flows_open 2 "$TMP/flows-$tag.json"
	conc_get flows
	check_eq "$tag: lwIP gave the IPv6 client MSS $mss6 (TUN MTU - 60)" \
		"$(client_mss "[$S6]" "$port")" "$mss6"
	check_eq "$tag: lwIP gave the IPv4 client MSS $mss4 (TUN MTU - 40)" \
		"$(client_mss "$S4" "$port")" "$mss4"
	touch "$TMP/gate"
	wait "$p6"; rc6=$?
	wait "$p4"; rc4=$?
	OUT=$(cat "$TMP/f6.out")
	check_eq "$tag: 24 MB from [$S6] (concurrently with IPv4): complete" "$rc6" 0
	check_eq "$tag: 24 MB from [$S6]: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/24M")"
	OUT=$(cat "$TMP/f4.out")
	check_eq "$tag: 24 MB from $S4 (concurrently with IPv6): complete" "$rc4" 0
	check_eq "$tag: 24 MB from $S4: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/24M")"
	check "$tag: CPE /flows listed [fd10::2] -> [$S6]:$port while both ran" \
		has_flow "$TMP/flows-$tag.json" "[fd10::2]:" "[$S6]:$port"
	check "$tag: CPE /flows listed 192.168.10.2 -> $S4:$port while both ran" \
		has_flow "$TMP/flows-$tag.json" "192.168.10.2:" "$S4:$port"
	check "$tag: concentrator /flows listed $cc -> [$S6]:$port" \
		has_flow "$TMP/conc-flows.json" "$cc" "[$S6]:$port"
	check "$tag: concentrator /flows listed $cc -> $S4:$port" \
		has_flow "$TMP/conc-flows.json" "$cc" "$S4:$port"
	check_eq "$tag: the server saw both from the concentrator (2001:db8:5::1, 203.0.113.1)" \
		"$(sort "$TMP/gate-$port.log" | tr '\n' ' ')" "2001:db8:5::1 ::ffff:203.0.113.1 "

	# ---- uploads, IPv6 and IPv4 at the same time ----
	rm -f "$TMP/srv-up6.bin" "$TMP/srv-up4.bin"
	srv_sink 9000 "$S6" "$TMP/srv-up6.bin"
	u6=$BGPID
	srv_sink 9001 "$S4" "$TMP/srv-up4.bin"
	u4=$BGPID
	ip netns exec "$LAN" timeout 120 socat -u "OPEN:$TMP/up6.bin" "TCP6:[$S6]:9000" 2>"$TMP/u6.err" &
	p6=$!
	ip netns exec "$LAN" timeout 120 socat -u "OPEN:$TMP/up4.bin" "TCP4:$S4:9001" 2>"$TMP/u4.err" &
	p4=$!
	wait "$p6"; rc6=$?
	wait "$p4"; rc4=$?
	timeout 20 tail --pid="$u6" -f /dev/null
	timeout 20 tail --pid="$u4" -f /dev/null
	check_eq "$tag: 24 MB upload to [$S6]:9000 (with one to IPv4): socat exit 0" "$rc6" 0
	check_eq "$tag: upload to [$S6]: sha256 at the server equal" \
		"$(sha "$TMP/srv-up6.bin" 2>/dev/null)" "$(sha "$TMP/up6.bin")"
	check_eq "$tag: 24 MB upload to $S4:9001 (with one to IPv6): socat exit 0" "$rc4" 0
	check_eq "$tag: upload to $S4: sha256 at the server equal" \
		"$(sha "$TMP/srv-up4.bin" 2>/dev/null)" "$(sha "$TMP/up4.bin")"
	check_eq "$tag: the uploads came from the concentrator" \
		"$(cat "$TMP/srv-up6.bin.peer" "$TMP/srv-up4.bin.peer" 2>/dev/null | tr '\n' ' ')" \
		"2001:db8:5::1 203.0.113.1 "

	# ---- refused and unreachable IPv6 destinations ----
	t=$(ms)
	lan curl --noproxy '*' -sSv --max-time 10 "http://[$S6]:1/"
	t=$(($(ms) - t))
	check_rc "$tag: closed port [$S6]:1: curl exit 7 (connection refused)" 7 'Connection refused'
	check_range "$tag: closed port [$S6]:1: refused at once (ms)" "$t" 0 2999
	t=$(ms)
	lan curl --noproxy '*' -sSv --max-time 10 "http://[$UNREACH6]/"
	t=$(($(ms) - t))
	check_rc "$tag: unreachable [$UNREACH6]: curl exit 7 (No route to host: ICMPv6)" 7 \
		'No route to host'
	check_range "$tag: unreachable [$UNREACH6]: failed at once (ms)" "$t" 0 2999

	# ---- the CPE counted them ----
	check_eq "$tag: /status flows_total grew by 6 (4 transfers, 2 failures)" \
		"$(($(ctr flows_total) - t0))" 6
	check_eq "$tag: /status flownat_in_new_ipv6 grew by 4" \
		"$(($(ctr flownat_in_new_ipv6) - n6))" 4
	check_eq "$tag: /status flows_refused grew by 1" "$(($(ctr flows_refused) - r0))" 1
	check_eq "$tag: /status flows_unreachable grew by 1" \
		"$(($(ctr flows_unreachable) - u0))" 1

	# ---- throughput, one after the other (printed) ----
	for a in "$S4" "$S6"; do
		run "$LAN" timeout 120 "$FETCH" "$a" 8080 /48M
		check_rc "$tag: 48 MB from $a: complete" 0
		check_eq "$tag: 48 MB from $a: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/48M")"
		echo "throughput $tag (TUN MTU $((mss4 + 40))), $([ "$a" = "$S4" ] && echo IPv4 || echo IPv6) destination: $(kv mbit) Mbit/s"
	done
}

# ---- IPv4 WAN paths ----
cpe_conc_up ctl_http=127.0.0.1:9470 || cpe_finish
cpe_start main "$(cpe_config ctl_http=127.0.0.1:9471)" || cpe_finish
check "IPv6 capture rule: iif lan0 ipproto tcp lookup 7100" \
	eval "ip -n $CPE -6 rule show pref 7101 | grep -q 'iif lan0 ipproto tcp lookup 7100'"
check "IPv6 route in table 7100: default dev mptun0" \
	eval "ip -n $CPE -6 route show table 7100 | grep -q '^default dev mptun0'"
round "IPv4 WAN" 8081 "10.11.0.1:" 1460 1440

# ---- a SYN to an IPv4-mapped address is no flow ----
# The kernel forwards IPv6 to ::ffff:127.0.0.1 into the TUN; as a flow it
# would reach a loopback (the CPE's own, when health.fail open goes direct).
cat >"$TMP/mapped.py" <<'EOF'
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
s.bind(("eth0", 0x86dd))
src = socket.inet_pton(socket.AF_INET6, "fd10::2")
dst = socket.inet_pton(socket.AF_INET6, sys.argv[2])
h = struct.pack("!HHIIBBHHH", 20001, 9471, 1000, 0, 5 << 4, 2, 65535, 0, 0)
t = sum(struct.unpack("!30H", src + dst + struct.pack("!I3xB", 20, 6) + h))
while t >> 16:
    t = (t & 0xFFFF) + (t >> 16)
h = h[:16] + struct.pack("!H", ~t & 0xFFFF) + h[18:]
ip = struct.pack("!IHBB", 6 << 28, 20, 6, 64) + src + dst
s.send(bytes.fromhex(sys.argv[1].replace(":", "")) + s.getsockname()[4] +
       b"\x86\xdd" + ip + h)
s.settimeout(0.2)
end = time.monotonic() + 2
while time.monotonic() < end:
    try:
        d = s.recv(2048)
    except socket.timeout:
        continue
    if d[20] == 6 and d[22:38] == dst:
        print("answered, flags %02x" % d[67])
        sys.exit(1)
print("no answer")
EOF
b0=$(ctr flownat_drop_bad_addr)
run "$LAN" python3 "$TMP/mapped.py" "$(ip -n "$CPE" -br link show lan0 | awk '{ print $3 }')" \
	::ffff:127.0.0.1
check_rc "a SYN from lan to [::ffff:127.0.0.1]:9471 gets no answer" 0 "no answer"
check_eq "... and is counted in /status flownat_drop_bad_addr" \
	"$(($(ctr flownat_drop_bad_addr) - b0))" 1
cpe_alive main
cpe_stop main
cpe_check_clean main
conc_stop main

# ---- IPv6 WAN paths; the ISPs forward no IPv4 ----
# direct TCP from the CPE itself (never captured): exit 4 is "refused",
# i.e. the server answered
cpe_tcp4() { ip netns exec "$CPE" "$TC" --mode direct --tcp --timeout 2 - "$S4:1" </dev/null >/dev/null 2>&1; }
cpe_tcp4
check_eq "before the IPv4 cut: the CPE reaches $S4 over IPv4 (refused port)" "$?" 4
for n in 1 2; do
	ip netns exec "$PFX-isp$n" nft -f - <<-EOF
	table ip v4cut {
		chain cutfwd { type filter hook forward priority -10; policy drop; }
	}
	EOF
done
cpe_tcp4
check "IPv6-only WAN: the CPE no longer reaches $S4 over IPv4" test $? != 4
conc_start v6 $CONC_PORT "$(conc_config_cpe clients='"fd11::/64", "fd12::/64"' \
	ctl_http=127.0.0.1:9470)" || cpe_finish
# a TUN MTU below the LAN's: lwIP must size its MSS from it, per family
cpe_start v6 "$(cpe_config conc='[2001:db8:c::1]:5124' ctl_http=127.0.0.1:9471 \
	mtu=1400)" || cpe_finish
check "path wan1 up over IPv6" cpe_wait_log v6 "path wan1 up" 5
round "IPv6 WAN" 8082 "[fd1" 1360 1340
cpe_alive v6
cpe_stop v6
cpe_check_clean v6
conc_stop v6

# ---- IPv6 switched off on the CPE: IPv4 is still captured ----
for n in 1 2; do ip netns exec "$PFX-isp$n" nft delete table ip v4cut; done
ip netns exec "$CPE" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1
cpe_conc_up || cpe_finish
cpe_start nov6 "$(cpe_config ctl_http=127.0.0.1:9471)" || cpe_finish
check "IPv6 off: the daemon says it captures IPv4 only" \
	cpe_wait_log nov6 "IPv6 is switched off on mptun0: capturing IPv4 TCP only" 5
check_eq "IPv6 off: no IPv6 capture rule" "$(ip -n "$CPE" -6 rule show pref 7101)" ""
t0=$(ctr flows_total)
fetch 24M
check_rc "IPv6 off: 24 MB from $S4 through the CPE: complete" 0
check_eq "IPv6 off: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/24M")"
check_eq "IPv6 off: /status flows_total grew by 1" "$(($(ctr flows_total) - t0))" 1
cpe_alive nov6
cpe_stop nov6
cpe_check_clean nov6
conc_stop main
cpe_finish
