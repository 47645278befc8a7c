/*
 * cfgwalk.h - folder-private to tui/: walking a YAML tree against the config
 * schema (tui/cfgwalk.c): the error list every check appends to, typed
 * getters that report "expected WHAT, found WHAT" at the value's mark,
 * unknown keys with "did you mean", YAML to JSON, environment maps and
 * ${placeholder} checks. Used by tui/config.c (files, layering, --set, the
 * cluster) and tui/cfgtask.c (the task and its stages).
 *
 * Getters return 0 when the value is good (and fill *out), -1 when they
 * reported a problem (and leave *out alone). Key paths ("task.env.X",
 * "task.stages[1].name") made with cfgwalk_key() / cfgwalk_index() belong
 * to the walk and live until cfgwalk_clear().
 */
#ifndef DROVER_CFGWALK_H
#define DROVER_CFGWALK_H

#include <jansson.h>
#include <stddef.h>

#include "../common/common.h"
#include "config.h"
#include "yamltree.h"

#define CFGWALK_MAX_SHOWN	100	/* error lines kept; the rest counted */

struct cfg_walk {
	struct config *cfg;
	struct yamltree *tree;
	struct buf errs;		/* '\n'-separated lines */
	size_t nerrs;
	char **pool;			/* key paths, freed by cfgwalk_clear */
	size_t npool;
	size_t cappool;
	const char *dataset;		/* task.dataset, for ${dataset} */
	const char *checkpoint_dir;
};

void cfgwalk_init(struct cfg_walk *, struct config *);
void cfgwalk_clear(struct cfg_walk *);
/* The errors so far, one per line, or NULL when there are none. Caller
 * frees. */
char *cfgwalk_cause(struct cfg_walk *);

/* "FILE:LINE:COL: PATH: MESSAGE" (no "PATH: " when path is NULL or ""). */
void cfgwalk_error(struct cfg_walk *, const struct cfg_mark *,
    const char *path, const char *fmt, ...) PRINTFLIKE(4, 5);
/* Lines that already carry their "FILE:LINE:COL: " (yamltree causes). */
void cfgwalk_error_lines(struct cfg_walk *, const char *lines);
/* "PATH: expected WHAT, found <the node>" at the node's mark. */
void cfgwalk_expected(struct cfg_walk *, const struct ynode *,
    const char *path, const char *what);
/* "PATH: missing required key \"KEY\"" at the mapping's mark. */
void cfgwalk_missing(struct cfg_walk *, const struct ynode *map,
    const char *path, const char *key);

const char *cfgwalk_key(struct cfg_walk *, const char *path,
    const char *key);
const char *cfgwalk_index(struct cfg_walk *, const char *path, size_t);

/* The candidate closest to word (edit distance <= 2, or one a prefix of
 * the other), or NULL. */
const char *cfgwalk_suggest(const char *word, const char *const *cands);
/* Reports every key of map that is not in known (NULL-terminated). */
void cfgwalk_check_keys(struct cfg_walk *, const struct ynode *map,
    const char *path, const char *const *known);

int cfgwalk_mapping(struct cfg_walk *, const struct ynode *,
    const char *path);
/* Any scalar but null and bools, as written (8 gives "8"). */
int cfgwalk_string(struct cfg_walk *, const struct ynode *,
    const char *path, char **out);
int cfgwalk_int(struct cfg_walk *, const struct ynode *, const char *path,
    long long lo, long long hi, long long *out);
int cfgwalk_int32(struct cfg_walk *, const struct ynode *,
    const char *path, int lo, int hi, int *out);
int cfgwalk_bool(struct cfg_walk *, const struct ynode *, const char *path,
    int *out);
/* A number strictly greater than gt. */
int cfgwalk_number(struct cfg_walk *, const struct ynode *,
    const char *path, double gt, double *out);
/* One of choices (NULL-terminated); *out is its index. */
int cfgwalk_choice(struct cfg_walk *, const struct ynode *,
    const char *path, const char *const *choices, int *out);
/* A list of strings (NULL-terminated result); nonempty: at least one;
 * placeholders: each item is checked for ${...}. */
int cfgwalk_strv(struct cfg_walk *, const struct ynode *, const char *path,
    int nonempty, int placeholders, char ***out);
/* NAME: value pairs appended to (or replacing those in) env. */
int cfgwalk_env(struct cfg_walk *, const struct ynode *, const char *path,
    struct cfg_env *env);
void cfgwalk_env_merge(struct cfg_env *dst, const struct cfg_env *src);
void cfgwalk_env_free(struct cfg_env *);

/* The node as JSON: mappings become objects, lists arrays, plain numbers,
 * bools and null their JSON values, everything else strings. NULL after
 * reporting a non-finite number. */
json_t *cfgwalk_json(struct cfg_walk *, const struct ynode *,
    const char *path);

/* Checks ${name} placeholders in s (the value of node); 0 or -1. */
int cfgwalk_placeholders(struct cfg_walk *, const struct ynode *,
    const char *path, const char *s);

/* A path written in the file of mark, made usable from the working
 * directory: relative to that file's folder; "~/" is $HOME; --set values
 * are taken relative to the override's dir, or the working directory
 * (which is then recorded as its dir). Caller frees. */
char *cfgwalk_resolve(struct cfg_walk *, const struct cfg_mark *,
    const char *rel);
/* Appends a file name to cfg->files; the returned copy is what marks of
 * that file point to. */
const char *cfgwalk_add_file(struct cfg_walk *, const char *name);

/* ---- cfgtask.c: the task: section ---------------------------------------- */
/* task.dataset and task.checkpoint_dir (first: ${dataset} checks need them). */
void cfgtask_walk_paths(struct cfg_walk *, const struct ynode *task);
/* Everything else under task:, after the cluster (stage env starts with
 * the cluster's). */
void cfgtask_walk(struct cfg_walk *, const struct ynode *task);
void cfgtask_stage_clear(struct cfg_stage *);

#endif
