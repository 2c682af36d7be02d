#!/bin/bash
# mptun-cpe paths over IPv6 WAN links (the ISPs do NAT66) to the
# concentrator's IPv6 address: endpoints and source routing from the
# interfaces' IPv6 addresses, both links carrying one download, and new
# connections while wan1 is dead.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
daemon_checks "IPv6 paths" || finish
conc_start main $CONC_PORT "$(conc_config_cpe clients='"fd11::/64", "fd12::/64"')" || cpe_finish
cpe_start main "$(cpe_config conc='[2001:db8:c::1]:5124')" || cpe_finish

eps=$(ip -n "$CPE" mptcp endpoint show)
check "MPTCP endpoint fd64:1::2 dev wan1 (subflow)" \
	eval "echo '$eps' | grep -Eq '^fd64:1::2 id 1 subflow dev wan1'"
check "MPTCP endpoint fd64:2::2 dev wan2 (subflow)" \
	eval "echo '$eps' | grep -Eq '^fd64:2::2 id 2 subflow dev wan2'"
check_eq "table 7101 (IPv6): default via the main table's gateway of wan1" \
	"$(ip -n "$CPE" -6 route show table 7101 | sed 's/ metric [0-9]*//; s/ pref medium//; s/ *$//')" \
	"default via fd64:1::1 dev wan1 proto 254"
check "IPv6 rule: from fd64:2::2 lookup 7102" \
	eval "ip -n $CPE -6 rule show pref 7102 | grep -q 'from fd64:2::2 lookup 7102'"
check "path wan1 answered a probe (up logged)" cpe_wait_log main "path wan1 up" 5
check "path wan2 answered a probe (up logged)" cpe_wait_log main "path wan2 up" 5

mkdir "$TMP/www"
mkfile "$TMP/www/20M" 20M
srv_http 8080 "$TMP/www"
wan_shape 1 20mbit
wan_shape 2 20mbit
wan_snap
fetch 20M
check_rc "20 MB over IPv6 paths: complete" 0
check_eq "20 MB over IPv6 paths: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/20M")"
read -r d1 d2 < <(wan_delta)
echo "IPv6 paths: $(kv mbit) Mbit/s, wan1 $d1 bytes, wan2 $d2 bytes"
check_range "IPv6 paths: wan1 carried its share (bytes)" "$d1" 4000000 100000000
check_range "IPv6 paths: wan2 carried its share (bytes)" "$d2" 4000000 100000000

from=$(cpe_log_lines main)
wan_cut 1
check "wan1 dead: path wan1 down" cpe_wait_log main "path wan1 down" 10 "$from"
fetch 20M --timeout 20
check_rc "wan1 dead: a new 20 MB download completes" 0
check_eq "wan1 dead: sha256 equal" "$(kv sha256)" "$(sha "$TMP/www/20M")"
wan_uncut 1

cpe_alive main
cpe_stop main
cpe_check_clean main
cpe_finish
