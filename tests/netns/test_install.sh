#!/bin/bash
# make install into a DESTDIR with PREFIX=/usr: the file list, an operator's
# config never overwritten, the example configs valid, the systemd units
# (systemd-analyze verify), the sysusers.d file (systemd-sysusers makes user
# mptun), the man pages (groff warnings, man -l). Above all, that the units'
# capability sets are enough: each installed daemon is started the way its
# unit starts it (ExecStartPre=+ lines as root, then ExecStart as user
# mptun with exactly the unit's ambient and bounding capabilities,
# no_new_privs, a read-only root, /proc/sys read-only but the unit's
# ReadWritePaths, a fresh /run/mptun, stderr announced as the journal) and
# carries a transfer end to end; with one capability fewer it fails. Then
# make uninstall leaves only the configs in /etc/mptun.
# Not reproduced here (they need systemd as PID 1): the seccomp filter,
# RestrictAddressFamilies, MemoryDenyWriteExecute, PrivateTmp/PrivateDevices.
. "$(dirname "$0")/lib_cpe.sh"

REPO=$(cd "$NETNS_DIR/../.." && pwd)
DEST=$TMP/dest
UNITDIR=$DEST/usr/lib/systemd/system
SAN=
[ "$(basename "$BUILD")" = build-san ] && SAN=SAN=1
make_dest() { # TARGET: make TARGET into $DEST, output in $TMP/make.log
	make -C "$REPO" --no-print-directory $SAN BUILD="$BUILD" PREFIX=/usr \
		DESTDIR="$DEST" "$1" >"$TMP/make.log" 2>&1
}
# hrun CMD...: as lib.sh's run, on the host (sets RC, OUT, ERR)
hrun() {
	"$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(head -c 4000 "$TMP/out") ERR=$(head -c 4000 "$TMP/err")
}
files_in() { (cd "$1" && find . -type f -o -type l | sed 's|^\./||' | sort); }

# ---- install: the file list ----
make_dest install
RC=$? OUT="" ERR=$(tail -n 20 "$TMP/make.log")
check_rc "make install PREFIX=/usr DESTDIR=... exits 0" 0 || finish
want="etc/mptun/concentrator.yaml
etc/mptun/cpe.yaml
usr/bin/mptun-concentrator
usr/bin/mptun-cpe"
[ -x "$BUILD/mptunctl" ] && want+=$'\nusr/bin/mptunctl'
want+="
usr/lib/systemd/system/mptun-concentrator.service
usr/lib/systemd/system/mptun-cpe.service
usr/lib/sysusers.d/mptun.conf
usr/share/man/man5/mptun.yaml.5
usr/share/man/man8/mptun-concentrator.8
usr/share/man/man8/mptun-cpe.8
usr/share/man/man8/mptunctl.8
usr/share/mptun/examples/concentrator.yaml
usr/share/mptun/examples/cpe.yaml"
check_eq "installed files are exactly the expected list" \
	"$(files_in "$DEST")" "$(sort <<<"$want")"
check "installed binaries are the built ones" \
	cmp -s "$DEST/usr/bin/mptun-cpe" "$BUILD/mptun-cpe"
