/*
 * parse_jsonl.c - one JSON object per line with an integer "step" (what a
 * custom training loop prints with json.dumps). total_steps, epoch, loss,
 * lr, step_time_ms (or step_time in seconds) and samples_per_s fill the
 * metric's fields; every other numeric key becomes an extra. Python's
 * bare NaN / Infinity and the strings "nan", "inf" are accepted. Lines
 * that are not such an object are ordinary lines, not errors.
 */
#include "agent.h"
#include "parse_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct jsonl {
	int unused;
};

/*
 * Python's json.dumps writes NaN, Infinity and -Infinity, which are not
 * JSON: rewrite them, outside strings, as the strings drover uses.
 * Returns NULL when there is nothing to rewrite.
 */
static char *
jsonl_fix_nonfinite(const char *s, size_t len, size_t *outlen)
{
	static const struct {
		const char *bare;
		const char *str;
	} words[] = {
		{ "-Infinity", "\"-inf\"" },
		{ "Infinity", "\"inf\"" },
		{ "NaN", "\"nan\"" },
	};
	struct json_scan js = { 0, 0 };
	struct buf b;
	size_t i = 0, k, n;
	int changed = 0, hit;

	buf_init(&b);
	while (i < len) {
		if (json_scan_byte(&js, s[i])) {
			buf_addch(&b, s[i++]);
			continue;
		}
		hit = 0;
		for (k = 0; k < nitems(words) && !hit; k++) {
			n = strlen(words[k].bare);
			if (len - i >= n &&
			    memcmp(s + i, words[k].bare, n) == 0) {
				buf_addstr(&b, words[k].str);
				i += n;
				hit = changed = 1;
			}
		}
		if (!hit)
			buf_addch(&b, s[i++]);
	}
	if (!changed) {
		buf_free(&b);
		return NULL;
	}
	*outlen = b.len;
	return buf_steal(&b);
}

/* A number, or a string naming a non-finite one. */
static int
jsonl_number(const json_t *j, double *v)
{
	const char *s, *e;

	if (json_is_number(j)) {
		*v = json_number_value(j);
		return 0;
	}
	if ((s = json_string_value(j)) == NULL)
		return -1;
	if (parse_number(s, &e, v) != 0 || *e != '\0' || isfinite(*v))
		return -1;
	return 0;
}

/* An integer, or a real with no fraction (epoch 2.0); floors epochs. */
static int
jsonl_integer(const json_t *j, int64_t *v, int floor_it)
{
	double d;

	if (json_is_integer(j)) {
		*v = json_integer_value(j);
		return 0;
	}
	if (!json_is_real(j))
		return -1;
	d = json_real_value(j);
	if (!isfinite(d) || d < -9e18 || d > 9e18)
		return -1;
	if (floor_it)
		d = floor(d);
	if (d != floor(d))
		return -1;
	*v = (int64_t)d;
	return 0;
}

static int
jsonl_metric(const json_t *o, struct metric *m)
{
	static const struct {
		const char *key;
		unsigned bit;
		size_t at;
	} nums[] = {
		{ "loss", METRIC_HAS_LOSS, offsetof(struct metric, loss) },
		{ "lr", METRIC_HAS_LR, offsetof(struct metric, lr) },
		{ "step_time_ms", METRIC_HAS_STEP_TIME,
		    offsetof(struct metric, step_time_ms) },
		{ "samples_per_s", METRIC_HAS_SAMPLES,
		    offsetof(struct metric, samples_per_s) },
	};
	const char *key;
	json_t *v;
	double d;
	size_t i;

	metric_clear(m);
	if (jsonl_integer(json_object_get(o, "step"), &m->step, 0) != 0 ||
	    m->step < 0)
		return -1;
	if (jsonl_integer(json_object_get(o, "total_steps"), &m->total_steps,
	    0) == 0)
		m->has |= METRIC_HAS_TOTAL;
	if (jsonl_integer(json_object_get(o, "epoch"), &m->epoch, 1) == 0)
		m->has |= METRIC_HAS_EPOCH;
	for (i = 0; i < nitems(nums); i++) {
		if (jsonl_number(json_object_get(o, nums[i].key), &d) == 0) {
			*(double *)((char *)m + nums[i].at) = d;
			m->has |= nums[i].bit;
		}
	}
	if (!(m->has & METRIC_HAS_STEP_TIME) &&
	    jsonl_number(json_object_get(o, "step_time"), &d) == 0) {
		m->step_time_ms = d * 1000.0;
		m->has |= METRIC_HAS_STEP_TIME;
	}
	json_object_foreach((json_t *)o, key, v) {
		if (parse_field_is_fixed(key, strlen(key)) ||
		    strcmp(key, "step_time") == 0 || json_is_boolean(v))
			continue;
		if (jsonl_number(v, &d) == 0)
			(void)metric_set_extra(m, key, strlen(key), d);
	}
	return 0;
}

static void *
jsonl_create(const json_t *opts, char **cause)
{
	return xcalloc(1, sizeof(struct jsonl));
}

static void
jsonl_destroy(void *arg)
{
	free(arg);
}

static size_t
jsonl_line(void *arg, struct parse_out *out, const char *s, size_t len)
{
	struct metric m;
	const char *p = parse_skip_blanks(s);
	json_t *o;
	char *fixed;
	size_t flen;
	int rc;

	if (*p != '{' || s[len - 1] != '}' || strstr(p, "\"step\"") == NULL)
		return 0;
	len -= p - s;
	/* Over the protocol's caps (1 MiB, 32 levels): an ordinary line. */
	if (proto_check_line(p, len, NULL) != 0)
		return 0;
	o = json_loadb(p, len, 0, NULL);
	if (o == NULL && (fixed = jsonl_fix_nonfinite(p, len, &flen)) !=
	    NULL) {
		o = json_loadb(fixed, flen, 0, NULL);
		free(fixed);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		return 0;
	}
	rc = jsonl_metric(o, &m);
	json_decref(o);
	if (rc != 0)
		return 0;
	parse_out_metric(out, &m);
	return (p - s) + len;
}

const struct parser_ops parse_jsonl_ops = {
	.name = "jsonl",
	.create = jsonl_create,
	.destroy = jsonl_destroy,
	.line = jsonl_line,
	.finish = NULL,
	.seed = NULL,
};
