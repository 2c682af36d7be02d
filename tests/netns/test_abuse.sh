#!/bin/bash
# Hostile clients against the concentrator while good flows run through it:
# over 10,000 malformed and mutated Convert and SOCKS openings, silent and
# slowloris connections (tests/tools/mptun-abuse tells what each must get),
# bursts past limits.pending_per_client / flows_per_client / flows, and a
# daemon out of file descriptors. Checks: the good flows' bytes (sha256),
# the answers, the counters of SIGUSR1 against what was sent, the daemon's
# open fds back to their baseline, accept paused (not spinning) at EMFILE.
. "$(dirname "$0")/lib.sh"

ABUSE=$NETNS_DIR/../tools/mptun-abuse
T0=$SECONDS

topo_up
for a in 10.1.0.{10..13} 10.1.0.{30..33} 10.1.0.{40..43} 10.1.0.50 10.1.0.200; do
	ip -n "$CLI" addr add $a/24 dev eth0
done
ip -n "$CLI" addr add fd00:1::10/64 dev eth0 nodad
# 10.1.0.200 is outside clients.allow; pending_per_client is above what
# the abuse sends from one address at once, so nothing hits a limit there.
conc_start main 5124 "$(conc_config 5124 clients='"10.1.0.0/25", "fd00:1::/64"' \
	header=1s connect=2s pending=1000)" || finish
conc_start lim 5125 "$(conc_config 5125 header=3s flows=60 per_client=40 pending=10)" || finish
conc_start fd 5126 "$(conc_config 5126 header=30s workers=1)" || finish
srv_echo 7
SIZE=$((4 << 20))
for i in $(seq 20); do mkfile "$TMP/good$i" $SIZE; done

fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# fds_back NAME BASELINE: waits up to 10 s for the daemon's fd count.
fds_back() {
	local i n
	for ((i = 0; i < 100; i++)); do
		n=$(fds "${CONC_PID[$1]}")
		[ "$n" = "$2" ] && break
		sleep 0.1
	done
	echo "$n"
}
# wait_idle NAME: until the daemon has no flow left (10 s); prints the dump.
wait_idle() {
	local i
	for ((i = 0; i < 20; i++)); do
		conc_counters "$1" >"$TMP/ctr-$1"
		grep -qx 'active 0' "$TMP/ctr-$1" && break
		sleep 0.5
	done
	cat "$TMP/ctr-$1"
}
# compare_counters NAME EXPECT-LINE [EXTRA "key N"...]: every counter of
# the last dump must equal the tool's expectation plus EXTRA (0 if absent),
# plus its value in $TMP/ctr0-NAME if that snapshot exists.
compare_counters() {
	local name=$1 line=$2 bad=0 k v want kv
	shift 2
	declare -A exp=()
	[ -f "$TMP/ctr0-$name" ] && mapfile -t base <"$TMP/ctr0-$name" || base=()
	for kv in $line "$@" "${base[@]}"; do
		kv=${kv/ /=}
		exp[${kv%%=*}]=$((${exp[${kv%%=*}]:-0} + ${kv#*=}))
	done
	while read -r k v; do
		want=${exp[$k]:-0}
		if [ "$v" != "$want" ]; then
			fail "$name counter $k: $v, expected $want"
			bad=1
		fi
	done <"$TMP/ctr-$name"
	[ $bad = 0 ] && pass "$name: every counter as expected ($(wc -l <"$TMP/ctr-$name") keys)"
}
ctr() { awk -v k="$2" '$1 == k { print $2 }' "$TMP/ctr-$1"; }

BASE_MAIN=$(fds "${CONC_PID[main]}") BASE_LIM=$(fds "${CONC_PID[lim]}")
BASE_FD=$(fds "${CONC_PID[fd]}")

# ---- 20 good flows through the echo server, 4 MiB each way, paced so
# that they last through the abuse: 10 Convert (MPTCP), 5 SOCKS5 over
# MPTCP, 5 SOCKS5 over plain TCP ----
pace() { # FILE: 16 pieces, 1 s apart
	local sz=$(($(stat -c %s "$1") / 16)) i
	for ((i = 0; i < 16; i++)); do
		dd if="$1" bs=$sz skip=$i count=1 status=none
		sleep 1
	done
}
GOOD=()
for i in $(seq 20); do
	case $i in
	?|10) how=() ;;
	1[1-5]) how=(--mode socks5) ;;
	*) how=(--mode socks5 --tcp) ;;
	esac
	(pace "$TMP/good$i" | ip netns exec "$CLI" "$TC" "${how[@]}" --timeout 80 \
		10.1.0.1:5124 10.2.0.2:7 >"$TMP/good$i.out" 2>"$TMP/good$i.err") &
	GOOD+=($!) PIDS+=($!)
