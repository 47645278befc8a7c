/*
 * con_int.h - the console frame's own state (console.c, console_cmd.c):
 * the views never see it; they go through console.h.
 */
#ifndef DROVER_CON_INT_H
#define DROVER_CON_INT_H

#include "console.h"

struct con {
	struct loop *loop;
	struct store *store;
	struct model *model;
	struct engine *engine;		/* NULL: read-only */
	int utf8, color;

	struct view *views[16];
	size_t nviews;
	struct view *dead[16];		/* popped this turn, freed after */
	size_t ndead;
	const struct view *help_of;	/* help shown for this view */

	int dirty;
	uint64_t last_draw;
	uint64_t draws;
	uint64_t frame_timer, tick_timer, soon_timer, load_timer;
	int loading;
	uint64_t version, last_full;	/* store_version at the last read */

	char msg[512];
	int msg_error;

	int prompting;
	char prompt_label[64];
	char input[512];
	size_t input_len;
	con_prompt_fn prompt_fn;
	void *prompt_arg;

	char *confirm_text;
	con_confirm_fn confirm_fn;
	void *confirm_arg;
	void (*confirm_free)(void *);

	int quit, quit_noted;

	/* console_cmd.c: a relaunch --all waiting for the survivors' stop */
	struct con_pending *pending;
	/* the engine's recent notes (the launch view's progress) */
	struct con_note {
		char host[128], state[32], reason[256];
	} notes[256];
	size_t nnotes;			/* total; ring of 256 */
};

struct view *con_top(struct con *);
void con_draw(struct con *);
void con_update_views(struct con *);
void con_refresh(struct con *);
void con_soon(struct con *);
void con_confirm_clear(struct con *);
void con_quit_signal(int, void *);
/* A console on the store without screen or engine (cmd_console adds
 * them; bench/render.c draws into a screen of its own). */
struct con *con_new(struct store *);
void con_screen_init(struct con *);
void con_free(struct con *);
/* console_cmd.c */
void con_engine_start(struct con *);
void con_engine_stop(struct con *);
/* The engine's last note for a host (NULL none). */
const struct con_note *con_host_note(const struct con *, const char *host);

#endif
