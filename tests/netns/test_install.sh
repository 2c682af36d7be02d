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
# The sandbox does not reproduce the seccomp filter, RestrictAddressFamilies,
# MemoryDenyWriteExecute, PrivateTmp or PrivateDevices: where systemd-nspawn
# is installed, the units also run under systemd itself, in a container.
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
conc_config_cpe ctl_socket=/run/mptun/concentrator.sock >"$TMP/conc.yaml"
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
cpe_config ctl_socket=/run/mptun/cpe.sock >"$TMP/cpe.yaml"
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

# ---- under systemd itself ----
# Where systemd-nspawn is (Debian: systemd-container), the host's own tree,
# under an overlay that takes every write, boots in a container with a
# network of its own; the units run there as systemd runs them, seccomp
# filter, address families and device policy included, and a LAN host's
# transfer crosses the CPE and the concentrator (in a network namespace
# of its own through a drop-in) to a server.
NSP=$TMP/nspawn NSP_PID= NSP_INIT=
nspawn_cleanup() {
	[ -n "$NSP_PID" ] && kill -0 "$NSP_PID" 2>/dev/null && {
		[ -n "$NSP_INIT" ] && nsenter -t "$NSP_INIT" -a systemctl poweroff 2>/dev/null
		for ((i = 0; i < 100; i++)); do kill -0 "$NSP_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$NSP_PID" 2>/dev/null
	}
	mountpoint -q "$NSP/m" && umount -l "$NSP/m"
	return 0
}
trap 'rc=$?; nspawn_cleanup; (exit $rc); cleanup' EXIT
# inside CMD: a shell command in the container (sets RC, OUT, ERR)
inside() { hrun nsenter -t "$NSP_INIT" -a sh -c "$1"; }
nspawn_boot() {
	local i st
	mkdir -p "$NSP"/{u,w,m}
	mount -t overlay overlay -o "lowerdir=/,upperdir=$NSP/u,workdir=$NSP/w" "$NSP/m" ||
		return 1
	DEST=$NSP/m make_dest install || return 1
	systemd-sysusers --root="$NSP/m" "$NSP/m/usr/lib/sysusers.d/mptun.conf" >/dev/null || return 1
	mkdir -p "$NSP/m/root/t"
	cp "$TC" "$TMP/up.bin" "$NSP/m/root/t/"
	# basic.target: none of the host's own services; ours are started below
	systemd-nspawn --quiet --keep-unit --register=no --private-network \
		-D "$NSP/m" -b -- systemd.unit=basic.target >"$TMP/nspawn.log" 2>&1 &
	NSP_PID=$!
	for ((i = 0; i < 600; i++)); do
		NSP_INIT=$(pgrep -P "$NSP_PID" | head -n 1)
		if [ -n "$NSP_INIT" ]; then
			st=$(nsenter -t "$NSP_INIT" -a systemctl is-system-running 2>/dev/null)
			case $st in running | degraded) return 0 ;; esac
		fi
		kill -0 "$NSP_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
if ! command -v systemd-nspawn >/dev/null; then
	echo "SKIP: the units under systemd (no systemd-nspawn: Debian package systemd-container)"
elif ! nspawn_boot; then
	fail "systemd did not boot in a container; log:"
	tail -n 20 "$TMP/make.log" "$TMP/nspawn.log" | sed 's/^/    | /'
