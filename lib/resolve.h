/* Asynchronous host name lookups in the event loop (c-ares). */
#ifndef MPTUN_RESOLVE_H
#define MPTUN_RESOLVE_H

#include <sys/socket.h>

#include "loop.h"

struct resolver;
struct resolve_req;

/* status is 0 with the first address found, or a negative errno-like value
 * (-ENOENT: no such name, -ETIMEDOUT, -EIO) with sa NULL. */
typedef void (*resolve_cb)(void *arg, int status, const struct sockaddr *sa,
			   socklen_t len);

struct resolver *resolver_new(struct loop *l);
void resolver_free(struct resolver *r); /* NULL ok; pending callbacks are not called */
/* Start a lookup; *handle is set for resolver_cancel and reset to NULL
 * just before cb runs, which may happen before this returns. 0, or -ENOMEM
 * (cb is then not called). */
int resolver_lookup(struct resolver *r, const char *name, resolve_cb cb,
		    void *arg, struct resolve_req **handle);
/* The callback of q will not be called. */
void resolver_cancel(struct resolve_req *q);

#endif
