/*
 * yamltree.c - YAML text to a small tree (yamltree.h) with libyaml's event
 * API. Each node keeps its mark (1-based line and column from libyaml's
 * start mark) and, for scalars, whether it was quoted, so that "8" is a
 * string and 8 an integer.
 *
 * Config files come from users and sometimes from elsewhere, so the loader
 * is defensive and bounded: a file over 1 MiB, nesting deeper than 64,
 * more than 32768 nodes, any anchor or alias (which kills alias bombs at
 * their first "&"), tags, NUL bytes, invalid UTF-8 and a second document
 * are refused as soon as they are seen, before any work proportional to
 * the rest of the input. Duplicate keys are found by sorting, not by
 * comparing every pair.
 *
 * This is not a YAML library: no anchors, no tags, no merge keys (<<), no
 * YAML 1.1 booleans (yes/no/on/off are strings), no hex or octal integers.
 */
#include "yamltree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "../common/common.h"

#define YT_QUOTE_MAX	60

/*
 * Nodes, their text and their item arrays come from blocks that are only
 * freed together: a config of 30000 nodes is then a few dozen mallocs,
 * not 60000 (malloc and page faults were most of the time of a load).
 * Past YT_HUGE_AFTER bytes, blocks are 2 MiB of huge pages (xhuge_alloc):
 * a load at the node cap touches some 5 MB, and 1200 faults of 4 KiB
 * pages were 13 ms of it on a VM where one costs 11 us.
 */
#define YT_BLOCK	(64 * 1024)
#define YT_HUGE_AFTER	(256 * 1024)

struct yt_block {
	struct yt_block *next;
	size_t used, size;
	size_t huge;			/* xhuge_alloc's size, or 0: malloc */
	max_align_t data[];
};

struct yamltree {
	struct yt_block *blocks;	/* the newest first */
	size_t held;			/* bytes of all blocks */
};

/* One open collection while events arrive. */
struct yt_frame {
	struct ynode *node;
	struct ynode *key;		/* mappings: a key waiting for its value */
};

struct yt_load {
	struct yamltree *tree;
	const char *file;		/* markfile */
	const char *text;
	size_t len;
	int col_offset;
	size_t nnodes;
	struct yt_frame stack[YAMLTREE_MAX_DEPTH];
	int depth;
	struct ynode *root;
	int ndocs;
	struct buf errs;		/* '\n'-separated "FILE:L:C: ..." lines */
	int fatal;			/* stop reading events */
	int end_line;			/* where the text ends, once known */
	int end_col;
};

/* ---- the arena ------------------------------------------------------------ */

struct yamltree *
yamltree_new(void)
{
	return xcalloc(1, sizeof(struct yamltree));
}

void
yamltree_free(struct yamltree *t)
{
	struct yt_block *b, *next;

	if (t == NULL)
		return;
	for (b = t->blocks; b != NULL; b = next) {
		next = b->next;
		if (b->huge != 0)
			xhuge_free(b, b->huge);
		else
			free(b);
	}
	free(t);
}

/* A block with room for at least size bytes: malloc'd while the tree is
 * small, whole huge pages once it is large. */
static struct yt_block *
yt_block_new(struct yamltree *t, size_t size)
{
	struct yt_block *b;
	size_t total = sizeof *b + size;

	if (t->held + total > YT_HUGE_AFTER) {
		total = xhuge_size(total);
		b = xhuge_alloc(total);
		b->huge = total;
	} else {
		b = xmalloc(total);
		b->huge = 0;
	}
	t->held += total;
	b->used = 0;
	b->size = total - sizeof *b;
	return b;
}

/* n bytes, aligned for anything, freed with the tree. A request
 * over a quarter block gets a block of its own (behind the current one,
 * so the current one's room is not lost). */
