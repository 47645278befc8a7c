/*
 * series.c - one chart line held in bounded memory: SERIES_BUCKETS buckets
 * of equal, power-of-two step width over the whole history (min, max, sum,
 * count, non-finite and non-positive counts each, kept as parallel arrays so
 * a render reads only what it needs) and a ring of the last SERIES_TAIL
 * points. Not a store: points are never read back one by one except from
 * the tail.
 *
 * When a step falls above the range, adjacent pairs merge (the width
 * doubles); when one falls below, the range moves down, leaving free buckets
 * below so that descending steps cost amortised O(1) too.
 */
#include "chart.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"

#define NB SERIES_BUCKETS
#define NT SERIES_TAIL

struct series {
	int64_t origin;		/* first step of bucket 0 */
	int shift;		/* bucket width is 1 << shift */
	uint64_t count, nonfinite, nonpos;
	int64_t min_step, max_step;
	double last;
	/* the tail: the last NT points in the order added */
	size_t thead, tlen;
	int tevicted;		/* a point has left the tail ... */
	int64_t tevicted_max;	/* ... and this is the highest step that did */

	double bmin[NB], bmax[NB], bsum[NB];
	uint32_t bcnt[NB], bbad[NB], bnpos[NB];
	int64_t tstep[NT];
	double tval[NT];
};

static void
series_clear_buckets(double *mn, double *mx, double *sum, uint32_t *cnt,
    uint32_t *bad, uint32_t *npos)
{
	size_t i;

	for (i = 0; i < NB; i++) {
		mn[i] = INFINITY;
		mx[i] = -INFINITY;
	}
	memset(sum, 0, NB * sizeof *sum);
	memset(cnt, 0, NB * sizeof *cnt);
	memset(bad, 0, NB * sizeof *bad);
	memset(npos, 0, NB * sizeof *npos);
}

struct series *
series_new(void)
{
	struct series *s = xcalloc(1, sizeof *s);

	s->last = NAN;
	series_clear_buckets(s->bmin, s->bmax, s->bsum, s->bcnt, s->bbad,
	    s->bnpos);
	return s;
}

void
series_free(struct series *s)
{
	free(s);
}

size_t
series_memsize(void)
{
	return sizeof(struct series);
}

/* Move to a new origin and width that hold every bucket used and step. */
static void
series_rebucket(struct series *s, int64_t step)
{
	double mn[NB], mx[NB], sum[NB];
	uint32_t cnt[NB], bad[NB], npos[NB];
	int64_t lo, hi, origin, w = (int64_t)1 << s->shift;
	size_t i, j, ulo = NB, uhi = 0, used;
	int shift = s->shift, down = step < s->origin;

	for (i = 0; i < NB; i++) {
		if (s->bcnt[i] == 0)
			continue;
		if (ulo == NB)
			ulo = i;
		uhi = i;
	}
	if (ulo == NB)		/* cannot happen: called after a first add */
		ulo = uhi = 0;
	lo = s->origin + (int64_t)ulo * w;
	hi = s->origin + (int64_t)uhi * w + (w - 1);
	if (step < lo)
		lo = step;
	if (step > hi)
		hi = step;
	/* The new origin stays a whole number of old buckets from the old
	 * one, so each old bucket falls inside one new bucket. */
	origin = s->origin;
	if (lo < origin)
		origin -= (int64_t)(((uint64_t)origin - (uint64_t)lo + w - 1) /
		    (uint64_t)w) * w;
	else
		origin += ((lo - origin) / w) * w;
	while ((((uint64_t)hi - (uint64_t)origin) >> shift) >= NB)
		shift++;
	if (down) {
		/* Leave free buckets below for further descending steps:
		 * at least a quarter of them, halving the resolution if
		 * need be. */
		used = (((uint64_t)hi - (uint64_t)origin) >> shift) + 1;
		if (NB - used < NB / 4) {
			shift++;
			used = (((uint64_t)hi - (uint64_t)origin) >> shift) + 1;
		}
		origin -= (int64_t)((NB - used) / 2) * ((int64_t)1 << shift);
	}
	series_clear_buckets(mn, mx, sum, cnt, bad, npos);
	for (i = ulo; i <= uhi; i++) {
		if (s->bcnt[i] == 0)
			continue;
		j = ((uint64_t)(s->origin + (int64_t)i * w) -
		    (uint64_t)origin) >> shift;
		if (s->bmin[i] < mn[j])
			mn[j] = s->bmin[i];
		if (s->bmax[i] > mx[j])
			mx[j] = s->bmax[i];
		sum[j] += s->bsum[i];
		cnt[j] += s->bcnt[i];
		bad[j] += s->bbad[i];
		npos[j] += s->bnpos[i];
	}
	memcpy(s->bmin, mn, sizeof mn);
	memcpy(s->bmax, mx, sizeof mx);
	memcpy(s->bsum, sum, sizeof sum);
	memcpy(s->bcnt, cnt, sizeof cnt);
	memcpy(s->bbad, bad, sizeof bad);
	memcpy(s->bnpos, npos, sizeof npos);
	s->origin = origin;
	s->shift = shift;
}

