/*
 * parse.c - the log parser front end: picks the format (or detects it for
 * "auto"), feeds it each segment, and does what every format shares:
 * checkpoint lines, error lines, Python tracebacks, mirroring lines to the
 * spool, and suppressing what an earlier agent already spooled. It also
 * converts metrics to and from JSON. The formats themselves live in
 * parse_tqdm.c, parse_mindone.c, parse_jsonl.c and parse_regex.c; the
 * log lines are those of /work/shared/formats.md.
 */
#include "agent.h"
#include "parse_impl.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARSE_MAX_CAND		5
#define PARSE_TB_MAX_LINES	200
#define PARSE_TB_MAX_BYTES	(64 * 1024)
#define PARSE_TB_TAIL_ROOM	4096	/* kept for the exception line */

#define PARSE_TB_MARK "Traceback (most recent call last):"

enum parse_mirror { MIRROR_NONE, MIRROR_ERRORS, MIRROR_ALL };

struct parse_out {
	struct parser *p;
	int cand;
};

struct parse_cand {
	const struct parser_ops *ops;
	void *state;
	struct parse_out out;
};

struct parser {
	struct parse_cand cand[PARSE_MAX_CAND];
	int ncand;
	int winner;		/* index in cand, -1 until a format is known */
	enum parse_mirror mirror;

	parse_emit_fn emit;	/* valid inside feed and finish */
	void *arg;
	uint64_t off;		/* of the segment being fed, or the last one */
	uint64_t seg_hold;	/* what was held before it, UINT64_MAX: none */
	uint64_t detect_off;	/* auto: where the text that picked the
				   format starts, UINT64_MAX until then */

	struct buf line;	/* cleaned copy of the current segment */
	int in_cut;		/* the segment being fed is a piece of an
				   overlong one (the segmenter cut it) */
	uint64_t cut_off;	/* where that overlong segment starts */

	int tb_open;		/* a traceback is being collected in tb */
	struct parse_tb tb_at;	/* its rank prefix (parse_tb_step's rules) */
	uint64_t tb_off;	/* where it started */
	struct buf tb;
	int tb_lines;
	size_t tb_omitted;

	uint64_t nth_off;	/* the offset events are being counted at */
	uint32_t nth;		/* the next event's place at nth_off */
	uint64_t nth_resume;	/* the earliest resume of those events */

	int resumed;
	int has_last_step;
	int64_t last_step;
	uint64_t last_off;
	int64_t last_nth;	/* -1: nothing at last_off was spooled */
};

static const struct parser_ops *const parse_formats[] = {
	&parse_mindone_ops,
	&parse_mindspore_ops,
	&parse_kohya_ops,
	&parse_diffusers_ops,
	&parse_jsonl_ops,
	&parse_regex_ops,
};

/* Tried by "auto", in this order (regex needs patterns, so not it). */
static const struct parser_ops *const parse_auto[] = {
	&parse_mindone_ops,
	&parse_mindspore_ops,
	&parse_kohya_ops,
	&parse_diffusers_ops,
	&parse_jsonl_ops,
};

static const char *const parse_fixed[] = {
	"step", "total_steps", "epoch", "loss", "lr", "step_time_ms",
	"samples_per_s",
};

/* ---- small helpers the formats share ---------------------------------- */

const char *
parse_skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

const char *
parse_skip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0)
		return NULL;
	return s + n;
}

static int
parse_word_ends(const char *s)
{
	return !isalnum((unsigned char)*s) && *s != '_';
}

int
parse_number(const char *s, const char **endp, double *v)
{
	const char *p = s, *q;
	char tmp[64];
	int neg = 0;
	size_t n;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (strncasecmp(p, "nan", 3) == 0 && parse_word_ends(p + 3)) {
		*v = NAN;
		*endp = p + 3;
		return 0;
	}
	if (strncasecmp(p, "infinity", 8) == 0 && parse_word_ends(p + 8)) {
		*v = neg ? -INFINITY : INFINITY;
		*endp = p + 8;
		return 0;
	}
	if (strncasecmp(p, "inf", 3) == 0 && parse_word_ends(p + 3)) {
		*v = neg ? -INFINITY : INFINITY;
		*endp = p + 3;
		return 0;
	}
	/* Decimal only: strtod alone would also take hex and "infinity". */
	q = p;
	while (isdigit((unsigned char)*q))
		q++;
	if (*q == '.') {
		q++;
		while (isdigit((unsigned char)*q))
			q++;
	}
	if (q == p || (q == p + 1 && *p == '.'))
		return -1;
	if (*q == 'e' || *q == 'E') {
		const char *e = q + 1;

		if (*e == '+' || *e == '-')
			e++;
		if (isdigit((unsigned char)*e)) {
			while (isdigit((unsigned char)*e))
				e++;
			q = e;
		}
	}
	n = q - s;
	if (n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	*v = strtod(tmp, NULL);
	*endp = q;
	return 0;
}

int
parse_integer(const char *s, const char **endp, int64_t *v)
{
	const char *p = s;
	int neg = 0;
	uint64_t n = 0;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (n > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p++ - '0');
	}
	*v = neg ? -(int64_t)n : (int64_t)n;
	*endp = p;
	return 0;
}

