/*
 * proto.c - the wire protocol between drover and drover-agent: JSON lines,
 * one object per line, documented in docs/protocol.md. This file decodes
 * untrusted lines under a size and nesting cap, encodes events compactly,
 * carries non-finite numbers as strings, and parses attach-channel commands.
 * It knows nothing of spools, sockets or SQL.
 */
#include "common.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *const proto_names[] = {
	[PROTO_UNKNOWN] = "unknown",
	[PROTO_HELLO] = "hello",
	[PROTO_STATE] = "state",
	[PROTO_METRIC] = "metric",
	[PROTO_LOG] = "log",
	[PROTO_TELEMETRY] = "telemetry",
	[PROTO_CKPT] = "ckpt",
	[PROTO_HB] = "hb",
	[PROTO_ERROR] = "error",
};

const char *
proto_type_name(enum proto_type t)
{
	if ((size_t)t >= nitems(proto_names))
		return "unknown";
	return proto_names[t];
}

enum proto_type
proto_type_of(const json_t *o)
{
	const char *s = proto_get_string(o, "type");
	size_t i;

	if (s == NULL)
		return PROTO_UNKNOWN;
	for (i = 1; i < nitems(proto_names); i++) {
		if (strcmp(s, proto_names[i]) == 0)
			return (enum proto_type)i;
	}
	return PROTO_UNKNOWN;
}

int
json_scan_byte(struct json_scan *js, char c)
{
	if (js->in_str) {
		if (js->esc)
			js->esc = 0;
		else if (c == '\\')
			js->esc = 1;
		else if (c == '"')
			js->in_str = 0;
		return 1;
	}
	if (c == '"') {
		js->in_str = 1;
		return 1;
	}
	return 0;
}

/* Nesting depth of a JSON text, counting brackets outside strings. */
static int
proto_depth(const char *p, size_t len, int cap)
{
	struct json_scan js = { 0, 0 };
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (json_scan_byte(&js, c))
			continue;
		if (c == '{' || c == '[') {
			if (++depth > cap)
				return depth;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return depth < 0 ? 0 : depth;
}

int
proto_check_line(const char *line, size_t len, char **cause)
{
	char *why = NULL;

	if (len > PROTO_MAX_LINE)
		xasprintf(&why, "line of %zu bytes exceeds the %d byte cap",
		    len, PROTO_MAX_LINE);
	else if (memchr(line, '\0', len) != NULL)
		why = xstrdup("line holds a NUL byte");
	else if (proto_depth(line, len, PROTO_MAX_DEPTH) > PROTO_MAX_DEPTH)
		xasprintf(&why, "nesting deeper than %d", PROTO_MAX_DEPTH);
	if (why == NULL)
		return 0;
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return -1;
}

json_t *
proto_decode_line(const char *line, size_t len, char **cause)
{
	json_error_t err;
	json_t *o;

	if (proto_check_line(line, len, cause) != 0)
		return NULL;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL) {
		xasprintf(cause, "not JSON at column %d: %s", err.column,
		    err.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		xasprintf(cause, "not a JSON object");
		json_decref(o);
		return NULL;
	}
	if (!json_is_string(json_object_get(o, "type"))) {
		xasprintf(cause, "object has no string \"type\"");
		json_decref(o);
		return NULL;
	}
	return o;
}

char *
proto_encode_line(const json_t *o, size_t *lenp)
{
	char *s, *line;
	size_t n;

	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		fatalx("proto_encode_line: cannot encode");
	n = strlen(s);
	line = xmalloc(n + 2);
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	free(s);
	if (lenp != NULL)
		*lenp = n + 1;
	return line;
}

void
proto_set_number(json_t *o, const char *key, double v)
{
	if (isnan(v))
		json_object_set_new(o, key, json_string("nan"));
	else if (isinf(v))
		json_object_set_new(o, key, json_string(v > 0 ? "inf" : "-inf"));
	else
		json_object_set_new(o, key, json_real(v));
}

int
proto_get_number(const json_t *o, const char *key, double *v)
{
	json_t *j = json_object_get(o, key);
	const char *s;

	if (json_is_number(j)) {
		*v = json_number_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return -1;
	s = json_string_value(j);
	if (strcmp(s, "nan") == 0)
		*v = NAN;
	else if (strcmp(s, "inf") == 0)
		*v = INFINITY;
	else if (strcmp(s, "-inf") == 0)
		*v = -INFINITY;
	else
		return -1;
	return 0;
}

int
proto_get_int(const json_t *o, const char *key, int64_t *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j))
		return -1;
	*v = json_integer_value(j);
	return 0;
}