check "units name the installed binaries (@BINDIR@ filled in)" \
	eval "grep -q '^ExecStart=/usr/bin/mptun-cpe ' $UNITDIR/mptun-cpe.service &&
		grep -q '^ExecStart=/usr/bin/mptun-concentrator ' $UNITDIR/mptun-concentrator.service &&
		! grep -q @BINDIR@ $UNITDIR/*.service"
for f in concentrator cpe; do
	d=$([ $f = cpe ] && echo mptun-cpe || echo mptun-concentrator)
	hrun "$DEST/usr/bin/$d" -n -c "$DEST/etc/mptun/$f.yaml"
	check_rc "the installed example $f.yaml is valid ($d -n)" 0 '^configuration OK$'
done

# a second install keeps an operator's config
echo "# edited by the operator" >>"$DEST/etc/mptun/cpe.yaml"
make_dest install
RC=$? OUT="" ERR=$(tail -n 20 "$TMP/make.log")
check_rc "make install a second time exits 0" 0
check "a second install does not overwrite /etc/mptun/cpe.yaml" \
	grep -q '^# edited by the operator$' "$DEST/etc/mptun/cpe.yaml"

# ---- the units ----
if command -v systemd-analyze >/dev/null; then
	# Copies whose binaries point into $DEST, so that every path resolves
	# and the host's units (network-online.target...) are found;
	# Documentation= is checked against the installed man pages.
	mkdir "$TMP/verify"
	for u in mptun-concentrator mptun-cpe; do
		sed "s|=/usr/bin/|=$DEST/usr/bin/|" "$UNITDIR/$u.service" >"$TMP/verify/$u.service"
		hrun env MANPATH="$DEST/usr/share/man" \
			systemd-analyze verify "$TMP/verify/$u.service"
		check_rc "systemd-analyze verify $u.service: exit 0" 0
		check_eq "systemd-analyze verify $u.service: no complaint" "$OUT$ERR" ""
		systemd-analyze security --offline=yes "$TMP/verify/$u.service" 2>/dev/null |
			tail -n 1 | sed "s/^/    $u: /"
	done
else
	echo "SKIP: systemd-analyze verify (no systemd-analyze on this machine)"
fi

# ---- the user ----
SYSROOT=$TMP/sysroot
mkdir -p "$SYSROOT/etc"
if command -v systemd-sysusers >/dev/null; then
	hrun systemd-sysusers --root="$SYSROOT" "$DEST/usr/lib/sysusers.d/mptun.conf"
	check_rc "systemd-sysusers creates the user from mptun.conf" 0
else
	echo "SKIP: systemd-sysusers absent; user mptun made by hand for the runs below"
	echo 'mptun:x:999:999:mptun daemons:/:/usr/sbin/nologin' >"$SYSROOT/etc/passwd"
fi
read -r MUID MGID MSHELL < <(awk -F: '$1 == "mptun" { print $3, $4, $7 }' "$SYSROOT/etc/passwd")
check_range "user mptun is a system user (uid)" "${MUID:-}" 1 999
check "user mptun cannot log in (shell $MSHELL)" eval "[[ '$MSHELL' == */nologin ]]"

