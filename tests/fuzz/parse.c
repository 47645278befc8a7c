/*
 * parse.c - fuzzes one log parser (FUZZ_FORMAT: mindone, mindspore,
 * kohya, diffusers, jsonl, regex or auto; one binary each) on arbitrary
 * byte streams cut in arbitrary reads: the first input byte picks the
 * chunking, the second the segment cap, the rest is the log. Properties
 * (agent.h): event offsets never go back, events at one offset have
 * rising places (nth), resume_off <= off, a log event's
 * level is "error" or "info", a metric has at most METRIC_MAX_EXTRA
 * extras with NUL-terminated names.
 *
 * It also checks what a restarted agent does (agent.h, parser_resume):
 * restarting after an event the third input byte picks, from that event's
 * resume_off, must give exactly the events of the uninterrupted run that
 * follow it: nothing lost, nothing twice (a failure prints the run's
 * events, each after its resume_off). DROVER_FUZZ_NO_RESTART (set, any
 * value) leaves that check and its input byte out, for inputs written
 * before it was on by default (it was DROVER_FUZZ_RESTART=1, off).
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
	uint32_t last_nth;
	size_t events;
	/* the restart check: every event serialized, where each starts */
	struct buf trace;
	size_t *evpos;		/* nev + 1 */
	uint64_t *evoff, *evresume;
	uint32_t *evnth;
	struct metric *lastm;	/* the last metric at or before each event */
	int *haslast;
	size_t nev, cap;
	struct metric last;
	int has_last;
	int nonmono;		/* a step not above the one before */
};

static int fz_restart;

static void fz_emit(const struct parse_event *, void *);
static void fz_seg(const char *, size_t, char, uint64_t, void *);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	fz_restart = getenv("DROVER_FUZZ_NO_RESTART") == NULL;
	if (strcmp(FUZZ_FORMAT, "regex") == 0 &&
	    (fz_opts = json_loads(FZ_REGEX_OPTS, 0, NULL)) == NULL)
		fatalx("fuzz: bad regex options");
	return 0;
}

static void
fz_record(struct fz_state *st, const struct parse_event *ev)
{
	json_t *j;
	char *t;

	if (!fz_restart)
		return;
	if (st->nev + 1 >= st->cap) {
		st->cap = st->cap ? st->cap * 2 : 64;
		st->evpos = xreallocarray(st->evpos, st->cap, sizeof(size_t));
		st->evoff = xreallocarray(st->evoff, st->cap,
		    sizeof(uint64_t));
		st->evresume = xreallocarray(st->evresume, st->cap,
		    sizeof(uint64_t));
		st->evnth = xreallocarray(st->evnth, st->cap,
		    sizeof(uint32_t));
		st->lastm = xreallocarray(st->lastm, st->cap,
		    sizeof(struct metric));
		st->haslast = xreallocarray(st->haslast, st->cap, sizeof(int));
	}
	st->evpos[st->nev] = st->trace.len;
	st->evoff[st->nev] = ev->off;
	st->evresume[st->nev] = ev->resume_off;
	st->evnth[st->nev] = ev->nth;
	switch (ev->kind) {
	case PARSE_METRIC:
		if (st->has_last && ev->metric->step <= st->last.step)
			st->nonmono = 1;
		st->last = *ev->metric;
		st->has_last = 1;
		j = metric_to_json(ev->metric);
		t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		buf_printf(&st->trace, "M %llu %s\n",
		    (unsigned long long)ev->off, t);
		free(t);
		json_decref(j);
		break;
	case PARSE_CKPT:
		buf_printf(&st->trace, "C %llu %s %lld\n",
		    (unsigned long long)ev->off, ev->path,
		    (long long)ev->ckpt_step);
		break;
	case PARSE_LOG:
		buf_printf(&st->trace, "L %llu %s %s ",
		    (unsigned long long)ev->off, ev->level, ev->what);
		buf_add(&st->trace, ev->text, ev->text_len);
		buf_addch(&st->trace, '\n');
		break;
	}
	st->lastm[st->nev] = st->last;
	st->haslast[st->nev] = st->has_last;
	st->nev++;
	st->evpos[st->nev] = st->trace.len;
}

