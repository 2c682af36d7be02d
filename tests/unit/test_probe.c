/* lib/probe: one probe against a small concentrator stand-in that runs in
 * the same event loop on 127.0.0.1 and answers as told (Supported TCP
 * Extensions, in one piece or two, nothing, garbage, Error, close). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "convert.h"
#include "loop.h"
#include "probe.h"

#define TIMEOUT_MS 200
#define GUARD_MS   3000

enum srv_mode {
	SRV_ANSWER,  /* Supported TCP Extensions, then FIN */
	SRV_SPLIT,   /* the same answer in two writes 30 ms apart */
	SRV_SILENT,  /* accept, read, never answer */
	SRV_GARBAGE, /* not Convert at all */
	SRV_NO_EXT,  /* valid Convert without Supported TCP Extensions */
	SRV_ERROR,   /* Error TLV (Not Authorized), then FIN */
	SRV_CLOSE,   /* close without an answer */
};

enum srv_end { END_OPEN, END_FIN, END_RST, END_CLOSED, END_OTHER };

struct run;

struct srv {
	struct run *run;
	enum srv_mode mode;
	int lfd, cfd;
	struct sockaddr_in addr; /* where it listens */
	struct sockaddr_in peer; /* the probe's source */
	uint8_t in[64];
	size_t in_len;
	bool answered;
	bool got_info; /* the request was exactly one Convert Info message */
	enum srv_end end;
	uint8_t rest[CONVERT_MAX_LEN]; /* SRV_SPLIT's second write */
	size_t rest_len;
	struct loop_timer later;
};

struct run {
	struct loop *l;
	struct srv *srv; /* when set, also wait for its connection to end */
	struct probe_result r;
	int calls;
	uint64_t done_ms;
	struct loop_timer guard;
	int chain; /* done_start_next: probes still to start */
	struct sockaddr_in conc;
	bool stop_on_answer; /* the loop stops once the server has answered */
};

static void stop_if_done(struct run *run)
{
	if (run->calls && (!run->srv || run->srv->end != END_OPEN))
		loop_stop(run->l);
}

static void on_done(void *arg, const struct probe_result *r)
{
	struct run *run = arg;

	run->r = *r;
	run->calls++;
	run->done_ms = loop_clock_ms();
	stop_if_done(run);
}

