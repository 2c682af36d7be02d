/* libFuzzer target for the concentrator's Auth path (lib/auth.c): bytes
 * -> convert_decode -> auth_verify, against three keys at a fixed time,
 * with a small replay cache of its own per input.
 *
 * Beyond "no crash", it checks:
 * - an input verifies only if it decodes and carries an Auth TLV, and the
 *   same bytes are a replay the second time;
 * - a verified opening with one byte changed never gets past the MAC (it
 *   would be AUTH_OK or AUTH_REPLAY only with a forged MAC);
 * - any message that decodes, signed as sent (its TLVs, then an Auth with
 *   the input's timestamp and nonce), decodes again and verifies once:
 *   signing and verifying agree on every TLV shape the decoder accepts.
 *
 * The seeds in corpus/auth hold valid MACs for these keys at FUZZ_NOW
 * (ok_*), each way of failing (bad_*), and messages without Auth for the
 * signing check (sign_*). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "convert.h"

#define FUZZ_NOW 1700000000
#define WINDOW_S 30

static void check(int ok)
{
	if (!ok)
		abort();
}

static char id64[AUTH_ID_MAX + 1];
static struct auth_key keys[3];
static struct auth_policy policy;

/* cpe-0001: bytes 0x00..0x1f; cpe-fuzz: 0x40..0x5f; 64 'x': 0x80..0x9f. */
static void init(void)
{
	memset(id64, 'x', AUTH_ID_MAX);
	keys[0].id = "cpe-0001";
	keys[1].id = "cpe-fuzz";
	keys[2].id = id64;
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < AUTH_KEY_LEN; i++)
			keys[k].key.bytes[i] = (uint8_t)(0x40 * k + i);
	policy = (struct auth_policy){
	    .window_ms = WINDOW_S * 1000, .keys = keys, .n_keys = 3};
	auth_policy_sort(&policy);
	check(auth_init() == 0);
}

/* An enum auth_status, or -1 when msg does not decode. */
static int verify(struct auth_replay *r, const uint8_t *msg, size_t len,
		  size_t *used)
{
	static struct convert_msg m;
	struct convert_fault f;
	char who[AUTH_ID_STRLEN];
	enum auth_status st;

	if (convert_decode(msg, len, &m, used, &f) != CONVERT_OK)
		return -1;
	st = auth_verify(&policy, r, msg, *used, FUZZ_NOW, who, sizeof(who));
	check(strlen(who) < sizeof(who));
	check((st == AUTH_ABSENT) == !(m.present & CONVERT_HAS_AUTH));
	return (int)st;
}

static void check_mutations(struct auth_replay *r, const uint8_t *msg,
			    size_t used)
{
	static uint8_t copy[CONVERT_MAX_LEN];
	size_t dummy;

	for (size_t k = 0; k < 8; k++) {
		size_t i = (msg[(k * 37) % used] + k * 131) % used;
		memcpy(copy, msg, used);
		copy[i] ^= (uint8_t)(1 + k);
		int st = verify(r, copy, used, &dummy);
		check(st != AUTH_OK && st != AUTH_REPLAY);
	}
}

/* The decoded message as sent, plus an Auth of cpe-0001 whose timestamp
 * (within the window) and nonce come from the input. */
static void check_signing(const uint8_t *data, size_t size, size_t used)
{
	static struct convert_builder b;
	uint8_t nonce[AUTH_NONCE_LEN] = {0};
	struct auth_replay *r;
	size_t n, again;

	memcpy(nonce, data, size < sizeof(nonce) ? size : sizeof(nonce));
	memcpy(b.buf, data, used);
	b.len = used;
	if (auth_put_nonce(&b, "cpe-0001", keys[0].key.bytes,
			   FUZZ_NOW - WINDOW_S +
			       data[size - 1] % (2 * WINDOW_S + 1),
			   nonce) < 0)
		return; /* no room left */
	n = convert_finish(&b);
	check((r = auth_replay_new(4)) != NULL);
	check(verify(r, b.buf, n, &again) == AUTH_OK);
	check(again == n);
	check(verify(r, b.buf, n, &again) == AUTH_REPLAY);
	auth_replay_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct auth_replay *r;
	size_t used = 0;
	int st;

	if (!ready) {
		init();
		ready = 1;
	}
	check((r = auth_replay_new(8)) != NULL);
	st = verify(r, data, size, &used);
	if (st == AUTH_OK) {
		check(verify(r, data, used, &used) == AUTH_REPLAY);
		check_mutations(r, data, used);
	} else if (st == AUTH_ABSENT) {
		check_signing(data, size, used);
	}
	auth_replay_free(r);
	return 0;
}
