/*
 * parse_regex.c - user patterns for logs no preset knows. The spec's
 * parser object carries {"patterns":[{"regex":"POSIX ERE","fields":[...]}]}:
 * capture group k fills fields[k-1] (step, total_steps, epoch, loss, lr,
 * step_time_ms, samples_per_s, any other name for an extra, "" to skip a
 * group). A match with a step makes a metric; a match without one sets
 * sticky values (an epoch line, a total line) that later metrics carry,
 * as they carry the values a step's line gave those fields (total_steps,
 * epoch and the fields of patterns without a step).
 */
#include "agent.h"
#include "parse_impl.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define REGEX_MAX_PATTERNS	32
#define REGEX_MAX_GROUPS	16
#define REGEX_MAX_LEN		1024
#define REGEX_MAX_NEST		32
#define REGEX_MAX_EMPTY_DEPTH	4	/* "(((x*)+)+)+" */
#define REGEX_MAX_EMPTY_COPIES	500	/* "(x*){500}" */
#define REGEX_MAX_COPIES	20000

struct regex_pat {
	regex_t re;
	int compiled;
	char **fields;		/* nfields names, "" for a skipped group */
	size_t nfields;
	int has_step;
};

struct regex_fmt {
	struct regex_pat *pat;
	size_t npat;
	struct metric sticky;	/* values from matches without a step */
	uint64_t sticky_off;	/* first line that changed them since the
				   last metric, UINT64_MAX if none */
};

/*
 * What regex_too_big() finds: the cost of glibc's regcomp grows with the
 * copies it makes of atoms ("a+" is "aa*", "a{2,5}" is five copies), and
 * far faster (seconds to minutes at a dozen levels) when a repetition
 * repeats an expression that can match nothing: "x*+", "((x*)+)+". Such a
 * nesting adds nothing a single "*" does not already match.
 */
enum regex_cost { REGEX_OK, REGEX_COPIES, REGEX_EMPTY_REPEATS };

/* The expression being scanned at one level of parentheses. */
struct regex_level {
	double cur;		/* atoms so far */
	int alt_empty;		/* the alternative so far can match nothing */
	int grp_empty;		/* an earlier alternative can */
	int depth;		/* deepest repetition of the empty, inside */
};

/* A repetition applied to the last item: may it match nothing, how deep. */
static void
regex_repeat(struct regex_level *l, int before_empty, int *last_empty,
    int *last_depth, int makes_empty, int copies)
{
	if (*last_empty && (makes_empty || copies))
		(*last_depth)++;
	else if (makes_empty && *last_depth == 0)
		*last_depth = 1;
	if (makes_empty)
		*last_empty = 1;
	l->alt_empty = before_empty && *last_empty;
	if (*last_depth > l->depth)
		l->depth = *last_depth;
}

/*
 * Roughly how many atoms glibc's regcomp builds for s, and how deep
 * repetitions of expressions that can match nothing nest. Stacked or
 * nested repetitions multiply copies: "(x+++++...)" with 80 '+' asks for
 * 2^80 and takes all memory. Bracket expressions and escaped characters
 * are one atom; * and ? copy nothing.
 */
