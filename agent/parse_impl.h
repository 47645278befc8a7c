/*
 * parse_impl.h - private to agent/parse*.c: the table each log format
 * fills in, and the helpers the formats share. parse.c owns what every
 * format has in common (checkpoints, errors, tracebacks, mirroring, auto
 * detection, resume); a format only turns its own lines into metrics.
 * Formats are described in /work/shared/formats.md and docs/protocol.md.
 */
#ifndef DROVER_PARSE_IMPL_H
#define DROVER_PARSE_IMPL_H

#include "agent.h"

/*
 * Where a format sends its metrics. parse.c decides what happens to them
 * (auto detection, resume suppression) and stamps them with the offset of
 * the segment being fed, as every event is, so events leave in stream
 * order; a format never sees the caller's callback.
 */
struct parse_out;
void parse_out_metric(struct parse_out *, const struct metric *);
/*
 * The same, for a step that leaves after lines that changed what later
 * steps carry (kohya's "epoch 2/2" between the last redraw of a step and
 * the next step's): since is the first such line's offset. The event's
 * resume offset is at most since, so an agent restarting at this event
 * reads it again; its offset stays that of the segment being fed, as
 * events' offsets never go back (a checkpoint may lie between).
 */
void parse_out_metric_since(struct parse_out *, const struct metric *,
    uint64_t since);
/* The offset of the segment being fed. */
uint64_t parse_out_offset(const struct parse_out *);

struct parser_ops {
	const char *name;
	/* Returns the format's state, or NULL with *cause set. */
	void *(*create)(const json_t *opts, char **cause);
	void (*destroy)(void *);
	/*
	 * One segment: NUL-terminated, trailing blanks and any "[rankN]: "
	 * prefix removed. Returns how many leading bytes were this format's
	 * metric text (0: none); the rest, if not blank, is handled as an
	 * ordinary line (errors, checkpoints, mirroring).
	 */
	size_t (*line)(void *, struct parse_out *, const char *, size_t);
	/* End of stream: emit anything held back. */
	void (*finish)(void *, struct parse_out *);
	/* Seed sticky state (epoch, total) from the last metric spooled;
	 * last_off is the offset of the last event spooled, where the
	 * restarted reader catches up with the run it continues. */
	void (*seed)(void *, const struct metric *, uint64_t last_off);
	/* Offset of the oldest segment the format's held state came from: a
	 * step not yet emitted, or a value (epoch, total, steps per epoch)
	 * that no step emitted carries for seed() yet. UINT64_MAX when it
	 * holds nothing; NULL for formats that never hold anything. */
	uint64_t (*holds_since)(void *);
};

extern const struct parser_ops parse_mindone_ops;
extern const struct parser_ops parse_mindspore_ops;
extern const struct parser_ops parse_kohya_ops;
extern const struct parser_ops parse_diffusers_ops;
extern const struct parser_ops parse_jsonl_ops;
extern const struct parser_ops parse_regex_ops;

/* A number as logs print it: 0.121, 1e-5, 9.999999747378752e-06, nan,
 * inf, -inf. Returns 0 and sets *endp past it, or -1. */
int parse_number(const char *, const char **endp, double *);
/* A decimal integer (optional sign); same contract. */
int parse_integer(const char *, const char **endp, int64_t *);
/* Case-sensitive prefix test; returns the text after the prefix or NULL. */
const char *parse_skip_prefix(const char *, const char *prefix);
const char *parse_skip_blanks(const char *);

/* The fields that are not extras, in the order metric_to_json writes. */
int parse_field_is_fixed(const char *, size_t);
/*
 * Adds or replaces an extra. Names are 1-39 bytes of [A-Za-z0-9_./-];
 * a fixed field name, a bad name or a full table is refused (-1).
 */
int metric_set_extra(struct metric *, const char *name, size_t namelen,
    double);
void metric_clear(struct metric *);

#endif
