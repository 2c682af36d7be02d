/* mptun-connload: connection load for bench/speed, the same client for
 * every path it compares (mptun, kernel forwarding, shadowsocks, MPTCP).
 *
 *   mptun-connload [--mptcp] serve PORT
 *	an echo server on [::]:PORT (IPv4 too). Each connection sends one
 *	request line (at most 64 bytes, '\n' last) and gets it back. A line
 *	starting with 'C' is then closed by the server, which thus closes
 *	first like an HTTP/1.0 server and keeps the TIME_WAIT state; any
 *	other line holds the connection until the client closes it.
 *   mptun-connload [--mptcp] cps HOST PORT SECONDS CONCURRENCY
 *	CONCURRENCY connections at a time, each: connect, a 64-byte 'C'
 *	request, its echo, the server's EOF, close. Prints
 *	"cps=N ok=N failed=N" after SECONDS.
 *   mptun-connload [--mptcp] hold HOST PORT N...
 *	opens connections, at most HOLD_CONNECTING at a time, each proven
 *	end to end by the echo of an 'H' request, until N have been tried;
 *	prints "open=K failed=F lost=L" (lost: held ones the far end closed
 *	since), waits for a line on stdin and goes on to the next N. After
 *	the last N it holds them until stdin ends or gives another line.
 *
 * --mptcp opens IPPROTO_MPTCP sockets (the MPTCP carrier alone). HOST is an
 * address literal. Connections that take over CONN_TIMEOUT_MS to be echoed
 * count as failed. Exit status: 0, or 2 on bad usage, 1 when the sockets
 * cannot be set up at all. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

#define REQ_LEN		64
#define CONN_TIMEOUT_MS 20000
#define HOLD_CONNECTING 100 /* a SYN storm is not what hold measures */
#define RETRY_MS	10  /* after a socket() or connect() failure */
#define ACCEPT_BURST	64

enum cl_state { C_IDLE, C_CONNECTING, C_ECHO, C_HELD };

struct cl_conn {
	struct cl *cl;
	int fd;
	enum cl_state state;
	size_t got;
	struct loop_timer timer;
};

struct cl {
	struct loop *loop;
	struct sockaddr_storage dst;
	socklen_t dst_len;
	int proto;
	char req[REQ_LEN];
	bool hold;
	struct cl_conn *conns;
	size_t n_conns;
	uint64_t ok, failed, lost;
	/* cps */
	uint64_t start_ms, end_ms;
	struct loop_timer end_timer;
	/* hold: conns[0..started) were tried, targets[stage] is the goal */
	size_t started, connecting, *targets, n_targets, stage;
	bool reported;
};

struct sv_conn {
	int fd;
	size_t got;
	bool held;
	char buf[REQ_LEN];
};

static void conn_start(struct cl_conn *c);
static void hold_fill(struct cl *cl);

static int parse_addr(const char *host, const char *port,
		      struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* ---- client ---- */

/* Whatever the outcome, the slot is free again afterwards. */
static void conn_close(struct cl_conn *c)
{
	struct cl *cl = c->cl;

	loop_timer_disarm(cl->loop, &c->timer);
	if (c->fd >= 0) {
		loop_del_fd(cl->loop, c->fd);
		close(c->fd);
	}
	c->fd = -1;
	c->state = C_IDLE;
}

static void conn_end(struct cl_conn *c, bool ok)
{
	struct cl *cl = c->cl;
	bool was_held = c->state == C_HELD, was_connecting;

	was_connecting = c->state == C_CONNECTING || c->state == C_ECHO;
	conn_close(c);
	if (was_held) {
		cl->lost++;
		return;
	}
	if (ok)
		cl->ok++;
	else
		cl->failed++;
	if (!cl->hold) {
		conn_start(c);
		return;
	}
	if (was_connecting)
		cl->connecting--;
	hold_fill(cl);
}

static int64_t retry_cb(struct loop *l, void *arg)
{
	conn_start(arg);
	return LOOP_TIMER_STOP;
}

static int64_t timeout_cb(struct loop *l, void *arg)
{
	conn_end(arg, false);
	return LOOP_TIMER_STOP;
}

static void conn_connected(struct cl_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	ssize_t n;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		conn_end(c, false);
		return;
	}
	n = write(c->fd, c->cl->req, REQ_LEN);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* a spurious wakeup: still connecting */
	if (n != REQ_LEN) {
		conn_end(c, false);
		return;
	}
	c->state = C_ECHO;
	if (loop_mod_fd(c->cl->loop, c->fd, EPOLLIN) < 0)
		conn_end(c, false);
}

