/*
 * parse_mindone.c - MindONE and MindSpore training output (formats.md
 * section 1). Two formats:
 *
 * mindone: train.py's "Step i/N, size: (...), lr: x, loss: y, time cost:
 * z ms", its data-sink form "Step i/N, lr: x, loss: y, per step time: z
 * ms", and the cache task's "Rank r/R, Cache sample i/N, ... time cost: z
 * ms". Each line is a whole step and is emitted at once.
 *
 * mindspore: LossMonitor "epoch: e step: s, loss is y" (s counts within
 * the epoch), TimeMonitor "Train epoch time: x ms, per step time: z ms",
 * and MindONE's callback "epoch e, step s, lr x, loss y, loss scale k,
 * global_step g, step_time(ms) z". A LossMonitor step waits for the next
 * step line or a TimeMonitor line (which gives its step time), and needs
 * the steps per epoch to become a global step: learnt when epoch 1 ends,
 * from the TimeMonitor ratio, or from the metric a restarted agent seeds.
 */
#include "agent.h"
#include "parse_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MS_MAX_HELD 4096	/* steps waiting for the steps per epoch */

struct mindone {
	int unused;
};

struct mindspore {
	int64_t spe;		/* steps per epoch, 0 until known */
	int64_t cur_epoch;	/* of the last LossMonitor line, 0: none */
	int64_t cur_max;	/* highest in-epoch step seen in cur_epoch */
	uint64_t max_off;	/* the line cur_max came from */
	uint64_t spe_off;	/* the text spe was learnt from */
	int spe_carried;	/* the last step emitted gives spe (ms_seed) */
	int64_t seed_spe;	/* a restart's spe, known from seed_off on */
	uint64_t seed_off;

	int has_pend;		/* the LossMonitor step that waits */
	struct metric pend;	/* its step is the step within the epoch */

	uint64_t hold_off;	/* where the oldest held step came from */
	struct metric *held;	/* older steps waiting for spe */
	size_t nheld;
	size_t capheld;
};

/*
 * An extra's name from a log's label: "loss scale" -> loss_scale,
 * "step_time(ms)" -> step_time_ms. Returns the length, 0 if none is left.
 */
static size_t
mindone_extra_name(const char *k, size_t len, char *out, size_t size)
{
	size_t i, n = 0;
	int gap = 0;

	for (i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = k[i];

		if (isalnum(c) || c == '_' || c == '.' || c == '/' ||
		    c == '-') {
			if (gap && n > 0)
				out[n++] = '_';
			if (n + 1 < size)
				out[n++] = (char)c;
			gap = 0;
		} else
			gap = 1;
	}
	out[n] = '\0';
	return n;
}

/*
 * The text after word where it starts the line or follows a blank (a
 * logger's prefix), or NULL: "Step 1/10" inside a JSON string is not it.
 */
static const char *
mindone_find(const char *s, const char *word)
{
	const char *q = s;
	size_t n = strlen(word);

	while ((q = strstr(q, word)) != NULL) {
		if (q == s || q[-1] == ' ' || q[-1] == '\t')
			return q + n;
		q += n;
	}
	return NULL;
}

/* "i/N" */
static int
mindone_fraction(const char *p, const char **endp, int64_t *i, int64_t *n)
{
	const char *e;

	if (parse_integer(p, &e, i) != 0 || *e != '/')
		return -1;
	if (parse_integer(e + 1, &e, n) != 0)
		return -1;
	*endp = e;
	return 0;
}

