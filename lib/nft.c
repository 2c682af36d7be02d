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

/* The transparent listeners are bound to loopback addresses, so that no
 * packet from elsewhere can match them in the socket rule (a wildcard
 * listener on port P would take the ACKs of every connection crossing
 * this host to port P). Bare SYNs are the TPROXY rule's. */
static char *rules_text(const struct nft_tproxy *t)
{
	size_t len = 1024 + t->n_ifs * 24;
	char *ifs = malloc(len), *buf = malloc(len * 3);
	static const char *const fam[2][2] = { { "ipv4", "ip to 127.0.0.1" },
					       { "ipv6", "ip6 to [::1]" } };
	size_t off;
	int n;

	if (!ifs || !buf || put_ifs(ifs, len, t) < 0)
		goto err;
	n = snprintf(buf, len * 3,
		     RESET
		     "table inet " NFT_TPROXY_TABLE " {\n"
		     " chain prerouting {\n"
		     "  type filter hook prerouting priority mangle; policy accept;\n"
		     "  meta l4proto tcp %s%s%s"
		     "tcp flags & (syn | ack) != syn "
		     "socket transparent 1 meta mark set 0x%x accept\n",
		     t->skip_if ? "iifname != \"" : "",
		     t->skip_if ? t->skip_if : "", t->skip_if ? "\" " : "",
		     t->mark);
	for (int i = 0; t->n_ifs && i < 2 && n > 0 && (size_t)n < len * 3; i++) {
		off = (size_t)n;
		n = snprintf(buf + off, len * 3 - off,
			     "  meta nfproto %s iifname { %s } meta l4proto tcp "
			     "fib daddr type != local "
			     "tcp flags & (fin | syn | rst | ack) == syn "
			     "tcp option mptcp exists "
			     "meta mark set 0x%x tproxy %s:%u accept\n",
			     fam[i][0], ifs, t->mark, fam[i][1], t->port);
		n = n < 0 ? n : n + (int)off;
	}
	if (n < 0 || (size_t)n + 8 >= len * 3)
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