int
parse_field_is_fixed(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < nitems(parse_fixed); i++) {
		if (strlen(parse_fixed[i]) == len &&
		    memcmp(parse_fixed[i], name, len) == 0)
			return 1;
	}
	return 0;
}

void
metric_clear(struct metric *m)
{
	memset(m, 0, sizeof *m);
	m->step = -1;
}

int
metric_set_extra(struct metric *m, const char *name, size_t len, double v)
{
	size_t i;
	int k;

	if (len == 0 || len >= sizeof m->extra[0].name)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '/' && c != '-')
			return -1;
	}
	if (parse_field_is_fixed(name, len) || (len == 9 &&
	    memcmp(name, "nonfinite", 9) == 0))
		return -1;
	for (k = 0; k < m->nextra; k++) {
		if (strlen(m->extra[k].name) == len &&
		    memcmp(m->extra[k].name, name, len) == 0) {
			m->extra[k].value = v;
			return 0;
		}
	}
	if (m->nextra == METRIC_MAX_EXTRA)
		return -1;
	memcpy(m->extra[m->nextra].name, name, len);
	m->extra[m->nextra].name[len] = '\0';
	m->extra[m->nextra++].value = v;
	return 0;
}

/* ---- creating and dropping ---------------------------------------------- */

int
parser_format_valid(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	if (strcmp(name, "auto") == 0)
		return 1;
	for (i = 0; i < nitems(parse_formats); i++) {
		if (strcmp(name, parse_formats[i]->name) == 0)
			return 1;
	}
	return 0;
}

static int
parse_add_cand(struct parser *p, const struct parser_ops *ops,
    const json_t *opts, char **cause)
{
	struct parse_cand *c;
	void *state;

	if ((state = ops->create(opts, cause)) == NULL)
		return -1;
	c = &p->cand[p->ncand];
	c->ops = ops;
	c->state = state;
	c->out.p = p;
	c->out.cand = p->ncand++;
	return 0;
}

struct parser *
parser_new(const char *format, const json_t *opts, char **cause)
{
	struct parser *p;
	const json_t *j;
	const char *s;
	size_t i;

	if (!parser_format_valid(format)) {
		xasprintf(cause, "parser.format: unknown format \"%s\" "
		    "(expected mindone, mindspore, kohya, diffusers, jsonl, "
		    "regex or auto)", format != NULL ? format : "");
		return NULL;
	}
	if (opts != NULL && !json_is_object(opts)) {
		xasprintf(cause, "parser: must be an object");
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->winner = -1;
	p->mirror = MIRROR_ERRORS;
	p->seg_hold = UINT64_MAX;
	p->detect_off = UINT64_MAX;
	p->nth_off = UINT64_MAX;
	buf_init(&p->line);
	buf_init(&p->tb);

	if ((j = json_object_get(opts, "mirror")) != NULL) {
		s = json_string_value(j);
		if (s != NULL && strcmp(s, "errors") == 0)
			p->mirror = MIRROR_ERRORS;
		else if (s != NULL && strcmp(s, "all") == 0)
			p->mirror = MIRROR_ALL;
		else if (s != NULL && strcmp(s, "none") == 0)
			p->mirror = MIRROR_NONE;
		else {
			xasprintf(cause, "parser.mirror: must be \"errors\", "
			    "\"all\" or \"none\"");
			goto fail;
		}
	}

	if (strcmp(format, "auto") == 0) {
		for (i = 0; i < nitems(parse_auto); i++) {
			if (parse_add_cand(p, parse_auto[i], opts, cause) != 0)
				goto fail;
		}
		return p;
	}
	for (i = 0; i < nitems(parse_formats); i++) {
		if (strcmp(format, parse_formats[i]->name) == 0)
			break;
	}
	if (parse_add_cand(p, parse_formats[i], opts, cause) != 0)
		goto fail;
	p->winner = 0;
	return p;

fail:
	parser_free(p);
	return NULL;
}

void
parser_free(struct parser *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->ncand; i++)
		p->cand[i].ops->destroy(p->cand[i].state);
	buf_free(&p->line);
	buf_free(&p->tb);
	free(p);
}

const char *
parser_format(const struct parser *p)
{
	if (p->winner < 0)
		return "auto";
	return p->cand[p->winner].ops->name;
}

void
parser_resume(struct parser *p, const struct metric *last, uint64_t last_off,
    int64_t last_nth)
{
	int i;

	p->resumed = 1;
	p->last_off = last_off;
	p->last_nth = last_nth;
	if (last == NULL)
		return;
	p->has_last_step = 1;
	p->last_step = last->step;
	for (i = 0; i < p->ncand; i++) {
		if (p->cand[i].ops->seed != NULL)
			p->cand[i].ops->seed(p->cand[i].state, last,
			    last_off);
	}
}

/* Once auto has a winner, the other candidates go. */
static void
parse_drop_losers(struct parser *p)
{
	int i;

	if (p->winner < 0 || p->ncand == 1)
		return;
	for (i = 0; i < p->ncand; i++) {
		if (i != p->winner)
			p->cand[i].ops->destroy(p->cand[i].state);
	}
	p->cand[0] = p->cand[p->winner];
	p->cand[0].out.cand = 0;
	p->ncand = 1;
	p->winner = 0;
}

/* ---- emitting ------------------------------------------------------------ */

