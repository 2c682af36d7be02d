/* lib/auth: the Auth TLV's wire format, signing and verification, every
 * field tampered with, the time window and its boundaries, the replay
 * cache (replays, its bound and horizon, a clock stepped back, threads). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "auth.h"
#include "convert.h"

#define NOW    1700000000
#define WINDOW 30

static const char key_a_hex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/* the same 32 bytes in base64 */
static const char key_a_b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static uint8_t key_a[AUTH_KEY_LEN], key_b[AUTH_KEY_LEN];
static struct auth_key keys[2];
static struct auth_policy policy;
static struct auth_replay *cache;

static int setup(void **state)
{
	for (int i = 0; i < AUTH_KEY_LEN; i++) {
		key_a[i] = (uint8_t)i;
		key_b[i] = (uint8_t)(0xa0 + i);
	}
	/* out of order on purpose: auth_policy_sort() orders them */
	keys[0].id = "cpe-b";
	memcpy(keys[0].key.bytes, key_b, AUTH_KEY_LEN);
	keys[1].id = "cpe-a";
	memcpy(keys[1].key.bytes, key_a, AUTH_KEY_LEN);
	policy = (struct auth_policy){.window_ms = WINDOW * 1000,
				      .replay_cache = 64,
				      .keys = keys,
				      .n_keys = 2};
	auth_policy_sort(&policy);
	cache = auth_replay_new(64);
	return cache ? 0 : -1;
}

static int teardown(void **state)
{
	auth_replay_free(cache);
	cache = NULL;
	return 0;
}

struct msg {
	uint8_t b[CONVERT_MAX_LEN];
	size_t len;
};

static void nonce_of(uint8_t *nonce, unsigned n)
{
	memset(nonce, 0, AUTH_NONCE_LEN);
	memcpy(nonce, &n, sizeof(n));
}

/* Header, Connect to dst, Auth of id with key at ts and nonce n. */
static struct msg sign(const char *dst, const char *id, const uint8_t *key,
		       uint64_t ts, unsigned n)
{
	struct sockaddr_storage ss;
	struct convert_builder b;
	uint8_t nonce[AUTH_NONCE_LEN];
	socklen_t sl;
	struct msg m;

	assert_true(addr_parse(dst, -1, &ss, &sl));
	nonce_of(nonce, n);
	convert_begin(&b);
	assert_int_equal(convert_put_connect_sa(&b, (struct sockaddr *)&ss), 0);
	assert_int_equal(auth_put_nonce(&b, id, key, ts, nonce), 0);
	m.len = convert_finish(&b);
	memcpy(m.b, b.buf, m.len);
	return m;
}

static struct msg sign_a(uint64_t ts, unsigned n)
{
	return sign("203.0.113.10:443", "cpe-a", key_a, ts, n);
}

/* As the concentrator does: decode first, then verify what was consumed.
 * An enum auth_status, or -1 when the message does not decode. */
static int verify_at(const struct msg *m, int64_t now)
{
	static struct convert_msg cm;
	struct convert_fault f;
	char who[AUTH_ID_STRLEN];
	size_t used;

	if (convert_decode(m->b, m->len, &cm, &used, &f) != CONVERT_OK)
		return -1;
	return (int)auth_verify(&policy, cache, m->b, used, now, who,
				sizeof(who));
}

static int verify(const struct msg *m)
{
	return verify_at(m, NOW);
}

/* Offset of the Auth TLV in a message built by sign(): after the 4-byte
 * header and the 20-byte Connect TLV. */
#define AUTH_OFF 24

static void test_key_decode(void **state)
{
	uint8_t k[AUTH_KEY_LEN], k2[AUTH_KEY_LEN];
	char why[256], upper[sizeof(key_a_hex)];

	assert_true(auth_key_decode(key_a_hex, k, why, sizeof(why)));
	assert_memory_equal(k, key_a, AUTH_KEY_LEN);
	assert_true(auth_key_decode(key_a_b64, k2, why, sizeof(why)));
	assert_memory_equal(k2, key_a, AUTH_KEY_LEN);
	for (size_t i = 0; i < sizeof(upper); i++)
		upper[i] = (char)(key_a_hex[i] >= 'a' ? key_a_hex[i] - 32
						      : key_a_hex[i]);
	assert_true(auth_key_decode(upper, k, why, sizeof(why)));
	assert_memory_equal(k, key_a, AUTH_KEY_LEN);
}

