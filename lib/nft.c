#include "nft.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

/* Creating the table first makes the delete succeed whether or not one
 * was there: nftables 1.0.6 has no "destroy". */
#define RESET "add table inet " NFT_TPROXY_TABLE "\n" \
	      "delete table inet " NFT_TPROXY_TABLE "\n"

/* The first line of what libnftables said, for one log line. */
static void copy_error(struct nft_ctx *ctx, char *err, size_t errlen)
{
	const char *e = nft_ctx_get_error_buffer(ctx);
	size_t n = e ? strcspn(e, "\n") : 0;

	if (!errlen)
		return;
	if (!n)
		e = "nftables refused the commands", n = strlen(e);
	snprintf(err, errlen, "%.*s", (int)n, e);
}

/* Run cmd in a context of its own; quiet unless it fails. */
static int nft_run(const char *cmd, char *err, size_t errlen)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	int r;

	if (!ctx) {
		snprintf(err, errlen, "nftables: out of memory");
		return -ENOMEM;
	}
	if (nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
		nft_ctx_free(ctx);
		snprintf(err, errlen, "nftables: out of memory");
		return -ENOMEM;
	}
	r = nft_run_cmd_from_buffer(ctx, cmd);
	if (r) {
		copy_error(ctx, err, errlen);
		r = strstr(nft_ctx_get_error_buffer(ctx), "not permitted") ? -EPERM
									     : -EIO;
	}
	nft_ctx_free(ctx);
	return r;
}

/* iifname { "a", "b" }: the names were checked to need no escaping. */
static int put_ifs(char *buf, size_t len, const struct nft_tproxy *t)
{
	size_t off = 0;
	int n;

	for (size_t i = 0; i < t->n_ifs; i++) {
		n = snprintf(buf + off, len - off, "%s\"%s\"", i ? ", " : "",
			     t->ifs[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENAMETOOLONG;
		off += (size_t)n;
	}
	return 0;
}

/* Bare SYNs stay out of the socket rule: a SYN to any host's port P would
 * otherwise match the wildcard listener on P (socket wildcard 0 keeps
 * listeners out of it for the other packets). */
static char *rules_text(const struct nft_tproxy *t)
{
	size_t len = 1024 + t->n_ifs * 24;
	char *ifs = malloc(len), *buf = malloc(len * 2);
	int n;

	if (!ifs || !buf || put_ifs(ifs, len, t) < 0)
		goto err;
	n = snprintf(buf, len * 2,
		     RESET
		     "table inet " NFT_TPROXY_TABLE " {\n"
		     " chain prerouting {\n"
		     "  type filter hook prerouting priority mangle; policy accept;\n"
		     "  meta l4proto tcp tcp flags & (syn | ack) != syn "
		     "socket transparent 1 socket wildcard 0 "
		     "meta mark set 0x%x accept\n",
		     t->mark);
	if (n < 0 || (size_t)n >= len * 2)
		goto err;
	if (t->n_ifs)
		n += snprintf(buf + n, len * 2 - (size_t)n,
			      "  iifname { %s } meta l4proto tcp "
			      "fib daddr type != local "
			      "tcp flags & (fin | syn | rst | ack) == syn "
			      "tcp option mptcp exists "
			      "meta mark set 0x%x tproxy to :%u accept\n",
			      ifs, t->mark, t->port);
	if (n < 0 || (size_t)n + 8 >= len * 2)
		goto err;
	strcat(buf, " }\n}\n");
	free(ifs);
	return buf;
err:
	free(ifs);
	free(buf);
	return NULL;
}

int nft_tproxy_install(const struct nft_tproxy *t, char *err, size_t errlen)
{
	char *cmd = rules_text(t);
	int r;

	if (!cmd) {
		snprintf(err, errlen, "nftables: out of memory");
		return -ENOMEM;
	}
	r = nft_run(cmd, err, errlen);
	free(cmd);
	return r;
}

int nft_tproxy_remove(char *err, size_t errlen)
{
	return nft_run(RESET, err, errlen);
}

bool nft_tproxy_present(void)
{
	char err[256];

	return nft_run("list table inet " NFT_TPROXY_TABLE "\n", err,
		       sizeof(err)) == 0;
}
