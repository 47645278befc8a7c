/*
 * config.c - config_load(): reads a task file, layers its cluster (a cluster
 * file named by `cluster: PATH`, or a mapping with `include: PATH`, up to 4
 * files deep, cycles refused), applies --set overrides, then walks the
 * result against the schema (the cluster here, the task in cfgtask.c) and
 * fills struct config. Every problem is collected, one line each, with the
 * file, line and column of the value the user must change; any problem
 * means no config at all. The keys are documented in docs/configs.md.
 *
 * Nothing here touches the network or a host; the only files read are the
 * config files themselves, host files named with ^FILE, an accelerate
 * config file and the secrets file's metadata (never its contents).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent/agent.h"
#include "../remote/remote.h"
#include "cfgwalk.h"

#define CFG_MAX_INCLUDE	4		/* cluster files in one chain */

/* The files being layered, outermost first (the task file is [0]). */
struct cfg_chain {
	char *real[CFG_MAX_INCLUDE + 2];
	const char *name[CFG_MAX_INCLUDE + 2];
	int n;
};

/* One --set override, parsed. */
struct cfg_set {
	const char *path;
	const char *file;		/* "--set PATH=VALUE", in cfg->sets */
	struct ynode *value;		/* NULL when the value did not parse */
};

static const char *const cfg_top_keys[] = { "cluster", "task", NULL };

static const char *const cfg_cluster_keys[] = {
	"include", "hosts", "ip_prefix", "ids", "exclude", "user", "port",
	"transport", "accept_new_host_keys", "fanout", "connect_timeout_s",
	"devices_per_host", "base_dir", "agent_dir", "container", "env",
	"telemetry_interval_s", "log", NULL
};

static const char *const cfg_transports[] = { "auto", "libssh2", "openssh",
	"local", NULL };

/* ---- layering the cluster ---------------------------------------------------- */

static struct ynode *cfg_layer_mapping(struct cfg_walk *, struct ynode *,
    const char *, struct cfg_chain *);

static int
cfg_is_text(const struct ynode *n)
{
	return n->kind == YNODE_SCALAR && n->type != YS_NULL &&
	    n->type != YS_BOOL;
}

/* "a -> b -> c" for chain entries from, then last. Caller frees. */
static char *
cfg_chain_text(const struct cfg_chain *chain, int from, const char *last)
{
	struct buf b;
	int i;

	buf_init(&b);
	for (i = from; i < chain->n; i++)
		buf_printf(&b, "%s -> ", chain->name[i]);
	buf_addstr(&b, last);
	return buf_steal(&b);
}

/* Reads the cluster file named by ref (a string node) and layers it. */
static struct ynode *
cfg_layer_file(struct cfg_walk *w, const struct ynode *ref, const char *path,
    struct cfg_chain *chain)
{
	struct ynode *root, *out = NULL;
	struct cfg_mark top;
	char *resolved, *real, *inner = NULL, *q, *text;
	const char *file;
	int i, saved;

	resolved = cfgwalk_resolve(w, &ref->mark, ref->text);
	if ((real = realpath(resolved, NULL)) == NULL) {
		saved = errno;
		q = yamltree_quote(ref->text, ref->len);
		cfgwalk_error(w, &ref->mark, path, "cannot read cluster file "
		    "%s (%s): %s; the path is relative to the file that names "
		    "it", q, resolved, strerror(saved));
		free(q);
		free(resolved);
		return NULL;
	}
	for (i = 0; i < chain->n; i++) {
		if (strcmp(chain->real[i], real) == 0) {
			text = cfg_chain_text(chain, i, resolved);
			cfgwalk_error(w, &ref->mark, path, "include cycle: %s",
			    text);
			free(text);
			goto out;
		}
	}
	if (chain->n > CFG_MAX_INCLUDE) {
		text = cfg_chain_text(chain, 1, resolved);
		cfgwalk_error(w, &ref->mark, path, "cluster files nest deeper "
		    "than %d (%s)", CFG_MAX_INCLUDE, text);
		free(text);
		goto out;
	}
	file = cfgwalk_add_file(w, resolved);
	if (yamltree_load_file(w->tree, resolved, file, &root, NULL,
	    &inner) != 0) {
		cfgwalk_error_lines(w, inner);
		free(inner);
		goto out;
	}
	if (root == NULL) {
		top.file = file;
		top.line = top.col = 1;
		cfgwalk_error(w, &top, "cluster", "the cluster file is empty; it "
		    "should hold the cluster keys (hosts: ...)");
		goto out;
	}
	if (root->kind != YNODE_MAPPING) {
		cfgwalk_expected(w, root, "cluster", "a mapping of cluster "
		    "keys");
		goto out;
	}
	chain->real[chain->n] = real;
	chain->name[chain->n++] = file;
	out = cfg_layer_mapping(w, root, "cluster", chain);
	chain->n--;
out:
	free(real);
	free(resolved);
	return out;
}

