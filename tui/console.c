/*
 * console.c - the console's frame: ncurses on the one poll loop (stdin in
 * nodelay mode, SIGWINCH through the loop's self-pipe), the stack of views,
 * the title and status lines, the `/` filter and `:` command prompts, the
 * y/n confirmation every destructive action goes through, help on `?` and
 * the mouse. Redraws come from a dirty flag at most ten times a second,
 * never from inside an I/O callback; the model is re-read once a second
 * and at once after the engine reports something.
 *
 * `drover` with no arguments on a terminal, or `drover console [TASK]`.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "console.h"

#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "con_int.h"
#include "engine.h"
#include "store.h"
#include "tui.h"

#define FRAME_MS	100	/* at most ten redraws a second */
#define REFRESH_MS	1000
#define IDLE_MS		10000
#define LOAD_BUDGET	50000	/* metric rows per loop turn */

struct model *
con_model(struct con *c)
{
	return c->model;
}

struct loop *
con_loop(struct con *c)
{
	return c->loop;
}

int
con_utf8(const struct con *c)
{
	return c->utf8;
}

int
con_color(const struct con *c)
{
	return c->color;
}

int
con_readonly(const struct con *c)
{
	return c->engine == NULL;
}

struct engine *
con_engine(struct con *c)
{
	return c->engine;
}

/* ---- drawing ------------------------------------------------------------ */

static const struct {
	short fg, bg;
	int mono;		/* the attribute without colors */
} palette[CC_LINE0 + 8] = {
	[CC_DEFAULT] = { -1, -1, 0 },
	[CC_TITLE] = { COLOR_BLACK, COLOR_CYAN, A_REVERSE },
	[CC_OK] = { COLOR_GREEN, -1, 0 },
	[CC_DONE] = { COLOR_BLUE, -1, 0 },
	[CC_BAD] = { COLOR_RED, -1, A_BOLD },
	[CC_WARN] = { COLOR_YELLOW, -1, A_BOLD },
	[CC_LOST] = { COLOR_MAGENTA, -1, A_BOLD },
	[CC_DIM] = { COLOR_WHITE, -1, A_DIM },
	[CC_BUSY] = { COLOR_CYAN, -1, 0 },
	[CC_SELECT] = { COLOR_BLACK, COLOR_WHITE, A_REVERSE },
	[CC_MARK] = { COLOR_YELLOW, -1, A_BOLD },
	[CC_HEAD] = { COLOR_WHITE, COLOR_BLUE, A_BOLD },
	[CC_LINE0 + 0] = { COLOR_CYAN, -1, 0 },
	[CC_LINE0 + 1] = { COLOR_GREEN, -1, 0 },
	[CC_LINE0 + 2] = { COLOR_YELLOW, -1, 0 },
	[CC_LINE0 + 3] = { COLOR_MAGENTA, -1, 0 },
	[CC_LINE0 + 4] = { COLOR_BLUE, -1, 0 },
	[CC_LINE0 + 5] = { COLOR_RED, -1, 0 },
	[CC_LINE0 + 6] = { COLOR_WHITE, -1, 0 },
	[CC_LINE0 + 7] = { COLOR_GREEN, -1, A_BOLD },
};

int
con_attr(const struct con *c, enum con_color cc)
{
	if ((int)cc <= CC_DEFAULT || (int)cc >= (int)nitems(palette))
		return 0;
	if (!c->color)
		return palette[cc].mono;
	return COLOR_PAIR(cc) | (cc == CC_HEAD || cc == CC_BAD ? A_BOLD : 0);
}

int
con_state_color(const char *state)
{
	static const struct {
		const char *state;
		enum con_color cc;
	} map[] = {
		{ "running", CC_OK }, { "succeeded", CC_DONE },
		{ "failed", CC_BAD }, { "unreachable", CC_BAD },
		{ "stalled", CC_WARN }, { "lost", CC_LOST },
		{ "stopped", CC_DIM }, { "pending", CC_BUSY },
		{ "connecting", CC_BUSY }, { "pushing", CC_BUSY },
		{ "starting", CC_BUSY },
	};
	size_t i;

	for (i = 0; state != NULL && i < nitems(map); i++)
		if (strcmp(map[i].state, state) == 0)
			return map[i].cc;
	return CC_DEFAULT;
}

