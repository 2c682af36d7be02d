/* Addresses and prefixes: parsing, matching, printing. IPv4 is kept in its
 * own family (never v4-mapped) except where a function says otherwise. */
#ifndef MPTUN_ADDR_H
#define MPTUN_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addr_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t len; /* prefix length in bits */
	uint8_t bytes[16];
};

struct addr_prefix_list {
	struct addr_prefix *v;
	size_t n;
};

/* "10.0.0.0/8", "fd00::/8", or a bare address (a host prefix). Host bits
 * beyond len must be zero. */
bool addr_prefix_parse(const char *s, struct addr_prefix *out);
bool addr_prefix_match(const struct addr_prefix *p, const struct sockaddr *sa);
bool addr_prefix_list_match(const struct addr_prefix_list *l,
			    const struct sockaddr *sa);
int addr_prefix_list_add(struct addr_prefix_list *l,
			 const struct addr_prefix *p); /* 0 or -ENOMEM */
void addr_prefix_list_clear(struct addr_prefix_list *l);

/* "1.2.3.4:80", "[2001:db8::1]:80", or without the port when default_port
 * is given (>= 0); "*" and "[::]" mean the IPv6 any address. */
bool addr_parse(const char *s, int default_port, struct sockaddr_storage *out,
		socklen_t *out_len);
/* A bare address, no port ("1.2.3.4", "2001:db8::1"); port 0. */
bool addr_parse_host(const char *s, struct sockaddr_storage *out,
		     socklen_t *out_len);

/* v4-mapped IPv6 becomes AF_INET; anything else is copied. */
void addr_unmap(const struct sockaddr *in, struct sockaddr_storage *out,
		socklen_t *out_len);
/* Build a sockaddr from an in6_addr that may be v4-mapped. */
void addr_from_in6(const struct in6_addr *a, uint16_t port,
		   struct sockaddr_storage *out, socklen_t *out_len);
bool addr_equal_host(const struct sockaddr *a, const struct sockaddr *b);
uint16_t addr_port(const struct sockaddr *sa);

/* "1.2.3.4:80" or "[::1]:80"; always NUL terminates. */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 8)
const char *addr_str(const struct sockaddr *sa, char *buf, size_t len);
/* The address alone: "1.2.3.4", "2001:db8::1"; "?" when there is none. */
const char *addr_host_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
