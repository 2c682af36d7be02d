#!/bin/bash
# Transparent mode end to end on the hybrid-access topology (lib_cpe.sh):
# the CPE (carrier.mode: transparent, two paths) opens each flow's MPTCP
# connection to the server's own address; the concentrator, on the
# forwarding path to the server (the ISPs' default route), intercepts it
# on its ISP-facing links (transparent.interfaces) and re-originates it
# from its egress address. The kernel refuses joins sent to the
# intercepted destination, so the concentrator announces addresses with
# transparent.join_port (transparent.announce: MPTCP signal endpoints the
# daemon adds, once the port is free, and removes) and the CPE's fullmesh
# endpoints join there from each path. Checks: a 20 MB download intact, both WAN links carrying
# a large share of it, the server seeing the concentrator's address, joins
# at the announced address from both paths, plain TCP crossing the
# concentrator (from the LAN past the CPE's capture, and from an ISP) not
# intercepted; with carrier.source the same download starting from the
# LAN client's own address, which the concentrator preserves; and the
# endpoints gone after the concentrator stops.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "transparent mode through the concentrator" || cpe_finish
CTL=127.0.0.1:9480 JOIN=5126
ANN4=$CONC_ADDR ANN6=2001:db8:c::1
BYPASS=${SRV4[2]}
# The join port is held at start (as the TIME_WAIT joins of a previous
# run would hold it after a restart): the daemon starts, and announces the
# address once the port is free.
ip netns exec "$CONC" python3 -c 'import socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()
time.sleep(3)' "$ANN4" $JOIN &
PIDS+=($!)
wait_listen "$CONC" $JOIN || cpe_finish
conc_start main $CONC_PORT "$(conc_config_cpe ctl_http=$CTL \
	clients='"10.11.0.0/30", "10.12.0.0/30", "fd11::/64", "fd12::/64", "192.168.10.0/24"')
transparent:
  enabled: true
  interfaces: [isp1, isp2]
  announce: [$ANN4, \"$ANN6\"]
  join_port: $JOIN
source: {preserve: true, prefixes: [192.168.10.0/24]}" || cpe_finish

conc_ctr() { # NAME: the concentrator's counter (its /metrics)
	ip netns exec "$CONC" curl -s --max-time 5 "http://$CTL/metrics" |
		awk -v k="mptun_counter_total{name=\"$1\"}" '$1 == k { print $2 }'
}
peer() { tail -n 1 "$TMP/peers.log" | cut -d' ' -f1; } # the last request's

check "port $JOIN held at start: the daemon says it will try again" \
	grep -q "port $JOIN is in use.*trying again every second" "${CONC_LOG[main]}"
for ((i = 0; i < 100; i++)); do
	ip -n "$CONC" mptcp endpoint show | grep -q "^$ANN4 port $JOIN" && break
	sleep 0.1
done
check "port $JOIN free again: $ANN4 announced (logged)" \
	grep -q "announcing $ANN4 port $JOIN" "${CONC_LOG[main]}"
eps=$(ip -n "$CONC" mptcp endpoint show)
check "concentrator: MPTCP endpoint $ANN4 port $JOIN (signal)" \
	eval "echo '$eps' | grep -Eq '^$ANN4 port $JOIN id [0-9]+ signal'"
check "concentrator: MPTCP endpoint $ANN6 port $JOIN (signal)" \
	eval "echo '$eps' | grep -Eq '^$ANN6 port $JOIN id [0-9]+ signal'"
check "concentrator: the kernel listens on $ANN4:$JOIN for joins" \
	eval "ip netns exec $CONC ss -Hltn 'sport = :$JOIN' | grep -q '$ANN4:$JOIN'"
check_eq "concentrator: subflows limit raised to 8 (lib_cpe set 4)" \
	"$(ip -n "$CONC" mptcp limits show | grep -o 'subflows [0-9]*')" "subflows 8"

mkdir "$TMP/www"
mkfile "$TMP/www/20M" 20M
bg "$SRV" peerhttp python3 "$NETNS_DIR/peerhttp.py" 8080 "$TMP/www" "$TMP/peers.log"
wait_listen "$SRV" 8080 || cpe_finish

cpe_start main "$(cpe_config mode=transparent bypass="\"$BYPASS/32\"")" || cpe_finish
eps=$(ip -n "$CPE" mptcp endpoint show)
check "CPE: endpoint 100.64.1.2 dev wan1 (subflow fullmesh)" \
	eval "echo '$eps' | grep -Eq '^100.64.1.2 id 1 subflow fullmesh dev wan1'"
check "CPE: endpoint 100.64.2.2 dev wan2 (subflow fullmesh)" \
	eval "echo '$eps' | grep -Eq '^100.64.2.2 id 2 subflow fullmesh dev wan2'"
check_eq "CPE: limits at the kernel's maximum" \
	"$(ip -n "$CPE" mptcp limits show | tr '\n' ' ' | sed 's/ *$//')" \
	"add_addr_accepted 8 subflows 8"
check "path wan1 up (probes answered)" cpe_wait_log main "path wan1 up" 5
check "path wan2 up (probes answered)" cpe_wait_log main "path wan2 up" 5