/*
 * Writes at most w columns of UTF-8 text at (y, x) and pads with spaces
 * to w. Wide characters (CJK) count two columns; control characters and,
 * without a UTF-8 locale, anything not ASCII are shown as '?'.
 */
void
con_put(struct con *c, int y, int x, int w, int attr, const char *s)
{
	mbstate_t st;
	wchar_t wc;
	size_t n;
	int used = 0, cw;

	if (y < 0 || y >= LINES || x >= COLS || w <= 0)
		return;
	if (x + w > COLS)
		w = COLS - x;
	attrset(attr);
	move(y, x);
	memset(&st, 0, sizeof st);
	while (*s != '\0' && used < w) {
		if (!c->utf8 || (unsigned char)*s < 0x80) {
			addch((unsigned char)*s >= 0x20 &&
			    (unsigned char)*s < 0x7f ? (chtype)*s : '?');
			s++;
			used++;
			continue;
		}
		n = mbrtowc(&wc, s, strlen(s), &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof st);
			addch('?');
			s++;
			used++;
			continue;
		}
		if ((cw = wcwidth(wc)) < 0)
			cw = 1, wc = L'?';
		if (used + cw > w)
			break;
		addnwstr(&wc, 1);
		s += n;
		used += cw;
	}
	for (; used < w; used++)
		addch(' ');
	attrset(0);
}

void
con_putf(struct con *c, int y, int x, int w, int attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	con_put(c, y, x, w, attr, buf);
}

static void
con_frame(void *arg)
{
	struct con *c = arg;

	c->frame_timer = 0;
	con_draw(c);
}

void
con_dirty(struct con *c)
{
	uint64_t now = clock_mono_ms(), wait;

	c->dirty = 1;
	if (c->frame_timer != 0)
		return;
	wait = now - c->last_draw >= FRAME_MS ? 0 :
	    FRAME_MS - (now - c->last_draw);
	c->frame_timer = loop_timer_add(c->loop, wait, con_frame, c);
}

void
con_message(struct con *c, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof c->msg, fmt, ap);
	va_end(ap);
	c->msg_error = error;
	con_dirty(c);
}

/* ---- the view stack ------------------------------------------------------ */

struct view *
con_top(struct con *c)
{
	return c->nviews > 0 ? c->views[c->nviews - 1] : NULL;
}

const struct model_task *
con_view_task(struct con *c, const struct view *v)
{
	const struct model_task *mt = model_task(c->model);

	/* The model holds one task: the top view's. */
	if ((mt == NULL || mt->id != v->task_id) && con_top(c) != v)
		return NULL;
	if (model_open_task(c->model, v->task_id) != 0)
		return NULL;
	return model_task(c->model);
}

int
con_is_top(struct con *c, const struct view *v)
{
	return con_top(c) == v;
}

void
con_push(struct con *c, struct view *v)
{
	if (v == NULL)
		return;
	if (c->nviews == nitems(c->views)) {
		con_message(c, 1, "too many views open");
		if (v->ops->free != NULL)
			v->ops->free(v);
		free(v);
		return;
	}
	c->views[c->nviews++] = v;
	if (v->ops->update != NULL)
		v->ops->update(v, c);
	con_dirty(c);
}

static void
view_free(struct view *v)
{
	if (v->ops->free != NULL)
		v->ops->free(v);
	free(v);
}

void
con_pop(struct con *c)
{
	if (c->nviews <= 1)
		return;
	/* Freed after this turn: the caller may still be inside it. */
	c->dead[c->ndead++] = c->views[--c->nviews];
	/* The view below may show another task than the model holds. */
	if (con_top(c)->ops->update != NULL)
		con_top(c)->ops->update(con_top(c), c);
	con_dirty(c);
}

static void
con_reap(struct con *c)
{
	while (c->ndead > 0)
		view_free(c->dead[--c->ndead]);
}

void
con_update_views(struct con *c)
{
	size_t i;

	for (i = 0; i < c->nviews; i++)
		if (c->views[i]->ops->update != NULL)
			c->views[i]->ops->update(c->views[i], c);
	con_dirty(c);
}

/* ---- prompts and confirmations ------------------------------------------ */

void
con_confirm(struct con *c, const char *text, con_confirm_fn fn, void *arg,
    void (*free_arg)(void *))
{
	con_confirm_clear(c);
	c->confirm_text = xstrdup(text);
	c->confirm_fn = fn;
	c->confirm_arg = arg;
	c->confirm_free = free_arg;
	con_dirty(c);
}

