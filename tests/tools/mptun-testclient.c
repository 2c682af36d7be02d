/* mptun-testclient: the client of the netns tests and the benchmark.
 *
 * It speaks RFC 8803 Convert (in the SYN by default), SOCKS5, SOCKS4/4a or
 * plain TCP to a destination, then relays stdin/stdout with half-close, or
 * runs one of the measurement modes (--raw, --stall, --ttfb, --send-bytes).
 *
 * The Convert encoder and reply parser here are written from the RFC on
 * purpose, independently of lib/convert.c, so that the tests check the
 * daemon against the wire format rather than against its own codec.
 *
 * Exit codes: 0 ok, 2 usage, 3 Convert Error TLV received, 4 connection
 * reset (or refused), 5 other I/O error or timeout, 6 SOCKS failure reply. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef TCP_FASTOPEN_NO_COOKIE
#define TCP_FASTOPEN_NO_COOKIE 34
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

enum {
	EXIT_USAGE = 2,
	EXIT_CONVERT = 3,
	EXIT_RESET = 4,
	EXIT_IO = 5,
	EXIT_SOCKS = 6,
};

enum mode { MODE_CONVERT, MODE_SOCKS5, MODE_SOCKS4, MODE_SOCKS4A, MODE_DIRECT };

#define CONV_MAGIC 0x2263
#define TLV_CONNECT 0x0a
#define TLV_EXT_TCP_HDR 0x14
#define TLV_ERROR 0x1e
#define TLV_SOURCE 0xc1 /* mptun private use: the client's own address */
#define BUF_SIZE (256 * 1024)

struct target {
	char host[256];
	uint16_t port;
	bool is_addr;
	struct sockaddr_storage sa;
	socklen_t sa_len;
};

struct opts {
	enum mode mode;
	const char *user, *pass, *bind;
	int proto;
	bool tfo, ttfb, have_raw;
	uint8_t raw[4096];
	size_t raw_len;
	long stall;             /* -1: off */
	long long send_bytes;   /* -1: off */
	int timeout_ms;
	struct sockaddr_storage via; /* converter / proxy, or the target (direct) */
	socklen_t via_len;
	struct target dst;
	bool have_source;       /* --source: a Source TLV after Connect */
	struct target source;
	uint8_t source_words;   /* its length byte (5 unless --source-len) */
};

/* Bytes received from the peer and not consumed yet. */
struct rbuf {
	uint8_t b[BUF_SIZE];
	size_t len;
};

static const char *prog = "mptun-testclient";
static struct rbuf rb;

static void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static int errno_exit(int err)
{
	if (err == ECONNRESET || err == EPIPE || err == ECONNREFUSED)
		return EXIT_RESET;
	return EXIT_IO;
}

static void die_errno(int err, const char *what)
{
	die(errno_exit(err), "%s: %s", what, strerror(err));
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [options] CONVERTER HOST:PORT\n"
		"  --mode convert|socks5|socks4|socks4a|direct  (default convert)\n"
		"  --user U --pass P   SOCKS5 username/password\n"
		"  --tcp               IPPROTO_TCP instead of IPPROTO_MPTCP\n"
		"  --no-tfo            connect first, then send the opening\n"
		"  --bind ADDR         source address\n"
		"  --raw HEX           send these bytes as the Convert opening, print the reply in hex\n"
		"  --stall N           send N bytes of the opening, print ms until the peer closes\n"
		"  --ttfb              send \"ping\\n\", print us from connect to the first reply byte\n"
		"  --send-bytes N      send N bytes, shut down, read to EOF, print Mbit/s on stderr\n"
		"  --timeout SEC       connect/reply/idle timeout (default 30)\n"
		"  --source ADDR:PORT  add mptun's Source TLV (0xc1) with this address\n"
		"  --source-words N    its length byte, in 32-bit words (default 5)\n"
		"exit: 0 ok, 2 usage, 3 Convert error, 4 reset, 5 I/O error/timeout, 6 SOCKS failure\n",
		prog);
	exit(EXIT_USAGE);
}