static void expect_bad_key(const char *s, const char *want)
{
	uint8_t k[AUTH_KEY_LEN];
	char why[256] = "";

	memset(k, 0x55, sizeof(k));
	assert_false(auth_key_decode(s, k, why, sizeof(why)));
	if (!strstr(why, want))
		fail_msg("'%s': got '%s', want '%s'", s, why, want);
	/* the text of a refused key is never echoed */
	if (strlen(s) > 8 && strstr(why, s))
		fail_msg("the key text is in the message: %s", why);
	for (size_t i = 0; i < sizeof(k); i++)
		assert_int_equal(k[i], 0x55); /* untouched */
}

static void test_key_decode_bad(void **state)
{
	char buf[128];

	expect_bad_key("", "got 0 characters");
	snprintf(buf, sizeof(buf), "%.63s", key_a_hex);
	expect_bad_key(buf, "64 hex digits or 44 base64");
	snprintf(buf, sizeof(buf), "%s0", key_a_hex);
	expect_bad_key(buf, "got 65 characters");
	snprintf(buf, sizeof(buf), "%.63sg", key_a_hex);
	expect_bad_key(buf, "64 hex digits");
	snprintf(buf, sizeof(buf), " %.63s", key_a_hex);
	expect_bad_key(buf, "64 hex digits");
	/* base64: no padding, a non-canonical last character, bad alphabet */
	snprintf(buf, sizeof(buf), "%.43s", key_a_b64);
	expect_bad_key(buf, "got 43 characters");
	expect_bad_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
		       "44 base64");
	expect_bad_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-=",
		       "44 base64");
	/* 33 bytes of base64 (44 characters, no '=') */
	expect_bad_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
		       "44 base64");
	expect_bad_key(
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "zeros");
	expect_bad_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "zeros");
}

static void test_id_ok(void **state)
{
	char why[128], id[AUTH_ID_MAX + 2];

	assert_true(auth_id_ok("cpe-0001", why, sizeof(why)));
	assert_true(auth_id_ok("x", why, sizeof(why)));
	assert_true(auth_id_ok("!~", why, sizeof(why)));
	memset(id, 'i', AUTH_ID_MAX);
	id[AUTH_ID_MAX] = '\0';
	assert_true(auth_id_ok(id, why, sizeof(why)));
	id[AUTH_ID_MAX] = 'i';
	id[AUTH_ID_MAX + 1] = '\0';
	assert_false(auth_id_ok(id, why, sizeof(why)));
	assert_non_null(strstr(why, "1 to 64 bytes"));
	assert_false(auth_id_ok("", why, sizeof(why)));
	assert_false(auth_id_ok("a b", why, sizeof(why)));
	assert_non_null(strstr(why, "printable ASCII"));
	assert_false(auth_id_ok("a\tb", why, sizeof(why)));
	assert_false(auth_id_ok("a\x7f", why, sizeof(why)));
	assert_false(auth_id_ok("caf\xc3\xa9", why, sizeof(why)));
}

static void test_secret_ok(void **state)
{
	struct auth_secret s = {.from = 0};
	char why[128];

	assert_false(auth_secret_ok(&s, why, sizeof(why)));
	assert_non_null(strstr(why, "one of key or key_file"));
	s.from = AUTH_FROM_TEXT;
	assert_true(auth_secret_ok(&s, why, sizeof(why)));
	s.from = AUTH_FROM_FILE;
	assert_true(auth_secret_ok(&s, why, sizeof(why)));
	s.from = AUTH_FROM_TEXT | AUTH_FROM_FILE;
	assert_false(auth_secret_ok(&s, why, sizeof(why)));
	assert_non_null(strstr(why, "exclude each other"));
	memset(s.bytes, 7, sizeof(s.bytes));
	auth_secret_wipe(&s);
	for (size_t i = 0; i < sizeof(s.bytes); i++)
		assert_int_equal(s.bytes[i], 0);
}

