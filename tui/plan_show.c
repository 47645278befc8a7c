/*
 * plan_show.c - what `drover plan` shows: a built plan as text (per host:
 * node rank, ranks, run directory, argv of every process shell-quoted, env,
 * rendered files) or as one JSON document.
 *
 * Secrets: their names (plan_opts.secret_names) are listed as
 * NAME=********; an env entry of that name, should one be in a spec, is
 * shown masked too. The values never reach the plan in the first place.
 *
 * Not here: building the plan (plan.c).
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "../remote/remote.h"
#include "engine.h"

#define PLAN_MASK "********"

static int
plan_show_secret(const struct plan_opts *opts, const char *name)
{
	char *const *v = opts != NULL ? opts->secret_names : NULL;

	for (; v != NULL && *v != NULL; v++) {
		if (strcmp(*v, name) == 0)
			return 1;
	}
	return 0;
}

/* NAME=VALUE, the value shell-quoted when it needs it, or masked. */
static void
plan_show_var(struct buf *b, const struct plan_opts *opts, const char *name,
    const json_t *v)
{
	char *q;

	if (plan_show_secret(opts, name)) {
		buf_printf(b, "%s=%s", name, PLAN_MASK);
		return;
	}
	q = remote_quote_arg(json_is_string(v) ? json_string_value(v) : "");
	buf_printf(b, "%s=%s", name, q);
	free(q);
}

static void
plan_show_argv(struct buf *b, const json_t *argv, int shell)
{
	char **v, *q;
	size_t i, n = json_array_size(argv);

	v = xcalloc(n + 1, sizeof *v);
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(argv, i));

		v[i] = xstrdup(s != NULL ? s : "");
	}
	if (shell && n > 0) {
		q = remote_quote_arg(v[0]);
		buf_printf(b, "sh -c %s", q);
	} else {
		q = remote_quote_argv(v);
		buf_addstr(b, q);
	}
	free(q);
	strv_free(v);
}

static void
plan_show_devices(struct buf *b, const json_t *devs)
{
	size_t i;

	if (devs == NULL) {
		buf_addstr(b, "-");
		return;
	}
	if (json_array_size(devs) == 0)
		buf_addstr(b, "none");
	for (i = 0; i < json_array_size(devs); i++)
		buf_printf(b, "%s%lld", i ? "," : "", (long long)
		    json_integer_value(json_array_get(devs, i)));
}

static void
plan_show_ranks(struct buf *b, const struct plan_host *h)
{
	if (h->nprocs <= 1)
		buf_printf(b, "rank %d", h->rank_first);
	else
		buf_printf(b, "ranks %d-%d", h->rank_first,
		    h->rank_first + h->nprocs - 1);
}

/* The host that showed the same file first, or NULL. */
static const char *
plan_show_file_seen(const struct plan *p, size_t upto, const json_t *file)
{
	const json_t *files, *f;
	size_t k, i;

	for (k = 0; k < upto; k++) {
		files = json_object_get(p->hosts[k].spec, "files");
		for (i = 0; i < json_array_size(files); i++) {
			f = json_array_get(files, i);
			if (json_equal((json_t *)f, (json_t *)file))
				return p->hosts[k].host;
		}
	}
	return NULL;
}

static void
plan_show_file(struct buf *b, const struct plan *p, size_t k,
    const json_t *f)
{
	const char *path = json_string_value(json_object_get(f, "path"));
	const char *text = json_string_value(json_object_get(f, "content"));
	const char *mode = json_string_value(json_object_get(f, "mode"));
	const char *seen = plan_show_file_seen(p, k, f), *s, *e;

	if (text == NULL)
		text = "";
	buf_printf(b, "   file %s (mode %s, %zu bytes)", path != NULL ? path :
	    "?", mode != NULL ? mode : "0600", strlen(text));
	if (seen != NULL) {
		buf_printf(b, ": same as on %s\n", seen);
		return;
	}
	buf_addstr(b, ":\n");
	for (s = text; *s != '\0'; s = *e ? e + 1 : e) {
		if ((e = strchr(s, '\n')) == NULL)
			e = s + strlen(s);
		buf_addstr(b, "     | ");
		buf_add(b, s, (size_t)(e - s));
		buf_addch(b, '\n');
	}
}