/* ---- argument parsing ---- */

static bool parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 0;

	while (*s) {
		unsigned v;
		if (*s == ' ' || *s == ':' || *s == '-') {
			s++;
			continue;
		}
		if (n == cap || sscanf(s, "%2x", &v) != 1 || !s[1] ||
		    !strchr("0123456789abcdefABCDEF", s[1]))
			return false;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	*len = n;
	return true;
}

static bool parse_target(const char *s, struct target *t)
{
	const char *colon;
	size_t hlen;
	char *end;
	unsigned long port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(t->host))
			return false;
		memcpy(t->host, s + 1, hlen);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(t->host))
			return false;
		memcpy(t->host, s, hlen);
	}
	t->host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || !colon[1] || port > 65535)
		return false;
	t->port = (uint16_t)port;
	t->is_addr = addr_parse_host(t->host, &t->sa, &t->sa_len);
	if (t->is_addr) {
		if (t->sa.ss_family == AF_INET)
			((struct sockaddr_in *)&t->sa)->sin_port = htons(t->port);
		else
			((struct sockaddr_in6 *)&t->sa)->sin6_port = htons(t->port);
	}
	return true;
}

static long long parse_num(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < 0)
		die(EXIT_USAGE, "bad %s: %s", what, s);
	return v;
}

static enum mode parse_mode(const char *s)
{
	static const char *names[] = { "convert", "socks5", "socks4",
				       "socks4a", "direct" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return (enum mode)i;
	die(EXIT_USAGE, "unknown mode %s", s);
}

static void check_opts(struct opts *o, const char *via)
{
	if ((o->have_raw || o->have_source) && o->mode != MODE_CONVERT)
		die(EXIT_USAGE, "--raw and --source need --mode convert");
	if ((o->user != NULL) != (o->pass != NULL) ||
	    (o->user && o->mode != MODE_SOCKS5))
		die(EXIT_USAGE, "--user and --pass go together, with socks5");
	if (o->user && (strlen(o->user) > 255 || strlen(o->pass) > 255))
		die(EXIT_USAGE, "user or password too long");
	if ((o->mode == MODE_CONVERT || o->mode == MODE_DIRECT) && !o->dst.is_addr &&
	    !o->have_raw)
		die(EXIT_USAGE, "%s needs an address, not a name", o->dst.host);
	if (o->mode == MODE_SOCKS4 &&
	    (!o->dst.is_addr || o->dst.sa.ss_family != AF_INET))
		die(EXIT_USAGE, "socks4 needs an IPv4 destination");
	if (o->mode == MODE_DIRECT) {
		memcpy(&o->via, &o->dst.sa, sizeof(o->via));
		o->via_len = o->dst.sa_len;
	} else if (!addr_parse(via, 5124, &o->via, &o->via_len)) {
		die(EXIT_USAGE, "bad converter address %s", via);
	}
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "user", required_argument, NULL, 'u' },
		{ "pass", required_argument, NULL, 'p' },
		{ "tcp", no_argument, NULL, 't' },
		{ "no-tfo", no_argument, NULL, 'N' },
		{ "bind", required_argument, NULL, 'b' },
		{ "raw", required_argument, NULL, 'r' },
		{ "stall", required_argument, NULL, 's' },
		{ "ttfb", no_argument, NULL, 'T' },
		{ "send-bytes", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "source", required_argument, NULL, 'c' },
		{ "source-words", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	*o = (struct opts){ .proto = IPPROTO_MPTCP, .tfo = true, .stall = -1,
			    .send_bytes = -1, .timeout_ms = 30000,
			    .source_words = 5 };
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'm': o->mode = parse_mode(optarg); break;
		case 'u': o->user = optarg; break;
		case 'p': o->pass = optarg; break;
		case 't': o->proto = IPPROTO_TCP; break;
		case 'N': o->tfo = false; break;
		case 'b': o->bind = optarg; break;
		case 'r':
			if (!parse_hex(optarg, o->raw, sizeof(o->raw), &o->raw_len))
				die(EXIT_USAGE, "bad hex: %s", optarg);
			o->have_raw = true;
			break;
		case 's': o->stall = (long)parse_num(optarg, "--stall"); break;
		case 'T': o->ttfb = true; break;
		case 'S': o->send_bytes = parse_num(optarg, "--send-bytes"); break;
		case 'w': o->timeout_ms = (int)parse_num(optarg, "--timeout") * 1000; break;
		case 'c':
			if (!parse_target(optarg, &o->source) || !o->source.is_addr)
				die(EXIT_USAGE, "bad --source %s", optarg);
			o->have_source = true;
			break;
		case 'W':
			o->source_words = (uint8_t)parse_num(optarg, "--source-words");
			if (o->source_words < 1 || o->source_words > 64)
				die(EXIT_USAGE, "--source-words: 1 to 64");
			break;
		default: usage();
		}
	}
	if (argc - optind != 2 || !parse_target(argv[optind + 1], &o->dst))
		usage();
	check_opts(o, argv[optind]);
}