/* The layout of auth.h, byte by byte, and a decode by the codec. */
static void test_wire_layout(void **state)
{
	struct msg m = sign_a(0x0102030405060708ull, 0x44332211);
	static struct convert_msg cm;
	struct convert_fault f;
	const uint8_t *t = m.b + AUTH_OFF;
	uint8_t nonce[AUTH_NONCE_LEN];
	size_t used;

	assert_int_equal(m.len, AUTH_OFF + 68); /* 60 + 8, a multiple of 4 */
	assert_int_equal(m.b[1], m.len / 4);
	assert_int_equal(t[0], CONVERT_TLV_AUTH);
	assert_int_equal(t[1], 68 / 4);
	assert_int_equal(t[2], AUTH_VERSION);
	assert_int_equal(t[3], 5);
	assert_memory_equal(t + 4, "cpe-a", 5);
	assert_memory_equal(t + 9, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	nonce_of(nonce, 0x44332211);
	assert_memory_equal(t + 17, nonce, AUTH_NONCE_LEN);
	/* MAC at 33..64, then 3 bytes of zero padding */
	assert_memory_equal(t + 65, "\0\0\0", 3);
	assert_int_equal(convert_decode(m.b, m.len, &cm, &used, &f),
			 CONVERT_OK);
	assert_int_equal(used, m.len);
	assert_int_equal(cm.present, CONVERT_HAS_CONNECT | CONVERT_HAS_AUTH);
	assert_int_equal(cm.auth_len, 66);
	assert_memory_equal(cm.auth, t + 2, 66);
	assert_int_equal(cm.connect_port, 443);
}

/* An independent HMAC of the documented input: the format is what
 * auth.h says, not only what auth.c does. */
static void test_mac_input(void **state)
{
	struct msg m = sign_a(NOW, 1);
	const uint8_t *t = m.b + AUTH_OFF;
	uint8_t in[256], mac[AUTH_MAC_LEN];
	size_t n = 0;

	memcpy(in, "mptun auth v1", 13), n += 13;
	memcpy(in + n, t + 2, AUTH_SIGNED_LEN(5)), n += AUTH_SIGNED_LEN(5);
	memcpy(in + n, m.b + 4, 20), n += 20; /* the Connect TLV */
	crypto_auth_hmacsha256(mac, in, n, key_a);
	assert_memory_equal(mac, t + 2 + AUTH_SIGNED_LEN(5), AUTH_MAC_LEN);
}

static void test_every_id_length(void **state)
{
	char id[AUTH_ID_MAX + 2];
	struct auth_key k = {.id = id};
	struct auth_policy p = {
	    .window_ms = WINDOW * 1000, .keys = &k, .n_keys = 1};
	static struct convert_msg cm;
	struct convert_fault f;
	char who[AUTH_ID_STRLEN];
	size_t used;

	memcpy(k.key.bytes, key_a, AUTH_KEY_LEN);
	for (size_t n = 1; n <= AUTH_ID_MAX; n++) {
		memset(id, 'a' + (int)(n % 26), n);
		id[n] = '\0';
		struct msg m =
		    sign("[2001:db8::1]:80", id, key_a, NOW, (unsigned)n);
		size_t tlv = m.len - AUTH_OFF;
		assert_int_equal(tlv, (60 + n + 3) & ~(size_t)3);
		assert_int_equal(tlv % 4, 0);
		assert_int_equal(convert_decode(m.b, m.len, &cm, &used, &f),
				 CONVERT_OK);
		assert_int_equal(
		    auth_verify(&p, cache, m.b, used, NOW, who, sizeof(who)),
		    AUTH_OK);
		assert_string_equal(who, id);
	}
}

static void test_put_refuses(void **state)
{
	struct convert_builder b;
	uint8_t nonce[AUTH_NONCE_LEN] = {0};
	char id[AUTH_ID_MAX + 2];

	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	convert_begin(&b);
	assert_int_equal(auth_put_nonce(&b, id, key_a, NOW, nonce), -EINVAL);
	assert_int_equal(auth_put_nonce(&b, "", key_a, NOW, nonce), -EINVAL);
	assert_int_equal(auth_put_nonce(&b, NULL, key_a, NOW, nonce), -EINVAL);
	assert_int_equal(b.len, CONVERT_HDR_LEN);
	assert_int_equal(auth_put(&b, "cpe-a", key_a, NOW), 0);
	assert_int_equal(auth_put(&b, "cpe-a", key_a, NOW), -EINVAL);
	/* no room: a Cookie fills the message */
	static uint8_t big[CONVERT_MAX_LEN];
	convert_begin(&b);
	assert_int_equal(convert_put_cookie(&b, big, 1000), 0);
	assert_int_equal(auth_put(&b, "cpe-a", key_a, NOW), -ENOSPC);
}

static void test_nonces_differ(void **state)
{
	struct convert_builder b1, b2;

	convert_begin(&b1);
	convert_begin(&b2);
	assert_int_equal(auth_put(&b1, "cpe-a", key_a, NOW), 0);
	assert_int_equal(auth_put(&b2, "cpe-a", key_a, NOW), 0);
	assert_memory_not_equal(b1.buf + 4 + 2 + 2 + 5 + 8,
				b2.buf + 4 + 2 + 2 + 5 + 8, AUTH_NONCE_LEN);
}

static void test_good(void **state)
{
	struct msg m = sign_a(NOW, 1);
	char who[AUTH_ID_STRLEN];

	assert_int_equal(
	    auth_verify(&policy, cache, m.b, m.len, NOW, who, sizeof(who)),
	    AUTH_OK);
	assert_string_equal(who, "cpe-a");
	m = sign("[2001:db8::1]:80", "cpe-b", key_b, NOW, 1);
	assert_int_equal(verify(&m), AUTH_OK);
	assert_int_equal(auth_replay_count(cache), 2);
}

static void test_absent(void **state)
{
	struct convert_builder b;
	char who[AUTH_ID_STRLEN] = "x";

	convert_begin(&b);
	assert_int_equal(convert_put_info(&b), 0);
	size_t n = convert_finish(&b);
	assert_int_equal(
	    auth_verify(&policy, cache, b.buf, n, NOW, who, sizeof(who)),
	    AUTH_ABSENT);
	assert_string_equal(who, "");
}

static void test_wrong_key(void **state)
{
	struct msg m = sign("203.0.113.10:443", "cpe-a", key_b, NOW, 1);

	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	/* cpe-b's key, cpe-b's MAC, but claiming to be cpe-a */
	m = sign("203.0.113.10:443", "cpe-b", key_b, NOW, 1);
	memcpy(m.b + AUTH_OFF + 4, "cpe-a", 5);
	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	assert_int_equal(auth_replay_count(cache), 0);
}

static void test_unknown_id(void **state)
{
	struct msg m = sign("203.0.113.10:443", "cpe-z", key_a, NOW, 1);
	char who[AUTH_ID_STRLEN];

	assert_int_equal(
	    auth_verify(&policy, cache, m.b, m.len, NOW, who, sizeof(who)),
	    AUTH_UNKNOWN_ID);
	assert_string_equal(who, "cpe-z");
	/* a prefix or an extension of a known id is not it */
	m = sign("203.0.113.10:443", "cpe-", key_a, NOW, 2);
	assert_int_equal(verify(&m), AUTH_UNKNOWN_ID);
	m = sign("203.0.113.10:443", "cpe-aa", key_a, NOW, 3);
	assert_int_equal(verify(&m), AUTH_UNKNOWN_ID);
	/* bytes a config cannot hold come back escaped */
	m = sign("203.0.113.10:443", "cpe-a", key_a, NOW, 4);
	m.b[AUTH_OFF + 8] = '\n';
	assert_int_equal(
	    auth_verify(&policy, cache, m.b, m.len, NOW, who, sizeof(who)),
	    AUTH_UNKNOWN_ID);
	assert_string_equal(who, "cpe-\\x0a");
	/* no keys at all */
	struct auth_policy none = {.window_ms = 30000};
	assert_int_equal(
	    auth_verify(&none, cache, m.b, m.len, NOW, who, sizeof(who)),
	    AUTH_UNKNOWN_ID);
}

static void test_tampered_connect(void **state)
{
	struct msg good = sign_a(NOW, 1), m;

	m = good;
	m.b[7] ^= 1; /* port 443 -> 442 */
	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	m = good;
	m.b[23] ^= 1; /* 203.0.113.10 -> .11 */
	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	/* the same Auth on a Connect to elsewhere */
	m = sign("198.51.100.1:443", "cpe-a", key_a, NOW, 1);
	memcpy(m.b + AUTH_OFF, good.b + AUTH_OFF, good.len - AUTH_OFF);
	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	assert_int_equal(verify(&good), AUTH_OK);
}

/* Each field of the Auth TLV gets the answer its damage deserves. */
static void test_tampered_fields(void **state)
{
	static const struct {
		size_t off; /* in the Auth TLV */
		enum auth_status want;
	} cases[] = {
	    {2, AUTH_MALFORMED},		      /* version */
	    {3, AUTH_MALFORMED},		      /* id_len */
	    {4, AUTH_UNKNOWN_ID},		      /* id ("bpe-a") */
	    {8, AUTH_UNKNOWN_ID},		      /* id ("cpe-`") */
	    {9, AUTH_BAD_MAC},			      /* timestamp, high byte */
	    {16, AUTH_BAD_MAC},			      /* timestamp, low byte */
	    {17, AUTH_BAD_MAC},			      /* nonce */
	    {32, AUTH_BAD_MAC},	  {33, AUTH_BAD_MAC}, /* MAC */
	    {64, AUTH_BAD_MAC},	  {65, AUTH_MALFORMED}, /* padding */
	    {67, AUTH_MALFORMED},
	};
	struct msg good = sign_a(NOW, 1);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg m = good;
		m.b[AUTH_OFF + cases[i].off] ^= 1;
		int st = verify(&m);
		if (st != (int)cases[i].want)
			fail_msg("byte %zu: got %s, want %s", cases[i].off,
				 auth_status_str((enum auth_status)st),
				 auth_status_str(cases[i].want));
	}
	/* "cpe-a" -> "cpe-b": the other known id, whose key differs */
	struct msg m = good;
	m.b[AUTH_OFF + 8] = 'b';
	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	/* nothing above got into the replay cache */
	assert_int_equal(verify(&good), AUTH_OK);
}

