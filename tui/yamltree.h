/*
 * yamltree.h - folder-private to tui/: a YAML document as a small tree of
 * scalars, mappings and sequences (tui/yamltree.c), each node with its mark.
 * The config loader (tui/config.c) walks it against the schema.
 *
 * All nodes belong to one struct yamltree (an arena): several documents can
 * be loaded into the same tree and nodes can be added by hand (layering and
 * --set overrides); yamltree_free() frees them all.
 */
#ifndef DROVER_YAMLTREE_H
#define DROVER_YAMLTREE_H

#include <stddef.h>

#include "config.h"

#define YAMLTREE_MAX_BYTES	(1024 * 1024)
#define YAMLTREE_MAX_DEPTH	64
#define YAMLTREE_MAX_NODES	32768

enum ynode_kind { YNODE_SCALAR, YNODE_MAPPING, YNODE_SEQUENCE };

/* What a scalar means (YAML 1.2 core schema, decimal integers only): a
 * quoted (or literal / folded) scalar is always a string; a plain one is
 * null (empty, ~, null), a bool (true, false), an integer, a float (1.5,
 * 1e-5, .inf, .nan) or else a string. */
enum yscalar_type { YS_NULL, YS_BOOL, YS_INT, YS_FLOAT, YS_STRING };

struct ynode {
	enum ynode_kind kind;
	struct cfg_mark mark;		/* file borrowed (see load) */
	/* scalars: the exact bytes, NUL-terminated, no NUL inside */
	char *text;
	size_t len;
	int quoted;			/* any style but plain */
	enum yscalar_type type;
	int boolean;			/* YS_BOOL */
	long long integer;		/* YS_INT */
	double number;			/* YS_INT and YS_FLOAT */
	/* mappings: keys[i] (always scalars) -> items[i]; sequences: items */
	struct ynode **keys;
	struct ynode **items;
	size_t n;
	size_t cap;
};

struct yamltree;
struct yamltree *yamltree_new(void);
void yamltree_free(struct yamltree *);

/*
 * Loads one YAML file into tree. markfile is the name marks carry (the
 * caller keeps it alive as long as the tree). *rootp is NULL for a file
 * with no document (empty, or only comments). *textp, when textp is not
 * NULL, gets the file's bytes when it loads (caller frees), else NULL.
 * Refuses files over YAMLTREE_MAX_BYTES, nesting deeper than
 * YAMLTREE_MAX_DEPTH, more than YAMLTREE_MAX_NODES nodes, anchors and
 * aliases, tags, NUL bytes, invalid UTF-8, several documents, and a key
 * repeated in one mapping. *cause is one or more "FILE:LINE:COL: problem"
 * lines joined by '\n'.
 */
int yamltree_load_file(struct yamltree *, const char *path,
    const char *markfile, struct ynode **rootp, char **textp, char **cause);
/* The same for text in memory; marks on its first line are shifted right
 * by col_offset columns (for "--set PATH=VALUE"). */
int yamltree_load_string(struct yamltree *, const char *text, size_t len,
    const char *markfile, int col_offset, struct ynode **rootp,
    char **cause);

/* Nodes made by hand (owned by the tree). */
struct ynode *yamltree_scalar_new(struct yamltree *, const char *text,
    const struct cfg_mark *);
struct ynode *yamltree_mapping_new(struct yamltree *,
    const struct cfg_mark *);
/* Sets key to value in map: replaces the value of an equal key (keeping its
 * place and its key node), else appends. */
void yamltree_map_set(struct yamltree *, struct ynode *map,
    struct ynode *key, struct ynode *value);
/* A new mapping: base's pairs, then over's (except the key skip, when not
 * NULL) replacing equal keys in place or appended. Both must have unique
 * keys. O((n + m) log n). */
struct ynode *yamltree_map_merge(struct yamltree *, const struct ynode *base,
    const struct ynode *over, const char *skip);
/* The value of key in map, or NULL; *keyp gets the key node. */
struct ynode *yamltree_map_get(const struct ynode *map, const char *key,
    struct ynode **keyp);

/* What a node is, for "found ..." in messages: "a mapping", "a list",
 * "an empty value", "null", "true", "8", "1.5", "\"abc\"". Caller frees. */
char *yamltree_describe(const struct ynode *);
/* s quoted for a message: "...", escapes for '"', '\\' and control bytes,
 * cut at about 60 bytes. Caller frees. */
char *yamltree_quote(const char *s, size_t len);

#endif
