#!/bin/bash
# Convert end to end: 100 MB each way with hashes, the Convert message in the
# SYN (TFO counters of the concentrator's namespace), MPTCP towards the
# concentrator, IPv6, half-close and reset propagation.
. "$(dirname "$0")/lib.sh"

topo_up
conc_start main 5124 "$(conc_config 5124)" || finish
CV=10.1.0.1:5124

ctr() { conc_counters main | awk -v k="$1" '$1 == k { print $2; exit }'; }
pipes0=$(ctr relay_pipes)

# ---- 100 MB up: client stdin -> server file ----
mkfile "$TMP/up.bin" 100M
mkfile "$TMP/down.bin" 100M
bg "$SRV" sink socat -u TCP-LISTEN:9000,reuseaddr "OPEN:$TMP/srv-up.bin,creat,trunc"
sink=$BGPID
bg "$SRV" source socat -u "OPEN:$TMP/down.bin" TCP-LISTEN:9001,reuseaddr
source=$BGPID
wait_listen "$SRV" 9000 && wait_listen "$SRV" 9001

tfo0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
mpc0=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX)
ip netns exec "$CLI" "$TC" "$CV" 10.2.0.2:9000 <"$TMP/up.bin" >/dev/null 2>"$TMP/err"
RC=$? OUT="" ERR=$(head -c 2000 "$TMP/err")
check_rc "100 MB upload through Convert: client exits 0" 0
wait "$sink"
check_eq "100 MB upload: sha256 at the server equals the client's" \
	"$(sha "$TMP/srv-up.bin")" "$(sha "$TMP/up.bin")"
tfo1=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
mpc1=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX)
check_range "Convert message rode in the SYN (TcpExtTCPFastOpenPassive delta in conc ns)" \
	$((tfo1 - tfo0)) 1 1
check_range "client to concentrator is MPTCP (MPTcpExtMPCapableSYNRX delta in conc ns)" \
	$((mpc1 - mpc0)) 1 1

# ---- 100 MB down: server file -> client stdout ----
ip netns exec "$CLI" "$TC" "$CV" 10.2.0.2:9001 </dev/null >"$TMP/cli-down.bin" 2>"$TMP/err"
RC=$? OUT="" ERR=$(head -c 2000 "$TMP/err")
check_rc "100 MB download through Convert: client exits 0" 0
wait "$source"
check_eq "100 MB download: sha256 at the client equals the server's" \
	"$(sha "$TMP/cli-down.bin")" "$(sha "$TMP/down.bin")"

# Bulk moves each direction from copying to splice() through a pipe.
check_range "the upload and the download went through pipes (relay_pipes delta)" \
	$(($(ctr relay_pipes) - pipes0)) 2 2

# ---- a reader slower than the server: what the client cannot take yet
# waits at the concentrator (its spill, then a pipe); nothing is lost ----
cat >"$TMP/paced.py" <<-'EOF'
	import os, socket, sys, time
	data = open(sys.argv[2], "rb").read()
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("0.0.0.0", int(sys.argv[1])))
	s.listen(1)
	c = s.accept()[0]
	c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
	for i in range(0, len(data), 16384):  # small reads at the concentrator
	    c.sendall(data[i:i + 16384])
	    time.sleep(0.0005)
	c.close()
	EOF
mkfile "$TMP/paced.bin" 24M
bg "$SRV" paced python3 "$TMP/paced.py" 9003 "$TMP/paced.bin"
wait_listen "$SRV" 9003
spills0=$(ctr relay_spills)
ip netns exec "$CLI" sh -c "\"\$0\" \"\$1\" 10.2.0.2:9003 </dev/null 2>\"\$2\" |
	{ sleep 3; cat; } >\"\$3\"" "$TC" "$CV" "$TMP/err" "$TMP/paced.out"
RC=$? OUT="" ERR=$(head -c 2000 "$TMP/err")
check_rc "slow reader: client exits 0" 0
check_eq "slow reader: 24 MB arrived intact" "$(sha "$TMP/paced.out")" "$(sha "$TMP/paced.bin")"
check_range "slow reader: sends the client could not take whole were kept (relay_spills)" \
	$(($(ctr relay_spills) - spills0)) 1 100000

# ---- the counter tells SYN data from a later request ----
srv_eofecho 9002
tfo0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
echo hello | ip netns exec "$CLI" "$TC" --no-tfo "$CV" 10.2.0.2:9002 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "Convert after connect (--no-tfo) works too" 0 '^hello$'
tfo1=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
check_eq "--no-tfo flow does not count as SYN data (the counter discriminates)" \
	$((tfo1 - tfo0)) 0

# ---- IPv6 ----
mkfile "$TMP/v6.bin" 2M
for via in "[fd00:1::1]:5124" "$CV"; do
	ip netns exec "$CLI" "$TC" "$via" "[fd00:2::2]:9002" <"$TMP/v6.bin" >"$TMP/v6.out" 2>"$TMP/err"
	RC=$? OUT="" ERR=$(cat "$TMP/err")
	check_rc "IPv6 destination via converter $via: client exits 0" 0
	check_eq "IPv6 destination via converter $via: 2 MB echoed intact" \
		"$(sha "$TMP/v6.out")" "$(sha "$TMP/v6.bin")"
done
tfo0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
echo hi6 | ip netns exec "$CLI" "$TC" "[fd00:1::1]:5124" "[fd00:2::2]:9002" >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
tfo1=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
check_rc "IPv6 all the way: bytes echoed" 0 '^hi6$'
check_range "Convert over IPv6 rides in the SYN too" $((tfo1 - tfo0)) 1 1

# ---- half-close: the server reads to EOF, then sends its whole reply ----
mkfile "$TMP/half.bin" 5M
ip netns exec "$CLI" "$TC" "$CV" 10.2.0.2:9002 <"$TMP/half.bin" >"$TMP/half.out" 2>"$TMP/err"
RC=$? OUT="" ERR=$(cat "$TMP/err")
check_rc "half-close: client exits 0" 0
check_eq "half-close: server saw EOF and its full 5 MB reply arrived after it" \
	"$(sha "$TMP/half.out")" "$(sha "$TMP/half.bin")"
# the same over plain TCP to the concentrator (MPTCP fallback)
ip netns exec "$CLI" "$TC" --tcp "$CV" 10.2.0.2:9002 <"$TMP/half.bin" >"$TMP/half.out" 2>"$TMP/err"
RC=$? OUT="" ERR=$(cat "$TMP/err")
check_rc "plain TCP client (no MPTCP): client exits 0" 0
check_eq "plain TCP client: 5 MB echoed intact" "$(sha "$TMP/half.out")" "$(sha "$TMP/half.bin")"

# ---- a server reset reaches the client as a reset ----
mkfifo "$TMP/fifo"
exec 7<>"$TMP/fifo" # "RST\n", then no EOF: only the reset can end the client
printf 'RST\n' >&7
ip netns exec "$CLI" "$TC" --timeout 10 "$CV" 10.2.0.2:9002 <&7 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "server RST is propagated: client sees a reset (exit 4)" 4

check_eq "concentrator still running" "$(kill -0 "${CONC_PID[main]}" 2>&1 && echo yes)" yes
conc_stop main
finish