/*
 * Every event carries the offset of the segment that made it leave (for
 * parser_finish, the last segment fed), not of the text it came from: a
 * step leaves when the next one shows, a traceback when its exception
 * does. So offsets never go down, and an agent that restarts reading at
 * the offset of the last event it spooled, suppressing up to it, neither
 * loses nor repeats anything.
 */
uint64_t
parse_out_offset(const struct parse_out *out)
{
	return out->p->off;
}

/* The earliest offset a restarted reader needs to rebuild held state. */
static uint64_t
parse_hold_off(const struct parser *p, uint64_t off)
{
	const struct parse_cand *c;
	uint64_t h;
	int i;

	if (p->seg_hold < off)
		off = p->seg_hold;
	if (p->in_cut && p->cut_off < off)
		off = p->cut_off;
	if (p->detect_off < off)
		off = p->detect_off;
	if (p->tb_open && p->tb_off < off)
		off = p->tb_off;
	for (i = 0; i < p->ncand; i++) {
		if (p->winner >= 0 && i != p->winner)
			continue;
		c = &p->cand[i];
		if (c->ops->holds_since == NULL || c->state == NULL)
			continue;
		if ((h = c->ops->holds_since(c->state)) < off)
			off = h;
	}
	return off;
}

/*
 * A segment is read in the light of what the parser held before it: an
 * open traceback takes a metric line as its exception line, a pending
 * step decides whether a redraw emits. What the segment's events send a
 * restarted reader back to must rebuild that too, even where the segment
 * released it (the traceback closed), or the reader would take the same
 * bytes for another event.
 */
static void
parse_hold_begin(struct parser *p)
{
	p->seg_hold = UINT64_MAX;
	p->seg_hold = parse_hold_off(p, p->off);
}

/*
 * The place of the next event among those made at the current offset:
 * every event a segment (or parser_finish, at the last segment's offset)
 * makes, counted the same whether it is emitted or suppressed.
 */
static uint32_t
parse_next_nth(struct parser *p)
{
	if (p->nth_off != p->off) {
		p->nth_off = p->off;
		p->nth = 0;
		p->nth_resume = UINT64_MAX;
	}
	return p->nth++;
}

/*
 * Where a reader restarted at the event counted last resumes: where it
 * rebuilds what the parser holds (since and parse_hold_off), and no later
 * than where an earlier event at this offset resumes, since it must make
 * those again to count places as this run did. (An event of a redraw
 * released in a segment resumed at the redraw's line, the traceback the
 * same segment began at the segment: restarted after the traceback, the
 * reader did not make the step again and took the next event's place for
 * the traceback's; found by tests/fuzz/parse.c.) Also for an event that
 * is not emitted: a restarted reader counts it the same.
 */
static uint64_t
parse_event_resume(struct parser *p, uint64_t since)
{
	uint64_t r = parse_hold_off(p, since);

	if (r > p->nth_resume)
		r = p->nth_resume;
	p->nth_resume = r;
	return r;
}

/* Spooled before a restart: a log or checkpoint event at the current
 * segment, in place nth. */
static int
parse_suppressed(const struct parser *p, uint32_t nth)
{
	return p->resumed && (p->off < p->last_off ||
	    (p->off == p->last_off && (int64_t)nth <= p->last_nth));
}

void
parse_out_metric(struct parse_out *out, const struct metric *m)
{
	parse_out_metric_since(out, m, UINT64_MAX);
}

void
parse_out_metric_since(struct parse_out *out, const struct metric *m,
    uint64_t since)
{
	struct parser *p = out->p;
	struct parse_event ev;
	uint64_t resume;
	uint32_t nth;

	if (p->winner < 0) {
		/*
		 * auto: which format won is held state too, that no later
		 * event carries. A restarted reader picks it again from the
		 * text that picked it (other formats' lines after it are
		 * ordinary lines only once it has won).
		 */
		p->winner = out->cand;
		p->detect_off = parse_hold_off(p, since < p->off ? since :
		    p->off);
	} else if (p->winner != out->cand)
		return;
	if (m->step < 0 || p->emit == NULL)
		return;
	nth = parse_next_nth(p);
	resume = parse_event_resume(p, since < p->off ? since : p->off);
	if (p->has_last_step && m->step <= p->last_step)
		return;
	/*
	 * A restarted reader re-reads what the last spooled event's segment
	 * held: a step that leaves with that segment, up to that event, was
	 * spooled already, whatever step this reading gives it (what the
	 * reader was seeded with can number it differently). Not so one at
	 * an earlier offset: seeded, the reader may know sooner what the
	 * uninterrupted run waited for, and emit a later step earlier.
	 */
	if (p->resumed && p->off == p->last_off &&
	    (int64_t)nth <= p->last_nth)
		return;
	memset(&ev, 0, sizeof ev);
	ev.kind = PARSE_METRIC;
	/* The event is at the segment that emitted it, so offsets never go
	 * back (a log or ckpt event may have come after `since`); a reader
	 * restarted at it reads again from since. */
	ev.off = p->off;
	ev.resume_off = resume;
	ev.nth = nth;
	ev.metric = m;
	ev.ckpt_step = -1;
	p->emit(&ev, p->arg);
}

