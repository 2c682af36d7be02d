/* A small logger: stderr in the foreground, syslog otherwise.
 * log_warn adds strerror(errno); fatal logs and exits 1.
 * On stderr each event is one line: "level: message", or "<N>message"
 * (sd-daemon(3) priority prefix) when stderr is systemd's journal stream,
 * so that journald records the level. Control characters in a message are
 * escaped as \xNN: a message never makes two lines. */
#ifndef MPTUN_LOG_H
#define MPTUN_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

void log_init(const char *ident, bool foreground, int level);
void log_set_level(int level); /* LOG_ERR .. LOG_DEBUG */
int log_get_level(void);
int log_level_parse(const char *s); /* "error"... or -1 */

/* The longest line written, escapes included; longer ones are cut. */
#define LOG_LINE_MAX 2048
/* Copies s into out (len > 0) as one line, control characters but tab as
 * \xNN; cut between escapes. Returns the length written. */
size_t log_escape(char *out, size_t len, const char *s);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
