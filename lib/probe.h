/* Health probe of one WAN path: can the concentrator be reached through
 * it? A plain TCP connection (never MPTCP: subflows over other paths would
 * defeat the purpose) carries a Convert message holding one Info TLV; the
 * concentrator answers with Supported TCP Extensions, or an Error TLV when
 * it refuses us. */
#ifndef MPTUN_PROBE_H
#define MPTUN_PROBE_H

#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

struct probe_result {
	/* 0: answered; -ETIMEDOUT: no answer in time; -ECONNREFUSED etc.
	 * from connect; -EACCES: the concentrator answered with a Convert
	 * Error TLV (reachable, but refuses us: e.g. Not Authorized);
	 * -EPROTO: an answer that is not a valid Convert message with
	 * Supported TCP Extensions; a reset, a broken pipe or the end of the
	 * stream before a full answer: -ECONNRESET. */
	int err;
	uint8_t error_code;  /* the Convert error code when err == -EACCES */
	uint32_t connect_us; /* connect() to established: the handshake RTT */
	uint32_t answer_us;  /* connect() to the complete answer */
};

/* r is valid only during the call. */
typedef void (*probe_done_fn)(void *arg, const struct probe_result *r);

struct probe;

/* Start one probe: a non-blocking plain TCP connection to conc, bound to
 * src (its port forced to 0) when src is not NULL and to device ifname
 * (SO_BINDTODEVICE) when ifname is not NULL; once connected it sends a
 * Convert message holding one Info TLV and reads until a complete Convert
 * message. One timer of timeout_ms covers connect and answer. done is
 * called exactly once, from the event loop (never from inside probe_start),
 * unless probe_cancel() comes first; the probe has freed itself by the time
 * done runs (done may start the next probe; r is a copy). The socket is
 * closed with SO_LINGER 0: a reset, so a probe every second leaves no
 * TIME_WAIT on either side. NULL with errno on failure to start (socket and
 * bind errors: EADDRNOTAVAIL when src is not an address of the host, ENODEV
 * for a missing device). */
struct probe *probe_start(struct loop *l, const struct sockaddr *conc,
			  socklen_t conc_len, const struct sockaddr *src,
			  socklen_t src_len, const char *ifname,
			  uint32_t timeout_ms, probe_done_fn done, void *arg);
/* Stop a probe before its done; frees it. NULL ok. Must not be called from
 * inside its own done callback. */
void probe_cancel(struct probe *p);

#endif