/* ---- socket I/O with a deadline ---- */

static void wait_fd(int fd, short events, int64_t deadline, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - now_us();
		int r;
		if (left <= 0)
			die(EXIT_IO, "timeout %s", what);
		r = poll(&p, 1, (int)((left + 999) / 1000));
		if (r > 0)
			return;
		if (r < 0 && errno != EINTR)
			die_errno(errno, "poll");
	}
}

static void send_all(int fd, const uint8_t *p, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				wait_fd(fd, POLLOUT, deadline, "sending");
				continue;
			}
			die_errno(errno, "send");
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Read until rb holds at least want bytes. Returns false on EOF first. */
static bool fill(int fd, size_t want, int64_t deadline, const char *what)
{
	while (rb.len < want) {
		ssize_t n = recv(fd, rb.b + rb.len, sizeof(rb.b) - rb.len, 0);
		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				wait_fd(fd, POLLIN, deadline, what);
				continue;
			}
			die_errno(errno, what);
		}
		rb.len += (size_t)n;
	}
	return true;
}

static void consume(size_t n)
{
	memmove(rb.b, rb.b + n, rb.len - n);
	rb.len -= n;
}

static void write_out(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(EXIT_IO, "write stdout: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
}

static void print_hex(FILE *f, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
}

/* Connect to o->via and send the first `len` bytes of data: in the SYN
 * (MSG_FASTOPEN + TCP_FASTOPEN_NO_COOKIE) when tfo, else after connect. */
static int open_conn(const struct opts *o, const uint8_t *data, size_t len,
		     bool tfo, int64_t deadline)
{
	int fd, err = 0;
	size_t sent = 0;
	socklen_t elen = sizeof(err);

	fd = socket(o->via.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    o->proto);
	if (fd < 0)
		die(EXIT_IO, "socket(proto %d): %s", o->proto, strerror(errno));
	if (o->bind) {
		struct sockaddr_storage b;
		socklen_t blen;
		if (!addr_parse_host(o->bind, &b, &blen))
			die(EXIT_USAGE, "bad --bind address %s", o->bind);
		if (bind(fd, (struct sockaddr *)&b, blen) < 0)
			die(EXIT_IO, "bind %s: %s", o->bind, strerror(errno));
	}
	if (tfo && len) {
		int one = 1;
		ssize_t n;
		if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, &one,
			       sizeof(one)) < 0)
			die(EXIT_IO, "TCP_FASTOPEN_NO_COOKIE: %s", strerror(errno));
		n = sendto(fd, data, len, MSG_FASTOPEN | MSG_NOSIGNAL,
			   (struct sockaddr *)&o->via, o->via_len);
		if (n < 0 && errno != EINPROGRESS)
			die_errno(errno, "sendto(MSG_FASTOPEN)");
		sent = n > 0 ? (size_t)n : 0;
	} else if (connect(fd, (struct sockaddr *)&o->via, o->via_len) < 0 &&
		   errno != EINPROGRESS) {
		die_errno(errno, "connect");
	}
	wait_fd(fd, POLLOUT, deadline, "connecting");
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		die_errno(errno, "getsockopt(SO_ERROR)");
	if (err)
		die_errno(err, "connect");
	send_all(fd, data + sent, len - sent, deadline);
	return fd;
}