/* A log or checkpoint event at the current segment, its place counted:
 * 0 with ev filled in, -1 when it is not to be emitted (outside a feed,
 * or spooled before a restart). */
static int
parse_event_begin(struct parser *p, struct parse_event *ev,
    enum parse_event_kind kind)
{
	uint64_t resume;
	uint32_t nth;

	if (p->emit == NULL)
		return -1;
	nth = parse_next_nth(p);
	resume = parse_event_resume(p, p->off);
	if (parse_suppressed(p, nth))
		return -1;
	memset(ev, 0, sizeof *ev);
	ev->kind = kind;
	ev->off = p->off;
	ev->resume_off = resume;
	ev->nth = nth;
	ev->ckpt_step = -1;
	return 0;
}

static void
parse_emit_log(struct parser *p, const char *text, size_t len,
    const char *level, const char *what)
{
	struct parse_event ev;

	if (parse_event_begin(p, &ev, PARSE_LOG) != 0)
		return;
	ev.text = text;
	ev.text_len = len;
	ev.level = level;
	ev.what = what;
	p->emit(&ev, p->arg);
}

static void
parse_emit_ckpt(struct parser *p, const char *path, int64_t step)
{
	struct parse_event ev;

	if (parse_event_begin(p, &ev, PARSE_CKPT) != 0)
		return;
	ev.path = path;
	ev.ckpt_step = step;
	p->emit(&ev, p->arg);
}

/* ---- cleaning a segment ------------------------------------------------- */

/*
 * Copies a segment into p->line as a C string the formats can scan and
 * the spool can carry: terminal escape sequences (tqdm's cursor moves)
 * dropped, NUL bytes and invalid UTF-8 replaced by '?', trailing blanks
 * (tqdm pads every redraw with spaces) cut.
 */
static void
parse_clean(struct parser *p, const char *seg, size_t len)
{
	const unsigned char *s = (const unsigned char *)seg;
	size_t i = 0, n;

	buf_reset(&p->line);
	buf_reserve(&p->line, len);
	while (i < len) {
		/* Plain ASCII goes across in runs. */
		for (n = i; n < len && s[n] < 0x80 && s[n] != '\0' &&
		    s[n] != 0x1b; n++)
			;
		if (n > i) {
			buf_add(&p->line, s + i, n - i);
			i = n;
			continue;
		}
		if (s[i] == 0x1b && i + 1 < len && s[i + 1] == '[') {
			i += 2;
			while (i < len && s[i] >= 0x20 && s[i] <= 0x3f)
				i++;
			if (i < len && s[i] >= 0x40 && s[i] <= 0x7e)
				i++;
			continue;
		}
		if (s[i] == '\0') {
			buf_addch(&p->line, '?');
			i++;
			continue;
		}
		if ((n = utf8_len(s + i, len - i)) == 0) {
			buf_addch(&p->line, '?');
			i++;
			continue;
		}
		buf_add(&p->line, s + i, n);
		i += n;
	}
	while (p->line.len > 0 && isspace((unsigned char)
	    p->line.data[p->line.len - 1]))
		p->line.len--;
	buf_cstr(&p->line);
}

/*
 * Length of a launcher's per-rank prefix: "[rank3]: " (torchrun) or
 * "[default3]:" (torchrun --tee); at most one space after the colon is
 * part of it, so a traceback's indentation survives.
 */
size_t
parse_rank_prefix(const char *s)
{
	const char *p = s;

	if (*p++ != '[')
		return 0;
	while (isalpha((unsigned char)*p) || *p == '_')
		p++;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	if (p[0] != ']' || p[1] != ':')
		return 0;
	p += 2;
	if (*p == ' ')
		p++;
	return p - s;
}

/* ---- checkpoints ------------------------------------------------------- */

/* The last path component of path[0..len), trailing '/' ignored. */
static const char *
parse_basename(const char *path, size_t *lenp)
{
	size_t len = *lenp, i;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (i = len; i > 0 && path[i - 1] != '/'; i--)
		;
	*lenp = len - i;
	return path + i;
}

/* "NAME_500.ckpt" -> 500 */
static int64_t
parse_step_ckpt_suffix(const char *base, size_t len)
{
	const char *e;
	size_t i;
	int64_t v;

	if (len < 7 || strncmp(base + len - 5, ".ckpt", 5) != 0)
		return -1;
	i = len - 5;
	while (i > 0 && isdigit((unsigned char)base[i - 1]))
		i--;
	if (i == len - 5 || i == 0 || base[i - 1] != '_')
		return -1;
	if (parse_integer(base + i, &e, &v) != 0)
		return -1;
	return v;
}

/* "checkpoint-500" -> 500 */
static int64_t
parse_step_accelerate(const char *base, size_t len)
{
	const char *e;
	int64_t v;

	if (len <= 11 || strncmp(base, "checkpoint-", 11) != 0)
		return -1;
	if (parse_integer(base + 11, &e, &v) != 0 || e != base + len || v < 0)
		return -1;
	return v;
}

/* "NAME-step00000500.safetensors" -> 500 */
static int64_t
parse_step_kohya(const char *base, size_t len)
{
	const char *s, *e, *end = base + len;
	int64_t v;

	for (s = base; s + 5 < end; s++) {
		if (strncmp(s, "-step", 5) != 0 ||
		    !isdigit((unsigned char)s[5]))
			continue;
		if (parse_integer(s + 5, &e, &v) == 0 && e <= end &&
		    (e == end || *e == '.' || *e == '-' || *e == '_'))
			return v;
	}
	return -1;
}

