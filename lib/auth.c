/* mptun's Auth TLV: keys, signing, verification, the replay cache. The
 * wire format and the choices behind it are in auth.h. */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <stddef.h>
#include <unistd.h>

#define DOMAIN	     "mptun auth v1"
#define HEX_LEN	     (AUTH_KEY_LEN * 2)
#define B64_LEN	     44 /* 32 bytes, one '=' */
#define KEY_FILE_MAX 256
#define TAG_LEN	     16
#define NIL	     UINT32_MAX

_Static_assert(crypto_auth_hmacsha256_KEYBYTES == AUTH_KEY_LEN,
	       "HMAC-SHA-256 keys are 32 bytes");
_Static_assert(crypto_auth_hmacsha256_BYTES == AUTH_MAC_LEN,
	       "HMAC-SHA-256 tags are 32 bytes");
_Static_assert(2 + AUTH_SIGNED_LEN(AUTH_ID_MAX) + AUTH_MAC_LEN == AUTH_TLV_MAX,
	       "AUTH_TLV_MAX is the TLV of the longest id");

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

/* Keys and ids. */

static bool key_hex(const char *s, size_t n, uint8_t *out)
{
	size_t bin_len;
	const char *end;

	return n == HEX_LEN &&
	       !sodium_hex2bin(out, AUTH_KEY_LEN, s, n, NULL, &bin_len, &end) &&
	       bin_len == AUTH_KEY_LEN && end == s + n;
}

/* libsodium refuses non-zero bits after the last byte, so each key has
 * exactly one base64 form. */
static bool key_base64(const char *s, size_t n, uint8_t *out)
{
	size_t bin_len;
	const char *end;

	return n == B64_LEN &&
	       !sodium_base642bin(out, AUTH_KEY_LEN, s, n, NULL, &bin_len, &end,
				  sodium_base64_VARIANT_ORIGINAL) &&
	       bin_len == AUTH_KEY_LEN && end == s + n;
}

bool auth_key_decode(const char *s, uint8_t key[AUTH_KEY_LEN], char *why,
		     size_t whylen)
{
	uint8_t tmp[AUTH_KEY_LEN];
	size_t n = strlen(s);
	bool ok = key_hex(s, n, tmp) || key_base64(s, n, tmp);

	if (!ok) {
		snprintf(
		    why, whylen,
		    "expected a 32-byte key as 64 hex digits or 44 base64 "
		    "characters (openssl rand -hex 32), got %zu characters",
		    n);
	} else if (sodium_is_zero(tmp, sizeof(tmp))) {
		snprintf(why, whylen, "a key of zeros is no secret");
		ok = false;
	} else {
		memcpy(key, tmp, AUTH_KEY_LEN);
	}
	sodium_memzero(tmp, sizeof(tmp));
	return ok;
}

bool auth_id_ok(const char *id, char *why, size_t whylen)
{
	size_t n = strlen(id);

	if (n < 1 || n > AUTH_ID_MAX) {
		snprintf(why, whylen, "an id has 1 to %d bytes", AUTH_ID_MAX);
		return false;
	}
	for (; *id; id++) {
		if (*id <= 0x20 || *id >= 0x7f) {
			snprintf(why, whylen,
				 "an id is printable ASCII without spaces");
			return false;
		}
	}
	return true;
}

bool auth_secret_ok(const struct auth_secret *s, char *why, size_t whylen)
{
	if (s->from == AUTH_FROM_TEXT || s->from == AUTH_FROM_FILE)
		return true;
	snprintf(why, whylen,
		 s->from ? "key and key_file exclude each other"
			 : "one of key or key_file is required");
	return false;
}

static bool read_all(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n;

	*len = 0;
	while (*len < cap && (n = read(fd, buf + *len, cap - *len)) != 0) {
		if (n < 0 && errno != EINTR)
			return false;
		if (n > 0)
			*len += (size_t)n;
	}
	return true;
}