/* ---- Convert (RFC 8803) ---- */

/* Port, then the address as IPv6 (IPv4 v4-mapped): 18 bytes. */
static void put_port_addr(const struct target *t, uint8_t *p)
{
	uint8_t *a = p + 2;

	p[0] = t->port >> 8;
	p[1] = t->port & 0xff;
	if (t->sa.ss_family == AF_INET) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &((struct sockaddr_in *)&t->sa)->sin_addr, 4);
	} else {
		memcpy(a, &((struct sockaddr_in6 *)&t->sa)->sin6_addr, 16);
	}
}

/* Header, Connect, and with --source a Source TLV of --source-words
 * words: port and address, cut short or zero padded to that length. */
static size_t convert_opening(const struct opts *o, uint8_t *out)
{
	uint8_t v[18];
	size_t n = 24, len = (size_t)o->source_words * 4;

	out[0] = 1;          /* version */
	out[1] = 1 + 5;      /* header + Connect TLV, in words */
	out[2] = CONV_MAGIC >> 8;
	out[3] = CONV_MAGIC & 0xff;
	out[4] = TLV_CONNECT;
	out[5] = 5;
	put_port_addr(&o->dst, out + 6);
	if (o->have_source && len >= 4) {
		put_port_addr(&o->source, v);
		out[1] += o->source_words;
		out[n] = TLV_SOURCE;
		out[n + 1] = o->source_words;
		memset(out + n + 2, 0, len - 2);
		memcpy(out + n + 2, v, len - 2 < sizeof(v) ? len - 2 : sizeof(v));
		n += len;
	}
	return n;
}

/* Check a received Convert reply of `len` bytes (total length honoured).
 * Returns 0 when it carries an Extended TCP Header TLV and no error. */
static int convert_check_reply(const uint8_t *p, size_t len)
{
	bool ext = false;

	for (size_t off = 4; off < len;) {
		size_t tlen = off + 2 <= len ? (size_t)p[off + 1] * 4 : 0;
		if (tlen < 4 || off + tlen > len)
			die(EXIT_IO, "malformed TLV in Convert reply at byte %zu", off);
		if (p[off] == TLV_ERROR) {
			fprintf(stderr, "convert error %u value ", p[off + 2]);
			for (size_t i = 3; i < tlen; i++)
				fprintf(stderr, "%02x", p[off + i]);
			return EXIT_CONVERT;
		}
		if (p[off] == TLV_EXT_TCP_HDR)
			ext = true;
		off += tlen;
	}
	if (!ext)
		die(EXIT_IO, "Convert reply without Extended TCP Header TLV");
	return 0;
}

/* After an Error TLV the converter must close with FIN: what did it do? */
static const char *how_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t b[64];
	ssize_t n;

	if (rb.len > (size_t)rb.b[1] * 4)
		return "data";
	if (poll(&p, 1, 2000) <= 0)
		return "still open";
	n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	if (n == 0)
		return "FIN";
	if (n > 0)
		return "data";
	return errno == ECONNRESET ? "RST" : strerror(errno);
}

/* Read the Convert reply into rb. Returns its length; rb keeps any user
 * data after it. With raw, prints the reply bytes in hex and exits. */
static size_t convert_read_reply(int fd, bool raw, int64_t deadline)
{
	size_t total;
	bool ok;
	int rc;

	ok = fill(fd, 4, deadline, "waiting for the Convert reply");
	if (ok && (rb.b[0] != 1 || rb.b[1] == 0 ||
		   (rb.b[2] << 8 | rb.b[3]) != CONV_MAGIC)) {
		if (raw)
			print_hex(stdout, rb.b, rb.len);
		die(EXIT_IO, "bad Convert reply header %02x%02x%02x%02x",
		    rb.b[0], rb.b[1], rb.b[2], rb.b[3]);
	}
	total = ok ? (size_t)rb.b[1] * 4 : 0;
	if (ok)
		ok = fill(fd, total, deadline, "waiting for the Convert reply");
	if (raw)
		print_hex(stdout, rb.b, ok ? total : rb.len);
	if (!ok)
		die(EXIT_IO, "connection closed after %zu bytes of Convert reply",
		    rb.len);
	rc = convert_check_reply(rb.b, total);
	if (rc) {
		fprintf(stderr, " (then %s)\n", how_closed(fd));
		exit(rc);
	}
	if (raw)
		exit(0);
	return total;
}