static enum regex_cost
regex_too_big(const char *s)
{
	struct regex_level outer[REGEX_MAX_NEST], l = { 0, 1, 0, 0 }, in;
	double last = 0, n, m;
	int nest = 0, before_empty = 1, last_empty = 0, last_depth = 0;
	char *e;

	while (*s != '\0') {
		switch (*s) {
		case '\\':
			s += s[1] != '\0' ? 2 : 1;
			goto atom;
		case '[':
			/* ']' first (after an optional '^') is a member */
			s++;
			if (*s == '^')
				s++;
			if (*s == ']')
				s++;
			while (*s != '\0' && *s != ']') {
				if (*s == '[' && (s[1] == ':' || s[1] == '.' ||
				    s[1] == '=')) {
					e = strchr(s + 2, ']');
					s = e != NULL ? e : s + 1;
				}
				s++;
			}
			if (*s != '\0')
				s++;
			goto atom;
		case '(':
			if (nest == REGEX_MAX_NEST)
				return REGEX_COPIES;
			outer[nest++] = l;
			l.cur = 0;
			l.alt_empty = 1;
			l.grp_empty = 0;
			l.depth = 0;
			last = 0;
			before_empty = 1;
			last_empty = 0;
			last_depth = 0;
			s++;
			continue;
		case ')':
			in = l;
			if (nest > 0)
				l = outer[--nest];
			else
				l = (struct regex_level){ 0, 1, 0, 0 };
			last = in.cur;
			l.cur += in.cur;
			before_empty = l.alt_empty;
			last_empty = in.grp_empty || in.alt_empty;
			last_depth = in.depth;
			l.alt_empty = before_empty && last_empty;
			if (in.depth > l.depth)
				l.depth = in.depth;
			s++;
			continue;
		case '|':
			l.grp_empty |= l.alt_empty;
			l.alt_empty = 1;
			last = 0;
			before_empty = 1;
			last_empty = 0;
			last_depth = 0;
			s++;
			continue;
		case '+':
			l.cur += last;
			last *= 2;
			regex_repeat(&l, before_empty, &last_empty, &last_depth,
			    0, 1);
			if (last_empty && last > REGEX_MAX_EMPTY_COPIES)
				return REGEX_EMPTY_REPEATS;
			break;
		case '{':
			n = strtod(s + 1, &e);
			if (e == s + 1 || n < 0) {
				s++;
				goto atom;	/* a literal '{' */
			}
			m = n;
			if (*e == ',') {
				m = strtod(e + 1, &e);
				if (e[-1] == ',')
					m = n + 1;	/* "{n,}" */
			}
			if (m < n)
				m = n;
			if (m > 1) {
				l.cur += last * (m - 1);
				last *= m;
			}
			regex_repeat(&l, before_empty, &last_empty, &last_depth,
			    n == 0, m > 1);
			if (last_empty && m > 1 && last > REGEX_MAX_EMPTY_COPIES)
				return REGEX_EMPTY_REPEATS;
			while (*e != '\0' && *e != '}')
				e++;
			s = *e == '}' ? e : e - 1;
			break;
		case '*':
		case '?':
			regex_repeat(&l, before_empty, &last_empty, &last_depth,
			    1, 0);
			break;
		default:
			s++;
			goto atom;
		}
		if (l.cur > REGEX_MAX_COPIES)
			return REGEX_COPIES;
		if (l.depth > REGEX_MAX_EMPTY_DEPTH)
			return REGEX_EMPTY_REPEATS;
		if (*s != '\0')
			s++;
		continue;
atom:
		/* s is past the atom */
		l.cur += 1;
		last = 1;
		before_empty = l.alt_empty;
		last_empty = 0;
		last_depth = 0;
		l.alt_empty = 0;
		if (l.cur > REGEX_MAX_COPIES)
			return REGEX_COPIES;
	}
	return REGEX_OK;
}

static void
regex_destroy(void *arg)
{
	struct regex_fmt *r = arg;
	size_t i, k;

	if (r == NULL)
		return;
	for (i = 0; i < r->npat; i++) {
		if (r->pat[i].compiled)
			regfree(&r->pat[i].re);
		for (k = 0; k < r->pat[i].nfields; k++)
			free(r->pat[i].fields[k]);
		free(r->pat[i].fields);
	}
	free(r->pat);
	free(r);
}

static int
regex_name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0)
		return 1;
	if (n >= sizeof ((struct metric *)0)->extra[0].name ||
	    strcmp(s, "nonfinite") == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '/' && c != '-')
			return 0;
	}
	return 1;
}

