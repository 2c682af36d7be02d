/* The HTTP seam: libcurl to the daemon's control socket or control.http. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mptunctl.h"

#define BODY_MAX (64u << 20)

const char *http_where(const struct ctl *c)
{
	return c->socket ? c->socket : c->url;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_answer *a = arg;
	size_t len = size * n;

	if (a->len + len > BODY_MAX)
		return 0; /* curl stops with a write error */
	if (a->len + len + 1 > a->cap) {
		a->cap = (a->len + len + 1) * 2;
		a->body = fmt_realloc(a->body, a->cap);
	}
	memcpy(a->body + a->len, p, len);
	a->len += len;
	a->body[a->len] = '\0';
	return len;
}

/* curl says "Couldn't connect to server" whatever the reason; a connect of
 * our own finds which, in words that say what to do. */
static const char *socket_why(const char *path, const char *curl_err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return "the path is too long for a unix socket";
	if (stat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
		return "not a socket";
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return strerror(errno);
	e = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
	close(fd);
	switch (e) {
	case 0:
		return curl_err; /* it accepts: the failure came later */
	case ENOENT:
		return "no such socket (is the daemon running, with its "
		       "control.socket at this path?)";
	case ECONNREFUSED:
		return "connection refused (nothing listens: the daemon is not "
		       "running)";
	case EACCES:
	case EPERM:
		return "permission denied (run it as root or as a member of the "
		       "socket's group)";
	default:
		return strerror(e);
	}
}

static int unreachable(const struct ctl *c, CURLcode r, const char *err,
		       long os_errno)
{
	char why[CURL_ERROR_SIZE + 128];

	snprintf(why, sizeof(why), "%s%s%s%s", *err ? err : curl_easy_strerror(r),
		 os_errno ? " (" : "", os_errno ? strerror((int)os_errno) : "",
		 os_errno ? ")" : "");

	if (c->guessed)
		fprintf(stderr, "mptunctl: cannot reach a daemon: neither %s nor "
			"%s exists (is a daemon running? -s SOCKET or -u URL "
			"names another)\n", SOCK_CPE, SOCK_CONC);
	else if (c->socket)
		fprintf(stderr, "mptunctl: cannot reach the daemon at %s: %s\n",
			c->socket, socket_why(c->socket, why));
	else
		fprintf(stderr, "mptunctl: cannot reach the daemon at %s: %s\n",
			c->url, why);
	return EXIT_UNREACHABLE;
}

static void http_setup(CURL *h, const struct ctl *c, const char *url,
		       char *err, struct http_answer *a)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (c->socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	/* The daemon is local: an http_proxy of the environment is not. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
}

/* One request; the answer (any HTTP status) in *a, owned by the caller.
 * Returns 0 or an exit code, after saying why. */
int http_call(const struct ctl *c, bool post, const char *path,
	      struct http_answer *a)
{
	const char *base = c->socket ? "http://localhost" : c->url;
	char url[4096], err[CURL_ERROR_SIZE] = "";
	size_t n = strlen(base);
	long os_errno = 0;
	CURL *h;
	CURLcode r;

	while (n > 8 && base[n - 1] == '/') /* path starts with one */
		n--;
	snprintf(url, sizeof(url), "%.*s%s", (int)n, base, path);
	if (!(h = curl_easy_init())) {
		fprintf(stderr, "mptunctl: libcurl cannot start\n");
		return EXIT_DAEMON;
	}
	http_setup(h, c, url, err, a);
	if (post)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	r = curl_easy_perform(h);
	if (r == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	else
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_cleanup(h);
	if (r == CURLE_WRITE_ERROR) {
		fprintf(stderr, "mptunctl: %s: the answer to %s is larger than "
			"%u MiB\n", http_where(c), path, BODY_MAX >> 20);
		return EXIT_DAEMON;
	}
	return r == CURLE_OK ? 0 : unreachable(c, r, err, os_errno);
}

/* An error answer's message: its JSON "error" or "message", else the
 * start of its body. */
void http_answer_error(const struct ctl *c, const char *what,
			 const struct http_answer *a, json_t *j)
{
	const char *m = json_string_value(json_object_get(j, "error"));
	char buf[300];

	if (!m)
		m = json_string_value(json_object_get(j, "message"));
	if (!m)
		m = a->body ? a->body : "";
	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(m, "\n"), m);
	fmt_clean(buf);
	fprintf(stderr, "mptunctl: %s: %s: HTTP %ld%s%s\n", http_where(c), what,
		a->status, *buf ? ": " : "", buf);
}

/* The answer's JSON, or NULL (*rc says why, after a message): a status
 * other than 2xx or a body that is not JSON. */
json_t *http_get_json(const struct ctl *c, const char *path, int *rc)
{
	struct http_answer a = { 0 };
	json_error_t jerr;
	json_t *j = NULL;
	char what[512];

	snprintf(what, sizeof(what), "GET %s", path);
	if ((*rc = http_call(c, false, path, &a)))
		goto out;
	j = json_loadb(a.body ? a.body : "", a.len, 0, &jerr);
	if (a.status / 100 != 2) {
		http_answer_error(c, what, &a, j);
		json_decref(j);
		j = NULL;
	} else if (!j) {
		fmt_clean(jerr.text);
		fprintf(stderr, "mptunctl: %s: the answer to %s is not JSON "
			"(HTTP %ld, %zu bytes): %s\n", http_where(c), what, a.status,
			a.len, jerr.text);
	}
	*rc = j ? 0 : EXIT_DAEMON;
out:
	free(a.body);
	return j;
}

