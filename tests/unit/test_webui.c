/* lib/webui.c: each of the page's paths answers the bytes of its file in
 * web/ (as built in by lib/webui_assets.S) with its Content-Type; any other
 * path is a 404. Run from the top of the tree (tests/unit/run does). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webui.h"

/* The whole file, or NULL. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void serve(const char *path, struct ctl_reply *rp)
{
	struct ctl_req rq = {.method = "GET", .path = path};

	*rp = (struct ctl_reply){0};
	webui_serve(NULL, &rq, rp);
}

static void check_file(const char *path, const char *file, const char *type)
{
	struct ctl_reply rp;
	size_t len = 0;
	char *want = slurp(file, &len);

	assert_non_null(want);
	serve(path, &rp);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.type, type);
	assert_true(rp.is_static);
	assert_int_equal(rp.len, len);
	assert_memory_equal(rp.body, want, len);
	free(want);
}

static void test_files(void **state)
{
	check_file("/", "web/index.html", "text/html; charset=utf-8");
	check_file("/app.js", "web/app.js", "text/javascript; charset=utf-8");
	check_file("/style.css", "web/style.css", "text/css; charset=utf-8");
}

static void test_unknown(void **state)
{
	const char *paths[] = {"/index.html", "/app.js/",      "/STYLE.CSS", "",
			       "/app.jsx",    "/../web/app.js"};
	struct ctl_reply rp;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		serve(paths[i], &rp);
		assert_int_equal(rp.status, 404);
		assert_string_equal(rp.type, "application/json");
		assert_non_null(strstr(rp.body, "no such file"));
		if (!rp.is_static)
			free(rp.body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