/* ---- SOCKS ---- */

static void socks_fill(int fd, size_t want, int64_t deadline)
{
	if (!fill(fd, want, deadline, "waiting for the SOCKS reply"))
		die(EXIT_IO, "connection closed during the SOCKS handshake");
}

static size_t socks5_greeting(const struct opts *o, uint8_t *out)
{
	out[0] = 5;
	out[1] = 1;
	out[2] = o->user ? 0x02 : 0x00;
	return 3;
}

static void socks5_auth(int fd, const struct opts *o, int64_t deadline)
{
	uint8_t b[520];
	size_t ul = strlen(o->user), pl = strlen(o->pass), n = 0;

	b[n++] = 1;
	b[n++] = (uint8_t)ul;
	memcpy(b + n, o->user, ul);
	n += ul;
	b[n++] = (uint8_t)pl;
	memcpy(b + n, o->pass, pl);
	n += pl;
	send_all(fd, b, n, deadline);
	socks_fill(fd, 2, deadline);
	if (rb.b[1] != 0) {
		fprintf(stderr, "socks reply 0x%02x (authentication failed)\n", rb.b[1]);
		exit(EXIT_SOCKS);
	}
	consume(2);
}

static size_t socks5_request(const struct target *t, uint8_t *b)
{
	size_t n = 4;

	b[0] = 5;
	b[1] = 1; /* CONNECT */
	b[2] = 0;
	if (!t->is_addr) {
		size_t hl = strlen(t->host);
		b[3] = 3;
		b[n++] = (uint8_t)hl;
		memcpy(b + n, t->host, hl);
		n += hl;
	} else if (t->sa.ss_family == AF_INET) {
		b[3] = 1;
		memcpy(b + n, &((struct sockaddr_in *)&t->sa)->sin_addr, 4);
		n += 4;
	} else {
		b[3] = 4;
		memcpy(b + n, &((struct sockaddr_in6 *)&t->sa)->sin6_addr, 16);
		n += 16;
	}
	b[n++] = t->port >> 8;
	b[n++] = t->port & 0xff;
	return n;
}

/* The greeting was sent by open_conn; finish the handshake. */
static void socks5_handshake(int fd, const struct opts *o, int64_t deadline)
{
	uint8_t req[300];
	size_t alen;

	socks_fill(fd, 2, deadline);
	if (rb.b[0] != 5 || rb.b[1] != (o->user ? 0x02 : 0x00)) {
		fprintf(stderr, "socks reply 0x%02x (method refused)\n", rb.b[1]);
		exit(EXIT_SOCKS);
	}
	consume(2);
	if (o->user)
		socks5_auth(fd, o, deadline);
	send_all(fd, req, socks5_request(&o->dst, req), deadline);
	socks_fill(fd, 4, deadline);
	if (rb.b[1] != 0) {
		fprintf(stderr, "socks reply 0x%02x\n", rb.b[1]);
		exit(EXIT_SOCKS);
	}
	alen = rb.b[3] == 1 ? 4 : rb.b[3] == 4 ? 16 : 0;
	if (rb.b[3] == 3) {
		socks_fill(fd, 5, deadline);
		alen = 1 + rb.b[4];
	}
	if (!alen)
		die(EXIT_IO, "SOCKS5 reply with address type %u", rb.b[3]);
	socks_fill(fd, 4 + alen + 2, deadline);
	consume(4 + alen + 2);
}

