/*
 * cfgtask.c - the task: section of a config (docs/configs.md): name,
 * paths, the secrets file check, restart, and the stages. A task without
 * stages: has one stage, "main", made from the task's own keys; with
 * stages:, each stage starts from the task's keys and sets its own (env is
 * merged: cluster, then task, then stage; the rest replaces).
 *
 * Commands and other strings are stored exactly as written, ${...} not
 * expanded; the placeholders are only checked here (cfgwalk.c) and expanded
 * by the planner.
 */
#include "cfgwalk.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../agent/agent.h"

static const char *const task_keys[] = {
	"name", "command", "cwd", "dataset", "checkpoint_dir", "secrets_file",
	"launcher", "parser", "metrics_rank", "env", "resume_args", "stall",
	"compile_grace_s", "stop_grace_s", "restart", "stages", NULL
};

static const char *const stage_keys[] = {
	"name", "command", "cwd", "launcher", "parser", "metrics_rank", "env",
	"resume_args", "stall", "compile_grace_s", "stop_grace_s", NULL
};

/* In enum cfg_launcher_type order. */
static const char *const launcher_types[] = { "plain", "torchrun",
	"accelerate", "hccl", "msrun", "mpirun", NULL };

#define LT(t)		(1u << (t))
#define LT_ALL		0x3fu

static const struct {
	const char *key;
	unsigned types;
} launcher_opts[] = {
	{ "type", LT_ALL },
	{ "program", LT(LAUNCHER_TORCHRUN) | LT(LAUNCHER_ACCELERATE) |
	    LT(LAUNCHER_MSRUN) | LT(LAUNCHER_MPIRUN) },
	{ "master_addr", LT_ALL },
	{ "master_port", LT_ALL },
	{ "procs_per_host", LT_ALL },
	{ "rdzv", LT(LAUNCHER_TORCHRUN) },
	{ "config_file", LT(LAUNCHER_ACCELERATE) },
	{ "config", LT(LAUNCHER_ACCELERATE) },
	{ "rank_table_dir", LT(LAUNCHER_HCCL) },
	{ "rank_table_pattern", LT(LAUNCHER_HCCL) },
	{ "slots_per_host", LT(LAUNCHER_MPIRUN) },
};

static const char *const launcher_keys[] = { "type", "program",
	"master_addr", "master_port", "procs_per_host", "rdzv", "config_file",
	"config", "rank_table_dir", "rank_table_pattern", "slots_per_host",
	NULL };

static const char *const parser_formats[] = { "mindone", "mindspore",
	"kohya", "diffusers", "jsonl", "regex", "auto", NULL };
static const char *const parser_keys[] = { "format", "mirror", "bar_desc",
	"patterns", NULL };
static const char *const parser_mirrors[] = { "errors", "all", "none",
	NULL };

#define TASK_DEFAULT_PATTERN	"hccl_8p_01234567_{host}.json"
#define TASK_MAX_STAGES		64
/* What the stages together may copy of the task's settings (each stage
 * owns its strings): a bound on memory for hostile files, far above any
 * real pipeline. */
#define TASK_MAX_COPIED		(64 * 1024 * 1024)

static int
task_is_text(const struct ynode *n)
{
	return n->kind == YNODE_SCALAR && n->type != YS_NULL &&
	    n->type != YS_BOOL;
}

/* 1-128 of [A-Za-z0-9_.-]. */
static int
task_name(struct cfg_walk *w, const struct ynode *n, const char *path,
    char **out)
{
	const char *s;
	char *v = NULL;

	if (cfgwalk_string(w, n, path, &v) != 0)
		return -1;
	for (s = v; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		    *s == '-'))
			break;
	}
	/* It names a folder on every host: never "." or "..". */
	if (*s != '\0' || *v == '\0' || strlen(v) > 128 ||
	    strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
		cfgwalk_expected(w, n, path, "a name of 1 to 128 letters, "
		    "digits, '_', '.' or '-' (not . or ..)");
		free(v);
		return -1;
	}
	free(*out);
	*out = v;
	return 0;
}

/* ---- stages: copying and freeing -------------------------------------------- */