static void *
yt_alloc(struct yamltree *t, size_t n)
{
	struct yt_block *b = t->blocks, *nb;
	size_t a = sizeof(max_align_t);
	void *p;

	n = (n + a - 1) / a * a;
	if (b == NULL || b->size - b->used < n) {
		nb = yt_block_new(t, n > YT_BLOCK / 4 ? n : YT_BLOCK);
		if (n > YT_BLOCK / 4 && b != NULL) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			t->blocks = nb;
		}
		b = nb;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

/* A node; a scalar's text (len bytes, copied) lives in the same block. */
static struct ynode *
yt_node_new(struct yamltree *t, enum ynode_kind kind,
    const struct cfg_mark *mark, const char *text, size_t len)
{
	struct ynode *n;

	if (kind == YNODE_SCALAR) {
		n = yt_alloc(t, sizeof *n + len + 1);
		memset(n, 0, sizeof *n);
		n->text = (char *)(n + 1);
		memcpy(n->text, text, len);
		n->text[len] = '\0';
		n->len = len;
	} else {
		n = yt_alloc(t, sizeof *n);
		memset(n, 0, sizeof *n);
	}
	n->kind = kind;
	n->mark = *mark;
	return n;
}

/* The arrays double in the arena; the old ones stay until the tree goes
 * (at most as much again). */
static void
yt_append(struct yamltree *t, struct ynode *coll, struct ynode *key,
    struct ynode *value)
{
	struct ynode **items, **keys;
	size_t cap;

	if (coll->n == coll->cap) {
		cap = coll->cap ? coll->cap * 2 : 4;
		items = yt_alloc(t, cap * sizeof *items);
		if (coll->n > 0)
			memcpy(items, coll->items, coll->n * sizeof *items);
		coll->items = items;
		if (coll->kind == YNODE_MAPPING) {
			keys = yt_alloc(t, cap * sizeof *keys);
			if (coll->n > 0)
				memcpy(keys, coll->keys,
				    coll->n * sizeof *keys);
			coll->keys = keys;
		}
		coll->cap = cap;
	}
	if (coll->kind == YNODE_MAPPING)
		coll->keys[coll->n] = key;
	coll->items[coll->n++] = value;
}

/* ---- scalars -------------------------------------------------------------- */

static int
yt_is_int(const char *s, size_t len)
{
	size_t i = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	if (i == len)
		return 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int
yt_is_float(const char *s, size_t len)
{
	size_t i = 0, digits = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		i++;
		digits++;
	}
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
		if (digits == 0)
			return 0;
	}
	return i == len;
}

static int
yt_is_one_of(const char *s, const char *const *words)
{
	for (; *words != NULL; words++) {
		if (strcmp(s, *words) == 0)
			return 1;
	}
	return 0;
}

static void
yt_classify(struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL",
	    NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE",
	    NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf",
	    "+.Inf", "+.INF", NULL };
	static const char *const ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	long long v;

	n->type = YS_STRING;
	if (n->quoted)
		return;
	/* Most plain scalars are words: skip the tables for them. */
	if (n->len > 0 && strchr("~nNtTfF.+-0123456789", n->text[0]) == NULL)
		return;
	if (yt_is_one_of(n->text, nulls))
		n->type = YS_NULL;
	else if (yt_is_one_of(n->text, trues)) {
		n->type = YS_BOOL;
		n->boolean = 1;
	} else if (yt_is_one_of(n->text, falses))
		n->type = YS_BOOL;
	else if (yt_is_int(n->text, n->len)) {
		errno = 0;
		v = strtoll(n->text, NULL, 10);
		if (errno == ERANGE) {
			/* Too big for an integer: a number all the same. */
			n->type = YS_FLOAT;
			n->number = strtod(n->text, NULL);
		} else {
			n->type = YS_INT;
			n->integer = v;
			n->number = (double)v;
		}
	} else if (yt_is_float(n->text, n->len)) {
		n->type = YS_FLOAT;
		n->number = strtod(n->text, NULL);
	} else if (yt_is_one_of(n->text, infs)) {
		n->type = YS_FLOAT;
		n->number = INFINITY;
	} else if (yt_is_one_of(n->text, ninfs)) {
		n->type = YS_FLOAT;
		n->number = -INFINITY;
	} else if (yt_is_one_of(n->text, nans)) {
		n->type = YS_FLOAT;
		n->number = NAN;
	}
}