# ---- a download through the concentrator over both links ----
wan_shape 1 20mbit
wan_shape 2 20mbit
t0=$(conc_ctr transparent) j0=$(nstat_get "$CONC" MPTcpExtMPJoinPortAckRx)
wan_snap
fetch 20M
check_rc "20 MB, transparent through the concentrator: complete" 0
check_eq "20 MB: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/20M")"
read -r d1 d2 < <(wan_delta)
echo "transparent, two paths: $(kv mbit) Mbit/s, wan1 $d1 bytes, wan2 $d2 bytes"
check_range "wan1 carried a large share (bytes)" "$d1" 5000000 100000000
check_range "wan2 carried a large share (bytes)" "$d2" 5000000 100000000
check_eq "intercepted: counted once as transparent by the concentrator" \
	$(($(conc_ctr transparent) - t0)) 1
check_eq "intercepted: the server saw the concentrator's egress address" \
	"$(peer)" 203.0.113.1
check_range "both paths joined at the announced $ANN4:$JOIN (MPJoinPortAckRx)" \
	$(($(nstat_get "$CONC" MPTcpExtMPJoinPortAckRx) - j0)) 2 2
wan_shape 1 10gbit
wan_shape 2 10gbit

# IPv6 flows from an IPv4-pathed CPE: one path (its route), intercepted
t0=$(conc_ctr transparent)
run "$LAN" timeout 30 "$FETCH" "${SRV6[0]}" 8080 /20M
check_rc "IPv6 destination: complete" 0
check_eq "IPv6 destination: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/20M")"
check_eq "IPv6 destination: intercepted" $(($(conc_ctr transparent) - t0)) 1
check_eq "IPv6 destination: the server saw the concentrator's address" \
	"$(peer)" 2001:db8:5::1

# ---- plain TCP crossing the concentrator is left alone ----
t0=$(conc_ctr transparent)
run "$LAN" timeout 30 "$FETCH" "$BYPASS" 8080 /20M
check_rc "plain TCP from the LAN past the CPE (lan.bypass): complete" 0
check_eq "bypass: the server saw ISP1's NAT address, not the concentrator's" \
	"$(peer)" 10.11.0.1
run "$ISP2" timeout 30 "$FETCH" "${SRV4[0]}" 8080 /20M
check_rc "plain TCP from ISP2 across the concentrator: complete" 0
check_eq "from ISP2: the server saw ISP2's own address" "$(peer)" 10.12.0.1
check_eq "plain TCP: nothing intercepted" $(($(conc_ctr transparent) - t0)) 0

cpe_alive main
cpe_stop main
cpe_check_clean main

# ---- carrier.source: each connection starts from the LAN client's own
# address; the ISPs route the LAN prefix unNATed, the concentrator routes
# it back through ISP1 and preserves it (source.prefixes) ----
for isp in "$ISP1" "$ISP2"; do
	ip netns exec "$isp" nft insert rule inet cgnat post ip saddr 192.168.10.0/24 accept
done
ip -n "$CONC" route add 192.168.10.0/24 via 10.11.0.1
cpe_start src "$(cpe_config mode=transparent source=true)" || cpe_finish
check "carrier.source: the CPE's nftables socket rule leaves the TUN's packets alone" \
	eval "ip netns exec $CPE nft list table inet mptun_tproxy |
		grep -q 'iifname != \"mptun0\".*socket transparent 1 meta mark set 0x00001bc5'"
check "carrier.source: fwmark 0x1bc5 lookup 7109 (IPv4 and IPv6)" \
	eval "ip -n $CPE -4 rule | grep -q 'fwmark 0x1bc5 lookup 7109' &&
		ip -n $CPE -6 rule | grep -q 'fwmark 0x1bc5 lookup 7109'"
wan_shape 1 20mbit
wan_shape 2 20mbit
p0=$(conc_ctr source_preserved) j0=$(nstat_get "$CONC" MPTcpExtMPJoinPortAckRx)
wan_snap
fetch 20M
check_rc "carrier.source: 20 MB complete" 0
check_eq "carrier.source: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/20M")"
read -r d1 d2 < <(wan_delta)
echo "transparent with carrier.source: $(kv mbit) Mbit/s, wan1 $d1 bytes, wan2 $d2 bytes"
check_range "carrier.source: wan1 carried a large share (bytes)" "$d1" 5000000 100000000
check_range "carrier.source: wan2 carried a large share (bytes)" "$d2" 5000000 100000000
check_eq "carrier.source: the server saw the LAN client's own address" \
	"$(peer)" 192.168.10.2
check_eq "carrier.source: the concentrator preserved it" \
	$(($(conc_ctr source_preserved) - p0)) 1
check_range "carrier.source: both paths joined at $ANN4:$JOIN" \
	$(($(nstat_get "$CONC" MPTcpExtMPJoinPortAckRx) - j0)) 2 2
cpe_alive src
cpe_stop src
cpe_check_clean src
conc_stop main
check_eq "after the concentrator stops: its endpoints are gone" \
	"$(ip -n "$CONC" mptcp endpoint show)" ""
cpe_finish