/* A cluster mapping with its include: applied (one level deep: a key here
 * replaces the included file's value as a whole). */
static struct ynode *
cfg_layer_mapping(struct cfg_walk *w, struct ynode *map, const char *path,
    struct cfg_chain *chain)
{
	struct ynode *inc, *base, *merged;
	const char *ipath = cfgwalk_key(w, path, "include");

	if ((inc = yamltree_map_get(map, "include", NULL)) == NULL)
		return map;
	if (!cfg_is_text(inc)) {
		cfgwalk_expected(w, inc, ipath, "the path of a cluster file");
		return NULL;
	}
	if ((base = cfg_layer_file(w, inc, ipath, chain)) == NULL)
		return NULL;
	merged = yamltree_map_merge(w->tree, base, map, "include");
	merged->mark = map->mark;
	return merged;
}

static struct ynode *
cfg_layer(struct cfg_walk *w, struct ynode *node, struct cfg_chain *chain)
{
	if (cfg_is_text(node))
		return cfg_layer_file(w, node, "cluster", chain);
	if (node->kind == YNODE_MAPPING)
		return cfg_layer_mapping(w, node, "cluster", chain);
	cfgwalk_expected(w, node, "cluster", "a mapping of cluster keys or the "
	    "path of a cluster file");
	return NULL;
}

/* ---- --set overrides --------------------------------------------------------- */

static void
cfg_sets_parse(struct cfg_walk *w, const struct cfg_override *ovr,
    size_t n, struct cfg_set *sets)
{
	struct config *cfg = w->cfg;
	struct cfg_mark mk;
	char *inner = NULL;
	size_t i;
	int off;

	cfg->sets = xcalloc(n + 1, sizeof *cfg->sets);
	cfg->overrides = json_array();
	for (i = 0; i < n; i++) {
		xasprintf(&cfg->sets[i], "--set %s=%s", ovr[i].path,
		    ovr[i].value);
		cfg->nsets++;
		json_array_append_new(cfg->overrides, json_pack("{s:s, s:s}",
		    "path", ovr[i].path, "value", ovr[i].value));
		if (ovr[i].dir != NULL)
			json_object_set_new(json_array_get(cfg->overrides, i),
			    "dir", json_string(ovr[i].dir));
		sets[i].path = ovr[i].path;
		sets[i].file = cfg->sets[i];
		sets[i].value = NULL;
		off = (int)strlen("--set ") + (int)strlen(ovr[i].path) + 1;
		if (yamltree_load_string(w->tree, ovr[i].value,
		    strlen(ovr[i].value), sets[i].file, off, &sets[i].value,
		    &inner) != 0) {
			cfgwalk_error_lines(w, inner);
			free(inner);
			inner = NULL;
			sets[i].path = NULL;	/* reported; skip it */
			continue;
		}
		if (sets[i].value == NULL) {
			mk.file = sets[i].file;
			mk.line = 1;
			mk.col = off + 1;
			sets[i].value = yamltree_scalar_new(w->tree, "", &mk);
		}
	}
}

