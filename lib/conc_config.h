/* mptun-concentrator configuration: a value, loaded whole from YAML or not
 * at all. Defaults live in conc_config.c only. */
#ifndef MPTUN_CONC_CONFIG_H
#define MPTUN_CONC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "auth.h"
#include "ctl.h"

#define CONC_DEFAULT_PORT 5124
#define CONC_ANNOUNCE_MAX 8 /* the kernel's MPTCP endpoints per namespace */

enum conc_tfo_policy {
	CONC_TFO_SET,     /* set bit 0x2 of net.ipv4.tcp_fastopen, log it */
	CONC_TFO_REQUIRE, /* refuse to start when it is missing */
};

struct conc_socks_user {
	char *name;
	char *password;
};

struct conc_config {
	int refs; /* conc_config_ref/unref, atomic */

	struct sockaddr_storage listen; /* listen: "[::]:5124" */
	socklen_t listen_len;
	unsigned workers;               /* workers: 0 = one per online CPU */
	enum conc_tfo_policy tfo;       /* tcp_fastopen_sysctl: set|require */

	struct addr_prefix_list clients_allow; /* clients.allow, required, non-empty */

	bool socks_enabled;                   /* socks.enabled */
	struct conc_socks_user *socks_users;  /* socks.users: [{user, password}] */
	size_t n_socks_users;                 /* > 0: SOCKS5 needs user/pass, SOCKS4 refused */

	struct sockaddr_storage egress_source4; /* egress.source4, AF_UNSPEC if unset */
	struct sockaddr_storage egress_source6; /* egress.source6 */
	bool egress_allow_private;              /* egress.allow_private */
	struct addr_prefix_list egress_allow;   /* egress.allow: exceptions to the default deny */
	struct addr_prefix_list egress_deny;    /* egress.deny: always refused */

	uint32_t header_timeout_ms;  /* timeouts.header */
	uint32_t connect_timeout_ms; /* timeouts.connect */
	uint32_t idle_timeout_ms;    /* timeouts.idle */
	uint32_t drain_timeout_ms;   /* timeouts.drain */

	uint32_t max_flows;            /* limits.flows (whole daemon) */
	uint32_t max_flows_per_client; /* limits.flows_per_client (per source address) */
	uint32_t max_pending_per_client; /* limits.pending_per_client: flows of a client
					    still opening (header or connect) */
	bool egress_allow_hairpin;     /* egress.allow_hairpin: the concentrator's own
					  addresses as destinations, default false */

	char *user; /* user: drop to this user after setup; NULL: stay */

	struct ctl_config control; /* control: http and socket (docs/control.md) */

	struct auth_policy auth; /* auth: the Auth TLV; keys sorted by id */

	int log_level; /* log.level: error|warn|info|debug, as LOG_* of syslog.h */

	/* transparent: MPTCP SYNs crossing this host, sent by nftables TPROXY
	 * to a listener of their own (lib/conc_tproxy.c). */
	bool transparent_enabled;     /* transparent.enabled */
	uint32_t transparent_port;    /* transparent.port: 1..65535 */
	char **transparent_ifs;       /* transparent.interfaces: iifnames */
	size_t n_transparent_ifs;     /* > 0 when enabled */
	char **transparent_announce;  /* transparent.announce: addresses
					 (checked by the loader) where the
					 CPEs' further subflows join */
	size_t n_transparent_announce; /* 0..CONC_ANNOUNCE_MAX */
	uint32_t transparent_join_port; /* transparent.join_port: 1..65535 */

	/* source: bind the upstream connection to the client's own address. */
	bool source_preserve;                   /* source.preserve */
	struct addr_prefix_list source_prefixes; /* source.prefixes, > 0 when on */

	/* tproxy: the policy routing that hands packets of transparent
	 * sockets to this host (both features above need it). */
	uint32_t tproxy_table;    /* tproxy.table */
	uint32_t tproxy_priority; /* tproxy.priority: of the fwmark rule */
	uint32_t tproxy_mark;     /* tproxy.mark: non-zero */
};

/* transparent.enabled or source.preserve: nftables, policy routing and
 * CAP_NET_ADMIN are needed. */
bool conc_config_needs_tproxy(const struct conc_config *c);

/* Parse and validate. On failure return NULL and write
 * "name:line:column: message" (or "name: message") into err. The result
 * has refs = 1. */
struct conc_config *conc_config_load_file(const char *path, char *err,
					  size_t errlen);
struct conc_config *conc_config_load_buf(const char *buf, size_t len,
					 const char *name, char *err,
					 size_t errlen);
struct conc_config *conc_config_ref(struct conc_config *c);
void conc_config_unref(struct conc_config *c); /* frees at zero; NULL ok */

#endif
