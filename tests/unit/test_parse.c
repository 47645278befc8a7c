/*
 * test_parse.c - the log parsers, driven the way the agent drives them:
 * fixture bytes (tests/data/logs/, written from formats.md with real '\r'
 * redraws) through the segmenter into a parser. Checks what a user would
 * see: the steps and their values, checkpoints, errors and tracebacks,
 * auto detection, resume after an agent restart, and `drover-agent parse`.
 */
#include "test.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "../../agent/parse_impl.h"

#define REC_MAX 256

struct rec {
	struct metric m[REC_MAX];
	uint64_t moff[REC_MAX];
	int nm;
	char *ckpt[REC_MAX];
	int64_t ckpt_step[REC_MAX];
	uint64_t ckpt_off[REC_MAX];
	int nc;
	char *log[REC_MAX];
	const char *what[REC_MAX];
	const char *level[REC_MAX];
	int nl;
	struct buf trace;	/* every event, serialized, in order */
	size_t evpos[3 * REC_MAX + 1];	/* where each event starts in trace */
	uint64_t evoff[3 * REC_MAX];
	uint64_t evresume[3 * REC_MAX];
	uint32_t evnth[3 * REC_MAX];
	uint32_t mnth[REC_MAX];
	uint32_t ckpt_nth[REC_MAX];
	int evmetric[3 * REC_MAX];	/* index in m, or -1 */
	int nev;
};

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->trace);
}

static void
rec_free(struct rec *r)
{
	int i;

	for (i = 0; i < r->nc; i++)
		free(r->ckpt[i]);
	for (i = 0; i < r->nl; i++)
		free(r->log[i]);
	buf_free(&r->trace);
}

static void
rec_emit(const struct parse_event *ev, void *arg)
{
	struct rec *r = arg;
	json_t *o;
	char *s;

	if (r->nev < 3 * REC_MAX) {
		r->evpos[r->nev] = r->trace.len;
		r->evoff[r->nev] = ev->off;
		r->evresume[r->nev] = ev->resume_off;
		r->evnth[r->nev] = ev->nth;
		CHECK(ev->resume_off <= ev->off);
		r->evmetric[r->nev] = ev->kind == PARSE_METRIC ? r->nm : -1;
		r->nev++;
	}
	switch (ev->kind) {
	case PARSE_METRIC:
		o = metric_to_json(ev->metric);
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		buf_printf(&r->trace, "M %" PRIu64 " %s\n", ev->off, s);
		free(s);
		json_decref(o);
		if (r->nm < REC_MAX) {
			r->moff[r->nm] = ev->off;
			r->mnth[r->nm] = ev->nth;
			r->m[r->nm++] = *ev->metric;
		}
		break;
	case PARSE_CKPT:
		buf_printf(&r->trace, "C %" PRIu64 " %s %" PRId64 "\n", ev->off,
		    ev->path, ev->ckpt_step);
		if (r->nc < REC_MAX) {
			r->ckpt_off[r->nc] = ev->off;
			r->ckpt_nth[r->nc] = ev->nth;
			r->ckpt_step[r->nc] = ev->ckpt_step;
			r->ckpt[r->nc++] = xstrdup(ev->path);
		}
		break;
	case PARSE_LOG:
		buf_printf(&r->trace, "L %" PRIu64 " %s %s ", ev->off,
		    ev->level, ev->what);
		buf_add(&r->trace, ev->text, ev->text_len);
		buf_addch(&r->trace, '\n');
		CHECK(strlen(ev->text) >= ev->text_len);
		if (r->nl < REC_MAX) {
			r->what[r->nl] = ev->what;
			r->level[r->nl] = ev->level;
			r->log[r->nl++] = xstrndup(ev->text, ev->text_len);
		}
		break;
	}
}

static int
rec_count(const struct rec *r, const char *what)
{
	int i, n = 0;

	for (i = 0; i < r->nl; i++)
		n += strcmp(r->what[i], what) == 0;
	return n;
}

static const char *
rec_find_log(const struct rec *r, const char *what)
{
	int i;

	for (i = 0; i < r->nl; i++) {
		if (strcmp(r->what[i], what) == 0)
			return r->log[i];
	}
	return NULL;
}

