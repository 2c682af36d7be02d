#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool log_fg = true;
static int log_level = LOG_INFO;

void log_init(const char *ident, bool foreground, int level)
{
	log_fg = foreground;
	log_level = level;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
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

static void vlog(int pri, const char *suffix, const char *fmt, va_list ap)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
					     "warn",  "notice", "info", "debug" };
	char msg[1024];

	if (pri > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_fg)
		fprintf(stderr, "%s: %s%s%s\n", names[pri], msg,
			suffix ? ": " : "", suffix ? suffix : "");
	else
		syslog(pri, "%s%s%s", msg, suffix ? ": " : "",
		       suffix ? suffix : "");
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
