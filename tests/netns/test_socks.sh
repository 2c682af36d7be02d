#!/bin/bash
# SOCKS4, SOCKS4a, SOCKS5 (with and without names) on the Convert port with
# curl against python3 -m http.server, hashes checked; a second concentrator
# with SOCKS users: the right password works, a wrong one and SOCKS4 do not.
. "$(dirname "$0")/lib.sh"

topo_up
conc_start main 5124 "$(conc_config 5124)" || finish
conc_start auth 5125 "$(conc_config 5125 users='{user: alice, password: secret}')" || finish
mkdir -p "$TMP/www"
mkfile "$TMP/www/file" 20M
want=$(sha "$TMP/www/file")
srv_http 8000 "$TMP/www"
srv_echo 7

# fetch DESC EXPECTED-RC CURL-ARGS...: curl in the client ns; on success the
# body must hash like the served file.
fetch() {
	local desc=$1 rc=$2
	shift 2
	rm -f "$TMP/got"
	run "$CLI" curl -fsS -g --max-time 20 -o "$TMP/got" "$@"
	if [ "$rc" = 0 ]; then
		check_rc "$desc: curl exits 0" 0 &&
			check_eq "$desc: sha256 of the 20 MB body" "$(sha "$TMP/got")" "$want"
	elif [ "$RC" != 0 ]; then
		pass "$desc: curl fails (exit $RC)"
	else
		fail "$desc: curl succeeded but must fail"
	fi
}

URL=http://10.2.0.2:8000/file
NAMEURL=http://srv.mptun.test:8000/file
# ---- no users: every SOCKS flavour ----
fetch "curl --socks5" 0 --socks5 10.1.0.1:5124 "$URL"
fetch "curl --socks5 over IPv6 to an IPv6 server" 0 -x "socks5://[fd00:1::1]:5124" \
	"http://[fd00:2::2]:8000/file"
fetch "curl --socks5-hostname (the concentrator resolves srv.mptun.test)" 0 \
	--socks5-hostname 10.1.0.1:5124 "$NAMEURL"
fetch "curl --socks4" 0 --socks4 10.1.0.1:5124 "$URL"
fetch "curl --socks4a (name resolved by the concentrator)" 0 --socks4a 10.1.0.1:5124 "$NAMEURL"

# the test client's SOCKS modes, byte for byte through the echo server
for m in socks5 socks4 socks4a; do
	dst=10.2.0.2:7
	[ $m = socks4a ] && dst=srv.mptun.test:7
	echo "via $m" | ip netns exec "$CLI" "$TC" --mode $m 10.1.0.1:5124 $dst >"$TMP/out" 2>"$TMP/err"
	RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
	check_rc "test client --mode $m: echo comes back" 0 "^via $m\$"
done
echo "v6 name" | ip netns exec "$CLI" "$TC" --mode socks5 10.1.0.1:5124 srv6.mptun.test:7 \
	>"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "SOCKS5 with a name that resolves to IPv6: echo comes back" 0 '^v6 name$'

# names the policy or the resolver refuse
tc --mode socks5 10.1.0.1:5124 localhost:7
check_rc "SOCKS5 name resolving to 127.0.0.1 is refused: not allowed (0x02)" 6 'socks reply 0x02'
tc --mode socks5 --timeout 15 10.1.0.1:5124 nonexistent.mptun.test:7
check_rc "SOCKS5 name that does not resolve gets a failure reply" 6 'socks reply 0x0[1-8]'

# ---- users configured ----
fetch "SOCKS5 with the right password (socks5://alice:secret@)" 0 \
	-x socks5://alice:secret@10.1.0.1:5125 "$URL"
fetch "SOCKS5 with the right password and a name (socks5h://, -U)" 0 \
	-x socks5h://10.1.0.1:5125 -U alice:secret "$NAMEURL"
fetch "SOCKS5 with a wrong password" 1 -x socks5://alice:wrong@10.1.0.1:5125 "$URL"
fetch "SOCKS5 with an unknown user" 1 -x socks5://bob:secret@10.1.0.1:5125 "$URL"
fetch "SOCKS5 without credentials when users are configured" 1 --socks5 10.1.0.1:5125 "$URL"
fetch "SOCKS4 when users are configured" 1 --socks4 10.1.0.1:5125 "$URL"
fetch "SOCKS4a when users are configured" 1 --socks4a 10.1.0.1:5125 "$NAMEURL"

echo secret-ok | ip netns exec "$CLI" "$TC" --mode socks5 --user alice --pass secret \
	10.1.0.1:5125 10.2.0.2:7 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "test client with the right password: echo comes back" 0 '^secret-ok$'
tc --mode socks5 --user alice --pass wrong 10.1.0.1:5125 10.2.0.2:7
check_rc "test client with a wrong password: RFC 1929 failure status" 6 'socks reply 0x[0-9a-f]{2} \(auth'
tc --mode socks5 10.1.0.1:5125 10.2.0.2:7
check_rc "test client offering no-auth only: method refused (0xff)" 6 'socks reply 0xff'
tc --mode socks4 10.1.0.1:5125 10.2.0.2:7
check_rc "test client SOCKS4 when users are configured: rejected (0x5b)" 6 'socks reply 0x5b'
# Convert is not a SOCKS method: users do not apply to it
echo conv | ip netns exec "$CLI" "$TC" 10.1.0.1:5125 10.2.0.2:7 >"$TMP/out" 2>"$TMP/err"
RC=$? OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
check_rc "Convert on the users' concentrator still works" 0 '^conv$'

conc_stop main
conc_stop auth
finish
