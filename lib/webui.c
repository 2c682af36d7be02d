#include "webui.h"

#include <string.h>

/* lib/webui_assets.S */
extern const char webui_index_html[], webui_index_html_end[];
extern const char webui_app_js[], webui_app_js_end[];
extern const char webui_style_css[], webui_style_css_end[];

struct webui_file {
	const char *path;
	const char *type;
	const char *start, *end;
};

/* The files are UTF-8 (the script and the page carry arrows and dashes). */
static const struct webui_file files[] = {
    {"/", "text/html; charset=utf-8", webui_index_html, webui_index_html_end},
    {"/app.js", "text/javascript; charset=utf-8", webui_app_js,
     webui_app_js_end},
    {"/style.css", "text/css; charset=utf-8", webui_style_css,
     webui_style_css_end},
};

void webui_serve(void *arg, const struct ctl_req *rq, struct ctl_reply *rp)
{
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const struct webui_file *f = &files[i];

		if (!strcmp(rq->path, f->path)) {
			ctl_reply_static(rp, f->type, f->start,
					 (size_t)(f->end - f->start));
			return;
		}
	}
	ctl_reply_error(rp, 404, "no such file: %s", rq->path);
}
