/* A schema-driven YAML walker, shared by the daemons' config loaders.
 *
 * A schema is an array of struct cfg_key ended by an entry whose name is
 * NULL. Each key stores its value at base + offset, where base is the struct
 * being filled (for CFG_MAP the same base plus the key's offset, for
 * CFG_MAP_SEQ each element). The walker writes only keys that are present, so
 * the caller sets defaults first.
 *
 * Errors are "name:line:column: path: message", 1-based, pointing at the
 * offending node; path is the full key path ("egress.allow[2]"). Unknown keys,
 * duplicate keys, missing required keys, wrong node types and out-of-range
 * values are errors. Aliases and multiple documents are refused; an empty
 * stream is "empty configuration".
 *
 * Scalar syntax:
 *   bool      true or false (lower, Title or UPPER case); nothing else.
 *   uint      decimal digits only, into a uint32_t.
 *   duration  one or more <digits><unit>, unit ms, s, m or h: "250ms", "5s",
 *             "2m", "1h", "1m30s". A bare number is refused: a unit is
 *             required. Stored as milliseconds in a uint32_t (max ~49 days).
 *   string    any scalar except a plain null (empty, ~, null) unless the
 *             key is nullable; quote "" for an empty string. NUL bytes are
 *             refused.
 *   strings   a sequence of strings (as above, never null); a null is an
 *             empty sequence.
 * A plain null where a mapping or sequence is expected is an empty one.
 *
 * Ownership: strings, prefix lists, CFG_MAP_SEQ and CFG_STRINGS arrays and
 * whatever a custom
 * type allocates belong to base; cfg_free() releases them by the same schema,
 * also on a half-filled base. String fields must hold NULL or heap memory. */
#ifndef MPTUN_CFGPARSE_H
#define MPTUN_CFGPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

struct cfg_walk;

enum cfg_type {
	CFG_BOOL,      /* bool */
	CFG_UINT,      /* uint32_t, min..max */
	CFG_DURATION,  /* uint32_t milliseconds, min..max */
	CFG_STRING,    /* char *, length in bytes min..max */
	CFG_ENUM,      /* int, one of names */
	CFG_SOCKADDR,  /* struct sockaddr_storage, addr_parse() */
	CFG_HOST,      /* struct sockaddr_storage, addr_parse_host() */
	CFG_PREFIXES,  /* struct addr_prefix_list: a sequence of prefixes */
	CFG_SCALAR_FN, /* parse(): a scalar with its own syntax */
	CFG_MAP,       /* a nested mapping, keys in map */
	CFG_MAP_SEQ,   /* a sequence of mappings: an array of elements */
	CFG_STRINGS,   /* a sequence of strings: char **, count at count_offset */
	CFG_CUSTOM,    /* custom(): any node */
};

struct cfg_enum {
	const char *name; /* NULL ends the table */
	int value;
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;
	bool required;
	/* Why a missing required key matters, appended to its error. */
	const char *missing;
	/* CFG_STRING, CFG_SOCKADDR, CFG_HOST: a null value unsets the field
	 * (NULL, AF_UNSPEC with length 0) instead of being an error.
	 * CFG_SCALAR_FN: a null value calls parse() with s NULL, which unsets
	 * the field its own way. */
	bool nullable;

	/* uint, duration (ms), string length, CFG_MAP_SEQ and CFG_STRINGS
	 * count: max 0 means no upper bound. */
	uint32_t min, max;

	/* CFG_SOCKADDR, CFG_HOST: AF_INET or AF_INET6 to restrict, 0 any. */
	int family;
	/* CFG_SOCKADDR: the port when none is given; 0 requires one. */
	int port;
	/* CFG_SOCKADDR, CFG_HOST: offset of a socklen_t for the length, 0 for
	 * none (so it cannot be the struct's first member). */
	size_t len_offset;

	const struct cfg_enum *names; /* CFG_ENUM */
	const struct cfg_key *map;    /* CFG_MAP, CFG_MAP_SEQ */
	size_t elem_size;             /* CFG_MAP_SEQ: sizeof an element */
	size_t count_offset;          /* CFG_MAP_SEQ, CFG_STRINGS: a size_t
				       * count; the field at offset is the
				       * array pointer */

	/* CFG_SCALAR_FN: parse s into field, or write why and return false. */
	bool (*parse)(const char *s, void *field, char *why, size_t whylen);
	/* CFG_CUSTOM: store node into field, or report with cfg_error(). */
	bool (*custom)(struct cfg_walk *w, yaml_node_t *node, void *field);
	/* CFG_CUSTOM: release what custom() stored; may be NULL. */
	void (*free)(void *field);

	/* Any type: runs after the value is stored (for CFG_MAP_SEQ and
	 * CFG_STRINGS after each element, the new one being last, so the
	 * error points at it), with the struct holding the field. Return
	 * false and write why to refuse it. */
	bool (*check)(const void *base, char *why, size_t whylen);
};

/* Parse buf (len bytes, need not be NUL terminated) into base. name is
 * used in messages. On failure write the message into err and return false;
 * base may then be half filled: release it with cfg_free(). */
bool cfg_parse_buf(const struct cfg_key *schema, void *base, const char *buf,
		   size_t len, const char *name, char *err, size_t errlen);

/* Read a whole file (at most CFG_MAX_FILE bytes) into a malloc'd buffer,
 * which the caller frees. On failure write "path: reason" into err. */
#define CFG_MAX_FILE (1u << 20)
bool cfg_read_file(const char *path, char **buf, size_t *len, char *err,
		   size_t errlen);

/* Release everything the schema's keys own in base. NULL base is fine. */
void cfg_free(const struct cfg_key *schema, void *base);

/* A CFG_SCALAR_FN parser for log.level: error, warn, info or debug into an
 * int (log.h's levels). */
bool cfg_parse_log_level(const char *s, void *field, char *why, size_t len);

/* For custom() callbacks. */
yaml_document_t *cfg_doc(struct cfg_walk *w);
/* The scalar's value, or NULL after reporting a wrong type / null / NUL. */
const char *cfg_scalar(struct cfg_walk *w, yaml_node_t *node);
/* Report "name:line:column: path: message" at node; returns false. */
bool cfg_error(struct cfg_walk *w, yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