void
con_confirm_clear(struct con *c)
{
	if (c->confirm_free != NULL && c->confirm_arg != NULL)
		c->confirm_free(c->confirm_arg);
	free(c->confirm_text);
	c->confirm_text = NULL;
	c->confirm_fn = NULL;
	c->confirm_arg = NULL;
	c->confirm_free = NULL;
}

void
con_prompt(struct con *c, const char *label, const char *initial,
    con_prompt_fn fn, void *arg)
{
	snprintf(c->prompt_label, sizeof c->prompt_label, "%s", label);
	snprintf(c->input, sizeof c->input, "%s", initial != NULL ? initial :
	    "");
	c->input_len = strlen(c->input);
	c->prompt_fn = fn;
	c->prompt_arg = arg;
	c->prompting = 1;
	curs_set(1);
	con_dirty(c);
}

static void
prompt_filter(struct con *c, const char *text, void *arg)
{
	struct view *v = con_top(c);

	if (v != NULL && v->ops->filter != NULL)
		v->ops->filter(v, c, text);
}

static void
prompt_command(struct con *c, const char *text, void *arg)
{
	if (text != NULL && *text != '\0')
		con_command(c, text);
}

/* Line editing; Enter gives the text, Esc cancels. A filter applies as
 * it is typed. */
static void
prompt_key(struct con *c, int k)
{
	con_prompt_fn fn = c->prompt_fn;
	char text[sizeof c->input];
	int done = 0, cancel = 0;

	if (k == 27 || k == 3 || k == 7)
		cancel = done = 1;
	else if (k == '\n' || k == '\r' || k == KEY_ENTER)
		done = 1;
	else if (k == KEY_BACKSPACE || k == 127 || k == 8) {
		if (c->input_len > 0) {
			/* Back over a whole UTF-8 character. */
			do
				c->input_len--;
			while (c->input_len > 0 &&
			    ((unsigned char)c->input[c->input_len] & 0xc0) ==
			    0x80);
			c->input[c->input_len] = '\0';
		}
	} else if (k == 21)	/* ^U */
		c->input[c->input_len = 0] = '\0';
	else if (k >= 0x20 && k < 0x100 && k != 0x7f &&
	    c->input_len + 1 < sizeof c->input) {
		c->input[c->input_len++] = (char)k;
		c->input[c->input_len] = '\0';
	}
	if (!done) {
		if (fn == prompt_filter)
			fn(c, c->input, c->prompt_arg);
		con_dirty(c);
		return;
	}
	c->prompting = 0;
	curs_set(0);
	snprintf(text, sizeof text, "%s", c->input);
	c->prompt_fn = NULL;
	if (fn == prompt_filter && cancel)
		fn(c, NULL, c->prompt_arg);
	else
		fn(c, cancel ? NULL : text, c->prompt_arg);
	con_dirty(c);
}

static void
confirm_key(struct con *c, int k)
{
	con_confirm_fn fn = c->confirm_fn;
	void *arg = c->confirm_arg;

	if (k == 'y' || k == 'Y') {
		c->confirm_arg = NULL;	/* fn gets it; freed below */
		fn(c, arg);
		if (c->confirm_free != NULL && arg != NULL)
			c->confirm_free(arg);
		c->confirm_free = NULL;
		con_confirm_clear(c);
	} else if (k == 'n' || k == 'N' || k == 27 || k == 'q') {
		con_confirm_clear(c);
		con_message(c, 0, "cancelled; nothing was changed");
	}
	con_dirty(c);
}

/* ---- help ----------------------------------------------------------------- */

static const struct keyhelp global_keys[] = {
	{ "?", "this help (any key closes it)" },
	{ "Enter / l / Right", "open the selected row" },
	{ "Esc / h / Left", "back" },
	{ "j k / Down Up", "move; PgDn PgUp g G: page, top, end" },
	{ "/", "filter rows (Esc clears)" },
	{ ":", "command: launch [PATH], stop, relaunch [failed | all], "
	    "export FORMAT FILE" },
	{ "", "  open TASK, chart, logs [HOST [RANK]], events, tasks, q" },
	{ "q", "quit (training goes on)" },
	{ "mouse", "click selects, double-click opens, wheel scrolls" },
	{ NULL, NULL },
};

