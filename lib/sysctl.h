/* Integer sysctls through /proc/sys, in the caller's network namespace. */
#ifndef MPTUN_SYSCTL_H
#define MPTUN_SYSCTL_H

/* name as in sysctl(8): "net.ipv4.ip_forward"; dots become slashes, so
 * interface names with dots are not supported. 0 or -errno. */
int sysctl_get_int(const char *name, int *val);
int sysctl_set_int(const char *name, int val);

#endif
