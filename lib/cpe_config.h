/* mptun-cpe configuration: a value, loaded whole from YAML or not at all.
 * Defaults live in cpe_config.c only. */
#ifndef MPTUN_CPE_CONFIG_H
#define MPTUN_CPE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "auth.h"
#include "ctl.h"

/* CPE_PROTO_UNSET exists only while a file is parsed (so that transparent
 * mode can refuse a protocol the file names): a loaded config never has
 * it. */
enum cpe_protocol {
	CPE_PROTO_UNSET = -1,
	CPE_PROTO_CONVERT,
	CPE_PROTO_SOCKS5,
	CPE_PROTO_SOCKS4,
};
enum cpe_carrier_mode { CPE_MODE_PLAIN, CPE_MODE_TRANSPARENT };
enum cpe_open_mode { CPE_OPEN_HOLD, CPE_OPEN_FAST };
enum cpe_path_role { CPE_PATH_ACTIVE, CPE_PATH_BACKUP };
enum cpe_fail_mode { CPE_FAIL_OPEN, CPE_FAIL_CLOSED };

/* Path i routes by table routing.table + 1 + i, rule priority
 * routing.priority + 2. */
#define CPE_PATHS_MAX 8

struct cpe_path_config {
	char *interface;                 /* paths[].interface */
	struct sockaddr_storage source;  /* paths[].source; ss_family 0: discover */
	struct sockaddr_storage gateway; /* paths[].gateway; ss_family 0: discover */
	enum cpe_path_role role;         /* paths[].role, default active */
};

struct cpe_config {
	int refs; /* cpe_config_ref/unref, atomic */

	/* tun: the capture device */
	char *tun_name;          /* tun.name, default "mptun0" (IFNAMSIZ-1 max) */
	uint32_t tun_mtu;        /* tun.mtu, default 1500 (1280..65535) */
	uint32_t tun_txqueuelen; /* tun.txqueuelen, default 1000 */
	bool tun_offload;        /* tun.offload, default true: IFF_VNET_HDR, GSO */
	struct addr_prefix tun_address4; /* tun.address4, default 198.18.0.1/32; len 0 = none */
	struct addr_prefix tun_address6; /* tun.address6, optional; family 0 = none */

	/* lan: what is captured */
	char **lan_interfaces;   /* lan.interfaces: list of names, required, non-empty */
	size_t n_lan_interfaces;
	struct addr_prefix_list bypass; /* lan.bypass: destinations never captured */

	/* routing: what the daemon installs (and removes) */
	uint32_t route_table;    /* routing.table, default 7100 (1..0xfffffffe, not 253-255) */
	uint32_t rule_priority;  /* routing.priority, default 7100: bypass rules use it,
				    capture rules priority+1, path rules priority+2 */

	/* concentrator */
	struct sockaddr_storage conc;  /* concentrator.address "host:port", port default
					  5124; required in plain mode; ss_family 0:
					  none (transparent mode only) */
	socklen_t conc_len;

	/* paths: the WAN interfaces mptun manages, in file order */
	struct cpe_path_config *paths;   /* paths, default none */
	size_t n_paths;

	/* health: probing the concentrator on each path */
	uint32_t health_interval_ms;     /* health.interval, default 1s */
	uint32_t health_timeout_ms;      /* health.timeout, default 1s */
	uint32_t health_failures;        /* health.failures, default 3 */
	enum cpe_fail_mode fail_mode;    /* health.fail, default open */

	/* carrier */
	enum cpe_carrier_mode mode;    /* carrier.mode: plain (default): MPTCP to
					  the concentrator with an opening;
					  transparent: MPTCP to the destination,
					  no opening */
	enum cpe_protocol protocol;    /* carrier.protocol: convert|socks4|socks5
					  (plain mode) */
	bool source;                   /* carrier.source, default false: the
					  Convert opening carries the Source TLV */
	char *socks_user;              /* carrier.socks_user (socks5), optional */
	char *socks_password;          /* carrier.socks_password, optional */
	bool fastopen;                 /* carrier.fastopen, default false: when
					  true the opening rides in the MPTCP SYN */

	/* auth: this CPE's id and key; id NULL (the default): no Auth TLV.
	 * Needs carrier.protocol convert. */
	struct auth_key auth;

	/* flow */
	enum cpe_open_mode open_mode;  /* flow.open: hold|fast */
	uint32_t fast_wait_ms;         /* flow.fast_wait, default 10ms */
	uint32_t max_flows;            /* flow.max, default 4096 */
	uint32_t max_flows_per_host;   /* flow.max_per_host, default 1024: flows of one
					  LAN address */
	uint32_t max_pending_per_host; /* flow.max_pending_per_host, default 256: flows
					  of one LAN address still opening */
	uint32_t connect_timeout_ms;   /* flow.connect_timeout, default 10s */
	uint32_t idle_timeout_ms;      /* flow.idle_timeout, default 5m */

	bool set_ip_forward; /* sysctl.ip_forward: set (default) | require */

	int log_level; /* log.level */

	char *user; /* user: drop to this user after setup; NULL: stay root */

	struct ctl_config control; /* control: http and socket (docs/control.md) */
};

struct cpe_config *cpe_config_load_file(const char *path, char *err,
					size_t errlen);
struct cpe_config *cpe_config_load_buf(const char *buf, size_t len,
				       const char *name, char *err,
				       size_t errlen);
struct cpe_config *cpe_config_ref(struct cpe_config *c);
void cpe_config_unref(struct cpe_config *c); /* NULL ok */

/* The address family of the paths' sources and gateways: the
 * concentrator's, or without one (transparent mode) the family of the
 * first source or gateway a path names, else AF_INET. */
int cpe_config_paths_family(const struct cpe_config *c);

#endif
