#!/bin/bash
# mptun-delayline (lib_delay.sh): a 20 ms line adds ~40 ms of RTT, v4 and
# v6; TCP through it is intact; 10% loss loses some probes; SIGTERM ends it
# with exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_delay.sh"

A=$PFX-a MID=$PFX-mid B=$PFX-b
ns_add "$A"; ns_add "$B"
delay_link "$MID" "$A" wan0 "$B" eth0 1 || exit 1

read -r sent got base <<<"$(udp_ping "$A" "$B" 100.81.1.2 20)"
check_eq "baseline: all probes answered" "$got" "$sent"
check_range "baseline RTT ms" "$base" 0 10

delay_start "$MID" 20 || finish
read -r sent got rtt <<<"$(udp_ping "$A" "$B" 100.81.1.2 20)"
check_eq "20 ms line: all probes answered" "$got" "$sent"
check_range "20 ms line: IPv4 RTT ms (baseline $base)" "$rtt" 38 60
read -r sent got rtt6 <<<"$(udp_ping "$A" "$B" fd81:1::2 20)"
check_eq "20 ms line: all IPv6 probes answered" "$got" "$sent"
check_range "20 ms line: IPv6 RTT ms" "$rtt6" 38 60

mkfile "$TMP/send.bin" 4M
bg "$B" sink socat -u TCP-LISTEN:9100,reuseaddr "OPEN:$TMP/recv.bin,creat,trunc"
sink=$BGPID
wait_listen "$B" 9100
start=$(date +%s%N)
run "$A" timeout 30 socat -u "OPEN:$TMP/send.bin" TCP:100.81.1.2:9100
check_rc "TCP 4 MB through the line" 0
wait "$sink"
check_eq "TCP data intact (sha256)" "$(sha "$TMP/recv.bin")" "$(sha "$TMP/send.bin")"
echo "    4 MB in $((($(date +%s%N) - start) / 1000000)) ms over a 40 ms RTT"
delay_stop "$MID"

# 10% each way: a probe survives with p = 0.81; 200 probes -> ~38 lost
delay_start "$MID" 5 0.1 || finish
read -r sent got rtt <<<"$(udp_ping "$A" "$B" 100.81.1.2 200 0.005)"
check_range "10% loss each way: probes lost of $sent" "$((sent - got))" 15 70
delay_stop "$MID"
check_eq "TUNs gone after SIGTERM" \
	"$(ip -n "$MID" -br link show | grep -c '^dl-')" 0
read -r sent got rtt <<<"$(udp_ping "$A" "$B" 100.81.1.2 10)"
check_eq "plain forwarding again: all probes answered" "$got" "$sent"
check_range "plain forwarding again: RTT ms" "$rtt" 0 10

finish
