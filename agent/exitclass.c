/*
 * exitclass.c - names an exit for people: 137 and SIGKILL are "killed
 * (SIGKILL, possible OOM)", 125-127 are container-runtime or exec errors,
 * 139 a segfault, 143 a SIGTERM. A status of 128+N from a shell or a
 * container runtime is read as signal N, as they report it that way.
 */
#include "agent_int.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

const char *
exit_classify(int code, int sig, int stopped, char *reason, size_t len)
{
	const char *class, *name;
	int s = sig;

	if (s == 0 && code > 128 && code < 128 + 65)
		s = code - 128;
	name = s ? proto_signal_name(s) : NULL;
	if (stopped && (code == 0 || s == SIGTERM || s == SIGKILL ||
	    s == SIGINT)) {
		class = "stopped";
		snprintf(reason, len, "stopped on request (%s)",
		    s ? (name ? name : "signal") : "exited 0");
		return class;
	}
	if (sig == 0 && code == 0) {
		snprintf(reason, len, "exited 0");
		return "succeeded";
	}
	if (s == SIGKILL) {
		class = "killed";
		if (sig)
			snprintf(reason, len, "killed by SIGKILL (possible "
			    "OOM)");
		else
			snprintf(reason, len, "exited %d (killed, SIGKILL; "
			    "possible OOM)", code);
	} else if (sig == 0 && code == 125) {
		class = "container";
		snprintf(reason, len, "exited 125 (the container runtime "
		    "failed: no such container or bad option?)");
	} else if (sig == 0 && code == 126) {
		class = "container";
		snprintf(reason, len, "exited 126 (the command cannot be "
		    "invoked: permission denied?)");
	} else if (sig == 0 && code == 127) {
		class = "container";
		snprintf(reason, len, "exited 127 (command not found)");
	} else if (s == SIGSEGV) {
		class = "crashed";
		snprintf(reason, len, sig ? "killed by SIGSEGV (segfault)" :
		    "exited %d (segfault)", code);
	} else if (s == SIGTERM || s == SIGINT || s == SIGHUP) {
		class = "terminated";
		if (sig)
			snprintf(reason, len, "killed by SIG%s",
			    name ? name : "?");
		else
			snprintf(reason, len, "exited %d (SIG%s)", code,
			    name ? name : "?");
	} else if (s != 0) {
		class = "crashed";
		if (sig)
			snprintf(reason, len, "killed by signal %d%s%s", s,
			    name ? ", SIG" : "", name ? name : "");
		else
			snprintf(reason, len, "exited %d (signal %d%s%s)",
			    code, s, name ? ", SIG" : "", name ? name : "");
	} else {
		class = "failed";
		snprintf(reason, len, "exited %d", code);
	}
	return class;
}
