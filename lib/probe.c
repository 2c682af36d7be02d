/* One health probe: connect through a WAN path, send a Convert Info
 * message, wait for the concentrator's answer. States follow from the
 * fields: connecting until connected, then sending until the request is
 * out, then reading until a complete Convert message. */
#include "probe.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "sockopt.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define PROBE_REQ_MAX 16 /* header + Info TLV: 8 bytes */

struct probe {
	struct loop *loop;
	int fd; /* -1 once closed */
	bool connected;
	struct loop_timer timer;
	struct timespec t0; /* just before connect() */
	probe_done_fn done;
	void *arg;
	struct probe_result res;
	uint8_t out[PROBE_REQ_MAX];
	size_t out_len, sent;
	uint8_t in[CONVERT_MAX_LEN]; /* any Convert message fits */
	size_t in_len;
	bool *gone; /* set when freed, while on_timer looks at the socket */
};

/* Rounded up, so a step that happened never reads as 0 us. */
static uint32_t us_since(const struct timespec *t0)
{
	struct timespec now;
	int64_t ns, us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (int64_t)(now.tv_sec - t0->tv_sec) * 1000000000 +
	     (now.tv_nsec - t0->tv_nsec);
	us = (ns + 999) / 1000;
	if (us < 1)
		return 1;
	return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void probe_free(struct probe *p)
{
	if (p->gone)
		*p->gone = true;
	loop_timer_disarm(p->loop, &p->timer);
	if (p->fd >= 0) {
		loop_del_fd(p->loop, p->fd);
		close(p->fd); /* SO_LINGER 0: a reset */
	}
	free(p);
}

/* The one end of every probe that is not cancelled. The probe is freed
 * before done runs, so done may start the next probe. */
static void probe_finish(struct probe *p, int err)
{
	struct probe_result r = p->res;
	probe_done_fn done = p->done;
	void *arg = p->arg;

	r.err = err;
	probe_free(p);
	done(arg, &r);
}

/* A reset and a broken pipe are the same news for a probe. */
static int stream_err(int e)
{
	return e == EPIPE ? -ECONNRESET : -e;
}

static bool again(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static void probe_answer(struct probe *p)
{
	struct convert_msg m;
	struct convert_fault fault;
	size_t used;

	switch (convert_decode(p->in, p->in_len, &m, &used, &fault)) {
	case CONVERT_SHORT:
		/* Cannot happen with in[] of CONVERT_MAX_LEN; kept so a full
		 * buffer never turns into a zero-length read. */
		if (p->in_len == sizeof(p->in))
			probe_finish(p, -EPROTO);
		return;
	case CONVERT_BAD:
		probe_finish(p, -EPROTO);
		return;
	case CONVERT_OK:
		break;
	}
	p->res.answer_us = us_since(&p->t0);
	if (m.present & CONVERT_HAS_ERROR) {
		p->res.error_code = m.error_code;
		probe_finish(p, -EACCES);
	} else if (m.present & CONVERT_HAS_SUPPORTED_EXT) {
		probe_finish(p, 0);
	} else {
		probe_finish(p, -EPROTO);
	}
}

static void probe_read(struct probe *p)
{
	ssize_t n =
	    recv(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len, 0);

	if (n < 0) {
		if (!again(errno))
			probe_finish(p, stream_err(errno));
		return;
	}
	if (n == 0) {
		probe_finish(p, -ECONNRESET);
		return;
	}
	p->in_len += (size_t)n;
	probe_answer(p);
}

static void probe_send(struct probe *p)
{
	ssize_t n =
	    send(p->fd, p->out + p->sent, p->out_len - p->sent, MSG_NOSIGNAL);
	int r;

	if (n < 0) {
		if (!again(errno))
			probe_finish(p, stream_err(errno));
		return;
	}
	p->sent += (size_t)n;
	if (p->sent == p->out_len &&
	    (r = loop_mod_fd(p->loop, p->fd, EPOLLIN)) < 0)
		probe_finish(p, r);
}

static void probe_connecting(struct probe *p)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int err = sockopt_so_error(p->fd);

	if (err) {
		probe_finish(p, stream_err(err));
		return;
	}
	/* A spurious wakeup (see loop.h) must not pass for the handshake:
	 * getpeername fails until the connection is established. */
	if (getpeername(p->fd, (struct sockaddr *)&peer, &len) < 0)
		return;
	p->connected = true;
	p->res.connect_us = us_since(&p->t0);
	probe_send(p);
}

static void on_io(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct probe *p = arg;

	if (!p->connected)
		probe_connecting(p);
	else if (p->sent < p->out_len)
		probe_send(p);
	else
		probe_read(p);
}

/* What the socket has for the probe's current step, without waiting. */
static bool step_ready(const struct probe *p)
{
	struct pollfd pf = { .fd = p->fd };

	pf.events = p->connected && p->sent == p->out_len ? POLLIN : POLLOUT;
	return poll(&pf, 1, 0) == 1 && pf.revents;
}

/* Fires at the deadline, or at once for an error that probe_start already
 * knew (res.err set): done must come from the loop either way. A loop
 * that runs late (a busy daemon on a loaded machine) can reach the
 * deadline with the answer already in the socket but its event not yet
 * dispatched: what is there is looked at before the probe fails. */
static int64_t on_timer(struct loop *l, void *arg)
{
	struct probe *p = arg;
	bool gone = false;

	if (!p->res.err && p->fd >= 0 && step_ready(p)) {
		p->gone = &gone;
		on_io(l, p->fd, 0, p);
		if (gone)
			return LOOP_TIMER_STOP;
		p->gone = NULL;
	}
	probe_finish(p, p->res.err ? p->res.err : -ETIMEDOUT);
	return LOOP_TIMER_STOP;
}

static int bind_device(int fd, const char *ifname)
{
	size_t n = strlen(ifname);

	/* The kernel would truncate a longer name, and "" unbinds. */
	if (n == 0 || n >= IFNAMSIZ)
		return -ENODEV;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)n) <
	    0)
		return -errno;
	return 0;
}

