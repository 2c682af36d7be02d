#!/bin/bash
# Bad packets on the path into mptun-cpe's TUN are dropped and counted,
# never a crash. From lan, crafted frames (python3, AF_PACKET on lan's eth0
# to the CPE's MAC: IP_HDRINCL cannot do it, the kernel rewrites the IPv4
# total length and header checksum) go to srv addresses, so the CPE routes
# them into the TUN: truncated TCP headers, inconsistent IP lengths, a SYN
# with a bad TCP checksum, ACK/FIN/RST of unknown flows, TCP data offsets
# beyond the packet or below 5, a fragment, odd IP and TCP options, then a
# seeded random flood. Each case is checked against the daemon's counters.
#
# The counters: on SIGUSR1 mptun-cpe logs one line
#   ... flownat: entries=N ... drop_short=N drop_bad_length=N
#       drop_bad_checksum=N drop_not_tcp=N drop_no_flow=N ...
# with the names of struct flownat_counters (lwip-port/flownat.h).
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
cpe_conc_up || cpe_finish
cpe_start main "$(cpe_config level=debug)" || cpe_finish
S4=${SRV4[0]}

cat >"$TMP/badpkt.py" <<'EOF'
# badpkt.py IFACE DSTMAC CASE...: sends each named case as Ethernet frames;
# "flood:N:SEED" sends N random TCP packets.
import random, socket, struct, sys
iface, dmac, cases = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
smac = s.getsockname()[4]
C4, S4 = socket.inet_aton("192.168.10.2"), socket.inet_aton("203.0.113.10")
C6, S6 = (socket.inet_pton(socket.AF_INET6, a) for a in ("fd10::2", "2001:db8:5::10"))

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF

def tcp(src, dst, sport, dport, flags, seq=1000, ack=0, doff=5, opts=b"",
        data=b"", cut=None, bad=False):
    """TCP segment; checksum over the bytes sent (cut: keep that many)."""
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags,
                    65535, 0, 0) + opts + data
    h = h[:cut] if cut is not None else h
    ph = (src + dst + struct.pack("!BBH", 0, 6, len(h)) if len(src) == 4 else
          src + dst + struct.pack("!I3xB", len(h), 6))
    c = csum(ph + h) ^ (0x5555 if bad else 0)
    return h[:16] + struct.pack("!H", c) + h[18:] if len(h) >= 18 else h

def ip4(payload, proto=6, tot=None, frag=0, opts=b"", badsum=False, src=C4, dst=S4):
    ihl = 5 + len(opts) // 4
    tot = tot if tot is not None else ihl * 4 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 0x1234, frag, 64, proto, 0,
                    src, dst) + opts
    c = csum(h) ^ (0x00FF if badsum else 0)
    return b"\x08\x00", h[:10] + struct.pack("!H", c) + h[12:] + payload

