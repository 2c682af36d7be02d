/* libFuzzer target for the RFC 8803 decoder (lib/convert.c).
 *
 * Beyond "no crash", it checks what callers rely on:
 * - a successful decode re-encodes with the builder and decodes to the
 *   same message, no longer than the original;
 * - a prefix of the input is either CONVERT_SHORT or fails exactly like
 *   the whole input (the decoder may fail early, never differently);
 * - a fault is consistent with the input it describes;
 * - convert_source_parse accepts a Source TLV only of 5 words, gives the
 *   address and port of its value, and what it accepts re-encodes
 *   (convert_put_source_sa) to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "convert.h"

struct result {
	enum convert_status st;
	struct convert_msg msg;
	size_t consumed;
	struct convert_fault fault;
};

static void check(int ok)
{
	if (!ok)
		abort();
}

static void decode(const uint8_t *buf, size_t len, struct result *r)
{
	r->st = convert_decode(buf, len, &r->msg, &r->consumed, &r->fault);
}

static int bytes_equal(const uint8_t *a, size_t a_len, const uint8_t *b,
		       size_t b_len)
{
	return a_len == b_len && memcmp(a, b, a_len) == 0;
}

static int msg_equal(const struct convert_msg *a, const struct convert_msg *b)
{
	uint32_t p = a->present;

	if (p != b->present)
		return 0;
	if ((p & CONVERT_HAS_CONNECT) &&
	    (a->connect_port != b->connect_port ||
	     memcmp(&a->connect_addr, &b->connect_addr, 16) ||
	     !bytes_equal(a->connect_opts, a->connect_opts_len,
			  b->connect_opts, b->connect_opts_len)))
		return 0;
	if ((p & CONVERT_HAS_EXT_TCP_HDR) &&
	    !bytes_equal(a->ext_opts, a->ext_opts_len, b->ext_opts,
			 b->ext_opts_len))
		return 0;
	if ((p & CONVERT_HAS_SUPPORTED_EXT) &&
	    !bytes_equal(a->supported, a->supported_len, b->supported,
			 b->supported_len))
		return 0;
	if ((p & CONVERT_HAS_COOKIE) &&
	    !bytes_equal(a->cookie, a->cookie_len, b->cookie, b->cookie_len))
		return 0;
	if ((p & CONVERT_HAS_ERROR) &&
	    (a->error_code != b->error_code ||
	     !bytes_equal(a->error_value, a->error_value_len, b->error_value,
			  b->error_value_len)))
		return 0;
	if ((p & CONVERT_HAS_AUTH) &&
	    !bytes_equal(a->auth, a->auth_len, b->auth, b->auth_len))
		return 0;
	return !(p & CONVERT_HAS_SOURCE) ||
	       bytes_equal(a->source, a->source_len, b->source, b->source_len);
}

/* Every put must take back what the decoder accepted. */
static void put_ok(int rc)
{
	check(rc == 0);
}

static size_t encode(const struct convert_msg *m, struct convert_builder *b)
{
	uint32_t p = m->present;

	convert_begin(b);
	if (p & CONVERT_HAS_CONNECT)
		put_ok(convert_put_connect(b, &m->connect_addr, m->connect_port,
					   m->connect_opts,
					   m->connect_opts_len));
	if (p & CONVERT_HAS_INFO)
		put_ok(convert_put_info(b));
	if (p & CONVERT_HAS_EXT_TCP_HDR)
		put_ok(convert_put_ext_tcp_hdr(b, m->ext_opts,
					       m->ext_opts_len));
	if (p & CONVERT_HAS_SUPPORTED_EXT)
		put_ok(convert_put_supported_ext(b, m->supported,
						 m->supported_len));
	if (p & CONVERT_HAS_COOKIE)
		put_ok(convert_put_cookie(b, m->cookie, m->cookie_len));
	if (p & CONVERT_HAS_ERROR)
		put_ok(convert_put_error(b, m->error_code, m->error_value,
					 m->error_value_len));
	if (p & CONVERT_HAS_AUTH)
		put_ok(convert_put_tlv(b, CONVERT_TLV_AUTH, m->auth,
				       m->auth_len));
	if (p & CONVERT_HAS_SOURCE)
		put_ok(convert_put_tlv(b, CONVERT_TLV_SOURCE, m->source,
				       m->source_len));
	return convert_finish(b);
}