static void
help_draw(struct con *c, int y, int h, int w)
{
	const struct view *v = c->help_of;
	const struct keyhelp *k;
	int row = y;

	con_putf(c, row++, 0, w, con_attr(c, CC_HEAD), " Keys of the %s view",
	    v != NULL ? v->ops->name : "console");
	for (k = v != NULL ? v->ops->help : NULL; k != NULL && k->key != NULL &&
	    row < y + h; k++)
		con_putf(c, row++, 0, w, 0, "  %-20s %s", k->key, k->what);
	if (row < y + h)
		con_put(c, row++, 0, w, 0, "");
	if (row < y + h)
		con_put(c, row++, 0, w, con_attr(c, CC_HEAD), " Everywhere");
	for (k = global_keys; k->key != NULL && row < y + h; k++)
		con_putf(c, row++, 0, w, 0, "  %-20s %s", k->key, k->what);
	for (; row < y + h; row++)
		con_put(c, row, 0, w, 0, "");
}

/* ---- the frame ------------------------------------------------------------ */

static void
title_draw(struct con *c, int w)
{
	char crumbs[256] = "", *p = crumbs;
	size_t i;
	int n;

	for (i = 0; i < c->nviews && p < crumbs + sizeof crumbs - 40; i++) {
		n = snprintf(p, (size_t)(crumbs + sizeof crumbs - p), "%s%s",
		    i > 0 ? " > " : "", c->views[i]->ops->name);
		p += n;
	}
	con_putf(c, 0, 0, w, con_attr(c, CC_TITLE), " drover %s | %s%s%s",
	    DROVER_VERSION, crumbs, c->engine == NULL ?
	    " | read-only: another drover is following these tasks" : "",
	    c->loading ? " | loading metrics..." : "");
}

static void
status_draw(struct con *c, int y, int w)
{
	if (c->prompting) {
		con_putf(c, y, 0, w, 0, "%s%s", c->prompt_label, c->input);
		move(y, (int)(strlen(c->prompt_label) + c->input_len) < w ?
		    (int)(strlen(c->prompt_label) + c->input_len) : w - 1);
		return;
	}
	if (c->msg[0] != '\0') {
		con_put(c, y, 0, w, c->msg_error ? con_attr(c, CC_BAD) : 0,
		    c->msg);
		return;
	}
	con_put(c, y, 0, w, con_attr(c, CC_DIM),
	    "?:help  /:filter  ::command  Enter:open  Esc:back  q:quit");
}

/* The confirmation box: the text (it says exactly what will happen) and
 * "y / n". */
static void
confirm_draw(struct con *c, int h, int w)
{
	char *text = xstrdup(c->confirm_text), *line, *save = NULL;
	int lines = 1, bw = w - 4, by, row;
	const char *p;

	for (p = c->confirm_text; *p != '\0'; p++)
		lines += *p == '\n';
	if (lines + 4 > h - 2)
		lines = h - 6;
	by = (h - lines - 4) / 2;
	con_put(c, by, 2, bw, con_attr(c, CC_HEAD), " Confirm");
	row = by + 1;
	for (line = strtok_r(text, "\n", &save); line != NULL &&
	    row < by + 1 + lines; line = strtok_r(NULL, "\n", &save))
		con_putf(c, row++, 2, bw, con_attr(c, CC_SELECT), " %s", line);
	con_put(c, row++, 2, bw, con_attr(c, CC_SELECT), "");
	con_put(c, row, 2, bw, con_attr(c, CC_HEAD),
	    " y: yes, do it    n / Esc: no, change nothing");
	free(text);
}

void
con_draw(struct con *c)
{
	struct view *v = con_top(c);
	int h = LINES, w = COLS;

	c->last_draw = clock_mono_ms();
	if (!c->dirty)
		return;
	c->dirty = 0;
	c->draws++;
	erase();
	if (h < 10 || w < 40) {
		con_putf(c, 0, 0, w, 0, "drover: the terminal is %dx%d; "
		    "80x24 or more, please", w, h);
		refresh();
		return;
	}
	title_draw(c, w);
	if (c->help_of != NULL)
		help_draw(c, 1, h - 2, w);
	else if (v != NULL)
		v->ops->draw(v, c, 1, h - 2, w);
	if (c->confirm_text != NULL)
		confirm_draw(c, h, w);
	status_draw(c, h - 1, w);
	refresh();
}

/* ---- input ---------------------------------------------------------------- */