/* One "key: value" item of a Step line. */
static void
mindone_item(struct metric *m, const char *k, size_t klen, const char *v)
{
	char name[sizeof m->extra[0].name];
	const char *e;
	double d;
	int64_t b;
	size_t n;

	if (klen == 4 && memcmp(k, "size", 4) == 0) {
		/* (batch, channels, height, width): the batch per device. */
		if (*v == '(' && parse_integer(v + 1, &e, &b) == 0 && b > 0)
			(void)metric_set_extra(m, "batch_size", 10, (double)b);
		return;
	}
	if (parse_number(v, &e, &d) != 0)
		return;
	if (klen == 2 && memcmp(k, "lr", 2) == 0) {
		m->lr = d;
		m->has |= METRIC_HAS_LR;
	} else if (klen == 4 && memcmp(k, "loss", 4) == 0) {
		m->loss = d;
		m->has |= METRIC_HAS_LOSS;
	} else if ((klen == 9 && memcmp(k, "time cost", 9) == 0) ||
	    (klen == 13 && memcmp(k, "per step time", 13) == 0)) {
		m->step_time_ms = d;
		m->has |= METRIC_HAS_STEP_TIME;
	} else if ((n = mindone_extra_name(k, klen, name, sizeof name)) > 0 &&
	    !parse_field_is_fixed(name, n))
		(void)metric_set_extra(m, name, n, d);
}

/* ", key: value, key: (a, b), ..." after "Step i/N". */
static void
mindone_items(struct metric *m, const char *p)
{
	const char *k, *colon;
	int depth;

	while (p[0] == ',' && p[1] == ' ') {
		k = p + 2;
		/* The item ends at the next ", " outside parentheses. */
		for (p = k, depth = 0; *p != '\0'; p++) {
			if (*p == '(')
				depth++;
			else if (*p == ')' && depth > 0)
				depth--;
			else if (depth == 0 && p[0] == ',' && p[1] == ' ')
				break;
		}
		colon = memmem(k, p - k, ": ", 2);
		if (colon != NULL && memchr(k, '(', colon - k) == NULL)
			mindone_item(m, k, colon - k, colon + 2);
	}
}

static void *
mindone_create(const json_t *opts, char **cause)
{
	return xcalloc(1, sizeof(struct mindone));
}

static void
mindone_destroy(void *arg)
{
	free(arg);
}

static size_t
mindone_line(void *arg, struct parse_out *out, const char *s, size_t len)
{
	struct metric m;
	const char *p, *e;
	int64_t i, n;
	double d;

	metric_clear(&m);
	if ((p = mindone_find(s, "Step ")) != NULL &&
	    mindone_fraction(p, &e, &i, &n) == 0 && (*e == ',' ||
	    *e == '\0')) {
		m.step = i;
		m.total_steps = n;
		m.has |= METRIC_HAS_TOTAL;
		mindone_items(&m, e);
		parse_out_metric(out, &m);
		return len;
	}
	if ((p = mindone_find(s, "Cache sample ")) != NULL &&
	    mindone_fraction(p, &e, &i, &n) == 0) {
		m.step = i;
		m.total_steps = n;
		m.has |= METRIC_HAS_TOTAL;
		if ((p = strstr(e, "time cost: ")) != NULL &&
		    parse_number(p + 11, &e, &d) == 0) {
			m.step_time_ms = d;
			m.has |= METRIC_HAS_STEP_TIME;
		}
		parse_out_metric(out, &m);
		return len;
	}
	return 0;
}

const struct parser_ops parse_mindone_ops = {
	.name = "mindone",
	.create = mindone_create,
	.destroy = mindone_destroy,
	.line = mindone_line,
	.finish = NULL,
	.seed = NULL,
};

/* ---- mindspore ---------------------------------------------------------- */

static void *
ms_create(const json_t *opts, char **cause)
{
	struct mindspore *ms;

	ms = xcalloc(1, sizeof *ms);
	metric_clear(&ms->pend);
	ms->spe_off = UINT64_MAX;
	return ms;
}

static void
ms_destroy(void *arg)
{
	struct mindspore *ms = arg;

	if (ms == NULL)
		return;
	free(ms->held);
	free(ms);
}

/*
 * The steps per epoch, learnt from the text at off. Until a step emitted
 * carries them (ms_seed), a restarted agent must read that text again.
 */
static void
ms_learn(struct mindspore *ms, int64_t spe, uint64_t off)
{
	ms->spe = spe;
	ms->spe_off = off;
	ms->spe_carried = 0;
}

/*
 * Turns an in-epoch step into a global one and emits it; a global step
 * past INT64_MAX (a garbled epoch) is none.
 */
