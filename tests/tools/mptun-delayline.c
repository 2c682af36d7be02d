/* mptun-delayline: a one-way delay and random loss for the netns tests
 * (no sch_netem on the test hosts; rate comes from tbf).
 *
 * It creates two TUN devices (IFF_TUN | IFF_NO_PI, not persistent, set up)
 * in the namespace it runs in and copies every packet read from one to the
 * other DELAY ms later, dropping each with probability LOSS on arrival.
 * Route a link's traffic into tun A and it comes out of tun B (and the
 * reverse); tests/netns/lib_delay.sh splices it into a veth link.
 *
 * Limits:
 * - one thread, one epoll loop; delay resolution is 1 ms (epoll timeouts),
 *   the constant delay keeps packet order;
 * - each direction queues at most --queue-max packets (default 8192); more
 *   are dropped and counted as overflow. Delay x rate must fit: 20 ms at
 *   100k packets/s needs 2000 slots;
 * - packets larger than --mtu (default 1500, also the devices' MTU) are not
 *   expected; the kernel segments or fragments forwarded packets to the MTU;
 * - measured (kernel 6.18, 2 vCPUs, -O2, 5 ms line, veth A - MID - veth B,
 *   iperf3 3 s): TCP 1.3 Gbit/s (~110k packets/s); UDP 1400-byte datagrams
 *   lose nothing up to 500 Mbit/s (45k packets/s), 2.6% at 71k packets/s,
 *   12% at 100k; 100-byte datagrams lose nothing at 25k packets/s, 0.3% at
 *   62k, 9% at 110k. So: ~45k packets/s loss-free, ~100k at most. Excess
 *   is dropped in the TUN device queue (500 packets), not counted here;
 * - loss is independent per packet (no bursts), from a PRNG seeded by
 *   --seed or the clock.
 * On SIGTERM or SIGINT it logs its counters and exits 0; queued packets are
 * discarded. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define READ_BURST 64 /* packets per readiness event, then the other side */

struct dl_opts {
	const char *tun_a, *tun_b;
	int64_t delay_ms;
	double loss;
	size_t queue_max, mtu;
	uint64_t seed;
	bool seeded;
};

struct dl_slot {
	uint64_t due_ns;
	size_t len;
	unsigned char *pkt;
};

/* One direction: packets read from in_fd, written to out_fd when due. */
struct dl_dir {
	const char *name;
	int in_fd, out_fd;
	struct dl_slot *ring;
	size_t head, count;
	struct loop_timer timer;
	uint64_t forwarded, lost, overflow, write_err;
	struct dl_line *line;
};

struct dl_line {
	struct dl_opts opts;
	struct loop *loop;
	uint64_t rng;
	struct dl_dir dir[2]; /* a->b, b->a */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mptun-delayline --tun-a NAME --tun-b NAME --delay-ms N\n"
		"                       [--loss P] [--queue-max N] [--mtu N]\n"
		"                       [--seed N] [--verbose]\n"
		"Creates the TUN devices --tun-a and --tun-b and copies each packet\n"
		"read from one to the other N ms later (0..60000), dropping it with\n"
		"probability P (0..1, default 0). Each direction holds at most\n"
		"--queue-max packets (default 8192), more are dropped. Sustains\n"
		"~45k packets/s without loss, ~100k at most (1.3 Gbit/s TCP) on\n"
		"the test host (2 vCPUs).\n"
		"Exits 0 on SIGTERM/SIGINT after logging its counters.\n");
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_prob(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
		return false;
	*out = v;
	return true;
}

static bool parse_opt(struct dl_opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'a': o->tun_a = arg; return strlen(arg) < IFNAMSIZ;
	case 'b': o->tun_b = arg; return strlen(arg) < IFNAMSIZ;
	case 'l': return parse_prob(arg, &o->loss);
	case 'd':
		if (!parse_u64(arg, 60000, &v))
			return false;
		o->delay_ms = (int64_t)v;
		return true;
	case 'q':
		if (!parse_u64(arg, 1000000, &v) || !v)
			return false;
		o->queue_max = v;
		return true;
	case 'm':
		if (!parse_u64(arg, 65535, &v) || v < 576)
			return false;
		o->mtu = v;
		return true;
	case 's':
		o->seeded = true;
		return parse_u64(arg, UINT64_MAX, &o->seed);
	}
	return false;
}

/* 0, 1 to exit 0 (--help), or 2 after a usage message. */
static int parse_args(struct dl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tun-a", required_argument, NULL, 'a' },
		{ "tun-b", required_argument, NULL, 'b' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "loss", required_argument, NULL, 'l' },
		{ "queue-max", required_argument, NULL, 'q' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool have_delay = false;
	int c;

	*o = (struct dl_opts){ .queue_max = 8192, .mtu = 1500 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'v') {
			log_set_level(LOG_DEBUG);
			continue;
		}
		have_delay |= c == 'd';
		if (c == '?' || !parse_opt(o, c, optarg)) {
			if (c != '?')
				fprintf(stderr, "mptun-delayline: bad value '%s'\n",
					optarg);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !o->tun_a || !o->tun_b || !have_delay ||
	    !strcmp(o->tun_a, o->tun_b)) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* xorshift64*: enough for a loss decision, and reproducible by --seed. */
static double rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}

static int set_up(const char *name, size_t mtu)
{
	struct ifreq ifr = { 0 };
	int s, rc = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!rc && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
	close(s);
	return rc;
}

/* A new, non-persistent, non-blocking TUN device that is up; fd or -errno. */
static int tun_create(const char *name, size_t mtu)
{
	struct ifreq ifr = { 0 };
	int fd, rc;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		goto close_fd;
	}
	rc = set_up(name, mtu);
	if (rc < 0)
		goto close_fd;
	return fd;
close_fd:
	close(fd);
	return rc;
}