static void
fz_state_free(struct fz_state *st)
{
	buf_free(&st->trace);
	free(st->evpos);
	free(st->evoff);
	free(st->evresume);
	free(st->evnth);
	free(st->lastm);
	free(st->haslast);
}

/*
 * A restart after event k must go on exactly as the uninterrupted run did:
 * after any event, also between two events one segment made.
 */
static void
fz_check_restart(struct fz_state *full, const uint8_t *log, size_t len,
    size_t cap, uint8_t pick)
{
	struct fz_state st;
	struct segmenter *s;
	char *cause = NULL;
	size_t i, k, tail;
	uint64_t from;
	int same;

	if (full->nev == 0)
		return;
	k = pick % full->nev;
	/* By design a restart drops steps not above the last one spooled
	 * (parser_resume): only logs whose steps keep rising are checked. */
	if (full->nonmono)
		return;
	memset(&st, 0, sizeof st);
	if ((st.p = parser_new(FUZZ_FORMAT, fz_opts, &cause)) == NULL)
		fatalx("fuzz: parser_new %s: %s", FUZZ_FORMAT, cause);
	parser_resume(st.p, full->haslast[k] ? &full->lastm[k] : NULL,
	    full->evoff[k], full->evnth[k]);
	from = full->evresume[k];
	FUZZ_ASSERT(from <= len);
	s = segmenter_new(cap, from);
	segmenter_feed(s, (const char *)log + from, len - from, fz_seg, &st);
	segmenter_flush(s, fz_seg, &st);
	parser_finish(st.p, fz_emit, &st);
	tail = full->trace.len - full->evpos[k + 1];
	same = st.trace.len == tail && (tail == 0 || memcmp(st.trace.data,
	    full->trace.data + full->evpos[k + 1], tail) == 0);
	if (!same) {
		fprintf(stderr, "restart after event %zu (at %llu, from %llu)"
		    ":\n%.*s-- want:\n%.*s-- the run (resume_off, event):\n",
		    k, (unsigned long long)full->evoff[k],
		    (unsigned long long)from, (int)st.trace.len,
		    st.trace.data ? st.trace.data : "", (int)tail,
		    full->trace.data + full->evpos[k + 1]);
		for (i = 0; i < full->nev; i++)
			fprintf(stderr, "%zu: %llu %.*s", i,
			    (unsigned long long)full->evresume[i],
			    (int)(full->evpos[i + 1] - full->evpos[i]),
			    full->trace.data + full->evpos[i]);
	}
	FUZZ_ASSERT(same);
	parser_free(st.p);
	segmenter_free(s);
	fz_state_free(&st);
}

static void
fz_emit(const struct parse_event *ev, void *arg)
{
	struct fz_state *st = arg;
	json_t *j;
	int i;

	fz_record(st, ev);
	FUZZ_ASSERT(ev->off >= st->last_off);
	FUZZ_ASSERT(ev->resume_off <= ev->off);
	FUZZ_ASSERT(st->events == 0 || ev->off > st->last_off ||
	    ev->nth > st->last_nth);
	st->last_off = ev->off;
	st->last_nth = ev->nth;
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
	const uint8_t *log;
	size_t loglen;
	struct fz_state st;
	char *cause = NULL;
	size_t n, cap;
	uint8_t pick;

	memset(&st, 0, sizeof st);
	fuzz_chunker_init(&ch, fuzz_byte(&in));
	cap = caps[fuzz_byte(&in) % nitems(caps)];
	pick = fz_restart ? fuzz_byte(&in) : 0;
	log = in.p;
	loglen = in.n;
	s = segmenter_new(cap, 0);
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
	if (fz_restart)
		fz_check_restart(&st, log, loglen, cap, pick);
	fz_state_free(&st);
	return 0;
}