static void check_round_trip(const struct result *r)
{
	static struct convert_builder b;
	static struct result again;
	size_t n = encode(&r->msg, &b);

	/* the builder drops padding the sender may have overdone */
	check(n <= r->consumed);
	decode(b.buf, n, &again);
	check(again.st == CONVERT_OK);
	check(again.consumed == n);
	check(msg_equal(&r->msg, &again.msg));
}

static void check_fault(const uint8_t *data, size_t size,
			const struct convert_fault *f)
{
	check(f->reason != NULL);
	check(f->value_len <= CONVERT_MAX_LEN - CONVERT_HDR_LEN - 3);
	check(f->offset < size);
	if (f->code == CONVERT_E_UNSUPPORTED_VERSION) {
		check(data[0] != CONVERT_VERSION && f->value_len == 1);
		return;
	}
	check(f->code == CONVERT_E_MALFORMED ||
	      f->code == CONVERT_E_UNSUPPORTED_MESSAGE);
	check(f->offset + f->value_len <= size);
	check(memcmp(f->value, data + f->offset, f->value_len) == 0);
}

static void check_prefix(const uint8_t *data, size_t size,
			 const struct result *whole, size_t n)
{
	static struct result r;

	decode(data, n, &r);
	if (r.st == CONVERT_SHORT) {
		check(whole->st != CONVERT_OK || n < whole->consumed);
		check(r.consumed == (n >= 2 ? data[1] * 4u : 0));
		return;
	}
	check(r.st == whole->st);
	if (r.st == CONVERT_OK)
		check(r.consumed == whole->consumed);
	else
		check(r.fault.code == whole->fault.code &&
		      r.fault.offset == whole->fault.offset &&
		      strcmp(r.fault.reason, whole->fault.reason) == 0);
}

static void check_source(const struct convert_msg *m)
{
	static struct convert_builder b;
	static struct result again;
	struct sockaddr_storage ss, back;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const char *why = NULL;
	socklen_t len, blen;

	if (!convert_source_parse(m, &ss, &len, &why)) {
		check(why != NULL);
		return;
	}
	check(m->source_len == CONVERT_SOURCE_TLV_LEN - 2);
	if (ss.ss_family == AF_INET) {
		check(len == sizeof(*s4));
		check(!memcmp(&s4->sin_port, m->source, 2));
		check(!memcmp(&s4->sin_addr, m->source + 14, 4));
	} else {
		check(ss.ss_family == AF_INET6 && len == sizeof(*s6));
		check(!memcmp(&s6->sin6_port, m->source, 2));
		check(!memcmp(&s6->sin6_addr, m->source + 2, 16));
	}
	convert_begin(&b);
	check(convert_put_source_sa(&b, (struct sockaddr *)&ss) == 0);
	decode(b.buf, convert_finish(&b), &again);
	check(again.st == CONVERT_OK);
	check(bytes_equal(again.msg.source, again.msg.source_len, m->source,
			  m->source_len));
	check(convert_source_parse(&again.msg, &back, &blen, &why));
	check(blen == len && !memcmp(&back, &ss, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result whole;
	const size_t prefixes[] = { 0, 1, 2, 3, 4, 5, 6, size / 2, size / 3,
				    size - 1, size ? data[0] * 4u % size : 0 };

	decode(data, size, &whole);
	if (whole.st == CONVERT_OK) {
		check(whole.consumed <= size && whole.consumed >= 4);
		check(whole.consumed == data[1] * 4u);
		check_round_trip(&whole);
		check_source(&whole.msg);
	} else if (whole.st == CONVERT_BAD) {
		check_fault(data, size, &whole.fault);
	} else {
		check(whole.st == CONVERT_SHORT);
		check(whole.consumed == (size >= 2 ? data[1] * 4u : 0));
		check(size < 2 || whole.consumed > size);
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (prefixes[i] < size)
			check_prefix(data, size, &whole, prefixes[i]);
	return 0;
}
