/* A small logger: stderr in the foreground, syslog otherwise.
 * log_warn adds strerror(errno); fatal logs and exits 1. */
#ifndef MPTUN_LOG_H
#define MPTUN_LOG_H

#include <stdbool.h>
#include <syslog.h>

void log_init(const char *ident, bool foreground, int level);
void log_set_level(int level); /* LOG_ERR .. LOG_DEBUG */
int log_get_level(void);
int log_level_parse(const char *s); /* "error"... or -1 */

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
