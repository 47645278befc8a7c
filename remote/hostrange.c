/*
 * hostrange.c - pdsh/ClusterShell host lists: "node[01-16,20]",
 * "10.0.[1-2].[5-6]", "rack[1-2]-n[1-3]" (a cartesian product, the leftmost
 * bracket varying slowest), several expressions separated by commas outside
 * brackets, "^FILE" (one expression per line, '#' comments), the seed's
 * ip_prefix + ids, and exclusion (pdsh -x). The list keeps the order the
 * user wrote, because that order is the node rank, and refuses a host that
 * is already in it (compared without regard to case, as DNS does).
 *
 * Everything is bounded: 100000 hosts per list, 255 bytes per name, 256
 * parts per expression, 18 digits per number, 8 levels of ^FILE, 1000 files
 * and 16 MiB per file. A ^FILE path is taken as given (relative to the
 * working directory). A failed add leaves the list as it was.
 *
 * This is not a resolver (names are checked for shape, never looked up) and
 * has no @groups, alphabetic ranges or globbing.
 */
#include "remote.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fuzzing build (make fuzz-build) lowers the host cap: inputs that
 * expand to it stay cheap, so a fuzzer spends its time on the parser; the
 * code that enforces the cap is the same. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define HR_MAX_HOSTS	2000
#else
#define HR_MAX_HOSTS	100000
#endif
#define HR_MAX_NAME	255
#define HR_MAX_SEGS	256
#define HR_MAX_DIGITS	18
#define HR_MAX_DEPTH	8
#define HR_MAX_FILES	1000	/* ^FILE reads per call */
#define HR_MAX_FILE	(16 * 1024 * 1024)
#define HR_QUOTE_MAX	80

struct hostlist {
	char **names;
	size_t n;
	size_t cap;
	size_t *slots;		/* open addressing: index + 1, 0 is empty */
	size_t nslots;		/* a power of two, or 0 */
	int skip_dups;		/* exclusion sets: a repeat is not an error */
};

/* One number or range inside brackets. */
struct hr_term {
	uint64_t lo;
	uint64_t hi;
	int width;		/* zero padding, 0 for none */
};

/* A run of literal text (nterms == 0) or one bracket. */
struct hr_seg {
	const char *lit;
	size_t litlen;
	struct hr_term *terms;
	size_t nterms;
};

struct hr_item {
	struct hr_seg segs[HR_MAX_SEGS];
	size_t nsegs;
};

/* ---- messages ------------------------------------------------------------ */

/* The text as a user can read it in a message: printable ASCII as is,
 * anything else as \xNN, cut after HR_QUOTE_MAX bytes. Caller frees. */
