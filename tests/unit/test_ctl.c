/* lib/ctl: a loop in a thread serves routes on 127.0.0.1 and on a unix
 * socket in a temporary directory; plain socket clients check the answers
 * (200 JSON, 404, 405, 403 for a privileged route over TCP, query
 * arguments), the replacement of a stale socket file, the refusal of a
 * path another live server holds or a file that is no socket, and that
 * ctl_stop removes its own socket file and no other. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

/* ---- routes ---- */

static void on_hello(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	const char *who = ctl_req_arg(rq, "who");

	ctl_reply_json(rp, 200,
		       json_pack("{sssb}", "hello", who ? who : "world",
				 "privileged", rq->privileged));
}

static void on_poke(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	int *pokes = arg;

	(*pokes)++;
	ctl_reply_json(rp, 200, json_pack("{sb}", "ok", 1));
}

static const struct ctl_route routes[] = {
    {"GET", "/hello", on_hello, false},
    {"POST", "/poke", on_poke, true},
};

/* ---- a server: ctl on a loop in its own thread ---- */

struct server {
	struct loop *loop;
	struct ctl *ctl;
	pthread_t thread;
	int stop[2]; /* a byte here stops the loop */
	int pokes;
	char dir[48], path[100]; /* fits sun_path */
	uint16_t port;
};

static void on_stop(struct loop *l, int fd, uint32_t ev, void *arg)
{
	loop_stop(l);
}

static void *serve(void *arg)
{
	struct server *s = arg;

	loop_run(s->loop);
	return NULL;
}

/* A port free a moment ago on 127.0.0.1 (the config has no port 0). */
static uint16_t free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void config_for(struct ctl_config *c, struct server *s, bool tcp)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&c->http;

	memset(c, 0, sizeof(*c));
	if (tcp) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(s->port);
	}
	c->socket = s->path;
}

/* Start a ctl on path (and TCP when tcp); NULL with why in err. */
static struct ctl *start(struct server *s, bool tcp, char *err, size_t errlen)
{
	struct ctl_config c;
	struct ctl *ctl = NULL;

	/* another process may take the free port in between: try again */
	for (int i = 0; i < 5 && !ctl; i++) {
		s->port = free_port();
		config_for(&c, s, tcp);
		ctl = ctl_start(s->loop, &c, routes, 2, &s->pokes, err, errlen);
		if (ctl || !strstr(err, "control.http"))
			break;
	}
	return ctl;
}

static void server_up(struct server *s, bool tcp)
{
	char err[256];

	assert_int_equal(pipe2(s->stop, O_CLOEXEC), 0);
	assert_non_null(s->loop = loop_new());
	assert_int_equal(loop_add_fd(s->loop, s->stop[0], EPOLLIN, on_stop, s),
			 0);
	s->ctl = start(s, tcp, err, sizeof(err));
	if (!s->ctl)
		fail_msg("ctl_start: %s", err);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_down(struct server *s)
{
	assert_int_equal(write(s->stop[1], "x", 1), 1);
	pthread_join(s->thread, NULL);
	ctl_stop(s->ctl);
	loop_del_fd(s->loop, s->stop[0]);
	loop_free(s->loop);
	close(s->stop[0]);
	close(s->stop[1]);
}

static int setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));

	snprintf(s->dir, sizeof(s->dir), "/tmp/test_ctl.XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s/ctl.sock", s->dir);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;

	unlink(s->path);
	rmdir(s->dir);
	free(s);
	return 0;
}

/* ---- a client ---- */

struct answer {
	int status;
	char body[4096];
};

