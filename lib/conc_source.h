/* The Source TLV's value (mptun private use 0xC1).
 *
 * TEMPORARY: the CPE side's work puts convert_source_parse() into
 * lib/convert.c and its declaration into lib/convert.h; when that is
 * merged, delete this header and the definition in lib/conc_source.c. */
#ifndef MPTUN_CONC_SOURCE_H
#define MPTUN_CONC_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* val: the TLV's value after type and length, len bytes: port (16 bits)
 * then an IPv6 address (IPv4 v4-mapped), 18 bytes. Writes *out (AF_INET
 * for a v4-mapped address, else AF_INET6, with the port) and returns
 * true; false, *out untouched, for another length, port 0, or an address
 * no client can have (unspecified, loopback, multicast, broadcast). */
bool convert_source_parse(const uint8_t *val, size_t len,
			  struct sockaddr_storage *out);

#endif
