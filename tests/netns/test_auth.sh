#!/bin/bash
# The Auth TLV end to end (lib_cpe.sh topology), the concentrator with
# auth.required: a CPE with its key (inline hex, or base64 in a key file)
# transfers a file intact; a CPE with a wrong key, an unknown id, or no
# auth is refused (curl exit 7 in hold mode) and the server sees no
# connection. Openings made by an independent Python signer and sent raw
# (mptun-testclient --raw from the CPE namespace): a valid one is
# accepted, the same bytes again are refused on whichever worker they land
# (also after a reload), stale and future timestamps and a changed
# destination are refused. A key removed by SIGHUP is refused afterwards.
# SOCKS: required with SOCKS open to everyone is a config error; with
# socks.users, SOCKS5 must give the password.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
S4=${SRV4[0]}
CONV=$CONC_ADDR:$CONC_PORT

# ---- keys, and a signer written from lib/auth.h, not from lib/auth.c ----
hexkey() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
K_GOOD=$(hexkey) K_GONE=$(hexkey) K_OTHER=$(hexkey)
K_FILE=$(head -c 32 /dev/urandom | base64)
(umask 077; echo "$K_FILE" >"$TMP/conc-file.key"; echo "  $K_FILE" >"$TMP/cpe-file.key")
cat >"$TMP/sign.py" <<'PY'
# sign.py KEY ID TS DST PORT [NONCE-HEX]: an opening (header, Connect,
# Auth) in hex. KEY: 64 hex digits or base64.
import base64, hashlib, hmac, ipaddress, os, struct, sys
key, cid, ts, dst, port = sys.argv[1:6]
key = bytes.fromhex(key) if len(key) == 64 else base64.b64decode(key)
nonce = bytes.fromhex(sys.argv[6]) if len(sys.argv) > 6 else os.urandom(16)
a = ipaddress.ip_address(dst)
a16 = ipaddress.IPv6Address("::ffff:" + dst).packed if a.version == 4 else a.packed
connect = bytes([0x0A, 5]) + struct.pack(">H", int(port)) + a16
head = bytes([1, len(cid)]) + cid.encode() + struct.pack(">Q", int(ts)) + nonce
mac = hmac.new(key, b"mptun auth v1" + head + connect, hashlib.sha256).digest()
auth = bytes([0xC0, 0]) + head + mac
auth += b"\0" * (-len(auth) % 4)
auth = bytes([0xC0, len(auth) // 4]) + auth[2:]
body = connect + auth
print((bytes([1, (4 + len(body)) // 4, 0x22, 0x63]) + body).hex())
PY
sign() { python3 "$TMP/sign.py" "$@"; }

keys_yaml() { # ID=KEY... (KEY @file: key_file)
	local kv out=''
	for kv in "$@"; do
		case ${kv#*=} in
		@*) out+="{id: ${kv%%=*}, key_file: \"${kv#*=@}\"}, " ;;
		*) out+="{id: ${kv%%=*}, key: \"${kv#*=}\"}, " ;;
		esac
	done
	echo "${out%, }"
}
ALL_KEYS=$(keys_yaml cpe-good="$K_GOOD" cpe-file=@"$TMP/conc-file.key" cpe-gone="$K_GONE")
AUTH="{required: true, window: 30s, keys: [$ALL_KEYS]}"
USERS='{user: u, password: p}'

# ---- config checks ----
conc_config_cpe auth="$AUTH" >"$TMP/open-socks.yaml"
run "$CONC" "$CONCD" -n -c "$TMP/open-socks.yaml"
check_rc "auth.required with SOCKS open to every client: config error" 1 \
	'auth.required: SOCKS has no Auth TLV'
conc_config_cpe auth="$AUTH" users="$USERS" >"$TMP/ok.yaml"
run "$CONC" "$CONCD" -n -c "$TMP/ok.yaml"
check_rc "auth.required with socks.users: configuration OK" 0 'configuration OK'
cpe_config proto=socks5 auth="{id: cpe-good, key: \"$K_GOOD\"}" >"$TMP/cpe-socks5.yaml"
run "$CPE" "$CPED" -n -c "$TMP/cpe-socks5.yaml"
check_rc "mptun-cpe: auth with carrier.protocol socks5: config error" 1 \
	'auth needs carrier.protocol: convert'

cpe_conc_up auth="$AUTH" users="$USERS" level=debug || cpe_finish
LOG=${CONC_LOG[main]}
mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 5M
srv_http 8080 "$TMP/www"
srv_opens() { nstat_get "$SRV" TcpPassiveOpens; }
mpc() { nstat_get "$CONC" MPTcpExtMPCapableSYNRX; }
# log_has REGEX: the concentrator logged it since the mark
log_mark() { MARK=$(wc -l <"$LOG"); }
log_has() {
	local i
	for ((i = 0; i < 20; i++)); do
		tail -n +"$((MARK + 1))" "$LOG" | grep -Eq -- "$1" && return 0
		sleep 0.05
	done
	return 1
}

# ---- CPEs through the daemon ----
# get NAME DESC: a download from the LAN through mptun-cpe NAME
get() {
	rm -f "$TMP/get.bin"
	run "$LAN" timeout 60 curl --noproxy '*' -sS --max-time 30 -o "$TMP/get.bin" \
		"http://$S4:8080/f.bin"
	check_rc "$1: curl exit 0" 0
	check_eq "$1: 5 MB, sha256 equal" "$(sha "$TMP/get.bin" 2>/dev/null)" \
		"$(sha "$TMP/www/f.bin")"
}
# refused DESC LOG-REGEX: the LAN's connection is refused by the
# concentrator's answer, and the server sees no connection
refused() {
	local o0 m0
	o0=$(srv_opens) m0=$(mpc)
	log_mark
	run "$LAN" timeout 20 curl --noproxy '*' -sS --max-time 10 -o /dev/null \
		"http://$S4:8080/f.bin"
	check_rc "$1: the LAN connection is refused (curl exit 7)" 7
	check_range "$1: it reached the concentrator (MPCapableSYNRX)" \
		$(($(mpc) - m0)) 1 10
	check_eq "$1: the server saw no connection (TcpPassiveOpens)" \
		$(($(srv_opens) - o0)) 0
	check "$1: concentrator logged Not Authorized: $2" log_has "Not Authorized.*$2"
}

if daemon_checks "mptun-cpe with auth"; then
	cpe_start good "$(cpe_config auth="{id: cpe-good, key: \"$K_GOOD\"}")" || cpe_finish
	o0=$(srv_opens)
	get "cpe-good (hex key inline)"
	check_range "cpe-good: the server saw the connection" $(($(srv_opens) - o0)) 1 5
	cpe_stop good

	cpe_start file "$(cpe_config auth="{id: cpe-file, key_file: \"$TMP/cpe-file.key\"}")" || cpe_finish
	get "cpe-file (base64 key in key files on both sides)"
	cpe_stop file

	cpe_start wrong "$(cpe_config auth="{id: cpe-good, key: \"$K_OTHER\"}")" || cpe_finish
	refused "wrong key" 'Auth of "cpe-good": bad MAC'
	cpe_stop wrong

	cpe_start unknown "$(cpe_config auth="{id: cpe-nobody, key: \"$K_GOOD\"}")" || cpe_finish
	refused "unknown id" 'Auth of "cpe-nobody": unknown id'
	cpe_stop unknown

	cpe_start none "$(cpe_config)" || cpe_finish
	refused "no auth" 'Auth: none, and auth.required is true'
	cpe_stop none
fi

# ---- raw openings from the CPE namespace ----
# raw DESC RC HEX [REGEX]: the opening sent as is; the server must see a
# connection exactly when RC is 0
raw() {
	local o0 want=0
	[ "$2" = 0 ] && want=1
	o0=$(srv_opens)
	run "$CPE" "$TC" --timeout 5 --raw "$3" "$CONV" "$S4:8080"
	check_rc "$1: exit $2" "$2" "${4:-}"
	check_eq "$1: connections at the server" $(($(srv_opens) - o0)) "$want"
}
now() { date +%s; }
VALID=$(sign "$K_GOOD" cpe-good "$(now)" "$S4" 8080)
raw "raw opening from the Python signer" 0 "$VALID"
log_mark
for i in 1 2 3 4 5 6; do
	raw "the same bytes again ($i): replay refused" 3 "$VALID" 'convert error 32'
done
check "replays: logged" log_has 'Not Authorized.*cpe-good": replayed nonce'
log_mark
raw "stale timestamp (now - 35 s)" 3 "$(sign "$K_GOOD" cpe-good $(($(now) - 35)) "$S4" 8080)" \
	'convert error 32'
check "stale timestamp: logged" log_has 'cpe-good": stale timestamp'
raw "future timestamp (now + 35 s)" 3 "$(sign "$K_GOOD" cpe-good $(($(now) + 35)) "$S4" 8080)" \
	'convert error 32'
raw "timestamp 20 s old, within the window" 0 \
	"$(sign "$K_GOOD" cpe-good $(($(now) - 20)) "$S4" 8080)"
# the Connect's port 8080 (0x1f90) becomes 8081: a captured Auth on
# another destination
MOVED=$(sign "$K_GOOD" cpe-good "$(now)" "$S4" 8080)
MOVED=${MOVED:0:12}1f91${MOVED:16}
raw "a signed opening moved to another port" 3 "$MOVED" 'convert error 32'
raw "the key file's base64 key signs for cpe-file" 0 \
	"$(sign "$K_FILE" cpe-file "$(now)" "$S4" 8080)"

# ---- SOCKS with auth.required: only with the password ----
run "$CPE" "$TC" --timeout 5 --mode socks5 "$CONV" "$S4:8080" </dev/null
check_rc "SOCKS5 without username/password is refused" 6
run "$CPE" "$TC" --timeout 5 --mode socks4 "$CONV" "$S4:8080" </dev/null
check_rc "SOCKS4 is refused" 6

# ---- SIGHUP: cpe-gone's key removed ----
if daemon_checks "revocation through mptun-cpe"; then
	cpe_start gone "$(cpe_config auth="{id: cpe-gone, key: \"$K_GONE\"}")" || cpe_finish
	get "cpe-gone before the reload"
fi
BEFORE=$(sign "$K_GOOD" cpe-good "$(now)" "$S4" 8080)
raw "an opening accepted before the reload" 0 "$BEFORE"
GONE=$(sign "$K_GONE" cpe-gone "$(now)" "$S4" 8080)
r0=$(grep -c 'reloaded' "$LOG")
conc_config_cpe users="$USERS" level=debug \
	auth="{required: true, window: 30s, keys: [$(keys_yaml cpe-good="$K_GOOD")]}" \
	>"${CONC_CFG[main]}"
kill -HUP "${CONC_PID[main]}"
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c 'reloaded' "$LOG")" -gt "$r0" ] && break
	sleep 0.1
done
check "SIGHUP: the concentrator reloaded" eval '[ "$(grep -c reloaded "$LOG")" -gt "$r0" ]'
sleep 0.3 # the workers pick the new config up from their pipes
if daemon_checks "revocation through mptun-cpe"; then
	refused "cpe-gone after its key was removed" 'Auth of "cpe-gone": unknown id'
	cpe_stop gone
fi
raw "cpe-gone's raw opening, signed before the reload" 3 "$GONE" 'convert error 32'
log_mark
raw "a replay across the reload (the replay cache outlives configs)" 3 "$BEFORE" \
	'convert error 32'
check "the replay across the reload: logged" log_has 'cpe-good": replayed nonce'
raw "cpe-good still accepted after the reload" 0 \
	"$(sign "$K_GOOD" cpe-good "$(now)" "$S4" 8080)"

check "concentrator still running" kill -0 "${CONC_PID[main]}"
conc_stop main
cpe_finish
