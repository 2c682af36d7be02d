#!/bin/bash
# 200 concurrent flows through mptun-cpe, all open at once, to 200 distinct
# destinations (3 IPv4 + 1 IPv6 srv addresses x 50 ports). Each server
# greets with a banner naming its own address and port, then echoes: a
# flow delivered to the wrong server, or bytes mixed between flows, fail.
. "$(dirname "$0")/lib_cpe.sh"

N_PORTS=50 BASE=9100 SIZE=262144 HOLD=2
ADDRS=("${SRV4[@]}" "${SRV6[0]}")
N=$((${#ADDRS[@]} * N_PORTS))

cpe_topo_up
cpe_conc_up || cpe_finish
cpe_start main "$(cpe_config)" || cpe_finish

# banner.py BASE NPORTS ADDR...: on every ADDR:port, greets with
# "ADDR PORT\n", echoes to EOF, then half-closes.
cat >"$TMP/banner.py" <<'EOF'
import asyncio, socket, sys
base, nports, addrs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]

def handler(addr, port):
    async def h(r, w):
        try:
            w.write(b"%s %d\n" % (addr.encode(), port))
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
            w.write_eof()
            await w.drain()
        except (ConnectionError, OSError):
            pass
        w.close()
    return h

async def main():
    servers = []
    for a in addrs:
        for p in range(base, base + nports):
            servers.append(await asyncio.start_server(handler(a, p), a, p, backlog=64))
    print("listening", len(servers), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
EOF
# flows.py BASE NPORTS SIZE HOLD ADDR...: one flow per ADDR x port, all
# connected (banner read) before any sends; prints "connected K/N" then
# waits HOLD s, then each sends SIZE distinct bytes, half-closes and checks
# the echo. Prints "intact K/N wrong_server M"; exit 0 if all intact.
cat >"$TMP/flows.py" <<'EOF'
import asyncio, hashlib, sys
base, nports, size, hold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4])
dsts = [(a, p) for a in sys.argv[5:] for p in range(base, base + nports)]
n, arrived, ok, intact, wrong = len(dsts), 0, 0, 0, 0
ready = None

async def flow(i, addr, port):
    global arrived, ok, intact, wrong
    data = (hashlib.sha256(b"flow %d" % i).digest() * (size // 32 + 1))[:size]
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(addr, port), 20)
        banner = await asyncio.wait_for(r.readline(), 20)
        if banner != b"%s %d\n" % (addr.encode(), port):
            wrong += 1
            print("flow %d to %s %d: banner %r" % (i, addr, port, banner), flush=True)
            raise RuntimeError("wrong server")
        ok += 1
    finally:
        arrived += 1
        if arrived == n:
            print("connected %d/%d" % (ok, n), flush=True)
            await asyncio.sleep(hold)
            ready.set()
    await ready.wait()

    async def send():
        for off in range(0, size, 16384):
            w.write(data[off:off + 16384])
            await w.drain()
        w.write_eof()
    sender = asyncio.create_task(send())
    got = await asyncio.wait_for(r.read(-1), 60)
    await sender
    w.close()
    if got == data:
        intact += 1
    else:
        print("flow %d to %s %d: %d bytes back, differ" % (i, addr, port, len(got)), flush=True)

async def main():
    global ready
    ready = asyncio.Event()
    res = await asyncio.gather(*(flow(i, a, p) for i, (a, p) in enumerate(dsts)),
                               return_exceptions=True)
    for e in res:
        if e is not None:
            print("error:", repr(e), flush=True)
            break
    print("intact %d/%d wrong_server %d" % (intact, n, wrong), flush=True)
    sys.exit(0 if intact == n else 1)
asyncio.run(main())
EOF

bg "$SRV" banner python3 "$TMP/banner.py" $BASE $N_PORTS "${ADDRS[@]}"
wait_listen "$SRV" $((BASE + N_PORTS - 1))
for ((i = 0; i < 100; i++)); do
	grep -q '^listening' "$TMP/banner.log" && break
	sleep 0.1
done
check "srv listens on $N address:port pairs" grep -q "^listening $N\$" "$TMP/banner.log"

mpc0=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX)
ip netns exec "$LAN" timeout 120 python3 "$TMP/flows.py" $BASE $N_PORTS $SIZE $HOLD \
	"${ADDRS[@]}" >"$TMP/flows.out" 2>&1 &
cli=$!
PIDS+=($cli)
for ((i = 0; i < 600; i++)); do
	grep -q '^connected' "$TMP/flows.out" && break
	kill -0 $cli 2>/dev/null || break
	sleep 0.05
done
# while all are held open: count them at the server and on the CPE
est=$(ip netns exec "$SRV" ss -Htn state established \
	"( sport >= :$BASE and sport < :$((BASE + N_PORTS)) )" | wc -l)
mpt=$(ip netns exec "$CPE" ss -HMn state established 2>/dev/null | wc -l)
wait $cli
RC=$? OUT=$(cat "$TMP/flows.out") ERR=""
check_rc "all $N flows connected (banner of the right server) before any data" 0 \
	"^connected $N/$N\$"
check_range "$N flows established at once at the servers" "$est" $N $((N + 10))
check_rc "$N flows x $((SIZE / 1024)) KB echoed intact, none to a wrong server" 0 \
	"^intact $N/$N wrong_server 0\$"
if daemon_checks "MPTCP connections of the CPE"; then
	check_range "$N MPTCP connections open at once on the CPE" "$mpt" $N $((N + 10))
	check_range "each flow its own MPTCP connection to the concentrator (MPCapableSYNRX)" \
		$(($(nstat_get "$CONC" MPTcpExtMPCapableSYNRX) - mpc0)) $N $N
fi
cpe_alive main
cpe_stop main
conc_stop main
cpe_finish