# ---- the man pages ----
for f in "$DEST"/usr/share/man/man?/*; do
	n=$(basename "$f")
	hrun groff -man -Tutf8 -ww -z "$f"
	check_eq "groff -man -ww $n: no warning" "$RC:$OUT$ERR" "0:"
	hrun env MANWIDTH=80 man -l "$f"
	check_rc "man -l $n: exit 0, nothing on stderr" 0 && check_eq "man -l $n: stderr" "$ERR" ""
	check "man -l $n renders from NAME to SEE ALSO" \
		eval "grep -q '^NAME' $TMP/out && grep -q '^SEE ALSO' $TMP/out"
done

# ---- running the daemons as their units do ----
# unit_values UNIT KEY: the unit's values of KEY, one per line, as systemd
# reads repeated keys (an empty assignment clears the list).
unit_values() {
	awk -v k="$2" 'index($0, k "=") == 1 {
		v = substr($0, length(k) + 2)
		if (v == "") { n = 0; next }
		list[n++] = v
	} END { for (i = 0; i < n; i++) print list[i] }' "$1"
}
# setpriv_caps "CAP_A CAP_B": "-all,+a,+b" (setpriv's form).
setpriv_caps() {
	local c out=-all
	for c in $1; do out+=",+$(tr 'A-Z' 'a-z' <<<"${c#CAP_}")"; done
	echo "$out"
}
# The sandbox: a mount namespace of the daemon's own in which the unit's
# file system settings are applied, then setpriv.
cat >"$TMP/sandbox.sh" <<'EOF'
#!/bin/bash
# sandbox.sh UID GID CAPS RO_ROOT RO_PROCSYS "RW_PATHS" RUNDIR CMD...
set -e
uid=$1 gid=$2 caps=$3 ro_root=$4 ro_sys=$5 rw=$6 rundir=$7
shift 7
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
if [ -n "$rundir" ]; then
	mkdir -m 0750 "/run/$rundir"
	chown "$uid:$gid" "/run/$rundir"
fi
# udev makes /dev/net/tun 0666 on a systemd host; a machine without udev
# may have 0600: the sandbox gets a 0666 node of its own then.
if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
	mkdir /run/.dev
	mount -t tmpfs -o mode=0755 tmpfs /run/.dev
	mknod -m 0666 /run/.dev/tun c 10 200
	mount --bind /run/.dev/tun /dev/net/tun
fi
[ "$ro_root" = yes ] && mount -o remount,bind,ro /
if [ "$ro_sys" = yes ]; then
	mount --bind /proc/sys /proc/sys
	mount -o remount,bind,ro /proc/sys
fi
for p in $rw; do
	case $p in /proc/sys/*) mount --bind "$p" "$p"; mount -o remount,bind,rw "$p" ;; esac
done
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps="$caps" \
	--ambient-caps="$caps" --bounding-set="$caps" --no-new-privs -- "$@"
EOF
chmod +x "$TMP/sandbox.sh"

# unit_start UNIT NS CONFIG LOG [CAPS]: starts the unit's daemon in NS with
# CONFIG as the unit does (CAPS instead of the unit's own, for the checks
# that fewer fail); pid in $UPID. stderr (LOG) is announced as the journal.
unit_start() {
	local unit=$1 ns=$2 cfg=$3 log=$4 caps pre exec ro_root=no ro_sys=no
	local amb bnd
	amb=$(unit_values "$unit" AmbientCapabilities | tr '\n' ' ')
	bnd=$(unit_values "$unit" CapabilityBoundingSet | tr '\n' ' ')
	caps=${5:-$(setpriv_caps "$amb")}
	[ "$(unit_values "$unit" ProtectSystem)" = strict ] && ro_root=yes
	[ "$(unit_values "$unit" ProtectKernelTunables)" = yes ] && ro_sys=yes
	while read -r pre; do
		[ -n "$pre" ] || continue
		ip netns exec "$ns" bash -c "${pre//\$\$/\$}" ||
			fail "$(basename "$unit"): ExecStartPre=+${pre} failed"
	done < <(unit_values "$unit" ExecStartPre | sed -n 's/^+//p')
	# ExecStart with the binary under $DEST and the test's config
	exec=$(unit_values "$unit" ExecStart | sed -e "s|^/usr/bin/|$DEST/usr/bin/|" \
		-e "s| -c [^ ]*| -c $cfg|")
	: >"$log"
	JOURNAL_STREAM=$(stat -c %d:%i "$log") ip netns exec "$ns" \
		unshare --mount --propagation slave "$TMP/sandbox.sh" "$MUID" "$MGID" \
		"$caps" "$ro_root" "$ro_sys" "$(unit_values "$unit" ReadWritePaths | tr '\n' ' ')" \
		"$(unit_values "$unit" RuntimeDirectory)" $exec >"$log" 2>&1 &
	UPID=$!
	PIDS+=("$UPID")
	UNIT_AMB=$amb UNIT_BND=$bnd
}
# proc_field PID FIELD: a field of /proc/PID/status
proc_field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
# cap_mask "CAP_A CAP_B": the hex mask /proc/PID/status shows
cap_mask() {
	local c m=0 n
	for c in $1; do
		n=$(awk -v c="$c" '$1 == "#define" && $2 == c { print $3 }' \
			/usr/include/linux/capability.h)
		m=$((m | (1 << n)))
	done
	printf '%016x\n' "$m"
}
# wait_log LOG PATTERN PID: until LOG matches or PID exits (10 s)
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -Eq "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# daemon_ok NAME PID: the checks on a daemon started by unit_start
daemon_ok() {
	local name=$1 pid=$2
	check_eq "$name runs as user mptun (real, effective, saved uid)" \
		"$(proc_field "$pid" Uid | awk '{ print $1, $2, $3 }')" "$MUID $MUID $MUID"
	check_eq "$name: effective capabilities are the unit's ($UNIT_AMB)" \
		"$(proc_field "$pid" CapEff)" "$(cap_mask "$UNIT_AMB")"
	check_eq "$name: bounding set is the unit's ($UNIT_BND)" \
		"$(proc_field "$pid" CapBnd)" "$(cap_mask "$UNIT_BND")"
	check_eq "$name: no_new_privs" "$(proc_field "$pid" NoNewPrivs)" 1
	check "$name logs with journald priority prefixes (<6>)" \
		grep -q '^<6>' "$TMP/$name.log"
	check "$name: no line in the plain format (info: ...)" \
		eval "! grep -q '^info: ' $TMP/$name.log"
}

cpe_topo_up
# the daemons, as user mptun, read their configs from here
chmod 0711 "$TMP"
CONC_UNIT=$UNITDIR/mptun-concentrator.service CPE_UNIT=$UNITDIR/mptun-cpe.service

# ---- the concentrator ----
conc_config_cpe >"$TMP/conc.yaml"
check_eq "a fresh namespace has net.ipv4.tcp_fastopen 1 (client side only)" \
	"$(ip netns exec "$CONC" sysctl -n net.ipv4.tcp_fastopen)" 1
# without the unit's ExecStartPre the daemon cannot set the sysctl
sed '/^ExecStartPre=/d' "$CONC_UNIT" >"$TMP/conc-nopre.service"
unit_start "$TMP/conc-nopre.service" "$CONC" "$TMP/conc.yaml" "$TMP/conc-nopre.log"
wait "$UPID"
RC=$? OUT="" ERR=$(cat "$TMP/conc-nopre.log")
check_rc "without its ExecStartPre the sandboxed concentrator cannot set the TFO bit (exit 1)" \
	1 'cannot set net.ipv4.tcp_fastopen'

unit_start "$CONC_UNIT" "$CONC" "$TMP/conc.yaml" "$TMP/concentrator.log"
cpid=$UPID
check_eq "the unit's ExecStartPre set bit 0x2 of net.ipv4.tcp_fastopen" \
	"$(ip netns exec "$CONC" sysctl -n net.ipv4.tcp_fastopen)" 3
if wait_listen "$CONC" $CONC_PORT && wait_log "$TMP/concentrator.log" 'listening on' "$cpid"; then
	pass "the concentrator starts as its unit starts it"
	daemon_ok concentrator "$cpid"
	check_eq "the concentrator's threads have no capability either" \
		"$(cat /proc/"$cpid"/task/*/status | awk '/^CapEff:/ { print $2 }' | sort -u)" \
		"0000000000000000"