static char *
hr_printable(const char *s, size_t len)
{
	struct buf b;
	size_t i;
	unsigned char c;

	buf_init(&b);
	for (i = 0; i < len && i < HR_QUOTE_MAX; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			buf_printf(&b, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			buf_addch(&b, (char)c);
		else
			buf_printf(&b, "\\x%02x", c);
	}
	if (len > HR_QUOTE_MAX)
		buf_addstr(&b, "...");
	return buf_steal(&b);
}

/* *cause = "\"ITEM\": MESSAGE". */
static void PRINTFLIKE(4, 5)
hr_error(char **cause, const char *item, size_t len, const char *fmt, ...)
{
	va_list ap;
	char *msg, *q;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	q = hr_printable(item, len);
	xasprintf(cause, "\"%s\": %s", q, msg);
	free(q);
	free(msg);
}

/* ---- the list and its hash ----------------------------------------------- */

static size_t
hr_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* The slot that holds name, or the empty slot where it would go. */
static size_t
hr_slot(const struct hostlist *hl, const char *name)
{
	size_t mask = hl->nslots - 1, i = hr_hash(name) & mask, idx;

	while ((idx = hl->slots[i]) != 0) {
		if (strcasecmp(hl->names[idx - 1], name) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static void
hr_rehash(struct hostlist *hl)
{
	size_t want = 64, i;

	while (want < hl->n * 2 + 2)
		want *= 2;
	free(hl->slots);
	hl->nslots = want;
	hl->slots = xcalloc(want, sizeof *hl->slots);
	for (i = 0; i < hl->n; i++)
		hl->slots[hr_slot(hl, hl->names[i])] = i + 1;
}

static int
hr_contains(const struct hostlist *hl, const char *name)
{
	if (hl->nslots == 0)
		return 0;
	return hl->slots[hr_slot(hl, name)] != 0;
}

/* Appends name; a repeat is an error unless skip_dups. */
static int
hr_append(struct hostlist *hl, const char *name, char **cause)
{
	const char *old;
	size_t slot;

	if (hl->nslots == 0 || (hl->n + 1) * 2 > hl->nslots)
		hr_rehash(hl);
	slot = hr_slot(hl, name);
	if (hl->slots[slot] != 0) {
		if (hl->skip_dups)
			return 0;
		old = hl->names[hl->slots[slot] - 1];
		xasprintf(cause, "host %s is already in the list (host "
		    "%zu%s%s); each host may appear once", name,
		    hl->slots[slot], strcmp(old, name) != 0 ? ", written " : "",
		    strcmp(old, name) != 0 ? old : "");
		return -1;
	}
	if (hl->n >= HR_MAX_HOSTS) {
		xasprintf(cause, "more than %d hosts in one list",
		    HR_MAX_HOSTS);
		return -1;
	}
	if (hl->n == hl->cap) {
		hl->cap = hl->cap ? hl->cap * 2 : 16;
		hl->names = xreallocarray(hl->names, hl->cap,
		    sizeof *hl->names);
	}
	hl->names[hl->n] = xstrdup(name);
	hl->slots[slot] = ++hl->n;
	return 0;
}

/* Drops every name after the first n (undoing a failed add). */
static void
hr_truncate(struct hostlist *hl, size_t n)
{
	if (hl->n <= n)
		return;
	while (hl->n > n)
		free(hl->names[--hl->n]);
	hr_rehash(hl);
}

struct hostlist *
hostlist_new(void)
{
	return xcalloc(1, sizeof (struct hostlist));
}

void
hostlist_free(struct hostlist *hl)
{
	size_t i;

	if (hl == NULL)
		return;
	for (i = 0; i < hl->n; i++)
		free(hl->names[i]);
	free(hl->slots);
	free(hl->names);
	free(hl);
}

size_t
hostlist_count(const struct hostlist *hl)
{
	return hl->n;
}

const char *
hostlist_get(const struct hostlist *hl, size_t i)
{
	if (i >= hl->n)
		return NULL;
	return hl->names[i];
}

/* ---- one expression ------------------------------------------------------ */

static int
hr_namechar(unsigned char c)
{
	return isascii(c) && (isalnum(c) || c == '-' || c == '.' || c == '_');
}

static void
hr_item_clear(struct hr_item *it)
{
	size_t i;

	for (i = 0; i < it->nsegs; i++)
		free(it->segs[i].terms);
	it->nsegs = 0;
}

/* A decimal number of 1..HR_MAX_DIGITS digits at s[*off]. */
static int
hr_number(const char *s, size_t len, size_t *off, uint64_t *v, int *width,
    const char *item, size_t itemlen, char **cause)
{
	size_t start = *off;

	*v = 0;
	while (*off < len && isdigit((unsigned char)s[*off])) {
		if (*off - start == HR_MAX_DIGITS) {
			hr_error(cause, item, itemlen, "number at offset %zu "
			    "has more than %d digits", start, HR_MAX_DIGITS);
			return -1;
		}
		*v = *v * 10 + (uint64_t)(s[*off] - '0');
		(*off)++;
	}
	if (*off == start) {
		if (*off >= len || s[*off] == ',' || s[*off] == ']')
			hr_error(cause, item, itemlen, "empty range at "
			    "offset %zu", start);
		else if (isprint((unsigned char)s[*off]))
			hr_error(cause, item, itemlen, "expected a number at "
			    "offset %zu, found '%c'", start, s[*off]);
		else
			hr_error(cause, item, itemlen, "expected a number at "
			    "offset %zu, found \\x%02x", start,
			    (unsigned char)s[*off]);
		return -1;
	}
	*width = (*off - start > 1 && s[start] == '0') ? (int)(*off - start) :
	    0;
	return 0;
}

/* Parses the inside of one bracket, s[open+1 .. close-1]. */
static int
hr_bracket(const char *item, size_t itemlen, size_t open, size_t close,
    struct hr_seg *seg, uint64_t *countp, char **cause)
{
	size_t off = open + 1, cap = 0;
	struct hr_term t;
	uint64_t count = 0;
	int hiwidth;

	if (close == open + 1) {
		hr_error(cause, item, itemlen, "empty brackets at offset %zu",
		    open);
		return -1;
	}
	for (;;) {
		if (hr_number(item, close, &off, &t.lo, &t.width, item,
		    itemlen, cause) != 0)
			return -1;
		t.hi = t.lo;
		if (off < close && item[off] == '-') {
			off++;
			if (hr_number(item, close, &off, &t.hi, &hiwidth, item,
			    itemlen, cause) != 0)
				return -1;
			if (t.lo > t.hi) {
				hr_error(cause, item, itemlen, "range start "
				    "%llu is above its end %llu",
				    (unsigned long long)t.lo,
				    (unsigned long long)t.hi);
				return -1;
			}
		}
		if (t.hi - t.lo >= HR_MAX_HOSTS ||
		    count + (t.hi - t.lo + 1) > HR_MAX_HOSTS) {
			hr_error(cause, item, itemlen, "brackets at offset %zu "
			    "hold more than %d hosts", open, HR_MAX_HOSTS);
			return -1;
		}
		count += t.hi - t.lo + 1;
		if (seg->nterms == cap) {
			cap = cap ? cap * 2 : 4;
			seg->terms = xreallocarray(seg->terms, cap,
			    sizeof *seg->terms);
		}
		seg->terms[seg->nterms++] = t;
		if (off == close)
			break;
		if (item[off] != ',') {
			hr_error(cause, item, itemlen, "unexpected '%c' at "
			    "offset %zu inside brackets (only numbers, "
			    "ranges A-B and commas)", isprint((unsigned char)
			    item[off]) ? item[off] : '?', off);
			return -1;
		}
		off++;
	}
	*countp = count;
	return 0;
}

/* Splits one expression (no top-level commas) into segments. */
static int
hr_parse_item(const char *item, size_t len, struct hr_item *it,
    uint64_t *totalp, char **cause)
{
	size_t off = 0, start, close;
	uint64_t total = 1, count;
	struct hr_seg *seg;
	unsigned char c;

	it->nsegs = 0;
	while (off < len) {
		if (it->nsegs == HR_MAX_SEGS) {
			hr_error(cause, item, len, "more than %d parts",
			    HR_MAX_SEGS);
			return -1;
		}
		seg = &it->segs[it->nsegs];
		memset(seg, 0, sizeof *seg);
		if (item[off] == '[') {
			close = off + 1;
			while (close < len && item[close] != ']' &&
			    item[close] != '[')
				close++;
			if (close == len) {
				hr_error(cause, item, len, "unbalanced '[' at "
				    "offset %zu", off);
				return -1;
			}
			if (item[close] == '[') {
				hr_error(cause, item, len, "'[' at offset %zu "
				    "inside brackets (they do not nest)",
				    close);
				return -1;
			}
			it->nsegs++;
			if (hr_bracket(item, len, off, close, seg, &count,
			    cause) != 0)
				return -1;
			if (total > HR_MAX_HOSTS / count) {
				hr_error(cause, item, len, "expands to more "
				    "than %d hosts", HR_MAX_HOSTS);
				return -1;
			}
			total *= count;
			off = close + 1;
			continue;
		}
		start = off;
		while (off < len && item[off] != '[') {
			c = (unsigned char)item[off];
			if (c == ']') {
				hr_error(cause, item, len, "unbalanced ']' at "
				    "offset %zu", off);
				return -1;
			}
			if (!hr_namechar(c)) {
				if (c > 0x20 && c < 0x7f)
					hr_error(cause, item, len, "invalid "
					    "character '%c' at offset %zu", c,
					    off);
				else
					hr_error(cause, item, len, "invalid "
					    "character \\x%02x at offset %zu",
					    c, off);
				return -1;
			}
			off++;
		}
		seg->lit = item + start;
		seg->litlen = off - start;
		it->nsegs++;
	}
	*totalp = total;
	return 0;
}

typedef int (*hr_emit_fn)(const char *, void *, char **);

/* Builds every name of a parsed item, leftmost bracket slowest. */
static int
hr_expand(const char *item, size_t len, const struct hr_item *it,
    hr_emit_fn emit, void *arg, char **cause)
{
	size_t ti[HR_MAX_SEGS], i, nlen;
	uint64_t v[HR_MAX_SEGS];
	char name[HR_MAX_NAME + 1], num[64], *inner = NULL;
	const struct hr_seg *seg;
	int n;

	for (i = 0; i < it->nsegs; i++) {
		ti[i] = 0;
		v[i] = it->segs[i].nterms ? it->segs[i].terms[0].lo : 0;
	}
	for (;;) {
		nlen = 0;
		for (i = 0; i < it->nsegs; i++) {
			seg = &it->segs[i];
			if (seg->nterms == 0) {
				if (seg->litlen > HR_MAX_NAME - nlen)
					goto toolong;
				memcpy(name + nlen, seg->lit, seg->litlen);
				nlen += seg->litlen;
				continue;
			}
			n = snprintf(num, sizeof num, "%0*llu",
			    seg->terms[ti[i]].width, (unsigned long long)v[i]);
			if (n < 0 || (size_t)n > HR_MAX_NAME - nlen)
				goto toolong;
			memcpy(name + nlen, num, (size_t)n);
			nlen += (size_t)n;
		}
		name[nlen] = '\0';
		if (name[0] == '-') {
			hr_error(cause, item, len, "host name %s starts with "
			    "'-'", name);
			return -1;
		}
		if (emit(name, arg, &inner) != 0) {
			hr_error(cause, item, len, "%s", inner);
			free(inner);
			return -1;
		}
		/* Advance the odometer from the right. */
		for (i = it->nsegs; i > 0; i--) {
			seg = &it->segs[i - 1];
			if (seg->nterms == 0)
				continue;
			if (v[i - 1] < seg->terms[ti[i - 1]].hi) {
				v[i - 1]++;
				break;
			}
			if (++ti[i - 1] < seg->nterms) {
				v[i - 1] = seg->terms[ti[i - 1]].lo;
				break;
			}
			ti[i - 1] = 0;
			v[i - 1] = seg->terms[0].lo;
		}
		if (i == 0)
			return 0;
	}

toolong:
	hr_error(cause, item, len, "a host name would be longer than %d bytes",
	    HR_MAX_NAME);
	return -1;
}

struct hr_ctx {
	struct hostlist *hl;
	int depth;
	int nfiles;
};

static int hr_add_expr(struct hr_ctx *, const char *, size_t, char **);

static int
hr_emit_append(const char *name, void *arg, char **cause)
{
	return hr_append(arg, name, cause);
}

static int
hr_add_item(struct hr_ctx *ctx, const char *item, size_t len, char **cause)
{
	struct hr_item *it = xmalloc(sizeof *it);
	uint64_t total;
	int rc = -1;

	if (hr_parse_item(item, len, it, &total, cause) == 0 &&
	    hr_expand(item, len, it, hr_emit_append, ctx->hl, cause) == 0)
		rc = 0;
	hr_item_clear(it);
	free(it);
	return rc;
}

static int
hr_isblank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

/* ^FILE: one expression per line; '#' starts a comment. */
static int
hr_add_file(struct hr_ctx *ctx, const char *path, char **cause)
{
	struct buf b;
	size_t off = 0, end, s, e, lineno = 0;
	char *nl, *hash, *inner = NULL;
	int rc = -1;

	buf_init(&b);
	if (ctx->depth >= HR_MAX_DEPTH) {
		xasprintf(cause, "^%s: files include each other more than %d "
		    "deep (does one include itself?)", path, HR_MAX_DEPTH);
		goto out;
	}
	if (++ctx->nfiles > HR_MAX_FILES) {
		xasprintf(cause, "^%s: more than %d host files read for one "
		    "expression", path, HR_MAX_FILES);
		goto out;
	}
	if (file_read_all(path, HR_MAX_FILE, &b, &inner) != 0) {
		xasprintf(cause, "host file %s", inner);
		goto out;
	}
	ctx->depth++;
	while (off < b.len) {
		lineno++;
		nl = memchr(b.data + off, '\n', b.len - off);
		end = nl != NULL ? (size_t)(nl - b.data) : b.len;
		hash = memchr(b.data + off, '#', end - off);
		e = hash != NULL ? (size_t)(hash - b.data) : end;
		s = off;
		while (s < e && hr_isblank(b.data[s]))
			s++;
		while (e > s && hr_isblank(b.data[e - 1]))
			e--;
		if (e > s && hr_add_expr(ctx, b.data + s, e - s, &inner) != 0) {
			xasprintf(cause, "%s:%zu: %s", path, lineno, inner);
			ctx->depth--;
			goto out;
		}
		off = end + 1;
	}
	ctx->depth--;
	rc = 0;
out:
	free(inner);
	buf_free(&b);
	return rc;
}

/* Comma-separated expressions; commas inside brackets belong to them. */
static int
hr_add_expr(struct hr_ctx *ctx, const char *expr, size_t len, char **cause)
{
	size_t off, start = 0, s, e;
	int depth = 0, last;
	char *path;

	/* Balance first, so the message points at the bracket. */
	for (off = 0; off < len; off++) {
		if (expr[off] == '[')
			depth++;
		else if (expr[off] == ']' && --depth < 0) {
			hr_error(cause, expr, len, "unbalanced ']' at offset "
			    "%zu", off);
			return -1;
		}
		if (depth > 1) {
			hr_error(cause, expr, len, "'[' at offset %zu inside "
			    "brackets (they do not nest)", off);
			return -1;
		}
	}
	if (depth != 0) {
		hr_error(cause, expr, len, "unbalanced '[' (never closed)");
		return -1;
	}
	for (off = 0; off <= len; off++) {
		last = off == len;
		if (!last && expr[off] == '[')
			depth++;
		else if (!last && expr[off] == ']')
			depth--;
		if (!last && (expr[off] != ',' || depth != 0))
			continue;
		s = start;
		e = off;
		while (s < e && hr_isblank(expr[s]))
			s++;
		while (e > s && hr_isblank(expr[e - 1]))
			e--;
		if (e > s && expr[s] == '^') {
			for (s++; s < e && hr_isblank(expr[s]); s++)
				;
			if (s == e || memchr(expr + s, '\0', e - s) != NULL) {
				hr_error(cause, expr, len, "'^' needs a file "
				    "name");
				return -1;
			}
			path = xstrndup(expr + s, e - s);
			if (hr_add_file(ctx, path, cause) != 0) {
				free(path);
				return -1;
			}
			free(path);
		} else if (e == s) {
			hr_error(cause, expr, len, "empty host name at offset "
			    "%zu (two commas in a row, or a comma at the "
			    "start or end)", start);
			return -1;
		} else if (hr_add_item(ctx, expr + s, e - s, cause) != 0)
			return -1;
		start = off + 1;
	}
	return 0;
}

int
hostlist_add(struct hostlist *hl, const char *expr, char **cause)
{
	struct hr_ctx ctx = { hl, 0, 0 };
	size_t n0 = hl->n;

	if (hr_add_expr(&ctx, expr, strlen(expr), cause) != 0) {
		hr_truncate(hl, n0);
		return -1;
	}
	return 0;
}

/* ---- the seed's ip_prefix + ids ------------------------------------------ */

/* 1 when s is three dot-separated decimal octets (each 0..255). */
static int
hr_ipv4_prefix(const char *s, size_t len, int *allnum)
{
	size_t off = 0, digits;
	int parts = 0;
	unsigned v;

	*allnum = 1;
	for (off = 0; off < len; off++) {
		if (!isdigit((unsigned char)s[off]) && s[off] != '.')
			*allnum = 0;
	}
	if (!*allnum)
		return 0;
	off = 0;
	for (;;) {
		v = 0;
		digits = 0;
		while (off < len && isdigit((unsigned char)s[off]) &&
		    digits < 4) {
			v = v * 10 + (unsigned)(s[off++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return 0;
		parts++;
		if (off == len)
			break;
		if (s[off++] != '.' || off == len)
			return 0;
	}
	return parts == 3;
}

int
hostlist_add_prefix_ids(struct hostlist *hl, const char *prefix,
    const int64_t *ids, size_t n, char **cause)
{
	size_t len = strlen(prefix), i, n0 = hl->n;
	char name[HR_MAX_NAME + 1], *inner = NULL;
	struct hr_item it;
	uint64_t total;
	int allnum, ipv4;

	if (len > 0 && prefix[len - 1] == '.')
		len--;		/* "192.168.203." means the same */
	if (len == 0) {
		xasprintf(cause, "ip_prefix is empty");
		return -1;
	}
	if (memchr(prefix, '[', len) != NULL) {
		hr_error(cause, prefix, len, "ip_prefix cannot hold a range; "
		    "use hosts: with brackets instead");
		return -1;
	}
	ipv4 = hr_ipv4_prefix(prefix, len, &allnum);
	if (allnum && !ipv4) {
		hr_error(cause, prefix, len, "ip_prefix is not three octets "
		    "A.B.C, each 0..255");
		return -1;
	}
	if (!ipv4) {
		if (hr_parse_item(prefix, len, &it, &total, cause) != 0)
			return -1;
		hr_item_clear(&it);
		if (prefix[0] == '-') {
			hr_error(cause, prefix, len, "ip_prefix cannot start "
			    "with '-'");
			return -1;
		}
	}
	if (n == 0) {
		hr_error(cause, prefix, len, "ip_prefix has no ids");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ids[i] < 0 || (ipv4 && ids[i] > 255)) {
			hr_error(cause, prefix, len, "ids[%zu] is %lld, not "
			    "in 0..%s", i, (long long)ids[i],
			    ipv4 ? "255" : "any");
			goto fail;
		}
		if (snprintf(name, sizeof name, "%.*s.%lld", (int)len, prefix,
		    (long long)ids[i]) >= (int)sizeof name) {
			hr_error(cause, prefix, len, "a host name would be "
			    "longer than %d bytes", HR_MAX_NAME);
			goto fail;
		}
		if (hr_append(hl, name, &inner) != 0) {
			hr_error(cause, prefix, len, "ids[%zu]: %s", i, inner);
			free(inner);
			goto fail;
		}
	}
	return 0;
fail:
	hr_truncate(hl, n0);
	return -1;
}

/* ---- exclusion ----------------------------------------------------------- */

int
hostlist_exclude(struct hostlist *hl, const char *expr, char **cause)
{
	struct hostlist *ex = hostlist_new();
	struct hr_ctx ctx = { ex, 0, 0 };
	size_t i, kept = 0;

	ex->skip_dups = 1;
	if (hr_add_expr(&ctx, expr, strlen(expr), cause) != 0) {
		hostlist_free(ex);
		return -1;
	}
	for (i = 0; i < hl->n; i++) {
		if (hr_contains(ex, hl->names[i]))
			free(hl->names[i]);
		else
			hl->names[kept++] = hl->names[i];
	}
	hl->n = kept;
	hr_rehash(hl);
	hostlist_free(ex);
	return 0;
}
