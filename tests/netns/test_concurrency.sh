#!/bin/bash
# 500 concurrent Convert flows with distinct data through an echo server, all
# open at once; SIGHUP during transfers drops no flow and applies the new
# config; SIGTERM drains flows in progress, refuses new ones, exits 0 and
# leaves no process behind.
. "$(dirname "$0")/lib.sh"

# flows.py CONV_HOST CONV_PORT DST DPORT N SIZE SLOW HOLD: N Convert flows
# (Convert in the SYN); once all have their Convert reply it prints
# "connected N", waits HOLD s, then each sends SIZE distinct bytes (spread
# over SLOW s) and checks the echo. Prints "intact K/N", exits 0 if K == N.
cat >"$TMP/flows.py" <<'EOF'
import asyncio, hashlib, ipaddress, socket, sys
host, port, dst, dport, n, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
slow, hold = float(sys.argv[7]), float(sys.argv[8])
a = ipaddress.ip_address(dst)
addr = a.packed if a.version == 6 else bytes(10) + b"\xff\xff" + a.packed
OPENING = bytes([1, 6, 0x22, 0x63, 0x0A, 5]) + dport.to_bytes(2, "big") + addr
arrived, ok = 0, 0

async def connect():
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                      socket.SOCK_STREAM, 262)
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_TCP, 34, 1)  # TCP_FASTOPEN_NO_COOKIE
    try:
        sent = s.sendto(OPENING, socket.MSG_FASTOPEN, (host, port))
    except BlockingIOError:
        sent = 0
    fut = loop.create_future()
    loop.add_writer(s.fileno(), lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_writer(s.fileno())
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, "connect")
    r, w = await asyncio.open_connection(sock=s)
    w.write(OPENING[sent:])
    h = await r.readexactly(4)
    if h[0] != 1 or h[2:4] != b"\x22\x63" or h[1] == 0:
        raise RuntimeError("bad Convert reply header " + h.hex())
    body, off, ext = await r.readexactly(h[1] * 4 - 4), 0, False
    while off + 4 <= len(body) and body[off + 1]:
        if body[off] == 0x1E:
            raise RuntimeError("convert error %d" % body[off + 2])
        ext |= body[off] == 0x14
        off += body[off + 1] * 4
    if not ext:
        raise RuntimeError("Convert reply without Extended TCP Header " + body.hex())
    return r, w

