/* Source preservation: the upstream connection of a flow leaves from the
 * client's own address (the Source TLV's, or a transparent flow's peer)
 * when it is in source.prefixes, with IP_TRANSPARENT; the policy routing
 * of conc_tproxy.c brings the server's answers back to that socket. */
#include "conc_flow.h"
#include "convert.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "sockopt.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

bool flow_source_tlv(struct conc_flow *f, const struct convert_msg *m)
{
	socklen_t len;
	const char *why;

	CONC_STAT_INC(&f->w->stats, source_tlv);
	return convert_source_parse(m, &f->src, &len, &why);
}

static socklen_t sa_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in)
				 : sizeof(struct sockaddr_in6);
}

/* Preserve f->src? Only when source.preserve was on at start (the routing
 * is installed for it: d->preserve),
 * in a prefix of the worker's config of the moment, and of the
 * destination's family. */
static bool preserve_ok(const struct conc_flow *f)
{
	const struct conc_config *c = f->w->acl.cfg;

	return f->w->d->preserve &&
	       f->src.ss_family == f->dst.ss_family &&
	       addr_prefix_list_match(&c->source_prefixes,
				      (const struct sockaddr *)&f->src);
}

static int set_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof(val)) < 0 ? -errno : 0;
}

/* Bound to the client's address and port; when another socket has that
 * port (a second flow of the client to another destination ended in
 * TIME_WAIT, say), any port of that address. */
static int bind_client(struct conc_flow *f, int fd, bool *port_changed)
{
	struct sockaddr_storage any = f->src;
	socklen_t len = sa_len(f->src.ss_family);
	int r;

	if ((r = conc_set_transparent(fd, f->src.ss_family)) < 0)
		return r;
	if (bind(fd, (struct sockaddr *)&f->src, len) == 0)
		return 0;
	if (errno != EADDRINUSE)
		return -errno;
	*port_changed = true;
	if (any.ss_family == AF_INET)
		((struct sockaddr_in *)&any)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&any)->sin6_port = 0;
	set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
	return bind(fd, (struct sockaddr *)&any, len) < 0 ? -errno : 0;
}

static int preserved_connect(struct conc_flow *f)
{
	bool port_changed = false;
	int fd, r;

	fd = socket(f->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	sockopt_nodelay(fd);
	if ((r = bind_client(f, fd, &port_changed)) < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&f->dst, f->dst_len) < 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	CONC_STAT_INC(&f->w->stats, source_preserved);
	if (port_changed)
		CONC_STAT_INC(&f->w->stats, source_port_changed);
	flow_log(f, "upstream from the client's own address%s",
		 port_changed ? " (another port: its own was taken)" : "");
	return fd;
fail:
	close(fd);
	return r;
}

int flow_upstream_connect(struct conc_flow *f)
{
	const struct conc_config *c = f->w->acl.cfg;
	const struct sockaddr_storage *src =
		f->dst.ss_family == AF_INET ? &c->egress_source4 : &c->egress_source6;

	if (f->src.ss_family != AF_UNSPEC) {
		if (preserve_ok(f))
			return preserved_connect(f);
		CONC_STAT_INC(&f->w->stats, source_nat);
	}
	return sockopt_connect((struct sockaddr *)&f->dst, f->dst_len,
			       src->ss_family == AF_UNSPEC ? NULL
							   : (const struct sockaddr *)src,
			       sa_len(src->ss_family));
}