static void
launcher_clear(struct cfg_launcher *l)
{
	free(l->program);
	free(l->master_addr);
	free(l->rdzv);
	free(l->accelerate_config_text);
	json_decref(l->accelerate_config);
	free(l->rank_table_dir);
	free(l->rank_table_pattern);
	memset(l, 0, sizeof *l);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
launcher_copy(struct cfg_launcher *dst, const struct cfg_launcher *src)
{
	*dst = *src;
	dst->program = dup_or_null(src->program);
	dst->master_addr = dup_or_null(src->master_addr);
	dst->rdzv = dup_or_null(src->rdzv);
	dst->accelerate_config_text = dup_or_null(src->accelerate_config_text);
	/* Read-only once loaded: stages share it. */
	dst->accelerate_config = json_incref(src->accelerate_config);
	dst->rank_table_dir = dup_or_null(src->rank_table_dir);
	dst->rank_table_pattern = dup_or_null(src->rank_table_pattern);
}

void
cfgtask_stage_clear(struct cfg_stage *st)
{
	free(st->name);
	strv_free(st->command);
	free(st->cwd);
	launcher_clear(&st->launcher);
	json_decref(st->parser);
	cfgwalk_env_free(&st->env);
	strv_free(st->resume_args);
	memset(st, 0, sizeof *st);
}

static void
stage_copy(struct cfg_stage *dst, const struct cfg_stage *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->command = src->command != NULL ? strv_dup(src->command) : NULL;
	dst->cwd = dup_or_null(src->cwd);
	launcher_copy(&dst->launcher, &src->launcher);
	dst->parser = json_incref(src->parser);
	memset(&dst->env, 0, sizeof dst->env);
	cfgwalk_env_merge(&dst->env, &src->env);
	dst->resume_args = strv_dup(src->resume_args);
}

/* ---- launcher ---------------------------------------------------------------- */

/* The accelerate config file: its text, and its keys as JSON. */
static void
launcher_accelerate_file(struct cfg_walk *w, const struct ynode *n,
    const char *path, struct cfg_launcher *l)
{
	struct ynode *root;
	struct stat st;
	const char *file;
	char *resolved, *text = NULL, *inner = NULL, *q;
	json_t *j;
	int saved;

	if (!task_is_text(n)) {
		cfgwalk_expected(w, n, path, "the path of an accelerate config "
		    "file");
		return;
	}
	resolved = cfgwalk_resolve(w, &n->mark, n->text);
	errno = 0;
	if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) {
		saved = errno;
		q = yamltree_quote(n->text, n->len);
		cfgwalk_error(w, &n->mark, path, "cannot read %s (%s): %s; the "
		    "path is relative to the file that names it", q, resolved,
		    saved == 0 ? "not a regular file" : strerror(saved));
		free(q);
		free(resolved);
		return;
	}
	file = cfgwalk_add_file(w, resolved);
	free(resolved);
	if (yamltree_load_file(w->tree, file, file, &root, &text,
	    &inner) != 0) {
		cfgwalk_error_lines(w, inner);
		free(inner);
		free(text);
		return;
	}
	if (root != NULL && root->kind != YNODE_MAPPING) {
		cfgwalk_expected(w, root, path, "an accelerate config (a "
		    "mapping)");
		free(text);
		return;
	}
	j = root != NULL ? cfgwalk_json(w, root, path) : json_object();
	if (j == NULL) {
		free(text);
		return;
	}
	free(l->accelerate_config_text);
	l->accelerate_config_text = text;
	if (l->accelerate_config != NULL) {
		/* Inline keys (already read) win over the file's. */
		json_object_update(j, l->accelerate_config);
		json_decref(l->accelerate_config);
	}
	l->accelerate_config = j;
}