static int
starts(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static int
ends(const char *s, const char *suffix)
{
	size_t n = s != NULL ? strlen(s) : 0, k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void
feed_line(struct parser *p, const char *line, uint64_t off, struct rec *r)
{
	parser_feed(p, line, strlen(line), '\n', off, rec_emit, r);
}

static double
extra(const struct metric *m, const char *name)
{
	int i;

	for (i = 0; i < m->nextra; i++) {
		if (strcmp(m->extra[i].name, name) == 0)
			return m->extra[i].value;
	}
	return -12345;
}

static struct parser *
mk(const char *format, const char *opts_json)
{
	json_t *opts = NULL;
	struct parser *p;
	char *cause = NULL;

	if (opts_json != NULL)
		opts = json_loads(opts_json, 0, NULL);
	p = parser_new(format, opts, &cause);
	if (p == NULL)
		test_fail(__FILE__, __LINE__, "parser_new %s: %s", format,
		    cause);
	free(cause);
	json_decref(opts);
	return p;
}

static void
feed_seg(const char *seg, size_t len, char term, uint64_t off, void *arg)
{
	void **a = arg;

	parser_feed(a[0], seg, len, term, off, rec_emit, a[1]);
}

/* The stream in reads of chunk bytes, then the end of the stream. */
static void
run(struct parser *p, const char *data, size_t len, size_t chunk,
    struct rec *r)
{
	struct segmenter *s = segmenter_new(64 * 1024, 0);
	void *a[2] = { p, r };
	size_t i, n;

	for (i = 0; i < len; i += n) {
		n = len - i < chunk ? len - i : chunk;
		segmenter_feed(s, data + i, n, feed_seg, a);
	}
	segmenter_flush(s, feed_seg, a);
	parser_finish(p, rec_emit, r);
	segmenter_free(s);
}

static void
run_str(struct parser *p, const char *text, struct rec *r)
{
	run(p, text, strlen(text), strlen(text) + 1, r);
}

static char *
slurp(const char *rel, size_t *lenp)
{
	struct buf b;
	char *cause = NULL;

	buf_init(&b);
	if (file_read_all(test_data(rel), 1 << 20, &b, &cause) != 0) {
		test_fail(__FILE__, __LINE__, "%s", cause);
		free(cause);
		buf_free(&b);
		*lenp = 0;
		return xstrdup("");
	}
	*lenp = b.len;
	return buf_steal(&b);
}

/*
 * The restart property over one log: a parser resumed after any event (at
 * the event's resume offset, suppressing up to the event, as a restarted
 * agent does) emits exactly what the uninterrupted run emitted after it.
 */
static void
check_restarts(const char *format, const char *opts, const char *name,
    const char *data, size_t len, int mid)
{
	struct rec full, r;
	struct parser *p;
	struct segmenter *s;
	struct buf want, got;
	uint64_t off, from;
	void *a[2];
	int k, j, last, tried;

	rec_init(&full);
	p = mk(format, opts);
	run(p, data, len, len, &full);
	parser_free(p);
	full.evpos[full.nev] = full.trace.len;
	for (k = 1; k < full.nev; k++)
		CHECK(full.evoff[k] >= full.evoff[k - 1]);
	for (k = 0; k < full.nev; k++) {
		/* each event's place among those at its offset */
		if (k > 0 && full.evoff[k] == full.evoff[k - 1])
			CHECK(full.evnth[k] > full.evnth[k - 1]);
	}
	tried = 0;
	/* after every event, with mid also between two a segment made */
	for (k = 0; k < full.nev; k++) {
		if (!mid && k + 1 < full.nev &&
		    full.evoff[k + 1] == full.evoff[k])
			continue;
		last = -1;
		for (j = 0; j <= k; j++) {
			if (full.evmetric[j] >= 0)
				last = full.evmetric[j];
		}
		off = full.evoff[k];
		rec_init(&r);
		p = mk(format, opts);
		parser_resume(p, last >= 0 ? &full.m[last] : NULL, off,
		    full.evnth[k]);
		from = full.evresume[k];
		s = segmenter_new(64 * 1024, from);
		a[0] = p;
		a[1] = &r;
		segmenter_feed(s, data + from, len - from, feed_seg, a);
		segmenter_flush(s, feed_seg, a);
		parser_finish(p, rec_emit, &r);
		segmenter_free(s);
		buf_init(&want);
		buf_init(&got);
		buf_add(&want, full.trace.data, full.trace.len);
		buf_add(&got, full.trace.data, full.evpos[k + 1]);
		buf_add(&got, r.trace.data, r.trace.len);
		if (strcmp(buf_cstr(&want), buf_cstr(&got)) != 0)
			test_fail(__FILE__, __LINE__, "%s: restart after event "
			    "%d at %" PRIu64 ":\n%.4000s-- want:\n%.4000s", name,
			    k, off, got.data, want.data);
		buf_free(&want);
		buf_free(&got);
		parser_free(p);
		rec_free(&r);
		tried++;
	}
	CHECK(tried >= (mid ? 2 : 1));
	rec_free(&full);
}

/* A whole fixture through a new parser. */
static const char *
run_file(const char *format, const char *opts, const char *rel,
    struct rec *r)
{
	static char name[32];
	struct parser *p;
	size_t len;
	char *data;

	rec_init(r);
	if ((p = mk(format, opts)) == NULL)
		return "";
	data = slurp(rel, &len);
	run(p, data, len, len + 1, r);
	snprintf(name, sizeof name, "%s", parser_format(p));
	parser_free(p);
	free(data);
	return name;
}

TEST(parse_kohya_bar_epochs_nan_and_ckpt)
{
	struct rec r;
	int i;

	CHECK_STR(run_file("kohya", NULL, "logs/kohya.log", &r), "kohya");
	REQUIRE(r.nm == 6);
	for (i = 0; i < 6; i++) {
		CHECK_INT(r.m[i].step, i + 1);
		CHECK_INT(r.m[i].total_steps, 6);
		CHECK(r.m[i].has & METRIC_HAS_TOTAL);
		CHECK(!(r.m[i].has & METRIC_HAS_LR));
		CHECK_INT(r.m[i].epoch, i < 3 ? 1 : 2);
	}
	CHECK_DBL(r.m[0].loss, 0.131, 1e-12);
	CHECK_DBL(r.m[0].step_time_ms, 1250, 1e-9);		/* 1.25s/it */
	CHECK_DBL(r.m[1].loss, 0.125, 1e-12);
	CHECK_DBL(r.m[1].step_time_ms, 1000 / 1.02, 1e-9);	/* 1.02it/s */
	CHECK_DBL(r.m[2].loss, 0.122, 1e-12);
	CHECK((r.m[3].has & METRIC_HAS_LOSS) && isnan(r.m[3].loss));
	CHECK_DBL(r.m[4].loss, 0.119, 1e-12);	/* the bar a warning hit */
	CHECK_DBL(r.m[5].loss, 0.118, 1e-12);
	CHECK_DBL(r.m[5].step_time_ms, 1000 / 1.58, 1e-9);
	REQUIRE(r.nc == 2);
	CHECK_STR(r.ckpt[0], "/out/sdxl-lora-000001.safetensors");
	CHECK_INT(r.ckpt_step[0], -1);
	CHECK_STR(r.ckpt[1], "/out/sdxl-lora-step00000006.safetensors");
	CHECK_INT(r.ckpt_step[1], 6);
	/* the glued UserWarning is not an error */
	CHECK_INT(r.nl, 0);
	rec_free(&r);
}

TEST(parse_kohya_glued_output_is_a_line_of_its_own)
{
	struct rec r;
	int i, warned = 0;

	run_file("kohya", "{\"mirror\":\"all\"}", "logs/kohya.log", &r);
	CHECK_INT(r.nm, 6);
	for (i = 0; i < r.nl; i++) {
		CHECK(strstr(r.log[i], "%|") == NULL);	/* bars never */
		CHECK_STR(r.level[i], "info");
		if (starts(r.log[i], "/usr/lib/python3/dist-packages/torch/"
		    "utils/checkpoint.py:429: UserWarning:"))
			warned++;
	}
	CHECK_INT(warned, 1);
	CHECK_STR(rec_find_log(&r, "line"), "prepare optimizer, data loader "
	    "etc.");
	CHECK(strstr(r.trace.data, "L ") != NULL &&
	    strstr(r.trace.data, " info line epoch 2/2\n") != NULL);
	rec_free(&r);

	/* An error glued to a bar is found, and the bar still counts. */
	rec_init(&r);
	{
		struct parser *p = mk("kohya", NULL);

		run_str(p, "\rsteps:  50%|█████     | 1/2 [00:01<00:01,  "
		    "1.00it/s, avr_loss=0.5]RuntimeError: CUDA error: an "
		    "illegal memory access was encountered\n", &r);
		parser_free(p);
	}
	CHECK_INT(r.nm, 1);
	CHECK_INT(rec_count(&r, "error"), 1);
	CHECK_STR(rec_find_log(&r, "error"), "RuntimeError: CUDA error: an "
	    "illegal memory access was encountered");
	rec_free(&r);
}

TEST(parse_diffusers_accumulation_keeps_last_postfix)
{
	struct rec r;

	CHECK_STR(run_file("diffusers", NULL, "logs/diffusers.log", &r),
	    "diffusers");
	/* 497 is where the resumed bar started (drawn only with ?it/s) */
	REQUIRE(r.nm == 3);
	CHECK_INT(r.m[0].step, 498);
	CHECK_DBL(r.m[0].loss, 0.177, 1e-12);	/* not 0.201, not 0.189 */
	CHECK_DBL(r.m[0].lr, 0.0001, 1e-15);
	CHECK_DBL(r.m[0].step_time_ms, 2130, 1e-9);	/* 2.13s/it */
	CHECK_INT(r.m[1].step, 499);
	CHECK_DBL(r.m[1].loss, 0.0911, 1e-12);
	CHECK_DBL(r.m[1].lr, 1e-5, 1e-18);
	CHECK_INT(r.m[2].step, 500);
	CHECK_DBL(r.m[2].loss, 0.0734, 1e-12);
	CHECK_DBL(r.m[2].lr, 5e-7, 1e-20);
	CHECK_DBL(r.m[2].step_time_ms, 1000 / 1.05, 1e-9);
	CHECK_INT(r.m[2].total_steps, 500);
	CHECK(!(r.m[2].has & METRIC_HAS_EPOCH));
	/* accelerate's "Saved state to", glued to a bar */
	REQUIRE(r.nc == 1);
	CHECK_STR(r.ckpt[0], "/work/out/sd-lora/checkpoint-500");
	CHECK_INT(r.ckpt_step[0], 500);
	rec_free(&r);
}

TEST(parse_diffusers_traceback_is_one_event)
{
	struct rec r;
	const char *tb;

	run_file("diffusers", NULL, "logs/diffusers.log", &r);
	CHECK_INT(rec_count(&r, "traceback"), 1);
	tb = rec_find_log(&r, "traceback");
	REQUIRE(tb != NULL);
	CHECK_STR(tb, "Traceback (most recent call last):\n"
	    "  File \"/work/diffusers/examples/text_to_image/"
	    "train_text_to_image_lora.py\", line 1012, in <module>\n"
	    "    main()\n"
	    "  File \"/work/diffusers/examples/text_to_image/"
	    "train_text_to_image_lora.py\", line 967, in main\n"
	    "    images = log_validation(pipeline, args, accelerator, epoch)\n"
	    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
	    "2.00 GiB. GPU 0 has a total capacity of 79.10 GiB of which 1.20 "
	    "GiB is free.");
	/* the exception line is inside the traceback, not an error twice */
	CHECK_INT(rec_count(&r, "error"), 1);
	CHECK(starts(rec_find_log(&r, "error"), "ERROR:torch.distributed."));
	CHECK_STR(r.level[0], "error");
	rec_free(&r);
}

TEST(parse_mindone_steps_float32_lr_and_ckpt)
{
	struct rec r;

	CHECK_STR(run_file("mindone", NULL, "logs/mindone.log", &r),
	    "mindone");
	REQUIRE(r.nm == 3);
	CHECK_INT(r.m[0].step, 1);
	CHECK_INT(r.m[0].total_steps, 1000);
	CHECK(r.m[0].lr == 9.999999747378752e-06);
	CHECK_DBL(r.m[0].loss, 0.123456, 1e-12);
	CHECK_DBL(r.m[0].step_time_ms, 1834567.12, 1e-6);  /* compile */
	CHECK_DBL(extra(&r.m[0], "batch_size"), 4, 0);
	CHECK_INT(r.m[1].step, 2);
	CHECK_DBL(r.m[1].step_time_ms, 2701.45, 1e-9);
	CHECK_INT(r.m[2].step, 500);
	CHECK(isnan(r.m[2].loss));
	CHECK(r.m[2].lr == 4.999999873689376e-06);
	REQUIRE(r.nc == 2);
	CHECK_STR(r.ckpt[0], "runs/sdxl/2024-12-06_12:20:00/2/weights/"
	    "SDXL-base-1.0_500.ckpt");
	CHECK_INT(r.ckpt_step[0], 500);
	CHECK_INT(r.ckpt_step[1], 500);
	/* [WARNING] lines ("error may occur", "out of memory, retry") are
	 * not errors */
	CHECK_INT(r.nl, 1);
	CHECK(starts(rec_find_log(&r, "error"), "[ERROR] DEVICE("));
	rec_free(&r);
}

TEST(parse_mindone_sink_and_cache)
{
	struct rec r;
	struct parser *p;

	run_file("mindone", NULL, "logs/mindone_sink.log", &r);
	REQUIRE(r.nm == 2);
	CHECK_INT(r.m[0].step, 100);
	CHECK_INT(r.m[0].total_steps, 2000);
	CHECK_DBL(r.m[0].step_time_ms, 752.31, 1e-9);
	CHECK(r.m[1].lr == 9.999999747378752e-06);
	CHECK_DBL(r.m[1].loss, 0.131872, 1e-12);
	rec_free(&r);

	rec_init(&r);
	p = mk("mindone", NULL);
	run_str(p, "Rank 0/8, Cache sample 12/1000, latent shape: (4, 128, "
	    "128), time cost: 123.45 ms\n", &r);
	REQUIRE(r.nm == 1);
	CHECK_INT(r.m[0].step, 12);
	CHECK_INT(r.m[0].total_steps, 1000);
	CHECK_DBL(r.m[0].step_time_ms, 123.45, 1e-9);
	parser_free(p);
	rec_free(&r);
}

TEST(parse_mindspore_monitors_global_step)
{
	struct rec r;
	struct parser *p;
	int i;

	CHECK_STR(run_file("mindspore", NULL, "logs/mindspore.log", &r),
	    "mindspore");
	REQUIRE(r.nm == 6);
	for (i = 0; i < 6; i++) {
		CHECK_INT(r.m[i].step, i + 1);
		CHECK_INT(r.m[i].epoch, i < 3 ? 1 : 2);
		CHECK_DBL(extra(&r.m[i], "step_in_epoch"), i % 3 + 1, 0);
	}
	CHECK(!(r.m[0].has & METRIC_HAS_STEP_TIME));
	CHECK_DBL(r.m[2].step_time_ms, 472.886, 1e-9);
	CHECK_DBL(r.m[0].loss, 0.6931472, 1e-12);
	CHECK(isnan(r.m[4].loss));
	CHECK_DBL(r.m[5].step_time_ms, 466.7, 1e-9);
	CHECK_INT(r.nl, 0);
	rec_free(&r);

	/* A LossMonitor step waits for the next step or TimeMonitor line. */
	rec_init(&r);
	p = mk("mindspore", NULL);
	feed_line(p, "epoch: 1 step: 1, loss is 0.5", 0, &r);
	CHECK_INT(r.nm, 0);
	feed_line(p, "epoch: 1 step: 2, loss is 0.4", 30, &r);
	CHECK_INT(r.nm, 1);
	parser_finish(p, rec_emit, &r);
	CHECK_INT(r.nm, 2);
	parser_free(p);
	rec_free(&r);
}

TEST(parse_mindspore_resumed_mid_run)
{
	struct rec r;
	struct parser *p;

	/* Starts in epoch 3: global steps wait until an epoch ends. */
	rec_init(&r);
	p = mk("mindspore", NULL);
	run_str(p, "epoch: 3 step: 1, loss is 0.3\n"
	    "epoch: 3 step: 2, loss is 0.29\n"
	    "epoch: 4 step: 1, loss is 0.28\n", &r);
	REQUIRE(r.nm == 3);
	CHECK_INT(r.m[0].step, 5);
	CHECK_INT(r.m[1].step, 6);
	CHECK_INT(r.m[2].step, 7);
	parser_free(p);
	rec_free(&r);

	/* or until a TimeMonitor line gives epoch time / step time */
	rec_init(&r);
	p = mk("mindspore", NULL);
	feed_line(p, "epoch: 3 step: 1, loss is 0.3", 0, &r);
	feed_line(p, "epoch: 3 step: 2, loss is 0.2", 30, &r);
	CHECK_INT(r.nm, 0);
	feed_line(p, "Train epoch time: 1000.0 ms, per step time: 500.0 ms",
	    60, &r);
	REQUIRE(r.nm == 2);
	CHECK_INT(r.m[0].step, 5);
	CHECK_INT(r.m[1].step, 6);
	CHECK_DBL(r.m[1].step_time_ms, 500, 1e-9);
	parser_free(p);
	rec_free(&r);
}

TEST(parse_mindspore_garbled_epoch_is_no_step)
{
	struct rec r;
	struct parser *p;

	/*
	 * 4 steps per epoch: epoch 2^62 + 2 puts the step past INT64_MAX
	 * (found by tests/fuzz/parse.c, a signed overflow); it wrapped
	 * round to step 5 a second time.
	 */
	rec_init(&r);
	p = mk("mindspore", NULL);
	run_str(p, "epoch: 1 step: 1, loss is 0.5\n"
	    "epoch: 1 step: 2, loss is 0.4\n"
	    "epoch: 1 step: 3, loss is 0.3\n"
	    "epoch: 1 step: 4, loss is 0.2\n"
	    "epoch: 2 step: 1, loss is 0.1\n"
	    "epoch: 4611686018427387906 step: 1, loss is 0.1\n", &r);
	REQUIRE(r.nm == 5);
	CHECK_INT(r.m[4].step, 5);
	parser_free(p);
	rec_free(&r);
}

TEST(parse_mindspore_mindone_callback)
{
	struct rec r;

	run_file("mindspore", NULL, "logs/mindspore_callback.log", &r);
	REQUIRE(r.nm == 2);
	CHECK_INT(r.m[0].step, 100);
	CHECK_INT(r.m[0].epoch, 1);
	CHECK_DBL(r.m[0].lr, 1e-5, 1e-18);
	CHECK_DBL(r.m[0].step_time_ms, 523.4, 1e-9);
	CHECK_DBL(extra(&r.m[0], "loss_scale"), 1024, 0);
	CHECK_INT(r.m[1].step, 120);	/* global_step, not step 20 */
	CHECK_DBL(extra(&r.m[1], "step_in_epoch"), 20, 0);
	/* says the step was printed (ms_seed learns nothing from it) */
	CHECK_DBL(extra(&r.m[0], "global_step"), 100, 0);
	CHECK_DBL(extra(&r.m[1], "global_step"), 120, 0);
	CHECK_DBL(extra(&r.m[1], "loss_scale"), 512, 0);
	rec_free(&r);
}

TEST(parse_jsonl_fields_extras_nonfinite)
{
	struct rec r;

	CHECK_STR(run_file("jsonl", NULL, "logs/jsonl.log", &r), "jsonl");
	REQUIRE(r.nm == 3);
	CHECK_INT(r.m[0].step, 1);
	CHECK_INT(r.m[0].total_steps, 100);
	CHECK_INT(r.m[0].epoch, 0);
	CHECK(r.m[0].has & METRIC_HAS_EPOCH);
	CHECK_DBL(r.m[0].step_time_ms, 750, 1e-9);	/* step_time in s */
	CHECK_DBL(extra(&r.m[0], "grad_norm"), 1.5, 0);
	CHECK(isnan(r.m[1].loss));			/* bare NaN */
	CHECK_DBL(r.m[1].samples_per_s, 11.4, 1e-12);
	CHECK_INT(r.m[1].nextra, 0);			/* "run": "x" */
	CHECK(isinf(r.m[2].loss) && r.m[2].loss > 0);	/* "inf" */
	CHECK_INT(r.m[2].nextra, 0);			/* "ok": true */
	CHECK_INT(r.nl, 0);	/* other lines are not errors */
	rec_free(&r);
}

/*
 * jsonl lines over the protocol's caps (1 MiB, 32 levels) are ordinary
 * lines, not metrics, and the good line after each is still a metric, in
 * any chunking; so are broken lines and a line the agent's 64 KiB segment
 * cap cuts into pieces.
 */
static void
jsonl_deep(struct buf *b, int step, int levels)
{
	int i;

	buf_printf(b, "{\"step\":%d,\"a\":", step);
	for (i = 0; i < levels - 1; i++)
		buf_addch(b, '[');
	for (i = 0; i < levels - 1; i++)
		buf_addch(b, ']');
	buf_addstr(b, "}\n");
}

TEST(parse_jsonl_over_caps_line_by_line)
{
	static const size_t chunks[] = { 0, 1, 7, 4096 };
	static const size_t caps[] = { 64 * 1024, 2 * 1024 * 1024 };
	struct segmenter *sg;
	struct parser *p;
	struct rec r;
	struct buf b;
	size_t i, k, c, n;
	void *a[2];

	buf_init(&b);
	buf_addstr(&b, "{\"step\":1,\"loss\":0.5}\n");
	jsonl_deep(&b, 2, PROTO_MAX_DEPTH + 1);	/* 33 levels */
	buf_addstr(&b, "{\"step\":3,\"loss\":\n");	/* broken */
	buf_addstr(&b, "{\"step\":4,\"pad\":\"");	/* 1.5 MiB */
	for (i = 0; i < 1536 * 1024; i++)
		buf_addch(&b, 'x');
	buf_addstr(&b, "\"}\n");
	jsonl_deep(&b, 5, PROTO_MAX_DEPTH);		/* at the cap */
	buf_addstr(&b, "{\"step\":6,\"loss\":0.25}\n");

	for (c = 0; c < nitems(caps); c++) {
		for (k = 0; k < nitems(chunks); k++) {
			rec_init(&r);
			p = mk("jsonl", NULL);
			sg = segmenter_new(caps[c], 0);
			a[0] = p;
			a[1] = &r;
			for (i = 0; i < b.len; i += n) {
				n = chunks[k] == 0 ? b.len : chunks[k];
				/* bytewise only outside the long line */
				if (n == 1 && b.data[i] == 'x')
					n = 4096;
				if (n > b.len - i)
					n = b.len - i;
				segmenter_feed(sg, b.data + i, n, feed_seg, a);
			}
			segmenter_flush(sg, feed_seg, a);
			parser_finish(p, rec_emit, &r);
			CHECK_INT(r.nm, 3);
			if (r.nm == 3) {
				CHECK_INT(r.m[0].step, 1);
				CHECK_INT(r.m[1].step, 5);
				CHECK_INT(r.m[2].step, 6);
				CHECK_DBL(r.m[2].loss, 0.25, 0);
			}
			segmenter_free(sg);
			parser_free(p);
			rec_free(&r);
		}
	}
	buf_free(&b);
}

/*
 * A line longer than the segment cap reaches the parser in pieces: no
 * format reads one, not even a last piece that looks like a whole metric
 * line, and a reader restarted at an event a piece made starts at the
 * line's first byte, so it cuts the same pieces.
 */
TEST(parse_overlong_line_pieces_are_not_metrics)
{
	static const size_t chunks[] = { 0, 1000, 7 };
	struct parser *p;
	struct rec r;
	struct buf b;
	size_t i, k;

	buf_init(&b);
	buf_addstr(&b, "{\"step\":1,\"loss\":0.5}\n");
	/* 64 KiB of x, then what would be step 2: its last piece */
	for (i = 0; i < 64 * 1024; i++)
		buf_addch(&b, 'x');
	buf_addstr(&b, "{\"step\":2,\"loss\":0.25}\n");
	/* an error message far past the cap: still seen as an error */
	buf_addstr(&b, "RuntimeError: ");
	for (i = 0; i < 100 * 1024; i++)
		buf_addch(&b, 'y');
	buf_addstr(&b, "\n{\"step\":3,\"loss\":0.125}\n");
	for (k = 0; k < nitems(chunks); k++) {
		rec_init(&r);
		p = mk("jsonl", NULL);
		run(p, b.data, b.len, chunks[k] == 0 ? b.len : chunks[k], &r);
		CHECK_INT(r.nm, 2);
		if (r.nm == 2) {
			CHECK_INT(r.m[0].step, 1);
			CHECK_INT(r.m[1].step, 3);
		}
		CHECK(r.nl >= 1);
		if (r.nl >= 1) {
			CHECK_STR(r.level[0], "error");
			CHECK(strncmp(r.log[0], "RuntimeError: yyy", 17) == 0);
		}
		parser_free(p);
		rec_free(&r);
	}
	/* mirror all: the pieces' log events are what a restart follows */
	check_restarts("jsonl", "{\"mirror\":\"all\"}", "overlong lines",
	    b.data, b.len, 1);
	check_restarts("auto", "{\"mirror\":\"all\"}", "overlong lines",
	    b.data, b.len, 1);
	buf_free(&b);
}

#define REGEX_OPTS "{\"patterns\":[" \
	"{\"regex\":\"epoch ([0-9]+) of [0-9]+ \\\\(total ([0-9]+) " \
	"steps\\\\)\",\"fields\":[\"epoch\",\"total_steps\"]}," \
	"{\"regex\":\"^it ([0-9]+) \\\\| loss ([^ ]+) \\\\| lr ([^ ]+) " \
	"\\\\| ([0-9.]+) ms/it \\\\| gnorm ([0-9.]+)\",\"fields\":" \
	"[\"step\",\"loss\",\"lr\",\"step_time_ms\",\"grad_norm\"]}]}"

TEST(parse_regex_patterns_and_sticky_values)
{
	struct rec r;

	CHECK_STR(run_file("regex", REGEX_OPTS, "logs/regex.log", &r),
	    "regex");
	REQUIRE(r.nm == 2);
	CHECK_INT(r.m[0].step, 2001);
	CHECK_INT(r.m[0].epoch, 3);
	CHECK_INT(r.m[0].total_steps, 3000);
	CHECK_DBL(r.m[0].loss, 0.4321, 1e-12);
	CHECK_DBL(r.m[0].lr, 2e-5, 1e-18);
	CHECK_DBL(r.m[0].step_time_ms, 812, 0);
	CHECK_DBL(extra(&r.m[1], "grad_norm"), 0.88, 1e-12);
	CHECK_INT(r.m[1].epoch, 3);
	rec_free(&r);
}

static void
expect_new_error(const char *format, const char *opts_json, const char *want)
{
	json_t *opts = opts_json ? json_loads(opts_json, 0, NULL) : NULL;
	char *cause = NULL;
	struct parser *p;

	if (opts_json != NULL && opts == NULL)
		test_fail(__FILE__, __LINE__, "bad test JSON %s", opts_json);
	p = parser_new(format, opts, &cause);
	if (p != NULL || cause == NULL || strstr(cause, want) == NULL)
		test_fail(__FILE__, __LINE__, "%s %s: want \"%s\" in \"%s\"",
		    format, opts_json ? opts_json : "", want,
		    cause ? cause : "(none)");
	parser_free(p);
	free(cause);
	json_decref(opts);
}

/*
 * Patterns whose repetitions multiply (found by tests/fuzz/config.c:
 * 80 stacked '+' made glibc's regcomp take over 2 GB) are refused before
 * they are compiled, quickly; ordinary ones with bounds still compile.
 */
TEST(parse_regex_repetition_bombs_refused)
{
	static const char *const bombs[] = {
		"step ([0-9]+) loss ([0-9.]++++++++++++++++++++++++++++++++++)",
		"((((a{1,100}){1,100}){1,100}){1,100})",
		/* 20 nested '+': 2^20 copies */
		"((((((((((((((((((((v+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+",
		"a{30000}",
	};
	struct buf b;
	struct parser *p;
	json_t *opts;
	char *cause = NULL;
	double t0;
	size_t i;

	for (i = 0; i < nitems(bombs); i++) {
		opts = json_pack("{s:[{s:s,s:[s]}]}", "patterns", "regex",
		    bombs[i], "fields", "step");
		REQUIRE(opts != NULL);
		t0 = clock_mono_ms();
		p = parser_new("regex", opts, &cause);
		CHECK(p == NULL);
		CHECK(clock_mono_ms() - t0 < 1000);
		CHECK(cause != NULL && strstr(cause, "parser.patterns[0].regex: "
		    "too large") != NULL);
		parser_free(p);
		free(cause);
		cause = NULL;
		json_decref(opts);
	}
	/* over 1024 bytes */
	buf_init(&b);
	buf_addstr(&b, "step ([0-9]+)");
	for (i = 0; i < 1100; i++)
		buf_addch(&b, 'x');
	opts = json_pack("{s:[{s:s,s:[s]}]}", "patterns", "regex",
	    buf_cstr(&b), "fields", "step");
	p = parser_new("regex", opts, &cause);
	CHECK(p == NULL && cause != NULL && strstr(cause, "too large"));
	free(cause);
	cause = NULL;
	json_decref(opts);
	buf_free(&b);
	/* bounds and classes that stay small */
	opts = json_pack("{s:[{s:s,s:[s,s]}]}", "patterns", "regex",
	    "^it ([0-9]{1,9}) [[:alpha:]{}]+ ([0-9.]+){1,2} (a|b){2,}",
	    "fields", "step", "loss");
	p = parser_new("regex", opts, &cause);
	CHECK(p != NULL);
	if (p == NULL)
		printf("  %s\n", cause);
	free(cause);
	parser_free(p);
	json_decref(opts);
}

/*
 * Repeating what can match nothing costs glibc's regcomp far more than its
 * copies: "ste*+++++++++++++" took 45 s and "(x*){19000}" over 100 s (no
 * sanitizer), "ste**...*+*+++++++" 23 s under ASan (found by
 * tests/fuzz/config.c). Refused quickly, while such repetitions a little
 * under the limits, and ordinary patterns, still compile quickly.
 */
TEST(parse_regex_empty_repeats_refused)
{
	static const char *const bombs[] = {
		"ste*+++++++++++++ ([0-9]+)",
		"ste**********************+*+++++++ ([0-9]+)",
		"s((((x*)+)+)+)+ ([0-9]+)",
		"s(x*){5000} ([0-9]+)",
		"s(x?){0,600} ([0-9]+)",
		"s(a|b*){501} ([0-9]+)",
		"s((b|)+)++++ ([0-9]+)",
	};
	static const char *const fine[] = {
		"s(((x*)+)+)+ ([0-9]+)",
		"s(x*){500} ([0-9]+)",
		"s(x+)++++++++ ([0-9]+)",
		"loss ([0-9]*\\.?[0-9]+)(\\s*\\w+)* ([0-9]+)",
		"s[*+?]+\\*\\+ \\{2\\} ([0-9]+)",
	};
	struct parser *p;
	json_t *opts;
	char *cause = NULL;
	double t0, ms;
	size_t i;

	for (i = 0; i < nitems(bombs) + nitems(fine); i++) {
		opts = json_pack("{s:[{s:s,s:[s]}]}", "patterns", "regex",
		    i < nitems(bombs) ? bombs[i] : fine[i - nitems(bombs)],
		    "fields", "step");
		REQUIRE(opts != NULL);
		t0 = clock_mono_ms();
		p = parser_new("regex", opts, &cause);
		ms = clock_mono_ms() - t0;
		if (ms >= 1000)
			test_fail(__FILE__, __LINE__, "pattern %zu took %.0f ms",
			    i, ms);
		if (i < nitems(bombs)) {
			CHECK(p == NULL);
			if (cause == NULL || strstr(cause, "parser.patterns[0]."
			    "regex: repeats something that can match "
			    "nothing") == NULL)
				test_fail(__FILE__, __LINE__, "bomb %zu: %s", i,
				    cause != NULL ? cause : "(accepted)");
		} else if (p == NULL)
			test_fail(__FILE__, __LINE__, "fine %zu refused: %s",
			    i - nitems(bombs), cause);
		parser_free(p);
		free(cause);
		cause = NULL;
		json_decref(opts);
	}
}

TEST(parse_regex_and_option_errors_name_the_field)
{
	expect_new_error("regex", NULL, "parser.patterns");
	expect_new_error("regex", "{\"patterns\":[{\"regex\":\"x ([0-9]+)\","
	    "\"fields\":[\"step\"]},{\"regex\":\"(a\",\"fields\":[\"step\"]}]}",
	    "parser.patterns[1].regex");
	expect_new_error("regex", "{\"patterns\":[{\"regex\":\"x ([0-9]+)\","
	    "\"fields\":[\"step\",\"loss\"]}]}", "parser.patterns[0].fields");
	expect_new_error("regex", "{\"patterns\":[{\"regex\":\"([0-9]+) "
	    "([0-9]+)\",\"fields\":[\"step\",\"lo ss\"]}]}",
	    "parser.patterns[0].fields[1]");
	expect_new_error("regex", "{\"patterns\":[{\"fields\":[\"step\"]}]}",
	    "parser.patterns[0].regex");
	expect_new_error("kohya", "{\"mirror\":\"some\"}", "parser.mirror");
	expect_new_error("kohya", "{\"bar_desc\":3}", "parser.bar_desc");
	expect_new_error("tensorboard", NULL, "parser.format");
	CHECK(parser_format_valid("auto") && parser_format_valid("regex") &&
	    !parser_format_valid("tqdm") && !parser_format_valid(NULL));
}

/* Every fixture, byte by byte and in odd reads, gives the same events. */
TEST(parse_byte_by_byte_equals_whole)
{
	static const struct {
		const char *format, *opts, *file;
	} cases[] = {
		{ "kohya", "{\"mirror\":\"all\"}", "logs/kohya.log" },
		{ "diffusers", "{\"mirror\":\"all\"}", "logs/diffusers.log" },
		{ "mindone", "{\"mirror\":\"all\"}", "logs/mindone.log" },
		{ "mindspore", NULL, "logs/mindspore.log" },
		{ "jsonl", NULL, "logs/jsonl.log" },
		{ "regex", REGEX_OPTS, "logs/regex.log" },
		{ "auto", "{\"mirror\":\"all\"}", "logs/diffusers.log" },
		{ "auto", NULL, "logs/kohya.log" },
	};
	static const size_t chunks[] = { 1, 2, 7, 100 };
	struct rec whole, part;
	struct parser *p;
	size_t i, k, len;
	char *data;

	for (i = 0; i < nitems(cases); i++) {
		data = slurp(cases[i].file, &len);
		rec_init(&whole);
		p = mk(cases[i].format, cases[i].opts);
		run(p, data, len, len, &whole);
		parser_free(p);
		CHECK(whole.nm > 0);
		for (k = 0; k < nitems(chunks); k++) {
			rec_init(&part);
			p = mk(cases[i].format, cases[i].opts);
			run(p, data, len, chunks[k], &part);
			parser_free(p);
			if (strcmp(buf_cstr(&whole.trace),
			    buf_cstr(&part.trace)) != 0)
				test_fail(__FILE__, __LINE__, "%s in reads of "
				    "%zu bytes:\n%s\n-- whole:\n%s",
				    cases[i].file, chunks[k], part.trace.data,
				    whole.trace.data);
			rec_free(&part);
		}
		rec_free(&whole);
		free(data);
	}
}

TEST(parse_auto_detects_each_format)
{
	static const struct {
		const char *file, *want;
	} cases[] = {
		{ "logs/kohya.log", "kohya" },
		{ "logs/diffusers.log", "diffusers" },
		{ "logs/mindone.log", "mindone" },
		{ "logs/mindone_sink.log", "mindone" },
		{ "logs/mindspore.log", "mindspore" },
		{ "logs/mindspore_callback.log", "mindspore" },
		{ "logs/jsonl.log", "jsonl" },
	};
	struct rec a, e;
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		CHECK_STR(run_file("auto", NULL, cases[i].file, &a),
		    cases[i].want);
		run_file(cases[i].want, NULL, cases[i].file, &e);
		/* the same events as naming the format, shared ones once */
		CHECK(a.nm > 0);
		CHECK_STR(buf_cstr(&a.trace), buf_cstr(&e.trace));
		rec_free(&a);
		rec_free(&e);
	}
	/* a JSON line that mentions a MindONE step is still JSON */
	rec_init(&a);
	{
		struct parser *p = mk("auto", NULL);

		run_str(p, "{\"msg\": \"Step 1/10, loss: 0.5\", \"step\": 3}\n",
		    &a);
		CHECK_STR(parser_format(p), "jsonl");
		CHECK_INT(a.nm, 1);
		CHECK_INT(a.m[0].step, 3);
		parser_free(p);
	}
	rec_free(&a);
	/* nothing that looks like steps: still auto */
	CHECK_STR(run_file("auto", NULL, "logs/regex.log", &a), "auto");
	CHECK_INT(a.nm, 0);
	rec_free(&a);
}

TEST(parse_auto_shared_lines_once_before_detection)
{
	struct rec r;
	struct parser *p;

	rec_init(&r);
	p = mk("auto", NULL);
	run_str(p, "RuntimeError: boom\n"
	    "Traceback (most recent call last):\n"
	    "  File \"x.py\", line 1, in <module>\n"
	    "ValueError: bad\n"
	    "save checkpoint to /ckpt/SDXL-base-1.0_100.ckpt\n"
	    "Step 1/10, lr: 0.001, loss: 0.5, time cost: 10.00 ms\n"
	    "NCCL error: unhandled system error\n", &r);
	CHECK_INT(rec_count(&r, "error"), 2);
	CHECK_INT(rec_count(&r, "traceback"), 1);
	CHECK_INT(r.nc, 1);
	CHECK_INT(r.ckpt_step[0], 100);
	CHECK_INT(r.nm, 1);
	CHECK_STR(parser_format(p), "mindone");
	parser_free(p);
	rec_free(&r);
}

TEST(parse_resume_suppresses_what_was_spooled)
{
	struct rec first, r;
	struct parser *p;
	size_t len;
	char *data;

	run_file("kohya", NULL, "logs/kohya.log", &first);
	REQUIRE(first.nm == 6 && first.nc == 2);
	data = slurp("logs/kohya.log", &len);

	/* The agent restarts and reads the log again from the top. */
	rec_init(&r);
	p = mk("kohya", NULL);
	parser_resume(p, &first.m[2], first.ckpt_off[0], first.ckpt_nth[0]);
	run(p, data, len, 333, &r);
	REQUIRE(r.nm == 3);
	CHECK_INT(r.m[0].step, 4);
	CHECK_INT(r.m[2].step, 6);
	REQUIRE(r.nc == 1);
	CHECK_INT(r.ckpt_step[0], 6);
	parser_free(p);
	rec_free(&r);

	/* No metric spooled: logs and checkpoints go by offset and place,
	 * metrics by step, and by place only in the segment of the last
	 * event spooled (there, they were spooled before it). */
	rec_init(&r);
	p = mk("kohya", NULL);
	parser_resume(p, NULL, first.ckpt_off[0], first.ckpt_nth[0]);
	run(p, data, len, len, &r);
	{
		int j, want = 0;

		for (j = 0; j < first.nm; j++)
			want += first.moff[j] != first.ckpt_off[0] ||
			    first.mnth[j] > first.ckpt_nth[0];
		CHECK(want > 0);
		CHECK_INT(r.nm, want);
	}
	CHECK_INT(r.nc, 1);
	parser_free(p);
	rec_free(&r);

	/* Sticky state comes from the last metric: read from mid-epoch. */
	rec_init(&r);
	p = mk("kohya", NULL);
	parser_resume(p, &first.m[3], 0, -1);
	run_str(p, "\rsteps:  83%|████████▎ | 5/6 [00:04<00:00,  1.55it/s, "
	    "avr_loss=0.119]\n", &r);
	REQUIRE(r.nm == 1);
	CHECK_INT(r.m[0].step, 5);
	CHECK_INT(r.m[0].epoch, 2);
	parser_free(p);
	rec_free(&r);

	rec_free(&first);
	free(data);
}

/*
 * An agent that restarts reads the log again from the resume offset of the
 * last event it spooled, suppressing up to that event's offset
 * (parser_resume). Whichever event that was - a step, a checkpoint, a
 * traceback, a mirrored line, also while a step is held back - the events
 * spooled before plus those after the restart are exactly those of one
 * uninterrupted run: nothing twice, nothing lost. Offsets never go down.
 * (Events of one segment share an offset; restarting between them is not
 * covered, see parse.c.)
 */
TEST(parse_restart_at_a_spooled_step_loses_and_repeats_nothing)
{
	static const struct {
		const char *format, *opts, *file;
	} cases[] = {
		{ "kohya", "{\"mirror\":\"all\"}", "logs/kohya.log" },
		/* a header line, then a checkpoint, before the held step
		 * leaves (found by tests/fuzz/parse.c) */
		{ "kohya", NULL, "logs/kohya_header_then_ckpt.log" },
		{ "kohya", "{\"mirror\":\"all\"}",
		    "logs/kohya_header_then_ckpt.log" },
		{ "diffusers", "{\"mirror\":\"all\"}", "logs/diffusers.log" },
		{ "mindone", "{\"mirror\":\"all\"}", "logs/mindone.log" },
		{ "mindspore", "{\"mirror\":\"all\"}", "logs/mindspore.log" },
		{ "jsonl", "{\"mirror\":\"all\"}", "logs/jsonl.log" },
		{ "regex", REGEX_OPTS, "logs/regex.log" },
		{ "auto", "{\"mirror\":\"all\"}", "logs/kohya.log" },
		{ "auto", "{\"mirror\":\"errors\"}", "logs/diffusers.log" },
		/* a metric line ends a traceback as its exception line: a
		 * restart after the traceback read it as a metric (found by
		 * tests/fuzz/parse.c) */
		{ "jsonl", NULL, "logs/jsonl_traceback_then_metric.log" },
		/* auto picked diffusers; a restart read a mindone line before
		 * the held step left and picked mindone (found by
		 * tests/fuzz/parse.c) */
		{ "auto", NULL, "logs/auto_diffusers_then_mindone_line.log" },
		/* the steps per epoch learnt from the TimeMonitor line, then
		 * a checkpoint: a restart there did not know them, no step
		 * spooled carried them yet */
		{ "mindspore", NULL, "logs/mindspore_ckpt_at_epoch_end.log" },
		/* a restart seeds the total drawn by the last step spooled:
		 * a bar that draws none went on with it only then (found by
		 * tests/fuzz/parse.c) */
		{ "diffusers", NULL, "logs/diffusers_total_then_no_total.log" },
		/* the epoch line, then an error line before the first step:
		 * a restart at the error lost the epoch and total (found by
		 * tests/fuzz/parse.c) */
		{ "regex", REGEX_OPTS, "logs/regex_epoch_then_error.log" },
		/* LossMonitor lines, then a MindONE callback line with a
		 * global step: a restart seeded from that step numbered the
		 * LossMonitor step it re-read differently and spooled it
		 * again (found by tests/fuzz/parse.c) */
		{ "mindspore", NULL, "logs/mindspore_mixed_callback_restart.log" },
		/* the same, restarted after a later error line: seeded with
		 * the callback's global step, the LossMonitor step re-read
		 * before it was numbered as another (found by
		 * tests/fuzz/parse.c) */
		{ "mindspore", NULL, "logs/mindspore_callback_seed_restart.log" },
		/* the steps per epoch learnt, then a MindONE callback line
		 * (whose step carries none): restarted after it, the reader
		 * resumed after the text they were learnt from and learnt
		 * others from a later TimeMonitor line (found by
		 * tests/fuzz/parse.c) */
		{ "mindspore", NULL,
		    "logs/mindspore_callback_after_learning_restart.log" },
		/* a redraw's step released by the next redraw, a traceback
		 * after it in the same segment: restarted after the
		 * traceback, the reader (at the segment) did not make the
		 * step again and took the next step's place for the
		 * traceback's (found by tests/fuzz/parse.c) */
		{ "kohya", NULL, "logs/kohya_redraw_then_traceback_restart.log" },
		/* a step line sets the total itself: a restart seeded it for
		 * the steps after, which did not carry it */
		{ "regex", "{\"patterns\":["
		    "{\"regex\":\"^step ([0-9]+)/([0-9]+) loss ([^ ]+)\","
		    "\"fields\":[\"step\",\"total_steps\",\"loss\"]},"
		    "{\"regex\":\"^step ([0-9]+) loss ([^ ]+)\","
		    "\"fields\":[\"step\",\"loss\"]}]}",
		    "logs/regex_step_draws_total.log" },
	};
	size_t i, len;
	char *data;

	for (i = 0; i < nitems(cases); i++) {
		data = slurp(cases[i].file, &len);
		check_restarts(cases[i].format, cases[i].opts, cases[i].file,
		    data, len, 1);
		free(data);
	}
	/* Steps held until the steps per epoch are known, then released by
	 * one segment: a restart between two of them was seeded with what
	 * the uninterrupted run waited for, emitted the later ones sooner
	 * and lost one (found by tests/fuzz/parse.c). The seed now waits
	 * for the last event's segment. */
	data = slurp("logs/mindspore_spe_seeded_restart.log", &len);
	check_restarts("mindspore", NULL, "mindspore_spe_seeded_restart.log",
	    data, len, 1);
	free(data);
}

TEST(parse_numbers_as_logs_print_them)
{
	static const struct {
		const char *in;
		double want;
		size_t used;
	} ok[] = {
		{ "1e-5", 1e-5, 4 }, { "0.0001", 0.0001, 6 },
		{ "5e-7,", 5e-7, 4 }, { "0.0852]", 0.0852, 6 },
		{ "9.999999747378752e-06", 9.999999747378752e-06, 21 },
		{ " 3.79it/s", 0, 0 }, { "1e", 1, 1 }, { "-2.5", -2.5, 4 },
		{ "1.25s/it", 1.25, 4 }, { "0x10", 0, 1 },
	};
	static const char *const bad[] = { "", "abc", ".", "-", "e5", "nano" };
	const char *e;
	double v;
	size_t i;

	for (i = 0; i < nitems(ok); i++) {
		if (ok[i].used == 0) {
			CHECK(parse_number(ok[i].in, &e, &v) == -1);
			continue;
		}
		REQUIRE(parse_number(ok[i].in, &e, &v) == 0);
		CHECK(v == ok[i].want);
		CHECK_INT(e - ok[i].in, ok[i].used);
	}
	for (i = 0; i < nitems(bad); i++)
		CHECK(parse_number(bad[i], &e, &v) == -1);
	CHECK(parse_number("nan", &e, &v) == 0 && isnan(v));
	CHECK(parse_number("NaN", &e, &v) == 0 && isnan(v));
	CHECK(parse_number("inf]", &e, &v) == 0 && isinf(v) && v > 0 &&
	    *e == ']');
	CHECK(parse_number("-inf", &e, &v) == 0 && isinf(v) && v < 0);
}

TEST(parse_tqdm_rates_and_postfix_forms)
{
	struct rec r;
	struct parser *p;

	rec_init(&r);
	p = mk("diffusers", NULL);
	run_str(p,
	    "\rSteps:   0%|          | 0/10 [00:00<?, ?it/s]"
	    "\rSteps:  10%|█         | 1/10 [00:01<00:09,  1.02s/it, "
	    "loss=inf, lr=5e-7]"
	    "\rSteps:  20%|██        | 2/10 [00:02<00:08, 12.50it/s, "
	    "grad_norm=0.3, lr=1e-5, step_loss=0.0852]"
	    "\rSteps:  30%|███       | 3/10 [00:02<00:07, ?it/s, "
	    "lr=0.0001, step_loss=nan]"
	    "\rCaching latents:  50%|█████     | 1/2 [00:00<00:00,  9.9it/s]"
	    "\rSteps: 4it [00:03,  1.10it/s, lr=0.0001, step_loss=0.5]\n",
	    &r);
	REQUIRE(r.nm == 3);
	CHECK(isinf(r.m[0].loss));			/* "loss" key (sana) */
	CHECK(r.m[0].lr == 5e-7);
	CHECK_DBL(r.m[0].step_time_ms, 1020, 1e-9);
	CHECK(r.m[1].lr == 1e-5);
	CHECK_DBL(r.m[1].loss, 0.0852, 1e-15);
	CHECK_DBL(r.m[1].step_time_ms, 80, 1e-9);
	CHECK_DBL(extra(&r.m[1], "grad_norm"), 0.3, 1e-15);
	/* step 3 was only drawn with ?it/s; step 4's bar draws no total
	 * and keeps the one drawn before, as a restarted agent does (it
	 * seeds the total from the last step spooled) */
	CHECK_INT(r.m[2].step, 4);
	CHECK(r.m[2].has & METRIC_HAS_TOTAL);
	CHECK_INT(r.m[2].total_steps, 10);
	CHECK_DBL(r.m[2].step_time_ms, 1000 / 1.10, 1e-9);
	parser_free(p);
	rec_free(&r);

	/*
	 * The closing redraw shows the overall rate, not the last step's:
	 * the step keeps the rate update() drew, and the last postfix.
	 */
	rec_init(&r);
	p = mk("diffusers", NULL);
	run_str(p,
	    "\rSteps:  50%|█████     | 1/2 [00:00<00:00, 20.00it/s, "
	    "lr=0.0001, step_loss=0.5]"
	    "\rSteps: 100%|██████████| 2/2 [00:00<00:00, 25.00it/s, "
	    "lr=0.0001, step_loss=0.5]"
	    "\rSteps: 100%|██████████| 2/2 [00:00<00:00, 25.00it/s, "
	    "lr=0.0002, step_loss=0.25]"
	    "\rSteps: 100%|██████████| 2/2 [00:00<00:00, 14.75it/s, "
	    "lr=0.0002, step_loss=0.25]\n", &r);
	REQUIRE(r.nm == 2);
	CHECK_DBL(r.m[0].step_time_ms, 50, 1e-9);
	CHECK_DBL(r.m[1].step_time_ms, 40, 1e-9);
	CHECK_DBL(r.m[1].loss, 0.25, 1e-15);
	CHECK(r.m[1].lr == 0.0002);
	parser_free(p);
	rec_free(&r);

	/* bar_desc follows another bar */
	rec_init(&r);
	p = mk("kohya", "{\"bar_desc\":\"Caching latents\"}");
	run_str(p, "\rsteps:  50%|█████     | 1/2 [00:01<00:01,  1.00it/s]"
	    "\rCaching latents:  50%|█████     | 1/2 [00:00<00:00,  "
	    "4.00it/s]\n", &r);
	REQUIRE(r.nm == 1);
	CHECK_DBL(r.m[0].step_time_ms, 250, 1e-9);
	parser_free(p);
	rec_free(&r);
}

TEST(parse_error_lines_and_false_positives)
{
	static const char *const errors[] = {
		"RuntimeError: CUDA error: an illegal memory access was "
		    "encountered",
		"torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to "
		    "allocate 20.00 MiB",
		"[rank3]: RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:"
		    "1275, unhandled system error",
		"[ERROR] ME(1049852:281473041023008,MainProcess):2024-12-06-"
		    "12:23:11.112.000 [mindspore/ccsrc/x.cc:1] compile failed",
		"[ERROR] These NPUs already have processes running: (0, 1)",
		"Segmentation fault (core dumped)",
		"bash: line 1: 12345 Killed                  python train.py",
		"Killed",
		"KeyboardInterrupt",
		"Exception: dataset is empty",
		"[E1206 12:00:00.000000 42 ProcessGroupNCCL.cpp:475] [Rank 0] "
		    "Watchdog caught collective operation timeout",
		"12/06/2024 10:00:00 - ERROR - __main__ - NaN loss",
		"malloc(): out of memory",
		"NCCL error: remote process exited",
		"2024-12-06 12:00:00 ERROR    train failed      "
		    "train_network.py:100",
	};
	static const char *const quiet[] = {
		"error_rate=0.1",
		"epoch 1 error_rate: 0.1",
		"[WARNING] ME(1049852:281473041023008,MainProcess):2024-12-06-"
		    "12:23:11.112.000 [x.py:1] version mismatch, error may "
		    "occur",
		"/x/y.py:12: UserWarning: lower the batch size if you run out "
		    "of memory",
		"12/06/2024 10:00:00 - WARNING - __main__ - out of memory, "
		    "retrying",
		"Killed 3 stale workers",
		"ValueErrors: 0",
		"no errors found",
		"loss: 0.1 (error 0.2)",
		"INFO: Error handling is set up",
		"2024-12-06 12:00:00 WARNING  CUDA out of memory, retrying "
		    "with a smaller batch  train_util.py:12",
		"2024-12-06 12:00:00 INFO     RuntimeError: seen and handled",
		"[WARNING] DEVICE(1,f,python):2024-12-06-12:40:02.331.000 "
		    "[ascend_memory_adapter.cc:100] Malloc device memory "
		    "failed, out of memory, retry with a smaller block",
	};
	struct rec r;
	struct parser *p;
	size_t i;

	for (i = 0; i < nitems(errors); i++) {
		rec_init(&r);
		p = mk("kohya", NULL);
		run_str(p, errors[i], &r);
		if (rec_count(&r, "error") != 1)
			test_fail(__FILE__, __LINE__, "not an error: %s",
			    errors[i]);
		else
			CHECK_STR(r.log[0], errors[i]);
		parser_free(p);
		rec_free(&r);
	}
	for (i = 0; i < nitems(quiet); i++) {
		rec_init(&r);
		p = mk("kohya", NULL);
		run_str(p, quiet[i], &r);
		if (r.nl != 0)
			test_fail(__FILE__, __LINE__, "taken for an error: %s",
			    quiet[i]);
		parser_free(p);
		rec_free(&r);
	}
}

TEST(parse_traceback_rank_prefix_and_finish)
{
	struct rec r;
	struct parser *p;

	rec_init(&r);
	p = mk("diffusers", NULL);
	run_str(p, "[rank0]: Traceback (most recent call last):\n"
	    "[rank0]:   File \"train.py\", line 10, in <module>\n"
	    "[rank1]: loading shard 3\n"
	    "[rank0]:     main()\n"
	    "[rank0]: \n"
	    "[rank0]: \tcontinued\n"
	    "[rank0]: RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1275\n"
	    "after\n", &r);
	CHECK_INT(r.nl, 1);
	CHECK_STR(rec_find_log(&r, "traceback"),
	    "[rank0]: Traceback (most recent call last):\n"
	    "[rank0]:   File \"train.py\", line 10, in <module>\n"
	    "[rank0]:     main()\n"
	    "[rank0]:\n"
	    "[rank0]: \tcontinued\n"
	    "[rank0]: RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1275");
	parser_free(p);
	rec_free(&r);

	/* The process died mid-traceback: the end of stream emits it. */
	rec_init(&r);
	p = mk("diffusers", NULL);
	run_str(p, "Traceback (most recent call last):\n"
	    "  File \"x.py\", line 1, in <module>", &r);
	CHECK_INT(r.nl, 1);
	CHECK_STR(rec_find_log(&r, "traceback"),
	    "Traceback (most recent call last):\n"
	    "  File \"x.py\", line 1, in <module>");
	parser_free(p);
	rec_free(&r);
}

TEST(parse_traceback_is_capped)
{
	struct rec r;
	struct parser *p;
	struct buf in;
	const char *tb, *c;
	int i, lines;

	buf_init(&in);
	buf_addstr(&in, "Traceback (most recent call last):\n");
	for (i = 0; i < 1000; i++)
		buf_printf(&in, "  File \"deep.py\", line %d, in f\n", i);
	buf_addstr(&in, "RecursionError: maximum recursion depth exceeded\n");
	rec_init(&r);
	p = mk("kohya", NULL);
	run(p, in.data, in.len, in.len, &r);
	REQUIRE(rec_count(&r, "traceback") == 1);
	tb = rec_find_log(&r, "traceback");
	for (lines = 1, c = tb; *c != '\0'; c++)
		lines += *c == '\n';
	CHECK(lines <= 200);
	CHECK(strstr(tb, "lines omitted") != NULL);
	CHECK(ends(tb, "\n[... 803 lines omitted ...]\n"
	    "RecursionError: maximum recursion depth exceeded"));
	parser_free(p);
	rec_free(&r);

	/* and kept under 64 KiB with long lines */
	buf_reset(&in);
	buf_addstr(&in, "Traceback (most recent call last):\n");
	for (i = 0; i < 100; i++) {
		buf_addstr(&in, "  ");
		while (in.len % 3000 != 0)
			buf_addch(&in, 'x');
		buf_addch(&in, '\n');
	}
	buf_addstr(&in, "MemoryError\n");
	rec_init(&r);
	p = mk("kohya", NULL);
	run(p, in.data, in.len, 4096, &r);
	REQUIRE(rec_count(&r, "traceback") == 1);
	tb = rec_find_log(&r, "traceback");
	CHECK(strlen(tb) <= 64 * 1024);
	CHECK(ends(tb, "\nMemoryError"));
	parser_free(p);
	rec_free(&r);
	buf_free(&in);
}

TEST(parse_mirror_modes)
{
	static const char text[] = "hello\n"
	    "Saved state to /o/checkpoint-20\n"
	    "RuntimeError: x\n"
	    "Traceback (most recent call last):\n  File \"a\"\nKeyError: 1\n";
	struct rec r;
	struct parser *p;

	rec_init(&r);
	p = mk("diffusers", "{\"mirror\":\"none\"}");
	run_str(p, text, &r);
	CHECK_INT(r.nl, 0);
	CHECK_INT(r.nc, 1);	/* checkpoints are not mirroring */
	parser_free(p);
	rec_free(&r);

	rec_init(&r);
	p = mk("diffusers", NULL);
	run_str(p, text, &r);
	CHECK_INT(r.nl, 2);
	CHECK_INT(rec_count(&r, "line"), 0);
	parser_free(p);
	rec_free(&r);

	rec_init(&r);
	p = mk("diffusers", "{\"mirror\":\"all\"}");
	run_str(p, text, &r);
	CHECK_INT(rec_count(&r, "line"), 2);	/* hello, Saved state */
	CHECK_INT(rec_count(&r, "error"), 1);
	CHECK_INT(rec_count(&r, "traceback"), 1);
	CHECK_STR(rec_find_log(&r, "line"), "hello");
	parser_free(p);
	rec_free(&r);
}

TEST(parse_metric_json_round_trip)
{
	struct metric m, back;
	json_t *o, *in;
	char *s;

	metric_clear(&m);
	m.step = 7;
	m.total_steps = 10;
	m.epoch = 1;
	m.loss = NAN;
	m.lr = 0.5;
	m.step_time_ms = 250;
	m.has = METRIC_HAS_TOTAL | METRIC_HAS_EPOCH | METRIC_HAS_LOSS |
	    METRIC_HAS_LR | METRIC_HAS_STEP_TIME;
	CHECK(metric_set_extra(&m, "gn", 2, INFINITY) == 0);
	CHECK(metric_set_extra(&m, "loss", 4, 1) == -1);
	CHECK(metric_set_extra(&m, "bad name", 8, 1) == -1);
	o = metric_to_json(&m);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	CHECK_STR(s, "{\"step\":7,\"total_steps\":10,\"epoch\":1,"
	    "\"loss\":\"nan\",\"lr\":0.5,\"step_time_ms\":250.0,\"gn\":\"inf\","
	    "\"nonfinite\":[\"loss\",\"gn\"]}");
	free(s);

	/* as read back from the spool, with the event's own keys */
	in = json_deep_copy(o);
	json_object_set_new(in, "type", json_string("metric"));
	json_object_set_new(in, "seq", json_integer(41));
	json_object_set_new(in, "t", json_integer(1733480000000));
	json_object_set_new(in, "rank", json_integer(0));
	REQUIRE(metric_from_json(in, &back) == 0);
	CHECK_INT(back.step, 7);
	CHECK_INT(back.has, m.has);
	CHECK(isnan(back.loss));
	CHECK_DBL(back.lr, 0.5, 0);
	CHECK_INT(back.nextra, 1);
	CHECK_STR(back.extra[0].name, "gn");
	CHECK(isinf(back.extra[0].value));
	CHECK(metric_from_json(json_object_get(in, "seq"), &back) == -1);
	json_decref(in);
	json_decref(o);

	o = json_pack("{s:f}", "loss", 0.1);
	CHECK(metric_from_json(o, &back) == -1);	/* no step */
	json_decref(o);
}

/* Runs cmd_parse with stdout and stderr in files; returns its status. */
static int
cmd(char **argv, int argc, char **outp, char **errp)
{
	char out[512], err[512], *cause = NULL;
	int so, se, fo, fe, rc;
	struct buf b;

	snprintf(out, sizeof out, "%s/out", test_tmpdir());
	snprintf(err, sizeof err, "%s/err", test_tmpdir());
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = cmd_parse(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	buf_init(&b);
	(void)file_read_all(out, 1 << 20, &b, &cause);
	*outp = buf_steal(&b);
	(void)file_read_all(err, 1 << 20, &b, &cause);
	*errp = buf_steal(&b);
	free(cause);
	return rc;
}

TEST(parse_cmd_prints_steps_and_detected_format)
{
	char path[4096], *out, *err;
	char *argv[] = { "parse", "--format", "auto", "--all", path, NULL };
	char *bad[] = { "parse", "--format", "tensorboard", NULL };
	char *none[] = { "parse", "--format", "kohya", "/nonexistent/x.log",
	    NULL };
	char *nofmt[] = { "parse", path, NULL };

	snprintf(path, sizeof path, "%s", test_data("logs/kohya.log"));
	CHECK_INT(cmd(argv, 5, &out, &err), 0);
	CHECK(starts(out, "{\"step\":1,\"total_steps\":6,\"loss\":0.131,"
	    "\"lr\":null,\"step_time_ms\":1250,\"epoch\":1}\n"));
	CHECK(strstr(out, "{\"step\":4,\"total_steps\":6,\"loss\":\"nan\","
	    "\"lr\":null,\"step_time_ms\":662.2516556291391,\"epoch\":2,"
	    "\"nonfinite\":[\"loss\"]}\n") != NULL);
	CHECK(strstr(out, "{\"ckpt\":\"/out/sdxl-lora-step00000006."
	    "safetensors\",\"step\":6}\n") != NULL);
	CHECK(strstr(out, "{\"ckpt\":\"/out/sdxl-lora-000001.safetensors\","
	    "\"step\":null}\n") != NULL);
	CHECK_STR(err, "drover-agent: detected format: kohya\n");
	free(out);
	free(err);

	snprintf(path, sizeof path, "%s", test_data("logs/diffusers.log"));
	argv[2] = "diffusers";
	CHECK_INT(cmd(argv, 5, &out, &err), 0);
	CHECK(strstr(out, "{\"log\":\"Traceback (most recent call last):\\n"
	    "  File ") != NULL);
	CHECK(strstr(out, ",\"level\":\"error\",\"what\":\"traceback\"}\n")
	    != NULL);
	CHECK(strstr(out, "\"lr\":1e-05,") != NULL);
	CHECK_STR(err, "");
	free(out);
	free(err);

	CHECK_INT(cmd(bad, 3, &out, &err), 2);
	CHECK(strstr(err, "unknown format \"tensorboard\"") != NULL);
	CHECK(strstr(err, "usage: drover-agent parse") != NULL);
	CHECK_STR(out, "");
	free(out);
	free(err);

	CHECK_INT(cmd(nofmt, 2, &out, &err), 2);
	CHECK(strstr(err, "--format") != NULL);
	free(out);
	free(err);

	CHECK_INT(cmd(none, 4, &out, &err), 1);
	CHECK(strstr(err, "/nonexistent/x.log: No such file or directory") !=
	    NULL);
	free(out);
	free(err);
}
