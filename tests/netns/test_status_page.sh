#!/bin/bash
# The CPE's status page (GET / on control.http) in headless Chromium, run
# in the CPE's namespace and kept open while the world changes (lib_cpe.sh
# topology, two paths, a download running): the daemon serves the page's
# three files as they are in web/; the page shows the paths of /status with
# their state in words, rates from real counters and the download in its
# flows table; when wan1 goes dead the open page turns wan1 DOWN and keeps
# wan2 UP; when the daemon stops it says "daemon unreachable". Screenshots
# (PNG) and the final DOM go to BUILD_DIR/artifacts/.
. "$(dirname "$0")/lib_cpe.sh"

CHROMIUM=${CHROMIUM:-chromium}
command -v "$CHROMIUM" >/dev/null ||
	{ echo "SKIP $TNAME: no $CHROMIUM (scripts/debian-packages has it)"; exit 77; }
CTL=127.0.0.1:9471
URL=http://$CTL
ART=$BUILD/artifacts
DST=${SRV4[0]}:8080
mkdir -p "$ART"

cpe_topo_up
daemon_checks "status page" || finish
cpe_conc_up || cpe_finish
cpe_start main "$(cpe_config ctl_http=$CTL)" || cpe_finish
wait_listen "$CPE" 9471 || { fail "control.http: nothing listens on $CTL"; cpe_finish; }

# ---- the files, as built in ----
# get PATH: curl in the CPE's namespace; body in $TMP/body, "CODE TYPE" out
get() {
	ip netns exec "$CPE" curl -s -o "$TMP/body" -w '%{http_code} %{content_type}' \
		--max-time 5 "$URL$1"
}
for f in /:index.html:'text/html; charset=utf-8' \
	/app.js:app.js:'text/javascript; charset=utf-8' \
	/style.css:style.css:'text/css; charset=utf-8'; do
	IFS=: read -r path file type <<<"$f"
	check_eq "GET $path: 200, Content-Type $type" "$(get "$path")" "200 $type"
	check "GET $path: the bytes of web/$file" cmp -s "$TMP/body" "$NETNS_DIR/../../web/$file"
done
check_eq "GET /index.html: 404 (the page is /)" "$(get /index.html | cut -d' ' -f1)" 404
check_eq "POST /: 405" "$(ip netns exec "$CPE" curl -s -o /dev/null -w '%{http_code}' \
	--max-time 5 -X POST "$URL/")" 405

# ---- a download on both links ----
mkdir "$TMP/www"
mkfile "$TMP/www/150M" 150M
srv_http 8080 "$TMP/www"
wan_shape 1 8mbit # 150 MB last longer than the test
wan_shape 2 8mbit
bg "$LAN" fetch timeout 200 "$FETCH" "${SRV4[0]}" 8080 /150M
FETCH_PID=$BGPID

# ---- the page, open in Chromium ----
# cdp_page.py keeps the page open and answers one line per command
# (page CMD...: the answer in $ANS; 1 if the driver said nothing in 60 s).
# Everything Chromium writes stays in $TMP.
mkdir -p "$TMP/home"
coproc PAGE { exec ip netns exec "$CPE" env HOME="$TMP/home" TMPDIR="$TMP/home" \
	XDG_CONFIG_HOME="$TMP/home/.config" XDG_CACHE_HOME="$TMP/home/.cache" \
	python3 "$NETNS_DIR/cdp_page.py" "$URL/" "$CHROMIUM" --headless \
	--no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--disable-dev-shm-usage --hide-scrollbars --user-data-dir="$TMP/chromium" \
	2>"$TMP/chromium.log"; }
PIDS+=("$PAGE_PID")
exec {PAGE_IN}>&"${PAGE[1]}" {PAGE_OUT}<&"${PAGE[0]}"
ANS=
page() {
	ANS=
	echo "$*" 1>&"$PAGE_IN" 2>/dev/null || return 1
	read -r -t 60 ANS <&"$PAGE_OUT"
}
if ! read -r -t 60 ANS <&"$PAGE_OUT" || [ "$ANS" != ready ]; then
	fail "chromium did not open $URL/ (${ANS:-no answer}); its log:"
	tail -n 20 "$TMP/chromium.log" | sed 's/^/    | /'
	cpe_finish