static void
con_quit(struct con *c)
{
	int n = c->engine != NULL ? engine_active(c->engine) : 0;

	if (n > 0 && !c->quit_noted) {
		c->quit_noted = 1;
		con_message(c, 0, "quitting never stops training: %d attempt%s "
		    "go%s on and `drover` reattaches. q again to quit", n,
		    n > 1 ? "s" : "", n > 1 ? "" : "es");
		return;
	}
	c->quit = 1;
	loop_stop(c->loop);
}

static void
mouse_key(struct con *c)
{
	struct view *v = con_top(c);
	MEVENT ev;

	if (getmouse(&ev) != OK || v == NULL || v->ops->click == NULL ||
	    c->help_of != NULL)
		return;
	if (ev.bstate & BUTTON4_PRESSED)
		v->ops->click(v, c, ev.y, -3);
#ifdef BUTTON5_PRESSED
	else if (ev.bstate & BUTTON5_PRESSED)
		v->ops->click(v, c, ev.y, 3);
#endif
	else if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED |
	    BUTTON1_DOUBLE_CLICKED)) {
		v->ops->click(v, c, ev.y, 0);
		if ((ev.bstate & BUTTON1_DOUBLE_CLICKED) && v->ops->key != NULL)
			v->ops->key(v, c, '\n');
	}
	con_dirty(c);
}

static void
con_key(struct con *c, int k)
{
	struct view *v = con_top(c);

	if (k != KEY_MOUSE && !c->prompting && c->msg[0] != '\0' &&
	    c->confirm_text == NULL) {
		c->msg[0] = '\0';
		con_dirty(c);
	}
	if (k == KEY_RESIZE) {
		con_dirty(c);
		return;
	}
	if (c->prompting) {
		prompt_key(c, k);
		return;
	}
	if (c->confirm_text != NULL) {
		confirm_key(c, k);
		return;
	}
	if (c->help_of != NULL) {
		c->help_of = NULL;
		con_dirty(c);
		return;
	}
	if (k == KEY_MOUSE) {
		mouse_key(c);
		return;
	}
	if (v != NULL && v->ops->key != NULL && v->ops->key(v, c, k)) {
		con_dirty(c);
		return;
	}
	switch (k) {
	case 'q':
	case 'Q':
		con_quit(c);
		return;
	case 27:
	case 'h':
	case KEY_LEFT:
	case KEY_BACKSPACE:
		con_pop(c);
		return;
	case '?':
	case KEY_F(1):
		c->help_of = v;
		con_dirty(c);
		return;
	case '/':
		if (v != NULL && v->ops->filter != NULL)
			con_prompt(c, "/", NULL, prompt_filter, NULL);
		return;
	case ':':
		con_prompt(c, ":", NULL, prompt_command, NULL);
		return;
	case 12:	/* ^L */
		clearok(curscr, TRUE);
		con_dirty(c);
		return;
	}
}

static void
con_stdin(int fd, short revents, void *arg)
{
	struct con *c = arg;
	int k, n = 0;

	while (!c->quit && (k = getch()) != ERR && n++ < 256)
		con_key(c, k);
	con_reap(c);
}

static void
con_winch(int sig, void *arg)
{
	struct con *c = arg;
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	con_update_views(c);
	c->dirty = 1;
	con_draw(c);
}

/* ---- the model's clock ----------------------------------------------------- */

static void
con_load(void *arg)
{
	struct con *c = arg;
	int more;

	c->load_timer = 0;
	more = model_load_series(c->model, LOAD_BUDGET);
	if (more != c->loading || more) {
		c->loading = more > 0;
		con_update_views(c);
	}
	if (more > 0)
		c->load_timer = loop_timer_add(c->loop, 1, con_load, c);
}

void
con_refresh(struct con *c)
{
	int r = model_refresh(c->model);

	if (r < 0)
		con_message(c, 1, "reading the database: %s",
		    model_error(c->model));
	else if (r > 0)
		con_update_views(c);
	if (c->load_timer == 0 && model_task(c->model) != NULL)
		c->load_timer = loop_timer_add(c->loop, 0, con_load, c);
}

/* Once a second; the model is read again only when the database changed
 * (or every IDLE_MS, for the durations and "seen" ages that tick). */
static void
con_tick(void *arg)
{
	struct con *c = arg;
	uint64_t v = store_version(c->store), now = clock_mono_ms();

	c->tick_timer = loop_timer_add(c->loop, REFRESH_MS, con_tick, c);
	if (v == c->version && now - c->last_full < IDLE_MS)
		return;
	c->version = v;
	c->last_full = now;
	con_refresh(c);
}

