/*
 * parse_tqdm.c - the tqdm progress bar, as kohya sd-scripts (desc "steps",
 * postfix avr_loss) and the diffusers example trainers (desc "Steps",
 * postfix step_loss or loss, and lr) print it; formats.md sections 3-5.
 *
 * The bar's counter is the optimizer step. Under gradient accumulation
 * the postfix is redrawn on every micro-step while the counter stays, so
 * a step is emitted only when the counter moves on (or at the end of the
 * stream), with the last values drawn under its number. Bars with another
 * desc (caching latents, validation) are recognised and swallowed. Header
 * lines and the bar give the total, kohya's "epoch e/E" lines the epoch.
 */
#include "agent.h"
#include "parse_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tqdm {
	char *desc;			/* the bar to follow */
	const char *const *loss_keys;	/* postfix keys that are the loss */

	int has_total;			/* from a header line or a bar */
	int64_t total;
	int has_epoch;			/* from "epoch e/E" */
	int64_t epoch;

	int has_pend;			/* a step waiting for the counter */
	int pend_measured;		/* drawn with a rate, not "?it/s" */
	struct metric pend;
	uint64_t pend_off;		/* first redraw of the pending step */
	uint64_t pend_since;		/* first header line after its last
					   redraw, UINT64_MAX if none */
	uint64_t sticky_off;		/* first header line (or new total
					   drawn) no emitted step carries
					   yet, UINT64_MAX if none */
};

/* One parsed redraw; pointers into the segment. */
struct tqdm_bar {
	const char *desc;
	size_t desc_len;
	int64_t n;
	int64_t total;			/* -1: unknown */
	double step_ms;			/* NAN: "?it/s" */
	const char *postfix;		/* "k=v, k=v" or NULL */
	size_t postfix_len;
};

static const char *const tqdm_kohya_loss[] = { "avr_loss", "loss", NULL };
static const char *const tqdm_diffusers_loss[] = { "step_loss", "loss", NULL };

static void *
tqdm_create(const json_t *opts, const char *desc,
    const char *const *loss_keys, char **cause)
{
	struct tqdm *t;
	const json_t *j;

	if ((j = json_object_get(opts, "bar_desc")) != NULL) {
		if (!json_is_string(j) || json_string_length(j) == 0) {
			xasprintf(cause, "parser.bar_desc: must be a non-empty "
			    "string (the text before the bar's colon)");
			return NULL;
		}
		desc = json_string_value(j);
	}
	t = xcalloc(1, sizeof *t);
	t->desc = xstrdup(desc);
	t->loss_keys = loss_keys;
	metric_clear(&t->pend);
	t->pend_since = UINT64_MAX;
	t->sticky_off = UINT64_MAX;
	return t;
}

static void *
tqdm_create_kohya(const json_t *opts, char **cause)
{
	return tqdm_create(opts, "steps", tqdm_kohya_loss, cause);
}

static void *
tqdm_create_diffusers(const json_t *opts, char **cause)
{
	return tqdm_create(opts, "Steps", tqdm_diffusers_loss, cause);
}

static void
tqdm_destroy(void *arg)
{
	struct tqdm *t = arg;

	if (t == NULL)
		return;
	free(t->desc);
	free(t);
}

/* "[00:46<02:44,  3.79it/s, avr_loss=0.121]"; returns past ']' or NULL. */
static const char *
tqdm_parse_brackets(const char *p, struct tqdm_bar *bar)
{
	const char *q, *e;
	double v;

	if (*p++ != '[')
		return NULL;
	for (q = p; isdigit((unsigned char)*q) || *q == ':'; q++)
		;
	if (q == p)
		return NULL;
	if (*q == '<') {
		for (p = ++q; isdigit((unsigned char)*q) || *q == ':' ||
		    *q == '?'; q++)
			;
		if (q == p)
			return NULL;
	}
	if (q[0] != ',' || q[1] != ' ')
		return NULL;
	q = parse_skip_blanks(q + 2);
	bar->step_ms = NAN;
	if (*q == '?') {
		q++;
		if ((e = parse_skip_prefix(q, "it/s")) == NULL &&
		    (e = parse_skip_prefix(q, "s/it")) == NULL)
			return NULL;
		q = e;
	} else {
		if (parse_number(q, &e, &v) != 0)
			return NULL;
		if ((q = parse_skip_prefix(e, "it/s")) != NULL) {
			if (v > 0 && isfinite(v))
				bar->step_ms = 1000.0 / v;
		} else if ((q = parse_skip_prefix(e, "s/it")) != NULL) {
			if (v >= 0 && isfinite(v))
				bar->step_ms = 1000.0 * v;
		} else
			return NULL;
	}
	bar->postfix = NULL;
	if (q[0] == ',' && q[1] == ' ') {
		bar->postfix = q + 2;
		/* Numbers hold no ']': the first one closes the bar. */
		if ((e = strchr(bar->postfix, ']')) == NULL)
			return NULL;
		bar->postfix_len = e - bar->postfix;
		q = e;
	}
	if (*q != ']')
		return NULL;
	return q + 1;
}

