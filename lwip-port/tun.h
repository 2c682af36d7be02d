/* The TUN device seam: raw IP packets (IFF_TUN | IFF_NO_PI), not
 * persistent, so the device disappears with the process. With offloads,
 * each packet has a virtio-net header in front (vnet.h). */
#ifndef MPTUN_TUN_H
#define MPTUN_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Create (or attach to) the device name; returns a non-blocking fd or
 * -errno. With offload, asks for IFF_VNET_HDR and checksum and TCP
 * segmentation offloads; *vnet says whether the kernel granted them (if
 * not, the device works without, as with offload false). Without, any
 * offloads a persistent device kept from an earlier user are switched off:
 * the kernel would hand over packets this fd cannot describe. */
int tun_open(const char *name, bool offload, bool *vnet);
/* 0 or -errno. EAGAIN means the device queue is full: drop, TCP resends. */
int tun_write(int fd, const void *pkt, size_t len);

#endif