struct ynode *
yamltree_scalar_new(struct yamltree *t, const char *text,
    const struct cfg_mark *mark)
{
	struct ynode *n = yt_node_new(t, YNODE_SCALAR, mark, text,
	    strlen(text));

	yt_classify(n);
	return n;
}

struct ynode *
yamltree_mapping_new(struct yamltree *t, const struct cfg_mark *mark)
{
	return yt_node_new(t, YNODE_MAPPING, mark, NULL, 0);
}

struct ynode *
yamltree_map_get(const struct ynode *map, const char *key,
    struct ynode **keyp)
{
	size_t i;

	if (keyp != NULL)
		*keyp = NULL;
	if (map == NULL || map->kind != YNODE_MAPPING)
		return NULL;
	for (i = 0; i < map->n; i++) {
		if (strcmp(map->keys[i]->text, key) == 0) {
			if (keyp != NULL)
				*keyp = map->keys[i];
			return map->items[i];
		}
	}
	return NULL;
}

void
yamltree_map_set(struct yamltree *t, struct ynode *map, struct ynode *key,
    struct ynode *value)
{
	size_t i;

	for (i = 0; i < map->n; i++) {
		if (strcmp(map->keys[i]->text, key->text) == 0) {
			map->items[i] = value;
			return;
		}
	}
	yt_append(t, map, key, value);
}

/* qsort has no context argument: the keys being sorted (one thread). */
static const struct ynode *const *yt_sort_keys;

static int
yt_index_cmp(const void *a, const void *b)
{
	return strcmp(yt_sort_keys[*(const size_t *)a]->text,
	    yt_sort_keys[*(const size_t *)b]->text);
}

struct ynode *
yamltree_map_merge(struct yamltree *t, const struct ynode *base,
    const struct ynode *over, const char *skip)
{
	struct ynode *m = yamltree_mapping_new(t, &over->mark);
	size_t i, *idx, lo, hi, mid, nbase = base->n;
	int c;

	for (i = 0; i < base->n; i++)
		yt_append(t, m, base->keys[i], base->items[i]);
	/* Base keys sorted once; over's keys are unique, so those it adds
	 * never need to be found again. */
	idx = xreallocarray(NULL, nbase + 1, sizeof *idx);
	for (i = 0; i < nbase; i++)
		idx[i] = i;
	yt_sort_keys = (const struct ynode *const *)m->keys;
	qsort(idx, nbase, sizeof *idx, yt_index_cmp);
	for (i = 0; i < over->n; i++) {
		if (skip != NULL && strcmp(over->keys[i]->text, skip) == 0)
			continue;
		lo = 0;
		hi = nbase;
		c = 1;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			c = strcmp(over->keys[i]->text, m->keys[idx[mid]]->text);
			if (c == 0)
				break;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (c == 0 && lo < hi) {
			/* the key as the overriding file wrote it */
			m->keys[idx[mid]] = over->keys[i];
			m->items[idx[mid]] = over->items[i];
		} else
			yt_append(t, m, over->keys[i], over->items[i]);
	}
	free(idx);
	return m;
}

/* ---- messages ------------------------------------------------------------- */

char *
yamltree_quote(const char *s, size_t len)
{
	struct buf b;
	size_t i;
	unsigned char c;

	buf_init(&b);
	buf_addch(&b, '"');
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		/* Cut only between UTF-8 characters. */
		if (i >= YT_QUOTE_MAX && (c & 0xc0) != 0x80) {
			buf_addstr(&b, "...");
			break;
		}
		if (c == '"' || c == '\\')
			buf_printf(&b, "\\%c", c);
		else if (c == '\n')
			buf_addstr(&b, "\\n");
		else if (c == '\t')
			buf_addstr(&b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(&b, "\\x%02x", c);
		else
			buf_addch(&b, (char)c);
	}
	buf_addch(&b, '"');
	return buf_steal(&b);
}

/* A long number, cut (numbers are ASCII). */
static char *
yt_cut(const char *s)
{
	char *out;

	xasprintf(&out, "%.*s...", YT_QUOTE_MAX, s);
	return out;
}