/* No single bit flipped anywhere in the message verifies. */
static void test_every_bit(void **state)
{
	struct msg good = sign_a(NOW, 1);

	for (size_t i = 0; i < good.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct msg m = good;
			m.b[i] ^= (uint8_t)(1 << bit);
			if (verify(&m) == AUTH_OK)
				fail_msg("byte %zu bit %d flipped verifies", i,
					 bit);
		}
	}
	assert_int_equal(auth_replay_count(cache), 0);
}

static void test_tlv_added_or_removed(void **state)
{
	struct msg good = sign_a(NOW, 1);
	struct convert_builder b;
	static const uint8_t cookie[] = {1, 2, 3, 4};

	/* a Cookie appended after signing */
	memcpy(b.buf, good.b, good.len);
	b.len = good.len;
	assert_int_equal(convert_put_cookie(&b, cookie, sizeof(cookie)), 0);
	struct msg m = {.len = convert_finish(&b)};
	memcpy(m.b, b.buf, m.len);
	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	/* the Connect removed: header + Auth alone */
	m.len = 4 + good.len - AUTH_OFF;
	memcpy(m.b, good.b, 4);
	memcpy(m.b + 4, good.b + AUTH_OFF, good.len - AUTH_OFF);
	m.b[1] = (uint8_t)(m.len / 4);
	assert_int_equal(verify(&m), AUTH_BAD_MAC);
	/* Auth before Connect: still the same TLVs in the same order */
	m.len = good.len;
	memcpy(m.b, good.b, 4);
	memcpy(m.b + 4, good.b + AUTH_OFF, good.len - AUTH_OFF);
	memcpy(m.b + 4 + good.len - AUTH_OFF, good.b + 4, 20);
	assert_int_equal(verify(&m), AUTH_OK);
}

