/* libFuzzer target for what the concentrator reads of a Convert opening
 * beyond lib/convert.c's decoder, the way conc_flow.c reaches it: the
 * Source TLV (convert_source_parse) of a decoded message, and the TLV walk
 * that finds the offending TLV for a Malformed Message's value.
 *
 * Beyond "no crash": an accepted Source is 18 bytes of value, of a port
 * other than 0 and an address a client can have, and encodes back to the
 * same bytes; a refused one says why and leaves the output untouched. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

/* The value back from the sockaddr, as a CPE would write it. */
static void encode(const struct sockaddr_storage *ss, uint8_t v[18])
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	uint16_t port = ntohs(ss->ss_family == AF_INET ? sin->sin_port
						      : sin6->sin6_port);

	v[0] = (uint8_t)(port >> 8);
	v[1] = (uint8_t)port;
	memset(v + 2, 0, 16);
	if (ss->ss_family == AF_INET) {
		v[12] = v[13] = 0xff;
		memcpy(v + 14, &sin->sin_addr, 4);
	} else {
		memcpy(v + 2, &sin6->sin6_addr, 16);
	}
}

static void parse(const struct convert_msg *m)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *why;
	uint8_t back[18];

	memset(&ss, 0xa5, sizeof(ss));
	if (!convert_source_parse(m, &ss, &sl, &why)) {
		check(why && ((uint8_t *)&ss)[0] == 0xa5 &&
		      ((uint8_t *)&ss)[sizeof(ss) - 1] == 0xa5);
		return;
	}
	check(m->source_len == 18);
	check(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	encode(&ss, back);
	check(memcmp(back, m->source, 18) == 0);
	check(back[0] || back[1]);
}

/* What conc_flow.c's refuse_tlv walks: every TLV lies within the
 * message, and the Source TLV, when present, is among them. */
static void walk(const uint8_t *buf, size_t used, const struct convert_msg *m)
{
	const uint8_t *tlv;
	size_t off = CONVERT_HDR_LEN, len;
	int seen = 0;

	while (convert_tlv_next(buf, used, &off, &tlv, &len)) {
		check(tlv >= buf && tlv + len <= buf + used && len >= 4);
		if (tlv[0] == CONVERT_TLV_SOURCE) {
			seen = 1;
			check(len - 2 == m->source_len);
		}
	}
	check(seen == !!(m->present & CONVERT_HAS_SOURCE));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct convert_msg m;
	struct convert_fault fault;
	size_t used;

	if (convert_decode(data, size, &m, &used, &fault) != CONVERT_OK)
		return 0;
	walk(data, used, &m);
	parse(&m);
	return 0;
}