void
series_add(struct series *s, int64_t step, double v)
{
	uint64_t d;
	size_t i;

	if (s->count == 0) {
		s->origin = s->min_step = s->max_step = step;
	} else {
		if (step < s->min_step)
			s->min_step = step;
		if (step > s->max_step)
			s->max_step = step;
	}
	s->count++;
	s->last = v;

	if (s->tlen == NT) {
		if (!s->tevicted || s->tstep[s->thead] > s->tevicted_max)
			s->tevicted_max = s->tstep[s->thead];
		s->tevicted = 1;
	} else
		s->tlen++;
	s->tstep[s->thead] = step;
	s->tval[s->thead] = v;
	if (++s->thead == NT)
		s->thead = 0;

	d = (uint64_t)step - (uint64_t)s->origin;
	if (step < s->origin || (d >> s->shift) >= NB) {
		series_rebucket(s, step);
		d = (uint64_t)step - (uint64_t)s->origin;
	}
	i = d >> s->shift;
	s->bcnt[i]++;
	if (!isfinite(v)) {
		s->bbad[i]++;
		s->nonfinite++;
		return;
	}
	if (v <= 0) {
		s->bnpos[i]++;
		s->nonpos++;
	}
	s->bsum[i] += v;
	if (v < s->bmin[i])
		s->bmin[i] = v;
	if (v > s->bmax[i])
		s->bmax[i] = v;
}

uint64_t
series_count(const struct series *s)
{
	return s->count;
}

uint64_t
series_nonfinite(const struct series *s)
{
	return s->nonfinite;
}

uint64_t
series_nonpos(const struct series *s)
{
	return s->nonpos;
}

int
series_range(const struct series *s, int64_t *min_step, int64_t *max_step)
{
	if (s->count == 0)
		return 0;
	*min_step = s->min_step;
	*max_step = s->max_step;
	return 1;
}

double
series_last(const struct series *s)
{
	return s->last;
}

void
series_layout(const struct series *s, int64_t *origin, int64_t *width)
{
	*origin = s->origin;
	*width = (int64_t)1 << s->shift;
}

void
series_bucket(const struct series *s, size_t i, struct series_stat *st)
{
	st->min = s->bmin[i];
	st->max = s->bmax[i];
	st->sum = s->bsum[i];
	st->count = s->bcnt[i];
	st->nonfinite = s->bbad[i];
	st->nonpos = s->bnpos[i];
}

