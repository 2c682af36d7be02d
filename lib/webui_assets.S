/* The CPE's status page (web/), built into the binary: each file lies
 * between a start and an end symbol (lib/webui.c serves them). Paths are
 * relative to the top of the tree, where make runs. */

	.section .rodata

	.global webui_index_html, webui_index_html_end
	.hidden webui_index_html, webui_index_html_end
webui_index_html:
	.incbin "web/index.html"
webui_index_html_end:

	.global webui_app_js, webui_app_js_end
	.hidden webui_app_js, webui_app_js_end
webui_app_js:
	.incbin "web/app.js"
webui_app_js_end:

	.global webui_style_css, webui_style_css_end
	.hidden webui_style_css, webui_style_css_end
webui_style_css:
	.incbin "web/style.css"
webui_style_css_end:

/* No executable stack. */
	.section .note.GNU-stack,"",@progbits