/* Puts the value at its path under root, making mappings on the way. */
static void
cfg_set_apply(struct cfg_walk *w, struct ynode *root, const struct cfg_set *s)
{
	struct ynode *node = root, *child, *key;
	struct cfg_mark mk, at;
	const char *p = s->path, *dot;
	char *comp, *desc, *through;

	mk.file = s->file;
	mk.line = 1;
	mk.col = (int)strlen("--set ") + 1;
	for (;;) {
		dot = strchr(p, '.');
		comp = dot != NULL ? xstrndup(p, (size_t)(dot - p)) :
		    xstrdup(p);
		at = mk;
		at.col += (int)(p - s->path);
		if (*comp == '\0') {
			cfgwalk_error(w, &mk, s->path, "empty key in a --set "
			    "path; write --set KEY.KEY=VALUE");
			free(comp);
			return;
		}
		if (dot == NULL) {
			key = yamltree_scalar_new(w->tree, comp, &at);
			yamltree_map_set(w->tree, node, key, s->value);
			free(comp);
			return;
		}
		child = yamltree_map_get(node, comp, NULL);
		if (child == NULL) {
			child = yamltree_mapping_new(w->tree, &at);
			key = yamltree_scalar_new(w->tree, comp, &at);
			yamltree_map_set(w->tree, node, key, child);
		} else if (child->kind != YNODE_MAPPING) {
			desc = yamltree_describe(child);
			through = xstrndup(s->path, (size_t)(dot - s->path));
			cfgwalk_error(w, &mk, s->path, "--set goes through %s, "
			    "which is %s, not a mapping", through, desc);
			free(through);
			free(desc);
			free(comp);
			return;
		}
		free(comp);
		node = child;
		p = dot + 1;
	}
}

/* Overrides that say which cluster files to read apply before layering. */
static int
cfg_set_early(const struct cfg_set *s)
{
	return strcmp(s->path, "cluster") == 0 ||
	    strncmp(s->path, "cluster.include", 15) == 0;
}

/* ---- the cluster -------------------------------------------------------------- */

/* A hosts expression with each ^FILE made relative to the config file. */
static char *
cfg_hosts_expr(struct cfg_walk *w, const struct ynode *n)
{
	const char *s = n->text, *part, *end;
	char *rel, *resolved;
	struct buf b;
	size_t i, start = 0;
	int depth = 0;

	buf_init(&b);
	for (i = 0;; i++) {
		if (s[i] == '[')
			depth++;
		else if (s[i] == ']')
			depth--;
		if (s[i] != '\0' && (s[i] != ',' || depth != 0))
			continue;
		part = s + start;
		end = s + i;
		while (part < end && (*part == ' ' || *part == '\t'))
			part++;
		if (part < end && *part == '^') {
			for (part++; part < end && (*part == ' ' ||
			    *part == '\t'); part++)
				;
			while (end > part && (end[-1] == ' ' ||
			    end[-1] == '\t'))
				end--;
			rel = xstrndup(part, (size_t)(end - part));
			resolved = *rel != '\0' ? cfgwalk_resolve(w, &n->mark,
			    rel) : xstrdup("");
			buf_printf(&b, "^%s", resolved);
			free(resolved);
			free(rel);
		} else
			buf_add(&b, s + start, i - start);
		if (s[i] == '\0')
			break;
		buf_addch(&b, ',');
		start = i + 1;
	}
	return buf_steal(&b);
}

/* Adds (or, with exclude, removes) a range string or a list of them. */
static int
cfg_hosts_add(struct cfg_walk *w, struct hostlist *hl, const struct ynode *n,
    const char *path, int exclude)
{
	const struct ynode *one;
	const char *p;
	char *expr, *cause = NULL;
	size_t i, count;
	int rc, bad = 0;

	if (!cfg_is_text(n) && (n->kind != YNODE_SEQUENCE || n->n == 0)) {
		cfgwalk_expected(w, n, path, "a host range (node[01-16]) or "
		    "a non-empty list of them");
		return -1;
	}
	count = n->kind == YNODE_SEQUENCE ? n->n : 1;
	for (i = 0; i < count; i++) {
		one = n->kind == YNODE_SEQUENCE ? n->items[i] : n;
		p = n->kind == YNODE_SEQUENCE ? cfgwalk_index(w, path, i) :
		    path;
		if (!cfg_is_text(one)) {
			cfgwalk_expected(w, one, p, "a host range string");
			bad = 1;
			continue;
		}
		expr = cfg_hosts_expr(w, one);
		rc = exclude ? hostlist_exclude(hl, expr, &cause) :
		    hostlist_add(hl, expr, &cause);
		if (rc != 0) {
			cfgwalk_error(w, &one->mark, p, "%s", cause);
			free(cause);
			cause = NULL;
			bad = 1;
		}
		free(expr);
	}
	return bad ? -1 : 0;
}