/*
 * A checkpoint line: sets *pathp / *plenp (inside s) and *stepp (-1 when
 * the name does not say). Returns 0 or -1.
 */
static int
parse_ckpt(const char *s, const char **pathp, size_t *plenp, int64_t *stepp)
{
	static const char *const mindone[] = {
		"save checkpoint to ", "save ema checkpoint to ",
		"save lora checkpoint to ",
	};
	const char *path = NULL, *base;
	size_t i, len, blen;
	int kind = 0;
	const char *q;

	for (i = 0; i < nitems(mindone) && path == NULL; i++) {
		if ((q = strcasestr(s, mindone[i])) != NULL) {
			path = q + strlen(mindone[i]);
			kind = 1;
		}
	}
	if (path == NULL && (q = strstr(s, "Saved state to ")) != NULL) {
		path = q + 15;
		kind = 2;
	}
	if (path == NULL && (q = strstr(s, "saving checkpoint: ")) != NULL) {
		path = q + 19;
		kind = 3;
	}
	if (path == NULL)
		return -1;
	path = parse_skip_blanks(path);
	len = strlen(path);
	if (len >= 2 && (path[0] == '"' || path[0] == '\'') &&
	    path[len - 1] == path[0]) {
		path++;
		len -= 2;
	}
	if (len == 0)
		return -1;
	blen = len;
	base = parse_basename(path, &blen);
	if (kind == 1)
		*stepp = parse_step_ckpt_suffix(base, blen);
	else if (kind == 2)
		*stepp = parse_step_accelerate(base, blen);
	else
		*stepp = parse_step_kohya(base, blen);
	*pathp = path;
	*plenp = len;
	return 0;
}

/* ---- errors -------------------------------------------------------------- */

/* "RuntimeError: ...", "torch.OutOfMemoryError", "KeyboardInterrupt" */
static int
parse_is_exception_line(const char *s)
{
	const char *p = s, *id_end;
	size_t n;

	if (!isalpha((unsigned char)*p) && *p != '_')
		return 0;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
		p++;
	id_end = p;
	if (*p != '\0' && !(p[0] == ':' && (p[1] == ' ' || p[1] == '\0')))
		return 0;
	n = id_end - s;
	if (n >= 5 && strncmp(id_end - 5, "Error", 5) == 0)
		return 1;
	if (n >= 9 && strncmp(id_end - 9, "Exception", 9) == 0)
		return 1;
	if (n >= 17 && strncmp(id_end - 17, "KeyboardInterrupt", 17) == 0)
		return 1;
	return 0;
}

/* "... 12345 Killed   python train.py" (bash) or a bare "Killed". */
static int
parse_is_killed(const char *s)
{
	const char *q = s, *b;

	if (strcmp(s, "Killed") == 0)
		return 1;
	while ((q = strstr(q, "Killed")) != NULL) {
		b = q;
		if (q[6] == ' ' || q[6] == '\t' || q[6] == '\0') {
			while (b > s && (b[-1] == ' ' || b[-1] == '\t'))
				b--;
			if (b < q && b > s && isdigit((unsigned char)b[-1])) {
				while (b > s && isdigit((unsigned char)b[-1]))
					b--;
				if (b == s || b[-1] == ' ' || b[-1] == '\t')
					return 1;
			}
		}
		q += 6;
	}
	return 0;
}

/* "[E1206 12:00:00.1 ...]" or "[E ProcessGroupNCCL.cpp:...]" (c10 logs) */
static int
parse_is_c10_error(const char *s)
{
	if (s[0] != '[' || (s[1] != 'E' && s[1] != 'F'))
		return 0;
	if (s[2] != ' ' && !isdigit((unsigned char)s[2]))
		return 0;
	return strchr(s, ']') != NULL;
}

/*
 * The level word after a leading timestamp, as rich (kohya) and plain
 * loggers print it: "2024-12-06 12:00:00 ERROR    ...". NULL if none.
 */
static const char *
parse_stamp_level(const char *s)
{
	const char *p = s;

	if (!isdigit((unsigned char)*s))
		return NULL;
	while (isdigit((unsigned char)*p) || *p == '-' || *p == ':' ||
	    *p == '.' || *p == ',' || *p == '/' || *p == ' ' ||
	    (*p == 'T' && isdigit((unsigned char)p[1])))
		p++;
	if (p == s || p[-1] != ' ')
		return NULL;
	return p;
}

static int
parse_level_is(const char *s, const char *level)
{
	size_t n = strlen(level);

	return strncmp(s, level, n) == 0 && (s[n] == ' ' || s[n] == ':');
}

/* A "[W1206 ...]" c10 warning (the counterpart of parse_is_c10_error). */
static int
parse_is_c10_warning(const char *s)
{
	if (s[0] != '[' || s[1] != 'W')
		return 0;
	if (s[2] != ' ' && !isdigit((unsigned char)s[2]))
		return 0;
	return strchr(s, ']') != NULL;
}