async def flow(i, ready):
    global arrived, ok
    data = (hashlib.sha256(b"flow %d" % i).digest() * (size // 32 + 1))[:size]
    try:
        r, w = await connect()
        ok += 1
    finally:
        arrived += 1
        if arrived == n:
            print("connected", ok, flush=True)
            await asyncio.sleep(hold)
            ready.set()
    await ready.wait()

    async def send():
        step = max(1, size // 20)
        for off in range(0, size, step):
            w.write(data[off:off + step])
            await w.drain()
            if slow:
                await asyncio.sleep(slow / 20)
        w.write_eof()

    async def recv():
        buf = bytearray()
        while chunk := await r.read(1 << 16):
            buf += chunk
        return bytes(buf)

    got = (await asyncio.gather(send(), recv()))[1]
    w.close()
    if got != data:
        raise RuntimeError("flow %d: %d bytes back, %d sent, mismatch" % (i, len(got), size))

async def main():
    ready = asyncio.Event()
    res = await asyncio.wait_for(asyncio.gather(
        *(flow(i, ready) for i in range(n)), return_exceptions=True), 120)
    bad = [r for r in res if isinstance(r, BaseException)]
    for b in bad[:5]:
        print("error:", repr(b), flush=True)
    print("intact %d/%d" % (n - len(bad), n), flush=True)
    sys.exit(1 if bad else 0)

asyncio.run(main())
EOF

topo_up
conc_start main 5124 "$(conc_config 5124 drain=5s pending=1024)" || finish
srv_echo 7
# flows_bg LOG N SIZE SLOW HOLD: flows.py in the client ns; pid in $BGPID
flows_bg() { bg "$CLI" "$1" python3 "$TMP/flows.py" 10.1.0.1 5124 10.2.0.2 7 "$2" "$3" "$4" "$5"; }
wait_line() { # LOG PATTERN: up to 60 s for a line in $TMP/LOG.log
	local i
	for ((i = 0; i < 600; i++)); do
		grep -q "$2" "$TMP/$1.log" && return 0
		sleep 0.1
	done
	return 1
}
relayed() { ip netns exec "$CONC" ss -Htn state established '( dst 10.2.0.2 and dport = :7 )' | wc -l; }
flows_done() { # LOG PID N DESC
	wait "$2"
	RC=$? OUT=$(cat "$TMP/$1.log") ERR=""
	check_rc "$4: all $3 flows intact" 0 "intact $3/$3"
}

# ---- 500 at once ----
flows_bg c500 500 65536 0 1.5
pid=$BGPID
if wait_line c500 '^connected'; then
	check_eq "500 flows got their Convert reply before any data" \
		"$(grep '^connected' "$TMP/c500.log")" "connected 500"
	check_range "the concentrator holds 500 relayed flows at once" "$(relayed)" 500 500
else
	fail "500 flows: no 'connected' line: $(head -c 300 "$TMP/c500.log")"
fi
flows_done c500 "$pid" 500 "500 concurrent flows, 64 KiB each, distinct data"

# ---- SIGHUP while flows transfer ----
flows_bg hup 50 2000000 2 0
pid=$BGPID
wait_line hup '^connected'
sleep 0.5
conc_config 5124 drain=5s deny='"10.2.0.2/32"' >"${CONC_CFG[main]}"
kill -HUP "${CONC_PID[main]}"
flows_done hup "$pid" 50 "SIGHUP during 50 transfers"
check_eq "concentrator survives SIGHUP" "$(kill -0 "${CONC_PID[main]}" 2>&1 && echo alive)" alive
tc 10.1.0.1:5124 10.2.0.2:7
check_rc "the reloaded config applies to new flows (egress.deny 10.2.0.2 -> 32)" 3 \
	'convert error 32( |$)'
conc_config 5124 drain=5s >"${CONC_CFG[main]}"
kill -HUP "${CONC_PID[main]}"
for ((i = 0; i < 20; i++)); do
	echo back | ip netns exec "$CLI" "$TC" 10.1.0.1:5124 10.2.0.2:7 >"$TMP/out" 2>"$TMP/err"
	RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
	[ $RC = 0 ] && break
	sleep 0.1
done
check_rc "a second reload restores the first config" 0 '^back$'
printf 'clients: {allow: []}\n' >"${CONC_CFG[main]}"
kill -HUP "${CONC_PID[main]}"
for ((i = 0; i < 20; i++)); do grep -q 'clients.allow' "${CONC_LOG[main]}" && break; sleep 0.1; done
check "a reload with a bad config logs the error (clients.allow)" grep -q 'clients.allow' "${CONC_LOG[main]}"
echo still | ip netns exec "$CLI" "$TC" 10.1.0.1:5124 10.2.0.2:7 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "a reload with a bad config keeps the running config" 0 '^still$'
conc_config 5124 drain=5s >"${CONC_CFG[main]}"

# ---- SIGTERM: drain flows in progress, refuse new ones, exit 0 ----
flows_bg term 10 2000000 2 0
pid=$BGPID
wait_line term '^connected'
sleep 0.3
t0=$(date +%s%N)
kill -TERM "${CONC_PID[main]}"
for ((i = 0; i < 20; i++)); do
	tc --timeout 3 10.1.0.1:5124 10.2.0.2:7
	[ $RC = 4 ] && break
	sleep 0.1
done
check_rc "after SIGTERM new connections are refused" 4 'refused'
flows_done term "$pid" 10 "flows in progress at SIGTERM drain"
for ((i = 0; i < 100; i++)); do kill -0 "${CONC_PID[main]}" 2>/dev/null || break; sleep 0.1; done
wait "${CONC_PID[main]}"
RC=$?
check_eq "concentrator exits 0 after draining" "$RC" 0
check_range "it exits once the flows are done, within timeouts.drain (ms)" \
	$((($(date +%s%N) - t0) / 1000000)) 0 6000
check_eq "no process left in the concentrator namespace" "$(ip netns pids "$CONC" | wc -l)" 0
finish
