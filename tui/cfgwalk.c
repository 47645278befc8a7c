/*
 * cfgwalk.c - the pieces every part of the config schema walk uses
 * (cfgwalk.h): the error list, typed getters with "expected WHAT, found
 * WHAT" messages, unknown keys with a suggestion, YAML to JSON, environment
 * maps, ${placeholder} checks and paths relative to the file that holds
 * them. The schema itself is in config.c and cfgtask.c.
 */
#include "cfgwalk.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Names the loader accepts in ${...}; the planner expands them. */
static const char *const cw_placeholders[] = {
	"task", "stage", "attempt", "host", "node_rank", "nnodes", "rank",
	"local_rank", "world_size", "run_dir", "dataset", "checkpoint_dir",
	"master_addr", "master_port", NULL
};

/* ---- errors ---------------------------------------------------------------- */

void
cfgwalk_init(struct cfg_walk *w, struct config *cfg)
{
	memset(w, 0, sizeof *w);
	w->cfg = cfg;
	buf_init(&w->errs);
}

void
cfgwalk_clear(struct cfg_walk *w)
{
	size_t i;

	for (i = 0; i < w->npool; i++)
		free(w->pool[i]);
	free(w->pool);
	w->pool = NULL;
	w->npool = w->cappool = 0;
	buf_free(&w->errs);
}

char *
cfgwalk_cause(struct cfg_walk *w)
{
	if (w->nerrs == 0)
		return NULL;
	if (w->nerrs > CFGWALK_MAX_SHOWN)
		buf_printf(&w->errs, "\n(%zu more errors not shown)",
		    w->nerrs - CFGWALK_MAX_SHOWN);
	return xstrdup(buf_cstr(&w->errs));
}

static void
cw_line(struct cfg_walk *w, const char *line)
{
	if (++w->nerrs > CFGWALK_MAX_SHOWN)
		return;
	if (w->errs.len > 0)
		buf_addch(&w->errs, '\n');
	buf_addstr(&w->errs, line);
}

void
cfgwalk_error(struct cfg_walk *w, const struct cfg_mark *mark,
    const char *path, const char *fmt, ...)
{
	va_list ap;
	char *msg, *line;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&line, "%s:%d:%d: %s%s%s", mark->file != NULL ?
	    mark->file : "(config)", mark->line, mark->col,
	    path != NULL && *path != '\0' ? path : "",
	    path != NULL && *path != '\0' ? ": " : "", msg);
	cw_line(w, line);
	free(line);
	free(msg);
}

void
cfgwalk_error_lines(struct cfg_walk *w, const char *lines)
{
	const char *nl;
	char *one;

	while (*lines != '\0') {
		nl = strchr(lines, '\n');
		one = nl != NULL ? xstrndup(lines, (size_t)(nl - lines)) :
		    xstrdup(lines);
		cw_line(w, one);
		free(one);
		if (nl == NULL)
			break;
		lines = nl + 1;
	}
}

void
cfgwalk_expected(struct cfg_walk *w, const struct ynode *n,
    const char *path, const char *what)
{
	char *found = yamltree_describe(n);

	cfgwalk_error(w, &n->mark, path, "expected %s, found %s", what, found);
	free(found);
}

void
cfgwalk_missing(struct cfg_walk *w, const struct ynode *map,
    const char *path, const char *key)
{
	cfgwalk_error(w, &map->mark, path, "missing required key \"%s\"",
	    key);
}

static const char *
cw_pool(struct cfg_walk *w, char *s)
{
	if (w->npool == w->cappool) {
		w->cappool = w->cappool ? w->cappool * 2 : 64;
		w->pool = xreallocarray(w->pool, w->cappool, sizeof *w->pool);
	}
	w->pool[w->npool++] = s;
	return s;
}

const char *
cfgwalk_key(struct cfg_walk *w, const char *path, const char *key)
{
	char *s, *q;

	if (*key == '\0' || strcspn(key, ". \"[]\n") != strlen(key)) {
		q = yamltree_quote(key, strlen(key));
		xasprintf(&s, "%s%s%s", path, *path ? "." : "", q);
		free(q);
	} else
		xasprintf(&s, "%s%s%s", path, *path ? "." : "", key);
	return cw_pool(w, s);
}

const char *
cfgwalk_index(struct cfg_walk *w, const char *path, size_t i)
{
	char *s;

	xasprintf(&s, "%s[%zu]", path, i);
	return cw_pool(w, s);
}

/* ---- unknown keys ---------------------------------------------------------- */

