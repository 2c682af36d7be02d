/* mptun's Auth TLV (Convert type 0xC0, private use): a CPE proves with its
 * pre-shared key that it built this Convert opening, now.
 *
 * Wire format, network byte order. The TLV rides in the client's Convert
 * message with the Connect TLV (CPE -> concentrator only, never in
 * answers); the CPE puts it last, the verifier takes any order:
 *
 *   offset  size  field
 *   0       1     type = 0xC0
 *   1       1     length, in 32-bit words, type and length included
 *   2       1     version = 1 (anything else: refused as malformed)
 *   3       1     id_len, 1..64
 *   4       n     id: the CPE's name, id_len bytes (the configuration
 *                 allows printable ASCII without spaces: 0x21..0x7e)
 *   4+n     8     timestamp: Unix time in seconds, unsigned
 *   12+n    16    nonce: random bytes (randombytes_buf), new per opening
 *   28+n    32    MAC
 *   60+n    0..3  zero padding to a multiple of 4 bytes
 *
 * So the TLV is 60 + id_len bytes rounded up to 4: from 64 bytes (16
 * words) to 124 (31 words); 68 for an id of 8 bytes such as "cpe-0001".
 * The length byte must be exactly that and the padding zero, or the Auth
 * is malformed.
 *
 * MAC = HMAC-SHA-256(key, "mptun auth v1" (13 ASCII bytes, no NUL)
 *                         || bytes 2 to 27+n of this TLV (version,
 *                            id_len, id, timestamp, nonce)
 *                         || every other TLV of the message, in the order
 *                            sent, each whole: type, length, value and
 *                            padding exactly as on the wire)
 * The Convert header is not covered (its total length depends on this TLV,
 * and nothing else in it varies). Covering every other TLV rather than the
 * Connect TLV alone binds the MAC to the destination (a captured Auth
 * cannot be moved to another Connect) and to whatever else the message
 * asks for (a Cookie, the Source TLV 0xC1), so no TLV can be added to,
 * removed from or changed in a signed opening. The builder appends Auth
 * last, after everything it covers.
 *
 * Why HMAC-SHA-256 (libsodium crypto_auth_hmacsha256) and not keyed
 * BLAKE2b: the MAC runs once per connection over about 100 bytes, so speed
 * does not matter, and HMAC-SHA-256 is what any other implementation (an
 * operator's script, a hardware CPE with only OpenSSL or mbed TLS, the
 * netns test's Python) can reproduce with its standard library.
 *
 * Keys are 32 random bytes, one per CPE id, written in the configuration
 * as 64 hex digits (`openssl rand -hex 32`) or as 44 characters of
 * standard base64 with its '=' (`openssl rand -base64 32`), inline (key)
 * or in a file of their own (key_file).
 *
 * The concentrator accepts an opening whose MAC verifies with the key of
 * its id, whose timestamp is within auth.window of its clock either way,
 * and whose (id, nonce) it has not accepted before (the replay cache
 * below).
 *
 * What it does not do: it authenticates the opening, not the stream (the
 * bytes relayed after it are neither authenticated nor encrypted: use TLS
 * end to end), and an on-path attacker who sees an opening and reaches the
 * concentrator first from an address in clients.allow can use it once (the
 * CPE's own copy is then refused as a replay). Timestamps need clocks
 * within auth.window of each other (NTP on the CPEs). */
#ifndef MPTUN_AUTH_H
#define MPTUN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfgparse.h"
#include "convert.h"

#define AUTH_VERSION   1
#define AUTH_ID_MAX    64
#define AUTH_KEY_LEN   32
#define AUTH_NONCE_LEN 16
#define AUTH_MAC_LEN   32
/* Value bytes (after type and length) before the MAC: version, id_len, id,
 * timestamp, nonce. */
#define AUTH_SIGNED_LEN(n) (2 + (n) + 8 + AUTH_NONCE_LEN)
#define AUTH_TLV_MAX	   124 /* id of 64 bytes: 60 + 64 */
/* A printable form of any id (\xNN escapes), NUL included. */
#define AUTH_ID_STRLEN	(AUTH_ID_MAX * 4 + 1)
#define AUTH_REPLAY_MAX (1u << 22) /* about 40 bytes each */

/* sodium_init(): once per process, before threads start. 0 or -EIO. */
int auth_init(void);

/* Configuration. A key is read from key (text) or key_file (a path); from
 * says which, so that giving both, or neither, can be refused. */
#define AUTH_FROM_TEXT 1u
#define AUTH_FROM_FILE 2u
struct auth_secret {
	uint8_t bytes[AUTH_KEY_LEN];
	unsigned from; /* AUTH_FROM_* bits seen */
};

struct auth_key {
	char *id; /* 1..AUTH_ID_MAX bytes of 0x21..0x7e */
	struct auth_secret key;
};

/* The concentrator's auth section. */
struct auth_policy {
	bool required;	    /* Convert with Connect must carry a valid Auth */
	uint32_t window_ms; /* accepted |now - timestamp|, whole seconds */
	uint32_t replay_cache; /* entries of the replay cache (at first use),
				  1..AUTH_REPLAY_MAX */
	struct auth_key *keys; /* sorted by id: auth_policy_sort() */
	size_t n_keys;
};

