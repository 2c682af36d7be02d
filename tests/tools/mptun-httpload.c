/* mptun-httpload: connections per second for bench/paths, and the small
 * HTTP server it is measured against.
 *
 * Client (ADDR:PORT PATH): keeps --concurrency connections in flight for
 * --seconds. Each one connects, sends "GET PATH HTTP/1.0", reads the answer
 * to EOF and checks that the status is 200 and the body as long as
 * Content-Length says; a new connection then takes its slot (after a
 * failure, at the next 50 ms tick, so that a refusing peer is not hammered).
 * Prints one line:
 *   ok=N late=N failed=N refused=N reset=N timeout=N bad=N other=N
 *   seconds=S cps=X p50_ms=X p90_ms=X
 * (failed is the sum of the next five: bad is an answer that is not 200 or
 * is cut short, other any other error, such as no route)
 * ok counts the connections that completed inside the window, cps is ok
 * over --seconds, p50/p90 their time from connect() to EOF; late ones
 * (started inside, completed after the window) are waited for, up to
 * --timeout, and not counted in cps.
 *
 * Server (--serve ADDR:PORT): answers every request, once its blank line
 * has come, with 200 and --size bytes, then closes: the server side holds
 * the TIME_WAIT, so the client's ports are not what runs out. One thread,
 * one epoll loop; exits 0 on SIGTERM or SIGINT.
 *
 * Exit codes: client 0 when at least one connection succeeded, 1 when
 * none did or on a setup error; 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "loop.h"

#define TICK_MS  50
#define HEAD_MAX 1024 /* response head kept for parsing; more is "bad" */
#define REQ_MAX  8192 /* server: a request longer than this is dropped */

struct cl_opts {
	struct sockaddr_storage dst, serve;
	socklen_t dst_len, serve_len;
	const char *path;
	uint64_t concurrency, seconds, timeout_ms, size;
	bool server;
};

/* ---- client ---- */

struct cl_run;

struct cl_conn {
	struct cl_run *run;
	int fd; /* -1: idle slot */
	uint64_t t0_ns;
	size_t req_off, head_len, body;
	long long clen; /* -1 until the head is parsed */
	bool head_done, status_ok;
	char head[HEAD_MAX];
};

struct cl_run {
	const struct cl_opts *o;
	struct loop *loop;
	char req[512];
	size_t req_len;
	struct cl_conn *conns;
	size_t active;
	uint64_t t_end_ns;
	bool closing;
	uint64_t ok, late, refused, reset, timeout, bad, other;
	uint32_t *lat_us;
	size_t nlat, cap_lat;
	struct loop_timer tick;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lat_add(struct cl_run *r, uint64_t ns)
{
	uint32_t *v;