done
# the good flows' sockets (MPTCP subflows or TCP) on the client side
relayed() {
	ip netns exec "$CLI" ss -Htn state established '( src 10.1.0.2 and dport = :5124 )' | wc -l
}
for ((i = 0; i < 100; i++)); do [ "$(relayed)" -ge 20 ] && break; sleep 0.1; done
check_range "the 20 good flows are relayed before the abuse starts" "$(relayed)" 20 20

# ---- the abuse ----
t0=$SECONDS
ip netns exec "$CLI" bash -c "ulimit -n \$(ulimit -Hn); exec \"\$@\"" - python3 "$ABUSE" abuse \
	10.1.0.1:5124 --src 10.1.0.10,10.1.0.11,10.1.0.12,10.1.0.13,fd00:1::10 \
	--held-src 10.1.0.30,10.1.0.31,10.1.0.32,10.1.0.33 --unallowed 10.1.0.200 \
	--header-timeout 1 ${ABUSE_SEED:+--seed $ABUSE_SEED} >"$TMP/abuse.out" 2>"$TMP/abuse.err"
RC=$?
ABUSE_S=$((SECONDS - t0))
sed 's/^/    | /' "$TMP/abuse.out"
head -n 20 "$TMP/abuse.err" | sed 's/^/    ! /'
check_eq "abuse: every answer as the model expects (mptun-abuse exit)" "$RC" 0
sent=$(sed -n 's/^sent: total=\([0-9]*\).*/\1/p' "$TMP/abuse.out")
check_range "abuse: openings sent" "$sent" 10000 100000
check_range "abuse: seconds taken" "$ABUSE_S" 0 45
check "the concentrator survived the abuse" kill -0 "${CONC_PID[main]}"
stillgood=$(relayed)
check_range "the good flows were still relayed when the abuse ended" "$stillgood" 20 20

bad=0
for i in $(seq 20); do
	if ! wait "${GOOD[$((i - 1))]}"; then
		bad=$((bad + 1))
		echo "    good$i: $(head -c 300 "$TMP/good$i.err")"
	elif [ "$(sha "$TMP/good$i.out")" != "$(sha "$TMP/good$i")" ]; then
		bad=$((bad + 1))
		echo "    good$i: sha256 differs ($(stat -c %s "$TMP/good$i.out") bytes back)"
	fi
done
check_eq "all 20 good flows intact (sha256 of 4 MiB echoed)" "$bad" 0

wait_idle main >/dev/null
echo "    counters: $(tr '\n' ' ' <"$TMP/ctr-main")"
# plus the good flows: 10 Convert + 10 SOCKS5, each connected once, the
# only relayed bytes
# (how the good flows' bytes went, copied or through pipes, depends on
# timing: at most one pipe per direction, never one for an abuser)
ctr_main() { awk -v k="$1" '$1 == k { print $2; exit }' "$TMP/ctr-main"; }
check_range "pipes: only the good flows' directions, each once at most" \
	"$(ctr_main relay_pipes)" 0 40
compare_counters main "$(sed -n 's/^expect_counters: //p' "$TMP/abuse.out")" \
	"accepted 20" "convert 10" "socks5 10" "connect_started 20" "connect_ok 20" \
	"bytes_up $((20 * SIZE))" "bytes_down $((20 * SIZE))" \
	"relay_pipes $(ctr_main relay_pipes)" "relay_spills $(ctr_main relay_spills)"
AFTER_MAIN=$(fds_back main "$BASE_MAIN")
check_eq "main: open fds back to the baseline after the abuse ($BASE_MAIN)" "$AFTER_MAIN" "$BASE_MAIN"

# ---- resets from the client in every phase: opening, lookup, a connect
# that hangs, answer, relay ----
rude() { # NAME PORT SOURCES
	local a0 a1
	a0=$(ctr "$1" accepted)
	ip netns exec "$CLI" python3 "$ABUSE" rude 2000 "10.1.0.1:$2" --src "$3" \
		--silent-host 10.2.0.3 --echo 10.2.0.2:7 >"$TMP/rude-$1.out" 2>&1
	RC=$?
	sed 's/^/    | /' "$TMP/rude-$1.out"
	check_eq "$1: 2000 openings reset by the client (mptun-abuse exit)" "$RC" 0
	check "$1: the concentrator survived the resets" kill -0 "${CONC_PID[$1]}"
	wait_idle "$1" >/dev/null
	a1=$(ctr "$1" accepted)
	check_range "$1: reset connections accepted" $((a1 - a0)) 1900 2000
	check_eq "$1: no flow left after the resets (active relaying)" \
		"$(ctr "$1" active) $(ctr "$1" relaying)" "0 0"
}
rude main 5124 10.1.0.10,10.1.0.11,10.1.0.12,10.1.0.13
check_eq "main: open fds back to the baseline after the resets" "$(fds_back main "$BASE_MAIN")" "$BASE_MAIN"

