/*
 * cmd_parse.c - `drover-agent parse`: runs a log file (or stdin) through
 * the segmenter and a parser, exactly as the agent does with live output,
 * and prints one JSON object per optimizer step. It is how a user checks
 * that drover reads their trainer's output before launching anything, and
 * how the parsers are tried by hand. It prints; it spools nothing.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD_PARSE_CHUNK		(64 * 1024)
#define CMD_PARSE_SEGMENT_MAX	(64 * 1024)

struct cmd_parse {
	struct parser *p;
	int all;
	struct buf out;
};

static void
cmd_parse_usage(void)
{
	fprintf(stderr,
	    "usage: drover-agent parse --format FMT [--all] [--opts JSON] "
	    "[FILE|-]\n"
	    "  FMT   mindone, mindspore, kohya, diffusers, jsonl, regex or "
	    "auto\n"
	    "  --all also print checkpoint and log events\n"
	    "  --opts the spec's parser object, e.g. '{\"mirror\":\"all\"}' "
	    "or regex patterns\n"
	    "Reads FILE, or stdin when FILE is - or absent; prints one JSON "
	    "object per step.\n");
}

/* The shortest decimal that reads back as the same double. */
static void
cmd_parse_put_double(struct buf *b, double v)
{
	char tmp[64];
	int prec;

	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* 1250, not 1.25e+03: enough digits for the integer part. */
	if (fabs(v) >= 1 && fabs(v) < 1e17 &&
	    prec < (int)floor(log10(fabs(v))) + 1)
		prec = (int)floor(log10(fabs(v))) + 1;
	snprintf(tmp, sizeof tmp, "%.*g", prec, v);
	buf_addstr(b, tmp);
}

static void
cmd_parse_put_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	buf_addch(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		switch (c) {
		case '"':
			buf_addstr(b, "\\\"");
			break;
		case '\\':
			buf_addstr(b, "\\\\");
			break;
		case '\n':
			buf_addstr(b, "\\n");
			break;
		case '\t':
			buf_addstr(b, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				buf_addstr(b, "\\u00");
				buf_addch(b, hex[c >> 4]);
				buf_addch(b, hex[c & 0xf]);
			} else
				buf_addch(b, (char)c);
			break;
		}
	}
	buf_addch(b, '"');
}

/* A number, or "nan"/"inf"/"-inf" with its key noted as non-finite. */
static void
cmd_parse_put_number(struct buf *b, double v, const char *key,
    struct buf *nonfinite)
{
	if (isfinite(v)) {
		cmd_parse_put_double(b, v);
		return;
	}
	buf_addstr(b, isnan(v) ? "\"nan\"" : v > 0 ? "\"inf\"" : "\"-inf\"");
	buf_addch(nonfinite, nonfinite->len == 0 ? '[' : ',');
	cmd_parse_put_string(nonfinite, key, strlen(key));
}

static void
cmd_parse_field(struct buf *b, const char *key, int has, double v,
    struct buf *nonfinite)
{
	buf_printf(b, ",\"%s\":", key);
	if (has)
		cmd_parse_put_number(b, v, key, nonfinite);
	else
		buf_addstr(b, "null");
}

/*
 * {"step":N,"total_steps":N|null,"loss":x|null,"lr":x|null,
 * "step_time_ms":x|null,"epoch":N|null, then samples_per_s and extras
 * when present, then "nonfinite":[...] when any value is not finite.
 */
static void
cmd_parse_metric(struct buf *b, const struct metric *m)
{
	struct buf nf;
	int i;

	buf_init(&nf);
	buf_printf(b, "{\"step\":%" PRId64, m->step);
	if (m->has & METRIC_HAS_TOTAL)
		buf_printf(b, ",\"total_steps\":%" PRId64, m->total_steps);
	else
		buf_addstr(b, ",\"total_steps\":null");
	cmd_parse_field(b, "loss", m->has & METRIC_HAS_LOSS, m->loss, &nf);
	cmd_parse_field(b, "lr", m->has & METRIC_HAS_LR, m->lr, &nf);
	cmd_parse_field(b, "step_time_ms", m->has & METRIC_HAS_STEP_TIME,
	    m->step_time_ms, &nf);
	if (m->has & METRIC_HAS_EPOCH)
		buf_printf(b, ",\"epoch\":%" PRId64, m->epoch);
	else
		buf_addstr(b, ",\"epoch\":null");
	if (m->has & METRIC_HAS_SAMPLES)
		cmd_parse_field(b, "samples_per_s", 1, m->samples_per_s, &nf);
	for (i = 0; i < m->nextra && i < METRIC_MAX_EXTRA; i++) {
		buf_addch(b, ',');
		cmd_parse_put_string(b, m->extra[i].name,
		    strlen(m->extra[i].name));
		buf_addch(b, ':');
		cmd_parse_put_number(b, m->extra[i].value, m->extra[i].name,
		    &nf);
	}
	if (nf.len > 0) {
		buf_addstr(b, ",\"nonfinite\":");
		buf_add(b, nf.data, nf.len);
		buf_addch(b, ']');
	}
	buf_addstr(b, "}\n");
	buf_free(&nf);
}