/* The echo must come back byte for byte; then EOF (cps) or nothing (hold). */
static void conn_readable(struct cl_conn *c)
{
	struct cl *cl = c->cl;
	char buf[REQ_LEN + 1];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || c->state == C_HELD) {
		conn_end(c, n == 0 && c->got == REQ_LEN);
		return;
	}
	if (c->got + n > REQ_LEN || memcmp(buf, cl->req + c->got, n)) {
		conn_end(c, false);
		return;
	}
	c->got += n;
	if (c->got < REQ_LEN || !cl->hold)
		return;
	loop_timer_disarm(cl->loop, &c->timer);
	c->state = C_HELD;
	cl->ok++;
	cl->connecting--;
	hold_fill(cl);
}

static void conn_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct cl_conn *c = arg;

	if (c->state == C_CONNECTING)
		conn_connected(c);
	else
		conn_readable(c);
}

static int conn_open(struct cl_conn *c)
{
	struct cl *cl = c->cl;
	int fd, r;

	fd = socket(cl->dst.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, cl->proto);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&cl->dst, cl->dst_len) < 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	if ((r = loop_add_fd(cl->loop, fd, EPOLLOUT, conn_cb, c)) < 0) {
		close(fd);
		return r;
	}
	c->fd = fd;
	c->got = 0;
	c->state = C_CONNECTING;
	loop_timer_arm(cl->loop, &c->timer, CONN_TIMEOUT_MS, timeout_cb, c);
	return 0;
}

/* cps: a slot starts its next connection until the time is up; a slot that
 * cannot open one (ports or fds short) retries a little later. */
static void conn_start(struct cl_conn *c)
{
	struct cl *cl = c->cl;

	if (!cl->hold && loop_now_ms(cl->loop) >= cl->end_ms)
		return;
	if (conn_open(c) == 0) {
		if (cl->hold)
			cl->connecting++;
		return;
	}
	cl->failed++;
	if (!cl->hold)
		loop_timer_arm(cl->loop, &c->timer, RETRY_MS, retry_cb, c);
}

static void hold_report(struct cl *cl)
{
	printf("open=%llu failed=%llu lost=%llu\n",
	       (unsigned long long)(cl->ok - cl->lost),
	       (unsigned long long)cl->failed, (unsigned long long)cl->lost);
	fflush(stdout);
	cl->reported = true;
}

static void hold_fill(struct cl *cl)
{
	size_t goal = cl->targets[cl->stage];

	while (cl->started < goal && cl->connecting < HOLD_CONNECTING)
		conn_start(&cl->conns[cl->started++]);
	if (!cl->reported && cl->started == goal && !cl->connecting)
		hold_report(cl);
}

/* A line on stdin: the next stage; EOF, or a line after the last: done. */
static void stdin_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct cl *cl = arg;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || cl->stage + 1 >= cl->n_targets) {
		loop_stop(l);
		return;
	}
	if (!cl->reported)
		return; /* the bench waits for the report: nothing to do yet */
	cl->stage++;
	cl->reported = false;
	hold_fill(cl);
}

static int64_t end_cb(struct loop *l, void *arg)
{
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static bool parse_size(const char *s, size_t min, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > 10000000)
		return false;
	*out = v;
	return true;
}

static int cl_setup(struct cl *cl, char **argv)
{
	if (parse_addr(argv[0], argv[1], &cl->dst, &cl->dst_len) < 0) {
		fprintf(stderr, "bad address %s port %s\n", argv[0], argv[1]);
		return 2;
	}
	memset(cl->req, 'a' + cl->hold, REQ_LEN);
	cl->req[0] = cl->hold ? 'H' : 'C';
	cl->req[REQ_LEN - 1] = '\n';
	cl->conns = calloc(cl->n_conns, sizeof(*cl->conns));
	cl->loop = loop_new();
	if (!cl->conns || !cl->loop) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < cl->n_conns; i++) {
		cl->conns[i].cl = cl;
		cl->conns[i].fd = -1;
	}
	return 0;
}

/* Closes what is still open; safe on a half-built cl. */
static void cl_free(struct cl *cl)
{
	for (size_t i = 0; cl->conns && i < cl->n_conns; i++)
		if (cl->conns[i].fd >= 0)
			close(cl->conns[i].fd);
	free(cl->conns);
	free(cl->targets);
	loop_free(cl->loop);
}