static size_t socks4_request(const struct opts *o, uint8_t *b)
{
	size_t n = 8;

	b[0] = 4;
	b[1] = 1;
	b[2] = o->dst.port >> 8;
	b[3] = o->dst.port & 0xff;
	if (o->mode == MODE_SOCKS4) {
		memcpy(b + 4, &((struct sockaddr_in *)&o->dst.sa)->sin_addr, 4);
	} else {
		b[4] = b[5] = b[6] = 0;
		b[7] = 1; /* 0.0.0.1: the name follows */
	}
	b[n++] = 0; /* empty user id */
	if (o->mode == MODE_SOCKS4A) {
		size_t hl = strlen(o->dst.host) + 1;
		memcpy(b + n, o->dst.host, hl);
		n += hl;
	}
	return n;
}

static void socks4_handshake(int fd, int64_t deadline)
{
	socks_fill(fd, 8, deadline);
	if (rb.b[1] != 0x5a) {
		fprintf(stderr, "socks reply 0x%02x\n", rb.b[1]);
		exit(EXIT_SOCKS);
	}
	consume(8);
}

/* ---- what happens after the opening ---- */

/* The first message, per mode; ttfb appends "ping\n" where it rides along. */
static size_t opening(const struct opts *o, uint8_t *out)
{
	size_t n = 0;

	if (o->have_raw) {
		memcpy(out, o->raw, o->raw_len);
		return o->raw_len;
	}
	switch (o->mode) {
	case MODE_CONVERT: n = convert_opening(o, out); break;
	case MODE_SOCKS5: n = socks5_greeting(o, out); break;
	case MODE_SOCKS4:
	case MODE_SOCKS4A: n = socks4_request(o, out); break;
	case MODE_DIRECT: break;
	}
	if (o->ttfb && (o->mode == MODE_CONVERT || o->mode == MODE_DIRECT)) {
		memcpy(out + n, "ping\n", 5);
		n += 5;
	}
	return n;
}

static int run_stall(int fd, const struct opts *o, int64_t start)
{
	int64_t deadline = now_us() + (int64_t)o->timeout_ms * 1000;
	bool more = fill(fd, 1, deadline, "waiting for the peer to close");

	printf("%lld\n", (long long)((now_us() - start) / 1000));
	if (more) {
		fprintf(stderr, "%s: unexpected reply before close: ", prog);
		print_hex(stderr, rb.b, rb.len);
		return EXIT_IO;
	}
	return 0;
}

static int run_ttfb(int fd, const struct opts *o, int64_t start)
{
	int64_t deadline = now_us() + (int64_t)o->timeout_ms * 1000;

	if (o->mode != MODE_CONVERT && o->mode != MODE_DIRECT)
		send_all(fd, (const uint8_t *)"ping\n", 5, deadline);
	if (!fill(fd, 1, deadline, "waiting for the first byte"))
		die(EXIT_IO, "connection closed before the first byte");
	printf("%lld\n", (long long)(now_us() - start));
	return 0;
}

/* The stdin (or generated bytes) -> socket direction of the relay. */
struct upstream {
	uint8_t buf[BUF_SIZE];
	size_t len, off;
	long long gen;  /* bytes to generate, -1: read stdin */
	long long sent;
	bool eof, shut; /* no more input; SHUT_WR done */
};

static void up_init(struct upstream *u, long long gen)
{
	*u = (struct upstream){ .gen = gen };
	if (gen >= 0)
		for (size_t i = 0; i < sizeof(u->buf); i++)
			u->buf[i] = (uint8_t)((i * 2654435761u) >> 13);
}

/* Refill from the generator; shut the socket down once all is sent. */
static void up_prepare(struct upstream *u, int fd)
{
	if (u->gen >= 0 && !u->len) {
		long long left = u->gen - u->sent;
		u->off = 0;
		u->len = (size_t)(left < (long long)sizeof(u->buf) ? left : (long long)sizeof(u->buf));
		u->eof = !u->len;
	}
	if (u->eof && !u->len && !u->shut) {
		/* ENOTCONN: a reset came first, and the next recv reports it
		 * (a fast path delivers data and reset before stdin's EOF) */
		if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
			die_errno(errno, "shutdown");
		u->shut = true;
	}
}