static void
plan_show_host(struct buf *b, const struct plan *p, size_t k,
    const struct plan_opts *opts)
{
	const struct plan_host *h = &p->hosts[k];
	const json_t *spec = h->spec, *env, *procs, *pr, *v, *files;
	const char *key;
	char *txt;
	size_t i;

	buf_printf(b, "\n== %s  node %d  ", h->host, h->node_rank);
	plan_show_ranks(b, h);
	buf_printf(b, "  run dir %s\n", h->run_dir != NULL ? h->run_dir : "?");
	if (spec == NULL) {
		buf_printf(b, "   %s\n", h->note != NULL ? h->note :
		    "(no spec)");
		return;
	}
	if ((v = json_object_get(spec, "cwd")) != NULL)
		buf_printf(b, "   cwd: %s\n", json_string_value(v));
	if ((v = json_object_get(spec, "container")) != NULL) {
		txt = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
		buf_printf(b, "   container: %s\n", txt);
		free(txt);
	}
	if ((v = json_object_get(spec, "parser")) != NULL) {
		txt = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
		buf_printf(b, "   parser: %s\n", txt);
		free(txt);
	}
	env = json_object_get(spec, "env");
	if (json_object_size(env) != 0) {
		buf_addstr(b, "   env (all processes):\n");
		json_object_foreach((json_t *)env, key, v) {
			buf_addstr(b, "     ");
			plan_show_var(b, opts, key, v);
			buf_addch(b, '\n');
		}
	}
	procs = json_object_get(spec, "processes");
	for (i = 0; i < json_array_size(procs); i++) {
		pr = json_array_get(procs, i);
		buf_printf(b, "   rank %lld  local %lld  devices ",
		    (long long)json_integer_value(json_object_get(pr, "rank")),
		    (long long)json_integer_value(json_object_get(pr,
		    "local_rank")));
		plan_show_devices(b, json_object_get(pr, "devices"));
		buf_printf(b, "%s\n", json_is_true(json_object_get(pr,
		    "metrics")) ? "  metrics" : "");
		if ((v = json_object_get(pr, "cwd")) != NULL)
			buf_printf(b, "     cwd: %s\n", json_string_value(v));
		env = json_object_get(pr, "env");
		if (json_object_size(env) != 0) {
			buf_addstr(b, "     env:");
			json_object_foreach((json_t *)env, key, v) {
				buf_addch(b, ' ');
				plan_show_var(b, opts, key, v);
			}
			buf_addch(b, '\n');
		}
		buf_addstr(b, "     argv: ");
		plan_show_argv(b, json_object_get(pr, "argv"),
		    json_is_true(json_object_get(pr, "shell")));
		buf_addch(b, '\n');
	}
	files = json_object_get(spec, "files");
	for (i = 0; i < json_array_size(files); i++)
		plan_show_file(b, p, k, json_array_get(files, i));
}

char *
plan_format_text(const struct plan *p, const struct plan_opts *opts)
{
	struct buf b;
	char *const *s;
	size_t k;

	buf_init(&b);
	buf_printf(&b, "task %s, stage %s (run directory name %s), attempt "
	    "%d\n", p->task, p->stage, p->run_task, p->attempt);
	buf_printf(&b, "launcher %s: %zu host%s x %d = world size %d, master "
	    "%s:%d\n", p->launcher, p->nhosts, p->nhosts == 1 ? "" : "s",
	    p->nprocs_per_host, p->world_size, p->master_addr != NULL ?
	    p->master_addr : "?", p->master_port);
	s = opts != NULL ? opts->secret_names : NULL;
	if (s != NULL && *s != NULL) {
		buf_addstr(&b, "secrets (sent to the agent on stdin, never "
		    "written):");
		for (; *s != NULL; s++)
			buf_printf(&b, " %s=%s", *s, PLAN_MASK);
		buf_addch(&b, '\n');
	}
	for (k = 0; k < p->nhosts; k++)
		plan_show_host(&b, p, k, opts);
	return buf_steal(&b);
}

