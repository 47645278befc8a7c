/*
 * spec.c - the job spec (docs/protocol.md, "Job spec"): load it, check every
 * field, and turn it into struct spec. Every problem found is reported, each
 * naming its field and why; a spec with any problem starts nothing.
 */
#include "agent_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct spec_ctx {
	struct buf *errors;
	int nerrors;
};

static void PRINTFLIKE(3, 4)
spec_err(struct spec_ctx *c, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	buf_printf(c->errors, "%s: %s\n", field, msg);
	free(msg);
	c->nerrors++;
}

int
spec_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 128 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("_.-:@+", c) != NULL))
			return 0;
	}
	return 1;
}

static int
env_name_valid(const char *s)
{
	size_t i;

	if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return i <= 256;
}

/* A JSON string without NUL bytes (jansson allows \u0000). */
static const char *
json_cstr(const json_t *j)
{
	if (!json_is_string(j) ||
	    strlen(json_string_value(j)) != json_string_length(j))
		return NULL;
	return json_string_value(j);
}

static char *
get_str(struct spec_ctx *c, const json_t *o, const char *key,
    const char *field, int required)
{
	json_t *j = json_object_get(o, key);
	const char *s;

	if (j == NULL) {
		if (required)
			spec_err(c, field, "required");
		return NULL;
	}
	if ((s = json_cstr(j)) == NULL) {
		spec_err(c, field, "must be a string without NUL bytes");
		return NULL;
	}
	return xstrdup(s);
}

static int64_t
get_int(struct spec_ctx *c, const json_t *o, const char *key,
    const char *field, int64_t def, int64_t min, int64_t max)
{
	json_t *j = json_object_get(o, key);
	int64_t v;

	if (j == NULL) {
		if (def == INT64_MIN)
			spec_err(c, field, "required");
		return def;
	}
	if (!json_is_integer(j)) {
		spec_err(c, field, "must be an integer");
		return def;
	}
	v = json_integer_value(j);
	if (v < min || v > max) {
		spec_err(c, field, "must be from %lld to %lld, not %lld",
		    (long long)min, (long long)max, (long long)v);
		return def;
	}
	return v;
}

static int
get_bool(struct spec_ctx *c, const json_t *o, const char *key,
    const char *field, int def)
{
	json_t *j = json_object_get(o, key);

	if (j == NULL)
		return def;
	if (!json_is_boolean(j)) {
		spec_err(c, field, "must be true or false");
		return def;
	}
	return json_is_true(j);
}

static void
check_keys(struct spec_ctx *c, const json_t *o, const char *prefix,
    const char *const *known)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)o, key, v) {
		for (i = 0; known[i] != NULL; i++) {
			if (strcmp(key, known[i]) == 0)
				break;
		}
		if (known[i] == NULL)
			spec_err(c, prefix[0] ? prefix : key, "unknown key "
			    "\"%s\"", key);
	}
}

static char **
get_env(struct spec_ctx *c, const json_t *o, const char *key,
    const char *field)
{
	json_t *j = json_object_get(o, key), *v;
	const char *name, *val;
	char **env;
	size_t n = 0;

	if (j == NULL)
		return xcalloc(1, sizeof *env);
	if (!json_is_object(j)) {
		spec_err(c, field, "must be an object of NAME: value strings");
		return xcalloc(1, sizeof *env);
	}
	env = xcalloc(json_object_size(j) + 1, sizeof *env);
	json_object_foreach(j, name, v) {
		if (!env_name_valid(name)) {
			spec_err(c, field, "\"%s\" is not a valid variable "
			    "name", name);
			continue;
		}
		if ((val = json_cstr(v)) == NULL) {
			spec_err(c, field, "%s: value must be a string "
			    "without NUL bytes", name);
			continue;
		}
		xasprintf(&env[n++], "%s=%s", name, val);
	}
	return env;
}

static char **
get_argv(struct spec_ctx *c, const json_t *j, const char *field)
{
	char **argv;
	size_t i, n;

	if (!json_is_array(j) || (n = json_array_size(j)) == 0) {
		spec_err(c, field, "must be a non-empty array of strings");
		return NULL;
	}
	argv = xcalloc(n + 1, sizeof *argv);
	for (i = 0; i < n; i++) {
		const char *s = json_cstr(json_array_get(j, i));

		if (s == NULL) {
			spec_err(c, field, "element %zu must be a string "
			    "without NUL bytes", i);
			strv_free(argv);
			return NULL;
		}
		argv[i] = xstrdup(s);
	}
	if (argv[0][0] == '\0') {
		spec_err(c, field, "the program (element 0) is empty");
		strv_free(argv);
		return NULL;
	}
	return argv;
}

