#!/bin/bash
# mptun-cpe with 1% of the TCP packets between it and the LAN host
# dropped, both ways (nftables in the CPE namespace): 8 MB each way, with
# and without TUN offloads, arrive whole, and the LAN host's duplicate ACKs
# with SACK blocks are seen (tun counter sack_acks): mptun-cpe lets lwIP
# count them although their window grows (README, "Loss on the LAN"). How
# fast the flows recover is measured, not tested here.
. "$(dirname "$0")/lib_cpe.sh"

cpe_topo_up
cpe_conc_up || cpe_finish
S4=${SRV4[0]}

ip netns exec "$CPE" nft -f - <<-'NFT' || fail "could not install the LAN loss rules"
	table inet lanloss {
		chain lossy {
			type filter hook forward priority 0; policy accept;
			iifname "lan0" meta l4proto tcp numgen random mod 100 < 1 counter drop
			oifname "lan0" meta l4proto tcp numgen random mod 100 < 1 counter drop
		}
	}
NFT
dropped() {
	ip netns exec "$CPE" nft list table inet lanloss 2>/dev/null |
		awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

mkfile "$TMP/up.bin" 8M
mkfile "$TMP/down.bin" 8M
for offload in true false; do
	cpe_start main "$(cpe_config offload=$offload)" || cpe_finish
	d0=$(dropped)
	files_both "$S4" "offload $offload: 8 MB through 1% loss,"
	check_range "offload $offload: packets dropped between the CPE and the LAN" \
		"$(($(dropped) - d0))" 1 100000000
	if daemon_checks "offload $offload: counters"; then
		# Without offloads the download is thousands of single
		# segments, so some are lost; with them a hundred-odd 64 KiB
		# writes, of which none may be.
		cpe_counters main tun >"$TMP/tun.ctr"
		[ "$offload" = false ] &&
			check_range "offload $offload: the LAN host's SACK duplicate ACKs seen (tun sack_acks)" \
				"$(awk '$1 == "sack_acks" { print $2 }' "$TMP/tun.ctr")" 1 100000000
		cpe_alive main
		cpe_stop main
		cpe_check_clean main
	fi
done
conc_stop main
cpe_finish
