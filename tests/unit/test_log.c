/* lib/log.c: the line formats on stderr (plain and journald) and that a
 * message never makes two lines. stderr is captured through a pipe. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct capture {
	int saved; /* the real stderr */
	int rd;    /* read end of the pipe now on fd 2 */
	char buf[8192];
};

static int cap_setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));
	int p[2];

	if (!c || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fcntl(p[1], F_SETPIPE_SZ, 1 << 16);
	c->saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	c->rd = p[0];
	unsetenv("JOURNAL_STREAM");
	*state = c;
	return 0;
}

static int cap_teardown(void **state)
{
	struct capture *c = *state;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	close(c->rd);
	free(c);
	unsetenv("JOURNAL_STREAM");
	return 0;
}

/* What was written to stderr since the last call, NUL-terminated. */
static const char *captured(struct capture *c)
{
	ssize_t n = read(c->rd, c->buf, sizeof(c->buf) - 1);

	c->buf[n > 0 ? n : 0] = '\0';
	return c->buf;
}

/* JOURNAL_STREAM naming the file open on fd (as systemd sets it). */
static void set_journal_stream(int fd)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

static size_t count_char(const char *s, char ch)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == ch;
	return n;
}

static void test_plain(void **state)
{
	struct capture *c = *state;

	log_init("test", true, LOG_INFO);
	log_info("hello %d", 42);
	assert_string_equal(captured(c), "info: hello 42\n");
	log_error("e");
	log_warnx("w");
	assert_string_equal(captured(c), "error: e\nwarn: w\n");
	log_debug("not at info");
	assert_string_equal(captured(c), "");
	log_set_level(LOG_DEBUG);
	log_debug("now");
	assert_string_equal(captured(c), "debug: now\n");
	errno = ENOENT;
	log_warn("open %s", "x");
	assert_string_equal(captured(c), "warn: open x: No such file or directory\n");
}

static void test_journal(void **state)
{
	struct capture *c = *state;

	set_journal_stream(STDERR_FILENO);
	log_init("test", true, LOG_DEBUG);
	log_error("e");
	log_warnx("w");
	log_info("i %s", "x");
	log_debug("d");
	assert_string_equal(captured(c), "<3>e\n<4>w\n<6>i x\n<7>d\n");
	errno = EACCES;
	log_warn("bind");
	assert_string_equal(captured(c), "<4>bind: Permission denied\n");
}

/* Only a JOURNAL_STREAM naming our own stderr counts: a child whose stderr
 * was redirected to a file keeps the plain format. */
static void test_journal_other_stream(void **state)
{
	struct capture *c = *state;
	static const char *const bad[] = { "", "12", "1:2x", "x:1", "1:2:3",
					   "0:0" };
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	set_journal_stream(fd);
	close(fd);
	log_init("test", true, LOG_INFO);
	log_info("a");
	assert_string_equal(captured(c), "info: a\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("JOURNAL_STREAM", bad[i], 1);
		log_init("test", true, LOG_INFO);
		log_info("b");
		assert_string_equal(captured(c), "info: b\n");
	}
}

static void test_one_line(void **state)
{
	struct capture *c = *state;

	log_init("test", true, LOG_INFO);
	log_info("host %s", "evil\nerror: forged\r\x1b[31mred\tend\x7f");
	assert_string_equal(captured(c), "info: host evil\\x0aerror: forged"
					 "\\x0d\\x1b[31mred\tend\\x7f\n");
	set_journal_stream(STDERR_FILENO);
	log_init("test", true, LOG_INFO);
	log_info("a\nb");
	assert_string_equal(captured(c), "<6>a\\x0ab\n");
	log_info("caf\xc3\xa9"); /* UTF-8 passes unchanged */
	assert_string_equal(captured(c), "<6>caf\xc3\xa9\n");
}

/* A message of newlines escapes to 4 times its size: cut, still one line,
 * and no escape cut in half. */
static void test_long(void **state)
{
	struct capture *c = *state;
	char msg[1000];
	const char *out;
	size_t len;

	memset(msg, '\n', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	log_init("test", true, LOG_INFO);
	log_info("%s", msg);
	out = captured(c);
	len = strlen(out);
	assert_int_equal(count_char(out, '\n'), 1);
	assert_int_equal(out[len - 1], '\n');
	assert_true(len <= LOG_LINE_MAX + 16);
	assert_true(len > LOG_LINE_MAX - 16);
	assert_int_equal((len - 1 - strlen("info: ")) % 4, 0);
	assert_memory_equal(out + len - 5, "\\x0a", 4);
}

static void test_escape(void **state)
{
	char out[8];

	assert_int_equal(log_escape(out, sizeof(out), "abc"), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(log_escape(out, sizeof(out), "ab\ncd"), 7);
	assert_string_equal(out, "ab\\x0ac");
	assert_int_equal(log_escape(out, sizeof(out), "abcd\n"), 4); /* no half */
	assert_string_equal(out, "abcd");
	assert_int_equal(log_escape(out, 1, "abc"), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_journal, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_journal_other_stream, cap_setup,
						cap_teardown),
		cmocka_unit_test_setup_teardown(test_one_line, cap_setup, cap_teardown),
		cmocka_unit_test_setup_teardown(test_long, cap_setup, cap_teardown),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