static void up_read_stdin(struct upstream *u)
{
	ssize_t n = read(STDIN_FILENO, u->buf, sizeof(u->buf));

	if (n < 0 && errno != EINTR && errno != EAGAIN)
		die(EXIT_IO, "read stdin: %s", strerror(errno));
	u->eof = n == 0;
	u->off = 0;
	u->len = n > 0 ? (size_t)n : 0;
}

static void up_send(struct upstream *u, int fd)
{
	ssize_t n = send(fd, u->buf + u->off, u->len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && errno != EAGAIN && errno != EINTR)
		die_errno(errno, "send");
	if (n > 0) {
		u->off += (size_t)n;
		u->len -= (size_t)n;
		u->sent += n;
	}
}

/* Returns bytes received, 0 at EOF, -1 when nothing was there. */
static ssize_t down_recv(int fd, bool to_stdout)
{
	ssize_t n = recv(fd, rb.b, sizeof(rb.b), MSG_DONTWAIT);

	if (n < 0 && errno != EAGAIN && errno != EINTR)
		die_errno(errno, "recv");
	if (n > 0 && to_stdout)
		write_out(STDOUT_FILENO, rb.b, (size_t)n);
	return n;
}

/* Relay stdin -> fd and fd -> stdout until the peer's EOF; EOF on stdin
 * (or the end of the generated bytes) becomes shutdown(SHUT_WR). */
static int run_relay(int fd, const struct opts *o, long long gen)
{
	static struct upstream u;
	long long recvd = (long long)rb.len;
	int64_t t0 = now_us(), dt;
	ssize_t n;

	if (rb.len && gen < 0)
		write_out(STDOUT_FILENO, rb.b, rb.len);
	up_init(&u, gen);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = u.eof || u.len || gen >= 0 ? -1 : STDIN_FILENO,
			  .events = POLLIN },
			{ .fd = fd, .events = POLLIN },
		};
		up_prepare(&u, fd);
		if (u.len)
			p[1].events |= POLLOUT;
		n = poll(p, 2, o->timeout_ms);
		if (n == 0)
			die(EXIT_IO, "idle timeout");
		if (n < 0 && errno != EINTR)
			die_errno(errno, "poll");
		if (n < 0)
			continue;
		if (p[0].revents)
			up_read_stdin(&u);
		if (p[1].revents & POLLOUT && u.len)
			up_send(&u, fd);
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = down_recv(fd, gen < 0);
			if (n == 0)
				break;
			recvd += n > 0 ? n : 0;
		}
	}
	dt = now_us() - t0;
	if (gen >= 0)
		fprintf(stderr, "sent %lld bytes, received %lld bytes in %.3f s: %.1f Mbit/s\n",
			u.sent, recvd, dt / 1e6,
			(double)(u.sent > recvd ? u.sent : recvd) * 8 / (dt > 0 ? dt : 1));
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t first[4096 + 8];
	struct opts o;
	size_t len, send_len;
	int64_t start, deadline;
	int fd;

	parse_args(argc, argv, &o);
	len = opening(&o, first);
	send_len = o.stall >= 0 && (size_t)o.stall < len ? (size_t)o.stall : len;
	start = now_us();
	deadline = start + (int64_t)o.timeout_ms * 1000;
	fd = open_conn(&o, first, send_len, o.tfo && o.mode == MODE_CONVERT,
		       deadline);
	if (o.stall >= 0)
		return run_stall(fd, &o, start);
	switch (o.mode) {
	case MODE_CONVERT:
		consume(convert_read_reply(fd, o.have_raw, deadline));
		break;
	case MODE_SOCKS5: socks5_handshake(fd, &o, deadline); break;
	case MODE_SOCKS4:
	case MODE_SOCKS4A: socks4_handshake(fd, deadline); break;
	case MODE_DIRECT: break;
	}
	if (o.ttfb)
		return run_ttfb(fd, &o, start);
	return run_relay(fd, &o, o.send_bytes);
}
