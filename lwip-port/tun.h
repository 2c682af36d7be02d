/* The TUN device seam: raw IP packets (IFF_TUN | IFF_NO_PI), not
 * persistent, so the device disappears with the process. */
#ifndef MPTUN_TUN_H
#define MPTUN_TUN_H

#include <stddef.h>
#include <sys/types.h>

/* Create (or attach to) the device name; returns a non-blocking fd or
 * -errno. */
int tun_open(const char *name);
/* 0 or -errno. EAGAIN means the device queue is full: drop, TCP resends. */
int tun_write(int fd, const void *pkt, size_t len);

#endif
