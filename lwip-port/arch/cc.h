/*
 * lwIP 2.1.3 compiler and platform glue for mptun-cpe: Linux, glibc, gcc or
 * clang, any word size (the formats below come from <inttypes.h>). lwIP
 * includes this file first from lwip/arch.h, before its own types exist:
 * only standard types may appear here. The functions are in sys_arch.c.
 */
#ifndef MPTUN_LWIP_ARCH_CC_H
#define MPTUN_LWIP_ARCH_CC_H

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* BYTE_ORDER, LITTLE_ENDIAN and BIG_ENDIAN come from <endian.h>, with the
 * values lwip/def.h would otherwise give them. */
#if BYTE_ORDER == LITTLE_ENDIAN
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))
#endif
/* lwip/def.h would define htons() and friends as macros, which clash with
 * <arpa/inet.h> in the glue that includes both. */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS

/* Errors are the C library's errno values: lwIP defines none of its own. */
#define LWIP_ERRNO_STDINCLUDE 1

/* printf formats for lwIP's types and size_t. */
#define X8_F  "02" PRIx8
#define U16_F PRIu16
#define S16_F PRId16
#define X16_F PRIx16
#define U32_F PRIu32
#define S32_F PRId32
#define X32_F PRIx32
#define SZT_F "zu"

void lwip_port_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lwip_port_assert(const char *msg, const char *file, int line)
    __attribute__((noreturn));
uint32_t lwip_port_rand(void);
/* lwIP's checksum sum (LWIP_CHKSUM, lwipopts.h): the flow NAT's, which adds
 * 64-bit words where lwIP's own adds 16-bit ones. */
uint16_t lwip_port_chksum(const void *data, int len);

/* lwIP's debug output (LWIP_DEBUGF, with -DMPTUN_LWIP_DEBUG) goes to stderr;
 * x is a parenthesised printf argument list. */
#define LWIP_PLATFORM_DIAG(x)                                                  \
	do {                                                                   \
		lwip_port_diag x;                                              \
	} while (0)
/* A failed lwIP assertion is a bug in lwIP or in its use: say where, stop. */
#define LWIP_PLATFORM_ASSERT(x) lwip_port_assert((x), __FILE__, __LINE__)
/* Local ports and initial sequence numbers must not be guessable. */
#define LWIP_RAND() ((u32_t)lwip_port_rand())

#endif /* MPTUN_LWIP_ARCH_CC_H */