else
	pass "systemd boots in a container (systemd-nspawn, the host's tree under an overlay)"
	mkdir -p "$NSP/m/etc/systemd/system/mptun-concentrator.service.d"
	printf '[Service]\nNetworkNamespacePath=/run/netns/conc\n' \
		>"$NSP/m/etc/systemd/system/mptun-concentrator.service.d/netns.conf"
	if [ -n "$SAN" ]; then # LeakSanitizer would need ptrace, which the filter refuses
		for u in mptun-concentrator mptun-cpe; do
			mkdir -p "$NSP/m/etc/systemd/system/$u.service.d"
			printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
				>"$NSP/m/etc/systemd/system/$u.service.d/asan.conf"
		done
	fi
	printf 'clients:\n  allow: [10.99.0.0/24]\negress:\n  allow: [10.98.0.0/24]\n' \
		>"$NSP/m/etc/mptun/concentrator.yaml"
	printf 'lan:\n  interfaces: [lan0]\nconcentrator:\n  address: "10.99.0.1:5124"\npaths:\n  - interface: v0\n    gateway: 10.99.0.1\n' \
		>"$NSP/m/etc/mptun/cpe.yaml"
	# lan (192.168.77.2) - CPE: lan0, v0 (10.99.0.2) - conc: c0 (.1), s0
	# (10.98.0.1) - srv (10.98.0.2). udev's 0666 on /dev/net/tun too.
	inside 'set -e
		chmod 0666 /dev/net/tun
		for n in lan conc srv; do ip netns add $n; ip -n $n link set lo up; done
		ip link add lan0 type veth peer name eth0 netns lan
		ip link add v0 type veth peer name c0 netns conc
		ip -n conc link add s0 type veth peer name eth0 netns srv
		ip addr add 192.168.77.1/24 dev lan0; ip link set lan0 up
		ip addr add 10.99.0.2/24 dev v0; ip link set v0 up
		ip -n lan addr add 192.168.77.2/24 dev eth0; ip -n lan link set eth0 up
		ip -n lan route add default via 192.168.77.1
		ip -n conc addr add 10.99.0.1/24 dev c0; ip -n conc link set c0 up
		ip -n conc addr add 10.98.0.1/24 dev s0; ip -n conc link set s0 up
		ip -n srv addr add 10.98.0.2/24 dev eth0; ip -n srv link set eth0 up
		ip -n srv route add default via 10.98.0.1
		ip netns exec conc sysctl -qw net.ipv4.ip_forward=1
		sysctl -qw net.ipv4.ip_forward=0
		systemctl daemon-reload'
	check_rc "the container's network (lan, CPE, conc, srv)" 0
	# Type=simple: active at the fork; ready once they log so
	inside 'systemctl start mptun-concentrator && systemctl start mptun-cpe || exit 1
		for i in $(seq 100); do
			journalctl -u mptun-concentrator -o cat | grep -q "listening on" &&
				journalctl -u mptun-cpe -o cat | grep -q "capturing TCP" && break
			sleep 0.1
		done
		systemctl is-active mptun-concentrator mptun-cpe'
	check_rc "under systemd both units start, get ready and stay active" 0
	for u in mptun-concentrator mptun-cpe; do
		inside "grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' \
			/proc/\$(systemctl show -p MainPID --value $u)/status"
		mask=$(cap_mask "$(unit_values "$UNITDIR/$u.service" AmbientCapabilities)")
		uid=$(awk -F: '$1 == "mptun" { print $3 }' "$NSP/m/etc/passwd")
		check_eq "under systemd $u runs as mptun with the unit's capabilities, no_new_privs and a seccomp filter" \
			"$(awk '{ print $1, $2 }' <<<"$OUT" | tr '\n' ' ')" \
			"Uid: $uid CapEff: $mask CapBnd: $mask NoNewPrivs: 1 Seccomp: 2 "
	done
	inside 'ip netns exec conc cat /proc/sys/net/ipv4/tcp_fastopen
		cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/mptun0/rp_filter'
	check_eq "under systemd: TFO bit set by ExecStartPre=+; forwarding and the TUN's rp_filter by the CPE" \
		"$(echo $OUT)" "3 1 0"
	inside 'for i in $(seq 100); do
		journalctl -u mptun-cpe -o cat | grep -q "path v0 up" && exit 0; sleep 0.1; done; exit 1'
	check_rc "under systemd the CPE's path comes up (its probe, bound to v0, answered)" 0
	inside '(ip netns exec srv socat -u TCP-LISTEN:9001,reuseaddr OPEN:/root/t/srv.bin,creat,trunc &)
		for i in $(seq 50); do ip netns exec srv ss -Hltn "sport = :9001" | grep -q . && break; sleep 0.1; done
		ip netns exec lan timeout 60 /root/t/mptun-testclient --mode direct --tcp - 10.98.0.2:9001 </root/t/up.bin
		for i in $(seq 50); do [ "$(stat -c %s /root/t/srv.bin)" = "$(stat -c %s /root/t/up.bin)" ] && break; sleep 0.1; done'
	check_rc "under systemd: 10 MB from a LAN host through CPE and concentrator, client exits 0" 0
	check_eq "under systemd: 10 MB through both daemons, sha256 equal" \
		"$(sha "$NSP/m/root/t/srv.bin" 2>/dev/null)" "$(sha "$TMP/up.bin")"
	inside 'journalctl -u mptun-concentrator -o json | grep -c "\"PRIORITY\":\"6\".*listening on\|listening on.*\"PRIORITY\":\"6\""'
	check_eq "under systemd the journal has the concentrator's lines at priority 6 (info)" "$OUT" 1
	inside 'systemctl stop mptun-cpe mptun-concentrator; ip link show mptun0 >/dev/null 2>&1 && exit 1
		ip rule | grep -q "proto 254" && exit 1
		systemctl is-failed mptun-cpe mptun-concentrator; exit 0'
	check_eq "under systemd both stop cleanly (no TUN, no rule left, not failed)" "$RC:$(echo $OUT)" "0:inactive inactive"
	nspawn_cleanup
	DEST=$TMP/dest
fi

# ---- uninstall ----
make_dest uninstall
RC=$? OUT="" ERR=$(tail -n 20 "$TMP/make.log")
check_rc "make uninstall exits 0" 0
check_eq "after uninstall only the configs in /etc/mptun are left" \
	"$(files_in "$DEST")" "etc/mptun/concentrator.yaml
etc/mptun/cpe.yaml"
cpe_finish