static int run_cps(struct cl *cl, char **argv)
{
	size_t secs;
	int r;

	if (!parse_size(argv[2], 1, &secs) ||
	    !parse_size(argv[3], 1, &cl->n_conns)) {
		fprintf(stderr, "bad SECONDS or CONCURRENCY\n");
		return 2;
	}
	if ((r = cl_setup(cl, argv))) {
		cl_free(cl);
		return r;
	}
	cl->start_ms = loop_clock_ms();
	cl->end_ms = cl->start_ms + secs * 1000;
	loop_timer_arm(cl->loop, &cl->end_timer, secs * 1000, end_cb, cl);
	for (size_t i = 0; i < cl->n_conns; i++)
		conn_start(&cl->conns[i]);
	loop_run(cl->loop);
	printf("cps=%.0f ok=%llu failed=%llu\n",
	       cl->ok * 1000.0 / (loop_clock_ms() - cl->start_ms),
	       (unsigned long long)cl->ok, (unsigned long long)cl->failed);
	cl_free(cl);
	return 0;
}

static int run_hold(struct cl *cl, char **argv, int n)
{
	int r;

	cl->hold = true;
	cl->n_targets = n - 2;
	cl->targets = calloc(cl->n_targets, sizeof(*cl->targets));
	if (!cl->targets)
		return 1;
	for (size_t i = 0; i < cl->n_targets; i++) {
		size_t min = i ? cl->targets[i - 1] : 1;

		if (!parse_size(argv[i + 2], min, &cl->targets[i])) {
			fprintf(stderr, "bad N %s (ascending, >= 1)\n",
				argv[i + 2]);
			r = 2;
			goto out;
		}
	}
	cl->n_conns = cl->targets[cl->n_targets - 1];
	if ((r = cl_setup(cl, argv)))
		goto out;
	if (loop_add_fd(cl->loop, 0, EPOLLIN, stdin_cb, cl) < 0) {
		fprintf(stderr, "stdin cannot be watched (a pipe or a tty)\n");
		r = 1;
		goto out;
	}
	hold_fill(cl);
	loop_run(cl->loop);
out:
	cl_free(cl);
	return r;
}

/* ---- server ---- */

static void sv_close(struct loop *l, struct sv_conn *s)
{
	loop_del_fd(l, s->fd);
	close(s->fd);
	free(s);
}

static void sv_conn_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct sv_conn *s = arg;
	char drop[256];
	char *nl;
	ssize_t n;

	if (s->held)
		n = read(fd, drop, sizeof(drop));
	else
		n = read(fd, s->buf + s->got, sizeof(s->buf) - s->got);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || s->held) {
		if (n <= 0)
			sv_close(l, s);
		return;
	}
	s->got += n;
	nl = memchr(s->buf, '\n', s->got);
	if (!nl) {
		if (s->got == sizeof(s->buf))
			sv_close(l, s); /* not a request of ours */
		return;
	}
	/* Any empty socket buffer takes the answer: a short write fails. */
	if (write(fd, s->buf, s->got) != (ssize_t)s->got || s->buf[0] == 'C') {
		sv_close(l, s);
		return;
	}
	s->held = true;
}

static void sv_accept_cb(struct loop *l, int lfd, uint32_t events, void *arg)
{
	static bool warned;
	struct sv_conn *s;
	int fd;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && !warned) {
				perror("mptun-connload: accept");
				warned = true;
			}
			return;
		}
		s = calloc(1, sizeof(*s));
		if (!s || loop_add_fd(l, fd, EPOLLIN, sv_conn_cb, s) < 0) {
			free(s);
			close(fd);
			continue;
		}
		s->fd = fd;
	}
}

static int run_serve(const char *port, int proto)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct loop *l;
	int fd, off = 0, on = 1;

	if (parse_addr("::", port, &ss, &len) < 0) {
		fprintf(stderr, "bad port %s\n", port);
		return 2;
	}
	l = loop_new();
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    proto);
	if (!l || fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0 ||
	    loop_add_fd(l, fd, EPOLLIN, sv_accept_cb, NULL) < 0) {
		perror("mptun-connload: listen");
		if (fd >= 0)
			close(fd);
		loop_free(l);
		return 1;
	}
	/* it serves until a signal ends the process */
	return loop_run(l) < 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: mptun-connload [--mptcp] serve PORT\n"
		"       mptun-connload [--mptcp] cps HOST PORT SECONDS "
		"CONCURRENCY\n"
		"       mptun-connload [--mptcp] hold HOST PORT N...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct cl cl = {.proto = 0};

	argv++, argc--;
	if (argc && !strcmp(argv[0], "--mptcp")) {
		cl.proto = IPPROTO_MPTCP;
		argv++, argc--;
	}
	if (argc == 2 && !strcmp(argv[0], "serve"))
		return run_serve(argv[1], cl.proto);
	if (argc == 5 && !strcmp(argv[0], "cps"))
		return run_cps(&cl, argv + 1);
	if (argc >= 4 && !strcmp(argv[0], "hold"))
		return run_hold(&cl, argv + 1, argc - 1);
	return usage();
}