/* What a key file holds: the key alone, white space around it allowed. */
static bool key_text_decode(char *text, size_t len, uint8_t *key, char *why,
			    size_t whylen)
{
	char *s = text, *e = text + len;

	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	if (memchr(s, '\0', (size_t)(e - s))) {
		snprintf(why, whylen, "not a key: a NUL byte");
		return false;
	}
	return auth_key_decode(s, key, why, whylen);
}

/* O_NONBLOCK so that a FIFO cannot hang a reload; it is refused anyway. */
static bool read_key_file(const char *path, uint8_t *key, char *why,
			  size_t whylen)
{
	char buf[KEY_FILE_MAX + 1], reason[160] = "";
	struct stat st;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	bool ok = false;

	if (fd < 0 || fstat(fd, &st) < 0)
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(reason, sizeof(reason), "not a regular file");
	else if (st.st_mode & (S_IROTH | S_IWOTH))
		snprintf(reason, sizeof(reason),
			 "readable or writable by every user: chmod o-rw");
	else if (!read_all(fd, buf, sizeof(buf), &len))
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
	else if (len > KEY_FILE_MAX)
		snprintf(reason, sizeof(reason), "more than %d bytes",
			 KEY_FILE_MAX);
	else
		ok = key_text_decode(buf, len, key, reason, sizeof(reason));
	if (fd >= 0)
		close(fd);
	sodium_memzero(buf, sizeof(buf));
	if (!ok)
		snprintf(why, whylen, "%s: %s", path, reason);
	return ok;
}

bool auth_cfg_key(struct cfg_walk *w, yaml_node_t *node, void *secret)
{
	struct auth_secret *s = secret;
	const char *v = cfg_scalar(w, node);
	char why[192];

	if (!v)
		return false;
	if (s->from)
		return cfg_error(w, node,
				 "key and key_file exclude each other");
	if (!auth_key_decode(v, s->bytes, why, sizeof(why)))
		return cfg_error(w, node, "%s", why);
	s->from = AUTH_FROM_TEXT;
	return true;
}

bool auth_cfg_key_file(struct cfg_walk *w, yaml_node_t *node, void *secret)
{
	struct auth_secret *s = secret;
	const char *v = cfg_scalar(w, node);
	char why[PATH_MAX + 256];

	if (!v)
		return false;
	if (s->from)
		return cfg_error(w, node,
				 "key and key_file exclude each other");
	if (!*v)
		return cfg_error(w, node, "an empty path");
	if (!read_key_file(v, s->bytes, why, sizeof(why)))
		return cfg_error(w, node, "%s", why);
	s->from = AUTH_FROM_FILE;
	return true;
}

static int key_order(const void *a, const void *b)
{
	return strcmp(((const struct auth_key *)a)->id,
		      ((const struct auth_key *)b)->id);
}

void auth_policy_sort(struct auth_policy *p)
{
	if (p->n_keys > 1)
		qsort(p->keys, p->n_keys, sizeof(p->keys[0]), key_order);
}

void auth_secret_wipe(struct auth_secret *s)
{
	sodium_memzero(s, sizeof(*s));
}

void auth_policy_wipe(struct auth_policy *p)
{
	for (size_t i = 0; p->keys && i < p->n_keys; i++)
		auth_secret_wipe(&p->keys[i].key);
}

/* Ids on the wire are bytes: they compare as strcmp orders the keys. */
static int id_cmp(const uint8_t *id, size_t n, const char *key_id)
{
	size_t kn = strlen(key_id);
	int r = memcmp(id, key_id, n < kn ? n : kn);

	return r ? r : (n > kn) - (n < kn);
}