/*
 * "{desc}: {pct}%|{bar}| {n}/{total} [...]" or, without a total,
 * "{desc}: {n}it [...]". Returns the bytes the bar takes, or 0.
 */
static size_t
tqdm_parse_bar(const char *s, struct tqdm_bar *bar)
{
	const char *pct, *p, *q, *e, *colon;

	memset(bar, 0, sizeof *bar);
	bar->total = -1;
	if ((pct = strstr(s, "%|")) != NULL) {
		for (p = pct; p > s && (isdigit((unsigned char)p[-1]) ||
		    p[-1] == ' '); p--)
			;
		if (p == pct)
			return 0;
		if (p == s)
			colon = s;
		else if (p - s >= 1 && p[-1] == ':')
			colon = p - 1;
		else
			return 0;
		bar->desc = s;
		bar->desc_len = colon - s;
		/* The bar's own characters hold no '|'. */
		if ((q = strchr(pct + 2, '|')) == NULL || q[1] != ' ')
			return 0;
		if (parse_integer(q + 2, &e, &bar->n) != 0 || *e != '/')
			return 0;
		if (parse_integer(e + 1, &e, &bar->total) != 0 || *e != ' ')
			return 0;
		p = e + 1;
	} else {
		for (colon = strstr(s, ": "); colon != NULL;
		    colon = strstr(colon + 1, ": ")) {
			if (parse_integer(colon + 2, &e, &bar->n) == 0 &&
			    (q = parse_skip_prefix(e, "it [")) != NULL)
				break;
		}
		if (colon == NULL)
			return 0;
		bar->desc = s;
		bar->desc_len = colon - s;
		p = q - 1;
	}
	if (bar->n < 0 || (q = tqdm_parse_brackets(p, bar)) == NULL)
		return 0;
	return q - s;
}

static int
tqdm_is_loss_key(const struct tqdm *t, const char *k, size_t len)
{
	const char *const *lk;

	for (lk = t->loss_keys; *lk != NULL; lk++) {
		if (strlen(*lk) == len && memcmp(*lk, k, len) == 0)
			return 1;
	}
	return 0;
}

/* "lr=1e-5, step_loss=0.0852" into the pending metric. */
static void
tqdm_postfix(struct tqdm *t, const char *s, size_t len)
{
	const char *end = s + len, *k, *eq, *e;
	struct metric *m = &t->pend;
	double v;

	while (s < end) {
		k = s;
		while (s < end && *s != '=' && *s != ',')
			s++;
		if (s == end)
			break;
		if (*s == ',') {
			s = parse_skip_blanks(s + 1);
			continue;
		}
		eq = s++;
		if (parse_number(s, &e, &v) == 0 && (e == end ||
		    *e == ',')) {
			if (tqdm_is_loss_key(t, k, eq - k)) {
				m->loss = v;
				m->has |= METRIC_HAS_LOSS;
			} else if (eq - k == 2 && memcmp(k, "lr", 2) == 0) {
				m->lr = v;
				m->has |= METRIC_HAS_LR;
			} else
				(void)metric_set_extra(m, k, eq - k, v);
		}
		while (s < end && *s != ',')
			s++;
		if (s < end)
			s = parse_skip_blanks(s + 1);
	}
}

static void
tqdm_sticky_changed(struct tqdm *t, struct parse_out *out)
{
	if (t->has_pend && t->pend_since == UINT64_MAX)
		t->pend_since = parse_out_offset(out);
	if (t->sticky_off == UINT64_MAX)
		t->sticky_off = parse_out_offset(out);
}

/*
 * A counter only ever drawn with "?it/s" is where the bar started (0, or
 * the step a resumed run starts from), not a step this run made: tqdm
 * shows a rate from the first update on.
 */
static void
tqdm_emit(struct tqdm *t, struct parse_out *out)
{
	if (t->has_pend && t->pend_measured) {
		/* Header lines after its last redraw are not in it. */
		t->sticky_off = t->pend_since;
		parse_out_metric_since(out, &t->pend, t->pend_since);
	}
	t->has_pend = 0;
	t->pend_measured = 0;
	t->pend_since = UINT64_MAX;
	metric_clear(&t->pend);
}