# ---- limits: bursts past pending_per_client 10, flows_per_client 40, flows 60,
# after resets from the same clients: a place they did not give back would
# show as one refusal too many ----
conc_counters lim >"$TMP/ctr-lim"
rude lim 5125 10.1.0.40,10.1.0.41,10.1.0.42,10.1.0.43
cp "$TMP/ctr-lim" "$TMP/ctr0-lim"
ip netns exec "$CLI" python3 "$ABUSE" limits 10.1.0.1:5125 \
	--src 10.1.0.40,10.1.0.41,10.1.0.42,10.1.0.43 --pending 10 --per-client 40 --total 60 \
	--burst 10 --echo 10.2.0.2:7 >"$TMP/limits.out" 2>"$TMP/limits.err"
RC=$?
sed 's/^/    | /' "$TMP/limits.out"
head -n 20 "$TMP/limits.err" | sed 's/^/    ! /'
check_eq "limits: every refusal answered as expected (mptun-abuse exit)" "$RC" 0
wait_idle lim >/dev/null
echo "    counters: $(tr '\n' ' ' <"$TMP/ctr-lim")"
compare_counters lim "$(sed -n 's/^expect_counters: //p' "$TMP/limits.out")"
check_eq "lim: open fds back to the baseline ($BASE_LIM)" "$(fds_back lim "$BASE_LIM")" "$BASE_LIM"

# ---- out of file descriptors: accept pauses, no busy loop, resumes ----
FDPID=${CONC_PID[fd]}
LIMIT=$((BASE_FD + 24))
prlimit --pid "$FDPID" --nofile=$LIMIT:$LIMIT
bg "$CLI" hold python3 "$ABUSE" hold 60 10.1.0.1:5126 --src 10.1.0.50 --until "$TMP/release" \
	--probe --echo 10.2.0.2:7
HOLD=$BGPID
for ((i = 0; i < 100; i++)); do grep -q '^probe' "$TMP/hold.log" && break; sleep 0.1; done
check_eq "out of fds: a request is answered Resource Exceeded (64), not Network Failure" \
	"$(grep '^probe' "$TMP/hold.log")" "probe conv_E64 eof"
for ((i = 0; i < 50; i++)); do grep -q 'pausing accept' "${CONC_LOG[fd]}" && break; sleep 0.1; done
check "at the fd limit the worker logs that it pauses accept" grep -q 'pausing accept' "${CONC_LOG[fd]}"
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
c0=$(cpu "$FDPID") p0=$(conc_counters fd | awk '$1 == "accept_pauses" { print $2 }')
sleep 2
c1=$(cpu "$FDPID") p1=$(conc_counters fd | awk '$1 == "accept_pauses" { print $2 }')
check_range "paused 2 s: accept retried every 100 ms, not spinning (accept_pauses)" $((p1 - p0)) 8 30
check_range "paused 2 s: CPU time used (clock ticks)" $((c1 - c0)) 0 20
below=$(ls "/proc/$FDPID/fd" | awk -v l=$LIMIT '$1 < l' | wc -l)
check_range "paused: the fds below the limit are all in use" "$below" $((LIMIT - 2)) $LIMIT
touch "$TMP/release"
wait "$HOLD"
check_eq "released: the daemon closed the 59 other held connections, accepted late ones too" \
	"$(grep '^released' "$TMP/hold.log")" "released 59 eof=59"
check "the worker logs that it accepts again" grep -q 'accepting again' "${CONC_LOG[fd]}"
echo fd-ok | ip netns exec "$CLI" "$TC" 10.1.0.1:5126 10.2.0.2:7 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "after the fds came back a new flow is relayed" 0 '^fd-ok$'
wait_idle fd >/dev/null
check_eq "fd: open fds back to the baseline ($BASE_FD)" "$(fds_back fd "$BASE_FD")" "$BASE_FD"
check_eq "fd: accepted active connect_started connect_failed resource_exceeded" \
	"$(for k in accepted active connect_started connect_failed resource_exceeded; do ctr fd $k; done |
		tr '\n' ' ')" "61 0 2 1 1 "

for n in main lim fd; do conc_stop "$n"; done
echo "    test_abuse: $((SECONDS - T0)) s in all, abuse $ABUSE_S s"
finish
