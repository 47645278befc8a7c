/*
 * parse.c - fuzzes one log parser (FUZZ_FORMAT: mindone, mindspore,
 * kohya, diffusers, jsonl, regex or auto; one binary each) on arbitrary
 * byte streams cut in arbitrary reads: the first input byte picks the
 * chunking, the second the segment cap, the rest is the log. Properties
 * (agent.h): event offsets never go back, resume_off <= off, a log event's
 * level is "error" or "info", a metric has at most METRIC_MAX_EXTRA
 * extras with NUL-terminated names.
 */
#include "fuzz.h"

#include "../../agent/agent.h"

#ifndef FUZZ_FORMAT
#error "build with -DFUZZ_FORMAT=\"mindone\" (or another format)"
#endif

/* The patterns the regex parser runs (tests/data/logs/regex.log). */
#define FZ_REGEX_OPTS "{\"patterns\":[" \
	"{\"regex\":\"epoch ([0-9]+) of [0-9]+ \\\\(total ([0-9]+) " \
	"steps\\\\)\",\"fields\":[\"epoch\",\"total_steps\"]}," \
	"{\"regex\":\"^it ([0-9]+) \\\\| loss ([^ ]+) \\\\| lr ([^ ]+) " \
	"\\\\| ([0-9.]+) ms/it \\\\| gnorm ([0-9.]+)\",\"fields\":" \
	"[\"step\",\"loss\",\"lr\",\"step_time_ms\",\"grad_norm\"]}]}"

static json_t *fz_opts;

struct fz_state {
	struct parser *p;
	uint64_t last_off;
	size_t events;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	if (strcmp(FUZZ_FORMAT, "regex") == 0 &&
	    (fz_opts = json_loads(FZ_REGEX_OPTS, 0, NULL)) == NULL)
		fatalx("fuzz: bad regex options");
	return 0;
}

static void
fz_emit(const struct parse_event *ev, void *arg)
{
	struct fz_state *st = arg;
	json_t *j;
	int i;

	FUZZ_ASSERT(ev->off >= st->last_off);
	FUZZ_ASSERT(ev->resume_off <= ev->off);
	st->last_off = ev->off;
	st->events++;
	switch (ev->kind) {
	case PARSE_METRIC:
		FUZZ_ASSERT(ev->metric != NULL);
		FUZZ_ASSERT(ev->metric->nextra >= 0 &&
		    ev->metric->nextra <= METRIC_MAX_EXTRA);
		for (i = 0; i < ev->metric->nextra; i++)
			FUZZ_ASSERT(memchr(ev->metric->extra[i].name, '\0',
			    sizeof ev->metric->extra[i].name) != NULL);
		/* What the spool writes. */
		j = metric_to_json(ev->metric);
		FUZZ_ASSERT(j != NULL);
		json_decref(j);
		break;
	case PARSE_CKPT:
		FUZZ_ASSERT(ev->path != NULL);
		break;
	case PARSE_LOG:
		FUZZ_ASSERT(ev->text != NULL && ev->level != NULL &&
		    ev->what != NULL);
		FUZZ_ASSERT(strcmp(ev->level, "error") == 0 ||
		    strcmp(ev->level, "info") == 0);
		break;
	}
}

static void
fz_seg(const char *seg, size_t len, char term, uint64_t off, void *arg)
{
	struct fz_state *st = arg;

	parser_feed(st->p, seg, len, term, off, fz_emit, st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const size_t caps[] = { 64 * 1024, 4096, 200, 16 };
	struct fuzz_in in = { data, len };
	struct fuzz_chunker ch;
	struct segmenter *s;
	struct fz_state st;
	char *cause = NULL;
	size_t n;

	memset(&st, 0, sizeof st);
	fuzz_chunker_init(&ch, fuzz_byte(&in));
	s = segmenter_new(caps[fuzz_byte(&in) % nitems(caps)], 0);
	if ((st.p = parser_new(FUZZ_FORMAT, fz_opts, &cause)) == NULL)
		fatalx("fuzz: parser_new %s: %s", FUZZ_FORMAT, cause);
	while (in.n > 0) {
		n = fuzz_chunk_next(&ch, in.n);
		segmenter_feed(s, (const char *)in.p, n, fz_seg, &st);
		in.p += n;
		in.n -= n;
	}
	segmenter_flush(s, fz_seg, &st);
	parser_finish(st.p, fz_emit, &st);
	FUZZ_ASSERT(parser_format(st.p) != NULL);
	parser_free(st.p);
	segmenter_free(s);
	return 0;
}