#define CW_LEV_MAX 64

/* Edit distance of a and b (each at most CW_LEV_MAX bytes). */
static size_t
cw_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev[CW_LEV_MAX + 1],
	    cur[CW_LEV_MAX + 1], best;

	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			best = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
		}
		memcpy(prev, cur, (lb + 1) * sizeof *prev);
	}
	return prev[lb];
}

const char *
cfgwalk_suggest(const char *word, const char *const *cands)
{
	const char *best = NULL, *prefix = NULL;
	size_t d, bestd = 3, wl = strlen(word), cl;

	if (wl == 0 || wl > CW_LEV_MAX)
		return NULL;
	for (; *cands != NULL; cands++) {
		cl = strlen(*cands);
		if (cl > CW_LEV_MAX)
			continue;
		if ((d = cw_distance(word, *cands)) < bestd) {
			bestd = d;
			best = *cands;
		}
		if (prefix == NULL && wl >= 3 && cl >= 3 &&
		    (strncmp(word, *cands, wl < cl ? wl : cl) == 0))
			prefix = *cands;
	}
	return best != NULL ? best : prefix;
}

void
cfgwalk_check_keys(struct cfg_walk *w, const struct ynode *map,
    const char *path, const char *const *known)
{
	const char *const *k;
	const char *hint;
	struct buf list;
	size_t i;

	for (i = 0; i < map->n; i++) {
		for (k = known; *k != NULL; k++) {
			if (strcmp(*k, map->keys[i]->text) == 0)
				break;
		}
		if (*k != NULL)
			continue;
		if (w->nerrs >= CFGWALK_MAX_SHOWN) {
			w->nerrs++;	/* counted, not shown: skip the work */
			continue;
		}
		hint = cfgwalk_suggest(map->keys[i]->text, known);
		if (hint != NULL) {
			cfgwalk_error(w, &map->keys[i]->mark,
			    cfgwalk_key(w, path, map->keys[i]->text),
			    "unknown key (did you mean \"%s\"?)", hint);
			continue;
		}
		buf_init(&list);
		for (k = known; *k != NULL; k++)
			buf_printf(&list, "%s%s", k == known ? "" : ", ", *k);
		cfgwalk_error(w, &map->keys[i]->mark,
		    cfgwalk_key(w, path, map->keys[i]->text),
		    "unknown key (known keys here: %s)", buf_cstr(&list));
		buf_free(&list);
	}
}

/* ---- typed values ---------------------------------------------------------- */

int
cfgwalk_mapping(struct cfg_walk *w, const struct ynode *n, const char *path)
{
	if (n->kind == YNODE_MAPPING)
		return 0;
	cfgwalk_expected(w, n, path, "a mapping");
	return -1;
}

static int
cw_is_text(const struct ynode *n)
{
	return n->kind == YNODE_SCALAR && n->type != YS_NULL &&
	    n->type != YS_BOOL;
}

int
cfgwalk_string(struct cfg_walk *w, const struct ynode *n, const char *path,
    char **out)
{
	if (!cw_is_text(n)) {
		cfgwalk_expected(w, n, path, "a string");
		return -1;
	}
	free(*out);
	*out = xstrdup(n->text);
	return 0;
}

int
cfgwalk_int(struct cfg_walk *w, const struct ynode *n, const char *path,
    long long lo, long long hi, long long *out)
{
	char *what;

	if (n->kind == YNODE_SCALAR && n->type == YS_INT &&
	    n->integer >= lo && n->integer <= hi) {
		*out = n->integer;
		return 0;
	}
	if (hi == LLONG_MAX)
		xasprintf(&what, "an integer >= %lld", lo);
	else
		xasprintf(&what, "an integer %lld..%lld", lo, hi);
	cfgwalk_expected(w, n, path, what);
	free(what);
	return -1;
}

int
cfgwalk_int32(struct cfg_walk *w, const struct ynode *n, const char *path,
    int lo, int hi, int *out)
{
	long long v;

	if (cfgwalk_int(w, n, path, lo, hi == INT_MAX ? LLONG_MAX : hi,
	    &v) != 0)
		return -1;
	if (v > INT_MAX) {
		cfgwalk_expected(w, n, path, "a smaller integer");
		return -1;
	}
	*out = (int)v;
	return 0;
}

int
cfgwalk_bool(struct cfg_walk *w, const struct ynode *n, const char *path,
    int *out)
{
	if (n->kind == YNODE_SCALAR && n->type == YS_BOOL) {
		*out = n->boolean;
		return 0;
	}
	cfgwalk_expected(w, n, path, "true or false");
	return -1;
}