static int bind_source(int fd, const struct sockaddr *src, socklen_t len)
{
	struct sockaddr_storage ss;
	int one = 1;

	if (len > sizeof(ss))
		return -EINVAL;
	memcpy(&ss, src, len);
	if (ss.ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else if (ss.ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	/* The port is then chosen by connect(), per destination. */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return -errno;
	return 0;
}

/* IPPROTO_TCP, never MPTCP: the probe must stay on its one path. */
static int probe_socket(int family, const struct sockaddr *src,
			socklen_t src_len, const char *ifname)
{
	int fd, r;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	sockopt_abort_on_close(fd);
	if (ifname && (r = bind_device(fd, ifname)) < 0)
		goto fail;
	if (src && (r = bind_source(fd, src, src_len)) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return r;
}

static size_t build_request(uint8_t *out)
{
	struct convert_builder b;
	size_t n;

	convert_begin(&b);
	convert_put_info(&b);
	n = convert_finish(&b);
	memcpy(out, b.buf, n);
	return n;
}

struct probe *probe_start(struct loop *l, const struct sockaddr *conc,
			  socklen_t conc_len, const struct sockaddr *src,
			  socklen_t src_len, const char *ifname,
			  uint32_t timeout_ms, probe_done_fn done, void *arg)
{
	struct probe *p;
	int fd, r;

	if (!l || !conc || !done) {
		errno = EINVAL;
		return NULL;
	}
	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->loop = l;
	p->fd = -1;
	p->done = done;
	p->arg = arg;
	p->out_len = build_request(p->out);
	if ((r = fd = probe_socket(conc->sa_family, src, src_len, ifname)) < 0)
		goto fail_free;
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	if (connect(fd, conc, conc_len) < 0 && errno != EINPROGRESS) {
		p->res.err = -errno;
		close(fd);
		loop_timer_arm(l, &p->timer, 0, on_timer, p);
		return p;
	}
	if ((r = loop_add_fd(l, fd, EPOLLOUT, on_io, p)) < 0)
		goto fail_close;
	p->fd = fd;
	loop_timer_arm(l, &p->timer, timeout_ms, on_timer, p);
	return p;
fail_close:
	close(fd);
fail_free:
	free(p);
	errno = -r;
	return NULL;
}

void probe_cancel(struct probe *p)
{
	if (p)
		probe_free(p);
}
