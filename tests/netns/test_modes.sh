#!/bin/bash
# The matrix of issue 7 on the hybrid-access topology (lib_cpe.sh): one
# sha256-checked download for each carrier (plain/convert, plain/socks4,
# plain/socks5, transparent) over IPv4 and over IPv6 (LAN client, WAN
# paths and destination of that family), with the concentrator's source
# preservation on and off. The CPEs carry the client's address where the
# carrier can: plain/convert with carrier.source (the Source TLV),
# transparent with carrier.source (the connection itself starts from the
# client's address; the ISPs route the LAN prefixes without NAT, and the
# concentrator routes them back through ISP1). The server (peerhttp.py)
# says whom it saw:
#   preservation on:  the LAN client's own address (convert: and port);
#                     SOCKS carries no source: the egress address;
#   preservation off: the concentrator's egress address, for every carrier;
#   transparent without carrier.source: the connection's own source is the
#                     CPE's path address, NATed by the ISP, outside
#                     source.prefixes: the egress address.
# The concentrator counts what it parsed: the framing, the Source TLV, a
# transparent interception.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "modes (the daemons are what is tested)" || cpe_finish
# the LAN prefixes cross the ISPs unNATed, and come back through ISP1
for isp in "$ISP1" "$ISP2"; do
	ip netns exec "$isp" nft insert rule inet cgnat post ip saddr 192.168.10.0/24 accept
	ip netns exec "$isp" nft insert rule inet cgnat post ip6 saddr fd10::/64 accept
done
ip -n "$CONC" route add 192.168.10.0/24 via 10.11.0.1
ip -n "$CONC" -6 route add fd10::/64 via fd11::1
CTL=127.0.0.1:9480
mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 4M
bg "$SRV" peerhttp python3 "$NETNS_DIR/peerhttp.py" 8080 "$TMP/www" "$TMP/peers.log"
wait_listen "$SRV" 8080 || cpe_finish

declare -A DST=([4]=${SRV4[0]} [6]="[${SRV6[0]}]")
declare -A CONC_AT=([4]=$CONC_ADDR:$CONC_PORT [6]="[2001:db8:c::1]:$CONC_PORT")
declare -A CLIENT=([4]=192.168.10.2 [6]=fd10::2)
declare -A EGRESS=([4]=203.0.113.1 [6]=2001:db8:5::1)
# the concentrator's counter of each carrier's opening, by family
declare -A PARSED=([convert4]=source_tlv [convert6]=source_tlv [socks44]=socks4
	[socks46]=socks4a [socks54]=socks5 [socks56]=socks5
	[transparent4]=transparent [transparent6]=transparent
	[transparent-nosource4]=transparent)

conc_ctr() { # NAME: the concentrator's counter (its /metrics)
	ip netns exec "$CONC" curl -s --max-time 5 "http://$CTL/metrics" |
		awk -v k="mptun_counter_total{name=\"$1\"}" '$1 == k { print $2 }'
}
# conc_up PRESERVE: the concentrator, transparent on its ISP links, its
# join address announced, source.preserve PRESERVE for the LAN prefixes
conc_up() {
	conc_start main $CONC_PORT "$(conc_config_cpe ctl_http=$CTL \
		clients='"10.11.0.0/30", "10.12.0.0/30", "fd11::/64", "fd12::/64",
			"192.168.10.0/24", "fd10::/64"')
transparent:
  enabled: true
  interfaces: [isp1, isp2]
  announce: [$CONC_ADDR, \"2001:db8:c::1\"]
source:
  preserve: $1
  prefixes: [192.168.10.0/24, \"fd10::/64\"]"
}
# get CASE FAMILY PORT: the download from the LAN client's port PORT;
# checks exit 0 and sha256; the server's "ADDRESS PORT" in $SEEN
get() {
	rm -f "$TMP/got" "$TMP/hdr"
	run "$LAN" timeout 30 curl --noproxy '*' -sS --max-time 20 --local-port "$3" \
		-D "$TMP/hdr" -o "$TMP/got" "http://${DST[$2]}:8080/f.bin"
	check_rc "$1: curl exit 0" 0
	check_eq "$1: 4 MB, sha256 equal" "$(sha "$TMP/got" 2>/dev/null)" \
		"$(sha "$TMP/www/f.bin")"
	SEEN=$(tr -d '\r' <"$TMP/hdr" | awk -F': ' '$1 == "X-Peer" { print $2 }')
}
# cell PRESERVE CARRIER FAMILY: a CPE with that carrier and paths of that
# family, one download, what the server saw
cell() {
	local pres=$1 car=$2 fam=$3 name="$2 IPv$3, preserve $1" cfg want got port
	port=$((40000 + RANDOM % 20000))
	case $car in
	convert) cfg="proto=convert source=true" ;;
	socks4 | socks5) cfg="proto=$car" ;;
	transparent) cfg="mode=transparent source=true" ;;
	transparent-nosource) cfg="mode=transparent" ;;
	esac
	# shellcheck disable=SC2086 # cfg is key=value words
	cpe_start "$car$fam$pres" "$(cpe_config $cfg conc="${CONC_AT[$fam]}")" || return
	local n0 p0
	n0=$(conc_ctr "${PARSED[$car$fam]}") p0=$(conc_ctr source_preserved)
	get "$name" "$fam" "$port"
	check_eq "$name: the concentrator parsed it (${PARSED[$car$fam]})" \
		$(($(conc_ctr "${PARSED[$car$fam]}") - n0)) 1
	if [ "$pres$car" = trueconvert ]; then
		want="${CLIENT[$fam]} $port" got=$SEEN
		check_eq "$name: counted as preserved" \
			$(($(conc_ctr source_preserved) - p0)) 1
	elif [ "$pres$car" = truetransparent ]; then
		# the port is the CPE kernel's (cpe_flow.c's client_source)
		want=${CLIENT[$fam]} got=${SEEN%% *}
		check_eq "$name: counted as preserved" \
			$(($(conc_ctr source_preserved) - p0)) 1
	else
		want=${EGRESS[$fam]} got=${SEEN%% *}
	fi
	check_eq "$name: the server saw $want" "$got" "$want"
	cpe_stop "$car$fam$pres"
}

for pres in true false; do
	conc_up $pres || cpe_finish
	for fam in 4 6; do
		for car in convert socks4 socks5 transparent; do
			cell $pres $car $fam
		done
	done
	cell $pres transparent-nosource 4
	conc_stop main
done
cpe_finish