/* A host id: an integer 0..255, or a string "N" or "A-B". */
static int
cfg_id_range(const struct ynode *n, long long *lo, long long *hi)
{
	char *end;

	if (n->kind != YNODE_SCALAR)
		return -1;
	if (n->type == YS_INT) {
		*lo = *hi = n->integer;
	} else if (n->type == YS_STRING && n->text[0] >= '0' &&
	    n->text[0] <= '9') {
		errno = 0;
		*lo = strtoll(n->text, &end, 10);
		if (*end == '-' && end[1] >= '0' && end[1] <= '9')
			*hi = strtoll(end + 1, &end, 10);
		else
			*hi = *lo;
		if (*end != '\0' || errno != 0)
			return -1;
	} else
		return -1;
	return *lo >= 0 && *hi <= 255 && *lo <= *hi ? 0 : -1;
}

static int
cfg_prefix_ids(struct cfg_walk *w, struct hostlist *hl,
    const struct ynode *prefix, const struct ynode *ids)
{
	int first[256];
	int64_t *v = NULL;
	long long lo, hi, id;
	size_t i, n = 0;
	char *cause = NULL;
	int bad = 0;

	if (!cfg_is_text(prefix)) {
		cfgwalk_expected(w, prefix, "cluster.ip_prefix", "a string "
		    "such as 192.168.203");
		bad = 1;
	}
	if (ids->kind != YNODE_SEQUENCE || ids->n == 0) {
		cfgwalk_expected(w, ids, "cluster.ids", "a non-empty list of "
		    "host ids (0..255)");
		return -1;
	}
	for (i = 0; i < 256; i++)
		first[i] = -1;
	for (i = 0; i < ids->n; i++) {
		if (cfg_id_range(ids->items[i], &lo, &hi) != 0) {
			cfgwalk_expected(w, ids->items[i],
			    cfgwalk_index(w, "cluster.ids", i), "a host id "
			    "0..255 or a range \"A-B\" of them");
			bad = 1;
			continue;
		}
		for (id = lo; id <= hi; id++) {
			if (first[id] >= 0) {
				cfgwalk_error(w, &ids->items[i]->mark,
				    cfgwalk_index(w, "cluster.ids", i), "id "
				    "%lld is already in the list (ids[%d]); "
				    "each host may appear once", id, first[id]);
				bad = 1;
				break;
			}
			first[id] = (int)i;
			v = xreallocarray(v, n + 1, sizeof *v);
			v[n++] = id;
		}
	}
	if (!bad && hostlist_add_prefix_ids(hl, prefix->text, v, n,
	    &cause) != 0) {
		cfgwalk_error(w, &prefix->mark, "cluster.ip_prefix", "%s",
		    cause);
		free(cause);
		bad = 1;
	}
	free(v);
	return bad ? -1 : 0;
}

static void
cfg_cluster_hosts(struct cfg_walk *w, const struct ynode *map)
{
	struct cfg_cluster *c = &w->cfg->cluster;
	struct ynode *hosts, *prefix, *ids, *ex, *pkey, *ikey;
	struct hostlist *hl = hostlist_new();
	int ok = 0;
	size_t i;

	hosts = yamltree_map_get(map, "hosts", NULL);
	prefix = yamltree_map_get(map, "ip_prefix", &pkey);
	ids = yamltree_map_get(map, "ids", &ikey);
	c->hosts_mark = map->mark;
	if (hosts != NULL && (prefix != NULL || ids != NULL)) {
		cfgwalk_error(w, prefix != NULL ? &pkey->mark : &ikey->mark,
		    "cluster", "set either hosts or ip_prefix + ids, not both");
	} else if (hosts != NULL) {
		c->hosts_mark = hosts->mark;
		ok = cfg_hosts_add(w, hl, hosts, "cluster.hosts", 0) == 0;
	} else if (prefix != NULL || ids != NULL) {
		if (prefix == NULL)
			cfgwalk_missing(w, map, "cluster", "ip_prefix");
		else if (ids == NULL)
			cfgwalk_missing(w, map, "cluster", "ids");
		else {
			c->hosts_mark = prefix->mark;
			ok = cfg_prefix_ids(w, hl, prefix, ids) == 0;
		}
	} else
		cfgwalk_error(w, &map->mark, "cluster", "missing required key "
		    "\"hosts\" (or ip_prefix and ids)");
	if ((ex = yamltree_map_get(map, "exclude", NULL)) != NULL &&
	    cfg_hosts_add(w, hl, ex, "cluster.exclude", 1) != 0)
		ok = 0;
	if (ok && hostlist_count(hl) == 0)
		cfgwalk_error(w, &c->hosts_mark, "cluster.hosts", "no hosts "
		    "left after exclude");
	if (ok && hostlist_count(hl) > 0) {
		c->nhosts = hostlist_count(hl);
		c->hosts = xcalloc(c->nhosts + 1, sizeof *c->hosts);
		for (i = 0; i < c->nhosts; i++)
			c->hosts[i] = xstrdup(hostlist_get(hl, i));
	}
	hostlist_free(hl);
}