static const struct auth_key *key_find(const struct auth_policy *p,
				       const uint8_t *id, size_t n)
{
	size_t lo = 0, hi = p->n_keys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = id_cmp(id, n, p->keys[mid].id);
		if (!r)
			return &p->keys[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The MAC. */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* head: version .. nonce of the Auth value; then every TLV of msg but
 * the Auth TLV, as on the wire. */
static void mac_compute(const uint8_t *key, const uint8_t *head,
			size_t head_len, const uint8_t *msg, size_t len,
			uint8_t *out)
{
	crypto_auth_hmacsha256_state st;
	size_t off = CONVERT_HDR_LEN, tlv_len;
	const uint8_t *tlv;

	crypto_auth_hmacsha256_init(&st, key, AUTH_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)DOMAIN,
				      sizeof(DOMAIN) - 1);
	crypto_auth_hmacsha256_update(&st, head, head_len);
	while (convert_tlv_next(msg, len, &off, &tlv, &tlv_len))
		if (tlv[0] != CONVERT_TLV_AUTH)
			crypto_auth_hmacsha256_update(&st, tlv, tlv_len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int auth_put_nonce(struct convert_builder *b, const char *id,
		   const uint8_t key[AUTH_KEY_LEN], uint64_t now,
		   const uint8_t nonce[AUTH_NONCE_LEN])
{
	size_t n = id ? strlen(id) : 0;
	uint8_t v[AUTH_TLV_MAX - 2];

	if (!n || n > AUTH_ID_MAX || !key || !nonce || b->len < CONVERT_HDR_LEN)
		return -EINVAL;
	v[0] = AUTH_VERSION;
	v[1] = (uint8_t)n;
	memcpy(v + 2, id, n);
	put_be64(v + 2 + n, now);
	memcpy(v + 10 + n, nonce, AUTH_NONCE_LEN);
	mac_compute(key, v, AUTH_SIGNED_LEN(n), b->buf, b->len,
		    v + AUTH_SIGNED_LEN(n));
	return convert_put_auth(b, v, AUTH_SIGNED_LEN(n) + AUTH_MAC_LEN);
}

int auth_put(struct convert_builder *b, const char *id,
	     const uint8_t key[AUTH_KEY_LEN], uint64_t now)
{
	uint8_t nonce[AUTH_NONCE_LEN];

	randombytes_buf(nonce, sizeof(nonce));
	return auth_put_nonce(b, id, key, now, nonce);
}

/* The replay cache: a hash of 16-byte tags (keyed BLAKE2b of id and nonce,
 * so chains stay short whatever ids and nonces arrive) over a fixed pool
 * of entries, and a min-heap by timestamp to find the one to forget. */

struct replay_entry {
	uint8_t tag[TAG_LEN];
	int64_t ts;
	uint32_t next; /* hash chain, or the free list */
};

struct auth_replay {
	pthread_mutex_t lock;
	uint8_t hash_key[crypto_generichash_KEYBYTES];
	uint32_t cap, n, mask, free;
	uint32_t *buckets;
	uint32_t *heap; /* entry indices, the oldest timestamp first */
	struct replay_entry *e;
	int64_t horizon; /* every forgotten entry had ts <= horizon */
	uint32_t hold_s; /* the longest window seen: entries live that long */
};

struct auth_replay *auth_replay_new(uint32_t capacity)
{
	struct auth_replay *r;
	uint32_t nb = 1;

	if (!capacity || capacity > AUTH_REPLAY_MAX)
		return NULL;
	while (nb < capacity)
		nb <<= 1;
	if (!(r = calloc(1, sizeof(*r))))
		return NULL;
	r->buckets = malloc(nb * sizeof(*r->buckets));
	r->heap = malloc(capacity * sizeof(*r->heap));
	r->e = malloc(capacity * sizeof(*r->e));
	if (!r->buckets || !r->heap || !r->e ||
	    pthread_mutex_init(&r->lock, NULL))
		goto err_free;
	memset(r->buckets, 0xff, nb * sizeof(*r->buckets)); /* NIL */
	for (uint32_t i = 0; i < capacity; i++)
		r->e[i].next = i + 1 < capacity ? i + 1 : NIL;
	r->cap = capacity;
	r->mask = nb - 1;
	r->horizon = INT64_MIN;
	randombytes_buf(r->hash_key, sizeof(r->hash_key));
	return r;
err_free:
	free(r->e);
	free(r->heap);
	free(r->buckets);
	free(r);
	return NULL;
}

void auth_replay_free(struct auth_replay *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->e);
	free(r->heap);
	free(r->buckets);
	free(r);
}

size_t auth_replay_count(struct auth_replay *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct auth_replay *shared;

struct auth_replay *auth_replay_shared(uint32_t capacity)
{
	struct auth_replay *r = __atomic_load_n(&shared, __ATOMIC_ACQUIRE);

	if (r)
		return r;
	pthread_mutex_lock(&shared_lock);
	if (!shared)
		__atomic_store_n(&shared, auth_replay_new(capacity),
				 __ATOMIC_RELEASE);
	r = shared;
	pthread_mutex_unlock(&shared_lock);
	return r;
}

static void replay_tag(const struct auth_replay *r, const uint8_t *id,
		       size_t id_len, const uint8_t *nonce, uint8_t *tag)
{
	crypto_generichash_state st;
	uint8_t n = (uint8_t)id_len;

	crypto_generichash_init(&st, r->hash_key, sizeof(r->hash_key), TAG_LEN);
	crypto_generichash_update(&st, &n, 1);
	crypto_generichash_update(&st, id, id_len);
	crypto_generichash_update(&st, nonce, AUTH_NONCE_LEN);
	crypto_generichash_final(&st, tag, TAG_LEN);
}

static uint32_t bucket_of(const struct auth_replay *r, const uint8_t *tag)
{
	uint32_t h;

	memcpy(&h, tag, sizeof(h));
	return h & r->mask;
}

static bool older(const struct auth_replay *r, uint32_t a, uint32_t b)
{
	return r->e[r->heap[a]].ts < r->e[r->heap[b]].ts;
}

static void heap_swap(struct auth_replay *r, uint32_t a, uint32_t b)
{
	uint32_t t = r->heap[a];

	r->heap[a] = r->heap[b];
	r->heap[b] = t;
}

static void sift_up(struct auth_replay *r, uint32_t i)
{
	while (i && older(r, i, (i - 1) / 2)) {
		heap_swap(r, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct auth_replay *r, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		if (l < r->n && older(r, l, m))
			m = l;
		if (l + 1 < r->n && older(r, l + 1, m))
			m = l + 1;
		if (m == i)
			return;
		heap_swap(r, i, m);
		i = m;
	}
}

/* Drop the oldest entry; the horizon keeps its timestamp. */
static void forget_oldest(struct auth_replay *r)
{
	uint32_t idx = r->heap[0];
	struct replay_entry *x = &r->e[idx];
	uint32_t *p = &r->buckets[bucket_of(r, x->tag)];

	if (x->ts > r->horizon)
		r->horizon = x->ts;
	while (*p != idx)
		p = &r->e[*p].next;
	*p = x->next;
	r->heap[0] = r->heap[--r->n];
	sift_down(r, 0);
	x->next = r->free;
	r->free = idx;
}

static bool seen(const struct auth_replay *r, const uint8_t *tag)
{
	for (uint32_t i = r->buckets[bucket_of(r, tag)]; i != NIL;
	     i = r->e[i].next)
		if (!memcmp(r->e[i].tag, tag, TAG_LEN))
			return true;
	return false;
}

static void remember(struct auth_replay *r, const uint8_t *tag, int64_t ts)
{
	uint32_t idx = r->free, b = bucket_of(r, tag);
	struct replay_entry *x = &r->e[idx];

	r->free = x->next;
	memcpy(x->tag, tag, TAG_LEN);
	x->ts = ts;
	x->next = r->buckets[b];
	r->buckets[b] = idx;
	r->heap[r->n] = idx;
	sift_up(r, r->n);
	r->n++;
}

/* ts was checked against the window. A full cache whose every entry is at
 * least as new as ts refuses it rather than forget a newer nonce. */
static enum auth_status replay_check(struct auth_replay *r, const uint8_t *id,
				     size_t id_len, const uint8_t *nonce,
				     int64_t ts, int64_t now, uint32_t window_s)
{
	enum auth_status st = AUTH_OK;
	uint8_t tag[TAG_LEN];

	replay_tag(r, id, id_len, nonce, tag);
	pthread_mutex_lock(&r->lock);
	if (window_s > r->hold_s)
		r->hold_s = window_s;
	while (r->n && r->e[r->heap[0]].ts < now - (int64_t)r->hold_s)
		forget_oldest(r);
	if (ts <= r->horizon)
		st = AUTH_HORIZON;
	else if (seen(r, tag))
		st = AUTH_REPLAY;
	else if (r->n == r->cap && ts <= r->e[r->heap[0]].ts)
		st = AUTH_HORIZON;
	else {
		if (r->n == r->cap)
			forget_oldest(r);
		remember(r, tag, ts);
	}
	pthread_mutex_unlock(&r->lock);
	return st;
}

/* Verification. */

struct claim {
	const uint8_t *id, *nonce, *mac;
	size_t id_len;
	uint64_t ts;
};

static const uint8_t *find_auth(const uint8_t *msg, size_t len, size_t *tlv_len)
{
	size_t off = CONVERT_HDR_LEN;
	const uint8_t *tlv;

	while (convert_tlv_next(msg, len, &off, &tlv, tlv_len))
		if (tlv[0] == CONVERT_TLV_AUTH)
			return tlv;
	return NULL;
}

/* The whole TLV; its length byte must be the exact padded size. */
static bool claim_parse(const uint8_t *tlv, size_t tlv_len, struct claim *c)
{
	const uint8_t *v = tlv + 2;
	size_t n, used;

	if (tlv_len < 4 || v[0] != AUTH_VERSION || v[1] < 1 ||
	    v[1] > AUTH_ID_MAX)
		return false;
	n = v[1];
	used = 2 + AUTH_SIGNED_LEN(n) + AUTH_MAC_LEN;
	if (tlv_len != ((used + 3) & ~(size_t)3) ||
	    !sodium_is_zero(tlv + used, tlv_len - used))
		return false;
	c->id = v + 2;
	c->id_len = n;
	c->ts = get_be64(v + 2 + n);
	c->nonce = v + 10 + n;
	c->mac = v + AUTH_SIGNED_LEN(n);
	return true;
}

static void id_render(const uint8_t *id, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (!cap)
		return;
	for (size_t i = 0; i < n; i++) {
		char tmp[5];
		int k;
		if (id[i] > 0x20 && id[i] < 0x7f && id[i] != '\\')
			k = snprintf(tmp, sizeof(tmp), "%c", id[i]);
		else
			k = snprintf(tmp, sizeof(tmp), "\\x%02x", id[i]);
		if (o + (size_t)k >= cap)
			break;
		memcpy(out + o, tmp, (size_t)k);
		o += (size_t)k;
	}
	out[o] = '\0';
}

static enum auth_status window_check(uint64_t ts, int64_t now, uint32_t w)
{
	uint64_t t = now > 0 ? (uint64_t)now : 0;

	if (ts > t + w)
		return AUTH_FUTURE;
	if (ts + w < t)
		return AUTH_STALE;
	return AUTH_OK;
}

enum auth_status auth_verify(const struct auth_policy *p, struct auth_replay *r,
			     const uint8_t *msg, size_t len, int64_t now,
			     char *who, size_t wholen)
{
	uint32_t w = p->window_ms / 1000;
	uint8_t mac[AUTH_MAC_LEN];
	const struct auth_key *k;
	const uint8_t *tlv;
	enum auth_status st;
	struct claim c;
	size_t tlv_len;

	if (wholen)
		who[0] = '\0';
	if (!(tlv = find_auth(msg, len, &tlv_len)))
		return AUTH_ABSENT;
	if (!claim_parse(tlv, tlv_len, &c))
		return AUTH_MALFORMED;
	id_render(c.id, c.id_len, who, wholen);
	if (!(k = key_find(p, c.id, c.id_len)))
		return AUTH_UNKNOWN_ID;
	mac_compute(k->key.bytes, tlv + 2, AUTH_SIGNED_LEN(c.id_len), msg, len,
		    mac);
	if (sodium_memcmp(mac, c.mac, AUTH_MAC_LEN))
		return AUTH_BAD_MAC;
	if ((st = window_check(c.ts, now, w)) != AUTH_OK)
		return st;
	if (!r)
		return AUTH_NO_CACHE;
	return replay_check(r, c.id, c.id_len, c.nonce, (int64_t)c.ts, now, w);
}

bool auth_opening_ok(const struct auth_policy *p, const uint8_t *msg,
		     size_t len, char *why, size_t whylen)
{
	char id[AUTH_ID_STRLEN];

	return auth_opening_id(p, msg, len, id, sizeof(id), why, whylen);
}

bool auth_opening_id(const struct auth_policy *p, const uint8_t *msg,
		     size_t len, char *id, size_t idlen, char *why,
		     size_t whylen)
{
	struct auth_replay *r =
	    p->n_keys ? auth_replay_shared(p->replay_cache) : NULL;
	char who[AUTH_ID_STRLEN];
	enum auth_status st =
	    auth_verify(p, r, msg, len, (int64_t)time(NULL), who, sizeof(who));

	snprintf(id, idlen, "%s", st == AUTH_OK ? who : "");
	if (st == AUTH_OK || (st == AUTH_ABSENT && !p->required))
		return true;
	if (st == AUTH_ABSENT)
		snprintf(why, whylen, "Auth: none, and auth.required is true");
	else if (!who[0])
		snprintf(why, whylen, "Auth: %s", auth_status_str(st));
	else
		snprintf(why, whylen, "Auth of \"%s\": %s", who,
			 auth_status_str(st));
	return false;
}

const char *auth_status_str(enum auth_status st)
{
	switch (st) {
	case AUTH_OK:
		return "valid";
	case AUTH_ABSENT:
		return "no Auth TLV";
	case AUTH_MALFORMED:
		return "malformed";
	case AUTH_UNKNOWN_ID:
		return "unknown id";
	case AUTH_BAD_MAC:
		return "bad MAC";
	case AUTH_STALE:
		return "stale timestamp";
	case AUTH_FUTURE:
		return "timestamp in the future";
	case AUTH_REPLAY:
		return "replayed nonce";
	case AUTH_HORIZON:
		return "older than the replay cache's horizon";
	case AUTH_NO_CACHE:
		return "no replay cache (out of memory)";
	}
	return "unknown status";
}

static bool check_auth_id(const void *base, char *why, size_t len)
{
	const struct auth_key *k = base;

	return auth_id_ok(k->id, why, len);
}

#define KOFF(f) offsetof(struct auth_key, f)
const struct cfg_key auth_key_schema[] = {
	{ .name = "id", .type = CFG_STRING, .offset = KOFF(id),
	  .required = true, .min = 1, .max = AUTH_ID_MAX,
	  .check = check_auth_id },
	{ .name = "key", .type = CFG_CUSTOM, .offset = KOFF(key),
	  .custom = auth_cfg_key },
	{ .name = "key_file", .type = CFG_CUSTOM, .offset = KOFF(key),
	  .custom = auth_cfg_key_file },
	{ 0 },
};