static void
launcher_option(struct cfg_walk *w, const struct ynode *v, const char *key,
    const char *path, struct cfg_launcher *l)
{
	static const char *const rdzvs[] = { "c10d", NULL };
	char *s = NULL, *abs, *rel, *cwd;
	json_t *j;
	int idx;

	if (strcmp(key, "program") == 0)
		cfgwalk_string(w, v, path, &l->program);
	else if (strcmp(key, "master_addr") == 0)
		cfgwalk_string(w, v, path, &l->master_addr);
	else if (strcmp(key, "master_port") == 0)
		cfgwalk_int32(w, v, path, 1, 65535, &l->master_port);
	else if (strcmp(key, "procs_per_host") == 0)
		cfgwalk_int32(w, v, path, 1, 64, &l->procs_per_host);
	else if (strcmp(key, "slots_per_host") == 0)
		cfgwalk_int32(w, v, path, 1, 1024, &l->slots_per_host);
	else if (strcmp(key, "rdzv") == 0) {
		if (cfgwalk_choice(w, v, path, rdzvs, &idx) == 0) {
			free(l->rdzv);
			l->rdzv = xstrdup(rdzvs[idx]);
		}
	} else if (strcmp(key, "config") == 0) {
		if (cfgwalk_mapping(w, v, path) != 0 ||
		    (j = cfgwalk_json(w, v, path)) == NULL)
			return;
		if (l->accelerate_config != NULL) {
			json_object_update(l->accelerate_config, j);
			json_decref(j);
		} else
			l->accelerate_config = j;
	} else if (strcmp(key, "config_file") == 0)
		launcher_accelerate_file(w, v, path, l);
	else if (strcmp(key, "rank_table_dir") == 0) {
		if (cfgwalk_string(w, v, path, &s) != 0)
			return;
		/* Relative to the config file, then made absolute. */
		rel = cfgwalk_resolve(w, &v->mark, s);
		free(s);
		if (rel[0] != '/' && (cwd = getcwd(NULL, 0)) != NULL) {
			xasprintf(&abs, "%s/%s", cwd, rel);
			free(cwd);
			free(rel);
		} else
			abs = rel;
		free(l->rank_table_dir);
		l->rank_table_dir = abs;
	} else if (strcmp(key, "rank_table_pattern") == 0) {
		if (cfgwalk_string(w, v, path, &s) != 0)
			return;
		if (strstr(s, "{host}") == NULL) {
			cfgwalk_expected(w, v, path, "a file name pattern "
			    "containing {host}");
			free(s);
			return;
		}
		free(l->rank_table_pattern);
		l->rank_table_pattern = s;
	}
}