/* An absolute path or one under the remote home ("~" or "~/..."). */
static void
cfg_remote_dir(struct cfg_walk *w, const struct ynode *n, const char *path,
    char **out)
{
	char *s = NULL;

	if (cfgwalk_string(w, n, path, &s) != 0)
		return;
	if (s[0] != '/' && strcmp(s, "~") != 0 && strncmp(s, "~/", 2) != 0) {
		cfgwalk_expected(w, n, path, "an absolute path or ~/...");
		free(s);
		return;
	}
	free(*out);
	*out = s;
}

static void
cfg_cluster_container(struct cfg_walk *w, const struct ynode *n)
{
	struct cfg_cluster *c = &w->cfg->cluster;
	size_t before = w->nerrs;
	char *cause = NULL;
	json_t *j;

	c->container_mark = n->mark;
	if (n->kind != YNODE_MAPPING) {
		cfgwalk_expected(w, n, "cluster.container", "a mapping "
		    "(runtime: ...)");
		return;
	}
	if ((j = cfgwalk_json(w, n, "cluster.container")) == NULL ||
	    w->nerrs != before) {
		json_decref(j);
		return;
	}
	if (container_validate(j, &cause) != 0) {
		if (strncmp(cause, "container", 9) == 0)
			cfgwalk_error(w, &n->mark, NULL, "cluster.%s", cause);
		else
			cfgwalk_error(w, &n->mark, "cluster.container", "%s",
			    cause);
		free(cause);
		json_decref(j);
		return;
	}
	c->container = j;
}

static void
cfg_cluster_log(struct cfg_walk *w, const struct ynode *n)
{
	static const char *const keys[] = { "max_bytes", "keep", NULL };
	struct cfg_cluster *c = &w->cfg->cluster;
	struct ynode *v;

	if (cfgwalk_mapping(w, n, "cluster.log") != 0)
		return;
	cfgwalk_check_keys(w, n, "cluster.log", keys);
	if ((v = yamltree_map_get(n, "max_bytes", NULL)) != NULL)
		cfgwalk_int(w, v, "cluster.log.max_bytes", 4096, LLONG_MAX,
		    &c->log_max_bytes);
	if ((v = yamltree_map_get(n, "keep", NULL)) != NULL)
		cfgwalk_int32(w, v, "cluster.log.keep", 0, 100, &c->log_keep);
}

static void
cfg_cluster(struct cfg_walk *w, const struct ynode *map)
{
	struct cfg_cluster *c = &w->cfg->cluster;
	struct ynode *v;
	int idx;

	if (cfgwalk_mapping(w, map, "cluster") != 0)
		return;
	cfgwalk_check_keys(w, map, "cluster", cfg_cluster_keys);
	cfg_cluster_hosts(w, map);
	if ((v = yamltree_map_get(map, "user", NULL)) != NULL)
		cfgwalk_string(w, v, "cluster.user", &c->user);
	if ((v = yamltree_map_get(map, "port", NULL)) != NULL)
		cfgwalk_int32(w, v, "cluster.port", 1, 65535, &c->port);
	if ((v = yamltree_map_get(map, "transport", NULL)) != NULL &&
	    cfgwalk_choice(w, v, "cluster.transport", cfg_transports,
	    &idx) == 0) {
		free(c->transport);
		c->transport = xstrdup(cfg_transports[idx]);
	}
	if ((v = yamltree_map_get(map, "accept_new_host_keys", NULL)) != NULL)
		cfgwalk_bool(w, v, "cluster.accept_new_host_keys",
		    &c->accept_new);
	if ((v = yamltree_map_get(map, "fanout", NULL)) != NULL)
		cfgwalk_int32(w, v, "cluster.fanout", 1, 1024, &c->fanout);
	if ((v = yamltree_map_get(map, "connect_timeout_s", NULL)) != NULL)
		cfgwalk_int32(w, v, "cluster.connect_timeout_s", 1, 600,
		    &c->connect_timeout_s);
	if ((v = yamltree_map_get(map, "devices_per_host", NULL)) != NULL)
		cfgwalk_int32(w, v, "cluster.devices_per_host", 1, 64,
		    &c->devices_per_host);
	if ((v = yamltree_map_get(map, "base_dir", NULL)) != NULL)
		cfg_remote_dir(w, v, "cluster.base_dir", &c->base_dir);
	if ((v = yamltree_map_get(map, "agent_dir", NULL)) != NULL)
		cfg_remote_dir(w, v, "cluster.agent_dir", &c->agent_dir);
	if ((v = yamltree_map_get(map, "container", NULL)) != NULL)
		cfg_cluster_container(w, v);
	if ((v = yamltree_map_get(map, "env", NULL)) != NULL)
		cfgwalk_env(w, v, "cluster.env", &c->env);
	if ((v = yamltree_map_get(map, "telemetry_interval_s", NULL)) != NULL)
		cfgwalk_int32(w, v, "cluster.telemetry_interval_s", 0, 3600,
		    &c->telemetry_interval_s);
	if ((v = yamltree_map_get(map, "log", NULL)) != NULL)
		cfg_cluster_log(w, v);
}