def ip6(payload, nh=6, plen=None, src=C6, dst=S6):
    plen = plen if plen is not None else len(payload)
    return b"\x86\xdd", struct.pack("!IHBB16s16s", 0x60000000, plen, nh, 64, src, dst) + payload

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
P = 20001  # sport; dports are closed ports of srv
CASES = {
    "short4": lambda: ip4(tcp(C4, S4, P, 20000, SYN, cut=12)),
    "short6": lambda: ip6(tcp(C6, S6, P, 20000, SYN, cut=8)),
    # 60 bytes sent, IP total length 30: the CPE kernel trims to 30
    "iplen_short": lambda: ip4(tcp(C4, S4, P, 20000, SYN, data=bytes(20)), tot=30),
    # IP total length beyond the frame: the CPE kernel drops it
    "iplen_long4": lambda: ip4(tcp(C4, S4, P, 20000, SYN), tot=1000),
    "iplen_long6": lambda: ip6(tcp(C6, S6, P, 20000, SYN), plen=1000),
    "ip_badsum": lambda: ip4(tcp(C4, S4, P, 20000, SYN), badsum=True),
    "badcsum_syn4": lambda: ip4(tcp(C4, S4, P, 20001, SYN, bad=True)),
    "badcsum_syn6": lambda: ip6(tcp(C6, S6, P, 20001, SYN, bad=True)),
    "ack4": lambda: ip4(tcp(C4, S4, P, 20002, ACK, ack=5)),
    "fin4": lambda: ip4(tcp(C4, S4, P, 20002, FIN | ACK, ack=5)),
    "rst4": lambda: ip4(tcp(C4, S4, P, 20002, RST)),
    "data4": lambda: ip4(tcp(C4, S4, P, 20002, PSH | ACK, ack=5, data=b"x" * 100)),
    "ack6": lambda: ip6(tcp(C6, S6, P, 20002, ACK, ack=5)),
    "doff_beyond4": lambda: ip4(tcp(C4, S4, P, 20003, SYN, doff=15)),
    "doff_beyond6": lambda: ip6(tcp(C6, S6, P, 20003, SYN, doff=15)),
    "doff_small4": lambda: ip4(tcp(C4, S4, P, 20003, SYN, doff=2)),
    "frag4": lambda: ip4(tcp(C4, S4, P, 20004, SYN), frag=0x2000),  # MF, offset 0
    "frag4_tail": lambda: ip4(bytes(16), frag=0x0010),  # offset 128, no MF
    "ipopts_syn4": lambda: ip4(tcp(C4, S4, P, 20005, SYN), opts=b"\x01\x01\x01\x00"),
    # dest options header before TCP
    "ext6": lambda: ip6(b"\x06\x00" + bytes(6) + tcp(C6, S6, P, 20005, SYN), nh=60),
    # valid checksums, malformed options: these reach lwIP as new flows
    "opt_len0": lambda: ip4(tcp(C4, S4, 20002, 20006, SYN, doff=6, opts=b"\x02\x00\x05\xb4")),
    "opt_len_over": lambda: ip4(tcp(C4, S4, 20003, 20006, SYN, doff=6, opts=b"\x08\xff\x00\x00")),
    "opt_ws_huge": lambda: ip4(tcp(C4, S4, 20004, 20006, SYN, doff=6, opts=b"\x03\x03\xff\x00")),
    "syn_fin_rst": lambda: ip4(tcp(C4, S4, 20005, 20006, SYN | FIN | RST)),
    "syn_data": lambda: ip4(tcp(C4, S4, 20006, 20006, SYN, data=b"early data" * 50)),
}

def flood(n, seed):
    r = random.Random(seed)
    for _ in range(n):
        v6 = r.random() < 0.3
        src, dst = (C6, S6) if v6 else (C4, S4)
        seg = tcp(src, dst, r.randrange(1024, 65536), r.randrange(21000, 22000),
                  r.randrange(256), seq=r.getrandbits(32), ack=r.getrandbits(32),
                  doff=r.randrange(16), opts=r.randbytes(r.choice((0, 4, 8, 40))),
                  data=r.randbytes(r.randrange(0, 600)),
                  cut=r.choice((None, None, None, r.randrange(0, 40))),
                  bad=r.random() < 0.3)
        yield ip6(seg) if v6 else ip4(seg)

for c in cases:
    frames = flood(int(c.split(":")[1]), int(c.split(":")[2])) if c.startswith("flood:") \
        else [CASES[c]()]
    for etype, pkt in frames:
        s.send(dmac + smac + etype + pkt)
EOF
DMAC=$(ip -n "$CPE" -br link show lan0 | awk '{ print $3 }')
send() { ip netns exec "$LAN" python3 "$TMP/badpkt.py" eth0 "$DMAC" "$@"; }

