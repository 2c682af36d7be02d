/* The CPE's status page: web/index.html, app.js and style.css, built into
 * the binary (lib/webui_assets.S) and served on the control interface's
 * GET /, /app.js and /style.css. The page polls /status and /flows. */
#ifndef MPTUN_WEBUI_H
#define MPTUN_WEBUI_H

#include "ctl.h"

/* A ctl_fn for the page's paths; 404 for any other. */
void webui_serve(void *arg, const struct ctl_req *rq, struct ctl_reply *rp);

#endif