enum parse_level
parse_line_level(const char *s)
{
	static const char *const warn[] = {
		"[WARNING]", "[WARN]", "WARNING:",
	};
	static const char *const quiet[] = {
		"[INFO]", "[DEBUG]", "INFO:", "DEBUG:",
	};
	static const char *const warn_in[] = {
		" - WARNING - ", "Warning: ",
	};
	static const char *const quiet_in[] = {
		" - INFO - ", " - DEBUG - ",
	};
	static const char *const loud[] = {
		"[ERROR]", "[CRITICAL]", "ERROR:", "CRITICAL:",
	};
	static const char *const loud_in[] = {
		" - ERROR - ", " - CRITICAL - ", "Segmentation fault",
		"(core dumped)",
	};
	const char *lvl;
	size_t i;

	if ((lvl = parse_stamp_level(s)) != NULL) {
		if (parse_level_is(lvl, "WARNING"))
			return PARSE_LEVEL_WARN;
		if (parse_level_is(lvl, "INFO") || parse_level_is(lvl, "DEBUG"))
			return PARSE_LEVEL_PLAIN;
		if (parse_level_is(lvl, "ERROR") ||
		    parse_level_is(lvl, "CRITICAL"))
			return PARSE_LEVEL_ERROR;
	}
	for (i = 0; i < nitems(warn); i++) {
		if (parse_skip_prefix(s, warn[i]) != NULL)
			return PARSE_LEVEL_WARN;
	}
	for (i = 0; i < nitems(quiet); i++) {
		if (parse_skip_prefix(s, quiet[i]) != NULL)
			return PARSE_LEVEL_PLAIN;
	}
	for (i = 0; i < nitems(warn_in); i++) {
		if (strstr(s, warn_in[i]) != NULL)
			return PARSE_LEVEL_WARN;
	}
	for (i = 0; i < nitems(quiet_in); i++) {
		if (strstr(s, quiet_in[i]) != NULL)
			return PARSE_LEVEL_PLAIN;
	}
	for (i = 0; i < nitems(loud); i++) {
		if (parse_skip_prefix(s, loud[i]) != NULL)
			return PARSE_LEVEL_ERROR;
	}
	for (i = 0; i < nitems(loud_in); i++) {
		if (strstr(s, loud_in[i]) != NULL)
			return PARSE_LEVEL_ERROR;
	}
	if (strcasestr(s, "out of memory") != NULL ||
	    strcasestr(s, "NCCL error") != NULL)
		return PARSE_LEVEL_ERROR;
	if (parse_is_exception_line(s) || parse_is_killed(s) ||
	    parse_is_c10_error(s))
		return PARSE_LEVEL_ERROR;
	if (parse_is_c10_warning(s))
		return PARSE_LEVEL_WARN;
	return PARSE_LEVEL_PLAIN;
}

static int
parse_is_error(const char *s)
{
	return parse_line_level(s) == PARSE_LEVEL_ERROR;
}

/* ---- tracebacks ---------------------------------------------------------- */