static int
regex_compile(struct regex_pat *rp, size_t i, const json_t *pj, char **cause)
{
	const json_t *fj, *name;
	const char *src;
	char err[256];
	enum regex_cost cost;
	size_t k;
	int rc;

	if (!json_is_object(pj)) {
		xasprintf(cause, "parser.patterns[%zu]: must be an object "
		    "with \"regex\" and \"fields\"", i);
		return -1;
	}
	if ((src = json_string_value(json_object_get(pj, "regex"))) == NULL ||
	    *src == '\0') {
		xasprintf(cause, "parser.patterns[%zu].regex: must be a "
		    "non-empty string (a POSIX extended regular expression)",
		    i);
		return -1;
	}
	cost = strlen(src) > REGEX_MAX_LEN ? REGEX_COPIES : regex_too_big(src);
	if (cost == REGEX_COPIES) {
		xasprintf(cause, "parser.patterns[%zu].regex: too large: "
		    "over %d bytes, or repetitions (+, {n,m}) stacked or "
		    "nested so deep that compiling it would take over %d "
		    "copies; simplify it", i, REGEX_MAX_LEN, REGEX_MAX_COPIES);
		return -1;
	}
	if (cost == REGEX_EMPTY_REPEATS) {
		xasprintf(cause, "parser.patterns[%zu].regex: repeats "
		    "something that can match nothing, nested over %d deep "
		    "or over %d times (like \"x*+\", \"((x*)+)+\" or "
		    "\"(x*){1000}\"): glibc takes seconds to hours to "
		    "compile that; one \"*\" matches the same", i,
		    REGEX_MAX_EMPTY_DEPTH, REGEX_MAX_EMPTY_COPIES);
		return -1;
	}
	if ((rc = regcomp(&rp->re, src, REG_EXTENDED)) != 0) {
		regerror(rc, &rp->re, err, sizeof err);
		xasprintf(cause, "parser.patterns[%zu].regex: %s in \"%s\"", i,
		    err, src);
		return -1;
	}
	rp->compiled = 1;
	fj = json_object_get(pj, "fields");
	if (!json_is_array(fj) || json_array_size(fj) == 0) {
		xasprintf(cause, "parser.patterns[%zu].fields: must be a "
		    "non-empty array of field names, one per capture group", i);
		return -1;
	}
	if (json_array_size(fj) > rp->re.re_nsub ||
	    json_array_size(fj) > REGEX_MAX_GROUPS) {
		xasprintf(cause, "parser.patterns[%zu].fields: %zu names but "
		    "the regex has %zu capture groups", i, json_array_size(fj),
		    (size_t)rp->re.re_nsub);
		return -1;
	}
	rp->fields = xcalloc(json_array_size(fj), sizeof *rp->fields);
	json_array_foreach(fj, k, name) {
		if (!json_is_string(name) ||
		    !regex_name_ok(json_string_value(name))) {
			xasprintf(cause, "parser.patterns[%zu].fields[%zu]: "
			    "must be a field name (step, total_steps, epoch, "
			    "loss, lr, step_time_ms, samples_per_s, or an "
			    "extra of 1-39 characters [A-Za-z0-9_./-]; \"\" "
			    "skips the group)", i, k);
			return -1;
		}
		rp->fields[rp->nfields++] = xstrdup(json_string_value(name));
		if (strcmp(json_string_value(name), "step") == 0)
			rp->has_step = 1;
	}
	return 0;
}

