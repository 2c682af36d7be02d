/* The command line both daemons share: -c FILE, -f, -d, -n, -h. */
#ifndef MPTUN_CLI_H
#define MPTUN_CLI_H

#include <stdbool.h>

struct cli_opts {
	const char *config;
	bool foreground, check, debug;
};

struct cli_info {
	const char *prog;           /* "mptun-cpe" */
	const char *default_config; /* "/etc/mptun/cpe.yaml" */
	const char *extra_help;     /* appended to the usage text, or NULL */
};

/* Parse argv; prints the usage and exits 0 for -h. false: bad usage (the
 * usage text is printed to stderr). */
bool cli_parse(int argc, char **argv, const struct cli_info *info,
	       struct cli_opts *o);
/* Raise the soft limit of open files to the hard one: flows hold fds, and
 * the usual soft limit of 1024 is far below flow.max or limits.flows. */
void cli_raise_nofile(void);

#endif