static struct msg raw_auth(const uint8_t *value, size_t len)
{
	struct convert_builder b;
	struct in6_addr a = IN6ADDR_LOOPBACK_INIT;
	struct msg m;

	convert_begin(&b);
	assert_int_equal(convert_put_connect(&b, &a, 80, NULL, 0), 0);
	assert_int_equal(convert_put_tlv(&b, CONVERT_TLV_AUTH, value, len), 0);
	m.len = convert_finish(&b);
	memcpy(m.b, b.buf, m.len);
	return m;
}

static void test_malformed(void **state)
{
	struct msg good = sign_a(NOW, 1);
	const uint8_t *v = good.b + AUTH_OFF + 2;
	uint8_t buf[200];
	struct msg m;

	m = raw_auth(v, 2); /* version and id_len only */
	assert_int_equal(verify(&m), AUTH_MALFORMED);
	m = raw_auth(v, 0);
	assert_int_equal(verify(&m), AUTH_MALFORMED);
	m = raw_auth(v, 62); /* the MAC cut short by one byte */
	assert_int_equal(verify(&m), AUTH_MALFORMED);
	m = raw_auth(v, 66);			    /* as sent */
	assert_int_equal(verify(&m), AUTH_BAD_MAC); /* Connect differs */
	memcpy(buf, v, 66);
	memset(buf + 66, 0, 4);
	m = raw_auth(buf, 70); /* a spare word of zeros */
	assert_int_equal(verify(&m), AUTH_MALFORMED);
	buf[0] = 2;
	m = raw_auth(buf, 66);
	assert_int_equal(verify(&m), AUTH_MALFORMED);
	buf[0] = 1;
	buf[1] = 0;
	m = raw_auth(buf, 66);
	assert_int_equal(verify(&m), AUTH_MALFORMED);
	buf[1] = 65;
	memset(buf + 66, 0, 64);
	m = raw_auth(buf, 60 + 65 - 2);
	assert_int_equal(verify(&m), AUTH_MALFORMED);
}