static void
parse_proc(struct spec_ctx *c, const json_t *o, size_t idx,
    struct spec_proc *p)
{
	static const char *const known[] = { "rank", "local_rank", "argv",
	    "shell", "env", "cwd", "devices", "metrics", NULL };
	char field[96], pre[48];
	json_t *d;
	size_t i;

	snprintf(pre, sizeof pre, "processes[%zu]", idx);
	if (!json_is_object(o)) {
		spec_err(c, pre, "must be an object");
		return;
	}
	check_keys(c, o, pre, known);
	snprintf(field, sizeof field, "%s.rank", pre);
	p->rank = (int)get_int(c, o, "rank", field, INT64_MIN, 0, 1 << 20);
	snprintf(field, sizeof field, "%s.local_rank", pre);
	p->local_rank = (int)get_int(c, o, "local_rank", field, (int64_t)idx,
	    0, 1 << 20);
	snprintf(field, sizeof field, "%s.argv", pre);
	p->argv = get_argv(c, json_object_get(o, "argv"), field);
	snprintf(field, sizeof field, "%s.shell", pre);
	p->shell = get_bool(c, o, "shell", field, 0);
	if (p->shell && p->argv != NULL && p->argv[1] != NULL)
		spec_err(c, field, "with shell: true, argv must hold exactly "
		    "one string (the command line for sh -c)");
	snprintf(field, sizeof field, "%s.env", pre);
	p->env = get_env(c, o, "env", field);
	snprintf(field, sizeof field, "%s.cwd", pre);
	p->cwd = get_str(c, o, "cwd", field, 0);
	if (p->cwd != NULL && p->cwd[0] != '/')
		spec_err(c, field, "must be an absolute path");
	snprintf(field, sizeof field, "%s.metrics", pre);
	p->metrics = get_bool(c, o, "metrics", field, 1);
	snprintf(field, sizeof field, "%s.devices", pre);
	if ((d = json_object_get(o, "devices")) != NULL) {
		if (!json_is_array(d)) {
			spec_err(c, field, "must be an array of device numbers");
			return;
		}
		p->ndevices = json_array_size(d);
		p->devices = p->ndevices ?
		    xcalloc(p->ndevices, sizeof *p->devices) : NULL;
		for (i = 0; i < p->ndevices; i++) {
			json_t *v = json_array_get(d, i);

			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 4096) {
				spec_err(c, field, "element %zu must be a "
				    "device number from 0 to 4096", i);
				continue;
			}
			p->devices[i] = (int)json_integer_value(v);
		}
	}
}