	if (r->nlat == r->cap_lat) {
		size_t cap = r->cap_lat ? 2 * r->cap_lat : 1024;
		if (!(v = realloc(r->lat_us, cap * sizeof(*v))))
			return; /* a latency lost, the count stays right */
		r->lat_us = v, r->cap_lat = cap;
	}
	r->lat_us[r->nlat++] = (uint32_t)(ns / 1000);
}

static void count_error(struct cl_run *r, int err)
{
	if (err == ECONNREFUSED)
		r->refused++;
	else if (err == ECONNRESET || err == EPIPE)
		r->reset++;
	else if (err == ETIMEDOUT)
		r->timeout++;
	else if (err == EBADMSG)
		r->bad++;
	else
		r->other++;
}

static bool conn_good(const struct cl_conn *c)
{
	return c->head_done && c->status_ok && c->clen >= 0 &&
	       (long long)c->body == c->clen;
}

static void conn_start(struct cl_conn *c);

/* err 0: EOF after a complete answer is a success, anything else bad. */
static void conn_end(struct cl_conn *c, int err)
{
	struct cl_run *r = c->run;
	uint64_t t = now_ns();

	loop_del_fd(r->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	r->active--;
	if (!err && !conn_good(c))
		err = EBADMSG;
	if (err) {
		count_error(r, err);
		return; /* the tick restarts the slot */
	}
	if (t > r->t_end_ns) {
		r->late++;
		return;
	}
	r->ok++;
	lat_add(r, t - c->t0_ns);
	conn_start(c);
}

/* "HTTP/1.x 200 ..." and a Content-Length, from a complete head. */
static void head_parse(struct cl_conn *c)
{
	const char *p;

	c->head[c->head_len] = '\0';
	c->status_ok = !strncmp(c->head, "HTTP/1.", 7) &&
		       !strncmp(c->head + 8, " 200", 4);
	p = strcasestr(c->head, "\r\ncontent-length:");
	c->clen = p ? strtoll(p + 17, NULL, 10) : -1;
}

/* Bytes of the answer: the head until its blank line, then the body. */
static bool conn_feed(struct cl_conn *c, const char *b, size_t n)
{
	char *end;
	size_t take;

	if (c->head_done) {
		c->body += n;
		return true;
	}
	take = n < HEAD_MAX - 1 - c->head_len ? n : HEAD_MAX - 1 - c->head_len;
	memcpy(c->head + c->head_len, b, take);
	c->head_len += take;
	c->head[c->head_len] = '\0';
	if (!(end = strstr(c->head, "\r\n\r\n")))
		return c->head_len < HEAD_MAX - 1;
	c->head_done = true;
	/* what followed the blank line, in this read, is body */
	c->body = n - (size_t)((end + 4 - c->head) - (c->head_len - take));
	c->head_len = (size_t)(end - c->head) + 2;
	head_parse(c);
	return true;
}

static int conn_send(struct cl_conn *c)
{
	struct cl_run *r = c->run;
	int err = 0;
	socklen_t len = sizeof(err);
	ssize_t n;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	n = send(c->fd, r->req + c->req_off, r->req_len - c->req_off,
		 MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	c->req_off += (size_t)n;
	if (c->req_off == r->req_len)
		return loop_mod_fd(r->loop, c->fd, EPOLLIN);
	return 0;
}

/* 1 at EOF, 0 when more is to come, or -errno. */
static int conn_recv(struct cl_conn *c)
{
	static char buf[65536];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == 0)
			return 1;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (!conn_feed(c, buf, (size_t)n))
			return -EBADMSG;
	}
}

static void on_conn(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct cl_conn *c = arg;
	int r;

	if (c->req_off < c->run->req_len)
		r = conn_send(c);
	else
		r = conn_recv(c);
	if (r != 0)
		conn_end(c, r < 0 ? -r : 0);
}

static void conn_start(struct cl_conn *c)
{
	struct cl_run *r = c->run;
	int fd, one = 1, err;

	fd = socket(r->o->dst.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		count_error(r, errno);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*c = (struct cl_conn){ .run = r, .fd = fd, .t0_ns = now_ns(),
			       .clen = -1 };
	if (connect(fd, (const struct sockaddr *)&r->o->dst, r->o->dst_len) &&
	    errno != EINPROGRESS)
		err = errno;
	else
		err = -loop_add_fd(r->loop, fd, EPOLLOUT, on_conn, c);
	r->active++;
	if (err)
		conn_end(c, err);
}

/* Ends the window, times out stuck connections, refills failed slots. */
static int64_t on_tick(struct loop *l, void *arg)
{
	struct cl_run *r = arg;
	uint64_t now = now_ns(), limit = r->o->timeout_ms * 1000000u;

	if (now > r->t_end_ns)
		r->closing = true;
	for (size_t i = 0; i < r->o->concurrency; i++) {
		struct cl_conn *c = &r->conns[i];
		if (c->fd >= 0 && now - c->t0_ns > limit)
			conn_end(c, ETIMEDOUT);
		else if (c->fd < 0 && !r->closing)
			conn_start(c);
	}
	if (r->closing && !r->active) {
		loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	return TICK_MS;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pctl_ms(const struct cl_run *r, unsigned pct)
{
	size_t i;

	if (!r->nlat)
		return 0;
	i = (r->nlat * pct + 99) / 100;
	return r->lat_us[i ? i - 1 : 0] / 1000.0;
}

static void report(struct cl_run *r)
{
	uint64_t failed =
		r->refused + r->reset + r->timeout + r->bad + r->other;

	if (r->nlat)
		qsort(r->lat_us, r->nlat, sizeof(*r->lat_us), cmp_u32);
	printf("ok=%llu late=%llu failed=%llu refused=%llu reset=%llu "
	       "timeout=%llu bad=%llu other=%llu seconds=%llu cps=%.1f "
	       "p50_ms=%.1f p90_ms=%.1f\n",
	       (unsigned long long)r->ok, (unsigned long long)r->late,
	       (unsigned long long)failed, (unsigned long long)r->refused,
	       (unsigned long long)r->reset, (unsigned long long)r->timeout,
	       (unsigned long long)r->bad, (unsigned long long)r->other,
	       (unsigned long long)r->o->seconds,
	       (double)r->ok / (double)r->o->seconds, pctl_ms(r, 50),
	       pctl_ms(r, 90));
}

static int client_run(const struct cl_opts *o)
{
	struct cl_run r = { .o = o };
	int n, rc = 1;

	n = snprintf(r.req, sizeof(r.req),
		     "GET %s HTTP/1.0\r\nUser-Agent: mptun-httpload\r\n\r\n",
		     o->path);
	if (n < 0 || (size_t)n >= sizeof(r.req))
		fatalx("path too long");
	r.req_len = (size_t)n;
	if (!(r.loop = loop_new()))
		fatalx("out of memory");
	if (!(r.conns = calloc(o->concurrency, sizeof(*r.conns))))
		goto free_loop;
	r.t_end_ns = now_ns() + o->seconds * 1000000000u;
	for (size_t i = 0; i < o->concurrency; i++) {
		r.conns[i] = (struct cl_conn){ .run = &r, .fd = -1 };
		conn_start(&r.conns[i]);
	}
	loop_timer_arm(r.loop, &r.tick, TICK_MS, on_tick, &r);
	if (loop_run(r.loop) < 0)
		log_error("loop failed");
	report(&r);
	rc = r.ok ? 0 : 1;
	free(r.lat_us);
	free(r.conns);
free_loop:
	loop_free(r.loop);
	return rc;
}

/* ---- server ---- */

struct sv;

struct sv_conn {
	struct sv *sv;
	int fd;
	size_t seen, off;
	char last[4]; /* the request's last bytes: a blank line spans reads */
	bool answering;
};

struct sv {
	struct loop *loop;
	int lfd;
	char *resp;
	size_t resp_len;
	struct sv_conn **by_fd;
	size_t max_fd;
};

static void sv_close(struct sv_conn *c)
{
	struct sv *s = c->sv;

	loop_del_fd(s->loop, c->fd);
	close(c->fd);
	s->by_fd[c->fd] = NULL;
	free(c);
}

/* true once the request's blank line has come */
static bool sv_scan(struct sv_conn *c, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memmove(c->last, c->last + 1, 3);
		c->last[3] = b[i];
		if (!memcmp(c->last, "\r\n\r\n", 4))
			return true;
	}
	return false;
}

/* Closes the connection once all is sent, or on an error. */
static void sv_write(struct sv_conn *c)
{
	struct sv *s = c->sv;
	ssize_t n;

	while (c->off < s->resp_len) {
		n = send(c->fd, s->resp + c->off, s->resp_len - c->off,
			 MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN &&
		    loop_mod_fd(s->loop, c->fd, EPOLLOUT) == 0)
			return;
		if (n < 0)
			break;
		c->off += (size_t)n;
	}
	sv_close(c);
}

static void sv_read(struct sv_conn *c)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || (c->seen += (size_t)n) > REQ_MAX) {
			sv_close(c);
			return;
		}
		if (sv_scan(c, buf, (size_t)n)) {
			c->answering = true;
			sv_write(c);
			return;
		}
	}
}