static void test_window_boundaries(void **state)
{
	struct msg m;

	m = sign_a(NOW - WINDOW, 1);
	assert_int_equal(verify(&m), AUTH_OK);
	m = sign_a(NOW - WINDOW - 1, 2);
	assert_int_equal(verify(&m), AUTH_STALE);
	m = sign_a(NOW + WINDOW, 3);
	assert_int_equal(verify(&m), AUTH_OK);
	m = sign_a(NOW + WINDOW + 1, 4);
	assert_int_equal(verify(&m), AUTH_FUTURE);
	m = sign_a(0, 5);
	assert_int_equal(verify(&m), AUTH_STALE);
	m = sign_a(UINT64_MAX, 6);
	assert_int_equal(verify(&m), AUTH_FUTURE);
	m = sign_a((uint64_t)INT64_MAX + 1, 7);
	assert_int_equal(verify(&m), AUTH_FUTURE);
	/* a window of one second */
	policy.window_ms = 1000;
	m = sign_a(NOW - 1, 8);
	assert_int_equal(verify(&m), AUTH_OK);
	m = sign_a(NOW - 2, 9);
	assert_int_equal(verify(&m), AUTH_STALE);
	policy.window_ms = WINDOW * 1000;
}

static void test_replay(void **state)
{
	struct msg m = sign_a(NOW, 1), other;

	assert_int_equal(verify(&m), AUTH_OK);
	assert_int_equal(verify(&m), AUTH_REPLAY);
	assert_int_equal(verify_at(&m, NOW + 5), AUTH_REPLAY);
	assert_int_equal(verify_at(&m, NOW + WINDOW), AUTH_REPLAY);
	/* once out of the window it is stale before it is a replay */
	assert_int_equal(verify_at(&m, NOW + WINDOW + 1), AUTH_STALE);
	/* the same nonce from another CPE is another pair */
	other = sign("203.0.113.10:443", "cpe-b", key_b, NOW, 1);
	assert_int_equal(verify(&other), AUTH_OK);
	/* the same nonce to another destination: still a replay */
	other = sign("198.51.100.9:80", "cpe-a", key_a, NOW, 1);
	assert_int_equal(verify(&other), AUTH_REPLAY);
	/* a new nonce is a new opening */
	other = sign_a(NOW, 2);
	assert_int_equal(verify(&other), AUTH_OK);
	assert_int_equal(auth_replay_count(cache), 3);
}

/* Entries leave when out of the window; a clock stepped back cannot
 * bring their nonces back. */
static void test_expiry_and_clock_back(void **state)
{
	struct msg m = sign_a(NOW, 1), later = sign_a(NOW + 100, 2);

	assert_int_equal(verify(&m), AUTH_OK);
	assert_int_equal(auth_replay_count(cache), 1);
	assert_int_equal(verify_at(&later, NOW + 100), AUTH_OK);
	assert_int_equal(auth_replay_count(cache), 1); /* m's entry expired */
	assert_int_equal(verify_at(&m, NOW), AUTH_HORIZON);
	/* a new opening stamped after the horizon is fine */
	m = sign_a(NOW + 1, 3);
	assert_int_equal(verify_at(&m, NOW + 1), AUTH_OK);
}

/* Entries live as long as the longest window seen, so that a window
 * shrunk and raised again by reloads refuses no valid opening. */