static void
con_soon_cb(void *arg)
{
	struct con *c = arg;

	c->soon_timer = 0;
	con_refresh(c);
}

/* Something happened (an engine note): refresh in a moment, once. */
void
con_soon(struct con *c)
{
	if (c->soon_timer == 0)
		c->soon_timer = loop_timer_add(c->loop, 50, con_soon_cb, c);
}

/* ---- start and end ---------------------------------------------------------- */

void
con_screen_init(struct con *c)
{
	const char *nc = getenv("NO_COLOR");
	size_t i;

	setlocale(LC_ALL, "");
	c->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0 &&
	    getenv("DROVER_ASCII") == NULL;
	set_escdelay(25);
	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	mousemask(ALL_MOUSE_EVENTS, NULL);
	mouseinterval(200);
	c->color = has_colors() && (nc == NULL || *nc == '\0');
	if (c->color) {
		start_color();
		use_default_colors();
		for (i = 1; i < nitems(palette); i++)
			init_pair((short)i, palette[i].fg, palette[i].bg);
	}
}

int
cmd_console(int argc, char **argv)
{
	static const char usage[] = "usage: drover console [TASK] "
	    "[--db PATH]\n";
	const char *db = NULL, *task = NULL;
	struct con *c;
	char *cause = NULL, *rwcause = NULL;
	struct store *s = NULL;
	int64_t tid = 0;
	int i, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db = argv[++i];
		else if (strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' || task != NULL) {
			fputs(usage, stderr);
			return 2;
		} else
			task = argv[i];
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "drover: the console needs a terminal; "
		    "`drover ls`, `status` and `watch` work without one\n");
		return 2;
	}
	/* The writer when no other drover is; else read-only, and say so. */
	if (store_open(db, STORE_RDWR, &s, &rwcause) != 0 &&
	    store_open(db, STORE_RDONLY, &s, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", rwcause);
		free(rwcause);
		free(cause);
		return 1;
	}
	if (task != NULL && store_task_find(s, task, &tid, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		free(rwcause);
		store_close(s);
		return 1;
	}
	c = con_new(s);
	if (rwcause == NULL)
		con_engine_start(c);
	free(rwcause);
	signal(SIGPIPE, SIG_IGN);
	con_screen_init(c);
	loop_add_fd(c->loop, STDIN_FILENO, POLLIN, con_stdin, c);
	loop_signal(c->loop, SIGWINCH, con_winch, c);
	loop_signal(c->loop, SIGTERM, (loop_signal_cb)con_quit_signal, c);
	loop_signal(c->loop, SIGHUP, (loop_signal_cb)con_quit_signal, c);
	model_refresh(c->model);
	con_push(c, view_tasks_new(c));
	if (tid != 0)
		con_push(c, view_task_new(c, tid));
	con_tick(c);
	loop_run(c->loop);
	rc = 0;
	endwin();
	if (c->engine != NULL && engine_active(c->engine) > 0)
		fprintf(stderr, "drover: the training goes on; `drover` or "
		    "`drover watch` follows it again\n");
	con_free(c);
	store_close(s);
	return rc;
}

struct con *
con_new(struct store *s)
{
	struct con *c = xcalloc(1, sizeof *c);

	c->loop = loop_new();
	c->store = s;
	c->model = model_new(s);
	return c;
}

void
con_quit_signal(int sig, void *arg)
{
	struct con *c = arg;

	c->quit = 1;
	loop_stop(c->loop);
}

void
con_free(struct con *c)
{
	int i;

	if (c->frame_timer)
		loop_timer_cancel(c->loop, c->frame_timer);
	if (c->tick_timer)
		loop_timer_cancel(c->loop, c->tick_timer);
	if (c->soon_timer)
		loop_timer_cancel(c->loop, c->soon_timer);
	if (c->load_timer)
		loop_timer_cancel(c->loop, c->load_timer);
	while (c->nviews > 0)
		view_free(c->views[--c->nviews]);
	con_reap(c);
	con_confirm_clear(c);
	con_engine_stop(c);
	for (i = 0; i < 8; i++)
		loop_run_once(c->loop, 0);
	model_free(c->model);
	loop_free(c->loop);
	free(c);
}