static void on_sv_conn(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct sv_conn *c = arg;

	if (c->answering)
		sv_write(c);
	else
		sv_read(c);
}

static void sv_accept_one(struct sv *s, int fd)
{
	struct sv_conn *c;

	if ((size_t)fd >= s->max_fd || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	*c = (struct sv_conn){ .sv = s, .fd = fd };
	if (loop_add_fd(s->loop, fd, EPOLLIN, on_sv_conn, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	s->by_fd[fd] = c;
}

static void on_accept(struct loop *l, int lfd, uint32_t events, void *arg)
{
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		sv_accept_one(arg, fd);
	}
	if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
		log_warn("accept");
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	loop_stop(l);
}

/* head and body of the one answer; the body is 'x's */
static bool sv_response(struct sv *s, size_t size)
{
	char head[160];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream"
		     "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		     size);
	if (!(s->resp = malloc((size_t)n + size)))
		return false;
	memcpy(s->resp, head, (size_t)n);
	memset(s->resp + n, 'x', size);
	s->resp_len = (size_t)n + size;
	return true;
}

/* A listener on o->serve, dual-stack when it is an IPv6 address. */
static int sv_listen(const struct cl_opts *o)
{
	int fd, one = 1, zero = 0;

	fd = socket(o->serve.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (o->serve.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (const struct sockaddr *)&o->serve, o->serve_len) < 0 ||
	    listen(fd, 4096) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* As many fds as the hard limit allows: each connection is one. */
static size_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_cur > 1 << 20)
		rl.rlim_cur = 1 << 20;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (size_t)rl.rlim_cur;
}

static int server_run(const struct cl_opts *o)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct sv s = { .max_fd = raise_nofile() };
	int rc = 1;

	if (!(s.loop = loop_new()) || !sv_response(&s, o->size) ||
	    !(s.by_fd = calloc(s.max_fd, sizeof(*s.by_fd))))
		fatalx("out of memory");
	if ((s.lfd = sv_listen(o)) < 0) {
		log_error("listen: %s", strerror(-s.lfd));
		goto free_all;
	}
	if (loop_add_fd(s.loop, s.lfd, EPOLLIN, on_accept, &s) < 0 ||
	    loop_add_signals(s.loop, sigs, 2, on_signal, &s) < 0)
		goto close_lfd;
	rc = loop_run(s.loop) < 0;
close_lfd:
	for (size_t i = 0; i < s.max_fd; i++)
		if (s.by_fd[i])
			sv_close(s.by_fd[i]);
	loop_del_fd(s.loop, s.lfd);
	close(s.lfd);
free_all:
	free(s.by_fd);
	free(s.resp);
	loop_free(s.loop);
	return rc;
}

/* ---- arguments ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mptun-httpload [--concurrency N] [--seconds S] "
		"[--timeout MS] ADDR:PORT PATH\n"
		"       mptun-httpload --serve ADDR:PORT [--size BYTES]\n"
		"Client: HTTP/1.0 GETs of PATH, one connection each, N in "
		"flight (default 16)\nfor S seconds (default 3); prints ok, "
		"failures, cps and p50/p90 in ms.\nServer: answers any request "
		"with 200 and BYTES (default 1024) bytes.\n");
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_opt(struct cl_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'c': return parse_u64(arg, 1, 10000, &o->concurrency);
	case 's': return parse_u64(arg, 1, 3600, &o->seconds);
	case 't': return parse_u64(arg, 1, 600000, &o->timeout_ms);
	case 'z': return parse_u64(arg, 0, 64 << 20, &o->size);
	case 'S':
		o->server = true;
		return addr_parse(arg, -1, &o->serve, &o->serve_len);
	}
	return false;
}

/* 0, 1 to exit 0 (--help), or 2 after a usage message. */
static int parse_args(struct cl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "concurrency", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 'z' },
		{ "serve", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	*o = (struct cl_opts){ .concurrency = 16, .seconds = 3,
			       .timeout_ms = 5000, .size = 1024 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?' || !parse_opt(o, c, optarg)) {
			if (c != '?')
				fprintf(stderr,
					"mptun-httpload: bad value '%s'\n",
					optarg);
			usage(stderr);
			return 2;
		}
	}
	if (o->server && optind == argc)
		return 0;
	if (!o->server && optind + 2 == argc &&
	    addr_parse(argv[optind], -1, &o->dst, &o->dst_len)) {
		o->path = argv[optind + 1];
		return 0;
	}
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct cl_opts o;
	int rc;

	log_init("mptun-httpload", true, LOG_INFO);
	rc = parse_args(&o, argc, argv);
	if (rc)
		return rc == 1 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	return o.server ? server_run(&o) : client_run(&o);
}
