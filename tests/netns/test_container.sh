#!/bin/bash
# The concentrator's container image (container/Dockerfile) on the
# hybrid-access topology (lib_cpe.sh): the image is built with podman from a
# Debian bookworm base made here with debootstrap (no registry), run in the
# concentrator's namespace as compose.yaml runs it (no capabilities, read-only
# root, the TFO sysctl set by the runtime and only checked by the daemon),
# and a CPE's download of 10 MB goes through it, checked by sha256 and by the
# container's own counters (SIGUSR1, the control HTTP); the control socket
# reloads it through the /run/mptun volume. Its process must not be root;
# podman stop must end it with status 0; the image's own config must refuse
# to start without the sysctl and start with it.
#
# The base image stays in podman's storage as $BASE_IMG, labelled with the
# mirror and suite it came from, and is reused while they match; everything
# else this test makes (the concentrator image, containers, volumes) is
# removed on exit. Needs podman, runc, debootstrap and the Debian mirror of
# the machine's apt sources (skips without them). Prints each stage's time.
. "$(dirname "$0")/lib_cpe.sh"

REPO=$(cd "$NETNS_DIR/../.." && pwd)
SUITE=bookworm
BASE_IMG=localhost/mptun-test-debian:$SUITE
BASE_LABEL=org.mptun.test.base
IMG=localhost/mptun-test-concentrator:$PFX
CTR=mptun-test-$PFX
CTRS=()
PODMAN=(podman --runtime runc)
# podman's default crun and its default ulimits fail on some hosts; runc
# and explicit limits work wherever podman does.
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

for t in podman runc debootstrap; do
	command -v "$t" >/dev/null || { echo "SKIP $TNAME: no $t"; exit 77; }
done

# apt_mirror: the Debian mirror of this machine's apt sources (one-line
# .list and deb822 .sources): the first deb source of suite $SUITE, else
# the first whose path ends in /debian. Prints nothing if there is none.
apt_mirror() {
	local f
	{
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			awk '$1 == "deb" { i = 2
				if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
				print $i, $(i + 1) }' "$f"
		done
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			awk 'BEGIN { RS = ""; FS = "\n" }
			{	types = uris = suites = ""; on = 1
				for (j = 1; j <= NF; j++) {
					if ($j ~ /^#/) continue
					k = tolower($j); sub(/:.*/, "", k)
					v = $j; sub(/^[^:]*:[ \t]*/, "", v)
					if (k == "types") types = v
					else if (k == "uris") uris = v
					else if (k == "suites") suites = v
					else if (k == "enabled" && tolower(v) == "no") on = 0
				}
				if (!on || (" " types " ") !~ / deb /) next
				nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
				for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print u[a], s[b]
			}' "$f"
		done
	} | awk -v suite="$SUITE" '$2 == suite && !m { m = $1 }
		$1 ~ /\/debian\/?$/ && !a { a = $1 }
		END { r = m ? m : a; sub(/\/$/, "", r); print r }'
}

MIRROR=$(apt_mirror)
[ -n "$MIRROR" ] || { echo "SKIP $TNAME: no Debian mirror in the apt sources"; exit 77; }
curl -fsS --max-time 15 -o /dev/null "$MIRROR/dists/$SUITE/Release" ||
	{ echo "SKIP $TNAME: the Debian mirror of the apt sources does not answer"; exit 77; }
BASE_ID="$MIRROR $SUITE minbase v1"