static void
ms_emit(struct mindspore *ms, struct parse_out *out, struct metric *m)
{
	int64_t sie = m->step;

	if (m->epoch > 1 && ms->spe > (INT64_MAX - sie) / (m->epoch - 1))
		return;
	if (m->epoch > 1)
		m->step = (m->epoch - 1) * ms->spe + sie;
	/* Before the event, whose resume depends on it: a restart after it
	 * must read the steps per epoch again unless the step carries them. */
	ms->spe_carried = m->epoch > 1;
	parse_out_metric(out, m);
	m->step = sie;
}

static void
ms_flush_held(struct mindspore *ms, struct parse_out *out)
{
	size_t i;

	if (ms->spe <= 0)
		return;
	for (i = 0; i < ms->nheld; i++)
		ms_emit(ms, out, &ms->held[i]);
	ms->nheld = 0;
}

/* No better source: the highest in-epoch step seen, from its line. */
static void
ms_guess(struct mindspore *ms)
{
	if (ms->cur_max > 0)
		ms_learn(ms, ms->cur_max, ms->max_off);
	else
		ms_learn(ms, 1, ms->hold_off);
}

/* A finished step: out now, or held until the steps per epoch are known. */
static void
ms_release(struct mindspore *ms, struct parse_out *out, struct metric *st)
{
	if (st->epoch <= 1 || ms->spe > 0) {
		ms_flush_held(ms, out);
		ms_emit(ms, out, st);
		return;
	}
	if (ms->nheld == MS_MAX_HELD) {
		/* Best guess rather than unbounded memory. */
		ms_guess(ms);
		ms_flush_held(ms, out);
		ms_emit(ms, out, st);
		return;
	}
	if (ms->nheld == ms->capheld) {
		ms->capheld = ms->capheld ? ms->capheld * 2 : 16;
		ms->held = xreallocarray(ms->held, ms->capheld,
		    sizeof *ms->held);
	}
	ms->held[ms->nheld++] = *st;
}

static void
ms_release_pend(struct mindspore *ms, struct parse_out *out)
{
	if (!ms->has_pend)
		return;
	ms->has_pend = 0;
	ms_release(ms, out, &ms->pend);
}

/* Tracks epochs to learn the steps per epoch when one ends. */
static void
ms_track(struct mindspore *ms, struct parse_out *out, int64_t epoch,
    int64_t sie)
{
	if (ms->cur_epoch != 0 && epoch == ms->cur_epoch + 1 && ms->spe == 0 &&
	    ms->cur_max > 0)
		ms_learn(ms, ms->cur_max, ms->max_off);
	if (epoch != ms->cur_epoch) {
		ms->cur_epoch = epoch;
		ms->cur_max = 0;
	}
	if (sie > ms->cur_max) {
		ms->cur_max = sie;
		ms->max_off = parse_out_offset(out);
	}
}

/* "epoch: 1 step: 2, loss is 0.11218587" */
static int
ms_loss_monitor(struct mindspore *ms, struct parse_out *out, const char *s)
{
	const char *p, *e;
	int64_t epoch, sie;
	double loss;

	if ((p = mindone_find(s, "epoch: ")) == NULL ||
	    parse_integer(p, &e, &epoch) != 0)
		return 0;
	if (*e == ',')
		e++;
	if ((p = parse_skip_prefix(e, " step: ")) == NULL ||
	    parse_integer(p, &e, &sie) != 0 || epoch < 0 || sie < 0)
		return 0;
	if ((p = parse_skip_prefix(e, ", loss is ")) == NULL ||
	    parse_number(p, &e, &loss) != 0)
		return 0;
	ms_track(ms, out, epoch, sie);
	ms_release_pend(ms, out);
	ms_flush_held(ms, out);
	metric_clear(&ms->pend);
	ms->pend.step = sie;
	ms->pend.epoch = epoch;
	ms->pend.loss = loss;
	ms->pend.has = METRIC_HAS_EPOCH | METRIC_HAS_LOSS;
	(void)metric_set_extra(&ms->pend, "step_in_epoch", 13, (double)sie);
	ms->has_pend = 1;
	/* Older held steps keep the older offset. */
	if (ms->nheld == 0)
		ms->hold_off = parse_out_offset(out);
	return 1;
}