static void
cfg_defaults(struct config *cfg)
{
	struct cfg_cluster *c = &cfg->cluster;

	c->transport = xstrdup("auto");
	c->fanout = 32;
	c->connect_timeout_s = 10;
	c->devices_per_host = 1;
	c->base_dir = xstrdup("~/drover-runs");
	c->agent_dir = xstrdup("~/.drover/bin");
	c->telemetry_interval_s = 5;
	c->log_max_bytes = 67108864;
	c->log_keep = 2;
	cfg->restart_max = 3;
	cfg->restart_backoff_s = 30;
}

/* ---- loading ------------------------------------------------------------------ */

struct config *
config_load(const char *path, const struct cfg_override *ovr,
    size_t novr, char **cause)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	struct cfg_walk w;
	struct cfg_chain chain;
	struct cfg_set *sets;
	struct ynode *root = NULL, *cnode, *ckey, *layered = NULL, *tnode;
	struct cfg_mark top;
	const char *file;
	char *inner = NULL;
	size_t i;
	int had_cluster;

	*cause = NULL;
	cfg->path = xstrdup(path);
	cfg_defaults(cfg);
	cfgwalk_init(&w, cfg);
	w.tree = yamltree_new();
	memset(&chain, 0, sizeof chain);
	sets = xcalloc(novr + 1, sizeof *sets);

	file = cfgwalk_add_file(&w, path);
	top.file = file;
	top.line = top.col = 1;
	if (yamltree_load_file(w.tree, path, file, &root, &cfg->text,
	    &inner) != 0) {
		cfgwalk_error_lines(&w, inner);
		free(inner);
		goto out;
	}
	cfg_sets_parse(&w, ovr, novr, sets);
	if (root == NULL) {
		cfgwalk_error(&w, &top, NULL, "the file is empty; a task "
		    "config needs cluster: and task:");
		goto out;
	}
	if (root->kind != YNODE_MAPPING) {
		cfgwalk_expected(&w, root, NULL, "a mapping with cluster: and "
		    "task:");
		goto out;
	}

	for (i = 0; i < novr; i++) {
		if (sets[i].path != NULL && cfg_set_early(&sets[i]))
			cfg_set_apply(&w, root, &sets[i]);
	}
	cnode = yamltree_map_get(root, "cluster", &ckey);
	had_cluster = cnode != NULL;
	if (cnode != NULL) {
		if ((chain.real[0] = realpath(path, NULL)) == NULL)
			chain.real[0] = xstrdup(path);
		chain.name[0] = file;
		chain.n = 1;
		if ((layered = cfg_layer(&w, cnode, &chain)) != NULL)
			yamltree_map_set(w.tree, root, ckey, layered);
		free(chain.real[0]);
	}
	for (i = 0; i < novr; i++) {
		if (sets[i].path == NULL || cfg_set_early(&sets[i]))
			continue;
		/* Nothing to override in a cluster that did not load. */
		if (had_cluster && layered == NULL &&
		    strncmp(sets[i].path, "cluster", 7) == 0)
			continue;
		cfg_set_apply(&w, root, &sets[i]);
	}

	cfgwalk_check_keys(&w, root, "", cfg_top_keys);
	cnode = yamltree_map_get(root, "cluster", NULL);
	tnode = yamltree_map_get(root, "task", NULL);
	if (cnode == NULL)
		cfgwalk_missing(&w, root, NULL, "cluster");
	if (tnode == NULL)
		cfgwalk_missing(&w, root, NULL, "task");
	if (tnode != NULL)
		cfgtask_walk_paths(&w, tnode);
	if (cnode != NULL && (!had_cluster || layered != NULL))
		cfg_cluster(&w, cnode);
	if (tnode != NULL)
		cfgtask_walk(&w, tnode);
