#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Checksums and TCP segmentation, also with ECN (CWR) set: the kernel then
 * passes GSO packets and partial checksums through instead of doing the
 * work in software before the read. */
#define TUN_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

static int tun_attach(const char *name, short flags, unsigned offloads)
{
	struct ifreq ifr = {.ifr_flags = flags};
	int fd, r;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int tun_open(const char *name, bool offload, bool *vnet)
{
	int fd;

	*vnet = false;
	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	if (offload) {
		fd = tun_attach(name, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR,
				TUN_OFFLOADS);
		if (fd >= 0) {
			*vnet = true;
			return fd;
		}
	}
	return tun_attach(name, IFF_TUN | IFF_NO_PI, 0);
}

int tun_write(int fd, const void *pkt, size_t len)
{
	ssize_t n = write(fd, pkt, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}