/* n cut back so that s[0..n) does not end inside a UTF-8 sequence. */
static size_t
parse_utf8_cut(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = n;

	while (i > 0 && (u[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return 0;
	if (u[i - 1] < 0x80 || utf8_len(u + i - 1, n - i + 1) ==
	    n - i + 1)
		return n;
	return i - 1;
}

/*
 * The rules of a traceback, shared with the console through
 * parse_tb_step(): it starts with PARSE_TB_MARK, goes on with indented
 * lines carrying its first line's rank prefix and ends with the first
 * other line of that prefix (the exception). Lines of another rank pass
 * by; an unprefixed line ends a prefixed traceback (and the reverse).
 */
static int
parse_tb_is_start(const char *body)
{
	return parse_skip_prefix(body, PARSE_TB_MARK) != NULL;
}

static void
parse_tb_open(struct parse_tb *t, const char *line, size_t prefix_len)
{
	t->open = 1;
	if (prefix_len >= sizeof t->prefix)
		prefix_len = 0;
	memcpy(t->prefix, line, prefix_len);
	t->prefix[prefix_len] = '\0';
	t->prefix_len = prefix_len;
}

/* A line while t is open: FRAME; LAST (t closed); OUTSIDE, either another
 * rank's line passing by or a line t ends before (t closed, *closed set). */
static enum parse_tb_step
parse_tb_next(struct parse_tb *t, const char *line, size_t prefix_len,
    int *closed)
{
	const char *body = line + prefix_len;
	size_t a = prefix_len, b = t->prefix_len;

	/* "[rank0]:" is "[rank0]: " with its trailing blank cut (an empty
	 * line of that rank's traceback). */
	if (a > 0 && line[a - 1] == ' ')
		a--;
	if (b > 0 && t->prefix[b - 1] == ' ')
		b--;
	if (a != b || memcmp(line, t->prefix, a) != 0) {
		if (prefix_len > 0 && t->prefix_len > 0)
			return PARSE_TB_OUTSIDE;
		goto ended;
	}
	if (*body == ' ' || *body == '\t' || *body == '\0')
		return PARSE_TB_FRAME;
	if (parse_tb_is_start(body))
		goto ended;
	t->open = 0;
	return PARSE_TB_LAST;
ended:
	t->open = 0;
	*closed = 1;
	return PARSE_TB_OUTSIDE;
}

enum parse_tb_step
parse_tb_step(struct parse_tb *t, const char *line, int *closed)
{
	size_t prefix_len = parse_rank_prefix(line);
	enum parse_tb_step step;
	int ignored;

	if (closed == NULL)
		closed = &ignored;
	*closed = 0;
	if (t->open) {
		step = parse_tb_next(t, line, prefix_len, closed);
		if (step != PARSE_TB_OUTSIDE)
			return step;
	}
	if (!parse_tb_is_start(line + prefix_len))
		return PARSE_TB_OUTSIDE;
	if (t->open)
		*closed = 1;	/* another rank's: parse_plain closes it too */
	parse_tb_open(t, line, prefix_len);
	return PARSE_TB_START;
}

static void
parse_tb_start(struct parser *p, const char *line, size_t len,
    size_t prefix_len)
{
	p->tb_open = 1;
	p->tb_off = p->off;
	buf_reset(&p->tb);
	buf_add(&p->tb, line, len);
	p->tb_lines = 1;
	p->tb_omitted = 0;
	parse_tb_open(&p->tb_at, line, prefix_len);
}

static void
parse_tb_add(struct parser *p, const char *line, size_t len)
{
	if (p->tb_lines >= PARSE_TB_MAX_LINES - 2 || p->tb.len + 1 + len >
	    PARSE_TB_MAX_BYTES - PARSE_TB_TAIL_ROOM) {
		p->tb_omitted++;
		return;
	}
	buf_addch(&p->tb, '\n');
	buf_add(&p->tb, line, len);
	p->tb_lines++;
}

/* The exception line: always kept, after a note of what was left out. */
static void
parse_tb_add_last(struct parser *p, const char *line, size_t len)
{
	size_t room;

	if (p->tb_omitted > 0)
		buf_printf(&p->tb, "\n[... %zu lines omitted ...]",
		    p->tb_omitted);
	p->tb_omitted = 0;
	if (p->tb.len + 1 >= PARSE_TB_MAX_BYTES)
		return;
	room = PARSE_TB_MAX_BYTES - p->tb.len - 1;
	if (len > room)
		len = parse_utf8_cut(line, room);
	buf_addch(&p->tb, '\n');
	buf_add(&p->tb, line, len);
	p->tb_lines++;
}

static void
parse_tb_close(struct parser *p)
{
	if (!p->tb_open)
		return;
	if (p->tb_omitted > 0) {
		buf_printf(&p->tb, "\n[... %zu lines omitted ...]",
		    p->tb_omitted);
		p->tb_omitted = 0;
	}
	p->tb_open = 0;
	p->tb_at.open = 0;
	if (p->mirror != MIRROR_NONE)
		parse_emit_log(p, buf_cstr(&p->tb), p->tb.len, "error",
		    "traceback");
	buf_reset(&p->tb);
}

/*
 * A line while a traceback is open: indented lines continue it, the first
 * other line (the exception) ends it. Another rank's lines pass by.
 * Returns 1 when the traceback took the line.
 */
static int
parse_tb_line(struct parser *p, const char *line, size_t len,
    size_t prefix_len)
{
	int closed = 0;

	switch (parse_tb_next(&p->tb_at, line, prefix_len, &closed)) {
	case PARSE_TB_FRAME:
		parse_tb_add(p, line, len);
		return 1;
	case PARSE_TB_LAST:
		parse_tb_add_last(p, line, len);
		parse_tb_close(p);
		return 1;
	default:
		if (closed)
			parse_tb_close(p);
		return 0;
	}
}

/* ---- one segment --------------------------------------------------------- */

/* A line no format claimed: traceback start, checkpoint, error, mirror. */
static void
parse_plain(struct parser *p, const char *line, size_t len)
{
	size_t prefix_len = parse_rank_prefix(line), plen;
	const char *body = line + prefix_len, *path;
	int64_t step;
	char *copy;

	if (parse_tb_is_start(body)) {
		parse_tb_close(p);
		parse_tb_start(p, line, len, prefix_len);
		return;
	}
	if (parse_ckpt(body, &path, &plen, &step) == 0) {
		copy = xstrndup(path, plen);
		parse_emit_ckpt(p, copy, step);
		free(copy);
	} else if (parse_is_error(body)) {
		if (p->mirror != MIRROR_NONE)
			parse_emit_log(p, line, len, "error", "error");
		return;
	}
	if (p->mirror == MIRROR_ALL)
		parse_emit_log(p, line, len, "info", "line");
}

/* Offers a line to the format(s); returns how much of it they took. */
static size_t
parse_offer(struct parser *p, const char *body, size_t len)
{
	struct parse_cand *c;
	size_t used, best = 0;
	int i;

	if (p->winner >= 0) {
		c = &p->cand[p->winner];
		return c->ops->line(c->state, &c->out, body, len);
	}
	for (i = 0; i < p->ncand; i++) {
		c = &p->cand[i];
		used = c->ops->line(c->state, &c->out, body, len);
		if (p->winner == i)
			return used;
		if (used > best)
			best = used;
	}
	return best;
}

void
parser_feed(struct parser *p, const char *seg, size_t len, char term,
    uint64_t off, parse_emit_fn emit, void *arg)
{
	const char *line, *body, *rest;
	size_t prefix_len, used;

	p->emit = emit;
	p->arg = arg;
	p->off = off;
	/* A piece of an overlong segment: a reader restarted inside it
	 * would take the rest for a whole line, so its events send one
	 * back to where the segment starts. */
	if (term == SEG_CUT && !p->in_cut) {
		p->in_cut = 1;
		p->cut_off = off;
	}
	parse_hold_begin(p);
	parse_clean(p, seg, len);
	if (p->line.len == 0)
		goto out;
	line = p->line.data;
	prefix_len = parse_rank_prefix(line);
	body = line + prefix_len;

	if (p->tb_open && parse_tb_line(p, line, p->line.len, prefix_len))
		goto out;
	/* No format reads a piece: its text is a line's middle or end. */
	if (p->in_cut) {
		parse_plain(p, line, p->line.len);
		goto out;
	}
	used = parse_offer(p, body, p->line.len - prefix_len);
	if (used == 0) {
		parse_plain(p, line, p->line.len);
		goto out;
	}
	/* Output glued after the format's text (a warning after a bar). */
	rest = parse_skip_blanks(body + used);
	if (*rest != '\0')
		parse_plain(p, rest, strlen(rest));
out:
	if (term != SEG_CUT)
		p->in_cut = 0;
	parse_drop_losers(p);
	p->seg_hold = UINT64_MAX;
	p->emit = NULL;
	p->arg = NULL;
}

void
parser_finish(struct parser *p, parse_emit_fn emit, void *arg)
{
	int i;

	p->emit = emit;
	p->arg = arg;
	parse_hold_begin(p);
	parse_tb_close(p);
	for (i = 0; i < p->ncand; i++) {
		if (p->winner >= 0 && p->winner != i)
			continue;
		if (p->cand[i].ops->finish != NULL)
			p->cand[i].ops->finish(p->cand[i].state,
			    &p->cand[i].out);
	}
	parse_drop_losers(p);
	p->seg_hold = UINT64_MAX;
	p->emit = NULL;
	p->arg = NULL;
}

/* ---- metric <-> JSON ---------------------------------------------------- */

static void
metric_put_number(json_t *o, json_t *nonfinite, const char *key, double v)
{
	proto_set_number(o, key, v);
	if (!isfinite(v))
		json_array_append_new(nonfinite, json_string(key));
}

json_t *
metric_to_json(const struct metric *m)
{
	json_t *o, *nf;
	int i;

	o = json_object();
	nf = json_array();
	json_object_set_new(o, "step", json_integer(m->step));
	if (m->has & METRIC_HAS_TOTAL)
		json_object_set_new(o, "total_steps",
		    json_integer(m->total_steps));
	if (m->has & METRIC_HAS_EPOCH)
		json_object_set_new(o, "epoch", json_integer(m->epoch));
	if (m->has & METRIC_HAS_LOSS)
		metric_put_number(o, nf, "loss", m->loss);
	if (m->has & METRIC_HAS_LR)
		metric_put_number(o, nf, "lr", m->lr);
	if (m->has & METRIC_HAS_STEP_TIME)
		metric_put_number(o, nf, "step_time_ms", m->step_time_ms);
	if (m->has & METRIC_HAS_SAMPLES)
		metric_put_number(o, nf, "samples_per_s", m->samples_per_s);
	for (i = 0; i < m->nextra && i < METRIC_MAX_EXTRA; i++)
		metric_put_number(o, nf, m->extra[i].name, m->extra[i].value);
	if (json_array_size(nf) > 0)
		json_object_set_new(o, "nonfinite", nf);
	else
		json_decref(nf);
	return o;
}

/* Keys a spooled event carries around the metric; not extras. */
static const char *const metric_envelope[] = {
	"type", "seq", "t", "rank", "host", "run", "attempt", "stream",
	"nonfinite",
};

int
metric_from_json(const json_t *o, struct metric *m)
{
	const char *key;
	json_t *v;
	double d;
	size_t i;
	int skip;

	metric_clear(m);
	if (!json_is_object(o) || proto_get_int(o, "step", &m->step) != 0)
		return -1;
	if (proto_get_int(o, "total_steps", &m->total_steps) == 0)
		m->has |= METRIC_HAS_TOTAL;
	if (proto_get_int(o, "epoch", &m->epoch) == 0)
		m->has |= METRIC_HAS_EPOCH;
	if (proto_get_number(o, "loss", &m->loss) == 0)
		m->has |= METRIC_HAS_LOSS;
	if (proto_get_number(o, "lr", &m->lr) == 0)
		m->has |= METRIC_HAS_LR;
	if (proto_get_number(o, "step_time_ms", &m->step_time_ms) == 0)
		m->has |= METRIC_HAS_STEP_TIME;
	if (proto_get_number(o, "samples_per_s", &m->samples_per_s) == 0)
		m->has |= METRIC_HAS_SAMPLES;
	json_object_foreach((json_t *)o, key, v) {
		skip = parse_field_is_fixed(key, strlen(key));
		for (i = 0; i < nitems(metric_envelope) && !skip; i++)
			skip = strcmp(key, metric_envelope[i]) == 0;
		if (skip || proto_get_number(o, key, &d) != 0)
			continue;
		(void)metric_set_extra(m, key, strlen(key), d);
	}
	return 0;
}