static void test_window_shrinks_and_grows(void **state)
{
	struct msg m = sign_a(NOW, 1), tick = sign_a(NOW + 40, 2),
		   late = sign_a(NOW - 10, 3);

	policy.window_ms = 60 * 1000;
	assert_int_equal(verify(&m), AUTH_OK);
	policy.window_ms = 30 * 1000;
	assert_int_equal(verify_at(&tick, NOW + 40), AUTH_OK);
	policy.window_ms = 60 * 1000;
	assert_int_equal(verify_at(&m, NOW + 40), AUTH_REPLAY);
	assert_int_equal(verify_at(&late, NOW + 40), AUTH_OK);
	policy.window_ms = WINDOW * 1000;
}

static enum auth_status verify_in(struct auth_replay *r, const struct msg *m,
				  int64_t now)
{
	char who[AUTH_ID_STRLEN];

	return auth_verify(&policy, r, m->b, m->len, now, who, sizeof(who));
}

/* Full: the oldest is forgotten, the horizon rises to its timestamp. */
static void test_cache_bound(void **state)
{
	struct auth_replay *r = auth_replay_new(4);
	struct msg m[8];

	assert_non_null(r);
	for (unsigned i = 0; i < 4; i++) {
		m[i] = sign_a(NOW - 4 + i, i); /* NOW-4 .. NOW-1 */
		assert_int_equal(verify_in(r, &m[i], NOW), AUTH_OK);
	}
	assert_int_equal(auth_replay_count(r), 4);
	m[4] = sign_a(NOW, 4);
	assert_int_equal(verify_in(r, &m[4], NOW), AUTH_OK);
	assert_int_equal(auth_replay_count(r), 4); /* NOW-4 forgotten */
	/* the forgotten one cannot come back */
	assert_int_equal(verify_in(r, &m[0], NOW), AUTH_HORIZON);
	/* nor anything else stamped at the horizon */
	m[5] = sign_a(NOW - 4, 5);
	assert_int_equal(verify_in(r, &m[5], NOW), AUTH_HORIZON);
	/* full, and every entry is at least as new: refused, nothing lost */
	m[6] = sign_a(NOW - 3, 6);
	assert_int_equal(verify_in(r, &m[6], NOW), AUTH_HORIZON);
	for (unsigned i = 1; i < 5; i++)
		assert_int_equal(verify_in(r, &m[i], NOW), AUTH_REPLAY);
	m[7] = sign_a(NOW + 1, 7);
	assert_int_equal(verify_in(r, &m[7], NOW), AUTH_OK);
	assert_int_equal(verify_in(r, &m[1], NOW), AUTH_HORIZON);
	assert_int_equal(auth_replay_count(r), 4);
	auth_replay_free(r);
}

/* Many entries through a small cache: the heap and the hash chains stay
 * consistent (every remembered nonce is a replay, the count is bounded). */
static void test_cache_churn(void **state)
{
	struct auth_replay *r = auth_replay_new(100);
	enum { N = 3000 };
	static struct msg m[N];

	for (unsigned i = 0; i < N; i++) {
		/* timestamps wander: mostly rising, some behind */
		uint64_t ts = NOW + i / 50 - (i % 7 == 0 ? 3 : 0);
		m[i] = sign_a(ts, 1000 + i);
		enum auth_status st =
		    verify_in(r, &m[i], NOW + (int64_t)(i / 50));
		assert_true(st == AUTH_OK || st == AUTH_HORIZON);
		assert_true(auth_replay_count(r) <= 100);
	}
	for (unsigned i = 0; i < N; i++) {
		enum auth_status st = verify_in(r, &m[i], NOW + N / 50);
		assert_true(st == AUTH_REPLAY || st == AUTH_HORIZON ||
			    st == AUTH_STALE);
	}
	auth_replay_free(r);
}

static void test_cache_new_limits(void **state)
{
	struct msg m = sign_a(NOW, 1);

	assert_null(auth_replay_new(0));
	assert_null(auth_replay_new(AUTH_REPLAY_MAX + 1));
	auth_replay_free(NULL);
	assert_int_equal(verify_in(NULL, &m, NOW), AUTH_NO_CACHE);
	struct auth_replay *r = auth_replay_new(1);
	assert_int_equal(verify_in(r, &m, NOW), AUTH_OK);
	assert_int_equal(verify_in(r, &m, NOW), AUTH_REPLAY);
	auth_replay_free(r);
}

