/*
 * metrics_out.c - a task's metrics as CSV or JSON lines, every stored
 * point in (attempt, host, rank, step) order: `drover metrics` and the
 * console's export. Non-finite values are written "nan", "inf", "-inf".
 */
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void
print_double(FILE *f, double v, int has)
{
	if (!has)
		return;
	if (isnan(v))
		fputs("nan", f);
	else if (isinf(v))
		fputs(v > 0 ? "inf" : "-inf", f);
	else
		fprintf(f, "%.9g", v);
}

static int
metric_csv(const struct store_metric *m, void *arg)
{
	FILE *f = arg;

	fprintf(f, "%d,%s,%d,%lld,", m->attempt, m->host, m->rank,
	    (long long)m->step);
	if (m->has & STORE_HAS_TOTAL)
		fprintf(f, "%lld", (long long)m->total_steps);
	fputc(',', f);
	if (m->has & STORE_HAS_EPOCH)
		fprintf(f, "%lld", (long long)m->epoch);
	fputc(',', f);
	print_double(f, m->loss, m->has & STORE_HAS_LOSS);
	fputc(',', f);
	print_double(f, m->lr, m->has & STORE_HAS_LR);
	fputc(',', f);
	print_double(f, m->step_time_ms, m->has & STORE_HAS_STEP_TIME);
	fputc(',', f);
	print_double(f, m->samples_per_s, m->has & STORE_HAS_SAMPLES);
	fprintf(f, ",%lld,%lld\n", (long long)m->t, (long long)m->seq);
	return 0;
}

static json_t *
json_num(double v)
{
	if (isnan(v))
		return json_string("nan");
	if (isinf(v))
		return json_string(v > 0 ? "inf" : "-inf");
	return json_real(v);
}

static int
metric_jsonl(const struct store_metric *m, void *arg)
{
	FILE *f = arg;
	json_t *j = json_pack("{s:i, s:s, s:i, s:I, s:I, s:I}", "attempt",
	    m->attempt, "host", m->host, "rank", m->rank, "step",
	    (json_int_t)m->step, "t", (json_int_t)m->t, "seq",
	    (json_int_t)m->seq);
	char *text;

	if (m->has & STORE_HAS_TOTAL)
		json_object_set_new(j, "total_steps",
		    json_integer(m->total_steps));
	if (m->has & STORE_HAS_EPOCH)
		json_object_set_new(j, "epoch", json_integer(m->epoch));
	if (m->has & STORE_HAS_LOSS)
		json_object_set_new(j, "loss", json_num(m->loss));
	if (m->has & STORE_HAS_LR)
		json_object_set_new(j, "lr", json_num(m->lr));
	if (m->has & STORE_HAS_STEP_TIME)
		json_object_set_new(j, "step_time_ms",
		    json_num(m->step_time_ms));
	if (m->has & STORE_HAS_SAMPLES)
		json_object_set_new(j, "samples_per_s",
		    json_num(m->samples_per_s));
	if (m->extras != NULL) {
		json_t *x = json_loads(m->extras, 0, NULL);

		if (json_is_object(x))
			json_object_update(j, x);
		json_decref(x);
	}
	text = json_dumps(j, JSON_COMPACT);
	fprintf(f, "%s\n", text);
	free(text);
	json_decref(j);
	return 0;
}

int
metrics_write(struct store *s, int64_t task, const char *host, int csv,
    FILE *f, char **cause)
{
	if (csv)
		fprintf(f, "attempt,host,rank,step,total_steps,epoch,loss,lr,"
		    "step_time_ms,samples_per_s,t,seq\n");
	return store_metrics_each(s, task, host, csv ? metric_csv :
	    metric_jsonl, f, cause);
}
