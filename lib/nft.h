/* The nftables seam (libnftables, rule text): the table that sends MPTCP
 * SYNs crossing the concentrator to its transparent listener (TPROXY) and
 * marks the packets of its transparent sockets, so that the policy routing
 * of lib/nlroute_local.c delivers them to this host.
 *
 *   table inet mptun_tproxy, chain prerouting (hook prerouting, mangle):
 *     TCP, not a bare SYN, of a transparent socket (an intercepted
 *       connection, or an upstream one bound to a preserved client
 *       address; on the CPE, a connection bound to a LAN client's
 *       address), not from skip_if: mark, accept
 *     TCP SYN from one of ifs, to an address not of this host, with the
 *       MPTCP option (MP_CAPABLE or MP_JOIN): mark, tproxy to
 *       127.0.0.1:port (IPv4) or [::1]:port (IPv6), where the
 *       transparent listeners are
 *
 * Plain TCP, and TCP to this host's own addresses (the Convert listener
 * among them), are left alone. The table is mptun's alone: one
 * concentrator per network namespace.
 *
 * Actions return 0 or -errno and write libnftables' message into err. */
#ifndef MPTUN_NFT_H
#define MPTUN_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NFT_TPROXY_TABLE "mptun_tproxy" /* family inet */

struct nft_tproxy {
	char *const *ifs; /* interface names (checked by the config) */
	size_t n_ifs;     /* 0: no TPROXY rule, the socket rule only */
	uint16_t port;    /* the transparent listener's */
	uint32_t mark;    /* non-zero */
	/* NULL, or an interface (checked by the config) whose packets the
	 * socket rule leaves alone: the CPE's TUN, whose packets to a LAN
	 * client are forwarded even when a socket of the CPE is bound to
	 * that client's address (lwip-port/cpe_flow.c) */
	const char *skip_if;
};

/* Replace the table (a leftover of a crashed run included) by the one t
 * describes, in one transaction. */
int nft_tproxy_install(const struct nft_tproxy *t, char *err, size_t errlen);
/* Delete the table; none is success. */
int nft_tproxy_remove(char *err, size_t errlen);
/* Whether the table exists (false also when nftables cannot be asked). */
bool nft_tproxy_present(void);

#endif
