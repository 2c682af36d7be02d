#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum log_sink { LOG_SINK_STDERR, LOG_SINK_JOURNAL, LOG_SINK_SYSLOG };

static enum log_sink log_sink = LOG_SINK_STDERR;
static int log_level = LOG_INFO;

/* systemd connects a service's stderr to journald and says so in
 * JOURNAL_STREAM ("DEV:INO" of that stream). Compared with our own stderr,
 * so that a child whose stderr was redirected does not take its parent's
 * word for it. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n])
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_init(const char *ident, bool foreground, int level)
{
	log_level = level;
	if (!foreground) {
		log_sink = LOG_SINK_SYSLOG;
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	} else {
		log_sink = stderr_is_journal() ? LOG_SINK_JOURNAL : LOG_SINK_STDERR;
	}
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} t[] = { { "error", LOG_ERR },
		  { "warn", LOG_WARNING },
		  { "info", LOG_INFO },
		  { "debug", LOG_DEBUG } };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].name))
			return t[i].level;
	return -1;
}

/* Control characters (a newline in a host name, a terminal escape in a
 * SOCKS user name) become \xNN, so that no message can forge a log line. */
size_t log_escape(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool ctl = (c < 0x20 && c != '\t') || c == 0x7f;
		size_t need = ctl ? 4 : 1;

		if (o + need >= len)
			break;
		if (ctl)
			snprintf(out + o, 5, "\\x%02x", c);
		else
			out[o] = (char)c;
		o += need;
	}
	out[o] = '\0';
	return o;
}

/* One write(2) per line: the concentrator's workers log at once, and a
 * line split over two writes could interleave with another's. */
static void write_line(int pri, const char *text)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warn",  "notice", "info", "debug" };
	char line[LOG_LINE_MAX + 16];
	int n;

	if (log_sink == LOG_SINK_JOURNAL)
		n = snprintf(line, sizeof(line), "<%d>", pri);
	else
		n = snprintf(line, sizeof(line), "%s: ", names[pri]);
	n += (int)log_escape(line + n, sizeof(line) - (size_t)n - 1, text);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
}

static void vlog(int pri, const char *suffix, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	if (pri > log_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", suffix);
	if (log_sink == LOG_SINK_SYSLOG) {
		char safe[LOG_LINE_MAX];

		log_escape(safe, sizeof(safe), msg);
		syslog(pri, "%s", safe);
	} else {
		write_line(pri, msg);
	}
}

#define LOG_FN(name, pri)                          \
	void name(const char *fmt, ...)            \
	{                                          \
		va_list ap;                        \
		va_start(ap, fmt);                 \
		vlog(pri, NULL, fmt, ap);          \
		va_end(ap);                        \
	}

LOG_FN(log_warnx, LOG_WARNING)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_error, LOG_ERR)

void log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, e, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
