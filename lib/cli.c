#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "log.h"

static void usage(FILE *f, const struct cli_info *i)
{
	fprintf(f, "usage: %s [-f] [-d] [-n] [-c FILE]\n"
		   "  -c, --config FILE    configuration (default %s)\n"
		   "  -f, --foreground     stay in the foreground, log to stderr\n"
		   "  -d, --debug          log debug messages\n"
		   "  -n, --check-config   check the configuration and exit\n"
		   "  -h, --help           this text\n%s",
		i->prog, i->default_config, i->extra_help ? i->extra_help : "");
}

bool cli_parse(int argc, char **argv, const struct cli_info *info,
	       struct cli_opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct cli_opts){ .config = info->default_config };
	while ((c = getopt_long(argc, argv, "c:fdnh", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'f': o->foreground = true; break;
		case 'd': o->debug = true; break;
		case 'n': o->check = true; break;
		case 'h': usage(stdout, info); exit(0);
		default: usage(stderr, info); return false;
		}
	}
	if (optind != argc) {
		usage(stderr, info);
		return false;
	}
	return true;
}

void cli_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit(RLIMIT_NOFILE)");
	}
}