static uint64_t
series_columns_tail(const struct series *s, int64_t x0, int64_t x1,
    int ncols, int flags, struct series_col *cols)
{
	struct series_col *c;
	uint64_t nbad = 0;
	size_t k;
	double v;

	for (k = 0; k < s->tlen; k++) {
		if (s->tstep[k] < x0 || s->tstep[k] > x1)
			continue;
		c = &cols[chart_col_of(x0, x1, ncols, (double)s->tstep[k])];
		v = s->tval[k];
		if (!isfinite(v) || ((flags & SERIES_COL_LOG) && v <= 0)) {
			c->bad++;
			nbad++;
			continue;
		}
		if (c->n == 0 || v < c->min)
			c->min = v;
		if (c->n == 0 || v > c->max)
			c->max = v;
		c->sum += v;
		c->n++;
	}
	return nbad;
}

uint64_t
series_columns(const struct series *s, int64_t x0, int64_t x1, int ncols,
    int flags, struct series_col *cols)
{
	uint64_t nbad = 0;
	int64_t w = (int64_t)1 << s->shift;
	size_t i, ifirst, ilast;
	struct series_col *c;
	uint32_t n, bad;
	double mean, lo, hi, sum, k, cf, dk;
	int log = flags & SERIES_COL_LOG, minmax = flags & SERIES_COL_MINMAX,
	    col, anybad;

	memset(cols, 0, (size_t)ncols * sizeof *cols);
	if (s->count == 0 || x1 < x0 || x1 < s->min_step || x0 > s->max_step)
		return 0;
	/* Exact when no point of [x0, x1] has left the tail. */
	if (w > 1 && (!s->tevicted || s->tevicted_max < x0))
		return series_columns_tail(s, x0, x1, ncols, flags, cols);
	/* Only the buckets that overlap [x0, x1]. */
	if (x1 < s->origin)
		return 0;
	ifirst = x0 <= s->origin ? 0 :
	    (size_t)(((uint64_t)x0 - (uint64_t)s->origin) >> s->shift);
	ilast = ((uint64_t)x1 - (uint64_t)s->origin) >> s->shift;
	if (ilast > NB - 1)
		ilast = NB - 1;
	/* The column of each bucket's middle, stepped along (as
	 * chart_col_of, without a multiplication per bucket). */
	k = ncols / ((double)(x1 - x0) + 1);
	cf = ((double)(s->origin - x0) + (double)ifirst * w +
	    (double)(w - 1) / 2) * k + 1e-7;
	dk = (double)w * k;
	anybad = s->nonfinite > 0 || (log && s->nonpos > 0);
	for (i = ifirst; i <= ilast; i++, cf += dk) {
		if (s->bcnt[i] == 0)
			continue;
		col = cf < 0 ? 0 : cf >= ncols ? ncols - 1 : (int)cf;
		c = &cols[col];
		if (!anybad) {
			if (minmax) {
				if (c->n == 0 || s->bmin[i] < c->min)
					c->min = s->bmin[i];
				if (c->n == 0 || s->bmax[i] > c->max)
					c->max = s->bmax[i];
			}
			c->sum += s->bsum[i];
			c->n += s->bcnt[i];
			continue;
		}
		n = s->bcnt[i] - s->bbad[i];
		bad = s->bbad[i];
		sum = s->bsum[i];
		if (log && s->bnpos[i] > 0) {
			/* Positive values only: exact when all are, else
			 * estimated from the mean and the maximum. */
			bad += s->bnpos[i];
			n -= s->bnpos[i];
			if (n == 0 || s->bmax[i] <= 0) {
				c->bad += bad;
				nbad += bad;
				continue;
			}
			mean = s->bsum[i] / (s->bcnt[i] - s->bbad[i]);
			if (mean <= 0)
				mean = s->bmax[i];
			sum = mean * n;
			lo = mean;
			hi = s->bmax[i];
		} else {
			lo = s->bmin[i];
			hi = s->bmax[i];
		}
		c->bad += bad;
		nbad += bad;
		if (n == 0)
			continue;
		if (minmax) {
			if (c->n == 0 || lo < c->min)
				c->min = lo;
			if (c->n == 0 || hi > c->max)
				c->max = hi;
		}
		c->sum += sum;
		c->n += n;
	}
	return nbad;
}