/* "Train epoch time: 130989.351 ms, per step time: 472.886 ms" */
static int
ms_time_monitor(struct mindspore *ms, struct parse_out *out, const char *s)
{
	const char *p, *e;
	double epoch_ms, step_ms;

	if ((p = mindone_find(s, "epoch time: ")) == NULL ||
	    parse_number(p, &e, &epoch_ms) != 0)
		return 0;
	if ((p = strstr(e, "per step time: ")) == NULL ||
	    parse_number(p + 15, &e, &step_ms) != 0)
		return 0;
	if (ms->spe == 0 && step_ms > 0 && epoch_ms > 0 &&
	    isfinite(epoch_ms / step_ms) && epoch_ms / step_ms < 1e12 &&
	    llround(epoch_ms / step_ms) != 0)
		ms_learn(ms, llround(epoch_ms / step_ms),
		    parse_out_offset(out));
	if (ms->spe == 0 && ms->cur_max > 0 && ms->nheld > 0)
		ms_learn(ms, ms->cur_max, ms->max_off);
	if (ms->has_pend) {
		ms->pend.step_time_ms = step_ms;
		ms->pend.has |= METRIC_HAS_STEP_TIME;
	}
	ms_flush_held(ms, out);
	ms_release_pend(ms, out);
	return 1;
}

/*
 * "epoch 3, step 120, lr 0.0000100, loss 0.123456, loss scale 1024,
 * global_step 1000, step_time(ms) 523.4": label, space, number items.
 */
static int
ms_callback(struct mindspore *ms, struct parse_out *out, const char *s)
{
	struct metric m;
	const char *p, *e, *item, *sp, *end;
	char name[sizeof m.extra[0].name];
	int64_t epoch, sie, global = -1;
	double v;
	size_t klen, n;

	if ((p = mindone_find(s, "epoch ")) == NULL ||
	    parse_integer(p, &e, &epoch) != 0)
		return 0;
	if ((p = parse_skip_prefix(e, ", step ")) == NULL ||
	    parse_integer(p, &e, &sie) != 0)
		return 0;
	metric_clear(&m);
	m.epoch = epoch;
	m.has = METRIC_HAS_EPOCH;
	while (e[0] == ',' && e[1] == ' ') {
		item = e + 2;
		if ((end = strstr(item, ", ")) == NULL)
			end = item + strlen(item);
		e = end;
		for (sp = end; sp > item && sp[-1] != ' '; sp--)
			;
		if (sp == item || parse_number(sp, &p, &v) != 0 || p != end)
			continue;
		klen = sp - 1 - item;
		if (klen == 2 && memcmp(item, "lr", 2) == 0) {
			m.lr = v;
			m.has |= METRIC_HAS_LR;
		} else if (klen == 4 && memcmp(item, "loss", 4) == 0) {
			m.loss = v;
			m.has |= METRIC_HAS_LOSS;
		} else if (klen == 11 && memcmp(item, "global_step", 11) == 0) {
			if (v >= 0 && v < 9e18)
				global = (int64_t)v;
		} else if (klen == 13 &&
		    memcmp(item, "step_time(ms)", 13) == 0) {
			m.step_time_ms = v;
			m.has |= METRIC_HAS_STEP_TIME;
		} else if ((n = mindone_extra_name(item, klen, name,
		    sizeof name)) > 0 && !parse_field_is_fixed(name, n))
			(void)metric_set_extra(&m, name, n, v);
	}
	if (!(m.has & METRIC_HAS_LOSS))
		return 0;
	m.step = global >= 0 ? global : sie;
	(void)metric_set_extra(&m, "step_in_epoch", 13, (double)sie);
	/* Says the step was printed, so ms_seed learns nothing from it. */
	if (global >= 0)
		(void)metric_set_extra(&m, "global_step", 11, (double)global);
	ms_release_pend(ms, out);
	/* Its step is the global_step printed (or the step in its epoch),
	 * not one ms_seed reads: a restart after it reads the steps per
	 * epoch again. Set before the event, whose resume depends on it (a
	 * restart after one resumed after their text and learnt other ones;
	 * found by tests/fuzz/parse.c). */
	ms->spe_carried = 0;
	parse_out_metric(out, &m);
	return 1;
}