static int connect_to(const struct server *s, bool tcp)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons(s->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
	if (tcp)
		assert_int_equal(
		    connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	else
		assert_int_equal(
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* One request; the whole answer (the server closes after it). */
static void request(const struct server *s, bool tcp, const char *method,
		    const char *target, struct answer *a)
{
	char buf[8192], req[512];
	size_t got = 0;
	ssize_t n;
	int fd = connect_to(s, tcp);
	char *body;

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n"
		 "Connection: close\r\n\r\n",
		 method, target);
	assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL),
			 (ssize_t)strlen(req));
	while (got < sizeof(buf) - 1 &&
	       (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d ", &a->status), 1);
	body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	snprintf(a->body, sizeof(a->body), "%s", body + 4);
}

static void check_json(const char *body, const char *key, const char *want)
{
	json_error_t e;
	json_t *j = json_loads(body, 0, &e);
	json_t *v;

	if (!j)
		fail_msg("not JSON: %s (%s)", body, e.text);
	v = json_object_get(j, key);
	assert_non_null(v);
	if (json_is_string(v))
		assert_string_equal(json_string_value(v), want);
	else
		assert_string_equal(json_is_true(v) ? "true" : "false", want);
	json_decref(j);
}

/* ---- tests ---- */

static void answers(void **state)
{
	struct server *s = *state;
	struct answer a;

	server_up(s, true);
	for (int tcp = 0; tcp < 2; tcp++) {
		request(s, tcp, "GET", "/hello", &a);
		assert_int_equal(a.status, 200);
		check_json(a.body, "hello", "world");
		check_json(a.body, "privileged", tcp ? "false" : "true");
		request(s, tcp, "GET", "/hello?who=me", &a);
		check_json(a.body, "hello", "me");
		request(s, tcp, "GET", "/nothing", &a);
		assert_int_equal(a.status, 404);
		check_json(a.body, "error", "no such endpoint: /nothing");
		request(s, tcp, "POST", "/hello", &a);
		assert_int_equal(a.status, 405);
		request(s, tcp, "GET", "/poke", &a);
		assert_int_equal(a.status, 405);
	}
	request(s, true, "POST", "/poke", &a);
	assert_int_equal(a.status, 403);
	assert_int_equal(s->pokes, 0);
	request(s, false, "POST", "/poke", &a);
	assert_int_equal(a.status, 200);
	check_json(a.body, "ok", "true");
	assert_int_equal(s->pokes, 1);
	server_down(s);
}

/* A socket file nobody listens on (a daemon that crashed) is replaced. */
static void stale_socket_replaced(void **state)
{
	struct server *s = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct answer a;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(access(s->path, F_OK), 0);
	server_up(s, false);
	request(s, false, "GET", "/hello", &a);
	assert_int_equal(a.status, 200);
	server_down(s);
	assert_int_equal(access(s->path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

static void live_socket_refused(void **state)
{
	struct server *s = *state, t = *s;
	char err[256];
	struct ctl *other;

	server_up(s, false);
	assert_non_null(t.loop = loop_new());
	other = start(&t, false, err, sizeof(err));
	assert_null(other);
	assert_non_null(strstr(err, "another daemon is serving on it"));
	loop_free(t.loop);
	/* the first one still serves, and its file is still there */
	struct answer a;
	request(s, false, "GET", "/hello", &a);
	assert_int_equal(a.status, 200);
	server_down(s);
	assert_int_equal(access(s->path, F_OK), -1);
}

static void not_a_socket_refused(void **state)
{
	struct server *s = *state, t = *s;
	char err[256];
	int fd = open(s->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
	assert_non_null(t.loop = loop_new());
	assert_null(start(&t, false, err, sizeof(err)));
	assert_non_null(strstr(err, "exists and is not a socket"));
	loop_free(t.loop);
	assert_int_equal(access(s->path, F_OK), 0); /* left alone */
}

/* A daemon stopping must not remove the socket a newer one made. */
static void stop_spares_a_newer_socket(void **state)
{
	struct server *s = *state, t = *s;
	char err[256];
	struct ctl *newer;

	server_up(s, false);
	assert_int_equal(unlink(s->path), 0);
	assert_non_null(t.loop = loop_new());
	newer = start(&t, false, err, sizeof(err));
	if (!newer)
		fail_msg("ctl_start: %s", err);
	server_down(s);
	assert_int_equal(access(s->path, F_OK), 0);
	ctl_stop(newer);
	loop_free(t.loop);
	assert_int_equal(access(s->path, F_OK), -1);
}

static void tcp_port_taken_refused(void **state)
{
	struct server *s = *state, t = *s;
	struct ctl_config c;
	char err[256];

	server_up(s, true);
	t.port = s->port;
	assert_non_null(t.loop = loop_new());
	snprintf(t.path, sizeof(t.path), "off");
	config_for(&c, &t, true);
	assert_null(ctl_start(t.loop, &c, routes, 2, NULL, err, sizeof(err)));
	assert_non_null(
	    strstr(err, "control.http: cannot listen on 127.0.0.1:"));
	loop_free(t.loop);
	server_down(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(stale_socket_replaced, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(live_socket_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(not_a_socket_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(stop_spares_a_newer_socket, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(tcp_port_taken_refused, setup,
					    teardown),
	};

	log_init("test_ctl", true, LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
