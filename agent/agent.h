/*
 * agent.h - the public interface of agent/: drover-agent's pieces, used by
 * agent/main.c and by the unit tests. See docs/protocol.md for the job spec,
 * the events and the run directory.
 */
#ifndef DROVER_AGENT_H
#define DROVER_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../common/common.h"

/* ---- segment.c: split a byte stream on '\r' and '\n' ------------------ */
/*
 * A segment is the text between two terminators (tqdm redraws with '\r').
 * Empty segments are dropped. A segment longer than max is cut into pieces
 * of max bytes: term SEG_CUT on all but the last, which has the segment's
 * own terminator ('\r', '\n', or 0 at a flush). off is the byte offset of
 * the segment's (or piece's) first byte in the stream.
 */
#define SEG_CUT	'\001'
struct segmenter;
typedef void (*segment_cb)(const char *seg, size_t len, char term,
    uint64_t off, void *arg);
struct segmenter *segmenter_new(size_t max, uint64_t start_off);
void segmenter_free(struct segmenter *);
void segmenter_feed(struct segmenter *, const char *, size_t, segment_cb,
    void *);
/* Emits a pending unterminated segment with term 0. */
void segmenter_flush(struct segmenter *, segment_cb, void *);
uint64_t segmenter_offset(const struct segmenter *);	/* bytes consumed */

/* ---- parse*.c: log parsers -------------------------------------------- */
#define METRIC_HAS_TOTAL	0x01
#define METRIC_HAS_EPOCH	0x02
#define METRIC_HAS_LOSS		0x04
#define METRIC_HAS_LR		0x08
#define METRIC_HAS_STEP_TIME	0x10
#define METRIC_HAS_SAMPLES	0x20
#define METRIC_MAX_EXTRA	16

struct metric_extra {
	char name[40];
	double value;
};

struct metric {
	int64_t step;
	int64_t total_steps;
	int64_t epoch;
	double loss;		/* may be nan or inf: kept, and flagged */
	double lr;
	double step_time_ms;
	double samples_per_s;
	unsigned has;		/* METRIC_HAS_* */
	struct metric_extra extra[METRIC_MAX_EXTRA];
	int nextra;
};

enum parse_event_kind { PARSE_METRIC, PARSE_CKPT, PARSE_LOG };

struct parse_event {
	enum parse_event_kind kind;
	/* Offset of the segment whose arrival emitted the event (for
	 * parser_finish, the last segment fed); nondecreasing. */
	uint64_t off;
	/* Where a restarted reader must start again to rebuild what the
	 * parser held at this event or when the segment that made it leave
	 * arrived (a pending step, an open traceback, what auto picked its
	 * format from); <= off. */
	uint64_t resume_off;
	/* Its place among the events made at off, from 0, counting those a
	 * restarted reader suppresses: with off, it says exactly which
	 * events a restart after this one has already spooled. */
	uint32_t nth;
	const struct metric *metric;	/* PARSE_METRIC */
	const char *path;		/* PARSE_CKPT */
	int64_t ckpt_step;		/* PARSE_CKPT, -1 when unknown */
	const char *text;		/* PARSE_LOG, may hold '\n' */
	size_t text_len;
	const char *level;		/* PARSE_LOG: "error" or "info" */
	const char *what;		/* PARSE_LOG: "traceback", "error", "line" */
};
typedef void (*parse_emit_fn)(const struct parse_event *, void *arg);

struct parser;
/*
 * format: mindone, mindspore, kohya, diffusers, jsonl, regex or auto.
 * opts: the spec's "parser" object or NULL (see docs/protocol.md).
 */
struct parser *parser_new(const char *format, const json_t *opts,
    char **cause);
void parser_free(struct parser *);
void parser_feed(struct parser *, const char *seg, size_t len, char term,
    uint64_t off, parse_emit_fn, void *);
/* End of stream: emits the pending step and an unfinished traceback. */
void parser_finish(struct parser *, parse_emit_fn, void *);
/* The format in use: for auto, the detected one, or "auto" until then. */
const char *parser_format(const struct parser *);
/* After a restart: seed sticky state (epoch, total) from the last metric
 * spooled, and suppress what was spooled: events at offsets before
 * last_off, or at last_off up to its last_nth-th (-1: none at it), and
 * metrics with step <= last->step. */
