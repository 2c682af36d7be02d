#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *what, const char *user)
{
	snprintf(err, errlen, "cannot drop privileges to user %s: %s: %s", user,
		 what, strerror(errno ? errno : EINVAL));
	return -1;
}

static int keep_caps(const cap_value_t *keep, int n)
{
	cap_t caps = cap_init(); /* all clear */
	int r = -1;

	if (!caps)
		return -1;
	if ((!n || (cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET) == 0 &&
		    cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET) == 0)) &&
	    cap_set_proc(caps) == 0)
		r = 0;
	cap_free(caps);
	return r;
}

int privdrop(const char *user, const cap_value_t *keep, int n, char *err,
	     size_t errlen)
{
	struct passwd *pw;

	errno = 0;
	if (!(pw = getpwnam(user))) {
		snprintf(err, errlen, "cannot drop privileges: no user %s%s%s", user,
			 errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	if (pw->pw_uid == 0) {
		errno = EINVAL;
		return fail(err, errlen, "it is root", user);
	}
	if (n && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, "PR_SET_KEEPCAPS", user);
	if (initgroups(user, pw->pw_gid) < 0)
		return fail(err, errlen, "initgroups", user);
	if (setgid(pw->pw_gid) < 0)
		return fail(err, errlen, "setgid", user);
	if (setuid(pw->pw_uid) < 0)
		return fail(err, errlen, "setuid", user);
	/* a root that could come back would make all of this decoration */
	if (setuid(0) == 0) {
		errno = EPERM;
		return fail(err, errlen, "root could be regained", user);
	}
	if (keep_caps(keep, n) < 0)
		return fail(err, errlen, "cap_set_proc", user);
	if (n)
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, "PR_SET_NO_NEW_PRIVS", user);
	return 0;
}