declare -A C0=() C1=()
snap() { # ARRAY-NAME: the daemon's counters into the array
	local -n a=$1
	local k v
	a=()
	while read -r k v; do a[$k]=$v; done < <(cpe_counters main)
}
delta() { echo $((${C1[$1]:-0} - ${C0[$1]:-0})); } # KEY
# case NAME KEYS: sends NAME; checks that the sum of the deltas of the
# counters KEYS ("a+b") is >= 1; KEYS "-" for no expectation.
case_check() {
	local name=$1 keys=$2 sum=0 k
	if [ "$CPE_DIRECT" = 1 ] || [ "$keys" = - ]; then
		send "$name" || fail "case $name: sender failed"
		return
	fi
	snap C0
	send "$name" || fail "case $name: sender failed"
	sleep 0.1
	snap C1
	if [ ${#C1[@]} = 0 ]; then
		fail "case $name: no 'flownat: key=N ...' counter dump in the log after SIGUSR1"
		return
	fi
	for k in ${keys//+/ }; do sum=$((sum + $(delta "$k"))); done
	local all=""
	for k in "${!C1[@]}"; do [ "$(delta "$k")" = 0 ] || all+=" $k+$(delta "$k")"; done
	if [ "$sum" -ge 1 ]; then pass "case $name: dropped, counted in $keys (${all# })"
	else fail "case $name: expected $keys to grow, got deltas:${all:- none}"; fi
}

if daemon_checks "counter dump on SIGUSR1"; then
	snap C0
	check "SIGUSR1 dumps the counters ('flownat: ... drop_short=N ...' line)" \
		test -n "${C0[drop_short]:-}"
	cpe_alive main || cpe_finish
fi

tr0=$(nstat_get "$CPE" IpExtInTruncatedPkts) tr60=$(nstat_get "$CPE" Ip6InTruncatedPkts)
cs0=$(nstat_get "$CPE" IpExtInCsumErrors)
send iplen_long4 iplen_long6 ip_badsum
check_eq "IPv4 total length beyond the frame: dropped by the cpe kernel, before the TUN" \
	$(($(nstat_get "$CPE" IpExtInTruncatedPkts) - tr0)) 1
check_eq "IPv6 payload length beyond the frame: dropped by the cpe kernel, before the TUN" \
	$(($(nstat_get "$CPE" Ip6InTruncatedPkts) - tr60)) 1
check_eq "bad IPv4 header checksum: dropped by the cpe kernel, before the TUN" \
	$(($(nstat_get "$CPE" IpExtInCsumErrors) - cs0)) 1

case_check short4 drop_short
case_check short6 drop_short
case_check iplen_short drop_short
case_check badcsum_syn4 drop_bad_checksum
case_check badcsum_syn6 drop_bad_checksum
case_check ack4 drop_no_flow
case_check fin4 drop_no_flow
case_check rst4 drop_no_flow
case_check data4 drop_no_flow
case_check ack6 drop_no_flow
case_check doff_beyond4 drop_short+drop_bad_length
case_check doff_beyond6 drop_short+drop_bad_length
case_check doff_small4 drop_short+drop_bad_length
case_check frag4 drop_not_tcp
case_check frag4_tail drop_not_tcp
# no expectation: the CPE kernel may not route these into the TUN, or they
# are valid enough to be new flows (to closed ports: refused)
for c in ipopts_syn4 ext6 opt_len0 opt_len_over opt_ws_huge syn_fin_rst syn_data; do
	case_check $c -
done
cpe_alive main || cpe_finish

send flood:3000:1 flood:3000:2
check_eq "random flood (6000 packets): sender exits 0" $? 0
sleep 1
cpe_alive main || cpe_finish
if daemon_checks "counters after the flood"; then
	snap C1
	check "counters still dumped after the flood" test -n "${C1[drop_short]:-}"
fi

mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 1M
srv_http 8080 "$TMP/www"
for url in "http://$S4:8080/f.bin" "http://[${SRV6[0]}]:8080/f.bin"; do
	run "$LAN" curl --noproxy '*' -sS --max-time 20 -o "$TMP/get.bin" "$url"
	check_rc "afterwards, curl $url through the CPE: exit 0" 0
	check_eq "afterwards, curl $url: sha256 equal" "$(sha "$TMP/get.bin" 2>/dev/null)" \
		"$(sha "$TMP/www/f.bin")"
done
cpe_alive main
cpe_stop main
conc_stop main
cpe_finish