else
	fail "the concentrator did not start as its unit starts it; log:"
	tail -n 20 "$TMP/concentrator.log" | sed 's/^/    | /'
	finish
fi

# a Convert transfer through it, from the ISP1 namespace (an allowed client)
mkfile "$TMP/up.bin" 10M
bg "$SRV" sink socat -u TCP-LISTEN:9000,reuseaddr "OPEN:$TMP/srv-up.bin,creat,trunc"
sink=$BGPID
wait_listen "$SRV" 9000
tfo0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
ip netns exec "$ISP1" "$TC" "10.11.0.2:$CONC_PORT" "${SRV4[0]}:9000" <"$TMP/up.bin" \
	>/dev/null 2>"$TMP/err"
RC=$? OUT="" ERR=$(head -c 2000 "$TMP/err")
check_rc "10 MB through the sandboxed concentrator (Convert): client exits 0" 0
wait "$sink"
check_eq "10 MB through the sandboxed concentrator: sha256 equal at the server" \
	"$(sha "$TMP/srv-up.bin")" "$(sha "$TMP/up.bin")"
check_range "the Convert message rode in the SYN (TcpExtTCPFastOpenPassive delta)" \
	$(($(nstat_get "$CONC" TcpExtTCPFastOpenPassive) - tfo0)) 1 1
kill -HUP "$cpid"
check "SIGHUP (ExecReload) reloads the sandboxed concentrator" \
	wait_log "$TMP/concentrator.log" '^<6>reloaded ' "$cpid"
CONC_PID[main]=$cpid CONC_LOG[main]=$TMP/concentrator.log