static void *
regex_create(const json_t *opts, char **cause)
{
	struct regex_fmt *r;
	const json_t *pats, *pj;
	size_t i;

	pats = json_object_get(opts, "patterns");
	if (!json_is_array(pats) || json_array_size(pats) == 0) {
		xasprintf(cause, "parser.patterns: the regex format needs a "
		    "non-empty array of {\"regex\": ..., \"fields\": [...]}");
		return NULL;
	}
	if (json_array_size(pats) > REGEX_MAX_PATTERNS) {
		xasprintf(cause, "parser.patterns: at most %d patterns",
		    REGEX_MAX_PATTERNS);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	metric_clear(&r->sticky);
	r->sticky_off = UINT64_MAX;
	r->pat = xcalloc(json_array_size(pats), sizeof *r->pat);
	json_array_foreach(pats, i, pj) {
		r->npat++;
		if (regex_compile(&r->pat[i], i, pj, cause) != 0) {
			regex_destroy(r);
			return NULL;
		}
	}
	return r;
}

/* Sets one named value of m from the text of a capture group. */
static void
regex_set(struct metric *m, const char *name, const char *text)
{
	const char *e;
	double d;
	int64_t v;

	if (strcmp(name, "step") == 0 || strcmp(name, "total_steps") == 0 ||
	    strcmp(name, "epoch") == 0) {
		if (parse_integer(text, &e, &v) != 0 || v < 0)
			return;
		if (name[0] == 's')
			m->step = v;
		else if (name[0] == 't') {
			m->total_steps = v;
			m->has |= METRIC_HAS_TOTAL;
		} else {
			m->epoch = v;
			m->has |= METRIC_HAS_EPOCH;
		}
		return;
	}
	if (parse_number(parse_skip_blanks(text), &e, &d) != 0)
		return;
	if (strcmp(name, "loss") == 0) {
		m->loss = d;
		m->has |= METRIC_HAS_LOSS;
	} else if (strcmp(name, "lr") == 0) {
		m->lr = d;
		m->has |= METRIC_HAS_LR;
	} else if (strcmp(name, "step_time_ms") == 0) {
		m->step_time_ms = d;
		m->has |= METRIC_HAS_STEP_TIME;
	} else if (strcmp(name, "samples_per_s") == 0) {
		m->samples_per_s = d;
		m->has |= METRIC_HAS_SAMPLES;
	} else
		(void)metric_set_extra(m, name, strlen(name), d);
}

/* Copies what src has into dst. */
static void
regex_merge(struct metric *dst, const struct metric *src)
{
	int i;

	if (src->has & METRIC_HAS_TOTAL)
		dst->total_steps = src->total_steps;
	if (src->has & METRIC_HAS_EPOCH)
		dst->epoch = src->epoch;
	if (src->has & METRIC_HAS_LOSS)
		dst->loss = src->loss;
	if (src->has & METRIC_HAS_LR)
		dst->lr = src->lr;
	if (src->has & METRIC_HAS_STEP_TIME)
		dst->step_time_ms = src->step_time_ms;
	if (src->has & METRIC_HAS_SAMPLES)
		dst->samples_per_s = src->samples_per_s;
	dst->has |= src->has;
	for (i = 0; i < src->nextra; i++)
		(void)metric_set_extra(dst, src->extra[i].name,
		    strlen(src->extra[i].name), src->extra[i].value);
}

/* Fills m from the groups of a match. */
static void
regex_apply(const struct regex_pat *rp, const char *s,
    const regmatch_t *rm, struct metric *m)
{
	char text[128];
	size_t k, n;

	for (k = 0; k < rp->nfields; k++) {
		if (rp->fields[k][0] == '\0' || rm[k + 1].rm_so < 0)
			continue;
		n = rm[k + 1].rm_eo - rm[k + 1].rm_so;
		if (n >= sizeof text)
			continue;
		memcpy(text, s + rm[k + 1].rm_so, n);
		text[n] = '\0';
		regex_set(m, rp->fields[k], text);
	}
}

/* Total, epoch, and what patterns without a step set. */
static int
regex_is_sticky(const struct regex_fmt *r, const char *name)
{
	size_t i, k;

	if (strcmp(name, "total_steps") == 0 || strcmp(name, "epoch") == 0)
		return 1;
	for (i = 0; i < r->npat; i++) {
		if (r->pat[i].has_step)
			continue;
		for (k = 0; k < r->pat[i].nfields; k++) {
			if (strcmp(r->pat[i].fields[k], name) == 0)
				return 1;
		}
	}
	return 0;
}

/*
 * The sticky fields m has stay. A restarted agent seeds them from the
 * last step spooled (regex_seed): after a step they must be what it
 * carried, also where its own line set them.
 */
static void
regex_keep(struct regex_fmt *r, const struct metric *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} nums[] = {
		{ "total_steps", METRIC_HAS_TOTAL },
		{ "epoch", METRIC_HAS_EPOCH },
		{ "loss", METRIC_HAS_LOSS },
		{ "lr", METRIC_HAS_LR },
		{ "step_time_ms", METRIC_HAS_STEP_TIME },
		{ "samples_per_s", METRIC_HAS_SAMPLES },
	};
	struct metric k = *m;
	size_t i;
	int j;

	for (i = 0; i < nitems(nums); i++) {
		if (!regex_is_sticky(r, nums[i].name))
			k.has &= ~nums[i].bit;
	}
	k.nextra = 0;
	for (j = 0; j < m->nextra; j++) {
		if (regex_is_sticky(r, m->extra[j].name))
			k.extra[k.nextra++] = m->extra[j];
	}
	regex_merge(&r->sticky, &k);
}

static size_t
regex_line(void *arg, struct parse_out *out, const char *s, size_t len)
{
	struct regex_fmt *r = arg;
	regmatch_t rm[REGEX_MAX_GROUPS + 1];
	struct metric found, m;
	int have = 0;
	size_t i;

	for (i = 0; i < r->npat; i++) {
		const struct regex_pat *rp = &r->pat[i];

		if (regexec(&rp->re, s, nitems(rm), rm, 0) != 0)
			continue;
		metric_clear(&m);
		regex_apply(rp, s, rm, &m);
		if (!rp->has_step) {
			regex_merge(&r->sticky, &m);
			/* No step spooled carries it yet: a restarted agent
			 * reads this line again. */
			if (r->sticky_off == UINT64_MAX)
				r->sticky_off = parse_out_offset(out);
		} else if (!have && m.step >= 0) {
			found = m;
			have = 1;
		}
	}
	if (!have)
		return 0;
	metric_clear(&m);
	regex_merge(&m, &r->sticky);
	regex_merge(&m, &found);
	m.step = found.step;
	parse_out_metric(out, &m);
	regex_keep(r, &m);
	r->sticky_off = UINT64_MAX;
	return len;
}

static void
regex_seed(void *arg, const struct metric *last, uint64_t last_off)
{
	regex_keep(arg, last);
}

static uint64_t
regex_holds_since(void *arg)
{
	struct regex_fmt *r = arg;

	return r->sticky_off;
}

const struct parser_ops parse_regex_ops = {
	.name = "regex",
	.create = regex_create,
	.destroy = regex_destroy,
	.line = regex_line,
	.finish = NULL,
	.seed = regex_seed,
	.holds_since = regex_holds_since,
};
