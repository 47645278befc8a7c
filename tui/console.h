/*
 * console.h - the ncurses console (folder-private to tui/): the frame that
 * holds the views (console.c), the model they read (model.c), the table
 * they share (table.c), the commands they send (console_cmd.c) and the
 * views themselves (view_*.c). Views read the model and ask the console
 * to act; they never touch sockets or SQL, and nothing here blocks on the
 * network: every host is reached through the engine's loop.
 */
#ifndef DROVER_CONSOLE_H
#define DROVER_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/common.h"

struct con;
struct store;
struct model;
struct view;
struct series;

/* ---- model.c: what the views show, refreshed from the store ------------ */

/* Per host of the open task's latest attempt: the store's row (see
 * store_attempt_hosts) plus "straggler" and "devices" (telemetry). */
struct model_task {
	int64_t id;
	int64_t attempt_id;
	json_t *summary;		/* store_task_summary */
	json_t *hosts;			/* array, node-rank order */
	json_t *audit;			/* store_audit_list */
	char why[512];			/* the state and why, one line */
};

struct model *model_new(struct store *);
void model_free(struct model *);
/* Reads the task list (and the open task) again. Returns 1 when anything
 * a view shows changed, 0 when not, -1 on an error (model_error says). */
int model_refresh(struct model *);
const char *model_error(const struct model *);
const json_t *model_tasks(const struct model *);	/* newest first */
/* Opens a task: its hosts, audit log and chart series. */
int model_open_task(struct model *, int64_t task_id);
const struct model_task *model_task(const struct model *);	/* or NULL */
/* Loads more of the open task's metrics into the series: at most `budget`
 * rows per call, so a large history loads over several loop turns.
 * Returns 1 while more remain. */
int model_load_series(struct model *, size_t budget);
/* The open task's series, one per host name (all attempts): metric 0
 * loss, 1 step time. Steps where a later attempt began go to markers. */
size_t model_series(const struct model *, int metric,
    const struct series *const **lines, const char *const **labels);
size_t model_markers(const struct model *, const int64_t **steps);
uint64_t model_points(const struct model *);
/* The store the model reads (for exports). */
struct store *model_store(const struct model *);

/* Straggler ratios: each host's step time against the median of the
 * others' (shared with `drover status`). */
void model_hosts_straggler(json_t *hosts);
/* "waiting: 2 hosts starting", "stalled: no step for 14 min on HOST", ... */
void model_task_why(const json_t *summary, const json_t *hosts,
    const json_t *audit, int64_t attempt_id, char *buf, size_t len);

/* ---- view_fmt.c: cells -------------------------------------------------- */

void fmt_num(char *buf, size_t len, const json_t *v, const char *fmt);
void fmt_dur(char *buf, size_t len, double seconds);
void fmt_time(char *buf, size_t len, int64_t unix_ms);
const char *jstr_or(const json_t *, const char *key, const char *none);

/* ---- table.c: the sortable, filterable, markable table ------------------ */

struct table_col {
	const char *name;
	int width;			/* minimum; 0 = takes what is left */
	int right;			/* right-aligned (numbers) */
};

struct table;
struct table *table_new(const struct table_col *, int ncols);
void table_free(struct table *);
/* Rebuilds the rows (a view calls this on each model change): row `key`
 * identifies it across refreshes (cursor, marks); cells are copied. */
void table_clear(struct table *);
void table_add(struct table *, const char *key, const char *const *cells,
    int color);
void table_done(struct table *);	/* sorts, filters, keeps the cursor */
void table_set_filter(struct table *, const char *);
const char *table_filter(const struct table *);
void table_sort_next(struct table *);	/* next column; again: reverse */
void table_sort_by(struct table *, int col, int reverse);
const char *table_sort_name(const struct table *);
const char *table_cursor_key(const struct table *);	/* or NULL */
int table_set_cursor_key(struct table *, const char *key);
void table_move(struct table *, int delta);	/* rows; INT_MAX = end */
void table_page(struct table *, int pages);
int table_click(struct table *, int y);	/* screen row; 1 when on a row */
/* The keys every table knows (j k arrows, PgUp PgDn ^F ^B, g G Home End,
 * s: sort): 1 when taken. */
int table_key(struct table *, int key);
/* A click on screen row y, or the wheel (rows). */
void table_pointer(struct table *, int y, int wheel);
void table_mark(struct table *, const char *key, int on);
int table_marked(const struct table *, const char *key);
void table_toggle_mark(struct table *);	/* the cursor's row */
/* The marked keys (a new NULL-terminated array; strv_free). */
char **table_marks(const struct table *);
int table_at_end(const struct table *);	/* cursor on the last row */
size_t table_rows(const struct table *);	/* after the filter */
size_t table_total(const struct table *);
/* Draws at (y, x) in h rows, w columns: header line, then rows. */
void table_draw(struct table *, struct con *, int y, int x, int h, int w);

/* Ops for views whose data struct begins with its struct table *. */
struct view;
void table_view_filter(struct view *, struct con *, const char *);
void table_view_click(struct view *, struct con *, int y, int wheel);
void table_view_free(struct view *);

