#include "sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int path_of(const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/sys/%s", name);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	for (char *p = buf + strlen("/proc/sys/"); *p; p++)
		if (*p == '.')
			*p = '/';
	return 0;
}

int sysctl_get_int(const char *name, int *val)
{
	char path[256];
	FILE *f;
	int r;

	if ((r = path_of(name, path, sizeof(path))) < 0)
		return r;
	if (!(f = fopen(path, "re")))
		return -errno;
	r = fscanf(f, "%d", val) == 1 ? 0 : -EINVAL;
	fclose(f);
	return r;
}

int sysctl_set_int(const char *name, int val)
{
	char path[256], buf[16];
	int fd, n, r;

	if ((r = path_of(name, path, sizeof(path))) < 0)
		return r;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", val);
	r = write(fd, buf, (size_t)n) == n ? 0 : -errno;
	close(fd);
	return r;
}