/*
 * A restarted reader knows the steps per epoch that the last step spooled
 * was numbered with, but not whether the run it continues knew them where
 * the reading starts. It did if that step was emitted as it was read: then
 * the reading starts at the line of the step the last event released, and
 * nothing before the last event's segment needs them. It did not if the
 * step was held and released when they were learnt, in the last event's
 * segment: the reading starts at the oldest held step, and must hold them
 * again, as the run did, or it emits them sooner, at other offsets (and
 * the one the last segment released is taken for one already spooled).
 * Either way they are known from the last event's segment on, with the
 * same value the text there would teach.
 */
static void
ms_seed_due(struct mindspore *ms, struct parse_out *out)
{
	if (ms->seed_spe == 0 || parse_out_offset(out) < ms->seed_off)
		return;
	if (ms->spe == 0) {
		ms->spe = ms->seed_spe;
		ms->spe_carried = 1;
	}
	ms->seed_spe = 0;
}

static size_t
ms_line(void *arg, struct parse_out *out, const char *s, size_t len)
{
	struct mindspore *ms = arg;

	ms_seed_due(ms, out);
	if (ms_loss_monitor(ms, out, s) || ms_time_monitor(ms, out, s) ||
	    ms_callback(ms, out, s))
		return len;
	return 0;
}

static void
ms_finish(void *arg, struct parse_out *out)
{
	struct mindspore *ms = arg;

	ms_seed_due(ms, out);
	if (ms->spe == 0 && (ms->nheld > 0 || (ms->has_pend &&
	    ms->pend.epoch > 1)))
		ms_guess(ms);
	ms_flush_held(ms, out);
	ms_release_pend(ms, out);
}

/* A restarted agent knows the steps per epoch from the last metric, from
 * the last event's segment on (ms_seed_due). */
static void
ms_seed(void *arg, const struct metric *last, uint64_t last_off)
{
	struct mindspore *ms = arg;
	int64_t sie;
	int i;

	if (!(last->has & METRIC_HAS_EPOCH) || last->epoch <= 1)
		return;
	/* A MindONE callback's step is the global step it printed: its
	 * epoch and in-epoch step do not give the steps per epoch by which
	 * LossMonitor lines are numbered (a log with both re-read a
	 * LossMonitor step as another step after a restart; found by
	 * tests/fuzz/parse.c). */
	for (i = 0; i < last->nextra; i++) {
		if (strcmp(last->extra[i].name, "global_step") == 0)
			return;
	}
	for (i = 0; i < last->nextra; i++) {
		if (strcmp(last->extra[i].name, "step_in_epoch") != 0 ||
		    !(last->extra[i].value >= 0 && last->extra[i].value < 9e18))
			continue;
		sie = (int64_t)last->extra[i].value;
		if (last->step > sie &&
		    (last->step - sie) % (last->epoch - 1) == 0) {
			ms->seed_spe = (last->step - sie) / (last->epoch - 1);
			ms->seed_off = last_off;
		}
	}
}

static uint64_t
ms_holds_since(void *arg)
{
	struct mindspore *ms = arg;
	uint64_t off = ms->has_pend || ms->nheld > 0 ? ms->hold_off :
	    UINT64_MAX;

	/* What the steps per epoch are, or will be learnt from, is held
	 * until a step emitted carries them for ms_seed. */
	if (ms->spe == 0 && ms->cur_max > 0 && ms->max_off < off)
		off = ms->max_off;
	if (ms->spe != 0 && !ms->spe_carried && ms->spe_off < off)
		off = ms->spe_off;
	return off;
}

const struct parser_ops parse_mindspore_ops = {
	.name = "mindspore",
	.create = ms_create,
	.destroy = ms_destroy,
	.line = ms_line,
	.finish = ms_finish,
	.seed = ms_seed,
	.holds_since = ms_holds_since,
};
