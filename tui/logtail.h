/*
 * logtail.h - a rank's log followed live (tui/logtail.c), folder-private to
 * tui/: the console's log model and, through logtarget, the one place that
 * knows where a rank's log is and how to reach its host (`drover logs`
 * uses it too). Nothing here draws; a view reads the lines and status
 * after its callback said something changed.
 */
#ifndef DROVER_LOGTAIL_H
#define DROVER_LOGTAIL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../remote/remote.h"
#include "store.h"

/* ---- where a rank's log is --------------------------------------------- */
struct logtarget {
	char *host;		/* as the attempt names it */
	long rank;
	char *file;		/* RUN_DIR/rank-N.log on the host */
	struct rhost_cfg hc;	/* how to reach the host */
};
/*
 * Rank rank's log (rank -1: the host's first rank) of host (NULL: the
 * first host running that rank, or the first host) of the task's latest
 * attempt; the task's config says how to reach the host. A config that
 * cannot be read is an error with need_config set, else the user's ssh
 * settings alone reach the host. On error *cause says which host or rank
 * is missing (or why the config is unreadable) and t is left clear. Runs
 * `ssh -G` for a host that is not local.
 */
int logtarget_find(struct store *, int64_t task_id, const char *host,
    long rank, int need_config, struct logtarget *t, char **cause);
void logtarget_clear(struct logtarget *);
/* The remote shell line: `tail -n LINES [-F] 'FILE'`. Caller frees. */
char *logtarget_command(const struct logtarget *, long lines, int follow);

/* ---- a followed log ---------------------------------------------------- */
struct logtail;
enum logline_kind { LOGLINE_PLAIN, LOGLINE_WARN, LOGLINE_ERROR,
    LOGLINE_TRACEBACK };
struct logline {
	const char *text;	/* NUL-terminated, valid UTF-8, no control
				 * characters but '\t' */
	size_t len;
	enum logline_kind kind;
	uint64_t no;		/* 1-based number of the line since the tail
				 * began */
};
/* Something changed (new lines, status): the view marks itself dirty.
 * Called from a loop timer, never from inside logtail_* calls; the
 * callback may call logtail_free. */
typedef void (*logtail_fn)(void *arg);

#define LOGTAIL_MAX_LINES	20000		/* lines held */
#define LOGTAIL_MAX_BYTES	(16 << 20)	/* text held */
#define LOGTAIL_MAX_LINE	4096		/* bytes of one line shown */

/*
 * Follows the log logtarget_find() picks: its last `lines` lines, then
 * live (tail -F). Non-blocking: connects through the loop (only `ssh -G`
 * runs before it returns). Returns NULL with *cause only for errors known
 * at once (no such host or rank, the config unreadable); a host that
 * cannot be reached is a status.
 */
struct logtail *logtail_open(struct loop *, struct store *, int64_t task_id,
    const char *host, long rank, long lines, logtail_fn, void *arg,
    char **cause);
/* NULL ok; closes the remote command; safe from inside the callback. */
void logtail_free(struct logtail *);
/* Complete lines held, oldest first (a ring: the newest LOGTAIL_MAX_LINES
 * within LOGTAIL_MAX_BYTES). */
size_t logtail_count(const struct logtail *);
const struct logline *logtail_line(const struct logtail *, size_t i);
/*
 * The line being written (no '\n' yet: a progress bar's latest redraw),
 * or NULL. It is not counted nor searched; its no is the one it will get.
 * Borrowed until the next change.
 */
const struct logline *logtail_partial(struct logtail *);
/* Lines dropped off the ring's old end so far. */
uint64_t logtail_dropped(const struct logtail *);
/* "connecting to HOST", "following HOST rank-N.log", "ended: ...", or the
 * error with host and reason. Borrowed. */
const char *logtail_status(const struct logtail *);
int logtail_failed(const struct logtail *);
int logtail_ended(const struct logtail *);	/* ended or failed */
const char *logtail_host(const struct logtail *);
long logtail_rank(const struct logtail *);
/* Index of the next (dir +1) or previous (dir -1) line from `from`
 * (exclusive; -1 or logtail_count() to start at an end) containing needle,
 * case-insensitive (ASCII); -1 when none. */
long logtail_search(const struct logtail *, const char *needle, long from,
    int dir);

/* For tests: a logtail with no connection, holding at most max_lines
 * lines (0: the default), fed bytes as if they came from the host. */
struct logtail *logtail_new_detached(size_t max_lines);
void logtail_feed(struct logtail *, const char *, size_t);

#endif