# ---- the CPE ----
cpe_config >"$TMP/cpe.yaml"
CPE_TUN[main]=mptun0 CPE_TABLE[main]=7100 CPE_PRIO[main]=7100 CPE_LOG[main]=$TMP/mptun-cpe.log
# cpe_up LOG [CAPS]: start it; true once its TUN and capture rule exist
cpe_up() {
	local i
	unit_start "$CPE_UNIT" "$CPE" "$TMP/cpe.yaml" "$1" "${2:-}"
	for ((i = 0; i < 200; i++)); do
		kill -0 "$UPID" 2>/dev/null || return 1
		ip -n "$CPE" rule show pref 7101 | grep -q 'lookup 7100' && return 0
		sleep 0.05
	done
	return 1
}
CPE_CAPS=$(unit_values "$CPE_UNIT" AmbientCapabilities | tr ' ' '\n')
for c in $CPE_CAPS; do
	# one capability fewer: the daemon must fail, or the unit grants one
	# it does not need
	fewer=$(setpriv_caps "$(grep -vx "$c" <<<"$CPE_CAPS")")
	if cpe_up "$TMP/cpe-no-$c.log" "$fewer"; then
		sleep 3 # the paths' probes and endpoints
		if grep -Eq 'Operation not permitted|cannot' "$TMP/cpe-no-$c.log"; then
			pass "without $c the CPE does not work (it says: $(grep -Em1 'Operation not permitted|cannot' "$TMP/cpe-no-$c.log" | cut -c1-120))"
		else
			fail "without $c the CPE runs and says nothing wrong: is $c needed?"
		fi
		kill "$UPID"; wait "$UPID"
	else
		wait "$UPID"
		pass "without $c the CPE does not start (exit $?: $(grep -m1 -E '<3>' "$TMP/cpe-no-$c.log" | cut -c1-120))"
	fi
	# what a failed start left
	ip -n "$CPE" link del mptun0 2>/dev/null
done
ip netns exec "$CPE" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0

if cpe_up "$TMP/mptun-cpe.log"; then
	ppid=$UPID
	pass "the CPE starts as its unit starts it"
	daemon_ok mptun-cpe "$ppid"
else
	fail "the CPE did not start as its unit starts it; log:"
	tail -n 20 "$TMP/mptun-cpe.log" | sed 's/^/    | /'
	finish
fi
CPE_PID[main]=$ppid
check_eq "the CPE (CAP_NET_ADMIN, /proc/sys/net writable) turned forwarding on" \
	"$(ip netns exec "$CPE" sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding | tr '\n' ' ')" "1 1 "
check_eq "the CPE set its TUN's rp_filter to 0" \
	"$(ip netns exec "$CPE" sysctl -n net.ipv4.conf.mptun0.rp_filter)" 0
check "both paths come up (probes bound to their interface answered)" \
	eval "wait_log $TMP/mptun-cpe.log 'path wan1 up' $ppid &&
		wait_log $TMP/mptun-cpe.log 'path wan2 up' $ppid"
check_eq "the CPE installed an MPTCP endpoint per path" \
	"$(ip -n "$CPE" mptcp endpoint show | wc -l)" 2

mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 20M
srv_http 8080 "$TMP/www"
t0=$(tun_packets) mpc0=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX) j0=$(mp_joins)
run "$LAN" timeout 60 curl --noproxy '*' -sS --max-time 50 -o "$TMP/get.bin" \
	"http://${SRV4[0]}:8080/f.bin"
check_rc "curl through the sandboxed CPE and concentrator: exit 0" 0
check_eq "curl through both sandboxed daemons: 20 MB, sha256 equal" \
	"$(sha "$TMP/get.bin" 2>/dev/null)" "$(sha "$TMP/www/f.bin")"
check_range "the download went through the TUN (TUN packets)" $(($(tun_packets) - t0)) 100 100000000
check_range "and over MPTCP to the concentrator (MPCapableSYNRX)" \
	$(($(nstat_get "$CONC" MPTcpExtMPCapableSYNRX) - mpc0)) 1 1
check_range "with a second subflow over the other path (MP_JOIN SYNs)" $(($(mp_joins) - j0)) 1 100
kill -HUP "$ppid"
check "SIGHUP (ExecReload) reloads the sandboxed CPE" \
	wait_log "$TMP/mptun-cpe.log" '^<6>reloaded ' "$ppid"

cpe_stop main
cpe_check_clean main
conc_stop main

# ---- uninstall ----
make_dest uninstall
RC=$? OUT="" ERR=$(tail -n 20 "$TMP/make.log")
check_rc "make uninstall exits 0" 0
check_eq "after uninstall only the configs in /etc/mptun are left" \
	"$(files_in "$DEST")" "etc/mptun/concentrator.yaml
etc/mptun/cpe.yaml"
cpe_finish
