/* Counters of the concentrator. Each worker owns one struct conc_stats and
 * is its only writer, so the hot path takes no lock and no locked
 * instruction; readers sum the workers' copies (conc_stats_sum).
 *
 * The lists below are the one place a counter is named: the struct, the
 * sum, the SIGUSR1 log lines and any later export come from them. */
#ifndef MPTUN_CONC_STATS_H
#define MPTUN_CONC_STATS_H

#include <stddef.h>
#include <stdint.h>

/* "counters:" line. active and relaying are gauges, the rest only grow. */
#define CONC_STATS_FLOWS(X)                                                    \
	X(accepted)              /* connections accepted */                    \
	X(active)                /* flows open, any state */                   \
	X(relaying)              /* flows relaying bytes */                    \
	X(convert)               /* first byte 0x01 */                         \
	X(socks4)                /* first byte 0x04, not 4a */                 \
	X(socks4a)               /* SOCKS4 requests naming a host */           \
	X(socks5)                /* first byte 0x05 */                         \
	X(unknown)               /* any other first byte */                    \
	X(info)                  /* Convert Info answered */                   \
	X(header_timeouts)       /* request incomplete at timeouts.header */   \
	X(header_closed)         /* client gone before its request was whole */ \
	X(refused_client)        /* source not in clients.allow */             \
	X(refused_limit_total)   /* over limits.flows when accepted */         \
	X(refused_limit_client)  /* over limits.flows_per_client */            \
	X(refused_limit_pending) /* over limits.pending_per_client */          \
	X(connect_started)                                                     \
	X(connect_ok)                                                          \
	X(connect_failed) /* refused, unreachable, timed out */                \
	X(bytes_up)       /* relayed client -> server */                       \
	X(bytes_down)     /* relayed server -> client */                       \
	X(relay_pipes)    /* directions moved from copying to splice() */      \
	X(relay_spills)   /* reads the other side could not take whole */      \
	X(accept_pauses)  /* accept() out of fds or memory */                \
	X(cpe_evicted)    /* idle per-CPE ids forgotten for room */            \
	X(cpe_untracked)  /* flows of no per-CPE id: every id was active */ \
	X(transparent)       /* accepted on the transparent listener */      \
	X(transparent_reset) /* of those, refused or failed: RST */          \
	X(source_tlv)        /* Convert openings with a Source TLV */        \
	X(source_preserved)  /* upstream bound to the client's address */    \
	X(source_port_changed) /* preserved, but its port was taken */       \
	X(source_nat)        /* a client address known but not kept */

/* "errors:" line: Convert Error TLVs sent, by RFC 8803 code. */
#define CONC_STATS_ERRORS(X)                                                   \
	X(unsupported_version, 0)                                              \
	X(malformed, 1)                                                        \
	X(unsupported_message, 2)                                              \
	X(missing_cookie, 3)                                                   \
	X(not_authorized, 32)                                                  \
	X(unsupported_tcp_option, 33)                                          \
	X(resource_exceeded, 64)                                               \
	X(network_failure, 65)                                                 \
	X(connection_reset, 96)                                                \
	X(destination_unreachable, 97)

/* "socks:" line: SOCKS5 replies other than success, by reply code. */
#define CONC_STATS_SOCKS5(X)                                                   \
	X(s5_general_failure, 0x01)                                            \
	X(s5_not_allowed, 0x02)                                                \
	X(s5_net_unreachable, 0x03)                                            \
	X(s5_host_unreachable, 0x04)                                           \
	X(s5_conn_refused, 0x05)                                               \
	X(s5_ttl_expired, 0x06)                                                \
	X(s5_cmd_unsupported, 0x07)                                            \
	X(s5_atyp_unsupported, 0x08)

/* The rest of the "socks:" line: negotiation failures and SOCKS4. */
#define CONC_STATS_SOCKS(X)                                                    \
	X(s5_no_method)   /* method answer 0xFF */                             \
	X(s5_auth_failed) /* username/password refused */                      \
	X(s5_bad_opening) /* greeting or auth unreadable: closed, no answer */ \
	X(s4_rejected)    /* reply 0x5b */

#define CONC_STATS_FIELD(name, ...) uint64_t name;

struct conc_stats {
	CONC_STATS_FLOWS(CONC_STATS_FIELD)
	CONC_STATS_ERRORS(CONC_STATS_FIELD)
	uint64_t error_other; /* a code not in the list above */
	CONC_STATS_SOCKS5(CONC_STATS_FIELD)
	CONC_STATS_SOCKS(CONC_STATS_FIELD)
	uint64_t s5_other;
};

/* One counter for readers: the log line it belongs to, its name, where it
 * is in struct conc_stats. */
struct conc_stat_desc {
	const char *group; /* "counters", "errors", "socks" */
	const char *name;
	size_t offset;
};

extern const struct conc_stat_desc conc_stat_descs[];
extern const size_t conc_n_stat_descs;

/* Only the owning worker calls this, so load and store need no lock; the
 * atomic accesses keep a reader from seeing a torn value. */
static inline void conc_stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

#define CONC_STAT_INC(s, name) conc_stat_add(&(s)->name, 1)
#define CONC_STAT_DEC(s, name) conc_stat_add(&(s)->name, (uint64_t)-1)

void conc_stats_convert_error(struct conc_stats *s, uint8_t code);
void conc_stats_socks5_reply(struct conc_stats *s, uint8_t code);
/* out += in, reading in with atomic loads (another thread may write it). */
void conc_stats_add(struct conc_stats *out, const struct conc_stats *in);
/* One log_info line per group of "key=value" pairs. */
void conc_stats_log(const struct conc_stats *s);

#endif