struct race {
	const struct msg *shared_msg;
	unsigned first;
	int ok_shared, ok_own;
};

static void *racer(void *arg)
{
	struct race *r = arg;

	for (unsigned i = 0; i < 200; i++) {
		struct msg own = sign_a(NOW, r->first + i);
		char who[AUTH_ID_STRLEN];
		if (auth_verify(&policy, cache, r->shared_msg->b,
				r->shared_msg->len, NOW, who,
				sizeof(who)) == AUTH_OK)
			r->ok_shared++;
		if (auth_verify(&policy, cache, own.b, own.len, NOW, who,
				sizeof(who)) == AUTH_OK)
			r->ok_own++;
	}
	return NULL;
}

/* Workers share one cache: one opening sent to all of them at once gets
 * through exactly once. */
static void test_threads(void **state)
{
	enum { T = 8 };
	struct msg shared_msg = sign_a(NOW, 0xffff);
	struct race r[T];
	pthread_t th[T];
	int ok = 0;

	auth_replay_free(cache);
	cache = auth_replay_new(T * 200 + 1);
	for (int i = 0; i < T; i++) {
		r[i] = (struct race){.shared_msg = &shared_msg,
				     .first = 1 + (unsigned)i * 1000};
		assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		ok += r[i].ok_shared;
		assert_int_equal(r[i].ok_own, 200);
	}
	assert_int_equal(ok, 1);
	assert_int_equal(auth_replay_count(cache), T * 200 + 1);
}

static void test_opening_ok(void **state)
{
	struct convert_builder b;
	struct in6_addr a = IN6ADDR_LOOPBACK_INIT;
	char why[512];
	size_t n;

	convert_begin(&b);
	assert_int_equal(convert_put_connect(&b, &a, 80, NULL, 0), 0);
	n = convert_finish(&b);
	policy.required = false;
	assert_true(auth_opening_ok(&policy, b.buf, n, why, sizeof(why)));
	policy.required = true;
	assert_false(auth_opening_ok(&policy, b.buf, n, why, sizeof(why)));
	assert_non_null(strstr(why, "auth.required"));

	assert_int_equal(auth_put(&b, "cpe-a", key_a, (uint64_t)time(NULL)), 0);
	n = convert_finish(&b);
	assert_true(auth_opening_ok(&policy, b.buf, n, why, sizeof(why)));
	assert_false(auth_opening_ok(&policy, b.buf, n, why, sizeof(why)));
	assert_string_equal(why, "Auth of \"cpe-a\": replayed nonce");
	/* a bad Auth is refused even when not required */
	policy.required = false;
	b.buf[n - 1] ^= 1; /* padding */
	assert_false(auth_opening_ok(&policy, b.buf, n, why, sizeof(why)));
	assert_string_equal(why, "Auth: malformed");
	b.buf[n - 1] ^= 1;
	b.buf[n - 4] ^= 1; /* the MAC's last byte */
	assert_false(auth_opening_ok(&policy, b.buf, n, why, sizeof(why)));
	assert_string_equal(why, "Auth of \"cpe-a\": bad MAC");
}

static void test_status_str(void **state)
{
	for (int s = AUTH_OK; s <= AUTH_NO_CACHE; s++) {
		assert_non_null(auth_status_str((enum auth_status)s));
		for (int t = AUTH_OK; t < s; t++)
			assert_string_not_equal(
			    auth_status_str((enum auth_status)s),
			    auth_status_str((enum auth_status)t));
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_key_decode),
	    T(test_key_decode_bad),
	    T(test_id_ok),
	    T(test_secret_ok),
	    T(test_wire_layout),
	    T(test_mac_input),
	    T(test_every_id_length),
	    T(test_put_refuses),
	    T(test_nonces_differ),
	    T(test_good),
	    T(test_absent),
	    T(test_wrong_key),
	    T(test_unknown_id),
	    T(test_tampered_connect),
	    T(test_tampered_fields),
	    T(test_every_bit),
	    T(test_tlv_added_or_removed),
	    T(test_malformed),
	    T(test_window_boundaries),
	    T(test_replay),
	    T(test_expiry_and_clock_back),
	    T(test_window_shrinks_and_grows),
	    T(test_cache_bound),
	    T(test_cache_churn),
	    T(test_cache_new_limits),
	    T(test_threads),
	    T(test_opening_ok),
	    T(test_status_str),
	};

	if (auth_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
