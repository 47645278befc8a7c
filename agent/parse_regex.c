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
 * Roughly how many atoms glibc's regcomp builds for s: it copies an atom
 * once per repetition ("a+" is "aa*", "a{2,5}" is five copies), so
 * stacked or nested repetitions multiply: "(x+++++...)" with 80 '+' asks
 * for 2^80 copies and takes all memory. Bracket expressions and escaped
 * characters are one atom; * and ? copy nothing. Returns 1 when s would
 * need more than REGEX_MAX_COPIES (or nests deeper than REGEX_MAX_NEST).
 */
static int
regex_too_big(const char *s)
{
	double outer[REGEX_MAX_NEST], cur = 0, last = 0, n, m;
	int depth = 0;
	char *e;

	while (*s != '\0') {
		switch (*s) {
		case '\\':
			s += s[1] != '\0' ? 2 : 1;
			cur += 1;
			last = 1;
			continue;
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
			cur += 1;
			last = 1;
			break;
		case '(':
			if (depth == REGEX_MAX_NEST)
				return 1;
			outer[depth++] = cur;
			cur = 0;
			last = 0;
			break;
		case ')':
			last = cur;
			cur = depth > 0 ? outer[--depth] + cur : cur;
			break;
		case '|':
			last = 0;
			break;
		case '+':
			cur += last;
			last *= 2;
			break;
		case '{':
			n = strtod(s + 1, &e);
			if (e == s + 1 || n < 0) {
				cur += 1;	/* a literal '{' */
				last = 1;
				break;
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
				cur += last * (m - 1);
				last *= m;
			}
			while (*e != '\0' && *e != '}')
				e++;
			s = *e == '}' ? e : e - 1;
			break;
		case '*':
		case '?':
			break;
		default:
			cur += 1;
			last = 1;
			break;
		}
		if (cur > REGEX_MAX_COPIES)
			return 1;
		if (*s != '\0')
			s++;
	}
	return 0;
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
	if (strlen(src) > REGEX_MAX_LEN || regex_too_big(src)) {
		xasprintf(cause, "parser.patterns[%zu].regex: too large: "
		    "over %d bytes, or repetitions (+, {n,m}) stacked or "
		    "nested so deep that compiling it would take over %d "
		    "copies; simplify it", i, REGEX_MAX_LEN, REGEX_MAX_COPIES);
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
regex_seed(void *arg, const struct metric *last)
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