static void
cmd_parse_emit(const struct parse_event *ev, void *arg)
{
	struct cmd_parse *c = arg;
	struct buf *b = &c->out;

	switch (ev->kind) {
	case PARSE_METRIC:
		cmd_parse_metric(b, ev->metric);
		break;
	case PARSE_CKPT:
		if (!c->all)
			return;
		buf_addstr(b, "{\"ckpt\":");
		cmd_parse_put_string(b, ev->path, strlen(ev->path));
		if (ev->ckpt_step >= 0)
			buf_printf(b, ",\"step\":%" PRId64 "}\n",
			    ev->ckpt_step);
		else
			buf_addstr(b, ",\"step\":null}\n");
		break;
	case PARSE_LOG:
		if (!c->all)
			return;
		buf_addstr(b, "{\"log\":");
		cmd_parse_put_string(b, ev->text, ev->text_len);
		buf_addstr(b, ",\"level\":");
		cmd_parse_put_string(b, ev->level, strlen(ev->level));
		buf_addstr(b, ",\"what\":");
		cmd_parse_put_string(b, ev->what, strlen(ev->what));
		buf_addstr(b, "}\n");
		break;
	}
}

static void
cmd_parse_segment(const char *seg, size_t len, char term, uint64_t off,
    void *arg)
{
	struct cmd_parse *c = arg;

	parser_feed(c->p, seg, len, term, off, cmd_parse_emit, c);
}

/* Writes what was printed so far; -1 on a write error. */
static int
cmd_parse_drain(struct cmd_parse *c)
{
	if (c->out.len == 0)
		return 0;
	if (write_full(STDOUT_FILENO, c->out.data, c->out.len) != 0)
		return -1;
	buf_reset(&c->out);
	return 0;
}

int
cmd_parse(int argc, char **argv)
{
	struct cmd_parse c;
	struct segmenter *seg = NULL;
	const char *format = NULL, *file = NULL, *opts_text = NULL, *name;
	json_t *opts = NULL;
	json_error_t jerr;
	char *cause = NULL, *chunk = NULL;
	ssize_t n;
	int i, fd = -1, rc = 2, stop_opts = 0;

	memset(&c, 0, sizeof c);
	buf_init(&c.out);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!stop_opts && strcmp(a, "--") == 0)
			stop_opts = 1;
		else if (!stop_opts && (strcmp(a, "--format") == 0 ||
		    strcmp(a, "-f") == 0)) {
			if (++i == argc) {
				fprintf(stderr, "drover-agent: parse: %s needs "
				    "a format\n", a);
				goto usage;
			}
			format = argv[i];
		} else if (!stop_opts && strncmp(a, "--format=", 9) == 0)
			format = a + 9;
		else if (!stop_opts && strcmp(a, "--opts") == 0) {
			if (++i == argc) {
				fprintf(stderr, "drover-agent: parse: --opts "
				    "needs a JSON object\n");
				goto usage;
			}
			opts_text = argv[i];
		} else if (!stop_opts && strncmp(a, "--opts=", 7) == 0)
			opts_text = a + 7;
		else if (!stop_opts && strcmp(a, "--all") == 0)
			c.all = 1;
		else if (!stop_opts && (strcmp(a, "-h") == 0 ||
		    strcmp(a, "--help") == 0)) {
			cmd_parse_usage();
			rc = 0;
			goto out;
		} else if (!stop_opts && a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "drover-agent: parse: unknown option "
			    "%s\n", a);
			goto usage;
		} else if (file != NULL) {
			fprintf(stderr, "drover-agent: parse: one file at a "
			    "time (got %s and %s)\n", file, a);
			goto usage;
		} else
			file = a;
	}
	if (format == NULL) {
		fprintf(stderr, "drover-agent: parse: --format is required\n");
		goto usage;
	}
	if (!parser_format_valid(format)) {
		fprintf(stderr, "drover-agent: parse: unknown format \"%s\"\n",
		    format);
		goto usage;
	}
	if (opts_text != NULL) {
		opts = json_loads(opts_text, 0, &jerr);
		if (!json_is_object(opts)) {
			fprintf(stderr, "drover-agent: parse: --opts: %s\n",
			    opts == NULL ? jerr.text : "not a JSON object");
			goto usage;
		}
	}
	if ((c.p = parser_new(format, opts, &cause)) == NULL) {
		fprintf(stderr, "drover-agent: parse: %s\n", cause);
		goto out;
	}

	rc = 1;
	if (file == NULL || strcmp(file, "-") == 0) {
		fd = STDIN_FILENO;
		name = "stdin";
	} else {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
			fprintf(stderr, "drover-agent: parse: %s: %s\n", file,
			    strerror(errno));
			goto out;
		}
		name = file;
	}
	seg = segmenter_new(CMD_PARSE_SEGMENT_MAX, 0);
	chunk = xmalloc(CMD_PARSE_CHUNK);
	for (;;) {
		n = read(fd, chunk, CMD_PARSE_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "drover-agent: parse: %s: %s\n", name,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		segmenter_feed(seg, chunk, (size_t)n, cmd_parse_segment, &c);
		if (cmd_parse_drain(&c) != 0)
			goto write_error;
	}
	segmenter_flush(seg, cmd_parse_segment, &c);
	parser_finish(c.p, cmd_parse_emit, &c);
	if (cmd_parse_drain(&c) != 0)
		goto write_error;
	if (strcmp(format, "auto") == 0) {
		if (strcmp(parser_format(c.p), "auto") == 0)
			fprintf(stderr, "drover-agent: detected format: none "
			    "(no step lines found)\n");
		else
			fprintf(stderr, "drover-agent: detected format: %s\n",
			    parser_format(c.p));
	}
	rc = 0;
	goto out;

write_error:
	fprintf(stderr, "drover-agent: parse: writing output: %s\n",
	    strerror(errno));
	rc = 1;
	goto out;
usage:
	cmd_parse_usage();
	rc = 2;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	free(chunk);
	segmenter_free(seg);
	parser_free(c.p);
	json_decref(opts);
	free(cause);
	buf_free(&c.out);
	return rc;
}