const char *
proto_get_string(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

json_t *
proto_string(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b;
	size_t i = 0, k;
	json_t *j;

	buf_init(&b);
	while (i < n) {
		if (p[i] == 0 || (k = utf8_len(p + i, n - i)) == 0) {
			buf_add(&b, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		buf_add(&b, p + i, k);
		i += k;
	}
	j = json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	if (j == NULL)
		fatalx("proto_string: sanitized text still rejected");
	return j;
}

json_t *
proto_hello_new(const char *run, int64_t last_seq)
{
	return json_pack("{s:s, s:i, s:s, s:s, s:I}", "type", "hello",
	    "proto", PROTO_VERSION, "agent", DROVER_VERSION, "run", run,
	    "last_seq", (json_int_t)last_seq);
}

static const struct {
	const char *name;
	int sig;
} proto_signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	{ "TERM", SIGTERM }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "ABRT", SIGABRT }, { "SEGV", SIGSEGV }, { "PIPE", SIGPIPE },
	{ "ALRM", SIGALRM }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
	{ "ILL", SIGILL }, { "TRAP", SIGTRAP }, { "XCPU", SIGXCPU },
	{ "XFSZ", SIGXFSZ }, { "SYS", SIGSYS }, { "TSTP", SIGTSTP },
};

int
proto_signal_from_name(const char *name)
{
	size_t i;

	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < nitems(proto_signals); i++) {
		if (strcmp(name, proto_signals[i].name) == 0)
			return proto_signals[i].sig;
	}
	return -1;
}

const char *
proto_signal_name(int sig)
{
	size_t i;

	for (i = 0; i < nitems(proto_signals); i++) {
		if (proto_signals[i].sig == sig)
			return proto_signals[i].name;
	}
	return NULL;
}

int
proto_cmd_parse(const char *line, size_t len, struct proto_cmd *cmd,
    char **cause)
{
	json_error_t err;
	json_t *o, *j;
	const char *name;
	int rc = -1;

	if (len > 4096 || proto_depth(line, len, 4) > 4) {
		xasprintf(cause, "command too long or too deep");
		return -1;
	}
	if ((o = json_loadb(line, len, 0, &err)) == NULL) {
		xasprintf(cause, "command is not JSON: %s", err.text);
		return -1;
	}
	memset(cmd, 0, sizeof *cmd);
	if ((name = proto_get_string(o, "cmd")) == NULL) {
		xasprintf(cause, "command has no string \"cmd\"");
		goto out;
	}
	if (strcmp(name, "stop") == 0) {
		cmd->kind = PROTO_CMD_STOP;
		cmd->grace_s = 30;
		j = json_object_get(o, "grace_s");
		if (j != NULL) {
			if (!json_is_integer(j) || json_integer_value(j) < 0 ||
			    json_integer_value(j) > 86400) {
				xasprintf(cause, "stop: \"grace_s\" must be an "
				    "integer from 0 to 86400");
				goto out;
			}
			cmd->grace_s = (int)json_integer_value(j);
		}
	} else if (strcmp(name, "signal") == 0) {
		cmd->kind = PROTO_CMD_SIGNAL;
		j = json_object_get(o, "sig");
		if (!json_is_string(j) ||
		    (cmd->sig = proto_signal_from_name(json_string_value(j))) ==
		    -1) {
			xasprintf(cause, "signal: \"sig\" must be a signal name "
			    "such as \"USR1\" or \"TERM\"");
			goto out;
		}
	} else {
		xasprintf(cause, "unknown command \"%s\"", name);
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

char *
proto_cmd_encode(const struct proto_cmd *cmd)
{
	json_t *o;
	char *s;

	if (cmd->kind == PROTO_CMD_STOP)
		o = json_pack("{s:s, s:i}", "cmd", "stop", "grace_s",
		    cmd->grace_s);
	else
		o = json_pack("{s:s, s:s}", "cmd", "signal", "sig",
		    proto_signal_name(cmd->sig));
	s = proto_encode_line(o, NULL);
	json_decref(o);
	return s;
}
