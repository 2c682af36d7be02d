#include "conc.h"

#include <errno.h>
#include <ifaddrs.h>
#include <string.h>

#include "convert.h"

/* Addresses no destination host can have: RFC 8803 calls a Connect to
 * them a Malformed Message. */
static const char *const never[] = {
	"0.0.0.0/8",   "127.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32",
	"::/128",      "::1/128",     "ff00::/8",
};

/* Refused by policy unless listed in egress.allow (or allow_private). */
static const char *const private_ranges[] = {
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"fc00::/7",
};

/* Refused by policy, always. */
static const char *const link_local[] = { "169.254.0.0/16", "fe80::/10" };

static bool match_any(const char *const *list, size_t n,
		      const struct sockaddr *sa)
{
	struct addr_prefix p;

	for (size_t i = 0; i < n; i++)
		if (addr_prefix_parse(list[i], &p) && addr_prefix_match(&p, sa))
			return true;
	return false;
}

#define MATCH(list, sa) match_any(list, sizeof(list) / sizeof(list[0]), sa)

static int add_own(struct addr_prefix_list *own, const struct sockaddr *sa)
{
	struct addr_prefix p = { .family = sa->sa_family };

	if (sa->sa_family == AF_INET) {
		p.len = 32;
		memcpy(p.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		p.len = 128;
		memcpy(p.bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		return 0;
	}
	return addr_prefix_list_add(own, &p);
}

int conc_acl_init(struct conc_acl *acl, struct conc_config *cfg)
{
	struct ifaddrs *ifa, *i;
	int r = 0;

	memset(acl, 0, sizeof(*acl));
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i && !r; i = i->ifa_next)
		if (i->ifa_addr)
			r = add_own(&acl->own, i->ifa_addr);
	freeifaddrs(ifa);
	if (r < 0) {
		addr_prefix_list_clear(&acl->own);
		return r;
	}
	acl->cfg = conc_config_ref(cfg);
	return 0;
}

void conc_acl_destroy(struct conc_acl *acl)
{
	addr_prefix_list_clear(&acl->own);
	conc_config_unref(acl->cfg);
	acl->cfg = NULL;
}

int conc_acl_check(const struct conc_acl *acl, const struct sockaddr *dst)
{
	const struct conc_config *c = acl->cfg;

	if (addr_port(dst) == 0 || MATCH(never, dst))
		return CONVERT_E_MALFORMED;
	if (MATCH(link_local, dst) ||
	    (!c->egress_allow_hairpin && addr_prefix_list_match(&acl->own, dst)) ||
	    addr_prefix_list_match(&c->egress_deny, dst))
		return CONVERT_E_NOT_AUTHORIZED;
	if (MATCH(private_ranges, dst) && !c->egress_allow_private &&
	    !addr_prefix_list_match(&c->egress_allow, dst))
		return CONVERT_E_NOT_AUTHORIZED;
	return 0;
}

bool conc_acl_client_allowed(const struct conc_acl *acl,
			     const struct sockaddr *client)
{
	return addr_prefix_list_match(&acl->cfg->clients_allow, client);
}