/* "launcher torchrun" or "launchers torchrun, accelerate, msrun, mpirun". */
static char *
launcher_users(unsigned types)
{
	struct buf b;
	char *s;
	int t, n = 0;

	buf_init(&b);
	for (t = 0; launcher_types[t] != NULL; t++) {
		if (types & LT(t))
			buf_printf(&b, "%s%s", n++ ? ", " : "",
			    launcher_types[t]);
	}
	xasprintf(&s, "launcher%s %s", n > 1 ? "s" : "", buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* One launcher key of map, checked against the launcher type. */
static void
launcher_key(struct cfg_walk *w, const struct ynode *map, size_t i,
    const char *path, int type, struct cfg_launcher *l)
{
	const char *key = map->keys[i]->text, *sub = cfgwalk_key(w, path, key);
	char *users;
	size_t o;

	for (o = 0; o < nitems(launcher_opts); o++) {
		if (strcmp(launcher_opts[o].key, key) != 0)
			continue;
		if (!(launcher_opts[o].types & LT(type))) {
			users = launcher_users(launcher_opts[o].types);
			cfgwalk_error(w, &map->keys[i]->mark, sub, "only used "
			    "by %s", users);
			free(users);
		} else if (strcmp(key, "type") != 0)
			launcher_option(w, map->items[i], key, sub, l);
		return;
	}
	/* Unknown keys were reported by cfgwalk_check_keys. */
}

/* Parses a launcher into *out (replacing it) when it is good. */
static void
task_launcher(struct cfg_walk *w, const struct ynode *n, const char *path,
    struct cfg_launcher *out)
{
	struct cfg_launcher l;
	const struct ynode *tv;
	size_t before = w->nerrs, i;
	int type = LAUNCHER_PLAIN;

	memset(&l, 0, sizeof l);
	l.mark = n->mark;
	if (task_is_text(n)) {
		if (cfgwalk_choice(w, n, path, launcher_types, &type) != 0)
			return;
	} else if (n->kind == YNODE_MAPPING) {
		cfgwalk_check_keys(w, n, path, launcher_keys);
		if ((tv = yamltree_map_get(n, "type", NULL)) != NULL &&
		    cfgwalk_choice(w, tv, cfgwalk_key(w, path, "type"),
		    launcher_types, &type) != 0)
			return;
		/* config first: config_file's keys go under the inline ones. */
		for (i = 0; i < n->n; i++) {
			if (strcmp(n->keys[i]->text, "config") == 0)
				launcher_key(w, n, i, path, type, &l);
		}
		for (i = 0; i < n->n; i++) {
			if (strcmp(n->keys[i]->text, "config") != 0)
				launcher_key(w, n, i, path, type, &l);
		}
	} else {
		cfgwalk_expected(w, n, path, "a launcher type (plain, "
		    "torchrun, accelerate, hccl, msrun, mpirun) or a mapping "
		    "with type:");
		return;
	}
	l.type = (enum cfg_launcher_type)type;
	if (l.type == LAUNCHER_HCCL && l.rank_table_pattern == NULL)
		l.rank_table_pattern = xstrdup(TASK_DEFAULT_PATTERN);
	if (w->nerrs != before) {
		launcher_clear(&l);
		return;
	}
	launcher_clear(out);
	*out = l;
}

/* ---- parser ------------------------------------------------------------------ */

static void
parser_patterns(struct cfg_walk *w, const struct ynode *n, const char *path,
    json_t *obj)
{
	static const char *const keys[] = { "regex", "fields", NULL };
	const struct ynode *item, *v;
	const char *ipath;
	char **fields = NULL;
	json_t *arr, *pat, *fa;
	size_t i, f;

	if (n->kind != YNODE_SEQUENCE || n->n == 0) {
		cfgwalk_expected(w, n, path, "a non-empty list of {regex, "
		    "fields}");
		return;
	}
	arr = json_array();
	for (i = 0; i < n->n; i++) {
		item = n->items[i];
		ipath = cfgwalk_index(w, path, i);
		if (cfgwalk_mapping(w, item, ipath) != 0)
			continue;
		cfgwalk_check_keys(w, item, ipath, keys);
		pat = json_object();
		if ((v = yamltree_map_get(item, "regex", NULL)) == NULL)
			cfgwalk_missing(w, item, ipath, "regex");
		else if (!task_is_text(v))
			cfgwalk_expected(w, v, cfgwalk_key(w, ipath, "regex"),
			    "a regular expression (POSIX ERE)");
		else
			json_object_set_new(pat, "regex",
			    json_stringn(v->text, v->len));
		if ((v = yamltree_map_get(item, "fields", NULL)) == NULL)
			cfgwalk_missing(w, item, ipath, "fields");
		else if (cfgwalk_strv(w, v, cfgwalk_key(w, ipath, "fields"), 1,
		    0, &fields) == 0) {
			fa = json_array();
			for (f = 0; fields[f] != NULL; f++)
				json_array_append_new(fa,
				    json_string(fields[f]));
			json_object_set_new(pat, "fields", fa);
			strv_free(fields);
			fields = NULL;
		}
		json_array_append_new(arr, pat);
	}
	json_object_set_new(obj, "patterns", arr);
}

/* The agent's parser object from a format name or a mapping; NULL after
 * reporting. */
static json_t *
task_parser(struct cfg_walk *w, const struct ynode *n, const char *path)
{
	const struct ynode *v;
	struct ynode *pkey;
	struct parser *p;
	size_t before = w->nerrs;
	char *cause = NULL, *s = NULL;
	json_t *obj = json_object();
	const char *format = "auto";
	int idx;

	if (task_is_text(n)) {
		if (cfgwalk_choice(w, n, path, parser_formats, &idx) != 0)
			goto fail;
		format = parser_formats[idx];
	} else if (n->kind == YNODE_MAPPING) {
		cfgwalk_check_keys(w, n, path, parser_keys);
		if ((v = yamltree_map_get(n, "format", NULL)) != NULL) {
			if (cfgwalk_choice(w, v, cfgwalk_key(w, path, "format"),
			    parser_formats, &idx) != 0)
				goto fail;
			format = parser_formats[idx];
		}
		if ((v = yamltree_map_get(n, "mirror", NULL)) != NULL &&
		    cfgwalk_choice(w, v, cfgwalk_key(w, path, "mirror"),
		    parser_mirrors, &idx) == 0)
			json_object_set_new(obj, "mirror",
			    json_string(parser_mirrors[idx]));
		if ((v = yamltree_map_get(n, "bar_desc", NULL)) != NULL &&
		    cfgwalk_string(w, v, cfgwalk_key(w, path, "bar_desc"),
		    &s) == 0) {
			json_object_set_new(obj, "bar_desc", json_string(s));
			free(s);
		}
		if ((v = yamltree_map_get(n, "patterns", &pkey)) != NULL) {
			if (strcmp(format, "regex") != 0) {
				cfgwalk_error(w, &pkey->mark,
				    cfgwalk_key(w, path, "patterns"), "only "
				    "used by format regex");
			} else
				parser_patterns(w, v,
				    cfgwalk_key(w, path, "patterns"), obj);
		}
	} else {
		cfgwalk_expected(w, n, path, "a parser format (auto, mindone, "
		    "...) or a mapping with format:");
		goto fail;
	}
	if (!parser_format_valid(format)) {
		cfgwalk_expected(w, n, path, "a format the agent knows");
		goto fail;
	}
	json_object_set_new(obj, "format", json_string(format));
	if (w->nerrs != before)
		goto fail;
	/* The agent's own checks (regex syntax, fields per group, ...). */
	if ((p = parser_new(format, obj, &cause)) == NULL) {
		if (strncmp(cause, "parser", 6) == 0)
			cfgwalk_error(w, &n->mark, NULL, "%s%s", path,
			    cause + 6);
		else
			cfgwalk_error(w, &n->mark, path, "%s", cause);
		free(cause);
		goto fail;
	}
	parser_free(p);
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* ---- the keys a stage can set --------------------------------------------- */

static void
stage_command(struct cfg_walk *w, const struct ynode *n, const char *path,
    struct cfg_stage *st)
{
	char **v = NULL;

	if (task_is_text(n)) {
		if (n->len == 0) {
			cfgwalk_expected(w, n, path, "a command (a list of "
			    "strings, or one string for sh -c)");
			return;
		}
		if (cfgwalk_placeholders(w, n, path, n->text) != 0)
			return;
		v = xcalloc(2, sizeof *v);
		v[0] = xstrdup(n->text);
		st->shell = 1;
	} else if (n->kind == YNODE_SEQUENCE) {
		if (cfgwalk_strv(w, n, path, 1, 1, &v) != 0)
			return;
		st->shell = 0;
	} else {
		cfgwalk_expected(w, n, path, "a command (a list of strings, or "
		    "one string for sh -c)");
		return;
	}
	strv_free(st->command);
	st->command = v;
	st->command_mark = n->mark;
}

static void
stage_cwd(struct cfg_walk *w, const struct ynode *n, const char *path,
    struct cfg_stage *st)
{
	static const char *const starts[] = { "${run_dir}", "${dataset}",
	    "${checkpoint_dir}", NULL };
	const char *const *p;
	char *s = NULL;

	if (cfgwalk_string(w, n, path, &s) != 0)
		return;
	for (p = starts; *p != NULL; p++) {
		if (strncmp(s, *p, strlen(*p)) == 0)
			break;
	}
	if (s[0] != '/' && *p == NULL) {
		cfgwalk_expected(w, n, path, "an absolute path (or one starting "
		    "with ${run_dir}, ${dataset} or ${checkpoint_dir})");
		free(s);
		return;
	}
	if (cfgwalk_placeholders(w, n, path, s) != 0) {
		free(s);
		return;
	}
	free(st->cwd);
	st->cwd = s;
}

static void
stage_stall(struct cfg_walk *w, const struct ynode *n, const char *path,
    struct cfg_stage *st)
{
	static const char *const keys[] = { "factor", "floor_s", NULL };
	const struct ynode *v;

	if (cfgwalk_mapping(w, n, path) != 0)
		return;
	cfgwalk_check_keys(w, n, path, keys);
	if ((v = yamltree_map_get(n, "factor", NULL)) != NULL)
		cfgwalk_number(w, v, cfgwalk_key(w, path, "factor"), 1,
		    &st->stall.factor);
	if ((v = yamltree_map_get(n, "floor_s", NULL)) != NULL)
		cfgwalk_int32(w, v, cfgwalk_key(w, path, "floor_s"), 10,
		    INT_MAX, &st->stall.floor_s);
}

static void
stage_metrics_rank(struct cfg_walk *w, const struct ynode *n,
    const char *path, struct cfg_stage *st)
{
	if (n->kind == YNODE_SCALAR && n->type == YS_INT && n->integer >= 0 &&
	    n->integer <= INT_MAX)
		st->metrics_rank = (int)n->integer;
	else if (task_is_text(n) && strcmp(n->text, "all") == 0)
		st->metrics_rank = -1;
	else
		cfgwalk_expected(w, n, path, "a local rank >= 0 or \"all\"");
}

/* The keys of map (the task's or a stage's) that a stage can set. */
static void
stage_fields(struct cfg_walk *w, const struct ynode *map, const char *path,
    struct cfg_stage *st)
{
	const struct ynode *v;
	json_t *j;

	if ((v = yamltree_map_get(map, "command", NULL)) != NULL)
		stage_command(w, v, cfgwalk_key(w, path, "command"), st);
	if ((v = yamltree_map_get(map, "cwd", NULL)) != NULL)
		stage_cwd(w, v, cfgwalk_key(w, path, "cwd"), st);
	if ((v = yamltree_map_get(map, "launcher", NULL)) != NULL)
		task_launcher(w, v, cfgwalk_key(w, path, "launcher"),
		    &st->launcher);
	if ((v = yamltree_map_get(map, "parser", NULL)) != NULL &&
	    (j = task_parser(w, v, cfgwalk_key(w, path, "parser"))) != NULL) {
		json_decref(st->parser);
		st->parser = j;
	}
	if ((v = yamltree_map_get(map, "metrics_rank", NULL)) != NULL)
		stage_metrics_rank(w, v, cfgwalk_key(w, path, "metrics_rank"),
		    st);
	if ((v = yamltree_map_get(map, "env", NULL)) != NULL)
		cfgwalk_env(w, v, cfgwalk_key(w, path, "env"), &st->env);
	if ((v = yamltree_map_get(map, "resume_args", NULL)) != NULL)
		cfgwalk_strv(w, v, cfgwalk_key(w, path, "resume_args"), 0, 1,
		    &st->resume_args);
	if ((v = yamltree_map_get(map, "stall", NULL)) != NULL)
		stage_stall(w, v, cfgwalk_key(w, path, "stall"), st);
	if ((v = yamltree_map_get(map, "compile_grace_s", NULL)) != NULL)
		cfgwalk_int32(w, v, cfgwalk_key(w, path, "compile_grace_s"), 0,
		    INT_MAX, &st->stall.compile_grace_s);
	if ((v = yamltree_map_get(map, "stop_grace_s", NULL)) != NULL)
		cfgwalk_int32(w, v, cfgwalk_key(w, path, "stop_grace_s"), 1,
		    3600, &st->stop_grace_s);
}

/* ---- the task ------------------------------------------------------------- */

void
cfgtask_walk_paths(struct cfg_walk *w, const struct ynode *task)
{
	struct config *cfg = w->cfg;
	const struct ynode *v;

	if (task->kind != YNODE_MAPPING)
		return;
	if ((v = yamltree_map_get(task, "dataset", NULL)) != NULL &&
	    cfgwalk_string(w, v, "task.dataset", &cfg->dataset) == 0)
		w->dataset = cfg->dataset;
	if ((v = yamltree_map_get(task, "checkpoint_dir", NULL)) != NULL &&
	    cfgwalk_string(w, v, "task.checkpoint_dir",
	    &cfg->checkpoint_dir) == 0)
		w->checkpoint_dir = cfg->checkpoint_dir;
}

/* The secrets file must be a regular file of ours, mode 0600 or stricter;
 * its contents are not read here. */
static void
task_secrets(struct cfg_walk *w, const struct ynode *n)
{
	const char *path = "task.secrets_file";
	struct stat st;
	char *resolved, *q;

	if (!task_is_text(n)) {
		cfgwalk_expected(w, n, path, "the path of a secrets file");
		return;
	}
	resolved = cfgwalk_resolve(w, &n->mark, n->text);
	q = yamltree_quote(resolved, strlen(resolved));
	if (stat(resolved, &st) != 0)
		cfgwalk_error(w, &n->mark, path, "cannot use %s: %s", q,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode))
		cfgwalk_error(w, &n->mark, path, "%s is not a regular file", q);
	else if (st.st_uid != getuid())
		cfgwalk_error(w, &n->mark, path, "%s is owned by uid %ld, not by "
		    "you (uid %ld); secrets must be your own file", q,
		    (long)st.st_uid, (long)getuid());
	else if ((st.st_mode & 077) != 0)
		cfgwalk_error(w, &n->mark, path, "%s has mode %04o; it must be "
		    "0600 or stricter (chmod 600 %s)", q,
		    (unsigned)(st.st_mode & 07777), resolved);
	else {
		free(w->cfg->secrets_file);
		w->cfg->secrets_file = resolved;
		resolved = NULL;
	}
	free(q);
	free(resolved);
}

static void
task_restart(struct cfg_walk *w, const struct ynode *n)
{
	static const char *const keys[] = { "max", "backoff_s", "auto", NULL };
	const struct ynode *v;

	if (cfgwalk_mapping(w, n, "task.restart") != 0)
		return;
	cfgwalk_check_keys(w, n, "task.restart", keys);
	if ((v = yamltree_map_get(n, "max", NULL)) != NULL)
		cfgwalk_int32(w, v, "task.restart.max", 0, 100,
		    &w->cfg->restart_max);
	if ((v = yamltree_map_get(n, "backoff_s", NULL)) != NULL)
		cfgwalk_int32(w, v, "task.restart.backoff_s", 0, 3600,
		    &w->cfg->restart_backoff_s);
	if ((v = yamltree_map_get(n, "auto", NULL)) != NULL)
		cfgwalk_bool(w, v, "task.restart.auto", &w->cfg->restart_auto);
}

static void
stage_defaults(struct cfg_walk *w, struct cfg_stage *st)
{
	memset(st, 0, sizeof *st);
	st->launcher.type = LAUNCHER_PLAIN;
	st->launcher.mark.file = w->cfg->files[0];
	st->parser = json_pack("{s:s}", "format", "auto");
	cfgwalk_env_merge(&st->env, &w->cfg->cluster.env);
	st->resume_args = strv_dup(NULL);
	st->stall.factor = 10;
	st->stall.floor_s = 600;
	st->stall.compile_grace_s = 1800;
	st->stop_grace_s = 30;
}

/* Bytes a stage copies from the task (strings and their pointers). */
static size_t
stage_weight(const struct cfg_stage *st)
{
	size_t n = 0, i;

	for (i = 0; st->command != NULL && st->command[i] != NULL; i++)
		n += strlen(st->command[i]) + 1 + sizeof(char *);
	for (i = 0; st->resume_args != NULL && st->resume_args[i] != NULL; i++)
		n += strlen(st->resume_args[i]) + 1 + sizeof(char *);
	for (i = 0; i < st->env.n; i++)
		n += strlen(st->env.v[i].key) + strlen(st->env.v[i].value) + 2 +
		    sizeof st->env.v[i];
	if (st->cwd != NULL)
		n += strlen(st->cwd) + 1;
	if (st->launcher.accelerate_config_text != NULL)
		n += strlen(st->launcher.accelerate_config_text) + 1;
	return n;
}

static void
task_stages(struct cfg_walk *w, const struct ynode *list,
    const struct cfg_stage *tmpl, int task_has_command)
{
	struct config *cfg = w->cfg;
	const struct ynode *item, *v, **names;
	struct cfg_stage *st;
	const char *path;
	size_t i, j, weight;

	if (list->kind != YNODE_SEQUENCE || list->n == 0) {
		cfgwalk_expected(w, list, "task.stages", "a non-empty list of "
		    "stages (mappings with name:)");
		return;
	}
	if (list->n > TASK_MAX_STAGES) {
		cfgwalk_error(w, &list->mark, "task.stages", "%zu stages; at "
		    "most %d are supported", list->n, TASK_MAX_STAGES);
		return;
	}
	weight = stage_weight(tmpl);
	if (weight > TASK_MAX_COPIED / list->n) {
		cfgwalk_error(w, &list->mark, "task.stages", "%zu stages would "
		    "each copy %zu bytes of the task's settings (over %d MiB "
		    "in all); set less at the task level", list->n, weight,
		    TASK_MAX_COPIED / (1024 * 1024));
		return;
	}
	names = xcalloc(list->n, sizeof *names);
	cfg->stages = xcalloc(list->n, sizeof *cfg->stages);
	for (i = 0; i < list->n; i++) {
		item = list->items[i];
		path = cfgwalk_index(w, "task.stages", i);
		if (cfgwalk_mapping(w, item, path) != 0)
			continue;
		st = &cfg->stages[cfg->nstages++];
		stage_copy(st, tmpl);
		st->mark = item->mark;
		cfgwalk_check_keys(w, item, path, stage_keys);
		if ((v = yamltree_map_get(item, "name", NULL)) == NULL)
			cfgwalk_missing(w, item, path, "name");
		else if (task_name(w, v, cfgwalk_key(w, path, "name"),
		    &st->name) == 0) {
			names[i] = v;
			for (j = 0; j < i; j++) {
				if (names[j] == NULL ||
				    strcmp(names[j]->text, v->text) != 0)
					continue;
				cfgwalk_error(w, &v->mark, cfgwalk_key(w, path,
				    "name"), "duplicate stage name \"%s\" "
				    "(first at %s:%d:%d); stage names must be "
				    "unique", v->text, names[j]->mark.file,
				    names[j]->mark.line, names[j]->mark.col);
				break;
			}
		}
		stage_fields(w, item, path, st);
		/* A command that was there but wrong is reported already. */
		if (st->command == NULL && !task_has_command &&
		    yamltree_map_get(item, "command", NULL) == NULL)
			cfgwalk_error(w, &item->mark, path, "missing required "
			    "key \"command\" (the task sets none to inherit)");
	}
	free(names);
}

void
cfgtask_walk(struct cfg_walk *w, const struct ynode *task)
{
	struct config *cfg = w->cfg;
	struct cfg_stage tmpl;
	const struct ynode *v, *stages;

	if (cfgwalk_mapping(w, task, "task") != 0)
		return;
	cfgwalk_check_keys(w, task, "task", task_keys);
	if ((v = yamltree_map_get(task, "name", NULL)) == NULL)
		cfgwalk_missing(w, task, "task", "name");
	else
		task_name(w, v, "task.name", &cfg->task);
	if ((v = yamltree_map_get(task, "secrets_file", NULL)) != NULL)
		task_secrets(w, v);
	if ((v = yamltree_map_get(task, "restart", NULL)) != NULL)
		task_restart(w, v);

	stage_defaults(w, &tmpl);
	tmpl.mark = task->mark;
	stage_fields(w, task, "task", &tmpl);
	if ((stages = yamltree_map_get(task, "stages", NULL)) != NULL)
		task_stages(w, stages, &tmpl,
		    yamltree_map_get(task, "command", NULL) != NULL);
	else {
		if (yamltree_map_get(task, "command", NULL) == NULL)
			cfgwalk_missing(w, task, "task", "command");
		cfg->stages = xcalloc(1, sizeof *cfg->stages);
		cfg->stages[0] = tmpl;
		cfg->stages[0].name = xstrdup("main");
		cfg->nstages = 1;
		return;
	}
	cfgtask_stage_clear(&tmpl);
}