# Containers and the image go before lib.sh's cleanup deletes the
# namespaces they use; so do mounts debootstrap may have left in $TMP.
# podman takes a while: a TERM (the suite's timeout) must not cut it short.
ctr_cleanup() {
	local rc=$? c m
	trap '' INT TERM
	for c in "${CTRS[@]}"; do
		"${PODMAN[@]}" rm -f -v -t 0 "$c" >/dev/null 2>&1
	done
	# a build cut short leaves its working containers (on the base image)
	if [ -n "${BUILD_PRE+set}" ]; then
		for c in $(ext_ctrs); do
			grep -qx "$c" <<<"$BUILD_PRE" || "${PODMAN[@]}" rm -f "$c" >/dev/null 2>&1
		done
	fi
	"${PODMAN[@]}" rmi -f "$IMG" >/dev/null 2>&1
	for m in $(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m"
	done
	return $rc
}
trap 'ctr_cleanup; cleanup' EXIT

T_STAGE=$(date +%s%N) T_START=$T_STAGE
# stage_done WHAT: prints how long the stage since the last one took.
stage_done() {
	local now ms
	now=$(date +%s%N)
	ms=$(((now - T_STAGE) / 1000000))
	printf 'time: %s: %d.%d s\n' "$1" $((ms / 1000)) $((ms % 1000 / 100))
	T_STAGE=$now
}
# ctr_log NAME: the container's output so far
ctr_log() { "${PODMAN[@]}" logs "$1" 2>&1; }
ctr_log_tail() { ctr_log "$1" | tail -n "${2:-20}" | sed 's/^/    | /'; }

# ---- the base image: debootstrap once, then reused from podman's storage ----
have=$("${PODMAN[@]}" image inspect --format "{{index .Labels \"$BASE_LABEL\"}}" \
	"$BASE_IMG" 2>/dev/null)
if [ "$have" = "$BASE_ID" ]; then
	echo "base image $BASE_IMG reused ($BASE_ID)"
else
	echo "making base image $BASE_IMG: debootstrap $SUITE from $MIRROR"
	# one made another way would stay behind untagged
	"${PODMAN[@]}" rmi "$BASE_IMG" >/dev/null 2>&1
	if ! debootstrap --variant=minbase "$SUITE" "$TMP/rootfs" "$MIRROR" \
		>"$TMP/debootstrap.log" 2>&1; then
		tail -n 20 "$TMP/debootstrap.log"
		echo "$TNAME: debootstrap failed" >&2
		exit 1
	fi
	# the image's apt fetches fresh lists; the downloaded .debs are spent
	rm -rf "$TMP/rootfs/var/cache/apt/archives/"*.deb "$TMP/rootfs/var/lib/apt/lists/"*
	if ! tar -C "$TMP/rootfs" --numeric-owner -c . |
		"${PODMAN[@]}" import --change "LABEL $BASE_LABEL=\"$BASE_ID\"" - "$BASE_IMG" \
			>"$TMP/import.log" 2>&1; then
		cat "$TMP/import.log"
		echo "$TNAME: podman import failed" >&2
		exit 1
	fi
	rm -rf "$TMP/rootfs"
fi
check_eq "base image $BASE_IMG is labelled with its mirror and suite" \
	"$("${PODMAN[@]}" image inspect --format "{{index .Labels \"$BASE_LABEL\"}}" \
		"$BASE_IMG" 2>/dev/null)" "$BASE_ID"
stage_done "base image"

# ---- the concentrator image, from container/Dockerfile ----
# the build's own containers, and those there before it
ext_ctrs() {
	"${PODMAN[@]}" ps -a --external --filter "ancestor=$BASE_IMG" --format '{{.ID}}'
}
BUILD_PRE=$(ext_ctrs)
if ! "${PODMAN[@]}" build --pull=never --layers=false --force-rm --network host \
	"${ULIMITS[@]}" --build-arg "BASE=$BASE_IMG" -f "$REPO/container/Dockerfile" \
	-t "$IMG" "$REPO" >"$TMP/build.log" 2>&1; then
	fail "podman build of container/Dockerfile; its log ends:"
	tail -n 30 "$TMP/build.log" | sed 's/^/    | /'
	finish
fi
pass "podman build of container/Dockerfile"
USER_IMG=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMG")
UID_IMG=${USER_IMG%%:*}
check "the image's USER is a numeric uid other than 0 ($USER_IMG)" \
	eval "[[ '$UID_IMG' =~ ^[0-9]+$ ]] && [ '$UID_IMG' != 0 ]"
stage_done "concentrator image"

# ---- the container in the concentrator's namespace ----
cpe_topo_up
mkdir "$TMP/www"
mkfile "$TMP/www/f.bin" 10M
srv_http 8080 "$TMP/www"
# readable by the container's user only, as the README asks; the control
# interface as in the image's config
conc_config_cpe tfo=require ctl_http='[::]:9470' ctl_socket=/run/mptun/concentrator.sock \
	>"$TMP/conc.yaml"
chown "$USER_IMG" "$TMP/conc.yaml"
chmod 600 "$TMP/conc.yaml"
stage_done "topology"

# run_ctr NAME NS [ARGS...]: the image as compose.yaml runs it, in NS,
# detached; ARGS go before the image (more mounts, the sysctl).
run_ctr() {
	local name=$1 ns=$2
	shift 2
	CTRS+=("$name")
	"${PODMAN[@]}" run -d --name "$name" --network "ns:/run/netns/$ns" "${ULIMITS[@]}" \
		--cap-drop ALL --security-opt no-new-privileges --read-only -v /run/mptun \
		"$@" "$IMG" >"$TMP/run.out" 2>&1
}
run_ctr "$CTR" "$CONC" --sysctl net.ipv4.tcp_fastopen=3 --sysctl net.mptcp.enabled=1 \
	-v "$TMP/conc.yaml:/etc/mptun/concentrator.yaml:ro"
rc=$?
if [ $rc != 0 ] || ! wait_listen "$CONC" "$CONC_PORT" 10; then
	fail "container $CTR listens on port $CONC_PORT in the conc namespace; podman:"
	sed 's/^/    | /' "$TMP/run.out"
	ctr_log_tail "$CTR"
	finish
fi
pass "container $CTR listens on port $CONC_PORT in the conc namespace"
PID=$("${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$CTR")
check_eq "its process is in the test's conc namespace (netns inode)" \
	"$(stat -L -c %i "/proc/$PID/ns/net" 2>/dev/null)" "$(stat -L -c %i "/run/netns/$CONC")"
check_eq "its process is mptun-concentrator" "$(cat "/proc/$PID/comm" 2>/dev/null)" \
	mptun-concentra
check_eq "its process runs as uid $UID_IMG (real, effective, saved, fs), not root" \
	"$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$PID/status")" \
	"$UID_IMG $UID_IMG $UID_IMG $UID_IMG"
check_eq "its process has no capabilities (CapEff, CapPrm)" \
	"$(awk '$1 == "CapEff:" || $1 == "CapPrm:" { printf "%s ", $2 }' "/proc/$PID/status")" \
	"0000000000000000 0000000000000000 "
check_eq "the runtime set net.ipv4.tcp_fastopen=3 in the conc namespace" \
	"$(ip netns exec "$CONC" sysctl -n net.ipv4.tcp_fastopen)" 3
check "the daemon only checked the sysctl (no 'set net.ipv4.tcp_fastopen' in its log)" \
	eval "! ctr_log '$CTR' | grep -q 'set net.ipv4.tcp_fastopen'"
stage_done "container start"

# ---- a CPE download through it ----
cpe_start main "$(cpe_config)" || cpe_finish
mpc0=$(nstat_get "$CONC" MPTcpExtMPCapableSYNRX)
run "$LAN" timeout 60 curl --noproxy '*' -sS --max-time 30 -o "$TMP/get.bin" \
	"http://${SRV4[0]}:8080/f.bin"
check_rc "curl http://${SRV4[0]}:8080/f.bin from lan: exit 0" 0
check_eq "10 MB download through the container: sha256 equal" \
	"$(sha "$TMP/get.bin" 2>/dev/null)" "$(sha "$TMP/www/f.bin")"
check_range "it reached the container's listener over MPTCP (MPCapableSYNRX in conc ns)" \
	$(($(nstat_get "$CONC" MPTcpExtMPCapableSYNRX) - mpc0)) 1 1
# the container's counters: SIGUSR1 through podman
n0=$(ctr_log "$CTR" | grep -c ' counters:')
"${PODMAN[@]}" kill --signal USR1 "$CTR" >/dev/null
for ((i = 0; i < 60; i++)); do
	[ "$(ctr_log "$CTR" | grep -c ' counters:')" -gt "$n0" ] && break
	sleep 0.05
done
down=$(ctr_log "$CTR" | grep ' counters:' | tail -n 1 | tr ' ' '\n' |
	awk -F= '$1 == "bytes_down" { print $2 }')
check_range "the container's concentrator relayed the 10 MB (counters bytes_down after SIGUSR1)" \
	"${down:-none}" 10485760 20000000

# the control interface: HTTP in the namespace, the socket through the volume
# jget FILE KEY.KEY...: a value of the JSON in FILE
jget() {
	python3 -c 'import functools, json, sys
print(functools.reduce(lambda o, k: o[k], sys.argv[2].split("."), json.load(open(sys.argv[1]))))' \
		"$1" "$2" 2>/dev/null
}
ip netns exec "$CONC" curl -sS --max-time 5 -o "$TMP/status.json" http://127.0.0.1:9470/status
check_eq "GET /status from the container's control HTTP (9470 in conc ns): daemon" \
	"$(jget "$TMP/status.json" daemon)" mptun-concentrator
check_range "GET /status: bytes.down counts the 10 MB" \
	"$(jget "$TMP/status.json" bytes.down)" 10485760 20000000
RUNDIR=$("${PODMAN[@]}" inspect --format \
	'{{range .Mounts}}{{if eq .Destination "/run/mptun"}}{{.Source}}{{end}}{{end}}' "$CTR")
check_eq "the control socket in the /run/mptun volume: uid $UID_IMG, mode 660" \
	"$(stat -c '%u %a' "$RUNDIR/concentrator.sock" 2>/dev/null)" "$UID_IMG 660"
# relative: the volume's path is longer than a socket address holds
(cd "$RUNDIR" && curl -sS --max-time 5 --unix-socket concentrator.sock -X POST \
	-o "$TMP/reload.json" http://mptun/reload)
check_eq "POST /reload on the control socket from the host: ok (the mounted file read again)" \
	"$(jget "$TMP/reload.json" ok)" True
cpe_stop main
# The CPE leaves SYN data off by default (README, known kernel issues): the
# test client sends its Convert message in the SYN, from isp1 (a client in
# clients.allow), which the listener takes only with the runtime's sysctl.
srv_echo 9002
tfo0=$(nstat_get "$CONC" TcpExtTCPFastOpenPassive)
run "$ISP1" "$TC" --timeout 10 "$CONC_ADDR:$CONC_PORT" "${SRV4[0]}:9002" <<<hello
check_rc "Convert from isp1 through the container: the echo answers" 0 '^hello$'
check_range "its Convert message was taken from the SYN (TCPFastOpenPassive in conc ns)" \
	$(($(nstat_get "$CONC" TcpExtTCPFastOpenPassive) - tfo0)) 1 1
stage_done "transfers through the container"

# ---- podman stop: SIGTERM to the daemon, a drain, exit 0 ----
"${PODMAN[@]}" stop -t 20 "$CTR" >/dev/null 2>&1
check_eq "podman stop: the container exited with status 0" \
	"$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$CTR")" 0
check "podman stop: the daemon logged 'stopped'" \
	eval "ctr_log '$CTR' | grep -q 'info: stopped'"
check_eq "after stop: nothing listens on port $CONC_PORT in the conc namespace" \
	"$(ip netns exec "$CONC" ss -Hltn "sport = :$CONC_PORT")" ""
stage_done "container stop"

# ---- the image's own config, in a fresh namespace ----
# It only checks the sysctl: without the runtime's setting (a fresh
# namespace has 1) it must refuse and say what to set; with it, listen.
ns_add "$PFX-c2"
run_ctr "$CTR-nosysctl" "$PFX-c2"
"${PODMAN[@]}" wait "$CTR-nosysctl" >"$TMP/wait.out" 2>&1
check_eq "image's config, no sysctl: the container exits with status 1" "$(cat "$TMP/wait.out")" 1
check "image's config, no sysctl: the log names net.ipv4.tcp_fastopen" \
	eval "ctr_log '$CTR-nosysctl' | grep -q 'net.ipv4.tcp_fastopen is 1'"
run_ctr "$CTR-default" "$PFX-c2" --sysctl net.ipv4.tcp_fastopen=3
if wait_listen "$PFX-c2" 5124 10; then
	pass "image's config, with the sysctl: listens on 5124"
	ip netns exec "$PFX-c2" curl -sS --max-time 5 -o "$TMP/status2.json" \
		"http://[::1]:9470/status"
	check_eq "image's config: the control HTTP answers on every address ([::1]:9470)" \
		"$(jget "$TMP/status2.json" daemon)" mptun-concentrator
else
	fail "image's config, with the sysctl: listens on 5124; log:"
	ctr_log_tail "$CTR-default"
fi
stage_done "image's own config"
T_STAGE=$T_START
stage_done "total"
cpe_finish