int
cfgwalk_number(struct cfg_walk *w, const struct ynode *n, const char *path,
    double gt, double *out)
{
	char *what;

	if (n->kind == YNODE_SCALAR && (n->type == YS_INT ||
	    n->type == YS_FLOAT) && isfinite(n->number) && n->number > gt) {
		*out = n->number;
		return 0;
	}
	xasprintf(&what, "a number > %g", gt);
	cfgwalk_expected(w, n, path, what);
	free(what);
	return -1;
}

int
cfgwalk_choice(struct cfg_walk *w, const struct ynode *n, const char *path,
    const char *const *choices, int *out)
{
	struct buf what;
	int i;

	if (cw_is_text(n)) {
		for (i = 0; choices[i] != NULL; i++) {
			if (strcmp(choices[i], n->text) == 0) {
				*out = i;
				return 0;
			}
		}
	}
	buf_init(&what);
	buf_addstr(&what, "one of ");
	for (i = 0; choices[i] != NULL; i++)
		buf_printf(&what, "%s%s", i == 0 ? "" : choices[i + 1] ==
		    NULL ? " or " : ", ", choices[i]);
	cfgwalk_expected(w, n, path, buf_cstr(&what));
	buf_free(&what);
	return -1;
}

int
cfgwalk_strv(struct cfg_walk *w, const struct ynode *n, const char *path,
    int nonempty, int placeholders, char ***out)
{
	char **v;
	size_t i;
	int bad = 0;

	if (n->kind != YNODE_SEQUENCE || (nonempty && n->n == 0)) {
		cfgwalk_expected(w, n, path, nonempty ?
		    "a non-empty list of strings" : "a list of strings");
		return -1;
	}
	for (i = 0; i < n->n; i++) {
		if (!cw_is_text(n->items[i])) {
			cfgwalk_expected(w, n->items[i],
			    cfgwalk_index(w, path, i), "a string");
			bad = 1;
		} else if (placeholders && cfgwalk_placeholders(w, n->items[i],
		    cfgwalk_index(w, path, i), n->items[i]->text) != 0)
			bad = 1;
	}
	if (bad)
		return -1;
	v = xcalloc(n->n + 1, sizeof *v);
	for (i = 0; i < n->n; i++)
		v[i] = xstrdup(n->items[i]->text);
	strv_free(*out);
	*out = v;
	return 0;
}

/* ---- environment maps ------------------------------------------------------ */

static int
cw_env_name_ok(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	    *s == '_'))
		return 0;
	for (s++; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	}
	return 1;
}

/* qsort has no context argument: the env being sorted (one thread). */
static const struct cfg_kv *cw_sort_env;

static int
cw_env_cmp(const void *a, const void *b)
{
	return strcmp(cw_sort_env[*(const size_t *)a].key,
	    cw_sort_env[*(const size_t *)b].key);
}

/* Sets n pairs (keys unique among themselves) in env: an existing name
 * keeps its place and takes the new value. O((env + n) log env). */
static void
cw_env_set_many(struct cfg_env *env, const char *const *keys,
    const char *const *values, const struct cfg_mark *marks, size_t n)
{
	size_t i, nold = env->n, *idx, lo, hi, mid;
	int c;

	idx = xreallocarray(NULL, nold + 1, sizeof *idx);
	for (i = 0; i < nold; i++)
		idx[i] = i;
	cw_sort_env = env->v;
	qsort(idx, nold, sizeof *idx, cw_env_cmp);
	env->v = xreallocarray(env->v, env->n + n + 1, sizeof *env->v);
	for (i = 0; i < n; i++) {
		lo = 0;
		hi = nold;
		c = 1;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			c = strcmp(keys[i], env->v[idx[mid]].key);
			if (c == 0)
				break;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (c == 0 && lo < hi) {
			free(env->v[idx[mid]].value);
			env->v[idx[mid]].value = xstrdup(values[i]);
			env->v[idx[mid]].mark = marks[i];
			continue;
		}
		env->v[env->n].key = xstrdup(keys[i]);
		env->v[env->n].value = xstrdup(values[i]);
		env->v[env->n].mark = marks[i];
		env->n++;
	}
	free(idx);
}

