/* Server side of SOCKS4, SOCKS4a (RFC-less, the de-facto spec) and SOCKS5
 * (RFC 1928, username/password RFC 1929): parsers for what a client sends and
 * encoders for what the server answers. Parsers copy into the caller's struct
 * and write it only on success; they never keep pointers into their input. */
#ifndef MPTUN_SOCKS_H
#define MPTUN_SOCKS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum socks_status {
	SOCKS_OK = 0,    /* parsed; *consumed set */
	SOCKS_SHORT = 1, /* need more bytes */
	SOCKS_BAD = 2,   /* malformed; *reason set */
};

#define SOCKS_CMD_CONNECT 0x01
#define SOCKS_CMD_BIND 0x02
#define SOCKS_CMD_UDP_ASSOCIATE 0x03

#define SOCKS5_METHOD_NONE 0x00
#define SOCKS5_METHOD_USERPASS 0x02
#define SOCKS5_METHOD_UNACCEPTABLE 0xff

enum socks5_reply {
	SOCKS5_SUCCEEDED = 0x00,
	SOCKS5_GENERAL_FAILURE = 0x01,
	SOCKS5_NOT_ALLOWED = 0x02,
	SOCKS5_NET_UNREACHABLE = 0x03,
	SOCKS5_HOST_UNREACHABLE = 0x04,
	SOCKS5_CONN_REFUSED = 0x05,
	SOCKS5_TTL_EXPIRED = 0x06,
	SOCKS5_CMD_UNSUPPORTED = 0x07,
	SOCKS5_ATYP_UNSUPPORTED = 0x08,
};

enum socks4_reply {
	SOCKS4_GRANTED = 0x5a,
	SOCKS4_REJECTED = 0x5b,
	SOCKS4_NO_IDENTD = 0x5c,
	SOCKS4_IDENTD_MISMATCH = 0x5d,
};

/* A CONNECT (or other command) request, SOCKS4/4a or SOCKS5. */
struct socks_request {
	uint8_t version; /* 4 or 5 */
	uint8_t cmd;     /* SOCKS_CMD_* */
	bool is_name;    /* destination is a host name (4a, or SOCKS5 ATYP 3) */
	struct in6_addr addr; /* when !is_name; IPv4 as v4-mapped */
	char name[256];       /* when is_name; NUL terminated, 1..255 chars */
	uint16_t port;        /* host byte order */
	char user[256];       /* SOCKS4 user id, NUL terminated (may be empty) */
	uint8_t atyp;         /* SOCKS5 address type as received (1, 3, 4) */
};

/* SOCKS5 greeting: VER=5 NMETHODS METHODS... */
struct socks5_greeting {
	uint8_t n_methods;
	uint8_t methods[255];
};

/* RFC 1929 sub-negotiation: VER=1 ULEN UNAME PLEN PASSWD */
struct socks5_userpass {
	char user[256];
	char pass[256];
	uint8_t user_len, pass_len;
};

enum socks_status socks5_parse_greeting(const uint8_t *buf, size_t len,
					struct socks5_greeting *out,
					size_t *consumed, const char **reason);
bool socks5_greeting_offers(const struct socks5_greeting *g, uint8_t method);
enum socks_status socks5_parse_userpass(const uint8_t *buf, size_t len,
					struct socks5_userpass *out,
					size_t *consumed, const char **reason);
/* On SOCKS_BAD, *reply_code (if not NULL) is the SOCKS5 reply code the
 * server should answer (ATYP or command unsupported, general failure). */
enum socks_status socks5_parse_request(const uint8_t *buf, size_t len,
				       struct socks_request *out,
				       size_t *consumed, const char **reason,
				       uint8_t *reply_code);
/* SOCKS4 and 4a: VER=4 CMD PORT IP USERID NUL [HOST NUL] */
enum socks_status socks4_parse_request(const uint8_t *buf, size_t len,
				       struct socks_request *out,
				       size_t *consumed, const char **reason);

/* Encoders return bytes written, -ENOSPC when cap is too small, or
 * -EAFNOSUPPORT for a bound address neither AF_INET nor AF_INET6. A SOCKS4
 * reply cannot carry IPv6: a non-mapped IPv6 address is written as 0.0.0.0:0. */
int socks5_encode_method(uint8_t *out, size_t cap, uint8_t method);
int socks5_encode_userpass_status(uint8_t *out, size_t cap, bool ok);
/* bound may be NULL (0.0.0.0:0). AF_INET or AF_INET6. */
int socks5_encode_reply(uint8_t *out, size_t cap, uint8_t code,
			const struct sockaddr *bound);
int socks4_encode_reply(uint8_t *out, size_t cap, uint8_t code,
			const struct sockaddr *bound);

#endif