char *
yamltree_describe(const struct ynode *n)
{
	if (n == NULL)
		return xstrdup("nothing");
	if (n->kind == YNODE_MAPPING)
		return xstrdup("a mapping");
	if (n->kind == YNODE_SEQUENCE)
		return xstrdup("a list");
	switch (n->type) {
	case YS_NULL:
		return xstrdup(n->len == 0 ? "an empty value" : "null");
	case YS_BOOL:
	case YS_INT:
	case YS_FLOAT:
		if (n->len <= YT_QUOTE_MAX)
			return xstrdup(n->text);
		return yt_cut(n->text);
	case YS_STRING:
		break;
	}
	return yamltree_quote(n->text, n->len);
}

/* ---- loading -------------------------------------------------------------- */

static void PRINTFLIKE(4, 5)
yt_error(struct yt_load *ld, int line, int col, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (ld->errs.len > 0)
		buf_addch(&ld->errs, '\n');
	buf_printf(&ld->errs, "%s:%d:%d: %s", ld->file, line, col, msg);
	free(msg);
}

static void yt_position(const struct yt_load *, size_t, int *, int *);

static struct cfg_mark
yt_mark(struct yt_load *ld, const yaml_mark_t *m)
{
	struct cfg_mark mk;

	mk.file = ld->file;
	if (m->index >= ld->len) {
		/* libyaml puts the end of a text without a final newline on
		 * a line of its own; say where the text really ends. */
		if (ld->end_line == 0)
			yt_position(ld, ld->len, &ld->end_line, &ld->end_col);
		mk.line = ld->end_line;
		mk.col = ld->end_col;
		return mk;
	}
	mk.line = (int)m->line + 1;
	mk.col = (int)m->column + 1 + (m->line == 0 ? ld->col_offset : 0);
	return mk;
}

/* Line and column (in characters) of byte offset off. */
static void
yt_position(const struct yt_load *ld, size_t off, int *line, int *col)
{
	size_t i;

	*line = 1;
	*col = 1 + ld->col_offset;
	for (i = 0; i < off && i < ld->len; i++) {
		if (ld->text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)ld->text[i] & 0xc0) != 0x80)
			(*col)++;
	}
}