/* The pairs of a checked env mapping into env. */
static void
cw_env_merge_nodes(struct cfg_env *env, const struct ynode *map)
{
	const char **keys, **values;
	struct cfg_mark *marks;
	size_t i;

	keys = xreallocarray(NULL, map->n + 1, sizeof *keys);
	values = xreallocarray(NULL, map->n + 1, sizeof *values);
	marks = xreallocarray(NULL, map->n + 1, sizeof *marks);
	for (i = 0; i < map->n; i++) {
		keys[i] = map->keys[i]->text;
		values[i] = map->items[i]->text;
		marks[i] = map->items[i]->mark;
	}
	cw_env_set_many(env, keys, values, marks, map->n);
	free(keys);
	free(values);
	free(marks);
}

int
cfgwalk_env(struct cfg_walk *w, const struct ynode *n, const char *path,
    struct cfg_env *env)
{
	const struct ynode *k, *v;
	const char *sub;
	char *q;
	size_t i;
	int bad = 0;

	if (n->kind != YNODE_MAPPING) {
		cfgwalk_expected(w, n, path, "a mapping of NAME: value");
		return -1;
	}
	for (i = 0; i < n->n; i++) {
		k = n->keys[i];
		v = n->items[i];
		sub = cfgwalk_key(w, path, k->text);
		if (!cw_env_name_ok(k->text)) {
			q = yamltree_quote(k->text, k->len);
			cfgwalk_error(w, &k->mark, sub, "expected a variable "
			    "name ([A-Za-z_][A-Za-z0-9_]*), found %s", q);
			free(q);
			bad = 1;
			continue;
		}
		if (v->kind != YNODE_SCALAR || v->type == YS_NULL) {
			cfgwalk_expected(w, v, sub, "a string (quote \"\" for "
			    "an empty value)");
			bad = 1;
			continue;
		}
		if (cfgwalk_placeholders(w, v, sub, v->text) != 0) {
			bad = 1;
			continue;
		}
	}
	if (bad)
		return -1;
	cw_env_merge_nodes(env, n);
	return 0;
}

void
cfgwalk_env_merge(struct cfg_env *dst, const struct cfg_env *src)
{
	const char **keys, **values;
	struct cfg_mark *marks;
	size_t i;

	keys = xreallocarray(NULL, src->n + 1, sizeof *keys);
	values = xreallocarray(NULL, src->n + 1, sizeof *values);
	marks = xreallocarray(NULL, src->n + 1, sizeof *marks);
	for (i = 0; i < src->n; i++) {
		keys[i] = src->v[i].key;
		values[i] = src->v[i].value;
		marks[i] = src->v[i].mark;
	}
	cw_env_set_many(dst, keys, values, marks, src->n);
	free(keys);
	free(values);
	free(marks);
}

void
cfgwalk_env_free(struct cfg_env *env)
{
	size_t i;

	for (i = 0; i < env->n; i++) {
		free(env->v[i].key);
		free(env->v[i].value);
	}
	free(env->v);
	env->v = NULL;
	env->n = 0;
}

/* ---- YAML to JSON ---------------------------------------------------------- */

json_t *
cfgwalk_json(struct cfg_walk *w, const struct ynode *n, const char *path)
{
	json_t *j, *c;
	size_t i;

	switch (n->kind) {
	case YNODE_MAPPING:
		j = json_object();
		for (i = 0; i < n->n; i++) {
			c = cfgwalk_json(w, n->items[i],
			    cfgwalk_key(w, path, n->keys[i]->text));
			if (c == NULL) {
				json_decref(j);
				return NULL;
			}
			json_object_set_new(j, n->keys[i]->text, c);
		}
		return j;
	case YNODE_SEQUENCE:
		j = json_array();
		for (i = 0; i < n->n; i++) {
			c = cfgwalk_json(w, n->items[i],
			    cfgwalk_index(w, path, i));
			if (c == NULL) {
				json_decref(j);
				return NULL;
			}
			json_array_append_new(j, c);
		}
		return j;
	case YNODE_SCALAR:
		break;
	}
	switch (n->type) {
	case YS_NULL:
		return json_null();
	case YS_BOOL:
		return json_boolean(n->boolean);
	case YS_INT:
		return json_integer(n->integer);
	case YS_FLOAT:
		if (!isfinite(n->number)) {
			cfgwalk_expected(w, n, path, "a finite number");
			return NULL;
		}
		return json_real(n->number);
	case YS_STRING:
		break;
	}
	return json_stringn(n->text, n->len);
}

/* ---- placeholders ---------------------------------------------------------- */