static void dir_send(struct dl_dir *d, struct dl_slot *s)
{
	if (write(d->out_fd, s->pkt, s->len) == (ssize_t)s->len) {
		d->forwarded++;
		return;
	}
	if (d->write_err++ == 0)
		log_warn("%s: write", d->name);
}

/* Loop timers have 1 ms steps and may fire up to 1 ms early: keep the
 * deadlines in ns so that no packet leaves before its delay. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t dir_release(struct loop *l, void *arg)
{
	struct dl_dir *d = arg;
	size_t qmax = d->line->opts.queue_max;
	uint64_t now = now_ns();

	while (d->count) {
		struct dl_slot *s = &d->ring[d->head];

		if (s->due_ns > now)
			return (int64_t)((s->due_ns - now + 999999) / 1000000);
		dir_send(d, s);
		d->head = (d->head + 1) % qmax;
		d->count--;
	}
	return LOOP_TIMER_STOP;
}

/* false when the device has nothing more to read. */
static bool dir_read_one(struct dl_dir *d)
{
	struct dl_line *dl = d->line;
	size_t qmax = dl->opts.queue_max;
	struct dl_slot *s = &d->ring[(d->head + d->count) % qmax];
	static unsigned char spill[65536];
	bool full = d->count == qmax;
	ssize_t n;

	n = read(d->in_fd, full ? spill : s->pkt, full ? sizeof(spill) : dl->opts.mtu);
	if (n <= 0) {
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			log_warn("%s: read", d->name);
		return false;
	}
	if (full) {
		d->overflow++;
		return true;
	}
	if (dl->opts.loss > 0 && rng_next(&dl->rng) < dl->opts.loss) {
		d->lost++;
		return true;
	}
	s->len = (size_t)n;
	s->due_ns = now_ns() + (uint64_t)dl->opts.delay_ms * 1000000u;
	if (d->count++ == 0)
		loop_timer_arm(dl->loop, &d->timer, dl->opts.delay_ms,
			       dir_release, d);
	return true;
}

static void on_readable(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct dl_dir *d = arg;

	for (int i = 0; i < READ_BURST && dir_read_one(d); i++)
		;
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	log_info("signal %d, exiting", signo);
	loop_stop(l);
}

static int dir_init(struct dl_line *dl, struct dl_dir *d, const char *name,
		    int in_fd, int out_fd)
{
	size_t qmax = dl->opts.queue_max;

	*d = (struct dl_dir){ .name = name, .in_fd = in_fd, .out_fd = out_fd,
			      .line = dl };
	d->ring = calloc(qmax, sizeof(*d->ring));
	if (!d->ring)
		return -ENOMEM;
	/* one block per direction; untouched slots cost no memory */
	d->ring[0].pkt = malloc(qmax * dl->opts.mtu);
	if (!d->ring[0].pkt)
		return -ENOMEM;
	for (size_t i = 1; i < qmax; i++)
		d->ring[i].pkt = d->ring[0].pkt + i * dl->opts.mtu;
	return loop_add_fd(dl->loop, in_fd, EPOLLIN, on_readable, d);
}

static void dir_free(struct dl_dir *d)
{
	if (d->ring)
		free(d->ring[0].pkt);
	free(d->ring);
}

static void log_counters(const struct dl_dir *d)
{
	log_info("%s: forwarded %llu lost %llu overflow %llu write-errors %llu "
		 "queued %zu",
		 d->name, (unsigned long long)d->forwarded,
		 (unsigned long long)d->lost, (unsigned long long)d->overflow,
		 (unsigned long long)d->write_err, d->count);
}

static uint64_t seed_from_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 16);
}

static int run(struct dl_line *dl)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct dl_opts *o = &dl->opts;
	int fa, fb, rc;

	fa = tun_create(o->tun_a, o->mtu);
	if (fa < 0)
		fatalx("tun %s: %s", o->tun_a, strerror(-fa));
	fb = tun_create(o->tun_b, o->mtu);
	if (fb < 0)
		fatalx("tun %s: %s", o->tun_b, strerror(-fb));
	rc = loop_add_signals(dl->loop, sigs, 2, on_signal, dl);
	if (!rc)
		rc = dir_init(dl, &dl->dir[0], o->tun_a, fa, fb);
	if (!rc)
		rc = dir_init(dl, &dl->dir[1], o->tun_b, fb, fa);
	if (!rc) {
		log_info("%s <-> %s: delay %lld ms, loss %.4f, queue %zu",
			 o->tun_a, o->tun_b, (long long)o->delay_ms, o->loss,
			 o->queue_max);
		rc = loop_run(dl->loop);
	}
	if (rc < 0)
		log_error("%s", strerror(-rc));
	log_counters(&dl->dir[0]);
	log_counters(&dl->dir[1]);
	dir_free(&dl->dir[1]);
	dir_free(&dl->dir[0]);
	close(fb);
	close(fa);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct dl_line dl = { 0 };
	int rc;

	log_init("mptun-delayline", true, LOG_INFO);
	rc = parse_args(&dl.opts, argc, argv);
	if (rc)
		return rc == 1 ? 0 : 2;
	dl.rng = dl.opts.seeded ? dl.opts.seed : seed_from_clock();
	if (!dl.rng)
		dl.rng = 0x9E3779B97F4A7C15ULL; /* xorshift must not start at 0 */
	dl.loop = loop_new();
	if (!dl.loop)
		fatalx("out of memory");
	rc = run(&dl);
	loop_free(dl.loop);
	return rc;
}