/* Length of the valid UTF-8 character at s (at most n bytes), or 0. */
static size_t
yt_utf8_char(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* NUL bytes and invalid UTF-8, before libyaml sees the text. */
static int
yt_check_bytes(struct yt_load *ld)
{
	const unsigned char *s = (const unsigned char *)ld->text;
	size_t off = 0, n;
	int line, col;

	while (off < ld->len) {
		/* ASCII other than NUL, eight bytes at a time: the common
		 * case, and all of a megabyte of it costs well under 1 ms */
		while (off + 8 <= ld->len) {
			uint64_t w;

			memcpy(&w, s + off, 8);
			if ((w & 0x8080808080808080ULL) != 0 ||
			    ((w - 0x0101010101010101ULL) & ~w &
			    0x8080808080808080ULL) != 0)
				break;
			off += 8;
		}
		if (off >= ld->len)
			break;
		if (s[off] == '\0') {
			yt_position(ld, off, &line, &col);
			yt_error(ld, line, col, "a NUL byte (offset %zu); a "
			    "config must be UTF-8 text", off);
			return -1;
		}
		if ((n = yt_utf8_char(s + off, ld->len - off)) == 0) {
			yt_position(ld, off, &line, &col);
			yt_error(ld, line, col, "invalid UTF-8 (byte 0x%02x at "
			    "offset %zu); a config must be UTF-8 text",
			    s[off], off);
			return -1;
		}
		off += n;
	}
	return 0;
}

static int
yt_key_cmp(const void *a, const void *b)
{
	const struct ynode *const *ka = a, *const *kb = b;
	int c;

	if ((*ka)->len != (*kb)->len)
		return (*ka)->len < (*kb)->len ? -1 : 1;
	if ((c = memcmp((*ka)->text, (*kb)->text, (*ka)->len)) != 0)
		return c;
	/* Equal keys stay in file order (nodes are made in file order). */
	if ((*ka)->mark.line != (*kb)->mark.line)
		return (*ka)->mark.line < (*kb)->mark.line ? -1 : 1;
	if ((*ka)->mark.col != (*kb)->mark.col)
		return (*ka)->mark.col < (*kb)->mark.col ? -1 : 1;
	return 0;
}

/* Appends ".key" (or "key" at the start) to a key path; keys that are not
 * plain words are quoted. */
static void
yt_path_add(struct buf *b, const struct ynode *key)
{
	char *q;

	if (b->len > 0)
		buf_addch(b, '.');
	if (key->len > 0 && strcspn(key->text, ". \"[]") == key->len)
		buf_addstr(b, key->text);
	else {
		q = yamltree_quote(key->text, key->len);
		buf_addstr(b, q);
		free(q);
	}
}

/* The key path of the collection at stack[upto] ("task.env", "a[2]"). */
static void
yt_path(const struct yt_load *ld, int upto, struct buf *b)
{
	const struct ynode *parent;
	int i;

	for (i = 1; i <= upto; i++) {
		parent = ld->stack[i - 1].node;
		if (parent->kind == YNODE_SEQUENCE)
			buf_printf(b, "[%zu]", parent->n - 1);
		else
			yt_path_add(b, parent->keys[parent->n - 1]);
	}
}

/* Every key that repeats an earlier one in the mapping on top. */
static void
yt_check_dups(struct yt_load *ld)
{
	struct ynode *map = ld->stack[ld->depth - 1].node, **sorted, *first;
	struct buf path;
	size_t i, j, base;

	if (map->n < 2)
		return;
	sorted = xreallocarray(NULL, map->n, sizeof *sorted);
	memcpy(sorted, map->keys, map->n * sizeof *sorted);
	qsort(sorted, map->n, sizeof *sorted, yt_key_cmp);
	buf_init(&path);
	yt_path(ld, ld->depth - 1, &path);
	base = path.len;
	for (i = 0; i < map->n; i = j) {
		first = sorted[i];
		for (j = i + 1; j < map->n && first->len == sorted[j]->len &&
		    memcmp(first->text, sorted[j]->text, first->len) == 0;
		    j++) {
			path.len = base;
			yt_path_add(&path, sorted[j]);
			yt_error(ld, sorted[j]->mark.line, sorted[j]->mark.col,
			    "%s: duplicate key (first at %s:%d:%d); each key "
			    "may appear once in a mapping", buf_cstr(&path),
			    first->mark.file, first->mark.line,
			    first->mark.col);
		}
	}
	buf_free(&path);
	free(sorted);
}

/* Attaches a new node to the open collection (or makes it the root). */
static int
yt_attach(struct yt_load *ld, struct ynode *n)
{
	struct yt_frame *top;

	if (ld->depth == 0) {
		ld->root = n;
		return 0;
	}
	top = &ld->stack[ld->depth - 1];
	if (top->node->kind == YNODE_SEQUENCE) {
		yt_append(ld->tree, top->node, NULL, n);
		return 0;
	}
	if (top->key == NULL) {
		if (n->kind != YNODE_SCALAR) {
			yt_error(ld, n->mark.line, n->mark.col, "a mapping key "
			    "must be a scalar, found %s",
			    n->kind == YNODE_MAPPING ? "a mapping" : "a list");
			ld->fatal = 1;
			return -1;
		}
		top->key = n;
		return 0;
	}
	yt_append(ld->tree, top->node, top->key, n);
	top->key = NULL;
	return 0;
}

static struct ynode *
yt_new_counted(struct yt_load *ld, enum ynode_kind kind,
    const yaml_mark_t *m, const char *text, size_t len)
{
	struct cfg_mark mk = yt_mark(ld, m);

	if (++ld->nnodes > YAMLTREE_MAX_NODES) {
		yt_error(ld, mk.line, mk.col, "more than %d nodes (values, "
		    "keys, lists and mappings); a config this large is not "
		    "supported", YAMLTREE_MAX_NODES);
		ld->fatal = 1;
		return NULL;
	}
	return yt_node_new(ld->tree, kind, &mk, text, len);
}

/* Anchors, aliases and tags are refused wherever they appear. */
static int
yt_check_props(struct yt_load *ld, const yaml_event_t *ev,
    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	struct cfg_mark mk = yt_mark(ld, &ev->start_mark);

	if (anchor != NULL) {
		yt_error(ld, mk.line, mk.col, "anchors and aliases are not "
		    "supported (found anchor &%s); write the value out",
		    (const char *)anchor);
		ld->fatal = 1;
		return -1;
	}
	if (tag != NULL) {
		yt_error(ld, mk.line, mk.col, "tags are not supported (found "
		    "%s); quote a value to make it a string",
		    (const char *)tag);
		ld->fatal = 1;
		return -1;
	}
	return 0;
}

static void
yt_event(struct yt_load *ld, const yaml_event_t *ev)
{
	struct cfg_mark mk = yt_mark(ld, &ev->start_mark);
	struct ynode *n;
	enum ynode_kind kind;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++ld->ndocs > 1) {
			yt_error(ld, mk.line, mk.col, "a second YAML document "
			    "(---); a config file holds one document");
			ld->fatal = 1;
		}
		break;
	case YAML_ALIAS_EVENT:
		yt_error(ld, mk.line, mk.col, "anchors and aliases are not "
		    "supported (found alias *%s); write the value out",
		    (const char *)ev->data.alias.anchor);
		ld->fatal = 1;
		break;
	case YAML_SCALAR_EVENT:
		if (yt_check_props(ld, ev, ev->data.scalar.anchor,
		    ev->data.scalar.tag) != 0)
			break;
		if (memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) != NULL) {
			yt_error(ld, mk.line, mk.col, "a NUL character (\\0) "
			    "in a string; a config cannot carry one");
			ld->fatal = 1;
			break;
		}
		if ((n = yt_new_counted(ld, YNODE_SCALAR, &ev->start_mark,
		    (const char *)ev->data.scalar.value,
		    ev->data.scalar.length)) == NULL)
			break;
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		yt_classify(n);
		yt_attach(ld, n);
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ev->type == YAML_SEQUENCE_START_EVENT) {
			kind = YNODE_SEQUENCE;
			if (yt_check_props(ld, ev,
			    ev->data.sequence_start.anchor,
			    ev->data.sequence_start.tag) != 0)
				break;
		} else {
			kind = YNODE_MAPPING;
			if (yt_check_props(ld, ev,
			    ev->data.mapping_start.anchor,
			    ev->data.mapping_start.tag) != 0)
				break;
		}
		if (ld->depth >= YAMLTREE_MAX_DEPTH) {
			yt_error(ld, mk.line, mk.col, "nesting deeper than %d "
			    "levels; a config this deep is not supported",
			    YAMLTREE_MAX_DEPTH);
			ld->fatal = 1;
			break;
		}
		if ((n = yt_new_counted(ld, kind, &ev->start_mark, NULL,
		    0)) == NULL)
			break;
		if (yt_attach(ld, n) != 0)
			break;
		ld->stack[ld->depth].node = n;
		ld->stack[ld->depth].key = NULL;
		ld->depth++;
		break;
	case YAML_MAPPING_END_EVENT:
		yt_check_dups(ld);
		ld->depth--;
		break;
	case YAML_SEQUENCE_END_EVENT:
		ld->depth--;
		break;
	default:
		break;
	}
}