fi
# what the page shows: "NAME=STATE/BADGE-TEXT ..." in page order
SHOWN="[...document.querySelectorAll('#paths [data-path]')].map(e => e.dataset.path + '=' + e.dataset.state + '/' + e.querySelector('.badge-text').textContent).join(' ')"
shown() { page eval "$SHOWN" && jq -r . <<<"$ANS"; }
# what the daemon says, in the same form
daemon_paths() {
	ip netns exec "$CPE" curl -s --max-time 5 "$URL/status" |
		jq -r '[(.paths // [])[] | "\(.name)=\(.state)/\(.state | ascii_upcase)"] | join(" ")'
}
# png FILE WIDTH DESC: a screenshot into FILE, checked to be a PNG of the
# page at that width
png() {
	local sig width
	page screenshot "$1"
	sig=$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')
	width=$(od -An -tu1 -j 16 -N 4 "$1" 2>/dev/null |
		awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
	check_eq "$3: a PNG (signature)" "$sig" 89504e470d0a1a0a
	check_range "$3: PNG bytes" "$(stat -c %s "$1" 2>/dev/null)" 20000 20000000
	check_eq "$3: PNG width (the viewport's)" "$width" "$2"
	echo "screenshot: $1"
}

page wait 20 "document.body.dataset.conn === 'ok' && +document.body.dataset.polls >= 3"
check_eq "page: live, polling /status" "$ANS" ok
page wait 10 "document.querySelectorAll('#paths [data-path]').length === 2"
check_eq "page: two path cards" "$ANS" ok
want=$(daemon_paths)
check_eq "the daemon: wan1 and wan2 up" "$want" "wan1=up/UP wan2=up/UP"
check_eq "page: the paths of /status (names, state, badge)" "$(shown)" "$want"
page eval "document.getElementById('paths-up').textContent"
check_eq "page: paths up 2 of 2" "$ANS" '"2 of 2"'
page wait 30 "[...document.querySelectorAll('[data-path]')].some(e => +e.dataset.rxBps > 1000000)"
check_eq "page: a path's download rate above 1 Mbit/s (from its byte counters)" "$ANS" ok
page wait 15 "[...document.querySelectorAll('#flows-body tr')].some(r => r.dataset.destination === '$DST' && r.cells[1].textContent === '$DST')"
check_eq "page: the flows table lists the download to $DST" "$ANS" ok
sleep 12 # the graphs gain some history
png "$ART/status-page-up.png" 1280 "screenshot, both paths up"

# ---- wan1 dead ----
from=$(cpe_log_lines main)
wan_cut 1
if cpe_wait_log main "path wan1 down" 10 "$from"; then
	pass "path wan1 declared down"
else
	fail "path wan1 not declared down in 10 s"
fi
page wait 10 "document.querySelector('[data-path=wan1]').dataset.state === 'down'"
check_eq "page: wan1 turns down without a reload" "$ANS" ok
want=$(daemon_paths)
check_eq "the daemon: wan1 down, wan2 up" "$want" "wan1=down/DOWN wan2=up/UP"
check_eq "page: the paths of /status after the cut" "$(shown)" "$want"
page eval "document.getElementById('paths-up').textContent"
check_eq "page: paths up 1 of 2" "$ANS" '"1 of 2"'
sleep 4 # wan2 carries the download in the graph
png "$ART/status-page.png" 1280 "screenshot, wan1 down"
page viewport 390 844 mobile
sleep 1.5 # a poll redraws the graphs at the new width
page eval "document.documentElement.scrollWidth"
check_eq "page: 390 px wide, nothing wider (flows stack as blocks)" "$ANS" 390
png "$ART/status-page-narrow.png" 390 "screenshot, 390 px wide"
page dom "$ART/status-page.html"
check "page: its DOM saved" test -s "$ART/status-page.html"

# ---- the daemon gone ----
kill "$FETCH_PID" 2>/dev/null
cpe_stop main
page wait 10 "document.body.dataset.conn === 'down' && document.getElementById('conn').textContent.startsWith('daemon unreachable')"
check_eq "page: says 'daemon unreachable' when the daemon stops" "$ANS" ok
echo quit >&"$PAGE_IN"
wait "$PAGE_PID" 2>/dev/null
conc_stop main
cpe_finish