static int
rel_path_valid(const char *p)
{
	const char *s = p, *e;

	if (p[0] == '\0' || p[0] == '/' || strlen(p) > 1024)
		return 0;
	while (*s != '\0') {
		e = strchr(s, '/');
		if (e == NULL)
			e = s + strlen(s);
		if (e == s || (e - s == 1 && s[0] == '.') ||
		    (e - s == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s = *e ? e + 1 : e;
	}
	return 1;
}

static void
parse_file(struct spec_ctx *c, const json_t *o, size_t idx,
    struct spec_file *f)
{
	static const char *const known[] = { "path", "content", "mode", NULL };
	char field[64], pre[32];
	json_t *j;
	char *end;
	long mode;

	snprintf(pre, sizeof pre, "files[%zu]", idx);
	if (!json_is_object(o)) {
		spec_err(c, pre, "must be an object");
		return;
	}
	check_keys(c, o, pre, known);
	snprintf(field, sizeof field, "%s.path", pre);
	f->path = get_str(c, o, "path", field, 1);
	if (f->path != NULL && !rel_path_valid(f->path))
		spec_err(c, field, "must be a relative path inside the run "
		    "directory, without \"..\"");
	snprintf(field, sizeof field, "%s.content", pre);
	j = json_object_get(o, "content");
	if (!json_is_string(j))
		spec_err(c, field, "required, a string");
	else {
		f->len = json_string_length(j);
		f->content = xmalloc(f->len + 1);
		memcpy(f->content, json_string_value(j), f->len + 1);
	}
	f->mode = 0600;
	snprintf(field, sizeof field, "%s.mode", pre);
	if ((j = json_object_get(o, "mode")) != NULL) {
		errno = 0;
		mode = json_is_string(j) ?
		    strtol(json_string_value(j), &end, 8) : -1;
		if (mode < 0 || mode > 0777 || errno != 0 || *end != '\0')
			spec_err(c, field, "must be an octal string such as "
			    "\"0644\"");
		else
			f->mode = (mode_t)mode;
	}
}

static void
parse_parser(struct spec_ctx *c, struct spec *s)
{
	json_t *j = json_object_get(s->root, "parser");
	struct parser *p;
	char *cause = NULL;
	const char *fmt = "auto";

	if (j != NULL && !json_is_object(j)) {
		spec_err(c, "parser", "must be an object");
		return;
	}
	if (j != NULL && json_object_get(j, "format") != NULL) {
		if (!json_is_string(json_object_get(j, "format")) ||
		    !parser_format_valid(json_string_value(
		    json_object_get(j, "format")))) {
			spec_err(c, "parser.format", "must be one of mindone, "
			    "mindspore, kohya, diffusers, jsonl, regex, auto");
			return;
		}
		fmt = json_string_value(json_object_get(j, "format"));
	}
	s->parser = j;
	s->parser_format = xstrdup(fmt);
	/* Build one to let the parser check its own options. */
	if ((p = parser_new(fmt, j, &cause)) == NULL) {
		spec_err(c, "parser", "%s", cause);
		free(cause);
		return;
	}
	parser_free(p);
}

static void
parse_limits(struct spec_ctx *c, struct spec *s)
{
	static const char *const log_known[] = { "max_bytes", "keep", NULL };
	static const char *const tel_known[] = { "interval_s", NULL };
	json_t *j;

	s->log_max_bytes = 64 << 20;
	s->log_keep = 2;
	if ((j = json_object_get(s->root, "log")) != NULL) {
		if (!json_is_object(j))
			spec_err(c, "log", "must be an object");
		else {
			check_keys(c, j, "log", log_known);
			s->log_max_bytes = (uint64_t)get_int(c, j, "max_bytes",
			    "log.max_bytes", 64 << 20, 4096, INT64_MAX / 2);
			s->log_keep = (int)get_int(c, j, "keep", "log.keep", 2,
			    0, 100);
		}
	}
	s->telemetry_s = 5;
	if ((j = json_object_get(s->root, "telemetry")) != NULL) {
		if (!json_is_object(j))
			spec_err(c, "telemetry", "must be an object");
		else {
			check_keys(c, j, "telemetry", tel_known);
			s->telemetry_s = (int)get_int(c, j, "interval_s",
			    "telemetry.interval_s", 5, 0, 3600);
		}
	}
	s->stop_grace_s = (int)get_int(c, s->root, "stop_grace_s",
	    "stop_grace_s", 30, 0, 86400);
	s->settle_ms = (int)get_int(c, s->root, "settle_ms", "settle_ms", 300,
	    0, 60000);
}

struct spec *
spec_parse(json_t *root, const char *run_dir_override, struct buf *errors)
{
	static const char *const known[] = { "spec", "task", "attempt",
	    "host_id", "node_rank", "base_dir", "cwd", "container", "parser",
	    "env", "processes", "files", "log", "telemetry", "stop_grace_s",
	    "settle_ms", NULL };
	struct spec_ctx c = { errors, 0 };
	struct spec *s;
	json_t *j;
	char *cause = NULL;
	size_t i, k;

	if (!json_is_object(root)) {
		spec_err(&c, "spec", "the document must be a JSON object");
		return NULL;
	}
	s = xcalloc(1, sizeof *s);
	s->root = json_incref(root);
	check_keys(&c, root, "", known);
	get_int(&c, root, "spec", "spec", INT64_MIN, SPEC_VERSION,
	    SPEC_VERSION);
	s->task = get_str(&c, root, "task", "task", 1);
	if (s->task != NULL && !spec_name_valid(s->task))
		spec_err(&c, "task", "\"%s\" must be 1-128 characters of "
		    "A-Z a-z 0-9 _ . - : @ +", s->task);
	s->attempt = get_int(&c, root, "attempt", "attempt", INT64_MIN, 1,
	    1000000);
	s->host_id = get_str(&c, root, "host_id", "host_id", 1);
	if (s->host_id != NULL && !spec_name_valid(s->host_id))
		spec_err(&c, "host_id", "\"%s\" must be 1-128 characters of "
		    "A-Z a-z 0-9 _ . - : @ +", s->host_id);
	s->node_rank = get_int(&c, root, "node_rank", "node_rank", 0, 0,
	    1 << 20);
	s->base_dir = get_str(&c, root, "base_dir", "base_dir", 1);
	if (s->base_dir != NULL && s->base_dir[0] != '/')
		spec_err(&c, "base_dir", "must be an absolute path");
	s->cwd = get_str(&c, root, "cwd", "cwd", 0);
	if (s->cwd != NULL && s->cwd[0] != '/')
		spec_err(&c, "cwd", "must be an absolute path");
	s->env = get_env(&c, root, "env", "env");

	j = json_object_get(root, "container");
	if (j == NULL) {
		json_object_set_new(root, "container",
		    json_pack("{s:s}", "runtime", "none"));
		j = json_object_get(root, "container");
	}
	s->container = j;
	if (container_validate(j, &cause) != 0) {
		spec_err(&c, "container", "%s", cause);
		free(cause);
	}
	parse_parser(&c, s);

	j = json_object_get(root, "processes");
	if (!json_is_array(j) || json_array_size(j) == 0)
		spec_err(&c, "processes", "must be a non-empty array");
	else if (json_array_size(j) > 4096)
		spec_err(&c, "processes", "more than 4096 processes");
	else {
		s->nprocs = json_array_size(j);
		s->procs = xcalloc(s->nprocs, sizeof *s->procs);
		for (i = 0; i < s->nprocs; i++)
			parse_proc(&c, json_array_get(j, i), i, &s->procs[i]);
		for (i = 0; i < s->nprocs; i++) {
			for (k = 0; k < i; k++) {
				if (s->procs[i].rank == s->procs[k].rank) {
					char f[48];

					snprintf(f, sizeof f,
					    "processes[%zu].rank", i);
					spec_err(&c, f, "rank %d is also "
					    "processes[%zu]'s", s->procs[i].rank,
					    k);
				}
			}
		}
	}
	if ((j = json_object_get(root, "files")) != NULL) {
		if (!json_is_array(j))
			spec_err(&c, "files", "must be an array");
		else {
			s->nfiles = json_array_size(j);
			s->files = s->nfiles ?
			    xcalloc(s->nfiles, sizeof *s->files) : NULL;
			for (i = 0; i < s->nfiles; i++)
				parse_file(&c, json_array_get(j, i), i,
				    &s->files[i]);
		}
	}
	parse_limits(&c, s);

	if (c.nerrors == 0) {
		if (run_dir_override != NULL)
			s->run_dir = xstrdup(run_dir_override);
		else
			xasprintf(&s->run_dir, "%s/%s/%lld/%s",
			    strcmp(s->base_dir, "/") == 0 ? "" : s->base_dir,
			    s->task, (long long)s->attempt, s->host_id);
		return s;
	}
	spec_free(s);
	return NULL;
}

struct spec *
spec_load(const char *path, const char *run_dir_override, struct buf *errors)
{
	struct buf b;
	json_error_t err;
	json_t *root;
	struct spec *s;
	char *cause = NULL;

	buf_init(&b);
	if (file_read_all(path, SPEC_MAX_BYTES, &b, &cause) != 0) {
		buf_printf(errors, "%s\n", cause);
		free(cause);
		buf_free(&b);
		return NULL;
	}
	root = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES,
	    &err);
	buf_free(&b);
	if (root == NULL) {
		buf_printf(errors, "%s:%d:%d: not valid JSON: %s\n", path,
		    err.line, err.column, err.text);
		return NULL;
	}
	s = spec_parse(root, run_dir_override, errors);
	json_decref(root);
	return s;
}

void
spec_free(struct spec *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nprocs; i++) {
		strv_free(s->procs[i].argv);
		strv_free(s->procs[i].env);
		free(s->procs[i].cwd);
		free(s->procs[i].devices);
	}
	free(s->procs);
	for (i = 0; i < s->nfiles; i++) {
		free(s->files[i].path);
		free(s->files[i].content);
	}
	free(s->files);
	strv_free(s->env);
	free(s->task);
	free(s->host_id);
	free(s->base_dir);
	free(s->run_dir);
	free(s->cwd);
	free(s->parser_format);
	json_decref(s->root);
	free(s);
}