/* libyaml's complaint as "FILE:LINE:COL: problem context". */
static void
yt_libyaml_error(struct yt_load *ld, const yaml_parser_t *p)
{
	struct cfg_mark mk, cm;
	int line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		fatalx("libyaml: out of memory");
	case YAML_READER_ERROR:
		yt_position(ld, p->problem_offset, &line, &col);
		yt_error(ld, line, col, "%s", p->problem != NULL ?
		    p->problem : "cannot read the text");
		return;
	default:
		break;
	}
	mk = yt_mark(ld, &p->problem_mark);
	cm = yt_mark(ld, &p->context_mark);
	if (p->context != NULL && cm.line != mk.line)
		yt_error(ld, mk.line, mk.col, "%s %s started at %d:%d",
		    p->problem != NULL ? p->problem : "invalid YAML",
		    p->context, cm.line, cm.col);
	else if (p->context != NULL)
		yt_error(ld, mk.line, mk.col, "%s %s", p->problem != NULL ?
		    p->problem : "invalid YAML", p->context);
	else
		yt_error(ld, mk.line, mk.col, "%s", p->problem != NULL ?
		    p->problem : "invalid YAML");
}

static int
yt_parse(struct yt_load *ld, struct ynode **rootp, char **cause)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int done = 0;

	*rootp = NULL;
	if (yt_check_bytes(ld) != 0)
		goto out;
	if (!yaml_parser_initialize(&p))
		fatalx("libyaml: cannot initialise a parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)ld->text,
	    ld->len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done && !ld->fatal) {
		if (!yaml_parser_parse(&p, &ev)) {
			yt_libyaml_error(ld, &p);
			break;
		}
		yt_event(ld, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
out:
	if (ld->errs.len > 0) {
		*cause = buf_steal(&ld->errs);
		return -1;
	}
	buf_free(&ld->errs);
	*rootp = ld->root;
	return 0;
}

int
yamltree_load_string(struct yamltree *t, const char *text, size_t len,
    const char *markfile, int col_offset, struct ynode **rootp,
    char **cause)
{
	struct yt_load ld;

	memset(&ld, 0, sizeof ld);
	ld.tree = t;
	ld.file = markfile;
	ld.text = text;
	ld.len = len;
	ld.col_offset = col_offset;
	buf_init(&ld.errs);
	if (len > YAMLTREE_MAX_BYTES) {
		*rootp = NULL;
		xasprintf(cause, "%s:1:1: larger than %d bytes (1 MiB); a "
		    "config this large is not supported", markfile,
		    YAMLTREE_MAX_BYTES);
		return -1;
	}
	return yt_parse(&ld, rootp, cause);
}

/* The file's bytes, NUL-terminated, in the tree's arena (no copying as it
 * grows, and huge pages when it is large); *lenp gets their number. */
static char *
yt_read_file(struct yamltree *t, const char *path, const char *markfile,
    size_t *lenp, char **cause)
{
	struct stat st;
	ssize_t got, more;
	char *text, extra;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: cannot open: %s", markfile,
		    strerror(errno));
		return NULL;
	}
	text = NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		xasprintf(cause, "%s: not a regular file", markfile);
	else if (st.st_size > YAMLTREE_MAX_BYTES)
		xasprintf(cause, "%s:1:1: larger than %d bytes (1 MiB); a "
		    "config this large is not supported", markfile,
		    YAMLTREE_MAX_BYTES);
	else {
		text = yt_alloc(t, (size_t)st.st_size + 1);
		/* one byte past the size: a file that grew is not read half */
		if ((got = read_full(fd, text, (size_t)st.st_size)) == -1 ||
		    (more = read_full(fd, &extra, 1)) == -1) {
			xasprintf(cause, "%s:1:1: cannot read: %s", markfile,
			    strerror(errno));
			text = NULL;
		} else if (more > 0) {
			xasprintf(cause, "%s:1:1: cannot read: it grew while "
			    "being read; try again", markfile);
			text = NULL;
		} else {
			text[got] = '\0';
			*lenp = (size_t)got;
		}
	}
	close(fd);
	return text;
}

int
yamltree_load_file(struct yamltree *t, const char *path,
    const char *markfile, struct ynode **rootp, char **textp, char **cause)
{
	char *text;
	size_t len;
	int rc;

	*rootp = NULL;
	if (textp != NULL)
		*textp = NULL;
	if ((text = yt_read_file(t, path, markfile, &len, cause)) == NULL)
		return -1;
	rc = yamltree_load_string(t, text, len, markfile, 0, rootp, cause);
	if (textp != NULL && rc == 0) {
		*textp = xmalloc(len + 1);
		memcpy(*textp, text, len + 1);
	}
	return rc;
}