/* A copy of env with secret-named values masked. */
static void
plan_json_mask_env(json_t *env, const struct plan_opts *opts)
{
	const char *key;
	json_t *v;

	json_object_foreach(env, key, v) {
		if (plan_show_secret(opts, key))
			json_object_set_new(env, key, json_string(PLAN_MASK));
	}
}

static json_t *
plan_json_spec(const json_t *spec, const struct plan_opts *opts)
{
	json_t *copy, *procs;
	size_t i;

	if (spec == NULL)
		return json_null();
	copy = json_deep_copy(spec);
	plan_json_mask_env(json_object_get(copy, "env"), opts);
	procs = json_object_get(copy, "processes");
	for (i = 0; i < json_array_size(procs); i++)
		plan_json_mask_env(json_object_get(json_array_get(procs, i),
		    "env"), opts);
	return copy;
}

json_t *
plan_to_json(const struct plan *p, const struct plan_opts *opts)
{
	json_t *root, *hosts, *h, *secrets;
	char *const *s;
	char *m;
	size_t k;

	secrets = json_array();
	for (s = opts != NULL ? opts->secret_names : NULL; s != NULL &&
	    *s != NULL; s++) {
		xasprintf(&m, "%s=%s", *s, PLAN_MASK);
		json_array_append_new(secrets, json_string(m));
		free(m);
	}
	hosts = json_array();
	for (k = 0; k < p->nhosts; k++) {
		const struct plan_host *ph = &p->hosts[k];

		h = json_pack("{s:s, s:i, s:i, s:i, s:s?, s:o}", "host",
		    ph->host, "node_rank", ph->node_rank, "rank_first",
		    ph->rank_first, "nprocs", ph->nprocs, "run_dir",
		    ph->run_dir, "spec", plan_json_spec(ph->spec, opts));
		if (ph->note != NULL)
			json_object_set_new(h, "note", json_string(ph->note));
		json_array_append_new(hosts, h);
	}
	root = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s?, s:i, "
	    "s:o, s:o}", "task", p->task, "stage", p->stage, "run_task",
	    p->run_task, "launcher", p->launcher, "attempt", p->attempt,
	    "procs_per_host", p->nprocs_per_host, "world_size", p->world_size,
	    "master_addr", p->master_addr, "master_port", p->master_port,
	    "secrets", secrets, "hosts", hosts);
	if (p->rank_table != NULL)
		json_object_set(root, "rank_table", p->rank_table);
	return root;
}

char *
plan_preview(const struct config *cfg, size_t stage, int json, char **cause)
{
	struct plan_opts po;
	struct plan *p;
	json_t *secrets = NULL, *v, *j;
	const char *k;
	char **names = NULL, *text = NULL;
	size_t n = 0;

	memset(&po, 0, sizeof po);
	po.attempt = 1;
	/* Only the names of the secrets are shown. */
	if (cfg->secrets_file != NULL &&
	    (secrets = secrets_load(cfg->secrets_file, cause)) == NULL)
		return NULL;
	if (secrets != NULL) {
		names = xcalloc(json_object_size(secrets) + 1, sizeof *names);
		json_object_foreach(secrets, k, v)
			names[n++] = (char *)k;
		po.secret_names = names;
	}
	if ((p = plan_build(cfg, stage, &po, cause)) != NULL) {
		if (json) {
			char *dump;

			j = plan_to_json(p, &po);
			dump = json_dumps(j, JSON_INDENT(2));
			json_decref(j);
			xasprintf(&text, "%s\n", dump);
			free(dump);
		} else
			text = plan_format_text(p, &po);
		plan_free(p);
	}
	free(names);
	json_decref(secrets);
	return text;
}
