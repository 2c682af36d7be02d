#!/bin/bash
# mptun-cpe with carrier.protocol: socks5 (no auth, then username/password)
# against the concentrator's SOCKS5, and resets passed on both ways: a server
# that resets mid-stream resets the LAN client; a LAN client that resets
# resets the server's connection.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
cpe_conc_up users='{user: alice, password: secret}' || cpe_finish
S4=${SRV4[0]} S6=${SRV6[0]}
lan() { run "$LAN" timeout 60 "$@"; }
mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 5M
srv_http 8080 "$TMP/www"

# ---- SOCKS5 carrier ----
with_user() { sed 's/^  protocol: socks5$/  protocol: socks5\n  socks_user: alice\n  socks_password: secret/'; }
cpe_start s5auth "$(cpe_config proto=socks5 | with_user)" || cpe_finish
for url in "http://$S4:8080/f.bin" "http://[$S6]:8080/f.bin"; do
	rm -f "$TMP/get.bin"
	lan curl --noproxy '*' -sS --max-time 30 -o "$TMP/get.bin" "$url"
	check_rc "socks5 carrier (user/password): curl $url exit 0" 0
	check_eq "socks5 carrier: $url sha256 equal" "$(sha "$TMP/get.bin" 2>/dev/null)" \
		"$(sha "$TMP/www/f.bin")"
done
lan curl --noproxy '*' -sS --max-time 5 "http://$S4:1/"
check_rc "socks5 carrier: closed port is refused (curl exit 7)" 7 'Connection refused|Couldn.t connect'
cpe_stop s5auth
cpe_start s5bad "$(cpe_config proto=socks5 | with_user | sed 's/secret/wrong/')" || cpe_finish
lan curl --noproxy '*' -sS --max-time 5 "http://$S4:8080/f.bin" -o /dev/null
check_rc "socks5 carrier with a wrong password: the LAN SYN is refused (exit 7)" 7
cpe_stop s5bad

# ---- resets, Convert carrier ----
cpe_start main "$(cpe_config)" || cpe_finish
cat >"$TMP/rstsrv.py" <<'PY'
import socket, struct, sys
# port 9300: sends 100 KB then resets; port 9301: reads until the peer
# resets, writes what it saw to a file
l1 = socket.create_server(("::", 9300), family=socket.AF_INET6, dualstack_ipv6=True)
l2 = socket.create_server(("::", 9301), family=socket.AF_INET6, dualstack_ipv6=True)
c, _ = l1.accept()
c.sendall(b"x" * 100000)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
c, _ = l2.accept()
c.settimeout(20)
seen = "eof"
try:
    while c.recv(65536):
        pass
except ConnectionResetError:
    seen = "reset"
except socket.timeout:
    seen = "timeout"
open(sys.argv[1], "w").write(seen)
PY
bg "$SRV" rstsrv python3 "$TMP/rstsrv.py" "$TMP/seen"
wait_listen "$SRV" 9300 && wait_listen "$SRV" 9301
run "$LAN" timeout 20 "$TC" --mode direct --tcp - "$S4:9300" </dev/null
check_rc "a server reset mid-stream reaches the LAN client as a reset (exit 4)" 4
cat >"$TMP/rstcli.py" <<'PY'
import socket, struct, sys, time
s = socket.create_connection((sys.argv[1], 9301), timeout=10)
s.sendall(b"y" * 10000)
time.sleep(0.5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
run "$LAN" timeout 20 python3 "$TMP/rstcli.py" "$S4"
for ((i = 0; i < 100; i++)); do [ -s "$TMP/seen" ] && break; sleep 0.1; done
check_eq "a LAN client's reset reaches the server as a reset" "$(cat "$TMP/seen" 2>/dev/null)" reset
cpe_stop main
cpe_finish
