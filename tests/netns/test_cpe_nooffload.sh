#!/bin/bash
# mptun-cpe with tun.offload: false, the packet-by-packet path: the TUN has
# no offload header (sysfs tun_flags), transfers both ways over IPv4 and
# IPv6 arrive whole, no segment is written coalesced (tun out_gso 0), and
# the device's offloads, which persist on it, are cleared: a TUN left with
# them by an offloading run is opened again without.
. "$(dirname "$0")/lib_cpe.sh"

IFF_VNET_HDR=0x4000
tun_flags() { ip netns exec "$CPE" cat /sys/class/net/mptun0/tun_flags 2>/dev/null; }
# gtso: mptun0's TCP segmentation offload (ETHTOOL_GTSO), 1 or 0
gtso() {
	ip netns exec "$CPE" python3 - <<-'PY' 2>/dev/null
	import array, fcntl, socket, struct
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	buf = array.array("B", struct.pack("II", 0x1e, 0))
	fcntl.ioctl(s, 0x8946, struct.pack("16sP", b"mptun0", buf.buffer_info()[0]))
	print(struct.unpack("II", buf.tobytes())[1])
	PY
}
# persist_tun 1|0: make mptun0 persistent with checksum and TSO offloads on,
# as a crashed offloading run would leave it; 0: no longer persistent, so it
# goes with its last fd
persist_tun() {
	ip netns exec "$CPE" python3 - "$1" <<-'PY'
	import fcntl, os, struct, sys
	TUNSETIFF, TUNSETPERSIST, TUNSETOFFLOAD = 0x400454ca, 0x400454cb, 0x400454d0
	IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x1, 0x1000, 0x4000
	fd = os.open("/dev/net/tun", os.O_RDWR)
	fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"mptun0", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
	fcntl.ioctl(fd, TUNSETOFFLOAD, 0x1 | 0x2 | 0x4 | 0x8)  # CSUM TSO4 TSO6 TSO_ECN
	fcntl.ioctl(fd, TUNSETPERSIST, int(sys.argv[1]))
	PY
}

cpe_topo_up
cpe_conc_up || cpe_finish
S4=${SRV4[0]} S6=${SRV6[0]}

# the daemon attaches to a TUN left with offloads and must clear them
persist_tun 1 || fail "could not create a persistent TUN with offloads"
check_eq "the persistent mptun0 has TCP segmentation offload before the daemon" "$(gtso)" 1

cpe_start main "$(cpe_config offload=false)" || cpe_finish
if daemon_checks "the TUN without offloads"; then
	f=$(tun_flags)
	check "tun_flags of mptun0 read from sysfs ($f)" test -n "$f"
	check_eq "mptun0 has no offload header (tun_flags & IFF_VNET_HDR)" \
		"$((${f:-0} & IFF_VNET_HDR))" 0
	check "no warning about refused offloads: none were asked" \
		eval "! grep -q 'no checksum and segmentation offloads' '${CPE_LOG[main]}'"
	check_eq "mptun0's TCP segmentation offload was cleared (ETHTOOL_GTSO)" "$(gtso)" 0
fi

# ---- 20 MB each way, IPv4 and IPv6, hashes equal ----
mkfile "$TMP/up.bin" 20M
mkfile "$TMP/down.bin" 20M
for dst in "$S4" "$S6"; do
	files_both "$dst" "20 MB to and from $dst:"
done

# ---- iperf3 both directions ----
srv_iperf 5201
iperf_both "$S4" 2

if daemon_checks "packet-by-packet counters"; then
	cpe_counters main tun >"$TMP/tun.ctr"
	ctr() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/tun.ctr"; }
	check_range "packets read from the TUN (tun in)" "$(ctr in)" 20000 100000000
	check_eq "no segment written coalesced (tun out_gso)" "$(ctr out_gso)" 0
	check_eq "no offload header to reject (tun in_bad_vnet)" "$(ctr in_bad_vnet)" 0
	cpe_alive main
	cpe_stop main
	persist_tun 0 2>/dev/null
	cpe_check_clean main
fi
conc_stop main
cpe_finish
