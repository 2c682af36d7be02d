#include "cpe_client_source.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nft.h"
#include "nlroute_local.h"

bool cpe_client_source_wanted(const struct cpe_config *c)
{
	return c->mode == CPE_MODE_TRANSPARENT && c->source;
}

uint32_t cpe_client_source_table(uint32_t route_table)
{
	return route_table + CPE_PATHS_MAX + 1;
}

int cpe_client_source_install(struct nlroute *nr, const struct cpe_config *c,
			      char *err, size_t errlen)
{
	uint32_t t = cpe_client_source_table(c->route_table);
	const struct nft_tproxy n = { .mark = t, .skip_if = c->tun_name };
	int r;

	cpe_client_source_remove(nr, c->route_table, err, errlen);
	if ((r = nlroute_local_install(nr, t, c->rule_priority + 2, t)) < 0) {
		snprintf(err, errlen, "policy routing (fwmark 0x%x lookup %u): %s",
			 t, t, strerror(-r));
		return r;
	}
	if ((r = nft_tproxy_install(&n, err, errlen)) < 0)
		nlroute_local_remove(nr, t);
	return r;
}

int cpe_client_source_remove(struct nlroute *nr, uint32_t route_table,
			     char *err, size_t errlen)
{
	int r = 0, r2;

	if (nft_tproxy_present())
		r = nft_tproxy_remove(err, errlen);
	r2 = nlroute_local_remove(nr, cpe_client_source_table(route_table));
	if (r2 < 0 && !r) {
		snprintf(err, errlen, "policy routing: %s", strerror(-r2));
		r = r2;
	}
	return r;
}
