/*
 * cfgexpand.c - ${name} placeholders in a config's command, resume_args, cwd
 * and env values, and the "FILE:LINE:COL" form of a config mark.
 *
 * Expansion is a single left-to-right pass with no shell in it: "${name}"
 * becomes lookup(name), "$${" becomes a literal "${", and every other byte
 * (quotes, $(...), $HOME, backticks, newlines, any UTF-8) is copied as it
 * is. The values are not scanned again, so a value holding "${" stays as
 * it is. Which names exist and what they mean is the caller's business
 * (the planner, docs/launchers.md); this file only knows the documented
 * names so that its messages can tell "unknown" from "no value here".
 *
 * Not a template language: no defaults (${x:-y}), no nesting, no escapes
 * other than $${.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"

/* The documented placeholders, and the config key that gives a value to
 * the ones that may have none. */
static const struct {
	const char *name;
	const char *key;
} cfg_placeholders[] = {
	{ "task", NULL }, { "stage", NULL }, { "attempt", NULL },
	{ "host", NULL }, { "node_rank", NULL }, { "nnodes", NULL },
	{ "rank", NULL }, { "local_rank", NULL }, { "world_size", NULL },
	{ "run_dir", NULL }, { "dataset", "task.dataset" },
	{ "checkpoint_dir", "task.checkpoint_dir" },
	{ "master_addr", NULL }, { "master_port", NULL },
};

void
cfg_mark_format(const struct cfg_mark *m, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (m == NULL || (m->line <= 0 && m->file == NULL))
		snprintf(buf, len, "(default or --set)");
	else if (m->line <= 0)
		snprintf(buf, len, "%s", m->file);
	else
		snprintf(buf, len, "%s:%d:%d", m->file ? m->file : "?",
		    m->line, m->col);
}

static int
cfg_placeholder_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < nitems(cfg_placeholders); i++) {
		if (strlen(cfg_placeholders[i].name) == len &&
		    memcmp(cfg_placeholders[i].name, name, len) == 0)
			return (int)i;
	}
	return -1;
}

static void
cfg_expand_unknown(const char *name, char **cause)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	buf_printf(&b, "unknown placeholder ${%s}; the placeholders are",
	    name);
	for (i = 0; i < nitems(cfg_placeholders); i++)
		buf_printf(&b, " ${%s}", cfg_placeholders[i].name);
	buf_printf(&b, " (write $${%s} for a literal ${%s})", name, name);
	*cause = buf_steal(&b);
}

int
cfg_expand(const char *in, const char *(*lookup)(const char *name, void *arg),
    void *arg, char **out, char **cause)
{
	struct buf b;
	const char *p = in, *end, *val;
	char *name;
	int idx;

	*out = NULL;
	buf_init(&b);
	while (*p != '\0') {
		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			buf_add(&b, "${", 2);
			p += 3;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			buf_addch(&b, *p++);
			continue;
		}
		if ((end = strchr(p + 2, '}')) == NULL) {
			xasprintf(cause, "\"${\" at byte %zu has no closing "
			    "\"}\" (write $${ for a literal ${)",
			    (size_t)(p - in));
			goto fail;
		}
		name = xstrndup(p + 2, (size_t)(end - p - 2));
		val = lookup(name, arg);
		if (val == NULL) {
			idx = cfg_placeholder_find(name, strlen(name));
			if (idx == -1)
				cfg_expand_unknown(name, cause);
			else if (cfg_placeholders[idx].key != NULL)
				xasprintf(cause, "${%s} has no value: %s is not "
				    "set", name, cfg_placeholders[idx].key);
			else
				xasprintf(cause, "${%s} has no value here",
				    name);
			free(name);
			goto fail;
		}
		free(name);
		buf_addstr(&b, val);
		p = end + 1;
	}
	*out = buf_steal(&b);
	return 0;
fail:
	buf_free(&b);
	return -1;
}