int
cfgwalk_placeholders(struct cfg_walk *w, const struct ynode *n,
    const char *path, const char *s)
{
	const char *p = s, *end, *hint;
	const char *const *k;
	char *name, *q;
	struct buf list;

	while ((p = strchr(p, '$')) != NULL) {
		if (p[1] == '$' && p[2] == '{') {
			p += 3;		/* $${ is a literal ${ */
			continue;
		}
		if (p[1] != '{') {
			p++;
			continue;
		}
		if ((end = strchr(p + 2, '}')) == NULL) {
			q = yamltree_quote(p, strlen(p));
			cfgwalk_error(w, &n->mark, path, "unterminated "
			    "placeholder %s (close it with }, or write $${ for "
			    "a literal ${)", q);
			free(q);
			return -1;
		}
		name = xstrndup(p + 2, (size_t)(end - p - 2));
		for (k = cw_placeholders; *k != NULL; k++) {
			if (strcmp(*k, name) == 0)
				break;
		}
		if (*k == NULL) {
			/* ${name} as written, unless it needs escapes. */
			q = yamltree_quote(name, strlen(name));
			if (strlen(q) != strlen(name) + 2) {
				free(name);
				name = q;
			} else
				free(q);
			if ((hint = cfgwalk_suggest(name,
			    cw_placeholders)) != NULL)
				cfgwalk_error(w, &n->mark, path, "unknown "
				    "placeholder ${%s} (did you mean ${%s}?)",
				    name, hint);
			else {
				buf_init(&list);
				for (k = cw_placeholders; *k != NULL; k++)
					buf_printf(&list, "%s${%s}",
					    k == cw_placeholders ? "" : " ", *k);
				cfgwalk_error(w, &n->mark, path, "unknown "
				    "placeholder ${%s} (known: %s; $${ is a "
				    "literal ${)", name, buf_cstr(&list));
				buf_free(&list);
			}
			free(name);
			return -1;
		}
		if ((strcmp(name, "dataset") == 0 && w->dataset == NULL) ||
		    (strcmp(name, "checkpoint_dir") == 0 &&
		    w->checkpoint_dir == NULL)) {
			cfgwalk_error(w, &n->mark, path, "${%s} is used but "
			    "task.%s is not set", name, name);
			free(name);
			return -1;
		}
		free(name);
		p = end + 1;
	}
	return 0;
}

/* ---- files ----------------------------------------------------------------- */

const char *
cfgwalk_add_file(struct cfg_walk *w, const char *name)
{
	struct config *cfg = w->cfg;

	cfg->files = xreallocarray(cfg->files, cfg->nfiles + 1,
	    sizeof *cfg->files);
	cfg->files[cfg->nfiles] = xstrdup(name);
	return cfg->files[cfg->nfiles++];
}

/*
 * A relative path in the value of --set number i: from the override's
 * "dir" when it has one (a task's override loaded again), else from the
 * working directory, which then becomes its "dir" (what the task keeps).
 */
static char *
cfgwalk_resolve_set(struct cfg_walk *w, size_t i, const char *rel)
{
	json_t *o = json_array_get(w->cfg->overrides, i);
	const char *dir = json_string_value(json_object_get(o, "dir"));
	char *out, *cwd;

	if (dir != NULL) {
		xasprintf(&out, "%s/%s", dir, rel);
		return out;
	}
	if (o != NULL && (cwd = getcwd(NULL, 0)) != NULL) {
		json_object_set_new(o, "dir", json_string(cwd));
		free(cwd);
	}
	return xstrdup(rel);
}

char *
cfgwalk_resolve(struct cfg_walk *w, const struct cfg_mark *mark,
    const char *rel)
{
	const char *home, *slash = NULL;
	char *out;
	size_t i;
	int from_file = 0;

	if (rel[0] == '/')
		return xstrdup(rel);
	if (rel[0] == '~' && (rel[1] == '/' || rel[1] == '\0') &&
	    (home = getenv("HOME")) != NULL) {
		xasprintf(&out, "%s%s", home, rel + 1);
		return out;
	}
	for (i = 0; i < w->cfg->nfiles; i++) {
		if (mark->file == w->cfg->files[i])
			from_file = 1;
	}
	for (i = 0; !from_file && i < w->cfg->nsets; i++) {
		if (mark->file == w->cfg->sets[i])
			return cfgwalk_resolve_set(w, i, rel);
	}
	if (from_file)
		slash = strrchr(mark->file, '/');
	if (slash == NULL)
		return xstrdup(rel);
	xasprintf(&out, "%.*s/%s", (int)(slash - mark->file), mark->file, rel);
	return out;
}