static void
tqdm_redraw(struct tqdm *t, struct parse_out *out,
    const struct tqdm_bar *bar)
{
	struct metric *m = &t->pend;

	if (t->has_pend && bar->n != m->step)
		tqdm_emit(t, out);
	/*
	 * A total drawn is the run's total, as a header's is: a later bar
	 * without one takes it, and so does a restarted agent, which seeds
	 * it from the last step spooled (tqdm_seed).
	 */
	if (bar->total >= 0 && (!t->has_total || bar->total != t->total)) {
		tqdm_sticky_changed(t, out);
		t->total = bar->total;
		t->has_total = 1;
	}
	if (bar->n == 0)
		return;
	t->pend_since = UINT64_MAX;
	if (!t->has_pend) {
		metric_clear(m);
		m->step = bar->n;
		t->has_pend = 1;
		t->pend_off = parse_out_offset(out);
	}
	if (t->has_total) {
		m->total_steps = t->total;
		m->has |= METRIC_HAS_TOTAL;
	}
	if (t->has_epoch) {
		m->epoch = t->epoch;
		m->has |= METRIC_HAS_EPOCH;
	}
	/*
	 * The rate is the first one drawn under this counter: update() draws
	 * it, set_postfix() redraws keep it, but the bar's closing redraw
	 * shows the overall average (tqdm drops the moving average there).
	 */
	if (!isnan(bar->step_ms) && !(m->has & METRIC_HAS_STEP_TIME)) {
		m->step_time_ms = bar->step_ms;
		m->has |= METRIC_HAS_STEP_TIME;
		t->pend_measured = 1;
	}
	if (bar->postfix != NULL)
		tqdm_postfix(t, bar->postfix, bar->postfix_len);
}

/*
 * Header lines: the total, and kohya's epoch lines. A restarted agent
 * seeds these from the last step it spooled, so a change after the
 * pending step's last redraw must be read again after a restart.
 */
static void
tqdm_header(struct tqdm *t, struct parse_out *out, const char *s)
{
	const char *p, *e;
	int64_t v, all;

	if ((p = strcasestr(s, "total optimization steps")) != NULL) {
		p += 24;
		while (*p != '\0' && *p != ':' && *p != '=')
			p++;
		if (*p != '\0' && parse_integer(parse_skip_blanks(p + 1), &e,
		    &v) == 0 && v > 0) {
			tqdm_sticky_changed(t, out);
			t->total = v;
			t->has_total = 1;
		}
		return;
	}
	p = parse_skip_blanks(s);
	if ((p = parse_skip_prefix(p, "epoch ")) != NULL &&
	    parse_integer(p, &e, &v) == 0 && *e == '/' &&
	    parse_integer(e + 1, &e, &all) == 0 && *e == '\0' && v >= 0) {
		tqdm_sticky_changed(t, out);
		t->epoch = v;
		t->has_epoch = 1;
	}
}

static size_t
tqdm_line(void *arg, struct parse_out *out, const char *s, size_t len)
{
	struct tqdm *t = arg;
	struct tqdm_bar bar;
	size_t used;

	if ((used = tqdm_parse_bar(s, &bar)) > 0) {
		if (bar.desc_len == strlen(t->desc) &&
		    memcmp(bar.desc, t->desc, bar.desc_len) == 0)
			tqdm_redraw(t, out, &bar);
		return used;
	}
	tqdm_header(t, out, s);
	return 0;
}

static void
tqdm_finish(void *arg, struct parse_out *out)
{
	tqdm_emit(arg, out);
}

static void
tqdm_seed(void *arg, const struct metric *last, uint64_t last_off)
{
	struct tqdm *t = arg;

	if (last->has & METRIC_HAS_TOTAL) {
		t->total = last->total_steps;
		t->has_total = 1;
	}
	if (last->has & METRIC_HAS_EPOCH) {
		t->epoch = last->epoch;
		t->has_epoch = 1;
	}
}

static uint64_t
tqdm_holds_since(void *arg)
{
	struct tqdm *t = arg;

	uint64_t off = t->has_pend ? t->pend_off : UINT64_MAX;

	/* A restart seeds epoch and total from the last step spooled: the
	 * lines that changed them since must be read again. */
	return t->sticky_off < off ? t->sticky_off : off;
}

const struct parser_ops parse_kohya_ops = {
	.name = "kohya",
	.create = tqdm_create_kohya,
	.destroy = tqdm_destroy,
	.line = tqdm_line,
	.finish = tqdm_finish,
	.seed = tqdm_seed,
	.holds_since = tqdm_holds_since,
};

const struct parser_ops parse_diffusers_ops = {
	.name = "diffusers",
	.create = tqdm_create_diffusers,
	.destroy = tqdm_destroy,
	.line = tqdm_line,
	.finish = tqdm_finish,
	.seed = tqdm_seed,
	.holds_since = tqdm_holds_since,
};