void parser_resume(struct parser *, const struct metric *last,
    uint64_t last_off, int64_t last_nth);
int parser_format_valid(const char *);

/*
 * The rules the parsers use to tell warnings, errors and Python tracebacks,
 * exported so the console marks the same lines of a log it shows. A line
 * is NUL-terminated, with trailing blanks removed.
 */
enum parse_level { PARSE_LEVEL_PLAIN, PARSE_LEVEL_WARN, PARSE_LEVEL_ERROR };
/* Length of a launcher's per-rank prefix ("[rank3]: ", "[default3]:"),
 * 0 if none. */
size_t parse_rank_prefix(const char *line);
/* What a line (its rank prefix removed) says of itself; the parsers
 * report PARSE_LEVEL_ERROR lines as errors. */
enum parse_level parse_line_level(const char *body);
/* The traceback being followed; zero it to start. */
struct parse_tb {
	int open;
	char prefix[32];	/* the rank prefix its lines carry */
	size_t prefix_len;
};
enum parse_tb_step {
	PARSE_TB_OUTSIDE,	/* no part of the open traceback, if any */
	PARSE_TB_START,		/* "Traceback (most recent call last):" */
	PARSE_TB_FRAME,		/* an indented (or empty) line of it */
	PARSE_TB_LAST,		/* its exception line, which ends it */
};
/*
 * What line (rank prefix included) is to the traceback t follows, which
 * it updates. *closed (may be NULL) is set when an open traceback ended
 * without this line: a new one starting, or a line without its rank
 * prefix. Another rank's lines pass by (OUTSIDE) and leave it open.
 */
enum parse_tb_step parse_tb_step(struct parse_tb *, const char *line,
    int *closed);

/* metric <-> JSON, shared by the spool and `parse`. */
json_t *metric_to_json(const struct metric *);
int metric_from_json(const json_t *, struct metric *);

/* cmd_parse.c: `drover-agent parse --format FMT [FILE|-]` */
int cmd_parse(int argc, char **argv);

/* ---- container.c: container wrappers ----------------------------------- */
struct wrap_in {
	const json_t *container;	/* the spec's "container" object */
	char *const *argv;		/* the core's argv, NULL-terminated */
	int shell;			/* argv[0] is a string for sh -c */
	char *const *env_names;		/* names to forward, NULL-terminated */
	const char *cwd;		/* may be NULL */
	const char *run_dir;
	const char *name;		/* unique per process, [A-Za-z0-9_.-] */
	const int *devices;		/* this process's devices */
	size_t ndevices;
};
int container_validate(const json_t *container, char **cause);
/* Builds the argv to exec; caller frees with strv_free(). */
int container_wrap(const struct wrap_in *, char ***argvp, char **cause);
/* Line a docker-exec wrapper prints first, carrying the in-container pid. */
#define CONTAINER_PID_MARK "__drover_inner_pid__ "
/*
 * The argv that delivers sig to what runs inside the container (docker
 * exec: kill inside the container by the recorded inner pid; docker/podman
 * run: docker kill --signal NAME). *argvp is NULL when signalling the local
 * process group is enough (none, bwrap, apptainer).
 */
int container_signal_argv(const json_t *container, const char *name,
    long inner_pid, int sig, char ***argvp, char **cause);

/* ---- telemetry.c: device telemetry ------------------------------------- */
/* Each returns a JSON array of device objects (docs/protocol.md) or NULL. */
json_t *telemetry_parse_nvidia(const char *csv, size_t len);
json_t *telemetry_parse_npu(const char *text, size_t len);
struct telemetry;
typedef void (*telemetry_cb)(json_t *devices, const char *source, void *);
/* Starts sampling every interval_s when nvidia-smi or npu-smi is on PATH;
 * returns NULL (not an error) when neither is. cb gets a new reference. */
struct telemetry *telemetry_start(struct loop *, int interval_s,
    telemetry_cb, void *);
void telemetry_stop(struct telemetry *);

#endif