/* ---- console.c: the frame --------------------------------------------- */

enum con_color {
	CC_DEFAULT, CC_TITLE, CC_OK, CC_DONE, CC_BAD, CC_WARN, CC_LOST,
	CC_DIM, CC_BUSY, CC_SELECT, CC_MARK, CC_HEAD,
	CC_LINE0			/* + 0..7: chart lines */
};

struct keyhelp {
	const char *key;
	const char *what;
};

struct view_ops {
	const char *name;
	void (*draw)(struct view *, struct con *, int y, int h, int w);
	/* 1 when the key was taken, 0 to let the frame try it. */
	int (*key)(struct view *, struct con *, int key);
	/* The model changed. */
	void (*update)(struct view *, struct con *);
	/* `/` filter text, or NULL to clear. */
	void (*filter)(struct view *, struct con *, const char *);
	void (*free)(struct view *);
	const struct keyhelp *help;	/* {NULL, NULL}-terminated */
	/* A mouse click at screen row y / wheel (delta rows). */
	void (*click)(struct view *, struct con *, int y, int wheel);
	/* A `:` command this view handles itself (1 taken). */
	int (*command)(struct view *, struct con *, char **argv, int argc);
};

struct view {
	const struct view_ops *ops;
	void *data;
	int64_t task_id;		/* the task it is about (0: none) */
};

struct model *con_model(struct con *);
struct loop *con_loop(struct con *);
int con_utf8(const struct con *);
int con_color(const struct con *);
int con_readonly(const struct con *);
/* Screen drawing for views: attr from con_attr(). */
int con_attr(const struct con *, enum con_color);
int con_state_color(const char *state);
void con_put(struct con *, int y, int x, int w, int attr, const char *);
void con_putf(struct con *, int y, int x, int w, int attr,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Views on the stack. */
void con_push(struct con *, struct view *);
int con_is_top(struct con *, const struct view *);
/* The model's open task for a view about v->task_id: opened when v is
 * on top, else NULL while the model holds another task. */
const struct model_task *con_view_task(struct con *, const struct view *);
void con_pop(struct con *);
void con_dirty(struct con *);
/* A message on the status line (errors stay until a key). */
void con_message(struct con *, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Asks y/n with `text` (several lines allowed); yes runs fn(arg). */
typedef void (*con_confirm_fn)(struct con *, void *arg);
void con_confirm(struct con *, const char *text, con_confirm_fn,
    void *arg, void (*free_arg)(void *));
/* Asks for a line of text; fn gets it (NULL when cancelled). */
typedef void (*con_prompt_fn)(struct con *, const char *text, void *arg);
void con_prompt(struct con *, const char *label, const char *initial,
    con_prompt_fn, void *arg);

/* ---- console_cmd.c: the engine, driven by the views -------------------- */

struct engine;
struct engine *con_engine(struct con *);
/* `:` commands ("launch PATH", "stop", "relaunch failed", "export csv
 * FILE", ...); the open task is the default. */
void con_command(struct con *, const char *line);
/* Asks to confirm, then stops the task's running attempt. */
void con_stop_task(struct con *, int64_t task_id);
/* Relaunch: hosts named (into the same attempt), or all as a new attempt
 * with resume (exclude / replace: NULL-terminated, may be NULL). */
void con_relaunch_hosts(struct con *, int64_t task_id, char **hosts);
void con_relaunch_all(struct con *, int64_t task_id, char **exclude,
    char **replace);
/* Launches a config (sets: NULL-terminated "KEY=VALUE"); the new task's
 * progress arrives as engine notes (con_host_note). */
int con_launch(struct con *, const char *path, char *const *sets,
    const char *stage, char **cause);
/* The config with "KEY=VALUE" overrides; the stage's index (NULL: 0). */
struct config;
struct config *con_config_load(const char *path, char *const *sets,
    char **cause);
int con_config_stage(const struct config *, const char *stage, size_t *,
    char **cause);
int con_export_metrics(struct con *, int64_t task_id, const char *format,
    const char *path, char **cause);
/* "a, b, c" (at most max names, then "..."); caller frees. */
char *con_join(char *const *, size_t max);
/* The task the user is looking at: the top-most view's. */
int64_t con_task(struct con *);
/* view_chart.c: the task's loss chart with default settings to a file. */
int chart_export_task(struct con *, int64_t task_id, const char *format,
    const char *path, char **cause);

/* ---- the views (view_*.c) ----------------------------------------------- */

struct view *view_tasks_new(struct con *);
struct view *view_task_new(struct con *, int64_t task_id);
struct view *view_chart_new(struct con *, int64_t task_id);
struct view *view_logs_new(struct con *, int64_t task_id, const char *host,
    long rank);
struct view *view_events_new(struct con *, int64_t task_id);
struct view *view_launch_new(struct con *, const char *config_path);
struct view *view_relaunch_new(struct con *, int64_t task_id);
void view_relaunch_mark(struct view *, const char *host);
struct view *view_help_new(struct con *, const struct view *of);

#endif