out:
	*cause = cfgwalk_cause(&w);
	cfgwalk_clear(&w);
	yamltree_free(w.tree);
	free(sets);
	if (*cause != NULL) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	for (i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	strv_free(cfg->cluster.hosts);
	free(cfg->cluster.user);
	free(cfg->cluster.transport);
	free(cfg->cluster.base_dir);
	free(cfg->cluster.agent_dir);
	json_decref(cfg->cluster.container);
	cfgwalk_env_free(&cfg->cluster.env);
	free(cfg->task);
	free(cfg->dataset);
	free(cfg->checkpoint_dir);
	free(cfg->secrets_file);
	for (i = 0; i < cfg->nstages; i++)
		cfgtask_stage_clear(&cfg->stages[i]);
	free(cfg->stages);
	free(cfg->text);
	strv_free(cfg->sets);
	json_decref(cfg->overrides);
	free(cfg);
}

struct config *
config_load_task(const json_t *task, const struct cfg_override *extra,
    size_t nextra, char **cause)
{
	const json_t *sets = json_object_get(task, "config_sets"), *o;
	const char *path = json_string_value(json_object_get(task,
	    "config_path"));
	struct cfg_override *ov;
	struct config *cfg;
	size_t i, n = 0;

	*cause = NULL;
	if (path == NULL)
		return NULL;
	ov = xcalloc(json_array_size(sets) + nextra + 1, sizeof *ov);
	json_array_foreach(sets, i, o) {
		ov[n].path = json_string_value(json_object_get(o, "path"));
		ov[n].value = json_string_value(json_object_get(o, "value"));
		ov[n].dir = json_string_value(json_object_get(o, "dir"));
		if (ov[n].path != NULL && ov[n].value != NULL)
			n++;
	}
	for (i = 0; i < nextra; i++)
		ov[n++] = extra[i];
	cfg = config_load(path, ov, n, cause);
	free(ov);
	return cfg;
}

int
config_hosts_edit(struct config *cfg, char *const *replace, size_t nreplace,
    char *const *exclude, size_t nexclude, char **cause)
{
	size_t i, j, k;
	const char *nw;

	for (i = 0; i < nreplace; i++) {
		if ((nw = strchr(replace[i], '=')) == NULL || nw[1] == '\0') {
			xasprintf(cause, "replace %s: expected OLD=NEW",
			    replace[i]);
			return -1;
		}
		for (j = 0; j < cfg->cluster.nhosts; j++)
			if (strncmp(cfg->cluster.hosts[j], replace[i],
			    (size_t)(nw - replace[i])) == 0 &&
			    cfg->cluster.hosts[j][nw - replace[i]] == '\0')
				break;
		if (j == cfg->cluster.nhosts) {
			xasprintf(cause, "replace %s: %.*s is not a host of "
			    "the task", replace[i], (int)(nw - replace[i]),
			    replace[i]);
			return -1;
		}
		free(cfg->cluster.hosts[j]);
		cfg->cluster.hosts[j] = xstrdup(nw + 1);
	}
	for (i = 0; i < nexclude; i++) {
		for (j = k = 0; j < cfg->cluster.nhosts; j++) {
			if (strcmp(cfg->cluster.hosts[j], exclude[i]) == 0) {
				free(cfg->cluster.hosts[j]);
				continue;
			}
			cfg->cluster.hosts[k++] = cfg->cluster.hosts[j];
		}
		if (k == cfg->cluster.nhosts) {
			xasprintf(cause, "exclude %s: not a host of the task",
			    exclude[i]);
			return -1;
		}
		cfg->cluster.nhosts = k;
		cfg->cluster.hosts[k] = NULL;
	}
	if (cfg->cluster.nhosts == 0) {
		xasprintf(cause, "no host left");
		return -1;
	}
	return 0;
}