/* cfg_key.custom callbacks (CFG_CUSTOM) into a struct auth_secret: the
 * key as text, or the path of a file holding it (a regular file of at most
 * 256 bytes, not readable by others; white space around the key is
 * ignored). They refuse a second source for the same secret, and never
 * quote a rejected key in their errors. */
bool auth_cfg_key(struct cfg_walk *w, yaml_node_t *node, void *secret);
bool auth_cfg_key_file(struct cfg_walk *w, yaml_node_t *node, void *secret);
/* The keys of one struct auth_key (id, key | key_file), shared by both
 * daemons' configuration schemas. */
extern const struct cfg_key auth_key_schema[];
/* 32 bytes as 64 hex digits or 44 base64 characters; all zeros refused. */
bool auth_key_decode(const char *s, uint8_t key[AUTH_KEY_LEN], char *why,
		     size_t whylen);
/* 1..64 bytes of 0x21..0x7e. */
bool auth_id_ok(const char *id, char *why, size_t whylen);
/* A secret needs exactly one source. */
bool auth_secret_ok(const struct auth_secret *s, char *why, size_t whylen);
/* Sort keys by id for the lookup in auth_verify. */
void auth_policy_sort(struct auth_policy *p);
/* Overwrite every key with zeros (before the config is freed). */
void auth_policy_wipe(struct auth_policy *p);
void auth_secret_wipe(struct auth_secret *s);

/* Sign: append the Auth TLV to b, covering every TLV already in it (so put
 * it last). now is Unix time; the nonce comes from randombytes_buf.
 * Returns 0, -EINVAL (bad id, an Auth already there) or -ENOSPC. */
int auth_put(struct convert_builder *b, const char *id,
	     const uint8_t key[AUTH_KEY_LEN], uint64_t now);
/* The same with a given nonce, for tests. */
int auth_put_nonce(struct convert_builder *b, const char *id,
		   const uint8_t key[AUTH_KEY_LEN], uint64_t now,
		   const uint8_t nonce[AUTH_NONCE_LEN]);

/* The replay cache: which (id, nonce) pairs were accepted, for as long as
 * their timestamps are within the window. It holds at most capacity
 * entries. When it is full, the entry with the oldest timestamp is
 * forgotten and the cache's horizon rises to that timestamp: from then on
 * openings stamped at or before the horizon are refused (AUTH_HORIZON), so
 * a forgotten nonce can never be replayed; the window shrinks instead of
 * the protection. Entries leave the same way when they fall out of the
 * window, which also keeps a clock stepped back from reopening it.
 * Thread-safe (one mutex). */
struct auth_replay;

struct auth_replay *auth_replay_new(uint32_t capacity); /* NULL: no memory */
void auth_replay_free(struct auth_replay *r);		/* NULL ok */
/* The process's one cache, created at first use with capacity (a later
 * capacity is ignored: a restart applies it). It outlives configurations,
 * so that a reload forgets no nonce, and all workers share it, since any
 * connection can land on any worker. NULL when out of memory. */
struct auth_replay *auth_replay_shared(uint32_t capacity);
size_t auth_replay_count(struct auth_replay *r);

enum auth_status {
	AUTH_OK,
	AUTH_ABSENT,	 /* no Auth TLV */
	AUTH_MALFORMED,	 /* version, lengths or padding */
	AUTH_UNKNOWN_ID, /* no key for this id */
	AUTH_BAD_MAC,
	AUTH_STALE,    /* timestamp before now - window */
	AUTH_FUTURE,   /* timestamp after now + window */
	AUTH_REPLAY,   /* (id, nonce) seen within the window */
	AUTH_HORIZON,  /* stamped at or before the replay cache's horizon */
	AUTH_NO_CACHE, /* no replay cache (out of memory) */
};

const char *auth_status_str(enum auth_status st);

/* Verify the Auth TLV of msg, the len bytes of a Convert message that
 * convert_decode accepted, against the keys of p (sorted) at Unix time now,
 * and record its nonce in r on success. who (wholen >= AUTH_ID_STRLEN to
 * hold any) receives the claimed id, escaped, or "" when there is none. */
enum auth_status auth_verify(const struct auth_policy *p, struct auth_replay *r,
			     const uint8_t *msg, size_t len, int64_t now,
			     char *who, size_t wholen);

/* The concentrator's decision for a Convert request (msg, len as above):
 * with an Auth TLV it must verify; without one it passes unless
 * p->required. Uses the shared replay cache and the wall clock. false:
 * answer Not Authorized; why says why, for the log. */
bool auth_opening_ok(const struct auth_policy *p, const uint8_t *msg,
		     size_t len, char *why, size_t whylen);
/* The same; id (idlen >= AUTH_ID_STRLEN) receives the id the Auth TLV
 * proved, as auth_verify renders it, or "" when there was none. */
bool auth_opening_id(const struct auth_policy *p, const uint8_t *msg,
		     size_t len, char *id, size_t idlen, char *why,
		     size_t whylen);

#endif