static int64_t on_guard(struct loop *l, void *arg)
{
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void run_loop(struct run *run, int64_t ms)
{
	loop_timer_arm(run->l, &run->guard, ms, on_guard, run);
	assert_int_equal(loop_run(run->l), 0);
	loop_timer_disarm(run->l, &run->guard);
}

/* The server. */

static void srv_close_conn(struct srv *s)
{
	if (s->cfd < 0)
		return;
	loop_del_fd(s->run->l, s->cfd);
	close(s->cfd);
	s->cfd = -1;
}

static void srv_write(struct srv *s, const void *buf, size_t len)
{
	assert_int_equal(send(s->cfd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static int64_t srv_write_rest(struct loop *l, void *arg)
{
	struct srv *s = arg;

	srv_write(s, s->rest, s->rest_len);
	shutdown(s->cfd, SHUT_WR);
	return LOOP_TIMER_STOP;
}

static size_t supported_ext(uint8_t *out)
{
	static const uint8_t kinds[] = {3, 4, 8, 30};
	struct convert_builder b;
	size_t n;

	convert_begin(&b);
	assert_int_equal(convert_put_supported_ext(&b, kinds, sizeof(kinds)),
			 0);
	n = convert_finish(&b);
	memcpy(out, b.buf, n);
	return n;
}

static void srv_answer(struct srv *s)
{
	static const char garbage[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
	struct convert_builder b;
	uint8_t buf[CONVERT_MAX_LEN], zero = 0;
	size_t n;

	convert_begin(&b);
	switch (s->mode) {
	case SRV_ANSWER:
		srv_write(s, buf, supported_ext(buf));
		shutdown(s->cfd, SHUT_WR);
		break;
	case SRV_SPLIT:
		n = supported_ext(buf);
		srv_write(s, buf, 3);
		memcpy(s->rest, buf + 3, n - 3);
		s->rest_len = n - 3;
		loop_timer_arm(s->run->l, &s->later, 30, srv_write_rest, s);
		break;
	case SRV_SILENT:
		break;
	case SRV_GARBAGE:
		srv_write(s, garbage, sizeof(garbage) - 1);
		break;
	case SRV_NO_EXT:
		assert_int_equal(convert_put_info(&b), 0);
		srv_write(s, b.buf, convert_finish(&b));
		break;
	case SRV_ERROR:
		assert_int_equal(
		    convert_put_error(&b, CONVERT_E_NOT_AUTHORIZED, &zero, 1),
		    0);
		srv_write(s, b.buf, convert_finish(&b));
		shutdown(s->cfd, SHUT_WR);
		break;
	case SRV_CLOSE:
		srv_close_conn(s);
		s->end = END_CLOSED;
		break;
	}
	if (s->run->stop_on_answer)
		loop_stop(s->run->l);
}

static void srv_request(struct srv *s)
{
	struct convert_msg m;
	struct convert_fault fault;
	size_t used;

	switch (convert_decode(s->in, s->in_len, &m, &used, &fault)) {
	case CONVERT_SHORT:
		return;
	case CONVERT_BAD:
		s->got_info = false;
		break;
	case CONVERT_OK:
		s->got_info =
		    m.present == CONVERT_HAS_INFO && used == s->in_len;
		break;
	}
	s->answered = true;
	srv_answer(s);
}

static void srv_on_conn(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct srv *s = arg;
	ssize_t n = recv(fd, s->in + s->in_len, sizeof(s->in) - s->in_len, 0);

	if (n < 0 && errno == EAGAIN)
		return;
	if (n == 0)
		s->end = END_FIN;
	else if (n < 0)
		s->end = errno == ECONNRESET ? END_RST : END_OTHER;
	if (n <= 0) {
		srv_close_conn(s);
		stop_if_done(s->run);
		return;
	}
	s->in_len += (size_t)n;
	if (!s->answered)
		srv_request(s);
	stop_if_done(s->run);
}

static void srv_on_accept(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct srv *s = arg;
	socklen_t len = sizeof(s->peer);
	int c = accept4(fd, (struct sockaddr *)&s->peer, &len,
			SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (c < 0)
		return;
	if (s->cfd >= 0) { /* one connection at a time: refuse the others */
		close(c);
		return;
	}
	s->cfd = c;
	assert_int_equal(loop_add_fd(l, c, EPOLLIN, srv_on_conn, s), 0);
}

static void srv_init(struct srv *s, struct run *run, enum srv_mode mode)
{
	socklen_t len = sizeof(s->addr);

	memset(s, 0, sizeof(*s));
	s->run = run;
	s->mode = mode;
	s->cfd = -1;
	s->addr.sin_family = AF_INET;
	s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&s->addr, len), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&s->addr, &len),
			 0);
	assert_int_equal(loop_add_fd(run->l, s->lfd, EPOLLIN, srv_on_accept, s),
			 0);
	run->srv = s;
}

static void srv_free(struct srv *s)
{
	loop_timer_disarm(s->run->l, &s->later);
	srv_close_conn(s);
	loop_del_fd(s->run->l, s->lfd);
	close(s->lfd);
}

static void run_init(struct run *run)
{
	memset(run, 0, sizeof(*run));
	run->l = loop_new();
	assert_non_null(run->l);
}

static struct probe *start(struct run *run, const struct sockaddr_in *conc)
{
	struct probe *p =
	    probe_start(run->l, (const struct sockaddr *)conc, sizeof(*conc),
			NULL, 0, NULL, TIMEOUT_MS, on_done, run);

	assert_non_null(p);
	assert_int_equal(run->calls, 0); /* never from inside probe_start */
	return p;
}

/* One probe against a server in mode; leaves the result in run. */
static void probe_server(struct run *run, struct srv *s, enum srv_mode mode)
{
	run_init(run);
	srv_init(s, run, mode);
	start(run, &s->addr);
	run_loop(run, GUARD_MS);
	assert_int_equal(run->calls, 1);
	assert_true(s->answered);
	assert_true(s->got_info);
}

static void probe_server_done(struct run *run, struct srv *s)
{
	srv_free(s);
	loop_free(run->l);
}

/* A port where nothing listens: bound, not listening, held meanwhile. */
static int closed_port(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	return fd;
}

/* The tests. */

static void answer_is_success(void **state)
{
	struct run run;
	struct srv s;

	probe_server(&run, &s, SRV_ANSWER);
	assert_int_equal(run.r.err, 0);
	assert_true(run.r.connect_us > 0);
	assert_true(run.r.answer_us >= run.r.connect_us);
	assert_int_equal(s.end, END_RST); /* a reset, not a FIN */
	probe_server_done(&run, &s);
}

static void answer_in_two_pieces(void **state)
{
	struct run run;
	struct srv s;

	probe_server(&run, &s, SRV_SPLIT);
	assert_int_equal(run.r.err, 0);
	assert_true(run.r.answer_us >= run.r.connect_us + 20000);
	assert_int_equal(s.end, END_RST);
	probe_server_done(&run, &s);
}

static void silent_server_times_out(void **state)
{
	struct run run;
	struct srv s;
	uint64_t t0 = loop_clock_ms();

	probe_server(&run, &s, SRV_SILENT);
	assert_int_equal(run.r.err, -ETIMEDOUT);
	assert_true(run.done_ms - t0 >= TIMEOUT_MS - 5);
	assert_true(run.done_ms - t0 < TIMEOUT_MS + 500);
	assert_true(run.r.connect_us > 0);
	assert_int_equal(run.r.answer_us, 0);
	assert_int_equal(s.end, END_RST);
	probe_server_done(&run, &s);
}

static void no_listener_is_refused(void **state)
{
	struct run run;
	struct sockaddr_in sa;
	int hold = closed_port(&sa);

	run_init(&run);
	start(&run, &sa);
	run_loop(&run, GUARD_MS);
	assert_int_equal(run.calls, 1);
	assert_int_equal(run.r.err, -ECONNREFUSED);
	assert_int_equal(run.r.connect_us, 0);
	assert_int_equal(run.r.answer_us, 0);
	close(hold);
	loop_free(run.l);
}

/* The kernel refuses a TCP connect to broadcast inside connect() itself,
 * before any packet: done must still come from the loop. */
static void immediate_connect_error_is_deferred(void **state)
{
	struct run run;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(5124),
				 .sin_addr.s_addr = htonl(INADDR_BROADCAST)};

	run_init(&run);
	start(&run, &sa);
	run_loop(&run, GUARD_MS);
	assert_int_equal(run.calls, 1);
	assert_int_equal(run.r.err, -ENETUNREACH);
	loop_free(run.l);
}

static void garbage_is_eproto(void **state)
{
	struct run run;
	struct srv s;

	probe_server(&run, &s, SRV_GARBAGE);
	assert_int_equal(run.r.err, -EPROTO);
	assert_int_equal(s.end, END_RST);
	probe_server_done(&run, &s);
}

static void convert_without_supported_ext_is_eproto(void **state)
{
	struct run run;
	struct srv s;

	probe_server(&run, &s, SRV_NO_EXT);
	assert_int_equal(run.r.err, -EPROTO);
	probe_server_done(&run, &s);
}

static void error_tlv_is_eacces(void **state)
{
	struct run run;
	struct srv s;

	probe_server(&run, &s, SRV_ERROR);
	assert_int_equal(run.r.err, -EACCES);
	assert_int_equal(run.r.error_code, CONVERT_E_NOT_AUTHORIZED);
	assert_true(run.r.answer_us >= run.r.connect_us);
	assert_int_equal(s.end, END_RST);
	probe_server_done(&run, &s);
}

static void close_without_answer_is_reset(void **state)
{
	struct run run;
	struct srv s;

	probe_server(&run, &s, SRV_CLOSE);
	assert_int_equal(run.r.err, -ECONNRESET);
	assert_int_equal(run.r.answer_us, 0);
	probe_server_done(&run, &s);
}

/* The source port is forced to 0: the server's own port given as the
 * source would otherwise fail with EADDRINUSE. */
static void source_and_device_bind(void **state)
{
	struct run run;
	struct srv s;
	struct sockaddr_in src;

	run_init(&run);
	srv_init(&s, &run, SRV_ANSWER);
	src = s.addr;
	assert_non_null(probe_start(run.l, (struct sockaddr *)&s.addr,
				    sizeof(s.addr), (struct sockaddr *)&src,
				    sizeof(src), "lo", TIMEOUT_MS, on_done,
				    &run));
	run_loop(&run, GUARD_MS);
	assert_int_equal(run.calls, 1);
	assert_int_equal(run.r.err, 0);
	assert_int_equal(s.peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_not_equal(s.peer.sin_port, s.addr.sin_port);
	probe_server_done(&run, &s);
}

static void bad_device_or_source_fails_to_start(void **state)
{
	struct run run;
	struct sockaddr_in sa;
	struct sockaddr_in src = {.sin_family = AF_INET};
	int hold = closed_port(&sa);

	run_init(&run);
	errno = 0;
	assert_null(probe_start(run.l, (struct sockaddr *)&sa, sizeof(sa), NULL,
				0, "nosuchdev0", TIMEOUT_MS, on_done, &run));
	assert_int_equal(errno, ENODEV);
	errno = 0;
	assert_null(probe_start(run.l, (struct sockaddr *)&sa, sizeof(sa), NULL,
				0, "a-name-longer-than-ifnamsiz", TIMEOUT_MS,
				on_done, &run));
	assert_int_equal(errno, ENODEV);
	inet_pton(AF_INET, "192.0.2.55", &src.sin_addr);
	errno = 0;
	assert_null(probe_start(run.l, (struct sockaddr *)&sa, sizeof(sa),
				(struct sockaddr *)&src, sizeof(src), NULL,
				TIMEOUT_MS, on_done, &run));
	assert_int_equal(errno, EADDRNOTAVAIL);
	run_loop(&run, 20);
	assert_int_equal(run.calls, 0);
	close(hold);
	loop_free(run.l);
}

/* Cancelled while waiting for the answer, while connecting, and while an
 * immediate error waits for the loop: done never runs, nothing leaks, and
 * the server sees a reset. */
static void cancel_means_no_done(void **state)
{
	struct run run;
	struct srv s;
	struct sockaddr_in bcast = {.sin_family = AF_INET,
				    .sin_port = htons(5124),
				    .sin_addr.s_addr = htonl(INADDR_BROADCAST)};
	struct probe *p;

	run_init(&run);
	srv_init(&s, &run, SRV_SILENT);
	p = start(&run, &s.addr);
	run_loop(&run, 50);
	assert_true(s.answered);
	probe_cancel(p);
	probe_cancel(start(&run, &s.addr));
	probe_cancel(start(&run, &bcast));
	probe_cancel(NULL);
	run_loop(&run, TIMEOUT_MS + 100);
	assert_int_equal(run.calls, 0);
	assert_int_equal(s.end, END_RST);
	probe_server_done(&run, &s);
}

static void on_done_start_next(void *arg, const struct probe_result *r)
{
	struct run *run = arg;

	run->calls++;
	run->r = *r;
	if (--run->chain > 0)
		assert_non_null(probe_start(
		    run->l, (struct sockaddr *)&run->conc, sizeof(run->conc),
		    NULL, 0, NULL, TIMEOUT_MS, on_done_start_next, run));
	else
		loop_stop(run->l);
}

static void done_may_start_the_next_probe(void **state)
{
	struct run run;
	int hold;

	run_init(&run);
	hold = closed_port(&run.conc);
	run.chain = 3;
	assert_non_null(probe_start(run.l, (struct sockaddr *)&run.conc,
				    sizeof(run.conc), NULL, 0, NULL, TIMEOUT_MS,
				    on_done_start_next, &run));
	run_loop(&run, GUARD_MS);
	assert_int_equal(run.calls, 3);
	assert_int_equal(run.r.err, -ECONNREFUSED);
	close(hold);
	loop_free(run.l);
}

/* Always readable, never read: a busy daemon's other sockets. */
static void busy_fd(struct loop *l, int fd, uint32_t ev, void *arg)
{
}

/* A busy daemon's loop reaches the probe's deadline late, with the answer
 * already in the socket and more ready sockets than one turn dispatches
 * (256) ahead of it: the probe still reads its answer. */
static void late_loop_still_reads_the_answer(void **state)
{
	enum { N_BUSY = 300 };
	int busy[N_BUSY];
	struct run run;
	struct srv s;
	uint64_t one = 1;

	run_init(&run);
	srv_init(&s, &run, SRV_ANSWER);
	for (int i = 0; i < N_BUSY; i++) {
		busy[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(busy[i] >= 0);
		assert_int_equal(write(busy[i], &one, sizeof(one)), sizeof(one));
		assert_int_equal(loop_add_fd(run.l, busy[i], EPOLLIN, busy_fd, NULL), 0);
	}
	run.stop_on_answer = true;
	start(&run, &s.addr);
	run_loop(&run, GUARD_MS);
	assert_true(s.answered);
	assert_int_equal(run.calls, 0);
	/* The answer waits in the probe's socket, behind 300 ready ones,
	 * while the daemon is elsewhere past the deadline. */
	usleep((TIMEOUT_MS + 50) * 1000);
	run.stop_on_answer = false;
	run_loop(&run, GUARD_MS);
	assert_int_equal(run.calls, 1);
	assert_int_equal(run.r.err, 0);
	assert_true(run.r.answer_us > 0);
	for (int i = 0; i < N_BUSY; i++) {
		loop_del_fd(run.l, busy[i]);
		close(busy[i]);
	}
	probe_server_done(&run, &s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(answer_is_success),
	    cmocka_unit_test(answer_in_two_pieces),
	    cmocka_unit_test(silent_server_times_out),
	    cmocka_unit_test(no_listener_is_refused),
	    cmocka_unit_test(immediate_connect_error_is_deferred),
	    cmocka_unit_test(garbage_is_eproto),
	    cmocka_unit_test(convert_without_supported_ext_is_eproto),
	    cmocka_unit_test(error_tlv_is_eacces),
	    cmocka_unit_test(close_without_answer_is_reset),
	    cmocka_unit_test(source_and_device_bind),
	    cmocka_unit_test(bad_device_or_source_fails_to_start),
	    cmocka_unit_test(cancel_means_no_done),
	    cmocka_unit_test(done_may_start_the_next_probe),
	    cmocka_unit_test(late_loop_still_reads_the_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
